import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runAndRead, testGpu } from '../../tests/gpu';
import type { Gpu } from '../gpu/runtime';
import * as ref from '../reference/matmul';
import { Rng } from '../util/random';
import { chooseSplits, matmul, matmulSplitK } from './matmul';

interface Case {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  bias: boolean;
  accumulate: boolean;
  alpha: number;
  seed: number;
}

type Mode = { kind: 'single' } | { kind: 'naive' } | { kind: 'splitk'; splits?: number };

const UNIT_ROUNDOFF = 2 ** -24;

/**
 * Any float32 summation order of K products satisfies |computed − exact| ≤ K·u·Σ|a||b| (Higham, §3.1); the
 * alpha scale, bias and accumulation add one rounding each. We allow (K + 4)·u of the element's magnitude:
 * rigorous, so it cannot fail on a correct kernel, while an indexing mistake gives errors of order 1.
 */
function assertWithinGemmBound(
  actual: Float32Array,
  expected: Float64Array,
  magnitude: Float64Array,
  K: number,
  label: string,
): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const bound = (K + 4) * UNIT_ROUNDOFF * magnitude[i] + 1e-30;
    const error = Math.abs(actual[i] - expected[i]);
    if (!(error <= bound)) {
      throw new Error(
        `${label}: element ${i} is ${actual[i]}, expected ${expected[i]} (error ${error.toExponential(2)} > bound ${bound.toExponential(2)})`,
      );
    }
  }
}

function describeCase(c: Case, mode: Mode): string {
  const flags = [
    c.transA && 'transA',
    c.transB && 'transB',
    c.bias && 'bias',
    c.accumulate && 'accumulate',
    mode.kind !== 'single' && mode.kind,
  ].filter(Boolean);
  return `${c.M}×${c.N}×${c.K} α=${c.alpha.toFixed(3)} ${flags.join(' ')}`;
}

async function checkCase(gpu: Gpu, c: Case, mode: Mode = { kind: 'single' }): Promise<void> {
  const rng = new Rng(c.seed);
  const a = rng.floats(c.M * c.K);
  const b = rng.floats(c.K * c.N);
  const bias = c.bias ? rng.floats(c.N) : undefined;
  const previous = c.accumulate ? rng.floats(c.M * c.N, -2, 2) : undefined;
  const ta = gpu.upload('a', a);
  const tb = gpu.upload('b', b);
  const tbias = bias ? gpu.upload('bias', bias) : undefined;
  const out = previous ? gpu.upload('out', previous) : gpu.tensor('out', [c.M, c.N]);
  if (!previous) gpu.write(out, new Float32Array(c.M * c.N).fill(Number.NaN)); // a skipped element shows
  const options = {
    out,
    a: ta,
    b: tb,
    M: c.M,
    N: c.N,
    K: c.K,
    transA: c.transA,
    transB: c.transB,
    bias: tbias,
    accumulate: c.accumulate,
    alpha: c.alpha,
  };
  const dispatch =
    mode.kind === 'splitk'
      ? matmulSplitK(gpu, { ...options, splits: mode.splits })
      : matmul(gpu, { ...options, naive: mode.kind === 'naive' });
  const actual = await runAndRead(gpu, 'matmul', [dispatch], out);
  const refOptions = {
    a,
    b,
    M: c.M,
    N: c.N,
    K: c.K,
    transA: c.transA,
    transB: c.transB,
    bias,
    accumulateInto: previous,
    alpha: c.alpha,
  };
  assertWithinGemmBound(
    actual,
    ref.matmul(refOptions),
    ref.matmulMagnitude(refOptions),
    c.K,
    describeCase(c, mode),
  );
  for (const t of [ta, tb, out, ...(tbias ? [tbias] : [])]) gpu.releaseTensor(t);
}

const FLAG_COMBINATIONS: Array<Pick<Case, 'transA' | 'transB' | 'bias' | 'accumulate'>> = [];
for (let bits = 0; bits < 16; bits++) {
  FLAG_COMBINATIONS.push({
    transA: (bits & 1) !== 0,
    transB: (bits & 2) !== 0,
    bias: (bits & 4) !== 0,
    accumulate: (bits & 8) !== 0,
  });
}

describe('matmul vs float64 twin', () => {
  it('reference twin matches a hand-computed product', () => {
    // [[1,2],[3,4]]·[[5,6],[7,8]] = [[19,22],[43,50]]; with bias [1,-1], alpha 2 and previous [1,1,1,1].
    const out = ref.matmul({
      a: [1, 2, 3, 4],
      b: [5, 6, 7, 8],
      M: 2,
      N: 2,
      K: 2,
      alpha: 2,
      bias: [1, -1],
      accumulateInto: [1, 1, 1, 1],
    });
    expect([...out]).toEqual([40, 44, 88, 100]);
    // aᵀ stored [K,M] and bᵀ stored [N,K] give the same product.
    const t = ref.matmul({ a: [1, 3, 2, 4], b: [5, 7, 6, 8], M: 2, N: 2, K: 2, transA: true, transB: true });
    expect([...t]).toEqual([19, 22, 43, 50]);
  });

  it('all transpose/bias/accumulate combinations on edge shapes (1, primes, non-multiples of 4/16)', async () => {
    const gpu = await testGpu();
    const shapes: Array<[number, number, number]> = [
      [1, 1, 1],
      [1, 7, 1],
      [5, 1, 3],
      [3, 5, 2],
      [4, 4, 4],
      [16, 16, 16],
      [17, 33, 31],
      [13, 8, 12],
      [8, 13, 12],
      [32, 32, 64],
      [33, 31, 67],
    ];
    let seed = 1;
    for (const [M, N, K] of shapes) {
      for (const flags of FLAG_COMBINATIONS) {
        await checkCase(gpu, { M, N, K, ...flags, alpha: seed % 3 === 0 ? -0.5 : 1, seed: seed++ });
      }
    }
  });

  it('200 random shapes and options (property)', async () => {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          M: fc.integer({ min: 1, max: 70 }),
          N: fc.integer({ min: 1, max: 70 }),
          K: fc.integer({ min: 1, max: 90 }),
          transA: fc.boolean(),
          transB: fc.boolean(),
          bias: fc.boolean(),
          accumulate: fc.boolean(),
          alpha: fc.double({ min: -2, max: 2, noNaN: true }),
          seed: fc.integer(),
        }),
        async (c) => checkCase(gpu, c),
      ),
      { numRuns: 200 },
    );
  });

  it('large shapes: 257×129×515 (all transposes) and the 64×64-tile path 1030×521×9 and 772×644×20', async () => {
    const gpu = await testGpu();
    for (const { transA, transB } of FLAG_COMBINATIONS.slice(0, 4)) {
      await checkCase(gpu, {
        M: 257,
        N: 129,
        K: 515,
        transA,
        transB,
        bias: true,
        accumulate: false,
        alpha: 1,
        seed: 3,
      });
    }
    // ≥ 128 tiles of 64×64 selects the large configuration: scalar loads (odd N, K) and vec4 loads.
    await checkCase(gpu, {
      M: 1030,
      N: 521,
      K: 9,
      transA: false,
      transB: true,
      bias: false,
      accumulate: true,
      alpha: 1,
      seed: 4,
    });
    await checkCase(gpu, {
      M: 772,
      N: 644,
      K: 20,
      transA: true,
      transB: false,
      bias: true,
      accumulate: false,
      alpha: 0.5,
      seed: 5,
    });
  });

  it('naive kernel agrees on edge shapes', async () => {
    const gpu = await testGpu();
    let seed = 100;
    for (const [M, N, K] of [
      [1, 1, 1],
      [17, 19, 23],
      [40, 3, 33],
    ]) {
      for (const flags of FLAG_COMBINATIONS) {
        await checkCase(gpu, { M, N, K, ...flags, alpha: 1.5, seed: seed++ }, { kind: 'naive' });
      }
    }
  });

  it('split-K (weight-gradient shape Xᵀ·dY) with forced and chosen slice counts', async () => {
    const gpu = await testGpu();
    let seed = 200;
    for (const [M, N, K, splits] of [
      [7, 13, 1000, 5],
      [9, 16, 777, 3],
      [4, 4, 1024, 32],
      [12, 5, 65, 2],
      [3, 3, 100, 1000], // more slices than BK steps: clamped to one slice per 32-deep step
      [6, 10, 2100, undefined],
    ] as Array<[number, number, number, number | undefined]>) {
      for (const flags of FLAG_COMBINATIONS) {
        await checkCase(gpu, { M, N, K, ...flags, alpha: 0.75, seed: seed++ }, { kind: 'splitk', splits });
      }
    }
  });

  it('chooses slices from the shape: more for small outputs with long K, one for big outputs', () => {
    expect(chooseSplits(64, 64, 4096)).toBe(16); // 4 tiles of 32×32 → 64 slices by occupancy, 16 by depth
    expect(chooseSplits(576, 64, 3300)).toBe(8); // 36 tiles → 8 by occupancy, 12 by depth
    expect(chooseSplits(512, 512, 4096)).toBe(1); // 256 tiles already fill the GPU
    expect(chooseSplits(8, 8, 200)).toBe(1); // too short to split
  });

  it('rejects shapes that do not fit the tensors, with a sentence', async () => {
    const gpu = await testGpu();
    const a = gpu.tensor('a', [6]);
    const b = gpu.tensor('b', [6]);
    const out = gpu.tensor('out', [4]);
    expect(() => matmul(gpu, { out, a, b, M: 2, N: 2, K: 4 })).toThrow(
      /a has 6 elements but a \[2, 4\] needs 8/,
    );
    expect(() => matmul(gpu, { out, a, b, M: 0, N: 2, K: 3 })).toThrow(/M must be a positive integer/);
    for (const t of [a, b, out]) gpu.releaseTensor(t);
  });
});
