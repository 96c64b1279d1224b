"""The rule registry. One rule per module, the module named by the rule's code (`L101.py`).

Modules are discovered and imported lazily, on the first call to `registry()`, so that adding a
rule is adding a file, and `nnlearn --help` imports none of them.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import cache

from nnlearn.rules.base import Cause, Finding, Rule, Severity

__all__ = ["Cause", "Finding", "Rule", "Severity", "registry", "evaluate_rules", "RuleOutcome"]

_CODE = re.compile(r"^[A-Z]\d{3}$")


@cache
def registry() -> dict[str, type[Rule]]:
    rules: dict[str, type[Rule]] = {}
    for info in pkgutil.iter_modules(__path__):
        if not _CODE.match(info.name):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        cls = getattr(module, info.name)
        if cls.code != info.name:
            raise RuntimeError(f"rule module {info.name} defines code {cls.code}")
        rules[cls.code] = cls
    return dict(sorted(rules.items()))


def __getattr__(name: str):
    # the engine needs the metrics table (pandas); the catalogue (`nnlearn rules`) does not
    if name in ("RuleOutcome", "evaluate_rules"):
        from nnlearn.rules import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'nnlearn.rules' has no attribute {name!r}")
