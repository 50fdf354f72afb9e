"""`recurringjob run`: the operator. Every replica watches (warm caches); only the Lease holder acts."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from typing import Any

from recurringjob.core.shards import MAX_SHARDS
from recurringjob.errors import UserError

log = logging.getLogger("recurringjob.run")

SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
GLOB_CHARS = "*?[!"  # a --namespace holding one of these is a Kopf pattern, not a name
CLOCK_READY_TIMEOUT = 10.0  # seconds to wait for the server clock estimate before leading anyway


def _default_lease_namespace() -> str:
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    with contextlib.suppress(OSError):
        with open(SERVICE_ACCOUNT_NAMESPACE, encoding="utf-8") as f:
            return f.read().strip() or "default"
    return "default"


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {port}")
    return port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--namespace", "-n", dest="namespaces", action="append", default=[], metavar="NS",
                        help="watch only this namespace (repeatable; glob patterns allowed); default: all")
    parser.add_argument("--identity", help="Lease holder identity (default: hostname-pid; use the pod name)")
    parser.add_argument("--lease-name", default="recurringjob-operator",
                        help="Lease name (default: %(default)s)")
    parser.add_argument("--shards", type=int, default=1, metavar="N",
                        help="split the RecurringJobs into N shards, each with its own Lease "
                             "(<lease-name>-<i>), shared fairly among the replicas; every replica must run "
                             "the same N (default: %(default)s = one Lease, the name unchanged)")
    parser.add_argument("--lease-namespace", default=None,
                        help="Lease namespace (default: $POD_NAMESPACE, the pod's namespace, or 'default')")
    parser.add_argument("--health-port", type=_port, default=8081,
                        help="/healthz port, 0 = off (default: %(default)s)")
    parser.add_argument("--metrics-port", type=_port, default=8080,
                        help="/metrics port, 0 = off (default: %(default)s)")
    parser.add_argument("--lease-duration", type=float, default=15.0, metavar="SECONDS")
    parser.add_argument("--renew-deadline", type=float, default=10.0, metavar="SECONDS")
    parser.add_argument("--retry-period", type=float, default=2.0, metavar="SECONDS")
    parser.add_argument("--workers", type=int, default=64,
                        help="concurrent reconciles (default: %(default)s)")
    parser.add_argument("--max-request-seconds", type=float, default=80.0, metavar="SECONDS",
                        help="longest time a Job create can stay in flight: the client timeout (20 s) "
                             "plus the API server's --request-timeout (kube default 60 s); each Job keeps "
                             "its occurrence lock at least this long (default: %(default)s)")
    parser.add_argument("--kubeconfig", default=None,
                        help="kubeconfig file (default: in-cluster, else $KUBECONFIG)")
    parser.add_argument("--context", default=None, help="kubeconfig context")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


async def prime_cache(api: Any, cache: Any, namespaces: list[str]) -> None:
    """One paginated LIST of RecurringJobs into the cache (newer watch data wins). Jobs need none:
    the Job reflector's initial LIST fills the cache before the replica stands for election."""
    from recurringjob import GROUP, PLURAL, VERSION
    from recurringjob.runtime.jobwatch import namespace_scopes
    from recurringjob.runtime.kube import ApiError, list_objects, rj_path

    scopes, accepts = namespace_scopes(namespaces)
    for scope in scopes:
        path = rj_path(scope) if scope else f"/apis/{GROUP}/{VERSION}/{PLURAL}"
        try:
            async for obj in list_objects(api, path):
                if accepts(str((obj.get("metadata") or {}).get("namespace") or "")):
                    cache.put_recurringjob(obj)
        except ApiError as exc:  # e.g. the CRD is not installed yet: the watch will catch up
            log.warning("priming the cache from %s: %s", path, exc)


async def _clock_probe(api: Any, namespace: str, lease_name: str) -> None:
    """One cheap request for the server clock (ServerClock.keep_fresh): GET the Lease, which the
    operator may read anyway. Any HTTP answer, 404 included, carries the Date header it is for."""
    from recurringjob.runtime.kube import ApiError, lease_path

    try:
        await api.request("GET", lease_path(namespace, lease_name), timeout=5.0)
    except ApiError as exc:
        if exc.status == 0:  # no answer: no sample
            raise


def main(args: argparse.Namespace) -> int:
    if not args.lease_duration > args.renew_deadline > args.retry_period > 0:
        raise UserError("need --lease-duration > --renew-deadline > --retry-period > 0 "
                        f"(got {args.lease_duration}/{args.renew_deadline}/{args.retry_period})")
    if args.lease_duration < 1:
        raise UserError("--lease-duration must be at least 1 second (Leases count whole seconds)")
    if not 1 <= args.max_request_seconds <= 3600:
        raise UserError("--max-request-seconds must be between 1 and 3600 "
                        f"(got {args.max_request_seconds}); it bounds how long a create can stay in flight")
    if not 1 <= args.shards <= MAX_SHARDS:
        raise UserError(f"--shards must be between 1 and {MAX_SHARDS} (got {args.shards})")
    if not 1 <= args.workers <= 1024:
        raise UserError("--workers must be between 1 and 1024")
    if args.health_port and args.health_port == args.metrics_port:
        raise UserError("--health-port and --metrics-port must differ")
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Kopf logs every watch event at DEBUG/INFO; at 10k objects that is the operator's main CPU cost
    logging.getLogger("kopf").setLevel(max(logging.WARNING, logging.getLevelName(args.log_level)))
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # every liveness probe otherwise
    from recurringjob.runtime.kube import default_identity
    return asyncio.run(run_operator(args, identity=args.identity or default_identity()))


async def run_operator(args: argparse.Namespace, *, identity: str) -> int:
    import kopf

    from recurringjob.runtime.cache import Cache
    from recurringjob.runtime.gctuning import GcTuning, log_slow_collection
    from recurringjob.runtime.handlers import WatchSink, build_registry, configure_settings
    from recurringjob.runtime.jobwatch import JobSink, JobWatch
    from recurringjob.runtime.kube import KubeApi
    from recurringjob.runtime.launch import EventRecorder, Launcher
    from recurringjob.runtime.memtrim import MallocTrim
    from recurringjob.runtime.metrics import Metrics
    from recurringjob.runtime.scheduler import Scheduler
    from recurringjob.runtime.serverclock import ServerClock
    from recurringjob.runtime.shards import ShardedLeadership

    api = await KubeApi.from_environment(kubeconfig=args.kubeconfig, context=args.context,
                                         user_agent=f"recurringjob-operator/{identity}",
                                         pool_size=args.workers + 16)  # + lease, events, GETs
    metrics = Metrics()
    metrics_server = metrics.serve(args.metrics_port) if args.metrics_port else None
    cache = Cache()
    lease_namespace = args.lease_namespace or _default_lease_namespace()
    # every decision runs on the API server's clock, estimated from the answers' Date headers
    server_clock = ServerClock()
    api.on_response = server_clock.observe
    metrics.server_clock_offset.set_function(lambda: server_clock.offset_seconds)
    metrics.server_clock_uncertainty.set_function(lambda: server_clock.uncertainty_seconds)
    clock_task = asyncio.create_task(server_clock.keep_fresh(
        lambda: _clock_probe(api, lease_namespace, args.lease_name)), name="server-clock")
    scheduler_box: list[Any] = []
    sharded = args.shards > 1
    leadership = ShardedLeadership(
        api, name=args.lease_name, namespace=lease_namespace, identity=identity, shards=args.shards,
        lease_duration=args.lease_duration, renew_deadline=args.renew_deadline,
        retry_period=args.retry_period,
        on_started=lambda shard: scheduler_box[0].start_shard(shard) if sharded else scheduler_box[0].start(),
        on_stopped=lambda shard: scheduler_box[0].stop_shard(shard) if sharded else scheduler_box[0].stop(),
        metrics=metrics, wall=server_clock.timestamp)
    launcher = Launcher(api, is_leader=leadership.is_leader, cache=cache,
                        events=EventRecorder(api, instance=identity, clock=server_clock.timestamp),
                        metrics=metrics, clock=server_clock.timestamp)
    scheduler = Scheduler(cache=cache, api=api, launcher=launcher, is_leader=leadership.is_leader,
                          metrics=metrics, workers=args.workers, now=server_clock.now,
                          max_request_seconds=args.max_request_seconds,
                          sharding=leadership if sharded else None)
    scheduler_box.append(scheduler)
    sink = WatchSink(cache, scheduler, metrics, leadership.is_leader)
    job_watch = JobWatch(api, JobSink(cache, scheduler), args.namespaces)

    async def login() -> kopf.ConnectionInfo:
        cfg = api.configuration
        return kopf.ConnectionInfo(
            server=cfg.host, scheme="Bearer", token=await api.bearer_token(),
            ca_path=cfg.ssl_ca_cert, insecure=not cfg.verify_ssl,
            certificate_path=cfg.cert_file, private_key_path=cfg.key_file,
            default_namespace=lease_namespace)

    def probe() -> dict[str, Any]:
        return {"identity": identity, "leader": leadership.is_leader(), "shards": leadership.held(),
                "recurringjobs": len(cache), "queued": scheduler.queue_size()}

    registry = build_registry(sink, login=login, probe=probe)
    settings = configure_settings(kopf.OperatorSettings())
    kopf_stop = asyncio.Event()
    kopf_ready = asyncio.Event()
    stop = asyncio.Event()
    namespaces = list(args.namespaces)
    if namespaces and not any(ch in ns for ns in namespaces for ch in GLOB_CHARS):
        # Kopf's scanning lists/watches Namespaces (to match patterns) and CRDs (to notice resources
        # appearing later): cluster-scoped reads. Exact namespaces need neither, and without them
        # namespaced mode runs on Roles alone (the chart's; a CRD installed later needs a restart).
        settings.scanning.disabled = True
    kopf_task = asyncio.create_task(kopf.operator(
        registry=registry, settings=settings, standalone=True, clusterwide=not namespaces,
        namespaces=namespaces, stop_flag=kopf_stop, ready_flag=kopf_ready,
        liveness_endpoint=f"http://0.0.0.0:{args.health_port}/healthz" if args.health_port else None,
    ), name="kopf")
    lease_task: asyncio.Task[None] | None = None
    loop = asyncio.get_running_loop()
    gc_tuning = GcTuning(tune=os.environ.get("RECURRINGJOB_GC_TUNING", "on") != "off",
                         report=lambda pause, collected: loop.call_soon_threadsafe(
                             log_slow_collection, pause, collected))
    malloc_trim = MallocTrim(enabled=os.environ.get("RECURRINGJOB_MALLOC_TRIM", "on") != "off")
    trim_task: asyncio.Task[None] | None = None
    try:
        ready_or_dead = asyncio.create_task(kopf_ready.wait())
        await asyncio.wait({ready_or_dead, kopf_task}, return_when=asyncio.FIRST_COMPLETED)
        ready_or_dead.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT):
            # replaces Kopf's handlers: we release the Lease first, then stop Kopf ourselves
            loop.add_signal_handler(sig, stop.set)
        if not kopf_task.done():
            # a leader must not plan from empty caches (it would think live Jobs are missing):
            # list once before standing for election; the watches keep the caches current after
            job_watch.start()
            await prime_cache(api, cache, namespaces)
            stop_waiter = asyncio.create_task(stop.wait())
            synced = asyncio.create_task(job_watch.wait_synced())
            await asyncio.wait({synced, stop_waiter, kopf_task}, return_when=asyncio.FIRST_COMPLETED)
            synced.cancel()
            if not stop.is_set() and not kopf_task.done():
                # the primed caches are most of the heap: freeze them (see gctuning) before leading
                gc_tuning.install()
                # the cold start's decoded LIST answers are garbage now: give their pages back
                malloc_trim.trim()
                trim_task = asyncio.create_task(malloc_trim.run_forever(), name="malloc-trim")
                # no launch on a guessed time: stand for election once the server's clock is known
                # to ±0.2 s (~1 s after start); now() errs early-proof even if it takes longer
                if not await server_clock.wait_ready(CLOCK_READY_TIMEOUT):
                    log.warning("the API server's clock is still uncertain after %.0fs (±%.2fs); "
                                "standing for election anyway", CLOCK_READY_TIMEOUT,
                                server_clock.uncertainty_seconds)
                log.info("%s standing for election (caches synced, API server clock known)", identity)
                lease_task = asyncio.create_task(leadership.run(), name="leadership")
                await asyncio.wait({stop_waiter, kopf_task, lease_task}, return_when=asyncio.FIRST_COMPLETED)
            stop_waiter.cancel()
    finally:
        log.info("%s shutting down", identity)
        await leadership.release()  # stops the scheduler via the callback, then frees the Lease
        if lease_task is not None:
            lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await lease_task
        await scheduler.stop()
        clock_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await clock_task
        if trim_task is not None:
            trim_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await trim_task
        await job_watch.stop()
        kopf_stop.set()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(kopf_task, 10)
        await api.close()
        gc_tuning.uninstall()
        if metrics_server is not None:
            metrics_server.shutdown()
    failure = kopf_task.exception() if kopf_task.done() and not kopf_task.cancelled() else None
    if failure is not None and not stop.is_set():
        log.error("Kopf stopped on its own: %s", failure)
        return 1
    if failure is not None:  # noise from Kopf's own stream teardown after our stop request
        log.warning("Kopf raised while stopping: %s", failure)
    return 0
