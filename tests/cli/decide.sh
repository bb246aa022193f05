#!/bin/sh
# decide.sh AALGATE PROJECT_SOURCE_DIR
# 'aalgate decide': the gate's decision offline, from claims, as JSON and
# text, with the exit codes scripts rely on, and its bad-input messages.
set -u
aalgate=$1
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac

fail() { echo "FAIL decide: $*"; exit 1; }
command -v python3 >/dev/null 2>&1 || fail "python3 is needed (scripts/setup installs it)"

work=$(mktemp -d) || exit 2
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 2

cat >policy.yaml <<'EOF'
workflows:
  admin: { aal: 3, phishing_resistant: true, device: managed, max_age: 12h, idle: 15m }
  payroll: { aal: 2, phishing_resistant: true }
  staff: { aal: 2 }
acr:
  "urn:aal2": { aal: 2 }
  phr: { aal: 2, phishing_resistant: true }
  phrh: { aal: 3, phishing_resistant: true, hardware: true }
routes:
  - { host: admin.example.com, workflow: admin }
  - { path_prefix: /payroll/, workflow: payroll }
default_workflow: staff
EOF

# run NAME EXPECTED_EXIT JSON [ARGS...]: writes NAME.out and NAME.err
run() {
	name=$1 want=$2 body=$3
	shift 3
	printf '%s\n' "$body" >"$name.json"
	"$aalgate" decide -p policy.yaml "$@" "$name.json" >"$name.out" 2>"$name.err"
	got=$?
	[ "$got" -eq "$want" ] || fail "$name: exit $got, expected $want; stderr: $(cat "$name.err")"
}

# field NAME PYEXPR EXPECTED: the decision JSON's value
field() {
	v=$(python3 -c "import json,sys; d=json.load(open('$1.out')); print($2)") ||
		fail "$1: output is not JSON: $(cat "$1.out")"
	[ "$v" = "$3" ] || fail "$1: $2 is '$v', expected '$3'"
}

run allow 0 '{"request":{"method":"GET","host":"app.example.com","uri":"/payroll/run"},
  "claims":{"sub":"bob","iss":"i","amr":["swk","user"],"auth_time":1800000000},"now":1800000100}'
field allow 'd["decision"]' allow
field allow 'd["status"]' 200
field allow 'd["workflow"]' payroll
field allow 'd["subject"]' bob
field allow 'd["observed"]["aal"]' 2
field allow 'd["observed"]["phishing_resistant"]' True
field allow 'd["reasons"]' '[]'

run stepup 1 '{"request":{"method":"GET","host":"app.example.com","uri":"//payroll//run"},
  "claims":{"sub":"bob","amr":["pwd","otp"],"auth_time":1800000000},"now":1800000100}'
field stepup 'd["decision"]' step_up
field stepup 'd["status"]' 401
field stepup 'd["workflow"]' payroll
field stepup 'd["reasons"]' "['phishing_resistant']"
field stepup 'd["www_authenticate"]' 'Bearer error="insufficient_user_authentication", error_description="workflow '"'"'payroll'"'"' requires AAL2, phishing-resistant; the token'"'"'s authentication is not phishing-resistant", acr_values="phr phrh"'

# A target the upstream may read differently is refused, not guessed.
run dotted 1 '{"request":{"method":"GET","host":"h","uri":"/x/../payroll/run"},
  "claims":{"sub":"bob","amr":["swk","user"],"auth_time":1800000000},"now":1800000100}'
field dotted 'd["status"]' 403
field dotted 'd["reasons"]' "['bad_request']"

run old 1 '{"workflow":"admin","device":"managed",
  "claims":{"sub":"root","acr":"phrh","auth_time":1800000000},"now":1800043201}'
field old 'd["reasons"]' "['max_age']"
field old 'd["required"]["max_age"]' 43200
field old 'd["www_authenticate"]' 'Bearer error="insufficient_user_authentication", error_description="authentication is 43201s old; workflow '"'"'admin'"'"' allows 43200s", acr_values="phrh", max_age="43200"'

run device 1 '{"workflow":"admin","device":"known",
  "claims":{"sub":"root","acr":"phrh","auth_time":1800000000},"now":1800000060}'
field device 'd["decision"]' deny
field device 'd["status"]' 403
field device 'd["reasons"]' "['device']"
field device 'd["www_authenticate"]' None

run notoken 1 '{"workflow":"staff"}'
field notoken 'd["status"]' 401
field notoken 'd["www_authenticate"]' 'Bearer realm="aalgate"'

# Key-bound claims: with no proof of possession, refused.
run boundjkt 1 '{"workflow":"staff","claims":{"sub":"a","amr":["pwd","otp"],"auth_time":1800000000,
  "cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}},"now":1800000001}'
field boundjkt 'd["decision"]' deny
field boundjkt 'd["status"]' 401
field boundjkt 'd["reasons"]' "['credential']"
field boundjkt 'd["www_authenticate"]' 'DPoP error="invalid_token", error_description="the token is bound to a DPoP key (cnf jkt) and no valid DPoP proof for this request came with it"'
run boundkid 1 '{"workflow":"staff","claims":{"sub":"a","amr":["pwd","otp"],"auth_time":1800000000,
  "cnf":{"kid":"k1"}},"now":1800000001}'
field boundkid 'd["reasons"]' "['credential']"
field boundkid 'd["detail"]' 'the token'"'"'s cnf binds it to a key in a form the gate cannot check (only jkt and x5t#S256)'

# Text for people.
run text 1 '{"request":{"method":"GET","host":"h","uri":"/payroll/"},
  "claims":{"sub":"bob","amr":["pwd","otp"],"auth_time":1800000000},"now":1800000100}' --format text
grep -qx 'decision:  step_up (401)' text.out || fail "text: no decision line: $(cat text.out)"
grep -qx 'reasons:   phishing_resistant' text.out || fail "text: no reasons line: $(cat text.out)"

# Standard input.
printf '%s' '{"workflow":"staff","claims":{"sub":"a","amr":["pwd","otp"],"auth_time":1800000000},"now":1800000001}' |
	"$aalgate" decide -p policy.yaml - >stdin.out 2>stdin.err || fail "stdin: exit $?: $(cat stdin.err)"
field stdin 'd["decision"]' allow

# Bad input: exit 2 and a clear message.
bad() {
	name=$1 msg=$2
	grep -qF -- "$msg" "$name.err" || fail "$name: expected '$msg' in stderr, got: $(cat "$name.err")"
}
run typo 2 '{"workflow":"staff","clams":{}}'
bad typo "typo.json: unknown key 'clams' in the request; did you mean 'claims'?"
run both 2 '{"workflow":"staff","request":{"uri":"/"}}'
bad both "give exactly one of 'workflow' and 'request'"
run dup 2 '{"workflow":"staff","workflow":"admin"}'
bad dup "dup.json: line 1"
run dupclaim 2 '{"workflow":"staff","claims":{"sub":"a","sub":"b"}}'
bad dupclaim "dupclaim.json: line 1"
run notjson 2 'workflow: staff'
bad notjson "notjson.json: line 1"
run claimtype 2 '{"workflow":"staff","claims":{"sub":"a","auth_time":"yesterday"}}'
bad claimtype "'claims': bad_claims"
run unknownwf 1 '{"workflow":"staf","claims":{"sub":"a"}}'
field unknownwf 'd["reasons"]' "['unknown_workflow']"

"$aalgate" decide -p policy.yaml >/dev/null 2>err.txt
[ $? -eq 2 ] || fail "no request file: expected exit 2"
"$aalgate" decide --help | grep -q '^usage: aalgate decide' || fail "--help"
echo "PASS decide"
