/** Float64 twins of shaders/transpose.wgsl (pure data movement, so GPU results must match exactly). */

/** out[b, c, r] = x[b, r, c] for x [batch, rows, cols]. */
export function transpose2d(x: ArrayLike<number>, rows: number, cols: number, batch = 1): Float64Array {
  const out = new Float64Array(batch * rows * cols);
  for (let b = 0; b < batch; b++)
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++) out[(b * cols + c) * rows + r] = x[(b * rows + r) * cols + c];
  return out;
}

/** [N, C, H, W] → [N, H, W, C], written index by index from the definition. */
export function nchwToNhwc(x: ArrayLike<number>, n: number, c: number, h: number, w: number): Float64Array {
  const out = new Float64Array(n * c * h * w);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++)
        for (let xx = 0; xx < w; xx++)
          out[((b * h + y) * w + xx) * c + ch] = x[((b * c + ch) * h + y) * w + xx];
  return out;
}

/** [N, H, W, C] → [N, C, H, W]. */
export function nhwcToNchw(x: ArrayLike<number>, n: number, c: number, h: number, w: number): Float64Array {
  const out = new Float64Array(n * c * h * w);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++)
        for (let xx = 0; xx < w; xx++)
          out[((b * c + ch) * h + y) * w + xx] = x[((b * h + y) * w + xx) * c + ch];
  return out;
}
