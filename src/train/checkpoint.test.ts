import { describe, expect, it } from 'vitest';
import { writeSafetensors } from '../io/safetensors';
import { sparkState } from '../models/official-names';
import { Rng } from '../util/random';
import {
  findNonFiniteValue,
  readTrainerCheckpoint,
  type TrainerCheckpoint,
  writeTrainerCheckpoint,
} from './checkpoint';
import { microConfig } from './trainer-test-utils';

function checkpoint(): TrainerCheckpoint {
  const config = microConfig();
  const rng = new Rng(4);
  const state = new Map<string, Float32Array>();
  const expAvg = new Map<string, Float32Array>();
  const expAvgSq = new Map<string, Float32Array>();
  for (const e of sparkState(config)) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    // Variances are never negative (a checkpoint holding one is refused).
    const values = rng.normals(n).map((v) => (e.name.endsWith('running_var') ? Math.abs(v) : v));
    state.set(e.name, e.dtype === 'I64' ? Float32Array.of(17) : values);
    if (e.kind === 'param') {
      expAvg.set(e.name, rng.normals(n));
      // Edge values must survive: the smallest subnormal and negative zero.
      expAvgSq.set(
        e.name,
        Float32Array.from(rng.floats(n, 0, 1), (v, i) => (i === 0 ? 1e-45 : i === 1 ? -0 : v)),
      );
    }
  }
  return {
    config,
    state,
    expAvg,
    expAvgSq,
    progress: {
      runId: 'run-x',
      step: 12,
      totalSteps: 40,
      seed: 3,
      batch: 2,
      hyper: {
        optimizer: 'lamb',
        peakLr: 0.01,
        warmupSteps: 1,
        weightDecayStart: 0.04,
        weightDecayEnd: 0.2,
        beta1: 0.9,
        beta2: 0.95,
        maxGradNorm: 5,
      },
      dataRngState: 123456789,
      maskRngState: 4000000000,
      optimizerSteps: { decay: 12, noDecay: 12 },
    },
  };
}

describe('trainer checkpoint file', () => {
  it('round-trips every tensor bit for bit, the counters and the generator states', () => {
    const original = checkpoint();
    const back = readTrainerCheckpoint(writeTrainerCheckpoint(original));
    expect(back.config).toEqual(original.config);
    expect(back.progress).toEqual(original.progress);
    for (const key of ['state', 'expAvg', 'expAvgSq'] as const) {
      expect([...back[key].keys()].sort()).toEqual([...original[key].keys()].sort());
      for (const [name, v] of original[key]) {
        const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
        expect(bits(back[key].get(name)!)).toEqual(bits(v));
      }
    }
  });

  it('refuses other files with a sentence', () => {
    const weightsOnly = writeSafetensors([['x', { dtype: 'F32', shape: [1], data: [1] }]], {
      format: 'other',
    });
    expect(() => readTrainerCheckpoint(weightsOnly, 'w.safetensors')).toThrow(
      /w\.safetensors is not a SparkLab training checkpoint \(format "other"\)/,
    );
    const broken = checkpoint();
    const name = [...broken.expAvg.keys()][0];
    broken.expAvg.delete(name);
    expect(() => writeTrainerCheckpoint(broken)).toThrow(`The optimiser state has no moment for ${name}.`);
  });

  it('validates the progress record field by field instead of trusting a cast', () => {
    const tampered = (change: Record<string, unknown>) => {
      const c = checkpoint();
      return writeTrainerCheckpoint({ ...c, progress: { ...c.progress, ...change } as never });
    };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ optimizerSteps: undefined }, /optimizerSteps missing; it cannot resume training/],
      [{ optimizerSteps: { decay: 1.5, noDecay: 0 } }, /optimizerSteps\.decay = 1\.5, not a whole number/],
      [{ step: 41 }, /step = 41, not a whole number from 0 to 40/],
      [{ step: '12' }, /step = 12, not a whole number/],
      [{ totalSteps: 0 }, /totalSteps = 0, not a positive whole number/],
      [{ batch: 1 }, /batch = 1, not a whole number of at least 2/],
      [{ dataRngState: -1 }, /dataRngState = -1, not a 32-bit generator state/],
      [{ runId: '' }, /runId missing/],
      [
        { hyper: { ...checkpoint().progress.hyper, optimizer: 'sgd' } },
        /hyper\.optimizer = "sgd", not "lamb" or "adamw"/,
      ],
      // JSON turns NaN into null.
      [
        { hyper: { ...checkpoint().progress.hyper, peakLr: Number.NaN } },
        /hyper\.peakLr = null, not a finite number/,
      ],
      [{ hyper: { ...checkpoint().progress.hyper, beta2: 1 } }, /hyper\.beta2 = 1, not a finite number/],
      [{ hyper: undefined }, /hyper missing/],
    ];
    for (const [change, message] of cases)
      expect(() => readTrainerCheckpoint(tampered(change), 'c.safetensors')).toThrow(message);
    const notObject = writeSafetensors([['x', { dtype: 'F32', shape: [1], data: [1] }]], {
      format: 'sparklab-trainer-checkpoint/1',
      config: '[]',
      progress: '{}',
    });
    expect(() => readTrainerCheckpoint(notObject, 'c.safetensors')).toThrow(
      /configuration in its metadata is not an object/,
    );
  });

  it('refuses non-finite weights, moments beyond f32 and negative variances, naming the tensor and index', () => {
    const poisoned = (
      which: 'state' | 'expAvg' | 'expAvgSq',
      pick: (name: string) => boolean,
      index: number,
      value: number,
    ) => {
      const c = checkpoint();
      const name = [...c[which].keys()].find(pick) as string;
      c[which].get(name)![index] = value;
      return { bytes: writeTrainerCheckpoint(c), name };
    };
    const nan = poisoned('state', (n) => n.endsWith('conv1.weight'), 3, Number.NaN);
    expect(() => readTrainerCheckpoint(nan.bytes, 'c')).toThrow(
      `c cannot be restored: ${nan.name}[3] is NaN.`,
    );
    const inf = poisoned('expAvg', () => true, 0, Number.POSITIVE_INFINITY);
    expect(() => readTrainerCheckpoint(inf.bytes, 'c')).toThrow(
      `optimizer.exp_avg.${inf.name}[0] is Infinity, beyond the range of 32-bit floats`,
    );
    const variance = poisoned('state', (n) => n.endsWith('running_var'), 1, -0.5);
    expect(() => readTrainerCheckpoint(variance.bytes, 'c')).toThrow(
      `${variance.name}[1] is -0.5, but it cannot be negative`,
    );
    const moment = poisoned('expAvgSq', () => true, 2, -0.25);
    expect(() => readTrainerCheckpoint(moment.bytes, 'c')).toThrow(
      /optimizer\.exp_avg_sq\..*\[2\] is -0.25, but it cannot be negative/,
    );
    // Values an f64 or f16 file can hold but f32 cannot.
    expect(findNonFiniteValue(new Map([['w', Float64Array.of(0, 1e39)]]))).toBe(
      'w[1] is 1e+39, beyond the range of 32-bit floats',
    );
    expect(findNonFiniteValue(new Map([['w', Float64Array.of(0, -0, 3.4e38)]]))).toBeUndefined();
  });
});
