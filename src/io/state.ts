/**
 * Checkpoints of the full SparK state (parameters and BN buffers) under the official names, and the export
 * of the encoder alone under timm-style names (what PyTorch users load into the dense timm/official model
 * with `load_state_dict`). Values are in the official (PyTorch) layout; the GPU model converts with
 * src/engine/layout.ts at the edge. `num_batches_tracked` is int64 as in PyTorch.
 *
 * Loading validates the whole file against the configuration before returning anything, so a wrong or
 * corrupted file changes nothing.
 */
import type { SparkConfig } from '../models/config';
import { encoderState, type StateEntry, sparkState, timmEncoderState } from '../models/official-names';
import {
  readSafetensors,
  SafetensorsError,
  type TensorToWrite,
  toFloat64Array,
  writeSafetensors,
} from './safetensors';

export const STATE_FORMAT = 'sparklab-spark-state/1';
export const ENCODER_FORMAT = 'sparklab-encoder-timm/1';

/** Official-layout values by official name (num_batches_tracked as a one-element array). */
export type StateValues = Map<string, ArrayLike<number>>;

export class StateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateError';
  }
}

function serialise(
  entries: readonly StateEntry[],
  values: (entry: StateEntry) => ArrayLike<number>,
): [string, TensorToWrite][] {
  return entries.map((entry) => {
    const data = values(entry);
    const n = entry.shape.reduce((a, b) => a * b, 1);
    if (data.length !== n)
      throw new StateError(`${entry.name} has ${data.length} values; its shape [${entry.shape}] needs ${n}.`);
    return [
      entry.name,
      entry.dtype === 'I64'
        ? {
            dtype: 'I64',
            shape: entry.shape,
            data: BigInt64Array.from(Array.from(data, (v) => BigInt(Math.round(v)))),
          }
        : { dtype: 'F32', shape: entry.shape, data: Float32Array.from(data) },
    ];
  });
}

function requireValue(values: StateValues, name: string, lookup = name): ArrayLike<number> {
  const v = values.get(lookup);
  if (!v) throw new StateError(`The state has no tensor named ${name}; cannot save it.`);
  return v;
}

/** The full model state as a safetensors file (config JSON in the metadata). */
export function saveState(
  config: SparkConfig,
  values: StateValues,
  metadata: Record<string, string> = {},
): Uint8Array {
  const tensors = serialise(sparkState(config), (e) => requireValue(values, e.name));
  return writeSafetensors(tensors, { format: STATE_FORMAT, config: JSON.stringify(config), ...metadata });
}

/** The encoder alone under timm-style names (`sparse_encoder.sp_cnn.` stripped), parameters and BN buffers. */
export function exportEncoderTimm(
  config: SparkConfig,
  values: StateValues,
  metadata: Record<string, string> = {},
): Uint8Array {
  const full = encoderState(config);
  const timm = timmEncoderState(config);
  const tensors = serialise(timm, (e) => requireValue(values, e.name, full[timm.indexOf(e)].name));
  return writeSafetensors(tensors, { format: ENCODER_FORMAT, ...metadata });
}

export interface LoadOptions {
  /** Ignore tensors the configuration does not have (e.g. a classifier head); default false. */
  ignoreUnexpected?: boolean;
}

function load(entries: readonly StateEntry[], bytes: Uint8Array, fileName: string, options: LoadOptions) {
  let file: ReturnType<typeof readSafetensors>;
  try {
    file = readSafetensors(bytes, fileName);
  } catch (error) {
    if (error instanceof SafetensorsError) throw new StateError(error.message);
    throw error;
  }
  const out = new Map<string, Float64Array>();
  const missing: string[] = [];
  for (const entry of entries) {
    const t = file.tensors.get(entry.name);
    if (!t) {
      missing.push(entry.name);
      continue;
    }
    const sameShape = t.shape.length === entry.shape.length && t.shape.every((d, i) => d === entry.shape[i]);
    if (!sameShape)
      throw new StateError(
        `${fileName}: ${entry.name} has shape [${t.shape}] but this model needs [${entry.shape}]; the file was saved for another configuration.`,
      );
    const isFloat = t.dtype === 'F32' || t.dtype === 'F64' || t.dtype === 'F16' || t.dtype === 'BF16';
    if (entry.dtype === 'F32' ? !isFloat : isFloat)
      throw new StateError(
        `${fileName}: ${entry.name} is ${t.dtype}, expected ${entry.dtype === 'F32' ? 'a float' : 'an integer'} tensor.`,
      );
    out.set(entry.name, toFloat64Array(t));
  }
  if (missing.length > 0)
    throw new StateError(
      `${fileName} lacks ${missing.length} tensor(s) this model needs, e.g. ${missing.slice(0, 3).join(', ')}; it was saved for another configuration.`,
    );
  if (!options.ignoreUnexpected) {
    const known = new Set(entries.map((e) => e.name));
    const extra = [...file.tensors.keys()].filter((name) => !known.has(name));
    if (extra.length > 0)
      throw new StateError(
        `${fileName} has ${extra.length} tensor(s) this model does not have, e.g. ${extra.slice(0, 3).join(', ')}; it was saved for another configuration.`,
      );
  }
  return { values: out, metadata: file.metadata };
}

/** Reads a full-state checkpoint for `config`; throws StateError (and returns nothing) on any mismatch. */
export function loadState(
  config: SparkConfig,
  bytes: Uint8Array,
  fileName = 'checkpoint',
  options: LoadOptions = {},
): { values: Map<string, Float64Array>; metadata: Record<string, string> } {
  return load(sparkState(config), bytes, fileName, options);
}

/**
 * Reads an encoder saved under timm-style names (ours or a timm/official dense model converted to
 * safetensors) and returns it under the full SparK names.
 */
export function loadEncoderTimm(
  config: SparkConfig,
  bytes: Uint8Array,
  fileName = 'encoder',
  options: LoadOptions = {},
): Map<string, Float64Array> {
  const timm = timmEncoderState(config);
  const full = encoderState(config);
  const { values } = load(timm, bytes, fileName, options);
  return new Map(timm.map((e, i) => [full[i].name, values.get(e.name)!]));
}
