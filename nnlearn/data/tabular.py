"""CSV and Parquet through pandas: a label column, optional feature list, string labels mapped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nnlearn.errors import InputError, SpecError


def read_table(kind: str, path: str) -> pd.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"data.path: file not found: {path}")
    try:
        df = pd.read_csv(p) if kind == "csv" else pd.read_parquet(p)
    except ImportError as exc:
        raise InputError(
            f"data.path: reading parquet needs pyarrow: pip install 'nnlearn[parquet]' ({exc})"
        ) from None
    except Exception as exc:  # pandas raises many types for a malformed file
        raise InputError(f"data.path: cannot read {kind} file {path}: {exc}") from None
    if len(df) < 2:
        raise InputError(
            f"data.path: {path} has {len(df)} data row{'s' if len(df) != 1 else ''}; the probe "
            "needs at least 2 (one to train on, one to validate)"
        )
    return df


def split_table(
    df: pd.DataFrame, target: str, features: list[str] | None, file: str | None
) -> tuple[np.ndarray, np.ndarray, list[str], list[str] | None]:
    """-> (X float32, y, feature names, class names or None)."""
    if target not in df.columns:
        raise SpecError(file, [("data.target", _missing_column(target, df))])
    features = features or [c for c in df.columns if c != target]
    problems = []
    for i, col in enumerate(features):
        if col not in df.columns:
            problems.append((f"data.features[{i}]", _missing_column(col, df)))
        elif not pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col]):
            problems.append(
                (f"data.features[{i}]", f"column {col!r} is not numeric; encode it first")
            )
    if problems:
        raise SpecError(file, problems)
    x = df[features].to_numpy(dtype=np.float32)
    labels = df[target]
    class_names = None
    if pd.api.types.is_numeric_dtype(labels) or pd.api.types.is_bool_dtype(labels):
        y = labels.to_numpy()
        if pd.api.types.is_bool_dtype(labels):
            y = y.astype(np.int64)
    else:
        codes, uniques = pd.factorize(labels.astype("string"), sort=True)
        if (codes < 0).any():
            raise InputError(f"data.target: column {target!r} has {(codes < 0).sum()} empty labels")
        y = codes.astype(np.int64)
        class_names = [str(u) for u in uniques]
    return x, y, features, class_names


def _missing_column(col: str, df: pd.DataFrame) -> str:
    import difflib

    hint = difflib.get_close_matches(col, [str(c) for c in df.columns], n=1)
    msg = f"no column {col!r} in the file"
    return msg + (
        f"; did you mean '{hint[0]}'?"
        if hint
        else f" (columns: {', '.join(map(str, df.columns[:12]))})"
    )
