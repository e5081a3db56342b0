/**
 * Float64 twins of the gathered sparse convolutions. They look neighbours up through the site coordinates and
 * grid index directly (not through the neighbour maps the GPU uses), so a test also checks the maps.
 * Semantics (spark-spec §2.1): outputs exist only at the output scale's active sites; a neighbour that is
 * masked or outside the image reads as 0.
 * Weights: HWIO [k, k, Cin, Cout] for dense-channel convs, [k, k, C] for depthwise.
 */
import type { SiteSet, WindowGeometry } from '../sparse/sites';

function inputRow(input: SiteSet, b: number, y: number, x: number): number {
  if (y < 0 || y >= input.height || x < 0 || x >= input.width) return -1;
  return input.gridIndex[(b * input.height + y) * input.width + x];
}

/** Calls visit(outputRow, tap, inputRow) for every present neighbour. */
function forEachPair(
  input: SiteSet,
  output: SiteSet,
  { kernel: k, stride, padding }: WindowGeometry,
  visit: (o: number, t: number, i: number) => void,
): void {
  for (let o = 0; o < output.rows; o++) {
    const [b, oy, ox] = [output.coords[o * 3], output.coords[o * 3 + 1], output.coords[o * 3 + 2]];
    for (let ky = 0; ky < k; ky++)
      for (let kx = 0; kx < k; kx++) {
        const i = inputRow(input, b, oy * stride - padding + ky, ox * stride - padding + kx);
        if (i >= 0) visit(o, ky * k + kx, i);
      }
  }
}

export function sparseConvRef(
  x: ArrayLike<number>,
  input: SiteSet,
  output: SiteSet,
  weight: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
  geometry: WindowGeometry,
  cin: number,
  cout: number,
): Float64Array {
  const y = new Float64Array(output.rows * cout);
  if (bias) for (let o = 0; o < output.rows; o++) for (let n = 0; n < cout; n++) y[o * cout + n] = bias[n];
  forEachPair(input, output, geometry, (o, t, i) => {
    for (let j = 0; j < cin; j++) {
      const v = x[i * cin + j];
      const wBase = (t * cin + j) * cout;
      for (let n = 0; n < cout; n++) y[o * cout + n] += v * weight[wBase + n];
    }
  });
  return y;
}

export function sparseConvBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  input: SiteSet,
  output: SiteSet,
  weight: ArrayLike<number>,
  geometry: WindowGeometry,
  cin: number,
  cout: number,
): { dx: Float64Array; dWeight: Float64Array; dBias: Float64Array } {
  const dx = new Float64Array(input.rows * cin);
  const dWeight = new Float64Array(weight.length);
  const dBias = new Float64Array(cout);
  for (let o = 0; o < output.rows; o++) for (let n = 0; n < cout; n++) dBias[n] += dy[o * cout + n];
  forEachPair(input, output, geometry, (o, t, i) => {
    for (let j = 0; j < cin; j++) {
      const wBase = (t * cin + j) * cout;
      let acc = 0;
      for (let n = 0; n < cout; n++) {
        acc += dy[o * cout + n] * weight[wBase + n];
        dWeight[wBase + n] += x[i * cin + j] * dy[o * cout + n];
      }
      dx[i * cin + j] += acc;
    }
  });
  return { dx, dWeight, dBias };
}

export function sparseDepthwiseRef(
  x: ArrayLike<number>,
  input: SiteSet,
  output: SiteSet,
  weight: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
  geometry: WindowGeometry,
  channels: number,
): Float64Array {
  const y = new Float64Array(output.rows * channels);
  if (bias)
    for (let o = 0; o < output.rows; o++) for (let c = 0; c < channels; c++) y[o * channels + c] = bias[c];
  forEachPair(input, output, geometry, (o, t, i) => {
    for (let c = 0; c < channels; c++) y[o * channels + c] += x[i * channels + c] * weight[t * channels + c];
  });
  return y;
}

export function sparseDepthwiseBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  input: SiteSet,
  output: SiteSet,
  weight: ArrayLike<number>,
  geometry: WindowGeometry,
  channels: number,
): { dx: Float64Array; dWeight: Float64Array; dBias: Float64Array } {
  const dx = new Float64Array(input.rows * channels);
  const dWeight = new Float64Array(weight.length);
  const dBias = new Float64Array(channels);
  for (let o = 0; o < output.rows; o++) for (let c = 0; c < channels; c++) dBias[c] += dy[o * channels + c];
  forEachPair(input, output, geometry, (o, t, i) => {
    for (let c = 0; c < channels; c++) {
      dx[i * channels + c] += dy[o * channels + c] * weight[t * channels + c];
      dWeight[t * channels + c] += dy[o * channels + c] * x[i * channels + c];
    }
  });
  return { dx, dWeight, dBias };
}

/**
 * The official computation (dense NHWC conv, zero padding, HWIO weight, groups 1 or depthwise when
 * `depthwise`), optionally followed by a multiply with a [B, Ho, Wo] 0/1 mask: the oracle the gathered
 * kernels must equal at visible sites.
 */
export function denseConvRef(
  x: ArrayLike<number>,
  batch: number,
  height: number,
  width: number,
  cin: number,
  weight: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
  { kernel: k, stride, padding }: WindowGeometry,
  cout: number,
  options: { depthwise?: boolean; outputMask?: ArrayLike<number> } = {},
): { y: Float64Array; outH: number; outW: number } {
  const outH = Math.floor((height + 2 * padding - k) / stride) + 1;
  const outW = Math.floor((width + 2 * padding - k) / stride) + 1;
  const y = new Float64Array(batch * outH * outW * cout);
  for (let b = 0; b < batch; b++)
    for (let oy = 0; oy < outH; oy++)
      for (let ox = 0; ox < outW; ox++) {
        const o = (b * outH + oy) * outW + ox;
        for (let n = 0; n < cout; n++) y[o * cout + n] = bias ? bias[n] : 0;
        for (let ky = 0; ky < k; ky++)
          for (let kx = 0; kx < k; kx++) {
            const iy = oy * stride - padding + ky;
            const ix = ox * stride - padding + kx;
            if (iy < 0 || iy >= height || ix < 0 || ix >= width) continue;
            const i = (b * height + iy) * width + ix;
            const t = ky * k + kx;
            if (options.depthwise) {
              for (let c = 0; c < cout; c++) y[o * cout + c] += x[i * cin + c] * weight[t * cout + c];
            } else {
              for (let j = 0; j < cin; j++)
                for (let n = 0; n < cout; n++)
                  y[o * cout + n] += x[i * cin + j] * weight[(t * cin + j) * cout + n];
            }
          }
        if (options.outputMask && options.outputMask[o] === 0)
          for (let n = 0; n < cout; n++) y[o * cout + n] = 0;
      }
  return { y, outH, outW };
}
