/**
 * Per-iteration learning-rate and weight-decay schedules of the official pre-training recipe (spark-spec
 * §5.1): linear warm-up from 0.005·peak to peak, then cosine down to 0.001·peak at the last iteration; weight
 * decay rises along a cosine from wd0 (0.04) to wdEnd (0.2) over the whole run. The optimiser receives both as
 * per-step uniforms (Lamb/AdamW.beginStep).
 */

export interface ScheduleConfig {
  /** Peak learning rate (official: base_lr · global_batch / 256). */
  peakLr: number;
  warmupIterations: number;
  totalIterations: number;
  /** Fractions of the peak at the start of warm-up and at the end (official 0.005 and 0.001). */
  warmupStartFraction?: number;
  finalFraction?: number;
  weightDecayStart?: number;
  weightDecayEnd?: number;
}

export interface Schedule {
  lr(iteration: number): number;
  weightDecay(iteration: number): number;
}

/** 0.5 + 0.5·cos(π·t), clamped to t ∈ [0, 1]: 1 at the start, 0 at the end. */
function cosineFall(t: number): number {
  return 0.5 + 0.5 * Math.cos(Math.PI * Math.min(1, Math.max(0, t)));
}

export function sparkSchedule(config: ScheduleConfig): Schedule {
  const {
    peakLr,
    warmupIterations: warmup,
    totalIterations: total,
    warmupStartFraction = 0.005,
    finalFraction = 0.001,
    weightDecayStart = 0.04,
    weightDecayEnd = 0.2,
  } = config;
  if (!(peakLr >= 0) || !Number.isInteger(warmup) || !Number.isInteger(total) || warmup < 0 || total < 1) {
    throw new RangeError(
      'The schedule needs a peak learning rate ≥ 0 and whole, non-negative iteration counts.',
    );
  }
  if (warmup >= total) {
    throw new RangeError(
      `The warm-up (${warmup} iterations) must be shorter than the run (${total} iterations).`,
    );
  }
  // The cosine reaches its end exactly at the last iteration (total − 1), as in the official code.
  const decaySpan = Math.max(1, total - 1 - warmup);
  const wdSpan = Math.max(1, total - 1);
  return {
    lr(iteration: number): number {
      if (iteration < warmup) {
        return peakLr * (warmupStartFraction + ((1 - warmupStartFraction) * iteration) / warmup);
      }
      const fall = cosineFall((iteration - warmup) / decaySpan);
      return peakLr * (finalFraction + (1 - finalFraction) * fall);
    },
    weightDecay(iteration: number): number {
      return weightDecayEnd + (weightDecayStart - weightDecayEnd) * cosineFall(iteration / wdSpan);
    },
  };
}
