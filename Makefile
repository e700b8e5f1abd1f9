# The commands a newcomer needs. `make run` serves the app, `make test` runs every test.
# Spin is used when it is installed (or SPIN_BIN names it); devhost otherwise. DB=libsql runs
# each service's database on a libSQL server of its own (sqld: SQLD_BIN, or on PATH).

# scripts/hosts.py is the one place that decides.
SPIN ?= $(shell python3 scripts/hosts.py spin)
DEVHOST := target/host/devhost
COMPONENTS := -p user-component -p board-component -p web-component -p probe-component
# Adds the runtime config of the databases DB chooses (scripts/databases.py), starting sqld
# first when DB=libsql.
WITH_DATABASES := scripts/with-databases
export DB REPLICAS

# A second build of each service with another build id, for the swap tests.
SWAP_TEST_BUILDS := $(foreach name,user board web,target/swap-test/$(name)_component.wasm)
# The services' next versions (feature `next`: one compatible schema change more) and user's
# version after that (feature `breaking`), for the schema-swap tests (docs/schema-changes.md).
NEXT_BUILDS := target/next/user_component.wasm target/next/board_component.wasm \
	target/breaking/user_component.wasm
SOURCES = $(shell find $(1) service-kit -name '*.rs' -o -name Cargo.toml -o -path '*/static/*') Cargo.toml

# Python tools the tests drive, pinned, in a local virtualenv.
VENV := .venv
PYTHON_TOOLS := schemathesis==4.32.5 kubernetes-validate==1.37.0 jsonschema==4.26.0 pyyaml==6.0.3 \
	opentelemetry-proto==1.38.0

.SECONDEXPANSION:
.PHONY: build toolchain components devhost run split swap status tools test bench lint fmt

# rustup installs the toolchain `rust-toolchain.toml` pins on first use, but does not add a target
# or component the file lists to a toolchain that is already there: add just what is missing.
# Not `rustup toolchain install` on a toolchain that is there: where the pinned name is a link to
# another toolchain it removes and downloads every component again, and a CI run stopped halfway
# through that left a toolchain with no rustc.
toolchain:
	@command -v rustup >/dev/null || exit 0; \
	installed="$$(rustup target list --installed && rustup component list --installed)" \
		|| { rustup toolchain install; exit; }; \
	echo "$$installed" | grep -q "^wasm32-wasip1" || rustup target add wasm32-wasip1; \
	for part in rustfmt clippy; do \
		echo "$$installed" | grep -q "^$$part" || rustup component add $$part; \
	done

## Build the wasm components (the app's three and the test probe) and devhost.
build: components devhost

# A first build compiles every dependency: say so before it starts, not after minutes of silence.
components: toolchain
	@[ -e target/wasm32-wasip1/release/user_component.wasm ] || \
		echo "First build of the components for wasm32-wasip1: about 3 minutes on 2 cores; later builds take seconds."
	cargo build --target wasm32-wasip1 --release $(COMPONENTS)

# One component built as another build into $@: $(1) its build id, $(2) more cargo options.
# The release is then built again: the two share the artifact's path.
define build_as
SERVICE_BUILD_ID=$(1) cargo build --target wasm32-wasip1 --release -p $*-component $(2)
mkdir -p $(dir $@)
cp target/wasm32-wasip1/release/$*_component.wasm $@
cargo build --target wasm32-wasip1 --release -p $*-component
endef

target/swap-test/%_component.wasm: $$(call SOURCES,$$*-component)
	$(call build_as,swap-test)

target/next/%_component.wasm: $$(call SOURCES,$$*-component)
	$(call build_as,next,--features next)

target/breaking/%_component.wasm: $$(call SOURCES,$$*-component)
	$(call build_as,breaking,--features breaking)

# devhost is built with the unit tests of every host crate, in one command: cargo picks a
# dependency's features by the crates a command selects, and a `-p devhost` build of its own picked
# others, so `make test` built wasmtime a second time (9 minutes of CI's 65). The end-to-end suites
# (`--test api`, which a plain `cargo test` leaves out) are built with the same selection for the
# same reason: `-p e2e` built 100 of their dependencies again (3.5 minutes of CI's 62).
# The test build makes devhost's binary too, as its integration tests need it.
HOST_CRATES := --workspace
export HOST_CRATES

devhost: toolchain
	@[ -e $(DEVHOST) ] || \
		echo "First build of devhost (wasmtime, natively) and the tests: about 11 minutes on 2 cores; later builds take seconds."
	cargo test --profile host $(HOST_CRATES) --no-run

## Serve the whole app on 127.0.0.1:3000 (one process, board reaches user by chaining);
## make run DB=libsql: each service's database on a libSQL server of its own.
ifneq ($(SPIN),)
run: components
	@echo "Running on Spin ($(SPIN))"
	$(WITH_DATABASES) $(SPIN) up
else
run: components devhost
	@echo "Spin is not installed: running on devhost"
	$(WITH_DATABASES) $(DEVHOST) --watch
endif

## The whole API on 127.0.0.1:3000 through a gateway (HAProxy), each service its own process;
## make split DB=libsql REPLICAS=2: each service's replicas share its libSQL server.
split: build
	scripts/split

## Rebuild one component and put it into service blue-green, the other untouched:
## make swap COMPONENT=user-component
swap:
	scripts/swap $(COMPONENT) $(if $(BUILD),--build $(BUILD))

## What serves in split mode: each service's process, port and build id.
status:
	scripts/status

## Every test: unit tests of each crate and the world check, then the end-to-end suites on
## devhost and again on Spin when it is available; fails if a process of the run is left.
test: build $(SWAP_TEST_BUILDS) $(NEXT_BUILDS) tools
	scripts/test

tools: $(VENV)/.installed

# Made again when this file changes, so a new tool reaches an existing venv.
$(VENV)/.installed: Makefile
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet $(PYTHON_TOOLS)
	touch $@

## Throughput, latency, start-up and footprint on every available host, in one run:
## bench/results/<date>.{json,md}.
bench: build
	python3 bench/run.py

## Formatting and clippy, warnings denied, on the host and on the wasm target.
# --all-targets leaves out the suites' binary, which only `--test api` selects (tests/Cargo.toml).
lint: toolchain
	cargo fmt --all --check
	cargo clippy --profile host --workspace --all-targets -- -D warnings
	cargo clippy --profile host --workspace --test api -- -D warnings
	cargo clippy --target wasm32-wasip1 --release $(COMPONENTS) -- -D warnings
	cargo clippy --target wasm32-wasip1 --release -p user-component -p board-component \
		--features user-component/breaking,board-component/next -- -D warnings

fmt:
	cargo fmt --all
