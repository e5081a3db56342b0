/**
 * Parity fixtures of the official SparK code (format: tests/fixtures/official/README.md, copied from the
 * shared fixture README). One fixture holds a configuration, an input batch, a mask, the initial state under
 * official names, and the tensors the official code computed from them.
 */
import { type FixtureConfig, parseFixtureConfig, totalStride } from '../models/config';
import { sparkState } from '../models/official-names';
import { readSafetensors, type SafeTensor, SafetensorsError, toFloat64Array } from './safetensors';

export const FIXTURE_FORMAT = 'spark-parity-fixture/1';

export interface NamedArray {
  shape: number[];
  data: Float64Array;
}

export interface ParityFixture {
  fileName: string;
  config: FixtureConfig;
  metadata: Record<string, string>;
  /** [B, 3, S, S] normalised images (NCHW). */
  input: NamedArray;
  /** [B, 1, g, g], 1 = visible. */
  mask: { shape: number[]; data: Uint8Array };
  /** Initial parameters and BN buffers under official names and official layouts (num_batches_tracked too). */
  state: Map<string, NamedArray>;
  /** Every `expected/...` tensor, keyed without the `expected/` prefix (e.g. `train/grad/<name>`). */
  expected: Map<string, NamedArray>;
}

export class FixtureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FixtureError';
  }
}

function asArray(t: SafeTensor): NamedArray {
  return { shape: [...t.shape], data: toFloat64Array(t) };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Parses and checks a fixture; throws FixtureError/SafetensorsError/ConfigError sentences on any problem. */
export function parseFixture(bytes: Uint8Array, fileName = 'fixture'): ParityFixture {
  const file = readSafetensors(bytes, fileName);
  if (file.metadata.format !== FIXTURE_FORMAT)
    throw new FixtureError(
      `${fileName} is not a SparK parity fixture: its metadata format is ${JSON.stringify(file.metadata.format)}, expected "${FIXTURE_FORMAT}".`,
    );
  if (!file.metadata.config) throw new FixtureError(`${fileName} has no "config" metadata.`);
  const t = file.tensors;
  const config = parseFixtureConfig(file.metadata.config, () => {
    // The official fixtures leave ConvNeXt dims empty; the widths are the depthwise convs' channel counts.
    const dims: number[] = [];
    for (let i = 0; t.has(`param/sparse_encoder.sp_cnn.stages.${i}.0.dwconv.weight`); i++)
      dims.push(t.get(`param/sparse_encoder.sp_cnn.stages.${i}.0.dwconv.weight`)!.shape[0]);
    return dims;
  });
  const { batch } = config;
  const size = config.spark.inputSize;
  const input = t.get('input');
  if (input?.dtype !== 'F32' || !sameShape(input.shape, [batch, 3, size, size]))
    throw new FixtureError(`${fileName}: "input" must be F32 [${batch}, 3, ${size}, ${size}].`);
  const mask = t.get('mask');
  const g = size / totalStride(config.spark.backbone);
  if (mask?.dtype !== 'U8' || !sameShape(mask.shape, [batch, 1, g, g]))
    throw new FixtureError(`${fileName}: "mask" must be U8 [${batch}, 1, ${g}, ${g}].`);
  const maskData = mask.data as Uint8Array;
  // Any number of visible cells per image, as the official model accepts (active_b1ff); at least one.
  for (let b = 0; b < batch; b++) {
    let visible = 0;
    for (let i = 0; i < g * g; i++) {
      const v = maskData[b * g * g + i];
      if (v !== 0 && v !== 1) throw new FixtureError(`${fileName}: mask values must be 0 or 1, found ${v}.`);
      visible += v;
    }
    if (visible === 0)
      throw new FixtureError(`${fileName}: image ${b} of the mask has no visible cell; keep at least one.`);
  }
  const state = new Map<string, NamedArray>();
  for (const entry of sparkState(config.spark)) {
    const tensor = t.get(`param/${entry.name}`);
    if (!tensor)
      throw new FixtureError(`${fileName} lacks "param/${entry.name}", which its configuration requires.`);
    if (!sameShape(tensor.shape, entry.shape) || tensor.dtype !== entry.dtype)
      throw new FixtureError(
        `${fileName}: "param/${entry.name}" is ${tensor.dtype} [${tensor.shape}], expected ${entry.dtype} [${entry.shape}].`,
      );
    state.set(entry.name, asArray(tensor));
  }
  const expected = new Map<string, NamedArray>();
  for (const [name, tensor] of t) {
    if (name.startsWith('param/') && !state.has(name.slice(6)))
      throw new FixtureError(
        `${fileName} has "${name}", which is not part of the model its configuration describes.`,
      );
    if (name.startsWith('expected/')) expected.set(name.slice(9), asArray(tensor));
  }
  return {
    fileName,
    config,
    metadata: file.metadata,
    input: asArray(input),
    mask: { shape: [...mask.shape], data: maskData },
    state,
    expected,
  };
}

export { SafetensorsError };
