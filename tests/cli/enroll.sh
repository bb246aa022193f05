#!/bin/sh
# enroll.sh AALGATE PROJECT_SOURCE_DIR
# 'aalgate enroll' end to end: bootstrap, the binding rule with --auth-aal
# and --claims, refusals and their exit codes, list in text and JSON,
# remove, and every change in the decision log.  Then 'aalgate serve
# --state': a match_account workflow decided against the account's real
# level over POST /v1/decide with signed tokens (ag-testsign), and a
# change made while the gate holds the decision log, logged by the gate.
set -u
aalgate=$1
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac
testsign=$(dirname "$aalgate")/tests/ag-testsign

work=$(mktemp -d) || exit 2
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 2
chmod 700 "$work"

fail() {
	echo "FAIL enroll: $*"
	[ -f "$work/serve.err" ] && sed 's/^/  serve: /' "$work/serve.err"
	exit 1
}

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
lacks() { ! grep -qF -- "$3" "$1.$2" || fail "$1: $2 has '$3': $(cat "$1.$2")"; }

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

E="enroll"
S="--state st.db -p policy.yaml"

# ---- usage --------------------------------------------------------------
run help 0 $E --help
has help out "usage: aalgate enroll add"
run nosub 2 $E frobnicate
has nosub err "unknown subcommand 'frobnicate'"
run nostate 2 $E add -p policy.yaml alice password
has nostate err "a state file is required"
run nopolicy 2 $E add --state st.db alice password
has nopolicy err "a policy is required"
run noargs 2 $E add $S alice
has noargs err "expected ACCOUNT METHOD"
run badaal 2 $E add $S alice password --auth-aal 4
has badaal err "--auth-aal must be 0..3, not '4'"
run both 2 $E add $S alice password --auth-aal 2 --claims x.json
has both err "not both"
[ ! -e st.db ] || fail "a usage error created the state file"

# ---- the first authenticator: a bootstrap -------------------------------
run boot 0 $E add $S alice password
has boot out "enrolled 'password' for 'alice'"
has boot out "bootstrap: the account had no authenticator"
has boot out "own level: AAL1"
[ "$(stat -c %a st.db)" = 600 ] || fail "st.db is mode $(stat -c %a st.db), not 600"
[ -f aalgate-decisions.jsonl ] || fail "no decision log beside the state"

# ---- binding needs authentication ---------------------------------------
run noauth 1 $E add $S alice totp
has noauth err "binding 'totp' to 'alice' needs authentication at AAL1"
has noauth err "no authentication was shown; show it with --auth-aal N or --claims FILE"
run totp 0 $E add $S alice totp --auth-aal 1
has totp out "binding: needed AAL1 (the account was at AAL1; 'totp' helps reach AAL2); shown AAL1 (asserted)"
has totp out "own level: AAL2"
# A second OTP on a password + OTP account needs AAL2, not AAL1.
run second 1 $E add $S alice push --auth-aal 1
has second err "needs authentication at AAL2 (the account is at AAL2; 'push' helps reach AAL2); the authentication shown is AAL1"

# --claims: the account's token claims, judged as the gate judges them.
now=$(date +%s)
cat >claims-aal2.json <<EOF
{"sub": "alice", "amr": ["pwd", "otp"], "exp": $((now + 600))}
EOF
cat >claims-bob.json <<EOF
{"sub": "bob", "amr": ["hwk", "pin"]}
EOF
cat >claims-old.json <<EOF
{"sub": "alice", "amr": ["hwk", "pin"], "exp": $((now - 60))}
EOF
run otherclaims 1 $E add $S alice security_key_uv --claims claims-bob.json
has otherclaims err "the claims are about 'bob', not 'alice'"
run oldclaims 1 $E add $S alice security_key_uv --claims claims-old.json
has oldclaims err "the claims expired"
echo '{"sub": ' >claims-bad.json
run badclaims 2 $E add $S alice security_key_uv --claims claims-bad.json
has badclaims err "not a JSON object of claims"
run key 0 $E add $S alice security_key_uv --claims claims-aal2.json
has key out "shown AAL2 (claims)"
has key out "own level: AAL3, phishing-resistant, hardware"

# ---- refusals of bad input ----------------------------------------------
run typo 2 $E add $S alice totpp --auth-aal 3
has typo err "unknown method 'totpp' (not in policy.yaml's catalogue); did you mean 'totp'?"
run kba 2 $E add $S alice kba --auth-aal 3
has kba err "method 'kba' is prohibited"
run again 1 $E add $S alice totp --auth-aal 3
has again err "'alice' already has 'totp' enrolled"
run labelled 0 $E add $S alice totp --label tablet --auth-aal 3
has labelled out "enrolled 'totp' (label 'tablet') for 'alice'"
run bob 0 $E add $S bob password

# ---- list -----------------------------------------------------------------
run list 0 $E list $S
has list out "alice: own level AAL3, phishing-resistant, hardware"
has list out "bob: own level AAL1"
grep -q '^  totp  *tablet  ' list.out || fail "list: no 'totp tablet' line: $(cat list.out)"
run listnone 1 $E list $S carol
has listnone out "'carol' has no enrolled authenticators"
run listjson 0 $E list $S alice --format json
python3 - listjson.out <<'PYEOF' || fail "list --format json: see above"
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["store"]) == 32, d
(a,) = d["accounts"]
assert a["id"] == "alice", a
assert a["level"] == {"aal": 3, "phishing_resistant": True, "hardware": True}, a
got = [(e["method"], e["label"]) for e in a["enrolments"]]
assert got == [("password", ""), ("security_key_uv", ""), ("totp", ""), ("totp", "tablet")], got
PYEOF

# ---- remove ----------------------------------------------------------------
run rm 0 $E remove --state st.db alice totp --label tablet
has rm out "removed 'totp' (label 'tablet') from 'alice'"
run rmagain 1 $E remove --state st.db alice totp --label tablet
has rmagain err "'alice' has no 'totp' (label 'tablet') enrolled"
run rmbob 0 $E remove $S bob password
has rmbob out "'bob' has no authenticator left"

# ---- every change is in the decision log, in order -------------------------
run verify 0 log verify aalgate-decisions.jsonl
has verify out "7 records, chain intact"
python3 - aalgate-decisions.jsonl <<'PYEOF' || fail "decision log: see above"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
want = [("enroll_add", "alice", "password"), ("enroll_add", "alice", "totp"),
        ("enroll_add", "alice", "security_key_uv"), ("enroll_add", "alice", "totp"),
        ("enroll_add", "bob", "password"), ("enroll_remove", "alice", "totp"),
        ("enroll_remove", "bob", "password")]
got = [(r["type"], r["account"], r["method"]) for r in recs]
assert got == want, got
assert [r["journal_seq"] for r in recs] == list(range(1, 8)), recs
assert len({r["store"] for r in recs}) == 1
assert recs[0]["bootstrap"] is True and recs[0]["evidence"] is None, recs[0]
assert recs[2]["evidence"]["source"] == "claims" and recs[2]["evidence"]["aal"] == 2, recs[2]
assert recs[2]["required_aal"] == 2 and recs[2]["bootstrap"] is False, recs[2]
PYEOF

# ---- the state file is opened with care -----------------------------------
ln -s st.db link.db
run symlink 2 $E list --state link.db -p policy.yaml
has symlink err "link.db: is a symbolic link; refusing to follow it"

# ---- the gate with --state -------------------------------------------------
if [ ! -x "$testsign" ]; then
	echo "SKIP: the gate part needs ag-testsign at $testsign"
	exit 0
fi
command -v curl >/dev/null 2>&1 || { echo "SKIP: the gate part needs curl"; exit 0; }
command -v openssl >/dev/null 2>&1 || { echo "SKIP: the gate part needs openssl"; exit 0; }
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem 2>/dev/null ||
	fail "openssl genpkey failed"
"$testsign" jwks k1=key.pem >jwks.json 2>testsign.err || fail "ag-testsign jwks: $(cat testsign.err)"

# token NAME SUB AMR_JSON: a signed token in $NAME.jwt
token() {
	cat >"$1.claims" <<EOF
{"iss": "https://idp.test", "aud": "portal", "sub": "$2",
 "iat": $((now - 30)), "exp": $((now + 900)), "auth_time": $((now - 30)),
 "jti": "jti-$1", "amr": $3}
EOF
	"$testsign" sign --key key.pem --alg ES256 --kid k1 <"$1.claims" >"$1.jwt" 2>testsign.err ||
		fail "ag-testsign sign $1: $(cat testsign.err)"
}
token a2 alice '["pwd", "otp"]'
token a3 alice '["hwk", "pin"]'
token d1 dave '["pwd"]'
token m3 mallory '["hwk", "pin"]'
run dave 0 $E add $S dave password

# A state file that cannot be opened: the gate does not start.
run badstate 2 serve -p policy.yaml --listen 127.0.0.1:0 --state link.db
has badstate err "is a symbolic link; refusing to follow it"

# start_gate ARGS...: serve in the background; $pid and $port
start_gate() {
	: >serve.err
	"$aalgate" serve -p policy.yaml --listen 127.0.0.1:0 --state "$work/st.db" \
		--timeout 5 --drain 5 "$@" 2>serve.err &
	pid=$!
	port=
	i=0
	while [ $i -lt 100 ]; do
		port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' serve.err)
		[ -n "$port" ] && break
		kill -0 "$pid" 2>/dev/null || fail "serve exited at start"
		sleep 0.1
		i=$((i + 1))
	done
	[ -n "$port" ] || fail "serve did not say where it listens"
}
start_gate

# decide NAME TOKEN: the /v1/decide answer for the recovery workflow
decide() {
	printf '{"workflow": "recovery", "token": "%s"}' "$(cat "$2.jwt")" >"$1.req"
	curl -s --max-time 10 -X POST --data-binary @"$1.req" \
		"http://127.0.0.1:$port/v1/decide" >"$1.out" || fail "$1: curl failed"
}
# alice holds password, totp and security_key_uv: her own level is AAL3.
decide r_a2 a2
has r_a2 out '"decision":"step_up"'
has r_a2 out '"required":{"aal":3,"phishing_resistant":true,"hardware":true'
decide r_a3 a3
has r_a3 out '"decision":"allow"'
# dave holds a password: AAL1 is his level, and enough.
decide r_d1 d1
has r_d1 out '"decision":"allow"'
has r_d1 out '"required":{"aal":1'
# mallory is not enrolled: no level to match, denied.
decide r_m3 m3
has r_m3 out '"decision":"deny"'
has r_m3 out '"account_level_unknown"'

# A change while the gate holds the decision log: the CLI leaves it in the
# journal and the gate logs it within about a second.
run whilegate 0 $E add $S dave totp --auth-aal 1
has whilegate err "note: a running gate holds the decision log aalgate-decisions.jsonl; it logs this change from the state's journal"
i=0
until grep -q '"account":"dave","method":"totp"' aalgate-decisions.jsonl; do
	i=$((i + 1))
	[ $i -lt 50 ] || fail "the gate did not log the change made while it ran"
	sleep 0.1
done
# ... and decides with the new level at once (dave is at AAL2 now).
decide r_d1b d1
has r_d1b out '"decision":"step_up"'
has r_d1b out '"required":{"aal":2'

kill "$pid"
wait "$pid"
rc=$?
pid=
[ "$rc" = 0 ] || fail "serve exited $rc after SIGTERM"
run verify2 0 log verify aalgate-decisions.jsonl
# 9 changes and 5 decisions.
has verify2 out "14 records, chain intact"
[ "$(grep -c '"type":"decision"' aalgate-decisions.jsonl)" = 5 ] ||
	fail "expected 5 decisions in the log"
[ "$(grep -c '"type":"enroll_' aalgate-decisions.jsonl)" = 9 ] ||
	fail "expected 9 changes in the log"
# As an unprivileged user after start (--user): the state was opened
# before, and every worker's connection still reads it.
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	start_gate --user nobody --threads 4
	for n in 1 2 3; do
		decide r_user$n a3
		has r_user$n out '"decision":"allow"'
		decide r_userd$n d1
		has r_userd$n out '"decision":"step_up"'
	done
	kill "$pid"
	wait "$pid" || fail "serve --user exited $?"
	pid=
fi

# ---- the IAL an account was proofed at -------------------------------------
run ial 0 $E ial --state st.db alice 3
has ial out "'alice' proofed at IAL3"
run ialsame 0 $E ial --state st.db alice 3
has ialsame out "'alice' proofed at IAL3 (unchanged)"
run ialbad 2 $E ial --state st.db alice 4
has ialbad err "IAL must be 0, 1, 2 or 3, not '4'"
run ialopt 2 $E ial --state st.db alice 2 --auth-aal 2
has ialopt err "ial takes no --label, --auth-aal or --claims"
run ialargs 2 $E ial --state st.db alice
has ialargs err "expected ACCOUNT IAL"
[ "$(grep -c '"type":"account_ial"' aalgate-decisions.jsonl)" = 1 ] ||
	fail "expected one account_ial change in the log: $(grep account_ial aalgate-decisions.jsonl)"
grep -q '"type":"account_ial".*"account":"alice","was":null,"ial":3' aalgate-decisions.jsonl ||
	fail "the account_ial record: $(grep account_ial aalgate-decisions.jsonl)"
run verify3 0 log verify aalgate-decisions.jsonl

# ---- notification addresses of record -------------------------------------
run addrnone 1 $E address --state st.db alice
has addrnone out "'alice' has no notification address of record"
run addr1 0 $E address --state st.db alice email alice@example.org
has addr1 out "added email 'alice@example.org' to 'alice'"
run addr1again 1 $E address --state st.db alice email alice@example.org
has addr1again err "'alice' already has email 'alice@example.org'"
run addr2 0 $E address --state st.db alice postal "1 Main St, Springfield"
run addrtypo 2 $E address --state st.db alice emial x@example.org
has addrtypo err "unknown channel 'emial' (email, sms, voice, postal or postal_outside_contiguous_us); did you mean 'email'?"
run addrctl 2 $E address --state st.db alice email "$(printf 'a\tb')"
has addrctl err "the address holds a control character"
run addrargs 2 $E address --state st.db alice email
has addrargs err "expected ACCOUNT, or ACCOUNT CHANNEL ADDRESS"
run addrpol 2 $E address --state st.db -p policy.yaml alice email x@example.org
has addrpol err "address takes no -p, --label, --auth-aal or --claims"
run addrrmlist 2 $E address --state st.db --remove alice
has addrrmlist err "--remove needs CHANNEL and ADDRESS"
run rmaddr 2 $E remove --state st.db --remove alice password
has rmaddr err "--remove is for address"
run addrlist 0 $E address --state st.db alice --format json
python3 -c "
import json; d = json.load(open('addrlist.out'))
assert d == {'account': 'alice', 'addresses': [
    {'channel': 'email', 'address': 'alice@example.org'},
    {'channel': 'postal', 'address': '1 Main St, Springfield'}]}, d
" || fail "addrlist: $(cat addrlist.out)"
run addrrm 0 $E address --state st.db --remove alice email alice@example.org
has addrrm out "removed email 'alice@example.org' from 'alice'"
run addrrm2 1 $E address --state st.db --remove alice email alice@example.org
has addrrm2 err "'alice' has no email 'alice@example.org'"
run addrtext 0 $E address --state st.db alice
has addrtext out "postal                       1 Main St, Springfield"
# The log: the first address tells nobody; later changes tell the
# addresses held before them, the removed one included.
python3 - <<'PYEOF' || fail "address records: see above"
import json, sys
recs = [json.loads(l) for l in open("aalgate-decisions.jsonl")]
a = [r for r in recs if r["type"] in ("address_add", "address_remove")]
def want(cond, what):
    if not cond:
        print(what, a); sys.exit(1)
want([r["type"] for r in a] == ["address_add", "address_add", "address_remove"], "types")
want("obligation" not in a[0], "the first address has nobody to tell")
want(a[1]["obligation"] == "notify" and a[1]["notify"] == [{"channel": "email", "address": "alice@example.org"}], "add notifies")
want(a[2]["notify_postal"] is True and [x["address"] for x in a[2]["notify"]] == ["alice@example.org", "1 Main St, Springfield"], "remove notifies")
PYEOF
# ---- many addresses from a file --------------------------------------------
cat >addrs.csv <<'EOF'
account,channel,address
carol,email,carol@example.org
dave,sms,+15550150
carol,sms,"+15550151"
carol,email,carol@example.org
EOF
run imp 0 $E address --state st.db --import addrs.csv
has imp out "4 rows for 2 accounts: 3 addresses added, 1 already on record"
run imp2 0 $E address --state st.db --import addrs.csv
has imp2 out "4 rows for 2 accounts: 0 addresses added, 4 already on record"
run implist 0 $E address --state st.db carol
has implist out "sms                          +15550151"
# A first load tells nobody; a bad file records nothing.
[ "$(grep '"type":"address_add"' aalgate-decisions.jsonl | grep -c '"account":"carol"')" = 2 ] ||
	fail "carol's addresses in the log: $(grep carol aalgate-decisions.jsonl)"
grep '"type":"address_add"' aalgate-decisions.jsonl | grep '"account":"carol"' | grep -q obligation &&
	fail "a first load of carol's addresses notified"
printf 'account,channel,address\nerin,email,erin@example.org\nerin,emial,e2@example.org\n' >bad.csv
run impbad 2 $E address --state st.db --import bad.csv
has impbad err "bad.csv:3:6: unknown channel 'emial' (email, sms, voice, postal or postal_outside_contiguous_us); did you mean 'email'?"
run impnone 1 $E address --state st.db erin
run impargs 2 $E address --state st.db --import addrs.csv carol
has impargs err "--import takes no ACCOUNT, --remove or --format"
run impstdin 0 $E address --state st.db --import - <addrs.csv
has impstdin out "0 addresses added"
run verify4 0 log verify aalgate-decisions.jsonl
echo "PASS enroll"
