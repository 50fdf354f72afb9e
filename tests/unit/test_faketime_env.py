"""faketime_env: a child's wall clock really moves by the offset, its monotonic clock does not, and
asyncio, threading timeouts and aiohttp (client and server) still work under the preload."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import faketime_env as faketime_module
import pytest
from faketime_env import FaketimeMissing, faketime_env

CHILD = r"""
import asyncio, datetime, json, threading, time
import aiohttp
from aiohttp import web

async def main():
    wall, now, mono = time.time(), datetime.datetime.now(datetime.UTC).timestamp(), time.monotonic()
    started = time.monotonic()
    await asyncio.sleep(0.2)
    slept = time.monotonic() - started
    lock = threading.Lock()
    lock.acquire()
    started = time.monotonic()
    acquired = lock.acquire(timeout=0.2)  # hangs forever if libfaketime fakes CLOCK_MONOTONIC
    lock_wait = time.monotonic() - started
    app = web.Application()
    app.router.add_get("/", lambda request: web.Response(text="pong"))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/", timeout=aiohttp.ClientTimeout(total=5)) as r:
            body, date = await r.text(), r.headers.get("Date")
    await runner.cleanup()
    print(json.dumps({"wall": wall, "now": now, "mono": mono, "slept": slept, "acquired": acquired,
                      "lock_wait": lock_wait, "body": body, "date": date}))

asyncio.run(main())
"""


def run_child(offset: float) -> tuple[dict[str, float | str | bool], float, float]:
    """(child's report, parent wall clock and monotonic clock around the child's reads)."""
    wall_before, mono_before = time.time(), time.monotonic()
    proc = subprocess.run([sys.executable, "-c", CHILD], env={**os.environ, **faketime_env(offset)},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), wall_before, mono_before


@pytest.mark.parametrize("offset", [180.0, -120.0, 2.5])
def test_wall_clock_shifted_monotonic_real_asyncio_and_aiohttp_work(offset: float) -> None:
    report, wall_before, mono_before = run_child(offset)
    wall_after = time.time()
    for key in ("wall", "now"):
        shifted = float(report[key]) - offset
        assert wall_before - 0.5 <= shifted <= wall_after + 0.5, (key, report[key], wall_before, offset)
    # CLOCK_MONOTONIC is system-wide: the child's reading lies between the parent's, unshifted
    assert mono_before <= float(report["mono"]) <= time.monotonic()
    assert 0.19 <= float(report["slept"]) < 5
    assert report["acquired"] is False and 0.19 <= float(report["lock_wait"]) < 5
    assert report["body"] == "pong"
    # an aiohttp server under faketime dates its responses with the shifted clock too
    from email.utils import parsedate_to_datetime
    date = parsedate_to_datetime(str(report["date"])).timestamp()
    assert abs(date - offset - wall_before) < 10


def test_env_shape() -> None:
    env = faketime_env(-120)
    assert env["FAKETIME"] == "-120s"
    assert env["FAKETIME_DONT_FAKE_MONOTONIC"] == "1"
    assert Path(env["LD_PRELOAD"]).name == "libfaketime.so.1" and Path(env["LD_PRELOAD"]).is_file()
    assert faketime_env(0.25)["FAKETIME"] == "+0.250000s"
    with pytest.raises(ValueError, match="finite"):
        faketime_env(float("nan"))


def test_missing_library_says_run_make_tools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(faketime_module, "FAKETIME_ROOT", tmp_path / "nothing-here")
    with pytest.raises(FaketimeMissing, match="make tools"):
        faketime_env(180)
