"""The staged file: JSON Lines between a header and a trailer, optionally gzip-compressed.

::

    {"staged_file": 1, "content": "records", "producer": "...", "kinds": [...]}
    {"kind": "table", ...}                                    one record per line
    {"staged_file_end": true, "count": 2, "sha256": "..."}

The trailer's count and SHA-256 (of the record lines, newlines included) let a reader refuse a file
whose writer was killed. Files are written atomically and read and written as streams; the same
records give the same bytes (no timestamps, gzip included), so a retried task reproduces its output.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from airflow_provider_ingest.errors import InputError
from airflow_provider_ingest.records import Entity, Record, dump_record, parse_record
from airflow_provider_ingest.staging import paths

FORMAT_VERSION = 1
HEADER_KEY = "staged_file"
TRAILER_PREFIX = b'{"staged_file_end"'
_TAIL_BYTES = 4096


class StagedFileError(InputError):
    """A staged file that is truncated, corrupted or not a staged file at all."""


def _compressed(uri: str, compression: str) -> bool:
    if compression == "auto":
        return uri.endswith(".gz")
    return compression == "gzip"


class StagedFileWriter:
    """Writes a staged file atomically; use as a context manager, which commits on success.

    Column samples are dropped unless ``keep_samples`` (a file that processors will read).
    """

    def __init__(
        self,
        uri: str,
        *,
        producer: str,
        content: str = "records",
        kinds: Iterable[str] = (),
        compression: str = "auto",
        keep_samples: bool = False,
    ) -> None:
        self.uri = uri
        self.count = 0
        self.keep_samples = keep_samples
        self._header = {
            HEADER_KEY: FORMAT_VERSION,
            "content": content,
            "producer": producer,
            "kinds": sorted(kinds),
        }
        self._gzip = _compressed(uri, compression)
        self._digest = hashlib.sha256()
        self._atomic: Any = None
        self._stream: IO[bytes] | None = None

    def __enter__(self) -> StagedFileWriter:
        self._atomic = paths.atomic_write(self.uri)
        raw = self._atomic.__enter__()
        self._stream = (
            gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=5, mtime=0) if self._gzip else raw
        )
        self._stream.write(json.dumps(self._header).encode() + b"\n")
        return self

    def write_line(self, line: str) -> None:
        """Append one record's JSON text (no newline)."""
        data = line.encode() + b"\n"
        self._digest.update(data)
        self._stream.write(data)  # type: ignore[union-attr]
        self.count += 1

    def write(self, record: Entity) -> None:
        """Append one record."""
        self.write_line(dump_record(record, keep_samples=self.keep_samples))

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        stream, self._stream = self._stream, None
        if exc is None and stream is not None:
            trailer = {"staged_file_end": True, "count": self.count, "sha256": self._digest.hexdigest()}
            stream.write(json.dumps(trailer).encode() + b"\n")
        if self._gzip and stream is not None:
            stream.close()
        self._atomic.__exit__(type(exc) if exc else None, exc, tb)


class StagedFileReader:
    """Reads a staged file as a stream and checks its trailer; also reads plain JSON Lines."""

    def __init__(self, uri: str, *, allow_plain: bool = False) -> None:
        self.uri = uri
        self.allow_plain = allow_plain
        self.header: dict[str, Any] | None = None
        self.count = 0
        self.line_number = 0

    def lines(self) -> Iterator[bytes]:
        """Yield each record line; raise :class:`StagedFileError` on a bad or incomplete file."""
        with paths.open_read(self.uri) as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            if not gzipped:
                self._check_tail(raw)
            stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
            if gzipped:
                stream = io.BufferedReader(stream, buffer_size=1 << 20)  # type: ignore[arg-type]
            try:
                yield from self._body(stream)
            except EOFError as error:
                raise StagedFileError(f"{self.uri}: truncated: {error}") from error
            except (gzip.BadGzipFile, zlib.error) as error:
                raise StagedFileError(f"{self.uri}: corrupted: {error}") from error

    def records(self, on_invalid: Callable[[str, str], None] | None = None) -> Iterator[Record]:
        """Yield each record, parsed; a line that is not a record raises, or goes to ``on_invalid(message, line)``."""
        for line in self.lines():
            try:
                yield parse_record(line)
            except ValueError as error:
                message = f"{self.uri}: line {self.line_number} is not a valid record: {error}"
                if on_invalid is None:
                    raise StagedFileError(message) from error
                on_invalid(message, line.decode().rstrip("\n"))

    def _body(self, stream: IO[bytes]) -> Iterator[bytes]:
        first = stream.readline()
        if not first:
            raise StagedFileError(f"{self.uri}: empty file, not a staged file")
        digest = hashlib.sha256()
        trailer: dict[str, Any] | None = None
        if first.startswith(b'{"' + HEADER_KEY.encode()):
            self.header = self._json(first, 1)
            if self.header.get(HEADER_KEY) != FORMAT_VERSION:
                raise StagedFileError(f"{self.uri}: unsupported staged file version {self.header.get(HEADER_KEY)!r}")
            pending = b""
        elif self.allow_plain:
            pending = first
        else:
            raise StagedFileError(f"{self.uri}: no staged file header on line 1")
        number = 1 if self.header is not None else 0
        lines = iter(stream) if not pending else _chain(pending, stream)
        for line in lines:
            number += 1
            if trailer is not None:
                raise StagedFileError(f"{self.uri}: data after the trailer on line {number}")
            if not line.endswith(b"\n"):
                if self.header is not None:
                    raise StagedFileError(f"{self.uri}: truncated: line {number} is incomplete")
                line += b"\n"  # plain JSON Lines may lack the final newline
            if line.startswith(TRAILER_PREFIX):
                trailer = self._json(line, number)
                continue
            if line == b"\n":
                continue
            digest.update(line)
            self.count += 1
            self.line_number = number
            yield line
        if self.header is None:
            return
        if trailer is None:
            raise StagedFileError(f"{self.uri}: truncated: no trailer after {self.count} records")
        if trailer.get("count") != self.count:
            raise StagedFileError(
                f"{self.uri}: corrupted: trailer counts {trailer.get('count')} records, file has {self.count}"
            )
        if trailer.get("sha256") != digest.hexdigest():
            raise StagedFileError(f"{self.uri}: corrupted: checksum does not match the trailer")

    def _check_tail(self, raw: IO[bytes]) -> None:
        """Refuse a truncated uncompressed file before any record is read."""
        if self.allow_plain or not raw.seekable():
            return
        size = raw.seek(0, io.SEEK_END)
        raw.seek(max(0, size - _TAIL_BYTES))
        tail = raw.read()
        raw.seek(0)
        last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        if not tail.endswith(b"\n") or not last.startswith(TRAILER_PREFIX):
            raise StagedFileError(f"{self.uri}: truncated: the file does not end with a trailer")

    def _json(self, line: bytes, number: int) -> dict[str, Any]:
        try:
            value = json.loads(line)
        except ValueError as error:
            raise StagedFileError(f"{self.uri}: line {number} is not JSON: {error}") from error
        if not isinstance(value, dict):
            raise StagedFileError(f"{self.uri}: line {number} is not a JSON object")
        return value


def _chain(first: bytes, rest: IO[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def read_records(uri: str, *, allow_plain: bool = False) -> Iterator[Record]:
    """Stream the records of a staged file (or plain JSON Lines when ``allow_plain``)."""
    return StagedFileReader(uri, allow_plain=allow_plain).records()
