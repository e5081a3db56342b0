import { describe, expect, it } from 'vitest';
import type { SparkConfig } from '../../models/config';
import { PRESETS } from '../../models/presets';
import {
  activeRowsPerScale,
  cellOrder,
  displayMasks,
  encoderActivationFloats,
  encoderCost,
  nestedMask,
  noLeakComposite,
} from './lesson-math';

const tiny = PRESETS.tiny as SparkConfig;

describe('display masks', () => {
  it('a cell order is a permutation and masks drawn from it are nested', () => {
    for (const cells of [1, 7, 16, 49]) {
      const order = cellOrder(cells, 3);
      expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: cells }, (_, i) => i));
      let previous = nestedMask(order, 0);
      for (let keep = 1; keep <= cells; keep++) {
        const mask = nestedMask(order, keep);
        expect(mask.reduce((s, v) => s + v, 0)).toBe(keep);
        for (let i = 0; i < cells; i++) if (previous[i]) expect(mask[i]).toBe(1);
        previous = mask;
      }
    }
  });

  it('keeps round-half-even(g²(1−r)) cells per image: 4×4 at 0.6 keeps 6, at 0.75 keeps 4', () => {
    const m = displayMasks(3, 4, 0.6);
    for (let b = 0; b < 3; b++) expect(m.subarray(b * 16, b * 16 + 16).reduce((s, v) => s + v, 0)).toBe(6);
    expect(displayMasks(1, 4, 0.75).reduce((s, v) => s + v, 0)).toBe(4);
    expect(() => nestedMask(cellOrder(4, 1), 5)).toThrow(/Cannot keep 5 of 4/);
  });
});

describe('Figure 2 arithmetic', () => {
  it('tiny (strides 2/4/8, cell side 8): 6 visible cells are 96, 24 and 6 active sites', () => {
    const rows = activeRowsPerScale(tiny, 6);
    expect(rows.map((r) => [r.stride, r.rows, r.denseRows, r.side])).toEqual([
      [2, 96, 256, 16],
      [4, 24, 64, 8],
      [8, 6, 16, 4],
    ]);
    expect(activeRowsPerScale(tiny, 6, 2)[0].rows).toBe(192);
  });

  it('counts the encoder activations of tiny by hand: 18944 floats per image', () => {
    // stem 32²·8; per stage two 3×3 outputs and the strided 1×1 shortcut: 16²·8·3, 8²·16·3, 4²·32·3.
    expect(encoderActivationFloats(tiny)).toBe(
      32 * 32 * 8 + 16 * 16 * 8 * 3 + 8 * 8 * 16 * 3 + 4 * 4 * 32 * 3,
    );
  });

  it('the sparse/dense encoder ratio is the visible share and falls as the ratio rises', () => {
    expect(encoderCost(tiny, 0.6, 2).ratio).toBeCloseTo(6 / 16, 12);
    const ratios = [0.2, 0.4, 0.6, 0.8].map((r) => encoderCost(tiny, r, 2).ratio);
    for (let i = 1; i < ratios.length; i++) expect(ratios[i]).toBeLessThan(ratios[i - 1]);
    const cost = encoderCost(tiny, 0.6, 2);
    expect(cost.activationDenseBytes).toBe(18944 * 4 * 2);
    expect(cost.activationSparseBytes).toBeCloseTo(18944 * 4 * 2 * (6 / 16), 6);
  });
});

describe('the no-leak reconstruction', () => {
  // One 4×4 image, 2×2 grid (2-px patches); cell 3 (bottom right) masked and holding 100s that must not leak.
  const size = 4;
  const input = new Float32Array(3 * size * size);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        input[c * 16 + y * 4 + x] = y >= 2 && x >= 2 ? 100 : (x + y) % 2 === 0 ? 0 : 4;
  const mask = Uint8Array.from([1, 1, 1, 0]);
  const prediction = new Float32Array(3 * 16).fill(1);

  it('de-normalises a hidden patch with its visible neighbours (mean 2, 36 values of 0 and 4), not itself', () => {
    const out = noLeakComposite({
      input,
      prediction,
      mask,
      images: 1,
      size,
      grid: 2,
      patchNormalizedTarget: true,
    });
    const std = Math.sqrt((36 * 4) / 35 + 1e-6);
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) {
          const i = c * 16 + y * 4 + x;
          if (y >= 2 && x >= 2) expect(out[i]).toBeCloseTo(2 + std, 5);
          else expect(out[i]).toBe(input[i]);
        }
  });

  it('with a raw target the prediction is shown as it is', () => {
    const out = noLeakComposite({
      input,
      prediction,
      mask,
      images: 1,
      size,
      grid: 2,
      patchNormalizedTarget: false,
    });
    expect(out[2 * 4 + 2]).toBe(1);
    expect(out[0]).toBe(0);
  });
});
