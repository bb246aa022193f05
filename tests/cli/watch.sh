#!/bin/sh
# watch.sh AALGATE PROJECT_SOURCE_DIR
# 'aalgate watch' on tests/data/watch-cli: a generic event stream of 2.5
# days of ordinary traffic in which one scenario per rule AG-W01..AG-W08
# must alert and its near miss must not (a reset 1 s outside the
# recovery window, a token used 1 s before expiry, a managed device on a
# device-bound workflow, a device seen before the help-desk reset, ...).
# The exact set of alerts in JSON, their values, text and SARIF (against
# the 2.1.0 schema when scripts/setup has installed it), exit statuses
# 0/1/2, standard input, hostile records (a 10 MB line, truncated JSON,
# invalid UTF-8, a timestamp out of order) counted while the stream goes
# on, --state resuming without duplicates, -f across a log rotation and
# SIGTERM, and the real samples of ../shared/data/events when present.
set -u
aalgate=$1 src=$2
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac
data=$src/tests/data/watch-cli
samples=$src/../shared/data/events
schema=$src/build/npm/node_modules/@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json

fail() { echo "FAIL watch: $*"; exit 1; }
command -v python3 >/dev/null 2>&1 || fail "python3 is needed (scripts/setup installs it)"

work=$(mktemp -d) || exit 2
bg=
trap '[ -n "$bg" ] && kill "$bg" 2>/dev/null; rm -rf "$work"' EXIT
cp "$data/policy.yaml" "$data/inventory.json" "$data/events.jsonl" "$work/" || exit 2
cd "$work" || exit 2

# run EXPECTED-STATUS ARGS...: runs 'aalgate watch ARGS', output in
# out.txt and err.txt; the status must be as expected.
run() {
	want=$1
	shift
	"$aalgate" watch "$@" >out.txt 2>err.txt
	code=$?
	if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' err.txt; then
		cat err.txt
		fail "sanitizer report for: watch $*"
	fi
	[ "$code" -eq "$want" ] ||
		fail "watch $*: exit $code, expected $want; stderr: $(cat err.txt)"
}

# alerts FILE: the (rule, subject) pairs of a JSON-lines alert file, one
# "RULE SUBJECT" per line, sorted.
alerts() {
	python3 - "$1" <<'EOF'
import json, sys
out = []
for n, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    a = json.loads(line)
    out.append("%s %s" % (a["rule"], a["subject"]))
print("\n".join(sorted(out)))
EOF
}

cat >want.txt <<'EOF'
AG-W01 dan
AG-W02 erin
AG-W03 hana
AG-W04 build-7
AG-W05 bg-admin
AG-W06 lee
AG-W07 deploy-bot
AG-W08 mia
EOF

# ---- help and usage -------------------------------------------------------------

"$aalgate" --help >out.txt 2>&1 || fail "aalgate --help failed"
grep -q '^  watch ' out.txt || fail "aalgate --help does not list watch: $(cat out.txt)"
run 0 --help
grep -q '^usage: aalgate watch -p POLICY' out.txt || fail "watch --help: $(cat out.txt)"
for o in --state --inventory --since --source --year --follow --format --output --quiet --no-progress; do
	grep -q -- "$o" out.txt || fail "watch --help lacks $o"
done
run 2 events.jsonl
grep -q 'a policy is required' err.txt || fail "no -p: $(cat err.txt)"
run 2 -p policy.yaml --format xml events.jsonl
grep -q "unknown format 'xml'" err.txt || fail "bad format: $(cat err.txt)"
# SARIF is one document at the end: a stream without end would hold
# every alert in memory, so following is refused.
run 2 -p policy.yaml --format sarif -f events.jsonl
grep -q 'cannot follow (-f)' err.txt || fail "sarif with -f: $(cat err.txt)"
run 2 -p policy.yaml --source oktaa events.jsonl
grep -q "okta" err.txt || fail "bad --source gives no near miss: $(cat err.txt)"
run 2 -p policy.yaml --since yesterday events.jsonl
grep -q "bad --since 'yesterday'" err.txt || fail "bad --since: $(cat err.txt)"
run 2 -p policy.yaml --year 12 events.jsonl
run 2 -p policy.yaml --bogus events.jsonl
grep -q "unknown option '--bogus'" err.txt || fail "unknown option: $(cat err.txt)"
run 2 -p policy.yaml missing.jsonl
grep -q 'cannot open missing.jsonl' err.txt || fail "missing input: $(cat err.txt)"
[ -s out.txt ] && fail "an unreadable input still wrote alerts"
run 2 -p policy.yaml events.jsonl missing.jsonl
[ -s out.txt ] && fail "an unreadable second input still wrote alerts"
# One file under two names would count and judge every event twice.
ln events.jsonl same.jsonl
run 2 -p policy.yaml events.jsonl same.jsonl
grep -q 'events.jsonl and same.jsonl are the same file' err.txt || fail "same file twice: $(cat err.txt)"
[ -s out.txt ] && fail "the same file twice still wrote alerts"
run 2 -p policy.yaml events.jsonl ./events.jsonl
grep -q 'are the same file' err.txt || fail "same file, two spellings: $(cat err.txt)"
rm same.jsonl
printf 'workflows:\n  staff: { aal: 7 }\n' >bad-policy.yaml
run 2 -p bad-policy.yaml events.jsonl
grep -q 'bad-policy.yaml' err.txt || fail "bad policy not named: $(cat err.txt)"
run 2 -p policy.yaml --inventory missing.json events.jsonl

# ---- JSON: exactly the planted alerts -------------------------------------------

run 1 -p policy.yaml --inventory inventory.json events.jsonl
cp out.txt all.json
alerts all.json >got.txt
diff want.txt got.txt >/dev/null || fail "alerts differ from the planted ones:
$(diff want.txt got.txt)"
# The summary: per source counts, skips, alerts per rule, subjects, rate.
grep -q '^watch:   generic    2448 records, 2448 events$' err.txt || fail "summary per source: $(cat err.txt)"
grep -q '^watch: ignored 0, skipped 0 (oversize 0)$' err.txt || fail "summary skips: $(cat err.txt)"
grep -q '^watch: alerts 8: AG-W01 1, AG-W02 1, AG-W03 1, AG-W04 1, AG-W05 1, AG-W06 1, AG-W07 1, AG-W08 1$' err.txt ||
	fail "summary alerts: $(cat err.txt)"
grep -Eq '^watch: subjects tracked [0-9]+, peak [0-9]+, evicted 0' err.txt || fail "summary subjects: $(cat err.txt)"
grep -Eq 'events/s\)$' err.txt || fail "summary rate: $(cat err.txt)"

python3 - <<'EOF' || exit 1
import json, re
lines = open("events.jsonl", encoding="utf-8").read().split("\n")
alerts = {a["rule"]: a for a in map(json.loads, open("all.json", encoding="utf-8"))}
errors = []
def check(cond, msg):
    if not cond:
        errors.append(msg)
keys = ["rule", "name", "severity", "time", "subject", "workflow", "required",
        "observed", "evidence", "detail", "remediation"]
for a in alerts.values():
    check(list(a) == keys, "%s keys %r" % (a["rule"], list(a)))
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", a["time"]) is not None,
          "%s time %r" % (a["rule"], a["time"]))
    check(a["detail"] and a["remediation"], "%s lacks detail or remediation" % a["rule"])
    for e in a["evidence"]:
        check(e["file"] == "events.jsonl" and e["source"] == "generic",
              "%s evidence %r" % (a["rule"], e))
        # Each evidence line is the event it names.
        rec = json.loads(lines[e["line"] - 1])
        check(rec["time"] == e["time"] and rec["subject"] == a["subject"],
              "%s evidence line %d is %r" % (a["rule"], e["line"], rec))
w01 = alerts["AG-W01"]
check(w01["name"] == "below-required" and w01["severity"] == "high", "W01 %r" % w01)
check(w01["workflow"] == "staff", "W01 workflow %r" % w01["workflow"])
check(w01["required"] == {"aal": 2, "phishing_resistant": False, "hardware": False},
      "W01 required %r" % w01["required"])
check(w01["observed"] == {"aal": 1, "phishing_resistant": False, "hardware": False},
      "W01 observed %r" % w01["observed"])
check(w01["time"] == "2025-03-02T10:00:17Z", "W01 time %r" % w01["time"])
check(w01["evidence"][0]["action"] == "login", "W01 action %r" % w01["evidence"])
w02 = alerts["AG-W02"]
check([e["action"] for e in w02["evidence"]] == ["recovery", "access"], "W02 evidence %r" % w02["evidence"])
check("23h" in w02["detail"], "W02 detail %r" % w02["detail"])
w03 = alerts["AG-W03"]
check([e["action"] for e in w03["evidence"]] == ["helpdesk_reset", "enroll", "login"],
      "W03 evidence %r" % w03["evidence"])
check("dev-evil" in w03["detail"], "W03 detail %r" % w03["detail"])
check("expired 1s" in alerts["AG-W04"]["detail"], "W04 detail %r" % alerts["AG-W04"]["detail"])
check(alerts["AG-W06"]["workflow"] is None, "W06 workflow %r" % alerts["AG-W06"]["workflow"])
w08 = alerts["AG-W08"]
check(w08["required"]["aal"] == 3 and w08["required"]["phishing_resistant"], "W08 required %r" % w08["required"])
if errors:
    print("FAIL watch: " + "\n  ".join(errors))
    raise SystemExit(1)
EOF

# Without the inventory, nobody is known to be a machine: no AG-W07.
run 1 -q -p policy.yaml events.jsonl
[ -s err.txt ] && fail "-q still wrote to stderr: $(cat err.txt)"
alerts out.txt >got.txt
grep -v 'AG-W07' want.txt | diff - got.txt >/dev/null || fail "alerts without inventory: $(cat got.txt)"

# ---- exit 0: no alert -----------------------------------------------------------

head -n 80 events.jsonl >noise.jsonl
run 0 -p policy.yaml --inventory inventory.json noise.jsonl
[ -s out.txt ] && fail "noise alone alerted: $(cat out.txt)"
grep -q '^watch: alerts 0$' err.txt || fail "summary of no alert: $(cat err.txt)"
run 0 -q -p policy.yaml --since 2025-03-10 events.jsonl
[ -s out.txt ] && fail "--since after every event still alerted"
# --since between the scenarios: the earlier ones are not raised, nor
# erin's access, whose reset came before TIME.
run 1 -q -p policy.yaml --inventory inventory.json --since 2025-03-02T16:00:00Z events.jsonl
alerts out.txt >got.txt
printf 'AG-W05 bg-admin\nAG-W06 lee\nAG-W07 deploy-bot\nAG-W08 mia\n' | diff - got.txt >/dev/null ||
	fail "--since: $(cat got.txt)"

# ---- standard input ---------------------------------------------------------------

"$aalgate" watch -q -p policy.yaml --inventory inventory.json <events.jsonl >out.txt 2>err.txt
[ $? -eq 1 ] || fail "stdin without a FILE: $(cat err.txt)"
alerts out.txt | diff want.txt - >/dev/null || fail "stdin alerts differ"
"$aalgate" watch -p policy.yaml --inventory inventory.json - <events.jsonl >out.txt 2>err.txt
[ $? -eq 1 ] || fail "stdin as '-': $(cat err.txt)"
alerts out.txt | diff want.txt - >/dev/null || fail "'-' alerts differ"
python3 -c '
import json, sys
for l in open("out.txt"):
    for e in json.loads(l)["evidence"]:
        assert e["file"] == "-", e
' || fail "stdin evidence is not named '-'"
run 2 -p policy.yaml - -

# ---- text ---------------------------------------------------------------------------

run 1 -q -p policy.yaml --inventory inventory.json --format text -o alerts.txt events.jsonl
[ -s out.txt ] && fail "-o still wrote to stdout"
[ "$(grep -c '^[A-Z]* AG-W0[1-8] ' alerts.txt)" -eq 8 ] || fail "text: not 8 alert lines: $(cat alerts.txt)"
grep -q "^HIGH AG-W01 below-required: dan (staff) at 2025-03-02T10:00:17Z: .*; required AAL2, observed AAL1$" alerts.txt ||
	fail "text W01 line: $(cat alerts.txt)"
grep -Eq '^    events.jsonl:[0-9]+: 2025-03-02T13:00:00Z generic helpdesk_reset$' alerts.txt ||
	fail "text evidence line: $(cat alerts.txt)"
[ "$(grep -c '^    remediation: ' alerts.txt)" -eq 8 ] || fail "text remediations"

# ---- SARIF --------------------------------------------------------------------------

run 1 -q -p policy.yaml --inventory inventory.json --format sarif events.jsonl
cp out.txt out.sarif
python3 - "$schema" <<'EOF' || exit 1
import json, os, sys
schema_file = sys.argv[1]
errors = []
log = json.load(open("out.sarif", encoding="utf-8"))
alerts = [json.loads(l) for l in open("all.json", encoding="utf-8")]
if os.path.isfile(schema_file):
    try:
        import jsonschema
    except ImportError:
        print("watch: python3-jsonschema not available; checking required fields only")
    else:
        schema = json.load(open(schema_file, encoding="utf-8"))
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        cls.check_schema(schema)
        v = cls(schema)
        for e in v.iter_errors(log):
            errors.append("schema: %s at /%s" % (e.message, "/".join(map(str, e.absolute_path))))
        bad = json.loads(json.dumps(log))
        bad["version"] = "2.0.0"
        if v.is_valid(bad):
            errors.append("schema validator accepted version 2.0.0")
        print("watch: SARIF validated against %s" % os.path.basename(schema_file))
else:
    print("watch: the SARIF schema was not available (%s); checking required fields only" % schema_file)
if log.get("version") != "2.1.0":
    errors.append("version %r" % log.get("version"))
run = log["runs"][0]
rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
if rules != ["AG-W%02d" % i for i in range(1, 9)]:
    errors.append("rules %r" % rules)
res = run["results"]
if len(res) != len(alerts):
    errors.append("%d results for %d alerts" % (len(res), len(alerts)))
for r, a in zip(res, alerts):
    loc = r["locations"][0]["physicalLocation"]
    if r["ruleId"] != a["rule"] or rules[r["ruleIndex"]] != a["rule"]:
        errors.append("result %r for alert %s" % (r["ruleId"], a["rule"]))
    if loc["artifactLocation"]["uri"] != "events.jsonl" or \
       loc["region"]["startLine"] != a["evidence"][0]["line"]:
        errors.append("%s located at %r, first evidence %r" % (a["rule"], loc, a["evidence"][0]))
    if r["properties"]["subject"] != a["subject"] or not r["message"]["text"]:
        errors.append("%s properties %r" % (a["rule"], r["properties"]))
if errors:
    print("FAIL watch: " + "\n  ".join(errors))
    raise SystemExit(1)
EOF
run 0 -q -p policy.yaml --format sarif noise.jsonl
python3 -c 'import json; assert json.load(open("out.txt"))["runs"][0]["results"] == []' ||
	fail "SARIF without alerts: $(cat out.txt)"

# ---- hostile input: counted, the stream goes on -----------------------------------

{
	head -n 100 events.jsonl
	python3 -c 'import sys; sys.stdout.write("{\"time\":\"2025-03-02T10:30:00Z\",\"subject\":\"big\",\"kind\":\"login\",\"pad\":\"" + "x" * (10 * 1024 * 1024) + "\"}\n")'
	printf '{"time":"2025-03-02T10:31:00Z","subject":"cut","kind":"lo\n'
	printf '{"time":"2025-03-02T10:32:00Z","subject":"bad\377\376utf","kind":"login","result":"success"}\n'
	printf '{"time":"2025-02-01T10:32:00Z","subject":"old","kind":"login","workflow":"staff","methods":["password"],"result":"success"}\n'
	tail -n +101 events.jsonl
	printf '{"time":"2025-03-04T23:00:00Z","subject":"tail-cut","kind":"login","wor'
} >hostile.jsonl
run 1 -p policy.yaml --inventory inventory.json hostile.jsonl
alerts out.txt >got.txt
# The out-of-order event is judged alone: AG-W01 for 'old', nothing lost.
{ cat want.txt; echo "AG-W01 old"; } | sort | diff - got.txt >/dev/null ||
	fail "hostile input: alerts differ:
$(sort want.txt | diff - got.txt)"
grep -q '^watch: hostile.jsonl:101: skipped: a record over' err.txt || fail "10 MB line: $(cat err.txt)"
grep -q '^watch: hostile.jsonl:102: skipped: truncated JSON' err.txt || fail "truncated JSON: $(cat err.txt)"
grep -q '^watch: hostile.jsonl:103: skipped: invalid UTF-8' err.txt || fail "invalid UTF-8: $(cat err.txt)"
grep -q '^watch: hostile.jsonl:2453: skipped: ' err.txt || fail "cut last record: $(cat err.txt)"
grep -q '^watch: ignored 0, skipped 4 (oversize 1)$' err.txt || fail "hostile summary: $(cat err.txt)"
grep -q '(late 1, ' err.txt || fail "out-of-order event not counted: $(cat err.txt)"
grep -q '^watch:   generic    2449 records, 2449 events$' err.txt || fail "hostile counts: $(cat err.txt)"
# At most 20 skipped records are named; the rest are counted.
python3 -c '
for i in range(30):
    print("{\"time\": broken %d" % i)
' >many-bad.jsonl
cat events.jsonl >>many-bad.jsonl
run 1 -p policy.yaml many-bad.jsonl
[ "$(grep -c 'skipped: ' err.txt)" -eq 20 ] || fail "not 20 skip messages: $(cat err.txt)"
grep -q '^watch: ignored 0, skipped 30 (oversize 0), 10 skipped not shown$' err.txt ||
	fail "skips beyond 20: $(cat err.txt)"

# ---- the state store --------------------------------------------------------------

# A store that is not a store: exit 2, nothing judged.
echo 'not a database' >bad.db
chmod 600 bad.db
run 2 -p policy.yaml --state bad.db events.jsonl
[ -s out.txt ] && fail "a bad store still wrote alerts"
run 2 -p policy.yaml --state "$work/no/such/dir/state.db" events.jsonl

# Resume: the first part, then more appended: only the new alerts, and
# erin's reset (first part) still correlates with her access (second).
split=$(grep -n '"subject":"build-8"' events.jsonl | cut -d: -f1)
head -n "$split" events.jsonl >grow.jsonl
run 1 -q -p policy.yaml --inventory inventory.json --state state.db grow.jsonl
alerts out.txt >first.txt
printf 'AG-W01 dan\nAG-W03 hana\nAG-W04 build-7\n' | diff - first.txt >/dev/null || fail "resume, first run: $(cat first.txt)"
run 0 -q -p policy.yaml --inventory inventory.json --state state.db grow.jsonl
[ -s out.txt ] && fail "the same file again repeated alerts: $(cat out.txt)"
tail -n +"$((split + 1))" events.jsonl >>grow.jsonl
run 1 -p policy.yaml --inventory inventory.json --state state.db grow.jsonl
alerts out.txt >second.txt
printf 'AG-W02 erin\nAG-W05 bg-admin\nAG-W06 lee\nAG-W07 deploy-bot\nAG-W08 mia\n' | diff - second.txt >/dev/null ||
	fail "resume, second run: $(cat second.txt)"
# Only the appended records were read.
grep -q "^watch:   generic    $((2448 - split)) records" err.txt || fail "resume re-read the file: $(cat err.txt)"
python3 - "$split" <<'EOF' || fail "resumed evidence lines are wrong"
import json, sys
split = int(sys.argv[1])
lines = open("grow.jsonl", encoding="utf-8").read().split("\n")
for l in open("out.txt", encoding="utf-8"):
    a = json.loads(l)
    for e in a["evidence"]:
        assert json.loads(lines[e["line"] - 1])["time"] == e["time"], (a, e)
    assert a["evidence"][-1]["line"] > split, a
EOF

# The store marks root break-glass: its sshd login is a use (AG-W05), in
# whatever log it appears; a failed attempt and an unmarked account's
# login are not.
"$aalgate" grant break-glass mark --state marks.db root >/dev/null 2>&1 ||
	fail "grant break-glass mark"
cat >bg-auth.log <<'EOF'
Mar  3 14:00:01 db1 sshd[4242]: Accepted publickey for root from 203.0.113.9 port 50122 ssh2: ED25519 SHA256:abc
Mar  3 14:01:02 db1 sshd[4243]: Failed password for root from 203.0.113.9 port 50123 ssh2
Mar  3 14:02:03 db1 sshd[4244]: Accepted publickey for deploy from 203.0.113.9 port 50124 ssh2: ED25519 SHA256:abc
EOF
run 1 -q -p policy.yaml --state marks.db --year 2026 bg-auth.log
[ "$(alerts out.txt)" = "AG-W05 root" ] || fail "break-glass mark: $(cat out.txt)"
grep -q "which the state store marks break-glass, succeeded" out.txt || fail "W05 detail: $(cat out.txt)"
run 0 -q -p policy.yaml --year 2026 bg-auth.log
[ -s out.txt ] && fail "without the store, a marked login alerted: $(cat out.txt)"

# ---- -f across a log rotation, then SIGTERM ---------------------------------------

# wait_alerts N: until out.json holds N lines (10 s at most).
wait_alerts() {
	grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' follow.err && fail "sanitizer report: $(cat follow.err)"
	i=0
	while [ "$(wc -l <follow.json)" -lt "$1" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ "$(wc -l <follow.json)" -eq "$1" ] || fail "-f: $(wc -l <follow.json) alerts, expected $1; stderr: $(cat follow.err)"
}
n1=$(grep -n '"subject":"hugo","kind":"login"' events.jsonl | tail -n 1 | cut -d: -f1)
n2=$(grep -n '"subject":"lou"' events.jsonl | cut -d: -f1)
head -n "$n1" events.jsonl >app.log
: >follow.json
"$aalgate" watch -f -p policy.yaml --inventory inventory.json --state follow.db app.log >>follow.json 2>follow.err &
bg=$!
wait_alerts 2 # dan, hana
sed -n "$((n1 + 1)),${n2}p" events.jsonl >>app.log
mv app.log app.log.1
tail -n +"$((n2 + 1))" events.jsonl >app.log.new
mv app.log.new app.log
wait_alerts 8
kill -TERM "$bg"
wait "$bg"
code=$?
bg=
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' follow.err && fail "sanitizer report: $(cat follow.err)"
[ "$code" -eq 1 ] || fail "-f ended with $code, expected 1; stderr: $(cat follow.err)"
alerts follow.json | diff want.txt - >/dev/null || fail "-f alerts: $(alerts follow.json)"
grep -q '^watch: app.log: replaced; reading it from the start$' follow.err || fail "-f rotation: $(cat follow.err)"
grep -q '^watch: alerts 8: ' follow.err || fail "-f: no summary after SIGTERM: $(cat follow.err)"
python3 - "$n1" "$n2" <<'EOF' || fail "-f evidence is not in the file it names"
import json, sys
n1, n2 = int(sys.argv[1]), int(sys.argv[2])
events = open("events.jsonl", encoding="utf-8").read().split("\n")
for l in open("follow.json", encoding="utf-8"):
    a = json.loads(l)
    for e in a["evidence"]:
        assert e["file"] == "app.log", e
        # The rotated file held the stream's first n2 lines; the new one
        # the rest, counted from 1 again.
        old = e["line"] <= n2 and json.loads(events[e["line"] - 1])["time"] == e["time"]
        new = e["line"] + n2 <= len(events) and events[e["line"] + n2 - 1] and \
            json.loads(events[e["line"] + n2 - 1])["time"] == e["time"]
        assert old or new, (a, e)
EOF
# Restarted on the new file: state saved at SIGTERM, nothing repeated.
run 0 -q -p policy.yaml --inventory inventory.json --state follow.db app.log
[ -s out.txt ] && fail "restart after -f repeated alerts: $(cat out.txt)"

# -f on a file truncated in place (copytruncate): read again from its start.
ndan=$(grep -n '"subject":"dan"' events.jsonl | cut -d: -f1)
head -n "$ndan" events.jsonl >trunc.log
: >follow.json
"$aalgate" watch -f -p policy.yaml trunc.log >>follow.json 2>follow.err &
bg=$!
wait_alerts 1
grep '"subject":"lee"' events.jsonl >lee.jsonl
: >trunc.log
cat lee.jsonl >>trunc.log
wait_alerts 2
kill -INT "$bg"
wait "$bg"
code=$?
bg=
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' follow.err && fail "sanitizer report: $(cat follow.err)"
[ "$code" -eq 1 ] || fail "-f (truncated) ended with $code; stderr: $(cat follow.err)"
printf 'AG-W01 dan\nAG-W06 lee\n' | diff - "$(alerts follow.json >got.txt; echo got.txt)" >/dev/null ||
	fail "-f truncated: $(cat got.txt)"
grep -q '^watch: trunc.log: truncated; reading it from the start$' follow.err || fail "-f truncation: $(cat follow.err)"
python3 -c '
import json
a = [json.loads(l) for l in open("follow.json")]
assert a[1]["evidence"][0]["line"] == 1, a[1]
' || fail "-f truncated: the new content is not counted from line 1"

# ---- the real samples --------------------------------------------------------------

if [ -d "$samples" ]; then
	# sample DIR SOURCE RECORDS EVENTS
	sample() {
		set -- "$@"
		dir=$1 s=$2 recs=$3 evs=$4
		files=$(find "$samples/$dir" -type f ! -name SOURCES.tsv | sort)
		# shellcheck disable=SC2086
		"$aalgate" watch -p policy.yaml $files >out.txt 2>err.txt
		code=$?
		[ "$code" -le 1 ] || fail "sample $dir: exit $code: $(cat err.txt)"
		grep -q "^watch:   $(printf '%-10s' "$s") $recs records, $evs events\$" err.txt ||
			fail "sample $dir: expected $recs records / $evs events of $s: $(cat err.txt)"
		grep -q '^watch: ignored [0-9]*, skipped 0 ' err.txt || fail "sample $dir: skipped records: $(cat err.txt)"
	}
	sample auth-log authlog 9 7
	sample cloudtrail-consolelogin cloudtrail 1 1
	sample okta okta 2 0
else
	echo "watch: $samples is not there; the real samples are not checked"
fi

# ---- --sink -----------------------------------------------------------------------

# Each alert, as its JSON line, goes to the policy's sink too; a sink that
# refuses it ends the run with status 2 before the state is saved, so a
# restart delivers it again.
{
	cat policy.yaml
	printf 'sinks:\n'
	printf '  - { name: soc, type: file, path: %s/sink.jsonl, events: [alert] }\n' "$work"
	printf '  - { name: mail, type: file, path: %s/mail.jsonl, events: [notify] }\n' "$work"
	printf '  - { name: broken, type: exec, command: [/bin/false], timeout: 5s }\n'
} >sinkpol.yaml
run 1 -q -p sinkpol.yaml --inventory inventory.json --sink soc -o /dev/null events.jsonl
alerts sink.jsonl >got.txt
cmp -s want.txt got.txt || fail "--sink soc: alerts $(cat got.txt)"
run 2 -p sinkpol.yaml --sink scc events.jsonl
grep -q "the policy has no sink 'scc'; did you mean 'soc'?" err.txt ||
	fail "--sink scc: $(cat err.txt)"
run 2 -p sinkpol.yaml --sink mail events.jsonl
grep -q "sink 'mail' does not take alerts" err.txt || fail "--sink mail: $(cat err.txt)"
rm -f sink.jsonl
run 2 -q -p sinkpol.yaml --inventory inventory.json --state sink.db --sink broken -o /dev/null events.jsonl
grep -q "sink 'broken' did not take alert 1: /bin/false exited with status 1" err.txt ||
	fail "--sink broken: $(cat err.txt)"
run 1 -q -p sinkpol.yaml --inventory inventory.json --state sink.db --sink soc -o /dev/null events.jsonl
alerts sink.jsonl >got.txt
cmp -s want.txt got.txt || fail "after a failed sink, a restart delivers: $(cat got.txt)"

echo "watch: ok"
