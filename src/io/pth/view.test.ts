/**
 * Opening checkpoints of other architectures for viewing: the configuration inferred for every official
 * manifest (from its names and shapes alone), small non-preset ResNet and ConvNeXt `.pth` files opened
 * and evaluated with the loss of the model they came from (in an evaluation-only model whose weights are
 * split over several buffers), and the sentence refusing a model over the limits.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testGpu } from '../../../tests/gpu';
import { checkViewingFit, viewCheckpoint } from '../../models/checkpoint-view';
import {
  type BackboneConfig,
  SPARK_DEFAULTS,
  type SparkConfig,
  totalStride,
  validateSparkConfig,
} from '../../models/config';
import { ENCODER_PREFIX, encoderState } from '../../models/official-names';
import { type OfficialPresetName, officialPreset, preset } from '../../models/presets';
import { randomSparkState } from '../../models/reference-fixture';
import { createSparkModel } from '../../models/spark-model';
import { randomMask } from '../../sparse/mask';
import { Rng } from '../../util/random';
import { inferConfig } from './infer';
import { configOfShapes } from './official-read';
import { readPthBytes } from './read';
import { flatStatePth } from './view-fixture';
import { describeOpened, openForViewing } from './view-open';
import { looksLikePth, readPthWeights } from './weights';

const MANIFESTS = join(__dirname, '../../../tests/fixtures/official-manifests');

interface Manifest {
  arch: string;
  input_size: number;
  module: [string, number[], string][];
}

function backboneOf(config: SparkConfig) {
  return {
    backbone: config.backbone,
    decoderWidth: config.decoderWidth,
    densifyNorm: config.densifyNorm,
    inputSize: config.inputSize,
  };
}

describe('architecture of a checkpoint from its tensor names and shapes', () => {
  for (const file of readdirSync(MANIFESTS).filter((f) => f.endsWith('.json'))) {
    const name = file.replace('.json', '') as OfficialPresetName;
    it(`${name}: inferred from the manifest alone (full and encoder-only) equals the official architecture`, () => {
      const manifest = JSON.parse(readFileSync(join(MANIFESTS, file), 'utf8')) as Manifest;
      const shapes = new Map(manifest.module.map(([n, s]) => [n, s]));
      const want = backboneOf(officialPreset(name));
      // The pure inference, without the preset list, and the matcher the reader uses.
      expect(backboneOf(inferConfig(shapes, manifest.input_size) as SparkConfig)).toEqual(want);
      expect(backboneOf(configOfShapes(shapes, manifest.input_size)?.config as SparkConfig)).toEqual(want);
      // The published encoder files: timm names (no prefix), no decoder; the width defaults to 768.
      const encoder = new Map(
        manifest.module
          .filter(([n]) => n.startsWith(ENCODER_PREFIX))
          .map(([n, s]) => [n, s] as [string, number[]]),
      );
      const found = configOfShapes(encoder, manifest.input_size, true);
      expect(found && backboneOf(found.config)).toEqual(want);
    });
  }
});

const spark = (backbone: BackboneConfig, o: Partial<SparkConfig> = {}): SparkConfig =>
  validateSparkConfig({
    ...SPARK_DEFAULTS,
    maskRatio: 0.6,
    inputSize: 32,
    decoderWidth: 12,
    densifyNorm: backbone.family === 'resnet' ? 'bn' : 'ln',
    backbone,
    ...o,
  });

describe('viewing a checkpoint of a non-preset architecture', () => {
  const cases: [string, SparkConfig][] = [
    [
      'ResNet bottleneck 2-1, 5×5 stem without max-pool',
      spark({
        family: 'resnet',
        block: 'bottleneck',
        stemWidth: 6,
        stemKernel: 5,
        stemStride: 2,
        maxpool: false,
        widths: [3, 5],
        depths: [2, 1],
        stageStrides: [1, 2],
      }),
    ],
    ['ConvNeXt dims 6-10, depths 1-2', spark({ family: 'convnext', dims: [6, 10], depths: [1, 2] })],
  ];
  for (const [label, config] of cases)
    it(`${label}: the .pth opens as that architecture and evaluates to the loss of the model it came from`, async () => {
      const gpu = await testGpu();
      const state = randomSparkState(config, 4);
      const values = new Map([...state].map(([k, v]) => [k, Float32Array.from(v)]));
      const archive = await readPthBytes(flatStatePth(config, values), 'custom.pth');
      const progress: number[] = [];
      const opened = await openForViewing(archive, { onProgress: (read) => progress.push(read) });
      expect(opened.kind).toBe('flat');
      expect(backboneOf(opened.config)).toEqual(backboneOf(config));
      expect(opened.warnings.join(' ')).toMatch(/inferred from the tensor names and shapes/);
      expect(describeOpened(opened)).toMatch(
        config.backbone.family === 'resnet' ? /ResNet \(bottleneck/ : /ConvNeXt/,
      );
      expect(progress.length).toBeGreaterThan(0);

      const S = config.inputSize;
      const grid = S / totalStride(config.backbone);
      const images = new Rng(8).normals(3 * 3 * S * S);
      // The model it came from, built for training, evaluated on the same images and masks (batches of 2).
      const source = createSparkModel(gpu, config, 2, { label: 'source' });
      let want = 0;
      try {
        source.loadState(state);
        for (const [start, n] of [
          [0, 2],
          [2, 1],
        ]) {
          source.setBatch(
            images.subarray(start * 3 * S * S, (start + n) * 3 * S * S),
            randomMask(n, grid, grid, 0.6, 5 + start),
          );
          gpu.submit('source eval', (pass) => source.encodeEval(pass));
          want += (await gpu.read(source.loss))[0] / 2;
        }
      } finally {
        source.destroy();
      }
      // Buffers of 32 KiB force the weights over several buffers.
      const view = await viewCheckpoint(gpu, opened.config, opened.state, images, {
        seed: 5,
        batch: 2,
        splitBytes: 32 * 1024,
      });
      expect(view.parameterBuffers).toBeGreaterThan(1);
      expect(view.loss).toBe(want);
      expect(view.composite.length).toBe(images.length);
    }, 300_000);

  it('an evaluation-only model refuses to train and has no gradients', async () => {
    const gpu = await testGpu();
    const config = cases[0][1];
    const model = createSparkModel(gpu, config, 2, { evalOnly: true, maxBufferBytes: 64 * 1024 });
    try {
      expect(() => model.encodeTrainForward({} as GPUComputePassEncoder)).toThrow(/opened for viewing only/);
      await expect(model.readGrads()).rejects.toThrow(/no gradients/);
    } finally {
      model.destroy();
    }
  });

  it('refuses a model over the limits with a sentence saying what fits', () => {
    const large = officialPreset('convnext_large-224');
    expect(() => checkViewingFit(large, 1, { bindingBytes: 2 ** 30, budgetBytes: 512e6 })).toThrow(
      /ConvNeXt \(dims 192-384-768-1536, depths 3-3-27-3\) with \d+\.\d M parameters, needs \d+ MB of weights; viewing allows 512 MB, so models up to about 128 M parameters fit \(of the official architectures: resnet50-224, resnet101-224, resnet152-224, resnet200-224, convnext_small-224, convnext_base-224\)/,
    );
    // Within the budget it is the binding limit that refuses: one tensor larger than a buffer.
    expect(() => checkViewingFit(large, 1, { bindingBytes: 1e6 })).toThrow(
      /One weight tensor of this model needs \d+ MB, more than this GPU binds at once \(1 MB\)/,
    );
    // Every official architecture fits the default budget.
    expect(() => checkViewingFit(large, 1, { bindingBytes: 2 ** 30 })).not.toThrow();
  });
});

describe("a .pth as weights by name (the probe's --checkpoint and --init)", () => {
  it('an official timm-style encoder file gives exactly the encoder of its architecture under the official prefix', async () => {
    const bytes = new Uint8Array(
      readFileSync(join(__dirname, '../../../tests/fixtures/pth/encoder-timm-tiny.pth')),
    );
    expect(looksLikePth(bytes)).toBe(true);
    const weights = await readPthWeights(bytes, 'encoder-timm-tiny.pth');
    const tiny = encoderState(preset('tiny'));
    expect([...weights.keys()].sort()).toEqual(tiny.map((e) => e.name).sort());
    for (const e of tiny) expect(weights.get(e.name)?.length).toBe(e.shape.reduce((a, b) => a * b, 1));
    expect(looksLikePth(new TextEncoder().encode('{"__metadata__":'))).toBe(false);
  });
});
