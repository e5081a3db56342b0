/**
 * The built-in data shipped under public/data (licences in public/data/LICENSES.md) and its fixed splits.
 */

/** The 12 scikit-image sample photos, 7 colour and 5 greyscale. */
export const BUILTIN_PHOTOS = [
  'astronaut.png',
  'brick.png',
  'camera.png',
  'chelsea.png',
  'coffee.png',
  'coins.png',
  'grass.png',
  'gravel.png',
  'hubble_deep_field.jpg',
  'ihc.png',
  'retina.jpg',
  'rocket.jpg',
] as const;

/**
 * Whole photos never used for training: one colour photo and one greyscale texture, so the held-out loss
 * covers both kinds. Their crops form the held-out batch.
 */
export const HELD_OUT_PHOTOS: readonly string[] = ['coffee.png', 'gravel.png'];

export const FASHION_MNIST_FILES = {
  images: 't10k-images-idx3-ubyte.gz',
  labels: 't10k-labels-idx1-ubyte.gz',
} as const;

/**
 * Fashion-MNIST ships here as its 10,000-image test split; the last 1,000 (indices 9000–9999) are held out,
 * the first 9,000 train. The file's order is already shuffled across classes.
 */
export const FASHION_MNIST_TRAIN_COUNT = 9000;

/** Paths relative to the data root (public/data in the repository, `${BASE_URL}data` in the app). */
export const BUILTIN_PATHS = {
  photos: (name: string) => `photos/${name}`,
  fashion: (name: string) => `fashion-mnist/${name}`,
};
