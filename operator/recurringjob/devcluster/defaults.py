"""What kube-apiserver's per-kind create strategies fill in, for the built-in kinds we serve.

Only what clients are seen to rely on: namespace phase and finalizer, the Job selector and
controller labels plus the scalar spec defaults, pod phase, and the CRD's status (crds.py).
"""

from __future__ import annotations

from typing import Any

from recurringjob.devcluster import crds
from recurringjob.devcluster.registry import ResourceType

Obj = dict[str, Any]


def _namespace(obj: Obj) -> None:
    name = obj["metadata"]["name"]
    obj["metadata"]["labels"] = dict(
        obj["metadata"].get("labels") or {}, **{"kubernetes.io/metadata.name": name}
    )
    obj["spec"] = {"finalizers": ["kubernetes"]}
    obj["status"] = {"phase": "Active"}


def _pod(obj: Obj) -> None:
    obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}


def _job(obj: Obj) -> None:
    """Controller labels and scalar defaults; what is wrong with the Job, metavalidation reports."""
    meta = obj["metadata"]
    spec = obj.get("spec")
    template = spec.get("template") if isinstance(spec, dict) else None
    if not isinstance(spec, dict) or not isinstance(template, dict):
        obj["status"] = {}
        return
    uid, name = meta["uid"], meta["name"]
    controller = {
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "job-name": name,
    }
    tmeta = template.get("metadata") or {}
    if not isinstance(tmeta, dict) or not isinstance(tmeta.get("labels") or {}, dict):
        obj["status"] = {}
        return  # not even decodable: metavalidation answers 400
    tmeta = template["metadata"] = dict(tmeta)
    tmeta["labels"] = dict(tmeta.get("labels") or {}, **controller)
    spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
    for key, value in (
        ("parallelism", 1),
        ("completions", 1),
        ("backoffLimit", 6),
        ("completionMode", "NonIndexed"),
        ("suspend", False),
        ("podReplacementPolicy", "TerminatingOrFailed"),
        ("manualSelector", None),
    ):
        if value is not None:
            spec.setdefault(key, value)
    obj["status"] = {}


_PREPARE = {
    ("", "namespaces"): _namespace,
    ("", "pods"): _pod,
    ("batch", "jobs"): _job,
    ("apiextensions.k8s.io", "customresourcedefinitions"): crds.prepare_create,
}


def prepare_create(rt: ResourceType, obj: Obj) -> None:
    """Fill defaults; custom resources go through their schema (built-ins: metavalidation.py)."""
    hook = _PREPARE.get(rt.rk)
    if hook is not None:
        hook(obj)
    elif rt.crd_name is not None:
        crds.prepare_custom(rt, obj)


def prepare_update(rt: ResourceType, obj: Obj, old: Obj) -> None:
    if rt.rk == ("apiextensions.k8s.io", "customresourcedefinitions"):
        crds.validate_crd(obj)
    elif rt.crd_name is not None:
        crds.prepare_custom(rt, obj, old)
