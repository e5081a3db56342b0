/**
 * Float64 twin of LayerNorm over the channels of each row [R, C] (ConvNeXt's channels-last LN, eps 1e-6; the
 * sparse LN is this on the active rows only, spark-spec §2.2). Biased variance, as PyTorch.
 */
export function layerNormRef(
  x: ArrayLike<number>,
  rows: number,
  channels: number,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  eps = 1e-6,
): { y: Float64Array; mean: Float64Array; invStd: Float64Array } {
  const y = new Float64Array(rows * channels);
  const mean = new Float64Array(rows);
  const invStd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let c = 0; c < channels; c++) m += x[r * channels + c];
    m /= channels;
    let v = 0;
    for (let c = 0; c < channels; c++) v += (x[r * channels + c] - m) ** 2;
    v /= channels;
    mean[r] = m;
    invStd[r] = 1 / Math.sqrt(v + eps);
    for (let c = 0; c < channels; c++)
      y[r * channels + c] = (x[r * channels + c] - m) * invStd[r] * gamma[c] + beta[c];
  }
  return { y, mean, invStd };
}

export function layerNormBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  rows: number,
  channels: number,
  gamma: ArrayLike<number>,
  eps = 1e-6,
): { dx: Float64Array; dGamma: Float64Array; dBeta: Float64Array } {
  const { mean, invStd } = layerNormRef(x, rows, channels, gamma, new Float64Array(channels), eps);
  const dx = new Float64Array(rows * channels);
  const dGamma = new Float64Array(channels);
  const dBeta = new Float64Array(channels);
  for (let r = 0; r < rows; r++) {
    let sg = 0;
    let sgx = 0;
    for (let c = 0; c < channels; c++) {
      const i = r * channels + c;
      const xHat = (x[i] - mean[r]) * invStd[r];
      const g = dy[i] * gamma[c];
      sg += g;
      sgx += g * xHat;
      dGamma[c] += dy[i] * xHat;
      dBeta[c] += dy[i];
    }
    for (let c = 0; c < channels; c++) {
      const i = r * channels + c;
      const xHat = (x[i] - mean[r]) * invStd[r];
      dx[i] = invStd[r] * (dy[i] * gamma[c] - sg / channels - (xHat * sgx) / channels);
    }
  }
  return { dx, dGamma, dBeta };
}
