"""Every field of the RecurringJob CRD's schema carries a description, so `kubectl explain` teaches the
API: what a field does, its default, and the CronJob field it mirrors where there is one."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import yaml
from packaging_tools import CRD_FILE

# Fields with a default must say it; fields CronJob also has must name CronJob's field.
CRONJOB_SPEC_FIELDS = {
    "schedule", "timeZone", "concurrencyPolicy", "startingDeadlineSeconds", "suspend",
    "successfulJobsHistoryLimit", "failedJobsHistoryLimit", "jobTemplate",
}
CRONJOB_STATUS_FIELDS = {"active", "lastScheduleTime", "lastSuccessfulTime"}


def schemas() -> list[tuple[str, Mapping[str, Any]]]:
    crd = yaml.safe_load(CRD_FILE.read_text())
    return [(v["name"], v["schema"]["openAPIV3Schema"]) for v in crd["spec"]["versions"]]


def fields(node: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(path, schema) of `node` and of every field below it: object properties, and array items that
    are objects (what `kubectl explain` can descend into)."""
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from fields(child, f"{path}.{name}")
    items = node.get("items")
    if isinstance(items, Mapping) and (items.get("type") == "object" or "properties" in items):
        yield from fields(items, f"{path}[]")


def field(schema: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    return dict(fields(schema, "recurringjob"))[path]


def test_walk_reaches_nested_fields_and_object_items() -> None:
    """Guards the walk itself: a walk that stopped at the top level would make the next test vacuous."""
    for _, schema in schemas():
        paths = {path for path, _ in fields(schema, "recurringjob")}
        assert {
            "recurringjob.spec.jobTemplate.metadata.labels", "recurringjob.spec.jobTemplate.spec.template",
            "recurringjob.status.active[].name", "recurringjob.status.conditions[].lastTransitionTime",
        } <= paths


def test_every_field_has_a_description() -> None:
    for version, schema in schemas():
        undocumented = [
            path for path, node in fields(schema, "recurringjob")
            if not str(node.get("description") or "").strip()
        ]
        assert not undocumented, (
            f"crds/recurringjob.yaml {version}: these fields have no description (add one: what it does, "
            f"its default, its CronJob equivalent): {', '.join(undocumented)}"
        )


def test_defaults_are_stated_in_the_description() -> None:
    for version, schema in schemas():
        for path, node in fields(schema, "recurringjob"):
            if "default" not in node:
                continue
            default = node["default"]
            text = str(default).lower() if isinstance(default, bool) else str(default)
            assert f"Default {text}" in node["description"] or f"{text} (default" in node["description"], (
                f"crds/recurringjob.yaml {version}: {path} defaults to {default!r} but its description "
                f"does not say so ('Default {text}' or '{text} (default')"
            )


def test_cronjob_equivalents_are_named() -> None:
    for version, schema in schemas():
        for section, names in (("spec", CRONJOB_SPEC_FIELDS), ("status", CRONJOB_STATUS_FIELDS)):
            for name in names:
                description = field(schema, f"recurringjob.{section}.{name}")["description"]
                assert f"CronJob's {section}.{name}" in description, (
                    f"crds/recurringjob.yaml {version}: {section}.{name} should name its CronJob "
                    f"equivalent (\"Like CronJob's {section}.{name}\")"
                )
