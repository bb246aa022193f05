/*
 * The decision API's JSON: requests in, answers and log records out.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gate/api.h"
#include "banned.h"

void ag_api_request_release(struct ag_api_request *r)
{
	free(r->workflow);
	free(r->method);
	free(r->host);
	free(r->uri);
	if (r->token) {
		/* A token is a credential: do not leave it in freed memory. */
		volatile char *t = r->token;
		while (*t)
			*t++ = 0;
	}
	free(r->token);
	free(r->device);
	free(r->ip);
	free(r->client_cert);
	free(r->dpop);
	free(r->scheme);
	ag_claims_release(&r->claims);
	memset(r, 0, sizeof(*r));
}

static const char *const request_keys[] = {"workflow", "request", "token",
					   "claims", "device", "ip", "now",
					   "client_cert", "dpop", NULL};
static const char *const target_keys[] = {"method", "host", "uri",
					  "scheme", NULL};

/* Checks obj's keys against allowed; writes the first unknown to err. */
static bool keys_ok(json_t *obj, const char *const *allowed, const char *where,
		    char *err, size_t errlen)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v) {
		struct ag_suggest sg;
		bool known = false;
		ag_suggest_init(&sg, k);
		for (const char *const *a = allowed; *a; a++) {
			if (!strcmp(*a, k))
				known = true;
			ag_suggest_add(&sg, *a);
		}
		if (!known) {
			const char *hint = ag_suggest_best(&sg);
			snprintf(err, errlen, "unknown key '%.64s' in %s%s%s%s", k,
				 where, hint ? "; did you mean '" : "",
				 hint ? hint : "", hint ? "'?" : "");
			return false;
		}
	}
	return true;
}

static bool take_str(json_t *obj, const char *key, char **out, char *err,
		     size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return true;
	if (!json_is_string(v)) {
		snprintf(err, errlen, "'%s' must be a string", key);
		return false;
	}
	const char *s = json_string_value(v);
	if (strlen(s) != json_string_length(v)) {
		snprintf(err, errlen, "'%s' contains a NUL byte", key);
		return false;
	}
	if (!(*out = ag_strdup(s))) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	return true;
}

ag_code ag_api_request_parse(const char *json, size_t len, bool allow_claims,
			     const char *device_claim,
			     struct ag_api_request *out, char *err,
			     size_t errlen)
{
	json_error_t je;
	ag_code rc = AG_ERR_INVALID;

	memset(out, 0, sizeof(*out));
	ag_claims_init(&out->claims);
	if (len > AG_API_BODY_MAX) {
		snprintf(err, errlen, "request body over %u bytes",
			 AG_API_BODY_MAX);
		return AG_ERR_LIMIT;
	}
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		snprintf(err, errlen, "line %d, column %d: %s", je.line,
			 je.column, je.text);
		return AG_ERR_SYNTAX;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "the request must be a JSON object");
		goto out;
	}
	if (!keys_ok(root, request_keys, "the request", err, errlen))
		goto out;
	if (!take_str(root, "workflow", &out->workflow, err, errlen) ||
	    !take_str(root, "token", &out->token, err, errlen) ||
	    !take_str(root, "device", &out->device, err, errlen) ||
	    !take_str(root, "ip", &out->ip, err, errlen) ||
	    !take_str(root, "client_cert", &out->client_cert, err, errlen) ||
	    !take_str(root, "dpop", &out->dpop, err, errlen))
		goto out;
	json_t *target = json_object_get(root, "request");
	if (target) {
		if (!json_is_object(target)) {
			snprintf(err, errlen, "'request' must be an object "
					      "with method, host and uri");
			goto out;
		}
		if (!keys_ok(target, target_keys, "'request'", err, errlen) ||
		    !take_str(target, "method", &out->method, err, errlen) ||
		    !take_str(target, "host", &out->host, err, errlen) ||
		    !take_str(target, "uri", &out->uri, err, errlen) ||
		    !take_str(target, "scheme", &out->scheme, err, errlen))
			goto out;
	}
	if (!out->workflow == !target) {
		snprintf(err, errlen, "give exactly one of 'workflow' and "
				      "'request'");
		goto out;
	}
	json_t *now = json_object_get(root, "now");
	if (now) {
		if (!json_is_integer(now) || json_integer_value(now) < 0) {
			snprintf(err, errlen, "'now' must be epoch seconds");
			goto out;
		}
		out->now = (int64_t)json_integer_value(now);
		out->has_now = true;
	}
	json_t *claims = json_object_get(root, "claims");
	if (claims) {
		if (!allow_claims) {
			snprintf(err, errlen, "'claims' is accepted only by "
					      "'aalgate decide'; send a signed "
					      "token");
			goto out;
		}
		if (out->token) {
			snprintf(err, errlen, "give 'token' or 'claims', not "
					      "both");
			goto out;
		}
		if (!json_is_object(claims)) {
			snprintf(err, errlen, "'claims' must be an object");
			goto out;
		}
		char *text = json_dumps(claims, JSON_COMPACT);
		if (!text) {
			snprintf(err, errlen, "out of memory");
			rc = AG_ERR_NOMEM;
			goto out;
		}
		enum ag_token_error te = ag_claims_parse(
			text, strlen(text), device_claim, &out->claims);
		free(text);
		if (te != AG_TOK_OK) {
			snprintf(err, errlen, "'claims': %s",
				 ag_token_error_name(te));
			goto out;
		}
		out->has_claims = true;
	}
	rc = AG_OK;
out:
	json_decref(root);
	if (rc != AG_OK)
		ag_api_request_release(out);
	return rc;
}

/* Always valid JSON in valid UTF-8: a byte that does not start a valid
 * UTF-8 sequence (request paths and claims can hold anything, and a cut
 * string can end inside a character) becomes U+FFFD. */
ag_code ag_buf_json_str(struct ag_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = s ? strlen(s) : 0;

	ag_buf_addc(b, '"');
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			ag_buf_addc(b, '\\');
			ag_buf_addc(b, (char)c);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			char e[6] = {'\\', 'u', '0', '0', hex[c >> 4],
				     hex[c & 15]};
			ag_buf_add(b, e, sizeof(e));
			i++;
		} else if (c < 0x80) {
			ag_buf_addc(b, (char)c);
			i++;
		} else {
			size_t k = ag_utf8_seq(s + i, n - i);
			if (k) {
				ag_buf_add(b, s + i, k);
				i += k;
			} else {
				ag_buf_adds(b, "\\ufffd");
				i++;
			}
		}
	}
	return ag_buf_addc(b, '"');
}

static void key(struct ag_buf *b, bool *first, const char *k)
{
	if (!*first)
		ag_buf_addc(b, ',');
	*first = false;
	ag_buf_json_str(b, k);
	ag_buf_addc(b, ':');
}

static void key_str(struct ag_buf *b, bool *first, const char *k,
		    const char *v)
{
	key(b, first, k);
	if (v)
		ag_buf_json_str(b, v);
	else
		ag_buf_adds(b, "null");
}

static void assurance(struct ag_buf *b, const struct ag_assurance *a,
		      enum ag_device dev)
{
	ag_buf_printf(b,
		      "{\"aal\":%d,\"phishing_resistant\":%s,\"hardware\":%s,"
		      "\"device\":\"%s\"",
		      a->aal, a->phishing_resistant ? "true" : "false",
		      a->hardware ? "true" : "false", ag_device_name(dev));
}

static void reasons(struct ag_buf *b, const struct ag_decision *d)
{
	ag_buf_addc(b, '[');
	for (size_t i = 0; i < d->n_reasons; i++) {
		if (i)
			ag_buf_addc(b, ',');
		ag_buf_json_str(b, ag_reason_name(d->reasons[i]));
	}
	ag_buf_addc(b, ']');
}

static const char *workflow_name(const struct ag_policy *p,
				 const struct ag_decision *d)
{
	if (d->workflow >= 0 && (size_t)d->workflow < p->n_workflows)
		return p->workflows[d->workflow].name;
	return NULL;
}

ag_code ag_decision_json(const struct ag_policy *p,
			 const struct ag_decision *d,
			 const struct ag_claims *claims, const char *decision_id,
			 struct ag_buf *out)
{
	bool first = true;

	ag_buf_addc(out, '{');
	key_str(out, &first, "decision", ag_outcome_name(d->outcome));
	key(out, &first, "status");
	ag_buf_printf(out, "%d", d->status);
	key_str(out, &first, "workflow", workflow_name(p, d));
	key_str(out, &first, "subject", claims ? claims->sub : NULL);
	key(out, &first, "required");
	assurance(out, &d->required, d->device_required);
	ag_buf_printf(out, ",\"max_age\":%lld,\"idle\":%lld}",
		      (long long)d->max_age, (long long)d->idle);
	key(out, &first, "observed");
	if (claims) {
		assurance(out, &d->observed, d->device_observed);
		if (claims->has_auth_time)
			ag_buf_printf(out, ",\"auth_time\":%lld",
				      (long long)claims->auth_time);
		ag_buf_addc(out, '}');
	} else {
		ag_buf_adds(out, "null");
	}
	key(out, &first, "reasons");
	reasons(out, d);
	if (d->token_error != AG_TOK_OK)
		key_str(out, &first, "token_error",
			ag_token_error_name(d->token_error));
	key_str(out, &first, "detail", d->detail[0] ? d->detail : NULL);
	key_str(out, &first, "www_authenticate",
		d->www_authenticate[0] ? d->www_authenticate : NULL);
	key_str(out, &first, "decision_id", decision_id);
	ag_buf_adds(out, "}\n");
	return out->failed ? AG_ERR_LIMIT : AG_OK;
}

static void rfc3339_ms(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03dZ", (int)(ms % 1000));
}

ag_code ag_decision_log_fields(const struct ag_policy *p,
			       const struct ag_decision *d,
			       const struct ag_claims *claims,
			       const struct ag_log_ctx *ctx,
			       struct ag_buf *out)
{
	char when[40];
	bool first = true;

	rfc3339_ms(ctx->time_ms, when, sizeof(when));
	key_str(out, &first, "time", when);
	key_str(out, &first, "type", "decision");
	key_str(out, &first, "id", ctx->decision_id);
	key_str(out, &first, "outcome", ag_outcome_name(d->outcome));
	key(out, &first, "status");
	ag_buf_printf(out, "%d", d->status);
	key_str(out, &first, "workflow", workflow_name(p, d));
	key(out, &first, "reasons");
	reasons(out, d);
	if (d->token_error != AG_TOK_OK)
		key_str(out, &first, "token_error",
			ag_token_error_name(d->token_error));
	if (d->detail[0])
		key_str(out, &first, "detail", d->detail);
	if (claims) {
		key_str(out, &first, "subject", claims->sub);
		key_str(out, &first, "iss", claims->iss);
		key_str(out, &first, "jti", claims->jti);
		key_str(out, &first, "kid", claims->kid);
		if (claims->azp)
			key_str(out, &first, "client", claims->azp);
		if (claims->sid)
			key_str(out, &first, "sid", claims->sid);
		key(out, &first, "observed");
		assurance(out, &d->observed, d->device_observed);
		ag_buf_addc(out, '}');
	}
	if (ctx->ip)
		key_str(out, &first, "ip", ctx->ip);
	if (ctx->method)
		key_str(out, &first, "method", ctx->method);
	if (ctx->host)
		key_str(out, &first, "host", ctx->host);
	if (ctx->path)
		key_str(out, &first, "path", ctx->path);
	if (ctx->what_if) {
		key(out, &first, "what_if");
		ag_buf_adds(out, "true");
	}
	return out->failed ? AG_ERR_LIMIT : AG_OK;
}
