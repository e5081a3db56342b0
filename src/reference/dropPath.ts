/**
 * Float64 twins of shaders/drop_path.wgsl (rows) and of drop path in the NCHW reference model: the residual
 * branch of image b multiplied by factor[b] (0 = dropped, 1 / keep probability = kept).
 */
import { type Tape, Tensor } from './spark/tape';

/** out[r, c] = x[r, c] · factors[imageOfRow[r]]; also the backward (dx from dy): the map is diagonal. */
export function dropPathRows(
  x: ArrayLike<number>,
  channels: number,
  imageOfRow: ArrayLike<number>,
  factors: ArrayLike<number>,
): Float64Array {
  const rows = x.length / channels;
  if (!Number.isInteger(rows) || imageOfRow.length < rows)
    throw new RangeError(
      `dropPathRows: ${x.length} values are not ${imageOfRow.length} rows of ${channels}.`,
    );
  const out = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    const f = factors[imageOfRow[r]];
    for (let c = 0; c < channels; c++) out[r * channels + c] = x[r * channels + c] * f;
  }
  return out;
}

/** NCHW on the tape: out[b] = x[b] · factors[b]; backward dx[b] += dy[b] · factors[b]. */
export function dropPathNchw(tape: Tape, x: Tensor, factors: ArrayLike<number>): Tensor {
  const n = x.shape[0];
  if (factors.length < n) throw new RangeError(`dropPathNchw: ${factors.length} factors for ${n} images.`);
  const per = x.data.length / n;
  const out = Tensor.zeros(x.shape);
  for (let i = 0; i < x.data.length; i++) out.data[i] = x.data[i] * factors[Math.floor(i / per)];
  tape.record(out, (dY) => {
    const dX = x.gradBuffer();
    for (let i = 0; i < dY.length; i++) dX[i] += dY[i] * factors[Math.floor(i / per)];
  });
  return out;
}
