"""Request bodies in (JSON, YAML or protobuf, size-limited) and objects out (JSON, Tables, version views)."""

from __future__ import annotations

import json
from typing import Any

import yaml
from aiohttp import web

from recurringjob.devcluster import apierrors, protobuf
from recurringjob.devcluster.registry import ResourceType

Obj = dict[str, Any]
MAX_BODY_BYTES = 3 * 1024 * 1024  # kube-apiserver's MaxRequestBodyBytes
TABLE_GVK = ("meta.k8s.io", "Table")


BODY_KEY = "devcluster.body"  # request-local slot of a body read ahead of its handling


async def read_body(request: web.Request) -> bytes:
    """The whole body, refusing (413) anything over kube's limit without reading it all."""
    cached = request.get(BODY_KEY)  # read ahead by the hold fault (http.py)
    if isinstance(cached, bytes):
        return cached
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise too_large()
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(256 * 1024)  # returns what has arrived, not necessarily all
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large()
        chunks.append(chunk)


def too_large() -> apierrors.ApiError:
    return apierrors.ApiError(
        413, "RequestEntityTooLarge", f"Request entity too large: limit is {MAX_BODY_BYTES}"
    )


def decode(body: bytes, content_type: str) -> Any:
    """JSON, or YAML when the client says so (or when the body is not JSON): kube accepts both."""
    if not body.strip():
        raise apierrors.bad_request("the request body is empty")
    if protobuf.is_protobuf(content_type):  # only DeleteOptions come here; objects: decode_object
        return protobuf.decode_delete_options(body)
    if "protobuf" in content_type or "cbor" in content_type:
        raise apierrors.unsupported_media_type(
            "the body of the request was in an unknown format - accepted media "
            "types include: application/json, application/yaml"
        )
    if "yaml" not in content_type:
        try:
            return json.loads(body.decode())  # str: skips json's encoding sniffing of bytes
        except ValueError as exc:
            if "json" in content_type:
                raise apierrors.bad_request(f"couldn't get version/kind; json parse error: {exc}") from None
    try:
        return yaml.safe_load(body)
    except yaml.YAMLError as exc:
        raise apierrors.bad_request(f"error converting YAML to JSON: {exc}") from None


def decode_object(body: bytes, content_type: str, rt: ResourceType, version: str) -> Obj:
    """The body as an object of `rt` at `version`: 400 for non-objects and kind/version mismatches."""
    if protobuf.is_protobuf(content_type):
        obj: Any = protobuf.decode_object(body, rt, version)
    else:
        obj = decode(body, content_type)
    if not isinstance(obj, dict):
        raise apierrors.bad_request(f"the body of the request was not a {rt.kind} object")
    if not isinstance(obj.get("metadata", {}), dict):
        raise apierrors.bad_request("metadata must be an object")
    expected = rt.api_version(version)
    if rt.crd_name is not None and (not obj.get("kind") or not obj.get("apiVersion")):
        # unstructured decoding: the body names its own type
        missing = "Kind" if not obj.get("kind") else "apiVersion"
        raise apierrors.bad_request(f"Object '{missing}' is missing in '{json.dumps(obj)[:200]}'")
    api_version = obj.setdefault("apiVersion", expected)
    kind = obj.setdefault("kind", rt.kind)
    if api_version != expected:
        raise apierrors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected "
            f"API version ({expected})"
        )
    if kind != rt.kind:
        raise apierrors.bad_request(
            f'{kind} in version "{version}" cannot be handled as a {rt.kind}: '
            f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
        )
    return obj


def view(rt: ResourceType, obj: Obj, version: str) -> Obj:
    """The object as served at `version` (CRD conversion strategy None: only apiVersion changes)."""
    api_version = rt.api_version(version)
    if obj.get("apiVersion") == api_version:
        return obj
    return dict(obj, apiVersion=api_version)


_ENCODER = json.JSONEncoder(separators=(",", ":"))  # built once: json.dumps with options builds one per call


def dumps(doc: Any) -> bytes:
    return _ENCODER.encode(doc).encode()


def json_response(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=dumps(doc), status=status, content_type="application/json", headers=headers)


def error_response(error: apierrors.ApiError) -> web.Response:
    return json_response(error.status(), error.code, error.headers or None)


def negotiate(accept: str) -> None:
    """406 when the client accepts none of what we write: every answer is JSON (kubectl's
    `application/vnd.kubernetes.protobuf,application/json` gets JSON); a protobuf- or YAML-only
    client is refused rather than sent a body it did not ask for."""
    ranges = [part.split(";", 1)[0].strip().lower() for part in accept.split(",")]
    if any(r in ("", "*/*", "application/*", "application/json") for r in ranges):
        return
    raise apierrors.ApiError(
        406,
        "NotAcceptable",
        "only the following media types are accepted: application/json "
        "(the RecurringJob dev cluster answers in JSON only)",
    )


def wants_table(accept: str) -> bool:
    return "as=Table" in accept and "g=meta.k8s.io" in accept


def wants_metadata(accept: str) -> bool:
    return "as=PartialObjectMetadata" in accept


def partial_metadata(obj: Obj) -> Obj:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def table(rt: ResourceType, version: str, objects: list[Obj], revision: int, include: str | None) -> Obj:
    """meta.k8s.io/v1 Table; rows carry the object as `includeObject` asks (default: metadata only)."""
    from recurringjob.devcluster.printers import PRINTERS
    from recurringjob.devcluster.tables import build_table

    columns = rt.printer_columns.get(version) if rt.crd_name is not None else None
    printer = PRINTERS.get(rt.kind) if columns is None else None
    try:
        return build_table(objects, columns, str(revision), rt.kind, include or "Metadata", printer=printer)
    except ValueError as exc:
        raise apierrors.bad_request(str(exc)) from None
