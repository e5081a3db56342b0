/**
 * Plumbing of the GPU SparK model: arenas vs the official state list, initialisation rules, state round
 * trips, in-place mask updates, the sparse/dense-zero relation, unused parameters, errors, and release.
 * Parity of the numbers themselves is in parity-gpu.test.ts (official fixtures) and spark-general.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import type { Gpu } from '../gpu/runtime';
import { assertClose } from '../reference/allclose';
import { explicitMask, randomMask } from '../sparse/mask';
import { AdamW } from '../train/optim';
import { Rng } from '../util/random';
import {
  type BackboneConfig,
  featureChannels,
  featureStrides,
  SPARK_DEFAULTS,
  type SparkConfig,
  validateSparkConfig,
} from './config';
import { parameterCount, sparkState } from './official-names';
import { randomSparkState } from './reference-fixture';
import { createSparkModel, type SparkGpuModel } from './spark-model';

const resnet: BackboneConfig = {
  family: 'resnet',
  block: 'basic',
  stemWidth: 4,
  stemKernel: 3,
  stemStride: 2,
  maxpool: true,
  widths: [4, 6],
  depths: [1, 1],
  stageStrides: [1, 2],
};

function config(o: Partial<SparkConfig> = {}): SparkConfig {
  return validateSparkConfig({
    inputSize: 24,
    maskRatio: 0.5,
    decoderWidth: 8,
    backbone: resnet,
    densifyNorm: 'bn',
    ...SPARK_DEFAULTS,
    ...o,
  });
}

function images(batch: number, size: number, seed: number): Float32Array {
  return new Rng(seed).normals(batch * 3 * size * size);
}

async function trainStep(gpu: Gpu, model: SparkGpuModel): Promise<void> {
  gpu.device.queue.writeBuffer(model.params.grads, 0, new Float32Array(model.params.size));
  await gpu.checked('train', async () => {
    gpu.submit('train', (pass) => model.encodeTrainStep(pass));
    await gpu.idle();
  });
}

async function evaluate(gpu: Gpu, model: SparkGpuModel): Promise<void> {
  await gpu.checked('eval', async () => {
    gpu.submit('eval', (pass) => model.encodeEval(pass));
    await gpu.idle();
  });
}

describe('GPU SparK model plumbing', () => {
  it('arenas hold exactly the official state (names, counts, layouts); features have the configured shapes', async () => {
    const gpu = await testGpu();
    const c = config();
    const model = createSparkModel(gpu, c, 2);
    try {
      const entries = sparkState(c);
      expect(model.params.entries.map((e) => e.name)).toEqual(
        entries.filter((e) => e.kind === 'param').map((e) => e.name),
      );
      expect(model.params.count).toBe(parameterCount(entries));
      expect(model.stats.entries.map((e) => e.name)).toEqual(
        entries.filter((e) => e.kind === 'buffer' && e.dtype === 'F32').map((e) => e.name),
      );
      expect([...model.batchesTracked.keys()].length).toBe(
        entries.filter((e) => e.name.endsWith('num_batches_tracked')).length,
      );
      expect(model.params.get('sparse_encoder.sp_cnn.conv1.weight').gpuShape).toEqual([3, 3, 3, 4]);
      model.initialize(1);
      model.setBatch(images(2, 24, 1), randomMask(2, 3, 3, 0.5, 1));
      await trainStep(gpu, model);
      const features = await model.readFeatures();
      const strides = featureStrides(resnet);
      expect(features.map((f) => f.length)).toEqual(
        featureChannels(resnet).map((ch, i) => 2 * ch * (24 / strides[i]) ** 2),
      );
      expect(Number.isFinite((await model.readSnapshot()).loss)).toBe(true);
    } finally {
      model.destroy();
    }
  });

  it('initialize follows the official rules and is deterministic; exportState ∘ loadState is the identity', async () => {
    const gpu = await testGpu();
    const c = config();
    const a = createSparkModel(gpu, c, 2);
    const b = createSparkModel(gpu, c, 2);
    try {
      a.initialize(7);
      const state = await a.exportState();
      expect(state.get('sparse_encoder.sp_cnn.layer1.0.bn2.weight')).toEqual(new Float32Array(4)); // zero-init last BN
      expect([...state.get('sparse_encoder.sp_cnn.layer1.0.bn1.weight')!]).toEqual([1, 1, 1, 1]);
      expect([...state.get('densify_norms.0.running_var')!].every((v) => v === 1)).toBe(true);
      const token = state.get('mask_tokens.0')!;
      expect(token.every((v) => Math.abs(v) <= 0.02) && token.some((v) => v !== 0)).toBe(true);
      const stem = state.get('sparse_encoder.sp_cnn.conv1.weight')!;
      const std = Math.sqrt(stem.reduce((s, v) => s + v * v, 0) / stem.length);
      expect(std).toBeGreaterThan(0.5 * Math.sqrt(2 / (4 * 9)));
      expect(std).toBeLessThan(1.5 * Math.sqrt(2 / (4 * 9)));
      b.initialize(7);
      expect(await b.exportState()).toEqual(state);
      b.initialize(8);
      expect((await b.exportState()).get('sparse_encoder.sp_cnn.conv1.weight')).not.toEqual(stem);

      const random = randomSparkState(c, 3);
      b.loadState(random);
      const back = await b.exportState();
      for (const [name, v] of random) expect(back.get(name), name).toEqual(Float32Array.from(v));
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  it('ConvNeXt initialisation: layer scale 1e-6, LN 1/0, trunc-normal(0.02) weights, identity scale-0 projection', async () => {
    const gpu = await testGpu();
    const c = config({
      backbone: { family: 'convnext', dims: [4, 8], depths: [1, 1] },
      densifyNorm: 'ln',
      inputSize: 16,
    });
    const model = createSparkModel(gpu, c, 2);
    try {
      model.initialize(3);
      const state = await model.exportState();
      const p = 'sparse_encoder.sp_cnn.';
      expect([...state.get(`${p}stages.1.0.gamma`)!].every((v) => Math.abs(v - 1e-6) < 1e-12)).toBe(true);
      expect([...state.get(`${p}stages.0.0.norm.weight`)!]).toEqual([1, 1, 1, 1]);
      expect([...state.get(`${p}stages.0.0.pwconv1.bias`)!].every((v) => v === 0)).toBe(true);
      const w = state.get(`${p}stages.0.0.pwconv1.weight`)!;
      const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
      expect(std).toBeGreaterThan(0.01);
      expect(std).toBeLessThan(0.03);
      expect(state.has('densify_projs.0.weight')).toBe(false);
      expect(state.has('densify_projs.1.weight')).toBe(true);
    } finally {
      model.destroy();
    }
  });

  it('a few AdamW steps on one fixed batch lower the loss (model and optimiser in one submission)', async () => {
    const gpu = await testGpu();
    const c = config({ inputSize: 12, backbone: { ...resnet, maxpool: false } });
    const model = createSparkModel(gpu, c, 2);
    const optimiser = new AdamW(gpu, model.params, { maxGradNorm: 5 });
    try {
      model.initialize(5);
      model.setBatch(images(2, 12, 9), randomMask(2, 3, 3, 0.5, 9));
      const losses: number[] = [];
      for (let step = 0; step < 6; step++) {
        gpu.device.queue.writeBuffer(model.params.grads, 0, new Float32Array(model.params.size));
        optimiser.beginStep(1e-2, 0);
        await gpu.checked('step', async () => {
          gpu.submit('step', (pass) => {
            model.encodeTrainStep(pass);
            optimiser.encode(pass);
          });
          await gpu.idle();
        });
        losses.push((await model.readSnapshot()).loss);
      }
      expect(losses.every(Number.isFinite)).toBe(true);
      // Observed on SwiftShader: 0.979 → 0.910, falling at every step.
      for (let i = 1; i < losses.length; i++) expect(losses[i]).toBeLessThan(losses[i - 1]);
      expect(losses[5]).toBeLessThan(0.95 * losses[0]);
      expect(model.batchesTracked.get('dense_decoder.dec.0.conv.1')).toBe(6);
    } finally {
      optimiser.release();
      model.destroy();
    }
  });

  it('setBatch rewrites masks in place: a reused model equals a fresh one on the new mask', async () => {
    const gpu = await testGpu();
    const c = config();
    const state = randomSparkState(c, 4);
    const reused = createSparkModel(gpu, c, 2);
    const fresh = createSparkModel(gpu, c, 2);
    try {
      reused.loadState(state);
      fresh.loadState(state);
      const x = images(2, 24, 2);
      reused.setBatch(x, randomMask(2, 3, 3, 0.5, 10));
      await evaluate(gpu, reused);
      const first = (await reused.readSnapshot()).loss;
      const second = randomMask(2, 3, 3, 0.5, 11);
      reused.setBatch(x, second);
      await evaluate(gpu, reused);
      fresh.setBatch(x, second);
      await evaluate(gpu, fresh);
      const [r, f] = [await reused.readSnapshot(), await fresh.readSnapshot()];
      expect(r.loss).toBe(f.loss);
      expect(r.loss).not.toBe(first);
      expect(r.composite).toEqual(f.composite);
      expect(r.active.map((a) => a.size)).toEqual([6, 3]);
      expect(r.active[1].map).toEqual(Uint8Array.from(second.cells));
    } finally {
      reused.destroy();
      fresh.destroy();
    }
  });

  it('sparse and dense-zero encoders agree when every cell is visible, and differ when cells are masked', async () => {
    const gpu = await testGpu();
    // Loss over all patches: with nothing masked the masked-only loss would be 0 and test nothing.
    const c = config({ maskRatio: 0, lossOn: 'all' });
    const state = randomSparkState(c, 5);
    const sparse = createSparkModel(gpu, c, 2);
    const dense = createSparkModel(gpu, { ...c, encoder: 'dense-zero' }, 2);
    try {
      const x = images(2, 24, 3);
      const all = explicitMask(2, 3, 3, new Array(18).fill(1));
      for (const m of [sparse, dense]) {
        m.loadState(state);
        m.setBatch(x, all);
        await trainStep(gpu, m);
      }
      const [s, d] = [await sparse.readSnapshot(), await dense.readSnapshot()];
      // Same math, different row orders (block-major vs raster): float32 summation order only.
      assertClose(s.prediction, d.prediction, { rtol: 1e-4, atol: 1e-5 });
      expect(Math.abs(s.loss - d.loss)).toBeLessThan(1e-4 * Math.abs(d.loss));
      const [gs, gd] = [await sparse.readGrads(), await dense.readGrads()];
      for (const [name, g] of gs) assertClose(g, gd.get(name)!, { rtol: 1e-3, atol: 1e-6 });

      // With masked cells, the dense encoder sees zeros as data: its features differ at visible sites.
      const half = config();
      const sparseHalf = createSparkModel(gpu, half, 2);
      const denseHalf = createSparkModel(gpu, { ...half, encoder: 'dense-zero' }, 2);
      try {
        const mask = randomMask(2, 3, 3, 0.5, 12);
        for (const m of [sparseHalf, denseHalf]) {
          m.loadState(randomSparkState(half, 5));
          m.setBatch(x, mask);
          await trainStep(gpu, m);
        }
        const [fs, fd] = [(await sparseHalf.readFeatures())[0], (await denseHalf.readFeatures())[0]];
        let maxDiff = 0;
        for (let i = 0; i < fs.length; i++)
          if (fs[i] !== 0) maxDiff = Math.max(maxDiff, Math.abs(fs[i] - fd[i]));
        expect(maxDiff).toBeGreaterThan(1e-2);
      } finally {
        sparseHalf.destroy();
        denseHalf.destroy();
      }
    } finally {
      sparse.destroy();
      dense.destroy();
    }
  });

  it('the stem conv of the sparse and the dense-zero encoder agree at visible sites; only the dense one leaks into masked cells', async () => {
    const gpu = await testGpu();
    const c = config();
    const state = randomSparkState(c, 8);
    const mask = randomMask(2, 3, 3, 0.5, 14);
    const x = images(2, 24, 5);
    const models = [createSparkModel(gpu, c, 2), createSparkModel(gpu, { ...c, encoder: 'dense-zero' }, 2)];
    try {
      const stems = [];
      for (const m of models) {
        m.loadState(state);
        m.setBatch(x, mask);
        await evaluate(gpu, m);
        expect(m.activationNames).toContain('sparse_encoder.sp_cnn.conv1');
        stems.push(await m.readActivation('sparse_encoder.sp_cnn.conv1'));
      }
      const [sparse, dense] = stems;
      expect(sparse.shape).toEqual([2, 4, 12, 12]);
      expect(dense.shape).toEqual(sparse.shape);
      let visibleDiff = 0;
      let visibleMax = 0;
      let leaked = 0;
      for (let b = 0; b < 2; b++)
        for (let ch = 0; ch < 4; ch++)
          for (let y = 0; y < 12; y++)
            for (let xx = 0; xx < 12; xx++) {
              const i = ((b * 4 + ch) * 12 + y) * 12 + xx;
              const visible = mask.cells[(b * 3 + Math.floor(y / 4)) * 3 + Math.floor(xx / 4)] === 1;
              if (visible) {
                visibleDiff = Math.max(visibleDiff, Math.abs(sparse.data[i] - dense.data[i]));
                visibleMax = Math.max(visibleMax, Math.abs(dense.data[i]));
              } else {
                expect(sparse.data[i]).toBe(0);
                if (dense.data[i] !== 0) leaked++;
              }
            }
      expect(visibleDiff).toBeLessThanOrEqual(1e-5 * visibleMax);
      expect(leaked).toBeGreaterThan(0);
      await expect(models[0].readActivation('nope')).rejects.toThrow(/no layer named nope/);
    } finally {
      for (const m of models) m.destroy();
    }
  });

  it('decoder fed the coarsest scale only: the other scales’ densify parameters are unused and keep zero grads', async () => {
    const gpu = await testGpu();
    const c = config({ decoderInputs: 'coarsest' });
    const model = createSparkModel(gpu, c, 2);
    try {
      expect([...model.unusedParams].sort()).toEqual(
        [
          'densify_norms.1.bias',
          'densify_norms.1.weight',
          'densify_projs.1.bias',
          'densify_projs.1.weight',
          'mask_tokens.1',
        ].sort(),
      );
      model.loadState(randomSparkState(c, 6));
      model.setBatch(images(2, 24, 4), randomMask(2, 3, 3, 0.5, 13));
      await trainStep(gpu, model);
      const grads = await model.readGrads();
      for (const name of model.unusedParams)
        expect(
          grads.get(name)!.every((v) => v === 0),
          name,
        ).toBe(true);
      expect(grads.get('mask_tokens.0')!.some((v) => v !== 0)).toBe(true);
      // The unused scale's BN still ran (the official code densifies every scale): its statistics moved.
      const after = await model.exportState();
      expect(after.get('densify_norms.1.num_batches_tracked')![0]).toBe(4);
    } finally {
      model.destroy();
    }
  });

  it('explains bad input in sentences and returns every buffer on destroy', async () => {
    const gpu = await testGpu();
    const before = gpu.liveBuffers().count;
    const c = config();
    const model = createSparkModel(gpu, c, 2);
    expect(() => model.setBatch(new Float32Array(10), randomMask(2, 3, 3, 0.5, 1))).toThrow(
      /a batch of 2 images \[3, 24, 24\] needs 3456/,
    );
    expect(() => model.setBatch(images(3, 24, 1), randomMask(3, 3, 3, 0.5, 1))).toThrow(
      /covers 3 images; this model was built for batches of 1 to 2/,
    );
    expect(() => model.setBatch(images(2, 24, 1), randomMask(2, 2, 2, 0.5, 1))).toThrow(
      /grid is 2×2 cells, but the model was built for 3×3/,
    );
    expect(() =>
      model.setBatch(images(2, 24, 1), {
        batch: 2,
        gridH: 3,
        gridW: 3,
        cells: new Uint8Array(18).fill(0).fill(1, 0, 9),
      }),
    ).toThrow(/Image 1 of the mask has no visible cell/);
    // One visible cell in a batch of one evaluates, but a training BatchNorm would see one value per channel.
    const single = createSparkModel(gpu, config({ maskRatio: 0.9 }), 1);
    single.setBatch(images(1, 24, 1), randomMask(1, 3, 3, 0.9, 1));
    gpu.submit('eval', (pass) => single.encodeEval(pass));
    expect(Number.isFinite((await single.readSnapshot()).loss)).toBe(true);
    expect(() => single.encodeTrainForward({} as GPUComputePassEncoder)).toThrow(
      /would normalise a single value per channel; train on more visible cells or a larger batch/,
    );
    single.destroy();
    const state = randomSparkState(c, 1);
    state.delete('mask_tokens.1');
    expect(() => model.loadState(state)).toThrow('The state has no tensor named mask_tokens.1.');
    model.destroy();
    expect(gpu.liveBuffers().count).toBe(before);
    expect(() => model.initialize(1)).toThrow(/destroyed/);
  });
});
