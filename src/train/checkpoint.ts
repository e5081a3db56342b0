/**
 * A trainer checkpoint: one safetensors file holding everything a run needs to continue bit-identically —
 * the model state under the official names (parameters, BN running statistics, int64 num_batches_tracked),
 * the optimiser moments as `optimizer.exp_avg.<name>` / `optimizer.exp_avg_sq.<name>` (official layouts,
 * like the parameters), and, in the metadata, the configuration, the step, the optimiser's per-group step
 * counters, the hyper-parameters and the states of the data and mask random generators.
 *
 * The model part is exactly what src/io/state.ts reads (other tools can load the weights from it); reading
 * validates the whole file against the configuration in its own metadata before returning anything.
 */

import { openSafetensors, type TensorToWrite, toFloat64Array, writeSafetensors } from '../io/safetensors';
import { loadState } from '../io/state';
import { type SparkConfig, validateSparkConfig } from '../models/config';
import { sparkState } from '../models/official-names';

export const TRAINER_CHECKPOINT_FORMAT = 'sparklab-trainer-checkpoint/1';

export type OptimizerName = 'lamb' | 'adamw';

/** The learning-rate, weight-decay and optimiser settings of a run. */
export interface TrainingHyper {
  optimizer: OptimizerName;
  /** Peak learning rate of the warm-up + cosine schedule. */
  peakLr: number;
  warmupSteps: number;
  weightDecayStart: number;
  weightDecayEnd: number;
  beta1: number;
  beta2: number;
  maxGradNorm: number;
}

/** Host-side state of a run: what, besides the tensors, makes the next step identical after a restore. */
export interface TrainerProgress {
  runId: string;
  /** Completed steps. */
  step: number;
  /** Length of the run (the schedules are scaled to it). */
  totalSteps: number;
  seed: number;
  batch: number;
  hyper: TrainingHyper;
  dataRngState: number;
  maskRngState: number;
  optimizerSteps: { decay: number; noDecay: number };
}

export interface TrainerCheckpoint {
  config: SparkConfig;
  progress: TrainerProgress;
  /** Official names and layouts; num_batches_tracked as one-element arrays. */
  state: Map<string, Float32Array>;
  /** Per parameter name, official layout. */
  expAvg: Map<string, Float32Array>;
  expAvgSq: Map<string, Float32Array>;
}

export class CheckpointFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointFormatError';
  }
}

const MOMENT_PREFIXES = { expAvg: 'optimizer.exp_avg.', expAvgSq: 'optimizer.exp_avg_sq.' } as const;

export function writeTrainerCheckpoint(checkpoint: TrainerCheckpoint): Uint8Array {
  const { config, progress } = checkpoint;
  const tensors: [string, TensorToWrite][] = [];
  const entries = sparkState(config);
  for (const entry of entries) {
    const data = checkpoint.state.get(entry.name);
    if (!data) throw new CheckpointFormatError(`The model state has no tensor named ${entry.name}.`);
    tensors.push([
      entry.name,
      entry.dtype === 'I64'
        ? { dtype: 'I64', shape: entry.shape, data: [Math.round(data[0])] }
        : { dtype: 'F32', shape: entry.shape, data },
    ]);
  }
  for (const which of ['expAvg', 'expAvgSq'] as const) {
    for (const entry of entries) {
      if (entry.kind !== 'param') continue;
      const data = checkpoint[which].get(entry.name);
      if (!data) throw new CheckpointFormatError(`The optimiser state has no moment for ${entry.name}.`);
      tensors.push([`${MOMENT_PREFIXES[which]}${entry.name}`, { dtype: 'F32', shape: entry.shape, data }]);
    }
  }
  return writeSafetensors(tensors, {
    format: TRAINER_CHECKPOINT_FORMAT,
    config: JSON.stringify(config),
    progress: JSON.stringify(progress),
  });
}

/** The largest finite 32-bit float: a larger value becomes infinite on the GPU. */
const F32_MAX = 3.4028234663852886e38;

/**
 * The first value a training state cannot hold — NaN, an infinity, a magnitude beyond 32-bit floats, a
 * negative variance, step count or second moment — as a phrase naming the tensor and the (flat, official
 * layout) index; undefined when every value is usable.
 */
export function findNonFiniteValue(values: ReadonlyMap<string, ArrayLike<number>>): string | undefined {
  for (const [name, data] of values) {
    const nonNegative =
      name.endsWith('running_var') ||
      name.endsWith('num_batches_tracked') ||
      name.startsWith(MOMENT_PREFIXES.expAvgSq);
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (Number.isNaN(v)) return `${name}[${i}] is NaN`;
      if (!Number.isFinite(v) || Math.abs(v) > F32_MAX)
        return `${name}[${i}] is ${v}, beyond the range of 32-bit floats`;
      if (nonNegative && v < 0) return `${name}[${i}] is ${v}, but it cannot be negative`;
    }
  }
  return undefined;
}

function isWhole(value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

function isFiniteIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max;
}

/**
 * Checks a progress record field by field (whole numbers and their ranges, a known optimiser, finite
 * hyper-parameters, 32-bit generator states) and returns it typed; throws a sentence naming the first bad
 * field. A record is never trusted by a cast: restoring half of one would leave a hybrid of two runs.
 */
export function validateProgress(value: unknown, fileName: string): TrainerProgress {
  const bad = (field: string, why: string) =>
    new CheckpointFormatError(
      `${fileName}: the training progress has ${field} ${why}; it cannot resume training.`,
    );
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new CheckpointFormatError(`${fileName}: the training progress in its metadata is not an object.`);
  const p = value as Record<string, unknown>;
  if (typeof p.runId !== 'string' || p.runId.length === 0) throw bad('runId', 'missing or not a name');
  if (!isWhole(p.totalSteps, 1))
    throw bad('totalSteps', `= ${String(p.totalSteps)}, not a positive whole number`);
  if (!isWhole(p.step, 0, p.totalSteps))
    throw bad('step', `= ${String(p.step)}, not a whole number from 0 to ${p.totalSteps}`);
  if (!isWhole(p.seed, 0, 0xffffffff)) throw bad('seed', `= ${String(p.seed)}, not a 32-bit whole number`);
  if (!isWhole(p.batch, 2)) throw bad('batch', `= ${String(p.batch)}, not a whole number of at least 2`);
  for (const field of ['dataRngState', 'maskRngState'] as const)
    if (!isWhole(p[field], 0, 0xffffffff))
      throw bad(field, `= ${String(p[field])}, not a 32-bit generator state`);
  const steps = p.optimizerSteps as Record<string, unknown> | undefined;
  if (steps === null || typeof steps !== 'object') throw bad('optimizerSteps', 'missing');
  for (const field of ['decay', 'noDecay'] as const)
    if (!isWhole(steps[field], 0))
      throw bad(`optimizerSteps.${field}`, `= ${String(steps[field])}, not a whole number`);
  const hyper = p.hyper as Record<string, unknown> | undefined;
  if (hyper === null || typeof hyper !== 'object') throw bad('hyper', 'missing');
  if (hyper.optimizer !== 'lamb' && hyper.optimizer !== 'adamw')
    throw bad('hyper.optimizer', `= ${JSON.stringify(hyper.optimizer)}, not "lamb" or "adamw"`);
  const ranges: [keyof TrainingHyper, number, number][] = [
    ['peakLr', 0, 1e3],
    ['weightDecayStart', 0, 1e3],
    ['weightDecayEnd', 0, 1e3],
    ['beta1', 0, 0.999999],
    ['beta2', 0, 0.999999999],
    ['maxGradNorm', 0, 1e30],
  ];
  for (const [field, min, max] of ranges)
    if (!isFiniteIn(hyper[field], min, max))
      throw bad(`hyper.${field}`, `= ${String(hyper[field])}, not a finite number from ${min} to ${max}`);
  if (!isWhole(hyper.warmupSteps, 0, p.totalSteps))
    throw bad(
      'hyper.warmupSteps',
      `= ${String(hyper.warmupSteps)}, not a whole number from 0 to ${p.totalSteps}`,
    );
  return {
    runId: p.runId,
    step: p.step,
    totalSteps: p.totalSteps,
    seed: p.seed,
    batch: p.batch,
    hyper: {
      optimizer: hyper.optimizer,
      peakLr: hyper.peakLr as number,
      warmupSteps: hyper.warmupSteps,
      weightDecayStart: hyper.weightDecayStart as number,
      weightDecayEnd: hyper.weightDecayEnd as number,
      beta1: hyper.beta1 as number,
      beta2: hyper.beta2 as number,
      maxGradNorm: hyper.maxGradNorm as number,
    },
    dataRngState: p.dataRngState as number,
    maskRngState: p.maskRngState as number,
    optimizerSteps: { decay: steps.decay as number, noDecay: steps.noDecay as number },
  };
}

function parseJson<T>(text: string | undefined, what: string, fileName: string): T {
  if (text === undefined) throw new CheckpointFormatError(`${fileName} has no ${what} in its metadata.`);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new CheckpointFormatError(`${fileName}: the ${what} in its metadata is not valid JSON.`);
  }
}

/** Reads a checkpoint written by `writeTrainerCheckpoint`; throws a sentence on any mismatch. */
export function readTrainerCheckpoint(bytes: Uint8Array, fileName = 'checkpoint'): TrainerCheckpoint {
  // Parsed once: the header is checked here and by loadState, and tensors are views into `bytes`.
  const file = openSafetensors(bytes, fileName);
  if (file.metadata.format !== TRAINER_CHECKPOINT_FORMAT) {
    throw new CheckpointFormatError(
      `${fileName} is not a SparkLab training checkpoint (format "${file.metadata.format ?? 'none'}"); ` +
        'import weights-only files with "import weights" instead.',
    );
  }
  const configJson = parseJson<unknown>(file.metadata.config, 'configuration', fileName);
  if (configJson === null || typeof configJson !== 'object' || Array.isArray(configJson))
    throw new CheckpointFormatError(`${fileName}: the configuration in its metadata is not an object.`);
  const config = validateSparkConfig(configJson as SparkConfig);
  const progress = validateProgress(
    parseJson<unknown>(file.metadata.progress, 'training progress', fileName),
    fileName,
  );
  // The model part goes through the same validation as any state file.
  const { values } = loadState(config, file, fileName, { ignoreUnexpected: true });
  const state = new Map<string, Float32Array>();
  for (const [name, v] of values) state.set(name, Float32Array.from(v));
  const expAvg = new Map<string, Float32Array>();
  const expAvgSq = new Map<string, Float32Array>();
  for (const entry of sparkState(config)) {
    if (entry.kind !== 'param') continue;
    for (const [which, target] of [
      ['expAvg', expAvg],
      ['expAvgSq', expAvgSq],
    ] as const) {
      const t = file.tensor(`${MOMENT_PREFIXES[which]}${entry.name}`);
      if (t?.dtype !== 'F32' || t.data.length !== entry.shape.reduce((a, b) => a * b, 1)) {
        throw new CheckpointFormatError(
          `${fileName} lacks a valid optimiser moment for ${entry.name}; it cannot resume training.`,
        );
      }
      // F32 stays F32: a view-free copy keeps the bits.
      target.set(
        entry.name,
        t.data instanceof Float32Array ? t.data.slice() : Float32Array.from(toFloat64Array(t)),
      );
    }
  }
  // Values a run cannot continue from (NaN, infinities, negative variances) are refused here, by name.
  const named = new Map<string, Float32Array>(state);
  for (const [name, data] of expAvg) named.set(`${MOMENT_PREFIXES.expAvg}${name}`, data);
  for (const [name, data] of expAvgSq) named.set(`${MOMENT_PREFIXES.expAvgSq}${name}`, data);
  const bad = findNonFiniteValue(named);
  if (bad) throw new CheckpointFormatError(`${fileName} cannot be restored: ${bad}.`);
  return { config, progress, state, expAvg, expAvgSq };
}
