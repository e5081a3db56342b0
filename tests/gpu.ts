import { createNodeGpu } from '../src/gpu/node';
import type { Gpu, GpuTensor } from '../src/gpu/runtime';

let shared: Promise<Gpu> | undefined;

/** One device per test worker, shared by its test files (device creation costs ~100 ms on SwiftShader). */
export function testGpu(): Promise<Gpu> {
  shared ??= createNodeGpu('tests');
  return shared;
}

/** Runs prepared dispatches (one pass) and reads `out` back. */
export async function runAndRead(
  gpu: Gpu,
  label: string,
  dispatches: { encode(pass: GPUComputePassEncoder): void; release(): void }[],
  out: GpuTensor,
): Promise<Float32Array> {
  gpu.submit(label, (pass) => {
    for (const d of dispatches) d.encode(pass);
  });
  for (const d of dispatches) d.release();
  return gpu.read(out);
}
