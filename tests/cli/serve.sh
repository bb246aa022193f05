#!/bin/sh
# serve.sh AALGATE PROJECT_SOURCE_DIR
# 'aalgate serve' over real HTTP without a proxy: the endpoints, the
# answers that need no signed token, request limits, untrusted forwarding
# headers, SIGHUP with a bad and a good policy, SIGTERM, and the decision
# log it leaves behind.  (Signed tokens through nginx: tests/gate/nginx.sh.)
set -u
aalgate=$1
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac

fail() {
	echo "FAIL serve: $*"
	[ -f "$work/serve.err" ] && sed 's/^/  serve: /' "$work/serve.err"
	exit 1
}
command -v curl >/dev/null 2>&1 || fail "curl is needed"

work=$(mktemp -d) || exit 2
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 2

cat >policy.yaml <<'EOF'
workflows:
  staff: { aal: 2 }
trusted_proxies: [192.0.2.10/32]
default_workflow: staff
EOF

"$aalgate" serve -p policy.yaml --listen 127.0.0.1:0 --decision-log decisions.jsonl \
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
base=http://127.0.0.1:$port

# req NAME CURL_ARGS...: status in NAME.code, headers in NAME.h, body NAME.b
req() {
	name=$1
	shift
	curl -s --max-time 10 -o "$name.b" -D "$name.h" -w '%{http_code}' "$@" >"$name.code" ||
		fail "$name: curl failed"
}
expect_code() { [ "$(cat "$1.code")" = "$2" ] || fail "$1: status $(cat "$1.code"), expected $2; body: $(cat "$1.b")"; }
expect_header() {
	grep -i "^$2:" "$1.h" | tr -d '\r' | sed 's/^[^:]*: //' >"$1.hv"
	[ "$(cat "$1.hv")" = "$3" ] || fail "$1: $2 is '$(cat "$1.hv")', expected '$3'"
}
expect_body() { grep -qF -- "$2" "$1.b" || fail "$1: body lacks '$2': $(cat "$1.b")"; }

req health "$base/healthz"
expect_code health 200
expect_body health ok

req notoken "$base/v1/authz"
expect_code notoken 401
expect_header notoken WWW-Authenticate 'Bearer realm="aalgate"'
expect_body notoken '"reasons":["no_token"]'

secret=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtdG9rZW4ifQ.c2lnbmF0dXJlLWJ5dGVz
req badtoken -H "Authorization: Bearer $secret" "$base/v1/authz"
expect_code badtoken 401
expect_body badtoken '"token_error":"unknown_issuer"'
grep -qi '^WWW-Authenticate: Bearer error="invalid_token", error_description="' badtoken.h ||
	fail "badtoken: no invalid_token challenge: $(cat badtoken.h)"

req basic -H "Authorization: Basic YTpi" "$base/v1/authz"
expect_code basic 401
expect_body basic '"reasons":["invalid_token"]'

req twoauth -H "Authorization: Bearer a.b.c" -H "Authorization: Bearer d.e.f" "$base/v1/authz"
expect_code twoauth 401
expect_body twoauth 'not one Bearer or DPoP token'

# 127.0.0.1 is not a trusted proxy: it cannot say what the request was.
req untrusted -H "X-Original-URI: /admin" -H "Authorization: Bearer $secret" "$base/v1/authz"
expect_code untrusted 403
expect_body untrusted '"reasons":["bad_request"]'
expect_body untrusted 'not in trusted_proxies'
# ...but X-Forwarded-For alone is just ignored.
req xff -H "X-Forwarded-For: 192.0.2.10" "$base/v1/authz"
expect_code xff 401

req decide -X POST --data '{"workflow":"staff"}' "$base/v1/decide"
expect_code decide 200
expect_body decide '"decision":"deny","status":401'
req claims -X POST --data '{"workflow":"staff","claims":{"sub":"x","acr":"phrh"}}' "$base/v1/decide"
expect_code claims 400
expect_body claims "accepted only by 'aalgate decide'"
req badjson -X POST --data '{"workflow":' "$base/v1/decide"
expect_code badjson 400
req getdecide "$base/v1/decide"
expect_code getdecide 405
req nowhere "$base/v2/other"
expect_code nowhere 404
head -c 70000 /dev/zero | tr '\0' ' ' >big.json
req big -X POST --data-binary @big.json "$base/v1/decide"
expect_code big 413
req unknownwf -X POST --data '{"workflow":"admin"}' "$base/v1/decide"
expect_body unknownwf '"reasons":["unknown_workflow"]'

# Slow clients are cut off after --timeout; huge headers are refused.
python3 - "$port" <<'PYEOF' || fail "limits: see above"
import socket, sys, time
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port), timeout=15)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")   # never finished
t0 = time.time()
try:
    data = s.recv(100)
except socket.timeout:
    data = None
took = time.time() - t0
if data is None or took > 9:
    print("slow client was not cut off (waited %.1fs)" % took); sys.exit(1)
s = socket.create_connection(("127.0.0.1", port), timeout=15)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n")
resp = b""
try:
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        resp += chunk
except (socket.timeout, ConnectionResetError, BrokenPipeError):
    pass
status = resp.split(b"\r\n", 1)[0]
if b" 200 " in status:
    print("a 100 kB header was accepted: %r" % status); sys.exit(1)
PYEOF

req metrics "$base/metrics"
expect_code metrics 200
for m in 'aalgate_decisions_total{workflow="staff",outcome="deny",reason="no_token"} ' \
	'aalgate_untrusted_forwarded_total 1' 'aalgate_bad_requests_total 3' \
	'aalgate_request_duration_seconds_bucket{endpoint="authz",le="+Inf"} 6' \
	'aalgate_policy_reloads_total{result="failed"} 0'; do
	expect_body metrics "$m"
done

# A broken policy keeps the old one, and says why.
cp policy.yaml good.yaml
printf 'workflows:\n  staff: { aal: 2, mfa: yes }\n' >policy.yaml
kill -HUP "$pid"
i=0
until grep -q 'reload failed' serve.err; do
	i=$((i + 1))
	[ $i -lt 50 ] || fail "no reload message"
	sleep 0.1
done
grep -q "reload failed, keeping the current policy: policy.yaml:2:20: unknown key 'mfa'" serve.err ||
	fail "reload message: $(grep reload serve.err)"
req stillup -X POST --data '{"workflow":"staff"}' "$base/v1/decide"
expect_body stillup '"workflow":"staff"'

# A good policy takes over.
sed 's/staff/office/g' good.yaml >policy.yaml
kill -HUP "$pid"
i=0
until grep -q 'reloaded' serve.err; do
	i=$((i + 1))
	[ $i -lt 50 ] || fail "no reloaded message"
	sleep 0.1
done
req newwf -X POST --data '{"workflow":"office"}' "$base/v1/decide"
expect_body newwf '"workflow":"office"'
expect_body newwf '"reasons":["no_token"]'
req metrics2 "$base/metrics"
expect_body metrics2 'aalgate_policy_reloads_total{result="failed"} 1'
expect_body metrics2 'aalgate_policy_reloads_total{result="ok"} 1'

# SIGTERM while kept-alive clients keep asking: every decision in flight
# is logged and answered, the others are told 503, and the gate exits 0.
python3 - "$port" >load.out 2>&1 <<'PYEOF' &
import http.client, os, sys, threading, time
port = int(sys.argv[1])
codes = {}
lock = threading.Lock()
def worker():
    end = time.time() + 60
    conn = None
    while time.time() < end and not os.path.exists("load.stop"):
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/v1/authz")
            r = conn.getresponse(); r.read()
            with lock:
                codes[r.status] = codes.get(r.status, 0) + 1
                if r.status == 401 and codes[r.status] == 1:
                    open("load.first", "w").close()
            if r.getheader("Connection", "").lower() == "close":
                conn.close(); conn = None
        except Exception:
            conn = None
            time.sleep(0.05)
ts = [threading.Thread(target=worker) for _ in range(16)]
[t.start() for t in ts]; [t.join() for t in ts]
print(sorted(codes.items()))
PYEOF
load=$!
# Stop it once the clients are answered (a loaded machine starts them
# slowly), with the clients still asking.
i=0
until [ -e load.first ] || [ $i -ge 200 ]; do
	sleep 0.1
	i=$((i + 1))
done
sleep 0.5
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
[ $rc -eq 0 ] || fail "SIGTERM under load: exit $rc"
: >load.stop
wait "$load"
grep -q '(401, [0-9]' load.out || fail "no answers under load: $(cat load.out)"

# Every decision is logged and chained; the token never is.
n=$(wc -l <decisions.jsonl)
[ "$n" -gt 10 ] || fail "decision log has $n records, expected more than 10"
"$aalgate" log verify decisions.jsonl >verify.out 2>&1 || fail "log verify: $(cat verify.out)"
grep -q "$n records, chain intact" verify.out || fail "log verify: $(cat verify.out)"
# Every 401 a client saw was logged first.
n401=$(sed -n 's/.*(401, \([0-9]*\)).*/\1/p' load.out)
logged=$(grep -c '"status":401' decisions.jsonl)
[ "$logged" -ge "$n401" ] || fail "clients saw $n401 answers of 401 but only $logged are logged"
grep -q "$secret" decisions.jsonl && fail "the token is in the decision log"
grep -q 'c2lnbmF0dXJlLWJ5dGVz' decisions.jsonl && fail "the token's signature is in the decision log"

# --user: bind, open the log, then run as an unprivileged user.
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	"$aalgate" serve -p good.yaml --listen 127.0.0.1:0 --decision-log user.jsonl \
		--user nobody 2>user.err &
	pid=$!
	i=0
	until grep -q 'listening on' user.err; do
		i=$((i + 1))
		[ $i -lt 50 ] || fail "--user: did not start: $(cat user.err)"
		sleep 0.1
	done
	uid=$(awk '/^Uid:/ {print $2 $3 $4 $5}' "/proc/$pid/status")
	nobody=$(id -u nobody)
	[ "$uid" = "$nobody$nobody$nobody$nobody" ] || fail "--user nobody: uids are $uid"
	kill -TERM "$pid"
	wait "$pid" || fail "--user: exit $?"
	pid=
fi

# Bad usage fails before serving.
"$aalgate" serve -p policy.yaml --listen nonsense 2>bad.err && fail "bad --listen accepted"
grep -q "bad --listen 'nonsense'" bad.err || fail "bad --listen message: $(cat bad.err)"
"$aalgate" serve -p good-missing.yaml 2>bad.err && fail "missing policy accepted"
echo "PASS serve"
