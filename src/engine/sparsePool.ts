/**
 * Sparse max-pool on compacted rows (ResNet's 3×3/s2/p1 after the stem), matching SparseMaxPooling: masked
 * neighbours take part with their 0, padding does not. Kernels: shaders/sparse_pool.wgsl.
 */
import gridSource from '../../shaders/lib/grid.wgsl?raw';
import sparsepoolFile from '../../shaders/sparse_pool.wgsl?raw';
import { bindingLayout, type Gpu, type GpuTensor, grid1d, type PreparedDispatch } from '../gpu/runtime';
import { composeShader, uniformStruct } from '../gpu/shader';
import type { GpuNeighbourMaps } from '../sparse/sites';

/** rows: the rows the dispatch writes (outputs forward, inputs backward); taps: the window's size. */
const SparsePoolParams = uniformStruct('SparsePoolParams', { rows: 'u32', channels: 'u32', taps: 'u32' });

const ForwardLayout = bindingLayout('sparse_pool.forward', {
  y: 'write', // [N_out, C] the maxima
  argmax: 'write', // [N_out, C] u32 the winning tap, for the backward
  x: 'read', // [N_in, C]
  map: 'read', // [N_out, taps] i32 input row per tap (−1 masked, −2 padding)
});
const BackwardLayout = bindingLayout('sparse_pool.backward', {
  dx: 'write', // [N_in, C] written
  dy: 'read', // [N_out, C]
  argmax: 'read', // [N_out, C] u32 from the forward
  transposedMap: 'read', // [N_in, taps] i32 output row per tap (< 0 none)
});

/** sparse_pool.wgsl composed with its uniforms and the grid indexing library. */
const source = composeShader(SparsePoolParams.wgsl, gridSource, sparsepoolFile);

export interface SparseMaxPoolArgs {
  maps: GpuNeighbourMaps;
  channels: number;
  /** [N_out, C] */
  y: GpuTensor;
  /** [N_out, C] u32 scratch: the winning tap, kept for the backward. Make it with sparseMaxPoolArgmax(). */
  argmax: GpuTensor;
  /** [N_in, C] */
  x: GpuTensor;
}

function expectLength(label: string, name: string, t: GpuTensor, n: number): void {
  if (t.length !== n) throw new RangeError(`${label}: ${name} has ${t.length} elements, expected ${n}.`);
}

export function sparseMaxPoolArgmax(gpu: Gpu, maps: GpuNeighbourMaps, channels: number): GpuTensor {
  return gpu.tensor('maxpool.argmax', [maps.maps.outputRows, channels]);
}

export function sparseMaxPoolForward(gpu: Gpu, a: SparseMaxPoolArgs): PreparedDispatch {
  const label = 'sparseMaxPoolForward';
  const { outputRows, inputRows, taps } = a.maps.maps;
  expectLength(label, 'y', a.y, outputRows * a.channels);
  expectLength(label, 'argmax', a.argmax, outputRows * a.channels);
  expectLength(label, 'x', a.x, inputRows * a.channels);
  return gpu.prepare({
    kernel: gpu.kernel({
      label: 'sparse_pool.forward',
      code: source,
      entryPoint: 'maxpool_forward',
      layout: ForwardLayout,
    }),
    buffers: [a.y, a.argmax, a.x, a.maps.forward],
    params: SparsePoolParams.pack({ rows: outputRows, channels: a.channels, taps }),
    workgroups: grid1d(Math.ceil((outputRows * a.channels) / 256)),
  });
}

/** dx (written) at the input rows: each output's dy goes to the tap that won its max. */
export function sparseMaxPoolBackward(
  gpu: Gpu,
  a: { maps: GpuNeighbourMaps; channels: number; dx: GpuTensor; dy: GpuTensor; argmax: GpuTensor },
): PreparedDispatch {
  const label = 'sparseMaxPoolBackward';
  const { outputRows, inputRows, taps } = a.maps.maps;
  expectLength(label, 'dx', a.dx, inputRows * a.channels);
  expectLength(label, 'dy', a.dy, outputRows * a.channels);
  expectLength(label, 'argmax', a.argmax, outputRows * a.channels);
  return gpu.prepare({
    kernel: gpu.kernel({
      label: 'sparse_pool.backward',
      code: source,
      entryPoint: 'maxpool_backward',
      layout: BackwardLayout,
    }),
    buffers: [a.dx, a.dy, a.argmax, a.maps.transposed],
    params: SparsePoolParams.pack({ rows: inputRows, channels: a.channels, taps }),
    workgroups: grid1d(Math.ceil((inputRows * a.channels) / 256)),
  });
}
