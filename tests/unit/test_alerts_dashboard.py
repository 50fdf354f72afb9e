"""Alert rules and the Grafana dashboard: real promtool checks, and every metric they use must be one
the operator's /metrics endpoint actually serves."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from packaging_tools import (
    ALL_FEATURES,
    DASHBOARD_FILE,
    ROOT,
    RULES_FILE,
    dashboard_queries,
    one,
    panels,
    promql_label_names,
    promql_metric_names,
    render,
    run,
    tool,
)
from recurringjob.runtime.metrics import Metrics

REQUIRED_ALERTS = {
    "RecurringJobOperatorDown", "RecurringJobOperatorNoLeader", "RecurringJobOperatorMultipleLeaders",
    "RecurringJobMissedOccurrence", "RecurringJobLaunchLagHigh", "RecurringJobNoRecentSuccess",
    "RecurringJobFailingRepeatedly", "RecurringJobClockSkew",
}
# Labels Prometheus adds to every scraped series (ServiceMonitor / kubernetes_sd target labels).
TARGET_LABELS = {"instance", "job", "pod", "namespace", "service", "container", "endpoint"}


# ---------------------------------------------------------------- what the operator exports

def scrape_operator_metrics() -> str:
    """Serve the operator's real registry on /metrics (one series of every metric) and scrape it."""
    metrics = Metrics()
    for metric in vars(metrics).values():
        labelnames = getattr(metric, "_labelnames", None)
        if labelnames is None:
            continue
        child = metric.labels(*["x"] * len(labelnames)) if labelnames else metric
        kind = getattr(metric, "_type", "")
        if kind == "histogram":
            child.observe(1.0)
        elif kind == "counter":
            child.inc()
        else:
            child.set(1.0)
    # the per-RecurringJob series (runtime/metrics_rj.py) all exist from a RecurringJob's first sight
    metrics.observe_recurringjob({"metadata": {"namespace": "x", "name": "x"}, "spec": {"schedule": "x"}})
    server = metrics.serve(0, host="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())
    finally:
        server.shutdown()
        server.server_close()


def exported() -> tuple[set[str], set[str]]:
    """(series names, label names) in the scraped exposition."""
    names: set[str] = set()
    labels: set[str] = set()
    for line in scrape_operator_metrics().splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?", line)
        assert m, line
        names.add(m.group(1))
        labels |= set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(3) or ""))
    return names, labels


EXPORTED, EXPORTED_LABELS = exported()


def design_metric_names() -> set[str]:
    text = (ROOT / "docs" / "design.md").read_text()
    section = text.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"\brecurringjob_[a-z_]+[a-z]", section))


def test_promql_parser_finds_names() -> None:
    expr = ('histogram_quantile(0.99, sum by (le) (rate(foo_bucket{a="b c", name=~"$name"}[5m]))) > 3e1 '
            "unless on (namespace) max by (x) (bar offset 5m) and ignoring(y) baz == bool 1 or vector(0)")
    assert promql_metric_names(expr) == {"foo_bucket", "bar", "baz"}
    assert promql_label_names(expr) == {"le", "a", "name", "namespace", "x", "y"}


def test_unknown_metric_or_label_is_caught() -> None:
    for bad in ("rate(recurringjob_nope_total[5m])", "sum by (pod_name) (recurringjob_active_jobs)",
                'recurringjob_ready{nmespace="x"}', "up == 0"):
        try:
            check_queries({"bad": bad})
        except AssertionError:
            continue
        raise AssertionError(f"{bad!r} passed the metric check")


def test_exported_metrics_match_the_design_contract() -> None:
    design = design_metric_names()
    assert len(design) >= 20, design
    for name in design:
        assert name in EXPORTED or f"{name}_bucket" in EXPORTED, f"{name} (docs/design.md) is not exported"
    for name in {n.removesuffix("_bucket") for n in EXPORTED if n.endswith("_bucket")}:
        assert name in design, f"histogram {name} exported but not in docs/design.md"


def check_queries(exprs: dict[str, str]) -> None:
    assert exprs
    for where, expr in exprs.items():
        names = promql_metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        unknown = names - EXPORTED
        assert not unknown, f"{where}: {sorted(unknown)} not exported by the operator ({expr!r})"
        labels = promql_label_names(expr) - EXPORTED_LABELS - TARGET_LABELS
        assert not labels, f"{where}: unknown labels {sorted(labels)} in {expr!r}"


def promtool_check(groups: list[dict[str, Any]], tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    out = run([tool("promtool"), "check", "rules", path]).stdout
    assert "SUCCESS" in out, out


# ---------------------------------------------------------------- alert rules

def rules_doc() -> dict[str, Any]:
    doc = yaml.safe_load(RULES_FILE.read_text())
    assert isinstance(doc, dict) and set(doc) == {"groups"}
    return doc


def all_rules(groups: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for group in groups:
        yield from group["rules"]


def test_promtool_check_rules() -> None:
    out = run([tool("promtool"), "check", "rules", RULES_FILE]).stdout
    assert "SUCCESS" in out, out


def test_promtool_unit_tests(tmp_path: Path) -> None:
    """Each alert fires (and stays quiet) on synthetic series, with promtool's rule unit tests."""
    stripped = rules_doc()
    for rule in all_rules(stripped["groups"]):
        rule.pop("annotations", None)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(stripped, sort_keys=False))
    tests = yaml.safe_load((Path(__file__).parent / "data" / "alerts.test.yaml").read_text())
    tests["rule_files"] = ["rules.yaml"]
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    tested = {case["alertname"] for t in tests["tests"] for case in t["alert_rule_test"]
              if case.get("exp_alerts")}
    assert tested >= REQUIRED_ALERTS, f"alerts never seen firing in tests: {REQUIRED_ALERTS - tested}"
    proc = run([tool("promtool"), "test", "rules", "tests.yaml"], cwd=tmp_path, check=False)
    assert proc.returncode == 0 and "SUCCESS" in proc.stdout, proc.stdout + proc.stderr


def test_rules_structure_and_runbooks() -> None:
    rules = list(all_rules(rules_doc()["groups"]))
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names)), "duplicate alert names"
    assert set(names) >= REQUIRED_ALERTS
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}, rule
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert set(rule["annotations"]) >= {"summary", "description"}
        assert "Runbook:" in rule["annotations"]["description"], rule["alert"]
        if "for" in rule:
            assert re.fullmatch(r"(\d+[smhd])+", rule["for"]), rule
    check_queries({r["alert"]: r["expr"] for r in rules})


def test_prometheus_rule_renders_the_same_rules(tmp_path: Path) -> None:
    file_groups = rules_doc()["groups"]
    docs = render({**ALL_FEATURES, "prometheusRule.additionalRuleLabels": {}})
    assert one(docs, "PrometheusRule")["spec"]["groups"] == file_groups
    pr = one(render(ALL_FEATURES), "PrometheusRule")
    expected = json.loads(json.dumps(file_groups))
    for rule in all_rules(expected):
        rule["labels"] = {**rule.get("labels", {}), "team": "platform"}
    assert pr["spec"]["groups"] == expected
    promtool_check(pr["spec"]["groups"], tmp_path, "rendered.yaml")
    dropped = one(render({"prometheusRule.enabled": True,
                          "prometheusRule.disabledAlerts": ["RecurringJobLaunchLagHigh"]}), "PrometheusRule")
    names = {r["alert"] for r in all_rules(dropped["spec"]["groups"])}
    assert names == {r["alert"] for r in all_rules(file_groups)} - {"RecurringJobLaunchLagHigh"}


# ---------------------------------------------------------------- dashboard

def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD_FILE.read_text()))


def test_dashboard_structure() -> None:
    dash = dashboard()
    assert dash["uid"] and dash["title"] and dash["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {"namespace", "name"} <= set(variables)
    ids = [p["id"] for p in panels(dash)]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    boxes = []
    for p in panels(dash):
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        for (x, y, w, h, title) in boxes:
            overlap = x < g["x"] + g["w"] and g["x"] < x + w and y < g["y"] + g["h"] and g["y"] < y + h
            assert not overlap, f"panels {title!r} and {p['title']!r} overlap"
        boxes.append((g["x"], g["y"], g["w"], g["h"], p["title"]))
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert refs and len(refs) == len(set(refs)), p["title"]
    used_vars = set()
    for expr in dashboard_queries(dash).values():
        used_vars |= set(re.findall(r"\$\{?(\w+)", expr))
    builtins = {"__rate_interval", "__interval", "__range"}
    assert used_vars - builtins <= set(variables), used_vars
    # The per-RecurringJob view is driven by the namespace/name variables.
    per_rj = [e for e in dashboard_queries(dash).values() if '$namespace' in e and '$name' in e]
    assert len(per_rj) >= 8
    # The fleet view covers what the issue asks for.
    everything = " ".join(dashboard_queries(dash).values())
    for needed in ("recurringjob_occurrences_total", "recurringjob_launch_lag_seconds_bucket",
                   'result="missed"', "recurringjob_claim_conflicts_total", "recurringjob_is_leader",
                   "recurringjob_lease_transitions_total", "recurringjob_next_schedule_timestamp_seconds",
                   "recurringjob_last_schedule_timestamp_seconds", "recurringjob_jobs_finished_total",
                   "recurringjob_job_duration_seconds_bucket"):
        assert needed in everything, needed


def test_dashboard_queries_use_only_exported_metrics(tmp_path: Path) -> None:
    queries = dashboard_queries(dashboard())
    check_queries(queries)
    # Prometheus' own parser on every query (Grafana variables replaced by sample values).
    rules = []
    for i, expr in enumerate(queries.values()):
        concrete = (expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
                    .replace("$namespace", ".*").replace("$name", ".*"))
        rules.append({"record": f"dashboard:query_{i}", "expr": concrete})
    promtool_check([{"name": "dashboard", "rules": rules}], tmp_path, "dashboard-queries.yaml")
