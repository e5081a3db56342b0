#!/usr/bin/env python3
"""Compares the timm stand-in's ResNets with a real timm's (names, shapes, dtypes, order, feature_info,
drop-path rates, and the eval-mode stage outputs for the same weights):

    python3 scripts/official-check/compare-standin.py REAL_TIMM_DIR

REAL_TIMM_DIR holds an importable timm (any version whose ResNet has timm's usual names). The official
pre-training pins timm 0.5.4, which this comparison does not need: what the official code relies on is the
ResNet's module names and its feature_info, and both are compared here.
"""
import os
import sys

import torch

STANDIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'timm-standin')
ARCHS = {'resnet18': 0.0, 'resnet50': 0.05, 'resnet101': 0.08, 'resnet152': 0.1, 'resnet200': 0.15}


def load_timm(path):
    for name in [m for m in sys.modules if m == 'timm' or m.startswith('timm.')]:
        del sys.modules[name]
    sys.path.insert(0, path)
    import timm

    sys.path.remove(path)
    return timm


def describe(model):
    drops = [round(float(m.drop_prob), 6) for m in model.modules() if type(m).__name__ == 'DropPath']
    return (
        [(k, tuple(v.shape), v.dtype) for k, v in model.state_dict().items()],
        [k for k, _ in model.named_parameters()],
        [info['num_chs'] for info in model.feature_info],
        drops,
    )


def stages(model, x):
    x = model.maxpool(model.act1(model.bn1(model.conv1(x))))
    out = []
    for i in range(1, 5):
        x = getattr(model, f'layer{i}')(x)
        out.append(x)
    return out


def main():
    real_timm = load_timm(os.path.abspath(sys.argv[1]))
    print(f'real timm {real_timm.__version__}')
    real = {a: real_timm.create_model(a, pretrained=False, num_classes=0, global_pool='', drop_path_rate=r) for a, r in ARCHS.items()}
    standin_timm = load_timm(STANDIN)
    print(f'stand-in {standin_timm.__version__}')
    failed = 0
    for arch, rate in ARCHS.items():
        mine = standin_timm.create_model(arch, pretrained=False, num_classes=0, global_pool='', drop_path_rate=rate)
        a, b = describe(real[arch]), describe(mine)
        same = [a[i] == b[i] for i in range(4)]
        mine.load_state_dict(real[arch].state_dict(), strict=True)
        real[arch].eval(), mine.eval()
        x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            diff = max(float((p - q).abs().max()) for p, q in zip(stages(real[arch], x), stages(mine, x)))
        ok = all(same) and diff == 0.0
        failed += not ok
        print(
            f"{'ok  ' if ok else 'FAIL'} {arch}: {len(a[0])} state entries {'equal' if same[0] else 'DIFFER'}, "
            f"parameter order {'equal' if same[1] else 'DIFFERS'}, feature_info {b[2]} {'equal' if same[2] else 'DIFFERS'}, "
            f"{len(b[3])} DropPath rates {'equal' if same[3] else 'DIFFER'}, stage outputs max |diff| {diff:g}"
        )
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
