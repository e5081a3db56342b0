/**
 * LAMB (the official SparK optimiser) and AdamW over a parameter Arena, entirely on the GPU: the global and
 * per-tensor norms come from multi-stage reductions (src/engine/reduce.ts segmentSumSquares), the clip factor
 * and trust ratios never leave the GPU, and nothing is read back per step. Kernels: shaders/optim.wgsl.
 * Float64 twins: src/reference/optim.ts.
 *
 * Per step: `beginStep(lr, weightDecay)` (writes this step's uniforms, advances the per-group step
 * counters), then `encode(pass)` after the backward pass that filled the arena's gradients. Uniforms are
 * written with queue.writeBuffer, so submit each step's pass before calling beginStep for the next one.
 * Parameter groups follow each arena entry's `decay` flag (no decay for 1-D tensors, biases, mask tokens,
 * layer-scale γ): weight decay and LAMB's trust ratio apply to decayed tensors only.
 *
 * `skip` names tensors that get no gradient in this configuration (the model's `unusedParams`): like the
 * official optimisers' `if p.grad is None: continue` they are left bit-identical (values and moments, no
 * weight decay) and stay out of the global gradient norm. The per-group step counters still advance, as the
 * official per-group `step` does whether or not a member had a gradient.
 */
import optimSource from '../../shaders/optim.wgsl?raw';
import type { Arena, ArenaEntry } from '../engine/params';
import { type Segment, segmentSumSquares } from '../engine/reduce';
import {
  bindingLayout,
  type Gpu,
  type GpuTensor,
  grid1d,
  type Params,
  type PreparedDispatch,
  type PreparedSequence,
} from '../gpu/runtime';
import { composeShader, uniformStruct } from '../gpu/shader';

/**
 * One step's settings. 1 − β is computed in float64 on the host (1.0 − f32(0.999) in the shader would be off
 * by 1.3e-5 relative); bc1/bc2 are 1 − β^step of the decayed and the plain (no decay) parameter groups.
 */
const OptimParams = uniformStruct('OptimParams', {
  lr: 'f32',
  weightDecay: 'f32',
  beta1: 'f32',
  beta2: 'f32',
  oneMinusBeta1: 'f32',
  oneMinusBeta2: 'f32',
  eps: 'f32',
  maxGradNorm: 'f32',
  bc1Decay: 'f32',
  bc2Decay: 'f32',
  bc1Plain: 'f32',
  bc2Plain: 'f32',
  segmentCount: 'u32',
  chunkCount: 'u32',
});
/**
 * One layout per entry point of shaders/optim.wgsl. `chunks` is the [chunks] vec4 u32 table (start, end,
 * segment, decay) of OPTIM_CHUNK-element pieces; the stats are reduce.segmentSumSquares outputs.
 */
const OPTIM_LAYOUTS = {
  lamb_moments: bindingLayout('optim.lamb_moments', {
    update: 'write', // the LAMB update direction, per parameter
    expAvg: 'write', // m
    expAvgSq: 'write', // v
    values: 'read', // the parameters
    grads: 'read',
    chunks: 'read',
    gradStats: 'read', // per-segment Σg², global Σ and norm
  }),
  lamb_apply: bindingLayout('optim.lamb_apply', {
    values: 'write', // the parameters, stepped in place
    update: 'read',
    chunks: 'read',
    valueStats: 'read', // per-segment ‖p‖²
    updateStats: 'read', // per-segment ‖u‖²
  }),
  adamw_step: bindingLayout('optim.adamw_step', {
    values: 'write', // the parameters, stepped in place
    expAvg: 'write',
    expAvgSq: 'write',
    grads: 'read',
    chunks: 'read',
    gradStats: 'read', // the global gradient norm for clipping
  }),
};
const optimModule = composeShader(OptimParams.wgsl, optimSource);

/** Elements per workgroup: 256 threads × 16. */
export const OPTIM_CHUNK = 4096;

export interface AdamFamilyConfig {
  beta1?: number;
  /** LAMB: 0.95 for ResNet, 0.999 for ConvNeXt in the official recipe. */
  beta2?: number;
  eps?: number;
  /** Global gradient-norm clip; Infinity disables it. */
  maxGradNorm?: number;
  /** Arena entry names to leave untouched (no gradient, PyTorch `grad is None`); see the file comment. */
  skip?: ReadonlySet<string>;
}

interface Resolved {
  beta1: number;
  beta2: number;
  eps: number;
  maxGradNorm: number;
}

/** Step counters of the two parameter groups (the official keeps one per group). */
export interface GroupSteps {
  decay: number;
  noDecay: number;
}

abstract class ArenaOptimizer {
  /** First and second moments, arena-sized (same offsets as the parameters). */
  readonly expAvg: GpuTensor;
  readonly expAvgSq: GpuTensor;
  /** The arena entries this optimiser steps (all but `skip`), in arena order: the segments of the stats. */
  readonly stepped: readonly ArenaEntry[];
  /**
   * [stepped + 2]: Σg² per stepped tensor, Σ over them, global L2 norm (last element; read lazily for the
   * UI).
   */
  readonly gradStats: GpuTensor;
  readonly steps: GroupSteps = { decay: 0, noDecay: 0 };
  protected readonly chunks: GpuTensor;
  protected readonly chunkCount: number;
  protected readonly gradNorm: PreparedSequence;
  protected readonly settings: Resolved;
  private readonly hasDecay: boolean;
  private readonly hasNoDecay: boolean;
  private lastLr = 0;
  private lastWeightDecay = 0;

  constructor(
    protected readonly gpu: Gpu,
    protected readonly arena: Arena,
    config: AdamFamilyConfig,
    defaults: Resolved,
  ) {
    if (!arena.allocated || !arena.withGrads) {
      throw new Error(`${arena.label}: the optimiser needs an allocated parameter arena with gradients.`);
    }
    if (arena.entries.length === 0)
      throw new Error(`${arena.label}: the arena has no parameters to optimise.`);
    const skip = config.skip ?? new Set<string>();
    for (const name of skip) {
      if (!arena.has(name))
        throw new Error(
          `${arena.label}: cannot skip "${name}" in the optimiser: the arena has no such tensor.`,
        );
    }
    this.stepped = arena.entries.filter((entry) => !skip.has(entry.name));
    if (this.stepped.length === 0)
      throw new Error(`${arena.label}: every parameter is skipped, so the optimiser has nothing to step.`);
    const { skip: _, ...hyper } = config;
    this.settings = { ...defaults, ...hyper };
    // Skipped tensors get no chunks: no kernel ever writes their values or moments.
    const table: number[] = [];
    this.stepped.forEach((entry, segment) => {
      for (let start = entry.offset; start < entry.offset + entry.length; start += OPTIM_CHUNK) {
        table.push(
          start,
          Math.min(entry.offset + entry.length, start + OPTIM_CHUNK),
          segment,
          entry.decay ? 1 : 0,
        );
      }
    });
    this.chunkCount = table.length / 4;
    this.chunks = gpu.upload(
      `${arena.label}.optim.chunks`,
      new Uint32Array(table.length ? table : [0, 0, 0, 0]),
    );
    this.expAvg = this.zeros('exp_avg', arena.size);
    this.expAvgSq = this.zeros('exp_avg_sq', arena.size);
    const segments = this.segments();
    this.gradStats = gpu.tensor(`${arena.label}.optim.grad_stats`, [segments.length + 2]);
    this.gradNorm = segmentSumSquares(gpu, { out: this.gradStats, x: arena.whole('grads'), segments });
    // Group membership, not gradients, decides whether a group's counter advances (as in the official).
    this.hasDecay = arena.entries.some((e) => e.decay);
    this.hasNoDecay = arena.entries.some((e) => !e.decay);
  }

  /** One reduction segment per stepped tensor; chunk.z indexes this list. */
  protected segments(): Segment[] {
    return this.stepped.map((e) => ({ offset: e.offset, length: e.length }));
  }

  protected zeros(name: string, length: number): GpuTensor {
    return this.gpu.upload(`${this.arena.label}.optim.${name}`, new Float32Array(Math.max(1, length)), [
      Math.max(1, length),
    ]);
  }

  protected prepareChunked(entryPoint: keyof typeof OPTIM_LAYOUTS, buffers: GpuTensor[]): PreparedDispatch {
    const layout = OPTIM_LAYOUTS[entryPoint];
    return this.gpu.prepare({
      kernel: this.gpu.kernel({ label: `optim.${entryPoint}`, code: optimModule, entryPoint, layout }),
      buffers,
      params: this.params(),
      workgroups: grid1d(this.chunkCount),
    });
  }

  protected params(): Params {
    const { beta1, beta2, eps, maxGradNorm } = this.settings;
    const correction = (beta: number, step: number) => (step > 0 ? 1 - beta ** step : 1);
    return OptimParams.pack({
      lr: this.lastLr,
      weightDecay: this.lastWeightDecay,
      beta1,
      beta2,
      oneMinusBeta1: 1 - beta1,
      oneMinusBeta2: 1 - beta2,
      eps,
      maxGradNorm,
      bc1Decay: correction(beta1, this.steps.decay),
      bc2Decay: correction(beta2, this.steps.decay),
      bc1Plain: correction(beta1, this.steps.noDecay),
      bc2Plain: correction(beta2, this.steps.noDecay),
      segmentCount: this.stepped.length,
      chunkCount: this.chunkCount,
    });
  }

  protected abstract stepDispatches(): PreparedDispatch[];

  /** Sets this step's learning rate and weight decay and advances the step counters. */
  beginStep(lr: number, weightDecay: number): void {
    if (!Number.isFinite(lr) || !Number.isFinite(weightDecay)) {
      throw new RangeError(
        `The learning rate (${lr}) and weight decay (${weightDecay}) must be finite numbers.`,
      );
    }
    this.lastLr = lr;
    this.lastWeightDecay = weightDecay;
    if (this.hasDecay) this.steps.decay++;
    if (this.hasNoDecay) this.steps.noDecay++;
    const params = this.params();
    for (const dispatch of this.stepDispatches()) dispatch.updateParams(params);
  }

  abstract encode(pass: GPUComputePassEncoder): void;

  protected checkBegun(): void {
    if (this.steps.decay === 0 && this.steps.noDecay === 0) {
      throw new Error('Call beginStep(lr, weightDecay) before encoding the optimiser step.');
    }
  }

  release(): void {
    this.gradNorm.release();
    for (const dispatch of this.stepDispatches()) dispatch.release();
    for (const t of [this.chunks, this.expAvg, this.expAvgSq, this.gradStats]) this.gpu.releaseTensor(t);
  }
}

/** LAMB exactly as SparK's timm-0.5.4 copy: clip inside the step, bias correction, trust ratio where wd ≠ 0. */
export class Lamb extends ArenaOptimizer {
  /** The update u of the last step, arena-sized (before the trust ratio). */
  readonly update: GpuTensor;
  /** [stepped + 2] Σp² per stepped tensor (before the step) and Σu² per stepped tensor. */
  readonly valueStats: GpuTensor;
  readonly updateStats: GpuTensor;
  private readonly moments: PreparedDispatch;
  private readonly valueNorms: PreparedSequence;
  private readonly updateNorms: PreparedSequence;
  private readonly apply: PreparedDispatch;

  constructor(gpu: Gpu, arena: Arena, config: AdamFamilyConfig = {}) {
    super(gpu, arena, config, { beta1: 0.9, beta2: 0.999, eps: 1e-6, maxGradNorm: 5 });
    this.update = this.zeros('update', arena.size);
    const segments = this.segments();
    this.valueStats = gpu.tensor(`${arena.label}.optim.value_stats`, [segments.length + 2]);
    this.updateStats = gpu.tensor(`${arena.label}.optim.update_stats`, [segments.length + 2]);
    this.moments = this.prepareChunked('lamb_moments', [
      this.update,
      this.expAvg,
      this.expAvgSq,
      arena.whole('values'),
      arena.whole('grads'),
      this.chunks,
      this.gradStats,
    ]);
    this.valueNorms = segmentSumSquares(gpu, { out: this.valueStats, x: arena.whole('values'), segments });
    this.updateNorms = segmentSumSquares(gpu, { out: this.updateStats, x: this.update, segments });
    this.apply = this.prepareChunked('lamb_apply', [
      arena.whole('values'),
      this.update,
      this.chunks,
      this.valueStats,
      this.updateStats,
    ]);
  }

  protected stepDispatches(): PreparedDispatch[] {
    return [this.moments, this.apply];
  }

  encode(pass: GPUComputePassEncoder): void {
    this.checkBegun();
    this.gradNorm.encode(pass);
    this.moments.encode(pass);
    this.valueNorms.encode(pass);
    this.updateNorms.encode(pass);
    this.apply.encode(pass);
  }

  override release(): void {
    super.release();
    this.valueNorms.release();
    this.updateNorms.release();
    for (const t of [this.update, this.valueStats, this.updateStats]) this.gpu.releaseTensor(t);
  }
}

/** PyTorch AdamW with clip_grad_norm_(maxGradNorm) before it (the official non-LAMB path). */
export class AdamW extends ArenaOptimizer {
  private readonly step: PreparedDispatch;

  constructor(gpu: Gpu, arena: Arena, config: AdamFamilyConfig = {}) {
    super(gpu, arena, config, { beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: 5 });
    this.step = this.prepareChunked('adamw_step', [
      arena.whole('values'),
      this.expAvg,
      this.expAvgSq,
      arena.whole('grads'),
      this.chunks,
      this.gradStats,
    ]);
  }

  protected stepDispatches(): PreparedDispatch[] {
    return [this.step];
  }

  encode(pass: GPUComputePassEncoder): void {
    this.checkBegun();
    this.gradNorm.encode(pass);
    this.step.encode(pass);
  }
}
