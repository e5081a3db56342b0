import { readFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import {
  countMasked,
  denseConvActive,
  maskVanishing,
  patternFromRgba,
  sparseConvActive,
  VANISHING_FIGURES,
} from './figures';

// Counts from tests/fixtures/figures/README.md (measured independently of this code).
const EXPECTED: Record<string, [number, number, number]> = {
  spconv1: [182, 74, 2],
  spconv2: [219, 61, 0],
  spconv3: [132, 41, 1],
};

function loadPublicFigure(name: string) {
  const png = PNG.sync.read(readFileSync(new URL(`../../public/figures/${name}.png`, import.meta.url)));
  return patternFromRgba(png.data, png.width, png.height);
}

describe('mask-vanishing figure on the CPU twins', () => {
  for (const name of VANISHING_FIGURES) {
    it(`${name}: dense convs erode the mask, sparse convs keep it`, () => {
      const pattern = loadPublicFigure(name);
      expect(pattern.size).toBe(28);
      const stages = maskVanishing(pattern, 3);
      const [before, dense1, dense2] = EXPECTED[name];
      expect(stages.map((s) => s.masked)).toEqual([before, dense1, dense2, before]);
      expect(stages[3].active).toEqual(pattern.active);
      expect(stages[3].label).toBe('3 sparse convs');
    });
  }

  it('the shipped figures are the test fixtures', () => {
    for (const name of VANISHING_FIGURES) {
      const shipped = readFileSync(new URL(`../../public/figures/${name}.png`, import.meta.url));
      const fixture = readFileSync(new URL(`../../tests/fixtures/figures/${name}.png`, import.meta.url));
      expect(shipped.equals(fixture)).toBe(true);
    }
  });

  it('a single visible pixel grows to its 3×3 neighbourhood under a dense conv and stays alone under a sparse one', () => {
    const active = new Uint8Array(25);
    active[2 * 5 + 2] = 1;
    const dense = denseConvActive({ size: 5, active });
    const expected = new Uint8Array(25);
    for (let y = 1; y <= 3; y++) for (let x = 1; x <= 3; x++) expected[y * 5 + x] = 1;
    expect(dense.active).toEqual(expected);
    expect(countMasked(dense.active)).toBe(16);
    expect(sparseConvActive({ size: 5, active }).active).toEqual(active);
  });

  it('a visible pixel in the corner sees zero padding, not the other side', () => {
    const active = new Uint8Array(16);
    active[0] = 1;
    const dense = denseConvActive({ size: 4, active });
    expect(Array.from(dense.active)).toEqual([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('reads black as active and refuses non-square or truncated pixels with a sentence', () => {
    const rgba = new Uint8Array([0, 0, 0, 255, 255, 255, 255, 255, 127, 0, 0, 255, 128, 0, 0, 255]);
    expect(Array.from(patternFromRgba(rgba, 2, 2).active)).toEqual([1, 0, 1, 0]);
    expect(() => patternFromRgba(rgba, 4, 1)).toThrow(/must be square, this one is 4×1/);
    expect(() => patternFromRgba(rgba.subarray(4), 2, 2)).toThrow(/Expected 16 RGBA values/);
  });
});
