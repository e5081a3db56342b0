import { describe, expect, it } from 'vitest';
import { runAndRead, testGpu } from '../../tests/gpu';
import { assertClose, numericGradient } from '../reference/allclose';
import * as ref from '../reference/layer-scale';
import { matmul as refMatmul } from '../reference/matmul';
import { Rng } from '../util/random';
import { layerScaleBackward } from './layerScale';
import { matmul, matmulSplitK } from './matmul';

// Tolerances: the forward is a K ≤ 40-term float32 dot product plus one bias add and one product with γ; the
// backward's dz is one product, dγ a sum of ≤ 5000 products of O(1) values (float32 summation error
// ~√depth·2⁻²⁴ relative to the terms, far below 1e-5 of the largest value at these depths).
const RTOL = 1e-5;

describe('layer-scale twin', () => {
  it('backward matches central finite differences (dz and dγ)', () => {
    const rng = new Rng(3);
    const rows = 5;
    const cols = 4;
    const z = Float64Array.from(rng.floats(rows * cols));
    const gamma = Float64Array.from(rng.floats(cols));
    const weights = Float64Array.from(rng.floats(rows * cols));
    // Objective Σ y · weights, whose gradient with respect to y is `weights`.
    const objective = (zv: Float64Array, gv: Float64Array) =>
      ref.layerScaleForward(zv, gv, rows, cols).reduce((s, v, i) => s + v * weights[i], 0);
    const { dz, dGamma } = ref.layerScaleBackward(z, gamma, weights, rows, cols);
    const tol = { rtol: 1e-7, atol: 1e-9 };
    assertClose(
      dz,
      numericGradient((v) => objective(v, gamma), z),
      { ...tol, label: 'dz fd' },
    );
    assertClose(
      dGamma,
      numericGradient((v) => objective(z, v), gamma),
      { ...tol, label: 'dγ fd' },
    );
  });
});

describe('layer scale on the GPU vs float64 twin', () => {
  for (const [rows, K, cols] of [
    [5, 7, 3],
    [37, 12, 20],
    [70, 40, 68],
  ] as const) {
    it(`forward epilogue ${rows}×${K}→${cols}: y = γ·(x·W + b), z kept`, async () => {
      const gpu = await testGpu();
      const rng = new Rng(rows);
      const x = rng.floats(rows * K);
      const w = rng.floats(K * cols);
      const bias = rng.floats(cols);
      const gamma = rng.floats(cols);
      const tensors = [x, w, bias, gamma].map((v, i) => gpu.upload(`in${i}`, v));
      const [tx, tw, tb, tg] = tensors;
      const y = gpu.tensor('y', [rows, cols]);
      const z = gpu.tensor('z', [rows, cols]);
      const dispatch = matmul(gpu, {
        out: y,
        a: tx,
        b: tw,
        M: rows,
        N: cols,
        K,
        bias: tb,
        layerScale: { gamma: tg, preScale: z },
      });
      const actualY = await runAndRead(gpu, 'layer scale forward', [dispatch], y);
      const actualZ = await gpu.read(z);
      const expectedZ = refMatmul({ a: x, b: w, M: rows, N: cols, K, bias });
      assertClose(actualZ, expectedZ, { rtol: RTOL, label: 'z' });
      assertClose(actualY, ref.layerScaleForward(expectedZ, gamma, rows, cols), { rtol: RTOL, label: 'y' });
      for (const t of [...tensors, y, z]) gpu.releaseTensor(t);
    });
  }

  for (const [rows, cols] of [
    [1, 1],
    [3, 70],
    [5000, 6],
  ] as const) {
    it(`backward ${rows}×${cols}: dz written, dγ accumulated over row blocks in order`, async () => {
      const gpu = await testGpu();
      const rng = new Rng(rows + cols);
      const z = rng.floats(rows * cols);
      const gamma = rng.floats(cols);
      const dy = rng.floats(rows * cols);
      const dGammaInit = rng.floats(cols);
      const tz = gpu.upload('z', z);
      const tg = gpu.upload('gamma', gamma);
      const tdy = gpu.upload('dy', dy);
      const tdGamma = gpu.upload('dGamma', dGammaInit);
      const tdz = gpu.tensor('dz', [rows, cols]);
      const sequence = layerScaleBackward(gpu, {
        rows,
        cols,
        dz: tdz,
        dy: tdy,
        preScale: tz,
        gamma: tg,
        dGamma: tdGamma,
      });
      const actualDGamma = await runAndRead(gpu, 'layer scale backward', [sequence], tdGamma);
      const actualDz = await gpu.read(tdz);
      const expected = ref.layerScaleBackward(z, gamma, dy, rows, cols);
      assertClose(actualDz, expected.dz, { rtol: RTOL, label: 'dz' });
      const expectedDGamma = expected.dGamma.map((v, i) => v + dGammaInit[i]);
      assertClose(actualDGamma, expectedDGamma, { rtol: RTOL, label: 'dγ' });
      for (const t of [tz, tg, tdy, tdGamma, tdz]) gpu.releaseTensor(t);
    });
  }

  it('refuses what the epilogue cannot do, with a sentence', async () => {
    const gpu = await testGpu();
    const t = (n: number) => gpu.tensor('t', [n]);
    const layerScale = { gamma: t(4), preScale: t(16) };
    const base = { out: t(16), a: t(16), b: t(16), M: 4, N: 4, K: 4, layerScale };
    expect(() => matmul(gpu, { ...base, accumulate: true })).toThrow(/writes its output once/);
    expect(() => matmulSplitK(gpu, base)).toThrow(/use matmul/);
    expect(() => matmul(gpu, { ...base, layerScale: { gamma: t(3), preScale: t(16) } })).toThrow(
      /layer scale/,
    );
    expect(() =>
      layerScaleBackward(gpu, {
        rows: 4,
        cols: 4,
        dz: t(16),
        dy: t(16),
        preScale: t(15),
        gamma: t(4),
        dGamma: t(4),
      }),
    ).toThrow(/preScale/);
  });
});
