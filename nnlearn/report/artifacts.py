"""The run folder: metrics table, resolved spec, findings JSON."""

from __future__ import annotations

from pathlib import Path

import yaml


def write_run_folder(result, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    result.run_dir = out_dir
    metrics = result.measurements.metrics
    try:
        import pyarrow  # noqa: F401

        path = out_dir / "metrics.parquet"
        metrics.to_parquet(path, index=False)
    except ImportError:
        path = out_dir / "metrics.csv"
        metrics.to_csv(path, index=False)
    result.artifacts["metrics"] = str(path)
    spec_path = out_dir / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(result.spec.to_mapping(), sort_keys=False))
    result.artifacts["spec"] = str(spec_path)
    result.artifacts["findings"] = str(out_dir / "findings.json")


def write_findings(data: dict, result) -> None:
    from nnlearn.report.json_report import dumps

    if "findings" in result.artifacts:
        Path(result.artifacts["findings"]).write_text(dumps(data) + "\n")
