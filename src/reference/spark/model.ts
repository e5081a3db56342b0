/**
 * Float64 CPU reference of the whole SparK model (keyu-tian/SparK `SparK.forward`, `SparseEncoder`,
 * `LightDecoder`, timm ResNet, official ConvNeXt), NCHW, parameters in the official layout under official
 * names. It is the blueprint and the CPU twin of the GPU model: same state names (src/models/official-names),
 * same order of operations.
 *
 *   masked = input · mask↑           (mask↑ = nearest upsample of the cell mask)
 *   feats  = encoder(masked)         (sparse: re-mask after every conv/pool, norms over active sites)
 *   for scale i (smallest first): norm_i → where(active, ·, mask_token_i) → proj_i
 *   rec    = LightDecoder(to_dec)    (x = 0; block i: x += to_dec[i] if fed; ConvT↑2 → conv BN ReLU6 → conv BN)
 *   loss   = masked-patch MSE against the per-patch normalised input
 */
import type { ConvNeXtConfig, ResNetConfig, SparkConfig } from '../../models/config';
import {
  decoderBlockCount,
  densifyInputChannels,
  densifyProjIsIdentity,
  totalStride,
} from '../../models/config';
import { sparkState } from '../../models/official-names';
import { dropPathNchw } from '../dropPath';
import {
  type Active,
  activation,
  activeAt,
  add,
  type BatchNormState,
  batchNorm,
  conv2d,
  convTranspose2d,
  fillMasked,
  layerNorm,
  maskMultiply,
  maxPool,
  pointwiseLinear,
  scaleChannels,
  sparkLoss,
} from './layers';
import { Tape, Tensor } from './tape';

export interface SparkForwardResult {
  loss: number;
  /** Encoder outputs, largest resolution first (NCHW). */
  features: Tensor[];
  /** Raw decoder output [N, 3, S, S] (normalised-pixel prediction). */
  decoderOut: Tensor;
  /** input · mask↑. */
  masked: Float64Array;
  /** Visible pixels = input; masked = prediction de-normalised with the true patch statistics. */
  recOrInp: Float64Array;
}

export interface SparkTrainResult extends SparkForwardResult {
  /** d loss / d parameter for every parameter (zeros where unused). */
  grads: Map<string, Float64Array>;
  /** Parameters that received no gradient (PyTorch `grad is None`): LAMB skips them. */
  unused: Set<string>;
}

/** Official-layout state: parameters and BN buffers (num_batches_tracked as a one-element array). */
export type SparkState = Map<string, Float64Array>;

export class SparkReference {
  readonly params = new Map<string, Tensor>();
  readonly buffers = new Map<string, Float64Array>();
  private tape = new Tape(false);
  private training = false;
  private cells: Uint8Array = new Uint8Array(0);
  private batch = 0;
  private grid = 0;
  private readonly activeCache = new Map<number, Uint8Array>();
  /** Drop-path factors of the current train step, [blocks × stride] (src/models/drop-path.ts); null: none. */
  private dropPath: { factors: ArrayLike<number>; stride: number } | null = null;
  private residualBlock = 0;

  constructor(
    readonly config: SparkConfig,
    state: SparkState,
  ) {
    for (const entry of sparkState(config)) {
      const value = state.get(entry.name);
      if (!value) throw new Error(`The state has no tensor named ${entry.name}.`);
      const n = entry.shape.reduce((a, b) => a * b, 1);
      if (value.length !== n)
        throw new Error(`${entry.name} has ${value.length} values; its shape [${entry.shape}] needs ${n}.`);
      if (entry.kind === 'param')
        this.params.set(entry.name, new Tensor(entry.shape, Float64Array.from(value), entry.name));
      else this.buffers.set(entry.name, Float64Array.from(value));
    }
  }

  /** Parameters and buffers as a fresh map (official layout). */
  state(): SparkState {
    const out: SparkState = new Map();
    for (const [name, t] of this.params) out.set(name, Float64Array.from(t.data));
    for (const [name, b] of this.buffers) out.set(name, Float64Array.from(b));
    return out;
  }

  /** Eval mode: running statistics, buffers unchanged, no gradients. */
  evaluate(input: Tensor, cells: Uint8Array): SparkForwardResult {
    return this.run(input, cells, false).result;
  }

  /**
   * Train mode: batch statistics (running stats updated), then backward of the loss. `dropPath` multiplies
   * residual branch k of image b by factors[k · stride + b] (train only, as the official blocks do).
   */
  trainStep(
    input: Tensor,
    cells: Uint8Array,
    dropPath?: { factors: ArrayLike<number>; stride: number },
  ): SparkTrainResult {
    for (const p of this.params.values()) p.grad = null;
    this.dropPath = dropPath ?? null;
    const { result, lossTensor } = this.run(input, cells, true);
    this.dropPath = null;
    this.tape.backward(lossTensor);
    const grads = new Map<string, Float64Array>();
    const unused = new Set<string>();
    for (const [name, p] of this.params) {
      if (p.grad) grads.set(name, Float64Array.from(p.grad));
      else {
        grads.set(name, new Float64Array(p.data.length));
        unused.add(name);
      }
    }
    return { ...result, grads, unused };
  }

  private run(input: Tensor, cells: Uint8Array, training: boolean) {
    const [n, c, s] = input.shape;
    if (c !== 3 || s !== this.config.inputSize || input.shape[3] !== s)
      throw new Error(
        `The input must be [N, 3, ${this.config.inputSize}, ${this.config.inputSize}], got [${input.shape}].`,
      );
    const r = totalStride(this.config.backbone);
    this.batch = n;
    this.grid = s / r;
    if (cells.length !== n * this.grid * this.grid)
      throw new Error(`The mask must have ${n}×${this.grid}×${this.grid} cells, got ${cells.length}.`);
    this.cells = cells;
    this.activeCache.clear();
    this.training = training;
    this.tape = new Tape(training);
    this.residualBlock = 0;

    const full = this.active(s)!;
    const masked = maskMultiply(this.tape, input, full);
    const features = this.encode(masked);
    const toDecoder = this.densify([...features].reverse());
    const decoderOut = this.decode(toDecoder);
    const { loss, patchMean, patchStd } = sparkLoss(this.tape, decoderOut, input, {
      patch: r,
      cells,
      normalizeTarget: this.config.lossTarget === 'patch-norm',
      maskedOnly: this.config.lossOn === 'masked',
    });

    // Visualisation composite: prediction de-normalised per patch with the true statistics (when the target
    // was normalised), the original where visible.
    const recOrInp = new Float64Array(input.data.length);
    const g = this.grid;
    for (let b = 0; b < n; b++)
      for (let ch = 0; ch < 3; ch++)
        for (let y = 0; y < s; y++)
          for (let x = 0; x < s; x++) {
            const k = ((b * 3 + ch) * s + y) * s + x;
            const l = (b * g + ((y / r) | 0)) * g + ((x / r) | 0);
            if (cells[l]) recOrInp[k] = input.data[k];
            else
              recOrInp[k] =
                this.config.lossTarget === 'patch-norm'
                  ? decoderOut.data[k] * patchStd[l] + patchMean[l]
                  : decoderOut.data[k];
          }
    return {
      result: {
        loss: loss.data[0],
        features,
        decoderOut,
        masked: masked.data,
        recOrInp,
      } as SparkForwardResult,
      lossTensor: loss,
    };
  }

  /** Active sites at a square resolution; null in dense-zero mode for encoder layers (`forEncoder`). */
  private active(size: number, forEncoder = false): Active {
    if (forEncoder && this.config.encoder === 'dense-zero') return null;
    let a = this.activeCache.get(size);
    if (!a) {
      a = activeAt(this.cells, this.batch, this.grid, size);
      this.activeCache.set(size, a);
    }
    return a;
  }

  private p(name: string): Tensor {
    const t = this.params.get(name);
    if (!t) throw new Error(`No parameter named ${name}.`);
    return t;
  }

  private bnState(name: string): BatchNormState {
    const tracked = this.buffers.get(`${name}.num_batches_tracked`)!;
    return {
      weight: this.p(`${name}.weight`),
      bias: this.p(`${name}.bias`),
      runningMean: this.buffers.get(`${name}.running_mean`)!,
      runningVar: this.buffers.get(`${name}.running_var`)!,
      tracked: {
        get value() {
          return tracked[0];
        },
        set value(v: number) {
          tracked[0] = v;
        },
      },
    };
  }

  /** SparseConv2d: dense conv, then re-mask at the output resolution (sparse encoder only). */
  private encoderConv(
    x: Tensor,
    name: string,
    stride: number,
    pad: number,
    bias: boolean,
    groups = 1,
  ): Tensor {
    const y = conv2d(this.tape, x, this.p(`${name}.weight`), bias ? this.p(`${name}.bias`) : null, {
      stride,
      pad,
      groups,
    });
    return maskMultiply(this.tape, y, this.active(y.shape[2], true));
  }

  private encoderBn(x: Tensor, name: string): Tensor {
    return batchNorm(this.tape, x, this.active(x.shape[2], true), this.bnState(name), this.training);
  }

  private encoderLn(x: Tensor, name: string): Tensor {
    return layerNorm(
      this.tape,
      x,
      this.active(x.shape[2], true),
      this.p(`${name}.weight`),
      this.p(`${name}.bias`),
    );
  }

  /** Drop path on the next residual branch (the identity without factors or in eval mode). */
  private residual(branch: Tensor): Tensor {
    const k = this.residualBlock++;
    if (!this.dropPath || !this.training) return branch;
    const { factors, stride } = this.dropPath;
    const n = branch.shape[0];
    return dropPathNchw(
      this.tape,
      branch,
      Array.from({ length: n }, (_, b) => factors[k * stride + b]),
    );
  }

  private encode(x: Tensor): Tensor[] {
    const b = this.config.backbone;
    return b.family === 'resnet' ? this.encodeResNet(x, b) : this.encodeConvNeXt(x, b);
  }

  private encodeResNet(x: Tensor, b: ResNetConfig): Tensor[] {
    const pre = 'sparse_encoder.sp_cnn.';
    const t = this.tape;
    x = this.encoderConv(x, `${pre}conv1`, b.stemStride, Math.floor(b.stemKernel / 2), false);
    x = activation(t, this.encoderBn(x, `${pre}bn1`), 'relu');
    if (b.maxpool) {
      x = maxPool(t, x, 3, 2, 1);
      x = maskMultiply(t, x, this.active(x.shape[2], true));
    }
    const features: Tensor[] = [];
    const expansion = b.block === 'bottleneck' ? 4 : 1;
    let inplanes = b.stemWidth;
    b.widths.forEach((planes, i) => {
      for (let j = 0; j < b.depths[i]; j++) {
        const q = `${pre}layer${i + 1}.${j}.`;
        const stride = j === 0 ? b.stageStrides[i] : 1;
        const outC = planes * expansion;
        let y: Tensor;
        if (b.block === 'basic') {
          y = activation(
            t,
            this.encoderBn(this.encoderConv(x, `${q}conv1`, stride, 1, false), `${q}bn1`),
            'relu',
          );
          y = this.encoderBn(this.encoderConv(y, `${q}conv2`, 1, 1, false), `${q}bn2`);
        } else {
          y = activation(t, this.encoderBn(this.encoderConv(x, `${q}conv1`, 1, 0, false), `${q}bn1`), 'relu');
          y = activation(
            t,
            this.encoderBn(this.encoderConv(y, `${q}conv2`, stride, 1, false), `${q}bn2`),
            'relu',
          );
          y = this.encoderBn(this.encoderConv(y, `${q}conv3`, 1, 0, false), `${q}bn3`);
        }
        const shortcut =
          stride !== 1 || inplanes !== outC
            ? this.encoderBn(this.encoderConv(x, `${q}downsample.0`, stride, 0, false), `${q}downsample.1`)
            : x;
        x = activation(t, add(t, this.residual(y), shortcut), 'relu');
        inplanes = outC;
      }
      features.push(x);
    });
    return features;
  }

  private encodeConvNeXt(x: Tensor, b: ConvNeXtConfig): Tensor[] {
    const pre = 'sparse_encoder.sp_cnn.';
    const t = this.tape;
    const features: Tensor[] = [];
    b.dims.forEach((dim, i) => {
      if (i === 0) {
        x = this.encoderConv(x, `${pre}downsample_layers.0.0`, 4, 0, true);
        x = this.encoderLn(x, `${pre}downsample_layers.0.1`);
      } else {
        x = this.encoderLn(x, `${pre}downsample_layers.${i}.0`);
        x = this.encoderConv(x, `${pre}downsample_layers.${i}.1`, 2, 0, true);
      }
      for (let j = 0; j < b.depths[i]; j++) {
        const q = `${pre}stages.${i}.${j}.`;
        let y = this.encoderConv(x, `${q}dwconv`, 1, 3, true, dim);
        y = this.encoderLn(y, `${q}norm`);
        y = pointwiseLinear(t, y, this.p(`${q}pwconv1.weight`), this.p(`${q}pwconv1.bias`));
        y = activation(t, y, 'gelu');
        y = pointwiseLinear(t, y, this.p(`${q}pwconv2.weight`), this.p(`${q}pwconv2.bias`));
        y = scaleChannels(t, y, this.p(`${q}gamma`));
        y = maskMultiply(t, y, this.active(y.shape[2], true));
        x = add(t, x, this.residual(y));
      }
      features.push(x);
    });
    return features;
  }

  /** Densify every scale (smallest first); the decoder may not read all of them. */
  private densify(smallestFirst: Tensor[]): (Tensor | null)[] {
    const t = this.tape;
    const widths = densifyInputChannels(this.config);
    return smallestFirst.map((feature, i) => {
      if (feature.shape[1] !== widths[i])
        throw new Error(`Scale ${i} has ${feature.shape[1]} channels, expected ${widths[i]}.`);
      const active = this.active(feature.shape[2])!;
      let x = feature;
      if (this.config.densifyNorm === 'bn')
        x = batchNorm(t, x, active, this.bnState(`densify_norms.${i}`), this.training);
      else if (this.config.densifyNorm === 'ln')
        x = layerNorm(t, x, active, this.p(`densify_norms.${i}.weight`), this.p(`densify_norms.${i}.bias`));
      x = fillMasked(t, x, active, this.config.maskToken === 'learned' ? this.p(`mask_tokens.${i}`) : null);
      if (!densifyProjIsIdentity(this.config, i)) {
        const k = i === 0 ? 1 : 3;
        x = conv2d(t, x, this.p(`densify_projs.${i}.weight`), this.p(`densify_projs.${i}.bias`), {
          stride: 1,
          pad: Math.floor(k / 2),
        });
      }
      return x;
    });
  }

  private decode(toDecoder: (Tensor | null)[]): Tensor {
    const t = this.tape;
    const blocks = decoderBlockCount(this.config);
    let x: Tensor | null = null;
    for (let i = 0; i < blocks; i++) {
      const fed =
        i < toDecoder.length && (i === 0 || this.config.decoderInputs === 'all') ? toDecoder[i] : null;
      if (fed) x = x ? add(t, x, fed) : fed;
      if (!x) throw new Error('The decoder has no input at its first block.');
      const q = `dense_decoder.dec.${i}.`;
      x = convTranspose2d(t, x, this.p(`${q}up_sample.weight`), this.p(`${q}up_sample.bias`), {
        stride: 2,
        pad: 1,
      });
      x = conv2d(t, x, this.p(`${q}conv.0.weight`), null, { stride: 1, pad: 1 });
      x = activation(t, batchNorm(t, x, null, this.bnState(`${q}conv.1`), this.training), 'relu6');
      x = conv2d(t, x, this.p(`${q}conv.3.weight`), null, { stride: 1, pad: 1 });
      x = batchNorm(t, x, null, this.bnState(`${q}conv.4`), this.training);
    }
    return conv2d(t, x!, this.p('dense_decoder.proj.weight'), this.p('dense_decoder.proj.bias'), {
      stride: 1,
      pad: 0,
    });
  }
}
