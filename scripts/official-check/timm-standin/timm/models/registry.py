"""Model registry: a name -> constructor table filled by @register_model."""
_entrypoints = {}


def register_model(fn):
    # A later registration under the same name replaces the earlier one, as timm's registry does.
    _entrypoints[fn.__name__] = fn
    return fn


def is_model(name):
    return name in _entrypoints


def model_entrypoint(name):
    return _entrypoints[name]


def list_models():
    return sorted(_entrypoints)


def create_model(model_name, pretrained=False, **kwargs):
    """timm 0.5.4's convention: keyword arguments set to None are dropped; the rest go to the constructor."""
    if not is_model(model_name):
        raise RuntimeError(f'Unknown model ({model_name}) in the timm stand-in; known: {list_models()}')
    if pretrained:
        raise RuntimeError('The timm stand-in has no pretrained weights.')
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    return _entrypoints[model_name](pretrained=pretrained, **kwargs)
