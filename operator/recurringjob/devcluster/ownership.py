"""Which stored objects name which owner: the index behind garbage collection and Orphan deletes.

Kept up to date by the store at every commit, so finding an owner's dependents costs a lookup
instead of a scan of every object of every kind.
"""

from __future__ import annotations

from typing import Any

from recurringjob.devcluster.registry import RK

Obj = dict[str, Any]
ObjectKey = tuple[RK, tuple[str, str]]  # (resource key, (namespace or "", name))


class OwnerIndex:
    def __init__(self) -> None:
        self._dependents: dict[str, set[ObjectKey]] = {}  # owner uid -> objects referring to it

    def update(self, key: ObjectKey, old: Obj | None, new: Obj | None) -> None:
        """One object changed from `old` to `new` (None: did not exist / no longer exists)."""
        if old is not None:
            for ref in old["metadata"].get("ownerReferences") or ():
                self._dependents.get(ref.get("uid", ""), set()).discard(key)
        if new is not None:
            for ref in new["metadata"].get("ownerReferences") or ():
                self._dependents.setdefault(ref.get("uid", ""), set()).add(key)

    def dependents(self, owner_uid: str) -> list[ObjectKey]:
        """Keys of objects that referred to `owner_uid` when last written (may no longer exist)."""
        return list(self._dependents.get(owner_uid, ()))

    def clear(self) -> None:
        self._dependents.clear()
