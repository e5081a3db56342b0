import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import { runTorch } from '../../tests/torch-python';
import { PthError } from '../io/pth/errors';
import { readOfficial } from '../io/pth/official-read';
import type { PyValue, TensorRef } from '../io/pth/pickle-read';
import { readPthBytes } from '../io/pth/read';
import { totalStride } from '../models/config';
import { preset } from '../models/presets';
import { referenceFixture } from '../models/reference-fixture';
import { createSparkModel } from '../models/spark-model';
import { explicitMask } from '../sparse/mask';
import { readTrainerCheckpoint } from '../train/checkpoint';
import { runExport, slices, WRITE_SLICE_BYTES, writeChunks } from './export-run';

const FIXTURES = join(__dirname, '../../tests/fixtures/pth');
const out = mkdtempSync(join(tmpdir(), 'sparklab-export-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const ORIGINAL = join(FIXTURES, 'official-tiny-lamb.pth');
const CONVERTED = join(out, 'tiny.safetensors');
const BACK = join(out, 'tiny-back.pth');

/**
 * torch.load of the original (written by torch.save) and of SparkLab's export: same module keys in the same
 * order, every tensor equal (the official module's never-used imn_m/imn_s/norm_black aside), the same config,
 * optimizer groups and moments; and the optimizer state loads into a torch Optimizer with the official LAMB
 * hyper-parameters and the parameters' shapes, as main.py's optimizer.load_state_dict does.
 */
const COMPARE_PY = `
import sys, torch
a = torch.load(sys.argv[1], map_location='cpu')
b = torch.load(sys.argv[2], map_location='cpu')
assert list(a.keys()) == list(b.keys()), (list(a.keys()), list(b.keys()))
assert b['epoch'] == 4 and b['is_pretrain'] is True and b['input_size'] == 32
ma, mb = a['module'], b['module']
assert list(ma.keys()) == list(mb.keys())
for k in ma:
    if k == 'config':
        assert ma[k] == mb[k], (ma[k], mb[k])
        continue
    assert ma[k].dtype == mb[k].dtype and ma[k].shape == mb[k].shape, k
    if k not in ('imn_m', 'imn_s', 'norm_black'):
        assert torch.equal(ma[k], mb[k]), k
oa, ob = a['optimizer'], b['optimizer']
assert len(oa['param_groups']) == len(ob['param_groups'])
for ga, gb in zip(oa['param_groups'], ob['param_groups']):
    for key in ('params', 'step', 'weight_decay_scale', 'lr_scale', 'lr', 'betas', 'eps', 'weight_decay', 'max_grad_norm'):
        assert ga[key] == gb[key], (key, ga[key], gb[key])
assert sorted(oa['state']) == sorted(ob['state'])
for i in oa['state']:
    for key in ('exp_avg', 'exp_avg_sq'):
        assert torch.equal(oa['state'][i][key], ob['state'][i][key]), (i, key)
class OfficialLambShape(torch.optim.Optimizer):
    def __init__(self, params):
        super().__init__(params, dict(lr=1e-3, bias_correction=True, betas=(0.9, 0.95), eps=1e-6, weight_decay=0.0,
                                      grad_averaging=True, max_grad_norm=5.0, trust_clip=False, always_adapt=False))
ids = [i for g in ob['param_groups'] for i in g['params']]
shapes = {i: ob['state'][i]['exp_avg'].shape for i in ob['state']}
groups = [{'params': [torch.nn.Parameter(torch.zeros(shapes[i])) for i in g['params']]} for g in ob['param_groups']]
opt = OfficialLambShape(groups)
opt.load_state_dict(ob)
p0 = groups[0]['params'][0]
assert torch.equal(opt.state[p0]['exp_avg'], ob['state'][0]['exp_avg'])
assert opt.param_groups[0]['step'] == ob['param_groups'][0]['step']
print('ok', len(ma), len(ob['state']))
`;

describe('npm run export', () => {
  it('converts an official-layout .pth (torch.save) to a SparkLab checkpoint with every tensor equal', async () => {
    const lines = await runExport(['--checkpoint', ORIGINAL, '--format', 'safetensors', '--out', CONVERTED]);
    expect(lines.at(-1)).toMatch(/^wrote .*tiny\.safetensors \(safetensors, \d+ bytes\)$/);
    const checkpoint = readTrainerCheckpoint(new Uint8Array(readFileSync(CONVERTED)));
    const original = await readPthBytes(new Uint8Array(readFileSync(ORIGINAL)));
    const root = original.root as Map<string, PyValue>;
    const module = root.get('module') as Map<string, PyValue>;
    let compared = 0;
    for (const [name, value] of checkpoint.state) {
      const ref = module.get(name) as TensorRef;
      const expected =
        ref.value!.dtype === 'I64' ? Float32Array.from([Number(ref.value!.data[0])]) : ref.value!.data;
      expect(
        Buffer.from(value.buffer, value.byteOffset, value.byteLength).equals(
          Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength),
        ),
        name,
      ).toBe(true);
      compared++;
    }
    expect(compared).toBe(checkpoint.state.size);
    expect(checkpoint.progress.optimizerSteps).toEqual({ decay: 40, noDecay: 40 });
    expect(checkpoint.progress.hyper.beta2).toBe(0.95);
    // Moments: the official state is keyed by parameter id, numbered over the groups in order.
    const optimizer = root.get('optimizer') as Map<string, PyValue>;
    const groups = optimizer.get('param_groups') as Map<string, PyValue>[];
    const firstDecayId = (groups[0].get('params') as number[])[0];
    const state = optimizer.get('state') as Map<number, Map<string, PyValue>>;
    const m = (state.get(firstDecayId)!.get('exp_avg') as TensorRef).value!.data as Float32Array;
    expect(checkpoint.expAvg.get('sparse_encoder.sp_cnn.conv1.weight')).toEqual(m);
  });

  it('the model built from the conversion computes the same loss on the same batch and mask as from the .pth', async () => {
    const gpu = await testGpu();
    const config = preset('tiny');
    const checkpoint = readTrainerCheckpoint(new Uint8Array(readFileSync(CONVERTED)));
    const original = await readPthBytes(new Uint8Array(readFileSync(ORIGINAL)));
    const module = (original.root as Map<string, PyValue>).get('module') as Map<string, PyValue>;
    const fromPth = new Map(
      [...checkpoint.state.keys()].map((name) => {
        const v = (module.get(name) as TensorRef).value!;
        return [name, v.dtype === 'I64' ? [Number(v.data[0])] : (v.data as Float32Array)] as const;
      }),
    );
    // One batch and mask (from the reference fixture builder), the eval pass of the GPU model.
    const fixture = referenceFixture(config, { batch: 2, seed: 5 });
    const grid = config.inputSize / totalStride(config.backbone);
    // One model, loaded in turn from each source (pipelines compile once).
    const model = createSparkModel(gpu, config, 2, { label: 'export.test' });
    const lossOf = async (state: Map<string, ArrayLike<number>>) => {
      model.loadState(state);
      model.setBatch(Float32Array.from(fixture.input.data), explicitMask(2, grid, grid, fixture.mask.data));
      gpu.submit('export.test.eval', (pass) => model.encodeEval(pass));
      return (await model.readSnapshot()).loss;
    };
    const a = await lossOf(checkpoint.state);
    const b = await lossOf(fromPth);
    // The loss does depend on the loaded weights: a changed projection gives another value.
    const changed = new Map(checkpoint.state);
    changed.set('dense_decoder.proj.bias', Float32Array.of(1, -1, 0.5));
    const c = await lossOf(changed);
    model.destroy();
    expect(c).not.toBe(a);
    expect(Number.isFinite(a) && a > 0).toBe(true);
    expect(a).toBe(b);
  });

  it('converts back to an official .pth that torch.load reads to the same tensors, config and LAMB state', async () => {
    const lines = await runExport([
      '--checkpoint',
      CONVERTED,
      '--format',
      'official-pth',
      '--out',
      BACK,
      '--epoch',
      '4',
    ]);
    expect(lines.some((l) => l.includes('decoder of width 768'))).toBe(true);
    expect(runTorch(COMPARE_PY, [ORIGINAL, BACK]).trim()).toMatch(/^ok \d+ \d+$/);
  });

  it('writes a timm-style encoder from a .pth and from a SparkLab checkpoint alike', async () => {
    const a = join(out, 'a.pth');
    const b = join(out, 'b.pth');
    await runExport(['--checkpoint', ORIGINAL, '--format', 'timm-pth', '--out', a]);
    await runExport(['--checkpoint', CONVERTED, '--format', 'timm-pth', '--out', b]);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    const encoder = await readPthBytes(new Uint8Array(readFileSync(a)));
    expect([...(encoder.root as Map<string, PyValue>).keys()][0]).toBe('conv1.weight');
    // An encoder alone becomes a full official checkpoint with a freshly initialised decoder.
    const full = join(out, 'full.pth');
    const lines = await runExport([
      '--checkpoint',
      a,
      '--input-size',
      '32',
      '--format',
      'official-pth',
      '--out',
      full,
    ]);
    expect(lines.join('\n')).toMatch(/decoder is freshly initialised/);
    const reopened = await readOfficial(await readPthBytes(new Uint8Array(readFileSync(full))));
    expect(reopened.kind).toBe('official');
    const stem = (encoder.root as Map<string, PyValue>).get('conv1.weight') as TensorRef;
    expect(reopened.state.get('sparse_encoder.sp_cnn.conv1.weight')).toEqual(stem.value!.data);
  });

  it('writes a chunk larger than one write call allows in slices, byte for byte', async () => {
    // Node caps one write at 2 GiB − 1 (a ConvNeXt-L checkpoint with moments is 2.7 GB); slices of 1000
    // bytes exercise the same path on a 10,007-byte chunk between two small ones.
    const big = Uint8Array.from({ length: 10_007 }, (_, i) => (i * 7919) % 251);
    const parts = slices(big, 1000);
    expect(parts.map((p) => p.byteLength)).toEqual([...Array(10).fill(1000), 7]);
    expect(parts.every((p) => p.buffer === big.buffer)).toBe(true);
    expect(WRITE_SLICE_BYTES).toBeLessThan(2 ** 31);
    const chunks = [Uint8Array.of(1, 2, 3), big, Uint8Array.of(9)];
    const file = join(out, 'sliced.bin');
    expect(await writeChunks(file, chunks, 1000)).toBe(10_011);
    expect(new Uint8Array(readFileSync(file))).toEqual(Uint8Array.from([1, 2, 3, ...big, 9]));
    expect(existsSync(`${file}.partial`)).toBe(false);
  });

  it('refuses a forbidden-global pickle with a sentence naming the global and writes nothing', async () => {
    const target = join(out, 'never.safetensors');
    await expect(
      runExport([
        '--checkpoint',
        join(FIXTURES, 'forbidden-global.pth'),
        '--format',
        'safetensors',
        '--out',
        target,
      ]),
    ).rejects.toThrow(PthError);
    await expect(
      runExport([
        '--checkpoint',
        join(FIXTURES, 'reduce-system.pth'),
        '--format',
        'safetensors',
        '--out',
        target,
      ]),
    ).rejects.toThrow(/"posix\.system"/);
    expect(existsSync(target)).toBe(false);
    expect(existsSync(`${target}.partial`)).toBe(false);
  });
});
