/**
 * The full state of a SparK model under the official PyTorch names (keyu-tian/SparK state_dict keys), with
 * official shapes, the GPU layout each parameter is stored in (src/engine/layout.ts) and whether LAMB
 * applies weight decay to it. This list is the contract between checkpoints, the parity fixtures, the CPU
 * reference and the GPU model: everything is addressed by these names.
 */
import type { ParamLayout } from '../engine/layout';
import { officialNoDecay } from '../engine/params';
import {
  type ConvNeXtConfig,
  decoderChannels,
  densifyInputChannels,
  densifyProjIsIdentity,
  type ResNetConfig,
  type SparkConfig,
} from './config';

export type StateKind = 'param' | 'buffer';

export interface StateEntry {
  name: string;
  shape: number[];
  kind: StateKind;
  /** F32 for everything except BN `num_batches_tracked` (I64, shape []). */
  dtype: 'F32' | 'I64';
  layout: ParamLayout;
  /** LAMB weight decay (parameters only; false for buffers). */
  decay: boolean;
}

export const ENCODER_PREFIX = 'sparse_encoder.sp_cnn.';

class StateList {
  readonly entries: StateEntry[] = [];

  param(name: string, shape: number[], layout: ParamLayout = 'same'): void {
    this.entries.push({
      name,
      shape,
      kind: 'param',
      dtype: 'F32',
      layout,
      decay: !officialNoDecay(name, shape),
    });
  }

  conv(name: string, cout: number, cin: number, k: number, bias: boolean): void {
    this.param(`${name}.weight`, [cout, cin, k, k], 'conv');
    if (bias) this.param(`${name}.bias`, [cout]);
  }

  batchNorm(name: string, c: number): void {
    this.param(`${name}.weight`, [c]);
    this.param(`${name}.bias`, [c]);
    this.buffer(`${name}.running_mean`, [c], 'F32');
    this.buffer(`${name}.running_var`, [c], 'F32');
    this.buffer(`${name}.num_batches_tracked`, [], 'I64');
  }

  layerNorm(name: string, c: number): void {
    this.param(`${name}.weight`, [c]);
    this.param(`${name}.bias`, [c]);
  }

  private buffer(name: string, shape: number[], dtype: 'F32' | 'I64'): void {
    this.entries.push({ name, shape, kind: 'buffer', dtype, layout: 'same', decay: false });
  }
}

function resnetState(list: StateList, b: ResNetConfig, p: string): void {
  list.conv(`${p}conv1`, b.stemWidth, 3, b.stemKernel, false);
  list.batchNorm(`${p}bn1`, b.stemWidth);
  const expansion = b.block === 'bottleneck' ? 4 : 1;
  let inplanes = b.stemWidth;
  b.widths.forEach((planes, i) => {
    for (let j = 0; j < b.depths[i]; j++) {
      const q = `${p}layer${i + 1}.${j}.`;
      const stride = j === 0 ? b.stageStrides[i] : 1;
      const out = planes * expansion;
      if (b.block === 'basic') {
        list.conv(`${q}conv1`, planes, inplanes, 3, false);
        list.batchNorm(`${q}bn1`, planes);
        list.conv(`${q}conv2`, planes, planes, 3, false);
        list.batchNorm(`${q}bn2`, planes);
      } else {
        list.conv(`${q}conv1`, planes, inplanes, 1, false);
        list.batchNorm(`${q}bn1`, planes);
        list.conv(`${q}conv2`, planes, planes, 3, false);
        list.batchNorm(`${q}bn2`, planes);
        list.conv(`${q}conv3`, out, planes, 1, false);
        list.batchNorm(`${q}bn3`, out);
      }
      if (stride !== 1 || inplanes !== out) {
        list.conv(`${q}downsample.0`, out, inplanes, 1, false);
        list.batchNorm(`${q}downsample.1`, out);
      }
      inplanes = out;
    }
  });
}

function convnextState(list: StateList, b: ConvNeXtConfig, p: string): void {
  b.dims.forEach((d, i) => {
    if (i === 0) {
      list.conv(`${p}downsample_layers.0.0`, d, 3, 4, true);
      list.layerNorm(`${p}downsample_layers.0.1`, d);
    } else {
      list.layerNorm(`${p}downsample_layers.${i}.0`, b.dims[i - 1]);
      list.conv(`${p}downsample_layers.${i}.1`, d, b.dims[i - 1], 2, true);
    }
  });
  b.dims.forEach((d, i) => {
    for (let j = 0; j < b.depths[i]; j++) {
      const q = `${p}stages.${i}.${j}.`;
      list.param(`${q}dwconv.weight`, [d, 1, 7, 7], 'depthwise');
      list.param(`${q}dwconv.bias`, [d]);
      list.layerNorm(`${q}norm`, d);
      list.param(`${q}pwconv1.weight`, [4 * d, d], 'linear');
      list.param(`${q}pwconv1.bias`, [4 * d]);
      list.param(`${q}pwconv2.weight`, [d, 4 * d], 'linear');
      list.param(`${q}pwconv2.bias`, [d]);
      list.param(`${q}gamma`, [d]);
    }
  });
}

/** Encoder state under the full SparK names (`sparse_encoder.sp_cnn.` prefix). */
export function encoderState(config: SparkConfig): StateEntry[] {
  const list = new StateList();
  if (config.backbone.family === 'resnet') resnetState(list, config.backbone, ENCODER_PREFIX);
  else convnextState(list, config.backbone, ENCODER_PREFIX);
  return list.entries;
}

/** Every parameter and buffer of the SparK model: encoder, densify (per scale, smallest first), decoder. */
export function sparkState(config: SparkConfig): StateEntry[] {
  const list = new StateList();
  list.entries.push(...encoderState(config));
  const encoderWidths = densifyInputChannels(config);
  encoderWidths.forEach((e, i) => {
    if (config.densifyNorm === 'bn') list.batchNorm(`densify_norms.${i}`, e);
    else if (config.densifyNorm === 'ln') list.layerNorm(`densify_norms.${i}`, e);
  });
  encoderWidths.forEach((e, i) => {
    if (densifyProjIsIdentity(config, i)) return;
    const k = i === 0 ? 1 : 3;
    list.conv(`densify_projs.${i}`, Math.floor(config.decoderWidth / 2 ** i), e, k, true);
  });
  if (config.maskToken === 'learned')
    encoderWidths.forEach((e, i) => {
      list.param(`mask_tokens.${i}`, [1, e, 1, 1]);
    });
  const channels = decoderChannels(config);
  for (let i = 0; i + 1 < channels.length; i++) {
    const cin = channels[i];
    const cout = channels[i + 1];
    const q = `dense_decoder.dec.${i}.`;
    list.param(`${q}up_sample.weight`, [cin, cin, 4, 4], 'convT');
    list.param(`${q}up_sample.bias`, [cin]);
    list.conv(`${q}conv.0`, cin, cin, 3, false);
    list.batchNorm(`${q}conv.1`, cin);
    list.conv(`${q}conv.3`, cout, cin, 3, false);
    list.batchNorm(`${q}conv.4`, cout);
  }
  list.conv('dense_decoder.proj', 3, channels[channels.length - 1], 1, true);
  return list.entries;
}

/** The timm-style name of an encoder entry (what `load_state_dict` of the dense timm/official model expects). */
export function timmName(officialName: string): string {
  if (!officialName.startsWith(ENCODER_PREFIX))
    throw new Error(
      `${officialName} is not an encoder tensor; only names under ${ENCODER_PREFIX} are exported.`,
    );
  return officialName.slice(ENCODER_PREFIX.length);
}

/** Encoder-only entries under timm-style names (prefix stripped). */
export function timmEncoderState(config: SparkConfig): StateEntry[] {
  return encoderState(config).map((e) => ({ ...e, name: timmName(e.name) }));
}

export function parameterCount(entries: readonly StateEntry[]): number {
  return entries
    .filter((e) => e.kind === 'param')
    .reduce((n, e) => n + e.shape.reduce((a, b) => a * b, 1), 0);
}
