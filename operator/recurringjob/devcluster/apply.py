"""The HTTP side of managed fields: write options (`fieldManager`, `force`) and apply patches.

`field_write` validates a write's options like kube-apiserver (422 Invalid on CreateOptions /
UpdateOptions / PatchOptions: a fieldManager over 128 bytes or with unprintable characters, an
apply without fieldManager, `force` on a non-apply patch) and names the write's manager.

`serve_apply` answers `PATCH` with `Content-Type: application/apply-patch+yaml` (YAML or JSON
body): 400 for a body that is not a YAML/JSON object, an apiVersion other than the URL's, a kind
other than the resource's, `metadata.managedFields` in the body, a name or namespace other than
the URL's, a configuration whose lists do not fit the schema; then managedfields.apply, 409 on
conflicts unless `force=true`; it creates the object when absent (201), like kube.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import yaml
from aiohttp import web

from recurringjob.devcluster import apierrors, codec, managedfields
from recurringjob.devcluster.managedfields import FieldWrite
from recurringjob.devcluster.managedfields_sets import ShapeError
from recurringjob.devcluster.objectmeta import now_rfc3339
from recurringjob.devcluster.routing import Target

if TYPE_CHECKING:
    from recurringjob.devcluster.http import ApiHandler

APPLY_PATCH_TYPE = "application/apply-patch+yaml"
_OPTIONS_KIND = {"create": "CreateOptions", "update": "UpdateOptions", "patch": "PatchOptions"}
_TRUE = ("1", "t", "T", "true", "TRUE", "True")
_BOOLS = (*_TRUE, "0", "f", "F", "false", "FALSE", "False")


def field_write(request: web.Request, verb: str) -> FieldWrite | None:
    """The manager of a create/update/patch (None for other verbs); 422 for invalid options."""
    options = _OPTIONS_KIND.get(verb)
    if options is None:
        return None
    query = request.query
    field_manager = query.get("fieldManager", "")
    if not field_manager and verb != "patch":  # the common case: nothing to check
        return FieldWrite(managedfields.manager_of(None, request.headers.get("User-Agent", "")))
    causes = managedfields.field_manager_errors(field_manager)
    if verb == "patch":
        if request.content_type != APPLY_PATCH_TYPE:
            if "force" in query:
                causes.insert(
                    0,
                    {
                        "reason": "FieldValueForbidden",
                        "field": "force",
                        "message": "Forbidden: may not be specified for non-apply patch",
                    },
                )
        elif not field_manager:
            causes.insert(
                0,
                {
                    "reason": "FieldValueRequired",
                    "field": "fieldManager",
                    "message": "Required value: is required for apply patch",
                },
            )
    if causes:
        raise apierrors.invalid("meta.k8s.io", options, "", causes)
    return FieldWrite(managedfields.manager_of(field_manager, request.headers.get("User-Agent", "")))


def _force(request: web.Request) -> bool:
    value = request.query.get("force", "false")
    if value not in _BOOLS:
        raise apierrors.bad_request(f'force: strconv.ParseBool: parsing "{value}": invalid syntax')
    return value in _TRUE


def _config(body: bytes, t: Target) -> dict[str, Any]:
    """The applied configuration, checked against the URL (400s, as kube answers them)."""
    try:
        config = json.loads(body)  # what kubectl sends; YAML parsing is many times slower
    except ValueError:
        try:
            config = yaml.safe_load(body) if body.strip() else {}
        except yaml.YAMLError as exc:
            raise apierrors.bad_request(f"error decoding YAML: {exc}") from None
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise apierrors.bad_request(
            f"error decoding YAML: the apply patch must be an object, not a {type(config).__name__}"
        )
    expected = t.rt.api_version(t.version)
    if config.get("apiVersion") != expected:
        raise apierrors.bad_request(
            "Incorrect version specified in apply patch. Specified patch version: "
            f"{config.get('apiVersion') or ''}, expected: {expected}"
        )
    if config.get("kind") != t.rt.kind:
        raise apierrors.bad_request(
            f"the kind in the apply patch ({config.get('kind') or ''}) does not match the kind of the "
            f"resource ({t.rt.kind}): apply a {t.rt.kind} to {t.rt.resource}"
        )
    meta = config.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise apierrors.bad_request("metadata must be an object")
    if meta.get("managedFields") is not None:
        raise apierrors.bad_request("metadata.managedFields must be nil")
    if meta.get("name") and meta["name"] != t.name:
        raise apierrors.bad_request(
            f"the name of the object ({meta['name']}) does not match the name on the URL ({t.name})"
        )
    if t.rt.namespaced and meta.get("namespace") and meta["namespace"] != t.namespace:
        raise apierrors.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    return config


async def serve_apply(
    handler: ApiHandler, request: web.Request, t: Target, dry_run: bool, write: FieldWrite
) -> web.Response:
    """A server-side apply (see the module docstring)."""
    force = _force(request)
    config = _config(await codec.read_body(request), t)
    warnings = handler._check_fields(request, t, config)
    schema = t.rt.schemas.get(t.version) if t.rt.crd_name is not None else None
    if schema is not None:
        config = schema.prune(config)  # unknown fields are neither stored nor owned
    store = handler.store
    live = store.peek(t.rt.rk, t.namespace, t.name or "")
    if live is None and t.subresource:
        raise apierrors.not_found(t.group, t.rt.resource, t.name or "")
    try:
        merged, entries = managedfields.apply(
            t.rt, live, config, write.manager, force, t.subresource, now_rfc3339()
        )
    except ShapeError as exc:
        where = f"{t.namespace}/{t.name}" if t.namespace else str(t.name)
        gvk = f"{t.rt.api_version(t.version)}, Kind={t.rt.kind}"
        raise apierrors.bad_request(f"failed to create typed patch object ({where}; {gvk}): {exc}") from None
    meta = merged["metadata"] = dict(merged.get("metadata") or {})
    meta["name"] = t.name
    if t.rt.namespaced:
        meta["namespace"] = t.namespace
    applied = FieldWrite(write.manager, applied=entries)
    if live is None:
        return handler._out(request, t, store.create(t.rt.rk, merged, dry_run, applied), 201, warnings)
    return handler._out(
        request, t, store.update(t.rt.rk, merged, t.subresource, dry_run, applied), 200, warnings
    )
