import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { IMAGENET_NORMALIZATION, writeNormalized } from './augment';
import { imageGrid } from './grid';
import { gridPng, writeGridPng } from './png-grid';

/** n normalised images of size×size, image i filled with the colour colours[i]. */
function solid(size: number, colours: [number, number, number][]): Float32Array {
  const batch = new Float32Array(colours.length * 3 * size * size);
  colours.forEach((rgb, i) => {
    const hwc = new Float32Array(size * size * 3);
    for (let p = 0; p < size * size; p++) hwc.set(rgb, p * 3);
    writeNormalized(hwc, size, IMAGENET_NORMALIZATION, batch, i);
  });
  return batch;
}

const pixel = (png: { width: number; data: ArrayLike<number> }, x: number, y: number) =>
  Array.from({ length: 4 }, (_, c) => png.data[(y * png.width + x) * 4 + c]);

describe('image grids', () => {
  const size = 4;
  const input = solid(size, [
    [255, 0, 0],
    [0, 0, 255],
  ]);
  const recon = solid(size, [
    [10, 200, 30],
    [300, -20, 128],
  ]);
  const mask = { data: [1, 0, 0, 1], height: 1, width: 2 };

  it('places rows and columns with gaps, scaled, masked cells painted, values clamped', () => {
    const grid = imageGrid([{ images: input }, { images: input, mask }, { images: recon }], {
      size,
      columns: 2,
      scale: 2,
      gap: 1,
    });
    expect([grid.width, grid.height]).toEqual([2 * 8 + 3, 3 * 8 + 4]);
    expect(pixel(grid, 0, 0)).toEqual([255, 255, 255, 255]);
    expect(pixel(grid, 1, 1)).toEqual([255, 0, 0, 255]);
    expect(pixel(grid, 10, 8)).toEqual([0, 0, 255, 255]);
    expect(pixel(grid, 9, 5)).toEqual([255, 255, 255, 255]);
    // Row 1 (y from 10): image 0 shows its left half, right half masked; image 1 the opposite.
    expect(pixel(grid, 1, 10)).toEqual([255, 0, 0, 255]);
    expect(pixel(grid, 8, 10)).toEqual([48, 48, 48, 255]);
    expect(pixel(grid, 10, 10)).toEqual([48, 48, 48, 255]);
    expect(pixel(grid, 17, 10)).toEqual([0, 0, 255, 255]);
    // Row 2: reconstructions, out-of-range values clamped.
    expect(pixel(grid, 1, 19)).toEqual([10, 200, 30, 255]);
    expect(pixel(grid, 10, 19)).toEqual([255, 0, 128, 255]);
  });

  it('encodes a PNG that decodes back to the same pixels, and writes it to disk', async () => {
    const rows = [{ images: input }, { images: recon }];
    const png = PNG.sync.read(Buffer.from(gridPng(rows, { size, columns: 2 })));
    const grid = imageGrid(rows, { size, columns: 2 });
    expect([png.width, png.height]).toEqual([grid.width, grid.height]);
    expect(Buffer.from(png.data).equals(Buffer.from(grid.data))).toBe(true);
    const dir = await mkdtemp(join(tmpdir(), 'sparklab-grid-'));
    try {
      const path = join(dir, 'nested', 'step-10.png');
      await writeGridPng(path, rows, { size, columns: 1 });
      expect(PNG.sync.read(await readFile(path)).width).toBe(size + 4);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('explains a row with too few images', () => {
    expect(() => imageGrid([{ images: input }], { size, columns: 3 })).toThrow(
      'Grid row 0 holds 2 images of 3×4×4; 3 are needed.',
    );
  });
});
