/**
 * "Fixtures of other configurations also pass": the GPU model against the float64 reference (which passes
 * the four official fixtures) on configurations the official files do not cover, with random weights, in the
 * official fixture format and tolerances (tensors 1e-3 of their max, losses 1e-4, LAMB on the update).
 * Shapes are tiny because SwiftShader runs them on two CPU cores; the model code has no size special cases.
 *
 * The second suite is "any mask, any batch up to the built one": hand-made masks whose visible-cell counts
 * differ within one batch (1, a few, all), batches smaller than the built one, and one model taken through
 * several mask and batch sizes in turn (its buffers are made once, for the worst case). It lives here so
 * that it reuses the kernels this file's workers have already compiled.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import type { Gpu } from '../gpu/runtime';
import { compareWithFixture } from '../io/parity';
import { assertClose } from '../reference/allclose';
import { SparkReference } from '../reference/spark/model';
import { Tensor } from '../reference/spark/tape';
import { type CellMask, explicitMask, randomMask, visibleCellCounts } from '../sparse/mask';
import { Rng } from '../util/random';
import {
  type BackboneConfig,
  SPARK_DEFAULTS,
  type SparkConfig,
  totalStride,
  validateSparkConfig,
} from './config';
import { runGpuOnFixture } from './parity-gpu';
import { randomSparkState, referenceFixture } from './reference-fixture';
import { createSparkModel, type SparkGpuModel } from './spark-model';

function spark(
  backbone: BackboneConfig,
  o: Partial<SparkConfig> & { inputSize: number; decoderWidth: number },
): SparkConfig {
  return validateSparkConfig({
    maskRatio: 0.6,
    densifyNorm: backbone.family === 'resnet' ? 'bn' : 'ln',
    ...SPARK_DEFAULTS,
    backbone,
    ...o,
  });
}

/**
 * Eval, train (features, grads, BN buffers) and one LAMB step vs the reference; on `cells` when given (any
 * count per image), in a model built for `buildBatch` images when given.
 */
async function expectParity(
  config: SparkConfig,
  batch: number,
  seed: number,
  o: { cells?: Uint8Array; buildBatch?: number } = {},
): Promise<void> {
  const gpu = await testGpu();
  const fixture = referenceFixture(config, { batch, seed, cells: o.cells });
  const report = compareWithFixture(
    fixture,
    await runGpuOnFixture(gpu, fixture, { buildBatch: o.buildBatch }),
  );
  const bad = report.comparisons
    .filter((c) => !c.ok)
    .map((c) => `${c.name} rel ${c.relError.toExponential(2)}${c.message ? ` (${c.message})` : ''}`);
  expect(bad).toEqual([]);
}

/**
 * Whichever parity test runs first in a worker compiles most of the model's pipelines (well over a minute on
 * a busy two-core SwiftShader machine); a filtered run (-t) may make it one of these.
 */
const COMPILING_TIMEOUT_MS = 300_000;

const resnet = (o: Partial<Extract<BackboneConfig, { family: 'resnet' }>>): BackboneConfig => ({
  family: 'resnet',
  block: 'basic',
  stemWidth: 4,
  stemKernel: 3,
  stemStride: 2,
  maxpool: false,
  widths: [4, 8],
  depths: [1, 1],
  stageStrides: [1, 2],
  ...o,
});

describe('GPU SparK model vs the float64 reference on other configurations', () => {
  it('ResNet basic, total stride 4, 3×3 mask grid (S=12), batch 2', async () => {
    await expectParity(spark(resnet({}), { inputSize: 12, decoderWidth: 8, maskRatio: 0.5 }), 2, 1);
  });

  it('ResNet bottleneck with 7×7 stem and max-pool, stride 16, 3×3 grid (S=48), ratio 0.75', async () => {
    const b = resnet({
      block: 'bottleneck',
      stemKernel: 7,
      maxpool: true,
      widths: [2, 4],
      stageStrides: [2, 2],
    });
    await expectParity(spark(b, { inputSize: 48, decoderWidth: 16, maskRatio: 0.75 }), 2, 2);
  });

  it('ResNet with more feature maps than decoder blocks (stride 8, 4 stages): the finest scale is unused', async () => {
    const b = resnet({
      stemStride: 1,
      widths: [3, 4, 5, 6],
      depths: [2, 1, 1, 1],
      stageStrides: [1, 2, 2, 2],
    });
    await expectParity(spark(b, { inputSize: 40, decoderWidth: 8 }), 1, 3);
  });

  it('ResNet stride 32 with fewer feature maps than decoder blocks, 2×2 grid (S=64), batch 3', async () => {
    const b = resnet({ stemStride: 4, maxpool: true, widths: [4, 6], stageStrides: [2, 2] });
    await expectParity(spark(b, { inputSize: 64, decoderWidth: 32, maskRatio: 0.5 }), 3, 4);
  });

  it('ConvNeXt whose last width equals the decoder width (identity projection), 3×3 grid (S=24)', async () => {
    const b: BackboneConfig = { family: 'convnext', dims: [4, 8], depths: [1, 2] };
    await expectParity(spark(b, { inputSize: 24, decoderWidth: 8 }), 2, 5);
  });

  it('ablations: decoder fed the coarsest scale only, zero mask tokens, raw target, loss on all patches', async () => {
    const config = spark(resnet({}), {
      inputSize: 20,
      decoderWidth: 8,
      decoderInputs: 'coarsest',
      maskToken: 'zeros',
      lossTarget: 'raw',
      lossOn: 'all',
    });
    await expectParity(config, 2, 6);
  });

  it('no densify norm (Identity, as the official code for other backbones), ConvNeXt, 2×2 grid', async () => {
    const b: BackboneConfig = { family: 'convnext', dims: [4, 6], depths: [1, 1] };
    await expectParity(
      spark(b, { inputSize: 16, decoderWidth: 8, densifyNorm: 'none', maskRatio: 0.5 }),
      2,
      9,
    );
  });

  it("dense-zero encoder (the paper's Figure-1 baseline): ResNet with max-pool, stride 8, 3×3 grid", async () => {
    const b = resnet({ maxpool: true, widths: [4, 6], stageStrides: [1, 2] });
    await expectParity(spark(b, { inputSize: 24, decoderWidth: 8, encoder: 'dense-zero' }), 2, 7);
  });

  it('dense-zero encoder: ConvNeXt (LN over every position), 2×2 grid', async () => {
    const b: BackboneConfig = { family: 'convnext', dims: [4, 6], depths: [1, 1] };
    await expectParity(
      spark(b, { inputSize: 16, decoderWidth: 8, encoder: 'dense-zero', maskRatio: 0.5 }),
      2,
      8,
    );
  });

  it(
    'decoder widths by the official floor rule: 12 at stride 8 (channels 12, 6, 3, 1; deepest block 1)',
    async () => {
      const b = resnet({ maxpool: true, widths: [4, 6], stageStrides: [1, 2] });
      await expectParity(spark(b, { inputSize: 24, decoderWidth: 12 }), 2, 10);
    },
    COMPILING_TIMEOUT_MS,
  );

  it(
    'odd decoder widths: 11 at stride 4 (channels 11, 5, 2; deepest 2), ConvNeXt 9 at stride 8 (9, 4, 2, 1)',
    async () => {
      await expectParity(spark(resnet({}), { inputSize: 12, decoderWidth: 11 }), 2, 11);
      const c: BackboneConfig = { family: 'convnext', dims: [4, 6], depths: [1, 1] };
      await expectParity(spark(c, { inputSize: 16, decoderWidth: 9, maskRatio: 0.5 }), 2, 12);
    },
    COMPILING_TIMEOUT_MS,
  );

  it('random small ResNets (fast-check): blocks, stems, max-pool, depths, grids 2–5, mask ratios', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          block: fc.constantFrom('basic' as const, 'bottleneck' as const),
          stemStride: fc.constantFrom(1, 2),
          maxpool: fc.boolean(),
          stages: fc.integer({ min: 1, max: 3 }),
          depth: fc.integer({ min: 1, max: 2 }),
          grid: fc.integer({ min: 2, max: 5 }),
          ratio: fc.constantFrom(0.25, 0.5, 0.6, 0.75),
          seed: fc.integer({ min: 1, max: 1000 }),
        }),
        async (o) => {
          const widths = [3, 5, 6].slice(0, o.stages);
          const b = resnet({
            block: o.block,
            stemStride: o.stemStride,
            maxpool: o.maxpool,
            widths,
            depths: widths.map(() => o.depth),
            stageStrides: widths.map((_, i) => (i === 0 ? 1 : 2)),
          });
          const r = totalStride(b);
          fc.pre(r >= 2);
          const grid = r >= 8 ? Math.min(o.grid, 3) : o.grid;
          await expectParity(
            spark(b, { inputSize: grid * r, decoderWidth: 2 ** Math.log2(r) * 2, maskRatio: o.ratio }),
            2,
            o.seed,
          );
        },
      ),
      { numRuns: 3, seed: 20261126 },
    );
  });
});

/** A [batch, g, g] mask whose image b keeps counts[b] cells, at positions drawn from the seed. */
function maskWithCounts(grid: number, counts: number[], seed: number): CellMask {
  const rng = new Rng(seed);
  const per = grid * grid;
  const cells = new Uint8Array(counts.length * per);
  counts.forEach((count, b) => {
    const order = Array.from({ length: per }, (_, i) => i);
    for (let i = 0; i < count; i++) {
      const j = i + rng.int(per - i);
      [order[i], order[j]] = [order[j], order[i]];
      cells[b * per + order[i]] = 1;
    }
  });
  return explicitMask(counts.length, grid, grid, cells);
}

async function evalSnapshot(gpu: Gpu, model: SparkGpuModel) {
  await gpu.checked('eval', async () => {
    gpu.submit('eval', (pass) => model.encodeEval(pass));
    await gpu.idle();
  });
  return model.readSnapshot();
}

describe('GPU SparK model on any mask and any batch up to the built one (vs the float64 reference)', () => {
  it(
    'ResNet (sparse BN in encoder and densify), 3×3 grid, batch 3 keeping 1, 3 and 9 cells',
    async () => {
      const config = spark(resnet({}), { inputSize: 12, decoderWidth: 8 });
      const mask = maskWithCounts(3, [1, 3, 9], 11);
      expect(visibleCellCounts(mask)).toEqual([1, 3, 9]);
      await expectParity(config, 3, 21, { cells: mask.cells });
    },
    COMPILING_TIMEOUT_MS,
  );

  it(
    'ConvNeXt (sparse LN) built for batch 4, run at batch 3 keeping 1, 2 and 4 of 2×2 cells',
    async () => {
      const b: BackboneConfig = { family: 'convnext', dims: [4, 6], depths: [1, 1] };
      const config = spark(b, { inputSize: 16, decoderWidth: 8 });
      await expectParity(config, 3, 22, { cells: maskWithCounts(2, [1, 2, 4], 12).cells, buildBatch: 4 });
    },
    COMPILING_TIMEOUT_MS,
  );

  it(
    'dense-zero ResNet with max-pool, batch 2 keeping 1 and all of 3×3 cells',
    async () => {
      const b = resnet({ maxpool: true, widths: [4, 6], stageStrides: [1, 2] });
      const config = spark(b, { inputSize: 24, decoderWidth: 8, encoder: 'dense-zero' });
      await expectParity(config, 2, 23, { cells: maskWithCounts(3, [1, 9], 13).cells });
    },
    COMPILING_TIMEOUT_MS,
  );

  it(
    'one model built for batch 4 through batches 4, 3, 1 (a single visible cell) and 4 again: eval equals the reference each time, no buffer made per mask',
    async () => {
      const gpu = await testGpu();
      const config = spark(resnet({}), { inputSize: 12, decoderWidth: 8 });
      const S = config.inputSize;
      const grid = S / totalStride(config.backbone);
      const state = randomSparkState(config, 31);
      const reference = new SparkReference(config, state);
      const model = createSparkModel(gpu, config, 4, { label: 'masks-reuse' });
      try {
        model.loadState(state);
        const lossBuffer = model.loss.buffer;
        let live: number | undefined;
        const masks = [
          randomMask(4, grid, grid, config.maskRatio, 1),
          maskWithCounts(grid, [9, 1, 4], 2),
          maskWithCounts(grid, [1], 3),
          randomMask(4, grid, grid, config.maskRatio, 4),
        ];
        for (const [i, mask] of masks.entries()) {
          const images = new Rng(40 + i).normals(mask.batch * 3 * S * S);
          model.setBatch(images, mask);
          expect(model.activeBatch).toBe(mask.batch);
          const got = await evalSnapshot(gpu, model);
          const want = reference.evaluate(
            new Tensor([mask.batch, 3, S, S], Float64Array.from(images)),
            mask.cells,
          );
          const label = `mask ${i} (batch ${mask.batch}, visible ${visibleCellCounts(mask)})`;
          assertClose([got.loss], [want.loss], { rtol: 1e-4, atol: 1e-6, label: `${label} loss` });
          assertClose(got.masked, want.masked, { rtol: 1e-3, atol: 0, label: `${label} masked` });
          assertClose(got.composite, want.recOrInp, { rtol: 1e-3, atol: 0, label: `${label} composite` });
          expect(got.active[0].map.length).toBe(mask.batch * (S / 2) ** 2);
          // No more live buffers after any rebuild than after the first build: activations, site maps and the
          // loss are reused (a graph that cannot train has fewer dispatches, hence fewer uniform buffers).
          live ??= gpu.liveBuffers().count;
          expect(gpu.liveBuffers().count, label).toBeLessThanOrEqual(live);
          if (mask.batch === 4) expect(gpu.liveBuffers().count, label).toBe(live);
          expect(model.loss.buffer).toBe(lossBuffer);
        }
        // A single visible cell in a batch of one evaluates (above) but cannot train its BatchNorms.
        model.setBatch(new Float32Array(3 * S * S), maskWithCounts(grid, [1], 5));
        expect(() => model.encodeTrainForward({} as GPUComputePassEncoder)).toThrow(
          /single value per channel/,
        );
        // A batch larger than the built one is refused with a sentence and changes nothing.
        expect(() =>
          model.setBatch(new Float32Array(5 * 3 * S * S), randomMask(5, grid, grid, 0.6, 6)),
        ).toThrow(/covers 5 images; this model was built for batches of 1 to 4/);
        expect(model.activeBatch).toBe(1);
      } finally {
        model.destroy();
      }
    },
    COMPILING_TIMEOUT_MS,
  );
});
