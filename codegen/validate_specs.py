"""Validate every ``openapi/*.yaml`` against the OpenAPI 3.1 schema, following relative ``$ref``s."""

from __future__ import annotations

import sys
from pathlib import Path

from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

SPEC_DIR = Path(__file__).resolve().parent.parent / "openapi"


def main() -> int:
    failures = 0
    for path in sorted(SPEC_DIR.glob("*.yaml")):
        spec, base_uri = read_from_filename(str(path))
        try:
            validate(spec, base_uri=base_uri)
        except Exception as exc:  # noqa: BLE001 - report every file, then fail
            failures += 1
            print(f"INVALID {path.name}: {exc}")
        else:
            print(f"ok      {path.name}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
