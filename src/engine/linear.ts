/**
 * Per-row layers on rows [R, C] (compacted active rows or dense pixels): linear layers (weight [in, out],
 * through the GEMM in ./matmul) and ConvNeXt's layer-scale γ fused with the residual add. GELU and ReLU are
 * the elementwise kernels of ./eltwise; on active rows nothing needs re-masking (masked sites have no row).
 *
 * Accumulation: y, dx written; dWeight, dBias, dGamma accumulated (+=).
 */
import source from '../../shaders/sparse_pointwise.wgsl?raw';
import {
  type Encodable,
  type Gpu,
  type GpuTensor,
  grid1d,
  Params,
  type PreparedDispatch,
  PreparedSequence,
} from '../gpu/runtime';
import { matmul, matmulSplitK } from './matmul';
import { columnSum } from './reduce';

function expectLength(label: string, name: string, t: GpuTensor, n: number): void {
  if (t.length !== n) throw new RangeError(`${label}: ${name} has ${t.length} elements, expected ${n}.`);
}

export interface LinearShape {
  rows: number;
  inC: number;
  outC: number;
}

/** y = x · W (+ bias): x [R, in], W [in, out]. */
export function linearForward(
  gpu: Gpu,
  a: LinearShape & { y: GpuTensor; x: GpuTensor; weight: GpuTensor; bias?: GpuTensor },
): PreparedDispatch {
  const label = 'linearForward';
  expectLength(label, 'x', a.x, a.rows * a.inC);
  expectLength(label, 'y', a.y, a.rows * a.outC);
  expectLength(label, 'weight', a.weight, a.inC * a.outC);
  if (a.bias) expectLength(label, 'bias', a.bias, a.outC);
  return matmul(gpu, { out: a.y, a: a.x, b: a.weight, M: a.rows, N: a.outC, K: a.inC, bias: a.bias });
}

/** dx = dy · Wᵀ (omit dx for a first layer), dW += xᵀ · dy (split-K over rows), dBias += Σ_rows dy. */
export function linearBackward(
  gpu: Gpu,
  a: LinearShape & {
    dx?: GpuTensor;
    dy: GpuTensor;
    x: GpuTensor;
    weight: GpuTensor;
    dWeight: GpuTensor;
    dBias?: GpuTensor;
  },
): PreparedSequence {
  const label = 'linearBackward';
  expectLength(label, 'dy', a.dy, a.rows * a.outC);
  expectLength(label, 'x', a.x, a.rows * a.inC);
  expectLength(label, 'weight', a.weight, a.inC * a.outC);
  expectLength(label, 'dWeight', a.dWeight, a.inC * a.outC);
  const parts: Encodable[] = [];
  if (a.dx) {
    expectLength(label, 'dx', a.dx, a.rows * a.inC);
    parts.push(
      matmul(gpu, { out: a.dx, a: a.dy, b: a.weight, M: a.rows, N: a.inC, K: a.outC, transB: true }),
    );
  }
  parts.push(
    matmulSplitK(gpu, {
      out: a.dWeight,
      a: a.x,
      b: a.dy,
      M: a.inC,
      N: a.outC,
      K: a.rows,
      transA: true,
      accumulate: true,
    }),
  );
  if (a.dBias) {
    expectLength(label, 'dBias', a.dBias, a.outC);
    parts.push(columnSum(gpu, { out: a.dBias, x: a.dy, rows: a.rows, cols: a.outC, accumulate: true }));
  }
  return new PreparedSequence(label, parts, [], gpu);
}

const ROWS_PER_CHUNK = 256;

function scaleParams(rows: number, channels: number, hasResidual: boolean): Params {
  return new Params()
    .u32(rows)
    .u32(channels)
    .u32(ROWS_PER_CHUNK)
    .u32(Math.ceil(rows / ROWS_PER_CHUNK))
    .u32(hasResidual ? 1 : 0);
}

function kernel(gpu: Gpu, entryPoint: string) {
  return gpu.kernel({ label: `sparse_pointwise.${entryPoint}`, code: source, entryPoint });
}

/** y = residual + γ ⊙ x (ConvNeXt layer scale then the block's residual add); residual optional. */
export function layerScaleForward(
  gpu: Gpu,
  a: { rows: number; channels: number; y: GpuTensor; x: GpuTensor; gamma: GpuTensor; residual?: GpuTensor },
): PreparedDispatch {
  const label = 'layerScaleForward';
  const n = a.rows * a.channels;
  expectLength(label, 'y', a.y, n);
  expectLength(label, 'x', a.x, n);
  expectLength(label, 'gamma', a.gamma, a.channels);
  if (a.residual) expectLength(label, 'residual', a.residual, n);
  return gpu.prepare({
    kernel: kernel(gpu, 'layer_scale'),
    buffers: [a.y, a.x, a.gamma, a.residual ?? a.x],
    params: scaleParams(a.rows, a.channels, !!a.residual),
    workgroups: grid1d(Math.ceil(n / 256)),
  });
}

/** dx = γ ⊙ dy (written), dγ += Σ_rows x ⊙ dy. The residual's gradient is dy itself. */
export function layerScaleBackward(
  gpu: Gpu,
  a: {
    rows: number;
    channels: number;
    dx: GpuTensor;
    dy: GpuTensor;
    x: GpuTensor;
    gamma: GpuTensor;
    dGamma: GpuTensor;
  },
): PreparedSequence {
  const label = 'layerScaleBackward';
  const n = a.rows * a.channels;
  for (const [name, t] of [
    ['dx', a.dx],
    ['dy', a.dy],
    ['x', a.x],
  ] as const)
    expectLength(label, name, t, n);
  expectLength(label, 'gamma', a.gamma, a.channels);
  expectLength(label, 'dGamma', a.dGamma, a.channels);
  const chunks = Math.ceil(a.rows / ROWS_PER_CHUNK);
  const partials = gpu.tensor('layer_scale.partials', [chunks, a.channels]);
  const p = scaleParams(a.rows, a.channels, false);
  const dispatches = [
    gpu.prepare({
      kernel: kernel(gpu, 'layer_scale_backward_input'),
      buffers: [a.dx, a.dy, a.gamma],
      params: p,
      workgroups: grid1d(Math.ceil(n / 256)),
    }),
    gpu.prepare({
      kernel: kernel(gpu, 'layer_scale_grad_partial'),
      buffers: [partials, a.x, a.dy],
      params: p,
      workgroups: [Math.ceil(a.channels / 64), chunks],
    }),
    gpu.prepare({
      kernel: kernel(gpu, 'layer_scale_grad_reduce'),
      buffers: [a.dGamma, partials],
      params: p,
      workgroups: [Math.ceil(a.channels / 64)],
    }),
  ];
  return new PreparedSequence(label, dispatches, [partials], gpu);
}
