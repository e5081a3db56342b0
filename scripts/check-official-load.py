#!/usr/bin/env python3
"""Loads a SparkLab export into the official SparK pre-training classes, the way its main.py would.

    python3 scripts/check-official-load.py --spark-repo SparK --checkpoint run.pth \
        [--sparklab run.safetensors] [--manifest official-manifests/resnet50-224.json] \
        [--timm DIR] [--resume-step] [--parity-fixture out.safetensors [--parity-float64] [--batch 2] [--seed 0]]

--spark-repo is a checkout of the official repository (keyu-tian/SparK; its pretrain/ folder is imported, read
only), and `timm` must be importable (the official code pins timm 0.5.4; --timm DIR puts DIR first on the
import path, e.g. SparkLab's stand-in in scripts/official-check/timm-standin). Nothing of the official code is
copied or changed: the script builds the model as pretrain/main.py does (build_sparse_encoder, LightDecoder,
SparK; the official get_param_groups and LAMB, or PyTorch's AdamW for an AdamW file) and then checks:

  1. module: `SparK.load_state_dict(checkpoint['module'], strict=True)` (names, shapes, and the config dict,
     which the official loader compares strictly), plus dtypes and order against the model's own state_dict;
     with --sparklab, every tensor equal to the SparkLab checkpoint's tensor of the same name;
  2. optimizer: `optimizer.load_state_dict(checkpoint['optimizer'])` into the official parameter groups; every
     moment lands on a parameter of its shape; the groups keep the official weight-decay scales; with
     --sparklab, every exp_avg / exp_avg_sq equal to SparkLab's moment of that parameter;
  3. epoch: an integer, resumed at epoch + 1 as misc.load_checkpoint does;
  4. --resume-step: one iteration of the official loop (lr_wd_annealing, forward, backward, step) on a random
     batch, which must give a finite loss and advance the step counters by one;
  5. --manifest: the official model's state_dict(with_config=True) names, shapes, dtypes and config, and its
     parameter groups, equal a manifest of ../shared/fixtures/official-manifests (checks the timm in use).

--parity-fixture writes a SparkLab parity fixture (format of tests/fixtures/official/README.md) holding the
loaded weights, a seeded batch, the official model's own seeded mask, and the official eval loss,
visualisation, train loss, features, decoder output, BN buffers and gradients (drop path set to 0 so that
the train pass is deterministic) and one step of a fresh official LAMB; `npm run parity -- FILE` then
computes SparkLab's values for the same weights, batch and mask. --parity-float64 computes them in float64.
An encoder-only file (*_1kpretrained_timm_style.pth) is loaded into sparse_encoder.sp_cnn strictly instead.

Exit status: 0 when every check passed, 1 when one failed, 2 on a usage or import problem.
"""

import argparse
import collections
import contextlib
import io
import json
import os
import struct
import sys
import types

import torch

FAILURES = []


def refuse(message):
    """A file or setup this check cannot work with: say why and exit 2."""
    print(message, file=sys.stderr)
    sys.exit(2)


def check(ok, message):
    print(('  ok    ' if ok else '  FAIL  ') + message)
    if not ok:
        FAILURES.append(message)
    return ok


@contextlib.contextmanager
def quiet():
    """Keeps the official constructors' progress prints (module lists, parameter groups) off the report."""
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        yield captured


def note(message):
    print('  note  ' + message)


def import_official(spark_repo, timm_dir):
    if timm_dir:
        sys.path.insert(0, os.path.abspath(timm_dir))
    pretrain = os.path.join(os.path.abspath(spark_repo), 'pretrain')
    if not os.path.isfile(os.path.join(pretrain, 'spark.py')):
        refuse(f'{spark_repo} is not a checkout of the official SparK repository (no pretrain/spark.py).')
    sys.path.insert(0, pretrain)
    try:
        import timm
    except ImportError as error:
        refuse(f'timm cannot be imported ({error}); pass --timm DIR with timm 0.5.4 or the stand-in.')
    print(f'timm {getattr(timm, "__version__", "?")} from {os.path.dirname(timm.__file__)}')
    # utils.misc (imported by decoder.py for is_pow2n) needs pytz and tensorboard for its logging only; where
    # they are missing, empty modules take their place (nothing this check runs calls them).
    for name, attrs in (('pytz', {'timezone': lambda *_: None}), ('torch.utils.tensorboard', {'SummaryWriter': object})):
        try:
            __import__(name)
        except ImportError:
            module = types.ModuleType(name)
            module.__dict__.update(attrs)
            sys.modules[name] = module
            note(f'{name} is not installed; an empty stand-in is used (the official code uses it for logging only).')
    import decoder
    import encoder
    import models
    import spark
    from utils import lamb, lr_control

    return types.SimpleNamespace(
        encoder=encoder, decoder=decoder, models=models, spark=spark, lamb=lamb, lr_control=lr_control, timm=timm
    )


# ---------------------------------------------------------------- reading a SparkLab safetensors checkpoint

SAFETENSORS_DTYPES = {'F32': torch.float32, 'F64': torch.float64, 'I64': torch.int64, 'U8': torch.uint8}


def read_safetensors(path):
    with open(path, 'rb') as f:
        raw = f.read()
    (length,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8 : 8 + length])
    data = memoryview(raw)[8 + length :]
    tensors = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        begin, end = info['data_offsets']
        dtype = SAFETENSORS_DTYPES[info['dtype']]
        flat = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype) if end > begin else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(info['shape'])
    return tensors, header.get('__metadata__', {})


def write_safetensors(path, tensors, metadata):
    codes = {torch.float32: 'F32', torch.int64: 'I64', torch.uint8: 'U8'}
    header, blobs, offset = {'__metadata__': metadata}, [], 0
    for name, t in tensors.items():
        blob = t.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {'dtype': codes[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    encoded = json.dumps(header).encode()
    encoded += b' ' * (-len(encoded) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)


# ---------------------------------------------------------------- building the official model


def describe_backbone(module):
    """The dense backbone a state dict holds, from its names and shapes (enough to build it)."""
    prefix = 'sparse_encoder.sp_cnn.'
    names = {k[len(prefix) :]: v for k, v in module.items() if k.startswith(prefix)}
    if 'stages.0.0.dwconv.weight' in names:
        depths, dims = [], []
        for i in range(4):
            depths.append(len({k.split('.')[2] for k in names if k.startswith(f'stages.{i}.')}))
            dims.append(names[f'stages.{i}.0.dwconv.weight'].shape[0])
        return {'family': 'convnext', 'dims': dims, 'depths': depths}
    depths = []
    for i in range(1, 5):
        blocks = {k.split('.')[1] for k in names if k.startswith(f'layer{i}.')}
        depths.append(len(blocks))
    block = 'bottleneck' if 'layer1.0.conv3.weight' in names else 'basic'
    widths = [names[f'layer{i}.0.conv1.weight'].shape[0] for i in range(1, 5)]
    return {
        'family': 'resnet',
        'block': block,
        'stem_width': names['conv1.weight'].shape[0],
        'stem_kernel': names['conv1.weight'].shape[-1],
        'stem_stride': 2,
        'maxpool': True,
        'widths': widths,
        'depths': depths,
        'stage_strides': [1, 2, 2, 2],
    }


OFFICIAL_ARCHS = {
    ('resnet', 'bottleneck', (3, 4, 6, 3)): 'resnet50',
    ('resnet', 'bottleneck', (3, 4, 23, 3)): 'resnet101',
    ('resnet', 'bottleneck', (3, 8, 36, 3)): 'resnet152',
    ('resnet', 'bottleneck', (3, 24, 36, 3)): 'resnet200',
    ('convnext', (96, 192, 384, 768), (3, 3, 27, 3)): 'convnext_small',
    ('convnext', (128, 256, 512, 1024), (3, 3, 27, 3)): 'convnext_base',
    ('convnext', (192, 384, 768, 1536), (3, 3, 27, 3)): 'convnext_large',
}


def official_arch_of(backbone):
    if backbone['family'] == 'resnet':
        standard = backbone['stem_width'] == 64 and backbone['widths'] == [64, 128, 256, 512]
        return OFFICIAL_ARCHS.get(('resnet', backbone['block'], tuple(backbone['depths']))) if standard else None
    return OFFICIAL_ARCHS.get(('convnext', tuple(backbone['dims']), tuple(backbone['depths'])))


def build_official(official, arch, backbone, config):
    input_size, sbn = config['sparse_encoder.input_size'], config['sbn']
    if arch in official.models.pretrain_default_model_kwargs and arch != 'your_convnet':
        # main.py: build_sparse_encoder(args.model, input_size, sbn, drop_path_rate=args.dp) with --dp 0.
        enc = official.models.build_sparse_encoder(arch, input_size=input_size, sbn=sbn, drop_path_rate=0.0)
        how = f'build_sparse_encoder({arch!r}, input_size={input_size}, sbn={sbn})'
    elif backbone['family'] == 'convnext':
        cnn = official.models.ConvNeXt(depths=backbone['depths'], dims=list(backbone['dims']), sparse=True, num_classes=0, global_pool='')
        enc = official.encoder.SparseEncoder(cnn, input_size=input_size, sbn=sbn)
        how = f'SparseEncoder(ConvNeXt(depths={backbone["depths"]}, dims={backbone["dims"]}), {input_size})'
    else:
        from timm.models import resnet as timm_resnet

        if backbone['stem_width'] != 64 or backbone['stem_kernel'] != 7 or backbone['widths'] != [64, 128, 256, 512]:
            refuse('This ResNet has a stem or widths timm\'s ResNet does not build; the official classes cannot load it.')
        block = timm_resnet.Bottleneck if backbone['block'] == 'bottleneck' else timm_resnet.BasicBlock
        cnn = timm_resnet.ResNet(block, backbone['depths'], num_classes=0, global_pool='')
        enc = official.encoder.SparseEncoder(cnn, input_size=input_size, sbn=sbn)
        how = f'SparseEncoder(timm ResNet({backbone["block"]}, {backbone["depths"]}), {input_size})'
    width = config['dense_decoder.width']
    dec = official.decoder.LightDecoder(enc.downsample_raito, width=width, sbn=sbn)
    model = official.spark.SparK(
        sparse_encoder=enc, dense_decoder=dec, mask_ratio=config['mask_ratio'], densify_norm=config['densify_norm_str'], sbn=sbn
    )
    return model, f'SparK({how}, LightDecoder(width={width}), mask_ratio={config["mask_ratio"]}, densify_norm={config["densify_norm_str"]!r}, sbn={sbn})'


def official_optimizer(official, model, saved, family):
    param_groups = official.lr_control.get_param_groups(model, nowd_keys={'cls_token', 'pos_embed', 'mask_token', 'gamma'})
    ada = 0.95 if family == 'resnet' else 0.999  # main.py's --ada default per family
    if any('amsgrad' in g for g in saved['param_groups']):
        return torch.optim.AdamW(params=param_groups, lr=1e-4, weight_decay=0.0, betas=(0.9, ada)), 'AdamW'
    return official.lamb.TheSameAsTimmLAMB(params=param_groups, lr=1e-4, weight_decay=0.0, betas=(0.9, ada), max_grad_norm=5.0), 'LAMB'


# ---------------------------------------------------------------- checks


def check_manifest(model, optimizer_groups, manifest_path):
    with open(manifest_path) as f:
        manifest = json.load(f)
    print(f'[manifest] {manifest_path}')
    state = model.state_dict(with_config=True)
    config = state.pop('config')
    got = [[k, list(v.shape), str(v.dtype).replace('torch.', '')] for k, v in state.items()]
    check(got == manifest['module'], f'official state_dict: {len(got)} names, shapes and dtypes in the manifest\'s order')
    if got != manifest['module']:
        for a, b in zip(got, manifest['module']):
            if a != b:
                print(f'        first difference: official {a} vs manifest {b}')
                break
    check(config == manifest['config'], f'config {config}')
    names = {id(p): n for n, p in model.named_parameters()}
    groups = [
        {'weight_decay_scale': g['weight_decay_scale'], 'lr_scale': g['lr_scale'], 'params': [names[id(p)] for p in g['params']]}
        for g in optimizer_groups
    ]
    want = [{k: g[k] for k in ('weight_decay_scale', 'lr_scale', 'params')} for g in manifest['optimizer']['param_groups']]
    check(groups == want, f'parameter groups: {[len(g["params"]) for g in groups]} parameters, same order as the manifest')


def check_module(model, module, sparklab):
    print('[module]')
    config = module.get('config')
    own = model.state_dict()
    saved_names = [k for k in module if k != 'config']
    check(saved_names == list(own), f'{len(saved_names)} tensors in the official state_dict order')
    bad_dtypes = [k for k in own if k in module and module[k].dtype != own[k].dtype]
    check(not bad_dtypes, 'every dtype as the official module holds it' + (f' (differ: {bad_dtypes[:5]})' if bad_dtypes else ''))
    try:
        result = model.load_state_dict(collections.OrderedDict(module), strict=True)
        check(not result.missing_keys and not result.unexpected_keys, f'load_state_dict(strict=True), config {config}')
    except (RuntimeError, AttributeError) as error:
        check(False, f'load_state_dict(strict=True) raised: {str(error)[:2000]}')
        return
    after = model.state_dict()
    same = all(torch.equal(after[k], module[k].to(after[k].dtype)) for k in after)
    check(same, 'the loaded model holds exactly the file\'s tensors')
    if sparklab is not None:
        compared, differ = 0, []
        for k, v in after.items():
            if k in ('imn_m', 'imn_s', 'norm_black'):
                continue
            mine = sparklab.get(k)
            if mine is None or not torch.equal(mine.to(v.dtype).reshape(v.shape), v):
                differ.append(k)
            compared += 1
        check(not differ, f'{compared} tensors equal to the SparkLab checkpoint' + (f' (differ: {differ[:5]})' if differ else ''))


def check_optimizer(model, optimizer, kind, saved, sparklab):
    print(f'[optimizer] official {kind}')
    built_scales = [g['weight_decay_scale'] for g in optimizer.param_groups]
    try:
        optimizer.load_state_dict(saved)
    except (ValueError, KeyError, RuntimeError) as error:
        check(False, f'optimizer.load_state_dict raised: {error}')
        return
    check(True, f'optimizer.load_state_dict: {len(optimizer.param_groups)} groups of {[len(g["params"]) for g in optimizer.param_groups]} parameters')
    scales = [g.get('weight_decay_scale') for g in optimizer.param_groups]
    check(scales == built_scales, f'weight_decay_scale per group {scales} (the official groups: {built_scales})')
    names = {id(p): n for n, p in model.named_parameters()}
    steps = [g.get('step') for g in optimizer.param_groups] if kind == 'LAMB' else None
    if kind == 'LAMB':
        check(all(s is None or (isinstance(s, int) and not isinstance(s, bool)) for s in steps), f'group step counters {steps} (int, as the official LAMB counts)')
    shape_ok, equal, moments, missing = True, 0, 0, []
    for group in optimizer.param_groups:
        for p in group['params']:
            state = optimizer.state.get(p, {})
            if not state:
                missing.append(names[id(p)])
                continue
            for key in ('exp_avg', 'exp_avg_sq'):
                t = state[key]
                shape_ok &= tuple(t.shape) == tuple(p.shape) and t.dtype == p.dtype
                moments += 1
                if sparklab is not None:
                    mine = sparklab.get(f'optimizer.{key}.{names[id(p)]}')
                    if mine is not None and torch.equal(mine.reshape(t.shape), t):
                        equal += 1
            if kind == 'AdamW':
                shape_ok &= torch.is_tensor(state['step'])
    check(shape_ok, f'{moments} moments, each on a parameter of its shape and dtype')
    total = sum(len(g['params']) for g in optimizer.param_groups)
    stepped = any((s or 0) > 0 for s in steps) if steps is not None else bool(optimizer.state)
    if stepped:
        check(not missing, f'moments for all {total} parameters' + (f' (none for {missing[:5]})' if missing else ''))
    if sparklab is not None:
        check(equal == moments, f'{equal}/{moments} moments equal to SparkLab\'s exp_avg / exp_avg_sq')
    for i, g in enumerate(optimizer.param_groups):
        hyper = {k: v for k, v in g.items() if k != 'params'}
        print(f'        group {i}: {hyper}')


def resume_step(official, model, optimizer, kind, sbn, seed):
    print('[resume step] one iteration of the official training loop')
    if sbn:
        note('config sbn=True: SyncBatchNorm needs a process group to train; the step is skipped here.')
        return
    before = [g.get('step', 0) for g in optimizer.param_groups]
    official.lr_control.lr_wd_annealing(optimizer, 2e-4, 0.04, 0.2, 10, 40, 1000)
    generator = torch.Generator().manual_seed(seed)
    size = model.sparse_encoder.input_size
    inp = torch.randn(2, 3, size, size, generator=generator)
    model.train()
    loss = model(inp, active_b1ff=model.mask(2, 'cpu', generator=generator), vis=False)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    check(bool(torch.isfinite(loss)), f'train loss {loss.item():.6f}, optimizer.step() ran')
    if kind == 'LAMB':
        after = [g['step'] for g in optimizer.param_groups]
        check(after == [b + 1 for b in before], f'group step counters {before} -> {after}')


def write_parity_fixture(path, official, model, backbone, config, batch, seed, float64=False):
    """The official model's results on the loaded weights, in the format of SparkLab's parity fixtures: eval
    pass, then train forward + backward (drop path off: SparkLab's parity backend has none), then one step of
    a fresh official LAMB on those gradients. The loaded weights and buffers are put back afterwards."""
    print(f'[parity fixture] {path}')
    if config['sbn']:
        note('config sbn=True: SyncBatchNorm needs a process group to train; no parity fixture written.')
        return
    size = config['sparse_encoder.input_size']
    loaded = {k: v.clone() for k, v in model.state_dict().items()}
    state = {k: v for k, v in loaded.items() if k not in ('imn_m', 'imn_s', 'norm_black')}
    generator = torch.Generator().manual_seed(seed)
    inp = torch.randn(batch, 3, size, size, generator=generator)
    mask = model.mask(batch, 'cpu', generator=generator)
    tensors = {'input': inp, 'mask': mask.to(torch.uint8)}
    tensors.update({f'param/{k}': v for k, v in state.items()})
    if float64:
        # The same float32 weights and batch, computed in float64: expectations free of float32 rounding,
        # which matters where gradients are small differences of large terms (near-initial weights).
        model.double()
        inp = inp.double()

    model.eval()
    with torch.no_grad():
        eval_loss = model(inp, active_b1ff=mask)
        _, masked, rec_or_inp = model(inp, active_b1ff=mask, vis=True)
    tensors['expected/eval/loss'] = eval_loss.reshape(1)
    tensors['expected/eval/masked'] = masked
    tensors['expected/eval/rec_or_inp'] = rec_or_inp

    dropping = [m for m in model.modules() if getattr(m, 'drop_prob', None)]
    rates = [m.drop_prob for m in dropping]
    for m in dropping:
        m.drop_prob = 0.0
    captured = {}
    hooks = [
        # SparK.forward reverses the encoder's list in place afterwards: copy it while it is largest-first.
        model.sparse_encoder.register_forward_hook(lambda _m, _i, out: captured.__setitem__('features', [t.detach().clone() for t in out])),
        model.dense_decoder.register_forward_hook(lambda _m, _i, out: captured.__setitem__('decoder_out', out.detach().clone())),
    ]
    model.train()
    model.zero_grad(set_to_none=True)
    train_loss = model(inp, active_b1ff=mask)
    train_loss.backward()
    for h in hooks:
        h.remove()
    for m, rate in zip(dropping, rates):
        m.drop_prob = rate
    tensors['expected/train/loss'] = train_loss.detach().reshape(1)
    for i, feature in enumerate(captured['features']):
        tensors[f'expected/train/features/{i}'] = feature
    tensors['expected/train/decoder_out'] = captured['decoder_out']
    for k, v in model.state_dict().items():
        if k.endswith(('running_mean', 'running_var', 'num_batches_tracked')):
            tensors[f'expected/train/buffers/{k}'] = v.clone()
    for k, p in model.named_parameters():
        tensors[f'expected/train/grad/{k}'] = p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)

    lamb = {'lr': 1e-3, 'weight_decay': 0.04, 'betas': [0.9, 0.95 if backbone['family'] == 'resnet' else 0.999], 'max_grad_norm': 5.0}
    with quiet():
        groups = official.lr_control.get_param_groups(model, nowd_keys={'cls_token', 'pos_embed', 'mask_token', 'gamma'})
        step = official.lamb.TheSameAsTimmLAMB(params=groups, lr=lamb['lr'], weight_decay=0.0, betas=tuple(lamb['betas']), max_grad_norm=lamb['max_grad_norm'])
    for g in step.param_groups:
        g['weight_decay'] = lamb['weight_decay'] * g['weight_decay_scale']
    step.step()
    for k, p in model.named_parameters():
        tensors[f'expected/lamb/param/{k}'] = p.detach().clone()
    model.zero_grad(set_to_none=True)
    model.float()
    model.load_state_dict(loaded, strict=True)
    tensors = {k: v.float() if v.dtype == torch.float64 else v for k, v in tensors.items()}

    fixture_config = {
        'input_size': size,
        'batch': batch,
        'mask_ratio': config['mask_ratio'],
        'decoder_width': config['dense_decoder.width'],
        'seed': seed,
        'lamb': lamb,
        'backbone': backbone,
    }
    write_safetensors(
        path,
        tensors,
        {
            'format': 'spark-parity-fixture/1',
            'config': json.dumps(fixture_config),
            'source': 'scripts/check-official-load.py: the official SparK classes after loading a SparkLab export',
            'notes': 'eval pass, train forward + backward with drop path 0, one fresh official LAMB step; check with npm run parity',
        },
    )
    check(
        True,
        f'official eval loss {eval_loss.item():.7f}, train loss {train_loss.item():.7f} (batch {batch}, seed {seed}, '
        f'{int(mask.sum())} visible cells); {len(tensors)} tensors written',
    )


def check_encoder_only(official, state):
    """An encoder-only file (*_1kpretrained_timm_style.pth): sp_cnn.load_state_dict(strict=True)."""
    print('[encoder only] the file is a flat state dict of the encoder (*_1kpretrained_timm_style.pth)')
    prefixed = collections.OrderedDict(('sparse_encoder.sp_cnn.' + k, v) for k, v in state.items())
    backbone = describe_backbone(prefixed)
    arch = official_arch_of(backbone)
    config = {
        'sparse_encoder.input_size': 224, 'sbn': False, 'mask_ratio': 0.6, 'dense_decoder.width': 768,
        'densify_norm_str': 'bn' if backbone['family'] == 'resnet' else 'ln',
    }
    with quiet():
        model, built = build_official(official, arch, backbone, config)
    print(f'built: {built}')
    cnn = model.sparse_encoder.sp_cnn
    own = cnn.state_dict()
    check(list(state) == list(own), f'{len(state)} tensors in the order of sp_cnn.state_dict()')
    bad = [k for k in own if k in state and state[k].dtype != own[k].dtype]
    check(not bad, 'every dtype as the official encoder holds it' + (f' (differ: {bad[:5]})' if bad else ''))
    try:
        result = cnn.load_state_dict(state, strict=True)
        check(not result.missing_keys and not result.unexpected_keys, f'sparse_encoder.sp_cnn.load_state_dict(strict=True) ({arch or "custom"})')
    except RuntimeError as error:
        check(False, f'sp_cnn.load_state_dict(strict=True) raised: {str(error)[:2000]}')
    print(f'{len(FAILURES)} check(s) failed' if FAILURES else 'all checks passed')
    return 1 if FAILURES else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--spark-repo', required=True, help='checkout of the official SparK repository')
    parser.add_argument('--checkpoint', required=True, help='the .pth to load (npm run export -- --format official-pth)')
    parser.add_argument('--sparklab', help='the SparkLab .safetensors checkpoint it was exported from')
    parser.add_argument('--manifest', help='an official manifest JSON to compare the built model with')
    parser.add_argument('--timm', help='a folder to import timm from (put first on the import path)')
    parser.add_argument('--resume-step', action='store_true', help='run one official training iteration after loading')
    parser.add_argument('--parity-fixture', help='write a SparkLab parity fixture computed by the official model')
    parser.add_argument('--parity-float64', action='store_true', help='compute the fixture in float64 (stored as float32)')
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()

    official = import_official(args.spark_repo, args.timm)
    print(f'torch {torch.__version__}; checkpoint {args.checkpoint}')
    checkpoint = torch.load(args.checkpoint, map_location='cpu')  # what misc.load_checkpoint does
    if not isinstance(checkpoint, dict):
        refuse('The file holds no dict of tensors; it is not a SparK checkpoint.')
    torch.manual_seed(args.seed)
    if 'module' not in checkpoint:
        return check_encoder_only(official, checkpoint)
    keys = list(checkpoint)
    print(f'keys {keys}; arch {checkpoint.get("arch")!r}, input_size {checkpoint.get("input_size")}, epoch {checkpoint.get("epoch")!r}')
    check(
        keys == ['args', 'input_size', 'arch', 'epoch', 'performance_desc', 'module', 'optimizer', 'is_pretrain'],
        'top-level keys as main.py saves them',
    )
    epoch = checkpoint.get('epoch', -1)
    check(
        isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= -1,
        f'epoch {epoch!r}: misc.load_checkpoint resumes at ep_start = {epoch + 1 if isinstance(epoch, int) else "?"}',
    )
    module = checkpoint['module']
    config = module.get('config')
    if not isinstance(config, dict):
        refuse('The module has no config dict; the official SparK.state_dict(with_config=True) always writes one.')
    backbone = describe_backbone(module)
    arch = official_arch_of(backbone)
    check(checkpoint.get('arch') == (arch or checkpoint.get('arch')), f'arch {checkpoint.get("arch")!r} is what the shapes are ({arch or "no official architecture"})')
    if arch and config['dense_decoder.width'] != 768:
        note('main.py always builds a decoder of width 768; this file needs LightDecoder(width=...) instead.')
    with quiet():
        model, built = build_official(official, arch, backbone, config)
        optimizer, kind = official_optimizer(official, model, checkpoint['optimizer'], backbone['family'])
    print(f'built: {built}; optimizer: official {kind} over get_param_groups(model)')
    if args.manifest:
        check_manifest(model, optimizer.param_groups, args.manifest)
    sparklab = read_safetensors(args.sparklab)[0] if args.sparklab else None
    check_module(model, module, sparklab)
    check_optimizer(model, optimizer, kind, checkpoint['optimizer'], sparklab)
    if args.parity_fixture:
        write_parity_fixture(args.parity_fixture, official, model, backbone, config, args.batch, args.seed, args.parity_float64)
    if args.resume_step:
        resume_step(official, model, optimizer, kind, config['sbn'], args.seed)
    print(f'{len(FAILURES)} check(s) failed' if FAILURES else 'all checks passed')
    return 1 if FAILURES else 0


if __name__ == '__main__':
    sys.exit(main())
