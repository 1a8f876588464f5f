# losscli — build, test, demo, benchmarks, fuzzing.
SWIFT ?= swift
RELEASE_BIN := .build/release/losscli

.PHONY: all deps build release test demo bench fuzz fuzz-npy fuzz-pickle fuzz-zip fuzz-legacy fuzz-safetensors fuzz-input fuzz-config fixtures clean

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

# libFuzzer + ASan, one target per reader, each run for FUZZ_SECONDS (default 300):
#   fuzz-npy     the .npy/.npz readers on bytes in memory (fuzz/NpyFuzz.swift), seeded with fixtures/npy;
#   fuzz-pickle  the symbolic pickle reader and the tensor flattening (fuzz/WeightFuzz.swift), seeded with
#                fixtures/pickle's cases and the pickles of fixtures/torch;
#   fuzz-zip     ZIP archives as torch.save / TorchScript files (WeightFuzz.swift), seeded with fixtures/torch;
#   fuzz-legacy  torch.save's legacy raw stream (WeightFuzz.swift), seeded with fixtures/torch's legacy files;
#   fuzz-safetensors  the safetensors reader on bytes in memory (fuzz/SafetensorsFuzz.swift), what it accepts
#                re-checked (arrays tile the data), seeded with fixtures/safetensors, tokens from fuzz/safetensors.dict;
#   fuzz-input   the command line's input path (fuzz/InputFuzz.swift): each input a file on disk, memory-mapped,
#                regular-file check, every archive member, in-place or converted as eval reads it;
#   fuzz-config  the config parser and program builder (fuzz/ConfigFuzz.swift), evaluating what builds on small
#                tensors, seeded with the repository's configs, tokens from fuzz/config.dict.
# NpyIO and LossKit sources are compiled with the harness into one module (swiftc), CFault with clang.
FUZZ_DIR := .build/fuzz
FUZZ_SECONDS ?= 300
FUZZ_FLAGS = -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -print_final_stats=1
FUZZ_SWIFT = swiftc -sanitize=fuzzer,address -parse-as-library -O -I Sources/CFault/include -I Sources/CZlib
FUZZ_CC = clang -c -O1 -fsanitize=fuzzer-no-link,address -I Sources/CFault/include
FUZZ_C = $(FUZZ_DIR)/cfault.o $(FUZZ_DIR)/cfault-cpu.o

fuzz: fuzz-npy fuzz-pickle fuzz-zip fuzz-legacy fuzz-safetensors fuzz-input fuzz-config

$(FUZZ_DIR)/cfault.o: Sources/CFault/fault.c Sources/CFault/include/cfault.h
	mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) Sources/CFault/fault.c -o $@

# Without LOSSCLI_REQUIRE_AVX2 (the harnesses are not built for haswell): no start-up check.
$(FUZZ_DIR)/cfault-cpu.o: Sources/CFault/cpu.c Sources/CFault/include/cfault.h
	mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) Sources/CFault/cpu.c -o $@

fuzz-npy: deps $(FUZZ_C)
	mkdir -p $(FUZZ_DIR)/corpus
	$(FUZZ_SWIFT) -module-name NpyFuzz Sources/NpyIO/*.swift fuzz/NpyFuzz.swift $(FUZZ_C) -lz -o $(FUZZ_DIR)/npy-fuzz
	cp fixtures/npy/*.npy fixtures/npy/*.npz $(FUZZ_DIR)/corpus/
	$(FUZZ_DIR)/npy-fuzz $(FUZZ_FLAGS) -max_len=65536 $(FUZZ_DIR)/corpus

fuzz-pickle: deps $(FUZZ_C)
	mkdir -p $(FUZZ_DIR)/pickle-corpus
	$(FUZZ_SWIFT) -module-name PickleFuzz -D FUZZ_PICKLE Sources/NpyIO/*.swift fuzz/WeightFuzz.swift $(FUZZ_C) -lz -o $(FUZZ_DIR)/pickle-fuzz
	python3 -c 'import json,sys; [open(sys.argv[1] + "/" + c["name"], "wb").write(bytes.fromhex(c["hex"])) for c in json.load(open("fixtures/pickle/cases.json"))["cases"]]' $(FUZZ_DIR)/pickle-corpus
	for f in fixtures/torch/*.pth fixtures/torch/*.pt; do unzip -p $$f '*/data.pkl' > $(FUZZ_DIR)/pickle-corpus/$$(basename $$f).pkl 2>/dev/null || true; done
	$(FUZZ_DIR)/pickle-fuzz $(FUZZ_FLAGS) -max_len=16384 $(FUZZ_DIR)/pickle-corpus

fuzz-zip: deps $(FUZZ_C)
	mkdir -p $(FUZZ_DIR)/zip-corpus
	$(FUZZ_SWIFT) -module-name ZipFuzz -D FUZZ_ZIP Sources/NpyIO/*.swift fuzz/WeightFuzz.swift $(FUZZ_C) -lz -o $(FUZZ_DIR)/zip-fuzz
	cp fixtures/torch/*.pth fixtures/torch/*.pt fixtures/npy/*.npz $(FUZZ_DIR)/zip-corpus/
	$(FUZZ_DIR)/zip-fuzz $(FUZZ_FLAGS) -max_len=65536 $(FUZZ_DIR)/zip-corpus

fuzz-legacy: deps $(FUZZ_C)
	mkdir -p $(FUZZ_DIR)/legacy-corpus
	$(FUZZ_SWIFT) -module-name LegacyFuzz -D FUZZ_LEGACY Sources/NpyIO/*.swift fuzz/WeightFuzz.swift $(FUZZ_C) -lz -o $(FUZZ_DIR)/legacy-fuzz
	cp fixtures/torch/*legacy*.pth fixtures/torch/evil_beside.pth $(FUZZ_DIR)/legacy-corpus/
	$(FUZZ_DIR)/legacy-fuzz $(FUZZ_FLAGS) -max_len=16384 $(FUZZ_DIR)/legacy-corpus

fuzz-safetensors: deps $(FUZZ_C)
	mkdir -p $(FUZZ_DIR)/safetensors-corpus
	$(FUZZ_SWIFT) -module-name SafetensorsFuzz Sources/NpyIO/*.swift fuzz/SafetensorsFuzz.swift $(FUZZ_C) -lz -o $(FUZZ_DIR)/safetensors-fuzz
	cp fixtures/safetensors/*.safetensors $(FUZZ_DIR)/safetensors-corpus/
	$(FUZZ_DIR)/safetensors-fuzz $(FUZZ_FLAGS) -max_len=65536 -dict=fuzz/safetensors.dict $(FUZZ_DIR)/safetensors-corpus

fuzz-input: deps $(FUZZ_C)
	mkdir -p $(FUZZ_DIR)/input-corpus
	$(FUZZ_SWIFT) -module-name InputFuzz Sources/NpyIO/*.swift fuzz/InputFuzz.swift $(FUZZ_C) -lz -o $(FUZZ_DIR)/input-fuzz
	cp fixtures/npy/*.npy fixtures/npy/*.npz fixtures/cli/*.npz fixtures/torch/*.pth $(FUZZ_DIR)/input-corpus/
	$(FUZZ_DIR)/input-fuzz $(FUZZ_FLAGS) -max_len=65536 $(FUZZ_DIR)/input-corpus

fuzz-config: $(FUZZ_C)
	mkdir -p $(FUZZ_DIR)/config-corpus
	$(FUZZ_SWIFT) -module-name ConfigFuzz $$(find Sources/LossKit -name '*.swift') fuzz/ConfigFuzz.swift $(FUZZ_C) -o $(FUZZ_DIR)/config-fuzz
	cp fixtures/cli/*.json fixtures/demo/loss.json fixtures/accept/pixel.json fixtures/accept/gan.json fixtures/accept/composition.json \
	  fixtures/accept/transferal.json fixtures/accept/disc_shift.json $(FUZZ_DIR)/config-corpus/
	$(FUZZ_DIR)/config-fuzz $(FUZZ_FLAGS) -max_len=8192 -dict=fuzz/config.dict $(FUZZ_DIR)/config-corpus

# Regenerates fixtures/npy from NumPy (needs python3 with numpy; the files are committed).
fixtures:
	python3 scripts/gen_npy_fixtures.py

clean:
	rm -rf .build
