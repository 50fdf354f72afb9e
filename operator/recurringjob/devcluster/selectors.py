"""Label and field selectors with the grammar and error messages of apimachinery's
`labels.Parse` and `fields.ParseSelector`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# ------------------------------------------------------------------------------------ validation
_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_NAME_RE = re.compile(f"^{_NAME}$")
_VALUE_RE = re.compile(f"^({_NAME})?$")
_DNS1123_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

_QUALIFIED_NAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    f"'{_NAME}')"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    f"for validation is '({_NAME})?')"
)


def label_key_errors(key: str) -> list[str]:
    """Why `key` is not a qualified name (apimachinery's IsQualifiedName); empty when valid."""
    parts = key.split("/")
    if len(parts) == 1:
        prefix, name = "", parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            return ["prefix part must be non-empty"]
    else:
        return [
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start "
            "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
            f"used for validation is '{_NAME}') with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')"
        ]
    errors: list[str] = []
    if prefix:
        if len(prefix) > 253:
            errors.append("prefix part must be no more than 253 bytes")
        if not _DNS1123_SUBDOMAIN_RE.match(prefix):
            errors.append(
                "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
                "'example.com', regex used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            )
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part must be no more than 63 bytes")
    if name and not _NAME_RE.match(name):
        errors.append(_QUALIFIED_NAME_MSG)
    return errors


def label_value_errors(value: str) -> list[str]:
    errors: list[str] = []
    if len(value) > 63:
        errors.append("must be no more than 63 bytes")
    if not _VALUE_RE.match(value):
        errors.append(_LABEL_VALUE_MSG)
    return errors


# -------------------------------------------------------------------------------- label selector
_SPECIAL = "=!(),><"
_BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"


def _lex(text: str) -> list[str]:
    """Tokens; the last one is '' (end of string)."""
    tokens: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif text.startswith(("==", "!="), i):
            tokens.append(text[i : i + 2])
            i += 2
        elif char in _SPECIAL:
            tokens.append(char)
            i += 1
        else:
            start = i
            while i < len(text) and not text[i].isspace() and text[i] not in _SPECIAL:
                i += 1
            tokens.append(text[start:i])
    tokens.append("")
    return tokens


def _is_identifier(token: str) -> bool:
    return token != "" and token[0] not in _SPECIAL


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "in", "notin", "=", "==", "!=", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator in ("in", "=", "=="):
            return present and value in self.values
        if self.operator in ("notin", "!="):
            return not present or value not in self.values
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        try:
            actual, limit = int(value or ""), int(self.values[0])
        except ValueError:
            return False
        return actual > limit if self.operator == "gt" else actual < limit


class _LabelParser:
    def __init__(self, text: str):
        self.tokens = _lex(text)
        self.position = 0

    def peek(self) -> str:
        return self.tokens[self.position]

    def take(self) -> str:
        token = self.tokens[self.position]
        self.position = min(self.position + 1, len(self.tokens) - 1)
        return token

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            token = self.peek()
            if token == "":
                return requirements
            if not (_is_identifier(token) or token == "!"):
                raise ValueError(f"found '{token}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self.requirement())
            except ValueError as exc:
                raise ValueError(f"unable to parse requirement: {exc}") from None
            after = self.take()
            if after == "":
                return requirements
            if after != ",":
                raise ValueError(f"found '{after}', expected: ',' or 'end of string'")
            following = self.peek()
            if not (_is_identifier(following) or following == "!"):
                raise ValueError(f"found '{following}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        negated = False
        key = self.take()
        if key == "!":
            negated = True
            key = self.take()
        if not _is_identifier(key):
            raise ValueError(f"found '{key}', expected: identifier")
        key_errors = label_key_errors(key)
        if key_errors:
            raise ValueError(f'<nil>: Invalid value: "{key}": {"; ".join(key_errors)}')
        if negated or self.peek() in ("", ","):
            # After "!key" anything but ',' or the end is reported by the caller's loop.
            return Requirement(key, "!" if negated else "exists")
        operator = self.take()
        operator = {">": "gt", "<": "lt"}.get(operator, operator)
        if operator in ("in", "notin"):
            values = self.value_set()
        elif operator in ("=", "==", "!=", "gt", "lt"):
            values = self.exact_value()
        else:
            raise ValueError(f"found '{operator}', expected: {_BINARY_OPERATORS}")
        return _checked(Requirement(key, operator, values))

    def value_set(self) -> tuple[str, ...]:
        opening = self.take()
        if opening != "(":
            raise ValueError(f"found '{opening}' expected: '('")
        first = self.peek()
        if first == ")":
            self.take()
            return ("",)
        if not (_is_identifier(first) or first == ","):
            raise ValueError(f"found '{first}', expected: ',', ')' or identifier")
        values: list[str] = []
        expect_value = True
        while True:
            token = self.peek()
            if token == ",":
                self.take()
                if expect_value:
                    values.append("")  # "(a,,b)" and "(,a)" carry an empty value, as in kube
                expect_value = True
                continue
            if _is_identifier(token) and expect_value:
                values.append(self.take())
                expect_value = False
                continue
            break
        if expect_value:
            values.append("")
        closing = self.take()
        if closing != ")":
            raise ValueError(f"found '{closing}', expected: ')'")
        return tuple(dict.fromkeys(values))

    def exact_value(self) -> tuple[str, ...]:
        token = self.peek()
        if token in ("", ","):
            return ("",)
        token = self.take()
        if _is_identifier(token):
            return (token,)
        raise ValueError(f"found '{token}', expected: identifier")


def _checked(requirement: Requirement) -> Requirement:
    if requirement.operator in ("gt", "lt"):
        try:
            int(requirement.values[0])
        except ValueError:
            raise ValueError(
                f'values[0]: Invalid value: "{requirement.values[0]}": '
                "for 'Gt', 'Lt' operators, the value must be an integer"
            ) from None
        return requirement
    for index, value in enumerate(requirement.values):
        errors = label_value_errors(value)
        if errors:
            raise ValueError(f'values[{index}]: Invalid value: "{value}": {"; ".join(errors)}')
    return requirement


@dataclass(frozen=True)
class LabelSelector:
    """A parsed `labelSelector`: all requirements must hold (comma = AND). Empty matches everything."""

    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        return cls(tuple(_LabelParser(text or "").parse()))

    @classmethod
    def from_dict(cls, selector: Mapping[str, Any] | None) -> LabelSelector:
        """A metav1.LabelSelector object ({matchLabels, matchExpressions}); values are not re-validated."""
        selector = selector or {}
        requirements = [
            Requirement(k, "=", (str(v),)) for k, v in (selector.get("matchLabels") or {}).items()
        ]
        operators = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
        for expression in selector.get("matchExpressions") or []:
            operator = operators.get(expression.get("operator", ""))
            if operator is None:
                raise ValueError(f'"{expression.get("operator")}" is not a valid label selector operator')
            values = tuple(str(v) for v in expression.get("values") or ())
            requirements.append(Requirement(str(expression.get("key", "")), operator, values))
        return cls(tuple(requirements))

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(requirement.matches(labels) for requirement in self.requirements)

    def empty(self) -> bool:
        return not self.requirements


# -------------------------------------------------------------------------------- field selector
DEFAULT_FIELDS = ("metadata.name", "metadata.namespace")


def _split_unescaped(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        current.append("\\")
    parts.append("".join(current))
    return parts


def _unescape(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "\\":
            if i + 1 >= len(value) or value[i + 1] not in "\\,=!":
                raise ValueError(f"invalid field selector: invalid escape sequence in {value!r}")
            out.append(value[i + 1])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def _find_operator(term: str) -> tuple[int, str] | None:
    i = 0
    while i < len(term):
        if term[i] == "\\":
            i += 2
            continue
        for operator in ("!=", "==", "="):
            if term.startswith(operator, i):
                return i, operator
        i += 1
    return None


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    current: Any = obj
    for part in path.split("."):
        current = current.get(part) if isinstance(current, Mapping) else None
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)


@dataclass(frozen=True)
class FieldSelector:
    """A parsed `fieldSelector`: terms `field=value`, `field==value`, `field!=value`, comma = AND."""

    terms: tuple[tuple[str, str, str], ...] = ()  # (field, operator "=" or "!=", value)

    @classmethod
    def parse(cls, text: str, supported: Iterable[str] = DEFAULT_FIELDS) -> FieldSelector:
        """`supported` are the field labels this resource accepts (kube rejects others with 400)."""
        allowed = set(supported)
        terms: list[tuple[str, str, str]] = []
        for part in _split_unescaped(text or "", ","):
            if part == "":
                continue
            found = _find_operator(part)
            if found is None:
                raise ValueError(f"invalid selector: '{text}'; can't understand '{part}'")
            index, operator = found
            field, value = part[:index], _unescape(part[index + len(operator) :])
            if field not in allowed:
                raise ValueError(f"field label not supported: {field}")
            terms.append((field, "!=" if operator == "!=" else "=", value))
        return cls(tuple(terms))

    def matches(self, obj: Mapping[str, Any]) -> bool:
        for field, operator, value in self.terms:
            if (_field_value(obj, field) == value) != (operator == "="):
                return False
        return True

    def empty(self) -> bool:
        return not self.terms
