/**
 * The lab's part of the worker API (watch set, held-out yardstick, hand-edited masks), kept apart from the
 * trainer's core protocol; `TrainerWorkerApi` extends it.
 */

import type * as Comlink from 'comlink';
import type { Normalization } from '../data/augment';
import type { RunConfig, TrainerWorkerApi } from './protocol';

export interface WatchImages {
  /** Index of the first image among the dataset's held-out images. */
  offset: number;
  count: number;
  size: number;
  normalization: Normalization;
  /** [count, 3, size, size], normalised. */
  images: Float32Array;
  /** Held-out images the dataset has (the watch set wraps around beyond them). */
  heldOutCount: number;
}

export interface WatchEvalRequest {
  /** The watch set: held-out images offset..offset+count. */
  offset: number;
  count: number;
  /** Ratios at which the watch set is reconstructed (nested masks); usually the run's own ratio. */
  ratios: number[];
  /** Held-out images of the yardstick (masked patch-normalised loss at YARDSTICK_RATIO); 0 skips it. */
  yardstickImages: number;
}

export interface WatchView {
  ratio: number;
  visibleCells: number;
  /** [count, grid, grid], 1 = visible (nested: the first cells of each image's fixed order). */
  mask: Uint8Array;
  /** [count, 3, size, size], normalised units. */
  masked: Float32Array;
  composite: Float32Array;
  /** Decoder output in the loss's target units: lets the page draw a view without the hidden statistics. */
  prediction: Float32Array;
}

export interface WatchEvalResult {
  runId: string;
  step: number;
  size: number;
  grid: number;
  normalization: Normalization;
  input: Float32Array;
  views: WatchView[];
  /** The run's loss target: 'patch-norm' predictions are in per-patch units. */
  lossTarget: 'patch-norm' | 'raw';
  /** The yardstick: masked, per-patch-normalised loss at ratio 0.6 on `yardstickImages` held-out images. */
  heldOutLoss?: number;
  yardstickImages: number;
}

export interface CustomReconRequest {
  /** Held-out image index. */
  image: number;
  /** [grid, grid], 1 = visible (at least one). */
  cells: Uint8Array;
}

export interface CustomReconResult {
  runId: string;
  step: number;
  size: number;
  grid: number;
  visibleCells: number;
  normalization: Normalization;
  /** [1, 3, size, size] each. */
  input: Float32Array;
  masked: Float32Array;
  composite: Float32Array;
  /** Decoder output in the loss's target units, [1, 3, size, size]. */
  prediction: Float32Array;
  lossTarget: 'patch-norm' | 'raw';
}

export interface ImageReconRequest {
  /** One picture as HWC RGB bytes (0..255) at the run's input size: size × size × 3 values. */
  rgb: Uint8Array;
  /** Ratio of its nested (watch-set style) mask; the run's own ratio when absent. */
  ratio?: number;
}

export interface ImageReconResult extends CustomReconResult {
  ratio: number;
  /** [grid, grid], 1 = visible: the nested mask of watch-set image 0 at `ratio`. */
  mask: Uint8Array;
}

export interface LabWorkerApi {
  /** The watch-set images for a configuration (no run or GPU needed: the mask preview uses them). */
  watchImages(config: RunConfig, offset: number, count: number): Promise<WatchImages>;
  /** The current run on the watch set (nested masks) and the yardstick; pauses the loop meanwhile. */
  evaluateWatch(request: WatchEvalRequest): Promise<WatchEvalResult>;
  /** The current run's reconstruction of one held-out image under a hand-edited mask. */
  reconstructCustom(request: CustomReconRequest): Promise<CustomReconResult>;
  /** The current run's reconstruction of a picture from the page (the webcam's frame) under a nested mask. */
  reconstructImage(request: ImageReconRequest): Promise<ImageReconResult>;
}

/** What the page talks to: the trainer's API and the lab's, served by the same worker. */
export type LabTrainerRemote = Comlink.Remote<TrainerWorkerApi & LabWorkerApi>;
