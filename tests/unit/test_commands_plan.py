"""`recurringjob plan` and `recurringjob next`: output and one-line errors."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from recurringjob.cli import main

RJ = """\
apiVersion: recurringjob.dev/v1alpha1
kind: RecurringJob
metadata:
  name: backup
  namespace: default
  uid: u-1
  creationTimestamp: 2024-03-09T12:00:00Z
spec:
  schedule: "30 2 * * *"
  timeZone: America/New_York
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: main, image: "busybox:1.36"}]
"""

RUNNING_JOB = """\
apiVersion: batch/v1
kind: Job
metadata: {name: backup-1709967600, labels: {recurringjob.dev/name: backup}}
status: {active: 1}
"""


@pytest.fixture
def rj_file(tmp_path: Path) -> Path:
    path = tmp_path / "rj.yaml"
    path.write_text(RJ)
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_plan_launch_at_the_spring_forward_gap(rj_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["plan", "-f", str(rj_file), "--now", "2024-03-10T07:00:01Z"], capsys)
    assert code == 0
    assert json.loads(out) == {
        "action": "launch",
        "scheduledTime": "2024-03-10T07:00:00Z",
        "jobName": "backup-1710054000",
        "nextScheduleTime": "2024-03-11T06:30:00Z",
        "requeueAfterSeconds": 84599.0,
        "deleteActive": [],
        "releaseLocks": [],
        "kind": "schedule",
        "requestId": None,
        "fireTime": "2024-03-10T07:00:00Z",
        "missed": 0,
        "warnings": [],
        "reason": "Launching the occurrence at 2024-03-10T07:00:00Z.",
    }


def test_plan_reads_jobs_from_a_list_and_explains_forbid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = [yaml.safe_load(RJ), yaml.safe_load(RUNNING_JOB)]
    path = tmp_path / "list.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    code, out, _ = run(["plan", "-f", str(path), "--now", "2024-03-10T07:00:01Z", "--full"], capsys)
    result = json.loads(out)
    assert code == 0 and result["action"] == "skip"
    assert "Forbid" in result["reason"] and "backup-1709967600" in result["reason"]
    assert result["status"]["skippedOccurrences"] == 1


def test_plan_multi_document_file(rj_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rj_file.write_text(RJ + "---\n" + RUNNING_JOB)
    code, out, _ = run(["plan", "-f", str(rj_file), "--now", "2024-03-10T07:00:01Z"], capsys)
    assert code == 0 and json.loads(out)["action"] == "skip"


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        (None, [], "cannot read"),
        ("a: [", [], "not valid YAML (line "),
        ("kind: Job\n", [], "holds no RecurringJob"),
        (RJ + "---\n" + RJ.replace("name: backup", "name: other"), [], "choose one with --name"),
        (RJ.replace("30 2 * * *", "0 0 31 2 *"), [], "InvalidSchedule: schedule '0 0 31 2 *' never fires"),
        (RJ.replace("30 2 * * *", "TZ=UTC 0 * * * *"), [], "spec.timeZone"),
        (RJ.replace("America/New_York", "America/Atlantis"), [], "UnknownTimeZone"),
        (RJ, ["--now", "tomorrow"], "--now: 'tomorrow' is not an RFC3339 time"),
    ],
)
def test_plan_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, extra: list[str], message: str
) -> None:
    path = tmp_path / "in.yaml"
    if content is not None:
        path.write_text(content)
    code, out, err = run(["plan", "-f", str(path), *extra], capsys)
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_next_from_file_shows_utc_and_local(rj_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["next", "-f", str(rj_file), "--now", "2024-03-09T12:00:00Z", "-n", "2"], capsys)
    assert code == 0
    assert out.splitlines() == [
        "2024-03-10T07:00:00Z  2024-03-10T03:00:00-04:00 EDT",
        "2024-03-11T06:30:00Z  2024-03-11T02:30:00-04:00 EDT",
    ]


def test_next_from_schedule(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        ["next", "--schedule", "*/10 * * * * *", "--now", "2024-01-01T00:00:05Z", "-n", "3"], capsys
    )
    assert (code, out.splitlines()) == (
        0,
        ["2024-01-01T00:00:10Z", "2024-01-01T00:00:20Z", "2024-01-01T00:00:30Z"],
    )
    code, out, _ = run(
        ["next", "--schedule", "@every 90s", "--now", "2024-01-01T00:00:05Z", "-n", "1"], capsys
    )
    assert out.splitlines() == ["2024-01-01T00:01:35Z"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--schedule", "0 0 31 2 *"], "never fires"),
        (["--schedule", "* * * *"], "4 fields"),
        (["--schedule", "0 * * * *", "--time-zone", "Nowhere/Town"], "UnknownTimeZone"),
        (["--schedule", "0 * * * *", "--now", "x"], "--now"),
    ],
)
def test_next_errors(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, _, err = run(["next", *argv], capsys)
    assert code == 2 and message in err and err.count("\n") == 1


def test_subprocess_console_script(rj_file: Path) -> None:
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "recurringjob.cli",
            "plan",
            "-f",
            str(rj_file),
            "--now",
            "2024-03-10T07:00:01Z",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and json.loads(ok.stdout)["jobName"] == "backup-1710054000"
    bad = subprocess.run(
        [sys.executable, "-m", "recurringjob.cli", "next", "--schedule", "0 0 30 2 *"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0 and bad.stdout == "" and "Traceback" not in bad.stderr
    assert bad.stderr.strip().startswith("recurringjob next: error: InvalidSchedule")


# -- the CRD and the examples -------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


def crd_schema() -> Any:
    from recurringjob.devcluster.crdschema import StructuralSchema

    crd = yaml.safe_load((REPO / "crds" / "recurringjob.yaml").read_text())
    return StructuralSchema(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def test_crd_is_a_valid_structural_crd() -> None:
    from recurringjob.devcluster.crdvalidation import validate_crd

    crd = yaml.safe_load((REPO / "crds" / "recurringjob.yaml").read_text())
    assert [str(e) for e in validate_crd(crd)] == []
    assert crd["spec"]["names"]["shortNames"] == ["rj"]
    version = crd["spec"]["versions"][0]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == [
        "Schedule",
        "Time zone",
        "Schedules",  # priority 1: kubectl get -o wide
        "Suspend",
        "Suspend reason",
        "Active",
        "Last schedule",
        "Next schedule",
        "Ready",
        "Age",
    ]


def test_crd_defaults_and_rejections() -> None:
    schema = crd_schema()
    minimal = {
        "apiVersion": "recurringjob.dev/v1alpha1",
        "kind": "RecurringJob",
        "metadata": {"name": "m"},
        "spec": {"schedule": "@hourly", "jobTemplate": {"spec": {"template": {}}}},
    }
    defaulted = schema.apply_defaults(minimal)["spec"]
    assert {
        k: defaulted[k]
        for k in (
            "concurrencyPolicy",
            "suspend",
            "successfulJobsHistoryLimit",
            "failedJobsHistoryLimit",
            "catchUp",
            "maxCatchUp",
        )
    } == {
        "concurrencyPolicy": "Allow",
        "suspend": False,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 1,
        "catchUp": "Latest",
        "maxCatchUp": 100,
    }
    bad = copy.deepcopy(minimal)
    bad["spec"] |= {
        "schedule": "CRON_TZ=UTC 0 * * * *",
        "catchUp": "Some",
        "maxCatchUp": 0,
        "concurrencyPolicy": "Never",
        "startingDeadlineSeconds": -1,
    }
    errors = " ".join(str(e) for e in schema.validate(schema.apply_defaults(bad)))
    for field in ("schedule", "catchUp", "maxCatchUp", "concurrencyPolicy", "startingDeadlineSeconds"):
        assert f"spec.{field}" in errors


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_validate_and_plan(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    schema = crd_schema()
    example = yaml.safe_load(path.read_text())
    defaulted = schema.apply_defaults(example)
    assert [str(e) for e in schema.validate(defaulted)] == []
    assert schema.prune(defaulted) == defaulted  # nothing in the example is silently dropped
    example["metadata"] |= {"namespace": "default", "uid": "u", "creationTimestamp": "2024-06-01T00:00:00Z"}
    stamped = tmp_path / path.name
    stamped.write_text(yaml.safe_dump(example))
    code, out, _ = run(["plan", "-f", str(stamped), "--now", "2024-06-03T00:00:00Z"], capsys)
    assert code == 0 and json.loads(out)["action"] in ("launch", "wait", "skip")
    code, out, _ = run(["next", "-f", str(stamped), "--now", "2024-06-03T00:00:00Z", "-n", "3"], capsys)
    assert code == 0 and len(out.splitlines()) == 3
