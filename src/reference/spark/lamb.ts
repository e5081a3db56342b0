/**
 * The official LAMB step (SparK's copy of timm 0.5.4 `Lamb`: bias correction on, grad averaging on,
 * trust_clip off, always_adapt off), float64. Two parameter groups: weight decay on `decay` tensors, none on
 * the rest (which therefore get no trust ratio and behave like Adam). Global grad-norm clipping by
 * max_grad_norm happens inside the step. Parameters without a gradient (PyTorch `grad is None`) are skipped
 * entirely: they neither count in the global norm nor move.
 */
export interface LambSettings {
  lr: number;
  weightDecay: number;
  betas: [number, number];
  eps: number;
  maxGradNorm: number;
}

export interface LambParam {
  name: string;
  value: Float64Array;
  /** null: unused this step (skipped). */
  grad: Float64Array | null;
  decay: boolean;
}

export interface LambMoments {
  expAvg: Map<string, Float64Array>;
  expAvgSq: Map<string, Float64Array>;
  /** Step count per group (the official keeps it per param group). */
  step: { decay: number; noDecay: number };
}

export function freshLambMoments(): LambMoments {
  return { expAvg: new Map(), expAvgSq: new Map(), step: { decay: 0, noDecay: 0 } };
}

function norm(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

/** Updates `value` of every parameter in place; returns the moments for the next step. */
export function lambStep(
  params: LambParam[],
  settings: LambSettings,
  moments = freshLambMoments(),
): LambMoments {
  let sq = 0;
  for (const p of params) if (p.grad) for (let i = 0; i < p.grad.length; i++) sq += p.grad[i] * p.grad[i];
  const globalNorm = Math.sqrt(sq);
  const clip = globalNorm > settings.maxGradNorm ? globalNorm / settings.maxGradNorm : 1;
  const [beta1, beta2] = settings.betas;
  // Groups count their steps separately; with both groups stepped every time the counts are equal.
  const groups: ('decay' | 'noDecay')[] = ['decay', 'noDecay'];
  for (const group of groups) {
    const members = params.filter((p) => (group === 'decay') === p.decay);
    if (members.length === 0) continue;
    const step = ++moments.step[group];
    const bc1 = 1 - beta1 ** step;
    const bc2 = 1 - beta2 ** step;
    const wd = group === 'decay' ? settings.weightDecay : 0;
    for (const p of members) {
      if (!p.grad) continue;
      const n = p.value.length;
      let m = moments.expAvg.get(p.name);
      let v = moments.expAvgSq.get(p.name);
      if (!m || !v) {
        m = new Float64Array(n);
        v = new Float64Array(n);
        moments.expAvg.set(p.name, m);
        moments.expAvgSq.set(p.name, v);
      }
      const update = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const g = p.grad[i] / clip;
        m[i] = beta1 * m[i] + (1 - beta1) * g;
        v[i] = beta2 * v[i] + (1 - beta2) * g * g;
        const denom = Math.sqrt(v[i]) / Math.sqrt(bc2) + settings.eps;
        update[i] = m[i] / bc1 / denom;
        if (wd !== 0) update[i] += wd * p.value[i];
      }
      if (wd !== 0) {
        const wNorm = norm(p.value);
        const uNorm = norm(update);
        const trust = wNorm > 0 && uNorm > 0 ? wNorm / uNorm : 1;
        for (let i = 0; i < n; i++) update[i] *= trust;
      }
      for (let i = 0; i < n; i++) p.value[i] -= settings.lr * update[i];
    }
  }
  return moments;
}
