/**
 * The parameter arena: every trainable tensor of a model lives in one GPU buffer (and its gradient at the
 * same offset in a second one), so that the optimiser, the global grad norm and checkpointing handle any
 * number of tensors with a handful of dispatches. Segments start on 256-byte boundaries so each can also
 * be bound on its own (minStorageBufferOffsetAlignment).
 *
 * Non-trainable state (BatchNorm running statistics) lives in a third arena with the same rules.
 */
import type { Gpu, GpuTensor } from '../gpu/runtime';
import { elementCount } from '../gpu/runtime';
import { gpuShapeOf, type ParamLayout } from './layout';

export const SEGMENT_ALIGN_FLOATS = 64; // 256 bytes

export interface ParamOptions {
  /** Official (PyTorch) shape; the GPU shape follows from `layout`. */
  officialShape: readonly number[];
  layout?: ParamLayout;
  /** Weight decay applies (false for 1-D tensors, biases, mask tokens, layer-scale γ). */
  decay?: boolean;
  /** Initial values in the official layout (converted on upload); zeros when omitted. */
  init?: (officialShape: readonly number[]) => Float32Array;
}

export interface ArenaEntry {
  name: string;
  officialShape: number[];
  gpuShape: number[];
  layout: ParamLayout;
  decay: boolean;
  /** Offset in floats inside the arena buffer. */
  offset: number;
  length: number;
  init?: (officialShape: readonly number[]) => Float32Array;
}

/** Default no-decay rule of the official recipe (spark-spec §5.1). */
export function officialNoDecay(name: string, officialShape: readonly number[]): boolean {
  return (
    officialShape.length <= 1 ||
    name.endsWith('.bias') ||
    name.includes('mask_token') ||
    name.includes('gamma') ||
    name.includes('cls_token') ||
    name.includes('pos_embed')
  );
}

export class Arena {
  readonly entries: ArenaEntry[] = [];
  private readonly byName = new Map<string, ArenaEntry>();
  private totalFloats = 0;
  private valueBuffer: GPUBuffer | undefined;
  private gradBuffer: GPUBuffer | undefined;

  constructor(
    readonly label: string,
    /** Whether the arena has gradients (parameters) or not (running statistics). */
    readonly withGrads: boolean,
  ) {}

  add(name: string, options: ParamOptions): ArenaEntry {
    if (this.valueBuffer) throw new Error(`${this.label}: cannot add ${name} after allocation`);
    if (this.byName.has(name)) throw new Error(`${this.label}: duplicate tensor name ${name}`);
    const layout = options.layout ?? 'same';
    const officialShape = [...options.officialShape];
    const entry: ArenaEntry = {
      name,
      officialShape,
      gpuShape: gpuShapeOf(layout, officialShape),
      layout,
      decay: options.decay ?? !officialNoDecay(name, officialShape),
      offset: this.totalFloats,
      length: elementCount(officialShape),
      init: options.init,
    };
    this.totalFloats += Math.ceil(Math.max(1, entry.length) / SEGMENT_ALIGN_FLOATS) * SEGMENT_ALIGN_FLOATS;
    this.entries.push(entry);
    this.byName.set(name, entry);
    return entry;
  }

  get(name: string): ArenaEntry {
    const entry = this.byName.get(name);
    if (!entry) throw new Error(`${this.label}: no tensor named ${name}`);
    return entry;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Floats in the arena, padding included. */
  get size(): number {
    return this.totalFloats;
  }

  /** Sum of the tensors' element counts (the parameter count). */
  get count(): number {
    return this.entries.reduce((sum, e) => sum + e.length, 0);
  }

  get allocated(): boolean {
    return this.valueBuffer !== undefined;
  }

  /** Creates the GPU buffers (zero-filled: padding must stay 0 so arena-wide norms are exact). */
  allocate(gpu: Gpu): void {
    if (this.valueBuffer) return;
    const bytes = Math.max(4, this.totalFloats * 4);
    this.valueBuffer = gpu.createBuffer(`${this.label}.values`, bytes);
    gpu.device.queue.writeBuffer(this.valueBuffer, 0, new Float32Array(this.valueBuffer.size / 4));
    if (this.withGrads) {
      this.gradBuffer = gpu.createBuffer(`${this.label}.grads`, bytes);
      gpu.device.queue.writeBuffer(this.gradBuffer, 0, new Float32Array(this.gradBuffer.size / 4));
    }
  }

  release(gpu: Gpu): void {
    if (this.valueBuffer) gpu.releaseBuffer(this.valueBuffer);
    if (this.gradBuffer) gpu.releaseBuffer(this.gradBuffer);
    this.valueBuffer = undefined;
    this.gradBuffer = undefined;
  }

  get values(): GPUBuffer {
    if (!this.valueBuffer) throw new Error(`${this.label}: not allocated`);
    return this.valueBuffer;
  }

  get grads(): GPUBuffer {
    if (!this.gradBuffer) throw new Error(`${this.label}: has no gradients or is not allocated`);
    return this.gradBuffer;
  }

  /** The whole arena as one tensor (for arena-wide kernels: optimiser, norms, zeroing grads). */
  whole(which: 'values' | 'grads' = 'values'): GpuTensor {
    const buffer = which === 'values' ? this.values : this.grads;
    return {
      buffer,
      offset: 0,
      shape: [this.totalFloats],
      length: this.totalFloats,
      label: `${this.label}.${which}`,
    };
  }

  /** A tensor view (GPU shape) of one entry's values or gradient. */
  view(name: string | ArenaEntry, which: 'values' | 'grads' = 'values'): GpuTensor {
    const entry = typeof name === 'string' ? this.get(name) : name;
    const buffer = which === 'values' ? this.values : this.grads;
    return {
      buffer,
      offset: entry.offset * 4,
      shape: entry.gpuShape,
      length: entry.length,
      label: `${entry.name}${which === 'grads' ? '.grad' : ''}`,
    };
  }
}
