import torch
import torch.nn as nn


def drop_path(x, drop_prob=0.0, training=False, scale_by_keep=True):
    """Stochastic depth per sample: zero the whole residual branch of an image with probability drop_prob."""
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    keep = x.new_empty(shape).bernoulli_(keep_prob)
    if keep_prob > 0.0 and scale_by_keep:
        keep.div_(keep_prob)
    return x * keep


class DropPath(nn.Module):
    def __init__(self, drop_prob=None, scale_by_keep=True):
        super().__init__()
        self.drop_prob = drop_prob
        self.scale_by_keep = scale_by_keep

    def forward(self, x):
        return drop_path(x, self.drop_prob or 0.0, self.training, self.scale_by_keep)
