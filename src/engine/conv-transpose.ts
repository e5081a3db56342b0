/**
 * Transposed convolution (PyTorch ConvTranspose2d semantics) in NHWC with weights [kh, kw, Cin, Cout]: the
 * LightDecoder's ×2 upsampler (4×4/s2/p1) and the 2×2/s2/p0 ablation, for any kernel/stride/padding.
 *
 * The kernels are the dense conv family's ops on the one GEMM core (shaders/conv/, shaders/lib/gemm_core.wgsl):
 * - forward = phase.wgsl: one GEMM per output phase (o mod s) over only the taps that reach it (2×2 taps
 *   per phase for 4×4/s2/p1), so no work is spent on zero insertion;
 * - grad-input = forward.wgsl on dy with the weight read transposed (an ordinary 4×4/s2 conv);
 * - grad-weight = transpose_grad_weight.wgsl: per tap a [Cin, Cout] GEMM over batch × space, split-K + reduce;
 * - grad-bias = column sums of dy.
 * Float64 twin: src/reference/conv-transpose.ts.
 */
import type { Gpu, GpuTensor } from '../gpu/runtime';
import {
  absentBinding,
  baseUniforms,
  type ConvGeometry,
  checkLength,
  chooseSlices,
  chooseTile,
  convKernel,
  convParams,
  type Encodable,
  prepareConv,
  splitKWeightGradient,
  swappedUniforms,
  vecFlags,
} from './conv2d';
import { columnSum } from './reduce';

/** The same fields as a Conv2dShape without `depthwise`: in = the layer's input, out = its (larger) output. */
export type ConvTransposeShape = ConvGeometry;

/** The LightDecoder upsampler: ConvTranspose2d(c, c, 4, 2, 1), output exactly 2H × 2W. */
export function upsample4x4(
  batch: number,
  inH: number,
  inW: number,
  inC: number,
  outC = inC,
): ConvTransposeShape {
  return { batch, inH, inW, inC, outC, kernelH: 4, kernelW: 4, strideH: 2, strideW: 2, padH: 1, padW: 1 };
}

/** The 2×2/s2/p0 ablation (also exactly ×2). */
export function upsample2x2(
  batch: number,
  inH: number,
  inW: number,
  inC: number,
  outC = inC,
): ConvTransposeShape {
  return { batch, inH, inW, inC, outC, kernelH: 2, kernelW: 2, strideH: 2, strideW: 2, padH: 0, padW: 0 };
}

export function convTransposeOutputSize(s: ConvTransposeShape): { outH: number; outW: number } {
  return {
    outH: (s.inH - 1) * s.strideH - 2 * s.padH + s.kernelH,
    outW: (s.inW - 1) * s.strideW - 2 * s.padW + s.kernelW,
  };
}

function check(label: string, s: ConvTransposeShape): { outH: number; outW: number } {
  const dims = [s.batch, s.inH, s.inW, s.inC, s.outC, s.kernelH, s.kernelW, s.strideH, s.strideW];
  if (dims.some((d) => !Number.isInteger(d) || d < 1) || s.padH < 0 || s.padW < 0) {
    throw new RangeError(`${label}: sizes, kernel and stride must be positive integers and padding ≥ 0.`);
  }
  if (s.padH >= s.kernelH || s.padW >= s.kernelW) {
    throw new RangeError(`${label}: padding must be smaller than the kernel.`);
  }
  const out = convTransposeOutputSize(s);
  if (out.outH < 1 || out.outW < 1) {
    throw new RangeError(`${label}: the padding crops the whole ${s.inH}×${s.inW} output away.`);
  }
  return out;
}

/** y = convT(x, W) + bias. x [B, H, W, Cin], y [B, Ho, Wo, Cout]. */
export function convTransposeForward(
  gpu: Gpu,
  s: ConvTransposeShape,
  out: GpuTensor,
  x: GpuTensor,
  weight: GpuTensor,
  options: { bias?: GpuTensor; accumulate?: boolean } = {},
): Encodable {
  const label = 'conv_transpose.forward';
  const { outH, outW } = check(label, s);
  checkLength(label, x, s.batch * s.inH * s.inW * s.inC, 'input');
  checkLength(label, out, s.batch * outH * outW * s.outC, 'output');
  checkLength(label, weight, s.kernelH * s.kernelW * s.inC * s.outC, 'weight');
  if (options.bias) checkLength(label, options.bias, s.outC, 'bias');
  const phaseRows = s.batch * Math.ceil(outH / s.strideH) * Math.ceil(outW / s.strideW);
  const tile = chooseTile(phaseRows * s.strideH * s.strideW, s.outC);
  const uniforms = {
    ...baseUniforms(s, outH, outW),
    hasBias: !!options.bias,
    accumulate: options.accumulate,
  };
  return prepareConv(gpu, {
    kernel: convKernel(gpu, 'phase', { tile, weightTransposed: false, vec: vecFlags(s.inC, s.outC) }),
    buffers: [out, x, absentBinding(gpu), weight, options.bias ?? absentBinding(gpu)],
    params: convParams(uniforms),
    workgroups: [Math.ceil(phaseRows / tile.tileM), Math.ceil(s.outC / tile.tileN), s.strideH * s.strideW],
  });
}

/** dx = conv(dy, W) with stride s and padding p: an ordinary strided convolution, written (=) into dx. */
export function convTransposeBackwardInput(
  gpu: Gpu,
  s: ConvTransposeShape,
  dx: GpuTensor,
  dy: GpuTensor,
  weight: GpuTensor,
  options: { accumulate?: boolean } = {},
): Encodable {
  const label = 'conv_transpose.backward_input';
  const { outH, outW } = check(label, s);
  checkLength(label, dx, s.batch * s.inH * s.inW * s.inC, 'input gradient');
  checkLength(label, dy, s.batch * outH * outW * s.outC, 'output gradient');
  checkLength(label, weight, s.kernelH * s.kernelW * s.inC * s.outC, 'weight');
  const rows = s.batch * s.inH * s.inW;
  const tile = chooseTile(rows, s.inC);
  const uniforms = { ...swappedUniforms(s, outH, outW), accumulate: options.accumulate };
  return prepareConv(gpu, {
    kernel: convKernel(gpu, 'forward', {
      tile,
      weightTransposed: true,
      vec: vecFlags(s.outC, s.inC, true),
    }),
    buffers: [dx, dy, absentBinding(gpu), weight, absentBinding(gpu)],
    params: convParams(uniforms),
    workgroups: [Math.ceil(rows / tile.tileM), Math.ceil(s.inC / tile.tileN), 1],
  });
}

/** dW += Σ per tap xᵀ · dy(shifted), split over batch × space with a fixed-order reduce. */
export function convTransposeBackwardWeight(
  gpu: Gpu,
  s: ConvTransposeShape,
  dw: GpuTensor,
  x: GpuTensor,
  dy: GpuTensor,
): Encodable {
  const label = 'conv_transpose.backward_weight';
  const { outH, outW } = check(label, s);
  const taps = s.kernelH * s.kernelW;
  const count = taps * s.inC * s.outC;
  checkLength(label, dw, count, 'weight gradient');
  checkLength(label, x, s.batch * s.inH * s.inW * s.inC, 'input');
  checkLength(label, dy, s.batch * outH * outW * s.outC, 'output gradient');
  const pixels = s.batch * s.inH * s.inW;
  const tile = chooseTile(s.inC * taps, s.outC);
  const tilesPerTap = Math.ceil(s.inC / tile.tileM) * Math.ceil(s.outC / tile.tileN);
  const { slices, rowsPerSlice } = chooseSlices(tilesPerTap * taps, pixels);
  return splitKWeightGradient(gpu, label, {
    kernel: convKernel(gpu, 'transpose_grad_weight', { tile, vec: vecFlags(s.inC, s.outC) }),
    dw,
    count,
    slices,
    uniforms: { ...baseUniforms(s, outH, outW), rowsPerSlice, slices },
    buffers: (out) => [out, x, absentBinding(gpu), dy, absentBinding(gpu)],
    workgroups: (n) => [Math.ceil(s.inC / tile.tileM), Math.ceil(s.outC / tile.tileN), taps * n],
  });
}

/** dBias += Σ_{b,y,x} dy. */
export function convTransposeBackwardBias(
  gpu: Gpu,
  s: ConvTransposeShape,
  dbias: GpuTensor,
  dy: GpuTensor,
): Encodable {
  const label = 'conv_transpose.backward_bias';
  const { outH, outW } = check(label, s);
  checkLength(label, dbias, s.outC, 'bias gradient');
  checkLength(label, dy, s.batch * outH * outW * s.outC, 'output gradient');
  return columnSum(gpu, {
    label,
    out: dbias,
    x: dy,
    rows: s.batch * outH * outW,
    cols: s.outC,
    accumulate: true,
  });
}
