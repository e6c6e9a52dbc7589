# The two commands a new user needs:
#   make demo   sets up .venv and writes example documents from the real HMDA data
#   make test   sets up .venv and runs the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is optional for the finance path and needed by the image packs and tests.
# An installed torch is kept; otherwise this spec is installed (override for a CUDA build).
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= test,parquet,dask
DEMO_OUT ?= xai-reports-demo

.PHONY: install demo test clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/xai-reports demo --out $(DEMO_OUT)

# pytest exits 5 when it collects no test: reported, not hidden.
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
