/**
 * BatchNorm over rows [R, C] (channel fastest): sparse BN on compacted rows [N_active, C], dense BN on NHWC
 * (R = N·H·W, the decoder), and the dense zero-masked baseline (R = N·H·W with a per-row 0/1 mask: statistics
 * over visible rows only, masked rows output 0). Training mode normalises with the biased variance and updates
 * the running statistics with the unbiased one (momentum 0.1, PyTorch's rule); eval mode uses the running
 * statistics. Kernels: shaders/batchnorm.wgsl.
 */

import batchnormFile from '../../shaders/batchnorm.wgsl?raw';
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

/** Statistics walk `chunks` chunks of `rowsPerChunk` rows; hasMask says whether a row mask is bound. */
const BatchNormParams = uniformStruct('BatchNormParams', {
  rows: 'u32',
  channels: 'u32',
  rowsPerChunk: 'u32',
  chunks: 'u32',
  eps: 'f32',
  momentum: 'f32',
  hasMask: 'u32',
});

/** batchnorm.wgsl composed with its uniforms and the grid indexing and workgroup reduction libraries. */
const source = composeShader(BatchNormParams.wgsl, gridSource, reduceLibSource, batchnormFile);

export interface BatchNormShape {
  rows: number;
  channels: number;
  /** [rows] of 0/1 floats; rows with 0 are left out of the statistics and output 0. */
  rowMask?: GpuTensor;
  eps?: number;
  momentum?: number;
}

export interface BatchNormForwardArgs extends BatchNormShape {
  y: GpuTensor;
  x: GpuTensor;
  gamma: GpuTensor;
  beta: GpuTensor;
  /** Running statistics (views of the non-grad arena); updated in place in training mode. */
  runningMean: GpuTensor;
  runningVar: GpuTensor;
  /** [3·C] scratch kept for the backward: mean, 1/sqrt(var+eps), count. Make it with batchNormSaved(). */
  saved: GpuTensor;
}

export interface BatchNormBackwardArgs extends BatchNormShape {
  /** Written (=) with the input gradient; 0 on masked rows. */
  dx: GpuTensor;
  dy: GpuTensor;
  x: GpuTensor;
  gamma: GpuTensor;
  /** The `saved` tensor of the training forward that produced this step's output. */
  saved: GpuTensor;
  /** Accumulated (+=) into the grad arena. */
  dGamma: GpuTensor;
  dBeta: GpuTensor;
}

/** Rows per statistics chunk: 4 row lanes × 64 rows each, enough work per thread to hide the merge. */
const ROWS_PER_CHUNK = 256;
const CHANNEL_BLOCK = 64;

function check(label: string, shape: BatchNormShape, tensors: Record<string, [GpuTensor, number]>): void {
  const { rows, channels } = shape;
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(channels) || channels < 1)
    throw new RangeError(`${label}: rows and channels must be positive integers, got ${rows}×${channels}.`);
  for (const [name, [t, n]] of Object.entries(tensors)) {
    if (t.length !== n) throw new RangeError(`${label}: ${name} has ${t.length} elements, expected ${n}.`);
  }
  if (shape.rowMask && shape.rowMask.length !== rows)
    throw new RangeError(`${label}: the row mask has ${shape.rowMask.length} values for ${rows} rows.`);
}

function params(shape: BatchNormShape): Params {
  return BatchNormParams.pack({
    rows: shape.rows,
    channels: shape.channels,
    rowsPerChunk: ROWS_PER_CHUNK,
    chunks: Math.ceil(shape.rows / ROWS_PER_CHUNK),
    eps: shape.eps ?? 1e-5,
    momentum: shape.momentum ?? 0.1,
    hasMask: shape.rowMask !== undefined,
  });
}

/**
 * One layout per entry point of shaders/batchnorm.wgsl (their outputs differ). `mask` is the [R] 0/1 row
 * mask, or the zeros buffer when there is none (has_mask = 0).
 */
const LAYOUTS = {
  stats_partial: bindingLayout('batchnorm.stats_partial', {
    partials: 'write', // [chunks, C, 3] Welford (count, mean, M2) per chunk of rows
    x: 'read', // [R, C]
    mask: 'read',
  }),
  stats_finalize: bindingLayout('batchnorm.stats_finalize', {
    saved: 'write', // [3, C] mean, 1/σ, count
    runningMean: 'write', // [C] updated in place
    runningVar: 'write', // [C] updated in place
    partials: 'read', // [chunks, C, 3]
  }),
  normalize: bindingLayout('batchnorm.normalize', {
    y: 'write', // [R, C]
    x: 'read', // [R, C]
    saved: 'read', // [3, C]
    gamma: 'read', // [C]
    beta: 'read', // [C]
    mask: 'read',
  }),
  normalize_eval: bindingLayout('batchnorm.normalize_eval', {
    y: 'write', // [R, C]
    x: 'read', // [R, C]
    runningMean: 'read', // [C]
    runningVar: 'read', // [C]
    gamma: 'read', // [C]
    beta: 'read', // [C]
    mask: 'read',
  }),
  grad_partial: bindingLayout('batchnorm.grad_partial', {
    partials: 'write', // [chunks, C, 2] Σ dy and Σ dy·(x − μ) per chunk of rows
    dy: 'read', // [R, C]
    x: 'read', // [R, C]
    saved: 'read', // [3, C]
    mask: 'read',
  }),
  grad_finalize: bindingLayout('batchnorm.grad_finalize', {
    sums: 'write', // [2, C] the totals, for grad_input
    dGamma: 'write', // [C] accumulated
    dBeta: 'write', // [C] accumulated
    partials: 'read', // [chunks, C, 2]
    saved: 'read', // [3, C]
  }),
  grad_input: bindingLayout('batchnorm.grad_input', {
    dx: 'write', // [R, C] written
    dy: 'read', // [R, C]
    x: 'read', // [R, C]
    saved: 'read', // [3, C]
    sums: 'read', // [2, C]
    gamma: 'read', // [C]
    mask: 'read',
  }),
};

function kernel(gpu: Gpu, entryPoint: keyof typeof LAYOUTS) {
  return gpu.kernel({
    label: `batchnorm.${entryPoint}`,
    code: source,
    entryPoint,
    layout: LAYOUTS[entryPoint],
  });
}

/** The per-layer tensor the training forward fills for the backward ([3·C]). */
export function batchNormSaved(gpu: Gpu, channels: number, label = 'bn.saved'): GpuTensor {
  return gpu.tensor(label, [3, channels]);
}

/**
 * Training forward: statistics over the (unmasked) rows, running-stat update, normalisation.
 * Needs at least 2 counted rows (PyTorch refuses 1: the unbiased variance is undefined).
 */
export function batchNormTrain(gpu: Gpu, args: BatchNormForwardArgs): PreparedSequence {
  const { rows, channels } = args;
  check('batchNormTrain', args, {
    y: [args.y, rows * channels],
    x: [args.x, rows * channels],
    gamma: [args.gamma, channels],
    beta: [args.beta, channels],
    runningMean: [args.runningMean, channels],
    runningVar: [args.runningVar, channels],
    saved: [args.saved, 3 * channels],
  });
  if (rows < 2)
    throw new RangeError('batchNormTrain: training BatchNorm needs more than one value per channel.');
  const chunks = Math.ceil(rows / ROWS_PER_CHUNK);
  const partials = gpu.tensor('bn.partials', [chunks, channels, 3]);
  const mask = args.rowMask ?? gpu.absentInput;
  const p = params(args);
  const dispatches = [
    gpu.prepare({
      kernel: kernel(gpu, 'stats_partial'),
      buffers: [partials, args.x, mask],
      params: p,
      workgroups: [Math.ceil(channels / CHANNEL_BLOCK), chunks],
    }),
    gpu.prepare({
      kernel: kernel(gpu, 'stats_finalize'),
      buffers: [args.saved, args.runningMean, args.runningVar, partials],
      params: p,
      workgroups: [Math.ceil(channels / 64)],
    }),
    gpu.prepare({
      kernel: kernel(gpu, 'normalize'),
      buffers: [args.y, args.x, args.saved, args.gamma, args.beta, mask],
      params: p,
      workgroups: grid1d(Math.ceil((rows * channels) / 256)),
    }),
  ];
  return new PreparedSequence('batchNormTrain', dispatches, [partials], gpu);
}

/** Eval forward: normalises with the running statistics; masked rows output 0. */
export function batchNormEval(
  gpu: Gpu,
  args: Omit<BatchNormForwardArgs, 'saved' | 'momentum'>,
): PreparedSequence {
  const { rows, channels } = args;
  check('batchNormEval', args, {
    y: [args.y, rows * channels],
    x: [args.x, rows * channels],
    gamma: [args.gamma, channels],
    beta: [args.beta, channels],
    runningMean: [args.runningMean, channels],
    runningVar: [args.runningVar, channels],
  });
  const dispatch = gpu.prepare({
    kernel: kernel(gpu, 'normalize_eval'),
    buffers: [
      args.y,
      args.x,
      args.runningMean,
      args.runningVar,
      args.gamma,
      args.beta,
      args.rowMask ?? gpu.absentInput,
    ],
    params: params(args),
    workgroups: grid1d(Math.ceil((rows * channels) / 256)),
  });
  return new PreparedSequence('batchNormEval', [dispatch], [], gpu);
}

/** Training backward: dx written, dγ and dβ accumulated; every sum over the counted rows. */
export function batchNormBackward(gpu: Gpu, args: BatchNormBackwardArgs): PreparedSequence {
  const { rows, channels } = args;
  check('batchNormBackward', args, {
    dx: [args.dx, rows * channels],
    dy: [args.dy, rows * channels],
    x: [args.x, rows * channels],
    gamma: [args.gamma, channels],
    saved: [args.saved, 3 * channels],
    dGamma: [args.dGamma, channels],
    dBeta: [args.dBeta, channels],
  });
  const chunks = Math.ceil(rows / ROWS_PER_CHUNK);
  const partials = gpu.tensor('bn.grad_partials', [chunks, channels, 2]);
  const sums = gpu.tensor('bn.grad_sums', [2, channels]);
  const mask = args.rowMask ?? gpu.absentInput;
  const p = params(args);
  const dispatches = [
    gpu.prepare({
      kernel: kernel(gpu, 'grad_partial'),
      buffers: [partials, args.dy, args.x, args.saved, mask],
      params: p,
      workgroups: [Math.ceil(channels / CHANNEL_BLOCK), chunks],
    }),
    gpu.prepare({
      kernel: kernel(gpu, 'grad_finalize'),
      buffers: [sums, args.dGamma, args.dBeta, partials, args.saved],
      params: p,
      workgroups: [Math.ceil(channels / 64)],
    }),
    gpu.prepare({
      kernel: kernel(gpu, 'grad_input'),
      buffers: [args.dx, args.dy, args.x, args.saved, sums, args.gamma, mask],
      params: p,
      workgroups: grid1d(Math.ceil((rows * channels) / 256)),
    }),
  ];
  return new PreparedSequence('batchNormBackward', dispatches, [partials, sums], gpu);
}
