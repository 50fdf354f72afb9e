"""What the HTTP layer knows about a request, shared by the audit log, faults and handlers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RequestInfo:
    """A resolved API request.

    verb: get | list | watch | create | update | patch | delete | deletecollection
    (the Kubernetes authorization verbs); group is "" for the core API.
    client: the caller's identity (bearer token text, else User-Agent).
    """

    verb: str
    group: str
    version: str
    resource: str
    subresource: str | None
    namespace: str | None
    name: str | None
    client: str

    @property
    def is_mutating(self) -> bool:
        return self.verb in {"create", "update", "patch", "delete", "deletecollection"}
