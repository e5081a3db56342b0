import { describe, expect, it } from 'vitest';
import { nonFiniteMessage, type StepRecord, summarizeInterval } from './metrics';

function record(step: number): StepRecord {
  return {
    step,
    lr: 0.01 * step,
    weightDecay: 0.04,
    dataRngBefore: step,
    dataRngAfter: step + 1,
    maskRngBefore: step,
    maskRngAfter: step + 1,
    batchesTracked: [],
    optimizerSteps: { decay: step - 1, noDecay: step - 1 },
  };
}

describe('summarizeInterval', () => {
  it('mean loss, last gradient norm, last lr, throughput from the wall time', () => {
    const records = [record(1), record(2), record(3), record(4)];
    const values = new Float32Array([1, 10, 2, 20, 3, 30, 6, 40]);
    const { sample, nonFinite } = summarizeInterval(records, values, 8, 400, { optimizer: 1 });
    expect(nonFinite).toBeUndefined();
    expect(sample).toEqual({
      step: 4,
      loss: 3,
      lr: 0.04,
      weightDecay: 0.04,
      gradNorm: 40,
      imagesPerSecond: 80,
      stepMs: 100,
      phaseMs: { optimizer: 1 },
    });
  });

  it('stops at the first non-finite loss or gradient norm and summarises only the steps before it', () => {
    const records = [record(5), record(6), record(7)];
    const { sample, nonFinite } = summarizeInterval(
      records,
      new Float32Array([2, 1, 4, Number.POSITIVE_INFINITY, Number.NaN, 3]),
      2,
      30,
    );
    expect(sample?.step).toBe(5);
    expect(sample?.loss).toBe(2);
    expect(nonFinite?.record.step).toBe(6);
    expect(nonFinite?.gradNorm).toBe(Number.POSITIVE_INFINITY);
    expect(nonFiniteMessage(nonFinite!, 5)).toMatch(
      /^Step 6 produced a non-finite gradient norm \(Infinity\), so it was discarded .* restored to step 5\. Training is paused\./,
    );
  });

  it('no sample when the first step is already non-finite; too few values is an error', () => {
    const out = summarizeInterval([record(1)], new Float32Array([Number.NaN, 1]), 2, 10);
    expect(out.sample).toBeUndefined();
    expect(out.nonFinite?.loss).toBeNaN();
    expect(() => summarizeInterval([record(1), record(2)], new Float32Array(2), 2, 10)).toThrow(/Expected 4/);
  });
});
