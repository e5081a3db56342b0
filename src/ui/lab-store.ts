/**
 * The lab's state: kept runs (every run, its configuration as the worker ran it, curves, held-out yardstick,
 * the latest watch-set reconstruction), the selection compared on charts and the watch set, the queue and
 * the storage budget. A store of its own so a loss tick of the current run does not repaint the lab and the
 * playground's store stays small. Pure helpers (diffs, grouping, CSV) are exported for tests.
 */
import { create } from 'zustand';
import type { RgbaPicture } from '../data/grid';
import type { WatchImages } from '../worker/lab-protocol';
import type { MetricsSample, RunState } from '../worker/protocol';
import type { KeptProbe } from './probe-results';
import { ABLATIONS, type PlaygroundForm } from './run-config';
import { appendMetrics } from './store';

export type KeptRunState = RunState | 'queued';

/** The latest watch-set reconstruction of a run, as pictures (small, kept with the run). */
export interface WatchThumb {
  step: number;
  ratio: number;
  visibleCells: number;
  /** Images in the watch set and the mask grid side. */
  count: number;
  grid: number;
  /** [count, grid, grid] 1 = visible, as the worker masked them. */
  mask: number[];
  masked: RgbaPicture;
  composite: RgbaPicture;
  /** The reconstruction without the hidden patches' statistics (teach/recon-view); not kept across reloads. */
  noLeak?: RgbaPicture;
}

export interface KeptRun {
  /** The worker's run id (also its checkpoint's name); `queued-…` until a queued run starts. */
  id: string;
  /** Short name shown in tables and legends (#1, #2, …). */
  label: string;
  state: KeptRunState;
  form: PlaygroundForm;
  /** The configuration the worker runs (its echo: run config with the resolved model). */
  config?: Record<string, unknown>;
  metrics: MetricsSample[];
  /** The yardstick (masked, per-patch-normalised loss at 0.6 on the stated held-out images) by step. */
  heldOut: { step: number; loss: number }[];
  watch?: WatchThumb;
  /** Earlier watch-set reconstructions (oldest first, at most WATCH_HISTORY; the latest is `watch`). */
  watchHistory?: WatchThumb[];
  step: number;
  createdAt: number;
  pinned: boolean;
  /** Whether the run's data were the user's images (a link cannot carry them). */
  userImages: boolean;
  /** Kept from a file: curves and thumbnails only, no weights to resume. */
  imported?: boolean;
  /** The latest downstream probe of its weights (the "Does it help?" panel). */
  probe?: KeptProbe;
}

export interface CustomMaskState {
  /** Watch-set image index (within the held-out split). */
  image: number;
  /** [grid·grid] 1 = visible. */
  cells: number[];
  grid: number;
  pending: boolean;
  /** Whether the user changed a cell (until then the editor follows the mask-ratio slider). */
  edited: boolean;
  result?: {
    runId: string;
    step: number;
    visibleCells: number;
    masked: RgbaPicture;
    composite: RgbaPicture;
    noLeak?: RgbaPicture;
  };
}

export interface LabState {
  runs: KeptRun[];
  /** Ids compared on the charts and the watch set; the first is the reference of the table's diffs. */
  selected: string[];
  watchOffset: number;
  watchImages?: WatchImages;
  custom?: CustomMaskState;
  storage: { usedBytes: number; budgetBytes: number; persisted: boolean };
  /** Whether queued runs are being worked through. */
  queueActive: boolean;
  /** The selected panel, carried in links (teaching panels may set it). */
  panel?: string;
  /** When the current run's step loop last started (elapsed time and ETA), and the step it started at. */
  clock?: { runId: string; startedAt: number; startStep: number };
}

/** Storage the kept runs and their checkpoints may use in this browser. */
export const STORAGE_BUDGET_BYTES = 64 * 2 ** 20;
/** Earlier watch-set reconstructions kept per run (the first is always kept: the fresh weights). */
export const WATCH_HISTORY = 6;

/** The history after `previous` is replaced by a newer reconstruction. */
export function pushHistory(
  history: WatchThumb[] | undefined,
  previous: WatchThumb | undefined,
): WatchThumb[] {
  const list = [...(history ?? []), ...(previous ? [previous] : [])];
  // Keep the first and the most recent ones.
  return list.length <= WATCH_HISTORY ? list : [list[0], ...list.slice(list.length - WATCH_HISTORY + 1)];
}

/** Images in the watch set. */
export const WATCH_COUNT = 4;

export const useLabStore = create<LabState>(() => ({
  runs: [],
  selected: [],
  watchOffset: 0,
  storage: { usedBytes: 0, budgetBytes: STORAGE_BUDGET_BYTES, persisted: false },
  queueActive: false,
}));

let queuedCounter = 0;

export function nextLabel(runs: KeptRun[]): string {
  const numbers = runs.map((r) => Number(r.label.slice(1))).filter(Number.isFinite);
  return `#${Math.max(0, ...numbers) + 1}`;
}

export function newKeptRun(runs: KeptRun[], id: string, form: PlaygroundForm, state: KeptRunState): KeptRun {
  return {
    id,
    label: nextLabel(runs),
    state,
    form,
    metrics: [],
    heldOut: [],
    step: 0,
    createdAt: Date.now(),
    pinned: false,
    userImages: form.dataset === 'user',
  };
}

export function queuedId(): string {
  queuedCounter += 1;
  return `queued-${Date.now().toString(36)}-${queuedCounter}`;
}

/** Updates one run by id (no-op when it is gone). */
export function updateRun(id: string, change: (run: KeptRun) => Partial<KeptRun>): void {
  useLabStore.setState((s) => ({
    runs: s.runs.map((r) => (r.id === id ? { ...r, ...change(r) } : r)),
  }));
}

export function addMetrics(id: string, sample: MetricsSample): void {
  updateRun(id, (r) => ({ metrics: appendMetrics(r.metrics, sample), step: Math.max(r.step, sample.step) }));
}

export function addHeldOut(id: string, step: number, loss: number): void {
  updateRun(id, (r) => ({
    heldOut: [...r.heldOut.filter((h) => h.step < step), { step, loss }],
  }));
}

// ------------------------------------------------------------------ comparison

const FIELD_NAMES: Record<keyof PlaygroundForm, string> = {
  preset: 'preset',
  dataset: 'data',
  maskRatio: 'mask ratio',
  batchSize: 'batch',
  steps: 'steps',
  seed: 'seed',
  lr: 'lr',
  encoder: 'encoder',
  decoderInputs: 'decoder inputs',
  maskToken: 'mask token',
  lossTarget: 'target',
  lossOn: 'loss on',
  decoderWidth: 'decoder width',
  widths: 'widths',
  depths: 'depths',
  optimizer: 'optimiser',
  weightDecay: 'weight decay',
  dropPath: 'drop path',
};

function shown(field: keyof PlaygroundForm, value: unknown): string {
  if (typeof value === 'string') return value.trim() === '' ? 'default' : value;
  if (field === 'maskRatio') return Number(value).toFixed(2).replace(/0$/, '');
  return String(value);
}

/** What differs between a run's settings and the reference's, e.g. ["mask ratio 0.4 → 0.8"]. */
export function describeDiff(reference: PlaygroundForm, form: PlaygroundForm): string[] {
  const out: string[] = [];
  for (const field of Object.keys(FIELD_NAMES) as (keyof PlaygroundForm)[]) {
    const a = shown(field, reference[field]);
    const b = shown(field, form[field]);
    if (a !== b) out.push(`${FIELD_NAMES[field]} ${a} → ${b}`);
  }
  return out;
}

/** One line naming a run's settings that differ from SparK's defaults (ablations, ratio, seed). */
export function describeRun(form: PlaygroundForm): string {
  const parts = [`${form.preset}`, `mask ${shown('maskRatio', form.maskRatio)}`, `seed ${form.seed}`];
  for (const { field, options } of ABLATIONS)
    if (form[field] !== options[0][0]) parts.push(`${field} ${form[field]}`);
  return parts.join(' · ');
}

/** Runs that differ only by seed share a group key (the chart draws their mean and spread). */
export function seedGroupKey(form: PlaygroundForm): string {
  return JSON.stringify({ ...form, seed: 0 });
}

// ------------------------------------------------------------------ exports

export const METRICS_CSV_HEADER = 'step,loss,heldout_loss,lr,grad_norm,images_per_s,step_ms';

function csvNumber(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '' : String(v);
}

/**
 * A run's metrics as CSV (one row per step with a reading; the held-out yardstick joined by step, its steps
 * without a training reading get a row of their own).
 */
export function metricsCsv(run: Pick<KeptRun, 'metrics' | 'heldOut'>): string {
  const heldOut = new Map(run.heldOut.map((h) => [h.step, h.loss]));
  const rows = new Map<number, string>();
  for (const m of run.metrics)
    rows.set(
      m.step,
      [
        m.step,
        csvNumber(m.loss),
        csvNumber(heldOut.get(m.step) ?? m.heldOutLoss),
        csvNumber(m.lr),
        csvNumber(m.gradNorm),
        csvNumber(m.imagesPerSecond),
        csvNumber(m.stepMs),
      ].join(','),
    );
  for (const [step, loss] of heldOut) if (!rows.has(step)) rows.set(step, `${step},,${csvNumber(loss)},,,,`);
  const lines = [...rows.entries()].sort((a, b) => a[0] - b[0]).map(([, line]) => line);
  return `${[METRICS_CSV_HEADER, ...lines].join('\n')}\n`;
}
