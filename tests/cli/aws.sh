#!/bin/sh
# aws.sh AALGATE PROJECT_SOURCE_DIR
# The hand-checked AWS IAM credential reports in tests/data/aws, through
# the CLI:
#  - NN-name/: report.csv audited with --aws-credential-report (policy:
#    NN-name/policy.yaml or tests/data/aws/policy.yaml; extra arguments
#    such as --as-of in NN-name/args), and the JSON compared with
#    expected.json by tests/e2e/check.c's binary.  The same report is
#    then audited as a plain input (recognised by its content) when its
#    header starts with AWS's own column order, and once more after
#    'aalgate import aws-credential-report' turned it into an estate file:
#    every route must give the same result.
#  - bad/NN-name/: report.csv must fail with exit 2 and exactly the line
#    in expected.txt on stderr.
set -u
aalgate=$1 src=$2
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac
check=$(dirname "$aalgate")/tests/e2e-check
data=$src/tests/data/aws

if [ ! -x "$check" ]; then
	echo "FAIL aws: $check not built"
	exit 1
fi
work=$(mktemp -d) || exit 2
trap 'rm -rf "$work"' EXIT

bom=$(printf '\357\273\277')
failures=0 n=0
fail() { echo "FAIL aws: $*"; failures=$((failures + 1)); }

# compare CASE WHAT CODE: checks $work/out against CASE/expected.json.
compare() {
	if grep -q . "$work/err"; then
		fail "$1 ($2): stderr: $(head -c 400 "$work/err")"
	elif ! "$check" "$1/expected.json" "$work/out" "$3"; then
		fail "$1 ($2)"
	fi
}

for case in "$data"/[0-9]*/; do
	case=${case%/}
	name=$(basename "$case")
	n=$((n + 1))
	before=$failures
	policy=$case/policy.yaml
	[ -f "$policy" ] || policy=$data/policy.yaml
	args=
	[ -f "$case/args" ] && args=$(cat "$case/args")
	cd "$case" || exit 2

	# shellcheck disable=SC2086 # args holds several words
	"$aalgate" audit -q -p "$policy" --format json --fail-on high $args \
		--aws-credential-report report.csv >"$work/out" 2>"$work/err"
	compare "$case" "--aws-credential-report" $?

	# Recognised by content: the lead-in of the header, as AWS writes it.
	case $(head -c 12 report.csv) in
	"user,arn,"* | "${bom}user,arn,"*) sniff=yes ;;
	*) sniff=no ;;
	esac
	if [ $sniff = yes ]; then
		# shellcheck disable=SC2086
		"$aalgate" audit -q -p "$policy" --format json --fail-on high \
			$args report.csv >"$work/out" 2>"$work/err"
		compare "$case" "plain input" $?
	fi

	if "$aalgate" import aws-credential-report report.csv -p "$policy" \
		-o "$work/estate.yaml" 2>"$work/err"; then
		# shellcheck disable=SC2086
		"$aalgate" audit -q -p "$policy" --format json --fail-on high \
			$args "$work/estate.yaml" >"$work/out" 2>"$work/err"
		compare "$case" "imported estate" $?
		# The machine-identity view of the estate is the report's:
		# root keys stay root keys, never-used keys never used.
		# shellcheck disable=SC2086
		"$aalgate" nhi audit -p "$policy" --format json $args report.csv \
			>"$work/nhi1" 2>/dev/null
		# shellcheck disable=SC2086
		"$aalgate" nhi audit -p "$policy" --format json $args \
			"$work/estate.yaml" >"$work/nhi2" 2>/dev/null
		python3 - "$work/nhi1" "$work/nhi2" <<'EOF' ||
import json, sys
def norm(p):
    d = json.load(open(p))
    d.pop("inventories")
    for f in d["findings"]:
        for k in ("file", "line", "col"):
            f.pop(k)
    return d
a, b = norm(sys.argv[1]), norm(sys.argv[2])
if a != b:
    print(json.dumps(a, indent=1)[:600]); print(json.dumps(b, indent=1)[:600]); sys.exit(1)
EOF
			fail "$case: nhi audit of the imported estate differs from the report's"
	else
		fail "$case: import failed: $(head -c 400 "$work/err")"
	fi
	[ "$failures" -eq "$before" ] && echo "ok $name"
done

for case in "$data"/bad/*/; do
	case=${case%/}
	name=bad/$(basename "$case")
	n=$((n + 1))
	policy=$case/policy.yaml
	[ -f "$policy" ] || policy=$data/policy.yaml
	cd "$case" || exit 2
	"$aalgate" audit -q -p "$policy" --as-of 2025-06-30 \
		--aws-credential-report report.csv >"$work/out" 2>"$work/err"
	code=$?
	if [ "$code" -ne 2 ]; then
		fail "$name: exit status $code, expected 2"
	elif [ -s "$work/out" ]; then
		fail "$name: wrote to stdout"
	elif ! diff -u expected.txt "$work/err"; then
		fail "$name: stderr differs"
	else
		echo "ok $name"
	fi
done

if [ "$n" -lt 16 ]; then
	fail "only $n cases under $data"
fi
if [ "$failures" -ne 0 ]; then
	echo "FAIL aws: $failures problem(s)"
	exit 1
fi
echo "ok aws: $n cases"
