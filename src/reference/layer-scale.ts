/**
 * Float64 twin of the layer-scale epilogue and its backward (shaders/matmul_layer_scale.wgsl,
 * shaders/layer_scale.wgsl): ConvNeXt's y = γ ⊙ z per column of a row-major [rows, cols] z (z = the second
 * pointwise layer's output with its bias).
 */

/** y[r, c] = γ[c] · z[r, c]. */
export function layerScaleForward(
  z: ArrayLike<number>,
  gamma: ArrayLike<number>,
  rows: number,
  cols: number,
) {
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) y[r * cols + c] = gamma[c] * z[r * cols + c];
  return y;
}

/** dz[r, c] = γ[c] · dy[r, c];  dγ[c] = Σ_r z[r, c] · dy[r, c]. */
export function layerScaleBackward(
  z: ArrayLike<number>,
  gamma: ArrayLike<number>,
  dy: ArrayLike<number>,
  rows: number,
  cols: number,
): { dz: Float64Array; dGamma: Float64Array } {
  const dz = new Float64Array(rows * cols);
  const dGamma = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      dz[i] = gamma[c] * dy[i];
      dGamma[c] += z[i] * dy[i];
    }
  }
  return { dz, dGamma };
}
