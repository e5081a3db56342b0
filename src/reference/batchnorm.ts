/**
 * Float64 twin of BatchNorm over rows [R, C] (channel fastest), with an optional row mask: statistics are
 * taken over the rows whose mask is 1 and the other rows come out as exactly 0 (spark-spec §2.2, §10).
 * Without a mask it is ordinary BatchNorm1d / BatchNorm2d on NHWC (R = N·H·W).
 */
export interface BatchNormRefResult {
  y: Float64Array;
  mean: Float64Array;
  /** Biased variance (what normalises). */
  variance: Float64Array;
  invStd: Float64Array;
  count: number;
}

function counted(mask: ArrayLike<number> | undefined, r: number): boolean {
  return mask === undefined || mask[r] !== 0;
}

export function batchNormTrainRef(
  x: ArrayLike<number>,
  rows: number,
  channels: number,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  rowMask?: ArrayLike<number>,
  eps = 1e-5,
): BatchNormRefResult {
  const mean = new Float64Array(channels);
  const variance = new Float64Array(channels);
  let count = 0;
  for (let r = 0; r < rows; r++) {
    if (!counted(rowMask, r)) continue;
    count++;
    for (let c = 0; c < channels; c++) mean[c] += x[r * channels + c];
  }
  for (let c = 0; c < channels; c++) mean[c] /= count;
  for (let r = 0; r < rows; r++) {
    if (!counted(rowMask, r)) continue;
    for (let c = 0; c < channels; c++) variance[c] += (x[r * channels + c] - mean[c]) ** 2;
  }
  const invStd = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    variance[c] /= count;
    invStd[c] = 1 / Math.sqrt(variance[c] + eps);
  }
  const y = normalizeRef(x, rows, channels, mean, invStd, gamma, beta, rowMask);
  return { y, mean, variance, invStd, count };
}

export function normalizeRef(
  x: ArrayLike<number>,
  rows: number,
  channels: number,
  mean: ArrayLike<number>,
  invStd: ArrayLike<number>,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  rowMask?: ArrayLike<number>,
): Float64Array {
  const y = new Float64Array(rows * channels);
  for (let r = 0; r < rows; r++) {
    if (!counted(rowMask, r)) continue;
    for (let c = 0; c < channels; c++) {
      const i = r * channels + c;
      y[i] = (x[i] - mean[c]) * invStd[c] * gamma[c] + beta[c];
    }
  }
  return y;
}

/** Eval mode: running statistics normalise; masked rows still 0. */
export function batchNormEvalRef(
  x: ArrayLike<number>,
  rows: number,
  channels: number,
  runningMean: ArrayLike<number>,
  runningVar: ArrayLike<number>,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  rowMask?: ArrayLike<number>,
  eps = 1e-5,
): Float64Array {
  const invStd = Array.from(runningVar, (v) => 1 / Math.sqrt(v + eps));
  return normalizeRef(x, rows, channels, runningMean, invStd, gamma, beta, rowMask);
}

/** PyTorch's running-statistics update: unbiased variance (·n/(n−1)), momentum weighting the new value. */
export function runningStatsRef(
  runningMean: ArrayLike<number>,
  runningVar: ArrayLike<number>,
  stats: BatchNormRefResult,
  momentum = 0.1,
): { mean: Float64Array; variance: Float64Array } {
  const n = stats.count;
  const mean = Float64Array.from(runningMean, (m, c) => (1 - momentum) * m + momentum * stats.mean[c]);
  const variance = Float64Array.from(
    runningVar,
    (v, c) => (1 - momentum) * v + momentum * ((stats.variance[c] * n) / (n - 1)),
  );
  return { mean, variance };
}

/** Training-mode backward, all sums over the counted rows; dx is 0 on the other rows. */
export function batchNormBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  rows: number,
  channels: number,
  gamma: ArrayLike<number>,
  stats: BatchNormRefResult,
  rowMask?: ArrayLike<number>,
): { dx: Float64Array; dGamma: Float64Array; dBeta: Float64Array } {
  const dGamma = new Float64Array(channels);
  const dBeta = new Float64Array(channels);
  const { mean, invStd, count } = stats;
  for (let r = 0; r < rows; r++) {
    if (!counted(rowMask, r)) continue;
    for (let c = 0; c < channels; c++) {
      const i = r * channels + c;
      dBeta[c] += dy[i];
      dGamma[c] += dy[i] * (x[i] - mean[c]) * invStd[c];
    }
  }
  const dx = new Float64Array(rows * channels);
  for (let r = 0; r < rows; r++) {
    if (!counted(rowMask, r)) continue;
    for (let c = 0; c < channels; c++) {
      const i = r * channels + c;
      const xHat = (x[i] - mean[c]) * invStd[c];
      dx[i] = gamma[c] * invStd[c] * (dy[i] - dBeta[c] / count - (xHat * dGamma[c]) / count);
    }
  }
  return { dx, dGamma, dBeta };
}
