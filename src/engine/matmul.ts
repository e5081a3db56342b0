/**
 * GEMM on the GPU (shaders/matmul.wgsl): out[M,N] (= or +=) alpha·op(a)·op(b) (+ bias[N]), row-major f32.
 *
 * `matmul` is always one dispatch. `matmulSplitK` is for the weight-gradient shape (small M·N, long K, e.g.
 * Xᵀ·dY over all rows of a batch): it splits K over workgroups into a partials buffer and sums the slices in a
 * fixed order in a second dispatch, so the result is deterministic and the GPU is filled even when the output
 * has only a handful of tiles.
 */
import operandsSource from '../../shaders/lib/operands.wgsl?raw';
import matmulSource from '../../shaders/matmul.wgsl?raw';
import layerScaleStoreSource from '../../shaders/matmul_layer_scale.wgsl?raw';
import naiveSource from '../../shaders/matmul_naive.wgsl?raw';
import plainStoreSource from '../../shaders/matmul_store.wgsl?raw';
import {
  bindingLayout,
  type Gpu,
  type GpuTensor,
  type PreparedDispatch,
  PreparedSequence,
} from '../gpu/runtime';
import { composeShader, uniformStruct } from '../gpu/shader';
import {
  absentBinding,
  chooseSplits,
  chooseTile,
  gemmGrid,
  gemmKernel,
  prepareGemm,
  reduceSlices,
  TILE_K,
} from './gemm';

export { chooseSplits } from './gemm';
export { PreparedSequence };

export interface MatmulOptions {
  out: GpuTensor;
  a: GpuTensor;
  b: GpuTensor;
  M: number;
  N: number;
  K: number;
  /** a is stored [K, M] (op(a) = aᵀ). */
  transA?: boolean;
  /** b is stored [N, K] (op(b) = bᵀ). */
  transB?: boolean;
  /** Added to every row: [N]. */
  bias?: GpuTensor;
  /** out += … instead of out = … (parameter-gradient accumulation). */
  accumulate?: boolean;
  alpha?: number;
  /** Forces the one-thread-per-output kernel (the benchmark's baseline). */
  naive?: boolean;
  /**
   * Layer-scale epilogue (ConvNeXt's γ): out = gamma[n] · (alpha·op(a)·op(b) + bias), and the value before γ
   * into `preScale` [M, N] for γ's backward (src/engine/layerScale.ts). Not with accumulate, split-K or naive.
   */
  layerScale?: { gamma: GpuTensor; preScale: GpuTensor };
}

export interface SplitKOptions extends MatmulOptions {
  /** Number of K slices; chosen from the shape when omitted (1 means a plain `matmul`). */
  splits?: number;
}

/** Uniforms of shaders/matmul.wgsl and matmul_naive.wgsl. */
export const MatmulParams = uniformStruct(
  'MatmulParams',
  { m: 'u32', n: 'u32', k: 'u32', kChunk: 'u32', alpha: 'f32', accumulate: 'u32', hasBias: 'u32' },
  { alpha: 1, accumulate: false, hasBias: false },
);

/** Operand slots read as vec4 arrays (a and b). */
const MATMUL_VEC4_SLOTS = [1, 2];

/** The split-K policy's tile: the core's small tile (its K chunks are whole BK steps). */
const SPLIT_TILE = { tileM: 32, tileN: 32 };

function ceilDiv(a: number, b: number): number {
  return Math.ceil(a / b);
}

function checkShape(label: string, options: MatmulOptions): void {
  const { M, N, K, out, a, b, bias } = options;
  for (const [name, value] of [
    ['M', M],
    ['N', N],
    ['K', K],
  ] as const) {
    if (!Number.isInteger(value) || value < 1)
      throw new RangeError(`${label}: ${name} must be a positive integer, got ${value}.`);
  }
  const need = (t: GpuTensor, count: number, what: string) => {
    if (t.length < count)
      throw new RangeError(`${label}: ${t.label} has ${t.length} elements but ${what} needs ${count}.`);
  };
  need(out, M * N, `the output [${M}, ${N}]`);
  need(a, M * K, options.transA ? `a stored [${K}, ${M}]` : `a [${M}, ${K}]`);
  need(b, K * N, options.transB ? `b stored [${N}, ${K}]` : `b [${K}, ${N}]`);
  if (bias) need(bias, N, `a bias over ${N} columns`);
  if (options.layerScale) {
    need(options.layerScale.gamma, N, `a layer scale over ${N} columns`);
    need(options.layerScale.preScale, M * N, `the values before the layer scale [${M}, ${N}]`);
    if (options.accumulate || options.naive)
      throw new RangeError(
        `${label}: the layer-scale epilogue writes its output once (no accumulate, no naive kernel).`,
      );
  }
}

function tiledKernel(gpu: Gpu, options: MatmulOptions, tile: { tileM: number; tileN: number }) {
  const { M, N, K, transA = false, transB = false } = options;
  // vec4 loads need the stored matrix's contiguous dimension to be a multiple of 4 (every row then starts
  // 16-byte aligned); the other dimension is free.
  const scaled = !!options.layerScale;
  return gemmKernel(gpu, {
    label: scaled ? 'matmul.gemm_layer_scale' : 'matmul.gemm',
    family: [MatmulParams.wgsl, scaled ? layerScaleStoreSource : plainStoreSource],
    layout: scaled ? MatmulLayerScaleLayout : MatmulLayout,
    op: matmulSource,
    tile,
    vec: { a: transA ? M % 4 === 0 : K % 4 === 0, b: transB ? K % 4 === 0 : N % 4 === 0 },
    aRunsAlongM: transA,
    bRunsAlongK: transB,
  });
}

/** matmul.wgsl and matmul_naive.wgsl. */
const MatmulLayout = bindingLayout('matmul', {
  out: 'write', // [M, N], or split-K partials [S, M, N]
  lhs: 'read:vec4f', // a
  rhs: 'read:vec4f', // b
  bias: 'read', // [N], or the zeros buffer (has_bias 0)
});

/** matmul.wgsl with the layer-scale epilogue (shaders/matmul_layer_scale.wgsl). */
const MatmulLayerScaleLayout = bindingLayout('matmul.layer_scale', {
  out: 'write', // [M, N] γ · (a·b + bias)
  lhs: 'read:vec4f', // a
  rhs: 'read:vec4f', // b
  bias: 'read', // [N], or the zeros buffer (has_bias 0)
  scale: 'read', // [N] γ
  preScale: 'write', // [M, N] a·b + bias, kept for γ's backward
});

const naiveModule = composeShader(MatmulParams.wgsl, MatmulLayout.wgsl, operandsSource, naiveSource);

/** out[M,N] (= or +=) alpha·op(a)·op(b) (+ bias), one dispatch. */
export function matmul(gpu: Gpu, options: MatmulOptions): PreparedDispatch {
  checkShape('matmul', options);
  const { out, a, b, M, N, K, bias, accumulate = false, alpha = 1, layerScale } = options;
  const buffers = [out, a, b, bias ?? absentBinding(gpu)];
  if (layerScale) buffers.push(layerScale.gamma, layerScale.preScale);
  const params = MatmulParams.pack({ m: M, n: N, k: K, kChunk: K, alpha, accumulate, hasBias: !!bias });
  if (options.naive) {
    const kernel = gpu.kernel({
      label: 'matmul.naive',
      code: naiveModule,
      entryPoint: 'gemm_naive',
      layout: MatmulLayout,
      constants: { TRANS_A: options.transA ? 1 : 0, TRANS_B: options.transB ? 1 : 0 },
    });
    return prepareGemm(gpu, MATMUL_VEC4_SLOTS, {
      kernel,
      buffers,
      params,
      workgroups: [ceilDiv(N, 16), ceilDiv(M, 16)],
    });
  }
  const tile = chooseTile(M, N);
  return prepareGemm(gpu, MATMUL_VEC4_SLOTS, {
    kernel: tiledKernel(gpu, options, tile),
    buffers,
    params,
    workgroups: gemmGrid(M, N, tile),
  });
}

/**
 * Same result as `matmul`, computed over K slices (`splits`, or `chooseSplits`) into a scratch buffer and
 * reduced in fixed order. Returns one or two dispatches; release() also frees the scratch buffer.
 */
export function matmulSplitK(gpu: Gpu, options: SplitKOptions): PreparedSequence {
  checkShape('matmulSplitK', options);
  if (options.layerScale)
    throw new RangeError('matmulSplitK: the layer-scale epilogue is for a forward layer; use matmul.');
  const { out, a, b, M, N, K, bias, accumulate = false, alpha = 1 } = options;
  const tile = SPLIT_TILE;
  const requested = options.splits ?? chooseSplits(M, N, K);
  if (!Number.isInteger(requested) || requested < 1)
    throw new RangeError(`matmulSplitK: splits must be a positive integer, got ${requested}.`);
  // Slices are whole BK steps so that vec4 loads along K stay aligned inside each slice.
  const kChunk = ceilDiv(ceilDiv(K, requested), TILE_K) * TILE_K;
  const splits = ceilDiv(K, kChunk);
  if (splits === 1 || options.naive) {
    const single = matmul(gpu, options);
    return new PreparedSequence('matmul', [single], [], gpu);
  }
  const partials = gpu.tensor('matmul.splitk.partials', [splits, M, N]);
  const sliceDispatch = prepareGemm(gpu, MATMUL_VEC4_SLOTS, {
    kernel: tiledKernel(gpu, options, tile),
    buffers: [partials, a, b, absentBinding(gpu)],
    params: MatmulParams.pack({ m: M, n: N, k: K, kChunk }),
    workgroups: gemmGrid(M, N, tile, splits),
  });
  const reduceDispatch = reduceSlices(gpu, out, partials, M * N, splits, accumulate, {
    alpha,
    bias,
    cols: N,
  });
  return new PreparedSequence('matmul.splitk', [sliceDispatch, reduceDispatch], [partials], gpu);
}
