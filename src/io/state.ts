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
  DEFAULT_SAFETENSORS_LIMITS,
  openSafetensors,
  SafetensorsError,
  type SafetensorsHeader,
  SafetensorsReader,
  type TensorToWrite,
  toFloat64Array,
  writeSafetensors,
} from './safetensors';

export const STATE_FORMAT = 'sparklab-spark-state/1';
export const ENCODER_FORMAT = 'sparklab-encoder-timm/1';

/**
 * Why a file's `format` metadata is not `expected` ('name/version'), as a sentence, or undefined when it is:
 * another version of the same format says which SparkLab wrote it, so an update explains itself.
 */
export function formatMismatch(
  found: string | undefined,
  expected: string,
  fileName: string,
): string | undefined {
  if (found === expected) return undefined;
  const [name, version] = expected.split('/');
  const match = found?.match(/^(.+)\/(\d+)$/);
  if (match && match[1] === name) {
    const newer = Number(match[2]) > Number(version);
    return `${fileName} was saved by ${newer ? 'a newer' : 'an older'} SparkLab (format ${found}); this version reads ${expected}${newer ? ': update SparkLab to open it' : ''}.`;
  }
  return `${fileName} is not a ${name} file (format "${found ?? 'none'}").`;
}

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

/** A whole file in memory, or one already opened (parsed once) by `openSafetensors`. */
export type StateSource = Uint8Array | SafetensorsReader;

function rethrowAsState(error: unknown): never {
  if (error instanceof SafetensorsError) throw new StateError(error.message);
  throw error;
}

/** Opens bytes once; a reader is passed through, so one parse serves every check and load. */
export function openStateFile(source: StateSource, fileName: string): SafetensorsReader {
  if (source instanceof SafetensorsReader) return source;
  try {
    return openSafetensors(source, fileName);
  } catch (error) {
    rethrowAsState(error);
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Checks a parsed header against the tensors a model needs (names, dtypes, shapes), before any tensor is
 * decoded: works on a header read from the first bytes of a file, so a mismatch is refused without reading
 * the rest. Throws StateError naming the first problem.
 */
export function checkStateHeader(
  entries: readonly StateEntry[],
  header: SafetensorsHeader,
  fileName: string,
  options: LoadOptions = {},
): void {
  const missing: string[] = [];
  for (const entry of entries) {
    const t = header.tensors.get(entry.name);
    if (!t) {
      missing.push(entry.name);
      continue;
    }
    if (!sameShape(t.shape, entry.shape))
      throw new StateError(
        `${fileName}: ${entry.name} has shape [${t.shape}] but this model needs [${entry.shape}]; the file was saved for another configuration.`,
      );
    const isFloat = t.dtype === 'F32' || t.dtype === 'F64' || t.dtype === 'F16' || t.dtype === 'BF16';
    if (entry.dtype === 'F32' ? !isFloat : isFloat)
      throw new StateError(
        `${fileName}: ${entry.name} is ${t.dtype}, expected ${entry.dtype === 'F32' ? 'a float' : 'an integer'} tensor.`,
      );
  }
  if (missing.length > 0)
    throw new StateError(
      `${fileName} lacks ${missing.length} tensor(s) this model needs, e.g. ${missing.slice(0, 3).join(', ')}; it was saved for another configuration.`,
    );
  if (!options.ignoreUnexpected) {
    const known = new Set(entries.map((e) => e.name));
    const extra = [...header.tensors.keys()].filter((name) => !known.has(name));
    if (extra.length > 0)
      throw new StateError(
        `${fileName} has ${extra.length} tensor(s) this model does not have, e.g. ${extra.slice(0, 3).join(', ')}; it was saved for another configuration.`,
      );
  }
}

/** Bytes of the tensor data of a state file of `config` (float32 values, int64 counters). */
export function stateDataBytes(config: SparkConfig): number {
  let bytes = 0;
  for (const e of sparkState(config))
    bytes += e.shape.reduce((a, b) => a * b, 1) * (e.dtype === 'I64' ? 8 : 4);
  return bytes;
}

/**
 * The largest file accepted for a model whose tensor data takes `dataBytes`: the data, a full header, and
 * as much again for tensors the model ignores (a classifier head, float64 copies). Anything larger is not a
 * file of this model, and is refused from its size alone, before it is read.
 */
export function maxFileBytesFor(dataBytes: number): number {
  return 2 * dataBytes + DEFAULT_SAFETENSORS_LIMITS.maxHeaderBytes + 8;
}

/** Throws StateError when a file of `fileBytes` is far larger than any file of this model could be. */
export function checkFileSize(fileBytes: number, dataBytes: number, fileName: string): void {
  const limit = maxFileBytesFor(dataBytes);
  if (fileBytes > limit) {
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
    throw new StateError(
      `${fileName} is ${mib(fileBytes)}, far more than the ${mib(dataBytes)} of this model's weights (at most ${mib(limit)} accepted); it is not a file of this model.`,
    );
  }
}

function load(entries: readonly StateEntry[], source: StateSource, fileName: string, options: LoadOptions) {
  const reader = openStateFile(source, fileName);
  checkStateHeader(entries, reader.header, fileName, options);
  const out = new Map<string, Float64Array>();
  for (const entry of entries) out.set(entry.name, toFloat64Array(reader.tensor(entry.name)!));
  return { values: out, metadata: reader.metadata };
}

/**
 * Reads a full-state checkpoint for `config` (bytes, or a reader already opened so the file is parsed once);
 * throws StateError (and returns nothing) on any mismatch, found from the header before any tensor is decoded.
 */
export function loadState(
  config: SparkConfig,
  source: StateSource,
  fileName = 'checkpoint',
  options: LoadOptions = {},
): { values: Map<string, Float64Array>; metadata: Record<string, string> } {
  return load(sparkState(config), source, fileName, options);
}

/**
 * Reads an encoder saved under timm-style names (ours or a timm/official dense model converted to
 * safetensors) and returns it under the full SparK names.
 */
export function loadEncoderTimm(
  config: SparkConfig,
  source: StateSource,
  fileName = 'encoder',
  options: LoadOptions = {},
): Map<string, Float64Array> {
  const timm = timmEncoderState(config);
  const full = encoderState(config);
  const { values } = load(timm, source, fileName, options);
  return new Map(timm.map((e, i) => [full[i].name, values.get(e.name)!]));
}
