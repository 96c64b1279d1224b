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
    if result.spec is not None:  # None: the user's own loop (nnlearn.Probe), no spec
        spec_path = out_dir / "spec.yaml"
        spec_path.write_text(yaml.safe_dump(result.spec.to_mapping(), sort_keys=False))
        result.artifacts["spec"] = str(spec_path)
    result.artifacts["findings"] = str(out_dir / "findings.json")


def write_findings(data: dict, result) -> None:
    from nnlearn.report.json_report import dumps

    if "findings" in result.artifacts:
        Path(result.artifacts["findings"]).write_text(dumps(data) + "\n")


def write_reports(
    result,
    fail_on: str,
    exit_code: int,
    *,
    markdown_path: Path | None = None,
    junit_path: Path | None = None,
    plots: bool = True,
) -> tuple[dict, str]:
    """Everything after the diagnosis: PNG plots and report.md in the run folder, the
    `--markdown` and `--junit` files, findings.json. Returns the JSON report and the Markdown."""
    from nnlearn.report.json_report import report_dict
    from nnlearn.report.markdown import render_markdown

    made: dict[str, str] = {}
    if plots and result.run_dir:
        from nnlearn.report.plots import write_plots

        made = write_plots(result.measurements, result.run_dir)
        result.artifacts.update({f"plot_{k}": v for k, v in made.items()})
    if result.run_dir:
        result.artifacts["report"] = str(result.run_dir / "report.md")
    if markdown_path:
        result.artifacts["markdown"] = str(markdown_path)
    if junit_path:
        result.artifacts["junit"] = str(junit_path)
    if result.run_dir:
        text = render_markdown(result, fail_on, exit_code, plots=made, at=result.run_dir)
        Path(result.artifacts["report"]).write_text(text)
    if markdown_path:
        text = render_markdown(result, fail_on, exit_code, plots=made, at=markdown_path.parent)
        _write(markdown_path, text)
    if junit_path:
        from nnlearn.report.junit import junit_xml

        _write(junit_path, junit_xml(result, fail_on))
    data = report_dict(result, fail_on, exit_code)
    write_findings(data, result)
    # the self-contained copy: no images (for stdout and GitHub's step summary)
    return data, render_markdown(result, fail_on, exit_code)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
