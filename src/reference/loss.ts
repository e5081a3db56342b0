/**
 * Float64 twin of shaders/loss.wgsl (spark-spec §4) on NHWC images [B, S, S, 3] with a [B, g, g] cell mask
 * (1 = visible): per-patch target normalisation (mean, unbiased variance + 1e-6 inside the square root),
 * per-patch MSE, average over masked patches (Σ ℓ·w / (Σ w + 1e-8)), its gradient and the composite.
 */

export interface LossSettings {
  batch: number;
  size: number;
  patch: number;
  normalizeTarget: boolean;
  maskedOnly: boolean;
}

export interface LossForward {
  loss: number;
  weightSum: number;
  /** Per patch l = (b·g + cy)·g + cx. */
  mean: Float64Array;
  std: Float64Array;
  patchLoss: Float64Array;
  weight: Float64Array;
}

/** Visits the NHWC indices of patch (b, cy, cx). */
function forEachInPatch(
  s: LossSettings,
  b: number,
  cy: number,
  cx: number,
  visit: (i: number) => void,
): void {
  for (let y = cy * s.patch; y < (cy + 1) * s.patch; y++)
    for (let x = cx * s.patch; x < (cx + 1) * s.patch; x++)
      for (let c = 0; c < 3; c++) visit(((b * s.size + y) * s.size + x) * 3 + c);
}

function target(s: LossSettings, v: number, mean: number, std: number): number {
  return s.normalizeTarget ? (v - mean) / std : v;
}

export function lossForward(
  s: LossSettings,
  x: ArrayLike<number>,
  rec: ArrayLike<number>,
  cells: ArrayLike<number>,
): LossForward {
  const g = s.size / s.patch;
  const patches = s.batch * g * g;
  const n = 3 * s.patch * s.patch;
  const mean = new Float64Array(patches);
  const std = new Float64Array(patches);
  const patchLoss = new Float64Array(patches);
  const weight = new Float64Array(patches);
  let weighted = 0;
  let weightSum = 0;
  for (let b = 0; b < s.batch; b++)
    for (let cy = 0; cy < g; cy++)
      for (let cx = 0; cx < g; cx++) {
        const l = (b * g + cy) * g + cx;
        let sum = 0;
        forEachInPatch(s, b, cy, cx, (i) => {
          sum += x[i];
        });
        const mu = sum / n;
        let sq = 0;
        forEachInPatch(s, b, cy, cx, (i) => {
          sq += (x[i] - mu) ** 2;
        });
        const sigma = Math.sqrt(sq / (n - 1) + 1e-6);
        let err = 0;
        forEachInPatch(s, b, cy, cx, (i) => {
          err += (rec[i] - target(s, x[i], mu, sigma)) ** 2;
        });
        mean[l] = mu;
        std[l] = sigma;
        patchLoss[l] = err / n;
        weight[l] = s.maskedOnly ? 1 - (cells[l] ? 1 : 0) : 1;
        weighted += patchLoss[l] * weight[l];
        weightSum += weight[l];
      }
  return { loss: weighted / (weightSum + 1e-8), weightSum, mean, std, patchLoss, weight };
}

/** ∂loss/∂rec; no gradient flows into the target. */
export function lossGrad(
  s: LossSettings,
  x: ArrayLike<number>,
  rec: ArrayLike<number>,
  f: LossForward,
): Float64Array {
  const g = s.size / s.patch;
  const n = 3 * s.patch * s.patch;
  const grad = new Float64Array(rec.length);
  for (let b = 0; b < s.batch; b++)
    for (let cy = 0; cy < g; cy++)
      for (let cx = 0; cx < g; cx++) {
        const l = (b * g + cy) * g + cx;
        const scale = (2 * f.weight[l]) / (n * (f.weightSum + 1e-8));
        forEachInPatch(s, b, cy, cx, (i) => {
          grad[i] = scale * (rec[i] - target(s, x[i], f.mean[l], f.std[l]));
        });
      }
  return grad;
}

/** Visible patches from x; masked ones = rec·σ + μ (or rec without normalisation). */
export function composite(
  s: LossSettings,
  x: ArrayLike<number>,
  rec: ArrayLike<number>,
  cells: ArrayLike<number>,
  f: LossForward,
): Float64Array {
  const g = s.size / s.patch;
  const out = new Float64Array(x.length);
  for (let b = 0; b < s.batch; b++)
    for (let cy = 0; cy < g; cy++)
      for (let cx = 0; cx < g; cx++) {
        const l = (b * g + cy) * g + cx;
        forEachInPatch(s, b, cy, cx, (i) => {
          if (cells[l]) out[i] = x[i];
          else out[i] = s.normalizeTarget ? rec[i] * f.std[l] + f.mean[l] : rec[i];
        });
      }
  return out;
}
