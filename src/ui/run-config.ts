/**
 * The playground's settings form and its translation into the worker's `RunConfig`. Everything the main
 * thread can check without a GPU is checked here, with the same sentences the engine's validators use, so a
 * bad value is explained as the user types; the worker re-validates (and adds the adapter's limits) when it
 * configures the run.
 */
import { gridSize, type SparkConfig, totalStride, validateSparkConfig } from '../models/config';
import { PRESET_TRAINING, PRESETS, type PresetName, preset } from '../models/presets';
import { lenKeep } from '../sparse/mask';
import type { RunConfig } from '../worker/protocol';

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
}

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

/** The form as a RunConfig, or the first problem as a sentence. */
export function checkForm(form: PlaygroundForm): FormCheck {
  let model: SparkConfig;
  try {
    model = preset(form.preset);
    model.maskRatio = form.maskRatio;
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
  const config: RunConfig = {
    preset: form.preset,
    model: { maskRatio: form.maskRatio },
    data: { kind: form.dataset },
    batchSize: form.batchSize,
    steps: form.steps,
    seed: form.seed,
    ...(lr === undefined ? {} : { lr }),
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
    configured.seed !== form.seed
  );
}
