/**
 * The model's view of the active sites: per-scale grid indices and neighbour maps in GPU buffers made once per
 * (config, built batch) and rewritten in place for every new mask.
 *
 * A mask may keep any number of cells per image (1 to all, differing between images) and cover any batch
 * from 1 to the built one, so row counts change with the mask. Every buffer is therefore sized for the worst
 * case (the built batch with every cell visible) and handed out as a view of the current size. `update`
 * says whether the sizes changed: if not, layers keep their bind groups and only the contents change (queue
 * writes, ordered before the next submission); if so, the model rebuilds its dispatches over the same
 * buffers (src/models/spark.ts). Views handed out are cached until the sizes change, so every layer of one
 * build binds the same tensors.
 */
import type { Gpu, GpuTensor } from '../../gpu/runtime';
import type { CellMask } from '../../sparse/mask';
import {
  buildNeighbourMaps,
  buildSiteSet,
  type GpuNeighbourMaps,
  type GpuSiteScale,
  type NeighbourMaps,
  packPositions,
  type SiteSet,
  type WindowGeometry,
} from '../../sparse/sites';

interface MapEntry {
  inputSide: number;
  outputSide: number;
  geometry: WindowGeometry;
  maps: NeighbourMaps;
  /** Worst-case buffers. */
  forward: GpuTensor;
  transposed: GpuTensor | null;
}

/** Every pixel of a B×H×W map as a row, in NHWC (raster) order: the dense-zero encoder's "sites". */
export function rasterSiteSet(batch: number, side: number, height: number, width: number): SiteSet {
  const rows = batch * height * width;
  const gridIndex = new Int32Array(rows);
  const coords = new Int32Array(rows * 3);
  for (let i = 0; i < rows; i++) {
    gridIndex[i] = i;
    coords[i * 3] = Math.floor(i / (height * width));
    coords[i * 3 + 1] = Math.floor(i / width) % height;
    coords[i * 3 + 2] = i % width;
  }
  return { batch, side, height, width, rows, gridIndex, coords };
}

/** The first `length` elements of a worst-case buffer, shaped for the current mask. */
function prefix(t: GpuTensor, shape: readonly number[]): GpuTensor {
  const length = shape.reduce((a, b) => a * b, 1);
  if (length > t.length)
    throw new Error(`${t.label}: ${length} elements do not fit its ${t.length}-element buffer.`);
  return { buffer: t.buffer, offset: t.offset, shape: [...shape], length, label: t.label };
}

export class ModelSites {
  private mask: CellMask;
  /** The built batch: every buffer holds this many images with every cell visible. */
  readonly maxBatch: number;
  private readonly sets = new Map<number, SiteSet>();
  private readonly gridBuffers = new Map<number, GpuTensor>();
  private readonly positionBuffers = new Map<number, GpuTensor>();
  private readonly mapEntries = new Map<string, MapEntry>();
  private readonly cellBuffer: GpuTensor;
  private readonly owned: GpuTensor[] = [];
  /** Views of the current sizes, cached until `update` changes a size. */
  private readonly views = new Map<string, GpuTensor | GpuSiteScale | GpuNeighbourMaps>();
  private absentTransposed: GpuTensor | undefined;

  constructor(
    private readonly gpu: Gpu,
    /** The first mask; its batch is the largest this object will ever hold. */
    initial: CellMask,
    private readonly label: string,
    /**
     * Every pixel is a site, rows in NHWC order, whatever the mask: the same layers then compute the dense
     * zero-masked baseline (dense convs on the zero-filled image, BN over all positions).
     */
    readonly raster = false,
  ) {
    ModelSites.checkCells(initial);
    this.mask = initial;
    this.maxBatch = initial.batch;
    this.cellBuffer = this.track(
      gpu.tensor(`${label}.cells`, [initial.batch * initial.gridH * initial.gridW]),
    );
    gpu.write(this.cellBuffer, Uint32Array.from(initial.cells));
  }

  private track(t: GpuTensor): GpuTensor {
    this.owned.push(t);
    return t;
  }

  get current(): CellMask {
    return this.mask;
  }

  /** [B, g, g] u32 cell mask of the current batch (1 = visible): what the loss and the composite read. */
  get cells(): GpuTensor {
    return this.view('cells', () => prefix(this.cellBuffer, [this.mask.cells.length]));
  }

  private view<T extends GpuTensor | GpuSiteScale | GpuNeighbourMaps>(key: string, make: () => T): T {
    let v = this.views.get(key) as T | undefined;
    if (!v) {
      v = make();
      this.views.set(key, v);
    }
    return v;
  }

  /** Active sites where a mask cell is side×side (CPU). */
  set(side: number): SiteSet {
    let s = this.sets.get(side);
    if (!s) {
      const m = this.mask;
      s = this.raster ? rasterSiteSet(m.batch, side, m.gridH * side, m.gridW * side) : buildSiteSet(m, side);
      this.sets.set(side, s);
    }
    return s;
  }

  rows(side: number): number {
    return this.set(side).rows;
  }

  /** Pixels of the whole built batch at this scale: the worst-case row count and grid-index length. */
  private capacity(side: number): number {
    const m = this.mask;
    return this.maxBatch * m.gridH * side * m.gridW * side;
  }

  private gridBuffer(side: number): GpuTensor {
    let t = this.gridBuffers.get(side);
    if (!t) {
      t = this.track(this.gpu.tensor(`${this.label}.grid${side}`, [this.capacity(side)]));
      this.gpu.write(t, this.set(side).gridIndex);
      this.gridBuffers.set(side, t);
    }
    return t;
  }

  /** [B·H·W] i32 row index of each pixel at this scale, −1 where masked (densify, input gather). */
  gridIndex(side: number): GpuTensor {
    return this.view(`grid${side}`, () => prefix(this.gridBuffer(side), [this.set(side).gridIndex.length]));
  }

  /**
   * The scale's grid index and packed row positions on the GPU: what a stride-1 depthwise conv walks its window
   * through (4 B per pixel plus 4 B per row, instead of a k²-wide neighbour map per row).
   */
  scale(side: number): GpuSiteScale {
    return this.view(`scale${side}`, () => {
      let positions = this.positionBuffers.get(side);
      if (!positions) {
        positions = this.track(this.gpu.tensor(`${this.label}.positions${side}`, [this.capacity(side)]));
        this.gpu.write(positions, packPositions(this.set(side)));
        this.positionBuffers.set(side, positions);
      }
      const sites = this.set(side);
      return { sites, gridIndex: this.gridIndex(side), positions: prefix(positions, [sites.rows]) };
    });
  }

  /**
   * Neighbour maps of a window from the scale with `inputSide` to the one with `outputSide`. The transposed
   * map (input rows × taps, only read by an input-gradient pass) is uploaded only once some layer asks for
   * it: the stem, whose input is the image, does not, and at 224 px its transposed map would be the largest
   * index buffer of the model.
   */
  neighbours(
    inputSide: number,
    outputSide: number,
    geometry: WindowGeometry,
    options: { transposed?: boolean } = {},
  ): GpuNeighbourMaps {
    const needTransposed = options.transposed ?? true;
    const key = `${inputSide}>${outputSide}:${geometry.kernel}/${geometry.stride}/${geometry.padding}`;
    let entry = this.mapEntries.get(key);
    const taps = geometry.kernel * geometry.kernel;
    if (!entry) {
      const maps = buildNeighbourMaps(this.set(inputSide), this.set(outputSide), geometry);
      const forward = this.track(
        this.gpu.tensor(`${this.label}.nbr.${key}`, [this.capacity(outputSide) * taps]),
      );
      this.gpu.write(forward, maps.forward);
      entry = { inputSide, outputSide, geometry, maps, forward, transposed: null };
      this.mapEntries.set(key, entry);
    }
    if (needTransposed && !entry.transposed) {
      entry.transposed = this.track(
        this.gpu.tensor(`${this.label}.nbrT.${key}`, [this.capacity(inputSide) * taps]),
      );
      this.gpu.write(entry.transposed, entry.maps.transposed);
      this.views.delete(`nbr${key}`);
    }
    const found = entry;
    return this.view(`nbr${key}`, () => ({
      maps: found.maps,
      forward: prefix(found.forward, [found.maps.forward.length]),
      transposed: found.transposed
        ? prefix(found.transposed, [found.maps.transposed.length])
        : this.absentMap(),
    }));
  }

  /** One i32 bound where a transposed map nobody reads would go. */
  private absentMap(): GpuTensor {
    this.absentTransposed ??= this.track(this.gpu.upload(`${this.label}.nbrT.unused`, new Int32Array([-1])));
    return this.absentTransposed;
  }

  /** What decides every buffer size: the batch and, except for raster sites, the visible cells in all. */
  private static sizeKey(mask: CellMask, raster: boolean): string {
    if (raster) return `${mask.batch}`;
    let visible = 0;
    for (const v of mask.cells) visible += v;
    return `${mask.batch}:${visible}`;
  }

  private static checkCells(mask: CellMask): void {
    const perImage = mask.gridH * mask.gridW;
    if (mask.cells.length !== mask.batch * perImage)
      throw new RangeError(
        `The mask has ${mask.cells.length} cells; a batch of ${mask.batch} on a ${mask.gridH}×${mask.gridW} grid needs ${mask.batch * perImage}.`,
      );
    for (let b = 0; b < mask.batch; b++) {
      let visible = 0;
      for (let i = 0; i < perImage; i++) {
        const v = mask.cells[b * perImage + i];
        if (v !== 0 && v !== 1)
          throw new RangeError(`Mask cells must be 0 (masked) or 1 (visible), got ${v}.`);
        visible += v;
      }
      if (visible === 0)
        throw new RangeError(`Image ${b} of the mask has no visible cell; keep at least one.`);
    }
  }

  /**
   * Rewrites every index and map for a new mask: any batch from 1 to the built one on the same grid, any
   * number of visible cells per image (at least one). Returns true when row counts or the batch changed, so
   * dispatches prepared with the old sizes must be rebuilt (the buffers stay the same).
   */
  update(mask: CellMask): boolean {
    const old = this.mask;
    if (mask.gridH !== old.gridH || mask.gridW !== old.gridW)
      throw new RangeError(
        `The mask grid is ${mask.gridH}×${mask.gridW} cells, but the model was built for ${old.gridH}×${old.gridW}.`,
      );
    if (!Number.isInteger(mask.batch) || mask.batch < 1 || mask.batch > this.maxBatch)
      throw new RangeError(
        `The mask covers ${mask.batch} images; this model was built for batches of 1 to ${this.maxBatch}.`,
      );
    ModelSites.checkCells(mask);
    const resized = ModelSites.sizeKey(mask, this.raster) !== ModelSites.sizeKey(old, this.raster);
    this.mask = mask;
    this.gpu.write(this.cellBuffer, Uint32Array.from(mask.cells));
    this.sets.clear();
    if (resized) this.views.clear();
    if (this.raster && !resized) return false; // indices and maps depend on the batch only
    for (const [side, t] of this.gridBuffers) this.gpu.write(t, this.set(side).gridIndex);
    for (const [side, t] of this.positionBuffers) this.gpu.write(t, packPositions(this.set(side)));
    for (const entry of this.mapEntries.values()) {
      entry.maps = buildNeighbourMaps(this.set(entry.inputSide), this.set(entry.outputSide), entry.geometry);
      this.gpu.write(entry.forward, entry.maps.forward);
      if (entry.transposed) this.gpu.write(entry.transposed, entry.maps.transposed);
    }
    // Views of unchanged sizes stay bound; point their CPU-side descriptions at the new mask.
    for (const [key, v] of this.views) {
      if (key.startsWith('scale')) (v as GpuSiteScale).sites = this.set(Number(key.slice(5)));
      else if (key.startsWith('nbr')) {
        const entry = this.mapEntries.get(key.slice(3));
        if (entry) (v as GpuNeighbourMaps).maps = entry.maps;
      }
    }
    return resized;
  }

  release(): void {
    for (const t of this.owned) this.gpu.releaseTensor(t);
    this.owned.length = 0;
    this.views.clear();
  }
}
