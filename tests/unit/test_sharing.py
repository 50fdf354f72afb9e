"""sharing: equal JSON values kept once; the result always encodes exactly as the new value."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import orjson
from recurringjob.runtime.sharing import reuse, same, share

RUNS = [{"scheduledTime": f"2030-01-01T00:0{i}:00Z", "kind": "schedule", "outcome": "Succeeded",
         "jobName": f"rj-{i}", "lagSeconds": 0.5} for i in range(10)]
RJ = {"metadata": {"name": "rj", "namespace": "ns", "uid": "u1", "resourceVersion": "7"},
      "spec": {"schedule": "* * * * *", "suspend": False,
               "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"image": "busybox"}]}}}}},
      "status": {"recentRuns": RUNS,
                 "nextScheduleTimes": [f"2030-01-01T00:{i:02d}:00Z" for i in range(10, 20)]}}


def decoded(value: Any) -> Any:
    """A fresh decode, as each watch event is: equal values, private string objects."""
    return json.loads(json.dumps(value))


def test_share_makes_equal_strings_of_separate_documents_one_object() -> None:
    a, b = share(decoded(RJ)), share(decoded(RJ))
    assert a == RJ
    assert a["status"]["recentRuns"][3]["outcome"] is b["status"]["recentRuns"][3]["outcome"]
    key_a = next(k for k in a["status"]["recentRuns"][0] if k == "scheduledTime")
    key_b = next(k for k in b["status"]["recentRuns"][0] if k == "scheduledTime")
    assert key_a is key_b


def test_share_and_reuse_leave_their_inputs_untouched() -> None:
    new, old = decoded(RJ), share(decoded(RJ))
    new["status"]["recentRuns"][-1]["outcome"] = "Failed"
    before_new, before_old = copy.deepcopy(new), copy.deepcopy(old)
    share(new)
    reuse(new, old)
    assert new == before_new and old == before_old


def test_reuse_takes_over_the_unchanged_parts_of_the_held_version() -> None:
    old = share(decoded(RJ))
    new = decoded(RJ)
    new["metadata"]["resourceVersion"] = "8"
    runs = new["status"]["recentRuns"]
    runs[:] = [*runs[1:], {**runs[-1], "scheduledTime": "2030-01-01T00:10:00Z", "jobName": "rj-10"}]
    times = new["status"]["nextScheduleTimes"]
    times[:] = [*times[1:], "2030-01-01T00:20:00Z"]
    result = reuse(new, old)
    assert result == new
    assert result["spec"] is old["spec"]
    assert all(result["status"]["recentRuns"][i] is old["status"]["recentRuns"][i + 1] for i in range(9))
    assert result["status"]["nextScheduleTimes"][0] is old["status"]["nextScheduleTimes"][1]
    assert result["metadata"] is not old["metadata"] and result["metadata"]["resourceVersion"] == "8"


def test_an_updated_newest_entry_keeps_the_rest_of_the_history() -> None:
    old = share(decoded(RJ))
    new = decoded(RJ)
    new["status"]["recentRuns"][-1]["outcome"] = "Failed"
    result = reuse(new, old)
    assert result == new
    assert all(result["status"]["recentRuns"][i] is old["status"]["recentRuns"][i] for i in range(9))
    assert result["status"]["recentRuns"][-1]["outcome"] == "Failed"
    assert result["status"]["recentRuns"][-1]["jobName"] is old["status"]["recentRuns"][-1]["jobName"]


def test_values_equal_in_python_but_not_in_json_are_not_taken_over() -> None:
    assert not same({"a": True}, {"a": 1}) and not same([1.0], [1]) and same({"a": [1]}, {"a": [1]})
    result = reuse({"spec": {"parallelism": True, "x": [2]}}, {"spec": {"parallelism": 1, "x": [2.0]}})
    assert orjson.dumps(result) == b'{"spec":{"parallelism":true,"x":[2]}}'


def random_json(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(8 if depth < 3 else 5)
    if choice == 0:
        return rng.choice(["a", "b", "", "2030-01-01T00:00:00Z"])
    if choice == 1:
        return rng.choice([0, 1, -1, 2**40])
    if choice == 2:
        return rng.choice([0.0, 1.0, 0.5])
    if choice == 3:
        return rng.choice([True, False])
    if choice == 4:
        return None
    if choice in (5, 6):
        return {rng.choice("abcd"): random_json(rng, depth + 1) for _ in range(rng.randrange(4))}
    return [random_json(rng, depth + 1) for _ in range(rng.randrange(5))]


def mutate(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(list(value))
        return {**value, key: mutate(value[key], rng)}
    if isinstance(value, list) and value and rng.random() < 0.7:
        index = rng.randrange(len(value))
        shifted = value[1:] if rng.random() < 0.3 else value
        return [*shifted[:index], mutate(value[index], rng), *shifted[index + 1:]]
    return random_json(rng)


def test_reuse_always_encodes_exactly_as_the_new_value() -> None:
    rng = random.Random(20261201)
    for _ in range(3000):
        old = random_json(rng)
        new = mutate(old, rng) if rng.random() < 0.8 else random_json(rng)
        result = reuse(decoded(new) if rng.random() < 0.5 else new, share(decoded(old)))
        assert orjson.dumps(result) == orjson.dumps(new)
