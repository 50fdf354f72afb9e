"""Protobuf request bodies (`Content-Type: application/vnd.kubernetes.protobuf`), as kubectl and other
client-go programs send them for typed writes (`kubectl create configmap|secret|job|...`).

A body is Kubernetes' envelope: the 4 bytes `k8s\\x00`, then a `runtime.Unknown` message holding the
object's typeMeta (apiVersion, kind), its protobuf bytes (`raw`), contentEncoding and contentType.
The object is decoded with the field table generated from the public .proto files
(protobuf_schema.py, see tools/gen_protobuf_schema.py) into the JSON dict kube-apiserver would
produce (protobuf_json.py); from there it is handled exactly like a JSON body.

Answers are kube-apiserver's: a kind without a protobuf form (custom resources) gets 415, a body
that is not a well-formed envelope or message gets 400 with the decoder's reason.
"""

from __future__ import annotations

from typing import Any

from recurringjob.devcluster import apierrors
from recurringjob.devcluster.protobuf_json import message_json, present
from recurringjob.devcluster.protobuf_schema import KINDS
from recurringjob.devcluster.protobuf_wire import WireError
from recurringjob.devcluster.registry import ResourceType

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
UNKNOWN = "k8s.io.apimachinery.pkg.runtime.Unknown"
DELETE_OPTIONS = "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions"
# client-go sends DeleteOptions as meta.k8s.io/v1 (older clients: the resource's own version, v1)
_DELETE_OPTIONS_VERSIONS = ("meta.k8s.io/v1", "v1")


def is_protobuf(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == MEDIA_TYPE


def decode_object(body: bytes, rt: ResourceType, version: str) -> dict[str, Any]:
    """The object in a protobuf body sent to `rt`'s URL at `version`, as kube's JSON would show it."""
    api_version, kind = rt.api_version(version), rt.kind
    message = KINDS.get((api_version, kind))
    if message is None:
        raise apierrors.unsupported_media_type(
            f"the body of the request was in an unknown format - accepted media types include: "
            f"application/json, application/yaml ({kind} has no protobuf encoding: custom resources "
            f"are served as JSON and YAML only)"
        )
    sent_version, sent_kind, raw = _envelope(body, kind)
    sent_version, sent_kind = sent_version or api_version, sent_kind or kind  # kube's copyKindDefaults
    if sent_version != api_version:
        raise apierrors.bad_request(
            f"the API version in the data ({sent_version}) does not match the expected API version "
            f"({api_version})"
        )
    if sent_kind != kind:
        raise apierrors.bad_request(
            f'{sent_kind} in version "{version}" cannot be handled as a {kind}: '
            f"the kind in the data ({sent_kind}) does not match the expected kind ({kind})"
        )
    try:
        obj = message_json(message, raw)
    except (WireError, RecursionError) as exc:  # recursion: a CRD schema nested thousands deep
        reason = str(exc) if isinstance(exc, WireError) else "the object is nested too deeply"
        raise apierrors.bad_request(
            f'{kind} in version "{version}" cannot be handled as a {kind}: {reason}'
        ) from None
    return {"kind": kind, "apiVersion": api_version, **obj}


def decode_delete_options(body: bytes) -> dict[str, Any]:
    """DeleteOptions sent by a protobuf client with a DELETE."""
    sent_version, sent_kind, raw = _envelope(body, "DeleteOptions")
    if sent_kind != "DeleteOptions" or sent_version not in _DELETE_OPTIONS_VERSIONS:
        raise apierrors.bad_request(
            f"the body of the request was not a DeleteOptions object (it is {sent_version} {sent_kind})"
        )
    try:
        options = message_json(DELETE_OPTIONS, raw)
    except WireError as exc:
        raise apierrors.bad_request(f"DeleteOptions cannot be decoded: {exc}") from None
    assert isinstance(options, dict)
    return options


def _envelope(body: bytes, expected_kind: str) -> tuple[str, str, bytes]:
    """(apiVersion, kind, raw object bytes) from the envelope; 400 naming what is wrong."""

    def unrecognized(reason: str) -> apierrors.ApiError:
        return apierrors.bad_request(
            f"the object provided is unrecognized (must be of type {expected_kind}): {reason} "
            f"({body[:30].hex()})"
        )

    if not body.startswith(MAGIC):
        raise unrecognized(
            f"provided data does not appear to be a protobuf message, expected prefix {list(MAGIC)}"
        )
    if len(body) == len(MAGIC):
        raise unrecognized("empty body")
    try:
        envelope = present(UNKNOWN, body[len(MAGIC) :])
    except WireError as exc:
        raise unrecognized(str(exc)) from None
    if envelope.get("contentEncoding"):
        # kube writes and reads no encoded (compressed) envelopes: stricter than silently misreading
        raise unrecognized(f"content encoding {envelope['contentEncoding']!r} is not supported")
    content_type = envelope.get("contentType", "")
    if content_type and not is_protobuf(content_type):
        raise unrecognized(f"the envelope's content type {content_type!r} is not {MEDIA_TYPE}")
    type_meta = envelope.get("typeMeta", {})
    return str(type_meta.get("apiVersion", "")), str(type_meta.get("kind", "")), envelope.get("raw", b"")
