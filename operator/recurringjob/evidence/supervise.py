"""Process supervision for multi-process runs: the dev cluster and operator replicas as real processes.

Used by `recurringjob demo` and the chaos harness (tests/chaos). Every child runs in its own
session (process group), so signals reach it and anything it spawns, and the shell's Ctrl-C does
not reach it behind our back: the `Supervisor` decides the order of shutdown and always reaps
everything (context manager + `stop_all` in `finally`). Paused (SIGSTOP) children are continued
before SIGTERM, since a stopped process cannot act on it.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml


class ManagedProcess:
    """One child process in its own process group, its output appended to a log file."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self.paused = False
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log_file:
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.popen.pid, signum)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL, no goodbye: a crash (the Lease is not released)."""
        self.signal_group(signal.SIGKILL)
        self.popen.wait()
        self.paused = False

    def pause(self) -> None:
        self.signal_group(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        self.signal_group(signal.SIGCONT)
        self.paused = False

    def request_stop(self) -> None:
        """SIGCONT + SIGTERM: ask the group to finish (a stopped process cannot act on SIGTERM)."""
        if self.alive():
            self.signal_group(signal.SIGCONT)
            self.signal_group(signal.SIGTERM)
        self.paused = False

    def finish_stop(self, deadline: float) -> int | None:
        """Wait for the requested stop until `deadline` (monotonic), then SIGKILL the whole group."""
        try:
            self.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        # Whatever the group's leader did, nothing of the group may outlive it.
        self.signal_group(signal.SIGKILL)
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        return self.popen.returncode

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGCONT + SIGTERM, SIGKILL after `grace` seconds; the group is killed either way."""
        self.request_stop()
        return self.finish_stop(time.monotonic() + grace)


class Supervisor:
    """Starts named children and stops them all: clients first, then servers (`stop_last`)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: dict[str, ManagedProcess] = {}
        self._stop_last: set[str] = set()

    def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None, stop_last: bool = False
    ) -> ManagedProcess:
        """Start `name`. `stop_last`: a server the others talk to, stopped after all of them."""
        old = self.processes.get(name)
        if old is not None and old.alive():
            raise RuntimeError(f"process {name} is already running")
        environment = env if env is not None else os.environ
        process = ManagedProcess(name, argv, environment, self.log_dir / f"{name}.log")
        self.processes[name] = process
        if stop_last:
            self._stop_last.add(name)
        else:
            self._stop_last.discard(name)
        return process

    def get(self, name: str) -> ManagedProcess:
        return self.processes[name]

    def stop(self, name: str, grace: float = 5.0) -> int | None:
        return self.processes[name].stop(grace)

    def stop_many(self, names: Iterable[str], grace: float = 5.0) -> None:
        """Stop in parallel: one grace period for all, not one each."""
        chosen = [self.processes[name] for name in names]
        for process in chosen:
            process.request_stop()
        deadline = time.monotonic() + grace
        for process in chosen:
            process.finish_stop(deadline)

    def stop_all(self, grace: float = 5.0) -> None:
        self.stop_many([n for n in self.processes if n not in self._stop_last], grace)
        self.stop_many([n for n in self.processes if n in self._stop_last], grace)

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_all()


def recurringjob_command(*args: str) -> list[str]:
    """`recurringjob ARGS` with this interpreter, so it works inside any virtualenv."""
    return [sys.executable, "-m", "recurringjob.cli", *args]


# --- dev cluster --------------------------------------------------------------------------------


@dataclass
class DevClusterProcess:
    """A dev cluster child; `kubeconfig` is rewritten (same port) on each start."""

    supervisor: Supervisor
    workdir: Path
    data_dir: Path | None
    extra_args: tuple[str, ...] = ()
    port: int = 0
    starts: int = 0
    base_url: str = ""
    name: str = "devcluster"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    def audit_log(self, start_number: int) -> Path:
        # One audit file per server start: a restart must never truncate what was already logged.
        return self.workdir / ("audit.jsonl" if start_number == 1 else f"audit-{start_number}.jsonl")

    def audit_logs(self) -> list[Path]:
        return [self.audit_log(n) for n in range(1, self.starts + 1)]

    def start(self, timeout: float = 60.0) -> None:
        self.starts += 1
        self.kubeconfig.unlink(missing_ok=True)
        argv = recurringjob_command(
            "devcluster",
            "--port", str(self.port),
            "--kubeconfig", str(self.kubeconfig),
            "--audit-log", str(self.audit_log(self.starts)),
            *(["--data-dir", str(self.data_dir)] if self.data_dir else []),
            *self.extra_args,
        )  # fmt: skip
        process = self.supervisor.start(self.name, argv, stop_last=True)
        deadline = time.monotonic() + timeout
        while not self.kubeconfig.exists():
            if not process.alive():
                raise RuntimeError(f"dev cluster exited ({process.popen.returncode}); see {process.log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"dev cluster not ready after {timeout:.0f}s; see {process.log_path}")
            time.sleep(0.05)
        # The file may be visible before it is complete; a partial read retries.
        while True:
            try:
                self.base_url = kubeconfig_server(self.kubeconfig)
                break
            except (KeyError, TypeError, IndexError, yaml.YAMLError):
                time.sleep(0.05)
        self.port = int(self.base_url.rsplit(":", 1)[1].split("/")[0])

    def stop(self, grace: float = 5.0) -> None:
        self.supervisor.stop(self.name, grace)

    def restart(self, timeout: float = 60.0) -> None:
        """Stop (SIGTERM) and start again on the same port and data dir."""
        self.stop()
        self.start(timeout)


def kubeconfig_server(path: Path) -> str:
    config = yaml.safe_load(path.read_text())
    return str(config["clusters"][0]["cluster"]["server"])


def write_client_kubeconfig(admin_kubeconfig: Path, path: Path, token: str) -> Path:
    """A copy of the admin kubeconfig whose bearer token (= client identity) is `token`."""
    config = yaml.safe_load(admin_kubeconfig.read_text())
    for user in config.get("users", []):
        user.setdefault("user", {})["token"] = token
    path.write_text(yaml.safe_dump(config))
    return path


# --- a tiny JSON client for the harness's own reads and writes -----------------------------------


class ApiClient:
    """Minimal Kubernetes REST client (stdlib): the harness must not depend on the operator's code."""

    def __init__(self, base_url: str, token: str = "admin", timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._ssl = ssl.create_default_context()
        self._ssl.check_hostname = False
        self._ssl.verify_mode = ssl.CERT_NONE  # the dev cluster's own, throwaway certificate

    def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        context = self._ssl if self.base_url.startswith("https") else None
        with urllib.request.urlopen(request, timeout=self.timeout, context=context) as response:
            return json.loads(response.read() or b"null")

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def get_or_none(self, path: str) -> Any:
        try:
            return self.get(path)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def create(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def merge_patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body, "application/merge-patch+json")


def lease_holder(api: ApiClient, namespace: str, name: str) -> str | None:
    """`spec.holderIdentity` of the Lease (None if there is no Lease or no holder)."""
    lease = api.get_or_none(f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}")
    if not lease:
        return None
    holder = (lease.get("spec") or {}).get("holderIdentity")
    return str(holder) if holder else None


def wait_until(predicate: Any, timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll `predicate()` until truthy; its value is returned. TimeoutError names `what`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (OSError, urllib.error.URLError):
            value = None  # the server may be restarting
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
