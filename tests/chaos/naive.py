"""A deliberately NAIVE recurring-job scheduler: the pattern behind the incidents. Never ship this.

Every replica, every second, on the second (as cron loops do):
  1. lists the RecurringJobs (no leader election: every replica believes it is in charge);
  2. for each one whose latest schedule time is after `status.lastScheduleTime`, marks it done by
     writing `status.lastScheduleTime` WITHOUT a resourceVersion (a blind merge patch: last
     writer wins, the lost-update pattern), then
  3. creates the Job with `generateName` (a random name, so the API server cannot refuse a second
     Job for the same occurrence), fire-and-forget: a failed create is not retried.

Replicas that read before another's write all fire the same occurrence (duplicates); a failed
create, or a tick that falls behind by more than one occurrence, loses occurrences (misses).
The chaos harness runs it with `--naive` to prove that its verdict catches both.

Run like a replica: `KUBECONFIG=... python tests/chaos/naive.py --identity replica-1 [ignored flags]`.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import time
import urllib.error
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from recurringjob.evidence.supervise import ApiClient, kubeconfig_server
from recurringjob.evidence.verdict import NAME_LABEL, SCHEDULED_TIME_ANNOTATION, format_time, parse_time
from recurringjob.evidence.verdict import schedule_times_between as schedule_times

RJ_API = "/apis/recurringjob.dev/v1alpha1"


def latest_due(rj: dict[str, Any], now: datetime) -> datetime | None:
    """The most recent schedule time in (lastScheduleTime, now]; older ones are silently dropped."""
    spec = rj.get("spec") or {}
    status = rj.get("status") or {}
    since = parse_time(status.get("lastScheduleTime") or rj["metadata"]["creationTimestamp"])
    if since is None:
        return None
    # Look back at most a minute: a naive loop does not bother with long outages either.
    start = max(since + timedelta(seconds=1), now - timedelta(minutes=1))
    due = schedule_times(spec["schedule"], spec.get("timeZone"), start, now)
    return due[-1] if due else None


def fire(api: ApiClient, rj: dict[str, Any], scheduled: datetime, identity: str) -> None:
    meta = rj["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    # Step 2: "claim" with a blind write: no resourceVersion, so it never conflicts.
    api.merge_patch(
        f"{RJ_API}/namespaces/{namespace}/recurringjobs/{name}/status",
        {"status": {"lastScheduleTime": format_time(scheduled)}},
    )
    template = (rj.get("spec") or {}).get("jobTemplate") or {}
    template_meta = template.get("metadata") or {}
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "generateName": f"{name}-",
            "namespace": namespace,
            "labels": {**(template_meta.get("labels") or {}), NAME_LABEL: name},
            "annotations": {
                **(template_meta.get("annotations") or {}),
                SCHEDULED_TIME_ANNOTATION: format_time(scheduled),
            },
            "ownerReferences": [
                {"apiVersion": "recurringjob.dev/v1alpha1", "kind": "RecurringJob", "name": name,
                 "uid": meta["uid"], "controller": True}
            ],
        },
        "spec": template.get("spec") or {},
    }
    # Step 3: fire and forget.
    api.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", job)
    print(f"{identity}: launched {namespace}/{name} for {format_time(scheduled)}", flush=True)


def tick(api: ApiClient, identity: str) -> None:
    listing = api.get(f"{RJ_API}/recurringjobs")
    now = datetime.now(UTC)
    for rj in listing.get("items", []):
        if (rj.get("spec") or {}).get("suspend"):
            continue
        try:
            due = latest_due(rj, now)
            if due is not None:
                fire(api, rj, due, identity)
        except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
            print(f"{identity}: {rj['metadata'].get('name')}: {exc}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identity", default=os.environ.get("HOSTNAME", "naive"))
    args, _ignored = parser.parse_known_args()  # the operator's flags (lease, ports) mean nothing here
    kubeconfig = Path(os.environ["KUBECONFIG"])
    config = yaml.safe_load(kubeconfig.read_text())
    token = str(config["users"][0]["user"]["token"])
    api = ApiClient(kubeconfig_server(kubeconfig), token=token, timeout=5.0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    jitter = random.Random(args.identity)
    while True:
        # Wake on the second, like every cron loop, give or take scheduling noise: replicas that
        # wake together fire together (duplicates); one alone fires alone (and a failed create of
        # it is a miss, since its blind status write already told the others it was done).
        time.sleep(1.0 - time.time() % 1.0 + jitter.uniform(0.0, 0.3))
        try:
            tick(api, args.identity)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            print(f"{args.identity}: list failed: {exc}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
