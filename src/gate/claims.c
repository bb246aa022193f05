/*
 * Token claims (docs/gate.md): the registered claims decisions use, read
 * from a JSON object with strict types and caps, and the stable names of
 * the token errors.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gate/jose-int.h"
#include "util.h"
#include "banned.h"

static const char *const token_error_names[AG_TOK__COUNT] = {
	[AG_TOK_OK] = "ok",
	[AG_TOK_MALFORMED] = "malformed",
	[AG_TOK_TOO_LARGE] = "too_large",
	[AG_TOK_DUPLICATE] = "duplicate_key",
	[AG_TOK_ALG_NONE] = "alg_none",
	[AG_TOK_ALG_HMAC] = "alg_hmac",
	[AG_TOK_ALG_UNSUPPORTED] = "alg_unsupported",
	[AG_TOK_CRIT] = "crit",
	[AG_TOK_UNKNOWN_ISSUER] = "unknown_issuer",
	[AG_TOK_UNKNOWN_KEY] = "unknown_key",
	[AG_TOK_KEY_MISMATCH] = "key_mismatch",
	[AG_TOK_SIGNATURE] = "bad_signature",
	[AG_TOK_AUDIENCE] = "wrong_audience",
	[AG_TOK_EXPIRED] = "expired",
	[AG_TOK_NOT_YET_VALID] = "not_yet_valid",
	[AG_TOK_ISSUED_IN_FUTURE] = "issued_in_future",
	[AG_TOK_CLAIMS] = "bad_claims",
	[AG_TOK_KEYS_UNAVAILABLE] = "keys_unavailable",
	[AG_TOK_DPOP] = "dpop_proof",
	[AG_TOK_BOUND] = "key_bound",
};

const char *ag_token_error_name(enum ag_token_error e)
{
	if ((unsigned)e >= AG_TOK__COUNT)
		return "unknown";
	return token_error_names[e];
}

/* ---- messages ---------------------------------------------------------- */

enum ag_token_error ag_tok_fail(char *detail, size_t detail_len,
				enum ag_token_error e, const char *fmt, ...)
{
	va_list ap;

	if (!detail || !detail_len)
		return e;
	va_start(ap, fmt);
	vsnprintf(detail, detail_len, fmt, ap);
	va_end(ap);
	return e;
}

/* ---- the claims struct ------------------------------------------------- */

void ag_claims_init(struct ag_claims *c)
{
	memset(c, 0, sizeof(*c));
}

static void free_list(char **l, size_t n)
{
	for (size_t i = 0; l && i < n; i++)
		free(l[i]);
	free(l);
}

void ag_claims_release(struct ag_claims *c)
{
	char **strs[] = {&c->iss,    &c->sub,    &c->azp,     &c->sid,
			 &c->jti,    &c->acr,    &c->scope,   &c->device,
			 &c->kid,    &c->alg,    &c->cnf_x5t, &c->cnf_jkt};

	for (size_t i = 0; i < AG_ARRAY_SIZE(strs); i++)
		free(*strs[i]);
	free_list(c->aud, c->n_aud);
	free_list(c->amr, c->n_amr);
	ag_claims_init(c);
}

static bool dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	return !src || (*dst = ag_strdup(src)) != NULL;
}

static bool dup_list(char ***dst, const char *const *src, size_t n)
{
	*dst = NULL;
	if (!n)
		return true;
	if (!(*dst = calloc(n, sizeof(**dst))))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((*dst)[i] = ag_strdup(src[i])))
			return false;
	return true;
}

ag_code ag_claims_copy(struct ag_claims *dst, const struct ag_claims *src)
{
	*dst = *src;
	/* Every pointer of dst is replaced by a copy (or NULL), failure or
	 * not, so that a release never frees src's strings. */
	bool ok = dup_opt(&dst->iss, src->iss);
	ok = dup_opt(&dst->sub, src->sub) && ok;
	ok = dup_opt(&dst->azp, src->azp) && ok;
	ok = dup_opt(&dst->sid, src->sid) && ok;
	ok = dup_opt(&dst->jti, src->jti) && ok;
	ok = dup_opt(&dst->acr, src->acr) && ok;
	ok = dup_opt(&dst->scope, src->scope) && ok;
	ok = dup_opt(&dst->device, src->device) && ok;
	ok = dup_opt(&dst->kid, src->kid) && ok;
	ok = dup_opt(&dst->alg, src->alg) && ok;
	ok = dup_opt(&dst->cnf_x5t, src->cnf_x5t) && ok;
	ok = dup_opt(&dst->cnf_jkt, src->cnf_jkt) && ok;
	ok = dup_list(&dst->aud, (const char *const *)src->aud, src->n_aud) &&
	     ok;
	ok = dup_list(&dst->amr, (const char *const *)src->amr, src->n_amr) &&
	     ok;
	if (!ok) {
		ag_claims_release(dst);
		return AG_ERR_NOMEM;
	}
	return AG_OK;
}

/* ---- JSON -------------------------------------------------------------- */

enum ag_token_error ag_json_object(const char *buf, size_t len, json_t **out,
				   json_error_t *jerr)
{
	json_error_t local;

	if (!jerr)
		jerr = &local;
	*out = json_loadb(buf, len, JSON_REJECT_DUPLICATES, jerr);
	if (!*out) {
		switch (json_error_code(jerr)) {
		case json_error_duplicate_key:
			return AG_TOK_DUPLICATE;
		case json_error_numeric_overflow:
			return AG_TOK_CLAIMS;
		default:
			return AG_TOK_MALFORMED;
		}
	}
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return AG_TOK_MALFORMED;
	}
	return AG_TOK_OK;
}

/* A string claim: absent is fine, anything but a string of at most
 * AG_CLAIM_STR_MAX bytes is not.  jansson refuses NUL in strings, so the
 * copy is the whole value. */
static enum ag_token_error get_str(const json_t *v, char **out)
{
	if (!v)
		return AG_TOK_OK;
	if (!json_is_string(v) || json_string_length(v) > AG_CLAIM_STR_MAX)
		return AG_TOK_CLAIMS;
	free(*out);
	*out = ag_strndup(json_string_value(v), json_string_length(v));
	return *out ? AG_TOK_OK : AG_TOK_CLAIMS; /* out of memory refuses */
}

static enum ag_token_error get_claim_str(const json_t *obj, const char *key,
					 char **out)
{
	return get_str(json_object_get(obj, key), out);
}

/* A NumericDate (RFC 7519 §2): a non-negative integer, or a real that is
 * cut to whole seconds. */
static enum ag_token_error get_time(const json_t *obj, const char *key,
				    int64_t *out, bool *has)
{
	const json_t *v = json_object_get(obj, key);

	if (!v)
		return AG_TOK_OK;
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < 0)
			return AG_TOK_CLAIMS;
		*out = (int64_t)i;
	} else if (json_is_real(v)) {
		double d = json_real_value(v);
		/* 2^63: the first double beyond int64_t */
		if (!isfinite(d) || d < 0 || d >= 9223372036854775808.0)
			return AG_TOK_CLAIMS;
		*out = (int64_t)floor(d);
	} else {
		return AG_TOK_CLAIMS;
	}
	*has = true;
	return AG_TOK_OK;
}

/* A list of strings from an array, or from a single string when
 * single_ok (aud may be either, RFC 7519 §4.1.3). */
static enum ag_token_error get_list(const json_t *obj, const char *key,
				    bool single_ok, char ***out, size_t *n)
{
	const json_t *v = json_object_get(obj, key);
	enum ag_token_error rc;

	if (!v)
		return AG_TOK_OK;
	if (single_ok && json_is_string(v)) {
		if (!(*out = calloc(1, sizeof(**out))))
			return AG_TOK_CLAIMS;
		*n = 1;
		return get_str(v, &(*out)[0]);
	}
	if (!json_is_array(v) || json_array_size(v) > AG_CLAIM_LIST_MAX)
		return AG_TOK_CLAIMS;
	size_t count = json_array_size(v);
	if (!count)
		return AG_TOK_OK;
	if (!(*out = calloc(count, sizeof(**out))))
		return AG_TOK_CLAIMS;
	*n = count;
	for (size_t i = 0; i < count; i++)
		if ((rc = get_str(json_array_get(v, i), &(*out)[i])))
			return rc;
	return AG_TOK_OK;
}

/* cnf (RFC 7800): the token is bound to a key by thumbprint (jkt, RFC
 * 9449 §6.1), certificate (x5t#S256, RFC 8705 §3.1), the key itself (jwk)
 * or another confirmation method (kid, jku, ...).  Any cnf object makes
 * the token bound, whatever it holds: one the gate cannot check is
 * refused, never taken for a bearer token.  The thumbprints are kept for
 * the checks of possession. */
static enum ag_token_error get_cnf(const json_t *obj, struct ag_claims *c)
{
	const json_t *v = json_object_get(obj, "cnf");
	enum ag_token_error rc;

	if (!v)
		return AG_TOK_OK;
	if (!json_is_object(v))
		return AG_TOK_CLAIMS;
	const json_t *jkt = json_object_get(v, "jkt");
	const json_t *x5t = json_object_get(v, "x5t#S256");
	const json_t *jwk = json_object_get(v, "jwk");
	if ((jkt && !json_is_string(jkt)) || (x5t && !json_is_string(x5t)) ||
	    (jwk && !json_is_object(jwk)))
		return AG_TOK_CLAIMS;
	if ((rc = get_str(x5t, &c->cnf_x5t)) || (rc = get_str(jkt, &c->cnf_jkt)))
		return rc;
	c->cnf = true;
	return AG_TOK_OK;
}

static enum ag_token_error read_strings(const json_t *obj,
					const char *device_claim,
					struct ag_claims *c)
{
	enum ag_token_error rc;

	if ((rc = get_claim_str(obj, "iss", &c->iss)) ||
	    (rc = get_claim_str(obj, "sub", &c->sub)) ||
	    (rc = get_claim_str(obj, "sid", &c->sid)) ||
	    (rc = get_claim_str(obj, "jti", &c->jti)) ||
	    (rc = get_claim_str(obj, "acr", &c->acr)) ||
	    (rc = get_claim_str(obj, "scope", &c->scope)) ||
	    (rc = get_claim_str(obj, "client_id", &c->azp)) ||
	    (rc = get_claim_str(obj, "azp", &c->azp)))
		return rc;
	if (device_claim && *device_claim)
		return get_claim_str(obj, device_claim, &c->device);
	return AG_TOK_OK;
}

enum ag_token_error ag_claims_from_json(const json_t *obj,
					const char *device_claim,
					struct ag_claims *out)
{
	enum ag_token_error rc;
	struct ag_claims c;

	ag_claims_init(&c);
	/* azp wins over client_id: read client_id first, then azp over it. */
	if ((rc = read_strings(obj, device_claim, &c)) ||
	    (rc = get_list(obj, "aud", true, &c.aud, &c.n_aud)) ||
	    (rc = get_list(obj, "amr", false, &c.amr, &c.n_amr)) ||
	    (rc = get_time(obj, "exp", &c.exp, &c.has_exp)) ||
	    (rc = get_time(obj, "nbf", &c.nbf, &c.has_nbf)) ||
	    (rc = get_time(obj, "iat", &c.iat, &c.has_iat)) ||
	    (rc = get_time(obj, "auth_time", &c.auth_time,
			   &c.has_auth_time)) ||
	    (rc = get_cnf(obj, &c))) {
		ag_claims_release(&c);
		return rc;
	}
	*out = c;
	return AG_TOK_OK;
}

enum ag_token_error ag_claims_parse(const char *json, size_t len,
				    const char *device_claim,
				    struct ag_claims *out)
{
	json_t *obj = NULL;

	ag_claims_init(out);
	if (!json)
		return AG_TOK_MALFORMED;
	enum ag_token_error rc = ag_json_object(json, len, &obj, NULL);
	if (rc == AG_TOK_OK)
		rc = ag_claims_from_json(obj, device_claim, out);
	json_decref(obj);
	return rc;
}
