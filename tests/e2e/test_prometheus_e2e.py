"""A real Prometheus behind the dashboard and the alerts.

The dev cluster, two operator replicas and the Prometheus server from `make tools` (scraping both
replicas every second, evaluating alerts/*.rules.yaml every second) watch a short scenario: regular
launches, Jobs that fail, a flip from success to failure, occurrences missed while suspended, an
invalid time zone and a leader SIGKILLed. Then, through Prometheus' HTTP API:
- every dashboard query (range targets over the scenario, instant targets now; Grafana variables
  substituted as Grafana would) returns at least one series, and the template variables list what
  the scenario created;
- the alerts this scenario must raise are pending or firing, for exactly the RecurringJobs that
  caused them, and every other rule is quiet (and healthy).
The rules are loaded from a copy whose `for:` durations are shortened to SHORT_FOR: the real ones
(1 to 10 minutes) would outlast the test. Rule expressions and their range windows are unchanged.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from operator_support import (
    REPO,
    crd_kubectl,
    free_port,
    get_json,
    job_creates,
    lease_holder,
    needs_crds,
    recurringjob,
    replicas,
    wait_for,
)
from recurringjob.devcluster.server import DevCluster

pytestmark = needs_crds

PROMETHEUS_BIN = REPO / ".tools" / "bin" / "prometheus"
DASHBOARD = REPO / "dashboards" / "recurringjob-operator.json"
ALERTS_DIR = REPO / "alerts"
NAMESPACE = "default"
SHORT_FOR = "1s"
# Grafana's $__rate_interval = max($__interval + scrape interval, 4 x scrape interval); 1 s scrapes
RATE_INTERVAL = "4s"
# alert -> the RecurringJobs (label `name`) it must be active for at the end; every other rule: none
EXPECTED_ALERTS = {
    "RecurringJobMissedOccurrence": {"paused"},
    "RecurringJobFailingRepeatedly": {"failing"},
    "RecurringJobNoRecentSuccess": {"flip"},
    "RecurringJobNotReady": {"broken"},
}
# the leader change must show: no leader for the lease duration after the SIGKILL
EXPECTED_DURING_FAILOVER = "RecurringJobOperatorNoLeader"
OUTCOME = "devcluster.recurringjob.dev/outcome"


# ---------------------------------------------------------------- Prometheus process and API


class Prometheus:
    def __init__(self, workdir: Path, targets: list[int]):
        assert PROMETHEUS_BIN.is_file(), f"{PROMETHEUS_BIN} not found: run `make tools` first"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        rules = [write_short_rules(path, workdir) for path in sorted(ALERTS_DIR.glob("*.rules.yaml"))]
        assert rules, f"no alert rules in {ALERTS_DIR}"
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in rules],
            "scrape_configs": [{"job_name": "recurringjob-operator",
                                "static_configs": [{"targets": [f"127.0.0.1:{p}" for p in targets]}]}],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log_path = workdir / "prometheus.log"
        self.process = subprocess.Popen(
            [str(PROMETHEUS_BIN), f"--config.file={workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={workdir / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=open(self.log_path, "ab"))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def api(self, path: str, **params: str | float) -> Any:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:  # 400/422: a query Prometheus rejects; say which
            raise AssertionError(f"Prometheus {path} {params}: {exc.code} {exc.read().decode()}") from None
        assert body["status"] == "success", body
        return body["data"]

    def ready(self) -> bool:
        assert self.process.poll() is None, f"prometheus exited:\n{self.log_path.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError):
            return False

    def targets_up(self) -> bool:
        targets = self.api("/api/v1/targets")["activeTargets"]
        return bool(targets) and all(t["health"] == "up" for t in targets)

    def active_alerts(self) -> dict[str, set[str]]:
        """alertname -> the `name` labels (or "" for fleet alerts) of its pending or firing alerts."""
        active: dict[str, set[str]] = {}
        for alert in self.api("/api/v1/alerts")["alerts"]:
            if alert["state"] in ("pending", "firing"):
                active.setdefault(alert["labels"]["alertname"], set()).add(alert["labels"].get("name", ""))
        return active


def write_short_rules(path: Path, workdir: Path) -> Path:
    doc = yaml.safe_load(path.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = SHORT_FOR
    short = workdir / f"short-for-{path.name}"
    short.write_text(yaml.safe_dump(doc))
    return short


def rule_names() -> set[str]:
    return {rule["alert"] for path in ALERTS_DIR.glob("*.rules.yaml")
            for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"] if "alert" in rule}


# ---------------------------------------------------------------- the dashboard as Grafana would query it


def dashboard_targets(dashboard: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    def walk(panels: list[Mapping[str, Any]]) -> Iterator[tuple[str, Mapping[str, Any]]]:
        for panel in panels:
            for target in panel.get("targets", []):
                yield f"panel {panel.get('title')!r} {target.get('refId')}", target
            yield from walk(panel.get("panels", []))  # collapsed rows hold their panels

    yield from walk(dashboard["panels"])


def grafana_expand(expr: str, variables: Mapping[str, str]) -> str:
    """Substitute $var, ${var} and ${var:format} as Grafana does for a single-valued selection."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in variables, f"Grafana variable ${name} in {expr!r}: the test does not know its value"
        return variables[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", value, expr)


# ---------------------------------------------------------------- the scenario


def test_dashboard_and_alerts_against_a_real_prometheus(devcluster: DevCluster, tmp_path: Path) -> None:
    kubectl = crd_kubectl(devcluster, tmp_path)
    with replicas(devcluster, tmp_path, 2) as pods:
        prometheus = Prometheus(tmp_path, [p.metrics_port for p in pods])
        try:
            run_scenario_and_check(kubectl, devcluster, prometheus, pods)
        except AssertionError as exc:  # the processes' last words usually say why
            tails = "\n".join(f"--- {path.name}:\n" + tail(path) for path in
                              [p.log_path for p in pods] + [prometheus.log_path])
            raise AssertionError(f"{exc}\n{tails}") from exc
        finally:
            prometheus.stop()


def tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


def apply(kubectl: Any, name: str, schedule: str, **spec: Any) -> None:
    kubectl("apply", "-f", "-", input=recurringjob(name, NAMESPACE, schedule, **spec))


def run_scenario_and_check(kubectl: Any, cluster: DevCluster, prometheus: Prometheus,
                           pods: list[Any]) -> None:
    wait_for(prometheus.ready, 30, what="Prometheus to be ready")
    leader_id = wait_for(lambda: lease_holder(kubectl), 30, what="a lease holder")
    wait_for(prometheus.targets_up, 30, what="both replicas scraped")
    start = time.time()
    # catchUp All + a deadline: the failover gap delays these occurrences, it does not miss them
    keep = {"catchUp": "All", "startingDeadlineSeconds": 60}
    apply(kubectl, "heartbeat", "*/2 * * * * *", duration="1s", **keep)
    apply(kubectl, "failing", "*/2 * * * * *", duration="0s", outcome="Failed", **keep)
    apply(kubectl, "flip", "*/2 * * * * *", duration="0s", **keep)
    apply(kubectl, "paused", "* * * * * *", duration="0s", suspend=True)  # catchUp Latest: resume misses
    apply(kubectl, "broken", "* * * * * *", timeZone="Mars/Olympus")

    # flip: one success, then every Job fails (a broken release); its last success grows old
    wait_for(lambda: get_json(kubectl, "rj", "flip").get("status", {}).get("lastSuccessfulTime"), 30,
             what="flip's first success")
    kubectl("patch", "rj", "flip", "--type", "merge", "-p", json.dumps(
        {"spec": {"jobTemplate": {"metadata": {"annotations": {OUTCOME: "Failed"}}}}}))

    # leader change: SIGKILL, the follower takes the Lease once it expires
    leader = next(p for p in pods if p.identity == leader_id)
    follower = next(p for p in pods if p.identity != leader_id)
    leader.signal(signal.SIGKILL)
    wait_for(lambda: lease_holder(kubectl) == follower.identity, 30, what="the follower to take the Lease")

    # resume after several seconds suspended: catchUp Latest launches the newest, the rest are missed
    kubectl("patch", "rj", "paused", "--type", "merge", "-p", '{"spec": {"suspend": false}}')
    wait_for(lambda: get_json(kubectl, "rj", "paused").get("status", {}).get("missedOccurrences"), 30,
             what="paused's missed occurrences in its status")
    wait_for(lambda: len(job_creates(cluster, "failing")) >= 3, 30, what="three failing Jobs")

    check_alerts(prometheus)
    check_dashboard(prometheus, start)


def check_alerts(prometheus: Prometheus) -> None:
    quiet = rule_names() - set(EXPECTED_ALERTS)
    assert set(EXPECTED_ALERTS) <= rule_names(), "an alert this test expects is gone from alerts/"
    state: dict[str, set[str]] = {}

    def settled() -> bool:
        nonlocal state
        state = prometheus.active_alerts()
        return all(state.get(a) == names for a, names in EXPECTED_ALERTS.items()) and not quiet & set(state)

    try:
        # transient ones (no leader during the failover) must clear; the expected ones must appear
        wait_for(settled, 45, interval=1, what="the expected alerts, and only those")
    except AssertionError:
        raise AssertionError(f"active alerts {state}, expected {EXPECTED_ALERTS} and nothing else") from None

    # every rule evaluates without error (a typo'd function or a many-to-many match shows here)
    for group in prometheus.api("/api/v1/rules")["groups"]:
        for rule in group["rules"]:
            assert rule["health"] == "ok", f"rule {rule['name']}: {rule['health']} {rule.get('lastError')}"

    # the leader change was visible: Prometheus recorded the no-leader alert while the Lease was free
    alerts = f'ALERTS{{alertname="{EXPECTED_DURING_FAILOVER}"}}'
    history = prometheus.api("/api/v1/query", query=f"max_over_time({alerts}[5m])")
    assert history["result"], f"{EXPECTED_DURING_FAILOVER} never became pending during the failover"


def check_dashboard(prometheus: Prometheus, start: float) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    end = time.time()
    variables = {"__rate_interval": RATE_INTERVAL, "__interval": "1s", "__range": f"{int(end - start)}s",
                 "namespace": NAMESPACE, "name": ".*", "datasource": "prometheus"}

    # template variables: label_values(metric, label) is Grafana's /api/v1/label/<label>/values call
    listed: dict[str, list[str]] = {}
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        definition = variable.get("definition") or variable["query"]["query"]
        match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", definition)
        assert match, f"variable {variable['name']}: {definition!r} is not label_values(metric, label)"
        selector = grafana_expand(match.group(1), variables)
        listed[variable["name"]] = prometheus.api(f"/api/v1/label/{match.group(2)}/values",
                                                  **{"match[]": selector})
    assert NAMESPACE in listed["namespace"], listed
    assert {"heartbeat", "failing", "flip", "paused", "broken"} <= set(listed["name"]), listed

    empty = []
    checked = 0
    for where, target in dashboard_targets(dashboard):
        expr = grafana_expand(target["expr"], variables)
        if target.get("instant"):
            result = prometheus.api("/api/v1/query", query=expr, time=end)["result"]
        else:
            result = [s for s in prometheus.api("/api/v1/query_range", query=expr, start=start, end=end,
                                                step=1)["result"] if s["values"]]
        checked += 1
        if not result:
            empty.append(f"{where}: {expr}")
    assert checked >= 20, f"only {checked} dashboard queries found: is the walk missing panels?"
    assert not empty, "dashboard queries with no data after the scenario:\n" + "\n".join(empty)
