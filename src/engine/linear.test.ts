import fc from 'fast-check';
import { describe, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import type { Gpu } from '../gpu/runtime';
import { assertClose, numericGradient } from '../reference/allclose';
import { Rng } from '../reference/random';
import {
  layerScaleBackwardRef,
  layerScaleRef,
  linearBackwardRef,
  linearRef,
} from '../reference/sparsePointwise';
import { layerScaleBackward, layerScaleForward, linearBackward, linearForward } from './linear';

async function runLinear(gpu: Gpu, rows: number, inC: number, outC: number, seed: number, withBias: boolean) {
  const rng = new Rng(seed);
  const x = rng.floats(rows * inC);
  const w = rng.floats(inC * outC);
  const bias = withBias ? rng.floats(outC) : undefined;
  const dy = rng.floats(rows * outC);
  const dW0 = rng.floats(inC * outC);
  const t = {
    x: gpu.upload('x', x),
    w: gpu.upload('w', w),
    dy: gpu.upload('dy', dy),
    dW: gpu.upload('dW', dW0),
    y: gpu.tensor('y', [rows, outC]),
    dx: gpu.tensor('dx', [rows, inC]),
    ...(bias ? { b: gpu.upload('b', bias), dB: gpu.upload('dB', new Float32Array(outC)) } : {}),
  };
  const shape = { rows, inC, outC };
  const fwd = linearForward(gpu, { ...shape, y: t.y, x: t.x, weight: t.w, bias: t.b });
  const bwd = linearBackward(gpu, {
    ...shape,
    dx: t.dx,
    dy: t.dy,
    x: t.x,
    weight: t.w,
    dWeight: t.dW,
    dBias: t.dB,
  });
  const label = `linear ${rows}×${inC}→${outC}`;
  await gpu.checked(label, async () => {
    gpu.submit(label, (pass) => {
      fwd.encode(pass);
      bwd.encode(pass);
    });
    await gpu.idle();
  });
  const g = linearBackwardRef(dy, x, rows, inC, outC, w);
  // Dot products of length ≤ 600 with terms in [−1, 1]: 1e-5 of the largest value covers float32 summation.
  const tol = { rtol: 1e-5, atol: 1e-5 };
  assertClose(await gpu.read(t.y), linearRef(x, rows, inC, outC, w, bias), { ...tol, label: `${label} y` });
  assertClose(await gpu.read(t.dx), g.dx, { ...tol, label: `${label} dx` });
  assertClose(
    await gpu.read(t.dW),
    g.dWeight.map((v, i) => v + dW0[i]),
    { ...tol, label: `${label} dW (accumulated)` },
  );
  if (t.dB) assertClose(await gpu.read(t.dB), g.dBias, { ...tol, label: `${label} dBias` });
  fwd.release();
  bwd.release();
  for (const v of Object.values(t)) gpu.releaseTensor(v);
}

async function runLayerScale(gpu: Gpu, rows: number, channels: number, seed: number, withResidual: boolean) {
  const rng = new Rng(seed);
  const x = rng.floats(rows * channels);
  const gamma = rng.floats(channels);
  const residual = withResidual ? rng.floats(rows * channels) : undefined;
  const dy = rng.floats(rows * channels);
  const dG0 = rng.floats(channels);
  const t = {
    x: gpu.upload('x', x),
    g: gpu.upload('g', gamma),
    dy: gpu.upload('dy', dy),
    dG: gpu.upload('dG', dG0),
    y: gpu.tensor('y', [rows, channels]),
    dx: gpu.tensor('dx', [rows, channels]),
    ...(residual ? { r: gpu.upload('r', residual) } : {}),
  };
  const fwd = layerScaleForward(gpu, { rows, channels, y: t.y, x: t.x, gamma: t.g, residual: t.r });
  const bwd = layerScaleBackward(gpu, {
    rows,
    channels,
    dx: t.dx,
    dy: t.dy,
    x: t.x,
    gamma: t.g,
    dGamma: t.dG,
  });
  gpu.submit('layer scale', (pass) => {
    fwd.encode(pass);
    bwd.encode(pass);
  });
  const g = layerScaleBackwardRef(dy, x, rows, channels, gamma);
  const label = `layer scale ${rows}×${channels}`;
  assertClose(await gpu.read(t.y), layerScaleRef(x, rows, channels, gamma, residual), {
    rtol: 1e-6,
    atol: 1e-6,
    label,
  });
  assertClose(await gpu.read(t.dx), g.dx, { rtol: 1e-6, atol: 1e-6, label: `${label} dx` });
  assertClose(
    await gpu.read(t.dG),
    g.dGamma.map((v, c) => v + dG0[c]),
    { rtol: 1e-5, atol: 1e-5, label: `${label} dγ` },
  );
  fwd.release();
  bwd.release();
  for (const v of Object.values(t)) gpu.releaseTensor(v);
}

describe('pointwise layers on rows (linear, layer scale)', () => {
  it('reference backwards match central finite differences', () => {
    const rng = new Rng(1);
    const [rows, inC, outC] = [3, 4, 5];
    const x = Float64Array.from(rng.floats(rows * inC));
    const w = Float64Array.from(rng.floats(inC * outC));
    const b = Float64Array.from(rng.floats(outC));
    const r = rng.floats(rows * outC);
    const loss = (xv: Float64Array, wv: Float64Array, bv: Float64Array) =>
      linearRef(xv, rows, inC, outC, wv, bv).reduce((s, v, i) => s + v * r[i], 0);
    const g = linearBackwardRef(r, x, rows, inC, outC, w);
    assertClose(
      g.dx,
      numericGradient((v) => loss(v, w, b), x),
      { rtol: 1e-7, atol: 1e-8 },
    );
    assertClose(
      g.dWeight,
      numericGradient((v) => loss(x, v, b), w),
      { rtol: 1e-7, atol: 1e-8 },
    );
    assertClose(
      g.dBias,
      numericGradient((v) => loss(x, w, v), b),
      { rtol: 1e-7, atol: 1e-8 },
    );
    const gamma = Float64Array.from(rng.floats(outC));
    const y = Float64Array.from(rng.floats(rows * outC));
    const residual = rng.floats(rows * outC);
    const ls = (yv: Float64Array, gv: Float64Array) =>
      layerScaleRef(yv, rows, outC, gv, residual).reduce((s, v, i) => s + v * r[i], 0);
    const lg = layerScaleBackwardRef(r, y, rows, outC, gamma);
    assertClose(
      lg.dx,
      numericGradient((v) => ls(v, gamma), y),
      { rtol: 1e-7, atol: 1e-8 },
    );
    assertClose(
      lg.dGamma,
      numericGradient((v) => ls(y, v), gamma),
      { rtol: 1e-7, atol: 1e-8 },
    );
  });

  it('linear forward + backward: 1 row, odd widths, ConvNeXt 4× expansion and contraction', async () => {
    const gpu = await testGpu();
    const shapes: [number, number, number][] = [
      [1, 1, 1],
      [1, 7, 5],
      [37, 24, 96],
      [37, 96, 24],
      [300, 3, 13],
    ];
    let seed = 1;
    for (const [rows, inC, outC] of shapes) await runLinear(gpu, rows, inC, outC, seed, seed++ % 2 === 1);
  });

  it('linear on random shapes (property)', async () => {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 400 }),
        fc.integer({ min: 1, max: 70 }),
        fc.integer({ min: 1, max: 70 }),
        fc.integer(),
        fc.boolean(),
        async (rows, inC, outC, seed, bias) => runLinear(gpu, rows, inC, outC, seed, bias),
      ),
      { numRuns: 10 },
    );
  });

  it('layer scale with and without residual on edge and random shapes', async () => {
    const gpu = await testGpu();
    for (const [rows, channels] of [
      [1, 1],
      [5, 3],
      [300, 67],
    ])
      for (const residual of [false, true])
        await runLayerScale(gpu, rows, channels, rows + channels, residual);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 600 }),
        fc.integer({ min: 1, max: 100 }),
        fc.integer(),
        fc.boolean(),
        async (rows, channels, seed, residual) => runLayerScale(gpu, rows, channels, seed, residual),
      ),
      { numRuns: 8 },
    );
  });
});
