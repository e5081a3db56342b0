/**
 * LAMB (the official SparK optimiser) and AdamW over a parameter Arena, entirely on the GPU: the global and
 * per-tensor norms come from multi-stage fixed-order reductions (LAMB: inside its own passes,
 * shaders/lamb_fused.wgsl; AdamW: src/engine/reduce.ts segmentSumSquares), the clip factor
 * and trust ratios never leave the GPU, and nothing is read back per step. Kernels: shaders/optim.wgsl (+ lamb_fused.wgsl).
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
import lambFusedSource from '../../shaders/lamb_fused.wgsl?raw';
import reduceLibSource from '../../shaders/lib/reduce.wgsl?raw';
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
import { familyModule, uniformStruct } from '../gpu/shader';

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
 * One layout per entry point of shaders/optim.wgsl and shaders/lamb_fused.wgsl. `chunks` is the [chunks] vec4 u32 table (start, end,
 * segment, decay) of OPTIM_CHUNK-element pieces; the stats are reduce.segmentSumSquares outputs.
 */
const OPTIM_LAYOUTS = {
  adamw_step: bindingLayout(
    'optim.adamw_step',
    {
      values: 'write', // the parameters, stepped in place
      expAvg: 'write',
      expAvgSq: 'write',
      grads: 'read',
      chunks: 'read:vec4u',
      gradStats: 'read', // the global gradient norm for clipping
    },
    { prefix: 'aw_' },
  ),
  // LAMB in four dispatches (shaders/lamb_fused.wgsl): the norms come with the passes that read the data anyway.
  lamb_chunk_stats: bindingLayout(
    'optim.lamb_chunk_stats',
    {
      chunkStats: 'write', // [chunks, 2] Σg², Σp² per chunk
      grads: 'read',
      values: 'read', // the parameters before the step
      chunks: 'read:vec4u',
    },
    { prefix: 'cs_' },
  ),
  lamb_totals: bindingLayout(
    'optim.lamb_totals',
    {
      gradStats: 'write', // [segments + 2] Σg² per segment, Σ, global norm
      valueStats: 'write', // [segments + 2] Σp² per segment, Σ, √Σ
      chunkStats: 'read',
      firsts: 'read:u32', // [segments + 1] each segment's first chunk, then the chunk count
    },
    { prefix: 'lt_' },
  ),
  lamb_moments_stats: bindingLayout(
    'optim.lamb_moments_stats',
    {
      update: 'write', // the LAMB update direction, per parameter
      expAvg: 'write', // m
      expAvgSq: 'write', // v
      updatePartials: 'write', // [chunks] Σu² per chunk
      values: 'read',
      grads: 'read',
      chunks: 'read:vec4u',
      gradStats: 'read', // the global gradient norm for clipping
    },
    { prefix: 'ms_' },
  ),
  lamb_apply_stats: bindingLayout(
    'optim.lamb_apply_stats',
    {
      values: 'write', // the parameters, stepped in place
      updateStats: 'write', // [segments] ‖u‖² per segment (stored by each segment's first chunk)
      update: 'read',
      chunks: 'read:vec4u',
      valueStats: 'read', // per-segment ‖p‖²
      updatePartials: 'read', // [chunks] Σu² per chunk
      firsts: 'read:u32',
    },
    { prefix: 'ap_' },
  ),
};
const optimModule = familyModule(OptimParams, OPTIM_LAYOUTS, reduceLibSource, optimSource, lambFusedSource);

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
    for (const dispatch of this.stepDispatches()) dispatch.release();
    for (const t of [this.chunks, this.expAvg, this.expAvgSq, this.gradStats]) this.gpu.releaseTensor(t);
  }
}

/**
 * LAMB exactly as SparK's timm-0.5.4 copy: clip inside the step, bias correction, trust ratio where wd ≠ 0.
 * Four dispatches per step (shaders/lamb_fused.wgsl): Σg² and Σp² per chunk, their per-tensor and global
 * totals, the moments with Σu² per chunk, and the step with each tensor's ‖u‖ summed from its chunks.
 */
export class Lamb extends ArenaOptimizer {
  /** The update u of the last step, arena-sized (before the trust ratio). */
  readonly update: GpuTensor;
  /** [stepped + 2] Σp² per stepped tensor (before the step), Σ, √Σ; [stepped] Σu² per stepped tensor. */
  readonly valueStats: GpuTensor;
  readonly updateStats: GpuTensor;
  private readonly chunkStats: GpuTensor;
  private readonly updatePartials: GpuTensor;
  private readonly firsts: GpuTensor;
  private readonly stats: PreparedDispatch;
  private readonly totals: PreparedDispatch;
  private readonly moments: PreparedDispatch;
  private readonly apply: PreparedDispatch;

  constructor(gpu: Gpu, arena: Arena, config: AdamFamilyConfig = {}) {
    super(gpu, arena, config, { beta1: 0.9, beta2: 0.999, eps: 1e-6, maxGradNorm: 5 });
    this.update = this.zeros('update', arena.size);
    const segments = this.stepped.length;
    this.valueStats = gpu.tensor(`${arena.label}.optim.value_stats`, [segments + 2]);
    this.updateStats = gpu.tensor(`${arena.label}.optim.update_stats`, [segments]);
    this.chunkStats = gpu.tensor(`${arena.label}.optim.chunk_stats`, [Math.max(1, this.chunkCount), 2]);
    this.updatePartials = gpu.tensor(`${arena.label}.optim.update_partials`, [Math.max(1, this.chunkCount)]);
    // Chunks are made tensor by tensor in order (the base class), so each tensor's chunks are consecutive.
    const firsts = new Uint32Array(segments + 1);
    let chunk = 0;
    this.stepped.forEach((entry, segment) => {
      firsts[segment] = chunk;
      chunk += Math.ceil(entry.length / OPTIM_CHUNK);
    });
    firsts[segments] = chunk;
    this.firsts = gpu.upload(`${arena.label}.optim.firsts`, firsts);
    const values = arena.whole('values');
    const grads = arena.whole('grads');
    this.stats = this.prepareChunked('lamb_chunk_stats', [this.chunkStats, grads, values, this.chunks]);
    this.totals = gpu.prepare({
      kernel: gpu.kernel({
        label: 'optim.lamb_totals',
        code: optimModule,
        entryPoint: 'lamb_totals',
        layout: OPTIM_LAYOUTS.lamb_totals,
      }),
      buffers: [this.gradStats, this.valueStats, this.chunkStats, this.firsts],
      params: this.params(),
      workgroups: [1],
    });
    this.moments = this.prepareChunked('lamb_moments_stats', [
      this.update,
      this.expAvg,
      this.expAvgSq,
      this.updatePartials,
      values,
      grads,
      this.chunks,
      this.gradStats,
    ]);
    this.apply = this.prepareChunked('lamb_apply_stats', [
      values,
      this.updateStats,
      this.update,
      this.chunks,
      this.valueStats,
      this.updatePartials,
      this.firsts,
    ]);
  }

  protected stepDispatches(): PreparedDispatch[] {
    return [this.stats, this.totals, this.moments, this.apply];
  }

  encode(pass: GPUComputePassEncoder): void {
    this.checkBegun();
    this.stats.encode(pass);
    this.totals.encode(pass);
    this.moments.encode(pass);
    this.apply.encode(pass);
  }

  override release(): void {
    super.release();
    for (const t of [
      this.update,
      this.valueStats,
      this.updateStats,
      this.chunkStats,
      this.updatePartials,
      this.firsts,
    ])
      this.gpu.releaseTensor(t);
  }
}

/** PyTorch AdamW with clip_grad_norm_(maxGradNorm) before it (the official non-LAMB path). */
export class AdamW extends ArenaOptimizer {
  private readonly step: PreparedDispatch;
  private readonly gradNorm: PreparedSequence;

  constructor(gpu: Gpu, arena: Arena, config: AdamFamilyConfig = {}) {
    super(gpu, arena, config, { beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: 5 });
    this.gradNorm = segmentSumSquares(gpu, {
      out: this.gradStats,
      x: arena.whole('grads'),
      segments: this.segments(),
    });
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
  override release(): void {
    super.release();
    this.gradNorm.release();
  }
}
