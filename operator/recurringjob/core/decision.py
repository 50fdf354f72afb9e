"""The planner's answer: what to do for one RecurringJob now (the contract in docs/design.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from recurringjob.core.timeutil import format_rfc3339


@dataclass(frozen=True)
class Decision:
    action: Literal["launch", "wait", "skip"]
    scheduled_time: datetime | None = None
    job_name: str | None = None
    next_schedule_time: datetime | None = None
    requeue_after: float | None = None
    delete_active: tuple[str, ...] = ()
    missed: int = 0
    warnings: tuple[str, ...] = ()
    reason: str = ""
    status: dict[str, Any] | None = None
    job: dict[str, Any] | None = None
    recreate: tuple[dict[str, Any], ...] = ()
    prune: tuple[str, ...] = ()
    release: tuple[str, ...] = ()  # Jobs whose occurrence-lock finalizer may be removed now
    kind: str = "schedule"  # what launches `job`: schedule | trigger | backfill
    request_id: str | None = None  # the trigger/backfill request, for kind trigger/backfill
    fire_time: datetime | None = None  # when `job` was due: scheduled_time + jitter

    def to_json(self) -> dict[str, Any]:
        """The `recurringjob plan` output."""
        return {
            "action": self.action,
            "scheduledTime": format_rfc3339(self.scheduled_time) if self.scheduled_time else None,
            "jobName": self.job_name,
            "nextScheduleTime": format_rfc3339(self.next_schedule_time) if self.next_schedule_time else None,
            "requeueAfterSeconds": self.requeue_after,
            "deleteActive": list(self.delete_active),
            "releaseLocks": list(self.release),
            "kind": self.kind,
            "requestId": self.request_id,
            "fireTime": format_rfc3339(self.fire_time) if self.fire_time else None,
            "missed": self.missed,
            "warnings": list(self.warnings),
            "reason": self.reason,
        }
