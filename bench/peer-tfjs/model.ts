/**
 * The SparK model written with TensorFlow.js, computing what the official PyTorch code computes (the peer of
 * SparkLab's hand-written kernels in the peer benchmark, bench/peer-tfjs.ts):
 *
 *   masked = input · mask↑                       mask↑ = the cell mask upsampled to each resolution
 *   encoder: dense convs on the full grid, re-masked after every conv and pool; BatchNorm statistics over
 *            the visible positions only (ResNet), LayerNorm per visible position (ConvNeXt), zeros elsewhere
 *   densify per scale, smallest first: norm → visible ? x : mask token → projection
 *   LightDecoder: block i: x += to_dec[i]; ConvT 4×4/s2 → conv3×3 → BN → ReLU6 → conv3×3 → BN; 1×1 projection
 *   loss: per-patch normalised target, per-patch MSE averaged over the masked patches
 *
 * Tensors are NHWC (TensorFlow.js's native layout); parameters are loaded from the official-layout state
 * (src/models/official-names.ts) that SparkLab's model reads back, so both start from the same numbers.
 * The caller chooses the backend (WebGPU in the page, CPU in the Node test).
 */
// The umbrella package: tfjs-core alone registers neither gradients nor the chained tensor methods, and deep
// imports of them would load a second copy of the engine under Node (the core's main entry is CommonJS).
import * as tf from '@tensorflow/tfjs';
import {
  type ConvNeXtConfig,
  decoderBlockCount,
  densifyInputChannels,
  densifyProjIsIdentity,
  type ResNetConfig,
  type SparkConfig,
  totalStride,
} from '../../src/models/config';
import { ENCODER_PREFIX, sparkState } from '../../src/models/official-names';

const BN_EPS = 1e-5;
const BN_MOMENTUM = 0.1;
const LN_EPS = 1e-6;

/** One trainable tensor: its variable (TF.js layout) and whether LAMB decays it (the official groups). */
export interface PeerParam {
  name: string;
  variable: tf.Variable;
  decay: boolean;
}

/** Official [out, in, kh, kw] → TF.js conv filter [kh, kw, in, out]. */
function convFilter(values: Float32Array, shape: number[]): tf.Tensor {
  return tf.tidy(() =>
    tf.tensor4d(values, shape as [number, number, number, number]).transpose([2, 3, 1, 0]),
  );
}

/** The official tensor in the layout this model uses (see each case). */
function toPeerLayout(name: string, shape: number[], values: Float32Array): tf.Tensor {
  if (name.includes('up_sample.weight'))
    // ConvTranspose2d [in, out, kh, kw] → conv2dTranspose filter [kh, kw, out, in].
    return tf.tidy(() =>
      tf.tensor4d(values, shape as [number, number, number, number]).transpose([2, 3, 1, 0]),
    );
  if (name.endsWith('dwconv.weight'))
    // Depthwise [C, 1, kh, kw] → depthwiseConv2d filter [kh, kw, C, 1].
    return tf.tidy(() =>
      tf.tensor4d(values, shape as [number, number, number, number]).transpose([2, 3, 0, 1]),
    );
  if (shape.length === 4 && !name.startsWith('mask_tokens')) return convFilter(values, shape);
  // Linear [out, in] → matMul operand [in, out].
  if (shape.length === 2) return tf.tidy(() => tf.tensor2d(values, shape as [number, number]).transpose());
  // Mask tokens [1, C, 1, 1] and every vector: a flat [C] broadcast over the channel axis.
  return tf.tensor1d(values);
}

/** The official layout of a TF.js-layout tensor (for reading gradients and the state back). */
function toOfficialLayout(name: string, shape: number[], t: tf.Tensor): tf.Tensor {
  if (name.includes('up_sample.weight')) return t.transpose([3, 2, 0, 1]);
  if (name.endsWith('dwconv.weight')) return t.transpose([2, 3, 0, 1]);
  if (shape.length === 4 && !name.startsWith('mask_tokens')) return t.transpose([3, 2, 0, 1]);
  if (shape.length === 2) return t.transpose();
  return t.clone();
}

/**
 * Σ of many scalars in addN groups of at most 6: the WebGPU backend gives addN one storage buffer per input
 * and fails (pipeline validation) beyond the adapter's per-stage limit, 8 on many adapters.
 */
function sumScalars(values: tf.Tensor[]): tf.Tensor {
  let level = values;
  while (level.length > 1) {
    const next: tf.Tensor[] = [];
    for (let i = 0; i < level.length; i += 6) {
      const group = level.slice(i, i + 6);
      next.push(group.length === 1 ? group[0] : tf.addN(group));
    }
    level = next;
  }
  return level[0];
}

/** What one training forward produced besides the loss: the batch statistics for the running averages. */
interface BatchStats {
  name: string;
  mean: tf.Tensor;
  /** Unbiased variance (PyTorch's running_var update). */
  variance: tf.Tensor;
}

export interface PeerStep {
  /** The scalar loss of this step's forward (kept; dispose it when read). */
  loss: tf.Scalar;
}

/** LAMB settings, as SparkLab's trainer (src/train/optim.ts, the official timm-0.5.4 copy). */
export interface PeerLambSettings {
  lr: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  maxGradNorm: number;
}

export class TfjsSparkModel {
  readonly params = new Map<string, PeerParam>();
  /** BN running statistics (not trained): running_mean / running_var per BN name. */
  readonly runningMean = new Map<string, tf.Variable>();
  readonly runningVar = new Map<string, tf.Variable>();
  private readonly expAvg = new Map<string, tf.Variable>();
  private readonly expAvgSq = new Map<string, tf.Variable>();
  private steps = 0;
  private readonly r: number;
  private readonly grid: number;
  private stats: BatchStats[] = [];
  /** Mask tensors of the current step per resolution (made inside the step's tidy). */
  private masks = new Map<number, tf.Tensor>();
  private cells: tf.Tensor | null = null;
  /** Variable name → parameter (variable names are unique per process, so each model has its own prefix). */
  private readonly byVariable = new Map<string, PeerParam>();
  private static instances = 0;

  constructor(
    readonly config: SparkConfig,
    state: ReadonlyMap<string, Float32Array>,
  ) {
    this.r = totalStride(config.backbone);
    this.grid = config.inputSize / this.r;
    const prefix = `peer${TfjsSparkModel.instances++}`;
    for (const e of sparkState(config)) {
      const v = state.get(e.name);
      if (!v) throw new Error(`The state has no tensor named ${e.name}.`);
      if (e.kind === 'param') {
        const t = toPeerLayout(e.name, e.shape, v);
        const param = { name: e.name, variable: tf.variable(t, true, `${prefix}.${e.name}`), decay: e.decay };
        this.params.set(e.name, param);
        this.byVariable.set(param.variable.name, param);
        t.dispose();
      } else if (e.name.endsWith('.running_mean'))
        this.runningMean.set(e.name.slice(0, -13), tf.variable(tf.tensor1d(v), false));
      else if (e.name.endsWith('.running_var'))
        this.runningVar.set(e.name.slice(0, -12), tf.variable(tf.tensor1d(v), false));
    }
  }

  /** Parameters and running statistics in the official layout (num_batches_tracked is not kept). */
  async readState(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const e of sparkState(this.config)) {
      let t: tf.Tensor | undefined;
      if (e.kind === 'param') t = toOfficialLayout(e.name, e.shape, this.p(e.name));
      else if (e.name.endsWith('.running_mean')) t = this.runningMean.get(e.name.slice(0, -13))?.clone();
      else if (e.name.endsWith('.running_var')) t = this.runningVar.get(e.name.slice(0, -12))?.clone();
      if (!t) continue;
      out.set(e.name, (await t.data()) as Float32Array);
      t.dispose();
    }
    return out;
  }

  private p(name: string): tf.Variable {
    const param = this.params.get(name);
    if (!param) throw new Error(`The TF.js SparK model has no parameter named ${name}.`);
    return param.variable;
  }

  /** The cell mask upsampled to a `size`×`size` map, [B, size, size, 1] (1 = visible), made once per step. */
  private maskAt(size: number): tf.Tensor {
    let m = this.masks.get(size);
    if (!m) {
      const cells = this.cells!;
      const f = size / this.grid;
      const b = cells.shape[0];
      m =
        f === 1
          ? cells
          : cells
              .reshape([b, this.grid, 1, this.grid, 1, 1])
              .tile([1, 1, f, 1, f, 1])
              .reshape([b, size, size, 1]);
      this.masks.set(size, m);
    }
    return m;
  }

  private remask(x: tf.Tensor4D): tf.Tensor4D {
    return x.mul(this.maskAt(x.shape[1])) as tf.Tensor4D;
  }

  private conv(
    x: tf.Tensor4D,
    name: string,
    o: { stride: number; pad: number; bias: boolean; depthwise?: boolean },
  ): tf.Tensor4D {
    const w = this.p(`${name}.weight`) as tf.Tensor4D;
    let y = o.depthwise
      ? tf.depthwiseConv2d(x, w, o.stride, o.pad)
      : tf.conv2d(x, w, o.stride, o.pad === 0 ? 'valid' : o.pad);
    if (o.bias) y = y.add(this.p(`${name}.bias`));
    return y;
  }

  /** BatchNorm in train mode; statistics over the visible positions of `mask` (all positions when null). */
  private batchNorm(x: tf.Tensor4D, name: string, mask: tf.Tensor | null): tf.Tensor4D {
    const gamma = this.p(`${name}.weight`);
    const beta = this.p(`${name}.bias`);
    let mean: tf.Tensor;
    let variance: tf.Tensor;
    let count: tf.Tensor | number;
    let centred: tf.Tensor;
    if (mask) {
      count = mask.sum();
      mean = x.mul(mask).sum([0, 1, 2]).div(count);
      centred = x.sub(mean).mul(mask);
      variance = centred.square().sum([0, 1, 2]).div(count);
    } else {
      count = x.shape[0] * x.shape[1] * x.shape[2];
      const moments = tf.moments(x, [0, 1, 2]);
      mean = moments.mean;
      variance = moments.variance;
      centred = x.sub(mean);
    }
    const unbiased =
      typeof count === 'number'
        ? variance.mul(count / Math.max(1, count - 1))
        : variance.mul(count).div(tf.maximum(count.sub(1), 1));
    // Kept past the gradient computation's own tidy: the step updates the running averages with them.
    this.stats.push({ name, mean: tf.keep(mean), variance: tf.keep(unbiased) });
    const y = centred.mul(variance.add(BN_EPS).rsqrt()).mul(gamma).add(beta);
    return (mask ? y.mul(mask) : y) as tf.Tensor4D;
  }

  /** LayerNorm over the channels of every visible position (zeros at masked ones). */
  private layerNorm(x: tf.Tensor4D, name: string, mask: tf.Tensor): tf.Tensor4D {
    const { mean, variance } = tf.moments(x, -1, true);
    const y = x
      .sub(mean)
      .mul(variance.add(LN_EPS).rsqrt())
      .mul(this.p(`${name}.weight`))
      .add(this.p(`${name}.bias`));
    return y.mul(mask) as tf.Tensor4D;
  }

  /** Linear over channels: [B, H, W, Cin] · [Cin, Cout] + b. */
  private linear(x: tf.Tensor4D, name: string): tf.Tensor4D {
    const [b, h, w, c] = x.shape;
    const w2 = this.p(`${name}.weight`) as tf.Tensor2D;
    const y = tf.matMul(x.reshape([b * h * w, c]), w2).add(this.p(`${name}.bias`));
    return y.reshape([b, h, w, w2.shape[1]]);
  }

  private encodeResNet(x: tf.Tensor4D, b: ResNetConfig): tf.Tensor4D[] {
    const p = ENCODER_PREFIX;
    const convBn = (input: tf.Tensor4D, conv: string, bn: string, k: number, stride: number) => {
      const y = this.remask(this.conv(input, conv, { stride, pad: Math.floor(k / 2), bias: false }));
      return this.batchNorm(y, bn, this.maskAt(y.shape[1]));
    };
    x = tf.relu(convBn(x, `${p}conv1`, `${p}bn1`, b.stemKernel, b.stemStride));
    if (b.maxpool) {
      // 3×3/s2/p1: after ReLU every value is ≥ 0, so zero padding gives PyTorch's −∞-padded maximum.
      x = tf.maxPool(
        tf.pad(x, [
          [0, 0],
          [1, 1],
          [1, 1],
          [0, 0],
        ]),
        3,
        2,
        'valid',
      );
      x = this.remask(x);
    }
    const expansion = b.block === 'bottleneck' ? 4 : 1;
    let inplanes = b.stemWidth;
    const features: tf.Tensor4D[] = [];
    b.widths.forEach((planes, i) => {
      for (let j = 0; j < b.depths[i]; j++) {
        const q = `${p}layer${i + 1}.${j}.`;
        const stride = j === 0 ? b.stageStrides[i] : 1;
        const out = planes * expansion;
        let y: tf.Tensor4D;
        if (b.block === 'basic') {
          y = tf.relu(convBn(x, `${q}conv1`, `${q}bn1`, 3, stride));
          y = convBn(y, `${q}conv2`, `${q}bn2`, 3, 1);
        } else {
          y = tf.relu(convBn(x, `${q}conv1`, `${q}bn1`, 1, 1));
          y = tf.relu(convBn(y, `${q}conv2`, `${q}bn2`, 3, stride));
          y = convBn(y, `${q}conv3`, `${q}bn3`, 1, 1);
        }
        const shortcut =
          stride !== 1 || inplanes !== out ? convBn(x, `${q}downsample.0`, `${q}downsample.1`, 1, stride) : x;
        x = tf.relu(y.add<tf.Tensor4D>(shortcut));
        inplanes = out;
      }
      features.push(x);
    });
    return features;
  }

  private encodeConvNeXt(x: tf.Tensor4D, b: ConvNeXtConfig): tf.Tensor4D[] {
    const p = ENCODER_PREFIX;
    const features: tf.Tensor4D[] = [];
    b.dims.forEach((dim, i) => {
      if (i === 0) {
        x = this.remask(this.conv(x, `${p}downsample_layers.0.0`, { stride: 4, pad: 0, bias: true }));
        x = this.layerNorm(x, `${p}downsample_layers.0.1`, this.maskAt(x.shape[1]));
      } else {
        x = this.layerNorm(x, `${p}downsample_layers.${i}.0`, this.maskAt(x.shape[1]));
        x = this.remask(this.conv(x, `${p}downsample_layers.${i}.1`, { stride: 2, pad: 0, bias: true }));
      }
      for (let j = 0; j < b.depths[i]; j++) {
        const q = `${p}stages.${i}.${j}.`;
        const mask = this.maskAt(x.shape[1]);
        let y = this.remask(this.conv(x, `${q}dwconv`, { stride: 1, pad: 3, bias: true, depthwise: true }));
        y = this.layerNorm(y, `${q}norm`, mask);
        y = this.linear(y, `${q}pwconv1`);
        // Exact (erf) GELU, as nn.GELU; dim is unused but keeps the stage width visible to the reader.
        y = y.mul(tf.erf(y.mul(Math.SQRT1_2)).add(1)).mul(0.5);
        y = this.linear(y, `${q}pwconv2`);
        y = y.mul(this.p(`${q}gamma`)).mul(mask) as tf.Tensor4D;
        x = x.add(y);
        if (y.shape[3] !== dim) throw new Error(`${q}: expected ${dim} channels.`);
      }
      features.push(x);
    });
    return features;
  }

  private densify(smallestFirst: tf.Tensor4D[]): tf.Tensor4D[] {
    const widths = densifyInputChannels(this.config);
    return smallestFirst.map((feature, i) => {
      if (feature.shape[3] !== widths[i])
        throw new Error(`Scale ${i} has ${feature.shape[3]} channels, expected ${widths[i]}.`);
      const mask = this.maskAt(feature.shape[1]);
      let x = feature;
      if (this.config.densifyNorm === 'bn') x = this.batchNorm(x, `densify_norms.${i}`, mask);
      else if (this.config.densifyNorm === 'ln') x = this.layerNorm(x, `densify_norms.${i}`, mask);
      else x = x.mul(mask);
      // x is zero at masked positions: adding (1 − visible)·token is where(visible, x, token).
      if (this.config.maskToken === 'learned') x = x.add(tf.sub(1, mask).mul(this.p(`mask_tokens.${i}`)));
      if (!densifyProjIsIdentity(this.config, i)) {
        const k = i === 0 ? 1 : 3;
        x = this.conv(x, `densify_projs.${i}`, { stride: 1, pad: Math.floor(k / 2), bias: true });
      }
      return x;
    });
  }

  private decode(toDecoder: tf.Tensor4D[]): tf.Tensor4D {
    const blocks = decoderBlockCount(this.config);
    let x: tf.Tensor4D | null = null;
    for (let i = 0; i < blocks; i++) {
      const fed =
        i < toDecoder.length && (i === 0 || this.config.decoderInputs === 'all') ? toDecoder[i] : null;
      if (fed) x = x ? x.add<tf.Tensor4D>(fed) : fed;
      if (!x) throw new Error('The decoder has no input at its first block.');
      const q = `dense_decoder.dec.${i}.`;
      const [b, h, w, c] = x.shape;
      x = tf
        .conv2dTranspose(x, this.p(`${q}up_sample.weight`) as tf.Tensor4D, [b, 2 * h, 2 * w, c], 2, 'same')
        .add(this.p(`${q}up_sample.bias`)) as tf.Tensor4D;
      x = this.conv(x, `${q}conv.0`, { stride: 1, pad: 1, bias: false });
      x = tf.clipByValue(this.batchNorm(x, `${q}conv.1`, null), 0, 6);
      x = this.conv(x, `${q}conv.3`, { stride: 1, pad: 1, bias: false });
      x = this.batchNorm(x, `${q}conv.4`, null);
    }
    return this.conv(x!, 'dense_decoder.proj', { stride: 1, pad: 0, bias: true });
  }

  /** The SparK loss of `rec` against `image` (both [B, S, S, 3]) with the current cell mask. */
  private loss(rec: tf.Tensor4D, image: tf.Tensor4D): tf.Scalar {
    const [b, s] = image.shape;
    const g = this.grid;
    const r = this.r;
    const patches = (t: tf.Tensor4D) =>
      t
        .reshape([b, g, r, g, r, 3])
        .transpose([0, 1, 3, 2, 4, 5])
        .reshape([b * g * g, r * r * 3]);
    let target = patches(image);
    const n = r * r * 3;
    if (this.config.lossTarget === 'patch-norm') {
      const { mean, variance } = tf.moments(target, -1, true);
      // Unbiased variance, as torch.var: the official target is (x − μ) / √(var + 1e-6).
      target = target.sub(mean).div(
        variance
          .mul(n / (n - 1))
          .add(1e-6)
          .sqrt(),
      );
    }
    if (s !== g * r) throw new Error('The image size is not a multiple of the patch size.');
    const perPatch = patches(rec).sub(target).square().mean(-1);
    const weights =
      this.config.lossOn === 'masked' ? tf.sub(1, this.cells!.reshape([b * g * g])) : tf.onesLike(perPatch);
    return perPatch.mul(weights).sum().div(weights.sum().add(1e-8)) as tf.Scalar;
  }

  /**
   * The training forward on NCHW images [B, 3, S, S] and the cell mask [B, g, g] (1 = visible): the loss
   * tensor. The batch statistics land in `this.stats` for the running averages.
   */
  private forward(imagesNchw: tf.Tensor4D): tf.Scalar {
    this.masks = new Map();
    this.releaseStats();
    const image = imagesNchw.transpose([0, 2, 3, 1]) as tf.Tensor4D;
    const masked = this.remask(image);
    const b = this.config.backbone;
    const features = b.family === 'resnet' ? this.encodeResNet(masked, b) : this.encodeConvNeXt(masked, b);
    const toDecoder = this.densify([...features].reverse());
    return this.loss(this.decode(toDecoder), image);
  }

  /**
   * Loss and gradients only (no update, running statistics untouched): what the loss check reads. Read back
   * asynchronously (the WebGPU backend's synchronous read-back is unreliable and slow).
   */
  async lossAndGrads(
    images: Float32Array,
    cells: Uint8Array,
  ): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
    const shapes = new Map(sparkState(this.config).map((e) => [e.name, e.shape]));
    const kept: { name: string; tensor: tf.Tensor }[] = [];
    const loss = tf.tidy(() => {
      const result = this.gradients(images, cells);
      for (const [variableName, g] of Object.entries(result.grads)) {
        const param = this.byVariable.get(variableName)!;
        kept.push({
          name: param.name,
          tensor: tf.keep(toOfficialLayout(param.name, shapes.get(param.name)!, g)),
        });
      }
      return result.value;
    });
    this.releaseStats();
    const grads = new Map<string, Float32Array>();
    try {
      for (const { name, tensor } of kept) grads.set(name, (await tensor.data()) as Float32Array);
      return { loss: (await loss.data())[0], grads };
    } finally {
      tf.dispose([loss, ...kept.map((k) => k.tensor)]);
    }
  }

  private releaseStats(): void {
    for (const s of this.stats) tf.dispose([s.mean, s.variance]);
    this.stats = [];
  }

  private gradients(images: Float32Array, cells: Uint8Array) {
    const { inputSize: s } = this.config;
    const batch = cells.length / (this.grid * this.grid);
    if (!Number.isInteger(batch) || images.length !== batch * 3 * s * s)
      throw new RangeError(
        `The images and the mask disagree: ${images.length} values for ${cells.length} cells.`,
      );
    const imageTensor = tf.tensor4d(images, [batch, 3, s, s]);
    this.cells = tf.tensor4d(Float32Array.from(cells), [batch, this.grid, this.grid, 1]);
    const vars = [...this.params.values()].map((p) => p.variable);
    return tf.variableGrads(() => this.forward(imageTensor), vars);
  }

  /**
   * One training step: forward, backward, running statistics, LAMB. Nothing is read back; the returned
   * loss is a kept scalar (dispose it).
   */
  trainStep(images: Float32Array, cells: Uint8Array, lamb: PeerLambSettings): tf.Scalar {
    return tf.tidy(() => {
      const { value, grads } = this.gradients(images, cells);
      for (const { name, mean, variance } of this.stats) {
        const rm = this.runningMean.get(name)!;
        const rv = this.runningVar.get(name)!;
        rm.assign(rm.mul(1 - BN_MOMENTUM).add(mean.mul(BN_MOMENTUM)));
        rv.assign(rv.mul(1 - BN_MOMENTUM).add(variance.mul(BN_MOMENTUM)));
      }
      this.lambStep(grads, lamb);
      this.releaseStats();
      return tf.keep(value);
    });
  }

  /**
   * LAMB as the official timm-0.5.4 copy: global-norm clip inside the step, bias correction, weight decay and
   * trust ratio ‖p‖/‖u‖ on the decayed group only; tensors without a gradient are skipped.
   */
  private lambStep(grads: tf.NamedTensorMap, o: PeerLambSettings): void {
    this.steps++;
    const bc1 = 1 - o.beta1 ** this.steps;
    const bc2 = 1 - o.beta2 ** this.steps;
    const stepped = [...this.params.values()].filter((p) => grads[p.variable.name] !== undefined);
    const globalNorm = sumScalars(stepped.map((p) => grads[p.variable.name].square().sum())).sqrt();
    const clip = tf.maximum(globalNorm.div(o.maxGradNorm), 1);
    for (const p of stepped) {
      const g = grads[p.variable.name].div(clip);
      let m = this.expAvg.get(p.name);
      let v = this.expAvgSq.get(p.name);
      if (!m || !v) {
        m = tf.variable(tf.zerosLike(p.variable), false);
        v = tf.variable(tf.zerosLike(p.variable), false);
        this.expAvg.set(p.name, m);
        this.expAvgSq.set(p.name, v);
      }
      m.assign(m.mul(o.beta1).add(g.mul(1 - o.beta1)));
      v.assign(v.mul(o.beta2).add(g.square().mul(1 - o.beta2)));
      let update = m.div(bc1).div(v.sqrt().div(Math.sqrt(bc2)).add(o.eps));
      if (p.decay && o.weightDecay !== 0) {
        update = update.add(p.variable.mul(o.weightDecay));
        const wNorm = p.variable.norm();
        const uNorm = update.norm();
        const bothPositive = wNorm.greater(0).logicalAnd(uNorm.greater(0));
        update = update.mul(tf.where(bothPositive, wNorm.div(uNorm), tf.onesLike(wNorm)));
      }
      p.variable.assign(p.variable.sub(update.mul(o.lr)));
    }
  }

  dispose(): void {
    this.releaseStats();
    for (const p of this.params.values()) p.variable.dispose();
    for (const map of [this.runningMean, this.runningVar, this.expAvg, this.expAvgSq])
      for (const v of map.values()) v.dispose();
  }
}
