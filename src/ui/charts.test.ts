import { describe, expect, it } from 'vitest';
import { extent, formatNumber, linePath, maxDensity, niceTicks, scale } from './charts';

describe('chart geometry', () => {
  it('extent skips non-finite values and widens a single value', () => {
    expect(extent([3, Number.NaN, 1, Number.POSITIVE_INFINITY, 2])).toEqual([1, 3]);
    expect(extent([2, 2])).toEqual([1.8, 2.2]);
    expect(extent([0])).toEqual([-1, 1]);
    expect(extent([])).toEqual([0, 1]);
    expect(extent([3, 5], true)).toEqual([0, 5]);
  });

  it('ticks are round and cover the range', () => {
    expect(niceTicks(0, 1, 4)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.13, 0.97, 4)).toEqual([0.2, 0.4, 0.6, 0.8]);
    expect(niceTicks(0, 300, 4)).toEqual([0, 100, 200, 300]);
    expect(niceTicks(-2.2, 2.7, 5)).toEqual([-2, -1, 0, 1, 2]);
    expect(niceTicks(0.1, 0.3, 2)).toEqual([0.1, 0.2, 0.3]);
    expect(niceTicks(5, 5)).toEqual([5]);
  });

  it('scale maps the domain onto the range, reversed ranges included', () => {
    const s = scale([10, 20], [100, 0]);
    expect(s(10)).toBe(100);
    expect(s(15)).toBe(50);
    expect(s(20)).toBe(0);
    expect(scale([1, 1], [0, 10])(1)).toBe(0);
  });

  it('a line path puts y up and breaks at NaN', () => {
    const d = linePath(
      [
        { x: 0, y: 0 },
        { x: 1, y: 1 },
        { x: 2, y: Number.NaN },
        { x: 3, y: 0.5 },
        { x: 4, y: 1 },
      ],
      [0, 4],
      [0, 1],
      { width: 40, height: 10 },
    );
    expect(d).toBe('M0.0,10.0L10.0,0.0M30.0,5.0L40.0,0.0');
  });

  it('the largest density of a histogram', () => {
    expect(maxDensity([1, 3])).toBe(0.75);
    expect(maxDensity([0, 0])).toBe(0);
  });

  it('numbers print short', () => {
    expect(formatNumber(0.123456)).toBe('0.123');
    expect(formatNumber(1234.5)).toBe('1230');
    expect(formatNumber(2e-5)).toBe('2.0e-5');
    expect(formatNumber(0)).toBe('0');
    expect(formatNumber(Number.NaN)).toBe('NaN');
  });
});
