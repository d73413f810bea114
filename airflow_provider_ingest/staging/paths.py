"""Locations of staged files: plain local paths, or any URI Airflow's ``ObjectStoragePath`` knows.

Local paths (no scheme, or ``file://``) use the operating system directly; ``s3://``, ``gs://`` and
other schemes go through ``ObjectStoragePath`` and need the matching Airflow provider installed.
An ``ObjectStoragePath`` URI may name its Airflow connection: ``s3://aws_conn@bucket/prefix``.

Staged files live under ``{staging_root}/{workflow}/{run}/...`` (:func:`staging_location`): every name in
such a path is one checked path segment, the path is proven to stay under the root, and the run folder
gets a marker file (:data:`RUN_MARKER`) before the first file is written in it; the cleanup task removes
only marked folders.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import io
import os
import posixpath
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from airflow_provider_ingest.errors import (
    AuthenticationError,
    ConfigurationError,
    IncompleteRunError,
    IngestError,
    ServiceUnavailableError,
)

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

RUN_MARKER = ".airflow-ingest-run"
"""The file that marks a run folder as written by this package: cleanup removes only folders holding it."""

MAX_SEGMENT_BYTES = 255
"""The longest file name common filesystems and object stores accept, in UTF-8 bytes."""

_NOT_IN_SEGMENT = re.compile(r"[/\\\x00-\x1f\x7f]")
_CHARACTER_NAMES = {"/": "a path separator", "\\": "a path separator", "\0": "a NUL character"}
_PARTIAL = re.compile(r"\.[0-9a-f]{32}\.partial\Z")

_MARKER_TEXT = b"A run folder of airflow-provider-ingest: its cleanup task deletes it after retention_days.\n"

PROVIDERS = {
    "s3": "this package's s3 extra: airflow-provider-ingest[s3] (apache-airflow-providers-amazon[s3fs])",
    "s3a": "this package's s3 extra: airflow-provider-ingest[s3] (apache-airflow-providers-amazon[s3fs])",
    "gs": "apache-airflow-providers-google",
    "gcs": "apache-airflow-providers-google",
    "abfs": "apache-airflow-providers-microsoft-azure",
    "abfss": "apache-airflow-providers-microsoft-azure",
    "az": "apache-airflow-providers-microsoft-azure",
    "adl": "apache-airflow-providers-microsoft-azure",
}
"""The Airflow provider that brings the filesystem of an object-storage scheme, and its connections."""

_run_folders: dict[str, str] = {}
"""Run folders named by :func:`staging_location` in this process, by :func:`_key`; :func:`atomic_write` marks them."""


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


def filesystem_problem(uri: str) -> str | None:
    """Why no filesystem here serves ``uri``'s scheme (unknown, or its package not installed), told without network
    and without importing Airflow; None for a local path, or when one does."""
    if is_local(uri):
        return None
    from fsspec.registry import known_implementations, registry

    scheme = uri.split("://", 1)[0].lower()
    if scheme in registry:
        return None
    known = known_implementations.get(scheme)
    if known is None:
        return (
            f"unknown scheme {scheme + '://'!r}: write a local path or an object-storage URI whose scheme fsspec"
            " knows (s3://, gs://, abfs://...)"
        )
    module = known["class"].rsplit(".", 1)[0]
    if _installed(module):
        return None
    package = PROVIDERS.get(scheme, module.split(".", 1)[0])
    return f"no filesystem for {scheme}:// is installed ({known.get('err', module + ' is missing')}): install {package}"


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it (its parent packages aside)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def folder_problem(path: Path) -> str | None:
    """Why no file can be made in the local folder ``path`` (created if missing), told from what exists now: the
    nearest existing folder at or above it is a file, or cannot be written; None when one can."""
    existing = path
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"folder {existing} cannot be written (its permissions)"
    return None


def file_problem(uri: str) -> str | None:
    """Why no file can be written at ``uri``: locally, it is a folder or no file can be made in its folder; told
    from what exists now, without network (object storage: its scheme only); None when one can."""
    if not is_local(uri):
        return filesystem_problem(uri)
    path = local_path(uri)
    if path.is_dir():
        return f"{path} is a folder: name the file to write in it"
    return folder_problem(path.parent)


def check_store(root: str, what: str = "staging_root") -> None:
    """Raise unless files can be written under ``root`` (a local folder, created if missing, or object storage):
    :class:`ConfigurationError` for a bad setting, a service error when the store refuses or does not answer.

    A local root is judged from what exists; an object-storage one by asking its store whether the root exists.
    """
    problem = filesystem_problem(root) or (folder_problem(local_path(root)) if is_local(root) else None)
    if problem is not None:
        raise ConfigurationError(f"{what} {root}: {problem}")
    if not is_local(root):
        try:
            object_path(root).exists()
        except Exception as error:
            raise store_error(f"{what} {root}", error) from error


def store_error(where: str, error: Exception) -> IngestError:
    """The package's error for an object store's failure at ``where``: access refused, no answer, or a setting
    (scheme, connection, credentials) that cannot work."""
    cause = f"{type(error).__name__}: {error}"
    if isinstance(error, PermissionError):
        return AuthenticationError(f"{where}: access refused: {cause}")
    if isinstance(error, OSError) or any(
        word in kind.__name__ for kind in type(error).__mro__ for word in ("Connection", "Timeout")
    ):
        return ServiceUnavailableError(f"{where}: the store cannot be reached: {cause}")
    return ConfigurationError(f"{where}: cannot be used: {cause} (check its Airflow connection, credentials, endpoint)")


def join(root: str, *parts: str) -> str:
    """Join path parts under a root, keeping the root's scheme."""
    clean = [part.strip("/") for part in parts if part]
    if is_local(root):
        return str(local_path(root).joinpath(*clean))
    return "/".join([root.rstrip("/"), *clean])


def check_segment(name: object, what: str) -> str:
    """``name`` if it can be one folder or file name in a staging path, else :class:`ConfigurationError` saying why.

    Refused: a non-string, the empty name, ``.`` and ``..``, a path separator (``/``, ``\\``), NUL or any
    other control character, and names longer than :data:`MAX_SEGMENT_BYTES`.
    """
    if not isinstance(name, str):
        raise ConfigurationError(f"{what} must be a string, not {type(name).__name__}")
    if not name:
        raise ConfigurationError(f"{what} is empty; it names a folder of the staging path")
    shown = repr(name) if len(name) <= 80 else repr(name[:80]) + "..."
    if name in (".", ".."):
        meaning = "this" if name == "." else "the parent"
        raise ConfigurationError(f"{what} {shown} is not allowed: in a path it means {meaning} folder")
    bad = _NOT_IN_SEGMENT.search(name)
    if bad:
        kind = _CHARACTER_NAMES.get(bad.group(), "a control character")
        raise ConfigurationError(f"{what} {shown} contains {kind} ({bad.group()!r}); it must be a single folder name")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
        raise ConfigurationError(f"{what} {shown} is longer than {MAX_SEGMENT_BYTES} bytes, too long for a folder name")
    return name


def staging_location(root: str, workflow: str, run: str, *parts: str) -> str:
    """``{root}/{workflow}/{run}/{parts...}``, every name checked and the result proven to stay under ``root``.

    ``run`` and each part may be several names joined by ``/`` (``run_id/task_id/map_index``), each one checked;
    the run folder ``{root}/{workflow}/{first name of run}`` is marked at the first file written under it.
    """
    names = [check_segment(workflow, "workflow name (dag id)")]
    names += [check_segment(name, "run id") for name in _split(run, "run id")]
    for part in parts:
        names += [check_segment(name, "staging file name") for name in _split(part, "staging file name")]
    uri = join(root, *names)
    check_inside(root, uri)
    run_folder = join(root, *names[:2])
    _run_folders[_key(run_folder)] = run_folder
    return uri


def check_inside(root: str, uri: str) -> None:
    """Raise :class:`ConfigurationError` unless ``uri`` lies below ``root``.

    Local paths are compared resolved (``..`` and symbolic links followed); object storage URIs by their
    normalised keys.
    """
    if is_local(root) and is_local(uri):
        base, target = local_path(root).resolve(), local_path(uri).resolve()
        inside = target != base and target.is_relative_to(base)
    elif not is_local(root) and not is_local(uri):
        inside = _key(uri).startswith(_key(root).rstrip("/") + "/")
    else:
        inside = False
    if not inside:
        raise ConfigurationError(f"staging path {uri} is not under the staging root {root}")


def _split(path: object, what: str) -> list[str]:
    if not isinstance(path, str):
        raise ConfigurationError(f"{what} must be a string, not {type(path).__name__}")
    return path.split("/")


def _key(uri: str) -> str:
    """A location compared by what it names: a local path made absolute, an object URI with its key normalised."""
    if is_local(uri):
        return os.path.abspath(local_path(uri))
    scheme, rest = uri.split("://", 1)
    return f"{scheme.lower()}://{posixpath.normpath('/' + rest).lstrip('/')}"


def open_read(uri: str) -> IO[bytes]:
    """Open a file for binary reading, buffered (``readline`` takes a limit, which an object store's file alone
    does not: fsspec's)."""
    if is_local(uri):
        return open(local_path(uri), "rb", buffering=1 << 20)
    return io.BufferedReader(object_path(uri).open("rb"), buffer_size=1 << 20)  # type: ignore[arg-type]


def exists(uri: str) -> bool:
    """Whether a file exists at ``uri``."""
    return local_path(uri).exists() if is_local(uri) else object_path(uri).exists()


@contextlib.contextmanager
def atomic_write(uri: str) -> Iterator[IO[bytes]]:
    """Write to a temporary name of its own beside ``uri`` and rename it into place only on success: of writers of
    one file at once, each writes its own, and the last to finish is in place.

    A run folder named by :func:`staging_location` gets its marker before its first file. Locally, the temporary
    file is locked while it is written; once the file is in place, those of the same output no writer holds
    (:func:`is_stale`, left by killed attempts) are removed. In object storage nothing tells a killed writer's from
    a live one's: they are left to the cleanup task (``retention_days``).
    """
    _mark_run_folder(uri)
    temp_name = f".{uuid.uuid4().hex}.partial"
    if is_local(uri):
        final = local_path(uri)
        if final.is_dir():  # its temporary file would go beside it, in the folder above
            raise ConfigurationError(f"{uri}: it is a folder, not a file to write")
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = final.with_name(final.name + temp_name)
        try:
            with open(temp, "wb", buffering=1 << 20) as handle:
                with contextlib.suppress(OSError):  # a filesystem without locks: its temporary files are never stale
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held until renamed: see is_stale
                yield handle
                handle.flush()
                try:
                    os.replace(temp, final)
                except FileNotFoundError:
                    raise _overwritten(uri) from None
        except OSError as error:  # a full disk, a quota, a read-only or failing filesystem: say which file
            if type(error) is not OSError or error.filename is not None or error.errno is None:
                raise
            raise OSError(error.errno, error.strerror, uri) from error
        finally:
            temp.unlink(missing_ok=True)
        for sibling in final.parent.iterdir():
            if is_partial(sibling.name, final.name) and is_stale(sibling):
                sibling.unlink(missing_ok=True)
        return
    final_remote = object_path(uri)
    temp_remote = object_path(uri + temp_name)
    try:
        with temp_remote.open("wb") as handle:
            yield handle
        try:
            temp_remote.rename(final_remote)
        except FileNotFoundError:
            raise _overwritten(uri) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            if temp_remote.exists():
                temp_remote.unlink()


STALE_SECONDS = 60.0
"""How long a local temporary file must have been left unwritten before it can be stale: longer than a writer takes
from creating it to locking it."""


def is_stale(path: Path, now: float | None = None) -> bool:
    """Whether the local temporary file ``path`` is a dead writer's: no process holds its lock, and it was last written
    over :data:`STALE_SECONDS` ago. A filesystem without locks proves nothing: its files are never stale."""
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_mtime > (time.time() if now is None else now) - STALE_SECONDS:
                return False
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released as it is closed
    except OSError:  # held (EWOULDBLOCK), gone, or no locks here
        return False
    return True


def _overwritten(uri: str) -> IncompleteRunError:
    """The temporary file of ``uri`` vanished before its rename: removed by hand, or by a cleanup of its folder."""
    return IncompleteRunError(
        f"{uri}: its temporary file was removed before it was renamed into place (by hand, or by a cleanup of its"
        " folder): nothing of this attempt is in place"
    )


def is_partial(name: str, output: str = "") -> bool:
    """Whether ``name`` is a temporary file that :func:`atomic_write` leaves when killed (of ``output``, if given)."""
    match = _PARTIAL.search(name)
    if match is None:
        return False
    return name[: match.start()] == output if output else match.start() > 0


def _mark_run_folder(uri: str) -> None:
    """Write the marker into the run folder holding ``uri``, if :func:`staging_location` named one."""
    key = _key(uri)
    if is_local(uri):
        parents = [str(parent) for parent in Path(key).parents]
    else:
        scheme, rest = key.split("://", 1)
        names = rest.split("/")
        parents = [f"{scheme}://{'/'.join(names[:end])}" for end in range(len(names) - 1, 0, -1)]
    run_folder = next((_run_folders[parent] for parent in parents if parent in _run_folders), None)
    if run_folder is None:
        return
    marker = join(run_folder, RUN_MARKER)
    if is_local(marker):
        path = local_path(marker)
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_MARKER_TEXT)
    else:
        remote = object_path(marker)
        if not remote.exists():
            remote.write_bytes(_MARKER_TEXT)


def files_under(uri: str) -> list[str]:
    """Every file under a folder, at any depth; locally, symbolic links are listed, never followed."""
    if is_local(uri):
        return [os.path.join(folder, name) for folder, _, names in os.walk(local_path(uri)) for name in names]
    root = object_path(uri)
    return [str(item) for item in root.rglob("*") if item.is_file()] if root.is_dir() else []


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
