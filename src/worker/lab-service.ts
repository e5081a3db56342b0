/**
 * The worker side of the lab (LabWorkerApi): watch-set images, nested-mask reconstructions, the held-out
 * yardstick and hand-edited masks, over the run the TrainerWorker holds. The worker passes in how to reach
 * its run and how to pause it, so this module owns no life cycle of its own.
 */

import { writeNormalized } from '../data/augment';
import type { Dataset } from '../data/datasets';
import { gridSize } from '../models/config';
import { PRESETS, type PresetName } from '../models/presets';
import type { Trainer } from '../train/trainer';
import { LabEvaluator, YARDSTICK_RATIO } from './lab-eval';
import type {
  CustomReconRequest,
  CustomReconResult,
  ImageReconRequest,
  ImageReconResult,
  LabWorkerApi,
  WatchEvalRequest,
  WatchEvalResult,
  WatchImages,
  WatchView,
} from './lab-protocol';
import { nestedMasks } from './nested-mask';
import type { RunConfig } from './protocol';

/** Largest watch set / yardstick a request may ask for (each image is a forward pass's worth of work). */
export const MAX_WATCH_IMAGES = 64;

export interface LabContext {
  /** The dataset a configuration trains on (built-in or the user's images). */
  loadDataset(config: RunConfig, imageSize: number): Promise<Dataset>;
  /** The run now configured, if any. */
  current(): { trainer: Trainer; runId: string; runConfig: RunConfig } | undefined;
  /** Runs `work` with the step loop stopped (the trainer is not re-entrant), restarting it afterwards. */
  whilePaused<T>(work: () => Promise<T>): Promise<T>;
}

function checkCount(what: string, n: number, min: number): void {
  if (!Number.isInteger(n) || n < min || n > MAX_WATCH_IMAGES)
    throw new RangeError(`The ${what} must be a whole number from ${min} to ${MAX_WATCH_IMAGES}, not ${n}.`);
}

/** `count` held-out images from `offset` (wrapping around the held-out split). */
export function heldOutSlice(dataset: Dataset, offset: number, count: number): Float32Array {
  const S = dataset.imageSize;
  const per = 3 * S * S;
  return dataset.heldOutBatch(offset + count).slice(offset * per, (offset + count) * per);
}

/** The input size a configuration asks for (its preset's unless overridden); the worker validates the rest. */
function imageSizeOf(config: RunConfig): number {
  const preset = PRESETS[(config.preset ?? 'tiny') as PresetName];
  const size = config.model?.inputSize ?? preset?.inputSize;
  if (!size) throw new RangeError(`There is no preset "${config.preset}".`);
  return size;
}

export class LabService implements LabWorkerApi {
  private evaluator?: LabEvaluator;
  private cached?: { key: string; dataset: Dataset };

  constructor(private readonly context: LabContext) {}

  private async dataset(config: RunConfig): Promise<Dataset> {
    const size = imageSizeOf(config);
    const key = JSON.stringify([config.data, config.normalization ?? null, size]);
    const current = this.context.current();
    if (current) {
      const { runConfig, trainer } = current;
      const runKey = JSON.stringify([
        runConfig.data,
        runConfig.normalization ?? null,
        trainer.config.inputSize,
      ]);
      if (runKey === key) return trainer.options.dataset;
    }
    if (this.cached?.key === key) return this.cached.dataset;
    const dataset = await this.context.loadDataset(config, size);
    // The user's images change as they add more: only built-in data is kept.
    if (config.data.kind !== 'user') this.cached = { key, dataset };
    return dataset;
  }

  async watchImages(config: RunConfig, offset: number, count: number): Promise<WatchImages> {
    checkCount('number of watch-set images', count, 1);
    if (!Number.isInteger(offset) || offset < 0)
      throw new RangeError(`The first watch-set image must be a whole number of at least 0, not ${offset}.`);
    const dataset = await this.dataset(config);
    return {
      offset,
      count,
      size: dataset.imageSize,
      normalization: dataset.normalization,
      images: heldOutSlice(dataset, offset, count),
      heldOutCount: dataset.heldOutCount,
    };
  }

  private require(): { trainer: Trainer; runId: string } {
    const current = this.context.current();
    if (!current) throw new Error('Configure a run first.');
    return current;
  }

  /** The evaluator on the trainer's current device (a device loss gives the trainer a new one). */
  private evaluatorFor(trainer: Trainer): LabEvaluator {
    if (this.evaluator?.gpu !== trainer.gpu) {
      this.evaluator?.dispose();
      this.evaluator = new LabEvaluator(trainer.gpu);
    }
    return this.evaluator;
  }

  async evaluateWatch(request: WatchEvalRequest): Promise<WatchEvalResult> {
    const { trainer, runId } = this.require();
    checkCount('number of watch-set images', request.count, 1);
    if (request.yardstickImages !== 0) checkCount('number of yardstick images', request.yardstickImages, 1);
    const dataset = trainer.options.dataset;
    const config = trainer.config;
    const g = gridSize(config);
    const input = heldOutSlice(dataset, request.offset, request.count);
    return this.context.whilePaused(async () => {
      const state = await trainer.model.exportState();
      const evaluator = this.evaluatorFor(trainer);
      const batch = Math.max(2, Math.min(trainer.batch, 8));
      const views: WatchView[] = [];
      for (const ratio of request.ratios) {
        const mask = nestedMasks(g, ratio, request.count, request.offset);
        const result = await evaluator.evaluate(config, state, batch, input, mask);
        views.push({
          ratio,
          visibleCells: mask.slice(0, g * g).reduce((a, b) => a + b, 0),
          mask,
          masked: result.masked,
          composite: result.composite,
          prediction: result.prediction,
        });
      }
      let heldOutLoss: number | undefined;
      if (request.yardstickImages > 0) {
        // The same held-out images (from the first) and nested masks at 0.6 for every run and every step.
        const images = heldOutSlice(dataset, 0, request.yardstickImages);
        const mask = nestedMasks(g, YARDSTICK_RATIO, request.yardstickImages, 0);
        const result = await evaluator.evaluate(config, state, batch, images, mask, {
          loss: { lossTarget: 'patch-norm', lossOn: 'masked' },
          pictures: false,
        });
        heldOutLoss = result.loss;
      }
      return {
        runId,
        step: trainer.step,
        size: config.inputSize,
        grid: g,
        normalization: dataset.normalization,
        input,
        views,
        lossTarget: config.lossTarget,
        heldOutLoss,
        yardstickImages: request.yardstickImages,
      };
    });
  }

  async reconstructCustom(request: CustomReconRequest): Promise<CustomReconResult> {
    const { trainer } = this.require();
    const config = trainer.config;
    const g = gridSize(config);
    const cells = request.cells;
    if (cells.length !== g * g)
      throw new RangeError(`The hand-edited mask has ${cells.length} cells; this model's grid is ${g}×${g}.`);
    const visible = cells.reduce((a, b) => a + (b ? 1 : 0), 0);
    if (visible < 1)
      throw new RangeError('Keep at least one cell visible: the encoder needs something to see.');
    if (!Number.isInteger(request.image) || request.image < 0)
      throw new RangeError(`Pick a watch-set image by its index, not ${request.image}.`);
    const input = heldOutSlice(trainer.options.dataset, request.image, 1);
    const mask = Uint8Array.from(cells, (v) => (v ? 1 : 0));
    return this.reconstructOne(input, mask);
  }

  async reconstructImage(request: ImageReconRequest): Promise<ImageReconResult> {
    const { trainer } = this.require();
    const config = trainer.config;
    const S = config.inputSize;
    if (request.rgb.length !== S * S * 3)
      throw new RangeError(
        `The picture has ${request.rgb.length} values; this model takes ${S}×${S} RGB pictures (${S * S * 3} values).`,
      );
    const ratio = request.ratio ?? config.maskRatio;
    if (!(ratio >= 0 && ratio < 1))
      throw new RangeError(`The mask ratio must be at least 0 and below 1, not ${ratio}.`);
    const input = new Float32Array(3 * S * S);
    writeNormalized(request.rgb, S, trainer.options.dataset.normalization, input, 0);
    // Throws the engine's sentence when the ratio keeps no cell visible.
    const mask = nestedMasks(gridSize(config), ratio, 1, 0);
    return { ...(await this.reconstructOne(input, mask)), ratio, mask };
  }

  /** One image ([1, 3, S, S], normalised) under one mask ([g, g]) by the current weights, loop paused. */
  private reconstructOne(input: Float32Array, mask: Uint8Array): Promise<CustomReconResult> {
    const { trainer, runId } = this.require();
    const config = trainer.config;
    const visible = mask.reduce((a, b) => a + b, 0);
    return this.context.whilePaused(async () => {
      const state = await trainer.model.exportState();
      const batch = Math.max(2, Math.min(trainer.batch, 8));
      const result = await this.evaluatorFor(trainer).evaluate(config, state, batch, input, mask);
      return {
        runId,
        step: trainer.step,
        size: config.inputSize,
        grid: gridSize(config),
        visibleCells: visible,
        normalization: trainer.options.dataset.normalization,
        input,
        masked: result.masked,
        composite: result.composite,
        prediction: result.prediction,
        lossTarget: config.lossTarget,
      };
    });
  }

  dispose(): void {
    this.evaluator?.dispose();
    this.evaluator = undefined;
  }
}
