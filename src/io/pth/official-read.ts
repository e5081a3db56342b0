/**
 * Opening checkpoints of the official SparK code (or files laid out like them) as SparkLab state:
 *
 *   official   { module: state_dict(with_config=True), optimizer, epoch, arch?, input_size?, ... }
 *   flat       the module's state_dict saved on its own (published files may be only that)
 *   encoder    `*_1kpretrained_timm_style.pth`: the encoder alone under timm names (decoder left fresh)
 *
 * The configuration is found by matching every tensor name and shape against SparkLab's presets and the
 * official architectures (at the input size the file gives: `config`, `input_size` or the `norm_black`
 * buffer), or given by the caller. Every tensor the model needs must be there with its shape; anything
 * else is reported in `warnings`, as the official `load_state_dict(strict=False)` would print it.
 */
import { type SparkConfig, validateSparkConfig } from '../../models/config';
import { ENCODER_PREFIX, encoderState, sparkState } from '../../models/official-names';
import { OFFICIAL_PRESETS, PRESETS } from '../../models/presets';
import { toFloat64Array } from '../safetensors';
import { PthError } from './errors';
import { inferConfig } from './infer';
import { officialParamGroups } from './official';
import { PyTuple, type PyValue, TensorRef } from './pickle-read';
import type { PthArchive } from './read';

export type OfficialKind = 'official' | 'flat' | 'encoder';

export interface OfficialOptimizerState {
  name: 'lamb' | 'adamw';
  /** Per parameter (official names and layouts); zeros where the file has no state for a parameter. */
  expAvg: Map<string, Float32Array>;
  expAvgSq: Map<string, Float32Array>;
  steps: { decay: number; noDecay: number };
  lr: number;
  weightDecay: number;
  betas: [number, number];
  maxGradNorm: number;
}

export interface OfficialImport {
  kind: OfficialKind;
  config: SparkConfig;
  /** Official names and layouts; num_batches_tracked as one-element arrays. Encoder files: encoder only. */
  state: Map<string, Float32Array>;
  optimizer?: OfficialOptimizerState;
  epoch?: number;
  arch?: string;
  performanceDesc?: string;
  warnings: string[];
}

export interface OfficialReadOptions {
  /** Skip matching: the file must fit this configuration. */
  config?: SparkConfig;
  /** Input size when the file does not say (encoder-only files); default 224. */
  inputSize?: number;
  /** Read the optimizer state too (default true); viewing needs only the weights. */
  withOptimizer?: boolean;
  onProgress?: (bytesRead: number, bytesTotal: number) => void;
}

const UNUSED_BUFFERS = new Set(['imn_m', 'imn_s', 'norm_black']);

function asMap(value: PyValue | undefined): Map<unknown, PyValue> | undefined {
  return value instanceof Map ? (value as Map<unknown, PyValue>) : undefined;
}

function tensorsOf(dict: Map<unknown, PyValue>): Map<string, TensorRef> {
  const out = new Map<string, TensorRef>();
  for (const [k, v] of dict) if (typeof k === 'string' && v instanceof TensorRef) out.set(k, v);
  return out;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function candidates(inputSize: number): SparkConfig[] {
  const all = [...Object.values(PRESETS), ...Object.values(OFFICIAL_PRESETS)] as SparkConfig[];
  return all.map((c) => ({ ...structuredClone(c), inputSize }));
}

function toF32(name: string, t: TensorRef): Float32Array {
  const value = t.value;
  if (!value) throw new PthError(`${name} was not read from the file.`);
  if (value.dtype === 'F32') return (value.data as Float32Array).slice();
  if (!['F16', 'BF16', 'F64', 'I64', 'I32'].includes(value.dtype))
    throw new PthError(`${name} is a ${value.dtype} tensor where a number tensor was expected.`);
  return Float32Array.from(toFloat64Array(value));
}

function number(value: PyValue | undefined, fallback: number): number {
  if (typeof value === 'number') return value;
  if (value instanceof TensorRef && value.value && value.value.data.length === 1)
    return Number(value.value.data[0]);
  return fallback;
}

/**
 * The configuration whose every tensor (names under the official prefixes, shapes) the file holds: a preset
 * or official architecture at `inputSize` when one fits, else one inferred from the names and shapes
 * (./infer.ts), checked against every tensor. `encoderOnly`: only the encoder's tensors are required.
 */
export function configOfShapes(
  shapes: ReadonlyMap<string, readonly number[]>,
  inputSize: number,
  encoderOnly = false,
): { config: SparkConfig; inferred: boolean } | undefined {
  const needed = (c: SparkConfig) => (encoderOnly ? encoderState(c) : sparkState(c));
  const fitsShapes = (c: SparkConfig) =>
    needed(c).every((e) => {
      const shape = shapes.get(e.name);
      return shape !== undefined && sameShape(shape, e.shape);
    });
  const valid = (c: SparkConfig) => {
    try {
      validateSparkConfig(c);
      return true;
    } catch {
      return false;
    }
  };
  // A deeper model holds every tensor of a shallower one of its family (ResNet-101 ⊃ ResNet-50): a
  // candidate must use exactly the file's model tensors, and only failing that one that ignores some.
  const modelTensors = [...shapes.keys()].filter((n) => !UNUSED_BUFFERS.has(n)).length;
  const exact = (c: SparkConfig) => needed(c).length === modelTensors;
  const fitting = candidates(inputSize).filter((c) => valid(c) && fitsShapes(c));
  const match = fitting.find(exact);
  if (match) return { config: match, inferred: false };
  const inferred = inferConfig(shapes, inputSize);
  if (inferred && valid(inferred) && fitsShapes(inferred)) return { config: inferred, inferred: true };
  if (fitting.length > 0) return { config: fitting[0], inferred: false };
  return undefined;
}

export async function readOfficial(
  archive: PthArchive,
  options: OfficialReadOptions = {},
): Promise<OfficialImport> {
  const file = archive.name;
  const warnings: string[] = [];
  const root = asMap(archive.root);
  if (!root) throw new PthError(`${file} holds no dict at its top level, so it is not a model checkpoint.`);
  const wrapped = asMap(root.get('module'));
  const moduleDict = wrapped ?? root;
  let tensors = tensorsOf(moduleDict);
  if (tensors.size === 0)
    throw new PthError(`${file} holds no tensors under ${wrapped ? '"module"' : 'its top level'}.`);
  const names = [...tensors.keys()];
  const isEncoder =
    !wrapped && !names.some((n) => n.startsWith(ENCODER_PREFIX) || n.startsWith('dense_decoder.'));
  const kind: OfficialKind = wrapped ? 'official' : isEncoder ? 'encoder' : 'flat';
  if (isEncoder) tensors = new Map([...tensors].map(([k, v]) => [`${ENCODER_PREFIX}${k}`, v]));

  const officialConfig = asMap(moduleDict.get('config'));
  const declared =
    options.config?.inputSize ??
    number(officialConfig?.get('sparse_encoder.input_size'), Number.NaN) ??
    Number.NaN;
  const blackShape = tensors.get('norm_black')?.shape;
  const inputSize = Number.isFinite(declared)
    ? declared
    : typeof root.get('input_size') === 'number'
      ? (root.get('input_size') as number)
      : (blackShape?.[2] ?? options.inputSize ?? 224);
  if (kind === 'encoder' && options.inputSize === undefined && !options.config)
    warnings.push(
      `${file} is an encoder alone and does not say its input size; it is opened at ${inputSize} px.`,
    );

  const needed = (c: SparkConfig) => (kind === 'encoder' ? encoderState(c) : sparkState(c));
  let config: SparkConfig;
  if (options.config) {
    config = validateSparkConfig(structuredClone(options.config));
    const missing = needed(config).filter((e) => !tensors.has(e.name));
    if (missing.length > 0)
      throw new PthError(
        `${file} lacks ${missing.length} tensor(s) of the given configuration, e.g. ${missing
          .slice(0, 3)
          .map((e) => e.name)
          .join(', ')}.`,
      );
    for (const e of needed(config)) {
      const t = tensors.get(e.name) as TensorRef;
      if (!sameShape(t.shape, e.shape))
        throw new PthError(
          `${file}: ${e.name} has shape [${t.shape.join(', ')}] but the given configuration needs [${e.shape.join(', ')}].`,
        );
    }
  } else {
    const found = configOfShapes(
      new Map([...tensors].map(([k, t]) => [k, t.shape])),
      inputSize,
      kind === 'encoder',
    );
    if (!found)
      throw new PthError(
        `${file} (${tensors.size} tensors at ${inputSize} px) matches none of SparkLab's presets or the official architectures and is not a timm-named ResNet or official-named ConvNeXt SparK model SparkLab can build; open it with an explicit configuration (--config).`,
      );
    if (found.inferred)
      warnings.push(
        `${file} matches no preset; its configuration was inferred from the tensor names and shapes (strides follow the usual layouts).`,
      );
    config = found.config;
  }
  const densifyFixed = officialConfig?.get('densify_norm_str');
  if (typeof densifyFixed === 'string' && densifyFixed !== config.densifyNorm)
    throw new PthError(
      `${file} was saved with densify norm '${densifyFixed}' but the matched configuration uses '${config.densifyNorm}'.`,
    );
  const maskRatio = officialConfig?.get('mask_ratio');
  if (typeof maskRatio === 'number') config.maskRatio = maskRatio;
  const width = officialConfig?.get('dense_decoder.width');
  if (typeof width === 'number' && width !== config.decoderWidth)
    throw new PthError(
      `${file} says its decoder width is ${width} but its tensors fit width ${config.decoderWidth}.`,
    );

  const entries = needed(config);
  const known = new Set(entries.map((e) => e.name));
  const extra = [...tensors.keys()].filter((n) => !known.has(n) && !UNUSED_BUFFERS.has(n));
  if (extra.length > 0)
    warnings.push(
      `${file} has ${extra.length} tensor(s) this model does not use (e.g. ${extra.slice(0, 3).join(', ')}); they are ignored.`,
    );

  // Read what is needed: the module's tensors, and the optimizer's when asked for.
  const optimizerDict = options.withOptimizer === false ? undefined : asMap(root.get('optimizer'));
  const wanted = entries.map((e) => tensors.get(e.name) as TensorRef);
  const optimizerTensors = optimizerDict ? archive.tensors.filter((t) => !wanted.includes(t)) : [];
  await archive.load([...wanted, ...optimizerTensors], options.onProgress);

  const state = new Map<string, Float32Array>();
  for (const e of entries) state.set(e.name, toF32(e.name, tensors.get(e.name) as TensorRef));

  const result: OfficialImport = { kind, config, state, warnings };
  if (typeof root.get('epoch') === 'number') result.epoch = root.get('epoch') as number;
  if (typeof root.get('arch') === 'string') result.arch = root.get('arch') as string;
  if (typeof root.get('performance_desc') === 'string')
    result.performanceDesc = root.get('performance_desc') as string;
  if (optimizerDict && kind !== 'encoder') result.optimizer = readOptimizer(file, config, optimizerDict);
  return result;
}

function readOptimizer(
  file: string,
  config: SparkConfig,
  dict: Map<unknown, PyValue>,
): OfficialOptimizerState {
  const groups = dict.get('param_groups');
  const state = asMap(dict.get('state')) ?? new Map();
  if (!Array.isArray(groups)) throw new PthError(`${file}: its optimizer has no list of param_groups.`);
  const expected = officialParamGroups(config);
  const shapes = new Map(sparkState(config).map((e) => [e.name, e.shape]));
  if (
    groups.length !== expected.length ||
    groups.some((g, i) => {
      const params = asMap(g)?.get('params');
      return !Array.isArray(params) || params.length !== expected[i].names.length;
    })
  )
    throw new PthError(
      `${file}: its optimizer has ${groups.length} parameter group(s) of sizes ${groups.map((g) => (asMap(g)?.get('params') as unknown[] | undefined)?.length ?? '?').join('/')}, not the official ${expected.map((g) => g.names.length).join('/')} of this model; it was saved for another model or parameter grouping.`,
    );
  const first = asMap(groups[0]) as Map<unknown, PyValue>;
  const name: 'lamb' | 'adamw' = first.has('grad_averaging') || first.has('always_adapt') ? 'lamb' : 'adamw';
  const expAvg = new Map<string, Float32Array>();
  const expAvgSq = new Map<string, Float32Array>();
  const steps = { decay: 0, noDecay: 0 };
  let decayGroup: Map<unknown, PyValue> | undefined;
  expected.forEach((g, i) => {
    const group = asMap(groups[i]) as Map<unknown, PyValue>;
    if (g.decay) decayGroup = group;
    const ids = group.get('params') as PyValue[];
    let groupStep = number(group.get('step'), 0);
    g.names.forEach((param, j) => {
      const entry = asMap(state.get(ids[j] as number));
      const shape = shapes.get(param) as number[];
      const count = shape.reduce((a, b) => a * b, 1);
      for (const [key, target] of [
        ['exp_avg', expAvg],
        ['exp_avg_sq', expAvgSq],
      ] as const) {
        const t = entry?.get(key);
        if (t === undefined) {
          target.set(param, new Float32Array(count));
          continue;
        }
        if (!(t instanceof TensorRef) || !sameShape(t.shape, shape))
          throw new PthError(
            `${file}: the optimizer's ${key} for ${param} does not have the parameter's shape [${shape.join(', ')}].`,
          );
        target.set(param, toF32(`${key} of ${param}`, t));
      }
      if (name === 'adamw' && entry) groupStep = Math.max(groupStep, number(entry.get('step'), 0));
    });
    if (g.decay) steps.decay = groupStep;
    else steps.noDecay = groupStep;
  });
  const reference = decayGroup ?? first;
  const betas = reference.get('betas');
  const pair =
    betas instanceof PyTuple && betas.items.length === 2 && betas.items.every((b) => typeof b === 'number')
      ? (betas.items as [number, number])
      : ([0.9, 0.999] as [number, number]);
  return {
    name,
    expAvg,
    expAvgSq,
    steps,
    lr: number(reference.get('lr'), 0),
    weightDecay: number(reference.get('weight_decay'), 0),
    betas: pair,
    maxGradNorm: number(reference.get('max_grad_norm'), 5),
  };
}
