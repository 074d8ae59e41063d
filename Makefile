# Two commands do all set-up: `make book` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
PORT   ?= 8000

.PHONY: book test test-site test-gpu serve clean student benchmark

# The course environment, created when missing and refreshed when its recipe changes.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

book: $(STAMP)  ## build the website into _build/html, every notebook executed
	$(BIN)/jupyter-book build . -W -n --keep-going
	$(BIN)/python tools/check_site.py _build/html
	@echo "The book is in _build/html: open _build/html/index.html, or run 'make serve'."

test: $(STAMP)  ## library tests, doctests, nbval over exercises/, every book notebook executed
	$(BIN)/python tests/_torchvision_models.py  # torchvision's model code: the ResNet reference (never pip-installed; see the file)
	$(BIN)/python -m pytest

# The built site in a real browser (Debian's chromium; CHROMIUM=path to use another; SITE=path for
# another build). The project's default pytest options (doctests, nbval) are for `make test`.
test-site: $(STAMP)  ## after make book: every page in chromium (console, math, images, twins, search, overflow, axe)
	$(BIN)/python -m pytest tests/site -p no:cacheprovider -o addopts="-ra --strict-markers"

# A CUDA machine with torch preinstalled can use its own Python: make test-gpu GPU_PYTHON=python3
GPU_PYTHON ?= $(BIN)/python
test-gpu: $(if $(filter $(BIN)/python,$(GPU_PYTHON)),$(STAMP))  ## on a GPU: gpu tests, CPU/CUDA parity, AMP fit+resume, NCCL torchrun, quick benchmarks
	$(GPU_PYTHON) tools/test_gpu.py

serve: ## serve the built site on http://localhost:$(PORT)
	@test -f _build/html/index.html || { echo "No site yet: run 'make book' first."; exit 1; }
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

student: $(STAMP)  ## write student versions of the exercises into student/
	$(BIN)/python -m mednotes.course student exercises/ --out student/

benchmark: $(STAMP)  ## speed ratios against torch's own ops and MONAI's U-Net; training time to quality
	$(BIN)/python benchmarks/conv.py
	$(BIN)/python benchmarks/pooling.py
	$(BIN)/python benchmarks/nets.py
	$(BIN)/python benchmarks/train.py

clean: ## remove the built site and caches (keeps .venv)
	rm -rf _build .pytest_cache
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
