/**
 * Float64 twins of shaders/scatter.wgsl: densify compacted rows [N_active, C] into a dense NHWC map whose
 * masked pixels hold the mask token (or zeros), and the backward (row gradients at visible pixels, token
 * gradient summed over every masked pixel of the batch).
 */

export function densifyForward(
  rows: ArrayLike<number>,
  gridIndex: ArrayLike<number>,
  token: ArrayLike<number> | null,
  channels: number,
): Float64Array {
  const out = new Float64Array(gridIndex.length * channels);
  for (let pixel = 0; pixel < gridIndex.length; pixel++) {
    const row = gridIndex[pixel];
    for (let c = 0; c < channels; c++) {
      out[pixel * channels + c] = row >= 0 ? rows[row * channels + c] : token ? token[c] : 0;
    }
  }
  return out;
}

export function densifyBackward(
  dOut: ArrayLike<number>,
  gridIndex: ArrayLike<number>,
  rowCount: number,
  channels: number,
): { dRows: Float64Array; dToken: Float64Array } {
  const dRows = new Float64Array(rowCount * channels);
  const dToken = new Float64Array(channels);
  for (let pixel = 0; pixel < gridIndex.length; pixel++) {
    const row = gridIndex[pixel];
    for (let c = 0; c < channels; c++) {
      if (row >= 0) dRows[row * channels + c] += dOut[pixel * channels + c];
      else dToken[c] += dOut[pixel * channels + c];
    }
  }
  return { dRows, dToken };
}
