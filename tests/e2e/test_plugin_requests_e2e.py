"""`kubectl recurringjob trigger | backfill | describe | resume` through the real kubectl (plugin on
PATH) against a dev cluster with one operator replica. Launches are judged from the API server's audit
log: one Job per trigger id, however often the id is sent; one Job per backfilled occurrence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from operator_support import (
    apply_crds,
    get_json,
    job_creates,
    plugin_kubectl,
    recurringjob,
    replicas,
    wait_for,
)
from recurringjob.devcluster.server import DevCluster

NS = "requests"
TRIGGER_ID = "recurringjob.dev/trigger-id"
# yearly at 03:00 on 1 January: nothing fires by schedule while the test runs; 2020-2022 are three
# past occurrences to backfill
YEARLY = "0 3 1 1 *"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevCluster, Path]]:
    workdir = tmp_path_factory.mktemp("plugin-requests-e2e")
    with DevCluster(workdir / "cluster") as dev:
        yield dev, workdir


def creates_for(dev: DevCluster, request_id: str) -> list[str]:
    return sorted(r["name"] for r in job_creates(dev, "nightly", NS)
                  if (r.get("annotations") or {}).get(TRIGGER_ID) == request_id)


def test_trigger_backfill_describe_resume(cluster: tuple[DevCluster, Path]) -> None:
    dev, workdir = cluster
    k = plugin_kubectl(dev, workdir, default_timeout=120)
    rj = ["-n", NS]
    apply_crds(k)
    (workdir / "objects.yaml").write_text("---\n".join([
        f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NS}}}\n",
        recurringjob("nightly", NS, YEARLY, duration="1s", suspend=True, suspendReason="maintenance"),
    ]))
    k("apply", "-f", str(workdir / "objects.yaml"))

    # refused before anything is written: bad range, over the limit, unknown policy, unknown object
    bad = k("recurringjob", "backfill", "nightly", *rj, "--from", "2022-01-01T00:00:00Z",
            "--to", "2020-01-01T00:00:00Z", check=False)
    assert bad.returncode == 1
    assert bad.stderr == ("error: --to 2020-01-01T00:00:00Z is before --from 2022-01-01T00:00:00Z: "
                          "a backfill range runs forward in time\n")
    over = k("recurringjob", "backfill", "nightly", *rj, "--from", "1000-01-01T00:00:00Z",
             "--to", "3000-01-01T00:00:00Z", "--id", "huge", check=False)
    assert over.returncode == 1
    assert over.stderr == ("error: backfill huge: 1000-01-01T00:00:00Z..3000-01-01T00:00:00Z holds more than "
                           "1000 occurrences: split the range\n")
    policy = k("recurringjob", "trigger", "nightly", *rj, "--overlap", "Sometimes", check=False)
    assert policy.returncode == 2 and "invalid choice: 'Sometimes'" in policy.stderr
    missing = k("recurringjob", "trigger", "nope", *rj, check=False)
    assert missing.returncode == 1
    assert missing.stderr == f'error: recurringjob "nope" not found in namespace "{NS}"\n'
    assert "triggers" not in get_json(k, "rj", "nightly", *rj)["spec"]

    with replicas(dev, workdir, 1):
        # run now, while suspended: one Job, named from the id
        first = k("recurringjob", "trigger", "nightly", *rj, "--id", "t1", "--timeout", "90s")
        assert first.stdout.splitlines() == [
            "trigger t1 recorded on recurringjob.recurringjob.dev/nightly",
            "trigger t1 on nightly: launched Job nightly-t-t1"], first.stdout
        again = k("recurringjob", "trigger", "nightly", *rj, "--id", "t1", "--timeout", "90s")
        assert again.stdout.splitlines()[0] == "trigger t1 already recorded on nightly (no change)"
        assert again.stdout.splitlines()[-1].startswith("trigger t1 on nightly: launched Job nightly-t-t1")
        wait_for(lambda: get_json(k, "job", "nightly-t-t1", *rj).get("status", {}).get("succeeded"),
                 timeout=60, what="the triggered Job to finish")
        assert creates_for(dev, "t1") == ["nightly-t-t1"]

        # backfill: recorded without waiting, then the same id again waits and shows progress
        span = ["--from", "2020-01-01T00:00:00Z", "--to", "2022-01-01T03:00:00Z", "--id", "b1"]
        quick = k("recurringjob", "backfill", "nightly", *rj, *span, "--no-wait")
        assert quick.stdout == ("backfill b1 recorded on recurringjob.recurringjob.dev/nightly "
                                "(2020-01-01T00:00:00Z .. 2022-01-01T03:00:00Z)\n")
        waited = k("recurringjob", "backfill", "nightly", *rj, *span, "--timeout", "100s")
        lines = waited.stdout.splitlines()
        assert lines[0] == "backfill b1 already recorded on nightly (no change)"
        assert all(line.startswith("backfill b1: ") and " decided (" in line for line in lines[1:-1]), lines
        assert lines[-1] == ("backfill b1 on nightly: Done, 3 occurrence(s): launched 3, skipped 0, "
                             "already ran 0")
        assert creates_for(dev, "b1") == ["nightly-1577847600", "nightly-1609470000", "nightly-1641006000"]
        # sent a third time after it is done: still nothing new
        k("recurringjob", "backfill", "nightly", *rj, *span, "--timeout", "30s")
        assert creates_for(dev, "b1") == ["nightly-1577847600", "nightly-1609470000", "nightly-1641006000"]
        assert creates_for(dev, "t1") == ["nightly-t-t1"]

        page = k("recurringjob", "describe", "nightly", *rj).stdout
        assert "Suspended:          yes" in page and "maintenance" in page
        recent = page.split("Recent runs (newest first):\n", 1)[1]
        assert "trigger t1" in recent and recent.count("backfill b1") == 3
        resumed = k("recurringjob", "resume", "nightly", *rj).stdout
        assert resumed == "recurringjob.recurringjob.dev/nightly resumed (was suspended: maintenance)\n"
        spec = get_json(k, "rj", "nightly", *rj)["spec"]
        assert spec["suspend"] is False and "suspendReason" not in spec
