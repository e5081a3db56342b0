/**
 * Float64 twins of the dense conv kernels (shaders/conv/): dense 2-D convolution in NHWC with HWIO weights (or [kh, kw, C] for
 * depthwise), optional bias and an optional output mask at cell resolution. Written as plain loops over the
 * definition, not as GEMMs, so they check the GPU's index arithmetic independently.
 */

export interface Conv2dShape {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outC: number;
  kernelH: number;
  kernelW: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  /** groups = C (then outC must equal inC); otherwise groups = 1. */
  depthwise: boolean;
}

/** Output mask at cell resolution: out[b, y, x, :] *= data[b, y / cellH, x / cellW] (1 = visible). */
export interface CellMask {
  data: ArrayLike<number>;
  gridH: number;
  gridW: number;
  cellH: number;
  cellW: number;
}

export function conv2dOutSize(shape: Conv2dShape): { outH: number; outW: number } {
  return {
    outH: Math.floor((shape.inH + 2 * shape.padH - shape.kernelH) / shape.strideH) + 1,
    outW: Math.floor((shape.inW + 2 * shape.padW - shape.kernelW) / shape.strideW) + 1,
  };
}

export function maskValue(mask: CellMask | undefined, b: number, y: number, x: number): number {
  if (!mask) return 1;
  return mask.data[(b * mask.gridH + Math.floor(y / mask.cellH)) * mask.gridW + Math.floor(x / mask.cellW)];
}

function weightIndex(s: Conv2dShape, ky: number, kx: number, ci: number, co: number): number {
  return s.depthwise
    ? (ky * s.kernelW + kx) * s.inC + ci
    : ((ky * s.kernelW + kx) * s.inC + ci) * s.outC + co;
}

/** Visits every (output pixel, tap, input pixel) triple that contributes, with in-range input positions. */
function forEachTap(
  s: Conv2dShape,
  visit: (b: number, oy: number, ox: number, ky: number, kx: number, iy: number, ix: number) => void,
): void {
  const { outH, outW } = conv2dOutSize(s);
  for (let b = 0; b < s.batch; b++)
    for (let oy = 0; oy < outH; oy++)
      for (let ox = 0; ox < outW; ox++)
        for (let ky = 0; ky < s.kernelH; ky++) {
          const iy = oy * s.strideH - s.padH + ky;
          if (iy < 0 || iy >= s.inH) continue;
          for (let kx = 0; kx < s.kernelW; kx++) {
            const ix = ox * s.strideW - s.padW + kx;
            if (ix < 0 || ix >= s.inW) continue;
            visit(b, oy, ox, ky, kx, iy, ix);
          }
        }
}

export function conv2dForward(
  s: Conv2dShape,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias?: ArrayLike<number>,
  mask?: CellMask,
): Float64Array {
  const { outH, outW } = conv2dOutSize(s);
  const y = new Float64Array(s.batch * outH * outW * s.outC);
  forEachTap(s, (b, oy, ox, ky, kx, iy, ix) => {
    const xBase = ((b * s.inH + iy) * s.inW + ix) * s.inC;
    const yBase = ((b * outH + oy) * outW + ox) * s.outC;
    if (s.depthwise) {
      for (let c = 0; c < s.inC; c++) y[yBase + c] += x[xBase + c] * w[weightIndex(s, ky, kx, c, c)];
    } else {
      for (let ci = 0; ci < s.inC; ci++)
        for (let co = 0; co < s.outC; co++)
          y[yBase + co] += x[xBase + ci] * w[weightIndex(s, ky, kx, ci, co)];
    }
  });
  for (let b = 0; b < s.batch; b++)
    for (let oy = 0; oy < outH; oy++)
      for (let ox = 0; ox < outW; ox++) {
        const m = maskValue(mask, b, oy, ox);
        const base = ((b * outH + oy) * outW + ox) * s.outC;
        for (let co = 0; co < s.outC; co++) y[base + co] = (y[base + co] + (bias ? bias[co] : 0)) * m;
      }
  return y;
}

/** dy with the forward's output mask applied (the mask epilogue's backward). */
function maskedGrad(s: Conv2dShape, dy: ArrayLike<number>, mask?: CellMask): ArrayLike<number> {
  if (!mask) return dy;
  const { outH, outW } = conv2dOutSize(s);
  const out = new Float64Array(dy.length);
  for (let b = 0; b < s.batch; b++)
    for (let oy = 0; oy < outH; oy++)
      for (let ox = 0; ox < outW; ox++) {
        const m = maskValue(mask, b, oy, ox);
        const base = ((b * outH + oy) * outW + ox) * s.outC;
        for (let c = 0; c < s.outC; c++) out[base + c] = dy[base + c] * m;
      }
  return out;
}

export function conv2dBackwardInput(
  s: Conv2dShape,
  dyRaw: ArrayLike<number>,
  w: ArrayLike<number>,
  mask?: CellMask,
): Float64Array {
  const dy = maskedGrad(s, dyRaw, mask);
  const { outH, outW } = conv2dOutSize(s);
  const dx = new Float64Array(s.batch * s.inH * s.inW * s.inC);
  forEachTap(s, (b, oy, ox, ky, kx, iy, ix) => {
    const xBase = ((b * s.inH + iy) * s.inW + ix) * s.inC;
    const yBase = ((b * outH + oy) * outW + ox) * s.outC;
    if (s.depthwise) {
      for (let c = 0; c < s.inC; c++) dx[xBase + c] += dy[yBase + c] * w[weightIndex(s, ky, kx, c, c)];
    } else {
      for (let ci = 0; ci < s.inC; ci++)
        for (let co = 0; co < s.outC; co++)
          dx[xBase + ci] += dy[yBase + co] * w[weightIndex(s, ky, kx, ci, co)];
    }
  });
  return dx;
}

export function conv2dBackwardWeight(
  s: Conv2dShape,
  x: ArrayLike<number>,
  dyRaw: ArrayLike<number>,
  mask?: CellMask,
): Float64Array {
  const dy = maskedGrad(s, dyRaw, mask);
  const { outH, outW } = conv2dOutSize(s);
  const dw = new Float64Array(s.kernelH * s.kernelW * s.inC * (s.depthwise ? 1 : s.outC));
  forEachTap(s, (b, oy, ox, ky, kx, iy, ix) => {
    const xBase = ((b * s.inH + iy) * s.inW + ix) * s.inC;
    const yBase = ((b * outH + oy) * outW + ox) * s.outC;
    if (s.depthwise) {
      for (let c = 0; c < s.inC; c++) dw[weightIndex(s, ky, kx, c, c)] += x[xBase + c] * dy[yBase + c];
    } else {
      for (let ci = 0; ci < s.inC; ci++)
        for (let co = 0; co < s.outC; co++)
          dw[weightIndex(s, ky, kx, ci, co)] += x[xBase + ci] * dy[yBase + co];
    }
  });
  return dw;
}

/** Bias gradient: the column sum of (masked) dy over batch and space. */
export function conv2dBackwardBias(s: Conv2dShape, dyRaw: ArrayLike<number>, mask?: CellMask): Float64Array {
  const dy = maskedGrad(s, dyRaw, mask);
  const db = new Float64Array(s.outC);
  for (let i = 0; i < dy.length; i++) db[i % s.outC] += dy[i];
  return db;
}
