"""Shared helpers for the benchmarks: environment description and result files."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parent / "out"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def device_name(device: torch.device) -> str:
    """Human-readable name of the device the benchmark ran on."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def write_result(name: str, record: dict) -> Path:
    """Write ``bench/out/<name>-<time>.json`` and print it."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(record, indent=2))
    print(json.dumps(record, indent=2))
    print(f"written to {path}")
    return path
