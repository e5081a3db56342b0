import type { Gpu } from './runtime';

export interface PassTiming {
  label: string;
  ms: number;
  source: 'timestamp' | 'wall';
}

/**
 * Per-pass GPU times from timestamp queries when the device has them. Each profiled pass gets a pair of
 * query slots; `collect()` resolves them in one copy and reads them back without stalling the next step.
 * Without timestamp queries, `collect()` reports the wall time from the first pass to the GPU going idle.
 */
export class Profiler {
  private readonly querySet: GPUQuerySet | undefined;
  private readonly resolveBuffer: GPUBuffer | undefined;
  private labels: string[] = [];
  private wallStart = 0;

  constructor(
    private readonly gpu: Gpu,
    private readonly capacity = 64,
  ) {
    if (gpu.hasTimestamps) {
      this.querySet = gpu.device.createQuerySet({
        label: 'profiler',
        type: 'timestamp',
        count: capacity * 2,
      });
      this.resolveBuffer = gpu.device.createBuffer({
        label: 'profiler.resolve',
        size: capacity * 16,
        usage: 0x200 /* QUERY_RESOLVE */ | 0x04 /* COPY_SRC */,
      });
    }
  }

  get usesTimestamps(): boolean {
    return this.querySet !== undefined;
  }

  /** Timestamp writes for the next pass, or undefined when unavailable or full. */
  pass(label: string): GPUComputePassTimestampWrites | undefined {
    if (this.labels.length === 0) this.wallStart = performance.now();
    if (!this.querySet || this.labels.length >= this.capacity) {
      this.labels.push(label);
      return undefined;
    }
    const index = this.labels.length;
    this.labels.push(label);
    return {
      querySet: this.querySet,
      beginningOfPassWriteIndex: index * 2,
      endOfPassWriteIndex: index * 2 + 1,
    };
  }

  /** Reads the timings of the passes recorded since the last collect. */
  async collect(): Promise<PassTiming[]> {
    const labels = this.labels;
    this.labels = [];
    if (labels.length === 0) return [];
    if (!this.querySet || !this.resolveBuffer) {
      await this.gpu.idle();
      return [{ label: labels.join('+'), ms: performance.now() - this.wallStart, source: 'wall' }];
    }
    const count = Math.min(labels.length, this.capacity);
    const encoder = this.gpu.device.createCommandEncoder({ label: 'profiler.resolve' });
    encoder.resolveQuerySet(this.querySet, 0, count * 2, this.resolveBuffer, 0);
    this.gpu.device.queue.submit([encoder.finish()]);
    const bytes = await this.gpu.readBytes(this.resolveBuffer, 0, count * 16);
    const stamps = new BigUint64Array(bytes);
    const timings: PassTiming[] = [];
    for (let i = 0; i < count; i++) {
      const ns = Number(stamps[2 * i + 1] - stamps[2 * i]);
      timings.push({ label: labels[i], ms: Math.max(0, ns) / 1e6, source: 'timestamp' });
    }
    return timings;
  }

  destroy(): void {
    this.querySet?.destroy();
    this.resolveBuffer?.destroy();
  }
}
