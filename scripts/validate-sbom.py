#!/usr/bin/env python3
"""Validates an SBOM with the reference libraries: CycloneDX JSON with cyclonedx-python-lib's strict JSON
validator (schema 1.6), SPDX JSON with spdx-tools' parser and full document validator (SPDX 2.3).
Usage: validate-sbom.py cyclonedx|spdx FILE   — prints the problems and exits 1 when invalid."""
import sys

def cyclonedx(path):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(path).read())
    return [str(errors)] if errors else []

def spdx(path):
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
    doc = parse_file(path)
    return [m.validation_message for m in validate_full_spdx_document(doc, "SPDX-2.3")]

if __name__ == "__main__":
    kind, path = sys.argv[1], sys.argv[2]
    problems = {"cyclonedx": cyclonedx, "spdx": spdx}[kind](path)
    for p in problems[:20]:
        print(p)
    print(f"{kind}: {'invalid' if problems else 'valid'} ({len(problems)} problems)")
    sys.exit(1 if problems else 0)
