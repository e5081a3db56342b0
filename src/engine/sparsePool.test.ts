import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import type { Gpu } from '../gpu/runtime';
import { assertClose, numericGradient } from '../reference/allclose';
import { sparseMaxPoolBackwardRef, sparseMaxPoolRef } from '../reference/sparsePool';
import { type CellMask, expandMask, explicitMask, randomMask } from '../sparse/mask';
import { buildSiteSet, gatherRows, SparsePyramid, scatterRows } from '../sparse/sites';
import { Rng } from '../util/random';
import { sparseMaxPoolArgmax, sparseMaxPoolBackward, sparseMaxPoolForward } from './sparsePool';

const POOL = { kernel: 3, stride: 2, padding: 1 };

/** Independent oracle: PyTorch MaxPool2d(3, 2, 1) on dense NHWC (−∞ padding), then × output mask. */
function denseMaxPoolThenMask(
  x: Float32Array,
  b: number,
  h: number,
  w: number,
  c: number,
  outMask: Float32Array,
) {
  const oh = Math.floor((h + 2 - 3) / 2) + 1;
  const ow = Math.floor((w + 2 - 3) / 2) + 1;
  const y = new Float64Array(b * oh * ow * c);
  for (let n = 0; n < b; n++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++)
        for (let ch = 0; ch < c; ch++) {
          let best = Number.NEGATIVE_INFINITY;
          for (let ky = 0; ky < 3; ky++)
            for (let kx = 0; kx < 3; kx++) {
              const iy = oy * 2 - 1 + ky;
              const ix = ox * 2 - 1 + kx;
              if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                best = Math.max(best, x[((n * h + iy) * w + ix) * c + ch]);
            }
          const o = (n * oh + oy) * ow + ox;
          y[o * c + ch] = best * outMask[o];
        }
  return y;
}

function masks(seed: number, batch: number, gh: number, gw: number): [string, CellMask][] {
  const single = new Array(batch * gh * gw).fill(0);
  for (let b = 0; b < batch; b++) single[b * gh * gw + (b % (gh * gw))] = 1;
  return [
    ['random', randomMask(batch, gh, gw, 0.5, seed)],
    ['all-visible', randomMask(batch, gh, gw, 0, seed)],
    ['single-cell', explicitMask(batch, gh, gw, single)],
  ];
}

async function runCase(
  gpu: Gpu,
  mask: CellMask,
  inSide: number,
  channels: number,
  seed: number,
  label: string,
) {
  const rng = new Rng(seed);
  const pyramid = new SparsePyramid(gpu, mask);
  const maps = pyramid.neighbours(inSide, inSide / 2, POOL);
  const input = pyramid.scale(inSide);
  const output = pyramid.scale(inSide / 2);
  // Negative values too, so that masked neighbours' zeros win some windows.
  const x = rng.floats(input.rows * channels, -1, 1);
  const dy = rng.floats(output.rows * channels);
  const t = {
    x: gpu.upload('x', x),
    dy: gpu.upload('dy', dy),
    y: gpu.tensor('y', [output.rows, channels]),
    dx: gpu.tensor('dx', [input.rows, channels]),
    argmax: sparseMaxPoolArgmax(gpu, maps, channels),
  };
  const fwd = sparseMaxPoolForward(gpu, { maps, channels, y: t.y, argmax: t.argmax, x: t.x });
  const bwd = sparseMaxPoolBackward(gpu, { maps, channels, dx: t.dx, dy: t.dy, argmax: t.argmax });
  await gpu.checked(label, async () => {
    gpu.submit(label, (pass) => {
      fwd.encode(pass);
      bwd.encode(pass);
    });
    await gpu.idle();
  });
  const ref = sparseMaxPoolRef(x, input, output, POOL, channels);
  // A max and a sum of at most 9 (in practice ≤ 4) values: exact up to float32 rounding of the sums.
  assertClose(await gpu.read(t.y), ref.y, { rtol: 0, atol: 0, label: `${label} y` });
  assertClose(await gpu.read(t.dx), sparseMaxPoolBackwardRef(dy, ref.argmaxRow, input.rows, channels), {
    rtol: 1e-6,
    atol: 1e-7,
    label: `${label} dx`,
  });
  fwd.release();
  bwd.release();
  for (const v of Object.values(t)) gpu.releaseTensor(v);
  pyramid.release();
}

describe('sparse max-pool 3x3/s2/p1', () => {
  it('reference equals dense max-pool over zero-filled input, then mask', () => {
    for (const [kind, mask] of masks(3, 2, 3, 2)) {
      const input = buildSiteSet(mask, 4);
      const output = buildSiteSet(mask, 2);
      const c = 3;
      const x = new Rng(5).floats(input.rows * c);
      const dense = denseMaxPoolThenMask(
        scatterRows(x, input, c),
        2,
        input.height,
        input.width,
        c,
        expandMask(mask, 2),
      );
      const { y } = sparseMaxPoolRef(x, input, output, POOL, c);
      assertClose(y, gatherRows(dense, output, c), { rtol: 0, atol: 0, label: kind });
    }
  });

  it('reference backward matches central finite differences', () => {
    const mask = randomMask(1, 2, 2, 0.5, 2);
    const input = buildSiteSet(mask, 4);
    const output = buildSiteSet(mask, 2);
    const c = 2;
    const x = Float64Array.from(new Rng(6).floats(input.rows * c));
    const r = new Rng(7).floats(output.rows * c);
    const loss = (v: Float64Array) =>
      sparseMaxPoolRef(v, input, output, POOL, c).y.reduce((s, y, i) => s + y * r[i], 0);
    const { argmaxRow } = sparseMaxPoolRef(x, input, output, POOL, c);
    // Random values are distinct (gaps ≫ h), so the max is locally linear and differences are exact.
    assertClose(sparseMaxPoolBackwardRef(r, argmaxRow, input.rows, c), numericGradient(loss, x, 1e-7), {
      rtol: 1e-6,
      atol: 1e-7,
    });
    expect(argmaxRow.some((v) => v < 0)).toBe(true); // some masked zeros won: the case that matters
  });

  it('GPU forward + backward vs twin on random / all-visible / single-cell masks, batch 1 and 2', async () => {
    const gpu = await testGpu();
    let seed = 1;
    for (const batch of [1, 2])
      for (const [kind, mask] of masks(seed, batch, 2, 3))
        for (const channels of [1, 5, 67])
          await runCase(gpu, mask, 4, channels, seed++, `pool ${kind} b${batch} C=${channels}`);
  });

  it('random shapes (property)', async () => {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom(2, 4, 8),
        fc.integer({ min: 1, max: 40 }),
        fc.integer(),
        async (batch, gh, gw, side, channels, seed) => {
          const mask = randomMask(batch, gh, gw, gh * gw > 1 ? 0.5 : 0, seed);
          await runCase(gpu, mask, side, channels, seed, `pool side ${side} C=${channels}`);
        },
      ),
      { numRuns: 15 },
    );
  });
});
