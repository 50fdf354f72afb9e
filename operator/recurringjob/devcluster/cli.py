"""`recurringjob devcluster`: serve the embedded Kubernetes API server until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

from recurringjob.devcluster.faults import FaultInjector
from recurringjob.devcluster.jobsim import JobSimulator
from recurringjob.devcluster.subscription import HISTORY_FRESH_SECONDS
from recurringjob.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = pick a free one)")
    parser.add_argument(
        "--kubeconfig",
        required=True,
        metavar="PATH",
        help="where to write the kubeconfig (written once the server is ready)",
    )
    parser.add_argument("--audit-log", metavar="PATH", help="JSONL audit log of every mutating request")
    parser.add_argument(
        "--access-log", metavar="PATH", help="JSONL access log of every request, reads and watches included"
    )
    parser.add_argument("--data-dir", metavar="DIR", help="persist state here (survives restarts)")
    parser.add_argument(
        "--history",
        type=int,
        default=10_000,
        metavar="EVENTS",
        help="watch history kept per resource for resuming watches, beyond the last --history-seconds; "
        "older resourceVersions get 410",
    )
    parser.add_argument(
        "--history-seconds",
        type=float,
        default=HISTORY_FRESH_SECONDS,
        metavar="SECONDS",
        help="watch history always kept per resource, like kube-apiserver's watch cache (0: only --history)",
    )
    parser.add_argument(
        "--bookmark-interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="idle time before a watch with allowWatchBookmarks gets a BOOKMARK",
    )
    FaultInjector.add_arguments(parser)
    JobSimulator.add_arguments(parser)


def main(args: argparse.Namespace) -> int:
    from recurringjob.devcluster.gcpolicy import FreezeSurvivors
    from recurringjob.devcluster.server import Options, serve

    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be between 0 and 65535, got {args.port}")
    if not args.history_seconds >= 0:
        raise UserError(f"--history-seconds must be 0 or more, got {args.history_seconds}")
    if args.history < 1:
        raise UserError(f"--history must be at least 1, got {args.history}")
    if args.bookmark_interval <= 0:
        raise UserError(f"--bookmark-interval must be positive, got {args.bookmark_interval}")
    for flag, path in (
        ("--kubeconfig", args.kubeconfig),
        ("--audit-log", args.audit_log),
        ("--access-log", args.access_log),
    ):
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise UserError(f"{flag}: directory {os.path.dirname(os.path.abspath(path))} does not exist")
    if args.data_dir and os.path.exists(args.data_dir) and not os.path.isdir(args.data_dir):
        raise UserError(f"--data-dir: {args.data_dir} is not a directory")
    options = Options(
        port=args.port,
        kubeconfig=args.kubeconfig,
        audit_log=args.audit_log,
        access_log=args.access_log,
        data_dir=args.data_dir,
        history=args.history,
        history_seconds=args.history_seconds,
        bookmark_interval=args.bookmark_interval,
    )
    options.faults = FaultInjector.from_args(args)
    options.jobsim_factory = lambda store: JobSimulator.from_args(store, args)
    logging.basicConfig(level=logging.WARNING, format="devcluster %(levelname)s %(name)s: %(message)s")
    FreezeSurvivors().install()  # see gcpolicy.py: full collections paused the server for ~1 s
    try:
        asyncio.run(serve(options))
    except OSError as exc:
        raise UserError(f"cannot serve on 127.0.0.1:{args.port}: {exc.strerror or exc}") from None
    return 0
