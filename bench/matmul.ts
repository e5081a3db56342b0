/**
 * `npm run bench -- matmul [--cases 256,512,conv] [--iterations N] [--warmup N] [--naive]`
 *
 * One JSON line per case and kernel: the tiled GEMM (src/engine/matmul.ts) and, in the same run on the same
 * adapter, the naive one-thread-per-output kernel, with the tiled/naive speed ratio on the tiled line.
 * `--naive` times only the naive kernel. GFLOP/s counts 2·M·N·K flops.
 */

import { matmul, matmulSplitK } from '../src/engine/matmul';
import type { Gpu, GpuTensor } from '../src/gpu/runtime';
import { Rng } from '../src/util/random';
import { argValue, emit, timeDispatches } from './harness';

interface BenchCase {
  name: string;
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  /** Uses matmulSplitK (the weight-gradient path). */
  splitK?: boolean;
}

const CASES: BenchCase[] = [
  { name: '256', m: 256, n: 256, k: 256 },
  { name: '512', m: 512, n: 512, k: 512 },
  { name: '1024', m: 1024, n: 1024, k: 1024 },
  // 3×3 conv as implicit GEMM at 56×56, 64 → 64 channels, batch 1: M = 56·56, N = Cout, K = 9·Cin.
  { name: 'conv', m: 3136, n: 64, k: 576 },
  // Its weight gradient Xᵀ·dY: M = 9·Cin, N = Cout, K = 3136 rows, a stored [K, M] (split-K).
  { name: 'wgrad', m: 576, n: 64, k: 3136, transA: true, splitK: true },
];

function randomTensor(gpu: Gpu, label: string, count: number, seed: number): GpuTensor {
  return gpu.upload(label, new Rng(seed).floats(count));
}

export default async function run(gpu: Gpu, args: string[]): Promise<void> {
  const selected = argValue(args, 'cases')?.split(',') ?? CASES.map((c) => c.name);
  const unknown = selected.filter((name) => !CASES.some((c) => c.name === name));
  if (unknown.length > 0)
    throw new Error(
      `Unknown case(s) ${unknown.join(', ')}; choose from ${CASES.map((c) => c.name).join(', ')}.`,
    );
  const onlyNaive = args.includes('--naive');
  // SwiftShader takes seconds per large GEMM: fewer repetitions there unless asked.
  const iterations = Number(argValue(args, 'iterations') ?? (gpu.summary.isSoftware ? 2 : 20));
  const warmup = Number(argValue(args, 'warmup') ?? (gpu.summary.isSoftware ? 1 : 5));

  for (const c of CASES.filter((x) => selected.includes(x.name))) {
    const a = randomTensor(gpu, 'a', c.m * c.k, 1);
    const b = randomTensor(gpu, 'b', c.k * c.n, 2);
    const out = gpu.tensor('out', [c.m, c.n]);
    const flops = 2 * c.m * c.n * c.k;
    const base = { out, a, b, M: c.m, N: c.n, K: c.k, transA: c.transA };

    const measure = async (naive: boolean) => {
      const work = c.splitK && !naive ? matmulSplitK(gpu, base) : matmul(gpu, { ...base, naive });
      const timing = await timeDispatches(gpu, `matmul.${c.name}`, (pass) => work.encode(pass), {
        warmup,
        iterations,
      });
      work.release();
      return timing;
    };

    const naive = await measure(true);
    const naiveGflops = flops / (naive.ms * 1e6);
    const record = (kernel: string, ms: number, source: string, extra: Record<string, unknown> = {}) =>
      emit({
        case: c.name,
        kernel,
        m: c.m,
        n: c.n,
        k: c.k,
        transA: c.transA ?? false,
        gflops: Number((flops / (ms * 1e6)).toFixed(3)),
        ms: Number(ms.toFixed(4)),
        adapter: gpu.label,
        timingSource: source,
        iterations,
        ...extra,
      });
    if (!onlyNaive) {
      const tiled = await measure(false);
      const tiledGflops = flops / (tiled.ms * 1e6);
      record(c.splitK ? 'tiled-splitk' : 'tiled', tiled.ms, tiled.source, {
        naiveGflops: Number(naiveGflops.toFixed(3)),
        speedupOverNaive: Number((tiledGflops / naiveGflops).toFixed(2)),
      });
    }
    record('naive', naive.ms, naive.source);
    for (const t of [a, b, out]) gpu.releaseTensor(t);
  }
}
