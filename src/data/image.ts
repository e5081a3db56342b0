/**
 * Decoded images and the header probe that decides, before any decoding, whether a file can be used.
 *
 * Host-agnostic: the probe reads only bytes, so the browser and Node reject the same files with the same
 * sentences. Decoding itself lives in `decode-node.ts` (pngjs / jpeg-js) and `decode-browser.ts`
 * (createImageBitmap in a worker).
 */

/** An 8-bit RGB image, pixels interleaved row by row (`data.length === width * height * 3`). */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export type ImageFormat = 'png' | 'jpeg' | 'webp' | 'avif';

export interface ImageHeader {
  format: ImageFormat;
  width: number;
  height: number;
  /** Bits per sample (PNG: 1, 2, 4, 8, 16; JPEG: 8; WebP: 8; AVIF: 8, 10 or 12, reported as 8). */
  bitDepth: number;
  /** Colour channels stored in the file, alpha included (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA or CMYK). */
  channels: number;
  hasAlpha: boolean;
  /** A JPEG with four components (CMYK or YCCK). */
  cmyk: boolean;
  /**
   * EXIF orientation of a JPEG (1 = as stored; 2–8 = mirrored and/or rotated, as phones write it). Decoders
   * apply it, so orientations 5–8 come out with width and height swapped.
   */
  orientation?: number;
}

export interface ProbeLimits {
  /** Largest accepted width or height. */
  maxSide: number;
  /** Largest accepted width × height; decoding needs about 4 bytes per pixel while it runs. */
  maxPixels: number;
}

/** 16384 px a side and 40 Mpx: any camera photo passes; a 20000×20000 file is refused before decoding. */
export const DEFAULT_PROBE_LIMITS: ProbeLimits = { maxSide: 16384, maxPixels: 40_000_000 };

export type ProbeResult = { ok: true; header: ImageHeader } | { ok: false; reason: string };

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function readU32BE(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

function readU16BE(bytes: Uint8Array, at: number): number {
  return (bytes[at] << 8) | bytes[at + 1];
}

function chunkType(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
}

function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

function ascii(bytes: Uint8Array, from: number, to: number): string {
  return String.fromCharCode(...bytes.subarray(from, Math.min(to, bytes.length)));
}

function isWebp(bytes: Uint8Array): boolean {
  return bytes.length >= 12 && ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP';
}

/** An ISO-BMFF file whose brands include AVIF (HEIC files share the container but not the codec). */
function isAvif(bytes: Uint8Array): boolean {
  if (bytes.length < 16 || ascii(bytes, 4, 8) !== 'ftyp') return false;
  const size = Math.min(readU32BE(bytes, 0), bytes.length);
  for (let at = 8; at + 4 <= size; at += 4) {
    const brand = ascii(bytes, at, at + 4);
    if (brand === 'avif' || brand === 'avis') return true;
  }
  return false;
}

function readU16LE(bytes: Uint8Array, at: number): number {
  return bytes[at] | (bytes[at + 1] << 8);
}

function readU24LE(bytes: Uint8Array, at: number): number {
  return bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16);
}

/**
 * A WebP's size from its first chunk: lossy (VP8, the frame header's 14-bit sizes), lossless (VP8L, packed
 * 14-bit sizes minus one) or extended (VP8X, 24-bit canvas sizes minus one, and an alpha flag). The RIFF
 * length must fit in the file, which catches a truncated download.
 */
function probeWebp(bytes: Uint8Array, limits: ProbeLimits): ProbeResult {
  const truncated: ProbeResult = {
    ok: false,
    reason: 'it is a WebP cut off before its end (truncated file).',
  };
  if (bytes.length < 30) return truncated;
  const riffBytes = 8 + ((bytes[4] | (bytes[5] << 8) | (bytes[6] << 16) | (bytes[7] << 24)) >>> 0);
  if (riffBytes > bytes.length) return truncated;
  const chunk = ascii(bytes, 12, 16);
  let width: number;
  let height: number;
  let hasAlpha = false;
  if (chunk === 'VP8 ') {
    if (bytes[23] !== 0x9d || bytes[24] !== 0x01 || bytes[25] !== 0x2a)
      return { ok: false, reason: 'it is a WebP with a damaged frame header.' };
    width = readU16LE(bytes, 26) & 0x3fff;
    height = readU16LE(bytes, 28) & 0x3fff;
  } else if (chunk === 'VP8L') {
    if (bytes[20] !== 0x2f) return { ok: false, reason: 'it is a WebP with a damaged lossless header.' };
    const bits = (bytes[21] | (bytes[22] << 8) | (bytes[23] << 16) | (bytes[24] << 24)) >>> 0;
    width = (bits & 0x3fff) + 1;
    height = ((bits >>> 14) & 0x3fff) + 1;
    hasAlpha = ((bits >>> 28) & 1) === 1;
  } else if (chunk === 'VP8X') {
    hasAlpha = (bytes[20] & 0x10) !== 0;
    width = readU24LE(bytes, 24) + 1;
    height = readU24LE(bytes, 27) + 1;
  } else {
    return { ok: false, reason: `it is a WebP with an unknown first chunk "${chunk}" (damaged file).` };
  }
  return checkSize(
    { format: 'webp', width, height, bitDepth: 8, channels: hasAlpha ? 4 : 3, hasAlpha, cmyk: false },
    limits,
  );
}

/** The boxes of an ISO-BMFF container in [start, end): type and payload range; stops at a malformed box. */
function* boxes(
  bytes: Uint8Array,
  start: number,
  end: number,
): Generator<{ type: string; from: number; to: number }> {
  let at = start;
  while (at + 8 <= end) {
    let size = readU32BE(bytes, at);
    let header = 8;
    if (size === 1) {
      if (at + 16 > end || readU32BE(bytes, at + 8) !== 0) return; // 64-bit sizes past 4 GiB are not images
      size = readU32BE(bytes, at + 12);
      header = 16;
    } else if (size === 0) size = end - at;
    if (size < header || at + size > end) return;
    yield { type: ascii(bytes, at + 4, at + 8), from: at + header, to: at + size };
    at += size;
  }
}

/**
 * An AVIF's size from its image spatial extents property (meta → iprp → ipco → ispe), the largest one
 * when several images are declared (a grid's tiles and the whole picture).
 */
function probeAvif(bytes: Uint8Array, limits: ProbeLimits): ProbeResult {
  let width = 0;
  let height = 0;
  let hasAlpha = false;
  for (const meta of boxes(bytes, 0, bytes.length)) {
    if (meta.type !== 'meta') continue;
    for (const iprp of boxes(bytes, meta.from + 4, meta.to)) {
      if (iprp.type !== 'iprp') continue;
      for (const ipco of boxes(bytes, iprp.from, iprp.to)) {
        if (ipco.type !== 'ipco') continue;
        for (const property of boxes(bytes, ipco.from, ipco.to)) {
          if (property.type === 'ispe' && property.to - property.from >= 12) {
            const w = readU32BE(bytes, property.from + 4);
            const h = readU32BE(bytes, property.from + 8);
            if (w * h > width * height) [width, height] = [w, h];
          }
          if (property.type === 'auxC' && ascii(bytes, property.from + 4, property.to).includes('alpha'))
            hasAlpha = true;
        }
      }
    }
  }
  if (width === 0 && height === 0)
    return { ok: false, reason: 'it is an AVIF whose size could not be read (damaged or truncated file).' };
  return checkSize(
    { format: 'avif', width, height, bitDepth: 8, channels: hasAlpha ? 4 : 3, hasAlpha, cmyk: false },
    limits,
  );
}

function formatName(bytes: Uint8Array): string | undefined {
  const ascii = (from: number, to: number) => String.fromCharCode(...bytes.subarray(from, to));
  if (bytes.length >= 6 && (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a')) return 'GIF';
  if (bytes.length >= 2 && ascii(0, 2) === 'BM') return 'BMP';
  if (bytes.length >= 12 && ascii(4, 8) === 'ftyp') return 'HEIF/HEIC';
  if (bytes.length >= 4 && (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*')) return 'TIFF';
  return undefined;
}

function checkSize(header: ImageHeader, limits: ProbeLimits): ProbeResult {
  const { width, height } = header;
  if (width === 0 || height === 0) {
    return { ok: false, reason: `its header says it is ${width}×${height} pixels, which is empty.` };
  }
  if (width > limits.maxSide || height > limits.maxSide || width * height > limits.maxPixels) {
    const mpx = ((width * height) / 1e6).toFixed(0);
    return {
      ok: false,
      reason:
        `it is ${width}×${height} pixels (${mpx} Mpx), larger than the ${limits.maxSide} px per side and ` +
        `${(limits.maxPixels / 1e6).toFixed(0)} Mpx accepted; scale it down first.`,
    };
  }
  return { ok: true, header };
}

/**
 * Walks the PNG chunks: IHDR gives the size and pixel format, and the walk must reach IEND inside the file,
 * which is how a truncated download is caught without inflating anything.
 */
function probePng(bytes: Uint8Array, limits: ProbeLimits): ProbeResult {
  if (bytes.length < 33 || chunkType(bytes, 12) !== 'IHDR') {
    return { ok: false, reason: 'it is a PNG cut off before its header ended (truncated file).' };
  }
  const width = readU32BE(bytes, 16);
  const height = readU32BE(bytes, 20);
  const bitDepth = bytes[24];
  const colorType = bytes[25];
  const channelsByColorType: Record<number, number> = { 0: 1, 2: 3, 3: 3, 4: 2, 6: 4 };
  const channels = channelsByColorType[colorType];
  if (channels === undefined) {
    return { ok: false, reason: `it is a PNG with an invalid colour type ${colorType} (damaged file).` };
  }
  let at = 8;
  let sawData = false;
  let sawTransparency = false;
  for (;;) {
    if (at + 12 > bytes.length) {
      return { ok: false, reason: 'it is a PNG that ends before its last chunk (truncated file).' };
    }
    const length = readU32BE(bytes, at);
    const type = chunkType(bytes, at + 4);
    if (at + 12 + length > bytes.length) {
      return {
        ok: false,
        reason: `it is a PNG whose ${type} chunk runs past the end of the file (truncated).`,
      };
    }
    if (type === 'IDAT') sawData = true;
    if (type === 'tRNS') sawTransparency = true;
    at += 12 + length;
    if (type === 'IEND') break;
  }
  if (!sawData) return { ok: false, reason: 'it is a PNG with no image data (IDAT chunk missing).' };
  const header: ImageHeader = {
    format: 'png',
    width,
    height,
    bitDepth,
    channels,
    hasAlpha: colorType === 4 || colorType === 6 || sawTransparency,
    cmyk: false,
  };
  return checkSize(header, limits);
}

/**
 * Walks the JPEG marker segments up to the first scan: the SOF segment gives size, precision and component
 * count. Entropy-coded data never contains an unstuffed 0xFFD9, so a file without the end-of-image marker
 * after its first scan was cut off; browsers would silently grey out the missing rows, so it is refused.
 */
function probeJpeg(bytes: Uint8Array, limits: ProbeLimits): ProbeResult {
  let at = 2;
  let frame:
    | { width: number; height: number; bitDepth: number; channels: number; marker: number }
    | undefined;
  let scanStart = -1;
  let orientation = 1;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) {
      return { ok: false, reason: 'it is a JPEG with a damaged marker structure.' };
    }
    const marker = bytes[at + 1];
    if (marker === 0xff) {
      at += 1; // fill byte before a marker
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2; // markers without a length
      continue;
    }
    const length = readU16BE(bytes, at + 2);
    if (at + 2 + length > bytes.length) break;
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrame && length >= 8) {
      frame = {
        bitDepth: bytes[at + 4],
        height: readU16BE(bytes, at + 5),
        width: readU16BE(bytes, at + 7),
        channels: bytes[at + 9],
        marker,
      };
    }
    if (marker === 0xe1 && orientation === 1) orientation = exifOrientation(bytes, at + 4, at + 2 + length);
    if (marker === 0xda) {
      scanStart = at + 2 + length;
      break;
    }
    at += 2 + length;
  }
  if (!frame || scanStart < 0) {
    return { ok: false, reason: 'it is a JPEG cut off before its image data starts (truncated file).' };
  }
  if (frame.marker >= 0xc9) {
    return {
      ok: false,
      reason: 'it is an arithmetic-coded JPEG, which is not supported; re-save it as a normal JPEG.',
    };
  }
  if (frame.marker === 0xc3 || frame.marker === 0xc7 || frame.marker === 0xcb) {
    return { ok: false, reason: 'it is a lossless JPEG, which is not supported; re-save it as PNG.' };
  }
  if (frame.bitDepth !== 8) {
    return { ok: false, reason: `it is a ${frame.bitDepth}-bit JPEG; only 8-bit JPEGs are supported.` };
  }
  // Four components are CMYK or YCCK (print colours): browsers and the Node decoder convert them to RGB.
  if (frame.channels !== 1 && frame.channels !== 3 && frame.channels !== 4) {
    return {
      ok: false,
      reason: `it is a JPEG with ${frame.channels} colour components, which is not supported.`,
    };
  }
  let end = -1;
  for (let i = bytes.length - 2; i >= scanStart; i--) {
    if (bytes[i] === 0xff && bytes[i + 1] === 0xd9) {
      end = i;
      break;
    }
  }
  if (end < 0) {
    return { ok: false, reason: 'it is a JPEG that ends before its end-of-image marker (truncated file).' };
  }
  const header: ImageHeader = {
    format: 'jpeg',
    width: frame.width,
    height: frame.height,
    bitDepth: 8,
    channels: frame.channels,
    hasAlpha: false,
    cmyk: frame.channels === 4,
    orientation,
  };
  return checkSize(header, limits);
}

/**
 * The Orientation tag (0x0112) of IFD0 in an APP1 "Exif" segment spanning [start, end), or 1 when absent or
 * unreadable: a damaged EXIF block should not cost the user the photo.
 */
export function exifOrientation(bytes: Uint8Array, start: number, end: number): number {
  const isExif = end - start >= 14 && String.fromCharCode(...bytes.subarray(start, start + 6)) === 'Exif\0\0';
  if (!isExif) return 1;
  const tiff = start + 6;
  const little = bytes[tiff] === 0x49 && bytes[tiff + 1] === 0x49;
  const big = bytes[tiff] === 0x4d && bytes[tiff + 1] === 0x4d;
  if (!little && !big) return 1;
  const u16 = (at: number) => (little ? bytes[at] | (bytes[at + 1] << 8) : (bytes[at] << 8) | bytes[at + 1]);
  const u32 = (at: number) =>
    little
      ? (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0
      : readU32BE(bytes, at);
  const ifd = tiff + u32(tiff + 4);
  if (ifd + 2 > end) return 1;
  const count = u16(ifd);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > end) return 1;
    if (u16(entry) === 0x0112) {
      const value = u16(entry + 8);
      return value >= 1 && value <= 8 ? value : 1;
    }
  }
  return 1;
}

/**
 * Applies an EXIF orientation to decoded pixels, giving the image as it should be displayed (what browsers
 * do in createImageBitmap). 2 mirror, 3 rotate 180°, 4 flip, 5 transpose, 6 rotate 90° clockwise,
 * 7 transverse, 8 rotate 90° counter-clockwise.
 */
export function applyOrientation(image: RgbImage, orientation: number): RgbImage {
  if (orientation <= 1 || orientation > 8) return image;
  const { width: w, height: h, data } = image;
  const swap = orientation >= 5;
  const outW = swap ? h : w;
  const outH = swap ? w : h;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      // Source pixel (sx, sy) shown at display position (x, y).
      let sx: number;
      let sy: number;
      switch (orientation) {
        case 2:
          [sx, sy] = [w - 1 - x, y];
          break;
        case 3:
          [sx, sy] = [w - 1 - x, h - 1 - y];
          break;
        case 4:
          [sx, sy] = [x, h - 1 - y];
          break;
        case 5:
          [sx, sy] = [y, x];
          break;
        case 6:
          [sx, sy] = [y, h - 1 - x];
          break;
        case 7:
          [sx, sy] = [w - 1 - y, h - 1 - x];
          break;
        default:
          [sx, sy] = [w - 1 - y, x];
          break;
      }
      const o = (y * outW + x) * 3;
      const i = (sy * w + sx) * 3;
      out[o] = data[i];
      out[o + 1] = data[i + 1];
      out[o + 2] = data[i + 2];
    }
  }
  return { width: outW, height: outH, data: out };
}

/** Width and height as displayed, after the orientation is applied. */
export function displaySize(header: ImageHeader): { width: number; height: number } {
  return (header.orientation ?? 1) >= 5
    ? { width: header.height, height: header.width }
    : { width: header.width, height: header.height };
}

/**
 * From the first bytes of a file (64 are enough), whether it may be an image at all: the reason when it is
 * certainly not, so a large file of another kind (a video, an archive) is refused without reading it whole.
 */
export function sniffImage(head: Uint8Array): { ok: true } | { ok: false; reason: string } {
  if (head.length === 0) return { ok: false, reason: 'the file is empty (0 bytes).' };
  if (isPng(head) || isJpeg(head) || isWebp(head) || isAvif(head)) return { ok: true };
  const probe = probeImage(head);
  return probe.ok ? { ok: true } : probe;
}

/**
 * Says from the bytes alone whether a file is a PNG, JPEG, WebP or AVIF this project can decode, or why not. The reason
 * completes the sentence "NAME was skipped because …".
 */
export function probeImage(bytes: Uint8Array, limits: ProbeLimits = DEFAULT_PROBE_LIMITS): ProbeResult {
  if (bytes.length === 0) return { ok: false, reason: 'the file is empty (0 bytes).' };
  if (isPng(bytes)) return probePng(bytes, limits);
  if (isJpeg(bytes)) return probeJpeg(bytes, limits);
  if (isWebp(bytes)) return probeWebp(bytes, limits);
  if (isAvif(bytes)) return probeAvif(bytes, limits);
  const other = formatName(bytes);
  if (other) {
    return {
      ok: false,
      reason: `it is a ${other} file; only PNG, JPEG, WebP and AVIF images are supported.`,
    };
  }
  return { ok: false, reason: 'it is not an image (not PNG, JPEG, WebP or AVIF).' };
}

/**
 * RGBA (straight alpha) to RGB: transparent areas are composited over `background`, by default the ImageNet
 * mean colour, so that after normalisation they become ≈0 — no information rather than a black or white edge.
 */
export const IMAGENET_MEAN_RGB8: readonly [number, number, number] = [124, 116, 104];

export function rgbaToRgb(
  rgba: Uint8Array | Uint8ClampedArray,
  width: number,
  height: number,
  background: readonly [number, number, number] = IMAGENET_MEAN_RGB8,
): RgbImage {
  const n = width * height;
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const a = rgba[i * 4 + 3];
    for (let c = 0; c < 3; c++) {
      const v = rgba[i * 4 + c];
      data[i * 3 + c] = a === 255 ? v : Math.round((v * a + background[c] * (255 - a)) / 255);
    }
  }
  return { width, height, data };
}
