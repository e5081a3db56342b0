/**
 * The benchmarks the bench page can run: name → function(gpu, args, emit). The Node benchmarks print their
 * JSON lines with console.log (bench/harness.ts emit), which the launcher picks up from the page's console.
 */
import type { Gpu } from '../../src/gpu/runtime';
import decoder from '../decoder';
import matmul from '../matmul';
import { runPeerTfjs } from '../peer-tfjs/run';
import scaling from '../scaling';
import sparse from '../sparse';
import step from '../step';
import train from '../train';

export type PageBenchmark = (
  gpu: Gpu,
  args: string[],
  emit: (record: Record<string, unknown>) => void,
) => Promise<void>;

/** A Node benchmark (default export (gpu, args), printing its own lines) as a page benchmark. */
const printing =
  (bench: (gpu: Gpu, args: string[]) => Promise<void>): PageBenchmark =>
  (gpu, args) =>
    bench(gpu, args);

export const PAGE_BENCHMARKS: Record<string, PageBenchmark> = {
  'peer-tfjs': runPeerTfjs,
  matmul: printing(matmul),
  decoder: printing(decoder),
  sparse: printing(sparse),
  train: printing(train),
  step: printing(step),
  scaling: printing(scaling),
};
