/**
 * The typed API between the UI (main thread) and the training worker, spoken through comlink.
 *
 * - The worker implements `TrainerWorkerApi` and calls `exposeTrainer(api)`; the UI calls
 *   `connectTrainer(worker)` and gets a `Remote<TrainerWorkerApi>` whose methods return promises.
 * - Events (state changes, metrics, pauses, rollbacks, device loss, checkpoints, skipped files) reach the UI
 *   through one listener passed with `comlink.proxy`; every event carries the run id so the UI can drop
 *   stragglers from a run it has reset.
 * - Large arrays are transferred, never copied: the worker returns snapshots and exports through
 *   `withTransfer`, the UI sends weights and images the same way.
 */
import * as Comlink from 'comlink';
import type { CropMode, Normalization } from '../data/augment';
import type { FashionFit } from '../data/datasets';
import type { PixelHistograms } from '../data/histogram';
import type { ImageSource, SkippedFile } from '../data/image-set';
import type { Interpolation } from '../data/resample';
import type { SparkConfig } from '../models/config';
import type { TrainingMetrics } from '../train/metrics';
import type { CheckpointViewOptions, CheckpointViewResult } from './checkpoint-viewer';

export type DataConfig =
  | {
      kind: 'photos';
      crop?: CropMode;
      scale?: [number, number];
      interpolation?: Interpolation;
      flip?: boolean;
    }
  | { kind: 'fashion-mnist'; fit?: FashionFit; flip?: boolean }
  /** The images added with `addImages` (and webcam frames, when the UI streams them in). */
  | {
      kind: 'user';
      crop?: CropMode;
      scale?: [number, number];
      interpolation?: Interpolation;
      flip?: boolean;
    };

export type OptimizerName = 'lamb' | 'adamw';

/** Everything `configure` needs. A preset fills the model; `model` overrides any part of it. */
export interface RunConfig {
  preset?: string;
  model?: Partial<SparkConfig>;
  data: DataConfig;
  /** ImageNet mean/std when absent. */
  normalization?: Normalization;
  batchSize: number;
  /** Length of the run: the lr/wd schedules are scaled to it. */
  steps: number;
  seed: number;
  optimizer?: OptimizerName;
  lr?: number;
  weightDecay?: number;
  /** Automatic checkpoint every N steps (and on pause); 0 disables the periodic ones. */
  checkpointEvery?: number;
  /** Metrics are read back from the GPU every N steps. */
  metricsEvery?: number;
  /** Bytes of decoded user images kept in memory. */
  imageBudgetBytes?: number;
}

export interface ConfigureResult {
  runId: string;
  parameterCount: number;
  /** The resolved model configuration (preset plus overrides). */
  model: SparkConfig;
  /** Things that work but the user may not expect (e.g. a tiny held-out set). */
  warnings: string[];
  /** The run configuration as the worker stored and runs it (the lab shows this, not the form). */
  runConfig?: RunConfig;
}

export type RunState = 'unconfigured' | 'idle' | 'running' | 'paused' | 'recovering' | 'finished' | 'failed';

/** The trainer's metrics (src/train/metrics.ts owns the type), sent to the page unchanged. */
export type MetricsSample = TrainingMetrics;

export interface StepResult {
  step: number;
  /** The last metrics read back (may be from an earlier step: metrics are read asynchronously). */
  metrics?: MetricsSample;
}

/** A binary per-cell map: 1 = active/visible. */
export interface ActiveMap {
  /** Stride of this scale relative to the input. */
  stride: number;
  height: number;
  width: number;
  /** [images, height, width]. */
  data: Uint8Array;
}

/**
 * What the model sees and produces for a few images. Image tensors are NCHW [images, 3, S, S] in normalised
 * units (denormalise with `normalization` to display).
 */
export interface Snapshot {
  runId: string;
  step: number;
  images: number;
  size: number;
  normalization: Normalization;
  input: Float32Array;
  /** [images, gridH, gridW], 1 = visible. */
  mask: ActiveMap;
  maskedInput: Float32Array;
  /** Decoder output as the loss sees it (per-patch normalised units when the target is normalised). */
  prediction: Float32Array;
  /** Visible pixels from the input, masked ones from the de-normalised prediction. */
  composite: Float32Array;
  /** One map per encoder scale, largest first. */
  activeMaps: ActiveMap[];
  histograms: PixelHistograms;
}

export interface CheckpointInfo {
  name: string;
  runId: string;
  step: number;
  bytes: number;
  savedAt: string;
}

export interface AddImagesResult {
  added: number;
  skipped: SkippedFile[];
  /** Images now usable and the memory they take. */
  total: number;
  cacheBytes: number;
  budgetBytes: number;
}

export interface ImportResult {
  /** Tensors loaded, and names in the file the model does not have (ignored). */
  loaded: number;
  unexpected: string[];
  missing: string[];
}

export type PauseReason = 'user' | 'finished' | 'non-finite' | 'device-lost' | 'error';

export type WorkerEvent =
  | { type: 'state'; runId: string; state: RunState; step: number }
  | { type: 'metrics'; runId: string; metrics: MetricsSample }
  | { type: 'paused'; runId: string; step: number; reason: PauseReason; message: string }
  /** A NaN/Inf step was discarded and the state restored from `toStep`. */
  | { type: 'rolled-back'; runId: string; fromStep: number; toStep: number; message: string }
  | { type: 'device-lost'; runId: string; message: string; recovered: boolean; resumedFromStep?: number }
  | { type: 'checkpoint'; runId: string; checkpoint: CheckpointInfo }
  | { type: 'images'; runId: string; result: AddImagesResult }
  /** Something went wrong that costs nothing yet (a checkpoint not stored); `kind` names it for the page. */
  | { type: 'warning'; runId: string; kind: string; message: string }
  /** The run stopped (state `failed`); `kind` names the failure (e.g. `gpu-error`) when it is known. */
  | { type: 'error'; runId: string; message: string; kind?: string };

export type WorkerEventListener = (event: WorkerEvent) => void;

/** Implemented by the training worker. Every method may be awaited; none blocks the worker's step loop. */
export interface TrainerWorkerApi {
  /** Validates (sentences for every mistake, before any GPU work) and builds the run. */
  configure(config: RunConfig): Promise<ConfigureResult>;
  start(): Promise<void>;
  pause(): Promise<void>;
  /** Runs exactly n steps (while paused), then resolves. */
  step(n: number): Promise<StepResult>;
  /** Fresh weights and optimizer state under a new run id; the configuration is kept. */
  reset(): Promise<string>;
  /** Takes effect from the next step. */
  setMaskRatio(ratio: number): Promise<void>;
  snapshot(images?: number): Promise<Snapshot>;
  /** Registers a listener (wrap it in `Comlink.proxy`); returns an id for `unsubscribe`. */
  subscribe(listener: WorkerEventListener): Promise<number>;
  unsubscribe(id: number): Promise<void>;
  /** Full state under the official names, safetensors bytes. */
  exportWeights(): Promise<Uint8Array>;
  importWeights(bytes: Uint8Array): Promise<ImportResult>;
  /** Encoder only, timm-style names (what PyTorch's load_state_dict expects). */
  exportEncoder(): Promise<Uint8Array>;
  /**
   * The run as a PyTorch `.pth` (src/io/pth): the official SparK checkpoint that `main.py --resume_from` takes
   * (weights, LAMB/AdamW state, epoch -1: the official schedule restarts at 0), or the timm-style encoder.
   */
  exportPth(format: 'official-pth' | 'timm-pth'): Promise<Uint8Array>;
  saveCheckpoint(name?: string): Promise<CheckpointInfo>;
  restoreCheckpoint(name: string): Promise<CheckpointInfo>;
  listCheckpoints(): Promise<CheckpointInfo[]>;
  deleteCheckpoint(name: string): Promise<void>;
  /**
   * Reads and decodes in the worker (pass File objects as they are; `readImageSources` reads them there);
   * bad files come back as reasons, never as a rejection.
   */
  addImages(files: ImageSource[]): Promise<AddImagesResult>;
  /**
   * Opens a `.pth` of any buildable SparK architecture for viewing (./checkpoint-viewer.ts): reconstructions of
   * the user's images and the built-in photos from an evaluation-only model; the run is untouched. Pass the
   * File itself (read in ranges in the worker) and `onProgress` wrapped in `Comlink.proxy`.
   */
  viewCheckpoint(
    file: Blob,
    options: CheckpointViewOptions,
    onProgress?: (bytesRead: number, bytesTotal: number) => void,
  ): Promise<CheckpointViewResult>;
}

export type TrainerRemote = Comlink.Remote<TrainerWorkerApi>;

/**
 * Buffers of every typed array inside `value` (depth-first, deduplicated). Views that do not span their whole
 * buffer are left out: transferring would detach memory the sender may still use, so those are copied.
 */
export function transferables(value: unknown): ArrayBuffer[] {
  const found = new Set<ArrayBuffer>();
  const seen = new Set<object>();
  const visit = (v: unknown) => {
    if (v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    if (ArrayBuffer.isView(v)) {
      const buffer = v.buffer;
      if (buffer instanceof ArrayBuffer && v.byteOffset === 0 && v.byteLength === buffer.byteLength)
        found.add(buffer);
      return;
    }
    if (v instanceof ArrayBuffer) {
      found.add(v);
      return;
    }
    for (const item of Array.isArray(v) ? v : Object.values(v)) visit(item);
  };
  visit(value);
  return [...found];
}

/** Marks `value` so comlink transfers its arrays' buffers instead of copying them. */
export function withTransfer<T>(value: T): T {
  return Comlink.transfer(value, transferables(value));
}

/** Worker side: serve the API on the worker's global scope (or another endpoint, e.g. in tests). */
export function exposeTrainer(api: TrainerWorkerApi, endpoint?: Comlink.Endpoint): void {
  Comlink.expose(api, endpoint);
}

/** Main-thread side. */
export function connectTrainer(endpoint: Comlink.Endpoint): TrainerRemote {
  return Comlink.wrap<TrainerWorkerApi>(endpoint);
}

/** Registers a plain function as a listener (the proxy wrapping is easy to forget). */
export function subscribeEvents(remote: TrainerRemote, listener: WorkerEventListener): Promise<number> {
  return remote.subscribe(Comlink.proxy(listener));
}

/**
 * Worker side: the listeners and the current run id. A listener that throws (e.g. its page closed) is
 * dropped, so the training loop never fails because of the UI.
 */
export class EventHub {
  private readonly listeners = new Map<number, WorkerEventListener>();
  private nextId = 1;

  subscribe(listener: WorkerEventListener): number {
    const id = this.nextId++;
    this.listeners.set(id, listener);
    return id;
  }

  unsubscribe(id: number): void {
    this.listeners.delete(id);
  }

  get size(): number {
    return this.listeners.size;
  }

  emit(event: WorkerEvent): void {
    for (const [id, listener] of this.listeners) {
      try {
        const result = listener(event) as unknown;
        // A comlink proxy returns a promise; a closed page rejects it.
        if (result instanceof Promise) result.catch(() => this.listeners.delete(id));
      } catch {
        this.listeners.delete(id);
      }
    }
  }
}

/** A run id that is unique enough across reloads (time + random). */
export function newRunId(now = Date.now(), random = Math.random()): string {
  return `run-${now.toString(36)}-${Math.floor(random * 36 ** 6)
    .toString(36)
    .padStart(6, '0')}`;
}
