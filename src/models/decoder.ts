/**
 * The SparK head on the GPU: densify per scale (sparse norm → mask-token fill → projection) and the
 * LightDecoder (log2(r) UNet blocks, ConvT ×2 → conv3×3 BN ReLU6 → conv3×3 BN; skip inputs added before a
 * block; 1×1 output projection). Official names: densify_norms.i, mask_tokens.i, densify_projs.i,
 * dense_decoder.dec.i.*, dense_decoder.proj.
 */
import { decoderBlockCount, decoderChannels, densifyProjIsIdentity, type SparkConfig } from './config';
import { DenseConv, DenseConvTranspose, Densify } from './layers/dense';
import { FusedBatchNorm } from './layers/fused';
import type { Act, Net } from './layers/graph';
import type { ModelSites } from './layers/sites';

/** A sparse-rows normalisation factory (BN here; LN comes from the ConvNeXt module). */
export type RowNorm = (net: Net, name: string, x: Act) => Act;

/**
 * Densifies every scale (features smallest first). All norms run in the forward, as in the official code
 * (so every densify BN updates its running statistics); scales the decoder does not read get no backward.
 */
export function buildDensify(
  net: Net,
  sites: ModelSites,
  config: SparkConfig,
  smallestFirst: Act[],
  norm: RowNorm | null,
): Act[] {
  return smallestFirst.map((feature, i) => {
    let x = feature;
    if (norm) x = norm(net, `densify_norms.${i}`, x);
    x = net.add(
      new Densify(net, `densify.${i}`, x, sites, config.maskToken === 'learned' ? `mask_tokens.${i}` : null),
    ).out;
    if (!densifyProjIsIdentity(config, i)) {
      const k = i === 0 ? 1 : 3;
      x = net.add(
        new DenseConv(net, `densify_projs.${i}`, x, {
          weight: `densify_projs.${i}.weight`,
          bias: `densify_projs.${i}.bias`,
          outChannels: Math.floor(config.decoderWidth / 2 ** i),
          kernel: k,
          stride: 1,
          padding: Math.floor(k / 2),
        }),
      ).out;
    }
    return x;
  });
}

export function sparseBatchNorm(net: Net, name: string, x: Act): Act {
  return net.add(new FusedBatchNorm(net, name, x)).out;
}

/** The LightDecoder; returns the raw prediction [B, S, S, 3] (NHWC). */
export function buildLightDecoder(net: Net, config: SparkConfig, toDecoder: Act[]): Act {
  const blocks = decoderBlockCount(config);
  const channels = decoderChannels(config);
  const fedAt = (i: number) =>
    i < toDecoder.length && (i === 0 || config.decoderInputs === 'all') ? toDecoder[i] : null;
  let x: Act | null = fedAt(0);
  for (let i = 0; i < blocks; i++) {
    if (!x) throw new Error('The decoder has no input at its first block.');
    const q = `dense_decoder.dec.${i}.`;
    const cin = channels[i];
    x = net.add(
      new DenseConvTranspose(net, `${q}up_sample`, x, {
        weight: `${q}up_sample.weight`,
        bias: `${q}up_sample.bias`,
        outChannels: cin,
        kernel: 4,
        stride: 2,
        padding: 1,
      }),
    ).out;
    const conv = (name: string, input: Act, outChannels: number) =>
      net.add(
        new DenseConv(net, name, input, {
          weight: `${name}.weight`,
          outChannels,
          kernel: 3,
          stride: 1,
          padding: 1,
        }),
      ).out;
    // BN + ReLU6 in one fused layer; the last BN adds the next block's skip input in the same pass.
    x = conv(`${q}conv.0`, x, cin);
    x = net.add(new FusedBatchNorm(net, `${q}conv.1`, x, { act: 'relu6' })).out;
    x = conv(`${q}conv.3`, x, channels[i + 1]);
    const skip = i + 1 < blocks ? fedAt(i + 1) : null;
    x = net.add(new FusedBatchNorm(net, `${q}conv.4`, x, { residual: skip ?? undefined })).out;
  }
  return net.add(
    new DenseConv(net, 'dense_decoder.proj', x!, {
      weight: 'dense_decoder.proj.weight',
      bias: 'dense_decoder.proj.bias',
      outChannels: 3,
      kernel: 1,
      stride: 1,
      padding: 0,
    }),
  ).out;
}
