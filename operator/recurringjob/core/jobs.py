"""Pure builders for the Jobs a RecurringJob launches: deterministic names and manifests.

The Job name is derived only from the RecurringJob's name and the occurrence time, so a second
attempt to launch the same occurrence collides on AlreadyExists instead of running twice.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from recurringjob import GROUP, KIND, VERSION
from recurringjob.core.timeutil import format_rfc3339, from_epoch_seconds, to_epoch_seconds

NAME_LABEL = f"{GROUP}/name"
SCHEDULED_TIME_ANNOTATION = f"{GROUP}/scheduled-time"
# Held on every Job we create until its outcome is booked and no create of its name can still be
# in flight: while the Job object exists its name is taken, so a late or repeated create of the
# same occurrence gets AlreadyExists, and "claimed but missing" can only mean "never created".
OCCURRENCE_LOCK_FINALIZER = f"{GROUP}/occurrence-lock"
MAX_NAME_LENGTH = 63
MAX_LABEL_VALUE_LENGTH = 63
_HASH_LENGTH = 8
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def job_name(rj_name: str, t: datetime) -> str:
    """`<rj>-<unix seconds of t>`: a DNS label of at most 63 characters.

    A RecurringJob name that is too long, or is not itself a DNS label (it may contain dots),
    becomes a truncated, sanitised prefix plus an 8-character hash of the full name, so two
    different names never share Jobs.
    """
    suffix = f"-{to_epoch_seconds(t)}"
    if _DNS_LABEL.match(rj_name) and len(rj_name) + len(suffix) <= MAX_NAME_LENGTH:
        return rj_name + suffix
    digest = hashlib.sha256(rj_name.encode()).hexdigest()[:_HASH_LENGTH]
    room = MAX_NAME_LENGTH - len(suffix) - _HASH_LENGTH - 1
    prefix = re.sub(r"[^a-z0-9-]", "-", rj_name.lower())[:room].strip("-")
    return f"{prefix}-{digest}{suffix}" if prefix else f"{digest}{suffix}"


def name_label_value(rj_name: str) -> str:
    """The `recurringjob.dev/name` label value: the name itself when it is a valid label value
    (RecurringJob names may have up to 253 characters and dots), else a prefix plus a hash."""
    if len(rj_name) <= MAX_LABEL_VALUE_LENGTH and _LABEL_VALUE.match(rj_name):
        return rj_name
    digest = hashlib.sha256(rj_name.encode()).hexdigest()[:_HASH_LENGTH]
    prefix = re.sub(r"[^A-Za-z0-9._-]", "-", rj_name)[: MAX_LABEL_VALUE_LENGTH - _HASH_LENGTH - 1]
    prefix = prefix.rstrip("-_.")
    return f"{prefix}-{digest}" if prefix and prefix[0].isalnum() else digest


def scheduled_time_from_name(rj_name: str, name: str) -> datetime | None:
    """The occurrence time encoded in a Job name made by `job_name(rj_name, ...)`, else None."""
    _, _, digits = name.rpartition("-")
    if not digits.isdigit() or len(digits) > 12:
        return None
    t = from_epoch_seconds(int(digits))
    return t if job_name(rj_name, t) == name else None


def build_job(rj: Mapping[str, Any], t: datetime) -> dict[str, Any]:
    """The batch/v1 Job for occurrence `t` of RecurringJob `rj` (the dict the API returns)."""
    metadata = rj.get("metadata") or {}
    template = (rj.get("spec") or {}).get("jobTemplate") or {}
    template_metadata = template.get("metadata") or {}
    name = str(metadata.get("name", ""))
    labels = {str(k): str(v) for k, v in (template_metadata.get("labels") or {}).items()}
    labels[NAME_LABEL] = name_label_value(name)  # ours wins; ownership itself is the ownerReference
    annotations = {str(k): str(v) for k, v in (template_metadata.get("annotations") or {}).items()}
    annotations[SCHEDULED_TIME_ANNOTATION] = format_rfc3339(t)
    job_metadata: dict[str, Any] = {
        "name": job_name(name, t),
        "labels": labels,
        "annotations": annotations,
        "finalizers": [OCCURRENCE_LOCK_FINALIZER],
        "ownerReferences": [
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": KIND,
                "name": name,
                "uid": metadata.get("uid", ""),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if metadata.get("namespace"):
        job_metadata["namespace"] = metadata["namespace"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": job_metadata,
        "spec": copy.deepcopy(dict(template.get("spec") or {})),
    }
