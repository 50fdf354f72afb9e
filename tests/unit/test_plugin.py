"""kubectl-recurringjob without a cluster: flags, formatting, and one-line errors (never a traceback)."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fake_plugin_api import FakeRjApi
from recurringjob.cli import plugin

KUBECONFIG = """apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev
  cluster: {{server: "http://127.0.0.1:{port}"}}
users:
- name: u
  user: {{token: t}}
contexts:
- name: dev
  context: {{cluster: dev, user: u, namespace: team-a}}
- name: other
  context: {{cluster: dev, user: u}}
"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_plugin(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "kubectl-recurringjob"
    assert exe.is_file(), f"{exe} missing: the package's console script (pip install -e .)"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", **(env or {})})


def test_flags_work_before_and_after_the_command() -> None:
    p = plugin.build_parser()
    a = p.parse_args(["-n", "x", "--context", "c", "why", "job"])
    b = p.parse_args(["why", "job", "-n", "x", "--context", "c"])
    for args in (a, b):
        assert (args.namespace, args.context, args.name, args.command) == ("x", "c", "job", "why")
    assert p.parse_args(["list", "-A"]).all_namespaces is True
    assert p.parse_args(["next", "job", "-c", "3"]).count == 3
    assert p.parse_args(["list"]).namespace is None


def test_no_kubeconfig_is_one_line() -> None:
    proc = run_plugin("list")
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("error: no kubeconfig found at /nonexistent/.kube/config: "
                                   "pass --kubeconfig or set KUBECONFIG")
    proc = run_plugin("list", "--kubeconfig", "/does/not/exist")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "/does/not/exist" in proc.stderr


@pytest.mark.parametrize("command", [["list"], ["why", "x"], ["suspend", "x"], ["history", "x"],
                                     ["next", "x"]])
def test_unreachable_api_server_is_one_line(tmp_path: Path, command: list[str]) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(KUBECONFIG.format(port=closed_port()))
    proc = run_plugin(*command, env={"KUBECONFIG": str(kubeconfig)})
    assert proc.returncode == 1, proc
    assert proc.stderr.startswith("error: cannot reach the API server at http://127.0.0.1:"), proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_unknown_context_and_bad_usage(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(KUBECONFIG.format(port=closed_port()))
    proc = run_plugin("list", "--context", "nope", env={"KUBECONFIG": str(kubeconfig)})
    assert proc.returncode == 1
    assert proc.stderr == "error: context 'nope' not found in the kubeconfig (contexts: dev, other)\n"
    assert run_plugin("frobnicate").returncode == 2


def test_namespace_comes_from_the_context(tmp_path: Path) -> None:
    from recurringjob.cli.plugin_client import Client

    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(KUBECONFIG.format(port=closed_port()))
    assert Client(str(kubeconfig)).namespace == "team-a"
    assert Client(str(kubeconfig), context="other").namespace == "default"
    assert Client(str(kubeconfig), namespace="x").namespace == "x"
    second = tmp_path / "second"
    second.write_text(KUBECONFIG.format(port=1).replace("current-context: dev", "current-context: other"))
    # KUBECONFIG with several files: the first file's current-context wins, like kubectl
    import os

    old = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = f"{kubeconfig}:{second}"
    try:
        assert Client().namespace == "team-a"
    finally:
        if old is None:
            del os.environ["KUBECONFIG"]
        else:
            os.environ["KUBECONFIG"] = old


# -- next / list with several schedules, exclusions, a window --------------------------------

T0 = datetime(2026, 12, 21, 0, 0, tzinfo=UTC)


def rj(schedule: str | None = "0 * * * *", **spec: Any) -> dict[str, Any]:
    schedule_field = {"schedule": schedule} if schedule is not None else {}
    return {"metadata": {"name": "report", "uid": "u-1", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {**schedule_field, "jobTemplate": {"spec": {}}, **spec}}


def test_plugin_next_lists_the_merged_stream_and_says_what_is_special() -> None:
    api = FakeRjApi()
    api.add(rj(schedule=None, schedules=[{"schedule": "0 6 * * *"}, {"schedule": "0 18 * * *"}],
               excludeSchedules=[{"schedule": "* * 22 12 *"}], startTime="2026-12-21T12:00:00Z",
               jitterSeconds=300))
    out = plugin.cmd_next(api, argparse.Namespace(name="report", count=3), T0).splitlines()
    assert out[0] == "report: schedules '0 6 * * *' in UTC, '0 18 * * *' in UTC"
    assert out[1] == "excluding: '* * 22 12 *' in UTC"
    assert out[2] == "window: 2026-12-21T12:00:00Z .. no end"
    assert out[3] == "with jitter (up to 5m, fixed by the uid): nominal time, then when it fires"
    assert [line.split("[")[1].split("]")[0] for line in out[4:]] == ["2026-12-21 18:00:00 UTC UTC",
                                                                      "2026-12-23 06:00:00 UTC UTC",
                                                                      "2026-12-23 18:00:00 UTC UTC"]
    assert all("   fires 2026-12-2" in line for line in out[4:])


def test_plugin_next_after_the_end_says_so() -> None:
    api = FakeRjApi()
    api.add(rj(schedule="0 * * * *", endTime="2026-12-20T00:00:00Z"))
    out = plugin.cmd_next(api, argparse.Namespace(name="report", count=3), T0).splitlines()
    assert out == ["report: schedule '0 * * * *' in UTC", "window: any time .. 2026-12-20T00:00:00Z",
                   "  none: past endTime"]


def test_plugin_list_shows_the_first_of_several_schedules() -> None:
    assert plugin.schedule_columns({"schedule": "0 * * * *"}) == ["0 * * * *", "UTC"]
    assert plugin.schedule_columns({"schedules": [{"schedule": "0 6 * * *", "timeZone": "Asia/Tokyo"},
                                                  {"schedule": "0 18 * * *"}]}) == \
        ["0 6 * * * (+1)", "Asia/Tokyo"]
