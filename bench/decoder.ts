/**
 * `npm run bench -- decoder [--cases conv3x3-28,convT-14] [--batch N] [--iterations N] [--warmup N]`
 *
 * GFLOP/s of the dense conv (src/engine/conv2d.ts) and the transposed conv (src/engine/conv-transpose.ts),
 * forward, grad-input and grad-weight, at LightDecoder-like sizes, each next to the foundation GEMM
 * (src/engine/matmul.ts) on the same adapter at the forward's GEMM shape (M = B·Ho·Wo, N = Cout,
 * K = k²·Cin; for the transposed conv M = B·H·W, N = Cout, K = 16·Cin — the same useful work): `vsGemm` is
 * conv GFLOP/s ÷ GEMM GFLOP/s, i.e. how close the implicit GEMM gets to the plain GEMM "roofline".
 * FLOPs count useful multiply-adds only (2 per MAC; padding taps and stride holes excluded).
 */

import {
  convTransposeBackwardInput,
  convTransposeBackwardWeight,
  convTransposeForward,
  upsample4x4,
} from '../src/engine/conv-transpose';
import {
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dForward,
  type Encodable,
} from '../src/engine/conv2d';
import { matmul } from '../src/engine/matmul';
import type { Gpu, GpuTensor } from '../src/gpu/runtime';
import { Rng } from '../src/util/random';
import { argValue, emit, timeDispatches } from './harness';

interface DecoderCase {
  name: string;
  kind: 'conv3x3' | 'convT4x4';
  /** Input side and channels (conv: Cin → Cout same side; convT: side → 2·side, Cin → Cout). */
  side: number;
  inC: number;
  outC: number;
}

// The width-768 LightDecoder's stages scaled to a browser-sized width 384 / 192 / 96 / 48 at 224 px.
const CASES: DecoderCase[] = [
  { name: 'conv3x3-14', kind: 'conv3x3', side: 14, inC: 384, outC: 384 },
  { name: 'conv3x3-28', kind: 'conv3x3', side: 28, inC: 192, outC: 192 },
  { name: 'conv3x3-56', kind: 'conv3x3', side: 56, inC: 96, outC: 96 },
  { name: 'conv3x3-112', kind: 'conv3x3', side: 112, inC: 48, outC: 24 },
  { name: 'convT-7', kind: 'convT4x4', side: 7, inC: 384, outC: 384 },
  { name: 'convT-14', kind: 'convT4x4', side: 14, inC: 192, outC: 192 },
  { name: 'convT-28', kind: 'convT4x4', side: 28, inC: 96, outC: 96 },
  { name: 'convT-56', kind: 'convT4x4', side: 56, inC: 48, outC: 48 },
];

/** Valid (output, tap) pairs along one axis of a conv: taps that land inside the input. */
function validTaps(inSize: number, outSize: number, k: number, stride: number, pad: number): number {
  let count = 0;
  for (let o = 0; o < outSize; o++)
    for (let t = 0; t < k; t++) {
      const i = o * stride - pad + t;
      if (i >= 0 && i < inSize) count++;
    }
  return count;
}

export default async function run(gpu: Gpu, args: string[]): Promise<void> {
  const selected = argValue(args, 'cases')?.split(',') ?? CASES.map((c) => c.name);
  const unknown = selected.filter((name) => !CASES.some((c) => c.name === name));
  if (unknown.length > 0) {
    throw new Error(
      `Unknown case(s) ${unknown.join(', ')}; choose from ${CASES.map((c) => c.name).join(', ')}.`,
    );
  }
  const software = gpu.summary.isSoftware;
  const batch = Number(argValue(args, 'batch') ?? (software ? 1 : 16));
  const iterations = Number(argValue(args, 'iterations') ?? (software ? 2 : 20));
  const warmup = Number(argValue(args, 'warmup') ?? (software ? 1 : 5));
  const rng = new Rng(1);
  const tensor = (label: string, n: number): GpuTensor => gpu.upload(label, rng.floats(n));

  for (const c of CASES.filter((x) => selected.includes(x.name))) {
    const isConv = c.kind === 'conv3x3';
    const outSide = isConv ? c.side : 2 * c.side;
    const x = tensor('x', batch * c.side * c.side * c.inC);
    const w = tensor('w', (isConv ? 9 : 16) * c.inC * c.outC);
    const bias = tensor('bias', c.outC);
    const y = tensor('y', batch * outSide * outSide * c.outC);
    const dx = gpu.tensor('dx', [x.length]);
    const dw = gpu.tensor('dw', [w.length]);
    let work: Record<'forward' | 'gradInput' | 'gradWeight', Encodable>;
    let macs: number;
    let gemm: { M: number; N: number; K: number };
    if (isConv) {
      const shape = {
        batch,
        inH: c.side,
        inW: c.side,
        inC: c.inC,
        outC: c.outC,
        kernelH: 3,
        kernelW: 3,
        strideH: 1,
        strideW: 1,
        padH: 1,
        padW: 1,
        depthwise: false,
      };
      work = {
        forward: conv2dForward(gpu, shape, y, x, w, { bias }),
        gradInput: conv2dBackwardInput(gpu, shape, dx, y, w),
        gradWeight: conv2dBackwardWeight(gpu, shape, dw, x, y),
      };
      macs = batch * validTaps(c.side, c.side, 3, 1, 1) ** 2 * c.inC * c.outC;
      gemm = { M: batch * c.side * c.side, N: c.outC, K: 9 * c.inC };
    } else {
      const shape = upsample4x4(batch, c.side, c.side, c.inC, c.outC);
      work = {
        forward: convTransposeForward(gpu, shape, y, x, w, { bias }),
        gradInput: convTransposeBackwardInput(gpu, shape, dx, y, w),
        gradWeight: convTransposeBackwardWeight(gpu, shape, dw, x, y),
      };
      // A transposed conv's useful MACs are those of the conv it transposes (out side → in side, 4×4/s2/p1).
      macs = batch * validTaps(outSide, c.side, 4, 2, 1) ** 2 * c.inC * c.outC;
      gemm = { M: batch * c.side * c.side, N: c.outC, K: 16 * c.inC };
    }
    const a = tensor('gemm.a', gemm.M * gemm.K);
    const b = tensor('gemm.b', gemm.K * gemm.N);
    const out = gpu.tensor('gemm.out', [gemm.M, gemm.N]);
    const gemmWork = matmul(gpu, { out, a, b, ...gemm });
    const gemmTiming = await timeDispatches(gpu, `decoder.${c.name}.gemm`, (pass) => gemmWork.encode(pass), {
      warmup,
      iterations,
    });
    gemmWork.release();
    const gemmGflops = (2 * gemm.M * gemm.N * gemm.K) / (gemmTiming.ms * 1e6);
    emit({
      case: c.name,
      op: 'gemm',
      ...gemm,
      gflops: Number(gemmGflops.toFixed(3)),
      ms: Number(gemmTiming.ms.toFixed(4)),
      adapter: gpu.label,
      timingSource: gemmTiming.source,
    });
    for (const [op, encodable] of Object.entries(work)) {
      const timing = await timeDispatches(gpu, `decoder.${c.name}.${op}`, (pass) => encodable.encode(pass), {
        warmup,
        iterations,
      });
      encodable.release();
      const gflops = (2 * macs) / (timing.ms * 1e6);
      emit({
        case: c.name,
        op,
        batch,
        side: c.side,
        inC: c.inC,
        outC: c.outC,
        gflops: Number(gflops.toFixed(3)),
        ms: Number(timing.ms.toFixed(4)),
        vsGemm: Number((gflops / gemmGflops).toFixed(3)),
        adapter: gpu.label,
        timingSource: timing.source,
      });
    }
    for (const t of [x, w, bias, y, dx, dw, a, b, out]) gpu.releaseTensor(t);
  }
}
