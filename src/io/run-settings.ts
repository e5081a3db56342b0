/**
 * Run settings arrive at the worker from the page, from a stored checkpoint's metadata and from links: all
 * untrusted. `validateRunConfig` checks every field's type and range before anything else reads it, so a
 * stale or hand-edited value is a ConfigError sentence, never a NaN schedule or a prototype lookup
 * (`preset: 'constructor'`).
 */
import { ConfigError } from '../models/config';
import { PRESETS } from '../models/presets';
import type { RunConfig } from '../worker/protocol';

const DATA_KINDS = ['photos', 'fashion-mnist', 'user'] as const;
const OPTIMIZERS = ['lamb', 'adamw'] as const;
/** The largest image cache a page may ask for; browsers give a worker a few GiB at most. */
const MAX_IMAGE_BUDGET_BYTES = 4 * 2 ** 30;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(message: string): never {
  throw new ConfigError(message);
}

function wholeNumber(value: unknown, what: string, min: number, optional = false): void {
  if (value === undefined && optional) return;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min)
    fail(
      `The ${what} must be a whole number of at least ${min}, got ${JSON.stringify(value) ?? String(value)}.`,
    );
}

function positiveFinite(value: unknown, what: string, allowZero = false): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0))
    fail(
      `The ${what} must be a finite number ${allowZero ? 'of at least 0' : 'above 0'}, got ${JSON.stringify(value) ?? String(value)}.`,
    );
}

/** Returns the settings unchanged when every field is of the right type and range; throws ConfigError otherwise. */
export function validateRunConfig(value: unknown): RunConfig {
  if (!isObject(value)) fail('The run settings are not an object.');
  const c = value;
  if (c.preset !== undefined && (typeof c.preset !== 'string' || !Object.hasOwn(PRESETS, c.preset)))
    fail(
      `There is no preset named ${JSON.stringify(c.preset)}; choose one of ${Object.keys(PRESETS).join(', ')}.`,
    );
  if (c.model !== undefined && !isObject(c.model)) fail('The model settings are not an object.');
  if (!isObject(c.data) || !DATA_KINDS.includes(c.data.kind as (typeof DATA_KINDS)[number]))
    fail(`The data source must be one of ${DATA_KINDS.join(', ')}.`);
  if (c.data.flip !== undefined && typeof c.data.flip !== 'boolean')
    fail('The flip setting must be true or false.');
  if (c.data.scale !== undefined) {
    const s = c.data.scale;
    if (
      !Array.isArray(s) ||
      s.length !== 2 ||
      !s.every((v) => typeof v === 'number' && v > 0 && v <= 1) ||
      s[0] > s[1]
    )
      fail('The crop scale must be two numbers 0 < min ≤ max ≤ 1.');
  }
  if (c.normalization !== undefined) {
    const n = c.normalization as Record<string, unknown>;
    const triple = (v: unknown, positive: boolean) =>
      Array.isArray(v) &&
      v.length === 3 &&
      v.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0));
    if (!isObject(n) || !triple(n.mean, false) || !triple(n.std, true))
      fail('The normalisation must give three finite means and three positive standard deviations.');
  }
  wholeNumber(c.batchSize, 'batch size', 2);
  wholeNumber(c.steps, 'number of steps', 1);
  wholeNumber(c.seed, 'seed', 0);
  if (c.optimizer !== undefined && !OPTIMIZERS.includes(c.optimizer as (typeof OPTIMIZERS)[number]))
    fail(`The optimiser must be ${OPTIMIZERS.join(' or ')}, got ${JSON.stringify(c.optimizer)}.`);
  positiveFinite(c.lr, 'learning rate');
  positiveFinite(c.weightDecay, 'weight decay', true);
  wholeNumber(c.checkpointEvery, 'checkpoint interval', 0, true);
  wholeNumber(c.metricsEvery, 'metrics interval', 1, true);
  wholeNumber(c.imageBudgetBytes, 'image memory budget', 1, true);
  if (typeof c.imageBudgetBytes === 'number' && c.imageBudgetBytes > MAX_IMAGE_BUDGET_BYTES)
    fail(`The image memory budget may be at most ${MAX_IMAGE_BUDGET_BYTES / 2 ** 30} GiB.`);
  return value as unknown as RunConfig;
}

/**
 * Version of the run settings stored in a checkpoint's metadata (`meta.settingsVersion`, next to
 * `meta.runConfig`). Checkpoints saved before versions existed have none and are read as version 1 when their
 * settings validate.
 */
export const RUN_SETTINGS_VERSION = 1;

/** The metadata a save adds so a later SparkLab can tell which settings format it holds. */
export function runSettingsMeta(config: RunConfig): { runConfig: RunConfig; settingsVersion: number } {
  return { runConfig: structuredClone(config), settingsVersion: RUN_SETTINGS_VERSION };
}

/**
 * The run settings stored with a checkpoint (undefined when it has none), validated; a newer version or
 * settings that no longer validate are a ConfigError saying which SparkLab wrote them and what to do.
 */
export function storedRunConfig(
  meta: Record<string, unknown>,
  checkpointName: string,
): RunConfig | undefined {
  if (meta.runConfig === undefined) return undefined;
  const version = meta.settingsVersion ?? RUN_SETTINGS_VERSION;
  if (typeof version !== 'number' || version > RUN_SETTINGS_VERSION)
    fail(
      `The checkpoint "${checkpointName}" was saved by a newer SparkLab (settings version ${String(version)}); update SparkLab to restore it.`,
    );
  try {
    return validateRunConfig(meta.runConfig);
  } catch (error) {
    fail(
      `The checkpoint "${checkpointName}" was saved by an older SparkLab and its run settings cannot be read ` +
        `(${(error as Error).message}); configure a run like it first, then restore it.`,
    );
  }
}
