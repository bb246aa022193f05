/*
 * The token verifier (docs/gate.md): compact JWS (RFC 7515) with the
 * algorithms of RFC 7518 §3 and RFC 8037, the registered claims of RFC
 * 7519 §4.1, and a cache of verified tokens.
 *
 * The order of the checks is fixed, and the first that fails decides:
 * size; three strict base64url parts; the header (duplicate keys, alg,
 * crit); a signature at all; the payload's claims; the issuer; the key;
 * the signature; aud; exp present.  The times (exp, nbf, iat) come last
 * and run on every call, cached or not.
 *
 * The cache maps the exact bytes of a verified token to its claims, so
 * that a repeat costs a hash lookup and a copy.  It is bounded in entries
 * and bytes, sharded to keep threads apart, and an entry counts only
 * while its issuer's key set is the one that verified it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "gate/jose-int.h"
#include "util.h"
#include "banned.h"

/* ---- base64url --------------------------------------------------------- */

/* Value + 1 of each base64url character (RFC 4648 §5); 0 for others. */
static const unsigned char b64url_values[128] = {
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, 63,  0,  0,
	53, 54, 55, 56, 57, 58, 59, 60, 61, 62,  0,  0,  0,  0,  0,  0,
	 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15,
	16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26,  0,  0,  0,  0, 64,
	 0, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41,
	42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52,  0,  0,  0,  0,  0,
};

bool ag_b64url_decode(const char *in, size_t len, unsigned char *out,
		      size_t *out_len)
{
	uint32_t acc = 0;
	size_t bits = 0, o = 0;

	/* One character left over carries only 6 bits: no whole byte. */
	if (len % 4 == 1)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		unsigned v = c < 128 ? b64url_values[c] : 0;
		if (!v)
			return false;
		acc = (acc << 6) | (v - 1);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* The bits left over must be zero, or two strings would decode to
	 * the same bytes (RFC 4648 §3.5). */
	if (acc)
		return false;
	*out_len = o;
	return true;
}

/* ---- algorithms -------------------------------------------------------- */

static const struct ag_jws_alg algs[AG_JWS_ALGS] = {
	{"RS256", AG_KEY_RSA, "SHA256", false, 0, 0},
	{"RS384", AG_KEY_RSA, "SHA384", false, 0, 1},
	{"RS512", AG_KEY_RSA, "SHA512", false, 0, 2},
	{"PS256", AG_KEY_RSA, "SHA256", true, 0, 3},
	{"PS384", AG_KEY_RSA, "SHA384", true, 0, 4},
	{"PS512", AG_KEY_RSA, "SHA512", true, 0, 5},
	{"ES256", AG_KEY_P256, "SHA256", false, 64, 6},
	{"ES384", AG_KEY_P384, "SHA384", false, 96, 7},
	{"EdDSA", AG_KEY_ED25519, NULL, false, 0, 8},
};

const struct ag_jws_alg *ag_jws_alg_find(const char *name)
{
	for (size_t i = 0; i < AG_JWS_ALGS; i++)
		if (!strcmp(algs[i].name, name))
			return &algs[i];
	return NULL;
}

const struct ag_jws_alg *ag_jws_alg_at(size_t i)
{
	return i < AG_JWS_ALGS ? &algs[i] : NULL;
}

/* RSASSA-PSS as RFC 7518 §3.5 has it: MGF1 with the same digest, salt
 * as long as the digest. */
static bool set_pss(EVP_PKEY_CTX *pctx, const char *md)
{
	return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
	       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) ==
		       1 &&
	       EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, md, NULL) == 1;
}

EVP_MD_CTX *ag_jws_verify_ctx(const struct ag_jws_alg *a, EVP_PKEY *pkey)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;

	if (!md ||
	    EVP_DigestVerifyInit_ex(md, &pctx, a->md, NULL, NULL, pkey,
				    NULL) != 1 ||
	    (a->pss && !set_pss(pctx, a->md))) {
		EVP_MD_CTX_free(md);
		md = NULL;
	}
	ERR_clear_error();
	return md;
}

/* Explicit typing (RFC 8725 §3.11): a typ, when present, must say an
 * access token (RFC 9068 §2.1) or a plain JWT, as ID tokens carry.  A
 * DPoP proof, a logout token or a security event token signed by the
 * same key is another kind of JWT and never a credential here. */
static bool typ_ok(const char *typ)
{
	static const char *const ok[] = {"JWT", "at+jwt", "application/jwt",
					 "application/at+jwt"};

	for (size_t i = 0; i < AG_ARRAY_SIZE(ok); i++)
		if (!strcasecmp(typ, ok[i]))
			return true;
	return false;
}

static bool is_hmac(const char *name)
{
	return !strcasecmp(name, "HS256") || !strcasecmp(name, "HS384") ||
	       !strcasecmp(name, "HS512");
}

/* ---- the verifier ------------------------------------------------------ */

#define CACHE_SHARDS 64
#define CACHE_WAYS 256 /* per shard: 16384 entries in all */
#define CACHE_SHARD_BYTES (512u * 1024u) /* 32 MiB in all */

struct centry {
	char *token; /* NULL: the slot is free */
	size_t len;
	uint64_t hash;
	size_t bytes; /* counted against the shard's budget */
	size_t issuer;
	uint64_t generation; /* of the issuer's keys that verified it */
	bool referenced;     /* hit since the clock hand last passed */
	struct ag_claims claims;
};

struct cshard {
	pthread_mutex_t lock;
	size_t bytes;
	size_t hand; /* the clock hand, for eviction by size */
	struct centry slots[CACHE_WAYS];
};

struct ag_verifier {
	const struct ag_policy *policy;
	struct ag_keyring **rings; /* one per policy issuer, same order */
	size_t n_rings;
	uint64_t seed; /* of the cache's hash, so that slots are unguessable */
	struct cshard *shards;
	atomic_bool cache_on;
	_Atomic uint64_t hits, misses;
};

/* Where a check writes its explanation. */
struct msg {
	char *s;
	size_t len;
};

#define FAIL(m, e, ...) ag_tok_fail((m)->s, (m)->len, (e), __VA_ARGS__)

void ag_jws_release(struct ag_jws *j)
{
	free(j->buf);
	free(j->kid);
}

enum ag_token_error ag_jws_split(const char *tok, size_t len,
				 struct ag_jws *j, char *detail,
				 size_t detail_len)
{
	const struct msg mm = {detail, detail_len}, *m = &mm;
	const char *dot[2];
	size_t ndots = 0;

	for (const char *p = tok; (p = memchr(p, '.', len - (size_t)(p - tok)));
	     p++) {
		if (ndots < 2)
			dot[ndots] = p;
		ndots++;
	}
	if (ndots != 2)
		return FAIL(m, AG_TOK_MALFORMED, "token has %zu parts, not 3",
			    ndots + 1);
	const char *part[3] = {tok, dot[0] + 1, dot[1] + 1};
	size_t plen[3] = {(size_t)(dot[0] - tok), (size_t)(dot[1] - part[1]),
			  len - (size_t)(part[2] - tok)};
	unsigned char *out[3];
	size_t *olen[3] = {&j->hdr_len, &j->payload_len, &j->sig_len};
	static const char *const names[3] = {"header", "payload",
					     "signature"};

	j->signing_input = tok;
	j->signing_len = (size_t)(dot[1] - tok);
	/* Each part decodes to at most AG_B64URL_DECODED_MAX of its length. */
	if (!(j->buf = malloc(AG_B64URL_DECODED_MAX(len) + 6)))
		return FAIL(m, AG_TOK_MALFORMED, "out of memory");
	out[0] = j->buf;
	for (int i = 0; i < 3; i++) {
		if (!ag_b64url_decode(part[i], plen[i], out[i], olen[i]))
			return FAIL(m, AG_TOK_MALFORMED,
				    "the %s is not strict base64url", names[i]);
		if (i < 2)
			out[i + 1] = out[i] + *olen[i];
	}
	j->hdr = out[0];
	j->payload = out[1];
	j->sig = out[2];
	return AG_TOK_OK;
}

/* What a "crit" header says; any is refused, since we understand no
 * extension (RFC 7515 §4.1.11). */
static enum ag_token_error refuse_crit(const json_t *crit, const struct msg *m)
{
	const char *first;
	char name[80];

	if (!json_is_array(crit) || !json_array_size(crit) ||
	    !(first = json_string_value(json_array_get(crit, 0))))
		return FAIL(m, AG_TOK_CRIT, "crit is not a non-empty array "
					    "of names");
	ag_safe_text(name, sizeof(name), first);
	return FAIL(m, AG_TOK_CRIT, "crit names an extension we do not "
				    "understand ('%s')",
		    name);
}

static enum ag_token_error jws_header(struct ag_jws *j, const struct msg *m)
{
	json_t *h = NULL;
	const json_t *v;
	char name[80];
	enum ag_token_error rc;

	rc = ag_json_object((const char *)j->hdr, j->hdr_len, &h, NULL);
	if (rc == AG_TOK_DUPLICATE)
		return FAIL(m, rc, "the header repeats a key");
	if (rc)
		return FAIL(m, AG_TOK_MALFORMED,
			    "the header is not a JSON object");
	if (!(v = json_object_get(h, "alg")) || !json_is_string(v)) {
		rc = FAIL(m, AG_TOK_MALFORMED,
			  "the header has no alg, or not as a string");
		goto out;
	}
	const char *alg = json_string_value(v);
	ag_safe_text(name, sizeof(name), alg);
	if (!strcasecmp(alg, "none")) {
		rc = FAIL(m, AG_TOK_ALG_NONE, "alg '%s': unsigned tokens are "
					      "refused", name);
	} else if (is_hmac(alg)) {
		rc = FAIL(m, AG_TOK_ALG_HMAC, "alg '%s': shared-secret tokens "
					      "are refused", name);
	} else if (!(j->alg = ag_jws_alg_find(alg))) {
		rc = FAIL(m, AG_TOK_ALG_UNSUPPORTED,
			  "alg '%s' is not supported", name);
	} else if ((v = json_object_get(h, "crit"))) {
		rc = refuse_crit(v, m);
	} else if ((v = json_object_get(h, "kid")) &&
		   (!json_is_string(v) ||
		    json_string_length(v) > AG_CLAIM_STR_MAX)) {
		rc = FAIL(m, AG_TOK_MALFORMED, "kid is not a string");
	} else if (v && !(j->kid = ag_strdup(json_string_value(v)))) {
		rc = FAIL(m, AG_TOK_MALFORMED, "out of memory");
	} else if ((v = json_object_get(h, "typ")) &&
		   (!json_is_string(v) || !typ_ok(json_string_value(v)))) {
		ag_safe_text(name, sizeof(name),
			     json_is_string(v) ? json_string_value(v) : "?");
		rc = FAIL(m, AG_TOK_MALFORMED,
			  "typ '%s' is not an access token or ID token", name);
	}
out:
	json_decref(h);
	return rc;
}

static enum ag_token_error jws_claims(const struct ag_verifier *v,
				      const struct ag_jws *j,
				      struct ag_claims *c, const struct msg *m)
{
	enum ag_token_error rc = ag_claims_parse(
		(const char *)j->payload, j->payload_len,
		v->policy->device_claim, c);

	switch (rc) {
	case AG_TOK_OK:
		break;
	case AG_TOK_DUPLICATE:
		return FAIL(m, rc, "the payload repeats a claim");
	case AG_TOK_CLAIMS:
		return FAIL(m, rc, "a registered claim has the wrong type or "
				   "size");
	default:
		return FAIL(m, AG_TOK_MALFORMED,
			    "the payload is not a JSON object");
	}
	if ((j->kid && !(c->kid = ag_strdup(j->kid))) ||
	    !(c->alg = ag_strdup(j->alg->name)))
		return FAIL(m, AG_TOK_CLAIMS, "out of memory");
	return AG_TOK_OK;
}

/* The index of the policy issuer called iss, exactly. */
static bool find_issuer(const struct ag_verifier *v, const char *iss,
			size_t *out)
{
	for (size_t i = 0; iss && i < v->n_rings; i++)
		if (!strcmp(v->policy->issuers[i].iss, iss)) {
			*out = i;
			return true;
		}
	return false;
}

/* JWS carries ECDSA signatures as raw R || S (RFC 7518 §3.4); OpenSSL
 * wants DER.  Writes the DER form into der (at least 128 bytes). */
static bool ecdsa_to_der(const unsigned char *sig, size_t len,
			 unsigned char *der, size_t *der_len)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)(len / 2), NULL);
	BIGNUM *s = BN_bin2bn(sig + len / 2, (int)(len / 2), NULL);
	bool ok = false;

	if (es && r && s && ECDSA_SIG_set0(es, r, s)) {
		r = s = NULL; /* es owns them now */
		unsigned char *p = der;
		int n = i2d_ECDSA_SIG(es, &p);
		if (n > 0 && (size_t)n <= 128) {
			*der_len = (size_t)n;
			ok = true;
		}
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return ok;
}

bool ag_jws_verify(const struct ag_jws *j, EVP_MD_CTX *ctx)
{
	const unsigned char *sig = j->sig;
	size_t sig_len = j->sig_len;
	unsigned char der[128];

	if (j->alg->ec_sig_len) {
		if (sig_len != j->alg->ec_sig_len ||
		    !ecdsa_to_der(sig, sig_len, der, &sig_len))
			return false;
		sig = der;
	}
	bool ok = EVP_DigestVerify(ctx, sig, sig_len,
				   (const unsigned char *)j->signing_input,
				   j->signing_len) == 1;
	ERR_clear_error(); /* a failed verification queues errors */
	return ok;
}

static enum ag_token_error check_audience(const struct ag_issuer *is,
					  const struct ag_claims *c,
					  const struct msg *m)
{
	/* The policy loader requires audiences; "*" alone accepts any. */
	if (is->n_audiences == 1 && !strcmp(is->audiences[0], "*"))
		return AG_TOK_OK;
	for (size_t i = 0; i < c->n_aud; i++)
		for (size_t k = 0; k < is->n_audiences; k++)
			if (!strcmp(c->aud[i], is->audiences[k]))
				return AG_TOK_OK;
	return FAIL(m, AG_TOK_AUDIENCE,
		    "aud names none of the audiences of issuer '%s'", is->iss);
}

/* Everything but the times.  On AG_TOK_OK *c holds the claims, *issuer
 * the policy issuer and *generation its key set. */
static enum ag_token_error verify_token(struct ag_verifier *v, const char *tok,
					size_t len, struct ag_claims *c,
					size_t *issuer, uint64_t *generation,
					const struct msg *m)
{
	struct ag_jws j;
	EVP_MD_CTX *ctx = NULL;
	enum ag_token_error rc;
	char iss[80];

	memset(&j, 0, sizeof(j));
	if ((rc = ag_jws_split(tok, len, &j, m->s, m->len)) ||
	    (rc = jws_header(&j, m)))
		goto out;
	if (!j.sig_len) {
		rc = FAIL(m, AG_TOK_SIGNATURE, "the token has no signature");
		goto out;
	}
	if ((rc = jws_claims(v, &j, c, m)))
		goto out;
	if (!find_issuer(v, c->iss, issuer)) {
		ag_safe_text(iss, sizeof(iss), c->iss ? c->iss : "");
		rc = c->iss ? FAIL(m, AG_TOK_UNKNOWN_ISSUER,
				   "issuer '%s' is not in the policy", iss)
			    : FAIL(m, AG_TOK_UNKNOWN_ISSUER,
				   "the token has no iss");
		goto out;
	}
	if ((rc = ag_keyring_find(v->rings[*issuer], j.kid, j.alg, &ctx,
				  generation, m->s, m->len)))
		goto out;
	if (!ag_jws_verify(&j, ctx)) {
		rc = FAIL(m, AG_TOK_SIGNATURE,
			  "the %s signature does not verify", j.alg->name);
		goto out;
	}
	if ((rc = check_audience(&v->policy->issuers[*issuer], c, m)))
		goto out;
	if (!c->has_exp)
		rc = FAIL(m, AG_TOK_CLAIMS, "the token has no exp");
out:
	EVP_MD_CTX_free(ctx);
	ag_jws_release(&j);
	return rc;
}

/* How far b is past a, in seconds: the exact difference even when a is
 * far in the past (a what-if request may ask for any time). */
static unsigned long long gap(int64_t a, int64_t b)
{
	return (unsigned long long)((uint64_t)b - (uint64_t)a);
}

/* exp, nbf and iat against now, with the issuer's skew (RFC 7519 §4.1.4,
 * 4.1.5, 4.1.6).  The claims are never negative and the skew is at most
 * a few minutes, so only now - skew can overflow. */
static enum ag_token_error check_times(const struct ag_claims *c,
				       int64_t skew, int64_t now,
				       const struct msg *m)
{
	if (now >= INT64_MIN + skew && c->exp <= now - skew)
		return FAIL(m, AG_TOK_EXPIRED,
			    "token expired %llus ago (skew %llds)",
			    gap(c->exp, now), (long long)skew);
	if (c->has_nbf && c->nbf - skew > now)
		return FAIL(m, AG_TOK_NOT_YET_VALID,
			    "token not valid for another %llus (skew %llds)",
			    gap(now, c->nbf), (long long)skew);
	if (c->has_iat && c->iat - skew > now)
		return FAIL(m, AG_TOK_ISSUED_IN_FUTURE,
			    "token issued %llus in the future (skew %llds)",
			    gap(now, c->iat), (long long)skew);
	/* An authentication in the future would pass every max_age and idle
	 * check for as long as it stays ahead. */
	if (c->has_auth_time && c->auth_time - skew > now)
		return FAIL(m, AG_TOK_ISSUED_IN_FUTURE,
			    "auth_time %llus in the future (skew %llds)",
			    gap(now, c->auth_time), (long long)skew);
	return AG_TOK_OK;
}

/* ---- the cache --------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* A fast, seeded, non-cryptographic hash: it only picks a slot, and a
 * hit compares the whole token. */
static uint64_t token_hash(uint64_t seed, const char *p, size_t n)
{
	uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL), w;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ mix64(w)) * 0x9e3779b97f4a7c15ULL;
	}
	w = 0;
	memcpy(&w, p, n);
	return mix64(h ^ w);
}

static size_t claims_bytes(const struct ag_claims *c)
{
	const char *strs[] = {c->iss, c->sub,   c->azp,    c->sid, c->jti,
			      c->acr, c->scope, c->device, c->kid, c->alg};
	size_t n = sizeof(*c);

	for (size_t i = 0; i < AG_ARRAY_SIZE(strs); i++)
		n += strs[i] ? strlen(strs[i]) + 1 : 0;
	for (size_t i = 0; i < c->n_aud; i++)
		n += sizeof(char *) + strlen(c->aud[i]) + 1;
	for (size_t i = 0; i < c->n_amr; i++)
		n += sizeof(char *) + strlen(c->amr[i]) + 1;
	return n;
}

static void centry_evict(struct cshard *s, struct centry *e)
{
	if (!e->token)
		return;
	s->bytes -= e->bytes;
	free(e->token);
	ag_claims_release(&e->claims);
	memset(e, 0, sizeof(*e));
}

static struct cshard *shard_of(const struct ag_verifier *v, uint64_t h)
{
	return &v->shards[h % CACHE_SHARDS];
}

static struct centry *slot_of(struct cshard *s, uint64_t h)
{
	return &s->slots[(h / CACHE_SHARDS) % CACHE_WAYS];
}

/* The cached claims of a token verified before, into *out. */
static bool cache_get(struct ag_verifier *v, uint64_t h, const char *tok,
		      size_t len, struct ag_claims *out, size_t *issuer)
{
	struct cshard *s = shard_of(v, h);
	struct centry *e = slot_of(s, h);
	bool hit = false;

	pthread_mutex_lock(&s->lock);
	if (e->token && e->hash == h && e->len == len &&
	    !memcmp(e->token, tok, len)) {
		if (!ag_keyring_current(v->rings[e->issuer], e->generation)) {
			centry_evict(s, e); /* the keys changed or aged */
		} else if (ag_claims_copy(out, &e->claims) == AG_OK) {
			*issuer = e->issuer;
			e->referenced = true;
			hit = true;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return hit;
}

/* Makes room for need more bytes in s: the clock hand passes over
 * entries hit since its last turn and evicts the others. */
static void cache_sweep(struct cshard *s, size_t need)
{
	for (size_t step = 0; step < 2 * CACHE_WAYS &&
			      s->bytes + need > CACHE_SHARD_BYTES;
	     step++) {
		struct centry *e = &s->slots[s->hand];
		s->hand = (s->hand + 1) % CACHE_WAYS;
		if (e->referenced)
			e->referenced = false;
		else
			centry_evict(s, e);
	}
}

static void cache_put(struct ag_verifier *v, uint64_t h, const char *tok,
		      size_t len, const struct ag_claims *c, size_t issuer,
		      uint64_t generation)
{
	struct centry fresh;

	memset(&fresh, 0, sizeof(fresh));
	if (!(fresh.token = malloc(len)))
		return;
	if (ag_claims_copy(&fresh.claims, c)) {
		free(fresh.token);
		return;
	}
	memcpy(fresh.token, tok, len);
	fresh.len = len;
	fresh.hash = h;
	fresh.issuer = issuer;
	fresh.generation = generation;
	fresh.bytes = len + claims_bytes(c);

	struct cshard *s = shard_of(v, h);
	struct centry *e = slot_of(s, h);
	pthread_mutex_lock(&s->lock);
	centry_evict(s, e);
	cache_sweep(s, fresh.bytes);
	*e = fresh;
	s->bytes += fresh.bytes;
	pthread_mutex_unlock(&s->lock);
}

static void cache_free(struct cshard *shards)
{
	if (!shards)
		return;
	for (size_t i = 0; i < CACHE_SHARDS; i++) {
		for (size_t k = 0; k < CACHE_WAYS; k++)
			centry_evict(&shards[i], &shards[i].slots[k]);
		pthread_mutex_destroy(&shards[i].lock);
	}
	free(shards);
}

static ag_code cache_new(struct cshard **out)
{
	struct cshard *shards = calloc(CACHE_SHARDS, sizeof(*shards));
	size_t i;

	*out = NULL;
	if (!shards)
		return AG_ERR_NOMEM;
	for (i = 0; i < CACHE_SHARDS; i++)
		if (pthread_mutex_init(&shards[i].lock, NULL))
			break;
	if (i < CACHE_SHARDS) {
		while (i--)
			pthread_mutex_destroy(&shards[i].lock);
		free(shards);
		return AG_ERR_INTERNAL;
	}
	*out = shards;
	return AG_OK;
}

/* ---- the public interface ---------------------------------------------- */

ag_code ag_verifier_new(const struct ag_policy *p, struct ag_verifier **out,
			struct ag_error *err)
{
	struct ag_verifier *v;
	ag_code rc;

	*out = NULL;
	if (!p)
		return ag_err(err, AG_ERR_USAGE, "no policy");
	if (!(v = calloc(1, sizeof(*v))) ||
	    (p->n_issuers && !(v->rings = calloc(p->n_issuers,
						 sizeof(*v->rings))))) {
		free(v);
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	}
	v->policy = p;
	atomic_init(&v->cache_on, true);
	atomic_init(&v->hits, 0);
	atomic_init(&v->misses, 0);
	if ((rc = cache_new(&v->shards))) {
		ag_verifier_free(v);
		return ag_err(err, rc, "cannot set up the token cache");
	}
	if (RAND_bytes((unsigned char *)&v->seed, sizeof(v->seed)) != 1) {
		ag_verifier_free(v);
		return ag_err(err, AG_ERR_INTERNAL, "no random bytes");
	}
	for (; v->n_rings < p->n_issuers; v->n_rings++) {
		rc = ag_keyring_new(&p->issuers[v->n_rings],
				    &v->rings[v->n_rings], err);
		if (rc) {
			ag_verifier_free(v);
			return rc;
		}
	}
	*out = v;
	return AG_OK;
}

void ag_verifier_free(struct ag_verifier *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n_rings; i++)
		ag_keyring_free(v->rings[i]);
	free(v->rings);
	cache_free(v->shards);
	free(v);
}

void ag_verifier_set_cache(struct ag_verifier *v, bool on)
{
	atomic_store(&v->cache_on, on);
}

struct ag_keyring *ag_verifier_keyring(struct ag_verifier *v, size_t i)
{
	return i < v->n_rings ? v->rings[i] : NULL;
}

enum ag_token_error ag_verifier_check(struct ag_verifier *v,
				      const char *token, size_t len,
				      int64_t now, struct ag_claims *out,
				      char *detail, size_t detail_len)
{
	const struct msg m = {detail, detail_len};
	enum ag_token_error rc;
	struct ag_claims c;
	size_t issuer = 0;
	uint64_t generation = 0, h = 0;

	if (detail && detail_len)
		detail[0] = '\0';
	if (!out)
		return FAIL(&m, AG_TOK_MALFORMED, "no place for the claims");
	ag_claims_init(out);
	if (!v || !token)
		return FAIL(&m, AG_TOK_MALFORMED, "no token");
	if (len > AG_TOKEN_MAX)
		return FAIL(&m, AG_TOK_TOO_LARGE,
			    "token of %zu bytes; at most %d", len,
			    AG_TOKEN_MAX);
	ag_claims_init(&c);
	bool cached = atomic_load(&v->cache_on);
	if (cached) {
		h = token_hash(v->seed, token, len);
		if (cache_get(v, h, token, len, &c, &issuer)) {
			atomic_fetch_add_explicit(&v->hits, 1,
						  memory_order_relaxed);
			goto times;
		}
		atomic_fetch_add_explicit(&v->misses, 1, memory_order_relaxed);
	}
	if ((rc = verify_token(v, token, len, &c, &issuer, &generation, &m)))
		goto out;
	if (cached)
		cache_put(v, h, token, len, &c, issuer, generation);
times:
	rc = check_times(&c, v->policy->issuers[issuer].clock_skew, now, &m);
out:
	if (rc == AG_TOK_OK)
		*out = c;
	else
		ag_claims_release(&c);
	return rc;
}

enum ag_token_error ag_verifier_check_bearer(
	struct ag_verifier *v, const char *token, size_t len, int64_t now,
	struct ag_claims *out, char *detail, size_t detail_len)
{
	enum ag_token_error rc = ag_verifier_check(v, token, len, now, out,
						   detail, detail_len);
	if (rc != AG_TOK_OK || !out->cnf)
		return rc;
	ag_claims_release(out);
	ag_claims_init(out);
	const struct msg m = {detail, detail_len};
	return FAIL(&m, AG_TOK_BOUND,
		    "the token is bound to a key (cnf) and this takes bearer "
		    "tokens only, with no proof of possession");
}

void ag_verifier_stats(struct ag_verifier *v, struct ag_verifier_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!v)
		return;
	out->cache_hits = atomic_load(&v->hits);
	out->cache_misses = atomic_load(&v->misses);
	for (size_t i = 0; i < v->n_rings; i++) {
		uint64_t f, fail;
		ag_keyring_stats(v->rings[i], &f, &fail);
		out->jwks_fetches += f;
		out->jwks_fetch_failures += fail;
	}
}
