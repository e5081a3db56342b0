import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expandMask, explicitMask, randomMask } from './mask';
import { buildNeighbourMaps, buildSiteSet, gatherRows, PADDING_NEIGHBOUR, scatterRows } from './sites';

describe('site sets and neighbour maps', () => {
  it('orders rows block-major and counts B·len_keep·side²', () => {
    const mask = explicitMask(2, 2, 2, [0, 1, 1, 0, 1, 0, 0, 1]);
    const s = buildSiteSet(mask, 2);
    expect(s.rows).toBe(2 * 2 * 4);
    // Image 0: cell (0,1) then cell (1,0); inside a cell y-then-x.
    expect(Array.from(s.coords.slice(0, 12))).toEqual([0, 0, 2, 0, 0, 3, 0, 1, 2, 0, 1, 3]);
    expect(Array.from(s.coords.slice(12, 15))).toEqual([0, 2, 0]);
    expect(s.gridIndex[(0 * 4 + 0) * 4 + 2]).toBe(0);
    expect(s.gridIndex[(0 * 4 + 0) * 4 + 0]).toBe(-1);
    expect(s.gridIndex[(1 * 4 + 3) * 4 + 3]).toBe(15);
  });

  it('gridIndex is −1 exactly where the expanded mask is 0, and gather/scatter invert (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer(),
        (batch, gh, gw, side, seed) => {
          const mask = randomMask(batch, gh, gw, 0.5 * (gh * gw > 1 ? 1 : 0), seed);
          const s = buildSiteSet(mask, side);
          const pixels = expandMask(mask, side);
          for (let i = 0; i < pixels.length; i++) expect(s.gridIndex[i] >= 0).toBe(pixels[i] === 1);
          const rows = Float32Array.from({ length: s.rows * 3 }, (_, i) => i + 1);
          expect(gatherRows(scatterRows(rows, s, 3), s, 3)).toEqual(rows);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('neighbour maps: every tap and the transposed map agree with the coordinates (property)', () => {
    const geometries = [
      { kernel: 3, stride: 1, padding: 1, down: 1 },
      { kernel: 7, stride: 1, padding: 3, down: 1 },
      { kernel: 1, stride: 1, padding: 0, down: 1 },
      { kernel: 7, stride: 2, padding: 3, down: 2 },
      { kernel: 3, stride: 2, padding: 1, down: 2 },
      { kernel: 1, stride: 2, padding: 0, down: 2 },
      { kernel: 2, stride: 2, padding: 0, down: 2 },
      { kernel: 4, stride: 4, padding: 0, down: 4 },
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...geometries),
        fc.integer({ min: 1, max: 3 }),
        fc.integer(),
        (g, gridSide, seed) => {
          const mask = randomMask(2, gridSide, gridSide + 1, 0.5, seed);
          const input = buildSiteSet(mask, 4);
          const output = buildSiteSet(mask, 4 / g.down);
          const maps = buildNeighbourMaps(input, output, g);
          const k = g.kernel;
          for (let o = 0; o < output.rows; o++) {
            const [b, oy, ox] = output.coords.slice(o * 3, o * 3 + 3);
            for (let t = 0; t < k * k; t++) {
              const y = oy * g.stride - g.padding + Math.floor(t / k);
              const x = ox * g.stride - g.padding + (t % k);
              const inside = y >= 0 && y < input.height && x >= 0 && x < input.width;
              const v = maps.forward[o * k * k + t];
              if (!inside) expect(v).toBe(PADDING_NEIGHBOUR);
              else expect(v).toBe(input.gridIndex[(b * input.height + y) * input.width + x]);
              if (v >= 0) expect(maps.transposed[v * k * k + t]).toBe(o);
            }
          }
          let links = 0;
          for (const v of maps.transposed) if (v >= 0) links++;
          let forwardLinks = 0;
          for (const v of maps.forward) if (v >= 0) forwardLinks++;
          expect(links).toBe(forwardLinks);
          expect(maps.buildMs).toBeGreaterThanOrEqual(0);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('skips the transposed map on request (a layer whose input needs no gradient)', () => {
    const mask = randomMask(2, 2, 2, 0.5, 3);
    const g = { kernel: 7, stride: 2, padding: 3 };
    const full = buildNeighbourMaps(buildSiteSet(mask, 4), buildSiteSet(mask, 2), g);
    const lean = buildNeighbourMaps(buildSiteSet(mask, 4), buildSiteSet(mask, 2), g, { transposed: false });
    expect(lean.forward).toEqual(full.forward);
    expect(lean.transposed.length).toBe(0);
  });

  it('rejects a window that does not produce the output scale', () => {
    const mask = randomMask(1, 2, 2, 0.5, 1);
    expect(() =>
      buildNeighbourMaps(buildSiteSet(mask, 4), buildSiteSet(mask, 4), { kernel: 3, stride: 2, padding: 1 }),
    ).toThrow(/gives 4×4, but the output scale is 8×8/);
  });
});
