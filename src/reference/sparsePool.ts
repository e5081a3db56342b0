/**
 * Float64 twin of the sparse max-pool (SparseMaxPooling, spark-spec §2.1–2.2): a dense max over the zero-filled
 * input (masked neighbours take part with their 0, padding does not), kept only at the output scale's active
 * sites. The argmax is the first maximum in window scan order (ky, kx), PyTorch's tie rule; the backward
 * routes dy there, and gradient routed to a masked neighbour is dropped (the previous layer zeroed it anyway).
 */
import type { SiteSet, WindowGeometry } from '../sparse/sites';

export function sparseMaxPoolRef(
  x: ArrayLike<number>,
  input: SiteSet,
  output: SiteSet,
  { kernel: k, stride, padding }: WindowGeometry,
  channels: number,
): { y: Float64Array; argmaxRow: Int32Array } {
  const y = new Float64Array(output.rows * channels);
  // Input row of the winner, −1 when a masked neighbour's 0 won.
  const argmaxRow = new Int32Array(output.rows * channels);
  for (let o = 0; o < output.rows; o++) {
    const [b, oy, ox] = [output.coords[o * 3], output.coords[o * 3 + 1], output.coords[o * 3 + 2]];
    for (let c = 0; c < channels; c++) {
      let best = Number.NEGATIVE_INFINITY;
      let bestRow = -1;
      for (let ky = 0; ky < k; ky++)
        for (let kx = 0; kx < k; kx++) {
          const iy = oy * stride - padding + ky;
          const ix = ox * stride - padding + kx;
          if (iy < 0 || iy >= input.height || ix < 0 || ix >= input.width) continue;
          const row = input.gridIndex[(b * input.height + iy) * input.width + ix];
          const v = row >= 0 ? x[row * channels + c] : 0;
          if (v > best) {
            best = v;
            bestRow = row;
          }
        }
      y[o * channels + c] = best;
      argmaxRow[o * channels + c] = bestRow;
    }
  }
  return { y, argmaxRow };
}

export function sparseMaxPoolBackwardRef(
  dy: ArrayLike<number>,
  argmaxRow: Int32Array,
  inputRows: number,
  channels: number,
): Float64Array {
  const dx = new Float64Array(inputRows * channels);
  for (let o = 0; o < argmaxRow.length / channels; o++)
    for (let c = 0; c < channels; c++) {
      const row = argmaxRow[o * channels + c];
      if (row >= 0) dx[row * channels + c] += dy[o * channels + c];
    }
  return dx;
}
