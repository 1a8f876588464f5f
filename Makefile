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
	$(RELEASE_BIN) inspect fixtures/demo/pred.npy fixtures/demo/target.npy --format table

clean:
	rm -rf .build
