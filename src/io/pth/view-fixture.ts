/**
 * The small checkpoint of a non-preset architecture that `npm run view-checkpoint` and the page's "Open checkpoint…"
 * are tested on (tests/fixtures/pth/view-convnext-custom.pth, written by scripts/make-view-fixture.ts with
 * SparkLab's .pth writer): a ConvNeXt of dims 8-16 and depths 1-2 at 32 px, decoder width 16, with seeded
 * random weights. Kept here so a test can rebuild the model the file came from.
 */
import { SPARK_DEFAULTS, type SparkConfig, validateSparkConfig } from '../../models/config';
import { sparkState } from '../../models/official-names';
import { randomSparkState } from '../../models/reference-fixture';
import { PyOrderedDict, type PyOut, TensorOut, writePth } from './write';
import { concatChunks } from './zip-write';

export const VIEW_FIXTURE_CONFIG: SparkConfig = validateSparkConfig({
  ...SPARK_DEFAULTS,
  inputSize: 32,
  maskRatio: 0.6,
  decoderWidth: 16,
  densifyNorm: 'ln',
  backbone: { family: 'convnext', dims: [8, 16], depths: [1, 2] },
});

export function viewFixtureState(): Map<string, Float32Array> {
  return new Map([...randomSparkState(VIEW_FIXTURE_CONFIG, 17)].map(([k, v]) => [k, Float32Array.from(v)]));
}

/** A flat module state dict, as `torch.save(model.state_dict())` writes one (with the norm_black buffer). */
export function flatStatePth(config: SparkConfig, state: Map<string, Float32Array>): Uint8Array {
  const out = new Map<string, PyOut>();
  const S = config.inputSize;
  out.set('norm_black', new TensorOut('F32', [1, 3, S, S], new Float32Array(3 * S * S)));
  for (const e of sparkState(config)) {
    const v = state.get(e.name) as Float32Array;
    out.set(
      e.name,
      e.dtype === 'I64'
        ? new TensorOut('I64', [], BigInt64Array.from([BigInt(Math.round(v[0]))]))
        : new TensorOut('F32', e.shape, v),
    );
  }
  return concatChunks(writePth(new PyOrderedDict(out)));
}
