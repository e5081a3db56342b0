/** The benchmarks the bench page can run: name → function(gpu, args, emit). */
import type { Gpu } from '../../src/gpu/runtime';
import { runPeerTfjs } from '../peer-tfjs/run';

export type PageBenchmark = (
  gpu: Gpu,
  args: string[],
  emit: (record: Record<string, unknown>) => void,
) => Promise<void>;

export const PAGE_BENCHMARKS: Record<string, PageBenchmark> = {
  'peer-tfjs': runPeerTfjs,
};
