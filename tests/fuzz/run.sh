#!/bin/sh
# Builds the libFuzzer targets with clang and runs each for SECONDS seconds.
#
#   sh tests/fuzz/run.sh [SECONDS]      (default 60; run from anywhere)
#
# Targets: fuzz_policy (ag_policy_load_buffer), fuzz_estate (estate
# loader, resolver, audit and the text/JSON/SARIF reports against a fixed
# policy) and fuzz_aws (the AWS credential report importer; its corpus,
# build-fuzz/corpus-aws, is seeded from tests/data/aws and, when present,
# ../shared/data/aws-credential-report) and fuzz_keycloak (the Keycloak
# importer, then the audit; its corpus, build-fuzz/corpus-keycloak, is
# seeded from tests/data/keycloak and, when present,
# ../shared/data/keycloak).  A target uses
# tests/fuzz/NAME.dict for fuzz_NAME when that file exists, otherwise
# tests/fuzz/yaml.dict.  The build goes to build-fuzz/ in the project
# root; the corpora grow in build-fuzz/corpus-{policy,estate} and are
# seeded from tests/fuzz/seeds, examples/, tests/e2e/ and tests/bad/,
# plus the Keycloak exports in ../shared/data/keycloak when that folder exists (copied into
# build-fuzz only).  Crashes, leaks, timeouts and out-of-memory inputs are
# written to build-fuzz/artifacts/TARGET/ and make the script exit 1.
#
# fuzz_jwt feeds each input as a token to the verifier (and to the claims
# reader); its corpus, build-fuzz/corpus-jwt, is seeded from
# tests/fuzz/seeds-jwt.  fuzz_jwks feeds it to the JWK set parser; its
# corpus, build-fuzz/corpus-jwks, is seeded from tests/fuzz/seeds-jwks.
# fuzz_decide feeds it to the decision API's request parser, then decides
# and renders the answer and the log record; its corpus,
# build-fuzz/corpus-decide, is seeded from tests/fuzz/seeds-decide.
# fuzz_recover feeds it to the recovery request parser, then resolves
# and checks it; its corpus, build-fuzz/corpus-recover, is seeded from
# tests/fuzz/seeds-recover.  fuzz_sinks feeds it to the sinks' cursor
# parser and their log reader (a head, a cursor line, then the log; see
# fuzz_sinks.c); its corpus, build-fuzz/corpus-sinks, is seeded from
# tests/fuzz/seeds-sinks.  fuzz_pam feeds it to the PAM socket's request
# parser and to the module's answer parser; its corpus, build-fuzz/corpus-pam, is seeded from
# tests/fuzz/seeds-pam.  fuzz_helpdesk feeds it to the help-desk reset
# request parser (without and with a store) and to the govern HTTP path
# segment decoder; its corpus, build-fuzz/corpus-helpdesk, is seeded from
# tests/fuzz/seeds-helpdesk.  fuzz_inventory feeds it to the machine-
# identity inventory loaders in every format; its corpus,
# build-fuzz/corpus-inventory, is seeded from tests/fuzz/seeds-inventory,
# tests/data/aws, tests/data/keycloak and, when present, the AWS reports
# and Keycloak exports of ../shared/data.  fuzz_watch feeds it to the
# event readers (byte 0 picks the source, byte 1 a feed size; see
# fuzz_watch.c); its corpus, build-fuzz/corpus-watch, is seeded from
# tests/data/watch, tests/fuzz/seeds-dlog and, when present,
# ../shared/data/events, each read by the automatic source.  fuzz_dpop
# feeds it as a DPoP proof to the proof checker; its corpus,
# build-fuzz/corpus-dpop, is seeded from tests/fuzz/seeds-dpop.
#
# Environment: CC (default clang), JOBS (build parallelism, default 2),
# FUZZ_BUILD (the build directory, relative to the project root; default
# build-fuzz, which the paths above name),
# FUZZ_TARGETS (default "fuzz_policy fuzz_estate fuzz_aws fuzz_keycloak fuzz_dlog fuzz_jwt fuzz_jwks fuzz_decide fuzz_recover fuzz_sinks fuzz_pam fuzz_helpdesk fuzz_inventory fuzz_watch fuzz_dpop").
set -eu

secs=${1:-60}
case $secs in
'' | *[!0-9]*)
	echo "usage: $0 [SECONDS]" >&2
	exit 2
	;;
esac

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
build=${FUZZ_BUILD:-build-fuzz}
cc=${CC:-clang}
targets=${FUZZ_TARGETS:-"fuzz_policy fuzz_estate fuzz_aws fuzz_keycloak fuzz_dlog fuzz_jwt fuzz_jwks fuzz_decide fuzz_recover fuzz_sinks fuzz_pam fuzz_helpdesk fuzz_inventory fuzz_watch fuzz_dpop"}

if ! command -v "$cc" >/dev/null 2>&1; then
	echo "fuzz: '$cc' not found; libFuzzer needs clang" >&2
	exit 2
fi

cmake -S . -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Debug \
	-DAG_FUZZ=ON \
	-DCMAKE_C_FLAGS='-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1' \
	>/dev/null
# shellcheck disable=SC2086
cmake --build "$build" -j"${JOBS:-2}" --target $targets

max_seed=1048576

# add_seed FILE: copies FILE (at most 1 MiB) into both corpora under the
# hash of its content, as libFuzzer names its own inputs.
add_seed() {
	size=$(wc -c <"$1")
	if [ "$size" -gt "$max_seed" ]; then
		echo "fuzz: skipping $1 ($size bytes, over 1 MiB)"
		return 0
	fi
	sum=$(sha1sum <"$1" | cut -d' ' -f1)
	for t in policy estate; do
		cp "$1" "$build/corpus-$t/$sum"
	done
	nseeds=$((nseeds + 1))
}

mkdir -p "$build/corpus-policy" "$build/corpus-estate"
nseeds=0
list=$build/seed-files.txt
{
	find tests/fuzz/seeds -type f
	for d in examples tests/e2e tests/bad; do
		[ -d "$d" ] && find "$d" -type f \( -name '*.yaml' -o -name '*.yml' \)
	done
} | sort >"$list"
while IFS= read -r f; do
	add_seed "$f"
done <"$list"
echo "fuzz: $nseeds seed files from the project"

kc=../shared/data/keycloak
if [ -d "$kc" ]; then
	n0=$nseeds
	find "$kc" -type f -name '*.json' | sort >"$list"
	while IFS= read -r f; do
		add_seed "$f"
	done <"$list"
	echo "fuzz: $((nseeds - n0)) Keycloak exports from $kc"
else
	echo "fuzz: $kc not found; running without the Keycloak seeds"
fi

# The AWS importer's corpus: CSV reports only.
aws_dir=../shared/data/aws-credential-report
mkdir -p "$build/corpus-aws"
{
	find tests/data/aws -type f -name '*.csv'
	[ -d "$aws_dir" ] && find "$aws_dir" -type f -name '*.csv'
} | sort >"$list"
naws=0
while IFS= read -r f; do
	cp "$f" "$build/corpus-aws/$(sha1sum <"$f" | cut -d' ' -f1)"
	naws=$((naws + 1))
done <"$list"
[ -d "$aws_dir" ] || echo "fuzz: $aws_dir not found; running without the real AWS reports"
echo "fuzz: $naws AWS credential reports for fuzz_aws"

# The Keycloak importer's corpus: realm exports only.
mkdir -p "$build/corpus-keycloak"
{
	find tests/data/keycloak -type f -name realm.json
	[ -d "$kc" ] && find "$kc" -type f -name '*.json'
} | sort >"$list"
nkc=0
while IFS= read -r f; do
	[ "$(wc -c <"$f")" -gt "$max_seed" ] && continue
	cp "$f" "$build/corpus-keycloak/$(sha1sum <"$f" | cut -d' ' -f1)"
	nkc=$((nkc + 1))
done <"$list"
echo "fuzz: $nkc Keycloak realm exports for fuzz_keycloak"

# The inventory loaders' corpus: the generic forms, and the AWS reports
# and Keycloak exports they also read.
mkdir -p "$build/corpus-inventory"
{
	find tests/fuzz/seeds-inventory -type f
	find tests/data/aws -type f -name '*.csv'
	find tests/data/keycloak -type f -name realm.json
	[ -d "$aws_dir" ] && find "$aws_dir" -type f -name '*.csv'
	[ -d "$kc" ] && find "$kc" -type f -name '*.json'
} | sort >"$list"
ninv=0
while IFS= read -r f; do
	[ "$(wc -c <"$f")" -gt "$max_seed" ] && continue
	cp "$f" "$build/corpus-inventory/$(sha1sum <"$f" | cut -d' ' -f1)"
	ninv=$((ninv + 1))
done <"$list"
echo "fuzz: $ninv inventories for fuzz_inventory"

# The event readers' corpus: event files behind the two bytes fuzz_watch
# reads first (source 0, auto; feeds of 7 bytes).
mkdir -p "$build/corpus-watch"
ev_dir=../shared/data/events
{
	find tests/data/watch tests/fuzz/seeds-dlog -type f
	[ -d "$ev_dir" ] && find "$ev_dir" -type f ! -name SOURCES.tsv
} | sort >"$list"
nwatch=0
while IFS= read -r f; do
	[ "$(wc -c <"$f")" -gt "$max_seed" ] && continue
	seed=$build/corpus-watch/seed
	{ printf '\000\007'; cat "$f"; } >"$seed"
	mv "$seed" "$build/corpus-watch/$(sha1sum <"$seed" | cut -d' ' -f1)"
	nwatch=$((nwatch + 1))
done <"$list"
[ -d "$ev_dir" ] || echo "fuzz: $ev_dir not found; running without the real event samples"
echo "fuzz: $nwatch event files for fuzz_watch"

# The decision log verifier's corpus: small logs, some with a head file
# (an input starting with 'H' carries FILE.head up to its first newline;
# see fuzz_dlog.c).
mkdir -p "$build/corpus-dlog"
find tests/fuzz/seeds-dlog -type f | sort >"$list"
ndlog=0
while IFS= read -r f; do
	cp "$f" "$build/corpus-dlog/$(sha1sum <"$f" | cut -d' ' -f1)"
	ndlog=$((ndlog + 1))
done <"$list"
echo "fuzz: $ndlog decision logs for fuzz_dlog"

# The token verifier's corpora (tokens, JWK sets), the decision API's,
# the recovery check's and the help desk's (request bodies), the sinks'
# and the PAM socket's (request lines).
for kind in jwt jwks decide recover sinks pam helpdesk dpop; do
	mkdir -p "$build/corpus-$kind"
	find "tests/fuzz/seeds-$kind" -type f | sort >"$list"
	nk=0
	while IFS= read -r f; do
		cp "$f" "$build/corpus-$kind/$(sha1sum <"$f" | cut -d' ' -f1)"
		nk=$((nk + 1))
	done <"$list"
	echo "fuzz: $nk seeds for fuzz_$kind"
done
rm -f "$list"

status=0
for t in $targets; do
	case $t in
	fuzz_policy) corpus=$build/corpus-policy ;;
	fuzz_estate) corpus=$build/corpus-estate ;;
	fuzz_aws) corpus=$build/corpus-aws ;;
	fuzz_keycloak) corpus=$build/corpus-keycloak ;;
	fuzz_dlog) corpus=$build/corpus-dlog ;;
	fuzz_jwt) corpus=$build/corpus-jwt ;;
	fuzz_jwks) corpus=$build/corpus-jwks ;;
	fuzz_decide) corpus=$build/corpus-decide ;;
	fuzz_recover) corpus=$build/corpus-recover ;;
	fuzz_sinks) corpus=$build/corpus-sinks ;;
	fuzz_pam) corpus=$build/corpus-pam ;;
	fuzz_helpdesk) corpus=$build/corpus-helpdesk ;;
	fuzz_inventory) corpus=$build/corpus-inventory ;;
	fuzz_watch) corpus=$build/corpus-watch ;;
	fuzz_dpop) corpus=$build/corpus-dpop ;;
	*) corpus=$build/corpus-$t && mkdir -p "$corpus" ;;
	esac
	art=$build/artifacts/$t
	dict=tests/fuzz/yaml.dict
	[ -f "tests/fuzz/${t#fuzz_}.dict" ] && dict=tests/fuzz/${t#fuzz_}.dict
	log=$build/$t.log
	mkdir -p "$art"
	echo "fuzz: running $t for ${secs}s (log: $log)"
	rc=0
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
		"$build/tests/fuzz/$t" \
		-max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 \
		-timeout=10 -dict="$dict" \
		-artifact_prefix="$art/" -print_final_stats=1 \
		"$corpus" >"$log" 2>&1 || rc=$?
	grep -E '^(INFO: seed corpus|#[0-9]+[[:space:]]+(INITED|DONE)|stat::number_of_executed_units|stat::peak_rss_mb|Done [0-9]+ runs)' "$log" || true
	if [ "$rc" -ne 0 ]; then
		status=1
		echo "fuzz: $t FAILED (exit $rc)" >&2
		grep -E '^==[0-9]+==ERROR|^SUMMARY|runtime error|ALARM|out-of-memory|leak' "$log" | head -20 >&2 || true
		repro=$(sed -n 's/.*Test unit written to \([^ ]*\).*/\1/p' "$log" | tail -1)
		if [ -n "$repro" ]; then
			echo "fuzz: reproducer: $repro" >&2
			echo "fuzz: replay with: $build/tests/fuzz/$t $repro" >&2
		else
			echo "fuzz: no reproducer written; see $log" >&2
		fi
	else
		echo "fuzz: $t: no crash, leak or timeout in ${secs}s"
	fi
done
exit $status
