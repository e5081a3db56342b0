/**
 * The SparK loss on the GPU (spark-spec §4): per-patch normalised target, per-patch MSE, average over masked
 * patches; its gradient; the visualisation composite. Kernels: shaders/loss.wgsl. Twin:
 * src/reference/loss.ts.
 *
 * Layout: the input image x (ImageNet-normalised, unmasked) and the decoder output rec are NHWC
 * [B, S, S, 3] on the GPU, like every dense activation; fixtures and datasets are NCHW and are converted
 * once where they enter the GPU. The mask is the cell mask [B, g, g] as u32 (1 = visible), g = S / patch.
 * Patch l = (b·g + cy)·g + cx; the order of values inside a patch does not change the loss.
 */
import lossSource from '../../shaders/loss.wgsl?raw';
import {
  bindingLayout,
  type Gpu,
  type GpuTensor,
  grid1d,
  type Params,
  type PreparedDispatch,
  PreparedSequence,
} from '../gpu/runtime';
import { composeShader, uniformStruct } from '../gpu/shader';

/** Images [batch, size, size, 3] on a grid × grid of patches of patchSide²; gradScale multiplies d rec. */
const LossParams = uniformStruct(
  'LossParams',
  {
    batch: 'u32',
    size: 'u32',
    grid: 'u32',
    patchSide: 'u32',
    normalize: 'u32',
    maskedOnly: 'u32',
    gradScale: 'f32',
  },
  { gradScale: 1 },
);
/** patch_stats and loss_grad: the images and one more input (the cell mask, or the patch statistics). */
const PatchLayout = bindingLayout('loss.patch', {
  out: 'write', // the statistics buffer (patch_stats), or d rec (loss_grad)
  x: 'read', // [B, S, S, 3] the normalised input image
  rec: 'read', // [B, S, S, 3] the decoder output
  maskOrStats: 'read', // [B, g, g] u32 cell mask (patch_stats), or the statistics (loss_grad)
});
const TotalLayout = bindingLayout('loss.total', {
  stats: 'write', // reads the per-patch (μ, σ, ℓ, w), writes (loss, Σ w) at its start
});
const CompositeLayout = bindingLayout('loss.composite', {
  out: 'write', // [B, S, S, 3] visible pixels from x, masked ones from rec de-normalised
  x: 'read',
  rec: 'read',
  stats: 'read', // the statistics buffer
  mask: 'read', // [B, g, g] u32
});
const LOSS_LAYOUTS = {
  patch_stats: PatchLayout,
  loss_grad: PatchLayout,
  loss_total: TotalLayout,
  composite: CompositeLayout,
};
const lossModule = composeShader(LossParams.wgsl, lossSource);

export interface SparkLossConfig {
  batch: number;
  /** Image side S (square images). */
  size: number;
  /** Patch side r = the encoder's total stride = the mask cell side. */
  patch: number;
  /** Per-patch normalised target (official); false = raw pixels (ablation). */
  normalizeTarget?: boolean;
  /** Average over masked patches only (official); false = over all patches (ablation). */
  maskedOnly?: boolean;
}

/** Floats before the per-patch statistics in the statistics buffer (keeps the loss a 256-byte-aligned view). */
const STATS_OFFSET = 64;

export class SparkLoss {
  readonly grid: number;
  readonly patches: number;
  /** [64 + 4·patches]: loss, Σ weights, padding, then (μ, σ, ℓ, w) per patch. */
  readonly stats: GpuTensor;
  /** The scalar loss (a view of `stats`): read it lazily for the UI, never per step. */
  readonly loss: GpuTensor;
  private readonly normalize: boolean;
  private readonly maskedOnly: boolean;
  private readonly ownsStats: boolean;

  constructor(
    private readonly gpu: Gpu,
    readonly config: SparkLossConfig,
    /**
     * A buffer to keep the statistics in (at least `SparkLoss.statsLength(...)` floats), owned by the caller:
     * a model that serves several batch sizes keeps its loss at one place for all of them.
     */
    storage?: GpuTensor,
  ) {
    const { batch, size, patch } = config;
    if (![batch, size, patch].every((v) => Number.isInteger(v) && v >= 1)) {
      throw new RangeError('SparkLoss: batch, image size and patch size must be positive integers.');
    }
    if (size % patch !== 0) {
      throw new RangeError(`SparkLoss: the image size ${size} is not a multiple of the patch size ${patch}.`);
    }
    this.grid = size / patch;
    this.patches = batch * this.grid * this.grid;
    this.normalize = config.normalizeTarget ?? true;
    this.maskedOnly = config.maskedOnly ?? true;
    const length = SparkLoss.statsLength(batch, this.grid);
    if (storage && storage.length < length)
      throw new RangeError(
        `SparkLoss: ${storage.label} holds ${storage.length} floats, fewer than ${length}.`,
      );
    this.ownsStats = !storage;
    this.stats = storage
      ? { buffer: storage.buffer, offset: storage.offset, shape: [length], length, label: storage.label }
      : gpu.tensor('loss.stats', [length]);
    this.loss = {
      buffer: this.stats.buffer,
      offset: this.stats.offset,
      shape: [1],
      length: 1,
      label: 'loss',
    };
  }

  /** Floats of the statistics buffer for a batch on a grid of grid×grid patches. */
  static statsLength(batch: number, grid: number): number {
    return STATS_OFFSET + 4 * batch * grid * grid;
  }

  private params(gradScale = 1): Params {
    const { batch, size, patch } = this.config;
    return LossParams.pack({
      batch,
      size,
      grid: this.grid,
      patchSide: patch,
      normalize: this.normalize,
      maskedOnly: this.maskedOnly,
      gradScale,
    });
  }

  private kernel(entryPoint: keyof typeof LOSS_LAYOUTS) {
    const layout = LOSS_LAYOUTS[entryPoint];
    return this.gpu.kernel({ label: `loss.${entryPoint}`, code: lossModule, entryPoint, layout });
  }

  private checkImage(label: string, ...tensors: GpuTensor[]): void {
    const n = this.config.batch * this.config.size * this.config.size * 3;
    for (const t of tensors) {
      if (t.length !== n) {
        throw new RangeError(
          `SparkLoss.${label}: ${t.label} has ${t.length} elements, expected B·S·S·3 = ${n}.`,
        );
      }
    }
  }

  private checkMask(label: string, mask: GpuTensor): void {
    if (mask.length !== this.patches) {
      throw new RangeError(
        `SparkLoss.${label}: the mask ${mask.label} has ${mask.length} cells, expected B·g·g = ${this.patches}.`,
      );
    }
  }

  /** Per-patch statistics and the loss into `stats` / `loss`. Must run before backward and composite. */
  forward(x: GpuTensor, rec: GpuTensor, mask: GpuTensor): PreparedSequence {
    this.checkImage('forward', x, rec);
    this.checkMask('forward', mask);
    const dispatches = [
      this.gpu.prepare({
        kernel: this.kernel('patch_stats'),
        buffers: [this.stats, x, rec, mask],
        params: this.params(),
        workgroups: grid1d(this.patches),
      }),
      this.gpu.prepare({
        kernel: this.kernel('loss_total'),
        buffers: [this.stats],
        params: this.params(),
        workgroups: [1],
      }),
    ];
    return new PreparedSequence('loss.forward', dispatches, [], this.gpu);
  }

  /** dRec = gradScale · ∂loss/∂rec (written, not accumulated). */
  backward(dRec: GpuTensor, x: GpuTensor, rec: GpuTensor, gradScale = 1): PreparedDispatch {
    this.checkImage('backward', dRec, x, rec);
    const n = this.config.batch * this.config.size * this.config.size * 3;
    return this.gpu.prepare({
      kernel: this.kernel('loss_grad'),
      buffers: [dRec, x, rec, this.stats],
      params: this.params(gradScale),
      workgroups: grid1d(Math.ceil(n / 256)),
    });
  }

  /**
   * The reconstruction shown to the user (normalised space, NHWC): visible patches from x, masked patches =
   * rec·σ + μ with the true patch statistics (rec itself without per-patch normalisation).
   */
  composite(out: GpuTensor, x: GpuTensor, rec: GpuTensor, mask: GpuTensor): PreparedDispatch {
    this.checkImage('composite', out, x, rec);
    this.checkMask('composite', mask);
    const n = this.config.batch * this.config.size * this.config.size * 3;
    return this.gpu.prepare({
      kernel: this.kernel('composite'),
      buffers: [out, x, rec, this.stats, mask],
      params: this.params(),
      workgroups: grid1d(Math.ceil(n / 256)),
    });
  }

  /** Per-patch (μ, σ, ℓ, w) read back (tests, UI). */
  async readPatchStats(): Promise<Float32Array> {
    const all = await this.gpu.read(this.stats);
    return all.slice(STATS_OFFSET);
  }

  release(): void {
    if (this.ownsStats) this.gpu.releaseTensor(this.stats);
  }
}
