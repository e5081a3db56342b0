/**
 * Turning the per-step values the GPU wrote (loss, global gradient norm) into the metrics the UI and the CLI
 * show, and spotting the first non-finite step. Pure functions: the trainer reads the values back in one
 * copy per interval and hands them here.
 */

/** What a training interval reports: the trainer's metrics (the worker protocol sends them as they are). */
export interface TrainingMetrics {
  step: number;
  loss: number;
  lr: number;
  weightDecay: number;
  gradNorm: number;
  imagesPerSecond: number;
  stepMs: number;
  /** Milliseconds per phase (e.g. forward, backward, optimizer) from timestamp queries, when available. */
  phaseMs?: Record<string, number>;
  /** GPU dispatches the last step encoded (forward, backward, optimiser and guard). */
  dispatches?: number;
  heldOutLoss?: number;
}

/** What the host remembers about a step until its values come back from the GPU. */
export interface StepRecord {
  /** 1-based number of the step (the step count once it completes). */
  step: number;
  lr: number;
  weightDecay: number;
  /** Random generator states before and after the step drew its batch and mask. */
  dataRngBefore: number;
  dataRngAfter: number;
  maskRngBefore: number;
  maskRngAfter: number;
  /** BN num_batches_tracked and optimiser step counters before the step (what a rollback restores). */
  batchesTracked: [string, number][];
  optimizerSteps: { decay: number; noDecay: number };
  /** Dispatches the step encoded (set once it is encoded). */
  dispatches?: number;
}

export interface NonFiniteStep {
  record: StepRecord;
  loss: number;
  gradNorm: number;
}

export interface IntervalSummary {
  /** Absent when the interval's first step was already non-finite. */
  sample?: TrainingMetrics;
  /** The first step whose loss or gradient norm is NaN or ±Infinity. */
  nonFinite?: NonFiniteStep;
}

/**
 * `values` holds (loss, gradNorm) per record, in order. The sample covers the finite steps before any
 * non-finite one: loss is their mean (smoother than the last step's), the gradient norm the last one, lr and
 * weight decay the last step's; throughput from the interval's wall time.
 */
export function summarizeInterval(
  records: readonly StepRecord[],
  values: Float32Array,
  batch: number,
  wallMs: number,
  phaseMs?: Record<string, number>,
): IntervalSummary {
  if (values.length < records.length * 2) {
    throw new RangeError(`Expected ${records.length * 2} metric values, got ${values.length}.`);
  }
  let lossSum = 0;
  let finiteCount = 0;
  let nonFinite: NonFiniteStep | undefined;
  for (let i = 0; i < records.length; i++) {
    const loss = values[2 * i];
    const gradNorm = values[2 * i + 1];
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
      nonFinite = { record: records[i], loss, gradNorm };
      break;
    }
    lossSum += loss;
    finiteCount++;
  }
  if (finiteCount === 0) return { nonFinite };
  const last = records[finiteCount - 1];
  const stepMs = wallMs / records.length;
  const sample: TrainingMetrics = {
    step: last.step,
    loss: lossSum / finiteCount,
    lr: last.lr,
    weightDecay: last.weightDecay,
    gradNorm: values[2 * (finiteCount - 1) + 1],
    imagesPerSecond: stepMs > 0 ? (batch * 1000) / stepMs : 0,
    stepMs,
  };
  if (phaseMs) sample.phaseMs = phaseMs;
  if (last.dispatches !== undefined) sample.dispatches = last.dispatches;
  return { sample, nonFinite };
}

/** The sentence shown when a step is discarded. */
export function nonFiniteMessage(bad: NonFiniteStep, restoredStep: number): string {
  const what = !Number.isFinite(bad.loss)
    ? `a non-finite loss (${bad.loss})`
    : `a non-finite gradient norm (${bad.gradNorm})`;
  return (
    `Step ${bad.record.step} produced ${what}, so it was discarded and the model, BatchNorm statistics and ` +
    `optimiser state were restored to step ${restoredStep}. Training is paused. This usually means the ` +
    `learning rate (${bad.record.lr.toPrecision(3)} at that step) is too high for this model or batch; ` +
    'lower it and resume, or simply resume to try the next batch.'
  );
}
