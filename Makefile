# Gereedschapskist — the two commands that matter: `make up` and `make test`.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
UV_VERSION := 0.13.9
UV    := $(shell command -v uv 2>/dev/null)
CHROMIUM := /usr/bin/chromium
IRKERNEL := /usr/lib/R/site-library/IRkernel/DESCRIPTION

.PHONY: test up install bench check lint clean images

## install: create .venv (if missing) and install the project with every extra, from uv.lock
install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml uv.lock
ifeq ($(UV),)
	python3 -m pip install --quiet "uv==$(UV_VERSION)"
endif
	uv sync --frozen --all-extras
	@touch $@

## test: install everything, then run the whole test suite (benchmarks included: they print figures, never fail on time)
test: install $(CHROMIUM)
	$(PY) -m pytest $(PYTEST_ARGS)

# Debian's Chromium for the browser tests (tests/e2e); Playwright's own browser download is not reachable.
$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive apt-get install -y chromium || \
	  (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

# Debian's R with IRkernel: the R kernel of bundles that pin IRkernel (hub/bundle_tools.py, hub/kernelspecs.py).
# A bundle whose CRAN pins this machine lacks is offered as unavailable, never started without its tools.
# About 15 s with apt's lists present.
$(IRKERNEL):
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends r-base-core r-cran-irkernel || \
	  (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends r-base-core r-cran-irkernel)

test up: $(IRKERNEL)

# Debian's readxl and openxlsx: Excel in R, the CRAN pins of bi-r-jupyter (R in JupyterLab on this machine).
R_EXCEL := /usr/lib/R/site-library/openxlsx/DESCRIPTION
$(R_EXCEL): $(IRKERNEL)
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends r-cran-readxl r-cran-openxlsx || \
	  (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends r-cran-readxl r-cran-openxlsx)

test up: $(R_EXCEL)

# The Debian packages the catalogue's bundles declare (system_packages, e.g. Java for Spark): installed when this
# runs as root with apt-get; otherwise it names what is missing and those bundles show as unavailable.
.PHONY: system-packages
system-packages: install
	$(VENV)/bin/gereedschapskist system-packages --install

test up: system-packages

## check: validate the catalogue as CI does
check: install
	$(VENV)/bin/gereedschapskist catalogue check

## images: (re)write the image definitions under images/ from the catalogue
images: install
	$(VENV)/bin/gereedschapskist images render

## bench: run the benchmarks under tests/bench and print their figures
bench: install
	GEREEDSCHAPSKIST_BENCH_ROUNDS=$${GEREEDSCHAPSKIST_BENCH_ROUNDS:-6} $(PY) -m pytest tests/bench -s $(PYTEST_ARGS)

## fuzz: the JSON API's fuzz run at its full size (make test runs it with 20 examples per operation and kind)
.PHONY: fuzz
fuzz: install
	GEREEDSCHAPSKIST_FUZZ_EXAMPLES=$${GEREEDSCHAPSKIST_FUZZ_EXAMPLES:-80} $(PY) -m pytest tests/portal/test_api_fuzz.py -s $(PYTEST_ARGS)

## screenshots: run the browser tests whose screenshots the README shows, and copy them to docs/screenshots
## (on SQLite alone: the shots are taken from the SQLite runs, docs/screenshots/SOURCES.txt)
SCREENSHOT_TESTS := tests/e2e/test_workspace_lifecycle.py tests/e2e/test_sizes_usage.py \
  tests/e2e/test_inside_workspace.py tests/e2e/test_admin_screens.py tests/e2e/test_roles_handover.py \
  tests/e2e/test_workspace_data_access.py tests/e2e/test_streaming_example.py \
  tests/e2e/test_role_examples.py tests/e2e/test_bundle_request.py tests/e2e/test_publish_app.py \
  tests/e2e/test_app_frameworks_in_browser.py
.PHONY: screenshots
screenshots: install $(CHROMIUM) node-deps
	GEREEDSCHAPSKIST_TEST_DATABASE_URL= $(PY) -m pytest -q $(SCREENSHOT_TESTS)
	grep -v '^#' docs/screenshots/SOURCES.txt | while read -r name source; do \
	  [ -z "$$name" ] || cp "tests/e2e/artifacts/$$source" "docs/screenshots/$$name" || exit 1; done

## up: start the whole workbench on this machine
up: install
	$(VENV)/bin/gereedschapskist up

clean:
	rm -rf $(VENV) .pytest_cache

## node-deps: the development OIDC provider, configurable-http-proxy and the CRD schema validators of the infra
## tests (npm ci from their lock files)
.PHONY: node-deps
node-deps: dev/oidc-provider/node_modules/.package-lock.json hub/proxy/node_modules/.package-lock.json \
  tests/infra/crd-schemas/node_modules/.package-lock.json

%/node_modules/.package-lock.json: %/package-lock.json %/package.json
	@command -v npm >/dev/null || { echo "npm is needed (Node.js 20+): apt-get install nodejs npm" >&2; exit 1; }
	cd $* && npm ci --no-audit --no-fund --loglevel=error

test up bench: node-deps
