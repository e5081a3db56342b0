/** Shared set-up of the trainer tests: the smallest real model, synthetic datasets, state comparison. */
import { expect } from 'vitest';
import type { Dataset } from '../data/datasets';
import { SPARK_DEFAULTS, type SparkConfig } from '../models/config';
import { Rng } from '../util/random';
import type { TrainerCheckpoint } from './checkpoint';
import type { TrainerOptions } from './trainer';

/**
 * The smallest real SparK model (8-px images, one stride-2 ResNet stage, 4×4 mask grid, decoder width 8):
 * every test here trains the real GPU model on SwiftShader, so the model is as small as the method allows.
 */
export function microConfig(overrides: Partial<SparkConfig> = {}): SparkConfig {
  return {
    ...SPARK_DEFAULTS,
    inputSize: 8,
    maskRatio: 0.5,
    decoderWidth: 8,
    densifyNorm: 'bn',
    backbone: {
      family: 'resnet',
      block: 'basic',
      stemWidth: 4,
      stemKernel: 3,
      stemStride: 1,
      maxpool: false,
      widths: [4],
      depths: [1],
      stageStrides: [2],
    },
    ...overrides,
  };
}

const IDENTITY = { mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number] };

/** Random normal images; `poison` lists the (1-based) training batches that contain a NaN pixel. */
export function randomDataset(size: number, poison: number[] = []): Dataset & { drawn: number } {
  let drawn = 0;
  return {
    name: 'random',
    imageSize: size,
    normalization: IDENTITY,
    trainCount: 1000,
    heldOutCount: 8,
    get drawn() {
      return drawn;
    },
    trainBatch(batch: number, rng: Rng, out?: Float32Array) {
      drawn++;
      const o = out ?? new Float32Array(batch * 3 * size * size);
      for (let i = 0; i < o.length; i++) o[i] = rng.normal();
      if (poison.includes(drawn)) o[5] = Number.NaN;
      return o;
    },
    heldOutBatch(count: number) {
      return new Rng(99).normals(count * 3 * size * size);
    },
  };
}

/** One fixed batch, whatever the generator says (the generator still advances, as a real dataset's would). */
export function fixedDataset(size: number, batch: number): Dataset {
  const images = new Rng(7).normals(batch * 3 * size * size);
  return {
    name: 'fixed',
    imageSize: size,
    normalization: IDENTITY,
    trainCount: batch,
    heldOutCount: batch,
    trainBatch(_batch: number, rng: Rng, out?: Float32Array) {
      rng.next();
      const o = out ?? new Float32Array(images.length);
      o.set(images);
      return o;
    },
    heldOutBatch: () => images.slice(),
  };
}

export function options(overrides: Partial<TrainerOptions> = {}): TrainerOptions {
  return {
    config: microConfig(),
    batch: 2,
    totalSteps: 40,
    seed: 3,
    dataset: randomDataset(8),
    lr: 5e-3,
    metricsEvery: 3,
    checkpointEvery: 0,
    ...overrides,
  };
}

/** Every tensor and counter of two checkpoints, compared bit for bit. */
export function expectSameState(a: TrainerCheckpoint, b: TrainerCheckpoint): void {
  expect(b.progress).toEqual(a.progress);
  for (const key of ['state', 'expAvg', 'expAvgSq'] as const) {
    expect([...b[key].keys()]).toEqual([...a[key].keys()]);
    for (const [name, values] of a[key]) {
      const other = b[key].get(name)!;
      const same = new Uint32Array(values.buffer, values.byteOffset, values.length).every(
        (bits, i) => bits === new Uint32Array(other.buffer, other.byteOffset, other.length)[i],
      );
      if (!same) throw new Error(`${key} ${name} differs`);
    }
  }
}
