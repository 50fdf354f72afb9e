"""The operator started with exactly the chart's rendered command and args (downward-API values filled in
as the kubelet would) on a dev cluster: /healthz answers, /metrics serves every metric the dashboard and
the alert rules use. Its RBAC (every request allowed, every rule needed) is checked by
test_chart_rbac_e2e.py; `kubectl apply` of the rendered chart by test_chart_apply_e2e.py."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from operator_support import crds_path, free_port, recurringjob, wait_for
from prometheus_client.parser import text_string_to_metric_families
from recurringjob.devcluster.server import DevCluster

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from packaging_tools import (
    dashboard_file_queries,
    one,
    promql_metric_names,
    render,
    rule_queries,
)

NS = "observed"
POD = "rj-recurringjob-operator-7d4b9c-x2x4z"


def kubectl(cluster: DevCluster, home: Path, *args: str) -> str:
    proc = subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, *args], capture_output=True,
                          text=True, timeout=60, env={"HOME": str(home), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("chart-e2e")
    metrics_port, health_port = free_port(), free_port()
    docs = render({"metrics.port": metrics_port, "health.port": health_port,
                   "leaderElection.leaseDurationSeconds": 3, "leaderElection.renewDeadlineSeconds": 2,
                   "leaderElection.retryPeriodSeconds": 1}, namespace="default")
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    exe = shutil.which(container["command"][0], path=str(Path(sys.executable).parent))
    assert exe, f"{container['command'][0]} is not installed in the venv"
    args = [a.replace("$(POD_NAME)", POD).replace("$(POD_NAMESPACE)", "default") for a in container["args"]]
    with DevCluster(workdir / "cluster") as cluster:
        kubectl(cluster, workdir, "apply", "-f", crds_path())
        objects = workdir / "objects.yaml"
        objects.write_text("---\n".join([
            f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NS}}}\n",
            recurringjob("ok", NS, "*/2 * * * * *", duration="1s"),
            recurringjob("failing", NS, "*/2 * * * * *", duration="1s", outcome="Failed"),
        ]))
        kubectl(cluster, workdir, "apply", "-f", str(objects))
        kubeconfig = cluster.write_kubeconfig(workdir / "operator.kubeconfig", "chart-operator")
        log = open(workdir / "operator.log", "ab")
        proc = subprocess.Popen([exe, *container["command"][1:], *args, "--kubeconfig", kubeconfig],
                                stdout=subprocess.DEVNULL, stderr=log)
        try:
            def counted() -> bool:
                assert proc.poll() is None, f"the operator exited: {(workdir / 'operator.log').read_text()}"
                try:
                    text = get(f"http://127.0.0.1:{metrics_port}/metrics")[1]
                except OSError:
                    return False  # not serving yet
                # the series exist at 0 from the start: wait for the counts themselves
                values = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
                          for family in text_string_to_metric_families(text) for sample in family.samples}
                return all(values.get(("recurringjob_jobs_finished_total", tuple(sorted(
                    {"namespace": NS, "name": n, "result": r}.items()))), 0) >= 1
                    for n, r in (("ok", "succeeded"), ("failing", "failed")))

            wait_for(counted, timeout=60, what="a succeeded and a failed Job counted in /metrics")
            yield {"docs": docs, "cluster": cluster, "metrics_port": metrics_port, "health_port": health_port,
                   "args": args}
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def samples(text: str) -> list[tuple[str, dict[str, str]]]:
    """(sample name, labels) of every sample in a Prometheus exposition, parsed by prometheus-client."""
    return [(sample.name, dict(sample.labels)) for family in text_string_to_metric_families(text)
            for sample in family.samples]


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


def test_liveness_probe_path_answers(running: dict[str, Any]) -> None:
    probe = one(running["docs"], "Deployment")["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]
    status, _ = get(f"http://127.0.0.1:{running['health_port']}{probe['httpGet']['path']}")
    assert status == 200
    assert f"--identity={POD}" in running["args"]


def test_dashboard_and_alerts_use_metrics_the_running_operator_serves(running: dict[str, Any]) -> None:
    status, text = get(f"http://127.0.0.1:{running['metrics_port']}/metrics")
    assert status == 200
    families = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    sample_names = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, re.M))
    served = sample_names | {f"{n}{s}" for n, kind in families.items() if kind == "histogram"
                        for s in ("_bucket", "_sum", "_count")} | set(families)
    used: dict[str, set[str]] = {}
    for where, expr in {**dashboard_file_queries(), **rule_queries()}.items():
        for name in promql_metric_names(expr):
            used.setdefault(name, set()).add(where)
    missing = {name: sorted(where) for name, where in used.items() if name not in served}
    assert not missing, f"used but not served by the operator: {missing}"
    # after a success and a failure, the per-RecurringJob series the alerts depend on have samples
    found = samples(text)
    finished = "recurringjob_jobs_finished_total"
    for needed in ((finished, {"namespace": NS, "name": "failing", "result": "failed"}),
                   (finished, {"namespace": NS, "name": "ok", "result": "succeeded"}),
                   ("recurringjob_last_successful_timestamp_seconds", {"namespace": NS, "name": "ok"}),
                   ("recurringjob_last_failed_timestamp_seconds", {"namespace": NS, "name": "failing"}),
                   ("recurringjob_occurrences_total", {"namespace": NS, "name": "ok", "result": "launched"}),
                   ("recurringjob_is_leader", {"identity": POD}),
                   ("recurringjob_launch_lag_seconds_count", {})):
        assert needed in found, f"no sample {needed}"
