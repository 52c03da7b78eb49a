# The AWS Lambda package. `sam build -t infra/template.yaml` runs `make build-OpsbotFunction`
# here (the function's Metadata says BuildMethod: makefile) with ARTIFACTS_DIR set, and the
# package is exactly what this target puts there: the four runtime packages' Python files,
# events.json, the event sites, and the runtime dependencies built for Lambda (Python 3.11,
# arm64). Nothing else of the checkout ships: not a developer's opsbot.db or .env, not tests/,
# bench/, caches or dotfiles. tests/e2e/test_lambda_package.py runs this target (SKIP_PIP=1) and
# fails on any other file.
#
# The runtime packages ship compiled (__pycache__/*.cpython-311.pyc, made here from the copied
# sources: a developer's stale .pyc never ships). Lambda's /var/task is read-only, so without them
# every cold start would compile opsbot's modules from source again: about 40% more work before the
# first request can be answered (bench/coldstart_bench.py measures with them). Hash-checked: a
# source changed after the build is compiled afresh, never run from stale bytecode. Only a Python
# 3.11 (Lambda's) compiles them; another would write files Lambda's 3.11 ignores, so it says so.

RUNTIME_PACKAGES := bot handlers blocks infra
RUNTIME_FILES := events.json
SITES := sites
PIP_FOR_LAMBDA := --platform manylinux2014_aarch64 --implementation cp --python-version 3.11 --only-binary=:all:
LAMBDA_PYTHON := 3.11

build-OpsbotFunction:
	test -n "$(ARTIFACTS_DIR)"
ifndef SKIP_PIP
	python3 -m pip install --quiet --no-cache-dir --upgrade --target "$(ARTIFACTS_DIR)" $(PIP_FOR_LAMBDA) \
		-r requirements.txt
endif
	find $(RUNTIME_PACKAGES) -name '*.py' -not -path '*/__pycache__/*' -not -name '.*' \
		-exec cp --parents {} "$(ARTIFACTS_DIR)" \;
	@if python3 -c 'import sys; sys.exit(".".join(map(str, sys.version_info[:2])) != "$(LAMBDA_PYTHON)")'; then \
		python3 -m compileall -q --invalidation-mode checked-hash $(addprefix "$(ARTIFACTS_DIR)"/,$(RUNTIME_PACKAGES)); \
	else \
		echo "python3 is not $(LAMBDA_PYTHON) (Lambda's): the package ships without bytecode (slower cold starts)" >&2; \
	fi
	cp $(RUNTIME_FILES) "$(ARTIFACTS_DIR)"
	find $(SITES) -type f -not -path '*/.*' -exec cp --parents {} "$(ARTIFACTS_DIR)" \;

.PHONY: build-OpsbotFunction
