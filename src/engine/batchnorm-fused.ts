/**
 * BatchNorm over rows [R, C] (channel fastest), the only BatchNorm of the engine: y = act(BN(x) + residual)
 * in one elementwise pass, and its backward reading dy through the gate of the activation that follows (its
 * output), with dx written or accumulated. Plain BN is act 'none' without a residual. Training mode normalises
 * with the biased variance and updates the running statistics with the unbiased one (PyTorch's rule); eval
 * mode uses the running statistics. Folding the activation, residual add, activation backward and fan-in add
 * in removes their dispatches, and layers of up to SINGLE_PASS_MAX_ROWS rows take the statistics and their
 * finalisation in the normalising pass (one dispatch each way).
 * An optional row mask (the dense-masked encoder's BN) keeps rows out of the statistics and zeroes them; it
 * runs the chunked schedule. Kernels: shaders/batchnorm_fused.wgsl; twin:
 * src/reference/batchnorm-fused.ts.
 */
import fusedFile from '../../shaders/batchnorm_fused.wgsl?raw';
import gridSource from '../../shaders/lib/grid.wgsl?raw';
import { bindingLayout, type Gpu, type GpuTensor, grid1d, PreparedSequence } from '../gpu/runtime';
import { familyModule, uniformStruct } from '../gpu/shader';

export type FusedActivation = 'none' | 'relu' | 'relu6';
const ACT_CODE: Record<FusedActivation, number> = { none: 0, relu: 1, relu6: 2 };

/**
 * cb channels × lanes row lanes per workgroup (cb · lanes = 256); rowsPerChunk / chunks for the chunked
 * schedule; act the forward activation, gateAct the one whose output gates dy in the backward; hasMask whether
 * a row mask is bound (chunked schedule only).
 */
const FusedBatchNormParams = uniformStruct(
  'FusedBatchNormParams',
  {
    rows: 'u32',
    channels: 'u32',
    cb: 'u32',
    lanes: 'u32',
    rowsPerChunk: 'u32',
    chunks: 'u32',
    act: 'u32',
    gateAct: 'u32',
    hasResidual: 'u32',
    accumulate: 'u32',
    hasMask: 'u32',
    eps: 'f32',
    momentum: 'f32',
  },
  {
    act: 0,
    gateAct: 0,
    hasResidual: false,
    accumulate: false,
    hasMask: false,
    eps: 1e-5,
    momentum: 0.1,
  },
);

/**
 * One layout per entry point (their outputs differ); an absent residual, gate or row mask binds the zeros
 * buffer. `mask` is the [R] 0/1 row mask (has_mask), on the chunked schedule's entry points only.
 */
const LAYOUTS = {
  single_forward: bindingLayout(
    'batchnorm_fused.single_forward',
    {
      y: 'write', // [R, C] act(BN(x) + residual)
      saved: 'write', // [3, C] mean, 1/σ, count for the backward
      runningMean: 'write', // [C] updated in place
      runningVar: 'write', // [C] updated in place
      x: 'read', // [R, C]
      gamma: 'read', // [C]
      beta: 'read', // [C]
      residual: 'read', // [R, C] added before the activation (has_residual)
    },
    { prefix: 'sf_' },
  ),
  single_backward: bindingLayout(
    'batchnorm_fused.single_backward',
    {
      dx: 'write', // [R, C] written or accumulated
      dGamma: 'write', // [C] accumulated
      dBeta: 'write', // [C] accumulated
      dy: 'read', // [R, C] the gradient of y (or of the gate's output when gate_act ≠ 0)
      x: 'read', // [R, C]
      saved: 'read', // [3, C]
      gamma: 'read', // [C]
      gate: 'read', // [R, C] the output of the activation dy passes through (gate_act ≠ 0)
    },
    { prefix: 'sb_' },
  ),
  stats_partial: bindingLayout(
    'batchnorm_fused.stats_partial',
    {
      partials: 'write', // [chunks, C, 3] Welford (count, mean, M2) per chunk of rows
      x: 'read', // [R, C]
      mask: 'read', // [R] (has_mask)
    },
    { prefix: 'sp_' },
  ),
  stats_finalize: bindingLayout(
    'batchnorm_fused.stats_finalize',
    {
      saved: 'write', // [3, C]
      runningMean: 'write', // [C]
      runningVar: 'write', // [C]
      partials: 'read', // [chunks, C, 3]
    },
    { prefix: 'sfin_' },
  ),
  normalize: bindingLayout(
    'batchnorm_fused.normalize',
    {
      y: 'write', // [R, C]
      x: 'read', // [R, C]
      saved: 'read', // [3, C]
      gamma: 'read', // [C]
      beta: 'read', // [C]
      residual: 'read', // [R, C] (has_residual)
      mask: 'read', // [R] (has_mask)
    },
    { prefix: 'nm_' },
  ),
  normalize_eval: bindingLayout(
    'batchnorm_fused.normalize_eval',
    {
      y: 'write', // [R, C]
      x: 'read', // [R, C]
      runningMean: 'read', // [C]
      runningVar: 'read', // [C]
      gamma: 'read', // [C]
      beta: 'read', // [C]
      residual: 'read', // [R, C] (has_residual)
      mask: 'read', // [R] (has_mask)
    },
    { prefix: 'ev_' },
  ),
  grad_partial: bindingLayout(
    'batchnorm_fused.grad_partial',
    {
      partials: 'write', // [chunks, C, 2] Σg and Σg·(x − μ) per chunk of rows
      dy: 'read', // [R, C]
      x: 'read', // [R, C]
      saved: 'read', // [3, C]
      gate: 'read', // [R, C] (gate_act ≠ 0)
      mask: 'read', // [R] (has_mask)
    },
    { prefix: 'gp_' },
  ),
  grad_finalize: bindingLayout(
    'batchnorm_fused.grad_finalize',
    {
      sums: 'write', // [2, C] Σg / n and Σg·x̂ / n, for grad_input
      dGamma: 'write', // [C] accumulated
      dBeta: 'write', // [C] accumulated
      partials: 'read', // [chunks, C, 2]
      saved: 'read', // [3, C]
    },
    { prefix: 'gf_' },
  ),
  grad_input: bindingLayout(
    'batchnorm_fused.grad_input',
    {
      dx: 'write', // [R, C] written or accumulated
      dy: 'read', // [R, C]
      x: 'read', // [R, C]
      saved: 'read', // [3, C]
      sums: 'read', // [2, C]
      gamma: 'read', // [C]
      gate: 'read', // [R, C] (gate_act ≠ 0)
      mask: 'read', // [R] (has_mask)
    },
    { prefix: 'gi_' },
  ),
};

const source = familyModule(FusedBatchNormParams, LAYOUTS, gridSource, fusedFile);

function kernel(gpu: Gpu, entryPoint: keyof typeof LAYOUTS) {
  return gpu.kernel({
    label: `batchnorm_fused.${entryPoint}`,
    code: source,
    entryPoint,
    layout: LAYOUTS[entryPoint],
  });
}

/**
 * Layers of at most this many rows run the single-pass schedule: one workgroup per block of channels walks
 * every row (a 32×32 map at batch 8 is 8192 rows). Larger layers split the rows over chunks.
 */
export const SINGLE_PASS_MAX_ROWS = 8192;
/** Rows per chunk of the chunked schedule's partial sums. */
const ROWS_PER_CHUNK = 256;

export interface FusedBatchNormShape {
  rows: number;
  channels: number;
  /**
   * [rows] of 0/1 floats: rows with 0 stay out of the statistics and the gradient sums and come out as exactly
   * 0 in y and dx (dx left as it is when accumulating). Forces the chunked schedule.
   */
  rowMask?: GpuTensor;
  eps?: number;
  momentum?: number;
  /** Overrides the schedule chosen from the row count (tests exercise both); false when there is a row mask. */
  singlePass?: boolean;
}

export interface FusedBatchNormForwardArgs extends FusedBatchNormShape {
  /** [R, C] act(BN(x) + residual). */
  y: GpuTensor;
  x: GpuTensor;
  gamma: GpuTensor;
  beta: GpuTensor;
  /** [R, C] added after the normalisation, before the activation (a ResNet block's shortcut). */
  residual?: GpuTensor;
  act?: FusedActivation;
  runningMean: GpuTensor;
  runningVar: GpuTensor;
  /** [3·C] mean, 1/σ, count for the backward (training forward only). */
  saved: GpuTensor;
}

export interface FusedBatchNormBackwardArgs extends FusedBatchNormShape {
  /** [R, C]: written (=), or accumulated (+=) when `accumulate`. */
  dx: GpuTensor;
  accumulate?: boolean;
  /** [R, C] the gradient arriving at the gate's output (or at y when there is no gate). */
  dy: GpuTensor;
  /**
   * The activation dy passes through before reaching BN(x) (+ residual): its output and kind. The layer's own
   * activation, or a consumer's (a shortcut BN whose sum is activated by the block it feeds).
   */
  gate?: { y: GpuTensor; act: Exclude<FusedActivation, 'none'> };
  x: GpuTensor;
  gamma: GpuTensor;
  saved: GpuTensor;
  /** [C] accumulated (+=). */
  dGamma: GpuTensor;
  dBeta: GpuTensor;
}

interface Schedule {
  single: boolean;
  cb: number;
  lanes: number;
  chunks: number;
}

/** Channels per workgroup: the channel count rounded up to a power of two, at most 64 (the rest are row lanes). */
function schedule(shape: FusedBatchNormShape): Schedule {
  const { rows, channels } = shape;
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(channels) || channels < 1)
    throw new RangeError(
      `Fused BatchNorm: rows and channels must be positive integers, got ${rows}×${channels}.`,
    );
  if (shape.rowMask && shape.rowMask.length !== rows)
    throw new RangeError(
      `Fused BatchNorm: the row mask has ${shape.rowMask.length} values for ${rows} rows.`,
    );
  if (shape.rowMask && shape.singlePass)
    throw new RangeError(
      'Fused BatchNorm: the single-pass schedule has no row mask; leave singlePass unset.',
    );
  let cb = 1;
  while (cb < channels && cb < 64) cb *= 2;
  return {
    single: !shape.rowMask && (shape.singlePass ?? rows <= SINGLE_PASS_MAX_ROWS),
    cb,
    lanes: 256 / cb,
    chunks: Math.ceil(rows / ROWS_PER_CHUNK),
  };
}

function check(label: string, tensors: Record<string, [GpuTensor | undefined, number]>): void {
  for (const [name, [t, n]] of Object.entries(tensors)) {
    if (t && t.length !== n)
      throw new RangeError(`${label}: ${name} has ${t.length} elements, expected ${n}.`);
  }
}

function pack(
  shape: FusedBatchNormShape,
  s: Schedule,
  flags: { act?: number; gateAct?: number; hasResidual?: boolean; accumulate?: boolean },
) {
  return FusedBatchNormParams.pack({
    rows: shape.rows,
    channels: shape.channels,
    cb: s.cb,
    lanes: s.lanes,
    rowsPerChunk: ROWS_PER_CHUNK,
    chunks: s.chunks,
    hasMask: !!shape.rowMask,
    eps: shape.eps ?? 1e-5,
    momentum: shape.momentum ?? 0.1,
    ...flags,
  });
}

function checkForward(
  label: string,
  a: Omit<FusedBatchNormForwardArgs, 'saved'> & { saved?: GpuTensor },
): void {
  const { rows, channels } = a;
  check(label, {
    y: [a.y, rows * channels],
    x: [a.x, rows * channels],
    residual: [a.residual, rows * channels],
    gamma: [a.gamma, channels],
    beta: [a.beta, channels],
    runningMean: [a.runningMean, channels],
    runningVar: [a.runningVar, channels],
    saved: [a.saved, 3 * channels],
  });
}

/** Training forward: batch statistics, running-statistics update, y = act(BN(x) + residual). */
export function fusedBatchNormTrain(gpu: Gpu, a: FusedBatchNormForwardArgs): PreparedSequence {
  checkForward('fusedBatchNormTrain', a);
  if (a.rows < 2)
    throw new RangeError('fusedBatchNormTrain: training BatchNorm needs more than one value per channel.');
  const s = schedule(a);
  const residual = a.residual ?? gpu.absentInput;
  const mask = a.rowMask ?? gpu.absentInput;
  const params = pack(a, s, { act: ACT_CODE[a.act ?? 'none'], hasResidual: !!a.residual });
  const blocks = Math.ceil(a.channels / s.cb);
  if (s.single) {
    const only = gpu.prepare({
      kernel: kernel(gpu, 'single_forward'),
      buffers: [a.y, a.saved, a.runningMean, a.runningVar, a.x, a.gamma, a.beta, residual],
      params,
      workgroups: [blocks],
    });
    return new PreparedSequence('fusedBatchNormTrain', [only], [], gpu);
  }
  const partials = gpu.tensor('bn_fused.partials', [s.chunks, a.channels, 3]);
  const dispatches = [
    gpu.prepare({
      kernel: kernel(gpu, 'stats_partial'),
      buffers: [partials, a.x, mask],
      params,
      workgroups: [blocks, s.chunks],
    }),
    gpu.prepare({
      kernel: kernel(gpu, 'stats_finalize'),
      buffers: [a.saved, a.runningMean, a.runningVar, partials],
      params,
      workgroups: [Math.ceil(a.channels / 64)],
    }),
    gpu.prepare({
      kernel: kernel(gpu, 'normalize'),
      buffers: [a.y, a.x, a.saved, a.gamma, a.beta, residual, mask],
      params,
      workgroups: grid1d(Math.ceil((a.rows * a.channels) / 256)),
    }),
  ];
  return new PreparedSequence('fusedBatchNormTrain', dispatches, [partials], gpu);
}

/** Eval forward: running statistics normalise; y = act(BN(x) + residual). */
export function fusedBatchNormEval(gpu: Gpu, a: Omit<FusedBatchNormForwardArgs, 'saved'>): PreparedSequence {
  checkForward('fusedBatchNormEval', a);
  const s = schedule(a);
  const only = gpu.prepare({
    kernel: kernel(gpu, 'normalize_eval'),
    buffers: [
      a.y,
      a.x,
      a.runningMean,
      a.runningVar,
      a.gamma,
      a.beta,
      a.residual ?? gpu.absentInput,
      a.rowMask ?? gpu.absentInput,
    ],
    params: pack(a, s, { act: ACT_CODE[a.act ?? 'none'], hasResidual: !!a.residual }),
    workgroups: grid1d(Math.ceil((a.rows * a.channels) / 256)),
  });
  return new PreparedSequence('fusedBatchNormEval', [only], [], gpu);
}

/** Training backward: g = dy·act'(gate); dγ += Σg·x̂, dβ += Σg; dx (= or +=) the BN input gradient of g. */
export function fusedBatchNormBackward(gpu: Gpu, a: FusedBatchNormBackwardArgs): PreparedSequence {
  const { rows, channels } = a;
  check('fusedBatchNormBackward', {
    dx: [a.dx, rows * channels],
    dy: [a.dy, rows * channels],
    x: [a.x, rows * channels],
    gate: [a.gate?.y, rows * channels],
    gamma: [a.gamma, channels],
    saved: [a.saved, 3 * channels],
    dGamma: [a.dGamma, channels],
    dBeta: [a.dBeta, channels],
  });
  const s = schedule(a);
  const gate = a.gate?.y ?? gpu.absentInput;
  const mask = a.rowMask ?? gpu.absentInput;
  const params = pack(a, s, { gateAct: a.gate ? ACT_CODE[a.gate.act] : 0, accumulate: !!a.accumulate });
  const blocks = Math.ceil(channels / s.cb);
  if (s.single) {
    const only = gpu.prepare({
      kernel: kernel(gpu, 'single_backward'),
      buffers: [a.dx, a.dGamma, a.dBeta, a.dy, a.x, a.saved, a.gamma, gate],
      params,
      workgroups: [blocks],
    });
    return new PreparedSequence('fusedBatchNormBackward', [only], [], gpu);
  }
  const partials = gpu.tensor('bn_fused.grad_partials', [s.chunks, channels, 2]);
  const sums = gpu.tensor('bn_fused.grad_sums', [2, channels]);
  const dispatches = [
    gpu.prepare({
      kernel: kernel(gpu, 'grad_partial'),
      buffers: [partials, a.dy, a.x, a.saved, gate, mask],
      params,
      workgroups: [blocks, s.chunks],
    }),
    gpu.prepare({
      kernel: kernel(gpu, 'grad_finalize'),
      buffers: [sums, a.dGamma, a.dBeta, partials, a.saved],
      params,
      workgroups: [Math.ceil(channels / 64)],
    }),
    gpu.prepare({
      kernel: kernel(gpu, 'grad_input'),
      buffers: [a.dx, a.dy, a.x, a.saved, sums, a.gamma, gate, mask],
      params,
      workgroups: grid1d(Math.ceil((rows * channels) / 256)),
    }),
  ];
  return new PreparedSequence('fusedBatchNormBackward', dispatches, [partials, sums], gpu);
}
