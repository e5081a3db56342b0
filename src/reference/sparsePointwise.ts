/**
 * Float64 twins of the per-row (pointwise) layers applied to compacted rows [N_active, C]: linear layers
 * (weight [in, out], ConvNeXt's MLP) and layer-scale γ with the residual add. Being per row, they need no
 * mask: masked sites have no row (spark-spec §2.2's re-mask after the block is implicit).
 */
export function linearRef(
  x: ArrayLike<number>,
  rows: number,
  inC: number,
  outC: number,
  weight: ArrayLike<number>,
  bias?: ArrayLike<number>,
): Float64Array {
  const y = new Float64Array(rows * outC);
  for (let r = 0; r < rows; r++)
    for (let n = 0; n < outC; n++) {
      let acc = bias ? bias[n] : 0;
      for (let k = 0; k < inC; k++) acc += x[r * inC + k] * weight[k * outC + n];
      y[r * outC + n] = acc;
    }
  return y;
}

export function linearBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  rows: number,
  inC: number,
  outC: number,
  weight: ArrayLike<number>,
): { dx: Float64Array; dWeight: Float64Array; dBias: Float64Array } {
  const dx = new Float64Array(rows * inC);
  const dWeight = new Float64Array(inC * outC);
  const dBias = new Float64Array(outC);
  for (let r = 0; r < rows; r++)
    for (let n = 0; n < outC; n++) {
      const g = dy[r * outC + n];
      dBias[n] += g;
      for (let k = 0; k < inC; k++) {
        dx[r * inC + k] += g * weight[k * outC + n];
        dWeight[k * outC + n] += x[r * inC + k] * g;
      }
    }
  return { dx, dWeight, dBias };
}

/** y = residual + γ ⊙ x (per channel); residual omitted means 0. */
export function layerScaleRef(
  x: ArrayLike<number>,
  rows: number,
  channels: number,
  gamma: ArrayLike<number>,
  residual?: ArrayLike<number>,
): Float64Array {
  const y = new Float64Array(rows * channels);
  for (let i = 0; i < rows * channels; i++) y[i] = (residual ? residual[i] : 0) + gamma[i % channels] * x[i];
  return y;
}

export function layerScaleBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  rows: number,
  channels: number,
  gamma: ArrayLike<number>,
): { dx: Float64Array; dGamma: Float64Array } {
  const dx = new Float64Array(rows * channels);
  const dGamma = new Float64Array(channels);
  for (let i = 0; i < rows * channels; i++) {
    dx[i] = gamma[i % channels] * dy[i];
    dGamma[i % channels] += x[i] * dy[i];
  }
  return { dx, dGamma };
}
