#!/bin/sh
# sinks.sh AALGATE PROJECT_SOURCE_DIR
# 'aalgate sink deliver|status' and the sinks of 'aalgate serve'
# (docs/govern.md) against real decision logs: usage and policy errors; a file
# sink that gets exactly the obligation records; a webhook (a Python
# http.server on 127.0.0.1) that gets each record as its body with the
# right headers; the webhook down: refused with exit 1, the cursor stays,
# the obligations wait; a deliverer left running while the webhook is
# down retries, and delivers each waiting obligation exactly once, in
# order, when it comes back, then stops at SIGTERM; a 503 and a redirect
# are failures; a bearer file others can read is refused; a tampered
# record stops delivery at its line; and the gate's own thread delivering
# at start, after SIGHUP to a sink added to the policy, and stopping at
# SIGTERM.
#
# The logs are written by obligation-write (tests/tools/obligation-write.c,
# built beside aalgate; AG_OBLIGATION_WRITE overrides).
set -u
aalgate=$1
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac
writer=${AG_OBLIGATION_WRITE:-$(dirname "$aalgate")/obligation-write}
if [ ! -x "$writer" ]; then
	echo "FAIL sinks: obligation-write not built ($writer)"
	exit 1
fi
command -v python3 >/dev/null 2>&1 || { echo "FAIL sinks: python3 is needed"; exit 1; }

work=$(mktemp -d) || exit 2
hook_pid= bg_pid= serve_pid=
cleanup() {
	for p in $hook_pid $bg_pid $serve_pid; do
		kill -9 "$p" 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 2

failures=0
fail() { echo "FAIL sinks: $*"; failures=$((failures + 1)); }
die() {
	echo "FAIL sinks: $*"
	for f in bg.err serve.err hook.err; do
		[ -s "$f" ] && sed "s/^/  $f: /" "$f"
	done
	exit 1
}

run() {
	"$aalgate" "$@" >out.txt 2>err.txt
	code=$?
	what="aalgate $*"
}
expect_code() {
	[ "$code" -eq "$1" ] ||
		fail "$what: exit status $code, expected $1; stdout: $(head -c 600 out.txt) stderr: $(head -c 600 err.txt)"
}
expect_in() {
	grep -qF -- "$2" "$1" ||
		fail "$what: $1 lacks '$2'; it has: $(head -c 600 "$1")"
}
expect_out() {
	[ "$(cat out.txt)" = "$1" ] ||
		fail "$what: stdout is '$(cat out.txt)', expected '$1'"
}
# wait_for SECONDS COMMAND...: polls COMMAND every 0.1s.
wait_for() {
	n=$(($1 * 10))
	shift
	while [ $n -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
# log N: line N of log.jsonl
line() { sed -n "${1}p" "${2:-log.jsonl}"; }

# ---- usage and bad input ------------------------------------------------
run sink
expect_code 2
run sink --help
expect_code 0
expect_in out.txt "bearer_file"
expect_in out.txt "usage: aalgate sink deliver -p POLICY --log FILE"
run sink delivr -p x --log y
expect_code 2
expect_in err.txt "unknown subcommand 'delivr' (deliver or status); did you mean 'deliver'?"
run sink deliver --log log.jsonl
expect_code 2
expect_in err.txt "a policy is required (-p FILE)"

printf 'sinks:\n  - { name: ops, type: fiel, path: alerts.jsonl }\n' >bad.yaml
run sink deliver -p bad.yaml --log log.jsonl --once
expect_code 2
expect_in err.txt "bad.yaml:2:24: unknown sink type 'fiel' (file, exec or webhook); did you mean 'file'?"
printf 'workflows:\n  staff: { aal: 2 }\n' >nosinks.yaml
run sink status -p nosinks.yaml --log log.jsonl
expect_code 2
expect_in err.txt "no sinks"

cat >files.yaml <<'EOF'
sinks:
  - { name: ops, type: file, path: alerts.jsonl }
  - { name: alerts-only, type: file, path: only-alerts.jsonl, events: [alert] }
EOF
run sink deliver -p files.yaml --log missing.jsonl --once
expect_code 2
expect_in err.txt "missing.jsonl: cannot open: No such file or directory"

printf '%s\n' \
	'"type":"decision","outcome":"allow","subject":"bob"' \
	'"type":"break_glass_use","obligation":"alert","account":"root","n":1' \
	'"type":"decision","outcome":"deny"' \
	'"type":"recovery","obligation":"notify","account":"alice","n":2' |
	"$writer" log.jsonl >/dev/null || die "obligation-write"

run sink deliver -p files.yaml --log log.jsonl --once --sink opz
expect_code 2
expect_in err.txt "files.yaml: no sink named 'opz'; did you mean 'ops'?"

# ---- the file sink ------------------------------------------------------
run sink status -p files.yaml --log log.jsonl
expect_code 1
expect_in out.txt "ops (file, alert,notify): cursor at seq 0 of 4; 2 obligations wait, the first at seq 2"
expect_in out.txt "alerts-only (file, alert): cursor at seq 0 of 4; 1 obligation waits, the first at seq 2"

run sink deliver -p files.yaml --log log.jsonl --once
expect_code 0
expect_out "ops: 2 delivered, cursor at seq 4
alerts-only: 1 delivered, cursor at seq 4"
[ -s err.txt ] && fail "deliver said on stderr: $(cat err.txt)"
{ line 2; line 4; } >want.txt
cmp -s want.txt alerts.jsonl || fail "alerts.jsonl is '$(cat alerts.jsonl)', expected '$(cat want.txt)'"
line 2 >want.txt
cmp -s want.txt only-alerts.jsonl || fail "only-alerts.jsonl is '$(cat only-alerts.jsonl)'"
grep -q '"account":"root","n":1}$' only-alerts.jsonl || fail "only-alerts.jsonl lacks the alert's fields"
[ "$(stat -c %a alerts.jsonl)" = 600 ] || fail "alerts.jsonl has mode $(stat -c %a alerts.jsonl), expected 600"
[ "$(cut -d' ' -f1 log.jsonl.sink-ops)" = 4 ] || fail "cursor of ops: '$(cat log.jsonl.sink-ops)'"

run sink deliver -p files.yaml --log log.jsonl --once -q
expect_code 0
[ -s out.txt ] && fail "--quiet printed '$(cat out.txt)'"
[ "$(wc -l <alerts.jsonl)" -eq 2 ] || fail "a second run delivered again: $(cat alerts.jsonl)"
run sink status -p files.yaml --log log.jsonl --format json
expect_code 0
python3 - out.txt <<'PYEOF' || fail "status --format json: $(cat out.txt)"
import json, sys
s = json.load(open(sys.argv[1]))
ops = s["sinks"][0]
assert s["log"] == "log.jsonl", s
assert ops["name"] == "ops" and ops["type"] == "file", ops
assert ops["events"] == ["alert", "notify"], ops
assert ops["cursor"] == 4 and ops["records"] == 4 and ops["waiting"] == 0, ops
assert ops["first_waiting"] is None and ops["error"] is None, ops
assert ops["cursor_file"] == "log.jsonl.sink-ops", ops
PYEOF

# ---- a webhook ----------------------------------------------------------
# hook.py PORT: records every request in requests.jsonl; answers with the
# status in hook.status (default 200); writes its port to hook.port.
cat >hook.py <<'PYEOF'
import http.server, json, os, sys

class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode()
        status = 200
        if os.path.exists("hook.status"):
            status = int(open("hook.status").read())
        with open("requests.jsonl", "a") as f:
            f.write(json.dumps({"path": self.path, "status": status,
                                "headers": {k.lower(): v for k, v in self.headers.items()},
                                "body": body}) + "\n")
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"hook says %d\n" % status)

    def log_message(self, *args):
        pass

srv = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Hook)
with open("hook.port.tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename("hook.port.tmp", "hook.port")
srv.serve_forever()
PYEOF
start_hook() {
	rm -f hook.port
	python3 hook.py "$1" 2>>hook.err &
	hook_pid=$!
	wait_for 10 test -s hook.port || die "the webhook did not start"
	port=$(cat hook.port)
}
stop_hook() {
	kill "$hook_pid" 2>/dev/null
	wait "$hook_pid" 2>/dev/null
	hook_pid=
}
start_hook 0

printf 's3cret-token\n' >soc.token
chmod 600 soc.token
cat >hook.yaml <<EOF
sinks:
  - name: soc
    type: webhook
    url: http://127.0.0.1:$port/aalgate/hook
    timeout: 5s
    bearer_file: soc.token
    headers: { X-Team: secops }
EOF
run sink deliver -p hook.yaml --log log.jsonl --once
expect_code 0
expect_out "soc: 2 delivered, cursor at seq 4"
python3 - requests.jsonl log.jsonl <<'PYEOF' || fail "webhook requests: $(cat requests.jsonl)"
import hashlib, json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
log = open(sys.argv[2]).read().split("\n")
assert len(reqs) == 2, reqs
for r, n in zip(reqs, (2, 4)):
    line = log[n - 1]
    assert r["path"] == "/aalgate/hook", r
    assert r["body"] == line, (r["body"], line)
    h = r["headers"]
    assert h["content-type"] == "application/json", h
    assert h["authorization"] == "Bearer s3cret-token", h
    assert h["idempotency-key"] == hashlib.sha256(line.encode()).hexdigest(), h
    assert h["x-team"] == "secops", h
    assert h["user-agent"].startswith("aalgate/"), h
    assert json.loads(r["body"])["seq"] == n
PYEOF

# A token others can read is not used.
chmod 644 soc.token
printf '%s\n' '"type":"helpdesk_reset","obligation":"notify","n":3' | "$writer" log.jsonl >/dev/null
run sink deliver -p hook.yaml --log log.jsonl --once --retry-for 0s
expect_code 1
expect_in err.txt "sink 'soc': obligation seq 5 (notify) not delivered: bearer_file"
expect_in err.txt "soc.token: readable or writable by others (mode 0644); make it 0600 or 0640"
grep -q s3cret err.txt && fail "the token appears in a report: $(cat err.txt)"
chmod 600 soc.token

# ---- the webhook answers 503, then redirects ----------------------------
echo 503 >hook.status
run sink deliver -p hook.yaml --log log.jsonl --once --retry-for 0s
expect_code 1
expect_in err.txt "sink 'soc': obligation seq 5 (notify) not delivered: HTTP status 503 from http://127.0.0.1:$port/aalgate/hook: hook says 503; retrying in 1s"
expect_out "soc: 0 delivered, cursor at seq 4, still failing"
echo 302 >hook.status
run sink deliver -p hook.yaml --log log.jsonl --once --retry-for 0s
expect_code 1
expect_in err.txt "HTTP status 302 from http://127.0.0.1:$port/aalgate/hook (redirects are not followed)"
# --retry-for retries within its time: 1s, then 2s later.
rm -f hook.status
echo 503 >hook.status
( sleep 1.5; rm -f hook.status ) &
run sink deliver -p hook.yaml --log log.jsonl --once --retry-for 5s
expect_code 0
expect_out "soc: 1 delivered, cursor at seq 5"
[ "$(grep -c '"status": 200' requests.jsonl)" -eq 3 ] || fail "expected 3 accepted requests: $(cat requests.jsonl)"

# ---- the webhook down ---------------------------------------------------
stop_hook
printf '%s\n' '"type":"break_glass_use","obligation":"alert","n":4' \
	'"type":"decision","outcome":"allow"' \
	'"type":"recovery","obligation":"notify","n":5' | "$writer" log.jsonl >/dev/null
cp log.jsonl.sink-soc cursor.before
run sink deliver -p hook.yaml --log log.jsonl --once --retry-for 0s
expect_code 1
expect_in err.txt "aalgate sink deliver: sink 'soc': obligation seq 6 (alert) not delivered: http://127.0.0.1:$port/aalgate/hook: "
expect_in err.txt "retrying in 1s"
cmp -s cursor.before log.jsonl.sink-soc || fail "the cursor moved while the webhook was down"
run sink status -p hook.yaml --log log.jsonl
expect_code 1
expect_out "soc (webhook, alert,notify): cursor at seq 5 of 8; 2 obligations wait, the first at seq 6"

# A deliverer that keeps running: it retries, and when the webhook is back
# delivers each obligation once, in order.
"$aalgate" sink deliver -p hook.yaml --log log.jsonl --backoff-max 1s >bg.out 2>bg.err &
bg_pid=$!
wait_for 10 grep -q "not delivered" bg.err || die "the deliverer did not report the failure"
sleep 2
grep -q "more failed attempt" bg.err && fail "failures were reported more than once a minute: $(cat bg.err)"
cmp -s cursor.before log.jsonl.sink-soc || fail "the cursor moved while the webhook was down"
start_hook "$port"
[ "$(cat hook.port)" = "$port" ] || die "the webhook came back on another port"
delivered6() { [ "$(grep -c '"status": 200' requests.jsonl)" -ge 5 ]; }
wait_for 10 delivered6 || fail "the waiting obligations were not delivered: $(cat requests.jsonl)"
sleep 1.5
python3 - requests.jsonl log.jsonl <<'PYEOF' || fail "after the outage: $(cat requests.jsonl)"
import json, sys
ok = [json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["status"] == 200]
log = open(sys.argv[2]).read().split("\n")
seqs = [json.loads(r["body"])["seq"] for r in ok]
assert seqs == [2, 4, 5, 6, 8], seqs
assert ok[3]["body"] == log[5] and ok[4]["body"] == log[7]
PYEOF
wait_for 5 grep -q "sink 'soc': delivering again after" bg.err || fail "no recovery report: $(cat bg.err)"
[ "$(cut -d' ' -f1 log.jsonl.sink-soc)" = 8 ] || fail "cursor after the outage: '$(cat log.jsonl.sink-soc)'"
kill -TERM "$bg_pid"
wait_for 5 sh -c "! kill -0 $bg_pid 2>/dev/null" || fail "the deliverer did not stop at SIGTERM"
wait "$bg_pid"
[ $? -eq 0 ] || fail "the deliverer exited with $? at SIGTERM"
bg_pid=

# ---- a tampered log ------------------------------------------------------
cp log.jsonl log.orig
cp log.jsonl.head log.orig.head
printf '%s\n' '"type":"break_glass_use","obligation":"alert","n":6' \
	'"type":"break_glass_use","obligation":"alert","n":7' | "$writer" log.jsonl >/dev/null
sed -i '9s/"n":6/"n":9/' log.jsonl
run sink deliver -p files.yaml --log log.jsonl --once
expect_code 1
expect_in err.txt "sink 'ops': delivery stopped: log.jsonl:9: does not hash to the prev that line 10 records: this line was changed, or line 10 was; nothing after it is delivered"
expect_in out.txt "ops: 3 delivered, cursor at seq 8, stopped: the log does not verify"
grep -q '"n":9' alerts.jsonl && fail "the tampered record was delivered"
grep -q '"n":7' alerts.jsonl && fail "a record after the tampered one was delivered"
run sink status -p files.yaml --log log.jsonl --sink ops
expect_code 1
expect_out "ops (file, alert,notify): stopped after seq 8: log.jsonl:9: does not hash to the prev that line 10 records: this line was changed, or line 10 was"

# ---- the gate's own thread ----------------------------------------------
mkdir gate
printf '%s\n' '"type":"decision","outcome":"allow"' \
	'"type":"break_glass_use","obligation":"alert","n":1' \
	'"type":"recovery","obligation":"notify","n":2' | "$writer" gate/decisions.jsonl >/dev/null
cat >gate/policy.yaml <<'EOF'
workflows:
  staff: { aal: 2 }
default_workflow: staff
sinks:
  - { name: ops, type: file, path: ops.jsonl }
EOF
"$aalgate" serve -p gate/policy.yaml --listen 127.0.0.1:0 --decision-log gate/decisions.jsonl \
	--drain 5 2>serve.err &
serve_pid=$!
two_lines() { [ -f "$1" ] && [ "$(wc -l <"$1")" -eq 2 ]; }
wait_for 10 two_lines gate/ops.jsonl || die "serve did not deliver to ops: $(cat gate/ops.jsonl 2>/dev/null)"
{ line 2 gate/decisions.jsonl; line 3 gate/decisions.jsonl; } >want.txt
cmp -s want.txt gate/ops.jsonl || fail "serve's ops.jsonl is '$(cat gate/ops.jsonl)'"
cat >>gate/policy.yaml <<'EOF'
  - { name: pager, type: exec, command: [/bin/sh, -c, 'cat >> "$0"', PAGED], events: [alert] }
  - { name: down, type: exec, command: [/bin/false], events: [alert] }
EOF
sed -i "s|PAGED|$work/gate/paged.txt|" gate/policy.yaml
kill -HUP "$serve_pid"
one_line() { [ -f "$1" ] && [ "$(wc -l <"$1")" -eq 1 ]; }
wait_for 10 one_line gate/paged.txt || die "serve did not deliver to the sink added by SIGHUP"
line 2 gate/decisions.jsonl >want.txt
cmp -s want.txt gate/paged.txt || fail "paged.txt is '$(cat gate/paged.txt)'"
two_lines gate/ops.jsonl || fail "ops got a duplicate after the reload: $(cat gate/ops.jsonl)"
# /metrics says what each sink delivered, and which one is failing.
port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' serve.err)
[ -n "$port" ] || die "serve did not say where it listens: $(cat serve.err)"
sink_failing() {
	curl -s --max-time 5 "http://127.0.0.1:$port/metrics" >metrics.txt &&
		grep -qx 'aalgate_sink_failing{sink="down"} 1' metrics.txt
}
wait_for 10 sink_failing || fail "the failing sink is not in /metrics: $(grep sink metrics.txt)"
for m in 'aalgate_sink_delivered_total{sink="ops"} 2' \
	'aalgate_sink_delivered_total{sink="pager"} 1' \
	'aalgate_sink_delivered_total{sink="down"} 0' \
	'aalgate_sink_failing{sink="ops"} 0' \
	'aalgate_sink_broken{sink="down"} 0' \
	'# TYPE aalgate_sink_failing gauge'; do
	grep -qxF "$m" metrics.txt || fail "/metrics lacks '$m': $(grep sink metrics.txt)"
done
grep -Eq '^aalgate_sink_failures_total\{sink="down"\} [1-9]' metrics.txt ||
	fail "/metrics counts no failure of 'down': $(grep sink metrics.txt)"
kill -TERM "$serve_pid"
wait_for 10 sh -c "! kill -0 $serve_pid 2>/dev/null" || die "serve did not stop at SIGTERM"
wait "$serve_pid"
rc=$?
serve_pid=
[ $rc -eq 0 ] || fail "serve exited with $rc"
grep "sink" serve.err | grep -v "sink 'down'" | grep -q . &&
	fail "serve reported a sink problem: $(cat serve.err)"

if [ $failures -ne 0 ]; then
	echo "sinks: $failures failure(s)"
	exit 1
fi
echo "ok sinks"
exit 0
