/*
 * DPoP proofs of possession (RFC 9449 §4.3, §7.1, §11.1): see dpop.h.
 *
 * The order of the checks is fixed and the first that fails decides:
 * presence and size; three strict base64url parts; the header (typ, alg,
 * crit, jwk); the signature with that jwk; the key's thumbprint against
 * the token's cnf jkt; the claims (jti, htm, htu, iat, ath); then the
 * replay set, which records the proof only when everything else passed.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <openssl/err.h>

#include "gate/dpop.h"
#include "gate/gate-int.h"
#include "gate/jose-int.h"
#include "siphash.h"
#include "util.h"
#include "banned.h"

/* ---- the replay set ---------------------------------------------------- */

#define WAYS 8
#define SHARDS 64

struct rslot {
	uint64_t tag; /* 0: empty */
	int64_t until; /* the proof is out of its window from here on */
};

struct ag_dpop_replay {
	uint64_t k0[2], k1[2]; /* SipHash keys: placement, tag */
	struct rslot *slots;
	size_t nbuckets; /* a power of two, at least SHARDS */
	pthread_mutex_t locks[SHARDS];
};

struct ag_dpop_replay *ag_dpop_replay_new(size_t capacity)
{
	struct ag_dpop_replay *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	if (getrandom(r->k0, sizeof(r->k0), 0) != sizeof(r->k0) ||
	    getrandom(r->k1, sizeof(r->k1), 0) != sizeof(r->k1)) {
		free(r);
		return NULL;
	}
	size_t nb = SHARDS;
	while (nb * WAYS < capacity && nb < ((size_t)1 << 24))
		nb <<= 1;
	r->nbuckets = nb;
	if (!(r->slots = calloc(nb * WAYS, sizeof(*r->slots)))) {
		free(r);
		return NULL;
	}
	for (size_t i = 0; i < SHARDS; i++)
		pthread_mutex_init(&r->locks[i], NULL);
	return r;
}

void ag_dpop_replay_free(struct ag_dpop_replay *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < SHARDS; i++)
		pthread_mutex_destroy(&r->locks[i]);
	free(r->slots);
	free(r);
}

enum seen { SEEN_NEW, SEEN_REPLAY, SEEN_FULL };

/* A slot of bucket b that is free at `clock`, and how many are. */
static size_t free_slots(struct rslot *b, int64_t clock, struct rslot **first)
{
	size_t n = 0;

	*first = NULL;
	for (size_t i = 0; i < WAYS; i++)
		if (!b[i].tag || b[i].until <= clock) {
			if (!*first)
				*first = &b[i];
			n++;
		}
	return n;
}

static bool in_bucket(const struct rslot *b, uint64_t tag, int64_t clock)
{
	for (size_t i = 0; i < WAYS; i++)
		if (b[i].tag == tag && b[i].until > clock)
			return true;
	return false;
}

/*
 * Records the proof (key, jti) until `until`, or says it was seen.  Each
 * proof has two buckets and goes into the emptier (two choices keep the
 * table usable to nearly full).  Whether a slot is still in its window is
 * judged at `clock`, which must be the real time: a request that asks
 * about another time (a what-if) must not come here (dpop.h).
 */
static enum seen replay_check(struct ag_dpop_replay *r, const char *jkt,
			      const char *jti, int64_t until, int64_t clock)
{
	char buf[AG_THUMBPRINT_MAX + 1 + AG_DPOP_JTI_MAX + 1];
	size_t kl = strlen(jkt), jl = strlen(jti);

	if (kl > AG_THUMBPRINT_MAX || jl > AG_DPOP_JTI_MAX)
		return SEEN_FULL; /* checked before; refuse rather than cut */
	memcpy(buf, jkt, kl);
	buf[kl] = '\0';
	memcpy(buf + kl + 1, jti, jl);
	size_t n = kl + 1 + jl;
	uint64_t h = ag_siphash(r->k0, buf, n, 2, 4);
	uint64_t tag = ag_siphash(r->k1, buf, n, 2, 4) | 1; /* never 0 */
	size_t b1 = (size_t)h & (r->nbuckets - 1);
	size_t b2 = (size_t)(h >> 32) & (r->nbuckets - 1);
	size_t l1 = b1 % SHARDS, l2 = b2 % SHARDS;
	struct rslot *s1 = &r->slots[b1 * WAYS], *s2 = &r->slots[b2 * WAYS];
	enum seen out;

	/* Both locks, in one order. */
	pthread_mutex_lock(&r->locks[l1 < l2 ? l1 : l2]);
	if (l1 != l2)
		pthread_mutex_lock(&r->locks[l1 < l2 ? l2 : l1]);
	if (in_bucket(s1, tag, clock) || in_bucket(s2, tag, clock)) {
		out = SEEN_REPLAY;
	} else {
		struct rslot *f1, *f2;
		size_t n1 = free_slots(s1, clock, &f1);
		size_t n2 = free_slots(s2, clock, &f2);
		struct rslot *to = n2 > n1 ? f2 : f1;
		if (to) {
			to->tag = tag;
			to->until = until;
			out = SEEN_NEW;
		} else {
			out = SEEN_FULL;
		}
	}
	if (l1 != l2)
		pthread_mutex_unlock(&r->locks[l1 < l2 ? l2 : l1]);
	pthread_mutex_unlock(&r->locks[l1 < l2 ? l1 : l2]);
	return out;
}

/* ---- URLs -------------------------------------------------------------- */

/* A reg-name character of RFC 3986 §3.2.2 (unreserved or sub-delims; no
 * percent-encoding, which no honest host needs). */
static bool reg_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr("-._~!$&'()*+,;=", c);
}

/*
 * The authority a[0..n) as the comparison uses it: host in lower case,
 * the port kept only when it is not the scheme's default (RFC 3986
 * §6.2.3).  The host must be a reg-name or an IP literal ("[" hex, ":"
 * and "." "]"), the port digits: anything else (userinfo, "/", "?", "#",
 * "%", spaces) is refused, so that a Host header cannot end the authority
 * early and drop the path.
 */
static bool authority_norm(const char *a, size_t n, bool https, char *out,
			   size_t len)
{
	const char *hend = a + n, *port = NULL;

	if (!n || n > 255)
		return false;
	if (a[0] == '[') {
		const char *rb = memchr(a, ']', n);
		if (!rb || rb == a + 1)
			return false;
		for (const char *c = a + 1; c < rb; c++)
			if (!isxdigit((unsigned char)*c) && *c != ':' &&
			    *c != '.')
				return false;
		hend = rb + 1;
		if (hend < a + n) {
			if (*hend != ':')
				return false;
			port = hend + 1;
		}
	} else {
		const char *colon = memchr(a, ':', n);
		if (colon) {
			hend = colon;
			port = colon + 1;
		}
		if (hend == a)
			return false;
		for (const char *c = a; c < hend; c++)
			if (!reg_name_char((unsigned char)*c) || *c == ':')
				return false;
	}
	unsigned long pn = 0;
	size_t plen = port ? (size_t)(a + n - port) : 0;
	for (size_t i = 0; i < plen; i++) {
		if (port[i] < '0' || port[i] > '9')
			return false;
		pn = pn * 10 + (unsigned long)(port[i] - '0');
		if (pn > 65535)
			return false;
	}
	size_t hl = (size_t)(hend - a);
	if (hl + 7 >= len)
		return false;
	for (size_t i = 0; i < hl; i++)
		out[i] = (char)tolower((unsigned char)a[i]);
	out[hl] = '\0';
	if (plen && pn != (https ? 443u : 80u))
		snprintf(out + hl, len - hl, ":%lu", pn);
	return true;
}

/*
 * scheme://authority/path as the comparison uses it (RFC 3986 §6.2.2,
 * §6.2.3): scheme in lower case, http or https only; the authority as
 * authority_norm has it; the path as routes see it (ag_path_normalize:
 * escapes decoded, query and fragment gone, repeated slashes collapsed).
 */
static bool parts_norm(const char *scheme, size_t sl, const char *auth,
		       size_t al, const char *target, char *out, size_t len)
{
	char sch[8], host[272], path[AG_PATH_MAX];

	if (!sl || sl >= sizeof(sch))
		return false;
	for (size_t i = 0; i < sl; i++)
		sch[i] = (char)tolower((unsigned char)scheme[i]);
	sch[sl] = '\0';
	bool https = !strcmp(sch, "https");
	if ((!https && strcmp(sch, "http")) ||
	    !authority_norm(auth, al, https, host, sizeof(host)) ||
	    !ag_path_normalize(target, path, sizeof(path)))
		return false;
	int w = snprintf(out, len, "%s://%s%s", sch, host, path);
	return w >= 0 && (size_t)w < len;
}

/* A proof's htu: an absolute http(s) URL. */
static bool htu_norm(const char *url, char *out, size_t len)
{
	const char *sep = strstr(url, "://");

	if (!sep)
		return false;
	const char *a = sep + 3;
	size_t al = strcspn(a, "/?#");
	const char *rest = a + al;
	return parts_norm(url, (size_t)(sep - url), a, al,
			  *rest == '/' ? rest : "/", out, len);
}

/* The request's URL, from its parts: the scheme the proxy saw, the Host
 * it passed and the request target (origin-form, or absolute-form, whose
 * path ag_path_normalize takes). */
static bool request_norm(const char *scheme, const char *host,
			 const char *uri, char *out, size_t len)
{
	if (!host || !uri)
		return false;
	return parts_norm(scheme, strlen(scheme), host, strlen(host), uri, out,
			  len);
}

/* ---- the proof --------------------------------------------------------- */

#define FAIL(...) ag_tok_fail(detail, detail_len, AG_TOK_DPOP, __VA_ARGS__)

static bool is_hmac(const char *name)
{
	return !strncasecmp(name, "HS", 2);
}

/* The header: typ, alg, crit and the key.  On AG_TOK_OK j->alg is set
 * and *key holds the jwk, with *ctx a context to verify with it. */
static enum ag_token_error proof_header(struct ag_jws *j, struct ag_jwk *key,
					EVP_MD_CTX **ctx, const char *jkt,
					char *detail, size_t detail_len)
{
	json_t *h = NULL;
	const json_t *v;
	char name[80], thumb[64];
	struct ag_error err;
	enum ag_token_error rc = AG_TOK_OK;

	if (ag_json_object((const char *)j->hdr, j->hdr_len, &h, NULL))
		return FAIL("the DPoP proof's header is not a JSON object "
			    "(or repeats a key)");
	const char *typ = json_string_value(json_object_get(h, "typ"));
	const char *alg = json_string_value(json_object_get(h, "alg"));
	if (!typ || strcasecmp(typ, "dpop+jwt")) {
		rc = FAIL("the DPoP proof's typ is not \"dpop+jwt\"");
		goto out;
	}
	if (!alg) {
		rc = FAIL("the DPoP proof has no alg");
		goto out;
	}
	ag_safe_text(name, sizeof(name), alg);
	if (!strcasecmp(alg, "none") || is_hmac(alg) ||
	    !(j->alg = ag_jws_alg_find(alg))) {
		rc = FAIL("the DPoP proof's alg '%s' is not an asymmetric "
			  "algorithm we verify",
			  name);
		goto out;
	}
	if (json_object_get(h, "crit")) {
		rc = FAIL("the DPoP proof has a crit header");
		goto out;
	}
	if (!json_is_object(v = json_object_get(h, "jwk"))) {
		rc = FAIL("the DPoP proof has no jwk header");
		goto out;
	}
	if (ag_jwk_parse("the DPoP proof's jwk", v, key, &err)) {
		rc = FAIL("%s", err.msg);
		goto out;
	}
	if (!ag_jwk_fits(key, j->alg) ||
	    (key->type == AG_KEY_RSA && key->bits < AG_RSA_MIN_BITS)) {
		rc = FAIL("the DPoP proof's jwk does not fit alg %s",
			  j->alg->name);
		goto out;
	}
	if (!(*ctx = ag_jws_verify_ctx(j->alg, key->pkey))) {
		rc = FAIL("the DPoP proof's jwk cannot verify %s",
			  j->alg->name);
		goto out;
	}
	if (!j->sig_len || !ag_jws_verify(j, *ctx)) {
		rc = FAIL("the DPoP proof's %s signature does not verify with "
			  "its jwk",
			  j->alg->name);
		goto out;
	}
	if (ag_jwk_thumbprint(v, thumb, sizeof(thumb)) ||
	    strcmp(thumb, jkt)) {
		rc = FAIL("the DPoP proof is signed by another key than the "
			  "one the token is bound to (cnf jkt)");
		goto out;
	}
out:
	json_decref(h);
	return rc;
}

/* base64url(SHA-256(token)), the proof's "ath" (RFC 9449 §4.2). */
static bool token_hash(const char *token, char *out, size_t len)
{
	unsigned char md[32];

	if (len < AG_B64URL_ENCODED_LEN(sizeof(md)) ||
	    !EVP_Q_digest(NULL, "SHA256", NULL, token, strlen(token), md,
			  NULL))
		return false;
	ag_b64url_encode(md, sizeof(md), out);
	return true;
}

static enum ag_token_error proof_claims(struct ag_dpop_replay *replay,
					const struct ag_jws *j,
					const struct ag_dpop_check *c,
					bool *replayed, char *detail,
					size_t detail_len)
{
	json_t *pl = NULL;
	enum ag_token_error rc = AG_TOK_OK;
	char want[AG_PATH_MAX + 300], got[AG_PATH_MAX + 300], ath[64];

	if (ag_json_object((const char *)j->payload, j->payload_len, &pl,
			   NULL))
		return FAIL("the DPoP proof's payload is not a JSON object "
			    "(or repeats a claim)");
	const json_t *jti = json_object_get(pl, "jti");
	const char *htm = json_string_value(json_object_get(pl, "htm"));
	const char *htu = json_string_value(json_object_get(pl, "htu"));
	const json_t *iat = json_object_get(pl, "iat");
	const char *athv = json_string_value(json_object_get(pl, "ath"));

	if (!json_is_string(jti) || !json_string_length(jti) ||
	    json_string_length(jti) > AG_DPOP_JTI_MAX ||
	    strlen(json_string_value(jti)) != json_string_length(jti)) {
		rc = FAIL("the DPoP proof has no jti of 1 to %d bytes",
			  AG_DPOP_JTI_MAX);
		goto out;
	}
	if (!htm || !c->method || strcmp(htm, c->method)) {
		char a[80], b[80];
		ag_safe_text(a, sizeof(a), htm ? htm : "(none)");
		ag_safe_text(b, sizeof(b), c->method ? c->method : "(none)");
		rc = FAIL("the DPoP proof is for method '%s', the request is "
			  "'%s'",
			  a, b);
		goto out;
	}
	if (!request_norm(c->scheme ? c->scheme : "https", c->host, c->uri,
			  want, sizeof(want))) {
		rc = FAIL("the request's URL cannot be compared with a DPoP "
			  "proof (no host, a host that is not a host name, or "
			  "a target that is refused)");
		goto out;
	}
	if (!htu || !htu_norm(htu, got, sizeof(got)) || strcmp(got, want)) {
		/* Both URLs: a proxy that drops the port or the scheme shows
		 * here, not only the client. */
		char a[80], b[80];
		ag_safe_text(a, sizeof(a), htu ? htu : "(none)");
		ag_safe_text(b, sizeof(b), want);
		rc = FAIL("the DPoP proof is for '%s', the request for '%s'", a,
			  b);
		goto out;
	}
	if (!json_is_number(iat)) {
		rc = FAIL("the DPoP proof has no iat");
		goto out;
	}
	double t = json_number_value(iat);
	if (!(t > (double)(c->now - c->max_age))) {
		rc = FAIL("the DPoP proof was made more than %llds ago",
			  (long long)c->max_age);
		goto out;
	}
	if (t > (double)(c->now + AG_DPOP_FUTURE)) {
		rc = FAIL("the DPoP proof was made in the future (iat more "
			  "than %ds ahead)",
			  AG_DPOP_FUTURE);
		goto out;
	}
	if (!athv || !token_hash(c->token, ath, sizeof(ath)) ||
	    strcmp(athv, ath)) {
		rc = FAIL("the DPoP proof's ath is not the hash of this access "
			  "token");
		goto out;
	}
	if (replay) {
		/* Out of the window once iat is max_age old. */
		int64_t until = (int64_t)t + c->max_age + 1;
		switch (replay_check(replay, c->jkt, json_string_value(jti),
				     until, c->now)) {
		case SEEN_NEW:
			break;
		case SEEN_REPLAY:
			*replayed = true;
			rc = FAIL("the DPoP proof was used before (jti "
				  "replayed)");
			break;
		case SEEN_FULL:
			rc = FAIL("too many DPoP proofs in the window to tell "
				  "a replay; refused");
			break;
		}
	}
out:
	json_decref(pl);
	return rc;
}

static enum ag_token_error verify(struct ag_dpop_replay *replay,
				  const struct ag_dpop_check *c, bool *replayed,
				  char *detail, size_t detail_len)
{
	struct ag_jws j;
	struct ag_jwk key;
	EVP_MD_CTX *ctx = NULL;
	enum ag_token_error rc;

	memset(&j, 0, sizeof(j));
	memset(&key, 0, sizeof(key));
	if (!c->jkt)
		return FAIL("the token is not bound to a DPoP key (no cnf jkt)");
	if (!c->proof || !*c->proof)
		return FAIL("the token is bound to a DPoP key and no DPoP proof "
			    "came with it");
	if (!c->token)
		return FAIL("no access token to hold the DPoP proof to");
	size_t len = strlen(c->proof);
	if (len > AG_DPOP_MAX)
		return FAIL("the DPoP proof is over %d bytes", AG_DPOP_MAX);
	char why[160] = "";
	if (ag_jws_split(c->proof, len, &j, why, sizeof(why))) {
		rc = FAIL("the DPoP proof is not a compact JWS: %s", why);
		goto out;
	}
	if ((rc = proof_header(&j, &key, &ctx, c->jkt, detail, detail_len)))
		goto out;
	rc = proof_claims(replay, &j, c, replayed, detail, detail_len);
out:
	EVP_MD_CTX_free(ctx);
	ag_jwk_release(&key);
	ag_jws_release(&j);
	ERR_clear_error();
	return rc;
}

enum ag_token_error ag_dpop_verify(struct ag_dpop_replay *replay,
				   const struct ag_dpop_check *c, char *detail,
				   size_t detail_len)
{
	bool replayed = false;
	return verify(replay, c, &replayed, detail, detail_len);
}

enum ag_token_error ag_dpop_present(struct ag_dpop_replay *replay,
				    const struct ag_policy *p,
				    const struct ag_claims *claims,
				    const struct ag_dpop_presented *pr,
				    struct ag_request *req,
				    enum ag_dpop_outcome *out, char *detail,
				    size_t detail_len)
{
	*out = AG_DPOP_NONE;
	req->dpop_verified = false;
	if (!pr->dpop_scheme)
		return AG_TOK_OK;
	*out = AG_DPOP_UNBOUND;
	if (!claims->cnf_jkt)
		return FAIL("the DPoP scheme needs a token bound to a DPoP key "
			    "(cnf jkt); this one is not");
	*out = AG_DPOP_BAD;
	if (pr->proof_repeated)
		return FAIL("more than one DPoP header came");
	struct ag_dpop_check c = {.proof = pr->proof,
				  .method = req->method,
				  .scheme = pr->scheme,
				  .host = req->host,
				  .uri = req->uri,
				  .token = pr->token,
				  .jkt = claims->cnf_jkt,
				  .now = req->now,
				  .max_age = p->dpop_max_age};
	bool replayed = false;
	enum ag_token_error rc =
		verify(replay, &c, &replayed, detail, detail_len);
	req->dpop_verified = rc == AG_TOK_OK;
	if (rc == AG_TOK_OK)
		*out = AG_DPOP_OK;
	else if (replayed)
		*out = AG_DPOP_REPLAYED;
	return rc;
}
