/**
 * The dense-masked encoder's view of the mask (config.encoder = 'dense-masked'): the official SparK
 * computation, dense NHWC activations on the full grid, each re-masked after its layer. It needs, per
 * resolution, the cell mask as a conv epilogue (every conv's output × mask, and the same factor on dy in its
 * backward) and the mask expanded to one 0/1 float per pixel (BatchNorm statistics over visible positions
 * only, masked rows 0). Layers whose masked outputs are not already 0 (max-pool, LayerNorm) are followed by a
 * Remask layer.
 *
 * Why every conv is masked, the ConvNeXt Linear layers included (the official code leaves nn.Linear alone and
 * re-masks once after layer-scale γ): a 1×1 conv reads only its own pixel, so masking its output changes
 * nothing at visible sites, and the official final re-mask gives zero gradient to every masked output of the
 * Linear/GELU/Linear/γ chain, which is exactly what masking each of them gives. The numbers at visible sites
 * and every gradient are the same; the masked sites are 0 one layer earlier.
 */
import type { GpuCellMask } from '../../engine/cell-mask';
import type { Gpu, GpuTensor } from '../../gpu/runtime';
import { expandMask } from '../../sparse/mask';
import { remask } from '../../sparse/remask';
import type { Act, DenseLayout, Encodable, Layer, Net } from './graph';
import type { ModelSites } from './sites';

export class DenseMasking {
  /** Per-pixel 0/1 floats per cell side, sized for the built batch with every cell visible. */
  private readonly rowMasks = new Map<number, GpuTensor>();

  constructor(
    private readonly gpu: Gpu,
    /** The mask's sites (not raster): their `cells` buffer and current mask are what is re-masked by. */
    readonly sites: ModelSites,
    private readonly label: string,
  ) {}

  private side(height: number): number {
    const side = height / this.sites.current.gridH;
    if (!Number.isInteger(side) || side < 1)
      throw new Error(
        `A ${height}-pixel map does not split into the mask's ${this.sites.current.gridH} cells.`,
      );
    return side;
  }

  /** The conv epilogue for an output map of this height. */
  cellMask(height: number): GpuCellMask {
    const side = this.side(height);
    const m = this.sites.current;
    return {
      tensor: this.sites.cells,
      kind: 'u32',
      gridH: m.gridH,
      gridW: m.gridW,
      cellH: side,
      cellW: side,
    };
  }

  /** [batch·height·width] 0/1 floats of the current mask at this resolution (BatchNorm's row mask). */
  rowMask(height: number): GpuTensor {
    const side = this.side(height);
    const m = this.sites.current;
    let t = this.rowMasks.get(side);
    if (!t) {
      const capacity = this.sites.maxBatch * m.gridH * side * m.gridW * side;
      t = this.gpu.tensor(`${this.label}.rowmask${side}`, [capacity]);
      this.gpu.write(t, expandMask(m, side));
      this.rowMasks.set(side, t);
    }
    const length = m.batch * m.gridH * side * m.gridW * side;
    return { buffer: t.buffer, offset: t.offset, shape: [length], length, label: t.label };
  }

  /** Rewrites every row mask for the sites' current mask (after ModelSites.update). */
  update(): void {
    for (const [side, t] of this.rowMasks) this.gpu.write(t, expandMask(this.sites.current, side));
  }

  release(): void {
    for (const t of this.rowMasks.values()) this.gpu.releaseTensor(t);
    this.rowMasks.clear();
  }
}

/** out = x · mask on a dense map (SparseMaxPooling's and SparseConvNeXtLayerNorm's zeros); dx = dy · mask. */
export class Remask implements Layer {
  readonly train: Encodable[];
  readonly eval: Encodable[];
  readonly out: Act;
  readonly paramNames: string[] = [];
  private readonly shape: DenseLayout & { gridH: number; gridW: number };

  constructor(
    private readonly net: Net,
    readonly name: string,
    private readonly x: Act,
    private readonly masking: DenseMasking,
  ) {
    if (x.layout.kind !== 'dense') throw new Error(`${name}: re-masking needs a dense NHWC input.`);
    const m = masking.sites.current;
    this.shape = { ...x.layout, gridH: m.gridH, gridW: m.gridW };
    this.out = net.act(name, x.layout);
    const forward = net.own(remask(net.gpu, this.shape, this.out.value, x.value, masking.sites.cells));
    this.train = [forward];
    this.eval = [forward];
  }

  buildBackward(): Encodable[] {
    const ops: Encodable[] = [];
    const dy = this.out.gradient(ops);
    if (!dy) return [];
    const dx = this.x.gradTarget(this.name);
    ops.push(this.net.own(remask(this.net.gpu, this.shape, dx, dy, this.masking.sites.cells)));
    return ops;
  }
}

/** `x` re-masked when the encoder is dense-masked and `x` is dense; `x` itself otherwise. */
export function remasked(net: Net, name: string, x: Act, masking?: DenseMasking | null): Act {
  if (!masking || x.layout.kind !== 'dense') return x;
  return net.add(new Remask(net, name, x, masking)).out;
}
