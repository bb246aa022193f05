#!/bin/sh
# recovery-http.sh AALGATE PROJECT_SOURCE_DIR
# Recovery against the state store: 'aalgate recover check --state' (the
# account's level from its enrolments, never lowered by the request; a
# saved code refused on its second use across two runs; the journal rows
# with the notification obligation), then POST /v1/recovery on a real
# 'aalgate serve --state' over loopback: refused to a peer outside
# trusted_proxies, the same answers as the CLI once trusted, request
# limits, and eight clients racing with one code of which one wins.
set -u
aalgate=$1
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac

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
	echo "FAIL recovery-http: $*"
	[ -f "$work/serve.err" ] && sed 's/^/  serve: /' "$work/serve.err"
	exit 1
}
command -v python3 >/dev/null 2>&1 || fail "python3 is needed (scripts/setup installs it)"

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
field() {
	v=$(python3 -c "import json,sys; d=json.load(open('$1.out')); print($2)") ||
		fail "$1: output is not JSON: $(cat "$1.out")"
	[ "$v" = "$3" ] || fail "$1: $2 is '$v', expected '$3'"
}

cat >policy.yaml <<'EOF'
workflows:
  staff: { aal: 2 }
  recovery: { aal: match_account }
trusted_proxies: [192.0.2.10/32]
EOF
S="--state $work/st.db"
run e1 0 enroll add $S -p policy.yaml root security_key_uv
run e2 0 enroll add $S -p policy.yaml alice password
run e3 0 enroll add $S -p policy.yaml alice totp --auth-aal 1
run e4 0 enroll add $S -p policy.yaml dave password
# Their addresses of record: every recovery notifies these.
for who in root alice dave; do
	run "a1$who" 0 enroll address $S "$who" email a@example.org
	run "a2$who" 0 enroll address $S "$who" sms +15550100
	run "a3$who" 0 enroll address $S "$who" postal "1 Main St"
done

now=$(date +%s)
NOTIFY='"notify": [{"channel": "email", "address": "a@example.org"},
                   {"channel": "sms", "address": "+15550100"},
                   {"channel": "postal", "address": "1 Main St"}]'
# req NAME JSON: the request in NAME.json
req() { printf '%s\n' "$2" >"$1.json"; }
check() {
	name=$1
	want=$2
	shift 2
	run "$name" "$want" recover check -p policy.yaml $S "$@" "$name.json"
}

# ---- recover check --state ---------------------------------------------------

# root's enrolments reach AAL3: "level": 1 in the request changes nothing,
# and an e-mail code does not recover it.
req aal3email "{\"account\": \"root\", \"level\": 1, \"enrolled\": [\"password\"], $NOTIFY,
  \"evidence\": [{\"kind\": \"issued_code\", \"channel\": \"email\", \"issued_at\": $((now - 60))}]}"
check aal3email 1
field aal3email 'd["accepted"]' False
field aal3email 'd["account_aal"]' 3
field aal3email 'd["rule"]' aal3_ial3
field aal3email '[r["reason"] for r in d["refusals"]]' "['aal3_needs_onsite_biometric']"
field aal3email 'd["state"]["store_aal"]' 3
field aal3email 'd["state"]["request_aal"]' 1
field aal3email 'd["state"]["request_ignored"]' True
field aal3email '[w["reason"] for w in d["warnings"]]' "['account_ial_unknown', 'code_destination_unknown', 'level_mismatch']"

# alice is at AAL2: two SMS codes are one method.
req samechan "{\"account\": \"alice\", $NOTIFY, \"evidence\": [
  {\"kind\": \"issued_code\", \"channel\": \"sms\", \"issued_at\": $((now - 300))},
  {\"kind\": \"issued_code\", \"channel\": \"sms\", \"issued_at\": $((now - 120))}]}"
check samechan 1
field samechan '[r["reason"] for r in d["refusals"]]' "['same_method']"

# An e-mail code 25 hours old.
req email25 "{\"account\": \"dave\", $NOTIFY, \"evidence\": [
  {\"kind\": \"issued_code\", \"channel\": \"email\", \"issued_at\": $((now - 90000))}]}"
check email25 1
field email25 'd["evidence"][0]["status"]' code_expired

# KBA.
req kba "{\"account\": \"dave\", $NOTIFY, \"evidence\": [{\"kind\": \"kba\"}]}"
check kba 1
field kba 'd["evidence"][0]["status"]' kba

# A saved code and a bound authenticator: accepted once, then spent.
req saved "{\"account\": \"alice\", $NOTIFY, \"evidence\": [
  {\"kind\": \"saved_code\", \"code_id\": \"s-1\"},
  {\"kind\": \"authenticator\", \"method\": \"password\"}]}"
check saved 0
field saved 'd["accepted"]' True
field saved 'd["state"]["codes_spent"]' "['s-1']"
field saved '[a["channel"] for a in d["notify"]["addresses"]]' "['email', 'sms']"
cp saved.json saved2.json
check saved2 1
field saved2 'd["evidence"][0]["status"]' code_reused
field saved2 'd["state"]["codes_spent"]' '[]'
# A front end that names its own address: the addresses of record are
# told, the request's is not, and the answer says so.
req evil "{\"account\": \"dave\", \"notify\": [{\"channel\": \"email\", \"address\": \"evil@example.net\"}],
  \"evidence\": [{\"kind\": \"saved_code\", \"code_id\": \"ev-1\"}]}"
check evil 0
field evil '[a["address"] for a in d["notify"]["addresses"]]' "['a@example.org', '+15550100']"
field evil 'd["state"]["addresses_of_record"]' 3
field evil 'd["state"]["request_addresses_ignored"]' 1
field evil '[w["reason"] for w in d["warnings"]]' "['address_not_on_record']"
# An account with no address of record cannot be recovered, whatever
# the request names.
run e5 0 enroll add $S -p policy.yaml erin password
req noaddr "{\"account\": \"erin\", $NOTIFY, \"evidence\": [{\"kind\": \"saved_code\", \"code_id\": \"na-1\"}]}"
check noaddr 1
field noaddr '[r["reason"] for r in d["refusals"]]' "['no_notification_address']"
field noaddr 'd["state"]["codes_spent"]' '[]'
field noaddr '"aalgate enroll address" in d["warnings"][-1]["text"]' True
# An authenticator the store does not bind to the account.
req unbound "{\"account\": \"dave\", \"enrolled\": [\"password\", \"totp\"], $NOTIFY, \"evidence\": [
  {\"kind\": \"saved_code\", \"code_id\": \"d-9\"}, {\"kind\": \"authenticator\", \"method\": \"totp\"}]}"
check unbound 1
field unbound 'd["evidence"][1]["status"]' not_enrolled

# Refused before any check.
req nobody "{\"account\": \"nobody\", $NOTIFY, \"evidence\": [{\"kind\": \"saved_code\", \"code_id\": \"n\"}]}"
check nobody 1
has nobody err "nobody.json: 'nobody' has no enrolled authenticators in the state store; its own level is not known, so it cannot be recovered (refused)"
req now "{\"account\": \"dave\", \"now\": $now, \"evidence\": []}"
check now 2
has now err "now.json: 'now' cannot be set when the state store is used"
req noacct "{\"level\": 1, \"evidence\": []}"
check noacct 2
has noacct err "noacct.json: 'account' is required"
run logalone 2 recover check -p policy.yaml --decision-log x.jsonl saved.json
has logalone err "--decision-log goes with --state"

# The journal, drained by the CLI into the decision log beside the state.
python3 - <<'PYEOF' || fail "decision log: see above"
import json, sys
recs = [json.loads(l) for l in open("aalgate-decisions.jsonl")]
def check(cond, what):
    if not cond:
        print("decision log: " + what); sys.exit(1)
ok = [r for r in recs if r["type"] == "recovery"]
no = [r for r in recs if r["type"] == "recovery_refused"]
check(len(ok) == 2 and len(no) == 7, "%d accepted, %d refused" % (len(ok), len(no)))
e = ok[1]
check(e["account"] == "dave" and e["request_addresses_ignored"] == 1, "evil %r" % e)
check([a["address"] for a in e["notify"]] == ["a@example.org", "+15550100"], "evil notify %r" % e["notify"])
r = ok[0]
check(r["account"] == "alice" and r["via"] == "cli", "account or via")
check(r["obligation"] == "notify", "obligation")
check([a["address"] for a in r["notify"]] == ["a@example.org", "+15550100"], "notify %r" % r["notify"])
check(r["codes_spent"] == ["s-1"] and r["issue_saved_code"] is True, "codes")
check(r["level"] == {"store": 2, "request": None, "request_ignored": False}, "level %r" % r["level"])
check(r["account_ial"] is None and r["held_to"] == 2, "ial or held_to")
check(all("obligation" not in x for x in no), "a refusal carries an obligation")
check(no[0]["level"]["request_ignored"] is True, "the downgrade attempt is not recorded")
check(sum(1 for x in recs if x["type"] == "recovery_code_spent") == 2, "spent rows")
PYEOF

# ---- POST /v1/recovery ---------------------------------------------------------

command -v curl >/dev/null 2>&1 || { echo "SKIP: the HTTP part needs curl"; exit 0; }

: >serve.err
"$aalgate" serve -p policy.yaml --listen 127.0.0.1:0 $S --decision-log "$work/gate.jsonl" \
	--timeout 5 --drain 5 --threads 4 2>serve.err &
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
url=http://127.0.0.1:$port/v1/recovery

# post NAME [CURL_ARGS...]: POSTs NAME.json; status in NAME.code, body in NAME.out
post() {
	name=$1
	shift
	curl -s --max-time 10 -o "$name.out" -D "$name.h" -w '%{http_code}' \
		--data-binary @"$name.json" "$@" "$url" >"$name.code" || fail "$name: curl failed"
}
code() { [ "$(cat "$1.code")" = "$2" ] || fail "$1: status $(cat "$1.code"), expected $2: $(cat "$1.out")"; }

# 127.0.0.1 is not in trusted_proxies: refused before the body is read,
# and the code is not spent.
req h1 "{\"account\": \"dave\", $NOTIFY, \"evidence\": [{\"kind\": \"saved_code\", \"code_id\": \"h-1\"}]}"
cp h1.json untrusted.json
post untrusted
code untrusted 403
field untrusted 'd["accepted"]' False
field untrusted '"trusted_proxies" in d["error"]' True
# ... whatever it claims to forward for.
cp h1.json untrusted2.json
post untrusted2 -H "X-Forwarded-For: 192.0.2.10"
code untrusted2 403

# Trust loopback (SIGHUP reloads the policy).
sed 's#trusted_proxies: .*#trusted_proxies: [127.0.0.1/32]#' policy.yaml >p2 && mv p2 policy.yaml
kill -HUP "$pid"
i=0
until grep -q 'reloaded' serve.err; do
	i=$((i + 1))
	[ $i -lt 50 ] || fail "no reload"
	sleep 0.1
done

cp h1.json first.json
post first
code first 200
field first 'd["accepted"]' True
field first 'd["basis"]' code
field first 'd["state"]["codes_spent"]' "['h-1']"
cp h1.json second.json
post second
code second 200
field second 'd["accepted"]' False
field second 'd["evidence"][0]["status"]' code_reused
# The CLI and the gate share the store: s-1 was spent by the CLI.
cp saved.json viacli.json
post viacli
field viacli 'd["evidence"][0]["status"]' code_reused
# The same downgrade attempt, the same answer as the CLI's.
cp aal3email.json aal3.json
post aal3
code aal3 200
field aal3 'd["account_aal"]' 3
field aal3 'd["state"]["request_ignored"]' True
field aal3 '[r["reason"] for r in d["refusals"]]' "['aal3_needs_onsite_biometric']"
# A code the front end sent to an address the claimant typed in: refused,
# and nothing spent.
req sentelse "{\"account\": \"dave\", \"evidence\": [{\"kind\": \"issued_code\", \"channel\": \"email\",
  \"issued_at\": $((now - 60)), \"code_id\": \"se-1\", \"sent_to\": \"evil@example.net\"}]}"
post sentelse
code sentelse 200
field sentelse 'd["accepted"]' False
field sentelse 'd["evidence"][0]["status"]' code_not_sent_to_address_of_record
field sentelse 'd["evidence"][0]["sent_to"]' evil@example.net
field sentelse 'd["state"]["codes_spent"]' '[]'
sed 's/evil@example.net/a@example.org/; s/se-1/se-2/' sentelse.json >sentrec.json
post sentrec
field sentrec 'd["accepted"]' True
field sentrec 'd["state"]["codes_spent"]' "['se-2']"
# Over HTTP too, only the addresses of record are told.
sed 's/ev-1/ev-2/' evil.json >evilhttp.json
post evilhttp
code evilhttp 200
field evilhttp 'd["accepted"]' True
field evilhttp '[a["address"] for a in d["notify"]["addresses"]]' "['a@example.org', '+15550100']"
field evilhttp 'd["state"]["request_addresses_ignored"]' 1

# Bad requests.
req badjson '{"account": "dave",'
post badjson
code badjson 400
field badjson 'd["accepted"]' False
field badjson 'd["error"].startswith("request:")' True
req typo '{"account": "dave", "evidense": []}'
post typo
code typo 400
field typo 'd["error"]' "request: unknown key 'evidense' in the request; did you mean 'evidence'?"
cp now.json nowhttp.json
post nowhttp
code nowhttp 400
cp nobody.json nobodyhttp.json
post nobodyhttp
code nobodyhttp 404
python3 -c "print('{\"account\": \"' + 'a' * 70000 + '\"}')" >big.json
post big
code big 413
curl -s --max-time 10 -o get.out -D get.h -w '%{http_code}' "$url" >get.code || fail "get: curl failed"
code get 405
grep -qi '^Allow: POST' get.h || fail "405 without Allow: POST: $(cat get.h)"

# Eight clients at once with one code: one recovery.
req race "{\"account\": \"dave\", $NOTIFY, \"evidence\": [{\"kind\": \"saved_code\", \"code_id\": \"race-1\"}]}"
python3 - "$port" <<'PYEOF' >race.out 2>&1 || fail "race: $(cat race.out)"
import http.client, json, sys, threading
port = int(sys.argv[1])
body = open("race.json", "rb").read()
results = []
lock = threading.Lock()
go = threading.Event()
def one():
    go.wait()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    c.request("POST", "/v1/recovery", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    d = json.loads(r.read())
    with lock:
        results.append((r.status, d.get("accepted")))
ts = [threading.Thread(target=one) for _ in range(8)]
[t.start() for t in ts]
go.set()
[t.join() for t in ts]
won = [x for x in results if x == (200, True)]
if len(results) != 8 or len(won) != 1:
    print("results: %r" % results); sys.exit(1)
PYEOF

# The gate logs the journal within a second.
i=0
until grep -q '"type":"recovery","store":"[0-9a-f]*","journal_seq":[0-9]*,"account":"dave","via":"http"' gate.jsonl 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 50 ] || fail "the gate did not log the recovery: $(cat gate.jsonl)"
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
ok = [r for r in recs if r["type"] == "recovery" and r["via"] == "http"]
if len(ok) != 4 or sorted(r["codes_spent"][0] for r in ok) != ["ev-2", "h-1", "race-1", "se-2"]:
    print("http recoveries: %r" % ok); sys.exit(1)
if any(r["obligation"] != "notify" or len(r["notify"]) != 2 for r in ok):
    print("obligations: %r" % ok); sys.exit(1)
PYEOF
echo "PASS recovery-http"
