/**
 * A kept run's downstream accuracy (the "Does it help?" panel's latest probe of it), kept with the run so the
 * runs table shows loss and accuracy side by side, and a mask-ratio sweep reads as one table. Stored with
 * the kept run (IndexedDB and the runs file), so every field is checked when read back.
 */
import type { ProbeSummary } from '../probe/run';

export interface KeptProbe {
  /** The step of the weights that were probed. */
  step: number;
  /** Accuracy of the run's encoder (k-NN always; linear when it was asked for). */
  knn: number;
  linear?: number;
  /** The same configuration at its random initial weights (same seed, same probe set). */
  randomKnn: number;
  randomLinear?: number;
  /** The label-shuffled control's k-NN (should sit near chance). */
  controlKnn?: number;
  /** Probe-test images scored, probe-train images learned from. */
  samples: number;
  probeTrain: number;
  /** Share of the most frequent probe-test class. */
  chance: number;
  initHash: string;
}

/** The kept record of a page probe (arms `random` and `checkpoint`); undefined when k-NN is missing. */
export function keptProbeOf(summary: ProbeSummary, step: number): KeptProbe | undefined {
  const own = summary.results.checkpoint;
  const random = summary.results.random;
  if (!own?.knn || !random?.knn) return undefined;
  return {
    step,
    knn: own.knn.accuracy,
    ...(own.linear ? { linear: own.linear.accuracy } : {}),
    randomKnn: random.knn.accuracy,
    ...(random.linear ? { randomLinear: random.linear.accuracy } : {}),
    ...(summary.shuffledControl?.knn ? { controlKnn: summary.shuffledControl.knn.accuracy } : {}),
    samples: own.knn.samples,
    probeTrain: summary.probeTrain,
    chance: summary.chance,
    initHash: summary.initHash,
  };
}

const isAccuracy = (v: unknown): v is number => typeof v === 'number' && v >= 0 && v <= 1;
const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;

/**
 * A stored probe record, or undefined when there is none or it is damaged: a broken accuracy is dropped
 * (the run itself stays readable) rather than shown wrong.
 */
export function checkKeptProbe(value: unknown): KeptProbe | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  if (
    !isCount(v.step) ||
    !isAccuracy(v.knn) ||
    !isAccuracy(v.randomKnn) ||
    !isCount(v.samples) ||
    (v.samples as number) < 1 ||
    !isCount(v.probeTrain) ||
    !isAccuracy(v.chance) ||
    typeof v.initHash !== 'string'
  )
    return undefined;
  for (const optional of ['linear', 'randomLinear', 'controlKnn'] as const)
    if (v[optional] !== undefined && !isAccuracy(v[optional])) return undefined;
  return {
    step: v.step as number,
    knn: v.knn,
    ...(v.linear !== undefined ? { linear: v.linear as number } : {}),
    randomKnn: v.randomKnn,
    ...(v.randomLinear !== undefined ? { randomLinear: v.randomLinear as number } : {}),
    ...(v.controlKnn !== undefined ? { controlKnn: v.controlKnn as number } : {}),
    samples: v.samples as number,
    probeTrain: v.probeTrain as number,
    chance: v.chance,
    initHash: v.initHash.slice(0, 32),
  };
}

/** "61.5 %", or an en dash for nothing. */
export function percent(v: number | undefined): string {
  return v === undefined ? '–' : `${(v * 100).toFixed(1)} %`;
}
