/**
 * LayerNorm over the channels of each row [R, C] (ConvNeXt channels-last LN, eps 1e-6 by default). On
 * compacted active rows it is SparK's sparse LN (masked sites have no row and stay 0); on NHWC pixels it is
 * the dense LN. Kernels: shaders/layernorm.wgsl.
 */

import layernormFile from '../../shaders/layernorm.wgsl?raw';
import gridSource from '../../shaders/lib/grid.wgsl?raw';
import reduceLibSource from '../../shaders/lib/reduce.wgsl?raw';
import {
  bindingLayout,
  type Gpu,
  type GpuTensor,
  grid1d,
  type Params,
  PreparedSequence,
} from '../gpu/runtime';
import { composeShader, uniformStruct } from '../gpu/shader';

/** The parameter-gradient partials walk `chunks` chunks of `rowsPerChunk` rows. */
const LayerNormParams = uniformStruct('LayerNormParams', {
  rows: 'u32',
  channels: 'u32',
  rowsPerChunk: 'u32',
  chunks: 'u32',
  eps: 'f32',
});

/** layernorm.wgsl composed with its uniforms and the grid indexing and workgroup reduction libraries. */
const source = composeShader(LayerNormParams.wgsl, gridSource, reduceLibSource, layernormFile);

const ROWS_PER_CHUNK = 256;

export interface LayerNormShape {
  rows: number;
  channels: number;
  eps?: number;
}

function params(s: LayerNormShape): Params {
  return LayerNormParams.pack({
    rows: s.rows,
    channels: s.channels,
    rowsPerChunk: ROWS_PER_CHUNK,
    chunks: Math.ceil(s.rows / ROWS_PER_CHUNK),
    eps: s.eps ?? 1e-6,
  });
}

function check(label: string, s: LayerNormShape, tensors: Record<string, [GpuTensor, number]>): void {
  if (!Number.isInteger(s.rows) || s.rows < 1 || !Number.isInteger(s.channels) || s.channels < 1)
    throw new RangeError(
      `${label}: rows and channels must be positive integers, got ${s.rows}×${s.channels}.`,
    );
  for (const [name, [t, n]] of Object.entries(tensors))
    if (t.length !== n) throw new RangeError(`${label}: ${name} has ${t.length} elements, expected ${n}.`);
}

/** One layout per entry point of shaders/layernorm.wgsl (their outputs differ). */
const LAYOUTS = {
  forward: bindingLayout('layernorm.forward', {
    y: 'write', // [R, C]
    saved: 'write', // [R, 2] mean, 1/σ per row, for the backward
    x: 'read', // [R, C]
    gamma: 'read', // [C]
    beta: 'read', // [C]
  }),
  backward_input: bindingLayout('layernorm.backward_input', {
    dx: 'write', // [R, C] written
    dy: 'read', // [R, C]
    x: 'read', // [R, C]
    saved: 'read', // [R, 2]
    gamma: 'read', // [C]
  }),
  param_grad_partial: bindingLayout('layernorm.param_grad_partial', {
    partials: 'write', // [chunks, 2, C] Σ dy·x̂ and Σ dy per chunk of rows
    dy: 'read', // [R, C]
    x: 'read', // [R, C]
    saved: 'read', // [R, 2]
  }),
  param_grad_reduce: bindingLayout('layernorm.param_grad_reduce', {
    dGamma: 'write', // [C] accumulated
    dBeta: 'write', // [C] accumulated
    partials: 'read', // [chunks, 2, C]
  }),
};

function kernel(gpu: Gpu, entryPoint: keyof typeof LAYOUTS) {
  return gpu.kernel({
    label: `layernorm.${entryPoint}`,
    code: source,
    entryPoint,
    layout: LAYOUTS[entryPoint],
  });
}

/** [R, 2] scratch the forward fills for the backward: per-row mean and 1/σ. */
export function layerNormSaved(gpu: Gpu, rows: number, label = 'ln.saved'): GpuTensor {
  return gpu.tensor(label, [rows, 2]);
}

export function layerNormForward(
  gpu: Gpu,
  a: LayerNormShape & { y: GpuTensor; x: GpuTensor; gamma: GpuTensor; beta: GpuTensor; saved: GpuTensor },
): PreparedSequence {
  const n = a.rows * a.channels;
  check('layerNormForward', a, {
    y: [a.y, n],
    x: [a.x, n],
    gamma: [a.gamma, a.channels],
    beta: [a.beta, a.channels],
    saved: [a.saved, 2 * a.rows],
  });
  const d = gpu.prepare({
    kernel: kernel(gpu, 'forward'),
    buffers: [a.y, a.saved, a.x, a.gamma, a.beta],
    params: params(a),
    workgroups: grid1d(a.rows),
  });
  return new PreparedSequence('layerNormForward', [d], [], gpu);
}

/** dx written; dγ, dβ accumulated (+=) through row-chunk partials and a fixed-order reduce. */
export function layerNormBackward(
  gpu: Gpu,
  a: LayerNormShape & {
    dx: GpuTensor;
    dy: GpuTensor;
    x: GpuTensor;
    gamma: GpuTensor;
    saved: GpuTensor;
    dGamma: GpuTensor;
    dBeta: GpuTensor;
  },
): PreparedSequence {
  const n = a.rows * a.channels;
  check('layerNormBackward', a, {
    dx: [a.dx, n],
    dy: [a.dy, n],
    x: [a.x, n],
    gamma: [a.gamma, a.channels],
    saved: [a.saved, 2 * a.rows],
    dGamma: [a.dGamma, a.channels],
    dBeta: [a.dBeta, a.channels],
  });
  const chunks = Math.ceil(a.rows / ROWS_PER_CHUNK);
  const partials = gpu.tensor('ln.partials', [chunks, a.channels, 2]);
  const p = params(a);
  const dispatches = [
    gpu.prepare({
      kernel: kernel(gpu, 'backward_input'),
      buffers: [a.dx, a.dy, a.x, a.saved, a.gamma],
      params: p,
      workgroups: grid1d(a.rows),
    }),
    gpu.prepare({
      kernel: kernel(gpu, 'param_grad_partial'),
      buffers: [partials, a.dy, a.x, a.saved],
      params: p,
      workgroups: [Math.ceil(a.channels / 64), chunks],
    }),
    gpu.prepare({
      kernel: kernel(gpu, 'param_grad_reduce'),
      buffers: [a.dGamma, a.dBeta, partials],
      params: p,
      workgroups: [Math.ceil(a.channels / 64)],
    }),
  ];
  return new PreparedSequence('layerNormBackward', dispatches, [partials], gpu);
}
