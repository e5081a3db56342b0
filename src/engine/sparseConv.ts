/**
 * Gathered sparse convolutions on compacted rows [N_active, C] (spark-spec §2.1, KERNELS §3): dense-channel
 * k×k convs of any stride/padding as implicit GEMM over gathered rows × HWIO weight, and depthwise (groups = C,
 * stride 1) convs that walk the window through the scale's grid index. Neighbour maps come from
 * `SparsePyramid.neighbours(...)` (or the model's `ModelSites.neighbours`) and are shared by forward and backward.
 * Kernels: shaders/sparse/ (the gathered A loader and the GEMM ops' hooks, on shaders/lib/gemm_core.wgsl) and
 * shaders/sparse_depthwise.wgsl (depthwise through the grid index).
 *
 * Accumulation: y and dx are written (=) (dx accumulated with `accumulateDx`); dWeight and dBias accumulate
 * (+=) into the grad arena.
 */
import gridSource from '../../shaders/lib/grid.wgsl?raw';
import sparseGemmSource from '../../shaders/sparse/gemm.wgsl?raw';
import sparseGradWeightSource from '../../shaders/sparse/grad_weight.wgsl?raw';
import sparseFamilySource from '../../shaders/sparse/sparse.wgsl?raw';
import depthwiseFile from '../../shaders/sparse_depthwise.wgsl?raw';
import {
  bindingDeclarations,
  bindingLayout,
  type Encodable,
  type Gpu,
  type GpuTensor,
  grid1d,
  type Params,
  type PreparedDispatch,
  PreparedSequence,
} from '../gpu/runtime';
import { composeShader, uniformStruct } from '../gpu/shader';
import type { GpuNeighbourMaps, GpuSiteScale, NeighbourMaps } from '../sparse/sites';
import { vecFlags } from './conv2d';
import {
  absentBinding,
  chooseSlices,
  chooseTile,
  type GemmTile,
  gemmGrid,
  gemmKernel,
  prepareGemm,
  reduceSlices,
} from './gemm';
import { matmul, matmulSplitK } from './matmul';
import { columnSum } from './reduce';

/** Sites per split of the depthwise weight-gradient reduction (a multiple of this). */
const TILE_K = 16;

export interface SparseConvForwardArgs {
  maps: GpuNeighbourMaps;
  cin: number;
  cout: number;
  /** [N_out, Cout] */
  y: GpuTensor;
  /** [N_in, Cin] */
  x: GpuTensor;
  /** HWIO [k, k, Cin, Cout] */
  weight: GpuTensor;
  bias?: GpuTensor;
  /**
   * Layer-scale epilogue (ConvNeXt's γ after pwconv2): y = γ · (conv + bias), the value before γ kept in
   * `preScale` for src/engine/layerScale.ts. Pointwise convs only (the plain-rows GEMM's epilogue).
   */
  layerScale?: { gamma: GpuTensor; preScale: GpuTensor };
}

export interface SparseConvBackwardArgs {
  maps: GpuNeighbourMaps;
  cin: number;
  cout: number;
  /** [N_in, Cin], written; omit when the input needs no gradient (the image). */
  dx?: GpuTensor;
  /** Add into dx instead of writing it (the input's other consumers share the tensor: no fan-in add). */
  accumulateDx?: boolean;
  /** [N_out, Cout] */
  dy: GpuTensor;
  /** The forward input [N_in, Cin]. */
  x: GpuTensor;
  weight: GpuTensor;
  dWeight: GpuTensor;
  /** Give it exactly when the forward had a bias. */
  dBias?: GpuTensor;
}

function expect(label: string, name: string, t: GpuTensor, n: number): void {
  if (t.length !== n) throw new RangeError(`${label}: ${name} has ${t.length} elements, expected ${n}.`);
}

function checkConv(
  label: string,
  a: { maps: GpuNeighbourMaps; cin: number; cout: number },
  weight: GpuTensor,
): void {
  if (!Number.isInteger(a.cin) || !Number.isInteger(a.cout) || a.cin < 1 || a.cout < 1)
    throw new RangeError(`${label}: channel counts must be positive integers, got ${a.cin} → ${a.cout}.`);
  expect(label, 'weight', weight, a.maps.maps.taps * a.cin * a.cout);
}

/**
 * The sparse GEMMs' uniforms (shaders/sparse/sparse.wgsl): rows, depth (gathered channels per tap), cols, taps
 * (neighbour-map columns), split-K slicing, bias / accumulate flags.
 */
export const SparseGemmParams = uniformStruct(
  'SparseGemmParams',
  {
    rows: 'u32',
    depth: 'u32',
    cols: 'u32',
    taps: 'u32',
    rowsPerSlice: 'u32',
    slices: 'u32',
    hasBias: 'u32',
    accumulate: 'u32',
  },
  { rowsPerSlice: 0, slices: 1, hasBias: false, accumulate: false },
);

/** The sparse GEMMs' bind-group layout (shaders/sparse/sparse.wgsl): forward, dX and dW. */
const SparseGemmLayout = bindingLayout('sparse_gemm', {
  out: 'write', // y, dx, dW, or split-K partials
  lhs: 'read:vec4f', // the gathered source: x (dy for dX)
  neighbours: 'read:i32', // [rows, taps] source row per tap, < 0 none
  rhs: 'read:vec4f', // the weight (dy for dW)
  bias: 'read', // [cols], or the zeros buffer (has_bias 0)
});

/** Operand slots read as vec4 arrays (lhs and rhs; shaders/sparse/sparse.wgsl). */
const SPARSE_VEC4_SLOTS = [1, 3];

/**
 * The sparse GEMMs run on the one GEMM core with the dense conv's tile policy (chooseTile), split-K policy
 * (chooseSlices) and vec4 flags, so a sparse conv costs the dense conv's time per useful FLOP.
 */
function gemmOp(
  gpu: Gpu,
  op: 'gemm' | 'grad_weight',
  tile: GemmTile,
  vec: { a: boolean; b: boolean },
  weightTransposed = false,
) {
  return gemmKernel(gpu, {
    label: `sparse.${op}`,
    family: [SparseGemmParams.wgsl, sparseFamilySource],
    layout: SparseGemmLayout,
    op: op === 'gemm' ? sparseGemmSource : sparseGradWeightSource,
    tile,
    vec,
    aRunsAlongM: op === 'grad_weight',
    bRunsAlongK: weightTransposed,
  });
}

/**
 * A 1×1, stride-1, unpadded window on one site set maps every row to itself: such convs (ConvNeXt's pointwise
 * layers, 1×1 projections) run as plain row GEMMs (the core's plain-rows loader, src/engine/matmul.ts), with no
 * gather through the map.
 */
export function isPointwise(maps: NeighbourMaps): boolean {
  const { kernel, stride, padding } = maps.geometry;
  // (An empty site set keeps the gathered path, which handles zero rows.)
  const sameRows = maps.inputRows === maps.outputRows && maps.inputRows > 0;
  return kernel === 1 && stride === 1 && padding === 0 && sameRows;
}

/** dx = dy·Wᵀ (written), dW += xᵀ·dy (split-K over rows), dBias += Σ dy, for a pointwise conv. */
function pointwiseBackward(gpu: Gpu, label: string, a: SparseConvBackwardArgs): PreparedSequence {
  const { cin, cout } = a;
  const rows = a.maps.maps.outputRows;
  const parts: Encodable[] = [];
  if (a.dx) {
    expect(label, 'dx', a.dx, rows * cin);
    parts.push(
      matmul(gpu, {
        out: a.dx,
        a: a.dy,
        b: a.weight,
        transB: true,
        M: rows,
        N: cin,
        K: cout,
        accumulate: a.accumulateDx,
      }),
    );
  }
  parts.push(
    matmulSplitK(gpu, {
      out: a.dWeight,
      a: a.x,
      transA: true,
      b: a.dy,
      M: cin,
      N: cout,
      K: rows,
      accumulate: true,
    }),
  );
  if (a.dBias)
    parts.push(
      columnSum(gpu, { label: `${label}.bias`, out: a.dBias, x: a.dy, rows, cols: cout, accumulate: true }),
    );
  return new PreparedSequence(label, parts, [], gpu);
}

/** Forward: y[o] = bias + Σ_taps x[nbr(o, t)] · W[t]. One implicit-GEMM dispatch. */
export function sparseConvForward(gpu: Gpu, a: SparseConvForwardArgs): PreparedDispatch {
  const label = 'sparseConvForward';
  const { maps, cin, cout } = a;
  checkConv(label, a, a.weight);
  expect(label, 'x', a.x, maps.maps.inputRows * cin);
  expect(label, 'y', a.y, maps.maps.outputRows * cout);
  if (a.bias) expect(label, 'bias', a.bias, cout);
  const rows = maps.maps.outputRows;
  if (isPointwise(maps.maps))
    return matmul(gpu, {
      out: a.y,
      a: a.x,
      b: a.weight,
      M: rows,
      N: cout,
      K: cin,
      bias: a.bias,
      layerScale: a.layerScale,
    });
  if (a.layerScale)
    throw new RangeError(
      `${label}: the layer-scale epilogue needs a pointwise (1×1, stride 1, unpadded) conv on one site set.`,
    );
  const tile = chooseTile(rows, cout);
  return prepareGemm(gpu, SPARSE_VEC4_SLOTS, {
    kernel: gemmOp(gpu, 'gemm', tile, vecFlags(cin, cout)),
    buffers: [a.y, a.x, maps.forward, a.weight, a.bias ?? absentBinding(gpu)],
    params: SparseGemmParams.pack({ rows, depth: cin, cols: cout, taps: maps.maps.taps, hasBias: !!a.bias }),
    workgroups: gemmGrid(rows, cout, tile),
  });
}

/** Splits of the site axis for a weight-gradient reduction: enough workgroups to fill a GPU, ≥16 sites each. */
function siteSplits(
  sites: number,
  otherWorkgroups: number,
  targetWorkgroups: number,
): { splits: number; kPerSplit: number } {
  const wanted = Math.max(
    1,
    Math.min(Math.ceil(targetWorkgroups / otherWorkgroups), Math.ceil(sites / TILE_K)),
  );
  const kPerSplit = Math.max(TILE_K, Math.ceil(Math.ceil(sites / wanted) / TILE_K) * TILE_K);
  return { splits: Math.max(1, Math.ceil(sites / kPerSplit)), kPerSplit };
}

/**
 * Backward: dx by a gather-only GEMM through the transposed map; dW as the dense conv's split-K GEMM over
 * sites (partials + fixed-order reduce, or directly when one slice suffices); dBias as a column sum of dy.
 */
export function sparseConvBackward(gpu: Gpu, a: SparseConvBackwardArgs): PreparedSequence {
  const label = 'sparseConvBackward';
  const { maps, cin, cout } = a;
  checkConv(label, a, a.weight);
  const { taps, inputRows, outputRows } = maps.maps;
  expect(label, 'dy', a.dy, outputRows * cout);
  expect(label, 'x', a.x, inputRows * cin);
  expect(label, 'dWeight', a.dWeight, taps * cin * cout);
  if (a.dBias) expect(label, 'dBias', a.dBias, cout);
  if (isPointwise(maps.maps)) return pointwiseBackward(gpu, label, a);
  const parts: Encodable[] = [];
  const scratch: GpuTensor[] = [];
  if (a.dx) {
    expect(label, 'dx', a.dx, inputRows * cin);
    if (maps.maps.transposed.length === 0)
      throw new RangeError(
        `${label}: these neighbour maps were built without the transposed map, so no input gradient can be computed; build them with transposed: true or omit dx.`,
      );
    const tile = chooseTile(inputRows, cin);
    parts.push(
      prepareGemm(gpu, SPARSE_VEC4_SLOTS, {
        kernel: gemmOp(gpu, 'gemm', tile, vecFlags(cout, cin, true), true),
        buffers: [a.dx, a.dy, maps.transposed, a.weight, absentBinding(gpu)],
        params: SparseGemmParams.pack({
          rows: inputRows,
          depth: cout,
          cols: cin,
          taps,
          accumulate: !!a.accumulateDx,
        }),
        workgroups: gemmGrid(inputRows, cin, tile),
      }),
    );
  }
  const weightRows = taps * cin;
  const tile = chooseTile(weightRows, cout);
  const grid = [Math.ceil(weightRows / tile.tileM), Math.ceil(cout / tile.tileN)] as const;
  const { slices, rowsPerSlice } = chooseSlices(grid[0] * grid[1], outputRows);
  const kernel = gemmOp(gpu, 'grad_weight', tile, vecFlags(cin, cout));
  const uniforms = { rows: outputRows, depth: cin, cols: cout, taps, rowsPerSlice, slices };
  const buffers = (out: GpuTensor) => [out, a.x, maps.forward, a.dy, absentBinding(gpu)];
  if (slices === 1) {
    parts.push(
      prepareGemm(gpu, SPARSE_VEC4_SLOTS, {
        kernel,
        buffers: buffers(a.dWeight),
        params: SparseGemmParams.pack({ ...uniforms, accumulate: true }),
        workgroups: [grid[0], grid[1], 1],
      }),
    );
  } else {
    const partials = gpu.tensor(`${label}.partials`, [slices, weightRows * cout]);
    scratch.push(partials);
    parts.push(
      prepareGemm(gpu, SPARSE_VEC4_SLOTS, {
        kernel,
        buffers: buffers(partials),
        params: SparseGemmParams.pack(uniforms),
        workgroups: [grid[0], grid[1], slices],
      }),
      reduceSlices(gpu, a.dWeight, partials, weightRows * cout, slices, true),
    );
  }
  if (a.dBias)
    parts.push(
      columnSum(gpu, {
        label: `${label}.bias`,
        out: a.dBias,
        x: a.dy,
        rows: outputRows,
        cols: cout,
        accumulate: true,
      }),
    );
  return new PreparedSequence(label, parts, scratch, gpu);
}

/**
 * Where a depthwise conv finds its neighbours: the scale's grid index (`scale`, from
 * `SparsePyramid.gpuScale(side)` or `ModelSites.scale(side)`; 4 B per pixel per scale, instead of a neighbour map
 * of 4·k² B per row: 196 B for 7×7). Stride 1, padding (k − 1)/2.
 */
export interface SparseDepthwiseShape {
  channels: number;
  scale: GpuSiteScale;
  kernel: number;
  padding: number;
}

export type SparseDepthwiseForwardArgs = SparseDepthwiseShape & {
  y: GpuTensor;
  x: GpuTensor;
  /** [k, k, C] */
  weight: GpuTensor;
  bias?: GpuTensor;
};

export type SparseDepthwiseBackwardArgs = SparseDepthwiseShape & {
  dx?: GpuTensor;
  dy: GpuTensor;
  x: GpuTensor;
  weight: GpuTensor;
  dWeight: GpuTensor;
  dBias?: GpuTensor;
};

/**
 * The sparse depthwise conv: rows of one scale's sites on its [height, width] map; flip for the input
 * gradient (the kernel mirrored); the weight gradient splits the rows into `splits` slices of kPerSplit.
 */
const SparseDepthwiseParams = uniformStruct('SparseDepthwiseParams', {
  rows: 'u32',
  channels: 'u32',
  kernel: 'u32',
  padding: 'u32',
  height: 'u32',
  width: 'u32',
  flip: 'u32',
  hasBias: 'u32',
  kPerSplit: 'u32',
  splits: 'u32',
});

function depthwiseParams(
  a: SparseDepthwiseShape,
  flip: boolean,
  hasBias: boolean,
  split: { kPerSplit: number; splits: number } = { kPerSplit: 0, splits: 1 },
): Params {
  const { sites } = a.scale;
  return SparseDepthwiseParams.pack({
    rows: sites.rows,
    channels: a.channels,
    kernel: a.kernel,
    padding: a.padding,
    height: sites.height,
    width: sites.width,
    flip,
    hasBias,
    kPerSplit: split.kPerSplit,
    splits: split.splits,
  });
}

/** shaders/sparse_depthwise.wgsl: the forward (and, flipped, dX) and the weight-gradient partials. */
const SPARSE_DEPTHWISE_LAYOUTS = {
  depthwise: bindingLayout(
    'sparse_depthwise',
    {
      out: 'write', // [rows, C] y (or dx)
      src: 'read', // [rows, C] x (or dy)
      positions: 'read:u32', // [rows] packed (b, y, x) of each row
      gridIndex: 'read:i32', // [B, H, W] row of each pixel, −1 masked
      weight: 'read', // [k, k, C]
      bias: 'read', // [C], or the zeros buffer (has_bias 0)
    },
    { prefix: 'dw_' },
  ),
  depthwise_weight_grad_partial: bindingLayout(
    'sparse_depthwise.weight_grad',
    {
      partials: 'write', // [splits, k, k, C]
      x: 'read', // [rows, C]
      positions: 'read:u32',
      gridIndex: 'read:i32',
      dy: 'read', // [rows, C]
    },
    { prefix: 'wg_' },
  ),
};

const sparseDepthwiseModule = composeShader(
  SparseDepthwiseParams.wgsl,
  bindingDeclarations(...Object.values(SPARSE_DEPTHWISE_LAYOUTS)),
  gridSource,
  depthwiseFile,
);

function depthwiseKernel(gpu: Gpu, entryPoint: keyof typeof SPARSE_DEPTHWISE_LAYOUTS) {
  return gpu.kernel({
    label: `sparse_depthwise.${entryPoint}`,
    code: sparseDepthwiseModule,
    entryPoint,
    layout: SPARSE_DEPTHWISE_LAYOUTS[entryPoint],
  });
}

function checkDepthwise(label: string, a: SparseDepthwiseShape, weight: GpuTensor): void {
  if (!Number.isInteger(a.kernel) || a.kernel < 1 || !Number.isInteger(a.padding) || a.padding < 0)
    throw new RangeError(
      `${label}: kernel ${a.kernel} and padding ${a.padding} must be non-negative integers.`,
    );
  if (2 * a.padding !== a.kernel - 1)
    throw new RangeError(
      `${label}: a sparse depthwise conv keeps the site set, so it needs padding (k−1)/2; got k=${a.kernel}, p=${a.padding}.`,
    );
  expect(label, 'weight', weight, a.kernel * a.kernel * a.channels);
}

/** Depthwise forward (ConvNeXt 7×7/s1/p3): y[o, c] = bias[c] + Σ_t x[nbr(o, t), c] · W[t, c]. */
export function sparseDepthwiseForward(gpu: Gpu, a: SparseDepthwiseForwardArgs): PreparedDispatch {
  const label = 'sparseDepthwiseForward';
  checkDepthwise(label, a, a.weight);
  const n = a.scale.sites.rows * a.channels;
  expect(label, 'x', a.x, n);
  expect(label, 'y', a.y, n);
  if (a.bias) expect(label, 'bias', a.bias, a.channels);
  return gpu.prepare({
    kernel: depthwiseKernel(gpu, 'depthwise'),
    buffers: [a.y, a.x, a.scale.positions, a.scale.gridIndex, a.weight, a.bias ?? absentBinding(gpu)],
    params: depthwiseParams(a, false, !!a.bias),
    workgroups: grid1d(Math.ceil(n / 256)),
  });
}

/** Depthwise backward: dx through the flipped window (gather-only), dW/dBias by site-split partials + reduce. */
export function sparseDepthwiseBackward(gpu: Gpu, a: SparseDepthwiseBackwardArgs): PreparedSequence {
  const label = 'sparseDepthwiseBackward';
  checkDepthwise(label, a, a.weight);
  const rows = a.scale.sites.rows;
  const n = rows * a.channels;
  const taps = a.kernel * a.kernel;
  expect(label, 'dWeight', a.dWeight, taps * a.channels);
  expect(label, 'dy', a.dy, n);
  expect(label, 'x', a.x, n);
  if (a.dBias) expect(label, 'dBias', a.dBias, a.channels);
  const dispatches: PreparedDispatch[] = [];
  if (a.dx) {
    expect(label, 'dx', a.dx, n);
    dispatches.push(
      gpu.prepare({
        kernel: depthwiseKernel(gpu, 'depthwise'),
        buffers: [a.dx, a.dy, a.scale.positions, a.scale.gridIndex, a.weight, absentBinding(gpu)],
        params: depthwiseParams(a, true, false),
        workgroups: grid1d(Math.ceil(n / 256)),
      }),
    );
  }
  const weightRows = taps + (a.dBias ? 1 : 0);
  const groups = Math.ceil((weightRows * a.channels) / 256);
  // Each thread walks kPerSplit sites; ~512 workgroups in all keep a big GPU busy while partials stay small.
  const { splits, kPerSplit } = siteSplits(rows, groups, 512);
  const partials = gpu.tensor('sparse_dw.dw_partials', [splits, weightRows, a.channels]);
  dispatches.push(
    gpu.prepare({
      kernel: depthwiseKernel(gpu, 'depthwise_weight_grad_partial'),
      buffers: [partials, a.x, a.scale.positions, a.scale.gridIndex, a.dy],
      params: depthwiseParams(a, false, !!a.dBias, { kPerSplit, splits }),
      workgroups: [groups, splits],
    }),
  );
  // Split order sums of the partials [splits, weightRows, C]: the tap rows into dW, the bias row into dBias.
  const stride = { sliceStride: weightRows * a.channels };
  dispatches.push(reduceSlices(gpu, a.dWeight, partials, taps * a.channels, splits, true, stride));
  if (a.dBias)
    dispatches.push(
      reduceSlices(gpu, a.dBias, partials, a.channels, splits, true, { ...stride, first: taps * a.channels }),
    );
  return new PreparedSequence(label, dispatches, [partials], gpu);
}
