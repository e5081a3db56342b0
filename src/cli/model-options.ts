/**
 * Model options shared by `npm run train` and `npm run probe`: a preset edited by --config FILE (JSON) and
 * the model flags (./model-flags.ts), and --init FILE, weights with official names to start from. Weights
 * come from a run folder (its latest checkpoint), a training checkpoint or a plain safetensors file.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { NodeCheckpointStore } from '../io/checkpoint-store-node';
import { looksLikePth, readPthWeights } from '../io/pth/weights';
import { readSafetensors, toFloat64Array } from '../io/safetensors';
import type { SparkConfig } from '../models/config';
import { officialInitialState } from '../models/init';
import { ENCODER_PREFIX } from '../models/official-names';
import { readTrainerCheckpoint, TRAINER_CHECKPOINT_FORMAT } from '../train/checkpoint';
import { ArgsError } from './flag-common';
import { applyConfigJson, checkedConfig, MODEL_FLAGS } from './model-flags';

/** The preset edited by the --config file (if any), then by the model flags in order; validated. */
export async function modelConfig(
  base: SparkConfig,
  configPath: string | undefined,
  flags: readonly [string, string][],
): Promise<SparkConfig> {
  const config = base;
  if (configPath)
    applyConfigJson(
      config,
      await readFile(configPath, 'utf8').catch((e: Error) => {
        throw new ArgsError(`Cannot read --config ${configPath}: ${e.message}`);
      }),
      configPath,
    );
  for (const [flag, value] of flags) MODEL_FLAGS.find((f) => f.flag === flag)?.apply(config, value);
  return checkedConfig(config);
}

/**
 * Weights from a run folder (its latest checkpoint), a training checkpoint, a plain safetensors file or a
 * PyTorch .pth (official checkpoint, flat state dict or timm-style encoder).
 */
export async function readWeights(path: string): Promise<Map<string, Float32Array>> {
  let bytes: Uint8Array;
  let name = path;
  try {
    if ((await stat(path)).isDirectory()) {
      const store = new NodeCheckpointStore(join(path, 'checkpoints'), { extension: 'safetensors' });
      bytes = (await store.load('latest')).bytes;
      name = join(path, 'checkpoints', 'latest');
    } else bytes = new Uint8Array(await readFile(path));
  } catch (error) {
    throw new ArgsError(`Cannot read weights from ${path}: ${(error as Error).message}`);
  }
  // A PyTorch .pth (e.g. an official *_1kpretrained_timm_style.pth encoder): read safely, names mapped.
  if (looksLikePth(bytes)) return readPthWeights(bytes, name);
  const file = readSafetensors(bytes, name);
  if (file.metadata.format === TRAINER_CHECKPOINT_FORMAT) return readTrainerCheckpoint(bytes, name).state;
  const out = new Map<string, Float32Array>();
  for (const [key, tensor] of file.tensors) out.set(key, Float32Array.from(toFloat64Array(tensor)));
  return out;
}

/** The official initial state with every tensor the file names (official or bare encoder names) replaced. */
function mergeInit(base: Map<string, Float32Array>, file: Map<string, Float32Array>, path: string) {
  let replaced = 0;
  for (const [key, value] of base) {
    const bare = key.startsWith(ENCODER_PREFIX) ? key.slice(ENCODER_PREFIX.length) : undefined;
    const given = file.get(key) ?? (bare ? file.get(bare) : undefined);
    if (!given) continue;
    if (given.length !== value.length)
      throw new ArgsError(
        `--init ${path}: ${key} has ${given.length} values; this model's needs ${value.length}.`,
      );
    base.set(key, given);
    replaced++;
  }
  if (replaced === 0)
    throw new ArgsError(`--init ${path} holds no tensor of this model (official names expected).`);
  return { state: base, replaced, unused: file.size - replaced };
}

/** The official initial state for `seed` with every tensor of the --init file replaced, and a sentence. */
export async function initialWeights(config: SparkConfig, seed: number, path: string) {
  const merged = mergeInit(officialInitialState(config, seed), await readWeights(path), path);
  return {
    state: merged.state,
    message: `--init: ${merged.replaced} tensors loaded, ${merged.unused} in the file unused.`,
  };
}
