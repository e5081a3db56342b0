import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runAndRead, testGpu } from '../../tests/gpu';
import { assertClose } from '../reference/allclose';
import * as ref from '../reference/eltwise';
import { Rng } from '../util/random';
import { binaryForward, scaleAdd, type UnaryOp, unaryBackward, unaryForward } from './eltwise';

const unaryRef: Record<UnaryOp, [(v: number) => number, (v: number) => number]> = {
  relu: [ref.relu, ref.reluGrad],
  relu6: [ref.relu6, ref.relu6Grad],
  gelu: [ref.gelu, ref.geluGrad],
};

// Sizes: 1, primes, non-multiples of 4/16/256, and one that needs a 2-D grid (> 65535 workgroups of 256).
const EDGE_SIZES = [1, 2, 3, 7, 13, 255, 256, 257, 1021, 4099];

describe('eltwise kernels vs float64 twins', () => {
  it('reference erf matches known values', () => {
    expect(ref.erf(0)).toBe(0);
    expect(ref.erf(0.5)).toBeCloseTo(0.5204998778130465, 14);
    expect(ref.erf(1)).toBeCloseTo(0.8427007929497149, 14);
    expect(ref.erf(-2)).toBeCloseTo(-0.9953222650189527, 14);
    expect(ref.erf(3)).toBeCloseTo(0.9999779095030014, 14);
  });

  for (const op of ['relu', 'relu6', 'gelu'] as UnaryOp[]) {
    it(`${op} forward and backward on edge sizes`, async () => {
      const gpu = await testGpu();
      const rng = new Rng(7);
      for (const n of EDGE_SIZES) {
        // Range covers both sides of ReLU6's 6 and GELU's tails.
        const x = rng.floats(n, -9, 9);
        const dy = rng.floats(n);
        const tx = gpu.upload('x', x);
        const tdy = gpu.upload('dy', dy);
        const ty = gpu.tensor('y', [n]);
        const tdx = gpu.tensor('dx', [n]);
        const y = await runAndRead(gpu, op, [unaryForward(gpu, op, ty, tx)], ty);
        const dx = await runAndRead(gpu, op, [unaryBackward(gpu, op, tdx, tx, tdy)], tdx);
        const [f, g] = unaryRef[op];
        assertClose(y, ref.map1(x, f), { rtol: 1e-6, atol: 1e-6, label: `${op} n=${n}` });
        assertClose(
          dx,
          ref.map2(x, dy, (u, v) => v * g(u)),
          { rtol: 1e-6, atol: 1e-6, label: `${op}' n=${n}` },
        );
        for (const t of [tx, tdy, ty, tdx]) gpu.releaseTensor(t);
      }
    });
  }

  it('gelu backward matches finite differences of the reference', () => {
    for (const x of [-3, -1, -0.1, 0, 0.2, 1.5, 4]) {
      const h = 1e-6;
      expect(ref.geluGrad(x)).toBeCloseTo((ref.gelu(x + h) - ref.gelu(x - h)) / (2 * h), 7);
    }
  });

  it('add, mul and scale_add on random sizes (property)', async () => {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5000 }),
        fc.integer(),
        fc.double({ min: -3, max: 3, noNaN: true }),
        async (n, seed, alpha) => {
          const rng = new Rng(seed);
          const a = rng.floats(n);
          const b = rng.floats(n);
          const ta = gpu.upload('a', a);
          const tb = gpu.upload('b', b);
          const out = gpu.tensor('out', [n]);
          const sum = await runAndRead(gpu, 'add', [binaryForward(gpu, 'add', out, ta, tb)], out);
          assertClose(
            sum,
            ref.map2(a, b, (u, v) => u + v),
            { label: `add n=${n}` },
          );
          const prod = await runAndRead(gpu, 'mul', [binaryForward(gpu, 'mul', out, ta, tb)], out);
          assertClose(
            prod,
            ref.map2(a, b, (u, v) => u * v),
            { label: `mul n=${n}` },
          );
          const sa = await runAndRead(gpu, 'scale_add', [scaleAdd(gpu, out, ta, tb, alpha, 0.5)], out);
          assertClose(
            sa,
            ref.map2(a, b, (u, v) => alpha * u + 0.5 * v),
            { label: `scale_add n=${n}` },
          );
          for (const t of [ta, tb, out]) gpu.releaseTensor(t);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('uses a 2-D grid beyond 65535 workgroups', async () => {
    const gpu = await testGpu();
    const n = 65536 * 256 + 300; // 16.7 M elements + a ragged tail
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = (i % 13) - 6;
    const tx = gpu.upload('x', x);
    const ty = gpu.tensor('y', [n]);
    const y = await runAndRead(gpu, 'relu-big', [unaryForward(gpu, 'relu', ty, tx)], ty);
    let wrong = 0;
    for (let i = 0; i < n; i++) if (y[i] !== Math.max(x[i], 0)) wrong++;
    expect(wrong).toBe(0);
    gpu.releaseTensor(tx);
    gpu.releaseTensor(ty);
  });
});
