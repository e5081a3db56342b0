import { adapterLabel } from '../src/gpu/device';
import { createNodeGpu } from '../src/gpu/node';

/**
 * Runs once per `vitest run`, before any test file: finds the adapter the GPU tests will use and prints it,
 * or stops the run with a sentence saying what to install. GPU tests never pass by skipping.
 */
export default async function setup(): Promise<void> {
  const gpu = await createNodeGpu('global-setup');
  const { summary } = gpu;
  console.log(`[sparklab] GPU tests run on: ${adapterLabel(summary)}`);
  console.log(`[sparklab] features: ${summary.features.join(', ')}`);
  gpu.destroy();
}
