/*
 * JIT elevation and break-glass (docs/govern.md): the rules.
 *
 * The store (store.c) keeps grants and gives each change one
 * transaction; this file decides what a request, an approval, a denial or
 * a revocation may do, and words the answer.  Every check that depends on
 * stored state runs inside the write transaction that makes the change,
 * so that what was checked is still true when it commits: two approvers
 * at the same instant are serialised by the store's write lock, and the
 * second sees the first's approval (and the activation it caused).
 *
 * Whether an approver's token is good enough is the gate's own decision
 * (ag_gate_decide) for the grant's workflow, so that the AAL, phishing
 * resistance, hardware and reauthentication rules exist once.  That
 * decision is made before the write transaction, because the account's
 * own level (for match_account workflows) is read from the store too, and
 * a pool of one connection cannot serve a read inside a write.  A grant's
 * workflow never changes, so a decision made a moment earlier holds.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "aalgate/gate.h"
#include "aalgate/govern.h"
#include "govern/store-int.h"
#include "util.h"
#include "banned.h"

/* The longest key that names a token for replay checks. */
#define TOKEN_KEY_MAX (AG_STORE_ACCOUNT_MAX * 3)

/* ---- names and releases ------------------------------------------------ */

static const char *const state_names[AG_GRANT_STATE_COUNT] = {
	[AG_GRANT_PENDING] = "pending", [AG_GRANT_ACTIVE] = "active",
	[AG_GRANT_EXPIRED] = "expired", [AG_GRANT_DENIED] = "denied",
	[AG_GRANT_REVOKED] = "revoked",
};

const char *ag_grant_state_name(enum ag_grant_state s)
{
	if ((unsigned)s < AG_GRANT_STATE_COUNT)
		return state_names[s];
	return "unknown";
}

static const char *const refusal_names[AG_GREF__COUNT] = {
	[AG_GREF_NONE] = "none",
	[AG_GREF_IDENTITY] = "identity",
	[AG_GREF_UNKNOWN_WORKFLOW] = "unknown_workflow",
	[AG_GREF_NO_JIT] = "no_jit",
	[AG_GREF_TOO_LONG] = "too_long",
	[AG_GREF_BAD_REQUEST] = "bad_request",
	[AG_GREF_NOT_FOUND] = "not_found",
	[AG_GREF_NOT_PENDING] = "not_pending",
	[AG_GREF_CLOSED] = "closed",
	[AG_GREF_SELF_APPROVAL] = "self_approval",
	[AG_GREF_NOT_APPROVER] = "not_approver",
	[AG_GREF_ASSURANCE] = "assurance",
	[AG_GREF_REPLAY] = "replay",
	[AG_GREF_NOT_ALLOWED] = "not_allowed",
};

const char *ag_grant_refusal_name(enum ag_grant_refusal r)
{
	if ((unsigned)r < AG_GREF__COUNT && refusal_names[r])
		return refusal_names[r];
	return "unknown";
}

void ag_grant_release(struct ag_grant *g)
{
	if (!g)
		return;
	free(g->account);
	free(g->workflow);
	free(g->reason);
	for (size_t i = 0; i < g->n_hosts; i++)
		free(g->hosts[i]);
	free(g->hosts);
	free(g->closed_by);
	for (size_t i = 0; i < g->n_approvals; i++)
		free(g->approvals[i].approver);
	free(g->approvals);
	memset(g, 0, sizeof(*g));
}

void ag_grants_release(struct ag_grants *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		ag_grant_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

enum ag_grant_state ag_grant_state_at(const struct ag_grant *g, int64_t now)
{
	if (g->state == AG_GRANT_ACTIVE && now >= g->expires)
		return AG_GRANT_EXPIRED;
	/* A request nobody approved in a day is stale: its reason may no
	 * longer hold. */
	if (g->state == AG_GRANT_PENDING &&
	    now - g->requested >= AG_GRANT_PENDING_MAX)
		return AG_GRANT_EXPIRED;
	return g->state;
}

static void result_init(struct ag_grant_result *res)
{
	memset(res, 0, sizeof(*res));
}

AG_PRINTF(4, 5)
static ag_code refuse(struct ag_grant_result *res, enum ag_grant_refusal why,
		      struct ag_error *err, const char *fmt, ...)
{
	va_list ap;
	char msg[AG_ERRMSG_MAX];
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	res->refusal = why;
	return ag_err(err, AG_ERR_INVALID, "%s", msg);
}

static void duration_text(int64_t secs, char *buf, size_t len)
{
	ag_duration_format(secs, buf, len);
}

/* ---- accounts and approvers -------------------------------------------- */

ag_code ag_grant_account(const struct ag_policy *p, const char *iss,
			 const char *sub, char *buf, size_t len,
			 struct ag_error *err)
{
	if (len)
		buf[0] = '\0';
	if (!p || !buf || !len)
		return ag_err(err, AG_ERR_USAGE, "no policy or buffer given");
	if (!sub || !*sub)
		return ag_err(err, AG_ERR_INVALID,
			      "the token names no subject (sub)");
	if (p->n_issuers >= 2) {
		bool known = false;
		for (size_t i = 0; iss && i < p->n_issuers; i++)
			if (!strcmp(p->issuers[i].iss, iss))
				known = true;
		if (!known)
			return ag_err(err, AG_ERR_INVALID,
				      "issuer '%.200s' is not one of the "
				      "policy's issuers",
				      iss ? iss : "(none)");
		int n = snprintf(buf, len, "%s %s", iss, sub);
		if (n < 0 || (size_t)n >= len) {
			buf[0] = '\0';
			return ag_err(err, AG_ERR_LIMIT,
				      "the account name is longer than %zu "
				      "bytes",
				      len - 1);
		}
	} else {
		if (p->n_issuers == 1 && iss && strcmp(iss, p->issuers[0].iss))
			return ag_err(err, AG_ERR_INVALID,
				      "issuer '%.200s' is not the policy's "
				      "issuer",
				      iss);
		if (strlen(sub) >= len)
			return ag_err(err, AG_ERR_LIMIT,
				      "the account name is longer than %zu "
				      "bytes",
				      len - 1);
		ag_strlcpy(buf, sub, len);
	}
	ag_code rc = ag_store_check_name("account", buf, 1,
					 AG_STORE_ACCOUNT_MAX, err);
	if (rc != AG_OK)
		buf[0] = '\0';
	return rc;
}

bool ag_grant_is_approver(const struct ag_policy *p,
			  const struct ag_workflow *w, const char *account)
{
	if (!p || !w || !w->jit_approvers || !account)
		return false;
	const char *a = w->jit_approvers;
	if (strncmp(a, "group:", 6) != 0)
		return !strcmp(a, account);
	for (size_t i = 0; i < p->groups.n; i++) {
		const struct ag_policy_group *g = &p->groups.v[i];
		if (strcmp(g->name, a + 6))
			continue;
		for (size_t k = 0; k < g->n_members; k++)
			if (!strcmp(g->members[k], account))
				return true;
	}
	return false;
}

/* "group 'admins'" or "'alice'": who may approve, for messages. */
static void approvers_text(const struct ag_policy *p,
			   const struct ag_workflow *w, char *buf, size_t len)
{
	const char *a = w->jit_approvers;
	if (!a)
		snprintf(buf, len, "nobody (the workflow names no approvers)");
	else if (strncmp(a, "group:", 6) != 0)
		snprintf(buf, len, "'%s'", a);
	else if (!p->groups.set)
		snprintf(buf, len, "group '%s', which %s cannot list: it has "
			 "no groups: section",
			 a + 6, p->file ? p->file : "the policy");
	else
		snprintf(buf, len, "the members of group '%s'", a + 6);
}

/* The key that names the caller's token for replay checks: the issuer
 * and jti when the token has a jti, else the SHA-256 of what it signs
 * (header.payload).  Not of the whole token: an ECDSA signature (r, s)
 * verifies as (r, n - s) too, so anyone holding a used token could make
 * another string of it that verifies, and approve with it again. */
static ag_code token_key(const struct ag_grant_caller *c, char *buf,
			 size_t len, struct ag_error *err)
{
	const struct ag_claims *cl = c->claims;
	if (cl->jti && *cl->jti) {
		int n = snprintf(buf, len, "jti %s %s", cl->iss ? cl->iss : "",
				 cl->jti);
		if (n < 0 || (size_t)n >= len)
			return ag_err(err, AG_ERR_LIMIT,
				      "the token's iss and jti are too long");
		return AG_OK;
	}
	if (!c->token || !c->token_len)
		return ag_err(err, AG_ERR_USAGE,
			      "the token has no jti and was not given: a "
			      "reused token could not be told apart");
	size_t signed_len = c->token_len;
	while (signed_len && c->token[signed_len - 1] != '.')
		signed_len--;
	if (signed_len)
		signed_len--; /* the '.' before the signature */
	else
		signed_len = c->token_len; /* not a JWS: all of it */
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!EVP_Digest(c->token, signed_len, md, &mdlen, EVP_sha256(),
			NULL) ||
	    len < 8 + 2 * (size_t)mdlen)
		return ag_err(err, AG_ERR_INTERNAL, "cannot hash the token");
	static const char hex[] = "0123456789abcdef";
	memcpy(buf, "sha256 ", 7);
	for (unsigned i = 0; i < mdlen; i++) {
		buf[7 + 2 * i] = hex[md[i] >> 4];
		buf[8 + 2 * i] = hex[md[i] & 15];
	}
	buf[7 + 2 * mdlen] = '\0';
	return AG_OK;
}

/* The caller's account, or a refusal. */
static ag_code caller_account(const struct ag_grant_ctx *ctx,
			      const struct ag_grant_caller *caller,
			      char *buf, size_t len,
			      struct ag_grant_result *res,
			      struct ag_error *err)
{
	struct ag_error e;
	if (!caller || !caller->claims)
		return refuse(res, AG_GREF_IDENTITY, err,
			      "no token was shown: the caller is unknown");
	ag_error_init(&e);
	if (ag_grant_account(ctx->policy, caller->claims->iss,
			     caller->claims->sub, buf, len, &e) != AG_OK)
		return refuse(res, AG_GREF_IDENTITY, err,
			      "the token does not name an account: %s", e.msg);
	return AG_OK;
}

static ag_code check_ctx(const struct ag_grant_ctx *ctx,
			 struct ag_grant_result *res, struct ag_error *err)
{
	if (res)
		result_init(res);
	if (!ctx || !ctx->policy || !ctx->gate || !ctx->store || !res)
		return ag_err(err, AG_ERR_USAGE,
			      "no policy, gate, store or result given");
	return AG_OK;
}

/* The workflow of a grant under the current policy; a refusal when the
 * policy no longer has it, or it no longer needs grants. */
static ag_code grant_workflow(const struct ag_grant_ctx *ctx,
			      const char *name, const struct ag_workflow **out,
			      struct ag_grant_result *res,
			      struct ag_error *err)
{
	const struct ag_policy *p = ctx->policy;
	long wi = ag_policy_workflow(p, name);
	*out = NULL;
	if (wi < 0) {
		struct ag_suggest sg;
		ag_suggest_init(&sg, name);
		for (size_t i = 0; i < p->n_workflows; i++)
			if (p->workflows[i].jit)
				ag_suggest_add(&sg, p->workflows[i].name);
		ag_code rc = refuse(res, AG_GREF_UNKNOWN_WORKFLOW, err,
				    "no workflow '%s' in %s", name,
				    p->file ? p->file : "the policy");
		ag_err_hint(err, ag_suggest_best(&sg));
		return rc;
	}
	if (!p->workflows[wi].jit)
		return refuse(res, AG_GREF_NO_JIT, err,
			      "workflow '%s' has no jit: its access is not "
			      "granted just in time",
			      name);
	*out = &p->workflows[wi];
	return AG_OK;
}

/* ---- the approver's token against the workflow ------------------------- */

struct hook_ctx {
	const struct ag_grant_ctx *ctx;
};

static bool hook_level(void *arg, const char *iss, const char *sub,
		       struct ag_assurance *out)
{
	struct hook_ctx *h = arg;
	const struct ag_policy *p = h->ctx->policy;
	struct ag_error e;
	ag_error_init(&e);
	/* As the gate: the store names accounts by sub, which is unique only
	 * within one issuer. */
	if (p->n_issuers != 1 || !iss || strcmp(iss, p->issuers[0].iss))
		return false;
	return ag_store_account_level(h->ctx->store, p, sub, out, &e) ==
		       AG_OK &&
	       out->aal >= 1;
}

/* The approver needs no grant of their own to approve one. */
static bool hook_grant(void *arg, const char *iss, const char *sub,
		       const char *workflow, int64_t now)
{
	(void)arg;
	(void)iss;
	(void)sub;
	(void)workflow;
	(void)now;
	return true;
}

/*
 * Does the token meet workflow w at now?  The gate's decision for w,
 * with the approver's device and network left out: an approval is not an
 * access to the workflow's systems, so only the authentication counts
 * (AAL, phishing resistance, hardware, max_age and idle).  The device is
 * given as managed, and the client address as one inside the workflow's
 * first network.
 */
static bool meets_workflow(const struct ag_grant_ctx *ctx,
			   const struct ag_workflow *w,
			   const struct ag_claims *c, int64_t now,
			   struct ag_decision *d)
{
	char ip[INET6_ADDRSTRLEN] = "";
	struct ag_request req = {.workflow = w->name, .device = "managed",
				 .now = now};
	struct hook_ctx hc = {.ctx = ctx};
	struct ag_gate_hooks hooks = {.ctx = &hc,
				      .account_level = hook_level,
				      .grant_active = hook_grant};

	if (w->n_networks &&
	    inet_ntop(w->networks[0].family, w->networks[0].addr, ip,
		      sizeof(ip)))
		req.ip = ip;
	ag_gate_decide(ctx->gate, &hooks, NULL, &req, c, AG_TOK_OK, d);
	return d->outcome == AG_ALLOW;
}

/* ---- journal rows ------------------------------------------------------ */

static void rfc3339(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (!gmtime_r(&tt, &tm) ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

static json_t *time_json(int64_t t)
{
	char buf[40];
	if (t == 0)
		return json_null();
	rfc3339(t, buf, sizeof(buf));
	return json_string(buf);
}

/* The fields every row about a grant carries. */
static json_t *grant_fields(const struct ag_grant *g)
{
	json_t *o = json_object();
	json_t *hosts = json_array();
	if (!o || !hosts) {
		json_decref(o);
		json_decref(hosts);
		return NULL;
	}
	for (size_t i = 0; i < g->n_hosts; i++)
		json_array_append_new(hosts, json_string(g->hosts[i]));
	json_object_set_new(o, "grant", json_integer((json_int_t)g->id));
	json_object_set_new(o, "account", json_string(g->account));
	json_object_set_new(o, "workflow", json_string(g->workflow));
	json_object_set_new(o, "break_glass", json_boolean(g->break_glass));
	json_object_set_new(o, "hosts", hosts);
	return o;
}

/* Writes row type with o's fields (takes o). */
static ag_code journal(const struct ag_grant_ctx *ctx,
		       struct ag_store_tx *tx, const char *type, json_t *o,
		       int64_t now, struct ag_grant_result *res,
		       struct ag_error *err)
{
	char *txt = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)
		      : NULL;
	json_decref(o);
	if (!txt)
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	ag_code rc = ag_store_tx_journal(ctx->store, tx, type, txt, now,
					 &res->journal_seq, err);
	free(txt);
	return rc;
}

/* Activates g at now, capped by the current policy, with its journal row
 * (an alert obligation for break-glass when the policy asks for one). */
static ag_code activate(const struct ag_grant_ctx *ctx, struct ag_store_tx *tx,
			struct ag_grant *g, const struct ag_workflow *w,
			int64_t now, struct ag_grant_result *res,
			struct ag_error *err)
{
	const struct ag_policy *p = ctx->policy;
	int64_t cap = g->break_glass ? p->break_glass.max : w->jit_max;
	int64_t dur = g->duration < cap ? g->duration : cap;
	ag_code rc;

	g->state = AG_GRANT_ACTIVE;
	g->activated = now;
	g->expires = now + dur;
	if ((rc = ctx->store->ops->tx_grant_update(tx, g, err)))
		return rc;
	json_t *o = grant_fields(g);
	if (o) {
		json_object_set_new(o, "activated", time_json(g->activated));
		json_object_set_new(o, "expires", time_json(g->expires));
		json_object_set_new(o, "duration", json_integer(dur));
		json_object_set_new(o, "approvals",
				    json_integer((json_int_t)g->n_approvals));
		if (g->break_glass && p->break_glass.alert) {
			char msg[800];
			snprintf(msg, sizeof(msg),
				 "break-glass account '%.200s' activated for "
				 "workflow '%.100s' with %zu approval%s",
				 g->account, g->workflow, g->n_approvals,
				 g->n_approvals == 1 ? "" : "s");
			json_object_set_new(o, "obligation",
					    json_string("alert"));
			json_object_set_new(o, "message", json_string(msg));
		}
	}
	if ((rc = journal(ctx, tx, "grant_activate", o, now, res, err)))
		return rc;
	res->activated = true;
	return AG_OK;
}

/* Reads grant id back into res->grant before the commit. */
static ag_code reread(const struct ag_grant_ctx *ctx, struct ag_store_tx *tx,
		      uint64_t id, struct ag_grant_result *res,
		      struct ag_error *err)
{
	ag_grant_release(&res->grant);
	return ctx->store->ops->tx_grant_get(tx, id, &res->grant, err);
}

/* ---- request ----------------------------------------------------------- */

static bool host_ok(const char *h)
{
	size_t n = strlen(h);
	if (n == 0 || n > AG_GRANT_HOST_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		      c == '_' || c == ':'))
			return false;
	}
	return true;
}

static ag_code check_ask(const struct ag_grant_ask *ask,
			 struct ag_grant_result *res, struct ag_error *err)
{
	if (!ask->workflow || !*ask->workflow)
		return refuse(res, AG_GREF_BAD_REQUEST, err,
			      "a request names a workflow");
	if (ask->duration <= 0)
		return refuse(res, AG_GREF_BAD_REQUEST, err,
			      "a request names a duration longer than 0s");
	if (!ask->reason || !*ask->reason)
		return refuse(res, AG_GREF_BAD_REQUEST, err,
			      "a request needs a reason: say why the access "
			      "is needed");
	size_t n = strlen(ask->reason);
	if (n > AG_GRANT_REASON_MAX)
		return refuse(res, AG_GREF_BAD_REQUEST, err,
			      "the reason is longer than %d bytes",
			      AG_GRANT_REASON_MAX);
	bool blank = true;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)ask->reason[i];
		if (c < 0x20 || c == 0x7f)
			return refuse(res, AG_GREF_BAD_REQUEST, err,
				      "the reason holds a control character");
		if (c != ' ')
			blank = false;
	}
	if (blank)
		return refuse(res, AG_GREF_BAD_REQUEST, err,
			      "a request needs a reason: say why the access "
			      "is needed");
	if (!ag_utf8_valid(ask->reason, n))
		return refuse(res, AG_GREF_BAD_REQUEST, err,
			      "the reason is not UTF-8");
	if (ask->n_hosts > AG_GRANT_HOSTS_MAX)
		return refuse(res, AG_GREF_BAD_REQUEST, err,
			      "a request names at most %d hosts",
			      AG_GRANT_HOSTS_MAX);
	for (size_t i = 0; i < ask->n_hosts; i++)
		if (!ask->hosts[i] || !host_ok(ask->hosts[i]))
			return refuse(res, AG_GREF_BAD_REQUEST, err,
				      "'%.300s' is not a host name",
				      ask->hosts[i] ? ask->hosts[i] : "");
	return AG_OK;
}

static ag_code request(const struct ag_grant_ctx *ctx,
		       const struct ag_grant_caller *caller,
		       const struct ag_grant_ask *ask, int64_t now,
		       struct ag_grant_result *res, struct ag_error *err)
{
	char account[AG_STORE_ACCOUNT_MAX + 1];
	char hosts[AG_GRANT_HOSTS_MAX][AG_GRANT_HOST_MAX + 2];
	char *hostp[AG_GRANT_HOSTS_MAX];
	const struct ag_workflow *w;
	struct ag_store_tx *tx = NULL;
	ag_code rc;

	if ((rc = check_ctx(ctx, res, err)))
		return rc;
	if (!ask)
		return ag_err(err, AG_ERR_USAGE, "no request given");
	if ((rc = caller_account(ctx, caller, account, sizeof(account), res,
				 err)) ||
	    (rc = check_ask(ask, res, err)) ||
	    (rc = grant_workflow(ctx, ask->workflow, &w, res, err)))
		return rc;
	/* The requester authenticates at the workflow's own level: PAM
	 * sees no token when the grant is used, so a grant asked for with a
	 * weaker one would lift a stolen password to the workflow.  (A
	 * break-glass account is exempt: its approvals and alerts govern
	 * it, and in an emergency its usual authenticators may be gone.) */
	struct ag_decision d;
	bool meets = meets_workflow(ctx, w, caller->claims, now, &d);
	/* Hosts folded and without repeats. */
	size_t nh = 0;
	for (size_t i = 0; i < ask->n_hosts; i++) {
		ag_store_host_fold(ask->hosts[i], hosts[nh], sizeof(hosts[nh]));
		bool dup = false;
		for (size_t k = 0; k < nh; k++)
			if (!strcmp(hosts[k], hosts[nh]))
				dup = true;
		if (!dup) {
			hostp[nh] = hosts[nh];
			nh++;
		}
	}

	const struct ag_store_ops *ops = ctx->store->ops;
	if ((rc = ops->tx_begin(ctx->store, true, &tx, err)))
		return rc;
	bool exists = false, bg = false;
	if ((rc = ops->tx_account_get(tx, account, &exists, &bg, err)))
		goto abort;
	if (!meets && !bg) {
		rc = refuse(res, AG_GREF_ASSURANCE, err,
			    "the requester's token does not meet workflow "
			    "'%s': %s",
			    w->name, d.detail[0] ? d.detail : "refused");
		goto abort;
	}
	const struct ag_policy *p = ctx->policy;
	int64_t cap = bg ? p->break_glass.max : w->jit_max;
	if (ask->duration > cap) {
		char asked[32], lim[32];
		duration_text(ask->duration, asked, sizeof(asked));
		duration_text(cap, lim, sizeof(lim));
		if (bg)
			rc = refuse(res, AG_GREF_TOO_LONG, err,
				    "'%s' is a break-glass account: a grant "
				    "lasts at most break_glass.max (%s), not "
				    "%s",
				    account, lim, asked);
		else
			rc = refuse(res, AG_GREF_TOO_LONG, err,
				    "workflow '%s' grants at most jit.max "
				    "(%s), not %s",
				    w->name, lim, asked);
		goto abort;
	}
	struct ag_grant g = {
		.account = account,
		.workflow = w->name,
		.reason = (char *)ask->reason,
		.hosts = hostp,
		.n_hosts = nh,
		.break_glass = bg,
		.approvals_needed = bg ? p->break_glass.approvals
				       : w->jit_approvals,
		.duration = ask->duration,
		.requested = now,
		.state = AG_GRANT_PENDING,
	};
	if ((rc = ops->tx_grant_insert(tx, &g, err)))
		goto abort;
	json_t *o = grant_fields(&g);
	if (o) {
		json_object_set_new(o, "reason", json_string(g.reason));
		json_object_set_new(o, "duration", json_integer(g.duration));
		json_object_set_new(o, "approvals_needed",
				    json_integer(g.approvals_needed));
	}
	if ((rc = journal(ctx, tx, "grant_request", o, now, res, err)))
		goto abort;
	if (g.approvals_needed == 0) {
		/* Nothing to wait for.  The struct borrows its strings, and
		 * activate only writes its scalar fields. */
		if ((rc = activate(ctx, tx, &g, w, now, res, err)))
			goto abort;
	}
	if ((rc = reread(ctx, tx, g.id, res, err)))
		goto abort;
	if ((rc = ops->tx_commit(tx, err))) {
		ag_grant_release(&res->grant);
		res->activated = false;
		res->journal_seq = 0;
	}
	return rc;
abort:
	ops->tx_abort(tx);
	ag_grant_release(&res->grant);
	res->activated = false;
	res->journal_seq = 0;
	return rc;
}

/* ---- approve, deny, revoke --------------------------------------------- */

/* Reads grant id and its workflow without writing: what an approval's
 * assurance check needs before its write transaction. */
static ag_code peek(const struct ag_grant_ctx *ctx, uint64_t id,
		    struct ag_grant *g, struct ag_grant_result *res,
		    struct ag_error *err)
{
	struct ag_store_tx *tx = NULL;
	const struct ag_store_ops *ops = ctx->store->ops;
	ag_code rc = ops->tx_begin(ctx->store, false, &tx, err);
	if (rc)
		return rc;
	rc = ops->tx_grant_get(tx, id, g, err);
	ops->tx_abort(tx);
	if (rc == AG_ERR_NOT_FOUND)
		return refuse(res, AG_GREF_NOT_FOUND, err, "no grant %llu",
			      (unsigned long long)id);
	return rc;
}

enum op { OP_APPROVE, OP_DENY, OP_REVOKE };

static ag_code change(const struct ag_grant_ctx *ctx,
		      const struct ag_grant_caller *caller, uint64_t id,
		      int64_t now, enum op op, struct ag_grant_result *res,
		      struct ag_error *err)
{
	char who[AG_STORE_ACCOUNT_MAX + 1], key[TOKEN_KEY_MAX];
	const struct ag_workflow *w = NULL;
	struct ag_grant g = {0};
	struct ag_decision d;
	struct ag_store_tx *tx = NULL;
	const struct ag_policy *p;
	ag_code rc;

	memset(&d, 0, sizeof(d));
	if ((rc = check_ctx(ctx, res, err)))
		return rc;
	p = ctx->policy;
	if ((rc = caller_account(ctx, caller, who, sizeof(who), res, err)))
		return rc;
	if (op == OP_APPROVE &&
	    (rc = token_key(caller, key, sizeof(key), err)))
		return rc;

	/* The assurance check, before the write (see the top). */
	bool meets = false;
	if (op == OP_APPROVE) {
		if ((rc = peek(ctx, id, &g, res, err)))
			return rc;
		if ((rc = grant_workflow(ctx, g.workflow, &w, res, err))) {
			ag_grant_release(&g);
			return rc;
		}
		meets = meets_workflow(ctx, w, caller->claims, now, &d);
		ag_grant_release(&g);
	}

	const struct ag_store_ops *ops = ctx->store->ops;
	if ((rc = ops->tx_begin(ctx->store, true, &tx, err)))
		return rc;
	rc = ops->tx_grant_get(tx, id, &g, err);
	if (rc == AG_ERR_NOT_FOUND) {
		rc = refuse(res, AG_GREF_NOT_FOUND, err, "no grant %llu",
			    (unsigned long long)id);
		goto abort;
	}
	if (rc)
		goto abort;
	long wi = ag_policy_workflow(p, g.workflow);
	w = wi >= 0 ? &p->workflows[wi] : NULL;
	bool approver = w && ag_grant_is_approver(p, w, who);
	/* Without regard to case, as the help-desk's self-reset check: where
	 * an identity provider echoes a login name's case in sub, "ALICE"
	 * and "alice" are one person, who may not approve their own grant
	 * nor approve it twice. */
	bool requester = !strcasecmp(g.account, who);
	enum ag_grant_state st = ag_grant_state_at(&g, now);
	char apv[300];

	if (op == OP_REVOKE) {
		if (!requester && !approver) {
			if (w)
				approvers_text(p, w, apv, sizeof(apv));
			rc = refuse(res, AG_GREF_NOT_ALLOWED, err,
				    "'%s' may not revoke grant %llu: only "
				    "its requester ('%s') or an approver "
				    "(%s) may",
				    who, (unsigned long long)id, g.account,
				    w ? apv : "none: the workflow is gone");
			goto abort;
		}
		if (st != AG_GRANT_PENDING && st != AG_GRANT_ACTIVE) {
			rc = refuse(res, AG_GREF_CLOSED, err,
				    "grant %llu is %s already",
				    (unsigned long long)id,
				    ag_grant_state_name(st));
			goto abort;
		}
		g.state = AG_GRANT_REVOKED;
		g.closed = now;
		free(g.closed_by);
		if (!(g.closed_by = ag_strdup(who))) {
			rc = ag_err(err, AG_ERR_NOMEM, "out of memory");
			goto abort;
		}
		if ((rc = ops->tx_grant_update(tx, &g, err)))
			goto abort;
		json_t *o = grant_fields(&g);
		if (o) {
			json_object_set_new(o, "by", json_string(who));
			json_object_set_new(o, "was",
					    json_string(ag_grant_state_name(st)));
		}
		if ((rc = journal(ctx, tx, "grant_revoke", o, now, res, err)))
			goto abort;
		goto done;
	}

	/* Approve and deny: a pending grant, an approver who did not ask. */
	if ((rc = grant_workflow(ctx, g.workflow, &w, res, err)))
		goto abort;
	if (st != AG_GRANT_PENDING) {
		rc = refuse(res, AG_GREF_NOT_PENDING, err,
			    "grant %llu is %s, not pending",
			    (unsigned long long)id, ag_grant_state_name(st));
		goto abort;
	}
	if (requester) {
		rc = refuse(res, AG_GREF_SELF_APPROVAL, err,
			    "'%s' requested grant %llu and may not %s it: "
			    "an approver is someone else",
			    g.account, (unsigned long long)id,
			    op == OP_APPROVE ? "approve" : "deny");
		goto abort;
	}
	if (!approver) {
		approvers_text(p, w, apv, sizeof(apv));
		rc = refuse(res, AG_GREF_NOT_APPROVER, err,
			    "'%s' is not an approver of workflow '%s': "
			    "approvers are %s",
			    who, w->name, apv);
		goto abort;
	}
	if (op == OP_DENY) {
		g.state = AG_GRANT_DENIED;
		g.closed = now;
		free(g.closed_by);
		if (!(g.closed_by = ag_strdup(who))) {
			rc = ag_err(err, AG_ERR_NOMEM, "out of memory");
			goto abort;
		}
		if ((rc = ops->tx_grant_update(tx, &g, err)))
			goto abort;
		json_t *o = grant_fields(&g);
		if (o)
			json_object_set_new(o, "by", json_string(who));
		if ((rc = journal(ctx, tx, "grant_deny", o, now, res, err)))
			goto abort;
		goto done;
	}

	/* Approve. */
	for (size_t i = 0; i < g.n_approvals; i++)
		if (!strcasecmp(g.approvals[i].approver, who)) {
			rc = refuse(res, AG_GREF_REPLAY, err,
				    "'%s' approved grant %llu already: "
				    "approvals must come from distinct "
				    "approvers",
				    who, (unsigned long long)id);
			goto abort;
		}
	bool used = true;
	if ((rc = ops->tx_token_used(tx, key, &used, err)))
		goto abort;
	if (used) {
		rc = refuse(res, AG_GREF_REPLAY, err,
			    "this token served an approval before; approve "
			    "with a fresh token");
		goto abort;
	}
	if (!meets) {
		rc = refuse(res, AG_GREF_ASSURANCE, err,
			    "the approver's token does not meet workflow "
			    "'%s': %s",
			    w->name, d.detail[0] ? d.detail : "refused");
		goto abort;
	}
	if ((rc = ops->tx_approval_add(tx, id, who, key, now, err)))
		goto abort;
	/* Counted as stored: distinct approvers by the table's key. */
	ag_grant_release(&g);
	if ((rc = ops->tx_grant_get(tx, id, &g, err)))
		goto abort;
	/* An account marked break-glass since it asked is held to both
	 * rules from now on: the more approvals, the break-glass cap and
	 * the activation alert (as a use of it is alerted). */
	bool exists = false, marked = false;
	if ((rc = ops->tx_account_get(tx, g.account, &exists, &marked, err)))
		goto abort;
	int needed = g.break_glass ? p->break_glass.approvals
				   : w->jit_approvals;
	if (marked && !g.break_glass) {
		if (p->break_glass.approvals > needed)
			needed = p->break_glass.approvals;
		g.break_glass = true;
	}
	json_t *o = grant_fields(&g);
	if (o) {
		const struct ag_claims *c = caller->claims;
		json_t *a = json_pack("{s:i, s:b, s:b}", "aal", d.observed.aal,
				      "phishing_resistant",
				      d.observed.phishing_resistant,
				      "hardware", d.observed.hardware);
		json_object_set_new(o, "approver", json_string(who));
		json_object_set_new(o, "assurance", a ? a : json_null());
		json_object_set_new(o, "jti", c->jti ? json_string(c->jti)
						     : json_null());
		json_object_set_new(o, "kid", c->kid ? json_string(c->kid)
						     : json_null());
		json_object_set_new(o, "approvals",
				    json_integer((json_int_t)g.n_approvals));
		json_object_set_new(o, "approvals_needed",
				    json_integer(needed));
	}
	if ((rc = journal(ctx, tx, "grant_approve", o, now, res, err)))
		goto abort;
	if (g.n_approvals >= (size_t)(needed < 1 ? 1 : needed) &&
	    (rc = activate(ctx, tx, &g, w, now, res, err)))
		goto abort;
done:
	if ((rc = reread(ctx, tx, id, res, err)))
		goto abort;
	ag_grant_release(&g);
	if ((rc = ops->tx_commit(tx, err))) {
		ag_grant_release(&res->grant);
		res->activated = false;
		res->journal_seq = 0;
	}
	return rc;
abort:
	ops->tx_abort(tx);
	ag_grant_release(&g);
	res->activated = false;
	res->journal_seq = 0;
	/* A refusal shows the grant as it stands. */
	if (res->refusal != AG_GREF_NONE && res->refusal != AG_GREF_NOT_FOUND) {
		struct ag_error ignored;
		ag_error_init(&ignored);
		if (ag_grant_get(ctx->store, id, &res->grant, &ignored))
			ag_grant_release(&res->grant);
	}
	return rc;
}

/* A refusal by the rules, journalled on its own (see govern.h).  What
 * the caller gets is the refusal, whatever happens here. */
static void note_refusal(const struct ag_grant_ctx *ctx,
			 const struct ag_grant_caller *caller, const char *op,
			 uint64_t id, const char *workflow, int64_t now,
			 const struct ag_grant_result *res,
			 const struct ag_error *err)
{
	char who[AG_STORE_ACCOUNT_MAX + 1] = "";
	struct ag_error e;

	if (res->refusal == AG_GREF_NONE || res->refusal == AG_GREF_IDENTITY ||
	    !ctx || !ctx->store)
		return;
	ag_error_init(&e);
	if (caller && caller->claims)
		ag_grant_account(ctx->policy, caller->claims->iss,
				 caller->claims->sub, who, sizeof(who), &e);
	json_t *o = json_object();
	if (!o)
		return;
	json_object_set_new(o, "op", json_string(op));
	json_object_set_new(o, "caller", who[0] ? json_string(who)
						: json_null());
	if (id)
		json_object_set_new(o, "grant", json_integer((json_int_t)id));
	if (workflow && ag_utf8_valid(workflow, strlen(workflow)))
		json_object_set_new(o, "workflow", json_string(workflow));
	json_object_set_new(o, "refusal",
			    json_string(ag_grant_refusal_name(res->refusal)));
	if (ag_utf8_valid(err->msg, strlen(err->msg)))
		json_object_set_new(o, "message", json_string(err->msg));
	if (caller && caller->claims && caller->claims->jti &&
	    ag_utf8_valid(caller->claims->jti, strlen(caller->claims->jti)))
		json_object_set_new(o, "jti",
				    json_string(caller->claims->jti));
	char *txt = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (txt)
		ag_store_journal_add(ctx->store, "grant_refused", txt, now,
				     NULL, &e);
	free(txt);
}

ag_code ag_grant_request(const struct ag_grant_ctx *ctx,
			 const struct ag_grant_caller *caller,
			 const struct ag_grant_ask *ask, int64_t now,
			 struct ag_grant_result *res, struct ag_error *err)
{
	ag_code rc = request(ctx, caller, ask, now, res, err);
	if (rc != AG_OK && res)
		note_refusal(ctx, caller, "request", 0,
			     ask ? ask->workflow : NULL, now, res, err);
	return rc;
}

ag_code ag_grant_approve(const struct ag_grant_ctx *ctx,
			 const struct ag_grant_caller *caller, uint64_t id,
			 int64_t now, struct ag_grant_result *res,
			 struct ag_error *err)
{
	ag_code rc = change(ctx, caller, id, now, OP_APPROVE, res, err);
	if (rc != AG_OK && res)
		note_refusal(ctx, caller, "approve", id, NULL, now, res, err);
	return rc;
}

ag_code ag_grant_deny(const struct ag_grant_ctx *ctx,
		      const struct ag_grant_caller *caller, uint64_t id,
		      int64_t now, struct ag_grant_result *res,
		      struct ag_error *err)
{
	ag_code rc = change(ctx, caller, id, now, OP_DENY, res, err);
	if (rc != AG_OK && res)
		note_refusal(ctx, caller, "deny", id, NULL, now, res, err);
	return rc;
}

ag_code ag_grant_revoke(const struct ag_grant_ctx *ctx,
			const struct ag_grant_caller *caller, uint64_t id,
			int64_t now, struct ag_grant_result *res,
			struct ag_error *err)
{
	ag_code rc = change(ctx, caller, id, now, OP_REVOKE, res, err);
	if (rc != AG_OK && res)
		note_refusal(ctx, caller, "revoke", id, NULL, now, res, err);
	return rc;
}

/* ---- reading ----------------------------------------------------------- */

ag_code ag_grant_get(struct ag_store *s, uint64_t id, struct ag_grant *out,
		     struct ag_error *err)
{
	struct ag_store_tx *tx = NULL;
	ag_code rc;

	memset(out, 0, sizeof(*out));
	if (!s)
		return ag_err(err, AG_ERR_USAGE, "no store given");
	if ((rc = s->ops->tx_begin(s, false, &tx, err)))
		return rc;
	rc = s->ops->tx_grant_get(tx, id, out, err);
	s->ops->tx_abort(tx); /* a read: nothing to keep */
	return rc;
}

ag_code ag_grant_list(struct ag_store *s, const char *account, size_t max,
		      struct ag_grants *out, struct ag_error *err)
{
	struct ag_store_tx *tx = NULL;
	ag_code rc;

	if (!s || !out)
		return ag_err(err, AG_ERR_USAGE, "no store given");
	if (account && (rc = ag_store_check_name("account", account, 1,
						 AG_STORE_ACCOUNT_MAX, err)))
		return rc;
	if ((rc = s->ops->tx_begin(s, false, &tx, err)))
		return rc;
	if (max == 0 || max > AG_GRANT_LIST_MAX)
		max = AG_GRANT_LIST_MAX;
	rc = s->ops->tx_grant_list(tx, account, max, out, err);
	s->ops->tx_abort(tx);
	return rc;
}

void ag_grant_tallies_release(struct ag_grant_tallies *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].workflow);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

ag_code ag_grant_tally(struct ag_store *s, int64_t now,
		       struct ag_grant_tallies *out, struct ag_error *err)
{
	struct ag_store_tx *tx = NULL;
	ag_code rc;

	if (!s || !out)
		return ag_err(err, AG_ERR_USAGE, "no store given");
	if ((rc = s->ops->tx_begin(s, false, &tx, err)))
		return rc;
	rc = s->ops->tx_grant_tally(tx, now, AG_GRANT_PENDING_MAX,
				    AG_GRANT_TALLY_MAX, out, err);
	s->ops->tx_abort(tx); /* a read: nothing to keep */
	return rc;
}

/* ---- the gate's use of a grant ----------------------------------------- */

/* ag_grant_use, and with record false ag_grant_held. */
static ag_code grant_use(struct ag_store *s, const struct ag_policy *p,
			 const char *iss, const char *sub,
			 const char *workflow, const char *host, int64_t now,
			 bool record, bool *allowed, struct ag_error *err)
{
	char account[AG_STORE_ACCOUNT_MAX + 1];
	char h[AG_GRANT_HOST_MAX + 2] = "";
	struct ag_store_tx *tx = NULL;
	struct ag_grant g = {0};
	uint64_t id = 0;
	ag_code rc;

	*allowed = false;
	if (!s || !p || !workflow)
		return ag_err(err, AG_ERR_USAGE, "no store, policy or workflow "
			      "given");
	if ((rc = ag_grant_account(p, iss, sub, account, sizeof(account),
				   err)))
		return rc;
	if (host) {
		if (!host_ok(host))
			return ag_err(err, AG_ERR_INVALID,
				      "'%.300s' is not a host name", host);
		ag_store_host_fold(host, h, sizeof(h));
	}
	/* Without a host, only grants that name none count: a grant for
	 * some hosts is not one for every host.  "" matches no stored
	 * host. */
	const struct ag_store_ops *ops = s->ops;
	if ((rc = ops->tx_begin(s, false, &tx, err)))
		return rc;
	bool exists = false, marked = false;
	rc = ops->tx_grant_find(tx, account, workflow, h, now, &id, err);
	if (rc == AG_OK && id)
		rc = ops->tx_grant_get(tx, id, &g, err);
	/* An account marked break-glass after its grant was made is alerted
	 * on as one from then on. */
	if (rc == AG_OK && id)
		rc = ops->tx_account_get(tx, account, &exists, &marked, err);
	ops->tx_abort(tx);
	if (rc != AG_OK || !id)
		goto out;
	if (!record ||
	    (!g.break_glass && !marked) ||
	    (g.last_alert && now >= g.last_alert &&
	     now - g.last_alert < AG_GRANT_ALERT_INTERVAL)) {
		*allowed = true;
		goto out;
	}

	/* A break-glass use to alert: under the write lock, the grant as it
	 * is now (it may have been revoked meanwhile, or another use may
	 * have alerted). */
	ag_grant_release(&g);
	if ((rc = ops->tx_begin(s, true, &tx, err)))
		goto out;
	if ((rc = ops->tx_grant_find(tx, account, workflow, h, now, &id,
				     err)))
		goto abort;
	if (!id) {
		ops->tx_abort(tx);
		goto out;
	}
	if ((rc = ops->tx_grant_get(tx, id, &g, err)))
		goto abort;
	if ((g.break_glass || marked) &&
	    !(g.last_alert && now >= g.last_alert &&
	      now - g.last_alert < AG_GRANT_ALERT_INTERVAL)) {
		g.last_alert = now;
		if ((rc = ops->tx_grant_update(tx, &g, err)))
			goto abort;
		json_t *o = grant_fields(&g);
		char msg[800];
		snprintf(msg, sizeof(msg),
			 "break-glass account '%.200s' used workflow "
			 "'%.100s'%s%.260s",
			 g.account, g.workflow, host ? " on " : "",
			 host ? h : "");
		if (o) {
			json_object_set_new(o, "host",
					    host ? json_string(h) : json_null());
			json_object_set_new(o, "expires",
					    time_json(g.expires));
			json_object_set_new(o, "obligation",
					    json_string("alert"));
			json_object_set_new(o, "message", json_string(msg));
		}
		char *txt = o ? json_dumps(o, JSON_COMPACT |
						      JSON_PRESERVE_ORDER)
			      : NULL;
		json_decref(o);
		uint64_t seq;
		if (!txt) {
			rc = ag_err(err, AG_ERR_NOMEM, "out of memory");
			goto abort;
		}
		rc = ag_store_tx_journal(s, tx, "break_glass_use", txt, now,
					 &seq, err);
		free(txt);
		if (rc)
			goto abort;
	}
	if ((rc = ops->tx_commit(tx, err)))
		goto out;
	*allowed = true;
	goto out;
abort:
	ops->tx_abort(tx);
out:
	ag_grant_release(&g);
	if (rc != AG_OK)
		*allowed = false;
	return rc;
}

ag_code ag_grant_use(struct ag_store *s, const struct ag_policy *p,
		     const char *iss, const char *sub, const char *workflow,
		     const char *host, int64_t now, bool *allowed,
		     struct ag_error *err)
{
	return grant_use(s, p, iss, sub, workflow, host, now, true, allowed,
			 err);
}

ag_code ag_grant_held(struct ag_store *s, const struct ag_policy *p,
		      const char *iss, const char *sub, const char *workflow,
		      const char *host, int64_t now, bool *allowed,
		      struct ag_error *err)
{
	return grant_use(s, p, iss, sub, workflow, host, now, false, allowed,
			 err);
}

/* ---- break-glass accounts ---------------------------------------------- */

ag_code ag_store_break_glass_set(struct ag_store *s, const char *account,
				 bool on, int64_t now, bool *changed,
				 struct ag_error *err)
{
	struct ag_store_tx *tx = NULL;
	bool exists = false, cur = false;
	uint64_t seq;
	ag_code rc;

	if (changed)
		*changed = false;
	if (!s)
		return ag_err(err, AG_ERR_USAGE, "no store given");
	if ((rc = ag_store_check_name("account", account, 1,
				      AG_STORE_ACCOUNT_MAX, err)))
		return rc;
	json_t *o = json_pack("{s:s}", "account", account);
	char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!txt)
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	if ((rc = s->ops->tx_begin(s, true, &tx, err)))
		goto out;
	if ((rc = s->ops->tx_account_get(tx, account, &exists, &cur, err)))
		goto abort;
	if (exists && cur == on) {
		s->ops->tx_abort(tx);
		goto out;
	}
	if ((rc = s->ops->tx_account_mark(tx, account, on, now, err)) ||
	    (rc = ag_store_tx_journal(s, tx,
				      on ? "break_glass_mark"
					 : "break_glass_unmark",
				      txt, now, &seq, err)))
		goto abort;
	if ((rc = s->ops->tx_commit(tx, err)))
		goto out;
	if (changed)
		*changed = true;
	goto out;
abort:
	s->ops->tx_abort(tx);
out:
	free(txt);
	return rc;
}

ag_code ag_store_break_glass_get(struct ag_store *s, const char *account,
				 bool *on, struct ag_error *err)
{
	struct ag_store_tx *tx = NULL;
	bool exists = false;
	ag_code rc;

	*on = false;
	if (!s)
		return ag_err(err, AG_ERR_USAGE, "no store given");
	if ((rc = ag_store_check_name("account", account, 1,
				      AG_STORE_ACCOUNT_MAX, err)) ||
	    (rc = s->ops->tx_begin(s, false, &tx, err)))
		return rc;
	rc = s->ops->tx_account_get(tx, account, &exists, on, err);
	s->ops->tx_abort(tx);
	if (rc != AG_OK)
		*on = false;
	return rc;
}

ag_code ag_store_break_glass_list(struct ag_store *s, size_t max,
				  char ***ids, size_t *n, struct ag_error *err)
{
	struct ag_store_tx *tx = NULL;
	ag_code rc;

	*ids = NULL;
	*n = 0;
	if (!s)
		return ag_err(err, AG_ERR_USAGE, "no store given");
	if (max == 0 || max > (size_t)INT32_MAX)
		return ag_err(err, AG_ERR_USAGE,
			      "break-glass list: max must be 1..%d", INT32_MAX);
	if ((rc = s->ops->tx_begin(s, false, &tx, err)))
		return rc;
	rc = s->ops->tx_break_glass_list(tx, max, ids, n, err);
	s->ops->tx_abort(tx);
	return rc;
}

/* ---- output ------------------------------------------------------------ */

char *ag_grant_json(const struct ag_grant *g, int64_t now)
{
	json_t *o = json_object();
	json_t *hosts = json_array();
	json_t *apv = json_array();
	char *txt = NULL;

	if (!o || !hosts || !apv)
		goto out;
	for (size_t i = 0; i < g->n_hosts; i++)
		json_array_append_new(hosts, json_string(g->hosts[i]));
	for (size_t i = 0; i < g->n_approvals; i++)
		json_array_append_new(
			apv, json_pack("{s:s, s:o}", "approver",
				       g->approvals[i].approver, "time",
				       time_json(g->approvals[i].time)));
	json_object_set_new(o, "id", json_integer((json_int_t)g->id));
	json_object_set_new(o, "account", json_string(g->account));
	json_object_set_new(o, "workflow", json_string(g->workflow));
	json_object_set_new(o, "state",
			    json_string(ag_grant_state_name(
				    ag_grant_state_at(g, now))));
	json_object_set_new(o, "break_glass", json_boolean(g->break_glass));
	json_object_set_new(o, "reason", json_string(g->reason));
	json_object_set_new(o, "hosts", hosts);
	hosts = NULL;
	json_object_set_new(o, "duration", json_integer(g->duration));
	json_object_set_new(o, "requested", time_json(g->requested));
	json_object_set_new(o, "activated", time_json(g->activated));
	json_object_set_new(o, "expires", time_json(g->expires));
	json_object_set_new(o, "closed", time_json(g->closed));
	json_object_set_new(o, "closed_by", g->closed_by
						    ? json_string(g->closed_by)
						    : json_null());
	json_object_set_new(o, "approvals_needed",
			    json_integer(g->approvals_needed));
	json_object_set_new(o, "approvals", apv);
	apv = NULL;
	txt = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
out:
	json_decref(hosts);
	json_decref(apv);
	json_decref(o);
	return txt;
}
