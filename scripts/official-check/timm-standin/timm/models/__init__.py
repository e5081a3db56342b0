from .registry import create_model, is_model, list_models, model_entrypoint, register_model  # noqa: F401
from . import resnet  # noqa: F401  (registers the ResNets, as importing timm does)
