/**
 * The trainer's last-good-state guard on the GPU (kernels: shaders/train_guard.wgsl, twin:
 * src/reference/trainerGuard.ts).
 *
 * Why on the GPU: metrics are read back asynchronously, several steps after they were computed, so by the
 * time the host sees a NaN loss the parameters have already been overwritten by later (poisoned) steps.
 * Each step therefore begins by checking the previous step's loss and gradient norm on the GPU and, while
 * all were finite, copying the state (parameters, BN statistics, optimiser moments) into backups. A
 * non-finite step trips a sticky flag, freezing the backups at the state just before it. The cost is one
 * copy of the state per step (memory traffic 2× state size), cheap next to a forward/backward pass.
 */
import guardSource from '../../shaders/train_guard.wgsl?raw';
import {
  bindingDeclarations,
  bindingLayout,
  type Gpu,
  type GpuTensor,
  grid1d,
  type Params,
  type PreparedDispatch,
} from '../gpu/runtime';
import { composeShader, uniformStruct } from '../gpu/shader';

/** guard_health: checkPrevious 0 resets the flag; normIndex is the global norm's element of the stats. */
const HealthParams = uniformStruct('HealthParams', { checkPrevious: 'u32', normIndex: 'u32' });
/**
 * guarded_copy: up to COPY_SOURCES tensors copied into one backup buffer by one dispatch; n4 = the buffer's
 * length in vec4s, and per source where its backup starts (in vec4s) and how many vec4s it has.
 */
const CopyParams = uniformStruct('CopyParams', {
  n4: 'u32',
  start0: 'u32',
  start1: 'u32',
  start2: 'u32',
  start3: 'u32',
  count0: 'u32',
  count1: 'u32',
  count2: 'u32',
  count3: 'u32',
});
/** Sources per copy dispatch (the trainer protects four: parameters, BN statistics, both moments). */
const COPY_SOURCES = 4;
const HealthLayout = bindingLayout('guard.health', {
  healthOut: 'write:u32', // [4], element 0 the sticky "all finite" flag
  loss: 'read', // [1] the previous step's loss
  gradStats: 'read', // the optimiser's gradient statistics
});
const CopyLayout = bindingLayout('guard.copy', {
  dst: 'write:vec4f', // the backups of this dispatch's sources, one after another (256-byte aligned)
  src0: 'read:vec4f', // the tensors they protect (the zeros buffer where a group has fewer)
  src1: 'read:vec4f',
  src2: 'read:vec4f',
  src3: 'read:vec4f',
  healthIn: 'read:u32', // [4]
});
const guardModule = composeShader(
  HealthParams.wgsl,
  CopyParams.wgsl,
  bindingDeclarations(HealthLayout, CopyLayout),
  guardSource,
);

export interface GuardInputs {
  /** [1] the step's loss. */
  loss: GpuTensor;
  /** The optimiser's gradient statistics; `normIndex` is the element holding the global L2 norm. */
  gradStats: GpuTensor;
  normIndex: number;
  /** Tensors to protect (whole arenas, moments); lengths must be multiples of 4 (arenas are of 64). */
  state: GpuTensor[];
}

export class StateGuard {
  /** [4] u32: element 0 is 1 while every checked step was finite. */
  readonly health: GpuTensor;
  /** One per state tensor: views of the backup buffers. */
  readonly backups: GpuTensor[] = [];
  private readonly stores: GpuTensor[] = [];
  private readonly check: PreparedDispatch;
  private readonly copies: PreparedDispatch[] = [];
  private checkPrevious = -1;

  constructor(
    private readonly gpu: Gpu,
    private readonly inputs: GuardInputs,
  ) {
    if (inputs.normIndex < 0 || inputs.normIndex >= inputs.gradStats.length)
      throw new RangeError(`StateGuard: norm index ${inputs.normIndex} is outside the gradient statistics.`);
    for (const t of inputs.state) {
      if (t.length % 4 !== 0)
        throw new RangeError(`StateGuard: ${t.label} has ${t.length} floats, not a multiple of 4.`);
    }
    this.health = gpu.upload('guard.health', new Uint32Array([1, 0, 0, 0]));
    const healthKernel = gpu.kernel({
      label: 'guard.health',
      code: guardModule,
      entryPoint: 'guard_health',
      layout: HealthLayout,
    });
    this.check = gpu.prepare({
      kernel: healthKernel,
      buffers: [this.health, inputs.loss, inputs.gradStats],
      params: this.healthParams(false),
      workgroups: [1],
    });
    const copyKernel = gpu.kernel({
      label: 'guard.copy',
      code: guardModule,
      entryPoint: 'guarded_copy',
      layout: CopyLayout,
    });
    // One backup buffer and one copy dispatch per group of up to four tensors (fewer where their backups
    // would not fit one binding); each backup is a view of its group's buffer.
    const limit = Math.min(gpu.device.limits.maxStorageBufferBindingSize, gpu.device.limits.maxBufferSize);
    const aligned4 = (t: GpuTensor) => Math.ceil(t.length / 4 / 64) * 64; // vec4s, 256-byte aligned views
    const groups: GpuTensor[][] = [];
    for (const src of inputs.state) {
      const last = groups[groups.length - 1];
      const used = last ? last.reduce((n, t) => n + aligned4(t), 0) : 0;
      if (last && last.length < COPY_SOURCES && (used + aligned4(src)) * 16 <= limit) last.push(src);
      else groups.push([src]);
    }
    for (const [g, group] of groups.entries()) {
      const starts: number[] = [];
      let n4 = 0;
      for (const src of group) {
        starts.push(n4);
        n4 += aligned4(src);
      }
      const store = gpu.tensor(`guard.backups.${g}`, [n4 * 4]);
      this.stores.push(store);
      group.forEach((src, i) => {
        this.backups.push({
          buffer: store.buffer,
          offset: store.offset + starts[i] * 16,
          shape: [src.length],
          length: src.length,
          label: `guard.backup.${src.label}`,
        });
      });
      const sources = [...group, ...Array(COPY_SOURCES - group.length).fill(gpu.absentInput)];
      const at = (i: number) => starts[i] ?? 0;
      const count = (i: number) => (group[i] ? group[i].length / 4 : 0);
      this.copies.push(
        gpu.prepare({
          kernel: copyKernel,
          buffers: [store, ...sources, this.health],
          params: CopyParams.pack({
            n4,
            start0: at(0),
            start1: at(1),
            start2: at(2),
            start3: at(3),
            count0: count(0),
            count1: count(1),
            count2: count(2),
            count3: count(3),
          }),
          workgroups: grid1d(Math.ceil(n4 / 256)),
        }),
      );
    }
  }

  private healthParams(checkPrevious: boolean): Params {
    return HealthParams.pack({ checkPrevious, normIndex: this.inputs.normIndex });
  }

  /**
   * Call before encoding each step: `checkPrevious` false for the first step after initialisation, a restore
   * or a rollback (the loss and gradient buffers then hold nothing of this state's making).
   */
  beginStep(checkPrevious: boolean): void {
    const flag = checkPrevious ? 1 : 0;
    if (flag !== this.checkPrevious) this.check.updateParams(this.healthParams(checkPrevious));
    this.checkPrevious = flag;
  }

  /** The check and the guarded copies; encode at the very start of the step, before anything changes state. */
  encode(pass: GPUComputePassEncoder): void {
    this.check.encode(pass);
    for (const copy of this.copies) copy.encode(pass);
  }

  /** Copies the backups over the live state (the rollback), in its own submission. */
  restore(): void {
    const encoder = this.gpu.device.createCommandEncoder({ label: 'guard.restore' });
    this.inputs.state.forEach((dst, i) => {
      encoder.copyBufferToBuffer(
        this.backups[i].buffer,
        this.backups[i].offset,
        dst.buffer,
        dst.offset,
        dst.length * 4,
      );
    });
    this.gpu.device.queue.submit([encoder.finish()]);
  }

  async readHealthy(): Promise<boolean> {
    return (await this.gpu.readU32(this.health))[0] === 1;
  }

  release(): void {
    this.check.release();
    for (const copy of this.copies) copy.release();
    this.gpu.releaseTensor(this.health);
    for (const store of this.stores) this.gpu.releaseTensor(store);
  }
}
