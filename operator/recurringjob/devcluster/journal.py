"""`--data-dir` persistence: an append-only journal of committed writes plus a snapshot.

Every committed event is appended (one JSON line, written with os.write so it reaches the OS
before the response is sent: a crash of the dev cluster loses no acknowledged write). At start
the snapshot and the journal are replayed, then compacted into a fresh snapshot (temp file +
rename) and an empty journal; the revision counter continues where it was.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from recurringjob.devcluster.store import Event, Store

SNAPSHOT = "snapshot.json"
JOURNAL = "journal.jsonl"


class Journal:
    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(data_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = None

    def restore(self, store: Store) -> None:
        """Load snapshot + journal into `store`, compact, and start journaling its writes."""
        revision, objects = self._read()
        store.load(revision, [(rk, obj) for rk, bucket in objects.items() for obj in bucket.values()])
        self._write_snapshot(revision, objects)
        self._fd = os.open(self.dir / JOURNAL, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        store.listeners.append(self._append)

    def _read(self) -> tuple[int, dict[tuple[str, str], dict[tuple[str, str], Any]]]:
        revision = 0
        objects: dict[tuple[str, str], dict[tuple[str, str], Any]] = {}
        snapshot = self.dir / SNAPSHOT
        if snapshot.exists():
            data = json.loads(snapshot.read_text())
            revision = data["revision"]
            for group, resource, obj in data["objects"]:
                meta = obj["metadata"]
                objects.setdefault((group, resource), {})[(meta.get("namespace", ""), meta["name"])] = obj
        journal = self.dir / JOURNAL
        if journal.exists():
            for line in journal.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:  # a torn last line from a crash mid-write: never acknowledged
                    break
                obj = entry["o"]
                meta = obj["metadata"]
                bucket = objects.setdefault((entry["g"], entry["r"]), {})
                key = (meta.get("namespace", ""), meta["name"])
                if entry["t"] == "DELETED":
                    bucket.pop(key, None)
                else:
                    bucket[key] = obj
                revision = max(revision, entry["rev"])
        return revision, objects

    def _write_snapshot(self, revision: int, objects: dict[tuple[str, str], dict[Any, Any]]) -> None:
        data = {
            "revision": revision,
            "objects": [[g, r, obj] for (g, r), bucket in objects.items() for obj in bucket.values()],
        }
        tmp = self.dir / (SNAPSHOT + ".tmp")
        with open(tmp, "w") as handle:
            json.dump(data, handle, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.dir / SNAPSHOT)

    def _append(self, event: Event) -> None:
        assert self._fd is not None
        line = (
            json.dumps(
                {"rev": event.revision, "g": event.rk[0], "r": event.rk[1], "t": event.type, "o": event.obj},
                separators=(",", ":"),
            )
            + "\n"
        )
        os.write(self._fd, line.encode())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
