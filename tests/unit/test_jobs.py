import re
from datetime import UTC, datetime

from recurringjob.core.jobs import build_job, job_name, scheduled_time_from_name

T = datetime(2024, 3, 10, 7, 0, tzinfo=UTC)
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_job_name_is_name_dash_unix_seconds() -> None:
    assert job_name("backup", T) == "backup-1710054000"
    assert scheduled_time_from_name("backup", "backup-1710054000") == T


def test_long_and_dotted_names_are_hashed_labels() -> None:
    for rj in ["a" * 52, "a" * 53, "x" * 253, "nightly.backup", "a.b", "a-b", "-" * 60 + "z"]:
        name = job_name(rj, T)
        assert len(name) <= 63 and DNS_LABEL.match(name), name
        assert name == job_name(rj, T)  # deterministic
        assert scheduled_time_from_name(rj, name) == T
    assert job_name("a" * 52, T) == "a" * 52 + "-1710054000"
    assert job_name("a.b", T) != job_name("a-b", T)
    assert job_name("a" * 60 + "1", T) != job_name("a" * 60 + "2", T)


def test_scheduled_time_from_foreign_names() -> None:
    assert scheduled_time_from_name("backup", "backup-manual") is None
    assert scheduled_time_from_name("backup", "other-1710054000") is None


def test_build_job() -> None:
    rj = {
        "metadata": {"name": "backup", "namespace": "ops", "uid": "u-1"},
        "spec": {
            "schedule": "0 2 * * *",
            "jobTemplate": {
                "metadata": {"labels": {"team": "db", "recurringjob.dev/name": "spoofed"},
                             "annotations": {"note": "x"}},
                "spec": {"backoffLimit": 2,
                         "template": {"spec": {"restartPolicy": "Never", "containers": []}}},
            },
        },
    }
    job = build_job(rj, T)
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    assert job["metadata"]["name"] == "backup-1710054000"
    assert job["metadata"]["namespace"] == "ops"
    assert job["metadata"]["labels"] == {"team": "db", "recurringjob.dev/name": "backup"}
    assert job["metadata"]["annotations"] == {
        "note": "x", "recurringjob.dev/scheduled-time": "2024-03-10T07:00:00Z",
        "recurringjob.dev/fire-time": "2024-03-10T07:00:00Z", "recurringjob.dev/trigger-kind": "schedule"}
    assert job["metadata"]["ownerReferences"] == [{
        "apiVersion": "recurringjob.dev/v1alpha1", "kind": "RecurringJob", "name": "backup", "uid": "u-1",
        "controller": True, "blockOwnerDeletion": True}]
    assert job["spec"] == rj["spec"]["jobTemplate"]["spec"]
    job["spec"]["backoffLimit"] = 9
    assert rj["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 2  # a deep copy
