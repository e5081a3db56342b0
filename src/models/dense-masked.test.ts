/**
 * The dense-masked encoder (the official computation: dense convs on the full grid, re-masked after every
 * layer, BN statistics over visible pixels) against the gathered sparse encoder: the same loss, the same
 * features at visible sites (and exact zeros at masked ones), the same gradient for every parameter, within
 * the parity tolerances (1e-3 of each tensor's largest value, losses 1e-4); and an official fixture passes
 * with it. Two float32 implementations with different summation orders, so not bit-equal.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import type { Gpu } from '../gpu/runtime';
import { parseFixture } from '../io/fixtures';
import { compareWithFixture } from '../io/parity';
import { randomMask } from '../sparse/mask';
import { Rng } from '../util/random';
import {
  type BackboneConfig,
  SPARK_DEFAULTS,
  type SparkConfig,
  totalStride,
  validateSparkConfig,
} from './config';
import { runGpuOnFixture } from './parity-gpu';
import { preset } from './presets';
import { randomSparkState } from './reference-fixture';
import { createSparkModel, type SparkGpuModel } from './spark-model';

interface StepResult {
  loss: number;
  features: Float32Array[];
  grads: Map<string, Float32Array>;
}

async function trainOnce(gpu: Gpu, config: SparkConfig, batch: number, seed: number): Promise<StepResult> {
  const model: SparkGpuModel = createSparkModel(gpu, config, batch);
  try {
    model.loadState(randomSparkState(config, seed));
    const grid = config.inputSize / totalStride(config.backbone);
    const mask = randomMask(batch, grid, grid, 0.6, seed);
    model.setBatch(new Rng(seed).normals(batch * 3 * config.inputSize ** 2), mask);
    gpu.device.queue.writeBuffer(model.params.grads, 0, new Float32Array(model.params.size));
    await gpu.checked('dense-masked.train', async () => {
      gpu.submit('dense-masked.train', (pass) => model.encodeTrainStep(pass));
      await gpu.idle();
    });
    const snapshot = await model.readSnapshot();
    return { loss: snapshot.loss, features: await model.readFeatures(), grads: await model.readGrads() };
  } finally {
    model.destroy();
  }
}

/** The parity tolerance: |a − b| ≤ 1e-3 · max|b| everywhere (1e-7 absolute for an all-zero tensor). */
function worstRelative(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
  }
  return scale === 0 ? diff / 1e-4 : diff / scale;
}

async function expectSameAsSparse(config: SparkConfig, batch: number, seed: number): Promise<void> {
  const gpu = await testGpu();
  const sparse = await trainOnce(gpu, config, batch, seed);
  const masked = await trainOnce(gpu, { ...config, encoder: 'dense-masked' }, batch, seed);
  expect(Math.abs(masked.loss - sparse.loss)).toBeLessThanOrEqual(1e-4 * Math.abs(sparse.loss));
  expect(masked.features.length).toBe(sparse.features.length);
  // Sparse features read back scattered with zeros at masked sites, so this compares every site.
  sparse.features.forEach((f, i) => {
    expect(worstRelative(masked.features[i], f), `feature ${i}`).toBeLessThanOrEqual(1e-3);
  });
  const bad: string[] = [];
  for (const [name, g] of sparse.grads) {
    const r = worstRelative(masked.grads.get(name)!, g);
    if (!(r <= 1e-3)) bad.push(`${name} rel ${r.toExponential(2)}`);
  }
  expect(bad).toEqual([]);
  // Something was differentiated: the test would pass vacuously on all-zero gradients.
  expect([...sparse.grads.values()].some((g) => g.some((v) => v !== 0))).toBe(true);
}

describe('dense-masked encoder == sparse encoder (loss, features, every gradient)', () => {
  it('the tiny preset (ResNet, stride 8, 4×4 grid), batch 2, mask 0.6', async () => {
    await expectSameAsSparse(preset('tiny'), 2, 1);
  }, 300_000);

  // A max-pool output that were not re-masked is non-zero on the first row and column of a masked cell that
  // follows a visible one; only a stride-1 3×3 conv right after it reads those pixels for a visible site
  // (a 1×1 or a stride-2 conv would hide the leak), hence basic blocks and a first stage of stride 1.
  it('ResNet with 7×7 stem and max-pool (re-masked), stride 8, 3×3 grid', async () => {
    const backbone: BackboneConfig = {
      family: 'resnet',
      block: 'basic',
      stemWidth: 4,
      stemKernel: 7,
      stemStride: 2,
      maxpool: true,
      widths: [2, 4],
      depths: [1, 1],
      stageStrides: [1, 2],
    };
    const config = validateSparkConfig({
      ...SPARK_DEFAULTS,
      maskRatio: 0.6,
      inputSize: 24,
      decoderWidth: 16,
      densifyNorm: 'bn',
      backbone,
    });
    await expectSameAsSparse(config, 2, 2);
  }, 300_000);

  it('ConvNeXt (LayerNorms re-masked, Linear layers masked), stride 8, 3×3 grid', async () => {
    const config = validateSparkConfig({
      ...SPARK_DEFAULTS,
      maskRatio: 0.6,
      inputSize: 24,
      decoderWidth: 8,
      densifyNorm: 'ln',
      backbone: { family: 'convnext', dims: [4, 8], depths: [1, 2] },
    });
    await expectSameAsSparse(config, 2, 3);
  }, 300_000);

  it('an official fixture (resnet-basic-s8-in32) passes with the dense-masked encoder', async () => {
    const gpu = await testGpu();
    const file = 'resnet-basic-s8-in32.safetensors';
    const bytes = readFileSync(join(__dirname, '../../tests/fixtures/official', file));
    const fixture = parseFixture(new Uint8Array(bytes), file);
    const report = compareWithFixture(
      fixture,
      await runGpuOnFixture(gpu, fixture, { encoder: 'dense-masked' }),
    );
    const bad = report.comparisons
      .filter((c) => !c.ok)
      .map((c) => `${c.name} rel ${c.relError.toExponential(2)}`);
    expect(bad).toEqual([]);
    expect(report.comparisons.length).toBeGreaterThan(10);
  }, 300_000);
});
