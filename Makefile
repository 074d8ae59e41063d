# Two commands do all set-up: `make book` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
PORT   ?= 8000

.PHONY: book pdf test test-site test-gpu serve clean student practice benchmark

# The course environment, created when missing and refreshed when its recipe changes.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

# Notebooks run first, several at a time, into Jupyter Book's cache (tools/execute_book.py;
# JOBS=1 for one at a time); the build then only renders.
JOBS ?= auto
book: $(STAMP)  ## build the website into _build/html, every notebook executed
	$(BIN)/python tools/execute_book.py --jobs $(JOBS)
	$(BIN)/jupyter-book build . -W -n --keep-going
	$(BIN)/python tools/check_site.py _build/html
	@echo "The book is in _build/html: open _build/html/index.html, or run 'make serve'."

# The whole book as one PDF, offline: the one-page site (singlehtml; it reuses make book's
# execution cache, so with a warm cache no notebook runs again), printed by chromium with a title
# page, a table of contents with page numbers, numbered chapters and each explorer's first frame
# (tools/pdf.py, book/_vendor/print/; CHROMIUM=path to use another browser). Warnings are make
# book's business (-W there); here they are printed and the PDF is still made.
pdf: $(STAMP)  ## the whole book as one PDF: _build/pdf/book.pdf
	$(BIN)/jupyter-book build . --builder singlehtml -n --keep-going
	$(BIN)/python tools/pdf.py --site _build/singlehtml --out _build/pdf/book.pdf

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

# The student versions that the website's practice pages download and open on Colab and Binder;
# committed; tests/test_practice_folder.py fails when they differ from what exercises/ gives.
practice: $(STAMP)  ## after changing exercises/: regenerate practice/, their student versions (commit it)
	$(BIN)/python -m mednotes.course student exercises/ --out practice/ --force

benchmark: $(STAMP)  ## speed ratios against torch's own ops and MONAI's U-Net; training time to quality
	$(BIN)/python benchmarks/conv.py
	$(BIN)/python benchmarks/pooling.py
	$(BIN)/python benchmarks/nets.py
	$(BIN)/python benchmarks/train.py
	$(BIN)/python benchmarks/widgets.py

clean: ## remove the built site and caches (keeps .venv)
	rm -rf _build .pytest_cache
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
