/*
 * /v1/grants (docs/govern.md): the HTTP face of JIT elevation, as JSON in and
 * out, apart from the HTTP server so that it can be tested without one.
 * The server (src/gate/server.c) hands over the method, the path, the
 * bearer token and the body, and sends back the status and body.
 *
 *   POST /v1/grants                 {"workflow", "duration", "reason",
 *                                    "hosts"?}: request, 201
 *   POST /v1/grants/ID/approve      approve (the body is ignored)
 *   POST /v1/grants/ID/deny         deny
 *   POST /v1/grants/ID/revoke       revoke
 *   GET  /v1/grants                 the caller's grants and those the
 *                                   caller may approve, among the newest
 *                                   HTTP_LIST_MAX ("truncated" says when
 *                                   older ones were left out)
 *   GET  /v1/grants/ID              one of those
 *
 * The caller is the subject of the Authorization bearer token, verified
 * as the gate verifies tokens, and nothing else: no body field names who
 * is asking.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aalgate/gate.h"
#include "aalgate/govern.h"
#include "util.h"
#include "banned.h"

/* Grants a GET /v1/grants reads, newest first: pending ones wait a day at
 * most, so an approver finds them among these. */
#define HTTP_LIST_MAX 1000

static void set_body(struct ag_grant_http *out, int status, json_t *o)
{
	out->status = status;
	out->body = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)
		      : NULL;
	json_decref(o);
	if (!out->body) {
		/* Fail closed, still with a body a client can read. */
		out->status = 500;
		out->body = ag_strdup("{\"result\":\"error\",\"message\":"
				      "\"out of memory\"}");
	}
}

static void error_body(struct ag_grant_http *out, int status,
		       const char *result, const char *refusal,
		       const char *msg)
{
	json_t *o = json_object();
	if (o) {
		json_object_set_new(o, "result", json_string(result));
		if (refusal)
			json_object_set_new(o, "refusal", json_string(refusal));
		json_object_set_new(o, "message", json_string(msg));
	}
	set_body(out, status, o);
}

static json_t *grant_obj(const struct ag_grant *g, int64_t now)
{
	char *txt = ag_grant_json(g, now);
	json_t *o = txt ? json_loads(txt, 0, NULL) : NULL;
	free(txt);
	return o;
}

/* The answer to a change. */
static void change_answer(struct ag_grant_http *out, ag_code rc,
			  const struct ag_grant_result *res,
			  const struct ag_error *err, int ok_status,
			  int64_t now)
{
	if (rc != AG_OK && res->refusal == AG_GREF_NONE) {
		/* The store failed (busy, read-only, full...): nothing
		 * changed, and the caller is told why. */
		error_body(out, 503, "error", NULL, err->msg);
		return;
	}
	json_t *o = json_object();
	if (!o) {
		set_body(out, 500, NULL);
		return;
	}
	int status = ok_status;
	json_object_set_new(o, "result",
			    json_string(rc == AG_OK ? "done" : "refused"));
	if (rc != AG_OK) {
		status = res->refusal == AG_GREF_NOT_FOUND ? 404
			 : res->refusal == AG_GREF_BAD_REQUEST ||
					 res->refusal == AG_GREF_TOO_LONG ||
					 res->refusal ==
						 AG_GREF_UNKNOWN_WORKFLOW ||
					 res->refusal == AG_GREF_NO_JIT
				 ? 400
				 : 403;
		json_object_set_new(o, "refusal",
				    json_string(ag_grant_refusal_name(
					    res->refusal)));
		json_object_set_new(o, "message", json_string(err->msg));
	}
	json_object_set_new(o, "activated", json_boolean(res->activated));
	json_t *g = res->grant.account ? grant_obj(&res->grant, now) : NULL;
	json_object_set_new(o, "grant", g ? g : json_null());
	set_body(out, status, o);
}

static const char *const request_keys[] = {"workflow", "duration", "reason",
					   "hosts", NULL};

/* Reads a request body into ask (borrowing from root). */
static bool parse_ask(json_t *root, struct ag_grant_ask *ask,
		      const char **hosts, char *why, size_t len)
{
	const char *k;
	json_t *v;

	if (!json_is_object(root)) {
		snprintf(why, len, "the body must be a JSON object");
		return false;
	}
	json_object_foreach(root, k, v)
	{
		bool known = false;
		struct ag_suggest sg;
		ag_suggest_init(&sg, k);
		for (const char *const *q = request_keys; *q; q++) {
			ag_suggest_add(&sg, *q);
			if (!strcmp(*q, k))
				known = true;
		}
		if (!known) {
			const char *best = ag_suggest_best(&sg);
			snprintf(why, len, "unknown key '%.100s'%s%s%s", k,
				 best ? "; did you mean '" : "",
				 best ? best : "", best ? "'?" : "");
			return false;
		}
	}
	v = json_object_get(root, "workflow");
	if (!json_is_string(v)) {
		snprintf(why, len, "\"workflow\" (a string) is required");
		return false;
	}
	ask->workflow = json_string_value(v);
	v = json_object_get(root, "reason");
	if (!json_is_string(v)) {
		snprintf(why, len, "\"reason\" (a string) is required");
		return false;
	}
	ask->reason = json_string_value(v);
	v = json_object_get(root, "duration");
	if (json_is_integer(v) && json_integer_value(v) > 0) {
		ask->duration = (int64_t)json_integer_value(v);
	} else if (!json_is_string(v) ||
		   ag_duration_parse(json_string_value(v), &ask->duration) !=
			   AG_OK ||
		   ask->duration <= 0) {
		snprintf(why, len, "\"duration\" is required: seconds, or a "
			 "duration such as \"30m\" or \"1h\"");
		return false;
	}
	v = json_object_get(root, "hosts");
	if (v) {
		if (!json_is_array(v) ||
		    json_array_size(v) > AG_GRANT_HOSTS_MAX) {
			snprintf(why, len, "\"hosts\" is a list of at most %d "
				 "host names",
				 AG_GRANT_HOSTS_MAX);
			return false;
		}
		for (size_t i = 0; i < json_array_size(v); i++) {
			json_t *h = json_array_get(v, i);
			if (!json_is_string(h)) {
				snprintf(why, len, "\"hosts\" holds host names "
					 "(strings)");
				return false;
			}
			hosts[i] = json_string_value(h);
		}
		ask->hosts = hosts;
		ask->n_hosts = json_array_size(v);
	}
	return true;
}

/* "/v1/grants/ID[/VERB]" -> id and verb ("" when none); false when the
 * path is not of that form. */
static bool parse_path(const char *path, uint64_t *id, const char **verb)
{
	const char *p = path + strlen("/v1/grants/");
	char *end;
	if (*p < '1' || *p > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(p, &end, 10);
	if (errno || v > (unsigned long long)INT64_MAX)
		return false;
	*id = (uint64_t)v;
	if (!*end) {
		*verb = "";
		return true;
	}
	if (*end != '/' || !end[1] || strchr(end + 1, '/'))
		return false;
	*verb = end + 1;
	return true;
}

/* Grants the caller sees: their own, and those of workflows they may
 * approve. */
static bool visible(const struct ag_policy *p, const struct ag_grant *g,
		    const char *who)
{
	if (!strcmp(g->account, who))
		return true;
	long wi = ag_policy_workflow(p, g->workflow);
	return wi >= 0 && ag_grant_is_approver(p, &p->workflows[wi], who);
}

void ag_grant_http_release(struct ag_grant_http *out)
{
	if (!out)
		return;
	free(out->body);
	memset(out, 0, sizeof(*out));
}

void ag_grant_http(const struct ag_grant_ctx *ctx, struct ag_verifier *v,
		   const char *method, const char *path, const char *bearer,
		   bool bad_auth, const char *body, size_t len, int64_t now,
		   struct ag_grant_http *out)
{
	struct ag_claims claims;
	char why[300] = "";
	char who[AG_STORE_ACCOUNT_MAX + 1];
	struct ag_error err;
	uint64_t id = 0;
	const char *verb = NULL;
	bool list = !strcmp(path, "/v1/grants");

	memset(out, 0, sizeof(*out));
	ag_claims_init(&claims);
	ag_error_init(&err);
	if (!ctx || !ctx->policy || !ctx->gate || !v) {
		error_body(out, 500, "error", NULL, "internal error");
		return;
	}
	if (!ctx->store) {
		error_body(out, 503, "error", NULL,
			   "grants need the state store: start the gate with "
			   "--state DB");
		return;
	}
	if (!list && (strncmp(path, "/v1/grants/", 11) != 0 ||
		      !parse_path(path, &id, &verb))) {
		error_body(out, 404, "error", NULL, "not found");
		return;
	}
	bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	bool post = !strcmp(method, "POST");
	if ((list && !get && !post) || (verb && !*verb && !get) ||
	    (verb && *verb && !post)) {
		out->allow = list ? "GET, POST" : *verb ? "POST" : "GET";
		error_body(out, 405, "error", NULL, "method not allowed");
		return;
	}
	if (verb && *verb && strcmp(verb, "approve") &&
	    strcmp(verb, "deny") && strcmp(verb, "revoke")) {
		struct ag_suggest sg;
		ag_suggest_init(&sg, verb);
		ag_suggest_add(&sg, "approve");
		ag_suggest_add(&sg, "deny");
		ag_suggest_add(&sg, "revoke");
		const char *best = ag_suggest_best(&sg);
		snprintf(why, sizeof(why), "no action '%.60s' (approve, deny "
			 "or revoke)%s%s%s",
			 verb, best ? "; did you mean '" : "", best ? best : "",
			 best ? "'?" : "");
		error_body(out, 404, "error", NULL, why);
		return;
	}

	/* The caller: the bearer token and nothing else. */
	if (bad_auth || !bearer) {
		out->challenge = true;
		error_body(out, 401, "refused", "identity",
			   bad_auth ? "Authorization is not one Bearer token"
				    : "no bearer token: grants are asked for "
				      "and approved with one");
		return;
	}
	enum ag_token_error te = ag_verifier_check_bearer(v, bearer, strlen(bearer),
						   now, &claims, why,
						   sizeof(why));
	if (te != AG_TOK_OK) {
		char msg[400];
		out->challenge = true;
		out->invalid_token = true;
		snprintf(msg, sizeof(msg), "the token is not valid (%s)%s%s",
			 ag_token_error_name(te), why[0] ? ": " : "", why);
		error_body(out, 401, "refused", "invalid_token", msg);
		return;
	}
	struct ag_grant_caller caller = {.claims = &claims,
					 .token = bearer,
					 .token_len = strlen(bearer)};

	if (get) {
		if (ag_grant_account(ctx->policy, claims.iss, claims.sub, who,
				     sizeof(who), &err) != AG_OK) {
			error_body(out, 403, "refused", "identity", err.msg);
			goto out;
		}
		if (!list) {
			struct ag_grant g;
			ag_code rc = ag_grant_get(ctx->store, id, &g, &err);
			if (rc == AG_OK && visible(ctx->policy, &g, who)) {
				json_t *o = grant_obj(&g, now);
				set_body(out, 200,
					 o ? json_pack("{s:o}", "grant", o)
					   : NULL);
			} else if (rc == AG_OK || rc == AG_ERR_NOT_FOUND) {
				/* Another's grant is not shown, nor said to
				 * exist. */
				snprintf(why, sizeof(why), "no grant %llu",
					 (unsigned long long)id);
				error_body(out, 404, "refused", "not_found",
					   why);
			} else {
				error_body(out, 503, "error", NULL, err.msg);
			}
			ag_grant_release(&g);
			goto out;
		}
		struct ag_grants l = {0};
		if (ag_grant_list(ctx->store, NULL, HTTP_LIST_MAX, &l,
				  &err) != AG_OK) {
			error_body(out, 503, "error", NULL, err.msg);
			ag_grants_release(&l);
			goto out;
		}
		json_t *arr = json_array();
		for (size_t i = 0; arr && i < l.n; i++)
			if (visible(ctx->policy, &l.v[i], who)) {
				json_t *o = grant_obj(&l.v[i], now);
				if (o)
					json_array_append_new(arr, o);
			}
		bool truncated = l.truncated;
		ag_grants_release(&l);
		set_body(out, 200,
			 arr ? json_pack("{s:o, s:b}", "grants", arr,
					 "truncated", truncated)
			     : NULL);
		goto out;
	}

	struct ag_grant_result res;
	ag_code rc;
	if (list) {
		json_error_t je;
		const char *hosts[AG_GRANT_HOSTS_MAX];
		struct ag_grant_ask ask = {0};
		json_t *root = json_loadb(body ? body : "", len,
					  JSON_REJECT_DUPLICATES, &je);
		if (!root) {
			snprintf(why, sizeof(why),
				 "the body is not JSON: %.200s (line %d)",
				 je.text, je.line);
			error_body(out, 400, "refused", "bad_request", why);
			goto out;
		}
		if (!parse_ask(root, &ask, hosts, why, sizeof(why))) {
			json_decref(root);
			error_body(out, 400, "refused", "bad_request", why);
			goto out;
		}
		rc = ag_grant_request(ctx, &caller, &ask, now, &res, &err);
		json_decref(root);
		change_answer(out, rc, &res, &err, 201, now);
	} else {
		if (!strcmp(verb, "approve"))
			rc = ag_grant_approve(ctx, &caller, id, now, &res,
					      &err);
		else if (!strcmp(verb, "deny"))
			rc = ag_grant_deny(ctx, &caller, id, now, &res, &err);
		else
			rc = ag_grant_revoke(ctx, &caller, id, now, &res,
					     &err);
		change_answer(out, rc, &res, &err, 200, now);
	}
	ag_grant_release(&res.grant);
out:
	ag_claims_release(&claims);
}
