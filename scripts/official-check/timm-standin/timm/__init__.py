"""A minimal local stand-in for the few `timm` symbols the official SparK pre-training imports.

Not timm: written for SparkLab's official-load check (scripts/check-official-load.py) on a machine where
timm cannot be installed. It covers create_model (timm 0.5.4 calling convention), register_model,
DropPath / drop_path, trunc_normal_, SoftTargetCrossEntropy (only named by the official code), and a ResNet
(basic and bottleneck blocks) whose module names, registration order, feature_info and stochastic-depth
rule follow timm 0.5.4's `timm.models.resnet.ResNet` for the default stem (7x7/s2 conv, max-pool).
"""
from .models import create_model  # noqa: F401

__version__ = '0.5.4-sparklab-standin'
