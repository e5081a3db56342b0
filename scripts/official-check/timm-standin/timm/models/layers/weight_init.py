import torch


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """Fills the tensor from N(mean, std) truncated to [a, b] (absolute bounds), in place."""
    return torch.nn.init.trunc_normal_(tensor, mean=mean, std=std, a=a, b=b)
