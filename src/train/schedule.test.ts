import { describe, expect, it } from 'vitest';
import { referenceLr, referenceWd } from '../reference/schedule';
import { sparkSchedule } from './schedule';

describe('SparK lr / wd schedules', () => {
  // The official recipe: 1600 epochs × 313 iterations, 40 warm-up epochs, peak 3.2e-3.
  const total = 1600 * 313;
  const warmup = 40 * 313;
  const schedule = sparkSchedule({ peakLr: 3.2e-3, warmupIterations: warmup, totalIterations: total });

  it('matches the official formulas everywhere', () => {
    for (const it of [0, 1, 7, warmup - 1, warmup, warmup + 1, 100_000, 250_000, total - 2, total - 1]) {
      expect(schedule.lr(it)).toBeCloseTo(referenceLr(it, 3.2e-3, warmup, total), 15);
      expect(schedule.weightDecay(it)).toBeCloseTo(referenceWd(it, 0.04, 0.2, total), 15);
    }
  });

  it('has the documented end points', () => {
    expect(schedule.lr(0)).toBeCloseTo(0.005 * 3.2e-3, 15);
    expect(schedule.lr(warmup)).toBeCloseTo(3.2e-3, 15);
    expect(schedule.lr(total - 1)).toBeCloseTo(0.001 * 3.2e-3, 15);
    expect(schedule.weightDecay(0)).toBeCloseTo(0.04, 15);
    expect(schedule.weightDecay(total - 1)).toBeCloseTo(0.2, 15);
  });

  it('warms up linearly, then decays and raises wd monotonically', () => {
    const mid = schedule.lr(warmup / 2);
    expect(mid).toBeCloseTo(3.2e-3 * (0.005 + 0.995 * 0.5), 15);
    let lastLr = Number.POSITIVE_INFINITY;
    let lastWd = 0;
    for (let it = warmup; it < total; it += 997) {
      expect(schedule.lr(it)).toBeLessThanOrEqual(lastLr);
      expect(schedule.weightDecay(it)).toBeGreaterThanOrEqual(lastWd);
      lastLr = schedule.lr(it);
      lastWd = schedule.weightDecay(it);
    }
  });

  it('handles a run without warm-up and rejects a warm-up as long as the run', () => {
    const s = sparkSchedule({ peakLr: 1, warmupIterations: 0, totalIterations: 11 });
    expect(s.lr(0)).toBeCloseTo(1, 15);
    expect(s.lr(10)).toBeCloseTo(0.001, 15);
    expect(() => sparkSchedule({ peakLr: 1, warmupIterations: 5, totalIterations: 5 })).toThrow(/shorter/);
  });
});
