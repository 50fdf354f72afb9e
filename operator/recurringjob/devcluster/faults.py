"""Fault injection for the dev cluster: latency, errors, holds, watch drops and expiry, partitions.

Switchable at start (`--fault-*` flags) and at run time (admin API under /_devcluster/faults, and
`FaultClient` for tests and the chaos harness). Each rule draws from its own `random.Random`
seeded from (--fault-seed, rule kind, rule position, rule-set generation), so a run with the same
seed and the same request sequence injects the same faults, and adding a latency rule does not
shift which requests get errors. Rule syntax: see faultrules.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from recurringjob.devcluster.faultclient import ADMIN_PATH, FaultClient
from recurringjob.devcluster.faultrules import (
    ErrorRule,
    HoldRule,
    LatencyRule,
    Rule,
    RuleError,
    WatchDropRule,
    WatchExpireRule,
    check_mode,
    parse_flag,
    parse_json,
    parse_partition,
)
from recurringjob.devcluster.request import RequestInfo
from recurringjob.errors import UserError

__all__ = ["ADMIN_PATH", "FaultClient", "FaultInjector", "status_response"]
_LOG_SIZE = 1000  # recent injected faults kept for GET /_devcluster/faults/log

# JSON key of each rule list -> rule class.
RULE_KINDS: dict[str, type[Rule]] = {
    "latency": LatencyRule,
    "errors": ErrorRule,
    "watchDrops": WatchDropRule,
    "watchExpiry": WatchExpireRule,
    "holds": HoldRule,
}
_FLAGS: dict[str, tuple[str, str]] = {  # JSON key -> (flag, help)
    "latency": ("--fault-latency", "add latency, e.g. '20ms' or 'delay=10ms jitter=90ms verbs=list,watch'"),
    "errors": ("--fault-errors", "answer errors, e.g. '0.05' or 'rate=0.2 codes=409,503 resources=jobs'"
               " (codes among 409,429,500,503; default 500,503,429)"),
    "watchDrops": ("--fault-watch-drop", "cut watch streams, e.g. '10s' or"
                   " 'after=2s jitter=8s resources=jobs'"),
    "watchExpiry": ("--fault-watch-expire", "answer 410 Expired to watches resuming from a resourceVersion,"
                    " e.g. '0.3' or 'rate=1 resources=leases'"),
    "holds": ("--fault-hold", "keep matching requests on the server, then commit them even if the client"
              " gave up, e.g. '30s' or 'seconds=30s verbs=create resources=jobs clients=replica-1'"),
}


class _Partition:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.healed = asyncio.Event()


class FaultInjector:
    """The dev cluster's fault state. All methods run on the server's event loop."""

    def __init__(self, seed: int | None = None, rules: Mapping[str, Iterable[Rule]] | None = None,
                 partitions: Mapping[str, str] | None = None) -> None:
        # Without --fault-seed a seed is still chosen and shown by GET, so any run can be replayed.
        self.seed = seed if seed is not None else int.from_bytes(os.urandom(4), "big")
        self._generation = 0
        self._rules: dict[str, list[tuple[Rule, random.Random]]] = {kind: [] for kind in RULE_KINDS}
        self._partitions: dict[str, _Partition] = {}
        self._partition_waiters: dict[str, set[asyncio.Future[None]]] = {}
        self.stats: Counter[str] = Counter()
        self.log: deque[dict[str, Any]] = deque(maxlen=_LOG_SIZE)
        for kind, kind_rules in (rules or {}).items():
            self.set_rules(kind, kind_rules)
        for client, mode in (partitions or {}).items():
            self.partition(client, mode)

    # ---- configuration -------------------------------------------------------------------------

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("fault injection (also at run time: /_devcluster/faults)")
        group.add_argument("--fault-seed", metavar="N", help="seed of every fault rule (default: random,"
                           " shown by GET /_devcluster/faults)")
        for key, (flag, help_text) in _FLAGS.items():
            group.add_argument(flag, dest=_dest(key), metavar="RULE", action="append", default=[],
                               help=help_text + " (repeatable)")
        group.add_argument("--fault-partition", metavar="CLIENT", action="append", default=[],
                           help="cut off a client identity: 'replica-1' or 'client=replica-1 mode=fail'"
                           " (mode hang|fail, default hang; repeatable)")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> FaultInjector:
        seed: int | None = None
        if getattr(args, "fault_seed", None) is not None:
            try:
                seed = int(args.fault_seed)
            except ValueError:
                raise UserError(f"--fault-seed must be an integer, got {args.fault_seed!r}") from None
        rules: dict[str, list[Rule]] = {}
        for key, (flag, _) in _FLAGS.items():
            rules[key] = []
            for text in getattr(args, _dest(key), None) or []:
                try:
                    rules[key].append(parse_flag(RULE_KINDS[key], text))
                except RuleError as exc:
                    raise UserError(f"{flag} {text!r}: {exc}") from None
        partitions: dict[str, str] = {}
        for text in getattr(args, "fault_partition", None) or []:
            try:
                client, mode = parse_partition(text)
            except RuleError as exc:
                raise UserError(f"--fault-partition {text!r}: {exc}") from None
            partitions[client] = mode
        return cls(seed, rules, partitions)

    def set_rules(self, kind: str, rules: Iterable[Rule]) -> None:
        """Replace one rule list; each new rule gets a fresh generator derived from the seed."""
        self._generation += 1
        self._rules[kind] = [
            (rule, random.Random(f"{self.seed}/{kind}/{self._generation}/{index}"))
            for index, rule in enumerate(rules)
        ]

    def reseed(self, seed: int) -> None:
        self.seed = seed
        self._generation = 0
        for kind in RULE_KINDS:
            self.set_rules(kind, [rule for rule, _ in self._rules[kind]])

    def partition(self, client: str, mode: str = "hang") -> None:
        previous = self._partitions.get(client)
        if previous is not None:  # a mode change keeps already hanging requests hanging
            previous.mode = check_mode(mode)
            return
        self._partitions[client] = _Partition(check_mode(mode))
        for waiter in self._partition_waiters.pop(client, set()):
            if not waiter.done():
                waiter.set_result(None)

    def heal(self, client: str | None = None) -> None:
        """Lift one client's partition (None: all); its hanging requests then fail with 503."""
        for name in [client] if client is not None else list(self._partitions):
            partition = self._partitions.pop(name, None)
            if partition is not None:
                partition.healed.set()

    def clear(self) -> None:
        for kind in RULE_KINDS:
            self.set_rules(kind, [])
        self.heal()

    def to_json(self) -> dict[str, Any]:
        config: dict[str, Any] = {"seed": self.seed}
        for kind, armed in self._rules.items():
            config[kind] = [rule.to_json() for rule, _ in armed]
        config["partitions"] = {client: p.mode for client, p in self._partitions.items()}
        config["stats"] = dict(sorted(self.stats.items()))
        return config

    def load_json(self, body: Any, replace_all: bool) -> None:
        """Apply an admin API document; validated completely before anything changes."""
        if not isinstance(body, Mapping):
            raise RuleError("the body must be a JSON object")
        unknown = set(body) - {*RULE_KINDS, "seed", "partitions", "stats"}
        if unknown:
            accepted = ", ".join(["seed", "partitions", *RULE_KINDS])
            raise RuleError(f"unknown key(s) {sorted(unknown)} (accepted: {accepted})")
        new_rules: dict[str, list[Rule]] = {}
        for kind, rule_class in RULE_KINDS.items():
            if kind in body or replace_all:
                raw_rules = body.get(kind) or []
                if not isinstance(raw_rules, list):
                    raise RuleError(f"{kind} must be a list of rules")
                new_rules[kind] = [parse_json(rule_class, raw) for raw in raw_rules]
        partitions = body.get("partitions") if "partitions" in body or replace_all else None
        if partitions is not None and not isinstance(partitions, Mapping):
            raise RuleError("partitions must be an object {client: mode}")
        checked = {str(c): check_mode(m) for c, m in (partitions or {}).items()}
        seed = body.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise RuleError(f"seed must be an integer, got {seed!r}")
        if seed is not None:
            self.seed, self._generation = seed, 0
        for kind, rules in new_rules.items():
            self.set_rules(kind, rules)
        if partitions is not None:
            for client in set(self._partitions) - set(checked):
                self.heal(client)
            for client, mode in checked.items():
                self.partition(client, mode)

    # ---- the hooks the HTTP layer calls --------------------------------------------------------

    async def intercept(self, info: RequestInfo) -> web.StreamResponse | None:
        """Before every non-admin request: maybe wait, maybe answer an error instead (None = go on)."""
        partition = self._partitions.get(info.client)
        if partition is not None:
            self._record(f"partition:{partition.mode}", info)
            if partition.mode == "hang":
                await partition.healed.wait()
            return status_response(503, info, message=f"client {info.client!r} is partitioned from the"
                                   " dev cluster (injected fault)")
        for rule, rng in self._rules["latency"]:
            if rule.matches(info) and rng.random() < rule.rate:
                assert isinstance(rule, LatencyRule)
                self._record("latency", info)
                await asyncio.sleep(rule.delay + rng.uniform(0.0, rule.jitter))
        for rule, rng in self._rules["errors"]:
            if rule.matches(info) and rng.random() < rule.rate:
                assert isinstance(rule, ErrorRule)
                code = rng.choice(rule.codes)
                self._record(f"error:{code}", info)
                return status_response(code, info, retry_after=rule.retry_after)
        return None

    def hold_for(self, info: RequestInfo) -> float | None:
        """Seconds to keep this request before handling it (committed even if its client leaves)."""
        for rule, rng in self._rules["holds"]:
            if rule.matches(info) and rng.random() < rule.rate:
                assert isinstance(rule, HoldRule)
                self._record("hold", info)
                return rule.seconds
        return None

    def watch_cut_after(self, info: RequestInfo) -> float | None:
        """Seconds after which the server cuts this watch stream, or None to leave it alone."""
        for rule, rng in self._rules["watchDrops"]:
            if rule.matches(info) and rng.random() < rule.rate:
                assert isinstance(rule, WatchDropRule)
                self._record("watchDrop", info)
                return rule.after + rng.uniform(0.0, rule.jitter)
        return None

    def expire_watch(self, info: RequestInfo) -> bool:
        """True: answer this watch resuming from a resourceVersion with 410 Expired."""
        for rule, rng in self._rules["watchExpiry"]:
            if rule.matches(info) and rng.random() < rule.rate:
                self._record("watchExpired", info)
                return True
        return False

    def is_partitioned(self, client: str) -> bool:
        return client in self._partitions

    async def wait_partitioned(self, client: str) -> None:
        """Returns once `client` is partitioned: a watch stream racing this ends when it happens."""
        if client in self._partitions:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._partition_waiters.setdefault(client, set()).add(waiter)
        try:
            await waiter
        finally:
            waiters = self._partition_waiters.get(client)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._partition_waiters[client]

    def _record(self, fault: str, info: RequestInfo) -> None:
        self.stats[fault] += 1
        self.log.append({"ts": time.time(), "fault": fault, "verb": info.verb, "resource": info.resource,
                         "subresource": info.subresource, "namespace": info.namespace,
                         "name": info.name, "client": info.client})

    # ---- admin API -----------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(ADMIN_PATH, self._get)
        app.router.add_put(ADMIN_PATH, self._replace)
        app.router.add_post(ADMIN_PATH, self._update)
        app.router.add_delete(ADMIN_PATH, self._clear)
        app.router.add_post(ADMIN_PATH + "/clear", self._clear)
        app.router.add_post(ADMIN_PATH + "/partition", self._partition)
        app.router.add_post(ADMIN_PATH + "/heal", self._heal)
        app.router.add_get(ADMIN_PATH + "/log", self._log)

    async def _get(self, request: web.Request) -> web.Response:
        return web.json_response(self.to_json())

    async def _replace(self, request: web.Request) -> web.Response:
        return await self._apply(request, replace_all=True)

    async def _update(self, request: web.Request) -> web.Response:
        return await self._apply(request, replace_all=False)

    async def _apply(self, request: web.Request, replace_all: bool) -> web.Response:
        try:
            self.load_json(await _json_body(request), replace_all)
        except RuleError as exc:
            return _bad_request(str(exc))
        return web.json_response(self.to_json())

    async def _clear(self, request: web.Request) -> web.Response:
        self.clear()
        return web.json_response(self.to_json())

    async def _partition(self, request: web.Request) -> web.Response:
        try:
            body = await _json_body(request)
            client = body.get("client") if isinstance(body, dict) else None
            if not isinstance(client, str) or not client:
                raise RuleError('expected {"client": "<identity>", "mode": "hang"|"fail"}')
            self.partition(client, check_mode(body.get("mode", "hang")))
        except RuleError as exc:
            return _bad_request(str(exc))
        return web.json_response(self.to_json())

    async def _heal(self, request: web.Request) -> web.Response:
        try:
            body = await _json_body(request) if request.can_read_body else {}
        except RuleError as exc:
            return _bad_request(str(exc))
        client = body.get("client") if isinstance(body, dict) else None
        self.heal(str(client) if client is not None else None)
        return web.json_response(self.to_json())

    async def _log(self, request: web.Request) -> web.Response:
        since = float(request.query.get("since", "0") or 0)
        return web.json_response({"items": [e for e in self.log if e["ts"] > since]})


def status_response(code: int, info: RequestInfo, *, message: str | None = None,
                    retry_after: int = 1) -> web.Response:
    """A kube-apiserver style `Status` failure answer for an injected error."""
    qualified = f"{info.resource}.{info.group}" if info.group else info.resource
    details: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if code == 409:
        reason = "Conflict"
        target = f'{qualified} "{info.name}"' if info.name else qualified
        message = message or (f"Operation cannot be fulfilled on {target}: the object has been modified;"
                              " please apply your changes to the latest version and try again")
        details = {"name": info.name, "group": info.group, "kind": info.resource}
    elif code == 429:
        reason = "TooManyRequests"
        message = message or "the server has received too many requests and has asked us to try again later"
        details = {"retryAfterSeconds": retry_after}
        headers["Retry-After"] = str(retry_after)
    elif code == 503:
        reason = "ServiceUnavailable"
        message = message or "the server is currently unable to handle the request (injected fault)"
    else:
        reason = "InternalError"
        message = message or "Internal error occurred: injected fault"
        details = {"causes": [{"message": "injected fault"}]}
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = {k: v for k, v in details.items() if v not in (None, "")}
    return web.json_response(body, status=code, headers=headers)


async def _json_body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read() or b"{}")
    except ValueError as exc:
        raise RuleError(f"malformed JSON: {exc}") from None


def _bad_request(message: str) -> web.Response:
    return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": message, "reason": "BadRequest", "code": 400}, status=400)


def _dest(key: str) -> str:
    return _FLAGS[key][0].removeprefix("--").replace("-", "_")
