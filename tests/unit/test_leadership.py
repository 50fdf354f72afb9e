"""Leadership: CAS-won Leases, the monotonic validity window, takeover after expiry, release."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fake_kube import FakeKube
from recurringjob.runtime.kube import ApiError, lease_path
from recurringjob.runtime.leadership import Leadership
from recurringjob.runtime.metrics import Metrics

LEASE = lease_path("ops", "rj-lease")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(api: FakeKube, identity: str, clock: Clock, **kwargs: Any) -> Leadership:
    return Leadership(api, name="rj-lease", namespace="ops", identity=identity,
                      lease_duration=15, renew_deadline=10, retry_period=2, clock=clock, **kwargs)


def test_first_candidate_creates_the_lease_and_leads_until_the_renew_deadline() -> None:
    api, clock = FakeKube(), Clock()
    leader = make(api, "a", clock)
    assert asyncio.run(leader.try_acquire_or_renew())
    assert api.objects[LEASE]["spec"]["holderIdentity"] == "a"
    assert leader.is_leader()
    clock.now += 9.9
    assert leader.is_leader()
    clock.now += 0.2  # past start-of-renew + renew_deadline: no proof any more
    assert not leader.is_leader()


def test_a_paused_leader_wakes_up_believing_nothing() -> None:
    """SIGSTOP past the lease: the monotonic clock moved on, so no write may follow the wakeup."""
    api, clock = FakeKube(), Clock()
    leader = make(api, "a", clock)
    assert asyncio.run(leader.try_acquire_or_renew())
    clock.now += 60  # the process was frozen; nothing ran in between
    assert not leader.is_leader()
    assert leader.seconds_left() < 0


def test_validity_counts_from_the_start_of_the_renew_request() -> None:
    api, clock = FakeKube(), Clock()
    leader = make(api, "a", clock)

    slow_request = api.request

    async def slow(*args: Any, **kwargs: Any) -> Any:
        clock.now += 4  # the request took 4 s
        return await slow_request(*args, **kwargs)

    api.request = slow
    started = clock.now
    assert asyncio.run(leader.try_acquire_or_renew())
    assert leader.seconds_left() == started + 10 - clock.now


def test_follower_waits_a_full_lease_duration_on_its_own_clock_then_takes_over() -> None:
    api, clock = FakeKube(), Clock()
    a, b = make(api, "a", clock), make(api, "b", clock)
    assert asyncio.run(a.try_acquire_or_renew())
    assert not asyncio.run(b.try_acquire_or_renew())  # b observes a's record now
    clock.now += 14
    assert not asyncio.run(b.try_acquire_or_renew())
    assert not a.is_leader()  # a stopped believing 4 s before b may take over
    clock.now += 1.5
    assert asyncio.run(b.try_acquire_or_renew())
    spec = api.objects[LEASE]["spec"]
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1


def test_a_renewing_leader_keeps_the_follower_out() -> None:
    api, clock = FakeKube(), Clock()
    a, b = make(api, "a", clock), make(api, "b", clock)
    assert asyncio.run(a.try_acquire_or_renew())
    for _ in range(20):
        clock.now += 2
        assert asyncio.run(a.try_acquire_or_renew())
        assert not asyncio.run(b.try_acquire_or_renew())
    assert a.is_leader() and not b.is_leader()


def test_two_candidates_racing_for_one_record_cannot_both_win() -> None:
    api, clock = FakeKube(), Clock()
    api.put_object(LEASE, {"metadata": {"name": "rj-lease", "namespace": "ops"},
                           "spec": {"holderIdentity": "", "leaseDurationSeconds": 15}})
    a, b = make(api, "a", clock), make(api, "b", clock)

    async def race() -> list[bool]:
        return list(await asyncio.gather(a.try_acquire_or_renew(), b.try_acquire_or_renew()))

    assert sorted(asyncio.run(race())) == [False, True]


def test_renewal_failures_end_leadership_and_fire_the_callbacks() -> None:
    api, clock = FakeKube(), Clock()
    events: list[str] = []
    metrics = Metrics()
    leader = make(api, "a", clock, metrics=metrics,
                  on_started_leading=lambda: events.append("start"),
                  on_stopped_leading=lambda: events.append("stop"))

    async def scenario() -> None:
        assert await leader.try_acquire_or_renew()
        await leader._sync_callbacks()
        assert metrics.registry.get_sample_value("recurringjob_is_leader", {"identity": "a"}) == 1
        for _ in range(6):
            api.fail_next("PUT", "leases", ApiError(503, "ServiceUnavailable"))
            api.fail_next("GET", "leases", ApiError(503, "ServiceUnavailable"))
            clock.now += 2
            try:
                await leader.try_acquire_or_renew()
            except ApiError:
                pass
            await leader._sync_callbacks()

    asyncio.run(scenario())
    assert events == ["start", "stop"]
    assert metrics.registry.get_sample_value("recurringjob_is_leader", {"identity": "a"}) == 0


def test_release_clears_the_holder_so_a_follower_takes_over_at_once() -> None:
    api, clock = FakeKube(), Clock()
    a, b = make(api, "a", clock), make(api, "b", clock)
    assert asyncio.run(a.try_acquire_or_renew())
    assert not asyncio.run(b.try_acquire_or_renew())
    asyncio.run(a.release())
    assert not a.is_leader()
    assert not api.objects[LEASE]["spec"]["holderIdentity"]
    assert asyncio.run(b.try_acquire_or_renew())  # no lease-duration wait after a release


def test_run_loop_acquires_and_stops_on_release() -> None:
    api = FakeKube()
    started = asyncio.Event()

    async def scenario() -> None:
        leader = Leadership(api, name="rj-lease", namespace="ops", identity="a",
                            lease_duration=3, renew_deadline=2, retry_period=0.05,
                            on_started_leading=started.set)
        task = asyncio.create_task(leader.run())
        await asyncio.wait_for(started.wait(), 2)
        assert leader.is_leader()
        await leader.release()
        await asyncio.wait_for(task, 2)

    asyncio.run(scenario())
    assert not api.objects[LEASE]["spec"]["holderIdentity"]


def test_lease_times_from_skewed_wall_clocks_do_not_change_who_may_take_over(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """renewTime/acquireTime carry the writer's wall clock; a follower only compares them for change
    and measures expiry on its own monotonic clock, so a leader 180 s fast (renewTime in the future)
    is taken over on time, and one 120 s slow (renewTime in the past) is not taken over while it renews."""
    from datetime import UTC, datetime, timedelta

    import recurringjob.runtime.leadership as leadership_module

    api, clock = FakeKube(), Clock()
    wall_offset = timedelta(seconds=180)
    monkeypatch.setattr(leadership_module, "_micro_time", lambda moment=None: (
        datetime.now(UTC) + wall_offset + timedelta(seconds=clock.now)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    fast, follower = make(api, "fast", clock), make(api, "follower", clock)
    assert asyncio.run(fast.try_acquire_or_renew())
    assert not asyncio.run(follower.try_acquire_or_renew())
    clock.now += 14  # the fast leader died; its renewTime is still 3 minutes "ahead"
    assert not asyncio.run(follower.try_acquire_or_renew())
    clock.now += 1.5
    assert asyncio.run(follower.try_acquire_or_renew())

    wall_offset = timedelta(seconds=-120)  # the next leader writes times 2 minutes in the past
    slow, other = make(api, "slow", clock), make(api, "other", clock)
    assert not asyncio.run(slow.try_acquire_or_renew())
    assert not asyncio.run(other.try_acquire_or_renew())
    clock.now += 16  # "follower" stops renewing: slow takes over after a lease duration
    assert asyncio.run(slow.try_acquire_or_renew())
    for _ in range(20):
        clock.now += 2
        assert asyncio.run(slow.try_acquire_or_renew())
        assert not asyncio.run(other.try_acquire_or_renew())
    assert slow.is_leader() and not other.is_leader()
