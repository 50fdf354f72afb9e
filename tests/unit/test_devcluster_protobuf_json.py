"""protobuf_json: messages encoded by the protobuf package (field numbers typed from the public .proto
files, k8s_protobuf.py) come out as the JSON kube-apiserver writes for them (Go's encoding/json rules)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st
from k8s_protobuf import CORE, META, new
from recurringjob.devcluster.protobuf_json import message_json
from recurringjob.devcluster.protobuf_wire import WireError

INTSTR = "k8s.io.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "k8s.io.apimachinery.pkg.api.resource.Quantity"
GO_ZERO_TIME = -62135596800  # time.Time{}.Unix()


def decode(message_type: str, message: object) -> object:
    return message_json(message_type, message.SerializeToString())  # type: ignore[attr-defined]


def test_configmap_data_binary_data_and_a_present_false_pointer() -> None:
    cm = new(
        f"{CORE}.ConfigMap",
        metadata=new(f"{META}.ObjectMeta", name="x", namespace="team-a", labels={"app": "web"}),
        data={"a": "b", "empty": ""},
        binaryData={"bin": b"\x00\xff"},
        immutable=False,
    )
    assert decode(f"{CORE}.ConfigMap", cm) == {
        "metadata": {
            "name": "x",
            "namespace": "team-a",
            "creationTimestamp": None,  # a struct: never omitted; the zero Time is null
            "labels": {"app": "web"},
        },
        "immutable": False,  # *bool sent as false: kept
        "data": {"a": "b", "empty": ""},
        "binaryData": {"bin": base64.b64encode(b"\x00\xff").decode()},
    }


def test_secret_data_is_base64_in_json() -> None:
    secret = new(f"{CORE}.Secret", data={"password": b"hunter2"}, type="Opaque")
    out = decode(f"{CORE}.Secret", secret)
    assert out == {
        "metadata": {"creationTimestamp": None},
        "data": {"password": "aHVudGVyMg=="},
        "type": "Opaque",
    }


def test_empty_strings_and_zeros_on_the_wire_follow_omitempty() -> None:
    # gogo writes every non-pointer scalar, empty or not: omitempty fields vanish, others stay
    meta = new(f"{META}.ObjectMeta", name="n", generateName="", namespace="", uid="", generation=0)
    assert decode(f"{META}.ObjectMeta", meta) == {"name": "n", "creationTimestamp": None}
    port = new(f"{CORE}.ServicePort", name="", protocol="TCP", port=0, nodePort=0)
    # port (json:"port") has no omitempty; targetPort is an IntOrString struct: written as 0
    assert decode(f"{CORE}.ServicePort", port) == {"protocol": "TCP", "port": 0, "targetPort": 0}


def test_fields_absent_from_the_wire_hold_go_zero_values() -> None:
    container = new(f"{CORE}.Container", image="busybox")
    # name has no omitempty: written as ""; resources is a struct: {}
    assert decode(f"{CORE}.Container", container) == {"name": "", "image": "busybox", "resources": {}}


def test_job_from_kubectl_create_job() -> None:
    template = new(
        f"{CORE}.PodTemplateSpec",
        metadata=new(
            f"{META}.ObjectMeta", creationTimestamp=new(f"{META}.Time")
        ),  # Go writes zero Time empty
        spec=new(
            f"{CORE}.PodSpec",
            containers=[new(f"{CORE}.Container", name="manual", image="busybox", command=["echo", "hi"])],
            restartPolicy="Never",
        ),
    )
    job = new(
        "k8s.io.api.batch.v1.Job",
        metadata=new(f"{META}.ObjectMeta", name="manual"),
        spec=new("k8s.io.api.batch.v1.JobSpec", template=template, activeDeadlineSeconds=60),
    )
    out = decode("k8s.io.api.batch.v1.Job", job)
    assert isinstance(out, dict)
    assert out["spec"]["activeDeadlineSeconds"] == 60
    assert "parallelism" not in out["spec"]  # a nil *int32: omitted
    assert out["spec"]["template"] == {
        "metadata": {"creationTimestamp": None},
        "spec": {
            "containers": [
                {"name": "manual", "image": "busybox", "command": ["echo", "hi"], "resources": {}}
            ],
            "restartPolicy": "Never",
        },
    }
    assert out["status"] == {}  # never sent, still written (a struct)


def test_inline_volume_source_merges_into_the_volume() -> None:
    volume = new(
        f"{CORE}.Volume",
        name="cfg",
        volumeSource=new(
            f"{CORE}.VolumeSource",
            configMap=new(
                f"{CORE}.ConfigMapVolumeSource",
                localObjectReference=new(f"{CORE}.LocalObjectReference", name="x"),
                defaultMode=0o644,
            ),
        ),
    )
    assert decode(f"{CORE}.Volume", volume) == {"name": "cfg", "configMap": {"name": "x", "defaultMode": 420}}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"type": 0, "intVal": 8080}, 8080),
        ({"type": 1, "strVal": "http"}, "http"),
        ({"type": 1, "strVal": "50%"}, "50%"),
        ({}, 0),
    ],
)
def test_int_or_string(fields: dict[str, object], expected: object) -> None:
    assert decode(INTSTR, new(INTSTR, **fields)) == expected


def test_int_or_string_with_an_impossible_type_is_refused() -> None:
    with pytest.raises(WireError, match=r"impossible IntOrString\.Type 7"):
        decode(INTSTR, new(INTSTR, type=7))


def test_quantities_in_resource_maps() -> None:
    resources = new(
        f"{CORE}.ResourceRequirements",
        limits={"cpu": new(QUANTITY, string="500m"), "memory": new(QUANTITY, string="1Gi")},
    )
    assert decode(f"{CORE}.ResourceRequirements", resources) == {"limits": {"cpu": "500m", "memory": "1Gi"}}


@pytest.mark.parametrize("text", ["", "abc", "1..2Gi", "5 Mi"])
def test_a_malformed_quantity_is_refused(text: str) -> None:
    with pytest.raises(WireError, match="quantities must match"):
        decode(QUANTITY, new(QUANTITY, string=text))


def test_time_is_rfc3339_seconds_and_the_zero_time_is_null() -> None:
    assert (
        decode(f"{META}.Time", new(f"{META}.Time", seconds=1700000000, nanos=999)) == "2023-11-14T22:13:20Z"
    )
    assert decode(f"{META}.Time", new(f"{META}.Time", seconds=GO_ZERO_TIME)) is None
    assert message_json(f"{META}.Time", b"") is None  # the zero Time, as Go marshals it
    assert decode(f"{META}.Time", new(f"{META}.Time", seconds=0)) == "1970-01-01T00:00:00Z"


def test_microtime_keeps_microseconds() -> None:
    spec = new(
        "k8s.io.api.coordination.v1.LeaseSpec",
        holderIdentity="replica-1",
        leaseDurationSeconds=15,
        renewTime=new(f"{META}.MicroTime", seconds=1700000000, nanos=123456789),
    )
    assert decode("k8s.io.api.coordination.v1.LeaseSpec", spec) == {
        "holderIdentity": "replica-1",
        "leaseDurationSeconds": 15,
        "renewTime": "2023-11-14T22:13:20.123456Z",
    }


def test_negative_and_packed_integers() -> None:
    context = new(f"{CORE}.PodSecurityContext", runAsUser=-1, supplementalGroups=[1000, 2000, -5])
    encoded = context.SerializeToString()
    assert message_json(f"{CORE}.PodSecurityContext", encoded) == {
        "runAsUser": -1,
        "supplementalGroups": [1000, 2000, -5],
    }
    # the same list packed (one length-delimited field) is read alike
    packed = bytes([0x22, 0x04, 0xE8, 0x07, 0xD0, 0x0F])
    assert message_json(f"{CORE}.PodSecurityContext", packed) == {"supplementalGroups": [1000, 2000]}


def test_unknown_fields_are_skipped_and_wrong_wire_types_refused() -> None:
    cm = new(f"{CORE}.ConfigMap", data={"a": "b"}).SerializeToString()
    future_field = bytes([0xF8, 0x06, 0x01])  # field 111, varint 1: a field newer than our table
    assert message_json(f"{CORE}.ConfigMap", cm + future_field)["data"] == {"a": "b"}
    wrong = bytes([0x10, 0x01])  # field 2 (data, a map) sent as a varint
    with pytest.raises(WireError, match="wrong wireType = 0 for field data"):
        message_json(f"{CORE}.ConfigMap", wrong)


def test_a_truncated_message_is_refused() -> None:
    encoded = new(f"{CORE}.ConfigMap", data={"key": "value"}).SerializeToString()
    with pytest.raises(WireError, match="unexpected EOF"):
        message_json(f"{CORE}.ConfigMap", encoded[:-2])


def test_a_message_field_sent_twice_is_merged() -> None:
    first = new(f"{CORE}.ConfigMap", metadata=new(f"{META}.ObjectMeta", name="x")).SerializeToString()
    second = new(f"{CORE}.ConfigMap", metadata=new(f"{META}.ObjectMeta", namespace="ns")).SerializeToString()
    assert message_json(f"{CORE}.ConfigMap", first + second)["metadata"] == {
        "name": "x",
        "namespace": "ns",
        "creationTimestamp": None,
    }


@given(
    data=st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=40), max_size=8),
    binary=st.dictionaries(st.text(min_size=1, max_size=20), st.binary(max_size=40), max_size=8),
    labels=st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=20), max_size=4),
)
def test_configmap_round_trip(data: dict[str, str], binary: dict[str, bytes], labels: dict[str, str]) -> None:
    cm = new(
        f"{CORE}.ConfigMap",
        metadata=new(f"{META}.ObjectMeta", name="cm", labels=labels),
        data=data,
        binaryData=binary,
    )
    out = decode(f"{CORE}.ConfigMap", cm)
    assert isinstance(out, dict)
    assert out.get("data", {}) == data
    assert {k: base64.b64decode(v) for k, v in out.get("binaryData", {}).items()} == binary
    assert out["metadata"].get("labels", {}) == labels
