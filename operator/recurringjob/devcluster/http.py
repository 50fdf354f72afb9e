"""REST handlers: one catch-all route resolving kube URLs, then get/list/create/update/patch/delete.

Each request is resolved to a `RequestInfo`, offered to the fault injector, handled, and — when it
mutates — written to the audit log before its response leaves; every request, reads included, goes
to the access log (accesslog.py) when one is configured. Between reading an object and
writing it there is no `await`, so every write is atomic with respect to every other one.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

from aiohttp import web

from recurringjob.devcluster import apierrors, codec, crds
from recurringjob.devcluster.accesslog import AccessLog
from recurringjob.devcluster.apply import APPLY_PATCH_TYPE, field_write, serve_apply
from recurringjob.devcluster.audit import AuditLog, created_name
from recurringjob.devcluster.discovery import Discovery
from recurringjob.devcluster.managedfields import FieldWrite
from recurringjob.devcluster.request import RequestInfo
from recurringjob.devcluster.routing import Target, client_identity, document, non_resource, resolve
from recurringjob.devcluster.store import Obj, Store
from recurringjob.devcluster.watch import EventLines, serve_watch

PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    APPLY_PATCH_TYPE: "apply",
}


class ApiHandler:
    def __init__(
        self,
        store: Store,
        discovery: Discovery,
        audit: AuditLog | None,
        faults: Any = None,
        bookmark_interval: float = 10.0,
        access: AccessLog | None = None,
    ) -> None:
        self.store, self.discovery, self.audit, self.faults = store, discovery, audit, faults
        self.access = access
        self.bookmark_interval = bookmark_interval
        self.event_lines = EventLines()
        self._held_tasks: set[asyncio.Task[web.StreamResponse]] = set()

    # ---- entry point -----------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        received = time.time()
        path = request.path.rstrip("/") or "/"
        client = client_identity(request)
        try:
            if not (path.startswith("/api/") or path.startswith("/apis/") or path in ("/api", "/apis")):
                resolved: tuple[Target, RequestInfo] | str | None = None
            else:
                resolved = resolve(self.store.registry, request.method, request.query, path, client)
        except apierrors.ApiError as exc:
            unresolved = codec.error_response(exc)
            if self.access is not None:
                self.access.record_non_resource(received, request.method, path, unresolved.status, client)
            return unresolved
        if not isinstance(resolved, tuple):  # discovery, openapi, version, health
            answer = await self._intercept(RequestInfo("get", "", "", "", None, None, None, client))
            if answer is None:
                answer = (
                    non_resource(self.discovery, request, path)
                    if resolved is None
                    else document(self.discovery, request, resolved)
                )
            if self.access is not None:
                self.access.record_non_resource(received, request.method, path, answer.status, client)
            return answer
        target, info = resolved
        injected = await self._intercept(info)
        if injected is not None:
            self._audit(received, info, injected.status, None, request)
            self._log_access(received, info, injected.status, None)
            return injected
        hold = self.faults.hold_for(info) if self.faults is not None and info.verb != "watch" else None
        if hold is not None:
            return await self._held(request, target, info, received, hold)
        return await self._serve(request, target, info, received)

    async def _serve(
        self, request: web.Request, target: Target, info: RequestInfo, received: float,
        held_since: float | None = None,
    ) -> web.StreamResponse:
        created: Obj | None = None
        try:
            codec.negotiate(request.headers.get("Accept", ""))
            if info.verb == "watch":
                return await serve_watch(self, request, target, info)  # logs its access once started
            response, created = await self._dispatch(request, target, info)
        except apierrors.ApiError as exc:
            response = codec.error_response(exc)
            created = getattr(exc, "created", None)
        if info.is_mutating:
            self._audit(received, info, response.status, created, request, held_since)
        self._log_access(received, info, response.status, created)
        return response

    async def _held(
        self, request: web.Request, target: Target, info: RequestInfo, received: float, seconds: float
    ) -> web.StreamResponse:
        """The hold fault: the request is on the server, its commit comes `seconds` later, whatever
        the client does meanwhile (aiohttp may cancel a handler whose client left: the commit is
        shielded from that)."""
        try:
            request[codec.BODY_KEY] = await codec.read_body(request)  # all of it is here before the wait
        except apierrors.ApiError as exc:
            return codec.error_response(exc)

        async def commit() -> web.StreamResponse:
            await asyncio.sleep(seconds)
            return await self._serve(request, target, info, time.time(), held_since=received)

        task = asyncio.ensure_future(commit())
        self._held_tasks.add(task)  # a task nobody references may be garbage-collected mid-way
        task.add_done_callback(self._held_tasks.discard)
        return await asyncio.shield(task)

    def _log_access(self, received: float, info: RequestInfo, code: int, created: Obj | None) -> None:
        if self.access is not None:
            self.access.record(received, info, code, created_name(created) if info.verb == "create" else None)

    def watch_started(self, info: RequestInfo) -> None:
        """serve_watch: the stream is answered 200 from here on (errors before it are logged by handle)."""
        self._log_access(time.time(), info, 200, None)

    async def _intercept(self, info: RequestInfo) -> web.StreamResponse | None:
        if self.faults is None:
            return None
        injected: web.StreamResponse | None = await self.faults.intercept(info)
        return injected

    def _audit(
        self, ts: float, info: RequestInfo, code: int, created: Obj | None, request: web.Request,
        received: float | None = None,
    ) -> None:
        # A dry run changes nothing, and verdicts count what changed: it is not audited.
        if self.audit is not None and info.is_mutating and not _dry_run(request):
            self.audit.record(ts, info, code, created, received=received)

    # ---- resource verbs --------------------------------------------------------------------------
    async def _dispatch(
        self, request: web.Request, t: Target, info: RequestInfo
    ) -> tuple[web.StreamResponse, Obj | None]:
        verb = info.verb
        if info.is_mutating and request.query.get("dryRun") is not None:
            _check_dry_run(request, verb)
        write = field_write(request, verb)  # managedFields: who writes (422 for bad options)
        if verb == "get":
            return self._get(request, t), None
        if verb == "list":
            return self._list(request, t), None
        if verb == "create":
            return await self._create(request, t, _dry_run(request), write)
        if verb == "update":
            return await self._update(request, t, _dry_run(request), write)
        if verb == "patch":
            assert write is not None
            if request.content_type == APPLY_PATCH_TYPE:
                return await serve_apply(self, request, t, _dry_run(request), write), None
            return await self._patch(request, t, _dry_run(request), write), None
        if verb == "delete":
            return await self._delete(request, t), None
        if verb == "deletecollection":
            return await self._delete_collection(request, t), None
        raise apierrors.method_not_allowed("the server does not allow this method on the requested resource")

    def _out(
        self,
        request: web.Request,
        t: Target,
        obj: Obj,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        accept = request.headers.get("Accept", "")
        obj = codec.view(t.rt, obj, t.version)
        if codec.wants_table(accept):
            return codec.json_response(
                codec.table(t.rt, t.version, [obj], self.store.revision, request.query.get("includeObject")),
                status,
                headers,
            )
        if codec.wants_metadata(accept):
            return codec.json_response(codec.partial_metadata(obj), status, headers)
        return codec.json_response(obj, status, headers)

    def _current(self, t: Target) -> Obj:
        obj = self.store.peek(t.rt.rk, t.namespace, t.name or "")
        if obj is None:
            raise apierrors.not_found(t.group, t.rt.resource, t.name or "")
        return obj

    def _get(self, request: web.Request, t: Target) -> web.Response:
        return self._out(request, t, self._current(t))

    def _list(self, request: web.Request, t: Target) -> web.Response:
        q = request.query
        items = self.store.select(t.rt.rk, t.namespace, q.get("labelSelector"), q.get("fieldSelector"))
        revision = self.store.revision
        meta: dict[str, Any] = {"resourceVersion": str(revision)}
        start = q.get("continue")
        if start:
            try:
                token = json.loads(base64.urlsafe_b64decode(start.encode()))
                after, revision = tuple(token["after"]), token["rv"]
            except (ValueError, KeyError, TypeError):
                raise apierrors.bad_request("continue key is not valid: invalid continue token") from None
            meta["resourceVersion"] = str(revision)
            items = [o for o in items if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > after]
        limit = int(q.get("limit") or 0) if (q.get("limit") or "0").isdigit() else 0
        if limit and len(items) > limit:
            last = items[limit - 1]["metadata"]
            token_doc = {"after": [last.get("namespace", ""), last["name"]], "rv": revision}
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(token_doc).encode()).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        items = [codec.view(t.rt, o, t.version) for o in items]
        accept = request.headers.get("Accept", "")
        if codec.wants_table(accept):
            doc = codec.table(t.rt, t.version, items, revision, q.get("includeObject"))
            doc.setdefault("metadata", {}).update(meta)
            return codec.json_response(doc)
        if codec.wants_metadata(accept):
            return codec.json_response(
                {
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": meta,
                    "items": [codec.partial_metadata(o) for o in items],
                }
            )
        return codec.json_response(
            {
                "kind": t.rt.list_kind,
                "apiVersion": t.rt.api_version(t.version),
                "metadata": meta,
                "items": items,
            }
        )

    def _check_fields(self, request: web.Request, t: Target, obj: Obj) -> dict[str, str] | None:
        """fieldValidation: Strict -> 400 on unknown fields, Warn (default) -> Warning headers."""
        directive = request.query.get("fieldValidation", "Warn")
        if directive == "Ignore" or t.rt.crd_name is None:
            return None
        unknown = crds.unknown_fields(t.rt, obj)
        if not unknown:
            return None
        if directive == "Strict":
            raise apierrors.bad_request(
                "strict decoding error: " + ", ".join(f'unknown field "{p.lstrip(".")}"' for p in unknown)
            )
        return {"Warning": ", ".join(f'299 - "unknown field \\"{p.lstrip(".")}\\""' for p in unknown)}

    async def _body_object(self, request: web.Request, t: Target) -> Obj:
        body = await codec.read_body(request)
        obj = codec.decode_object(body, request.content_type, t.rt, t.version)
        meta = obj.setdefault("metadata", {})
        if t.rt.namespaced:
            if meta.get("namespace") and t.namespace and meta["namespace"] != t.namespace:
                raise apierrors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            if t.namespace:
                meta["namespace"] = t.namespace
        return obj

    async def _create(
        self, request: web.Request, t: Target, dry_run: bool, write: FieldWrite | None = None
    ) -> tuple[web.Response, Obj | None]:
        if t.name is not None:
            raise apierrors.method_not_allowed(
                "the server does not allow this method on the requested resource"
            )
        obj = await self._body_object(request, t)
        try:
            warnings = self._check_fields(request, t, obj)
            stored = self.store.create(t.rt.rk, obj, dry_run, write)
        except apierrors.ApiError as exc:
            exc.created = obj  # type: ignore[attr-defined]  # the audit log records what was sent
            raise
        return self._out(request, t, stored, 201, warnings), stored

    async def _update(
        self, request: web.Request, t: Target, dry_run: bool, write: FieldWrite | None = None
    ) -> tuple[web.Response, Obj | None]:
        obj = await self._body_object(request, t)
        meta = obj["metadata"]
        if meta.get("name") and meta["name"] != t.name:
            raise apierrors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({t.name})"
            )
        meta["name"] = t.name
        warnings = self._check_fields(request, t, obj)
        if self.store.peek(t.rt.rk, t.namespace, t.name or "") is None:
            if not t.rt.allow_create_on_update or t.subresource:
                raise apierrors.not_found(t.group, t.rt.resource, t.name or "")
            return self._out(request, t, self.store.create(t.rt.rk, obj, dry_run, write), 201, warnings), None
        updated = self.store.update(t.rt.rk, obj, t.subresource, dry_run, write)
        return self._out(request, t, updated, 200, warnings), None

    async def _patch(
        self, request: web.Request, t: Target, dry_run: bool, write: FieldWrite | None = None
    ) -> web.Response:
        from recurringjob.devcluster import patch as patches

        kind = PATCH_TYPES.get(request.content_type)
        if kind is None or (kind == "strategic" and t.rt.crd_name is not None):
            accepted = [k for k, v in PATCH_TYPES.items() if v != "strategic" or t.rt.crd_name is None]
            raise apierrors.unsupported_media_type(
                f"the body of the request was in an unknown format - accepted media types include: "
                f"{', '.join(accepted)}"
            )
        body = await codec.read_body(request)
        patch_doc = codec.decode(body, "application/json")
        current = self._current(t)
        try:
            if kind == "json":
                if not isinstance(patch_doc, list):
                    raise apierrors.bad_request(
                        "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
                    )
                patched = patches.json_patch(current, patch_doc)
            elif kind == "merge":
                patched = patches.merge_patch(current, patch_doc)
            else:
                patched = patches.strategic_merge_patch(current, patch_doc, t.rt.kind)
        except patches.PatchError as exc:
            raise apierrors.ApiError(exc.code, exc.reason, exc.status_message) from None
        if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
            raise apierrors.bad_request("the patched object is not a valid object")
        # Own top level and metadata: the patch result may share both with the stored object, and
        # everything below is replaced, not edited (Store.update takes ownership of the rest).
        patched = dict(patched)
        meta = patched["metadata"] = dict(patched["metadata"])
        if meta.get("name") != current["metadata"]["name"]:
            raise apierrors.bad_request("the name of the object does not match the name on the URL")
        if t.rt.namespaced:
            meta["namespace"] = current["metadata"]["namespace"]
        if patched.get("apiVersion") != current.get("apiVersion") or patched.get("kind") != current.get(
            "kind"
        ):
            patched["apiVersion"], patched["kind"] = current.get("apiVersion"), current.get("kind")
        warnings = self._check_fields(request, t, patched)
        updated = self.store.update(t.rt.rk, patched, t.subresource, dry_run, write)
        return self._out(request, t, updated, 200, warnings)

    async def _delete_options(self, request: web.Request) -> dict[str, Any]:
        body = await codec.read_body(request)
        options: dict[str, Any] = {}
        if body.strip():
            decoded = codec.decode(body, request.content_type)
            if not isinstance(decoded, dict):
                raise apierrors.bad_request("the body of the request was not a DeleteOptions object")
            options = decoded
        q = request.query
        if "propagationPolicy" in q:
            options["propagationPolicy"] = q["propagationPolicy"]
        if options.get("orphanDependents") is not None and "propagationPolicy" not in options:
            options["propagationPolicy"] = "Orphan" if options["orphanDependents"] else "Background"
        policy = options.get("propagationPolicy")
        if policy not in (None, "Background", "Foreground", "Orphan"):
            raise apierrors.bad_request(
                f'Unsupported value: "{policy}": supported values: "Foreground", "Background", "Orphan"'
            )
        return options

    async def _delete(self, request: web.Request, t: Target) -> web.Response:
        options = await self._delete_options(request)
        deleted, obj = self.store.delete(
            t.rt.rk, t.namespace, t.name or "", options.get("propagationPolicy"), options.get("preconditions")
        )
        if deleted and not t.rt.return_deleted_object:
            details: dict[str, Any] = {"name": t.name, "kind": t.rt.resource, "uid": obj["metadata"]["uid"]}
            if t.group:
                details["group"] = t.group
            return codec.json_response(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": details,
                }
            )
        return self._out(request, t, obj)

    async def _delete_collection(self, request: web.Request, t: Target) -> web.Response:
        options = await self._delete_options(request)
        q = request.query
        removed = []
        for obj in self.store.select(t.rt.rk, t.namespace, q.get("labelSelector"), q.get("fieldSelector")):
            meta = obj["metadata"]
            _, gone = self.store.delete(
                t.rt.rk, meta.get("namespace"), meta["name"], options.get("propagationPolicy")
            )
            removed.append(codec.view(t.rt, gone, t.version))
        return codec.json_response(
            {
                "kind": t.rt.list_kind,
                "apiVersion": t.rt.api_version(t.version),
                "metadata": {"resourceVersion": str(self.store.revision)},
                "items": removed,
            }
        )


def _dry_run(request: web.Request) -> bool:
    return request.query.get("dryRun") == "All"


def _check_dry_run(request: web.Request, verb: str) -> None:
    """`dryRun=All` on create/update/patch; anything else is refused rather than committed."""
    values = request.query.getall("dryRun")
    if any(value != "All" for value in values):
        bad = next(value for value in values if value != "All")
        raise apierrors.bad_request(f'Unsupported value: "{bad}": supported values: "All"')
    if verb not in ("create", "update", "patch"):
        # Refuse rather than silently commit: a dry run that deletes would be worse than none.
        raise apierrors.bad_request(f"dryRun is not supported for {verb} by the RecurringJob dev cluster")
