/** Node loaders for the built-in data under public/data. Node-only (fs, zlib). */
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { BUILTIN_PATHS, BUILTIN_PHOTOS, FASHION_MNIST_FILES, HELD_OUT_PHOTOS } from './builtin';
import {
  FashionMnistDataset,
  type FashionMnistOptions,
  PhotoDataset,
  type PhotoDatasetOptions,
} from './datasets';
import { decodeImageNode } from './decode-node';
import { isGzip, parseIdx } from './idx';
import { ImageCollection, type ImageSetOptions } from './image-set';

/** public/data of this repository. */
export const NODE_DATA_ROOT = new URL('../../public/data/', import.meta.url);

async function readData(relative: string, root: URL): Promise<Uint8Array> {
  const url = new URL(relative, root);
  try {
    return new Uint8Array(await readFile(url));
  } catch (error) {
    throw new Error(`The built-in data file ${url.pathname} cannot be read: ${(error as Error).message}`);
  }
}

/** Fashion-MNIST images as N×28×28 bytes (and labels), from the shipped gzip IDX files. */
export async function loadFashionMnistNode(
  root = NODE_DATA_ROOT,
): Promise<{ pixels: Uint8Array; labels: Uint8Array }> {
  const unzip = (bytes: Uint8Array) => (isGzip(bytes) ? new Uint8Array(gunzipSync(bytes)) : bytes);
  const images = parseIdx(
    unzip(await readData(BUILTIN_PATHS.fashion(FASHION_MNIST_FILES.images), root)),
    'Fashion-MNIST image file',
  );
  const labels = parseIdx(
    unzip(await readData(BUILTIN_PATHS.fashion(FASHION_MNIST_FILES.labels), root)),
    'Fashion-MNIST label file',
  );
  if (images.dims.length !== 3 || images.dims[1] !== 28 || images.dims[2] !== 28) {
    throw new Error(`The Fashion-MNIST image file has shape ${images.dims.join('×')}, not N×28×28.`);
  }
  return { pixels: images.data, labels: labels.data };
}

export async function fashionMnistDatasetNode(options: FashionMnistOptions, root = NODE_DATA_ROOT) {
  const { pixels } = await loadFashionMnistNode(root);
  return new FashionMnistDataset(pixels, options);
}

/** The 12 built-in photos decoded (grey ones expanded to RGB), with coffee.png and gravel.png held out. */
export async function photoDatasetNode(
  options: Omit<PhotoDatasetOptions, 'heldOut'>,
  root = NODE_DATA_ROOT,
  imageOptions: Partial<ImageSetOptions> = { maxStoredSide: 4096 },
): Promise<PhotoDataset> {
  const collection = new ImageCollection(decodeImageNode, imageOptions);
  const files = [];
  for (const name of BUILTIN_PHOTOS)
    files.push({ name, bytes: await readData(BUILTIN_PATHS.photos(name), root) });
  const { skipped } = await collection.add(files);
  if (skipped.length > 0) {
    throw new Error(
      `A built-in photo failed to load: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`,
    );
  }
  return new PhotoDataset('photos', collection.images, { ...options, heldOut: HELD_OUT_PHOTOS });
}
