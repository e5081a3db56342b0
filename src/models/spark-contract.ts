/**
 * The GPU SparK model's contract: the interface the trainer, the UI worker, the probe and the parity backend
 * code against. Import it, and `createSparkModel`, from ./spark-model.ts. The implementation lives in
 * ./spark.ts and ./spark-graph.ts (encoders in ./resnet.ts and ./convnext.ts, the LightDecoder in
 * ./decoder.ts, layer classes in ./layers/); this file imports nothing from it, so there is no cycle.
 *
 * Life cycle, per (config, batch):
 *   const model = createSparkModel(gpu, config, batch);   // every buffer, bind group and dispatch made once
 *   model.initialize(seed) or model.loadState(state);      // official init rules, or a checkpoint / fixture
 *   per step:
 *     model.setBatch(imagesNCHW, mask);                    // uploads; rewrites site maps in place
 *     zero model.params grads (queue.writeBuffer or a kernel), optimiser.beginStep(lr, wd);
 *     gpu.submit('step', (pass) => { model.encodeTrainStep(pass); optimiser.encode(pass); });
 *   model.readSnapshot() / gpu.read(model.loss) lazily, never inside an encode.
 *   model.destroy();
 *
 * The dense-zero ablation (config.encoder) runs the same builders on the zero-filled image with the dense
 * NHWC kernels. `unusedParams` lists what the official optimiser would skip (grad None): only non-empty
 * with decoderInputs 'coarsest' or encoders with more feature maps than decoder blocks.
 *
 * Masks: any number of visible cells per image (1 to all, differing within a batch), any batch from 1 to the
 * built one. Buffers are sized for the worst case (built batch, every cell visible) when the model is made;
 * `setBatch` changes their contents, and rebuilds the prepared dispatches (over the same buffers) only when
 * the batch or the total number of visible cells changes, which random masking (always len_keep per image)
 * at a fixed batch never does.
 */

import type { Arena } from '../engine/params';
import type { GpuTensor } from '../gpu/runtime';
import type { CellMask } from '../sparse/mask';
import type { SparkConfig } from './config';

/** Official-layout values by official name; `num_batches_tracked` is a one-element array. */
export type SparkStateValues = Map<string, ArrayLike<number>>;

export interface SparkModelOptions {
  /** Label prefix of the GPU buffers (debugging, leak reports). */
  label?: string;
  /**
   * Evaluation only (viewing a checkpoint): no gradients, no backward, parameters split over buffers of at
   * most `maxBufferBytes` (default: the adapter's binding limit). Train steps are refused with a sentence.
   */
  evalOnly?: boolean;
  maxBufferBytes?: number;
}

/** What the visualisation shows, read back on demand (all NCHW, [B, 3, S, S] unless said otherwise). */
export interface SparkSnapshot {
  /** The last `loss` written by a train step or an eval pass. */
  loss: number;
  /** input · upsampled mask. */
  masked: Float32Array;
  /** Raw decoder output (normalised-pixel prediction, or pixels with the 'raw' loss target). */
  prediction: Float32Array;
  /** Visible pixels = input; masked = prediction de-normalised with the true patch statistics. */
  composite: Float32Array;
  /** Active-site maps per encoder scale, largest resolution first: [B, H, W] of 0/1. */
  active: { size: number; map: Uint8Array }[];
}

export interface SparkGpuModel {
  readonly config: SparkConfig;
  /** The built batch: the largest `setBatch` accepts. */
  readonly batch: number;
  /** The batch of the last `setBatch` (the built batch before the first). */
  readonly activeBatch: number;
  /** Trainable parameters under official names, GPU layouts (src/engine/layout.ts), grads at the same offsets. */
  readonly params: Arena;
  /** BN running_mean / running_var under official names (no grads). */
  readonly stats: Arena;
  /** num_batches_tracked per BN module name (e.g. `dense_decoder.dec.0.conv.1`), advanced by each train step. */
  readonly batchesTracked: Map<string, number>;
  /** [1] the loss of the last encoded train step or eval pass (read it lazily). */
  readonly loss: GpuTensor;
  /**
   * Parameters that the configuration never differentiates (PyTorch `grad is None`): densify layers of
   * scales the decoder does not read. Their grads stay 0; an optimiser that follows the official code skips
   * them (LAMB would otherwise decay them): pass this set as Lamb/AdamW's `skip` option.
   */
  readonly unusedParams: ReadonlySet<string>;

  /** Official initialisation (SPARK-SPEC §2.3, §3.1, §3.2), deterministic in `seed`; resets BN stats. */
  initialize(seed: number): void;
  /** Loads parameters and BN buffers (official names and layouts); throws a sentence naming what is wrong. */
  loadState(state: SparkStateValues): void;
  /** Reads parameters and BN buffers back, official names and layouts (num_batches_tracked included). */
  exportState(): Promise<Map<string, Float32Array>>;
  /** Reads the parameter gradients back, official names and layouts. */
  readGrads(): Promise<Map<string, Float32Array>>;

  /**
   * Uploads images ([n, 3, S, S] NCHW, normalised, 1 ≤ n ≤ batch) and a mask of n images (each with at
   * least one visible cell); rewrites site indices in place. Snapshots and activations then cover n images.
   * Training needs more than one value per BatchNorm channel (PyTorch's rule); evaluation does not.
   */
  setBatch(images: Float32Array, mask: CellMask): void;
  /**
   * Draws this batch's drop-path decisions (one per image and residual block) from (seed, step): the same
   * pair always draws the same, so a run replays. Required after every `setBatch` before a train step when
   * the configuration has a drop-path rate; does nothing otherwise. Evaluation never drops.
   */
  setDropPath(seed: number, step: number): void;
  /**
   * Records forward (train mode: batch statistics, running stats updated), loss and backward. Parameter
   * gradients accumulate (+=) into `params` grads: zero them first. Advances `batchesTracked` by one.
   */
  encodeTrainStep(pass: GPUComputePassEncoder): void;
  /**
   * The first half of `encodeTrainStep`: train-mode forward and loss (advances `batchesTracked`). Follow it
   * with `encodeTrainBackward`, in the same pass or a later pass of the same submission, before the next
   * forward: the backward reads the activations this forward left.
   */
  encodeTrainForward(pass: GPUComputePassEncoder): void;
  /** The second half of `encodeTrainStep`: the backward of the last `encodeTrainForward`. */
  encodeTrainBackward(pass: GPUComputePassEncoder): void;
  /** Records the eval-mode forward (running statistics, nothing updated), the loss and the composite. */
  encodeEval(pass: GPUComputePassEncoder): void;

  /** Reads the last step's results back (after submission; resolves when the GPU is done). */
  readSnapshot(): Promise<SparkSnapshot>;
  /** Encoder outputs of the last forward, largest resolution first, NCHW (0 at masked sites when sparse). */
  readFeatures(): Promise<Float32Array[]>;
  /**
   * The output of one layer of the last forward, NCHW (0 at masked sites for sparse rows), by its official
   * module name (e.g. `sparse_encoder.sp_cnn.conv1`, `sparse_encoder.sp_cnn.bn1`, `densify_projs.0`,
   * `dense_decoder.dec.1.up_sample`): activations for the visualisation and for tests.
   */
  readActivation(name: string): Promise<{ shape: [number, number, number, number]; data: Float32Array }>;
  /** Names `readActivation` accepts, in forward order. */
  readonly activationNames: readonly string[];
  /** Frees every buffer the model owns. */
  destroy(): void;
}
