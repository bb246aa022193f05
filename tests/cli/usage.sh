#!/bin/sh
# usage.sh AALGATE PROJECT_SOURCE_DIR
# The command line: help, version, exit statuses, options and the
# messages for bad usage and bad input.
set -u
aalgate=$1
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac

work=$(mktemp -d) || exit 2
trap 'chmod -R u+rwx "$work" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work" || exit 2

failures=0
fail() { echo "FAIL usage: $*"; failures=$((failures + 1)); }

# run ARGS...: runs aalgate with stdout in out.txt, stderr in err.txt and
# the exit status in $code.
run() {
	"$aalgate" "$@" >out.txt 2>err.txt
	code=$?
	what="aalgate $*"
}
expect_code() {
	[ "$code" -eq "$1" ] ||
		fail "$what: exit status $code, expected $1; stderr: $(head -c 400 err.txt)"
}
# expect_in FILE TEXT: TEXT (fixed string) appears in FILE.
expect_in() {
	grep -qF -- "$2" "$1" ||
		fail "$what: $1 lacks '$2'; it has: $(head -c 400 "$1")"
}
# expect_re FILE ERE: an extended regular expression matches in FILE.
expect_re() {
	grep -Eq -- "$2" "$1" ||
		fail "$what: $1 does not match /$2/; it has: $(head -c 400 "$1")"
}
expect_empty() {
	[ -s "$1" ] && fail "$what: $1 should be empty; it has: $(head -c 400 "$1")"
	return 0
}

cat >policy.yaml <<'EOF'
profile: sp800-63b-4
workflows:
  admin: { aal: 3 }
  staff: { aal: 2 }
EOF
# Only a high finding: staff at AAL1 is one level short.
cat >high.yaml <<'EOF'
accounts:
  - { id: bob, kind: human, workflow: staff }
paths:
  - { id: web, kind: login, to: [bob], methods: [password], monitored: true }
EOF
# A critical finding: admin at AAL1 is two levels short.
cat >critical.yaml <<'EOF'
accounts:
  - { id: alice, kind: human, workflow: admin }
paths:
  - { id: portal, kind: login, to: [alice], methods: [password], monitored: true }
EOF
# Nothing to find.
cat >clean.yaml <<'EOF'
accounts:
  - { id: carol, kind: human, workflow: staff }
paths:
  - { id: sso, kind: login, to: [carol], methods: [passkey_synced], monitored: true }
EOF

# --- help and version ---------------------------------------------------
for args in "--help" "-h" "help" "audit --help" "audit -h" "policy --help" \
	"policy check --help" "policy check -h"; do
	# shellcheck disable=SC2086
	run $args
	expect_code 0
	expect_in out.txt "usage: aalgate"
	expect_empty err.txt
done
run audit --help
expect_in out.txt "usage: aalgate audit"
expect_in out.txt "--fail-on"
run policy check --help
expect_in out.txt "usage: aalgate policy check"

run --version
expect_code 0
grep -Eq '^aalgate [0-9]+\.[0-9]+\.[0-9]+' out.txt ||
	fail "aalgate --version printed '$(cat out.txt)', expected 'aalgate X.Y.Z'"

# --- bad usage ----------------------------------------------------------
run
expect_code 2
expect_in err.txt "usage: aalgate"
expect_empty out.txt

run audti
expect_code 2
expect_in err.txt "unknown command 'audti'"
expect_in err.txt "did you mean 'audit'?"

run polcy check policy.yaml
expect_code 2
expect_in err.txt "did you mean 'policy'?"

run audit high.yaml
expect_code 2
expect_in err.txt "-p POLICY"

run audit -p policy.yaml
expect_code 2
expect_in err.txt "no input given"

run audit -p policy.yaml --as-of 2025-13-01 high.yaml
expect_code 2
expect_in err.txt "bad --as-of '2025-13-01'"

run audit -p policy.yaml --format xml high.yaml
expect_code 2
expect_in err.txt "'xml'"
expect_empty out.txt

run audit -p policy.yaml --format html high.yaml
expect_code 2
expect_in err.txt "html"
expect_in err.txt "not available"
expect_empty out.txt

run audit -p policy.yaml --fail-on severe high.yaml
expect_code 2
expect_in err.txt "'severe'"

run audit -p policy.yaml --frobnicate high.yaml
expect_code 2
expect_in err.txt "--frobnicate"

run audit -p policy.yaml --explain
expect_code 2
expect_in err.txt "--explain"

run policy frob policy.yaml
expect_code 2
expect_in err.txt "'frob'"

run policy check
expect_code 2

# --- exit statuses and --fail-on -----------------------------------------
run audit -p policy.yaml clean.yaml
expect_code 0
expect_in out.txt "0 findings"

run audit -p policy.yaml high.yaml
expect_code 1
expect_in out.txt "HIGH AG-P01"

run audit -p policy.yaml --fail-on none critical.yaml
expect_code 0
expect_in out.txt "CRITICAL AG-P01"

run audit -p policy.yaml --fail-on critical high.yaml
expect_code 0
expect_in out.txt "HIGH AG-P01"
grep -q CRITICAL out.txt && fail "high.yaml should have no critical finding: $(cat out.txt)"

run audit -p policy.yaml --fail-on critical critical.yaml
expect_code 1
expect_in out.txt "CRITICAL AG-P01"

run audit -p policy.yaml --fail-on=critical high.yaml critical.yaml
expect_code 1

# --- -o FILE ------------------------------------------------------------
run audit -p policy.yaml --format json high.yaml
expect_code 1
cp out.txt stdout-report.json
run audit -p policy.yaml --format json -o report.json high.yaml
expect_code 1
expect_empty out.txt
expect_empty err.txt
if [ ! -f report.json ]; then
	fail "$what: report.json was not written"
elif ! cmp -s report.json stdout-report.json; then
	fail "$what: report.json differs from the report on stdout"
fi

run audit -p policy.yaml -o no/such/dir/report.txt high.yaml
expect_code 2
expect_in err.txt "no/such/dir/report.txt"
expect_empty out.txt

# A report that cannot be written is an error, not a clean run.
if [ -w /dev/full ]; then
	run audit -p policy.yaml -o /dev/full clean.yaml
	expect_code 2
	expect_in err.txt "/dev/full"
fi

# --- --explain ------------------------------------------------------------
run audit -p policy.yaml --explain bobb high.yaml
expect_code 2
expect_in err.txt "unknown account 'bobb'"
expect_in err.txt "did you mean 'bob'?"

run audit -p policy.yaml --explain bob high.yaml
expect_code 1
expect_in out.txt "bob"
expect_in out.txt "AAL1"

run audit -p policy.yaml --explain bob --format json high.yaml
expect_code 1
if ! python3 -m json.tool out.txt >/dev/null 2>json-err.txt; then
	fail "$what: not valid JSON: $(cat json-err.txt)"
else
	id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["account"]["id"])' out.txt 2>&1)
	[ "$id" = bob ] || fail "$what: account.id is '$id', expected 'bob'"
fi

# --- bad input files -------------------------------------------------------
run audit -p policy.yaml missing.yaml
expect_code 2
expect_in err.txt "missing.yaml"
expect_empty out.txt

run audit -p missing-policy.yaml high.yaml
expect_code 2
expect_in err.txt "missing-policy.yaml"

mkdir estate.d
run audit -p policy.yaml estate.d
expect_code 2
expect_in err.txt "estate.d"
expect_empty out.txt

cp high.yaml secret.yaml
chmod 000 secret.yaml
if [ -r secret.yaml ]; then
	echo "usage: running with privileges that read mode-000 files; unreadable-file check skipped"
else
	run audit -p policy.yaml secret.yaml
	expect_code 2
	expect_in err.txt "secret.yaml"
fi

# --- several estate files ----------------------------------------------
# Unique ids: a path in the second file reaches an account in the first.
cat >people.yaml <<'EOF'
accounts:
  - { id: dave, kind: human, workflow: staff }
  - { id: erin, kind: human, workflow: staff }
EOF
cat >doors.yaml <<'EOF'
paths:
  - { id: sso, kind: login, to: [dave, erin], methods: [passkey_synced], monitored: true }
EOF
run audit -p policy.yaml --format json people.yaml doors.yaml
expect_code 0
got=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["estates"], sorted((a["id"], a["effective"]["aal"]) for a in d["accounts"]), len(d["findings"]))
' out.txt 2>&1)
want="['people.yaml', 'doors.yaml'] [('dave', 2), ('erin', 2)] 0"
[ "$got" = "$want" ] || fail "$what: got $got, expected $want"

# The same account id in two files: both places are named.
cat >more-people.yaml <<'EOF'
accounts:
  - { id: frank, kind: human, workflow: staff }

  - { id: erin, kind: human, workflow: staff }
EOF
run audit -p policy.yaml people.yaml more-people.yaml doors.yaml
expect_code 2
expect_in err.txt "'erin'"
expect_in err.txt "more-people.yaml:4:"
expect_re err.txt "(^|[^-a-z])people\\.yaml:3:"
expect_empty out.txt

# The same path id in two files.
cat >more-doors.yaml <<'EOF'
# another door
paths:
  - { id: sso, kind: login, to: [dave], methods: [password], monitored: true }
EOF
run audit -p policy.yaml people.yaml doors.yaml more-doors.yaml
expect_code 2
expect_in err.txt "'sso'"
expect_in err.txt "more-doors.yaml:3:"
expect_re err.txt "(^|[^-a-z])doors\\.yaml:2:"

if [ "$failures" -ne 0 ]; then
	echo "FAIL usage: $failures check(s) failed"
	exit 1
fi
echo "ok usage"
