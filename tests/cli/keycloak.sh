#!/bin/sh
# keycloak.sh AALGATE PROJECT_SOURCE_DIR
# The hand-checked Keycloak cases in tests/data/keycloak/NN-name/: each
# realm.json is audited with
#   aalgate audit -q -p POLICY --format json --fail-on high \
#     --as-of 2025-06-01 [--mapping mapping.yaml] --keycloak realm.json
# from the case's folder (POLICY: the case's policy.yaml, else
# tests/data/keycloak/policy.yaml), and the report compared with the
# case's expected.json by the e2e checker (format at the top of
# tests/e2e/check.c).  The same export then goes through
# 'aalgate import keycloak' into an estate file, whose audit must meet the
# same expectations.  A case with expected-error.txt must instead exit 2
# with exactly that on standard error.
set -u
aalgate=$1 src=$2
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac
data=$src/tests/data/keycloak

# The checker is built beside the binary (build/tests/e2e-check).
check=$(dirname "$aalgate")/tests/e2e-check
if [ ! -x "$check" ]; then
	check=$(find "$(dirname "$aalgate")" -name e2e-check -type f 2>/dev/null | head -n 1)
fi
if [ -z "$check" ] || [ ! -x "$check" ]; then
	echo "FAIL keycloak: e2e-check not found beside $aalgate"
	exit 1
fi

out=$(mktemp) || exit 2
err=$(mktemp) || exit 2
estate=$(mktemp) || exit 2
trap 'rm -f "$out" "$err" "$estate"' EXIT

failures=0 n=0
for dir in "$data"/*/; do
	dir=${dir%/}
	[ -f "$dir/realm.json" ] || continue
	name=$(basename "$dir")
	n=$((n + 1))
	policy=$dir/policy.yaml
	[ -f "$policy" ] || policy=$data/policy.yaml
	mapping=
	[ -f "$dir/mapping.yaml" ] && mapping=mapping.yaml
	set -- -q -p "$policy" --format json --fail-on high --as-of 2025-06-01
	[ -n "$mapping" ] && set -- "$@" --mapping "$mapping"
	(cd "$dir" && "$aalgate" audit "$@" --keycloak realm.json) >"$out" 2>"$err"
	code=$?
	if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' "$err"; then
		echo "FAIL $name: sanitizer report:"
		cat "$err"
		failures=$((failures + 1))
		continue
	fi
	if [ -f "$dir/expected-error.txt" ]; then
		if [ "$code" -ne 2 ]; then
			echo "FAIL $name: expected exit 2, got $code"
			cat "$err"
			failures=$((failures + 1))
		elif ! diff -u "$dir/expected-error.txt" "$err" >/dev/null; then
			echo "FAIL $name: the message differs:"
			diff -u "$dir/expected-error.txt" "$err"
			failures=$((failures + 1))
		else
			echo "ok $name (exit 2: $(cat "$err"))"
		fi
		continue
	fi
	if [ "$code" -eq 2 ]; then
		echo "FAIL $name: aalgate exited 2:"
		cat "$err"
		failures=$((failures + 1))
		continue
	fi
	if ! "$check" "$dir/expected.json" "$out" "$code"; then
		echo "FAIL $name"
		failures=$((failures + 1))
		continue
	fi
	# Through an estate file.
	set -- -p "$policy" -o "$estate"
	[ -n "$mapping" ] && set -- "$@" --mapping "$mapping"
	if ! (cd "$dir" && "$aalgate" import keycloak realm.json "$@") 2>"$err"; then
		echo "FAIL $name: aalgate import failed:"
		cat "$err"
		failures=$((failures + 1))
		continue
	fi
	"$aalgate" audit -q -p "$policy" --format json --fail-on high \
		--as-of 2025-06-01 "$estate" >"$out" 2>"$err"
	code=$?
	if ! "$check" "$dir/expected.json" "$out" "$code"; then
		echo "FAIL $name: through 'aalgate import' ($(head -c 300 "$err"))"
		failures=$((failures + 1))
		continue
	fi
	echo "ok $name"
done

if [ "$n" -eq 0 ]; then
	echo "FAIL keycloak: no case under $data"
	exit 1
fi
if [ "$failures" -ne 0 ]; then
	echo "FAIL keycloak: $failures of $n case(s)"
	exit 1
fi
echo "ok keycloak: $n cases"
