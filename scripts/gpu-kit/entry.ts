/**
 * The GPU kit's benchmark program (bundled by ./build.mjs into sparklab-bench.mjs): `node sparklab-bench.mjs
 * NAME [args]` runs one Node benchmark on the best Vulkan adapter, exactly as `npm run bench -- NAME` does.
 */
import matmul from '../../bench/matmul';
import scaling from '../../bench/scaling';
import step from '../../bench/step';
import train from '../../bench/train';
import { createNodeGpu } from '../../src/gpu/node';
import type { Gpu } from '../../src/gpu/runtime';

const BENCHMARKS: Record<string, (gpu: Gpu, args: string[]) => Promise<void>> = {
  matmul,
  step,
  train,
  scaling,
};

const [name, ...args] = process.argv.slice(2);
const bench = BENCHMARKS[name ?? ''];
if (!bench) {
  console.error(
    `usage: sparklab-bench.mjs NAME [args]   where NAME is one of: ${Object.keys(BENCHMARKS).join(', ')}`,
  );
  process.exit(2);
}
const gpu = await createNodeGpu('gpu-kit');
console.error(`${name} on ${gpu.label}`);
await bench(gpu, args);
gpu.destroy();
