#!/bin/sh
# grant-concurrency.sh AALGATE PROJECT_SOURCE_DIR
# Grants under concurrency and failure: two 'aalgate grant approve'
# processes at the same instant activate a grant exactly once; two
# processes writing one state file leave it intact (PRAGMA
# integrity_check); 'aalgate serve' killed with SIGKILL in the middle of
# approvals restarts with consistent state and a decision log that
# verifies; a full disk and a read-only file system refuse every change,
# saying why.  ag-testsign is found through $AG_TESTSIGN or beside the
# binary; python3 reads the state file for the checks.
set -u
aalgate=$1
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac
testsign=${AG_TESTSIGN:-$(dirname "$aalgate")/tests/ag-testsign}

fail() {
	echo "FAIL grant-concurrency: $*"
	[ -f "$work/serve.err" ] && sed 's/^/  serve: /' "$work/serve.err"
	exit 1
}
[ -x "$testsign" ] || fail "no ag-testsign at $testsign (set AG_TESTSIGN)"
for c in curl openssl python3; do
	command -v $c >/dev/null 2>&1 || fail "$c is needed"
done

work=$(mktemp -d) || exit 2
pid=
mounted=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	[ -n "$mounted" ] && umount "$work/m" 2>/dev/null
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
  admin: { aal: 2, jit: { max: 1h, approvers: "group:admins", approvals: 1 } }
groups:
  admins: [bob, carol]
break_glass: { approvals: 1, max: 4h, alert: true }
acr:
  aal2: { aal: 2 }
EOF

now=$(date +%s)
# tok NAME SUB: a signed AAL2 token in NAME.jwt, jti "jti-NAME"
tok() {
	printf '{"iss":"https://idp.test","aud":"aalgate","sub":"%s","iat":%d,"exp":%d,"auth_time":%d,"jti":"jti-%s","acr":"aal2"}' \
		"$2" $((now - 60)) $((now + 3600)) $((now - 60)) "$1" |
		"$testsign" sign --key key.pem --alg ES256 --kid k1 >"$1.jwt" ||
		fail "ag-testsign sign $1 failed"
}
# sql DB QUERY: one value
sql() {
	python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=10)
print(c.execute(sys.argv[2]).fetchone()[0])' "$1" "$2"
}
# request DB TOKEN: prints the new grant's id
request() {
	"$aalgate" grant request -p policy.yaml --state "$1" --token "$2" -w admin \
		-D 30m -r "change window" --format json >req.out 2>req.err ||
		fail "request: $(cat req.out req.err)"
	sed -n 's/^    "id": \([0-9]*\),$/\1/p' req.out
}

# ---- two approvers at the same instant: one activation ------------------
rounds=8
r=1
while [ $r -le $rounds ]; do
	tok "alice-r$r" alice
	tok "bob-r$r" bob
	tok "carol-r$r" carol
	id=$(request state.db "alice-r$r.jwt")
	[ -n "$id" ] || fail "round $r: no grant id"
	at=$((now + 100))
	"$aalgate" grant approve -p policy.yaml --state state.db --token "bob-r$r.jwt" \
		--now $at "$id" >"b$r.out" 2>"b$r.err" &
	p1=$!
	"$aalgate" grant approve -p policy.yaml --state state.db --token "carol-r$r.jwt" \
		--now $at "$id" >"c$r.out" 2>"c$r.err" &
	p2=$!
	wait $p1
	e1=$?
	wait $p2
	e2=$?
	case "$e1$e2" in
	01 | 10) ;;
	*) fail "round $r: exits $e1 and $e2: $(cat b$r.out b$r.err c$r.out c$r.err)" ;;
	esac
	grep -h "refused" "b$r.err" "c$r.err" | grep -q "grant $id is active, not pending" ||
		fail "round $r: the loser was not told the grant is active: $(cat b$r.err c$r.err)"
	n=$(sql state.db "SELECT count(*) FROM journal WHERE type = 'grant_activate' AND json_extract(fields, '\$.grant') = $id")
	[ "$n" = 1 ] || fail "round $r: $n activations of grant $id"
	n=$(sql state.db "SELECT count(*) FROM grant_approvals WHERE grant_id = $id")
	[ "$n" = 1 ] || fail "round $r: $n approvals of grant $id"
	r=$((r + 1))
done
[ "$(sql state.db "SELECT count(*) FROM grants WHERE state = 'active'")" = $rounds ] ||
	fail "not every round's grant is active"

# ---- two processes writing one state file ----------------------------------
writer() { # writer NAME COUNT: requests and break-glass marks
	i=1
	while [ $i -le "$2" ]; do
		"$aalgate" grant request -p policy.yaml --state shared.db --token "$1.jwt" \
			-w admin -D 10m -r "loop $i" >/dev/null 2>"$1.err" || {
			echo "request $i failed: $(cat "$1.err")" >"$1.fail"
			return
		}
		"$aalgate" grant break-glass mark --state shared.db "acct-$1-$i" \
			>/dev/null 2>"$1.err" || {
			echo "mark $i failed: $(cat "$1.err")" >"$1.fail"
			return
		}
		i=$((i + 1))
	done
}
tok w1 writer1
tok w2 writer2
writer w1 25 &
q1=$!
writer w2 25 &
q2=$!
wait $q1 $q2
[ -f w1.fail ] && fail "writer 1: $(cat w1.fail)"
[ -f w2.fail ] && fail "writer 2: $(cat w2.fail)"
[ "$(sql shared.db 'PRAGMA integrity_check')" = ok ] || fail "shared.db: integrity_check"
[ "$(sql shared.db 'SELECT count(*) FROM grants')" = 50 ] || fail "shared.db: not 50 grants"
[ "$(sql shared.db 'SELECT count(*) FROM accounts WHERE break_glass = 1')" = 50 ] ||
	fail "shared.db: not 50 break-glass accounts"
[ "$(sql shared.db "SELECT count(*) FROM journal WHERE type IN ('grant_request', 'break_glass_mark')")" = 100 ] ||
	fail "shared.db: not 100 journal rows"
"$aalgate" log verify aalgate-decisions.jsonl >verify1.out 2>&1 || fail "log verify: $(cat verify1.out)"

# ---- serve killed with SIGKILL in the middle of approvals ------------------
start() {
	: >serve.err
	"$aalgate" serve -p policy.yaml --listen 127.0.0.1:0 --state kill.db \
		--decision-log kill.jsonl --timeout 5 --drain 5 2>serve.err &
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
n=40
i=1
while [ $i -le $n ]; do
	tok "k-alice-$i" alice
	tok "k-bob-$i" bob
	i=$((i + 1))
done
start
i=1
while [ $i -le $n ]; do
	curl -s -o /dev/null -X POST -H "Authorization: Bearer $(cat "k-alice-$i.jwt")" \
		--data '{"workflow":"admin","duration":"30m","reason":"kill test"}' \
		"$base/v1/grants" || fail "request $i over HTTP"
	i=$((i + 1))
done
# Approvals in flight from several clients, and SIGKILL among them.
i=1
while [ $i -le $n ]; do
	curl -s -o /dev/null --max-time 5 -X POST \
		-H "Authorization: Bearer $(cat "k-bob-$i.jwt")" \
		"$base/v1/grants/$i/approve" &
	[ $i = $((n / 2)) ] && kill -9 "$pid"
	i=$((i + 1))
done
wait "$pid" 2>/dev/null
pid=
wait
# Restart: the journal reaches the log, and everything agrees.
start
sleep 1.5
kill -TERM "$pid"
wait "$pid"
pid=
[ "$(sql kill.db 'PRAGMA integrity_check')" = ok ] || fail "kill.db: integrity_check"
[ "$(sql kill.db 'SELECT count(*) FROM grants')" = $n ] || fail "kill.db: not $n grants"
act=$(sql kill.db "SELECT count(*) FROM grants WHERE state = 'active'")
apv=$(sql kill.db "SELECT count(*) FROM grant_approvals")
[ "$act" = "$apv" ] || fail "kill.db: $act active grants but $apv approvals"
[ "$(sql kill.db "SELECT count(*) FROM journal WHERE type = 'grant_activate'")" = "$act" ] ||
	fail "kill.db: activation rows do not match active grants"
[ "$(sql kill.db "SELECT count(*) FROM journal WHERE type = 'grant_approve'")" = "$apv" ] ||
	fail "kill.db: approval rows do not match approvals"
[ "$(sql kill.db "SELECT count(*) FROM grants g WHERE state = 'pending' AND EXISTS (SELECT 1 FROM grant_approvals a WHERE a.grant_id = g.id)")" = 0 ] ||
	fail "kill.db: a pending grant holds an approval"
[ "$(sql kill.db "SELECT count(*) FROM journal WHERE logged IS NULL")" = 0 ] ||
	fail "kill.db: journal rows not logged after the restart"
"$aalgate" log verify kill.jsonl >verify2.out 2>&1 || fail "log verify after SIGKILL: $(cat verify2.out)"
for id in $(python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(" ".join(str(r[0]) for r in c.execute("SELECT id FROM grants WHERE state = '"'"'active'"'"'")))' kill.db); do
	grep -q "\"type\":\"grant_activate\".*\"grant\":$id," kill.jsonl ||
		fail "kill.jsonl: no activation of grant $id"
done

# ---- a full disk, a read-only file system ----------------------------------
mkdir m
if mount -t tmpfs -o size=512k tmpfs m 2>/dev/null; then
	mounted=1
	tok f-alice alice
	tok f-bob bob
	tok f-carol carol
	tok f-root root
	tok f-carol2 carol
	fid=$(request m/state.db f-alice.jwt)
	"$aalgate" grant break-glass mark --state m/state.db root >/dev/null 2>&1 ||
		fail "mark root on tmpfs"
	bid=$(request m/state.db f-root.jwt)
	"$aalgate" grant approve -p policy.yaml --state m/state.db --token f-carol.jwt \
		"$bid" >/dev/null 2>bgapprove.err || fail "approve break-glass: $(cat bgapprove.err)"
	# A running gate, then the disk fills.
	: >serve.err
	"$aalgate" serve -p policy.yaml --listen 127.0.0.1:0 --state m/state.db \
		--decision-log full.jsonl --timeout 5 --drain 5 2>serve.err &
	pid=$!
	i=0
	port=
	while [ $i -lt 100 ] && [ -z "$port" ]; do
		port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' serve.err)
		sleep 0.1
		i=$((i + 1))
	done
	[ -n "$port" ] || fail "serve on tmpfs did not start"
	base=http://127.0.0.1:$port
	dd if=/dev/zero of=m/fill bs=4k >/dev/null 2>&1
	curl -s -o full1.b -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat f-bob.jwt)" \
		"$base/v1/grants/$fid/approve" >full1.code
	[ "$(cat full1.code)" = 503 ] || fail "approve on a full disk: $(cat full1.code) $(cat full1.b)"
	grep -q "the disk is full" full1.b || fail "full disk: no reason given: $(cat full1.b)"
	# A break-glass use must be alerted; it cannot be, so it is denied.
	printf '{"workflow":"admin","token":"%s"}' "$(cat f-root.jwt)" >bg.req
	curl -s -o full2.b -X POST --data-binary @bg.req "$base/v1/decide" ||
		fail "decide on a full disk"
	grep -q '"decision":"deny"' full2.b || fail "break-glass use allowed on a full disk: $(cat full2.b)"
	kill -TERM "$pid"
	wait "$pid"
	pid=
	"$aalgate" grant approve -p policy.yaml --state m/state.db --token f-bob.jwt "$fid" \
		>full3.out 2>full3.err
	[ $? = 2 ] || fail "CLI approve on a full disk: $(cat full3.out full3.err)"
	grep -q "No space left on device\|the disk is full" full3.err ||
		fail "CLI on a full disk: no reason given: $(cat full3.err)"
	rm -f m/fill
	# Read-only: every change refused, saying so; nothing changed.
	mount -o remount,ro m || fail "remount read-only"
	"$aalgate" grant approve -p policy.yaml --state m/state.db --token f-bob.jwt "$fid" \
		>ro1.out 2>ro1.err
	[ $? = 2 ] || fail "approve on a read-only file system: $(cat ro1.out ro1.err)"
	grep -q "Read-only file system" ro1.err || fail "read-only: no reason given: $(cat ro1.err)"
	"$aalgate" grant request -p policy.yaml --state m/state.db --token f-carol2.jwt -w admin \
		-D 5m -r x >ro2.out 2>ro2.err
	[ $? = 2 ] || fail "request on a read-only file system: $(cat ro2.out ro2.err)"
	"$aalgate" serve -p policy.yaml --listen 127.0.0.1:0 --state m/state.db \
		--decision-log ro.jsonl >ro3.out 2>ro3.err
	[ $? = 2 ] || fail "serve started on a read-only state: $(cat ro3.err)"
	grep -q "Read-only file system" ro3.err || fail "serve read-only: $(cat ro3.err)"
	# Nothing changed: the grant still waits for its approval.
	mount -o remount,rw m || fail "remount read-write"
	"$aalgate" grant check --state m/state.db alice admin >ro4.out 2>&1
	[ $? = 1 ] || fail "the refused approval took effect: $(cat ro4.out)"
	[ "$(sql m/state.db "SELECT state FROM grants WHERE id = $fid")" = pending ] ||
		fail "grant $fid is not pending"
	[ "$(sql m/state.db 'PRAGMA integrity_check')" = ok ] || fail "tmpfs state: integrity_check"
	umount m && mounted=
else
	# No mount here: a file size limit stands for the full disk.
	tok f-alice alice
	tok f-bob bob
	fid=$(request small.db f-alice.jwt)
	(
		trap '' XFSZ
		ulimit -f 1
		exec "$aalgate" grant approve -p policy.yaml --state small.db --token f-bob.jwt "$fid"
	) >full3.out 2>full3.err
	[ $? = 2 ] || fail "approve past the file size limit: $(cat full3.out full3.err)"
	grep -q "File too large\|disk is full" full3.err || fail "no reason given: $(cat full3.err)"
	"$aalgate" grant check --state small.db alice admin >full4.out 2>&1
	[ $? = 1 ] || fail "the refused approval took effect: $(cat full4.out)"
	echo "note grant-concurrency: no tmpfs mount here; read-only case left out"
fi

echo "ok grant-concurrency"
