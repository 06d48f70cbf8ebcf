"""Atomic writes: an artifact is either complete at its final path or absent (never half-written)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import ReptuneError


def check_output(
    path: str | os.PathLike[str], overwrite: bool = False, option: str = "--out"
) -> Path:
    """Refuse an output before any work is done: one that exists (unless ``overwrite``), or one
    whose nearest existing ancestor is not a folder this process can write in."""
    final = Path(path)
    if final.exists() and not overwrite:
        raise ReptuneError(f"{option} {final} already exists (pass --overwrite to replace it)")
    ancestor = final.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise ReptuneError(
            f"{option} {final} cannot be written: {ancestor} is not a folder you can write in"
        )
    return final


@contextmanager
def atomic_dir(path: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling directory that replaces ``path`` only if the block succeeds."""
    final = Path(path)
    if final.exists() and not overwrite:
        raise ReptuneError(f"output {final} already exists (pass --overwrite to replace it)")
    parent = final.parent if str(final.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise ReptuneError(f"cannot write output {final}: {exc.strerror or exc}") from exc
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final) if final.is_dir() else final.unlink()
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_file(path: str | os.PathLike[str], overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary sibling path that replaces ``path`` only if the block succeeds."""
    final = Path(path)
    if final.exists() and not overwrite:
        raise ReptuneError(f"output {final} already exists (pass --overwrite to replace it)")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    except OSError as exc:
        raise ReptuneError(f"cannot write output {final}: {exc.strerror or exc}") from exc
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike[str], text: str, overwrite: bool = True) -> Path:
    """Write UTF-8 text atomically."""
    with atomic_file(path, overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike[str], data: Any, overwrite: bool = True) -> Path:
    """Write indented JSON atomically."""
    return write_text(path, json.dumps(data, indent=2) + "\n", overwrite)
