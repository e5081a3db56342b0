import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rng } from '../util/random';
import {
  augmentImage,
  DEFAULT_AUGMENT,
  denormalizeToHwc,
  flipHorizontal,
  IMAGENET_NORMALIZATION,
  nativeCropRegion,
  randomResizedCropRegion,
  validateNormalization,
  writeNormalized,
} from './augment';
import type { RgbImage } from './image';

function patternImage(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) data.set([x % 256, y % 256, (x * 7 + y * 13) % 256], (y * width + x) * 3);
  return { width, height, data };
}

describe('randomResizedCropRegion', () => {
  it('stays inside the image with area and aspect in range, or falls back to a centred crop (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 700 }),
        fc.integer({ min: 1, max: 700 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (w, h, seed) => {
          const r = randomResizedCropRegion(w, h, new Rng(seed));
          expect(Number.isInteger(r.x) && Number.isInteger(r.y)).toBe(true);
          expect(r.x >= 0 && r.y >= 0 && r.x + r.width <= w && r.y + r.height <= h).toBe(true);
          expect(r.width >= 1 && r.height >= 1).toBe(true);
          const centred = r.x === Math.floor((w - r.width) / 2) && r.y === Math.floor((h - r.height) / 2);
          if (w >= 20 && h >= 20 && !centred) {
            // Rounding w and h to integers moves area and ratio by at most one pixel per side.
            const area = (r.width * r.height) / (w * h);
            const slack = (r.width + r.height + 1) / (w * h);
            expect(area).toBeGreaterThanOrEqual(0.67 - slack);
            expect(area).toBeLessThanOrEqual(1 + slack);
            const ratio = r.width / r.height;
            expect(ratio).toBeGreaterThanOrEqual((3 / 4) * (1 - 1 / r.height) - 1 / r.height);
            expect(ratio).toBeLessThanOrEqual((4 / 3) * (1 + 1 / r.height) + 1 / r.height);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('falls back to the widest allowed centred crop for a 1000×10 strip', () => {
    expect(randomResizedCropRegion(1000, 10, new Rng(1))).toEqual({ x: 493, y: 0, width: 13, height: 10 });
  });

  it('is a function of the RNG state', () => {
    const a = randomResizedCropRegion(300, 200, new Rng(42));
    expect(randomResizedCropRegion(300, 200, new Rng(42))).toEqual(a);
    expect(randomResizedCropRegion(300, 200, new Rng(43))).not.toEqual(a);
  });
});

describe('augmentImage', () => {
  it('native mode copies an exact S×S window of the image, possibly mirrored', () => {
    const image = patternImage(40, 30);
    const size = 8;
    for (let seed = 0; seed < 20; seed++) {
      const view = augmentImage(image, size, new Rng(seed), { ...DEFAULT_AUGMENT, crop: 'native' });
      // The green channel is the row and red the column in this pattern, so the window can be read back.
      const x0 = Math.min(view[0], view[(size - 1) * 3]);
      const y0 = view[1];
      const mirrored = view[0] > view[3];
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) {
          const sx = x0 + (mirrored ? size - 1 - x : x);
          const src = Array.from(image.data.subarray(((y0 + y) * 40 + sx) * 3, ((y0 + y) * 40 + sx) * 3 + 3));
          expect(Array.from(view.subarray((y * size + x) * 3, (y * size + x) * 3 + 3))).toEqual(src);
        }
    }
    const region = nativeCropRegion(40, 30, 8, new Rng(5));
    expect(region.width === 8 && region.x + 8 <= 40 && region.y + 8 <= 30).toBe(true);
  });

  it('native mode enlarges an image smaller than S (6×10 → 8×8) instead of failing', () => {
    const view = augmentImage(patternImage(6, 10), 8, new Rng(2), {
      ...DEFAULT_AUGMENT,
      crop: 'native',
      flip: false,
    });
    expect(view.length).toBe(8 * 8 * 3);
    expect(view.every((v) => v >= 0 && v <= 255)).toBe(true);
  });

  it('flips about half of the views of a seeded stream', () => {
    const image = patternImage(16, 16);
    const rng = new Rng(9);
    let flipped = 0;
    for (let i = 0; i < 400; i++) {
      const view = augmentImage(image, 4, rng, { ...DEFAULT_AUGMENT, crop: 'native' });
      if (view[0] > view[3]) flipped++;
    }
    expect(flipped).toBeGreaterThan(160);
    expect(flipped).toBeLessThan(240);
  });

  it('flipHorizontal mirrors columns and is its own inverse (odd size 3)', () => {
    const hwc = Float32Array.from({ length: 27 }, (_, i) => i);
    flipHorizontal(hwc, 3);
    expect(Array.from(hwc.subarray(0, 9))).toEqual([6, 7, 8, 3, 4, 5, 0, 1, 2]);
    flipHorizontal(hwc, 3);
    expect(Array.from(hwc)).toEqual(Array.from({ length: 27 }, (_, i) => i));
  });
});

describe('normalisation', () => {
  it('writes NCHW (v/255 − mean)/std and inverts exactly enough to round-trip 8-bit values', () => {
    const size = 3;
    const hwc = Float32Array.from({ length: size * size * 3 }, (_, i) => (i * 37) % 256);
    const batch = new Float32Array(2 * 3 * size * size).fill(Number.NaN);
    writeNormalized(hwc, size, IMAGENET_NORMALIZATION, batch, 1);
    expect(batch.subarray(0, 27).every(Number.isNaN)).toBe(true);
    // Pixel 2 (x=2, y=0) channel 1 sits at batch[27 + 1·9 + 2].
    expect(batch[27 + 9 + 2]).toBeCloseTo((hwc[2 * 3 + 1] / 255 - 0.456) / 0.224, 5);
    const back = denormalizeToHwc(batch, size, IMAGENET_NORMALIZATION, 1);
    expect(Array.from(back, (v) => Math.round(v) + 0)).toEqual(Array.from(hwc));
  });

  it('explains an invalid std or mean', () => {
    expect(() => validateNormalization({ mean: [0, 0, 0], std: [1, 0, 1] })).toThrow(
      'Normalisation std for channel 1 is 0; every std must be a positive number.',
    );
    expect(() => validateNormalization({ mean: [0, Number.NaN, 0], std: [1, 1, 1] })).toThrow(
      /mean for channel 1/,
    );
  });
});
