"""The directory of uploaded bundles (``SUPPORTOS_BUNDLE_DIR``), for the retention purge.

Only regular files named ``trace-<timestamp>-<channel>.zip`` directly in the directory
are ever listed or removed: no recursion, no symbolic links followed, nothing else touched.
A bundle's country is read from its ``metadata.json`` through the hostile-input reader.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from returns.result import Success

from adapters.diagnostics.zip_reader import ZipBundleReader
from application.ports.diagnostics import StoredBundle
from domain.diagnostics.bundle import METADATA, BundleName
from domain.shared import CountryCode


class DirectoryBundleStore:
    """Satisfies ``application.ports.diagnostics.BundleStore``."""

    def __init__(self, directory: Path, reader: ZipBundleReader | None = None) -> None:
        self._directory = directory
        self._reader = reader or ZipBundleReader()

    @property
    def location(self) -> str:
        return str(self._directory)

    def bundles(self) -> list[StoredBundle]:
        try:
            entries = list(os.scandir(self._directory))
        except (FileNotFoundError, NotADirectoryError):
            return []
        found = []
        for entry in entries:
            name = BundleName.parse(entry.name)
            if name is not None and entry.is_file(follow_symlinks=False):
                found.append(StoredBundle(name, entry.stat(follow_symlinks=False).st_size))
        return sorted(found, key=lambda bundle: (bundle.name.created_at, bundle.name.file_name))

    def country_of(self, file_name: str) -> CountryCode | None:
        path = self._path(file_name)
        if path is None:
            return None
        opened = self._reader.open(path)
        if not isinstance(opened, Success):
            return None
        bundle = opened.unwrap()
        try:
            metadata = bundle.read_json(METADATA).value_or(None)
        finally:
            bundle.close()
        country = metadata.get("country") if isinstance(metadata, Mapping) else None
        if not isinstance(country, str):
            return None
        return CountryCode.parse(country).value_or(None)

    def remove(self, file_name: str) -> bool:
        path = self._path(file_name)
        if path is None:
            return False
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def _path(self, file_name: str) -> Path | None:
        if BundleName.parse(file_name) is None:  # also refuses "/" and ".." in the name
            return None
        path = self._directory / file_name
        return path if path.is_file() and not path.is_symlink() else None
