/**
 * "Fixtures of other configurations also pass": the GPU model against the float64 reference (which passes
 * the four official fixtures) on configurations the official files do not cover, with random weights, in the
 * official fixture format and tolerances (tensors 1e-3 of their max, losses 1e-4, LAMB on the update).
 * Shapes are tiny because SwiftShader runs them on two CPU cores; the model code has no size special cases.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import { compareWithFixture } from '../io/parity';
import {
  type BackboneConfig,
  SPARK_DEFAULTS,
  type SparkConfig,
  totalStride,
  validateSparkConfig,
} from './config';
import { runGpuOnFixture } from './parity-gpu';
import { referenceFixture } from './reference-fixture';

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

async function expectParity(config: SparkConfig, batch: number, seed: number): Promise<void> {
  const gpu = await testGpu();
  const fixture = referenceFixture(config, { batch, seed });
  const report = compareWithFixture(fixture, await runGpuOnFixture(gpu, fixture));
  const bad = report.comparisons
    .filter((c) => !c.ok)
    .map((c) => `${c.name} rel ${c.relError.toExponential(2)}${c.message ? ` (${c.message})` : ''}`);
  expect(bad).toEqual([]);
}

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
