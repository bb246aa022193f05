#!/bin/sh
# run-case.sh AALGATE CASE_DIR
# A bad-input case: CASE_DIR holds policy.yaml, optionally estate.yaml,
# optionally gen.sh (which writes generated inputs into the current
# directory), and expected.txt: the one line aalgate must print on stderr.
# With estate.yaml the case runs 'aalgate audit', otherwise 'aalgate policy
# check'.  The exit status must be 2.
set -u
aalgate=$1 case=$(cd "$2" && pwd)
work=$(mktemp -d) || exit 2
trap 'rm -rf "$work"' EXIT
cp -R "$case"/. "$work"/
cd "$work" || exit 2
if [ -f gen.sh ]; then
	sh gen.sh || { echo "FAIL $case: gen.sh failed"; exit 1; }
fi
if [ -f estate.yaml ]; then
	"$aalgate" audit -q -p policy.yaml estate.yaml >out.txt 2>err.txt
else
	"$aalgate" policy check policy.yaml >out.txt 2>err.txt
fi
code=$?
status=0
if [ "$code" -ne 2 ]; then
	echo "FAIL $case: exit status $code, expected 2"; status=1
fi
if ! diff -u expected.txt err.txt; then
	echo "FAIL $case: stderr differs"; status=1
fi
[ $status -eq 0 ] && echo "ok $case"
exit $status
