import { describe, expect, it } from 'vitest';
import { Rng } from '../util/random';
import { binIndex, DEFAULT_HISTOGRAM, klDivergence, pixelHistograms } from './histogram';

describe('klDivergence', () => {
  it('is 0 for equal histograms and matches a hand computation', () => {
    expect(klDivergence([3, 1, 0], [3, 1, 0], 0.5)).toBe(0);
    // No smoothing: p = (½, ½), q = (¼, ¾): ½·ln 2 + ½·ln(2/3).
    expect(klDivergence([1, 1], [1, 3], 0)).toBeCloseTo(0.5 * Math.log(2) + 0.5 * Math.log(2 / 3), 12);
    // Smoothing ½: p = (1.5, 0.5)/2, q = (0.5, 1.5)/2.
    expect(klDivergence([1, 0], [0, 1], 0.5)).toBeCloseTo(0.75 * Math.log(3) + 0.25 * Math.log(1 / 3), 12);
    expect(() => klDivergence([1], [1, 2], 0)).toThrow('Histograms have 1 and 2 bins; they must match.');
  });
});

describe('pixelHistograms', () => {
  const opts = { bins: 4, range: [-2, 2] as const, pseudoCount: 0 };

  it('bins values with edges clamped (4 bins over [−2, 2])', () => {
    expect(
      [-5, -2, -1.01, -1, 0, 1.99, 2, 9].map((v) => binIndex(v, { ...DEFAULT_HISTOGRAM, ...opts })),
    ).toEqual([0, 0, 0, 1, 2, 3, 3, 3]);
  });

  it('counts a hand-made 1×3×2×2 batch with a 1×2 mask (left column visible)', () => {
    // Channel planes (row-major 2×2): values chosen one per bin; bins: [−2,−1), [−1,0), [0,1), [1,2].
    const images = new Float32Array([-1.5, 1.5, -1.5, 1.5, -0.5, 0.5, -0.5, 0.5, -1.5, -1.5, -1.5, -1.5]);
    const h = pixelHistograms(images, 1, 2, { data: [1, 0], height: 1, width: 2 }, opts);
    expect(Array.from(h.original)).toEqual([6, 2, 2, 2]);
    // Visible: column 0 of each channel: −1.5, −1.5, −0.5, −0.5, −1.5, −1.5.
    expect(Array.from(h.visibleOnly)).toEqual([4, 2, 0, 0]);
    // Zero-masked: visible ones plus six zeros, all in bin 2.
    expect(Array.from(h.zeroMasked)).toEqual([4, 2, 6, 0]);
    expect(h.visibleFraction).toBe(0.5);
    expect(Array.from(h.edges)).toEqual([-2, -1, 0, 1, 2]);
    expect(h.klZeroMasked).toBeCloseTo(klDivergence([6, 2, 2, 2], [4, 2, 6, 0], 0), 12);
    const red = pixelHistograms(images, 1, 2, { data: [1, 0], height: 1, width: 2 }, { ...opts, channel: 0 });
    expect(Array.from(red.original)).toEqual([2, 0, 0, 2]);
  });

  it('zero-masking shifts the distribution far more than visible-only sampling (random image, 60% masked)', () => {
    const rng = new Rng(4);
    const batch = 2;
    const size = 16;
    const images = rng.normals(batch * 3 * size * size, 1);
    const cells = Array.from({ length: batch * 16 }, () => (rng.next() < 0.4 ? 1 : 0));
    const h = pixelHistograms(images, batch, size, { data: cells, height: 4, width: 4 });
    expect(h.klZeroMasked).toBeGreaterThan(10 * h.klVisibleOnly);
    const allVisible = pixelHistograms(images, batch, size, {
      data: new Array(32).fill(1),
      height: 4,
      width: 4,
    });
    expect(allVisible.klVisibleOnly).toBe(0);
    expect(allVisible.klZeroMasked).toBe(0);
    expect(Array.from(allVisible.zeroMasked)).toEqual(Array.from(allVisible.original));
  });

  it('explains inconsistent shapes', () => {
    const images = new Float32Array(3 * 4 * 4);
    expect(() => pixelHistograms(images, 2, 4, { data: [1], height: 1, width: 1 })).toThrow(
      'The image batch has 48 values, not 2×3×4×4.',
    );
    expect(() => pixelHistograms(images, 1, 4, { data: [1, 1], height: 1, width: 1 })).toThrow(
      /The mask has 2 cells/,
    );
    expect(() =>
      pixelHistograms(images, 1, 4, { data: [1, 1, 1, 1, 1, 1, 1, 1, 1], height: 3, width: 3 }),
    ).toThrow('A 3×3 mask grid does not divide a 4-px image evenly.');
  });
});
