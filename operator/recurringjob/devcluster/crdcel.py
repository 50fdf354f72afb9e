"""CEL `x-kubernetes-validations` of CRD schemas, through the `common-expression-language` package.

Rules run per schema node with `self` (and `oldSelf` for transition rules on updates); errors are
kube field errors worded like apiextensions-apiserver's. Without the package, rules are skipped
(crdvalidation still checks their shape): see `cel_available()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recurringjob.devcluster.fielderrors import FieldError, field_path, go_value, json_type

try:  # CEL is optional: without it rules are ignored (validate_crd still checks their shape).
    import cel as _cel_module

    _cel: Any = _cel_module
except ImportError:  # pragma: no cover - depends on the environment
    _cel = None

_CEL_CACHE: dict[str, Any] = {}


def cel_available() -> bool:
    return _cel is not None


def compile_rule(rule: str) -> Any:
    """The compiled CEL program for `rule` (cached). Raises ValueError on syntax errors."""
    if _cel is None:
        raise RuntimeError("CEL is not available")
    program = _CEL_CACHE.get(rule)
    if program is None:
        program = _CEL_CACHE[rule] = _cel.compile(rule)
    return program


def cel_validate(value: Any, old: Any, schema: Mapping[str, Any], path: list[Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    if value is None:
        return errors
    for rule in schema.get("x-kubernetes-validations") or []:
        error = _evaluate_rule(rule, value, old, schema, path)
        if error is not None:
            errors.append(error)
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        old_map = old if isinstance(old, dict) else {}
        for key, item in value.items():
            sub = properties.get(key, additional if isinstance(additional, Mapping) else None)
            if isinstance(sub, Mapping):
                errors.extend(cel_validate(item, old_map.get(key), sub, [*path, key]))
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            # Old list items correlate only for map-type lists; keep it simple: no oldSelf inside lists.
            errors.extend(cel_validate(item, None, schema["items"], [*path, index]))
    return errors


def _evaluate_rule(
    rule: Mapping[str, Any], value: Any, old: Any, schema: Mapping[str, Any], path: list[Any]
) -> FieldError | None:
    text = str(rule.get("rule", ""))
    try:
        program = compile_rule(text)
    except (ValueError, RuntimeError):
        return None  # validate_crd reports rules that do not compile
    uses_old = "oldSelf" in _variables(program, text)
    if uses_old and old is None:
        return None  # transition rules only run on updates that have an old value
    context = {"self": value, **({"oldSelf": old} if uses_old else {})}
    field = field_path(path) + str(rule.get("fieldPath") or "")
    shown = go_value(str(schema.get("type") or json_type(value)))
    try:
        result = program.execute(context)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        detail = f"no such key: {exc.args[0]}" if isinstance(exc, KeyError) else str(exc)
        return FieldError(field, "FieldValueInvalid", f"Invalid value: {shown}: {detail}")
    if result is True:
        return None
    message = _rule_message(rule, context)
    reason = str(rule.get("reason") or "FieldValueInvalid")
    if reason in ("FieldValueForbidden", "FieldValueRequired"):
        return FieldError(
            field,
            reason,
            f"{'Forbidden' if reason == 'FieldValueForbidden' else 'Required value'}: {message}",
        )
    if reason == "FieldValueDuplicate":
        return FieldError(field, reason, f"Duplicate value: {shown}")
    return FieldError(field, "FieldValueInvalid", f"Invalid value: {shown}: {message}")


def _variables(program: Any, text: str) -> list[str] | str:
    try:
        return list(program.variables())
    except (AttributeError, TypeError):  # older bindings: fall back to the rule text
        return text


def _rule_message(rule: Mapping[str, Any], context: Mapping[str, Any]) -> str:
    expression = rule.get("messageExpression")
    if expression:
        try:
            result = compile_rule(str(expression)).execute(dict(context))
            if isinstance(result, str) and result.strip():
                return result.strip()
        except (KeyError, TypeError, ValueError, RuntimeError):
            pass
    if rule.get("message"):
        return str(rule["message"]).strip()
    return f"failed rule: {str(rule.get('rule', '')).strip()}"
