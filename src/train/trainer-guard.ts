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
/** guarded_copy: n4 = floats / 4 (one vec4 per thread). */
const CopyParams = uniformStruct('CopyParams', { n4: 'u32' });
const HealthLayout = bindingLayout('guard.health', {
  health: 'write', // [4] u32, element 0 the sticky "all finite" flag
  loss: 'read', // [1] the previous step's loss
  gradStats: 'read', // the optimiser's gradient statistics
});
const CopyLayout = bindingLayout('guard.copy', {
  backup: 'write', // the backup, vec4s
  state: 'read', // the tensor it protects, vec4s
  health: 'read', // [4] u32
});
const guardModule = composeShader(HealthParams.wgsl, CopyParams.wgsl, guardSource);

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
  readonly backups: GpuTensor[];
  private readonly check: PreparedDispatch;
  private readonly copies: PreparedDispatch[];
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
    this.backups = inputs.state.map((t) => gpu.tensor(`guard.backup.${t.label}`, [t.length]));
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
    this.copies = inputs.state.map((src, i) =>
      gpu.prepare({
        kernel: copyKernel,
        buffers: [this.backups[i], src, this.health],
        params: CopyParams.pack({ n4: src.length / 4 }),
        workgroups: grid1d(Math.ceil(src.length / 4 / 256)),
      }),
    );
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
      encoder.copyBufferToBuffer(this.backups[i].buffer, 0, dst.buffer, dst.offset, dst.length * 4);
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
    for (const b of this.backups) this.gpu.releaseTensor(b);
  }
}
