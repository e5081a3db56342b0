import { describe, expect, it } from 'vitest';
import { sqrtShareBars } from './Histograms';

describe('histogram bars for uPlot', () => {
  it('puts √(share) at each left edge and closes the last bar at the right edge', () => {
    // Counts 1, 0, 3 of 4 values: shares 1/4, 0, 3/4.
    const bars = sqrtShareBars([1, 0, 3], [-1, 0, 1, 2]);
    expect(bars).toEqual([
      { x: -1, y: 0.5 },
      { x: 0, y: 0 },
      { x: 1, y: Math.sqrt(0.75) },
      { x: 2, y: Math.sqrt(0.75) },
    ]);
  });

  it('draws empty histograms flat instead of dividing by zero', () => {
    expect(sqrtShareBars([0, 0], [0, 1, 2]).map((p) => p.y)).toEqual([0, 0, 0]);
    expect(sqrtShareBars([], [0])).toEqual([]);
  });
});
