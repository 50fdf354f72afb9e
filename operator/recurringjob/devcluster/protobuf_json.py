"""A protobuf-encoded Kubernetes message as the JSON dict kube-apiserver would write for it.

kube-apiserver unmarshals protobuf into its Go structs and writes JSON with encoding/json, so the
result follows Go's rules, which this module applies field by field from the generated table
(protobuf_schema.py):

- names are the `json` tags; `,inline` fields (Volume's VolumeSource, Probe's handler, ...) are
  merged into their parent;
- a field absent from the wire holds Go's zero value: `omitempty` drops zero scalars, nil pointers,
  nil/empty slices and maps; without it they are written (`0`, `""`, `null`); a struct is never
  omitted (`"status": {}`);
- bytes (Secret `data`, ConfigMap `binaryData`) become base64 strings;
- types with their own MarshalJSON: Time and MicroTime (RFC 3339, the zero time is `null`),
  Quantity (its string), IntOrString (a number or a string), FieldsV1/JSON (embedded raw JSON) and
  the JSONSchemaPropsOr* unions of CRD schemas.
"""

from __future__ import annotations

import base64
import datetime
import json
import math
import re
from collections.abc import Callable
from typing import Any

from recurringjob.devcluster.protobuf_schema import MESSAGES, SPECIAL
from recurringjob.devcluster.protobuf_wire import BYTES, WIRE_TYPE, WireError, fields, packed, scalar

SCALAR_ZERO: dict[str, Any] = {
    "string": "",
    "bool": False,
    "int32": 0,
    "int64": 0,
    "uint32": 0,
    "uint64": 0,
    "double": 0.0,
    "float": 0.0,
}
_GO_ZERO_TIME = -62135596800  # time.Time{}.Unix(): what Go writes for a zero metav1.Time
_QUANTITY = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?")
_QUANTITY_DOC = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"  # the pattern kube's error message names
_INDEX: dict[str, dict[int, tuple[int, str, str, str, str, str, bool]]] = {}


def message_json(name: str, buf: bytes | None) -> Any:
    """The JSON value of message `name` encoded as `buf`; None: the field was absent (Go's zero)."""
    special = SPECIAL.get(name)
    if special is not None:
        return _SPECIALS[special](present(name, buf or b""), bool(buf))
    values = _collect(name, buf or b"")
    out: dict[str, Any] = {}
    for number, json_name, _, label, type_, shape, omitempty in MESSAGES[name]:
        value = values.get(number)
        if shape == "inline":
            out.update(message_json(type_, value))
        elif label != "opt" or type_ == "bytes" or shape == "ptr":
            # slices, maps, []byte and pointers: nil when absent
            if value is None or (omitempty and label != "opt" and not value):
                if not omitempty:
                    out[json_name] = None
            elif omitempty and type_ == "bytes" and label == "opt" and not value:
                continue  # an empty []byte is omitted like a nil one
            else:
                out[json_name] = _json_value(type_, value, label)
        elif type_ in SCALAR_ZERO:
            value = SCALAR_ZERO[type_] if value is None else value
            if not (omitempty and not value):
                out[json_name] = _json_value(type_, value, label)
        else:  # a struct held by value: never omitted
            out[json_name] = message_json(type_, value)
    return out


def present(name: str, buf: bytes) -> dict[str, Any]:
    """The fields of `buf` that were on the wire, by proto name: messages converted to JSON, bytes kept."""
    values = _collect(name, buf)
    return {
        proto_name: values[number] if type_ == "bytes" else _json_value(type_, values[number], label)
        for number, _, proto_name, label, type_, _, _ in MESSAGES[name]
        if number in values
    }


def _json_value(type_: str, value: Any, label: str) -> Any:
    if label == "rep":
        return [_json_value(type_, v, "opt") for v in value]
    if label == "map":
        return {k: _json_value(type_, v, "opt") for k, v in value.items()}
    if type_ == "bytes":
        return base64.b64encode(value).decode()
    if type_ in ("double", "float"):
        if not math.isfinite(value):
            raise WireError(f"json: unsupported value: {value}")
        return int(value) if value.is_integer() and abs(value) < 1e21 else value
    if type_ in SCALAR_ZERO:
        return value
    return message_json(type_, value)


def _index(name: str) -> dict[int, tuple[int, str, str, str, str, str, bool]]:
    index = _INDEX.get(name)
    if index is None:
        index = _INDEX[name] = {field[0]: field for field in MESSAGES[name]}
    return index


def _collect(name: str, buf: bytes) -> dict[int, Any]:
    """number -> decoded value: scalars as Go holds them, message fields as their (merged) bytes,
    repeated fields as lists, maps as dicts. Unknown field numbers are skipped, as Go does."""
    index = _index(name)
    values: dict[int, Any] = {}
    for number, wire, raw in fields(buf):
        field = index.get(number)
        if field is None:
            continue
        _, _, proto_name, label, type_, _, _ = field
        is_scalar = type_ in WIRE_TYPE
        if label == "map":
            if not isinstance(raw, bytes) or wire != BYTES:
                raise WireError(f"proto: wrong wireType = {wire} for field {proto_name}")
            key, entry = _map_entry(type_, raw)
            values.setdefault(number, {})[key] = entry
        elif (
            label == "rep"
            and is_scalar
            and isinstance(raw, bytes)
            and wire == BYTES
            and WIRE_TYPE[type_] != BYTES
        ):
            values.setdefault(number, []).extend(packed(type_, raw))
        elif wire != (WIRE_TYPE[type_] if is_scalar else BYTES):
            raise WireError(f"proto: wrong wireType = {wire} for field {proto_name}")
        elif label == "rep":
            values.setdefault(number, []).append(scalar(type_, raw) if is_scalar else raw)
        elif is_scalar:
            values[number] = scalar(type_, raw)
        else:  # a message given twice is merged: protobuf's rule, and gogo's
            values[number] = values.get(number, b"") + raw
    return values


def _map_entry(value_type: str, buf: bytes) -> tuple[str, Any]:
    key: str = ""
    value: Any = None
    for number, wire, raw in fields(buf):
        if number == 1 and wire == BYTES:
            key = str(scalar("string", raw))
        elif number == 2:
            expected = WIRE_TYPE.get(value_type, BYTES)
            if wire != expected:
                raise WireError(f"proto: wrong wireType = {wire} for field value")
            value = scalar(value_type, raw) if value_type in WIRE_TYPE else raw
    if value is None:  # a missing value is the zero value of its type
        value = b"" if value_type not in SCALAR_ZERO else SCALAR_ZERO[value_type]
    return key, value


# ---- types with their own MarshalJSON ------------------------------------------------------------
def _rfc3339(fields_: dict[str, Any], micro: bool) -> str | None:
    seconds, nanos = fields_.get("seconds", 0), fields_.get("nanos", 0) if micro else 0  # Time: seconds only
    seconds, nanos = seconds + nanos // 1_000_000_000, nanos % 1_000_000_000  # time.Unix normalises
    if seconds == _GO_ZERO_TIME and nanos == 0:
        return None  # the zero time: Time.MarshalJSON writes null
    try:
        moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds)
    except OverflowError:
        raise WireError("Time.MarshalJSON: year outside of range [0,9999]") from None
    text = f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}"
    return f"{text}.{nanos // 1000:06d}Z" if micro else f"{text}Z"


def _time(fields_: dict[str, Any], nonempty: bool) -> str | None:
    # Go writes the zero Time as an empty message, and reads an empty one back as the zero Time
    return _rfc3339(fields_, micro=False) if nonempty else None


def _microtime(fields_: dict[str, Any], nonempty: bool) -> str | None:
    return _rfc3339(fields_, micro=True) if nonempty else None


def _quantity(fields_: dict[str, Any], nonempty: bool) -> str:
    if "string" not in fields_:
        return "0"  # the zero Quantity
    text = str(fields_["string"])
    if not _QUANTITY.fullmatch(text):  # kube's ParseQuantity refuses it while decoding
        raise WireError(f"quantities must match the regular expression '{_QUANTITY_DOC}' (got {text!r})")
    return text


def _intorstring(fields_: dict[str, Any], nonempty: bool) -> int | str:
    kind = fields_.get("type", 0)
    if kind == 0:
        return int(fields_.get("intVal", 0))
    if kind == 1:
        return str(fields_.get("strVal", ""))
    raise WireError(f"impossible IntOrString.Type {kind}")


def _rawjson(fields_: dict[str, Any], nonempty: bool) -> Any:
    raw = fields_.get("raw", fields_.get("Raw"))  # FieldsV1 spells it Raw
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise WireError(f"embedded JSON is not valid: {exc}") from None


def _schema_or_array(fields_: dict[str, Any], nonempty: bool) -> Any:
    return fields_.get("jSONSchemas") or fields_.get("schema")


def _schema_or_bool(fields_: dict[str, Any], nonempty: bool) -> Any:
    if "schema" in fields_:
        return fields_["schema"]
    return bool(fields_.get("allows", False))


def _schema_or_string_array(fields_: dict[str, Any], nonempty: bool) -> Any:
    return fields_.get("property") or fields_.get("schema")


_SPECIALS: dict[str, Callable[[dict[str, Any], bool], Any]] = {
    "time": _time,
    "microtime": _microtime,
    "quantity": _quantity,
    "intorstring": _intorstring,
    "rawjson": _rawjson,
    "schemaorarray": _schema_or_array,
    "schemaorbool": _schema_or_bool,
    "schemaorstringarray": _schema_or_string_array,
}
