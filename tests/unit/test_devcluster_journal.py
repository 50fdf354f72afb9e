"""The dev cluster's --data-dir journal: every acknowledged write survives a restart, and the
journal is compacted by size and on a clean stop, so a restart never replays a long history."""

from __future__ import annotations

import os
from pathlib import Path

from recurringjob.devcluster.journal import JOURNAL, SNAPSHOT, Journal
from recurringjob.devcluster.registry import Registry
from recurringjob.devcluster.store import Store

CM = ("", "configmaps")
NS = ("", "namespaces")


def configmap(name: str, value: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
            "data": {"v": value}}


def restored(data_dir: Path) -> Store:
    store = Store(Registry())
    Journal(data_dir).restore(store)
    return store


def write_many(store: Store, count: int) -> None:
    if store.peek(NS, None, "default") is None:
        store.create(NS, {"metadata": {"name": "default"}})
    for i in range(count):
        name = f"cm-{i % 10}"
        current = store.peek(CM, "default", name)
        if current is None:
            store.create(CM, configmap(name, str(i)))
        else:
            store.update(CM, configmap(name, str(i)) | {"metadata": current["metadata"]})
    store.delete(CM, "default", "cm-9")


def test_a_journal_past_its_size_is_compacted_and_nothing_is_lost(tmp_path: Path) -> None:
    store = Store(Registry())
    journal = Journal(tmp_path, compact_bytes=4096)
    journal.restore(store)
    write_many(store, 200)
    # compacted along the way: the journal holds only the writes since the last snapshot
    assert (tmp_path / JOURNAL).stat().st_size < 4096 + 1024
    revision = store.revision
    os.close(journal._fd or -1)  # a crash: no clean stop, no final compaction
    again = restored(tmp_path)
    assert again.revision == revision
    values = {obj["metadata"]["name"]: obj["data"]["v"] for rk, obj in again.all_objects() if rk == CM}
    assert values == {f"cm-{i}": str(190 + i) for i in range(9)}


def test_a_clean_stop_leaves_no_journal_to_replay(tmp_path: Path) -> None:
    store = Store(Registry())
    journal = Journal(tmp_path)
    journal.restore(store)
    write_many(store, 50)
    assert (tmp_path / JOURNAL).stat().st_size > 0
    journal.close()
    assert (tmp_path / JOURNAL).stat().st_size == 0
    assert (tmp_path / SNAPSHOT).exists()
    again = restored(tmp_path)
    assert again.revision == store.revision
    assert again.peek(CM, "default", "cm-3")["data"] == {"v": "43"}  # type: ignore[index]
    assert again.peek(CM, "default", "cm-9") is None
