"""The run folder: metrics table, resolved spec, findings JSON; and the safety of every path
nnlearn writes: run folders are created atomically under a sanitised name, a folder nnlearn did
not create is not written into without `--force`, and every output path is checked before
anything trains."""

from __future__ import annotations

import os
import re
import stat
import tempfile
import time
from pathlib import Path

import yaml

from nnlearn.errors import OutputError

# the file that marks a folder as one of nnlearn's run folders: `--out` may reuse those
MARKER = ".nnlearn-run"
MAX_NAME = 80  # characters of the spec's name kept in a run folder's name
RUNS = Path("runs")
_created: set[Path] = set()  # run folders this process made (only those are ever removed)


def safe_name(name: str) -> str:
    """A spec name as one path component: letters, digits, `.`, `_` and `-` only (no
    separators, `..`, control characters or NUL), no leading dot, at most MAX_NAME long."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name)
    cleaned = re.sub(r"\.{2,}", ".", cleaned).strip(".-_")
    return cleaned[:MAX_NAME].rstrip(".-_") or "probe"


def create_run_dir(name: str, parent: Path = RUNS, stamp: str | None = None) -> Path:
    """A new folder `parent/<name>-<time>`, created atomically (os.mkdir fails when the name
    is taken, so two probes started in the same second get `-2`, `-3`... and never share)."""
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the run folder's parent {parent}: {exc}") from None
    base = f"{safe_name(name)}-{stamp}"
    for i in range(1, 10_000):
        path = parent / (base if i == 1 else f"{base}-{i}")
        try:
            os.mkdir(path)
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(f"cannot create the run folder {path}: {exc}") from None
        _created.add(path)
        _mark(path)
        return path
    raise OutputError(f"cannot create a run folder under {parent}: 10,000 names taken")


def prepare_out_dir(out: Path, force: bool = False) -> Path:
    """`--out DIR`: created if missing; an existing folder is used when it is empty or one of
    nnlearn's run folders (it has the marker); any other folder holds the user's files and is
    refused unless `force` (exit 2), so that spec.yaml or report.md there are never
    overwritten by surprise."""
    try:
        info = out.stat()
    except FileNotFoundError:
        try:
            out.mkdir(parents=True)
        except OSError as exc:
            raise OutputError(f"--out {out}: cannot create the folder: {exc}") from None
        _created.add(out)
        _mark(out)
        return out
    except OSError as exc:
        raise OutputError(f"--out {out}: {exc}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise OutputError(f"--out {out}: exists and is not a folder")
    try:
        entries = sorted(p.name for p in out.iterdir())
    except OSError as exc:
        raise OutputError(f"--out {out}: cannot read the folder: {exc}") from None
    if entries and MARKER not in entries and not force:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise OutputError(
            f"--out {out}: the folder holds files nnlearn did not write ({shown}); the run "
            "would overwrite spec.yaml, report.md and others there. Give an empty or new "
            "folder, or add --force to write into it anyway"
        )
    if not os.access(out, os.W_OK):
        raise OutputError(f"--out {out}: the folder is not writable")
    _mark(out)
    return out


def discard_if_unused(folder: Path | None) -> None:
    """Remove a run folder that holds nothing but the marker (the spec or the data was
    refused before anything ran), so that refused runs leave no empty folders behind."""
    if folder is None or folder not in _created:
        return
    try:
        if [p.name for p in folder.iterdir()] == [MARKER]:
            (folder / MARKER).unlink()
            folder.rmdir()
    except OSError:
        pass


def _mark(folder: Path) -> None:
    try:
        (folder / MARKER).write_text("a run folder of nnlearn; `--out` may write here again\n")
    except OSError as exc:
        raise OutputError(f"cannot write in the run folder {folder}: {exc}") from None


def check_output_path(path: Path, option: str) -> None:
    """Before anything trains: `path` can be written as a file. A folder, a path under /proc
    or another read-only place, a missing parent that cannot be created are exit 2 now, not
    a traceback after the training. Character devices and pipes (/dev/stdout) are allowed."""
    try:
        info = path.stat()
    except FileNotFoundError:
        info = None
    except (OSError, ValueError) as exc:
        raise OutputError(f"{option} {path}: {exc}") from None
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise OutputError(f"{option} {path}: is a folder; give a file name")
        if stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode):
            return
        if not stat.S_ISREG(info.st_mode):
            raise OutputError(f"{option} {path}: is not a regular file")
        try:
            with open(path, "a"):
                pass
        except OSError as exc:
            raise OutputError(f"{option} {path}: cannot be written ({exc.strerror})") from None
        return
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"{option} {path}: {ancestor} is not a folder")
    try:  # access() says yes to root everywhere; creating a file is the real test
        with tempfile.TemporaryFile(dir=ancestor):
            pass
    except OSError as exc:
        raise OutputError(
            f"{option} {path}: cannot create files in {ancestor} ({exc.strerror})"
        ) from None


def write_run_folder(result, out_dir: Path) -> None:
    try:
        _write_run_folder(result, out_dir)
    except OSError as exc:
        raise OutputError(f"cannot write the run folder {out_dir}: {exc}") from None


def _write_run_folder(result, out_dir: Path) -> None:
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
        write_text(Path(result.artifacts["findings"]), dumps(data) + "\n")


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
    `--markdown` and `--junit` files, findings.json. Returns the JSON report and the Markdown.
    A file that cannot be written is an OutputError naming it."""
    try:
        return _write_reports(
            result,
            fail_on,
            exit_code,
            markdown_path=markdown_path,
            junit_path=junit_path,
            plots=plots,
        )
    except OSError as exc:
        raise OutputError(f"cannot write the reports: {exc}") from None


def _write_reports(
    result,
    fail_on: str,
    exit_code: int,
    *,
    markdown_path: Path | None = None,
    junit_path: Path | None = None,
    plots: bool = True,
) -> tuple[dict, str]:
    from nnlearn.report.json_report import report_dict
    from nnlearn.report.markdown import render_markdown

    made: dict[str, str] = {}
    if plots and result.run_dir:
        from nnlearn.report.plots import write_plots

        made = write_plots(result.measurements, result.run_dir, result.findings)
        result.artifacts.update({f"plot_{k}": v for k, v in made.items()})
    if result.run_dir:
        result.artifacts["report"] = str(result.run_dir / "report.md")
    if markdown_path:
        result.artifacts["markdown"] = str(markdown_path)
    if junit_path:
        result.artifacts["junit"] = str(junit_path)
    if result.run_dir:
        text = render_markdown(result, fail_on, exit_code, plots=made, at=result.run_dir)
        write_text(Path(result.artifacts["report"]), text)
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
    write_text(path, text)


def write_text(path: Path, text: str, option: str | None = None) -> None:
    """Write a report file; a failure (disk full, a path gone read-only) is an OutputError
    naming the file, not a traceback."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as exc:
        what = f"{option} {path}" if option else str(path)
        raise OutputError(f"cannot write {what}: {exc.strerror or exc}") from None
