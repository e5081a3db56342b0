/**
 * The GEMM core's host side: composing an op's module around shaders/lib/gemm_core.wgsl, the tile and split-K
 * policy (in this one place), operand bindings, the shared zeros buffer for absent read-only inputs, and the
 * ordered split-K reduction (shaders/slice_reduce.wgsl). Every matrix-product op (dense conv forward / dX / dW,
 * transposed-conv dW, gathered sparse conv forward / dX / dW, matmul) runs the same main loop; see docs/ENGINE.md
 * "Adding a kernel".
 */
import gemmCoreSource from '../../shaders/lib/gemm_core.wgsl?raw';
import gemmOperandsSource from '../../shaders/lib/gemm_operands.wgsl?raw';
import gridSource from '../../shaders/lib/grid.wgsl?raw';
import operandsSource from '../../shaders/lib/operands.wgsl?raw';
import sliceReduceSource from '../../shaders/slice_reduce.wgsl?raw';
import {
  type Binding,
  type BindingLayout,
  bindingLayout,
  type DispatchSpec,
  type Gpu,
  type GpuTensor,
  grid1d,
  type Kernel,
  type PreparedDispatch,
} from '../gpu/runtime';
import { composeShader, uniformStruct } from '../gpu/shader';

/** Reduction depth of one tile step in the core (BK in shaders/lib/gemm_core.wgsl). */
export const TILE_K = 16;

export interface GemmTile {
  tileM: number;
  tileN: number;
}

/**
 * 64×64 tiles (256 threads, 4×4 per thread) when they still give enough workgroups to fill a GPU; 32×32
 * (64 threads) for small problems, where occupancy matters more than per-tile reuse.
 */
export function chooseTile(rows: number, cols: number): GemmTile {
  const bigTiles = Math.ceil(rows / 64) * Math.ceil(cols / 64);
  return bigTiles >= 96 ? { tileM: 64, tileN: 64 } : { tileM: 32, tileN: 32 };
}

/**
 * Split-K for reductions over batch × space: enough slices that tiles × slices reaches ~256 workgroups,
 * but at least 256 reduction rows per slice so the partials stay small relative to the work.
 */
export function chooseSlices(tiles: number, reductionRows: number): { slices: number; rowsPerSlice: number } {
  const wanted = Math.max(1, Math.min(Math.ceil(256 / Math.max(1, tiles)), Math.ceil(reductionRows / 256)));
  const rowsPerSlice = Math.max(TILE_K, Math.ceil(Math.ceil(reductionRows / wanted) / TILE_K) * TILE_K);
  return { slices: Math.max(1, Math.ceil(reductionRows / rowsPerSlice)), rowsPerSlice };
}

/** The least K depth of one split-K slice of a plain matrix product. */
const MIN_SLICE_DEPTH = 256;

/**
 * Slices for split-K: enough workgroups to fill a large GPU (≈256 in all) while each slice still covers at
 * least MIN_SLICE_DEPTH of K (16 BK steps), so that staging overhead and partials traffic stay small next to
 * the FMAs.
 */
export function chooseSplits(M: number, N: number, K: number): number {
  const tiles = Math.ceil(M / 32) * Math.ceil(N / 32);
  const byOccupancy = Math.ceil(256 / tiles);
  const byDepth = Math.floor(K / MIN_SLICE_DEPTH);
  return Math.max(1, Math.min(byOccupancy, byDepth, 64));
}

/** The grid of a GEMM: x over row tiles, y over column tiles, z over split-K slices (or phases, taps). */
export function gemmGrid(rows: number, cols: number, tile: GemmTile, layers = 1): [number, number, number] {
  return [Math.ceil(rows / tile.tileM), Math.ceil(cols / tile.tileN), layers];
}

/** The shared zeros buffer for an absent read-only input (no bias, no mask): see `Gpu.absentInput`. */
export function absentBinding(gpu: Gpu): GpuTensor {
  return gpu.absentInput;
}

/**
 * GEMM operands are read as vec4 arrays, so their bindings are rounded up to whole 16-byte units; pooled
 * buffers and arena segments always have that room.
 */
export function vec4Binding(t: GpuTensor): Binding {
  const size = Math.ceil(Math.max(1, t.length) / 4) * 16;
  if (t.offset + size > t.buffer.size) {
    throw new RangeError(
      `${t.label}: a GEMM operand must have room to be read in 16-byte units; its buffer ends ` +
        `${t.offset + size - t.buffer.size} bytes too early. Allocate it with gpu.tensor or in an Arena.`,
    );
  }
  return { buffer: t.buffer, offset: t.offset, size };
}

/** gpu.prepare with the operand slots `vec4Slots` bound as vec4 arrays. */
export function prepareGemm(
  gpu: Gpu,
  vec4Slots: readonly number[],
  spec: Omit<DispatchSpec, 'buffers'> & { buffers: GpuTensor[] },
): PreparedDispatch {
  const buffers = spec.buffers.map((t, i) => (vec4Slots.includes(i) ? vec4Binding(t) : t));
  return gpu.prepare({ ...spec, buffers });
}

export interface GemmKernelOptions {
  /** Pipeline label, e.g. `conv2d.forward`. */
  label: string;
  /** The family's declarations and helpers (uniform struct text, bindings, loaders), in any order. */
  family: readonly string[];
  /** The op file that defines the hooks (gemm_tile, gemm_row_a, gemm_load_a, gemm_load_b, gemm_store_row). */
  op: string;
  /** The family's bind-group layout (ConvLayout, SparseGemmLayout, MatmulLayout); its declarations are composed in. */
  layout: BindingLayout;
  tile: GemmTile;
  /** Whether each operand's runs of 4 are one aligned vec4 (its contiguous axis is a multiple of 4). */
  vec: { a: boolean; b: boolean };
  /** A's contiguous axis is M (A stored [K, M]); B's is K (B stored [N, K]). */
  aRunsAlongM?: boolean;
  bRunsAlongK?: boolean;
  /** The family's own override constants. */
  constants?: Record<string, number>;
}

const gemmLibrary = composeShader(gemmCoreSource, operandsSource, gemmOperandsSource);

/**
 * Tile sides the core stages evenly: each thread stages BK / (TILE_N/4) runs of A and BK / (TILE_M/4) of B per
 * BK step, which the core holds in two plain variables (1 or 2 runs), so a side must be 32 or 64.
 */
const STAGED_TILE_SIDES: readonly number[] = [32, 64];

/** A pipeline of the one GEMM main loop composed with an op's hooks. */
export function gemmKernel(gpu: Gpu, o: GemmKernelOptions): Kernel {
  if (!STAGED_TILE_SIDES.includes(o.tile.tileM) || !STAGED_TILE_SIDES.includes(o.tile.tileN))
    throw new RangeError(
      `${o.label}: a ${o.tile.tileM}×${o.tile.tileN} GEMM tile is not supported; each side must be 32 or 64.`,
    );
  return gpu.kernel({
    label: o.label,
    code: composeShader(gemmLibrary, o.layout.wgsl, ...o.family, o.op),
    entryPoint: 'gemm_main',
    layout: o.layout,
    constants: {
      ...o.constants,
      TILE_M: o.tile.tileM,
      TILE_N: o.tile.tileN,
      VEC_A: o.vec.a ? 1 : 0,
      VEC_B: o.vec.b ? 1 : 0,
      A_RUNS_ALONG_M: o.aRunsAlongM ? 1 : 0,
      B_RUNS_ALONG_K: o.bRunsAlongK ? 1 : 0,
    },
  });
}

/** Uniforms of shaders/slice_reduce.wgsl. */
export const SliceReduceParams = uniformStruct(
  'SliceReduceParams',
  {
    count: 'u32',
    slices: 'u32',
    sliceStride: 'u32',
    first: 'u32',
    cols: 'u32',
    alpha: 'f32',
    accumulate: 'u32',
  },
  { first: 0, cols: 1, alpha: 1 },
);

const SliceReduceLayout = bindingLayout('slice_reduce', {
  out: 'write', // [count] the sum (written or accumulated)
  partials: 'read', // [slices, …] split-K partial sums
  bias: 'read', // [cols] added once, or the zeros buffer when HAS_BIAS = 0
});

const sliceReduceModule = composeShader(
  SliceReduceParams.wgsl,
  SliceReduceLayout.wgsl,
  gridSource,
  sliceReduceSource,
);

/**
 * out[i] (+)= alpha · Σ_s partials[s, i] (+ bias[i % cols]) over `count` elements, slices added in a fixed
 * order (deterministic, no atomics): the second pass of every split-K GEMM.
 */
export function reduceSlices(
  gpu: Gpu,
  out: GpuTensor,
  partials: GpuTensor,
  count: number,
  slices: number,
  accumulate: boolean,
  options: {
    alpha?: number;
    bias?: GpuTensor;
    cols?: number;
    /** Partials of wider rows: slice s of this sum starts at first + s · sliceStride (default: packed). */
    sliceStride?: number;
    first?: number;
  } = {},
): PreparedDispatch {
  return gpu.prepare({
    kernel: gpu.kernel({
      label: 'slice_reduce',
      code: sliceReduceModule,
      entryPoint: 'slice_reduce',
      layout: SliceReduceLayout,
      constants: { HAS_BIAS: options.bias ? 1 : 0 },
    }),
    buffers: [out, partials, options.bias ?? absentBinding(gpu)],
    params: SliceReduceParams.pack({
      count,
      slices,
      sliceStride: options.sliceStride ?? count,
      first: options.first,
      accumulate,
      alpha: options.alpha ?? 1,
      cols: options.cols ?? 1,
    }),
    workgroups: grid1d(Math.ceil(count / 256)),
  });
}
