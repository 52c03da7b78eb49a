# The AWS Lambda package. `sam build -t infra/template.yaml` runs `make build-OpsbotFunction`
# here (the function's Metadata says BuildMethod: makefile) with ARTIFACTS_DIR set, and the
# package is exactly what this target puts there: the four runtime packages' Python files,
# events.json, the event sites, and the runtime dependencies built for Lambda (Python 3.11,
# arm64). Nothing else of the checkout ships: not a developer's opsbot.db or .env, not tests/,
# bench/, caches or dotfiles. tests/e2e/test_lambda_package.py runs this target (SKIP_PIP=1) and
# fails on any other file.

RUNTIME_PACKAGES := bot handlers blocks infra
RUNTIME_FILES := events.json
SITES := sites
PIP_FOR_LAMBDA := --platform manylinux2014_aarch64 --implementation cp --python-version 3.11 --only-binary=:all:

build-OpsbotFunction:
	test -n "$(ARTIFACTS_DIR)"
ifndef SKIP_PIP
	python3 -m pip install --quiet --no-cache-dir --upgrade --target "$(ARTIFACTS_DIR)" $(PIP_FOR_LAMBDA) \
		-r requirements.txt
endif
	find $(RUNTIME_PACKAGES) -name '*.py' -not -path '*/__pycache__/*' -not -name '.*' \
		-exec cp --parents {} "$(ARTIFACTS_DIR)" \;
	cp $(RUNTIME_FILES) "$(ARTIFACTS_DIR)"
	find $(SITES) -type f -not -path '*/.*' -exec cp --parents {} "$(ARTIFACTS_DIR)" \;

.PHONY: build-OpsbotFunction
