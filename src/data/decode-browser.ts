/**
 * Browser image decoding, meant to run inside the training worker so the main thread never decodes:
 * createImageBitmap (the browser's own decoders, off the main thread) and an OffscreenCanvas to read pixels.
 */
import { type ImageHeader, type RgbImage, rgbaToRgb } from './image';
import type { ImageFile } from './image-set';

export async function decodeImageBrowser(bytes: Uint8Array, header: ImageHeader): Promise<RgbImage> {
  const type = header.format === 'png' ? 'image/png' : 'image/jpeg';
  const blob = new Blob([bytes as Uint8Array<ArrayBuffer>], { type });
  // Straight alpha and no colour-profile conversion: pixel values as stored, like the Node decoders.
  const bitmap = await createImageBitmap(blob, { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  try {
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d', { willReadFrequently: true });
    if (!context) throw new Error('this browser cannot read pixels from an OffscreenCanvas');
    context.drawImage(bitmap, 0, 0);
    const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
    return rgbaToRgb(data, bitmap.width, bitmap.height);
  } finally {
    bitmap.close();
  }
}

/** Reads picked or dropped files (File objects can be posted to the worker as they are). */
export async function readBrowserFiles(files: Iterable<File>): Promise<ImageFile[]> {
  const out: ImageFile[] = [];
  for (const file of files) out.push({ name: file.name, bytes: new Uint8Array(await file.arrayBuffer()) });
  return out;
}

/** Fetches a file shipped under public/ (the built-in data). */
export async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`Could not download ${url} (HTTP ${response.status}).`);
  return new Uint8Array(await response.arrayBuffer());
}
