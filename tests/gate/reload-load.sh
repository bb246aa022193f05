#!/bin/sh
# reload-load.sh AALGATE AG_TESTSIGN
#
# 'aalgate serve' under load (docs/gate.md): policy reloads while requests
# are being decided, and a kill -9 in the middle of it all.
#
#   1. Eight kept-alive clients send a fixed mix of requests whose right
#      answers are known (allow, step-up, a forged token, no token, the
#      admin route, forwarded headers from an untrusted peer, POST
#      /v1/decide) for about ten seconds.  Every answer is checked.
#   2. Meanwhile, once a second, policy.yaml is swapped by rename and the
#      gate gets SIGHUP, alternating between a valid policy (two variants
#      that differ in text but decide the same for the mix) and an invalid
#      one (an unknown key; a jwks_file that does not exist).  Each reload
#      must be reported, the invalid ones must keep the old policy, and
#      /metrics must count them.  No answer may be a 5xx or a wrong
#      decision, and no connection may fail.
#   3. With the clients still asking, the gate is killed with SIGKILL.  The
#      decision log it leaves verifies, except possibly for a torn last
#      line, which 'aalgate log verify' reports as cut off and the next
#      start cuts (docs/internals/decision-log.md §4).  The gate restarts
#      on the same log and extends it, the whole chain then verifies, and
#      every decision a client was answered with is in it.
#
# Needs python3, curl and openssl.
set -u

aalgate=${1:?usage: reload-load.sh AALGATE AG_TESTSIGN}
testsign=${2:?usage: reload-load.sh AALGATE AG_TESTSIGN}
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac
case $testsign in /*) ;; *) testsign=$(pwd)/$testsign ;; esac

for tool in python3 curl openssl; do
	command -v $tool >/dev/null 2>&1 || {
		echo "FAIL reload-load: $tool is needed"
		exit 1
	}
done
[ -x "$aalgate" ] || { echo "FAIL reload-load: no aalgate binary at $aalgate"; exit 1; }
[ -x "$testsign" ] || { echo "FAIL reload-load: no ag-testsign binary at $testsign"; exit 1; }

work=$(mktemp -d) || exit 2
gate_pid=
load_pid=
failed=

cleanup() {
	[ -n "$load_pid" ] && kill -9 "$load_pid" 2>/dev/null && wait "$load_pid" 2>/dev/null
	[ -n "$gate_pid" ] && kill -9 "$gate_pid" 2>/dev/null && wait "$gate_pid" 2>/dev/null
	if [ -n "$failed" ] || [ -n "${KEEP:-}" ]; then
		for f in aalgate.err restart.err load.err; do
			[ -s "$work/$f" ] || continue
			echo "---- $f (last 30 lines)"
			tail -n 30 "$work/$f"
		done
	fi
	if [ -n "${KEEP:-}" ]; then
		echo "kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 2' INT TERM HUP
cd "$work" || exit 2

die() {
	echo "FAIL reload-load: $*"
	failed=yes
	exit 1
}

# ---- keys, JWKS, tokens ------------------------------------------------
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key1.pem 2>/dev/null &&
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key2.pem 2>/dev/null ||
	die "openssl genpkey failed"
"$testsign" jwks k1=key1.pem >jwks.json 2>testsign.err ||
	die "ag-testsign jwks failed: $(cat testsign.err)"

now=$(date +%s)
# token NAME KEY SUB AMR_JSON: signs claims into NAME.jwt.
token() {
	cat >"$1.json" <<EOF
{"iss": "https://idp.test", "aud": "portal", "sub": "$3",
 "iat": $((now - 60)), "exp": $((now + 900)), "auth_time": $((now - 120)),
 "jti": "jti-$1", "sid": "sid-$1", "amr": $4}
EOF
	"$testsign" sign --key "$2" --alg ES256 --kid k1 <"$1.json" >"$1.jwt" 2>testsign.err ||
		die "ag-testsign sign $1 failed: $(cat testsign.err)"
	[ -s "$1.jwt" ] || die "ag-testsign sign $1 printed nothing"
}
token staff key1.pem alice '["pwd", "otp"]'
token weak key1.pem bob '["pwd"]'
token admin key1.pem carol '["hwk", "pin"]'
token forged key2.pem mallory '["hwk", "pin"]'

# ---- policies ------------------------------------------------------------
# Two valid policies that decide the same for every request of the mix
# (B adds a workflow, a route and a trusted proxy none of them touches),
# and two invalid ones: one the parser refuses, one whose issuer's keys
# cannot be read.
cat >policy-a.yaml <<EOF
profile: sp800-63b-4
workflows:
  staff: { aal: 2 }
  admin: { aal: 3, phishing_resistant: true, max_age: 1h }
issuers:
  - iss: https://idp.test
    audiences: [portal]
    jwks_file: $work/jwks.json
routes:
  - { path_prefix: /admin, workflow: admin }
default_workflow: staff
EOF
cat >policy-b.yaml <<EOF
# variant B
profile: sp800-63b-4
workflows:
  staff:   { aal: 2 }
  admin:   { aal: 3, phishing_resistant: true, max_age: 1h }
  reports: { aal: 2, max_age: 12h }
issuers:
  - iss: https://idp.test
    audiences: [portal]
    jwks_file: $work/jwks.json
trusted_proxies: [192.0.2.10/32]
routes:
  - { path_prefix: /reports, workflow: reports }
  - { path_prefix: /admin, workflow: admin }
default_workflow: staff
EOF
sed 's/^  staff: { aal: 2 }$/  staff: { aal: 2, mfa: yes }/' policy-a.yaml >bad-key.yaml
sed "s|jwks_file: .*|jwks_file: $work/missing-jwks.json|" policy-a.yaml >bad-jwks.yaml
cmp -s policy-a.yaml bad-key.yaml && die "bad-key.yaml is the same as policy-a.yaml"
cmp -s policy-a.yaml bad-jwks.yaml && die "bad-jwks.yaml is the same as policy-a.yaml"
for p in policy-a policy-b; do
	"$aalgate" policy check $p.yaml >check.out 2>&1 ||
		die "aalgate policy check refused $p.yaml: $(cat check.out)"
done
"$aalgate" policy check bad-key.yaml >check.out 2>&1 &&
	die "aalgate policy check accepted bad-key.yaml"

# install FILE: makes FILE the policy, by an atomic rename.
install_policy() {
	cp "$1" policy.yaml.new && mv -f policy.yaml.new policy.yaml ||
		die "cannot install $1"
}
install_policy policy-a.yaml

# ---- the gate --------------------------------------------------------------
# start_gate ERRFILE: starts aalgate serve on a free port; sets gate_pid
# and port.
start_gate() {
	: >"$1"
	"$aalgate" serve -p policy.yaml --listen 127.0.0.1:0 --decision-log d.jsonl \
		--timeout 10 --drain 5 2>"$1" &
	gate_pid=$!
	port=
	i=0
	while [ $i -lt 200 ]; do
		port=$(sed -n 's/^aalgate serve: listening on 127\.0\.0\.1:\([0-9][0-9]*\),.*/\1/p' "$1")
		[ -n "$port" ] && break
		kill -0 "$gate_pid" 2>/dev/null || die "aalgate serve exited at start: $(cat "$1")"
		sleep 0.1
		i=$((i + 1))
	done
	[ -n "$port" ] || die "aalgate serve did not say where it listens: $(cat "$1")"
	i=0
	until [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")" = 200 ]; do
		i=$((i + 1))
		[ $i -lt 50 ] || die "aalgate /healthz did not answer 200"
		sleep 0.1
	done
}
start_gate aalgate.err

# ---- the load ----------------------------------------------------------------
# load.py PORT: checks each request of the mix once, then runs eight
# kept-alive clients until the file 'stop' appears.  Connection errors
# count as failures until the file 'killed' appears.  Writes 'ready' once
# the clients run, key=value totals on stdout, the decision ids the
# clients were answered with to ids.txt, and what went wrong to stderr.
cat >load.py <<'PYEOF'
import http.client, json, os, sys, threading, time

port = int(sys.argv[1])
tok = {n: open(n + ".jwt").read().strip()
       for n in ("staff", "weak", "forged", "admin")}
STEP_UP = 'Bearer error="insufficient_user_authentication"'


def bearer(name):
    return {"Authorization": "Bearer " + tok[name]}


def hdr(resp, name):
    return resp.getheader(name) or ""


def allowed(sub, wf, aal):
    def check(r, body):
        if r.status != 200:
            return "status %d, expected 200" % r.status
        got = (hdr(r, "X-Aalgate-Subject"), hdr(r, "X-Aalgate-Workflow"),
               hdr(r, "X-Aalgate-Aal"), hdr(r, "X-Aalgate-Decision"))
        if got != (sub, wf, aal, "allow"):
            return "identity headers %r, expected %r" % (got, (sub, wf, aal, "allow"))
        return None
    return check


def denied(status, challenge, body_has=None):
    def check(r, body):
        if r.status != status:
            return "status %d, expected %d; body %r" % (r.status, status, body[:300])
        www = hdr(r, "WWW-Authenticate")
        if not www.startswith(challenge):
            return "WWW-Authenticate %r, expected %r..." % (www, challenge)
        if hdr(r, "X-Aalgate-Subject"):
            return "a deny with X-Aalgate-Subject %r" % hdr(r, "X-Aalgate-Subject")
        if body_has and body_has not in body:
            return "body %r lacks %r" % (body[:300], body_has)
        return None
    return check


def decided(decision, status, wf):
    def check(r, body):
        if r.status != 200:
            return "status %d, expected 200; body %r" % (r.status, body[:300])
        try:
            d = json.loads(body)
        except ValueError:
            return "body is not JSON: %r" % body[:300]
        got = (d.get("decision"), d.get("status"), d.get("workflow"))
        if got != (decision, status, wf):
            return "decision %r, expected %r" % (got, (decision, status, wf))
        return None
    return check


# (name, method, path, headers, body, check)
MIX = [
    ("staff AAL2 on /docs", "GET", "/v1/authz/docs", bearer("staff"), None,
     allowed("alice", "staff", "2")),
    ("AAL1 on /docs", "GET", "/v1/authz/docs", bearer("weak"), None,
     denied(401, STEP_UP + ", error_description=\"workflow 'staff' requires AAL2; the token shows AAL1\"")),
    ("forged signature", "GET", "/v1/authz/docs", bearer("forged"), None,
     denied(401, 'Bearer error="invalid_token"')),
    ("no token", "GET", "/v1/authz/docs", {}, None,
     denied(401, 'Bearer realm="aalgate"', '"reasons":["no_token"]')),
    ("staff AAL2 on /admin", "GET", "/v1/authz/admin/users", bearer("staff"), None,
     denied(401, STEP_UP + ", error_description=\"workflow 'admin' requires AAL3")),
    ("admin AAL3 on /admin", "GET", "/v1/authz/admin/users", bearer("admin"), None,
     allowed("carol", "admin", "3")),
    ("X-Original-URI from an untrusted peer", "GET", "/v1/authz",
     dict(bearer("admin"), **{"X-Original-URI": "/docs"}), None,
     denied(403, "", '"reasons":["bad_request"]')),
    ("decide: staff token for admin", "POST", "/v1/decide", {},
     json.dumps({"workflow": "admin", "token": tok["staff"]}),
     decided("step_up", 401, "admin")),
    ("decide: admin token for staff", "POST", "/v1/decide", {},
     json.dumps({"workflow": "staff", "token": tok["admin"]}),
     decided("allow", 200, "staff")),
]

lock = threading.Lock()
stats = {"requests": 0, "http5xx": 0, "wrong": 0, "errors": 0,
         "errors_after_kill": 0}
per_kind = [0] * len(MIX)
problems = []
ids = []


def note(problem):
    with lock:
        if len(problems) < 20:
            problems.append(problem)


def ask(conn, i):
    name, method, path, headers, body, check = MIX[i]
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    text = r.read().decode("utf-8", "replace")
    why = check(r, text)
    did = hdr(r, "X-Aalgate-Decision-Id")
    if not did and method == "POST":
        try:
            did = json.loads(text).get("decision_id") or ""
        except ValueError:
            pass
    return r, why, did


def client(n):
    conn = None
    i = n % len(MIX)
    mine = []
    deadline = time.time() + 60
    while not os.path.exists("stop") and time.time() < deadline:
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            r, why, did = ask(conn, i)
            with lock:
                stats["requests"] += 1
                per_kind[i] += 1
                if r.status >= 500:
                    stats["http5xx"] += 1
                if why:
                    stats["wrong"] += 1
            if why:
                note("%s: %s" % (MIX[i][0], why))
            if did:
                mine.append(did)
            else:
                note("%s: no decision id in the answer" % MIX[i][0])
            if hdr(r, "Connection").lower() == "close":
                conn.close()
                conn = None
            i = (i + 1) % len(MIX)
        except Exception as e:
            if conn is not None:
                conn.close()
            conn = None
            if os.path.exists("killed"):
                with lock:
                    stats["errors_after_kill"] += 1
                time.sleep(0.02)
            else:
                with lock:
                    stats["errors"] += 1
                note("%s: %s: %s" % (MIX[i][0], type(e).__name__, e))
                time.sleep(0.05)
    with lock:
        ids.extend(mine)


# Each request once, in turn, so that a wrong expectation shows plainly.
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
bad = 0
for i in range(len(MIX)):
    r, why, did = ask(conn, i)
    if why:
        print("%s: %s" % (MIX[i][0], why), file=sys.stderr)
        bad += 1
    elif did:
        ids.append(did)
conn.close()
if bad:
    sys.exit(1)

threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
for t in threads:
    t.start()
open("ready", "w").close()
for t in threads:
    t.join()
with open("ids.txt", "w") as f:
    f.write("".join(d + "\n" for d in ids))
for p in problems:
    print(p, file=sys.stderr)
for k in sorted(stats):
    print("%s=%d" % (k, stats[k]))
print("idle_kinds=%d" % sum(1 for c in per_kind if c == 0))
PYEOF

python3 load.py "$port" >load.out 2>load.err &
load_pid=$!
i=0
until [ -f ready ]; do
	kill -0 "$load_pid" 2>/dev/null || {
		wait "$load_pid"
		load_pid=
		die "the request mix is not answered as expected: $(cat load.err)"
	}
	i=$((i + 1))
	[ $i -lt 100 ] || die "the load did not start"
	sleep 0.1
done

# ---- reloads under load ------------------------------------------------------
count() { grep -c "$1" aalgate.err; }
# reload FILE PATTERN TEXT: installs FILE, sends SIGHUP and waits until
# aalgate.err has one more line matching PATTERN, which must contain TEXT.
reload() {
	before=$(count "$2")
	install_policy "$1"
	kill -HUP "$gate_pid" || die "cannot signal the gate"
	i=0
	while [ "$(count "$2")" -le "$before" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || die "SIGHUP with $1: no '$2' message in 10 s"
		sleep 0.05
	done
	grep "$2" aalgate.err | tail -n 1 | grep -qF -- "$3" ||
		die "SIGHUP with $1: the message is '$(grep "$2" aalgate.err | tail -n 1)', expected '$3' in it"
}
ok=0
bad=0
t0=$(date +%s)
round=0
while [ $round -lt 10 ]; do
	round=$((round + 1))
	sleep 1
	kill -0 "$load_pid" 2>/dev/null || die "the load stopped during the reloads"
	case $round in
	1 | 5 | 9)
		reload policy-b.yaml 'reloaded ' 'reloaded policy.yaml (3 workflows, 2 routes)'
		ok=$((ok + 1))
		;;
	3 | 7)
		reload policy-a.yaml 'reloaded ' 'reloaded policy.yaml (2 workflows, 1 routes)'
		ok=$((ok + 1))
		;;
	2 | 6 | 10)
		reload bad-key.yaml 'reload failed' "keeping the current policy: policy.yaml:3:20: unknown key 'mfa' in workflow 'staff'"
		bad=$((bad + 1))
		;;
	4 | 8)
		reload bad-jwks.yaml 'reload failed' "keeping the current policy: "
		grep 'reload failed' aalgate.err | tail -n 1 | grep -qF -- "missing-jwks.json" ||
			die "the failed reload does not name the missing JWKS file: $(grep 'reload failed' aalgate.err | tail -n 1)"
		bad=$((bad + 1))
		;;
	esac
done
took=$(($(date +%s) - t0))
[ "$took" -ge 10 ] || die "the reloads took only $took s"

curl -s --max-time 10 -o metrics.txt "http://127.0.0.1:$port/metrics" || die "GET /metrics failed"
for m in "aalgate_policy_reloads_total{result=\"ok\"} $ok" \
	"aalgate_policy_reloads_total{result=\"failed\"} $bad"; do
	grep -qxF -- "$m" metrics.txt ||
		die "/metrics lacks '$m': $(grep policy_reloads metrics.txt)"
done
[ "$ok" -ge 4 ] && [ "$bad" -ge 4 ] || die "only $ok good and $bad bad reloads"

# ---- kill -9 under load ------------------------------------------------------
kill -0 "$load_pid" 2>/dev/null || die "the load stopped before the kill"
: >killed
kill -9 "$gate_pid"
wait "$gate_pid" 2>/dev/null
gate_pid=
sleep 0.5
: >stop
wait "$load_pid"
rc=$?
load_pid=
[ $rc -eq 0 ] || die "the load generator failed (exit $rc)"

val() { sed -n "s/^$1=//p" load.out; }
requests=$(val requests)
[ -n "$requests" ] || die "no totals from the load: $(cat load.out)"
[ "$(val http5xx)" = 0 ] || die "$(val http5xx) answers were 5xx"
[ "$(val wrong)" = 0 ] || die "$(val wrong) of $requests answers were wrong"
[ "$(val errors)" = 0 ] || die "$(val errors) requests failed before the kill"
[ "$(val idle_kinds)" = 0 ] || die "$(val idle_kinds) kinds of request were never sent"
[ "$requests" -gt 1000 ] || die "only $requests requests in 10 s"
[ -s load.err ] && die "the load reported problems"

# ---- the decision log after the kill ------------------------------------------
[ -s d.jsonl ] || die "no decision log"
size=$(wc -c <d.jsonl)
lines=$(wc -l <d.jsonl | tr -d ' ')
torn=0
if [ "$(tail -c 1 d.jsonl | od -An -c | tr -d ' ')" != '\n' ]; then
	torn=$(($(tail -n 1 d.jsonl | wc -c)))
fi
"$aalgate" log verify d.jsonl >verify.out 2>&1
code=$?
if [ "$torn" -eq 0 ]; then
	[ "$code" -eq 0 ] || die "log verify after the kill: exit $code: $(cat verify.out)"
	[ "$(cat verify.out)" = "d.jsonl: $lines records, chain intact" ] ||
		die "log verify after the kill: $(cat verify.out)"
else
	# A record the kill cut in half was never acknowledged: verify says
	# so, naming only the line after the last whole one.
	[ "$code" -eq 1 ] || die "log verify with a torn tail: exit $code: $(cat verify.out)"
	case $(cat verify.out) in
	"d.jsonl:$((lines + 1)): the record is cut off (no newline at the end)"*) ;;
	*) die "log verify with a torn tail ($torn bytes): $(cat verify.out)" ;;
	esac
fi

# The gate starts again on the same log, cuts a torn tail, and goes on.
install_policy policy-a.yaml
start_gate restart.err
if [ "$torn" -gt 0 ]; then
	grep -qF "d.jsonl: cut $torn bytes of a record torn by a crash" restart.err ||
		die "the restart did not report cutting $torn bytes: $(cat restart.err)"
else
	grep -q 'torn' restart.err && die "the restart cut a log that was whole: $(cat restart.err)"
fi
for t in staff weak; do
	curl -s --max-time 10 -o /dev/null -H "Authorization: Bearer $(cat $t.jwt)" \
		"http://127.0.0.1:$port/v1/authz/docs" || die "a request after the restart failed"
done
kill -TERM "$gate_pid"
wait "$gate_pid"
code=$?
gate_pid=
[ "$code" -eq 0 ] || die "the restarted gate exited $code after SIGTERM: $(cat restart.err)"

records=$((lines + 2))
"$aalgate" log verify d.jsonl >verify.out 2>&1
code=$?
[ "$code" -eq 0 ] || die "log verify after the restart: exit $code: $(cat verify.out)"
[ "$(cat verify.out)" = "d.jsonl: $records records, chain intact" ] ||
	die "log verify after the restart: '$(cat verify.out)', expected $records records"

# Every decision a client was answered with is in the log.
python3 - <<'PYEOF' >ids.out 2>&1 || die "$(cat ids.out)"
import json
logged = set()
for line in open("d.jsonl"):
    logged.add(json.loads(line).get("id"))
answered = [l.strip() for l in open("ids.txt") if l.strip()]
missing = [d for d in answered if d not in logged]
if len(set(answered)) != len(answered):
    raise SystemExit("a decision id was answered twice")
if missing:
    raise SystemExit("%d of %d answered decisions are not in the log, e.g. %s"
                     % (len(missing), len(answered), missing[0]))
print(len(answered))
PYEOF
answered=$(cat ids.out)
[ "$answered" -ge "$requests" ] || die "only $answered decision ids for $requests answers"
for t in staff weak admin forged; do
	sig=$(sed 's/.*\.//' $t.jwt)
	grep -qF -- "$sig" d.jsonl && die "the decision log holds the $t token's signature"
done

echo "reload-load: $requests requests in ${took}s, 0 wrong, 0 5xx; reloads ok $ok, failed $bad; kill -9: $lines records left (torn tail: $torn bytes), $records verified after the restart, $answered answers all logged"
exit 0
