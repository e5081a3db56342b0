/**
 * The checkpoint layout of the official SparK pre-training (keyu-tian/SparK `pretrain/main.py`), built from
 * a SparkLab training checkpoint:
 *
 *   { args: str, input_size: int, arch: str, epoch: int, performance_desc: str,
 *     module: OrderedDict(state_dict(with_config=True)), optimizer: {state, param_groups}, is_pretrain: True }
 *
 * `module` follows the official module's registration order (its three unused buffers imn_m, imn_s and
 * norm_black first, then encoder, decoder, densify norms, projections, mask tokens; ConvNeXt blocks list their
 * layer-scale `gamma` before their layers) and ends with the `config` dict the official `load_state_dict`
 * compares. `optimizer` is what `optimizer.state_dict()` of the official LAMB (or PyTorch's AdamW) holds for
 * the official parameter groups: parameters numbered group by group, the group of the first parameter
 * first, per-parameter moments, and the step counter per group (LAMB) or per parameter (AdamW).
 */
import type { SparkConfig } from '../../models/config';
import { decoderBlockCount, featureChannels } from '../../models/config';
import { ENCODER_PREFIX, type StateEntry, sparkState, timmName } from '../../models/official-names';
import type { TrainerCheckpoint } from '../../train/checkpoint';
import { PthError } from './errors';
import { PyFloat, PyOrderedDict, type PyOut, PyTupleOut, TensorOut } from './write';

/** The architectures the official `main.py` builds (`--model`), with their drop-path rates. */
export const OFFICIAL_ARCHS = [
  'resnet50',
  'resnet101',
  'resnet152',
  'resnet200',
  'convnext_small',
  'convnext_base',
  'convnext_large',
] as const;
export type OfficialArch = (typeof OFFICIAL_ARCHS)[number];

/** The official default drop-path rate of each architecture (`pre_train_d`; `--dp` overrides it). */
export const OFFICIAL_DROP_PATH_RATES: Record<OfficialArch, number> = {
  resnet50: 0.05,
  resnet101: 0.08,
  resnet152: 0.1,
  resnet200: 0.15,
  convnext_small: 0.2,
  convnext_base: 0.3,
  convnext_large: 0.4,
};

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

export interface ModuleEntry {
  name: string;
  shape: number[];
  dtype: 'F32' | 'I64';
  kind: 'param' | 'buffer';
}

function section(name: string): number {
  if (name.startsWith('sparse_encoder.')) return 1;
  if (name.startsWith('dense_decoder.')) return 2;
  if (name.startsWith('densify_norms.')) return 3;
  if (name.startsWith('densify_projs.')) return 4;
  if (name.startsWith('mask_tokens.')) return 5;
  throw new PthError(`${name} belongs to no part of the official SparK module.`);
}

/** The official `state_dict()` order of a configuration (without the trailing `config`). */
export function officialModuleEntries(config: SparkConfig): ModuleEntry[] {
  const size = config.inputSize;
  const head: ModuleEntry[] = [
    { name: 'imn_m', shape: [1, 3, 1, 1], dtype: 'F32', kind: 'buffer' },
    { name: 'imn_s', shape: [1, 3, 1, 1], dtype: 'F32', kind: 'buffer' },
    { name: 'norm_black', shape: [1, 3, size, size], dtype: 'F32', kind: 'buffer' },
  ];
  const entries = sparkState(config).map((e: StateEntry, index) => ({ e, index }));
  // Stable sort by module section; within a ConvNeXt block the block's own parameter (gamma) precedes its
  // children's, as PyTorch lists a module's own parameters before those of its submodules.
  const rank = ({ e, index }: { e: StateEntry; index: number }): number => {
    let position = index;
    if (e.name.endsWith('.gamma') && e.name.includes('.stages.')) {
      const block = e.name.slice(0, -'gamma'.length);
      position = entries.findIndex((x) => x.e.name.startsWith(block)) - 0.5;
    }
    return section(e.name) * 1e9 + position;
  };
  const sorted = [...entries].sort((a, b) => rank(a) - rank(b));
  return [
    ...head,
    ...sorted.map(({ e }) => ({ name: e.name, shape: [...e.shape], dtype: e.dtype, kind: e.kind })),
  ];
}

/** The official no-decay rule of `get_param_groups` (nowd_keys cls_token, pos_embed, mask_token, gamma). */
export function officialNoDecayRule(name: string, shape: readonly number[]): boolean {
  return (
    shape.length === 1 ||
    name.endsWith('.bias') ||
    ['cls_token', 'pos_embed', 'mask_token', 'gamma'].some((k) => name.includes(k))
  );
}

export interface ParamGroup {
  decay: boolean;
  names: string[];
}

/** Parameter groups in the official order: the group of the first named parameter first. */
export function officialParamGroups(config: SparkConfig): ParamGroup[] {
  const groups: ParamGroup[] = [];
  for (const e of officialModuleEntries(config)) {
    if (e.kind !== 'param') continue;
    const decay = !officialNoDecayRule(e.name, e.shape);
    let group = groups.find((g) => g.decay === decay);
    if (!group) {
      group = { decay, names: [] };
      groups.push(group);
    }
    group.names.push(e.name);
  }
  return groups;
}

/** The official config dict of `SparK.get_config()`. */
export function officialConfigDict(config: SparkConfig, sbn: boolean): Map<string, PyOut> {
  return new Map<string, PyOut>([
    ['mask_ratio', new PyFloat(config.maskRatio)],
    ['densify_norm_str', config.densifyNorm],
    ['sbn', sbn],
    ['hierarchy', featureChannels(config.backbone).length],
    ['sparse_encoder.input_size', config.inputSize],
    ['dense_decoder.width', config.decoderWidth],
  ]);
}

/** Which official architecture a configuration is, if any (compared structurally, not by preset name). */
export function officialArchOf(config: SparkConfig): OfficialArch | undefined {
  const b = config.backbone;
  const same = (a: readonly number[], c: readonly number[]) =>
    a.length === c.length && a.every((x, i) => x === c[i]);
  if (b.family === 'resnet') {
    const standard =
      b.block === 'bottleneck' &&
      b.stemWidth === 64 &&
      b.stemKernel === 7 &&
      b.stemStride === 2 &&
      b.maxpool &&
      same(b.widths, [64, 128, 256, 512]) &&
      same(b.stageStrides, [1, 2, 2, 2]);
    if (!standard) return undefined;
    const depths: Record<string, OfficialArch> = {
      '3,4,6,3': 'resnet50',
      '3,4,23,3': 'resnet101',
      '3,8,36,3': 'resnet152',
      '3,24,36,3': 'resnet200',
    };
    return depths[b.depths.join(',')];
  }
  if (!same(b.depths, [3, 3, 27, 3])) return undefined;
  const dims: Record<string, OfficialArch> = {
    '96,192,384,768': 'convnext_small',
    '128,256,512,1024': 'convnext_base',
    '192,384,768,1536': 'convnext_large',
  };
  return dims[b.dims.join(',')];
}

/** Sentences on what the official `main.py` will not do with a file exported for this configuration. */
export function officialWarnings(config: SparkConfig): string[] {
  const warnings: string[] = [];
  const arch = officialArchOf(config);
  if (!arch)
    warnings.push(
      `The official main.py builds only resnet50/101/152/200 and convnext_small/base/large; this model is none of them, so main.py cannot resume it, though the official SparK class built with this encoder loads it (the encoder under ${config.backbone.family === 'resnet' ? "timm's ResNet names" : "the official ConvNeXt's names"}).`,
    );
  if (config.decoderWidth !== 768)
    warnings.push(
      `The official main.py always builds a decoder of width 768; this one has ${config.decoderWidth}, so main.py cannot resume it (a SparK model built with LightDecoder(width=${config.decoderWidth}) can).`,
    );
  const official = config.backbone.family === 'resnet' ? 'bn' : 'ln';
  // main.py sets args.densify_norm itself from the architecture ('bn' for ResNets, 'ln' for ConvNeXts),
  // overriding any --densify_norm given, so no flag makes it build another densify norm.
  if (config.densifyNorm !== official)
    warnings.push(
      `The official main.py always uses the '${official}' densify norm for this family (it overrides --densify_norm); this model uses '${config.densifyNorm}', so main.py cannot resume it (its non-strict load would leave the densify norms mismatched), though the official SparK class built with densify_norm='${config.densifyNorm}' loads it.`,
    );
  const ablations = (
    [
      ['encoder', 'sparse'],
      ['decoderInputs', 'all'],
      ['maskToken', 'learned'],
      ['lossTarget', 'patch-norm'],
      ['lossOn', 'masked'],
    ] as const
  ).filter(([key, value]) => config[key] !== value);
  if (ablations.length > 0)
    warnings.push(
      `This run uses ablations the official code does not have (${ablations.map(([k]) => `${k}=${config[k]}`).join(', ')}); the official code would continue it as plain SparK.`,
    );
  const rate = config.dropPathRate ?? 0;
  if (arch && rate !== OFFICIAL_DROP_PATH_RATES[arch])
    warnings.push(
      rate === 0
        ? `This run trained without drop path; the official main.py always uses one for ${arch} (${OFFICIAL_DROP_PATH_RATES[arch]}, since --dp=0 means its default), so the continuation will drop residual paths.`
        : `This run used drop path ${rate}; the official main.py uses ${OFFICIAL_DROP_PATH_RATES[arch]} for ${arch}: pass --dp=${rate} to continue with the same rate.`,
    );
  if (decoderBlockCount(config) < featureChannels(config.backbone).length)
    warnings.push(
      'Its encoder has more feature maps than the decoder has blocks; the official SparK leaves the extra densify layers unused as SparkLab does.',
    );
  return warnings;
}

export interface OfficialExportOptions {
  /** SyncBatchNorm flag of the config: true for multi-GPU continuation (the official default there). */
  sbn: boolean;
  /** Completed passes over the data minus one (the official code resumes at epoch + 1); see epochOf. */
  epoch: number;
  performanceDesc?: string;
  args?: string;
  /** The `arch` key; defaults to the official architecture of the configuration, or 'sparklab-custom'. */
  arch?: string;
}

/** Epoch as the official checkpoint means it: completed passes over the data, minus one. */
export function epochOf(step: number, batch: number, datasetSize: number): number {
  if (!(datasetSize > 0)) throw new PthError('The dataset size must be positive to count epochs.');
  return Math.floor((step * batch) / datasetSize) - 1;
}

function f32(shape: readonly number[], data: ArrayLike<number>, name: string): TensorOut {
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count)
    throw new PthError(
      `${name} has ${data.length} values but its official shape [${shape.join(', ')}] needs ${count}.`,
    );
  return new TensorOut('F32', shape, data instanceof Float32Array ? data : Float32Array.from(data));
}

function moduleDict(checkpoint: TrainerCheckpoint, sbn: boolean): PyOrderedDict {
  const { config, state } = checkpoint;
  const size = config.inputSize;
  const out = new Map<string, PyOut>();
  for (const e of officialModuleEntries(config)) {
    if (e.name === 'imn_m' || e.name === 'imn_s') {
      const values = e.name === 'imn_m' ? IMAGENET_MEAN : IMAGENET_STD;
      out.set(e.name, f32(e.shape, values, e.name));
    } else if (e.name === 'norm_black') {
      // Registered as zeros by the official module and never used.
      out.set(e.name, new TensorOut('F32', e.shape, new Float32Array(3 * size * size)));
    } else {
      const values = state.get(e.name);
      if (!values) throw new PthError(`The checkpoint has no tensor ${e.name}; it cannot be exported.`);
      out.set(
        e.name,
        e.dtype === 'I64'
          ? new TensorOut('I64', [], BigInt64Array.from([BigInt(Math.round(values[0]))]))
          : f32(e.shape, values, e.name),
      );
    }
  }
  out.set('config', officialConfigDict(config, sbn));
  return new PyOrderedDict(out);
}

function optimizerDict(checkpoint: TrainerCheckpoint): Map<string, PyOut> {
  const { config, progress, expAvg, expAvgSq } = checkpoint;
  const hyper = progress.hyper;
  const groups = officialParamGroups(config);
  const shapes = new Map(sparkState(config).map((e) => [e.name, e.shape]));
  const state = new Map<number, PyOut>();
  const paramGroups: PyOut[] = [];
  let id = 0;
  for (const group of groups) {
    const steps = group.decay ? progress.optimizerSteps.decay : progress.optimizerSteps.noDecay;
    const ids: number[] = [];
    for (const name of group.names) {
      const shape = shapes.get(name) as number[];
      if (steps > 0) {
        const m = expAvg.get(name);
        const v = expAvgSq.get(name);
        if (!m || !v)
          throw new PthError(`The checkpoint has no optimizer moments for ${name}; it cannot be exported.`);
        const entry = new Map<string, PyOut>();
        // PyTorch 1.13's AdamW keeps a float tensor step per parameter; LAMB keeps it per group.
        if (hyper.optimizer === 'adamw')
          entry.set('step', new TensorOut('F32', [], Float32Array.from([steps])));
        entry.set('exp_avg', f32(shape, m, `exp_avg of ${name}`));
        entry.set('exp_avg_sq', f32(shape, v, `exp_avg_sq of ${name}`));
        state.set(id, entry);
      }
      ids.push(id++);
    }
    const wdScale = group.decay ? 1 : 0;
    const g = new Map<string, PyOut>([
      ['weight_decay_scale', new PyFloat(wdScale)],
      ['lr_scale', new PyFloat(1)],
      // The official loop sets lr and weight_decay from its schedule before every step; these are the
      // run's peak and starting values.
      ['lr', new PyFloat(hyper.peakLr)],
    ]);
    if (hyper.optimizer === 'lamb') {
      g.set('bias_correction', true);
      g.set('betas', new PyTupleOut([new PyFloat(hyper.beta1), new PyFloat(hyper.beta2)]));
      g.set('eps', new PyFloat(1e-6));
      g.set('weight_decay', new PyFloat(hyper.weightDecayStart * wdScale));
      g.set('grad_averaging', true);
      g.set('max_grad_norm', new PyFloat(hyper.maxGradNorm));
      g.set('trust_clip', false);
      g.set('always_adapt', false);
      if (steps > 0) g.set('step', steps);
    } else {
      g.set('betas', new PyTupleOut([new PyFloat(hyper.beta1), new PyFloat(hyper.beta2)]));
      g.set('eps', new PyFloat(1e-8));
      g.set('weight_decay', new PyFloat(hyper.weightDecayStart * wdScale));
      g.set('amsgrad', false);
      g.set('foreach', null);
      g.set('maximize', false);
      g.set('capturable', false);
    }
    g.set('params', ids);
    paramGroups.push(g);
  }
  return new Map<string, PyOut>([
    ['state', state],
    ['param_groups', paramGroups],
  ]);
}

/** The full official checkpoint (what `--resume_from` takes). */
export function officialCheckpoint(checkpoint: TrainerCheckpoint, options: OfficialExportOptions): PyOut {
  const { config, progress } = checkpoint;
  const arch = options.arch ?? officialArchOf(config) ?? 'sparklab-custom';
  return new Map<string, PyOut>([
    [
      'args',
      options.args ??
        `SparkLab export of run ${progress.runId}: step ${progress.step} of ${progress.totalSteps}, batch ${progress.batch}, seed ${progress.seed}, optimizer ${progress.hyper.optimizer}, peak lr ${progress.hyper.peakLr}`,
    ],
    ['input_size', config.inputSize],
    ['arch', arch],
    ['epoch', options.epoch],
    ['performance_desc', options.performanceDesc ?? '[exported from SparkLab]'],
    ['module', moduleDict(checkpoint, options.sbn)],
    ['optimizer', optimizerDict(checkpoint)],
    ['is_pretrain', true],
  ]);
}

/** The encoder alone under timm names, as the official `*_1kpretrained_timm_style.pth` (a flat OrderedDict). */
export function officialEncoderCheckpoint(config: SparkConfig, state: Map<string, ArrayLike<number>>): PyOut {
  const out = new Map<string, PyOut>();
  for (const e of officialModuleEntries(config)) {
    if (!e.name.startsWith(ENCODER_PREFIX)) continue;
    const values = state.get(e.name);
    if (!values) throw new PthError(`The checkpoint has no tensor ${e.name}; it cannot be exported.`);
    out.set(
      timmName(e.name),
      e.dtype === 'I64'
        ? new TensorOut('I64', [], BigInt64Array.from([BigInt(Math.round(values[0]))]))
        : f32(e.shape, values, e.name),
    );
  }
  return new PyOrderedDict(out);
}
