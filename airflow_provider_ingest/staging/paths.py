"""Locations of staged files: plain local paths, or any URI Airflow's ``ObjectStoragePath`` knows.

Local paths (no scheme, or ``file://``) use the operating system directly; ``s3://``, ``gs://`` and
other schemes go through ``ObjectStoragePath`` and need the matching Airflow provider installed.
An ``ObjectStoragePath`` URI may name its Airflow connection: ``s3://aws_conn@bucket/prefix``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath


def is_local(uri: str) -> bool:
    """True for a plain path or a ``file://`` URI."""
    return "://" not in uri or uri.startswith("file://")


def local_path(uri: str) -> Path:
    """The filesystem path of a local URI."""
    return Path(uri[len("file://") :] if uri.startswith("file://") else uri).expanduser()


def object_path(uri: str) -> ObjectStoragePath:
    """An ``ObjectStoragePath`` for a remote URI (imports Airflow's SDK)."""
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(uri)


def join(root: str, *parts: str) -> str:
    """Join path parts under a root, keeping the root's scheme."""
    clean = [part.strip("/") for part in parts if part]
    if is_local(root):
        return str(local_path(root).joinpath(*clean))
    return "/".join([root.rstrip("/"), *clean])


def open_read(uri: str) -> IO[bytes]:
    """Open a staged file for binary reading."""
    if is_local(uri):
        return open(local_path(uri), "rb", buffering=1 << 20)
    return object_path(uri).open("rb")


def exists(uri: str) -> bool:
    """Whether a file exists at ``uri``."""
    return local_path(uri).exists() if is_local(uri) else object_path(uri).exists()


@contextlib.contextmanager
def atomic_write(uri: str) -> Iterator[IO[bytes]]:
    """Write to a temporary name beside ``uri`` and rename it into place only on success."""
    temp_name = f".{uuid.uuid4().hex}.partial"
    if is_local(uri):
        final = local_path(uri)
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = final.with_name(final.name + temp_name)
        try:
            with open(temp, "wb", buffering=1 << 20) as handle:
                yield handle
            os.replace(temp, final)
        finally:
            temp.unlink(missing_ok=True)
        return
    final_remote = object_path(uri)
    temp_remote = object_path(uri + temp_name)
    try:
        with temp_remote.open("wb") as handle:
            yield handle
        temp_remote.rename(final_remote)
    finally:
        with contextlib.suppress(FileNotFoundError):
            if temp_remote.exists():
                temp_remote.unlink()


def remove(uri: str) -> None:
    """Delete one file, if it exists."""
    if is_local(uri):
        local_path(uri).unlink(missing_ok=True)
    else:
        path = object_path(uri)
        if path.exists():
            path.unlink()


def remove_tree(uri: str) -> None:
    """Delete a folder of staged files and everything under it."""
    if is_local(uri):
        shutil.rmtree(local_path(uri), ignore_errors=True)
    else:
        path = object_path(uri)
        if path.exists():
            path.rmdir(recursive=True)
