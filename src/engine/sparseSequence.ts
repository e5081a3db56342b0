import type { Gpu, GpuTensor, PreparedDispatch } from '../gpu/runtime';

/**
 * Several prepared dispatches that run in order as one operation (e.g. BN statistics → finalise →
 * normalise), plus the scratch tensors they own. `encode` records them all; `release` frees everything.
 */
export class DispatchSequence {
  constructor(
    readonly label: string,
    private readonly gpu: Gpu,
    readonly dispatches: PreparedDispatch[],
    private readonly scratch: GpuTensor[] = [],
  ) {}

  encode(pass: GPUComputePassEncoder): void {
    for (const d of this.dispatches) d.encode(pass);
  }

  release(): void {
    for (const d of this.dispatches) d.release();
    for (const t of this.scratch) this.gpu.releaseTensor(t);
  }
}
