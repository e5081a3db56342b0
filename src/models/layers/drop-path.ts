/**
 * The drop-path layer and the hook the encoder builders call on every residual branch (../drop-path.ts
 * says what drop path is). Train forward: branch · factor of its image; eval forward: the same kernel with
 * every factor 1 (evaluation never drops); backward: dy · the train factors. Nothing is saved: the factors
 * live in a buffer the model rewrites for every step (`SparkGpuModel.setDropPath`).
 */
import { dropPathBackward, dropPathForward, type RowImages } from '../../engine/dropPath';
import type { GpuTensor } from '../../gpu/runtime';
import type { Act, Encodable, Layer, Net } from './graph';
import type { ModelSites } from './sites';

/** What the model owns for drop path: the factors of every block for the built batch, and a row of 1s. */
export interface DropPathBuffers {
  /** Rate per residual block, forward order. */
  rates: readonly number[];
  /** [blocks × stride] f32 factors, block-major. */
  factors: GpuTensor;
  /** [stride] f32 ones: the eval forward. */
  ones: GpuTensor;
  /** Images per block in `factors` (the built batch). */
  stride: number;
}

/** Called by the encoder builders with each residual branch, in forward order; returns what to add. */
export type ResidualBranchHook = (name: string, branch: Act) => Act;

export class DropPath implements Layer {
  readonly train: Encodable[];
  readonly eval: Encodable[];
  readonly out: Act;
  readonly paramNames: string[] = [];
  private readonly common: {
    rows: number;
    channels: number;
    scales: GpuTensor;
    scaleOffset: number;
    images: number;
    rowImages: RowImages;
  };

  constructor(
    private readonly net: Net,
    readonly name: string,
    private readonly x: Act,
    sites: ModelSites,
    buffers: DropPathBuffers,
    block: number,
  ) {
    const layout = x.layout;
    const images = sites.current.batch;
    const rows = layout.kind === 'sparse' ? layout.rows : layout.batch * layout.height * layout.width;
    const rowImages: RowImages =
      layout.kind === 'sparse'
        ? { positions: sites.scale(layout.side).positions }
        : { rowsPerImage: layout.height * layout.width };
    this.out = net.act(name, layout);
    this.common = {
      rows,
      channels: layout.channels,
      scales: buffers.factors,
      scaleOffset: block * buffers.stride,
      images,
      rowImages,
    };
    this.train = [net.own(dropPathForward(net.gpu, { ...this.common, out: this.out.value, x: x.value }))];
    this.eval = [
      net.own(
        dropPathForward(net.gpu, {
          ...this.common,
          scales: buffers.ones,
          scaleOffset: 0,
          out: this.out.value,
          x: x.value,
        }),
      ),
    ];
  }

  buildBackward(): Encodable[] {
    const ops: Encodable[] = [];
    const dy = this.out.gradient(ops);
    if (!dy) return [];
    ops.push(
      this.net.own(dropPathBackward(this.net.gpu, { ...this.common, dx: this.x.gradTarget(this.name), dy })),
    );
    return ops;
  }
}

/**
 * The hook for one build of an encoder: numbers the residual branches in the order the builder meets them
 * (the order of `rates`) and adds a DropPath layer where the block's rate is above 0.
 */
export function dropPathHook(net: Net, sites: ModelSites, buffers: DropPathBuffers): ResidualBranchHook {
  let block = 0;
  return (name, branch) => {
    const k = block++;
    if (k >= buffers.rates.length)
      throw new Error(
        `${name}: the encoder has more residual blocks than the ${buffers.rates.length} counted.`,
      );
    if (buffers.rates[k] <= 0) return branch;
    return net.add(new DropPath(net, name, branch, sites, buffers, k)).out;
  };
}
