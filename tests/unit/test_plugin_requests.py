"""trigger / backfill / suspend / resume against an in-memory API: what is written, 409 retries,
repeated ids, waiting for the outcome in status, range checks and progress output."""

from __future__ import annotations

import argparse
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fake_plugin_api import FakeRjApi
from recurringjob.cli import plugin, plugin_requests
from recurringjob.cli.plugin_client import PluginError
from recurringjob.cli.plugin_requests import (
    BackfillProgress,
    check_backfill_size,
    record_request,
    wait_for_outcome,
    with_request,
)
from recurringjob.core.requests import BACKFILL_LIMIT
from rich.console import Console

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
T0 = datetime(2026, 12, 21, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
FAR = datetime(2100, 1, 1, tzinfo=UTC)


def rj(name: str = "backup", schedule: str | None = "0 * * * *", **spec: Any) -> dict[str, Any]:
    schedule_field = {"schedule": schedule} if schedule is not None else {}
    return {"apiVersion": "recurringjob.dev/v1alpha1", "kind": "RecurringJob",
            "metadata": {"name": name, "uid": "u-1", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {**schedule_field, "jobTemplate": {"spec": {}}, **spec}, "status": {}}


def args(*argv: str) -> argparse.Namespace:
    return plugin.build_parser().parse_args(list(argv))


def operator_answers(api: FakeRjApi, name: str, **entry: Any) -> None:
    """Plays the operator: on the first poll after a request is in the spec, books `entry` for it."""
    def on_get(obj: dict[str, Any]) -> None:
        requests = (obj.get("spec") or {}).get("triggers", []) + (obj.get("spec") or {}).get("backfills", [])
        status = obj.setdefault("status", {})
        seen = {r["id"] for r in status.get("requests", [])}
        for request in requests:
            if request["id"] not in seen:
                status.setdefault("requests", []).append({"id": request["id"], **entry})
    api.on_get = on_get


# -- recording --------------------------------------------------------------------------------

def test_with_request_appends_and_trims_only_final_requests() -> None:
    obj = rj(triggers=[{"id": "old"}, {"id": "running"}], backfills=[{"id": "bf", "from": "x", "to": "y"}])
    obj["status"] = {"requests": [{"id": "old", "kind": "trigger", "state": "Done", "jobName": "backup-t-1"},
                                  {"id": "running", "kind": "trigger", "state": "Pending"},
                                  {"id": "bf", "kind": "backfill", "state": "Refused"}]}
    new = with_request(obj, "triggers", {"id": "t2", "overlapPolicy": "Allow"})
    assert new is not None
    assert new["spec"]["triggers"] == [{"id": "running"}, {"id": "t2", "overlapPolicy": "Allow"}]
    assert new["spec"]["backfills"] == []
    assert new["status"] == obj["status"]  # status keeps the final ids: the operator still knows them
    assert obj["spec"]["triggers"] == [{"id": "old"}, {"id": "running"}]  # input untouched


@pytest.mark.parametrize("where", ["spec", "status"])
def test_with_request_is_none_for_a_known_id(where: str) -> None:
    obj = rj(triggers=[{"id": "t1"}]) if where == "spec" else rj()
    if where == "status":
        obj["status"] = {"requests": [{"id": "t1", "kind": "trigger", "state": "Done"}]}
    assert with_request(obj, "triggers", {"id": "t1"}) is None
    # ids are unique across both lists
    with pytest.raises(PluginError, match=r"^request id 't1' is already a trigger request on backup: choose"):
        with_request(obj, "backfills", {"id": "t1", "from": "a", "to": "b"})


def test_a_full_list_of_requests_in_flight_writes_nothing() -> None:
    obj = rj(backfills=[{"id": f"b{i}", "from": "a", "to": "b"} for i in range(10)])
    obj["status"] = {"requests": [{"id": "b0", "kind": "backfill", "state": "Running"}]}
    with pytest.raises(PluginError) as caught:
        with_request(obj, "backfills", {"id": "new", "from": "a", "to": "b"})
    assert str(caught.value) == (
        "backup has 10 backfill requests in flight (spec.backfills holds at most 10): "
        "wait for some to finish (kubectl recurringjob describe backup) and try again")
    obj["status"]["requests"][0]["state"] = "Done"  # a final one makes room
    new = with_request(obj, "backfills", {"id": "new", "from": "a", "to": "b"})
    assert new is not None and [e["id"] for e in new["spec"]["backfills"]][-2:] == ["b9", "new"]
    assert len(new["spec"]["backfills"]) == 10


def test_record_writes_one_resource_version_checked_put() -> None:
    api = FakeRjApi()
    api.add(rj())
    recorded = record_request(api, "backup", "triggers", {"id": "t1"})
    assert not recorded.already and api.writes() == [("PUT", "backup")]
    assert api.objects["backup"]["spec"]["triggers"] == [{"id": "t1"}]


def test_record_retries_a_conflict_and_keeps_the_other_write() -> None:
    api = FakeRjApi()
    api.add(rj())
    # two racers: an operator status write, then another client's trigger, each landing just before a PUT
    api.before_put = [lambda a: a.edit("backup", lambda o: o["status"].update(lastScheduleTime="x")),
                      lambda a: a.edit("backup", lambda o: o["spec"].update(triggers=[{"id": "other"}]))]
    recorded = record_request(api, "backup", "triggers", {"id": "t1"})
    assert not recorded.already
    assert api.writes() == [("PUT", "backup")] * 3
    stored = api.objects["backup"]
    assert stored["spec"]["triggers"] == [{"id": "other"}, {"id": "t1"}]
    assert stored["status"]["lastScheduleTime"] == "x"


def test_a_racer_recording_the_same_id_makes_the_retry_a_no_op() -> None:
    api = FakeRjApi()
    api.add(rj())
    api.before_put = [lambda a: a.edit("backup", lambda o: o["spec"].update(triggers=[{"id": "t1"}]))]
    recorded = record_request(api, "backup", "triggers", {"id": "t1"})
    assert recorded.already and api.writes() == [("PUT", "backup")]
    assert api.objects["backup"]["spec"]["triggers"] == [{"id": "t1"}]


def test_endless_conflicts_end_in_one_clear_error() -> None:
    api = FakeRjApi()
    api.add(rj())
    api.before_put = [lambda a: a.edit("backup", lambda o: None)] * 50
    with pytest.raises(PluginError, match=r"kept changing .* \(10 conflicts in a row\): try again"):
        record_request(api, "backup", "triggers", {"id": "t1"})
    assert len(api.writes()) == plugin_requests.CONFLICT_ATTEMPTS
    assert "triggers" not in api.objects["backup"]["spec"]


# -- waiting ----------------------------------------------------------------------------------

def test_wait_reports_each_change_and_returns_when_done() -> None:
    api = FakeRjApi()
    api.add(rj(backfills=[{"id": "b1", "from": "a", "to": "b"}]))
    states = iter([None, {"state": "Running", "launched": 1, "total": 3},
                   {"state": "Running", "launched": 1, "total": 3},
                   {"state": "Done", "launched": 3, "total": 3}])

    def on_get(obj: dict[str, Any]) -> None:
        entry = next(states)
        obj["status"]["requests"] = [{"id": "b1", "kind": "backfill", **entry}] if entry else []
    api.on_get = on_get
    seen: list[dict[str, Any]] = []
    slept: list[float] = []
    final = wait_for_outcome(api, "backup", "b1", 60, plugin_requests.backfill_done, on_change=seen.append,
                             clock=lambda: 0.0, sleep=slept.append)
    assert final["state"] == "Done"
    assert [(e["state"], e["launched"]) for e in seen] == [("Running", 1), ("Done", 3)]  # no repeat
    assert slept == [1.0, 1.0, 1.0]


def test_wait_times_out_with_what_it_saw() -> None:
    api = FakeRjApi()
    api.add(rj(triggers=[{"id": "t1"}]))
    ticks = iter(range(100))
    with pytest.raises(PluginError) as caught:
        wait_for_outcome(api, "backup", "t1", 5, plugin_requests.trigger_done,
                         clock=lambda: float(next(ticks)), sleep=lambda s: None)
    assert str(caught.value) == (
        "no outcome for request 't1' on backup after 5s (the operator has not picked it up); it stays "
        "recorded and runs when the operator gets to it: is the operator running? "
        "(kubectl recurringjob describe backup)")


# -- trigger ----------------------------------------------------------------------------------

def test_trigger_records_waits_and_prints_the_job(capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeRjApi()
    api.add(rj())
    operator_answers(api, "backup", kind="trigger", state="Done", jobName="backup-t-abc")
    out = plugin.cmd_trigger(api, args("trigger", "backup", "--id", "t1", "--overlap", "Forbid"), NOW)
    assert capsys.readouterr().out == "trigger t1 recorded on recurringjob.recurringjob.dev/backup\n"
    assert out == "trigger t1 on backup: launched Job backup-t-abc"
    assert api.objects["backup"]["spec"]["triggers"] == [{"id": "t1", "overlapPolicy": "Forbid"}]


def test_trigger_again_with_the_same_id_writes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeRjApi()
    api.add(rj(triggers=[{"id": "t1"}]))
    api.objects["backup"]["status"] = {"requests": [{"id": "t1", "kind": "trigger", "state": "Done",
                                                     "jobName": "backup-t-abc"}]}
    out = plugin.cmd_trigger(api, args("trigger", "backup", "--id", "t1"), NOW)
    assert capsys.readouterr().out == "trigger t1 already recorded on backup (no change)\n"
    assert out == "trigger t1 on backup: launched Job backup-t-abc"
    assert api.writes() == []


def test_trigger_refused_is_an_error_naming_the_reason() -> None:
    api = FakeRjApi()
    api.add(rj())
    operator_answers(api, "backup", kind="trigger", state="Refused",
                     message="concurrencyPolicy Forbid and backup-1764590400 is running")
    with pytest.raises(PluginError, match=r"^trigger t1 on backup launched no Job: concurrencyPolicy Forbid"):
        plugin.cmd_trigger(api, args("trigger", "backup", "--id", "t1"), NOW)


def test_trigger_no_wait_generates_an_id_and_returns_at_once() -> None:
    api = FakeRjApi()
    api.add(rj())
    out = plugin.cmd_trigger(api, args("trigger", "backup", "--no-wait"), NOW)
    [entry] = api.objects["backup"]["spec"]["triggers"]
    assert re.fullmatch(r"[0-9]{10}-[0-9a-f]{4}", entry["id"]), entry
    assert out == f"trigger {entry['id']} recorded on recurringjob.recurringjob.dev/backup"
    assert api.calls == [("GET", "backup"), ("PUT", "backup")]


def test_unknown_recurring_job_is_one_line() -> None:
    with pytest.raises(PluginError, match=r'^recurringjob "nope" not found in namespace "default"$'):
        plugin.cmd_trigger(FakeRjApi(), args("trigger", "nope"), NOW)


# -- backfill ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("start", "end", "message"), [
    ("2026-11-02T00:00:00Z", "2026-11-01T00:00:00Z",
     "--to 2026-11-01T00:00:00Z is before --from 2026-11-02T00:00:00Z: "
     "a backfill range runs forward in time"),
    ("yesterday", "2026-11-01T00:00:00Z", "--from: 'yesterday' is not an RFC3339 time"),
    ("2026-11-01T00:00:00Z", "2026-11-01 25:00", "--to: '2026-11-01 25:00' is not an RFC3339 time"),
    ("2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z",
     "backfill b1: 2026-10-01T00:00:00Z..2026-12-01T00:00:00Z holds more than 1000 occurrences: "
     "split the range"),
    ("2026-11-01T00:10:00Z", "2026-11-01T00:20:00Z",
     "backfill b1: 2026-11-01T00:10:00Z..2026-11-01T00:20:00Z holds no occurrence of backup's schedule"),
])
def test_backfill_range_errors(start: str, end: str, message: str) -> None:
    api = FakeRjApi()
    api.add(rj())  # hourly: October + November is 1464 occurrences
    with pytest.raises(PluginError) as caught:
        plugin.cmd_backfill(api, args("backfill", "backup", "--from", start, "--to", end, "--id", "b1"), NOW)
    assert str(caught.value).startswith(message)
    assert api.writes() == []


def test_backfill_size_is_inclusive_at_both_ends_and_capped() -> None:
    hourly = rj(name="report", schedule="0 * * * *")
    assert check_backfill_size(hourly, "b1", T0, T0 + 2 * HOUR) == 3
    last = T0 + (BACKFILL_LIMIT - 1) * HOUR
    assert check_backfill_size(hourly, "b1", T0, last) == BACKFILL_LIMIT
    with pytest.raises(PluginError) as caught:
        check_backfill_size(hourly, "b1", T0, last + HOUR)
    assert str(caught.value) == ("backfill b1: 2026-12-21T00:00:00Z..2027-01-31T16:00:00Z holds more than "
                                 "1000 occurrences: split the range")
    with pytest.raises(PluginError, match=r"^report: "):
        check_backfill_size(rj(name="report", schedule="61 * * * *"), "b1", T0, FAR)


def test_backfill_counts_the_merged_stream_not_each_schedule() -> None:
    # the same instants twice (Tokyo is whole hours off UTC): 1200 raw times, 600 distinct, within the limit
    twice = rj(schedule=None,
               schedules=[{"schedule": "0 * * * *"}, {"schedule": "0 * * * *", "timeZone": "Asia/Tokyo"}])
    assert check_backfill_size(twice, "b1", T0, T0 + 599 * HOUR) == 600


def test_backfill_at_the_limit_is_accepted() -> None:
    api = FakeRjApi()
    api.add(rj())
    # 2026-11-01T00:00 .. +999 h inclusive: exactly 1000 hourly occurrences
    out = plugin.cmd_backfill(api, args("backfill", "backup", "--from", "2026-11-01T00:00:00Z",
                                        "--to", "2026-12-12T15:00:00Z", "--id", "b1", "--no-wait"), NOW)
    assert out == ("backfill b1 recorded on recurringjob.recurringjob.dev/backup "
                   "(2026-11-01T00:00:00Z .. 2026-12-12T15:00:00Z)")
    assert api.objects["backup"]["spec"]["backfills"] == [
        {"id": "b1", "from": "2026-11-01T00:00:00Z", "to": "2026-12-12T15:00:00Z"}]


def test_backfill_waits_with_progress_lines_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeRjApi()
    api.add(rj())
    polls = iter([{"state": "Pending"}, {"state": "Running", "launched": 1, "total": 3},
                  {"state": "Done", "launched": 1, "skipped": 1, "alreadyRan": 1, "total": 3}])

    def on_get(obj: dict[str, Any]) -> None:
        if obj["spec"].get("backfills"):
            obj["status"]["requests"] = [{"id": "b1", "kind": "backfill", **next(polls)}]
    api.on_get = on_get
    out = plugin.cmd_backfill(api, args("backfill", "backup", "--from", "2026-11-01T00:00:00Z", "--to",
                                        "2026-11-01T02:00:00Z", "--id", "b1", "--overlap", "Allow"), NOW)
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["backfill b1 recorded on recurringjob.recurringjob.dev/backup "
                       "(2026-11-01T00:00:00Z .. 2026-11-01T02:00:00Z)",
                       "backfill b1: 0 decided (launched 0, skipped 0, already ran 0) Pending",
                       "backfill b1: 1/3 decided (launched 1, skipped 0, already ran 0) Running",
                       "backfill b1: 3/3 decided (launched 1, skipped 1, already ran 1) Done"]
    assert out == "backfill b1 on backup: Done, 3 occurrence(s): launched 1, skipped 1, already ran 1"


def test_backfill_refused_by_the_operator_is_an_error() -> None:
    api = FakeRjApi()
    api.add(rj())
    operator_answers(api, "backup", kind="backfill", state="Refused", message="endTime is before --from")
    with pytest.raises(PluginError, match=r"^backfill b1 on backup was refused: endTime is before --from$"):
        plugin.cmd_backfill(api, args("backfill", "backup", "--from", "2026-11-01T00:00:00Z",
                                      "--to", "2026-11-01T02:00:00Z", "--id", "b1"), NOW)


def test_progress_bar_on_a_terminal_tracks_launched_of_total() -> None:
    out = io.StringIO()
    with BackfillProgress("b1", Console(file=out, force_terminal=True, width=100)) as progress:
        assert progress.progress is not None
        progress.update({"state": "Running", "launched": 2, "total": 5})
        task = progress.progress.tasks[0]
        assert (task.completed, task.total) == (2, 5)
        progress.update({"state": "Done", "launched": 5, "total": 5})
        assert task.finished
    assert "5/5" in out.getvalue() and "Done" in out.getvalue()
