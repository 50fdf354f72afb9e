"""malloc_trim: called once per trim and per interval, counted and timed; absent or off, a no-op."""

from __future__ import annotations

import asyncio
import sys

import pytest
from recurringjob.runtime.memtrim import MallocTrim, glibc_malloc_trim


def test_a_trim_calls_malloc_trim_with_no_padding_and_counts_what_it_gave_back() -> None:
    calls: list[int] = []
    answers = iter([1, 0])
    clock = [10.0]

    def fake_trim(pad: int) -> int:
        calls.append(pad)
        clock[0] += 0.004
        return next(answers)

    trimmer = MallocTrim(trim=fake_trim, clock=lambda: clock[0])
    assert trimmer.trim() is True
    assert trimmer.trim() is False
    assert calls == [0, 0]
    assert (trimmer.trims, trimmer.released) == (2, 1)
    assert trimmer.longest == pytest.approx(0.004)


def test_disabled_it_never_calls_the_library() -> None:
    trimmer = MallocTrim(enabled=False, trim=lambda pad: pytest.fail("called"))
    assert not trimmer.available
    assert trimmer.trim() is False
    asyncio.run(asyncio.wait_for(trimmer.run_forever(), 1.0))  # returns at once: nothing to run


def test_it_trims_once_per_interval() -> None:
    calls: list[int] = []

    def fake_trim(pad: int) -> int:
        calls.append(pad)
        return 0

    trimmer = MallocTrim(interval=0.01, trim=fake_trim)

    async def scenario() -> None:
        task = asyncio.create_task(trimmer.run_forever())
        await asyncio.sleep(0.105)
        task.cancel()

    asyncio.run(scenario())
    assert 3 <= len(calls) <= 11


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_the_real_malloc_trim_is_found_and_callable_on_glibc() -> None:
    trim = glibc_malloc_trim()
    assert trim is not None
    assert trim(0) in (0, 1)
