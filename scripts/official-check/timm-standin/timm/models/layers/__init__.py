from . import drop  # noqa: F401
from .drop import DropPath, drop_path  # noqa: F401
from .weight_init import trunc_normal_  # noqa: F401
