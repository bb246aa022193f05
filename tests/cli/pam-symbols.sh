#!/bin/sh
# pam-symbols.sh AALGATE PROJECT_SOURCE_DIR
# pam_aalgate.so exports pam_sm_authenticate, pam_sm_setcred and
# pam_sm_acct_mgmt and nothing else: dlopen() and dlsym() through the
# pam-symbols tool (which also reads the file's dynamic symbol table),
# and nm -D for a second opinion.  The module's internal functions are
# named so that dlsym must fail on them.
set -u
aalgate=$1
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac
bdir=$(dirname "$aalgate")

module=${AG_PAM_MODULE:-}
symbols=
if [ -f "$bdir/pam-test.env" ]; then
	[ -n "$module" ] || module=$(sed -n 's/^module=//p' "$bdir/pam-test.env")
	symbols=$(sed -n 's/^symbols=//p' "$bdir/pam-test.env")
fi
[ -n "$module" ] || module=$bdir/pam_aalgate.so
[ -n "$symbols" ] || symbols=$bdir/pam-symbols

fail() {
	echo "FAIL pam-symbols: $*"
	exit 1
}
[ -f "$module" ] || fail "no module at $module"
[ -x "$symbols" ] || fail "no pam-symbols tool at $symbols"

work=$(mktemp -d) || exit 2
trap 'rm -rf "$work"' EXIT

"$symbols" "$module" check parse_args parse_answer ask socket_safe \
	connect_by read_line field_ok field_clean take_token deny_code \
	ag_strerror ag_pam_request_parse >"$work/out" 2>"$work/err" ||
	fail "$(cat "$work/err")"
printf 'pam_sm_acct_mgmt\npam_sm_authenticate\npam_sm_setcred\n' >"$work/want"
sort "$work/out" >"$work/got"
cmp -s "$work/got" "$work/want" || fail "exports: $(tr '\n' ' ' <"$work/got")"

# The tool must be able to fail: a library that exports more (libpam
# itself) is refused.
libpam=$(ldd "$module" 2>/dev/null | awk '/libpam\.so/ {print $3; exit}')
if [ -n "$libpam" ] && [ -f "$libpam" ]; then
	"$symbols" "$libpam" >/dev/null 2>&1 && fail "pam-symbols accepted $libpam"
fi

if command -v nm >/dev/null 2>&1; then
	nm -D --defined-only "$module" | awk '{print $NF}' | sort >"$work/nm"
	cmp -s "$work/nm" "$work/want" || fail "nm -D: $(tr '\n' ' ' <"$work/nm")"
	# It needs libpam and libc, not libaalgate's dependencies.
	for lib in libjansson libyaml libcrypto libcurl libmicrohttpd libsqlite3; do
		readelf -d "$module" 2>/dev/null | grep -q "NEEDED.*$lib" &&
			fail "the module links $lib"
	done
	readelf -d "$module" | grep -q 'NEEDED.*libpam\.so' || fail "the module does not link libpam"
fi
echo "pam-symbols: ok"
exit 0
