import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runAndRead, testGpu } from '../../tests/gpu';
import type { Gpu } from '../gpu/runtime';
import { assertClose, numericGradient } from '../reference/allclose';
import * as ref from '../reference/loss';
import { sparkLoss } from '../reference/spark/layers';
import { Tape, Tensor } from '../reference/spark/tape';
import { Rng } from '../util/random';
import { SparkLoss } from './loss';

type Pattern = 'random' | 'all' | 'none' | 'one';

function makeCells(rng: Rng, patches: number, perImage: number, pattern: Pattern): Uint32Array {
  const cells = new Uint32Array(patches);
  for (let l = 0; l < patches; l++) {
    if (pattern === 'all') cells[l] = 1;
    else if (pattern === 'one') cells[l] = l % perImage === 0 ? 1 : 0;
    else if (pattern === 'random') cells[l] = rng.int(2);
  }
  return cells;
}

function nhwcToNchw(data: ArrayLike<number>, batch: number, size: number): Float64Array {
  const out = new Float64Array(data.length);
  for (let b = 0; b < batch; b++)
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        for (let c = 0; c < 3; c++)
          out[((b * 3 + c) * size + y) * size + x] = data[((b * size + y) * size + x) * 3 + c];
  return out;
}

async function check(gpu: Gpu, s: ref.LossSettings, pattern: Pattern, seed: number): Promise<void> {
  const rng = new Rng(seed);
  const g = s.size / s.patch;
  const n = s.batch * s.size * s.size * 3;
  // Shift and scale the input per image so patch statistics are non-trivial.
  const x = rng.floats(n, -2, 3);
  const rec = rng.floats(n);
  const cells = makeCells(rng, s.batch * g * g, g * g, pattern);
  const loss = new SparkLoss(gpu, s);
  const tx = gpu.upload('x', x);
  const trec = gpu.upload('rec', rec);
  const tmask = gpu.upload('mask', cells);
  const tgrad = gpu.tensor('dRec', [n]);
  const tcomp = gpu.tensor('composite', [n]);
  const name = `B${s.batch} S${s.size} p${s.patch} ${pattern}${s.normalizeTarget ? '' : ' raw'}${s.maskedOnly ? '' : ' all-patches'}`;
  const expected = ref.lossForward(s, x, rec, cells);

  const lossValue = await runAndRead(gpu, 'loss', [loss.forward(tx, trec, tmask)], loss.loss);
  // Sums over 3r² ≤ 3072 values per patch and ≤ a few hundred patches: float32 tree sums stay within 1e-5.
  assertClose(lossValue, [expected.loss], { rtol: 1e-5, atol: 1e-7, label: `loss ${name}` });
  const stats = await loss.readPatchStats();
  const pick = (k: number) => Array.from({ length: loss.patches }, (_, l) => stats[4 * l + k]);
  assertClose(pick(0), expected.mean, { rtol: 1e-5, atol: 1e-6, label: `mean ${name}` });
  assertClose(pick(1), expected.std, { rtol: 1e-5, atol: 1e-6, label: `std ${name}` });
  assertClose(pick(2), expected.patchLoss, { rtol: 1e-5, atol: 1e-6, label: `patch loss ${name}` });

  const grad = await runAndRead(gpu, 'loss.grad', [loss.backward(tgrad, tx, trec)], tgrad);
  assertClose(grad, ref.lossGrad(s, x, rec, expected), { rtol: 1e-5, atol: 1e-9, label: `grad ${name}` });
  const comp = await runAndRead(gpu, 'loss.composite', [loss.composite(tcomp, tx, trec, tmask)], tcomp);
  assertClose(comp, ref.composite(s, x, rec, cells, expected), {
    rtol: 1e-5,
    atol: 1e-6,
    label: `composite ${name}`,
  });

  for (const t of [tx, trec, tmask, tgrad, tcomp]) gpu.releaseTensor(t);
  loss.release();
}

describe('SparK loss twin', () => {
  it('gradient matches central finite differences (normalised, masked-only and the ablations)', () => {
    for (const [normalizeTarget, maskedOnly] of [
      [true, true],
      [false, true],
      [true, false],
    ]) {
      const s = { batch: 2, size: 4, patch: 2, normalizeTarget, maskedOnly };
      const rng = new Rng(4);
      const x = Float64Array.from(rng.floats(2 * 4 * 4 * 3));
      const rec = Float64Array.from(rng.floats(x.length));
      const cells = [1, 0, 0, 1, 0, 0, 1, 0];
      const f = ref.lossForward(s, x, rec, cells);
      assertClose(
        ref.lossGrad(s, x, rec, f),
        numericGradient((r) => ref.lossForward(s, x, r, cells).loss, rec),
        { rtol: 1e-7, atol: 1e-10, label: 'loss grad fd' },
      );
    }
  });

  it('agrees with the NCHW reference SparK loss (src/reference/spark)', () => {
    const s = { batch: 2, size: 8, patch: 4, normalizeTarget: true, maskedOnly: true };
    const rng = new Rng(8);
    const x = Float64Array.from(rng.floats(2 * 8 * 8 * 3, -1, 2));
    const rec = Float64Array.from(rng.floats(x.length));
    const cells = Uint8Array.from([1, 0, 0, 1, 0, 0, 0, 1]);
    const mine = ref.lossForward(s, x, rec, cells);
    const tape = new Tape(true);
    const recT = new Tensor([2, 3, 8, 8], nhwcToNchw(rec, 2, 8));
    const theirs = sparkLoss(tape, recT, new Tensor([2, 3, 8, 8], nhwcToNchw(x, 2, 8)), {
      patch: 4,
      cells,
      normalizeTarget: true,
      maskedOnly: true,
    });
    expect(mine.loss).toBeCloseTo(theirs.loss.data[0], 12);
    tape.backward(theirs.loss);
    assertClose(nhwcToNchw(ref.lossGrad(s, x, rec, mine), 2, 8), recT.grad ?? [], {
      rtol: 1e-12,
      atol: 1e-15,
    });
  });

  it('a perfect prediction of the normalised target gives zero loss', () => {
    const s = { batch: 1, size: 4, patch: 2, normalizeTarget: true, maskedOnly: true };
    const x = Float64Array.from(new Rng(2).floats(48));
    const cells = [0, 0, 0, 0];
    const f = ref.lossForward(s, x, new Float64Array(48), cells);
    const perfect = ref.composite(s, x, new Float64Array(48), [1, 1, 1, 1], f).map((v, i) => {
      const l = Math.floor(Math.floor(i / 3 / 4) / 2) * 2 + Math.floor((((i / 3) | 0) % 4) / 2);
      return (v - f.mean[l]) / f.std[l];
    });
    expect(ref.lossForward(s, x, perfect, cells).loss).toBeLessThan(1e-20);
  });
});

describe('SparK loss GPU vs float64 twin', () => {
  const cases: [ref.LossSettings, Pattern][] = [
    [{ batch: 1, size: 1, patch: 1, normalizeTarget: true, maskedOnly: true }, 'none'],
    [{ batch: 2, size: 6, patch: 3, normalizeTarget: true, maskedOnly: true }, 'random'],
    [{ batch: 3, size: 8, patch: 2, normalizeTarget: true, maskedOnly: true }, 'one'],
    [{ batch: 2, size: 4, patch: 2, normalizeTarget: true, maskedOnly: true }, 'all'],
    [{ batch: 2, size: 6, patch: 3, normalizeTarget: false, maskedOnly: true }, 'random'],
    [{ batch: 2, size: 6, patch: 3, normalizeTarget: true, maskedOnly: false }, 'random'],
    // One 32×32 patch: 3072 values per workgroup (12 per thread).
    [{ batch: 1, size: 64, patch: 32, normalizeTarget: true, maskedOnly: true }, 'random'],
  ];
  for (const [s, pattern] of cases) {
    it(`B${s.batch} S${s.size} p${s.patch} ${pattern} norm=${s.normalizeTarget} maskedOnly=${s.maskedOnly}`, async () => {
      await check(await testGpu(), s, pattern, 17);
    });
  }

  it('random sizes and masks (property)', async () => {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 6 }),
        fc.boolean(),
        fc.boolean(),
        fc.integer(),
        async (batch, grid, patch, normalizeTarget, maskedOnly, seed) => {
          await check(gpu, { batch, size: grid * patch, patch, normalizeTarget, maskedOnly }, 'random', seed);
        },
      ),
      { numRuns: 15 },
    );
  });

  it('a zero prediction scores (n−1)/n · var/(var + 1e-6) per patch (the ≈1.0 loss at initialisation)', async () => {
    const gpu = await testGpu();
    // One image, one 8×8 patch masked: the target has unbiased variance 1 after normalisation, so the mean
    // of t² over n = 192 values is (n−1)/n · v/(v + 1e-6) with v the patch's unbiased variance.
    const s = { batch: 1, size: 8, patch: 8 };
    const x = new Rng(5).floats(192, -1, 2);
    const mean = x.reduce((a, v) => a + v, 0) / 192;
    const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / 191;
    const expected = (191 / 192) * (variance / (variance + 1e-6));
    const loss = new SparkLoss(gpu, s);
    const tx = gpu.upload('x', x);
    const trec = gpu.upload('rec', new Float32Array(192));
    const tmask = gpu.upload('mask', new Uint32Array(1));
    const value = await runAndRead(gpu, 'loss', [loss.forward(tx, trec, tmask)], loss.loss);
    expect(value[0]).toBeCloseTo(expected, 5);
    for (const t of [tx, trec, tmask]) gpu.releaseTensor(t);
    loss.release();
  });

  it('gradScale multiplies the gradient (e.g. 1/accumulation steps)', async () => {
    const gpu = await testGpu();
    const s = { batch: 2, size: 4, patch: 2, normalizeTarget: true, maskedOnly: true };
    const rng = new Rng(3);
    const x = rng.floats(96);
    const rec = rng.floats(96);
    const cells = Uint32Array.from([1, 0, 0, 1, 0, 0, 0, 1]);
    const loss = new SparkLoss(gpu, s);
    const [tx, trec] = [x, rec].map((d) => gpu.upload('t', d));
    const tmask = gpu.upload('mask', cells);
    const tgrad = gpu.tensor('dRec', [96]);
    const grad = await runAndRead(
      gpu,
      'loss',
      [loss.forward(tx, trec, tmask), loss.backward(tgrad, tx, trec, 0.25)],
      tgrad,
    );
    const expected = ref.lossGrad(s, x, rec, ref.lossForward(s, x, rec, cells)).map((v) => v * 0.25);
    assertClose(grad, expected, { rtol: 1e-5, atol: 1e-9 });
    for (const t of [tx, trec, tmask, tgrad]) gpu.releaseTensor(t);
    loss.release();
  });

  it('rejects an image size that is not a multiple of the patch', async () => {
    const gpu = await testGpu();
    expect(() => new SparkLoss(gpu, { batch: 1, size: 10, patch: 4 })).toThrow(/multiple of the patch/);
  });
});
