/**
 * Drop path (stochastic depth): the per-block rates of the official rule, the seeded per-image draws, and
 * the GPU model's train step with drop path against the float64 reference given the same draws (loss and
 * every gradient), eval never dropping. Shapes are tiny: SwiftShader runs them on two CPU cores.
 */
import { describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import { assertClose } from '../reference/allclose';
import { SparkReference } from '../reference/spark/model';
import { Tensor } from '../reference/spark/tape';
import { randomMask } from '../sparse/mask';
import { Rng } from '../util/random';
import {
  type BackboneConfig,
  SPARK_DEFAULTS,
  type SparkConfig,
  totalStride,
  validateSparkConfig,
} from './config';
import { dropPathFactors, dropPathRates, dropPathUniform } from './drop-path';
import { OFFICIAL_PRESETS, PRESETS, preset } from './presets';
import { randomSparkState } from './reference-fixture';
import { createSparkModel } from './spark-model';

function spark(backbone: BackboneConfig, o: Partial<SparkConfig>): SparkConfig {
  return validateSparkConfig({
    maskRatio: 0.5,
    densifyNorm: backbone.family === 'resnet' ? 'bn' : 'ln',
    inputSize: 12,
    decoderWidth: 8,
    ...SPARK_DEFAULTS,
    backbone,
    ...o,
  });
}

const tinyResnet: BackboneConfig = {
  family: 'resnet',
  block: 'basic',
  stemWidth: 4,
  stemKernel: 3,
  stemStride: 2,
  maxpool: false,
  widths: [4, 6],
  depths: [2, 2],
  stageStrides: [1, 2],
};

describe('drop-path rates and draws', () => {
  it('rises linearly over every residual block from 0 to the rate (timm ResNet, official ConvNeXt)', () => {
    const r50 = dropPathRates(OFFICIAL_PRESETS['resnet50-224']);
    expect(r50).toHaveLength(16);
    expect(r50[0]).toBe(0);
    expect(r50[15]).toBeCloseTo(0.05, 15);
    expect(r50[5]).toBeCloseTo((0.05 * 5) / 15, 15);
    const cnxL = dropPathRates(OFFICIAL_PRESETS['convnext_large-224']);
    expect(cnxL).toHaveLength(36);
    expect(cnxL[35]).toBeCloseTo(0.4, 15);
    expect(cnxL[1]).toBeCloseTo(0.4 / 35, 15);
  });

  it('is off in the small presets and at the official rates in the official architectures', () => {
    for (const name of [
      'tiny',
      'resnet-s8-32',
      'resnet-s16-64',
      'resnet18-128',
      'convnext-atto-128',
    ] as const)
      expect(
        dropPathRates(preset(name)).every((r) => r === 0),
        name,
      ).toBe(true);
    // keyu-tian/SparK pretrain/models/__init__.py, pre_train_d (default drop_path_rate per architecture).
    const official: Record<keyof typeof OFFICIAL_PRESETS, number> = {
      'resnet50-224': 0.05,
      'resnet101-224': 0.08,
      'resnet152-224': 0.1,
      'resnet200-224': 0.15,
      'convnext_small-224': 0.2,
      'convnext_base-224': 0.3,
      'convnext_large-224': 0.4,
      'convnext_large-384': 0.4,
    };
    for (const [name, rate] of Object.entries(official))
      expect(OFFICIAL_PRESETS[name as keyof typeof OFFICIAL_PRESETS].dropPathRate, name).toBe(rate);
    expect(PRESETS['resnet50-224'].dropPathRate).toBe(0.05);
    expect(PRESETS['convnext-s-224'].dropPathRate).toBe(0.2);
  });

  it('draws the same per (seed, step) and differently across steps; keeps 1 − p of the images, scaled by 1/(1 − p)', () => {
    const rates = [0, 0.25, 0.5];
    const a = dropPathFactors(rates, 8, 42, 7);
    expect(dropPathFactors(rates, 8, 42, 7)).toEqual(a);
    expect(dropPathFactors(rates, 8, 42, 8)).not.toEqual(a);
    expect(dropPathFactors(rates, 8, 43, 7)).not.toEqual(a);
    expect([...a.subarray(0, 8)]).toEqual(new Array(8).fill(1));
    for (const v of a.subarray(8, 16)) expect([0, Math.fround(1 / 0.75)]).toContain(v);
    for (const v of a.subarray(16)) expect([0, 2]).toContain(v);
    // A stride wider than the batch leaves the unused images at 1.
    const wide = dropPathFactors(rates, 2, 42, 7, 4);
    expect([...wide.subarray(6, 8)]).toEqual([1, 1]);
    expect([...wide.subarray(4, 6)]).toEqual([...a.subarray(8, 10)]);
    // Over 20 000 draws the kept fraction is 1 − p within 4σ.
    let kept = 0;
    const n = 20_000;
    for (let step = 0; step < n / 4; step++)
      for (let image = 0; image < 4; image++) if (dropPathUniform(1, step, 3, image) < 0.7) kept++;
    const sigma = Math.sqrt((0.7 * 0.3) / n);
    expect(Math.abs(kept / n - 0.7)).toBeLessThan(4 * sigma);
    expect(() => dropPathFactors(rates, 2, 1, -1)).toThrow(/whole number/);
  });

  it('validates the rate with a sentence', () => {
    expect(() => spark(tinyResnet, { dropPathRate: 1 })).toThrow(
      /drop-path rate must be a number in \[0, 1\)/,
    );
    expect(() => spark(tinyResnet, { dropPathRate: -0.1 })).toThrow(/drop-path rate/);
  });
});

describe('GPU model with drop path vs the float64 reference', () => {
  const cases: [string, SparkConfig][] = [
    ['ResNet basic, 4 blocks, rate 0.6', spark(tinyResnet, { dropPathRate: 0.6 })],
    [
      'ConvNeXt, 3 blocks, rate 0.5',
      spark({ family: 'convnext', dims: [4, 8], depths: [1, 2] }, { inputSize: 24, dropPathRate: 0.5 }),
    ],
    ['dense-zero ResNet, rate 0.6', spark(tinyResnet, { dropPathRate: 0.6, encoder: 'dense-zero' })],
    // The official computation (dense, re-masked): the reference computes it as it computes SparK.
    ['dense-masked ResNet, rate 0.6', spark(tinyResnet, { dropPathRate: 0.6, encoder: 'dense-masked' })],
  ];
  for (const [label, config] of cases)
    it(`${label}: train loss and every gradient equal the reference's with the same draws; eval does not drop`, async () => {
      const gpu = await testGpu();
      const batch = 4;
      const S = config.inputSize;
      const grid = S / totalStride(config.backbone);
      const state = randomSparkState(config, 5);
      const model = createSparkModel(gpu, config, batch, { label: 'drop-path' });
      try {
        model.loadState(state);
        const images = new Rng(9).normals(batch * 3 * S * S);
        const mask = randomMask(batch, grid, grid, config.maskRatio, 13);
        const input = new Tensor([batch, 3, S, S], Float64Array.from(images));
        model.setBatch(images, mask);
        expect(() => model.encodeTrainForward({} as GPUComputePassEncoder)).toThrow(/call setDropPath/);
        const [seed, step] = [21, 3];
        const factors = dropPathFactors(dropPathRates(config), batch, seed, step);
        // The draw must drop some branches and keep others, or the test would not tell drop path apart.
        expect(factors.some((f) => f === 0)).toBe(true);
        expect(factors.some((f) => f > 1)).toBe(true);

        // Eval first (no drop): the reference's eval.
        gpu.submit('eval', (pass) => model.encodeEval(pass));
        const evalLoss = (await gpu.read(model.loss))[0];
        const reference = new SparkReference(config, state);
        const wantEval = reference.evaluate(input, mask.cells).loss;
        assertClose([evalLoss], [wantEval], { rtol: 1e-4, atol: 1e-6, label: `${label} eval loss` });

        model.setDropPath(seed, step);
        gpu.device.queue.writeBuffer(model.params.grads, 0, new Float32Array(model.params.size));
        gpu.submit('train', (pass) => model.encodeTrainStep(pass));
        const loss = (await gpu.read(model.loss))[0];
        const grads = await model.readGrads();
        const want = reference.trainStep(input, mask.cells, { factors, stride: batch });
        const without = new SparkReference(config, state).trainStep(input, mask.cells);
        assertClose([loss], [want.loss], { rtol: 1e-4, atol: 1e-6, label: `${label} train loss` });
        // And drop path changed the loss (the comparison above is not the no-drop loss by accident).
        expect(Math.abs(want.loss - without.loss)).toBeGreaterThan(1e-4 * Math.abs(want.loss));
        for (const [name, g] of want.grads) {
          const max = g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
          assertClose(grads.get(name)!, g, { rtol: 0, atol: 1e-3 * max + 1e-7, label: `${label} d${name}` });
        }
      } finally {
        model.destroy();
      }
    }, 300_000);
});
