"""`kubectl recurringjob ...` through the real kubectl (plugin found on PATH) against a dev cluster with
one operator replica launching Jobs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from operator_support import crds_path, plugin_kubectl, recurringjob, replicas, wait_for
from recurringjob.devcluster.server import DevCluster

NS = "plugin"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevCluster, Path]]:
    workdir = tmp_path_factory.mktemp("plugin-e2e")
    with DevCluster(workdir / "cluster") as dev:
        yield dev, workdir


def test_plugin_commands_through_kubectl(cluster: tuple[DevCluster, Path]) -> None:
    dev, workdir = cluster
    k = plugin_kubectl(dev, workdir)
    k("apply", "-f", crds_path())
    manifests = "---\n".join([
        f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NS}}}\n",
        recurringjob("fast", NS, "*/2 * * * * *", duration="0s"),
        recurringjob("broken", NS, "*/2 * * * * *", duration="0s", outcome="Failed"),
        recurringjob("daily", NS, "30 2 * * *", timeZone="Europe/Berlin"),
    ])
    (workdir / "objects.yaml").write_text(manifests)
    k("apply", "-f", str(workdir / "objects.yaml"))

    # kubectl discovers the plugin on PATH
    plugins = k("plugin", "list", check=False).stdout
    assert "kubectl-recurringjob" in plugins

    listed = k("recurringjob", "list", "-n", NS).stdout.splitlines()
    assert listed[0].split()[:3] == ["NAME", "SCHEDULE", "TIMEZONE"] and "NEXT (LOCAL)" in listed[0]
    assert [line.split()[0] for line in listed[1:]] == ["broken", "daily", "fast"]
    assert "Europe/Berlin" in next(line for line in listed if line.startswith("daily"))

    upcoming = k("recurringjob", "next", "daily", "-n", NS, "-c", "3").stdout.splitlines()
    assert upcoming[0] == "daily: schedule '30 2 * * *' in Europe/Berlin"
    assert len(upcoming) == 4 and all("02:30:00 CE" in line for line in upcoming[1:]), upcoming

    with replicas(dev, workdir, 1):
        def finished(name: str, outcome: str) -> bool:
            out = k("recurringjob", "history", name, "-n", NS).stdout
            return outcome in out

        wait_for(lambda: finished("fast", "Succeeded"), timeout=60, what="a successful Job of fast")
        wait_for(lambda: finished("broken", "Failed"), timeout=60, what="a failed Job of broken")
        history = k("recurringjob", "history", "fast", "-n", NS).stdout.splitlines()
        assert history[0].split() == ["JOB", "SCHEDULED", "(LOCAL)", "OUTCOME", "LAUNCH", "LAG", "DURATION"]
        assert history[1].startswith("fast-") and history[-1].startswith(f"{len(history) - 2} job(s) kept")

        why = k("recurringjob", "why", "fast", "-n", NS).stdout
        assert why.startswith("fast: ") and "decision:" in why and "Ready=True" in why
        decision = json.loads(k("recurringjob", "why", "fast", "-n", NS, "-o", "json").stdout)
        assert decision["action"] in {"launch", "wait", "skip"} and decision["reason"]

        assert k("recurringjob", "suspend", "fast", "-n", NS).stdout.strip() == \
            "recurringjob.recurringjob.dev/fast suspended"
        assert k("get", "rj", "fast", "-n", NS, "-o", "jsonpath={.spec.suspend}").stdout == "true"
        row = next(line for line in k("recurringjob", "list", "-n", NS).stdout.splitlines()
                   if line.startswith("fast"))
        assert "<suspended>" in row and " True " in row
        assert "suspend" in k("recurringjob", "why", "fast", "-n", NS).stdout.lower()
        assert "already suspended" in k("recurringjob", "suspend", "fast", "-n", NS).stdout
        k("recurringjob", "resume", "fast", "-n", NS)
        assert k("get", "rj", "fast", "-n", NS, "-o", "jsonpath={.spec.suspend}").stdout == "false"

    missing = k("recurringjob", "why", "nope", "-n", NS, check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == f'error: recurringjob "nope" not found in namespace "{NS}"'
    assert k("recurringjob", "list", "-n", "empty").stdout.strip() == "No resources found in empty namespace."
    everywhere = k("recurringjob", "list", "-A").stdout.splitlines()
    assert everywhere[0].startswith("NAMESPACE") and len(everywhere) == 4
