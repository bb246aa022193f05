#!/bin/sh
# pam.sh AALGATE PROJECT_SOURCE_DIR
# pam_aalgate.so under pamtester, sudo-style (auth and account), against
# 'aalgate serve --pam-socket': denied without a grant; allowed with one
# made by 'aalgate grant request' and approved with a signed token;
# denied for another host, after expiry and after a revoke; bad module
# options deny; the daemon stopped denies (failmode=closed) or allows
# (failmode=open), while a daemon's deny, a slow or garbled answer and an
# unsafe socket are never opened; fake daemons that answer garbage, too
# much or nothing; a socket in a directory others may write to, or that
# another user made in a sticky one; who may ask (SO_PEERCRED,
# --pam-peer-group); what
# the daemon refuses to start on; every answer in the decision log.
#
# Writes /etc/pam.d/aalgate-test-*, so it needs root (as in CI); it is
# skipped otherwise.  The service file is removed on exit.
set -u
aalgate=$1
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac
bdir=$(dirname "$aalgate")
testsign=$bdir/tests/ag-testsign

# pam-test.env (written by src/pam/pam.cmake): the module, and the
# sanitizer runtime pamtester must preload in a sanitized build.
module=${AG_PAM_MODULE:-}
preload=
if [ -f "$bdir/pam-test.env" ]; then
	[ -n "$module" ] || module=$(sed -n 's/^module=//p' "$bdir/pam-test.env")
	preload=$(sed -n 's/^preload=//p' "$bdir/pam-test.env")
fi
[ -n "$module" ] || module=$bdir/pam_aalgate.so

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: pam.sh writes /etc/pam.d/aalgate-test-* and needs root"
	exit 0
fi
for t in pamtester openssl python3 setpriv; do
	command -v $t >/dev/null 2>&1 || { echo "SKIP: pam.sh needs $t"; exit 0; }
done
[ -f "$module" ] || { echo "FAIL pam: no module at $module"; exit 1; }
[ -x "$testsign" ] || { echo "FAIL pam: no ag-testsign at $testsign"; exit 1; }

work=$(mktemp -d) || exit 2
chmod 755 "$work" # the unprivileged peers below need to reach the socket
service=aalgate-test-$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
svcfile=/etc/pam.d/$service
pid=
fakepid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	[ -n "$fakepid" ] && kill -9 "$fakepid" 2>/dev/null
	rm -f "$svcfile"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
cd "$work" || exit 2

fail() {
	echo "FAIL pam: $*"
	[ -f "$work/serve.err" ] && sed 's/^/  serve: /' "$work/serve.err"
	exit 1
}

# ---- the daemon ---------------------------------------------------------
now=$(date +%s)
host=$(uname -n)
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem 2>/dev/null ||
	fail "openssl genpkey failed"
"$testsign" jwks k1=key.pem >jwks.json 2>ts.err || fail "ag-testsign jwks: $(cat ts.err)"

# token NAME SUB: a signed AAL2 token (password + OTP) in NAME.jwt
token() {
	cat >"$1.claims" <<EOF
{"iss": "https://idp.test", "aud": "portal", "sub": "$2",
 "iat": $((now - 30)), "exp": $((now + 3600)), "auth_time": $((now - 30)),
 "jti": "jti-$1", "amr": ["pwd", "otp"]}
EOF
	"$testsign" sign --key key.pem --alg ES256 --kid k1 <"$1.claims" >"$1.jwt" 2>ts.err ||
		fail "ag-testsign sign $1: $(cat ts.err)"
}

cat >policy.yaml <<'EOF'
issuers:
  - iss: https://idp.test
    audiences: [portal]
    jwks_file: jwks.json
workflows:
  admin: { aal: 2, jit: { max: 1h, approvers: "group:admins", approvals: 1 } }
  staff: { aal: 2 }
groups:
  admins: [carol]
break_glass: { approvals: 0, max: 1h, alert: true }
EOF

mkdir -m 755 run
sock=$work/run/pam.sock

# start_daemon EXTRA_ARGS...: serve with the PAM socket; waits until up.
start_daemon() {
	: >serve.err
	"$aalgate" serve -p policy.yaml --listen 127.0.0.1:0 --state st.db \
		--decision-log decisions.jsonl --pam-socket "$sock" "$@" 2>serve.err &
	pid=$!
	i=0
	while [ $i -lt 100 ]; do
		grep -q 'listening on' serve.err && return 0
		kill -0 "$pid" 2>/dev/null || fail "serve exited at start"
		sleep 0.1
		i=$((i + 1))
	done
	fail "serve did not start"
}
stop_daemon() {
	kill "$pid"
	wait "$pid"
	st=$?
	pid=
	[ "$st" = 0 ] || fail "serve stopped with status $st"
}

# ---- running the module -------------------------------------------------
# service ARGS...: the PAM service uses the module with ARGS for auth and
# account, as /etc/pam.d/sudo would after common-auth.
service() {
	printf 'auth required %s %s\naccount required %s %s\n' \
		"$module" "$*" "$module" "$*" >"$svcfile"
}

# pam NAME WANT USER [OP...]: pamtester's status (0 allowed, else denied)
# must be WANT; output in NAME.out.  OP defaults to authenticate then
# acct_mgmt.  PAM_AS="setpriv ..." runs it as someone else.
pam() {
	name=$1
	want=$2
	user=$3
	shift 3
	[ $# -gt 0 ] || set -- authenticate acct_mgmt
	if [ -n "$preload" ]; then
		# The module is sanitized; pamtester is not.  pamtester's own
		# leaks are not the module's (which allocates nothing).
		LD_PRELOAD=$preload ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
			${PAM_AS:-} pamtester -v "$service" "$user" "$@" >"$name.out" 2>&1 </dev/null
	else
		${PAM_AS:-} pamtester -v "$service" "$user" "$@" >"$name.out" 2>&1 </dev/null
	fi
	got=$?
	case $want in
	0) [ "$got" = 0 ] || fail "$name: denied, expected allowed: $(cat "$name.out")" ;;
	*) [ "$got" != 0 ] || fail "$name: allowed, expected denied: $(cat "$name.out")" ;;
	esac
	grep -q 'AddressSanitizer\|runtime error' "$name.out" && fail "$name: sanitizer: $(cat "$name.out")"
	return 0
}

# pam_records: the decision log's "pam" records, one "outcome reason user
# workflow host service" line each (reason "-" on allow).
pam_records() {
	python3 - decisions.jsonl <<'PYEOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("type") != "pam":
        continue
    print(r["outcome"], r.get("reason", "-"), r.get("user", "-"),
          r.get("workflow", "-"), r.get("host", "-"), r.get("service", "-"))
PYEOF
}
last_record() { pam_records | tail -n 1; }
expect_last() {
	[ "$(last_record)" = "$*" ] || fail "last pam record is '$(last_record)', expected '$*'"
}
count_records() { pam_records | wc -l | tr -d ' '; }

# ---- the daemon refuses what it should --------------------------------
"$aalgate" serve -p policy.yaml --pam-socket "$sock" >nostate.out 2>&1
[ $? = 2 ] || fail "--pam-socket without --state: not exit 2"
grep -q -- '--pam-socket needs --state DB' nostate.out || fail "nostate: $(cat nostate.out)"
"$aalgate" serve -p policy.yaml --state st.db --pam-peer-group nogroup >nosock.out 2>&1
[ $? = 2 ] || fail "--pam-peer-group without --pam-socket: not exit 2"
"$aalgate" serve -p policy.yaml --state st.db --pam-socket "$sock" --pam-peer-uid no-such-user-x >nouser.out 2>&1
[ $? = 2 ] || fail "--pam-peer-uid no-such-user-x: not exit 2"
grep -q "no user 'no-such-user-x'" nouser.out || fail "nouser: $(cat nouser.out)"

echo "not a socket" >"$sock"
"$aalgate" serve -p policy.yaml --listen 127.0.0.1:0 --state st.db \
	--decision-log decisions.jsonl --pam-socket "$sock" >file.out 2>&1
[ $? = 2 ] || fail "a regular file at the socket path: not exit 2"
grep -q "exists and is not a socket; refusing to replace it" file.out || fail "file: $(cat file.out)"
[ "$(cat "$sock")" = "not a socket" ] || fail "the file at the socket path was changed"
rm -f "$sock"

mkdir -m 777 open
"$aalgate" serve -p policy.yaml --listen 127.0.0.1:0 --state st.db \
	--decision-log decisions.jsonl --pam-socket "$work/open/pam.sock" >open.out 2>&1
[ $? = 2 ] || fail "a socket in a world-writable directory: not exit 2"
grep -q "group or others may write to it" open.out || fail "open: $(cat open.out)"

start_daemon
[ "$(stat -c '%a %U %F' "$sock")" = "600 root socket" ] ||
	fail "socket is $(stat -c '%a %U %F' "$sock"), expected mode 600, root's"

# A second daemon on the same socket is refused; the first goes on.
"$aalgate" serve -p policy.yaml --listen 127.0.0.1:0 --state st.db \
	--decision-log other.jsonl --pam-socket "$sock" >second.out 2>&1
[ $? = 2 ] || fail "a second daemon on a live socket: not exit 2"
grep -q "another process answers on this socket" second.out || fail "second: $(cat second.out)"

# ---- no grant: denied ---------------------------------------------------
service workflow=admin "socket=$sock"
pam nogrant 1 alice
grep -q "no active grant for workflow 'admin' on $host" nogrant.out ||
	fail "nogrant: the user is not told why: $(cat nogrant.out)"
expect_last "deny no_grant alice admin $host $service"
pam nogrant-acct 1 alice acct_mgmt
pam_records | tail -n 1 | grep -q '^deny no_grant alice' || fail "acct_mgmt not logged"

# ---- a grant: allowed ---------------------------------------------------
token alice alice
token carol carol
token bob bob
# grant USER DURATION [HOST...]: requested by USER, approved by carol;
# the id in $gid
grant() {
	u=$1
	d=$2
	shift 2
	hargs=
	for h in "$@"; do hargs="$hargs --host $h"; done
	"$aalgate" grant request -p policy.yaml --state st.db --token "$u.jwt" \
		--workflow admin --duration "$d" --reason "change CHG-1" $hargs \
		--format json >req.out 2>req.err || fail "grant request: $(cat req.err)"
	gid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["grant"]["id"])' req.out) ||
		fail "grant request: no id in $(cat req.out)"
	# A fresh approval token each time: a token serves one approval.
	token "carol-$gid" carol
	"$aalgate" grant approve -p policy.yaml --state st.db --token "carol-$gid.jwt" \
		"$gid" >appr.out 2>appr.err || fail "grant approve: $(cat appr.err)"
}

# Requested but not approved yet: still denied.
"$aalgate" grant request -p policy.yaml --state st.db --token bob.jwt \
	--workflow admin --duration 1h --reason pending >/dev/null 2>req.err || fail "bob: $(cat req.err)"
pam pending 1 bob

grant alice 1h "$host"
pam granted 0 alice
expect_last "allow - alice admin $host $service"
pam granted-auth 0 alice authenticate
pam granted-acct 0 alice acct_mgmt
# The grant is alice's, for admin only.
pam other-user 1 bob
service workflow=staff "socket=$sock"
pam nojit 1 alice
expect_last "deny no_jit alice staff $host $service"
service workflow=admn "socket=$sock"
pam unknown-wf 1 alice
expect_last "deny unknown_workflow alice admn $host $service"
service workflow=admin "socket=$sock"

# A user name the protocol cannot carry is denied before asking.
n=$(count_records)
pam spaced 1 "alice admin"
[ "$(count_records)" = "$n" ] || fail "a user name with a space was sent"

# ---- hosts, expiry, revocation ------------------------------------------
token dave dave
grant dave 1h other.example
pam otherhost 1 dave
expect_last "deny no_grant dave admin $host $service"

token erin erin
grant erin 5s
pam short 0 erin
sleep 6
pam expired 1 erin
expect_last "deny no_grant erin admin $host $service"

token frank frank
grant frank 1h
pam frank 0 frank
"$aalgate" grant revoke -p policy.yaml --state st.db --token frank.jwt "$gid" >rev.out 2>&1 ||
	fail "revoke: $(cat rev.out)"
pam revoked 1 frank

# A break-glass account: its grant is active at once, and its use through
# PAM is alerted (a journal row the daemon moves into the decision log).
token gina gina
"$aalgate" grant break-glass mark --state st.db gina >bg.out 2>&1 || fail "mark: $(cat bg.out)"
"$aalgate" grant request -p policy.yaml --state st.db --token gina.jwt \
	--workflow admin --duration 10m --reason "incident INC-9" >bg.out 2>&1 ||
	fail "break-glass request: $(cat bg.out)"
pam breakglass 0 gina
i=0
until grep -q '"type":"break_glass_use"' decisions.jsonl; do
	[ $i -lt 50 ] || fail "the break-glass use was not alerted"
	sleep 0.1
	i=$((i + 1))
done
python3 - decisions.jsonl "$host" <<'PYEOF' || fail "break-glass alert: see above"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
a = [r for r in recs if r.get("type") == "break_glass_use"]
assert len(a) == 1, a
assert a[0]["account"] == "gina" and a[0]["obligation"] == "alert", a
assert a[0]["host"] == sys.argv[2].lower(), a
PYEOF

# ---- bad options deny (alice holds a grant all along) -------------------
n=$(count_records)
for opts in "socket=$sock" \
	"workflw=admin socket=$sock" \
	"workflow=admin workflow=admin socket=$sock" \
	"workflow=admin socket=$sock failmode=maybe" \
	"workflow=admin socket=$sock failmode=open failmode=open" \
	"workflow=admin socket=$sock timeout=0" \
	"workflow=admin socket=$sock timeout=61" \
	"workflow=admin socket=$sock timeout=5s" \
	"workflow=admin socket=$sock owner=no-such-user-aalgate" \
	"workflow=admin socket=$sock owner=1x" \
	"workflow=admin socket=$sock owner=0 owner=0" \
	"workflow=admin socket=run/pam.sock" \
	"workflow=admin socket=$sock debug"; do
	service $opts
	pam badopt 1 alice
	# ...even when failmode=open is among them.
	service $opts failmode=open
	pam badopt-open 1 alice
done
[ "$(count_records)" = "$n" ] || fail "a module with bad options asked the daemon"
service workflow=admin "socket=$sock" failmode=closed timeout=5
pam goodopts 0 alice
# owner= pins the daemon's user: root's socket is owner=root's (or 0's).
service workflow=admin "socket=$sock" owner=root
pam owner-root 0 alice
service workflow=admin "socket=$sock" owner=0
pam owner-0 0 alice

# ---- who may ask --------------------------------------------------------
# nobody cannot even connect to the 0600 socket: denied (fail closed)...
PAM_AS="setpriv --reuid=65534 --regid=65534 --clear-groups"
service workflow=admin "socket=$sock"
pam nobody 1 alice
# ...and allowed only with failmode=open, which is what it is for.
service workflow=admin "socket=$sock" failmode=open
pam nobody-open 0 alice
PAM_AS=
stop_daemon

# With --pam-peer-group the group may connect, and only peers whose
# effective group it is may ask.
start_daemon --pam-peer-group 65534
[ "$(stat -c '%a %g' "$sock")" = "660 65534" ] ||
	fail "peer-group socket is $(stat -c '%a %g' "$sock"), expected 660 65534"
service workflow=admin "socket=$sock"
PAM_AS="setpriv --reuid=65534 --regid=65534 --clear-groups"
pam peer-group 0 alice
PAM_AS="setpriv --reuid=65534 --regid=12345 --groups=65534"
pam peer-supplementary 1 alice
expect_last "deny peer_not_allowed - - - -"
service workflow=admin "socket=$sock" failmode=open
pam peer-supplementary-open 1 alice
PAM_AS=
python3 - decisions.jsonl <<'PYEOF' || fail "peer record: see above"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
recs = [r for r in recs if r.get("type") == "pam"]
r = recs[-1]
assert r["reason"] == "peer_not_allowed", r
assert r["peer"]["uid"] == 65534 and r["peer"]["gid"] == 12345, r
assert r["peer"]["pid"] > 0, r
PYEOF

# ---- the daemon stopped: fail closed, or open when asked -----------------
kill -9 "$pid"
wait "$pid" 2>/dev/null
pid=
[ -S "$sock" ] || fail "kill -9 should leave a stale socket behind"
service workflow=admin "socket=$sock"
pam down 1 alice
service workflow=admin "socket=$sock" failmode=open
pam down-open 0 alice
rm -f "$sock"
pam gone-open 0 alice
service workflow=admin "socket=$sock"
pam gone 1 alice

# The stale socket is replaced at the next start.
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$sock"
start_daemon
[ "$(stat -c '%a' "$sock")" = 600 ] || fail "replaced socket has mode $(stat -c '%a' "$sock")"
pam restarted 0 alice
# A daemon's deny is a deny, failmode=open or not.
service workflow=admin "socket=$sock" failmode=open
pam open-but-denied 1 bob
expect_last "deny no_grant bob admin $host $service"
stop_daemon
[ -e "$sock" ] && fail "the daemon left its socket behind"

# --user: the socket is made before privileges are dropped, and given to
# the user who will answer on it (the module trusts root or the owner).
start_daemon --user nobody
[ "$(stat -c '%a %u' "$sock")" = "600 65534" ] ||
	fail "--user nobody: socket is $(stat -c '%a %u' "$sock"), expected 600 65534"
service workflow=admin "socket=$sock"
pam user-nobody 0 alice
pam user-nobody-bob 1 bob
expect_last "deny no_grant bob admin $host $service"
service workflow=admin "socket=$sock" owner=nobody
pam owner-nobody 0 alice
# Pinned to root, a socket of nobody's is refused, failmode=open or not.
service workflow=admin "socket=$sock" owner=root failmode=open
pam owner-root-nobody-open 1 alice
stop_daemon

# ---- fake daemons: garbage, too much, nothing ----------------------------
# fake MODE: a server on $sock answering as MODE says.
# FAKE_AS="setpriv ..." runs it as someone else, with the system's
# python3 (one under root's home, as pyenv's, is not theirs).
syspy=/usr/bin/python3
[ -x "$syspy" ] || syspy=$(command -v python3)
fake() {
	rm -f "$sock"
	${FAKE_AS:-} "$syspy" - "$sock" "$1" <<'PYEOF' &
import os, random, socket, sys, time
path, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.chmod(path, 0o600)
s.listen(8)
answers = {
    "allow": b"AGPAM1 allow fake-1\n",
    "garbage": b"HTTP/1.1 200 OK\r\n\r\n",
    "lowercase": b"agpam1 allow fake-1\n",
    "badreason": b"AGPAM1 deny No-Grant fake-1\n",
    "twolines": b"AGPAM1 allow fake-1\nAGPAM1 allow fake-2\n",
    "trailing": b"AGPAM1 allow fake-1 extra\n",
    "nonl": b"AGPAM1 allow fake-1",
    "long": b"AGPAM1 allow " + b"a" * 5000 + b"\n",
    "nul": b"AGPAM1 allow fa\0ke\n",
    "empty": b"",
}
rnd = random.Random(20251128)
while True:
    c, _ = s.accept()
    c.settimeout(5)
    try:
        c.recv(2048)
        if mode == "silent":
            time.sleep(30)
        elif mode == "random":
            # Near misses of the protocol and plain noise.
            head = rnd.choice([b"", b"AGPAM1 ", b"AGPAM1 allow ",
                               b"AGPAM1 deny ", b"AGPAM1 deny no_grant "])
            body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(300)))
            c.sendall(head + body + rnd.choice([b"", b"\n", b"\n\n"]))
        else:
            c.sendall(answers[mode])
    except OSError:
        pass
    c.close()
PYEOF
	fakepid=$!
	i=0
	while [ ! -S "$sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	[ -S "$sock" ] || fail "fake daemon $1 did not start"
}
stop_fake() { kill -9 "$fakepid"; wait "$fakepid" 2>/dev/null; fakepid=; }

fake allow
service workflow=admin "socket=$sock"
pam fake-allow 0 alice
stop_fake
# A daemon that is there but answers what is not the protocol may be
# one that stands in for aalgate: denied, failmode=open or not.
for m in garbage lowercase badreason twolines trailing nonl long nul empty; do
	fake $m
	service workflow=admin "socket=$sock"
	pam "fake-$m" 1 alice
	service workflow=admin "socket=$sock" failmode=open
	pam "fake-$m-open" 1 alice
	stop_fake
done

# Noise and near misses: always denied, never a crash.
fake random
service workflow=admin "socket=$sock"
i=0
while [ $i -lt 40 ]; do
	pam "fake-random-$i" 1 alice authenticate
	i=$((i + 1))
done
stop_fake

fake silent
service workflow=admin "socket=$sock" timeout=1
t0=$(date +%s)
pam silent 1 alice authenticate
t1=$(date +%s)
[ $((t1 - t0)) -le 4 ] || fail "timeout=1 took $((t1 - t0)) s"
# A slow daemon may be one the caller stopped (SIGSTOP on their own
# sudo until the timeout): never opened.
service workflow=admin "socket=$sock" timeout=1 failmode=open
pam silent-open 1 alice authenticate
stop_fake

# A socket where others could have put it is not trusted, whatever it
# answers.
chmod 777 run
fake allow
service workflow=admin "socket=$sock"
pam unsafe-dir 1 alice
service workflow=admin "socket=$sock" failmode=open
pam unsafe-dir-open 1 alice
stop_fake
# ...nor is no socket there: anyone could have removed it.
rm -f "$sock"
pam unsafe-dir-gone-open 1 alice
chmod 755 run
# A daemon that is not there, with nothing others could have cleared:
# failmode=open allows, even when its directory is gone too (systemd
# removes RuntimeDirectory= when the service stops).
service workflow=admin "socket=$work/nodir/pam.sock" failmode=open
pam nodir-open 0 alice
service workflow=admin "socket=$work/nodir/pam.sock"
pam nodir 1 alice

# Another user's directory in a sticky, world-writable one (as /tmp), with
# their socket in it: both are theirs, and the directory is not writable
# by others, but anyone could have made it.  Refused, whatever the mode.
mkdir -m 1777 sticky
setpriv --reuid=65534 --regid=65534 --clear-groups sh -c \
	'mkdir -m 755 sticky/evil' || fail "cannot make sticky/evil as nobody"
root_sock=$sock
sock=$work/sticky/evil/pam.sock
FAKE_AS="setpriv --reuid=65534 --regid=65534 --clear-groups"
fake allow
FAKE_AS=
[ "$(stat -c %u "$sock")" = 65534 ] || fail "the sticky-directory socket is not nobody's"
service workflow=admin "socket=$work/sticky/evil/pam.sock"
pam sticky-evil 1 alice
service workflow=admin "socket=$work/sticky/evil/pam.sock" failmode=open
pam sticky-evil-open 1 alice
stop_fake
rm -f "$sock"
pam sticky-evil-gone-open 1 alice
# Nor may a directory that a sticky one lacks be missing: anyone could
# make it, and a socket in it.
service workflow=admin "socket=$work/sticky/none/pam.sock" failmode=open
pam sticky-none-open 1 alice
# The same directory made by root is fine: root's entry in a sticky
# directory cannot be moved by anyone else.
rm -rf sticky/evil
mkdir -m 755 sticky/good
sock=$work/sticky/good/pam.sock
fake allow
service workflow=admin "socket=$sock"
pam sticky-root 0 alice
stop_fake
sock=$root_sock

# ---- the decision log ----------------------------------------------------
"$aalgate" log verify decisions.jsonl >verify.out 2>&1 || fail "log verify: $(cat verify.out)"
pam_records | sort | uniq -c | sed 's/^ */  /' >summary.txt
grep -q "allow - alice admin $host $service" summary.txt || fail "no allow for alice in the log"
grep -q "deny no_grant erin admin" summary.txt || fail "no expiry deny in the log"
grep -q "deny no_grant frank admin" summary.txt || fail "no revoked deny in the log"
echo "pam: ok ($(count_records) PAM decisions logged)"
exit 0
