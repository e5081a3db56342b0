/**
 * Training-time augmentation and normalisation, host-agnostic and driven by a seeded `Rng` so a batch is a
 * pure function of (images, options, RNG state).
 *
 * Random resized crop follows torchvision's `RandomResizedCrop.get_params` (ten tries of area·U(scale) with a
 * log-uniform aspect ratio, else a centre crop clamped to the ratio range), then resamples the crop with the
 * antialiased PIL-style filter of `resample.ts` — bicubic by default, as in the official SparK recipe.
 */
import type { Rng } from '../util/random';
import type { RgbImage } from './image';
import { type Interpolation, MipImage, type Region, resampleRegion } from './resample';

export interface Normalization {
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

/** ImageNet statistics, the official SparK default (inputs in 0..1 before this). */
export const IMAGENET_NORMALIZATION: Normalization = {
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};

export type CropMode = 'random-resized' | 'native';

export interface AugmentOptions {
  /**
   * `random-resized`: torchvision RandomResizedCrop; `native`: an S×S window at the image's own resolution
   * (images with a side shorter than S are first enlarged so that side is S).
   */
  crop: CropMode;
  /** Fraction of the image area a random-resized crop covers; official SparK: 0.67–1. */
  scale: readonly [number, number];
  /** Width/height range of a random-resized crop. */
  ratio: readonly [number, number];
  interpolation: Interpolation;
  /** Mirror left-right with probability ½. */
  flip: boolean;
}

export const DEFAULT_AUGMENT: AugmentOptions = {
  crop: 'random-resized',
  scale: [0.67, 1],
  ratio: [3 / 4, 4 / 3],
  interpolation: 'bicubic',
  flip: true,
};

/** Integer in [lo, hi] inclusive. */
function randInt(rng: Rng, lo: number, hi: number): number {
  return lo + rng.int(hi - lo + 1);
}

export function randomResizedCropRegion(
  width: number,
  height: number,
  rng: Rng,
  scale: readonly [number, number] = DEFAULT_AUGMENT.scale,
  ratio: readonly [number, number] = DEFAULT_AUGMENT.ratio,
): Region {
  const area = width * height;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const w = Math.round(Math.sqrt(targetArea * aspect));
    const h = Math.round(Math.sqrt(targetArea / aspect));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      return { x: randInt(rng, 0, width - w), y: randInt(rng, 0, height - h), width: w, height: h };
    }
  }
  // Fallback: the largest centred crop whose aspect lies in the range.
  const imageRatio = width / height;
  let w = width;
  let h = height;
  if (imageRatio < ratio[0]) h = Math.round(w / ratio[0]);
  else if (imageRatio > ratio[1]) w = Math.round(h * ratio[1]);
  return { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), width: w, height: h };
}

/** A uniformly placed size×size window (the image must be at least that large). */
export function nativeCropRegion(width: number, height: number, size: number, rng: Rng): Region {
  return { x: randInt(rng, 0, width - size), y: randInt(rng, 0, height - size), width: size, height: size };
}

/** An image to crop from: plain, or with its halvings for fast shrinking (see `MipImage`). */
export type CropSource = RgbImage | MipImage;

function resampleFrom(
  source: CropSource,
  region: Region,
  size: number,
  interpolation: Interpolation,
): Float32Array {
  return source instanceof MipImage
    ? source.resample(region, size, size, interpolation)
    : resampleRegion(source, region, size, size, interpolation);
}

/** Native mode: a size×size window; an image with a shorter side takes its largest square, enlarged. */
function nativeCrop(source: CropSource, size: number, rng: Rng, interpolation: Interpolation): Float32Array {
  const side = Math.min(source.width, source.height, size);
  const window = nativeCropRegion(source.width, source.height, side, rng);
  return resampleFrom(source, window, size, interpolation);
}

/** Mirrors an interleaved RGB square (HWC) left-right in place. */
export function flipHorizontal(hwc: Float32Array, size: number): void {
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size >> 1; x++) {
      const a = (y * size + x) * 3;
      const b = (y * size + size - 1 - x) * 3;
      for (let c = 0; c < 3; c++) {
        const t = hwc[a + c];
        hwc[a + c] = hwc[b + c];
        hwc[b + c] = t;
      }
    }
  }
}

/** One augmented training view: size×size interleaved RGB (HWC) in 0..255. */
export function augmentImage(
  source: CropSource,
  size: number,
  rng: Rng,
  options: AugmentOptions = DEFAULT_AUGMENT,
) {
  const view =
    options.crop === 'native'
      ? nativeCrop(source, size, rng, options.interpolation)
      : resampleFrom(
          source,
          randomResizedCropRegion(source.width, source.height, rng, options.scale, options.ratio),
          size,
          options.interpolation,
        );
  if (options.flip && rng.next() < 0.5) flipHorizontal(view, size);
  return view;
}

/**
 * Writes one HWC 0..255 view into slot `index` of an NCHW batch [B, 3, S, S]: (v/255 − mean)/std per channel.
 */
export function writeNormalized(
  hwc: ArrayLike<number>,
  size: number,
  normalization: Normalization,
  batch: Float32Array,
  index: number,
): void {
  const plane = size * size;
  const base = index * 3 * plane;
  for (let c = 0; c < 3; c++) {
    const scale = 1 / (255 * normalization.std[c]);
    const shift = normalization.mean[c] / normalization.std[c];
    const out = base + c * plane;
    for (let p = 0; p < plane; p++) batch[out + p] = hwc[p * 3 + c] * scale - shift;
  }
}

/** Inverse of `writeNormalized` for one image of an NCHW batch, back to 0..255 floats (unclamped), HWC. */
export function denormalizeToHwc(
  batch: Float32Array,
  size: number,
  normalization: Normalization,
  index: number,
): Float32Array {
  const plane = size * size;
  const out = new Float32Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    const base = index * 3 * plane + c * plane;
    for (let p = 0; p < plane; p++) {
      out[p * 3 + c] = (batch[base + p] * normalization.std[c] + normalization.mean[c]) * 255;
    }
  }
  return out;
}

/** Checks a user-supplied normalisation, with a sentence for the mistake. */
export function validateNormalization(normalization: Normalization): void {
  for (const c of [0, 1, 2]) {
    const std = normalization.std[c];
    if (!(std > 0) || !Number.isFinite(std)) {
      throw new Error(`Normalisation std for channel ${c} is ${std}; every std must be a positive number.`);
    }
    if (!Number.isFinite(normalization.mean[c])) {
      throw new Error(
        `Normalisation mean for channel ${c} is ${normalization.mean[c]}; it must be a number.`,
      );
    }
  }
}
