/**
 * Node image decoding (pngjs, jpeg-js) and directory loading. Node-only: the browser bundle never imports
 * this module (it uses `decode-browser.ts`).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { type PhotoDataset, type PhotoDatasetOptions, userPhotoDataset } from './datasets';
import { applyOrientation, type ImageHeader, type RgbImage, rgbaToRgb } from './image';
import { ImageCollection, type ImageFile, type ImageSetOptions, type SkippedFile } from './image-set';

/**
 * Decodes a file the probe accepted into 8-bit RGB. pngjs turns grey, palette and 16-bit PNGs into 8-bit
 * RGBA; jpeg-js turns grey JPEGs into RGBA; alpha is composited by `rgbaToRgb`.
 */
export async function decodeImageNode(bytes: Uint8Array, header: ImageHeader): Promise<RgbImage> {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (header.format === 'png') {
    const png = PNG.sync.read(buffer);
    return rgbaToRgb(png.data, png.width, png.height);
  }
  const decoded = jpeg.decode(buffer, {
    useTArray: true,
    formatAsRGBA: true,
    // A corrupt scan should fail loudly rather than yield a half-grey image.
    tolerantDecoding: false,
    maxResolutionInMP: Math.ceil((header.width * header.height) / 1e6) + 1,
    maxMemoryUsageInMB: 1024,
  });
  // jpeg-js ignores EXIF orientation; browsers apply it, and so do we, so both hosts see the same picture.
  return applyOrientation(rgbaToRgb(decoded.data, decoded.width, decoded.height), header.orientation ?? 1);
}

/** Reads every regular file of a directory (not recursive), sorted by name so runs are reproducible. */
export async function readImageDirectory(dir: string): Promise<ImageFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    throw new Error(`Cannot read the image folder ${dir}: ${(error as Error).message}`);
  }
  names.sort();
  const files: ImageFile[] = [];
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    if (!(await stat(path)).isFile()) continue;
    files.push({ name, bytes: new Uint8Array(await readFile(path)) });
  }
  return files;
}

/**
 * A folder of the user's images as a dataset, for the CLI: bad files are skipped with reasons (returned for
 * printing), and a folder with nothing usable throws `NoUsableImagesError` listing each reason.
 */
export async function folderDatasetNode(
  dir: string,
  options: Omit<PhotoDatasetOptions, 'heldOut'>,
  imageOptions: Partial<ImageSetOptions> = {},
): Promise<{ dataset: PhotoDataset; skipped: SkippedFile[]; cacheBytes: number }> {
  const collection = new ImageCollection(decodeImageNode, imageOptions);
  await collection.add(await readImageDirectory(dir));
  const dataset = userPhotoDataset(collection.requireUsable(), options);
  return { dataset, skipped: collection.skipped, cacheBytes: collection.bytes };
}
