/**
 * The dense zero-masked baseline (what the official code computes: dense NHWC conv then × mask, BN statistics
 * over visible pixels) against the gathered sparse kernels, both on the GPU: equal at visible sites. This is
 * also what `npm run bench -- sparse` compares, so the benchmark times two implementations of the same thing.
 */
import { describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import { fusedBatchNormBackward, fusedBatchNormTrain } from '../engine/batchnorm-fused';
import {
  type Conv2dShape,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dForward,
  type GpuCellMask,
} from '../engine/conv2d';
import { sparseConvBackward, sparseConvForward } from '../engine/sparseConv';
import type { Gpu, GpuTensor } from '../gpu/runtime';
import { assertClose } from '../reference/allclose';
import { Rng } from '../util/random';
import { expandMask, randomMask } from './mask';
import { gatherRows, SparsePyramid } from './sites';

async function run(
  gpu: Gpu,
  label: string,
  ops: { encode(p: GPUComputePassEncoder): void; release(): void }[],
) {
  await gpu.checked(label, async () => {
    gpu.submit(label, (pass) => {
      for (const op of ops) op.encode(pass);
    });
    await gpu.idle();
  });
  for (const op of ops) op.release();
}

describe('dense zero-masked baseline == gathered sparse kernels at visible sites', () => {
  for (const [name, stride] of [
    ['3x3/s1/p1', 1],
    ['3x3/s2/p1', 2],
  ] as const) {
    it(`conv ${name}: forward, dx and dW`, async () => {
      const gpu = await testGpu();
      const mask = randomMask(2, 2, 3, 0.5, 7);
      const inSide = 4;
      const outSide = inSide / stride;
      const [cin, cout] = [5, 7];
      const geometry = { kernel: 3, stride, padding: 1 };
      const pyramid = new SparsePyramid(gpu, mask);
      const maps = pyramid.neighbours(inSide, outSide, geometry);
      const input = pyramid.scale(inSide);
      const output = pyramid.scale(outSide);
      const rng = new Rng(3);
      // Dense input: zeros at masked pixels (the previous layer's mask); dense dy: values everywhere, since
      // the baseline's mask epilogue must remove them.
      const xDense = rng.floats(input.batch * input.height * input.width * cin);
      const inMask = expandMask(mask, inSide);
      for (let p = 0; p < inMask.length; p++) if (!inMask[p]) xDense.fill(0, p * cin, (p + 1) * cin);
      const dyDense = rng.floats(output.batch * output.height * output.width * cout);
      const w = rng.floats(9 * cin * cout);
      const shape: Conv2dShape = {
        batch: 2,
        inH: input.height,
        inW: input.width,
        inC: cin,
        outC: cout,
        kernelH: 3,
        kernelW: 3,
        strideH: stride,
        strideW: stride,
        padH: 1,
        padW: 1,
        depthwise: false,
      };
      const cellMask = gpu.upload('cells', Float32Array.from(mask.cells));
      const gpuMask: GpuCellMask = {
        tensor: cellMask,
        kind: 'f32',
        gridH: 2,
        gridW: 3,
        cellH: outSide,
        cellW: outSide,
      };
      const t: Record<string, GpuTensor> = {
        w: gpu.upload('w', w),
        xd: gpu.upload('xd', xDense),
        dyd: gpu.upload('dyd', dyDense),
        yd: gpu.tensor('yd', [dyDense.length]),
        dxd: gpu.tensor('dxd', [xDense.length]),
        dWd: gpu.upload('dWd', new Float32Array(w.length)),
        xs: gpu.upload('xs', gatherRows(xDense, input, cin)),
        dys: gpu.upload('dys', gatherRows(dyDense, output, cout)),
        ys: gpu.tensor('ys', [output.rows * cout]),
        dxs: gpu.tensor('dxs', [input.rows * cin]),
        dWs: gpu.upload('dWs', new Float32Array(w.length)),
      };
      await run(gpu, `dense ${name}`, [
        conv2dForward(gpu, shape, t.yd, t.xd, t.w, { mask: gpuMask }),
        conv2dBackwardInput(gpu, shape, t.dxd, t.dyd, t.w, { mask: gpuMask }),
        conv2dBackwardWeight(gpu, shape, t.dWd, t.xd, t.dyd, { mask: gpuMask }),
      ]);
      await run(gpu, `sparse ${name}`, [
        sparseConvForward(gpu, { maps, cin, cout, y: t.ys, x: t.xs, weight: t.w }),
        sparseConvBackward(gpu, {
          maps,
          cin,
          cout,
          dx: t.dxs,
          dy: t.dys,
          x: t.xs,
          weight: t.w,
          dWeight: t.dWs,
        }),
      ]);
      const yd = await gpu.read(t.yd);
      // Two float32 implementations with different summation orders: 1e-5 of the largest value.
      const tol = { rtol: 1e-5, atol: 1e-6 };
      assertClose(await gpu.read(t.ys), gatherRows(yd, output, cout), { ...tol, label: `${name} y` });
      const outMask = expandMask(mask, outSide);
      for (let p = 0; p < outMask.length; p++)
        if (!outMask[p]) for (let c = 0; c < cout; c++) expect(Math.abs(yd[p * cout + c])).toBe(0); // mask × negative = −0
      assertClose(await gpu.read(t.dxs), gatherRows(await gpu.read(t.dxd), input, cin), {
        ...tol,
        label: `${name} dx`,
      });
      assertClose(await gpu.read(t.dWs), await gpu.read(t.dWd), { ...tol, label: `${name} dW` });
      for (const v of [...Object.values(t), cellMask]) gpu.releaseTensor(v);
      pyramid.release();
    });
  }

  it('BatchNorm: row-masked dense statistics == statistics over active rows', async () => {
    const gpu = await testGpu();
    const mask = randomMask(2, 3, 3, 0.6, 9);
    const side = 4;
    const C = 6;
    const pyramid = new SparsePyramid(gpu, mask);
    const sites = pyramid.scale(side);
    const rng = new Rng(4);
    const pixels = 2 * sites.height * sites.width;
    // Garbage at masked pixels: the row mask must keep it out of the statistics and the output.
    const xd = rng.floats(pixels * C, -2, 3);
    const dyd = rng.floats(pixels * C);
    const gamma = gpu.upload('g', rng.floats(C, 0.5, 1.5));
    const beta = gpu.upload('b', rng.floats(C));
    const pixelMask = expandMask(mask, side);
    const common = { channels: C, gamma, beta };
    const make = (rows: number, x: Float32Array, dy: Float32Array) => ({
      x: gpu.upload('x', x),
      dy: gpu.upload('dy', dy),
      y: gpu.tensor('y', [rows * C]),
      dx: gpu.tensor('dx', [rows * C]),
      rm: gpu.upload('rm', new Float32Array(C)),
      rv: gpu.upload('rv', new Float32Array(C).fill(1)),
      saved: gpu.tensor('bn.saved', [3, C]),
      dg: gpu.upload('dg', new Float32Array(C)),
      db: gpu.upload('db', new Float32Array(C)),
    });
    const d = make(pixels, xd, dyd);
    const s = make(sites.rows, gatherRows(xd, sites, C), gatherRows(dyd, sites, C));
    const rowMask = gpu.upload('rowmask', pixelMask);
    for (const [label, rows, t, m] of [
      ['dense', pixels, d, rowMask],
      ['sparse', sites.rows, s, undefined],
    ] as const) {
      const args = { ...common, rows, rowMask: m, runningMean: t.rm, runningVar: t.rv, saved: t.saved };
      await run(gpu, label, [
        fusedBatchNormTrain(gpu, { ...args, y: t.y, x: t.x }),
        fusedBatchNormBackward(gpu, { ...args, dx: t.dx, dy: t.dy, x: t.x, dGamma: t.dg, dBeta: t.db }),
      ]);
    }
    const tol = { rtol: 1e-5, atol: 1e-6 };
    const yd = await gpu.read(d.y);
    assertClose(await gpu.read(s.y), gatherRows(yd, sites, C), { ...tol, label: 'y' });
    for (let p = 0; p < pixels; p++)
      if (!pixelMask[p]) for (let c = 0; c < C; c++) expect(yd[p * C + c]).toBe(0);
    assertClose(await gpu.read(s.dx), gatherRows(await gpu.read(d.dx), sites, C), { ...tol, label: 'dx' });
    for (const k of ['rm', 'rv', 'dg', 'db'] as const)
      assertClose(await gpu.read(s[k]), await gpu.read(d[k]), { ...tol, label: k });
    for (const v of [...Object.values(d), ...Object.values(s), gamma, beta, rowMask]) gpu.releaseTensor(v);
    pyramid.release();
  });
});
