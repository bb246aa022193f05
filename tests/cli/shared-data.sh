#!/bin/sh
# shared-data.sh AALGATE PROJECT_SOURCE_DIR
# Real Keycloak realm exports from ../shared/data/keycloak, passed to
# 'aalgate audit' as estate files and to 'aalgate policy check' as a
# policy.  They are not estate files (yet: docs/importers.md lets audit
# recognise them by content), so a run may fail with exit 2 and a message
# naming the file, or succeed with a report; it must never crash, hang, or trip
# a sanitizer. Skipped when ../shared/data is not there.
set -u
aalgate=$1 src=$2
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac
data=$src/../shared/data

if [ ! -d "$data" ]; then
	echo "skipped: ../shared/data not present"
	exit 0
fi
if [ ! -d "$data/keycloak" ]; then
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

failures=0 n=0
fail() { echo "FAIL shared-data: $*"; failures=$((failures + 1)); }

# check WHAT FILE CODE OUT ERR JSON_ON_SUCCESS
check() {
	what=$1 file=$2 code=$3 out=$4 errf=$5
	if grep -Eq 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$errf"; then
		fail "$what $file: sanitizer report: $(head -c 800 "$errf")"
		return
	fi
	case $code in
	0 | 1)
		if [ "$6" = json ] && ! python3 -m json.tool "$out" >/dev/null 2>&1; then
			fail "$what $file: exit $code but the report is not JSON: $(head -c 200 "$out")"
		fi ;;
	2)
		# The message must name the file: 'aalgate CMD: FILE:line:col: ...'
		# or 'aalgate CMD: FILE: ...'.
		if ! grep -qF -- "$file:" "$errf"; then
			fail "$what $file: exit 2 without naming the file: $(head -c 400 "$errf")"
		fi
		[ -s "$out" ] && fail "$what $file: exit 2 but wrote to stdout: $(head -c 200 "$out")" ;;
	124) fail "$what $file: still running after 120s" ;;
	*) fail "$what $file: exit status $code: $(head -c 400 "$errf")" ;;
	esac
}

list=$work/files
find "$data/keycloak" -name '*.json' -type f | sort >"$list"
while IFS= read -r f; do
	n=$((n + 1))
	$limit "$aalgate" audit -q -p "$work/policy.yaml" --format json "$f" \
		>"$work/out" 2>"$work/err" </dev/null
	check "aalgate audit" "$f" $? "$work/out" "$work/err" json
	$limit "$aalgate" policy check "$f" >"$work/out" 2>"$work/err" </dev/null
	code=$?
	# A realm export is never a policy.
	[ "$code" -eq 0 ] && fail "aalgate policy check $f: accepted a Keycloak export as a policy"
	check "aalgate policy check" "$f" $code "$work/out" "$work/err" text
done <"$list"

if [ "$n" -eq 0 ]; then
	echo "skipped: no *.json under ../shared/data/keycloak"
	exit 0
fi
if [ "$failures" -ne 0 ]; then
	echo "FAIL shared-data: $failures problem(s) in $n file(s)"
	exit 1
fi
echo "ok shared-data: $n Keycloak exports, no crash"
