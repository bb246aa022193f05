#!/bin/sh
# log-verify.sh AALGATE PROJECT_SOURCE_DIR
# The decision log's chain: 'aalgate log verify' on an intact log and on
# logs with one record edited, removed, swapped, inserted or cut off,
# each named by its exact line; the head file catching a removed last
# record; and a writer killed with SIGKILL while appending, after which
# the chain holds and every acknowledged record is there.
#
# The logs are written by tests/tools/dlog-write, which CMake passes in
# AG_DLOG_WRITE.
set -u
aalgate=$1
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac
writer=${AG_DLOG_WRITE:-$(dirname "$aalgate")/tests/dlog-write}
if [ ! -x "$writer" ]; then
	echo "SKIP: dlog-write not built ($writer)"
	exit 0
fi

work=$(mktemp -d) || exit 2
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work" || exit 2

failures=0
fail() { echo "FAIL log-verify: $*"; failures=$((failures + 1)); }

run() {
	"$aalgate" "$@" >out.txt 2>err.txt
	code=$?
	what="aalgate $*"
}
expect_code() {
	[ "$code" -eq "$1" ] ||
		fail "$what: exit status $code, expected $1; stdout: $(head -c 400 out.txt) stderr: $(head -c 400 err.txt)"
}
# expect_out TEXT: stdout is exactly TEXT (one line).
expect_out() {
	[ "$(cat out.txt)" = "$1" ] ||
		fail "$what: stdout is '$(head -c 400 out.txt)', expected '$1'"
}
# expect_in FILE TEXT: TEXT (fixed string) appears in FILE.
expect_in() {
	grep -qF -- "$2" "$1" ||
		fail "$what: $1 lacks '$2'; it has: $(head -c 400 "$1")"
}
expect_empty() {
	[ -s "$1" ] && fail "$what: $1 should be empty; it has: $(head -c 400 "$1")"
	return 0
}

# ---- a log of ten records from one thread ------------------------------
"$writer" -q -n 10 log.jsonl || { echo "FAIL log-verify: dlog-write"; exit 1; }
[ "$(wc -l <log.jsonl)" -eq 10 ] || fail "the log has $(wc -l <log.jsonl) lines, expected 10"
[ "$(cut -d' ' -f1 log.jsonl.head)" = 10 ] || fail "the head is '$(cat log.jsonl.head)', expected seq 10"
first=$(head -n 1 log.jsonl)
case $first in
'{"seq":1,"prev":"0000000000000000000000000000000000000000000000000000000000000000","t":0,"i":0,"outcome":"allow"}') ;;
*) fail "first record is '$first'" ;;
esac
# Each prev is the SHA-256 of the line before, without its newline.
if command -v sha256sum >/dev/null 2>&1; then
	want=$(sed -n 4p log.jsonl | tr -d '\n' | sha256sum | cut -d' ' -f1)
	got=$(sed -n 5p log.jsonl | sed 's/.*"prev":"\([0-9a-f]*\)".*/\1/')
	[ "$want" = "$got" ] || fail "line 5's prev is $got, the SHA-256 of line 4 is $want"
	want=$(sed -n 10p log.jsonl | tr -d '\n' | sha256sum | cut -d' ' -f1)
	[ "$(cat log.jsonl.head)" = "10 $want" ] || fail "the head is '$(cat log.jsonl.head)', expected '10 $want'"
fi

run log verify log.jsonl
expect_code 0
expect_out "log.jsonl: 10 records, chain intact"
expect_empty err.txt

run log verify --quiet log.jsonl
expect_code 0
expect_empty out.txt

# mk NAME: NAME.jsonl and its head, copies of the good log.
mk() {
	cp log.jsonl "$1.jsonl" && cp log.jsonl.head "$1.jsonl.head"
}
# bad NAME LINE TEXT: verify exits 1 and names NAME.jsonl:LINE with TEXT.
bad() {
	run log verify "$1.jsonl"
	expect_code 1
	case $(cat out.txt) in
	"$1.jsonl:$2: "*) ;;
	*) fail "$what: expected '$1.jsonl:$2: ...', got '$(head -c 400 out.txt)'" ;;
	esac
	expect_in out.txt "$3"
	[ "$(wc -l <out.txt)" -eq 1 ] || fail "$what: more than one line of output"
}

# One byte of a field in line 5: line 6's prev no longer matches it.
mk edited
sed '5s/"allow"/"allom"/' log.jsonl >edited.jsonl
cmp -s log.jsonl edited.jsonl && fail "the edit changed nothing"
[ "$(wc -c <edited.jsonl)" -eq "$(wc -c <log.jsonl)" ] || fail "the edit changed the size"
bad edited 5 "does not hash to the prev that line 6 records: this line was changed, or line 6 was, or lines between them were removed"

# The same in the last line, which only the head can catch.
mk lastedit
sed '10s/"allow"/"allom"/' log.jsonl >lastedit.jsonl
bad lastedit 10 "does not hash to the hash that lastedit.jsonl.head holds for seq 10"

# A line removed from the middle.
mk removed
sed '4d' log.jsonl >removed.jsonl
bad removed 4 "seq 5 where 4 was expected: record 4 is missing"

# Two removed.
mk removed2
sed '4,5d' log.jsonl >removed2.jsonl
bad removed2 4 "seq 6 where 4 was expected: records 4 to 5 are missing"

# Two lines swapped.
mk swapped
awk 'NR == 6 { held = $0; next } NR == 7 { print; print held; next } { print }' \
	log.jsonl >swapped.jsonl
bad swapped 6 "seq 7 where 6 was expected"

# A copy of line 3 inserted after line 7.
mk inserted
awk 'NR == 3 { copy = $0 } { print } NR == 7 { print copy }' log.jsonl >inserted.jsonl
bad inserted 8 "seq 3 where 8 was expected: records are out of order or repeated"

# The last line cut off in the middle.
mk truncated
size=$(wc -c <log.jsonl)
head -c $((size - 20)) log.jsonl >truncated.jsonl
bad truncated 10 "the record is cut off (no newline at the end)"

# The last line removed whole: the chain is fine, the head is not.
mk lastgone
sed '$d' log.jsonl >lastgone.jsonl
bad lastgone 10 "the log ends at seq 9 but its head says 10 were committed"

# Everything removed.
mk emptied
: >emptied.jsonl
bad emptied 1 "the log ends at seq 0 but its head says 10 were committed"

# The first record's prev changed.
mk firstprev
sed '1s/"prev":"0/"prev":"1/' log.jsonl >firstprev.jsonl
bad firstprev 1 "the first record's prev is not 64 zeros"

# A line that is not JSON.
mk notjson
sed '3s/^{/[/' log.jsonl >notjson.jsonl
bad notjson 3 "not JSON"

# A line with a repeated key.
mk dupkey
sed '2s/"outcome":"allow"/"outcome":"allow","outcome":"deny"/' log.jsonl >dupkey.jsonl
bad dupkey 2 "not JSON: duplicate object key"

# --quiet does not hide a problem.
run log verify -q edited.jsonl
expect_code 1
expect_in out.txt "edited.jsonl:5: "

# A head that is not a head.
mk badhead
echo "ten" >badhead.jsonl.head
run log verify badhead.jsonl
expect_code 1
expect_out "badhead.jsonl: its head badhead.jsonl.head is not a decision log head (\"SEQ HASH\")"

# No head: the chain alone is checked.
cp log.jsonl nohead.jsonl
run log verify nohead.jsonl
expect_code 0
expect_out "nohead.jsonl: 10 records, chain intact"

# An empty log with no head is intact.
: >empty.jsonl
run log verify empty.jsonl
expect_code 0
expect_out "empty.jsonl: 0 records, chain intact"

# A log that ag_dlog_open refuses to extend, because its head is ahead.
"$writer" -q -n 1 lastgone.jsonl 2>err.txt
code=$?
[ "$code" -eq 2 ] || fail "dlog-write on a truncated log: exit $code, expected 2"
expect_in err.txt "lastgone.jsonl: the log ends at seq 9 but its head says 10 were committed; refusing to extend a truncated log"
[ "$(wc -l <lastgone.jsonl)" -eq 9 ] || fail "the refused log changed"

# ---- usage and unreadable files ----------------------------------------
run log verify missing.jsonl
expect_code 2
expect_in err.txt "aalgate log verify: missing.jsonl: cannot open: No such file or directory"
expect_empty out.txt

mkdir adir
run log verify adir
expect_code 2
expect_in err.txt "adir: is a directory"

run log
expect_code 2
expect_in err.txt "usage: aalgate log verify"

run log --help
expect_code 0
expect_in out.txt "usage: aalgate log verify [--quiet] FILE"

run log verify --help
expect_code 0
expect_in out.txt "usage: aalgate log verify"

run log verify
expect_code 2
expect_in err.txt "expected one log file"

run log verify a b
expect_code 2
expect_in err.txt "expected one log file"

run log frob x
expect_code 2
expect_in err.txt "unknown subcommand 'frob'"

run log verify --bogus log.jsonl
expect_code 2
expect_in err.txt "unknown option '--bogus'"

# ---- a writer killed while appending -----------------------------------
# Four threads append until killed; each acknowledged seq is printed after
# ag_dlog_append returned.  Three rounds on one log, so that the next
# round continues a log left by a crash.
: >acked.txt
for round in 1 2 3; do
	: >acked-$round.txt
	"$writer" -f -t 4 crash.jsonl >>acked-$round.txt 2>writer-$round.txt &
	pid=$!
	want=$((round * 40))
	i=0
	while [ "$(wc -l <acked-$round.txt)" -lt "$want" ] && [ $i -lt 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=
	n=$(wc -l <acked-$round.txt)
	[ "$n" -ge "$want" ] || fail "round $round: the writer acknowledged only $n records"
	# Whole lines only: the kill may have cut the last one.
	grep -E '^[0-9]+$' acked-$round.txt >>acked.txt
	# Opening repairs a torn tail, if the kill left one.
	"$writer" -n 0 crash.jsonl 2>repair-$round.txt ||
		fail "round $round: the log did not reopen: $(cat repair-$round.txt)"
	run log verify crash.jsonl
	expect_code 0
	case $(cat out.txt) in
	"crash.jsonl: "*" records, chain intact") ;;
	*) fail "round $round: $(cat out.txt)" ;;
	esac
done
total=$(sed -n 's/^crash.jsonl: \([0-9]*\) records, chain intact$/\1/p' out.txt)
nacked=$(wc -l <acked.txt)
nuniq=$(sort -n acked.txt | uniq | wc -l)
[ "$nacked" -eq "$nuniq" ] || fail "an acknowledged seq was given twice"
if [ -n "$total" ] && [ "$nacked" -gt 0 ]; then
	# verify proved seq 1..total are all there, in order: every
	# acknowledged seq must be among them.
	late=$(awk -v n="$total" '$1 > n' acked.txt | head -n 1)
	[ -z "$late" ] || fail "seq $late was acknowledged but is not in the log ($total records)"
	[ "$total" -ge "$nacked" ] || fail "$nacked acknowledged, only $total in the log"
	# Spot check: the last acknowledged seq's line carries that seq.
	last=$(sort -n acked.txt | tail -n 1)
	sed -n "${last}p" crash.jsonl | grep -q "^{\"seq\":$last," ||
		fail "line $last does not hold seq $last"
else
	fail "no record count from the crash log, or nothing acknowledged"
fi

if [ "$failures" -ne 0 ]; then
	echo "log-verify: $failures failure(s)"
	exit 1
fi
echo "log-verify: all passed"
exit 0
