import { describe, expect, it } from 'vitest';
import { writeSafetensors } from '../io/safetensors';
import { sparkState } from '../models/official-names';
import { Rng } from '../util/random';
import { readTrainerCheckpoint, type TrainerCheckpoint, writeTrainerCheckpoint } from './checkpoint';
import { microConfig } from './trainer-test-utils';

function checkpoint(): TrainerCheckpoint {
  const config = microConfig();
  const rng = new Rng(4);
  const state = new Map<string, Float32Array>();
  const expAvg = new Map<string, Float32Array>();
  const expAvgSq = new Map<string, Float32Array>();
  for (const e of sparkState(config)) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    state.set(e.name, e.dtype === 'I64' ? Float32Array.of(17) : rng.normals(n));
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
});
