/**
 * Browser image decoding, meant to run inside the training worker so the main thread never decodes:
 * createImageBitmap (the browser's own decoders, off the main thread) and an OffscreenCanvas to read pixels.
 */
import { type ImageHeader, type RgbImage, rgbaToRgb } from './image';

export async function decodeImageBrowser(bytes: Uint8Array, header: ImageHeader): Promise<RgbImage> {
  const type = `image/${header.format}`;
  const blob = new Blob([bytes as Uint8Array<ArrayBuffer>], { type });
  // Straight alpha and no colour-profile conversion: pixel values as stored, like the Node decoders; EXIF
  // orientation applied, as the Node path does too.
  const bitmap = await createImageBitmap(blob, {
    premultiplyAlpha: 'none',
    colorSpaceConversion: 'none',
    imageOrientation: 'from-image',
  });
  try {
    return bitmapToRgb(bitmap);
  } finally {
    bitmap.close();
  }
}

/**
 * Pixels of an ImageBitmap (a decoded file, or a webcam frame transferred from the page) as 8-bit RGB,
 * alpha composited like the Node path. Optionally shrunk on the canvas first (webcam frames at model size).
 */
export function bitmapToRgb(bitmap: ImageBitmap, width = bitmap.width, height = bitmap.height): RgbImage {
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  if (!context) throw new Error('this browser cannot read pixels from an OffscreenCanvas');
  context.drawImage(bitmap, 0, 0, width, height);
  const { data } = context.getImageData(0, 0, width, height);
  return rgbaToRgb(data, width, height);
}

/** Fetches a file shipped under public/ (the built-in data). */
export async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`Could not download ${url} (HTTP ${response.status}).`);
  return new Uint8Array(await response.arrayBuffer());
}
