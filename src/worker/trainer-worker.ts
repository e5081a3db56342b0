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
import type { RgbImage } from '../data/image';
import { type DecodeImage, ImageCollection, type ImageSource, readImageSources } from '../data/image-set';
import { acquireDevice } from '../gpu/device';
import { Gpu } from '../gpu/runtime';
import type { CheckpointMeta, CheckpointStore, JsonValue } from '../io/checkpoint-store';
import { IndexedDbCheckpointStore } from '../io/checkpoint-store-idb';
import { officialCheckpoint, officialEncoderCheckpoint } from '../io/pth/official';
import { readOfficial } from '../io/pth/official-read';
import { readPthBytes } from '../io/pth/read';
import { writePth } from '../io/pth/write';
import { concatChunks } from '../io/pth/zip-write';
import { runSettingsMeta, storedRunConfig, validateRunConfig } from '../io/run-settings';
import { readSafetensors } from '../io/safetensors';
import { exportEncoderTimm, loadState, saveState } from '../io/state';
import { ConfigError, type SparkConfig, totalStride } from '../models/config';
import { sparkState } from '../models/official-names';
import { PRESET_TRAINING, PRESETS, type PresetName } from '../models/presets';
import { findNonFiniteValue, readTrainerCheckpoint } from '../train/checkpoint';
import { sparkParameterCount } from '../train/flops';
import { Trainer, type TrainerEvent, validateTrainingSetup } from '../train/trainer';
import {
  type CheckpointViewOptions,
  type CheckpointViewResult,
  viewCheckpointFile,
} from './checkpoint-viewer';
import { describeFailure } from './failures';
import type { CustomReconRequest, ImageReconRequest, LabWorkerApi, WatchEvalRequest } from './lab-protocol';
import { LabService } from './lab-service';
import { AsyncMutex } from './mutex';
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

export class TrainerWorker implements TrainerWorkerApi, LabWorkerApi {
  private readonly hub = new EventHub();
  private gpu?: Gpu;
  private trainer?: Trainer;
  private runConfig?: RunConfig;
  private runId = '';
  private state: RunState = 'unconfigured';
  /** The background step loop of `start`. It holds no lock: every locked call that needs the trainer stops it. */
  private loop?: Promise<void>;
  /** True while a `step` call runs the trainer (a pause asks it to stop early). */
  private stepping = false;
  private images?: ImageCollection;
  /** Serialises every call that touches the trainer or the run (./mutex.ts). */
  private readonly lock = new AsyncMutex();
  /** Watch set, yardstick and hand-edited masks (./lab-service.ts); they run under the lock, loop stopped. */
  private readonly lab = new LabService({
    loadDataset: (config, imageSize) => this.dataset(config, imageSize, []),
    current: () =>
      this.trainer && this.runConfig
        ? { trainer: this.trainer, runId: this.runId, runConfig: this.runConfig }
        : undefined,
    whilePaused: (work) => this.lock.run(() => this.whilePaused(() => work())),
  });

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

  private warn(kind: string, message: string): void {
    this.emit({ type: 'warning', runId: this.runId, kind, message });
  }

  /** Ends the run with a sentence: state `failed` and an error event whose kind names the failure. */
  private fail(error: unknown): void {
    const { kind, message } = describeFailure(error);
    this.setState('failed');
    this.emit({ type: 'error', runId: this.runId, kind, message });
  }

  private requireTrainer(): Trainer {
    if (!this.trainer) throw new Error('Configure a run first.');
    return this.trainer;
  }

  configure(config: RunConfig): Promise<ConfigureResult> {
    return this.lock.run(async () => {
      // Settings come from the page, links and stored checkpoints: every field is checked before use.
      validateRunConfig(config);
      const wasRunning = await this.stopLoop();
      try {
        const built = await this.buildRun(config);
        return this.adopt(built);
      } catch (error) {
        // The current run is untouched: it goes on as before.
        if (wasRunning) this.startLoop();
        throw error;
      }
    });
  }

  /**
   * Builds a run without touching the current one: every number is checked, against the adapter's limits
   * too, before the GPU or the data are touched, and the new trainer exists before the old one is destroyed.
   */
  private async buildRun(
    config: RunConfig,
    identity: { runId?: string; checkpointName?: string } = {},
  ): Promise<{ trainer: Trainer; config: RunConfig; runId: string; result: ConfigureResult }> {
    const model = resolveModel(config);
    validateTrainingSetup(model, config.batchSize, config.steps);
    if (!this.gpu || this.gpu.isLost) this.gpu = await this.host.createGpu();
    validateTrainingSetup(model, config.batchSize, config.steps, this.gpu.device.limits);
    const warnings: string[] = [];
    const dataset = await this.dataset(config, model.inputSize, warnings);
    const runId = identity.runId ?? newRunId();
    const trainer = await this.createTrainer(model, config, dataset, runId, identity.checkpointName ?? runId);
    const result = {
      runId,
      parameterCount: sparkParameterCount(model),
      model,
      warnings,
      runConfig: structuredClone(config),
    };
    return { trainer, config: structuredClone(config), runId, result };
  }

  /** Makes a built run the current one and frees the one it replaces. */
  private adopt(built: { trainer: Trainer; config: RunConfig; runId: string; result: ConfigureResult }) {
    const old = this.trainer;
    this.trainer = built.trainer;
    this.runConfig = built.config;
    this.runId = built.runId;
    if (old) {
      try {
        old.destroy();
      } catch {
        // A run on a lost device has nothing left to free.
      }
    }
    this.setState('idle');
    return built.result;
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

  private createTrainer(
    model: SparkConfig,
    config: RunConfig,
    dataset: Dataset,
    runId: string,
    checkpointName: string,
  ): Promise<Trainer> {
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
      checkpointName,
      checkpointMeta: runSettingsMeta(config) as unknown as CheckpointMeta,
      runId,
      createGpu: async () => {
        this.gpu = await this.host.createGpu();
        return this.gpu;
      },
      onEvent: (event) => this.onTrainerEvent(event),
    });
  }

  private onTrainerEvent(event: TrainerEvent): void {
    const runId = this.runId;
    if (event.type === 'metrics') this.emit({ type: 'metrics', runId, metrics: event.metrics });
    else if (event.type === 'rolled-back') this.emit({ ...event, runId });
    else if (event.type === 'paused') this.emit({ ...event, runId });
    else if (event.type === 'device-lost') {
      // The run's state is the worker's to announce: the call or the loop that met the loss goes on.
      this.emit({ ...event, runId });
    } else if (event.type === 'store-failed') {
      this.warn(
        'checkpoint-failed',
        `The checkpoint of step ${event.step} could not be stored (${event.message}). Training goes on; ` +
          `the last good checkpoint (step ${event.keptStep}) is kept in memory, but it will not survive a reload.`,
      );
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
  }

  // ------------------------------------------------------------------ the step loop

  start(): Promise<void> {
    return this.lock.run(async () => this.startLoop());
  }

  /** Starts the background loop (call with the lock held, or from a locked call's clean-up). */
  private startLoop(): void {
    const trainer = this.requireTrainer();
    if (this.loop) return;
    if (this.state !== 'running') this.setState('running');
    this.loop = (async () => {
      try {
        const outcome = await trainer.run();
        if (outcome.status === 'completed') {
          await trainer.checkpoint();
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
        this.fail(error);
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

  /**
   * Runs `work` with the loop stopped (the trainer is not re-entrant), then restarts it if it was running.
   * A device lost before or during `work` is recovered (the last checkpoint restored) and `work` runs again.
   */
  private async whilePaused<T>(work: (trainer: Trainer) => Promise<T>): Promise<T> {
    const trainer = this.requireTrainer();
    const wasRunning = await this.stopLoop();
    try {
      return await this.recovering(trainer, () => work(trainer));
    } finally {
      if (wasRunning && this.state === 'running' && trainer.step < trainer.totalSteps) this.startLoop();
    }
  }

  /** Runs `work`; after a device loss, recovers the trainer on a new device and runs it once more. */
  private async recovering<T>(trainer: Trainer, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (!trainer.gpu.isLost) throw error;
      const previous = this.state;
      this.setState('recovering');
      try {
        await trainer.recoverIfLost();
      } catch (failure) {
        this.fail(failure);
        throw failure;
      }
      if (this.state === 'recovering') this.setState(previous);
      return await work();
    }
  }

  pause(): Promise<void> {
    // The loop or a step in progress is told at once, not after the calls queued before this one.
    if (this.loop || this.stepping) this.trainer?.requestStop();
    return this.lock.run(async () => {
      const trainer = this.requireTrainer();
      if (!(await this.stopLoop()) || this.state !== 'running') return;
      // Pause always ends paused: a checkpoint that cannot be taken or stored is a warning, and a device
      // lost while pausing is recovered from the last checkpoint.
      try {
        await this.recovering(trainer, () => trainer.checkpoint());
      } catch (error) {
        if ((this.state as RunState) === 'failed') return;
        this.warn(
          'checkpoint-failed',
          `Paused, but the checkpoint of step ${trainer.step} could not be taken (${(error as Error).message}).`,
        );
      }
      this.setState('paused');
      this.emit({
        type: 'paused',
        runId: this.runId,
        step: trainer.step,
        reason: 'user',
        message: 'Paused.',
      });
    });
  }

  step(n: number): Promise<StepResult> {
    return this.lock.run(async () => {
      const trainer = this.requireTrainer();
      if (this.loop) throw new Error('Pause the run before stepping it by hand.');
      if (!Number.isInteger(n) || n < 1)
        throw new RangeError(`Step a whole number of times (at least 1), not ${n}.`);
      this.stepping = true;
      try {
        const outcome = await trainer.run(n);
        if (outcome.status === 'paused') this.setState('paused');
      } catch (error) {
        this.fail(error);
        throw error;
      } finally {
        this.stepping = false;
      }
      return { step: trainer.step, metrics: trainer.lastMetrics };
    });
  }

  reset(): Promise<string> {
    return this.lock.run(async () => {
      const config = this.runConfig;
      if (!config) throw new Error('Configure a run first.');
      const wasRunning = await this.stopLoop();
      const replaced = this.trainer?.checkpointName;
      try {
        this.adopt(await this.buildRun(config));
      } catch (error) {
        if (wasRunning) this.startLoop();
        throw error;
      }
      // The replaced run's checkpoints would otherwise stay in the browser's storage for ever.
      if (replaced) {
        try {
          await this.host.store.delete(replaced);
        } catch (error) {
          this.warn(
            'storage',
            `The replaced run's checkpoint could not be deleted: ${(error as Error).message}`,
          );
        }
      }
      return this.runId;
    });
  }

  setMaskRatio(ratio: number): Promise<void> {
    return this.lock.run(() => this.whilePaused((trainer) => trainer.setMaskRatio(ratio)));
  }

  snapshot(images = 4): Promise<Snapshot> {
    return this.lock.run(async () => {
      const trainer = this.requireTrainer();
      // While training, the loop hands over its state at the next step boundary and carries on.
      const shot = this.loop
        ? await trainer.snapshotAtStepBoundary()
        : await this.recovering(trainer, async () => {
            // Before the first step nothing went through the model: show it a held-out batch (eval mode).
            if (!trainer.hasShown)
              await trainer.evaluate(trainer.options.dataset.heldOutBatch(trainer.batch));
            return trainer.snapshot();
          });
      return this.toSnapshot(trainer, shot, images);
    });
  }

  private toSnapshot(
    trainer: Trainer,
    shot: Awaited<ReturnType<Trainer['snapshot']>>,
    images: number,
  ): Snapshot {
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
      step: shot.step ?? trainer.step,
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

  // ------------------------------------------------------------------ the lab (./lab-service.ts)

  watchImages(config: RunConfig, offset: number, count: number) {
    return this.lab.watchImages(config, offset, count).then(withTransfer);
  }

  evaluateWatch(request: WatchEvalRequest) {
    return this.lab.evaluateWatch(request).then(withTransfer);
  }

  reconstructCustom(request: CustomReconRequest) {
    return this.lab.reconstructCustom(request).then(withTransfer);
  }

  reconstructImage(request: ImageReconRequest) {
    return this.lab.reconstructImage(request).then(withTransfer);
  }

  // ------------------------------------------------------------------ weights and checkpoints

  exportWeights(): Promise<Uint8Array> {
    return this.lock.run(async () => {
      const values = await this.whilePaused((trainer) => trainer.model.exportState());
      const trainer = this.requireTrainer();
      return withTransfer(
        saveState(trainer.config, values, { runId: this.runId, step: String(trainer.step) }),
      );
    });
  }

  exportEncoder(): Promise<Uint8Array> {
    return this.lock.run(async () => {
      const values = await this.whilePaused((trainer) => trainer.model.exportState());
      const trainer = this.requireTrainer();
      return withTransfer(exportEncoderTimm(trainer.config, values, { runId: this.runId }));
    });
  }

  exportPth(format: 'official-pth' | 'timm-pth'): Promise<Uint8Array> {
    return this.lock.run(async () => {
      const captured = await this.whilePaused((trainer) => trainer.capture());
      const root =
        format === 'official-pth'
          ? officialCheckpoint(captured, { sbn: false, epoch: -1 })
          : officialEncoderCheckpoint(captured.config, captured.state);
      return withTransfer(concatChunks(writePth(root)));
    });
  }

  importWeights(bytes: Uint8Array): Promise<ImportResult> {
    return this.lock.run(async () => {
      const trainer = this.requireTrainer();
      if (bytes[0] === 0x50 && bytes[1] === 0x4b) return this.importPth(bytes, trainer);
      const file = readSafetensors(bytes, 'the imported file');
      const known = new Set(sparkState(trainer.config).map((e) => e.name));
      const unexpected = [...file.tensors.keys()].filter((name) => !known.has(name));
      // Throws a sentence naming the first missing or mis-shaped tensor, before anything is changed.
      const { values } = loadState(trainer.config, bytes, 'the imported file', { ignoreUnexpected: true });
      // NaN, infinities, values beyond f32 and negative variances would poison the run (and the next
      // rollback would silently undo the import): refused, naming the tensor and the index.
      const bad = findNonFiniteValue(values);
      if (bad) throw new ConfigError(`The imported file cannot be used: ${bad}.`);
      await this.whilePaused((trainer) => trainer.importState(values));
      return { loaded: values.size, unexpected, missing: [] };
    });
  }

  /**
   * A PyTorch .pth (an official SparK checkpoint, a flat state dict, or a timm-style encoder, which replaces
   * the encoder and keeps the rest) into the current run's configuration; read without executing anything
   * (src/io/pth). Runs inside the caller's lock.
   */
  private async importPth(bytes: Uint8Array, trainer: Trainer): Promise<ImportResult> {
    const archive = await readPthBytes(bytes, 'the imported file');
    const imported = await readOfficial(archive, { config: trainer.config, withOptimizer: false });
    const values = new Map<string, Float32Array>();
    if (imported.kind === 'encoder') {
      const current = await this.whilePaused((t) => t.model.exportState());
      for (const [name, value] of current) values.set(name, value);
    }
    for (const [name, value] of imported.state) values.set(name, value);
    const bad = findNonFiniteValue(values);
    if (bad)
      throw new ConfigError(`The imported file cannot be used: ${bad}. The current weights are unchanged.`);
    await this.whilePaused((t) => t.importState(values));
    return { loaded: imported.state.size, unexpected: [], missing: [] };
  }

  saveCheckpoint(name?: string): Promise<CheckpointInfo> {
    return this.lock.run(async () => {
      const trainer = this.requireTrainer();
      const target = name ?? trainer.checkpointName;
      await this.whilePaused((t) => t.checkpoint(target, { requireStored: true }));
      const info = (await this.host.store.list()).find((c) => c.name === target);
      if (!info) throw new Error(`The checkpoint "${target}" was not found after saving it.`);
      return this.info(info);
    });
  }

  /**
   * Restores a stored checkpoint, all or nothing: the file is read and validated, and a run of another
   * configuration (after a page reload there is no run yet) is built and restored aside, before the current
   * run is replaced. The resumed run keeps its run id and goes on saving under the checkpoint's name.
   */
  restoreCheckpoint(name: string): Promise<CheckpointInfo> {
    return this.lock.run(async () => {
      const { info, bytes } = await this.host.store.load(name);
      const saved = storedRunConfig(info.meta, name);
      const checkpoint = readTrainerCheckpoint(bytes, name);
      const current = this.trainer;
      const sameRun =
        current &&
        JSON.stringify(current.config) === JSON.stringify(checkpoint.config) &&
        current.batch === checkpoint.progress.batch;
      const wasRunning = await this.stopLoop();
      try {
        if (sameRun) {
          await this.recovering(current, () => current.restoreBytes(bytes, name));
          current.checkpointName = name;
          this.runId = current.runId;
          this.setState('paused');
        } else {
          if (!saved)
            throw new ConfigError(
              `The checkpoint "${name}" does not say which data it was trained on; configure the run first.`,
            );
          const built = await this.buildRun(
            { ...saved, model: checkpoint.config, steps: checkpoint.progress.totalSteps },
            { runId: checkpoint.progress.runId, checkpointName: name },
          );
          try {
            await built.trainer.restoreBytes(bytes, name);
          } catch (error) {
            built.trainer.destroy();
            throw error;
          }
          this.adopt(built);
          this.setState('paused');
        }
      } catch (error) {
        if (wasRunning && this.state === 'running') this.startLoop();
        throw error;
      }
      return this.info(info);
    });
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

  // ------------------------------------------------------------------ viewing other checkpoints

  viewCheckpoint(
    file: Blob,
    options: CheckpointViewOptions,
    onProgress?: (bytesRead: number, bytesTotal: number) => void,
  ): Promise<CheckpointViewResult> {
    return this.lock.run(async () => {
      // The viewing model shares the device with the run: the run's loop waits while it evaluates.
      const wasRunning = await this.stopLoop();
      try {
        if (!this.gpu || this.gpu.isLost) this.gpu = await this.host.createGpu();
        const photos = async (size: number) => {
          const dataset = await this.host.loadDataset({ data: { kind: 'photos' } } as RunConfig, size);
          const set = dataset as unknown as { train?: RgbImage[]; heldOut?: RgbImage[] };
          return [...(set.train ?? []), ...(set.heldOut ?? [])];
        };
        return withTransfer(
          await viewCheckpointFile(
            this.gpu,
            file,
            { user: this.images?.images ?? [], photos },
            options,
            onProgress,
          ),
        );
      } finally {
        if (
          wasRunning &&
          this.state === 'running' &&
          this.trainer &&
          this.trainer.step < this.trainer.totalSteps
        )
          this.startLoop();
      }
    });
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
