#!/bin/sh
# nginx-machine.sh AALGATE AG_TESTSIGN
#
# Machine workflows (docs/gate.md) behind a real nginx: mutual TLS at
# nginx, the client certificate passed to aalgate in client_cert_header
# ($ssl_client_escaped_cert), and aalgate judging each machine token
# against the inventory (an --inventory file and a --state store): its
# lifetime, its client, the client's owner, the network, the credential
# kind and the cnf binding (RFC 8705 §3; RFC 9449 DPoP proofs, whose htu
# names the URL the client asked nginx for), and the scope.
#
# One nginx process (no daemon, no master, every path in a temporary
# directory) serves two servers on loopback ports:
#
#   front   HTTPS with optional client certificates (a CA made here),
#           and the same site over plain HTTP on a port of its own:
#           auth_request to aalgate, which it reaches from 127.0.0.3
#           (proxy_bind), the only trusted proxy, passing
#           X-Forwarded-For, X-Original-Proto and -Host (the scheme and
#           host:port the client used) and X-Client-Cert:
#           $ssl_client_escaped_cert; the client's DPoP header goes on as
#           the client sent it
#   app     the upstream: echoes the X-Aalgate-* headers it receives
#
# Clients connect from 127.0.0.1, which is not trusted.  Tokens and DPoP
# proofs are ES256 JWTs signed by ag-testsign; certificates and keys are
# made by openssl.
# Every refusal is checked for its status, its challenge and its reason
# in the decision log.
#
# Needs nginx with auth_request and ssl (Debian: nginx-light), curl and
# openssl.  Without nginx it prints SKIP and passes, except in CI ($CI
# set), where it fails.
set -u

aalgate=${1:?usage: nginx-machine.sh AALGATE AG_TESTSIGN}
testsign=${2:?usage: nginx-machine.sh AALGATE AG_TESTSIGN}
case $aalgate in /*) ;; *) aalgate=$(pwd)/$aalgate ;; esac
case $testsign in /*) ;; *) testsign=$(pwd)/$testsign ;; esac

skip() {
	if [ -n "${CI:-}" ]; then
		echo "FAIL nginx-machine: $* (required in CI)"
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
"$nginx" -V 2>&1 | grep -q -- '--with-http_ssl_module' ||
	skip "$nginx was built without the ssl module"
command -v curl >/dev/null 2>&1 || skip "curl is not installed"
command -v openssl >/dev/null 2>&1 || skip "openssl is not installed"
[ -x "$aalgate" ] || { echo "FAIL nginx-machine: no aalgate binary at $aalgate"; exit 1; }
[ -x "$testsign" ] || { echo "FAIL nginx-machine: no ag-testsign binary at $testsign"; exit 1; }

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
	echo "FAIL nginx-machine: $*"
	failures=$((failures + 1))
}
die() {
	fail "$*"
	exit 1
}

# ---- certificates ---------------------------------------------------------
# A CA; nginx's server certificate (for 127.0.0.1); two client
# certificates: ci-bot's, and another one.
ossl() {
	openssl "$@" >>openssl.log 2>&1 || die "openssl $1 failed: $(tail -n 5 openssl.log)"
}
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca
cert() { # NAME CN [EXTFILE]
	ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1.key" -out "$1.csr" -subj "/CN=$2"
	if [ $# -gt 2 ]; then
		ossl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
			-out "$1.pem" -days 2 -extfile "$3"
	else
		ossl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
			-out "$1.pem" -days 2
	fi
}
printf 'subjectAltName = IP:127.0.0.1\n' >server.ext
cert server 127.0.0.1 server.ext
cert client ci-bot
cert other someone-else
# x5t#S256 (RFC 8705 §3.1): base64url(SHA-256(DER)).
x5t() {
	openssl x509 -in "$1" -outform DER | openssl dgst -sha256 -binary |
		openssl base64 -A | tr '+/' '-_' | tr -d '='
}
x5t_client=$(x5t client.pem)
x5t_other=$(x5t other.pem)
[ ${#x5t_client} -eq 43 ] || die "cannot compute the client certificate's thumbprint"
[ "$x5t_client" != "$x5t_other" ] || die "two certificates with one thumbprint"

# ---- keys, JWKS, tokens --------------------------------------------------
for k in key1 dpop-store dpop-other; do
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $k.pem 2>/dev/null ||
		die "openssl genpkey failed"
done
"$testsign" jwks k1=key1.pem >jwks.json 2>testsign.err ||
	die "ag-testsign jwks failed: $(cat testsign.err)"

# store-bot's DPoP key (RFC 9449), and another one.  The token's cnf jkt
# and the inventory record hold the key's RFC 7638 thumbprint.
jkt_store=$("$testsign" jkt dpop-store.pem 2>testsign.err) ||
	die "ag-testsign jkt failed: $(cat testsign.err)"
jkt_other=$("$testsign" jkt dpop-other.pem 2>testsign.err) ||
	die "ag-testsign jkt failed: $(cat testsign.err)"
[ ${#jkt_store} -eq 43 ] || die "the DPoP key's thumbprint is '$jkt_store'"
[ "$jkt_store" != "$jkt_other" ] || die "two DPoP keys with one thumbprint"

now=$(date +%s)
# token NAME CLIENT LIFETIME SCOPE MORE_JSON: signs claims into $NAME.jwt
# (and $t_NAME); the token was issued a minute ago.
token() {
	cat >"$1.json" <<EOF
{"iss": "https://idp.test", "aud": "api", "sub": "$2", "azp": "$2",
 "iat": $((now - 60)), "exp": $((now - 60 + $3)), "jti": "jti-$1",
 "scope": "$4"$5}
EOF
	"$testsign" sign --key key1.pem --alg ES256 --kid k1 <"$1.json" >"$1.jwt" 2>testsign.err ||
		die "ag-testsign sign $1 failed: $(cat testsign.err)"
	[ -s "$1.jwt" ] || die "ag-testsign sign $1 printed nothing"
	eval "t_$1=\$(cat $1.jwt)"
}
cnf_client=", \"cnf\": {\"x5t#S256\": \"$x5t_client\"}"
cnf_other=", \"cnf\": {\"x5t#S256\": \"$x5t_other\"}"
token good ci-bot 3600 "read deploy" "$cnf_client"
token long ci-bot 86400 "read deploy" "$cnf_client"
token unknown nobody 600 "read deploy" "$cnf_client"
token offboarded old-bot 600 "read deploy" "$cnf_other"
token nocnf ci-bot 600 "read deploy" ''
token othercnf ci-bot 600 "read deploy" "$cnf_other"
token noscope ci-bot 600 "read" "$cnf_client"
token store store-bot 600 "read deploy" ", \"cnf\": {\"jkt\": \"$jkt_store\"}"

# ---- the policy and the inventories ------------------------------------------
cat >policy.yaml <<EOF
profile: sp800-63b-4
workflows:
  staff: { aal: 2 }
  ci-deploy: { machine: true, max_token_lifetime: 1h,
               credentials: [mtls, workload_identity],
               networks: [127.0.0.0/8], scopes: [deploy] }
  ci-internal: { machine: true, max_token_lifetime: 1h, credentials: [mtls],
                 networks: [10.20.0.0/16] }
issuers:
  - iss: https://idp.test
    audiences: [api]
    jwks_file: $work/jwks.json
trusted_proxies: [127.0.0.3/32]
client_cert_header: X-Client-Cert
routes:
  - { path_prefix: /deploy, workflow: ci-deploy }
  - { path_prefix: /internal, workflow: ci-internal }
default_workflow: staff
EOF
# inventory OLGA_STATUS: the file the gate reads with --inventory.
inventory() {
	cat >inventory.yaml.new <<EOF
identities:
  - id: ci-bot
    kind: mtls
    owner: alice
    purpose: deploys the portal
    workflow: ci-deploy
    thumbprint: $x5t_client
    created: 2025-01-01
    expires: never
  - id: old-bot
    kind: mtls
    owner: olga
    purpose: the deploys before ci-bot
    workflow: ci-deploy
    created: 2024-01-01
owners:
  - { id: alice, team: platform, status: active }
  - { id: olga, team: platform, status: $1 }
EOF
	mv inventory.yaml.new inventory.yaml
}
inventory offboarded
# The store's own record: store-bot, a workload identity bound to a DPoP
# key, owned by bob.
cat >store-inventory.csv <<EOF
id,kind,owner,purpose,workflow,thumbprint,created
store-bot,workload_identity,bob,syncs the catalogue,ci-deploy,$jkt_store,2025-02-01
EOF
"$aalgate" policy check policy.yaml >policy-check.out 2>&1 ||
	die "aalgate policy check refused the test policy: $(cat policy-check.out)"
"$aalgate" nhi import --state "$work/state.db" -p policy.yaml \
	--decision-log "$work/decisions.jsonl" store-inventory.csv >import.out 2>&1 ||
	die "aalgate nhi import failed: $(cat import.out)"
grep -q 'added 1,' import.out || die "nhi import: $(cat import.out)"

# ---- aalgate -------------------------------------------------------------
: >aalgate.err
"$aalgate" serve -p policy.yaml --listen 127.0.0.1:0 \
	--inventory inventory.yaml --state "$work/state.db" \
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
grep -q 'inventory: 2 machine identities from 1 file' aalgate.err ||
	fail "aalgate serve did not say it read the inventory: $(cat aalgate.err)"

# ---- nginx ---------------------------------------------------------------
mkdir -p tmp
nginx_conf() { # FRONT APP PLAIN
	cat >nginx.conf <<EOF
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
    map \$status \$aalgate_www_403 {
        403 \$aalgate_www;
        default "";
    }

    server {
        listen 127.0.0.1:$2;
        default_type text/plain;
        location / {
            return 200 "sub=\$http_x_aalgate_subject wf=\$http_x_aalgate_workflow decision=\$http_x_aalgate_decision\n";
        }
    }

    server {
        listen 127.0.0.1:$1 ssl;
        listen 127.0.0.1:$3;
        server_name api.test;
        ssl_certificate $work/server.pem;
        ssl_certificate_key $work/server.key;
        ssl_client_certificate $work/ca.pem;
        ssl_verify_client optional;

        location / {
            auth_request /_aalgate;
            auth_request_set \$aalgate_subject \$upstream_http_x_aalgate_subject;
            auth_request_set \$aalgate_workflow \$upstream_http_x_aalgate_workflow;
            auth_request_set \$aalgate_decision \$upstream_http_x_aalgate_decision;
            auth_request_set \$aalgate_decision_id \$upstream_http_x_aalgate_decision_id;
            auth_request_set \$aalgate_www \$upstream_http_www_authenticate;
            add_header X-Aalgate-Decision-Id \$aalgate_decision_id always;
            # nginx passes a 401's challenge on by itself; a 403's RFC
            # 6750 error (insufficient_scope) only this way.
            add_header WWW-Authenticate \$aalgate_www_403 always;

            proxy_set_header X-Aalgate-Subject \$aalgate_subject;
            proxy_set_header X-Aalgate-Workflow \$aalgate_workflow;
            proxy_set_header X-Aalgate-Decision \$aalgate_decision;
            proxy_pass http://127.0.0.1:$2;
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
            proxy_set_header X-Original-URI \$request_uri;
            proxy_set_header X-Original-Method \$request_method;
            # \$http_host, not \$host: with the port, as in a DPoP
            # proof's htu.  The scheme too, for htu.
            proxy_set_header X-Original-Host \$http_host;
            proxy_set_header X-Original-Proto \$scheme;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Uri "";
            proxy_set_header X-Forwarded-Method "";
            proxy_set_header X-Forwarded-Host "";
            proxy_set_header X-Forwarded-Proto "";
            # The certificate nginx verified (empty without one): what
            # the client sent in this header is replaced.
            proxy_set_header X-Client-Cert \$ssl_client_escaped_cert;
            proxy_connect_timeout 2s;
            proxy_read_timeout 5s;
        }
    }
}
EOF
}
rand_port() {
	echo $(($(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000 + 20000))
}
started=
attempt=0
while [ $attempt -lt 8 ] && [ -z "$started" ]; do
	attempt=$((attempt + 1))
	front=$(rand_port)
	app=$((front + 1))
	plain=$((front + 2))
	nginx_conf "$front" "$app" "$plain"
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
front_url=https://127.0.0.1:$front
gate_url=http://127.0.0.1:$gate_port/v1/authz
with_cert="--cert client.pem --key client.key"
with_other="--cert other.pem --key other.key"

# get NAME URL [CURL ARGS...]: status in $status, headers in hdr, body in
# body.
get() {
	what=$1
	url=$2
	shift 2
	rm -f hdr.raw hdr body
	status=$(curl -sS --max-time 10 --cacert ca.pem -o body -D hdr.raw -w '%{http_code}' "$@" "$url" 2>curl.err) ||
		status="curl failed: $(cat curl.err)"
	tr -d '\r' <hdr.raw >hdr 2>/dev/null
	[ -f body ] || : >body
}
hval() {
	awk -v n="$1" 'BEGIN { n = tolower(n) ": " }
		tolower(substr($0, 1, length(n))) == n { print substr($0, length(n) + 1); exit }' hdr
}
expect_status() {
	checks=$((checks + 1))
	[ "$status" = "$1" ] ||
		fail "$what: status $status, expected $1; body: $(head -c 300 body)"
}
expect_body() {
	checks=$((checks + 1))
	[ "$(cat body)" = "$1" ] ||
		fail "$what: body is '$(head -c 300 body)', expected '$1'"
}
# expect_challenge PATTERN: WWW-Authenticate matches the shell pattern.
expect_challenge() {
	checks=$((checks + 1))
	got=$(hval WWW-Authenticate)
	case $got in
	$1) ;;
	*) fail "$what: WWW-Authenticate is '$got', expected '$1'" ;;
	esac
}
# expect_logged REASON_JSON [TEXT...]: the decision log line of this
# response's decision id has "reasons":REASON_JSON and each TEXT.
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
	shift
	for t in "$@"; do
		case $line in
		*"$t"*) ;;
		*) fail "$what: decision $id logged as '$line', expected '$t' in it" ;;
		esac
	done
}
forbidden='Bearer error="insufficient_scope", error_description="'
invalid='Bearer error="invalid_token", error_description="'
dpop_algs='DPoP algs="ES256 ES384 EdDSA PS256 PS384 PS512 RS256 RS384 RS512"'
bad_proof="$dpop_algs"', error="invalid_dpop_proof", error_description="'
# proof KEY HTU [ag-testsign dpop ARGS...]: a DPoP proof of GET HTU,
# signed with KEY, in $proof.
proof() {
	k=$1
	u=$2
	shift 2
	"$testsign" dpop --key "$k" --alg ES256 --htm GET --htu "$u" "$@" \
		>proof.txt 2>testsign.err || die "ag-testsign dpop failed: $(cat testsign.err)"
	proof=$(cat proof.txt)
	[ -n "$proof" ] || die "ag-testsign dpop printed nothing"
}

# 1. The correct token, with its certificate: allowed.
get "correct token and certificate" "$front_url/deploy/run" $with_cert \
	-H "Authorization: Bearer $t_good"
expect_status 200
expect_body "sub=ci-bot wf=ci-deploy decision=allow"
expect_logged '[]' '"client":"ci-bot"' '"ip":"127.0.0.1"'

# 2. A 24 h token on a 1 h workflow.
get "24 h token" "$front_url/deploy/run" $with_cert -H "Authorization: Bearer $t_long"
expect_status 401
expect_challenge "${invalid}token lifetime 86400s is over workflow 'ci-deploy' limit of 1h\""
expect_logged '["token_lifetime"]' "token lifetime 86400s"

# 3. An unknown client.
get "unknown client" "$front_url/deploy/run" $with_cert -H "Authorization: Bearer $t_unknown"
expect_status 403
expect_challenge "${forbidden}client 'nobody': not in the machine inventory\""
expect_logged '["client"]' "client 'nobody': not in the machine inventory"

# 4. A client whose owner is offboarded in the inventory file.
get "owner offboarded in the file" "$front_url/deploy/run" $with_other \
	-H "Authorization: Bearer $t_offboarded"
expect_status 403
expect_challenge "${forbidden}client 'old-bot': its owner 'olga' is offboarded\""
expect_logged '["client"]' "its owner 'olga' is offboarded"

# 5. A client of the state store, its token bound to a DPoP key: allowed
# with the DPoP scheme and a proof for the URL it asked nginx for.  Every
# refusal of a proof is a 401 in DPoP's scheme, logged as invalid_token;
# then its owner is offboarded with `aalgate nhi owner set`, and the next
# request is refused.
sync_url=$front_url/deploy/sync
proof dpop-store.pem "$sync_url" --token "$t_store"
first_proof=$proof
get "store client, DPoP proof" "$sync_url" -H "Authorization: DPoP $t_store" -H "DPoP: $proof"
expect_status 200
expect_body "sub=store-bot wf=ci-deploy decision=allow"
expect_logged '[]' '"client":"store-bot"'

# The target's query is no part of htu (RFC 9449 §4.3).
proof dpop-store.pem "$sync_url" --token "$t_store"
get "store client, DPoP proof, a query" "$sync_url?full=1" \
	-H "Authorization: DPoP $t_store" -H "DPoP: $proof"
expect_status 200
expect_body "sub=store-bot wf=ci-deploy decision=allow"

# /v1/decide: a what-if ("now" given) checks a proof but does not
# remember it, so the proof still works once at the gate; a real
# /v1/decide remembers it like /v1/authz.
decide_url=http://127.0.0.1:$gate_port/v1/decide
# body_has WHAT TEXT: the body holds TEXT.
body_has() {
	checks=$((checks + 1))
	grep -qF "$2" body || fail "$1: body lacks '$2': $(head -c 300 body)"
}
decide_body() {
	printf '{"request":{"method":"GET","host":"127.0.0.1:%s","uri":"/deploy/sync","scheme":"https"},"token":"%s","dpop":"%s"%s}' \
		"$front" "$t_store" "$1" "${2:-}" >decide.json
}
proof dpop-store.pem "$sync_url" --token "$t_store"
decide_body "$proof" ", \"now\": $(date +%s)"
get "what-if decide with a proof" "$decide_url" -H 'Content-Type: application/json' --data-binary @decide.json
expect_status 200
body_has "what-if decide with a proof" '"decision":"allow"'
get "the what-if's proof at the gate" "$sync_url" -H "Authorization: DPoP $t_store" -H "DPoP: $proof"
expect_status 200
proof dpop-store.pem "$sync_url" --token "$t_store"
decide_body "$proof"
get "decide with a proof" "$decide_url" -H 'Content-Type: application/json' --data-binary @decide.json
expect_status 200
body_has "decide with a proof" '"decision":"allow"'
get "decide's proof at the gate" "$sync_url" -H "Authorization: DPoP $t_store" -H "DPoP: $proof"
expect_status 401
expect_challenge "${bad_proof}the DPoP proof was used before (jti replayed)\""

get "the same DPoP proof again" "$sync_url" -H "Authorization: DPoP $t_store" -H "DPoP: $first_proof"
expect_status 401
expect_challenge "${bad_proof}the DPoP proof was used before (jti replayed)\""
expect_logged '["invalid_token"]' '"token_error":"dpop_proof"' "jti replayed"

dpop_missing='DPoP error="invalid_token", error_description="the token is bound to a DPoP key (cnf jkt) and no valid DPoP proof for this request came with it"'
get "DPoP-bound token as Bearer" "$sync_url" -H "Authorization: Bearer $t_store"
expect_status 401
expect_challenge "$dpop_missing"
expect_logged '["credential"]' "no valid DPoP proof for this request came with it"

# A valid proof does not make the Bearer scheme do.
proof dpop-store.pem "$sync_url" --token "$t_store"
get "DPoP-bound token as Bearer, with a proof" "$sync_url" \
	-H "Authorization: Bearer $t_store" -H "DPoP: $proof"
expect_status 401
expect_challenge "$dpop_missing"
expect_logged '["credential"]' "no valid DPoP proof for this request came with it"

get "DPoP scheme, no proof" "$sync_url" -H "Authorization: DPoP $t_store"
expect_status 401
expect_challenge "${bad_proof}the token is bound to a DPoP key and no DPoP proof came with it\""
expect_logged '["invalid_token"]' '"token_error":"dpop_proof"'

proof dpop-store.pem "$front_url/deploy/run" --token "$t_store"
get "DPoP proof for another path" "$sync_url" -H "Authorization: DPoP $t_store" -H "DPoP: $proof"
expect_status 401
expect_challenge "${bad_proof}the DPoP proof is for '$front_url/deploy/run', the request for '$sync_url'\""
expect_logged '["invalid_token"]' '"token_error":"dpop_proof"' "the request for '$sync_url'"

proof dpop-other.pem "$sync_url" --token "$t_store"
get "DPoP proof signed by another key" "$sync_url" -H "Authorization: DPoP $t_store" -H "DPoP: $proof"
expect_status 401
expect_challenge "${bad_proof}the DPoP proof is signed by another key than the one the token is bound to (cnf jkt)\""
expect_logged '["invalid_token"]' '"token_error":"dpop_proof"' "signed by another key"

proof dpop-store.pem "$sync_url" --token "$t_good"
get "DPoP proof for another token" "$sync_url" -H "Authorization: DPoP $t_store" -H "DPoP: $proof"
expect_status 401
expect_challenge "${bad_proof}the DPoP proof's ath is not the hash of this access token\""
expect_logged '["invalid_token"]' '"token_error":"dpop_proof"' "ath is not the hash"

proof dpop-store.pem "$sync_url" --token "$t_store" --iat $(($(date +%s) - 600))
get "DPoP proof 10 minutes old" "$sync_url" -H "Authorization: DPoP $t_store" -H "DPoP: $proof"
expect_status 401
expect_challenge "${bad_proof}the DPoP proof was made more than 300s ago\""
expect_logged '["invalid_token"]' '"token_error":"dpop_proof"' "more than 300s ago"

# The DPoP scheme with a token bound to no DPoP key: the token is wrong,
# not the proof.
proof dpop-store.pem "$sync_url" --token "$t_nocnf"
get "DPoP scheme, unbound token" "$sync_url" -H "Authorization: DPoP $t_nocnf" -H "DPoP: $proof"
expect_status 401
expect_challenge "$dpop_algs, error=\"invalid_token\", error_description=\"the DPoP scheme needs a token bound to a DPoP key (cnf jkt); this one is not\""
expect_logged '["invalid_token"]' '"token_error":"dpop_proof"' "needs a token bound to a DPoP key"

proof dpop-store.pem "$sync_url" --token "$t_store"
p1=$proof
proof dpop-store.pem "$sync_url" --token "$t_store"
get "two DPoP headers" "$sync_url" -H "Authorization: DPoP $t_store" -H "DPoP: $p1" -H "DPoP: $proof"
expect_status 401
expect_challenge "${bad_proof}more than one DPoP header came\""
expect_logged '["invalid_token"]' '"token_error":"dpop_proof"' "more than one DPoP header"

# The scheme is the one nginx saw (X-Original-Proto): a client's
# X-Original-Proto or X-Forwarded-Proto does not make an http:// proof fit
# an https request, and over plain HTTP only an http:// proof fits.
http_sync_url=http://127.0.0.1:$front/deploy/sync
proof dpop-store.pem "$http_sync_url" --token "$t_store"
get "DPoP proof for http://" "$sync_url" -H "Authorization: DPoP $t_store" -H "DPoP: $proof" \
	-H "X-Original-Proto: http" -H "X-Forwarded-Proto: http"
expect_status 401
expect_challenge "${bad_proof}the DPoP proof is for '$http_sync_url', the request for '$sync_url'\""
expect_logged '["invalid_token"]' '"token_error":"dpop_proof"' "the request for '$sync_url'"

plain_sync_url=http://127.0.0.1:$plain/deploy/sync
proof dpop-store.pem "https://127.0.0.1:$plain/deploy/sync" --token "$t_store"
get "DPoP proof for https://, over http" "$plain_sync_url" \
	-H "Authorization: DPoP $t_store" -H "DPoP: $proof"
expect_status 401
expect_challenge "${bad_proof}the DPoP proof is for 'https://127.0.0.1:$plain/deploy/sync', the request for '$plain_sync_url'\""
expect_logged '["invalid_token"]' '"token_error":"dpop_proof"' "the request for '$plain_sync_url'"

proof dpop-store.pem "$plain_sync_url" --token "$t_store"
get "DPoP proof for http://, over http" "$plain_sync_url" \
	-H "Authorization: DPoP $t_store" -H "DPoP: $proof"
expect_status 200
expect_body "sub=store-bot wf=ci-deploy decision=allow"

# Straight to aalgate from a peer it does not trust, X-Original-Proto is
# refused like the other forwarded request headers.
get "X-Original-Proto from an untrusted peer" "$gate_url/deploy/sync" --interface 127.0.0.1 \
	-H "Authorization: DPoP $t_store" -H "DPoP: $proof" -H "X-Original-Proto: http"
expect_status 403
expect_logged '["bad_request"]' "not in trusted_proxies"

"$aalgate" nhi owner set bob --state "$work/state.db" --status offboarded \
	--decision-log "$work/decisions.jsonl" >owner.out 2>&1 ||
	fail "nhi owner set failed: $(cat owner.out)"
checks=$((checks + 1))
grep -q "owner 'bob' set: offboarded" owner.out || fail "nhi owner set said: $(cat owner.out)"
proof dpop-store.pem "$sync_url" --token "$t_store"
get "store client, owner offboarded" "$sync_url" -H "Authorization: DPoP $t_store" -H "DPoP: $proof"
expect_status 403
expect_challenge "${forbidden}client 'store-bot': its owner 'bob' is offboarded\""
expect_logged '["client"]' "client 'store-bot': its owner 'bob' is offboarded"

# 6. From outside the workflow's networks (the client is 127.0.0.1).
get "outside the networks" "$front_url/internal/run" $with_cert -H "Authorization: Bearer $t_good"
expect_status 403
expect_challenge "${forbidden}client address 127.0.0.1 is outside workflow 'ci-internal' networks\""
expect_logged '["network"]' '"ip":"127.0.0.1"'

# 7. A spoofed X-Forwarded-For: through nginx, which appends the real
# peer ...
get "spoofed X-Forwarded-For through nginx" "$front_url/internal/run" $with_cert \
	-H "Authorization: Bearer $t_good" -H "X-Forwarded-For: 10.20.0.5"
expect_status 403
expect_logged '["network"]' '"ip":"127.0.0.1"'
# ... and straight to aalgate from a peer it does not trust: the header is
# ignored and the real peer judged.
get "spoofed X-Forwarded-For from an untrusted peer" "$gate_url/internal/run" \
	--interface 127.0.0.1 -H "Authorization: Bearer $t_good" -H "X-Forwarded-For: 10.20.0.5"
expect_status 403
expect_challenge "${forbidden}client address 127.0.0.1 is outside workflow 'ci-internal' networks\""
expect_logged '["network"]' '"ip":"127.0.0.1"'
# The same header from the trusted proxy's address is believed, so the
# refusals above are the trust boundary at work.  (Its certificate header
# is believed too.)
cert_escaped=$(awk '{ printf "%s%%0A", $0 }' client.pem | sed 's/ /%20/g; s/+/%2B/g; s/\//%2F/g; s/=/%3D/g')
get "X-Forwarded-For from the trusted proxy" "$gate_url" --interface 127.0.0.3 \
	-H "Authorization: Bearer $t_good" -H "X-Original-URI: /internal/run" \
	-H "X-Original-Method: GET" -H "X-Forwarded-For: 10.20.0.5" \
	-H "X-Client-Cert: $cert_escaped"
expect_status 200
checks=$((checks + 1))
[ "$(hval X-Aalgate-Workflow)" = ci-internal ] || fail "$what: workflow $(hval X-Aalgate-Workflow)"

# 8. Bound tokens without a matching cnf: none at all; one for another
# certificate; the right one but another certificate presented; no
# certificate presented.
get "no cnf" "$front_url/deploy/run" $with_cert -H "Authorization: Bearer $t_nocnf"
expect_status 401
expect_challenge "${invalid}client 'ci-bot' holds a key-bound credential (mtls) and the token has no cnf claim\""
expect_logged '["credential"]' "the token has no cnf claim"

get "cnf for another certificate" "$front_url/deploy/run" $with_cert -H "Authorization: Bearer $t_othercnf"
expect_status 401
expect_challenge "${invalid}the token's cnf x5t#S256 is not the thumbprint of the client certificate presented\""
expect_logged '["credential"]' "is not the thumbprint of the client certificate presented"

get "cnf and certificate of another key" "$front_url/deploy/run" $with_other -H "Authorization: Bearer $t_othercnf"
expect_status 401
expect_challenge "${invalid}client 'ci-bot': the token's cnf is bound to another key than the one the inventory records\""
expect_logged '["credential"]' "another key than the one the inventory records"

get "another certificate presented" "$front_url/deploy/run" $with_other -H "Authorization: Bearer $t_good"
expect_status 401
expect_logged '["credential"]' "is not the thumbprint of the client certificate presented"

get "no certificate presented" "$front_url/deploy/run" -H "Authorization: Bearer $t_good"
expect_status 401
expect_challenge "${invalid}the token is bound to a client certificate (cnf x5t#S256) and no client certificate was passed (client_cert_header, from a trusted proxy)\""
expect_logged '["credential"]' "no client certificate was passed"

# A certificate header from an untrusted peer is ignored like the other
# forwarded headers.
get "certificate header from an untrusted peer" "$gate_url/deploy/run" \
	--interface 127.0.0.1 -H "Authorization: Bearer $t_good" -H "X-Client-Cert: $cert_escaped"
expect_status 401
expect_logged '["credential"]' "no client certificate was passed"

# 9. A missing scope.
get "no deploy scope" "$front_url/deploy/run" $with_cert -H "Authorization: Bearer $t_noscope"
expect_status 403
expect_challenge "Bearer error=\"insufficient_scope\", error_description=\"scope 'deploy' is required\", scope=\"deploy\""
expect_logged '["scope"]'

# ---- reload ----------------------------------------------------------------
count() { grep -c "$1" aalgate.err; }
wait_for() { # PATTERN N
	i=0
	while [ "$(count "$1")" -lt "$2" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ "$(count "$1")" -ge "$2" ]
}
# A broken inventory keeps the old one, and says why.
cp inventory.yaml inventory.good
printf 'identities:\n  - { id: x, kind: mtlss }\n' >inventory.yaml
kill -HUP "$gate_pid"
wait_for 'reload failed, keeping the current policy and inventory' 1 ||
	fail "SIGHUP with a broken inventory: no 'reload failed' message: $(tail -n 3 aalgate.err)"
checks=$((checks + 1))
grep -q "unknown kind 'mtlss'" aalgate.err || fail "the reload failure does not say why: $(tail -n 3 aalgate.err)"
get "correct token after a broken reload" "$front_url/deploy/run" $with_cert \
	-H "Authorization: Bearer $t_good"
expect_status 200
# olga comes back: old-bot (mtls, no thumbprint recorded) is allowed with
# its own certificate.
inventory active
kill -HUP "$gate_pid"
wait_for 'reloaded the inventory: 2 machine identities' 1 ||
	fail "SIGHUP with a good inventory: no 'reloaded' message: $(tail -n 3 aalgate.err)"
get "owner active again after a reload" "$front_url/deploy/run" $with_other \
	-H "Authorization: Bearer $t_offboarded"
expect_status 200
expect_body "sub=old-bot wf=ci-deploy decision=allow"

# The proofs, counted: exactly two replays were sent (the same proof
# again, and the one /v1/decide had taken), and some were taken and some
# refused.
get "metrics" "http://127.0.0.1:$gate_port/metrics"
expect_status 200
checks=$((checks + 1))
grep -qx 'aalgate_dpop_proofs_total{result="replayed"} 2' body ||
	fail "metrics: replayed proofs: $(grep dpop_proofs body)"
for r in ok refused; do
	checks=$((checks + 1))
	grep -q "^aalgate_dpop_proofs_total{result=\"$r\"} [1-9]" body ||
		fail "metrics: $r proofs: $(grep dpop_proofs body)"
done

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
# The store's changes are in it: the import and the offboarding.
checks=$((checks + 1))
grep -q '"type":"nhi_import"' decisions.jsonl || fail "no nhi_import record in the decision log"
checks=$((checks + 1))
grep -q '"type":"nhi_owner_set".*"owner":"bob","status":"offboarded"' decisions.jsonl ||
	fail "no nhi_owner_set record for bob in the decision log"
for t in good long store; do
	jwt=$(cat $t.jwt)
	sig=${jwt##*.}
	if grep -qF -- "$sig" decisions.jsonl; then
		fail "the decision log contains the $t token's signature"
	fi
done
checks=$((checks + 1))
if grep -qF -- "${first_proof##*.}" decisions.jsonl; then
	fail "the decision log contains a DPoP proof's signature"
fi


if [ "$failures" -gt 0 ]; then
	echo "nginx-machine: $failures of $checks checks failed"
	exit 1
fi
echo "nginx-machine: $checks checks passed (nginx $("$nginx" -v 2>&1 | sed 's/.*nginx\///'))"
exit 0
