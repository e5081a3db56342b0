#!/usr/bin/env python3
"""Writes the PyTorch checkpoint fixtures of tests/fixtures/pth/ (run with Debian's python3-torch 1.13):

    /usr/bin/python3 scripts/make-pth-fixtures.py tests/fixtures/pth

Every file is what `torch.save` writes (or, for the malformed ones, a zip built the way torch builds it with
one field made wrong on purpose). Beside each readable file, `<name>.expected.json` records, per tensor
path, its dtype, shape and the SHA-256 of its contiguous little-endian bytes as PyTorch computes them, so
the TypeScript reader is checked against PyTorch and not against itself. Values are seeded: re-running the
script reproduces the files byte for byte on the same PyTorch version.
"""

import collections
import hashlib
import io
import json
import os
import pickle
import sys
import zipfile

import torch

OUT = sys.argv[1] if len(sys.argv) > 1 else 'tests/fixtures/pth'


def tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


DTYPE_NAMES = {
    torch.float32: 'F32',
    torch.float16: 'F16',
    torch.bfloat16: 'BF16',
    torch.float64: 'F64',
    torch.int64: 'I64',
}


def describe(obj, path='', out=None):
    """Every tensor reachable from obj, keyed by a path of dict keys / list indices joined with '/'."""
    if out is None:
        out = {}
    if isinstance(obj, torch.Tensor):
        raw = tensor_bytes(obj)
        entry = {'dtype': DTYPE_NAMES[obj.dtype], 'shape': list(obj.shape), 'sha256': hashlib.sha256(raw).hexdigest()}
        if len(raw) <= 256:
            entry['hex'] = raw.hex()
        out[path] = entry
    elif isinstance(obj, dict):
        for k, v in obj.items():
            describe(v, f'{path}/{k}' if path else str(k), out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            describe(v, f'{path}/{i}' if path else str(i), out)
    return out


def save(name, obj, expected=True, **kwargs):
    path = os.path.join(OUT, name)
    torch.save(obj, path, **kwargs)
    if expected:
        with open(path.replace('.pth', '.expected.json'), 'w') as f:
            json.dump(describe(obj), f, indent=1, sort_keys=True)
            f.write('\n')


def known_tensors():
    g = torch.Generator().manual_seed(17)
    specials = torch.tensor(
        [0.0, -0.0, 1.0, -2.5, float('inf'), float('-inf'), float('nan'), 1e-45, 3.4028234663852886e38, 1.1754943508222875e-38]
    )
    base = torch.randn(4, 6, generator=g)
    shared = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    parameter = torch.nn.Parameter(torch.randn(3, generator=g))
    return collections.OrderedDict(
        [
            ('f32_specials', specials),
            ('f32_matrix', base),
            ('f16', (base * 100).to(torch.float16)),
            ('f16_specials', specials.to(torch.float16)),
            ('bf16', base.to(torch.bfloat16)),
            ('f64', base.to(torch.float64) / 3),
            ('i64', torch.tensor([0, 1, -1, 2**53 + 1, -(2**62), 2**63 - 1], dtype=torch.int64)),
            ('scalar_i64', torch.tensor(7, dtype=torch.int64)),
            ('scalar_f32', torch.tensor(0.25)),
            ('empty', torch.zeros(0, 3)),
            # Views share one storage: a transpose (non-contiguous strides), a row slice (storage offset) and a
            # column slice (offset and stride).
            ('shared', shared),
            ('shared_t', shared.t()),
            ('shared_rows', shared[1:3]),
            ('shared_column', shared[:, 2]),
            ('expanded', torch.arange(3, dtype=torch.float32).unsqueeze(0).expand(2, 3)),
            ('parameter', parameter),
        ]
    )


# ---- a tiny official-layout SparK checkpoint (SparkLab's `tiny` preset: basic-block ResNet, stride 8) ----
# Names are written out here from the official module structure (timm ResNet inside SparseEncoder, LightDecoder,
# densify norms/projections, mask tokens), independently of SparkLab's naming code.

TINY = dict(input_size=32, stem=8, widths=[8, 16, 32], depths=[1, 1, 1], strides=[2, 2, 2], decoder=32)


def tiny_module_shapes():
    """(name, shape, kind) in official state_dict order; kind is 'param', 'buffer' or 'count'."""
    items = [('imn_m', [1, 3, 1, 1], 'buffer'), ('imn_s', [1, 3, 1, 1], 'buffer'), ('norm_black', [1, 3, 32, 32], 'buffer')]

    def conv(name, cout, cin, k, bias=False):
        items.append((f'{name}.weight', [cout, cin, k, k], 'param'))
        if bias:
            items.append((f'{name}.bias', [cout], 'param'))

    def bn(name, c):
        items.extend([(f'{name}.weight', [c], 'param'), (f'{name}.bias', [c], 'param')])
        items.extend([(f'{name}.running_mean', [c], 'buffer'), (f'{name}.running_var', [c], 'buffer')])
        items.append((f'{name}.num_batches_tracked', [], 'count'))

    p = 'sparse_encoder.sp_cnn.'
    conv(p + 'conv1', TINY['stem'], 3, 3)
    bn(p + 'bn1', TINY['stem'])
    cin = TINY['stem']
    for i, w in enumerate(TINY['widths']):
        q = f'{p}layer{i + 1}.0.'
        conv(q + 'conv1', w, cin, 3)
        bn(q + 'bn1', w)
        conv(q + 'conv2', w, w, 3)
        bn(q + 'bn2', w)
        conv(q + 'downsample.0', w, cin, 1)
        bn(q + 'downsample.1', w)
        cin = w
    widths = [TINY['decoder'] // 2**i for i in range(4)]
    for i in range(3):
        q = f'dense_decoder.dec.{i}.'
        items.append((q + 'up_sample.weight', [widths[i], widths[i], 4, 4], 'param'))
        items.append((q + 'up_sample.bias', [widths[i]], 'param'))
        conv(q + 'conv.0', widths[i], widths[i], 3)
        bn(q + 'conv.1', widths[i])
        conv(q + 'conv.3', widths[i + 1], widths[i], 3)
        bn(q + 'conv.4', widths[i + 1])
    conv('dense_decoder.proj', 3, widths[3], 1, bias=True)
    enc = list(reversed(TINY['widths']))
    for i, e in enumerate(enc):
        bn(f'densify_norms.{i}', e)
    for i, e in enumerate(enc):
        if i == 0 and e == TINY['decoder']:
            continue  # the official projection is the identity when the widths already agree
        conv(f'densify_projs.{i}', TINY['decoder'] // 2**i, e, 1 if i == 0 else 3, bias=True)
    for i, e in enumerate(enc):
        items.append((f'mask_tokens.{i}', [1, e, 1, 1], 'param'))
    return items


def no_decay(name, shape):
    return len(shape) <= 1 or name.endswith('.bias') or any(k in name for k in ('cls_token', 'pos_embed', 'mask_token', 'gamma'))


def tiny_official_checkpoint(optimizer='lamb'):
    g = torch.Generator().manual_seed(1700)
    module = collections.OrderedDict()
    for name, shape, kind in tiny_module_shapes():
        if kind == 'count':
            module[name] = torch.tensor(12, dtype=torch.int64)
        elif name == 'norm_black':
            module[name] = torch.zeros(shape)
        elif name.endswith('running_var'):
            module[name] = torch.rand(shape, generator=g) + 0.5
        else:
            module[name] = torch.randn(shape, generator=g) * 0.1
    module['config'] = {
        'mask_ratio': 0.6, 'densify_norm_str': 'bn', 'sbn': False, 'hierarchy': 3,
        'sparse_encoder.input_size': 32, 'dense_decoder.width': 32,
    }
    params = [(n, s) for n, s, k in tiny_module_shapes() if k == 'param']
    groups = {}
    for name, shape in params:
        key = 'no_decay' if no_decay(name, shape) else 'decay'
        groups.setdefault(key, []).append(name)
    # Official order: group of the first parameter first (named_parameters order); param ids are assigned by
    # torch in group order.
    ordered_names = [n for key in groups for n in groups[key]]
    ids = {n: i for i, n in enumerate(ordered_names)}
    state = {}
    for name in ordered_names:
        t = module[name]
        entry = {}
        if optimizer == 'adamw':
            entry['step'] = torch.tensor(40.0)
        entry['exp_avg'] = torch.randn(t.shape, generator=g) * 1e-3
        entry['exp_avg_sq'] = torch.rand(t.shape, generator=g) * 1e-6
        state[ids[name]] = entry
    param_groups = []
    for key, names in groups.items():
        wd_scale = 0.0 if key == 'no_decay' else 1.0
        if optimizer == 'lamb':
            group = {
                'params': [ids[n] for n in names], 'weight_decay_scale': wd_scale, 'lr_scale': 1.0,
                'lr': 1.5e-4, 'bias_correction': True, 'betas': (0.9, 0.95), 'eps': 1e-6,
                'weight_decay': 0.04 * wd_scale, 'grad_averaging': True, 'max_grad_norm': 5.0,
                'trust_clip': False, 'always_adapt': False, 'step': 40,
            }
        else:
            group = {
                'params': [ids[n] for n in names], 'weight_decay_scale': wd_scale, 'lr_scale': 1.0,
                'lr': 1.5e-4, 'betas': (0.9, 0.999), 'eps': 1e-8, 'weight_decay': 0.04 * wd_scale,
                'amsgrad': False, 'foreach': None, 'maximize': False, 'capturable': False,
            }
        param_groups.append(group)
    return {
        'args': "{'model': 'tiny', 'input_size': 32}",
        'input_size': 32,
        'arch': 'tiny',
        'epoch': 4,
        'performance_desc': '0.5000 0.6000',
        'module': module,
        'optimizer': {'state': state, 'param_groups': param_groups},
        'is_pretrain': True,
    }


# ---- hostile and malformed files ----


class ForbiddenCall:
    """Pickles as a call of posix.system (what a malicious checkpoint does); never unpickled here."""

    def __reduce__(self):
        return (os.system, ('echo this would run on torch.load',))


class ExecPayload:
    def __reduce__(self):
        return (exec, ("print('this would run on torch.load')",))


class FakeStorage:
    def __init__(self, key, storage_type, numel):
        self.key, self.storage_type, self.numel = key, storage_type, numel


class FakeTensor:
    """A tensor reference with chosen (possibly wrong) storage offset, size and stride."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce__(self):
        return (
            torch._utils._rebuild_tensor_v2,
            (self.storage, self.offset, tuple(self.size), tuple(self.stride), False, collections.OrderedDict()),
        )


class CraftingPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ('storage', obj.storage_type, obj.key, 'cpu', obj.numel)
        return None


def crafted(name, obj, records):
    """A zip laid out like torch's (stored entries under one folder): data.pkl, data/<key>, version."""
    buffer = io.BytesIO()
    CraftingPickler(buffer, protocol=2).dump(obj)
    with zipfile.ZipFile(os.path.join(OUT, name), 'w', compression=zipfile.ZIP_STORED) as z:
        for record, data in [('data.pkl', buffer.getvalue())] + list(records.items()) + [('version', b'3\n')]:
            info = zipfile.ZipInfo(f'archive/{record}', date_time=(2026, 1, 1, 0, 0, 0))
            z.writestr(info, data)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    save('tensors.pth', known_tensors())
    save('official-tiny-lamb.pth', tiny_official_checkpoint('lamb'))
    save('official-tiny-adamw.pth', tiny_official_checkpoint('adamw'))
    # A flat file (weights only, as published checkpoints sometimes are): the module dict saved on its own.
    flat = tiny_official_checkpoint('lamb')['module']
    flat.pop('config')
    save('flat-tiny.pth', flat)
    # An encoder-only file under timm names (what the official code saves as *_1kpretrained_timm_style.pth).
    prefix = 'sparse_encoder.sp_cnn.'
    save('encoder-timm-tiny.pth', collections.OrderedDict((k[len(prefix):], v) for k, v in flat.items() if k.startswith(prefix)))
    # A real module's state_dict carries `_metadata` (set through the pickle BUILD instruction).
    torch.manual_seed(3)
    save('module-state-dict.pth', torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).state_dict())
    save('legacy-format.pth', {'w': torch.ones(2)}, expected=False, _use_new_zipfile_serialization=False)
    save('forbidden-global.pth', {'w': torch.ones(2), 'hook': os.system}, expected=False)
    save('reduce-payload.pth', {'w': torch.ones(2), 'payload': ExecPayload()}, expected=False)
    save('reduce-system.pth', {'payload': ForbiddenCall()}, expected=False)
    four = (torch.arange(4, dtype=torch.float32)).numpy().tobytes()
    crafted('huge-storage.pth', {'w': FakeTensor(FakeStorage('0', torch.FloatStorage, 2**40), 0, [2**20, 2**20], [2**20, 1])}, {'data/0': four})
    crafted('offset-out-of-range.pth', {'w': FakeTensor(FakeStorage('0', torch.FloatStorage, 4), 3, [2], [1])}, {'data/0': four})
    crafted('stride-out-of-range.pth', {'w': FakeTensor(FakeStorage('0', torch.FloatStorage, 4), 0, [2, 2], [3, 1])}, {'data/0': four})
    crafted('missing-storage.pth', {'w': FakeTensor(FakeStorage('7', torch.FloatStorage, 4), 0, [4], [1])}, {'data/0': four})
    crafted('short-storage.pth', {'w': FakeTensor(FakeStorage('0', torch.FloatStorage, 8), 0, [8], [1])}, {'data/0': four})
    crafted('negative-stride.pth', {'w': FakeTensor(FakeStorage('0', torch.FloatStorage, 4), 3, [4], [-1])}, {'data/0': four})
    crafted('int16-storage.pth', {'w': FakeTensor(FakeStorage('0', torch.ShortStorage, 2), 0, [2], [1])}, {'data/0': four})
    print(f'wrote {len(os.listdir(OUT))} files to {OUT} with torch {torch.__version__}')


if __name__ == '__main__':
    main()
