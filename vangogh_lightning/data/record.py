"""What a run trained, validated and held out, recorded once: every image with its content digest
(SHA-1 of its bytes, which neither ``touch`` nor a re-export can forge), label and split (its validation
fold, or ``test``). The data module hands the record to Lightning as its ``state_dict``, so every
checkpoint carries it; later steps read it instead of rebuilding the split from today's files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vangogh_lightning.core.errors import UserError
from vangogh_lightning.core.torch_files import load_torch_file
from vangogh_lightning.data.index import file_digest

TEST = "test"
COLUMNS = ("filename", "path", "digest", "label", "artist", "seed", "split")


def make_record(index: pd.DataFrame, folds: np.ndarray, test: pd.DataFrame | None) -> dict[str, list]:
    """The record of ``index`` (rows of every fold; ``folds``: each row's fold) and the held-out ``test`` rows."""
    parts = [index.assign(split=[str(int(f)) for f in folds])]
    if test is not None:
        parts.append(test.assign(split=TEST))
    rows = pd.concat(parts, ignore_index=True)
    rows["path"] = [None if p is None else str(p) for p in rows["path"]]
    for column, empty in (("digest", ""), ("seed", -1)):
        rows[column] = rows[column].fillna(empty) if column in rows else empty
    return {c: [v.item() if hasattr(v, "item") else v for v in rows[c]] for c in COLUMNS}


def record_digest(record: dict[str, list]) -> str:
    """One SHA-1 over the whole record: equal exactly when the files, their content and the splits are."""
    return hashlib.sha1(json.dumps(record, sort_keys=True).encode(), usedforsecurity=False).hexdigest()


def _by_name(rows: pd.DataFrame) -> pd.DataFrame:
    copies = rows.groupby("filename").cumcount()  # (a file listed twice, kept with data.drop_duplicates=false)
    return rows.set_index(rows["filename"] + np.where(copies > 0, " (copy " + copies.astype(str) + ")", ""))


def difference(before: dict[str, list], now: dict[str, list]) -> str | None:
    """The first way ``now`` differs from ``before`` (a file added, gone, changed or moved), or None."""
    old, new = (_by_name(pd.DataFrame(r)) for r in (before, now))
    for name in old.index.union(new.index, sort=False):
        if name not in new.index:
            return f"{name} was used and is no longer listed"
        if name not in old.index:
            return f"{name} is new"
        a, b = old.loc[name], new.loc[name]
        if a["digest"] != b["digest"]:
            return f"{name} has other content"
        if a["split"] != b["split"]:
            return f"{name} was in split {a['split']}, now {b['split']}"
    return None if record_digest(before) == record_digest(now) else "the labels or order differ"


def held_out_rows(record: dict[str, Any], key: str, where: str | Path) -> pd.DataFrame:
    """The recorded test rows, each file checked to be there with the recorded content (one line naming the
    first that is not)."""
    rows = pd.DataFrame(record)
    rows = rows[rows["split"] == TEST].reset_index(drop=True)
    for path, digest in zip(rows["path"], rows["digest"]):
        if path is None:
            continue  # generated: rendered again from its seed
        if not Path(path).is_file():
            raise UserError(f"{key}={where}: the held-out image {path} is gone; put it back (or retrain)")
        if file_digest(path) != digest:
            raise UserError(f"{key}={where}: the held-out image {path} has changed since training (other bytes); "
                            "restore it, or retrain to test on today's files")
    return rows.assign(path=[None if p is None else Path(p) for p in rows["path"]])


def record_in(raw: Any) -> dict[str, list] | None:
    """The data record in a loaded checkpoint (the data module's state_dict, under its class name), or None."""
    return (raw.get("VanGoghDataModule") or {}).get("data_record") if isinstance(raw, dict) else None


def checkpoint_record(checkpoint: str | Path, key: str) -> dict[str, list] | None:
    """The data record a checkpoint file of train.py carries (None: written before runs recorded their data)."""
    return record_in(load_torch_file(checkpoint, key, "checkpoint", mmap=True))


def refuse_mixed_data(records: dict[str, dict[str, list] | None], what: str) -> None:
    """One line naming the first difference when the named records (``None``: not recorded) differ."""
    named = [(name, record) for name, record in records.items() if record is not None]
    for (first, a), (other, b) in zip(named, named[1:]):
        change = difference(a, b)
        if change:
            raise UserError(f"{what}: {first} and {other} were trained on different data or splits ({change}); "
                            "combine only runs of one data set (the same files, data.* and split seed)")
