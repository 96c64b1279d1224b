"""What `nnlearn rules` and `nnlearn explain` know about each rule, without importing the rules.

Rule modules import numpy and pandas for their `evaluate` (0.3 s to import, more than the CLI
itself). The catalogue they describe themselves with (code, name, severity, cause, docstring,
thresholds, fixes) is plain data, shipped beside them as `catalogue.json` under a fingerprint of
the rule sources (their names and contents). When a rule is added or edited and the file was
not regenerated, the fingerprint differs and the catalogue is built in memory from the rule
classes: always right, only slower, and nothing is written anywhere (nnlearn writes only where
the user asked). `python -m nnlearn.rules.catalogue` regenerates the file (and the knowledge
index built from it, `nnlearn.knowledge`); a test fails while it is stale, so a release never
ships a stale one.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from nnlearn import __version__

RULES_DIR = Path(__file__).parent
SHIPPED = RULES_DIR / "catalogue.json"


@cache
def fingerprint() -> str:
    """A hash of nnlearn's version and every rule source file's name and contents (about 50
    small files: a millisecond to read)."""
    digest = hashlib.blake2b(__version__.encode(), digest_size=12)
    for path in sorted(RULES_DIR.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@cache
def catalogue() -> dict[str, dict[str, Any]]:
    """Rule code -> its description (see `describe`), sorted by code."""
    try:
        data = json.loads(SHIPPED.read_text(encoding="utf-8"))
        if data.get("fingerprint") == fingerprint():
            return data["rules"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return build()


def write_shipped() -> Path:
    """Regenerate `catalogue.json` from the rule classes (a development step)."""
    data = {"fingerprint": fingerprint(), "rules": build()}
    SHIPPED.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return SHIPPED


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


if __name__ == "__main__":
    print(f"wrote {write_shipped()}")
    from nnlearn import knowledge  # its index holds the rule entries: regenerated with them

    knowledge.entries.cache_clear()
    print(f"wrote {knowledge.write_shipped()}")
