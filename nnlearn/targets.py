"""The user's code, named Hydra-style by `_target_`: import, signature check, call.

Importing and calling run the user's code exactly as their own training script would; the spec
itself never builds arbitrary objects. A target that cannot be found is a spec error (exit 2);
user code that raises is a `UserCodeError` (exit 3) carrying the essential traceback.

Hydra semantics (SPEC section 2): a section's `_args_` (positional arguments), nested
`_target_` blocks (built first, passed in), `_recursive_` and `_convert_` mean what they mean
to `hydra.utils.instantiate`, which builds them; a top-level `_partial_: true` (the
lightning-hydra-template's optimizer, still waiting for its parameters) is satisfied by the
arguments nnlearn supplies (the parameters). `check_signature` checks nested blocks too, so
`nnlearn validate` catches what the probe would hit. Hydra is imported only for a section
that uses these keys.
"""

from __future__ import annotations

import contextlib
import contextvars
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

HYDRA_KEYS = ("_partial_", "_args_", "_recursive_", "_convert_")
CONVERT_MODES = ("none", "partial", "object", "all")


# the folder of the spec whose targets were imported last in this context (thread, task):
# Hydra imports nested `_target_` blocks itself (while building them, or while `validate`
# checks them), from the same folder
_SPEC_FOLDER: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "nnlearn_spec_folder", default=None
)


def import_target(dotted: str, field: str, file: str | None, base_dir: Path | None) -> Callable:
    """`pkg.mod.fn` or `pkg.mod:fn` -> the callable. Without `base_dir` (a nested block), the
    folder of the spec being loaded."""
    if base_dir is not None:
        _SPEC_FOLDER.set(base_dir)
    else:
        base_dir = _SPEC_FOLDER.get()
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
            hint = difflib.get_close_matches(part, names, n=1) or [
                n for n in names if n.lower() == part.lower()
            ]
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
    partial: bool = False,
) -> None:
    """Keyword arguments must fit `fn`'s signature. `positional` leading parameters and the
    names in `provided` are filled in by nnlearn (the parameters for an optimizer, sizes
    inferred from the data). Hydra's keys are checked for their own types, `_args_` count as
    positional arguments, nested `_target_` blocks are imported and checked the same way (a
    `_partial_` one may leave required arguments for later)."""
    args = _hydra_keys(kwargs, section, file)
    plain = {k: v for k, v in kwargs.items() if k not in HYDRA_KEYS}
    problems = []
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        sig = None  # builtins without a signature: let the call decide
    if sig is not None:
        problems += _parameter_problems(
            fn, sig, plain, section, positional + len(args), provided, partial
        )
    if kwargs.get("_recursive_", True):
        for key, value in plain.items():
            problems += _nested_problems(value, f"{section}.{key}", file)
        for i, value in enumerate(args):
            problems += _nested_problems(value, f"{section}._args_[{i}]", file)
    if problems:
        raise SpecError(file, problems)


def _parameter_problems(fn, sig, kwargs, section, positional, provided, partial) -> list:
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
    if partial:  # the rest comes later, when the partial is called
        return problems
    skipped = 0
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if skipped < positional and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            skipped += 1
            continue
        if p.default is p.empty and p.name not in kwargs and p.name not in provided:
            problems.append((f"{section}.{p.name}", f"required by {_name(fn)} but not given"))
    return problems


def _hydra_keys(kwargs: dict[str, Any], section: str, file: str | None) -> list:
    """Hydra's own keys must have Hydra's types; -> the `_args_` list."""
    problems = []
    args = kwargs.get("_args_", [])
    if not isinstance(args, list):
        problems.append(
            (f"{section}._args_", f"must be a list of positional arguments (got {args!r})")
        )
        args = []
    for key in ("_partial_", "_recursive_"):
        if key in kwargs and not isinstance(kwargs[key], bool):
            problems.append((f"{section}.{key}", f"must be true or false (got {kwargs[key]!r})"))
    convert = kwargs.get("_convert_", "none")
    if str(convert).lower() not in CONVERT_MODES:
        problems.append(
            (f"{section}._convert_", f"{convert!r} is not one of {', '.join(CONVERT_MODES)}")
        )
    if problems:
        raise SpecError(file, problems)
    return args


def _nested_problems(value: Any, field: str, file: str | None) -> list:
    """Nested `_target_` blocks anywhere inside a value: importable, callable, their keyword
    arguments fitting their signatures (recursively)."""
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _nested_problems(v, f"{field}[{i}]", file)]
    if not isinstance(value, dict):
        return []
    if "_target_" not in value:
        return [p for k, v in value.items() for p in _nested_problems(v, f"{field}.{k}", file)]
    target = value["_target_"]
    if not isinstance(target, str):
        return [(f"{field}._target_", f"must be a module.path.callable string (got {target!r})")]
    try:
        fn = import_target(target, f"{field}._target_", file, None)
        kwargs = {k: v for k, v in value.items() if k != "_target_"}
        check_signature(fn, kwargs, field, file, partial=kwargs.get("_partial_") is True)
    except SpecError as exc:
        return list(exc.problems)
    return []


def uses_hydra(kwargs: dict[str, Any]) -> bool:
    """Whether a call needs `hydra.utils.instantiate`: Hydra keys or a nested `_target_`."""
    return any(k in HYDRA_KEYS for k in kwargs) or any(_has_target(v) for v in kwargs.values())


def _has_target(value: Any) -> bool:
    if isinstance(value, dict):
        return "_target_" in value or any(_has_target(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_target(v) for v in value)
    return False


_ARGS_SLOT = "__nnlearn_positional__"  # carries `_args_` through the build below


def instantiate_call(fn: Callable, args: tuple, kwargs: dict[str, Any]) -> Any:
    """`fn(*args, **kwargs)` with the arguments `hydra.utils.instantiate` would pass: nested
    `_target_` blocks built first (unless `_recursive_: false`), `_args_` after nnlearn's own
    positional arguments, `_convert_` applied. Hydra itself builds them (as the keyword
    arguments of `builtins.dict`, so that `fn` need not be importable by name: a local class
    or a `module:callable` target works). A top-level `_partial_` is dropped: nnlearn calls
    the target now with what the partial was waiting for (an optimizer's parameters)."""
    if not uses_hydra(kwargs):
        return fn(*args, **kwargs)
    from hydra.utils import instantiate

    config = {k: v for k, v in kwargs.items() if k != "_partial_"}
    config[_ARGS_SLOT] = config.pop("_args_", [])
    with spec_folder_on_path(_SPEC_FOLDER.get()):  # nested targets from the spec's folder
        built = dict(instantiate({"_target_": "builtins.dict", **config}))
    extra = list(built.pop(_ARGS_SLOT, []) or [])
    return fn(*args, *extra, **built)


def call_user(
    fn: Callable,
    what: str,
    args: tuple | list = (),
    kwargs: dict[str, Any] | None = None,
) -> Any:
    """Call the user's `fn(*args, **kwargs)`; what it raises becomes a `UserCodeError` (exit 3)
    naming `what`. The arguments travel as a tuple and a dict, never as keywords of this
    function, so a user's keyword named `fn` or `what` reaches their callable untouched.
    Hydra's keys and nested `_target_` blocks among them are built as `instantiate` would."""
    try:
        return instantiate_call(fn, tuple(args), kwargs or {})
    except Exception as exc:
        # Hydra wraps the user's exception; the user's own frames are in the original
        cause = exc.__cause__ if type(exc).__name__ == "InstantiationException" else None
        raise UserCodeError(what, cause or exc) from exc


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
    """nnlearn's own frames, the import machinery's and the installed libraries' (torch's
    Module.__call__ wrappers) say nothing to the user; where it was raised is kept anyway."""
    from nnlearn.errors import is_user_frame

    return not is_user_frame(filename)
