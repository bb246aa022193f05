# The two commands every newcomer runs:
#   make demo    set up, build, audit the bundled example estate and ask
#                the gate about one request
#   make check   set up, build, and pass every test (also under ASan+UBSan)

BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
ifdef CI
CMAKE_FLAGS += -DAG_WERROR=ON
endif

.PHONY: all setup build demo check test asan fuzz bench clean

all: build

setup:
	@sh scripts/setup

build: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@echo "building aalgate..."
	@cmake --build $(BUILD) -j $(JOBS) --target aalgate-cli >$(BUILD)/demo-build.log 2>&1 || \
	 { cat $(BUILD)/demo-build.log; exit 1; }
	@echo
	@echo "== aalgate audit -p examples/acme/policy.yaml examples/acme/estate.yaml"
	@$(BUILD)/aalgate audit -p examples/acme/policy.yaml examples/acme/estate.yaml; \
	 code=$$?; echo; echo "(exit status $$code: 1 means findings at or above --fail-on high)"; \
	 [ $$code -le 1 ]
	@echo
	@echo "== aalgate audit ... --explain alice"
	@$(BUILD)/aalgate audit -p examples/acme/policy.yaml examples/acme/estate.yaml --explain alice || [ $$? -le 1 ]
	@echo
	@echo "== aalgate decide -p examples/acme/policy.yaml --format text examples/acme/request-payroll.json"
	@echo "   (the gate's answer to bob changing bank details after a password and a one-time code)"
	@$(BUILD)/aalgate decide -p examples/acme/policy.yaml --format text examples/acme/request-payroll.json || [ $$? -le 1 ]

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

asan: setup
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DAG_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

fuzz: setup
	@sh tests/fuzz/run.sh $(or $(FUZZ_SECONDS),60)

check: test asan
	@echo "make check: all tests passed (release and ASan+UBSan builds)"

bench: build
	@sh scripts/setup --bench
	@sh bench/audit-scale
	@sh bench/keycloak-scale
	@sh bench/decide
	@sh bench/verify
	@sh bench/forward-auth
	@sh bench/watch

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
