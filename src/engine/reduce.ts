/**
 * Reductions on the GPU (shaders/reduce.wgsl), all deterministic (partials + fixed-order passes, no atomics)
 * and free of read-backs: results land in GPU tensors for the next kernel (optimiser, loss, logging).
 *
 *   sum(gpu, { out, x, squares? })                   out[0] = Σx or Σx²
 *   columnSum(gpu, { out, x, rows, cols, accumulate?, mask? })  out[c] (= or +=) Σ_r x[r, c] (× cell mask)
 *   segmentSumSquares(gpu, { out, x, segments })     out[s] = Σx² over segment s; out[S] = Σ_s; out[S+1] = √
 */
import gridSource from '../../shaders/lib/grid.wgsl?raw';
import reduceLibSource from '../../shaders/lib/reduce.wgsl?raw';
import reduceFile from '../../shaders/reduce.wgsl?raw';
import {
  bindingLayout,
  type Gpu,
  type GpuTensor,
  grid1d,
  type Params,
  type PreparedDispatch,
  PreparedSequence,
} from '../gpu/runtime';
import { composeShader, uniformStruct } from '../gpu/shader';
import type { GpuCellMask } from './cell-mask';
import type { Arena } from './params';

/**
 * n elements (or rows), cols columns, rows per column block, count partials (or segments / chunks); the
 * mask fields place a row of a column sum in its [B, height, width] map and its cell (1 when unmasked).
 */
const ReduceParams = uniformStruct(
  'ReduceParams',
  {
    n: 'u32',
    cols: 'u32',
    rowsPerBlock: 'u32',
    count: 'u32',
    accumulate: 'u32',
    height: 'u32',
    width: 'u32',
    gridH: 'u32',
    gridW: 'u32',
    cellH: 'u32',
    cellW: 'u32',
  },
  { height: 1, width: 1, gridH: 1, gridW: 1, cellH: 1, cellW: 1 },
);

/** reduce.wgsl composed with its uniforms and the grid indexing and workgroup reduction libraries. */
const reduceSource = composeShader(ReduceParams.wgsl, gridSource, reduceLibSource, reduceFile);

function sequence(
  label: string,
  dispatches: PreparedDispatch[],
  scratch: GpuTensor[],
  gpu: Gpu,
): PreparedSequence {
  return new PreparedSequence(label, dispatches, scratch, gpu);
}

/** Sums and their fixed-order second passes: partials or totals from one input. */
const SumLayout = bindingLayout('reduce.sum', {
  dst: 'write', // partials or totals
  x: 'read', // the values (or the partials of the first pass)
});
const ColumnLayout = bindingLayout('reduce.column_partials', {
  dst: 'write', // [blocks, cols] column sums per row block (or the totals)
  x: 'read', // [rows, cols]
  rowMask: 'read', // the cell mask (MASK_MODE 1/2), or the zeros buffer (MASK_MODE 0)
});
const ChunkLayout = bindingLayout('reduce.chunk_sum_squares', {
  dst: 'write', // [chunks] Σx² per chunk
  x: 'read', // the buffer holding every segment
  chunks: 'read', // [chunks] vec2 u32 (start, end)
});
const SegmentLayout = bindingLayout('reduce.segment_totals', {
  dst: 'write', // [segments (+2)] Σx² per segment
  partials: 'read', // [chunks]
  firsts: 'read', // [segments + 1] u32 first chunk of each segment
});
const TotalLayout = bindingLayout('reduce.global_total', {
  totals: 'write', // [segments + 2]: reads the segments, writes Σ and √Σ after them
});

const LAYOUTS = {
  partial_sum: SumLayout,
  partial_sum_squares: SumLayout,
  final_sum: SumLayout,
  column_final: SumLayout,
  column_partials: ColumnLayout,
  chunk_sum_squares: ChunkLayout,
  segment_totals: SegmentLayout,
  global_total: TotalLayout,
};

function kernel(gpu: Gpu, entryPoint: keyof typeof LAYOUTS) {
  return gpu.kernel({
    label: `reduce.${entryPoint}`,
    code: reduceSource,
    entryPoint,
    layout: LAYOUTS[entryPoint],
  });
}

/** Rows of a column sum read as pixels of a [B, height, width] map weighted by a cell mask. */
export interface RowCellMask extends GpuCellMask {
  height: number;
  width: number;
}

function params(
  n: number,
  cols: number,
  rowsPerBlock: number,
  count: number,
  accumulate: boolean,
  mask?: RowCellMask,
): Params {
  const { height, width, gridH, gridW, cellH, cellW } = mask ?? {};
  return ReduceParams.pack({
    n,
    cols,
    rowsPerBlock,
    count,
    accumulate,
    height,
    width,
    gridH,
    gridW,
    cellH,
    cellW,
  });
}

const THREADS = 256;
/** Elements per workgroup in the first pass of `sum` (16 per thread) before partial counts are capped. */
const SUM_ELEMENTS_PER_WORKGROUP = 4096;
/** At most this many partials, so the final single-workgroup pass stays short. */
const SUM_MAX_PARTIALS = 1024;

/** out[0] = Σ x (or Σ x² with `squares`), in one or two dispatches. */
export function sum(
  gpu: Gpu,
  options: { out: GpuTensor; x: GpuTensor; squares?: boolean },
): PreparedSequence {
  const { out, x, squares = false } = options;
  if (out.length < 1) throw new RangeError(`reduce.sum: ${out.label} must hold at least one element.`);
  const n = x.length;
  const partialCount = Math.max(1, Math.min(SUM_MAX_PARTIALS, Math.ceil(n / SUM_ELEMENTS_PER_WORKGROUP)));
  const first = kernel(gpu, squares ? 'partial_sum_squares' : 'partial_sum');
  if (partialCount === 1) {
    const only = gpu.prepare({
      kernel: first,
      buffers: [out, x],
      params: params(n, 0, 0, 0, false),
      workgroups: [1],
    });
    return sequence('reduce.sum', [only], [], gpu);
  }
  const partials = gpu.tensor('reduce.sum.partials', [partialCount]);
  const dispatches = [
    gpu.prepare({
      kernel: first,
      buffers: [partials, x],
      params: params(n, 0, 0, 0, false),
      workgroups: [partialCount],
    }),
    gpu.prepare({
      kernel: kernel(gpu, 'final_sum'),
      buffers: [out, partials],
      params: params(partialCount, 0, 0, 0, false),
      workgroups: [1],
    }),
  ];
  return sequence('reduce.sum', dispatches, [partials], gpu);
}

/** Rows per block in `columnSum`'s first pass: long enough to amortise the workgroup, few enough blocks. */
const COLUMN_MIN_ROWS_PER_BLOCK = 64;
const COLUMN_MAX_BLOCKS = 256;

/**
 * out[c] (= or +=) Σ_r x[r, c] for row-major x[rows, cols]: the bias gradient of a linear/conv layer; with a
 * cell mask, row r (pixel (b, y, x) of a [B, height, width] map) is weighted by its cell's mask value (the
 * dense masked conv's bias gradient). Rows are split into blocks reduced in parallel, then added in order.
 */
export function columnSum(
  gpu: Gpu,
  options: {
    out: GpuTensor;
    x: GpuTensor;
    rows: number;
    cols: number;
    accumulate?: boolean;
    mask?: RowCellMask;
    label?: string;
  },
): PreparedSequence {
  const { out, x, rows, cols, accumulate = false, mask, label = 'reduce.columnSum' } = options;
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(cols) || cols < 1)
    throw new RangeError(`reduce.columnSum: rows and cols must be positive integers, got ${rows} × ${cols}.`);
  if (x.length < rows * cols)
    throw new RangeError(
      `reduce.columnSum: ${x.label} has ${x.length} elements, fewer than ${rows} × ${cols}.`,
    );
  if (out.length < cols)
    throw new RangeError(
      `reduce.columnSum: ${out.label} has ${out.length} elements, fewer than ${cols} columns.`,
    );
  const blocks = Math.min(COLUMN_MAX_BLOCKS, Math.ceil(rows / COLUMN_MIN_ROWS_PER_BLOCK));
  const rowsPerBlock = Math.ceil(rows / blocks);
  const columnGroups = Math.ceil(cols / 64);
  if (mask && mask.height * mask.width * Math.floor(rows / (mask.height * mask.width)) !== rows)
    throw new RangeError(
      `reduce.columnSum: ${rows} rows are not whole ${mask.height}×${mask.width} maps, so the cell mask cannot be applied.`,
    );
  const firstKernel = gpu.kernel({
    label: 'reduce.column_partials',
    code: reduceSource,
    entryPoint: 'column_partials',
    layout: ColumnLayout,
    constants: { MASK_MODE: mask ? (mask.kind === 'u32' ? 1 : 2) : 0 },
  });
  // Without a mask (MASK_MODE 0) the mask binding is never read: the shared zeros buffer stands in.
  const rowMask = mask?.tensor ?? gpu.absentInput;
  if (blocks === 1) {
    const only = gpu.prepare({
      kernel: firstKernel,
      buffers: [out, x, rowMask],
      params: params(rows, cols, rowsPerBlock, 1, accumulate, mask),
      workgroups: [columnGroups, 1],
    });
    return sequence(label, [only], [], gpu);
  }
  const partials = gpu.tensor(`${label}.partials`, [blocks, cols]);
  const dispatches = [
    gpu.prepare({
      kernel: firstKernel,
      buffers: [partials, x, rowMask],
      params: params(rows, cols, rowsPerBlock, blocks, false, mask),
      workgroups: [columnGroups, blocks],
    }),
    gpu.prepare({
      kernel: kernel(gpu, 'column_final'),
      buffers: [out, partials],
      params: params(rows, cols, rowsPerBlock, blocks, accumulate),
      workgroups: grid1d(Math.ceil(cols / THREADS)),
    }),
  ];
  return sequence(label, dispatches, [partials], gpu);
}

/** A tensor inside a larger buffer, in floats from the start of the bound tensor. */
export interface Segment {
  offset: number;
  length: number;
}

/** The segments of an arena's entries (offsets in floats), for `segmentSumSquares` over `arena.whole()`. */
export function arenaSegments(arena: Arena): Segment[] {
  return arena.entries.map((e) => ({ offset: e.offset, length: e.length }));
}

/** Elements per workgroup of the first pass (16 per thread); long tensors get several chunks. */
export const SEGMENT_CHUNK = 4096;

/**
 * Per-segment and global sums of squares over one buffer holding many tensors (an arena's gradients), in
 * three dispatches whatever the number of segments, with no read-back:
 * out[s] = Σx² of segment s, out[S] = Σ over all segments, out[S + 1] = its square root (the global L2 norm).
 * `out` needs S + 2 elements. The chunk tables are built and uploaded once here.
 */
export function segmentSumSquares(
  gpu: Gpu,
  options: { out: GpuTensor; x: GpuTensor; segments: readonly Segment[] },
): PreparedSequence {
  const { out, x, segments } = options;
  const S = segments.length;
  if (S < 1) throw new RangeError('reduce.segmentSumSquares: give at least one segment.');
  if (out.length < S + 2)
    throw new RangeError(
      `reduce.segmentSumSquares: ${out.label} has ${out.length} elements; ${S} segments need ${S + 2} (per segment, total, norm).`,
    );
  const ranges: number[] = [];
  const firsts = new Uint32Array(S + 1);
  segments.forEach((segment, s) => {
    const { offset, length } = segment;
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0)
      throw new RangeError(
        `reduce.segmentSumSquares: segment ${s} has offset ${offset} and length ${length}.`,
      );
    if (offset + length > x.length)
      throw new RangeError(
        `reduce.segmentSumSquares: segment ${s} ends at ${offset + length}, past the ${x.length} elements of ${x.label}.`,
      );
    firsts[s] = ranges.length / 2;
    for (let start = offset; start < offset + length; start += SEGMENT_CHUNK) {
      ranges.push(start, Math.min(offset + length, start + SEGMENT_CHUNK));
    }
  });
  const chunkCount = ranges.length / 2;
  firsts[S] = chunkCount;
  const chunkTable = gpu.upload('reduce.segments.chunks', new Uint32Array(ranges.length ? ranges : [0, 0]));
  const firstTable = gpu.upload('reduce.segments.firsts', firsts);
  const partials = gpu.tensor('reduce.segments.partials', [Math.max(1, chunkCount)]);
  const dispatches = [
    gpu.prepare({
      kernel: kernel(gpu, 'chunk_sum_squares'),
      buffers: [partials, x, chunkTable],
      params: params(0, 0, 0, chunkCount, false),
      workgroups: grid1d(chunkCount),
    }),
    gpu.prepare({
      kernel: kernel(gpu, 'segment_totals'),
      buffers: [out, partials, firstTable],
      params: params(0, 0, 0, S, false),
      workgroups: grid1d(Math.ceil(S / THREADS)),
    }),
    gpu.prepare({
      kernel: kernel(gpu, 'global_total'),
      buffers: [out],
      params: params(0, 0, 0, S, false),
      workgroups: [1],
    }),
  ];
  return sequence('reduce.segmentSumSquares', dispatches, [chunkTable, firstTable, partials], gpu);
}
