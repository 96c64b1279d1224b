"""The user's code, named Hydra-style by `_target_`: import, signature check, call.

Importing and calling run the user's code exactly as their own training script would; the spec
itself never builds arbitrary objects. A target that cannot be found is a spec error (exit 2);
user code that raises is a `UserCodeError` (exit 3) carrying the essential traceback.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nnlearn.errors import SpecError, UserCodeError

_NNLEARN_DIR = os.path.dirname(os.path.abspath(__file__))


def import_target(dotted: str, field: str, file: str | None, base_dir: Path | None) -> Callable:
    """`pkg.mod.fn` or `pkg.mod:fn` -> the callable."""
    if base_dir is not None and str(base_dir) not in sys.path:
        sys.path.insert(0, str(base_dir))
    if ":" in dotted:
        module_name, _, attr_path = dotted.partition(":")
    else:
        module_name, _, attr_path = dotted.rpartition(".")
    if not module_name or not attr_path:
        raise SpecError(file, [(field, f"{dotted!r} must be module.path.callable")])
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            where = f" (searched {base_dir} and PYTHONPATH)" if base_dir else ""
            raise SpecError(
                file, [(field, f"cannot import module {module_name!r}{where}")]
            ) from None
        raise UserCodeError(f"importing {module_name}", exc) from exc
    except Exception as exc:  # the user's module raised at import time
        raise UserCodeError(f"importing {module_name}", exc) from exc
    obj: Any = module
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            hint = difflib.get_close_matches(part, names, n=1)
            msg = f"{module_name} has no attribute {part!r}"
            raise SpecError(file, [(field, msg + (f"; did you mean '{hint[0]}'?" if hint else ""))])
        obj = getattr(obj, part)
    if not callable(obj):
        raise SpecError(file, [(field, f"{dotted!r} is not callable")])
    return obj


def check_signature(
    fn: Callable,
    kwargs: dict[str, Any],
    section: str,
    file: str | None,
    *,
    positional: int = 0,
    provided: tuple[str, ...] = (),
) -> None:
    """Keyword arguments must fit `fn`'s signature. `positional` leading parameters and the
    names in `provided` are filled in by nnlearn (the parameters for an optimizer, sizes
    inferred from the data)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # builtins without a signature: let the call decide
    params = list(sig.parameters.values())
    if any(p.kind is p.VAR_KEYWORD for p in params):
        named = set()
    else:
        named = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    problems = []
    if named:
        for key in kwargs:
            if key not in named:
                hint = difflib.get_close_matches(key, sorted(named), n=1)
                msg = f"{_name(fn)} takes no argument {key!r}"
                problems.append(
                    (f"{section}.{key}", msg + (f"; did you mean '{hint[0]}'?" if hint else ""))
                )
    skipped = 0
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if skipped < positional and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            skipped += 1
            continue
        if p.default is p.empty and p.name not in kwargs and p.name not in provided:
            problems.append((f"{section}.{p.name}", f"required by {_name(fn)} but not given"))
    if problems:
        raise SpecError(file, problems)


def call_user(
    fn: Callable,
    what: str,
    args: tuple | list = (),
    kwargs: dict[str, Any] | None = None,
) -> Any:
    """Call the user's `fn(*args, **kwargs)`; what it raises becomes a `UserCodeError` (exit 3)
    naming `what`. The arguments travel as a tuple and a dict, never as keywords of this
    function, so a user's keyword named `fn` or `what` reaches their callable untouched."""
    try:
        return fn(*args, **(kwargs or {}))
    except Exception as exc:
        raise UserCodeError(what, exc) from exc


def _name(fn: Callable) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def essential_traceback(exc: BaseException, limit: int = 8) -> str:
    """The frames that matter to the user: not nnlearn's own, at most `limit`, innermost last."""
    frames = traceback.extract_tb(exc.__traceback__)
    keep = [f for f in frames if not _plumbing(f.filename)]
    if frames and (not keep or keep[-1] is not frames[-1]):
        keep.append(frames[-1])  # where it was raised, even inside a library
    return "".join(traceback.format_list(keep[-limit:])).rstrip()


def _plumbing(filename: str) -> bool:
    """nnlearn's own frames and torch's Module.__call__ wrappers say nothing to the user."""
    return filename.startswith(_NNLEARN_DIR) or filename.endswith(
        os.path.join("torch", "nn", "modules", "module.py")
    )
