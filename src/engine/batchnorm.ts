/**
 * BatchNorm over rows [R, C] (channel fastest): sparse BN on compacted rows [N_active, C], dense BN on NHWC
 * (R = N·H·W, the decoder), and the dense-masked encoder (R = N·H·W with a per-row 0/1 mask: statistics
 * over visible rows only, masked rows output 0). Training mode normalises with the biased variance and updates
 * the running statistics with the unbiased one (momentum 0.1, PyTorch's rule); eval mode uses the running
 * statistics.
 *
 * Plain BN is the fused BatchNorm with no activation and no residual, so this is its interface to the layers
 * that keep BN a layer of its own (src/engine/batchnorm-fused.ts, shaders/batchnorm_fused.wgsl): a masked BN
 * runs its chunked schedule, an unmasked one the schedule chosen from the row count.
 */

import type { Gpu, GpuTensor, PreparedSequence } from '../gpu/runtime';
import { fusedBatchNormBackward, fusedBatchNormEval, fusedBatchNormTrain } from './batchnorm-fused';

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

/** The per-layer tensor the training forward fills for the backward ([3·C]). */
export function batchNormSaved(gpu: Gpu, channels: number, label = 'bn.saved'): GpuTensor {
  return gpu.tensor(label, [3, channels]);
}

/**
 * Training forward: statistics over the (unmasked) rows, running-stat update, normalisation.
 * Needs at least 2 rows (PyTorch refuses 1: the unbiased variance is undefined).
 */
export function batchNormTrain(gpu: Gpu, args: BatchNormForwardArgs): PreparedSequence {
  return fusedBatchNormTrain(gpu, args);
}

/** Eval forward: normalises with the running statistics; masked rows output 0. */
export function batchNormEval(
  gpu: Gpu,
  args: Omit<BatchNormForwardArgs, 'saved' | 'momentum'>,
): PreparedSequence {
  return fusedBatchNormEval(gpu, args);
}

/** Training backward: dx written, dγ and dβ accumulated; every sum over the counted rows. */
export function batchNormBackward(gpu: Gpu, args: BatchNormBackwardArgs): PreparedSequence {
  return fusedBatchNormBackward(gpu, args);
}
