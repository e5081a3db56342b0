/**
 * Every model option of the presets as command-line flags and as a JSON file (--config), applied on top of a
 * preset: backbone widths/depths/strides (ResNet) or dims/depths (ConvNeXt), decoder width, and the five
 * ablations (encoder, decoder inputs, mask token, loss target, loss on). The result is validated by
 * `validateSparkConfig`, whose sentences name what is wrong.
 */
import type { SparkConfig } from '../models/config';
import { validateSparkConfig } from '../models/config';
import { ArgsError } from './flag-common';

export interface ModelFlagSpec {
  flag: string;
  help: string;
  apply(config: SparkConfig, text: string): void;
}

function intList(flag: string, text: string): number[] {
  const parts = text.split(',').map((p) => p.trim());
  const values = parts.map(Number);
  if (parts.some((p) => p === '') || values.some((v) => !Number.isInteger(v) || v < 1))
    throw new ArgsError(
      `--${flag} takes positive whole numbers separated by commas (e.g. 8,16,32), not "${text}".`,
    );
  return values;
}

function positiveInt(flag: string, text: string): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < 1)
    throw new ArgsError(`--${flag} must be a positive whole number, not "${text}".`);
  return v;
}

function choice<T extends string>(flag: string, text: string, options: readonly T[]): T {
  if (!options.includes(text as T))
    throw new ArgsError(`--${flag} must be one of ${options.join(', ')}, not "${text}".`);
  return text as T;
}

function resnet(config: SparkConfig, flag: string) {
  if (config.backbone.family !== 'resnet')
    throw new ArgsError(
      `--${flag} applies to ResNet presets; this one is a ConvNeXt (use --dims / --depths).`,
    );
  return config.backbone;
}

export const MODEL_FLAGS: ModelFlagSpec[] = [
  {
    flag: 'widths',
    help: 'ResNet stage widths, e.g. 8,16,32',
    apply: (c, t) => {
      resnet(c, 'widths').widths = intList('widths', t);
    },
  },
  {
    flag: 'depths',
    help: 'blocks per stage, e.g. 1,1,1',
    apply: (c, t) => {
      c.backbone.depths = intList('depths', t);
    },
  },
  {
    flag: 'stage-strides',
    help: 'ResNet stage strides, e.g. 2,2,2',
    apply: (c, t) => {
      resnet(c, 'stage-strides').stageStrides = intList('stage-strides', t);
    },
  },
  {
    flag: 'stem-width',
    help: 'ResNet stem channels',
    apply: (c, t) => {
      resnet(c, 'stem-width').stemWidth = positiveInt('stem-width', t);
    },
  },
  {
    flag: 'stem-kernel',
    help: 'ResNet stem kernel (3 or 7)',
    apply: (c, t) => {
      resnet(c, 'stem-kernel').stemKernel = positiveInt('stem-kernel', t);
    },
  },
  {
    flag: 'stem-stride',
    help: 'ResNet stem stride',
    apply: (c, t) => {
      resnet(c, 'stem-stride').stemStride = positiveInt('stem-stride', t);
    },
  },
  {
    flag: 'maxpool',
    help: 'ResNet stem max-pool: on or off',
    apply: (c, t) => {
      resnet(c, 'maxpool').maxpool = choice('maxpool', t, ['on', 'off'] as const) === 'on';
    },
  },
  {
    flag: 'block',
    help: 'ResNet block: basic or bottleneck',
    apply: (c, t) => {
      resnet(c, 'block').block = choice('block', t, ['basic', 'bottleneck'] as const);
    },
  },
  {
    flag: 'dims',
    help: 'ConvNeXt stage widths, e.g. 40,80,160,320',
    apply: (c, t) => {
      if (c.backbone.family !== 'convnext')
        throw new ArgsError('--dims applies to ConvNeXt presets; use --widths.');
      c.backbone.dims = intList('dims', t);
    },
  },
  {
    flag: 'decoder-width',
    help: 'LightDecoder width',
    apply: (c, t) => {
      c.decoderWidth = positiveInt('decoder-width', t);
    },
  },
  {
    flag: 'densify-norm',
    help: 'bn, ln or none',
    apply: (c, t) => {
      c.densifyNorm = choice('densify-norm', t, ['bn', 'ln', 'none'] as const) as SparkConfig['densifyNorm'];
    },
  },
  {
    flag: 'decoder-inputs',
    help: 'ablation: all (SparK) or coarsest',
    apply: (c, t) => {
      c.decoderInputs = choice('decoder-inputs', t, ['all', 'coarsest'] as const);
    },
  },
  {
    flag: 'mask-token',
    help: 'ablation: learned (SparK) or zeros',
    apply: (c, t) => {
      c.maskToken = choice('mask-token', t, ['learned', 'zeros'] as const);
    },
  },
  {
    flag: 'loss-target',
    help: 'ablation: patch-norm (SparK) or raw',
    apply: (c, t) => {
      c.lossTarget = choice('loss-target', t, ['patch-norm', 'raw'] as const);
    },
  },
  {
    flag: 'loss-on',
    help: 'ablation: masked (SparK) or all',
    apply: (c, t) => {
      c.lossOn = choice('loss-on', t, ['masked', 'all'] as const);
    },
  },
  {
    flag: 'mask-ratio',
    help: 'fraction of mask cells hidden, in [0, 1)',
    apply: (c, t) => {
      const v = Number(t);
      if (!(v >= 0 && v < 1)) throw new ArgsError(`--mask-ratio must be at least 0 and below 1, not "${t}".`);
      c.maskRatio = v;
    },
  },
  {
    flag: 'drop-path',
    help: 'stochastic depth rate of the last residual block (0 = off), in [0, 1)',
    apply: (c, t) => {
      const v = Number(t);
      if (t.trim() === '' || !(v >= 0 && v < 1))
        throw new ArgsError(`--drop-path must be at least 0 and below 1 (0 = off), not "${t}".`);
      c.dropPathRate = v;
    },
  },
  {
    flag: 'image-size',
    help: 'input side in pixels',
    apply: (c, t) => {
      c.inputSize = positiveInt('image-size', t);
    },
  },
];

const CONFIG_KEYS = new Set([
  'inputSize',
  'maskRatio',
  'decoderWidth',
  'backbone',
  'densifyNorm',
  'encoder',
  'decoderInputs',
  'maskToken',
  'lossTarget',
  'lossOn',
  'dropPathRate',
]);

/** Merges a --config JSON object (any subset of SparkConfig; `backbone` merged key by key) onto `config`. */
export function applyConfigJson(config: SparkConfig, text: string, fileName: string): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ArgsError(`--config ${fileName} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new ArgsError(`--config ${fileName} must hold a JSON object of model options.`);
  for (const [key, value] of Object.entries(parsed)) {
    if (!CONFIG_KEYS.has(key))
      throw new ArgsError(
        `--config ${fileName}: unknown model option "${key}"; known: ${[...CONFIG_KEYS].join(', ')}.`,
      );
    if (key === 'backbone') {
      if (typeof value !== 'object' || value === null)
        throw new ArgsError(`--config ${fileName}: "backbone" must be an object.`);
      const family = (value as { family?: string }).family;
      config.backbone = (
        family && family !== config.backbone.family ? value : { ...config.backbone, ...value }
      ) as SparkConfig['backbone'];
    } else (config as unknown as Record<string, unknown>)[key] = value;
  }
}

/** Validates the edited configuration, turning its error into an ArgsError sentence. */
export function checkedConfig(config: SparkConfig): SparkConfig {
  try {
    return validateSparkConfig(config);
  } catch (error) {
    throw new ArgsError(`The model options do not make a valid model: ${(error as Error).message}`);
  }
}
