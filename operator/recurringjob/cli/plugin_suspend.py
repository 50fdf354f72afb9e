"""`kubectl recurringjob suspend | resume`: stop and restart scheduled launches.

suspend merge-patches spec.suspend (and spec.suspendReason with --reason). resume is one
resourceVersion-checked write (docs/design.md, "Limits, suspension, resume"): spec.suspend false,
suspendReason removed, and spec.acknowledgedFailure set to the Job named in
status.suspendedOnFailure, which lifts a suspendOnFailure stop (a later failure stops it again).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from recurringjob import GROUP
from recurringjob.cli.plugin_client import PluginError
from recurringjob.cli.plugin_requests import RjApi, update_rj


def cmd_suspend(api: RjApi, args: argparse.Namespace, now: datetime) -> str:
    spec = api.get_rj(args.name).get("spec") or {}
    reason = args.reason
    if spec.get("suspend") and (reason is None or reason == spec.get("suspendReason")):
        return f"recurringjob.{GROUP}/{args.name} already suspended (no change)"
    patch: dict[str, Any] = {"suspend": True}
    if reason is not None:
        patch["suspendReason"] = reason
    api.patch_rj(args.name, {"spec": patch})
    return f"recurringjob.{GROUP}/{args.name} suspended" + (f" ({reason})" if reason else "")


def resumed(rj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The object with scheduled launches resumed — spec.suspend false, no suspendReason, and the
    failure that suspended it (suspendOnFailure) acknowledged — or None when nothing stops them."""
    spec = dict(rj.get("spec") or {})
    failed = ((rj.get("status") or {}).get("suspendedOnFailure") or {}).get("jobName")
    unacknowledged = bool(failed) and spec.get("acknowledgedFailure") != failed
    if not spec.get("suspend") and not unacknowledged:
        return None
    spec["suspend"] = False
    spec.pop("suspendReason", None)
    if unacknowledged:
        spec["acknowledgedFailure"] = failed
    return {**rj, "spec": spec}


LIMIT_STOPS = {"MaxRunsReached": "maxRuns is reached: raise spec.maxRuns to continue",
               "EndTimeReached": "endTime has passed: move spec.endTime to continue"}


def _stopped_by_limit(rj: Mapping[str, Any]) -> str | None:
    """Why scheduled launches stay stopped whatever resume writes: maxRuns or endTime."""
    for condition in (rj.get("status") or {}).get("conditions") or []:
        if isinstance(condition, Mapping) and condition.get("type") == "Suspended" \
                and condition.get("status") == "True" and condition.get("reason") in LIMIT_STOPS:
            return LIMIT_STOPS[str(condition["reason"])]
    return None


def cmd_resume(api: RjApi, args: argparse.Namespace, now: datetime) -> str:
    seen: list[Mapping[str, Any]] = []  # the version the written change was made from

    def change(current: dict[str, Any]) -> dict[str, Any] | None:
        seen.append(current)
        return resumed(current)

    rj, written = update_rj(api, args.name, change)
    before = seen[-1]
    if not written:
        stop = _stopped_by_limit(before)
        if stop:
            raise PluginError(f"{args.name} is not suspended: scheduled launches stopped because {stop}")
        return f"recurringjob.{GROUP}/{args.name} already resumed (no change)"
    spec, status = before.get("spec") or {}, before.get("status") or {}
    notes = []
    if spec.get("suspend"):
        notes.append(f"was suspended: {spec.get('suspendReason') or 'no reason given'}")
    acknowledged = (rj.get("spec") or {}).get("acknowledgedFailure")
    if acknowledged and acknowledged != spec.get("acknowledgedFailure"):
        failed_at = (status.get("suspendedOnFailure") or {}).get("failedAt")
        at = f" at {failed_at}" if failed_at else ""
        notes.append(f"acknowledged the failure of Job {acknowledged}{at}")
    return f"recurringjob.{GROUP}/{args.name} resumed ({'; '.join(notes)})"
