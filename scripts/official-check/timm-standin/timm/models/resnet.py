"""ResNet with timm's module names for the default stem: conv1 (7x7/s2) -> bn1 -> act1 -> maxpool ->
layer1..layer4 -> global_pool -> fc, blocks named conv1/bn1/.../downsample.{0,1}, feature_info as timm keeps
it (stem first, then one entry per stage) and timm's stochastic-depth rule (block k of N: rate * k / (N - 1)).
Only what the official SparK pre-training uses; no pretrained weights, no other stems or attention."""
import torch.nn as nn
import torch.nn.functional as F

from .layers import DropPath
from .registry import register_model


def _conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, drop_path=None):
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride
        self.drop_path = drop_path

    def zero_init_last(self):
        nn.init.zeros_(self.bn2.weight)

    def forward(self, x):
        shortcut = x
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        if self.drop_path is not None:
            x = self.drop_path(x)
        if self.downsample is not None:
            shortcut = self.downsample(shortcut)
        return self.act2(x + shortcut)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, drop_path=None):
        super().__init__()
        outplanes = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(planes, outplanes, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(outplanes)
        self.act3 = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride
        self.drop_path = drop_path

    def zero_init_last(self):
        nn.init.zeros_(self.bn3.weight)

    def forward(self, x):
        shortcut = x
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.act2(self.bn2(self.conv2(x)))
        x = self.bn3(self.conv3(x))
        if self.drop_path is not None:
            x = self.drop_path(x)
        if self.downsample is not None:
            shortcut = self.downsample(shortcut)
        return self.act3(x + shortcut)


class ResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000, in_chans=3, drop_rate=0.0, drop_path_rate=0.0,
                 global_pool='avg', zero_init_last=True):
        super().__init__()
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        inplanes = 64
        self.conv1 = nn.Conv2d(in_chans, inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.act1 = nn.ReLU(inplace=True)
        self.feature_info = [dict(num_chs=inplanes, reduction=2, module='act1')]
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

        total_blocks, block_index, reduction = sum(layers), 0, 4
        for stage_index, (planes, depth) in enumerate(zip((64, 128, 256, 512), layers)):
            stride = 1 if stage_index == 0 else 2
            reduction *= stride
            blocks = []
            for i in range(depth):
                downsample = None
                if i == 0 and (stride != 1 or inplanes != planes * block.expansion):
                    downsample = nn.Sequential(
                        nn.Conv2d(inplanes, planes * block.expansion, kernel_size=1, stride=stride, bias=False),
                        nn.BatchNorm2d(planes * block.expansion),
                    )
                rate = drop_path_rate * block_index / (total_blocks - 1)
                blocks.append(block(inplanes, planes, stride if i == 0 else 1, downsample,
                                    DropPath(rate) if rate > 0.0 else None))
                inplanes = planes * block.expansion
                block_index += 1
            name = f'layer{stage_index + 1}'
            self.add_module(name, nn.Sequential(*blocks))
            self.feature_info.append(dict(num_chs=inplanes, reduction=reduction, module=name))

        self.num_features = 512 * block.expansion
        if global_pool not in ('', 'avg'):
            raise ValueError(f'The timm stand-in supports global_pool "" or "avg", not {global_pool!r}.')
        self.global_pool = nn.AdaptiveAvgPool2d(1) if global_pool == 'avg' else nn.Identity()
        self.flatten = nn.Flatten(1) if global_pool == 'avg' else nn.Identity()
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

        for name, m in self.named_modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_last:
            for m in self.modules():
                if hasattr(m, 'zero_init_last'):
                    m.zero_init_last()

    def forward(self, x):
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.flatten(self.global_pool(x))
        if self.drop_rate:
            x = F.dropout(x, p=float(self.drop_rate), training=self.training)
        return self.fc(x)


def _resnet(block, layers, pretrained=False, **kwargs):
    if pretrained:
        raise RuntimeError('The timm stand-in has no pretrained weights.')
    return ResNet(block, layers, **kwargs)


@register_model
def resnet18(pretrained=False, **kwargs):
    return _resnet(BasicBlock, [2, 2, 2, 2], pretrained, **kwargs)


@register_model
def resnet34(pretrained=False, **kwargs):
    return _resnet(BasicBlock, [3, 4, 6, 3], pretrained, **kwargs)


@register_model
def resnet50(pretrained=False, **kwargs):
    return _resnet(Bottleneck, [3, 4, 6, 3], pretrained, **kwargs)


@register_model
def resnet101(pretrained=False, **kwargs):
    return _resnet(Bottleneck, [3, 4, 23, 3], pretrained, **kwargs)


@register_model
def resnet152(pretrained=False, **kwargs):
    return _resnet(Bottleneck, [3, 8, 36, 3], pretrained, **kwargs)


@register_model
def resnet200(pretrained=False, **kwargs):
    return _resnet(Bottleneck, [3, 24, 36, 3], pretrained, **kwargs)
