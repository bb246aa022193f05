#!/bin/sh
# acme.sh AALGATE PROJECT_DIR
# The bundled example (examples/acme, what `make demo` audits) must keep
# showing every finding AG-P01..AG-P13, each where the estate's comments
# say it should appear, must leave its well-governed entries clean, must
# exit 1, and must explain alice.
set -u
aalgate=$1 root=$2
dir=$root/examples/acme
policy=$dir/policy.yaml estate=$dir/estate.yaml
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
json=$tmp/audit.json

fail() {
	echo "FAIL tests/cli/acme.sh: $*" >&2
	exit 1
}

# finding ID SEVERITY: the JSON report holds finding ID at SEVERITY.
finding() {
	# Each finding is one line of the JSON report.  A per-path finding
	# (AG-P03..AG-P06) names the accounts it affects; $3 must be one.
	grep -F "\"id\": \"$1\"," "$json" >"$tmp/line" &&
		grep -qF "\"severity\": \"$2\"," "$tmp/line" &&
		{ [ -z "${3:-}" ] || grep -qF "\"$3\"" "$tmp/line"; } ||
		fail "expected finding $1 at severity $2${3:+ affecting $3} in the example's audit"
}

# no_finding PATTERN WHY: no finding id matches the grep PATTERN.
no_finding() {
	if grep "\"id\": \"AG-P[0-9]*:$1" "$json" >"$tmp/hits"; then
		fail "$2; found: $(tr -d ' ' <"$tmp/hits" | tr '\n' ' ')"
	fi
}

[ -x "$aalgate" ] || fail "no aalgate binary at '$aalgate'"
[ -f "$policy" ] && [ -f "$estate" ] || fail "no example in '$dir'"

# The policy is valid and states the five standard workflows.
"$aalgate" policy check "$policy" >"$tmp/policy.txt" 2>"$tmp/err"
code=$?
[ "$code" -eq 0 ] || fail "policy check exited $code: $(cat "$tmp/err")"
for w in admin payroll staff recovery ci-deploy; do
	grep -qx "$w" "$tmp/policy.txt" ||
		fail "policy check does not list workflow '$w'"
done
grep -q '^break_glass: 2 approvals, at most 4h, alert yes$' "$tmp/policy.txt" ||
	fail "policy check does not show break_glass as 2 approvals, 4h, alert"

# The JSON audit: exit 1 (findings at or above high), nothing on stderr.
"$aalgate" audit -q -p "$policy" --format json "$estate" >"$json" 2>"$tmp/err"
code=$?
[ "$code" -eq 1 ] || fail "audit --format json exited $code, expected 1: $(cat "$tmp/err")"
[ -s "$tmp/err" ] && fail "audit wrote to stderr: $(cat "$tmp/err")"

# Every rule appears at least once.
missing=
for n in 01 02 03 04 05 06 07 08 09 10 11 12 13; do
	grep -q "\"rule\": \"AG-P$n\"" "$json" || missing="$missing AG-P$n"
done
[ -z "$missing" ] || fail "the example no longer shows:$missing"

# Each where the estate's comments put it, at its severity.
finding AG-P01:alice:sspr critical        # SSPR -> mailbox -> SMS -> carrier KBA
finding AG-P01:carol:sspr critical
finding AG-P01:dave:sspr high             # SSPR -> mailbox with a password: AAL1 of 2
finding AG-P01:zoe:partner-sso high       # the partner IdP asserts a password only
finding AG-P02:alice:sspr high
finding AG-P02:alice:helpdesk-reset high
finding AG-P02:phone:+15550101:mobile-a-store high
finding AG-P03:imap high carol
finding AG-P04:payroll-login high carol   # payroll requires phishing resistance
finding AG-P04:vpn-refresh high alice
finding AG-P05:sspr medium alice          # admin requires a managed device
finding AG-P06:imap low carol
finding AG-P06:partner-sso low zoe
finding AG-P07:alice:vpn-refresh medium   # 90d token, 12h window
finding AG-P07:grace:vpn-refresh medium   # 90d token, 24h window
finding AG-P08:carol:payroll-login medium # password+SMS, phone at a KBA carrier
finding AG-P08:mail:alice.w@freemail.example:freemail-sms-reset medium
finding AG-P09:payroll-login low
finding AG-P09:sms-reset low
finding AG-P10:mobile-a-store high
finding AG-P11:alice high
finding AG-P12:root:bg-envelope high      # no approval
finding AG-P13:heidi:sms-reset info       # no phone attribute
finding AG-P13:ivan:sspr info
finding AG-P13:zoe:partner-sso info

# The well-governed entries stay clean.
no_finding 'bob[:"]' "bob (smartcard, JIT, outside staff) should have no finding"
no_finding '[^"]*:bg-vault"' "bg-vault (2 approvals, alert, 1h) should be governed"
no_finding '[^"]*:sso-renew"' "sso-renew (8h, inside every window) should be left out"
no_finding '[^"]*:sso"' "sso (security_key_uv, device check, monitored) should be clean"
no_finding 'svc-' "the ci-deploy services have no AAL, so no AG-P finding"
no_finding 'mail:dave.p@freemail.example:' "dave's mailbox has only a password login"

grep -q '"below_required": 10,' "$json" ||
	fail "expected 10 accounts below their required level"

if command -v python3 >/dev/null 2>&1; then
	python3 - "$json" <<'EOF' || fail "the JSON report does not hold together (see above)"
import json, sys
d = json.load(open(sys.argv[1]))
acc = {a["id"]: a for a in d["accounts"]}
errors = []
def want(what, got, exp):
    if got != exp:
        errors.append("%s: got %r, expected %r" % (what, got, exp))
want("summary.findings", d["summary"]["findings"], len(d["findings"]))
want("rules", sorted({f["rule"] for f in d["findings"]}),
     ["AG-P%02d" % n for n in range(1, 14)])
want("alice effective", acc["alice"]["effective"]["aal"], 0)
want("alice required", acc["alice"]["required"]["aal"], 3)
want("bob effective", acc["bob"]["effective"]["aal"], 3)
want("dave effective", acc["dave"]["effective"]["aal"], 1)
want("zoe effective", acc["zoe"]["effective"]["aal"], 1)
want("root reachable", acc["root"]["reachable"], False)
for f in d["findings"]:
    loc = f.get("location") or {}
    if not loc.get("file", "").endswith("estate.yaml") or loc.get("line", 0) < 1:
        errors.append("finding %s has no estate location" % f["id"])
for e in errors:
    print("  " + e, file=sys.stderr)
sys.exit(1 if errors else 0)
EOF
else
	echo "acme.sh: python3 not found; skipping the JSON structure checks"
fi

# The text report: the summary first, then the worst finding.
"$aalgate" audit -q -p "$policy" "$estate" >"$tmp/audit.txt" 2>"$tmp/err"
code=$?
[ "$code" -eq 1 ] || fail "text audit exited $code, expected 1: $(cat "$tmp/err")"
head -n 1 "$tmp/audit.txt" |
	grep -q '^10 of 12 accounts below their required level; [0-9][0-9]* findings (2 critical, ' ||
	fail "the text report does not start with the summary: $(head -n 1 "$tmp/audit.txt")"
first=$(grep -m 1 '^[A-Z][A-Z]* AG-P' "$tmp/audit.txt")
case $first in
"CRITICAL AG-P01 below-required: 'alice' reaches only AAL0;"*) ;;
*) fail "the first finding is not alice's critical AG-P01: $first" ;;
esac

# --fail-on: the exit status follows the threshold.
"$aalgate" audit -q -p "$policy" --fail-on none "$estate" >/dev/null 2>&1
code=$?
[ "$code" -eq 0 ] || fail "audit --fail-on none exited $code, expected 0"

# --explain alice, as `make demo` runs it.
"$aalgate" audit -q -p "$policy" "$estate" --explain alice >"$tmp/explain.txt" 2>"$tmp/err"
code=$?
[ "$code" -eq 1 ] || fail "--explain alice exited $code, expected 1: $(cat "$tmp/err")"
for want in \
	'account alice (human, workflow admin)' \
	'  required:  AAL3, phishing resistant, managed device, max age 12h, idle 15m, just-in-time elevation' \
	'  effective: AAL0' \
	'    recovery    sspr (email_link): own AAL0, all methods AAL1, rests on mail:alice.w@freemail.example (AAL0) => AAL0' \
	'    renewal     sso-renew (session_cookie): own AAL1, all methods AAL1 => continues a session within the window, not counted' \
	"    critical AG-P01: 'alice' reaches only AAL0; workflow 'admin' requires AAL3" \
	"    high AG-P11: 'alice' holds standing access; workflow 'admin' requires just-in-time elevation"; do
	grep -qxF "$want" "$tmp/explain.txt" ||
		fail "--explain alice lacks the line: $want"
done

"$aalgate" audit -q -p "$policy" "$estate" --explain alice --format json \
	>"$tmp/explain.json" 2>"$tmp/err"
code=$?
[ "$code" -eq 1 ] || fail "--explain alice --format json exited $code, expected 1"
grep -q '^    "id": "alice",$' "$tmp/explain.json" ||
	fail "--explain alice --format json does not describe alice"

"$aalgate" audit -q -p "$policy" "$estate" --explain nobody >/dev/null 2>"$tmp/err"
code=$?
[ "$code" -eq 2 ] || fail "--explain of an unknown account exited $code, expected 2"

echo "ok tests/cli/acme.sh"
