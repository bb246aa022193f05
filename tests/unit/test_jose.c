/*
 * The token verifier (docs/gate.md): the RFC 7515 examples, tokens signed
 * by keys made with `openssl genpkey`, an attack suite where every token
 * must be refused with one exact error, the claims reader, JWK sets, the
 * cache of verified tokens, key rotation, and keys fetched over real
 * HTTPS from `openssl s_server`.
 *
 * Tokens are signed by ag-testsign (tests/tools), found through the
 * AG_TESTSIGN environment variable that the build sets.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/ecdsa.h>

#include "testutil.h"
#include "aalgate/gate.h"
#include "gate/jose-int.h"
#include "util.h"

#define NOW 1700000000
#define ISS "https://idp.test"

static char dir[200];
static const char *tool;
static struct ag_policy *policy;
static struct ag_verifier *verifier;

/* ---- helpers ----------------------------------------------------------- */

/* DIR/name, in one of a few rotating buffers. */
static const char *P(const char *name)
{
	static char bufs[8][320];
	static int next;
	char *b = bufs[next++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		fail_msg("cannot write %s: %s", path, strerror(errno));
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* Runs a shell command that must succeed (key and certificate making). */
AG_PRINTF(1, 2) static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

/* Runs argv with stdin from the text in, and returns its stdout without
 * the last newline. */
static char *capture(char *const argv[], const char *in)
{
	int fds[2];
	const char *inpath = P("stdin.txt");

	write_file(inpath, in);
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(inpath, O_RDONLY);
		if (fd < 0 || dup2(fd, 0) < 0 || dup2(fds[1], 1) < 0)
			_exit(126);
		close(fds[0]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	size_t cap = 1 << 21, n = 0;
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

/* A token of claims, signed by key (a file in dir) with alg. */
static char *sign_full(const char *key, const char *alg, const char *kid,
		       const char *header, const char *rawsig,
		       const char *claims)
{
	char *argv[16];
	int n = 0;

	argv[n++] = (char *)tool;
	argv[n++] = "sign";
	argv[n++] = "--alg";
	argv[n++] = (char *)alg;
	if (key) {
		argv[n++] = "--key";
		argv[n++] = (char *)P(key);
	}
	if (kid) {
		argv[n++] = "--kid";
		argv[n++] = (char *)kid;
	}
	if (header) {
		argv[n++] = "--header";
		argv[n++] = (char *)header;
	}
	if (rawsig) {
		argv[n++] = "--raw-sig";
		argv[n++] = (char *)rawsig;
	}
	argv[n] = NULL;
	return capture(argv, claims);
}

static char *sign(const char *key, const char *alg, const char *kid,
		  const char *claims)
{
	return sign_full(key, alg, kid, NULL, NULL, claims);
}

/* Claims of the test issuer: iss, sub and aud, then the times, then
 * extra members (may be empty). */
static char *claims_at(long exp, long nbf, long iat, const char *extra)
{
	char *s = malloc(16384);
	assert_non_null(s);
	snprintf(s, 16384,
		 "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"portal\","
		 "\"exp\":%ld,\"nbf\":%ld,\"iat\":%ld%s%s}",
		 exp, nbf, iat, *extra ? "," : "", extra);
	return s;
}

static char *claims(const char *extra)
{
	return claims_at(NOW + 3600, NOW - 10, NOW - 10, extra);
}

static char *b64(const void *data, size_t n)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *p = data;
	char *out = malloc(n / 3 * 4 + 5), *o = out;
	uint32_t acc = 0;
	int bits = 0;

	assert_non_null(out);
	for (size_t i = 0; i < n; i++) {
		acc = acc << 8 | p[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			*o++ = abc[(acc >> bits) & 63];
		}
	}
	if (bits)
		*o++ = abc[(acc << (6 - bits)) & 63];
	*o = '\0';
	return out;
}

static char *b64s(const char *s)
{
	return b64(s, strlen(s));
}

static unsigned char *unb64(const char *s, size_t len, size_t *out_len)
{
	unsigned char *out = malloc(AG_B64URL_DECODED_MAX(len) + 1);
	assert_non_null(out);
	assert_true(ag_b64url_decode(s, len, out, out_len));
	return out;
}

/* Part i (0..2) of a compact token, as a new string. */
static char *part(const char *tok, int i)
{
	const char *p = tok;
	for (int k = 0; k < i; k++) {
		p = strchr(p, '.');
		assert_non_null(p);
		p++;
	}
	const char *end = strchr(p, '.');
	return ag_strndup(p, end ? (size_t)(end - p) : strlen(p));
}

static char *join(const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + strlen(c) + 3;
	char *s = malloc(n);
	assert_non_null(s);
	snprintf(s, n, "%s.%s.%s", a, b, c);
	return s;
}

/* tok with bit 0 of byte k of its signature flipped. */
static char *flip_sig_bit(const char *tok, size_t k)
{
	char *h = part(tok, 0), *p = part(tok, 1), *s = part(tok, 2);
	size_t n;
	unsigned char *sig = unb64(s, strlen(s), &n);

	assert_true(k < n);
	sig[k] ^= 1;
	char *s2 = b64(sig, n);
	char *out = join(h, p, s2);
	free(h);
	free(p);
	free(s);
	free(s2);
	free(sig);
	return out;
}

static enum ag_token_error check_with(struct ag_verifier *v, const char *tok,
				      int64_t now, struct ag_claims *c,
				      char *detail, size_t dlen)
{
	enum ag_token_error e =
		ag_verifier_check(v, tok, strlen(tok), now, c, detail, dlen);
	if (e != AG_TOK_OK) {
		/* A refusal explains itself, and never repeats the token. */
		assert_true(detail[0] != '\0');
		if (strlen(tok) > 16)
			assert_null(strstr(detail, tok));
	}
	return e;
}

/* The token must get exactly want from v at now. */
static void expect_at(struct ag_verifier *v, const char *tok, int64_t now,
		      enum ag_token_error want)
{
	struct ag_claims c;
	char detail[256];

	enum ag_token_error got = check_with(v, tok, now, &c, detail,
					     sizeof(detail));
	if (got != want)
		fail_msg("got %s (%s), want %s", ag_token_error_name(got),
			 detail, ag_token_error_name(want));
	if (got != AG_TOK_OK)
		assert_null(c.iss); /* nothing is handed out on failure */
	ag_claims_release(&c);
}

static void expect(const char *tok, enum ag_token_error want)
{
	expect_at(verifier, tok, NOW, want);
}

/* Same as expect, and frees tok. */
static void expect_free(char *tok, enum ag_token_error want)
{
	expect(tok, want);
	free(tok);
}

static struct ag_verifier *verifier_ok(const struct ag_policy *p)
{
	struct ag_verifier *v = NULL;
	struct ag_error err;

	ag_error_init(&err);
	if (ag_verifier_new(p, &v, &err) != AG_OK)
		fail_msg("verifier: %s", err.msg);
	assert_non_null(v);
	return v;
}

static struct ag_policy *policy_for(const char *issuers)
{
	char *yaml = malloc(8192);
	assert_non_null(yaml);
	snprintf(yaml, 8192,
		 "workflows:\n  staff: { aal: 2 }\n"
		 "device_claim: device\n"
		 "issuers:\n%s",
		 issuers);
	struct ag_policy *p = policy_ok(yaml);
	free(yaml);
	return p;
}

/* Sets member name of the key with kid in the JWKS file at path. */
static void patch_jwk(const char *path, const char *kid, const char *name,
		      const char *value)
{
	json_t *set = json_load_file(path, 0, NULL);
	json_t *keys = json_object_get(set, "keys");
	bool found = false;

	assert_non_null(keys);
	for (size_t i = 0; i < json_array_size(keys); i++) {
		json_t *k = json_array_get(keys, i);
		const char *k_kid = json_string_value(json_object_get(k, "kid"));
		if (k_kid && !strcmp(k_kid, kid)) {
			json_object_set_new(k, name, json_string(value));
			found = true;
		}
	}
	assert_true(found);
	assert_int_equal(json_dump_file(set, path, JSON_INDENT(1)), 0);
	json_decref(set);
}

static void make_jwks(const char *file, const char *const *pairs)
{
	char *argv[32];
	int n = 0;

	argv[n++] = (char *)tool;
	argv[n++] = "jwks";
	for (; *pairs; pairs++) {
		char *arg = malloc(400);
		assert_non_null(arg);
		const char *eq = strchr(*pairs, '=');
		snprintf(arg, 400, "%.*s=%s", (int)(eq - *pairs), *pairs,
			 P(eq + 1));
		argv[n++] = arg;
	}
	argv[n] = NULL;
	char *out = capture(argv, "");
	write_file(P(file), out);
	free(out);
	for (int i = 2; i < n; i++)
		free(argv[i]);
}

/* ---- fixture ----------------------------------------------------------- */

static int setup(void **state)
{
	(void)state;
	const char *tmp = getenv("TMPDIR");
	char issuers[2048];

	tool = getenv("AG_TESTSIGN");
	if (!tool || access(tool, X_OK)) {
		fprintf(stderr, "AG_TESTSIGN must name the ag-testsign tool\n");
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s/ag-jose-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	sh("cd %s && "
	   "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
	   "-out rsa.pem 2>/dev/null && "
	   "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
	   "-out rsa2.pem 2>/dev/null && "
	   "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 "
	   "-out rsa1024.pem 2>/dev/null && "
	   "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
	   "-out p256.pem && "
	   "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 "
	   "-out p384.pem && "
	   "openssl genpkey -algorithm ED25519 -out ed.pem && "
	   "openssl pkey -in rsa.pem -pubout -out rsa.pub.pem",
	   dir);
	make_jwks("jwks.json",
		  LIST("rsa=rsa.pem", "p256=p256.pem", "p384=p384.pem",
		       "ed=ed.pem", "rsa1024=rsa1024.pem", "enc=rsa2.pem",
		       "rsa-rs256=rsa.pem"));
	patch_jwk(P("jwks.json"), "enc", "use", "enc");
	patch_jwk(P("jwks.json"), "rsa-rs256", "alg", "RS256");
	make_jwks("single.json", LIST("only=ed.pem"));
	snprintf(issuers, sizeof(issuers),
		 "  - iss: " ISS "\n"
		 "    audiences: [portal, other]\n"
		 "    jwks_file: %s\n"
		 "    clock_skew: 60s\n"
		 "  - iss: https://single.test\n    audiences: \"*\"\n"
		 "    jwks_file: %s\n",
		 P("jwks.json"), P("single.json"));
	policy = policy_for(issuers);
	verifier = verifier_ok(policy);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ag_verifier_free(verifier);
	ag_policy_free(policy);
	if (dir[0])
		sh("rm -rf '%s'", dir);
	return 0;
}

/* ---- RFC 7515 Appendix A ----------------------------------------------- */

/* RFC 7515 A.1 (HS256), A.2 (RS256) and A.3 (ES256): the same payload,
 * {"iss":"joe","exp":1300819380,"http://example.com/is_root":true}. */
#define RFC_PAYLOAD                                                      \
	"eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt" \
	"cGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
static const char rfc_a1[] =
	"eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9." RFC_PAYLOAD
	".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
static const char rfc_a2[] =
	"eyJhbGciOiJSUzI1NiJ9." RFC_PAYLOAD
	".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7"
	"AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4"
	"BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K"
	"0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv"
	"hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB"
	"p0igcN_IoypGlUPQGe77Rw";
static const char rfc_a3[] =
	"eyJhbGciOiJFUzI1NiJ9." RFC_PAYLOAD
	".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSA"
	"pmWQxfKTUJqPP3-Kg6NU1Q";

/* The public parts of the A.2 RSA key and the A.3 P-256 key. */
static const char rfc_jwks[] =
	"{\"keys\":[{\"kty\":\"RSA\",\"n\":\""
	"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx"
	"HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs"
	"D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH"
	"SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV"
	"MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8"
	"NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\","
	"\"e\":\"AQAB\"},"
	"{\"kty\":\"EC\",\"crv\":\"P-256\","
	"\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
	"\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}]}";

static void test_rfc7515_examples(void **state)
{
	(void)state;
	char issuers[512];
	struct ag_claims c;
	char detail[256];
	const int64_t before_exp = 1300819380 - 100;

	write_file(P("rfc.json"), rfc_jwks);
	snprintf(issuers, sizeof(issuers), "  - iss: joe\n    audiences: \"*\"\n    jwks_file: %s\n",
		 P("rfc.json"));
	struct ag_policy *p = policy_for(issuers);
	struct ag_verifier *v = verifier_ok(p);

	/* The tokens carry no kid: each takes the one key fitting its alg. */
	assert_int_equal(check_with(v, rfc_a2, before_exp, &c, detail,
				    sizeof(detail)),
			 AG_TOK_OK);
	assert_string_equal(c.iss, "joe");
	assert_int_equal(c.exp, 1300819380);
	assert_true(c.has_exp);
	assert_string_equal(c.alg, "RS256");
	assert_null(c.kid);
	ag_claims_release(&c);
	assert_int_equal(check_with(v, rfc_a3, before_exp, &c, detail,
				    sizeof(detail)),
			 AG_TOK_OK);
	assert_string_equal(c.alg, "ES256");
	ag_claims_release(&c);

	expect_at(v, rfc_a1, before_exp, AG_TOK_ALG_HMAC);
	/* The examples have long expired. */
	expect_at(v, rfc_a2, 1300819380 + 61, AG_TOK_EXPIRED);

	/* One bit anywhere in either signature breaks it. */
	char *bad = flip_sig_bit(rfc_a2, 0);
	expect_at(v, bad, before_exp, AG_TOK_SIGNATURE);
	free(bad);
	bad = flip_sig_bit(rfc_a2, 255);
	expect_at(v, bad, before_exp, AG_TOK_SIGNATURE);
	free(bad);
	bad = flip_sig_bit(rfc_a3, 0);
	expect_at(v, bad, before_exp, AG_TOK_SIGNATURE);
	free(bad);
	bad = flip_sig_bit(rfc_a3, 63);
	expect_at(v, bad, before_exp, AG_TOK_SIGNATURE);
	free(bad);

	ag_verifier_free(v);
	ag_policy_free(p);
}

/* ---- tokens of keys made here ------------------------------------------ */

static void test_generated_keys_verify(void **state)
{
	(void)state;
	static const struct {
		const char *key, *alg, *kid;
	} cases[] = {
		{"rsa.pem", "RS256", "rsa"},   {"rsa.pem", "RS384", "rsa"},
		{"rsa.pem", "RS512", "rsa"},   {"rsa.pem", "PS256", "rsa"},
		{"rsa.pem", "PS384", "rsa"},   {"rsa.pem", "PS512", "rsa"},
		{"p256.pem", "ES256", "p256"}, {"p384.pem", "ES384", "p384"},
		{"ed.pem", "EdDSA", "ed"},
		{"rsa.pem", "RS256", "rsa-rs256"},
	};
	char *cl = claims("\"azp\":\"app\"");

	for (size_t i = 0; i < AG_ARRAY_SIZE(cases); i++) {
		char *t = sign(cases[i].key, cases[i].alg, cases[i].kid, cl);
		struct ag_claims c;
		char detail[256];
		enum ag_token_error e = check_with(verifier, t, NOW, &c, detail,
						   sizeof(detail));
		if (e != AG_TOK_OK)
			fail_msg("%s with %s: %s (%s)", cases[i].alg,
				 cases[i].key, ag_token_error_name(e), detail);
		assert_string_equal(c.alg, cases[i].alg);
		assert_string_equal(c.kid, cases[i].kid);
		assert_string_equal(c.sub, "alice");
		ag_claims_release(&c);
		free(t);
	}
	free(cl);
}

static void test_claims_come_out(void **state)
{
	(void)state;
	char *cl = claims_at(
		NOW + 3600, NOW - 5, NOW - 7,
		"\"acr\":\"phr\",\"amr\":[\"hwk\",\"pin\"],\"sid\":\"s-1\","
		"\"jti\":\"j-1\",\"client_id\":\"cli\",\"azp\":\"app\","
		"\"scope\":\"openid profile\",\"device\":\"managed\","
		"\"auth_time\":1699999000.75,\"cnf\":{\"jkt\":\"0ZcOCORZ\"},"
		"\"unknown\":{\"nested\":[1,2,3]}");
	char *t = sign("p256.pem", "ES256", "p256", cl);
	struct ag_claims c;
	char detail[256];

	assert_int_equal(check_with(verifier, t, NOW, &c, detail,
				    sizeof(detail)),
			 AG_TOK_OK);
	assert_string_equal(c.iss, ISS);
	assert_string_equal(c.sub, "alice");
	assert_int_equal(c.n_aud, 1);
	assert_string_equal(c.aud[0], "portal");
	assert_string_equal(c.azp, "app"); /* azp wins over client_id */
	assert_string_equal(c.sid, "s-1");
	assert_string_equal(c.jti, "j-1");
	assert_string_equal(c.acr, "phr");
	assert_string_equal(c.scope, "openid profile");
	assert_string_equal(c.device, "managed");
	assert_int_equal(c.n_amr, 2);
	assert_string_equal(c.amr[0], "hwk");
	assert_string_equal(c.amr[1], "pin");
	assert_true(c.has_exp && c.has_nbf && c.has_iat && c.has_auth_time);
	assert_int_equal(c.exp, NOW + 3600);
	assert_int_equal(c.nbf, NOW - 5);
	assert_int_equal(c.iat, NOW - 7);
	assert_int_equal(c.auth_time, 1699999000); /* a real is floored */
	assert_true(c.cnf);
	assert_string_equal(c.kid, "p256");
	assert_string_equal(c.alg, "ES256");

	struct ag_claims copy;
	assert_int_equal(ag_claims_copy(&copy, &c), AG_OK);
	assert_string_equal(copy.amr[1], "pin");
	assert_string_equal(copy.device, "managed");
	assert_ptr_not_equal(copy.sub, c.sub);
	assert_int_equal(copy.auth_time, c.auth_time);
	ag_claims_release(&copy);
	ag_claims_release(&c);
	assert_null(c.sub);
	free(t);
	free(cl);
}

static void test_no_kid_takes_the_only_fitting_key(void **state)
{
	(void)state;
	char cl[256];

	snprintf(cl, sizeof(cl), "{\"iss\":\"https://single.test\",\"exp\":%d}",
		 NOW + 60);
	expect_free(sign("ed.pem", "EdDSA", NULL, cl), AG_TOK_OK);
	expect_free(sign("rsa.pem", "RS256", NULL, cl), AG_TOK_UNKNOWN_KEY);
	/* The main issuer has several RSA keys: a token without kid is not
	 * matched to any of them. */
	char *c2 = claims("");
	expect_free(sign("rsa.pem", "RS256", NULL, c2), AG_TOK_UNKNOWN_KEY);
	free(c2);
}

/* ---- the attack suite -------------------------------------------------- */

static void test_attack_alg_none(void **state)
{
	(void)state;
	char *cl = claims("");
	char *p = b64s(cl);
	static const char *const headers[] = {
		"{\"alg\":\"none\"}", "{\"alg\":\"None\"}",
		"{\"alg\":\"NONE\"}",
		"{\"alg\":\"nOnE\",\"kid\":\"rsa\"}"};

	for (size_t i = 0; i < AG_ARRAY_SIZE(headers); i++) {
		char *h = b64s(headers[i]);
		expect_free(join(h, p, ""), AG_TOK_ALG_NONE);
		/* A signature does not make it better. */
		expect_free(join(h, p, "c2lnbmF0dXJl"), AG_TOK_ALG_NONE);
		free(h);
	}
	/* The same through the signing tool. */
	expect_free(sign(NULL, "none", "rsa", cl), AG_TOK_ALG_NONE);
	free(p);
	free(cl);
}

static void test_attack_hmac_with_public_key(void **state)
{
	(void)state;
	char *cl = claims("");

	/* The classic confusion: the RSA public key's PEM as HMAC secret. */
	expect_free(sign("rsa.pub.pem", "HS256", "rsa", cl), AG_TOK_ALG_HMAC);
	expect_free(sign("rsa.pub.pem", "HS384", "rsa", cl), AG_TOK_ALG_HMAC);
	expect_free(sign("rsa.pub.pem", "HS512", NULL, cl), AG_TOK_ALG_HMAC);
	expect_free(sign_full("rsa.pub.pem", "HS256", "rsa",
			      "{\"alg\":\"hs256\"}", NULL, cl),
		    AG_TOK_ALG_HMAC);
	free(cl);
}

static void test_attack_unsupported_alg(void **state)
{
	(void)state;
	char *cl = claims("");

	expect_free(sign_full("rsa.pem", "RS256", "rsa", "{\"alg\":\"rs256\"}",
			      NULL, cl),
		    AG_TOK_ALG_UNSUPPORTED);
	expect_free(sign_full("p256.pem", "ES256", "p256",
			      "{\"alg\":\"ES512\"}", NULL, cl),
		    AG_TOK_ALG_UNSUPPORTED);
	expect_free(sign_full("rsa.pem", "RS256", "rsa",
			      "{\"alg\":\"RSA-OAEP\"}", NULL, cl),
		    AG_TOK_ALG_UNSUPPORTED);
	/* alg must be a string */
	expect_free(sign_full("rsa.pem", "RS256", "rsa", "{\"alg\":256}", NULL,
			      cl),
		    AG_TOK_MALFORMED);
	free(cl);
}

/* Explicit typing (RFC 8725 §3.11): another kind of JWT signed by the
 * issuer's key is not a credential. */
static void test_attack_typ(void **state)
{
	(void)state;
	char *cl = claims("");
	static const char *const refused[] = {
		"{\"typ\":\"dpop+jwt\"}", "{\"typ\":\"logout+jwt\"}",
		"{\"typ\":\"secevent+jwt\"}", "{\"typ\":\"JWE\"}",
		"{\"typ\":7}", "{\"typ\":null}"};
	static const char *const accepted[] = {
		"{\"typ\":\"JWT\"}", "{\"typ\":\"jwt\"}",
		"{\"typ\":\"at+jwt\"}", "{\"typ\":\"application/at+jwt\"}",
		"{\"typ\":\"application/jwt\"}"};
	struct ag_claims c;
	char detail[256];

	for (size_t i = 0; i < AG_ARRAY_SIZE(refused); i++)
		expect_free(sign_full("p256.pem", "ES256", "p256", refused[i],
				      NULL, cl),
			    AG_TOK_MALFORMED);
	for (size_t i = 0; i < AG_ARRAY_SIZE(accepted); i++)
		expect_free(sign_full("p256.pem", "ES256", "p256", accepted[i],
				      NULL, cl),
			    AG_TOK_OK);
	char *t = sign_full("p256.pem", "ES256", "p256",
			    "{\"typ\":\"dpop+jwt\"}", NULL, cl);
	assert_int_equal(check_with(verifier, t, NOW, &c, detail,
				    sizeof(detail)),
			 AG_TOK_MALFORMED);
	assert_string_equal(detail,
			    "typ 'dpop+jwt' is not an access token or ID token");
	ag_claims_release(&c);
	free(t);
	free(cl);
}

static void test_attack_kid(void **state)
{
	(void)state;
	char *cl = claims("");

	expect_free(sign("rsa.pem", "RS256", "../../../../etc/passwd", cl),
		    AG_TOK_UNKNOWN_KEY);
	expect_free(sign("rsa.pem", "RS256", "rsa' OR '1'='1", cl),
		    AG_TOK_UNKNOWN_KEY);
	/* kid must be a string */
	expect_free(sign_full("rsa.pem", "RS256", NULL, "{\"kid\":7}", NULL,
			      cl),
		    AG_TOK_MALFORMED);
	/* a key marked "use": "enc" is not a signing key */
	expect_free(sign("rsa2.pem", "RS256", "enc", cl), AG_TOK_UNKNOWN_KEY);
	free(cl);
}

static void test_attack_times(void **state)
{
	(void)state;
	struct {
		long exp, nbf, iat;
		enum ag_token_error want;
	} cases[] = {
		{NOW - 61, NOW - 600, NOW - 600, AG_TOK_EXPIRED},
		{NOW - 60, NOW - 600, NOW - 600, AG_TOK_EXPIRED}, /* exactly */
		{NOW - 59, NOW - 600, NOW - 600, AG_TOK_OK},      /* in skew */
		{NOW + 600, NOW + 61, NOW - 10, AG_TOK_NOT_YET_VALID},
		{NOW + 600, NOW + 60, NOW - 10, AG_TOK_OK},
		{NOW + 600, NOW - 10, NOW + 61, AG_TOK_ISSUED_IN_FUTURE},
		{NOW + 600, NOW - 10, NOW + 60, AG_TOK_OK},
	};

	for (size_t i = 0; i < AG_ARRAY_SIZE(cases); i++) {
		char *cl = claims_at(cases[i].exp, cases[i].nbf, cases[i].iat,
				     "");
		expect_free(sign("p256.pem", "ES256", "p256", cl),
			    cases[i].want);
		free(cl);
	}

	/* The message says how far off and which skew. */
	char *cl = claims_at(NOW - 120, NOW - 600, NOW - 600, "");
	char *t = sign("p256.pem", "ES256", "p256", cl);
	struct ag_claims c;
	char detail[256];
	assert_int_equal(check_with(verifier, t, NOW, &c, detail,
				    sizeof(detail)),
			 AG_TOK_EXPIRED);
	assert_string_equal(detail, "token expired 120s ago (skew 60s)");
	/* a what-if time at either end of the range */
	expect_at(verifier, t, INT64_MAX, AG_TOK_EXPIRED);
	free(t);
	free(cl);
	cl = claims("");
	t = sign("p256.pem", "ES256", "p256", cl);
	assert_int_equal(check_with(verifier, t, INT64_MIN, &c, detail,
				    sizeof(detail)),
			 AG_TOK_NOT_YET_VALID);
	assert_string_equal(detail, "token not valid for another "
				    "9223372038554775798s (skew 60s)");
	free(t);
	free(cl);

	/* exp is required; a wrongly typed time is refused */
	cl = malloc(512);
	assert_non_null(cl);
	snprintf(cl, 512, "{\"iss\":\"" ISS "\",\"aud\":\"portal\"}");
	expect_free(sign("p256.pem", "ES256", "p256", cl), AG_TOK_CLAIMS);
	snprintf(cl, 512, "{\"iss\":\"" ISS "\",\"aud\":\"portal\","
			  "\"exp\":\"%d\"}",
		 NOW + 60);
	expect_free(sign("p256.pem", "ES256", "p256", cl), AG_TOK_CLAIMS);
	snprintf(cl, 512, "{\"iss\":\"" ISS "\",\"aud\":\"portal\","
			  "\"exp\":-1}");
	expect_free(sign("p256.pem", "ES256", "p256", cl), AG_TOK_CLAIMS);
	snprintf(cl, 512, "{\"iss\":\"" ISS "\",\"aud\":\"portal\","
			  "\"exp\":1e300}");
	expect_free(sign("p256.pem", "ES256", "p256", cl), AG_TOK_CLAIMS);
	snprintf(cl, 512, "{\"iss\":\"" ISS "\",\"aud\":\"portal\","
			  "\"exp\":99999999999999999999}");
	expect_free(sign("p256.pem", "ES256", "p256", cl), AG_TOK_CLAIMS);
	free(cl);
}

static void test_attack_audience_and_issuer(void **state)
{
	(void)state;
	char *cl = claims("");
	char *s;

	/* aud "portal" -> "elsewhere" */
	s = strstr(cl, "\"portal\"");
	char *wrong = malloc(strlen(cl) + 16);
	assert_non_null(wrong);
	snprintf(wrong, strlen(cl) + 16, "%.*s\"elsewhere\"%s",
		 (int)(s - cl), cl, s + strlen("\"portal\""));
	expect_free(sign("rsa.pem", "RS256", "rsa", wrong), AG_TOK_AUDIENCE);
	/* a list with one good audience is fine */
	snprintf(wrong, strlen(cl) + 16, "%.*s[\"x\",\"other\"]%s",
		 (int)(s - cl), cl, s + strlen("\"portal\""));
	expect_free(sign("rsa.pem", "RS256", "rsa", wrong), AG_TOK_OK);
	free(wrong);
	free(cl);

	cl = malloc(512);
	assert_non_null(cl);
	snprintf(cl, 512, "{\"iss\":\"https://evil.test\",\"aud\":\"portal\","
			  "\"exp\":%d}",
		 NOW + 60);
	expect_free(sign("rsa.pem", "RS256", "rsa", cl),
		    AG_TOK_UNKNOWN_ISSUER);
	snprintf(cl, 512, "{\"iss\":\"" ISS "/\",\"aud\":\"portal\","
			  "\"exp\":%d}",
		 NOW + 60);
	expect_free(sign("rsa.pem", "RS256", "rsa", cl),
		    AG_TOK_UNKNOWN_ISSUER);
	snprintf(cl, 512, "{\"aud\":\"portal\",\"exp\":%d}", NOW + 60);
	expect_free(sign("rsa.pem", "RS256", "rsa", cl),
		    AG_TOK_UNKNOWN_ISSUER);
	free(cl);
}

static void test_attack_signatures(void **state)
{
	(void)state;
	char *cl = claims("");
	char *good = sign("rsa.pem", "RS256", "rsa", cl);
	char *h = part(good, 0), *p = part(good, 1), *s = part(good, 2);

	expect(good, AG_TOK_OK);
	/* stripped */
	expect_free(join(h, p, ""), AG_TOK_SIGNATURE);
	/* from another key under the same kid */
	expect_free(sign("rsa2.pem", "RS256", "rsa", cl), AG_TOK_SIGNATURE);
	/* one byte short */
	size_t n;
	unsigned char *raw = unb64(s, strlen(s), &n);
	char *short_sig = b64(raw, n - 1);
	expect_free(join(h, p, short_sig), AG_TOK_SIGNATURE);
	/* the signature of another payload */
	char *other = claims("\"acr\":\"phrh\"");
	char *good2 = sign("rsa.pem", "RS256", "rsa", other);
	char *p2 = part(good2, 1);
	expect_free(join(h, p2, s), AG_TOK_SIGNATURE);
	/* header and payload swapped */
	expect_free(join(p, h, s), AG_TOK_MALFORMED);

	free(short_sig);
	free(raw);
	free(other);
	free(good2);
	free(p2);
	free(h);
	free(p);
	free(s);
	free(good);
	free(cl);
}

static void test_attack_ecdsa_der(void **state)
{
	(void)state;
	char *cl = claims("");
	char *good = sign("p256.pem", "ES256", "p256", cl);
	char *h = part(good, 0), *p = part(good, 1), *s = part(good, 2);
	size_t n;
	unsigned char *raw = unb64(s, strlen(s), &n);

	assert_int_equal(n, 64);
	/* The same signature in DER, as OpenSSL makes it. */
	ECDSA_SIG *es = ECDSA_SIG_new();
	assert_non_null(es);
	assert_int_equal(ECDSA_SIG_set0(es, BN_bin2bn(raw, 32, NULL),
					BN_bin2bn(raw + 32, 32, NULL)),
			 1);
	unsigned char *der = NULL;
	int dlen = i2d_ECDSA_SIG(es, &der);
	assert_true(dlen > 64);
	char *s_der = b64(der, (size_t)dlen);
	expect_free(join(h, p, s_der), AG_TOK_SIGNATURE);
	/* An ES384-length signature on ES256 */
	unsigned char big[96] = {0};
	memcpy(big, raw, 64);
	char *s_big = b64(big, sizeof(big));
	expect_free(join(h, p, s_big), AG_TOK_SIGNATURE);

	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	free(s_der);
	free(s_big);
	free(raw);
	free(h);
	free(p);
	free(s);
	free(good);
	free(cl);
}

static void test_attack_key_confusion(void **state)
{
	(void)state;
	char *cl = claims("");

	/* RS256 under the kid of an EC key */
	expect_free(sign("rsa.pem", "RS256", "p256", cl), AG_TOK_KEY_MISMATCH);
	/* EdDSA under the kid of an RSA key */
	expect_free(sign("ed.pem", "EdDSA", "rsa", cl), AG_TOK_KEY_MISMATCH);
	/* ES384 under the kid of the P-256 key */
	expect_free(sign("p384.pem", "ES384", "p256", cl),
		    AG_TOK_KEY_MISMATCH);
	/* the JWK says "alg": "RS256"; PS256 may not use it */
	expect_free(sign("rsa.pem", "PS256", "rsa-rs256", cl),
		    AG_TOK_KEY_MISMATCH);
	/* RSA under 2048 bits */
	expect_free(sign("rsa1024.pem", "RS256", "rsa1024", cl),
		    AG_TOK_KEY_MISMATCH);
	free(cl);
}

static void test_attack_encoding(void **state)
{
	(void)state;
	char *cl = claims("");
	char *good = sign("rsa.pem", "RS256", "rsa", cl);
	char *h = part(good, 0), *p = part(good, 1), *s = part(good, 2);
	char *t;

	/* '+' (base64, not base64url) in the payload */
	char *p_plus = ag_strdup(p);
	p_plus[4] = '+';
	expect_free(join(h, p_plus, s), AG_TOK_MALFORMED);
	/* '=' padding after the header */
	size_t hl = strlen(h);
	char *h_pad = malloc(hl + 3);
	assert_non_null(h_pad);
	snprintf(h_pad, hl + 3, "%s%s", h, hl % 4 == 2 ? "==" : "=");
	expect_free(join(h_pad, p, s), AG_TOK_MALFORMED);
	/* a space, a newline */
	expect_free(join(h, p, " "), AG_TOK_MALFORMED);
	t = join(h, p, s);
	t[strlen(t) - 1] = '\n';
	expect_free(t, AG_TOK_MALFORMED);
	/* a non-zero trailing bit: 256 bytes end in a character whose low
	 * four bits must be zero */
	assert_int_equal(strlen(s) % 4, 2);
	char *s_bit = ag_strdup(s);
	char *last = &s_bit[strlen(s_bit) - 1];
	const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			  "0123456789-_";
	*last = abc[(strchr(abc, *last) - abc) | 1];
	expect_free(join(h, p, s_bit), AG_TOK_MALFORMED);
	/* an impossible length */
	expect_free(join(h, p, "A"), AG_TOK_MALFORMED);
	/* two parts, four parts, empty parts */
	size_t n = strlen(h) + strlen(p) + 2;
	t = malloc(n);
	assert_non_null(t);
	snprintf(t, n, "%s.%s", h, p);
	expect_free(t, AG_TOK_MALFORMED);
	t = join(h, p, s);
	char *four = join(t, s, "");
	four[strlen(four) - 1] = '\0'; /* h.p.s.s */
	expect_free(four, AG_TOK_MALFORMED);
	free(t);
	expect_free(join("", p, s), AG_TOK_MALFORMED);
	expect_free(ag_strdup(""), AG_TOK_MALFORMED);
	expect_free(ag_strdup(".."), AG_TOK_MALFORMED);

	free(p_plus);
	free(h_pad);
	free(s_bit);
	free(h);
	free(p);
	free(s);
	free(good);
	free(cl);
}

static void test_attack_size(void **state)
{
	(void)state;
	char *cl = claims("");
	char *good = sign("rsa.pem", "RS256", "rsa", cl);
	size_t big = 1024 * 1024;
	char *t = malloc(big + 1);
	struct ag_claims c;
	char detail[256];

	assert_non_null(t);
	/* 1 MB: the good token, padded with a huge payload-looking tail */
	memset(t, 'A', big);
	memcpy(t, good, strlen(good));
	t[big] = '\0';
	assert_int_equal(check_with(verifier, t, NOW, &c, detail,
				    sizeof(detail)),
			 AG_TOK_TOO_LARGE);
	/* the cap is exact */
	memset(t, 'A', big);
	memcpy(t, "e30.", 4);
	assert_int_equal(ag_verifier_check(verifier, t, AG_TOKEN_MAX + 1, NOW,
					   &c, detail, sizeof(detail)),
			 AG_TOK_TOO_LARGE);
	assert_int_equal(ag_verifier_check(verifier, t, AG_TOKEN_MAX, NOW, &c,
					   detail, sizeof(detail)),
			 AG_TOK_MALFORMED);
	/* a large but allowed claim still verifies */
	char *pad = malloc(9000);
	assert_non_null(pad);
	snprintf(pad, 9000, "\"x\":\"%08000d\"", 0);
	char *cl2 = claims(pad);
	expect_free(sign("p256.pem", "ES256", "p256", cl2), AG_TOK_OK);
	free(cl2);
	free(pad);
	free(t);
	free(good);
	free(cl);
}

static void test_attack_duplicates(void **state)
{
	(void)state;
	char cl[512];

	/* "exp" twice: the second would extend the token's life */
	snprintf(cl, sizeof(cl),
		 "{\"iss\":\"" ISS "\",\"aud\":\"portal\",\"exp\":%d,"
		 "\"exp\":%d}",
		 NOW + 60, NOW + 999999);
	expect_free(sign("rsa.pem", "RS256", "rsa", cl), AG_TOK_DUPLICATE);
	snprintf(cl, sizeof(cl),
		 "{\"iss\":\"" ISS "\",\"aud\":\"portal\",\"exp\":%d,"
		 "\"\\u0065xp\":%d}",
		 NOW + 60, NOW + 999999);
	expect_free(sign("rsa.pem", "RS256", "rsa", cl), AG_TOK_DUPLICATE);
	/* auth_time ahead of the clock would pass every max_age and idle
	 * check for as long as it stays ahead: refused past the skew (60 s),
	 * accepted within it. */
	snprintf(cl, sizeof(cl),
		 "{\"iss\":\"" ISS "\",\"aud\":\"portal\",\"exp\":%d,"
		 "\"auth_time\":%d}",
		 NOW + 600, NOW + 61);
	expect_free(sign("rsa.pem", "RS256", "rsa", cl),
		    AG_TOK_ISSUED_IN_FUTURE);
	snprintf(cl, sizeof(cl),
		 "{\"iss\":\"" ISS "\",\"aud\":\"portal\",\"exp\":%d,"
		 "\"auth_time\":%d}",
		 NOW + 600, NOW + 60);
	expect_free(sign("rsa.pem", "RS256", "rsa", cl), AG_TOK_OK);
	/* nested, in cnf */
	snprintf(cl, sizeof(cl),
		 "{\"iss\":\"" ISS "\",\"aud\":\"portal\",\"exp\":%d,"
		 "\"cnf\":{\"jkt\":\"a\",\"jkt\":\"b\"}}",
		 NOW + 60);
	expect_free(sign("rsa.pem", "RS256", "rsa", cl), AG_TOK_DUPLICATE);

	/* "alg" twice in the header: RS256, then none */
	char *cl2 = claims_at(NOW + 60, NOW, NOW, "");
	char *good = sign("rsa.pem", "RS256", "rsa", cl2);
	free(cl2);
	char *p = part(good, 1), *s = part(good, 2);
	char *h = b64s("{\"alg\":\"RS256\",\"kid\":\"rsa\",\"alg\":\"none\"}");
	expect_free(join(h, p, s), AG_TOK_DUPLICATE);
	free(h);
	h = b64s("{\"alg\":\"RS256\",\"kid\":\"rsa\",\"kid\":\"p256\"}");
	expect_free(join(h, p, s), AG_TOK_DUPLICATE);
	free(h);
	/* the same key spelled with an escape is the same key */
	h = b64s("{\"alg\":\"RS256\",\"kid\":\"rsa\",\"\\u0061lg\":\"none\"}");
	expect_free(join(h, p, s), AG_TOK_DUPLICATE);
	free(h);
	free(p);
	free(s);
	free(good);
}

static void test_attack_crit(void **state)
{
	(void)state;
	char *cl = claims("");
	static const char *const headers[] = {
		"{\"crit\":[\"exp\"],\"exp\":1}",
		"{\"crit\":[\"b64\"],\"b64\":false}",
		"{\"crit\":[]}",
		"{\"crit\":\"b64\"}",
		"{\"crit\":null}",
	};

	for (size_t i = 0; i < AG_ARRAY_SIZE(headers); i++)
		expect_free(sign_full("rsa.pem", "RS256", "rsa", headers[i],
				      NULL, cl),
			    AG_TOK_CRIT);
	/* an unknown header parameter without crit is ignored */
	expect_free(sign_full("rsa.pem", "RS256", "rsa",
			      "{\"typ\":\"at+jwt\",\"x-ext\":1}", NULL, cl),
		    AG_TOK_OK);
	free(cl);
}

static void test_attack_non_objects(void **state)
{
	(void)state;
	static const char *const payloads[] = {"[]", "\"a string\"", "7",
					       "null", "{", "{} {}", ""};

	for (size_t i = 0; i < AG_ARRAY_SIZE(payloads); i++)
		expect_free(sign("rsa.pem", "RS256", "rsa", payloads[i]),
			    AG_TOK_MALFORMED);
	/* a header that is not an object */
	char *cl = claims("");
	char *good = sign("rsa.pem", "RS256", "rsa", cl);
	char *p = part(good, 1), *s = part(good, 2);
	char *h = b64s("[\"RS256\"]");
	expect_free(join(h, p, s), AG_TOK_MALFORMED);
	free(h);
	h = b64s("{\"kid\":\"rsa\"}"); /* no alg */
	expect_free(join(h, p, s), AG_TOK_MALFORMED);
	free(h);
	free(p);
	free(s);
	free(good);
	free(cl);
}

static void test_attack_bad_claims(void **state)
{
	(void)state;
	static const char *const extras[] = {
		"\"sid\":7",
		"\"jti\":null",
		"\"amr\":\"pwd\"",
		"\"amr\":[\"pwd\",1]",
		"\"acr\":[\"phr\"]",
		"\"cnf\":\"key\"",
		"\"cnf\":{\"jkt\":1}",
		"\"device\":true",
		"\"auth_time\":\"yesterday\"",
	};
	for (size_t i = 0; i < AG_ARRAY_SIZE(extras); i++) {
		char *cl = claims(extras[i]);
		expect_free(sign("ed.pem", "EdDSA", "ed", cl), AG_TOK_CLAIMS);
		free(cl);
	}
	/* aud of a wrong type */
	char cl[600];
	snprintf(cl, sizeof(cl),
		 "{\"iss\":\"" ISS "\",\"aud\":[\"portal\",{}],\"exp\":%d}",
		 NOW + 60);
	expect_free(sign("ed.pem", "EdDSA", "ed", cl), AG_TOK_CLAIMS);
}

/* ---- the claims reader ------------------------------------------------- */

static enum ag_token_error parse(const char *json, struct ag_claims *c)
{
	return ag_claims_parse(json, strlen(json), "device", c);
}

static void test_claims_parse(void **state)
{
	(void)state;
	struct ag_claims c;

	assert_int_equal(parse("{\"client_id\":\"cli\",\"aud\":[],"
			       "\"exp\":1.5,\"cnf\":{\"x5t#S256\":\"h\"}}",
			       &c),
			 AG_TOK_OK);
	assert_string_equal(c.azp, "cli");
	assert_int_equal(c.n_aud, 0);
	assert_int_equal(c.exp, 1);
	assert_true(c.cnf);
	assert_false(c.has_nbf);
	ag_claims_release(&c);

	/* An empty cnf binds the token to nothing the gate can check:
	 * bound, and so refused by a decision, not a bearer token. */
	assert_int_equal(parse("{\"cnf\":{}}", &c), AG_TOK_OK);
	assert_true(c.cnf);
	ag_claims_release(&c);
	assert_int_equal(parse("{\"cnf\":{\"jwk\":{\"kty\":\"OKP\"}}}", &c),
			 AG_TOK_OK);
	assert_true(c.cnf);
	ag_claims_release(&c);

	/* no device claim asked for: the claim is not read */
	assert_int_equal(ag_claims_parse("{\"device\":1}", 12, NULL, &c),
			 AG_TOK_OK);
	assert_null(c.device);
	ag_claims_release(&c);

	assert_int_equal(parse("[]", &c), AG_TOK_MALFORMED);
	assert_int_equal(parse("\"s\"", &c), AG_TOK_MALFORMED);
	assert_int_equal(parse("{\"a\":1,\"a\":2}", &c), AG_TOK_DUPLICATE);
	assert_int_equal(parse("{\"x\":[{\"a\":1,\"a\":1}]}", &c),
			 AG_TOK_DUPLICATE);
	assert_int_equal(parse("{\"exp\":-0.5}", &c), AG_TOK_CLAIMS);
	assert_int_equal(parse("{\"exp\":9.3e18}", &c), AG_TOK_CLAIMS);
	assert_int_equal(parse("{\"exp\":1e999}", &c), AG_TOK_CLAIMS);
	assert_int_equal(parse("{\"nbf\":true}", &c), AG_TOK_CLAIMS);
	assert_int_equal(parse("{\"sub\":\"a\\u0000b\"}", &c),
			 AG_TOK_MALFORMED);
	assert_null(c.sub);

	/* caps: 32 entries and 1024 bytes */
	char buf[4096];
	size_t o = (size_t)snprintf(buf, sizeof(buf), "{\"amr\":[");
	for (int i = 0; i < 33; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s\"m%d\"",
				      i ? "," : "", i);
	snprintf(buf + o, sizeof(buf) - o, "]}");
	assert_int_equal(parse(buf, &c), AG_TOK_CLAIMS);
	buf[o - 6] = ']'; /* cut to 32 entries */
	buf[o - 5] = '}';
	buf[o - 4] = '\0';
	assert_int_equal(parse(buf, &c), AG_TOK_OK);
	assert_int_equal(c.n_amr, 32);
	ag_claims_release(&c);

	snprintf(buf, sizeof(buf), "{\"sub\":\"%01024d\"}", 0);
	assert_int_equal(parse(buf, &c), AG_TOK_OK);
	assert_int_equal(strlen(c.sub), 1024);
	ag_claims_release(&c);
	snprintf(buf, sizeof(buf), "{\"sub\":\"%01025d\"}", 0);
	assert_int_equal(parse(buf, &c), AG_TOK_CLAIMS);
}

static void test_error_names(void **state)
{
	(void)state;
	static const char *const names[AG_TOK__COUNT] = {
		"ok", "malformed", "too_large", "duplicate_key", "alg_none",
		"alg_hmac", "alg_unsupported", "crit", "unknown_issuer",
		"unknown_key", "key_mismatch", "bad_signature",
		"wrong_audience", "expired", "not_yet_valid",
		"issued_in_future", "bad_claims", "keys_unavailable",
		"dpop_proof", "key_bound"};

	for (int i = 0; i < AG_TOK__COUNT; i++)
		assert_string_equal(ag_token_error_name((enum ag_token_error)i),
				    names[i]);
	assert_string_equal(ag_token_error_name(AG_TOK__COUNT), "unknown");
}

static void test_b64url_strict(void **state)
{
	(void)state;
	unsigned char out[16];
	size_t n;

	assert_true(ag_b64url_decode("", 0, out, &n));
	assert_int_equal(n, 0);
	assert_true(ag_b64url_decode("QQ", 2, out, &n));
	assert_int_equal(n, 1);
	assert_int_equal(out[0], 'A');
	assert_true(ag_b64url_decode("QUI", 3, out, &n));
	assert_int_equal(n, 2);
	assert_true(ag_b64url_decode("-_-_", 4, out, &n));
	assert_int_equal(n, 3);
	assert_int_equal(out[0], 0xfb);
	assert_false(ag_b64url_decode("QR", 2, out, &n));  /* trailing bits */
	assert_false(ag_b64url_decode("QUJ", 3, out, &n)); /* trailing bits */
	assert_false(ag_b64url_decode("QQ==", 4, out, &n));
	assert_false(ag_b64url_decode("Q", 1, out, &n));
	assert_false(ag_b64url_decode("+/+/", 4, out, &n));
	assert_false(ag_b64url_decode("QU\0I", 4, out, &n));
	assert_false(ag_b64url_decode("QU\xc3\xa9", 4, out, &n));
}

/* ---- JWK sets ---------------------------------------------------------- */

static const char p256_x[] = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
static const char p256_y[] = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

static void jwks_fails(const char *json, ag_code code, const char *msg)
{
	struct ag_jwks set;
	struct ag_error err;

	ag_error_init(&err);
	assert_int_equal(ag_jwks_parse_buffer("k.json", json, strlen(json),
					      &set, &err),
			 code);
	assert_string_equal(err.msg, msg);
	assert_int_equal(set.n, 0);
	assert_null(set.keys);
}

static void test_jwks_parse(void **state)
{
	(void)state;
	struct ag_jwks set;
	struct ag_error err;
	char buf[2048];

	/* enc keys, unknown kty and crv are skipped; the rest is read */
	snprintf(buf, sizeof(buf),
		 "{\"keys\":["
		 "{\"kty\":\"EC\",\"crv\":\"P-256\",\"use\":\"enc\","
		 "\"x\":\"%s\",\"y\":\"%s\"},"
		 "{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"},"
		 "{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"AA\"},"
		 "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AA\"},"
		 "{\"kty\":\"foo\"},"
		 "{\"kty\":\"EC\",\"crv\":\"P-256\",\"key_ops\":[\"encrypt\"],"
		 "\"x\":\"%s\",\"y\":\"%s\"},"
		 "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"k1\","
		 "\"alg\":\"ES256\",\"use\":\"sig\",\"x\":\"%s\",\"y\":\"%s\","
		 "\"x5c\":[\"MII\"],\"extra\":{\"a\":1}}]}",
		 p256_x, p256_y, p256_x, p256_y, p256_x, p256_y);
	ag_error_init(&err);
	assert_int_equal(ag_jwks_parse_buffer("k.json", buf, strlen(buf), &set,
					      &err),
			 AG_OK);
	assert_int_equal(set.n, 1);
	assert_string_equal(set.keys[0].kid, "k1");
	assert_string_equal(set.keys[0].alg, "ES256");
	assert_int_equal(set.keys[0].type, AG_KEY_P256);
	assert_true(ag_jwk_fits(&set.keys[0], ag_jws_alg_find("ES256")));
	assert_false(ag_jwk_fits(&set.keys[0], ag_jws_alg_find("ES384")));
	ag_jwks_release(&set);

	jwks_fails("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"use\":"
		   "\"enc\",\"x\":\"AA\",\"y\":\"AA\"}]}",
		   AG_ERR_INVALID, "k.json: no usable signing key among 1");
	jwks_fails("{\"keys\":[]}", AG_ERR_INVALID,
		   "k.json: no usable signing key among 0");
	jwks_fails("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"x\",\"n\":\"AQAB\","
		   "\"e\":\"AQAB\",\"d\":\"AQ\"}]}",
		   AG_ERR_INVALID,
		   "k.json: key 1 (kid 'x'): carries the private parameter "
		   "'d'");
	jwks_fails("{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}",
		   AG_ERR_INVALID,
		   "k.json: key 1: carries the private parameter 'k'");
	snprintf(buf, sizeof(buf),
		 "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\","
		 "\"y\":\"%s\"},{\"kty\":\"RSA\",\"kid\":\"abc\","
		 "\"n\":\"a+b\",\"e\":\"AQAB\"}]}",
		 p256_x, p256_y);
	jwks_fails(buf, AG_ERR_INVALID,
		   "k.json: key 2 (kid 'abc'): bad base64url in 'n'");
	jwks_fails("{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\"}]}",
		   AG_ERR_INVALID, "k.json: key 1: missing 'e'");
	jwks_fails("{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\","
		   "\"e\":\"AQAB\"}]}",
		   AG_ERR_INVALID,
		   "k.json: key 1: 'n' is not an RSA modulus of 512 bits or "
		   "more");
	jwks_fails("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\","
		   "\"y\":\"AA\"}]}",
		   AG_ERR_INVALID, "k.json: key 1: 'x' is not 32 bytes long");
	/* x and y swapped: not a point on the curve */
	snprintf(buf, sizeof(buf),
		 "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\","
		 "\"y\":\"%s\"}]}",
		 p256_y, p256_x);
	jwks_fails(buf, AG_ERR_INVALID,
		   "k.json: key 1: 'x' and 'y' are not a point on P-256");
	jwks_fails("{\"keys\":[{\"kid\":\"a\"}]}", AG_ERR_INVALID,
		   "k.json: key 1 (kid 'a'): missing 'kty'");
	jwks_fails("{\"keys\":[{\"kty\":\"RSA\",\"kid\":7}]}", AG_ERR_INVALID,
		   "k.json: key 1: 'kid' is not a string");
	jwks_fails("{\"keys\":[7]}", AG_ERR_INVALID,
		   "k.json: key 1: not a JSON object");
	jwks_fails("{\"keys\":{}}", AG_ERR_INVALID,
		   "k.json: not a JWK set (no \"keys\" array)");
	jwks_fails("[]", AG_ERR_SYNTAX, "k.json: not a JSON object");
	jwks_fails("{\"keys\":[],\"keys\":[]}", AG_ERR_SYNTAX,
		   "k.json:1:17: duplicate object key near '\"keys\"'");

	/* at most 256 keys */
	char *many = malloc(300 * 16 + 32);
	assert_non_null(many);
	size_t o = (size_t)snprintf(many, 32, "{\"keys\":[");
	for (int i = 0; i < 257; i++)
		o += (size_t)snprintf(many + o, 32, "%s{\"kty\":\"x\"}",
				      i ? "," : "");
	snprintf(many + o, 8, "]}");
	jwks_fails(many, AG_ERR_LIMIT, "k.json: 257 keys, at most 256");
	free(many);
}

static void test_jwks_file_errors(void **state)
{
	(void)state;
	char issuers[1024], msg[512];
	struct ag_verifier *v = (struct ag_verifier *)1;
	struct ag_error err;

	snprintf(issuers, sizeof(issuers),
		 "  - iss: https://bad.test\n    audiences: \"*\"\n    jwks_file: %s\n",
		 P("missing.json"));
	struct ag_policy *p = policy_for(issuers);
	ag_error_init(&err);
	assert_int_equal(ag_verifier_new(p, &v, &err), AG_ERR_IO);
	assert_null(v);
	snprintf(msg, sizeof(msg),
		 "%s: cannot open: No such file or directory",
		 P("missing.json"));
	assert_string_equal(err.msg, msg);
	ag_policy_free(p);

	snprintf(msg, sizeof(msg),
		 "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\","
		 "\"y\":\"%s\"},{\"kty\":\"RSA\",\"kid\":\"abc\","
		 "\"n\":\"a+b\",\"e\":\"AQAB\"}]}",
		 p256_x, p256_y);
	write_file(P("bad.json"), msg);
	snprintf(issuers, sizeof(issuers),
		 "  - iss: https://bad.test\n    audiences: \"*\"\n    jwks_file: %s\n",
		 P("bad.json"));
	p = policy_for(issuers);
	ag_error_init(&err);
	assert_int_equal(ag_verifier_new(p, &v, &err), AG_ERR_INVALID);
	snprintf(msg, sizeof(msg),
		 "%s: key 2 (kid 'abc'): bad base64url in 'n'", P("bad.json"));
	assert_string_equal(err.msg, msg);
	ag_policy_free(p);
}

/* ---- the cache --------------------------------------------------------- */

static void assert_stats(struct ag_verifier *v, uint64_t hits,
			 uint64_t misses)
{
	struct ag_verifier_stats st;

	ag_verifier_stats(v, &st);
	assert_int_equal(st.cache_hits, hits);
	assert_int_equal(st.cache_misses, misses);
}

static void test_cache(void **state)
{
	(void)state;
	struct ag_verifier *v = verifier_ok(policy);
	char *cl = claims("\"sid\":\"cached\"");
	char *t = sign("rsa.pem", "PS256", "rsa", cl);
	struct ag_claims c;
	char detail[256];

	assert_stats(v, 0, 0);
	assert_int_equal(check_with(v, t, NOW, &c, detail, sizeof(detail)),
			 AG_TOK_OK);
	ag_claims_release(&c);
	assert_stats(v, 0, 1);
	/* a repeat is a hit, with the same claims */
	assert_int_equal(check_with(v, t, NOW, &c, detail, sizeof(detail)),
			 AG_TOK_OK);
	assert_string_equal(c.sid, "cached");
	assert_string_equal(c.kid, "rsa");
	assert_string_equal(c.alg, "PS256");
	assert_int_equal(c.exp, NOW + 3600);
	ag_claims_release(&c);
	assert_stats(v, 1, 1);
	/* the cached token still expires: the times run on every hit */
	expect_at(v, t, NOW + 3600 + 60, AG_TOK_EXPIRED);
	expect_at(v, t, NOW - 100, AG_TOK_NOT_YET_VALID);
	assert_stats(v, 3, 1);
	expect_at(v, t, NOW + 3600 + 59, AG_TOK_OK);
	assert_stats(v, 4, 1);
	/* a token that differs in one bit is not the cached one */
	char *bad = flip_sig_bit(t, 100);
	expect_at(v, bad, NOW, AG_TOK_SIGNATURE);
	assert_stats(v, 4, 2);
	expect_at(v, bad, NOW, AG_TOK_SIGNATURE); /* failures are not kept */
	assert_stats(v, 4, 3);
	/* with the cache off, every check verifies */
	ag_verifier_set_cache(v, false);
	expect_at(v, t, NOW, AG_TOK_OK);
	assert_stats(v, 4, 3);
	ag_verifier_set_cache(v, true);
	expect_at(v, t, NOW, AG_TOK_OK);
	assert_stats(v, 5, 3);

	free(bad);
	free(t);
	free(cl);
	ag_verifier_free(v);
}

/* Many tokens through the cache at once: more than fit one shard's
 * slots, from several threads. */
struct worker {
	struct ag_verifier *v;
	char **tokens;
	size_t n;
	int failures;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	for (int round = 0; round < 50; round++)
		for (size_t i = 0; i < w->n; i++) {
			struct ag_claims c;
			if (ag_verifier_check(w->v, w->tokens[i],
					      strlen(w->tokens[i]), NOW, &c,
					      NULL, 0) != AG_TOK_OK)
				w->failures++;
			ag_claims_release(&c);
		}
	return NULL;
}

static void test_cache_threads(void **state)
{
	(void)state;
	struct ag_verifier *v = verifier_ok(policy);
	char *tokens[8];
	pthread_t th[4];
	struct worker w[4];

	for (size_t i = 0; i < 8; i++) {
		char extra[32];
		snprintf(extra, sizeof(extra), "\"jti\":\"t%zu\"", i);
		char *cl = claims(extra);
		tokens[i] = sign("ed.pem", "EdDSA", "ed", cl);
		free(cl);
	}
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){v, tokens, 8, 0};
		assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
	struct ag_verifier_stats st;
	ag_verifier_stats(v, &st);
	assert_int_equal(st.cache_hits + st.cache_misses, 4 * 50 * 8);
	assert_true(st.cache_hits >= 4 * 50 * 8 / 2);
	for (size_t i = 0; i < 8; i++)
		free(tokens[i]);
	ag_verifier_free(v);
}

/* ---- rotation ---------------------------------------------------------- */

static void fetches_at(struct ag_verifier *v, uint64_t fetches,
		       uint64_t failures, int line)
{
	struct ag_verifier_stats st;

	ag_verifier_stats(v, &st);
	if (st.jwks_fetches != fetches || st.jwks_fetch_failures != failures)
		fail_msg("line %d: %llu fetches, %llu failed; want %llu, %llu",
			 line, (unsigned long long)st.jwks_fetches,
			 (unsigned long long)st.jwks_fetch_failures,
			 (unsigned long long)fetches,
			 (unsigned long long)failures);
}

#define assert_fetches(v, fetches, failures) \
	fetches_at((v), (fetches), (failures), __LINE__)

static void test_rotation(void **state)
{
	(void)state;
	char issuers[512];

	make_jwks("rot.json", LIST("a=p256.pem"));
	make_jwks("rot2.json", LIST("a=p256.pem", "b=p384.pem"));
	snprintf(issuers, sizeof(issuers),
		 "  - iss: https://rot.test\n    audiences: \"*\"\n    jwks_file: %s\n"
		 "    jwks_min_refresh: 1m\n    jwks_max_age: 1h\n",
		 P("rot.json"));
	char cl[256];
	snprintf(cl, sizeof(cl), "{\"iss\":\"https://rot.test\",\"exp\":%d}",
		 NOW + 60);
	char *ta = sign("p256.pem", "ES256", "a", cl);
	char *tb = sign("p384.pem", "ES384", "b", cl);
	char *tc = sign("p256.pem", "ES256", "c", cl);
	struct ag_policy *p = policy_for(issuers);
	struct ag_verifier *v = verifier_ok(p);
	struct ag_keyring *ring = ag_verifier_keyring(v, 0);

	assert_non_null(ring);
	assert_fetches(v, 1, 0);
	expect_at(v, ta, NOW, AG_TOK_OK);
	expect_at(v, tb, NOW, AG_TOK_UNKNOWN_KEY);
	/* the new key is published; within jwks_min_refresh of the last
	 * load it is not looked for */
	assert_int_equal(rename(P("rot2.json"), P("rot.json")), 0);
	expect_at(v, tb, NOW, AG_TOK_UNKNOWN_KEY);
	assert_fetches(v, 1, 0);
	/* after it, the unknown kid loads the set again.  The clock is moved
	 * by hand: a wide jwks_min_refresh and no sleep keep a slow,
	 * sanitized run from crossing it by accident. */
	ag_keyring_age(ring, 61);
	expect_at(v, tb, NOW, AG_TOK_OK);
	assert_fetches(v, 2, 0);
	/* the set changed: the cached token is verified again */
	assert_stats(v, 0, 4);
	expect_at(v, ta, NOW, AG_TOK_OK);
	assert_stats(v, 0, 5);
	expect_at(v, ta, NOW, AG_TOK_OK);
	assert_stats(v, 1, 5);

	/* a broken file keeps the keys we have */
	write_file(P("rot.json"), "{\"keys\": [");
	ag_keyring_age(ring, 61);
	expect_at(v, tc, NOW, AG_TOK_UNKNOWN_KEY);
	assert_fetches(v, 3, 1);
	expect_at(v, tb, NOW, AG_TOK_OK);
	/* ... until jwks_max_age after the last good load; cached tokens
	 * are refused too */
	ag_keyring_age(ring, 3600);
	char detail[256];
	struct ag_claims c;
	assert_int_equal(check_with(v, ta, NOW, &c, detail, sizeof(detail)),
			 AG_TOK_KEYS_UNAVAILABLE);
	assert_non_null(strstr(detail, "rot.json:1:"));
	assert_fetches(v, 4, 2);
	expect_at(v, tb, NOW, AG_TOK_KEYS_UNAVAILABLE);
	/* a good file again, after jwks_min_refresh */
	make_jwks("rot.json", LIST("a=p256.pem"));
	ag_keyring_age(ring, 61);
	expect_at(v, ta, NOW, AG_TOK_OK);
	assert_fetches(v, 5, 2);
	expect_at(v, tb, NOW, AG_TOK_UNKNOWN_KEY); /* b was withdrawn */

	free(ta);
	free(tb);
	free(tc);
	ag_verifier_free(v);
	ag_policy_free(p);
}

/* Keys older than half of jwks_max_age are loaded again before use. */
static void test_proactive_refresh(void **state)
{
	(void)state;
	char issuers[512];

	make_jwks("pro.json", LIST("a=ed.pem"));
	snprintf(issuers, sizeof(issuers),
		 "  - iss: https://pro.test\n    audiences: \"*\"\n    jwks_file: %s\n"
		 "    jwks_min_refresh: 1s\n    jwks_max_age: 10m\n",
		 P("pro.json"));
	struct ag_policy *p = policy_for(issuers);
	struct ag_verifier *v = verifier_ok(p);
	char cl[256];
	snprintf(cl, sizeof(cl), "{\"iss\":\"https://pro.test\",\"exp\":%d}",
		 NOW + 60);
	char *t = sign("ed.pem", "EdDSA", "a", cl);

	ag_verifier_set_cache(v, false);
	expect_at(v, t, NOW, AG_TOK_OK);
	ag_keyring_age(ag_verifier_keyring(v, 0), 280);
	expect_at(v, t, NOW, AG_TOK_OK);
	assert_fetches(v, 1, 0);
	ag_keyring_age(ag_verifier_keyring(v, 0), 20);
	expect_at(v, t, NOW, AG_TOK_OK);
	assert_fetches(v, 2, 0);
	free(t);
	ag_verifier_free(v);
	ag_policy_free(p);
}

/* ---- jwks_uri over HTTPS ----------------------------------------------- */

static pid_t server_pid;

/* Starts `openssl s_server -WWW` in www on a free loopback port. */
static int start_server(const char *www, const char *cert, const char *key)
{
	const char *log = P("server.log");
	unlink(log);
	server_pid = fork();
	assert_true(server_pid >= 0);
	if (server_pid == 0) {
		int out = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int in = open("/dev/null", O_RDONLY);
		/* Never outlive the test, whatever happens to it; and live
		 * through a client that hangs up early (the 1 MiB cap). */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGPIPE, SIG_IGN);
		if (out < 0 || in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
		    dup2(out, 2) < 0 || chdir(www))
			_exit(126);
		execlp("openssl", "openssl", "s_server", "-WWW", "-accept",
		       "127.0.0.1:0", "-cert", cert, "-key", key, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100; i++) {
		FILE *f = fopen(log, "r");
		char line[256];
		int port = 0;
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "ACCEPT 127.0.0.1:%d", &port) == 1)
				break;
		if (f)
			fclose(f);
		if (port > 0)
			return port;
		usleep(100 * 1000);
	}
	fail_msg("openssl s_server did not start");
	return 0;
}

static void stop_server(void)
{
	if (server_pid <= 0)
		return;
	kill(server_pid, SIGTERM);
	for (int i = 0; i < 50; i++) {
		if (waitpid(server_pid, NULL, WNOHANG) == server_pid) {
			server_pid = 0;
			return;
		}
		usleep(100 * 1000);
	}
	kill(server_pid, SIGKILL);
	waitpid(server_pid, NULL, 0);
	server_pid = 0;
}

static int https_teardown(void **state)
{
	(void)state;
	stop_server();
	return 0;
}

static void test_jwks_over_https(void **state)
{
	(void)state;
	char issuers[2048], cl[256], detail[256];
	struct ag_claims c;

	setenv("NO_PROXY", "*", 1);
	sh("cd %s && mkdir -p www && "
	   "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
	   "-nodes -keyout srv.key -out srv.crt -days 1 -subj /CN=aalgate-test "
	   "-addext subjectAltName=IP:127.0.0.1 2>/dev/null && "
	   "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
	   "-nodes -keyout other.key -out other.crt -days 1 "
	   "-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 "
	   "2>/dev/null && "
	   "head -c 1100000 /dev/zero | tr '\\0' ' ' > www/big.json",
	   dir);
	make_jwks("www/jwks.json", LIST("h1=p256.pem"));
	int port = start_server(P("www"), P("srv.crt"), P("srv.key"));
	snprintf(issuers, sizeof(issuers),
		 "  - iss: https://h.test\n    audiences: \"*\"\n"
		 "    jwks_uri: https://127.0.0.1:%d/jwks.json\n"
		 "    jwks_ca_file: %s\n"
		 "    jwks_min_refresh: 1s\n    jwks_max_age: 1m\n"
		 "  - iss: https://wrongca.test\n    audiences: \"*\"\n"
		 "    jwks_uri: https://127.0.0.1:%d/jwks.json\n"
		 "    jwks_ca_file: %s\n"
		 "  - iss: https://big.test\n    audiences: \"*\"\n"
		 "    jwks_uri: https://127.0.0.1:%d/big.json\n"
		 "    jwks_ca_file: %s\n"
		 "  - iss: https://name.test\n    audiences: \"*\"\n"
		 "    jwks_uri: https://localhost:%d/jwks.json\n"
		 "    jwks_ca_file: %s\n",
		 port, P("srv.crt"), port, P("other.crt"), port, P("srv.crt"),
		 port, P("srv.crt"));
	struct ag_policy *p = policy_for(issuers);
	struct ag_verifier *v = verifier_ok(p); /* failed fetches: not fatal */
	assert_fetches(v, 4, 3);

	snprintf(cl, sizeof(cl), "{\"iss\":\"https://h.test\",\"exp\":%d}",
		 NOW + 60);
	char *t1 = sign("p256.pem", "ES256", "h1", cl);
	char *t2 = sign("p384.pem", "ES384", "h2", cl);
	expect_at(v, t1, NOW, AG_TOK_OK);

	/* the wrong CA fails closed */
	snprintf(cl, sizeof(cl),
		 "{\"iss\":\"https://wrongca.test\",\"exp\":%d}", NOW + 60);
	char *tw = sign("p256.pem", "ES256", "h1", cl);
	assert_int_equal(check_with(v, tw, NOW, &c, detail, sizeof(detail)),
			 AG_TOK_KEYS_UNAVAILABLE);
	assert_non_null(strstr(detail, "certificate"));
	/* so does a body over 1 MiB */
	snprintf(cl, sizeof(cl), "{\"iss\":\"https://big.test\",\"exp\":%d}",
		 NOW + 60);
	char *tbig = sign("p256.pem", "ES256", "h1", cl);
	assert_int_equal(check_with(v, tbig, NOW, &c, detail, sizeof(detail)),
			 AG_TOK_KEYS_UNAVAILABLE);
	assert_non_null(strstr(detail, "response over 1048576 bytes"));
	/* and a certificate for another name (127.0.0.1, not localhost) */
	snprintf(cl, sizeof(cl), "{\"iss\":\"https://name.test\",\"exp\":%d}",
		 NOW + 60);
	char *tname = sign("p256.pem", "ES256", "h1", cl);
	assert_int_equal(check_with(v, tname, NOW, &c, detail, sizeof(detail)),
			 AG_TOK_KEYS_UNAVAILABLE);
	assert_non_null(strstr(detail, "subject name"));

	/* a new key is fetched on its unknown kid */
	make_jwks("www/jwks.json", LIST("h1=p256.pem", "h2=p384.pem"));
	struct ag_keyring *ring = ag_verifier_keyring(v, 0);
	ag_keyring_age(ring, 2);
	expect_at(v, t2, NOW, AG_TOK_OK);
	assert_fetches(v, 5, 3);

	/* the server goes away: keys survive within jwks_max_age */
	stop_server();
	ag_verifier_set_cache(v, false);
	ag_keyring_age(ring, 2);
	snprintf(cl, sizeof(cl), "{\"iss\":\"https://h.test\",\"exp\":%d}",
		 NOW + 60);
	char *t3 = sign("p256.pem", "ES256", "h3", cl);
	expect_at(v, t3, NOW, AG_TOK_UNKNOWN_KEY);
	assert_fetches(v, 6, 4);
	expect_at(v, t1, NOW, AG_TOK_OK);
	expect_at(v, t2, NOW, AG_TOK_OK);
	/* ... and not after it */
	ag_keyring_age(ring, 60);
	expect_at(v, t1, NOW, AG_TOK_KEYS_UNAVAILABLE);
	assert_fetches(v, 7, 5);

	free(t1);
	free(t2);
	free(t3);
	free(tw);
	free(tbig);
	free(tname);
	ag_verifier_free(v);
	ag_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_names),
		cmocka_unit_test(test_b64url_strict),
		cmocka_unit_test(test_claims_parse),
		cmocka_unit_test(test_jwks_parse),
		cmocka_unit_test(test_jwks_file_errors),
		cmocka_unit_test(test_rfc7515_examples),
		cmocka_unit_test(test_generated_keys_verify),
		cmocka_unit_test(test_claims_come_out),
		cmocka_unit_test(test_no_kid_takes_the_only_fitting_key),
		cmocka_unit_test(test_attack_alg_none),
		cmocka_unit_test(test_attack_hmac_with_public_key),
		cmocka_unit_test(test_attack_unsupported_alg),
		cmocka_unit_test(test_attack_typ),
		cmocka_unit_test(test_attack_kid),
		cmocka_unit_test(test_attack_times),
		cmocka_unit_test(test_attack_audience_and_issuer),
		cmocka_unit_test(test_attack_signatures),
		cmocka_unit_test(test_attack_ecdsa_der),
		cmocka_unit_test(test_attack_key_confusion),
		cmocka_unit_test(test_attack_encoding),
		cmocka_unit_test(test_attack_size),
		cmocka_unit_test(test_attack_duplicates),
		cmocka_unit_test(test_attack_crit),
		cmocka_unit_test(test_attack_non_objects),
		cmocka_unit_test(test_attack_bad_claims),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_cache_threads),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_proactive_refresh),
		cmocka_unit_test_teardown(test_jwks_over_https, https_teardown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
