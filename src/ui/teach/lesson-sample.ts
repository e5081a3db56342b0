/**
 * Loads a few held-out images of the chosen built-in data on the main thread (the worker loads its own copy to
 * train): the figures draw them with CPU-made masks, so they need neither WebGPU nor a run.
 */
import { fashionMnistDatasetBrowser, photoDatasetBrowser } from '../../data/builtin-browser';
import type { Dataset } from '../../data/datasets';
import type { DatasetChoice } from '../run-config';
import { useTeachStore } from './teach-store';

export const SAMPLE_IMAGES = 4;

let inFlight: string | undefined;

/** Which built-in data stands in for the chosen data (the user's own images live in the worker). */
export function sampleSourceFor(dataset: DatasetChoice): 'fashion-mnist' | 'photos' {
  return dataset === 'photos' ? 'photos' : 'fashion-mnist';
}

/** Loads the sample for (data, size) unless it is loaded or on its way; failures become a sentence. */
export async function ensureLessonSample(dataset: DatasetChoice, size: number): Promise<void> {
  const source = sampleSourceFor(dataset);
  const key = `${source}|${size}`;
  if (useTeachStore.getState().sample?.key === key || inFlight === key) return;
  inFlight = key;
  try {
    const data: Dataset =
      source === 'photos'
        ? await photoDatasetBrowser({ imageSize: size })
        : await fashionMnistDatasetBrowser({ imageSize: size });
    const pixels = data.heldOutBatch(SAMPLE_IMAGES);
    if (inFlight !== key) return;
    useTeachStore.setState({
      sample: { key, images: SAMPLE_IMAGES, size, normalization: data.normalization, pixels },
      sampleError: undefined,
    });
  } catch (error) {
    if (inFlight === key)
      useTeachStore.setState({
        sampleError: `The example images could not be loaded: ${error instanceof Error ? error.message : String(error)}`,
      });
  } finally {
    if (inFlight === key) inFlight = undefined;
  }
}
