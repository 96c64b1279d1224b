"""TensorBoard export: the measured series as event files, the findings as text (torch-free).

Needs the optional `tensorboard` extra (`pip install "nnlearn[tensorboard]"`). The events are
written with tensorboard's own `EventFileWriter` and summary protos, the same records
`torch.utils.tensorboard.SummaryWriter` writes, so the export needs no torch and works for
`nnlearn check` as well as for a probe.

Tags: a main-run quantity keeps its name (`train_loss`, `val_loss`, `val_acc`, `grad_norm`);
a per-layer one is `name/layer` (`layer_grad_norm/net.0`, `update_ratio/net.2`, `dead_frac/net.2`),
so TensorBoard groups the layers of one quantity in one section; another run's series is
prefixed by the run (`lr_range/smoothed_loss`, `overfit_batch/train_loss`). The verdict and the
findings (message, evidence, fixes) are text summaries `nnlearn/verdict` and `nnlearn/findings`.
A NaN that was measured is written as NaN: it is evidence.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from nnlearn.errors import InputError


def write_tensorboard(result: Any, directory: str | Path) -> Path:
    """Write a `ProbeResult` (or anything with `measurements`, `findings`, `verdict`) to one
    new event file in `directory`; returns the file's path."""
    name = getattr(getattr(result, "spec", None), "name", None) or "nnlearn"
    return write_events(result.measurements, result.findings, result.verdict, directory, name)


def write_events(measurements, findings, verdict: str, directory: str | Path, name: str) -> Path:
    writer_cls, event_pb2, summary_pb2 = _tensorboard()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    writer = writer_cls(str(directory), filename_suffix=".nnlearn")
    now = time.time()
    try:
        for tag, steps, values in series(measurements.metrics):
            for step, value in zip(steps, values):
                summary = summary_pb2.Summary(
                    value=[summary_pb2.Summary.Value(tag=tag, simple_value=float(value))]
                )
                writer.add_event(event_pb2.Event(wall_time=now, step=int(step), summary=summary))
        for tag, text in (
            ("nnlearn/verdict", verdict_text(name, verdict, findings)),
            ("nnlearn/findings", findings_text(findings)),
        ):
            writer.add_event(event_pb2.Event(wall_time=now, step=0, summary=_text(tag, text)))
        path = Path(writer._file_name)
    finally:
        writer.close()
    return path


def series(metrics) -> list[tuple[str, list[int], list[float]]]:
    """(tag, steps, values) for each (run, name, layer) of the long metrics table, in the order
    first recorded, each sorted by step."""
    if metrics is None or len(metrics) == 0:
        return []
    out = []
    groups = metrics.groupby(["run", "name", "layer"], sort=False, dropna=False)
    for (run, name, layer), rows in groups:
        rows = rows.sort_values("step", kind="stable")
        parts = (
            ([] if run == "main" else [str(run)]) + [str(name)] + ([str(layer)] if layer else [])
        )
        out.append(("/".join(parts), rows["step"].tolist(), rows["value"].astype(float).tolist()))
    return out


def verdict_text(name: str, verdict: str, findings) -> str:
    from nnlearn.report.summary import counts_text

    return f"**{verdict.upper()}** {name}: {counts_text(findings)}"


def findings_text(findings) -> str:
    """Markdown: one item per finding with its evidence and fixes (TensorBoard renders it)."""
    from nnlearn.report.summary import evidence_text

    if not findings:
        return "no findings"
    lines = []
    for f in findings:
        head = f"- **{f.severity.value.upper()} {f.rule} {f.name}** ({f.cause.value}): {f.message}"
        lines.append(head)
        if f.explained_by:
            lines.append(f"  - explained by {f.explained_by}")
        if f.evidence:
            lines.append(f"  - evidence: {evidence_text(f.evidence)}")
        lines += [f"  - fix: {fix}" for fix in f.fixes]
    return "\n".join(lines)


def _text(tag: str, text: str):
    """A text-plugin summary, as `torch.utils.tensorboard.summary.text` builds it."""
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.compat.proto.tensor_pb2 import TensorProto
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
    from tensorboard.plugins.text.plugin_data_pb2 import TextPluginData

    plugin = summary_pb2.SummaryMetadata.PluginData(
        plugin_name="text", content=TextPluginData(version=0).SerializeToString()
    )
    tensor = TensorProto(
        dtype="DT_STRING",
        string_val=[text.encode("utf-8")],
        tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]),
    )
    value = summary_pb2.Summary.Value(
        tag=tag, metadata=summary_pb2.SummaryMetadata(plugin_data=plugin), tensor=tensor
    )
    return summary_pb2.Summary(value=[value])


def require_tensorboard() -> None:
    """An `InputError` (exit 2) naming the extra when tensorboard is not installed."""
    _tensorboard()


def _tensorboard():
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError as exc:
        raise InputError(
            f"--tensorboard needs the tensorboard package ({exc}); "
            'install it with: pip install "nnlearn[tensorboard]"'
        ) from None
    return EventFileWriter, event_pb2, summary_pb2
