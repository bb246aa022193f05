#!/bin/sh
# keycloak-shared.sh AALGATE PROJECT_SOURCE_DIR
# Every real Keycloak realm export under ../shared/data/keycloak, through
# the importer: 'aalgate audit --keycloak FILE' must audit it (exit 0 or
# 1, a JSON report) or refuse it (exit 2, a message naming the file, and
# nothing on standard output); 'aalgate import keycloak FILE' must agree.
# Never a crash, a hang or a sanitizer report.  Prints one line per file.
# Skipped when ../shared/data/keycloak is not there.
set -u
aalgate=$1 src=$2
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac
kc=$src/../shared/data/keycloak

if [ ! -d "$kc" ]; then
	echo "skipped: ../shared/data/keycloak not present"
	exit 0
fi

work=$(mktemp -d) || exit 2
trap 'rm -rf "$work"' EXIT

cat >"$work/policy.yaml" <<'EOF'
profile: sp800-63b-4
workflows:
  admin: { aal: 3, phishing_resistant: true }
  staff: { aal: 2 }
EOF

limit=
command -v timeout >/dev/null 2>&1 && limit="timeout 120"

failures=0 n=0 imported=0 refused=0
fail() {
	echo "FAIL keycloak-shared: $*"
	failures=$((failures + 1))
}

# sanitizer FILE: true when FILE holds a sanitizer report.
sanitizer() {
	grep -Eq 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$1"
}

list=$work/files
find "$kc" -name '*.json' -type f | sort >"$list"
while IFS= read -r f; do
	n=$((n + 1))
	base=$(basename "$f")
	$limit "$aalgate" audit -q -p "$work/policy.yaml" --format json \
		--as-of 2025-06-01 --keycloak "$f" \
		>"$work/out" 2>"$work/err" </dev/null
	code=$?
	if sanitizer "$work/err"; then
		fail "$base: sanitizer report: $(head -c 800 "$work/err")"
		continue
	fi
	case $code in
	0 | 1)
		summary=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
s = d.get("summary", {})
print("%s accounts, %s paths, %s below required, %s findings" % (
    s.get("accounts"), s.get("paths"), s.get("below_required"),
    s.get("findings")))' "$work/out" 2>/dev/null) || {
			fail "$base: exit $code but the report is not JSON: $(head -c 200 "$work/out")"
			continue
		}
		imported=$((imported + 1))
		echo "ok $base: exit $code: $summary" ;;
	2)
		if ! grep -qF -- "$f:" "$work/err"; then
			fail "$base: exit 2 without naming the file: $(head -c 400 "$work/err")"
			continue
		fi
		if [ -s "$work/out" ]; then
			fail "$base: exit 2 but wrote a report: $(head -c 200 "$work/out")"
			continue
		fi
		refused=$((refused + 1))
		echo "ok $base: does not import: $(sed "s|$kc/||" "$work/err" | head -c 600)" ;;
	124)
		fail "$base: still running after 120s"
		continue ;;
	*)
		fail "$base: exit status $code: $(head -c 400 "$work/err")"
		continue ;;
	esac

	# The import command reads the same export the same way.
	$limit "$aalgate" import keycloak "$f" -p "$work/policy.yaml" \
		>"$work/estate" 2>"$work/err2" </dev/null
	icode=$?
	if sanitizer "$work/err2"; then
		fail "$base: import: sanitizer report: $(head -c 800 "$work/err2")"
	elif [ "$code" -eq 2 ] && [ "$icode" -ne 2 ]; then
		fail "$base: audit refused it but import exited $icode"
	elif [ "$code" -ne 2 ] && [ "$icode" -ne 0 ]; then
		fail "$base: audit read it but import exited $icode: $(head -c 400 "$work/err2")"
	fi
done <"$list"

if [ "$n" -eq 0 ]; then
	echo "skipped: no *.json under ../shared/data/keycloak"
	exit 0
fi
if [ "$failures" -ne 0 ]; then
	echo "FAIL keycloak-shared: $failures problem(s) in $n file(s)"
	exit 1
fi
echo "ok keycloak-shared: $n exports, $imported audited, $refused refused with a message"
