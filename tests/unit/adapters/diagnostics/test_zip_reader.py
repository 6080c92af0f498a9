"""Hostile bundles are refused cleanly, each with its typed error; memory stays bounded."""

from __future__ import annotations

import json
import os
import struct
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import pytest
from returns.result import Failure, Success

from adapters.diagnostics.zip_reader import MIB, BundleLimits, ZipBundle, ZipBundleReader
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
from tests.fakes.bundles import add_entry, clean_files, encode, symlink_info, write_bundle

BUNDLE = "trace-20260301T120000Z-ui.zip"


def opened(path: Path, limits: BundleLimits | None = None) -> ZipBundle:
    result = ZipBundleReader(limits).open(path)
    assert isinstance(result, Success), result
    bundle: ZipBundle = result.unwrap()
    return bundle


def refusal_at_open(path: Path, limits: BundleLimits | None = None) -> BundleRefusal:
    result = ZipBundleReader(limits).open(path)
    assert isinstance(result, Failure), "the bundle should have been refused"
    refusal: BundleRefusal = result.failure()
    return refusal


def read_everything(bundle: ZipBundle) -> BundleRefusal | None:
    """Read every entry the way the inspector does; the first refusal, if any."""
    for name in bundle.file_names:
        result = (
            bundle.read_json(name) if name.endswith(".json") else bundle.stream_text(name, lambda _: None)
        )
        if isinstance(result, Failure):
            refusal: BundleRefusal = result.failure()
            return refusal
    return None


def refusal_while_reading(path: Path, limits: BundleLimits | None = None) -> BundleRefusal:
    bundle = opened(path, limits)
    try:
        refusal = read_everything(bundle)
    finally:
        bundle.close()
    assert refusal is not None, "the bundle should have been refused"
    return refusal


def patch_declared_size(path: Path, name: str, size: int) -> None:
    """Make both headers of ``name`` claim ``size`` bytes uncompressed (a lying header)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
    struct.pack_into("<L", data, info.header_offset + 22, size)
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        name_length = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + name_length] == name.encode():
            struct.pack_into("<L", data, central + 24, size)
            break
        central = data.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(data))


def write_zeros(path: Path, name: str, size: int, *, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    files = clean_files()
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for entry, content in files.items():
            archive.writestr(entry, encode(content))
        with archive.open(name, "w", force_zip64=True) as sink:
            for _ in range(size // MIB):
                sink.write(bytes(MIB))
    return path


# ----------------------------------------------------------------------------- a clean bundle


def test_a_clean_bundle_reads_entirely(tmp_path: Path) -> None:
    bundle = opened(write_bundle(tmp_path / BUNDLE))
    try:
        assert list(bundle.file_names) == ["metadata.json", "snapshot.json", "trace.json", "logs/app.log"]
        assert read_everything(bundle) is None
        assert isinstance(bundle.read_json("metadata.json").unwrap(), dict)
        chunks: list[str] = []
        assert bundle.stream_text("logs/app.log", chunks.append) == Success(None)
        assert "".join(chunks) == clean_files()["logs/app.log"]
    finally:
        bundle.close()


def test_multibyte_characters_split_across_chunks_are_fine(tmp_path: Path) -> None:
    text = "ñandú São Paulo 東京 🎁 " * 50
    path = write_bundle(
        tmp_path / BUNDLE, {**clean_files(), "logs/app.log": text}, compression=zipfile.ZIP_STORED
    )
    bundle = opened(path, BundleLimits(read_chunk_bytes=1))  # one byte at a time
    chunks: list[str] = []
    assert bundle.stream_text("logs/app.log", chunks.append) == Success(None)
    bundle.close()
    assert "".join(chunks) == text


# ----------------------------------------------------------------------------- zip bombs


def test_bomb_by_compression_ratio(tmp_path: Path) -> None:
    path = write_zeros(tmp_path / BUNDLE, "logs/zeros.log", 20 * MIB)
    refusal = refusal_while_reading(path)
    assert isinstance(refusal, BundleCompressionRatio)
    assert refusal.code == "BUNDLE_COMPRESSION_RATIO"
    assert refusal.entry == "logs/zeros.log"


def test_bomb_by_total_size_measured_while_streaming(tmp_path: Path) -> None:
    path = write_zeros(tmp_path / BUNDLE, "logs/big.log", 3 * MIB, compression=zipfile.ZIP_STORED)
    refusal = refusal_at_open(path, BundleLimits(max_total_bytes=2 * MIB))  # declared sizes: refused at once
    assert isinstance(refusal, BundleTooLarge)
    patch_declared_size(path, "logs/big.log", 1000)  # now the headers lie: 1000 bytes
    refusal = refusal_while_reading(path, BundleLimits(max_total_bytes=2 * MIB))
    assert isinstance(refusal, BundleTooLarge | BundleCorruptEntry)  # caught by measuring, not by trusting


def test_a_bomb_whose_headers_claim_a_small_size_is_still_refused(tmp_path: Path) -> None:
    path = write_zeros(tmp_path / BUNDLE, "logs/zeros.log", 20 * MIB)
    patch_declared_size(path, "logs/zeros.log", 10)
    refusal = refusal_while_reading(path)
    assert isinstance(refusal, BundleCorruptEntry)
    assert "more data than its header declares" in refusal.reason
    refusal = refusal_while_reading(path, BundleLimits(ratio_grace_bytes=0))
    assert isinstance(refusal, BundleCompressionRatio)


def test_an_archive_too_large_on_disk(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / BUNDLE)
    refusal = refusal_at_open(path, BundleLimits(max_archive_bytes=100))
    assert isinstance(refusal, BundleTooLarge)
    assert refusal.what == "the archive"


def test_too_many_entries_are_refused_before_zipfile_reads_them(tmp_path: Path) -> None:
    files = {**clean_files(), **{f"logs/{n}.log": "x" for n in range(20)}}
    refusal = refusal_at_open(write_bundle(tmp_path / BUNDLE, files), BundleLimits(max_entries=10))
    assert isinstance(refusal, BundleTooManyEntries)


def test_a_json_file_past_its_cap(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / BUNDLE)
    bundle = opened(path, BundleLimits(max_json_bytes=64))
    result = bundle.read_json("trace.json")
    bundle.close()
    assert isinstance(result, Failure)
    assert result.failure() == BundleTooLarge("trace.json", 64)


def test_overlapping_entries(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / BUNDLE)
    data = bytearray(path.read_bytes())
    first = data.find(b"PK\x01\x02")
    second = data.find(b"PK\x01\x02", first + 4)
    offset = struct.unpack_from("<L", data, first + 42)[0]
    struct.pack_into("<L", data, second + 42, offset)  # the second entry points at the first's data
    path.write_bytes(bytes(data))
    refusal = refusal_at_open(path)
    assert isinstance(refusal, BundleUnsupportedEntry)
    assert "overlaps" in refusal.reason


# ----------------------------------------------------------------------------- names and types


@pytest.mark.parametrize(
    "name",
    ["../evil.txt", "logs/../../evil.txt", "/etc/passwd", "C:/Windows/evil.txt", "logs\\..\\evil.txt"],
)
def test_path_traversal_and_absolute_names(tmp_path: Path, name: str) -> None:
    path = add_entry(write_bundle(tmp_path / BUNDLE), zipfile.ZipInfo(name), b"x")
    refusal = refusal_at_open(path)
    assert isinstance(refusal, BundleUnsafePath)
    assert refusal.code == "BUNDLE_UNSAFE_PATH"


def test_a_nul_byte_in_a_name(tmp_path: Path) -> None:
    path = add_entry(write_bundle(tmp_path / BUNDLE), zipfile.ZipInfo("logs/a_b.txt"), b"x")
    path.write_bytes(path.read_bytes().replace(b"logs/a_b.txt", b"logs/a\x00b.txt"))  # zipfile would cut it
    refusal = refusal_at_open(path)
    assert isinstance(refusal, BundleUnsafePath)
    assert refusal.code == "BUNDLE_UNSAFE_PATH"


def test_symlinks(tmp_path: Path) -> None:
    path = add_entry(write_bundle(tmp_path / BUNDLE), symlink_info("logs/passwd"), b"/etc/passwd")
    refusal = refusal_at_open(path)
    assert refusal == BundleSymlink("logs/passwd")


@pytest.mark.parametrize(("first", "second"), [("trace.json", "trace.json"), ("trace.json", "Trace.JSON"),
                                               ("trace.json", "./trace.json")])  # fmt: skip
def test_duplicate_entries(tmp_path: Path, first: str, second: str) -> None:
    path = write_bundle(tmp_path / BUNDLE, {"metadata.json": {}, first: {}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate we are making
        add_entry(path, zipfile.ZipInfo(second), b"{}")
    assert isinstance(refusal_at_open(path), BundleDuplicateEntry)


def test_unsupported_compression(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / BUNDLE, compression=zipfile.ZIP_BZIP2)
    refusal = refusal_at_open(path)
    assert isinstance(refusal, BundleUnsupportedEntry)
    assert "compression method" in refusal.reason


def test_encrypted_entries(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / BUNDLE)
    data = bytearray(path.read_bytes())
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 8, struct.unpack_from("<H", data, central + 8)[0] | 0x1)
    path.write_bytes(bytes(data))
    refusal = refusal_at_open(path)
    assert refusal == BundleUnsupportedEntry("metadata.json", "encrypted")


# ----------------------------------------------------------------------------- damaged archives


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x05\x06" + bytes(10)])
def test_not_a_zip(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / BUNDLE
    path.write_bytes(content)
    assert isinstance(refusal_at_open(path), BundleNotAZip)


def test_a_directory_or_a_missing_file_is_not_a_zip(tmp_path: Path) -> None:
    assert isinstance(refusal_at_open(tmp_path), BundleNotAZip)
    assert isinstance(refusal_at_open(tmp_path / "missing.zip"), BundleNotAZip)


def test_a_truncated_archive(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / BUNDLE)
    path.write_bytes(path.read_bytes()[:-30])
    assert isinstance(refusal_at_open(path), BundleNotAZip)


def test_a_damaged_entry_fails_its_crc(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / BUNDLE, compression=zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    at = data.find(b"sync started")
    data[at] ^= 0x20
    path.write_bytes(bytes(data))
    refusal = refusal_while_reading(path)
    assert refusal == BundleCorruptEntry("logs/app.log", "CRC-32 mismatch")


# ----------------------------------------------------------------------------- text and JSON


def test_bad_utf8_in_a_text_entry_names_the_byte(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / BUNDLE, {**clean_files(), "logs/app.log": b"fine\n\xff\xfe rest"})
    refusal = refusal_while_reading(path)
    assert refusal == BundleNotUtf8("logs/app.log", 5)


def test_bad_utf8_at_the_end_of_a_text_entry(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / BUNDLE, {**clean_files(), "logs/app.log": b"fine \xe2\x82"})  # cut short
    assert refusal_while_reading(path) == BundleNotUtf8("logs/app.log", 5)


def test_bad_utf8_in_json(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / BUNDLE, {**clean_files(), "trace.json": b'{"spans": ["\xc3\x28"]}'})
    assert refusal_while_reading(path) == BundleNotUtf8("trace.json", 12)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"spans": [', "Expecting value"),
        (b'{"spans": [], "spans": []}', "duplicate key"),
        (b'{"ms": NaN}', "NaN is not JSON"),
        (b'{"ms": Infinity}', "Infinity is not JSON"),
        (b'\xef\xbb\xbf{"spans": []}', "byte order mark"),
        (b"[" * 100 + b"]" * 100, "nested deeper than 64"),
        (b"[" * 100_000 + b"]" * 100_000, "nested"),
        (b'{"n": ' + b"9" * 5000 + b"}", "digits"),
    ],
)
def test_malformed_json(tmp_path: Path, content: bytes, reason: str) -> None:
    path = write_bundle(tmp_path / BUNDLE, {**clean_files(), "trace.json": content})
    refusal = refusal_while_reading(path)
    assert isinstance(refusal, BundleMalformedJson)
    assert reason in refusal.reason


def test_a_missing_entry(tmp_path: Path) -> None:
    bundle = opened(write_bundle(tmp_path / BUNDLE, {"metadata.json": {}}))
    result = bundle.read_json("trace.json")
    bundle.close()
    assert isinstance(result, Failure)
    assert result.failure() == BundleMissingFile("trace.json")


def test_directories_are_not_files(tmp_path: Path) -> None:
    path = add_entry(write_bundle(tmp_path / BUNDLE), zipfile.ZipInfo("logs/"), b"")
    bundle = opened(path)
    assert "logs/" not in bundle.file_names
    bundle.close()


# ----------------------------------------------------------------------------- bounded memory


def test_streaming_a_large_entry_holds_only_a_few_chunks(tmp_path: Path) -> None:
    lines = "".join(
        json.dumps({"level": "INFO", "msg": "sync", "id": os.urandom(16).hex()}) + "\n" for _ in range(16_000)
    )
    block = lines.encode()[:MIB]  # distinct lines: compresses about 2:1, like real logs
    path = tmp_path / BUNDLE
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for entry, content in clean_files().items():
            archive.writestr(entry, encode(content))
        with archive.open("logs/big.log", "w") as sink:
            for _ in range(48):
                sink.write(block)
    bundle = opened(path)
    received = 0

    def count(text: str) -> None:
        nonlocal received
        received += len(text)

    tracemalloc.start()
    try:
        assert bundle.stream_text("logs/big.log", count) == Success(None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        bundle.close()
    assert received > 45 * MIB
    assert peak < 4 * MIB, f"peak {peak} bytes while streaming {received} characters"
