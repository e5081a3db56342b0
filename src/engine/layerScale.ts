/**
 * Layer scale (ConvNeXt's γ after the second pointwise layer, y = γ[c] · z[r, c]) as an epilogue: the forward
 * is the pointwise GEMM's store (`matmul(..., { layerScale })`, shaders/matmul_layer_scale.wgsl), which also
 * keeps z; the backward is one pass over dy (shaders/layer_scale.wgsl) writing the GEMM's output gradient
 * dz = γ · dy and per-block partials of dγ = Σ_r z · dy, then the fixed-order split-K reduce. Float64 twin:
 * src/reference/layer-scale.ts.
 */
import layerScaleSource from '../../shaders/layer_scale.wgsl?raw';
import { bindingLayout, type Gpu, type GpuTensor, PreparedSequence } from '../gpu/runtime';
import { composeShader, uniformStruct } from '../gpu/shader';
import { reduceSlices } from './gemm';

const LayerScaleParams = uniformStruct('LayerScaleParams', {
  rows: 'u32',
  cols: 'u32',
  rowsPerBlock: 'u32',
});

const LayerScaleLayout = bindingLayout('layer_scale', {
  dz: 'write', // [rows, cols] γ · dy: the scaled layer's output gradient
  partials: 'write', // [blocks, cols] Σ z · dy per block of rows
  dy: 'read', // [rows, cols] the gradient of γ · z
  preScale: 'read', // [rows, cols] z, kept by the forward epilogue
  gamma: 'read', // [cols]
});

const layerScaleModule = composeShader(LayerScaleParams.wgsl, LayerScaleLayout.wgsl, layerScaleSource);

/** Columns per workgroup (COLUMNS_PER_WORKGROUP in shaders/layer_scale.wgsl). */
const COLUMNS_PER_WORKGROUP = 64;
/** Up to this many row blocks (dγ partials), each of at least 16 rows. */
const MAX_BLOCKS = 256;

export interface LayerScaleBackwardArgs {
  rows: number;
  cols: number;
  /** Written: γ · dy. */
  dz: GpuTensor;
  dy: GpuTensor;
  preScale: GpuTensor;
  gamma: GpuTensor;
  /** Accumulated: += Σ_r z · dy. */
  dGamma: GpuTensor;
}

/** dz = γ · dy (written) and dγ += Σ_r z · dy (rows summed in a fixed order). Two dispatches. */
export function layerScaleBackward(gpu: Gpu, a: LayerScaleBackwardArgs): PreparedSequence {
  const label = 'layerScaleBackward';
  const { rows, cols } = a;
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(cols) || cols < 1)
    throw new RangeError(`${label}: rows and cols must be positive integers, got ${rows} and ${cols}.`);
  for (const [what, t, count] of [
    ['dz', a.dz, rows * cols],
    ['dy', a.dy, rows * cols],
    ['preScale', a.preScale, rows * cols],
    ['gamma', a.gamma, cols],
    ['dGamma', a.dGamma, cols],
  ] as const) {
    if (t.length !== count)
      throw new RangeError(`${label}: ${what} ${t.label} has ${t.length} elements, expected ${count}.`);
  }
  const rowsPerBlock = Math.max(16, Math.ceil(rows / MAX_BLOCKS));
  const blocks = Math.ceil(rows / rowsPerBlock);
  const partials = gpu.tensor(`${label}.partials`, [blocks, cols]);
  const pass = gpu.prepare({
    kernel: gpu.kernel({
      label: 'layer_scale.backward',
      code: layerScaleModule,
      entryPoint: 'layer_scale_backward',
      layout: LayerScaleLayout,
    }),
    buffers: [a.dz, partials, a.dy, a.preScale, a.gamma],
    params: LayerScaleParams.pack({ rows, cols, rowsPerBlock }),
    workgroups: [Math.ceil(cols / COLUMNS_PER_WORKGROUP), blocks, 1],
  });
  const reduce = reduceSlices(gpu, a.dGamma, partials, cols, blocks, true);
  return new PreparedSequence(label, [pass, reduce], [partials], gpu);
}
