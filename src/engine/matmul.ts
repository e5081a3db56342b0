/**
 * GEMM on the GPU (shaders/matmul.wgsl): out[M,N] (= or +=) alpha·op(a)·op(b) (+ bias[N]), row-major f32.
 *
 * `matmul` is always one dispatch. `matmulSplitK` is for the weight-gradient shape (small M·N, long K, e.g.
 * Xᵀ·dY over all rows of a batch): it splits K over workgroups into a partials buffer and sums the slices in a
 * fixed order in a second dispatch, so the result is deterministic and the GPU is filled even when the output
 * has only a handful of tiles.
 */
import matmulSource from '../../shaders/matmul.wgsl?raw';
import {
  type Gpu,
  type GpuTensor,
  grid1d,
  Params,
  type PreparedDispatch,
  PreparedSequence,
} from '../gpu/runtime';

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
}

export interface SplitKOptions extends MatmulOptions {
  /** Number of K slices; chosen from the shape when omitted (1 means a plain `matmul`). */
  splits?: number;
}

interface TileConfig {
  wgX: number;
  wgY: number;
  bk: number;
}

// 32×32 tiles (64 threads, BK 32) are the portable shape and keep small GEMMs spread over many workgroups;
// 64×64 tiles (256 threads, BK 16) halve the shared-memory traffic per FMA once there are enough tiles to
// fill a large GPU. Both stage 8 KiB of workgroup memory.
const SMALL_TILE: TileConfig = { wgX: 8, wgY: 8, bk: 32 };
const LARGE_TILE: TileConfig = { wgX: 16, wgY: 16, bk: 16 };
/** Output tiles of 64×64 from which the large configuration is used (≈ a few per compute unit). */
const LARGE_TILE_MIN_TILES = 128;

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
}

/**
 * Binds a tensor as array<vec4<f32>>: the range is rounded up to 16 bytes, which always stays inside the
 * buffer for pooled buffers (power-of-two sizes) and arena segments (256-byte padded).
 */
function vec4Binding(t: GpuTensor): GPUBufferBinding {
  const size = ceilDiv(Math.max(1, t.length), 4) * 16;
  if (t.offset + size > t.buffer.size) {
    throw new RangeError(
      `${t.label}: a GEMM operand must have room to be read in 16-byte units; its buffer ends ` +
        `${t.offset + size - t.buffer.size} bytes too early. Allocate it with gpu.tensor or in an Arena.`,
    );
  }
  return { buffer: t.buffer, offset: t.offset, size };
}

function tiledKernel(gpu: Gpu, options: MatmulOptions, tile: TileConfig, withBias: boolean) {
  const { M, N, K, transA = false, transB = false } = options;
  // vec4 loads need the stored matrix's contiguous dimension to be a multiple of 4 (every row then starts
  // 16-byte aligned); the other dimension is free.
  const vecA = transA ? M % 4 === 0 : K % 4 === 0;
  const vecB = transB ? K % 4 === 0 : N % 4 === 0;
  return gpu.kernel({
    label: withBias ? 'matmul.gemm_bias' : 'matmul.gemm',
    code: matmulSource,
    entryPoint: withBias ? 'gemm_bias' : 'gemm',
    constants: {
      WG_X: tile.wgX,
      WG_Y: tile.wgY,
      BK: tile.bk,
      TRANS_A: transA ? 1 : 0,
      TRANS_B: transB ? 1 : 0,
      VEC_A: vecA ? 1 : 0,
      VEC_B: vecB ? 1 : 0,
    },
  });
}

function chooseTile(M: number, N: number): TileConfig {
  return ceilDiv(M, 64) * ceilDiv(N, 64) >= LARGE_TILE_MIN_TILES ? LARGE_TILE : SMALL_TILE;
}

function gemmParams(M: number, N: number, K: number, kChunk: number, alpha: number, accumulate: boolean) {
  return new Params()
    .u32(M)
    .u32(N)
    .u32(K)
    .u32(kChunk)
    .f32(alpha)
    .u32(accumulate ? 1 : 0);
}

/** out[M,N] (= or +=) alpha·op(a)·op(b) (+ bias), one dispatch. */
export function matmul(gpu: Gpu, options: MatmulOptions): PreparedDispatch {
  checkShape('matmul', options);
  const { out, a, b, M, N, K, bias, accumulate = false, alpha = 1 } = options;
  const buffers = [out, vec4Binding(a), vec4Binding(b), ...(bias ? [bias] : [])];
  const params = gemmParams(M, N, K, K, alpha, accumulate);
  if (options.naive) {
    const kernel = gpu.kernel({
      label: bias ? 'matmul.naive_bias' : 'matmul.naive',
      code: matmulSource,
      entryPoint: bias ? 'gemm_naive_bias' : 'gemm_naive',
      constants: { TRANS_A: options.transA ? 1 : 0, TRANS_B: options.transB ? 1 : 0 },
    });
    return gpu.prepare({ kernel, buffers, params, workgroups: [ceilDiv(N, 16), ceilDiv(M, 16)] });
  }
  const tile = chooseTile(M, N);
  const kernel = tiledKernel(gpu, options, tile, bias !== undefined);
  return gpu.prepare({
    kernel,
    buffers,
    params,
    workgroups: [ceilDiv(N, 4 * tile.wgX), ceilDiv(M, 4 * tile.wgY)],
  });
}

/**
 * Slices for split-K: enough workgroups to fill a large GPU (≈256 in all) while each slice still runs at
 * least 8 BK steps, so that staging overhead and partials traffic stay small next to the FMAs.
 */
export function chooseSplits(M: number, N: number, K: number): number {
  const tiles = ceilDiv(M, 32) * ceilDiv(N, 32);
  const byOccupancy = ceilDiv(256, tiles);
  const byDepth = Math.floor(K / (8 * SMALL_TILE.bk));
  return Math.max(1, Math.min(byOccupancy, byDepth, 64));
}

/**
 * Same result as `matmul`, computed over K slices (`splits`, or `chooseSplits`) into a scratch buffer and
 * reduced in fixed order. Returns one or two dispatches; release() also frees the scratch buffer.
 */
export function matmulSplitK(gpu: Gpu, options: SplitKOptions): PreparedSequence {
  checkShape('matmulSplitK', options);
  const { out, a, b, M, N, K, bias, accumulate = false, alpha = 1 } = options;
  const tile = SMALL_TILE;
  const requested = options.splits ?? chooseSplits(M, N, K);
  if (!Number.isInteger(requested) || requested < 1)
    throw new RangeError(`matmulSplitK: splits must be a positive integer, got ${requested}.`);
  // Slices are whole BK steps so that vec4 loads along K stay aligned inside each slice.
  const kChunk = ceilDiv(ceilDiv(K, requested), tile.bk) * tile.bk;
  const splits = ceilDiv(K, kChunk);
  if (splits === 1 || options.naive) {
    const single = matmul(gpu, options);
    return new PreparedSequence('matmul', [single], [], gpu);
  }
  const partials = gpu.tensor('matmul.splitk.partials', [splits, M, N]);
  const sliceDispatch = gpu.prepare({
    kernel: tiledKernel(gpu, options, tile, false),
    buffers: [partials, vec4Binding(a), vec4Binding(b)],
    params: gemmParams(M, N, K, kChunk, 1, false),
    workgroups: [ceilDiv(N, 4 * tile.wgX), ceilDiv(M, 4 * tile.wgY), splits],
  });
  const reduceKernel = gpu.kernel({
    label: bias ? 'matmul.splitk_reduce_bias' : 'matmul.splitk_reduce',
    code: matmulSource,
    entryPoint: bias ? 'splitk_reduce_bias' : 'splitk_reduce',
  });
  const reduceDispatch = gpu.prepare({
    kernel: reduceKernel,
    buffers: [out, partials, ...(bias ? [bias] : [])],
    params: new Params()
      .u32(M * N)
      .u32(N)
      .u32(splits)
      .f32(alpha)
      .u32(accumulate ? 1 : 0),
    workgroups: grid1d(ceilDiv(M * N, 256)),
  });
  return new PreparedSequence('matmul.splitk', [sliceDispatch, reduceDispatch], [partials], gpu);
}
