/** Float64 twins of shaders/reduce.wgsl. */

export function sum(x: ArrayLike<number>, squares = false): number {
  let total = 0;
  for (let i = 0; i < x.length; i++) total += squares ? x[i] * x[i] : x[i];
  return total;
}

/** Σ_r x[r, c] for row-major x[rows, cols], plus the previous output when accumulating. */
export function columnSum(
  x: ArrayLike<number>,
  rows: number,
  cols: number,
  accumulateInto?: ArrayLike<number>,
): Float64Array {
  const out = new Float64Array(cols);
  for (let c = 0; c < cols; c++) {
    let total = accumulateInto ? accumulateInto[c] : 0;
    for (let r = 0; r < rows; r++) total += x[r * cols + c];
    out[c] = total;
  }
  return out;
}

/** [Σx² per segment..., Σ over segments, √ of that]: the layout of segmentSumSquares' output. */
export function segmentSumSquares(
  x: ArrayLike<number>,
  segments: ReadonlyArray<{ offset: number; length: number }>,
): Float64Array {
  const out = new Float64Array(segments.length + 2);
  let total = 0;
  segments.forEach(({ offset, length }, s) => {
    let segmentTotal = 0;
    for (let i = offset; i < offset + length; i++) segmentTotal += x[i] * x[i];
    out[s] = segmentTotal;
    total += segmentTotal;
  });
  out[segments.length] = total;
  out[segments.length + 1] = Math.sqrt(total);
  return out;
}
