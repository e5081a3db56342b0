/**
 * Dense 2-D convolution (NHWC activations, HWIO weights, or [kh, kw, C] for depthwise) on the GPU: forward
 * with optional bias and cell-resolution output mask, grad-input, grad-weight (split-K + fixed-order reduce)
 * and bias gradient. Kernels: the GEMM ops of shaders/conv/ on shaders/lib/gemm_core.wgsl, and
 * shaders/conv/depthwise.wgsl. Float64 twin: src/reference/conv2d.ts.
 *
 * Every function returns an `Encodable` (one PreparedDispatch, or a PreparedSequence of several plus their
 * scratch buffers) built once for static shapes; `encode(pass)` each step, `release()` when done.
 */
import convFamilySource from '../../shaders/conv/conv.wgsl?raw';
import depthwiseSource from '../../shaders/conv/depthwise.wgsl?raw';
import forwardSource from '../../shaders/conv/forward.wgsl?raw';
import gradWeightSource from '../../shaders/conv/grad_weight.wgsl?raw';
import im2colSource from '../../shaders/conv/im2col.wgsl?raw';
import phaseSource from '../../shaders/conv/phase.wgsl?raw';
import transposeGradWeightSource from '../../shaders/conv/transpose_grad_weight.wgsl?raw';
import gridSource from '../../shaders/lib/grid.wgsl?raw';
import operandsSource from '../../shaders/lib/operands.wgsl?raw';
import {
  bindingLayout,
  type DispatchSpec,
  type Encodable,
  type Gpu,
  type GpuTensor,
  grid1d,
  type Kernel,
  type PreparedDispatch,
  PreparedSequence,
} from '../gpu/runtime';
import { composeShader, uniformStruct } from '../gpu/shader';
import type { GpuCellMask } from './cell-mask';
import {
  absentBinding,
  chooseSlices,
  chooseTile,
  type GemmTile,
  gemmKernel,
  prepareGemm,
  reduceSlices,
} from './gemm';
import { columnSum } from './reduce';

export { absentBinding, chooseSlices, chooseTile, type GemmTile, reduceSlices } from './gemm';

export interface Conv2dShape {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outC: number;
  kernelH: number;
  kernelW: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  /** groups = C (outC must equal inC; weight [kh, kw, C]); otherwise groups = 1 (weight [kh, kw, Cin, Cout]). */
  depthwise: boolean;
}

/** What a layer keeps per kernel invocation (defined by the runtime; re-exported for the layer code). */
export type { Encodable } from '../gpu/runtime';
export type { GpuCellMask } from './cell-mask';

export function conv2dOutputSize(shape: Conv2dShape): { outH: number; outW: number } {
  const outH = Math.floor((shape.inH + 2 * shape.padH - shape.kernelH) / shape.strideH) + 1;
  const outW = Math.floor((shape.inW + 2 * shape.padW - shape.kernelW) / shape.strideW) + 1;
  return { outH, outW };
}

// ------------------------------------------------------------------------------------------------ internals

/**
 * The conv family's uniforms (shaders/conv/*.wgsl): the GEMM's source (src_*) and destination (dst_*) maps,
 * the kernel geometry, split-K slicing, the cell mask's grid, and the bias / accumulate flags.
 */
export const ConvParams = uniformStruct(
  'ConvParams',
  {
    batch: 'u32',
    srcH: 'u32',
    srcW: 'u32',
    srcC: 'u32',
    dstH: 'u32',
    dstW: 'u32',
    dstC: 'u32',
    kernelH: 'u32',
    kernelW: 'u32',
    strideH: 'u32',
    strideW: 'u32',
    padH: 'u32',
    padW: 'u32',
    // Split-K: reduction rows handled by one slice (grad-weight).
    rowsPerSlice: 'u32',
    slices: 'u32',
    maskH: 'u32',
    maskW: 'u32',
    cellH: 'u32',
    cellW: 'u32',
    hasBias: 'u32',
    // 1: add into `out` (gradient accumulation / skip fan-in); 0: overwrite.
    accumulate: 'u32',
  },
  { rowsPerSlice: 0, slices: 1, maskH: 1, maskW: 1, cellH: 1, cellW: 1, hasBias: false, accumulate: false },
);

export interface ConvUniforms {
  batch: number;
  srcH: number;
  srcW: number;
  srcC: number;
  dstH: number;
  dstW: number;
  dstC: number;
  kernelH: number;
  kernelW: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  rowsPerSlice?: number;
  slices?: number;
  mask?: GpuCellMask;
  hasBias?: boolean;
  accumulate?: boolean;
}

export function convParams({ mask, ...u }: ConvUniforms) {
  return ConvParams.pack({
    ...u,
    maskH: mask?.gridH,
    maskW: mask?.gridW,
    cellH: mask?.cellH,
    cellW: mask?.cellW,
  });
}

/** Operand slots read as vec4 arrays (lhs and rhs; shaders/conv/conv.wgsl). */
const CONV_VEC4_SLOTS = [1, 3];

/** gpu.prepare for the conv family: binds the operands (slots 1 and 3) as vec4 arrays. */
export function prepareConv(
  gpu: Gpu,
  spec: Omit<DispatchSpec, 'buffers'> & { buffers: GpuTensor[] },
): PreparedDispatch {
  return prepareGemm(gpu, CONV_VEC4_SLOTS, spec);
}

/**
 * Whole-vec4 operand loads: A runs along the source's channels; B along the weight's output channels, or
 * along the reduction channels when the weight is read transposed (dy for grad-weight runs along dstC).
 */
export function vecFlags(srcC: number, dstC: number, weightTransposed = false): { a: boolean; b: boolean } {
  return { a: srcC % 4 === 0, b: (weightTransposed ? srcC : dstC) % 4 === 0 };
}

function maskMode(mask?: GpuCellMask): number {
  if (!mask) return 0;
  return mask.kind === 'u32' ? 1 : 2;
}

/** The conv family's GEMM ops: the op file (hooks) and the axis each operand's runs follow. */
const CONV_GEMM_OPS = {
  forward: { source: forwardSource, aRunsAlongM: false },
  phase: { source: phaseSource, aRunsAlongM: false },
  grad_weight: { source: gradWeightSource, aRunsAlongM: true },
  transpose_grad_weight: { source: transposeGradWeightSource, aRunsAlongM: true },
} as const;

export type ConvGemmOp = keyof typeof CONV_GEMM_OPS;

/**
 * The conv family's bind-group layout (shaders/conv/conv.wgsl): every dense conv GEMM op (forward, dX phases,
 * dW, transposed-conv dW) and the depthwise kernels.
 */
export const ConvLayout = bindingLayout('conv', {
  out: 'write', // y, dx, dW, or split-K partials
  lhs: 'read:vec4f', // GEMM A source: x (dy for dX)
  mask: 'read:u32', // [B, gh, gw] cell mask (u32 flags or f32 bits), or the zeros buffer (MASK_MODE 0)
  rhs: 'read:vec4f', // GEMM B source: the weight (dy for dW)
  bias: 'read', // [Cout], or the zeros buffer (has_bias 0, and every backward)
});

const convGemmFamily = [ConvParams.wgsl, convFamilySource, im2colSource];

export function convKernel(
  gpu: Gpu,
  op: ConvGemmOp,
  options: {
    tile: GemmTile;
    vec: { a: boolean; b: boolean };
    weightTransposed?: boolean;
    mask?: GpuCellMask;
    /** A 1×1, stride-1, unpadded conv (`isPointwiseConv`): the loaders read plain rows. */
    pointwise?: boolean;
  },
): Kernel {
  const { source, aRunsAlongM } = CONV_GEMM_OPS[op];
  return gemmKernel(gpu, {
    label: `conv2d.${op}`,
    family: convGemmFamily,
    layout: ConvLayout,
    op: source,
    tile: options.tile,
    vec: options.vec,
    aRunsAlongM,
    bRunsAlongK: options.weightTransposed ?? false,
    // POINTWISE only where set: the ops that never read it (transpose_grad_weight) do not declare it in use.
    constants: { MASK_MODE: maskMode(options.mask), ...(options.pointwise ? { POINTWISE: 1 } : {}) },
  });
}

/**
 * A 1×1, stride-1, unpadded conv on NHWC maps is a plain GEMM over pixel rows ([B·H·W, Cin] × [Cin, Cout]):
 * its forward, grad-input and grad-weight skip the window's index math (POINTWISE in shaders/conv/conv.wgsl)
 * and keep the conv's mask epilogue, which the dense-masked encoder needs.
 */
export function isPointwiseConv(s: ConvGeometry): boolean {
  return (
    s.kernelH === 1 && s.kernelW === 1 && s.strideH === 1 && s.strideW === 1 && s.padH === 0 && s.padW === 0
  );
}

const depthwiseModule = composeShader(
  ConvParams.wgsl,
  ConvLayout.wgsl,
  gridSource,
  operandsSource,
  convFamilySource,
  depthwiseSource,
);

function depthwiseKernel(gpu: Gpu, entryPoint: string, mask?: GpuCellMask): Kernel {
  return gpu.kernel({
    label: `conv2d.${entryPoint}`,
    code: depthwiseModule,
    entryPoint,
    layout: ConvLayout,
    constants: { MASK_MODE: maskMode(mask) },
  });
}

export function checkLength(label: string, tensor: GpuTensor, expected: number, what: string): void {
  if (tensor.length !== expected) {
    throw new RangeError(
      `${label}: ${what} ${tensor.label} has ${tensor.length} elements, expected ${expected}.`,
    );
  }
}

function checkShape(label: string, s: Conv2dShape): { outH: number; outW: number } {
  const dims = [s.batch, s.inH, s.inW, s.inC, s.outC, s.kernelH, s.kernelW, s.strideH, s.strideW];
  if (dims.some((d) => !Number.isInteger(d) || d < 1) || s.padH < 0 || s.padW < 0) {
    throw new RangeError(`${label}: sizes, kernel and stride must be positive integers and padding ≥ 0.`);
  }
  if (s.depthwise && s.inC !== s.outC) {
    throw new RangeError(
      `${label}: a depthwise convolution needs as many output channels as input channels.`,
    );
  }
  const out = conv2dOutputSize(s);
  if (out.outH < 1 || out.outW < 1) {
    throw new RangeError(
      `${label}: a ${s.kernelH}×${s.kernelW} kernel does not fit a ${s.inH}×${s.inW} input padded by ${s.padH}×${s.padW}.`,
    );
  }
  return out;
}

function weightLength(s: Conv2dShape): number {
  return s.kernelH * s.kernelW * s.inC * (s.depthwise ? 1 : s.outC);
}

/** The geometry a conv and a transposed conv share (a ConvTransposeShape is exactly this). */
export type ConvGeometry = Omit<Conv2dShape, 'depthwise'>;

/** Uniforms with the layer's input as the GEMM source and its output (outH × outW) as the destination. */
export function baseUniforms(s: ConvGeometry, outH: number, outW: number): ConvUniforms {
  return {
    batch: s.batch,
    srcH: s.inH,
    srcW: s.inW,
    srcC: s.inC,
    dstH: outH,
    dstW: outW,
    dstC: s.outC,
    kernelH: s.kernelH,
    kernelW: s.kernelW,
    strideH: s.strideH,
    strideW: s.strideW,
    padH: s.padH,
    padW: s.padW,
  };
}

/** The other way round, for a grad-input GEMM: the source is dy (the layer's output), the destination dx. */
export function swappedUniforms(s: ConvGeometry, outH: number, outW: number): ConvUniforms {
  return {
    ...baseUniforms(s, outH, outW),
    srcH: outH,
    srcW: outW,
    srcC: s.outC,
    dstH: s.inH,
    dstW: s.inW,
    dstC: s.inC,
  };
}

/**
 * A weight gradient over batch × space: written straight into dW (accumulating) when one slice covers the
 * reduction, otherwise per-slice partials and a fixed-order reduce. `uniforms` carries slices/rowsPerSlice;
 * `workgroups(slices)` is the grid for that many slices.
 */
export function splitKWeightGradient(
  gpu: Gpu,
  label: string,
  o: {
    kernel: Kernel;
    dw: GpuTensor;
    count: number;
    slices: number;
    uniforms: ConvUniforms;
    buffers: (out: GpuTensor) => GpuTensor[];
    workgroups: (slices: number) => readonly [number, number, number];
  },
): Encodable {
  if (o.slices === 1) {
    const direct = prepareConv(gpu, {
      kernel: o.kernel,
      buffers: o.buffers(o.dw),
      params: convParams({ ...o.uniforms, accumulate: true }),
      workgroups: o.workgroups(1),
    });
    return new PreparedSequence(label, [direct], [], gpu);
  }
  const partials = gpu.tensor(`${label}.partials`, [o.slices, o.count]);
  const partial = prepareConv(gpu, {
    kernel: o.kernel,
    buffers: o.buffers(partials),
    params: convParams(o.uniforms),
    workgroups: o.workgroups(o.slices),
  });
  const reduce = reduceSlices(gpu, o.dw, partials, o.count, o.slices, true);
  return new PreparedSequence(label, [partial, reduce], [partials], gpu);
}

// ------------------------------------------------------------------------------------------------ public API

export interface ConvForwardOptions {
  bias?: GpuTensor;
  /** Output mask epilogue: out[b, y, x, :] *= mask[b, y / cellH, x / cellW]. */
  mask?: GpuCellMask;
  /** Add into `out` instead of overwriting it (fan-in). */
  accumulate?: boolean;
}

/** y = conv(x, W) (+ bias) (× mask). x [B, H, W, Cin], y [B, Ho, Wo, Cout]. */
export function conv2dForward(
  gpu: Gpu,
  shape: Conv2dShape,
  out: GpuTensor,
  x: GpuTensor,
  weight: GpuTensor,
  options: ConvForwardOptions = {},
): Encodable {
  const label = 'conv2d.forward';
  const { outH, outW } = checkShape(label, shape);
  checkLength(label, x, shape.batch * shape.inH * shape.inW * shape.inC, 'input');
  checkLength(label, out, shape.batch * outH * outW * shape.outC, 'output');
  checkLength(label, weight, weightLength(shape), 'weight');
  if (options.bias) checkLength(label, options.bias, shape.outC, 'bias');
  const { mask } = options;
  const uniforms = { ...baseUniforms(shape, outH, outW), mask, hasBias: !!options.bias };
  const buffers = [out, x, mask?.tensor ?? absentBinding(gpu), weight, options.bias ?? absentBinding(gpu)];
  const rows = shape.batch * outH * outW;
  if (shape.depthwise) {
    return prepareConv(gpu, {
      kernel: depthwiseKernel(gpu, 'dw_forward', mask),
      buffers,
      params: convParams({ ...uniforms, accumulate: options.accumulate }),
      workgroups: grid1d(Math.ceil((rows * shape.outC) / 256)),
    });
  }
  const tile = chooseTile(rows, shape.outC);
  return prepareConv(gpu, {
    kernel: convKernel(gpu, 'forward', {
      tile,
      weightTransposed: false,
      mask,
      vec: vecFlags(shape.inC, shape.outC),
      pointwise: isPointwiseConv(shape),
    }),
    buffers,
    params: convParams({ ...uniforms, accumulate: options.accumulate }),
    workgroups: [Math.ceil(rows / tile.tileM), Math.ceil(shape.outC / tile.tileN), 1],
  });
}

export interface ConvBackwardOptions {
  /** The forward's output mask: dy is multiplied by it (the epilogue's gradient). */
  mask?: GpuCellMask;
  /** Grad-input only: add into dx instead of overwriting it. */
  accumulate?: boolean;
}

/**
 * dx = conv2dᵀ(dy, W). A strided conv runs one GEMM per input phase (y mod s, x mod s) over only the taps
 * that reach it, so no work is spent on the stride's zeros.
 */
export function conv2dBackwardInput(
  gpu: Gpu,
  shape: Conv2dShape,
  dx: GpuTensor,
  dy: GpuTensor,
  weight: GpuTensor,
  options: ConvBackwardOptions = {},
): Encodable {
  const label = 'conv2d.backward_input';
  const { outH, outW } = checkShape(label, shape);
  checkLength(label, dx, shape.batch * shape.inH * shape.inW * shape.inC, 'input gradient');
  checkLength(label, dy, shape.batch * outH * outW * shape.outC, 'output gradient');
  checkLength(label, weight, weightLength(shape), 'weight');
  const { mask } = options;
  if (shape.depthwise) {
    return prepareConv(gpu, {
      kernel: depthwiseKernel(gpu, 'dw_grad_input', mask),
      buffers: [dx, dy, mask?.tensor ?? absentBinding(gpu), weight, absentBinding(gpu)],
      params: convParams({ ...baseUniforms(shape, outH, outW), mask, accumulate: options.accumulate }),
      workgroups: grid1d(Math.ceil((shape.batch * shape.inH * shape.inW * shape.inC) / 256)),
    });
  }
  // The phase GEMM's source is dy (conv output), its destination dx (conv input).
  const uniforms = { ...swappedUniforms(shape, outH, outW), mask, accumulate: options.accumulate };
  const phaseRows = shape.batch * Math.ceil(shape.inH / shape.strideH) * Math.ceil(shape.inW / shape.strideW);
  const tile = chooseTile(phaseRows * shape.strideH * shape.strideW, shape.inC);
  return prepareConv(gpu, {
    kernel: convKernel(gpu, 'phase', {
      tile,
      weightTransposed: true,
      mask,
      vec: vecFlags(shape.outC, shape.inC, true),
      pointwise: isPointwiseConv(shape),
    }),
    buffers: [dx, dy, mask?.tensor ?? absentBinding(gpu), weight, absentBinding(gpu)],
    params: convParams(uniforms),
    workgroups: [
      Math.ceil(phaseRows / tile.tileM),
      Math.ceil(shape.inC / tile.tileN),
      shape.strideH * shape.strideW,
    ],
  });
}

/**
 * dW += Σ_{b,y,x} im2col(x)ᵀ · dy, a GEMM over batch × space split into slices (partials + fixed-order
 * reduce), so the whole GPU works on it whatever the weight's size.
 */
export function conv2dBackwardWeight(
  gpu: Gpu,
  shape: Conv2dShape,
  dw: GpuTensor,
  x: GpuTensor,
  dy: GpuTensor,
  options: Pick<ConvBackwardOptions, 'mask'> = {},
): Encodable {
  const label = 'conv2d.backward_weight';
  const { outH, outW } = checkShape(label, shape);
  checkLength(label, dw, weightLength(shape), 'weight gradient');
  checkLength(label, x, shape.batch * shape.inH * shape.inW * shape.inC, 'input');
  checkLength(label, dy, shape.batch * outH * outW * shape.outC, 'output gradient');
  const { mask } = options;
  const pixels = shape.batch * outH * outW;
  const count = weightLength(shape);
  const buffers = (out: GpuTensor) => [out, x, mask?.tensor ?? absentBinding(gpu), dy, absentBinding(gpu)];
  const base = baseUniforms(shape, outH, outW);
  if (shape.depthwise) {
    const groups = Math.ceil(count / 64);
    const { slices, rowsPerSlice } = chooseSlices(groups / 4, pixels);
    return splitKWeightGradient(gpu, label, {
      kernel: depthwiseKernel(gpu, 'dw_grad_weight', mask),
      dw,
      count,
      slices,
      uniforms: { ...base, mask, rowsPerSlice, slices },
      buffers,
      workgroups: (n) => [groups, n, 1],
    });
  }
  const rows = shape.kernelH * shape.kernelW * shape.inC;
  const tile = chooseTile(rows, shape.outC);
  const tiles = Math.ceil(rows / tile.tileM) * Math.ceil(shape.outC / tile.tileN);
  const { slices, rowsPerSlice } = chooseSlices(tiles, pixels);
  return splitKWeightGradient(gpu, label, {
    kernel: convKernel(gpu, 'grad_weight', {
      tile,
      mask,
      vec: vecFlags(shape.inC, shape.outC),
      pointwise: isPointwiseConv(shape),
    }),
    dw,
    count,
    slices,
    uniforms: { ...base, mask, rowsPerSlice, slices },
    buffers,
    workgroups: (n) => [Math.ceil(rows / tile.tileM), Math.ceil(shape.outC / tile.tileN), n],
  });
}

/** dBias += Σ_{b,y,x} dy (× mask). */
export function conv2dBackwardBias(
  gpu: Gpu,
  shape: Conv2dShape,
  dbias: GpuTensor,
  dy: GpuTensor,
  options: Pick<ConvBackwardOptions, 'mask'> = {},
): Encodable {
  const label = 'conv2d.backward_bias';
  const { outH, outW } = checkShape(label, shape);
  checkLength(label, dbias, shape.outC, 'bias gradient');
  checkLength(label, dy, shape.batch * outH * outW * shape.outC, 'output gradient');
  const { mask } = options;
  return columnSum(gpu, {
    label,
    out: dbias,
    x: dy,
    rows: shape.batch * outH * outW,
    cols: shape.outC,
    accumulate: true,
    mask: mask && { ...mask, height: outH, width: outW },
  });
}
