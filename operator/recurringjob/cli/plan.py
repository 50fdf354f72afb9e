"""`recurringjob plan -f FILE [--now T]`: a dry run of the planner, "why didn't my job run?".

FILE (or - for stdin) holds a RecurringJob, as `kubectl get rj NAME -o yaml` prints it, and
optionally the Jobs it owns: several YAML documents, or a List. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Mapping
from typing import Any

import yaml

from recurringjob import KIND
from recurringjob.core.jobs import NAME_LABEL
from recurringjob.core.timeutil import format_rfc3339, parse_rfc3339, to_utc
from recurringjob.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--filename", required=True, metavar="FILE",
                        help="YAML with the RecurringJob (+ status) and optionally its Jobs; - reads stdin")
    parser.add_argument("--now", metavar="RFC3339", help="the time to plan at (default: the current time)")
    parser.add_argument("--name", help="which RecurringJob, if FILE holds several")
    parser.add_argument("--full", action="store_true",
                        help="also print the new status, the Job manifest, recreations and prunes")


def parse_now(value: str | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.UTC)  # the CLI may read the clock; the planner never does
    try:
        return parse_rfc3339(value)
    except ValueError as exc:
        raise UserError(f"--now: {exc}") from None


def _plain(value: Any) -> Any:
    """YAML turns unquoted timestamps into datetimes; the planner reads API objects (strings)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return format_rfc3339(to_utc(value))
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def load_objects(path: str) -> list[dict[str, Any]]:
    """Every object in FILE: documents, with Lists flattened. Raises UserError."""
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise UserError(f"{path} is not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    objects: list[dict[str, Any]] = []
    for document in documents:
        if isinstance(document, Mapping) and isinstance(document.get("items"), list):
            objects.extend(_plain(item) for item in document["items"] if isinstance(item, Mapping))
        elif isinstance(document, Mapping):
            objects.append(_plain(document))
    return objects


def find_recurring_job(objects: list[dict[str, Any]], path: str, name: str | None) -> dict[str, Any]:
    found = [o for o in objects if o.get("kind") == KIND]
    if name is not None:
        found = [o for o in found if (o.get("metadata") or {}).get("name") == name]
    if not found:
        which = f" named {name!r}" if name else ""
        raise UserError(f"{path} holds no {KIND}{which}: expected a document with kind: {KIND}")
    if len(found) > 1:
        names = ", ".join(str((o.get("metadata") or {}).get("name")) for o in found)
        raise UserError(f"{path} holds {len(found)} {KIND}s ({names}): choose one with --name")
    return found[0]


def owned_jobs(rj: Mapping[str, Any], objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The file's Jobs, minus those labelled for a different RecurringJob."""
    name = (rj.get("metadata") or {}).get("name")
    jobs = []
    for obj in objects:
        if obj.get("kind") != "Job":
            continue
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if labels.get(NAME_LABEL, name) == name:
            jobs.append(obj)
    return jobs


def main(args: argparse.Namespace) -> int:
    from recurringjob.core.planner import plan  # here: `recurringjob next` shares this module's readers

    now = parse_now(args.now)
    objects = load_objects(args.filename)
    rj = find_recurring_job(objects, args.filename, args.name)
    decision = plan(rj, owned_jobs(rj, objects), now)
    status = decision.status if decision.status is not None else rj.get("status")
    conditions = status.get("conditions") if isinstance(status, Mapping) else None
    ready = next((c for c in conditions or [] if isinstance(c, Mapping) and c.get("type") == "Ready"), None)
    if ready is not None and ready.get("status") == "False":
        raise UserError(f"{ready.get('reason')}: {ready.get('message')} (the operator launches nothing)")
    output = decision.to_json()
    if args.full:
        output |= {"status": decision.status, "job": decision.job, "recreate": list(decision.recreate),
                   "prune": list(decision.prune)}
    print(json.dumps(output, indent=2))
    return 0
