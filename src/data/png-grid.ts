/** PNG files of image grids for the Node CLI (pngjs). Node-only. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PNG } from 'pngjs';
import { type GridOptions, type GridRow, imageGrid } from './grid';

export function encodePng(picture: {
  width: number;
  height: number;
  data: Uint8ClampedArray | Uint8Array;
}): Uint8Array {
  const png = new PNG({ width: picture.width, height: picture.height });
  png.data = Buffer.from(picture.data.buffer, picture.data.byteOffset, picture.data.byteLength);
  return new Uint8Array(PNG.sync.write(png, { colorType: 6 }));
}

/** Rows of images (e.g. input, masked input, reconstruction) as PNG bytes. */
export function gridPng(rows: GridRow[], options: GridOptions): Uint8Array {
  return encodePng(imageGrid(rows, options));
}

/** Writes the grid to `path`, creating its folder. */
export async function writeGridPng(path: string, rows: GridRow[], options: GridOptions): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, gridPng(rows, options));
}
