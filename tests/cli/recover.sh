#!/bin/sh
# recover.sh AALGATE PROJECT_SOURCE_DIR
# 'aalgate recover check': account recovery held to the account's own
# level (NIST SP 800-63B-4 §4.2), as JSON and text, with the exit codes
# scripts rely on (0 accepted, 1 refused, 2 bad input) and its bad-input
# messages.
set -u
aalgate=$1
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac

fail() { echo "FAIL recover: $*"; exit 1; }
command -v python3 >/dev/null 2>&1 || fail "python3 is needed (scripts/setup installs it)"

work=$(mktemp -d) || exit 2
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 2

cat >policy.yaml <<'EOF'
workflows:
  staff: { aal: 2 }
  recovery: { aal: match_account }
EOF

# The account parts of the requests below.
AAL2='"account": "alice", "enrolled": ["password", "totp"], "ial": 2,
  "notify": [{"channel": "email", "address": "alice@example.org"},
             {"channel": "sms", "address": "+15550100"},
             {"channel": "postal", "address": "1 Main St"}],
  "now": "2027-01-15T08:00:00Z"'
AAL1='"enrolled": ["password"],
  "notify": [{"channel": "email", "address": "bob@example.org"},
             {"channel": "voice", "address": "+15550101"}],
  "now": "2027-01-15T08:00:00Z"'
AAL3='"account": "root", "enrolled": ["security_key_uv"], "ial": 3,
  "notify": [{"channel": "email", "address": "root@example.org"},
             {"channel": "postal", "address": "1 Main St"}],
  "now": 1800000000'

# run NAME EXPECTED_EXIT JSON [ARGS...]: writes NAME.out and NAME.err
run() {
	name=$1 want=$2 body=$3
	shift 3
	printf '%s\n' "$body" >"$name.json"
	"$aalgate" recover check -p policy.yaml "$@" "$name.json" >"$name.out" 2>"$name.err"
	got=$?
	[ "$got" -eq "$want" ] || fail "$name: exit $got, expected $want; stdout: $(cat "$name.out"); stderr: $(cat "$name.err")"
}

# field NAME PYEXPR EXPECTED: a value of the answer's JSON
field() {
	v=$(python3 -c "import json,sys; d=json.load(open('$1.out')); print($2)") ||
		fail "$1: output is not JSON: $(cat "$1.out")"
	[ "$v" = "$3" ] || fail "$1: $2 is '$v', expected '$3'"
}

# err NAME EXPECTED: the whole of stderr
err() {
	[ "$(cat "$1.err")" = "$2" ] || fail "$1: stderr is '$(cat "$1.err")', expected '$2'"
	[ ! -s "$1.out" ] || fail "$1: wrote to stdout: $(cat "$1.out")"
}

# ---- accepted ----------------------------------------------------------------

# §4.2.2.2: a saved code and an issued code, obtained by different methods.
run two 0 "{$AAL2, \"used_codes\": [\"s1\"],
  \"evidence\": [{\"kind\": \"saved_code\", \"code_id\": \"s2\"},
    {\"kind\": \"issued_code\", \"channel\": \"email\",
     \"issued_at\": \"2027-01-14T08:00:00Z\", \"code_id\": \"e9\"}]}"
field two 'd["accepted"]' True
field two 'd["account"]' alice
field two 'd["account_aal"]' 2
field two 'd["account_ial"]' 2
field two 'd["rule"]' aal2
field two 'd["basis"]' two_codes
field two 'd["now"]' 1800000000
field two '[e["status"] for e in d["evidence"]]' "['ok', 'ok']"
field two 'd["refusals"]' '[]'
field two 'd["notify"]["postal"]' False
field two '[a["address"] for a in d["notify"]["addresses"]]' "['alice@example.org', '+15550100']"
field two 'd["invalidate_codes"]' "['s2', 'e9']"
field two 'd["issue_saved_code"]' True

# §4.2.2.2: one code plus a bound single-factor authenticator.
run codeauth 0 "{$AAL2, \"evidence\": [{\"kind\": \"recovery_contact\",
  \"channel\": \"sms\", \"issued_at\": \"2027-01-15T07:00:00Z\"},
  {\"kind\": \"authenticator\", \"method\": \"password\"}]}"
field codeauth 'd["basis"]' code_and_authenticator
field codeauth 'd["issue_saved_code"]' False
field codeauth 'd["invalidate_codes"]' '[]'

# §4.2.2.3: the AAL3 account proofed at IAL3, onsite with a biometric.
run onsite 0 "{$AAL3, \"evidence\": [{\"kind\": \"reproofing\", \"ial\": 3,
  \"proofing\": \"onsite_attended\", \"biometric\": true}]}"
field onsite 'd["rule"]' aal3_ial3
field onsite 'd["basis"]' onsite_biometric_reproofing
field onsite 'd["notify"]["postal"]' True
field onsite '[a["channel"] for a in d["notify"]["addresses"]]' "['email', 'postal']"

# §4.2.1.2: an e-mail code exactly 24 hours old is still valid.
run email24 0 "{$AAL1,
  \"evidence\": [{\"kind\": \"issued_code\", \"channel\": \"email\",
  \"issued_at\": \"2027-01-14T08:00:00Z\"}]}"
field email24 'd["account_aal"]' 1
field email24 'd["basis"]' code

# The same from standard input, as text.
printf '%s\n' "{$AAL2, \"evidence\": [{\"kind\": \"saved_code\", \"code_id\": \"s2\"},
  {\"kind\": \"authenticator\", \"method\": \"totp\"}]}" |
	"$aalgate" recover check -p policy.yaml --format text - >stdin.out 2>stdin.err ||
	fail "stdin: exit $?; $(cat stdin.err)"
grep -qx 'recovery:  accepted (code_and_authenticator)' stdin.out || fail "stdin: $(cat stdin.out)"
grep -qx 'account:   alice, AAL2, proofed at IAL2' stdin.out || fail "stdin: $(cat stdin.out)"
grep -qx "  \[1\] authenticator 'totp': ok" stdin.out || fail "stdin: $(cat stdin.out)"
grep -qx 'notify:    email alice@example.org, sms +15550100' stdin.out || fail "stdin: $(cat stdin.out)"
grep -qx 'issue:     a new saved recovery code (SP 800-63B-4 §4.2.1.1)' stdin.out || fail "stdin: $(cat stdin.out)"

# ---- refused -----------------------------------------------------------------

# §4.2.2.3: an AAL3 account proofed at IAL3 is not recovered by e-mail.
run aal3email 1 "{$AAL3, \"evidence\": [{\"kind\": \"issued_code\",
  \"channel\": \"email\", \"issued_at\": 1799999000}]}"
field aal3email 'd["accepted"]' False
field aal3email 'd["basis"]' None
field aal3email 'd["notify"]' None
field aal3email '[r["reason"] for r in d["refusals"]]' "['aal3_needs_onsite_biometric']"
field aal3email 'd["refusals"][0]["evidence"]' None
field aal3email '"§4.2.2.3" in d["refusals"][0]["text"]' True
field aal3email 'd["evidence"][0]["status"]' ok

# §4.2.2.2: two codes over the same channel are one method (issued).
run samechan 1 "{$AAL2, \"evidence\": [
  {\"kind\": \"issued_code\", \"channel\": \"sms\", \"issued_at\": \"2027-01-15T07:55:00Z\"},
  {\"kind\": \"issued_code\", \"channel\": \"sms\", \"issued_at\": \"2027-01-15T07:58:00Z\"}]}"
field samechan '[r["reason"] for r in d["refusals"]]' "['same_method']"

# §4.2.1.2: an SMS code 10 minutes and 1 second old.
run sms601 1 "{$AAL2, \"evidence\": [{\"kind\": \"saved_code\", \"code_id\": \"s2\"},
  {\"kind\": \"issued_code\", \"channel\": \"sms\", \"issued_at\": \"2027-01-15T07:49:59Z\"}]}"
field sms601 'd["evidence"][1]["status"]' code_expired
field sms601 'd["refusals"][0]["evidence"]' 1
field sms601 'd["refusals"][0]["text"]' 'an issued recovery code sent by sms is valid for at most 10m (SP 800-63B-4 §4.2.1.2); this one is 10m1s old'
field sms601 'd["invalidate_codes"]' '[]'

# §4.2.1.2: an e-mail code 25 hours old.
run email25 1 "{$AAL1,
  \"evidence\": [{\"kind\": \"issued_code\", \"channel\": \"email\",
  \"issued_at\": \"2027-01-14T07:00:00Z\"}]}"
field email25 'd["evidence"][0]["status"]' code_expired

# KBA is never evidence, with the reason why.
run kba 1 "{$AAL2, \"evidence\": [{\"kind\": \"saved_code\", \"code_id\": \"s2\"},
  {\"kind\": \"kba\"}]}"
field kba '[r["reason"] for r in d["refusals"]]' "['kba', 'aal2_insufficient']"
field kba '"SP 800-63A-4 §2.5.1" in d["refusals"][0]["text"]' True
field kba '"§3.1.1.2" in d["refusals"][0]["text"]' True

# §4.2.1.1: a saved code is used once.
run reused 1 "{$AAL2, \"used_codes\": [\"s1\", \"s2\"],
  \"evidence\": [{\"kind\": \"saved_code\", \"code_id\": \"s2\"},
  {\"kind\": \"authenticator\", \"method\": \"password\"}]}"
field reused 'd["evidence"][0]["status"]' code_reused
field reused 'd["evidence"][1]["status"]' ok

# Refused as text.
run kbatext 1 "{$AAL2, \"evidence\": [{\"kind\": \"kba\"}]}" --format text
grep -qx 'recovery:  refused' kbatext.out || fail "kbatext: $(cat kbatext.out)"
grep -q '^refused:   \[0\] kba: knowledge-based authentication is never recovery evidence' kbatext.out ||
	fail "kbatext: $(cat kbatext.out)"
grep -q '^notify' kbatext.out && fail "kbatext: a refused recovery notifies: $(cat kbatext.out)"

# No notification address: nobody would learn of it (§4.2.3).
run nonotify 1 '{"level": 1, "now": 1800000000,
  "evidence": [{"kind": "saved_code", "code_id": "s2"}]}'
field nonotify '[r["reason"] for r in d["refusals"]]' "['no_notification_address']"

# ---- bad input ---------------------------------------------------------------

run keytypo 2 "{$AAL2, \"evidense\": []}"
err keytypo 'keytypo.json: unknown key '"'"'evidense'"'"' in the request; did you mean '"'"'evidence'"'"'?'

run evtypo 2 "{$AAL2, \"evidence\": [{\"kind\": \"issued_code\", \"chanel\": \"sms\"}]}"
err evtypo 'evtypo.json: evidence[0]: unknown key '"'"'chanel'"'"' in evidence; did you mean '"'"'channel'"'"'?'

run methtypo 2 "{$AAL2, \"evidence\": [{\"kind\": \"authenticator\", \"method\": \"passwrd\"}]}"
err methtypo 'methtypo.json: unknown method '"'"'passwrd'"'"' in evidence[0]; did you mean '"'"'password'"'"'?'

run enrtypo 2 '{"enrolled": ["totpp"], "evidence": []}'
err enrtypo 'enrtypo.json: unknown method '"'"'totpp'"'"' in enrolled; did you mean '"'"'totp'"'"'?'

run syntax 2 '{"level": 1,
  "evidence": [}'
err syntax 'syntax.json:2:16: unexpected token near '"'"'}'"'"''

run channel 2 '{"level": 1, "evidence": [{"kind": "issued_code", "channel": "fax", "issued_at": 0}]}'
err channel 'channel.json: evidence[0]: unknown channel '"'"'fax'"'"''

run belongs 2 '{"level": 1, "evidence": [{"kind": "reproofing", "ial": 2, "proofing": "remote_attended", "code_id": "x"}]}'
err belongs 'belongs.json: evidence[0]: key '"'"'code_id'"'"' does not belong to reproofing evidence'

"$aalgate" recover check -p policy.yaml missing.json >missing.out 2>missing.err
[ $? -eq 2 ] || fail "missing: exit not 2"
err missing 'missing.json: cannot open: No such file or directory'

python3 -c "print('{\"level\": 1, \"evidence\": [], \"account\": \"' + 'a' * 70000 + '\"}')" >big.json
"$aalgate" recover check -p policy.yaml big.json >big.out 2>big.err
[ $? -eq 2 ] || fail "big: exit not 2"
grep -q 'big.json:1:1: file too large' big.err || fail "big: $(cat big.err)"

# ---- usage -------------------------------------------------------------------

"$aalgate" recover --help >help.out 2>&1 || fail "recover --help: exit $?"
grep -q '^usage: aalgate recover check -p POLICY' help.out || fail "help: $(cat help.out)"
grep -q 'Exit status: 0 accepted, 1 refused, 2 bad input or usage.' help.out || fail "help: $(cat help.out)"
"$aalgate" recover check --help >help2.out 2>&1 || fail "recover check --help: exit $?"
cmp -s help.out help2.out || fail "the two helps differ"

usage() {
	name=$1 want=$2
	shift 2
	"$aalgate" "$@" >"$name.out" 2>"$name.err"
	got=$?
	[ "$got" -eq 2 ] || fail "$name: exit $got, expected 2"
	err "$name" "$want"
}
"$aalgate" recover >nosub.out 2>nosub.err
[ $? -eq 2 ] || fail "nosub: exit not 2"
[ "$(head -1 nosub.err)" = 'usage: aalgate recover check -p POLICY [--format json|text] EVIDENCE.json' ] ||
	fail "nosub: $(cat nosub.err)"
usage badsub "aalgate recover: unknown subcommand 'verify' (check); see 'aalgate recover --help'" recover verify
usage nopolicy 'aalgate recover check: a policy is required (-p FILE)' recover check two.json
usage nofile 'aalgate recover check: give one EVIDENCE.json (or -)' recover check -p policy.yaml
usage twofiles 'aalgate recover check: give one EVIDENCE.json (or -)' recover check -p policy.yaml two.json two.json
usage format "aalgate recover check: unknown format 'yaml'; use json or text" recover check -p policy.yaml -f yaml two.json
usage option "aalgate recover check: unknown option '--fast'; see 'aalgate recover --help'" recover check --fast -p policy.yaml two.json

echo "ok recover"
