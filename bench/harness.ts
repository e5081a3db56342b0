import type { Gpu } from '../src/gpu/runtime';

export interface Timing {
  /** Median milliseconds per iteration. */
  ms: number;
  source: 'timestamp' | 'wall';
  iterations: number;
}

/**
 * Times `record` (which encodes one iteration's dispatches into a pass). With timestamp queries each
 * iteration is its own pass and GPU time is read back; otherwise each iteration is submitted and waited for,
 * and wall time is used (which includes submission overhead: compare ratios only).
 */
export async function timeDispatches(
  gpu: Gpu,
  label: string,
  record: (pass: GPUComputePassEncoder) => void,
  { warmup = 2, iterations = 5 }: { warmup?: number; iterations?: number } = {},
): Promise<Timing> {
  for (let i = 0; i < warmup; i++) gpu.submit(`${label}.warmup`, record);
  await gpu.idle();
  const samples: number[] = [];
  if (gpu.hasTimestamps) {
    const querySet = gpu.device.createQuerySet({ type: 'timestamp', count: 2 * iterations });
    const resolve = gpu.device.createBuffer({ size: 16 * iterations, usage: 0x200 | 0x04 });
    for (let i = 0; i < iterations; i++) {
      gpu.submit(label, record, {
        querySet,
        beginningOfPassWriteIndex: 2 * i,
        endOfPassWriteIndex: 2 * i + 1,
      });
    }
    const encoder = gpu.device.createCommandEncoder();
    encoder.resolveQuerySet(querySet, 0, 2 * iterations, resolve, 0);
    gpu.device.queue.submit([encoder.finish()]);
    const stamps = new BigUint64Array(await gpu.readBytes(resolve, 0, 16 * iterations));
    for (let i = 0; i < iterations; i++) samples.push(Number(stamps[2 * i + 1] - stamps[2 * i]) / 1e6);
    querySet.destroy();
    resolve.destroy();
    // Some drivers return zeros for timestamps; fall back to wall time then.
    if (samples.every((s) => s > 0)) return { ms: median(samples), source: 'timestamp', iterations };
    samples.length = 0;
  }
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    gpu.submit(label, record);
    await gpu.idle();
    samples.push(performance.now() - t0);
  }
  return { ms: median(samples), source: 'wall', iterations };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Prints one JSON line (the benchmark output format). */
export function emit(record: Record<string, unknown>): void {
  console.log(JSON.stringify(record));
}

/** `--name value` from an argument list. */
export function argValue(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}
