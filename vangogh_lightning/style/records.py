"""The JSON record stylize.py writes beside each finished result: its kind, and reading them (no torch needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# The "kind" of the JSON record stylize.py writes beside each result: evaluate.py counts the images
# such records name, and so never takes a comparison sheet or a step snapshot for a result.
STYLIZED_RECORD_KIND = "vangogh-lightning stylized image"


def finished_records(folder: Path) -> list[dict[str, Any]]:
    """stylize.py's records (written last: finished results) in ``folder`` whose image exists, by file name,
    each with ``path`` (the result image); other JSON files and unreadable ones are not records."""
    found = []
    for record_path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("kind") == STYLIZED_RECORD_KIND:
            image = folder / str(record.get("image", ""))
            if image.is_file():
                found.append({**record, "path": image})
    return found
