import fc from 'fast-check';
import { describe, it } from 'vitest';
import { runAndRead, testGpu } from '../../tests/gpu';
import type { Gpu, GpuTensor } from '../gpu/runtime';
import { assertClose, numericGradient } from '../reference/allclose';
import * as ref from '../reference/conv-transpose';
import { Rng } from '../util/random';
import {
  type ConvTransposeShape,
  convTransposeBackwardBias,
  convTransposeBackwardInput,
  convTransposeBackwardWeight,
  convTransposeForward,
  convTransposeOutputSize,
  upsample2x2,
  upsample4x4,
} from './conv-transpose';

// Each output sums ≤ 4·Cin (forward), 16·Cout (grad-input) or B·H·W (grad-weight) products of O(1) values:
// float32 error stays far below 1e-5 of the largest output at these depths.
const TOL = { rtol: 1e-5, atol: 1e-6 };

function name(s: ConvTransposeShape): string {
  return `B${s.batch} ${s.inH}×${s.inW}×${s.inC}→${s.outC} k${s.kernelH}×${s.kernelW} s${s.strideH}×${s.strideW} p${s.padH}×${s.padW}`;
}

async function checkAll(gpu: Gpu, s: ConvTransposeShape, seed: number): Promise<void> {
  const rng = new Rng(seed);
  const { outH, outW } = convTransposeOutputSize(s);
  const xLen = s.batch * s.inH * s.inW * s.inC;
  const yLen = s.batch * outH * outW * s.outC;
  const wLen = s.kernelH * s.kernelW * s.inC * s.outC;
  const x = rng.floats(xLen);
  const w = rng.floats(wLen);
  const bias = rng.floats(s.outC);
  const dy = rng.floats(yLen);
  const dwInit = rng.floats(wLen);
  const dbInit = rng.floats(s.outC);
  const tensors: GpuTensor[] = [];
  const up = (label: string, data: Float32Array) => {
    const t = gpu.upload(label, data);
    tensors.push(t);
    return t;
  };
  const tx = up('x', x);
  const tw = up('w', w);
  const tb = up('b', bias);
  const tdy = up('dy', dy);
  const ty = up('y', new Float32Array(yLen));
  const tdx = up('dx', new Float32Array(xLen));
  const tdw = up('dw', dwInit);
  const tdb = up('db', dbInit);
  const label = name(s);
  const y = await runAndRead(gpu, 'fwd', [convTransposeForward(gpu, s, ty, tx, tw, { bias: tb })], ty);
  assertClose(y, ref.convTransposeForward(s, x, w, bias), { ...TOL, label: `y ${label}` });
  const dx = await runAndRead(gpu, 'dx', [convTransposeBackwardInput(gpu, s, tdx, tdy, tw)], tdx);
  assertClose(dx, ref.convTransposeBackwardInput(s, dy, w), { ...TOL, label: `dx ${label}` });
  const dw = await runAndRead(gpu, 'dw', [convTransposeBackwardWeight(gpu, s, tdw, tx, tdy)], tdw);
  assertClose(
    dw,
    ref.convTransposeBackwardWeight(s, x, dy).map((v, i) => v + dwInit[i]),
    { ...TOL, label: `dw ${label}` },
  );
  const db = await runAndRead(gpu, 'db', [convTransposeBackwardBias(gpu, s, tdb, tdy)], tdb);
  assertClose(
    db,
    ref.convTransposeBackwardBias(s, dy).map((v, i) => v + dbInit[i]),
    { ...TOL, label: `db ${label}` },
  );
  for (const t of tensors) gpu.releaseTensor(t);
}

describe('conv transpose twin', () => {
  it('backward twins match central finite differences (4×4/s2/p1 and 3×3/s2/p1)', () => {
    const shapes: ConvTransposeShape[] = [
      upsample4x4(2, 3, 2, 2, 3),
      {
        batch: 1,
        inH: 3,
        inW: 3,
        inC: 2,
        outC: 2,
        kernelH: 3,
        kernelW: 3,
        strideH: 2,
        strideW: 2,
        padH: 1,
        padW: 1,
      },
    ];
    for (const s of shapes) {
      const rng = new Rng(9);
      const { outH, outW } = convTransposeOutputSize(s);
      const x = Float64Array.from(rng.floats(s.batch * s.inH * s.inW * s.inC));
      const w = Float64Array.from(rng.floats(s.kernelH * s.kernelW * s.inC * s.outC));
      const b = Float64Array.from(rng.floats(s.outC));
      const dy = Float64Array.from(rng.floats(s.batch * outH * outW * s.outC));
      const objective = (xx: Float64Array, ww: Float64Array, bb: Float64Array) => {
        const y = ref.convTransposeForward(s, xx, ww, bb);
        let sum = 0;
        for (let i = 0; i < y.length; i++) sum += y[i] * dy[i];
        return sum;
      };
      const tol = { rtol: 1e-7, atol: 1e-8 };
      assertClose(
        ref.convTransposeBackwardInput(s, dy, w),
        numericGradient((v) => objective(v, w, b), x),
        {
          ...tol,
          label: 'dx fd',
        },
      );
      assertClose(
        ref.convTransposeBackwardWeight(s, x, dy),
        numericGradient((v) => objective(x, v, b), w),
        {
          ...tol,
          label: 'dw fd',
        },
      );
      assertClose(
        ref.convTransposeBackwardBias(s, dy),
        numericGradient((v) => objective(x, w, v), b),
        {
          ...tol,
          label: 'db fd',
        },
      );
    }
  });

  it('4×4/s2/p1 doubles the size exactly', () => {
    const { outH, outW } = ref.convTransposeOutSize(upsample4x4(1, 7, 5, 1));
    if (outH !== 14 || outW !== 10) throw new Error(`expected 14×10, got ${outH}×${outW}`);
  });
});

describe('conv transpose GPU vs float64 twin', () => {
  const cases: ConvTransposeShape[] = [
    upsample4x4(1, 1, 1, 1),
    upsample4x4(2, 3, 5, 3, 5),
    upsample4x4(1, 7, 7, 24, 24),
    upsample4x4(3, 5, 4, 17, 37),
    // > 256 input pixels: the weight gradient splits K over several slices.
    upsample4x4(2, 12, 11, 5, 6),
    // Large enough for the 64×64-tile kernels.
    upsample4x4(2, 24, 32, 4, 8),
    upsample2x2(1, 1, 1, 1),
    upsample2x2(2, 3, 5, 6, 7),
  ];
  for (const s of cases) {
    it(`forward and backward ${name(s)}`, async () => {
      await checkAll(await testGpu(), s, 21);
    });
  }

  it('accumulate adds into out (forward) and dx (grad-input)', async () => {
    const gpu = await testGpu();
    const s = upsample4x4(2, 3, 4, 5, 6);
    const rng = new Rng(3);
    const { outH, outW } = convTransposeOutputSize(s);
    const x = rng.floats(s.batch * s.inH * s.inW * s.inC);
    const w = rng.floats(16 * s.inC * s.outC);
    const dy = rng.floats(s.batch * outH * outW * s.outC);
    const yInit = rng.floats(dy.length);
    const dxInit = rng.floats(x.length);
    const [tx, tw, tdy, ty, tdx] = [x, w, dy, yInit, dxInit].map((d) => gpu.upload('t', d));
    const y = await runAndRead(
      gpu,
      'fwd+',
      [convTransposeForward(gpu, s, ty, tx, tw, { accumulate: true })],
      ty,
    );
    assertClose(
      y,
      ref.convTransposeForward(s, x, w).map((v, i) => v + yInit[i]),
      { ...TOL, label: 'y+=' },
    );
    const dx = await runAndRead(
      gpu,
      'dx+',
      [convTransposeBackwardInput(gpu, s, tdx, tdy, tw, { accumulate: true })],
      tdx,
    );
    assertClose(
      dx,
      ref.convTransposeBackwardInput(s, dy, w).map((v, i) => v + dxInit[i]),
      { ...TOL, label: 'dx+=' },
    );
    for (const t of [tx, tw, tdy, ty, tdx]) gpu.releaseTensor(t);
  });

  it('random kernels, strides and paddings (property)', async () => {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          batch: fc.integer({ min: 1, max: 3 }),
          inH: fc.integer({ min: 1, max: 6 }),
          inW: fc.integer({ min: 1, max: 6 }),
          inC: fc.integer({ min: 1, max: 10 }),
          outC: fc.integer({ min: 1, max: 10 }),
          kernelH: fc.integer({ min: 1, max: 4 }),
          kernelW: fc.integer({ min: 1, max: 4 }),
          strideH: fc.integer({ min: 1, max: 3 }),
          strideW: fc.integer({ min: 1, max: 3 }),
          padH: fc.integer({ min: 0, max: 1 }),
          padW: fc.integer({ min: 0, max: 1 }),
        }),
        fc.integer(),
        async (s, seed) => {
          fc.pre(s.padH < s.kernelH && s.padW < s.kernelW);
          const { outH, outW } = convTransposeOutputSize(s);
          fc.pre(outH >= 1 && outW >= 1);
          await checkAll(gpu, s, seed);
        },
      ),
      { numRuns: 20 },
    );
  });
});
