/**
 * Float64 twins of shaders/optim.wgsl: LAMB as in SparK's copy of timm 0.5.4 (global grad-norm clip inside
 * the step, bias correction, decoupled weight decay inside the trust ratio, ratio only where wd ≠ 0) and
 * PyTorch AdamW preceded by clip_grad_norm_. Tensors are updated in place; the state carries the moments and
 * one step counter per parameter group. A tensor whose `grad` is null has no gradient (PyTorch
 * `grad is None`): like the official optimisers it is skipped entirely (no moments, no decay, no step) and
 * adds nothing to the global norm, while its group's step counter still advances.
 */

export interface RefTensor {
  value: Float64Array;
  /** null: no gradient this step; the tensor is skipped. */
  grad: ArrayLike<number> | null;
  decay: boolean;
}

export interface RefOptimState {
  expAvg: Float64Array[];
  expAvgSq: Float64Array[];
  steps: { decay: number; noDecay: number };
}

export interface RefHyper {
  lr: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  maxGradNorm: number;
}

export function freshState(tensors: RefTensor[]): RefOptimState {
  return {
    expAvg: tensors.map((t) => new Float64Array(t.value.length)),
    expAvgSq: tensors.map((t) => new Float64Array(t.value.length)),
    steps: { decay: 0, noDecay: 0 },
  };
}

function sumSquares(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s;
}

export function globalGradNorm(tensors: RefTensor[]): number {
  return Math.sqrt(tensors.reduce((s, t) => s + (t.grad ? sumSquares(t.grad) : 0), 0));
}

function advanceSteps(tensors: RefTensor[], state: RefOptimState): void {
  if (tensors.some((t) => t.decay)) state.steps.decay++;
  if (tensors.some((t) => !t.decay)) state.steps.noDecay++;
}

export function lambStep(tensors: RefTensor[], state: RefOptimState, h: RefHyper): void {
  const norm = globalGradNorm(tensors);
  const divisor = norm > h.maxGradNorm ? norm / h.maxGradNorm : 1;
  advanceSteps(tensors, state);
  tensors.forEach((t, k) => {
    const grad = t.grad;
    if (!grad) return;
    const step = t.decay ? state.steps.decay : state.steps.noDecay;
    const bc1 = 1 - h.beta1 ** step;
    const bc2 = 1 - h.beta2 ** step;
    const wd = t.decay ? h.weightDecay : 0;
    const m = state.expAvg[k];
    const v = state.expAvgSq[k];
    const u = new Float64Array(t.value.length);
    for (let i = 0; i < u.length; i++) {
      const g = grad[i] / divisor;
      m[i] = h.beta1 * m[i] + (1 - h.beta1) * g;
      v[i] = h.beta2 * v[i] + (1 - h.beta2) * g * g;
      u[i] = m[i] / bc1 / (Math.sqrt(v[i]) / Math.sqrt(bc2) + h.eps) + wd * t.value[i];
    }
    let ratio = 1;
    if (wd !== 0) {
      const pNorm = Math.sqrt(sumSquares(t.value));
      const uNorm = Math.sqrt(sumSquares(u));
      ratio = pNorm > 0 && uNorm > 0 ? pNorm / uNorm : 1;
    }
    for (let i = 0; i < u.length; i++) t.value[i] -= h.lr * ratio * u[i];
  });
}

export function adamwStep(tensors: RefTensor[], state: RefOptimState, h: RefHyper): void {
  const norm = globalGradNorm(tensors);
  const scale = Math.min(1, h.maxGradNorm / (norm + 1e-6));
  advanceSteps(tensors, state);
  tensors.forEach((t, k) => {
    const grad = t.grad;
    if (!grad) return;
    const step = t.decay ? state.steps.decay : state.steps.noDecay;
    const bc1 = 1 - h.beta1 ** step;
    const bc2 = 1 - h.beta2 ** step;
    const wd = t.decay ? h.weightDecay : 0;
    const m = state.expAvg[k];
    const v = state.expAvgSq[k];
    for (let i = 0; i < t.value.length; i++) {
      const g = grad[i] * scale;
      m[i] = h.beta1 * m[i] + (1 - h.beta1) * g;
      v[i] = h.beta2 * v[i] + (1 - h.beta2) * g * g;
      t.value[i] =
        t.value[i] * (1 - h.lr * wd) - ((h.lr / bc1) * m[i]) / (Math.sqrt(v[i]) / Math.sqrt(bc2) + h.eps);
    }
  });
}
