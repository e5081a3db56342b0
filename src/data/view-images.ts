/**
 * Whole images as a model sees them when a checkpoint is viewed: the largest centred square of each image,
 * resized (bicubic) to the model's input size and normalised, as an NCHW batch. No augmentation, so the
 * same images always give the same batch.
 */
import { IMAGENET_NORMALIZATION, type Normalization, writeNormalized } from './augment';
import type { RgbImage } from './image';
import { resampleRegion } from './resample';

export function centredSquares(
  images: readonly RgbImage[],
  size: number,
  normalization: Normalization = IMAGENET_NORMALIZATION,
): Float32Array {
  const batch = new Float32Array(images.length * 3 * size * size);
  images.forEach((image, index) => {
    const side = Math.min(image.width, image.height);
    const region = {
      x: Math.floor((image.width - side) / 2),
      y: Math.floor((image.height - side) / 2),
      width: side,
      height: side,
    };
    writeNormalized(resampleRegion(image, region, size, size, 'bicubic'), size, normalization, batch, index);
  });
  return batch;
}
