import fc from 'fast-check';
import { describe, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import type { Gpu } from '../gpu/runtime';
import { assertClose, numericGradient } from '../reference/allclose';
import { layerNormBackwardRef, layerNormRef } from '../reference/layernorm';
import { Rng } from '../reference/random';
import { layerNormBackward, layerNormForward, layerNormSaved } from './layernorm';

async function runCase(gpu: Gpu, rows: number, channels: number, seed: number): Promise<void> {
  const rng = new Rng(seed);
  // Offset mean: a one-pass Σx² − (Σx)² variance would fail this; the two-pass kernel must not.
  const x = rng.floats(rows * channels, 3, 5);
  const dy = rng.floats(rows * channels);
  const gamma = rng.floats(channels, 0.5, 1.5);
  const beta = rng.floats(channels);
  const dGamma0 = rng.floats(channels);
  const t = {
    x: gpu.upload('x', x),
    dy: gpu.upload('dy', dy),
    gamma: gpu.upload('g', gamma),
    beta: gpu.upload('b', beta),
    dGamma: gpu.upload('dg', dGamma0),
    dBeta: gpu.upload('db', new Float32Array(channels)),
    y: gpu.tensor('y', [rows, channels]),
    dx: gpu.tensor('dx', [rows, channels]),
    saved: layerNormSaved(gpu, rows),
  };
  const shape = { rows, channels };
  const fwd = layerNormForward(gpu, {
    ...shape,
    y: t.y,
    x: t.x,
    gamma: t.gamma,
    beta: t.beta,
    saved: t.saved,
  });
  const bwd = layerNormBackward(gpu, {
    ...shape,
    dx: t.dx,
    dy: t.dy,
    x: t.x,
    gamma: t.gamma,
    saved: t.saved,
    dGamma: t.dGamma,
    dBeta: t.dBeta,
  });
  const label = `ln ${rows}×${channels}`;
  await gpu.checked(label, async () => {
    gpu.submit(label, (pass) => {
      fwd.encode(pass);
      bwd.encode(pass);
    });
    await gpu.idle();
  });
  const ref = layerNormRef(x, rows, channels, gamma, beta);
  const g = layerNormBackwardRef(dy, x, rows, channels, gamma);
  // Row sums of ≤ a few hundred channels and column sums of ≤ 700 rows in float32.
  assertClose(await gpu.read(t.y), ref.y, { rtol: 1e-5, atol: 1e-5, label: `${label} y` });
  // dx = (1/σ)(g − mean(g) − x̂·mean(g·x̂)) cancels almost completely for few channels (for C = 2 it is ~0
  // exactly), so its float32 error scales with the terms (1/σ)·|dy·γ|, not with dx: bound it by those.
  const termScale =
    Math.max(...ref.invStd) * Math.max(...Array.from(dy, (v, i) => Math.abs(v * gamma[i % channels])));
  assertClose(await gpu.read(t.dx), g.dx, {
    rtol: 1e-4,
    atol: 1e-5 + 2e-6 * termScale,
    label: `${label} dx`,
  });
  assertClose(
    await gpu.read(t.dGamma),
    g.dGamma.map((v, c) => v + dGamma0[c]),
    { rtol: 1e-5, atol: 1e-5, label: `${label} dγ (accumulated)` },
  );
  assertClose(await gpu.read(t.dBeta), g.dBeta, { rtol: 1e-5, atol: 1e-5, label: `${label} dβ` });
  fwd.release();
  bwd.release();
  for (const v of Object.values(t)) gpu.releaseTensor(v);
}

describe('layernorm over channels (eps 1e-6)', () => {
  it('reference backward matches central finite differences', () => {
    const rng = new Rng(3);
    const rows = 4;
    const channels = 5;
    const x = Float64Array.from(rng.floats(rows * channels, -2, 2));
    const gamma = Float64Array.from(rng.floats(channels, 0.5, 1.5));
    const beta = Float64Array.from(rng.floats(channels));
    const w = rng.floats(rows * channels);
    const loss = (xv: Float64Array, gv: Float64Array, bv: Float64Array) =>
      layerNormRef(xv, rows, channels, gv, bv).y.reduce((s, v, i) => s + v * w[i], 0);
    const g = layerNormBackwardRef(w, x, rows, channels, gamma);
    assertClose(
      g.dx,
      numericGradient((v) => loss(v, gamma, beta), x),
      { rtol: 1e-6, atol: 1e-7 },
    );
    assertClose(
      g.dGamma,
      numericGradient((v) => loss(x, v, beta), gamma),
      { rtol: 1e-6, atol: 1e-7 },
    );
    assertClose(
      g.dBeta,
      numericGradient((v) => loss(x, gamma, v), beta),
      { rtol: 1e-6, atol: 1e-7 },
    );
  });

  it('GPU forward + backward on edge shapes (1 row, 1 channel, odd, >64 channels, >1 chunk)', async () => {
    const gpu = await testGpu();
    const shapes: [number, number][] = [
      [1, 1],
      [1, 7],
      [3, 96],
      [17, 130],
      [300, 5],
      // Two or three channels: dx cancels to ~0 (the case the dx tolerance is built for).
      [50, 2],
      [40, 3],
    ];
    let seed = 1;
    for (const [rows, channels] of shapes) await runCase(gpu, rows, channels, seed++);
  });

  it('random shapes (property)', async () => {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 600 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer(),
        async (rows, channels, seed) => runCase(gpu, rows, channels, seed),
      ),
      { numRuns: 10 },
    );
  });
});
