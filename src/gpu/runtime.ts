/**
 * The GPU runtime every kernel uses: buffers (pooled, counted), pipelines (cached), prepared dispatches
 * (bind groups made once), batched submission, asynchronous read-back, and typed error events.
 * Host-agnostic: it only needs a GPUDevice.
 */
import type { AcquiredDevice, AdapterSummary } from './device';
import { adapterLabel } from './device';
import { classifyGpuError, DeviceLostError, GpuEventHub, GpuOperationError } from './errors';

/** A GPU error caught by an error scope: its kind and the driver's message. */
export interface ScopedGpuError {
  kind: 'validation' | 'out-of-memory' | 'internal';
  message: string;
}

export const STORAGE_USAGE = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST (numeric: no globals needed)
const UNIFORM_USAGE = 0x40 | 0x08; // UNIFORM | COPY_DST
const MAP_READ_USAGE = 0x01 | 0x08; // MAP_READ | COPY_DST

/**
 * Released buffers kept for reuse at most this many bytes; beyond it they are destroyed. Rebuilding a model
 * with other sizes (a preset or batch change) would otherwise leave the old sizes pooled for ever.
 */
export const DEFAULT_POOL_CAP_BYTES = 64 * 2 ** 20;

/** A view of (part of) a GPU buffer as a tensor: what kernels bind. Offsets are in bytes, 256-aligned. */
export interface GpuTensor {
  buffer: GPUBuffer;
  /** Byte offset into `buffer`; a multiple of the device's minStorageBufferOffsetAlignment (256). */
  offset: number;
  shape: readonly number[];
  /** Element count (product of shape). */
  length: number;
  label: string;
}

export type Binding = GPUBuffer | GpuTensor | GPUBufferBinding;

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function toBufferBinding(binding: Binding): GPUBufferBinding {
  if ('buffer' in binding && 'shape' in binding) {
    // A zero-sized binding is invalid; empty tensors bind one element that kernels never touch.
    return { buffer: binding.buffer, offset: binding.offset, size: Math.max(4, binding.length * 4) };
  }
  if ('buffer' in binding) return binding;
  return { buffer: binding };
}

/** Uniform parameters written in declaration order: each field is one 4-byte scalar, as the WGSL struct. */
export class Params {
  private readonly values: Array<{ type: 'u32' | 'i32' | 'f32'; value: number }> = [];

  u32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff)
      throw new RangeError(`u32 param ${value}`);
    this.values.push({ type: 'u32', value });
    return this;
  }

  i32(value: number): this {
    if (!Number.isInteger(value)) throw new RangeError(`i32 param ${value}`);
    this.values.push({ type: 'i32', value });
    return this;
  }

  f32(value: number): this {
    this.values.push({ type: 'f32', value });
    return this;
  }

  /** Bytes padded to 16 (uniform structs are 16-byte aligned). */
  bytes(): ArrayBuffer {
    const size = Math.max(16, Math.ceil((this.values.length * 4) / 16) * 16);
    const data = new DataView(new ArrayBuffer(size));
    this.values.forEach(({ type, value }, i) => {
      if (type === 'u32') data.setUint32(i * 4, value, true);
      else if (type === 'i32') data.setInt32(i * 4, value, true);
      else data.setFloat32(i * 4, value, true);
    });
    return data.buffer;
  }
}

/** How an entry point uses one storage slot: `read` (var<storage, read>) or `write` (var<storage, read_write>). */
export type SlotAccess = 'read' | 'write';

/**
 * An explicit bind-group layout: the storage slots of @group(0) in binding order, each named (the name says
 * what the slot holds and is what errors quote), and whether @group(1) @binding(0) holds the uniforms. Every
 * binding an entry point uses must be a slot with the same access; a slot the entry point does not read still
 * needs a buffer: an absent read-only input binds the shared zeros buffer (`gpu.absentInput`) and a flag says
 * it is absent. A writable slot is never absent: an entry point with fewer outputs has its own layout.
 */
export interface BindingLayout {
  readonly label: string;
  readonly slots: readonly { readonly name: string; readonly access: SlotAccess }[];
  readonly uniforms: boolean;
  /** Identifies the layout's shape and label in pipeline and layout caches. */
  readonly key: string;
}

/**
 * Declares a layout: `slots` in binding order (object key order), e.g.
 * `bindingLayout('eltwise', { out: 'write', a: 'read', b: 'read' })`. Uniforms are bound unless
 * `uniforms: false`.
 */
export function bindingLayout(
  label: string,
  slots: Record<string, SlotAccess>,
  options: { uniforms?: boolean } = {},
): BindingLayout {
  const list = Object.entries(slots).map(([name, access]) => ({ name, access }));
  const uniforms = options.uniforms ?? true;
  const key = `${label}(${list.map((s) => s.access).join(',')})${uniforms ? '+u' : ''}`;
  return { label, slots: list, uniforms, key };
}

export interface KernelSpec {
  label: string;
  code: string;
  entryPoint: string;
  /** The family's bind-group layout for this entry point. */
  layout: BindingLayout;
  /** WGSL `override` constants: workgroup sizes, tile shapes and other compile-time choices. */
  constants?: Record<string, number>;
}

export interface Kernel {
  label: string;
  pipeline: GPUComputePipeline;
  layout: BindingLayout;
  /** [storage group, uniform group (when the layout has uniforms)]. */
  groupLayouts: readonly GPUBindGroupLayout[];
}

export interface DispatchSpec {
  kernel: Kernel;
  /** Storage bindings, bound in order to @group(0) @binding(0..n-1). */
  buffers: Binding[];
  /** Uniforms, bound to @group(1) @binding(0) when given. */
  params?: Params;
  workgroups: readonly [number, number?, number?];
}

/** A dispatch whose bind groups (and uniform buffer) were created once; encoding it only records. */
export class PreparedDispatch {
  constructor(
    readonly label: string,
    /** Pipeline, bind groups and grid are readable so that a profiler can replay the dispatch alone. */
    readonly pipeline: GPUComputePipeline,
    readonly bindGroups: readonly GPUBindGroup[],
    readonly workgroups: readonly [number, number, number],
    private readonly uniform: GPUBuffer | undefined,
    private readonly gpu: Gpu,
  ) {}

  encode(pass: GPUComputePassEncoder): void {
    const [x, y, z] = this.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    this.gpu.dispatchCount++;
    this.gpu.onDispatch?.(this);
    pass.setPipeline(this.pipeline);
    for (let i = 0; i < this.bindGroups.length; i++) pass.setBindGroup(i, this.bindGroups[i]);
    pass.dispatchWorkgroups(x, y, z);
  }

  /** Rewrites the uniforms (same size) without recreating anything; ordered before later submissions. */
  updateParams(params: Params): void {
    if (!this.uniform) throw new Error(`${this.label}: this dispatch has no uniform parameters`);
    this.gpu.device.queue.writeBuffer(this.uniform, 0, params.bytes());
  }

  release(): void {
    if (this.uniform) this.gpu.releaseBuffer(this.uniform);
  }
}

interface PoolEntry {
  buffer: GPUBuffer;
  usage: number;
}

/** Splits a 1-D workgroup count over x and y to respect maxComputeWorkgroupsPerDimension. */
export function grid1d(workgroups: number, maxPerDim = 65535): [number, number, number] {
  if (workgroups <= maxPerDim) return [Math.max(0, workgroups), 1, 1];
  const y = Math.ceil(workgroups / maxPerDim);
  return [Math.ceil(workgroups / y), y, 1];
}

export class Gpu {
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter;
  readonly summary: AdapterSummary;
  readonly events = new GpuEventHub();
  readonly hasTimestamps: boolean;
  private lost = false;
  private lostMessage = '';
  /** Resolves when the device is lost (really or by markLost): error scopes of a lost device never answer. */
  private readonly lostSignal: Promise<void>;
  private signalLost: () => void = () => undefined;

  private pipelines = new Map<string, GPUComputePipeline>();
  private layouts = new Map<string, { groups: GPUBindGroupLayout[]; pipeline: GPUPipelineLayout }>();
  private zeros: GpuTensor | undefined;
  private readonly live = new Map<GPUBuffer, number>();
  private liveBytes = 0;
  /** The most live bytes since the last resetPeakBytes() (benchmarks' peak GPU memory). */
  peakLiveBytes = 0;
  private readonly pool = new Map<string, PoolEntry[]>();
  private pooledBytes = 0;
  private readonly stagingPool: GPUBuffer[] = [];
  /** See DEFAULT_POOL_CAP_BYTES. */
  poolCapBytes = DEFAULT_POOL_CAP_BYTES;
  /** Prepared dispatches encoded since the device was made (a step's count is the difference). */
  dispatchCount = 0;
  /** What is being encoded now ('forward:layer', 'backward:layer', 'optimizer', 'guard'): profiler labels. */
  dispatchScope = '';
  /** Called with every prepared dispatch as it is encoded (the step profiler records the list with it). */
  onDispatch: ((dispatch: PreparedDispatch) => void) | undefined;
  /** The WGSL source and entry point of every pipeline made here (the profiler's empty-kernel replay). */
  readonly pipelineSources = new WeakMap<GPUComputePipeline, KernelSpec>();

  constructor(
    acquired: AcquiredDevice,
    readonly host: string,
  ) {
    this.device = acquired.device;
    this.adapter = acquired.adapter;
    this.summary = acquired.summary;
    this.hasTimestamps = this.device.features.has('timestamp-query');
    this.lostSignal = new Promise((resolve) => {
      this.signalLost = resolve;
    });
    this.device.addEventListener('uncapturederror', (event) => {
      // Handled here: preventDefault() stops the host (browser or Dawn) from also printing it to the console.
      event.preventDefault();
      const error = (event as GPUUncapturedErrorEvent).error;
      this.events.emit({ kind: classifyGpuError(error), label: 'uncaptured', message: error.message });
    });
    this.device.lost.then((info) => {
      if (this.lost) return;
      this.lost = true;
      this.signalLost();
      this.lostMessage = info.message || 'the GPU device was lost';
      this.events.emit({
        kind: 'device-lost',
        reason: info.reason === 'destroyed' ? 'destroyed' : 'unknown',
        message: this.lostMessage,
      });
    });
  }

  get label(): string {
    return adapterLabel(this.summary);
  }

  get isLost(): boolean {
    return this.lost;
  }

  assertAlive(): void {
    if (this.lost) throw new DeviceLostError(`The GPU device was lost (${this.lostMessage}).`);
  }

  // ---------------------------------------------------------------- buffers

  /** Live (handed out, not released) buffers: what a leak test watches. */
  liveBuffers(): { count: number; bytes: number; pooledBytes: number } {
    return { count: this.live.size, bytes: this.liveBytes, pooledBytes: this.pooledBytes };
  }

  /** Starts a new peak measurement from the bytes live now. */
  resetPeakBytes(): void {
    this.peakLiveBytes = this.liveBytes;
  }

  /** Size classes: powers of two up to 1 MiB, then multiples of 1 MiB, so reuse wastes little. */
  private static sizeClass(bytes: number): number {
    const size = Math.max(16, Math.ceil(bytes / 4) * 4);
    if (size <= 1 << 20) return 2 ** Math.ceil(Math.log2(size));
    return Math.ceil(size / (1 << 20)) * (1 << 20);
  }

  /** A storage buffer of at least `bytes` bytes, from the pool when one fits. Contents are undefined. */
  createBuffer(label: string, bytes: number, usage = STORAGE_USAGE): GPUBuffer {
    this.assertAlive();
    const size = Gpu.sizeClass(bytes);
    if (size > this.device.limits.maxBufferSize) {
      throw new RangeError(
        `${label} needs ${(size / 2 ** 20).toFixed(1)} MiB, more than this GPU's largest buffer ` +
          `(${(this.device.limits.maxBufferSize / 2 ** 20).toFixed(0)} MiB). Use a smaller batch or image size.`,
      );
    }
    const key = `${usage}:${size}`;
    const entry = this.pool.get(key)?.pop();
    let buffer: GPUBuffer;
    if (entry) {
      buffer = entry.buffer;
      this.pooledBytes -= size;
    } else {
      buffer = this.device.createBuffer({ label, size, usage });
    }
    this.live.set(buffer, size);
    this.liveBytes += size;
    if (this.liveBytes > this.peakLiveBytes) this.peakLiveBytes = this.liveBytes;
    return buffer;
  }

  /** Returns a buffer to the pool. Work already submitted that uses it is unaffected. */
  releaseBuffer(buffer: GPUBuffer): void {
    const size = this.live.get(buffer);
    if (size === undefined) return;
    this.live.delete(buffer);
    this.liveBytes -= size;
    if (this.lost) return;
    if (this.pooledBytes + size > this.poolCapBytes) {
      buffer.destroy();
      return;
    }
    const key = `${buffer.usage}:${size}`;
    const list = this.pool.get(key) ?? [];
    list.push({ buffer, usage: buffer.usage });
    this.pool.set(key, list);
    this.pooledBytes += size;
  }

  /** Destroys every pooled (unused) buffer, e.g. after a model is rebuilt with other sizes. */
  trimPool(): void {
    for (const list of this.pool.values()) for (const entry of list) entry.buffer.destroy();
    this.pool.clear();
    this.pooledBytes = 0;
    for (const buffer of this.stagingPool) buffer.destroy();
    this.stagingPool.length = 0;
  }

  /** A tensor backed by its own pooled buffer. */
  tensor(label: string, shape: readonly number[]): GpuTensor {
    const length = elementCount(shape);
    const buffer = this.createBuffer(label, Math.max(4, length * 4));
    return { buffer, offset: 0, shape: [...shape], length, label };
  }

  releaseTensor(tensor: GpuTensor): void {
    this.releaseBuffer(tensor.buffer);
  }

  /** A tensor filled from host data (f32, or u32/i32 for indices). */
  upload(label: string, data: Float32Array | Uint32Array | Int32Array, shape?: readonly number[]): GpuTensor {
    const tensor = this.tensor(label, shape ?? [data.length]);
    if (tensor.length !== data.length) {
      throw new RangeError(`${label}: ${data.length} values do not fit shape [${shape?.join(', ')}]`);
    }
    if (data.length > 0)
      this.device.queue.writeBuffer(tensor.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return tensor;
  }

  write(tensor: GpuTensor, data: Float32Array | Uint32Array | Int32Array, elementOffset = 0): void {
    if (elementOffset + data.length > tensor.length)
      throw new RangeError(`${tensor.label}: write out of range`);
    this.device.queue.writeBuffer(
      tensor.buffer,
      tensor.offset + elementOffset * 4,
      data.buffer,
      data.byteOffset,
      data.byteLength,
    );
  }

  /** Copies bytes back to the host; resolves after all previously submitted work finished. */
  async readBytes(buffer: GPUBuffer, offset: number, byteLength: number): Promise<ArrayBuffer> {
    this.assertAlive();
    if (byteLength === 0) return new ArrayBuffer(0);
    const size = Math.ceil(byteLength / 4) * 4;
    const stagingIndex = this.stagingPool.findIndex((b) => b.size >= size && b.size <= size * 4);
    const staging =
      stagingIndex >= 0
        ? this.stagingPool.splice(stagingIndex, 1)[0]
        : this.device.createBuffer({ label: 'readback staging', size, usage: MAP_READ_USAGE });
    // The copy runs in error scopes: a copy from an invalid buffer (e.g. one whose allocation ran out of
    // memory) does nothing, and the pooled staging buffer would then hand back the previous read's bytes.
    const { error: copyError } = this.scoped(() => {
      const encoder = this.device.createCommandEncoder({ label: 'readback' });
      encoder.copyBufferToBuffer(buffer, offset, staging, 0, size);
      this.device.queue.submit([encoder.finish()]);
    });
    try {
      await staging.mapAsync(1 /* GPUMapMode.READ */, 0, size);
    } catch (error) {
      staging.destroy();
      if (this.lost)
        throw new DeviceLostError(`The GPU device was lost during a read-back (${this.lostMessage}).`);
      throw error;
    }
    const failed = await copyError;
    if (failed) {
      staging.unmap();
      staging.destroy();
      const label = `the read-back of ${buffer.label || 'a buffer'}`;
      this.events.emit({ kind: failed.kind, label, message: failed.message });
      throw new GpuOperationError(failed.kind, label, failed.message);
    }
    const copy = staging.getMappedRange(0, size).slice(0, byteLength);
    staging.unmap();
    if (this.stagingPool.length < 8) this.stagingPool.push(staging);
    else staging.destroy();
    return copy;
  }

  async read(tensor: GpuTensor): Promise<Float32Array> {
    return new Float32Array(await this.readBytes(tensor.buffer, tensor.offset, tensor.length * 4));
  }

  async readU32(tensor: GpuTensor): Promise<Uint32Array> {
    return new Uint32Array(await this.readBytes(tensor.buffer, tensor.offset, tensor.length * 4));
  }

  async readI32(tensor: GpuTensor): Promise<Int32Array> {
    return new Int32Array(await this.readBytes(tensor.buffer, tensor.offset, tensor.length * 4));
  }

  // ---------------------------------------------------------------- pipelines and dispatches

  /**
   * The one shared zeros buffer (4 floats) bound where an entry point declares a read-only input that is
   * absent (no bias, no mask); a uniform or override flag tells the kernel not to read it. Never writable:
   * `prepare` refuses it in a `write` slot.
   */
  get absentInput(): GpuTensor {
    if (!this.zeros) this.zeros = this.upload('absent input (zeros)', new Float32Array(4));
    return this.zeros;
  }

  /** The bind-group and pipeline layouts of a BindingLayout, made once per device. */
  private layoutObjects(layout: BindingLayout): {
    groups: GPUBindGroupLayout[];
    pipeline: GPUPipelineLayout;
  } {
    let objects = this.layouts.get(layout.key);
    if (!objects) {
      const COMPUTE = 0x4; // GPUShaderStage.COMPUTE (numeric: no globals needed)
      const storage = this.device.createBindGroupLayout({
        label: `${layout.label}.storage`,
        entries: layout.slots.map((slot, binding) => ({
          binding,
          visibility: COMPUTE,
          buffer: { type: slot.access === 'write' ? 'storage' : 'read-only-storage' },
        })),
      });
      const groups = [storage];
      if (layout.uniforms) {
        groups.push(
          this.device.createBindGroupLayout({
            label: `${layout.label}.params`,
            entries: [{ binding: 0, visibility: COMPUTE, buffer: { type: 'uniform' } }],
          }),
        );
      }
      const pipeline = this.device.createPipelineLayout({ label: layout.label, bindGroupLayouts: groups });
      objects = { groups, pipeline };
      this.layouts.set(layout.key, objects);
    }
    return objects;
  }

  /** A compute pipeline, cached by (source, entry point, constants, layout). */
  kernel(spec: KernelSpec): Kernel {
    const constants = spec.constants ?? {};
    const key = `${spec.entryPoint}\u0000${JSON.stringify(Object.entries(constants).sort())}\u0000${spec.layout.key}\u0000${spec.code}`;
    let pipeline = this.pipelines.get(key);
    if (!pipeline) this.assertAlive();
    const layout = this.layoutObjects(spec.layout);
    if (!pipeline) {
      const module = this.device.createShaderModule({ label: spec.label, code: spec.code });
      pipeline = this.device.createComputePipeline({
        label: spec.label,
        layout: layout.pipeline,
        compute: { module, entryPoint: spec.entryPoint, constants },
      });
      this.pipelines.set(key, pipeline);
      this.pipelineSources.set(pipeline, spec);
    }
    return { label: spec.label, pipeline, layout: spec.layout, groupLayouts: layout.groups };
  }

  get pipelineCount(): number {
    return this.pipelines.size;
  }

  prepare(spec: DispatchSpec): PreparedDispatch {
    const { kernel } = spec;
    const { slots, uniforms } = kernel.layout;
    if (spec.buffers.length !== slots.length) {
      throw new RangeError(
        `${kernel.label}: its layout ${kernel.layout.label} has ${slots.length} buffer slots ` +
          `(${slots.map((s) => s.name).join(', ')}), but ${spec.buffers.length} buffers were given.`,
      );
    }
    if (uniforms !== (spec.params !== undefined)) {
      throw new Error(
        `${kernel.label}: its layout ${uniforms ? 'binds uniforms but none were given' : 'has no uniforms'}.`,
      );
    }
    spec.buffers.forEach((b, i) => {
      const buffer = 'buffer' in b ? b.buffer : b;
      if (slots[i].access === 'write' && this.zeros && buffer === this.zeros.buffer)
        throw new Error(
          `${kernel.label}: the shared zeros buffer cannot stand in for the output ${slots[i].name}; it is read-only.`,
        );
    });
    const groups: GPUBindGroup[] = [];
    if (slots.length > 0) {
      groups.push(
        this.device.createBindGroup({
          label: `${kernel.label}.storage`,
          layout: kernel.groupLayouts[0],
          entries: spec.buffers.map((b, binding) => ({ binding, resource: toBufferBinding(b) })),
        }),
      );
    }
    let uniform: GPUBuffer | undefined;
    if (spec.params) {
      const bytes = spec.params.bytes();
      uniform = this.createBuffer(`${kernel.label}.params`, bytes.byteLength, UNIFORM_USAGE);
      this.device.queue.writeBuffer(uniform, 0, bytes);
      if (groups.length === 0) {
        throw new Error(`${kernel.label}: uniforms live in group 1, so group 0 needs at least one buffer`);
      }
      groups.push(
        this.device.createBindGroup({
          label: `${kernel.label}.params`,
          layout: kernel.groupLayouts[1],
          entries: [{ binding: 0, resource: { buffer: uniform } }],
        }),
      );
    }
    const [x, y = 1, z = 1] = spec.workgroups;
    const limit = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > limit || y > limit || z > limit) {
      throw new RangeError(
        `${kernel.label}: grid [${x}, ${y}, ${z}] exceeds ${limit} workgroups per dimension`,
      );
    }
    return new PreparedDispatch(kernel.label, kernel.pipeline, groups, [x, y, z], uniform, this);
  }

  /**
   * Records work into one command encoder with one compute pass and submits it, without waiting.
   * `record` receives the pass; dispatches in one pass see each other's writes in order.
   */
  submit(
    label: string,
    record: (pass: GPUComputePassEncoder) => void,
    timestampWrites?: GPUComputePassTimestampWrites,
  ): void {
    this.assertAlive();
    const encoder = this.device.createCommandEncoder({ label });
    const pass = encoder.beginComputePass({ label, timestampWrites });
    record(pass);
    pass.end();
    this.device.queue.submit([encoder.finish()]);
  }

  /** Prepares, runs and releases one-off dispatches (tests, set-up work). */
  run(label: string, specs: DispatchSpec[]): void {
    const prepared = specs.map((spec) => this.prepare(spec));
    this.submit(label, (pass) => {
      for (const dispatch of prepared) dispatch.encode(pass);
    });
    for (const dispatch of prepared) dispatch.release();
  }

  /**
   * Runs synchronous `work` inside validation and out-of-memory error scopes and returns its value at once;
   * `error` resolves, once the GPU has checked the work, to the first error either scope caught (or
   * undefined). Synchronous on purpose: error scopes are a per-device stack, and nothing else can push or
   * pop between this push and pop.
   */
  scoped<T>(work: () => T): { value: T; error: Promise<ScopedGpuError | undefined> } {
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    let outcome: { ok: true; value: T } | { ok: false; thrown: unknown };
    try {
      outcome = { ok: true, value: work() };
    } catch (thrown) {
      outcome = { ok: false, thrown };
    }
    const validation = this.device.popErrorScope();
    const memory = this.device.popErrorScope();
    if (!outcome.ok) {
      // The scopes are popped either way; their errors are secondary to the exception.
      Promise.all([validation, memory]).catch(() => undefined);
      throw outcome.thrown;
    }
    const value = outcome.value;
    const answered = Promise.all([validation, memory]).then(
      ([v, m]) => {
        const first = v ?? m;
        return first ? { kind: classifyGpuError(first), message: first.message } : undefined;
      },
      // A lost device rejects nothing here by the spec, but some hosts do: the loss is reported on its own.
      () => undefined,
    );
    // Nor do all hosts answer the scopes of a lost device: the loss, reported on its own, ends the wait.
    const error = Promise.race([answered, this.lostSignal.then(() => undefined)]);
    return { value, error };
  }

  /**
   * Marks the device lost exactly as its `lost` promise does (events, DeviceLostError from then on) without
   * destroying it. Fault-injection tests lose a device this way and recover on a new Gpu over the same
   * GPUDevice, which spares compiling every pipeline again; real losses arrive through `device.lost`.
   */
  markLost(message: string): void {
    if (this.lost) return;
    this.lost = true;
    this.signalLost();
    this.lostMessage = message;
    this.events.emit({ kind: 'device-lost', reason: 'unknown', message });
  }

  /**
   * After `markLost`: a new Gpu over the same (still working) GPUDevice that reuses the compiled pipelines,
   * standing in for the fresh device a real recovery gets. Fault-injection tests only.
   */
  successorAfterMarkedLoss(host = this.host): Gpu {
    if (!this.lost) throw new Error('successorAfterMarkedLoss() is for a device lost through markLost().');
    const next = new Gpu({ device: this.device, adapter: this.adapter, summary: this.summary }, host);
    next.pipelines = this.pipelines;
    next.layouts = this.layouts;
    return next;
  }

  /** Runs `work` inside validation and out-of-memory error scopes and throws a labelled error if either fired. */
  async checked<T>(label: string, work: () => T | Promise<T>): Promise<T> {
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    let result: T;
    try {
      result = await work();
    } finally {
      const validation = await this.device.popErrorScope();
      const memory = await this.device.popErrorScope();
      const error = validation ?? memory;
      if (error) {
        const kind = classifyGpuError(error);
        this.events.emit({ kind, label, message: error.message });
        // biome-ignore lint/correctness/noUnsafeFinally: the GPU error is the real cause and must win.
        throw new GpuOperationError(kind, label, error.message);
      }
    }
    return result;
  }

  /** Resolves when all submitted work has finished. */
  async idle(): Promise<void> {
    this.assertAlive();
    await this.device.queue.onSubmittedWorkDone();
  }

  destroy(): void {
    this.trimPool();
    this.device.destroy();
  }
}

/** Anything that records into a compute pass and frees itself: a PreparedDispatch or a PreparedSequence. */
export interface Encodable {
  encode(pass: GPUComputePassEncoder): void;
  release(): void;
}

/**
 * Several prepared dispatches (or nested sequences) that must be encoded in order (e.g. partial sums then a
 * fixed-order reduce), together with the scratch tensors they own; release() returns both.
 */
export class PreparedSequence {
  constructor(
    readonly label: string,
    readonly dispatches: readonly Encodable[],
    private readonly scratch: readonly GpuTensor[],
    private readonly gpu: Gpu,
  ) {}

  encode(pass: GPUComputePassEncoder): void {
    for (const dispatch of this.dispatches) dispatch.encode(pass);
  }

  release(): void {
    for (const dispatch of this.dispatches) dispatch.release();
    for (const tensor of this.scratch) this.gpu.releaseTensor(tensor);
  }
}
