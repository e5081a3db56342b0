/**
 * The GPU SparK model (contract in ./spark-model.ts). Built once per (config, batch): arenas, activations,
 * site maps and every dispatch; a step only rewrites buffer contents and records dispatches.
 *
 *   images NCHW ─transpose→ NHWC ─gather→ visible rows (full-resolution scale)
 *   → sparse encoder (./resnet.ts, ./convnext.ts) → features, largest first
 *   → densify per scale, smallest first (./decoder.ts) → LightDecoder → prediction NHWC
 *   → SparK loss (+ composite for the visualisation), then the backward of all of it in reverse.
 *
 * Memory: one tensor per activation, per gradient contribution and per saved statistic, allocated here and
 * reused by every step; what each layer keeps for its backward is documented in ./layers/.
 */

import { densifyForward } from '../engine/densify';
import { fromGpuLayout, toGpuLayout } from '../engine/layout';
import { Arena } from '../engine/params';
import { nchwToNhwc } from '../engine/transpose';
import type { Gpu, GpuTensor } from '../gpu/runtime';
import { type CellMask, lenKeep } from '../sparse/mask';
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
import { type Act, type Encodable, type Layer, Net } from './layers/graph';
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

/** The first `keep` cells of every image visible: a mask of the right shape to build the buffers with. */
function canonicalMask(batch: number, grid: number, keep: number): CellMask {
  const cells = new Uint8Array(batch * grid * grid);
  for (let b = 0; b < batch; b++) cells.fill(1, b * grid * grid, b * grid * grid + keep);
  return { batch, gridH: grid, gridW: grid, cells };
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

class GpuSparkModel implements SparkGpuModel {
  readonly params: Arena;
  readonly stats: Arena;
  readonly batchesTracked = new Map<string, number>();
  readonly loss: GpuTensor;
  readonly unusedParams: ReadonlySet<string>;
  private readonly entries: StateEntry[];
  private readonly sites: ModelSites;
  /** The encoder's sites: the mask's (sparse) or every pixel in NHWC order (dense-zero). */
  private readonly encoderSites: ModelSites;
  private readonly net: Net;
  private readonly size: number;
  private readonly images: GpuTensor;
  private readonly imageNhwc: GpuTensor;
  private readonly masked: GpuTensor;
  private readonly composite: GpuTensor;
  private readonly prediction: Act;
  private readonly features: Act[];
  private readonly sparkLoss: SparkLoss;
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
    const r = totalStride(config.backbone);
    const grid = S / r;
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
    const keep = lenKeep(grid, grid, config.maskRatio);
    // Training BN (PyTorch too) needs two values per channel; the coarsest sparse BN sees B·len_keep rows.
    if (batch * keep < 2 && (config.densifyNorm === 'bn' || config.backbone.family === 'resnet'))
      throw new RangeError(
        `With a batch of ${batch} and ${keep} visible cell per image, the coarsest BatchNorm sees a single value per channel; use a batch of at least 2 or a lower mask ratio.`,
      );
    // Anything that fails while building (a shape a kernel refuses, an out-of-memory) releases what exists.
    try {
      this.params.allocate(gpu);
      this.stats.allocate(gpu);

      this.sites = new ModelSites(gpu, canonicalMask(batch, grid, keep), label);
      const net = new Net(gpu, this.params, this.stats, label);
      this.net = net;
      const sites = this.sites;

      this.images = net.tensor('images', [batch, 3, S, S]);
      const image = net.act('image', { kind: 'dense', batch, height: S, width: S, channels: 3 });
      this.imageNhwc = image.value;
      net.add(
        new FixedOps('input', [
          net.own(nchwToNhwc(gpu, { out: image.value, x: this.images, n: batch, c: 3, h: S, w: S })),
        ]),
      );
      const rows = net.add(new GatherRows(net, 'image_rows', image, sites, r)).out;
      this.masked = net.tensor('masked', [batch, S, S, 3]);
      const dims = { batch, height: S, width: S, channels: 3 };
      net.add(
        new FixedOps('masked', [
          net.own(densifyForward(gpu, dims, this.masked, rows.value, sites.gridIndex(r), null)),
        ]),
      );

      // Dense-zero baseline: the same builders on the zero-filled NHWC image pick the dense conv kernels;
      // nothing is re-masked and BN counts every position, as a dense CNN would. Its max-pool runs the pooling
      // kernel over raster "sites" (every pixel, NHWC order), which do not depend on the mask.
      const dense = config.encoder === 'dense-zero';
      this.encoderSites = dense ? new ModelSites(gpu, sites.current, `${label}.dense`, true) : sites;
      const encoderInput = dense ? net.wrap(this.masked, { kind: 'dense', ...dims }) : rows;
      const b = config.backbone;
      this.features =
        b.family === 'resnet'
          ? buildSparseResNet(net, this.encoderSites, b, encoderInput)
          : buildSparseConvNeXt(net, this.encoderSites, b, encoderInput);
      const strides = featureStrides(b);
      this.features.forEach((f, i) => {
        const layout = f.layout;
        const atStride =
          layout.kind === 'sparse' ? layout.side === r / strides[i] : layout.height === S / strides[i];
        if (!atStride || layout.kind !== (dense ? 'dense' : 'sparse'))
          throw new Error(`Encoder feature ${i} is not at stride ${strides[i]}.`);
      });
      const widths = densifyInputChannels(config);
      // Densify norms take statistics over the active sites in both modes (the official densify is sparse).
      const smallestFirst = [...this.features]
        .reverse()
        .map((f, i) =>
          dense
            ? net.add(new GatherRows(net, `densify_gather.${i}`, f, sites, (r * f.value.shape[1]) / S)).out
            : f,
        );
      smallestFirst.forEach((f, i) => {
        if (f.channels !== widths[i])
          throw new Error(`Scale ${i} has ${f.channels} channels, expected ${widths[i]}.`);
      });
      const norm =
        config.densifyNorm === 'bn' ? sparseBatchNorm : config.densifyNorm === 'ln' ? sparseLayerNorm : null;
      const toDecoder = buildDensify(net, sites, config, smallestFirst, norm);
      this.prediction = buildLightDecoder(net, config, toDecoder);

      this.sparkLoss = new SparkLoss(gpu, {
        batch,
        size: S,
        patch: r,
        normalizeTarget: config.lossTarget === 'patch-norm',
        maskedOnly: config.lossOn === 'masked',
      });
      this.loss = this.sparkLoss.loss;
      this.composite = net.tensor('composite', [batch, S, S, 3]);
      net.add(
        new LossLayer(net, this.sparkLoss, this.imageNhwc, this.prediction, sites.cells, this.composite),
      );
      net.finish();
      this.unusedParams = net.unusedParams;
    } catch (error) {
      this.destroyPartial();
      throw error;
    }
  }

  /** Releases whatever a failed constructor had created (fields may be unset). */
  private destroyPartial(): void {
    const self = this as unknown as {
      net?: Net;
      sites?: ModelSites;
      encoderSites?: ModelSites;
      sparkLoss?: SparkLoss;
    };
    self.net?.release();
    self.sites?.release();
    if (self.encoderSites && self.encoderSites !== self.sites) self.encoderSites.release();
    self.sparkLoss?.release();
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

  setBatch(images: Float32Array, mask: CellMask): void {
    this.checkAlive();
    const S = this.size;
    if (images.length !== this.batch * 3 * S * S)
      throw new RangeError(
        `The images have ${images.length} values; a batch of ${this.batch} images [3, ${S}, ${S}] needs ${this.batch * 3 * S * S}.`,
      );
    this.sites.update(mask);
    if (this.encoderSites !== this.sites) this.encoderSites.update(mask);
    this.gpu.write(this.images, images);
  }

  encodeTrainStep(pass: GPUComputePassEncoder): void {
    this.encodeTrainForward(pass);
    this.encodeTrainBackward(pass);
  }

  encodeTrainForward(pass: GPUComputePassEncoder): void {
    this.checkAlive();
    this.net.encodeTrainForward(pass);
    for (const [name, n] of this.batchesTracked) this.batchesTracked.set(name, n + 1);
  }

  encodeTrainBackward(pass: GPUComputePassEncoder): void {
    this.checkAlive();
    this.net.encodeTrainBackward(pass);
  }

  encodeEval(pass: GPUComputePassEncoder): void {
    this.checkAlive();
    this.net.encodeEval(pass);
  }

  async readSnapshot(): Promise<SparkSnapshot> {
    this.checkAlive();
    const S = this.size;
    const n = this.batch;
    const [loss, masked, prediction, composite] = await Promise.all([
      this.gpu.read(this.loss),
      this.gpu.read(this.masked),
      this.gpu.read(this.prediction.value),
      this.gpu.read(this.composite),
    ]);
    const r = totalStride(this.config.backbone);
    const active = featureStrides(this.config.backbone).map((stride) => {
      const set = this.sites.set(r / stride);
      const map = new Uint8Array(set.gridIndex.length);
      for (let i = 0; i < map.length; i++) map[i] = set.gridIndex[i] >= 0 ? 1 : 0;
      return { size: set.height, map };
    });
    return {
      loss: loss[0],
      masked: nhwcToNchwHost(masked, n, S, S, 3),
      prediction: nhwcToNchwHost(prediction, n, S, S, 3),
      composite: nhwcToNchwHost(composite, n, S, S, 3),
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
    // Rows of the encoder's scales come from its site set; the densify gathers use the mask's.
    const sites = this.encoderSites.rows(layout.side) === layout.rows ? this.encoderSites : this.sites;
    const set = sites.set(layout.side);
    const nhwc = scatterRows(data, set, layout.channels);
    return {
      shape: [set.batch, layout.channels, set.height, set.width],
      data: nhwcToNchwHost(nhwc, set.batch, set.height, set.width, layout.channels),
    };
  }

  async readFeatures(): Promise<Float32Array[]> {
    this.checkAlive();
    const out: Float32Array[] = [];
    for (const f of this.features) out.push((await this.readAct(f)).data);
    return out;
  }

  get activationNames(): string[] {
    return this.net.layers.filter((l) => l.out).map((l) => l.name);
  }

  async readActivation(
    name: string,
  ): Promise<{ shape: [number, number, number, number]; data: Float32Array }> {
    this.checkAlive();
    const layer = this.net.layers.find((l) => l.name === name && l.out);
    if (!layer?.out)
      throw new Error(`This model has no layer named ${name}; see activationNames for the ones it has.`);
    return this.readAct(layer.out);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.net.release();
    this.sites.release();
    if (this.encoderSites !== this.sites) this.encoderSites.release();
    this.sparkLoss.release();
    this.params.release(this.gpu);
    this.stats.release(this.gpu);
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
