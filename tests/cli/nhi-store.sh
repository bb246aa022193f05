#!/bin/sh
# nhi-store.sh AALGATE PROJECT_SOURCE_DIR
# 'aalgate nhi import|list|owner' end to end: the same inventory twice
# (the second import changes nothing, byte for byte), a rotation keeping
# the old version as retired history in 'nhi list --all', an older file
# changing nothing, owners set and kept across imports, 'nhi audit
# --state', every change in the decision log, and refusals with their
# exit codes (usage, a bad inventory, a read-only store).
set -u
aalgate=$1
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac

work=$(mktemp -d) || exit 2
cleanup() {
	chmod 700 "$work" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 2
chmod 700 "$work"

fail() {
	echo "FAIL nhi-store: $*"
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
same() { [ "$(cat "$1.$2")" = "$3" ] || fail "$1: $2 is '$(cat "$1.$2")', expected '$3'"; }

cat >policy.yaml <<EOF
workflows:
  staff: { aal: 2 }
  ci-deploy: { machine: true, max_token_lifetime: 1h,
               credentials: [workload_identity, mtls] }
EOF

cat >inv.csv <<EOF
id,kind,owner,team,purpose,workflow,created,last_rotated,expires,last_used,scopes
ci-bot,mtls,alice,platform,deploys,ci-deploy,2024-06-01,2025-01-01,2025-07-01,2025-03-01,deploy read
api-1,api_key,bob,,,,2025-02-01,,never,never,
EOF

S="--state st.db -p policy.yaml"

# ---- usage --------------------------------------------------------------
run help 0 nhi import --help
has help out "usage: aalgate nhi import --state DB -p POLICY INVENTORY..."
run lhelp 0 nhi list --help
has lhelp out "usage: aalgate nhi list --state DB"
run ohelp 0 nhi owner --help
has ohelp out "usage: aalgate nhi owner set ID --state DB"
run nhihelp 0 nhi --help
has nhihelp out "import   merge inventories into the state store"
run nostate 2 nhi import -p policy.yaml inv.csv
same nostate err "aalgate nhi import: a state file is required (--state DB)"
run nopolicy 2 nhi import --state st.db inv.csv
same nopolicy err "aalgate nhi import: a policy is required (-p FILE)"
run noinv 2 nhi import $S
has noinv err "no inventory given"
run badopt 2 nhi import $S --all inv.csv
same badopt err "aalgate nhi import: unknown option '--all'; see 'aalgate nhi import --help'"
run badfmt 2 nhi list --state st.db --format yaml
same badfmt err "aalgate nhi list: unknown format 'yaml' (text or json)"
run badstatus 2 nhi owner set alice --state st.db --status gone
same badstatus err "aalgate nhi owner set: unknown status 'gone' (active or offboarded)"
run noset 2 nhi owner set alice --state st.db
same noset err "aalgate nhi owner set: nothing to set: give --status or --team"
run badsub 2 nhi owner get alice --state st.db
has badsub err "unknown subcommand 'get' (set)"
[ ! -e st.db ] || fail "a refused command created the state file"

# ---- import twice ----------------------------------------------------------
run imp1 0 nhi import $S inv.csv
same imp1 out "st.db: 2 machine identities read; added 2, rotated 0, changed 0, unchanged 0, retired 0, older 0; owners added 2, changed 0"
[ "$(stat -c %a st.db)" = 600 ] || fail "the state file is mode $(stat -c %a st.db)"
cp st.db before.db
run list1 0 nhi list --state st.db --format json
run imp2 0 nhi import $S inv.csv
same imp2 out "st.db: 2 machine identities read; added 0, rotated 0, changed 0, unchanged 2, retired 0, older 0; owners added 0, changed 0
  nothing changed"
run list2 0 nhi list --state st.db --format json
cmp -s list1.out list2.out || fail "the second import changed the listing: $(diff list1.out list2.out)"
if command -v sqlite3 >/dev/null 2>&1; then
	for t in nhi_records nhi_owners journal; do
		a=$(sqlite3 before.db "SELECT * FROM $t ORDER BY 1, 2, 3")
		b=$(sqlite3 st.db "SELECT * FROM $t ORDER BY 1, 2, 3")
		[ "$a" = "$b" ] || fail "the second import changed table $t"
	done
fi

# The listing, as text.
run list 0 nhi list --state st.db
same list out "api-1  v1  api_key  active  owner bob (active)  created 2025-02-01T00:00:00Z
ci-bot  v1  mtls  active  owner alice (active)  rotated 2025-01-01T00:00:00Z  expires 2025-07-01T00:00:00Z
owners:
  alice  active
  bob  active"

# ---- a rotation --------------------------------------------------------------
sed 's/2025-01-01,2025-07-01/2025-04-01,2025-10-01/' inv.csv >rotated.csv
run imp3 0 nhi import $S rotated.csv
has imp3 out "added 0, rotated 1, changed 0, unchanged 1, retired 1, older 0"
run all 0 nhi list --state st.db --all
same all out "api-1  v1  api_key  active  owner bob (active)  created 2025-02-01T00:00:00Z  (current)
ci-bot  v1  mtls  retired  owner alice (active)  rotated 2025-01-01T00:00:00Z  expires 2025-07-01T00:00:00Z  retired 2025-04-01T00:00:00Z (history)
ci-bot  v2  mtls  active  owner alice (active)  rotated 2025-04-01T00:00:00Z  expires 2025-10-01T00:00:00Z  (current)
owners:
  alice  active
  bob  active"
run cur 0 nhi list --state st.db
lacks cur out "v1  mtls"
has cur out "ci-bot  v2  mtls  active"
run alljson 0 nhi list --state st.db --all --format json
python3 - alljson.out <<'EOF' || fail "nhi list --all --format json: $(cat alljson.out)"
import json, sys
d = json.load(open(sys.argv[1]))
v = [r for r in d["records"] if r["id"] == "ci-bot"]
assert [r["version"] for r in v] == [1, 2], v
assert v[0]["current"] is False and v[0]["status"] == "retired", v[0]
assert v[0]["retired"] == "2025-04-01T00:00:00Z", v[0]
assert v[0]["last_rotated"] == "2025-01-01T00:00:00Z", v[0]
assert v[1]["current"] is True and v[1]["status"] == "active", v[1]
assert v[1]["retired"] is None and v[1]["expires"] == "2025-10-01T00:00:00Z"
assert v[1]["scopes"] == ["deploy", "read"] and v[1]["used_scopes"] is None
assert v[1]["team"] == "platform" and v[1]["workflow"] == "ci-deploy"
a = [r for r in d["records"] if r["id"] == "api-1"][0]
assert a["expires"] == "never" and a["last_used"] == "never", a
assert [o["id"] for o in d["owners"]] == ["alice", "bob"], d["owners"]
EOF

# The old file again: nothing comes back.
run imp4 0 nhi import $S inv.csv
has imp4 out "added 0, rotated 0, changed 0, unchanged 1, retired 0, older 1"
has imp4 out "1 record is older than the stored version: left as stored"
run all2 0 nhi list --state st.db --all
cmp -s all.out all2.out || fail "an older inventory changed the store: $(diff all.out all2.out)"

# ---- owners ------------------------------------------------------------------
run off 0 nhi owner set bob --state st.db --status offboarded --team payments
same off out "owner 'bob' set: offboarded, team payments"
run off2 0 nhi owner set bob --state st.db --status offboarded
same off2 out "owner 'bob' is so already: nothing changed"
run list3 0 nhi list --state st.db
has list3 out "api-1  v1  api_key  active  owner bob (offboarded)"
has list3 out "  bob  offboarded  team payments"
# The next import of a file without an owners list leaves him so.
run imp5 0 nhi import $S rotated.csv
has imp5 out "owners added 0, changed 0"
run list4 0 nhi list --state st.db
has list4 out "owner bob (offboarded)"
# nhi audit --state judges the store's records: api-1 is orphaned.
run audit 1 nhi audit -p policy.yaml --state st.db --as-of 2025-05-01
has audit out "AG-N01 orphaned: 'api-1' (api_key): owner 'bob' is offboarded"
lacks audit out "AG-N01 orphaned: 'ci-bot'"
# A new owner, with a team.
run new 0 nhi owner set carol --state st.db --team data
same new out "owner 'carol' set, team data"
run list5 0 nhi list --state st.db
has list5 out "  carol  active  team data"

# ---- the decision log ----------------------------------------------------------
[ -f aalgate-decisions.jsonl ] || fail "no decision log beside the state"
"$aalgate" log verify aalgate-decisions.jsonl >verify.out 2>&1 ||
	fail "log verify: $(cat verify.out)"
n=$(grep -c '"type":"nhi_import"' aalgate-decisions.jsonl)
[ "$n" = 2 ] || fail "$n nhi_import records, expected 2 (the first import and the rotation)"
grep -q '"change":"rotated","issuer":null,"id":"ci-bot","version":2' aalgate-decisions.jsonl ||
	fail "no rotation in the decision log"
n=$(grep -c '"type":"nhi_owner_set"' aalgate-decisions.jsonl)
[ "$n" = 2 ] || fail "$n nhi_owner_set records, expected 2"

# ---- refusals ------------------------------------------------------------------
printf 'id,kind\nx,api_kye\n' >bad.csv
cp st.db st-before.db
run bad 2 nhi import $S inv.csv bad.csv
has bad err "bad.csv:2:"
has bad err "unknown kind 'api_kye'"
cmp -s st.db st-before.db || fail "a refused import changed the store"
# A store this user cannot write: read-only (as root, chattr is not
# portable; a directory without write permission stops the WAL files).
if [ "$(id -u)" != 0 ]; then
	chmod 400 st.db
	run ro 2 nhi import $S rotated.csv
	has ro err "st.db: cannot open for writing"
	chmod 600 st.db
fi
run missing 2 nhi list --state missing.db
has missing err "missing.db"
[ ! -e missing.db ] || fail "nhi list created a state file"

echo "nhi-store: ok"
