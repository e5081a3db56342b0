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

import { readSafetensors, type TensorToWrite, toFloat64Array, writeSafetensors } from '../io/safetensors';
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
  const file = readSafetensors(bytes, fileName);
  if (file.metadata.format !== TRAINER_CHECKPOINT_FORMAT) {
    throw new CheckpointFormatError(
      `${fileName} is not a SparkLab training checkpoint (format "${file.metadata.format ?? 'none'}"); ` +
        'import weights-only files with "import weights" instead.',
    );
  }
  const config = validateSparkConfig(parseJson<SparkConfig>(file.metadata.config, 'configuration', fileName));
  const progress = parseJson<TrainerProgress>(file.metadata.progress, 'training progress', fileName);
  // The model part goes through the same validation as any state file.
  const { values } = loadState(config, bytes, fileName, { ignoreUnexpected: true });
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
      const t = file.tensors.get(`${MOMENT_PREFIXES[which]}${entry.name}`);
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
  return { config, progress, state, expAvg, expAvgSq };
}
