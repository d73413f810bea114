"""The staged file: JSON Lines between a header and a trailer, optionally gzip-compressed.

::

    {"staged_file": 2, "content": "records", "producer": "...", "kinds": [...]}
    {"kind": "table", ...}                                    one record per line
    {"staged_file_end": true, "count": 2, "crc32": "1a2b3c4d"}

The trailer's count and CRC-32 (of every byte before it, the header's too; version 1 files, still read,
have a SHA-256 of the record lines) let a reader refuse a file whose writer was killed, or that was damaged
after writing; lines end with LF only and none is blank. A file some of whose records lost their column
samples (left out by its writer, or before) says so (``"samples_left_out": true``), so a reader that uses them
refuses it rather than judge without them. Files are written atomically and read and written
as streams; the same records give the same bytes (no timestamps, gzip included), so a retried task
reproduces its output.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import hashlib
import io
import json
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, Any, Protocol

from airflow_provider_ingest.errors import InputError
from airflow_provider_ingest.records import KIND_ORDER, Entity, Record, RecordError, parse_record, staged_line_of
from airflow_provider_ingest.records.lines import RecordLine
from airflow_provider_ingest.staging import paths
from airflow_provider_ingest.terminal import counted

FORMAT_VERSION = 2
"""The version written: its trailer's checksum is a CRC-32 of every byte before it."""
CHECKSUMS = {1: "sha256", 2: "crc32"}
"""The trailer's checksum by version read: version 1 (older releases' files, a ``file`` sink's exports among them) had a
SHA-256 of the record lines, three times slower to compute."""
HEADER_KEY = "staged_file"
SAMPLES_LEFT_OUT = "samples_left_out"
"""The trailer's key saying that records of the file lost their column samples (:class:`SamplesLeftOutError`)."""
HEADER_PREFIX = b'{"staged_file"'
TRAILER_PREFIX = b'{"staged_file_end"'
CONTENTS = ("records", "dead_letters")
GZIP_MAGIC = b"\x1f\x8b"
MAX_LINE_BYTES = 64 * 1024 * 1024
"""Longest line a reader takes (one record): a bound on memory, also against a gzip bomb."""
_TAIL_BYTES = 4096
_CHUNK_BYTES = 1 << 20


class StagedFileError(InputError):
    """A staged file that is truncated, corrupted or not a staged file at all."""


class SamplesLeftOutError(InputError):
    """A staged file some of whose records lost the column samples a component reading it uses: they have to be
    handed on to it (the message says how), or their use turned off."""


class OnInvalid(Protocol):
    """What a reader calls with a line that is not a record: the message, and the line's text (``Component.fail``)."""

    def __call__(self, message: str, /, *, raw: str) -> None: ...


def _compressed(uri: str, compression: str) -> bool:
    if compression == "auto":
        return uri.endswith(".gz")
    return compression == "gzip"


def check_line_length(line: bytes) -> None:
    """Raise :class:`RecordError` for a record line longer than :data:`MAX_LINE_BYTES`, which no reader takes."""
    if len(line) > MAX_LINE_BYTES:
        raise RecordError(
            f"the record is {len(line):,} bytes of JSON, more than the {MAX_LINE_BYTES:,} a staged file line holds"
        )


class StagedFileWriter:
    """Writes a staged file atomically; use as a context manager, which commits on success.

    Column samples are dropped unless ``keep_samples`` (a file that processors will read); the trailer says when
    some were, or when ``samples_left_out`` is set (records that lost them before).
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
        self.samples_left_out = False
        self._header = {
            HEADER_KEY: FORMAT_VERSION,
            "content": content,
            "producer": producer,
            "kinds": sorted(kinds),
        }
        self._gzip = _compressed(uri, compression)
        self._crc = 0
        self._atomic: Any = None
        self._stream: IO[bytes] | None = None
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    def __enter__(self) -> StagedFileWriter:
        self._atomic = paths.atomic_write(self.uri)
        raw = self._atomic.__enter__()
        self._stream = (
            gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=5, mtime=0) if self._gzip else raw
        )
        header = json.dumps(self._header).encode() + b"\n"
        self._crc = zlib.crc32(header)
        self._stream.write(header)
        return self

    def write_line(self, line: str | bytes) -> None:
        """Append one record's JSON text: one line, not blank, no line end, at most :data:`MAX_LINE_BYTES` (what
        every reader takes); a longer one is a :class:`RecordError`, failing that record alone."""
        data = line.encode() if isinstance(line, str) else line
        if not data.strip() or b"\n" in data or b"\r" in data:
            raise StagedFileError(f"{self.uri}: a record line must be one line of text, not {line[:60]!r}")
        check_line_length(data)
        self._append(data)

    def write(self, record: Entity | RecordLine) -> None:
        """Append one record: the line it was read from or made as (a :class:`RecordLine`), if it has one and
        nothing changed it, or its serialization; one line of JSON, its length checked."""
        line, left_out = staged_line_of(record, keep_samples=self.keep_samples)
        check_line_length(line)
        self.samples_left_out |= left_out
        self._append(line)

    def _append(self, data: bytes) -> None:
        self._pending.append(data)
        self._pending_bytes += len(data)
        self.count += 1
        if self._pending_bytes >= _CHUNK_BYTES:
            self._write_pending()

    def _write_pending(self) -> None:
        """Checksum and write the lines held back: about a megabyte at a time, not a call per line."""
        self._pending.append(b"")
        chunk = b"\n".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        if chunk:
            self._crc = zlib.crc32(chunk, self._crc)
            self._stream.write(chunk)  # type: ignore[union-attr]

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        try:
            if exc is None and self._stream is not None:
                self._write_pending()
                trailer: dict[str, Any] = {"staged_file_end": True, "count": self.count, "crc32": f"{self._crc:08x}"}
                if self.samples_left_out:
                    trailer[SAMPLES_LEFT_OUT] = True
                self._stream.write(json.dumps(trailer).encode() + b"\n")
                if self._gzip:
                    self._stream.close()
        except BaseException as error:
            exc = error
            raise
        finally:
            self._close(exc)

    def _close(self, exc: BaseException | None) -> None:
        """Commit the file, or drop it after ``exc``."""
        stream, self._stream = self._stream, None
        if exc is not None and self._gzip and stream is not None:
            with contextlib.suppress(Exception):  # the file is dropped: a full disk may refuse the gzip end too
                stream.close()
        self._atomic.__exit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)


class StagedFileReader:
    """Reads a staged file as a stream, checking every line, then the trailer's count and checksum.

    With ``allow_plain``, a file without a staged file header is read as plain JSON Lines of records
    (blank lines skipped, CRLF line ends and a UTF-8 BOM accepted); a staged file is still checked.
    ``samples_for`` names the component reading the records that uses their column samples: a file that says some
    lost them is refused when it is checked (:class:`SamplesLeftOutError`).
    """

    def __init__(self, uri: str, *, allow_plain: bool = False, samples_for: str | None = None) -> None:
        self.uri = uri
        self.allow_plain = allow_plain
        self.samples_for = samples_for
        self.header: dict[str, Any] | None = None
        self.samples_left_out = False
        """Whether the file says some of its records lost their column samples (its trailer; known once read)."""
        self.count = 0
        self.line_number = 0

    def verify(self) -> int:
        """Read the whole file and check it as :meth:`lines` does; return its number of records."""
        for _ in self.lines():
            pass
        return self.count

    def lines(self) -> Iterator[bytes]:
        """Yield each record line (newline included); raise :class:`StagedFileError` on a bad or incomplete file."""
        with self._opened() as raw:
            yield from self._lines(raw)

    def checked_lines(self) -> Iterator[bytes]:
        """:meth:`lines`, the whole file checked before the first is given (a damaged file gives none): one open
        file read twice, checked both times (a file rewritten in place between the two fails, not a mix)."""
        with self._opened() as raw:
            for _ in self._lines(raw):
                pass
            raw.seek(0)
            yield from self._lines(raw)

    def records(self, on_invalid: OnInvalid | None = None, *, checked: bool = False) -> Iterator[Record]:
        """Yield each record; a line that is not a record raises, or goes to ``on_invalid(message, raw=line)``;
        ``checked``: the whole file is checked first (:meth:`checked_lines`)."""
        for line in self.checked_lines() if checked else self.lines():
            record = self.parse(line, on_invalid)
            if record is not None:
                yield record

    @contextlib.contextmanager
    def _opened(self) -> Iterator[IO[bytes]]:
        try:
            raw = paths.open_read(self.uri)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as error:
            raise StagedFileError(f"{self.uri}: cannot be read: {error.strerror or error}") from None
        with raw:
            yield raw

    def _lines(self, raw: IO[bytes]) -> Iterator[bytes]:
        self.header, self.count, self.line_number = None, 0, 0
        gzipped = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        stream = io.BufferedReader(_Gunzip(raw, self.uri), buffer_size=1 << 20) if gzipped else raw
        yield from self._body(stream)

    def parse(self, line: bytes, on_invalid: OnInvalid | None = None) -> Record | None:
        """The record on the line :meth:`lines` just gave; if it is none, raise or call ``on_invalid`` and return None.

        ``on_invalid`` gets the message (file, line number, reason) and, as ``raw``, the line's text. A staged file's
        line is validated strictly, as this package writes it, and kept to be written again as it is where it is
        safe to (:meth:`BaseRecord.read_from`).
        """
        staged = self.header is not None
        try:
            record = parse_record(line, strict=staged)
        except RecordError as error:
            message = f"{self.uri}: line {self.line_number} is not a valid record: {error}"
            if on_invalid is None:
                raise StagedFileError(message) from None
            on_invalid(message, raw=without_samples(line.decode("utf-8", "backslashreplace").rstrip("\r\n")))
            return None
        if staged:
            record.read_from(line[:-1])
        return record

    def _body(self, stream: IO[bytes]) -> Iterator[bytes]:
        first = stream.readline(MAX_LINE_BYTES + 1)
        if not first:
            raise StagedFileError(f"{self.uri}: empty file, not a staged file")
        bom = first.startswith(codecs.BOM_UTF8)
        text = first[len(codecs.BOM_UTF8) :] if bom else first
        if self.allow_plain and not text.startswith(HEADER_PREFIX):
            yield from self._plain(text, stream)
            return
        if bom:
            raise StagedFileError(
                f"{self.uri}: line 1 starts with a UTF-8 byte order mark: not a staged file as written "
                "(was it saved by a text editor?)"
            )
        self.header = self._header(first)
        self._check_tail(stream)
        yield from self._staged(stream, first, self.header[HEADER_KEY])

    def _header(self, line: bytes) -> dict[str, Any]:
        if not line.startswith(HEADER_PREFIX):
            raise StagedFileError(
                f"{self.uri}: no staged file header on line 1 "
                "(plain JSON Lines are read only by the file source, with format: jsonl)"
            )
        self._check_line_end(line, 1)
        header = self._json(line, 1)
        version = header.get(HEADER_KEY)
        if type(version) is not int or version not in CHECKSUMS:
            raise StagedFileError(f"{self.uri}: unsupported staged file version {version!r}")
        kinds = header.get("kinds")
        if (
            header.keys() != {HEADER_KEY, "content", "producer", "kinds"}
            or header["content"] not in CONTENTS
            or not isinstance(header["producer"], str)
            or not isinstance(kinds, list)
            or not all(isinstance(kind, str) and kind in KIND_ORDER for kind in kinds)
        ):
            raise StagedFileError(f"{self.uri}: corrupted: line 1 is not a valid staged file header")
        return header

    def _staged(self, stream: IO[bytes], header: bytes, version: int) -> Iterator[bytes]:
        """The record lines after the ``header`` line of a file of ``version``; every byte up to the trailer counts
        in the checksum: the header's too, but in version 1, whose SHA-256 is of the record lines alone."""
        key = CHECKSUMS[version]
        legacy = hashlib.sha256() if version == 1 else None
        crc = zlib.crc32(header)
        trailer: dict[str, Any] | None = None
        readline = stream.readline
        number = 1
        while line := readline(MAX_LINE_BYTES + 1):
            number += 1
            if trailer is not None:
                raise StagedFileError(f"{self.uri}: corrupted: data after the trailer on line {number}")
            self._check_line_end(line, number)
            if line.startswith(TRAILER_PREFIX):
                trailer = self._trailer(line, number, key)
                continue
            if legacy is None:
                crc = zlib.crc32(line, crc)
            else:
                legacy.update(line)
            if line.isspace():
                raise StagedFileError(f"{self.uri}: corrupted: line {number} is blank")
            self.count += 1
            self.line_number = number
            yield line
        if trailer is None:
            raise StagedFileError(f"{self.uri}: truncated: no trailer after {counted(self.count, 'record')}")
        if trailer["count"] != self.count:
            raise StagedFileError(
                f"{self.uri}: corrupted: trailer counts {counted(trailer['count'], 'record')}, file has {self.count}"
            )
        found = f"{crc:08x}" if legacy is None else legacy.hexdigest()
        if trailer[key] != found:
            raise StagedFileError(f"{self.uri}: corrupted: checksum does not match the trailer")
        self.samples_left_out = trailer.get(SAMPLES_LEFT_OUT, False)
        if self.samples_left_out and self.samples_for is not None:
            raise SamplesLeftOutError(
                f"{self.uri}: written with the column samples of some tables left out, here or before,"
                f" which {self.samples_for} uses: have them handed on (an Airflow task keeps them for the tasks"
                " downstream of it that use them, not for one reading its output through a template: run it again"
                " once it is so; a pii processor, a file sink, with keep_samples), or turn their use off"
                " (use_samples: false)"
            )

    def _plain(self, first: bytes, stream: IO[bytes]) -> Iterator[bytes]:
        """Plain JSON Lines: every non-blank line is a record; the last may lack its newline."""
        readline = stream.readline
        line, number = first, 1
        while line:
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):  # longer, its newline not counted
                raise StagedFileError(f"{self.uri}: line {number} is longer than {MAX_LINE_BYTES:,} bytes")
            if line.startswith(TRAILER_PREFIX):
                raise StagedFileError(
                    f"{self.uri}: line {number} is a staged file trailer, but line 1 is no staged file header: "
                    "the header is damaged"
                )
            if not line.isspace():
                self.count += 1
                self.line_number = number
                yield line if line.endswith(b"\n") else line + b"\n"
            line, number = readline(MAX_LINE_BYTES + 1), number + 1

    def _check_line_end(self, line: bytes, number: int) -> None:
        """A staged file line ends with LF, written whole; CRLF means the file was converted after writing."""
        if not line.endswith(b"\n"):
            if len(line) > MAX_LINE_BYTES:
                raise StagedFileError(f"{self.uri}: corrupted: line {number} is longer than {MAX_LINE_BYTES:,} bytes")
            raise StagedFileError(f"{self.uri}: truncated: line {number} is incomplete")
        if line.endswith(b"\r\n"):
            raise StagedFileError(
                f"{self.uri}: line {number} ends with CRLF (Windows line end); staged files are written with LF "
                "only, so this one was changed after writing (a text editor, or git's autocrlf?)"
            )

    def _trailer(self, line: bytes, number: int, key: str) -> dict[str, Any]:
        """The trailer on line ``number``, its checksum under ``key``: no other key, none twice (the checksum does not
        cover the trailer: a damaged one is refused, not read another way)."""
        trailer = self._json(line, number, unique=True)
        count, checksum = trailer.get("count"), trailer.get(key)
        if (
            trailer.get("staged_file_end") is not True
            or type(count) is not int
            or not isinstance(checksum, str)
            or trailer.get(SAMPLES_LEFT_OUT, True) is not True
            or not trailer.keys() <= {"staged_file_end", "count", key, SAMPLES_LEFT_OUT}
        ):
            raise StagedFileError(f"{self.uri}: corrupted: line {number} is not a valid trailer")
        return trailer

    def _check_tail(self, stream: IO[bytes]) -> None:
        """Refuse a truncated uncompressed file before any record is read."""
        if not stream.seekable():
            return
        position = stream.tell()
        size = stream.seek(0, io.SEEK_END)
        stream.seek(max(position, size - _TAIL_BYTES))
        tail = stream.read()
        stream.seek(position)
        lines = b"\n" + tail
        start = lines.rfind(b"\n" + TRAILER_PREFIX)
        end = lines.find(b"\n", start + 1) if start >= 0 else -1
        if end == len(lines) - 1:
            return
        if end >= 0:
            raise StagedFileError(f"{self.uri}: corrupted: data after the trailer")
        raise StagedFileError(f"{self.uri}: truncated: the file does not end with a trailer")

    def _json(self, line: bytes, number: int, *, unique: bool = False) -> dict[str, Any]:
        try:
            value = json.loads(line, object_pairs_hook=_unique if unique else None)
        except (ValueError, RecursionError) as error:
            raise StagedFileError(f"{self.uri}: corrupted: line {number} is not JSON: {error}") from None
        if not isinstance(value, dict):
            raise StagedFileError(f"{self.uri}: corrupted: line {number} is not a JSON object")
        return value


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are each given once (``json.loads`` keeps the last of two silently)."""
    value = dict(pairs)
    if len(value) != len(pairs):
        raise ValueError("a key is given twice")
    return value


def without_samples(text: str) -> str:
    """A line that is no valid record, as its dead letter keeps it: column samples (raw values of the user's tables)
    taken out of JSON; text that is not JSON is cut where it may name them (``samples``, or a ``\\u`` escape)."""
    if "samples" not in text and "\\u" not in text:
        return text
    try:
        return json.dumps(_drop_samples(json.loads(text)))  # ASCII: a lone surrogate stays an escape
    except (ValueError, RecursionError):
        cut = min(index for index in (text.find("samples"), text.find("\\u")) if index >= 0)
        return text[:cut] + " ... (cut: the rest may hold column samples)"


def _drop_samples(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _drop_samples(item) for key, item in value.items() if key != "samples"}
    if isinstance(value, list):
        return [_drop_samples(item) for item in value]
    return value


class _Gunzip(io.RawIOBase):
    """The bytes of exactly one gzip member: a cut stream, a bad CRC or any byte after the member is refused."""

    def __init__(self, compressed: IO[bytes], uri: str) -> None:
        self._compressed = compressed
        self._uri = uri
        self._inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        self._checked_end = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        inflate = self._inflate
        while not inflate.eof:
            data = inflate.unconsumed_tail or self._compressed.read(_CHUNK_BYTES)
            if not data:
                raise StagedFileError(f"{self._uri}: truncated: the gzip stream ends early")
            try:
                out = inflate.decompress(data, len(buffer))
            except zlib.error as error:
                reason = str(error).rpartition(": ")[2]  # "Error -3 while decompressing data: incorrect data check"
                raise StagedFileError(f"{self._uri}: corrupted: gzip stream: {reason}") from None
            if out:
                buffer[: len(out)] = out
                return len(out)
        if not self._checked_end:
            self._checked_end = True
            if inflate.unused_data or self._compressed.read(1):
                raise StagedFileError(f"{self._uri}: corrupted: data after the end of the gzip stream")
        return 0


def verify_staged_file(uri: str) -> int:
    """Check a whole staged file (header, every line, count, checksum, trailer; gzip stream whole); return its count."""
    return StagedFileReader(uri).verify()


def read_records(uri: str, *, allow_plain: bool = False) -> Iterator[Record]:
    """Stream the records of a staged file (or plain JSON Lines when ``allow_plain``)."""
    return StagedFileReader(uri, allow_plain=allow_plain).records()
