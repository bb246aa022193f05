/*
 * The gate's HTTP service.
 *
 *   POST /v1/decide      JSON in, decision out
 *   *    /v1/authz[/...] forward-auth (nginx auth_request, Envoy ext_authz,
 *                        Traefik ForwardAuth)
 *   GET  /healthz        liveness
 *   GET  /metrics        Prometheus text
 *   *    /v1/grants[/...] JIT grants (src/govern/grants-http.c)
 *   POST /v1/recovery    the recovery check, for trusted proxies
 *   *    /v1/accounts/... self-service enrolment (src/gate/api-govern.c)
 *
 * With --pam-socket it also answers pam_aalgate.so (src/govern/pamd.c),
 * and a thread delivers the log's obligations to the policy's sinks.
 *
 * The policy, the decision data built from it and the token verifier form
 * a generation.  Requests hold a reference to the generation they started
 * with; SIGHUP builds a new one and swaps it in only when every part of it
 * loaded, so a bad policy never replaces a good one.  SIGTERM stops
 * accepting, waits for requests in flight and flushes the decision log.
 *
 * Every decision is committed to the hash-chained decision log before it
 * is answered; a decision that cannot be logged is a deny.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "aalgate/gate.h"
#include "aalgate/govern.h"
#include "aalgate/nhi.h"
#include "aalgate/pamd.h"
#include "gate/api.h"
#include "gate/api-govern.h"
#include "gate/dpop.h"
#include "gate/gate-int.h"
#include "gate/metrics.h"
#include "gate/server.h"
#include "util.h"
#include "banned.h"

#define SESSIONS_CAPACITY (256u * 1024u)
/* DPoP proofs remembered for replay: 16 bytes each. */
#define DPOP_REPLAY_CAPACITY (1024u * 1024u)
#define HEADER_MEMORY (64u * 1024u) /* per connection: request headers */

struct gen {
	struct ag_policy *policy;
	struct ag_gate *gate;
	struct ag_verifier *verifier;
	struct ag_nhi_inventory *inv; /* --inventory, resolved; or NULL */
	unsigned refs;
};

struct server {
	const struct ag_server_opts *o;
	pthread_mutex_t lock; /* guards cur and every gen's refs */
	struct gen *cur;
	struct ag_sessions *sessions;
	struct ag_dpop_replay *dpop; /* the DPoP proofs seen */
	struct ag_dlog *log;
	struct ag_metrics *metrics;
	struct ag_gate_hooks hooks;
	struct ag_store *store; /* --state: accounts' own levels; NULL */
	bool journal_failing;   /* the last journal drain failed */
	char id_prefix[16];
	uint64_t id_counter;
	unsigned in_flight;
	unsigned suspended; /* requests waiting for their log record */
	bool draining;      /* SIGTERM: answer no new decisions */
	/* -- server state: grants -- */
	bool grants_failing; /* the last grant lookup failed (said once) */
	/* -- server state: PAM socket -- */
	struct ag_pamd *pamd; /* --pam-socket; NULL */
	/* -- server state: sinks -- */
	struct ag_sinks *sinks; /* delivers the log's obligations (a thread) */
	/* -- server state: machine identities -- */
	bool nhi_failing; /* the last client look-up in the store failed */
};

enum { ST_NEW = 0, ST_WAITING, ST_LOGGED };

/* Per request: the body read so far, then the decision while its log
 * record is committed. */
struct req_ctx {
	struct ag_buf body;
	bool counted;
	int state;      /* ST_*, set by the log's writer thread too */
	ag_code log_rc;
	struct MHD_Connection *conn;
	struct gen *g;  /* held from the decision until the answer is sent */
	enum ag_endpoint ep;
	double t0;
	char id[48];
	char client[INET6_ADDRSTRLEN];
	struct ag_decision d;
	struct ag_claims claims;
	bool have_claims;
	char subject[512], issuer[512]; /* header values, on allow */
	bool touch;  /* an allow, once final, moves the session (at now) */
	int64_t now;
};

AG_PRINTF(2, 3)
static void say(const struct server *s, const char *fmt, ...)
{
	va_list ap;
	if (s && s->o->quiet)
		return;
	fputs("aalgate serve: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- generations ------------------------------------------------------- */

static void gen_free(struct gen *g)
{
	if (!g)
		return;
	if (g->inv) {
		ag_nhi_inventory_release(g->inv);
		free(g->inv);
	}
	ag_verifier_free(g->verifier);
	ag_gate_free(g->gate);
	ag_policy_free(g->policy);
	free(g);
}

/* The machine-identity inventory files, resolved against the
 * generation's policy: one bad file and the generation does not load. */
static ag_code gen_inventory(struct gen *g, const struct ag_server_opts *o,
			     struct ag_error *err)
{
	ag_code rc;
	if (!o->n_inventory)
		return AG_OK;
	if (!(g->inv = calloc(1, sizeof(*g->inv))) ||
	    ag_nhi_inventory_init(g->inv) != AG_OK) {
		free(g->inv);
		g->inv = NULL;
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < o->n_inventory; i++)
		if ((rc = ag_nhi_load(g->inv, g->policy, o->inventory[i],
				      AG_NHI_AUTO, err)))
			return rc;
	return ag_nhi_resolve(g->inv, g->policy, err);
}

static struct gen *gen_load(const struct ag_server_opts *o,
			    struct ag_error *err)
{
	struct gen *g = calloc(1, sizeof(*g));
	if (!g) {
		ag_err(err, AG_ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (ag_policy_load(o->policy_path, &g->policy, err) ||
	    ag_gate_new(g->policy, &g->gate, err) ||
	    ag_verifier_new(g->policy, &g->verifier, err) ||
	    gen_inventory(g, o, err)) {
		gen_free(g);
		return NULL;
	}
	g->refs = 1; /* the server's own reference */
	return g;
}

static struct gen *gen_get(struct server *s)
{
	pthread_mutex_lock(&s->lock);
	struct gen *g = s->cur;
	g->refs++;
	pthread_mutex_unlock(&s->lock);
	return g;
}

static void gen_put(struct server *s, struct gen *g)
{
	pthread_mutex_lock(&s->lock);
	bool last = --g->refs == 0;
	pthread_mutex_unlock(&s->lock);
	if (last)
		gen_free(g);
}

static void reload(struct server *s)
{
	struct ag_error err;
	ag_error_init(&err);
	struct gen *g = gen_load(s->o, &err);
	if (!g) {
		ag_metrics_inc(s->metrics, AG_C_RELOAD_FAILED);
		say(s, "reload failed, keeping the current policy%s: %s",
		    s->o->n_inventory ? " and inventory" : "", err.msg);
		return;
	}
	pthread_mutex_lock(&s->lock);
	struct gen *old = s->cur;
	s->cur = g;
	pthread_mutex_unlock(&s->lock);
	gen_put(s, old);
	ag_metrics_inc(s->metrics, AG_C_RELOAD_OK);
	say(s, "reloaded %s (%zu workflows, %zu routes)", s->o->policy_path,
	    g->policy->n_workflows, g->policy->n_routes);
	if (g->inv)
		say(s, "reloaded the inventory: %zu machine identities",
		    g->inv->n);
}

/* ---- the state store --------------------------------------------------- */

/* What the hooks of one request work with: the request's own generation,
 * so that a reload meanwhile cannot mix two policies in one decision (a
 * credential's method index is into one catalogue), and whether the
 * request is a what-if, which must change nothing. */
struct hook_ctx {
	struct server *s;
	struct gen *g;
	bool what_if;
};

/* hooks.account_level: the account's own level from the state store, for
 * match_account workflows, judged with the current policy's catalogue.
 * An account whose authenticators reach no AAL has no level to match.
 * The store's accounts are named by sub, which is unique only within one
 * issuer: with several issuers in the policy, whose alice is meant cannot
 * be told, so no level is known (deny). */
static bool account_level(void *ctx, const char *iss, const char *sub,
			  struct ag_assurance *out)
{
	const struct hook_ctx *h = ctx;
	const struct gen *g = h->g;
	struct ag_error err;
	ag_code rc = AG_ERR_NOT_FOUND;
	ag_error_init(&err);
	if (g->policy->n_issuers == 1 && iss &&
	    !strcmp(iss, g->policy->issuers[0].iss))
		rc = ag_store_account_level(h->s->store, g->policy, sub, out,
					    &err);
	return rc == AG_OK && out->aal >= 1;
}

/* hooks.client, for machine workflows: the client's record from the
 * --inventory files of the current generation and from the state store
 * (a look-up per request, so that `aalgate nhi owner set` and `nhi
 * import` take effect at once).  A store that cannot be read denies, and
 * says so once. */
static bool client_hook(void *ctx, const char *iss, const char *client,
			int64_t now, struct ag_gate_client *out, char *why,
			size_t why_len)
{
	const struct hook_ctx *h = ctx;
	struct server *s = h->s;
	bool ok = ag_gate_nhi_client(h->g->policy, h->g->inv, s->store, iss,
				     client, now, out, why, why_len);
	bool failing = !ok && out->failed;
	bool was = __atomic_exchange_n(&s->nhi_failing, failing,
				       __ATOMIC_RELAXED);
	if (failing && !was)
		say(NULL, "machine clients cannot be checked, denying machine "
			  "workflows: %s",
		    why);
	return ok;
}

/* Moves state changes from the store's journal into the decision log
 * (at start, every second, and at the end). */
static void drain_journal(struct server *s)
{
	struct ag_error err;
	uint64_t n = 0;
	ag_error_init(&err);
	if (ag_store_journal_drain(s->store, s->log, &n, &err) != AG_OK) {
		if (!s->journal_failing)
			say(NULL, "state changes wait in the journal: %s",
			    err.msg);
		s->journal_failing = true;
		return;
	}
	if (n)
		say(s, "logged %llu state change%s from the journal",
		    (unsigned long long)n, n == 1 ? "" : "s");
	else if (s->journal_failing)
		say(s, "the state's journal is logged again");
	s->journal_failing = false;
}

/* The PAM socket's view of the policy: the current generation, held
 * while a question is decided, so that a reload may swap it. */
static const struct ag_policy *pam_policy_get(void *ctx, void **ref)
{
	struct gen *g = gen_get(ctx);
	*ref = g;
	return g->policy;
}

static void pam_policy_put(void *ctx, void *ref)
{
	gen_put(ctx, ref);
}

/* ---- requests ---------------------------------------------------------- */

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void next_id(struct server *s, char *buf, size_t len)
{
	uint64_t n = __atomic_add_fetch(&s->id_counter, 1, __ATOMIC_RELAXED);
	snprintf(buf, len, "%s-%08llx", s->id_prefix, (unsigned long long)n);
}

static void peer_text(struct MHD_Connection *c, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	buf[0] = '\0';
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, buf, (socklen_t)len);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], buf,
				  (socklen_t)len);
		else
			inet_ntop(AF_INET6, &in6->sin6_addr, buf,
				  (socklen_t)len);
	}
}

static bool trusted(const struct ag_policy *p, const char *ip)
{
	struct ag_cidr a;
	if (!ip || !*ip || ag_cidr_parse(ip, &a) != AG_OK)
		return false;
	for (size_t i = 0; i < p->n_trusted_proxies; i++)
		if (ag_cidr_contains(&p->trusted_proxies[i], &a))
			return true;
	return false;
}

/*
 * The client address from X-Forwarded-For sent by a trusted proxy: the
 * rightmost entry that is not itself a trusted proxy.  Anything left of it
 * was written by the client and proves nothing.  An entry that is not an
 * address makes the client unknown (returns false).
 */
static bool client_from_xff(const struct ag_policy *p, const char *xff,
			    char *out, size_t len)
{
	char item[64];
	const char *end = xff + strlen(xff);

	while (end > xff) {
		const char *start = end;
		while (start > xff && start[-1] != ',')
			start--;
		const char *a = start, *b = end;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		size_t n = (size_t)(b - a);
		if (n == 0 || n >= sizeof(item))
			return false;
		memcpy(item, a, n);
		item[n] = '\0';
		struct ag_cidr c;
		if (ag_cidr_parse(item, &c) != AG_OK || strchr(item, '/'))
			return false;
		if (!trusted(p, item) || start == xff) {
			ag_strlcpy(out, item, len);
			return true;
		}
		end = start - 1;
	}
	return false;
}

struct hcount {
	const char *name;
	unsigned n;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind,
				    const char *key, const char *value)
{
	struct hcount *h = cls;
	(void)kind;
	(void)value;
	if (!strcasecmp(key, h->name))
		h->n++;
	return MHD_YES;
}

static unsigned header_count(struct MHD_Connection *c, const char *name)
{
	struct hcount h = {name, 0};
	MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &h);
	return h.n;
}

static const char *header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* The access token of an Authorization header: "Bearer" (RFC 6750 §2.1)
 * or "DPoP" (RFC 9449 §7.1), schemes in any case; NULL when there is
 * none.  *bad is set for a header that is there but not a single token
 * of one of them, *dpop for the DPoP scheme. */
static const char *access_token(struct MHD_Connection *c, bool *bad,
				bool *dpop)
{
	*bad = false;
	*dpop = false;
	unsigned n = header_count(c, "Authorization");
	if (n == 0)
		return NULL;
	const char *v = header(c, "Authorization");
	if (n > 1 || !v) {
		*bad = true;
		return NULL;
	}
	if (!strncasecmp(v, "Bearer ", 7)) {
		v += 7;
	} else if (!strncasecmp(v, "DPoP ", 5)) {
		v += 5;
		*dpop = true;
	} else {
		*bad = true;
		return NULL;
	}
	while (*v == ' ')
		v++;
	if (!*v)
		*bad = true;
	return *v ? v : NULL;
}

/* A Bearer token only, for the govern endpoints, which take no DPoP
 * proofs: a DPoP-bound token is refused there (fail closed). */
static const char *bearer(struct MHD_Connection *c, bool *bad)
{
	bool dpop;
	const char *t = access_token(c, bad, &dpop);

	if (dpop) {
		*bad = true;
		return NULL;
	}
	return t;
}

/*
 * An identity header value: printable ASCII, with "%", separators that an
 * application might split on (",", ";", '"', space) and everything else
 * percent-encoded.  Returns false when the value does not fit: a cut
 * subject could name someone else.
 */
static bool header_safe(char *dst, size_t len, const char *src)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; src && *src; src++) {
		unsigned char ch = (unsigned char)*src;
		if (o + 4 > len)
			return false;
		if (ch > 0x20 && ch < 0x7f && !strchr("%,;\"\\", ch)) {
			dst[o++] = (char)ch;
		} else {
			dst[o++] = '%';
			dst[o++] = hex[ch >> 4];
			dst[o++] = hex[ch & 15];
		}
	}
	dst[o] = '\0';
	return true;
}

static struct MHD_Response *response(struct ag_buf *body)
{
	return MHD_create_response_from_buffer(
		body->len, body->data ? body->data : (char *)"",
		MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result send_buf(struct MHD_Connection *c, int status,
				const char *ctype, struct ag_buf *body)
{
	struct MHD_Response *r = response(body);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", ctype);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_text(struct MHD_Connection *c, int status,
				 const char *text)
{
	struct ag_buf b;
	ag_buf_init(&b, 4096);
	ag_buf_adds(&b, text);
	enum MHD_Result r = send_buf(c, status, "text/plain; charset=utf-8",
				     &b);
	ag_buf_release(&b);
	return r;
}

static const char *workflow_of(const struct gen *g, const struct ag_decision *d)
{
	if (d->workflow >= 0 && (size_t)d->workflow < g->policy->n_workflows)
		return g->policy->workflows[d->workflow].name;
	return NULL;
}

/* A deny for a reason outside the decision order (internal, bad request). */
static void deny_outright(struct ag_decision *d, enum ag_reason r,
			  const char *why)
{
	long wi = d->workflow;
	memset(d, 0, sizeof(*d));
	d->outcome = AG_DENY;
	d->status = 403;
	d->workflow = wi;
	d->reasons[0] = r;
	d->n_reasons = 1;
	snprintf(d->detail, sizeof(d->detail), "%s", why);
}

/* Verifies the token (and its DPoP proof) and decides.  bad_auth: an
 * Authorization header that is not one token. */
static void evaluate(struct server *s, struct req_ctx *rc,
		     const struct ag_request *in,
		     const struct ag_dpop_presented *pr, bool bad_auth,
		     bool use_sessions)
{
	enum ag_token_error te = AG_TOK_OK;
	char why[256] = "";
	struct ag_decision *d = &rc->d;
	struct ag_request req = *in;
	enum ag_dpop_outcome dpop_out = AG_DPOP_NONE;

	/* The session's idle time moves in finish(), once the allow is
	 * logged: not for an allow that is then denied. */
	req.defer_touch = true;
	rc->touch = use_sessions;
	rc->now = req.now;

	if (bad_auth) {
		te = AG_TOK_MALFORMED;
		ag_strlcpy(why, "Authorization is not one Bearer or DPoP token",
			   sizeof(why));
	} else if (pr->token) {
		te = ag_verifier_check(rc->g->verifier, pr->token,
				       strlen(pr->token), req.now, &rc->claims,
				       why, sizeof(why));
		if (te == AG_TOK_OK)
			te = ag_dpop_present(pr->what_if ? NULL : s->dpop,
					     rc->g->policy,
					     &rc->claims, pr, &req, &dpop_out,
					     why, sizeof(why));
		if (dpop_out == AG_DPOP_OK)
			ag_metrics_inc(s->metrics, AG_C_DPOP_OK);
		else if (dpop_out == AG_DPOP_REPLAYED)
			ag_metrics_inc(s->metrics, AG_C_DPOP_REPLAYED);
		else if (dpop_out == AG_DPOP_BAD)
			ag_metrics_inc(s->metrics, AG_C_DPOP_REFUSED);
		rc->have_claims = te == AG_TOK_OK;
	}
	struct hook_ctx hc = {s, rc->g, pr->what_if};
	struct ag_gate_hooks hooks = s->hooks;
	hooks.ctx = &hc;
	ag_gate_decide(rc->g->gate, &hooks,
		       use_sessions ? s->sessions : NULL, &req,
		       rc->have_claims ? &rc->claims : NULL, te, d);
	/* The identity headers are made now, so that a subject that cannot
	 * be sent whole is denied before the decision is logged.  (The
	 * core refuses a token without sub, the verifier one without iss;
	 * an empty one is refused here too, never passed on.) */
	if (d->outcome == AG_ALLOW &&
	    (!rc->claims.sub || !*rc->claims.sub || !rc->claims.iss ||
	     !header_safe(rc->subject, sizeof(rc->subject), rc->claims.sub) ||
	     !header_safe(rc->issuer, sizeof(rc->issuer), rc->claims.iss)))
		deny_outright(d, AG_R_INVALID_TOKEN,
			      "sub or iss empty, or too long to pass on in a "
			      "header");
	if (te != AG_TOK_OK && why[0]) {
		/* The verifier's detail is better than the token error's
		 * name; say it in the challenge too. */
		char desc[256];
		size_t o = 0;
		snprintf(d->detail, sizeof(d->detail), "%s", why);
		for (const char *p = d->detail; *p && o + 1 < sizeof(desc); p++)
			desc[o++] = (*p == '"' || *p == '\\' ||
				     (unsigned char)*p < 0x20 ||
				     (unsigned char)*p > 0x7e)
					    ? ' '
					    : *p;
		desc[o] = '\0';
		/* RFC 9449 §7.1: a DPoP failure is answered in DPoP's
		 * scheme, with the algorithms a proof may use. */
		if (te == AG_TOK_DPOP)
			snprintf(d->www_authenticate,
				 sizeof(d->www_authenticate),
				 "DPoP algs=\"%s\", error=\"%s\", "
				 "error_description=\"%s\"",
				 AG_DPOP_ALGS,
				 dpop_out == AG_DPOP_BAD ||
						 dpop_out == AG_DPOP_REPLAYED
					 ? "invalid_dpop_proof"
					   : "invalid_token",
				 desc);
		else
			snprintf(d->www_authenticate,
				 sizeof(d->www_authenticate),
				 "Bearer error=\"invalid_token\", "
				 "error_description=\"%s\"",
				 desc);
	}
}

/* The decision log's writer calls this once the record is on disk (or
 * cannot be): the answer may go out now. */
static void logged(void *arg, ag_code code, uint64_t seq)
{
	struct req_ctx *rc = arg;
	/* Read before the state is published: from then on the handler may
	 * run, answer and free rc. */
	struct MHD_Connection *conn = rc->conn;
	(void)seq;
	rc->log_rc = code;
	__atomic_store_n(&rc->state, ST_LOGGED, __ATOMIC_RELEASE);
	MHD_resume_connection(conn);
}

/* Logs the decision in rc and suspends the connection until the record is
 * durable.  The handler runs again then, and answers (finish). */
static enum MHD_Result log_then_answer(struct server *s, struct req_ctx *rc,
				       struct MHD_Connection *c,
				       const struct ag_log_ctx *lc)
{
	struct ag_buf f;
	ag_buf_init(&f, AG_DLOG_RECORD_MAX - 256);
	ag_code code = ag_decision_log_fields(
		rc->g->policy, &rc->d, rc->have_claims ? &rc->claims : NULL,
		lc, &f);
	rc->conn = c;
	rc->state = ST_WAITING;
	__atomic_add_fetch(&s->suspended, 1, __ATOMIC_SEQ_CST);
	MHD_suspend_connection(c);
	if (code == AG_OK)
		code = ag_dlog_append_async(s->log, f.data, f.len, logged, rc);
	ag_buf_release(&f);
	if (code != AG_OK) {
		rc->log_rc = code;
		__atomic_store_n(&rc->state, ST_LOGGED, __ATOMIC_RELEASE);
		MHD_resume_connection(c);
	}
	return MHD_YES;
}

/* Sends the answer for a logged decision. */
static enum MHD_Result finish(struct server *s, struct req_ctx *rc,
			      struct MHD_Connection *c)
{
	struct ag_decision *d = &rc->d;
	struct gen *g = rc->g;

	__atomic_sub_fetch(&s->suspended, 1, __ATOMIC_SEQ_CST);
	if (rc->log_rc != AG_OK) {
		char why[200];
		ag_metrics_inc(s->metrics, AG_C_LOG_ERRORS);
		snprintf(why, sizeof(why),
			 "the decision could not be logged: %s",
			 ag_strerror(rc->log_rc));
		deny_outright(d, AG_R_INTERNAL, why);
		rc->have_claims = false;
	}
	if (rc->touch && d->outcome == AG_ALLOW && rc->have_claims)
		ag_gate_touch(s->sessions, &rc->claims, rc->now);
	const char *wf = workflow_of(g, d);
	const struct ag_claims *cl = rc->have_claims ? &rc->claims : NULL;
	struct ag_buf body;
	ag_buf_init(&body, 64 * 1024);
	/* An allow needs no body: the proxy only reads the headers, and an
	 * empty answer lets it keep the connection. */
	if (rc->ep == AG_EP_DECIDE || d->outcome != AG_ALLOW)
		ag_decision_json(g->policy, d, cl, rc->id, &body);
	struct MHD_Response *r = response(&body);
	ag_buf_release(&body);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (__atomic_load_n(&s->draining, __ATOMIC_SEQ_CST))
		MHD_add_response_header(r, "Connection", "close");
	if (rc->ep == AG_EP_AUTHZ) {
		if (d->www_authenticate[0])
			MHD_add_response_header(r, "WWW-Authenticate",
						d->www_authenticate);
		MHD_add_response_header(r, "X-Aalgate-Decision-Id", rc->id);
		if (d->outcome == AG_ALLOW && cl) {
			char v[512];
			MHD_add_response_header(r, "X-Aalgate-Subject",
						rc->subject);
			MHD_add_response_header(r, "X-Aalgate-Issuer",
						rc->issuer);
			snprintf(v, sizeof(v), "%d", d->observed.aal);
			MHD_add_response_header(r, "X-Aalgate-Aal", v);
			if (!header_safe(v, sizeof(v), wf ? wf : ""))
				v[0] = '\0';
			MHD_add_response_header(r, "X-Aalgate-Workflow", v);
			MHD_add_response_header(r, "X-Aalgate-Decision",
						"allow");
		}
	}
	/* /v1/decide: the decision is the body; the status says the call
	 * worked. */
	unsigned status = rc->ep == AG_EP_DECIDE ? 200u : (unsigned)d->status;
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	ag_metrics_decision(s->metrics, rc->ep, wf, d, mono() - rc->t0);
	return ret;
}

static const char *const forwarded_request_headers[] = {
	"X-Original-URI",    "X-Original-Method", "X-Original-Host",
	"X-Original-Proto",  "X-Forwarded-Uri",   "X-Forwarded-Method",
	"X-Forwarded-Host",  "X-Forwarded-Proto", NULL};

static enum MHD_Result do_authz(struct server *s, struct MHD_Connection *c,
				struct req_ctx *rc, const char *url,
				const char *method)
{
	const struct ag_policy *p = rc->g->policy;
	char peer[INET6_ADDRSTRLEN] = "";
	char path[AG_PATH_MAX];
	char cert_x5t[64] = "", cert_problem[160] = "";
	struct ag_request req = {0};
	bool bad_auth = false;
	/* The original URL's scheme, for DPoP's htu: what a trusted proxy
	 * says, else https (DPoP is for TLS; a wrong guess only refuses). */
	const char *scheme = "https";

	rc->ep = AG_EP_AUTHZ;
	peer_text(c, peer, sizeof(peer));
	bool trust = trusted(p, peer);
	/* Envoy sends the original path after the prefix. */
	const char *suffix = url + strlen("/v1/authz");
	req.uri = *suffix ? suffix : "/";
	req.method = method;
	req.host = header(c, "Host");
	req.ip = peer[0] ? peer : NULL;
	req.now = (int64_t)time(NULL);
	bool refuse = false;
	if (trust) {
		const char *v;
		/* Two copies of a header the answer rests on: one of them
		 * was written by the client. */
		for (const char *const *h = forwarded_request_headers; *h; h++)
			if (header_count(c, *h) > 1)
				refuse = true;
		/* One family of headers, the one of the original URI: nginx
		 * writes X-Original-*, Traefik X-Forwarded-*, and Envoy sends
		 * the path after /v1/authz with X-Forwarded-Proto.  What comes
		 * of the other family was the client's, and mixing the two
		 * would let it choose the path, method or host the proxy did
		 * not say.  X-Original-* beside a proxy of the other family
		 * can only be the client's: refused.  X-Forwarded-* beside
		 * X-Original-URI may be a balancer's in front of nginx:
		 * ignored. */
		bool orig = header(c, "X-Original-URI") != NULL;
		bool fwd_uri = header(c, "X-Forwarded-Uri") != NULL;
		if (!orig && !fwd_uri && !*suffix)
			refuse = true; /* the proxy did not say what to decide */
		if (orig && fwd_uri)
			refuse = true;
		if (!orig)
			for (const char *const *h = forwarded_request_headers;
			     *h; h++)
				if (!strncasecmp(*h, "X-Original-", 11) &&
				    header(c, *h))
					refuse = true;
		static const char *const family[2][4] = {
			{"X-Forwarded-Uri", "X-Forwarded-Method",
			 "X-Forwarded-Host", "X-Forwarded-Proto"},
			{"X-Original-URI", "X-Original-Method",
			 "X-Original-Host", "X-Original-Proto"}};
		const char *const *f = family[orig];
		if ((v = header(c, f[0])))
			req.uri = v;
		if ((v = header(c, f[1])))
			req.method = v;
		if ((v = header(c, f[2])))
			req.host = v;
		if ((v = header(c, f[3])))
			scheme = v;
		/* The client's address: only from one X-Forwarded-For line
		 * (several could mix the client's own with the proxy's); the
		 * proxy's own address says nothing about the client. */
		req.ip = NULL;
		if (header_count(c, "X-Forwarded-For") == 1 &&
		    client_from_xff(p, header(c, "X-Forwarded-For"),
				    rc->client, sizeof(rc->client)))
			req.ip = rc->client;
		/* One copy only: with two, one was the client's, and which
		 * is unknowable; no posture is vouched for then. */
		if (p->device_header &&
		    header_count(c, p->device_header) == 1)
			req.device = header(c, p->device_header);
		/* The TLS client certificate, for mtls clients (RFC 8705
		 * §3).  One copy only, like the other forwarded headers. */
		if (p->client_cert_header) {
			unsigned n = header_count(c, p->client_cert_header);
			v = header(c, p->client_cert_header);
			if (n > 1)
				ag_strlcpy(cert_problem, "the client "
					   "certificate header came twice",
					   sizeof(cert_problem));
			else if (v && *v &&
				 !ag_cert_x5t(v, cert_x5t, sizeof(cert_x5t),
					      cert_problem,
					      sizeof(cert_problem)))
				cert_x5t[0] = '\0';
			if (cert_x5t[0])
				req.client_cert_x5t = cert_x5t;
			else if (cert_problem[0])
				req.client_cert_problem = cert_problem;
		}
	} else {
		/* A proxy we do not trust cannot tell us what the request
		 * was; answering for "/" instead could allow what the route
		 * would deny. */
		for (const char *const *h = forwarded_request_headers; *h; h++)
			if (header(c, *h))
				refuse = true;
	}
	if (!ag_path_normalize(req.uri, path, sizeof(path)))
		ag_strlcpy(path, "(invalid)", sizeof(path));
	struct ag_log_ctx lc = {.decision_id = rc->id,
				.time_ms = wall_ms(),
				.ip = req.ip,
				.method = req.method,
				.host = req.host,
				.path = path};
	if (refuse) {
		char why[200];
		if (trust) {
			ag_metrics_inc(s->metrics, AG_C_BAD_REQUESTS);
			snprintf(why, sizeof(why),
				 "the proxy at %s sent no original request, "
				 "sent a forwarding header twice, or sent "
				 "X-Original-* and X-Forwarded-* headers of "
				 "the original request together",
				 peer);
		} else {
			ag_metrics_inc(s->metrics, AG_C_UNTRUSTED_FORWARDED);
			snprintf(why, sizeof(why),
				 "forwarded request headers from %s, which is "
				 "not in trusted_proxies",
				 peer[0] ? peer : "an unknown peer");
		}
		rc->d.workflow = -1;
		deny_outright(&rc->d, AG_R_BAD_REQUEST, why);
	} else {
		struct ag_dpop_presented pr = {.scheme = scheme};
		pr.token = access_token(c, &bad_auth, &pr.dpop_scheme);
		pr.proof = header(c, "DPoP");
		pr.proof_repeated = header_count(c, "DPoP") > 1;
		evaluate(s, rc, &req, &pr, bad_auth, true);
	}
	return log_then_answer(s, rc, c, &lc);
}

/* hooks.grant_active, the gate's step 7: an active grant from the state
 * store (ag_grant_use, which also alerts on break-glass use; a what-if
 * only looks, with ag_grant_held: its time is the caller's to choose).
 * The hook is not told the request's host, so only grants that name no
 * hosts count here; a grant for some hosts is for PAM.  Any error
 * denies. */
static bool grant_active(void *ctx, const char *iss, const char *sub,
			 const char *workflow, int64_t now)
{
	const struct hook_ctx *h = ctx;
	struct server *s = h->s;
	struct ag_error err;
	bool allowed = false;
	ag_error_init(&err);
	ag_code rc = (h->what_if ? ag_grant_held : ag_grant_use)(
		s->store, h->g->policy, iss, sub, workflow, NULL, now,
		&allowed, &err);
	bool was = __atomic_exchange_n(&s->grants_failing, rc != AG_OK,
				       __ATOMIC_RELAXED);
	if (rc != AG_OK && !was)
		say(NULL, "grants cannot be checked, denying JIT workflows: %s",
		    err.msg);
	return rc == AG_OK && allowed;
}

/* /v1/grants (docs/govern.md), answered at once: a change is committed to
 * the store before the answer, and its journal rows reach the decision
 * log with the next drain (within a second). */
static enum MHD_Result do_grants(struct server *s, struct MHD_Connection *c,
				 struct req_ctx *rc, const char *url,
				 const char *method)
{
	struct ag_grant_http out;
	bool bad_auth = false;

	if (rc->body.failed) {
		ag_metrics_inc(s->metrics, AG_C_BAD_REQUESTS);
		return send_text(c, 413, "request body too large\n");
	}
	const char *tok = bearer(c, &bad_auth);
	struct gen *g = gen_get(s);
	struct ag_grant_ctx ctx = {.policy = g->policy,
				   .gate = g->gate,
				   .store = s->store};
	ag_grant_http(&ctx, g->verifier, method, url, tok, bad_auth,
		      rc->body.data, rc->body.len, (int64_t)time(NULL), &out);
	gen_put(s, g);
	struct ag_buf b;
	ag_buf_init(&b, AG_DLOG_RECORD_MAX * 64);
	ag_buf_adds(&b, out.body ? out.body : "{}");
	ag_buf_addc(&b, '\n');
	struct MHD_Response *r = b.failed ? NULL : response(&b);
	ag_buf_release(&b);
	if (!r) {
		ag_grant_http_release(&out);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (out.challenge)
		MHD_add_response_header(r, "WWW-Authenticate",
					out.invalid_token
						? "Bearer realm=\"aalgate\", "
						  "error=\"invalid_token\""
						: "Bearer realm=\"aalgate\"");
	if (out.allow)
		MHD_add_response_header(r, "Allow", out.allow);
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)out.status, r);
	MHD_destroy_response(r);
	ag_grant_http_release(&out);
	return ret;
}

static enum MHD_Result do_decide(struct server *s, struct MHD_Connection *c,
				 struct req_ctx *rc)
{
	const struct ag_policy *p = rc->g->policy;
	struct ag_api_request ar;
	char err[300], peer[INET6_ADDRSTRLEN] = "";

	rc->ep = AG_EP_DECIDE;
	if (rc->body.failed) {
		ag_metrics_inc(s->metrics, AG_C_BAD_REQUESTS);
		return send_text(c, 413, "request body too large\n");
	}
	if (ag_api_request_parse(rc->body.data ? rc->body.data : "",
				 rc->body.len, false, p->device_claim, &ar,
				 err, sizeof(err)) != AG_OK) {
		ag_metrics_inc(s->metrics, AG_C_BAD_REQUESTS);
		struct ag_buf b;
		ag_buf_init(&b, 4096);
		ag_buf_adds(&b, "{\"error\":");
		ag_buf_json_str(&b, err);
		ag_buf_adds(&b, "}\n");
		enum MHD_Result ret = send_buf(c, 400, "application/json", &b);
		ag_buf_release(&b);
		return ret;
	}
	peer_text(c, peer, sizeof(peer));
	/* Only a trusted proxy may state the client's address and device;
	 * anyone else is the client, on a device nobody vouched for, and its
	 * answers do not move session idle times. */
	bool trust = trusted(p, peer);
	struct ag_request req = {.workflow = ar.workflow,
				 .method = ar.method,
				 .host = ar.host,
				 .uri = ar.uri,
				 /* A trusted proxy that names no client
				  * leaves it unknown: its own address says
				  * nothing about the client. */
				 .ip = trust ? ar.ip : peer,
				 .device = trust ? ar.device : NULL,
				 .now = ar.has_now ? ar.now
						   : (int64_t)time(NULL)};
	/* Likewise the client certificate: only a trusted proxy saw it. */
	char cert_x5t[64] = "", cert_problem[160] = "";
	if (trust && ar.client_cert) {
		if (ag_cert_x5t(ar.client_cert, cert_x5t, sizeof(cert_x5t),
				cert_problem, sizeof(cert_problem)))
			req.client_cert_x5t = cert_x5t;
		else
			req.client_cert_problem = cert_problem;
	}
	char path[AG_PATH_MAX] = "";
	if (ar.uri && !ag_path_normalize(ar.uri, path, sizeof(path)))
		ag_strlcpy(path, "(invalid)", sizeof(path));
	struct ag_log_ctx lc = {.decision_id = rc->id,
				.time_ms = wall_ms(),
				.ip = req.ip,
				.method = ar.method,
				.host = ar.host,
				.path = ar.uri ? path : NULL,
				.what_if = ar.has_now};
	struct ag_dpop_presented pr = {.token = ar.token,
				       .dpop_scheme = ar.dpop != NULL,
				       .proof = ar.dpop,
				       .scheme = ar.scheme ? ar.scheme
							   : "https",
				       .what_if = ar.has_now};
	evaluate(s, rc, &req, &pr, false, trust && !ar.has_now);
	enum MHD_Result ret = log_then_answer(s, rc, c, &lc);
	ag_api_request_release(&ar);
	return ret;
}

/* The sinks' delivery, by sink: a failing sink is an alert that does not
 * get out, so it is there to be alerted on. */
static void sink_metrics(struct server *s, const struct ag_policy *p,
			 struct ag_buf *b)
{
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
		{"aalgate_sink_delivered_total", "counter",
		 "Obligations (alerts, notifications) delivered, by sink."},
		{"aalgate_sink_failures_total", "counter",
		 "Failed delivery attempts, by sink; each is retried."},
		{"aalgate_sink_failing", "gauge",
		 "1 while the sink's last attempt failed."},
		{"aalgate_sink_broken", "gauge",
		 "1 while the decision log or the sink's cursor does not "
		 "verify: nothing after it is delivered."},
	};
	struct ag_sink_state st;

	if (!s->sinks || p->n_sinks == 0)
		return;
	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		ag_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name,
			      fam[f].help, fam[f].name, fam[f].type);
		for (size_t i = 0; i < p->n_sinks; i++) {
			if (ag_sinks_state(s->sinks, p->sinks[i].name, &st) !=
			    AG_OK)
				continue;
			unsigned long long v =
				f == 0	 ? st.delivered
				: f == 1 ? st.failures
				: f == 2 ? (unsigned long long)st.failing
					 : (unsigned long long)st.broken;
			ag_buf_printf(b, "%s{sink=\"%s\"} %llu\n",
				      fam[f].name, p->sinks[i].name, v);
		}
	}
}

static enum MHD_Result do_metrics(struct server *s, struct MHD_Connection *c)
{
	struct ag_verifier_stats vs;
	struct ag_buf b;
	struct gen *g = gen_get(s);
	ag_verifier_stats(g->verifier, &vs);
	ag_buf_init(&b, 4u * 1024u * 1024u);
	ag_metrics_render(s->metrics, &vs, &b);
	sink_metrics(s, g->policy, &b);
	gen_put(s, g);
	if (s->store) {
		struct ag_grant_tallies t = {0};
		struct ag_error err;
		ag_error_init(&err);
		bool ok = ag_grant_tally(s->store, (int64_t)time(NULL), &t,
					 &err) == AG_OK;
		if (!ok)
			say(s, "/metrics: %s", err.msg);
		ag_metrics_render_grants(ok ? &t : NULL, &b);
		ag_grant_tallies_release(&t);
	}
	enum MHD_Result r = send_buf(
		c, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
	ag_buf_release(&b);
	return r;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	struct server *s = cls;
	struct req_ctx *rc = *con_cls;
	(void)version;

	if (!rc) {
		if (!(rc = calloc(1, sizeof(*rc))))
			return MHD_NO;
		ag_buf_init(&rc->body, AG_API_BODY_MAX);
		ag_claims_init(&rc->claims);
		rc->t0 = mono();
		*con_cls = rc;
		__atomic_add_fetch(&s->in_flight, 1, __ATOMIC_SEQ_CST);
		rc->counted = true;
		return MHD_YES;
	}
	int state = __atomic_load_n(&rc->state, __ATOMIC_ACQUIRE);
	if (state == ST_LOGGED)
		return finish(s, rc, c);
	if (state == ST_WAITING)
		return MHD_YES; /* resumed early: keep waiting */
	if (*upload_size) {
		if (!rc->body.failed)
			ag_buf_add(&rc->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}

	bool authz = !strcmp(url, "/v1/authz") ||
		     !strncmp(url, "/v1/authz/", 10);
	bool decide = !strcmp(url, "/v1/decide");
	if (decide && strcmp(method, "POST") != 0)
		return send_text(c, 405, "use POST\n");
	if ((authz || decide) && __atomic_load_n(&s->draining, __ATOMIC_SEQ_CST)) {
		/* Stopping: no new decision may be suspended now. */
		struct MHD_Response *r = MHD_create_response_from_buffer(
			14, (void *)"shutting down\n", MHD_RESPMEM_PERSISTENT);
		if (!r)
			return MHD_NO;
		MHD_add_response_header(r, "Connection", "close");
		MHD_add_response_header(r, "Retry-After", "1");
		enum MHD_Result ret = MHD_queue_response(c, 503, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (authz || decide) {
		rc->g = gen_get(s);
		next_id(s, rc->id, sizeof(rc->id));
		return authz ? do_authz(s, c, rc, url, method)
			     : do_decide(s, c, rc);
	}
	/* -- govern endpoints: grants (/v1/grants) -- */
	if (!strcmp(url, "/v1/grants") || !strncmp(url, "/v1/grants/", 11))
		return do_grants(s, c, rc, url, method);
	/* -- govern endpoints: accounts and recovery (/v1/accounts, /v1/recovery) -- */
	if (ag_govern_http_handles(url)) {
		char peer[INET6_ADDRSTRLEN];
		bool bad = false;
		struct gen *g = gen_get(s);
		peer_text(c, peer, sizeof(peer));
		struct ag_govern_http_ctx gx = {g->policy, g->verifier, s->store};
		struct ag_govern_http_request gr = {
			.method = method, .path = url, .peer = peer,
			.peer_trusted = trusted(g->policy, peer),
			.body = rc->body.data, .body_len = rc->body.len,
			.body_too_large = rc->body.failed,
			.now = (int64_t)time(NULL)};
		gr.token = bearer(c, &bad);
		gr.bad_authorization = bad;
		enum MHD_Result r = ag_govern_serve(c, &gx, &gr);
		gen_put(s, g);
		return r;
	}
	if (!strcmp(url, "/healthz")) {
		char why[200];
		if (ag_dlog_failed(s->log, why, sizeof(why))) {
			char msg[300];
			snprintf(msg, sizeof(msg),
				 "decision log failed, denying all: %s\n", why);
			return send_text(c, 503, msg);
		}
		return send_text(c, 200, "ok\n");
	}
	if (!strcmp(url, "/metrics"))
		return do_metrics(s, c);
	return send_text(c, 404, "not found\n");
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct server *s = cls;
	struct req_ctx *rc = *con_cls;
	(void)c;
	(void)toe;
	if (!rc)
		return;
	if (rc->g)
		gen_put(s, rc->g);
	ag_claims_release(&rc->claims);
	/* A /v1/decide body holds a token: do not leave it in freed memory. */
	if (rc->body.data) {
		volatile char *b = rc->body.data;
		for (size_t i = 0; i < rc->body.alloc; i++)
			b[i] = 0;
	}
	ag_buf_release(&rc->body);
	if (rc->counted)
		__atomic_sub_fetch(&s->in_flight, 1, __ATOMIC_SEQ_CST);
	free(rc);
	*con_cls = NULL;
}

/* Leaves the request target as sent: routes decode it once, themselves. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

/* ---- start-up ---------------------------------------------------------- */

static int listen_socket(const char *spec, char *shown, size_t shown_len)
{
	char host[256];
	const char *port;
	struct sockaddr_storage ss;
	socklen_t sl;

	memset(&ss, 0, sizeof(ss));
	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');
		if (!end || end[1] != ':' || (size_t)(end - spec) > sizeof(host))
			return -1;
		memcpy(host, spec + 1, (size_t)(end - spec - 1));
		host[end - spec - 1] = '\0';
		port = end + 2;
	} else {
		const char *colon = strrchr(spec, ':');
		if (!colon || (size_t)(colon - spec) >= sizeof(host))
			return -1;
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
		port = colon + 1;
	}
	char *endp;
	errno = 0;
	long pn = strtol(port, &endp, 10);
	if (!*port || *endp || errno || pn < 0 || pn > 65535)
		return -1;
	struct sockaddr_in *in = (void *)&ss;
	struct sockaddr_in6 *in6 = (void *)&ss;
	if (!host[0] || inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		if (!host[0])
			in->sin_addr.s_addr = htonl(INADDR_ANY);
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)pn);
		sl = sizeof(*in);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)pn);
		sl = sizeof(*in6);
	} else {
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -2;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 1024)) {
		close(fd);
		return -2;
	}
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	char a[INET6_ADDRSTRLEN];
	if (ss.ss_family == AF_INET) {
		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		snprintf(shown, shown_len, "%s:%u", a, ntohs(in->sin_port));
	} else {
		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		snprintf(shown, shown_len, "[%s]:%u", a, ntohs(in6->sin6_port));
	}
	return fd;
}

static int drop_privileges(const char *user)
{
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		say(NULL, "no user '%s'", user);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) != 0 ||
	    setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
		say(NULL, "cannot become '%s': %s", user, strerror(errno));
		return -1;
	}
	if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		say(NULL, "could regain root after dropping to '%s'", user);
		return -1;
	}
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	return 0;
}

static void default_log_path(const struct ag_server_opts *o, char *buf,
			     size_t len)
{
	if (o->log_path) {
		ag_strlcpy(buf, o->log_path, len);
		return;
	}
	const char *slash = o->state_path ? strrchr(o->state_path, '/') : NULL;
	if (slash)
		snprintf(buf, len, "%.*s/aalgate-decisions.jsonl",
			 (int)(slash - o->state_path), o->state_path);
	else
		ag_strlcpy(buf, "aalgate-decisions.jsonl", len);
}

int ag_server_run(const struct ag_server_opts *o)
{
	struct server s;
	struct ag_error err;
	struct MHD_Daemon *daemon = NULL;
	int ret = 2, fd = -1;
	char shown[80], log_path[4096];
	sigset_t set;

	memset(&s, 0, sizeof(s));
	s.o = o;
	pthread_mutex_init(&s.lock, NULL);
	ag_error_init(&err);

	/* Signals are taken by sigwait below, never by a worker. */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	uint8_t rnd[5];
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		say(NULL, "no randomness for decision ids");
		goto out;
	}
	snprintf(s.id_prefix, sizeof(s.id_prefix), "%02x%02x%02x%02x%02x",
		 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4]);

	if (!(s.cur = gen_load(o, &err))) {
		say(NULL, "%s", err.msg);
		goto out;
	}
	if (s.cur->inv)
		say(&s, "inventory: %zu machine identities from %zu file%s",
		    s.cur->inv->n, o->n_inventory,
		    o->n_inventory == 1 ? "" : "s");
	s.metrics = ag_metrics_new();
	s.sessions = ag_sessions_new(SESSIONS_CAPACITY);
	s.dpop = ag_dpop_replay_new(DPOP_REPLAY_CAPACITY);
	if (!s.metrics || !s.sessions || !s.dpop) {
		say(NULL, "out of memory");
		goto out;
	}
	default_log_path(o, log_path, sizeof(log_path));
	if (ag_dlog_open(log_path, &s.log, &err) != AG_OK) {
		say(NULL, "%s", err.msg);
		goto out;
	}
	if (ag_dlog_repaired_bytes(s.log))
		say(NULL, "%s: cut %llu bytes of a record torn by a crash "
			  "(never acknowledged)",
		    log_path,
		    (unsigned long long)ag_dlog_repaired_bytes(s.log));
	if (o->state_path) {
		/* One connection per HTTP worker and one for this thread. */
		struct ag_store_opts so = {.connections = o->threads + 1};
		if (o->pam_socket)
			so.connections += AG_PAMD_WORKERS;
		if (ag_store_open(o->state_path, &so, &s.store, &err)) {
			say(NULL, "%s", err.msg);
			goto out;
		}
		s.hooks.account_level = account_level;
		s.hooks.grant_active = grant_active;
		drain_journal(&s);
	}
	/* Machine clients are judged against the inventory files and the
	 * store; with neither, machine workflows deny. */
	if (o->n_inventory || s.store) {
		s.hooks.client = client_hook;
	}
	if (o->pam_socket) {
		/* Made before privileges are dropped: /run/aalgate may be
		 * root's. */
		struct ag_pamd_opts po = {
			.path = o->pam_socket,
			.has_peer_uid = o->pam_peer_uid_set,
			.peer_uid = (uid_t)o->pam_peer_uid,
			.has_peer_gid = o->pam_peer_gid_set,
			.peer_gid = (gid_t)o->pam_peer_gid,
			.store = s.store,
			.log = s.log,
			.id_prefix = s.id_prefix,
			.ctx = &s,
			.policy_get = pam_policy_get,
			.policy_put = pam_policy_put,
		};
		/* The module trusts root or the socket's owner: with --user,
		 * that is who will answer. */
		struct passwd *pw = o->user ? getpwnam(o->user) : NULL;
		if (pw) {
			po.has_owner = true;
			po.owner_uid = pw->pw_uid;
		}
		if (ag_pamd_start(&po, &s.pamd, &err) != AG_OK) {
			say(NULL, "%s", err.msg);
			goto out;
		}
		say(&s, "PAM socket %s", o->pam_socket);
	}
	fd = listen_socket(o->listen, shown, sizeof(shown));
	if (fd == -1) {
		say(NULL, "bad --listen '%s': expected HOST:PORT or [V6]:PORT",
		    o->listen);
		goto out;
	}
	if (fd < 0) {
		say(NULL, "cannot listen on %s: %s", o->listen,
		    strerror(errno));
		goto out;
	}
	daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC,
		0, NULL, NULL, handler, &s, MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_THREAD_POOL_SIZE, o->threads,
		MHD_OPTION_CONNECTION_LIMIT, o->max_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, o->timeout,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_MEMORY,
		MHD_OPTION_NOTIFY_COMPLETED, completed, &s,
		MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
		MHD_OPTION_END);
	if (!daemon) {
		say(NULL, "cannot start the HTTP service on %s", shown);
		goto out;
	}
	fd = -1; /* the daemon owns it now */
	if (o->user && drop_privileges(o->user) != 0)
		goto out;
	/* After dropping privileges: the sinks' cursors belong to the user
	 * the gate runs as. */
	struct ag_sinks_opts sko = {.prefix = "aalgate serve: "};
	if (ag_sinks_new(log_path, &sko, &s.sinks, &err) ||
	    ag_sinks_configure(s.sinks, s.cur->policy->sinks,
			       s.cur->policy->n_sinks, &err) ||
	    ag_sinks_start(s.sinks, &err)) {
		say(NULL, "%s", err.msg);
		goto out;
	}
	say(NULL, "listening on %s, policy %s, decision log %s", shown,
	    o->policy_path, log_path);

	for (;;) {
		struct timespec tick = {1, 0};
		int sig = sigtimedwait(&set, NULL, &tick);
		if (sig < 0) {
			if (s.store)
				drain_journal(&s);
			continue;
		}
		if (sig == SIGHUP) {
			reload(&s);
			if (ag_sinks_configure(s.sinks, s.cur->policy->sinks,
					       s.cur->policy->n_sinks, &err))
				say(NULL, "sinks keep their old list: %s",
				    err.msg);
		} else if (sig == SIGTERM || sig == SIGINT) {
			break;
		}
	}

	/* Drain: stop accepting, answer no new decisions, close kept-alive
	 * connections as their answers go out, and let the decisions in
	 * flight be logged and answered. */
	say(&s, "draining");
	ag_sinks_stop(s.sinks);
	__atomic_store_n(&s.draining, true, __ATOMIC_SEQ_CST);
	MHD_socket lfd = MHD_quiesce_daemon(daemon);
	if (lfd != MHD_INVALID_SOCKET)
		close(lfd);
	double until = mono() + o->drain;
	while ((__atomic_load_n(&s.in_flight, __ATOMIC_SEQ_CST) > 0 ||
		__atomic_load_n(&s.suspended, __ATOMIC_SEQ_CST) > 0) &&
	       mono() < until) {
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (__atomic_load_n(&s.suspended, __ATOMIC_SEQ_CST) > 0) {
		/* Their records are not committed (the log is stuck) and
		 * libmicrohttpd cannot stop with suspended connections.  What
		 * was acknowledged is on disk; a torn record is cut at the
		 * next start. */
		say(NULL, "drain timed out with decisions waiting for the "
			  "decision log; stopping without them");
		_exit(1);
	}
	ret = __atomic_load_n(&s.in_flight, __ATOMIC_SEQ_CST) ? 1 : 0;
	if (ret)
		say(&s, "drain timed out with requests in flight");
out:
	ag_sinks_free(s.sinks);
	if (daemon)
		MHD_stop_daemon(daemon);
	if (fd >= 0)
		close(fd);
	ag_pamd_stop(s.pamd);
	if (s.store && s.log)
		drain_journal(&s);
	ag_store_close(s.store);
	if (s.log)
		ag_dlog_close(s.log);
	if (s.cur)
		gen_put(&s, s.cur);
	ag_sessions_free(s.sessions);
	ag_dpop_replay_free(s.dpop);
	ag_metrics_free(s.metrics);
	pthread_mutex_destroy(&s.lock);
	if (ret == 0)
		say(NULL, "stopped");
	return ret;
}
