"""Structural schemas of CustomResourceDefinitions: pruning, defaulting, validation.

Behaviour follows apiextensions-apiserver: unknown fields are pruned (unless
`x-kubernetes-preserve-unknown-fields`), defaults fill missing fields of present objects
(recursively, also replacing `null` for non-nullable fields), and validation errors are
reported as kube field errors with go-openapi's wording (`spec.x in body must be of type
integer: "string"`). Type/enum/range checks run through the `jsonschema` library; CEL
`x-kubernetes-validations` run through the `common-expression-language` package when it is
installed (see `cel_available()`).
"""

from __future__ import annotations

import base64
import copy
import datetime
import ipaddress
import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema
from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError

from recurringjob.devcluster.crdcel import cel_available, cel_validate, compile_rule
from recurringjob.devcluster.fielderrors import FieldError, field_path, go_value, json_type

__all__ = ["FieldError", "StructuralSchema", "cel_available", "compile_rule", "go_value", "validate_crd"]

ROOT_META_FIELDS = ("apiVersion", "kind", "metadata")


# ------------------------------------------------------------------- jsonschema with kube keywords
def _is_integer(value: Any) -> bool:
    # JSON has one number type; go-openapi accepts 3.0 as an integer.
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (
        isinstance(value, float) and math.isfinite(value) and value.is_integer()
    )


def _type(
    validator: Any, expected: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if schema.get("x-kubernetes-int-or-string"):
        return
    if instance is None and schema.get("nullable"):
        return
    types = expected if isinstance(expected, list) else [expected]
    for expected_type in types:
        if expected_type == "integer" and _is_integer(instance):
            return
        if expected_type == "number" and isinstance(instance, int | float) and not isinstance(instance, bool):
            return
        if expected_type not in ("integer", "number") and validator.is_type(instance, expected_type):
            return
    yield ValidationError(f"must be of type {','.join(types)}", instance=json_type(instance))


def _int_or_string(
    validator: Any, enabled: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if (
        enabled
        and not (isinstance(instance, str) or _is_integer(instance))
        and not (instance is None and schema.get("nullable"))
    ):
        yield ValidationError("must be of type integer,string", instance=json_type(instance))


def _enum(validator: Any, enums: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if instance is None and schema.get("nullable"):
        return
    yield from jsonschema._keywords.enum(validator, enums, instance, schema)


def _required(
    validator: Any, required: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not isinstance(instance, dict):
        return
    for name in required:
        if name not in instance:
            yield ValidationError(f"{name} is required", path=[name])


def _list_type(
    validator: Any, list_type: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not isinstance(instance, list) or list_type not in ("set", "map"):
        return
    keys = schema.get("x-kubernetes-list-map-keys") or []
    seen: list[Any] = []
    for index, item in enumerate(instance):
        ident = (
            item
            if list_type == "set"
            else ({k: item.get(k) for k in keys} if isinstance(item, dict) else item)
        )
        if ident in seen:
            yield ValidationError("duplicate", path=[index], instance=ident)
        else:
            seen.append(ident)


_KubeValidator = jsonschema.validators.extend(
    Draft4Validator,
    {
        "type": _type,
        "enum": _enum,
        "required": _required,
        "x-kubernetes-int-or-string": _int_or_string,
        "x-kubernetes-list-type": _list_type,
    },
)


# The formats kube-openapi's registry checks (unknown formats are ignored, as in kube).
_FORMAT_CHECKER = jsonschema.FormatChecker(formats=())
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def _checks(pattern: re.Pattern[str]) -> Any:
    return lambda value: not isinstance(value, str) or bool(pattern.match(value))


def _parses(parse: Any) -> Any:
    def check(value: Any) -> bool:
        if not isinstance(value, str):
            return True
        try:
            parse(value)
        except ValueError:
            return False
        return True

    return check


for _name, _check in {
    "date-time": _checks(_DATE_TIME),
    "date": _parses(
        lambda v: datetime.date.fromisoformat(v) if len(v) == 10 else datetime.date.fromisoformat("x")
    ),
    "uuid": _checks(_UUID),
    "hostname": _checks(_HOSTNAME),
    "ipv4": _parses(ipaddress.IPv4Address),
    "ipv6": _parses(ipaddress.IPv6Address),
    "cidr": _parses(lambda v: ipaddress.ip_network(v, strict=False)),
    "byte": _parses(lambda v: base64.b64decode(v, validate=True)),
}.items():
    _FORMAT_CHECKER.checks(_name)(_check)


# --------------------------------------------------------------------------- error translation
def _translate(error: ValidationError, prefix: list[Any]) -> FieldError:
    path = field_path([*prefix, *error.absolute_path])
    keyword = error.validator
    value = error.instance
    body = f"{path} in body"
    if keyword == "required":
        return FieldError(path, "FieldValueRequired", "Required value")
    if keyword in ("type", "x-kubernetes-int-or-string"):
        detail = f"{body} {error.message}: {go_value(value)}"
        return FieldError(path, "FieldValueTypeInvalid", f"Invalid value: {go_value(value)}: {detail}")
    if keyword == "enum":
        supported = ", ".join(
            json.dumps(v if isinstance(v, str) else go_value(v)) for v in error.validator_value
        )
        return FieldError(
            path,
            "FieldValueNotSupported",
            f"Unsupported value: {go_value(value)}: supported values: {supported}",
        )
    if keyword == "maxLength":
        return FieldError(
            path, "FieldValueTooLong", f"Too long: may not be longer than {error.validator_value}"
        )
    if keyword == "maxItems":
        return FieldError(
            path,
            "FieldValueTooMany",
            f"Too many: {len(value)}: must have at most {error.validator_value} items",
        )
    if keyword == "maxProperties":
        return FieldError(
            path,
            "FieldValueTooMany",
            f"Too many: {len(value)}: must have at most {error.validator_value} items",
        )
    if keyword == "x-kubernetes-list-type":
        return FieldError(path, "FieldValueDuplicate", f"Duplicate value: {go_value(value)}")
    detail = _detail(keyword, error, body)
    shown = len(value) if keyword in ("minItems", "minProperties") else value
    return FieldError(path, "FieldValueInvalid", f"Invalid value: {go_value(shown)}: {detail}")


def _detail(keyword: Any, error: ValidationError, body: str) -> str:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    limit = error.validator_value
    if keyword == "minimum":
        strict = schema.get("exclusiveMinimum") is True
        return f"{body} should be greater than {'' if strict else 'or equal to '}{go_value(limit)}"
    if keyword == "maximum":
        strict = schema.get("exclusiveMaximum") is True
        return f"{body} should be less than {'' if strict else 'or equal to '}{go_value(limit)}"
    messages = {
        "minLength": f"should be at least {limit} chars long",
        "pattern": f"should match '{limit}'",
        "minItems": f"should have at least {limit} items",
        "minProperties": f"should have at least {limit} properties",
        "uniqueItems": "shouldn't contain duplicates",
        "multipleOf": f"should be a multiple of {go_value(limit)}",
        "format": f"must be of type {limit}: {go_value(error.instance)}",
        "anyOf": "must validate at least one schema (anyOf)",
        "oneOf": "must validate one and only one schema (oneOf)",
        "allOf": "must validate all the schemas (allOf)",
        "not": "must not validate the schema (not)",
    }
    return f"{body} {messages.get(str(keyword), error.message)}"


# ------------------------------------------------------------------------------ the schema object
class StructuralSchema:
    """One version's `openAPIV3Schema`."""

    def __init__(self, schema: Mapping[str, Any]):
        self.schema: dict[str, Any] = dict(schema)
        body = dict(self.schema)
        if isinstance(body.get("properties"), Mapping):
            body["properties"] = {k: v for k, v in body["properties"].items() if k not in ROOT_META_FIELDS}
        if isinstance(body.get("required"), list):
            body["required"] = [r for r in body["required"] if r not in ROOT_META_FIELDS]
        self._body_schema = body
        self._validator = _KubeValidator(body, format_checker=_FORMAT_CHECKER)

    # -- pruning
    def prune(self, obj: Any) -> Any:
        """A copy of `obj` without fields the schema does not know (root apiVersion/kind/metadata kept)."""
        if not isinstance(obj, Mapping):
            return copy.deepcopy(obj)
        kept = {k: copy.deepcopy(obj[k]) for k in ROOT_META_FIELDS if k in obj}
        rest = _prune({k: v for k, v in obj.items() if k not in ROOT_META_FIELDS}, self.schema)
        return {**kept, **rest} if isinstance(rest, dict) else kept

    # -- defaulting
    def apply_defaults(self, obj: Any) -> Any:
        """A copy of `obj` with schema defaults filled in for missing (or non-nullable null) fields."""
        result = copy.deepcopy(obj)
        self.fill_defaults(result)
        return result

    def fill_defaults(self, obj: Any) -> None:
        """apply_defaults in place, for an object the caller owns (e.g. fresh from prune)."""
        _default(obj, self.schema, at_root=True)

    # -- validation
    def validate(self, obj: Any, old: Any = None) -> list[FieldError]:
        """Field errors for `obj`; `old` (the stored object on update) enables CEL transition rules."""
        if not isinstance(obj, Mapping):
            return [
                FieldError(
                    "",
                    "FieldValueTypeInvalid",
                    f"Invalid value: {go_value(json_type(obj))}: must be an object",
                )
            ]
        body = {k: v for k, v in obj.items() if k not in ROOT_META_FIELDS}
        errors = [_translate(e, []) for e in sorted(self._validator.iter_errors(body), key=_error_order)]
        if cel_available():
            old_body = (
                {k: v for k, v in old.items() if k not in ROOT_META_FIELDS}
                if isinstance(old, Mapping)
                else None
            )
            errors.extend(cel_validate(body, old_body, self._body_schema, []))
        return errors


def _error_order(error: ValidationError) -> tuple[str, str]:
    return (field_path(error.absolute_path), str(error.validator))


def _prune(value: Any, schema: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        if schema.get("x-kubernetes-int-or-string"):
            return value
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        embedded = schema.get("x-kubernetes-embedded-resource") is True
        result: dict[str, Any] = {}
        for key, item in value.items():
            if key in properties:
                result[key] = _prune(item, properties[key])
            elif isinstance(additional, Mapping):
                result[key] = _prune(item, additional)
            elif preserve or additional is True or (embedded and key in ROOT_META_FIELDS):
                result[key] = copy.deepcopy(item)
        return result
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            return [_prune(item, items) for item in value]
        return copy.deepcopy(value)
    return value


def _default(value: Any, schema: Mapping[str, Any], at_root: bool = False) -> None:
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for key, prop in properties.items():
            if at_root and key in ROOT_META_FIELDS:
                continue
            if "default" not in prop:
                continue
            if key not in value or (value[key] is None and not prop.get("nullable")):
                value[key] = copy.deepcopy(prop["default"])
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                if not (at_root and key in ROOT_META_FIELDS):
                    _default(item, properties[key])
            elif isinstance(additional, Mapping):
                _default(item, additional)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for index, item in enumerate(value):
                if item is None and "default" in items and not items.get("nullable"):
                    value[index] = copy.deepcopy(items["default"])
                _default(value[index], items)


def validate_crd(crd: Mapping[str, Any]) -> list[FieldError]:
    """Errors for which kube-apiserver rejects a CustomResourceDefinition (see crdvalidation)."""
    from .crdvalidation import validate_crd as _validate_crd  # late: crdvalidation uses this module

    return _validate_crd(crd)
