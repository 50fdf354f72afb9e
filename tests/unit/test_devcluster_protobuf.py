"""protobuf: the envelope, kube's answers to bodies it cannot use, and the generated table's coverage."""

from __future__ import annotations

import pytest
from k8s_protobuf import CORE, META, envelope, new
from recurringjob.devcluster import apierrors, codec
from recurringjob.devcluster.protobuf import decode_delete_options, decode_object, is_protobuf
from recurringjob.devcluster.protobuf_json import _SPECIALS
from recurringjob.devcluster.protobuf_schema import KINDS, MESSAGES, SPECIAL
from recurringjob.devcluster.protobuf_wire import WIRE_TYPE
from recurringjob.devcluster.registry import BUILTINS, ResourceType

CONFIGMAPS = next(rt for rt in BUILTINS if rt.kind == "ConfigMap")
WIDGETS = ResourceType("example.dev", ("v1",), "widgets", "Widget", True, crd_name="widgets.example.dev")
MEDIA = "application/vnd.kubernetes.protobuf"


def configmap_body(api_version: str = "v1", kind: str = "ConfigMap") -> bytes:
    cm = new(f"{CORE}.ConfigMap", metadata=new(f"{META}.ObjectMeta", name="x"), data={"a": "b"})
    return envelope(api_version, kind, cm)


def refused(body: bytes, rt: ResourceType = CONFIGMAPS) -> apierrors.ApiError:
    with pytest.raises(apierrors.ApiError) as caught:
        decode_object(body, rt, "v1")
    return caught.value


def test_a_configmap_body_decodes_with_its_kind_first() -> None:
    obj = decode_object(configmap_body(), CONFIGMAPS, "v1")
    assert list(obj)[:2] == ["kind", "apiVersion"]
    assert obj == {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"name": "x", "creationTimestamp": None},
        "data": {"a": "b"},
    }


def test_codec_routes_protobuf_bodies_to_the_decoder() -> None:
    obj = codec.decode_object(configmap_body(), MEDIA, CONFIGMAPS, "v1")
    assert obj["data"] == {"a": "b"}
    assert is_protobuf("application/vnd.kubernetes.protobuf; charset=binary")
    assert not is_protobuf("application/json")


def test_an_envelope_without_type_meta_takes_the_url_s() -> None:
    raw = new(f"{CORE}.ConfigMap", data={"a": "b"}).SerializeToString()
    body = b"k8s\x00" + new("k8s.io.apimachinery.pkg.runtime.Unknown", raw=raw).SerializeToString()
    assert decode_object(body, CONFIGMAPS, "v1")["kind"] == "ConfigMap"


def test_a_custom_resource_gets_415_naming_its_kind() -> None:
    error = refused(configmap_body("example.dev/v1", "Widget"), WIDGETS)
    assert (error.code, error.reason) == (415, "UnsupportedMediaType")
    assert "Widget has no protobuf encoding" in error.message
    assert "application/json, application/yaml" in error.message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"kind": "ConfigMap"}',
            "does not appear to be a protobuf message, expected prefix [107, 56, 115, 0]",
        ),
        (b"k8s\x00", "empty body"),
        (b"k8s\x00\x0a\x40\x0a", "unexpected EOF"),  # the envelope cut short
        (b"k8s\x00\x0b", "illegal wireType 3"),
    ],
)
def test_a_malformed_envelope_gets_400(body: bytes, message: str) -> None:
    error = refused(body)
    assert (error.code, error.reason) == (400, "BadRequest")
    assert error.message.startswith("the object provided is unrecognized (must be of type ConfigMap): ")
    assert message in error.message


def test_a_garbled_object_gets_400_naming_the_kind_and_the_reason() -> None:
    good = new(f"{CORE}.ConfigMap", data={"key": "value"}).SerializeToString()
    error = refused(envelope("v1", "ConfigMap", good[:-3]))
    assert (error.code, error.reason) == (400, "BadRequest")
    assert error.message == 'ConfigMap in version "v1" cannot be handled as a ConfigMap: unexpected EOF'


def test_an_envelope_naming_another_kind_or_version_gets_400() -> None:
    error = refused(configmap_body("v1", "Secret"))
    assert error.code == 400
    assert "the kind in the data (Secret) does not match the expected kind (ConfigMap)" in error.message
    error = refused(configmap_body("apps/v1", "ConfigMap"))
    assert error.code == 400
    assert (
        "the API version in the data (apps/v1) does not match the expected API version (v1)" in error.message
    )


def test_encoded_envelopes_are_refused() -> None:
    unknown = new(
        "k8s.io.apimachinery.pkg.runtime.Unknown",
        typeMeta=new("k8s.io.apimachinery.pkg.runtime.TypeMeta", apiVersion="v1", kind="ConfigMap"),
        contentEncoding="gzip",
    )
    error = refused(b"k8s\x00" + unknown.SerializeToString())
    assert error.code == 400
    assert "content encoding 'gzip' is not supported" in error.message


def test_delete_options() -> None:
    options = new(f"{META}.DeleteOptions", propagationPolicy="Foreground", gracePeriodSeconds=0)
    assert decode_delete_options(envelope("meta.k8s.io/v1", "DeleteOptions", options)) == {
        "gracePeriodSeconds": 0,
        "propagationPolicy": "Foreground",
    }
    assert codec.decode(envelope("v1", "DeleteOptions", options), MEDIA)["propagationPolicy"] == "Foreground"
    with pytest.raises(apierrors.ApiError, match="not a DeleteOptions object"):
        decode_delete_options(configmap_body())


def test_every_builtin_kind_has_a_protobuf_message() -> None:
    # a kind added to the registry without regenerating the table fails here (tools/gen_protobuf_schema.py)
    served = {(rt.api_version(v), rt.kind) for rt in BUILTINS for v in rt.versions}
    assert served == set(KINDS)
    assert all(message in MESSAGES for message in KINDS.values())


def test_the_table_is_closed_and_every_special_type_has_a_converter() -> None:
    for name, table in MESSAGES.items():
        for number, _, _, label, type_, shape, _ in table:
            assert label in ("opt", "rep", "map") and shape in ("val", "ptr", "inline"), (name, number)
            assert type_ in WIRE_TYPE or type_ in MESSAGES, (name, number, type_)
    assert set(SPECIAL.values()) <= set(_SPECIALS)


def _length_delimited(number: int, payload: bytes) -> bytes:
    def varint(value: int) -> bytes:
        out = bytearray()
        while value >= 0x80:
            out.append(value & 0x7F | 0x80)
            value >>= 7
        return bytes(out) + bytes([value])

    return varint(number << 3 | 2) + varint(len(payload)) + payload


def test_a_schema_nested_beyond_the_stack_gets_400_not_500() -> None:
    schema = b""
    for _ in range(5000):  # JSONSchemaProps.not (28), nested
        schema = _length_delimited(28, schema)
    validation = _length_delimited(1, schema)  # CustomResourceValidation.openAPIV3Schema
    version = _length_delimited(4, validation)  # CustomResourceDefinitionVersion.schema
    crd = _length_delimited(2, _length_delimited(7, version))  # CRD.spec.versions
    crds = next(rt for rt in BUILTINS if rt.kind == "CustomResourceDefinition")
    error = refused(envelope("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd), crds)
    assert (error.code, error.reason) == (400, "BadRequest")
    assert error.message.endswith("the object is nested too deeply")
