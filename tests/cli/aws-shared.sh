#!/bin/sh
# aws-shared.sh AALGATE PROJECT_SOURCE_DIR
# Real AWS IAM credential reports from ../shared/data/aws-credential-report:
# each must import and audit (exit 0 or 1, a JSON report), through
# --aws-credential-report and through 'aalgate import' followed by an
# audit of the estate it writes, with the same exit status.  Nothing may
# crash, hang or trip a sanitizer.  Skipped when ../shared/data is not
# there.
set -u
aalgate=$1 src=$2
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac
check=$(dirname "$aalgate")/tests/e2e-check
dir=$src/../shared/data/aws-credential-report

if [ ! -d "$src/../shared/data" ]; then
	echo "skipped: ../shared/data not present"
	exit 0
fi
if [ ! -d "$dir" ]; then
	echo "skipped: ../shared/data/aws-credential-report not present"
	exit 0
fi

work=$(mktemp -d) || exit 2
trap 'rm -rf "$work"' EXIT
policy=$src/tests/data/aws/policy.yaml
echo '{}' >"$work/any.json"

limit=
command -v timeout >/dev/null 2>&1 && limit="timeout 120"

failures=0 n=0
fail() { echo "FAIL aws-shared: $*"; failures=$((failures + 1)); }

# sane WHAT FILE CODE: exit 0 or 1, JSON on stdout, no sanitizer report.
sane() {
	if grep -Eq 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$work/err"; then
		fail "$1 $2: sanitizer report: $(head -c 800 "$work/err")"
		return 1
	fi
	case $3 in
	0 | 1)
		if ! "$check" "$work/any.json" "$work/out" "$3" >/dev/null 2>&1; then
			fail "$1 $2: exit $3 but the report is not JSON: $(head -c 200 "$work/out")"
			return 1
		fi ;;
	124) fail "$1 $2: still running after 120s"; return 1 ;;
	*) fail "$1 $2: exit status $3: $(head -c 400 "$work/err")"; return 1 ;;
	esac
	return 0
}

list=$work/files
find "$dir" -name '*.csv' -type f | sort >"$list"
while IFS= read -r f; do
	n=$((n + 1))
	$limit "$aalgate" audit -q -p "$policy" --as-of 2025-06-30 \
		--format json --aws-credential-report "$f" \
		>"$work/out" 2>"$work/err" </dev/null
	code=$?
	sane "aalgate audit --aws-credential-report" "$f" $code || continue

	$limit "$aalgate" import aws-credential-report "$f" -p "$policy" \
		-o "$work/estate.yaml" >/dev/null 2>"$work/err" </dev/null
	icode=$?
	if [ "$icode" -ne 0 ]; then
		fail "aalgate import $f: exit $icode: $(head -c 400 "$work/err")"
		continue
	fi
	$limit "$aalgate" audit -q -p "$policy" --as-of 2025-06-30 \
		--format json "$work/estate.yaml" \
		>"$work/out" 2>"$work/err" </dev/null
	ecode=$?
	sane "aalgate audit (imported estate of)" "$f" $ecode || continue
	if [ "$ecode" -ne "$code" ]; then
		fail "$f: exit $code from the report, $ecode from its imported estate"
		continue
	fi
	echo "ok $(basename "$f") (exit $code)"
done <"$list"

if [ "$n" -eq 0 ]; then
	echo "skipped: no *.csv under ../shared/data/aws-credential-report"
	exit 0
fi
if [ "$failures" -ne 0 ]; then
	echo "FAIL aws-shared: $failures problem(s) in $n report(s)"
	exit 1
fi
echo "ok aws-shared: $n real reports"
