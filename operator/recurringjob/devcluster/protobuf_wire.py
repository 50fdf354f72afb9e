"""The protobuf wire format, read field by field (https://protobuf.dev/programming-guides/encoding/).

Errors carry the texts of the gogo-generated unmarshalers kube-apiserver runs ("unexpected EOF",
"proto: wrong wireType = 0 for field name", ...), so a client sees what kube would tell it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

VARINT, FIXED64, BYTES, FIXED32 = 0, 1, 2, 5

# the wire type each scalar (and every message, map entry, string and bytes field) is written with
WIRE_TYPE = {
    "int32": VARINT,
    "int64": VARINT,
    "uint32": VARINT,
    "uint64": VARINT,
    "bool": VARINT,
    "double": FIXED64,
    "float": FIXED32,
    "string": BYTES,
    "bytes": BYTES,
}

Value = int | bytes


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message (or not the message they claim to be)."""


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """(value as unsigned 64-bit, next position)."""
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise WireError("unexpected EOF")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & 0xFFFF_FFFF_FFFF_FFFF, pos
        shift += 7
        if shift >= 70:
            raise WireError("proto: integer overflow")


def fields(buf: bytes) -> Iterator[tuple[int, int, Value]]:
    """(field number, wire type, value): an int for varints, the raw bytes for everything else."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number <= 0 or number > 0x1FFFFFFF:
            raise WireError(f"proto: illegal tag {number} (wire type {wire})")
        value: Value
        if wire == VARINT:
            value, pos = read_varint(buf, pos)
        elif wire == BYTES:
            length, pos = read_varint(buf, pos)
            if length > end - pos:
                raise WireError("unexpected EOF")
            value, pos = buf[pos : pos + length], pos + length
        elif wire in (FIXED64, FIXED32):
            size = 8 if wire == FIXED64 else 4
            if size > end - pos:
                raise WireError("unexpected EOF")
            value, pos = buf[pos : pos + size], pos + size
        else:  # groups (3, 4) are not used by any Kubernetes message; 6 and 7 do not exist
            raise WireError(f"proto: illegal wireType {wire}")
        yield number, wire, value


def scalar(type_: str, value: Value) -> int | float | bool | str | bytes:
    """A scalar field's value as Go holds it (int32 truncates like Go's conversion; strings are not
    required to be UTF-8 on the wire: invalid bytes become U+FFFD, as encoding/json writes them)."""
    if type_ == "string":
        assert isinstance(value, bytes)
        return value.decode("utf-8", errors="replace")
    if type_ == "bytes":
        assert isinstance(value, bytes)
        return value
    if type_ == "double":
        assert isinstance(value, bytes)
        return float(struct.unpack("<d", value)[0])
    if type_ == "float":
        assert isinstance(value, bytes)
        return float(struct.unpack("<f", value)[0])
    assert isinstance(value, int)
    if type_ == "bool":
        return value != 0
    if type_ in ("int32", "uint32"):
        value &= 0xFFFF_FFFF
        return value - (1 << 32) if type_ == "int32" and value >= 1 << 31 else value
    if type_ == "int64" and value >= 1 << 63:
        return value - (1 << 64)
    return value


def packed(type_: str, buf: bytes) -> list[int | float | bool | str | bytes]:
    """The elements of a packed repeated scalar field (gogo accepts packed and unpacked alike)."""
    wire = WIRE_TYPE[type_]
    out: list[int | float | bool | str | bytes] = []
    pos = 0
    while pos < len(buf):
        if wire == VARINT:
            number, pos = read_varint(buf, pos)
            out.append(scalar(type_, number))
        else:
            size = 8 if wire == FIXED64 else 4
            if size > len(buf) - pos:
                raise WireError("unexpected EOF")
            out.append(scalar(type_, buf[pos : pos + size]))
            pos += size
    return out
