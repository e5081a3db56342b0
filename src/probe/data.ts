/**
 * Labelled images for the probe: a probe-train and a probe-test split, and the pre-training set.
 *
 * Fashion-MNIST (the shipped 10,000-image file): pre-training trains on images 0–8,999
 * (`FASHION_MNIST_TRAIN_COUNT`, the split `npm run train` has always used); the probe trains on the same
 * images with their labels, as linear probes on ImageNet train on the pre-training images; images
 * 9,000–9,999 are the probe-test split, which pre-training never trains on (its held-out loss reads them).
 *
 * Image folders whose subfolders are classes: each class's images (sorted by name) are shuffled with a fixed
 * seed and a fifth of them (at least one when a class has two or more) go to probe-test; pre-training sees
 * only the probe-train images.
 */
import { type Normalization, writeNormalized } from '../data/augment';
import { FASHION_MNIST_TRAIN_COUNT } from '../data/builtin';
import type { FashionMnistDataset } from '../data/datasets';
import type { RgbImage } from '../data/image';
import type { NamedImage } from '../data/image-set';
import { resampleRegion } from '../data/resample';
import { Rng } from '../util/random';

/** The ten Fashion-MNIST classes, by label. */
export const FASHION_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

/** Seed of the per-class shuffle that splits a class folder. */
export const FOLDER_SPLIT_SEED = 0x5eed;
/** Fraction of each class folder that goes to probe-test. */
export const FOLDER_TEST_FRACTION = 0.2;

export interface LabelledSplit {
  readonly count: number;
  /** Class index per image. */
  readonly labels: Int32Array;
  /** Writes image `index` (normalised NCHW) into slot `slot` of a [B, 3, S, S] batch. */
  write(index: number, batch: Float32Array, slot: number): void;
}

export interface ProbeData {
  readonly name: string;
  readonly imageSize: number;
  readonly classes: readonly string[];
  readonly train: LabelledSplit;
  readonly test: LabelledSplit;
}

/** Accuracy of always answering the most frequent probe-test class (1/K when balanced). */
export function chanceLevel(labels: Int32Array, classes: number): number {
  const counts = new Array<number>(classes).fill(0);
  for (const y of labels) counts[y]++;
  return labels.length === 0 ? 0 : Math.max(...counts) / labels.length;
}

/** Fisher–Yates with the repository's PRNG (the same permutation on every host). */
export function shuffled(count: number, rng: Rng): Int32Array {
  const order = Int32Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

function limit(label: string, available: number, requested: number | undefined): number {
  if (requested === undefined) return available;
  if (!Number.isInteger(requested) || requested < 1)
    throw new RangeError(`${label} must be a positive whole number of images, not ${requested}.`);
  return Math.min(available, requested);
}

export interface SplitLimits {
  /** Use only the first N probe-train images (default: all). */
  probeTrain?: number;
  /** Use only the first N probe-test images (default: all). */
  probeTest?: number;
}

/** Fashion-MNIST with its labels (`labels[i]` for image i of the file), split as the file comment says. */
export function fashionProbeData(
  dataset: FashionMnistDataset,
  labels: Uint8Array,
  limits: SplitLimits = {},
): ProbeData {
  const total = dataset.trainCount + dataset.heldOutCount;
  if (labels.length !== total)
    throw new Error(`The label file has ${labels.length} labels for ${total} images.`);
  if (dataset.trainCount !== FASHION_MNIST_TRAIN_COUNT)
    throw new Error(
      `The probe expects the standard split of ${FASHION_MNIST_TRAIN_COUNT} pre-training images.`,
    );
  for (const y of labels)
    if (y >= FASHION_CLASSES.length)
      throw new Error(`The label file holds class ${y}; Fashion-MNIST has 10.`);
  const split = (start: number, count: number): LabelledSplit => ({
    count,
    labels: Int32Array.from(labels.subarray(start, start + count)),
    write: (index, batch, slot) =>
      writeNormalized(dataset.view(start + index), dataset.imageSize, dataset.normalization, batch, slot),
  });
  return {
    name: 'fashion-mnist',
    imageSize: dataset.imageSize,
    classes: FASHION_CLASSES,
    train: split(0, limit('--probe-train', dataset.trainCount, limits.probeTrain)),
    test: split(dataset.trainCount, limit('--probe-test', dataset.heldOutCount, limits.probeTest)),
  };
}

/** The central square of an image resampled to S×S, HWC 0..255 (the usual evaluation crop). */
export function centreCrop(image: RgbImage, size: number): Float32Array {
  const side = Math.min(image.width, image.height);
  const region = {
    x: Math.floor((image.width - side) / 2),
    y: Math.floor((image.height - side) / 2),
    width: side,
    height: side,
  };
  return resampleRegion(image, region, size, size, 'bicubic');
}

export interface ClassImages {
  name: string;
  images: NamedImage[];
}

/** Per-class split of a class-folder set: which images of each class are probe-test. */
export function splitClasses(classes: readonly ClassImages[]): {
  train: [number, number][];
  test: [number, number][];
} {
  const train: [number, number][] = [];
  const test: [number, number][] = [];
  classes.forEach((c, ci) => {
    const n = c.images.length;
    const testCount = n < 2 ? 0 : Math.max(1, Math.round(n * FOLDER_TEST_FRACTION));
    const order = shuffled(n, new Rng(FOLDER_SPLIT_SEED + ci));
    order.forEach((imageIndex, rank) => {
      (rank < testCount ? test : train).push([ci, imageIndex]);
    });
  });
  // Classes interleaved (a fixed shuffle), so that the first N of a split cover every class.
  const mix = (pairs: [number, number][], seed: number) =>
    Array.from(shuffled(pairs.length, new Rng(seed)), (i) => pairs[i]);
  return { train: mix(train, FOLDER_SPLIT_SEED - 1), test: mix(test, FOLDER_SPLIT_SEED - 2) };
}

/** A class-folder set as probe data; images are centre-cropped and resized to S×S once. */
export function folderProbeData(
  name: string,
  classes: readonly ClassImages[],
  imageSize: number,
  normalization: Normalization,
  limits: SplitLimits = {},
): ProbeData {
  if (classes.length < 2)
    throw new Error(`A probe needs at least two classes (subfolders); ${name} has ${classes.length}.`);
  const { train, test } = splitClasses(classes);
  if (test.length === 0)
    throw new Error(`No class of ${name} has two images, so nothing is left for probe-test.`);
  const split = (pairs: [number, number][], count: number): LabelledSplit => {
    const views = pairs.slice(0, count).map(([ci, ii]) => centreCrop(classes[ci].images[ii], imageSize));
    return {
      count,
      labels: Int32Array.from(pairs.slice(0, count), ([ci]) => ci),
      write: (index, batch, slot) => writeNormalized(views[index], imageSize, normalization, batch, slot),
    };
  };
  return {
    name,
    imageSize,
    classes: classes.map((c) => c.name),
    train: split(train, limit('--probe-train', train.length, limits.probeTrain)),
    test: split(test, limit('--probe-test', test.length, limits.probeTest)),
  };
}
