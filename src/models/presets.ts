/**
 * Named configurations: the official ImageNet recipes (for checkpoints and parameter counts) and small
 * models whose total stride suits small images (spark-spec §9: keep a mask grid of at least 4×4 cells).
 */
import { SPARK_DEFAULTS, type SparkConfig, validateSparkConfig } from './config';

const official = { maskRatio: 0.6, ...SPARK_DEFAULTS } as const;

export const PRESETS = {
  /**
   * The smallest useful model: 32-px images (Fashion-MNIST padded, CIFAR), a stride-8 ResNet of one basic
   * block per stage, 4×4 mask grid, decoder width 32. Sized so that 300 steps finish on a laptop iGPU in
   * seconds and on a software adapter (SwiftShader) in minutes.
   */
  tiny: {
    ...official,
    inputSize: 32,
    decoderWidth: 32,
    densifyNorm: 'bn',
    backbone: {
      family: 'resnet',
      block: 'basic',
      stemWidth: 8,
      stemKernel: 3,
      stemStride: 1,
      maxpool: false,
      widths: [8, 16, 32],
      depths: [1, 1, 1],
      stageStrides: [2, 2, 2],
    },
  },
  /** Official SparK ResNet-50 at 224 px: stride 32, 7×7 grid, decoder width 768, drop path 0.05. */
  'resnet50-224': {
    ...official,
    inputSize: 224,
    decoderWidth: 768,
    densifyNorm: 'bn',
    dropPathRate: 0.05,
    backbone: {
      family: 'resnet',
      block: 'bottleneck',
      stemWidth: 64,
      stemKernel: 7,
      stemStride: 2,
      maxpool: true,
      widths: [64, 128, 256, 512],
      depths: [3, 4, 6, 3],
      stageStrides: [1, 2, 2, 2],
    },
  },
  /** Official SparK ConvNeXt-S at 224 px (its last width equals the decoder width: identity projection). */
  'convnext-s-224': {
    ...official,
    inputSize: 224,
    decoderWidth: 768,
    densifyNorm: 'ln',
    dropPathRate: 0.2,
    backbone: { family: 'convnext', dims: [96, 192, 384, 768], depths: [3, 3, 27, 3] },
  },
  /** 32-px images (CIFAR): ResNet-18-like basic blocks, stride 8, 4×4 grid (6 visible at 0.6). */
  'resnet-s8-32': {
    ...official,
    inputSize: 32,
    decoderWidth: 128,
    densifyNorm: 'bn',
    backbone: {
      family: 'resnet',
      block: 'basic',
      stemWidth: 32,
      stemKernel: 3,
      stemStride: 1,
      maxpool: false,
      widths: [32, 64, 128],
      depths: [2, 2, 2],
      stageStrides: [2, 2, 2],
    },
  },
  /** 64-px images (Tiny-ImageNet): basic blocks, stride 16, 4×4 grid. */
  'resnet-s16-64': {
    ...official,
    inputSize: 64,
    decoderWidth: 256,
    densifyNorm: 'bn',
    backbone: {
      family: 'resnet',
      block: 'basic',
      stemWidth: 32,
      stemKernel: 3,
      stemStride: 1,
      maxpool: false,
      widths: [32, 64, 128, 256],
      depths: [2, 2, 2, 2],
      stageStrides: [2, 2, 2, 2],
    },
  },
  /** 128-px images: ResNet-18 itself (7×7/s2 stem, max-pool, 2-2-2-2 basic blocks), stride 32 → 4×4 grid. */
  'resnet18-128': {
    ...official,
    inputSize: 128,
    decoderWidth: 256,
    densifyNorm: 'bn',
    backbone: {
      family: 'resnet',
      block: 'basic',
      stemWidth: 64,
      stemKernel: 7,
      stemStride: 2,
      maxpool: true,
      widths: [64, 128, 256, 512],
      depths: [2, 2, 2, 2],
      stageStrides: [1, 2, 2, 2],
    },
  },
  /** 128-px images: a ConvNeXt-atto-sized model (stride 32 → 4×4 grid). */
  'convnext-atto-128': {
    ...official,
    inputSize: 128,
    decoderWidth: 256,
    densifyNorm: 'ln',
    backbone: { family: 'convnext', dims: [40, 80, 160, 320], depths: [2, 2, 6, 2] },
  },
} as const satisfies Record<string, SparkConfig>;

export type PresetName = keyof typeof PRESETS;

/** A validated deep copy of a preset (callers may edit it). */
export function preset(name: PresetName): SparkConfig {
  const config = PRESETS[name];
  if (!config) throw new Error(`Unknown preset '${name}'; available: ${Object.keys(PRESETS).join(', ')}.`);
  return validateSparkConfig(structuredClone(config) as SparkConfig);
}

/** Training defaults per preset (what the CLI and the UI start from; every field can be overridden). */
export interface PresetTraining {
  batch: number;
  /** Peak learning rate of the warm-up + cosine schedule. */
  lr: number;
  optimizer: 'lamb' | 'adamw';
  steps: number;
}

/**
 * The official recipe scales lr as 2e-4 · batch / 256 for 1600 ImageNet epochs; runs of a few hundred steps
 * on small batches need a far larger step to get anywhere, so the small presets use larger peaks (LAMB's
 * trust ratio keeps each tensor's update at lr·‖p‖, which makes this safe). The 224-px presets keep the
 * official scaling.
 */
export const PRESET_TRAINING: Record<PresetName, PresetTraining> = {
  tiny: { batch: 4, lr: 2e-2, optimizer: 'lamb', steps: 300 },
  'resnet-s8-32': { batch: 32, lr: 1e-2, optimizer: 'lamb', steps: 2000 },
  'resnet-s16-64': { batch: 32, lr: 8e-3, optimizer: 'lamb', steps: 2000 },
  'resnet18-128': { batch: 32, lr: 5e-3, optimizer: 'lamb', steps: 5000 },
  'convnext-atto-128': { batch: 32, lr: 5e-3, optimizer: 'lamb', steps: 5000 },
  'resnet50-224': { batch: 64, lr: (2e-4 * 64) / 256, optimizer: 'lamb', steps: 10000 },
  'convnext-s-224': { batch: 64, lr: (2e-4 * 64) / 256, optimizer: 'lamb', steps: 10000 },
};

/**
 * The architectures the official SparK `main.py` pre-trains (its `--model` names, at the input size of
 * their manifests in ../shared/fixtures/official-manifests): decoder width 768, BatchNorm densify for
 * ResNets and LayerNorm for ConvNeXts, mask ratio 0.6, and the official code's default drop-path rate of
 * each architecture (0.05 / 0.08 / 0.10 / 0.15 for ResNet-50/101/152/200, 0.2 / 0.3 / 0.4 for ConvNeXt
 * S/B/L; ./drop-path.ts). The small presets above train without drop path. Kept apart from PRESETS (the playground's list):
 * these are for exporting to and opening from the official code, far beyond what a browser trains.
 */
const officialResnet = (depths: number[], dropPathRate: number): SparkConfig => ({
  ...PRESETS['resnet50-224'],
  dropPathRate,
  backbone: {
    ...PRESETS['resnet50-224'].backbone,
    widths: [64, 128, 256, 512],
    depths,
    stageStrides: [1, 2, 2, 2],
  },
});
const officialConvnext = (dims: number[], dropPathRate: number, inputSize = 224): SparkConfig => ({
  ...PRESETS['convnext-s-224'],
  inputSize,
  dropPathRate,
  backbone: { family: 'convnext', dims, depths: [3, 3, 27, 3] },
});

export const OFFICIAL_PRESETS = {
  'resnet50-224': officialResnet([3, 4, 6, 3], 0.05),
  'resnet101-224': officialResnet([3, 4, 23, 3], 0.08),
  'resnet152-224': officialResnet([3, 8, 36, 3], 0.1),
  'resnet200-224': officialResnet([3, 24, 36, 3], 0.15),
  'convnext_small-224': officialConvnext([96, 192, 384, 768], 0.2),
  'convnext_base-224': officialConvnext([128, 256, 512, 1024], 0.3),
  'convnext_large-224': officialConvnext([192, 384, 768, 1536], 0.4),
  'convnext_large-384': officialConvnext([192, 384, 768, 1536], 0.4, 384),
} as const satisfies Record<string, SparkConfig>;

export type OfficialPresetName = keyof typeof OFFICIAL_PRESETS;

/** A validated deep copy of an official-architecture configuration. */
export function officialPreset(name: OfficialPresetName): SparkConfig {
  const config = OFFICIAL_PRESETS[name];
  if (!config)
    throw new Error(
      `Unknown official architecture '${name}'; available: ${Object.keys(OFFICIAL_PRESETS).join(', ')}.`,
    );
  return validateSparkConfig(structuredClone(config) as SparkConfig);
}
