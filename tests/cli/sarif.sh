#!/bin/sh
# sarif.sh AALGATE PROJECT_SOURCE_DIR
# 'aalgate audit --format sarif' on a small two-file estate with findings
# of most kinds.  The log is validated against the SARIF 2.1.0 schema
# (shipped by the npm package @microsoft/jest-sarif, which scripts/setup
# installs under build/npm); without the schema only the required fields
# are checked.  Either way every result must point at the line of the
# path (or, for a finding without a path, the account) it names.
set -u
aalgate=$1 src=$2
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac
schema=$src/build/npm/node_modules/@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json

fail() { echo "FAIL sarif: $*"; exit 1; }
command -v python3 >/dev/null 2>&1 || fail "python3 is needed (scripts/setup installs it)"

work=$(mktemp -d) || exit 2
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 2

cat >policy.yaml <<'EOF'
profile: sp800-63b-4
assume: { mailbox: 1, phone: 1 }
workflows:
  admin: { aal: 3, phishing_resistant: true, device: managed,
           jit: { max: 1h, approvers: "group:admins", approvals: 1 } }
  staff: { aal: 2 }
break_glass: { approvals: 2, max: 4h, alert: true }
EOF

# Blank lines and comments keep the line numbers from being trivial.
cat >estate.yaml <<'EOF'
# accounts and the front door
accounts:
  - { id: alice, kind: human, workflow: admin, groups: [admins], email: "mail:alice", standing: true }

  - { id: bob, kind: human, workflow: staff, groups: [staff] }
  - { id: "mail:alice", kind: mailbox }
paths:
  # strong login for both
  - { id: sso, kind: login, to: [alice, bob], methods: [password, security_key_uv],
      device_check: true, monitored: true }
  - { id: reset, kind: recovery, to: [alice], methods: [email_link] }
  - { id: mail-login, kind: login, to: ["mail:alice"], methods: [password] }

  - { id: sms-login, kind: login, to: ["group:staff"], methods: [password, sms_otp], monitored: true }
  - { id: bg, kind: break_glass, to: [alice], methods: [password] }
EOF

# A second file, with a space in its name so that the URI must be encoded.
cat >"more paths.yaml" <<'EOF'
paths:
  - { id: kba-desk, kind: helpdesk, to: [bob], methods: [kba, password], monitored: true }

  - { id: pop3, kind: legacy, to: [bob], methods: [password], monitored: true }
  - { id: otp-reset, kind: recovery, to: [bob], methods: [sms_otp, password], monitored: true }
EOF

"$aalgate" audit -q -p policy.yaml --format sarif estate.yaml "more paths.yaml" >out.sarif 2>err.txt
code=$?
[ "$code" -eq 1 ] || fail "exit status $code, expected 1 (findings); stderr: $(cat err.txt)"
[ -s err.txt ] && fail "unexpected stderr: $(cat err.txt)"

# The same audit as JSON, to compare the number of findings.
"$aalgate" audit -q -p policy.yaml --format json estate.yaml "more paths.yaml" >out.json 2>/dev/null

python3 - "$schema" <<'EOF' || exit 1
import json, os, re, sys, urllib.parse

schema_file = sys.argv[1]
errors = []
def err(msg):
    errors.append(msg)

with open("out.sarif", encoding="utf-8") as f:
    log = json.load(f)
with open("out.json", encoding="utf-8") as f:
    report = json.load(f)

# 1. The schema, when it is there.
validated = False
if os.path.isfile(schema_file):
    try:
        import jsonschema
    except ImportError:
        print("sarif: python3-jsonschema not available; checking required fields only")
    else:
        with open(schema_file, encoding="utf-8") as f:
            schema = json.load(f)
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        cls.check_schema(schema)
        v = cls(schema)
        for e in sorted(v.iter_errors(log), key=lambda e: list(e.absolute_path)):
            err("schema: %s at /%s" % (e.message, "/".join(map(str, e.absolute_path))))
        # The validator must be able to say no: a wrong version is invalid.
        bad = json.loads(json.dumps(log))
        bad["version"] = "2.0.0"
        if v.is_valid(bad):
            err("schema validator accepted version 2.0.0; the check is not working")
        validated = True
        print("sarif: validated against %s (%s)" % (os.path.basename(schema_file), cls.__name__))
else:
    print("sarif: the SARIF schema was not available (%s); checking required fields only" % schema_file)

# 2. Required fields, checked whether or not the schema was.
if log.get("version") != "2.1.0":
    err("version is %r, expected '2.1.0'" % log.get("version"))
runs = log.get("runs")
if not isinstance(runs, list) or len(runs) != 1:
    err("expected exactly one run, got %r" % (runs if not isinstance(runs, list) else len(runs)))
    runs = [{}]
run = runs[0]
driver = run.get("tool", {}).get("driver", {})
if driver.get("name") != "aalgate":
    err("runs[0].tool.driver.name is %r" % driver.get("name"))
rules = driver.get("rules", [])
rule_ids = [r.get("id") for r in rules]
want_ids = ["AG-P%02d" % i for i in range(1, 14)] + ["AG-N02", "AG-N06"]
if rule_ids != want_ids:
    err("rule ids are %r, expected %r" % (rule_ids, want_ids))
for r in rules:
    if not r.get("shortDescription", {}).get("text"):
        err("rule %s has no shortDescription.text" % r.get("id"))
artifacts = [a.get("location", {}).get("uri") for a in run.get("artifacts", [])]
if artifacts != ["estate.yaml", "more%20paths.yaml"]:
    err("artifact URIs are %r, expected ['estate.yaml', 'more%%20paths.yaml']" % artifacts)

# Where each account and path is written, from the estate text itself.
def entries(fname):
    acc, pth = {}, {}
    section = None
    with open(fname, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = re.match(r"^(accounts|paths):", line)
            if m:
                section = m.group(1)
                continue
            m = re.match(r'^\s*-\s*\{\s*id:\s*"?([^",]+)"?\s*,', line)
            if m:
                (acc if section == "accounts" else pth)[m.group(1)] = n
    return acc, pth
where = {}
for fname in ("estate.yaml", "more paths.yaml"):
    acc, pth = entries(fname)
    for k, n in acc.items():
        where[("account", k)] = (fname, n)
    for k, n in pth.items():
        where[("path", k)] = (fname, n)

levels = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
results = run.get("results", [])
if len(results) != len(report.get("findings", [])):
    err("%d SARIF results but %d JSON findings" % (len(results), len(report.get("findings", []))))
seen = set()
for i, res in enumerate(results):
    tag = "results[%d]" % i
    rid = res.get("ruleId")
    if rid not in want_ids:
        err("%s: ruleId %r is not a rule" % (tag, rid))
        continue
    idx = res.get("ruleIndex")
    if idx is not None and (not isinstance(idx, int) or idx >= len(rules) or rules[idx].get("id") != rid):
        err("%s: ruleIndex %r does not name rule %s" % (tag, idx, rid))
    if not res.get("message", {}).get("text"):
        err("%s: no message.text" % tag)
    props = res.get("properties", {})
    sev = props.get("severity")
    if res.get("level") != levels.get(sev):
        err("%s (%s, %s): level %r for severity %r" % (tag, rid, props.get("path"), res.get("level"), sev))
    locs = res.get("locations") or []
    if len(locs) != 1:
        err("%s (%s): %d locations, expected 1" % (tag, rid, len(locs)))
        continue
    pl = locs[0].get("physicalLocation", {})
    uri = pl.get("artifactLocation", {}).get("uri")
    aidx = pl.get("artifactLocation", {}).get("index")
    line = pl.get("region", {}).get("startLine")
    if uri is None or not isinstance(line, int):
        err("%s (%s): no artifactLocation.uri or region.startLine" % (tag, rid))
        continue
    if aidx is not None and (aidx >= len(artifacts) or artifacts[aidx] != uri):
        err("%s: artifactLocation.index %r does not match uri %r" % (tag, aidx, uri))
    # The finding's own place: its path's line, or its account's line when
    # it has no path (AG-P11).
    if props.get("path") is not None:
        key = ("path", props["path"])
    else:
        key = ("account", props.get("account"))
    if key not in where:
        err("%s (%s): names %s %r, which is not in the estate" % (tag, rid, key[0], key[1]))
        continue
    wfile, wline = where[key]
    got = (urllib.parse.unquote(uri), line)
    if got != (wfile, wline):
        err("%s (%s, %s %s): located at %s:%d, but it is written at %s:%d"
            % (tag, rid, key[0], key[1], got[0], got[1], wfile, wline))
    seen.add((rid, props.get("account"), props.get("path")))

# A few findings this estate must give, so that the loop above has
# something to check in each file and for each kind of location.
for want in [("AG-P01", "alice", "reset"), ("AG-P02", "bob", "kba-desk"),
             ("AG-P03", None, "pop3"), ("AG-P09", None, "otp-reset"),
             ("AG-P10", None, "kba-desk"), ("AG-P11", "alice", None),
             ("AG-P12", "alice", "bg"), ("AG-P13", "bob", "sms-login")]:
    if want not in seen:
        err("no result %s for account %r, path %r" % want)

if errors:
    for e in errors[:40]:
        print("FAIL sarif: " + e)
    if len(errors) > 40:
        print("FAIL sarif: ... and %d more" % (len(errors) - 40))
    sys.exit(1)
print("ok sarif: %d results, %d rules%s" % (len(results), len(rules),
      ", schema-valid" if validated else ""))
EOF
