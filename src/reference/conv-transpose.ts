/**
 * Float64 twins of the transposed convolution (PyTorch ConvTranspose2d semantics, NHWC activations, weights
 * [kh, kw, Cin, Cout]): out[b, i·s − p + k, co] += x[b, i, ci] · W[k, ci, co], plus bias.
 */

export interface ConvTransposeShape {
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
}

export function convTransposeOutSize(s: ConvTransposeShape): { outH: number; outW: number } {
  return {
    outH: (s.inH - 1) * s.strideH - 2 * s.padH + s.kernelH,
    outW: (s.inW - 1) * s.strideW - 2 * s.padW + s.kernelW,
  };
}

function forEachContribution(
  s: ConvTransposeShape,
  visit: (xBase: number, yBase: number, wBase: number) => void,
): void {
  const { outH, outW } = convTransposeOutSize(s);
  for (let b = 0; b < s.batch; b++)
    for (let iy = 0; iy < s.inH; iy++)
      for (let ix = 0; ix < s.inW; ix++)
        for (let ky = 0; ky < s.kernelH; ky++) {
          const oy = iy * s.strideH - s.padH + ky;
          if (oy < 0 || oy >= outH) continue;
          for (let kx = 0; kx < s.kernelW; kx++) {
            const ox = ix * s.strideW - s.padW + kx;
            if (ox < 0 || ox >= outW) continue;
            visit(
              ((b * s.inH + iy) * s.inW + ix) * s.inC,
              ((b * outH + oy) * outW + ox) * s.outC,
              (ky * s.kernelW + kx) * s.inC * s.outC,
            );
          }
        }
}

export function convTransposeForward(
  s: ConvTransposeShape,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias?: ArrayLike<number>,
): Float64Array {
  const { outH, outW } = convTransposeOutSize(s);
  const y = new Float64Array(s.batch * outH * outW * s.outC);
  forEachContribution(s, (xBase, yBase, wBase) => {
    for (let ci = 0; ci < s.inC; ci++)
      for (let co = 0; co < s.outC; co++) y[yBase + co] += x[xBase + ci] * w[wBase + ci * s.outC + co];
  });
  if (bias) for (let i = 0; i < y.length; i++) y[i] += bias[i % s.outC];
  return y;
}

export function convTransposeBackwardInput(
  s: ConvTransposeShape,
  dy: ArrayLike<number>,
  w: ArrayLike<number>,
): Float64Array {
  const dx = new Float64Array(s.batch * s.inH * s.inW * s.inC);
  forEachContribution(s, (xBase, yBase, wBase) => {
    for (let ci = 0; ci < s.inC; ci++)
      for (let co = 0; co < s.outC; co++) dx[xBase + ci] += dy[yBase + co] * w[wBase + ci * s.outC + co];
  });
  return dx;
}

export function convTransposeBackwardWeight(
  s: ConvTransposeShape,
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
): Float64Array {
  const dw = new Float64Array(s.kernelH * s.kernelW * s.inC * s.outC);
  forEachContribution(s, (xBase, yBase, wBase) => {
    for (let ci = 0; ci < s.inC; ci++)
      for (let co = 0; co < s.outC; co++) dw[wBase + ci * s.outC + co] += x[xBase + ci] * dy[yBase + co];
  });
  return dw;
}

export function convTransposeBackwardBias(s: ConvTransposeShape, dy: ArrayLike<number>): Float64Array {
  const db = new Float64Array(s.outC);
  for (let i = 0; i < dy.length; i++) db[i % s.outC] += dy[i];
  return db;
}
