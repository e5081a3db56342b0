/**
 * Layers on dense NHWC activations (the densify projections and the LightDecoder) and the two bridges
 * between dense maps and sparse rows (densify scatter, input gather).
 */

import {
  type ConvTransposeShape,
  convTransposeBackwardBias,
  convTransposeBackwardInput,
  convTransposeBackwardWeight,
  convTransposeForward,
  convTransposeOutputSize,
} from '../../engine/conv-transpose';
import {
  type Conv2dShape,
  type ConvGeometry,
  conv2dBackwardBias,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dForward,
  conv2dOutputSize,
  type GpuCellMask,
} from '../../engine/conv2d';
import { densifyBackward, densifyForward } from '../../engine/densify';
import type { Gpu, GpuTensor } from '../../gpu/runtime';
import type { Act, DenseLayout, Encodable, Layer, Net, SparseLayout } from './graph';
import type { ModelSites } from './sites';

function dense(x: Act, layer: string): DenseLayout {
  if (x.layout.kind !== 'dense') throw new Error(`${layer}: expects a dense NHWC input.`);
  return x.layout;
}

export interface DenseConvOptions {
  weight: string;
  bias?: string;
  outChannels: number;
  kernel: number;
  stride: number;
  padding: number;
  /** groups = C (weight [k, k, C]). */
  depthwise?: boolean;
  /** The input is the image: no input gradient is needed. */
  noInputGrad?: boolean;
  /** Output × this cell mask, and dy × it in the backward (the dense-masked encoder; Conv2d only). */
  mask?: GpuCellMask;
}

/** The engine entry points a dense conv layer calls: Conv2d's or ConvTranspose2d's, on the same geometry. */
interface DenseConvKernels<S extends ConvGeometry> {
  outputSize(shape: S): { outH: number; outW: number };
  forward(
    gpu: Gpu,
    shape: S,
    out: GpuTensor,
    x: GpuTensor,
    weight: GpuTensor,
    options: { bias?: GpuTensor; mask?: GpuCellMask },
  ): Encodable;
  backwardInput(
    gpu: Gpu,
    shape: S,
    dx: GpuTensor,
    dy: GpuTensor,
    weight: GpuTensor,
    options: { mask?: GpuCellMask },
  ): Encodable;
  backwardWeight(
    gpu: Gpu,
    shape: S,
    dw: GpuTensor,
    x: GpuTensor,
    dy: GpuTensor,
    options: { mask?: GpuCellMask },
  ): Encodable;
  backwardBias(
    gpu: Gpu,
    shape: S,
    dbias: GpuTensor,
    dy: GpuTensor,
    options: { mask?: GpuCellMask },
  ): Encodable;
}

const conv2dKernels: DenseConvKernels<Conv2dShape> = {
  outputSize: conv2dOutputSize,
  forward: conv2dForward,
  backwardInput: conv2dBackwardInput,
  backwardWeight: conv2dBackwardWeight,
  backwardBias: conv2dBackwardBias,
};

/** The transposed conv has no mask epilogue: only the decoder uses it, on dense maps. */
const convTransposeKernels: DenseConvKernels<ConvTransposeShape> = {
  outputSize: convTransposeOutputSize,
  forward: (gpu, shape, out, x, weight, { bias }) =>
    convTransposeForward(gpu, shape, out, x, weight, { bias }),
  backwardInput: (gpu, shape, dx, dy, weight) => convTransposeBackwardInput(gpu, shape, dx, dy, weight),
  backwardWeight: (gpu, shape, dw, x, dy) => convTransposeBackwardWeight(gpu, shape, dw, x, dy),
  backwardBias: (gpu, shape, dbias, dy) => convTransposeBackwardBias(gpu, shape, dbias, dy),
};

/** A square kernel/stride/padding over a dense NHWC input, as both dense conv layers take it. */
function squareGeometry(input: DenseLayout, o: DenseConvOptions): ConvGeometry {
  return {
    batch: input.batch,
    inH: input.height,
    inW: input.width,
    inC: input.channels,
    outC: o.outChannels,
    kernelH: o.kernel,
    kernelW: o.kernel,
    strideH: o.stride,
    strideW: o.stride,
    padH: o.padding,
    padW: o.padding,
  };
}

/** What a dense conv and a dense transposed conv share: NHWC in and out, weight, optional bias. */
class DenseConvLayer<S extends ConvGeometry> implements Layer {
  readonly train: Encodable[];
  readonly eval: Encodable[];
  readonly out: Act;
  readonly paramNames: string[];

  protected constructor(
    private readonly net: Net,
    readonly name: string,
    private readonly x: Act,
    private readonly o: DenseConvOptions,
    private readonly shape: S,
    private readonly kernels: DenseConvKernels<S>,
  ) {
    const { outH, outW } = kernels.outputSize(shape);
    this.out = net.act(name, {
      kind: 'dense',
      batch: shape.batch,
      height: outH,
      width: outW,
      channels: o.outChannels,
    });
    const forward = net.own(
      kernels.forward(net.gpu, shape, this.out.value, x.value, net.param(o.weight), {
        bias: o.bias ? net.param(o.bias) : undefined,
        mask: o.mask,
      }),
    );
    this.train = [forward];
    this.eval = [forward];
    this.paramNames = o.bias ? [o.weight, o.bias] : [o.weight];
  }

  buildBackward(): Encodable[] {
    const ops: Encodable[] = [];
    const dy = this.out.gradient(ops);
    if (!dy) return [];
    const { net, o, shape, kernels } = this;
    const masked = { mask: o.mask };
    if (!o.noInputGrad)
      ops.push(
        net.own(
          kernels.backwardInput(
            net.gpu,
            shape,
            this.x.gradTarget(this.name),
            dy,
            net.param(o.weight),
            masked,
          ),
        ),
      );
    ops.push(net.own(kernels.backwardWeight(net.gpu, shape, net.grad(o.weight), this.x.value, dy, masked)));
    if (o.bias) ops.push(net.own(kernels.backwardBias(net.gpu, shape, net.grad(o.bias), dy, masked)));
    return ops;
  }
}

/** Dense Conv2d (NHWC, HWIO). Saved for backward: its input (not copied). */
export class DenseConv extends DenseConvLayer<Conv2dShape> {
  constructor(net: Net, name: string, x: Act, o: DenseConvOptions) {
    const shape = { ...squareGeometry(dense(x, name), o), depthwise: o.depthwise ?? false };
    super(net, name, x, o, shape, conv2dKernels);
  }
}

/** ConvTranspose2d (the decoder's 4×4/s2/p1 upsampler, with bias). Saved for backward: its input. */
export class DenseConvTranspose extends DenseConvLayer<ConvTransposeShape> {
  constructor(net: Net, name: string, x: Act, o: DenseConvOptions) {
    super(net, name, x, o, squareGeometry(dense(x, name), o), convTransposeKernels);
  }
}

/**
 * Densify scatter: sparse rows → dense NHWC with the learned mask token (or zeros) at masked sites.
 * Nothing is saved: the backward only needs the grid index.
 */
export class Densify implements Layer {
  readonly train: Encodable[];
  readonly eval: Encodable[];
  readonly out: Act;
  readonly paramNames: string[];
  private readonly dims: { batch: number; height: number; width: number; channels: number };
  private readonly gridIndex: GpuTensor;

  constructor(
    private readonly net: Net,
    readonly name: string,
    private readonly x: Act,
    sites: ModelSites,
    /** Official name of the mask token [1, C, 1, 1], or null to fill zeros. */
    private readonly token: string | null,
  ) {
    const input = x.layout as SparseLayout;
    if (input.kind !== 'sparse') throw new Error(`${name}: densify needs sparse rows as input.`);
    const set = sites.set(input.side);
    this.dims = { batch: set.batch, height: set.height, width: set.width, channels: input.channels };
    this.gridIndex = sites.gridIndex(input.side);
    this.out = net.act(name, { kind: 'dense', ...this.dims });
    const forward = net.own(
      densifyForward(
        net.gpu,
        this.dims,
        this.out.value,
        x.value,
        this.gridIndex,
        token ? net.param(token) : null,
      ),
    );
    this.train = [forward];
    this.eval = [forward];
    this.paramNames = token ? [token] : [];
  }

  buildBackward(): Encodable[] {
    const ops: Encodable[] = [];
    const dy = this.out.gradient(ops);
    if (!dy) return [];
    const { net } = this;
    ops.push(
      net.own(
        densifyBackward(
          net.gpu,
          this.dims,
          this.x.gradTarget(this.name),
          dy,
          this.gridIndex,
          this.token ? net.grad(this.token) : null,
        ),
      ),
    );
    return ops;
  }
}

/**
 * Dense NHWC (or rows covering every pixel in NHWC order, as the dense-zero encoder makes them) → rows at
 * the active sites of its scale: the input image's gather, and the dense-zero baseline's entry into the
 * sparse densify norm. Backward (when something differentiates the rows): scatter back, 0 at masked pixels.
 * Nothing is saved.
 */
export class GatherRows implements Layer {
  readonly train: Encodable[];
  readonly eval: Encodable[];
  readonly out: Act;
  readonly paramNames: string[] = [];
  private readonly dims: { batch: number; height: number; width: number; channels: number };
  private readonly gridIndex: GpuTensor;

  constructor(
    private readonly net: Net,
    readonly name: string,
    private readonly x: Act,
    sites: ModelSites,
    side: number,
  ) {
    const set = sites.set(side);
    this.dims = { batch: set.batch, height: set.height, width: set.width, channels: x.channels };
    if (x.value.length !== set.batch * set.height * set.width * x.channels)
      throw new Error(
        `${name}: the input is not a full ${set.height}×${set.width} map of the scale of side ${side}.`,
      );
    this.gridIndex = sites.gridIndex(side);
    this.out = net.act(name, { kind: 'sparse', side, rows: set.rows, channels: x.channels });
    // densify's row gradient is exactly a gather: rows[gridIndex[p]] = dense[p] at visible pixels.
    const gather = net.own(
      densifyBackward(net.gpu, this.dims, this.out.value, x.value, this.gridIndex, null),
    );
    this.train = [gather];
    this.eval = [gather];
  }

  buildBackward(): Encodable[] {
    const ops: Encodable[] = [];
    const dy = this.out.gradient(ops);
    if (!dy) return [];
    const { net } = this;
    ops.push(
      net.own(densifyForward(net.gpu, this.dims, this.x.gradTarget(this.name), dy, this.gridIndex, null)),
    );
    return ops;
  }
}
