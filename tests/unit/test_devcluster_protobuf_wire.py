"""protobuf_wire: varints, lengths, wire types, and gogo's error texts for malformed input."""

from __future__ import annotations

import pytest
from recurringjob.devcluster.protobuf_wire import WireError, fields, packed, read_varint, scalar


def test_varints() -> None:
    assert read_varint(bytes([0x01]), 0) == (1, 1)
    assert read_varint(bytes([0xAC, 0x02]), 0) == (300, 2)
    minus_one = bytes([0xFF] * 9 + [0x01])  # how Go writes int64(-1) and int32(-1)
    value, end = read_varint(minus_one, 0)
    assert end == 10
    assert scalar("int64", value) == -1
    assert scalar("int32", value) == -1
    assert scalar("bool", 2) is True


def test_a_varint_longer_than_64_bits_overflows() -> None:
    with pytest.raises(WireError, match="integer overflow"):
        read_varint(bytes([0xFF] * 11), 0)


def test_fields_of_each_wire_type() -> None:
    buf = (
        bytes([0x08, 0x96, 0x01])  # 1: varint 150
        + bytes([0x12, 0x02])
        + b"hi"  # 2: length-delimited
        + bytes([0x19])
        + bytes(8)  # 3: fixed64
        + bytes([0x25])
        + bytes(4)  # 4: fixed32
    )
    assert list(fields(buf)) == [(1, 0, 150), (2, 2, b"hi"), (3, 1, bytes(8)), (4, 5, bytes(4))]


@pytest.mark.parametrize(
    ("buf", "error"),
    [
        (bytes([0x0A, 0x05]) + b"abc", "unexpected EOF"),  # length beyond the end
        (bytes([0x08]), "unexpected EOF"),  # a tag without its value
        (bytes([0x08, 0x80]), "unexpected EOF"),  # a varint cut short
        (bytes([0x0B]), "illegal wireType 3"),  # groups: no Kubernetes message has them
        (bytes([0x0E]), "illegal wireType 6"),
        (bytes([0x00, 0x00]), "illegal tag 0"),
        (bytes([0x19, 0x00]), "unexpected EOF"),  # fixed64 cut short
    ],
)
def test_malformed_input(buf: bytes, error: str) -> None:
    with pytest.raises(WireError, match=error):
        list(fields(buf))


def test_strings_are_not_required_to_be_utf8() -> None:
    assert scalar("string", b"a\xffb") == "a\ufffdb"  # what Go's encoding/json writes for them


def test_packed_varints_and_a_cut_fixed_element() -> None:
    assert packed("int64", bytes([0x01, 0xAC, 0x02])) == [1, 300]
    with pytest.raises(WireError, match="unexpected EOF"):
        packed("double", bytes(5))
