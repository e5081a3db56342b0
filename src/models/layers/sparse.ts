/**
 * Layers on compacted sparse rows [N_active, C] (and, for BatchNorm and the elementwise ones, on any
 * activation: dense NHWC is rows too, R = N·H·W). Each class prepares its dispatches once; what it keeps for
 * the backward is said next to it.
 */
import { binaryForward, type UnaryOp, unaryBackward, unaryForward } from '../../engine/eltwise';
import { layerNormBackward, layerNormForward } from '../../engine/layernorm';
import { layerScaleBackward } from '../../engine/layerScale';
import {
  sparseConvBackward,
  sparseConvForward,
  sparseDepthwiseBackward,
  sparseDepthwiseForward,
} from '../../engine/sparseConv';
import { sparseMaxPoolBackward, sparseMaxPoolForward } from '../../engine/sparsePool';
import type { GpuTensor } from '../../gpu/runtime';
import type { GpuNeighbourMaps, GpuSiteScale } from '../../sparse/sites';
import { DenseConv } from './dense';
import { FusedBatchNorm } from './fused';
import type { Act, ActLayout, Encodable, Layer, Net, SparseLayout } from './graph';
import type { DenseMasking } from './masked';
import type { ModelSites } from './sites';

function rowsOf(layout: ActLayout): number {
  return layout.kind === 'sparse' ? layout.rows : layout.batch * layout.height * layout.width;
}

function withChannels(layout: ActLayout, channels: number): ActLayout {
  return { ...layout, channels };
}

/**
 * What both row norms' backwards take: the input and its gradient target, γ (`name.weight`), the statistics
 * saved by the forward, and the gradients of γ and β (`name.bias`).
 */
function normBackwardOperands(net: Net, name: string, x: Act, rows: number, saved: GpuTensor, dy: GpuTensor) {
  return {
    rows,
    channels: x.channels,
    dx: x.gradTarget(name),
    dy,
    x: x.value,
    gamma: net.param(`${name}.weight`),
    saved,
    dGamma: net.grad(`${name}.weight`),
    dBeta: net.grad(`${name}.bias`),
  };
}

export interface SparseConvOptions {
  /** Official parameter names (weight in GPU layout HWIO, [k, k, C] for depthwise). */
  weight: string;
  bias?: string;
  outChannels: number;
  kernel: number;
  stride: number;
  padding: number;
  /** groups = C: ConvNeXt's 7×7 dwconv, and layer-scale γ as a 1×1 depthwise conv without bias. */
  depthwise?: boolean;
  /** The input is the image: no input gradient is needed. */
  noInputGrad?: boolean;
  /**
   * Layer-scale γ (its parameter name) as this pointwise conv's epilogue: y = γ · (conv + bias), with γ's
   * backward folded into this layer's (src/engine/layerScale.ts) instead of a 1×1 depthwise conv after it.
   */
  layerScale?: string;
}

/**
 * SparseConv2d on rows (gathered: masked neighbours read 0, outputs only at active sites). The ConvNeXt
 * pointwise Linear layers are 1×1 convs with the [in, out] weight; layer-scale γ is a 1×1 depthwise conv.
 * Saved for backward: its input rows (the input activation itself, not copied).
 */
export class SparseConv implements Layer {
  readonly train: Encodable[];
  readonly eval: Encodable[];
  readonly out: Act;
  readonly paramNames: string[];

  constructor(
    private readonly net: Net,
    readonly name: string,
    private readonly x: Act,
    sites: ModelSites,
    private readonly o: SparseConvOptions,
  ) {
    const input = x.layout as SparseLayout;
    if (input.kind !== 'sparse') throw new Error(`${name}: a sparse conv needs sparse rows as input.`);
    if (input.side % o.stride !== 0)
      throw new Error(`${name}: stride ${o.stride} does not divide the cell side ${input.side}.`);
    const side = input.side / o.stride;
    if (o.depthwise) {
      if (o.outChannels !== input.channels)
        throw new Error(`${name}: a depthwise conv keeps the channel count.`);
      if (o.stride !== 1 || 2 * o.padding !== o.kernel - 1)
        throw new Error(`${name}: a sparse depthwise conv keeps the site set (stride 1, padding (k−1)/2).`);
      // Depthwise windows walk the scale's grid index: no k²-wide neighbour map (196 B per row for 7×7).
      this.where = { scale: sites.scale(side), kernel: o.kernel, padding: o.padding };
    } else {
      // The transposed map is only read by the input gradient; the stem (the image) needs none.
      this.where = {
        maps: sites.neighbours(
          input.side,
          side,
          { kernel: o.kernel, stride: o.stride, padding: o.padding },
          { transposed: !o.noInputGrad },
        ),
      };
    }
    this.out = net.act(name, { kind: 'sparse', side, rows: sites.rows(side), channels: o.outChannels });
    const weight = net.param(o.weight);
    const bias = o.bias ? net.param(o.bias) : undefined;
    if (o.layerScale) {
      if (!this.where.maps)
        throw new Error(`${name}: layer scale is an epilogue of a pointwise conv, not a depthwise one.`);
      this.preScale = net.tensor(`${name}.pre_scale`, [sites.rows(side), o.outChannels]);
    }
    const layerScale =
      o.layerScale && this.preScale ? { gamma: net.param(o.layerScale), preScale: this.preScale } : undefined;
    const forward = net.own(
      this.where.maps
        ? sparseConvForward(net.gpu, {
            maps: this.where.maps,
            cin: input.channels,
            cout: o.outChannels,
            y: this.out.value,
            x: x.value,
            weight,
            bias,
            layerScale,
          })
        : sparseDepthwiseForward(net.gpu, {
            ...this.where,
            channels: o.outChannels,
            y: this.out.value,
            x: x.value,
            weight,
            bias,
          }),
    );
    this.train = [forward];
    this.eval = [forward];
    this.paramNames = [o.weight, ...(o.bias ? [o.bias] : []), ...(o.layerScale ? [o.layerScale] : [])];
  }

  /** The output before the layer scale (written by the forward epilogue), when there is one. */
  private readonly preScale?: GpuTensor;

  /**
   * γ's backward, first (pushed onto `ops`): dγ, and the gradient of the conv's own output, γ · dy, which it
   * returns; `dy` itself when the layer has no layer scale.
   */
  private layerScaleBackward(dy: GpuTensor, ops: Encodable[]): GpuTensor {
    const { net, o, preScale } = this;
    if (!o.layerScale || !preScale) return dy;
    const [rows, cols] = preScale.shape;
    const dz = net.tensor(`${this.name}.pre_scale_grad`, [rows, cols]);
    ops.push(
      net.own(
        layerScaleBackward(net.gpu, {
          rows,
          cols,
          dz,
          dy,
          preScale,
          gamma: net.param(o.layerScale),
          dGamma: net.grad(o.layerScale),
        }),
      ),
    );
    return dz;
  }

  /** Where the window finds its neighbours: a neighbour map (dense channels) or the grid index (depthwise). */
  private readonly where:
    | { maps: GpuNeighbourMaps; scale?: undefined }
    | { scale: GpuSiteScale; kernel: number; padding: number; maps?: undefined };

  buildBackward(): Encodable[] {
    const ops: Encodable[] = [];
    const dy = this.out.gradient(ops);
    if (!dy) return [];
    const { net, o, x, where } = this;
    // Neighbour-map convs add into a gradient shared with the input's other consumers (no fan-in add);
    // depthwise convs write their own.
    const target = o.noInputGrad ? undefined : where.maps ? x.accumulateTarget(this.name) : undefined;
    const dx = o.noInputGrad ? undefined : (target?.tensor ?? x.gradTarget(this.name));
    const common = {
      dy: this.layerScaleBackward(dy, ops),
      dx,
      x: x.value,
      weight: net.param(o.weight),
      dWeight: net.grad(o.weight),
      dBias: o.bias ? net.grad(o.bias) : undefined,
    };
    ops.push(
      net.own(
        where.maps
          ? sparseConvBackward(net.gpu, {
              ...common,
              accumulateDx: target?.accumulate,
              maps: where.maps,
              cin: x.channels,
              cout: o.outChannels,
            })
          : sparseDepthwiseBackward(net.gpu, { ...common, ...where, channels: o.outChannels }),
      ),
    );
    return ops;
  }
}

/** ReLU / ReLU6 / GELU. Saved for backward: the input (not copied). */
export class Activation implements Layer {
  readonly train: Encodable[];
  readonly eval: Encodable[];
  readonly out: Act;
  readonly paramNames: string[] = [];

  constructor(
    private readonly net: Net,
    readonly name: string,
    private readonly x: Act,
    private readonly op: UnaryOp,
  ) {
    this.out = net.act(name, x.layout);
    const forward = net.own(unaryForward(net.gpu, op, this.out.value, x.value));
    this.train = [forward];
    this.eval = [forward];
  }

  buildBackward(): Encodable[] {
    const ops: Encodable[] = [];
    const dy = this.out.gradient(ops);
    if (!dy) return [];
    const dx = this.x.gradTarget(this.name);
    ops.push(this.net.own(unaryBackward(this.net.gpu, this.op, dx, this.x.value, dy)));
    return ops;
  }
}

/** a + b (residuals, decoder skips). Backward hands dy to both operands; nothing is saved. */
export class Add implements Layer {
  readonly train: Encodable[];
  readonly eval: Encodable[];
  readonly out: Act;
  readonly paramNames: string[] = [];

  constructor(
    net: Net,
    readonly name: string,
    private readonly a: Act,
    private readonly b: Act,
  ) {
    if (a.value.length !== b.value.length)
      throw new Error(`${name}: cannot add ${a.value.shape} and ${b.value.shape}.`);
    this.out = net.act(name, withChannels(a.layout, a.channels));
    const forward = net.own(binaryForward(net.gpu, 'add', this.out.value, a.value, b.value));
    this.train = [forward];
    this.eval = [forward];
  }

  buildBackward(): Encodable[] {
    const ops: Encodable[] = [];
    const dy = this.out.gradient(ops);
    if (!dy) return [];
    this.a.contribute(dy);
    this.b.contribute(dy);
    return ops;
  }
}

/**
 * SparseMaxPooling 3×3/s2/p1: masked neighbours take part as 0 (the official dense max then re-mask),
 * padding does not. Saved for backward: the winning tap per output and channel.
 */
export class MaxPool implements Layer {
  readonly train: Encodable[];
  readonly eval: Encodable[];
  readonly out: Act;
  readonly paramNames: string[] = [];
  private readonly argmax: GpuTensor;
  private readonly maps: ReturnType<ModelSites['neighbours']>;

  constructor(
    private readonly net: Net,
    readonly name: string,
    private readonly x: Act,
    sites: ModelSites,
  ) {
    // Dense NHWC input (the dense-zero encoder): every pixel is a row in raster order, with raster sites.
    const layout = x.layout;
    const dense = layout.kind === 'dense';
    if (dense && !sites.raster)
      throw new Error(`${name}: a dense max-pool needs the raster (every-pixel) site set.`);
    const side = dense ? layout.height / sites.current.gridH : layout.side;
    if (!Number.isInteger(side) || side % 2 !== 0)
      throw new Error(`${name}: the 3×3/s2 max-pool needs an even cell side, got ${side}.`);
    const channels = layout.channels;
    this.maps = sites.neighbours(side, side / 2, { kernel: 3, stride: 2, padding: 1 });
    const rows = sites.rows(side / 2);
    this.out = net.act(
      name,
      dense
        ? { ...layout, height: layout.height / 2, width: layout.width / 2 }
        : { kind: 'sparse', side: side / 2, rows, channels },
    );
    this.argmax = net.tensor(`${name}.argmax`, [rows, channels]);
    const input = { channels };
    const forward = net.own(
      sparseMaxPoolForward(net.gpu, {
        maps: this.maps,
        channels: input.channels,
        y: this.out.value,
        argmax: this.argmax,
        x: x.value,
      }),
    );
    this.train = [forward];
    this.eval = [forward];
  }

  buildBackward(): Encodable[] {
    const ops: Encodable[] = [];
    const dy = this.out.gradient(ops);
    if (!dy) return [];
    ops.push(
      this.net.own(
        sparseMaxPoolBackward(this.net.gpu, {
          maps: this.maps,
          channels: this.x.channels,
          dx: this.x.gradTarget(this.name),
          dy,
          argmax: this.argmax,
        }),
      ),
    );
    return ops;
  }
}

/**
 * LayerNorm over the channels of each row (SparseConvNeXtLayerNorm, eps 1e-6; channels_first and
 * channels_last are the same computation on rows). Saved for backward: the input and (mean, 1/std) per row.
 */
export class RowLayerNorm implements Layer {
  readonly train: Encodable[];
  readonly eval: Encodable[];
  readonly out: Act;
  readonly paramNames: string[];
  private readonly saved: GpuTensor;
  private readonly rows: number;

  constructor(
    private readonly net: Net,
    readonly name: string,
    private readonly x: Act,
  ) {
    this.rows = rowsOf(x.layout);
    this.out = net.act(name, x.layout);
    this.saved = net.tensor(`${name}.saved`, [this.rows, 2]);
    const forward = net.own(
      layerNormForward(net.gpu, {
        rows: this.rows,
        channels: x.channels,
        y: this.out.value,
        x: x.value,
        gamma: net.param(`${name}.weight`),
        beta: net.param(`${name}.bias`),
        saved: this.saved,
      }),
    );
    this.train = [forward];
    this.eval = [forward];
    this.paramNames = [`${name}.weight`, `${name}.bias`];
  }

  buildBackward(): Encodable[] {
    const ops: Encodable[] = [];
    const dy = this.out.gradient(ops);
    if (!dy) return [];
    const { net, name } = this;
    ops.push(
      net.own(layerNormBackward(net.gpu, normBackwardOperands(net, name, this.x, this.rows, this.saved, dy))),
    );
    return ops;
  }
}

/**
 * A conv of the encoder: gathered sparse on rows, or the dense NHWC conv for the dense baselines — with the
 * mask epilogue when `masking` is given (dense-masked: the official SparseConv2d), without (dense-zero).
 */
export function encoderConv(
  net: Net,
  sites: ModelSites,
  name: string,
  x: Act,
  o: SparseConvOptions,
  masking?: DenseMasking | null,
): Act {
  if (x.layout.kind === 'sparse') return net.add(new SparseConv(net, name, x, sites, o)).out;
  if (o.layerScale)
    throw new Error(
      `${name}: the layer-scale epilogue runs on sparse rows; a dense map keeps γ as its own layer.`,
    );
  const outHeight = Math.floor((x.layout.height + 2 * o.padding - o.kernel) / o.stride) + 1;
  return net.add(new DenseConv(net, name, x, { ...o, mask: masking?.cellMask(outHeight) })).out;
}

/** The encoder's BatchNorm: on rows, or on a dense map with statistics over visible pixels when masked. */
export function encoderBatchNorm(net: Net, name: string, x: Act, masking?: DenseMasking | null): Act {
  const rowMask = masking && x.layout.kind === 'dense' ? masking.rowMask(x.layout.height) : undefined;
  return net.add(new FusedBatchNorm(net, name, x, { rowMask })).out;
}
