/**
 * Image files built byte by byte for the data tests: valid PNG/JPEG variants and every bad kind the loader
 * must explain (not a test file itself, so several test files can share it).
 */
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

export function pngBytes(
  width: number,
  height: number,
  rgba: number[],
  options: { colorType?: 0 | 2 | 4 | 6; bitDepth?: 8 | 16 } = {},
): Uint8Array {
  const png = new PNG({ width, height });
  png.data = Buffer.from(rgba);
  return new Uint8Array(PNG.sync.write(png, { colorType: options.colorType ?? 6 }));
}

export function png16Bytes(width: number, height: number, rgb16: number[]): Uint8Array {
  const opts = {
    bitDepth: 16 as const,
    colorType: 2 as const,
    inputColorType: 2 as const,
    inputHasAlpha: false,
  };
  const png = new PNG({ width, height, ...opts });
  png.data = Buffer.from(new Uint16Array(rgb16).buffer);
  return new Uint8Array(PNG.sync.write(png, opts));
}

export function jpegBytes(
  width: number,
  height: number,
  fill: (x: number, y: number) => [number, number, number],
) {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const [r, g, b] = fill(x, y);
      data.set([r, g, b, 255], (y * width + x) * 4);
    }
  return new Uint8Array(jpeg.encode({ width, height, data }, 95).data);
}

/** Length-prefixed marker segment (the length counts itself, not the marker). */
export function segment(marker: number, payload: number[]): number[] {
  const length = payload.length + 2;
  return [0xff, marker, length >> 8, length & 0xff, ...payload];
}

/**
 * A CMYK JPEG as Photoshop writes one, built marker by marker: an Adobe APP14 segment (transform 0 = no
 * colour transform, i.e. CMYK) and a baseline SOF0 declaring four components, then one scan and EOI.
 */
export function cmykJpegBytes(width: number, height: number): Uint8Array {
  const adobe = segment(0xee, [...'Adobe'].map((c) => c.charCodeAt(0)).concat([0, 100, 0, 0, 0, 0, 0]));
  const components = [1, 2, 3, 4].flatMap((id) => [id, 0x11, 0]);
  const sof = segment(0xc0, [8, height >> 8, height & 0xff, width >> 8, width & 0xff, 4, ...components]);
  const dqt = segment(0xdb, [0, ...new Array(64).fill(1)]);
  const dht = segment(0xc4, [0x00, 1, ...new Array(15).fill(0), 0]);
  const sos = segment(0xda, [4, 1, 0, 2, 0, 3, 0, 4, 0, 0, 63, 0]);
  return new Uint8Array([0xff, 0xd8, ...adobe, ...dqt, ...sof, ...dht, ...sos, 0x00, 0x00, 0xff, 0xd9]);
}

/** Inserts an APP1 Exif segment with the given Orientation right after SOI (big- or little-endian TIFF). */
export function withOrientation(jpegFile: Uint8Array, orientation: number, little = false): Uint8Array {
  const u16 = (v: number) => (little ? [v & 0xff, v >> 8] : [v >> 8, v & 0xff]);
  const u32 = (v: number) => (little ? [v & 0xff, 0, 0, 0] : [0, 0, 0, v & 0xff]);
  const tiff = [
    ...(little ? [0x49, 0x49] : [0x4d, 0x4d]),
    ...u16(42),
    ...u32(8),
    ...u16(1),
    ...u16(0x0112),
    ...u16(3),
    ...u32(1),
    ...u16(orientation),
    0,
    0,
    ...u32(0),
  ];
  const exif = segment(0xe1, [...'Exif'].map((c) => c.charCodeAt(0)).concat([0, 0], tiff));
  return new Uint8Array([...jpegFile.subarray(0, 2), ...exif, ...jpegFile.subarray(2)]);
}

/** A PNG whose IHDR claims a huge size; its data is tiny, so only a header check can refuse it cheaply. */
export function hugePngBytes(side: number): Uint8Array {
  const small = pngBytes(1, 1, [0, 0, 0, 255], { colorType: 2 });
  const bytes = small.slice();
  const view = new DataView(bytes.buffer);
  view.setUint32(16, side);
  view.setUint32(20, side);
  return bytes;
}
