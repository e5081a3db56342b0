import { describe, expect, it } from 'vitest';
import { lambStep } from './lamb';

const settings = {
  lr: 0.1,
  weightDecay: 0.5,
  betas: [0.9, 0.999] as [number, number],
  eps: 1e-6,
  maxGradNorm: 5,
};

describe('reference LAMB (official first step)', () => {
  it('decay group: Adam direction + decoupled decay, scaled by the trust ratio ‖p‖/‖u‖', () => {
    // First step: m̂ = g and √v̂ = |g|, so u = g/(|g| + eps) + wd·p.
    const p = { name: 'w', value: Float64Array.of(3, 4), grad: Float64Array.of(2, -1), decay: true };
    lambStep([p], settings);
    const u = [2 / (2 + 1e-6) + 0.5 * 3, -1 / (1 + 1e-6) + 0.5 * 4];
    const trust = 5 / Math.hypot(u[0], u[1]);
    expect(p.value[0]).toBeCloseTo(3 - 0.1 * trust * u[0], 14);
    expect(p.value[1]).toBeCloseTo(4 - 0.1 * trust * u[1], 14);
  });

  it('no-decay group: no trust ratio (plain Adam step); gradients are clipped by the global norm', () => {
    // Global norm = ‖(30, 40)‖ = 50 > 5: every gradient is divided by 10 — which the Adam ratio ignores
    // except through eps, so check the clipped eps term.
    const a = { name: 'a.bias', value: Float64Array.of(1), grad: Float64Array.of(30), decay: false };
    const b = { name: 'b.bias', value: Float64Array.of(1), grad: Float64Array.of(-40), decay: false };
    lambStep([a, b], settings);
    expect(a.value[0]).toBeCloseTo(1 - 0.1 * (3 / (3 + 1e-6)), 14);
    expect(b.value[0]).toBeCloseTo(1 + 0.1 * (4 / (4 + 1e-6)), 14);
  });

  it('parameters without a gradient neither move nor count in the global norm', () => {
    const unused = { name: 'u', value: Float64Array.of(7, 7), grad: null, decay: true };
    const used = { name: 'w', value: Float64Array.of(1e-7), grad: Float64Array.of(1e-7), decay: false };
    lambStep([unused, used], settings);
    expect(Array.from(unused.value)).toEqual([7, 7]);
    expect(used.value[0]).toBeCloseTo(1e-7 - 0.1 * (1e-7 / (1e-7 + 1e-6)), 18);
  });

  it('a second step uses the stored moments and the step-2 bias corrections', () => {
    const p = { name: 'w.bias', value: Float64Array.of(0), grad: Float64Array.of(1), decay: false };
    const moments = lambStep([p], settings);
    p.grad = Float64Array.of(-1);
    lambStep([p], settings, moments);
    const m = 0.9 * 0.1 + 0.1 * -1;
    const v = 0.999 * 0.001 + 0.001;
    const step2 = m / (1 - 0.81) / (Math.sqrt(v) / Math.sqrt(1 - 0.999 ** 2) + 1e-6);
    expect(p.value[0]).toBeCloseTo(-0.1 * (1 / (1 + 1e-6)) - 0.1 * step2, 14);
  });
});
