"""The findings JSON of SPEC.md section 3."""

from __future__ import annotations

import json
import math
from typing import Any

from nnlearn import __version__
from nnlearn.rules.base import _jsonable


def report_dict(result, fail_on: str, exit_code: int) -> dict[str, Any]:
    from nnlearn.report.summary import counts

    m = result.measurements
    return {
        "nnlearn": __version__,
        "spec": result.spec_path,
        "name": result.name,
        "verdict": result.verdict,
        "fail_on": fail_on,
        "exit_code": exit_code,
        "device": result.device,
        "seed": result.seed,
        "duration_s": round(result.duration_s, 2),
        "summary": counts(result.findings),
        "findings": [f.to_dict() for f in result.findings],
        "experiments": _jsonable(result.experiments),
        "run": _jsonable(run_summary(m)),
        "rules": rule_statuses(result.outcomes),
        "notes": list(result.notes),
        "artifacts": dict(result.artifacts),
    }


def rule_statuses(outcomes) -> list[dict[str, str]]:
    """What each rule did (the JSON `rules` list of `probe` and `check`)."""
    return [
        {"rule": o.code, "name": o.name, "status": o.status, "reason": o.reason} for o in outcomes
    ]


def run_summary(m) -> dict[str, Any]:
    """Final train/val metrics and how the main run went."""
    out: dict[str, Any] = dict(m.fact("run", {}) or {})
    loss = m.series("train_loss")
    if len(loss):
        out["first_train_loss"] = float(loss.iloc[0])
        tail = loss.iloc[-max(1, min(20, len(loss) // 10)) :]
        out["final_train_loss"] = float(tail.mean())
    for name in ("val_loss", "val_acc", "train_eval_loss", "train_eval_acc"):
        s = m.series(name)
        if len(s):
            out[f"final_{name}"] = float(s.iloc[-1])
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, allow_nan=False, default=str)
