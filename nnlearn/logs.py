"""Read an existing training log into `Measurements`, for `nnlearn check` (torch-free).

Accepted: CSV, JSON Lines and Parquet tables (one row per logged step), PyTorch Lightning's
`metrics.csv` (sparse rows: train and validation logged on different lines), Hugging Face
Trainer's `trainer_state.json` (`log_history`), and nnlearn's own `metrics.parquet`/`.csv`.
Column names are matched to nnlearn's quantities by the usual spellings below, or by the user's
`--map COLUMN=quantity`.

How a log is read (each point is what a reader of the curves would do by hand):
- Where two columns could be the training loss, the per-step one wins over a run summary: the
  column with the most logged values (Hugging Face's final `train_loss` row, a run average, is
  one value; its per-step `loss` rows are the curve). Hugging Face's summary row (the one with
  `train_runtime`) is dropped.
- Lightning's `X_step` / `X_epoch` pairs: the step column is the curve, the epoch column is the
  training reference the validation loss is compared with (`train_loss_epoch` ->
  `train_eval_loss`). A log with a per-step training loss and a validation loss but no epoch
  loss gets the same reference the way Lightning computes it: the mean of the training losses
  logged since the previous evaluation.
- Steps come from the step column: a run logged every 50 steps for 1000 steps did 1000 steps,
  not 20.
- The chance-level loss, when the log tells it (`--classes K`, the `num_classes` a Lightning
  module saved in the `hparams.yaml` beside `metrics.csv`, or the `config.json` of the Hugging
  Face model beside `trainer_state.json` or in its checkpoints), becomes
  `init.chance_loss`: a loss already blown up at the first logged row is judged against it.
"""

from __future__ import annotations

import json
import math
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


QUANTITIES = (*ALIASES, "train_eval_loss")


def read_log(
    path: str | Path,
    mapping: dict[str, str] | None = None,
    classes: int | None = None,
) -> tuple[Measurements, dict[str, str]]:
    """-> (measurements, {nnlearn quantity: the column it came from}).

    `mapping`: {column: nnlearn quantity} chosen by the user, over the usual spellings.
    `classes`: the number of classes of a classifier, for the chance-level loss ln(classes).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"metrics file not found: {path}")
    for column, quantity in (mapping or {}).items():
        if quantity not in QUANTITIES and quantity != "step":
            raise InputError(
                f"--map {column}={quantity}: unknown quantity {quantity!r} "
                f"(known: step, {', '.join(QUANTITIES)})"
            )
    records = _read_records(path)
    if isinstance(records, pd.DataFrame):  # nnlearn's own long table
        facts = {"run": _run_facts(records[records["name"] == "train_loss"])}
        m, used = Measurements(records, facts), {"*": "nnlearn metrics table"}
    else:
        m, used = _from_records(records, path, mapping or {})
        if _is_trainer_state(path) and m.fact("run.steps_done"):
            # Hugging Face counts steps done (global_step 60 after 60 steps), not from 0
            m.facts["run"]["steps_done"] -= 1
    chance, source = _chance_loss(path, classes)
    if chance is not None and m.fact("init.chance_loss") is None:
        m.facts.setdefault("init", {})["chance_loss"] = chance
        m.facts["run"]["chance_source"] = source
    return m, used


def _read_records(path: Path) -> list[dict] | pd.DataFrame:
    """Rows as dicts holding only the values that were logged: a NaN that was logged stays (it
    is evidence), an empty cell of a sparse log (Lightning, Hugging Face) is left out."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(path.read_text())
            if isinstance(data, dict) and isinstance(data.get("log_history"), list):
                # Hugging Face trainer_state.json; the last row is the run summary
                # (train_runtime, the run-average train_loss), not a step
                return [r for r in data["log_history"] if "train_runtime" not in r]
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


def _is_trainer_state(path: Path) -> bool:
    if path.suffix.lower() != ".json":
        return False
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "log_history" in data


def _null(value, suffix: str) -> bool:
    # parquet (through pandas) cannot tell a missing value from a logged NaN: treat as missing
    return suffix == ".parquet" and isinstance(value, float) and value != value


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _from_records(
    records: list[dict], path: Path, mapping: dict[str, str]
) -> tuple[Measurements, dict[str, str]]:
    keys = {str(k).lower(): k for r in records for k in r}
    chosen = {q: c for c, q in mapping.items()}  # quantity -> column, the user's choice
    for column in mapping:
        if column.lower() not in keys:
            raise InputError(
                f"--map {column}={mapping[column]}: {path} has no column {column!r}; columns: "
                f"{', '.join(map(str, list(keys.values())[:15]))}"
            )
    step_key = keys[chosen["step"].lower()] if "step" in chosen else None
    if step_key is None:
        step_key = next((keys[c] for c in STEP_COLUMNS if c in keys), None)
    counts = {k: sum(_number(r.get(k)) is not None for r in records) for k in keys.values()}
    taken = {step_key}
    used: dict[str, str] = {}
    for name, aliases in ALIASES.items():
        if name in chosen:
            key = keys[chosen[name].lower()]
        else:
            present = [keys[a] for a in aliases if a in keys and keys[a] not in taken]
            # the per-step curve over a summary: most logged values, then the usual spelling
            key = max(present, key=lambda k: counts[k], default=None)
        if key is not None and counts.get(key):
            used[name] = str(key)
            taken.add(key)
    reference = chosen.get("train_eval_loss")
    if reference is None:
        reference = _epoch_twin(used.get("train_loss"), keys, taken)
    if reference is not None:
        used["train_eval_loss"] = str(keys[reference.lower()])
    if "train_loss" not in used and "val_loss" not in used:
        known = ", ".join(a for aliases in ALIASES.values() for a in aliases[:2])
        raise InputError(
            f"{path}: no loss column found (looked for {known}, ...); columns: "
            f"{', '.join(map(str, list(keys.values())[:15]))}; name yours with --map COLUMN=train_loss"
        )
    rows = []
    for name, key in used.items():
        for i, record in enumerate(records):
            value = _number(record.get(key))
            step = _number(record.get(step_key)) if step_key is not None else i
            if value is not None and step is not None:
                rows.append(("main", int(step), name, "", value))
    metrics = pd.DataFrame(rows, columns=COLUMNS)
    metrics = metrics.drop_duplicates(["name", "step"], keep="last")
    if "train_eval_loss" not in used and "train_loss" in used and "val_loss" in used:
        metrics = pd.concat([metrics, _interval_means(metrics)], ignore_index=True)
        used["train_eval_loss"] = f"mean of {used['train_loss']} since the previous evaluation"
    metrics = metrics.sort_values(["name", "step"], kind="stable").reset_index(drop=True)
    if step_key is not None:
        used["step"] = str(step_key)
    facts = {"run": _run_facts(metrics[metrics["name"] == "train_loss"])}
    return Measurements(metrics, facts), used


def _epoch_twin(train_column: str | None, keys: dict[str, str], taken: set) -> str | None:
    """Lightning's `train_loss_epoch` beside the `train_loss_step` curve (any `X_step` /
    `X_epoch` pair): the per-epoch mean of the training loss."""
    if not train_column or not train_column.lower().endswith("_step"):
        return None
    twin = train_column.lower()[: -len("_step")] + "_epoch"
    return twin if twin in keys and keys[twin] not in taken else None


def _interval_means(metrics: pd.DataFrame) -> pd.DataFrame:
    """At each evaluation step, the mean training loss logged since the previous evaluation
    (what Lightning's `on_epoch=True` logs): the training reference for the validation loss."""
    train = metrics[metrics["name"] == "train_loss"]
    val_steps = sorted(metrics[metrics["name"] == "val_loss"]["step"].unique())
    rows, previous = [], -1
    steps, values = train["step"].to_numpy(), train["value"].to_numpy(float)
    for s in val_steps:
        inside = values[(steps > previous) & (steps <= s)]
        inside = inside[np.isfinite(inside)]
        if inside.size:
            rows.append(("main", int(s), "train_eval_loss", "", float(inside.mean())))
        previous = s
    return pd.DataFrame(rows, columns=COLUMNS)


def _run_facts(train_loss: pd.DataFrame) -> dict:
    """steps_done counts optimizer steps from the step column, not logged rows: a run logged
    every 50 steps is as long as it was."""
    values = train_loss["value"].to_numpy(float)
    steps = train_loss["step"].to_numpy()
    bad = np.flatnonzero(~np.isfinite(values))
    return {
        "steps_done": int(steps.max()) + 1 if len(steps) else 0,
        "logged_rows": int(len(values)),
        "stopped": "nonfinite" if bad.size else "completed",
        "source": "log",
    }


def _chance_loss(path: Path, classes: int | None) -> tuple[float | None, str]:
    """ln(K) of a K-class classifier (cross-entropy of the uniform prediction), K from
    `--classes` or the Hugging Face model's config.json; (None, "") when nothing says."""
    if classes is not None:
        if classes < 2:
            raise InputError(f"--classes {classes}: a classifier has at least 2 classes")
        return math.log(classes), f"--classes {classes}"
    lightning = _lightning_classes(path)
    if lightning is not None:
        k, where = lightning
        return math.log(k), f"{where} ({k} classes)"
    config = _hf_config(path)
    if config is None:
        return None, ""
    data, where = config
    arch = " ".join(data.get("architectures") or [])
    problem = data.get("problem_type")
    if "ForSequenceClassification" in arch or "ForTokenClassification" in arch:
        if problem == "regression":
            return None, ""
        if problem == "multi_label_classification":
            return math.log(2), f"{where} (multi-label)"
        labels = data.get("id2label")
        # transformers leaves num_labels out of config.json at its default, 2
        k = len(labels) if isinstance(labels, dict) else int(data.get("num_labels", 2))
        return (math.log(k), f"{where} ({k} labels)") if k >= 2 else (None, "")
    if any(w in arch for w in ("ForCausalLM", "ForMaskedLM", "LMHeadModel")):
        vocab = data.get("vocab_size")
        if isinstance(vocab, int) and vocab >= 2:
            return math.log(vocab), f"{where} (vocabulary of {vocab})"
    return None, ""


CLASS_KEYS = ("num_classes", "n_classes", "num_labels", "classes")


def _lightning_classes(path: Path) -> tuple[int, str] | None:
    """The number of classes from the hparams.yaml Lightning's CSVLogger writes beside
    metrics.csv (what the module saved with `save_hyperparameters`), at the top level or one
    level down."""
    hparams = path.parent / "hparams.yaml"
    if path.name != "metrics.csv" or not hparams.is_file():
        return None
    import yaml

    try:
        data = yaml.safe_load(hparams.read_text())
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(data, dict):
        return None
    for node in (data, *(v for v in data.values() if isinstance(v, dict))):
        for key in CLASS_KEYS:
            value = node.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 2:
                return value, str(hparams)
    return None


def _hf_config(path: Path) -> tuple[dict, str] | None:
    """The config.json of the model a trainer_state.json belongs to: beside it (a checkpoint,
    or an output_dir the model was saved to), else in the newest checkpoint-N of its folder."""
    if path.name != "trainer_state.json":
        return None
    folder = path.parent
    checkpoints = sorted(
        (p for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
        key=lambda p: int(p.name.split("-")[-1]),
        reverse=True,
    )
    for candidate in [folder / "config.json", *(p / "config.json" for p in checkpoints)]:
        try:
            data = json.loads(candidate.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            return data, str(candidate)
    return None
