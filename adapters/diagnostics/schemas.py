"""JSON Schema validation of the bundle files, with ``jsonschema`` (Draft 2020-12).

The schemas are the documents under ``docs/diagnostics/``. Messages never quote the
bundle's own values (they may be personal data): they say where and which rule failed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Final

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from returns.result import Failure, Result, Success

from domain.diagnostics.bundle import METADATA, SNAPSHOT, TRACE
from domain.diagnostics.errors import BundleSchemaInvalid

SCHEMA_DIR: Final = Path(__file__).resolve().parents[2] / "docs" / "diagnostics"
SCHEMA_FILES: Final = {
    METADATA: "metadata.schema.json",
    SNAPSHOT: "snapshot.schema.json",
    TRACE: "trace.schema.json",
}


@lru_cache(maxsize=4)
def load_schema(file: str, directory: Path = SCHEMA_DIR) -> Mapping[str, object]:
    schema: dict[str, object] = json.loads((directory / SCHEMA_FILES[file]).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return schema


def _reason(error: ValidationError) -> str:
    rule, expected = error.validator, error.validator_value
    if rule == "required" and isinstance(error.instance, Mapping) and isinstance(expected, list):
        missing = [name for name in expected if name not in error.instance]
        return f"missing required {', '.join(map(str, missing))}"
    if rule == "additionalProperties":
        return "has a property the schema does not allow"
    if rule == "type":
        return f"must be of type {expected}"
    if rule == "pattern":
        return f"does not match {expected}"
    if rule == "enum" and isinstance(expected, list):
        return f"must be one of {', '.join(map(str, expected))}"
    if rule == "oneOf":
        return "is not a string, number, boolean or null"
    if rule == "propertyNames":
        return "has a property name the schema does not allow"
    return f"breaks the rule {rule}: {str(expected)[:80]}"


class JsonSchemaValidator:
    """Satisfies ``application.ports.diagnostics.SchemaValidator``."""

    def __init__(self, directory: Path = SCHEMA_DIR) -> None:
        self._validators = {file: Draft202012Validator(load_schema(file, directory)) for file in SCHEMA_FILES}

    def validate(self, file: str, document: object) -> Result[None, BundleSchemaInvalid]:
        validator = self._validators[file]
        error = best_match(validator.iter_errors(document))
        if error is None:
            return Success(None)
        return Failure(BundleSchemaInvalid(file, error.json_path, _reason(error)))
