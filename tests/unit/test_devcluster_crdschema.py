"""Structural schemas in the dev cluster: pruning, defaulting and validation the way
apiextensions-apiserver does them, with kube's field paths and messages."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from recurringjob.devcluster.crdschema import FieldError, StructuralSchema, cel_available, validate_crd

SPEC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["schedule", "jobTemplate"],
    "properties": {
        "schedule": {"type": "string", "minLength": 1, "maxLength": 20},
        "timeZone": {"type": "string", "pattern": "^[A-Za-z_/+-]+$"},
        "concurrencyPolicy": {"type": "string", "enum": ["Allow", "Forbid", "Replace"], "default": "Allow"},
        "startingDeadlineSeconds": {"type": "integer", "minimum": 0},
        "suspend": {"type": "boolean", "default": False},
        "maxCatchUp": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
        "ratio": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
        "port": {"x-kubernetes-int-or-string": True},
        "note": {"type": "string", "nullable": True},
        "startAt": {"type": "string", "format": "date-time"},
        "tags": {
            "type": "array",
            "maxItems": 2,
            "items": {"type": "string"},
            "x-kubernetes-list-type": "set",
        },
        "steps": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "retries": {"type": "integer", "default": 3}},
            },
        },
        "options": {
            "type": "object",
            "properties": {
                "mode": {"type": "string", "default": "fast"},
                "limits": {
                    "type": "object",
                    "properties": {"cpu": {"type": "string", "default": "1"}},
                    "default": {},
                },
            },
        },
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "jobTemplate": {
            "type": "object",
            "properties": {
                "metadata": {
                    "type": "object",
                    "properties": {"labels": {"type": "object", "additionalProperties": {"type": "string"}}},
                },
                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        },
        "embedded": {
            "type": "object",
            "x-kubernetes-embedded-resource": True,
            "properties": {"spec": {"type": "object", "properties": {"x": {"type": "string"}}}},
        },
        "choice": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True},
    },
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": SPEC_SCHEMA,
        "status": {
            "type": "object",
            "properties": {
                "active": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                }
            },
        },
    },
}
SCHEMA_OBJ = StructuralSchema(SCHEMA)


def obj(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "recurringjob.dev/v1alpha1",
        "kind": "RecurringJob",
        "metadata": {"name": "r", "namespace": "default", "labels": {"a": "b"}},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {}}, **spec},
    }


# ------------------------------------------------------------------------------------- defaulting
def test_defaults_fill_missing_fields_of_present_objects_recursively() -> None:
    result = SCHEMA_OBJ.apply_defaults(obj(steps=[{"name": "a"}, {"name": "b", "retries": 0}], options={}))
    spec = result["spec"]
    assert spec["concurrencyPolicy"] == "Allow" and spec["suspend"] is False and spec["maxCatchUp"] == 100
    assert spec["steps"] == [{"name": "a", "retries": 3}, {"name": "b", "retries": 0}]
    # a defaulted object ({}) gets its own nested defaults
    assert spec["options"] == {"mode": "fast", "limits": {"cpu": "1"}}


def test_defaults_do_not_create_absent_parents_or_override_values() -> None:
    spec = SCHEMA_OBJ.apply_defaults(obj(concurrencyPolicy="Forbid"))["spec"]
    assert "options" not in spec and spec["concurrencyPolicy"] == "Forbid"
    assert "status" not in SCHEMA_OBJ.apply_defaults(obj())


def test_defaults_replace_null_of_non_nullable_fields_and_do_not_mutate() -> None:
    original = obj(concurrencyPolicy=None)
    before = copy.deepcopy(original)
    assert SCHEMA_OBJ.apply_defaults(original)["spec"]["concurrencyPolicy"] == "Allow"
    assert original == before


# ---------------------------------------------------------------------------------------- pruning
def test_prune_drops_unknown_fields_and_keeps_root_meta() -> None:
    dirty = obj(unknown=1, steps=[{"name": "a", "bogus": True}], options={"mode": "x", "nope": 1})
    dirty["extra"] = "root"
    dirty["status"] = {"active": [{"name": "j", "uid": "u"}], "made": "up"}
    pruned = SCHEMA_OBJ.prune(dirty)
    assert set(pruned) == {"apiVersion", "kind", "metadata", "spec", "status"}
    assert pruned["metadata"] == dirty["metadata"]
    assert "unknown" not in pruned["spec"]
    assert pruned["spec"]["steps"] == [{"name": "a"}]
    assert pruned["spec"]["options"] == {"mode": "x"}
    assert pruned["status"] == {"active": [{"name": "j"}]}


@pytest.mark.parametrize(
    ("field", "value", "kept"),
    [
        (
            "jobTemplate",
            {"metadata": {"labels": {"x": "y"}, "annotations": {}}, "spec": {"anything": [1, {"a": 2}]}},
            {"metadata": {"labels": {"x": "y"}}, "spec": {"anything": [1, {"a": 2}]}},
        ),
        (
            "embedded",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p"},
                "spec": {"x": "1", "y": 2},
                "junk": 1,
            },
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": "1"}},
        ),
        ("labels", {"a": "1", "b": "2"}, {"a": "1", "b": "2"}),
        ("port", "http", "http"),
    ],
    ids=["preserve-unknown-fields", "embedded-resource", "additionalProperties", "int-or-string"],
)
def test_prune_keeps_what_the_schema_allows(field: str, value: Any, kept: Any) -> None:
    assert SCHEMA_OBJ.prune(obj(**{field: value}))["spec"][field] == kept


# ------------------------------------------------------------------------------------- validation
def test_valid_object_has_no_errors_and_root_meta_is_not_schema_validated() -> None:
    good = obj(port=8080, note=None, startAt="2025-01-01T00:00:00Z", tags=["a", "b"], choice="x")
    good["metadata"] = {"name": 5}  # the server validates metadata, not the schema
    assert SCHEMA_OBJ.validate(good) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"concurrencyPolicy": "Sometimes"},
            FieldError(
                "spec.concurrencyPolicy",
                "FieldValueNotSupported",
                'Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"',
            ),
        ),
        (
            {"schedule": None},
            FieldError(
                "spec.schedule",
                "FieldValueTypeInvalid",
                'Invalid value: "null": spec.schedule in body must be of type string: "null"',
            ),
        ),
        (
            {"startingDeadlineSeconds": "10"},
            FieldError(
                "spec.startingDeadlineSeconds",
                "FieldValueTypeInvalid",
                'Invalid value: "string": spec.startingDeadlineSeconds in body '
                'must be of type integer: "string"',
            ),
        ),
        (
            {"startingDeadlineSeconds": -1},
            FieldError(
                "spec.startingDeadlineSeconds",
                "FieldValueInvalid",
                "Invalid value: -1: spec.startingDeadlineSeconds in body "
                "should be greater than or equal to 0",
            ),
        ),
        (
            {"maxCatchUp": 1001},
            FieldError(
                "spec.maxCatchUp",
                "FieldValueInvalid",
                "Invalid value: 1001: spec.maxCatchUp in body should be less than or equal to 1000",
            ),
        ),
        (
            {"ratio": 0},
            FieldError(
                "spec.ratio",
                "FieldValueInvalid",
                "Invalid value: 0: spec.ratio in body should be greater than 0",
            ),
        ),
        (
            {"schedule": ""},
            FieldError(
                "spec.schedule",
                "FieldValueInvalid",
                'Invalid value: "": spec.schedule in body should be at least 1 chars long',
            ),
        ),
        (
            {"schedule": "x" * 21},
            FieldError("spec.schedule", "FieldValueTooLong", "Too long: may not be longer than 20"),
        ),
        (
            {"timeZone": "Europe/Berlin!"},
            FieldError(
                "spec.timeZone",
                "FieldValueInvalid",
                "Invalid value: \"Europe/Berlin!\": spec.timeZone in body should match '^[A-Za-z_/+-]+$'",
            ),
        ),
        (
            {"tags": ["a", "b", "c"]},
            FieldError("spec.tags", "FieldValueTooMany", "Too many: 3: must have at most 2 items"),
        ),
        ({"tags": ["a", "a"]}, FieldError("spec.tags[1]", "FieldValueDuplicate", 'Duplicate value: "a"')),
        (
            {"steps": []},
            FieldError(
                "spec.steps",
                "FieldValueInvalid",
                "Invalid value: 0: spec.steps in body should have at least 1 items",
            ),
        ),
        (
            {"steps": [{"name": "a"}, {"retries": 1}]},
            FieldError("spec.steps[1].name", "FieldValueRequired", "Required value"),
        ),
        (
            {"steps": [{"name": 7}]},
            FieldError(
                "spec.steps[0].name",
                "FieldValueTypeInvalid",
                'Invalid value: "integer": spec.steps[0].name in body must be of type string: "integer"',
            ),
        ),
        (
            {"labels": {"a": 1}},
            FieldError(
                "spec.labels.a",
                "FieldValueTypeInvalid",
                'Invalid value: "integer": spec.labels.a in body must be of type string: "integer"',
            ),
        ),
        (
            {"port": 1.5},
            FieldError(
                "spec.port",
                "FieldValueTypeInvalid",
                'Invalid value: "number": spec.port in body must be of type integer,string: "number"',
            ),
        ),
        (
            {"startAt": "yesterday"},
            FieldError(
                "spec.startAt",
                "FieldValueInvalid",
                'Invalid value: "yesterday": spec.startAt in body must be of type date-time: "yesterday"',
            ),
        ),
        (
            {"choice": True},
            FieldError(
                "spec.choice",
                "FieldValueInvalid",
                "Invalid value: true: spec.choice in body must validate at least one schema (anyOf)",
            ),
        ),
    ],
    ids=lambda v: v.field if isinstance(v, FieldError) else None,
)
def test_validation_errors_read_like_kube(spec: dict[str, Any], expected: FieldError) -> None:
    errors = SCHEMA_OBJ.validate(obj(**spec))
    assert expected in errors, errors


def test_missing_required_fields_and_integral_floats() -> None:
    errors = SCHEMA_OBJ.validate(
        {"apiVersion": "x/v1", "kind": "K", "metadata": {}, "spec": {"maxCatchUp": 5.0}}
    )
    assert [(e.field, e.reason) for e in errors] == [
        ("spec.jobTemplate", "FieldValueRequired"),
        ("spec.schedule", "FieldValueRequired"),
    ]
    assert str(errors[0]) == "spec.jobTemplate: Required value"


# -------------------------------------------------------------------------------------------- CEL
CEL_SCHEMA = StructuralSchema(
    {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "x-kubernetes-validations": [
                    {"rule": "self.min <= self.max", "message": "min must not exceed max"},
                    {
                        "rule": "!has(self.legacy)",
                        "reason": "FieldValueForbidden",
                        "fieldPath": ".legacy",
                        "message": "legacy is gone",
                    },
                    {"rule": "self.min >= oldSelf.min"},
                ],
                "properties": {
                    "min": {"type": "integer"},
                    "max": {"type": "integer"},
                    "legacy": {"type": "string"},
                    "name": {
                        "type": "string",
                        "x-kubernetes-validations": [{"rule": "self.startsWith('rj-')"}],
                    },
                },
            }
        },
    }
)


@pytest.mark.skipif(not cel_available(), reason="CEL library not installed")
@pytest.mark.parametrize(
    ("spec", "old", "expected"),
    [
        ({"min": 1, "max": 2, "name": "rj-a"}, None, []),
        (
            {"min": 3, "max": 2},
            None,
            [("spec", "FieldValueInvalid", 'Invalid value: "object": min must not exceed max')],
        ),
        (
            {"min": 1, "max": 2, "legacy": "x"},
            None,
            [("spec.legacy", "FieldValueForbidden", "Forbidden: legacy is gone")],
        ),
        (
            {"min": 1, "max": 2, "name": "x"},
            None,
            [
                (
                    "spec.name",
                    "FieldValueInvalid",
                    "Invalid value: \"string\": failed rule: self.startsWith('rj-')",
                )
            ],
        ),
        (
            {"min": 1, "max": 2},
            {"min": 2, "max": 2},
            [("spec", "FieldValueInvalid", 'Invalid value: "object": failed rule: self.min >= oldSelf.min')],
        ),
        ({"min": 2, "max": 2}, {"min": 1, "max": 2}, []),
    ],
    ids=[
        "valid",
        "message",
        "reason-and-fieldPath",
        "default-message",
        "transition-rule-fails",
        "transition-ok",
    ],
)
def test_cel_rules(spec: dict, old: dict | None, expected: list[tuple[str, str, str]]) -> None:
    errors = CEL_SCHEMA.validate({"spec": spec}, old={"spec": old} if old else None)
    assert [(e.field, e.reason, e.message) for e in errors] == expected


# ------------------------------------------------------------------------------- CRD validation
def crd(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "recurringjobs.recurringjob.dev"},
        "spec": {
            "group": "recurringjob.dev",
            "scope": "Namespaced",
            "names": {
                "plural": "recurringjobs",
                "singular": "recurringjob",
                "kind": "RecurringJob",
                "shortNames": ["rj"],
            },
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": copy.deepcopy(SCHEMA)},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Schedule", "type": "string", "jsonPath": ".spec.schedule"}
                    ],
                }
            ],
        },
    }
    for path, value in overrides.items():
        target = base
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[keys[-1]] = value
    return base


def test_valid_crd_passes() -> None:
    assert validate_crd(crd()) == []


SCHEMA_PATH = "spec.versions[0].schema.openAPIV3Schema"


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"spec__names__plural": ""}, "spec.names.plural", "FieldValueRequired"),
        ({"spec__names__kind": ""}, "spec.names.kind", "FieldValueRequired"),
        ({"metadata__name": "wrong"}, "metadata.name", "FieldValueInvalid"),
        ({"spec__group": "nodot"}, "spec.group", "FieldValueInvalid"),
        ({"spec__scope": "Global"}, "spec.scope", "FieldValueNotSupported"),
        ({"spec__versions": []}, "spec.versions", "FieldValueRequired"),
        ({"spec__versions__0__storage": False}, "spec.versions", "FieldValueInvalid"),
        ({"spec__versions__0__schema": {}}, f"{SCHEMA_PATH}", "FieldValueRequired"),
        (
            {"spec__versions__0__schema__openAPIV3Schema__properties__spec__properties__x": {"minimum": 1}},
            f"{SCHEMA_PATH}.properties[spec].properties[x].type",
            "FieldValueRequired",
        ),
        (
            {
                "spec__versions__0__schema__openAPIV3Schema__properties__spec__properties__x": {
                    "type": "array"
                }
            },
            f"{SCHEMA_PATH}.properties[spec].properties[x].items",
            "FieldValueRequired",
        ),
        (
            {
                "spec__versions__0__schema__openAPIV3Schema__properties__spec__properties__x": {
                    "type": "array",
                    "items": {"type": "string"},
                    "uniqueItems": True,
                }
            },
            f"{SCHEMA_PATH}.properties[spec].properties[x].uniqueItems",
            "FieldValueForbidden",
        ),
        (
            {
                "spec__versions__0__schema__openAPIV3Schema__properties__spec__properties__x": {
                    "type": "integer",
                    "default": "three",
                }
            },
            f"{SCHEMA_PATH}.properties[spec].properties[x].default",
            "FieldValueInvalid",
        ),
        (
            {"spec__versions__0__schema__openAPIV3Schema__type": "string"},
            f"{SCHEMA_PATH}.type",
            "FieldValueNotSupported",
        ),
        (
            {
                "spec__versions__0__additionalPrinterColumns": [
                    {"name": "X", "type": "text", "jsonPath": ".spec"}
                ]
            },
            "spec.versions[0].additionalPrinterColumns[0].type",
            "FieldValueNotSupported",
        ),
    ],
    ids=[
        "no-plural",
        "no-kind",
        "name-mismatch",
        "group-without-dot",
        "bad-scope",
        "no-versions",
        "no-storage-version",
        "no-schema",
        "untyped-property",
        "array-without-items",
        "uniqueItems",
        "invalid-default",
        "non-object-root",
        "bad-column-type",
    ],
)
def test_invalid_crds_are_rejected(overrides: dict[str, Any], field: str, reason: str) -> None:
    errors = validate_crd(crd(**overrides))
    assert (field, reason) in [(e.field, e.reason) for e in errors], errors


def test_untyped_nodes_allowed_with_preserve_unknown_or_int_or_string() -> None:
    assert (
        validate_crd(
            crd(
                spec__versions__0__schema__openAPIV3Schema__properties__spec__properties__x={
                    "x-kubernetes-preserve-unknown-fields": True
                }
            )
        )
        == []
    )


@pytest.mark.skipif(not cel_available(), reason="CEL library not installed")
def test_crd_with_uncompilable_rule_is_rejected() -> None:
    bad = crd(
        spec__versions__0__schema__openAPIV3Schema__properties__spec__properties__x={
            "type": "string",
            "x-kubernetes-validations": [{"rule": "self.size() >"}],
        }
    )
    fields = [e.field for e in validate_crd(bad)]
    assert f"{SCHEMA_PATH}.properties[spec].properties[x].x-kubernetes-validations[0].rule" in fields
