import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import type { Gpu } from '../gpu/runtime';
import { assertChannelsClose, assertClose, numericGradient } from '../reference/allclose';
import { runningStatsRef } from '../reference/batchnorm';
import {
  type FusedActivationRef,
  fusedBatchNormBackwardRef,
  fusedBatchNormEvalRef,
  fusedBatchNormTrainRef,
} from '../reference/batchnorm-fused';
import { Rng } from '../util/random';
import {
  type FusedActivation,
  fusedBatchNormBackward,
  fusedBatchNormEval,
  fusedBatchNormTrain,
} from './batchnorm-fused';
import { Arena } from './params';

interface Case {
  rows: number;
  channels: number;
  seed: number;
  act: FusedActivation;
  residual: boolean;
  /** A shortcut BN's backward: no activation of its own, dy gated by a consumer's ReLU output. */
  consumerGate: boolean;
  accumulate: boolean;
  singlePass: boolean;
  /**
   * With a row mask (chunked schedule only): the share of rows kept besides the first and the last, which
   * always count (0: two counted rows, whole chunks uncounted).
   */
  maskKeep?: number;
}

async function runCase(gpu: Gpu, c: Case): Promise<void> {
  const { rows, channels } = c;
  const n = rows * channels;
  const rng = new Rng(c.seed);
  // An offset mean exercises the variance computation; the residual moves values across ReLU6's kinks.
  const x = rng.floats(n, 2, 5);
  const gamma = rng.floats(channels, 0.5, 1.5);
  const beta = rng.floats(channels, -1, 1);
  const residual = c.residual ? rng.floats(n, -3, 6) : undefined;
  const dy = rng.floats(n);
  const consumerY = c.consumerGate ? rng.floats(n, -1, 1).map((v) => (v < -0.5 ? 0 : v)) : undefined;
  const rm0 = rng.floats(channels);
  const rv0 = rng.floats(channels, 0.5, 2);
  const dGamma0 = rng.floats(channels);
  const dBeta0 = rng.floats(channels);
  const dx0 = rng.floats(n);
  const mask =
    c.maskKeep === undefined ? undefined : rng.floats(rows, 0, 1).map((v) => (v < c.maskKeep! ? 1 : 0));
  if (mask) {
    mask[0] = 1;
    mask[rows - 1] = 1;
  }

  const params = new Arena('bnf.params', true);
  params.add('bn.weight', { officialShape: [channels] });
  params.add('bn.bias', { officialShape: [channels] });
  params.allocate(gpu);
  const stats = new Arena('bnf.stats', false);
  stats.add('bn.running_mean', { officialShape: [channels] });
  stats.add('bn.running_var', { officialShape: [channels] });
  stats.allocate(gpu);
  const g = params.view('bn.weight');
  const b = params.view('bn.bias');
  const dg = params.view('bn.weight', 'grads');
  const db = params.view('bn.bias', 'grads');
  const rm = stats.view('bn.running_mean');
  const rv = stats.view('bn.running_var');
  gpu.write(g, gamma);
  gpu.write(b, beta);
  gpu.write(dg, dGamma0);
  gpu.write(db, dBeta0);
  gpu.write(rm, rm0);
  gpu.write(rv, rv0);
  const tx = gpu.upload('x', x);
  const tres = residual ? gpu.upload('residual', residual) : undefined;
  const tdy = gpu.upload('dy', dy);
  const tgate = consumerY ? gpu.upload('gate', consumerY) : undefined;
  const ty = gpu.tensor('y', [rows, channels]);
  const tyEval = gpu.tensor('y_eval', [rows, channels]);
  const tdx = gpu.upload('dx', dx0);
  const saved = gpu.tensor('saved', [3, channels]);
  const tmask = mask ? gpu.upload('mask', mask) : undefined;
  const shape = { rows, channels, singlePass: c.singlePass, rowMask: tmask };
  const forward = {
    ...shape,
    x: tx,
    gamma: g,
    beta: b,
    residual: tres,
    act: c.act,
    runningMean: rm,
    runningVar: rv,
  };
  const evalOp = fusedBatchNormEval(gpu, { ...forward, y: tyEval });
  const train = fusedBatchNormTrain(gpu, { ...forward, y: ty, saved });
  const gateSpec =
    c.act !== 'none' ? { y: ty, act: c.act } : tgate ? { y: tgate, act: 'relu' as const } : undefined;
  const backward = fusedBatchNormBackward(gpu, {
    ...shape,
    dx: tdx,
    accumulate: c.accumulate,
    dy: tdy,
    gate: gateSpec,
    x: tx,
    gamma: g,
    saved,
    dGamma: dg,
    dBeta: db,
  });
  await gpu.checked('bn_fused', async () => {
    gpu.submit('bn_fused', (pass) => {
      evalOp.encode(pass); // before the training forward moves the running statistics
      train.encode(pass);
      backward.encode(pass);
    });
    await gpu.idle();
  });
  const out = {
    y: await gpu.read(ty),
    yEval: await gpu.read(tyEval),
    dx: await gpu.read(tdx),
    dGamma: await gpu.read(dg),
    dBeta: await gpu.read(db),
    runningMean: await gpu.read(rm),
    runningVar: await gpu.read(rv),
  };
  for (const op of [evalOp, train, backward]) op.release();
  for (const t of [tx, tres, tdy, tgate, ty, tyEval, tdx, saved, tmask]) if (t) gpu.releaseTensor(t);
  params.release(gpu);
  stats.release(gpu);

  const label = `${rows}×${channels} ${c.act}${c.residual ? ' +res' : ''}${c.consumerGate ? ' gated' : ''}${c.accumulate ? ' +=' : ''} ${c.singlePass ? 'single' : 'chunked'}${mask ? ` masked ${c.maskKeep}` : ''}`;
  const ref = fusedBatchNormTrainRef(x, rows, channels, gamma, beta, c.act, residual, mask);
  // The gate is the GPU's own activation output (as in the model): elements within rounding of a kink gate alike.
  const gate =
    c.act !== 'none'
      ? { y: out.y, act: c.act }
      : consumerY
        ? { y: consumerY, act: 'relu' as const }
        : undefined;
  const grads = fusedBatchNormBackwardRef(dy, x, rows, channels, gamma, ref.stats, gate, mask);
  const running = runningStatsRef(rm0, rv0, ref.stats);
  // Float32 cannot hold x − μ better than a few ulps of |x|: x̂ inherits ~ulp(|x|)·invStd per channel (see
  // batchnorm-plain.test.ts); sums over ≤ 700 rows are ~1e-5 relative.
  const xHatSlack = Float64Array.from(
    { length: channels },
    (_, ch) => 8 * 2 ** -24 * 5 * ref.stats.invStd[ch],
  );
  assertChannelsClose(
    out.y,
    ref.y,
    channels,
    { rtol: 1e-5, atol: 1e-5, label: `${label} y` },
    (ch) => gamma[ch] * xHatSlack[ch],
  );
  const evalRef = fusedBatchNormEvalRef(x, rows, channels, rm0, rv0, gamma, beta, c.act, residual, mask);
  assertClose(out.yEval, evalRef, { rtol: 1e-5, atol: 1e-5, label: `${label} eval y` });
  assertClose(out.runningMean, running.mean, { rtol: 1e-5, label: `${label} running mean` });
  assertClose(out.runningVar, running.variance, { rtol: 1e-5, label: `${label} running var` });
  const dxExpected = c.accumulate ? grads.dx.map((v, i) => v + dx0[i]) : grads.dx;
  assertChannelsClose(
    out.dx,
    dxExpected,
    channels,
    { rtol: 1e-4, atol: 1e-5, label: `${label} dx` },
    (ch) => gamma[ch] * ref.stats.invStd[ch] * 2 * xHatSlack[ch],
  );
  // dγ = Σ g·x̂: the same x̂ error, once per row, weighted by |g| (it matters when few rows count).
  const sumAbsG = new Float64Array(channels);
  for (let i = 0; i < n; i++) sumAbsG[i % channels] += Math.abs(grads.gradResidual[i]);
  assertChannelsClose(
    out.dGamma,
    grads.dGamma.map((v, ch) => v + dGamma0[ch]),
    channels,
    { rtol: 1e-5, atol: 1e-5, label: `${label} dγ` },
    (ch) => sumAbsG[ch] * xHatSlack[ch],
  );
  assertClose(
    out.dBeta,
    grads.dBeta.map((v, ch) => v + dBeta0[ch]),
    { rtol: 1e-5, atol: 1e-5, label: `${label} dβ` },
  );
  // Uncounted rows: exactly 0 in y (whatever the residual and activation), dx untouched by BN.
  for (let r = 0; r < rows; r++) {
    if (mask?.[r] !== 0) continue;
    for (let ch = 0; ch < channels; ch++) {
      const i = r * channels + ch;
      expect(out.y[i]).toBe(0);
      expect(out.yEval[i]).toBe(0);
      expect(out.dx[i]).toBe(c.accumulate ? dx0[i] : 0);
    }
  }
}

const base: Omit<Case, 'rows' | 'channels' | 'seed'> = {
  act: 'relu',
  residual: false,
  consumerGate: false,
  accumulate: false,
  singlePass: true,
};

describe('fused BatchNorm (act(BN(x) + residual), gated backward, accumulate)', () => {
  it('twin backward matches central finite differences through the activation and the residual', () => {
    for (const act of ['none', 'relu', 'relu6'] as FusedActivationRef[]) {
      const rng = new Rng(act.length);
      const rows = 6;
      const channels = 3;
      const x = Float64Array.from(rng.floats(rows * channels, -2, 2));
      const gamma = Float64Array.from(rng.floats(channels, 0.5, 3));
      const beta = Float64Array.from(rng.floats(channels, -1, 4));
      const residual = Float64Array.from(rng.floats(rows * channels, -2, 4));
      const w = rng.floats(rows * channels);
      const loss = (xv: Float64Array, gv: Float64Array, bv: Float64Array, rv: Float64Array) =>
        fusedBatchNormTrainRef(xv, rows, channels, gv, bv, act, rv).y.reduce((s, v, i) => s + v * w[i], 0);
      const fwd = fusedBatchNormTrainRef(x, rows, channels, gamma, beta, act, residual);
      // Finite differences are meaningless at a kink: check that no pre-activation is near one.
      const pre = fusedBatchNormTrainRef(x, rows, channels, gamma, beta, 'none', residual).y;
      expect(Math.min(...pre.map((v) => Math.min(Math.abs(v), Math.abs(v - 6))))).toBeGreaterThan(1e-4);
      const tol = { rtol: 1e-6, atol: 1e-7 };
      const gate = act === 'none' ? undefined : { y: fwd.y, act };
      const analytic = fusedBatchNormBackwardRef(w, x, rows, channels, gamma, fwd.stats, gate);
      // The activations do cut something (ReLU at 0; ReLU6 at 0 or 6), so the gate is exercised.
      if (act !== 'none') expect(fwd.y.some((v) => v === 0 || v === 6)).toBe(true);
      assertClose(
        analytic.dx,
        numericGradient((v) => loss(v, gamma, beta, residual), x),
        { ...tol, label: `${act} dx` },
      );
      assertClose(
        analytic.dGamma,
        numericGradient((v) => loss(x, v, beta, residual), gamma),
        { ...tol, label: `${act} dγ` },
      );
      assertClose(
        analytic.dBeta,
        numericGradient((v) => loss(x, gamma, v, residual), beta),
        { ...tol, label: `${act} dβ` },
      );
      assertClose(
        analytic.gradResidual,
        numericGradient((v) => loss(x, gamma, beta, v), residual),
        {
          ...tol,
          label: `${act} d residual`,
        },
      );
    }
  });

  it('matches the twin on edge shapes: 2 rows, 1 channel, 65 and 130 channels, both schedules', async () => {
    const gpu = await testGpu();
    await runCase(gpu, { ...base, rows: 2, channels: 1, seed: 1 });
    await runCase(gpu, {
      ...base,
      rows: 3,
      channels: 130,
      seed: 2,
      act: 'none',
      consumerGate: true,
      accumulate: true,
    });
    await runCase(gpu, {
      ...base,
      rows: 601,
      channels: 65,
      seed: 3,
      act: 'relu6',
      residual: true,
      singlePass: false,
    });
    await runCase(gpu, {
      ...base,
      rows: 513,
      channels: 3,
      seed: 4,
      accumulate: true,
      residual: true,
      singlePass: false,
    });
  });

  it('with a row mask (chunked): uncounted rows stay out of every sum and come out 0, whole chunks uncounted', async () => {
    const gpu = await testGpu();
    const chunked = { ...base, singlePass: false };
    // Only the first and last rows count: the middle chunk of 256 rows has none.
    await runCase(gpu, { ...chunked, rows: 513, channels: 3, seed: 11, act: 'none', maskKeep: 0 });
    await runCase(gpu, {
      ...chunked,
      rows: 601,
      channels: 65,
      seed: 12,
      act: 'relu6',
      residual: true,
      accumulate: true,
      maskKeep: 0.4,
    });
    await runCase(gpu, {
      ...chunked,
      rows: 37,
      channels: 130,
      seed: 13,
      act: 'none',
      consumerGate: true,
      accumulate: true,
      maskKeep: 0.5,
    });
    await runCase(gpu, { ...chunked, rows: 2, channels: 1, seed: 14, residual: true, maskKeep: 0 });
  });

  it('matches the twin on random shapes, activations, residuals, gates and schedules', async () => {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          rows: fc.integer({ min: 2, max: 700 }),
          channels: fc.integer({ min: 1, max: 80 }),
          seed: fc.integer(),
          act: fc.constantFrom<FusedActivation>('none', 'relu', 'relu6'),
          residual: fc.boolean(),
          consumerGate: fc.boolean(),
          accumulate: fc.boolean(),
          singlePass: fc.boolean(),
          // Half the cases masked (chunked), half not.
          maskKeep: fc.oneof(fc.constant(undefined), fc.double({ min: 0, max: 1, noNaN: true })),
        }),
        (c) => runCase(gpu, { ...c, singlePass: c.singlePass && c.maskKeep === undefined }),
      ),
      { numRuns: 8 },
    );
  });

  it('refuses a single-row training forward, mismatched tensors and a masked single pass', async () => {
    const gpu = await testGpu();
    const t = (len: number) => gpu.tensor('t', [len]);
    const c = 4;
    const common = {
      channels: c,
      x: t(4),
      y: t(4),
      gamma: t(c),
      beta: t(c),
      runningMean: t(c),
      runningVar: t(c),
      saved: t(3 * c),
    };
    expect(() => fusedBatchNormTrain(gpu, { ...common, rows: 1 })).toThrow(/more than one value/);
    expect(() => fusedBatchNormTrain(gpu, { ...common, rows: 2 })).toThrow(/y has 4 elements, expected 8/);
    const [mask3, mask1] = [t(3), t(1)];
    expect(() => fusedBatchNormEval(gpu, { ...common, rows: 1, rowMask: mask3 })).toThrow(
      /the row mask has 3 values for 1 rows/,
    );
    expect(() => fusedBatchNormEval(gpu, { ...common, rows: 1, rowMask: mask1, singlePass: true })).toThrow(
      /single-pass schedule has no row mask/,
    );
    gpu.releaseTensor(mask3);
    gpu.releaseTensor(mask1);
    for (const tensor of Object.values(common)) if (typeof tensor === 'object') gpu.releaseTensor(tensor);
  });
});
