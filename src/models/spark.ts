/**
 * The GPU SparK model (contract in ./spark-model.ts). Built once per (config, built batch): arenas, activation
 * buffers and site buffers, all sized for the worst case (the built batch with every cell visible); then a
 * graph of prepared dispatches for the current batch and visible-cell count, rebuilt over the same buffers
 * only when a mask changes those sizes (never during training with random masks, which keep len_keep).
 *
 *   images NCHW ─transpose→ NHWC ─gather→ visible rows (full-resolution scale)       buildInput
 *   → sparse encoder (./resnet.ts, ./convnext.ts) → features, largest first          buildEncoder
 *     (or the dense-zero ablation: the same builders on the zero-filled image)       buildDenseZeroEncoder
 *   → densify per scale, smallest first (./decoder.ts)                               buildDensify
 *   → LightDecoder → prediction NHWC                                                  buildLightDecoder
 *   → SparK loss (+ composite for the visualisation)                                 buildLoss
 *   then the backward of all of it in reverse (Net.finish).
 *
 * Memory: one buffer per activation, per gradient contribution and per saved statistic (./layers/graph.ts
 * ActivationMemory), reused by every step and every rebuild; what each layer keeps for its backward is
 * documented in ./layers/.
 */

import { densifyForward } from '../engine/densify';
import { fromGpuLayout, toGpuLayout } from '../engine/layout';
import { Arena } from '../engine/params';
import { nchwToNhwc } from '../engine/transpose';
import type { Gpu, GpuTensor } from '../gpu/runtime';
import type { CellMask } from '../sparse/mask';
import { scatterRows } from '../sparse/sites';
import { SparkLoss } from '../train/loss';
import {
  densifyInputChannels,
  featureStrides,
  type SparkConfig,
  totalStride,
  validateSparkConfig,
} from './config';
import { buildSparseConvNeXt, sparseLayerNorm } from './convnext';
import { buildDensify, buildLightDecoder, sparseBatchNorm } from './decoder';
import { officialInitialState } from './init';
import { GatherRows } from './layers/dense';
import { type Act, ActivationMemory, type Encodable, type Layer, Net } from './layers/graph';
import { ModelSites } from './layers/sites';
import { type StateEntry, sparkState } from './official-names';
import { buildSparseResNet } from './resnet';
import type { SparkGpuModel, SparkModelOptions, SparkSnapshot, SparkStateValues } from './spark-model';

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

/** Loss, its gradient (the seed of the backward) and the composite. Saved: the per-patch statistics. */
class LossLayer implements Layer {
  readonly name = 'loss';
  readonly paramNames: string[] = [];
  readonly train: Encodable[];
  readonly eval: Encodable[];

  constructor(
    private readonly net: Net,
    readonly loss: SparkLoss,
    private readonly image: GpuTensor,
    private readonly rec: Act,
    cells: GpuTensor,
    composite: GpuTensor,
  ) {
    const forward = net.own(loss.forward(image, rec.value, cells));
    const show = net.own(loss.composite(composite, image, rec.value, cells));
    this.train = [forward, show];
    this.eval = [forward, show];
  }

  buildBackward(): Encodable[] {
    return [this.net.own(this.loss.backward(this.rec.gradTarget('loss'), this.image, this.rec.value))];
  }
}

/** Every cell of every image visible: the mask that sizes every buffer (the most rows at every scale). */
function allVisibleMask(batch: number, grid: number): CellMask {
  return { batch, gridH: grid, gridW: grid, cells: new Uint8Array(batch * grid * grid).fill(1) };
}

function nhwcToNchwHost(data: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < c; ch++)
          out[((b * c + ch) * h + y) * w + x] = data[((b * h + y) * w + x) * c + ch];
  return out;
}

/** What every build of the graph shares: device, configuration, arenas, buffers and site sets. */
interface GraphContext {
  gpu: Gpu;
  config: SparkConfig;
  label: string;
  params: Arena;
  stats: Arena;
  memory: ActivationMemory;
  /** The mask's sites: sparse encoder rows, densify, loss. */
  sites: ModelSites;
  /** Every pixel as a site (dense-zero only): what its max-pool walks. */
  rasterSites: ModelSites | null;
  /** Where the loss keeps its statistics for every batch size (the loss scalar stays at one place). */
  lossStorage: GpuTensor;
}

/** One build of the dispatch graph, for the current batch and visible-cell count. */
interface SparkGraph {
  batch: number;
  net: Net;
  /** [batch, 3, S, S] NCHW upload target. */
  images: GpuTensor;
  /** [batch, S, S, 3] input · mask. */
  masked: GpuTensor;
  composite: GpuTensor;
  prediction: Act;
  /** Encoder outputs, largest resolution first (dense NHWC for dense-zero, sparse rows otherwise). */
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

/** The backbone of the configuration on `input` (sparse rows, or dense NHWC for the ablation). */
function buildBackbone(net: Net, sites: ModelSites, config: SparkConfig, input: Act): Act[] {
  const b = config.backbone;
  return b.family === 'resnet'
    ? buildSparseResNet(net, sites, b, input)
    : buildSparseConvNeXt(net, sites, b, input);
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
  const features = buildBackbone(net, ctx.sites, ctx.config, input.rows);
  checkFeatures(ctx.config, features, 'sparse');
  return { features, toDensify: [...features].reverse() };
}

/**
 * The dense-zero ablation (the paper's Figure-1 baseline): the same builders on the zero-filled NHWC image
 * pick the dense conv kernels; nothing is re-masked and BN counts every position, as a dense CNN would. Its
 * max-pool walks raster "sites" (every pixel, NHWC order). Densify still normalises over the active sites
 * (the official densify is sparse), so each feature is gathered at the mask's sites first.
 */
function buildDenseZeroEncoder(
  net: Net,
  ctx: GraphContext,
  input: GraphInput,
  batch: number,
): { features: Act[]; toDensify: Act[] } {
  const { config } = ctx;
  const S = config.inputSize;
  const r = totalStride(config.backbone);
  if (!ctx.rasterSites) throw new Error('The dense-zero encoder needs the raster site set.');
  const image = net.wrap(input.masked, { kind: 'dense', batch, height: S, width: S, channels: 3 });
  const features = buildBackbone(net, ctx.rasterSites, config, image);
  checkFeatures(config, features, 'dense');
  const toDensify = [...features]
    .reverse()
    .map(
      (f, i) =>
        net.add(new GatherRows(net, `densify_gather.${i}`, f, ctx.sites, (r * f.value.shape[1]) / S)).out,
    );
  return { features, toDensify };
}

/** Densify (norm, mask tokens, projection) per scale, smallest first, then the LightDecoder. */
function buildHead(net: Net, ctx: GraphContext, smallestFirst: Act[]): Act {
  const { config } = ctx;
  const widths = densifyInputChannels(config);
  smallestFirst.forEach((f, i) => {
    if (f.channels !== widths[i])
      throw new Error(`Scale ${i} has ${f.channels} channels, expected ${widths[i]}.`);
  });
  const norm =
    config.densifyNorm === 'bn' ? sparseBatchNorm : config.densifyNorm === 'ln' ? sparseLayerNorm : null;
  const toDecoder = buildDensify(net, ctx.sites, config, smallestFirst, norm);
  return buildLightDecoder(net, config, toDecoder);
}

/** The SparK loss on the prediction and the composite shown to the user. */
function buildLoss(
  net: Net,
  ctx: GraphContext,
  batch: number,
  image: Act,
  prediction: Act,
): { sparkLoss: SparkLoss; composite: GpuTensor } {
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
  net.add(new LossLayer(net, sparkLoss, image.value, prediction, ctx.sites.cells, composite));
  return { sparkLoss, composite };
}

/** Builds every dispatch of a forward, its loss and its backward for the sites' current mask. */
function buildGraph(ctx: GraphContext): SparkGraph {
  const batch = ctx.sites.current.batch;
  const net = new Net(ctx.gpu, ctx.params, ctx.stats, ctx.label, ctx.memory);
  try {
    const input = buildInput(net, ctx, batch);
    const { features, toDensify } =
      ctx.config.encoder === 'dense-zero'
        ? buildDenseZeroEncoder(net, ctx, input, batch)
        : buildEncoder(net, ctx, input);
    const prediction = buildHead(net, ctx, toDensify);
    const { sparkLoss, composite } = buildLoss(net, ctx, batch, input.image, prediction);
    net.finish();
    return {
      batch,
      net,
      images: input.images,
      masked: input.masked,
      composite,
      prediction,
      features,
      sparkLoss,
    };
  } catch (error) {
    net.release();
    throw error;
  }
}

class GpuSparkModel implements SparkGpuModel {
  readonly params: Arena;
  readonly stats: Arena;
  readonly batchesTracked = new Map<string, number>();
  readonly loss: GpuTensor;
  readonly unusedParams: ReadonlySet<string>;
  private readonly entries: StateEntry[];
  private readonly context: GraphContext;
  private graph: SparkGraph;
  private readonly size: number;
  private destroyed = false;

  constructor(
    private readonly gpu: Gpu,
    readonly config: SparkConfig,
    readonly batch: number,
    options: SparkModelOptions,
  ) {
    validateSparkConfig(config);
    if (!Number.isInteger(batch) || batch < 1)
      throw new RangeError(`The batch size must be a positive integer, got ${batch}.`);
    const label = options.label ?? 'spark';
    const S = config.inputSize;
    const grid = S / totalStride(config.backbone);
    this.size = S;
    this.entries = sparkState(config);
    this.params = new Arena(`${label}.params`, true);
    this.stats = new Arena(`${label}.stats`, false);
    for (const e of this.entries) {
      if (e.kind === 'param')
        this.params.add(e.name, { officialShape: e.shape, layout: e.layout, decay: e.decay });
      else if (e.dtype === 'F32') this.stats.add(e.name, { officialShape: e.shape });
      else this.batchesTracked.set(e.name.replace(/\.num_batches_tracked$/, ''), 0);
    }
    const context: Partial<GraphContext> = { gpu, config, label, params: this.params, stats: this.stats };
    // Anything that fails while building (a shape a kernel refuses, an out-of-memory) releases what exists.
    try {
      this.params.allocate(gpu);
      this.stats.allocate(gpu);
      // The first build, on the all-visible mask of the built batch, sizes every buffer for the worst case.
      const worst = allVisibleMask(batch, grid);
      context.memory = new ActivationMemory(gpu);
      context.sites = new ModelSites(gpu, worst, label);
      context.rasterSites =
        config.encoder === 'dense-zero' ? new ModelSites(gpu, worst, `${label}.dense`, true) : null;
      context.lossStorage = gpu.tensor(`${label}.loss`, [SparkLoss.statsLength(batch, grid)]);
      this.context = context as GraphContext;
      this.graph = buildGraph(this.context);
      this.context.memory.endSizing();
      this.loss = this.graph.sparkLoss.loss;
      this.unusedParams = this.graph.net.unusedParams;
    } catch (error) {
      this.releaseContext(context);
      throw error;
    }
  }

  /** Releases what a (possibly partial) context holds, then the arenas. */
  private releaseContext(context: Partial<GraphContext>): void {
    (this as unknown as { graph?: SparkGraph }).graph?.net.release();
    context.memory?.release();
    context.sites?.release();
    context.rasterSites?.release();
    if (context.lossStorage) this.gpu.releaseTensor(context.lossStorage);
    this.params.release(this.gpu);
    this.stats.release(this.gpu);
  }

  private checkAlive(): void {
    if (this.destroyed) throw new Error('This SparK model was destroyed; create a new one.');
  }

  initialize(seed: number): void {
    const state = officialInitialState(this.config, seed);
    this.loadState(state);
  }

  loadState(state: SparkStateValues): void {
    this.checkAlive();
    // Validate everything first, so that a bad state changes nothing.
    for (const e of this.entries) {
      const v = state.get(e.name);
      if (!v) throw new Error(`The state has no tensor named ${e.name}.`);
      const n = e.shape.reduce((a, b) => a * b, 1);
      if (v.length !== n)
        throw new Error(`${e.name} has ${v.length} values; its shape [${e.shape}] needs ${n}.`);
    }
    const params = new Float32Array(this.params.size);
    const stats = new Float32Array(Math.max(1, this.stats.size));
    for (const e of this.entries) {
      const v = state.get(e.name)!;
      if (e.kind === 'param') {
        const entry = this.params.get(e.name);
        params.set(toGpuLayout(entry.layout, entry.officialShape, v), entry.offset);
      } else if (e.dtype === 'F32') {
        stats.set(Float32Array.from(v), this.stats.get(e.name).offset);
      } else this.batchesTracked.set(e.name.replace(/\.num_batches_tracked$/, ''), Number(v[0]));
    }
    this.gpu.device.queue.writeBuffer(this.params.values, 0, params);
    if (this.stats.size > 0) this.gpu.device.queue.writeBuffer(this.stats.values, 0, stats);
  }

  async exportState(): Promise<Map<string, Float32Array>> {
    this.checkAlive();
    const params = await this.gpu.read(this.params.whole('values'));
    const stats = this.stats.size > 0 ? await this.gpu.read(this.stats.whole('values')) : new Float32Array(0);
    const out = new Map<string, Float32Array>();
    for (const e of this.entries) {
      if (e.kind === 'param') {
        const entry = this.params.get(e.name);
        out.set(
          e.name,
          fromGpuLayout(
            entry.layout,
            entry.officialShape,
            params.subarray(entry.offset, entry.offset + entry.length),
          ),
        );
      } else if (e.dtype === 'F32') {
        const entry = this.stats.get(e.name);
        out.set(e.name, stats.slice(entry.offset, entry.offset + entry.length));
      } else
        out.set(
          e.name,
          Float32Array.of(this.batchesTracked.get(e.name.replace(/\.num_batches_tracked$/, '')) ?? 0),
        );
    }
    return out;
  }

  async readGrads(): Promise<Map<string, Float32Array>> {
    this.checkAlive();
    const grads = await this.gpu.read(this.params.whole('grads'));
    const out = new Map<string, Float32Array>();
    for (const entry of this.params.entries)
      out.set(
        entry.name,
        fromGpuLayout(
          entry.layout,
          entry.officialShape,
          grads.subarray(entry.offset, entry.offset + entry.length),
        ),
      );
    return out;
  }

  get activeBatch(): number {
    return this.graph.batch;
  }

  setBatch(images: Float32Array, mask: CellMask): void {
    this.checkAlive();
    const S = this.size;
    const n = mask.batch;
    // Validate everything first, so that a bad batch changes nothing.
    if (!Number.isInteger(n) || n < 1 || n > this.batch)
      throw new RangeError(
        `The mask covers ${n} images; this model was built for batches of 1 to ${this.batch}.`,
      );
    if (images.length !== n * 3 * S * S)
      throw new RangeError(
        `The images have ${images.length} values; a batch of ${n} images [3, ${S}, ${S}] needs ${n * 3 * S * S}.`,
      );
    const { sites, rasterSites } = this.context;
    const resized = sites.update(mask);
    rasterSites?.update(mask);
    if (resized) {
      // New row counts or batch: new dispatches over the same buffers (src/models/layers/graph.ts).
      this.graph.net.release();
      this.graph = buildGraph(this.context);
    }
    this.gpu.write(this.graph.images, images);
  }

  encodeTrainStep(pass: GPUComputePassEncoder): void {
    this.encodeTrainForward(pass);
    this.encodeTrainBackward(pass);
  }

  encodeTrainForward(pass: GPUComputePassEncoder): void {
    this.checkAlive();
    this.graph.net.encodeTrainForward(pass);
    for (const [name, n] of this.batchesTracked) this.batchesTracked.set(name, n + 1);
  }

  encodeTrainBackward(pass: GPUComputePassEncoder): void {
    this.checkAlive();
    this.graph.net.encodeTrainBackward(pass);
  }

  encodeEval(pass: GPUComputePassEncoder): void {
    this.checkAlive();
    this.graph.net.encodeEval(pass);
  }

  async readSnapshot(): Promise<SparkSnapshot> {
    this.checkAlive();
    const S = this.size;
    const { batch: n, masked, prediction, composite } = this.graph;
    const [loss, maskedData, predictionData, compositeData] = await Promise.all([
      this.gpu.read(this.loss),
      this.gpu.read(masked),
      this.gpu.read(prediction.value),
      this.gpu.read(composite),
    ]);
    const r = totalStride(this.config.backbone);
    const active = featureStrides(this.config.backbone).map((stride) => {
      const set = this.context.sites.set(r / stride);
      const map = new Uint8Array(set.gridIndex.length);
      for (let i = 0; i < map.length; i++) map[i] = set.gridIndex[i] >= 0 ? 1 : 0;
      return { size: set.height, map };
    });
    return {
      loss: loss[0],
      masked: nhwcToNchwHost(maskedData, n, S, S, 3),
      prediction: nhwcToNchwHost(predictionData, n, S, S, 3),
      composite: nhwcToNchwHost(compositeData, n, S, S, 3),
      active,
    };
  }

  /** An activation read back as NCHW; sparse rows are scattered with zeros at masked sites. */
  private async readAct(act: Act): Promise<{ shape: [number, number, number, number]; data: Float32Array }> {
    const layout = act.layout;
    const data = await this.gpu.read(act.value);
    if (layout.kind === 'dense') {
      const { batch, height, width, channels } = layout;
      return {
        shape: [batch, channels, height, width],
        data: nhwcToNchwHost(data, batch, height, width, channels),
      };
    }
    // Sparse rows always follow the mask's sites (the dense-zero encoder's outputs are dense).
    const set = this.context.sites.set(layout.side);
    const nhwc = scatterRows(data, set, layout.channels);
    return {
      shape: [set.batch, layout.channels, set.height, set.width],
      data: nhwcToNchwHost(nhwc, set.batch, set.height, set.width, layout.channels),
    };
  }

  async readFeatures(): Promise<Float32Array[]> {
    this.checkAlive();
    const out: Float32Array[] = [];
    for (const f of this.graph.features) out.push((await this.readAct(f)).data);
    return out;
  }

  get activationNames(): string[] {
    return this.graph.net.layers.filter((l) => l.out).map((l) => l.name);
  }

  async readActivation(
    name: string,
  ): Promise<{ shape: [number, number, number, number]; data: Float32Array }> {
    this.checkAlive();
    const layer = this.graph.net.layers.find((l) => l.name === name && l.out);
    if (!layer?.out)
      throw new Error(`This model has no layer named ${name}; see activationNames for the ones it has.`);
    return this.readAct(layer.out);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.releaseContext(this.context);
  }
}

export function createSparkModel(
  gpu: Gpu,
  config: SparkConfig,
  batch: number,
  options: SparkModelOptions = {},
): SparkGpuModel {
  return new GpuSparkModel(gpu, config, batch, options);
}
