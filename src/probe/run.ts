/**
 * One probe experiment, host-agnostic (the CLI and the page's worker drive it): for each arm, weights;
 * for each frozen protocol, pooled features computed once and cached; then k-NN and the linear probe, a
 * label-shuffled control and the chance level.
 *
 * Arms, compared at the same seed and probe settings:
 *   random      the official initial weights for `seed` — exactly those the SparK arms start from (the
 *               hash of their encoder tensors is `initHash`); BN running statistics 0 / 1
 *   sparse      SparK pre-trained `pretrainSteps` steps with the sparse encoder
 *   dense-zero  the same run with zero-outing (dense convs on the masked image)
 *   checkpoint  weights given by the caller (a saved run, or an encoder file with official names)
 */
import type { Dataset } from '../data/datasets';
import type { Gpu } from '../gpu/runtime';
import type { SparkConfig } from '../models/config';
import { officialInitialState } from '../models/init';
import type { OptimizerName } from '../train/checkpoint';
import { Trainer } from '../train/trainer';
import { Rng } from '../util/random';
import { chanceLevel, type ProbeData, shuffled } from './data';
import { DenseEncoder, type PoolScales } from './encoder';
import { extractFeatures, type FeatureSet } from './features';
import { finetune } from './finetune';
import { encoderHash } from './hash';
import { knnAccuracy } from './knn';
import { linearProbe } from './linear';

export const ARMS = ['random', 'sparse', 'dense-zero', 'checkpoint'] as const;
export type ArmName = (typeof ARMS)[number];
export const PROTOCOLS = ['knn', 'linear', 'finetune'] as const;
/** The protocols that read frozen features (fine-tuning trains its own copy of the encoder). */
const FROZEN: readonly ProtocolName[] = ['knn', 'linear'];
export type ProtocolName = (typeof PROTOCOLS)[number];

export type WeightState = ReadonlyMap<string, ArrayLike<number>>;

export interface Score {
  accuracy: number;
  /** Probe-test images scored. */
  samples: number;
}

export interface ProbeSettings {
  /** `standardize`: the features standardised by probe-train statistics before the cosine (./knn.ts). */
  knn: { k: number; temperature: number; standardize: boolean };
  linear: { epochs: number; batch: number; lr: number; weightDecay: number };
  /** Fine-tuning (./finetune.ts): steps (the cap), batch, layer-wise lr decay; lr and optimiser by family. */
  finetune: { steps: number; batch: number; layerDecay: number; lr?: number };
  /** Images per encoder forward when extracting features. */
  featureBatch: number;
  pool: PoolScales;
}

export const DEFAULT_PROBE_SETTINGS: ProbeSettings = {
  knn: { k: 20, temperature: 0.07, standardize: true },
  linear: { epochs: 30, batch: 256, lr: 0.05, weightDecay: 0 },
  finetune: { steps: 200, batch: 32, layerDecay: 0.7 },
  featureBatch: 256,
  // Every scale concatenated: on the tiny preset the last map alone has only 32 channels (docs/PROBE.md).
  pool: 'all',
};

export interface PretrainSettings {
  steps: number;
  batch: number;
  lr?: number;
  optimizer?: OptimizerName;
  dataset: Dataset;
  /** Weights to start pre-training from instead of the official initialisation (official names). */
  init?: WeightState;
}

export type ProbeEvent =
  | { type: 'arm'; arm: ArmName; initHash?: string }
  | { type: 'pretrain'; arm: ArmName; step: number; steps: number; loss: number }
  | { type: 'features'; arm: ArmName; split: 'train' | 'test'; done: number; total: number }
  | {
      type: 'finetune';
      arm: ArmName;
      step: number;
      steps: number;
      /** Every 10th step: the training batch's mean cross-entropy and accuracy (train-mode BN). */
      batchLoss?: number;
      batchAccuracy?: number;
    }
  | {
      type: 'finetuned';
      arm: ArmName;
      control: boolean;
      testLoss: number;
      /** Probe-test images assigned to each class. */
      predicted: number[];
    }
  | {
      type: 'result';
      arm: ArmName;
      protocol: ProtocolName;
      accuracy: number;
      samples: number;
      chance: number;
      seconds: number;
    }
  | {
      type: 'control';
      arm: ArmName;
      protocol: ProtocolName;
      accuracy: number;
      samples: number;
      chance: number;
    }
  | { type: 'message'; message: string };

export interface ProbeOptions {
  gpu: Gpu;
  /** The base configuration (its `encoder` is set per arm). */
  config: SparkConfig;
  data: ProbeData;
  arms: readonly ArmName[];
  protocols: readonly ProtocolName[];
  seed: number;
  pretrain?: PretrainSettings;
  checkpoint?: WeightState;
  settings?: Partial<ProbeSettings>;
  /** Runs the label-shuffled control on the first arm (default true). */
  shuffledControl?: boolean;
  onEvent?: (event: ProbeEvent) => void;
  /** Checked between steps; a true answer stops the run with `ProbeCancelled`. */
  cancelled?: () => boolean;
}

export interface ProbeSummary {
  results: Partial<Record<ArmName, Partial<Record<ProtocolName, Score>>>>;
  probeTrain: number;
  probeTest: number;
  classes: number;
  chance: number;
  shuffledControl?: { arm: ArmName } & Partial<Record<ProtocolName, Score>>;
  initHash: string;
}

export class ProbeCancelled extends Error {
  constructor() {
    super('The probe was stopped.');
    this.name = 'ProbeCancelled';
  }
}

/** Pre-trains one SparK arm and returns its final weights (official names). */
export async function pretrainArm(
  gpu: Gpu,
  config: SparkConfig,
  mode: 'sparse' | 'dense-zero',
  seed: number,
  settings: PretrainSettings,
  onStep?: (step: number, loss: number) => void,
  cancelled?: () => boolean,
): Promise<Map<string, Float32Array>> {
  const trainer = await Trainer.create(gpu, {
    config: { ...config, encoder: mode },
    batch: settings.batch,
    totalSteps: settings.steps,
    seed,
    dataset: settings.dataset,
    optimizer: settings.optimizer,
    lr: settings.lr,
    checkpointEvery: 0,
    metricsEvery: 10,
    onEvent: (event) => {
      if (event.type === 'metrics') onStep?.(event.metrics.step, event.metrics.loss);
    },
  });
  try {
    if (settings.init) trainer.model.loadState(new Map(settings.init));
    let rollbacks = 0;
    while (trainer.step < trainer.totalSteps) {
      if (cancelled?.()) throw new ProbeCancelled();
      const outcome = await trainer.run(Math.min(10, trainer.totalSteps - trainer.step));
      if (outcome.status === 'paused' && ++rollbacks > 5)
        throw new Error(`Pre-training the ${mode} arm diverged (5 non-finite steps in a row); lower its lr.`);
      if (outcome.status === 'completed') rollbacks = 0;
    }
    return await trainer.model.exportState();
  } finally {
    trainer.destroy();
  }
}

export async function runProbe(options: ProbeOptions): Promise<ProbeSummary> {
  const { gpu, config, data, seed } = options;
  const settings: ProbeSettings = { ...DEFAULT_PROBE_SETTINGS, ...options.settings };
  const emit = options.onEvent ?? (() => {});
  const classes = data.classes.length;
  const chance = chanceLevel(data.test.labels, classes);
  const initial = options.pretrain?.init ?? officialInitialState(config, seed);
  const initHash = encoderHash(config, initial);
  const summary: ProbeSummary = {
    results: {},
    probeTrain: data.train.count,
    probeTest: data.test.count,
    classes,
    chance,
    initHash,
  };
  const check = () => {
    if (options.cancelled?.()) throw new ProbeCancelled();
  };
  // No larger than the biggest split: a small probe set would otherwise pay for a batch of padding.
  const featureBatch = Math.min(settings.featureBatch, Math.max(data.train.count, data.test.count));
  const encoder = new DenseEncoder(gpu, config, featureBatch, { pool: settings.pool });
  try {
    for (const arm of options.arms) {
      check();
      emit({ type: 'arm', arm, ...(arm === 'random' ? { initHash } : {}) });
      let state: WeightState;
      if (arm === 'random') state = initial;
      else if (arm === 'checkpoint') {
        if (!options.checkpoint) throw new Error('The checkpoint arm needs weights (--checkpoint).');
        state = options.checkpoint;
      } else {
        const pretrain = options.pretrain;
        if (!pretrain) throw new Error(`The ${arm} arm needs pre-training settings.`);
        state = await pretrainArm(
          gpu,
          config,
          arm,
          seed,
          pretrain,
          (step, loss) => emit({ type: 'pretrain', arm, step, steps: pretrain.steps, loss }),
          options.cancelled,
        );
      }
      encoder.loadState(state);
      const features: Record<'train' | 'test', FeatureSet | undefined> = {
        train: undefined,
        test: undefined,
      };
      if (options.protocols.some((p) => FROZEN.includes(p)))
        for (const split of ['train', 'test'] as const) {
          features[split] = await extractFeatures(gpu, encoder, data[split], (done, total) => {
            check();
            emit({ type: 'features', arm, split, done, total });
          });
        }
      const armState = state;
      const scores: Partial<Record<ProtocolName, Score>> = {};
      const score = async (protocol: ProtocolName, trainLabels?: Int32Array): Promise<number> => {
        if (protocol === 'finetune') {
          const tuned = await finetune(gpu, config, armState, data.train, data.test, {
            classes,
            seed,
            ...settings.finetune,
            pool: settings.pool,
            trainLabels,
            cancelled: options.cancelled,
            onStep: (step, steps, batch) =>
              emit({
                type: 'finetune',
                arm,
                step,
                steps,
                ...(batch ? { batchLoss: batch.loss, batchAccuracy: batch.accuracy } : {}),
              }),
          });
          emit({
            type: 'finetuned',
            arm,
            control: trainLabels !== undefined,
            testLoss: tuned.testLoss,
            predicted: tuned.predicted,
          });
          return tuned.accuracy;
        }
        const train = features.train as FeatureSet;
        const test = features.test as FeatureSet;
        if (protocol === 'knn') return knnAccuracy(train, test, { classes, ...settings.knn, trainLabels });
        return (await linearProbe(gpu, train, test, { classes, seed, ...settings.linear, trainLabels }))
          .accuracy;
      };
      for (const protocol of options.protocols) {
        check();
        const started = performance.now();
        const accuracy = await score(protocol);
        scores[protocol] = { accuracy, samples: data.test.count };
        const seconds = (performance.now() - started) / 1000;
        emit({ type: 'result', arm, protocol, accuracy, samples: data.test.count, chance, seconds });
      }
      summary.results[arm] = scores;
      if ((options.shuffledControl ?? true) && !summary.shuffledControl) {
        // The control: the same features and settings, probe-train labels permuted (seeded).
        const order = shuffled(data.train.count, new Rng(seed ^ 0x5a5a5a5a));
        const labels = Int32Array.from(order, (i) => data.train.labels[i]);
        const control: ProbeSummary['shuffledControl'] = { arm };
        for (const protocol of options.protocols) {
          check();
          const accuracy = await score(protocol, labels);
          control[protocol] = { accuracy, samples: data.test.count };
          emit({ type: 'control', arm, protocol, accuracy, samples: data.test.count, chance });
        }
        summary.shuffledControl = control;
      }
    }
  } finally {
    encoder.destroy();
  }
  return summary;
}

export { encoderHash };
