/**
 * The model's view of the active sites: per-scale grid indices and neighbour maps whose GPU buffers are made
 * once per (config, batch) and rewritten in place for every new mask. This works because every image keeps
 * exactly len_keep cells, so the row count of every scale, and with it the size of every map, is fixed.
 * Layers bind these tensors once; `update(mask)` only changes their contents (queue writes, ordered before
 * the next submission).
 */
import type { Gpu, GpuTensor } from '../../gpu/runtime';
import type { CellMask } from '../../sparse/mask';
import {
  buildNeighbourMaps,
  buildSiteSet,
  type GpuNeighbourMaps,
  type GpuSiteScale,
  packPositions,
  type SiteSet,
  type WindowGeometry,
} from '../../sparse/sites';

interface MapEntry {
  hasTransposed: boolean;
  inputSide: number;
  outputSide: number;
  geometry: WindowGeometry;
  gpu: GpuNeighbourMaps;
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

export class ModelSites {
  private mask: CellMask;
  private readonly sets = new Map<number, SiteSet>();
  private readonly gridIndices = new Map<number, GpuTensor>();
  private readonly scales = new Map<number, GpuSiteScale>();
  private readonly maps = new Map<string, MapEntry>();
  private readonly owned: GpuTensor[] = [];
  /** [B, g, g] u32 cell mask (1 = visible): what the loss and the composite read. */
  readonly cells: GpuTensor;

  constructor(
    private readonly gpu: Gpu,
    initial: CellMask,
    private readonly label: string,
    /**
     * Every pixel is a site, rows in NHWC order, whatever the mask: the same layers then compute the dense
     * zero-masked baseline (dense convs on the zero-filled image, BN over all positions).
     */
    readonly raster = false,
  ) {
    this.mask = initial;
    this.cells = this.track(gpu.upload(`${label}.cells`, Uint32Array.from(initial.cells)));
  }

  private track(t: GpuTensor): GpuTensor {
    this.owned.push(t);
    return t;
  }

  get current(): CellMask {
    return this.mask;
  }

  /** Active sites where a mask cell is side×side (CPU). */
  set(side: number): SiteSet {
    let s = this.sets.get(side);
    if (!s) {
      const m = this.mask;
      s = this.raster
        ? rasterSiteSet(m.batch, side, m.gridH * side, m.gridW * side)
        : buildSiteSet(this.mask, side);
      this.sets.set(side, s);
    }
    return s;
  }

  rows(side: number): number {
    return this.set(side).rows;
  }

  /** [B·H·W] i32 row index of each pixel at this scale, −1 where masked (densify, input gather). */
  gridIndex(side: number): GpuTensor {
    let t = this.gridIndices.get(side);
    if (!t) {
      const s = this.set(side);
      t = this.track(this.gpu.upload(`${this.label}.grid${side}`, s.gridIndex, [s.gridIndex.length]));
      this.gridIndices.set(side, t);
    }
    return t;
  }

  /**
   * The scale's grid index and packed row positions on the GPU: what a stride-1 depthwise conv walks its window
   * through (4 B per pixel plus 4 B per row, instead of a k²-wide neighbour map per row).
   */
  scale(side: number): GpuSiteScale {
    let entry = this.scales.get(side);
    if (!entry) {
      const sites = this.set(side);
      entry = {
        sites,
        gridIndex: this.gridIndex(side),
        positions: this.track(this.gpu.upload(`${this.label}.positions${side}`, packPositions(sites))),
      };
      this.scales.set(side, entry);
    }
    return entry;
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
    let entry = this.maps.get(key);
    if (!entry) {
      const maps = buildNeighbourMaps(this.set(inputSide), this.set(outputSide), geometry);
      entry = {
        inputSide,
        outputSide,
        geometry,
        hasTransposed: false,
        gpu: {
          maps,
          forward: this.track(this.gpu.upload(`${this.label}.nbr.${key}`, maps.forward)),
          transposed: this.absentMap(),
        },
      };
      this.maps.set(key, entry);
    }
    if (needTransposed && !entry.hasTransposed) {
      entry.gpu.transposed = this.track(
        this.gpu.upload(`${this.label}.nbrT.${key}`, entry.gpu.maps.transposed),
      );
      entry.hasTransposed = true;
    }
    return entry.gpu;
  }

  private absentTransposed: GpuTensor | undefined;

  /** One i32 standing in for a transposed map nobody reads. */
  private absentMap(): GpuTensor {
    this.absentTransposed ??= this.track(this.gpu.upload(`${this.label}.nbrT.unused`, new Int32Array([-1])));
    return this.absentTransposed;
  }

  /** Rewrites every index and map for a new mask of the same batch, grid and visible-cell count. */
  update(mask: CellMask): void {
    const old = this.mask;
    if (mask.batch !== old.batch || mask.gridH !== old.gridH || mask.gridW !== old.gridW)
      throw new RangeError(
        `The mask is ${mask.batch}×${mask.gridH}×${mask.gridW} cells, but the model was built for ${old.batch}×${old.gridH}×${old.gridW}.`,
      );
    const perImage = old.gridH * old.gridW;
    let keep = 0;
    for (let i = 0; i < perImage; i++) keep += old.cells[i];
    for (let b = 0; b < mask.batch; b++) {
      let visible = 0;
      for (let i = 0; i < perImage; i++) visible += mask.cells[b * perImage + i];
      if (visible !== keep)
        throw new RangeError(
          `Image ${b} of the mask keeps ${visible} visible cells; this model's configuration keeps exactly ${keep} per image.`,
        );
    }
    this.mask = mask;
    this.gpu.write(this.cells, Uint32Array.from(mask.cells));
    if (this.raster) return; // indices and maps do not depend on the mask
    this.sets.clear();
    for (const [side, t] of this.gridIndices) this.gpu.write(t, this.set(side).gridIndex);
    for (const [side, entry] of this.scales) {
      entry.sites = this.set(side);
      this.gpu.write(entry.positions, packPositions(entry.sites));
    }
    for (const entry of this.maps.values()) {
      const maps = buildNeighbourMaps(this.set(entry.inputSide), this.set(entry.outputSide), entry.geometry);
      entry.gpu.maps = maps;
      this.gpu.write(entry.gpu.forward, maps.forward);
      if (entry.hasTransposed) this.gpu.write(entry.gpu.transposed, maps.transposed);
    }
  }

  release(): void {
    for (const t of this.owned) this.gpu.releaseTensor(t);
    this.owned.length = 0;
  }
}
