/**
 * The GPU SparK model (contract in ./spark-model.ts). Built once per (config, built batch): arenas, activation
 * buffers and site buffers, all sized for the worst case (the built batch with every cell visible); then a
 * graph of prepared dispatches for the current batch and visible-cell count (./spark-graph.ts), rebuilt over
 * the same buffers only when a mask changes those sizes (never during training with random masks, which
 * keep len_keep). This file holds what surrounds the graph: state in and out, uploads, read-backs.
 *
 * Memory: one buffer per activation, per gradient contribution and per saved statistic (./layers/graph.ts
 * ActivationMemory), reused by every step and every rebuild; what each layer keeps for its backward is
 * documented in ./layers/.
 */
import { fromGpuLayout, toGpuLayout } from '../engine/layout';
import { Arena } from '../engine/params';
import type { Gpu, GpuTensor } from '../gpu/runtime';
import type { CellMask } from '../sparse/mask';
import { scatterRows } from '../sparse/sites';
import { SparkLoss } from '../train/loss';
import { featureStrides, type SparkConfig, totalStride, validateSparkConfig } from './config';
import { dropPathFactors, dropPathRates } from './drop-path';
import { officialInitialState } from './init';
import { type Act, ActivationMemory } from './layers/graph';
import { DenseMasking } from './layers/masked';
import { ModelSites } from './layers/sites';
import { type StateEntry, sparkState } from './official-names';
import type { SparkGpuModel, SparkModelOptions, SparkSnapshot, SparkStateValues } from './spark-contract';
import { allVisibleMask, buildGraph, type GraphContext, type SparkGraph } from './spark-graph';
import { SplitArena } from './split-arena';
import { readArenaState } from './state-readback';

function nhwcToNchwHost(data: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < c; ch++)
          out[((b * c + ch) * h + y) * w + x] = data[((b * h + y) * w + x) * c + ch];
  return out;
}

/** The most bytes one buffer may hold and be bound whole on this device. */
export function bindableBytes(gpu: Gpu): number {
  const { maxStorageBufferBindingSize, maxBufferSize } = gpu.device.limits;
  return Math.min(Number(maxStorageBufferBindingSize), Number(maxBufferSize));
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
  /** Whether this batch's drop-path factors were written (`setDropPath`); only asked when drop path is on. */
  private dropPathReady = false;

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
    this.params = options.evalOnly
      ? new SplitArena(`${label}.params`, options.maxBufferBytes ?? bindableBytes(gpu))
      : new Arena(`${label}.params`, true);
    this.stats = new Arena(`${label}.stats`, false);
    for (const e of this.entries) {
      if (e.kind === 'param')
        this.params.add(e.name, { officialShape: e.shape, layout: e.layout, decay: e.decay });
      else if (e.dtype === 'F32') this.stats.add(e.name, { officialShape: e.shape });
      else this.batchesTracked.set(e.name.replace(/\.num_batches_tracked$/, ''), 0);
    }
    const context: Partial<GraphContext> = {
      gpu,
      config,
      label,
      params: this.params,
      stats: this.stats,
      evalOnly: options.evalOnly
        ? 'This model was opened for viewing only (no gradients or optimizer state); start a run from the checkpoint to train it.'
        : undefined,
    };
    // Anything that fails while building (a shape a kernel refuses, an out-of-memory) releases what exists.
    try {
      this.params.allocate(gpu);
      this.stats.allocate(gpu);
      // The first build, on the all-visible mask of the built batch, sizes every buffer for the worst case.
      const worst = allVisibleMask(batch, grid);
      context.memory = new ActivationMemory(gpu);
      context.sites = new ModelSites(gpu, worst, label);
      context.rasterSites =
        config.encoder !== 'sparse' ? new ModelSites(gpu, worst, `${label}.dense`, true) : null;
      context.masking =
        config.encoder === 'dense-masked' ? new DenseMasking(gpu, context.sites, `${label}.masking`) : null;
      context.lossStorage = gpu.tensor(`${label}.loss`, [SparkLoss.statsLength(batch, grid)]);
      const rates = dropPathRates(config);
      if (rates.some((rate) => rate > 0))
        context.dropPath = {
          rates,
          factors: gpu.upload(`${label}.drop_path`, new Float32Array(rates.length * batch).fill(1)),
          ones: gpu.upload(`${label}.drop_path.eval`, new Float32Array(batch).fill(1)),
          stride: batch,
        };
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
    context.masking?.release();
    if (context.lossStorage) this.gpu.releaseTensor(context.lossStorage);
    if (context.dropPath) {
      this.gpu.releaseTensor(context.dropPath.factors);
      this.gpu.releaseTensor(context.dropPath.ones);
    }
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
    if (this.params instanceof SplitArena) this.params.upload(this.gpu, params);
    else this.gpu.device.queue.writeBuffer(this.params.values, 0, params);
    if (this.stats.size > 0) this.gpu.device.queue.writeBuffer(this.stats.values, 0, stats);
  }

  async exportState(): Promise<Map<string, Float32Array>> {
    this.checkAlive();
    return readArenaState(this.gpu, this.entries, this.params, this.stats, (e) =>
      Float32Array.of(this.batchesTracked.get(e.name.replace(/\.num_batches_tracked$/, '')) ?? 0),
    );
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
    const { sites, rasterSites, masking } = this.context;
    const resized = sites.update(mask);
    rasterSites?.update(mask);
    masking?.update();
    if (resized) {
      // New row counts or batch: new dispatches over the same buffers (src/models/layers/graph.ts).
      this.graph.net.release();
      this.graph = buildGraph(this.context);
    }
    this.gpu.write(this.graph.images, images);
    this.dropPathReady = false;
  }

  setDropPath(seed: number, step: number): void {
    this.checkAlive();
    const plan = this.context.dropPath;
    if (!plan) return;
    this.gpu.write(plan.factors, dropPathFactors(plan.rates, this.graph.batch, seed, step, plan.stride));
    this.dropPathReady = true;
  }

  encodeTrainStep(pass: GPUComputePassEncoder): void {
    this.encodeTrainForward(pass);
    this.encodeTrainBackward(pass);
  }

  encodeTrainForward(pass: GPUComputePassEncoder): void {
    this.checkAlive();
    if (this.context.dropPath && !this.dropPathReady)
      throw new Error(
        'This model drops residual paths in training: call setDropPath(seed, step) after setBatch and before each train step.',
      );
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
    const { batch: n, masked, prediction, composite, drawComposite } = this.graph;
    // Training steps do not draw the composite; it is drawn here from the last prediction (after an eval
    // pass, which does draw it, this redraws the same picture).
    this.gpu.submit('composite', (pass) => drawComposite.encode(pass));
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
    // Sparse rows always follow the mask's sites (the dense encoders' outputs are dense).
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
