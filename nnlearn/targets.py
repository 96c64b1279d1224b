"""The user's code, named Hydra-style by `_target_`: import, signature check, call.

Importing and calling run the user's code exactly as their own training script would; the spec
itself never builds arbitrary objects. A target that cannot be found is a spec error (exit 2);
user code that raises is a `UserCodeError` (exit 3) carrying the essential traceback.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from nnlearn.errors import SpecError, UserCodeError

_NNLEARN_DIR = os.path.dirname(os.path.abspath(__file__))


def import_target(dotted: str, field: str, file: str | None, base_dir: Path | None) -> Callable:
    """`pkg.mod.fn` or `pkg.mod:fn` -> the callable."""
    with spec_folder_on_path(base_dir):
        return _import_target(dotted, field, file, base_dir)


# the user's modules imported from a spec folder: folder -> name -> module, kept out of
# sys.modules between imports of that folder's targets, so that a spec folder's `datasets.py`
# never passes for Hugging Face's `datasets` (installed or not) when a library later looks for
# it, and two spec folders' `models.py` stay two modules
_SET_ASIDE: dict[str, dict[str, ModuleType]] = {}


@contextlib.contextmanager
def spec_folder_on_path(base_dir: Path | None):
    """The spec's folder first on sys.path for the import of the user's modules only (unless
    it is on sys.path already, PYTHONPATH say: then nothing changes). What is imported from it
    is set aside afterwards (the callables keep their modules alive) and put back in
    sys.modules for the next import from the same folder, so a second target of the same file
    reuses its module instead of running it again."""
    folder = str(base_dir) if base_dir is not None else None
    if folder is None or folder in sys.path:
        yield
        return
    sys.path.insert(0, folder)
    mine = _SET_ASIDE.setdefault(folder, {})
    displaced = {name: sys.modules.get(name) for name in mine}
    sys.modules.update(mine)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)
        for name, previous in displaced.items():
            mine[name] = sys.modules.pop(name, mine[name])
            if previous is not None:
                sys.modules[name] = previous
        for name in [n for n, m in list(sys.modules.items()) if _inside(m, folder)]:
            mine[name] = sys.modules.pop(name)


def _inside(module: ModuleType | None, folder: str) -> bool:
    return _inside_path(getattr(module, "__file__", None), folder)


def _inside_path(path: str | None, folder: str) -> bool:
    if not path:
        return False
    return os.path.abspath(path).startswith(os.path.abspath(folder) + os.sep)


def _import_target(dotted: str, field: str, file: str | None, base_dir: Path | None) -> Callable:
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
