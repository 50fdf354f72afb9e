from datetime import UTC, datetime

import pytest
from recurringjob.core.timeutil import (
    format_rfc3339,
    from_epoch_seconds,
    parse_duration,
    parse_rfc3339,
    to_epoch_seconds,
    truncate_to_second,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-10T07:00:00Z", datetime(2024, 3, 10, 7, tzinfo=UTC)),
        ("2024-03-10T02:00:00-05:00", datetime(2024, 3, 10, 7, tzinfo=UTC)),
        ("2024-03-10t07:00:00.123456789z", datetime(2024, 3, 10, 7, 0, 0, 123456, tzinfo=UTC)),
    ],
)
def test_parse_rfc3339(text: str, expected: datetime) -> None:
    assert parse_rfc3339(text) == expected


@pytest.mark.parametrize(
    "text", ["", "2024-03-10", "2024-03-10T07:00:00", "yesterday", "2024-13-01T00:00:00Z"]
)
def test_parse_rfc3339_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="RFC3339"):
        parse_rfc3339(text)


def test_format_and_epoch_round_trip() -> None:
    t = datetime(2024, 3, 10, 7, 0, 1, 999999, tzinfo=UTC)
    assert format_rfc3339(t) == "2024-03-10T07:00:01Z"
    assert to_epoch_seconds(t) == 1710054001
    assert from_epoch_seconds(1710054001) == truncate_to_second(t)
    assert to_epoch_seconds(datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC)) == -1


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("1h30m", 5400), ("2m", 120), ("1.5h", 5400), ("500ms", 0.5), ("1h0m1s", 3601)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "1d", "h", "1h 30m", "-5s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
