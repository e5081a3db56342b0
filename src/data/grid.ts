/**
 * Lays out rows of images (input / masked / reconstruction …) as one RGBA picture, host-agnostic: the CLI
 * encodes it as PNG (`png-grid.ts`), the UI can put it on a canvas with `new ImageData(data, width)`.
 */
import { denormalizeToHwc, IMAGENET_NORMALIZATION, type Normalization } from './augment';
import type { MaskGrid } from './histogram';

export interface GridRow {
  /** NCHW [n, 3, S, S] in normalised units; the grid shows the first `columns` images. */
  images: Float32Array;
  /** Cells whose value is 0 are painted `maskColor` (e.g. the masked-input row). */
  mask?: MaskGrid;
}

export interface GridOptions {
  size: number;
  /** Images per row. */
  columns: number;
  normalization?: Normalization;
  /** Nearest-neighbour magnification, so 32-px images are visible. */
  scale?: number;
  /** Pixels between tiles (background colour). */
  gap?: number;
  background?: readonly [number, number, number];
  maskColor?: readonly [number, number, number];
}

export interface RgbaPicture {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

export function imageGrid(rows: GridRow[], options: GridOptions): RgbaPicture {
  const { size, columns } = options;
  const scale = options.scale ?? 1;
  const gap = options.gap ?? 2;
  const normalization = options.normalization ?? IMAGENET_NORMALIZATION;
  const background = options.background ?? [255, 255, 255];
  const maskColor = options.maskColor ?? [48, 48, 48];
  if (!Number.isInteger(scale) || scale < 1)
    throw new Error(`The grid scale must be a positive integer, not ${scale}.`);
  const tile = size * scale;
  const width = columns * tile + (columns + 1) * gap;
  const height = rows.length * tile + (rows.length + 1) * gap;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let p = 0; p < width * height; p++) data.set([...background, 255], p * 4);
  rows.forEach((row, r) => {
    const available = row.images.length / (3 * size * size);
    if (!Number.isInteger(available) || available < columns) {
      throw new Error(`Grid row ${r} holds ${available} images of 3×${size}×${size}; ${columns} are needed.`);
    }
    for (let c = 0; c < columns; c++) {
      const hwc = denormalizeToHwc(row.images, size, normalization, c);
      const x0 = gap + c * (tile + gap);
      const y0 = gap + r * (tile + gap);
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          let rgb: ArrayLike<number> = hwc.subarray((y * size + x) * 3, (y * size + x) * 3 + 3);
          if (row.mask) {
            const { height: gh, width: gw, data: cells } = row.mask;
            const cell = c * gh * gw + Math.floor((y * gh) / size) * gw + Math.floor((x * gw) / size);
            if (cells[cell] === 0) rgb = maskColor;
          }
          for (let dy = 0; dy < scale; dy++) {
            for (let dx = 0; dx < scale; dx++) {
              const o = ((y0 + y * scale + dy) * width + x0 + x * scale + dx) * 4;
              // Uint8ClampedArray rounds and clamps: reconstructions may overshoot 0..255.
              data[o] = rgb[0];
              data[o + 1] = rgb[1];
              data[o + 2] = rgb[2];
            }
          }
        }
      }
    }
  });
  return { width, height, data };
}
