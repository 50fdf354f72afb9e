"""`recurringjob next` (and `plan`) with several schedules, exclusions, a window and jitter: from flags
and from a file."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from recurringjob.cli import main

NOW = "2026-12-21T00:00:00Z"
RJ = """\
apiVersion: recurringjob.dev/v1alpha1
kind: RecurringJob
metadata: {name: report, namespace: default, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  schedules:
  - {schedule: "0 9 * * 1-5", timeZone: Europe/Berlin}
  - {schedule: "0 12 * * *", timeZone: America/New_York}
  excludeSchedules:
  - {schedule: "* * 24-26 12 *", timeZone: Europe/Berlin}
  endTime: "2026-12-29T00:00:00Z"
  jobTemplate: {spec: {template: {spec: {containers: [{name: c, image: x}], restartPolicy: Never}}}}
"""


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    code = main(["next", "--now", NOW, *argv])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def test_schedules_from_flags_merge_with_exclusions_and_window(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--schedule", "0 6 * * *", "--schedule", "0 */12 * * *", "--exclude", "* * 22 12 *",
                        "--start-time", "2026-12-21T10:00:00Z", "--end-time", "2026-12-23T12:00:00Z",
                        "-n", "10"], capsys)
    assert code == 0
    assert out == ["2026-12-21T12:00:00Z", "2026-12-23T00:00:00Z", "2026-12-23T06:00:00Z",
                   "2026-12-23T12:00:00Z"]


def test_file_with_schedules_in_two_zones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rj.yaml"
    path.write_text(RJ)
    code, out, _ = run(["-f", str(path), "-n", "20"], capsys)
    assert code == 0
    # weekdays 09:00 Berlin (08:00Z) and daily noon New York (17:00Z); 24-26 Dec (Berlin) excluded; ends 29th
    assert out == [
        "2026-12-21T08:00:00Z  2026-12-21T09:00:00+01:00 CET",
        "2026-12-21T17:00:00Z  2026-12-21T12:00:00-05:00 EST",
        "2026-12-22T08:00:00Z  2026-12-22T09:00:00+01:00 CET",
        "2026-12-22T17:00:00Z  2026-12-22T12:00:00-05:00 EST",
        "2026-12-23T08:00:00Z  2026-12-23T09:00:00+01:00 CET",
        "2026-12-23T17:00:00Z  2026-12-23T12:00:00-05:00 EST",
        "2026-12-27T17:00:00Z  2026-12-27T12:00:00-05:00 EST",
        "2026-12-28T08:00:00Z  2026-12-28T09:00:00+01:00 CET",
        "2026-12-28T17:00:00Z  2026-12-28T12:00:00-05:00 EST",
    ]


@pytest.mark.parametrize(("argv", "message"), [
    (["--schedule", "0 * * * *", "--exclude", "0 0 31 2 *"], "never fires"),
    (["--schedule", "0 * * * *", "--end-time", "tomorrow"], "--end-time: 'tomorrow' is not an RFC3339 time"),
    (["-f", "x.yaml", "--exclude", "* * 1 1 *"], "--exclude go(es) with --schedule; with -f the file's spec"),
])
def test_errors_are_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(argv, capsys)
    assert code == 2 and out == [] and message in err and err.count("\n") == 1


def test_bad_window_in_a_file_names_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rj.yaml"
    path.write_text(RJ.replace('endTime: "2026-12-29T00:00:00Z"', 'endTime: "soon"'))
    code, _, err = run(["-f", str(path)], capsys)
    assert code == 2 and "spec.endTime must be an RFC 3339 time such as 2026-01-01T00:00:00Z, got 'soon'" \
        in err


def documented_fire(uid: str, nominal: datetime, following: datetime, max_seconds: int) -> datetime:
    """docs/design.md "Jitter", written out independently of core/jitter.py."""
    bound = min(max_seconds, int((following - nominal).total_seconds()) - 1)
    digest = hashlib.sha256(f"{uid}|{int(nominal.timestamp())}".encode()).digest()
    return nominal + timedelta(seconds=int.from_bytes(digest[:8], "big") % (bound + 1))


def test_jitter_with_a_uid_prints_fire_times_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--schedule", "0 */2 * * *", "--jitter-seconds", "3000", "--uid", "u-42", "-n", "3"]
    code, out, err = run(argv, capsys)
    assert code == 0
    assert err == "note: with jitter up to 3000 s for uid u-42: nominal time, then when it fires\n"
    nominals = [datetime(2026, 12, 21, h, tzinfo=UTC) for h in (2, 4, 6, 8)]
    expected = []
    for nominal, following in itertools.pairwise(nominals):
        fire = documented_fire("u-42", nominal, following, 3000)
        expected.append(f"{nominal:%Y-%m-%dT%H:%M:%SZ}  fires {fire:%Y-%m-%dT%H:%M:%SZ} "
                        f"(+{int((fire - nominal).total_seconds())} s)")
    assert out == expected
    assert any("(+0 s)" not in line for line in out)  # the uid chosen gives real delays


def test_jitter_without_a_uid_stays_nominal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rj.yaml"
    path.write_text(RJ.replace("  endTime:", "  jitterSeconds: 60\n  endTime:"))
    code, out, err = run(["-f", str(path), "-n", "1"], capsys)
    assert (code, out) == (0, ["2026-12-21T08:00:00Z  2026-12-21T09:00:00+01:00 CET"])
    assert err.startswith("note: nominal times; each fires up to 60 s later") and "--uid" in err
    code, out, _ = run(["-f", str(path), "-n", "1", "--uid", "u-42"], capsys)
    assert out[0].startswith("2026-12-21T08:00:00Z  2026-12-21T09:00:00+01:00 CET  fires 2026-12-21T08:0")


def test_jitter_as_long_as_the_interval_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["--schedule", "*/5 * * * *", "--jitter-seconds", "300", "--uid", "u"], capsys)
    assert code == 2
    assert "--jitter-seconds 300 must be smaller than the schedule's shortest interval (300 s)" in err


def test_next_prints_the_fire_time_plan_waits_for(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`next` and the planner (through `plan`) compute the same jittered instant."""
    path = tmp_path / "rj.yaml"
    # created shortly before the first occurrence: nothing older to catch up
    path.write_text(RJ.replace("  endTime:", "  jitterSeconds: 600\n  endTime:")
                    .replace('creationTimestamp: "2026-01-01T00:00:00Z"',
                             'uid: u-42, creationTimestamp: "2026-12-21T07:00:00Z"'))
    code, out, _ = run(["-f", str(path), "-n", "1"], capsys)
    assert code == 0
    nominal, fire = out[0].split()[0], out[0].split("fires ")[1].split()[0]
    assert nominal == "2026-12-21T08:00:00Z" and fire > nominal
    assert main(["plan", "-f", str(path), "--now", nominal]) == 0
    waiting = json.loads(capsys.readouterr().out)
    assert waiting["action"] == "wait" and f"fires at {fire}" in waiting["reason"]
    assert main(["plan", "-f", str(path), "--now", fire]) == 0
    launching = json.loads(capsys.readouterr().out)
    assert (launching["action"], launching["scheduledTime"], launching["fireTime"]) == \
        ("launch", nominal, fire)


def test_plan_launches_a_trigger_while_suspended(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rj.yaml"
    path.write_text(RJ.replace("  endTime:", "  suspend: true\n  triggers: [{id: t1}]\n  endTime:"))
    assert main(["plan", "-f", str(path), "--now", "2026-12-21T10:00:00Z"]) == 0
    decision = json.loads(capsys.readouterr().out)
    assert (decision["action"], decision["kind"], decision["requestId"], decision["jobName"]) == \
        ("launch", "trigger", "t1", "report-t-t1")
