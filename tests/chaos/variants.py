"""Which RecurringJobs a chaos run creates: the variants its faults need, cycled over the names.

Every run has the plain variant (Allow, the run's long deadline, the run's Job duration). Faults
that only bite on some specs add theirs: Forbid with Jobs longer than the period (label-strip,
job-delete: a Job that sticks or vanishes must not block or double later ones), Replace with Jobs
longer than the period (replace-crash, job-delete), a short startingDeadlineSeconds (clock-skew: a launch
late by a skewed clock must be missed, not run), and `ttlSecondsAfterFinished: 0` (job-ttl).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    policy: str = "Allow"
    deadline: int | None = None  # None: the run's --starting-deadline
    duration: str | None = None  # the simulated Job run time; None: the run's default
    ttl_after_finished: int | None = None

    def describe(self) -> str:
        parts = [self.policy]
        if self.deadline is not None:
            parts.append(f"deadline {self.deadline}s")
        if self.duration is not None:
            parts.append(f"Jobs {self.duration}")
        if self.ttl_after_finished is not None:
            parts.append(f"ttlSecondsAfterFinished {self.ttl_after_finished}")
        return ", ".join(parts)


def variants_for(kinds: list[str], period: float, short_deadline: int) -> list[Variant]:
    """The variants a run with `kinds` cycles its RecurringJobs over (the plain one first)."""
    variants = [Variant()]
    if {"label-strip", "job-delete"} & set(kinds):
        variants.append(Variant("Forbid", duration=f"{3 * period:.3f}s"))
    if {"replace-crash", "job-delete"} & set(kinds):
        # job-delete: a Job a user deleted (Background) runs on under our lock; Replace must still
        # delete it in Foreground before the next one starts
        variants.append(Variant("Replace", duration=f"{2.5 * period:.3f}s"))
    if "clock-skew" in kinds:
        variants.append(Variant(deadline=short_deadline))
    if "job-ttl" in kinds:
        variants.append(Variant(ttl_after_finished=0))
    return variants
