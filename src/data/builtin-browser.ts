/**
 * Browser loaders for the built-in data, meant for the training worker: files are fetched from the app's
 * `data/` folder (public/data), gunzipped with DecompressionStream and decoded with createImageBitmap.
 */
import { BUILTIN_PATHS, BUILTIN_PHOTOS, FASHION_MNIST_FILES, HELD_OUT_PHOTOS } from './builtin';
import {
  FashionMnistDataset,
  type FashionMnistOptions,
  PhotoDataset,
  type PhotoDatasetOptions,
} from './datasets';
import { decodeImageBrowser, fetchBytes } from './decode-browser';
import { gunzipWeb, isGzip, parseIdx } from './idx';
import { ImageCollection } from './image-set';

/** Where public/data is served: Vite's base URL + data/. */
export function defaultDataRoot(): string {
  return `${import.meta.env.BASE_URL}data/`;
}

export async function fashionMnistDatasetBrowser(options: FashionMnistOptions, root = defaultDataRoot()) {
  const bytes = await fetchBytes(root + BUILTIN_PATHS.fashion(FASHION_MNIST_FILES.images));
  const images = parseIdx(isGzip(bytes) ? await gunzipWeb(bytes) : bytes, 'Fashion-MNIST image file');
  return new FashionMnistDataset(images.data, options);
}

export async function photoDatasetBrowser(
  options: Omit<PhotoDatasetOptions, 'heldOut'>,
  root = defaultDataRoot(),
) {
  const collection = new ImageCollection(decodeImageBrowser, { maxStoredSide: 4096 });
  const files = await Promise.all(
    BUILTIN_PHOTOS.map(async (name) => ({
      name,
      bytes: await fetchBytes(root + BUILTIN_PATHS.photos(name)),
    })),
  );
  const { skipped } = await collection.add(files);
  if (skipped.length > 0) {
    throw new Error(
      `A built-in photo failed to load: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`,
    );
  }
  return new PhotoDataset('photos', collection.images, { ...options, heldOut: HELD_OUT_PHOTOS });
}
