"""What both framework callbacks share: the options of the end of training (print, save, gate)
and the fix hints in the framework's words."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Output:
    """Where the report goes once training ends."""

    print_report: bool = True
    quiet: bool = False
    save_dir: str | Path | None = None
    junit: str | Path | None = None
    markdown: str | Path | None = None
    json: str | Path | None = None

    def finish(self, probe, error: BaseException | None = None):
        """Stop the probe (hooks off, diagnosis made), then print and save as asked."""
        probe.stop(error=error)
        if self.save_dir or self.junit or self.markdown or self.json:
            probe.save(
                self.save_dir or Path("runs") / probe.name,
                junit=self.junit,
                markdown=self.markdown,
                json=self.json,
            )
        if self.print_report:
            probe.print_report(quiet=self.quiet)
        return probe.result


class ProbeCallback:
    """The options both callbacks take, and their state before training starts. A subclass sets
    its own extra state in `_init_state` (called here, and by nothing else)."""

    def __init__(
        self,
        name: str | None = None,
        *,
        fail_on: str = "error",
        print_report: bool = True,
        quiet: bool = False,
        save_dir: str | Path | None = None,
        junit: str | Path | None = None,
        markdown: str | Path | None = None,
        json: str | Path | None = None,
        audit: bool = True,
        disable: tuple[str, ...] = (),
        thresholds: dict | None = None,
    ):
        super().__init__()
        self.name, self.fail_on, self.audit = name, fail_on, audit
        self.output = Output(print_report, quiet, save_dir, junit, markdown, json)
        self.disable, self.thresholds = disable, thresholds
        self.probe = None
        self.result = None  # the ProbeResult, once training ends
        self._init_state()

    def _init_state(self) -> None:
        pass


def audit_note(exc: BaseException) -> str:
    """One line for the report when the data audits cannot read a dataset (datasets whose
    items are mappings, `input_ids`/`labels`, are read by the audits only as (x, y) pairs)."""
    cause = exc.__cause__ or exc
    first = (str(cause).strip().splitlines() or [""])[0]
    return f"data audit skipped: the audits could not read the dataset ({type(cause).__name__}: {first})"


def first_number(metrics: Mapping[str, Any], names: tuple[str, ...]) -> float | None:
    """The value of the first of `names` present in `metrics` (a tensor or a number)."""
    for name in names:
        if name in metrics and metrics[name] is not None:
            value = metrics[name]
            try:
                value = float(value.detach().item() if hasattr(value, "detach") else value)
            except (TypeError, ValueError, RuntimeError):
                continue
            return value
    return None


def peak_lr(result) -> float | None:
    lr = result.measurements.fact("run.lr")
    return lr if isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0 else None


def hints(table: dict[str, tuple[str, ...]], finding, result) -> list[str]:
    """The framework's fix texts for a finding: by rule code first, then by cause; `{lr}` is the
    peak learning rate the optimizer had, `{lr_low}` a tenth of it."""
    texts = table.get(finding.rule) or table.get(finding.cause.value) or ()
    lr = peak_lr(result)
    values = {
        "lr": f"{lr:g}" if lr else "the current rate",
        "lr_low": f"{lr / 10:g}" if lr else "a 10x lower one",
    }
    return [t.format(**values) for t in texts]
