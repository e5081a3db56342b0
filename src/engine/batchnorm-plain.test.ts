// Plain BatchNorm (act 'none', no residual) of src/engine/batchnorm-fused.ts, with and without a row mask,
// against the unfused float64 twin src/reference/batchnorm.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import type { Gpu } from '../gpu/runtime';
import { assertChannelsClose, assertClose, numericGradient } from '../reference/allclose';
import {
  batchNormBackwardRef,
  batchNormEvalRef,
  batchNormTrainRef,
  runningStatsRef,
} from '../reference/batchnorm';
import { Rng } from '../util/random';
import { fusedBatchNormBackward, fusedBatchNormEval, fusedBatchNormTrain } from './batchnorm-fused';
import { Arena } from './params';

function randomMaskRows(rng: Rng, rows: number, keep: number): Float32Array {
  const m = new Float32Array(rows);
  for (let r = 0; r < rows; r++) m[r] = rng.next() < keep ? 1 : 0;
  m[0] = 1;
  m[rows - 1] = 1; // at least two counted rows
  return m;
}

/** Runs train forward + backward on the GPU with parameters and statistics in arenas, as a model would. */
async function runCase(gpu: Gpu, rows: number, channels: number, seed: number, masked: boolean) {
  const rng = new Rng(seed);
  // An offset mean and a non-unit scale exercise the variance computation (raw Σx² would lose digits).
  const x = rng.floats(rows * channels, 2, 5);
  const dy = rng.floats(rows * channels);
  const gamma = rng.floats(channels, 0.5, 1.5);
  const beta = rng.floats(channels);
  const rm0 = rng.floats(channels);
  const rv0 = rng.floats(channels, 0.5, 2);
  const dGamma0 = rng.floats(channels);
  const mask = masked ? randomMaskRows(rng, rows, 0.4) : undefined;

  const paramsArena = new Arena('bn.params', true);
  paramsArena.add('bn.weight', { officialShape: [channels] });
  paramsArena.add('bn.bias', { officialShape: [channels] });
  paramsArena.allocate(gpu);
  const statsArena = new Arena('bn.stats', false);
  statsArena.add('bn.running_mean', { officialShape: [channels] });
  statsArena.add('bn.running_var', { officialShape: [channels] });
  statsArena.allocate(gpu);
  const g = paramsArena.view('bn.weight');
  const b = paramsArena.view('bn.bias');
  const dg = paramsArena.view('bn.weight', 'grads');
  const db = paramsArena.view('bn.bias', 'grads');
  const rm = statsArena.view('bn.running_mean');
  const rv = statsArena.view('bn.running_var');
  gpu.write(g, gamma);
  gpu.write(b, beta);
  gpu.write(dg, dGamma0);
  gpu.write(rm, rm0);
  gpu.write(rv, rv0);
  const tx = gpu.upload('x', x);
  const tdy = gpu.upload('dy', dy);
  const ty = gpu.tensor('y', [rows, channels]);
  const tdx = gpu.tensor('dx', [rows, channels]);
  const tmask = mask ? gpu.upload('mask', mask) : undefined;
  const saved = gpu.tensor('bn.saved', [3, channels]);
  const shape = { rows, channels, rowMask: tmask };
  const fwd = fusedBatchNormTrain(gpu, {
    ...shape,
    y: ty,
    x: tx,
    gamma: g,
    beta: b,
    runningMean: rm,
    runningVar: rv,
    saved,
  });
  const bwd = fusedBatchNormBackward(gpu, {
    ...shape,
    dx: tdx,
    dy: tdy,
    x: tx,
    gamma: g,
    saved,
    dGamma: dg,
    dBeta: db,
  });
  await gpu.checked('bn', async () => {
    gpu.submit('bn', (pass) => {
      fwd.encode(pass);
      bwd.encode(pass);
    });
    await gpu.idle();
  });
  const out = {
    y: await gpu.read(ty),
    dx: await gpu.read(tdx),
    dGamma: await gpu.read(dg),
    dBeta: await gpu.read(db),
    runningMean: await gpu.read(rm),
    runningVar: await gpu.read(rv),
  };
  fwd.release();
  bwd.release();
  for (const t of [tx, tdy, ty, tdx, saved, ...(tmask ? [tmask] : [])]) gpu.releaseTensor(t);

  const stats = batchNormTrainRef(x, rows, channels, gamma, beta, mask);
  const running = runningStatsRef(rm0, rv0, stats);
  const grads = batchNormBackwardRef(dy, x, rows, channels, gamma, stats, mask);
  const label = `bn ${rows}×${channels}${masked ? ' masked' : ''}`;
  // Sums over up to a few hundred rows in float32: 1e-5 relative to the largest value is ~100 ulps of slack.
  // On top of that, float32 cannot represent x − μ better than a few ulps of |x|: when a channel's spread is
  // tiny (two rows with close values), x̂ = (x − μ)·invStd inherits an error ~ulp(|x|)·invStd, which no
  // kernel can avoid. That conditioning term is added per channel (for y, and through x̂ for dx).
  const xHatSlack = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    let maxAbsX = 0;
    for (let r = 0; r < rows; r++) maxAbsX = Math.max(maxAbsX, Math.abs(x[r * channels + c]));
    xHatSlack[c] = 8 * 2 ** -24 * maxAbsX * stats.invStd[c];
  }
  let maxAbsDy = 0;
  for (const v of dy) maxAbsDy = Math.max(maxAbsDy, Math.abs(v));
  assertChannelsClose(
    out.y,
    stats.y,
    channels,
    { rtol: 1e-5, atol: 1e-5, label: `${label} y` },
    (c) => Math.abs(gamma[c]) * xHatSlack[c],
  );
  assertClose(out.runningMean, running.mean, { rtol: 1e-5, label: `${label} running mean` });
  assertClose(out.runningVar, running.variance, { rtol: 1e-5, label: `${label} running var` });
  // dx = γ·invStd·(dy − mean(dy) − x̂·mean(dy·x̂)): an error δ in x̂ moves it by up to γ·invStd·2·max|dy|·δ.
  assertChannelsClose(
    out.dx,
    grads.dx,
    channels,
    { rtol: 1e-4, atol: 1e-5, label: `${label} dx` },
    (c) => Math.abs(gamma[c]) * stats.invStd[c] * 2 * maxAbsDy * xHatSlack[c],
  );
  // dγ = Σ dy·x̂ over the counted rows: the same x̂ error once per row, weighted by |dy|. It matters when the sum
  // cancels to much less than its terms (one channel, hundreds of rows, summed over 256 row lanes).
  const sumAbsDy = new Float64Array(channels);
  for (let i = 0; i < dy.length; i++)
    if (mask?.[Math.floor(i / channels)] !== 0) sumAbsDy[i % channels] += Math.abs(dy[i]);
  assertChannelsClose(
    out.dGamma,
    grads.dGamma.map((v, c) => v + dGamma0[c]),
    channels,
    { rtol: 1e-5, atol: 1e-5, label: `${label} dγ (accumulated)` },
    (c) => sumAbsDy[c] * xHatSlack[c],
  );
  assertClose(out.dBeta, grads.dBeta, { rtol: 1e-5, atol: 1e-5, label: `${label} dβ` });
  if (mask) {
    for (let r = 0; r < rows; r++)
      if (mask[r] === 0)
        for (let c = 0; c < channels; c++) {
          expect(out.y[r * channels + c]).toBe(0);
          expect(out.dx[r * channels + c]).toBe(0);
        }
  }
  paramsArena.release(gpu);
  statsArena.release(gpu);
}

describe('batchnorm (rows [R, C], optional row mask)', () => {
  it('reference backward matches central finite differences (with and without a mask)', () => {
    for (const masked of [false, true]) {
      const rng = new Rng(masked ? 5 : 4);
      const rows = 7;
      const channels = 3;
      const x = Float64Array.from(rng.floats(rows * channels, -2, 2));
      const gamma = Float64Array.from(rng.floats(channels, 0.5, 1.5));
      const beta = Float64Array.from(rng.floats(channels));
      const w = rng.floats(rows * channels);
      const mask = masked ? [1, 0, 1, 1, 0, 1, 0] : undefined;
      const loss = (xv: Float64Array, gv: Float64Array, bv: Float64Array) =>
        batchNormTrainRef(xv, rows, channels, gv, bv, mask).y.reduce((s, v, i) => s + v * w[i], 0);
      const stats = batchNormTrainRef(x, rows, channels, gamma, beta, mask);
      const analytic = batchNormBackwardRef(w, x, rows, channels, gamma, stats, mask);
      assertClose(
        analytic.dx,
        numericGradient((v) => loss(v, gamma, beta), x),
        { rtol: 1e-6, atol: 1e-7 },
      );
      assertClose(
        analytic.dGamma,
        numericGradient((v) => loss(x, v, beta), gamma),
        { rtol: 1e-6, atol: 1e-7 },
      );
      assertClose(
        analytic.dBeta,
        numericGradient((v) => loss(x, gamma, v), beta),
        { rtol: 1e-6, atol: 1e-7 },
      );
    }
  });

  it('train forward, running stats and backward on edge shapes', async () => {
    const gpu = await testGpu();
    // 2 rows (minimum), 1 channel, odd channel counts, a channel count over one 64-block, >1 row chunk.
    const shapes: [number, number][] = [
      [2, 1],
      [5, 3],
      [300, 7],
      [37, 67],
      [513, 4],
    ];
    let seed = 1;
    for (const [rows, channels] of shapes) {
      await runCase(gpu, rows, channels, seed++, false);
      await runCase(gpu, rows, channels, seed++, true);
    }
  });

  it('train forward and backward on random shapes (property)', async () => {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 700 }),
        fc.integer({ min: 1, max: 80 }),
        fc.integer(),
        fc.boolean(),
        async (rows, channels, seed, masked) => runCase(gpu, rows, channels, seed, masked),
      ),
      { numRuns: 10 },
    );
  });

  it('eval mode uses the running statistics and zeroes masked rows', async () => {
    const gpu = await testGpu();
    const rng = new Rng(9);
    const rows = 45;
    const channels = 5;
    const x = rng.floats(rows * channels, -3, 3);
    const gamma = rng.floats(channels);
    const beta = rng.floats(channels);
    const rm = rng.floats(channels);
    const rv = rng.floats(channels, 0.1, 3);
    const mask = randomMaskRows(rng, rows, 0.5);
    const t = {
      x: gpu.upload('x', x),
      gamma: gpu.upload('g', gamma),
      beta: gpu.upload('b', beta),
      rm: gpu.upload('rm', rm),
      rv: gpu.upload('rv', rv),
      mask: gpu.upload('m', mask),
      y: gpu.tensor('y', [rows, channels]),
    };
    const seq = fusedBatchNormEval(gpu, {
      rows,
      channels,
      rowMask: t.mask,
      y: t.y,
      x: t.x,
      gamma: t.gamma,
      beta: t.beta,
      runningMean: t.rm,
      runningVar: t.rv,
    });
    gpu.submit('bn eval', (pass) => seq.encode(pass));
    const y = await gpu.read(t.y);
    seq.release();
    assertClose(y, batchNormEvalRef(x, rows, channels, rm, rv, gamma, beta, mask), {
      rtol: 1e-6,
      atol: 1e-6,
    });
    for (const v of Object.values(t)) gpu.releaseTensor(v);
  });

  it('refuses a single training row with a sentence', async () => {
    const gpu = await testGpu();
    const one = gpu.tensor('one', [1]);
    expect(() =>
      fusedBatchNormTrain(gpu, {
        rows: 1,
        channels: 1,
        y: one,
        x: one,
        gamma: one,
        beta: one,
        runningMean: one,
        runningVar: one,
        saved: gpu.tensor('s', [3]),
      }),
    ).toThrow(/more than one value per channel/);
  });
});
