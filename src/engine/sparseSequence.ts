import type { Gpu, GpuTensor, PreparedDispatch } from '../gpu/runtime';

/** Anything that records into a pass and frees itself (PreparedDispatch, other modules' sequences). */
export interface Encodable {
  encode(pass: GPUComputePassEncoder): void;
  release(): void;
}

/**
 * Several prepared dispatches that run in order as one operation (e.g. BN statistics → finalise →
 * normalise), plus the scratch tensors they own and any nested encodables (other modules' sequences), which
 * run after the dispatches. `encode` records them all; `release` frees everything.
 */
export class DispatchSequence {
  constructor(
    readonly label: string,
    private readonly gpu: Gpu,
    readonly dispatches: PreparedDispatch[],
    private readonly scratch: GpuTensor[] = [],
    private readonly nested: Encodable[] = [],
  ) {}

  encode(pass: GPUComputePassEncoder): void {
    for (const d of this.dispatches) d.encode(pass);
    for (const n of this.nested) n.encode(pass);
  }

  release(): void {
    for (const d of this.dispatches) d.release();
    for (const n of this.nested) n.release();
    for (const t of this.scratch) this.gpu.releaseTensor(t);
  }
}
