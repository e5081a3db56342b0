/**
 * The playground's settings form and its translation into the worker's `RunConfig`. Everything the main
 * thread can check without a GPU is checked here, with the same sentences the engine's validators use, so a
 * bad value is explained as the user types; the worker re-validates (and adds the adapter's limits) when it
 * configures the run.
 */
import {
  type EncoderMode,
  gridSize,
  SPARK_DEFAULTS,
  type SparkConfig,
  totalStride,
  validateSparkConfig,
} from '../models/config';
import { PRESET_TRAINING, PRESETS, type PresetName, preset } from '../models/presets';
import { lenKeep } from '../sparse/mask';
import type { OptimizerName, RunConfig } from '../worker/protocol';

export type DatasetChoice = 'fashion-mnist' | 'photos' | 'user';

export const DATASET_LABELS: Record<DatasetChoice, string> = {
  'fashion-mnist': 'Fashion-MNIST (built in)',
  photos: 'Photos (built in)',
  user: 'Your images',
};

export interface PlaygroundForm {
  preset: PresetName;
  dataset: DatasetChoice;
  maskRatio: number;
  batchSize: number;
  /** Peak learning rate as typed; blank = the preset's default (PRESET_TRAINING). */
  lr: string;
  steps: number;
  seed: number;
  /** The ablation switches (SparK's choices are the defaults). */
  encoder: EncoderMode;
  decoderInputs: SparkConfig['decoderInputs'];
  maskToken: SparkConfig['maskToken'];
  lossTarget: SparkConfig['lossTarget'];
  lossOn: SparkConfig['lossOn'];
  /** Model overrides as typed; blank = the preset's. Widths/depths are comma-separated per stage. */
  decoderWidth: string;
  widths: string;
  depths: string;
  /** Blank = the preset's optimiser. */
  optimizer: '' | OptimizerName;
  /** Starting weight decay as typed; blank = the official 0.04. */
  weightDecay: string;
  /** Drop-path (stochastic depth) rate as typed; blank = the preset's (0 = off in the small presets). */
  dropPath: string;
}

/** The ablation switches: form field, test hook, label and options (first = SparK's choice). */
export const ABLATIONS = [
  {
    field: 'encoder',
    testId: 'ablation-encoder',
    label: 'Encoder',
    options: [
      ['sparse', 'sparse (SparK)'],
      ['dense-zero', 'dense, zero-filled'],
      ['dense-masked', 'dense, re-masked (official code)'],
    ],
  },
  {
    field: 'decoderInputs',
    testId: 'ablation-decoder',
    label: 'Decoder inputs',
    options: [
      ['all', 'all scales (hierarchical)'],
      ['coarsest', 'coarsest only'],
    ],
  },
  {
    field: 'maskToken',
    testId: 'ablation-mask-token',
    label: 'Mask token',
    options: [
      ['learned', 'learned'],
      ['zeros', 'zeros'],
    ],
  },
  {
    field: 'lossTarget',
    testId: 'ablation-target',
    label: 'Target',
    options: [
      ['patch-norm', 'per-patch normalised'],
      ['raw', 'raw pixels'],
    ],
  },
  {
    field: 'lossOn',
    testId: 'ablation-loss-on',
    label: 'Loss on',
    options: [
      ['masked', 'masked patches'],
      ['all', 'all patches'],
    ],
  },
] as const;

export type AblationField = (typeof ABLATIONS)[number]['field'];

/** Presets a browser can train at a useful speed, smallest first; the 224-px official ones are for loading. */
export const PLAYGROUND_PRESETS: readonly PresetName[] = (Object.keys(PRESETS) as PresetName[]).sort(
  (a, b) => PRESETS[a].inputSize - PRESETS[b].inputSize,
);

/** The form for a preset: its training defaults (batch, steps; lr left blank = the preset's). */
export function formForPreset(name: PresetName, base?: PlaygroundForm): PlaygroundForm {
  const training = PRESET_TRAINING[name];
  return {
    dataset: base?.dataset ?? 'fashion-mnist',
    maskRatio: base?.maskRatio ?? PRESETS[name].maskRatio,
    seed: base?.seed ?? 0,
    preset: name,
    batchSize: training.batch,
    steps: training.steps,
    lr: '',
    encoder: base?.encoder ?? SPARK_DEFAULTS.encoder,
    decoderInputs: base?.decoderInputs ?? SPARK_DEFAULTS.decoderInputs,
    maskToken: base?.maskToken ?? SPARK_DEFAULTS.maskToken,
    lossTarget: base?.lossTarget ?? SPARK_DEFAULTS.lossTarget,
    lossOn: base?.lossOn ?? SPARK_DEFAULTS.lossOn,
    // Sizes belong to a preset: a new preset starts from its own.
    decoderWidth: '',
    widths: '',
    depths: '',
    optimizer: base?.optimizer ?? '',
    weightDecay: base?.weightDecay ?? '',
    dropPath: base?.dropPath ?? '',
  };
}

export const DEFAULT_FORM: PlaygroundForm = formForPreset(PLAYGROUND_PRESETS[0]);

/** One line describing a preset for the picker: size, backbone, mask grid. */
export function describePreset(name: PresetName): string {
  const config = PRESETS[name] as SparkConfig;
  const grid = gridSize(config);
  const family = config.backbone.family === 'resnet' ? `ResNet (${config.backbone.block})` : 'ConvNeXt';
  // The ImageNet-size official models are here to load and export their checkpoints; training them needs a
  // large GPU and hours.
  const heavy = config.inputSize >= 224 ? ' (official, heavy)' : '';
  return `${name}: ${config.inputSize} px, ${family}, stride ${totalStride(config.backbone)}, ${grid}×${grid} mask grid${heavy}`;
}

/** Visible cells per image at this ratio, or undefined when the ratio leaves none. */
export function visibleCells(name: PresetName, maskRatio: number): number | undefined {
  const grid = gridSize(PRESETS[name] as SparkConfig);
  try {
    return lenKeep(grid, grid, maskRatio);
  } catch {
    return undefined;
  }
}

export type FormCheck = { ok: true; config: RunConfig; model: SparkConfig } | { ok: false; message: string };

function parseLr(text: string): number | undefined | string {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const value = Number(trimmed);
  if (!Number.isFinite(value) || value <= 0)
    return `The learning rate must be a positive number such as 1e-3, got "${trimmed}".`;
  if (value > 1) return `A learning rate of ${value} would make the weights diverge at once; use at most 1.`;
  return value;
}

function parseWeightDecay(text: string): number | undefined | string {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const value = Number(trimmed);
  if (!Number.isFinite(value) || value < 0)
    return `The weight decay must be a number of at least 0 such as 0.04, got "${trimmed}".`;
  return value;
}

/** The form as a RunConfig, or the first problem as a sentence. */
function parseIntList(text: string, what: string): number[] | undefined | string {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const values = trimmed.split(/[\s,]+/).map(Number);
  if (values.some((v) => !Number.isInteger(v) || v < 1))
    return `The ${what} must be whole numbers of at least 1 separated by commas, such as 8, 16, 32; got "${trimmed}".`;
  return values;
}

/** Model overrides of the form (ablations that differ from SparK's, sizes typed in); a sentence if bad. */
export function modelOverrides(form: PlaygroundForm): Partial<SparkConfig> | string {
  const overrides: Partial<SparkConfig> = { maskRatio: form.maskRatio };
  for (const { field } of ABLATIONS)
    if (form[field] !== SPARK_DEFAULTS[field]) (overrides as Record<string, unknown>)[field] = form[field];
  const decoder = form.decoderWidth.trim();
  if (decoder !== '') {
    const width = Number(decoder);
    if (!Number.isInteger(width) || width < 1)
      return `The decoder width must be a positive whole number, got "${decoder}".`;
    overrides.decoderWidth = width;
  }
  const dropPath = (form.dropPath ?? '').trim();
  if (dropPath !== '') {
    const rate = Number(dropPath);
    if (!Number.isFinite(rate) || rate < 0 || rate >= 1)
      return `The drop-path rate must be a number of at least 0 and below 1 (0 = off), got "${dropPath}".`;
    overrides.dropPathRate = rate;
  }
  const widths = parseIntList(form.widths, 'backbone widths');
  if (typeof widths === 'string') return widths;
  const depths = parseIntList(form.depths, 'backbone depths');
  if (typeof depths === 'string') return depths;
  if (widths || depths) {
    const base = PRESETS[form.preset].backbone;
    if (base.family === 'resnet')
      overrides.backbone = {
        ...base,
        widths: widths ?? [...base.widths],
        depths: depths ?? [...base.depths],
      };
    else overrides.backbone = { ...base, dims: widths ?? [...base.dims], depths: depths ?? [...base.depths] };
  }
  return overrides;
}

export function checkForm(form: PlaygroundForm): FormCheck {
  let model: SparkConfig;
  const overrides = modelOverrides(form);
  if (typeof overrides === 'string') return { ok: false, message: overrides };
  try {
    model = { ...preset(form.preset), ...structuredClone(overrides) };
    // The engine's validator: checks the ratio against this preset's mask grid, in the engine's words.
    model = validateSparkConfig(model);
  } catch (error) {
    return { ok: false, message: (error as Error).message };
  }
  if (!Number.isInteger(form.batchSize) || form.batchSize < 2)
    return {
      ok: false,
      message: `The batch size must be a whole number of at least 2, got ${form.batchSize}: BatchNorm normalises over the images of a batch and has nothing to normalise with one.`,
    };
  if (!Number.isInteger(form.steps) || form.steps < 1)
    return {
      ok: false,
      message: `The number of training steps must be a positive whole number, got ${form.steps}.`,
    };
  if (!Number.isInteger(form.seed) || form.seed < 0)
    return { ok: false, message: `The seed must be a whole number of at least 0, got ${form.seed}.` };
  const lr = parseLr(form.lr);
  if (typeof lr === 'string') return { ok: false, message: lr };
  const weightDecay = parseWeightDecay(form.weightDecay);
  if (typeof weightDecay === 'string') return { ok: false, message: weightDecay };
  if (form.optimizer !== '' && form.optimizer !== 'lamb' && form.optimizer !== 'adamw')
    return { ok: false, message: `The optimiser must be LAMB or AdamW, got "${form.optimizer}".` };
  const config: RunConfig = {
    preset: form.preset,
    model: overrides,
    data: { kind: form.dataset },
    batchSize: form.batchSize,
    steps: form.steps,
    seed: form.seed,
    ...(lr === undefined ? {} : { lr }),
    ...(form.optimizer === '' ? {} : { optimizer: form.optimizer }),
    ...(weightDecay === undefined ? {} : { weightDecay }),
  };
  return { ok: true, config, model };
}

/**
 * Steps between metric read-backs. On a GPU a step takes milliseconds and every 10th is plenty; on a software
 * adapter a step takes seconds, so reading each one costs nothing by comparison and the user sees progress.
 */
export function metricsEveryFor(softwareAdapter: boolean): number {
  return softwareAdapter ? 1 : 10;
}

/** Settings whose change needs a new run (the mask ratio changes live). */
export function needsNewRun(configured: PlaygroundForm | undefined, form: PlaygroundForm): boolean {
  if (!configured) return true;
  return (
    configured.preset !== form.preset ||
    configured.dataset !== form.dataset ||
    configured.batchSize !== form.batchSize ||
    configured.lr.trim() !== form.lr.trim() ||
    configured.steps !== form.steps ||
    configured.seed !== form.seed ||
    ABLATIONS.some(({ field }) => configured[field] !== form[field]) ||
    configured.decoderWidth.trim() !== form.decoderWidth.trim() ||
    configured.widths.trim() !== form.widths.trim() ||
    configured.depths.trim() !== form.depths.trim() ||
    configured.optimizer !== form.optimizer ||
    configured.weightDecay.trim() !== form.weightDecay.trim() ||
    (configured.dropPath ?? '').trim() !== (form.dropPath ?? '').trim()
  );
}

/** A form from storage or an older version, with every field this version has (missing ones from defaults). */
export function completeForm(partial: Partial<PlaygroundForm>): PlaygroundForm {
  const name =
    partial.preset && (PLAYGROUND_PRESETS as readonly string[]).includes(partial.preset)
      ? partial.preset
      : DEFAULT_FORM.preset;
  return { ...formForPreset(name), ...partial, preset: name };
}
