/**
 * FLOPs and activation sizes of a SparK configuration, counted from the layer shapes (2 FLOPs per
 * multiply-add; norms, activations and pooling are left out, as in the usual conv-net figures). "Masked"
 * counts the encoder only at visible sites — what the sparse encoder computes — while densify and the
 * decoder always run on the full grid. Used for the preset table (docs/PRESETS.md) and to check a
 * configuration against the adapter's buffer limits before any GPU work.
 */
import {
  decoderChannels,
  densifyInputChannels,
  densifyProjIsIdentity,
  gridSize,
  type SparkConfig,
} from './../models/config';
import { parameterCount, sparkState } from '../models/official-names';
import { lenKeep } from '../sparse/mask';

export interface FlopCount {
  /** Encoder FLOPs per image on the whole image (a dense network). */
  encoderDense: number;
  /** Encoder FLOPs per image on the visible sites only (SparK's sparse encoder at the config's ratio). */
  encoderMasked: number;
  /** Densify projections and LightDecoder, per image (always dense). */
  decoder: number;
  /** encoderDense + decoder. */
  dense: number;
  /** encoderMasked + decoder. */
  masked: number;
  /** Fraction of mask cells kept visible. */
  visibleFraction: number;
}

/** 2·MACs of a k×k conv producing `outSide`² positions. */
function conv(outSide: number, k: number, cin: number, cout: number, groups = 1): number {
  return 2 * outSide * outSide * k * k * (cin / groups) * cout;
}

/** Encoder FLOPs per image and the largest feature map (floats per image). */
function encoderFlops(config: SparkConfig): { flops: number; largest: number } {
  const b = config.backbone;
  const S = config.inputSize;
  let flops = 0;
  let largest = 0;
  const note = (side: number, channels: number) => {
    largest = Math.max(largest, side * side * channels);
  };
  if (b.family === 'resnet') {
    let side = S / b.stemStride;
    flops += conv(side, b.stemKernel, 3, b.stemWidth);
    note(side, b.stemWidth);
    if (b.maxpool) side /= 2;
    let cin = b.stemWidth;
    const expansion = b.block === 'bottleneck' ? 4 : 1;
    b.widths.forEach((w, stage) => {
      for (let i = 0; i < b.depths[stage]; i++) {
        const stride = i === 0 ? b.stageStrides[stage] : 1;
        const outSide = side / stride;
        const cout = w * expansion;
        if (b.block === 'basic') {
          flops += conv(outSide, 3, cin, w) + conv(outSide, 3, w, w);
        } else {
          flops += conv(side, 1, cin, w) + conv(outSide, 3, w, w) + conv(outSide, 1, w, cout);
          note(side, w);
        }
        if (stride !== 1 || cin !== cout) flops += conv(outSide, 1, cin, cout);
        note(outSide, cout);
        side = outSide;
        cin = cout;
      }
    });
  } else {
    let side = S / 4;
    flops += conv(side, 4, 3, b.dims[0]);
    b.dims.forEach((d, stage) => {
      if (stage > 0) {
        side /= 2;
        flops += conv(side, 2, b.dims[stage - 1], d);
      }
      for (let i = 0; i < b.depths[stage]; i++) {
        flops += conv(side, 7, d, d, d) + conv(side, 1, d, 4 * d) + conv(side, 1, 4 * d, d);
        note(side, 4 * d);
      }
    });
  }
  return { flops, largest };
}

/** Densify + decoder FLOPs per image and the largest decoder tensor (floats per image). */
function decoderFlops(config: SparkConfig): { flops: number; largest: number } {
  const g = gridSize(config);
  let flops = 0;
  let largest = 0;
  const widths = densifyInputChannels(config);
  widths.forEach((e, i) => {
    if (config.decoderInputs === 'coarsest' && i > 0) return;
    if (densifyProjIsIdentity(config, i)) return;
    const side = g * 2 ** i;
    flops += conv(side, i === 0 ? 1 : 3, e, Math.floor(config.decoderWidth / 2 ** i));
  });
  const channels = decoderChannels(config);
  for (let i = 0; i + 1 < channels.length; i++) {
    const side = g * 2 ** (i + 1);
    const cin = channels[i];
    // ConvTranspose 4×4/s2: each output position receives 2×2 taps of the 4×4 kernel.
    flops += 2 * side * side * 4 * cin * cin;
    flops += conv(side, 3, cin, cin) + conv(side, 3, cin, channels[i + 1]);
    largest = Math.max(largest, side * side * cin);
  }
  flops += conv(config.inputSize, 1, channels[channels.length - 1], 3);
  return { flops, largest };
}

export function countFlops(config: SparkConfig): FlopCount {
  const g = gridSize(config);
  const visibleFraction = lenKeep(g, g, config.maskRatio) / (g * g);
  const encoder = encoderFlops(config);
  const decoder = decoderFlops(config);
  const encoderMasked = config.encoder === 'sparse' ? encoder.flops * visibleFraction : encoder.flops;
  return {
    encoderDense: encoder.flops,
    encoderMasked,
    decoder: decoder.flops,
    dense: encoder.flops + decoder.flops,
    masked: encoderMasked + decoder.flops,
    visibleFraction,
  };
}

/** Trainable parameters (official count: what PyTorch's numel() over parameters() gives). */
export function sparkParameterCount(config: SparkConfig): number {
  return parameterCount(sparkState(config));
}

/**
 * Floats of the largest single activation tensor for a batch (dense layout; the sparse encoder's are
 * smaller). The model keeps one buffer per tensor, so this must fit the adapter's binding limit.
 */
export function largestActivationFloats(config: SparkConfig, batch: number): number {
  const S = config.inputSize;
  return batch * Math.max(S * S * 3, encoderFlops(config).largest, decoderFlops(config).largest);
}
