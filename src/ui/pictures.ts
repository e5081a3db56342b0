/**
 * Snapshot tensors → RGBA pictures for the reconstruction canvases. Image tensors arrive NCHW in normalised
 * units; the raw prediction is in the loss's units (per-patch normalised when the target is), which have no
 * colour meaning, so it is stretched per image to the full range and labelled as such in the UI.
 */
import type { Normalization } from '../data/augment';
import { imageGrid, type RgbaPicture } from '../data/grid';
import type { Snapshot } from '../worker/protocol';

/**
 * Maps each image's values linearly so its minimum shows black and its maximum white (all channels share
 * one range, so hues stay), returned in normalised units for `imageGrid`. A constant image shows mid-grey.
 */
export function stretchPerImage(
  nchw: Float32Array,
  images: number,
  size: number,
  normalization: Normalization,
): Float32Array {
  const perImage = 3 * size * size;
  if (nchw.length !== images * perImage)
    throw new Error(`The prediction has ${nchw.length} values, not ${images}×3×${size}×${size}.`);
  const out = new Float32Array(nchw.length);
  const plane = size * size;
  for (let b = 0; b < images; b++) {
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (let i = b * perImage; i < (b + 1) * perImage; i++) {
      const v = nchw[i];
      if (!Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const span = hi - lo;
    for (let c = 0; c < 3; c++) {
      const base = b * perImage + c * plane;
      for (let p = 0; p < plane; p++) {
        const v = nchw[base + p];
        const t = span > 0 && Number.isFinite(v) ? (v - lo) / span : 0.5;
        out[base + p] = (t - normalization.mean[c]) / normalization.std[c];
      }
    }
  }
  return out;
}

export interface SnapshotPictures {
  input: RgbaPicture;
  masked: RgbaPicture;
  composite: RgbaPicture;
  prediction: RgbaPicture;
}

/** One picture per row of the reconstruction panel, each holding the snapshot's images side by side. */
export function snapshotPictures(snapshot: Snapshot, maskColor: readonly [number, number, number]) {
  const { images, size, normalization } = snapshot;
  const options = { size, columns: images, normalization, gap: 1, background: [255, 255, 255] as const };
  const mask = { data: snapshot.mask.data, height: snapshot.mask.height, width: snapshot.mask.width };
  return {
    input: imageGrid([{ images: snapshot.input }], options),
    masked: imageGrid([{ images: snapshot.maskedInput, mask }], { ...options, maskColor }),
    composite: imageGrid([{ images: snapshot.composite }], options),
    prediction: imageGrid(
      [{ images: stretchPerImage(snapshot.prediction, images, size, normalization) }],
      options,
    ),
  } satisfies SnapshotPictures;
}
