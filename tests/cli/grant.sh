#!/bin/sh
# grant.sh AALGATE PROJECT_SOURCE_DIR
# 'aalgate grant' with real signed tokens: request, approve, deny, revoke,
# list and check; what is refused (self-approval, a non-member, an AAL1
# approver, a replayed approval, a grant longer than jit.max, an invalid
# token); expiry; break-glass (no use without its approval, the cap, the
# alert obligations); and the gate's step 7 over HTTP: /v1/grants, and a
# grant revoked while in use denied on the next /v1/decide and /v1/authz.
# ag-testsign is found through $AG_TESTSIGN or beside the binary.
set -u
aalgate=$1
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac
testsign=${AG_TESTSIGN:-$(dirname "$aalgate")/tests/ag-testsign}

fail() {
	echo "FAIL grant: $*"
	[ -f "$work/serve.err" ] && sed 's/^/  serve: /' "$work/serve.err"
	exit 1
}
[ -x "$testsign" ] || fail "no ag-testsign at $testsign (set AG_TESTSIGN)"
command -v curl >/dev/null 2>&1 || fail "curl is needed"
command -v openssl >/dev/null 2>&1 || fail "openssl is needed"

work=$(mktemp -d) || exit 2
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 2

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem 2>/dev/null ||
	fail "openssl genpkey failed"
"$testsign" jwks k1=key.pem >jwks.json || fail "ag-testsign jwks failed"

cat >policy.yaml <<EOF
issuers:
  - { iss: "https://idp.test", audiences: [aalgate], jwks_file: $work/jwks.json }
workflows:
  admin: { aal: 3, phishing_resistant: true, max_age: 12h, idle: 15m,
           jit: { max: 1h, approvers: "group:admins", approvals: 1 } }
  ops:   { aal: 2, jit: { max: 2h, approvers: "group:admins", approvals: 2 } }
  staff: { aal: 1 }
groups:
  admins: [bob, carol, dave]
break_glass: { approvals: 1, max: 4h, alert: true }
acr:
  phrh: { aal: 3, phishing_resistant: true, hardware: true }
  aal2: { aal: 2 }
  aal1: { aal: 1 }
routes:
  - { host: admin.test, workflow: admin }
default_workflow: staff
EOF

now=$(date +%s)
# tok NAME SUB ACR [AUTH_AGE]: a signed token in NAME.jwt, jti "jti-NAME"
tok() {
	printf '{"iss":"https://idp.test","aud":"aalgate","sub":"%s","iat":%d,"exp":%d,"auth_time":%d,"jti":"jti-%s","acr":"%s"}' \
		"$2" $((now - 60)) $((now + 3600)) $((now - ${4:-60})) "$1" "$3" |
		"$testsign" sign --key key.pem --alg ES256 --kid k1 >"$1.jwt" ||
		fail "ag-testsign sign $1 failed"
}
# The requester authenticates at the workflow's level (PAM sees no token
# when the grant is used); aliceweak cannot ask for admin.
for n in 1 2 3 4 5 6 7 8 9; do tok alice$n alice phrh; done
tok aliceweak alice aal2
tok bob1 bob phrh
tok bob2 bob phrh
tok bob3 bob phrh
tok bobweak bob aal1
tok carol1 carol phrh
tok carol2 carol aal2
tok carol3 carol phrh
tok dave1 dave aal2
tok eve1 eve phrh
tok root1 root aal1
tok root2 root aal1
tok root3 root aal1

P="-p policy.yaml --state state.db"
# run NAME EXPECTED_EXIT CMD...: output in NAME.out, errors in NAME.err
run() {
	name=$1
	want=$2
	shift 2
	"$@" >"$name.out" 2>"$name.err"
	got=$?
	[ "$got" = "$want" ] ||
		fail "$name: exit $got, expected $want: $(cat "$name.out" "$name.err")"
}
has() { grep -qF -- "$2" "$1" || fail "$1 lacks '$2': $(cat "$1")"; }
lacks() { ! grep -qF -- "$2" "$1" || fail "$1 has '$2': $(cat "$1")"; }

# ---- usage ---------------------------------------------------------------
run help 0 "$aalgate" grant --help
has help.out "aalgate grant request"
has help.out "break-glass"
run nosub 2 "$aalgate" grant
run badsub 2 "$aalgate" grant aprove
has badsub.err "did you mean 'approve'?"
run nostate 2 "$aalgate" grant list
has nostate.err "a state file is required (--state DB)"
run notoken 2 "$aalgate" grant request $P -w admin -D 30m -r x
has notoken.err "the caller's token is required"
run noreason 2 "$aalgate" grant request $P --token alice1.jwt -w admin -D 30m
has noreason.err "say why (--reason TEXT)"
run badid 2 "$aalgate" grant approve $P --token bob1.jwt 0x1
has badid.err "'0x1' is not a grant ID"
run baddur 2 "$aalgate" grant request $P --token alice1.jwt -w admin -D 1hour -r x
has baddur.err "--duration takes a duration"

# ---- request, refusals, approval, expiry ----------------------------------
run weakreq 1 "$aalgate" grant request $P --token aliceweak.jwt -w admin -D 30m -r "deploy"
has weakreq.err "refused: the requester's token does not meet workflow 'admin'"
run toolong 1 "$aalgate" grant request $P --token alice1.jwt -w admin -D 2h -r "deploy"
has toolong.err "refused: workflow 'admin' grants at most jit.max (1h), not 2h"
run nojit 1 "$aalgate" grant request $P --token alice1.jwt -w staff -D 1h -r "x"
has nojit.err "workflow 'staff' has no jit"
run emptyreason 1 "$aalgate" grant request $P --token alice1.jwt -w admin -D 1h -r ""
has emptyreason.err "a request needs a reason"

run req1 0 "$aalgate" grant request $P --token alice1.jwt -w admin -D 30m \
	-r "INC-1: restart the directory" --format json
has req1.out '"result": "done"'
has req1.out '"state": "pending"'
has req1.out '"id": 1,'
run self 1 "$aalgate" grant approve $P --token alice2.jwt 1
has self.err "refused: 'alice' requested grant 1 and may not approve it"
run nonmember 1 "$aalgate" grant approve $P --token eve1.jwt 1
has nonmember.err "refused: 'eve' is not an approver of workflow 'admin': approvers are the members of group 'admins'"
run weak 1 "$aalgate" grant approve $P --token bobweak.jwt 1 --format json
has weak.err "the approver's token does not meet workflow 'admin': workflow 'admin' requires AAL3, phishing-resistant, hardware; the token shows AAL1"
has weak.out '"refusal": "assurance"'
run pending 1 "$aalgate" grant check --state state.db alice admin
has pending.out "'alice' holds no active grant for 'admin'"

# Approved ten minutes ahead of the clock, so that grant 1 is not yet
# active in real time when the gate is asked below, even on a slow, busy
# machine (and within admin's idle limit of the approver's token).
at=$((now + 600))
run approve1 0 "$aalgate" grant approve $P --token bob1.jwt 1 --now $at
has approve1.out "approved grant 1: active until"
has approve1.out "approvals: 1 of 1: bob"
run replay 1 "$aalgate" grant approve $P --token bob1.jwt 1 --now $at
has replay.err "refused:"
run check1 0 "$aalgate" grant check --state state.db alice admin --now $((at + 1799))
run expired 1 "$aalgate" grant check --state state.db alice admin --now $((at + 1800))
run listexp 0 "$aalgate" grant list --state state.db --now $((at + 1800)) --format json
has listexp.out '"state": "expired"'
has listexp.out '"truncated": false'

# A replay on another grant: the same token cannot approve twice.
run req2 0 "$aalgate" grant request $P --token alice3.jwt -w ops -D 90m -r "INC-2" --format json
has req2.out '"approvals_needed": 2'
run replay2 1 "$aalgate" grant approve $P --token bob1.jwt 2 --format json
has replay2.out '"refusal": "replay"'
has replay2.err "this token served an approval before"
run ops1 0 "$aalgate" grant approve $P --token carol2.jwt 2
has ops1.out "1 of 2 approvals"
run again 1 "$aalgate" grant approve $P --token carol3.jwt 2
has again.err "'carol' approved grant 2 already"
run ops2 0 "$aalgate" grant approve $P --token dave1.jwt 2
has ops2.out "approved grant 2: active until"

# Deny and revoke.
run req3 0 "$aalgate" grant request $P --token alice4.jwt -w admin -D 10m -r "INC-3"
run deny3 0 "$aalgate" grant deny $P --token dave1.jwt 3
has deny3.out "grant 3: denied"
run late3 1 "$aalgate" grant approve $P --token carol1.jwt 3
has late3.err "grant 3 is denied, not pending"
run revoke2 1 "$aalgate" grant revoke $P --token eve1.jwt 2
has revoke2.err "'eve' may not revoke grant 2"
run revoke2b 0 "$aalgate" grant revoke $P --token alice5.jwt 2
run check2 1 "$aalgate" grant check --state state.db alice ops

# A bad token: refused, and no account is assumed.
cp bob2.jwt forged.jwt
printf 'x' >>forged.jwt
run forged 1 "$aalgate" grant approve $P --token forged.jwt 3
has forged.err "refused: the token is not valid"
echo "not a token" | "$aalgate" grant list $P --token - >stdin.out 2>stdin.err
[ $? = 1 ] || fail "a token on stdin that is not one: $(cat stdin.err)"

# list with a token: the caller's own and those it may approve.
run listeve 0 "$aalgate" grant list $P --token eve1.jwt
has listeve.out "no grants"
run listbob 0 "$aalgate" grant list $P --token bob3.jwt --format json
has listbob.out '"id": 3'

# ---- break-glass -----------------------------------------------------------
run mark 0 "$aalgate" grant break-glass mark --state state.db root
has mark.out "'root' is a break-glass account"
run show 0 "$aalgate" grant break-glass show --state state.db root --format json
has show.out '"break_glass": true'
run bgcap 1 "$aalgate" grant request $P --token root1.jwt -w admin -D 5h -r "outage"
has bgcap.err "'root' is a break-glass account: a grant lasts at most break_glass.max (4h), not 5h"
run bgreq 0 "$aalgate" grant request $P --token root2.jwt -w admin -D 3h -r "outage" --format json
has bgreq.out '"break_glass": true'
has bgreq.out '"state": "pending"'
bgid=$(sed -n 's/^    "id": \([0-9]*\),$/\1/p' bgreq.out)
[ -n "$bgid" ] || fail "no id in bgreq.out"
# Without its approval the break-glass grant gives nothing.
run bgnone 1 "$aalgate" grant check --state state.db root admin

# ---- the gate: step 7 with and without --state -----------------------------
decide() { # decide NAME TOKEN_FILE WORKFLOW
	printf '{"workflow":"%s","token":"%s"}' "$3" "$(cat "$2")" >"$1.req"
	curl -s --max-time 10 -o "$1.b" -w '%{http_code}' -X POST \
		--data-binary @"$1.req" "$base/v1/decide" >"$1.code" ||
		fail "$1: curl failed"
}
start() { # start ARGS...
	: >serve.err
	"$aalgate" serve -p policy.yaml --listen 127.0.0.1:0 --timeout 5 --drain 5 "$@" 2>serve.err &
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
	base=http://127.0.0.1:$port
}
stop() {
	kill -TERM "$pid"
	wait "$pid"
	pid=
}

# Without --state, JIT workflows deny and /v1/grants cannot work.
start --decision-log nostate.jsonl
tok carol4 carol phrh
decide nost carol4.jwt admin
has nost.b '"decision":"deny","status":403'
has nost.b '"reasons":["jit"]'
curl -s -o g0.b -w '%{http_code}' -H "Authorization: Bearer $(cat carol4.jwt)" \
	"$base/v1/grants" >g0.code
[ "$(cat g0.code)" = 503 ] || fail "/v1/grants without --state: $(cat g0.code)"
has g0.b "start the gate with --state DB"
stop

start --state state.db
# metric NAME{LABELS}: its value at /metrics now, 0 when it is absent.
metric() {
	curl -s --max-time 10 "$base/metrics" >metrics.txt || fail "GET /metrics failed"
	awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }' metrics.txt
}
BGA='aalgate_grants_open{workflow="admin",break_glass="true",state="active"}'
BGP='aalgate_grants_open{workflow="admin",break_glass="true",state="pending"}'
ADA='aalgate_grants_open{workflow="admin",break_glass="false",state="active"}'
ADP='aalgate_grants_open{workflow="admin",break_glass="false",state="pending"}'
[ "$(metric aalgate_grants_readable)" = 1 ] || fail "grants not readable: $(cat metrics.txt)"
bga0=$(metric "$BGA")
bgp0=$(metric "$BGP")
[ "$bgp0" -ge 1 ] || fail "the pending break-glass grant is not counted: $(grep grants_open metrics.txt)"
# The break-glass grant waits for its approval: its use is refused.
tok root4 root phrh
decide bg0 root4.jwt admin
has bg0.b '"reasons":["jit"]'
curl -s -o bga.b -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat carol1.jwt)" \
	"$base/v1/grants/$bgid/approve" >bga.code
[ "$(cat bga.code)" = 200 ] || fail "break-glass approve: $(cat bga.code) $(cat bga.b)"
has bga.b '"activated":true'
[ "$(metric "$BGA")" = $((bga0 + 1)) ] || fail "break-glass active after approval: $(grep grants_open metrics.txt)"
[ "$(metric "$BGP")" = $((bgp0 - 1)) ] || fail "break-glass pending after approval: $(grep grants_open metrics.txt)"
decide bg1 root4.jwt admin
has bg1.b '"decision":"allow"'
decide bg2 root4.jwt admin
has bg2.b '"decision":"allow"'

# /v1/grants: the caller is the bearer token's subject.
tok alice10 alice phrh
tok alice11 alice phrh
ada0=$(metric "$ADA")
adp0=$(metric "$ADP")
curl -s -o h1.b -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat alice10.jwt)" \
	--data '{"workflow":"admin","duration":"20m","reason":"INC-9"}' "$base/v1/grants" >h1.code
[ "$(cat h1.code)" = 201 ] || fail "POST /v1/grants: $(cat h1.code) $(cat h1.b)"
hid=$(sed -n 's/.*"grant":{"id":\([0-9]*\),.*/\1/p' h1.b)
[ -n "$hid" ] || fail "no id in $(cat h1.b)"
[ "$(metric "$ADP")" = $((adp0 + 1)) ] || fail "pending after the request: $(grep grants_open metrics.txt)"
[ "$(metric "$ADA")" = "$ada0" ] || fail "active after the request: $(grep grants_open metrics.txt)"
curl -s -o h2.b -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat alice11.jwt)" \
	"$base/v1/grants/$hid/approve" >h2.code
[ "$(cat h2.code)" = 403 ] || fail "self-approval over HTTP: $(cat h2.code) $(cat h2.b)"
has h2.b '"refusal":"self_approval"'
curl -s -o h3.b -w '%{http_code}' -X POST "$base/v1/grants/$hid/approve" >h3.code
[ "$(cat h3.code)" = 401 ] || fail "approve without a token: $(cat h3.code)"
curl -s -o h4.b -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat alice10.jwt)" \
	--data '{"workflow":"admin","duration":"2h","reason":"x"}' "$base/v1/grants" >h4.code
[ "$(cat h4.code)" = 400 ] || fail "too long over HTTP: $(cat h4.code)"
has h4.b 'jit.max (1h)'
curl -s -o h5.b -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat alice10.jwt)" \
	--data '{"workflow":"admin","duration":"20m","reson":"x"}' "$base/v1/grants" >h5.code
[ "$(cat h5.code)" = 400 ] || fail "unknown key over HTTP: $(cat h5.code)"
has h5.b "unknown key 'reson'; did you mean 'reason'?"
decide pre alice10.jwt admin
has pre.b '"reasons":["jit"]'
tok bob5 bob phrh
curl -s -o h6.b -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat bob5.jwt)" \
	"$base/v1/grants/$hid/approve" >h6.code
[ "$(cat h6.code)" = 200 ] || fail "approve over HTTP: $(cat h6.code) $(cat h6.b)"
has h6.b '"activated":true'
[ "$(metric "$ADP")" = "$adp0" ] || fail "pending after approval: $(grep grants_open metrics.txt)"
[ "$(metric "$ADA")" = $((ada0 + 1)) ] || fail "active after approval: $(grep grants_open metrics.txt)"
decide inuse alice10.jwt admin
has inuse.b '"decision":"allow"'
curl -s -o az1.b -D az1.h -w '%{http_code}' -H "Authorization: Bearer $(cat alice10.jwt)" \
	-H "Host: admin.test" "$base/v1/authz" >az1.code
[ "$(cat az1.code)" = 200 ] || fail "authz with a grant: $(cat az1.code) $(cat az1.b)"
curl -s -o h7.b -w '%{http_code}' -H "Authorization: Bearer $(cat bob5.jwt)" "$base/v1/grants" >h7.code
[ "$(cat h7.code)" = 200 ] || fail "GET /v1/grants: $(cat h7.code)"
has h7.b '"truncated":false'
# A key-bound token (cnf) of the same approver, as a bearer token: no
# proof of possession can come here, so it is refused (listing, revoking).
printf '{"iss":"https://idp.test","aud":"aalgate","sub":"bob","iat":%d,"exp":%d,"auth_time":%d,"jti":"jti-bobbound","acr":"phrh","cnf":{"x5t#S256":"B3O2OQDdJzMBqPKAK7-EPb9mcgqEmn9DvFieOhegaRs"}}' \
	$((now - 60)) $((now + 3600)) $((now - 60)) |
	"$testsign" sign --key key.pem --alg ES256 --kid k1 >bobbound.jwt ||
	fail "ag-testsign sign bobbound failed"
curl -s -o hb.b -w '%{http_code}' -H "Authorization: Bearer $(cat bobbound.jwt)" "$base/v1/grants" >hb.code
[ "$(cat hb.code)" = 401 ] || fail "GET /v1/grants with a bound token: $(cat hb.code) $(cat hb.b)"
has hb.b 'key_bound'
curl -s -o hb2.b -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat bobbound.jwt)" \
	"$base/v1/grants/$hid/revoke" >hb2.code
[ "$(cat hb2.code)" = 401 ] || fail "revoke with a bound token: $(cat hb2.code) $(cat hb2.b)"
has h7.b "\"id\":$hid,"
# Revoked while in use: the next request is denied.
curl -s -o h8.b -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat alice10.jwt)" \
	"$base/v1/grants/$hid/revoke" >h8.code
[ "$(cat h8.code)" = 200 ] || fail "revoke over HTTP: $(cat h8.code) $(cat h8.b)"
[ "$(metric "$ADA")" = "$ada0" ] || fail "active after revoke: $(grep grants_open metrics.txt)"
decide after alice10.jwt admin
has after.b '"decision":"deny","status":403'
has after.b '"reasons":["jit"]'
curl -s -o az2.b -w '%{http_code}' -H "Authorization: Bearer $(cat alice10.jwt)" \
	-H "Host: admin.test" "$base/v1/authz" >az2.code
[ "$(cat az2.code)" = 403 ] || fail "authz after revoke: $(cat az2.code) $(cat az2.b)"
has az2.b "aalgate grant request"
sleep 1.5 # the journal reaches the log within a second
stop

# ---- the decision log: every change, and the alert obligations -------------
run verify 0 "$aalgate" log verify aalgate-decisions.jsonl
for t in grant_request grant_approve grant_activate grant_deny grant_revoke \
	grant_refused break_glass_mark break_glass_use; do
	grep -q "\"type\":\"$t\"" aalgate-decisions.jsonl || fail "no $t record in the decision log"
done
grep '"type":"grant_activate"' aalgate-decisions.jsonl | grep '"break_glass":true' >bgact.txt
has bgact.txt '"obligation":"alert"'
grep '"type":"grant_activate"' aalgate-decisions.jsonl | grep '"break_glass":false' >act.txt
lacks act.txt '"obligation"'
# Two allowed break-glass uses within a minute: one alert.
n=$(grep -c '"type":"break_glass_use"' aalgate-decisions.jsonl)
[ "$n" = 1 ] || fail "$n break_glass_use records, expected 1"
grep '"type":"break_glass_use"' aalgate-decisions.jsonl >use.txt
has use.txt '"obligation":"alert"'
has use.txt '"account":"root"'
# The decisions themselves.
grep -q '"outcome":"allow"' aalgate-decisions.jsonl || fail "no allow logged"

echo "ok grant"
