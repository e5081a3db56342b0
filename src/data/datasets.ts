/**
 * Datasets that fill NCHW Float32Array batches [B, 3, S, S] (normalised) from a seeded RNG. A batch depends
 * only on the dataset, its options and the RNG state, so a run is reproducible and resumable from
 * `rng.getState()`. The held-out batch uses its own fixed seed: identical for every run of the same size.
 */
import { Rng } from '../util/random';
import {
  type AugmentOptions,
  augmentImage,
  DEFAULT_AUGMENT,
  flipHorizontal,
  IMAGENET_NORMALIZATION,
  type Normalization,
  validateNormalization,
  writeNormalized,
} from './augment';
import { FASHION_MNIST_TRAIN_COUNT } from './builtin';
import type { RgbImage } from './image';
import type { NamedImage } from './image-set';
import { type Interpolation, MipImage, resampleRegion } from './resample';

/** Seed of the held-out crops and flips; fixed so initial and final held-out losses see the same pixels. */
export const HELD_OUT_SEED = 0x5eed;

export interface Dataset {
  readonly name: string;
  /** Side S of the square model input. */
  readonly imageSize: number;
  readonly normalization: Normalization;
  /** Number of source images in each split (photos, not crops). */
  readonly trainCount: number;
  readonly heldOutCount: number;
  /** A training batch [B, 3, S, S], consuming `rng`. `out` (length B·3·S·S) is reused when given. */
  trainBatch(batchSize: number, rng: Rng, out?: Float32Array): Float32Array;
  /** The fixed held-out batch of `count` images [count, 3, S, S]. */
  heldOutBatch(count: number): Float32Array;
}

function allocate(batchSize: number, size: number, out?: Float32Array): Float32Array {
  const length = batchSize * 3 * size * size;
  if (out && out.length !== length) {
    throw new Error(
      `The batch buffer holds ${out.length} floats but ${batchSize}×3×${size}×${size} = ${length} are needed.`,
    );
  }
  return out ?? new Float32Array(length);
}

function checkSize(size: number): void {
  if (!Number.isInteger(size) || size < 1)
    throw new Error(`Image size must be a positive integer, not ${size}.`);
}

export interface PhotoDatasetOptions {
  imageSize: number;
  augment?: Partial<AugmentOptions>;
  normalization?: Normalization;
  /** Names of the images held out whole; must leave at least one for training. */
  heldOut?: readonly string[];
}

/**
 * Crops of photos: the built-in ones or the user's. Training picks a photo uniformly, then augments it;
 * held-out crops come from the held-out photos (random resized crops with the held-out seed, no flip).
 */
export class PhotoDataset implements Dataset {
  readonly imageSize: number;
  readonly normalization: Normalization;
  readonly augment: AugmentOptions;
  readonly train: NamedImage[];
  readonly heldOut: NamedImage[];
  private readonly trainSources: MipImage[];
  private readonly heldOutSources: MipImage[];

  constructor(
    readonly name: string,
    images: NamedImage[],
    options: PhotoDatasetOptions,
  ) {
    checkSize(options.imageSize);
    this.imageSize = options.imageSize;
    this.normalization = options.normalization ?? IMAGENET_NORMALIZATION;
    validateNormalization(this.normalization);
    this.augment = { ...DEFAULT_AUGMENT, ...options.augment };
    const heldOutNames = new Set(options.heldOut ?? []);
    for (const name of heldOutNames) {
      if (!images.some((image) => image.name === name)) {
        throw new Error(`The held-out image ${name} is not in the ${this.name} set.`);
      }
    }
    this.train = images.filter((image) => !heldOutNames.has(image.name));
    this.heldOut = images.filter((image) => heldOutNames.has(image.name));
    if (this.train.length === 0) {
      throw new Error(
        `The ${this.name} set has no image left for training after holding out ${heldOutNames.size}.`,
      );
    }
    // Halvings are built once (+⅓ memory) so that small crops of large photos stay cheap.
    this.trainSources = this.train.map((image) => new MipImage(image));
    this.heldOutSources = this.heldOut.map((image) => new MipImage(image));
  }

  get trainCount(): number {
    return this.train.length;
  }

  get heldOutCount(): number {
    return this.heldOut.length;
  }

  trainBatch(batchSize: number, rng: Rng, out?: Float32Array): Float32Array {
    const batch = allocate(batchSize, this.imageSize, out);
    for (let b = 0; b < batchSize; b++) {
      const image = this.trainSources[rng.int(this.trainSources.length)];
      writeNormalized(
        augmentImage(image, this.imageSize, rng, this.augment),
        this.imageSize,
        this.normalization,
        batch,
        b,
      );
    }
    return batch;
  }

  /** Crops of the held-out photos in turn; with no held-out photo, of the training photos (small user sets). */
  heldOutBatch(count: number): Float32Array {
    const source = this.heldOutSources.length > 0 ? this.heldOutSources : this.trainSources;
    const rng = new Rng(HELD_OUT_SEED);
    const batch = allocate(count, this.imageSize, undefined);
    const options = { ...this.augment, flip: false };
    for (let b = 0; b < count; b++) {
      const view = augmentImage(source[b % source.length], this.imageSize, rng, options);
      writeNormalized(view, this.imageSize, this.normalization, batch, b);
    }
    return batch;
  }
}

/**
 * Held-out names for a user's set: one image in eight (at least one, spread evenly by name) once there are 4
 * or more images; smaller sets hold nothing out and report the held-out loss on training images.
 */
export function userHeldOut(names: readonly string[]): string[] {
  if (names.length < 4) return [];
  const sorted = [...names].sort();
  const count = Math.max(1, Math.floor(sorted.length / 8));
  const every = Math.floor(sorted.length / count);
  return sorted.filter((_, i) => i % every === every - 1).slice(0, count);
}

/** The user's images as a dataset, one in eight held out (see `userHeldOut`). */
export function userPhotoDataset(
  images: NamedImage[],
  options: Omit<PhotoDatasetOptions, 'heldOut'>,
): PhotoDataset {
  return new PhotoDataset('your images', images, {
    ...options,
    heldOut: userHeldOut(images.map((image) => image.name)),
  });
}

export type FashionFit = 'pad' | 'resize' | 'auto';

export interface FashionMnistOptions {
  imageSize: number;
  /**
   * `pad`: the 28×28 digit centred on a black canvas (S ≥ 28); `resize`: resampled to S×S; `auto`: pad when
   * S is within 8 px of 28 (a 32-px model sees exact pixels), resize otherwise.
   */
  fit?: FashionFit;
  interpolation?: Interpolation;
  /** Mirror left-right with probability ½ (clothes are roughly symmetric). */
  flip?: boolean;
  normalization?: Normalization;
  /** Images [0, trainCount) train, the rest are held out. */
  trainCount?: number;
}

const FASHION_SIDE = 28;

/** Fashion-MNIST (28×28 greyscale bytes, N×784) as 3-channel S×S images. */
export class FashionMnistDataset implements Dataset {
  readonly name = 'fashion-mnist';
  readonly imageSize: number;
  readonly normalization: Normalization;
  readonly fit: 'pad' | 'resize';
  readonly interpolation: Interpolation;
  readonly flip: boolean;
  readonly trainCount: number;
  readonly heldOutCount: number;

  constructor(
    private readonly pixels: Uint8Array,
    options: FashionMnistOptions,
  ) {
    checkSize(options.imageSize);
    const total = pixels.length / (FASHION_SIDE * FASHION_SIDE);
    if (!Number.isInteger(total) || total < 2) {
      throw new Error(`Fashion-MNIST data must be N×28×28 bytes with N ≥ 2; got ${pixels.length} bytes.`);
    }
    this.imageSize = options.imageSize;
    this.normalization = options.normalization ?? IMAGENET_NORMALIZATION;
    validateNormalization(this.normalization);
    const fit = options.fit ?? 'auto';
    this.fit = fit === 'auto' ? (this.imageSize >= 28 && this.imageSize <= 36 ? 'pad' : 'resize') : fit;
    if (this.fit === 'pad' && this.imageSize < FASHION_SIDE) {
      throw new Error(
        `Fashion-MNIST cannot be padded to ${this.imageSize} px, which is smaller than 28; use resize.`,
      );
    }
    this.interpolation = options.interpolation ?? 'bicubic';
    this.flip = options.flip ?? true;
    this.trainCount = Math.min(options.trainCount ?? FASHION_MNIST_TRAIN_COUNT, total - 1);
    this.heldOutCount = total - this.trainCount;
  }

  /** Image `index` of the whole file as size×size HWC RGB in 0..255. */
  view(index: number): Float32Array {
    const side = FASHION_SIDE;
    const grey = this.pixels.subarray(index * side * side, (index + 1) * side * side);
    const size = this.imageSize;
    if (this.fit === 'pad') {
      const out = new Float32Array(size * size * 3);
      const offset = Math.floor((size - side) / 2);
      for (let y = 0; y < side; y++) {
        for (let x = 0; x < side; x++) {
          const o = ((y + offset) * size + x + offset) * 3;
          out[o] = out[o + 1] = out[o + 2] = grey[y * side + x];
        }
      }
      return out;
    }
    const rgb = new Uint8Array(side * side * 3);
    for (let p = 0; p < side * side; p++) rgb[p * 3] = rgb[p * 3 + 1] = rgb[p * 3 + 2] = grey[p];
    const image: RgbImage = { width: side, height: side, data: rgb };
    return resampleRegion(image, { x: 0, y: 0, width: side, height: side }, size, size, this.interpolation);
  }

  trainBatch(batchSize: number, rng: Rng, out?: Float32Array): Float32Array {
    const batch = allocate(batchSize, this.imageSize, out);
    for (let b = 0; b < batchSize; b++) {
      const view = this.view(rng.int(this.trainCount));
      if (this.flip && rng.next() < 0.5) flipHorizontal(view, this.imageSize);
      writeNormalized(view, this.imageSize, this.normalization, batch, b);
    }
    return batch;
  }

  /** The first `count` held-out images in file order (wrapping if more are asked for). */
  heldOutBatch(count: number): Float32Array {
    const batch = allocate(count, this.imageSize, undefined);
    for (let b = 0; b < count; b++) {
      writeNormalized(
        this.view(this.trainCount + (b % this.heldOutCount)),
        this.imageSize,
        this.normalization,
        batch,
        b,
      );
    }
    return batch;
  }
}

export interface LiveFrameOptions {
  imageSize: number;
  /** Training frames kept; the oldest is replaced by each new frame. */
  capacity?: number;
  /** The first frames to arrive are kept aside, unchanged, as the held-out set. */
  heldOutFrames?: number;
  augment?: Partial<AugmentOptions>;
  normalization?: Normalization;
}

/**
 * A live stream (webcam frames pushed by the UI, already shrunk to a few times the model size): training
 * samples the most recent `capacity` frames, and the first `heldOutFrames` frames are a fixed held-out set,
 * never trained on, so the held-out loss stays comparable while the scene changes.
 */
export class LiveFrameDataset implements Dataset {
  readonly name = 'webcam';
  readonly imageSize: number;
  readonly normalization: Normalization;
  readonly augment: AugmentOptions;
  readonly capacity: number;
  private readonly heldOutTarget: number;
  private readonly frames: MipImage[] = [];
  private readonly heldOut: MipImage[] = [];
  private next = 0;
  /** Frames received so far (held-out ones included). */
  received = 0;

  constructor(options: LiveFrameOptions) {
    checkSize(options.imageSize);
    this.imageSize = options.imageSize;
    this.normalization = options.normalization ?? IMAGENET_NORMALIZATION;
    validateNormalization(this.normalization);
    this.augment = { ...DEFAULT_AUGMENT, ...options.augment };
    this.capacity = options.capacity ?? 32;
    this.heldOutTarget = options.heldOutFrames ?? 4;
    if (!Number.isInteger(this.capacity) || this.capacity < 1) {
      throw new Error(`The live frame capacity must be a positive integer, not ${this.capacity}.`);
    }
  }

  get trainCount(): number {
    return this.frames.length;
  }

  get heldOutCount(): number {
    return this.heldOut.length;
  }

  push(frame: RgbImage): void {
    this.received++;
    const source = new MipImage({ width: frame.width, height: frame.height, data: frame.data });
    if (this.heldOut.length < this.heldOutTarget) {
      this.heldOut.push(source);
      return;
    }
    if (this.frames.length < this.capacity) this.frames.push(source);
    else this.frames[this.next] = source;
    this.next = (this.next + 1) % this.capacity;
  }

  trainBatch(batchSize: number, rng: Rng, out?: Float32Array): Float32Array {
    if (this.frames.length === 0) {
      throw new Error(
        `No webcam frames to train on yet: the first ${this.heldOutTarget} are kept for the held-out loss; keep the camera running.`,
      );
    }
    const batch = allocate(batchSize, this.imageSize, out);
    for (let b = 0; b < batchSize; b++) {
      const frame = this.frames[rng.int(this.frames.length)];
      writeNormalized(
        augmentImage(frame, this.imageSize, rng, this.augment),
        this.imageSize,
        this.normalization,
        batch,
        b,
      );
    }
    return batch;
  }

  heldOutBatch(count: number): Float32Array {
    if (this.heldOut.length === 0)
      throw new Error('No webcam frame has arrived yet, so there is no held-out set.');
    const rng = new Rng(HELD_OUT_SEED);
    const batch = allocate(count, this.imageSize, undefined);
    const options = { ...this.augment, flip: false };
    for (let b = 0; b < count; b++) {
      const view = augmentImage(this.heldOut[b % this.heldOut.length], this.imageSize, rng, options);
      writeNormalized(view, this.imageSize, this.normalization, batch, b);
    }
    return batch;
  }
}
