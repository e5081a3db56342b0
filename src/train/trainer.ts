/**
 * The SparK trainer, host-agnostic (the Web Worker and the Node CLI both drive it):
 *
 *   batch (Dataset, seeded) → mask (seeded) → model.setBatch → one submission per step:
 *     clear grads │ pass 1: guard check + backup, forward, loss │ pass 2: backward │ pass 3: LAMB/AdamW │
 *     copy loss and gradient norm into the metrics ring
 *   every `metricsEvery` steps: one asynchronous read-back of the ring (never awaited by the step that issued
 *   it; at most two in flight), which yields the metrics and spots non-finite steps.
 *
 * Reliability:
 * - Non-finite loss or gradient norm: the GPU guard (./trainer-guard.ts) has kept the state of the last
 *   finite step; the trainer discards the bad step (and the steps queued after it), restores that state,
 *   skips the batch that caused it, and pauses with an explanation.
 * - Device lost: a new device comes from the injected factory, the model is rebuilt and the last checkpoint
 *   (kept in memory, and in the store when there is one) is restored; at most the steps since it are redone.
 * - Checkpoints (./checkpoint.ts) every `checkpointEvery` steps, on pause and on demand; a checkpoint is only
 *   taken after the metrics of every step before it were read and found finite.
 *
 * Determinism: the initial weights, the data order/augmentation and the masks come from three generators
 * derived from the seed; the kernels reduce in a fixed order. The same seed on the same adapter gives the same
 * losses, and a restored checkpoint continues bit-identically.
 */
import type { Dataset } from '../data/datasets';
import { fromGpuLayout, toGpuLayout } from '../engine/layout';
import { DeviceLostError, GpuRunError, gpuErrorSentence } from '../gpu/errors';
import { Profiler } from '../gpu/profiler';
import type { Gpu, GpuTensor, ScopedGpuError } from '../gpu/runtime';
import type { CheckpointMeta, CheckpointStore } from '../io/checkpoint-store';
import { ConfigError, gridSize, type SparkConfig, validateSparkConfig } from '../models/config';
import { createSparkModel, type SparkGpuModel, type SparkSnapshot } from '../models/spark-model';
import { type CellMask, randomMask } from '../sparse/mask';
import { Rng } from '../util/random';
import {
  type OptimizerName,
  readTrainerCheckpoint,
  type TrainerCheckpoint,
  type TrainerProgress,
  type TrainingHyper,
  writeTrainerCheckpoint,
} from './checkpoint';
import { largestActivationFloats } from './flops';
import {
  type NonFiniteStep,
  nonFiniteMessage,
  type StepRecord,
  summarizeInterval,
  type TrainingMetrics,
} from './metrics';
import { AdamW, Lamb } from './optim';
import { type Schedule, sparkSchedule } from './schedule';
import { StateGuard } from './trainer-guard';

/** Mask seed of the held-out evaluation: the same masks before and after training, in every run. */
export const HELD_OUT_MASK_SEED = 0x4d41534b;

export type TrainerEvent =
  | { type: 'metrics'; metrics: TrainingMetrics }
  | { type: 'rolled-back'; fromStep: number; toStep: number; message: string }
  | { type: 'paused'; step: number; reason: 'non-finite' | 'device-lost'; message: string }
  | { type: 'device-lost'; message: string; recovered: boolean; resumedFromStep?: number }
  | { type: 'checkpoint'; step: number; name: string; bytes: number }
  /** A checkpoint was taken but the store refused it; `keptStep` is the newest checkpoint held in memory. */
  | { type: 'store-failed'; step: number; name: string; message: string; keptStep: number };

/** What a snapshot shows: the batch the model last saw, its mask and outputs, and the step they belong to. */
export interface TrainerSnapshot {
  step: number;
  images: Float32Array;
  mask: CellMask;
  model: SparkSnapshot;
}

export interface TrainerOptions {
  config: SparkConfig;
  /** Images per step (≥ 2: BatchNorm needs more than one). */
  batch: number;
  /** Length of the run; the lr and weight-decay schedules are scaled to it. */
  totalSteps: number;
  seed: number;
  dataset: Dataset;
  optimizer?: OptimizerName;
  /** Peak learning rate; default: the official base lr 2e-4 scaled by batch/256. */
  lr?: number;
  /** Default: the official 40 of 1600 epochs (2.5 %) of the run. */
  warmupSteps?: number;
  weightDecayStart?: number;
  weightDecayEnd?: number;
  /** LAMB β2: default 0.95 for ResNets and 0.999 for ConvNeXt, as the official recipe. */
  beta2?: number;
  maxGradNorm?: number;
  /** Steps between metric read-backs (default 10). */
  metricsEvery?: number;
  /** Steps between automatic checkpoints; 0 disables them (default 100). */
  checkpointEvery?: number;
  /** Where checkpoints go besides memory (files in Node, IndexedDB in the browser). */
  store?: CheckpointStore;
  checkpointName?: string;
  /** Extra JSON saved with each stored checkpoint (the worker keeps the run configuration there). */
  checkpointMeta?: CheckpointMeta;
  runId?: string;
  /** Gives a fresh device after a device loss (Node: createNodeGpu; browser: acquireDevice). */
  createGpu?: () => Promise<Gpu>;
  /** The model factory (tests may wrap it). */
  createModel?: (gpu: Gpu, config: SparkConfig, batch: number) => SparkGpuModel;
  onEvent?: (event: TrainerEvent) => void;
  /**
   * Draws each step's mask (default: a uniform random mask at the configuration's ratio). The UI's
   * hand-drawn mask and the overfitting test give a fixed one; it must keep the configuration's visible count.
   */
  maskSource?: (batch: number, gridH: number, gridW: number, ratio: number, rng: Rng) => CellMask;
}

/** Why a `run` returned. */
export type RunOutcome =
  | { status: 'completed'; step: number }
  | { status: 'stopped'; step: number }
  | { status: 'paused'; step: number; reason: 'non-finite'; message: string };

/**
 * Checks everything that can be checked before touching the GPU; throws a ConfigError with a sentence.
 * `limits` are the adapter's (gpu.device.limits) when known.
 */
export function validateTrainingSetup(
  config: SparkConfig,
  batch: number,
  totalSteps: number,
  limits?: { maxStorageBufferBindingSize: number; maxBufferSize: number },
): SparkConfig {
  validateSparkConfig(config);
  if (!Number.isInteger(batch) || batch < 2) {
    throw new ConfigError(
      `The batch size must be a whole number of at least 2, got ${batch}: BatchNorm normalises over the ` +
        'images of a batch and has nothing to normalise with one.',
    );
  }
  if (!Number.isInteger(totalSteps) || totalSteps < 1) {
    throw new ConfigError(`The number of training steps must be a positive whole number, got ${totalSteps}.`);
  }
  if (limits) {
    const bytes = largestActivationFloats(config, batch) * 4;
    const limit = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
    if (bytes > limit) {
      const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
      throw new ConfigError(
        `With a batch of ${batch} at ${config.inputSize} px the largest activation needs ${mib(bytes)}, more ` +
          `than this GPU can bind at once (${mib(limit)}). Use a smaller batch, image size or decoder width.`,
      );
    }
  }
  return config;
}

/** Official defaults resolved for a configuration. */
export function resolveHyper(options: TrainerOptions): TrainingHyper {
  const convnext = options.config.backbone.family === 'convnext';
  const warmup = options.warmupSteps ?? Math.round((options.totalSteps * 40) / 1600);
  return {
    optimizer: options.optimizer ?? 'lamb',
    peakLr: options.lr ?? (2e-4 * options.batch) / 256,
    warmupSteps: Math.min(Math.max(0, warmup), options.totalSteps - 1),
    weightDecayStart: options.weightDecayStart ?? 0.04,
    weightDecayEnd: options.weightDecayEnd ?? 0.2,
    beta1: 0.9,
    beta2: options.beta2 ?? (convnext ? 0.999 : 0.95),
    maxGradNorm: options.maxGradNorm ?? 5,
  };
}

/** Everything that lives on one device; rebuilt after a device loss or a configuration change. */
interface DeviceState {
  gpu: Gpu;
  model: SparkGpuModel;
  optimizer: Lamb | AdamW;
  guard: StateGuard;
  /** [metricsEvery · 2] (loss, gradient norm) per step of the current interval. */
  ring: GpuTensor;
  profiler?: Profiler;
  /** Stops listening to the device's uncaptured errors. */
  unlisten: () => void;
}

interface PendingRead {
  generation: number;
  promise: Promise<void>;
}

function isDeviceLoss(error: unknown, gpu: Gpu): boolean {
  return error instanceof DeviceLostError || gpu.isLost;
}

export class Trainer {
  readonly options: TrainerOptions;
  config: SparkConfig;
  readonly batch: number;
  /** Run identity and schedule: a restored checkpoint brings its own. */
  totalSteps: number;
  hyper: TrainingHyper;
  runId: string;
  seed: number;
  readonly metricsEvery: number;
  /** Completed steps. */
  step = 0;
  /** The last metrics read back. */
  lastMetrics?: TrainingMetrics;
  /** Bytes of the last checkpoint (the device-loss fallback). */
  lastCheckpoint?: { step: number; bytes: Uint8Array };

  private device!: DeviceState;
  private schedule: Schedule;
  private readonly dataRng: Rng;
  private readonly maskRng: Rng;
  private readonly images: Float32Array;
  /** The images and mask last given to the model (what a snapshot shows). */
  private shown?: { images: Float32Array; mask: CellMask };
  private interval: StepRecord[] = [];
  /** When the last metrics read-back completed (or the loop started): the start of the next interval. */
  private lastReadDone = performance.now();
  private profiledThisInterval = false;
  private phasePromise?: Promise<Record<string, number> | undefined>;
  private pending: PendingRead[] = [];
  private generation = 0;
  private checkPrevious = false;
  private fault?: NonFiniteStep;
  private stopRequested = false;
  /** A validation or out-of-memory error the GPU reported for this run's work: the run stops on it. */
  private gpuFault?: GpuRunError;
  /** Error-scope results of submitted steps not yet known. */
  private scopeChecks: Promise<void>[] = [];
  /** True while `run` is looping: snapshots are then taken at its next step boundary. */
  private running = false;
  private snapshotRequests: Array<{
    resolve: (shot: TrainerSnapshot) => void;
    reject: (error: unknown) => void;
  }> = [];
  /** The store name of this run's checkpoints (a resumed run keeps the name it was saved under). */
  checkpointName: string;

  private constructor(options: TrainerOptions) {
    this.options = options;
    this.config = structuredClone(options.config);
    this.batch = options.batch;
    this.totalSteps = options.totalSteps;
    this.hyper = resolveHyper(options);
    this.runId = options.runId ?? `run-${options.seed}`;
    this.seed = options.seed;
    this.metricsEvery = Math.max(1, Math.floor(options.metricsEvery ?? 10));
    this.schedule = this.makeSchedule();
    this.dataRng = new Rng((options.seed ^ 0x0da7a5ed) >>> 0);
    this.maskRng = new Rng((options.seed ^ 0x3a5c3a5c) >>> 0);
    const size = this.config.inputSize;
    if (options.dataset.imageSize !== size) {
      throw new ConfigError(
        `The dataset makes ${options.dataset.imageSize}-px images but the model expects ${size} px.`,
      );
    }
    this.images = new Float32Array(this.batch * 3 * size * size);
    this.checkpointName = options.checkpointName ?? 'latest';
  }

  /**
   * Validates the whole setup (before any GPU work), builds the model and the optimiser, and initialises
   * the weights from the seed.
   */
  static async create(gpu: Gpu, options: TrainerOptions): Promise<Trainer> {
    validateTrainingSetup(options.config, options.batch, options.totalSteps);
    validateTrainingSetup(options.config, options.batch, options.totalSteps, gpu.device.limits);
    const trainer = new Trainer(options);
    trainer.device = await trainer.buildChecked(gpu, (device) => device.model.initialize(options.seed));
    // Step 0 is a checkpoint in memory: a rollback or a device loss before the first periodic checkpoint
    // then restores a known state instead of keeping (or inventing) one.
    await trainer.keepInMemory();
    return trainer;
  }

  /**
   * Builds the device objects inside GPU error scopes (and runs `then` on them there, e.g. the weight
   * initialisation); a validation or out-of-memory error frees what was built and throws a GpuRunError.
   */
  private async buildChecked(gpu: Gpu, then?: (device: DeviceState) => void): Promise<DeviceState> {
    const { value: device, error } = gpu.scoped(() => {
      const built = this.build(gpu);
      then?.(built);
      return built;
    });
    const failed = await error;
    if (failed) {
      this.teardownDevice(device);
      gpu.trimPool();
      throw this.gpuRunError(failed, 'building the model');
    }
    return device;
  }

  private gpuRunError(error: ScopedGpuError, what: string): GpuRunError {
    const kept = this.lastCheckpoint
      ? ` The checkpoint of step ${this.lastCheckpoint.step} is kept; resume from it once the cause is fixed.`
      : '';
    return new GpuRunError(
      error.kind,
      what,
      error.message,
      `${gpuErrorSentence(error.kind, what, error.message)}${kept}`,
    );
  }

  /** Records a GPU error of this run's work; the run loop stops on it at the next step boundary. */
  private noteGpuError(error: ScopedGpuError, what: string): void {
    this.gpuFault ??= this.gpuRunError(error, what);
  }

  /** Follows an error scope of submitted work (see Gpu.scoped). */
  private watchScope(error: Promise<ScopedGpuError | undefined>, what: string): void {
    const check = error.then((failed) => {
      if (failed) this.noteGpuError(failed, what);
    });
    this.scopeChecks.push(check);
    void check.finally(() => {
      this.scopeChecks = this.scopeChecks.filter((c) => c !== check);
    });
  }

  private throwIfGpuFault(): void {
    if (this.gpuFault) throw this.gpuFault;
  }

  /** Keeps the current (verified) state as the in-memory checkpoint, without storing it. */
  private async keepInMemory(): Promise<void> {
    this.lastCheckpoint = { step: this.step, bytes: writeTrainerCheckpoint(await this.capture()) };
  }

  get gpu(): Gpu {
    return this.device.gpu;
  }

  get model(): SparkGpuModel {
    return this.device.model;
  }

  get optimizer(): Lamb | AdamW {
    return this.device.optimizer;
  }

  /** This run's schedules, scaled to its length. */
  private makeSchedule(): Schedule {
    return sparkSchedule({
      peakLr: this.hyper.peakLr,
      warmupIterations: this.hyper.warmupSteps,
      totalIterations: this.totalSteps,
      weightDecayStart: this.hyper.weightDecayStart,
      weightDecayEnd: this.hyper.weightDecayEnd,
    });
  }

  private build(gpu: Gpu): DeviceState {
    const factory = this.options.createModel ?? createSparkModel;
    const model = factory(gpu, this.config, this.batch);
    const optimizerConfig = {
      beta1: this.hyper.beta1,
      beta2: this.hyper.beta2,
      maxGradNorm: this.hyper.maxGradNorm,
      // Parameters the configuration never differentiates stay as they are, as in the official run.
      skip: model.unusedParams,
    };
    const optimizer =
      this.hyper.optimizer === 'adamw'
        ? new AdamW(gpu, model.params, optimizerConfig)
        : new Lamb(gpu, model.params, optimizerConfig);
    const guard = new StateGuard(gpu, {
      loss: model.loss,
      gradStats: optimizer.gradStats,
      normIndex: optimizer.gradStats.length - 1,
      state: [
        model.params.whole('values'),
        model.stats.whole('values'),
        optimizer.expAvg,
        optimizer.expAvgSq,
      ],
    });
    const ring = gpu.tensor('trainer.metrics', [this.metricsEvery * 2]);
    const profiler = gpu.hasTimestamps ? new Profiler(gpu, 4) : undefined;
    this.checkPrevious = false;
    // A new model has seen nothing yet.
    this.shown = undefined;
    // Errors of work outside any error scope (uploads, writes) would otherwise go unnoticed.
    const unlisten = gpu.events.on((event) => {
      if (event.kind !== 'device-lost' && event.label === 'uncaptured')
        this.noteGpuError(event, 'GPU work outside an error scope');
    });
    return { gpu, model, optimizer, guard, ring, profiler, unlisten };
  }

  private teardown(): void {
    this.teardownDevice(this.device);
  }

  private teardownDevice(d: DeviceState): void {
    d.unlisten();
    d.profiler?.destroy();
    d.guard.release();
    d.optimizer.release();
    d.gpu.releaseTensor(d.ring);
    d.model.destroy();
  }

  // ------------------------------------------------------------------ the step loop

  /** Asks a running `run` to return after the step in progress (the worker's pause). */
  requestStop(): void {
    this.stopRequested = true;
  }

  /**
   * Runs up to `steps` steps (default: to the end of the run), then waits for their metrics. Returns early
   * on `requestStop()` or when a non-finite step paused the run. A device loss is recovered inside.
   */
  async run(steps = this.totalSteps - this.step): Promise<RunOutcome> {
    this.stopRequested = false;
    this.running = true;
    try {
      return await this.runSteps(steps);
    } catch (error) {
      // The run is over with an error: nobody will serve the snapshots asked for.
      for (const request of this.snapshotRequests.splice(0)) request.reject(error);
      throw error;
    } finally {
      this.running = false;
    }
  }

  private async runSteps(steps: number): Promise<RunOutcome> {
    if (this.pending.length === 0) this.lastReadDone = performance.now();
    const target = Math.min(this.totalSteps, this.step + Math.max(0, steps));
    while (true) {
      try {
        while (this.step < target && !this.fault && !this.stopRequested) {
          this.encodeStep();
          this.throwIfGpuFault();
          if (this.interval.length >= this.metricsEvery) this.issueRead();
          // Back-pressure: never more than two intervals ahead of the GPU; awaiting also lets a pause in.
          while (this.pending.length >= 2) await this.pending[0].promise;
          this.throwIfGpuFault();
          const every = this.options.checkpointEvery ?? 100;
          if (every > 0 && this.step % every === 0 && this.step < this.totalSteps && !this.fault) {
            // Only a verified state is saved: the flush may reveal a non-finite step, handled below instead.
            await this.flush();
            if (!this.fault) await this.checkpoint();
          }
          // A snapshot asked for while training is read here, between two steps, without stopping.
          await this.serveSnapshots();
        }
        await this.flush();
        if (this.fault) {
          const message = await this.rollback();
          await this.serveSnapshots();
          return { status: 'paused', step: this.step, reason: 'non-finite', message };
        }
        await this.serveSnapshots();
        return { status: this.step >= target ? 'completed' : 'stopped', step: this.step };
      } catch (error) {
        if (!isDeviceLoss(error, this.device.gpu)) throw error;
        await this.recoverDevice(error as Error);
      }
    }
  }

  /** Records and submits one step inside GPU error scopes; no await, no read-back. */
  private encodeStep(): void {
    const { gpu } = this.device;
    gpu.assertAlive();
    const { error } = gpu.scoped(() => this.encodeStepWork());
    this.watchScope(error, `step ${this.step}`);
  }

  private encodeStepWork(): void {
    const { gpu, model, optimizer, guard, ring, profiler } = this.device;
    const iteration = this.step;
    const record: StepRecord = {
      step: iteration + 1,
      lr: this.schedule.lr(iteration),
      weightDecay: this.schedule.weightDecay(iteration),
      dataRngBefore: this.dataRng.getState(),
      dataRngAfter: 0,
      maskRngBefore: this.maskRng.getState(),
      maskRngAfter: 0,
      batchesTracked: [...model.batchesTracked],
      optimizerSteps: { ...optimizer.steps },
    };
    this.options.dataset.trainBatch(this.batch, this.dataRng, this.images);
    const g = gridSize(this.config);
    const draw: NonNullable<TrainerOptions['maskSource']> = this.options.maskSource ?? randomMask;
    const mask = draw(this.batch, g, g, this.config.maskRatio, this.maskRng);
    record.dataRngAfter = this.dataRng.getState();
    record.maskRngAfter = this.maskRng.getState();
    this.shown = { images: this.images, mask };

    model.setBatch(this.images, mask);
    // Drop-path decisions from (seed, step): a replayed or resumed step draws the same (no-op when off).
    model.setDropPath(this.seed, iteration);
    const dispatchesBefore = gpu.dispatchCount;
    optimizer.beginStep(record.lr, record.weightDecay);
    guard.beginStep(this.checkPrevious);
    this.checkPrevious = true;

    // Phase times: one profiled step per interval keeps the query set small and the cost negligible.
    const profile = profiler !== undefined && !this.profiledThisInterval;
    const encoder = gpu.device.createCommandEncoder({ label: `train step ${record.step}` });
    encoder.clearBuffer(model.params.grads);
    // Forward and backward get a pass each so their timestamps split the model's time; the pass boundary
    // costs nothing measurable next to the kernels, and the step stays one command buffer, one submission.
    const forwardPass = encoder.beginComputePass({
      label: 'forward',
      timestampWrites: profile ? profiler.pass('forward') : undefined,
    });
    gpu.dispatchScope = 'guard';
    guard.encode(forwardPass);
    model.encodeTrainForward(forwardPass);
    forwardPass.end();
    const backwardPass = encoder.beginComputePass({
      label: 'backward',
      timestampWrites: profile ? profiler.pass('backward') : undefined,
    });
    model.encodeTrainBackward(backwardPass);
    backwardPass.end();
    const optimizerPass = encoder.beginComputePass({
      label: 'optimizer',
      timestampWrites: profile ? profiler.pass('optimizer') : undefined,
    });
    gpu.dispatchScope = 'optimizer';
    optimizer.encode(optimizerPass);
    gpu.dispatchScope = '';
    optimizerPass.end();
    const slot = this.interval.length * 8;
    encoder.copyBufferToBuffer(model.loss.buffer, model.loss.offset, ring.buffer, slot, 4);
    const normOffset = optimizer.gradStats.offset + (optimizer.gradStats.length - 1) * 4;
    encoder.copyBufferToBuffer(optimizer.gradStats.buffer, normOffset, ring.buffer, slot + 4, 4);
    gpu.device.queue.submit([encoder.finish()]);
    record.dispatches = gpu.dispatchCount - dispatchesBefore;
    if (profile && profiler) {
      this.profiledThisInterval = true;
      this.phasePromise = profiler.collect().then(
        (timings) => Object.fromEntries(timings.map((t) => [t.label, t.ms])),
        () => undefined,
      );
    }
    this.interval.push(record);
    this.step = record.step;
  }

  /** Starts the read-back of the current interval's values; the promise handles them when they arrive. */
  private issueRead(): void {
    if (this.interval.length === 0) return;
    const records = this.interval;
    const { gpu, ring } = this.device;
    const generation = this.generation;
    const phases = this.phasePromise;
    this.interval = [];
    this.profiledThisInterval = false;
    this.phasePromise = undefined;
    const bytes = gpu.readBytes(ring.buffer, ring.offset, records.length * 8);
    const promise = bytes.then(async (data) => {
      // Read-backs complete in submission order, so the time since the previous completion is this
      // interval's wall time, whatever number of intervals were in flight.
      const now = performance.now();
      const wallMs = now - this.lastReadDone;
      this.lastReadDone = now;
      const phaseMs = phases ? await phases : undefined;
      if (generation !== this.generation) return;
      const summary = summarizeInterval(records, new Float32Array(data), this.batch, wallMs, phaseMs);
      if (summary.sample) {
        this.lastMetrics = summary.sample;
        this.emit({ type: 'metrics', metrics: summary.sample });
      }
      if (summary.nonFinite && !this.fault) this.fault = summary.nonFinite;
    });
    const entry: PendingRead = { generation, promise: promise.catch(() => undefined) };
    // Errors (device loss) surface through the next GPU call; the entry only tracks completion.
    entry.promise = entry.promise.finally(() => {
      this.pending = this.pending.filter((p) => p !== entry);
    });
    this.pending.push(entry);
  }

  /** Reads every step's values back (a pause point: nothing is left in flight). */
  async flush(): Promise<void> {
    this.issueRead();
    while (this.pending.length > 0) await this.pending[0].promise;
    this.device.gpu.assertAlive();
    while (this.scopeChecks.length > 0) await Promise.all(this.scopeChecks);
    this.throwIfGpuFault();
    // Time spent paused, checkpointing or evaluating is not training time.
    this.lastReadDone = performance.now();
  }

  private emit(event: TrainerEvent): void {
    this.options.onEvent?.(event);
  }

  // ------------------------------------------------------------------ non-finite steps

  /** Whether every value of the live state (parameters, BN statistics, both moments) is finite. */
  private async stateIsFinite(): Promise<boolean> {
    const { gpu, model, optimizer } = this.device;
    for (const tensor of [
      model.params.whole('values'),
      model.stats.whole('values'),
      optimizer.expAvg,
      optimizer.expAvgSq,
    ]) {
      if (!(await gpu.read(tensor)).every(Number.isFinite)) return false;
    }
    return true;
  }

  /** Restores the state before the first non-finite step, skips its batch; returns the explanation. */
  private async rollback(): Promise<string> {
    const bad = this.fault;
    if (!bad) throw new Error('rollback() without a non-finite step');
    const { gpu, model, optimizer, guard } = this.device;
    await gpu.idle();
    const fromStep = this.step;
    this.generation++;
    this.interval = [];
    guard.restore();
    const record = bad.record;
    this.step = record.step - 1;
    // The batch and mask that produced the bad step are skipped: resuming must not replay them.
    this.dataRng.setState(record.dataRngAfter);
    this.maskRng.setState(record.maskRngAfter);
    for (const [name, n] of record.batchesTracked) model.batchesTracked.set(name, n);
    optimizer.steps.decay = record.optimizerSteps.decay;
    optimizer.steps.noDecay = record.optimizerSteps.noDecay;
    this.checkPrevious = false;
    this.fault = undefined;
    // The guard compares only the loss and gradient norm; a state that went bad without them (an overflow in
    // the update itself, or a non-finite import) would have been backed up. Check everything it holds and
    // fall back to the last checkpoint (there is always one in memory, step 0 at least).
    let message = nonFiniteMessage(bad, this.step);
    if (!(await this.stateIsFinite())) {
      const checkpoint = this.lastCheckpoint;
      if (!checkpoint)
        throw new Error(
          `Step ${record.step} produced non-finite values and no checkpoint is left to restore; configure the run again.`,
        );
      await this.restoreBytes(checkpoint.bytes, `the checkpoint of step ${checkpoint.step}`);
      this.dataRng.setState(record.dataRngAfter);
      this.maskRng.setState(record.maskRngAfter);
      message =
        `Step ${record.step} produced non-finite values, and the state before it was not finite either, so ` +
        `the checkpoint of step ${this.step} was restored (the batch of step ${record.step} is skipped). ` +
        'Training is paused; lower the learning rate and resume.';
    }
    this.emit({ type: 'rolled-back', fromStep, toStep: this.step, message });
    this.emit({ type: 'paused', step: this.step, reason: 'non-finite', message });
    return message;
  }

  // ------------------------------------------------------------------ device loss

  /** After a device loss outside `run` (a pause, an export…): rebuilds on a new device from the last checkpoint. */
  async recoverIfLost(): Promise<boolean> {
    const gpu = this.device.gpu;
    if (!gpu.isLost) return false;
    await this.recoverDevice(new DeviceLostError('the device was lost between steps'));
    return true;
  }

  private async recoverDevice(cause: Error): Promise<void> {
    const message = `The GPU device was lost (${cause.message}).`;
    const factory = this.options.createGpu;
    this.generation++;
    this.pending = [];
    this.interval = [];
    this.scopeChecks = [];
    this.phasePromise = undefined;
    this.fault = undefined;
    this.gpuFault = undefined;
    if (!factory) {
      this.emit({ type: 'device-lost', message, recovered: false });
      throw new DeviceLostError(`${message} No way to get a new device was given, so the run stops here.`);
    }
    try {
      this.teardown();
    } catch {
      // Releasing objects of a dead device can fail; they are gone either way.
    }
    const gpu = await factory();
    this.device = await this.buildChecked(gpu);
    const checkpoint = this.lastCheckpoint;
    if (checkpoint) {
      await this.restoreBytes(checkpoint.bytes, `the checkpoint of step ${checkpoint.step}`);
    } else {
      // No checkpoint (Trainer.create keeps one of step 0, so only a trainer built some other way).
      this.device.model.initialize(this.seed);
      this.step = 0;
      this.dataRng.setState(new Rng((this.seed ^ 0x0da7a5ed) >>> 0).getState());
      this.maskRng.setState(new Rng((this.seed ^ 0x3a5c3a5c) >>> 0).getState());
    }
    this.emit({ type: 'device-lost', message, recovered: true, resumedFromStep: this.step });
  }

  // ------------------------------------------------------------------ checkpoints

  /** The full training state (after every queued step finished and was found finite). */
  async capture(): Promise<TrainerCheckpoint> {
    await this.flush();
    if (this.fault) throw new Error('capture(): a non-finite step is pending; roll back first.');
    const { gpu, model, optimizer } = this.device;
    const state = await model.exportState();
    const moments = [await gpu.read(optimizer.expAvg), await gpu.read(optimizer.expAvgSq)];
    const [expAvg, expAvgSq] = moments.map((all) => {
      const map = new Map<string, Float32Array>();
      for (const entry of model.params.entries) {
        const gpuValues = all.subarray(entry.offset, entry.offset + entry.length);
        map.set(entry.name, fromGpuLayout(entry.layout, entry.officialShape, gpuValues));
      }
      return map;
    });
    return { config: structuredClone(this.config), progress: this.progress(), state, expAvg, expAvgSq };
  }

  progress(): TrainerProgress {
    return {
      runId: this.runId,
      step: this.step,
      totalSteps: this.totalSteps,
      seed: this.seed,
      batch: this.batch,
      hyper: { ...this.hyper },
      dataRngState: this.dataRng.getState(),
      maskRngState: this.maskRng.getState(),
      optimizerSteps: { ...this.device.optimizer.steps },
    };
  }

  /**
   * Serialises the state, keeps it as the in-memory fallback (rollbacks, device loss) and saves it to the
   * store (if any). A store that refuses the bytes costs nothing yet: a `store-failed` event says so and
   * training goes on with the checkpoint in memory, unless `requireStored` (the user's own "save") asks
   * for the store's error instead.
   */
  async checkpoint(
    name = this.checkpointName,
    options: { requireStored?: boolean } = {},
  ): Promise<Uint8Array> {
    const captured = await this.capture();
    const bytes = writeTrainerCheckpoint(captured);
    this.lastCheckpoint = { step: this.step, bytes };
    if (this.options.store) {
      try {
        await this.options.store.save(name, bytes, {
          ...this.options.checkpointMeta,
          runId: this.runId,
          step: this.step,
          totalSteps: this.totalSteps,
        });
      } catch (error) {
        if (options.requireStored) throw error;
        const message = error instanceof Error ? error.message : String(error);
        this.emit({ type: 'store-failed', step: this.step, name, message, keptStep: this.step });
        return bytes;
      }
    }
    this.emit({ type: 'checkpoint', step: this.step, name, bytes: bytes.byteLength });
    return bytes;
  }

  /**
   * Restores a checkpoint of this run's configuration and batch (weights, BN statistics, optimiser moments
   * and counters, step and random generators). A checkpoint of another mask ratio rebuilds the model.
   * All or nothing: the file (format, configuration, progress record, every tensor's values) is checked
   * before anything changes; a checkpoint that fails leaves the run exactly as it was.
   */
  async restoreBytes(bytes: Uint8Array, fileName = 'checkpoint'): Promise<TrainerProgress> {
    // Validates the format, the configuration, the progress record and every tensor's values.
    const checkpoint = readTrainerCheckpoint(bytes, fileName);
    const { progress } = checkpoint;
    if (progress.batch !== this.batch) {
      throw new ConfigError(
        `${fileName} was saved with a batch of ${progress.batch}, but this run uses ${this.batch}; ` +
          'start the run with the same batch size to resume it.',
      );
    }
    const { maskRatio: _a, ...theirs } = checkpoint.config;
    const { maskRatio: _b, ...ours } = this.config;
    if (JSON.stringify(theirs) !== JSON.stringify(ours)) {
      throw new ConfigError(`${fileName} was saved for another model configuration than this run's.`);
    }
    const sameOptimizer =
      JSON.stringify({
        ...progress.hyper,
        peakLr: 0,
        warmupSteps: 0,
        weightDecayStart: 0,
        weightDecayEnd: 0,
      }) ===
      JSON.stringify({ ...this.hyper, peakLr: 0, warmupSteps: 0, weightDecayStart: 0, weightDecayEnd: 0 });
    const rebuild = checkpoint.config.maskRatio !== this.config.maskRatio || !sameOptimizer;
    if (rebuild)
      validateTrainingSetup(
        checkpoint.config,
        this.batch,
        progress.totalSteps,
        this.device.gpu.device.limits,
      );
    await this.flush().catch(() => undefined);

    // Everything is checked: commit.
    this.hyper = { ...progress.hyper };
    this.totalSteps = progress.totalSteps;
    this.schedule = this.makeSchedule();
    this.runId = progress.runId;
    this.seed = progress.seed;
    if (rebuild) await this.rebuildWith(checkpoint.config);
    const { model, optimizer, gpu } = this.device;
    const { error } = gpu.scoped(() => {
      model.loadState(checkpoint.state);
      for (const [which, source] of [
        [optimizer.expAvg, checkpoint.expAvg],
        [optimizer.expAvgSq, checkpoint.expAvgSq],
      ] as const) {
        for (const entry of model.params.entries) {
          const data = source.get(entry.name) as Float32Array;
          gpu.write(which, toGpuLayout(entry.layout, entry.officialShape, data), entry.offset);
        }
      }
    });
    optimizer.steps.decay = progress.optimizerSteps.decay;
    optimizer.steps.noDecay = progress.optimizerSteps.noDecay;
    this.step = progress.step;
    this.dataRng.setState(progress.dataRngState);
    this.maskRng.setState(progress.maskRngState);
    this.checkPrevious = false;
    this.fault = undefined;
    this.gpuFault = undefined;
    this.lastCheckpoint = { step: this.step, bytes };
    const failed = await error;
    if (failed) throw this.gpuRunError(failed, `restoring ${fileName}`);
    gpu.assertAlive();
    return progress;
  }

  /**
   * Loads imported weights (official names and layouts, already validated and finite) into the run, keeps
   * its step, optimiser state and schedule, and keeps the result as the in-memory checkpoint.
   */
  async importState(values: Map<string, Float64Array | Float32Array>): Promise<void> {
    await this.flush();
    const { gpu, model } = this.device;
    const { error } = gpu.scoped(() => model.loadState(values));
    this.checkPrevious = false;
    const failed = await error;
    if (failed) throw this.gpuRunError(failed, 'loading the imported weights');
    await this.keepInMemory();
  }

  /** Rebuilds the device objects for another configuration (same batch), keeping nothing but the GPU. */
  private async rebuildWith(config: SparkConfig): Promise<void> {
    validateTrainingSetup(config, this.batch, this.totalSteps, this.device.gpu.device.limits);
    const gpu = this.device.gpu;
    this.teardown();
    this.config = structuredClone(config);
    this.device = await this.buildChecked(gpu);
    // The old sizes are not coming back: free what the new model did not reuse.
    gpu.trimPool();
  }

  /**
   * Changes the mask ratio from the next step. The number of visible sites sizes every sparse buffer, so
   * the model is rebuilt around the current state (weights, statistics, moments and counters are kept).
   */
  async setMaskRatio(ratio: number): Promise<void> {
    if (ratio === this.config.maskRatio) return;
    const next = { ...structuredClone(this.config), maskRatio: ratio };
    validateTrainingSetup(next, this.batch, this.totalSteps);
    const captured = await this.capture();
    captured.config = next;
    await this.restoreBytes(writeTrainerCheckpoint(captured), 'mask-ratio change');
  }

  // ------------------------------------------------------------------ evaluation and snapshots

  /**
   * The masked-patch loss on held-out images ([count, 3, S, S]) in eval mode (BN running statistics,
   * nothing updated), averaged over chunks of the batch size, with masks from a fixed seed so that every
   * evaluation of every run sees the same masks. `count` is rounded down to whole batches (at least one;
   * fewer images wrap around).
   */
  async evaluate(images: Float32Array, maskSeed = HELD_OUT_MASK_SEED): Promise<number> {
    await this.flush();
    const { gpu, model } = this.device;
    const S = this.config.inputSize;
    const per = 3 * S * S;
    const available = images.length / per;
    if (!Number.isInteger(available) || available < 1)
      throw new RangeError(`The held-out images hold ${images.length} values, not N×3×${S}×${S}.`);
    const chunks = Math.max(1, Math.floor(available / this.batch));
    const rng = new Rng(maskSeed);
    const g = gridSize(this.config);
    const chunk = new Float32Array(this.batch * per);
    let sum = 0;
    for (let c = 0; c < chunks; c++) {
      for (let b = 0; b < this.batch; b++) {
        const index = (c * this.batch + b) % available;
        chunk.set(images.subarray(index * per, (index + 1) * per), b * per);
      }
      const mask = randomMask(this.batch, g, g, this.config.maskRatio, rng);
      model.setBatch(chunk, mask);
      this.shown = { images: chunk, mask };
      const { error } = gpu.scoped(() => gpu.submit('held-out eval', (pass) => model.encodeEval(pass)));
      const loss = (await gpu.read(model.loss))[0];
      const failed = await error;
      if (failed) throw this.gpuRunError(failed, 'the held-out evaluation');
      sum += loss;
    }
    // The loss buffer now holds an eval loss: the guard must not read it as a training step's.
    this.checkPrevious = false;
    return sum / chunks;
  }

  /** Whether a step or an evaluation has given the model something to show. */
  get hasShown(): boolean {
    return this.shown !== undefined;
  }

  /** The last batch as the model saw it, with the model's outputs (after every queued step finished). */
  async snapshot(): Promise<TrainerSnapshot> {
    await this.flush();
    return this.readShown();
  }

  /**
   * A snapshot without stopping training: while `run` loops, the loop reads it between two steps (the
   * read-back waits for the steps already queued, not for a stop and a restart); otherwise it is taken now.
   */
  snapshotAtStepBoundary(): Promise<TrainerSnapshot> {
    if (!this.running) return this.snapshot();
    return new Promise((resolve, reject) => this.snapshotRequests.push({ resolve, reject }));
  }

  private async readShown(): Promise<TrainerSnapshot> {
    if (!this.shown) throw new Error('There is nothing to show yet: run a step or an evaluation first.');
    const { images, mask } = this.shown;
    const step = this.step;
    return { step, images: images.slice(), mask, model: await this.device.model.readSnapshot() };
  }

  /** Answers the snapshots asked for during `run`, at a step boundary. */
  private async serveSnapshots(): Promise<void> {
    if (this.snapshotRequests.length === 0) return;
    const requests = this.snapshotRequests.splice(0);
    try {
      const shot = await this.readShown();
      for (const request of requests) request.resolve(shot);
    } catch (error) {
      // After a device loss the recovered run answers them; any other failure is theirs.
      if (isDeviceLoss(error, this.device.gpu)) this.snapshotRequests.unshift(...requests);
      else for (const request of requests) request.reject(error);
      if (isDeviceLoss(error, this.device.gpu)) throw error;
    }
  }

  /** Frees every GPU object of the run and the pooled buffers it leaves (the Gpu belongs to the caller). */
  destroy(): void {
    this.generation++;
    const gpu = this.device.gpu;
    this.teardown();
    if (!gpu.isLost) gpu.trimPool();
  }
}
