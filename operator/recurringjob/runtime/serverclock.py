"""The API server's clock, live: what the operator schedules by (issue 8).

A replica whose wall clock is 30 s fast would launch occurrences 30 s early and count not-yet-due
ones as missed; one 30 s slow would launch late whatever startingDeadlineSeconds says. So the
operator never reads its own wall clock for decisions: `ServerClock.now()` is the API server's
time, estimated (core/servertime.py) from the `Date` header of every answer the client gets
(`KubeApi.on_response`), anchored on the local monotonic clock.

`now()` returns the EARLIEST time the server's clock may show (the lower end of the estimate's
interval), not the midpoint: an occurrence is then never launched before it is due by the server's
clock, only late by at most the interval's width (~0.1 s once converged), and every "has X seconds
passed" judgement (missed deadlines, lock release after max-request-seconds) errs on the side of
waiting. Until the estimate is good enough (`ready()`), callers wait (`wait_ready`): the operator
stands for election only then, so nothing is ever launched on a guess.

Samples come from the requests the operator makes anyway (Lease renewals every retry period,
launches, status writes). `keep_fresh` adds a few cheap GETs only while the interval is wider than
`target` (at start-up, and after a long time without informative samples), timed by
`probe_times` so that each answer halves what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import statistics
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from recurringjob.core.servertime import Estimate, Sample, ServerTimeEstimator

log = logging.getLogger(__name__)

GOOD_ENOUGH = 0.2  # seconds of uncertainty under which scheduling may start (launches <= 0.4 s late)
TARGET = 0.05  # seconds of uncertainty keep_fresh aims for


def parse_http_date(value: str | None) -> float | None:
    """An HTTP Date header ('Tue, 01 Dec 2026 00:00:07 GMT') as unix seconds, None if unusable."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # RFC 9110 dates are GMT; a naive one is malformed, not local time
        return None
    return parsed.timestamp()


class ServerClock:
    """The server's time for this process; feed it with `observe` (the KubeApi hook)."""

    def __init__(self, *, estimator: ServerTimeEstimator | None = None,
                 monotonic: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 good_enough: float = GOOD_ENOUGH, target: float = TARGET, probes_per_round: int = 3):
        self.estimator = estimator or ServerTimeEstimator()
        self.monotonic = monotonic
        self.wall = wall
        self.good_enough = good_enough
        self.target = target
        self.probes_per_round = probes_per_round
        self._round_trips: deque[float] = deque(maxlen=16)
        self._last_date: tuple[str, float | None] = ("", None)  # parse each distinct header once
        self._changed = asyncio.Event()  # set on every sample (binds to a loop only when awaited)
        self._fallback_logged = False
        self._steps_logged = 0

    # ------------------------------------------------------------------ input

    def observe(self, sent: float, received: float, date_header: str | None) -> None:
        """One HTTP answer: local monotonic send/receive times and its Date header (never raises)."""
        if date_header != self._last_date[0]:
            self._last_date = (date_header or "", parse_http_date(date_header))
        server_time = self._last_date[1]
        if server_time is not None:
            self.observe_sample(Sample(sent, received, server_time))

    def observe_sample(self, sample: Sample) -> None:
        """Any server-stamped time, e.g. a MicroTime the server itself set (resolution 1e-6)."""
        result = self.estimator.add(sample)
        if result == "invalid":
            return
        self._round_trips.append(sample.received - sample.sent)
        if result == "step" and self.estimator.steps > self._steps_logged:
            self._steps_logged = self.estimator.steps
            log.warning("the API server's clock stepped; server time estimate restarted (now %s)",
                        self._describe())
        self._changed.set()

    # ------------------------------------------------------------------ output

    def estimate(self) -> Estimate | None:
        return self.estimator.estimate(self.monotonic())

    def ready(self) -> bool:
        """True once the server's time is known to within `good_enough` seconds."""
        current = self.estimate()
        return current is not None and current.uncertainty <= self.good_enough

    def now(self) -> datetime:
        """The earliest time the API server's clock may show now (aware, UTC); see the module docstring.

        Before any answer carried a Date header (no API server answers without one; a proxy might
        strip it), the local wall clock is all there is: used, and logged once.
        """
        mono = self.monotonic()
        current = self.estimator.estimate(mono)
        if current is None:
            if not self._fallback_logged:
                self._fallback_logged = True
                log.warning("no Date header from the API server yet: using this replica's wall clock")
            return datetime.fromtimestamp(self.wall(), UTC)
        return datetime.fromtimestamp(current.earliest_server_time(mono), UTC)

    def timestamp(self) -> float:
        """The best estimate of the server's time (unix seconds): for measurements, not decisions."""
        mono = self.monotonic()
        current = self.estimator.estimate(mono)
        return self.wall() if current is None else current.server_time(mono)

    @property
    def offset_seconds(self) -> float:
        """The server's clock minus this replica's wall clock (NaN while unknown)."""
        mono, wall = self.monotonic(), self.wall()
        current = self.estimator.estimate(mono)
        return float("nan") if current is None else current.server_time(mono) - wall

    @property
    def uncertainty_seconds(self) -> float:
        current = self.estimate()
        return float("nan") if current is None else current.uncertainty

    def _describe(self) -> str:
        return f"offset to the local wall clock {self.offset_seconds:+.3f}s ± {self.uncertainty_seconds:.3f}s"

    # ------------------------------------------------------------------ keeping it good

    async def wait_ready(self, timeout: float) -> bool:  # noqa: ASYNC109 - a bounded start-up wait
        """Wait until `ready()` (True) or `timeout` seconds (False: the caller decides what then)."""
        deadline = self.monotonic() + timeout
        while not self.ready():
            left = deadline - self.monotonic()
            if left <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.1))
        return True

    async def keep_fresh(self, probe: Callable[[], Awaitable[Any]], *, idle_check: float = 5.0,
                         failure_delay: float = 1.0) -> None:
        """Forever: whenever the interval is wider than `target`, send probes timed to narrow it (to
        half the target, so that drift widening does not bring the next round right away).

        `probe` makes one cheap request through the hooked KubeApi (its answer, even an error, is a
        sample); it should swallow API errors. Otherwise sleeps, re-checking every `idle_check`.
        """
        logged_ready = False
        probing = True  # hysteresis: once started, narrow to target/2, then idle until past target
        while True:
            current = self.estimate()
            good = current is not None and current.uncertainty <= self.target * (0.5 if probing else 1.0)
            if good:
                probing = False
                if not logged_ready:
                    logged_ready = True
                    log.info("API server clock: %s", self._describe())
                await asyncio.sleep(idle_check)
                continue
            probing = True
            if current is None:
                if not await self._probe_at([self.monotonic()], probe):
                    await asyncio.sleep(failure_delay)
                continue
            round_trip = statistics.median(self._round_trips) if self._round_trips else 0.0
            times = self.estimator.probe_times(self.monotonic(), round_trip, self.probes_per_round)
            before = current.uncertainty
            answered = await self._probe_at(times, probe)
            after = self.estimate()
            if not answered or after is None or after.uncertainty >= before:
                await asyncio.sleep(failure_delay)  # no progress (errors, or a slow link): don't spin

    async def _probe_at(self, times: list[float], probe: Callable[[], Awaitable[Any]]) -> bool:
        """Send one probe at each local monotonic time; True if all of them returned."""
        async def one(at: float) -> bool:
            await asyncio.sleep(max(0.0, at - self.monotonic()))
            try:
                await probe()
            except Exception as exc:  # a failed probe is just a missing sample
                log.debug("server clock probe failed: %s", exc)
                return False
            return True
        results = await asyncio.gather(*(one(at) for at in times))
        return all(results)
