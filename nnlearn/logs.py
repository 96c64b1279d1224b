"""Read an existing training log into `Measurements`, for `nnlearn check` (torch-free).

Accepted: CSV, JSON Lines and Parquet tables (one row per logged step), PyTorch Lightning's
`metrics.csv` (sparse rows: train and validation logged on different lines), Hugging Face
Trainer's `trainer_state.json` (`log_history`), and nnlearn's own `metrics.parquet`/`.csv`.
Column names are matched to nnlearn's quantities by the usual spellings below.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from nnlearn.errors import InputError
from nnlearn.measurements import COLUMNS, Measurements

# nnlearn quantity -> column names seen in the wild, most specific first
ALIASES: dict[str, tuple[str, ...]] = {
    "train_loss": (
        "train_loss",
        "train_loss_step",
        "train/loss",
        "training_loss",
        "loss",
        "train_loss_epoch",
    ),
    "val_loss": (
        "val_loss",
        "eval_loss",
        "valid_loss",
        "validation_loss",
        "val/loss",
        "val_loss_epoch",
    ),
    "val_acc": ("val_acc", "val_accuracy", "eval_accuracy", "eval_acc", "valid_acc", "val/acc"),
    "train_eval_acc": ("train_acc", "train_accuracy", "train_acc_epoch"),
    "grad_norm": ("grad_norm", "gradient_norm", "train/grad_norm"),
}
STEP_COLUMNS = ("step", "global_step", "iteration", "iter", "epoch")


def read_log(path: str | Path) -> tuple[Measurements, dict[str, str]]:
    """-> (measurements, {nnlearn quantity: the column it came from})."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"metrics file not found: {path}")
    records = _read_records(path)
    if isinstance(records, pd.DataFrame):  # nnlearn's own long table
        facts = {"run": _run_facts(records[records["name"] == "train_loss"]["value"])}
        return Measurements(records, facts), {"*": "nnlearn metrics table"}
    return _from_records(records, path)


def _read_records(path: Path) -> list[dict] | pd.DataFrame:
    """Rows as dicts holding only the values that were logged: a NaN that was logged stays (it
    is evidence), an empty cell of a sparse log (Lightning, Hugging Face) is left out."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(path.read_text())
            if isinstance(data, dict) and isinstance(data.get("log_history"), list):
                return data["log_history"]  # Hugging Face trainer_state.json
            if isinstance(data, list) and all(isinstance(r, dict) for r in data):
                return data
            raise InputError(f"{path}: a JSON log must be trainer_state.json or a list of records")
        if suffix in (".jsonl", ".ndjson"):
            lines = path.read_text().splitlines()
            return [json.loads(line) for line in lines if line.strip()]
        if suffix in (".csv", ".tsv", ".txt", ".parquet"):
            if suffix == ".parquet":
                table = pd.read_parquet(path)
            else:
                sep = "\t" if suffix == ".tsv" else ","
                table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
            if set(COLUMNS) <= set(table.columns):
                long = table[list(COLUMNS)].astype({"step": "int64", "value": "float64"})
                return long.reset_index(drop=True)
            return [
                {k: v for k, v in row.items() if v != "" and v is not None and not _null(v, suffix)}
                for row in table.to_dict("records")
            ]
    except InputError:
        raise
    except ImportError as exc:
        raise InputError(f"{path}: reading parquet needs pyarrow ({exc})") from None
    except Exception as exc:
        raise InputError(f"cannot read metrics file {path}: {exc}") from None
    raise InputError(
        f"{path}: unknown log format {suffix!r} (csv, tsv, jsonl, parquet, trainer_state.json)"
    )


def _null(value, suffix: str) -> bool:
    # parquet (through pandas) cannot tell a missing value from a logged NaN: treat as missing
    return suffix == ".parquet" and isinstance(value, float) and value != value


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _from_records(records: list[dict], path: Path) -> tuple[Measurements, dict[str, str]]:
    keys = {str(k).lower(): k for r in records for k in r}
    step_key = next((keys[c] for c in STEP_COLUMNS if c in keys), None)
    rows, used = [], {}
    for name, aliases in ALIASES.items():
        key = next((keys[a] for a in aliases if a in keys), None)
        if key is None:
            continue
        used[name] = str(key)
        for i, record in enumerate(records):
            value = _number(record.get(key))
            step = _number(record.get(step_key)) if step_key is not None else i
            if value is not None and step is not None:
                rows.append(("main", int(step), name, "", value))
    if "train_loss" not in used and "val_loss" not in used:
        known = ", ".join(a for aliases in ALIASES.values() for a in aliases[:2])
        raise InputError(
            f"{path}: no loss column found (looked for {known}, ...); columns: "
            f"{', '.join(map(str, list(keys.values())[:15]))}"
        )
    metrics = pd.DataFrame(rows, columns=COLUMNS)
    metrics = metrics.drop_duplicates(["name", "step"], keep="last")
    metrics = metrics.sort_values(["name", "step"], kind="stable").reset_index(drop=True)
    if step_key is not None:
        used["step"] = str(step_key)
    facts = {"run": _run_facts(metrics[metrics["name"] == "train_loss"]["value"])}
    return Measurements(metrics, facts), used


def _run_facts(train_loss: pd.Series) -> dict:
    values = train_loss.to_numpy(float)
    bad = np.flatnonzero(~np.isfinite(values))
    return {
        "steps_done": int(len(values)),
        "stopped": "nonfinite" if bad.size else "completed",
        "source": "log",
    }
