/** Node loaders of labelled probe data: the built-in Fashion-MNIST and class-subfolder image folders. */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { IMAGENET_NORMALIZATION } from '../data/augment';
import { loadFashionMnistNode, NODE_DATA_ROOT } from '../data/builtin-node';
import { type Dataset, FashionMnistDataset, PhotoDataset, userHeldOut } from '../data/datasets';
import { decodeImageNode, readImageDirectory } from '../data/decode-node';
import { ImageCollection, type SkippedFile } from '../data/image-set';
import {
  type ClassImages,
  fashionProbeData,
  folderProbeData,
  type ProbeData,
  type SplitLimits,
  splitClasses,
} from './data';

export interface LoadedProbeData {
  probe: ProbeData;
  /** What pre-training samples from: never the probe-test images. */
  pretrain: Dataset;
  skipped: SkippedFile[];
}

export async function fashionProbeNode(
  imageSize: number,
  limits: SplitLimits = {},
  root = NODE_DATA_ROOT,
): Promise<LoadedProbeData> {
  const { pixels, labels } = await loadFashionMnistNode(root);
  const pretrain = new FashionMnistDataset(pixels, { imageSize });
  return { probe: fashionProbeData(pretrain, labels, limits), pretrain, skipped: [] };
}

/** A folder whose subfolders are classes (sorted by name); files directly inside it are ignored. */
export async function folderProbeNode(
  dir: string,
  imageSize: number,
  limits: SplitLimits = {},
): Promise<LoadedProbeData> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  } catch (error) {
    throw new Error(`Cannot read the image folder ${dir}: ${(error as Error).message}`);
  }
  const classes: ClassImages[] = [];
  const skipped: SkippedFile[] = [];
  for (const name of names) {
    const path = join(dir, name);
    if (!(await stat(path)).isDirectory()) continue;
    const collection = new ImageCollection(decodeImageNode, { maxStoredSide: 512 });
    await collection.add(await readImageDirectory(path));
    skipped.push(...collection.skipped.map((s) => ({ ...s, name: `${name}/${s.name}` })));
    if (collection.images.length > 0) classes.push({ name, images: collection.images });
  }
  if (classes.length < 2)
    throw new Error(
      `${dir} needs at least two subfolders of images, one per class (the image-folder layout); it has ${classes.length}.`,
    );
  const probe = folderProbeData(dir, classes, imageSize, IMAGENET_NORMALIZATION, limits);
  const { train } = splitClasses(classes);
  const trainImages = train.map(([ci, ii]) => ({
    ...classes[ci].images[ii],
    name: `${classes[ci].name}/${classes[ci].images[ii].name}`,
  }));
  const pretrain = new PhotoDataset('folder', trainImages, {
    imageSize,
    heldOut: userHeldOut(trainImages.map((i) => i.name)),
  });
  return { probe, pretrain, skipped };
}
