/**
 * A parameter arena without gradients whose values are split over several GPU buffers, each at most
 * `maxSegmentBytes` (the adapter's maxStorageBufferBindingSize and maxBufferSize): what an evaluation-only
 * model of a large checkpoint (a ConvNeXt-L holds ~0.8 GB of weights) needs where one buffer cannot bind the
 * whole arena. The layout of the entries is the ordinary Arena's (256-byte aligned segments); a buffer
 * starts at an entry and holds whole entries, so every view is one binding of one buffer.
 */
import { Arena, type ArenaEntry } from '../engine/params';
import type { Gpu, GpuTensor } from '../gpu/runtime';

interface Segment {
  buffer: GPUBuffer;
  /** First float of the arena this buffer holds. */
  start: number;
  floats: number;
}

export class SplitArena extends Arena {
  private segments: Segment[] = [];

  constructor(
    label: string,
    private readonly maxSegmentBytes: number,
  ) {
    super(label, false);
  }

  /** Floats of the arena each buffer would hold (a plan; throws a sentence when one tensor cannot fit). */
  plan(): { start: number; floats: number }[] {
    const limitFloats = Math.floor(this.maxSegmentBytes / 4);
    const out: { start: number; floats: number }[] = [];
    const entries = this.entries;
    entries.forEach((entry, i) => {
      const end = i + 1 < entries.length ? entries[i + 1].offset : this.size;
      const floats = end - entry.offset;
      if (floats > limitFloats)
        throw new RangeError(
          `${entry.name} alone needs ${(floats * 4) / 2 ** 20} MiB, more than this adapter binds in one buffer (${this.maxSegmentBytes / 2 ** 20} MiB).`,
        );
      const last = out[out.length - 1];
      if (last && last.floats + floats <= limitFloats) last.floats += floats;
      else out.push({ start: entry.offset, floats });
    });
    return out;
  }

  override get allocated(): boolean {
    return this.segments.length > 0;
  }

  override allocate(gpu: Gpu): void {
    if (this.segments.length > 0) return;
    const plan = this.plan();
    if (plan.length === 0) plan.push({ start: 0, floats: 1 });
    try {
      for (const { start, floats } of plan) {
        const buffer = gpu.createBuffer(
          `${this.label}.values[${this.segments.length}]`,
          Math.max(4, floats * 4),
        );
        this.segments.push({ buffer, start, floats });
      }
    } catch (error) {
      this.release(gpu);
      throw error;
    }
  }

  override release(gpu: Gpu): void {
    for (const s of this.segments) gpu.releaseBuffer(s.buffer);
    this.segments = [];
  }

  /** How many buffers hold the values. */
  get bufferCount(): number {
    return this.segments.length;
  }

  override get values(): GPUBuffer {
    if (this.segments.length !== 1)
      throw new Error(`${this.label}: the values are split over ${this.segments.length} buffers.`);
    return this.segments[0].buffer;
  }

  override get grads(): GPUBuffer {
    return this.noGradients();
  }

  private noGradients(): never {
    throw new Error(`${this.label}: an evaluation-only model has no gradients.`);
  }

  override whole(which: 'values' | 'grads' = 'values'): GpuTensor {
    if (which === 'grads') return this.noGradients();
    const buffer = this.values;
    return { buffer, offset: 0, shape: [this.size], length: this.size, label: `${this.label}.values` };
  }

  private segmentOf(offset: number): Segment {
    const found = this.segments.find((s) => offset >= s.start && offset < s.start + s.floats);
    if (!found) throw new Error(`${this.label}: not allocated`);
    return found;
  }

  override view(name: string | ArenaEntry, which: 'values' | 'grads' = 'values'): GpuTensor {
    if (which === 'grads') return this.noGradients();
    const entry = typeof name === 'string' ? this.get(name) : name;
    const segment = this.segmentOf(entry.offset);
    return {
      buffer: segment.buffer,
      offset: (entry.offset - segment.start) * 4,
      shape: entry.gpuShape,
      length: entry.length,
      label: entry.name,
    };
  }

  /** Uploads the whole arena (values laid out as the Arena's offsets say), buffer by buffer. */
  upload(gpu: Gpu, values: Float32Array<ArrayBuffer>): void {
    for (const s of this.segments)
      gpu.device.queue.writeBuffer(s.buffer, 0, values, s.start, Math.min(s.floats, values.length - s.start));
  }
}
