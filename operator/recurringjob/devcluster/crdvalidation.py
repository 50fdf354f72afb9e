"""Validation of CustomResourceDefinition objects, the checks of apiextensions' validation.go that
matter for a dev cluster: names, scope, versions, structural schemas, defaults, printer columns,
CEL rule compilation. Public entry point: `crdschema.validate_crd`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .crdschema import FieldError, StructuralSchema, cel_available, compile_rule, go_value

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SCHEMA_TYPES = ("array", "boolean", "integer", "number", "object", "string")
_COLUMN_TYPES = ("boolean", "date", "integer", "number", "string")


def _required(field: str, detail: str = "") -> FieldError:
    return FieldError(field, "FieldValueRequired", "Required value" + (f": {detail}" if detail else ""))


def _invalid(field: str, value: Any, detail: str) -> FieldError:
    return FieldError(field, "FieldValueInvalid", f"Invalid value: {go_value(value)}: {detail}")


def _unsupported(field: str, value: Any, supported: tuple[str, ...]) -> FieldError:
    listed = ", ".join(json.dumps(s) for s in supported)
    return FieldError(
        field, "FieldValueNotSupported", f"Unsupported value: {go_value(value)}: supported values: {listed}"
    )


def _forbidden(field: str, detail: str) -> FieldError:
    return FieldError(field, "FieldValueForbidden", f"Forbidden: {detail}")


def validate_crd(crd: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    spec = crd.get("spec") if isinstance(crd.get("spec"), Mapping) else {}
    assert isinstance(spec, Mapping)
    names = spec.get("names") if isinstance(spec.get("names"), Mapping) else {}
    assert isinstance(names, Mapping)
    group = spec.get("group") or ""
    plural = names.get("plural") or ""
    name = (crd.get("metadata") or {}).get("name") or ""

    if not group:
        errors.append(_required("spec.group"))
    elif "." not in group:
        errors.append(_invalid("spec.group", group, "should be a domain with at least one dot"))
    elif not _DNS1123_SUBDOMAIN.match(group):
        errors.append(
            _invalid(
                "spec.group",
                group,
                "a lowercase RFC 1123 subdomain must consist of lower case "
                "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            )
        )
    if name != f"{plural}.{group}":
        errors.append(_invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))

    for field in ("plural", "singular"):
        value = names.get(field) or ""
        if field == "plural" and not value:
            errors.append(_required("spec.names.plural"))
        elif value and not _DNS1123_LABEL.match(value):
            errors.append(
                _invalid(
                    f"spec.names.{field}",
                    value,
                    "a lowercase RFC 1123 label must consist of lower case "
                    "alphanumeric characters or '-', and must start and end with an alphanumeric character",
                )
            )
    if not names.get("kind"):
        errors.append(_required("spec.names.kind"))
    for index, short in enumerate(names.get("shortNames") or []):
        if not isinstance(short, str) or not _DNS1123_LABEL.match(short):
            errors.append(
                _invalid(f"spec.names.shortNames[{index}]", short, "a lowercase RFC 1123 label is required")
            )

    scope = spec.get("scope")
    if not scope:
        errors.append(_required("spec.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        errors.append(_unsupported("spec.scope", scope, ("Cluster", "Namespaced")))

    errors.extend(_validate_versions(spec.get("versions")))
    return errors


def _validate_versions(versions: Any) -> list[FieldError]:
    if not isinstance(versions, list) or not versions:
        return [_required("spec.versions")]
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, version in enumerate(versions):
        path = f"spec.versions[{index}]"
        if not isinstance(version, Mapping):
            errors.append(_invalid(path, version, "must be an object"))
            continue
        version_name = version.get("name") or ""
        if not version_name:
            errors.append(_required(f"{path}.name"))
        elif not _DNS1035_LABEL.match(version_name):
            errors.append(
                _invalid(
                    f"{path}.name",
                    version_name,
                    "a DNS-1035 label must consist of lower case "
                    "alphanumeric characters or '-', start with an alphabetic character, and end with "
                    "an alphanumeric character",
                )
            )
        elif version_name in seen:
            errors.append(
                FieldError(
                    f"{path}.name", "FieldValueDuplicate", f"Duplicate value: {go_value(version_name)}"
                )
            )
        seen.add(version_name)
        schema = (
            (version.get("schema") or {}).get("openAPIV3Schema")
            if isinstance(version.get("schema"), Mapping)
            else None
        )
        if not isinstance(schema, Mapping):
            errors.append(_required(f"{path}.schema.openAPIV3Schema", "schemas are required"))
        else:
            errors.extend(_validate_root_schema(schema, f"{path}.schema.openAPIV3Schema"))
        errors.extend(
            _validate_columns(version.get("additionalPrinterColumns"), f"{path}.additionalPrinterColumns")
        )
    if sum(1 for v in versions if isinstance(v, Mapping) and v.get("storage") is True) != 1:
        errors.append(
            _invalid("spec.versions", "", "must have exactly one version marked as storage version")
        )
    if not any(isinstance(v, Mapping) and v.get("served") is True for v in versions):
        errors.append(_invalid("spec.versions", "", "must have at least one served version"))
    return errors


def _validate_columns(columns: Any, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, column in enumerate(columns or []):
        at = f"{path}[{index}]"
        if not isinstance(column, Mapping):
            errors.append(_invalid(at, column, "must be an object"))
            continue
        if not column.get("name"):
            errors.append(_required(f"{at}.name"))
        if not column.get("type"):
            errors.append(_required(f"{at}.type"))
        elif column["type"] not in _COLUMN_TYPES:
            errors.append(_unsupported(f"{at}.type", column["type"], _COLUMN_TYPES))
        json_path = column.get("jsonPath")
        if not json_path:
            errors.append(_required(f"{at}.jsonPath"))
        elif not str(json_path).startswith("."):
            errors.append(_invalid(f"{at}.jsonPath", json_path, "must be a simple json path starting with ."))
    return errors


def _validate_root_schema(schema: Mapping[str, Any], path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if not schema.get("type"):
        errors.append(_required(f"{path}.type", "must not be empty at the root"))
    elif schema["type"] != "object":
        errors.append(_unsupported(f"{path}.type", schema["type"], ("object",)))
    errors.extend(_validate_node(schema, path, root_schema=schema))
    return errors


def _validate_node(node: Any, path: str, root_schema: Mapping[str, Any]) -> list[FieldError]:
    if not isinstance(node, Mapping):
        return [_invalid(path, node, "must be a schema object")]
    errors: list[FieldError] = []
    node_type = node.get("type")
    untyped_ok = (
        node.get("x-kubernetes-preserve-unknown-fields") is True
        or node.get("x-kubernetes-int-or-string") is True
    )
    if node_type and node_type not in _SCHEMA_TYPES:
        errors.append(_unsupported(f"{path}.type", node_type, _SCHEMA_TYPES))
    if not node_type and not untyped_ok:
        what = "object fields" if "properties" in node else "array items" if "items" in node else "fields"
        errors.append(_required(f"{path}.type", f"must not be empty for specified {what}"))
    if node_type == "array" and not isinstance(node.get("items"), Mapping):
        errors.append(_required(f"{path}.items", "must be specified"))
    if node.get("uniqueItems") is True:
        errors.append(
            _forbidden(
                f"{path}.uniqueItems",
                "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
            )
        )
    if "properties" in node and node.get("additionalProperties") not in (None, False):
        errors.append(
            _forbidden(
                f"{path}.additionalProperties", "additionalProperties and properties are mutual exclusive"
            )
        )
    if "$ref" in node:
        errors.append(_forbidden(f"{path}.$ref", "$ref is not supported"))
    for key, child in (node.get("properties") or {}).items():
        errors.extend(_validate_node(child, f"{path}.properties[{key}]", root_schema))
    for keyword in ("items", "additionalProperties", "not"):
        if isinstance(node.get(keyword), Mapping):
            errors.extend(
                _validate_junctor_or_child(node[keyword], f"{path}.{keyword}", root_schema, keyword)
            )
    for keyword in ("allOf", "anyOf", "oneOf"):
        for index, child in enumerate(node.get(keyword) or []):
            errors.extend(
                _validate_junctor_or_child(child, f"{path}.{keyword}[{index}]", root_schema, keyword)
            )
    if "default" in node:
        errors.extend(_validate_default(node, f"{path}.default"))
    errors.extend(_validate_rules(node, path))
    return errors


def _validate_junctor_or_child(
    node: Any, path: str, root: Mapping[str, Any], keyword: str
) -> list[FieldError]:
    if keyword in ("items", "additionalProperties"):
        return _validate_node(node, path, root)
    # Value validations inside allOf/anyOf/oneOf/not need no type of their own (structural rule).
    return [e for e in _validate_node(node, path, root) if not e.field.endswith(".type")]


def _validate_default(node: Mapping[str, Any], path: str) -> list[FieldError]:
    default = node["default"]
    wrapper = StructuralSchema({"type": "object", "properties": {"value": node}})
    problems = wrapper.validate({"value": default})
    if problems:
        return [_invalid(path, default, problem.message.split(": ", 2)[-1]) for problem in problems]
    if wrapper.prune({"value": default}).get("value") != default:
        return [_invalid(path, default, "must not have unknown fields")]
    return []


def _validate_rules(node: Mapping[str, Any], path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, rule in enumerate(node.get("x-kubernetes-validations") or []):
        at = f"{path}.x-kubernetes-validations[{index}]"
        if not isinstance(rule, Mapping) or not rule.get("rule"):
            errors.append(_required(f"{at}.rule"))
            continue
        reason = rule.get("reason")
        allowed = ("FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate")
        if reason and reason not in allowed:
            errors.append(_unsupported(f"{at}.reason", reason, allowed))
        if cel_available():
            for key in ("rule", "messageExpression"):
                if rule.get(key):
                    try:
                        compile_rule(str(rule[key]))
                    except ValueError as exc:
                        errors.append(_invalid(f"{at}.{key}", rule[key], f"compilation failed: {exc}"))
    return errors
