import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import type { Gpu } from '../gpu/runtime';
import { assertClose, numericGradient } from '../reference/allclose';
import {
  denseConvRef,
  sparseConvBackwardRef,
  sparseConvRef,
  sparseDepthwiseBackwardRef,
  sparseDepthwiseRef,
} from '../reference/sparseConv';
import { type CellMask, expandMask, explicitMask, randomMask } from '../sparse/mask';
import { buildSiteSet, gatherRows, SparsePyramid, scatterRows, type WindowGeometry } from '../sparse/sites';
import { Rng } from '../util/random';
import {
  sparseConvBackward,
  sparseConvForward,
  sparseDepthwiseBackward,
  sparseDepthwiseForward,
} from './sparseConv';

interface Layer extends WindowGeometry {
  name: string;
  /** Input scale side (pixels per cell) and the output side = input side / stride. */
  inSide: number;
}

const LAYERS: Layer[] = [
  { name: '3x3/s1/p1', kernel: 3, stride: 1, padding: 1, inSide: 2 },
  { name: '1x1/s1', kernel: 1, stride: 1, padding: 0, inSide: 2 },
  { name: 'stem 7x7/s2/p3', kernel: 7, stride: 2, padding: 3, inSide: 4 },
  { name: '3x3/s2/p1', kernel: 3, stride: 2, padding: 1, inSide: 2 },
  { name: '1x1/s2 shortcut', kernel: 1, stride: 2, padding: 0, inSide: 2 },
  { name: 'convnext stem 4x4/s4', kernel: 4, stride: 4, padding: 0, inSide: 4 },
  { name: 'convnext down 2x2/s2', kernel: 2, stride: 2, padding: 0, inSide: 2 },
];

function masks(seed: number, batch: number, gh: number, gw: number): [string, CellMask][] {
  const single = new Array(batch * gh * gw).fill(0);
  for (let b = 0; b < batch; b++) single[b * gh * gw + ((seed >>> 0) % (gh * gw))] = 1;
  return [
    ['random', randomMask(batch, gh, gw, 0.6, seed)],
    ['all-visible', randomMask(batch, gh, gw, 0, seed)],
    ['single-cell', explicitMask(batch, gh, gw, single)],
  ];
}

async function runConvCase(
  gpu: Gpu,
  mask: CellMask,
  layer: Layer,
  cin: number,
  cout: number,
  seed: number,
  withBias: boolean,
  label: string,
): Promise<void> {
  const rng = new Rng(seed);
  const pyramid = new SparsePyramid(gpu, mask);
  const outSide = layer.inSide / layer.stride;
  const maps = pyramid.neighbours(layer.inSide, outSide, layer);
  const input = pyramid.scale(layer.inSide);
  const output = pyramid.scale(outSide);
  const taps = layer.kernel * layer.kernel;
  const x = rng.floats(input.rows * cin);
  const w = rng.floats(taps * cin * cout);
  const bias = withBias ? rng.floats(cout) : undefined;
  const dy = rng.floats(output.rows * cout);
  const dW0 = rng.floats(w.length);
  const t = {
    x: gpu.upload('x', x),
    w: gpu.upload('w', w),
    dy: gpu.upload('dy', dy),
    dW: gpu.upload('dW', dW0),
    y: gpu.tensor('y', [output.rows, cout]),
    dx: gpu.tensor('dx', [input.rows, cin]),
    ...(bias ? { b: gpu.upload('b', bias), dB: gpu.upload('dB', new Float32Array(cout)) } : {}),
  };
  const fwd = sparseConvForward(gpu, { maps, cin, cout, y: t.y, x: t.x, weight: t.w, bias: t.b });
  const bwd = sparseConvBackward(gpu, {
    maps,
    cin,
    cout,
    dx: t.dx,
    dy: t.dy,
    x: t.x,
    weight: t.w,
    dWeight: t.dW,
    dBias: t.dB,
  });
  await gpu.checked(label, async () => {
    gpu.submit(label, (pass) => {
      fwd.encode(pass);
      bwd.encode(pass);
    });
    await gpu.idle();
  });
  const y = await gpu.read(t.y);
  const dx = await gpu.read(t.dx);
  const dW = await gpu.read(t.dW);
  const dB = t.dB ? await gpu.read(t.dB) : undefined;
  fwd.release();
  bwd.release();
  for (const v of Object.values(t)) gpu.releaseTensor(v);
  pyramid.release();

  const yRef = sparseConvRef(x, input, output, w, bias, layer, cin, cout);
  const g = sparseConvBackwardRef(dy, x, input, output, w, layer, cin, cout);
  // Dot products of length ≤ 49·Cin (forward, dx) and ≤ N_active (dW) in float32, terms in [−1, 1]:
  // 1e-5 of the largest value is ~100 ulps, far above the rounding and far below any indexing mistake.
  assertClose(y, yRef, { rtol: 1e-5, atol: 1e-5, label: `${label} y` });
  assertClose(dx, g.dx, { rtol: 1e-5, atol: 1e-5, label: `${label} dx` });
  assertClose(
    dW,
    g.dWeight.map((v, i) => v + dW0[i]),
    { rtol: 1e-5, atol: 1e-5, label: `${label} dW (accumulated)` },
  );
  if (dB) assertClose(dB, g.dBias, { rtol: 1e-5, atol: 1e-5, label: `${label} dBias` });
}

describe('sparse convolution references', () => {
  it('gathered result equals dense conv then mask at visible sites (all strided layers)', () => {
    for (const layer of LAYERS) {
      for (const [kind, mask] of masks(3, 2, 3, 2)) {
        const rng = new Rng(17);
        const cin = 3;
        const cout = 5;
        const input = buildSiteSet(mask, layer.inSide);
        const output = buildSiteSet(mask, layer.inSide / layer.stride);
        const x = rng.floats(input.rows * cin);
        const w = rng.floats(layer.kernel ** 2 * cin * cout);
        const bias = rng.floats(cout);
        const dense = denseConvRef(
          scatterRows(x, input, cin),
          mask.batch,
          input.height,
          input.width,
          cin,
          w,
          bias,
          layer,
          cout,
          { outputMask: expandMask(mask, output.side) },
        );
        const sparse = sparseConvRef(x, input, output, w, bias, layer, cin, cout);
        // gatherRows/scatterRows store float32: 1e-7 relative is that rounding, far below any wrong tap.
        assertClose(sparse, gatherRows(dense.y, output, cout), {
          rtol: 1e-7,
          atol: 1e-12,
          label: `${layer.name} ${kind}`,
        });
        // And the dense output is exactly 0 at every masked site.
        const back = scatterRows(sparse, output, cout);
        assertClose(back, dense.y, { rtol: 1e-7, atol: 0, label: `${layer.name} ${kind} scattered` });
      }
    }
  });

  it('depthwise gathered result equals dense depthwise then mask', () => {
    const mask = randomMask(2, 2, 3, 0.5, 4);
    const layer = { kernel: 7, stride: 1, padding: 3 };
    const rng = new Rng(2);
    const c = 5;
    const s = buildSiteSet(mask, 4);
    const x = rng.floats(s.rows * c);
    const w = rng.floats(49 * c);
    const bias = rng.floats(c);
    const dense = denseConvRef(scatterRows(x, s, c), 2, s.height, s.width, c, w, bias, layer, c, {
      depthwise: true,
      outputMask: expandMask(mask, 4),
    });
    assertClose(sparseDepthwiseRef(x, s, s, w, bias, layer, c), gatherRows(dense.y, s, c), {
      rtol: 1e-7,
      atol: 1e-12,
    });
  });

  it('reference backward matches central finite differences (conv strided + depthwise)', () => {
    const mask = randomMask(1, 2, 2, 0.5, 8);
    for (const layer of [LAYERS[0], LAYERS[3], LAYERS[6]]) {
      const input = buildSiteSet(mask, layer.inSide);
      const output = buildSiteSet(mask, layer.inSide / layer.stride);
      const rng = new Rng(3);
      const cin = 2;
      const cout = 3;
      const x = Float64Array.from(rng.floats(input.rows * cin));
      const w = Float64Array.from(rng.floats(layer.kernel ** 2 * cin * cout));
      const b = Float64Array.from(rng.floats(cout));
      const r = rng.floats(output.rows * cout);
      const loss = (xv: Float64Array, wv: Float64Array, bv: Float64Array) =>
        sparseConvRef(xv, input, output, wv, bv, layer, cin, cout).reduce((s, v, i) => s + v * r[i], 0);
      const g = sparseConvBackwardRef(r, x, input, output, w, layer, cin, cout);
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
    }
    const s = buildSiteSet(mask, 4);
    const layer = { kernel: 7, stride: 1, padding: 3 };
    const rng = new Rng(4);
    const c = 2;
    const x = Float64Array.from(rng.floats(s.rows * c));
    const w = Float64Array.from(rng.floats(49 * c));
    const b = Float64Array.from(rng.floats(c));
    const r = rng.floats(s.rows * c);
    const loss = (xv: Float64Array, wv: Float64Array, bv: Float64Array) =>
      sparseDepthwiseRef(xv, s, s, wv, bv, layer, c).reduce((acc, v, i) => acc + v * r[i], 0);
    const g = sparseDepthwiseBackwardRef(r, x, s, s, w, layer, c);
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
  });
});

describe('sparse convolution kernels vs float64 twins', () => {
  for (const layer of LAYERS) {
    it(`${layer.name}: forward + backward, random / all-visible / single-cell masks, batch 1 and 2`, async () => {
      const gpu = await testGpu();
      let seed = 10;
      for (const batch of [1, 2]) {
        for (const [kind, mask] of masks(seed, batch, 2, 3)) {
          await runConvCase(
            gpu,
            mask,
            layer,
            3,
            5,
            seed++,
            batch === 1,
            `${layer.name} ${kind} b${batch} 3→5`,
          );
        }
      }
      // Channel counts that are multiples of 4 take the vec4-load kernel (forward and dX).
      await runConvCase(
        gpu,
        randomMask(2, 2, 3, 0.5, seed),
        layer,
        8,
        12,
        seed,
        true,
        `${layer.name} vec4 8→12`,
      );
    });
  }

  it('tiles: more than 64 rows and channels, odd and vec4 counts (70→67, 68→72, 132→4 strided)', async () => {
    const gpu = await testGpu();
    const mask = randomMask(2, 3, 3, 0.5, 5);
    await runConvCase(gpu, mask, LAYERS[0], 70, 67, 5, true, '3x3 70→67');
    await runConvCase(gpu, mask, LAYERS[0], 68, 72, 6, false, '3x3 vec4 68→72');
    await runConvCase(gpu, mask, LAYERS[3], 132, 4, 7, true, '3x3/s2 vec4 132→4');
  });

  it('many sites: 64×64 tiles and split-K weight-gradient partials (4096 rows 4→65, ~6k rows 3→8)', async () => {
    // Site counts this large make chooseTile pick 64×64 tiles for the forward and dX GEMMs and chooseSlices
    // split the weight gradient into several slices (partials + reduce); the small cases above run on 32×32
    // tiles and a single direct slice.
    const gpu = await testGpu();
    const wide: Layer = { name: '3x3/s1/p1 side 16', kernel: 3, stride: 1, padding: 1, inSide: 16 };
    await runConvCase(gpu, randomMask(1, 4, 4, 0, 21), wide, 4, 65, 21, false, '3x3 4096 rows 4→65');
    await runConvCase(gpu, randomMask(2, 4, 4, 0.25, 22), wide, 3, 8, 22, true, '3x3 ~6k rows 3→8');
    const strided: Layer = { name: '3x3/s2/p1 side 16', kernel: 3, stride: 2, padding: 1, inSide: 16 };
    await runConvCase(gpu, randomMask(2, 4, 4, 0.5, 23), strided, 8, 12, 23, true, '3x3/s2 8→12');
  });

  it('random shapes and layers (property)', async () => {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...LAYERS),
        fc.integer({ min: 1, max: 2 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer(),
        fc.boolean(),
        async (layer, batch, gh, gw, cin, cout, seed, bias) => {
          const ratio = gh * gw > 1 ? 0.5 : 0;
          await runConvCase(
            gpu,
            randomMask(batch, gh, gw, ratio, seed),
            layer,
            cin,
            cout,
            seed,
            bias,
            `${layer.name} ${cin}→${cout}`,
          );
        },
      ),
      { numRuns: 12 },
    );
  });

  it('depthwise 7x7 and 3x3 (through the grid index): forward + backward on random / all-visible / single-cell masks', async () => {
    const gpu = await testGpu();
    let seed = 40;
    for (const layer of [
      { kernel: 7, stride: 1, padding: 3 },
      { kernel: 3, stride: 1, padding: 1 },
    ]) {
      for (const [kind, mask] of masks(seed, 2, 2, 2)) {
        for (const channels of [1, 5, 67]) {
          const label = `dw ${layer.kernel}x${layer.kernel} ${kind} C=${channels}`;
          const rng = new Rng(seed++);
          const pyramid = new SparsePyramid(gpu, mask);
          const where = { scale: pyramid.gpuScale(4), kernel: layer.kernel, padding: layer.padding };
          const s = pyramid.scale(4);
          const taps = layer.kernel ** 2;
          const x = rng.floats(s.rows * channels);
          const w = rng.floats(taps * channels);
          const bias = rng.floats(channels);
          const dy = rng.floats(s.rows * channels);
          const t = {
            x: gpu.upload('x', x),
            w: gpu.upload('w', w),
            b: gpu.upload('b', bias),
            dy: gpu.upload('dy', dy),
            y: gpu.tensor('y', [s.rows, channels]),
            dx: gpu.tensor('dx', [s.rows, channels]),
            dW: gpu.upload('dW', new Float32Array(w.length)),
            dB: gpu.upload('dB', new Float32Array(channels)),
          };
          const fwd = sparseDepthwiseForward(gpu, {
            ...where,
            channels,
            y: t.y,
            x: t.x,
            weight: t.w,
            bias: t.b,
          });
          const bwd = sparseDepthwiseBackward(gpu, {
            ...where,
            channels,
            dx: t.dx,
            dy: t.dy,
            x: t.x,
            weight: t.w,
            dWeight: t.dW,
            dBias: t.dB,
          });
          await gpu.checked(label, async () => {
            gpu.submit(label, (pass) => {
              fwd.encode(pass);
              bwd.encode(pass);
            });
            await gpu.idle();
          });
          const g = sparseDepthwiseBackwardRef(dy, x, s, s, w, layer, channels);
          assertClose(await gpu.read(t.y), sparseDepthwiseRef(x, s, s, w, bias, layer, channels), {
            rtol: 1e-5,
            atol: 1e-5,
            label: `${label} y`,
          });
          assertClose(await gpu.read(t.dx), g.dx, { rtol: 1e-5, atol: 1e-5, label: `${label} dx` });
          assertClose(await gpu.read(t.dW), g.dWeight, { rtol: 1e-5, atol: 1e-5, label: `${label} dW` });
          assertClose(await gpu.read(t.dB), g.dBias, { rtol: 1e-5, atol: 1e-5, label: `${label} dB` });
          fwd.release();
          bwd.release();
          for (const v of Object.values(t)) gpu.releaseTensor(v);
          pyramid.release();
        }
      }
    }
  });

  it('rejects mismatched tensors with a sentence', async () => {
    const gpu = await testGpu();
    const pyramid = new SparsePyramid(gpu, randomMask(1, 2, 2, 0.5, 1));
    const maps = pyramid.neighbours(2, 2, { kernel: 3, stride: 1, padding: 1 });
    const small = gpu.tensor('w', [5]);
    expect(() =>
      sparseConvForward(gpu, { maps, cin: 2, cout: 2, y: small, x: small, weight: small }),
    ).toThrow(/weight has 5 elements, expected 36/);
    expect(() =>
      sparseDepthwiseForward(gpu, {
        scale: pyramid.gpuScale(2),
        kernel: 7,
        padding: 1,
        channels: 1,
        y: small,
        x: small,
        weight: small,
      }),
    ).toThrow(/needs padding \(k−1\)\/2/);
    const lean = pyramid.neighbours(2, 2, { kernel: 3, stride: 1, padding: 1 }, { transposed: false });
    const rows = gpu.tensor('rows', [lean.maps.inputRows]);
    const w9 = gpu.tensor('w9', [9]);
    expect(() =>
      sparseConvBackward(gpu, {
        maps: lean,
        cin: 1,
        cout: 1,
        dx: rows,
        dy: rows,
        x: rows,
        weight: w9,
        dWeight: w9,
      }),
    ).toThrow(/without the transposed map/);
    for (const t of [small, rows, w9]) gpu.releaseTensor(t);
    pyramid.release();
  });
});
