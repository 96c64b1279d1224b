"""Build the model from the spec: builtin `mlp`/`cnn` sized from the data, or the user's
`_target_` (an nn.Module class or a factory returning one)."""

from __future__ import annotations

import inspect

from torch import nn

from nnlearn.data.bundle import DataBundle
from nnlearn.errors import SpecError
from nnlearn.models.builtin import CNN, MLP, fan_in, initialize
from nnlearn.spec.schema import Spec

__all__ = ["CNN", "MLP", "build_model", "inferred_sizes"]


def inferred_sizes(bundle: DataBundle) -> dict:
    """Sizes a user's model may take by name; passed only where its signature asks for them."""
    return {
        "in_features": fan_in(bundle.input_shape),
        "out_features": bundle.out_features,
        "n_classes": bundle.n_classes,
        "input_shape": bundle.input_shape,
    }


def build_model(spec: Spec, bundle: DataBundle, file: str | None = None) -> nn.Module:
    m = spec.model
    if m.factory:
        return _user_model(spec, bundle, file)
    squeeze = bundle.task != "classification" and bundle.target_shape == ()
    common = dict(
        out_features=bundle.out_features,
        hidden=m.hidden,
        activation=m.activation,
        dropout=m.dropout,
        batchnorm=m.batchnorm,
        squeeze=squeeze,
    )
    if m.kind == "cnn":
        if len(bundle.input_shape) != 3:
            raise SpecError(
                file,
                [
                    (
                        "model.kind",
                        f"cnn needs image inputs (C, H, W); the data's samples have "
                        f"shape {bundle.input_shape}",
                    )
                ],
            )
        model: nn.Module = CNN(bundle.input_shape[0], **common)
    else:
        model = MLP(fan_in(bundle.input_shape), **common)
    initialize(model, m.init, m.init_std, m.activation)
    return model


def _user_model(spec: Spec, bundle: DataBundle, file: str | None) -> nn.Module:
    from nnlearn.targets import call_user, check_signature, import_target

    m = spec.model
    fn = import_target(m.factory or "", "model._target_", file, spec._base_dir)
    sizes = inferred_sizes(bundle)
    check_signature(fn, m.kwargs, "model", file, provided=tuple(sizes))
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    extra = {k: v for k, v in sizes.items() if k in params and k not in m.kwargs}
    model = call_user(fn, f"model._target_ {m.factory}", kwargs={**m.kwargs, **extra})
    if not isinstance(model, nn.Module):
        raise SpecError(
            file,
            [("model._target_", f"{m.factory} returned {type(model).__name__}, not an nn.Module")],
        )
    return model
