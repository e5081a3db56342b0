/**
 * Float64 NCHW layers of the official SparK computation, each with its hand-written backward recorded on the
 * tape. Written for clarity first; inner loops run over a contiguous output row without per-element
 * closures so that the parity fixtures run in seconds.
 *
 * `Active` is the site mask at a tensor's own resolution ([N, H, W], 1 = active) or null for "all active"
 * (dense layers, and every layer of the dense-zero encoder).
 */
import { erf } from '../eltwise';
import { type Tape, Tensor } from './tape';

export type Active = Uint8Array | null;

/** Nearest upsampling of the cell mask [N, g, g] to [N, H, W] (repeat_interleave), H a multiple of g. */
export function activeAt(cells: Uint8Array, batch: number, grid: number, size: number): Uint8Array {
  if (size % grid !== 0)
    throw new RangeError(
      `A ${size}×${size} map is not a whole number of cells of the ${grid}×${grid} mask grid.`,
    );
  const f = size / grid;
  const out = new Uint8Array(batch * size * size);
  for (let n = 0; n < batch; n++)
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        out[(n * size + y) * size + x] = cells[(n * grid + ((y / f) | 0)) * grid + ((x / f) | 0)];
  return out;
}

export interface ConvOptions {
  stride: number;
  pad: number;
  groups?: number;
}

/** Conv2d: x [N, Ci, H, W], w [Co, Ci/groups, k, k] (official layout), optional bias [Co]. */
export function conv2d(tape: Tape, x: Tensor, w: Tensor, bias: Tensor | null, o: ConvOptions): Tensor {
  const [n, ci, h, wd] = x.shape;
  const [co, cig, kh, kw] = w.shape;
  const groups = o.groups ?? 1;
  if (cig * groups !== ci) throw new RangeError(`conv: weight [${w.shape}] does not fit input [${x.shape}]`);
  const { stride: s, pad: p } = o;
  const ho = Math.floor((h + 2 * p - kh) / s) + 1;
  const wo = Math.floor((wd + 2 * p - kw) / s) + 1;
  const out = Tensor.zeros([n, co, ho, wo]);
  const cog = co / groups;
  const X = x.data;
  const W = w.data;
  const Y = out.data;
  // Output columns whose input column ox·s − p + kx lies inside the image, per kx.
  const oxLo = new Int32Array(kw);
  const oxHi = new Int32Array(kw);
  for (let kx = 0; kx < kw; kx++) {
    oxLo[kx] = Math.max(0, Math.ceil((p - kx) / s));
    oxHi[kx] = Math.min(wo - 1, Math.floor((wd - 1 + p - kx) / s));
  }
  const loop = (
    visit: (yRow: number, xRow: number, wIndex: number, lo: number, hi: number, kx: number) => void,
  ) => {
    for (let b = 0; b < n; b++)
      for (let oc = 0; oc < co; oc++) {
        const g = Math.floor(oc / cog);
        for (let icl = 0; icl < cig; icl++) {
          const ic = g * cig + icl;
          for (let ky = 0; ky < kh; ky++)
            for (let oy = 0; oy < ho; oy++) {
              const iy = oy * s - p + ky;
              if (iy < 0 || iy >= h) continue;
              const yRow = ((b * co + oc) * ho + oy) * wo;
              const xRow = ((b * ci + ic) * h + iy) * wd;
              for (let kx = 0; kx < kw; kx++)
                visit(yRow, xRow - p + kx, ((oc * cig + icl) * kh + ky) * kw + kx, oxLo[kx], oxHi[kx], kx);
            }
        }
      }
  };
  loop((yRow, xBase, wi, lo, hi) => {
    const wv = W[wi];
    for (let ox = lo; ox <= hi; ox++) Y[yRow + ox] += wv * X[xBase + ox * s];
  });
  if (bias) {
    const B = bias.data;
    for (let b = 0; b < n; b++)
      for (let oc = 0; oc < co; oc++) {
        const base = (b * co + oc) * ho * wo;
        for (let i = 0; i < ho * wo; i++) Y[base + i] += B[oc];
      }
  }
  tape.record(out, (dY) => {
    const dX = x.gradBuffer();
    const dW = w.gradBuffer();
    loop((yRow, xBase, wi, lo, hi) => {
      const wv = W[wi];
      let acc = 0;
      for (let ox = lo; ox <= hi; ox++) {
        const g = dY[yRow + ox];
        dX[xBase + ox * s] += wv * g;
        acc += g * X[xBase + ox * s];
      }
      dW[wi] += acc;
    });
    if (bias) {
      const dB = bias.gradBuffer();
      for (let b = 0; b < n; b++)
        for (let oc = 0; oc < co; oc++) {
          const base = (b * co + oc) * ho * wo;
          let acc = 0;
          for (let i = 0; i < ho * wo; i++) acc += dY[base + i];
          dB[oc] += acc;
        }
    }
  });
  return out;
}

/**
 * nn.Linear applied at every position of an NCHW map (ConvNeXt pwconv1/pwconv2 run on the channels_last
 * permutation): out[n, o, y, x] = Σ_i w[o, i] · x[n, i, y, x] + b[o], with w in the official [out, in] layout.
 */
export function pointwiseLinear(tape: Tape, x: Tensor, w: Tensor, bias: Tensor): Tensor {
  const [n, ci, h, wd] = x.shape;
  const [co, wi] = w.shape;
  if (wi !== ci) throw new RangeError(`linear: weight [${w.shape}] does not fit input [${x.shape}]`);
  const hw = h * wd;
  const out = Tensor.zeros([n, co, h, wd]);
  const X = x.data;
  const W = w.data;
  const Y = out.data;
  for (let b = 0; b < n; b++)
    for (let o = 0; o < co; o++) {
      const yBase = (b * co + o) * hw;
      for (let k = 0; k < hw; k++) Y[yBase + k] = bias.data[o];
      for (let i = 0; i < ci; i++) {
        const wv = W[o * ci + i];
        const xBase = (b * ci + i) * hw;
        for (let k = 0; k < hw; k++) Y[yBase + k] += wv * X[xBase + k];
      }
    }
  tape.record(out, (dY) => {
    const dX = x.gradBuffer();
    const dW = w.gradBuffer();
    const dB = bias.gradBuffer();
    for (let b = 0; b < n; b++)
      for (let o = 0; o < co; o++) {
        const yBase = (b * co + o) * hw;
        let sum = 0;
        for (let k = 0; k < hw; k++) sum += dY[yBase + k];
        dB[o] += sum;
        for (let i = 0; i < ci; i++) {
          const wv = W[o * ci + i];
          const xBase = (b * ci + i) * hw;
          let acc = 0;
          for (let k = 0; k < hw; k++) {
            dX[xBase + k] += wv * dY[yBase + k];
            acc += dY[yBase + k] * X[xBase + k];
          }
          dW[o * ci + i] += acc;
        }
      }
  });
  return out;
}

/** ConvTranspose2d: x [N, Ci, H, W], w [Ci, Co, k, k] (official layout), bias [Co]. */
export function convTranspose2d(
  tape: Tape,
  x: Tensor,
  w: Tensor,
  bias: Tensor | null,
  o: ConvOptions,
): Tensor {
  const [n, ci, h, wd] = x.shape;
  const [wci, co, kh, kw] = w.shape;
  if (wci !== ci) throw new RangeError(`convT: weight [${w.shape}] does not fit input [${x.shape}]`);
  const { stride: s, pad: p } = o;
  const ho = (h - 1) * s - 2 * p + kh;
  const wo = (wd - 1) * s - 2 * p + kw;
  const out = Tensor.zeros([n, co, ho, wo]);
  const X = x.data;
  const W = w.data;
  const Y = out.data;
  // Input columns ix whose output column ix·s − p + kx lies inside the output, per kx.
  const ixLo = new Int32Array(kw);
  const ixHi = new Int32Array(kw);
  for (let kx = 0; kx < kw; kx++) {
    ixLo[kx] = Math.max(0, Math.ceil((p - kx) / s));
    ixHi[kx] = Math.min(wd - 1, Math.floor((wo - 1 + p - kx) / s));
  }
  const loop = (visit: (xRow: number, yBase: number, wIndex: number, lo: number, hi: number) => void) => {
    for (let b = 0; b < n; b++)
      for (let ic = 0; ic < ci; ic++)
        for (let oc = 0; oc < co; oc++)
          for (let ky = 0; ky < kh; ky++)
            for (let iy = 0; iy < h; iy++) {
              const oy = iy * s - p + ky;
              if (oy < 0 || oy >= ho) continue;
              const xRow = ((b * ci + ic) * h + iy) * wd;
              const yRow = ((b * co + oc) * ho + oy) * wo;
              for (let kx = 0; kx < kw; kx++)
                visit(xRow, yRow - p + kx, ((ic * co + oc) * kh + ky) * kw + kx, ixLo[kx], ixHi[kx]);
            }
  };
  loop((xRow, yBase, wi, lo, hi) => {
    const wv = W[wi];
    for (let ix = lo; ix <= hi; ix++) Y[yBase + ix * s] += wv * X[xRow + ix];
  });
  if (bias) {
    for (let b = 0; b < n; b++)
      for (let oc = 0; oc < co; oc++) {
        const base = (b * co + oc) * ho * wo;
        for (let i = 0; i < ho * wo; i++) Y[base + i] += bias.data[oc];
      }
  }
  tape.record(out, (dY) => {
    const dX = x.gradBuffer();
    const dW = w.gradBuffer();
    loop((xRow, yBase, wi, lo, hi) => {
      const wv = W[wi];
      let acc = 0;
      for (let ix = lo; ix <= hi; ix++) {
        const g = dY[yBase + ix * s];
        dX[xRow + ix] += wv * g;
        acc += g * X[xRow + ix];
      }
      dW[wi] += acc;
    });
    if (bias) {
      const dB = bias.gradBuffer();
      for (let b = 0; b < n; b++)
        for (let oc = 0; oc < co; oc++) {
          const base = (b * co + oc) * ho * wo;
          let acc = 0;
          for (let i = 0; i < ho * wo; i++) acc += dY[base + i];
          dB[oc] += acc;
        }
    }
  });
  return out;
}

/** out = x · active (SparseConv2d / SparseMaxPooling re-masking, the ConvNeXt block's mask). */
export function maskMultiply(tape: Tape, x: Tensor, active: Active): Tensor {
  if (!active) return x;
  const [n, c, h, w] = x.shape;
  const hw = h * w;
  const out = Tensor.zeros(x.shape);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++) {
      const base = (b * c + ch) * hw;
      for (let i = 0; i < hw; i++) if (active[b * hw + i]) out.data[base + i] = x.data[base + i];
    }
  tape.record(out, (dY) => {
    const dX = x.gradBuffer();
    for (let b = 0; b < n; b++)
      for (let ch = 0; ch < c; ch++) {
        const base = (b * c + ch) * hw;
        for (let i = 0; i < hw; i++) if (active[b * hw + i]) dX[base + i] += dY[base + i];
      }
  });
  return out;
}

export interface BatchNormState {
  weight: Tensor;
  bias: Tensor;
  runningMean: Float64Array;
  runningVar: Float64Array;
  /** num_batches_tracked, incremented by each training forward. */
  tracked: { value: number };
}

export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;
export const LN_EPS = 1e-6;

/**
 * BatchNorm over the active sites only (SparseBatchNorm2d; with active = null, ordinary BatchNorm2d).
 * Training: biased batch statistics normalise, running stats move by momentum 0.1 with the unbiased
 * variance. Eval: running statistics. Inactive sites output 0 (not β).
 */
export function batchNorm(
  tape: Tape,
  x: Tensor,
  active: Active,
  bn: BatchNormState,
  training: boolean,
): Tensor {
  const [n, c, h, w] = x.shape;
  const hw = h * w;
  const X = x.data;
  const out = Tensor.zeros(x.shape);
  const Y = out.data;
  let count = 0;
  if (active) for (let i = 0; i < n * hw; i++) count += active[i];
  else count = n * hw;
  const isActive = (b: number, i: number) => active === null || active[b * hw + i] === 1;
  const mean = new Float64Array(c);
  const invStd = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    let mu: number;
    let variance: number;
    if (training) {
      let sum = 0;
      for (let b = 0; b < n; b++) {
        const base = (b * c + ch) * hw;
        for (let i = 0; i < hw; i++) if (isActive(b, i)) sum += X[base + i];
      }
      mu = sum / count;
      let sq = 0;
      for (let b = 0; b < n; b++) {
        const base = (b * c + ch) * hw;
        for (let i = 0; i < hw; i++) if (isActive(b, i)) sq += (X[base + i] - mu) ** 2;
      }
      variance = sq / count;
      bn.runningMean[ch] = (1 - BN_MOMENTUM) * bn.runningMean[ch] + BN_MOMENTUM * mu;
      const unbiased = count > 1 ? (variance * count) / (count - 1) : variance;
      bn.runningVar[ch] = (1 - BN_MOMENTUM) * bn.runningVar[ch] + BN_MOMENTUM * unbiased;
    } else {
      mu = bn.runningMean[ch];
      variance = bn.runningVar[ch];
    }
    mean[ch] = mu;
    invStd[ch] = 1 / Math.sqrt(variance + BN_EPS);
    const g = bn.weight.data[ch];
    const beta = bn.bias.data[ch];
    for (let b = 0; b < n; b++) {
      const base = (b * c + ch) * hw;
      for (let i = 0; i < hw; i++)
        if (isActive(b, i)) Y[base + i] = (X[base + i] - mu) * invStd[ch] * g + beta;
    }
  }
  if (training) bn.tracked.value += 1;
  tape.record(out, (dY) => {
    if (!training) throw new Error('The reference only differentiates batch norm in training mode.');
    const dX = x.gradBuffer();
    const dG = bn.weight.gradBuffer();
    const dB = bn.bias.gradBuffer();
    for (let ch = 0; ch < c; ch++) {
      let sumDy = 0;
      let sumDyXhat = 0;
      for (let b = 0; b < n; b++) {
        const base = (b * c + ch) * hw;
        for (let i = 0; i < hw; i++)
          if (isActive(b, i)) {
            const xhat = (X[base + i] - mean[ch]) * invStd[ch];
            sumDy += dY[base + i];
            sumDyXhat += dY[base + i] * xhat;
          }
      }
      dB[ch] += sumDy;
      dG[ch] += sumDyXhat;
      const scale = (bn.weight.data[ch] * invStd[ch]) / count;
      for (let b = 0; b < n; b++) {
        const base = (b * c + ch) * hw;
        for (let i = 0; i < hw; i++)
          if (isActive(b, i)) {
            const xhat = (X[base + i] - mean[ch]) * invStd[ch];
            dX[base + i] += scale * (count * dY[base + i] - sumDy - xhat * sumDyXhat);
          }
      }
    }
  });
  return out;
}

/**
 * LayerNorm over channels at each active site (SparseConvNeXtLayerNorm, eps 1e-6; channels_first and
 * channels_last are the same computation in NCHW). Inactive sites output 0.
 */
export function layerNorm(tape: Tape, x: Tensor, active: Active, weight: Tensor, bias: Tensor): Tensor {
  const [n, c, h, w] = x.shape;
  const hw = h * w;
  const X = x.data;
  const out = Tensor.zeros(x.shape);
  const Y = out.data;
  const mean = new Float64Array(n * hw);
  const invStd = new Float64Array(n * hw);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < hw; i++) {
      if (active && !active[b * hw + i]) continue;
      let sum = 0;
      for (let ch = 0; ch < c; ch++) sum += X[(b * c + ch) * hw + i];
      const mu = sum / c;
      let sq = 0;
      for (let ch = 0; ch < c; ch++) sq += (X[(b * c + ch) * hw + i] - mu) ** 2;
      const inv = 1 / Math.sqrt(sq / c + LN_EPS);
      mean[b * hw + i] = mu;
      invStd[b * hw + i] = inv;
      for (let ch = 0; ch < c; ch++) {
        const k = (b * c + ch) * hw + i;
        Y[k] = (X[k] - mu) * inv * weight.data[ch] + bias.data[ch];
      }
    }
  tape.record(out, (dY) => {
    const dX = x.gradBuffer();
    const dW = weight.gradBuffer();
    const dB = bias.gradBuffer();
    for (let b = 0; b < n; b++)
      for (let i = 0; i < hw; i++) {
        if (active && !active[b * hw + i]) continue;
        const mu = mean[b * hw + i];
        const inv = invStd[b * hw + i];
        let meanDxhat = 0;
        let meanDxhatXhat = 0;
        for (let ch = 0; ch < c; ch++) {
          const k = (b * c + ch) * hw + i;
          const xhat = (X[k] - mu) * inv;
          const dxhat = dY[k] * weight.data[ch];
          meanDxhat += dxhat;
          meanDxhatXhat += dxhat * xhat;
          dW[ch] += dY[k] * xhat;
          dB[ch] += dY[k];
        }
        meanDxhat /= c;
        meanDxhatXhat /= c;
        for (let ch = 0; ch < c; ch++) {
          const k = (b * c + ch) * hw + i;
          const xhat = (X[k] - mu) * inv;
          dX[k] += inv * (dY[k] * weight.data[ch] - meanDxhat - xhat * meanDxhatXhat);
        }
      }
  });
  return out;
}

export type Activation = 'relu' | 'relu6' | 'gelu';

/** Elementwise activation; GELU is the exact erf form of PyTorch's nn.GELU. */
export function activation(tape: Tape, x: Tensor, kind: Activation): Tensor {
  const X = x.data;
  const out = Tensor.zeros(x.shape);
  const Y = out.data;
  if (kind === 'relu') for (let i = 0; i < X.length; i++) Y[i] = Math.max(X[i], 0);
  else if (kind === 'relu6') for (let i = 0; i < X.length; i++) Y[i] = Math.min(Math.max(X[i], 0), 6);
  else for (let i = 0; i < X.length; i++) Y[i] = 0.5 * X[i] * (1 + erf(X[i] / Math.SQRT2));
  tape.record(out, (dY) => {
    const dX = x.gradBuffer();
    if (kind === 'relu') for (let i = 0; i < X.length; i++) dX[i] += X[i] > 0 ? dY[i] : 0;
    else if (kind === 'relu6') for (let i = 0; i < X.length; i++) dX[i] += X[i] > 0 && X[i] < 6 ? dY[i] : 0;
    else
      for (let i = 0; i < X.length; i++) {
        const v = X[i];
        const d = 0.5 * (1 + erf(v / Math.SQRT2)) + (v * Math.exp(-0.5 * v * v)) / Math.sqrt(2 * Math.PI);
        dX[i] += d * dY[i];
      }
  });
  return out;
}

export function add(tape: Tape, a: Tensor, b: Tensor): Tensor {
  if (a.data.length !== b.data.length) throw new RangeError(`add: [${a.shape}] vs [${b.shape}]`);
  const out = Tensor.zeros(a.shape);
  for (let i = 0; i < out.data.length; i++) out.data[i] = a.data[i] + b.data[i];
  tape.record(out, (dY) => {
    const dA = a.gradBuffer();
    const dB = b.gradBuffer();
    for (let i = 0; i < dY.length; i++) {
      dA[i] += dY[i];
      dB[i] += dY[i];
    }
  });
  return out;
}

/** out[n, c] = x[n, c] · scale[c] (ConvNeXt layer-scale γ). */
export function scaleChannels(tape: Tape, x: Tensor, scale: Tensor): Tensor {
  const [n, c, h, w] = x.shape;
  const hw = h * w;
  const out = Tensor.zeros(x.shape);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++) {
      const base = (b * c + ch) * hw;
      for (let i = 0; i < hw; i++) out.data[base + i] = x.data[base + i] * scale.data[ch];
    }
  tape.record(out, (dY) => {
    const dX = x.gradBuffer();
    const dS = scale.gradBuffer();
    for (let b = 0; b < n; b++)
      for (let ch = 0; ch < c; ch++) {
        const base = (b * c + ch) * hw;
        let acc = 0;
        for (let i = 0; i < hw; i++) {
          dX[base + i] += dY[base + i] * scale.data[ch];
          acc += dY[base + i] * x.data[base + i];
        }
        dS[ch] += acc;
      }
  });
  return out;
}

/** Max-pool k×k / stride / pad with −∞ padding (PyTorch), remembering each output's argmax. */
export function maxPool(tape: Tape, x: Tensor, k: number, stride: number, pad: number): Tensor {
  const [n, c, h, w] = x.shape;
  const ho = Math.floor((h + 2 * pad - k) / stride) + 1;
  const wo = Math.floor((w + 2 * pad - k) / stride) + 1;
  const out = Tensor.zeros([n, c, ho, wo]);
  const argmax = new Int32Array(out.data.length);
  for (let plane = 0; plane < n * c; plane++)
    for (let oy = 0; oy < ho; oy++)
      for (let ox = 0; ox < wo; ox++) {
        let best = Number.NEGATIVE_INFINITY;
        let bestAt = -1;
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * stride - pad + ky;
          if (iy < 0 || iy >= h) continue;
          for (let kx = 0; kx < k; kx++) {
            const ix = ox * stride - pad + kx;
            if (ix < 0 || ix >= w) continue;
            const v = x.data[(plane * h + iy) * w + ix];
            // Strictly greater: the first maximum in scan order wins, as in PyTorch.
            if (v > best || bestAt < 0) {
              best = v;
              bestAt = (plane * h + iy) * w + ix;
            }
          }
        }
        const o = (plane * ho + oy) * wo + ox;
        out.data[o] = best;
        argmax[o] = bestAt;
      }
  tape.record(out, (dY) => {
    const dX = x.gradBuffer();
    for (let o = 0; o < dY.length; o++) dX[argmax[o]] += dY[o];
  });
  return out;
}

/** where(active, x, token[c]) — densify's mask-token fill; token null fills zeros. */
export function fillMasked(tape: Tape, x: Tensor, active: Uint8Array, token: Tensor | null): Tensor {
  const [n, c, h, w] = x.shape;
  const hw = h * w;
  const out = Tensor.zeros(x.shape);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++) {
      const base = (b * c + ch) * hw;
      const t = token ? token.data[ch] : 0;
      for (let i = 0; i < hw; i++) out.data[base + i] = active[b * hw + i] ? x.data[base + i] : t;
    }
  tape.record(out, (dY) => {
    const dX = x.gradBuffer();
    const dT = token?.gradBuffer();
    for (let b = 0; b < n; b++)
      for (let ch = 0; ch < c; ch++) {
        const base = (b * c + ch) * hw;
        for (let i = 0; i < hw; i++) {
          if (active[b * hw + i]) dX[base + i] += dY[base + i];
          else if (dT) dT[ch] += dY[base + i];
        }
      }
  });
  return out;
}

export interface LossOptions {
  /** Patch side p = total stride; the grid is S/p × S/p. */
  patch: number;
  /** [N, g, g] cell mask, 1 = visible. */
  cells: Uint8Array;
  normalizeTarget: boolean;
  maskedOnly: boolean;
}

export interface LossResult {
  loss: Tensor;
  /** Per-patch target mean and std = sqrt(var_unbiased + 1e-6), [N, g, g] (for the visualisation). */
  patchMean: Float64Array;
  patchStd: Float64Array;
}

/**
 * The SparK loss: per patch (3·p² values, all channels together) target t = (x − μ)/sqrt(var_unbiased + 1e-6)
 * (or raw x), ℓ = mean (rec − t)², averaged over masked patches (or all): Σ ℓ·m / (Σ m + 1e-8).
 */
export function sparkLoss(tape: Tape, rec: Tensor, input: Tensor, o: LossOptions): LossResult {
  const [n, c, s] = input.shape;
  const p = o.patch;
  const g = s / p;
  const count = c * p * p;
  const patchMean = new Float64Array(n * g * g);
  const patchStd = new Float64Array(n * g * g);
  const target = new Float64Array(input.data.length);
  const weights = new Float64Array(n * g * g);
  let weightSum = 0;
  for (let l = 0; l < n * g * g; l++) {
    weights[l] = o.maskedOnly ? 1 - o.cells[l] : 1;
    weightSum += weights[l];
  }
  const denominator = weightSum + 1e-8;
  const forEachInPatch = (b: number, cy: number, cx: number, visit: (k: number) => void) => {
    for (let ch = 0; ch < c; ch++)
      for (let y = cy * p; y < (cy + 1) * p; y++) {
        const row = ((b * c + ch) * s + y) * s;
        for (let x = cx * p; x < (cx + 1) * p; x++) visit(row + x);
      }
  };
  let total = 0;
  for (let b = 0; b < n; b++)
    for (let cy = 0; cy < g; cy++)
      for (let cx = 0; cx < g; cx++) {
        const l = (b * g + cy) * g + cx;
        let sum = 0;
        forEachInPatch(b, cy, cx, (k) => {
          sum += input.data[k];
        });
        const mu = sum / count;
        let sq = 0;
        forEachInPatch(b, cy, cx, (k) => {
          sq += (input.data[k] - mu) ** 2;
        });
        const std = Math.sqrt(sq / (count - 1) + 1e-6);
        patchMean[l] = mu;
        patchStd[l] = std;
        let err = 0;
        forEachInPatch(b, cy, cx, (k) => {
          target[k] = o.normalizeTarget ? (input.data[k] - mu) / std : input.data[k];
          err += (rec.data[k] - target[k]) ** 2;
        });
        total += (err / count) * weights[l];
      }
  const loss = new Tensor([1], Float64Array.of(total / denominator));
  tape.record(loss, (dL) => {
    const dR = rec.gradBuffer();
    for (let b = 0; b < n; b++)
      for (let cy = 0; cy < g; cy++)
        for (let cx = 0; cx < g; cx++) {
          const l = (b * g + cy) * g + cx;
          if (weights[l] === 0) continue;
          const scale = (dL[0] * 2 * weights[l]) / (count * denominator);
          forEachInPatch(b, cy, cx, (k) => {
            dR[k] += scale * (rec.data[k] - target[k]);
          });
        }
  });
  return { loss, patchMean, patchStd };
}
