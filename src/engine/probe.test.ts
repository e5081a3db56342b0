import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runAndRead, testGpu } from '../../tests/gpu';
import { assertClose, numericGradient } from '../reference/allclose';
import * as ref from '../reference/probe';
import { Rng } from '../util/random';
import { globalAvgPool, globalAvgPoolBackward, softmaxXent, softmaxXentBackward, xentSummary } from './probe';

async function poolCase(
  batch: number,
  hw: number,
  channels: number,
  stride: number,
  offset: number,
  seed: number,
) {
  const gpu = await testGpu();
  const rng = new Rng(seed);
  const x = rng.floats(batch * hw * channels, -2, 2);
  const dy = rng.floats(batch * stride, -1, 1);
  const tx = gpu.upload('x', x);
  const tdy = gpu.upload('dy', dy);
  // Columns outside [offset, offset + channels) must stay untouched: start them at a sentinel.
  const tout = gpu.upload('out', new Float32Array(batch * stride).fill(7));
  const tdx = gpu.tensor('dx', [batch * hw * channels]);
  const shape = { batch, hw, channels, stride, offset };
  const out = await runAndRead(gpu, 'gap', [globalAvgPool(gpu, { ...shape, out: tout, x: tx })], tout);
  const dx = await runAndRead(
    gpu,
    'gap_bw',
    [globalAvgPoolBackward(gpu, { ...shape, dx: tdx, dy: tdy })],
    tdx,
  );
  const expected = ref.globalAvgPool(
    x,
    batch,
    hw,
    channels,
    stride,
    offset,
    new Float64Array(batch * stride).fill(7),
  );
  const label = `B=${batch} hw=${hw} C=${channels} stride=${stride} offset=${offset}`;
  // A sum of hw terms of magnitude ≤ 2: float32 round-off grows with hw.
  assertClose(out, expected, { rtol: 1e-6 * Math.max(1, hw), atol: 1e-6, label });
  assertClose(dx, ref.globalAvgPoolBackward(dy, batch, hw, channels, stride, offset), {
    rtol: 1e-6,
    atol: 1e-7,
    label,
  });
  for (const t of [tx, tdy, tout, tdx]) gpu.releaseTensor(t);
}

async function xentCase(rows: number, classes: number, seed: number, spread = 4) {
  const gpu = await testGpu();
  const rng = new Rng(seed);
  const logits = rng.floats(rows * classes, -spread, spread);
  const labels = Uint32Array.from({ length: rows }, () => rng.int(classes));
  const tl = gpu.upload('logits', logits);
  const ty = gpu.upload('labels', labels);
  const tstats = gpu.tensor('stats', [rows * 2]);
  const tsum = gpu.tensor('summary', [2]);
  const td = gpu.tensor('dlogits', [rows * classes]);
  const shape = { rows, classes, logits: tl, labels: ty };
  const stats = await runAndRead(
    gpu,
    'xent',
    [softmaxXent(gpu, { ...shape, stats: tstats }), xentSummary(gpu, { summary: tsum, stats: tstats, rows })],
    tstats,
  );
  const summary = await gpu.read(tsum);
  const d = await runAndRead(
    gpu,
    'xent_bw',
    [softmaxXentBackward(gpu, { ...shape, dlogits: td, scale: 1 / rows })],
    td,
  );
  const label = `rows=${rows} K=${classes} spread=${spread}`;
  const expected = ref.softmaxXent(logits, labels, rows, classes);
  // exp/log in float32: the loss is a difference of terms of size ~spread.
  assertClose(stats, expected, { rtol: 1e-5, atol: 1e-5 * spread, label });
  const [meanLoss, correct] = ref.xentSummary(expected, rows);
  expect(summary[1]).toBe(correct);
  expect(Math.abs(summary[0] - meanLoss)).toBeLessThanOrEqual(1e-5 * Math.max(1, meanLoss));
  assertClose(d, ref.softmaxXentBackward(logits, labels, rows, classes, 1 / rows), {
    rtol: 1e-5,
    atol: 1e-7,
    label,
  });
  for (const t of [tl, ty, tstats, tsum, td]) gpu.releaseTensor(t);
}

describe('probe kernels vs float64 twins', () => {
  for (const [batch, hw, channels, stride, offset] of [
    [1, 1, 1, 1, 0],
    [2, 16, 32, 56, 24],
    [3, 7, 5, 13, 8],
    [5, 49, 3, 3, 0],
    [1, 1024, 8, 8, 0],
  ])
    it(`global average pool B=${batch} hw=${hw} C=${channels} into rows of ${stride} at ${offset}`, () =>
      poolCase(batch, hw, channels, stride, offset, batch * 31 + hw));

  it('global average pool on random shapes (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 37 }),
        fc.integer({ min: 0, max: 11 }),
        fc.integer(),
        (batch, hw, channels, extra, seed) =>
          poolCase(batch, hw, channels, channels + extra, extra % (extra + 1), seed),
      ),
      { numRuns: 12 },
    );
  });

  for (const [rows, classes] of [
    [1, 1],
    [1, 2],
    [7, 10],
    [257, 3],
    [300, 13],
  ])
    it(`softmax cross-entropy rows=${rows} K=${classes}`, () => xentCase(rows, classes, rows + classes));

  it('softmax cross-entropy on random shapes (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 600 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer(),
        (r, k, s) => xentCase(r, k, s),
      ),
      { numRuns: 10 },
    );
  });

  it('softmax cross-entropy stays finite for logits of ±1000 (max-shifted)', async () => {
    await xentCase(9, 10, 3, 1000);
  });

  it('ties go to the lowest class, as argmax does', async () => {
    const gpu = await testGpu();
    const tl = gpu.upload('logits', Float32Array.of(1, 1, 0, 0, 2, 2));
    const ty = gpu.upload('labels', Uint32Array.of(1, 1));
    const ts = gpu.tensor('stats', [4]);
    const stats = await runAndRead(
      gpu,
      'tie',
      [softmaxXent(gpu, { rows: 2, classes: 3, logits: tl, labels: ty, stats: ts })],
      ts,
    );
    expect([stats[1], stats[3]]).toEqual([0, 1]);
    for (const t of [tl, ty, ts]) gpu.releaseTensor(t);
  });

  it('refuses columns that do not fit in the output rows', async () => {
    const gpu = await testGpu();
    const t = gpu.tensor('t', [64]);
    expect(() =>
      globalAvgPool(gpu, { out: t, x: t, batch: 1, hw: 1, channels: 8, stride: 10, offset: 4 }),
    ).toThrow(/do not fit in rows of 10 floats/);
    gpu.releaseTensor(t);
  });
});

describe('probe twins vs finite differences', () => {
  it('global average pool backward', () => {
    const rng = new Rng(5);
    const [batch, hw, channels, stride, offset] = [2, 5, 3, 7, 2];
    const x = Float64Array.from(rng.floats(batch * hw * channels));
    const dy = Float64Array.from(rng.floats(batch * stride));
    const f = (v: Float64Array) => {
      const y = ref.globalAvgPool(v, batch, hw, channels, stride, offset);
      let s = 0;
      for (let i = 0; i < y.length; i++) s += y[i] * dy[i];
      return s;
    };
    assertClose(ref.globalAvgPoolBackward(dy, batch, hw, channels, stride, offset), numericGradient(f, x), {
      rtol: 1e-7,
      atol: 1e-8,
    });
  });

  it('softmax cross-entropy backward (mean loss)', () => {
    const rng = new Rng(9);
    const [rows, classes] = [4, 6];
    const z = Float64Array.from(rng.floats(rows * classes, -3, 3));
    const labels = [0, 5, 2, 2];
    const f = (v: Float64Array) => ref.xentSummary(ref.softmaxXent(v, labels, rows, classes), rows)[0];
    assertClose(ref.softmaxXentBackward(z, labels, rows, classes, 1 / rows), numericGradient(f, z), {
      rtol: 1e-6,
      atol: 1e-8,
    });
  });

  it('cross-entropy of known logits', () => {
    // Uniform logits over K classes: loss = ln K; a one-hot-dominant row: loss ≈ 0 and correct.
    const stats = ref.softmaxXent([0, 0, 0, 0, 50, 0, 0, 0], [2, 0], 2, 4);
    expect(stats[0]).toBeCloseTo(Math.log(4), 12);
    expect(stats[1]).toBe(0);
    expect(stats[2]).toBeLessThan(1e-20);
    expect(stats[3]).toBe(1);
  });
});
