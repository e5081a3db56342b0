import { readFile } from 'node:fs/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assertClose } from '../reference/allclose';
import { Rng } from '../util/random';
import { randomResizedCropRegion } from './augment';
import { decodeImageNode } from './decode-node';
import type { RgbImage } from './image';
import { probeImage } from './image';
import { halveRgb, type Interpolation, MipImage, type Region, resampleRegion, resizeRgb } from './resample';

function randomImage(width: number, height: number, seed: number): RgbImage {
  const rng = new Rng(seed);
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = rng.int(256);
  return { width, height, data };
}

/**
 * Straightforward 2D reference: every source pixel weighted by kernel(dx)·kernel(dy), the kernel stretched by
 * the scale when shrinking, weights normalised per axis over the pixels inside the image. No tap ranges.
 */
function naiveResample(src: RgbImage, region: Region, outW: number, outH: number, mode: Interpolation) {
  const kernel = (t: number) => {
    const a = Math.abs(t);
    if (mode === 'bilinear') return Math.max(0, 1 - a);
    if (a < 1) return 1.5 * a ** 3 - 2.5 * a ** 2 + 1;
    if (a < 2) return -0.5 * a ** 3 + 2.5 * a ** 2 - 4 * a + 2;
    return 0;
  };
  const axisWeights = (n: number, start: number, length: number, out: number, i: number) => {
    const scale = length / out;
    const stretch = Math.max(1, scale);
    const center = start + (i + 0.5) * scale;
    const w = Array.from({ length: n }, (_, j) => kernel((j + 0.5 - center) / stretch));
    const total = w.reduce((a, b) => a + b, 0);
    return w.map((v) => v / total);
  };
  const out = new Float64Array(outW * outH * 3);
  for (let oy = 0; oy < outH; oy++) {
    const wy = axisWeights(src.height, region.y, region.height, outH, oy);
    for (let ox = 0; ox < outW; ox++) {
      const wx = axisWeights(src.width, region.x, region.width, outW, ox);
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let y = 0; y < src.height; y++) {
          if (wy[y] === 0) continue;
          for (let x = 0; x < src.width; x++) s += wy[y] * wx[x] * src.data[(y * src.width + x) * 3 + c];
        }
        out[(oy * outW + ox) * 3 + c] = Math.min(255, Math.max(0, s));
      }
    }
  }
  return out;
}

describe('resampleRegion', () => {
  it('matches the direct 2D formula on random images, regions and sizes (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 23 }),
        fc.integer({ min: 1, max: 23 }),
        fc.integer({ min: 1, max: 13 }),
        fc.integer({ min: 1, max: 13 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.constantFrom<Interpolation>('bicubic', 'bilinear'),
        fc.integer({ min: 0, max: 1e6 }),
        (w, h, outW, outH, fx, fy, mode, seed) => {
          const src = randomImage(w, h, seed);
          const region = {
            x: fx * w * 0.5,
            y: fy * h * 0.5,
            width: w * (1 - fx * 0.5),
            height: h * (1 - fy * 0.5),
          };
          const actual = resampleRegion(src, region, outW, outH, mode);
          // Float32 output of float64 sums of 8-bit values: error ≤ ~255·2⁻²⁴.
          assertClose(actual, naiveResample(src, region, outW, outH, mode), { rtol: 1e-6, atol: 1e-4 });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('is the identity at scale 1 for both filters (5×7 image, prime sizes)', () => {
    const src = randomImage(5, 7, 3);
    for (const mode of ['bicubic', 'bilinear'] as const) {
      const out = resampleRegion(src, { x: 0, y: 0, width: 5, height: 7 }, 5, 7, mode);
      expect(Array.from(out)).toEqual(Array.from(src.data));
    }
  });

  it('crops exactly at integer offsets and scale 1 (window 3×2 at (2,4) of 9×8)', () => {
    const src = randomImage(9, 8, 11);
    const out = resampleRegion(src, { x: 2, y: 4, width: 3, height: 2 }, 3, 2, 'bicubic');
    const expected: number[] = [];
    for (let y = 4; y < 6; y++)
      for (let x = 2; x < 5; x++) for (let c = 0; c < 3; c++) expected.push(src.data[(y * 9 + x) * 3 + c]);
    expect(Array.from(out)).toEqual(expected);
  });

  it('keeps a constant image constant when shrinking 512→7 and enlarging 3→17', () => {
    const flat = (n: number): RgbImage => ({ width: n, height: n, data: new Uint8Array(n * n * 3).fill(77) });
    for (const [n, m] of [
      [512, 7],
      [3, 17],
    ]) {
      const out = resampleRegion(flat(n), { x: 0, y: 0, width: n, height: n }, m, m, 'bicubic');
      assertClose(out, new Float32Array(m * m * 3).fill(77), { rtol: 0, atol: 1e-4 });
    }
  });

  it('halving with the antialiased triangle uses the taps 1/8, 3/8, 3/8, 1/8', () => {
    const src: RgbImage = { width: 8, height: 1, data: new Uint8Array(24) };
    for (let x = 0; x < 8; x++) src.data.fill(x === 3 ? 80 : 0, x * 3, x * 3 + 3);
    const out = resampleRegion(src, { x: 0, y: 0, width: 8, height: 1 }, 4, 1, 'bilinear');
    // Output 1 covers source 1..4 (taps 1/8, 3/8, 3/8, 1/8): pixel 3 contributes 3/8·80 = 30; output 2, 1/8·80.
    assertClose([out[3], out[6], out[0], out[9]], [30, 10, 0, 0], { rtol: 0, atol: 1e-4 });
  });

  it('resizeRgb rounds to 8 bits', () => {
    const src = randomImage(6, 4, 5);
    const small = resizeRgb(src, 3, 2, 'bilinear');
    const f = resampleRegion(src, { x: 0, y: 0, width: 6, height: 4 }, 3, 2, 'bilinear');
    expect(Array.from(small.data)).toEqual(Array.from(f, Math.round));
  });
});

describe('MipImage', () => {
  it('halves with a 2×2 box average, dropping an odd last column (5×2 → 2×1)', () => {
    const data = new Uint8Array(5 * 2 * 3);
    for (let x = 0; x < 5; x++)
      for (let y = 0; y < 2; y++) data.fill(10 * x + 100 * y, (y * 5 + x) * 3, (y * 5 + x) * 3 + 3);
    const half = halveRgb({ width: 5, height: 2, data });
    expect([half.width, half.height]).toEqual([2, 1]);
    // Pixel 0 averages x 0–1, y 0–1: (0 + 10 + 100 + 110) / 4 = 55; pixel 1: (20 + 30 + 120 + 130) / 4 = 75.
    expect(Array.from(half.data)).toEqual([55, 55, 55, 75, 75, 75]);
  });

  it('picks the coarsest level that keeps 2× oversampling and stops at 16 px', () => {
    const mip = new MipImage({ width: 512, height: 300, data: new Uint8Array(512 * 300 * 3) });
    expect(mip.levels.map((l) => [l.width, l.height])).toEqual([
      [512, 300],
      [256, 150],
      [128, 75],
      [64, 37],
      [32, 18],
    ]);
    expect([1, 2, 3.9, 4, 8, 100].map((s) => mip.levelFor(s))).toEqual([0, 0, 0, 1, 2, 4]);
    expect(mip.bytes).toBeLessThan((4 / 3) * 512 * 300 * 3);
  });

  it('stays within a few 8-bit levels of filtering the full photo (retina.jpg 1411², crops to 32 and 128 px)', async () => {
    const bytes = new Uint8Array(
      await readFile(new URL('../../public/data/photos/retina.jpg', import.meta.url)),
    );
    const probe = probeImage(bytes);
    if (!probe.ok) throw new Error(probe.reason);
    const image = await decodeImageNode(bytes, probe.header);
    const mip = new MipImage(image);
    const rng = new Rng(3);
    for (const size of [32, 128]) {
      let worst = 0;
      let total = 0;
      let count = 0;
      for (let i = 0; i < 4; i++) {
        const region = randomResizedCropRegion(image.width, image.height, rng);
        const exact = resampleRegion(image, region, size, size, 'bicubic');
        const fast = mip.resample(region, size, size, 'bicubic');
        for (let j = 0; j < exact.length; j++) {
          const d = Math.abs(exact[j] - fast[j]);
          worst = Math.max(worst, d);
          total += d;
          count++;
        }
      }
      // Measured: max ≈ 3.7 and mean ≈ 0.5 levels at 32 px; ≈ 2.9 and 0.25 at 128 px.
      expect(worst).toBeLessThan(6);
      expect(total / count).toBeLessThan(1);
      expect(worst).toBeGreaterThan(0);
    }
  });
});
