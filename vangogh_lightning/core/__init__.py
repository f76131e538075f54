"""Plumbing every layer uses: errors, atomic writes, image files, safe torch loads, tables, W&B mode.

Nothing here imports another part of this package, Lightning or (at import time) torch."""
