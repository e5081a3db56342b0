/**
 * Typed model configurations: the backbone (ResNet with timm names or the official ConvNeXt), the SparK
 * head (densify + LightDecoder) and the ablation switches. Everything a model builder needs is derivable
 * from a `SparkConfig`; `validateSparkConfig` explains in sentences why a configuration cannot work.
 */
import { lenKeep } from '../sparse/mask';

export type ResNetBlock = 'basic' | 'bottleneck';

export interface ResNetConfig {
  family: 'resnet';
  block: ResNetBlock;
  /** Stem conv: 3 → stemWidth channels, kernel stemKernel, stride stemStride, padding ⌊k/2⌋, no bias. */
  stemWidth: number;
  stemKernel: number;
  stemStride: number;
  /** 3×3/s2/p1 max-pool after the stem. */
  maxpool: boolean;
  /** Per stage: planes (outputs are 4× planes for bottleneck blocks), block count, first-block stride. */
  widths: number[];
  depths: number[];
  stageStrides: number[];
}

export interface ConvNeXtConfig {
  family: 'convnext';
  dims: number[];
  depths: number[];
}

export type BackboneConfig = ResNetConfig | ConvNeXtConfig;

export type EncoderMode = 'sparse' | 'dense-masked' | 'dense-zero';
export const ENCODER_MODES: readonly EncoderMode[] = ['sparse', 'dense-masked', 'dense-zero'];
export type DensifyNorm = 'bn' | 'ln' | 'none';

export interface SparkConfig {
  inputSize: number;
  maskRatio: number;
  /** LightDecoder width (channels of the first block; ⌊width / 2^i⌋ in block i, as the official code). */
  decoderWidth: number;
  backbone: BackboneConfig;
  /** 'bn' for ResNet and 'ln' for ConvNeXt in the official code. */
  densifyNorm: DensifyNorm;
  /**
   * 'sparse': gathered encoder on the visible rows (SparK). 'dense-masked': the official computation — dense
   * convs on the full grid re-masked after every layer, BN statistics over visible positions — the same
   * numbers at visible sites, at a dense network's cost (the speed baseline). 'dense-zero': zero-outing, dense
   * convs and BN on the zero-filled image (the paper's ablation).
   */
  encoder: EncoderMode;
  /** 'all': every scale feeds its decoder block (SparK). 'coarsest': only the stride-r feature. */
  decoderInputs: 'all' | 'coarsest';
  /** 'learned': mask_tokens.{i} parameters fill masked sites. 'zeros': masked sites are 0, no parameters. */
  maskToken: 'learned' | 'zeros';
  /** 'patch-norm': target normalised per patch by its mean and std (SparK). 'raw': the input pixels. */
  lossTarget: 'patch-norm' | 'raw';
  /** 'masked': average over masked patches (SparK). 'all': over every patch. */
  lossOn: 'masked' | 'all';
  /**
   * Stochastic depth of the encoder's residual blocks, training only (./drop-path.ts): the last block's
   * rate, rising linearly from 0 at the first. Absent or 0: none (the small presets). The official
   * pre-training uses 0.05–0.4 by architecture (./presets.ts OFFICIAL_PRESETS).
   */
  dropPathRate?: number;
}

export const SPARK_DEFAULTS = {
  encoder: 'sparse',
  decoderInputs: 'all',
  maskToken: 'learned',
  lossTarget: 'patch-norm',
  lossOn: 'masked',
} as const satisfies Partial<SparkConfig>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Channels of the feature maps, largest resolution first. */
export function featureChannels(backbone: BackboneConfig): number[] {
  if (backbone.family === 'convnext') return [...backbone.dims];
  const expansion = backbone.block === 'bottleneck' ? 4 : 1;
  return backbone.widths.map((w) => w * expansion);
}

/** Stride of each feature map relative to the input, largest resolution first. */
export function featureStrides(backbone: BackboneConfig): number[] {
  if (backbone.family === 'convnext') return backbone.dims.map((_, i) => 4 * 2 ** i);
  let stride = backbone.stemStride * (backbone.maxpool ? 2 : 1);
  return backbone.stageStrides.map((s) => (stride *= s));
}

/** The total stride r = mask cell side = patch side of the loss. */
export function totalStride(backbone: BackboneConfig): number {
  const strides = featureStrides(backbone);
  return strides[strides.length - 1];
}

/** log2(r) UNet blocks, each ×2. */
export function decoderBlockCount(config: SparkConfig): number {
  return Math.round(Math.log2(totalStride(config.backbone)));
}

/** Decoder channels: width / 2^i for i = 0..blocks (the last one feeds the 1×1 output projection). */
export function decoderChannels(config: SparkConfig): number[] {
  return Array.from({ length: decoderBlockCount(config) + 1 }, (_, i) =>
    Math.floor(config.decoderWidth / 2 ** i),
  );
}

/** Mask grid side (cells per row/column). */
export function gridSize(config: SparkConfig): number {
  return config.inputSize / totalStride(config.backbone);
}

/** Encoder feature channels smallest resolution first: scale i of the densify stage. */
export function densifyInputChannels(config: SparkConfig): number[] {
  return featureChannels(config.backbone).reverse();
}

/** Whether scale i's densify projection is the identity (official: i = 0 and e_0 = decoder width). */
export function densifyProjIsIdentity(config: SparkConfig, scale: number): boolean {
  return scale === 0 && densifyInputChannels(config)[0] === config.decoderWidth;
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

/**
 * Throws a ConfigError with a sentence naming the first problem; returns the config otherwise. Configurations
 * also come from files (checkpoint metadata), so a value of the wrong shape (a null backbone, a number where
 * a list belongs) is a ConfigError too, never a TypeError.
 */
export function validateSparkConfig(config: SparkConfig): SparkConfig {
  try {
    return validateConfigFields(config);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`The model configuration is malformed (${(error as Error).message}).`);
  }
}

function validateConfigFields(config: SparkConfig): SparkConfig {
  const b = config.backbone;
  const fail = (message: string): never => {
    throw new ConfigError(message);
  };
  if (!isPositiveInt(config.inputSize))
    fail(`The input size must be a positive integer, got ${config.inputSize}.`);
  if (!isPositiveInt(config.decoderWidth))
    fail(`The decoder width must be a positive integer, got ${config.decoderWidth}.`);
  if (!(config.maskRatio >= 0 && config.maskRatio < 1))
    fail(`The mask ratio must be in [0, 1), got ${config.maskRatio}.`);
  if (b.family === 'resnet') {
    if (b.block !== 'basic' && b.block !== 'bottleneck')
      fail(`The ResNet block must be 'basic' or 'bottleneck', got '${b.block}'.`);
    for (const [name, v] of [
      ['stem width', b.stemWidth],
      ['stem kernel', b.stemKernel],
      ['stem stride', b.stemStride],
    ] as const)
      if (!isPositiveInt(v)) fail(`The ResNet ${name} must be a positive integer, got ${v}.`);
    if (b.stemKernel % 2 === 0)
      fail(`The ResNet stem kernel must be odd (padding is kernel/2), got ${b.stemKernel}.`);
    const n = b.widths.length;
    if (n === 0) fail('The ResNet needs at least one stage.');
    if (b.depths.length !== n || b.stageStrides.length !== n)
      fail(
        `The ResNet stage lists must have the same length: ${n} widths, ${b.depths.length} depths, ${b.stageStrides.length} strides.`,
      );
    b.widths.forEach((w, i) => {
      if (!isPositiveInt(w)) fail(`ResNet stage ${i + 1} width must be a positive integer, got ${w}.`);
      if (!isPositiveInt(b.depths[i]))
        fail(`ResNet stage ${i + 1} needs at least one block, got ${b.depths[i]}.`);
      const s = b.stageStrides[i];
      if (i === 0 ? s !== 1 && s !== 2 : s !== 2)
        fail(
          i === 0
            ? `ResNet stage 1 stride must be 1 or 2, got ${s}.`
            : `ResNet stage ${i + 1} stride must be 2 (each feature map halves the previous one for the decoder), got ${s}.`,
        );
    });
    if (b.stemStride !== 1 && b.stemStride !== 2 && b.stemStride !== 4)
      fail(`The ResNet stem stride must be 1, 2 or 4, got ${b.stemStride}.`);
  } else if (b.family === 'convnext') {
    if (b.dims.length === 0) fail('The ConvNeXt needs at least one stage (dims is empty).');
    if (b.depths.length !== b.dims.length)
      fail(
        `The ConvNeXt has ${b.dims.length} dims but ${b.depths.length} depths; give one of each per stage.`,
      );
    b.dims.forEach((d, i) => {
      if (!isPositiveInt(d)) fail(`ConvNeXt stage ${i} width must be a positive integer, got ${d}.`);
      if (!isPositiveInt(b.depths[i]))
        fail(`ConvNeXt stage ${i} needs at least one block, got ${b.depths[i]}.`);
    });
  } else {
    fail(`Unknown backbone family '${(b as { family: string }).family}'; use 'resnet' or 'convnext'.`);
  }
  // Each check below is one the official code also makes, or a failure it would hit later; docs/ENGINE.md
  // ("Masks, batch sizes and restrictions") lists them with the official behaviour.
  const r = totalStride(b);
  // LightDecoder asserts is_pow2n(r); with r = 1 it has no block and its forward fails.
  if (!(Number.isInteger(r) && r >= 2 && (r & (r - 1)) === 0))
    fail(`The encoder's total stride must be a power of two of at least 2, got ${r}.`);
  if (config.inputSize % r !== 0)
    fail(
      `The image size ${config.inputSize} is not divisible by the encoder's total stride ${r}; use a multiple of ${r}.`,
    );
  // The official channels are width // 2**i (floor): any width works while the deepest block keeps a channel.
  const blocks = decoderBlockCount(config);
  if (Math.floor(config.decoderWidth / 2 ** blocks) < 1)
    fail(
      `The decoder width ${config.decoderWidth} is too small for its ${blocks} blocks: channels halve (rounding down) in each, so the last would have none; use a width of at least ${2 ** blocks}.`,
    );
  const grid = config.inputSize / r;
  try {
    lenKeep(grid, grid, config.maskRatio);
  } catch (error) {
    fail(
      `With image size ${config.inputSize} and total stride ${r} the mask grid is ${grid}×${grid}: ${(error as Error).message}`,
    );
  }
  if (!['bn', 'ln', 'none'].includes(config.densifyNorm))
    fail(`The densify norm must be 'bn', 'ln' or 'none', got '${config.densifyNorm}'.`);
  if (!ENCODER_MODES.includes(config.encoder))
    fail(`The encoder mode must be 'sparse', 'dense-masked' or 'dense-zero', got '${config.encoder}'.`);
  if (config.decoderInputs !== 'all' && config.decoderInputs !== 'coarsest')
    fail(`The decoder inputs must be 'all' or 'coarsest', got '${config.decoderInputs}'.`);
  if (config.maskToken !== 'learned' && config.maskToken !== 'zeros')
    fail(`The mask token must be 'learned' or 'zeros', got '${config.maskToken}'.`);
  if (config.lossTarget !== 'patch-norm' && config.lossTarget !== 'raw')
    fail(`The loss target must be 'patch-norm' or 'raw', got '${config.lossTarget}'.`);
  if (config.lossOn !== 'masked' && config.lossOn !== 'all')
    fail(`The loss must be on 'masked' or 'all' patches, got '${config.lossOn}'.`);
  const dropPath = config.dropPathRate ?? 0;
  if (typeof dropPath !== 'number' || !(dropPath >= 0 && dropPath < 1))
    fail(`The drop-path rate must be a number in [0, 1) (0 = off), got ${config.dropPathRate}.`);
  return config;
}

/** LAMB settings of a fixture (the official recipe's optimiser; eps 1e-6). */
export interface LambConfig {
  lr: number;
  weightDecay: number;
  betas: [number, number];
  maxGradNorm: number;
  eps: number;
}

export interface FixtureConfig {
  spark: SparkConfig;
  batch: number;
  seed: number;
  lamb: LambConfig;
}

function asNumberList(value: unknown, what: string): number[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'number'))
    throw new ConfigError(
      `The fixture config's ${what} must be a list of numbers, got ${JSON.stringify(value)}.`,
    );
  return value as number[];
}

/**
 * Parses the `config` metadata JSON of a parity fixture (format in the fixture README). `inferConvNeXtDims`
 * supplies ConvNeXt widths when the JSON leaves `dims` empty (the official fixtures do: the widths are in the
 * weights' shapes).
 */
export function parseFixtureConfig(json: string, inferConvNeXtDims?: () => number[]): FixtureConfig {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(json);
  } catch (error) {
    throw new ConfigError(`The fixture's config metadata is not valid JSON (${(error as Error).message}).`);
  }
  const bb = raw.backbone as Record<string, unknown> | undefined;
  if (!bb || typeof bb !== 'object') throw new ConfigError('The fixture config has no "backbone" object.');
  let backbone: BackboneConfig;
  if (bb.family === 'resnet') {
    backbone = {
      family: 'resnet',
      block: bb.block as ResNetBlock,
      stemWidth: bb.stem_width as number,
      stemKernel: bb.stem_kernel as number,
      stemStride: bb.stem_stride as number,
      maxpool: Boolean(bb.maxpool),
      widths: asNumberList(bb.widths, 'backbone.widths'),
      depths: asNumberList(bb.depths, 'backbone.depths'),
      stageStrides: asNumberList(bb.stage_strides, 'backbone.stage_strides'),
    };
  } else if (bb.family === 'convnext') {
    let dims = asNumberList(bb.dims ?? [], 'backbone.dims');
    if (dims.length === 0 && inferConvNeXtDims) dims = inferConvNeXtDims();
    backbone = { family: 'convnext', dims, depths: asNumberList(bb.depths, 'backbone.depths') };
  } else {
    throw new ConfigError(
      `The fixture's backbone family ${JSON.stringify(bb.family)} is not 'resnet' or 'convnext'.`,
    );
  }
  const lamb = (raw.lamb ?? {}) as Record<string, unknown>;
  const betas = asNumberList(lamb.betas ?? [0.9, 0.999], 'lamb.betas');
  const spark = validateSparkConfig({
    inputSize: raw.input_size as number,
    maskRatio: raw.mask_ratio as number,
    decoderWidth: raw.decoder_width as number,
    backbone,
    densifyNorm: backbone.family === 'resnet' ? 'bn' : 'ln',
    ...SPARK_DEFAULTS,
  });
  const batch = raw.batch as number;
  if (!isPositiveInt(batch))
    throw new ConfigError(`The fixture's batch must be a positive integer, got ${batch}.`);
  return {
    spark,
    batch,
    seed: (raw.seed as number) ?? 0,
    lamb: {
      lr: lamb.lr as number,
      weightDecay: lamb.weight_decay as number,
      betas: [betas[0], betas[1]],
      maxGradNorm: lamb.max_grad_norm as number,
      eps: 1e-6,
    },
  };
}
