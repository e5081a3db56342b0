import { describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import { Arena } from '../engine/params';
import type { Gpu } from '../gpu/runtime';
import { assertClose } from '../reference/allclose';
import * as ref from '../reference/optim';
import { freshLambMoments, lambStep as sparkLambStep } from '../reference/spark/lamb';
import { Rng } from '../util/random';
import { AdamW, Lamb } from './optim';

// Tensors of every kind the recipe has: decayed conv / linear weights (one spanning two 4096-element chunks),
// biases, a mask token, a BN γ, and a decayed weight whose values are all zero (‖p‖ = 0 → trust ratio 1).
const TENSORS = [
  { name: 'conv.weight', shape: [8, 3, 3, 3], layout: 'conv' as const, zero: false },
  { name: 'conv.bias', shape: [8], layout: 'same' as const, zero: false },
  { name: 'head.weight', shape: [50, 101], layout: 'linear' as const, zero: false },
  { name: 'zero.weight', shape: [4, 5], layout: 'linear' as const, zero: true },
  { name: 'mask_token', shape: [1, 6, 1, 1], layout: 'same' as const, zero: false },
  { name: 'bn.weight', shape: [7], layout: 'same' as const, zero: false },
];

// Steps 3 and 7 (0-based) have gradients ~20× larger: their global norm exceeds the clip of 5.
const CLIP_STEPS = new Set([3, 7]);
const LRS = [1e-2, 2e-2, 5e-3, 3e-2, 1e-2, 1e-2, 8e-3, 2e-2, 1e-2, 4e-3];
// Includes a step with wd = 0 (no trust ratio anywhere) and the recipe's 0.04 → 0.2 range.
const WDS = [0.04, 0.05, 0.08, 0.0, 0.12, 0.2, 0.15, 0.1, 0.05, 0.3];

interface Setup {
  arena: Arena;
  tensors: ref.RefTensor[];
  gradsPerStep: Float32Array[][];
}

function setup(gpu: Gpu, seed: number): Setup {
  const rng = new Rng(seed);
  const arena = new Arena('optim-test', true);
  for (const t of TENSORS) arena.add(t.name, { officialShape: t.shape, layout: t.layout });
  arena.allocate(gpu);
  const tensors: ref.RefTensor[] = arena.entries.map((entry, k) => {
    const value = TENSORS[k].zero ? new Float32Array(entry.length) : rng.floats(entry.length);
    gpu.write(arena.view(entry), value);
    return { value: Float64Array.from(value), grad: new Float64Array(entry.length), decay: entry.decay };
  });
  const gradsPerStep = LRS.map((_, step) =>
    arena.entries.map((entry) =>
      rng.floats(entry.length, -1, 1).map((g) => g * (CLIP_STEPS.has(step) ? 1 : 0.05)),
    ),
  );
  return { arena, tensors, gradsPerStep };
}

async function runOptimizer(kind: 'lamb' | 'adamw', seed: number): Promise<void> {
  const gpu = await testGpu();
  const { arena, tensors, gradsPerStep } = setup(gpu, seed);
  const hyper = {
    beta1: 0.9,
    beta2: kind === 'lamb' ? 0.95 : 0.999,
    eps: kind === 'lamb' ? 1e-6 : 1e-8,
    maxGradNorm: 5,
  };
  const optimizer = kind === 'lamb' ? new Lamb(gpu, arena, hyper) : new AdamW(gpu, arena, hyper);
  const state = ref.freshState(tensors);
  let clipped = 0;
  for (let step = 0; step < LRS.length; step++) {
    arena.entries.forEach((entry, k) => {
      gpu.write(arena.view(entry, 'grads'), gradsPerStep[step][k]);
      tensors[k].grad = gradsPerStep[step][k];
    });
    const norm = ref.globalGradNorm(tensors);
    if (norm > 5) clipped++;
    optimizer.beginStep(LRS[step], WDS[step]);
    gpu.submit(`${kind} step`, (pass) => optimizer.encode(pass));
    (kind === 'lamb' ? ref.lambStep : ref.adamwStep)(tensors, state, {
      ...hyper,
      lr: LRS[step],
      weightDecay: WDS[step],
    });
    const values = await gpu.read(arena.whole('values'));
    const stats = await gpu.read(optimizer.gradStats);
    // The global norm stays on the GPU; read here only to check it (float32 sum of ~5.3k squares).
    expect(Math.abs(stats[arena.entries.length + 1] - norm)).toBeLessThan(1e-5 * norm);
    arena.entries.forEach((entry, k) => {
      // Values are O(1) and each step moves them by ≤ lr·O(1); float32 rounding of the moments, the
      // √v ratio and the norms stays ~1e-6 relative after 10 steps.
      assertClose(values.subarray(entry.offset, entry.offset + entry.length), tensors[k].value, {
        rtol: 1e-5,
        atol: 1e-6,
        label: `${kind} step ${step + 1} ${entry.name}`,
      });
    });
  }
  expect(clipped).toBe(CLIP_STEPS.size);
  const m = await gpu.read(optimizer.expAvg);
  const v = await gpu.read(optimizer.expAvgSq);
  arena.entries.forEach((entry, k) => {
    assertClose(m.subarray(entry.offset, entry.offset + entry.length), state.expAvg[k], {
      rtol: 1e-5,
      atol: 1e-8,
      label: `${kind} exp_avg ${entry.name}`,
    });
    assertClose(v.subarray(entry.offset, entry.offset + entry.length), state.expAvgSq[k], {
      rtol: 1e-5,
      atol: 1e-10,
      label: `${kind} exp_avg_sq ${entry.name}`,
    });
  });
  // The zero-norm decayed tensor moved (trust ratio 1, not 0 or NaN).
  const zeroEntry = arena.get('zero.weight');
  const zeroValues = (await gpu.read(arena.view(zeroEntry))).map(Math.abs);
  expect(Math.max(...zeroValues)).toBeGreaterThan(0);
  expect(zeroValues.every(Number.isFinite)).toBe(true);
  optimizer.release();
  arena.release(gpu);
}

describe('optimiser twins', () => {
  it('the LAMB twin equals the SparK reference LAMB (src/reference/spark/lamb.ts) over 10 steps', () => {
    const rng = new Rng(12);
    const tensors: ref.RefTensor[] = [
      { value: Float64Array.from(rng.floats(30)), grad: new Float64Array(30), decay: true },
      { value: new Float64Array(12), grad: new Float64Array(12), decay: true },
      { value: Float64Array.from(rng.floats(5)), grad: new Float64Array(5), decay: false },
    ];
    const theirs = tensors.map((t, k) => ({
      name: `t${k}`,
      value: Float64Array.from(t.value),
      grad: null as Float64Array | null,
      decay: t.decay,
    }));
    const state = ref.freshState(tensors);
    let moments = freshLambMoments();
    for (let step = 0; step < 10; step++) {
      const scale = CLIP_STEPS.has(step) ? 10 : 0.1;
      tensors.forEach((t, k) => {
        const g = Float64Array.from(rng.floats(t.value.length), (v) => v * scale);
        t.grad = g;
        theirs[k].grad = g;
      });
      const h = { lr: LRS[step], weightDecay: WDS[step], beta1: 0.9, beta2: 0.95, eps: 1e-6, maxGradNorm: 5 };
      ref.lambStep(tensors, state, h);
      moments = sparkLambStep(
        theirs,
        { lr: h.lr, weightDecay: h.weightDecay, betas: [0.9, 0.95], eps: 1e-6, maxGradNorm: 5 },
        moments,
      );
    }
    tensors.forEach((t, k) => {
      assertClose(t.value, theirs[k].value, { rtol: 1e-13, atol: 1e-15, label: `t${k}` });
    });
  });

  it('without clipping and decay, one LAMB step on a no-decay tensor is an Adam step of size lr', () => {
    const t: ref.RefTensor = {
      value: Float64Array.of(1, -2, 3),
      grad: Float64Array.of(0.5, -0.25, 2),
      decay: false,
    };
    ref.lambStep([t], ref.freshState([t]), {
      lr: 0.1,
      weightDecay: 0.05,
      beta1: 0.9,
      beta2: 0.95,
      eps: 0,
      maxGradNorm: Infinity,
    });
    // Step 1: m̂ = g, v̂ = g², u = sign(g).
    assertClose(t.value, [0.9, -1.9, 2.9], { rtol: 1e-12, atol: 1e-12 });
  });
});

describe('optimisers on the GPU vs float64 twins (10 steps)', () => {
  it('LAMB: clipping steps, wd = 0 step, zero-norm parameter, multi-chunk tensor', async () => {
    await runOptimizer('lamb', 31);
  });

  it('AdamW: clipping steps, decoupled weight decay', async () => {
    await runOptimizer('adamw', 32);
  });

  it('refuses to encode before beginStep, with a sentence', async () => {
    const gpu = await testGpu();
    const arena = new Arena('optim-empty-step', true);
    arena.add('w', { officialShape: [3, 3] });
    arena.allocate(gpu);
    const lamb = new Lamb(gpu, arena);
    expect(() => gpu.submit('x', (pass) => lamb.encode(pass))).toThrow(/beginStep/);
    lamb.release();
    arena.release(gpu);
  });
});

describe('skipped parameters (no gradient, PyTorch grad None)', () => {
  it('the twin skips a null-grad tensor exactly as the SparK reference LAMB does', () => {
    const rng = new Rng(13);
    const tensors: ref.RefTensor[] = [
      { value: Float64Array.from(rng.floats(20)), grad: null, decay: true },
      { value: Float64Array.from(rng.floats(9)), grad: null, decay: true },
      { value: Float64Array.from(rng.floats(4)), grad: null, decay: false },
    ];
    const theirs = tensors.map((t, k) => ({
      name: `t${k}`,
      value: Float64Array.from(t.value),
      grad: null as Float64Array | null,
      decay: t.decay,
    }));
    const untouched = Float64Array.from(tensors[1].value);
    const state = ref.freshState(tensors);
    let moments = freshLambMoments();
    for (let step = 0; step < 6; step++) {
      const scale = step === 2 ? 10 : 0.1;
      // Tensor 1 never has a gradient; tensor 2 has one on even steps only.
      tensors.forEach((t, k) => {
        const g =
          k === 1 || (k === 2 && step % 2 === 1)
            ? null
            : Float64Array.from(rng.floats(t.value.length), (v) => v * scale);
        t.grad = g;
        theirs[k].grad = g;
      });
      const h = { lr: LRS[step], weightDecay: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-6, maxGradNorm: 5 };
      ref.lambStep(tensors, state, h);
      moments = sparkLambStep(
        theirs,
        { lr: h.lr, weightDecay: h.weightDecay, betas: [0.9, 0.95], eps: 1e-6, maxGradNorm: 5 },
        moments,
      );
    }
    tensors.forEach((t, k) => {
      assertClose(t.value, theirs[k].value, { rtol: 1e-13, atol: 1e-15, label: `t${k}` });
    });
    expect(Array.from(tensors[1].value)).toEqual(Array.from(untouched));
    expect(state.steps).toEqual({ decay: 6, noDecay: 6 });
  });

  for (const kind of ['lamb', 'adamw'] as const) {
    it(`${kind}: skipped tensors stay bit-identical (values, moments) while the others follow the twin`, async () => {
      const gpu = await testGpu();
      const rng = new Rng(kind === 'lamb' ? 41 : 42);
      const arena = new Arena(`optim-skip-${kind}`, true);
      // A skipped decayed weight between stepped tensors, and a skipped no-decay bias.
      arena.add('a.weight', { officialShape: [6, 7], layout: 'linear' });
      arena.add('unused.weight', { officialShape: [5, 3, 3, 3], layout: 'conv' });
      arena.add('unused.bias', { officialShape: [5] });
      arena.add('b.bias', { officialShape: [6] });
      arena.allocate(gpu);
      const skip = new Set(['unused.weight', 'unused.bias']);
      const initial = arena.entries.map((entry) => {
        const value = rng.floats(entry.length);
        gpu.write(arena.view(entry), value);
        return value;
      });
      const tensors: ref.RefTensor[] = arena.entries.map((entry, k) => ({
        value: Float64Array.from(initial[k]),
        grad: null,
        decay: entry.decay,
      }));
      const hyper = { beta1: 0.9, beta2: 0.95, eps: 1e-6, maxGradNorm: 5 };
      const optimizer =
        kind === 'lamb'
          ? new Lamb(gpu, arena, { ...hyper, skip })
          : new AdamW(gpu, arena, { ...hyper, skip });
      expect(optimizer.stepped.map((e) => e.name)).toEqual(['a.weight', 'b.bias']);
      const state = ref.freshState(tensors);
      for (let step = 0; step < 4; step++) {
        // The skipped tensors get large gradients in the buffer: they must neither move nor reach the
        // global norm (which would then clip the others' step).
        arena.entries.forEach((entry, k) => {
          const big = skip.has(entry.name);
          const g = rng.floats(entry.length, -1, 1).map((v) => v * (big ? 10 : 0.05));
          gpu.write(arena.view(entry, 'grads'), g);
          tensors[k].grad = big ? null : g;
        });
        const norm = ref.globalGradNorm(tensors);
        optimizer.beginStep(LRS[step], 0.1);
        gpu.submit(`${kind} skip step`, (pass) => optimizer.encode(pass));
        (kind === 'lamb' ? ref.lambStep : ref.adamwStep)(tensors, state, {
          ...hyper,
          lr: LRS[step],
          weightDecay: 0.1,
        });
        const stats = await gpu.read(optimizer.gradStats);
        expect(stats.length).toBe(optimizer.stepped.length + 2);
        expect(Math.abs(stats[stats.length - 1] - norm)).toBeLessThan(1e-5 * norm);
      }
      const [values, m, v] = await Promise.all([
        gpu.read(arena.whole('values')),
        gpu.read(optimizer.expAvg),
        gpu.read(optimizer.expAvgSq),
      ]);
      arena.entries.forEach((entry, k) => {
        const range = [entry.offset, entry.offset + entry.length] as const;
        if (skip.has(entry.name)) {
          expect(Array.from(values.subarray(...range)), entry.name).toEqual(Array.from(initial[k]));
          expect(
            m.subarray(...range).every((x) => x === 0),
            `${entry.name} exp_avg`,
          ).toBe(true);
          expect(
            v.subarray(...range).every((x) => x === 0),
            `${entry.name} exp_avg_sq`,
          ).toBe(true);
        } else {
          assertClose(values.subarray(...range), tensors[k].value, {
            rtol: 1e-5,
            atol: 1e-6,
            label: `${kind} ${entry.name}`,
          });
          assertClose(m.subarray(...range), state.expAvg[k], { rtol: 1e-5, atol: 1e-8 });
          // The stepped tensors did move.
          expect(values.subarray(...range).some((x, i) => x !== initial[k][i])).toBe(true);
        }
      });
      expect(optimizer.steps).toEqual({ decay: 4, noDecay: 4 });
      optimizer.release();
      arena.release(gpu);
    });
  }

  it('refuses a skip list naming a missing tensor, or skipping everything, with sentences', async () => {
    const gpu = await testGpu();
    const arena = new Arena('optim-skip-errors', true);
    arena.add('w', { officialShape: [3, 3] });
    arena.allocate(gpu);
    expect(() => new Lamb(gpu, arena, { skip: new Set(['nope']) })).toThrow(/no such tensor/);
    expect(() => new AdamW(gpu, arena, { skip: new Set(['w']) })).toThrow(/nothing to step/);
    arena.release(gpu);
  });
});
