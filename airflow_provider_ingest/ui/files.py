"""Downloads of a run's staged files, confined to the run's folder under the staging root.

A run's folder is ``{staging_root}/{dag_id}/{run_id}``, where its tasks wrote their staged files and dead
letters. It is told from the URIs the run's tasks put in XCom, and counts only if it holds the marker file
every run folder gets with its first staged file (:data:`~airflow_provider_ingest.staging.paths.RUN_MARKER`):
a URI in XCom cannot point the UI at any other folder. A download names a file by its path inside that
folder; every name in it is checked (no ``..``, ``.``, empty name, ``\\``, control character), and the file,
symbolic links followed, must lie inside the folder. Only local paths and object storage schemes are
served (never ``http``, ``ftp``...: the API server fetches nothing from elsewhere).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from airflow_provider_ingest.errors import ConfigurationError
from airflow_provider_ingest.staging import paths

OBJECT_STORAGE_SCHEMES = frozenset(
    {"s3", "s3a", "gs", "gcs", "abfs", "abfss", "az", "adl", "wasb", "wasbs", "oci", "oss", "hdfs", "file"}
)
"""URI schemes a staging root may have for its files to be downloaded from the UI."""
MAX_PATH_CHARS = 4096


class Refused(Exception):
    """A download that is not served; the message says why (safe to show: it names nothing outside the request).

    ``status`` is the HTTP status to answer with: 400 for a path that is not allowed, 404 for no such file.
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RunFolder:
    """A run's folder, as a URI (a local path or ``scheme://...``), and the path of a file relative to it."""

    uri: str

    def relative(self, uri: str) -> str | None:
        """The path of ``uri`` inside this folder (``source/output.jsonl``); None when it is not inside."""
        base, target = _names(self.uri), _names(uri)
        if base is None or target is None or len(target) <= len(base) or target[: len(base)] != base:
            return None
        return "/".join(target[len(base) :])


def run_folder(uri: object, dag_id: str, run_id: str) -> RunFolder | None:
    """The folder ``{root}/{dag_id}/{run_id}`` a staged file's URI lies in; None if the URI is not in one.

    The last ``{dag_id}/{run_id}`` pair of names in the URI with a file below it is taken. Nothing is read
    here: see :func:`is_run_folder`.
    """
    if not isinstance(uri, str) or not uri or len(uri) > MAX_PATH_CHARS or not _scheme_allowed(uri):
        return None
    names = _names(uri)
    if names is None:
        return None
    first = 0 if paths.is_local(uri) else 2  # after a remote URI's scheme and bucket
    for index in range(len(names) - 3, first - 1, -1):
        if names[index] == dag_id and names[index + 1] == run_id:
            return RunFolder(_join(uri, names[: index + 2]))
    return None


def is_run_folder(folder: RunFolder) -> bool:
    """Whether the folder holds the run marker (a regular file, not a link), i.e. a task of this package wrote it,
    and is its run's own: a local folder reached through a link to another DAG's or run's is not. An object store
    the API server cannot reach (its filesystem package not installed there) holds none."""
    marker = paths.join(folder.uri, paths.RUN_MARKER)
    try:
        if paths.is_local(marker):
            return _own_folder(folder) and stat.S_ISREG(os.lstat(paths.local_path(marker)).st_mode)
        return paths.object_path(marker).is_file()
    except (OSError, ValueError, ImportError):  # ImportError: the store's filesystem package missing on the server
        return False


def resolve_download(folder: RunFolder, relative: object) -> str:
    """The file ``relative`` names inside ``folder``; :class:`Refused` unless it is a regular file in the folder.

    ``relative`` is ``/``-separated, as :meth:`RunFolder.relative` gives it; refused are: an empty or absolute
    path, any name that cannot be one path segment (``..``, ``.``, empty, a ``\\`` or control character),
    the run marker and the temporary files of killed tasks, a path that leaves the folder through a symbolic
    link, and anything that is not a regular file.
    """
    if not isinstance(relative, str) or not relative:
        raise Refused("no file named")
    if len(relative) > MAX_PATH_CHARS:
        raise Refused("file path too long")
    if relative.startswith("/"):
        raise Refused("an absolute path is not allowed: name a file inside the run's folder")
    names = relative.split("/")
    try:
        for name in names:
            paths.check_segment(name, "file path name")
    except ConfigurationError as error:
        raise Refused(str(error)) from None
    if names[-1] == paths.RUN_MARKER or paths.is_partial(names[-1]):
        raise Refused("not a staged file")
    target = paths.join(folder.uri, *names)
    try:
        paths.check_inside(folder.uri, target)
    except ConfigurationError:
        raise Refused("the path leaves the run's folder") from None
    if paths.is_local(target):
        return _local_file(folder, target)
    try:
        found = paths.object_path(target).is_file()
    except (OSError, ValueError, ImportError):  # ImportError: the store's filesystem package missing on the server
        found = False
    if not found:
        raise Refused("no such file", 404)
    return target


def _own_folder(folder: RunFolder) -> bool:
    """Whether a local run folder, its links followed, is still ``{dag_id}/{run_id}``: not a link to another
    DAG's or run's folder (the staging root itself may be reached through links)."""
    path = paths.local_path(folder.uri)
    return path.resolve().parts[-2:] == path.parts[-2:]


def _local_file(folder: RunFolder, target: str) -> str:
    """The resolved path of a local regular file inside the resolved folder, which must be its run's own."""
    if not _own_folder(folder):
        raise Refused("the run's folder is a link to another folder")
    base = paths.local_path(folder.uri).resolve()
    resolved = paths.local_path(target).resolve()
    if resolved == base or not resolved.is_relative_to(base):
        raise Refused("the path leaves the run's folder")
    try:
        mode = os.stat(resolved).st_mode
    except OSError:
        raise Refused("no such file", 404) from None
    if not stat.S_ISREG(mode):
        raise Refused("not a file", 404)
    return str(resolved)


def _scheme_allowed(uri: str) -> bool:
    if paths.is_local(uri):
        return True
    return uri.split("://", 1)[0].lower() in OBJECT_STORAGE_SCHEMES


def _names(uri: str) -> list[str] | None:
    """The names of a URI's path (local: absolute, normalised; remote: the scheme and authority first)."""
    if paths.is_local(uri):
        path = paths.local_path(uri)
        if not path.is_absolute():
            return None
        return [name for name in PurePosixPath(os.path.normpath(path)).parts if name != "/"]
    scheme, rest = uri.split("://", 1)
    names = [name for name in rest.split("/") if name]
    if not names or any(name in (".", "..") for name in names):
        return None
    return [f"{scheme.lower()}://", *names]


def _join(uri: str, names: list[str]) -> str:
    if paths.is_local(uri):
        return str(Path("/", *names))
    return names[0] + "/".join(names[1:])
