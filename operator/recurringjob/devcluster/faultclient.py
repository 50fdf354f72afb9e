"""Client of the dev cluster's fault admin API (/_devcluster/faults), standard library only.

The chaos harness and tests use it from plain synchronous code, e.g.

    faults = FaultClient("http://127.0.0.1:PORT")
    faults.set_errors(0.2, codes=[409, 503], verbs=["update", "patch"], resources=["recurringjobs"])
    faults.hold(30, verbs=["create"], resources=["jobs"], clients=["replica-1"])
    faults.partition("replica-1", mode="hang")
    faults.heal("replica-1")
    faults.clear()
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

ADMIN_PATH = "/_devcluster/faults"


class FaultClient:
    """Synchronous client of the admin API, for tests and the chaos harness (stdlib only).

    Every method returns the fault configuration after the change (GET /_devcluster/faults).
    Rule keyword arguments take the JSON rule fields: verbs, resources, clients (lists), rate, ...
    """

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._ssl: ssl.SSLContext | None = None
        if self.base_url.startswith("https:"):
            self._ssl = ssl.create_default_context()
            self._ssl.check_hostname = False
            self._ssl.verify_mode = ssl.CERT_NONE  # the dev cluster's own throwaway certificate

    def get(self) -> dict[str, Any]:
        return self._call("GET", "")

    def replace(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """PUT: the whole configuration (missing rule lists and partitions are cleared)."""
        return self._call("PUT", "", dict(config))

    def update(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """POST: replace only the rule lists (and partitions, seed) present in `config`."""
        return self._call("POST", "", dict(config))

    def set_latency(self, delay: float, jitter: float = 0.0, **match: Any) -> dict[str, Any]:
        rule = {"delay": delay, "jitter": jitter, **match}
        return self.update({"latency": [rule] if delay or jitter else []})

    def set_errors(self, rate: float, codes: Iterable[int] = (500, 503, 429), **match: Any) -> dict[str, Any]:
        rule = {"rate": rate, "codes": list(codes), **match}
        return self.update({"errors": [rule] if rate else []})

    def drop_watches(self, after: float, jitter: float = 0.0, rate: float = 1.0,
                     **match: Any) -> dict[str, Any]:
        rule = {"after": after, "jitter": jitter, "rate": rate, **match}
        return self.update({"watchDrops": [rule] if rate else []})

    def expire_watches(self, rate: float = 1.0, **match: Any) -> dict[str, Any]:
        return self.update({"watchExpiry": [{"rate": rate, **match}] if rate else []})

    def hold(self, seconds: float, rate: float = 1.0, **match: Any) -> dict[str, Any]:
        """Keep matching requests `seconds` on the server, then commit them even if the client left:
        e.g. hold(30, verbs=["create"], resources=["jobs"], clients=["replica-1"])."""
        rule = {"seconds": seconds, "rate": rate, **match}
        return self.update({"holds": [rule] if seconds and rate else []})

    def partition(self, client: str, mode: str = "hang") -> dict[str, Any]:
        return self._call("POST", "/partition", {"client": client, "mode": mode})

    def heal(self, client: str | None = None) -> dict[str, Any]:
        return self._call("POST", "/heal", {} if client is None else {"client": client})

    def clear(self) -> dict[str, Any]:
        return self._call("DELETE", "")

    def log(self, since: float = 0.0) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/log?since={since}")["items"])

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + ADMIN_PATH + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._ssl) as response:
                result: dict[str, Any] = json.loads(response.read())
                return result
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise RuntimeError(f"{method} {ADMIN_PATH}{path}: HTTP {exc.code}: {detail}") from None
