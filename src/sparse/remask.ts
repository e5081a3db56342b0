/**
 * Re-masking of a dense NHWC map by the cell mask (shaders/sparse/remask.wgsl): what the official SparK
 * encoder does after a layer whose masked outputs are not already 0 (max-pool, LayerNorm). The dense-masked
 * encoder (src/models/layers/masked.ts) uses it; its backward is the same multiply on dy.
 */

import gridSource from '../../shaders/lib/grid.wgsl?raw';
import remaskFile from '../../shaders/sparse/remask.wgsl?raw';
import { bindingLayout, type Gpu, type GpuTensor, grid1d, type PreparedDispatch } from '../gpu/runtime';
import { composeShader, uniformStruct } from '../gpu/shader';

const RemaskParams = uniformStruct('RemaskParams', {
  n: 'u32',
  channels: 'u32',
  height: 'u32',
  width: 'u32',
  gridH: 'u32',
  gridW: 'u32',
  side: 'u32',
});

const REMASK_LAYOUT = bindingLayout('remask', {
  out: 'write', // [B, H, W, C] the re-masked map (or dx)
  a: 'read', // [B, H, W, C] the map (or dy)
  cells: 'read', // [B, gridH, gridW] u32 cell mask, 1 = visible
});

const source = composeShader(RemaskParams.wgsl, gridSource, remaskFile);

export interface RemaskShape {
  batch: number;
  height: number;
  width: number;
  channels: number;
  /** Cells per side of the map: the mask grid is gridH × gridW cells of (height / gridH)² pixels. */
  gridH: number;
  gridW: number;
}

/** out = a · mask (broadcast over channels); `cells` is the [batch, gridH, gridW] u32 mask (1 = visible). */
export function remask(
  gpu: Gpu,
  shape: RemaskShape,
  out: GpuTensor,
  a: GpuTensor,
  cells: GpuTensor,
): PreparedDispatch {
  const { batch, height, width, channels, gridH, gridW } = shape;
  const side = height / gridH;
  if (!Number.isInteger(side) || side < 1 || width / gridW !== side)
    throw new RangeError(
      `remask: a ${height}×${width} map does not split into ${gridH}×${gridW} square cells.`,
    );
  const n = batch * height * width * channels;
  if (out.length !== n || a.length !== n)
    throw new RangeError(`remask: out and input need ${n} elements, got ${out.length} and ${a.length}.`);
  if (cells.length !== batch * gridH * gridW)
    throw new RangeError(`remask: the mask has ${cells.length} cells, expected ${batch * gridH * gridW}.`);
  return gpu.prepare({
    kernel: gpu.kernel({ label: 'remask', code: source, entryPoint: 'remask', layout: REMASK_LAYOUT }),
    buffers: [out, a, cells],
    params: RemaskParams.pack({ n, channels, height, width, gridH, gridW, side }),
    workgroups: grid1d(Math.ceil(n / 256)),
  });
}
