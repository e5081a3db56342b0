import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runAndRead, testGpu } from '../../tests/gpu';
import type { Gpu, GpuTensor } from '../gpu/runtime';
import { assertClose, numericGradient } from '../reference/allclose';
import * as ref from '../reference/conv2d';
import { Rng } from '../util/random';
import {
  type Conv2dShape,
  conv2dBackwardBias,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dForward,
  conv2dOutputSize,
  type GpuCellMask,
} from './conv2d';

// Tolerances: every output is a dot product of ≤ k²·C (forward, grad-input) or ≤ B·H·W (grad-weight) float32
// products of O(1) values; float32 summation error grows ~√depth·2⁻²⁴ relative to the terms, far below 1e-5
// of the largest output at these depths (< 2000 terms).
const RTOL = 1e-5;

function shapeName(s: Conv2dShape): string {
  return `B${s.batch} ${s.inH}×${s.inW}×${s.inC}→${s.outC} k${s.kernelH}×${s.kernelW} s${s.strideH}×${s.strideW} p${s.padH}×${s.padW}${s.depthwise ? ' dw' : ''}`;
}

interface MaskCase {
  host: ref.CellMask;
  gpu: GpuCellMask;
}

function makeMask(
  gpu: Gpu,
  rng: Rng,
  s: Conv2dShape,
  kind: 'u32' | 'f32',
  pattern: 'random' | 'all' | 'one',
) {
  const { outH, outW } = conv2dOutputSize(s);
  const cellH = 1 + rng.int(2);
  const cellW = 1 + rng.int(2);
  const gridH = Math.ceil(outH / cellH);
  const gridW = Math.ceil(outW / cellW);
  const n = s.batch * gridH * gridW;
  const flags = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    flags[i] = pattern === 'all' ? 1 : pattern === 'one' ? (i % (gridH * gridW) === 0 ? 1 : 0) : rng.int(2);
  }
  const data = kind === 'u32' ? Uint32Array.from(flags) : Float32Array.from(flags);
  const tensor = gpu.upload('mask', data);
  const host: ref.CellMask = { data: flags, gridH, gridW, cellH, cellW };
  return { host, gpu: { tensor, kind, gridH, gridW, cellH, cellW } } satisfies MaskCase;
}

async function checkAll(gpu: Gpu, s: Conv2dShape, seed: number, mask?: MaskCase): Promise<void> {
  const rng = new Rng(seed);
  const { outH, outW } = conv2dOutputSize(s);
  const xLen = s.batch * s.inH * s.inW * s.inC;
  const yLen = s.batch * outH * outW * s.outC;
  const wLen = s.kernelH * s.kernelW * s.inC * (s.depthwise ? 1 : s.outC);
  const x = rng.floats(xLen);
  const w = rng.floats(wLen);
  const bias = rng.floats(s.outC);
  const dy = rng.floats(yLen);
  const tensors: GpuTensor[] = [];
  const up = (label: string, data: Float32Array) => {
    const t = gpu.upload(label, data);
    tensors.push(t);
    return t;
  };
  const tx = up('x', x);
  const tw = up('w', w);
  const tb = up('bias', bias);
  const tdy = up('dy', dy);
  const ty = up('y', new Float32Array(yLen));
  const tdx = up('dx', new Float32Array(xLen));
  // Gradients accumulate: start from known values and expect them plus the new contribution.
  const dwInit = rng.floats(wLen);
  const dbInit = rng.floats(s.outC);
  const tdw = up('dw', dwInit);
  const tdb = up('db', dbInit);
  const name = shapeName(s) + (mask ? ` mask ${mask.gpu.kind}` : '');

  const y = await runAndRead(
    gpu,
    'fwd',
    [conv2dForward(gpu, s, ty, tx, tw, { bias: tb, mask: mask?.gpu })],
    ty,
  );
  assertClose(y, ref.conv2dForward(s, x, w, bias, mask?.host), {
    rtol: RTOL,
    atol: 1e-6,
    label: `y ${name}`,
  });

  const dx = await runAndRead(
    gpu,
    'dx',
    [conv2dBackwardInput(gpu, s, tdx, tdy, tw, { mask: mask?.gpu })],
    tdx,
  );
  assertClose(dx, ref.conv2dBackwardInput(s, dy, w, mask?.host), {
    rtol: RTOL,
    atol: 1e-6,
    label: `dx ${name}`,
  });

  const dw = await runAndRead(
    gpu,
    'dw',
    [conv2dBackwardWeight(gpu, s, tdw, tx, tdy, { mask: mask?.gpu })],
    tdw,
  );
  const dwRef = ref.conv2dBackwardWeight(s, x, dy, mask?.host).map((v, i) => v + dwInit[i]);
  assertClose(dw, dwRef, { rtol: RTOL, atol: 1e-6, label: `dw ${name}` });

  const db = await runAndRead(gpu, 'db', [conv2dBackwardBias(gpu, s, tdb, tdy, { mask: mask?.gpu })], tdb);
  const dbRef = ref.conv2dBackwardBias(s, dy, mask?.host).map((v, i) => v + dbInit[i]);
  assertClose(db, dbRef, { rtol: RTOL, atol: 1e-6, label: `db ${name}` });

  for (const t of tensors) gpu.releaseTensor(t);
  if (mask) gpu.releaseTensor(mask.gpu.tensor);
}

function shape(
  partial: Partial<Conv2dShape> & Pick<Conv2dShape, 'inH' | 'inC' | 'outC' | 'kernelH'>,
): Conv2dShape {
  return {
    batch: 1,
    inW: partial.inH,
    kernelW: partial.kernelH,
    strideH: 1,
    strideW: partial.strideH ?? 1,
    padH: 0,
    padW: partial.padH ?? 0,
    depthwise: false,
    ...partial,
  };
}

describe('conv2d twin', () => {
  it('backward twins match central finite differences (3×3/s2/p1 with mask, depthwise 3×3)', () => {
    for (const s of [
      shape({ batch: 2, inH: 5, inW: 4, inC: 2, outC: 3, kernelH: 3, strideH: 2, padH: 1 }),
      shape({ batch: 1, inH: 4, inC: 3, outC: 3, kernelH: 3, padH: 1, depthwise: true }),
    ]) {
      const rng = new Rng(3);
      const { outH, outW } = conv2dOutputSize(s);
      const x = Float64Array.from(rng.floats(s.batch * s.inH * s.inW * s.inC));
      const w = Float64Array.from(rng.floats(s.kernelH * s.kernelW * s.inC * (s.depthwise ? 1 : s.outC)));
      const bias = Float64Array.from(rng.floats(s.outC));
      const dy = Float64Array.from(rng.floats(s.batch * outH * outW * s.outC));
      const mask: ref.CellMask = {
        data: Array.from({ length: s.batch * outH * outW }, (_, i) => (i % 3 === 0 ? 0 : 1)),
        gridH: outH,
        gridW: outW,
        cellH: 1,
        cellW: 1,
      };
      // Scalar objective L = Σ y·dy, so ∂L/∂θ is exactly what the backward twins return.
      const objective = (xx: Float64Array, ww: Float64Array, bb: Float64Array) => {
        const y = ref.conv2dForward(s, xx, ww, bb, mask);
        let sum = 0;
        for (let i = 0; i < y.length; i++) sum += y[i] * dy[i];
        return sum;
      };
      const tol = { rtol: 1e-7, atol: 1e-8 };
      assertClose(
        ref.conv2dBackwardInput(s, dy, w, mask),
        numericGradient((v) => objective(v, w, bias), x),
        { ...tol, label: 'dx fd' },
      );
      assertClose(
        ref.conv2dBackwardWeight(s, x, dy, mask),
        numericGradient((v) => objective(x, v, bias), w),
        { ...tol, label: 'dw fd' },
      );
      assertClose(
        ref.conv2dBackwardBias(s, dy, mask),
        numericGradient((v) => objective(x, w, v), bias),
        { ...tol, label: 'db fd' },
      );
    }
  });
});

describe('conv2d GPU vs float64 twin', () => {
  const edgeCases: Conv2dShape[] = [
    // 1×1 conv, batch 1, channels 1 (no vec4 alignment anywhere).
    shape({ inH: 1, inC: 1, outC: 1, kernelH: 1 }),
    // 3×3/s1/p1 with channel counts not multiples of 4.
    shape({ batch: 2, inH: 7, inW: 5, inC: 3, outC: 5, kernelH: 3, padH: 1 }),
    // ResNet stem 7×7/s2/p3 on RGB.
    shape({ batch: 1, inH: 11, inC: 3, outC: 8, kernelH: 7, strideH: 2, padH: 3 }),
    // Strided 3×3/s2 and 1×1/s2 (phases with no taps).
    shape({ batch: 2, inH: 9, inC: 6, outC: 7, kernelH: 3, strideH: 2, padH: 1 }),
    shape({ batch: 1, inH: 6, inC: 5, outC: 4, kernelH: 1, strideH: 2 }),
    // ConvNeXt patchify 4×4/s4 and downsample 2×2/s2 (k = s).
    shape({ batch: 2, inH: 8, inC: 3, outC: 8, kernelH: 4, strideH: 4 }),
    shape({ batch: 1, inH: 6, inC: 8, outC: 12, kernelH: 2, strideH: 2 }),
    // More than one 64-row tile and a K spanning several BK steps with a ragged end.
    shape({ batch: 3, inH: 13, inW: 11, inC: 17, outC: 37, kernelH: 3, padH: 1 }),
    // Large enough (≥ 96 tiles) for the 64×64-tile kernels.
    shape({ batch: 2, inH: 48, inW: 64, inC: 4, outC: 8, kernelH: 3, padH: 1 }),
    // Depthwise 7×7/p3 and 3×3/s2.
    shape({ batch: 2, inH: 9, inC: 6, outC: 6, kernelH: 7, padH: 3, depthwise: true }),
    shape({ batch: 1, inH: 8, inC: 5, outC: 5, kernelH: 3, strideH: 2, padH: 1, depthwise: true }),
    // Depthwise with > 256 output pixels: the weight gradient splits over slices.
    shape({ batch: 2, inH: 13, inW: 12, inC: 3, outC: 3, kernelH: 3, padH: 1, depthwise: true }),
  ];
  for (const s of edgeCases) {
    it(`forward and backward ${shapeName(s)}`, async () => {
      const gpu = await testGpu();
      await checkAll(gpu, s, 11);
    });
  }

  it('mask epilogue and masked backward (u32 random, f32 all-visible, single visible cell)', async () => {
    const gpu = await testGpu();
    const rng = new Rng(5);
    const s = shape({ batch: 2, inH: 8, inC: 5, outC: 6, kernelH: 3, strideH: 2, padH: 1 });
    await checkAll(gpu, s, 1, makeMask(gpu, rng, s, 'u32', 'random'));
    await checkAll(gpu, s, 2, makeMask(gpu, rng, s, 'f32', 'all'));
    await checkAll(gpu, s, 3, makeMask(gpu, rng, s, 'u32', 'one'));
    // Channel counts that take the whole-vec4 load paths, with a mask.
    const vec = shape({ batch: 2, inH: 8, inC: 4, outC: 8, kernelH: 3, strideH: 2, padH: 1 });
    await checkAll(gpu, vec, 6, makeMask(gpu, rng, vec, 'f32', 'random'));
    const dw = shape({ batch: 2, inH: 6, inC: 4, outC: 4, kernelH: 3, padH: 1, depthwise: true });
    await checkAll(gpu, dw, 4, makeMask(gpu, rng, dw, 'u32', 'random'));
  });

  it('pointwise 1×1/s1/p0 convs (plain-rows loaders): scalar and vec4 channels, masks, 64×64 tiles', async () => {
    const gpu = await testGpu();
    const rng = new Rng(8);
    const odd = shape({ batch: 2, inH: 5, inW: 7, inC: 6, outC: 10, kernelH: 1 });
    await checkAll(gpu, odd, 21);
    await checkAll(gpu, odd, 22, makeMask(gpu, rng, odd, 'u32', 'random'));
    const vec = shape({ batch: 2, inH: 6, inC: 8, outC: 12, kernelH: 1 });
    await checkAll(gpu, vec, 23, makeMask(gpu, rng, vec, 'f32', 'random'));
    await checkAll(gpu, vec, 24, makeMask(gpu, rng, vec, 'u32', 'one'));
    // ≥ 96 tiles of 64×64; the weight gradient splits 6144 pixels over slices.
    await checkAll(gpu, shape({ batch: 2, inH: 48, inW: 64, inC: 8, outC: 12, kernelH: 1 }), 25);
  });

  it('random shapes (property)', async () => {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          batch: fc.integer({ min: 1, max: 3 }),
          inH: fc.integer({ min: 1, max: 9 }),
          inW: fc.integer({ min: 1, max: 9 }),
          inC: fc.integer({ min: 1, max: 12 }),
          outC: fc.integer({ min: 1, max: 12 }),
          kernelH: fc.integer({ min: 1, max: 4 }),
          kernelW: fc.integer({ min: 1, max: 4 }),
          strideH: fc.integer({ min: 1, max: 3 }),
          strideW: fc.integer({ min: 1, max: 3 }),
          padH: fc.integer({ min: 0, max: 2 }),
          padW: fc.integer({ min: 0, max: 2 }),
          depthwise: fc.boolean(),
        }),
        fc.integer(),
        async (raw, seed) => {
          const s: Conv2dShape = { ...raw, outC: raw.depthwise ? raw.inC : raw.outC };
          fc.pre(s.padH < s.kernelH && s.padW < s.kernelW);
          const { outH, outW } = conv2dOutputSize(s);
          fc.pre(outH >= 1 && outW >= 1);
          await checkAll(gpu, s, seed);
        },
      ),
      { numRuns: 20 },
    );
  });

  it('accumulate adds into out (forward) and dx (grad-input), GEMM and depthwise paths', async () => {
    const gpu = await testGpu();
    for (const s of [
      shape({ batch: 2, inH: 5, inC: 3, outC: 4, kernelH: 3, strideH: 2, padH: 1 }),
      shape({ batch: 1, inH: 5, inC: 3, outC: 3, kernelH: 3, padH: 1, depthwise: true }),
    ]) {
      const rng = new Rng(8);
      const { outH, outW } = conv2dOutputSize(s);
      const x = rng.floats(s.batch * s.inH * s.inW * s.inC);
      const w = rng.floats(s.kernelH * s.kernelW * s.inC * (s.depthwise ? 1 : s.outC));
      const dy = rng.floats(s.batch * outH * outW * s.outC);
      const yInit = rng.floats(dy.length);
      const dxInit = rng.floats(x.length);
      const [tx, tw, tdy, ty, tdx] = [x, w, dy, yInit, dxInit].map((d) => gpu.upload('t', d));
      const y = await runAndRead(gpu, 'fwd+', [conv2dForward(gpu, s, ty, tx, tw, { accumulate: true })], ty);
      const yRef = ref.conv2dForward(s, x, w).map((v, i) => v + yInit[i]);
      assertClose(y, yRef, { rtol: RTOL, atol: 1e-6, label: `y+= ${shapeName(s)}` });
      const dx = await runAndRead(
        gpu,
        'dx+',
        [conv2dBackwardInput(gpu, s, tdx, tdy, tw, { accumulate: true })],
        tdx,
      );
      const dxRef = ref.conv2dBackwardInput(s, dy, w).map((v, i) => v + dxInit[i]);
      assertClose(dx, dxRef, { rtol: RTOL, atol: 1e-6, label: `dx+= ${shapeName(s)}` });
      for (const t of [tx, tw, tdy, ty, tdx]) gpu.releaseTensor(t);
    }
  });

  it('rejects shapes that cannot work, with a sentence', async () => {
    const gpu = await testGpu();
    const s = shape({ inH: 2, inC: 1, outC: 1, kernelH: 5 });
    const t = gpu.tensor('t', [4]);
    expect(() => conv2dForward(gpu, s, t, t, t)).toThrow(/does not fit/);
    gpu.releaseTensor(t);
  });
});
