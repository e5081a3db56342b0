/**
 * The training Web Worker: `TrainerWorkerApi` (./protocol.ts) on top of the host-agnostic Trainer. Thin on
 * purpose: the trainer does the work; this file maps calls and events, owns the step loop's life cycle and
 * builds snapshots for the UI. Host services (device, checkpoint store, datasets, image decoding) are
 * injected, so the same class runs under Node in tests; the browser wiring is at the bottom.
 */

import { fashionMnistDatasetBrowser, photoDatasetBrowser } from '../data/builtin-browser';
import type { Dataset } from '../data/datasets';
import { userPhotoDataset } from '../data/datasets';
import { decodeImageBrowser } from '../data/decode-browser';
import { pixelHistograms } from '../data/histogram';
import { type DecodeImage, ImageCollection, type ImageSource, readImageSources } from '../data/image-set';
import { acquireDevice } from '../gpu/device';
import { Gpu } from '../gpu/runtime';
import type { CheckpointMeta, CheckpointStore, JsonValue } from '../io/checkpoint-store';
import { IndexedDbCheckpointStore } from '../io/checkpoint-store-idb';
import { runSettingsMeta, storedRunConfig, validateRunConfig } from '../io/run-settings';
import { readSafetensors } from '../io/safetensors';
import { exportEncoderTimm, loadState, saveState } from '../io/state';
import { ConfigError, type SparkConfig, totalStride } from '../models/config';
import { sparkState } from '../models/official-names';
import { PRESET_TRAINING, PRESETS, type PresetName } from '../models/presets';
import { readTrainerCheckpoint } from '../train/checkpoint';
import { sparkParameterCount } from '../train/flops';
import { Trainer, validateTrainingSetup } from '../train/trainer';
import {
  type ActiveMap,
  type AddImagesResult,
  type CheckpointInfo,
  type ConfigureResult,
  EventHub,
  exposeTrainer,
  type ImportResult,
  newRunId,
  type RunConfig,
  type RunState,
  type Snapshot,
  type StepResult,
  type TrainerWorkerApi,
  type WorkerEvent,
  type WorkerEventListener,
  withTransfer,
} from './protocol';

export interface WorkerHost {
  createGpu(): Promise<Gpu>;
  store: CheckpointStore;
  /** Built-in datasets (photos, Fashion-MNIST) for a run configuration at an image size. */
  loadDataset(config: RunConfig, imageSize: number): Promise<Dataset>;
  decodeImage: DecodeImage;
}

/** The model a RunConfig describes: its preset (default tiny) with `model` overrides on top. */
export function resolveModel(config: RunConfig): SparkConfig {
  const name = (config.preset ?? 'tiny') as PresetName;
  const base = PRESETS[name];
  if (!base) {
    throw new ConfigError(
      `There is no preset "${config.preset}"; choose one of: ${Object.keys(PRESETS).join(', ')}.`,
    );
  }
  return { ...structuredClone(base), ...structuredClone(config.model ?? {}) } as SparkConfig;
}

export class TrainerWorker implements TrainerWorkerApi {
  private readonly hub = new EventHub();
  private gpu?: Gpu;
  private trainer?: Trainer;
  private runConfig?: RunConfig;
  private runId = '';
  private state: RunState = 'unconfigured';
  private loop?: Promise<void>;
  private images?: ImageCollection;

  constructor(private readonly host: WorkerHost) {}

  /** The run's state as last announced to the UI. */
  get runState(): RunState {
    return this.state;
  }

  private emit(event: WorkerEvent): void {
    this.hub.emit(event);
  }

  private setState(state: RunState): void {
    this.state = state;
    this.emit({ type: 'state', runId: this.runId, state, step: this.trainer?.step ?? 0 });
  }

  private requireTrainer(): Trainer {
    if (!this.trainer) throw new Error('Configure a run first.');
    return this.trainer;
  }

  async configure(config: RunConfig): Promise<ConfigureResult> {
    // Settings come from the page, links and stored checkpoints: every field is checked before use.
    validateRunConfig(config);
    await this.stopLoop();
    const model = resolveModel(config);
    // Every number is checked before the GPU or the data are touched.
    validateTrainingSetup(model, config.batchSize, config.steps);
    const warnings: string[] = [];
    const dataset = await this.dataset(config, model.inputSize, warnings);
    this.gpu ??= await this.host.createGpu();
    this.trainer?.destroy();
    this.trainer = undefined;
    this.runConfig = structuredClone(config);
    this.runId = newRunId();
    this.trainer = await this.createTrainer(model, config, dataset, this.runId);
    this.setState('idle');
    return { runId: this.runId, parameterCount: sparkParameterCount(model), model, warnings };
  }

  private async dataset(config: RunConfig, imageSize: number, warnings: string[]): Promise<Dataset> {
    if (config.data.kind !== 'user') return this.host.loadDataset(config, imageSize);
    if (!this.images) throw new ConfigError('Add some images before training on your own images.');
    const { crop, scale, interpolation, flip } = config.data;
    const dataset = userPhotoDataset(this.images.requireUsable(), {
      imageSize,
      normalization: config.normalization,
      augment: {
        ...(crop ? { crop } : {}),
        ...(scale ? { scale } : {}),
        ...(interpolation ? { interpolation } : {}),
        ...(flip !== undefined ? { flip } : {}),
      },
    });
    if (dataset.heldOutCount < 2)
      warnings.push(
        `Only ${dataset.heldOutCount} of your images is held out, so the held-out loss says little.`,
      );
    return dataset;
  }

  private createTrainer(model: SparkConfig, config: RunConfig, dataset: Dataset, runId: string) {
    const defaults = PRESET_TRAINING[(config.preset ?? 'tiny') as PresetName];
    return Trainer.create(this.gpu as Gpu, {
      config: model,
      batch: config.batchSize,
      totalSteps: config.steps,
      seed: config.seed,
      dataset,
      optimizer: config.optimizer ?? defaults?.optimizer,
      lr: config.lr ?? defaults?.lr,
      weightDecayStart: config.weightDecay,
      metricsEvery: config.metricsEvery ?? 10,
      checkpointEvery: config.checkpointEvery ?? 100,
      store: this.host.store,
      checkpointName: runId,
      checkpointMeta: runSettingsMeta(config) as unknown as CheckpointMeta,
      runId,
      createGpu: async () => {
        this.gpu = await this.host.createGpu();
        return this.gpu;
      },
      onEvent: (event) => {
        const runId = this.runId;
        if (event.type === 'metrics') this.emit({ type: 'metrics', runId, metrics: event.metrics });
        else if (event.type === 'rolled-back') this.emit({ ...event, runId });
        else if (event.type === 'paused') this.emit({ ...event, runId });
        else if (event.type === 'device-lost') {
          this.emit({ ...event, runId });
          if (event.recovered) this.setState(this.loop ? 'running' : 'paused');
        } else if (event.type === 'checkpoint') {
          this.emit({
            type: 'checkpoint',
            runId,
            checkpoint: {
              name: event.name,
              runId,
              step: event.step,
              bytes: event.bytes,
              savedAt: new Date().toISOString(),
            },
          });
        }
      },
    });
  }

  // ------------------------------------------------------------------ the step loop

  async start(): Promise<void> {
    const trainer = this.requireTrainer();
    if (this.loop) return;
    this.setState('running');
    this.loop = (async () => {
      try {
        const outcome = await trainer.run();
        if (outcome.status === 'completed') {
          await trainer.checkpoint(this.runId);
          this.setState('finished');
          this.emit({
            type: 'paused',
            runId: this.runId,
            step: trainer.step,
            reason: 'finished',
            message: `The run finished its ${trainer.totalSteps} steps.`,
          });
        } else if (outcome.status === 'paused') {
          this.setState('paused');
        }
      } catch (error) {
        this.setState('failed');
        this.emit({ type: 'error', runId: this.runId, message: (error as Error).message });
      } finally {
        this.loop = undefined;
      }
    })();
  }

  /** Stops the loop after the step in flight; resolves when nothing runs any more. */
  private async stopLoop(): Promise<boolean> {
    if (!this.loop) return false;
    this.trainer?.requestStop();
    await this.loop;
    return true;
  }

  /** Runs `work` with the loop stopped (the trainer is not re-entrant), then restarts it if it was running. */
  private async paused<T>(work: () => Promise<T>): Promise<T> {
    const wasRunning = await this.stopLoop();
    try {
      return await work();
    } finally {
      if (wasRunning && this.trainer && this.trainer.step < this.trainer.totalSteps) await this.start();
    }
  }

  async pause(): Promise<void> {
    const trainer = this.requireTrainer();
    const wasRunning = await this.stopLoop();
    if (!wasRunning) return;
    await trainer.checkpoint(this.runId);
    this.setState('paused');
    this.emit({ type: 'paused', runId: this.runId, step: trainer.step, reason: 'user', message: 'Paused.' });
  }

  async step(n: number): Promise<StepResult> {
    const trainer = this.requireTrainer();
    if (this.loop) throw new Error('Pause the run before stepping it by hand.');
    if (!Number.isInteger(n) || n < 1)
      throw new RangeError(`Step a whole number of times (at least 1), not ${n}.`);
    await trainer.run(n);
    return { step: trainer.step, metrics: trainer.lastMetrics };
  }

  async reset(): Promise<string> {
    const config = this.runConfig;
    if (!config) throw new Error('Configure a run first.');
    await this.configure(config);
    return this.runId;
  }

  async setMaskRatio(ratio: number): Promise<void> {
    const trainer = this.requireTrainer();
    await this.paused(() => trainer.setMaskRatio(ratio));
  }

  async snapshot(images = 4): Promise<Snapshot> {
    const trainer = this.requireTrainer();
    const shot = await this.paused(async () => {
      // Before the first step nothing went through the model: show it a held-out batch (eval mode).
      if (!trainer.hasShown) await trainer.evaluate(trainer.options.dataset.heldOutBatch(trainer.batch));
      return trainer.snapshot();
    });
    const config = trainer.config;
    const S = config.inputSize;
    const k = Math.max(1, Math.min(images, trainer.batch));
    const plane = 3 * S * S;
    const { mask } = shot;
    const cells = mask.gridH * mask.gridW;
    const maskMap: ActiveMap = {
      stride: totalStride(config.backbone),
      height: mask.gridH,
      width: mask.gridW,
      data: mask.cells.slice(0, k * cells),
    };
    const input = shot.images.slice(0, k * plane);
    const activeMaps: ActiveMap[] = shot.model.active.map(({ size, map }) => ({
      stride: S / size,
      height: size,
      width: size,
      data: map.slice(0, k * size * size),
    }));
    return withTransfer({
      runId: this.runId,
      step: trainer.step,
      images: k,
      size: S,
      normalization: this.runConfig?.normalization ?? {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
      },
      input,
      mask: maskMap,
      maskedInput: shot.model.masked.slice(0, k * plane),
      prediction: shot.model.prediction.slice(0, k * plane),
      composite: shot.model.composite.slice(0, k * plane),
      activeMaps,
      histograms: pixelHistograms(input, k, S, { data: maskMap.data, height: mask.gridH, width: mask.gridW }),
    });
  }

  async subscribe(listener: WorkerEventListener): Promise<number> {
    return this.hub.subscribe(listener);
  }

  async unsubscribe(id: number): Promise<void> {
    this.hub.unsubscribe(id);
  }

  // ------------------------------------------------------------------ weights and checkpoints

  async exportWeights(): Promise<Uint8Array> {
    const trainer = this.requireTrainer();
    const values = await this.paused(() => trainer.model.exportState());
    return withTransfer(saveState(trainer.config, values, { runId: this.runId, step: String(trainer.step) }));
  }

  async exportEncoder(): Promise<Uint8Array> {
    const trainer = this.requireTrainer();
    const values = await this.paused(() => trainer.model.exportState());
    return withTransfer(exportEncoderTimm(trainer.config, values, { runId: this.runId }));
  }

  async importWeights(bytes: Uint8Array): Promise<ImportResult> {
    const trainer = this.requireTrainer();
    const file = readSafetensors(bytes, 'the imported file');
    const known = new Set(sparkState(trainer.config).map((e) => e.name));
    const unexpected = [...file.tensors.keys()].filter((name) => !known.has(name));
    // Throws a sentence naming the first missing or mis-shaped tensor, before anything is changed.
    const { values } = loadState(trainer.config, bytes, 'the imported file', { ignoreUnexpected: true });
    await this.paused(async () => trainer.model.loadState(values));
    return { loaded: values.size, unexpected, missing: [] };
  }

  async saveCheckpoint(name = this.runId): Promise<CheckpointInfo> {
    const trainer = this.requireTrainer();
    await this.paused(() => trainer.checkpoint(name));
    const info = (await this.host.store.list()).find((c) => c.name === name);
    if (!info) throw new Error(`The checkpoint "${name}" was not found after saving it.`);
    return this.info(info);
  }

  /**
   * Restores a stored checkpoint. After a page reload there is no run yet: the run is configured again from
   * the configuration saved with the checkpoint, then restored.
   */
  async restoreCheckpoint(name: string): Promise<CheckpointInfo> {
    const { info, bytes } = await this.host.store.load(name);
    const saved = storedRunConfig(info.meta, name);
    const checkpoint = readTrainerCheckpoint(bytes, name);
    await this.stopLoop();
    const sameRun =
      this.trainer &&
      JSON.stringify(this.trainer.config) === JSON.stringify(checkpoint.config) &&
      this.trainer.batch === checkpoint.progress.batch;
    if (!sameRun) {
      if (!saved)
        throw new ConfigError(
          `The checkpoint "${name}" does not say which data it was trained on; configure the run first.`,
        );
      await this.configure({ ...saved, model: checkpoint.config, steps: checkpoint.progress.totalSteps });
    }
    const trainer = this.requireTrainer();
    await trainer.restoreBytes(bytes, name);
    this.runId = trainer.runId;
    this.setState('paused');
    return this.info(info);
  }

  async listCheckpoints(): Promise<CheckpointInfo[]> {
    return (await this.host.store.list()).map((c) => this.info(c));
  }

  async deleteCheckpoint(name: string): Promise<void> {
    await this.host.store.delete(name);
  }

  private info(stored: {
    name: string;
    bytes: number;
    savedAt: string;
    meta: Record<string, JsonValue>;
  }): CheckpointInfo {
    return {
      name: stored.name,
      runId: String(stored.meta.runId ?? ''),
      step: Number(stored.meta.step ?? 0),
      bytes: stored.bytes,
      savedAt: stored.savedAt,
    };
  }

  // ------------------------------------------------------------------ the user's images

  async addImages(files: ImageSource[]): Promise<AddImagesResult> {
    this.images ??= new ImageCollection(this.host.decodeImage, {
      ...(this.runConfig?.imageBudgetBytes ? { memoryBudgetBytes: this.runConfig.imageBudgetBytes } : {}),
    });
    const { added, skipped } = await this.images.add(await readImageSources(files));
    const result: AddImagesResult = {
      added: added.length,
      skipped,
      total: this.images.images.length,
      cacheBytes: this.images.bytes,
      budgetBytes: this.images.budgetBytes,
    };
    this.emit({ type: 'images', runId: this.runId, result });
    return result;
  }
}

// ---------------------------------------------------------------------- browser wiring

declare const WorkerGlobalScope: unknown;

function browserHost(): WorkerHost {
  return {
    createGpu: async () => new Gpu(await acquireDevice(navigator.gpu, { host: 'browser' }), 'worker'),
    store: new IndexedDbCheckpointStore(),
    decodeImage: decodeImageBrowser,
    loadDataset: (config, imageSize) => {
      const data = config.data;
      if (data.kind === 'fashion-mnist')
        return fashionMnistDatasetBrowser({
          imageSize,
          normalization: config.normalization,
          ...(data.fit ? { fit: data.fit } : {}),
          ...(data.flip !== undefined ? { flip: data.flip } : {}),
        });
      const { crop, scale, interpolation, flip } = data;
      return photoDatasetBrowser({
        imageSize,
        normalization: config.normalization,
        augment: {
          ...(crop ? { crop } : {}),
          ...(scale ? { scale } : {}),
          ...(interpolation ? { interpolation } : {}),
          ...(flip !== undefined ? { flip } : {}),
        },
      });
    },
  };
}

if (typeof WorkerGlobalScope !== 'undefined') {
  // Exposed synchronously while the worker script runs, so no message sent right after start is lost.
  exposeTrainer(new TrainerWorker(browserHost()));
}
