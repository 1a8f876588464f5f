# losscli — build, test, demo, benchmarks, fuzzing.
SWIFT ?= swift
RELEASE_BIN := .build/release/losscli

.PHONY: all deps build release test demo bench fuzz fixtures clean

all: build

# The one system dependency: zlib's headers. Installed on demand on Debian.
deps:
	@if [ ! -f /usr/include/zlib.h ]; then \
	  echo "zlib.h missing: installing zlib1g-dev"; \
	  apt-get update -qq && apt-get install -y -qq zlib1g-dev; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product losscli

test: deps
	$(SWIFT) build --product losscli
	$(SWIFT) test

demo: release
	$(RELEASE_BIN) inspect fixtures/demo/pred.npy fixtures/demo/target.npy fixtures/demo/weight.npy --format table
	$(RELEASE_BIN) eval --config fixtures/demo/loss.json --format table

# Side-by-side benchmarks (bench/run.py): losscli against PyTorch + MMagic and NumPy in the
# same run, ratios printed (docs/speed.md). The peer python is $$ORACLE_PYTHON or
# /tmp/oracle/venv/bin/python (made by shared/oracle/oracle-setup); without it losscli is
# timed alone. Not run by CI.
bench: release
	python3 bench/run.py

# libFuzzer over the .npy/.npz readers: builds NpyIO's sources with fuzz/NpyFuzz.swift,
# seeds the corpus with the fixtures, runs for FUZZ_SECONDS (default 300).
FUZZ_DIR := .build/fuzz
FUZZ_SECONDS ?= 300
fuzz: deps
	mkdir -p $(FUZZ_DIR)/corpus
	swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name NpyFuzz \
	  -I Sources/CZlib Sources/NpyIO/*.swift fuzz/NpyFuzz.swift -lz -o $(FUZZ_DIR)/npy-fuzz
	cp fixtures/npy/*.npy fixtures/npy/*.npz $(FUZZ_DIR)/corpus/
	$(FUZZ_DIR)/npy-fuzz -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -max_len=65536 \
	  -print_final_stats=1 $(FUZZ_DIR)/corpus

# Regenerates fixtures/npy from NumPy (needs python3 with numpy; the files are committed).
fixtures:
	python3 scripts/gen_npy_fixtures.py

clean:
	rm -rf .build
