#!/bin/sh
# run-case.sh AALGATE CHECK CASE_DIR
# Audits CASE_DIR/estate.yaml (with CASE_DIR/policy.yaml, or the shared
# tests/e2e/policy.yaml) and compares the JSON with CASE_DIR/expected.json.
# CASE_DIR/args, if present, holds extra arguments (e.g. --as-of DATE).
set -u
aalgate=$1 check=$2 case=$3
policy=$case/policy.yaml
[ -f "$policy" ] || policy=$(dirname "$0")/policy.yaml
out=$(mktemp) || exit 2
err=$(mktemp) || exit 2
trap 'rm -f "$out" "$err"' EXIT
cd "$case" || exit 2
extra=
[ -f args ] && extra=$(cat args)
# shellcheck disable=SC2086 # args holds several words
"$aalgate" audit -q -p "$policy" --format json --fail-on high $extra estate.yaml >"$out" 2>"$err"
code=$?
if [ "$code" -eq 2 ]; then
	echo "FAIL $case: aalgate exited 2:"; cat "$err"; exit 1
fi
if ! "$check" expected.json "$out" "$code"; then
	echo "FAIL $case"; exit 1
fi
echo "ok $case"
