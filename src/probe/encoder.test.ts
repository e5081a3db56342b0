import { describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import { featureChannels, featureStrides, SPARK_DEFAULTS, type SparkConfig } from '../models/config';
import { officialInitialState } from '../models/init';
import { preset } from '../models/presets';
import { createSparkModel } from '../models/spark-model';
import { assertClose } from '../reference/allclose';
import { Rng } from '../util/random';
import { DenseEncoder, pooledWidth } from './encoder';

/** The official initial state with BN running statistics made non-trivial (so eval mode really uses them). */
function stateWithStats(config: SparkConfig, seed: number): Map<string, Float32Array> {
  const state = officialInitialState(config, seed);
  const rng = new Rng(seed + 1);
  for (const [name, v] of state) {
    if (name.endsWith('running_mean')) state.set(name, rng.floats(v.length, -0.3, 0.3));
    if (name.endsWith('running_var')) state.set(name, rng.floats(v.length, 0.5, 2));
  }
  return state;
}

/** Mean over positions of NCHW maps, concatenated: the pooled feature computed on the CPU. */
function poolNchw(maps: Float32Array[], channels: number[], batch: number): Float64Array {
  const width = channels.reduce((a, b) => a + b, 0);
  const out = new Float64Array(batch * width);
  let offset = 0;
  maps.forEach((map, i) => {
    const C = channels[i];
    const hw = map.length / (batch * C);
    for (let b = 0; b < batch; b++)
      for (let c = 0; c < C; c++) {
        let s = 0;
        for (let p = 0; p < hw; p++) s += map[(b * C + c) * hw + p];
        out[b * width + offset + c] = s / hw;
      }
    offset += C;
  });
  return out;
}

/**
 * The dense encoder against the whole SparK model with nothing masked (mask ratio 0), in eval mode, both
 * with the dense-zero encoder and the sparse one: all three must compute the same convnet.
 */
async function expectSameFeatures(config: SparkConfig, batch: number) {
  const gpu = await testGpu();
  const state = stateWithStats(config, 11);
  const S = config.inputSize;
  const images = new Rng(3).floats(batch * 3 * S * S, -2, 2);
  const encoder = new DenseEncoder(gpu, config, batch, { pool: 'all' });
  encoder.loadState(state);
  encoder.setImages(images);
  gpu.submit('encoder', (pass) => encoder.encodeEval(pass));
  const pooled = await gpu.read(encoder.pooled);
  const channels = featureChannels(config.backbone);
  expect(encoder.width).toBe(pooledWidth(config, 'all'));
  const grid = S / featureStrides(config.backbone).at(-1)!;
  for (const mode of ['dense-zero', 'sparse'] as const) {
    const model = createSparkModel(gpu, { ...config, encoder: mode, maskRatio: 0 }, batch);
    model.loadState(state);
    model.setBatch(images, {
      batch,
      gridH: grid,
      gridW: grid,
      cells: new Uint8Array(batch * grid * grid).fill(1),
    });
    gpu.submit('model', (pass) => model.encodeEval(pass));
    const expected = poolNchw(await model.readFeatures(), channels, batch);
    // Same kernels on the same data up to summation order (sparse vs dense conv paths).
    assertClose(pooled, expected, { rtol: 1e-4, atol: 1e-5, label: `${mode} ${config.backbone.family}` });
    model.destroy();
  }
  encoder.destroy();
}

describe('dense probe encoder = the SparK encoder with every cell visible', () => {
  it('ResNet basic blocks (S=16, widths 4/8, stride 4), batch 3, all scales pooled', async () => {
    const tiny = preset('tiny');
    await expectSameFeatures(
      {
        ...tiny,
        inputSize: 16,
        decoderWidth: 8,
        backbone: { ...tiny.backbone, stemWidth: 4, widths: [4, 8], depths: [1, 1], stageStrides: [2, 2] },
      } as SparkConfig,
      3,
    );
  });

  it('small ConvNeXt (dims 4/8, S=16), batch 2', async () => {
    await expectSameFeatures(
      {
        ...SPARK_DEFAULTS,
        inputSize: 16,
        maskRatio: 0.6,
        decoderWidth: 8,
        densifyNorm: 'ln',
        backbone: { family: 'convnext', dims: [4, 8], depths: [1, 1] },
      },
      2,
    );
  });

  it('takes an encoder-only (timm-named) state and names what is missing', async () => {
    const gpu = await testGpu();
    const config = preset('tiny');
    const encoder = new DenseEncoder(gpu, config, 1);
    const state = stateWithStats(config, 2);
    const bare = new Map([...state].map(([k, v]) => [k.replace('sparse_encoder.sp_cnn.', ''), v]));
    encoder.loadState(bare);
    const back = await encoder.exportState();
    expect(back.get('sparse_encoder.sp_cnn.conv1.weight')).toEqual(
      state.get('sparse_encoder.sp_cnn.conv1.weight'),
    );
    bare.delete('bn1.running_var');
    expect(() => encoder.loadState(bare)).toThrow(
      /no encoder tensor sparse_encoder\.sp_cnn\.bn1\.running_var/,
    );
    encoder.destroy();
  });
});
