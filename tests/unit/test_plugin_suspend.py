"""suspend / resume: what is written (and what is not), acknowledging a suspendOnFailure stop, 409 retries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fake_plugin_api import FakeRjApi
from recurringjob.cli import plugin
from recurringjob.cli.plugin_client import PluginError
from recurringjob.cli.plugin_suspend import resumed

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
FAILED = {"jobName": "backup-1764583200", "failedAt": "2026-12-01T10:05:00Z"}


def rj(status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "backup"}, "spec": {"schedule": "0 * * * *", **spec}, "status": status or {}}


def run(api: FakeRjApi, *argv: str) -> str:
    args = plugin.build_parser().parse_args(list(argv))
    return str(plugin.COMMANDS[args.command][0](api, args, NOW))


def test_suspend_with_a_reason_then_resume_clears_both() -> None:
    api = FakeRjApi()
    api.add(rj())
    assert run(api, "suspend", "backup", "--reason", "db migration") == \
        "recurringjob.recurringjob.dev/backup suspended (db migration)"
    spec = api.objects["backup"]["spec"]
    assert (spec["suspend"], spec["suspendReason"]) == (True, "db migration")
    assert run(api, "suspend", "backup").endswith("already suspended (no change)")
    assert run(api, "resume", "backup") == \
        "recurringjob.recurringjob.dev/backup resumed (was suspended: db migration)"
    spec = api.objects["backup"]["spec"]
    assert spec["suspend"] is False and "suspendReason" not in spec and "acknowledgedFailure" not in spec
    assert run(api, "resume", "backup").endswith("already resumed (no change)")
    assert [w[0] for w in api.writes()] == ["PATCH", "PUT"]  # resume: one resourceVersion-checked write


def test_a_new_reason_on_a_suspended_object_is_written() -> None:
    api = FakeRjApi()
    api.add(rj(suspend=True))
    assert run(api, "suspend", "backup", "--reason", "holiday").endswith("suspended (holiday)")
    assert api.objects["backup"]["spec"]["suspendReason"] == "holiday"


def test_resume_after_a_failure_acknowledges_that_job() -> None:
    api = FakeRjApi()
    api.add(rj({"suspendedOnFailure": FAILED}, suspendOnFailure=True))
    assert run(api, "resume", "backup") == ("recurringjob.recurringjob.dev/backup resumed (acknowledged the "
                                            "failure of Job backup-1764583200 at 2026-12-01T10:05:00Z)")
    spec = api.objects["backup"]["spec"]
    assert spec["acknowledgedFailure"] == "backup-1764583200" and spec["suspend"] is False
    # the operator has not cleared status.suspendedOnFailure yet: acknowledged already, nothing to do
    assert run(api, "resume", "backup").endswith("already resumed (no change)")
    assert len(api.writes()) == 1


@pytest.mark.parametrize(("obj", "expected_spec"), [
    (rj(), None),
    (rj(suspend=False, acknowledgedFailure="old"), None),
    (rj({"suspendedOnFailure": FAILED}, acknowledgedFailure="backup-1764583200"), None),
    (rj({"suspendedOnFailure": FAILED}, acknowledgedFailure="older-job", suspend=True, suspendReason="x"),
     {"schedule": "0 * * * *", "suspend": False, "acknowledgedFailure": "backup-1764583200"}),
    (rj(suspend=True, suspendReason="x"), {"schedule": "0 * * * *", "suspend": False}),
], ids=["running", "acknowledged-before", "acknowledged-this-one", "failed-and-suspended", "suspended"])
def test_resumed(obj: dict[str, Any], expected_spec: dict[str, Any] | None) -> None:
    new = resumed(obj)
    assert (new["spec"] if new is not None else None) == expected_spec


def test_resume_retries_a_conflict_and_acknowledges_what_it_read_last() -> None:
    api = FakeRjApi()
    api.add(rj(suspend=True))
    # the operator books a failure between the plugin's read and its PUT
    api.before_put = [lambda a: a.edit("backup", lambda o: o["status"].update(suspendedOnFailure=FAILED))]
    out = run(api, "resume", "backup")
    assert out == ("recurringjob.recurringjob.dev/backup resumed (was suspended: no reason given; "
                   "acknowledged the failure of Job backup-1764583200 at 2026-12-01T10:05:00Z)")
    assert api.objects["backup"]["spec"]["acknowledgedFailure"] == "backup-1764583200"
    assert [w[0] for w in api.writes()] == ["PUT", "PUT"]


@pytest.mark.parametrize(("reason", "message"), [
    ("MaxRunsReached", "maxRuns is reached: raise spec.maxRuns to continue"),
    ("EndTimeReached", "endTime has passed: move spec.endTime to continue"),
])
def test_resume_says_what_it_cannot_lift(reason: str, message: str) -> None:
    api = FakeRjApi()
    api.add(rj({"conditions": [{"type": "Suspended", "status": "True", "reason": reason}]}))
    with pytest.raises(PluginError) as caught:
        run(api, "resume", "backup")
    assert str(caught.value) == f"backup is not suspended: scheduled launches stopped because {message}"
    assert api.writes() == []
