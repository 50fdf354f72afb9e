"""The Job simulator inside a real dev cluster process: Jobs finish, also across a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client, config
from recurringjob.evidence.supervise import DevClusterProcess, Supervisor, wait_until

DURATION = "devcluster.recurringjob.dev/duration"
OUTCOME = "devcluster.recurringjob.dev/outcome"


def job(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "annotations": annotations or {}},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "main", "image": "busybox"}]}}}}


def conditions(api: client.BatchV1Api, name: str) -> dict[str, str]:
    status = api.read_namespaced_job(name, "default").status
    return {c.type: c.reason for c in status.conditions or []}


def batch_api(cluster: DevClusterProcess) -> client.BatchV1Api:
    return client.BatchV1Api(config.new_client_from_config(config_file=str(cluster.kubeconfig)))


def test_jobs_finish_with_their_outcome_and_survive_a_restart(tmp_path: Path) -> None:
    with Supervisor(tmp_path) as supervisor:
        cluster = DevClusterProcess(supervisor, tmp_path, tmp_path / "data",
                                    extra_args=("--job-duration", "4s"))
        cluster.start(timeout=30)
        api = batch_api(cluster)
        api.create_namespaced_job("default", job("survivor"))
        api.create_namespaced_job("default", job("failing", {DURATION: "100ms", OUTCOME: "Failed"}))
        wait_until(lambda: "Failed" in conditions(api, "failing"), 5, 0.05)
        assert conditions(api, "failing") == {"FailureTarget": "BackoffLimitExceeded",
                                              "Failed": "BackoffLimitExceeded"}
        assert api.read_namespaced_job("survivor", "default").status.active == 1
        assert conditions(api, "survivor") == {}

        cluster.restart(timeout=30)  # state comes back from --data-dir; the Job is still running
        api = batch_api(cluster)
        wait_until(lambda: "Complete" in conditions(api, "survivor"), 10, 0.05)
        status = api.read_namespaced_job("survivor", "default").status
        assert status.succeeded == 1 and not status.active
        # it ran its 4 s from its original startTime (whole seconds), not 4 s more after the restart
        ran = (status.completion_time - status.start_time).total_seconds()
        assert 3 <= ran <= 5, ran
