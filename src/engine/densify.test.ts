import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runAndRead, testGpu } from '../../tests/gpu';
import type { Gpu } from '../gpu/runtime';
import { assertClose, numericGradient } from '../reference/allclose';
import * as ref from '../reference/densify';
import type { CellMask } from '../sparse/mask';
import { buildSiteSet } from '../sparse/sites';
import { Rng } from '../util/random';
import { densifyBackward, densifyForward } from './densify';

function cellMask(
  rng: Rng,
  batch: number,
  grid: number,
  pattern: 'random' | 'all' | 'one' | 'none',
): CellMask {
  const cells = new Uint8Array(batch * grid * grid);
  for (let i = 0; i < cells.length; i++) {
    if (pattern === 'all') cells[i] = 1;
    else if (pattern === 'one') cells[i] = i % (grid * grid) === grid * grid - 1 ? 1 : 0;
    else if (pattern === 'random') cells[i] = rng.int(2);
  }
  return { batch, gridH: grid, gridW: grid, cells };
}

async function check(
  gpu: Gpu,
  mask: CellMask,
  side: number,
  channels: number,
  useToken: boolean,
  seed: number,
) {
  const rng = new Rng(seed);
  const sites = buildSiteSet(mask, side);
  const dims = { batch: mask.batch, height: sites.height, width: sites.width, channels };
  const pixels = sites.gridIndex.length;
  const rows = rng.floats(sites.rows * channels);
  const token = rng.floats(channels);
  const dOut = rng.floats(pixels * channels);
  const dTokenInit = rng.floats(channels);
  const tRows = gpu.upload('rows', rows.length ? rows : new Float32Array(0), [sites.rows, channels]);
  const tGrid = gpu.upload('grid', sites.gridIndex);
  const tToken = gpu.upload('token', token);
  const tOut = gpu.tensor('dense', [pixels * channels]);
  const tdOut = gpu.upload('dOut', dOut);
  const tdRows = gpu.tensor('dRows', [sites.rows, channels]);
  const tdToken = gpu.upload('dToken', dTokenInit);
  const label = `B${mask.batch} ${sites.height}×${sites.width}×${channels} rows ${sites.rows}${useToken ? '' : ' zeros'}`;

  const out = await runAndRead(
    gpu,
    'densify',
    [densifyForward(gpu, dims, tOut, tRows, tGrid, useToken ? tToken : null)],
    tOut,
  );
  // Pure copies: exact.
  assertClose(out, ref.densifyForward(rows, sites.gridIndex, useToken ? token : null, channels), {
    rtol: 0,
    atol: 0,
    label: `dense ${label}`,
  });
  const expected = ref.densifyBackward(dOut, sites.gridIndex, sites.rows, channels);
  const back = densifyBackward(gpu, dims, tdRows, tdOut, tGrid, useToken ? tdToken : null);
  const dRows = await runAndRead(gpu, 'densify.backward', [back], tdRows);
  assertClose(dRows, expected.dRows, { rtol: 0, atol: 0, label: `dRows ${label}` });
  const dToken = await gpu.read(tdToken);
  // Sums over up to B·H·W masked pixels of O(1) values (float32, fixed order).
  assertClose(dToken, useToken ? expected.dToken.map((v, i) => v + dTokenInit[i]) : dTokenInit, {
    rtol: 1e-5,
    atol: 1e-6,
    label: `dToken ${label}`,
  });
  for (const t of [tRows, tGrid, tToken, tOut, tdOut, tdRows, tdToken]) gpu.releaseTensor(t);
}

describe('densify twin', () => {
  it('backward matches finite differences of Σ dense·dOut', () => {
    const rng = new Rng(1);
    const sites = buildSiteSet(cellMask(rng, 2, 2, 'random'), 2);
    const channels = 3;
    const rows = Float64Array.from(rng.floats(sites.rows * channels));
    const token = Float64Array.from(rng.floats(channels));
    const dOut = Float64Array.from(rng.floats(sites.gridIndex.length * channels));
    const objective = (r: Float64Array, t: Float64Array) => {
      const dense = ref.densifyForward(r, sites.gridIndex, t, channels);
      return dense.reduce((s, v, i) => s + v * dOut[i], 0);
    };
    const { dRows, dToken } = ref.densifyBackward(dOut, sites.gridIndex, sites.rows, channels);
    assertClose(
      dRows,
      numericGradient((r) => objective(r, token), rows),
      { rtol: 1e-8, atol: 1e-9 },
    );
    assertClose(
      dToken,
      numericGradient((t) => objective(rows, t), token),
      { rtol: 1e-8, atol: 1e-9 },
    );
  });
});

describe('densify GPU vs float64 twin', () => {
  const cases: [string, number, number, number, number, 'random' | 'all' | 'one' | 'none', boolean][] = [
    // name, batch, grid, side, channels, pattern, token
    ['batch 1, one pixel, 1 channel', 1, 1, 1, 1, 'all', true],
    ['random mask, odd channels', 2, 3, 2, 5, 'random', true],
    ['all visible (token gets zero)', 2, 2, 2, 3, 'all', true],
    ['single visible cell', 3, 3, 4, 7, 'one', true],
    ['all masked', 1, 2, 3, 4, 'none', true],
    ['zero fill ablation', 2, 3, 2, 6, 'random', false],
    ['many pixels (token partials in several slices)', 2, 4, 8, 67, 'random', true],
  ];
  for (const [name, batch, grid, side, channels, pattern, token] of cases) {
    it(name, async () => {
      const gpu = await testGpu();
      await check(gpu, cellMask(new Rng(batch * 7 + grid), batch, grid, pattern), side, channels, token, 5);
    });
  }

  it('random masks and sizes (property)', async () => {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer(),
        async (batch, grid, side, channels, seed) => {
          await check(gpu, cellMask(new Rng(seed), batch, grid, 'random'), side, channels, true, seed);
        },
      ),
      { numRuns: 15 },
    );
  });

  it('accumulateRows adds the visible gradients into existing row gradients', async () => {
    const gpu = await testGpu();
    const rng = new Rng(6);
    const sites = buildSiteSet(cellMask(rng, 2, 3, 'random'), 2);
    const channels = 5;
    const dims = { batch: 2, height: sites.height, width: sites.width, channels };
    const dOut = rng.floats(sites.gridIndex.length * channels);
    const init = rng.floats(sites.rows * channels);
    const tdOut = gpu.upload('dOut', dOut);
    const tGrid = gpu.upload('grid', sites.gridIndex);
    const tdRows = gpu.upload('dRows', init, [sites.rows, channels]);
    const back = densifyBackward(gpu, dims, tdRows, tdOut, tGrid, null, { accumulateRows: true });
    const dRows = await runAndRead(gpu, 'densify.backward+', [back], tdRows);
    const expected = ref
      .densifyBackward(dOut, sites.gridIndex, sites.rows, channels)
      .dRows.map((v, i) => v + init[i]);
    // One float32 addition per element.
    assertClose(dRows, expected, { rtol: 1e-7, atol: 1e-7 });
    for (const t of [tdOut, tGrid, tdRows]) gpu.releaseTensor(t);
  });

  it('rejects a grid index of the wrong size with a sentence', async () => {
    const gpu = await testGpu();
    const t = gpu.tensor('t', [8]);
    expect(() => densifyForward(gpu, { batch: 1, height: 3, width: 3, channels: 1 }, t, t, t, null)).toThrow(
      /grid index/,
    );
    gpu.releaseTensor(t);
  });
});
