#!/bin/sh
# Estates of a megabyte or more are read by two threads (a YAML reader and
# a converter).  They must give the same results, and the same first error
# in file order, as the one-thread path that small files take.
set -u
aalgate=$1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "FAIL tests/cli/large.sh: $*" >&2
	exit 1
}

cat >"$tmp/policy.yaml" <<'P'
workflows:
  staff: { aal: 2 }
P
# N accounts, each with a mailbox; every account has its own SSO path and
# a recovery path by e-mail to its mailbox, whose login is a password.
gen() {
	awk -v n="$1" -v bad="$2" 'BEGIN {
		print "accounts:"
		for (i = 0; i < n; i++) {
			wf = (bad == "workflow" && i == n - 7) ? "stafff" : "staff"
			printf "  - { id: user%06d, kind: human, workflow: %s, email: \"mail:user%06d@example.net\", groups: [staff] }\n", i, wf, i
			printf "  - { id: \"mail:user%06d@example.net\", kind: mailbox, groups: [mailboxes] }\n", i
		}
		print "paths:"
		print "  - { id: sso, kind: login, to: [\"group:staff\"], methods: [password, totp], monitored: true }"
		print "  - { id: mail-login, kind: login, to: [\"group:mailboxes\"], methods: [password], monitored: true }"
		for (i = 0; i < n; i++) {
			if (bad == "syntax" && i == n - 3)
				print "  - { id: reset-bad, kind: recovery, to: [user000001 }"
			printf "  - { id: reset%06d, kind: recovery, to: [user%06d], methods: [email_link], monitored: true }\n", i, i
		}
	}'
}

gen 6000 none >"$tmp/estate.yaml"
size=$(wc -c <"$tmp/estate.yaml")
[ "$size" -gt 1048576 ] || fail "the generated estate is only $size bytes"
"$aalgate" audit -q -p "$tmp/policy.yaml" --format json -o "$tmp/out.json" "$tmp/estate.yaml"
code=$?
[ "$code" -eq 1 ] || fail "exit status $code, expected 1"
grep -q '"accounts": 12000,' "$tmp/out.json" || fail "summary does not count 12000 accounts"
grep -q '"below_required": 6000,' "$tmp/out.json" || fail "expected all 6000 people below AAL2"
grep -q '"id": "user005999", .*"effective": {"aal": 1' "$tmp/out.json" ||
	fail "user005999 is not at AAL1"

# An error found by the converter, late in the file.
gen 6000 workflow >"$tmp/bad1.yaml"
line=$(grep -n 'workflow: stafff' "$tmp/bad1.yaml" | cut -d: -f1)
"$aalgate" audit -q -p "$tmp/policy.yaml" "$tmp/bad1.yaml" >/dev/null 2>"$tmp/err"
code=$?
[ "$code" -eq 2 ] || fail "bad workflow: exit status $code, expected 2"
grep -q "bad1.yaml:$line:46: unknown workflow 'stafff'; did you mean 'staff'?" "$tmp/err" ||
	fail "bad workflow: unexpected message: $(cat "$tmp/err")"

# A syntax error found by the reader, late in the file.
gen 6000 syntax >"$tmp/bad2.yaml"
line=$(grep -n 'reset-bad' "$tmp/bad2.yaml" | cut -d: -f1)
"$aalgate" audit -q -p "$tmp/policy.yaml" "$tmp/bad2.yaml" >/dev/null 2>"$tmp/err"
code=$?
[ "$code" -eq 2 ] || fail "syntax error: exit status $code, expected 2"
grep -q "bad2.yaml:$line:" "$tmp/err" ||
	fail "syntax error: message does not name line $line: $(cat "$tmp/err")"
echo "ok tests/cli/large.sh"
