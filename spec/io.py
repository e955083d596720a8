"""Writing files so that a reader never sees half of one."""

import json
import os
from pathlib import Path

__all__ = ["write_text_atomic", "write_json"]


def write_text_atomic(path, text):
    """Write ``text`` to ``path`` through a temporary file and a rename; return the path.

    The folder is created if missing. An interrupted or failed write leaves the previous
    file (or none), never a truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def write_json(path, data, *, sort_keys=False):
    """Write ``data`` as indented JSON with a final newline (:func:`write_text_atomic`)."""
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=sort_keys) + "\n")
