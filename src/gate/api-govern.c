/*
 * The govern face over HTTP: POST /v1/recovery and the self-service
 * enrolment endpoints under /v1/accounts (see api-govern.h for who may
 * call what).  Each answer is JSON; an error is {"error": "..."} with the
 * status that says whose it is: 400 the request, 401 the token, 403 the
 * caller, 404 nothing there, 405 the method, 409 already there, 413 too
 * large, 503 the state store (which refuses: fail closed).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "gate/api-govern.h"
#include "util.h"
#include "banned.h"

#define JSON_TYPE "application/json"

static const char accounts_prefix[] = "/v1/accounts/";
static const char enrolments[] = "enrolments";

bool ag_govern_http_handles(const char *path)
{
	return path && (!strcmp(path, "/v1/recovery") ||
			!strcmp(path, "/v1/accounts") ||
			!strncmp(path, accounts_prefix,
				 sizeof(accounts_prefix) - 1));
}

void ag_http_answer_release(struct ag_http_answer *a)
{
	if (!a)
		return;
	free(a->body);
	a->body = NULL;
	a->body_len = 0;
}

/* ---- answers ----------------------------------------------------------- */

static void answer_init(struct ag_http_answer *a)
{
	memset(a, 0, sizeof(*a));
	a->status = 500;
	a->content_type = JSON_TYPE;
}

/* The answer is o (taken) as one line of JSON. */
static void answer_json(struct ag_http_answer *a, int status, json_t *o)
{
	char *txt = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)
		      : NULL;
	json_decref(o);
	free(a->body);
	a->body = NULL;
	a->body_len = 0;
	if (!txt) {
		a->status = 500;
		return;
	}
	size_t n = strlen(txt);
	char *b = realloc(txt, n + 2);
	if (!b) {
		free(txt);
		a->status = 500;
		return;
	}
	b[n] = '\n';
	b[n + 1] = '\0';
	a->body = b;
	a->body_len = n + 1;
	a->status = status;
}

static void answer_error(struct ag_http_answer *a, int status,
			 bool recovery, const char *fmt, ...)
	AG_PRINTF(4, 5);

/* {"error": "..."}; for /v1/recovery also "accepted": false, so that a
 * client that reads only that member still refuses. */
static void answer_error(struct ag_http_answer *a, int status,
			 bool recovery, const char *fmt, ...)
{
	char msg[AG_ERRMSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *o = json_object();
	if (o && recovery)
		json_object_set_new(o, "accepted", json_false());
	if (o)
		json_object_set_new(o, "error", json_string(msg));
	answer_json(a, status, o);
}

/* A challenge's error_description: %x20-21 / %x23-5B / %x5D-7E only
 * (RFC 6750 §3). */
static void challenge(struct ag_http_answer *a, const char *error,
		      const char *desc)
{
	char d[300];
	size_t o = 0;
	for (const char *p = desc; p && *p && o + 1 < sizeof(d); p++) {
		unsigned char c = (unsigned char)*p;
		d[o++] = (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
				 ? ' '
				 : (char)c;
	}
	d[o] = '\0';
	if (error)
		snprintf(a->www_authenticate, sizeof(a->www_authenticate),
			 "Bearer error=\"%s\", error_description=\"%s\"",
			 error, d);
	else
		snprintf(a->www_authenticate, sizeof(a->www_authenticate),
			 "Bearer realm=\"aalgate\"");
}

static void method_not_allowed(struct ag_http_answer *a, const char *allow,
			       bool recovery)
{
	ag_strlcpy(a->allow, allow, sizeof(a->allow));
	answer_error(a, 405, recovery, "use %s", allow);
}

/* ---- POST /v1/recovery ------------------------------------------------- */

static void recovery(const struct ag_govern_http_ctx *ctx,
		     const struct ag_govern_http_request *req,
		     struct ag_http_answer *a)
{
	struct ag_recovery_request r;
	struct ag_recovery_result *res = NULL;
	struct ag_recovery_state st;
	struct ag_error err;

	if (strcmp(req->method, "POST")) {
		method_not_allowed(a, "POST", true);
		return;
	}
	/* Checked before the body is read: an untrusted peer learns
	 * nothing from it, about accounts or codes. */
	if (!req->peer_trusted) {
		answer_error(a, 403, true,
			     "POST /v1/recovery spends recovery codes and "
			     "sends notifications, so it answers only the "
			     "peers in trusted_proxies; %s is not one",
			     req->peer && req->peer[0] ? req->peer
						       : "this peer");
		return;
	}
	if (req->body_too_large) {
		answer_error(a, 413, true, "request body over %u bytes",
			     AG_RECOVERY_REQUEST_MAX);
		return;
	}
	ag_error_init(&err);
	const char *body = req->body ? req->body : "";
	ag_code rc = ctx->store ? ag_recovery_request_parse_stored(
					  "request", body, req->body_len, &r,
					  &err)
				: ag_recovery_request_parse(
					  "request", body, req->body_len, &r,
					  &err);
	if (rc != AG_OK) {
		answer_error(a, rc == AG_ERR_NOMEM ? 500 : 400, true, "%s",
			     err.msg);
		return;
	}
	if (!(res = malloc(sizeof(*res)))) {
		ag_recovery_request_release(&r);
		a->status = 500;
		return;
	}
	int64_t now = !ctx->store && r.has_now ? r.now : req->now;
	rc = ag_recovery_run(ctx->store, ctx->policy, &r, "request",
			     AG_RECOVERY_VIA_HTTP, now, res, &st, &err);
	if (rc == AG_OK) {
		char *txt = ag_recovery_answer(&r, res, &st, now);
		if (txt) {
			a->status = 200;
			a->body = txt;
			a->body_len = strlen(txt);
		} else {
			a->status = 500;
		}
	} else if (rc == AG_ERR_NOT_FOUND) {
		answer_error(a, 404, true, "%s", err.msg);
	} else if (st.store_failed || rc == AG_ERR_NOMEM ||
		   rc == AG_ERR_INTERNAL) {
		answer_error(a, 503, true, "refused: %s", err.msg);
	} else {
		answer_error(a, 400, true, "%s", err.msg);
	}
	free(res);
	ag_recovery_request_release(&r);
}

/* ---- /v1/accounts/{id}/enrolments -------------------------------------- */

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* RFC 3986 pchar, less "%" (decoded apart). */
static bool pchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("-._~!$&'()*+,;=:@", c));
}

bool ag_govern_segment_decode(const char *src, size_t n, char *dst,
			      size_t cap)
{
	size_t o = 0;

	if (!src || !dst || cap == 0 || n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];
		if (c == '%') {
			if (i + 2 >= n)
				return false;
			int h = hexval((unsigned char)src[i + 1]);
			int l = hexval((unsigned char)src[i + 2]);
			if (h < 0 || l < 0)
				return false;
			c = (unsigned char)(h * 16 + l);
			i += 2;
		} else if (!pchar(c)) {
			return false;
		}
		if (c < 0x20 || c == 0x7f)
			return false;
		if (o + 1 >= cap)
			return false;
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	if (!ag_utf8_valid(dst, o))
		return false;
	return strcmp(dst, ".") && strcmp(dst, "..");
}

/* The segments after /v1/accounts/: id, "enrolments", method, label. */
struct account_path {
	char seg[4][AG_GOVERN_SEGMENT_MAX];
	size_t n;
};

/* 0 when parsed; else the status to answer (with a->body set). */
static int parse_account_path(const char *path, struct account_path *ap,
			      struct ag_http_answer *a)
{
	const char *p = path + sizeof(accounts_prefix) - 1;

	ap->n = 0;
	if (!strncmp(path, accounts_prefix, sizeof(accounts_prefix) - 1)) {
		while (*p) {
			const char *e = strchr(p, '/');
			size_t len = e ? (size_t)(e - p) : strlen(p);
			if (ap->n == AG_ARRAY_SIZE(ap->seg)) {
				answer_error(a, 404, false,
					     "no such endpoint: "
					     "/v1/accounts/{id}/enrolments"
					     "[/{method}[/{label}]]");
				return 404;
			}
			if (!ag_govern_segment_decode(p, len, ap->seg[ap->n],
						      sizeof(ap->seg[0]))) {
				answer_error(a, 400, false,
					     "path segment %zu is empty, too "
					     "long, or not strictly "
					     "percent-encoded UTF-8 without "
					     "control characters",
					     ap->n + 1);
				return 400;
			}
			ap->n++;
			if (!e)
				break;
			p = e + 1;
			if (!*p) {
				answer_error(a, 400, false,
					     "the path ends with '/'");
				return 400;
			}
		}
	}
	if (ap->n < 2) {
		answer_error(a, 404, false,
			     "no such endpoint: use "
			     "/v1/accounts/{id}/enrolments");
		return 404;
	}
	if (strcmp(ap->seg[1], enrolments)) {
		struct ag_suggest sg;
		ag_suggest_init(&sg, ap->seg[1]);
		ag_suggest_add(&sg, enrolments);
		const char *best = ag_suggest_best(&sg);
		if (!best && !strcmp(ap->seg[1], "enrollments"))
			best = enrolments;
		answer_error(a, 404, false,
			     "no such endpoint: /v1/accounts/{id}/%.64s%s%s%s",
			     ap->seg[1], best ? "; did you mean '" : "",
			     best ? best : "", best ? "'?" : "");
		return 404;
	}
	return 0;
}

static json_t *assurance_json(const struct ag_assurance *l)
{
	return json_pack("{s:i, s:b, s:b}", "aal", l->aal,
			 "phishing_resistant", l->phishing_resistant,
			 "hardware", l->hardware);
}

static void rfc3339(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (!gmtime_r(&tt, &tm) ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

/* The account's level now, as JSON (null when unknown). */
static json_t *level_json(const struct ag_govern_http_ctx *ctx,
			  const char *account)
{
	struct ag_assurance l;
	struct ag_error err;
	ag_error_init(&err);
	if (ag_store_account_level(ctx->store, ctx->policy, account, &l,
				   &err) != AG_OK)
		return json_null();
	return assurance_json(&l);
}

static void list(const struct ag_govern_http_ctx *ctx, const char *account,
		 struct ag_http_answer *a)
{
	struct ag_enrolments l = {0};
	struct ag_error err;
	char when[40];

	ag_error_init(&err);
	if (ag_store_enroll_list(ctx->store, account, &l, &err) != AG_OK) {
		ag_enrolments_release(&l);
		answer_error(a, 503, false, "%s", err.msg);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < l.n; i++) {
		rfc3339(l.v[i].created, when, sizeof(when));
		json_array_append_new(arr,
				      json_pack("{s:s, s:s, s:s}", "method",
						l.v[i].method, "label",
						l.v[i].label, "created", when));
	}
	json_t *lv = json_null();
	if (l.n) {
		struct ag_assurance lvl;
		if (ag_enrolments_level(ctx->policy, l.v, l.n, &lvl, &err) ==
		    AG_OK)
			lv = assurance_json(&lvl);
	}
	ag_enrolments_release(&l);
	answer_json(a, 200,
		    arr ? json_pack("{s:s, s:o, s:o}", "account", account,
				    "level", lv, "enrolments", arr)
			: NULL);
}

/* The body of POST .../enrolments: {"method", "label"}. */
static bool enrol_body(const struct ag_govern_http_request *req,
		       char *method, size_t mlen, char *label, size_t llen,
		       struct ag_http_answer *a)
{
	json_error_t je;
	json_t *o = json_loadb(req->body ? req->body : "", req->body_len,
			       JSON_REJECT_DUPLICATES, &je);
	const char *k;
	json_t *v;
	bool ok = false;

	if (!o) {
		answer_error(a, 400, false, "request:%d:%d: %s", je.line,
			     je.column, je.text);
		return false;
	}
	if (!json_is_object(o)) {
		answer_error(a, 400, false,
			     "the body must be {\"method\": ..., \"label\": "
			     "...}");
		goto out;
	}
	json_object_foreach(o, k, v) {
		if (!strcmp(k, "method") || !strcmp(k, "label")) {
			if (!json_is_string(v) ||
			    strlen(json_string_value(v)) !=
				    json_string_length(v)) {
				answer_error(a, 400, false,
					     "'%s' must be a string", k);
				goto out;
			}
			continue;
		}
		struct ag_suggest sg;
		ag_suggest_init(&sg, k);
		ag_suggest_add(&sg, "method");
		ag_suggest_add(&sg, "label");
		const char *best = ag_suggest_best(&sg);
		answer_error(a, 400, false, "unknown key '%.64s'%s%s%s", k,
			     best ? "; did you mean '" : "", best ? best : "",
			     best ? "'?" : "");
		goto out;
	}
	json_t *m = json_object_get(o, "method");
	json_t *l = json_object_get(o, "label");
	if (!m) {
		answer_error(a, 400, false, "'method' is required");
		goto out;
	}
	if (json_string_length(m) >= mlen ||
	    (l && json_string_length(l) >= llen)) {
		answer_error(a, 400, false, "'method' or 'label' is too long");
		goto out;
	}
	ag_strlcpy(method, json_string_value(m), mlen);
	ag_strlcpy(label, l ? json_string_value(l) : "", llen);
	ok = true;
out:
	json_decref(o);
	return ok;
}

static json_t *binding_json(const struct ag_binding *b)
{
	return json_pack("{s:b, s:i, s:i, s:i}", "bootstrap", b->bootstrap,
			 "account_aal", b->account_aal, "method_aal",
			 b->method_aal, "required", b->required);
}

static void enrol(const struct ag_govern_http_ctx *ctx,
		  const struct ag_govern_http_request *req,
		  const char *account, const struct ag_assurance *shown,
		  struct ag_http_answer *a)
{
	char method[AG_STORE_METHOD_MAX + 1], label[AG_STORE_LABEL_MAX + 1];
	struct ag_enroll_result res;
	struct ag_error err;

	if (req->body_too_large) {
		answer_error(a, 413, false, "request body too large");
		return;
	}
	if (!enrol_body(req, method, sizeof(method), label, sizeof(label), a))
		return;
	struct ag_enroll_auth auth = {.assurance = *shown, .source = "token"};
	ag_error_init(&err);
	ag_code rc = ag_store_enroll_add(ctx->store, ctx->policy, account,
					 method, label, &auth, req->now, &res,
					 &err);
	if (rc == AG_OK) {
		answer_json(a, 201,
			    json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:I}",
				      "account", account, "method", method,
				      "label", label, "binding",
				      binding_json(&res.binding), "shown",
				      assurance_json(shown), "level",
				      level_json(ctx, account), "journal_seq",
				      (json_int_t)res.journal_seq));
		return;
	}
	switch (res.status) {
	case AG_ENROLL_REFUSED:
		/* A step-up: the same token cannot do it, a stronger
		 * authentication can (RFC 9470). */
		challenge(a, "insufficient_user_authentication", err.msg);
		answer_json(a, 401,
			    json_pack("{s:s, s:o, s:o}", "error", err.msg,
				      "binding", binding_json(&res.binding),
				      "shown", assurance_json(shown)));
		return;
	case AG_ENROLL_EXISTS:
		answer_error(a, 409, false, "%s", err.msg);
		return;
	default:
		break;
	}
	answer_error(a,
		     rc == AG_ERR_INVALID || rc == AG_ERR_LIMIT ||
				     rc == AG_ERR_USAGE
			     ? 400
			     : 503,
		     false, "%s", err.msg);
}

static void unenrol(const struct ag_govern_http_ctx *ctx,
		    const struct ag_govern_http_request *req,
		    const struct account_path *ap,
		    const struct ag_assurance *shown, struct ag_http_answer *a)
{
	const char *account = ap->seg[0], *method = ap->seg[2];
	const char *label = ap->n > 3 ? ap->seg[3] : "";
	struct ag_assurance own;
	struct ag_enroll_result res;
	struct ag_error err;

	ag_error_init(&err);
	ag_code rc = ag_store_account_level(ctx->store, ctx->policy, account,
					    &own, &err);
	if (rc == AG_ERR_NOT_FOUND) {
		answer_error(a, 404, false, "%s", err.msg);
		return;
	}
	if (rc != AG_OK) {
		answer_error(a, 503, false, "%s", err.msg);
		return;
	}
	int need = own.aal < 1 ? 1 : own.aal;
	if (shown->aal < need) {
		char msg[400];
		snprintf(msg, sizeof(msg),
			 "removing an authenticator from '%.64s' needs "
			 "authentication at its own level, AAL%d; the token "
			 "shows AAL%d",
			 account, need, shown->aal);
		challenge(a, "insufficient_user_authentication", msg);
		answer_json(a, 401,
			    json_pack("{s:s, s:i, s:o}", "error", msg,
				      "required", need, "shown",
				      assurance_json(shown)));
		return;
	}
	rc = ag_store_enroll_remove(ctx->store, account, method, label,
				    req->now, &res, &err);
	if (rc == AG_OK) {
		answer_json(a, 200,
			    json_pack("{s:s, s:s, s:s, s:I, s:o, s:I}",
				      "account", account, "removed", method,
				      "label", label, "remaining",
				      (json_int_t)res.remaining, "level",
				      res.remaining ? level_json(ctx, account)
						    : json_null(),
				      "journal_seq",
				      (json_int_t)res.journal_seq));
		return;
	}
	if (res.status == AG_ENROLL_MISSING)
		answer_error(a, 404, false, "%s", err.msg);
	else
		answer_error(a,
			     rc == AG_ERR_INVALID || rc == AG_ERR_LIMIT ||
					     rc == AG_ERR_USAGE
				     ? 400
				     : 503,
			     false, "%s", err.msg);
}

static void accounts(const struct ag_govern_http_ctx *ctx,
		     const struct ag_govern_http_request *req,
		     struct ag_http_answer *a)
{
	struct account_path *ap = malloc(sizeof(*ap));
	struct ag_claims claims;
	char why[256] = "";

	ag_claims_init(&claims);
	if (!ap) {
		a->status = 500;
		return;
	}
	if (parse_account_path(req->path, ap, a))
		goto out;
	bool collection = ap->n == 2;
	const char *m = req->method;
	if (collection && strcmp(m, "GET") && strcmp(m, "POST")) {
		method_not_allowed(a, "GET, POST", false);
		goto out;
	}
	if (!collection && strcmp(m, "DELETE")) {
		method_not_allowed(a, "DELETE", false);
		goto out;
	}
	if (!ctx->store) {
		answer_error(a, 503, false,
			     "no state store: start the gate with --state");
		goto out;
	}

	/* The caller: a valid token for this very account. */
	if (req->bad_authorization) {
		challenge(a, "invalid_token",
			  "Authorization is not one Bearer token");
		answer_error(a, 401, false,
			     "Authorization is not one Bearer token");
		goto out;
	}
	if (!req->token) {
		challenge(a, NULL, NULL);
		answer_error(a, 401, false,
			     "a bearer token for the account is required");
		goto out;
	}
	enum ag_token_error te = ag_verifier_check_bearer(
		ctx->verifier, req->token, strlen(req->token), req->now,
		&claims, why, sizeof(why));
	if (te != AG_TOK_OK) {
		challenge(a, "invalid_token", why);
		answer_error(a, 401, false, "the token is refused (%s): %s",
			     ag_token_error_name(te), why);
		goto out;
	}
	/* Accounts are named by sub, which is unique only within one
	 * issuer. */
	if (ctx->policy->n_issuers != 1 || !claims.iss ||
	    strcmp(claims.iss, ctx->policy->issuers[0].iss)) {
		answer_error(a, 403, false,
			     "the policy has %zu issuers: whose '%.64s' the "
			     "token names cannot be told, so it manages no "
			     "account",
			     ctx->policy->n_issuers,
			     claims.sub ? claims.sub : "");
		goto out;
	}
	if (!claims.sub || strcmp(claims.sub, ap->seg[0])) {
		answer_error(a, 403, false,
			     "the token is for '%.64s', not '%.64s': an "
			     "account's enrolments are its own to see and "
			     "change",
			     claims.sub ? claims.sub : "(no sub)", ap->seg[0]);
		goto out;
	}
	struct ag_assurance shown;
	ag_claims_assurance(ctx->policy, &claims, &shown);
	if (!strcmp(m, "GET"))
		list(ctx, ap->seg[0], a);
	else if (!strcmp(m, "POST"))
		enrol(ctx, req, ap->seg[0], &shown, a);
	else
		unenrol(ctx, req, ap, &shown, a);
out:
	ag_claims_release(&claims);
	free(ap);
}

void ag_govern_http(const struct ag_govern_http_ctx *ctx,
		    const struct ag_govern_http_request *req,
		    struct ag_http_answer *out)
{
	answer_init(out);
	if (!ctx || !ctx->policy || !req || !req->method || !req->path)
		return;
	if (!strcmp(req->path, "/v1/recovery"))
		recovery(ctx, req, out);
	else if (ag_govern_http_handles(req->path))
		accounts(ctx, req, out);
	else
		answer_error(out, 404, false, "not found");
}

enum MHD_Result ag_govern_serve(struct MHD_Connection *c,
				const struct ag_govern_http_ctx *ctx,
				const struct ag_govern_http_request *req)
{
	struct ag_http_answer a;
	enum MHD_Result ret = MHD_NO;

	ag_govern_http(ctx, req, &a);
	struct MHD_Response *r = MHD_create_response_from_buffer(
		a.body_len, a.body ? a.body : (char *)"",
		MHD_RESPMEM_MUST_COPY);
	if (r) {
		MHD_add_response_header(r, "Content-Type", a.content_type);
		MHD_add_response_header(r, "Cache-Control", "no-store");
		if (a.allow[0])
			MHD_add_response_header(r, "Allow", a.allow);
		if (a.www_authenticate[0])
			MHD_add_response_header(r, "WWW-Authenticate",
						a.www_authenticate);
		ret = MHD_queue_response(c, (unsigned)a.status, r);
		MHD_destroy_response(r);
	}
	ag_http_answer_release(&a);
	return ret;
}
