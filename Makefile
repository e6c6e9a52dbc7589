# The two commands a new user needs:
#   make demo   sets up .venv and writes example documents from the real HMDA data
#   make test   sets up .venv and runs the test suite
# Both install the exact versions the project is tested with (requirements.lock).
#   make test-latest   runs the suite against the newest versions the registry serves (.venv-latest)
#   make lock          regenerates requirements.lock (UPGRADE=1: newest versions)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is optional for the finance path and needed by the image packs and tests.
# An installed torch is kept; otherwise this spec is installed (override for a CUDA build).
# torch is not in requirements.lock: its build (CPU or CUDA) is the user's choice.
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= test,parquet,dask,models
# constraints file of exact versions; LOCK= installs from pyproject.toml's ranges instead
LOCK ?= requirements.lock
LATEST_VENV ?= .venv-latest
DEMO_OUT ?= xai-reports-demo
# make test runs the suite in this many pytest-xdist processes, whole test files per process
# (module fixtures are built once); PYTEST_JOBS=0 runs it in one process.
PYTEST_JOBS ?= 2
PYTEST_XDIST := $(if $(filter-out 0,$(PYTEST_JOBS)),-n $(PYTEST_JOBS) --dist loadfile)

.PHONY: install demo test test-latest lock clean

$(BIN)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q $(if $(LOCK),-c $(LOCK)) -e ".[$(EXTRAS)]"
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/xai-reports demo --out $(DEMO_OUT)

# pytest exits 5 when it collects no test: reported, not hidden.
test: install
	$(BIN)/python -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

# The newest versions of every dependency (torch stays at TORCH_SPEC), in a separate venv.
test-latest:
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install -q --upgrade pip
	$(LATEST_VENV)/bin/python -c "import torch" 2>/dev/null || $(LATEST_VENV)/bin/python -m pip install -q "$(TORCH_SPEC)"
	$(LATEST_VENV)/bin/python -m pip install -q --upgrade --upgrade-strategy eager -e ".[$(EXTRAS)]"
	$(LATEST_VENV)/bin/python -m pip freeze --exclude-editable > $(LATEST_VENV)/tested-versions.txt
	@echo "versions under test: $(LATEST_VENV)/tested-versions.txt"
	$(LATEST_VENV)/bin/python -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

lock: install
	$(BIN)/python -c "import uv" 2>/dev/null || $(BIN)/python -m pip install -q uv
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python tools/lock.py --extras "$(EXTRAS)" $(if $(UPGRADE),--upgrade)

clean:
	rm -rf $(VENV) $(LATEST_VENV) $(DEMO_OUT) .pytest_cache
