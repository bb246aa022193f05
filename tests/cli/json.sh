#!/bin/sh
# json.sh AALGATE PROJECT_SOURCE_DIR
# 'aalgate audit --format json': the fields docs/audit.md requires, with
# values for a small estate, a summary that agrees with the arrays, and
# findings worst first, each located at the line its path is written on.
set -u
aalgate=$1
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac

fail() { echo "FAIL json: $*"; exit 1; }
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

cat >estate.yaml <<'EOF'
# people and their front doors
accounts:
  - { id: alice, kind: human, workflow: admin, groups: [admins], email: "mail:alice", standing: true }

  - { id: bob, kind: human, workflow: staff, groups: [staff] }
  - { id: "mail:alice", kind: mailbox }
paths:
  - { id: sso, kind: login, to: [alice, bob], methods: [password, security_key_uv],
      device_check: true, monitored: true }
  - { id: reset, kind: recovery, to: [alice], methods: [email_link] }
  - { id: mail-login, kind: login, to: ["mail:alice"], methods: [password] }

  - { id: sms-login, kind: login, to: ["group:staff"], methods: [password, sms_otp], monitored: true }
  - { id: bg, kind: break_glass, to: [alice], methods: [password] }
  - { id: dora-key, kind: login, to: [dora], methods: [security_key_uv], device_check: true, monitored: true }
EOF

cat >others.yaml <<'EOF'
accounts:
  # no path reaches carol
  - { id: carol, kind: human, workflow: staff }
  - { id: dora, kind: human, workflow: admin, email: "mail:dora" }
  - { id: erin, kind: human, workflow: staff, email: "mail:erin" }
paths:
  - { id: erin-login, kind: login, to: [erin], methods: [passkey_synced], monitored: true }
  - { id: erin-reset, kind: recovery, to: [erin], methods: [email_otp], lifetime: 1h, monitored: true }
  - { id: kba-desk, kind: helpdesk, to: [bob], methods: [kba, password], monitored: true }
  - { id: pop3, kind: legacy, to: [bob], methods: [password], monitored: true }
EOF

"$aalgate" audit -q -p policy.yaml --format json estate.yaml others.yaml >out.json 2>err.txt
code=$?
[ "$code" -eq 1 ] || fail "exit status $code, expected 1 (findings); stderr: $(cat err.txt)"
[ -s err.txt ] && fail "unexpected stderr: $(cat err.txt)"

python3 - <<'EOF' || exit 1
import json, re, sys

errors = []
def err(msg):
    errors.append(msg)

try:
    with open("out.json", encoding="utf-8") as f:
        d = json.load(f)
except ValueError as e:
    print("FAIL json: the report is not JSON: %s" % e)
    sys.exit(1)

files = ["estate.yaml", "others.yaml"]
# Where each account and path is written.
where, n_paths = {}, 0
for fname in files:
    section = None
    with open(fname, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = re.match(r"^(accounts|paths):", line)
            if m:
                section = m.group(1)
                continue
            m = re.match(r'^\s*-\s*\{\s*id:\s*"?([^",]+)"?\s*,', line)
            if m:
                where[(section, m.group(1))] = (fname, n)
                n_paths += section == "paths"

def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)

accounts = d.get("accounts")
findings = d.get("findings")
summary = d.get("summary")
if not isinstance(accounts, list) or not isinstance(findings, list) or not isinstance(summary, dict):
    print("FAIL json: accounts[], findings[] and summary are required; keys are %s" % sorted(d))
    sys.exit(1)
if d.get("estates") != files:
    err("estates is %r, expected %r" % (d.get("estates"), files))

# --- accounts[] ---------------------------------------------------------
by_id = {}
for i, a in enumerate(accounts):
    tag = "accounts[%d] (%s)" % (i, a.get("id"))
    if not isinstance(a.get("id"), str):
        err("%s: id is not a string" % tag)
        continue
    if a["id"] in by_id:
        err("%s: id appears twice" % tag)
    by_id[a["id"]] = a
    if "workflow" not in a or not (a["workflow"] is None or isinstance(a["workflow"], str)):
        err("%s: workflow missing or not a string/null" % tag)
    req = (a.get("required") or {})
    if "aal" not in req or not (req["aal"] is None or is_int(req["aal"])):
        err("%s: required.aal missing or not an integer/null" % tag)
    eff = a.get("effective") or {}
    if not is_int(eff.get("aal")) or not 0 <= eff["aal"] <= 3:
        err("%s: effective.aal %r is not 0..3" % (tag, eff.get("aal")))
    if not isinstance(eff.get("phishing_resistant"), bool):
        err("%s: effective.phishing_resistant is not a boolean" % tag)
    nom = a.get("nominal") or {}
    if not is_int(nom.get("aal")) or not 0 <= nom["aal"] <= 3:
        err("%s: nominal.aal %r is not 0..3" % (tag, nom.get("aal")))
    wit = a.get("witness")
    if not isinstance(wit, list):
        err("%s: witness is not an array" % tag)
        continue
    if not wit:
        err("%s: witness is empty" % tag)
        continue
    if wit[0].get("account") != a["id"]:
        err("%s: witness starts at %r" % (tag, wit[0].get("account")))
    if wit[0].get("aal") != eff.get("aal"):
        err("%s: witness[0].aal %r differs from effective.aal %r" % (tag, wit[0].get("aal"), eff.get("aal")))
    for s in wit:
        if s.get("path") is not None and ("paths", s["path"]) not in where:
            err("%s: witness names path %r, which is not in the estate" % (tag, s["path"]))

# Every account described or referenced is listed; anything else may only
# be a stand-in for a missing email/phone attribute.
want = {
    # id: (workflow, required, effective, phishing resistant, nominal)
    "alice": ("admin", 3, 1, False, 1),
    "bob": ("staff", 2, 1, False, 1),
    "mail:alice": (None, None, 1, False, 1),
    "carol": ("staff", 2, 3, None, None),      # unreachable: counts as AAL3
    "dora": ("admin", 3, 3, True, 3),
    "erin": ("staff", 2, 1, False, 1),
    "mail:dora": (None, None, 1, False, None),  # assume.mailbox
    "mail:erin": (None, None, 1, False, None),
}
for id_, (wf, req, eff, pr, nom) in want.items():
    a = by_id.get(id_)
    if a is None:
        err("account %r is missing from accounts[]" % id_)
        continue
    got = (a.get("workflow"), a.get("required", {}).get("aal"), a.get("effective", {}).get("aal"),
           a.get("effective", {}).get("phishing_resistant") if pr is not None else None,
           a.get("nominal", {}).get("aal") if nom is not None else None)
    if got != (wf, req, eff, pr, nom):
        err("account %r: (workflow, required, effective, pr, nominal) is %r, expected %r"
            % (id_, got, (wf, req, eff, pr, nom)))
for id_ in by_id:
    if id_ not in want and not id_.startswith("(undescribed"):
        err("accounts[] lists %r, which the estate neither describes nor references" % id_)

# --- findings[] -----------------------------------------------------------
rank = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}
fixed = {"AG-P02": "high", "AG-P03": "high", "AG-P04": "high", "AG-P05": "medium",
         "AG-P06": "low", "AG-P07": "medium", "AG-P08": "medium", "AG-P09": "low",
         "AG-P10": "high", "AG-P11": "high", "AG-P12": "high", "AG-P13": "info"}
ids, prev, seen = set(), None, set()
for i, f in enumerate(findings):
    tag = "findings[%d] (%s)" % (i, f.get("id"))
    for k in ("id", "rule", "severity", "account", "path", "message", "refs", "location"):
        if k not in f:
            err("%s: no %r" % (tag, k))
    rule, sev = f.get("rule"), f.get("severity")
    if not isinstance(rule, str) or not re.fullmatch(r"AG-P(0[1-9]|1[0-3])", rule):
        err("%s: rule %r is not AG-P01..AG-P13" % (tag, rule))
        continue
    if sev not in rank:
        err("%s: severity %r" % (tag, sev))
        continue
    if rule == "AG-P01":
        if sev not in ("critical", "high"):
            err("%s: AG-P01 is %s, expected critical or high" % (tag, sev))
    elif fixed[rule] != sev:
        err("%s: %s is %s, expected %s" % (tag, rule, sev, fixed[rule]))
    if f.get("id") in ids:
        err("%s: id appears twice" % tag)
    ids.add(f.get("id"))
    if not isinstance(f.get("message"), str) or not f["message"]:
        err("%s: empty message" % tag)
    refs = f.get("refs")
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        err("%s: refs is not an array of strings" % tag)
    elif rule != "AG-P13" and not refs:
        err("%s: refs is empty" % tag)
    acc, pth = f.get("account"), f.get("path")
    # P09/P10 are about a path alone, and P03..P06 are reported once per
    # path with the accounts they affect; P11 is about an account alone.
    if rule in ("AG-P03", "AG-P04", "AG-P05", "AG-P06"):
        if acc is not None or pth is None:
            err("%s: expected account null and a path, got %r/%r" % (tag, acc, pth))
        affected = f.get("accounts")
        if not isinstance(affected, list) or not affected:
            err("%s: a per-path finding needs a non-empty accounts[]" % tag)
        elif any(a not in by_id for a in affected):
            err("%s: accounts[] names an account not in accounts[]" % tag)
        else:
            for a in affected:
                seen.add((rule, a, pth))
    elif rule in ("AG-P09", "AG-P10"):
        if acc is not None or pth is None:
            err("%s: expected account null and a path, got %r/%r" % (tag, acc, pth))
    elif rule == "AG-P11":
        if acc is None or pth is not None:
            err("%s: expected an account and path null, got %r/%r" % (tag, acc, pth))
    elif acc is None or pth is None:
        err("%s: expected an account and a path, got %r/%r" % (tag, acc, pth))
    if acc is not None and acc not in by_id:
        err("%s: account %r is not in accounts[]" % (tag, acc))
    key = ("paths", pth) if pth is not None else ("accounts", acc)
    loc = f.get("location") or {}
    if key not in where:
        err("%s: names %r, which is not in the estate" % (tag, key))
    elif (loc.get("file"), loc.get("line")) != where[key]:
        err("%s: location %s:%s, but %s %r is written at %s:%d"
            % (tag, loc.get("file"), loc.get("line"), key[0][:-1], key[1], *where[key]))
    if prev is not None and rank[sev] > rank[prev]:
        err("%s: %s after %s; findings must be worst first" % (tag, sev, prev))
    prev = sev
    seen.add((rule, acc, pth))

for w in [("AG-P01", "alice", "reset"), ("AG-P01", "erin", "erin-reset"),
          ("AG-P02", "bob", "kba-desk"), ("AG-P03", "bob", "pop3"),
          ("AG-P10", None, "kba-desk"), ("AG-P11", "alice", None),
          ("AG-P12", "alice", "bg")]:
    if w not in seen:
        err("no finding %s for account %r, path %r" % w)
crit = [f for f in findings if f.get("rule") == "AG-P01" and f.get("account") == "alice"]
if crit and crit[0].get("severity") != "critical":
    err("AG-P01 for alice (AAL1, requires AAL3) is %s, expected critical" % crit[0].get("severity"))

# --- summary --------------------------------------------------------------
def check(name, got, want):
    if got != want:
        err("summary.%s is %r, but the report has %r" % (name, got, want))
check("findings", summary.get("findings"), len(findings))
check("accounts", summary.get("accounts"), len(accounts))
check("paths", summary.get("paths"), n_paths)
below = sum(1 for a in accounts
            if is_int(a.get("required", {}).get("aal"))
            and a.get("effective", {}).get("aal", 9) < a["required"]["aal"])
check("below_required", summary.get("below_required"), below)
bysev = summary.get("by_severity") or {}
for s in rank:
    check("by_severity.%s" % s, bysev.get(s), sum(1 for f in findings if f.get("severity") == s))

if errors:
    for e in errors[:40]:
        print("FAIL json: " + e)
    if len(errors) > 40:
        print("FAIL json: ... and %d more" % (len(errors) - 40))
    sys.exit(1)
print("ok json: %d accounts, %d findings" % (len(accounts), len(findings)))
EOF
