"""Read what an offline W&B run recorded: config and summary from its ``run-*.wandb`` file.

W&B 0.31 writes a LevelDB-style log: a 7-byte header (``:W&B``, magic, version), then 32 KiB
blocks of chunks (4-byte checksum, 2-byte length, 1-byte type: full / first / middle / last); the
chunks of one entry join into a serialized ``wandb_internal_pb2.Record``.
"""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path
from typing import Any

BLOCK = 32768
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path, wait_s: float = 60.0) -> list[Any]:
    """Every Record of a finished run's ``.wandb`` file, in order.

    ``run.finish()`` can return before the W&B service has flushed the file (seen under load: only
    the 7-byte header on disk), so the file is re-read until its last record is the run's ``exit``.
    """
    deadline = time.monotonic() + wait_s
    while True:
        found = _parse(path)
        if found and found[-1].WhichOneof("record_type") == "exit":
            return found
        assert time.monotonic() < deadline, f"{path}: no exit record after {wait_s} s (run not finished?)"
        time.sleep(0.2)


def _parse(path: Path) -> list[Any]:
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    if len(data) < HEADER:  # created, header not yet written
        return []
    assert data[:4] == b":W&B", f"{path}: not a W&B run file"
    out, pending, pos = [], b"", HEADER
    while pos + HEADER <= len(data):
        room = BLOCK - pos % BLOCK
        if room < HEADER:  # the rest of a block too small for a chunk header is padding
            pos += room
            continue
        _checksum, length, kind = struct.unpack("<IHB", data[pos:pos + HEADER])
        if pos + HEADER + length > len(data):  # a chunk still being written
            break
        chunk = data[pos + HEADER:pos + HEADER + length]
        pos += HEADER + length
        if kind == 0 and length == 0:  # zero padding
            continue
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            out.append(record)
            pending = b""
    return out


def _items(updates: Any) -> dict[str, Any]:
    result = {}
    for item in updates:
        key = item.key or "/".join(item.nested_key)
        result[key] = json.loads(item.value_json)
    return result


def run_config(path: Path) -> dict[str, Any]:
    """The run's config: every config update merged, as W&B stores it (values under ``value``)."""
    config: dict[str, Any] = {}
    for record in records(path):
        which = record.WhichOneof("record_type")
        if which == "run":
            config.update(_items(record.run.config.update))
        elif which == "config":
            config.update(_items(record.config.update))
    return {k: v.get("value", v) if isinstance(v, dict) else v for k, v in config.items()}


def run_summary(path: Path) -> dict[str, Any]:
    """The run's summary: every summary update merged (the last value of each key wins)."""
    summary: dict[str, Any] = {}
    for record in records(path):
        if record.WhichOneof("record_type") == "summary":
            summary.update(_items(record.summary.update))
    return summary


def run_info(path: Path) -> dict[str, Any]:
    """Group, name, job type and tags of the run (tags as last updated)."""
    info: dict[str, Any] = {}
    for record in records(path):
        if record.WhichOneof("record_type") == "run":
            run = record.run
            if not info:
                info = {"group": run.run_group, "name": run.display_name, "job_type": run.job_type,
                        "tags": list(run.tags), "id": run.run_id}
            elif run.tags:
                info["tags"] = list(run.tags)
    return info
