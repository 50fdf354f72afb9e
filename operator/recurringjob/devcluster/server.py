"""Assembly: the aiohttp app, start/stop, the kubeconfig, and `DevCluster` for tests.

`serve(options)` runs until SIGINT/SIGTERM. The kubeconfig is written (temp file + rename) only
once the socket listens, so a caller may simply wait for the file to appear.
`DevCluster` runs `recurringjob devcluster` as a subprocess (its own GIL and event loop, like a
real API server) and gives tests its URL, kubeconfig, audit log and (opt-in) access log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from aiohttp import web
from aiohttp.web_urldispatcher import MatchInfoError, UrlMappingMatchInfo

from recurringjob.devcluster import crds
from recurringjob.devcluster.accesslog import AccessLog
from recurringjob.devcluster.audit import AuditLog
from recurringjob.devcluster.discovery import Discovery
from recurringjob.devcluster.gc import GarbageCollector
from recurringjob.devcluster.http import ApiHandler
from recurringjob.devcluster.journal import Journal
from recurringjob.devcluster.registry import Registry
from recurringjob.devcluster.store import Store
from recurringjob.devcluster.subscription import HISTORY_FRESH_SECONDS
from recurringjob.devcluster.ttl import TtlAfterFinishedController

BOOT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass
class Options:
    port: int = 0
    kubeconfig: str | None = None
    audit_log: str | None = None
    access_log: str | None = None
    data_dir: str | None = None
    history: int = 10_000
    history_seconds: float = HISTORY_FRESH_SECONDS
    bookmark_interval: float = 10.0
    faults: Any = None  # faults.FaultInjector
    jobsim_factory: Any = None  # store -> jobsim.JobSimulator
    extras: dict[str, Any] = field(default_factory=dict)


def kubeconfig_text(url: str, token: str = "admin", name: str = "devcluster") -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "current-context": name,
            "clusters": [{"name": name, "cluster": {"server": url}}],
            "users": [{"name": token, "user": {"token": token}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": token, "namespace": "default"}}],
        },
        sort_keys=False,
    )


def write_kubeconfig(path: str | os.PathLike[str], url: str, token: str = "admin") -> None:
    """Atomically (temp file + rename): a reader never sees a half-written kubeconfig."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".kubeconfig-")
    with os.fdopen(fd, "w") as handle:
        handle.write(kubeconfig_text(url, token))
    os.replace(tmp, target)


class Server:
    """The running pieces; `start()` listens, `stop()` tears down in reverse order."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.registry = Registry()
        self.store = Store(self.registry, options.history, options.history_seconds)
        self.journal = Journal(options.data_dir) if options.data_dir else None
        self.audit = AuditLog(options.audit_log) if options.audit_log else None
        self.access = AccessLog(options.access_log) if options.access_log else None
        self.discovery = Discovery(self.registry)
        self.handler = ApiHandler(
            self.store, self.discovery, self.audit, options.faults, options.bookmark_interval, self.access
        )
        self.jobsim: Any = None
        self.ttl = TtlAfterFinishedController(self.store, self.audit)
        self.runner: web.AppRunner | None = None
        self.url = ""

    def app(self) -> web.Application:
        router = _ApiFirstRouter()
        app = web.Application(router=router, client_max_size=64 * 1024 * 1024)  # codec.py: 3 MiB limit
        app.router.add_get("/_devcluster/healthz", lambda _: _ok())
        if self.options.faults is not None:
            self.options.faults.add_routes(app)
        router.catch_all = app.router.add_route("*", "/{tail:.*}", self.handler.handle)
        return app

    async def start(self) -> str:
        if self.journal is not None:
            self.journal.restore(self.store)
        crds.serve(self.store)
        if self.audit is not None:  # first listener: a removal's line is queued before GC reacts
            self.store.listeners.append(self.audit.on_store_event)
        GarbageCollector(self.store, self.audit)
        for name in BOOT_NAMESPACES:
            if self.store.peek(("", "namespaces"), None, name) is None:
                self.store.create(
                    ("", "namespaces"), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
                )
        if self.options.jobsim_factory is not None:
            self.jobsim = self.options.jobsim_factory(self.store)
            self.jobsim.audit = self.audit
            await self.jobsim.start()
        await self.ttl.start()
        self.runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.options.port, backlog=1024)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        if self.options.kubeconfig:
            write_kubeconfig(self.options.kubeconfig, self.url)
        return self.url

    async def stop(self) -> None:
        self.store.close_watches()
        if self.jobsim is not None:
            await self.jobsim.stop()
        await self.ttl.stop()
        if self.runner is not None:
            await self.runner.cleanup()
        if self.journal is not None:
            self.journal.close()
        if self.audit is not None:
            self.audit.close()
        if self.access is not None:
            self.access.close()


class _ApiFirstRouter(web.UrlDispatcher):
    """Resource paths (/api/..., /apis/...) go straight to the catch-all route.

    Every one of them ends there anyway; aiohttp's walk over the path's prefixes to find that out
    cost ~4% of the server's CPU per write. Other paths (admin, health) are routed normally.
    """

    catch_all: web.AbstractRoute | None = None

    async def resolve(self, request: web.Request) -> UrlMappingMatchInfo | MatchInfoError:
        path = request.path
        if self.catch_all is not None and (path.startswith("/api/") or path.startswith("/apis/")):
            return UrlMappingMatchInfo({"tail": path[1:]}, self.catch_all)
        return await super().resolve(request)


def _ok() -> Any:
    async def respond() -> web.Response:
        return web.Response(text="ok")

    return respond()


async def serve(options: Options) -> None:
    server = Server(options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    print(
        f"devcluster: serving {server.url}"
        + (f", kubeconfig {options.kubeconfig}" if options.kubeconfig else ""),
        file=sys.stderr,
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await server.stop()


class DevCluster:
    """A dev cluster subprocess for tests: `with DevCluster(tmp_path) as c: c.kubeconfig ...`."""

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        data_dir: str | None = None,
        extra_args: list[str] | None = None,
        startup_timeout: float = 20.0,
        access_log: bool = False,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.kubeconfig = str(self.workdir / "kubeconfig")
        self.audit_log = str(self.workdir / "audit.jsonl")
        # opt-in: every read is a line, which the chaos runs and benchmarks need not pay for
        self.access_log = str(self.workdir / "access.jsonl") if access_log else None
        self.data_dir = data_dir
        self.extra_args = list(extra_args or [])
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> DevCluster:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.kubeconfig)
        cmd = [
            sys.executable,
            "-m",
            "recurringjob.cli",
            "devcluster",
            "--port",
            "0",
            "--kubeconfig",
            self.kubeconfig,
            "--audit-log",
            self.audit_log,
            *self.extra_args,
        ]
        if self.data_dir:
            cmd += ["--data-dir", self.data_dir]
        if self.access_log:
            cmd += ["--access-log", self.access_log]
        self.process = subprocess.Popen(cmd, stderr=open(self.workdir / "devcluster.log", "ab"))
        deadline = time.monotonic() + self.startup_timeout
        while not os.path.exists(self.kubeconfig):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.workdir / "devcluster.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"dev cluster did not start:\n{log}")
            time.sleep(0.02)
        config = yaml.safe_load(Path(self.kubeconfig).read_text())
        self.url = config["clusters"][0]["cluster"]["server"]
        return self

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def audit_entries(self) -> list[dict[str, Any]]:
        """The audit log so far, one dict per mutating request."""
        with open(self.audit_log) as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def access_entries(self) -> list[dict[str, Any]]:
        """The access log so far (DevCluster(access_log=True)), one dict per request."""
        if self.access_log is None:
            raise RuntimeError("this DevCluster was started without access_log=True")
        with open(self.access_log) as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def restart(self) -> DevCluster:
        self.stop()
        return self.start()

    def write_kubeconfig(self, path: str | os.PathLike[str], token: str) -> str:
        """A kubeconfig for another client identity (its bearer token) on this cluster."""
        write_kubeconfig(path, self.url, token)
        return os.fspath(path)

    def __enter__(self) -> DevCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
