/**
 * The pre-trained encoder run densely: every site visible, the ordinary convnet the paper fine-tunes. It is
 * built from the same layer builders as the SparK model (./models/resnet.ts, ./models/convnext.ts) over
 * raster sites (every pixel a row, NHWC order: the path the dense-zero encoder takes), without the decoder,
 * and ends in global average pooling: pooled[b] = the mean of the last feature map, or of every scale,
 * concatenated largest resolution first ('all').
 *
 *   const encoder = new DenseEncoder(gpu, config, batch, { pool: 'last' });
 *   encoder.loadState(stateOfAnySparkModel);   // encoder names; decoder entries are ignored
 *   encoder.setImages(nchw); gpu.submit('features', (pass) => encoder.encodeEval(pass)); gpu.read(encoder.pooled)
 *
 * Eval mode normalises with each arm's own BatchNorm running statistics (the frozen encoder as it is).
 * With `trainable: true` (fine-tuning, ./finetune.ts) the graph also gets its backward: the caller writes
 * ∂loss/∂pooled into `dpooled`, and `encodeTrainBackward` fills the parameter gradients through the model's
 * own layer backwards (train-mode BatchNorm: batch statistics, running statistics updated).
 */
import { toGpuLayout } from '../engine/layout';
import { Arena } from '../engine/params';
import { globalAvgPool, globalAvgPoolBackward } from '../engine/probe';
import { nchwToNhwc } from '../engine/transpose';
import type { Gpu, GpuTensor } from '../gpu/runtime';
import { featureChannels, type SparkConfig, totalStride, validateSparkConfig } from '../models/config';
import { buildSparseConvNeXt } from '../models/convnext';
import { type Act, ActivationMemory, type Encodable, type Layer, Net } from '../models/layers/graph';
import { ModelSites } from '../models/layers/sites';
import { ENCODER_PREFIX, encoderState, type StateEntry } from '../models/official-names';
import { buildSparseResNet } from '../models/resnet';
import { readArenaState } from '../models/state-readback';

export type PoolScales = 'last' | 'all';

/** Global average pooling of one or more scales into the pooled rows; its backward spreads dpooled back. */
class PoolLayer implements Layer {
  readonly paramNames: string[] = [];
  readonly eval: Encodable[];
  constructor(
    readonly name: string,
    readonly train: Encodable[],
    private readonly backward: () => Encodable[],
  ) {
    this.eval = train;
  }
  buildBackward(): Encodable[] {
    return this.backward();
  }
}

/** Dispatches without parameters or backward (input transpose, pooling). */
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

/** Width of the pooled feature: the last scale's channels, or the sum over scales. */
export function pooledWidth(config: SparkConfig, pool: PoolScales): number {
  const channels = featureChannels(config.backbone);
  return pool === 'last' ? channels[channels.length - 1] : channels.reduce((a, b) => a + b, 0);
}

/**
 * Looks an encoder tensor up by its official SparK name, or by the bare timm name (a weights file of the
 * encoder alone, as the official code exports for fine-tuning).
 */
export function encoderTensor(state: ReadonlyMap<string, ArrayLike<number>>, name: string) {
  return state.get(name) ?? state.get(name.slice(ENCODER_PREFIX.length));
}

export class DenseEncoder {
  readonly params: Arena;
  readonly stats: Arena;
  /** [batch, pooledWidth] pooled features of the last forward. */
  readonly pooled: GpuTensor;
  /** [batch, pooledWidth] ∂loss/∂pooled, written by the caller before `encodeTrainBackward` (trainable only). */
  readonly dpooled: GpuTensor | undefined;
  readonly width: number;
  private readonly entries: StateEntry[];
  private readonly net: Net;
  /** The probe builds its graph once, at its own batch, so its activations are sized by that one build. */
  private readonly memory: ActivationMemory;
  private readonly sites: ModelSites;
  private readonly images: GpuTensor;
  readonly features: Act[];
  private destroyed = false;

  constructor(
    private readonly gpu: Gpu,
    readonly config: SparkConfig,
    readonly batch: number,
    options: { pool?: PoolScales; label?: string; trainable?: boolean } = {},
  ) {
    validateSparkConfig(config);
    if (!Number.isInteger(batch) || batch < 1)
      throw new RangeError(`The probe batch must be a positive integer, got ${batch}.`);
    const label = options.label ?? 'probe.encoder';
    const pool = options.pool ?? 'last';
    const S = config.inputSize;
    const grid = S / totalStride(config.backbone);
    this.entries = encoderState(config);
    this.params = new Arena(`${label}.params`, true);
    this.stats = new Arena(`${label}.stats`, false);
    for (const e of this.entries) {
      if (e.kind === 'param')
        this.params.add(e.name, { officialShape: e.shape, layout: e.layout, decay: e.decay });
      else if (e.dtype === 'F32') this.stats.add(e.name, { officialShape: e.shape });
    }
    this.width = pooledWidth(config, pool);
    const created: { net?: Net; sites?: ModelSites } = {};
    this.memory = new ActivationMemory(gpu);
    try {
      this.params.allocate(gpu);
      this.stats.allocate(gpu);
      // Raster sites ignore the mask's contents; an all-visible mask documents that nothing is hidden.
      const cells = new Uint8Array(batch * grid * grid).fill(1);
      this.sites = new ModelSites(gpu, { batch, gridH: grid, gridW: grid, cells }, `${label}.sites`, true);
      created.sites = this.sites;
      const net = new Net(gpu, this.params, this.stats, label, this.memory);
      created.net = net;
      this.net = net;
      this.images = net.tensor('images', [batch, 3, S, S]);
      const image = net.act('image', { kind: 'dense', batch, height: S, width: S, channels: 3 });
      net.add(
        new FixedOps('input', [
          net.own(nchwToNhwc(gpu, { out: image.value, x: this.images, n: batch, c: 3, h: S, w: S })),
        ]),
      );
      const b = config.backbone;
      this.features =
        b.family === 'resnet'
          ? buildSparseResNet(net, this.sites, b, image)
          : buildSparseConvNeXt(net, this.sites, b, image);
      this.pooled = net.tensor('pooled', [batch, this.width]);
      const dpooled = options.trainable ? net.tensor('dpooled', [batch, this.width]) : undefined;
      this.dpooled = dpooled;
      const scales = pool === 'last' ? [this.features[this.features.length - 1]] : this.features;
      const placed: {
        f: Act;
        shape: { batch: number; hw: number; channels: number; stride: number; offset: number };
      }[] = [];
      let offset = 0;
      for (const f of scales) {
        if (f.layout.kind !== 'dense') throw new Error('The dense encoder produced a sparse feature map.');
        const { height, width, channels } = f.layout;
        placed.push({ f, shape: { batch, hw: height * width, channels, stride: this.width, offset } });
        offset += channels;
      }
      const ops = placed.map(({ f, shape }) =>
        net.own(globalAvgPool(gpu, { out: this.pooled, x: f.value, ...shape })),
      );
      // Only a trainable encoder differentiates: a frozen one would otherwise allocate every backward buffer.
      const backward = () =>
        dpooled
          ? placed.map(({ f, shape }) =>
              net.own(globalAvgPoolBackward(gpu, { dx: f.gradTarget('pool'), dy: dpooled, ...shape })),
            )
          : [];
      net.add(new PoolLayer('pool', ops, backward));
      net.finish();
    } catch (error) {
      created.net?.release();
      this.memory.release();
      created.sites?.release();
      this.params.release(gpu);
      this.stats.release(gpu);
      throw error;
    }
  }

  /**
   * Loads the encoder's parameters and BN statistics from a SparK state (official names; decoder entries
   * are ignored) or an encoder-only state (timm names). Validates everything before writing anything.
   */
  loadState(state: ReadonlyMap<string, ArrayLike<number>>): void {
    this.checkAlive();
    for (const e of this.entries) {
      if (e.kind === 'buffer' && e.dtype !== 'F32') continue;
      const v = encoderTensor(state, e.name);
      if (!v)
        throw new Error(
          `The weights have no encoder tensor ${e.name} (nor ${e.name.slice(ENCODER_PREFIX.length)}).`,
        );
      const n = e.shape.reduce((a, b) => a * b, 1);
      if (v.length !== n)
        throw new Error(`${e.name} has ${v.length} values; its shape [${e.shape}] needs ${n}.`);
    }
    const params = new Float32Array(this.params.size);
    const stats = new Float32Array(Math.max(1, this.stats.size));
    for (const e of this.entries) {
      const v = encoderTensor(state, e.name);
      if (!v) continue;
      if (e.kind === 'param') {
        const entry = this.params.get(e.name);
        params.set(toGpuLayout(entry.layout, entry.officialShape, v), entry.offset);
      } else if (e.dtype === 'F32') stats.set(Float32Array.from(v), this.stats.get(e.name).offset);
    }
    this.gpu.device.queue.writeBuffer(this.params.values, 0, params);
    if (this.stats.size > 0) this.gpu.device.queue.writeBuffer(this.stats.values, 0, stats);
  }

  /** Parameters and BN statistics, official names and layouts (what `loadState` takes back). */
  async exportState(): Promise<Map<string, Float32Array>> {
    this.checkAlive();
    return readArenaState(this.gpu, this.entries, this.params, this.stats);
  }

  /** Uploads a batch of images [batch, 3, S, S] (normalised NCHW). */
  setImages(images: Float32Array): void {
    this.checkAlive();
    const S = this.config.inputSize;
    if (images.length !== this.batch * 3 * S * S)
      throw new RangeError(
        `The images have ${images.length} values; a batch of ${this.batch} images [3, ${S}, ${S}] needs ${this.batch * 3 * S * S}.`,
      );
    this.gpu.write(this.images, images);
  }

  /** Eval-mode forward (running statistics) into `pooled`. */
  encodeEval(pass: GPUComputePassEncoder): void {
    this.checkAlive();
    this.net.encodeEval(pass);
  }

  /** Why this encoder cannot train at its sizes (a layer refuses), if it cannot. */
  get trainRefusal(): string | undefined {
    return this.dpooled ? this.net.trainRefusal : 'This probe encoder was built frozen (trainable: false).';
  }

  /** Train-mode forward (batch statistics; running statistics updated) into `pooled`. */
  encodeTrainForward(pass: GPUComputePassEncoder): void {
    this.checkAlive();
    this.net.encodeTrainForward(pass);
  }

  /** Backward from `dpooled` into the parameter gradients (accumulated: clear them first). */
  encodeTrainBackward(pass: GPUComputePassEncoder): void {
    this.checkAlive();
    if (!this.dpooled) throw new Error('This probe encoder was built frozen (trainable: false).');
    this.net.encodeTrainBackward(pass);
  }

  private checkAlive(): void {
    if (this.destroyed) throw new Error('This probe encoder was destroyed; create a new one.');
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.net.release();
    this.memory.release();
    this.sites.release();
    this.params.release(this.gpu);
    this.stats.release(this.gpu);
  }
}
