#!/bin/sh
# accounts-http.sh AALGATE PROJECT_SOURCE_DIR
# The self-service enrolment endpoints of 'aalgate serve --state' over
# loopback, with tokens signed by ag-testsign: /v1/accounts/{id}/enrolments
# is the account's own (no token 401, another subject's token 403), the
# binding rule with the token's assurance as evidence (a step-up answer
# when it falls short), removal held to the account's own level, strict
# percent-decoding of ids, and every change in the decision log.
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
	echo "FAIL accounts-http: $*"
	[ -f "$work/serve.err" ] && sed 's/^/  serve: /' "$work/serve.err"
	exit 1
}
if [ ! -x "$testsign" ]; then
	echo "SKIP: needs ag-testsign at $testsign"
	exit 0
fi
for t in curl openssl python3; do
	command -v $t >/dev/null 2>&1 || { echo "SKIP: needs $t"; exit 0; }
done

run() {
	name=$1
	want=$2
	shift 2
	"$aalgate" "$@" >"$name.out" 2>"$name.err"
	got=$?
	[ "$got" = "$want" ] ||
		fail "$name: exit $got, expected $want; stdout: $(cat "$name.out"); stderr: $(cat "$name.err")"
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
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem 2>/dev/null ||
	fail "openssl genpkey failed"
"$testsign" jwks k1=key.pem >jwks.json 2>ts.err || fail "ag-testsign jwks: $(cat ts.err)"
now=$(date +%s)
token() {
	cat >"$1.claims" <<EOF
{"iss": "https://idp.test", "aud": "portal", "sub": "$2",
 "iat": $((now - 30)), "exp": $((now + 900)), "auth_time": $((now - 30)),
 "jti": "jti-$1", "amr": $3${4:-}}
EOF
	"$testsign" sign --key key.pem --alg ES256 --kid k1 <"$1.claims" >"$1.jwt" 2>ts.err ||
		fail "ag-testsign sign $1: $(cat ts.err)"
}
token alice1 alice '["pwd"]'
token alice2 alice '["pwd", "otp"]'
token alice3 alice '["hwk", "pin"]'
token bob2 bob '["pwd", "otp"]'
token carol1 carol '["pwd"]'
# alice at AAL3, but bound to a DPoP key: a copy of it is worth nothing
# without the key, and these endpoints take no proofs.
token alice3bound alice '["hwk", "pin"]' ', "cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}'

S="--state $work/st.db"
run e1 0 enroll add $S -p policy.yaml alice password
run e2 0 enroll add $S -p policy.yaml alice totp --auth-aal 1

: >serve.err
"$aalgate" serve -p policy.yaml --listen 127.0.0.1:0 $S --decision-log "$work/gate.jsonl" \
	--timeout 5 --drain 5 2>serve.err &
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
base=http://127.0.0.1:$port/v1/accounts

# call NAME METHOD PATH TOKEN [BODY]: status NAME.code, headers NAME.h,
# body NAME.out ("-" for no token)
call() {
	name=$1 method=$2 path=$3 tok=$4 body=${5:-}
	set -- -s --max-time 10 -o "$name.out" -D "$name.h" -w '%{http_code}' -X "$method"
	[ "$tok" = - ] || set -- "$@" -H "Authorization: Bearer $(cat "$tok.jwt")"
	[ -z "$body" ] || set -- "$@" --data-binary "$body"
	curl "$@" --path-as-is "$base$path" >"$name.code" || fail "$name: curl failed"
}
code() { [ "$(cat "$1.code")" = "$2" ] || fail "$1: status $(cat "$1.code"), expected $2: $(cat "$1.out")"; }
field() {
	v=$(python3 -c "import json,sys; d=json.load(open('$1.out')); print($2)") ||
		fail "$1: output is not JSON: $(cat "$1.out")"
	[ "$v" = "$3" ] || fail "$1: $2 is '$v', expected '$3'"
}
header() {
	v=$(grep -i "^$2:" "$1.h" | tr -d '\r' | sed 's/^[^:]*: //')
	case $v in *"$3"*) ;; *) fail "$1: $2 is '$v', expected it to hold '$3'" ;; esac
}

# ---- who may call ------------------------------------------------------------------
call notoken GET /alice/enrolments -
code notoken 401
header notoken WWW-Authenticate 'Bearer realm="aalgate"'
printf 'not.a.token' >junk.jwt
call junk GET /alice/enrolments junk
code junk 401
header junk WWW-Authenticate 'Bearer error="invalid_token"'
# A key-bound token, sent as a bearer token: refused before anything.
call bound GET /alice/enrolments alice3bound
code bound 401
header bound WWW-Authenticate 'Bearer error="invalid_token"'
field bound 'd["error"]' "the token is refused (key_bound): the token is bound to a key (cnf) and this takes bearer tokens only, with no proof of possession"
call boundadd POST /alice/enrolments alice3bound '{"method": "security_key_uv"}'
code boundadd 401
# Another subject's token: neither listing nor binding.
call otherlist GET /alice/enrolments bob2
code otherlist 403
field otherlist 'd["error"]' "the token is for 'bob', not 'alice': an account's enrolments are its own to see and change"
call otheradd POST /alice/enrolments bob2 '{"method": "security_key_uv"}'
code otheradd 403
call otherdel DELETE /alice/enrolments/totp bob2
code otherdel 403

# ---- listing --------------------------------------------------------------------
call list GET /alice/enrolments alice2
code list 200
field list 'd["account"]' alice
field list 'd["level"]["aal"]' 2
field list '[e["method"] for e in d["enrolments"]]' "['password', 'totp']"
# Percent-decoded once, strictly.
call pct GET /al%69ce/enrolments alice2
code pct 200
field pct 'd["account"]' alice
for bad in 'al%zzce' 'al%6' 'al%00ce' 'alice%0A' '%2e%2e' 'al%C3ce' 'al%25%7'; do
	call bad GET "/$bad/enrolments" alice2
	code bad 400
done
call typo GET /alice/enrollments alice2
code typo 404
field typo '"did you mean '"'"'enrolments'"'"'?" in d["error"]' True
call put PUT /alice/enrolments alice2
code put 405
header put Allow 'GET, POST'

# ---- binding: min(the account's level, the new authenticator's) ----------------------
# alice is at AAL2 and a security key helps reach AAL3: AAL2 is needed.
call weak POST /alice/enrolments alice1 '{"method": "security_key_uv", "label": "yubi"}'
code weak 401
header weak WWW-Authenticate 'Bearer error="insufficient_user_authentication"'
field weak 'd["binding"]["required"]' 2
field weak 'd["shown"]["aal"]' 1
call strong POST /alice/enrolments alice2 '{"method": "security_key_uv", "label": "yubi"}'
code strong 201
field strong 'd["binding"]["required"]' 2
field strong 'd["binding"]["bootstrap"]' False
field strong 'd["level"]["aal"]' 3
call dup POST /alice/enrolments alice2 '{"method": "security_key_uv", "label": "yubi"}'
code dup 409
call unknown POST /alice/enrolments alice2 '{"method": "totpp"}'
code unknown 400
field unknown '"did you mean '"'"'totp'"'"'?" in d["error"]' True
call kba POST /alice/enrolments alice2 '{"method": "kba"}'
code kba 400
field kba '"prohibited" in d["error"]' True
call badkey POST /alice/enrolments alice2 '{"method": "totp", "lable": "x"}'
code badkey 400
field badkey 'd["error"]' "unknown key 'lable'; did you mean 'label'?"
call badjson POST /alice/enrolments alice2 '{"method": '
code badjson 400
# carol has nothing enrolled: her first authenticator is a bootstrap.
call boot POST /carol/enrolments carol1 '{"method": "password"}'
code boot 201
field boot 'd["binding"]["bootstrap"]' True

# ---- removal: at the account's own level (now AAL3) --------------------------------
call delweak DELETE /alice/enrolments/totp alice2
code delweak 401
field delweak 'd["required"]' 3
header delweak WWW-Authenticate 'insufficient_user_authentication'
call del DELETE /alice/enrolments/totp alice3
code del 200
field del 'd["remaining"]' 2
call dellabel DELETE /alice/enrolments/security_key_uv/yubi alice3
code dellabel 200
field dellabel 'd["level"]["aal"]' 1
call delgone DELETE /alice/enrolments/totp alice3
code delgone 404
call delpost POST /alice/enrolments/password alice3
code delpost 405
header delpost Allow DELETE

# ---- the decision log -------------------------------------------------------------
i=0
until [ "$(grep -c '"type":"enroll_remove"' gate.jsonl 2>/dev/null)" = 2 ]; do
	i=$((i + 1))
	[ $i -lt 50 ] || fail "the gate did not log the removals: $(cat gate.jsonl)"
	sleep 0.1
done
kill "$pid"
wait "$pid"
rc=$?
pid=
[ "$rc" = 0 ] || fail "serve exited $rc after SIGTERM"
run verify 0 log verify gate.jsonl
python3 - <<'PYEOF' || fail "gate log: see above"
import json, sys
recs = [json.loads(l) for l in open("gate.jsonl")]
adds = [r for r in recs if r["type"] == "enroll_add" and r["evidence"] and r["evidence"]["source"] == "token"]
if [(r["account"], r["method"], r["evidence"]["aal"]) for r in adds] != [("alice", "security_key_uv", 2), ("carol", "password", 1)]:
    print("token enrolments: %r" % adds); sys.exit(1)
PYEOF
echo "PASS accounts-http"
