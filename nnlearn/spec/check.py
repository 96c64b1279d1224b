"""`nnlearn validate`: everything that can be checked without training."""

from __future__ import annotations

from pathlib import Path

from nnlearn.errors import InputError
from nnlearn.spec.schema import Spec


def check_spec(spec: Spec, file: str | None) -> str:
    """Paths exist and the user's `_target_`s import and fit their signatures. -> a summary."""
    from nnlearn.targets import check_signature, import_target

    d = spec.data
    if d.factory is None and d.kind in ("csv", "parquet") and not Path(d.path or "").is_file():
        raise InputError(f"data.path: file not found: {d.path}")
    checked = []
    for section, obj, positional in (
        ("data", spec.data, 0),
        ("model", spec.model, 0),
        ("loss", spec.loss, 0),
        ("optimizer", spec.optimizer, 1),
        ("train_step", spec.train_step, 2),  # step(model, batch, **keys)
        ("scheduler", spec.scheduler, 1),  # called with the optimizer first
    ):
        target = getattr(obj, "factory", None)
        if target:
            fn = import_target(target, f"{section}._target_", file, spec._base_dir)
            provided = {
                "model": ("in_features", "out_features", "n_classes", "input_shape"),
                "data": tuple(sorted(type(spec.data).own_keys)),  # passed on when named
            }
            check_signature(
                fn,
                obj.kwargs,
                section,
                file,
                positional=positional,
                provided=provided.get(section, ()),
            )
            checked.append(f"{section}._target_ {target}")
    data = (
        f"{d.factory}" if d.factory else (f"{d.kind}:{d.name}" if d.kind == "synthetic" else d.path)
    )
    model = spec.model.factory or f"{spec.model.kind} {spec.model.hidden}"
    return f"data {data}; model {model}; {spec.probe.steps} steps" + (
        f"; checked {', '.join(checked)}" if checked else ""
    )
