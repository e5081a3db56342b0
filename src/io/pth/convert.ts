/**
 * Conversions between an opened official checkpoint and SparkLab's training checkpoint (safetensors),
 * shared by the export CLI and the page.
 */
import { officialInitialState } from '../../models/init';
import { sparkState } from '../../models/official-names';
import type { TrainerCheckpoint, TrainingHyper } from '../../train/checkpoint';
import { Rng } from '../../util/random';
import type { OfficialImport } from './official-read';

export interface ImportProgressOptions {
  runId?: string;
  /** Seed of the continued run's data order and masks (the official file has none); default 0. */
  seed?: number;
  /** Batch of the continued run; default 64. */
  batch?: number;
  /** Length of the continued run; default one step past the file's step count. */
  totalSteps?: number;
}

/**
 * A SparkLab training checkpoint holding exactly the file's weights, buffers, moments and step counters.
 * An encoder-only file gets a freshly initialised decoder (official init, `seed`). The official file has no
 * schedule: the run continues with warm-up 0 from the file's learning rate and weight decay.
 */
export function toTrainerCheckpoint(
  imported: OfficialImport,
  options: ImportProgressOptions = {},
): TrainerCheckpoint {
  const { config, optimizer } = imported;
  const seed = options.seed ?? 0;
  const state = new Map(imported.state);
  if (imported.kind === 'encoder') {
    for (const [name, value] of officialInitialState(config, seed))
      if (!state.has(name)) state.set(name, value);
  }
  const params = sparkState(config).filter((e) => e.kind === 'param');
  const zeros = (name: string) => new Float32Array((state.get(name) as Float32Array).length);
  const expAvg = new Map(params.map((e) => [e.name, optimizer?.expAvg.get(e.name) ?? zeros(e.name)]));
  const expAvgSq = new Map(params.map((e) => [e.name, optimizer?.expAvgSq.get(e.name) ?? zeros(e.name)]));
  const steps = optimizer?.steps ?? { decay: 0, noDecay: 0 };
  const step = Math.max(steps.decay, steps.noDecay);
  const hyper: TrainingHyper = {
    optimizer: optimizer?.name ?? 'lamb',
    peakLr: optimizer && optimizer.lr > 0 ? optimizer.lr : (2e-4 * (options.batch ?? 64)) / 256,
    warmupSteps: 0,
    weightDecayStart: optimizer?.weightDecay ?? 0.04,
    weightDecayEnd: 0.2,
    beta1: optimizer?.betas[0] ?? 0.9,
    beta2: optimizer?.betas[1] ?? (config.backbone.family === 'convnext' ? 0.999 : 0.95),
    maxGradNorm: optimizer?.maxGradNorm ?? 5,
  };
  return {
    config,
    progress: {
      runId: options.runId ?? 'imported',
      step,
      totalSteps: Math.max(options.totalSteps ?? 0, step + 1),
      seed,
      batch: options.batch ?? 64,
      hyper,
      // The generators a fresh SparkLab run of this seed starts from (the trainer derives them the same way).
      dataRngState: new Rng((seed ^ 0x0da7a5ed) >>> 0).getState(),
      maskRngState: new Rng((seed ^ 0x3a5c3a5c) >>> 0).getState(),
      optimizerSteps: { ...steps },
    },
    state,
    expAvg,
    expAvgSq,
  };
}
