import { describe, expect, it, vi } from 'vitest';
import { testGpu } from '../../tests/gpu';
import { quadrantSplit } from '../../tests/labelled-images';
import { officialInitialState } from '../models/init';
import { preset } from '../models/presets';
import { Rng } from '../util/random';
import { chanceLevel, shuffled } from './data';
import { DenseEncoder } from './encoder';
import { extractFeatures, type FeatureSet } from './features';
import { knnAccuracy, knnPredict } from './knn';
import { featureStandardizer, linearProbe } from './linear';

// Each test builds whole encoders (dozens of pipelines): seconds on an idle SwiftShader, minutes on a shared,
// overloaded machine; the default 120 s was exceeded there.
vi.setConfig({ testTimeout: 300_000 });

/** Gaussian blobs: class c around a random centre of norm ≈ 3√D, unit noise: linearly separable. */
function blobs(count: number, classes: number, width: number, rng: Rng, centres: Float32Array): FeatureSet {
  const data = new Float32Array(count * width);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const c = i % classes;
    labels[i] = c;
    for (let d = 0; d < width; d++) data[i * width + d] = centres[c * width + d] + rng.normal() * 0.7;
  }
  return { count, width, data, labels };
}

function blobSets(seed: number) {
  const rng = new Rng(seed);
  const [K, D] = [5, 12];
  const centres = rng.normals(K * D, 3);
  return { K, train: blobs(500, K, D, rng, centres), test: blobs(200, K, D, rng, centres) };
}

describe('k-NN', () => {
  it('predicts the class of the nearest directions, weighting votes by exp(cos/T)', () => {
    // Train: three rows of class 0 near +x, one of class 1 exactly at the test direction.
    const train: FeatureSet = {
      count: 4,
      width: 2,
      data: Float32Array.of(1, 0.5, 1, -0.5, 2, 0.1, 0, 3),
      labels: Int32Array.of(0, 0, 0, 1),
    };
    const test: FeatureSet = {
      count: 2,
      width: 2,
      data: Float32Array.of(0, 1, 5, 0),
      labels: Int32Array.of(1, 0),
    };
    const raw = { standardize: false, classes: 2 };
    // k = 1: the single nearest neighbour decides.
    expect([...knnPredict(train, test, { ...raw, k: 1 })]).toEqual([1, 0]);
    // k = 4 with a huge temperature: plain majority (3 of class 0) wins for both.
    expect([...knnPredict(train, test, { ...raw, k: 4, temperature: 1e6 })]).toEqual([0, 0]);
    // k = 4 with T = 0.07: the identical direction (cos 1) outweighs three at cos ≈ 0.45 / −0.45 / 0.05.
    expect([...knnPredict(train, test, { ...raw, k: 4, temperature: 0.07 })]).toEqual([1, 0]);
  });

  it('standardises features by probe-train statistics before the cosine (default)', () => {
    // All-positive features: class 0 lies exactly on the diagonal, class 1 just above it, further out.
    const train: FeatureSet = {
      count: 4,
      width: 2,
      data: Float32Array.of(1, 1, 2, 2, 3, 3.3, 4, 4.4),
      labels: Int32Array.of(0, 0, 1, 1),
    };
    const test: FeatureSet = {
      count: 2,
      width: 2,
      data: Float32Array.of(3.6, 3.6, 1.5, 1.5),
      labels: Int32Array.of(1, 0),
    };
    // Raw cosine: (3.6, 3.6) is on the diagonal, cos 1 with both class-0 rows, 0.9989 with class 1.
    expect([...knnPredict(train, test, { k: 2, classes: 2, standardize: false })]).toEqual([0, 0]);
    // Standardised (mean (2.5, 2.675), std (1.118, 1.287)): (3.6, 3.6) → (0.98, 0.72), on the side of
    // class 1's rows (0.45, 0.49) and (1.34, 1.34); (1.5, 1.5) → (−0.89, −0.91), on class 0's side.
    expect([...knnPredict(train, test, { k: 2, classes: 2 })]).toEqual([1, 0]);
  });

  it('separates Gaussian blobs (≥ 95 %) and drops to chance with shuffled labels', () => {
    const { K, train, test } = blobSets(1);
    expect(knnAccuracy(train, test, { classes: K })).toBeGreaterThanOrEqual(0.95);
    const shuffledLabels = Int32Array.from(shuffled(train.count, new Rng(4)), (i) => train.labels[i]);
    const control = knnAccuracy(train, test, { classes: K, trainLabels: shuffledLabels });
    expect(chanceLevel(test.labels, K)).toBeCloseTo(0.2, 10);
    expect(control).toBeLessThan(0.35);
  });
});

describe('linear probe on the GPU', () => {
  it('standardises features by probe-train statistics (BN without affine)', () => {
    const f: FeatureSet = {
      count: 4,
      width: 1,
      data: Float32Array.of(1, 2, 3, 6),
      labels: new Int32Array(4),
    };
    const { mean, invStd } = featureStandardizer(f, 0);
    expect(mean[0]).toBe(3);
    expect(invStd[0]).toBeCloseTo(1 / Math.sqrt((4 + 1 + 0 + 9) / 4), 12);
  });

  it('separates Gaussian blobs (≥ 95 %), shuffled labels stay near chance, same seed same answer', async () => {
    const gpu = await testGpu();
    const { K, train, test } = blobSets(2);
    const options = { classes: K, seed: 5, epochs: 10, batch: 64 };
    const first = await linearProbe(gpu, train, test, options);
    expect(first.accuracy).toBeGreaterThanOrEqual(0.95);
    const again = await linearProbe(gpu, train, test, options);
    expect(again).toEqual(first);
    const shuffledLabels = Int32Array.from(shuffled(train.count, new Rng(6)), (i) => train.labels[i]);
    const control = await linearProbe(gpu, train, test, { ...options, trainLabels: shuffledLabels });
    expect(control.accuracy).toBeLessThan(0.35);
  });
});

it('random-init encoder + linear probe and k-NN on images whose class is known (dominant colour)', async () => {
  const gpu = await testGpu();
  const tiny = preset('tiny');
  const config = {
    ...tiny,
    inputSize: 16,
    decoderWidth: 8,
    backbone: { ...tiny.backbone, stemWidth: 4, widths: [4, 8], depths: [1, 1], stageStrides: [2, 2] },
  } as typeof tiny;
  const encoder = new DenseEncoder(gpu, config, 16, { pool: 'all' });
  encoder.loadState(officialInitialState(config, 0));
  const train = await extractFeatures(gpu, encoder, quadrantSplit(120, 1, 16));
  const test = await extractFeatures(gpu, encoder, quadrantSplit(40, 2, 16));
  encoder.destroy();
  expect(train.count).toBe(120);
  const linear = await linearProbe(gpu, train, test, { classes: 4, seed: 0, epochs: 30, batch: 40 });
  expect(linear.accuracy).toBeGreaterThanOrEqual(0.95);
  expect(knnAccuracy(train, test, { classes: 4, standardize: false })).toBeGreaterThanOrEqual(0.95);
  // Standardised (the default) gives every channel equal weight, so the near-dead channels of this 4/8-wide
  // random encoder add noise: 37 of 40 here, still far above the 25 % chance.
  expect(knnAccuracy(train, test, { classes: 4 })).toBeGreaterThanOrEqual(0.9);
});
