/*
 * Machine workflows at the gate (docs/gate.md) over a real inventory and a
 * real state store behind the client hook (ag_gate_nhi_client): the
 * token's lifetime at the limit and one second over, unknown, expired,
 * disabled, retired, offboarded, unowned and other issuers' clients, the
 * credential kind the workflow allows, the cnf binding (none, another
 * key's, the recorded one), mutual TLS against the certificate a proxy
 * passes (made here with OpenSSL), the networks and scopes, each with
 * its status, reason and RFC 6750 challenge; and ag_cert_x5t's readings
 * of a certificate header.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "testutil.h"
#include "aalgate/gate.h"
#include "aalgate/govern.h"
#include "aalgate/nhi.h"

#define NOW 1800000000
#define ISS_A "https://idp.a"
#define ISS_B "https://idp.b"
#define JKT "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"

static const char policy_yaml[] =
	"workflows:\n"
	"  ci-deploy: { machine: true, max_token_lifetime: 1h,\n"
	"               credentials: [workload_identity, mtls],\n"
	"               networks: [10.20.0.0/16], scopes: [deploy] }\n"
	"  reports: { machine: true, credentials: [client_secret, api_key] }\n"
	"  any-machine: { machine: true }\n"
	"issuers:\n"
	"  - { iss: \"" ISS_A "\", audiences: [api], jwks_file: /x/a.json }\n"
	"  - { iss: \"" ISS_B "\", audiences: [api], jwks_file: /x/b.json }\n";

/* ---- certificates -------------------------------------------------------- */

struct cert {
	char *pem;     /* PEM text */
	char *escaped; /* URL-escaped, as nginx's $ssl_client_escaped_cert */
	char *b64;     /* the base64 body alone, on one line */
	char x5t[64];  /* base64url SHA-256 of the DER, computed here */
};

static void b64url(const unsigned char *in, size_t n, char *out)
{
	unsigned char tmp[64];
	int len = EVP_EncodeBlock(tmp, in, (int)n);
	size_t o = 0;
	for (int i = 0; i < len; i++) {
		if (tmp[i] == '=')
			break;
		out[o++] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_'
							 : (char)tmp[i];
	}
	out[o] = '\0';
}

static void cert_make(struct cert *c, const char *cn)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	assert_non_null(k);
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);

	unsigned char *der = NULL;
	int dlen = i2d_X509(x, &der);
	assert_true(dlen > 0);
	unsigned char md[32];
	unsigned mdlen = 0;
	assert_true(EVP_Digest(der, (size_t)dlen, md, &mdlen, EVP_sha256(),
			       NULL));
	b64url(md, mdlen, c->x5t);
	c->b64 = calloc(1, (size_t)dlen * 2 + 8);
	EVP_EncodeBlock((unsigned char *)c->b64, der, dlen);
	OPENSSL_free(der);

	BIO *b = BIO_new(BIO_s_mem());
	assert_true(PEM_write_bio_X509(b, x));
	char *data = NULL;
	long n = BIO_get_mem_data(b, &data);
	c->pem = strndup(data, (size_t)n);
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(k);

	/* Escaped as nginx does: everything but unreserved characters. */
	c->escaped = calloc(1, strlen(c->pem) * 3 + 1);
	size_t o = 0;
	for (const char *p = c->pem; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
		    ch == '_' || ch == '~')
			c->escaped[o++] = (char)ch;
		else
			o += (size_t)snprintf(c->escaped + o, 4, "%%%02X", ch);
	}
}

static void cert_free(struct cert *c)
{
	free(c->pem);
	free(c->escaped);
	free(c->b64);
}

/* ---- the fixture --------------------------------------------------------- */

struct fx {
	struct ag_policy *p;
	struct ag_gate *g;
	struct ag_nhi_inventory inv;
	struct ag_store *store; /* used when set */
	bool use_inv;
	struct ag_claims c;
	struct cert tls, other;
	char dir[256];
	bool no_proof; /* decide as if no DPoP proof was checked */
};

static bool hook(void *ctx, const char *iss, const char *client, int64_t now,
		 struct ag_gate_client *out, char *why, size_t why_len)
{
	struct fx *f = ctx;
	return ag_gate_nhi_client(f->p, f->use_inv ? &f->inv : NULL, f->store,
				  iss, client, now, out, why, why_len);
}

static void add(struct fx *f, const struct ag_nhi *r)
{
	struct ag_error err;
	ag_error_init(&err);
	if (ag_nhi_add(&f->inv, r, &err))
		fail_msg("add %s: %s", r->id, err.msg);
}

/* A record of ISS_A owned by alice. */
static struct ag_nhi rec(const char *id, const char *kind)
{
	struct ag_nhi r = {.id = (char *)id,
			   .kind = (char *)kind,
			   .issuer = (char *)ISS_A,
			   .owner = (char *)"alice",
			   .created = NOW - 86400,
			   .expires = NOW + 86400};
	return r;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct ag_error err;
	assert_non_null(f);
	f->p = policy_ok(policy_yaml);
	ag_error_init(&err);
	assert_int_equal(ag_gate_new(f->p, &f->g, &err), AG_OK);
	cert_make(&f->tls, "ci-bot");
	cert_make(&f->other, "someone-else");
	assert_int_equal(ag_nhi_inventory_init(&f->inv), AG_OK);

	struct ag_nhi_owner alice = {.id = (char *)"alice",
				     .status = AG_OWNER_ACTIVE};
	struct ag_nhi_owner olga = {.id = (char *)"olga",
				    .status = AG_OWNER_OFFBOARDED};
	assert_int_equal(ag_nhi_add_owner(&f->inv, &alice, NULL), AG_OK);
	assert_int_equal(ag_nhi_add_owner(&f->inv, &olga, NULL), AG_OK);
	struct ag_nhi r = rec("wl", "workload_identity");
	r.thumbprint = (char *)JKT;
	add(f, &r);
	r = rec("wl-free", "workload_identity");
	add(f, &r);
	r = rec("tls", "mtls");
	r.thumbprint = f->tls.x5t;
	add(f, &r);
	r = rec("tls-free", "mtls");
	add(f, &r);
	r = rec("secret", "client_secret");
	add(f, &r);
	r = rec("expired", "workload_identity");
	r.expires = NOW;
	add(f, &r);
	r = rec("disabled", "workload_identity");
	r.status = AG_NHI_DISABLED;
	add(f, &r);
	r = rec("retired", "workload_identity");
	r.status = AG_NHI_RETIRED;
	add(f, &r);
	r = rec("offboarded", "workload_identity");
	r.owner = (char *)"olga";
	add(f, &r);
	r = rec("orphan", "workload_identity");
	r.owner = (char *)"nobody";
	add(f, &r);
	r = rec("unowned", "workload_identity");
	r.owner = NULL;
	add(f, &r);
	r = rec("other", "workload_identity");
	r.issuer = (char *)ISS_B;
	add(f, &r);
	r = rec("anyiss", "workload_identity");
	r.issuer = NULL;
	add(f, &r);
	assert_int_equal(ag_nhi_resolve(&f->inv, f->p, &err), AG_OK);
	f->use_inv = true;

	ag_claims_init(&f->c);
	f->c.iss = strdup(ISS_A);
	f->c.sub = strdup("service-account-wl");
	f->c.azp = strdup("wl");
	f->c.scope = strdup("read deploy");
	f->c.iat = NOW - 10;
	f->c.has_iat = true;
	f->c.exp = NOW - 10 + 3600;
	f->c.has_exp = true;
	f->c.cnf = true;
	f->c.cnf_jkt = strdup(JKT);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	ag_claims_release(&f->c);
	ag_nhi_inventory_release(&f->inv);
	ag_store_close(f->store);
	if (f->dir[0]) {
		DIR *d = opendir(f->dir);
		struct dirent *e;
		char p[600];
		while (d && (e = readdir(d))) {
			snprintf(p, sizeof(p), "%s/%s", f->dir, e->d_name);
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				unlink(p);
		}
		if (d)
			closedir(d);
		rmdir(f->dir);
	}
	cert_free(&f->tls);
	cert_free(&f->other);
	ag_gate_free(f->g);
	ag_policy_free(f->p);
	free(f);
	return 0;
}

static void set_str(char **field, const char *v)
{
	free(*field);
	*field = v ? strdup(v) : NULL;
}

/* Decides the claims on workflow wf from an address in its network. */
static void decide(struct fx *f, const char *wf, const char *cert_x5t,
		   struct ag_decision *d)
{
	struct ag_gate_hooks h = {.ctx = f, .client = hook};
	struct ag_request r = {.workflow = wf,
			       .ip = "10.20.1.2",
			       .now = NOW,
			       .client_cert_x5t = cert_x5t,
			       .dpop_verified = !f->no_proof};
	ag_gate_decide(f->g, &h, NULL, &r, &f->c, AG_TOK_OK, d);
}

static void expect_deny(const struct ag_decision *d, int status,
			enum ag_reason reason, const char *detail,
			const char *www)
{
	assert_int_equal(d->outcome, AG_DENY);
	assert_int_equal(d->status, status);
	assert_int_equal(d->n_reasons, 1);
	assert_int_equal(d->reasons[0], reason);
	assert_string_equal(d->detail, detail);
	assert_string_equal(d->www_authenticate, www);
}

#define FORBIDDEN(desc) \
	"Bearer error=\"insufficient_scope\", error_description=\"" desc "\""
#define INVALID(desc) \
	"Bearer error=\"invalid_token\", error_description=\"" desc "\""

/* ---- lifetime ------------------------------------------------------------ */

static void test_lifetime_boundary(void **state)
{
	struct fx *f = *state;
	struct ag_decision d;

	/* Exactly max_token_lifetime: allowed. */
	f->c.exp = f->c.iat + 3600;
	decide(f, "ci-deploy", NULL, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	assert_int_equal(d.status, 200);
	/* One second over: refused. */
	f->c.exp = f->c.iat + 3601;
	decide(f, "ci-deploy", NULL, &d);
	expect_deny(&d, 401, AG_R_TOKEN_LIFETIME,
		    "token lifetime 3601s is over workflow 'ci-deploy' limit "
		    "of 1h",
		    INVALID("token lifetime 3601s is over workflow 'ci-deploy' "
			    "limit of 1h"));
	/* A 24 h token. */
	f->c.exp = f->c.iat + 86400;
	decide(f, "ci-deploy", NULL, &d);
	assert_int_equal(d.reasons[0], AG_R_TOKEN_LIFETIME);
	/* No iat: the lifetime cannot be held to anything. */
	f->c.exp = f->c.iat + 60;
	f->c.has_iat = false;
	decide(f, "ci-deploy", NULL, &d);
	expect_deny(&d, 401, AG_R_TOKEN_LIFETIME,
		    "token has no iat, so its lifetime cannot be held to 1h",
		    INVALID("token has no iat, so its lifetime cannot be held "
			    "to 1h"));
}

/* ---- the client ---------------------------------------------------------- */

static void client_refused(struct fx *f, const char *id, const char *why)
{
	struct ag_decision d;
	char detail[300], www[600];
	set_str(&f->c.azp, id);
	decide(f, "ci-deploy", NULL, &d);
	snprintf(detail, sizeof(detail), "client '%s': %s", id, why);
	snprintf(www, sizeof(www), FORBIDDEN("%s"), detail);
	expect_deny(&d, 403, AG_R_CLIENT, detail, www);
}

static void test_client(void **state)
{
	struct fx *f = *state;
	struct ag_decision d;

	client_refused(f, "stranger", "not in the machine inventory");
	client_refused(f, "expired", "its credential expired");
	client_refused(f, "disabled", "it is disabled in the inventory");
	client_refused(f, "retired", "it is retired in the inventory");
	client_refused(f, "offboarded", "its owner 'olga' is offboarded");
	client_refused(f, "orphan", "its owner 'nobody' is unknown");
	client_refused(f, "unowned", "it has no owner");
	/* A record of another issuer is not this client. */
	client_refused(f, "other", "not in the machine inventory");
	/* With two issuers, a record that names none is refused. */
	client_refused(f, "anyiss",
		       "its inventory record names no issuer and the policy "
		       "trusts 2");
	/* The same record for its own issuer is fine. */
	set_str(&f->c.azp, "other");
	set_str(&f->c.iss, ISS_B);
	decide(f, "ci-deploy", NULL, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	/* Never the subject: a token that names no client (no azp, no
	 * client_id) is refused even when its sub is an inventory id. */
	set_str(&f->c.iss, ISS_A);
	set_str(&f->c.azp, NULL);
	set_str(&f->c.sub, "wl-free");
	decide(f, "ci-deploy", NULL, &d);
	expect_deny(&d, 403, AG_R_CLIENT,
		    "token names no client (azp or client_id)",
		    FORBIDDEN("token names no client (azp or client_id)"));
	set_str(&f->c.azp, "wl-free");
	decide(f, "ci-deploy", NULL, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	/* No inventory at all. */
	f->use_inv = false;
	decide(f, "ci-deploy", NULL, &d);
	expect_deny(&d, 403, AG_R_CLIENT,
		    "client 'wl-free': no machine inventory is loaded",
		    FORBIDDEN("client 'wl-free': no machine inventory is "
			      "loaded"));
	struct ag_request r = {.workflow = "ci-deploy", .ip = "10.20.1.2",
			       .now = NOW, .dpop_verified = true};
	ag_gate_decide(f->g, NULL, NULL, &r, &f->c, AG_TOK_OK, &d);
	expect_deny(&d, 403, AG_R_CLIENT,
		    "client 'wl-free' cannot be checked: no machine inventory "
		    "is loaded",
		    FORBIDDEN("client 'wl-free' cannot be checked: no machine "
			      "inventory is loaded"));
}

/* ---- the credential kind and its binding ---------------------------------- */

static void test_kind(void **state)
{
	struct fx *f = *state;
	struct ag_decision d;

	/* A client secret on a workflow that takes key-bound credentials
	 * only. */
	set_str(&f->c.azp, "secret");
	decide(f, "ci-deploy", NULL, &d);
	expect_deny(&d, 403, AG_R_CREDENTIAL,
		    "client 'secret' holds a client_secret credential; "
		    "workflow 'ci-deploy' takes workload_identity, mtls",
		    FORBIDDEN("client 'secret' holds a client_secret "
			      "credential; workflow 'ci-deploy' takes "
			      "workload_identity, mtls"));
	/* Where the workflow takes it, a bearer secret needs no cnf. */
	f->c.cnf = false;
	set_str(&f->c.cnf_jkt, NULL);
	decide(f, "reports", NULL, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	/* A workload identity is not among reports' credentials. */
	set_str(&f->c.azp, "wl-free");
	decide(f, "reports", NULL, &d);
	assert_int_equal(d.reasons[0], AG_R_CREDENTIAL);
	assert_int_equal(d.status, 403);
	/* A workflow that lists no credentials takes any kind, but a
	 * key-bound one still has to show its binding. */
	decide(f, "any-machine", NULL, &d);
	expect_deny(&d, 401, AG_R_CREDENTIAL,
		    "client 'wl-free' holds a key-bound credential "
		    "(workload_identity) and the token has no cnf claim",
		    INVALID("client 'wl-free' holds a key-bound credential "
			    "(workload_identity) and the token has no cnf "
			    "claim"));
}

static void test_cnf(void **state)
{
	struct fx *f = *state;
	struct ag_decision d;

	/* The recorded key. */
	decide(f, "ci-deploy", NULL, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	/* No cnf at all. */
	f->c.cnf = false;
	set_str(&f->c.cnf_jkt, NULL);
	decide(f, "ci-deploy", NULL, &d);
	expect_deny(&d, 401, AG_R_CREDENTIAL,
		    "client 'wl' holds a key-bound credential "
		    "(workload_identity) and the token has no cnf claim",
		    INVALID("client 'wl' holds a key-bound credential "
			    "(workload_identity) and the token has no cnf "
			    "claim"));
	/* Another key's thumbprint. */
	f->c.cnf = true;
	set_str(&f->c.cnf_jkt, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	decide(f, "ci-deploy", NULL, &d);
	expect_deny(&d, 401, AG_R_CREDENTIAL,
		    "client 'wl': the token's cnf is bound to another key "
		    "than the one the inventory records",
		    INVALID("client 'wl': the token's cnf is bound to another "
			    "key than the one the inventory records"));
	/* A cnf with only a jwk cannot be compared: refused. */
	set_str(&f->c.cnf_jkt, NULL);
	decide(f, "ci-deploy", NULL, &d);
	assert_int_equal(d.reasons[0], AG_R_CREDENTIAL);
	assert_int_equal(d.status, 401);
	assert_string_equal(d.detail, "the token's cnf binds it to a key in "
				      "a form the gate cannot check (only jkt "
				      "and x5t#S256)");
	/* Nothing recorded: any cnf shows a binding. */
	set_str(&f->c.azp, "wl-free");
	set_str(&f->c.cnf_jkt, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	decide(f, "ci-deploy", NULL, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	/* The binding means nothing without the proof of possession: the
	 * same tokens, with no DPoP proof checked for the request, are
	 * refused (RFC 9449 §7.1), recorded key or not. */
	f->no_proof = true;
	decide(f, "ci-deploy", NULL, &d);
	expect_deny(&d, 401, AG_R_CREDENTIAL,
		    "the token is bound to a DPoP key (cnf jkt) and no valid "
		    "DPoP proof for this request came with it",
		    "DPoP error=\"invalid_token\", error_description=\"the "
		    "token is bound to a DPoP key (cnf jkt) and no valid DPoP "
		    "proof for this request came with it\"");
	set_str(&f->c.azp, "wl");
	set_str(&f->c.cnf_jkt, JKT);
	decide(f, "ci-deploy", NULL, &d);
	assert_int_equal(d.outcome, AG_DENY);
	assert_int_equal(d.reasons[0], AG_R_CREDENTIAL);
	f->no_proof = false;
	decide(f, "ci-deploy", NULL, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
}

static void test_mtls(void **state)
{
	struct fx *f = *state;
	struct ag_decision d;
	char x5t[64], why[160];

	/* The proxy's header, read as the server reads it. */
	assert_true(ag_cert_x5t(f->tls.escaped, x5t, sizeof(x5t), why,
				sizeof(why)));
	assert_string_equal(x5t, f->tls.x5t);
	set_str(&f->c.azp, "tls");
	set_str(&f->c.cnf_jkt, NULL);
	set_str(&f->c.cnf_x5t, f->tls.x5t);
	/* cnf, the certificate presented and the record agree. */
	decide(f, "ci-deploy", x5t, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	assert_int_equal(d.status, 200);
	/* Another certificate presented. */
	char other[64];
	assert_true(ag_cert_x5t(f->other.escaped, other, sizeof(other), why,
				sizeof(why)));
	assert_string_not_equal(other, x5t);
	decide(f, "ci-deploy", other, &d);
	expect_deny(&d, 401, AG_R_CREDENTIAL,
		    "the token's cnf x5t#S256 is not the thumbprint of the "
		    "client certificate presented",
		    INVALID("the token's cnf x5t#S256 is not the thumbprint of "
			    "the client certificate presented"));
	/* No certificate passed. */
	decide(f, "ci-deploy", NULL, &d);
	expect_deny(&d, 401, AG_R_CREDENTIAL,
		    "the token is bound to a client certificate (cnf "
		    "x5t#S256) and no client certificate was passed "
		    "(client_cert_header, from a trusted proxy)",
		    INVALID("the token is bound to a client certificate (cnf "
			    "x5t#S256) and no client certificate was passed "
			    "(client_cert_header, from a trusted proxy)"));
	/* One that could not be read says why. */
	struct ag_gate_hooks h = {.ctx = f, .client = hook};
	struct ag_request r = {.workflow = "ci-deploy",
			       .ip = "10.20.1.2",
			       .now = NOW,
			       .client_cert_problem =
				       "the client certificate is not base64"};
	ag_gate_decide(f->g, &h, NULL, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.reasons[0], AG_R_CREDENTIAL);
	assert_string_equal(d.detail, "the token is bound to a client "
				      "certificate (cnf x5t#S256) and no "
				      "client certificate was passed: the "
				      "client certificate is not base64");
	/* A cnf for another certificate, presented with that certificate:
	 * the token matches the TLS session but not the recorded key. */
	set_str(&f->c.cnf_x5t, other);
	decide(f, "ci-deploy", other, &d);
	expect_deny(&d, 401, AG_R_CREDENTIAL,
		    "client 'tls': the token's cnf is bound to another key "
		    "than the one the inventory records",
		    INVALID("client 'tls': the token's cnf is bound to another "
			    "key than the one the inventory records"));
	/* With nothing recorded, the certificate presented decides. */
	set_str(&f->c.azp, "tls-free");
	decide(f, "ci-deploy", other, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	decide(f, "ci-deploy", x5t, &d);
	assert_int_equal(d.reasons[0], AG_R_CREDENTIAL);
	/* mtls needs x5t#S256 in cnf: a jkt is a DPoP key, not the TLS
	 * certificate. */
	set_str(&f->c.cnf_x5t, NULL);
	set_str(&f->c.cnf_jkt, other);
	decide(f, "ci-deploy", other, &d);
	expect_deny(&d, 401, AG_R_CREDENTIAL,
		    "client 'tls-free' uses mtls and the token's cnf has no "
		    "x5t#S256",
		    INVALID("client 'tls-free' uses mtls and the token's cnf "
			    "has no x5t#S256"));
}

/* ---- networks and scopes --------------------------------------------------- */

static void test_network_and_scope(void **state)
{
	struct fx *f = *state;
	struct ag_decision d;
	struct ag_gate_hooks h = {.ctx = f, .client = hook};

	struct ag_request r = {.workflow = "ci-deploy", .ip = "192.0.2.7",
			       .now = NOW, .dpop_verified = true};
	ag_gate_decide(f->g, &h, NULL, &r, &f->c, AG_TOK_OK, &d);
	expect_deny(&d, 403, AG_R_NETWORK,
		    "client address 192.0.2.7 is outside workflow 'ci-deploy' "
		    "networks",
		    FORBIDDEN("client address 192.0.2.7 is outside workflow "
			      "'ci-deploy' networks"));
	r.ip = NULL;
	ag_gate_decide(f->g, &h, NULL, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.reasons[0], AG_R_NETWORK);
	set_str(&f->c.scope, "read");
	decide(f, "ci-deploy", NULL, &d);
	expect_deny(&d, 403, AG_R_SCOPE, "scope 'deploy' is required",
		    "Bearer error=\"insufficient_scope\", error_description="
		    "\"scope 'deploy' is required\", scope=\"deploy\"");
}

/* ---- the state store behind the hook -------------------------------------- */

static void test_store_source(void **state)
{
	struct fx *f = *state;
	struct ag_decision d;
	struct ag_error err;
	char db[300];

	snprintf(f->dir, sizeof(f->dir), "/tmp/ag-decide-machine-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(db, sizeof(db), "%s/state.db", f->dir);
	ag_error_init(&err);
	assert_int_equal(ag_store_open(db, NULL, &f->store, &err), AG_OK);
	assert_int_equal(ag_store_nhi_import(f->store, &f->inv, NOW, NULL,
					     &err),
			 AG_OK);

	/* The store alone. */
	f->use_inv = false;
	decide(f, "ci-deploy", NULL, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	set_str(&f->c.azp, "offboarded");
	decide(f, "ci-deploy", NULL, &d);
	expect_deny(&d, 403, AG_R_CLIENT,
		    "client 'offboarded': its owner 'olga' is offboarded",
		    FORBIDDEN("client 'offboarded': its owner 'olga' is "
			      "offboarded"));
	/* Offboarding alice in the store takes effect at once. */
	set_str(&f->c.azp, "wl");
	assert_int_equal(ag_store_nhi_owner_set(f->store, "alice",
						AG_OWNER_OFFBOARDED, NULL,
						NOW, NULL, &err),
			 AG_OK);
	decide(f, "ci-deploy", NULL, &d);
	expect_deny(&d, 403, AG_R_CLIENT,
		    "client 'wl': its owner 'alice' is offboarded",
		    FORBIDDEN("client 'wl': its owner 'alice' is offboarded"));
	/* The file still says alice is active: both sources must accept. */
	f->use_inv = true;
	decide(f, "ci-deploy", NULL, &d);
	assert_int_equal(d.reasons[0], AG_R_CLIENT);
	assert_int_equal(d.status, 403);
	/* A client only the file holds is judged by the file. */
	struct ag_nhi r = rec("file-only", "workload_identity");
	add(f, &r);
	assert_int_equal(ag_nhi_resolve(&f->inv, f->p, &err), AG_OK);
	set_str(&f->c.azp, "file-only");
	set_str(&f->c.cnf_jkt, JKT);
	decide(f, "ci-deploy", NULL, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	/* A store that cannot be read denies, as an internal error: a
	 * hand-edited status, through SQLite directly (the store's own
	 * connections refuse to write one). */
	sqlite3 *h = NULL;
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h,
				      "PRAGMA ignore_check_constraints = 1; "
				      "UPDATE nhi_records SET status = 'lost' "
				      "WHERE id = 'wl'",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(h);
	set_str(&f->c.azp, "wl");
	decide(f, "ci-deploy", NULL, &d);
	assert_int_equal(d.outcome, AG_DENY);
	assert_int_equal(d.status, 403);
	assert_int_equal(d.reasons[0], AG_R_INTERNAL);
	char want[600];
	snprintf(want, sizeof(want),
		 "client 'wl': the state store cannot be read: %.100s",
		 db);
	assert_memory_equal(d.detail, want, strlen(want));
	assert_non_null(strstr(d.www_authenticate,
			       "Bearer error=\"insufficient_scope\""));
}

/* ---- the certificate header ------------------------------------------------ */

static void test_cert_header(void **state)
{
	struct fx *f = *state;
	char x5t[64], why[160];

	/* Plain PEM, with its line breaks as the header may carry them. */
	assert_true(ag_cert_x5t(f->tls.pem, x5t, sizeof(x5t), why,
				sizeof(why)));
	assert_string_equal(x5t, f->tls.x5t);
	char *spaced = strdup(f->tls.pem);
	for (char *p = spaced; *p; p++)
		if (*p == '\n')
			*p = ' ';
	assert_true(ag_cert_x5t(spaced, x5t, sizeof(x5t), why, sizeof(why)));
	assert_string_equal(x5t, f->tls.x5t);
	free(spaced);
	/* The base64 DER alone (Traefik's form). */
	assert_true(ag_cert_x5t(f->tls.b64, x5t, sizeof(x5t), why,
				sizeof(why)));
	assert_string_equal(x5t, f->tls.x5t);
	assert_int_equal(strlen(x5t), 43);

	/* Refusals. */
	assert_false(ag_cert_x5t("", x5t, sizeof(x5t), why, sizeof(why)));
	assert_string_equal(why, "the client certificate header is empty");
	assert_string_equal(x5t, "");
	assert_false(ag_cert_x5t("%zz", x5t, sizeof(x5t), why, sizeof(why)));
	assert_string_equal(why, "the client certificate header has a bad % "
				 "escape");
	assert_false(ag_cert_x5t("not a certificate", x5t, sizeof(x5t), why,
				 sizeof(why)));
	assert_string_equal(why, "the client certificate is not base64");
	assert_false(ag_cert_x5t("AAAA", x5t, sizeof(x5t), why, sizeof(why)));
	assert_string_equal(why, "the client certificate is not one X.509 "
				 "certificate");
	/* Two certificates: which one would the thumbprint be of? */
	size_t n = strlen(f->tls.pem) + strlen(f->other.pem) + 1;
	char *two = calloc(1, n);
	snprintf(two, n, "%s%s", f->tls.pem, f->other.pem);
	assert_false(ag_cert_x5t(two, x5t, sizeof(x5t), why, sizeof(why)));
	assert_string_equal(why, "text after the client certificate");
	free(two);
	/* Cut short. */
	char *cut = strdup(f->tls.pem);
	cut[strlen(cut) / 2] = '\0';
	assert_false(ag_cert_x5t(cut, x5t, sizeof(x5t), why, sizeof(why)));
	assert_string_equal(why, "the client certificate has no END "
				 "CERTIFICATE line");
	free(cut);
	/* BEGIN and END sharing their dashes: END would come before the
	 * body (found by fuzz_decide, a huge allocation before the fix). */
	assert_false(ag_cert_x5t("-----BEGIN%20CERTIFICATE------END%20"
				 "CERTIFICATE-----%0A",
				 x5t, sizeof(x5t), why, sizeof(why)));
	assert_string_equal(why, "the client certificate has no END "
				 "CERTIFICATE line");
	assert_false(ag_cert_x5t("-----BEGIN CERTIFICATE-----END "
				 "CERTIFICATE-----",
				 x5t, sizeof(x5t), why, sizeof(why)));
	assert_string_equal(why, "the client certificate has no END "
				 "CERTIFICATE line");
	assert_false(ag_cert_x5t("-----BEGIN CERTIFICATE----------END "
				 "CERTIFICATE-----",
				 x5t, sizeof(x5t), why, sizeof(why)));
	assert_string_equal(why, "the client certificate is not base64");
	/* A byte changed inside: another certificate, or none at all. */
	char *bent = strdup(f->tls.b64);
	bent[40] = bent[40] == 'A' ? 'B' : 'A';
	if (ag_cert_x5t(bent, x5t, sizeof(x5t), why, sizeof(why)))
		assert_string_not_equal(x5t, f->tls.x5t);
	free(bent);
	/* Too long. */
	char *huge = malloc(AG_CERT_HEADER_MAX + 2);
	memset(huge, 'A', AG_CERT_HEADER_MAX + 1);
	huge[AG_CERT_HEADER_MAX + 1] = '\0';
	assert_false(ag_cert_x5t(huge, x5t, sizeof(x5t), why, sizeof(why)));
	assert_string_equal(why, "the client certificate header is longer "
				 "than 16384 bytes");
	free(huge);
}

/* ---- claims: cnf's thumbprints ----------------------------------------------- */

static void test_cnf_claims(void **state)
{
	struct ag_claims c, copy;
	(void)state;
	const char *json = "{\"sub\":\"x\",\"cnf\":{\"x5t#S256\":\"abc\","
			   "\"jkt\":\"def\"}}";
	assert_int_equal(ag_claims_parse(json, strlen(json), NULL, &c),
			 AG_TOK_OK);
	assert_true(c.cnf);
	assert_string_equal(c.cnf_x5t, "abc");
	assert_string_equal(c.cnf_jkt, "def");
	assert_int_equal(ag_claims_copy(&copy, &c), AG_OK);
	assert_string_equal(copy.cnf_x5t, "abc");
	assert_ptr_not_equal(copy.cnf_x5t, c.cnf_x5t);
	ag_claims_release(&copy);
	ag_claims_release(&c);
	json = "{\"cnf\":{\"jwk\":{\"kty\":\"EC\"}}}";
	assert_int_equal(ag_claims_parse(json, strlen(json), NULL, &c),
			 AG_TOK_OK);
	assert_true(c.cnf);
	assert_null(c.cnf_x5t);
	assert_null(c.cnf_jkt);
	ag_claims_release(&c);
	/* Another confirmation method (RFC 7800 §3.4 kid, or jku), or an
	 * empty cnf: bound all the same, to something the gate cannot
	 * check, and so refused by the decision, never a bearer token. */
	static const char *const other[] = {
		"{\"cnf\":{\"kid\":\"k1\"}}",
		"{\"cnf\":{\"jku\":\"https://x/jwks\"}}", "{\"cnf\":{}}"};
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		assert_int_equal(ag_claims_parse(other[i], strlen(other[i]),
						 NULL, &c),
				 AG_TOK_OK);
		assert_true(c.cnf);
		assert_null(c.cnf_jkt);
		assert_null(c.cnf_x5t);
		ag_claims_release(&c);
	}
	json = "{\"cnf\":{\"x5t#S256\":7}}";
	assert_int_equal(ag_claims_parse(json, strlen(json), NULL, &c),
			 AG_TOK_CLAIMS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lifetime_boundary, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cnf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mtls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_network_and_scope, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store_source, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cert_header, setup,
						teardown),
		cmocka_unit_test(test_cnf_claims),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
