"""runtime/serverclock.py: the live server clock, its conservative now(), and the probing loop."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime
from email.utils import formatdate

import pytest
from recurringjob.runtime.serverclock import ServerClock, parse_http_date


@pytest.mark.parametrize(("header", "expected"), [
    ("Tue, 01 Dec 2026 00:00:07 GMT", datetime(2026, 12, 1, 0, 0, 7, tzinfo=UTC).timestamp()),
    ("Tue, 01 Dec 2026 00:00:07 +0000", datetime(2026, 12, 1, 0, 0, 7, tzinfo=UTC).timestamp()),
    ("Tue, 01 Dec 2026 00:00:07 -0000", None),  # RFC 5322: "-0000" means unknown zone
    ("", None), (None, None), ("yesterday", None), ("Tue, 01 Dec 2026 00:00:07", None),
])
def test_parse_http_date(header: str | None, expected: float | None) -> None:
    assert parse_http_date(header) == expected


class FakeClocks:
    def __init__(self) -> None:
        self.mono = 100.0
        self.wall = 1_800_000_000.0  # this replica's (wrong) wall clock

    def server(self, offset_to_wall: float) -> float:
        return self.wall + offset_to_wall


def date_at(server_time: float) -> str:
    return formatdate(math.floor(server_time), usegmt=True)


def test_unknown_falls_back_to_the_wall_clock_and_says_nan() -> None:
    clocks = FakeClocks()
    clock = ServerClock(monotonic=lambda: clocks.mono, wall=lambda: clocks.wall)
    assert clock.estimate() is None and not clock.ready()
    assert clock.now() == datetime.fromtimestamp(clocks.wall, UTC)
    assert math.isnan(clock.offset_seconds) and math.isnan(clock.uncertainty_seconds)
    clock.observe(clocks.mono, clocks.mono, None)  # no Date header: no sample
    clock.observe(clocks.mono, clocks.mono, "garbage")
    assert clock.estimate() is None


def test_now_is_the_servers_time_never_ahead_of_it() -> None:
    """A replica whose wall clock is 180 s slow: now() follows the server, offset_seconds shows +180."""
    clocks = FakeClocks()
    clock = ServerClock(monotonic=lambda: clocks.mono, wall=lambda: clocks.wall)
    skew = 180.37
    for _ in range(40):  # answers at varied phases, 2 ms round trips
        clocks.mono += 0.713
        clocks.wall += 0.713
        sent = clocks.mono
        clock.observe(sent, sent + 0.002, date_at(clocks.server(skew) + 0.001))
    assert clock.ready()
    uncertainty = clock.uncertainty_seconds
    assert 0 < uncertainty < 0.1
    assert clock.offset_seconds == pytest.approx(skew, abs=uncertainty + 1e-6)
    server_now = clocks.server(skew)
    assert server_now - 2 * uncertainty - 1e-6 <= clock.now().timestamp() <= server_now + 1e-6
    assert clock.timestamp() == pytest.approx(server_now, abs=uncertainty + 1e-6)
    # the wall clock is stepped by an hour: nothing the server clock reports changes
    before = clock.now()
    clocks.wall += 3600
    assert clock.now() == before
    assert clock.offset_seconds == pytest.approx(skew - 3600, abs=uncertainty + 1e-6)


def test_ready_needs_the_good_enough_bound() -> None:
    clocks = FakeClocks()
    clock = ServerClock(monotonic=lambda: clocks.mono, wall=lambda: clocks.wall, good_enough=0.5)
    clock.observe(clocks.mono, clocks.mono + 0.01, date_at(clocks.wall + 0.5))
    assert clock.estimate() is not None and not clock.ready()  # one Date: ± ~0.5 s
    clocks.mono += 1.5
    clocks.wall += 1.5
    clock.observe(clocks.mono, clocks.mono + 0.01, date_at(clocks.wall + 0.5))
    assert clock.ready()


class SimulatedApi:
    """Answers with a Date header from a server clock `skew` seconds off this host's, after `latency`."""

    def __init__(self, clock: ServerClock, skew: float, latency: float = 0.002):
        self.clock = clock
        self.skew = skew
        self.latency = latency
        self.requests = 0

    async def probe(self) -> None:
        self.requests += 1
        sent = time.monotonic()
        await asyncio.sleep(self.latency / 2)
        date = date_at(time.time() + self.skew)
        await asyncio.sleep(self.latency / 2)
        self.clock.observe(sent, time.monotonic(), date)


def test_keep_fresh_converges_quickly_then_stays_quiet() -> None:
    async def scenario() -> tuple[float, float, int, int, float]:
        clock = ServerClock()
        api = SimulatedApi(clock, skew=-120.4)
        started = time.monotonic()
        task = asyncio.create_task(clock.keep_fresh(api.probe, idle_check=0.2))
        try:
            assert await clock.wait_ready(timeout=10)
            ready_after = time.monotonic() - started
            for _ in range(400):  # up to 20 s
                if clock.uncertainty_seconds <= clock.target / 2:
                    break
                await asyncio.sleep(0.05)
            converged_after = time.monotonic() - started
            await asyncio.sleep(0.05)  # a round still in flight
            spent = api.requests
            await asyncio.sleep(1.0)  # converged: no more probes
            return ready_after, converged_after, spent, api.requests, clock.offset_seconds
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    ready_after, converged_after, spent, total, offset = asyncio.run(scenario())
    assert ready_after < 2.5, ready_after
    assert converged_after < 10, converged_after
    assert spent <= 20, spent
    assert total == spent
    assert offset == pytest.approx(-120.4, abs=0.06)


def test_wait_ready_gives_up_after_its_timeout() -> None:
    async def scenario() -> tuple[bool, float]:
        clock = ServerClock()
        started = time.monotonic()
        return await clock.wait_ready(timeout=0.3), time.monotonic() - started

    ready, waited = asyncio.run(scenario())
    assert ready is False and 0.3 <= waited < 2


def test_keep_fresh_survives_failing_probes() -> None:
    async def scenario() -> int:
        clock = ServerClock()
        failures = 0

        async def failing() -> None:
            nonlocal failures
            failures += 1
            raise OSError("connection refused")

        task = asyncio.create_task(clock.keep_fresh(failing, failure_delay=0.05))
        await asyncio.sleep(0.5)
        assert not task.done()
        task.cancel()
        return failures

    failures = asyncio.run(scenario())
    assert 2 <= failures <= 20  # retried, with a pause in between (no hot loop)
