/**
 * Active-site indexing per scale (spark-spec §1.3, KERNELS §3.2). At a scale where each mask cell covers
 * side×side pixels, the active sites are the pixels of visible cells, stored as compacted rows in block-major
 * order (b, cell-y, cell-x, y-in-cell, x-in-cell), so a cell's sites are contiguous. The row count is
 * (visible cells in the whole batch)·side²: B·len_keep·side² for random masks, anything from B·side² to
 * B·g²·side² for hand-made ones.
 *
 * Neighbour maps are built on the CPU from the grid index (a few ms for a 224-px batch; `buildMs` records the
 * measured cost) once per mask and per (input scale, output scale, k, stride, padding), and shared by every
 * layer's forward and backward with that geometry.
 */
import type { Gpu, GpuTensor } from '../gpu/runtime';
import type { CellMask } from './mask';

/** The active sites of one scale. */
export interface SiteSet {
  batch: number;
  /** Pixels per cell side at this scale (r/s). */
  side: number;
  height: number;
  width: number;
  rows: number;
  /** [batch, height, width]: the row of each pixel, −1 where masked. */
  gridIndex: Int32Array;
  /** [rows, 3]: (b, y, x) of each row. */
  coords: Int32Array;
}

export function buildSiteSet(mask: CellMask, side: number): SiteSet {
  if (!Number.isInteger(side) || side < 1)
    throw new RangeError(`The cell side at a scale must be a positive integer of pixels, got ${side}.`);
  const { batch, gridH, gridW, cells } = mask;
  const height = gridH * side;
  const width = gridW * side;
  let visible = 0;
  for (const v of cells) visible += v;
  const rows = visible * side * side;
  const gridIndex = new Int32Array(batch * height * width).fill(-1);
  const coords = new Int32Array(rows * 3);
  let row = 0;
  for (let b = 0; b < batch; b++)
    for (let cy = 0; cy < gridH; cy++)
      for (let cx = 0; cx < gridW; cx++) {
        if (!cells[(b * gridH + cy) * gridW + cx]) continue;
        for (let iy = 0; iy < side; iy++)
          for (let ix = 0; ix < side; ix++) {
            const y = cy * side + iy;
            const x = cx * side + ix;
            gridIndex[(b * height + y) * width + x] = row;
            coords[row * 3] = b;
            coords[row * 3 + 1] = y;
            coords[row * 3 + 2] = x;
            row++;
          }
      }
  return { batch, side, height, width, rows, gridIndex, coords };
}

export interface WindowGeometry {
  kernel: number;
  stride: number;
  padding: number;
}

/** Map entries: a row index, or one of these for a missing neighbour (both read as 0 by convolutions). */
export const MASKED_NEIGHBOUR = -1;
/** Outside the image (padding): max-pool ignores it, unlike a masked neighbour whose 0 takes part. */
export const PADDING_NEIGHBOUR = -2;

export interface NeighbourMaps {
  geometry: WindowGeometry;
  taps: number;
  inputRows: number;
  outputRows: number;
  /** [outputRows, k·k]: input row read by each tap (row-major taps ky·k + kx), or a negative code. */
  forward: Int32Array;
  /**
   * [inputRows, k·k]: the output row that reads this input through tap t, or −1. Makes dX gather-only.
   * Empty when built with `transposed: false` (no dX possible then).
   */
  transposed: Int32Array;
  /** Measured CPU time to build both maps, in milliseconds. */
  buildMs: number;
}

/**
 * Maps for a k×k window with the given stride and padding from `input`'s sites to `output`'s sites.
 * The output scale must be the dense output size of that window on the input scale.
 */
export function buildNeighbourMaps(
  input: SiteSet,
  output: SiteSet,
  geometry: WindowGeometry,
  options: { transposed?: boolean } = {},
): NeighbourMaps {
  const t0 = performance.now();
  // A layer whose input needs no gradient (the stem reading the image) needs no transposed map; at the image
  // scale it is the largest map of all (49 entries per pixel for ResNet's 7×7 stem).
  const withTransposed = options.transposed ?? true;
  const { kernel: k, stride, padding } = geometry;
  if (input.batch !== output.batch)
    throw new RangeError(
      `The input and output site sets come from different batches (${input.batch} vs ${output.batch}).`,
    );
  const outH = Math.floor((input.height + 2 * padding - k) / stride) + 1;
  const outW = Math.floor((input.width + 2 * padding - k) / stride) + 1;
  if (outH !== output.height || outW !== output.width)
    throw new RangeError(
      `A ${k}×${k}/s${stride}/p${padding} window on ${input.height}×${input.width} gives ${outH}×${outW}, but the output scale is ${output.height}×${output.width}.`,
    );
  const taps = k * k;
  const forward = new Int32Array(output.rows * taps);
  const transposed = new Int32Array(withTransposed ? input.rows * taps : 0).fill(-1);
  for (let o = 0; o < output.rows; o++) {
    const b = output.coords[o * 3];
    const oy = output.coords[o * 3 + 1];
    const ox = output.coords[o * 3 + 2];
    for (let ky = 0; ky < k; ky++) {
      const y = oy * stride - padding + ky;
      for (let kx = 0; kx < k; kx++) {
        const x = ox * stride - padding + kx;
        const t = ky * k + kx;
        let row = PADDING_NEIGHBOUR;
        if (y >= 0 && y < input.height && x >= 0 && x < input.width)
          row = input.gridIndex[(b * input.height + y) * input.width + x];
        forward[o * taps + t] = row;
        // Each (input, tap) pair is read by at most one output: y = oy·s − p + ky fixes oy.
        if (row >= 0 && withTransposed) transposed[row * taps + t] = o;
      }
    }
  }
  return {
    geometry,
    taps,
    inputRows: input.rows,
    outputRows: output.rows,
    forward,
    transposed,
    buildMs: performance.now() - t0,
  };
}

/** Neighbour maps on the GPU. */
export interface GpuNeighbourMaps {
  maps: NeighbourMaps;
  forward: GpuTensor;
  transposed: GpuTensor;
}

/** A scale's sites on the GPU: the grid index and each row's packed position (b << 20 | y << 10 | x). */
export interface GpuSiteScale {
  sites: SiteSet;
  /** i32 [batch, height, width], −1 where masked. */
  gridIndex: GpuTensor;
  /** u32 [rows]. */
  positions: GpuTensor;
}

/** Row positions packed for the kernels that walk windows through the grid index. */
export function packPositions(sites: SiteSet): Uint32Array {
  if (sites.height > 1024 || sites.width > 1024 || sites.batch > 4096)
    throw new RangeError(
      `Sparse kernels address images up to 1024×1024 in batches up to 4096; got ${sites.batch}×${sites.height}×${sites.width}.`,
    );
  const out = new Uint32Array(sites.rows);
  for (let r = 0; r < sites.rows; r++)
    out[r] = ((sites.coords[r * 3] << 20) | (sites.coords[r * 3 + 1] << 10) | sites.coords[r * 3 + 2]) >>> 0;
  return out;
}

/**
 * Every scale of one mask and the neighbour maps between them, built lazily and cached by geometry:
 * the `SparseScale`-like object that layers share for forward and backward. `release()` frees the GPU side.
 */
export class SparsePyramid {
  private readonly scales = new Map<number, SiteSet>();
  private readonly maps = new Map<string, GpuNeighbourMaps>();
  private readonly gpuScales = new Map<number, GpuSiteScale>();

  constructor(
    private readonly gpu: Gpu,
    readonly mask: CellMask,
  ) {}

  /** The site set where a cell is side×side pixels. */
  scale(side: number): SiteSet {
    let set = this.scales.get(side);
    if (!set) {
      set = buildSiteSet(this.mask, side);
      this.scales.set(side, set);
    }
    return set;
  }

  /** The scale's grid index and row positions on the GPU (for depthwise windows, which need no map). */
  gpuScale(side: number): GpuSiteScale {
    let entry = this.gpuScales.get(side);
    if (!entry) {
      const sites = this.scale(side);
      entry = {
        sites,
        gridIndex: this.gpu.upload(`grid.${side}`, sites.gridIndex, [sites.batch, sites.height, sites.width]),
        positions: this.gpu.upload(`positions.${side}`, packPositions(sites), [sites.rows]),
      };
      this.gpuScales.set(side, entry);
    }
    return entry;
  }

  /** Maps for a window from the scale with `inputSide` to the one with `outputSide` (= inputSide/stride). */
  neighbours(
    inputSide: number,
    outputSide: number,
    geometry: WindowGeometry,
    options: { transposed?: boolean } = {},
  ): GpuNeighbourMaps {
    const transposed = options.transposed ?? true;
    const key = `${inputSide}>${outputSide}:${geometry.kernel}/${geometry.stride}/${geometry.padding}${transposed ? '' : ':noT'}`;
    let entry = this.maps.get(key);
    if (!entry) {
      const maps = buildNeighbourMaps(this.scale(inputSide), this.scale(outputSide), geometry, {
        transposed,
      });
      entry = {
        maps,
        forward: this.gpu.upload(`nbr.${key}`, maps.forward, [maps.outputRows, maps.taps]),
        transposed: this.gpu.upload(
          `nbrT.${key}`,
          maps.transposed,
          transposed ? [maps.inputRows, maps.taps] : [0],
        ),
      };
      this.maps.set(key, entry);
    }
    return entry;
  }

  /** Total measured CPU milliseconds spent building maps so far. */
  get buildMs(): number {
    let ms = 0;
    for (const e of this.maps.values()) ms += e.maps.buildMs;
    return ms;
  }

  release(): void {
    for (const e of this.maps.values()) {
      this.gpu.releaseTensor(e.forward);
      this.gpu.releaseTensor(e.transposed);
    }
    this.maps.clear();
    for (const e of this.gpuScales.values()) {
      this.gpu.releaseTensor(e.gridIndex);
      this.gpu.releaseTensor(e.positions);
    }
    this.gpuScales.clear();
  }
}

/** Gathers NHWC dense data [B, H, W, C] at a scale's sites into rows [N_active, C]. */
export function gatherRows(dense: ArrayLike<number>, sites: SiteSet, channels: number): Float32Array {
  const out = new Float32Array(sites.rows * channels);
  for (let r = 0; r < sites.rows; r++) {
    const b = sites.coords[r * 3];
    const y = sites.coords[r * 3 + 1];
    const x = sites.coords[r * 3 + 2];
    const base = ((b * sites.height + y) * sites.width + x) * channels;
    for (let c = 0; c < channels; c++) out[r * channels + c] = dense[base + c];
  }
  return out;
}

/** Scatters rows back to NHWC dense [B, H, W, C], zeros at masked sites. */
export function scatterRows(rows: ArrayLike<number>, sites: SiteSet, channels: number): Float32Array {
  const out = new Float32Array(sites.batch * sites.height * sites.width * channels);
  for (let r = 0; r < sites.rows; r++) {
    const b = sites.coords[r * 3];
    const y = sites.coords[r * 3 + 1];
    const x = sites.coords[r * 3 + 2];
    const base = ((b * sites.height + y) * sites.width + x) * channels;
    for (let c = 0; c < channels; c++) out[base + c] = rows[r * channels + c];
  }
  return out;
}
