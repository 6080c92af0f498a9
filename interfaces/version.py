"""The installed version of Support OS, as recorded in the package metadata."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version


@cache  # reading the metadata costs ~100 us; the version cannot change while the process runs
def supportos_version() -> str:
    try:
        return version("supportos")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "0.0.0+unknown"
