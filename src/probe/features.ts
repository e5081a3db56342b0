/**
 * Pooled features of a frozen encoder over a labelled split, computed once per arm and kept: k-NN and the
 * linear probe (and the shuffled-label control) all read the same cache.
 */
import type { Gpu } from '../gpu/runtime';
import type { LabelledSplit } from './data';
import type { DenseEncoder } from './encoder';

/** Features [count, width] of one split, row i for image i. */
export interface FeatureSet {
  count: number;
  width: number;
  data: Float32Array;
  labels: Int32Array;
}

/**
 * Runs the encoder (eval mode) over the split in batches of `encoder.batch`; the last batch is padded with
 * copies of its first image, whose rows are dropped.
 */
export async function extractFeatures(
  gpu: Gpu,
  encoder: DenseEncoder,
  split: LabelledSplit,
  onBatch?: (done: number, total: number) => void,
): Promise<FeatureSet> {
  const B = encoder.batch;
  const S = encoder.config.inputSize;
  const width = encoder.width;
  const data = new Float32Array(split.count * width);
  const images = new Float32Array(B * 3 * S * S);
  for (let start = 0; start < split.count; start += B) {
    const n = Math.min(B, split.count - start);
    for (let slot = 0; slot < B; slot++) split.write(start + (slot < n ? slot : 0), images, slot);
    encoder.setImages(images);
    gpu.submit('probe.features', (pass) => encoder.encodeEval(pass));
    const pooled = await gpu.read(encoder.pooled);
    data.set(pooled.subarray(0, n * width), start * width);
    onBatch?.(start + n, split.count);
  }
  for (let i = 0; i < data.length; i++)
    if (!Number.isFinite(data[i]))
      throw new Error(
        `The encoder produced a non-finite feature (image ${Math.floor(i / width)}); its weights or statistics are broken.`,
      );
  return { count: split.count, width, data, labels: split.labels };
}
