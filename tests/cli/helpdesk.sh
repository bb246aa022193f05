#!/bin/sh
# helpdesk.sh AALGATE PROJECT_SOURCE_DIR
# 'aalgate helpdesk reset': the agent's token verified with the policy's
# issuers (signed by ag-testsign), an agent at AAL1 refused and one at
# AAL2 accepted, an agent's own account refused, a policy's helpdesk
# workflow held, knowledge-based verification refused under the names a
# tool gives it (as evidence and as a verified step), an AAL3 account
# not lowered by the request, lost authenticators removed, and the
# journal row the reset leaves in the decision log.
set -u
aalgate=$1
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac
testsign=$(dirname "$aalgate")/tests/ag-testsign

work=$(mktemp -d) || exit 2
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 2
chmod 700 "$work"

fail() { echo "FAIL helpdesk: $*"; exit 1; }

# run NAME EXPECTED_EXIT ARGS...: stdout in NAME.out, stderr in NAME.err
run() {
	name=$1
	want=$2
	shift 2
	"$aalgate" "$@" >"$name.out" 2>"$name.err"
	got=$?
	[ "$got" = "$want" ] ||
		fail "$name: exit $got, expected $want; stdout: $(cat "$name.out"); stderr: $(cat "$name.err")"
}
has() { grep -qF -- "$3" "$1.$2" || fail "$1: $2 lacks '$3': $(cat "$1.$2")"; }
# field NAME PYEXPR EXPECTED: a value of NAME.out's JSON
field() {
	v=$(python3 -c "import json,sys; d=json.load(open('$1.out')); print($2)") ||
		fail "$1: output is not JSON: $(cat "$1.out")"
	[ "$v" = "$3" ] || fail "$1: $2 is '$v', expected '$3'"
}

cat >policy.yaml <<EOF
workflows:
  staff: { aal: 2 }
  recovery: { aal: match_account }
issuers:
  - iss: https://idp.test
    audiences: [portal]
    jwks_file: $work/jwks.json
EOF
echo '{"keys": []}' >jwks.json
H="helpdesk reset"

# ---- usage ------------------------------------------------------------------
run help 0 helpdesk --help
has help out "usage: aalgate helpdesk reset -p POLICY --agent-token FILE|-"
has help out "Exit status: 0 accepted, 1 refused"
run help2 0 $H --help
run nosub 2 helpdesk
run badsub 2 helpdesk undo
has badsub err "aalgate helpdesk: unknown subcommand 'undo' (reset)"
run nopolicy 2 $H --agent-token t.jwt e.json
has nopolicy err "a policy is required (-p FILE)"
run notoken 2 $H -p policy.yaml e.json
has notoken err "the agent's token is required (--agent-token FILE or -)"
run bothstdin 2 $H -p policy.yaml --agent-token - -
has bothstdin err "cannot both come from standard input"
run logalone 2 $H -p policy.yaml --agent-token t.jwt --decision-log d.jsonl e.json
has logalone err "--decision-log goes with --state"
run badfmt 2 $H -p policy.yaml --agent-token t.jwt -f yaml e.json
has badfmt err "unknown format 'yaml'"

if [ ! -x "$testsign" ]; then
	echo "SKIP: the rest needs ag-testsign at $testsign"
	exit 0
fi
command -v openssl >/dev/null 2>&1 || { echo "SKIP: needs openssl"; exit 0; }
command -v python3 >/dev/null 2>&1 || fail "python3 is needed (scripts/setup installs it)"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem 2>/dev/null ||
	fail "openssl genpkey failed"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.pem 2>/dev/null ||
	fail "openssl genpkey failed"
"$testsign" jwks k1=key.pem >jwks.json 2>ts.err || fail "ag-testsign jwks: $(cat ts.err)"

now=$(date +%s)
# token NAME SUB AMR_JSON [KEY]: a signed token in NAME.jwt
token() {
	cat >"$1.claims" <<EOF
{"iss": "https://idp.test", "aud": "portal", "sub": "$2",
 "iat": $((now - 30)), "exp": $((now + 900)), "auth_time": $((now - 30)),
 "jti": "jti-$1", "amr": $3}
EOF
	"$testsign" sign --key "${4:-key.pem}" --alg ES256 --kid k1 <"$1.claims" >"$1.jwt" 2>ts.err ||
		fail "ag-testsign sign $1: $(cat ts.err)"
}
token bob1 bob '["pwd"]'
token bob2 bob '["pwd", "otp"]'
token bobpr bob '["hwk", "pin"]'
token alice2 alice '["pwd", "otp"]'
token forged bob '["hwk", "pin"]' other.pem

S="--state st.db"
run e1 0 enroll add $S -p policy.yaml alice password
run e2 0 enroll add $S -p policy.yaml alice totp --auth-aal 1
run e3 0 enroll add $S -p policy.yaml root security_key_uv
run e4 0 enroll add $S -p policy.yaml dave password
for who in alice root dave; do
	run "a1$who" 0 enroll address $S "$who" email alice@example.org
	run "a2$who" 0 enroll address $S "$who" sms +15550100
done

NOTIFY='"notify": [{"channel": "email", "address": "alice@example.org"},
                   {"channel": "sms", "address": "+15550100"}]'
# A proper reset of alice (AAL2): an e-mail code and her password.
cat >good.json <<EOF
{"account": "alice", "ticket": "INC-1042", $NOTIFY,
 "evidence": [{"kind": "issued_code", "channel": "email",
               "issued_at": $((now - 3600)), "code_id": "e-77"},
              {"kind": "authenticator", "method": "password"}],
 "verified": ["called back the number on file"],
 "lost": [{"method": "totp"}]}
EOF

# ---- the agent ---------------------------------------------------------------

# At AAL1 (a password alone): refused, and nothing is spent or removed.
run aal1 1 $H -p policy.yaml $S --agent-token bob1.jwt good.json
field aal1 'd["accepted"]' False
field aal1 'd["agent"]["aal"]' 1
field aal1 'd["agent"]["refusal"]' agent_below_aal2
field aal1 'd["refusals"][0]["reason"]' agent_below_aal2
field aal1 '"AAL2 or above" in d["refusals"][0]["text"]' True
field aal1 'd["state"]["codes_spent"]' '[]'
field aal1 'd["lost"][0]["removed"]' False
field aal1 'd["notify"]' None

# A token signed by a key the issuer does not publish.
run forged 1 $H -p policy.yaml $S --agent-token forged.jwt good.json
has forged err "the agent's token is refused (bad_signature)"
[ ! -s forged.out ] || fail "forged: wrote an answer: $(cat forged.out)"

# Their own account.
run self 1 $H -p policy.yaml $S --agent-token alice2.jwt good.json
field self 'd["agent"]["refusal"]' self_reset
field self 'd["accepted"]' False

# A policy's helpdesk workflow asks for phishing resistance.
sed 's/^workflows:/workflows:\n  helpdesk: { aal: 2, phishing_resistant: true }/' policy.yaml >policy-hw.yaml
run hw 1 $H -p policy-hw.yaml $S --agent-token bob2.jwt good.json
field hw 'd["agent"]["refusal"]' agent_workflow
field hw '"phishing-resistant" in d["refusals"][0]["text"]' True

# ---- knowledge-based verification ---------------------------------------------

# As the evidence kind the tool gave: refused with the reason, the value
# never kept.
cat >kbakind.json <<EOF
{"account": "dave", $NOTIFY,
 "evidence": [{"kind": "date_of_birth", "value": "1970-02-03-zq"},
              {"kind": "saved_code", "code_id": "d-1"}]}
EOF
run kbakind 1 $H -p policy.yaml $S --agent-token bob2.jwt kbakind.json
field kbakind 'd["evidence"][0]["status"]' kba
field kbakind 'd["refusals"][0]["reason"]' kba
field kbakind 'd["refusals"][0]["text"].startswith("'"'"'date_of_birth'"'"' (date_of_birth) is knowledge-based verification")' True
field kbakind '"SP 800-63A-4 §2.5.1" in d["refusals"][0]["text"]' True
field kbakind '"1970-02-03-zq" in json.dumps(d)' False

# As a step the agent took, beside enough evidence: refused too.
cat >kbastep.json <<EOF
{"account": "dave", $NOTIFY,
 "evidence": [{"kind": "saved_code", "code_id": "d-2"}],
 "verified": ["Caller confirmed last 4 of SSN", "mother's maiden name"]}
EOF
run kbastep 1 $H -p policy.yaml $S --agent-token bob2.jwt kbastep.json
field kbastep '[v["kba"] for v in d["verified"]]' "['government_id', 'mothers_maiden_name']"
field kbastep '[r["reason"] for r in d["refusals"]]' "['kba', 'kba']"
field kbastep 'd["evidence"][0]["status"]' ok
field kbastep 'd["state"]["codes_spent"]' '[]'

# An authenticator "method" that is KBA.
cat >kbameth.json <<EOF
{"account": "dave", $NOTIFY,
 "evidence": [{"kind": "authenticator", "method": "security question"}]}
EOF
run kbameth 1 $H -p policy.yaml $S --agent-token bob2.jwt kbameth.json
field kbameth 'd["evidence"][0]["kind"]' kba
field kbameth 'd["refusals"][0]["reason"]' kba

# ---- the account's own level ---------------------------------------------------

# root is at AAL3 in the store: a request saying AAL1 does not make two
# codes enough.
cat >root.json <<EOF
{"account": "root", "level": 1, $NOTIFY,
 "evidence": [{"kind": "saved_code", "code_id": "r-1"},
              {"kind": "issued_code", "channel": "email", "issued_at": $((now - 60))}]}
EOF
run root 1 $H -p policy.yaml $S --agent-token bob2.jwt root.json
field root 'd["account_aal"]' 3
field root 'd["state"]["request_ignored"]' True
field root '[r["reason"] for r in d["refusals"]]' "['aal3_needs_onsite_biometric']"

# ---- accepted -----------------------------------------------------------------

run good 0 $H -p policy.yaml $S --agent-token bob2.jwt good.json
field good 'd["accepted"]' True
field good 'd["basis"]' code_and_authenticator
field good 'd["agent"]["sub"]' bob
field good 'd["agent"]["aal"]' 2
field good 'd["agent"]["refusal"]' None
field good 'd["ticket"]' INC-1042
field good 'd["verified"][0]["kba"]' None
field good 'd["state"]["codes_spent"]' "['e-77']"
field good 'd["lost"][0]["removed"]' True
field good '[a["address"] for a in d["notify"]["addresses"]]' "['alice@example.org', '+15550100']"
run list 0 enroll list $S -p policy.yaml alice --format json
field list '[e["method"] for e in d["accounts"][0]["enrolments"]]' "['password']"

# The same code again: spent.
sed 's/"lost": \[{"method": "totp"}\]/"lost": []/' good.json >again.json
run again 1 $H -p policy.yaml $S --agent-token bob2.jwt --format text again.json
has again out "reset:     refused"
has again out "agent:     'bob' (https://idp.test), AAL2"
has again out "[0] issued_code by email 'e-77': code_reused"
has again out "verified:  'called back the number on file': not recovery evidence, not counted"

# The decision log: every attempt, and the reset with its obligation.
python3 - <<'PYEOF' || fail "decision log: see above"
import json, sys
recs = [json.loads(l) for l in open("aalgate-decisions.jsonl")]
types = [r["type"] for r in recs]
resets = [r for r in recs if r["type"] == "helpdesk_reset"]
refused = [r for r in recs if r["type"] == "helpdesk_reset_refused"]
def check(cond, what):
    if not cond:
        print("decision log: " + what); sys.exit(1)
check(len(resets) == 1, "%d helpdesk_reset rows" % len(resets))
check(len(refused) == 8, "%d helpdesk_reset_refused rows: %s" % (len(refused), types))
r = resets[0]
check(r["account"] == "alice", "account %r" % r["account"])
check(r["agent"] == {"iss": "https://idp.test", "sub": "bob", "aal": 2, "refusal": "ok"}, "agent %r" % r["agent"])
check(r["evidence"] == ["issued_code", "authenticator"], "evidence %r" % r["evidence"])
check(r["obligation"] == "notify", "obligation %r" % r.get("obligation"))
check([a["address"] for a in r["notify"]] == ["alice@example.org", "+15550100"], "notify %r" % r["notify"])
check(r["ticket"] == "INC-1042" and r["rebind"] is True, "ticket or rebind")
check(r["lost_removed"] == [{"method": "totp", "label": ""}], "lost_removed %r" % r["lost_removed"])
check(r["codes_spent"] == ["e-77"], "codes_spent")
check("recovery_code_spent" in types and "enroll_remove" in types, "spend or removal not logged")
aal1 = refused[0]
check(aal1["agent"]["refusal"] == "agent_below_aal2" and "obligation" not in aal1, "first refusal %r" % aal1)
check(any(x.get("kba") == ["date_of_birth"] for x in refused), "kba not logged")
check("1970-02-03-zq" not in open("aalgate-decisions.jsonl").read(), "a KBA value reached the log")
PYEOF
run verify 0 log verify aalgate-decisions.jsonl
has verify out "chain intact"

# ---- without the state ----------------------------------------------------------

# The check alone, on the request's levels ("now" allowed).
cat >nostate.json <<EOF
{"account": "erin", "level": 1, "now": $now, $NOTIFY,
 "evidence": [{"kind": "saved_code", "code_id": "x-1"}]}
EOF
run nostate 0 $H -p policy.yaml --agent-token bob2.jwt nostate.json
field nostate 'd["accepted"]' True
field nostate '"state" in d' False
cat >nostatelost.json <<EOF
{"account": "erin", "level": 1, $NOTIFY, "evidence": [], "lost": [{"method": "totp"}]}
EOF
run nostatelost 2 $H -p policy.yaml --agent-token bob2.jwt nostatelost.json
has nostatelost err "nostatelost.json: 'lost' removes enrolments, which needs the state store (--state)"

# ---- bad input --------------------------------------------------------------------

printf '{"account": "dave", "evidence": [{"kind": "saved_cod", "code_id": "x"}]}' >typo.json
run typo 2 $H -p policy.yaml $S --agent-token bob2.jwt typo.json
has typo err "typo.json: evidence[0]: unknown kind 'saved_cod'; did you mean 'saved_code'?"
printf '{"level": 1, "evidence": []}' >noacct.json
run noacct 2 $H -p policy.yaml --agent-token bob2.jwt noacct.json
has noacct err "noacct.json: 'account' is required"
printf '{"account": "dave", "now": 5, "evidence": []}' >now.json
run now 2 $H -p policy.yaml $S --agent-token bob2.jwt now.json
has now err "'now' cannot be set when the state store is used"
printf '{"account": "nobody", %s, "evidence": [{"kind": "saved_code", "code_id": "n"}]}' "$NOTIFY" >nobody.json
run nobody 1 $H -p policy.yaml $S --agent-token bob2.jwt nobody.json
has nobody err "'nobody' has no enrolled authenticators in the state store"
: >empty.jwt
run emptytok 2 $H -p policy.yaml --agent-token empty.jwt nostate.json
has emptytok err "empty.jwt: no token in it"
# The token on standard input.
"$aalgate" $H -p policy.yaml --agent-token - nostate.json <bob2.jwt >stdin.out 2>stdin.err ||
	fail "token on stdin: exit $?: $(cat stdin.err)"
field stdin 'd["agent"]["sub"]' bob

echo "PASS helpdesk"
