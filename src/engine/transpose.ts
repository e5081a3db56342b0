/**
 * Transposes on the GPU (shaders/transpose.wgsl), tiled through workgroup memory so that both the reads and
 * the writes are coalesced. Images enter as NCHW and the engine works in NHWC: one conversion at each edge.
 */
import transposeSource from '../../shaders/transpose.wgsl?raw';
import { bindingLayout, type Gpu, type GpuTensor, type PreparedDispatch } from '../gpu/runtime';
import { composeShader, uniformStruct } from '../gpu/shader';

/** x is row-major [batch, rows, cols]; the batch index is the grid's z. */
const TransposeParams = uniformStruct('TransposeParams', { rows: 'u32', cols: 'u32' });
const TransposeLayout = bindingLayout('transpose', {
  out: 'write', // [batch, cols, rows]
  x: 'read', // [batch, rows, cols]
});
const transposeModule = composeShader(TransposeParams.wgsl, transposeSource);

const TILE = 32;

/** out[b, c, r] = x[b, r, c] for row-major x [batch, rows, cols]. */
export function transpose2d(
  gpu: Gpu,
  options: { out: GpuTensor; x: GpuTensor; rows: number; cols: number; batch?: number },
): PreparedDispatch {
  const { out, x, rows, cols, batch = 1 } = options;
  for (const [name, value] of [
    ['rows', rows],
    ['cols', cols],
    ['batch', batch],
  ] as const) {
    if (!Number.isInteger(value) || value < 1)
      throw new RangeError(`transpose: ${name} must be a positive integer, got ${value}.`);
  }
  const count = batch * rows * cols;
  if (x.length < count || out.length < count)
    throw new RangeError(
      `transpose: [${batch}, ${rows}, ${cols}] needs ${count} elements; ${x.label} has ${x.length} and ${out.label} has ${out.length}.`,
    );
  if (x.buffer === out.buffer)
    throw new RangeError(
      `transpose: ${out.label} and ${x.label} share a buffer; WebGPU cannot bind one buffer as both input and output of a dispatch, so give the output its own buffer.`,
    );
  const kernel = gpu.kernel({
    label: 'transpose',
    code: transposeModule,
    entryPoint: 'transpose',
    layout: TransposeLayout,
  });
  return gpu.prepare({
    kernel,
    buffers: [out, x],
    params: TransposeParams.pack({ rows, cols }),
    workgroups: [Math.ceil(cols / TILE), Math.ceil(rows / TILE), batch],
  });
}

export interface ImageShape {
  n: number;
  c: number;
  h: number;
  w: number;
}

/** [N, C, H, W] → [N, H, W, C]. */
export function nchwToNhwc(
  gpu: Gpu,
  options: { out: GpuTensor; x: GpuTensor } & ImageShape,
): PreparedDispatch {
  const { out, x, n, c, h, w } = options;
  return transpose2d(gpu, { out, x, rows: c, cols: h * w, batch: n });
}

/** [N, H, W, C] → [N, C, H, W]. */
export function nhwcToNchw(
  gpu: Gpu,
  options: { out: GpuTensor; x: GpuTensor } & ImageShape,
): PreparedDispatch {
  const { out, x, n, c, h, w } = options;
  return transpose2d(gpu, { out, x, rows: h * w, cols: c, batch: n });
}
