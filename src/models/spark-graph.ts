/**
 * The dispatch graph of the GPU SparK model, one small builder per part (./spark.ts owns the model around it):
 *
 *   images NCHW ─transpose→ NHWC ─gather→ visible rows (full-resolution scale)       buildInput
 *   → sparse encoder (./resnet.ts, ./convnext.ts) → features, largest first          buildEncoder
 *     or a dense encoder: the same builders on the zero-filled image NHWC             buildDenseEncoder
 *     (dense-masked: re-masked after every layer, the official computation; dense-zero: zero-outing)
 *   → densify per scale, smallest first (norm, mask tokens, projection)              buildDensifyStage
 *   → LightDecoder (./decoder.ts) → prediction NHWC                                   buildLightDecoder
 *   → SparK loss (+ composite for the visualisation)                                 buildLoss
 *   then the backward of all of it in reverse (Net.finish).
 *
 * A graph is built for the sites' current batch and visible-cell count over buffers sized by the first,
 * worst-case build (ActivationMemory); rebuilding it makes dispatches, never activation buffers.
 */
import { densifyForward } from '../engine/densify';
import type { Arena } from '../engine/params';
import { nchwToNhwc } from '../engine/transpose';
import type { Gpu, GpuTensor } from '../gpu/runtime';
import type { CellMask } from '../sparse/mask';
import { SparkLoss } from '../train/loss';
import { densifyInputChannels, featureStrides, type SparkConfig, totalStride } from './config';
import { buildSparseConvNeXt, sparseLayerNorm } from './convnext';
import { buildDensify, buildLightDecoder, sparseBatchNorm } from './decoder';
import { GatherRows } from './layers/dense';
import { type DropPathBuffers, dropPathHook } from './layers/drop-path';
import { type Act, type ActivationMemory, type Encodable, type Layer, Net } from './layers/graph';
import type { DenseMasking } from './layers/masked';
import type { ModelSites } from './layers/sites';
import { buildSparseResNet } from './resnet';

/** Dispatches without parameters or backward (input transpose, visualisation). */
class FixedOps implements Layer {
  readonly paramNames: string[] = [];
  readonly eval: Encodable[];
  constructor(
    readonly name: string,
    readonly train: Encodable[],
  ) {
    this.eval = train;
  }
  buildBackward(): Encodable[] {
    return [];
  }
}

/**
 * Loss, its gradient (the seed of the backward) and the composite. Saved: the per-patch statistics. The
 * composite (the picture shown to the user) is not part of a training step: `show` is encoded by
 * readSnapshot when a snapshot asks for it, on the last step's prediction; evaluation still draws it.
 */
class LossLayer implements Layer {
  readonly name = 'loss';
  readonly paramNames: string[] = [];
  readonly train: Encodable[];
  readonly eval: Encodable[];
  readonly show: Encodable;

  constructor(
    private readonly net: Net,
    readonly loss: SparkLoss,
    private readonly image: GpuTensor,
    private readonly rec: Act,
    cells: GpuTensor,
    composite: GpuTensor,
  ) {
    const forward = net.own(loss.forward(image, rec.value, cells));
    this.show = net.own(loss.composite(composite, image, rec.value, cells));
    this.train = [forward];
    this.eval = [forward, this.show];
  }

  buildBackward(): Encodable[] {
    return [this.net.own(this.loss.backward(this.rec.gradTarget('loss'), this.image, this.rec.value))];
  }
}

/** Every cell of every image visible: the mask that sizes every buffer (the most rows at every scale). */
export function allVisibleMask(batch: number, grid: number): CellMask {
  return { batch, gridH: grid, gridW: grid, cells: new Uint8Array(batch * grid * grid).fill(1) };
}

/** What every build of the graph shares: device, configuration, arenas, buffers and site sets. */
export interface GraphContext {
  gpu: Gpu;
  config: SparkConfig;
  label: string;
  params: Arena;
  stats: Arena;
  memory: ActivationMemory;
  /** The mask's sites: sparse encoder rows, densify, loss. */
  sites: ModelSites;
  /** Every pixel as a site (dense encoders only): what their max-pool walks. */
  rasterSites: ModelSites | null;
  /** The mask per resolution for the dense-masked encoder (null otherwise). */
  masking: DenseMasking | null;
  /** Where the loss keeps its statistics for every batch size (the loss scalar stays at one place). */
  lossStorage: GpuTensor;
  /** Drop-path factors when the configuration drops residual branches in training (else absent). */
  dropPath?: DropPathBuffers;
  /** An evaluation-only model: no backward is prepared (no gradient buffers); this sentence refuses training. */
  evalOnly?: string;
}

/** One build of the dispatch graph, for the current batch and visible-cell count. */
export interface SparkGraph {
  batch: number;
  net: Net;
  /** [batch, 3, S, S] NCHW upload target. */
  images: GpuTensor;
  /** [batch, S, S, 3] input · mask. */
  masked: GpuTensor;
  composite: GpuTensor;
  /** Draws `composite` from the current prediction (training steps leave it to the snapshot). */
  drawComposite: Encodable;
  prediction: Act;
  /** Encoder outputs, largest resolution first (dense NHWC for the dense encoders, sparse rows otherwise). */
  features: Act[];
  sparkLoss: SparkLoss;
}

interface GraphInput {
  images: GpuTensor;
  /** The image, NHWC. */
  image: Act;
  /** The visible pixels as rows at full resolution. */
  rows: Act;
  /** The zero-filled image, NHWC. */
  masked: GpuTensor;
}

/** Upload target, NCHW→NHWC transpose, the visible rows and the zero-filled image. */
function buildInput(net: Net, ctx: GraphContext, batch: number): GraphInput {
  const { gpu, config } = ctx;
  const S = config.inputSize;
  const r = totalStride(config.backbone);
  const images = net.tensor('images', [batch, 3, S, S]);
  const dims = { batch, height: S, width: S, channels: 3 };
  const image = net.act('image', { kind: 'dense', ...dims });
  net.add(
    new FixedOps('input', [
      net.own(nchwToNhwc(gpu, { out: image.value, x: images, n: batch, c: 3, h: S, w: S })),
    ]),
  );
  const rows = net.add(new GatherRows(net, 'image_rows', image, ctx.sites, r)).out;
  const masked = net.tensor('masked', [batch, S, S, 3]);
  net.add(
    new FixedOps('masked', [
      net.own(densifyForward(gpu, dims, masked, rows.value, ctx.sites.gridIndex(r), null)),
    ]),
  );
  return { images, image, rows, masked };
}

/** The backbone of the configuration on `input` (sparse rows, or dense NHWC for the dense encoders). */
function buildBackbone(
  net: Net,
  sites: ModelSites,
  config: SparkConfig,
  input: Act,
  masking: DenseMasking | null = null,
  dropPath?: DropPathBuffers,
): Act[] {
  const b = config.backbone;
  const residual = dropPath ? dropPathHook(net, sites, dropPath) : undefined;
  return b.family === 'resnet'
    ? buildSparseResNet(net, sites, b, input, masking, residual)
    : buildSparseConvNeXt(net, sites, b, input, masking, residual);
}

/** Checks the encoder's outputs are at the configured strides and of the expected kind. */
function checkFeatures(config: SparkConfig, features: Act[], kind: 'sparse' | 'dense'): void {
  const S = config.inputSize;
  const r = totalStride(config.backbone);
  const strides = featureStrides(config.backbone);
  features.forEach((f, i) => {
    const layout = f.layout;
    const atStride =
      layout.kind === 'sparse' ? layout.side === r / strides[i] : layout.height === S / strides[i];
    if (!atStride || layout.kind !== kind)
      throw new Error(`Encoder feature ${i} is not at stride ${strides[i]}.`);
  });
}

/** The sparse encoder on the visible rows: features, largest first; densify reads them as they are. */
function buildEncoder(net: Net, ctx: GraphContext, input: GraphInput): { features: Act[]; toDensify: Act[] } {
  const features = buildBackbone(net, ctx.sites, ctx.config, input.rows, null, ctx.dropPath);
  checkFeatures(ctx.config, features, 'sparse');
  return { features, toDensify: [...features].reverse() };
}

/**
 * The dense encoders: the same builders on the zero-filled NHWC image pick the dense conv kernels; the
 * max-pool walks raster "sites" (every pixel, NHWC order). dense-masked (the official computation) masks
 * every conv's output, takes BN statistics over visible pixels and re-masks after max-pool and LayerNorm
 * (./layers/masked.ts), so at visible sites it computes the sparse encoder's numbers. dense-zero (the
 * paper's Figure-1 zero-outing ablation) re-masks nothing and BN counts every position, as a dense CNN would.
 * Densify still normalises over the active sites (the official densify is sparse), so each feature is
 * gathered at the mask's sites first.
 */
function buildDenseEncoder(
  net: Net,
  ctx: GraphContext,
  input: GraphInput,
  batch: number,
): { features: Act[]; toDensify: Act[] } {
  const { config } = ctx;
  const S = config.inputSize;
  const r = totalStride(config.backbone);
  if (!ctx.rasterSites) throw new Error('A dense encoder needs the raster site set.');
  const image = net.wrap(input.masked, { kind: 'dense', batch, height: S, width: S, channels: 3 });
  const features = buildBackbone(net, ctx.rasterSites, config, image, ctx.masking, ctx.dropPath);
  checkFeatures(config, features, 'dense');
  const toDensify = [...features]
    .reverse()
    .map(
      (f, i) =>
        net.add(new GatherRows(net, `densify_gather.${i}`, f, ctx.sites, (r * f.value.shape[1]) / S)).out,
    );
  return { features, toDensify };
}

/** Densify per scale, smallest first: the configured sparse norm, mask-token fill, projection to the decoder. */
function buildDensifyStage(net: Net, ctx: GraphContext, smallestFirst: Act[]): Act[] {
  const { config } = ctx;
  const widths = densifyInputChannels(config);
  smallestFirst.forEach((f, i) => {
    if (f.channels !== widths[i])
      throw new Error(`Scale ${i} has ${f.channels} channels, expected ${widths[i]}.`);
  });
  const norm =
    config.densifyNorm === 'bn' ? sparseBatchNorm : config.densifyNorm === 'ln' ? sparseLayerNorm : null;
  return buildDensify(net, ctx.sites, config, smallestFirst, norm);
}

/** The SparK loss on the prediction and the composite shown to the user. */
function buildLoss(
  net: Net,
  ctx: GraphContext,
  batch: number,
  image: Act,
  prediction: Act,
): { sparkLoss: SparkLoss; composite: GpuTensor; drawComposite: Encodable } {
  const { config } = ctx;
  const S = config.inputSize;
  const sparkLoss = new SparkLoss(
    ctx.gpu,
    {
      batch,
      size: S,
      patch: totalStride(config.backbone),
      normalizeTarget: config.lossTarget === 'patch-norm',
      maskedOnly: config.lossOn === 'masked',
    },
    ctx.lossStorage,
  );
  const composite = net.tensor('composite', [batch, S, S, 3]);
  const layer = net.add(new LossLayer(net, sparkLoss, image.value, prediction, ctx.sites.cells, composite));
  return { sparkLoss, composite, drawComposite: layer.show };
}

/** Builds every dispatch of a forward, its loss and its backward for the sites' current mask. */
export function buildGraph(ctx: GraphContext): SparkGraph {
  const batch = ctx.sites.current.batch;
  const net = new Net(ctx.gpu, ctx.params, ctx.stats, ctx.label, ctx.memory);
  try {
    const input = buildInput(net, ctx, batch);
    const { features, toDensify } =
      ctx.config.encoder === 'sparse'
        ? buildEncoder(net, ctx, input)
        : buildDenseEncoder(net, ctx, input, batch);
    const toDecoder = buildDensifyStage(net, ctx, toDensify);
    const prediction = buildLightDecoder(net, ctx.config, toDecoder);
    const { sparkLoss, composite, drawComposite } = buildLoss(net, ctx, batch, input.image, prediction);
    net.finish({ evalOnly: ctx.evalOnly });
    return {
      batch,
      net,
      images: input.images,
      masked: input.masked,
      composite,
      drawComposite,
      prediction,
      features,
      sparkLoss,
    };
  } catch (error) {
    net.release();
    throw error;
  }
}
