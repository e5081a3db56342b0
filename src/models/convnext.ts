/**
 * The sparse ConvNeXt encoder on the GPU (official names under `sparse_encoder.sp_cnn.`): stem 4×4/s4 conv +
 * LN, then per stage (downsample LN + 2×2/s2 conv for i ≥ 1) blocks of dwconv 7×7 → LN → Linear 4C → GELU →
 * Linear C → ×γ → residual. On active rows the block's final re-mask is implicit. The Linear layers are
 * 1×1 sparse convs with the [in, out] weight (GPU layout 'linear' = HWIO with k = 1); on rows γ is pwconv2's
 * epilogue (src/engine/layerScale.ts), on the dense baselines a 1×1 depthwise conv without bias (its weight
 * [C] is γ itself). A dense NHWC input builds the dense-zero baseline with
 * the dense conv kernels instead.
 */
import type { ConvNeXtConfig } from './config';
import type { ResidualBranchHook } from './layers/drop-path';
import type { Act, Net } from './layers/graph';
import { type DenseMasking, remasked } from './layers/masked';
import type { ModelSites } from './layers/sites';
import { Activation, Add, encoderConv, RowLayerNorm } from './layers/sparse';
import { ENCODER_PREFIX } from './official-names';

/** LN over the channels of each row; on a dense-masked map, re-masked (SparseConvNeXtLayerNorm's zeros). */
export function sparseLayerNorm(net: Net, name: string, x: Act, masking: DenseMasking | null = null): Act {
  return remasked(net, `${name}.remask`, net.add(new RowLayerNorm(net, name, x)).out, masking);
}

function conv(
  net: Net,
  sites: ModelSites,
  x: Act,
  name: string,
  o: {
    weight?: string;
    bias?: string | null;
    outChannels: number;
    kernel: number;
    stride: number;
    padding: number;
    depthwise?: boolean;
    noInputGrad?: boolean;
    layerScale?: string;
  },
  masking: DenseMasking | null,
): Act {
  return encoderConv(
    net,
    sites,
    name,
    x,
    {
      weight: o.weight ?? `${name}.weight`,
      bias: o.bias === null ? undefined : (o.bias ?? `${name}.bias`),
      outChannels: o.outChannels,
      kernel: o.kernel,
      stride: o.stride,
      padding: o.padding,
      depthwise: o.depthwise,
      noInputGrad: o.noInputGrad,
      layerScale: o.layerScale,
    },
    masking,
  );
}

/**
 * `image` holds the visible pixels as rows at the full-resolution scale (3 channels), or the zero-filled
 * image NHWC for the dense baselines; `masking` makes the dense one the official dense-masked computation.
 * `residual` (drop path) sees each block's branch after γ, before it is added to the block's input, as the
 * official block does.
 */
export function buildSparseConvNeXt(
  net: Net,
  sites: ModelSites,
  b: ConvNeXtConfig,
  image: Act,
  masking: DenseMasking | null = null,
  residual?: ResidualBranchHook,
): Act[] {
  const p = ENCODER_PREFIX;
  const features: Act[] = [];
  let x = image;
  b.dims.forEach((dim, i) => {
    if (i === 0) {
      x = conv(
        net,
        sites,
        x,
        `${p}downsample_layers.0.0`,
        {
          outChannels: dim,
          kernel: 4,
          stride: 4,
          padding: 0,
          noInputGrad: true,
        },
        masking,
      );
      x = sparseLayerNorm(net, `${p}downsample_layers.0.1`, x, masking);
    } else {
      x = sparseLayerNorm(net, `${p}downsample_layers.${i}.0`, x, masking);
      x = conv(
        net,
        sites,
        x,
        `${p}downsample_layers.${i}.1`,
        {
          outChannels: dim,
          kernel: 2,
          stride: 2,
          padding: 0,
        },
        masking,
      );
    }
    for (let j = 0; j < b.depths[i]; j++) {
      const q = `${p}stages.${i}.${j}.`;
      let y = conv(
        net,
        sites,
        x,
        `${q}dwconv`,
        {
          outChannels: dim,
          kernel: 7,
          stride: 1,
          padding: 3,
          depthwise: true,
        },
        masking,
      );
      y = sparseLayerNorm(net, `${q}norm`, y, masking);
      y = conv(
        net,
        sites,
        y,
        `${q}pwconv1`,
        { outChannels: 4 * dim, kernel: 1, stride: 1, padding: 0 },
        masking,
      );
      y = net.add(new Activation(net, `${q}act`, y, 'gelu')).out;
      const pointwise = { outChannels: dim, kernel: 1, stride: 1, padding: 0 };
      if (y.layout.kind === 'sparse') {
        // γ is pwconv2's epilogue on rows (one GEMM, γ's backward folded into pwconv2's).
        y = conv(net, sites, y, `${q}pwconv2`, { ...pointwise, layerScale: `${q}gamma` }, masking);
      } else {
        y = conv(net, sites, y, `${q}pwconv2`, pointwise, masking);
        y = conv(
          net,
          sites,
          y,
          `${q}gamma`,
          { ...pointwise, weight: `${q}gamma`, bias: null, depthwise: true },
          masking,
        );
      }
      if (residual) y = residual(`${q}drop_path`, y);
      x = net.add(new Add(net, `${q}sum`, x, y)).out;
    }
    features.push(x);
  });
  return features;
}
