/**
 * Separable image resampling with antialiasing, the scheme PIL's `Image.resize(box=…)` uses (and so what
 * torchvision's RandomResizedCrop applies to PIL images, bicubic in the official SparK recipe): when
 * shrinking, the filter is stretched by the scale factor so every source pixel contributes; taps are clamped
 * to the image, weights renormalised. Output is float RGB in 0..255 (clamped, not rounded to 8 bits).
 */
import type { RgbImage } from './image';

export type Interpolation = 'bicubic' | 'bilinear';

/** A rectangle in source pixels; may be fractional. */
export interface Region {
  x: number;
  y: number;
  width: number;
  height: number;
}

function bicubic(x: number): number {
  // Keys cubic with a = −0.5, as in PIL.
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
}

function triangle(x: number): number {
  const t = Math.abs(x);
  return t < 1 ? 1 - t : 0;
}

const FILTERS: Record<Interpolation, { kernel: (x: number) => number; support: number }> = {
  bicubic: { kernel: bicubic, support: 2 },
  bilinear: { kernel: triangle, support: 1 },
};

/** For each output index: the first source index and the normalised weights of the taps from there. */
interface Taps {
  first: Int32Array;
  count: Int32Array;
  weights: Float64Array;
  maxTaps: number;
}

export function resampleTaps(
  srcSize: number,
  start: number,
  length: number,
  outSize: number,
  interpolation: Interpolation,
): Taps {
  const { kernel, support } = FILTERS[interpolation];
  const scale = length / outSize;
  const stretch = Math.max(scale, 1);
  const reach = support * stretch;
  const maxTaps = Math.ceil(reach) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * maxTaps);
  for (let i = 0; i < outSize; i++) {
    const center = start + (i + 0.5) * scale;
    const lo = Math.max(0, Math.floor(center - reach + 0.5));
    const hi = Math.min(srcSize, Math.floor(center + reach + 0.5));
    let total = 0;
    for (let j = lo; j < hi; j++) {
      const w = kernel((j + 0.5 - center) / stretch);
      weights[i * maxTaps + (j - lo)] = w;
      total += w;
    }
    const n = hi - lo;
    for (let k = 0; k < n; k++) weights[i * maxTaps + k] = total !== 0 ? weights[i * maxTaps + k] / total : 0;
    first[i] = lo;
    count[i] = n;
  }
  return { first, count, weights, maxTaps };
}

/**
 * Resamples `region` of `src` to `outWidth × outHeight`, returning interleaved float RGB (HWC) in 0..255.
 * Horizontal pass first over only the source rows the vertical taps touch.
 */
export function resampleRegion(
  src: RgbImage,
  region: Region,
  outWidth: number,
  outHeight: number,
  interpolation: Interpolation,
): Float32Array {
  const h = resampleTaps(src.width, region.x, region.width, outWidth, interpolation);
  const v = resampleTaps(src.height, region.y, region.height, outHeight, interpolation);
  let rowLo = src.height;
  let rowHi = 0;
  for (let i = 0; i < outHeight; i++) {
    rowLo = Math.min(rowLo, v.first[i]);
    rowHi = Math.max(rowHi, v.first[i] + v.count[i]);
  }
  const rows = Math.max(0, rowHi - rowLo);
  const tmp = new Float64Array(rows * outWidth * 3);
  const data = src.data;
  for (let r = 0; r < rows; r++) {
    const rowBase = (rowLo + r) * src.width * 3;
    for (let i = 0; i < outWidth; i++) {
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      const wBase = i * h.maxTaps;
      let p = rowBase + h.first[i] * 3;
      for (let k = 0; k < h.count[i]; k++, p += 3) {
        const w = h.weights[wBase + k];
        s0 += w * data[p];
        s1 += w * data[p + 1];
        s2 += w * data[p + 2];
      }
      const o = (r * outWidth + i) * 3;
      tmp[o] = s0;
      tmp[o + 1] = s1;
      tmp[o + 2] = s2;
    }
  }
  const out = new Float32Array(outHeight * outWidth * 3);
  for (let y = 0; y < outHeight; y++) {
    const wBase = y * v.maxTaps;
    const r0 = v.first[y] - rowLo;
    for (let i = 0; i < outWidth * 3; i++) {
      let s = 0;
      for (let k = 0; k < v.count[y]; k++) s += v.weights[wBase + k] * tmp[(r0 + k) * outWidth * 3 + i];
      out[y * outWidth * 3 + i] = Math.min(255, Math.max(0, s));
    }
  }
  return out;
}

/** Resized copy as 8-bit RGB (rounded), used to shrink large user images into the cache budget. */
export function resizeRgb(
  src: RgbImage,
  width: number,
  height: number,
  interpolation: Interpolation,
): RgbImage {
  const f = resampleRegion(
    src,
    { x: 0, y: 0, width: src.width, height: src.height },
    width,
    height,
    interpolation,
  );
  const data = new Uint8Array(f.length);
  for (let i = 0; i < f.length; i++) data[i] = Math.round(f[i]);
  return { width, height, data };
}

/** Halves an image with a 2×2 box average (odd last row/column dropped), rounded to 8 bits. */
export function halveRgb(src: RgbImage): RgbImage {
  const width = Math.max(1, src.width >> 1);
  const height = Math.max(1, src.height >> 1);
  const data = new Uint8Array(width * height * 3);
  const sx = src.width > 1 ? 2 : 1;
  const sy = src.height > 1 ? 2 : 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let dy = 0; dy < sy; dy++)
          for (let dx = 0; dx < sx; dx++) s += src.data[((y * sy + dy) * src.width + x * sx + dx) * 3 + c];
        data[(y * width + x) * 3 + c] = Math.round(s / (sx * sy));
      }
    }
  }
  return { width, height, data };
}

/**
 * An image with its successive halvings, so that shrinking a large crop to a small output costs about the
 * same as a 2× shrink: the antialiased filter's width grows with the scale (a 1400-px crop to 32 px would
 * take ~180 taps per output), so crops are resampled from the coarsest level that still holds at least
 * `minOversample`× the output resolution. The result differs from filtering the full image by roughly one
 * 8-bit level (measured in the tests), well below what training notices, for a 20–50× speed-up.
 */
export class MipImage {
  readonly levels: RgbImage[];

  constructor(
    image: RgbImage,
    readonly minOversample = 2,
    /** Levels stop once the shorter side would drop below this. */
    minSide = 16,
  ) {
    this.levels = [image];
    let level = image;
    while (Math.min(level.width, level.height) >= 2 * minSide) {
      level = halveRgb(level);
      this.levels.push(level);
    }
  }

  get width(): number {
    return this.levels[0].width;
  }

  get height(): number {
    return this.levels[0].height;
  }

  /** Bytes of all levels (about 4/3 of the full image). */
  get bytes(): number {
    return this.levels.reduce((sum, level) => sum + level.data.byteLength, 0);
  }

  /** The level for shrinking by `scale` (source pixels per output pixel). */
  levelFor(scale: number): number {
    const k = Math.floor(Math.log2(scale / this.minOversample));
    return Math.max(0, Math.min(this.levels.length - 1, k));
  }

  /** Like `resampleRegion` on the full image; `region` is in full-resolution pixels. */
  resample(region: Region, outWidth: number, outHeight: number, interpolation: Interpolation): Float32Array {
    const scale = Math.min(region.width / outWidth, region.height / outHeight);
    const k = this.levelFor(scale);
    if (k === 0) return resampleRegion(this.levels[0], region, outWidth, outHeight, interpolation);
    const f = 2 ** k;
    const scaled = { x: region.x / f, y: region.y / f, width: region.width / f, height: region.height / f };
    return resampleRegion(this.levels[k], scaled, outWidth, outHeight, interpolation);
  }
}
