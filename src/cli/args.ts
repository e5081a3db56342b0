/**
 * Command-line arguments of `npm run train`, validated before anything is loaded: every mistake is reported
 * as a sentence naming the flag, and unknown flags get a "did you mean" suggestion.
 */
import { statSync } from 'node:fs';
import { ArgsError, suggestFlag } from './flag-common';
import { MODEL_FLAGS } from './model-flags';

export type TrainData = { kind: 'fashion-mnist' } | { kind: 'photos' } | { kind: 'folder'; path: string };

export interface TrainArgs {
  preset: string;
  data: TrainData;
  steps: number;
  seed: number;
  /** Output directory: checkpoints, PNG grids, metrics. */
  out: string;
  /** JSON lines instead of a progress bar (also used automatically when stdout is not a terminal). */
  json: boolean;
  /** Continue from the last checkpoint in `out`. */
  resume: boolean;
  /** Overrides of the preset; absent = the preset's value. */
  batch?: number;
  lr?: number;
  maskRatio?: number;
  /** Drop-path (stochastic depth) rate of the last residual block; 0 = off. */
  dropPath?: number;
  imageSize?: number;
  optimizer?: 'lamb' | 'adamw';
  crop?: 'random-resized' | 'native';
  /** Steps between metric lines, checkpoints and PNG grids (0 = never for the last two). */
  logEvery: number;
  checkpointEvery: number;
  gridEvery: number;
  /** Images in the held-out evaluation batch. */
  heldOut: number;
  /** A JSON file of model options (./model-flags.ts), applied before the model flags. */
  config?: string;
  /** A weights file (official names) to start from instead of the official initialisation. */
  init?: string;
  /** Model flags (./model-flags.ts) in the order given: [flag, value]. */
  model: [string, string][];
  help: boolean;
}

export { ArgsError };

/** Model flags that `npm run train` has always had as its own (same names, same checks). */
const SHARED_FLAGS = { 'mask-ratio': true, 'image-size': true };

export const TRAIN_USAGE = `Usage: npm run train -- [options]

  --preset NAME          model preset (default tiny)
  --data SOURCE          fashion, photos, or a folder of PNG/JPEG images (default fashion)
  --steps N              training steps (default 300)
  --seed N               random seed: data order, masks and initial weights (default 0)
  --out DIR              output folder for checkpoints and PNG grids (default runs/PRESET-DATA-sSEED)
  --json                 one JSON line per log interval instead of a progress bar
  --resume               continue from the last checkpoint in --out
  --batch N              images per step (at least 2: BatchNorm needs a batch)
  --lr X                 base learning rate
  --mask-ratio X         fraction of mask cells hidden, in [0, 1)
  --drop-path X          stochastic depth of the last residual block, in [0, 1) (0 = off; official presets
                         use the official code's rate)
  --image-size N         input side in pixels
  --optimizer NAME       lamb (default) or adamw
  --crop MODE            random-resized (default) or native (photos and folders)
  --log-every N          steps between metric lines (default 10)
  --checkpoint-every N   steps between checkpoints, 0 = only at the end (default 100)
  --grid-every N         steps between PNG grids, 0 = only at the end (default 100)
  --held-out N           images in the held-out evaluation batch (default 64)
  --config FILE          model options as JSON (any part of the configuration), applied before the flags below
  --init FILE            start from these weights (official names; tensors it lacks keep the official init)
  --help                 show this help
Model options (override the preset; new runs only):
${MODEL_FLAGS.filter((f) => !(f.flag in SHARED_FLAGS))
  .map((f) => `  --${f.flag.padEnd(21)}${f.help}`)
  .join('\n')}
`;

type Kind = 'string' | 'int' | 'nonneg-int' | 'positive-int' | 'number' | 'flag';

const FLAGS: Record<string, { key: keyof TrainArgs; kind: Kind }> = {
  preset: { key: 'preset', kind: 'string' },
  data: { key: 'data', kind: 'string' },
  steps: { key: 'steps', kind: 'positive-int' },
  seed: { key: 'seed', kind: 'nonneg-int' },
  out: { key: 'out', kind: 'string' },
  json: { key: 'json', kind: 'flag' },
  resume: { key: 'resume', kind: 'flag' },
  batch: { key: 'batch', kind: 'positive-int' },
  lr: { key: 'lr', kind: 'number' },
  'mask-ratio': { key: 'maskRatio', kind: 'number' },
  'drop-path': { key: 'dropPath', kind: 'number' },
  'image-size': { key: 'imageSize', kind: 'positive-int' },
  optimizer: { key: 'optimizer', kind: 'string' },
  crop: { key: 'crop', kind: 'string' },
  'log-every': { key: 'logEvery', kind: 'positive-int' },
  'checkpoint-every': { key: 'checkpointEvery', kind: 'nonneg-int' },
  'grid-every': { key: 'gridEvery', kind: 'nonneg-int' },
  'held-out': { key: 'heldOut', kind: 'positive-int' },
  config: { key: 'config', kind: 'string' },
  init: { key: 'init', kind: 'string' },
  help: { key: 'help', kind: 'flag' },
};
for (const f of MODEL_FLAGS) if (!(f.flag in FLAGS)) FLAGS[f.flag] = { key: 'model', kind: 'string' };

function parseValue(flag: string, kind: Kind, text: string): string | number {
  if (kind === 'string') {
    if (text === '') throw new ArgsError(`--${flag} needs a value.`);
    return text;
  }
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value))
    throw new ArgsError(`--${flag} must be a number, not "${text}".`);
  if (kind === 'number') return value;
  if (!Number.isInteger(value)) throw new ArgsError(`--${flag} must be a whole number, not ${text}.`);
  if (kind === 'positive-int' && value < 1) throw new ArgsError(`--${flag} must be at least 1, not ${text}.`);
  if (kind === 'nonneg-int' && value < 0) throw new ArgsError(`--${flag} cannot be negative (${text}).`);
  return value;
}

function parseData(text: string): TrainData {
  const lower = text.toLowerCase();
  if (lower === 'fashion' || lower === 'fashion-mnist') return { kind: 'fashion-mnist' };
  if (lower === 'photos') return { kind: 'photos' };
  return { kind: 'folder', path: text };
}

export interface ParseOptions {
  /** The preset names the trainer knows; the check is skipped when absent. */
  presets?: readonly string[];
  /** Whether a path is a readable directory (folder data sources are checked when given). */
  isDirectory?: (path: string) => boolean;
}

/** Parses `argv` (without node and the script). Throws `ArgsError` with a sentence on any mistake. */
export function parseTrainArgs(argv: readonly string[], options: ParseOptions = {}): TrainArgs {
  const raw: Partial<Record<keyof TrainArgs, string | number | boolean>> = {};
  const model: [string, string][] = [];
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      throw new ArgsError(`Unexpected argument "${arg}": options start with --, e.g. --steps 300.`);
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = FLAGS[name];
    if (!spec)
      throw new ArgsError(
        `Unknown option --${name}.${suggestFlag(name, Object.keys(FLAGS))} Run with --help for the list.`,
      );
    if (seen.has(name)) throw new ArgsError(`--${name} is given twice; keep one.`);
    seen.add(name);
    if (spec.kind === 'flag') {
      if (eq >= 0) throw new ArgsError(`--${name} is a switch and takes no value.`);
      raw[spec.key] = true;
      continue;
    }
    let text: string;
    if (eq >= 0) text = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && spec.kind === 'string')) {
        throw new ArgsError(`--${name} needs a value.`);
      }
      text = next;
      i++;
    }
    if (spec.key === 'model') model.push([name, parseValue(name, spec.kind, text) as string]);
    else raw[spec.key] = parseValue(name, spec.kind, text);
  }

  const preset = (raw.preset as string | undefined) ?? 'tiny';
  if (options.presets && !options.presets.includes(preset)) {
    throw new ArgsError(`There is no preset "${preset}"; choose one of: ${options.presets.join(', ')}.`);
  }
  const data = parseData((raw.data as string | undefined) ?? 'fashion');
  if (data.kind === 'folder' && options.isDirectory && !options.isDirectory(data.path)) {
    throw new ArgsError(
      `--data ${data.path} is neither "fashion", "photos" nor a folder that exists; give one of those.`,
    );
  }
  const optimizer = raw.optimizer as string | undefined;
  if (optimizer !== undefined && optimizer !== 'lamb' && optimizer !== 'adamw') {
    throw new ArgsError(`--optimizer must be lamb or adamw, not "${optimizer}".`);
  }
  const crop = raw.crop as string | undefined;
  if (crop !== undefined && crop !== 'random-resized' && crop !== 'native') {
    throw new ArgsError(`--crop must be random-resized or native, not "${crop}".`);
  }
  if (crop !== undefined && data.kind === 'fashion-mnist') {
    throw new ArgsError(
      '--crop applies to photos and folders; Fashion-MNIST images are padded or resized whole.',
    );
  }
  const maskRatio = raw.maskRatio as number | undefined;
  if (maskRatio !== undefined && !(maskRatio >= 0 && maskRatio < 1)) {
    throw new ArgsError(
      `--mask-ratio must be at least 0 and below 1 (some cells must stay visible), not ${maskRatio}.`,
    );
  }
  const dropPath = raw.dropPath as number | undefined;
  if (dropPath !== undefined && !(dropPath >= 0 && dropPath < 1))
    throw new ArgsError(`--drop-path must be at least 0 and below 1 (0 = off), not ${dropPath}.`);
  const lr = raw.lr as number | undefined;
  if (lr !== undefined && !(lr > 0)) throw new ArgsError(`--lr must be a positive number, not ${lr}.`);
  const batch = raw.batch as number | undefined;
  if (batch !== undefined && batch < 2) {
    throw new ArgsError(
      `--batch must be at least 2: BatchNorm needs more than one image per step (got ${batch}).`,
    );
  }
  const seed = (raw.seed as number | undefined) ?? 0;
  if (seed > 0xffffffff) throw new ArgsError(`--seed must fit in 32 bits (at most 4294967295), not ${seed}.`);
  const resume = raw.resume === true;
  if (resume && raw.out === undefined) {
    throw new ArgsError('--resume needs --out DIR: the folder whose last checkpoint to continue from.');
  }
  const modelOptions = [
    ...model.map(([flag]) => `--${flag}`),
    ...(['config', 'init'] as const).filter((k) => raw[k] !== undefined).map((k) => `--${k}`),
  ];
  if (resume && modelOptions.length > 0)
    throw new ArgsError(
      `${modelOptions.join(', ')} ${modelOptions.length > 1 ? 'apply' : 'applies'} to new runs: a resumed run keeps the model and weights of its checkpoint.`,
    );
  const dataName = data.kind === 'folder' ? 'folder' : data.kind === 'photos' ? 'photos' : 'fashion';
  return {
    preset,
    data,
    steps: (raw.steps as number | undefined) ?? 300,
    seed,
    out: (raw.out as string | undefined) ?? `runs/${preset}-${dataName}-s${seed}`,
    json: raw.json === true,
    resume,
    batch,
    lr,
    maskRatio,
    dropPath,
    imageSize: raw.imageSize as number | undefined,
    optimizer: optimizer as TrainArgs['optimizer'],
    crop: crop as TrainArgs['crop'],
    logEvery: (raw.logEvery as number | undefined) ?? 10,
    checkpointEvery: (raw.checkpointEvery as number | undefined) ?? 100,
    gridEvery: (raw.gridEvery as number | undefined) ?? 100,
    heldOut: (raw.heldOut as number | undefined) ?? 64,
    config: raw.config as string | undefined,
    init: raw.init as string | undefined,
    model,
    help: raw.help === true,
  };
}

/** The `isDirectory` check for `parseTrainArgs` in Node. */
export function isDirectoryNode(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
