/**
 * Command-line arguments of `npm run probe`, validated before anything is loaded (sentences naming the flag,
 * "did you mean" for typos), including every model option (./model-flags.ts).
 */
import { ARMS, type ArmName, PROTOCOLS, type ProtocolName } from '../probe/run';
import { ArgsError, suggestFlag } from './flag-common';
import { MODEL_FLAGS } from './model-flags';

/**
 * Probe images used by default: the first 2,500 probe-train and 500 probe-test images. k-NN needs a bank of
 * a few hundred images per class (random-init k-NN on the tiny preset, all scales standardised: 47.5 % with 500,
 * 52 % with 2,500; docs/PROBE.md); feature extraction costs ~0.05–0.3 s per image on the software adapter (idle or shared
 * machine), so the whole split (9,000 / 1,000 for Fashion-MNIST) is an explicit choice.
 */
export const DEFAULT_PROBE_TRAIN = 2500;
export const DEFAULT_PROBE_TEST = 500;

export interface ProbeArgs {
  preset: string;
  /** 'fashion' or a folder whose subfolders are classes. */
  data: { kind: 'fashion-mnist' } | { kind: 'folder'; path: string };
  pretrainSteps: number;
  arms: ArmName[];
  protocols: ProtocolName[];
  seed: number;
  json: boolean;
  checkpoint?: string;
  config?: string;
  init?: string;
  batch?: number;
  lr?: number;
  optimizer?: 'lamb' | 'adamw';
  probeTrain: number;
  probeTest: number;
  featureBatch: number;
  pool: 'last' | 'all';
  knnK: number;
  knnTemperature: number;
  /** k-NN on raw pooled features instead of standardised ones. */
  knnRaw: boolean;
  linearEpochs: number;
  linearLr: number;
  linearBatch: number;
  finetuneSteps: number;
  finetuneBatch: number;
  finetuneLr?: number;
  layerDecay: number;
  control: boolean;
  /** Model flags in the order given: [flag, value]. */
  model: [string, string][];
  help: boolean;
}

export const PROBE_USAGE = `Usage: npm run probe -- [options]

Does the pre-training help? Pre-trains SparK arms and scores their frozen encoders on labelled data.

  --preset NAME           model preset (default tiny)
  --data SOURCE           fashion (default), or a folder whose subfolders are classes
  --pretrain-steps N      SparK pre-training steps per arm (default 150)
  --arms LIST             random,sparse,dense-zero,checkpoint (default random,sparse,dense-zero)
  --protocols LIST        knn,linear,finetune (default knn,linear; fine-tuning is slow on a software adapter)
  --seed N                seed of initial weights, pre-training, probe (default 0)
  --json                  JSON lines instead of a progress bar
  --checkpoint PATH       a run folder (its checkpoints/latest.safetensors) or a weights file: the checkpoint arm
  --config FILE           model options as JSON (any part of the configuration), applied before the flags below
  --init FILE             start pre-training from these weights (official names; missing tensors keep the init)
  --batch N               pre-training batch (default: the preset's)
  --lr X                  pre-training peak lr (default: the preset's)
  --optimizer NAME        lamb or adamw (default: the preset's)
  --probe-train N         use the first N probe-train images (default ${DEFAULT_PROBE_TRAIN}; fashion has 9000)
  --probe-test N          use the first N probe-test images (default ${DEFAULT_PROBE_TEST}; fashion has 1000)
  --feature-batch N       images per encoder forward (default 256)
  --pool MODE             all (default: every scale, concatenated) or last (the last feature map)
  --knn-k N               neighbours (default 20)
  --knn-temperature X     vote temperature (default 0.07)
  --knn-raw               k-NN on raw pooled features (default: standardised by probe-train statistics)
  --linear-epochs N       linear-probe epochs (default 30)
  --linear-lr X           linear-probe AdamW peak lr (default 0.05)
  --linear-batch N        linear-probe batch (default 256)
  --finetune-steps N      fine-tuning steps, the cap (default 200)
  --finetune-batch N      fine-tuning images per step (default 32)
  --finetune-lr X         fine-tuning peak lr (default 5e-2 LAMB for ResNets, 1e-3 AdamW for ConvNeXts)
  --layer-decay X         layer-wise lr decay factor in (0, 1] (default 0.7)
  --no-control            skip the label-shuffled control
  --help                  show this help
Model options (override the preset):
${MODEL_FLAGS.map((f) => `  --${f.flag.padEnd(22)}${f.help}`).join('\n')}
`;

type Kind = 'string' | 'nonneg-int' | 'positive-int' | 'number' | 'flag';
const FLAGS: Record<string, Kind> = {
  preset: 'string',
  data: 'string',
  'pretrain-steps': 'positive-int',
  arms: 'string',
  protocols: 'string',
  seed: 'nonneg-int',
  json: 'flag',
  checkpoint: 'string',
  config: 'string',
  init: 'string',
  batch: 'positive-int',
  lr: 'number',
  optimizer: 'string',
  'probe-train': 'positive-int',
  'probe-test': 'positive-int',
  'feature-batch': 'positive-int',
  pool: 'string',
  'knn-k': 'positive-int',
  'knn-temperature': 'number',
  'knn-raw': 'flag',
  'linear-epochs': 'positive-int',
  'linear-lr': 'number',
  'linear-batch': 'positive-int',
  'finetune-steps': 'positive-int',
  'finetune-batch': 'positive-int',
  'finetune-lr': 'number',
  'layer-decay': 'number',
  'no-control': 'flag',
  help: 'flag',
};
for (const f of MODEL_FLAGS) FLAGS[f.flag] = 'string';

function list<T extends string>(flag: string, text: string, known: readonly T[]): T[] {
  const items = text.split(',').map((s) => s.trim());
  for (const item of items)
    if (!known.includes(item as T)) {
      throw new ArgsError(`--${flag}: "${item}" is not one of ${known.join(', ')}.`);
    }
  if (new Set(items).size !== items.length) throw new ArgsError(`--${flag} names something twice: ${text}.`);
  return items as T[];
}

export function parseProbeArgs(argv: readonly string[], presets?: readonly string[]): ProbeArgs {
  const raw = new Map<string, string | number | true>();
  const model: [string, string][] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--'))
      throw new ArgsError(`Unexpected argument "${arg}": options start with --, e.g. --pretrain-steps 150.`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const kind = FLAGS[name];
    if (!kind)
      throw new ArgsError(
        `Unknown option --${name}.${suggestFlag(name, Object.keys(FLAGS))} Run with --help for the list.`,
      );
    if (raw.has(name)) throw new ArgsError(`--${name} is given twice; keep one.`);
    if (kind === 'flag') {
      if (eq >= 0) throw new ArgsError(`--${name} is a switch and takes no value.`);
      raw.set(name, true);
      continue;
    }
    let text: string;
    if (eq >= 0) text = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new ArgsError(`--${name} needs a value.`);
      text = next;
      i++;
    }
    if (text === '') throw new ArgsError(`--${name} needs a value.`);
    if (kind === 'string') {
      raw.set(name, text);
      if (MODEL_FLAGS.some((f) => f.flag === name)) model.push([name, text]);
      continue;
    }
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value))
      throw new ArgsError(`--${name} must be a number, not "${text}".`);
    if (kind !== 'number' && !Number.isInteger(value))
      throw new ArgsError(`--${name} must be a whole number, not ${text}.`);
    if (kind === 'positive-int' && value < 1)
      throw new ArgsError(`--${name} must be at least 1, not ${text}.`);
    if (kind === 'nonneg-int' && value < 0) throw new ArgsError(`--${name} cannot be negative (${text}).`);
    raw.set(name, value);
  }
  const str = (k: string) => raw.get(k) as string | undefined;
  const num = (k: string) => raw.get(k) as number | undefined;
  const preset = str('preset') ?? 'tiny';
  if (presets && !presets.includes(preset))
    throw new ArgsError(`There is no preset "${preset}"; choose one of: ${presets.join(', ')}.`);
  const dataText = str('data') ?? 'fashion';
  const data: ProbeArgs['data'] = ['fashion', 'fashion-mnist'].includes(dataText.toLowerCase())
    ? { kind: 'fashion-mnist' }
    : { kind: 'folder', path: dataText };
  const checkpoint = str('checkpoint');
  const arms = list('arms', str('arms') ?? 'random,sparse,dense-zero', ARMS);
  if (checkpoint && !arms.includes('checkpoint')) arms.push('checkpoint');
  if (arms.includes('checkpoint') && !checkpoint)
    throw new ArgsError('The checkpoint arm needs --checkpoint PATH (a run folder or a weights file).');
  const protocols = list('protocols', str('protocols') ?? 'knn,linear', PROTOCOLS);
  const optimizer = str('optimizer');
  if (optimizer !== undefined && optimizer !== 'lamb' && optimizer !== 'adamw')
    throw new ArgsError(`--optimizer must be lamb or adamw, not "${optimizer}".`);
  const pool = str('pool') ?? 'all';
  if (pool !== 'last' && pool !== 'all') throw new ArgsError(`--pool must be last or all, not "${pool}".`);
  const layerDecay = num('layer-decay') ?? 0.7;
  if (!(layerDecay > 0 && layerDecay <= 1))
    throw new ArgsError(`--layer-decay must be above 0 and at most 1, not ${layerDecay}.`);
  const finetuneBatch = num('finetune-batch') ?? 32;
  if (finetuneBatch < 2)
    throw new ArgsError(
      `--finetune-batch must be at least 2: BatchNorm needs a batch (got ${finetuneBatch}).`,
    );
  for (const k of ['lr', 'knn-temperature', 'linear-lr', 'finetune-lr'])
    if (raw.has(k) && !((num(k) as number) > 0))
      throw new ArgsError(`--${k} must be a positive number, not ${num(k)}.`);
  const batch = num('batch');
  if (batch !== undefined && batch < 2)
    throw new ArgsError(
      `--batch must be at least 2: BatchNorm needs more than one image per step (got ${batch}).`,
    );
  const seed = num('seed') ?? 0;
  if (seed > 0xffffffff) throw new ArgsError(`--seed must fit in 32 bits (at most 4294967295), not ${seed}.`);
  return {
    preset,
    data,
    pretrainSteps: num('pretrain-steps') ?? 150,
    arms,
    protocols,
    seed,
    json: raw.get('json') === true,
    checkpoint,
    config: str('config'),
    init: str('init'),
    batch,
    lr: num('lr'),
    optimizer: optimizer as ProbeArgs['optimizer'],
    probeTrain: num('probe-train') ?? DEFAULT_PROBE_TRAIN,
    probeTest: num('probe-test') ?? DEFAULT_PROBE_TEST,
    featureBatch: num('feature-batch') ?? 256,
    pool,
    knnK: num('knn-k') ?? 20,
    knnTemperature: num('knn-temperature') ?? 0.07,
    knnRaw: raw.get('knn-raw') === true,
    linearEpochs: num('linear-epochs') ?? 30,
    linearLr: num('linear-lr') ?? 0.05,
    linearBatch: num('linear-batch') ?? 256,
    finetuneSteps: num('finetune-steps') ?? 200,
    finetuneBatch,
    finetuneLr: num('finetune-lr'),
    layerDecay,
    control: raw.get('no-control') !== true,
    model,
    help: raw.get('help') === true,
  };
}
