import { create } from 'zustand';
import type { SkippedFile } from '../data/image-set';
import type { AdapterSummary } from '../gpu/device';
import type { SparkConfig } from '../models/config';
import type {
  AddImagesResult,
  CheckpointInfo,
  MetricsSample,
  RunState,
  Snapshot,
  WorkerEvent,
} from '../worker/protocol';
import { DEFAULT_FORM, type PlaygroundForm } from './run-config';

export type GpuStatus =
  | { state: 'probing' }
  | { state: 'ready'; summary: AdapterSummary; label: string }
  | { state: 'unavailable'; reason: string };

export type NoticeTone = 'error' | 'warning' | 'info';

/** A sentence for the user; kinds let the e2e tests (and styles) tell them apart. */
export interface Notice {
  id: number;
  tone: NoticeTone;
  kind: string;
  text: string;
}

export interface RunSlice {
  /** The run the UI follows; events from any other run (e.g. one just reset) are dropped. */
  runId?: string;
  state: RunState;
  step: number;
  /** The form as it was when this run was configured (to tell which edits need a new run). */
  configuredForm?: PlaygroundForm;
  parameterCount?: number;
  model?: SparkConfig;
  warnings: string[];
  /** The action the UI is waiting for (buttons are disabled meanwhile). */
  pending: string | null;
  lastCheckpoint?: CheckpointInfo;
}

export interface ImagesSlice {
  result?: AddImagesResult;
  /** Every file refused so far, with its reason. */
  skipped: SkippedFile[];
  pending: boolean;
}

export type WorkerStatus = 'idle' | 'starting' | 'ready' | 'failed';

export interface AppState {
  gpu: GpuStatus;
  worker: WorkerStatus;
  form: PlaygroundForm;
  run: RunSlice;
  metrics: MetricsSample[];
  snapshot?: Snapshot;
  images: ImagesSlice;
  notices: Notice[];
  /** Checkpoints kept by the browser from earlier visits (newest first), offered for resuming. */
  savedRuns: CheckpointInfo[];
  /** The browser's storage use (navigator.storage.estimate) and whether it is persistent; absent if unknown. */
  storage?: { usage: number; quota: number; persisted: boolean };
  setGpu: (gpu: GpuStatus) => void;
  setForm: (patch: Partial<PlaygroundForm>) => void;
  dismissNotice: (id: number) => void;
}

/** Older samples are thinned beyond this (every other one kept), so a long run's chart stays cheap. */
export const MAX_METRIC_SAMPLES = 4000;

let nextNoticeId = 1;

export function notice(tone: NoticeTone, kind: string, text: string): Notice {
  return { id: nextNoticeId++, tone, kind, text };
}

export function appendMetrics(samples: MetricsSample[], sample: MetricsSample): MetricsSample[] {
  // A rollback or device-loss replay repeats steps: the newer reading replaces what follows it.
  const kept =
    samples.length > 0 && samples[samples.length - 1].step >= sample.step
      ? samples.filter((s) => s.step < sample.step)
      : samples;
  const next = [...kept, sample];
  if (next.length <= MAX_METRIC_SAMPLES) return next;
  const half = MAX_METRIC_SAMPLES / 2;
  const older = next.slice(0, next.length - half).filter((_, i) => i % 2 === 0);
  return [...older, ...next.slice(next.length - half)];
}

export const INITIAL_RUN: RunSlice = { state: 'unconfigured', step: 0, warnings: [], pending: null };

type EventState = Pick<AppState, 'run' | 'metrics' | 'images' | 'notices'>;

/**
 * What a worker event changes in the store; null when the event belongs to another run and is dropped.
 * Pauses for a reason other than the user, rollbacks, device losses and errors become notices: the worker's
 * message is already a sentence.
 */
export function reduceWorkerEvent(state: EventState, event: WorkerEvent): Partial<EventState> | null {
  if (event.runId !== state.run.runId) return null;
  const run = state.run;
  const add = (tone: NoticeTone, kind: string, text: string) => ({
    notices: [...state.notices, notice(tone, kind, text)],
  });
  switch (event.type) {
    case 'state':
      return { run: { ...run, state: event.state, step: event.step } };
    case 'metrics':
      return {
        metrics: appendMetrics(state.metrics, event.metrics),
        run: { ...run, step: Math.max(run.step, event.metrics.step) },
      };
    case 'paused': {
      const paused = { run: { ...run, state: 'paused' as const, step: event.step } };
      if (event.reason === 'user') return paused;
      if (event.reason === 'finished')
        return {
          run: { ...run, state: 'finished', step: event.step },
          ...add('info', 'finished', event.message),
        };
      return {
        ...paused,
        ...add(event.reason === 'error' ? 'error' : 'warning', event.reason, event.message),
      };
    }
    case 'rolled-back':
      return { run: { ...run, step: event.toStep }, ...add('warning', 'rolled-back', event.message) };
    case 'device-lost':
      return add(event.recovered ? 'warning' : 'error', 'device-lost', event.message);
    case 'checkpoint':
      return { run: { ...run, lastCheckpoint: event.checkpoint } };
    case 'images':
      // The same result is the return value of the addImages call, which the client merges (it arrives
      // even before any run exists); merging the event too would list every skipped file twice.
      return null;
    case 'warning':
      return add('warning', event.kind, event.message);
    case 'error':
      return {
        run: { ...run, state: 'failed' },
        ...add('error', event.kind ?? 'worker-error', event.message),
      };
  }
}

export function mergeImages(images: ImagesSlice, result: AddImagesResult): ImagesSlice {
  return { result, skipped: [...images.skipped, ...result.skipped], pending: false };
}

/** The app's one store. Components select the slice they draw, so a loss tick does not repaint images. */
export const useAppStore = create<AppState>((set) => ({
  gpu: { state: 'probing' },
  worker: 'idle',
  form: DEFAULT_FORM,
  run: INITIAL_RUN,
  metrics: [],
  snapshot: undefined,
  images: { skipped: [], pending: false },
  notices: [],
  savedRuns: [],
  setGpu: (gpu) => set({ gpu }),
  setForm: (patch) => set((s) => ({ form: { ...s.form, ...patch } })),
  dismissNotice: (id) => set((s) => ({ notices: s.notices.filter((n) => n.id !== id) })),
}));

/** Adds a notice from outside React (the trainer client). */
export function pushNotice(tone: NoticeTone, kind: string, text: string): void {
  useAppStore.setState((s) => ({ notices: [...s.notices, notice(tone, kind, text)] }));
}
