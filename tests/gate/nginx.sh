#!/bin/sh
# nginx.sh AALGATE AG_TESTSIGN
#
# The gate behind a real nginx: auth_request to /v1/authz, the identity
# headers passed upstream, RFC 9470 step-up challenges passed back to the
# client, and the trust boundary between them (docs/gate.md).
#
# The test starts its own aalgate (port 0) and one nginx process (no
# daemon, no master, every path in a temporary directory) with three
# servers on loopback ports:
#
#   front   the protected site, configured as packaging/nginx-aalgate.conf:
#           auth_request to aalgate over keep-alive connections (HEAD),
#           which it reaches from 127.0.0.3 (proxy_bind), the only trusted
#           proxy; it clears any X-Device-Posture the client sends
#   device  the same site behind an entry point that vouches for the
#           device (as a client-certificate check would): it sends
#           X-Device-Posture: managed
#   app     the upstream: echoes the X-Aalgate-* headers it receives
#
# Clients connect from 127.0.0.1, which is not trusted.  Tokens are ES256
# JWTs signed by ag-testsign with a key whose JWKS the policy names; a
# second, unrelated key signs a token under the same kid.
#
# Needs nginx with auth_request (Debian: nginx-light), curl and openssl.
# Without nginx it prints SKIP and passes, except in CI ($CI set), where
# it fails.
set -u

aalgate=${1:?usage: nginx.sh AALGATE AG_TESTSIGN}
testsign=${2:?usage: nginx.sh AALGATE AG_TESTSIGN}
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac
case $testsign in /*) ;; *) testsign=$(pwd)/$testsign ;; esac

skip() {
	if [ -n "${CI:-}" ]; then
		echo "FAIL nginx: $* (required in CI)"
		exit 1
	fi
	echo "SKIP: $*"
	exit 0
}

nginx=${NGINX:-}
if [ -z "$nginx" ]; then
	if [ -x /usr/sbin/nginx ]; then
		nginx=/usr/sbin/nginx
	else
		nginx=$(command -v nginx 2>/dev/null) || nginx=
	fi
fi
[ -n "$nginx" ] && [ -x "$nginx" ] || skip "nginx is not installed (Debian: apt-get install nginx-light)"
"$nginx" -V 2>&1 | grep -q -- '--with-http_auth_request_module' ||
	skip "$nginx was built without the auth_request module"
command -v curl >/dev/null 2>&1 || skip "curl is not installed"
command -v openssl >/dev/null 2>&1 || skip "openssl is not installed"
[ -x "$aalgate" ] || { echo "FAIL nginx: no aalgate binary at $aalgate"; exit 1; }
[ -x "$testsign" ] || { echo "FAIL nginx: no ag-testsign binary at $testsign"; exit 1; }

work=$(mktemp -d) || exit 2
gate_pid=
nginx_pid=
failures=0
checks=0

stop_pid() { # PID: TERM, then KILL after 5 s
	[ -n "$1" ] || return 0
	kill "$1" 2>/dev/null || return 0
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}
cleanup() {
	stop_pid "$nginx_pid"
	stop_pid "$gate_pid"
	if [ "$failures" -gt 0 ] || [ -n "${KEEP:-}" ]; then
		for f in aalgate.err nginx-error.log; do
			[ -s "$work/$f" ] || continue
			echo "---- $f (last 40 lines)"
			tail -n 40 "$work/$f"
		done
	fi
	if [ -n "${KEEP:-}" ]; then
		echo "kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 2' INT TERM HUP
cd "$work" || exit 2

fail() {
	echo "FAIL nginx: $*"
	failures=$((failures + 1))
}
die() {
	fail "$*"
	exit 1
}

# ---- keys, JWKS, tokens ------------------------------------------------
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key1.pem 2>/dev/null &&
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key2.pem 2>/dev/null ||
	die "openssl genpkey failed"
"$testsign" jwks k1=key1.pem >jwks.json 2>testsign.err ||
	die "ag-testsign jwks failed: $(cat testsign.err)"

now=$(date +%s)
# token NAME KEY SUB AUTH_AGE AMR_OR_ACR_JSON: signs claims into $NAME.jwt.
token() {
	cat >"$1.json" <<EOF
{"iss": "https://idp.test", "aud": "portal", "sub": "$3",
 "iat": $((now - 60)), "exp": $((now + 900)), "auth_time": $((now - $4)),
 "jti": "jti-$1", "sid": "sid-$1", $5}
EOF
	"$testsign" sign --key "$2" --alg ES256 --kid k1 <"$1.json" >"$1.jwt" 2>testsign.err ||
		die "ag-testsign sign $1 failed: $(cat testsign.err)"
	[ -s "$1.jwt" ] || die "ag-testsign sign $1 printed nothing"
}
token staff key1.pem alice 120 '"amr": ["pwd", "otp"]'
token weak key1.pem bob 120 '"amr": ["pwd"]'
token admin key1.pem carol 120 '"amr": ["hwk", "pin"]'
token old key1.pem dave 7200 '"amr": ["hwk", "pin"]'
token acr key1.pem erin 120 '"acr": "phrh"'
token forged key2.pem mallory 120 '"amr": ["hwk", "pin"]'
t_staff=$(cat staff.jwt)
t_weak=$(cat weak.jwt)
t_admin=$(cat admin.jwt)
t_old=$(cat old.jwt)
t_acr=$(cat acr.jwt)
t_forged=$(cat forged.jwt)

# ---- the policy ----------------------------------------------------------
# policy STAFF_WORKFLOW: writes policy.yaml
policy() {
	cat >policy.yaml.new <<EOF
profile: sp800-63b-4
workflows:
  staff:    $1
  admin:    { aal: 3, phishing_resistant: true, max_age: 1h, device: managed }
  internal: { aal: 2, networks: [10.20.0.0/16] }
  quiet:    { aal: 2, idle: 20s }
acr:
  "urn:example:aal1": { aal: 1 }
  "urn:example:aal2": { aal: 2 }
  phr:  { aal: 2, phishing_resistant: true }
  phrh: { aal: 3, phishing_resistant: true, hardware: true }
issuers:
  - iss: https://idp.test
    audiences: [portal]
    jwks_file: $work/jwks.json
trusted_proxies: [127.0.0.3/32]
device_header: X-Device-Posture
routes:
  - { path_prefix: /admin, workflow: admin }
  - { path_prefix: /internal, workflow: internal }
  - { path_prefix: /quiet, workflow: quiet }
default_workflow: staff
EOF
	mv policy.yaml.new policy.yaml
}
policy '{ aal: 2 }'
"$aalgate" policy check policy.yaml >policy-check.out 2>&1 ||
	die "aalgate policy check refused the test policy: $(cat policy-check.out)"

# ---- aalgate -------------------------------------------------------------
: >aalgate.err # before the background job opens it: read right away below
"$aalgate" serve -p policy.yaml --listen 127.0.0.1:0 \
	--decision-log "$work/decisions.jsonl" --timeout 10 --drain 5 \
	2>aalgate.err &
gate_pid=$!
gate_port=
i=0
while [ $i -lt 100 ]; do
	gate_port=$(sed -n 's/^aalgate serve: listening on 127\.0\.0\.1:\([0-9][0-9]*\),.*/\1/p' aalgate.err)
	[ -n "$gate_port" ] && break
	kill -0 "$gate_pid" 2>/dev/null || die "aalgate serve exited at start: $(cat aalgate.err)"
	sleep 0.1
	i=$((i + 1))
done
[ -n "$gate_port" ] || die "aalgate serve did not say where it listens: $(cat aalgate.err)"
i=0
until [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$gate_port/healthz")" = 200 ]; do
	i=$((i + 1))
	[ $i -lt 50 ] || die "aalgate /healthz did not answer 200"
	sleep 0.1
done

# ---- nginx ---------------------------------------------------------------
mkdir -p tmp
# The protected server, as in packaging/nginx-aalgate.conf.  @DEVICE@ is what the entry point says about the
# device: nothing on the front (the header is removed, whatever the client
# sent), "managed" on the entry point that checked it.
protected() {
	cat <<'EOF'
    server {
        listen 127.0.0.1:@PORT@;
        server_name portal.test;

        location / {
            auth_request /_aalgate;
            auth_request_set $aalgate_subject $upstream_http_x_aalgate_subject;
            auth_request_set $aalgate_issuer $upstream_http_x_aalgate_issuer;
            auth_request_set $aalgate_aal $upstream_http_x_aalgate_aal;
            auth_request_set $aalgate_workflow $upstream_http_x_aalgate_workflow;
            auth_request_set $aalgate_decision $upstream_http_x_aalgate_decision;
            auth_request_set $aalgate_decision_id $upstream_http_x_aalgate_decision_id;
            add_header X-Aalgate-Decision-Id $aalgate_decision_id always;

            proxy_set_header X-Aalgate-Subject $aalgate_subject;
            proxy_set_header X-Aalgate-Issuer $aalgate_issuer;
            proxy_set_header X-Aalgate-Aal $aalgate_aal;
            proxy_set_header X-Aalgate-Workflow $aalgate_workflow;
            proxy_set_header X-Aalgate-Decision $aalgate_decision;
            proxy_pass http://127.0.0.1:@APP@;
        }

        location = /_aalgate {
            internal;
            proxy_pass http://aalgate/v1/authz;
            proxy_method HEAD;
            proxy_bind 127.0.0.3;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Original-Host $host;
            proxy_set_header X-Original-Proto $scheme;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Uri "";
            proxy_set_header X-Forwarded-Method "";
            proxy_set_header X-Forwarded-Host "";
            proxy_set_header X-Forwarded-Proto "";
            proxy_set_header X-Device-Posture "@DEVICE@";
            proxy_connect_timeout 2s;
            proxy_read_timeout 5s;
        }
    }
EOF
}
nginx_conf() { # FRONT DEVICE APP
	{
		cat <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log info;
events { worker_connections 256; }
http {
    access_log $work/nginx-access.log;
    client_body_temp_path $work/tmp/body;
    proxy_temp_path $work/tmp/proxy;
    fastcgi_temp_path $work/tmp/fastcgi;
    uwsgi_temp_path $work/tmp/uwsgi;
    scgi_temp_path $work/tmp/scgi;

    upstream aalgate {
        server 127.0.0.1:$gate_port;
        keepalive 8;
    }

    server {
        listen 127.0.0.1:$3;
        default_type text/plain;
        location / {
            return 200 "sub=\$http_x_aalgate_subject aal=\$http_x_aalgate_aal wf=\$http_x_aalgate_workflow decision=\$http_x_aalgate_decision iss=\$http_x_aalgate_issuer\n";
        }
    }
EOF
		protected | sed "s/@PORT@/$1/; s/@DEVICE@//; s/@APP@/$3/"
		protected | sed "s/@PORT@/$2/; s/@DEVICE@/managed/; s/@APP@/$3/"
		echo "}"
	} >nginx.conf
}
rand_port() {
	echo $(($(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000 + 20000))
}
# Free ports are not known in advance: try random ones until nginx binds.
started=
attempt=0
while [ $attempt -lt 8 ] && [ -z "$started" ]; do
	attempt=$((attempt + 1))
	front=$(rand_port)
	device=$((front + 1))
	app=$((front + 2))
	nginx_conf "$front" "$device" "$app"
	: >nginx-error.log
	"$nginx" -e "$work/nginx-error.log" -p "$work" -c "$work/nginx.conf" >nginx.out 2>&1 &
	nginx_pid=$!
	i=0
	while [ $i -lt 50 ]; do
		if ! kill -0 "$nginx_pid" 2>/dev/null; then
			wait "$nginx_pid" 2>/dev/null
			nginx_pid=
			break
		fi
		if [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$app/")" = 200 ]; then
			started=yes
			break
		fi
		sleep 0.1
		i=$((i + 1))
	done
	if [ -z "$started" ]; then
		stop_pid "$nginx_pid"
		nginx_pid=
		grep -q 'Address already in use' nginx-error.log nginx.out 2>/dev/null ||
			die "nginx did not start: $(cat nginx.out nginx-error.log | tail -n 20)"
	fi
done
[ -n "$started" ] || die "nginx found no free ports in $attempt attempts"

# ---- requests ------------------------------------------------------------
# get NAME URL [CURL ARGS...]: status in $status, headers in hdr (CR
# removed), body in body.
get() {
	what=$1
	url=$2
	shift 2
	rm -f hdr.raw hdr body
	status=$(curl -sS --max-time 10 -o body -D hdr.raw -w '%{http_code}' "$@" "$url" 2>curl.err) ||
		status="curl failed: $(cat curl.err)"
	tr -d '\r' <hdr.raw >hdr 2>/dev/null
	[ -f body ] || : >body
}
hval() { # NAME: the first value of header NAME
	awk -v n="$1" 'BEGIN { n = tolower(n) ": " }
		tolower(substr($0, 1, length(n))) == n { print substr($0, length(n) + 1); exit }' hdr
}
expect_status() {
	checks=$((checks + 1))
	[ "$status" = "$1" ] ||
		fail "$what: status $status, expected $1; body: $(head -c 300 body)"
}
expect_header() { # NAME VALUE
	checks=$((checks + 1))
	got=$(hval "$1")
	[ "$got" = "$2" ] ||
		fail "$what: $1 is '$got', expected '$2'"
}
expect_no_header() {
	checks=$((checks + 1))
	grep -qi "^$1:" hdr && fail "$what: unexpected header $(grep -i "^$1:" hdr)"
	return 0
}
expect_body() {
	checks=$((checks + 1))
	[ "$(cat body)" = "$1" ] ||
		fail "$what: body is '$(head -c 300 body)', expected '$1'"
}
# expect_logged REASON_JSON [MORE TEXT]: the decision log line of this
# response's decision id has "reasons":REASON_JSON and the text.
expect_logged() {
	checks=$((checks + 1))
	id=$(hval X-Aalgate-Decision-Id)
	if [ -z "$id" ]; then
		fail "$what: no X-Aalgate-Decision-Id in the response"
		return
	fi
	line=$(grep -F "\"id\":\"$id\"" decisions.jsonl)
	case $line in
	*"\"reasons\":$1"*) ;;
	*) fail "$what: decision $id logged as '$line', expected reasons $1" ;;
	esac
	if [ $# -gt 1 ]; then
		case $line in
		*"$2"*) ;;
		*) fail "$what: decision $id logged as '$line', expected '$2' in it" ;;
		esac
	fi
}
# Connections to or from aalgate's port closed recently (TIME-WAIT).
time_wait() {
	ss -tan state time-wait "( sport = :$gate_port or dport = :$gate_port )" | grep -c ":$gate_port"
}
tw0=
command -v ss >/dev/null 2>&1 && tw0=$(time_wait)
front_url=http://127.0.0.1:$front
device_url=http://127.0.0.1:$device
gate_url=http://127.0.0.1:$gate_port/v1/authz
step_up='Bearer error="insufficient_user_authentication"'

# 1. Allowed: the identity reaches the upstream.
get "staff token on /docs" "$front_url/docs/handbook?page=2" -H "Authorization: Bearer $t_staff"
expect_status 200
expect_body "sub=alice aal=2 wf=staff decision=allow iss=https://idp.test"
expect_logged '[]' '"subject":"alice"'

get "acr token on /docs" "$front_url/docs" -H "Authorization: Bearer $t_acr"
expect_status 200
expect_body "sub=erin aal=3 wf=staff decision=allow iss=https://idp.test"

# The client cannot supply the identity headers itself.
get "client-sent X-Aalgate-Subject" "$front_url/docs" -H "Authorization: Bearer $t_staff" \
	-H "X-Aalgate-Subject: mallory" -H "X-Aalgate-Aal: 3" -H "X-Aalgate-Workflow: admin" \
	-H "X-Aalgate-Issuer: https://evil.example"
expect_status 200
expect_body "sub=alice aal=2 wf=staff decision=allow iss=https://idp.test"

# 2. Too low an AAL: RFC 9470 step-up, with the acr values that would do.
get "amr pwd on staff" "$front_url/docs" -H "Authorization: Bearer $t_weak"
expect_status 401
expect_header WWW-Authenticate "$step_up, error_description=\"workflow 'staff' requires AAL2; the token shows AAL1\", acr_values=\"urn:example:aal2 phr phrh\""
expect_logged '["aal"]' '"subject":"bob"'

get "staff token on /admin" "$front_url/admin/users" -H "Authorization: Bearer $t_staff"
expect_status 401
expect_header WWW-Authenticate "$step_up, error_description=\"workflow 'admin' requires AAL3, phishing-resistant, hardware; the token shows AAL2\", acr_values=\"phrh\""

# A client-sent X-Original-URI does not reroute the request.
get "client-sent X-Original-URI" "$front_url/admin/users" -H "Authorization: Bearer $t_staff" \
	-H "X-Original-URI: /docs" -H "X-Forwarded-Uri: /docs"
expect_status 401
expect_header WWW-Authenticate "$step_up, error_description=\"workflow 'admin' requires AAL3, phishing-resistant, hardware; the token shows AAL2\", acr_values=\"phrh\""

# 3. Authentication too old for admin: max_age in the challenge.
get "old auth_time on /admin" "$device_url/admin/users" -H "Authorization: Bearer $t_old"
expect_status 401
checks=$((checks + 1))
got=$(hval WWW-Authenticate)
case $got in
"$step_up, error_description=\"authentication is 720"[0-9]"s old; workflow 'admin' allows 3600s\", acr_values=\"phrh\", max_age=\"3600\"") ;;
*) fail "$what: WWW-Authenticate is '$got'" ;;
esac
expect_logged '["max_age"]' '"subject":"dave"'

# 4. A bad signature: the unrelated key under the known kid.
get "token signed by another key" "$front_url/docs" -H "Authorization: Bearer $t_forged"
expect_status 401
checks=$((checks + 1))
got=$(hval WWW-Authenticate)
case $got in
'Bearer error="invalid_token", error_description="'*'"') ;;
*) fail "$what: WWW-Authenticate is '$got'" ;;
esac
expect_logged '["invalid_token"]' '"token_error":"bad_signature"'

# A token cut short is refused the same way.
get "truncated token" "$front_url/docs" -H "Authorization: Bearer ${t_staff%??????????}"
expect_status 401
checks=$((checks + 1))
case $(hval WWW-Authenticate) in
'Bearer error="invalid_token", error_description="'*) ;;
*) fail "$what: WWW-Authenticate is '$(hval WWW-Authenticate)'" ;;
esac

# 5. No token.
get "no token" "$front_url/docs"
expect_status 401
expect_header WWW-Authenticate 'Bearer realm="aalgate"'
expect_logged '["no_token"]'

# 6. Device posture comes from the entry point, never from the client.
get "client-sent X-Device-Posture" "$front_url/admin/users" -H "Authorization: Bearer $t_admin" \
	-H "X-Device-Posture: managed"
expect_status 403
expect_no_header WWW-Authenticate
expect_logged '["device"]' '"subject":"carol"'

get "managed device entry point" "$device_url/admin/users" -H "Authorization: Bearer $t_admin"
expect_status 200
expect_body "sub=carol aal=3 wf=admin decision=allow iss=https://idp.test"

# nginx kept its connections to aalgate open (proxy_method HEAD, upstream
# keepalive): the requests so far left no closed connections behind.
if [ -n "$tw0" ]; then
	checks=$((checks + 1))
	closed=$(($(time_wait) - tw0))
	[ "$closed" -le 2 ] ||
		fail "nginx closed $closed connections to aalgate: keep-alive does not work"
fi

# 7. A forged X-Forwarded-For: nginx appends the real peer, and aalgate
# takes the rightmost address that is not a trusted proxy.
get "forged X-Forwarded-For" "$front_url/internal/wiki" -H "Authorization: Bearer $t_staff" \
	-H "X-Forwarded-For: 10.20.0.5"
expect_status 403
expect_logged '["network"]' '"ip":"127.0.0.1"'

# The same header from the trusted proxy's address is believed (so the
# refusal above is the proxy handling, not the workflow).
get "trusted proxy, X-Forwarded-For in the network" "$gate_url" --interface 127.0.0.3 \
	-H "Authorization: Bearer $t_staff" -H "X-Original-URI: /internal/wiki" \
	-H "X-Original-Method: GET" -H "X-Original-Host: portal.test" -H "X-Forwarded-For: 10.20.0.5"
expect_status 200
expect_header X-Aalgate-Subject alice
expect_header X-Aalgate-Issuer https://idp.test
expect_header X-Aalgate-Workflow internal
expect_header X-Aalgate-Decision allow

# Even from the trusted proxy: two X-Forwarded-For lines (one could be
# the client's), or none at all, leave the client's address unknown ...
get "trusted proxy, two X-Forwarded-For lines" "$gate_url" --interface 127.0.0.3 \
	-H "Authorization: Bearer $t_staff" -H "X-Original-URI: /internal/wiki" \
	-H "X-Forwarded-For: 10.20.0.5" -H "X-Forwarded-For: 127.0.0.1"
expect_status 403
expect_logged '["network"]'
get "trusted proxy, no X-Forwarded-For" "$gate_url" --interface 127.0.0.3 \
	-H "Authorization: Bearer $t_staff" -H "X-Original-URI: /internal/wiki"
expect_status 403
expect_logged '["network"]'
# ... a forwarding header twice, or no original request, is refused.
get "trusted proxy, X-Original-URI twice" "$gate_url" --interface 127.0.0.3 \
	-H "Authorization: Bearer $t_staff" -H "X-Original-URI: /docs" -H "X-Original-URI: /admin"
expect_status 403
expect_logged '["bad_request"]'
get "trusted proxy, no original request" "$gate_url" --interface 127.0.0.3 \
	-H "Authorization: Bearer $t_staff"
expect_status 403
expect_logged '["bad_request"]'
# One family of forwarding headers: a Traefik-style X-Forwarded-Uri with
# a client's X-Original-* (Traefik without authRequestHeaders copies
# every client header) is refused, never mixed ...
get "trusted proxy, X-Original-URI beside X-Forwarded-Uri" "$gate_url" --interface 127.0.0.3 \
	-H "Authorization: Bearer $t_staff" -H "X-Forwarded-Uri: /admin/users" \
	-H "X-Original-URI: /docs"
expect_status 403
expect_logged '["bad_request"]'
get "trusted proxy, X-Original-Method beside X-Forwarded-Uri" "$gate_url" --interface 127.0.0.3 \
	-H "Authorization: Bearer $t_staff" -H "X-Forwarded-Uri: /docs" \
	-H "X-Original-Method: GET"
expect_status 403
expect_logged '["bad_request"]'
# ... while X-Forwarded-* beside X-Original-URI (a balancer in front of
# nginx) is not the request's: the path is X-Original-URI's.
get "trusted proxy, X-Forwarded-Uri ignored beside X-Original-URI" "$gate_url" --interface 127.0.0.3 \
	-H "Authorization: Bearer $t_staff" -H "X-Original-URI: /admin/users" \
	-H "X-Forwarded-Host: docs.example" -H "X-Forwarded-Method: OPTIONS"
expect_status 401
expect_logged '["aal","phishing_resistant","hardware"]' '"method":"GET","host":"127.0.0.1:'
# A device header twice: one was the client's, so no posture is vouched
# for (one copy from the trusted proxy is believed).
get "trusted proxy, X-Device-Posture once" "$gate_url" --interface 127.0.0.3 \
	-H "Authorization: Bearer $t_admin" -H "X-Original-URI: /admin/users" \
	-H "X-Device-Posture: managed"
expect_status 200
get "trusted proxy, X-Device-Posture twice" "$gate_url" --interface 127.0.0.3 \
	-H "Authorization: Bearer $t_admin" -H "X-Original-URI: /admin/users" \
	-H "X-Device-Posture: managed" -H "X-Device-Posture: unmanaged"
expect_status 403
expect_logged '["device"]'

# POST /v1/decide believes "ip" and "device" only from a trusted proxy.
get "decide: ip from an untrusted peer" "http://127.0.0.1:$gate_port/v1/decide" \
	--interface 127.0.0.1 -X POST \
	--data "{\"workflow\":\"internal\",\"token\":\"$t_staff\",\"ip\":\"10.20.0.5\"}"
expect_status 200
grep -q '"decision":"deny","status":403' body || fail "$what: $(cat body)"
grep -q '"reasons":\["network"\]' body || fail "$what: $(cat body)"
# A trusted proxy that names no client leaves the address unknown: its
# own (127.0.0.3) says nothing about the client.
get "decide: no ip from the trusted proxy" "http://127.0.0.1:$gate_port/v1/decide" \
	--interface 127.0.0.3 -X POST \
	--data "{\"workflow\":\"internal\",\"token\":\"$t_staff\"}"
expect_status 200
grep -q '"reasons":\["network"\]' body || fail "$what: $(cat body)"
get "decide: ip from the trusted proxy" "http://127.0.0.1:$gate_port/v1/decide" \
	--interface 127.0.0.3 -X POST \
	--data "{\"workflow\":\"internal\",\"token\":\"$t_staff\",\"ip\":\"10.20.0.5\"}"
grep -q '"decision":"allow"' body || fail "$what: $(cat body)"
get "decide: device from an untrusted peer" "http://127.0.0.1:$gate_port/v1/decide" \
	--interface 127.0.0.1 -X POST \
	--data "{\"workflow\":\"admin\",\"token\":\"$t_admin\",\"device\":\"managed\"}"
grep -q '"reasons":\["device"\]' body || fail "$what: $(cat body)"
get "decide: device from the trusted proxy" "http://127.0.0.1:$gate_port/v1/decide" \
	--interface 127.0.0.3 -X POST \
	--data "{\"workflow\":\"admin\",\"token\":\"$t_admin\",\"device\":\"managed\"}"
grep -q '"decision":"allow"' body || fail "$what: $(cat body)"

# An untrusted peer may not say what the request was ...
get "X-Original-URI from an untrusted peer" "$gate_url" --interface 127.0.0.1 \
	-H "Authorization: Bearer $t_staff" -H "X-Original-URI: /docs"
expect_status 403
expect_no_header X-Aalgate-Subject
expect_logged '["bad_request"]'

get "X-Forwarded-Uri from an untrusted peer" "$gate_url" --interface 127.0.0.1 \
	-H "Authorization: Bearer $t_staff" -H "X-Forwarded-Uri: /docs"
expect_status 403

# ... nor where the client is.
get "X-Forwarded-For from an untrusted peer" "$gate_url/internal/wiki" --interface 127.0.0.1 \
	-H "Authorization: Bearer $t_staff" -H "X-Forwarded-For: 10.20.0.5"
expect_status 403
expect_logged '["network"]' '"ip":"127.0.0.1"'

# ---- the session's idle time moves with an allow that is final ---------
# sidtoken NAME SUB SID: AAL2, authenticated 10 s ago, in session SID.
sidtoken() {
	cat >"$1.json" <<EOF
{"iss": "https://idp.test", "aud": "portal", "sub": "$2",
 "iat": $((t0 - 10)), "exp": $((t0 + 900)), "auth_time": $((t0 - 10)),
 "jti": "jti-$1", "sid": "$3", "amr": ["pwd", "otp"]}
EOF
	"$testsign" sign --key key1.pem --alg ES256 --kid k1 <"$1.json" >"$1.jwt" 2>testsign.err ||
		die "ag-testsign sign $1 failed: $(cat testsign.err)"
}
t0=$(date +%s)
sidtoken live alice sid-live
# A sub of 600 bytes: the core allows it, the server cannot pass it on in
# a header and denies.  That allow must not keep sid-dead alive.
sidtoken long "$(printf '%0600d' 0 | tr 0 x)" sid-dead
sidtoken dead alice sid-dead
get "quiet: allowed" "$gate_url/quiet" --interface 127.0.0.1 -H "Authorization: Bearer $(cat live.jwt)"
expect_status 200
get "quiet: a sub too long for a header" "$gate_url/quiet" --interface 127.0.0.1 \
	-H "Authorization: Bearer $(cat long.jwt)"
expect_status 403
expect_logged '["invalid_token"]'
sleep 12 # authentication is now 22 s old, beyond idle 20s
get "quiet: the session an allow moved is live" "$gate_url/quiet" --interface 127.0.0.1 \
	-H "Authorization: Bearer $(cat live.jwt)"
expect_status 200
get "quiet: the denied request kept nothing alive" "$gate_url/quiet" --interface 127.0.0.1 \
	-H "Authorization: Bearer $(cat dead.jwt)"
expect_status 401
expect_logged '["idle"]'

# ---- reload --------------------------------------------------------------
count() { grep -c "$1" aalgate.err; }
wait_for() { # PATTERN N: until aalgate.err has N lines matching
	i=0
	while [ "$(count "$1")" -lt "$2" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ "$(count "$1")" -ge "$2" ]
}
cp policy.yaml policy.good
printf 'workflows:\n  staff: { aal: 9 }\n' >policy.yaml
kill -HUP "$gate_pid"
wait_for 'reload failed' 1 || fail "SIGHUP with a broken policy: no 'reload failed' message"
get "staff token after a broken reload" "$front_url/docs" -H "Authorization: Bearer $t_staff"
expect_status 200
expect_body "sub=alice aal=2 wf=staff decision=allow iss=https://idp.test"

policy '{ aal: 2, phishing_resistant: true }'
kill -HUP "$gate_pid"
wait_for 'reloaded ' 1 || fail "SIGHUP with a good policy: no 'reloaded' message"
get "staff token after a stricter reload" "$front_url/docs" -H "Authorization: Bearer $t_staff"
expect_status 401
expect_header WWW-Authenticate "$step_up, error_description=\"workflow 'staff' requires AAL2, phishing-resistant; the token's authentication is not phishing-resistant\", acr_values=\"phr phrh\""
get "acr phrh after a stricter reload" "$front_url/docs" -H "Authorization: Bearer $t_acr"
expect_status 200

# ---- stop ----------------------------------------------------------------
kill -TERM "$gate_pid"
i=0
while kill -0 "$gate_pid" 2>/dev/null && [ $i -lt 150 ]; do
	sleep 0.1
	i=$((i + 1))
done
if kill -0 "$gate_pid" 2>/dev/null; then
	fail "aalgate serve still running 15 s after SIGTERM"
else
	wait "$gate_pid"
	code=$?
	gate_pid=
	[ "$code" -eq 0 ] || fail "aalgate serve exited $code after SIGTERM, expected 0"
fi

# ---- the decision log ----------------------------------------------------
"$aalgate" log verify decisions.jsonl >verify.out 2>&1
code=$?
[ "$code" -eq 0 ] || fail "aalgate log verify: exit $code: $(cat verify.out)"
records=$(wc -l <decisions.jsonl | tr -d ' ')
[ "$records" -ge 20 ] || fail "the decision log has $records records, expected at least 20"
for t in staff weak admin old acr forged; do
	jwt=$(cat $t.jwt)
	sig=${jwt##*.}
	if grep -qF -- "$sig" decisions.jsonl; then
		fail "the decision log contains the $t token's signature"
	fi
	payload=${jwt#*.}
	payload=${payload%%.*}
	if grep -qF -- "$payload" decisions.jsonl; then
		fail "the decision log contains the $t token's payload"
	fi
done

if [ "$failures" -gt 0 ]; then
	echo "nginx: $failures of $checks checks failed"
	exit 1
fi
echo "nginx: $checks checks passed (nginx $("$nginx" -v 2>&1 | sed 's/.*nginx\///'), $records decisions logged)"
exit 0
