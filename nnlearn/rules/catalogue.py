"""What `nnlearn rules` and `nnlearn explain` know about each rule, without importing the rules.

Rule modules import numpy and pandas for their `evaluate` (0.3 s to import, more than the CLI
itself). The catalogue they describe themselves with (code, name, severity, cause, docstring,
thresholds, fixes) is plain data: built once by importing the registry, it is kept as JSON in
the user's cache folder under a fingerprint of the rule sources (name, size and
modification time of every file of `nnlearn/rules/`, so adding or editing a rule rebuilds it on
first use; a checkout, a merge or an upgrade never reads a stale one). Without a writable cache folder it is built each time.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from nnlearn import __version__

RULES_DIR = Path(__file__).parent


def fingerprint() -> str:
    """A hash of nnlearn's version and every rule source file's name, size and modification
    time (as Python's own bytecode cache checks its sources: no file is read)."""
    digest = hashlib.blake2b(__version__.encode(), digest_size=12)
    with os.scandir(RULES_DIR) as found:
        for item in sorted(found, key=lambda e: e.name):
            if item.name.endswith(".py"):
                st = item.stat()
                digest.update(f"{item.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return digest.hexdigest()


def cache_dir() -> Path:
    """`$NNLEARN_CACHE_DIR`, else `$XDG_CACHE_HOME/nnlearn`, else `~/.cache/nnlearn`."""
    if os.environ.get("NNLEARN_CACHE_DIR"):
        return Path(os.environ["NNLEARN_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nnlearn"


@cache
def catalogue() -> dict[str, dict[str, Any]]:
    """Rule code -> its description (see `describe`), sorted by code."""
    key = fingerprint()
    path = cache_dir() / f"rules-{key}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("fingerprint") == key:
            return data["rules"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    rules = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"fingerprint": key, "rules": rules}), encoding="utf-8")
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the new one
    except OSError:
        pass  # read-only home: correct, only slower
    return rules


def build() -> dict[str, dict[str, Any]]:
    """The catalogue from the rule classes themselves (imports every rule module)."""
    from nnlearn.rules import registry

    # through JSON, so that a built catalogue and a cached one are the same data
    return json.loads(json.dumps({code: describe(cls) for code, cls in registry().items()}))


def describe(cls) -> dict[str, Any]:
    from nnlearn.rules.base import _jsonable

    params = cls.parameters()
    return {
        "rule": cls.code,
        "name": cls.name,
        "severity": cls.severity.value,
        "cause": cls.cause.value,
        "summary": cls.summary(),
        "doc": cls.__doc__ or "",
        "thresholds": _jsonable(params),
        "threshold_lines": [f"{k} = {v!r}" for k, v in params.items()],
        "requires": list(cls.requires),
        "fixes": list(cls.fixes),
    }
