"""Reading diagnostics bundles that may be hostile: every byte is checked, nothing trusted.

A bundle is a zip archive from outside. The reader:

- refuses archives past :attr:`BundleLimits.max_archive_bytes` on disk, and reads the
  end-of-central-directory record itself first, so that an archive claiming millions of
  entries or a huge central directory is refused before ``zipfile`` reads it
  (:class:`BundleTooManyEntries`, :class:`BundleTooLarge`);
- refuses entry names that could escape a directory (``..``, absolute paths, drive letters,
  backslashes, control characters: :class:`BundleUnsafePath`), symbolic links and other
  special files (:class:`BundleSymlink`), and two entries with one name, also when they
  differ only by case or by ``./`` (:class:`BundleDuplicateEntry`). Nothing is ever
  extracted to disk, but a name a tool could misuse is refused all the same;
- decompresses entries itself (stored or deflate only; encrypted entries and other methods
  are :class:`BundleUnsupportedEntry`), in chunks, **counting the bytes it really reads and
  produces** rather than the sizes the headers declare: an entry that expands more than
  :attr:`BundleLimits.max_ratio` times (once past :attr:`BundleLimits.ratio_grace_bytes`)
  is a zip bomb (:class:`BundleCompressionRatio`), and the bytes produced by the whole
  bundle are capped (:class:`BundleTooLarge`). Each refusal happens while streaming, so at
  most one chunk past the limit is ever produced;
- checks each entry's CRC-32 and real size against its central-directory record, the local
  header against the central one, and that the compressed stream ends where it should
  (:class:`BundleCorruptEntry`, :class:`BundleUnsupportedEntry`);
- parses JSON only up to :attr:`BundleLimits.max_json_bytes`, as strict UTF-8 and strict
  JSON: no duplicate keys, no ``NaN``/``Infinity``, bounded nesting
  (:class:`BundleNotUtf8`, :class:`BundleMalformedJson`);
- hands other entries over as text, decoded incrementally chunk by chunk.

Memory stays bounded whatever the archive's size: one compressed chunk, one decompressed
chunk, and at most one JSON document under its cap.
"""

from __future__ import annotations

import codecs
import itertools
import json
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from returns.result import Failure, Result, Success

from domain.diagnostics.errors import (
    BundleCompressionRatio,
    BundleCorruptEntry,
    BundleDuplicateEntry,
    BundleMalformedJson,
    BundleMissingFile,
    BundleNotAZip,
    BundleNotUtf8,
    BundleRefusal,
    BundleSymlink,
    BundleTooLarge,
    BundleTooManyEntries,
    BundleUnsafePath,
    BundleUnsupportedEntry,
)

KIB: Final = 1024
MIB: Final = 1024 * KIB
GIB: Final = 1024 * MIB


@dataclass(frozen=True, slots=True)
class BundleLimits:
    max_archive_bytes: int = 2 * GIB
    """The ``.zip`` file on disk."""
    max_total_bytes: int = 4 * GIB
    """Bytes produced by decompressing the whole bundle (measured, not declared)."""
    max_json_bytes: int = 8 * MIB
    """``metadata.json``, ``snapshot.json`` and ``trace.json`` each (they are parsed in memory)."""
    max_ratio: int = 100
    """Decompressed : compressed, per entry. Text and JSON compress 3-20x; deflate bombs ~1000x."""
    ratio_grace_bytes: int = MIB
    """The ratio is judged once an entry has produced this much (tiny files compress oddly)."""
    max_entries: int = 1000
    max_central_directory_bytes: int = 4 * MIB
    max_name_chars: int = 512
    max_json_depth: int = 64
    read_chunk_bytes: int = 64 * KIB
    output_chunk_bytes: int = 256 * KIB


class _Refused(Exception):
    """Internal: carries a refusal out of nested reading code (never leaves this module)."""

    def __init__(self, error: BundleRefusal) -> None:
        super().__init__(error.message)
        self.error = error


_EOCD: Final = struct.Struct("<4s4H2LH")
_EOCD_SIGNATURE: Final = b"PK\x05\x06"
_ZIP64_LOCATOR: Final = struct.Struct("<4sLQL")
_ZIP64_LOCATOR_SIGNATURE: Final = b"PK\x06\x07"
_ZIP64_EOCD: Final = struct.Struct("<4sQ2H2L4Q")
_ZIP64_EOCD_SIGNATURE: Final = b"PK\x06\x06"
_LOCAL_HEADER: Final = struct.Struct("<4s5H3L2H")
_LOCAL_SIGNATURE: Final = b"PK\x03\x04"
_MAX_COMMENT: Final = 0xFFFF
_DRIVE: Final = re.compile(r"^[A-Za-z]:")
_FLAG_ENCRYPTED: Final = 0x1
_FLAG_UTF8: Final = 0x800


def _check_directory_record(handle: BinaryIO, archive_size: int, limits: BundleLimits) -> None:
    """Read the end-of-central-directory record (and its zip64 form) before ``zipfile`` does."""
    tail_size = min(archive_size, _EOCD.size + _MAX_COMMENT)
    handle.seek(archive_size - tail_size)
    tail = handle.read(tail_size)
    at = tail.rfind(_EOCD_SIGNATURE)
    if at < 0 or len(tail) - at < _EOCD.size:
        raise _Refused(BundleNotAZip("no end-of-central-directory record"))
    _, _, _, _, entries, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
    if entries == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
        locator_at = at - _ZIP64_LOCATOR.size
        if locator_at < 0:
            raise _Refused(BundleNotAZip("zip64 record announced but missing"))
        signature, _, eocd64_offset, _ = _ZIP64_LOCATOR.unpack_from(tail, locator_at)
        if signature != _ZIP64_LOCATOR_SIGNATURE or eocd64_offset + _ZIP64_EOCD.size > archive_size:
            raise _Refused(BundleNotAZip("bad zip64 locator"))
        handle.seek(eocd64_offset)
        record = handle.read(_ZIP64_EOCD.size)
        if len(record) < _ZIP64_EOCD.size or record[:4] != _ZIP64_EOCD_SIGNATURE:
            raise _Refused(BundleNotAZip("bad zip64 end-of-central-directory record"))
        _, _, _, _, _, _, _, entries, cd_size, cd_offset = _ZIP64_EOCD.unpack(record)
    if entries > limits.max_entries:
        raise _Refused(BundleTooManyEntries(limits.max_entries))
    if cd_size > limits.max_central_directory_bytes:
        raise _Refused(BundleTooLarge("the central directory", limits.max_central_directory_bytes))
    if cd_size > archive_size:
        raise _Refused(BundleNotAZip("the central directory is larger than the archive"))


def _safe_name(raw: str, limits: BundleLimits) -> str:
    """The entry's normalised name, or a refusal for a name that could escape."""
    shown = raw[:80]
    if not raw or len(raw) > limits.max_name_chars:
        raise _Refused(BundleUnsafePath(shown, "empty or too long"))
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in raw):
        raise _Refused(BundleUnsafePath(shown, "control character in the name"))
    if "\\" in raw:
        raise _Refused(BundleUnsafePath(shown, "backslash in the name"))
    if raw.startswith("/") or _DRIVE.match(raw):
        raise _Refused(BundleUnsafePath(shown, "absolute path"))
    parts = raw.split("/")
    if ".." in parts:
        raise _Refused(BundleUnsafePath(shown, "path traversal (..)"))
    normalised = "/".join(part for part in parts if part not in {"", "."})
    if not normalised:
        raise _Refused(BundleUnsafePath(shown, "empty after normalisation"))
    return normalised + ("/" if raw.endswith("/") else "")


def _is_special(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    return kind not in {0, stat.S_IFREG, stat.S_IFDIR}


class _JsonRules:
    """Strict JSON: duplicate keys and non-finite numbers are refused, nesting is bounded."""

    @staticmethod
    def pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
        result: dict[str, object] = {}
        for key, value in pairs:
            if key in result:
                raise ValueError(f"duplicate key {key[:40]!r}")
            result[key] = value
        return result

    @staticmethod
    def constant(name: str) -> object:
        raise ValueError(f"{name} is not JSON")


def _deeper_than(document: object, limit: int) -> bool:
    """Whether arrays and objects nest deeper than ``limit`` (walked without recursion)."""
    stack: list[tuple[object, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth >= limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _refuse_overlaps(infos: Sequence[zipfile.ZipInfo]) -> None:
    """Entries whose data overlap another's (the non-recursive zip bomb: many entries that
    all point at one highly compressed kernel) are refused."""
    ordered = sorted(infos, key=lambda info: info.header_offset)
    for current, following in itertools.pairwise(ordered):
        name_bytes = len(
            current.orig_filename.encode("utf-8" if current.flag_bits & _FLAG_UTF8 else "cp437", "replace")
        )
        if (
            current.header_offset + _LOCAL_HEADER.size + name_bytes + current.compress_size
            > following.header_offset
        ):
            raise _Refused(BundleUnsupportedEntry(current.filename[:80], "overlaps another entry"))


class ZipBundle:
    """An opened bundle (satisfies ``application.ports.diagnostics.OpenedBundle``)."""

    def __init__(self, handle: BinaryIO, archive_size: int, limits: BundleLimits) -> None:
        self._handle = handle
        self._archive_size = archive_size
        self._limits = limits
        self._produced = 0
        try:
            self._zip = zipfile.ZipFile(handle)
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as error:
            raise _Refused(BundleNotAZip(str(error)[:200])) from None
        self._entries: dict[str, zipfile.ZipInfo] = {}
        seen: set[str] = set()
        for info in infos:
            name = _safe_name(info.orig_filename, limits)
            if _is_special(info):
                raise _Refused(BundleSymlink(name[:80]))
            folded = name.rstrip("/").casefold()
            if folded in seen:
                raise _Refused(BundleDuplicateEntry(name[:80]))
            seen.add(folded)
            if name.endswith("/"):
                continue
            if info.flag_bits & _FLAG_ENCRYPTED:
                raise _Refused(BundleUnsupportedEntry(name[:80], "encrypted"))
            if info.compress_type not in {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}:
                raise _Refused(BundleUnsupportedEntry(name[:80], f"compression method {info.compress_type}"))
            self._entries[name] = info
        declared = sum(info.file_size for info in self._entries.values())
        if declared > limits.max_total_bytes:
            raise _Refused(BundleTooLarge("the bundle (declared sizes)", limits.max_total_bytes))
        _refuse_overlaps(infos)

    @property
    def file_names(self) -> Sequence[str]:
        return tuple(self._entries)

    def close(self) -> None:
        self._zip.close()
        self._handle.close()

    # ------------------------------------------------------------------ reading

    def read_json(self, name: str) -> Result[object, BundleRefusal]:
        try:
            return Success(self._read_json(name))
        except _Refused as refused:
            return Failure(refused.error)

    def stream_text(self, name: str, sink: Callable[[str], None]) -> Result[None, BundleRefusal]:
        try:
            decoder = codecs.getincrementaldecoder("utf-8")("strict")
            fed = 0
            for chunk in self._chunks(name):
                pending = len(decoder.getstate()[0])
                try:
                    text = decoder.decode(chunk)
                except UnicodeDecodeError as error:
                    raise _Refused(BundleNotUtf8(name, fed - pending + error.start)) from None
                fed += len(chunk)
                if text:
                    sink(text)
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                raise _Refused(BundleNotUtf8(name, fed - len(decoder.getstate()[0]))) from None
            return Success(None)
        except _Refused as refused:
            return Failure(refused.error)

    def _read_json(self, name: str) -> object:
        cap = self._limits.max_json_bytes
        buffer = bytearray()
        for chunk in self._chunks(name):
            buffer += chunk
            if len(buffer) > cap:
                raise _Refused(BundleTooLarge(name, cap))
        try:
            text = buffer.decode("utf-8")
        except UnicodeDecodeError as error:
            raise _Refused(BundleNotUtf8(name, error.start)) from None
        del buffer
        if text.startswith("\ufeff"):
            raise _Refused(BundleMalformedJson(name, "byte order mark before the JSON text"))
        try:
            document = json.loads(
                text, object_pairs_hook=_JsonRules.pairs, parse_constant=_JsonRules.constant
            )
        except json.JSONDecodeError as error:
            raise _Refused(
                BundleMalformedJson(name, f"{error.msg} at line {error.lineno} column {error.colno}")
            ) from None
        except RecursionError:
            raise _Refused(BundleMalformedJson(name, "nested too deeply")) from None
        except ValueError as error:
            raise _Refused(BundleMalformedJson(name, str(error)[:200])) from None
        if _deeper_than(document, self._limits.max_json_depth):
            raise _Refused(
                BundleMalformedJson(name, f"nested deeper than {self._limits.max_json_depth} levels")
            )
        return document

    def _chunks(self, name: str) -> Iterator[bytes]:
        """The entry's bytes, decompressed chunk by chunk, every limit checked as they come."""
        info = self._entries.get(name)
        if info is None:
            raise _Refused(BundleMissingFile(name))
        start = self._data_start(name, info)
        stream = _EntryStream(
            self._handle,
            self._limits,
            name,
            info,
            data_start=start,
            bytes_to_archive_end=self._archive_size - start,
        )
        while (out := stream.next_chunk()) is not None:
            self._produced += len(out)
            if self._produced > self._limits.max_total_bytes:
                raise _Refused(BundleTooLarge("the bundle (decompressed)", self._limits.max_total_bytes))
            if out:
                yield out
        stream.check_end()

    def _data_start(self, name: str, info: zipfile.ZipInfo) -> int:
        """Where the entry's data starts, after checking its local header against the central one."""
        if info.header_offset + _LOCAL_HEADER.size > self._archive_size:
            raise _Refused(BundleCorruptEntry(name, "local header outside the archive"))
        self._handle.seek(info.header_offset)
        header = self._handle.read(_LOCAL_HEADER.size)
        if len(header) < _LOCAL_HEADER.size:
            raise _Refused(BundleCorruptEntry(name, "truncated local header"))
        signature, _, flags, method, _, _, _, _, _, name_length, extra_length = _LOCAL_HEADER.unpack(header)
        if signature != _LOCAL_SIGNATURE:
            raise _Refused(BundleCorruptEntry(name, "bad local header signature"))
        local_name = self._handle.read(name_length).decode(
            "utf-8" if flags & _FLAG_UTF8 else "cp437", "replace"
        )
        if local_name != info.orig_filename:
            raise _Refused(BundleUnsupportedEntry(name, "the local header names another file"))
        if method != info.compress_type or flags & _FLAG_ENCRYPTED:
            raise _Refused(BundleUnsupportedEntry(name, "local and central headers disagree"))
        start = info.header_offset + _LOCAL_HEADER.size + int(name_length) + int(extra_length)
        if start > self._archive_size:
            raise _Refused(BundleCorruptEntry(name, "entry data outside the archive"))
        return start


class _EntryStream:
    """One entry's data, decompressed by the reader itself; counts what it really reads and
    produces, so the headers' claims are checked, never relied on."""

    def __init__(
        self,
        handle: BinaryIO,
        limits: BundleLimits,
        name: str,
        info: zipfile.ZipInfo,
        *,
        data_start: int,
        bytes_to_archive_end: int,
    ) -> None:
        self._handle = handle
        self._limits = limits
        self._name = name
        self._info = info
        self._position = data_start
        self._left = min(info.compress_size, bytes_to_archive_end)
        self._inflater = (
            zlib.decompressobj(-zlib.MAX_WBITS) if info.compress_type == zipfile.ZIP_DEFLATED else None
        )
        self._pending = b""
        self._read = 0
        self._produced = 0
        self._crc = 0

    def _fill(self) -> None:
        if self._pending or self._left <= 0:
            return
        self._handle.seek(self._position)
        self._pending = self._handle.read(min(self._limits.read_chunk_bytes, self._left))
        if not self._pending:
            raise _Refused(BundleCorruptEntry(self._name, "the archive ends inside the entry"))
        self._left -= len(self._pending)
        self._position += len(self._pending)
        self._read += len(self._pending)

    def next_chunk(self) -> bytes | None:
        """The next piece of output (possibly empty), or ``None`` at the end of the entry."""
        if self._inflater is not None and self._inflater.eof:
            return None
        self._fill()
        if self._inflater is None:
            if not self._pending:
                return None
            out, self._pending = self._pending, b""
            consumed = self._read
        else:
            try:
                out = self._inflater.decompress(self._pending, self._limits.output_chunk_bytes)
            except zlib.error as error:
                raise _Refused(BundleCorruptEntry(self._name, f"deflate stream: {error}")) from None
            self._pending = self._inflater.unconsumed_tail
            if not out and not self._pending and self._left <= 0 and not self._inflater.eof:
                return None  # input exhausted, nothing more comes out: truncated (check_end says so)
            consumed = self._read - len(self._pending) - len(self._inflater.unused_data)
        self._produced += len(out)
        limits = self._limits
        if self._produced > limits.ratio_grace_bytes and self._produced > limits.max_ratio * max(consumed, 1):
            raise _Refused(BundleCompressionRatio(self._name, limits.max_ratio))
        if self._produced > self._info.file_size:
            raise _Refused(BundleCorruptEntry(self._name, "more data than its header declares"))
        self._crc = zlib.crc32(out, self._crc)
        return out

    def check_end(self) -> None:
        inflater = self._inflater
        if inflater is not None:
            if not inflater.eof:
                raise _Refused(BundleCorruptEntry(self._name, "the compressed stream is truncated"))
            if inflater.unused_data or self._pending or self._left > 0:
                raise _Refused(BundleCorruptEntry(self._name, "data after the end of the compressed stream"))
        if self._produced != self._info.file_size:
            raise _Refused(BundleCorruptEntry(self._name, "less data than its header declares"))
        if self._crc != self._info.CRC:
            raise _Refused(BundleCorruptEntry(self._name, "CRC-32 mismatch"))


class ZipBundleReader:
    """Opens bundles (satisfies ``application.ports.diagnostics.BundleReader``)."""

    def __init__(self, limits: BundleLimits | None = None) -> None:
        self.limits = limits or BundleLimits()

    def open(self, path: Path) -> Result[ZipBundle, BundleRefusal]:
        try:
            handle = path.open("rb")
        except OSError as error:
            return Failure(BundleNotAZip(f"cannot open the file: {error.strerror or error}"))
        try:
            status = os.fstat(handle.fileno())
            if not stat.S_ISREG(status.st_mode):
                raise _Refused(BundleNotAZip("not a regular file"))
            if status.st_size > self.limits.max_archive_bytes:
                raise _Refused(BundleTooLarge("the archive", self.limits.max_archive_bytes))
            _check_directory_record(handle, status.st_size, self.limits)
            return Success(ZipBundle(handle, status.st_size, self.limits))
        except _Refused as refused:
            handle.close()
            return Failure(refused.error)
        except BaseException:
            handle.close()
            raise
