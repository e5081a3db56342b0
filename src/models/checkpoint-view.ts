/**
 * Viewing a checkpoint without training it: an evaluation-only model (no gradients, no optimizer state,
 * parameters split over as many buffers as the adapter's binding limit asks for) is built for the
 * checkpoint's configuration, loaded, and run in eval mode on the given images under a seeded random mask.
 * Shared by the page's worker and the CLI (`npm run view-checkpoint`).
 *
 * What fits: every parameter tensor and the largest activation must each fit one binding, and the weights
 * must fit the viewing budget (default 2 GiB: every official SparK architecture). A model that does not is
 * refused, before any GPU buffer is made, with a sentence saying what fits.
 */
import type { Gpu } from '../gpu/runtime';
import { randomMask } from '../sparse/mask';
import { largestActivationFloats, sparkParameterCount } from '../train/flops';
import { ConfigError, gridSize, type SparkConfig } from './config';
import { sparkState } from './official-names';
import { OFFICIAL_PRESETS } from './presets';
import { bindableBytes } from './spark';
import { createSparkModel, type SparkStateValues } from './spark-model';
import { SplitArena } from './split-arena';

/** Weights a viewed model may hold by default. */
export const DEFAULT_VIEW_BUDGET_BYTES = 2 * 2 ** 30;

export interface ViewLimits {
  /** The most bytes one buffer can hold and bind (maxStorageBufferBindingSize, maxBufferSize). */
  bindingBytes: number;
  /** The most bytes of weights a viewed model may hold. */
  budgetBytes?: number;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;

function describeModel(config: SparkConfig): string {
  const b = config.backbone;
  return b.family === 'resnet'
    ? `ResNet (${b.block}, depths ${b.depths.join('-')})`
    : `ConvNeXt (dims ${b.dims.join('-')}, depths ${b.depths.join('-')})`;
}

/** Bytes of the model's weights and BN statistics (what the evaluation-only model holds besides activations). */
export function weightBytes(config: SparkConfig): number {
  return sparkState(config).reduce((sum, e) => sum + 4 * e.shape.reduce((a, b) => a * b, 1), 0);
}

/** Throws a ConfigError sentence when this configuration cannot be viewed within these limits at `batch`. */
export function checkViewingFit(config: SparkConfig, batch: number, limits: ViewLimits): void {
  const budget = limits.budgetBytes ?? DEFAULT_VIEW_BUDGET_BYTES;
  const bytes = weightBytes(config);
  const params = sparkParameterCount(config);
  if (bytes > budget) {
    const fitting = Object.entries(OFFICIAL_PRESETS)
      .filter(([, c]) => weightBytes(c as SparkConfig) <= budget)
      .map(([name]) => name);
    throw new ConfigError(
      `This checkpoint's model, a ${describeModel(config)} with ${(params / 1e6).toFixed(1)} M parameters, needs ${mb(bytes)} of weights; ` +
        `viewing allows ${mb(budget)}, so models up to about ${(budget / 4e6).toFixed(0)} M parameters fit` +
        `${fitting.length > 0 ? ` (of the official architectures: ${fitting.join(', ')})` : ' (none of the official architectures)'}.`,
    );
  }
  const largestTensor = sparkState(config).reduce(
    (m, e) => Math.max(m, 4 * e.shape.reduce((a, b) => a * b, 1)),
    0,
  );
  if (largestTensor > limits.bindingBytes)
    throw new ConfigError(
      `One weight tensor of this model needs ${mb(largestTensor)}, more than this GPU binds at once (${mb(limits.bindingBytes)}); it cannot be viewed here.`,
    );
  const activation = 4 * largestActivationFloats(config, batch);
  if (activation > limits.bindingBytes)
    throw new ConfigError(
      `At ${config.inputSize} px its largest activation for ${batch} image(s) needs ${mb(activation)}, more than this GPU binds at once (${mb(limits.bindingBytes)}); open it at a smaller input size.`,
    );
}

export interface CheckpointView {
  loss: number;
  /** [n, 3, S, S] each, in the images' normalised units. */
  images: Float32Array;
  masked: Float32Array;
  composite: Float32Array;
  /** [n, g, g] cell mask (1 = visible). */
  cells: Uint8Array;
  /** Buffers the parameters were split over. */
  parameterBuffers: number;
}

/**
 * Evaluates `state` on `images` ([n, 3, S, S] NCHW, normalised) in batches of at most `batch`, each under a
 * random mask at the configuration's ratio drawn from `seed`. The loss is the mean over batches.
 */
export async function viewCheckpoint(
  gpu: Gpu,
  config: SparkConfig,
  state: SparkStateValues,
  images: Float32Array,
  options: {
    seed?: number;
    batch?: number;
    limits?: Partial<ViewLimits>;
    /** The most bytes of weights per buffer (default: the binding limit; tests make it small). */
    splitBytes?: number;
  } = {},
): Promise<CheckpointView> {
  const S = config.inputSize;
  const per = 3 * S * S;
  const count = images.length / per;
  if (!Number.isInteger(count) || count < 1)
    throw new ConfigError(`Viewing needs at least one ${S}×${S} RGB image; got ${images.length} values.`);
  const batch = Math.min(count, options.batch ?? 4);
  const limits: ViewLimits = {
    bindingBytes: options.limits?.bindingBytes ?? bindableBytes(gpu),
    budgetBytes: options.limits?.budgetBytes,
  };
  checkViewingFit(config, batch, limits);
  const model = createSparkModel(gpu, config, batch, {
    label: 'view',
    evalOnly: true,
    maxBufferBytes: Math.min(options.splitBytes ?? limits.bindingBytes, limits.bindingBytes),
  });
  const parameterBuffers = model.params instanceof SplitArena ? model.params.bufferCount : 1;
  const g = gridSize(config);
  const masked = new Float32Array(images.length);
  const composite = new Float32Array(images.length);
  const cells = new Uint8Array(count * g * g);
  let lossSum = 0;
  let chunks = 0;
  try {
    model.loadState(state);
    for (let start = 0; start < count; start += batch) {
      const n = Math.min(batch, count - start);
      const mask = randomMask(n, g, g, config.maskRatio, (options.seed ?? 0) + start);
      model.setBatch(images.subarray(start * per, (start + n) * per), mask);
      await gpu.checked('view checkpoint', async () => {
        gpu.submit('view checkpoint', (pass) => model.encodeEval(pass));
        await gpu.idle();
      });
      const snapshot = await model.readSnapshot();
      masked.set(snapshot.masked, start * per);
      composite.set(snapshot.composite, start * per);
      cells.set(mask.cells, start * g * g);
      lossSum += snapshot.loss;
      chunks++;
    }
  } finally {
    model.destroy();
  }
  return {
    loss: lossSum / chunks,
    images: images.slice(),
    masked,
    composite,
    cells,
    parameterBuffers,
  };
}
