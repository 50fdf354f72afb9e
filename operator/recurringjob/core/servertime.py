"""The API server's clock, estimated from its responses: pure arithmetic, no clock reads.

What is estimated: the offset `server wall clock - local MONOTONIC clock`. Anchoring on the local
monotonic clock makes the replica's own wall clock irrelevant (it may be minutes off or step).

Each response bounds the offset. A request sent at local monotonic `sent` whose response arrived
at `received` was stamped by the server at some moment in between, with a server time `T` of
resolution `res` (an HTTP `Date` header: whole seconds, truncated, so the server's clock read
`[T, T + res)`). Hence:

    T - received  <=  offset  <  T + res - sent

Intersecting many such intervals whose second boundaries fall at different phases narrows the
offset far below the 1 s resolution (NTP-style bracketing; `probe_times` picks send times that
split the current interval). Properties the runtime relies on:

- Outliers widen, never shift: a slow response yields a wide interval that still contains the
  truth, so it cannot move the estimate, only fail to improve it.
- Drift: the two clocks may run at rates differing by up to `max_drift` (s/s); every interval is
  widened by `max_drift * age`, so old samples fade out by themselves and the reported interval
  keeps containing the truth. Samples older than `window` are dropped (memory, unmodelled drift).
- Steps (the server's clock was set): a new interval that misses the current intersection is a
  suspect. `confirm_step` suspects within `step_window` seconds mean the clock stepped: the
  estimate restarts from the samples since the first suspect (the newest mutually consistent run
  of them). Fewer are outliers (a wrong Date, e.g. from a proxy) and are ignored.
- No samples yet: `estimate()` returns None (unknown), never a guess.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

DATE_RESOLUTION = 1.0  # an HTTP Date header carries whole seconds
DEFAULT_MAX_DRIFT = 200e-6  # 200 ppm: well above what NTP-disciplined clocks show (< 50 ppm)


@dataclass(frozen=True)
class Sample:
    """One response: local monotonic send/receive times, the server's time and its resolution."""

    sent: float
    received: float
    server_time: float
    resolution: float = DATE_RESOLUTION

    @property
    def lower(self) -> float:
        return self.server_time - self.received

    @property
    def upper(self) -> float:
        return self.server_time + self.resolution - self.sent


@dataclass(frozen=True)
class Estimate:
    """The offset (server wall clock - local monotonic) lies in [lower, upper]."""

    lower: float
    upper: float
    samples: int  # samples merged since the first one or the last step

    @property
    def offset(self) -> float:
        return (self.lower + self.upper) / 2

    @property
    def uncertainty(self) -> float:
        """Half the interval's width: the true offset is within offset ± uncertainty."""
        return (self.upper - self.lower) / 2

    def server_time(self, monotonic: float) -> float:
        """The server's wall clock (unix seconds) at local monotonic time `monotonic`: best guess."""
        return monotonic + self.offset

    def earliest_server_time(self, monotonic: float) -> float:
        """A server time the server's clock has certainly reached at `monotonic`."""
        return monotonic + self.lower


class ServerTimeEstimator:
    """Keeps the intersection of every sample's interval, widened for drift; see the module docstring.

    The intersection is kept in O(1) per query: with widening, sample i bounds the offset at time
    `at` by `lo_i + d*sent_i - d*at` from below, so only max(lo_i + d*sent_i) matters (and
    min(hi_i - d*sent_i) above). Two monotonic deques keep those maxima over the sliding window.
    """

    def __init__(self, *, max_drift: float = DEFAULT_MAX_DRIFT, window: float = 600.0,
                 confirm_step: int = 3, step_window: float = 60.0, recent: int = 128):
        if not (0 <= max_drift < 0.01 and window > 0 and confirm_step >= 1 and step_window > 0
                and recent >= confirm_step):
            raise ValueError("need 0 <= max_drift < 0.01, window > 0, confirm_step >= 1, step_window > 0, "
                             "recent >= confirm_step")
        self.max_drift = max_drift
        self.window = window
        self.confirm_step = confirm_step
        self.step_window = step_window
        self.steps = 0  # clock steps detected so far (restarts)
        self.outliers = 0  # samples that missed the estimate (suspects), whether confirmed or not
        # (sent, key): lower keys decreasing front to back, upper keys increasing
        self._lows: deque[tuple[float, float]] = deque()
        self._highs: deque[tuple[float, float]] = deque()
        self._count = 0  # samples merged since the last restart (within the window, roughly)
        self._newest_sent = -math.inf
        self._recent: deque[Sample] = deque(maxlen=recent)  # raw samples, to restart from after a step
        self._suspects: list[Sample] = []

    # ------------------------------------------------------------------ queries

    def estimate(self, at: float) -> Estimate | None:
        """The offset interval at local monotonic time `at` (None until a first sample)."""
        try:  # (a metrics scrape reads from another thread: an empty deque just means unknown)
            low, high = self._lows[0][1], self._highs[0][1]
        except IndexError:
            return None
        at = max(at, self._newest_sent)  # widening never narrows: no extrapolation backwards
        drift = self.max_drift * at
        return Estimate(low - drift, high + drift, self._count)

    def probe_times(self, at: float, round_trip: float, count: int = 3) -> list[float]:
        """Local monotonic send times (>= `at`) of `count` requests whose Date headers would split the
        current interval into count + 1 equal parts: each is sent so that, if the offset were the split
        point p, the server would read its clock exactly on a second boundary halfway through the round
        trip. Whichever way each answer falls, the interval shrinks to about width/(count+1) + round_trip.
        Empty when there is no estimate yet (any request will do: its answer gives the first interval).
        """
        current = self.estimate(at)
        if current is None or count < 1:
            return []
        width = current.upper - current.lower
        splits = [current.lower + width * (i + 1) / (count + 1) for i in range(count)]
        # the boundary B (server seconds) such that the earliest send, B - max(split) - rtt/2, is >= at
        boundary = math.ceil(at + max(splits) + round_trip / 2)
        return sorted(boundary - split - round_trip / 2 for split in splits)

    # ------------------------------------------------------------------ updates

    def add(self, sample: Sample) -> str:
        """Merge one sample. Returns what it did: "merged", "suspect" (missed the estimate, ignored
        for now), "step" (confirmed step: restarted), or "invalid" (received before sent, bad value)."""
        if not (math.isfinite(sample.sent) and math.isfinite(sample.received)
                and math.isfinite(sample.server_time) and sample.received >= sample.sent
                and 0 < sample.resolution <= 60):
            return "invalid"
        self._recent.append(sample)
        current = self.estimate(sample.sent)
        if current is not None and (sample.lower > current.upper or sample.upper < current.lower):
            return self._suspect(sample)
        self._merge(sample)
        return "merged"

    def _suspect(self, sample: Sample) -> str:
        self.outliers += 1
        recent = [s for s in self._suspects if s.sent >= sample.sent - self.step_window] + [sample]
        # only suspects that agree with each other (the newest consistent run) can confirm a step:
        # scattered wrong Dates (a proxy, a second API server with a bad clock) never add up to one
        self._suspects = self._consistent_run(recent)
        if len(self._suspects) < self.confirm_step:
            return "suspect"
        # confirmed: everything since the first of them was sent is on the new clock
        since = self._suspects[0].sent
        fresh = self._consistent_run([s for s in self._recent if s.sent >= since])
        self._reset()
        self.steps += 1
        for candidate in fresh:
            self._merge(candidate)
        return "step"

    def _consistent_run(self, samples: list[Sample]) -> list[Sample]:
        """The longest run of the newest `samples` whose intervals (widened to the newest) intersect."""
        if not samples:
            return []
        newest = samples[-1].sent
        lower, upper = -math.inf, math.inf
        start = len(samples)
        while start > 0:
            low, high = self._widen(samples[start - 1], newest)
            if low > upper or high < lower:
                break
            lower, upper = max(lower, low), min(upper, high)
            start -= 1
        return samples[start:]

    def _widen(self, sample: Sample, at: float) -> tuple[float, float]:
        age = max(0.0, at - sample.sent)
        return sample.lower - self.max_drift * age, sample.upper + self.max_drift * age

    def _reset(self) -> None:
        self._lows.clear()
        self._highs.clear()
        self._count = 0
        self._newest_sent = -math.inf
        self._suspects = []

    def _merge(self, sample: Sample) -> None:
        low_key = sample.lower + self.max_drift * sample.sent
        high_key = sample.upper - self.max_drift * sample.sent
        # a tighter bound makes looser ones irrelevant (keys only widen with time, all alike); dropping
        # one that happened to be sent later only loses information, it never makes the interval wrong
        while self._lows and self._lows[-1][1] <= low_key:
            self._lows.pop()
        while self._highs and self._highs[-1][1] >= high_key:
            self._highs.pop()
        self._lows.append((sample.sent, low_key))
        self._highs.append((sample.sent, high_key))
        self._newest_sent = max(self._newest_sent, sample.sent)
        self._count += 1
        horizon = self._newest_sent - self.window
        # forget bounds older than the window, but never the last one (a wide bound beats none)
        while len(self._lows) > 1 and self._lows[0][0] < horizon:
            self._lows.popleft()
        while len(self._highs) > 1 and self._highs[0][0] < horizon:
            self._highs.popleft()
