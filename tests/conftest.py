"""Shared fixtures: a fresh dev cluster (subprocess) with its audit log, and a kubectl helper."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from recurringjob.devcluster.server import DevCluster


@pytest.fixture()
def devcluster(tmp_path: Path) -> Iterator[DevCluster]:
    """A fresh dev cluster for one test; its audit log is `devcluster.audit_log`."""
    with DevCluster(tmp_path / "devcluster") as cluster:
        yield cluster


@pytest.fixture(scope="module")
def module_devcluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    """One dev cluster shared by a module's tests (cheaper; tests must not depend on each other)."""
    with DevCluster(tmp_path_factory.mktemp("devcluster")) as cluster:
        yield cluster


KubectlRunner = Callable[..., subprocess.CompletedProcess[str]]


def make_kubectl(cluster: DevCluster, cache_dir: Path) -> KubectlRunner:
    def kubectl(
        *args: str, check: bool = True, input: str | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against `cluster` (own discovery cache); raises with its stderr when check fails."""
        env = dict(os.environ, KUBECACHEDIR=str(cache_dir), HOME=str(cache_dir))
        result = subprocess.run(
            ["kubectl", "--kubeconfig", cluster.kubeconfig, *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    return kubectl


@pytest.fixture()
def kubectl(devcluster: DevCluster, tmp_path: Path) -> KubectlRunner:
    return make_kubectl(devcluster, tmp_path / "kubectl-cache")
