# Set-up and the two jobs a new user runs:
#   make demo   - installs everything (venv, PyTorch CPU build, Fashion-MNIST) and runs the main job
#   make test   - installs everything and runs lint + the test suite
# GPU users: keep your own PyTorch build with `make test TORCH_SPEC=` (empty: no torch install).
# INTEROP=1 (default) also installs SpikingJelly, snnTorch, Norse and tonic for tests/interop,
# without their torch requirements (requirements/interop*.txt); INTEROP=0 skips them (those
# tests then skip with a message).

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
INTEROP ?= 1
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stablespike-installed
SUDO := $(shell [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null && echo sudo)
FMNIST_DIR := /usr/share/datasets/fashion-mnist

.PHONY: demo test lint format bench data clean interop

$(STAMP): pyproject.toml requirements/interop.txt requirements/interop-deps.txt
	$(PYTHON) -m venv $(VENV)
	@if [ -n "$(TORCH_SPEC)" ]; then $(PY) -m pip install -q "$(TORCH_SPEC)"; fi
	$(PY) -m pip install -q -e ".[test,plots]"
	@if [ "$(INTEROP)" = 1 ]; then $(MAKE) --no-print-directory interop; fi
	touch $(STAMP)

# the peer packages without their torch/torchvision requirements (a second torch must not come in)
interop:
	$(PY) -m pip install -q -r requirements/interop-deps.txt
	$(PY) -m pip install -q --no-deps -r requirements/interop.txt

data:
	@if [ ! -d $(FMNIST_DIR) ]; then \
	  ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q dataset-fashion-mnist) \
	  || echo "apt could not install dataset-fashion-mnist: stablespike will download it"; \
	fi

demo: $(STAMP) data
	$(VENV)/bin/stablespike train

test: $(STAMP) data
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy
	$(PY) -m pytest -q

bench: $(STAMP)
	$(VENV)/bin/stablespike bench

format: $(STAMP)
	$(VENV)/bin/ruff check --fix src tests benchmarks
	$(VENV)/bin/ruff format src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
