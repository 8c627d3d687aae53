# Thin targets that call the tools (DESIGN §1). `make reproduce` and `make test` each create
# the environment first if it is missing, on a fresh clone with only the system Python.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= default
CORES ?= all
# Tests run with their own cache and results folders so they never touch results/.
# TEST_WORKERS: pytest-xdist processes (one test file, or one notebook's cells, per process);
# TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
XDIST := $(if $(filter 0,$(TEST_WORKERS)),,-p xdist -n $(TEST_WORKERS) --dist loadfile)
TEST_TMP ?= $(CURDIR)/.cache/test-run
TEST_ENV := REPROLIB_CACHE=$(TEST_TMP)/cache REPROLIB_RESULTS=$(TEST_TMP)/results \
	REPROLIB_EXECUTED=$(TEST_TMP)/executed REPROLIB_OFFLINE=1 REPROLIB_PROGRESS=0 \
	MPLBACKEND=Agg

# Profiles that `make reproduce` knows: those with a params file for the comparison notebook.
PROFILES := $(sort $(basename $(notdir $(wildcard params/99_comparison/*.yaml))))

.PHONY: setup reproduce check-profile notebook test test-browser browser-deps nb-normalise lint \
	clean clean-cache

# An unknown PROFILE stops before anything is installed or run, and lists the known ones.
check-profile:
	@test -f params/99_comparison/$(PROFILE).yaml || { echo "make: unknown profile \
'$(PROFILE)'; profiles that exist: $(PROFILES) (each is a params/<notebook>/<profile>.yaml)" >&2; \
	exit 2; }

setup: $(VENV)/.installed

# torch is installed first as the registry's standard build: the local "+cpu" file breaks
# `import torchvision`, and an unpinned torchvision would pull a newer torch.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==2.13.0,!=2.13.0+cpu" "torchvision==0.28.0"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

# FORCE=1 reruns every notebook job even when nothing changed (trained models still come from
# the model cache under .cache/models; delete a method's folder there to retrain it).
reproduce: check-profile setup
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH MPLBACKEND=Agg \
		$(VENV)/bin/snakemake --cores $(CORES) --keep-going --quiet host rules \
		--config profile=$(PROFILE) \
		$(if $(FORCE),--forceall,)

# One notebook under one profile: make notebook NB=heteroae_t1_sota PROFILE=smoke
notebook: setup
	@test -n "$(NB)" || { echo "make notebook: expected NB=<notebook stem>, e.g. NB=reference_t0_conv_ae" >&2; exit 2; }
	@test -f notebooks/$(NB).ipynb || { echo "make notebook: no notebooks/$(NB).ipynb; found: $$(ls notebooks | sed 's/.ipynb//' | tr '\n' ' ')" >&2; exit 2; }
	@test -f params/$(NB)/$(PROFILE).yaml || { echo "make notebook: no params file params/$(NB)/$(PROFILE).yaml; profiles of $(NB): $$(ls params/$(NB) 2>/dev/null | sed 's/.yaml//' | tr '\n' ' ')" >&2; exit 2; }
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH MPLBACKEND=Agg $(PY) tools/run_notebook.py $(NB) $(PROFILE)

test: setup
	$(VENV)/bin/ruff check .
	rm -rf $(TEST_TMP)
	$(TEST_ENV) PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 $(PY) -m pytest -q $(XDIST) tests
	$(TEST_ENV) PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 $(PY) -m pytest -q -p nbval --nbval-lax $(XDIST) \
		$(TEST_TMP)/executed/smoke

# 00_datasets' widget browser in a real JupyterLab and headless Chromium (tests/browser, issue 16):
# ~1 min once Debian's chromium and chromium-driver are installed (browser-deps, ~30 s, root).
BROWSER_SHOTS ?= $(CURDIR)/.cache/test-browser/screenshots
test-browser: setup
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || $(MAKE) browser-deps
	rm -rf $(TEST_TMP)-browser
	REPROLIB_CACHE=$(TEST_TMP)-browser/cache REPROLIB_RESULTS=$(TEST_TMP)-browser/results \
		REPROLIB_EXECUTED=$(TEST_TMP)-browser/executed REPROLIB_OFFLINE=1 REPROLIB_PROGRESS=0 \
		REPROLIB_BROWSER_SHOTS=$(BROWSER_SHOTS) PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 \
		$(PY) -m pytest -q -rP -m browser tests/browser

browser-deps:
	@test "$$(id -u)" = 0 || { echo "browser-deps: expected root to apt-get install chromium chromium-driver; run: sudo apt-get install -y chromium chromium-driver" >&2; exit 2; }
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver

# Give notebooks/ the metadata JupyterLab writes (after editing notebooks with other tools).
nb-normalise: setup
	$(PY) tools/nb_normalise.py

lint: setup
	$(VENV)/bin/ruff check .

# Executed notebooks, run markers and the test folders; the model cache (.cache/models, .cache/
# phantoms) stays, since retraining takes most of a run: `make clean-cache` removes it too.
clean:
	rm -rf $(TEST_TMP) results/executed .snakemake

clean-cache: clean
	rm -rf .cache
