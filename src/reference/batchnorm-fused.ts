/**
 * Float64 twin of the fused BatchNorm (src/engine/batchnorm-fused.ts): y = act(BN(x) + residual) in training
 * mode, and the backward of BN with dy first passed through an activation's derivative read from that
 * activation's output (ReLU' = 1 where y > 0, ReLU6' = 1 where 0 < y < 6: PyTorch's convention at the kinks).
 * Written as the composition of the unfused twins it replaces. With a row mask, rows whose mask is 0 stay out
 * of the statistics and the gradient sums and come out as exactly 0 in y, dx and the residual's gradient.
 */
import {
  type BatchNormRefResult,
  batchNormBackwardRef,
  batchNormEvalRef,
  batchNormTrainRef,
} from './batchnorm';

export type FusedActivationRef = 'none' | 'relu' | 'relu6';

export function activateRef(v: number, act: FusedActivationRef): number {
  if (act === 'relu') return Math.max(v, 0);
  if (act === 'relu6') return Math.min(Math.max(v, 0), 6);
  return v;
}

/** The activation's derivative from its output y. */
export function gateRef(y: number, act: FusedActivationRef): number {
  if (act === 'relu') return y > 0 ? 1 : 0;
  if (act === 'relu6') return y > 0 && y < 6 ? 1 : 0;
  return 1;
}

function finish(
  z: Float64Array,
  channels: number,
  act: FusedActivationRef,
  residual?: ArrayLike<number>,
  rowMask?: ArrayLike<number>,
): Float64Array {
  return z.map((v, i) =>
    rowMask && rowMask[Math.floor(i / channels)] === 0
      ? 0
      : activateRef(v + (residual ? residual[i] : 0), act),
  );
}

export function fusedBatchNormTrainRef(
  x: ArrayLike<number>,
  rows: number,
  channels: number,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  act: FusedActivationRef,
  residual?: ArrayLike<number>,
  rowMask?: ArrayLike<number>,
  eps = 1e-5,
): { y: Float64Array; stats: BatchNormRefResult } {
  const stats = batchNormTrainRef(x, rows, channels, gamma, beta, rowMask, eps);
  return { y: finish(stats.y, channels, act, residual, rowMask), stats };
}

export function fusedBatchNormEvalRef(
  x: ArrayLike<number>,
  rows: number,
  channels: number,
  runningMean: ArrayLike<number>,
  runningVar: ArrayLike<number>,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  act: FusedActivationRef,
  residual?: ArrayLike<number>,
  rowMask?: ArrayLike<number>,
  eps = 1e-5,
): Float64Array {
  const z = batchNormEvalRef(x, rows, channels, runningMean, runningVar, gamma, beta, rowMask, eps);
  return finish(z, channels, act, residual, rowMask);
}

/**
 * dy gated by `gate` (an activation's output), then BatchNorm's backward. `gradResidual` is what the residual
 * receives: the gated dy itself.
 */
export function fusedBatchNormBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  rows: number,
  channels: number,
  gamma: ArrayLike<number>,
  stats: BatchNormRefResult,
  gate?: { y: ArrayLike<number>; act: FusedActivationRef },
  rowMask?: ArrayLike<number>,
): { dx: Float64Array; dGamma: Float64Array; dBeta: Float64Array; gradResidual: Float64Array } {
  const g = Float64Array.from(dy, (v, i) =>
    rowMask && rowMask[Math.floor(i / channels)] === 0 ? 0 : gate ? v * gateRef(gate.y[i], gate.act) : v,
  );
  return { ...batchNormBackwardRef(g, x, rows, channels, gamma, stats, rowMask), gradResidual: g };
}
