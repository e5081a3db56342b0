/**
 * Official initial values of every SparK parameter and buffer (official layout), deterministic in a seed:
 *  - ResNet (timm 0.5.4): conv kaiming_normal(fan_out, relu); BN γ = 1, β = 0, and γ = 0 for the last BN of
 *    each residual branch (zero_init_last_bn);
 *  - ConvNeXt: conv/Linear trunc_normal(std 0.02), bias 0; LN γ = 1, β = 0; layer scale 1e-6;
 *  - densify: norms 1/0, mask tokens trunc_normal(0.02) cut at ±0.02, projections keep PyTorch's default
 *    (kaiming_uniform(a=√5): U(±1/√fan_in) for weight and bias);
 *  - LightDecoder: Conv2d trunc_normal(0.02), bias 0; ConvTranspose2d kaiming_normal(fan_out = Cin·k², relu),
 *    bias 0; BN 1/0;
 *  - BN buffers: running mean 0, running var 1, num_batches_tracked 0.
 * (SPARK-SPEC §2.3, §3.1, §3.2.) timm's trunc_normal cuts at ±2 absolute, i.e. never for std 0.02.
 */
import { Rng } from '../util/random';
import type { SparkConfig } from './config';
import { sparkState } from './official-names';

function truncNormal(rng: Rng, n: number, std: number, cut: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v: number;
    do v = rng.normal() * std;
    while (Math.abs(v) > cut);
    out[i] = v;
  }
  return out;
}

function normal(rng: Rng, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal() * std;
  return out;
}

function uniform(rng: Rng, n: number, bound: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.uniform(-bound, bound);
  return out;
}

function filled(n: number, v: number): Float32Array {
  return new Float32Array(n).fill(v);
}

/** Names of the BN whose γ starts at 0 in timm ResNets (last BN of each residual branch). */
function zeroInitBn(config: SparkConfig, name: string): boolean {
  const b = config.backbone;
  if (b.family !== 'resnet') return false;
  return name.endsWith(b.block === 'basic' ? '.bn2.weight' : '.bn3.weight') && name.includes('.layer');
}

export function officialInitialState(config: SparkConfig, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  const entries = sparkState(config);
  const isConvNeXt = config.backbone.family === 'convnext';
  for (const e of entries) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    const name = e.name;
    let value: Float32Array;
    if (e.kind === 'buffer') value = filled(n, name.endsWith('running_var') ? 1 : 0);
    else if (name.startsWith('mask_tokens.')) value = truncNormal(rng, n, 0.02, 0.02);
    else if (name.startsWith('densify_projs.')) {
      const fanIn = name.endsWith('.bias')
        ? entries
            .find((w) => w.name === name.replace(/\.bias$/, '.weight'))!
            .shape.slice(1)
            .reduce((a, b) => a * b, 1)
        : e.shape.slice(1).reduce((a, b) => a * b, 1);
      value = uniform(rng, n, 1 / Math.sqrt(fanIn));
    } else if (name.endsWith('.bias')) value = filled(n, 0);
    else if (name.endsWith('.gamma')) value = filled(n, 1e-6);
    else if (e.shape.length === 1)
      value = filled(n, zeroInitBn(config, name) ? 0 : 1); // BN/LN γ
    else if (name.includes('.up_sample.'))
      value = normal(rng, n, Math.sqrt(2 / (e.shape[0] * e.shape[2] * e.shape[3])));
    else if (name.startsWith('dense_decoder.') || isConvNeXt) value = truncNormal(rng, n, 0.02, 2);
    else {
      // timm ResNet conv: kaiming_normal, fan_out = Cout·k².
      const fanOut = e.shape[0] * (e.shape[2] ?? 1) * (e.shape[3] ?? 1);
      value = normal(rng, n, Math.sqrt(2 / fanOut));
    }
    out.set(name, value);
  }
  return out;
}
