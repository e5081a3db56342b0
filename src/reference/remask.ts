/** Float64 twin of shaders/sparse/remask.wgsl: a dense NHWC map times its cell mask (broadcast over C). */
import type { RemaskShape } from '../sparse/remask';

export function remaskRef(shape: RemaskShape, a: ArrayLike<number>, cells: ArrayLike<number>): Float64Array {
  const { batch, height, width, channels, gridH, gridW } = shape;
  const side = height / gridH;
  const out = new Float64Array(batch * height * width * channels);
  for (let b = 0; b < batch; b++)
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const keep = cells[(b * gridH + Math.floor(y / side)) * gridW + Math.floor(x / side)];
        const p = ((b * height + y) * width + x) * channels;
        for (let c = 0; c < channels; c++) out[p + c] = a[p + c] * keep;
      }
  return out;
}
