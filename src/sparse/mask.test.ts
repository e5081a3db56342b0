import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expandMask, explicitMask, lenKeep, randomMask, roundHalfToEven, visibleCellCounts } from './mask';

describe('masks', () => {
  it('rounds halves to even like Python', () => {
    expect([0.5, 1.5, 2.5, 3.5, 19.5, 20.5, 2.4, 2.6, 19.6].map(roundHalfToEven)).toEqual([
      0, 2, 2, 4, 20, 20, 2, 3, 20,
    ]);
  });

  it('keeps the official counts (spark-spec §1.2 table)', () => {
    expect(lenKeep(7, 7, 0.6)).toBe(20);
    expect(lenKeep(7, 7, 0.75)).toBe(12);
    expect(lenKeep(12, 12, 0.6)).toBe(58);
    expect(lenKeep(12, 12, 0.75)).toBe(36);
    expect(lenKeep(4, 4, 0.6)).toBe(6);
    expect(lenKeep(3, 3, 0.75)).toBe(2);
    expect(lenKeep(2, 2, 0.75)).toBe(1);
    expect(lenKeep(8, 8, 0.6)).toBe(26);
    expect(lenKeep(5, 5, 0)).toBe(25);
  });

  it('rejects bad configurations with sentences', () => {
    expect(() => lenKeep(1, 1, 0.6)).toThrow(/keeps no cell visible/);
    expect(() => lenKeep(7, 7, 1)).toThrow(/\[0, 1\)/);
    expect(() => lenKeep(7, 7, -0.1)).toThrow(/\[0, 1\)/);
    expect(() => lenKeep(0, 7, 0.5)).toThrow(/at least 1×1/);
    expect(() => randomMask(0, 7, 7, 0.5, 1)).toThrow(/batch size/);
    expect(() => explicitMask(1, 2, 2, [1, 0, 0])).toThrow(/needs 4/);
    expect(() => explicitMask(1, 2, 2, [0, 0, 0, 0])).toThrow(/no visible cell/);
    expect(() => explicitMask(1, 1, 2, [2, 0])).toThrow(/0 \(masked\) or 1/);
  });

  it('hand-made masks may keep a different number of cells in each image (1 to all)', () => {
    const m = explicitMask(3, 2, 2, [1, 0, 0, 0, 1, 1, 0, 1, 1, 1, 1, 1]);
    expect(visibleCellCounts(m)).toEqual([1, 3, 4]);
  });

  it('keeps exactly len_keep cells per image, reproducibly per seed (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 9 }),
        fc.double({ min: 0, max: 0.95, noNaN: true }),
        fc.integer(),
        (batch, h, w, ratio, seed) => {
          fc.pre(roundHalfToEven(h * w * (1 - ratio)) >= 1);
          const keep = lenKeep(h, w, ratio);
          const m = randomMask(batch, h, w, ratio, seed);
          for (let b = 0; b < batch; b++) {
            let count = 0;
            for (let i = 0; i < h * w; i++) count += m.cells[b * h * w + i];
            expect(count).toBe(keep);
          }
          expect(randomMask(batch, h, w, ratio, seed).cells).toEqual(m.cells);
          expect(visibleCellCounts(m)).toEqual(new Array(batch).fill(keep));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('chooses cells uniformly (each cell visible with probability keep/cells)', () => {
    const m = randomMask(4000, 3, 3, 0.5, 11); // keep = round(4.5) = 4 of 9
    const counts = new Array(9).fill(0);
    for (let b = 0; b < 4000; b++) for (let i = 0; i < 9; i++) counts[i] += m.cells[b * 9 + i];
    // Expected 4000·4/9 ≈ 1778 per cell, binomial std ≈ 31: 5 std is a loose, never-flaky bound.
    for (const c of counts) expect(Math.abs(c - (4000 * 4) / 9)).toBeLessThan(160);
  });

  it('expands cells to pixels by nearest repetition', () => {
    const m = explicitMask(1, 2, 2, [1, 0, 0, 1]);
    expect(Array.from(expandMask(m, 2))).toEqual([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1]);
  });
});
