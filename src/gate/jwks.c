/*
 * JWK sets (RFC 7517) and the key rings that hold each issuer's keys
 * (docs/gate.md).
 *
 * A key ring reads its issuer's jwks_file or fetches its jwks_uri over
 * HTTPS, and loads the set again when a token names an unknown kid or
 * the keys grow old, at most once per jwks_min_refresh.  Only one thread
 * loads at a time; the others go on with the keys they have.  Keys
 * survive failed loads until jwks_max_age after the last good one; after
 * that the issuer's tokens are refused.  Times here come from the
 * monotonic clock, never from a request.
 *
 * The thread whose token needs a load does it before going on: a file
 * read, or a fetch bounded by its 3 s connect and 5 s total timeouts.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include "gate/jose-int.h"
#include "util.h"
#include "banned.h"

/* Largest RSA modulus and public exponent read, in bytes. */
#define RSA_N_MAX 1024
#define RSA_E_MAX 8

/* ---- parsing ----------------------------------------------------------- */

/* Where in a set a key is, for messages. */
struct key_ctx {
	const char *name; /* the file or URI */
	size_t index;     /* 1-based; 0 for a key on its own */
	const char *kid;  /* NULL until known */
	struct ag_error *err;
};

AG_PRINTF(3, 4)
static ag_code key_err(const struct key_ctx *k, ag_code code, const char *fmt,
		       ...)
{
	char msg[256], kid[80];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!k->index)
		return ag_err(k->err, code, "%s: %s", k->name, msg);
	if (!k->kid)
		return ag_err(k->err, code, "%s: key %zu: %s", k->name,
			      k->index, msg);
	ag_safe_text(kid, sizeof(kid), k->kid);
	return ag_err(k->err, code, "%s: key %zu (kid '%s'): %s", k->name,
		      k->index, kid, msg);
}

/* An optional string member; *out is NULL when it is absent. */
static ag_code opt_str(const struct key_ctx *k, const json_t *o,
		       const char *member, const char **out)
{
	const json_t *v = json_object_get(o, member);

	*out = NULL;
	if (!v)
		return AG_OK;
	if (!json_is_string(v) || json_string_length(v) > AG_CLAIM_STR_MAX)
		return key_err(k, AG_ERR_INVALID, "'%s' is not a string",
			       member);
	*out = json_string_value(v);
	return AG_OK;
}

/* A base64url member of exactly want bytes, or of 1..max bytes when want
 * is 0, decoded into a new buffer. */
static ag_code get_b64(const struct key_ctx *k, const json_t *o,
		       const char *member, size_t want, size_t max,
		       unsigned char **out, size_t *len)
{
	const json_t *v = json_object_get(o, member);

	*out = NULL;
	if (!v)
		return key_err(k, AG_ERR_INVALID, "missing '%s'", member);
	if (!json_is_string(v))
		return key_err(k, AG_ERR_INVALID, "'%s' is not a string",
			       member);
	size_t slen = json_string_length(v);
	if (slen > (max + 2) / 3 * 4)
		return key_err(k, AG_ERR_INVALID, "'%s' is too long", member);
	if (!(*out = malloc(AG_B64URL_DECODED_MAX(slen))))
		return key_err(k, AG_ERR_NOMEM, "out of memory");
	if (!ag_b64url_decode(json_string_value(v), slen, *out, len)) {
		free(*out);
		*out = NULL;
		return key_err(k, AG_ERR_INVALID, "bad base64url in '%s'",
			       member);
	}
	if (want ? *len != want : (*len == 0 || *len > max)) {
		free(*out);
		*out = NULL;
		return want ? key_err(k, AG_ERR_INVALID,
				      "'%s' is not %zu bytes long", member,
				      want)
			    : key_err(k, AG_ERR_INVALID,
				      "'%s' has a bad length", member);
	}
	return AG_OK;
}

/* Builds a public key of OpenSSL type (RSA, EC, ED25519) from params. */
static EVP_PKEY *pkey_from(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;

	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

/* Is the EC point on its curve?  P-256 and P-384 have cofactor 1, so a
 * point on the curve (and not at infinity) is in the prime-order group:
 * the quick check (SEC 1 §3.2.2.1 without step 4, which is then implied)
 * is the whole check, without the full one's scalar multiplication. */
static bool public_check(EVP_PKEY *pkey)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	bool ok = ctx && EVP_PKEY_public_check_quick(ctx) == 1;

	EVP_PKEY_CTX_free(ctx);
	return ok;
}

static ag_code rsa_key(const struct key_ctx *k, const json_t *o,
		       struct ag_jwk *out)
{
	unsigned char *n = NULL, *e = NULL;
	size_t nlen, elen;
	BIGNUM *bn = NULL, *be = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	ag_code rc;

	if ((rc = get_b64(k, o, "n", 0, RSA_N_MAX, &n, &nlen)) ||
	    (rc = get_b64(k, o, "e", 0, RSA_E_MAX, &e, &elen)))
		goto out;
	if (!(bn = BN_bin2bn(n, (int)nlen, NULL)) ||
	    !(be = BN_bin2bn(e, (int)elen, NULL))) {
		rc = key_err(k, AG_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (!BN_is_odd(bn) || BN_num_bits(bn) < 512) {
		rc = key_err(k, AG_ERR_INVALID,
			     "'n' is not an RSA modulus of 512 bits or more");
		goto out;
	}
	if (!BN_is_odd(be) || BN_is_one(be)) {
		rc = key_err(k, AG_ERR_INVALID, "'e' is not a valid exponent");
		goto out;
	}
	if (!(bld = OSSL_PARAM_BLD_new()) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be)) {
		rc = key_err(k, AG_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (!(out->pkey = pkey_from("RSA", bld))) {
		rc = key_err(k, AG_ERR_INVALID, "not a valid RSA public key");
		goto out;
	}
	out->type = AG_KEY_RSA;
	out->bits = EVP_PKEY_get_bits(out->pkey);
	rc = AG_OK;
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	free(n);
	free(e);
	return rc;
}

static ag_code ec_key(const struct key_ctx *k, const json_t *o,
		      const char *crv, struct ag_jwk *out)
{
	bool p256 = !strcmp(crv, "P-256");
	const char *group = p256 ? "prime256v1" : "secp384r1";
	size_t flen = p256 ? 32 : 48;
	unsigned char *x = NULL, *y = NULL, point[1 + 2 * 48];
	size_t xlen, ylen;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;
	ag_code rc;

	if ((rc = get_b64(k, o, "x", flen, flen, &x, &xlen)) ||
	    (rc = get_b64(k, o, "y", flen, flen, &y, &ylen)))
		goto out;
	/* The uncompressed point: 0x04 || x || y (SEC 1 §2.3.3). */
	point[0] = 0x04;
	memcpy(point + 1, x, flen);
	memcpy(point + 1 + flen, y, flen);
	if (!(bld = OSSL_PARAM_BLD_new()) ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					     group, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
					      point, 1 + 2 * flen)) {
		rc = key_err(k, AG_ERR_NOMEM, "out of memory");
		goto out;
	}
	pkey = pkey_from("EC", bld);
	if (!pkey || !public_check(pkey)) {
		EVP_PKEY_free(pkey);
		rc = key_err(k, AG_ERR_INVALID,
			     "'x' and 'y' are not a point on %s", crv);
		goto out;
	}
	out->pkey = pkey;
	out->type = p256 ? AG_KEY_P256 : AG_KEY_P384;
	out->bits = EVP_PKEY_get_bits(out->pkey);
	rc = AG_OK;
out:
	OSSL_PARAM_BLD_free(bld);
	free(x);
	free(y);
	return rc;
}

static ag_code okp_key(const struct key_ctx *k, const json_t *o,
		       struct ag_jwk *out)
{
	unsigned char *x = NULL;
	size_t xlen;
	OSSL_PARAM_BLD *bld = NULL;
	ag_code rc;

	if ((rc = get_b64(k, o, "x", 32, 32, &x, &xlen)))
		return rc;
	if (!(bld = OSSL_PARAM_BLD_new()) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, x,
					      xlen)) {
		rc = key_err(k, AG_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (!(out->pkey = pkey_from("ED25519", bld))) {
		rc = key_err(k, AG_ERR_INVALID, "not a valid Ed25519 key");
		goto out;
	}
	out->type = AG_KEY_ED25519;
	out->bits = EVP_PKEY_get_bits(out->pkey);
	rc = AG_OK;
out:
	OSSL_PARAM_BLD_free(bld);
	free(x);
	return rc;
}

/* A public key set must not carry private key material: that it does
 * means the publisher leaked it (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037
 * §2). */
static ag_code no_private(const struct key_ctx *k, const json_t *o)
{
	static const char *const secret[] = {"d",  "p",  "q",   "dp",
					     "dq", "qi", "oth", "k"};

	for (size_t i = 0; i < AG_ARRAY_SIZE(secret); i++)
		if (json_object_get(o, secret[i]))
			return key_err(k, AG_ERR_INVALID,
				       "carries the private parameter '%s'",
				       secret[i]);
	return AG_OK;
}

/* Is the key meant for signatures?  "use" other than "sig" (RFC 7517
 * §4.2), or key_ops without "verify" (§4.3), says it is not. */
static ag_code for_signing(const struct key_ctx *k, const json_t *o,
			   bool *yes)
{
	const json_t *ops = json_object_get(o, "key_ops");
	const char *use;
	ag_code rc;

	*yes = false;
	if ((rc = opt_str(k, o, "use", &use)))
		return rc;
	if (use && strcmp(use, "sig"))
		return AG_OK;
	if (!ops) {
		*yes = true;
		return AG_OK;
	}
	if (!json_is_array(ops))
		return key_err(k, AG_ERR_INVALID, "'key_ops' is not an array");
	for (size_t i = 0; i < json_array_size(ops); i++) {
		const char *op = json_string_value(json_array_get(ops, i));
		if (!op)
			return key_err(k, AG_ERR_INVALID,
				       "'key_ops' lists a non-string");
		if (!strcmp(op, "verify"))
			*yes = true;
	}
	return AG_OK;
}

void ag_jwk_release(struct ag_jwk *k)
{
	for (size_t i = 0; i < AG_JWS_ALGS; i++)
		EVP_MD_CTX_free(k->verify[i]);
	free(k->kid);
	free(k->alg);
	EVP_PKEY_free(k->pkey);
	memset(k, 0, sizeof(*k));
}

/* Sets up a verification context for each algorithm the key fits, so
 * that a token costs a copy of it rather than a new setup.  RSA keys
 * under AG_RSA_MIN_BITS get none: they verify nothing. */
static ag_code prepare(const struct key_ctx *k, struct ag_jwk *key)
{
	if (key->type == AG_KEY_RSA && key->bits < AG_RSA_MIN_BITS)
		return AG_OK;
	for (size_t i = 0; i < AG_JWS_ALGS; i++) {
		const struct ag_jws_alg *a = ag_jws_alg_at(i);
		if (ag_jwk_fits(key, a) &&
		    !(key->verify[i] = ag_jws_verify_ctx(a, key->pkey)))
			return key_err(k, AG_ERR_INVALID,
				       "cannot verify %s with this key",
				       a->name);
	}
	return AG_OK;
}

/* Reads one key; *used is false when it is skipped.  With prep, it
 * also sets up its verification contexts (prepare). */
static ag_code parse_key(struct key_ctx *k, const json_t *o,
			 struct ag_jwk *out, bool *used, bool prep)
{
	const char *kty, *crv, *alg;
	bool sig;
	ag_code rc;

	*used = false;
	memset(out, 0, sizeof(*out));
	if (!json_is_object(o))
		return key_err(k, AG_ERR_INVALID, "not a JSON object");
	if ((rc = opt_str(k, o, "kid", &k->kid)) || (rc = no_private(k, o)) ||
	    (rc = opt_str(k, o, "kty", &kty)) ||
	    (rc = opt_str(k, o, "crv", &crv)) ||
	    (rc = opt_str(k, o, "alg", &alg)) ||
	    (rc = for_signing(k, o, &sig)))
		return rc;
	if (!kty)
		return key_err(k, AG_ERR_INVALID, "missing 'kty'");
	if (!sig)
		return AG_OK;
	if (!strcmp(kty, "RSA"))
		rc = rsa_key(k, o, out);
	else if (!strcmp(kty, "EC") && crv &&
		 (!strcmp(crv, "P-256") || !strcmp(crv, "P-384")))
		rc = ec_key(k, o, crv, out);
	else if (!strcmp(kty, "OKP") && crv && !strcmp(crv, "Ed25519"))
		rc = okp_key(k, o, out);
	else
		return AG_OK; /* a key type or curve we do not use */
	if (rc)
		return rc;
	if ((k->kid && !(out->kid = ag_strdup(k->kid))) ||
	    (alg && !(out->alg = ag_strdup(alg))))
		rc = key_err(k, AG_ERR_NOMEM, "out of memory");
	else if (prep)
		rc = prepare(k, out);
	if (rc) {
		ag_jwk_release(out);
		return rc;
	}
	*used = true;
	return AG_OK;
}

static ag_code parse_keys(const char *name, const json_t *keys,
			  struct ag_jwks *out, struct ag_error *err)
{
	size_t n = json_array_size(keys);

	if (n > AG_JWKS_MAX_KEYS)
		return ag_err(err, AG_ERR_LIMIT,
			      "%s: %zu keys, at most %d", name, n,
			      AG_JWKS_MAX_KEYS);
	if (n && !(out->keys = calloc(n, sizeof(*out->keys))))
		return ag_err(err, AG_ERR_NOMEM, "%s: out of memory", name);
	for (size_t i = 0; i < n; i++) {
		struct key_ctx k = {name, i + 1, NULL, err};
		bool used;
		ag_code rc = parse_key(&k, json_array_get(keys, i),
				       &out->keys[out->n], &used, true);
		if (rc)
			return rc;
		out->n += used;
	}
	if (!out->n)
		return ag_err(err, AG_ERR_INVALID,
			      "%s: no usable signing key among %zu", name, n);
	return AG_OK;
}

ag_code ag_jwks_parse_buffer(const char *name, const char *buf, size_t len,
			     struct ag_jwks *out, struct ag_error *err)
{
	json_error_t jerr;
	json_t *root = NULL;
	ag_code rc;

	memset(out, 0, sizeof(*out));
	if (len > AG_JWKS_MAX_BYTES)
		return ag_err(err, AG_ERR_LIMIT, "%s: %zu bytes, at most %d",
			      name, len, AG_JWKS_MAX_BYTES);
	if (ag_json_object(buf, len, &root, &jerr) != AG_TOK_OK) {
		/* jansson leaves the text empty when the JSON was good but
		 * not an object. */
		if (!jerr.text[0])
			return ag_err(err, AG_ERR_SYNTAX,
				      "%s: not a JSON object", name);
		if (jerr.line < 1)
			return ag_err(err, AG_ERR_SYNTAX, "%s: %s", name,
				      jerr.text);
		return ag_err_at(err, AG_ERR_SYNTAX, name, (unsigned)jerr.line,
				 (unsigned)jerr.column, "%s", jerr.text);
	}
	const json_t *keys = json_object_get(root, "keys");
	if (!json_is_array(keys))
		rc = ag_err(err, AG_ERR_INVALID,
			    "%s: not a JWK set (no \"keys\" array)", name);
	else
		rc = parse_keys(name, keys, out, err);
	json_decref(root);
	if (rc)
		ag_jwks_release(out);
	ERR_clear_error(); /* what OpenSSL said about refused keys */
	return rc;
}

ag_code ag_jwk_parse(const char *name, const json_t *o, struct ag_jwk *out,
		     struct ag_error *err)
{
	struct key_ctx k = {name, 0, NULL, err};
	bool used;
	ag_code rc = parse_key(&k, o, out, &used, false);

	ERR_clear_error();
	if (rc)
		return rc;
	if (!used)
		return key_err(&k, AG_ERR_INVALID,
			       "not a signing key of a type we verify (RSA, "
			       "EC P-256 or P-384, Ed25519)");
	return AG_OK;
}

/* The members RFC 7638 §3.2 names for each key type, in order. */
ag_code ag_jwk_thumbprint(const json_t *o, char *out, size_t out_len)
{
	static const char *const rsa[] = {"e", "kty", "n", NULL};
	static const char *const ec[] = {"crv", "kty", "x", "y", NULL};
	static const char *const okp[] = {"crv", "kty", "x", NULL};
	const char *kty = json_string_value(json_object_get(o, "kty"));
	const char *const *names;
	char buf[2 * RSA_N_MAX + 128];
	size_t n = 0;

	if (!kty || out_len < AG_B64URL_ENCODED_LEN(32))
		return AG_ERR_INVALID;
	if (!strcmp(kty, "RSA"))
		names = rsa;
	else if (!strcmp(kty, "EC"))
		names = ec;
	else if (!strcmp(kty, "OKP"))
		names = okp;
	else
		return AG_ERR_INVALID;
	/* The JSON of the required members, in lexicographic order, with
	 * no whitespace.  Every value is base64url or a curve name, which
	 * need no escaping; anything else is refused rather than escaped
	 * differently from the signer. */
	buf[n++] = '{';
	for (size_t i = 0; names[i]; i++) {
		const char *v = json_string_value(json_object_get(o, names[i]));
		if (!v)
			return AG_ERR_INVALID;
		for (const char *c = v; *c; c++)
			if (!((*c >= 'A' && *c <= 'Z') ||
			      (*c >= 'a' && *c <= 'z') ||
			      (*c >= '0' && *c <= '9') || *c == '-' ||
			      *c == '_'))
				return AG_ERR_INVALID;
		int w = snprintf(buf + n, sizeof(buf) - n, "%s\"%s\":\"%s\"",
				 i ? "," : "", names[i], v);
		if (w < 0 || (size_t)w >= sizeof(buf) - n - 1)
			return AG_ERR_LIMIT;
		n += (size_t)w;
	}
	buf[n++] = '}';
	unsigned char md[32];
	if (!EVP_Q_digest(NULL, "SHA256", NULL, buf, n, md, NULL))
		return AG_ERR_INTERNAL;
	ag_b64url_encode(md, sizeof(md), out);
	return AG_OK;
}

void ag_jwks_release(struct ag_jwks *s)
{
	for (size_t i = 0; i < s->n; i++)
		ag_jwk_release(&s->keys[i]);
	free(s->keys);
	memset(s, 0, sizeof(*s));
}

bool ag_jwk_fits(const struct ag_jwk *k, const struct ag_jws_alg *a)
{
	return k->type == a->key && (!k->alg || !strcmp(k->alg, a->name));
}

/* Do a and b hold the same keys, in the same order? */
static bool jwks_same(const struct ag_jwks *a, const struct ag_jwks *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct ag_jwk *x = &a->keys[i], *y = &b->keys[i];
		if (!x->kid != !y->kid || (x->kid && strcmp(x->kid, y->kid)) ||
		    !x->alg != !y->alg || (x->alg && strcmp(x->alg, y->alg)) ||
		    x->type != y->type || EVP_PKEY_eq(x->pkey, y->pkey) != 1)
			return false;
	}
	return true;
}

/* ---- loading: a file or an HTTPS fetch ---------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static bool curl_ready;

static void curl_setup(void)
{
	curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
	struct ag_buf *b = userdata;

	if (n && size > SIZE_MAX / n)
		return 0;
	/* Past the cap ag_buf_add fails, and returning short aborts. */
	return ag_buf_add(b, p, size * n) ? 0 : size * n;
}

static bool curl_options(CURL *h, const struct ag_issuer *is,
			 struct ag_buf *body, char *errbuf)
{
	return !curl_easy_setopt(h, CURLOPT_URL, is->jwks_uri) &&
	       !curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https") &&
	       !curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https") &&
	       !curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L) &&
	       !curl_easy_setopt(h, CURLOPT_MAXREDIRS, 3L) &&
	       !curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) &&
	       !curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) &&
	       !curl_easy_setopt(h, CURLOPT_SSLVERSION,
				 (long)CURL_SSLVERSION_TLSv1_2) &&
	       /* With a CA file of its own, the issuer trusts nothing else. */
	       (!is->jwks_ca_file ||
		(!curl_easy_setopt(h, CURLOPT_CAINFO, is->jwks_ca_file) &&
		 !curl_easy_setopt(h, CURLOPT_CAPATH, NULL))) &&
	       !curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 3000L) &&
	       !curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L) &&
	       !curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) &&
	       !curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
				 (curl_off_t)AG_JWKS_MAX_BYTES) &&
	       !curl_easy_setopt(h, CURLOPT_USERAGENT, "aalgate/" AG_VERSION) &&
	       !curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf) &&
	       !curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) &&
	       !curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
}

static ag_code fetch_uri(const struct ag_issuer *is, struct ag_buf *body,
			 struct ag_error *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	ag_code rc = AG_ERR_IO;

	pthread_once(&curl_once, curl_setup);
	CURL *h = curl_ready ? curl_easy_init() : NULL;
	if (!h)
		return ag_err(err, AG_ERR_INTERNAL, "%s: cannot set up libcurl",
			      is->jwks_uri);
	if (!curl_options(h, is, body, errbuf)) {
		ag_err(err, AG_ERR_INTERNAL, "%s: libcurl refused an option",
		       is->jwks_uri);
		goto out;
	}
	CURLcode cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		if (body->failed)
			rc = ag_err(err, AG_ERR_LIMIT,
				    "%s: response over %d bytes", is->jwks_uri,
				    AG_JWKS_MAX_BYTES);
		else
			ag_err(err, AG_ERR_IO, "%s: %s", is->jwks_uri,
			       errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		ag_err(err, AG_ERR_IO, "%s: HTTP status %ld", is->jwks_uri,
		       status);
		goto out;
	}
	rc = AG_OK;
out:
	curl_easy_cleanup(h);
	return rc;
}

/* Reads the issuer's keys from its file or URI. */
static ag_code load_keys(const struct ag_issuer *is, struct ag_jwks *out,
			 struct ag_error *err)
{
	struct ag_buf body;
	char *text = NULL;
	size_t len = 0;
	ag_code rc;

	memset(out, 0, sizeof(*out));
	if (is->jwks_file) {
		rc = ag_read_file(is->jwks_file, AG_JWKS_MAX_BYTES, &text, &len,
				  err);
		if (!rc)
			rc = ag_jwks_parse_buffer(is->jwks_file, text, len, out,
						  err);
		free(text);
		return rc;
	}
	ag_buf_init(&body, AG_JWKS_MAX_BYTES);
	rc = fetch_uri(is, &body, err);
	if (!rc)
		rc = ag_jwks_parse_buffer(is->jwks_uri,
					  body.data ? body.data : "", body.len,
					  out, err);
	ag_buf_release(&body);
	return rc;
}

/* ---- key rings --------------------------------------------------------- */

struct ag_keyring {
	const struct ag_issuer *is;
	pthread_mutex_t lock;
	struct ag_jwks set;    /* under lock; empty until a load works */
	bool loading;          /* under lock: a thread is loading */
	int64_t attempted;     /* under lock: when the last load began */
	char last_error[256];  /* under lock: why the last load failed */
	_Atomic int64_t loaded; /* when the last good load ended */
	_Atomic uint64_t generation; /* 0: no keys; bumped on every change */
	_Atomic uint64_t fetches, failures;
};

/* Seconds on the monotonic clock. */
static int64_t mono_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts))
		return 0;
	return (int64_t)ts.tv_sec;
}

/* Takes the keys of a good load; r->lock is held. */
static void install_locked(struct ag_keyring *r, struct ag_jwks *fresh)
{
	if (r->set.n && jwks_same(&r->set, fresh)) {
		ag_jwks_release(fresh);
	} else {
		/* Keys in use by a verification hold their own reference. */
		ag_jwks_release(&r->set);
		r->set = *fresh;
		memset(fresh, 0, sizeof(*fresh));
		atomic_fetch_add(&r->generation, 1);
	}
	r->last_error[0] = '\0';
	atomic_store(&r->loaded, mono_now());
}

/* Loads the keys again; r->lock is held on entry and on return but not
 * during the load, and r->loading keeps other threads from starting one. */
static void reload_locked(struct ag_keyring *r, int64_t now)
{
	struct ag_jwks fresh;
	struct ag_error err;

	r->loading = true;
	r->attempted = now;
	pthread_mutex_unlock(&r->lock);
	atomic_fetch_add(&r->fetches, 1);
	ag_error_init(&err);
	ag_code rc = load_keys(r->is, &fresh, &err);
	pthread_mutex_lock(&r->lock);
	r->loading = false;
	if (rc) {
		atomic_fetch_add(&r->failures, 1);
		ag_strlcpy(r->last_error, err.msg, sizeof(r->last_error));
		return;
	}
	install_locked(r, &fresh);
}

ag_code ag_keyring_new(const struct ag_issuer *is, struct ag_keyring **out,
		       struct ag_error *err)
{
	struct ag_keyring *r = calloc(1, sizeof(*r));
	struct ag_jwks set;
	struct ag_error lerr;

	*out = NULL;
	if (!r)
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	if (pthread_mutex_init(&r->lock, NULL)) {
		free(r);
		return ag_err(err, AG_ERR_INTERNAL, "cannot create a mutex");
	}
	r->is = is;
	r->attempted = mono_now();
	atomic_init(&r->loaded, 0);
	atomic_init(&r->generation, 0);
	atomic_init(&r->fetches, 1);
	atomic_init(&r->failures, 0);
	ag_error_init(&lerr);
	ag_code rc = load_keys(is, &set, &lerr);
	if (rc && is->jwks_file) {
		ag_keyring_free(r);
		if (err)
			*err = lerr;
		return rc;
	}
	if (rc) {
		/* A jwks_uri that fails now may work later. */
		atomic_store(&r->failures, 1);
		ag_strlcpy(r->last_error, lerr.msg, sizeof(r->last_error));
	} else {
		install_locked(r, &set);
	}
	*out = r;
	return AG_OK;
}

void ag_keyring_free(struct ag_keyring *r)
{
	if (!r)
		return;
	ag_jwks_release(&r->set);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* Are the keys there and younger than jwks_max_age? */
static bool usable(const struct ag_keyring *r, int64_t now)
{
	return atomic_load(&r->generation) != 0 &&
	       now - atomic_load(&r->loaded) < r->is->jwks_max_age;
}

bool ag_keyring_current(const struct ag_keyring *r, uint64_t generation)
{
	return generation && atomic_load(&r->generation) == generation &&
	       usable(r, mono_now());
}

/* The key of set s for kid, or with no kid the only key fitting a. */
static enum ag_token_error pick_key(const struct ag_jwks *s, const char *kid,
				    const struct ag_jws_alg *a,
				    const struct ag_jwk **out)
{
	size_t named = 0, fitting = 0;

	for (size_t i = 0; i < s->n; i++) {
		const struct ag_jwk *k = &s->keys[i];
		if (kid && (!k->kid || strcmp(k->kid, kid)))
			continue;
		named++;
		if (ag_jwk_fits(k, a) && !fitting++)
			*out = k;
	}
	if (kid)
		return !named ? AG_TOK_UNKNOWN_KEY
			      : fitting ? AG_TOK_OK : AG_TOK_KEY_MISMATCH;
	return fitting == 1 ? AG_TOK_OK : AG_TOK_UNKNOWN_KEY;
}

/* Should this lookup load the keys again?  When they are missing, old or
 * lack the kid, and no load began within jwks_min_refresh. */
static bool want_reload(const struct ag_keyring *r, int64_t now,
			enum ag_token_error found)
{
	int64_t age = now - atomic_load(&r->loaded);

	if (r->loading || now - r->attempted < r->is->jwks_min_refresh)
		return false;
	return !usable(r, now) || found == AG_TOK_UNKNOWN_KEY ||
	       age >= r->is->jwks_max_age / 2;
}

/* Explains a failed lookup; r->lock is held. */
static enum ag_token_error find_failed(const struct ag_keyring *r,
				       enum ag_token_error rc, const char *kid,
				       const struct ag_jws_alg *a,
				       char *detail, size_t dlen)
{
	char skid[80];

	ag_safe_text(skid, sizeof(skid), kid ? kid : "");
	switch (rc) {
	case AG_TOK_KEYS_UNAVAILABLE:
		return ag_tok_fail(detail, dlen, rc,
				   "no current keys for issuer '%s'%s%s",
				   r->is->iss, r->last_error[0] ? ": " : "",
				   r->last_error);
	case AG_TOK_KEY_MISMATCH:
		return ag_tok_fail(detail, dlen, rc,
				   "key '%s' does not fit alg %s", skid,
				   a->name);
	default:
		if (kid)
			return ag_tok_fail(detail, dlen, AG_TOK_UNKNOWN_KEY,
					   "issuer '%s' has no key '%s'",
					   r->is->iss, skid);
		return ag_tok_fail(detail, dlen, AG_TOK_UNKNOWN_KEY,
				   "token has no kid and issuer '%s' has no "
				   "single key for %s",
				   r->is->iss, a->name);
	}
}

/* A copy of k's context for alg, which must exist; r->lock is held, so
 * that no reload frees it meanwhile. */
static EVP_MD_CTX *copy_verifier(const struct ag_jwk *k,
				 const struct ag_jws_alg *alg)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx && k->verify[alg->index] &&
	    EVP_MD_CTX_copy_ex(ctx, k->verify[alg->index]) == 1)
		return ctx;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}

enum ag_token_error ag_keyring_find(struct ag_keyring *r, const char *kid,
				    const struct ag_jws_alg *alg,
				    EVP_MD_CTX **verify, uint64_t *generation,
				    char *detail, size_t detail_len)
{
	const struct ag_jwk *k = NULL;
	int64_t now = mono_now();
	enum ag_token_error rc;

	*verify = NULL;
	pthread_mutex_lock(&r->lock);
	rc = pick_key(&r->set, kid, alg, &k);
	if (want_reload(r, now, rc)) {
		reload_locked(r, now);
		now = mono_now();
		rc = pick_key(&r->set, kid, alg, &k);
	}
	if (!usable(r, now))
		rc = AG_TOK_KEYS_UNAVAILABLE;
	if (rc) {
		rc = find_failed(r, rc, kid, alg, detail, detail_len);
	} else if (k->type == AG_KEY_RSA && k->bits < AG_RSA_MIN_BITS) {
		rc = ag_tok_fail(detail, detail_len, AG_TOK_KEY_MISMATCH,
				 "RSA key of %d bits; %s needs %d or more",
				 k->bits, alg->name, AG_RSA_MIN_BITS);
	} else if ((*verify = copy_verifier(k, alg))) {
		*generation = atomic_load(&r->generation);
	} else {
		rc = ag_tok_fail(detail, detail_len, AG_TOK_KEYS_UNAVAILABLE,
				 "cannot use the key");
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

void ag_keyring_stats(const struct ag_keyring *r, uint64_t *fetches,
		      uint64_t *failures)
{
	*fetches = atomic_load(&r->fetches);
	*failures = atomic_load(&r->failures);
}

void ag_keyring_age(struct ag_keyring *r, int64_t secs)
{
	pthread_mutex_lock(&r->lock);
	atomic_fetch_sub(&r->loaded, secs);
	r->attempted -= secs;
	pthread_mutex_unlock(&r->lock);
}
