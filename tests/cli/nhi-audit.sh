#!/bin/sh
# nhi-audit.sh AALGATE PROJECT_SOURCE_DIR
# 'aalgate nhi audit' on the hand-checked inventories of tests/data/nhi
# (see its README.md): the text report word for word, the JSON report's
# values, the SARIF log (against the 2.1.0 schema when scripts/setup has
# installed it) located at each record's file:line:col, --fail-on and the
# exit statuses 0/1/2, bad inventories named by file:line:col, a Keycloak
# export with and without --mapping, an AWS root key, and --help.
set -u
aalgate=$1 src=$2
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac
data=$src/tests/data/nhi
schema=$src/build/npm/node_modules/@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json

fail() { echo "FAIL nhi-audit: $*"; exit 1; }
command -v python3 >/dev/null 2>&1 || fail "python3 is needed (scripts/setup installs it)"

work=$(mktemp -d) || exit 2
trap 'rm -rf "$work"' EXIT
cp "$data/policy.yaml" "$data/inventory.csv" "$data/inventory.json" "$work/" || exit 2
cd "$work" || exit 2

# run EXPECTED-STATUS ARGS...: runs 'aalgate nhi ARGS', output in out.txt
# and err.txt; the status must be as expected.
run() {
	want=$1
	shift
	"$aalgate" nhi "$@" >out.txt 2>err.txt
	code=$?
	if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' err.txt; then
		cat err.txt
		fail "sanitizer report for: nhi $*"
	fi
	[ "$code" -eq "$want" ] ||
		fail "nhi $*: exit $code, expected $want; stderr: $(cat err.txt)"
}

# ---- help -------------------------------------------------------------------

"$aalgate" --help >out.txt 2>&1 || fail "aalgate --help failed"
grep -q '^  nhi  ' out.txt || fail "aalgate --help does not list nhi: $(cat out.txt)"
run 0 --help
grep -q '^  audit ' out.txt || fail "nhi --help does not list audit: $(cat out.txt)"
run 0 audit --help
grep -q '^usage: aalgate nhi audit -p POLICY' out.txt || fail "nhi audit --help: $(cat out.txt)"
grep -q -- '--fail-on SEV' out.txt || fail "nhi audit --help lacks --fail-on"
run 2
grep -q '^usage: aalgate nhi COMMAND' err.txt || fail "bare 'nhi' gives no usage"
run 2 audti
[ "$(head -n 1 err.txt)" = "aalgate nhi: unknown command 'audti'; did you mean 'audit'?" ] ||
	fail "unknown subcommand: $(cat err.txt)"

# ---- text, word for word -------------------------------------------------------

run 1 audit -q -p policy.yaml --as-of 2026-06-30 inventory.csv
[ -s err.txt ] && fail "unexpected stderr: $(cat err.txt)"
cat >want.txt <<'EOF'
5 machine identities, 4 active, as of 2026-06-30; 9 findings (3 high, 6 medium)

HIGH AG-N07 cross-environment: 'billing-api' (api_key): used in production (prod) and elsewhere (staging)
  fix: issue one credential per environment, so that production's is used nowhere else
  at inventory.csv:3:1

HIGH AG-N01 orphaned: 'legacy-export' (client_secret): owner 'carol' is offboarded
  fix: give it an active owner (owner, and the owners list), or disable it and delete it
  at inventory.csv:4:1

HIGH AG-N09 human-use: 'ops-console' (password): used interactively, last on 2026-06-20
  fix: stop interactive use: people sign in as themselves; remove the identity's console or password access
  at inventory.csv:5:1

MEDIUM AG-N02 stale: 'billing-api' (api_key): last used 2026-03-31, 91 days ago; nhi.stale is 90d
  fix: disable it, and delete it when nothing breaks; if it is still needed, find its user and record the use
  at inventory.csv:3:1

MEDIUM AG-N04 overprivileged: 'billing-api' (api_key): 1 granted scope never used: charges:write
  fix: remove the scopes it does not use
  at inventory.csv:3:1

MEDIUM AG-N02 stale: 'legacy-export' (client_secret): never used since its creation on 2025-01-01, 545 days ago; nhi.stale is 90d
  fix: disable it, and delete it when nothing breaks; if it is still needed, find its user and record the use
  at inventory.csv:4:1

MEDIUM AG-N05 long-lived: 'legacy-export' (client_secret): no expiry; created 2025-01-01, 545 days ago; nhi.max_lifetime is 365d
  fix: give it an expiry within nhi.max_lifetime, or replace it with a workload identity whose tokens are short-lived
  at inventory.csv:4:1

MEDIUM AG-N06 unrotated: 'legacy-export' (client_secret): never rotated since its creation on 2025-01-01, 545 days ago; nhi.rotate is 90d
  fix: rotate it, and then within nhi.rotate, or replace it with a workload identity
  at inventory.csv:4:1

MEDIUM AG-N08 reused: 'legacy-export' (client_secret): used by 2 services: reports, exports
  fix: issue one credential per service, so that each can be rotated and revoked alone
  at inventory.csv:4:1

visibility: 50.0% (2 of 4 active identities have a known owner, purpose, rotation and last use)
  team      total  owner  purpose  rotation  last use  full   score
  data          1      0        0         0         1     0    0.0%
  ops           1      1        1         0         1     0    0.0%
  payments      1      1        1         1         1     1  100.0%
  platform      1      1        1         1         1     1  100.0%
EOF
diff want.txt out.txt >diff.txt || fail "text report differs:
$(cat diff.txt)"

# The same inputs give the same report; -o writes it to a file instead.
run 1 audit -q -p policy.yaml --as-of 2026-06-30 -o report.txt inventory.csv
[ -s out.txt ] && fail "-o: the report also went to stdout"
cmp -s want.txt report.txt || fail "-o report.txt differs from the text report"

# ---- --fail-on and the exit statuses -------------------------------------------

run 0 audit -q -p policy.yaml --as-of 2026-06-30 --fail-on critical inventory.csv
run 0 audit -q -p policy.yaml --as-of 2026-06-30 --fail-on none inventory.csv
run 1 audit -q -p policy.yaml --as-of 2026-06-30 --fail-on medium inventory.csv
run 1 audit -q -p policy.yaml --as-of 2026-06-30 --fail-on info inventory.csv
# Only the clean records (line 2: a workload identity used yesterday; line
# 6: retired): no finding at all, whatever --fail-on.
sed -n '1,2p;6p' inventory.csv >clean.csv
run 0 audit -q -p policy.yaml --as-of 2026-06-30 --fail-on info clean.csv
grep -q '^2 machine identities, 1 active, as of 2026-06-30; 0 findings$' out.txt ||
	fail "clean inventory: $(head -n 1 out.txt)"
grep -q '^visibility: 100.0% (1 of 1 active identity has a known owner' out.txt ||
	fail "clean inventory: $(grep visibility out.txt)"
# On 2026-09-28 deploy-bot's last use (2026-06-29) is 91 days old: stale.
run 1 audit -q -p policy.yaml --as-of 2026-09-28 --fail-on medium clean.csv
grep -q "^MEDIUM AG-N02 stale: 'deploy-bot' (workload_identity): last used 2026-06-29, 91 days ago; nhi.stale is 90d$" out.txt ||
	fail "as-of 2026-09-28: $(cat out.txt)"
run 0 audit -q -p policy.yaml --as-of 2026-09-27 --fail-on medium clean.csv

# ---- JSON, both inventories --------------------------------------------------------

run 1 audit -q -p policy.yaml --as-of 2026-06-30 -f json inventory.csv inventory.json
cp out.txt out.json
python3 - <<'EOF' || exit 1
import json, sys

errors = []
def err(msg):
    errors.append(msg)
def eq(what, got, want):
    if got != want:
        err("%s: %r, expected %r" % (what, got, want))

with open("out.json", encoding="utf-8") as f:
    d = json.load(f)

eq("tool", d.get("tool"), "aalgate")
eq("policy", d.get("policy"), "policy.yaml")
eq("as_of", d.get("as_of"), "2026-06-30T00:00:00Z")
eq("inventories", d.get("inventories"), ["inventory.csv", "inventory.json"])
eq("counts", d.get("counts"), {
    "identities": 8, "active": 7, "findings": 15,
    "by_severity": {"critical": 0, "high": 6, "medium": 9, "low": 0, "info": 0}})

vis = d.get("visibility", {})
eq("visibility.overall", vis.get("overall"), {
    "total": 7, "owner": 4, "purpose": 4, "rotation": 3, "last_use": 6,
    "full": 3, "percent": 42.9})
def team(name, total, owner, purpose, rotation, last_use, full, pct):
    return {"team": name, "total": total, "owner": owner, "purpose": purpose,
            "rotation": rotation, "last_use": last_use, "full": full,
            "percent": pct}
eq("visibility.teams", vis.get("teams"), [
    team(None, 1, 0, 0, 0, 0, 0, 0.0),         # ghost: zed is nobody's
    team("data", 1, 0, 0, 0, 1, 0, 0.0),       # legacy-export
    team("ml", 2, 1, 1, 1, 2, 1, 50.0),        # trainer, scraper
    team("ops", 1, 1, 1, 0, 1, 0, 0.0),        # ops-console
    team("payments", 1, 1, 1, 1, 1, 1, 100.0), # billing-api
    team("platform", 1, 1, 1, 1, 1, 1, 100.0), # deploy-bot
])

# (rule, identity, severity, file, line, col, days, owner, team), in
# report order: worst first, then record order, then rule.
want = [
    ("AG-N07", "billing-api", "high", "inventory.csv", 3, 1, None, "bob", "payments"),
    ("AG-N01", "legacy-export", "high", "inventory.csv", 4, 1, None, "carol", "data"),
    ("AG-N09", "ops-console", "high", "inventory.csv", 5, 1, None, "dave", "ops"),
    ("AG-N01", "scraper", "high", "inventory.json", 13, 5, None, "frank", "ml"),
    ("AG-N03", "scraper", "high", "inventory.json", 13, 5, None, "frank", "ml"),
    ("AG-N01", "ghost", "high", "inventory.json", 16, 5, None, "zed", None),
    ("AG-N02", "billing-api", "medium", "inventory.csv", 3, 1, 91, "bob", "payments"),
    ("AG-N04", "billing-api", "medium", "inventory.csv", 3, 1, None, "bob", "payments"),
    ("AG-N02", "legacy-export", "medium", "inventory.csv", 4, 1, 545, "carol", "data"),
    ("AG-N05", "legacy-export", "medium", "inventory.csv", 4, 1, 545, "carol", "data"),
    ("AG-N06", "legacy-export", "medium", "inventory.csv", 4, 1, 545, "carol", "data"),
    ("AG-N08", "legacy-export", "medium", "inventory.csv", 4, 1, None, "carol", "data"),
    ("AG-N05", "trainer", "medium", "inventory.json", 10, 5, 366, "erin", "ml"),
    ("AG-N06", "trainer", "medium", "inventory.json", 10, 5, 91, "erin", "ml"),
    ("AG-N05", "ghost", "medium", "inventory.json", 16, 5, 0, "zed", None),
]
names = {"AG-N01": ("orphaned", "NHI1:2025"), "AG-N02": ("stale", "NHI1:2025"),
         "AG-N03": ("weak-auth", "NHI4:2025"), "AG-N04": ("overprivileged", "NHI5:2025"),
         "AG-N05": ("long-lived", "NHI7:2025"), "AG-N06": ("unrotated", "NHI7:2025"),
         "AG-N07": ("cross-environment", "NHI8:2025"), "AG-N08": ("reused", "NHI9:2025"),
         "AG-N09": ("human-use", "NHI10:2025")}
kinds = {"billing-api": "api_key", "legacy-export": "client_secret",
         "ops-console": "password", "scraper": "api_key", "ghost": "client_secret",
         "trainer": "mtls"}
got = d.get("findings", [])
eq("number of findings", len(got), len(want))
for i, (w, f) in enumerate(zip(want, got)):
    g = (f.get("id"), f.get("identity"), f.get("severity"), f.get("file"),
         f.get("line"), f.get("col"), f.get("days"), f.get("owner"), f.get("team"))
    eq("findings[%d]" % i, g, w)
    eq("findings[%d].name, owasp" % i, (f.get("name"), f.get("owasp")), names.get(w[0]))
    eq("findings[%d].kind" % i, f.get("kind"), kinds.get(w[1]))
    eq("findings[%d].issuer" % i, f.get("issuer"),
       "https://idp.example" if w[1] == "scraper" else None)
    if not f.get("message", "").startswith("'%s'" % w[1]):
        err("findings[%d].message: %r" % (i, f.get("message")))
eq("findings[3].message", got[3].get("message") if len(got) > 3 else None,
   "'scraper' of https://idp.example (api_key): owner 'frank' is offboarded")
eq("findings[12].message", got[12].get("message") if len(got) > 12 else None,
   "'trainer' (mtls): expires 2027-04-01, 366 days after it was last rotated "
   "on 2026-03-31; nhi.max_lifetime is 365d")

if errors:
    for e in errors:
        print("FAIL nhi-audit json: " + e)
    sys.exit(1)
EOF

# ---- SARIF ---------------------------------------------------------------------------

run 1 audit -q -p policy.yaml --as-of 2026-06-30 -f sarif inventory.csv inventory.json
cp out.txt out.sarif
python3 - "$schema" <<'EOF' || exit 1
import json, os, sys

errors = []
def err(msg):
    errors.append(msg)

with open("out.sarif", encoding="utf-8") as f:
    log = json.load(f)
with open("out.json", encoding="utf-8") as f:
    report = json.load(f)

schema_file = sys.argv[1]
if os.path.isfile(schema_file):
    try:
        import jsonschema
    except ImportError:
        print("nhi-audit: python3-jsonschema not available; checking fields only")
    else:
        with open(schema_file, encoding="utf-8") as f:
            schema = json.load(f)
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        v = cls(schema)
        for e in v.iter_errors(log):
            err("schema: %s at /%s" % (e.message, "/".join(map(str, e.absolute_path))))
        bad = json.loads(json.dumps(log))
        bad["version"] = "2.0.0"
        if v.is_valid(bad):
            err("schema validator accepted version 2.0.0; the check is not working")
else:
    print("nhi-audit: the SARIF schema was not available; checking fields only")

if log.get("version") != "2.1.0":
    err("version %r" % log.get("version"))
run = log["runs"][0]
rules = run["tool"]["driver"]["rules"]
want_ids = ["AG-N%02d" % i for i in range(1, 10)]
if [r["id"] for r in rules] != want_ids:
    err("rule ids %r" % [r["id"] for r in rules])
refs = {"AG-N01": "OWASP NHI1:2025", "AG-N03": "OWASP NHI4:2025",
        "AG-N09": "OWASP NHI10:2025"}
for r in rules:
    if r["id"] in refs and refs[r["id"]] not in r["properties"]["tags"]:
        err("rule %s tags %r lack %s" % (r["id"], r["properties"]["tags"], refs[r["id"]]))
    if not r.get("help", {}).get("text"):
        err("rule %s has no help text (the fix)" % r["id"])
levels = {"AG-N01": "error", "AG-N02": "warning", "AG-N03": "error", "AG-N04": "warning",
          "AG-N05": "warning", "AG-N06": "warning", "AG-N07": "error", "AG-N08": "warning",
          "AG-N09": "error"}
for r in rules:
    if r["defaultConfiguration"]["level"] != levels[r["id"]]:
        err("rule %s level %r" % (r["id"], r["defaultConfiguration"]["level"]))
artifacts = [a["location"]["uri"] for a in run["artifacts"]]
if artifacts != ["inventory.csv", "inventory.json"]:
    err("artifacts %r" % artifacts)

results = run["results"]
findings = report["findings"]
if len(results) != len(findings):
    err("%d results, %d JSON findings" % (len(results), len(findings)))
sev_level = {"critical": "error", "high": "error", "medium": "warning"}
for i, (res, f) in enumerate(zip(results, findings)):
    tag = "results[%d]" % i
    if res["ruleId"] != f["id"]:
        err("%s: ruleId %r, JSON %r" % (tag, res["ruleId"], f["id"]))
    if rules[res["ruleIndex"]]["id"] != res["ruleId"]:
        err("%s: ruleIndex %r" % (tag, res["ruleIndex"]))
    if res["level"] != sev_level[f["severity"]]:
        err("%s: level %r for %s" % (tag, res["level"], f["severity"]))
    if res["message"]["text"] != f["message"]:
        err("%s: message %r" % (tag, res["message"]["text"]))
    pl = res["locations"][0]["physicalLocation"]
    got = (pl["artifactLocation"]["uri"], pl["artifactLocation"]["index"],
           pl["region"]["startLine"], pl["region"]["startColumn"])
    want = (f["file"], artifacts.index(f["file"]), f["line"], f["col"])
    if got != want:
        err("%s: located at %r, expected %r" % (tag, got, want))
    if res["properties"]["identity"] != f["identity"]:
        err("%s: identity %r" % (tag, res["properties"]["identity"]))
fp = [r["partialFingerprints"]["aalgateFinding/v1"] for r in results]
if "AG-N01:https://idp.example scraper" not in fp or "AG-N07:billing-api" not in fp:
    err("fingerprints %r" % fp)
if len(set(fp)) != len(fp):
    err("fingerprints are not unique: %r" % fp)

if errors:
    for e in errors:
        print("FAIL nhi-audit sarif: " + e)
    sys.exit(1)
EOF

# ---- bad input: exit 2, named by file:line:col ------------------------------------------

printf 'id,kind,owner\nk1,api_key,a\nk2,api_kye,b\n' >bad.csv
run 2 audit -q -p policy.yaml bad.csv
grep -q "^aalgate nhi audit: bad\.csv:3:4: .*unknown kind 'api_kye'.*did you mean 'api_key'?$" err.txt ||
	fail "bad.csv: $(cat err.txt)"
[ -s out.txt ] && fail "bad.csv: a report was written"
printf '{"identities": [\n  {"id": "k1", "kind": "api_key",\n   "ownr": "x"}]}\n' >bad.json
run 2 audit -q -p policy.yaml bad.json
grep -q "^aalgate nhi audit: bad\.json:3:4: .*'ownr'.*did you mean 'owner'?$" err.txt ||
	fail "bad.json: $(cat err.txt)"
printf 'id,kind,created\nk1,api_key,2026-13-01\n' >bad-date.csv
run 2 audit -q -p policy.yaml bad-date.csv
grep -q "^aalgate nhi audit: bad-date\.csv:2:12: .*2026-13-01" err.txt ||
	fail "bad-date.csv: $(cat err.txt)"
# A good file, then a bad one: no report at all, not half of one.
run 2 audit -q -p policy.yaml -o partial.txt inventory.csv bad.csv
[ -e partial.txt ] && fail "-o file written for a bad inventory"
run 2 audit -q -p policy.yaml missing.csv
grep -q 'missing\.csv' err.txt || fail "missing file: $(cat err.txt)"
run 2 audit -q inventory.csv
grep -q 'a policy is required' err.txt || fail "no policy: $(cat err.txt)"
run 2 audit -q -p policy.yaml
grep -q 'no inventory given' err.txt || fail "no inventory: $(cat err.txt)"
run 2 audit -q -p policy.yaml -f yaml inventory.csv
grep -q "unknown format 'yaml'" err.txt || fail "bad format: $(cat err.txt)"
run 2 audit -q -p policy.yaml --fail-on hihg inventory.csv
grep -q "bad --fail-on 'hihg'" err.txt || fail "bad --fail-on: $(cat err.txt)"
run 2 audit -q -p policy.yaml --as-of yesterday inventory.csv
grep -q "bad --as-of 'yesterday'" err.txt || fail "bad --as-of: $(cat err.txt)"
run 2 audit -q -p policy.yaml --bogus inventory.csv
grep -q "unknown option '--bogus'" err.txt || fail "unknown option: $(cat err.txt)"
run 2 audit -q -p policy.yaml inventory.csv ./inventory.csv
grep -q 'is given twice' err.txt || fail "twice: $(cat err.txt)"

# ---- estates: a Keycloak export with and without --mapping; an AWS root key -----------------

kc=$src/tests/data/keycloak/07-service-accounts
# backup is a client-secret client; only the mapping holds it to the
# 'machine' workflow, which takes only workload_identity and mtls.
run 1 audit -q -p "$src/tests/data/keycloak/policy.yaml" --as-of 2025-06-01 \
	-f json --keycloak "$kc/realm.json"
grep -q '"id": "AG-N03"' out.txt && fail "AG-N03 without the mapping"
grep -q '"id": "AG-N06", "name": "unrotated", "owasp": "NHI7:2025", "severity": "medium", "identity": "backup"' out.txt ||
	fail "keycloak: backup is not unrotated: $(cat out.txt)"
run 1 audit -q -p "$src/tests/data/keycloak/policy.yaml" --as-of 2025-06-01 \
	-f json --mapping "$kc/mapping.yaml" --keycloak "$kc/realm.json"
grep -q '"id": "AG-N03", "name": "weak-auth", "owasp": "NHI4:2025", "severity": "high", "identity": "backup", "issuer": null, "kind": "client_secret"' out.txt ||
	fail "keycloak with mapping: no AG-N03 on backup: $(cat out.txt)"
# The same export given as a plain file is recognised, mapping and all.
run 1 audit -q -p "$src/tests/data/keycloak/policy.yaml" --as-of 2025-06-01 \
	-f json --mapping "$kc/mapping.yaml" "$kc/realm.json"
grep -q '"id": "AG-N03", "name": "weak-auth"' out.txt ||
	fail "keycloak as a plain file with mapping: no AG-N03: $(cat out.txt)"

aws=$src/tests/data/aws/01-root-keys
# The root user's active access key: every finding critical, so even
# --fail-on critical fails.
run 1 audit -q -p "$src/tests/data/aws/policy.yaml" --as-of 2025-06-30 \
	--fail-on critical --aws-credential-report "$aws/report.csv"
grep -q "^CRITICAL AG-N01 orphaned: 'aws:111122223333:<root_account>/access-key-1' (api_key, root account): no owner is recorded$" out.txt ||
	fail "aws root: $(cat out.txt)"

echo "nhi-audit: ok"
