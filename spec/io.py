"""Writing files so that a reader never sees half of one, and checking an output folder
before any work starts."""

import contextlib
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["atomic_path", "write_text_atomic", "write_json", "copy_atomic", "check_writable_folder"]


@contextlib.contextmanager
def atomic_path(path):
    """A temporary file name beside ``path`` for the block to write; renamed to ``path`` when
    the block ends, removed when it raises. The folder is created if missing.

    An interrupted or failed write leaves the previous file (or none), never a truncated one.
    The temporary name keeps the suffix: writers such as matplotlib and pandas pick the format
    from it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomic(path, text):
    """Write ``text`` to ``path`` through a temporary file and a rename (:func:`atomic_path`);
    return the path."""
    with atomic_path(path) as temporary:
        temporary.write_text(text)
    return Path(path)


def write_json(path, data, *, sort_keys=False):
    """Write ``data`` as indented JSON with a final newline (:func:`write_text_atomic`)."""
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=sort_keys) + "\n")


def copy_atomic(source, path):
    """Copy the file ``source`` to ``path`` (:func:`atomic_path`); return the path."""
    with atomic_path(path) as temporary:
        shutil.copyfile(source, temporary)
    return Path(path)


def check_writable_folder(folder):
    """Check, before any work starts, that files can be written in ``folder`` (or, when it
    does not exist yet, in the nearest folder above it, where it will be created); nothing is
    created. Returns ``folder`` as a path.

    Raises
    ------
    OSError
        Naming the folder that cannot be written and why.
    """
    folder = Path(folder)
    existing = folder.absolute()
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"folder cannot be made: {existing} is not a folder",
                                 str(folder))
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise OSError(error.errno, f"folder cannot be written: no file can be made in {existing} "
                                   f"({error.strerror or error})", str(folder)) from None
    return folder
