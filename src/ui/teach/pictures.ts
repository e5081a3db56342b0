/** Pictures for the teaching panels, from NCHW images in normalised units and 0/1 maps. */
import { denormalizeToHwc, type Normalization } from '../../data/augment';
import type { RgbaPicture } from '../../data/grid';

export const MASK_RGB = [52, 56, 72] as const;
export const VISIBLE_RGB = [250, 246, 235] as const;

/** Image `index` of an NCHW batch; cells of `mask` ([g, g] for that image) that are 0 become `fill`. */
export function imagePicture(
  pixels: Float32Array,
  index: number,
  size: number,
  normalization: Normalization,
  mask?: { cells: ArrayLike<number>; grid: number; fill: 'zero' | 'colour' },
): RgbaPicture {
  const hwc = denormalizeToHwc(pixels, size, normalization, index);
  // Zero in normalised units is the dataset's mean colour: what a dense encoder sees in a hole.
  const zero = [0, 1, 2].map((c) => normalization.mean[c] * 255);
  const data = new Uint8ClampedArray(size * size * 4);
  const patch = mask ? size / mask.grid : 1;
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const p = y * size + x;
      let rgb: ArrayLike<number> = hwc.subarray(p * 3, p * 3 + 3);
      if (mask && !mask.cells[Math.floor(y / patch) * mask.grid + Math.floor(x / patch)])
        rgb = mask.fill === 'zero' ? zero : MASK_RGB;
      data[p * 4] = rgb[0];
      data[p * 4 + 1] = rgb[1];
      data[p * 4 + 2] = rgb[2];
      data[p * 4 + 3] = 255;
    }
  return { width: size, height: size, data };
}

/**
 * The sparse encoder's input: only the visible cells, laid side by side in the order the engine stores them
 * (row-major over the grid), wrapped after `perRow` cells; one background pixel between cells.
 */
export function compactedPicture(
  pixels: Float32Array,
  index: number,
  size: number,
  normalization: Normalization,
  cells: ArrayLike<number>,
  grid: number,
  perRow = 8,
): RgbaPicture {
  const hwc = denormalizeToHwc(pixels, size, normalization, index);
  const patch = size / grid;
  const visible: number[] = [];
  for (let i = 0; i < grid * grid; i++) if (cells[i]) visible.push(i);
  const columns = Math.max(1, Math.min(perRow, visible.length));
  const rows = Math.max(1, Math.ceil(visible.length / columns));
  const width = columns * (patch + 1) - 1;
  const height = rows * (patch + 1) - 1;
  const data = new Uint8ClampedArray(width * height * 4);
  visible.forEach((cell, k) => {
    const cy = Math.floor(cell / grid);
    const cx = cell % grid;
    const ox = (k % columns) * (patch + 1);
    const oy = Math.floor(k / columns) * (patch + 1);
    for (let y = 0; y < patch; y++)
      for (let x = 0; x < patch; x++) {
        const src = ((cy * patch + y) * size + cx * patch + x) * 3;
        const dst = ((oy + y) * width + ox + x) * 4;
        data[dst] = hwc[src];
        data[dst + 1] = hwc[src + 1];
        data[dst + 2] = hwc[src + 2];
        data[dst + 3] = 255;
      }
  });
  return { width, height, data };
}

/** A square 0/1 map (1 = visible) as a picture, upsampled `side` pixels per entry. */
export function mapPicture(active: ArrayLike<number>, grid: number, side = 1): RgbaPicture {
  const n = grid * side;
  const data = new Uint8ClampedArray(n * n * 4);
  for (let y = 0; y < n; y++)
    for (let x = 0; x < n; x++) {
      const on = active[Math.floor(y / side) * grid + Math.floor(x / side)];
      data.set(on ? VISIBLE_RGB : MASK_RGB, (y * n + x) * 4);
      data[(y * n + x) * 4 + 3] = 255;
    }
  return { width: n, height: n, data };
}
