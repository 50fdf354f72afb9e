"""Kopf wiring: the settings that make Kopf a pure, paginated watcher of RecurringJobs."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
import pytest
from kopf._cogs.clients import fetching
from kopf._cogs.structs import references
from recurringjob import GROUP, PLURAL, VERSION
from recurringjob.runtime.handlers import KOPF_LIST_PAGE, configure_settings


def test_kopfs_initial_list_is_fetched_in_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unpaginated, Kopf decodes every RecurringJob of the cluster from one answer at once."""
    urls: list[str] = []
    pages = {"": ("tok1", 2), "tok1": ("", 1)}

    async def fake_get(*, url: str, **_: Any) -> dict[str, Any]:
        urls.append(url)
        token = url.split("continue=", 1)[1].split("&", 1)[0] if "continue=" in url else ""
        after, count = pages[token]
        return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "RecurringJobList",
                "metadata": {"resourceVersion": "9", "continue": after},
                "items": [{"metadata": {"name": f"rj-{token}-{i}"}} for i in range(count)]}

    monkeypatch.setattr(fetching.api, "get", fake_get)
    resource = references.Resource(group=GROUP, version=VERSION, plural=PLURAL, namespaced=True)
    settings = configure_settings(kopf.OperatorSettings())

    async def fetch() -> list[int]:
        return [len(items) async for items, _ in fetching.fetch_objs(
            settings=settings, resource=resource, namespace=None, logger=logging.getLogger("test"))]

    assert asyncio.run(fetch()) == [2, 1]
    assert all(f"limit={KOPF_LIST_PAGE}" in url for url in urls) and "continue=tok1" in urls[1]
