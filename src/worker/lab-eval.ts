/**
 * Evaluation of a run's current weights on masks the run was not built for: the watch set at any ratio, the
 * held-out yardstick (per-patch-normalised masked loss at ratio 0.6 whatever the run trains with) and
 * hand-edited masks with any number of visible cells. The trainer's model is never touched: the weights are
 * read from it and loaded into a separate eval model built for the wanted visible-cell count (pipelines are
 * cached by the runtime, so building one costs buffers, not compilation). Eval models are kept for reuse,
 * a few at a time.
 */

import type { Gpu } from '../gpu/runtime';
import { gridSize, type SparkConfig } from '../models/config';
import { createSparkModel, type SparkGpuModel, type SparkStateValues } from '../models/spark-model';
import { explicitMask } from '../sparse/mask';

/** The reference ratio of the held-out yardstick. */
export const YARDSTICK_RATIO = 0.6;
/** Eval models kept at once (each holds one copy of the weights and activations for its batch). */
const MAX_EVAL_MODELS = 3;

export interface MaskedEvaluation {
  /** Mean of the per-chunk losses (masked patches of the chunk; chunks are whole eval batches). */
  loss: number;
  /** [images, 3, S, S] for the images asked for (wrap-around padding dropped). */
  masked: Float32Array;
  composite: Float32Array;
  /** The decoder output in the loss's target units (for views that must not use the hidden patches). */
  prediction: Float32Array;
}

/** The configuration whose model evaluates `visible` cells per image ('target' overrides the loss). */
export function evalConfig(
  config: SparkConfig,
  visible: number,
  loss?: { lossTarget: SparkConfig['lossTarget']; lossOn: SparkConfig['lossOn'] },
): SparkConfig {
  const g = gridSize(config);
  const cells = g * g;
  if (!Number.isInteger(visible) || visible < 1 || visible > cells)
    throw new RangeError(`Keep between 1 and ${cells} visible cells of the ${g}×${g} grid, not ${visible}.`);
  // len_keep(1 − k/cells) = k: the engine sizes its sparse buffers from the ratio.
  return { ...structuredClone(config), maskRatio: 1 - visible / cells, ...(loss ?? {}) };
}

export class LabEvaluator {
  private readonly models = new Map<string, SparkGpuModel>();

  constructor(readonly gpu: Gpu) {}

  private model(config: SparkConfig, batch: number): SparkGpuModel {
    const key = `${batch}:${JSON.stringify(config)}`;
    const found = this.models.get(key);
    if (found) {
      // Most recently used last.
      this.models.delete(key);
      this.models.set(key, found);
      return found;
    }
    while (this.models.size >= MAX_EVAL_MODELS) {
      const [oldest, model] = this.models.entries().next().value as [string, SparkGpuModel];
      model.destroy();
      this.models.delete(oldest);
    }
    const model = createSparkModel(this.gpu, config, batch, { label: 'lab-eval' });
    this.models.set(key, model);
    return model;
  }

  /**
   * Evaluates `state` on `images` ([n, 3, S, S]) with `masks` ([n, g, g], 1 = visible; every image the same
   * count) in eval mode, `batch` images per pass (fewer images wrap around to fill the last pass).
   */
  async evaluate(
    config: SparkConfig,
    state: SparkStateValues,
    batch: number,
    images: Float32Array,
    masks: Uint8Array,
    options: {
      loss?: { lossTarget: SparkConfig['lossTarget']; lossOn: SparkConfig['lossOn'] };
      /** Only the loss is read back when false (the yardstick). */
      pictures?: boolean;
    } = {},
  ): Promise<MaskedEvaluation> {
    const pictures = options.pictures ?? true;
    const S = config.inputSize;
    const g = gridSize(config);
    const per = 3 * S * S;
    const cells = g * g;
    const n = images.length / per;
    if (!Number.isInteger(n) || n < 1 || masks.length !== n * cells)
      throw new RangeError(
        `Evaluation needs [n, 3, ${S}, ${S}] images and [n, ${g}, ${g}] masks; got ${images.length} and ${masks.length} values.`,
      );
    let visible = 0;
    for (let i = 0; i < cells; i++) visible += masks[i];
    const model = this.model(evalConfig(config, visible, options.loss), batch);
    model.loadState(state);
    const masked = new Float32Array(n * per);
    const composite = new Float32Array(n * per);
    const prediction = new Float32Array(n * per);
    const chunkImages = new Float32Array(batch * per);
    const chunkMask = new Uint8Array(batch * cells);
    const chunks = Math.ceil(n / batch);
    let sum = 0;
    for (let c = 0; c < chunks; c++) {
      for (let b = 0; b < batch; b++) {
        const index = (c * batch + b) % n;
        chunkImages.set(images.subarray(index * per, (index + 1) * per), b * per);
        chunkMask.set(masks.subarray(index * cells, (index + 1) * cells), b * cells);
      }
      // Throws the engine's sentence when images keep different numbers of cells.
      model.setBatch(chunkImages, explicitMask(batch, g, g, chunkMask));
      this.gpu.submit('lab eval', (pass) => model.encodeEval(pass));
      if (!pictures) {
        sum += (await this.gpu.read(model.loss))[0];
        continue;
      }
      const shot = await model.readSnapshot();
      sum += shot.loss;
      const take = Math.min(batch, n - c * batch);
      masked.set(shot.masked.subarray(0, take * per), c * batch * per);
      composite.set(shot.composite.subarray(0, take * per), c * batch * per);
      prediction.set(shot.prediction.subarray(0, take * per), c * batch * per);
    }
    return { loss: sum / chunks, masked, composite, prediction };
  }

  /** Frees every eval model (a new run, or a new device after a loss). */
  dispose(): void {
    for (const model of this.models.values()) model.destroy();
    this.models.clear();
  }
}
