"""Kubernetes protobuf bodies built with the `protobuf` package, for the dev cluster decoder's tests.

The messages below are typed by hand from the public generated.proto files of k8s.io/api and
k8s.io/apimachinery (v0.32), only the fields the tests use: an encoder independent of the table the
decoder is generated from, so a wrong number or wire type in that table shows up as a test failure.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

META = "k8s.io.apimachinery.pkg.apis.meta.v1"
CORE = "k8s.io.api.core.v1"
F = descriptor_pb2.FieldDescriptorProto
SCALAR_TYPES = {
    "string": F.TYPE_STRING,
    "bytes": F.TYPE_BYTES,
    "bool": F.TYPE_BOOL,
    "int32": F.TYPE_INT32,
    "int64": F.TYPE_INT64,
}

# package -> message -> [(name, number, type, "opt" | "rep" | "map")]; a map's type is its value's
PROTOS: dict[str, dict[str, list[tuple[str, int, str, str]]]] = {
    "k8s.io.apimachinery.pkg.runtime": {
        "TypeMeta": [("apiVersion", 1, "string", "opt"), ("kind", 2, "string", "opt")],
        "Unknown": [
            ("typeMeta", 1, ".k8s.io.apimachinery.pkg.runtime.TypeMeta", "opt"),
            ("raw", 2, "bytes", "opt"),
            ("contentEncoding", 3, "string", "opt"),
            ("contentType", 4, "string", "opt"),
        ],
    },
    "k8s.io.apimachinery.pkg.util.intstr": {
        "IntOrString": [
            ("type", 1, "int64", "opt"),
            ("intVal", 2, "int32", "opt"),
            ("strVal", 3, "string", "opt"),
        ],
    },
    "k8s.io.apimachinery.pkg.api.resource": {"Quantity": [("string", 1, "string", "opt")]},
    META: {
        "Time": [("seconds", 1, "int64", "opt"), ("nanos", 2, "int32", "opt")],
        "MicroTime": [("seconds", 1, "int64", "opt"), ("nanos", 2, "int32", "opt")],
        "ObjectMeta": [
            ("name", 1, "string", "opt"),
            ("generateName", 2, "string", "opt"),
            ("namespace", 3, "string", "opt"),
            ("uid", 5, "string", "opt"),
            ("generation", 7, "int64", "opt"),
            ("creationTimestamp", 8, f".{META}.Time", "opt"),
            ("deletionTimestamp", 9, f".{META}.Time", "opt"),
            ("labels", 11, "string", "map"),
            ("annotations", 12, "string", "map"),
            ("finalizers", 14, "string", "rep"),
        ],
        "LabelSelector": [("matchLabels", 1, "string", "map")],
        "DeleteOptions": [
            ("gracePeriodSeconds", 1, "int64", "opt"),
            ("propagationPolicy", 4, "string", "opt"),
        ],
    },
    CORE: {
        "ConfigMap": [
            ("metadata", 1, f".{META}.ObjectMeta", "opt"),
            ("data", 2, "string", "map"),
            ("binaryData", 3, "bytes", "map"),
            ("immutable", 4, "bool", "opt"),
        ],
        "Secret": [
            ("metadata", 1, f".{META}.ObjectMeta", "opt"),
            ("data", 2, "bytes", "map"),
            ("type", 3, "string", "opt"),
        ],
        "LocalObjectReference": [("name", 1, "string", "opt")],
        "ConfigMapVolumeSource": [
            ("localObjectReference", 1, f".{CORE}.LocalObjectReference", "opt"),
            ("defaultMode", 3, "int32", "opt"),
        ],
        "VolumeSource": [("configMap", 19, f".{CORE}.ConfigMapVolumeSource", "opt")],
        "Volume": [("name", 1, "string", "opt"), ("volumeSource", 2, f".{CORE}.VolumeSource", "opt")],
        "ContainerPort": [("name", 1, "string", "opt"), ("containerPort", 3, "int32", "opt")],
        "ResourceRequirements": [
            ("limits", 1, ".k8s.io.apimachinery.pkg.api.resource.Quantity", "map"),
            ("requests", 2, ".k8s.io.apimachinery.pkg.api.resource.Quantity", "map"),
        ],
        "Container": [
            ("name", 1, "string", "opt"),
            ("image", 2, "string", "opt"),
            ("command", 3, "string", "rep"),
            ("ports", 6, f".{CORE}.ContainerPort", "rep"),
            ("resources", 8, f".{CORE}.ResourceRequirements", "opt"),
        ],
        "PodSecurityContext": [("runAsUser", 2, "int64", "opt"), ("supplementalGroups", 4, "int64", "rep")],
        "PodSpec": [
            ("volumes", 1, f".{CORE}.Volume", "rep"),
            ("containers", 2, f".{CORE}.Container", "rep"),
            ("restartPolicy", 3, "string", "opt"),
            ("securityContext", 14, f".{CORE}.PodSecurityContext", "opt"),
        ],
        "PodTemplateSpec": [
            ("metadata", 1, f".{META}.ObjectMeta", "opt"),
            ("spec", 2, f".{CORE}.PodSpec", "opt"),
        ],
        "ServicePort": [
            ("name", 1, "string", "opt"),
            ("protocol", 2, "string", "opt"),
            ("port", 3, "int32", "opt"),
            ("targetPort", 4, ".k8s.io.apimachinery.pkg.util.intstr.IntOrString", "opt"),
            ("nodePort", 5, "int32", "opt"),
        ],
        "ServiceSpec": [
            ("ports", 1, f".{CORE}.ServicePort", "rep"),
            ("selector", 2, "string", "map"),
            ("type", 4, "string", "opt"),
        ],
        "Service": [
            ("metadata", 1, f".{META}.ObjectMeta", "opt"),
            ("spec", 2, f".{CORE}.ServiceSpec", "opt"),
        ],
    },
    "k8s.io.api.batch.v1": {
        "JobSpec": [
            ("parallelism", 1, "int32", "opt"),
            ("activeDeadlineSeconds", 3, "int64", "opt"),
            ("template", 6, f".{CORE}.PodTemplateSpec", "opt"),
            ("backoffLimit", 7, "int32", "opt"),
            ("suspend", 10, "bool", "opt"),
        ],
        "Job": [
            ("metadata", 1, f".{META}.ObjectMeta", "opt"),
            ("spec", 2, ".k8s.io.api.batch.v1.JobSpec", "opt"),
        ],
    },
    "k8s.io.api.policy.v1": {
        "PodDisruptionBudgetSpec": [
            ("minAvailable", 1, ".k8s.io.apimachinery.pkg.util.intstr.IntOrString", "opt"),
            ("selector", 2, f".{META}.LabelSelector", "opt"),
            ("maxUnavailable", 3, ".k8s.io.apimachinery.pkg.util.intstr.IntOrString", "opt"),
        ],
    },
    "k8s.io.api.coordination.v1": {
        "LeaseSpec": [
            ("holderIdentity", 1, "string", "opt"),
            ("leaseDurationSeconds", 2, "int32", "opt"),
            ("renewTime", 4, f".{META}.MicroTime", "opt"),
        ],
    },
}


def _file(
    package: str, messages: dict[str, list[tuple[str, int, str, str]]]
) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(name=f"{package}.proto", package=package, syntax="proto2")
    for message_name, fields in messages.items():
        message = proto.message_type.add(name=message_name)
        for name, number, type_, label in fields:
            field = message.field.add(name=name, number=number, json_name=name)
            field.label = F.LABEL_REPEATED if label in ("rep", "map") else F.LABEL_OPTIONAL
            if label == "map":
                entry_name = name[0].upper() + name[1:] + "Entry"
                entry = message.nested_type.add(name=entry_name)
                entry.options.map_entry = True
                entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
                value = entry.field.add(name="value", number=2, label=F.LABEL_OPTIONAL)
                _set_type(value, type_)
                field.type, field.type_name = F.TYPE_MESSAGE, f".{package}.{message_name}.{entry_name}"
            else:
                _set_type(field, type_)
    return proto


def _set_type(field: descriptor_pb2.FieldDescriptorProto, type_: str) -> None:
    if type_ in SCALAR_TYPES:
        field.type = SCALAR_TYPES[type_]
    else:
        field.type, field.type_name = F.TYPE_MESSAGE, type_


def _pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for package, messages in PROTOS.items():  # dependencies first: the dict is in that order
        pool.Add(_file(package, messages))
    return pool


_POOL = _pool()


def new(full_name: str, **fields: Any) -> Message:
    """A message of type `full_name` (e.g. k8s.io.api.core.v1.ConfigMap), fields set from keywords."""
    cls = message_factory.GetMessageClass(_POOL.FindMessageTypeByName(full_name))
    message = cls()
    for name, value in fields.items():
        target = getattr(message, name)
        if isinstance(value, Message):
            target.CopyFrom(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, Message):
                    target[key].CopyFrom(item)
                else:
                    target[key] = item
        elif isinstance(value, list):
            target.extend(value)
        else:
            setattr(message, name, value)
    return message


def envelope(api_version: str, kind: str, raw: bytes | Message) -> bytes:
    """The body kube's protobuf serializer writes: magic, then runtime.Unknown around the object."""
    if isinstance(raw, Message):
        raw = raw.SerializeToString()
    unknown = new(
        "k8s.io.apimachinery.pkg.runtime.Unknown",
        typeMeta=new("k8s.io.apimachinery.pkg.runtime.TypeMeta", apiVersion=api_version, kind=kind),
        raw=raw,
    )
    return b"k8s\x00" + unknown.SerializeToString()
