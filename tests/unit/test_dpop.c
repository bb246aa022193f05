/*
 * DPoP proofs of possession (RFC 9449): the RFC 7638 thumbprint, proofs
 * signed by keys made with `openssl genpkey` for every algorithm, and an
 * attack suite where each proof must be refused with one exact reason:
 * alg none and HMAC, a private key in the header, a signature by another
 * key, a key other than the token's, another method, URL or token, old
 * and future proofs at their boundaries, replays, and a replay set too
 * full to tell (which refuses, never forgets).
 *
 * Proofs are made by ag-testsign (tests/tools), found through the
 * AG_TESTSIGN environment variable that the build sets.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "testutil.h"
#include "aalgate/gate.h"
#include "gate/dpop.h"
#include "gate/jose-int.h"
#include "siphash.h"
#include "util.h"

#define NOW 1700000000
#define TOKEN "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
#define URL "https://api.example.com/orders/7"

static char dir[200];
static const char *tool;
static char *jkt_p256; /* ag-testsign's thumbprint of p256.pem */

/* ---- helpers ----------------------------------------------------------- */

static const char *P(const char *name)
{
	static char bufs[8][320];
	static int next;
	char *b = bufs[next++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

/* Runs argv with stdin from the file in (NULL: /dev/null) and returns its
 * stdout without the last newline. */
static char *capture_in(char *const argv[], const char *in)
{
	int fds[2];

	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(in ? in : "/dev/null", O_RDONLY);
		if (fd < 0 || dup2(fd, 0) < 0 || dup2(fds[1], 1) < 0)
			_exit(126);
		close(fds[0]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	size_t cap = 1 << 22, n = 0;
	char *out = malloc(cap);
	assert_non_null(out);
	ssize_t r;
	while ((r = read(fds[0], out + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	close(fds[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail_msg("%s %s failed", argv[0], argv[1]);
	while (n && out[n - 1] == '\n')
		n--;
	out[n] = '\0';
	return out;
}

static char *capture(char *const argv[])
{
	return capture_in(argv, NULL);
}

/* A proof options: NULL fields take the defaults. */
struct opt {
	const char *key;   /* a file in dir; p256.pem */
	const char *alg;   /* ES256 */
	const char *htm;   /* GET */
	const char *htu;   /* URL */
	const char *token; /* TOKEN; "" for none */
	long iat;          /* NOW when 0 */
	const char *jti;   /* random when NULL */
	const char *header; /* merged into the header */
	const char *count; /* proofs, one per line */
};

static char *proof(struct opt o)
{
	char iat[32], key[320];
	char *argv[24];
	int n = 0;

	snprintf(key, sizeof(key), "%s", P(o.key ? o.key : "p256.pem"));
	snprintf(iat, sizeof(iat), "%ld", o.iat ? o.iat : (long)NOW);
	argv[n++] = (char *)tool;
	argv[n++] = "dpop";
	argv[n++] = "--key";
	argv[n++] = key;
	argv[n++] = "--alg";
	argv[n++] = (char *)(o.alg ? o.alg : "ES256");
	argv[n++] = "--htm";
	argv[n++] = (char *)(o.htm ? o.htm : "GET");
	argv[n++] = "--htu";
	argv[n++] = (char *)(o.htu ? o.htu : URL);
	argv[n++] = "--iat";
	argv[n++] = iat;
	if (!o.token || *o.token) {
		argv[n++] = "--token";
		argv[n++] = (char *)(o.token ? o.token : TOKEN);
	}
	if (o.jti) {
		argv[n++] = "--jti";
		argv[n++] = (char *)o.jti;
	}
	if (o.header) {
		argv[n++] = "--header";
		argv[n++] = (char *)o.header;
	}
	if (o.count) {
		argv[n++] = "--count";
		argv[n++] = (char *)o.count;
	}
	argv[n] = NULL;
	return capture(argv);
}

static char *jkt_of(const char *key)
{
	char path[320];
	snprintf(path, sizeof(path), "%s", P(key));
	char *argv[] = {(char *)tool, "jkt", path, NULL};
	return capture(argv);
}

/* The public JWK of key, as ag-testsign writes it (kid "k"). */
static json_t *jwk_of(const char *key)
{
	char arg[400];
	snprintf(arg, sizeof(arg), "k=%s", P(key));
	char *argv[] = {(char *)tool, "jwks", arg, NULL};
	char *text = capture(argv);
	json_t *set = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(set);
	json_t *k = json_incref(json_array_get(json_object_get(set, "keys"), 0));
	json_decref(set);
	assert_non_null(k);
	json_object_del(k, "kid");
	json_object_del(k, "use");
	return k;
}

/* Checks proof p against the default request at now, with replay set r. */
static enum ag_token_error check_at(struct ag_dpop_replay *r, const char *p,
				    const char *jkt, int64_t now, char *why,
				    size_t len)
{
	struct ag_dpop_check c = {.proof = p,
				  .method = "GET",
				  .scheme = "https",
				  .host = "api.example.com",
				  .uri = "/orders/7?page=2",
				  .token = TOKEN,
				  .jkt = jkt,
				  .now = now,
				  .max_age = 300};
	return ag_dpop_verify(r, &c, why, len);
}

/* Checks proof p (freed) against a GET of host and uri over https; *why
 * holds the reason. */
static enum ag_token_error at_host(char *p, const char *host, const char *uri,
				   char *why, size_t len)
{
	struct ag_dpop_check c = {.proof = p,
				  .method = "GET",
				  .scheme = "https",
				  .host = host,
				  .uri = uri,
				  .token = TOKEN,
				  .jkt = jkt_p256,
				  .now = NOW,
				  .max_age = 300};
	enum ag_token_error e = ag_dpop_verify(NULL, &c, why, len);
	free(p);
	return e;
}

static void ok(char *p)
{
	char why[256] = "";
	enum ag_token_error e = check_at(NULL, p, jkt_p256, NOW, why,
					 sizeof(why));
	if (e != AG_TOK_OK)
		fail_msg("refused: %s", why);
	free(p);
}

/* The proof is refused, and why says exactly want. */
static void refused(char *p, const char *want)
{
	char why[256] = "";
	assert_int_equal(check_at(NULL, p, jkt_p256, NOW, why, sizeof(why)),
			 AG_TOK_DPOP);
	assert_string_equal(why, want);
	free(p);
}

static int setup(void **state)
{
	(void)state;
	const char *tmp = getenv("TMPDIR");
	char cmd[2048];

	tool = getenv("AG_TESTSIGN");
	if (!tool || access(tool, X_OK)) {
		fprintf(stderr, "AG_TESTSIGN must name the ag-testsign tool\n");
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s/ag-dpop-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "cd %s && "
		 "openssl genpkey -algorithm EC -pkeyopt "
		 "ec_paramgen_curve:P-256 -out p256.pem 2>/dev/null && "
		 "openssl genpkey -algorithm EC -pkeyopt "
		 "ec_paramgen_curve:P-256 -out other.pem 2>/dev/null && "
		 "openssl genpkey -algorithm EC -pkeyopt "
		 "ec_paramgen_curve:P-384 -out p384.pem 2>/dev/null && "
		 "openssl genpkey -algorithm ED25519 -out ed.pem && "
		 "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
		 "-out rsa.pem 2>/dev/null && "
		 "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 "
		 "-out rsa1024.pem 2>/dev/null",
		 dir);
	if (system(cmd) != 0)
		return -1;
	jkt_p256 = jkt_of("p256.pem");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	free(jkt_p256);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- thumbprints and hashing -------------------------------------------- */

/* RFC 7638 §3.1: the example key (RFC 7517 A.1) and its thumbprint; the
 * members outside the required set do not count. */
static void test_thumbprint_rfc7638(void **state)
{
	(void)state;
	static const char key[] =
		"{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXE"
		"ps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPe"
		"bWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN"
		"5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d"
		"0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6"
		"WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8"
		"awapJzKnqDKgw\",\"e\":\"AQAB\",\"alg\":\"RS256\","
		"\"kid\":\"2011-04-29\"}";
	json_t *o = json_loads(key, 0, NULL);
	char out[64];

	assert_non_null(o);
	assert_int_equal(ag_jwk_thumbprint(o, out, sizeof(out)), AG_OK);
	assert_string_equal(out, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	/* A required member missing, or a value that would need escaping. */
	json_object_del(o, "e");
	assert_int_equal(ag_jwk_thumbprint(o, out, sizeof(out)),
			 AG_ERR_INVALID);
	json_object_set_new(o, "e", json_string("AQ\"AB"));
	assert_int_equal(ag_jwk_thumbprint(o, out, sizeof(out)),
			 AG_ERR_INVALID);
	json_decref(o);

	/* Ours and ag-testsign's (jansson's sorted output) agree on every
	 * key type. */
	static const char *const keys[] = {"p256.pem", "p384.pem", "ed.pem",
					   "rsa.pem"};
	for (size_t i = 0; i < AG_ARRAY_SIZE(keys); i++) {
		json_t *k = jwk_of(keys[i]);
		char *want = jkt_of(keys[i]);
		assert_int_equal(ag_jwk_thumbprint(k, out, sizeof(out)), AG_OK);
		assert_string_equal(out, want);
		free(want);
		json_decref(k);
	}
}

/* The replay set's hash is SipHash-2-4: the reference vector of the
 * paper (key 00..0f, message 00..0e), and 1-3 differs. */
static void test_siphash_vector(void **state)
{
	(void)state;
	uint64_t key[2] = {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
	unsigned char msg[15];

	for (unsigned i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)i;
	assert_true(ag_siphash(key, msg, sizeof(msg), 2, 4) ==
		    0xa129ca6149be45e5ULL);
	assert_true(ag_siphash(key, msg, sizeof(msg), 1, 3) !=
		    0xa129ca6149be45e5ULL);
	/* The empty message (vector 0 of the reference set). */
	assert_true(ag_siphash(key, msg, 0, 2, 4) == 0x726fdb47dd0e0e31ULL);
}

/* ---- good proofs --------------------------------------------------------- */

static void test_good_proofs(void **state)
{
	(void)state;
	char why[256];

	ok(proof((struct opt){0}));
	/* Every algorithm, each with its own key as the token's. */
	static const struct {
		const char *key, *alg;
	} k[] = {{"p384.pem", "ES384"}, {"ed.pem", "EdDSA"},
		 {"rsa.pem", "PS256"},  {"rsa.pem", "RS256"},
		 {"rsa.pem", "RS512"}};
	for (size_t i = 0; i < AG_ARRAY_SIZE(k); i++) {
		char *jkt = jkt_of(k[i].key);
		char *p = proof((struct opt){.key = k[i].key, .alg = k[i].alg});
		why[0] = '\0';
		if (check_at(NULL, p, jkt, NOW, why, sizeof(why)))
			fail_msg("%s: %s", k[i].alg, why);
		free(p);
		free(jkt);
	}
	/* The same URL written differently (RFC 3986 §6.2.2, §6.2.3): case
	 * of scheme and host, the default port, query and fragment. */
	ok(proof((struct opt){.htu = "HTTPS://API.Example.COM:443/orders/7"
				     "?page=1#top"}));
	ok(proof((struct opt){.htu = "https://api.example.com/orders//7"}));
}

/* ---- refusals ------------------------------------------------------------ */

static void test_refused_header(void **state)
{
	(void)state;
	refused(proof((struct opt){.header = "{\"typ\":\"JWT\"}"}),
		"the DPoP proof's typ is not \"dpop+jwt\"");
	refused(proof((struct opt){.header = "{\"typ\":null}"}),
		"the DPoP proof's typ is not \"dpop+jwt\"");
	/* A typ is a media type: its case does not matter. */
	ok(proof((struct opt){.header = "{\"typ\":\"DPoP+JWT\"}"}));
	refused(proof((struct opt){.header = "{\"alg\":\"none\"}"}),
		"the DPoP proof's alg 'none' is not an asymmetric algorithm "
		"we verify");
	refused(proof((struct opt){.header = "{\"alg\":\"HS256\"}"}),
		"the DPoP proof's alg 'HS256' is not an asymmetric algorithm "
		"we verify");
	refused(proof((struct opt){.header = "{\"alg\":\"ES512\"}"}),
		"the DPoP proof's alg 'ES512' is not an asymmetric algorithm "
		"we verify");
	refused(proof((struct opt){.header = "{\"crit\":[\"x\"]}"}),
		"the DPoP proof has a crit header");
	refused(proof((struct opt){.header = "{\"jwk\":null}"}),
		"the DPoP proof has no jwk header");
	refused(proof((struct opt){.header = "{\"jwk\":{\"kty\":\"oct\","
					     "\"k\":\"c2VjcmV0\"}}"}),
		"the DPoP proof's jwk: carries the private parameter 'k'");

	/* The private key in the header: refused, whatever it signs. */
	json_t *jwk = jwk_of("p256.pem");
	json_object_set_new(jwk, "d", json_string("AAAA"));
	json_t *h = json_pack("{sO}", "jwk", jwk);
	char *hs = json_dumps(h, JSON_COMPACT);
	refused(proof((struct opt){.header = hs}),
		"the DPoP proof's jwk: carries the private parameter 'd'");
	free(hs);
	json_decref(h);
	json_decref(jwk);

	/* Signed by other.pem, claiming to be p256.pem's key. */
	jwk = jwk_of("p256.pem");
	h = json_pack("{sO}", "jwk", jwk);
	hs = json_dumps(h, JSON_COMPACT);
	refused(proof((struct opt){.key = "other.pem", .header = hs}),
		"the DPoP proof's ES256 signature does not verify with its "
		"jwk");
	free(hs);
	json_decref(h);
	json_decref(jwk);

	/* Key confusion: an ES256 proof whose jwk is an RSA key, and a
	 * key too small to trust. */
	jwk = jwk_of("rsa.pem");
	h = json_pack("{sO}", "jwk", jwk);
	hs = json_dumps(h, JSON_COMPACT);
	refused(proof((struct opt){.header = hs}),
		"the DPoP proof's jwk does not fit alg ES256");
	free(hs);
	json_decref(h);
	json_decref(jwk);
	char *jkt = jkt_of("rsa1024.pem");
	char *p = proof((struct opt){.key = "rsa1024.pem", .alg = "RS256"});
	char why[256];
	assert_int_equal(check_at(NULL, p, jkt, NOW, why, sizeof(why)),
			 AG_TOK_DPOP);
	assert_string_equal(why, "the DPoP proof's jwk does not fit alg RS256");
	free(p);
	free(jkt);

	/* A good proof by a key that is not the token's. */
	refused(proof((struct opt){.key = "other.pem"}),
		"the DPoP proof is signed by another key than the one the "
		"token is bound to (cnf jkt)");
}

static void test_refused_form(void **state)
{
	(void)state;
	char why[256];

	assert_int_equal(check_at(NULL, NULL, jkt_p256, NOW, why, sizeof(why)),
			 AG_TOK_DPOP);
	assert_string_equal(why, "the token is bound to a DPoP key and no DPoP "
				 "proof came with it");
	assert_int_equal(check_at(NULL, "a.b", jkt_p256, NOW, why, sizeof(why)),
			 AG_TOK_DPOP);
	assert_string_equal(why, "the DPoP proof is not a compact JWS: token "
				 "has 2 parts, not 3");
	assert_int_equal(check_at(NULL, "AAAA.AAAA.c!", jkt_p256, NOW, why,
				  sizeof(why)),
			 AG_TOK_DPOP);
	assert_string_equal(why, "the DPoP proof is not a compact JWS: the "
				 "signature is not strict base64url");
	char *big = malloc(AG_DPOP_MAX + 2);
	assert_non_null(big);
	memset(big, 'A', AG_DPOP_MAX + 1);
	big[AG_DPOP_MAX + 1] = '\0';
	assert_int_equal(check_at(NULL, big, jkt_p256, NOW, why, sizeof(why)),
			 AG_TOK_DPOP);
	assert_string_equal(why, "the DPoP proof is over 8192 bytes");
	free(big);
	/* A token not bound to a DPoP key. */
	char *p = proof((struct opt){0});
	assert_int_equal(check_at(NULL, p, NULL, NOW, why, sizeof(why)),
			 AG_TOK_DPOP);
	assert_string_equal(why, "the token is not bound to a DPoP key (no "
				 "cnf jkt)");
	free(p);
}

static void test_refused_claims(void **state)
{
	(void)state;

	refused(proof((struct opt){.htm = "POST"}),
		"the DPoP proof is for method 'POST', the request is 'GET'");
	refused(proof((struct opt){.htm = "get"}),
		"the DPoP proof is for method 'get', the request is 'GET'");
	refused(proof((struct opt){.htu = "https://api.example.com/orders/8"}),
		"the DPoP proof is for 'https://api.example.com/orders/8', the "
		"request for 'https://api.example.com/orders/7'");
	refused(proof((struct opt){.htu = "http://api.example.com/orders/7"}),
		"the DPoP proof is for 'http://api.example.com/orders/7', the "
		"request for 'https://api.example.com/orders/7'");
	refused(proof((struct opt){.htu = "https://evil.example/orders/7"}),
		"the DPoP proof is for 'https://evil.example/orders/7', the "
		"request for 'https://api.example.com/orders/7'");
	refused(proof((struct opt){.htu = "https://api.example.com:8443/"
					  "orders/7"}),
		"the DPoP proof is for 'https://api.example.com:8443/orders/7', "
		"the request for 'https://api.example.com/orders/7'");
	refused(proof((struct opt){.htu = "https://user@api.example.com/"
					  "orders/7"}),
		"the DPoP proof is for 'https://user@api.example.com/orders/7', "
		"the request for 'https://api.example.com/orders/7'");
	refused(proof((struct opt){.htu = "/orders/7"}),
		"the DPoP proof is for '/orders/7', the request for "
		"'https://api.example.com/orders/7'");
	/* ath: for another token, or missing. */
	refused(proof((struct opt){.token = "another.token.here"}),
		"the DPoP proof's ath is not the hash of this access token");
	refused(proof((struct opt){.token = ""}),
		"the DPoP proof's ath is not the hash of this access token");
	/* jti: at most AG_DPOP_JTI_MAX characters. */
	char jti[AG_DPOP_JTI_MAX + 2];
	memset(jti, 'j', sizeof(jti) - 1);
	jti[sizeof(jti) - 1] = '\0';
	refused(proof((struct opt){.jti = jti}),
		"the DPoP proof has no jti of 1 to 256 bytes");
	jti[AG_DPOP_JTI_MAX] = '\0';
	ok(proof((struct opt){.jti = jti}));
	refused(proof((struct opt){.jti = ""}),
		"the DPoP proof has no jti of 1 to 256 bytes");
}

/* The Host a request names is a host name or an IP literal with a port,
 * never something that ends the authority early: "h?" with a path must
 * not turn the request into one for "https://h/". */
static void test_hosts(void **state)
{
	(void)state;
	char why[256];
	static const char want_bad[] =
		"the request's URL cannot be compared with a DPoP proof (no "
		"host, a host that is not a host name, or a target that is "
		"refused)";
	static const char *const bad_hosts[] = {
		"h?", "h#", "h/x", "user@h", "h h", "h%41", "[zz::1]", "h:",
		"h:99999", "h:8x", "", "[::1", ":443"};

	for (size_t i = 0; i < AG_ARRAY_SIZE(bad_hosts); i++) {
		char *p = proof((struct opt){.htu = "https://h/"});
		if (at_host(p, bad_hosts[i], "/admin/delete", why,
			    sizeof(why)) != AG_TOK_DPOP)
			fail_msg("host '%s' was taken", bad_hosts[i]);
		if (strcmp(why, want_bad) && strcmp(bad_hosts[i], "h:"))
			fail_msg("host '%s': %s", bad_hosts[i], why);
	}
	/* "h:" is an empty port (RFC 3986 §6.2.3): the same as "h". */
	assert_int_equal(at_host(proof((struct opt){.htu = "https://h/a"}),
				 "h:", "/a", why, sizeof(why)),
			 AG_TOK_OK);
	/* Ports and IP literals, in the Host and in htu. */
	assert_int_equal(at_host(proof((struct opt){.htu = "https://h:8443/a"}),
				 "h:8443", "/a", why, sizeof(why)),
			 AG_TOK_OK);
	assert_int_equal(at_host(proof((struct opt){.htu = "https://h/a"}),
				 "h:8443", "/a", why, sizeof(why)),
			 AG_TOK_DPOP);
	assert_string_equal(why, "the DPoP proof is for 'https://h/a', the "
				 "request for 'https://h:8443/a'");
	assert_int_equal(at_host(proof((struct opt){.htu = "https://[::1]:8443/"
							   "a"}),
				 "[::1]:8443", "/a", why, sizeof(why)),
			 AG_TOK_OK);
	assert_int_equal(at_host(proof((struct opt){.htu = "https://[::1]/a"}),
				 "[::1]:443", "/a", why, sizeof(why)),
			 AG_TOK_OK);
	assert_int_equal(at_host(proof((struct opt){.htu = "https://10.0.0.1/a"}),
				 "10.0.0.1", "/a?x=1", why, sizeof(why)),
			 AG_TOK_OK);
	/* The htu's host is held to the same rules. */
	assert_int_equal(at_host(proof((struct opt){.htu = "https://h%2F/a"}),
				 "h", "/a", why, sizeof(why)),
			 AG_TOK_DPOP);
	assert_string_equal(why, "the DPoP proof is for 'https://h%2F/a', the "
				 "request for 'https://h/a'");
	/* An absolute-form target: its path is the request's path. */
	assert_int_equal(at_host(proof((struct opt){.htu = "https://h/a"}), "h",
				 "https://h/a", why, sizeof(why)),
			 AG_TOK_OK);
}

/* A proof of these claims, verbatim, signed by p256.pem with its jwk. */
static char *raw_proof(const char *claims)
{
	json_t *jwk = jwk_of("p256.pem");
	json_t *h = json_pack("{sssO}", "typ", "dpop+jwt", "jwk", jwk);
	char *hs = json_dumps(h, JSON_COMPACT), key[320], in[320];
	snprintf(key, sizeof(key), "%s", P("p256.pem"));
	snprintf(in, sizeof(in), "%s", P("claims.json"));
	FILE *f = fopen(in, "w");
	assert_non_null(f);
	fputs(claims, f);
	assert_int_equal(fclose(f), 0);
	char *argv[] = {(char *)tool, "sign", "--key", key, "--alg", "ES256",
			"--header", hs, NULL};
	char *out = capture_in(argv, in);
	free(hs);
	json_decref(h);
	json_decref(jwk);
	return out;
}

/* Each claim of the wrong type, or missing. */
static void test_claim_types(void **state)
{
	(void)state;
	char good[600], ath[64];
	unsigned char md[32];

	assert_true(EVP_Q_digest(NULL, "SHA256", NULL, TOKEN, strlen(TOKEN),
				 md, NULL));
	ag_b64url_encode(md, sizeof(md), ath);
	/* The claims as ag-testsign dpop writes them pass, verbatim. */
	snprintf(good, sizeof(good),
		 "{\"jti\":\"j1\",\"htm\":\"GET\",\"htu\":\"" URL "\","
		 "\"iat\":%d,\"ath\":\"%s\"}",
		 NOW, ath);
	ok(raw_proof(good));
	static const struct {
		const char *claims, *why;
	} bad[] = {
		{"{\"jti\":7,\"htm\":\"GET\",\"htu\":\"" URL "\",\"iat\":"
		 "1700000000}",
		 "the DPoP proof has no jti of 1 to 256 bytes"},
		{"{\"jti\":\"j\",\"htu\":\"" URL "\",\"iat\":1700000000}",
		 "the DPoP proof is for method '(none)', the request is 'GET'"},
		{"{\"jti\":\"j\",\"htm\":\"GET\",\"iat\":1700000000}",
		 "the DPoP proof is for '(none)', the request for "
		 "'https://api.example.com/orders/7'"},
		{"{\"jti\":\"j\",\"htm\":\"GET\",\"htu\":\"" URL "\"}",
		 "the DPoP proof has no iat"},
		{"{\"jti\":\"j\",\"htm\":\"GET\",\"htu\":\"" URL "\",\"iat\":"
		 "\"1700000000\"}",
		 "the DPoP proof has no iat"},
		{"{\"jti\":\"j\",\"jti\":\"k\",\"htm\":\"GET\"}",
		 "the DPoP proof's payload is not a JSON object (or repeats a "
		 "claim)"},
		{"[1,2]", "the DPoP proof's payload is not a JSON object (or "
			  "repeats a claim)"},
	};
	for (size_t i = 0; i < AG_ARRAY_SIZE(bad); i++)
		refused(raw_proof(bad[i].claims), bad[i].why);
	json_t *jwk = jwk_of("p256.pem");
	json_object_set_new(jwk, "use", json_string("enc"));
	json_t *h = json_pack("{sO}", "jwk", jwk);
	char *hs = json_dumps(h, JSON_COMPACT);
	refused(proof((struct opt){.header = hs}),
		"the DPoP proof's jwk: not a signing key of a type we verify "
		"(RSA, EC P-256 or P-384, Ed25519)");
	free(hs);
	json_decref(h);
	json_decref(jwk);
}

/* iat: older than max_age by a second is refused, exactly max_age - 1
 * old is not; AG_DPOP_FUTURE ahead passes, one more second does not. */
static void test_times(void **state)
{
	(void)state;

	ok(proof((struct opt){.iat = NOW - 299}));
	refused(proof((struct opt){.iat = NOW - 300}),
		"the DPoP proof was made more than 300s ago");
	refused(proof((struct opt){.iat = NOW - 86400}),
		"the DPoP proof was made more than 300s ago");
	ok(proof((struct opt){.iat = NOW + AG_DPOP_FUTURE}));
	refused(proof((struct opt){.iat = NOW + AG_DPOP_FUTURE + 1}),
		"the DPoP proof was made in the future (iat more than 60s "
		"ahead)");
}

/* ---- replay -------------------------------------------------------------- */

static void test_replay(void **state)
{
	(void)state;
	struct ag_dpop_replay *r = ag_dpop_replay_new(4096);
	char why[256];
	char *p = proof((struct opt){.jti = "once"});

	assert_non_null(r);
	assert_int_equal(check_at(r, p, jkt_p256, NOW, why, sizeof(why)),
			 AG_TOK_OK);
	assert_int_equal(check_at(r, p, jkt_p256, NOW + 10, why, sizeof(why)),
			 AG_TOK_DPOP);
	assert_string_equal(why, "the DPoP proof was used before (jti "
				 "replayed)");
	/* Still refused at the last second of its window, and after it the
	 * proof is too old anyway. */
	assert_int_equal(check_at(r, p, jkt_p256, NOW + 299, why, sizeof(why)),
			 AG_TOK_DPOP);
	assert_string_equal(why, "the DPoP proof was used before (jti "
				 "replayed)");
	assert_int_equal(check_at(r, p, jkt_p256, NOW + 300, why, sizeof(why)),
			 AG_TOK_DPOP);
	assert_string_equal(why, "the DPoP proof was made more than 300s ago");
	free(p);
	/* The same jti from another key is another proof. */
	char *jkt = jkt_of("other.pem");
	p = proof((struct opt){.key = "other.pem", .jti = "once"});
	assert_int_equal(check_at(r, p, jkt, NOW, why, sizeof(why)),
			 AG_TOK_OK);
	free(p);
	free(jkt);
	/* A refused proof is not remembered: its fixed twin passes. */
	p = proof((struct opt){.jti = "twice", .htm = "POST"});
	assert_int_equal(check_at(r, p, jkt_p256, NOW, why, sizeof(why)),
			 AG_TOK_DPOP);
	free(p);
	p = proof((struct opt){.jti = "twice"});
	assert_int_equal(check_at(r, p, jkt_p256, NOW, why, sizeof(why)),
			 AG_TOK_OK);
	free(p);
	ag_dpop_replay_free(r);
}

/* The smallest set holds 512 proofs (64 buckets of 8, two choices per
 * proof).  When both of a proof's buckets are full, it is refused rather
 * than an old one forgotten; once the window has passed, the slots are
 * free again. */
static void test_replay_full(void **state)
{
	(void)state;
	struct ag_dpop_replay *r = ag_dpop_replay_new(1);
	char why[256];
	char *all = proof((struct opt){.count = "1200"});
	size_t accepted = 0, full = 0, n = 0, first_full = 0;

	assert_non_null(r);
	for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")) {
		n++;
		if (!first_full && full)
			first_full = n - 1;
		enum ag_token_error e = check_at(r, line, jkt_p256, NOW, why,
						 sizeof(why));
		if (e == AG_TOK_OK) {
			accepted++;
			continue;
		}
		assert_int_equal(e, AG_TOK_DPOP);
		assert_string_equal(why, "too many DPoP proofs in the window "
					 "to tell a replay; refused");
		full++;
	}
	assert_int_equal(n, 1200);
	/* Every slot is used before refusing for good, and with two bucket
	 * choices the first refusal comes late (one choice overflows a
	 * bucket at half the load or less). */
	assert_int_equal(accepted, 512);
	assert_true(first_full > 320);
	assert_int_equal(accepted + full, 1200);
	free(all);
	/* Later, with every proof above out of its window, a new one fits
	 * (made at that time). */
	char *p = proof((struct opt){.iat = NOW + 400});
	assert_int_equal(check_at(r, p, jkt_p256, NOW + 400, why, sizeof(why)),
			 AG_TOK_OK);
	free(p);
	ag_dpop_replay_free(r);
}

/* ---- how the token came -------------------------------------------------- */

static void test_presented(void **state)
{
	(void)state;
	struct ag_policy *pol = NULL;
	struct ag_error err;
	struct ag_claims c;
	char why[256];
	enum ag_dpop_outcome out;

	ag_error_init(&err);
	assert_int_equal(ag_policy_load_buffer("p.yaml",
					       "workflows: { api: { aal: 1 } }\n"
					       "dpop_max_age: 2m\n",
					       48, &pol, &err),
			 AG_OK);
	assert_int_equal(pol->dpop_max_age, 120);
	ag_claims_init(&c);
	c.cnf = true;
	c.cnf_jkt = strdup(jkt_p256);
	char *p = proof((struct opt){0});
	struct ag_request req = {.method = "GET",
				 .host = "api.example.com",
				 .uri = "/orders/7",
				 .now = NOW};
	struct ag_dpop_presented pr = {.token = TOKEN, .dpop_scheme = true,
				       .proof = p, .scheme = "https"};
	assert_int_equal(ag_dpop_present(NULL, pol, &c, &pr, &req, &out, why,
					 sizeof(why)),
			 AG_TOK_OK);
	assert_true(req.dpop_verified);
	assert_int_equal(out, AG_DPOP_OK);
	/* dpop_max_age from the policy: 2 minutes. */
	req.now = NOW + 120;
	assert_int_equal(ag_dpop_present(NULL, pol, &c, &pr, &req, &out, why,
					 sizeof(why)),
			 AG_TOK_DPOP);
	assert_false(req.dpop_verified);
	assert_int_equal(out, AG_DPOP_BAD);
	assert_string_equal(why, "the DPoP proof was made more than 120s ago");
	req.now = NOW;
	/* Two DPoP headers. */
	pr.proof_repeated = true;
	assert_int_equal(ag_dpop_present(NULL, pol, &c, &pr, &req, &out, why,
					 sizeof(why)),
			 AG_TOK_DPOP);
	assert_string_equal(why, "more than one DPoP header came");
	assert_false(req.dpop_verified);
	pr.proof_repeated = false;
	/* With a replay set: once, then a replay, told apart. */
	struct ag_dpop_replay *r = ag_dpop_replay_new(64);
	assert_non_null(r);
	assert_int_equal(ag_dpop_present(r, pol, &c, &pr, &req, &out, why,
					 sizeof(why)),
			 AG_TOK_OK);
	assert_int_equal(out, AG_DPOP_OK);
	assert_int_equal(ag_dpop_present(r, pol, &c, &pr, &req, &out, why,
					 sizeof(why)),
			 AG_TOK_DPOP);
	assert_int_equal(out, AG_DPOP_REPLAYED);
	assert_false(req.dpop_verified);
	ag_dpop_replay_free(r);
	/* Bearer: nothing checked, nothing verified; the decision refuses
	 * the bound token. */
	pr.dpop_scheme = false;
	assert_int_equal(ag_dpop_present(NULL, pol, &c, &pr, &req, &out, why,
					 sizeof(why)),
			 AG_TOK_OK);
	assert_false(req.dpop_verified);
	assert_int_equal(out, AG_DPOP_NONE);
	/* The DPoP scheme with a token bound to no DPoP key. */
	pr.dpop_scheme = true;
	free(c.cnf_jkt);
	c.cnf_jkt = NULL;
	assert_int_equal(ag_dpop_present(NULL, pol, &c, &pr, &req, &out, why,
					 sizeof(why)),
			 AG_TOK_DPOP);
	assert_int_equal(out, AG_DPOP_UNBOUND);
	assert_string_equal(why, "the DPoP scheme needs a token bound to a DPoP "
				 "key (cnf jkt); this one is not");
	/* The request's URL from a proxy that says http. */
	c.cnf_jkt = strdup(jkt_p256);
	pr.scheme = "http";
	assert_int_equal(ag_dpop_present(NULL, pol, &c, &pr, &req, &out, why,
					 sizeof(why)),
			 AG_TOK_DPOP);
	assert_string_equal(why, "the DPoP proof is for '" URL "', the "
				 "request for 'http://api.example.com/orders/7'");
	free(p);
	ag_claims_release(&c);
	ag_policy_free(pol);
}

/* dpop_max_age in the policy: a duration from 1s to 1h. */
static void test_policy_key(void **state)
{
	(void)state;
	static const struct {
		const char *yaml, *msg;
	} bad[] = {
		{"dpop_max_age: 2h\n",
		 "p.yaml:1:15: dpop_max_age must be from 1s to 1h"},
		{"dpop_max_age: 0s\n",
		 "p.yaml:1:15: dpop_max_age must be from 1s to 1h"},
		{"dpop_max_age: soon\n",
		 "p.yaml:1:15: bad duration 'soon' for dpop_max_age (write "
		 "90s, 15m, 12h or 30d)"},
	};
	for (size_t i = 0; i < AG_ARRAY_SIZE(bad); i++) {
		struct ag_policy *pol = NULL;
		struct ag_error err;
		ag_error_init(&err);
		assert_int_not_equal(ag_policy_load_buffer(
					     "p.yaml", bad[i].yaml,
					     strlen(bad[i].yaml), &pol, &err),
				     AG_OK);
		assert_null(pol);
		assert_string_equal(err.msg, bad[i].msg);
	}
	struct ag_policy *pol = NULL;
	struct ag_error err;
	ag_error_init(&err);
	assert_int_equal(ag_policy_load_buffer("p.yaml", "{}\n", 3, &pol, &err),
			 AG_OK);
	assert_int_equal(pol->dpop_max_age, 300);
	ag_policy_free(pol);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thumbprint_rfc7638),
		cmocka_unit_test(test_siphash_vector),
		cmocka_unit_test(test_good_proofs),
		cmocka_unit_test(test_refused_header),
		cmocka_unit_test(test_refused_form),
		cmocka_unit_test(test_refused_claims),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_hosts),
		cmocka_unit_test(test_claim_types),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_replay_full),
		cmocka_unit_test(test_presented),
		cmocka_unit_test(test_policy_key),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
