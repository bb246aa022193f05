/*
 * JIT grants and break-glass (docs/govern.md): requests, approvals and what
 * they refuse (self-approval, a non-member, an AAL1 or stale token, a
 * replayed approval or token, a grant longer than jit.max), activation
 * once in the transaction of the approval that reaches the count, also
 * with two approvers at the same instant, expiry, deny and revoke,
 * break-glass approvals, caps and alert obligations, the gate's use of a
 * grant, a read-only store, the policy's groups, and the journal rows
 * every change leaves in the decision log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <dirent.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "testutil.h"
#include "aalgate/gate.h"
#include "aalgate/govern.h"

#define T0 1700000000
#define ISS "https://idp.test"

static const char policy_yaml[] =
	"issuers:\n"
	"  - { iss: \"" ISS "\", audiences: [aalgate], jwks_file: jwks.json }\n"
	"workflows:\n"
	"  admin: { aal: 3, phishing_resistant: true, device: managed,\n"
	"           max_age: 12h, idle: 15m,\n"
	"           jit: { max: 1h, approvers: \"group:admins\", "
	"approvals: 1 } }\n"
	"  ops:   { aal: 2, jit: { max: 2h, approvers: \"group:admins\", "
	"approvals: 2 } }\n"
	"  solo:  { aal: 1, jit: { max: 1h, approvals: 0 } }\n"
	"  staff: { aal: 1 }\n"
	"  net:   { aal: 2, networks: [10.20.0.0/16],\n"
	"           jit: { max: 1h, approvers: \"group:admins\" } }\n"
	"groups:\n"
	"  admins: [bob, carol, dave]\n"
	"break_glass: { approvals: 1, max: 4h, alert: true }\n"
	"acr:\n"
	"  phrh: { aal: 3, phishing_resistant: true, hardware: true }\n"
	"  aal2: { aal: 2 }\n"
	"  aal1: { aal: 1 }\n";

struct fix {
	char dir[256];
	char db[300];
	char log[300];
	struct ag_policy *p;
	struct ag_gate *g;
	struct ag_store *s;
	struct ag_grant_ctx ctx;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct ag_error err;
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/ag-grants-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/state.db", f->dir);
	snprintf(f->log, sizeof(f->log), "%s/decisions.jsonl", f->dir);
	f->p = policy_ok(policy_yaml);
	ag_error_init(&err);
	assert_int_equal(ag_gate_new(f->p, &f->g, &err), AG_OK);
	if (ag_store_open(f->db, NULL, &f->s, &err) != AG_OK)
		fail_msg("%s", err.msg);
	f->ctx.policy = f->p;
	f->ctx.gate = f->g;
	f->ctx.store = f->s;
	*state = f;
	return 0;
}

static void rm_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char p[600];
	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(path);
}

static int teardown(void **state)
{
	struct fix *f = *state;
	ag_store_close(f->s);
	ag_gate_free(f->g);
	ag_policy_free(f->p);
	rm_dir(f->dir);
	free(f);
	return 0;
}

/* ---- tokens ------------------------------------------------------------ */

/* Verified claims as the CLI and the gate hand them over.  age: seconds
 * since auth_time. */
static struct ag_claims tok(const char *sub, const char *acr, const char *jti,
			    int64_t age)
{
	struct ag_claims c;
	ag_claims_init(&c);
	c.iss = strdup(ISS);
	c.sub = strdup(sub);
	c.acr = strdup(acr);
	if (jti)
		c.jti = strdup(jti);
	c.has_auth_time = true;
	c.auth_time = T0 - age;
	c.has_iat = c.has_exp = true;
	c.iat = T0 - 60;
	c.exp = T0 + 86400;
	return c;
}

static uint64_t request_ok(struct fix *f, const char *who, const char *wf,
			   int64_t dur, int64_t now, struct ag_grant_result *res)
{
	/* The requester authenticates at the workflow's level. */
	struct ag_claims c = tok(who, "phrh", NULL, 60);
	struct ag_grant_caller caller = {.claims = &c, .token = "t.o.k",
					 .token_len = 5};
	struct ag_grant_ask ask = {.workflow = wf, .duration = dur,
				   .reason = "incident 42"};
	struct ag_error err;
	ag_error_init(&err);
	if (ag_grant_request(&f->ctx, &caller, &ask, now, res, &err) != AG_OK)
		fail_msg("request by %s for %s: %s", who, wf, err.msg);
	ag_claims_release(&c);
	assert_int_equal(res->refusal, AG_GREF_NONE);
	return res->grant.id;
}

static void request_fails(struct fix *f, const char *who,
			  const struct ag_grant_ask *ask,
			  enum ag_grant_refusal why, const char *msg)
{
	struct ag_claims c = tok(who, "phrh", NULL, 60);
	struct ag_grant_caller caller = {.claims = &c, .token = "t.o.k",
					 .token_len = 5};
	struct ag_grant_result res;
	struct ag_error err;
	ag_error_init(&err);
	assert_int_equal(ag_grant_request(&f->ctx, &caller, ask, T0, &res,
					  &err),
			 AG_ERR_INVALID);
	assert_int_equal(res.refusal, why);
	assert_string_equal(err.msg, msg);
	assert_false(res.activated);
	ag_grant_release(&res.grant);
	ag_claims_release(&c);
}

enum act { APPROVE, DENY, REVOKE };

/* Runs act with the token; returns the ag_code, fills res (release). */
static ag_code act(struct fix *f, enum act a, const struct ag_claims *c,
		   uint64_t id, int64_t now, struct ag_grant_result *res,
		   struct ag_error *err)
{
	struct ag_grant_caller caller = {.claims = c, .token = "t.o.k",
					 .token_len = 5};
	ag_error_init(err);
	switch (a) {
	case APPROVE:
		return ag_grant_approve(&f->ctx, &caller, id, now, res, err);
	case DENY:
		return ag_grant_deny(&f->ctx, &caller, id, now, res, err);
	default:
		return ag_grant_revoke(&f->ctx, &caller, id, now, res, err);
	}
}

static void act_ok(struct fix *f, enum act a, const char *who,
		   const char *acr, const char *jti, uint64_t id, int64_t now,
		   bool activates)
{
	struct ag_claims c = tok(who, acr, jti, 60);
	struct ag_grant_result res;
	struct ag_error err;
	if (act(f, a, &c, id, now, &res, &err) != AG_OK)
		fail_msg("%s by %s: %s", a == APPROVE ? "approve" : "other",
			 who, err.msg);
	assert_int_equal(res.refusal, AG_GREF_NONE);
	assert_int_equal(res.activated, activates);
	assert_true(res.journal_seq > 0);
	assert_int_equal(res.grant.id, id);
	ag_grant_release(&res.grant);
	ag_claims_release(&c);
}

static void act_fails(struct fix *f, enum act a, const struct ag_claims *c,
		      uint64_t id, int64_t now, enum ag_grant_refusal why,
		      const char *msg)
{
	struct ag_grant_result res;
	struct ag_error err;
	assert_int_equal(act(f, a, c, id, now, &res, &err), AG_ERR_INVALID);
	assert_string_equal(err.msg, msg);
	assert_int_equal(res.refusal, why);
	assert_false(res.activated);
	assert_int_equal(res.journal_seq, 0);
	ag_grant_release(&res.grant);
}

static bool active(struct fix *f, const char *acct, const char *wf,
		   const char *host, int64_t now)
{
	bool a = true;
	struct ag_error err;
	ag_error_init(&err);
	if (ag_store_grant_active(f->s, acct, wf, host, now, &a, &err))
		fail_msg("grant_active: %s", err.msg);
	return a;
}

static enum ag_grant_state state_of(struct fix *f, uint64_t id, int64_t now)
{
	struct ag_grant g;
	struct ag_error err;
	ag_error_init(&err);
	if (ag_grant_get(f->s, id, &g, &err) != AG_OK)
		fail_msg("get %llu: %s", (unsigned long long)id, err.msg);
	enum ag_grant_state st = ag_grant_state_at(&g, now);
	ag_grant_release(&g);
	return st;
}

/* The journal, drained into the decision log: its records. */
static json_t *logged(struct fix *f)
{
	struct ag_dlog *l = NULL;
	struct ag_error err;
	uint64_t n;
	ag_error_init(&err);
	assert_int_equal(ag_dlog_open(f->log, &l, &err), AG_OK);
	if (ag_store_journal_drain(f->s, l, &n, &err) != AG_OK)
		fail_msg("drain: %s", err.msg);
	ag_dlog_close(l);
	struct ag_dlog_verify v;
	assert_int_equal(ag_dlog_verify_file(f->log, &v, &err), AG_OK);

	json_t *arr = json_array();
	FILE *fp = fopen(f->log, "r");
	char line[70000];
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp)) {
		json_t *o = json_loads(line, 0, NULL);
		assert_non_null(o);
		json_array_append_new(arr, o);
	}
	fclose(fp);
	return arr;
}

static size_t count_type(json_t *recs, const char *type)
{
	size_t n = 0, i;
	json_t *r;
	json_array_foreach(recs, i, r)
	{
		if (!strcmp(json_string_value(json_object_get(r, "type")),
			    type))
			n++;
	}
	return n;
}

static json_t *last_of(json_t *recs, const char *type)
{
	json_t *found = NULL, *r;
	size_t i;
	json_array_foreach(recs, i, r)
	{
		if (!strcmp(json_string_value(json_object_get(r, "type")),
			    type))
			found = r;
	}
	if (!found)
		fail_msg("no record of type %s", type);
	return found;
}

static const char *str(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_string(v))
		fail_msg("no string '%s'", k);
	return json_string_value(v);
}

/* ---- the tests --------------------------------------------------------- */

static void test_approve_activates_and_expires(void **state)
{
	struct fix *f = *state;
	struct ag_grant_result res;

	uint64_t id = request_ok(f, "alice", "admin", 1800, T0, &res);
	assert_int_equal(id, 1);
	assert_int_equal(res.grant.state, AG_GRANT_PENDING);
	assert_false(res.activated);
	assert_string_equal(res.grant.account, "alice");
	assert_string_equal(res.grant.reason, "incident 42");
	assert_int_equal(res.grant.approvals_needed, 1);
	assert_int_equal(res.grant.requested, T0);
	ag_grant_release(&res.grant);
	assert_false(active(f, "alice", "admin", NULL, T0));

	/* The expiry clock starts at activation, not at the request. */
	act_ok(f, APPROVE, "bob", "phrh", "j-bob", id, T0 + 600, true);
	assert_false(active(f, "alice", "admin", NULL, T0 + 599));
	assert_true(active(f, "alice", "admin", NULL, T0 + 600));
	assert_true(active(f, "alice", "admin", NULL, T0 + 600 + 1799));
	assert_false(active(f, "alice", "admin", NULL, T0 + 600 + 1800));
	assert_false(active(f, "alice", "staff", NULL, T0 + 700));
	assert_false(active(f, "bob", "admin", NULL, T0 + 700));
	/* No hosts named: every host. */
	assert_true(active(f, "alice", "admin", "db1.example", T0 + 700));
	assert_int_equal(state_of(f, id, T0 + 700), AG_GRANT_ACTIVE);
	assert_int_equal(state_of(f, id, T0 + 2400), AG_GRANT_EXPIRED);

	struct ag_grant g;
	assert_int_equal(ag_grant_get(f->s, id, &g, NULL), AG_OK);
	assert_int_equal(g.activated, T0 + 600);
	assert_int_equal(g.expires, T0 + 2400);
	assert_int_equal(g.n_approvals, 1);
	assert_string_equal(g.approvals[0].approver, "bob");
	char *txt = ag_grant_json(&g, T0 + 2400);
	json_t *o = json_loads(txt, 0, NULL);
	assert_string_equal(str(o, "state"), "expired");
	assert_string_equal(str(o, "expires"), "2023-11-14T22:53:20Z");
	json_decref(o);
	free(txt);
	ag_grant_release(&g);

	/* An approval of an active grant: not pending. */
	struct ag_claims c = tok("carol", "phrh", "j-carol", 60);
	act_fails(f, APPROVE, &c, id, T0 + 700, AG_GREF_NOT_PENDING,
		  "grant 1 is active, not pending");
	ag_claims_release(&c);

	json_t *recs = logged(f);
	assert_int_equal(count_type(recs, "grant_request"), 1);
	assert_int_equal(count_type(recs, "grant_approve"), 1);
	assert_int_equal(count_type(recs, "grant_activate"), 1);
	assert_int_equal(count_type(recs, "grant_refused"), 1);
	json_t *a = last_of(recs, "grant_approve");
	assert_string_equal(str(a, "approver"), "bob");
	assert_string_equal(str(a, "jti"), "j-bob");
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(a, "assurance"), "aal")),
			 3);
	json_t *act = last_of(recs, "grant_activate");
	assert_string_equal(str(act, "expires"), "2023-11-14T22:53:20Z");
	assert_null(json_object_get(act, "obligation"));
	json_t *r = last_of(recs, "grant_refused");
	assert_string_equal(str(r, "refusal"), "not_pending");
	assert_string_equal(str(r, "caller"), "carol");
	json_decref(recs);
}

static void test_self_approval_refused(void **state)
{
	struct fix *f = *state;
	struct ag_grant_result res;

	/* bob is an admin, but not his own approver. */
	uint64_t id = request_ok(f, "bob", "admin", 600, T0, &res);
	ag_grant_release(&res.grant);
	struct ag_claims c = tok("bob", "phrh", "j1", 60);
	act_fails(f, APPROVE, &c, id, T0, AG_GREF_SELF_APPROVAL,
		  "'bob' requested grant 1 and may not approve it: an "
		  "approver is someone else");
	act_fails(f, DENY, &c, id, T0, AG_GREF_SELF_APPROVAL,
		  "'bob' requested grant 1 and may not deny it: an approver "
		  "is someone else");
	ag_claims_release(&c);
	/* nor as "BOB", where the identity provider echoes the case typed */
	c = tok("BOB", "phrh", "j2", 60);
	act_fails(f, APPROVE, &c, id, T0, AG_GREF_SELF_APPROVAL,
		  "'bob' requested grant 1 and may not approve it: an "
		  "approver is someone else");
	ag_claims_release(&c);
	assert_int_equal(state_of(f, id, T0), AG_GRANT_PENDING);
	assert_false(active(f, "bob", "admin", NULL, T0));
}

static void test_non_member_refused(void **state)
{
	struct fix *f = *state;
	struct ag_grant_result res;

	uint64_t id = request_ok(f, "alice", "admin", 600, T0, &res);
	ag_grant_release(&res.grant);
	struct ag_claims c = tok("eve", "phrh", "j-eve", 60);
	act_fails(f, APPROVE, &c, id, T0, AG_GREF_NOT_APPROVER,
		  "'eve' is not an approver of workflow 'admin': approvers "
		  "are the members of group 'admins'");
	act_fails(f, DENY, &c, id, T0, AG_GREF_NOT_APPROVER,
		  "'eve' is not an approver of workflow 'admin': approvers "
		  "are the members of group 'admins'");
	act_fails(f, REVOKE, &c, id, T0, AG_GREF_NOT_ALLOWED,
		  "'eve' may not revoke grant 1: only its requester "
		  "('alice') or an approver (the members of group 'admins') "
		  "may");
	ag_claims_release(&c);
	/* A member of another issuer is someone else. */
	c = tok("bob", "phrh", "j-x", 60);
	free(c.iss);
	c.iss = strdup("https://other.test");
	act_fails(f, APPROVE, &c, id, T0, AG_GREF_IDENTITY,
		  "the token does not name an account: issuer "
		  "'https://other.test' is not the policy's issuer");
	ag_claims_release(&c);
	assert_int_equal(state_of(f, id, T0), AG_GRANT_PENDING);
}

static void test_weak_approver_refused(void **state)
{
	struct fix *f = *state;
	struct ag_grant_result res;

	uint64_t id = request_ok(f, "alice", "admin", 600, T0, &res);
	ag_grant_release(&res.grant);
	struct ag_claims c = tok("bob", "aal1", "j-aal1", 60);
	act_fails(f, APPROVE, &c, id, T0, AG_GREF_ASSURANCE,
		  "the approver's token does not meet workflow 'admin': "
		  "workflow 'admin' requires AAL3, phishing-resistant, "
		  "hardware; the token shows AAL1");
	ag_claims_release(&c);
	/* AAL2 is not enough for an AAL3 workflow either. */
	c = tok("bob", "aal2", "j-aal2", 60);
	act_fails(f, APPROVE, &c, id, T0, AG_GREF_ASSURANCE,
		  "the approver's token does not meet workflow 'admin': "
		  "workflow 'admin' requires AAL3, phishing-resistant, "
		  "hardware; the token shows AAL2");
	ag_claims_release(&c);
	/* AAL3, but authenticated 13 hours ago: over max_age (12h). */
	c = tok("bob", "phrh", "j-old", 13 * 3600);
	act_fails(f, APPROVE, &c, id, T0, AG_GREF_ASSURANCE,
		  "the approver's token does not meet workflow 'admin': "
		  "authentication is 46800s old; workflow 'admin' allows "
		  "43200s");
	ag_claims_release(&c);
	/* Without auth_time the age cannot be judged. */
	c = tok("bob", "phrh", "j-noat", 60);
	c.has_auth_time = false;
	act_fails(f, APPROVE, &c, id, T0, AG_GREF_ASSURANCE,
		  "the approver's token does not meet workflow 'admin': "
		  "workflow 'admin' needs authentication within 43200s and "
		  "the token has no auth_time");
	ag_claims_release(&c);
	assert_int_equal(state_of(f, id, T0), AG_GRANT_PENDING);
	/* The refused tokens were not spent: a good one still works, and
	 * the device and network of the approver do not count. */
	act_ok(f, APPROVE, "bob", "phrh", "j-good", id, T0, true);

	/* A workflow held to networks: an approver is not held to them. */
	id = request_ok(f, "alice", "net", 600, T0, &res);
	ag_grant_release(&res.grant);
	act_ok(f, APPROVE, "carol", "aal2", "j-net", id, T0, true);
}

static void test_replay_refused(void **state)
{
	struct fix *f = *state;
	struct ag_grant_result res;

	/* ops needs two approvals. */
	uint64_t id = request_ok(f, "alice", "ops", 3600, T0, &res);
	assert_int_equal(res.grant.approvals_needed, 2);
	ag_grant_release(&res.grant);
	act_ok(f, APPROVE, "bob", "aal2", "j1", id, T0, false);
	assert_false(active(f, "alice", "ops", NULL, T0));

	/* bob again, with a fresh token: not a second approver. */
	struct ag_claims c = tok("bob", "aal2", "j2", 60);
	act_fails(f, APPROVE, &c, id, T0 + 1, AG_GREF_REPLAY,
		  "'bob' approved grant 1 already: approvals must come from "
		  "distinct approvers");
	ag_claims_release(&c);
	/* bob's token (its jti) shown again by carol: a replay. */
	c = tok("carol", "aal2", "j1", 60);
	act_fails(f, APPROVE, &c, id, T0 + 1, AG_GREF_REPLAY,
		  "this token served an approval before; approve with a "
		  "fresh token");
	ag_claims_release(&c);
	/* ...on another grant too. */
	uint64_t id2 = request_ok(f, "erin", "admin", 600, T0, &res);
	ag_grant_release(&res.grant);
	c = tok("bob", "phrh", "j1", 60);
	act_fails(f, APPROVE, &c, id2, T0 + 1, AG_GREF_REPLAY,
		  "this token served an approval before; approve with a "
		  "fresh token");
	ag_claims_release(&c);
	/* A token without jti is known by its digest. */
	struct ag_grant_caller caller;
	struct ag_error err;
	c = tok("carol", "aal2", NULL, 60);
	caller = (struct ag_grant_caller){.claims = &c, .token = "aaa.bbb.ccc",
					  .token_len = 11};
	ag_error_init(&err);
	assert_int_equal(ag_grant_approve(&f->ctx, &caller, id, T0 + 2, &res,
					  &err),
			 AG_OK);
	assert_true(res.activated);
	ag_grant_release(&res.grant);
	ag_claims_release(&c);
	c = tok("dave", "phrh", NULL, 60);
	caller.claims = &c;
	assert_int_equal(ag_grant_approve(&f->ctx, &caller, id2, T0 + 3, &res,
					  &err),
			 AG_ERR_INVALID);
	assert_int_equal(res.refusal, AG_GREF_REPLAY);
	ag_grant_release(&res.grant);
	/* ...by what it signs: another signature over the same header and
	 * payload (an ECDSA (r, n - s) verifies too) is the same token. */
	caller.token = "aaa.bbb.other-signature";
	caller.token_len = strlen(caller.token);
	assert_int_equal(ag_grant_approve(&f->ctx, &caller, id2, T0 + 3, &res,
					  &err),
			 AG_ERR_INVALID);
	assert_int_equal(res.refusal, AG_GREF_REPLAY);
	ag_grant_release(&res.grant);
	/* Without jti and without the token, a reuse could not be seen. */
	caller.token = NULL;
	caller.token_len = 0;
	assert_int_equal(ag_grant_approve(&f->ctx, &caller, id2, T0 + 3, &res,
					  &err),
			 AG_ERR_USAGE);
	ag_grant_release(&res.grant);
	ag_claims_release(&c);
	assert_true(active(f, "alice", "ops", NULL, T0 + 2));
	assert_int_equal(state_of(f, id2, T0 + 3), AG_GRANT_PENDING);

	json_t *recs = logged(f);
	assert_int_equal(count_type(recs, "grant_activate"), 1);
	assert_int_equal(count_type(recs, "grant_approve"), 2);
	assert_int_equal(count_type(recs, "grant_refused"), 5);
	json_decref(recs);
}

/* PAM sees no token when a grant is used: the requester authenticates at
 * the workflow's own level when asking, or an AAL1 password would be lifted
 * to the workflow by one approval.  A break-glass account is exempt. */
static void test_weak_requester_refused(void **state)
{
	struct fix *f = *state;
	struct ag_claims c = tok("alice", "aal2", NULL, 60);
	struct ag_grant_caller caller = {.claims = &c, .token = "w.e.a",
					 .token_len = 5};
	struct ag_grant_ask ask = {.workflow = "admin", .duration = 600,
				   .reason = "r"};
	struct ag_grant_result res;
	struct ag_error err;
	ag_error_init(&err);
	assert_int_equal(ag_grant_request(&f->ctx, &caller, &ask, T0, &res,
					  &err),
			 AG_ERR_INVALID);
	assert_int_equal(res.refusal, AG_GREF_ASSURANCE);
	assert_non_null(strstr(err.msg, "the requester's token does not meet "
					"workflow 'admin'"));
	ag_grant_release(&res.grant);
	/* AAL2 is enough for ops. */
	ask.workflow = "ops";
	assert_int_equal(ag_grant_request(&f->ctx, &caller, &ask, T0, &res,
					  &err),
			 AG_OK);
	assert_int_equal(res.refusal, AG_GREF_NONE);
	ag_grant_release(&res.grant);
	ag_claims_release(&c);
}

static void test_request_checks(void **state)
{
	struct fix *f = *state;
	struct ag_grant_ask ask = {.workflow = "admin", .duration = 7200,
				   .reason = "incident"};

	request_fails(f, "alice", &ask, AG_GREF_TOO_LONG,
		      "workflow 'admin' grants at most jit.max (1h), not 2h");
	ask.duration = 3601;
	request_fails(f, "alice", &ask, AG_GREF_TOO_LONG,
		      "workflow 'admin' grants at most jit.max (1h), not "
		      "3601s");
	ask.duration = 3600;
	ask.reason = "";
	request_fails(f, "alice", &ask, AG_GREF_BAD_REQUEST,
		      "a request needs a reason: say why the access is "
		      "needed");
	ask.reason = "   ";
	request_fails(f, "alice", &ask, AG_GREF_BAD_REQUEST,
		      "a request needs a reason: say why the access is "
		      "needed");
	ask.reason = "line\nbreak";
	request_fails(f, "alice", &ask, AG_GREF_BAD_REQUEST,
		      "the reason holds a control character");
	char longr[AG_GRANT_REASON_MAX + 2];
	memset(longr, 'x', sizeof(longr) - 1);
	longr[sizeof(longr) - 1] = '\0';
	ask.reason = longr;
	request_fails(f, "alice", &ask, AG_GREF_BAD_REQUEST,
		      "the reason is longer than 1024 bytes");
	ask.reason = "ok";
	ask.workflow = "staff";
	request_fails(f, "alice", &ask, AG_GREF_NO_JIT,
		      "workflow 'staff' has no jit: its access is not granted "
		      "just in time");
	ask.workflow = "admn";
	request_fails(f, "alice", &ask, AG_GREF_UNKNOWN_WORKFLOW,
		      "no workflow 'admn' in policy.yaml; did you mean "
		      "'admin'?");
	ask.workflow = "admin";
	const char *bad_hosts[] = {"db1 example"};
	ask.hosts = bad_hosts;
	ask.n_hosts = 1;
	request_fails(f, "alice", &ask, AG_GREF_BAD_REQUEST,
		      "'db1 example' is not a host name");
	assert_false(active(f, "alice", "admin", NULL, T0));

	/* Nothing was granted; each refusal is in the log. */
	json_t *recs = logged(f);
	assert_int_equal(count_type(recs, "grant_request"), 0);
	assert_int_equal(count_type(recs, "grant_refused"), 9);
	json_t *r = json_array_get(recs, 0);
	assert_string_equal(str(r, "refusal"), "too_long");
	assert_string_equal(str(r, "op"), "request");
	assert_string_equal(str(r, "workflow"), "admin");
	json_decref(recs);

	/* jit.approvals 0: active at once. */
	struct ag_grant_result res;
	request_ok(f, "alice", "solo", 60, T0, &res);
	assert_true(res.activated);
	assert_int_equal(res.grant.state, AG_GRANT_ACTIVE);
	ag_grant_release(&res.grant);
	assert_true(active(f, "alice", "solo", NULL, T0 + 59));
	assert_false(active(f, "alice", "solo", NULL, T0 + 60));
}

static void test_hosts(void **state)
{
	struct fix *f = *state;
	struct ag_claims c = tok("alice", "phrh", NULL, 60);
	struct ag_grant_caller caller = {.claims = &c, .token = "x.y.z",
					 .token_len = 5};
	const char *hosts[] = {"DB1.example.", "db2.example", "db1.example"};
	struct ag_grant_ask ask = {.workflow = "admin", .duration = 600,
				   .reason = "r", .hosts = hosts,
				   .n_hosts = 3};
	struct ag_grant_result res;
	struct ag_error err;
	ag_error_init(&err);
	assert_int_equal(ag_grant_request(&f->ctx, &caller, &ask, T0, &res,
					  &err),
			 AG_OK);
	assert_int_equal(res.grant.n_hosts, 2);
	assert_string_equal(res.grant.hosts[0], "db1.example");
	assert_string_equal(res.grant.hosts[1], "db2.example");
	uint64_t id = res.grant.id;
	ag_grant_release(&res.grant);
	ag_claims_release(&c);
	act_ok(f, APPROVE, "bob", "phrh", "jh", id, T0, true);
	assert_true(active(f, "alice", "admin", "db1.example", T0));
	assert_true(active(f, "alice", "admin", "DB2.EXAMPLE", T0));
	assert_false(active(f, "alice", "admin", "db3.example", T0));
	assert_true(active(f, "alice", "admin", NULL, T0));
	/* The gate's use names no host: a grant for some hosts is not one
	 * for every host. */
	bool ok = true;
	assert_int_equal(ag_grant_use(f->s, f->p, ISS, "alice", "admin", NULL,
				      T0, &ok, &err),
			 AG_OK);
	assert_false(ok);
	assert_int_equal(ag_grant_use(f->s, f->p, ISS, "alice", "admin",
				      "db2.example", T0, &ok, &err),
			 AG_OK);
	assert_true(ok);
}

static void test_deny_and_revoke(void **state)
{
	struct fix *f = *state;
	struct ag_grant_result res;

	uint64_t id = request_ok(f, "alice", "admin", 600, T0, &res);
	ag_grant_release(&res.grant);
	act_ok(f, DENY, "carol", "aal1", NULL, id, T0 + 5, false);
	assert_int_equal(state_of(f, id, T0 + 5), AG_GRANT_DENIED);
	struct ag_claims c = tok("bob", "phrh", "jd", 60);
	act_fails(f, APPROVE, &c, id, T0 + 6, AG_GREF_NOT_PENDING,
		  "grant 1 is denied, not pending");
	act_fails(f, REVOKE, &c, id, T0 + 6, AG_GREF_CLOSED,
		  "grant 1 is denied already");
	ag_claims_release(&c);

	/* A request that waited a day is stale. */
	uint64_t stale = request_ok(f, "alice", "admin", 600, T0, &res);
	ag_grant_release(&res.grant);
	c = tok("bob", "phrh", "j-stale", 60);
	c.auth_time = T0 + AG_GRANT_PENDING_MAX - 60;
	act_fails(f, APPROVE, &c, stale, T0 + AG_GRANT_PENDING_MAX,
		  AG_GREF_NOT_PENDING, "grant 2 is expired, not pending");
	ag_claims_release(&c);
	assert_int_equal(state_of(f, stale, T0 + AG_GRANT_PENDING_MAX - 1),
			 AG_GRANT_PENDING);

	/* Revoked while in use: denied from the next check on. */
	id = request_ok(f, "alice", "admin", 600, T0, &res);
	ag_grant_release(&res.grant);
	act_ok(f, APPROVE, "bob", "phrh", "jr", id, T0 + 10, true);
	bool ok = false;
	struct ag_error err;
	ag_error_init(&err);
	assert_int_equal(ag_grant_use(f->s, f->p, ISS, "alice", "admin", NULL,
				      T0 + 11, &ok, &err),
			 AG_OK);
	assert_true(ok);
	act_ok(f, REVOKE, "alice", "aal1", NULL, id, T0 + 12, false);
	assert_int_equal(ag_grant_use(f->s, f->p, ISS, "alice", "admin", NULL,
				      T0 + 12, &ok, &err),
			 AG_OK);
	assert_false(ok);
	assert_int_equal(state_of(f, id, T0 + 12), AG_GRANT_REVOKED);
	struct ag_grant g;
	assert_int_equal(ag_grant_get(f->s, id, &g, NULL), AG_OK);
	assert_string_equal(g.closed_by, "alice");
	assert_int_equal(g.closed, T0 + 12);
	ag_grant_release(&g);

	/* An approver may revoke too; an expired grant is over. */
	id = request_ok(f, "alice", "admin", 60, T0, &res);
	ag_grant_release(&res.grant);
	act_ok(f, APPROVE, "bob", "phrh", "jr2", id, T0, true);
	c = tok("dave", "aal1", NULL, 60);
	act_fails(f, REVOKE, &c, id, T0 + 60, AG_GREF_CLOSED,
		  "grant 4 is expired already");
	ag_claims_release(&c);
	act_ok(f, REVOKE, "dave", "aal1", NULL, id, T0 + 30, false);
	c = tok("dave", "aal1", NULL, 60);
	act_fails(f, REVOKE, &c, 99, T0, AG_GREF_NOT_FOUND, "no grant 99");
	ag_claims_release(&c);

	json_t *recs = logged(f);
	assert_int_equal(count_type(recs, "grant_deny"), 1);
	assert_int_equal(count_type(recs, "grant_revoke"), 2);
	json_t *r = last_of(recs, "grant_revoke");
	assert_string_equal(str(r, "by"), "dave");
	assert_string_equal(str(r, "was"), "active");
	json_decref(recs);
}

static void test_break_glass(void **state)
{
	struct fix *f = *state;
	struct ag_grant_result res;
	struct ag_error err;
	bool changed = false, on = false;

	ag_error_init(&err);
	assert_int_equal(ag_store_break_glass_set(f->s, "root", true, T0,
						  &changed, &err),
			 AG_OK);
	assert_true(changed);
	assert_int_equal(ag_store_break_glass_set(f->s, "root", true, T0,
						  &changed, &err),
			 AG_OK);
	assert_false(changed);
	assert_int_equal(ag_store_break_glass_get(f->s, "root", &on, &err),
			 AG_OK);
	assert_true(on);
	assert_int_equal(ag_store_break_glass_get(f->s, "alice", &on, &err),
			 AG_OK);
	assert_false(on);

	/* Capped by break_glass.max (4h), not jit.max (1h). */
	struct ag_grant_ask ask = {.workflow = "admin", .duration = 5 * 3600,
				   .reason = "outage"};
	request_fails(f, "root", &ask, AG_GREF_TOO_LONG,
		      "'root' is a break-glass account: a grant lasts at most "
		      "break_glass.max (4h), not 5h");
	uint64_t id = request_ok(f, "root", "admin", 3 * 3600, T0, &res);
	assert_true(res.grant.break_glass);
	assert_int_equal(res.grant.approvals_needed, 1);
	assert_false(res.activated);
	ag_grant_release(&res.grant);
	/* Without its approval, break-glass use is refused. */
	bool ok = true;
	assert_int_equal(ag_grant_use(f->s, f->p, ISS, "root", "admin", NULL,
				      T0 + 1, &ok, &err),
			 AG_OK);
	assert_false(ok);
	act_ok(f, APPROVE, "bob", "phrh", "jbg", id, T0 + 10, true);
	assert_true(active(f, "root", "admin", NULL, T0 + 10 + 3 * 3600 - 1));
	assert_false(active(f, "root", "admin", NULL, T0 + 10 + 3 * 3600));

	/* A what-if only looks (ag_grant_held): no alert, and nothing kept
	 * that would hold back the alert of the real use at T0 + 20. */
	ok = false;
	assert_int_equal(ag_grant_held(f->s, f->p, ISS, "root", "admin", NULL,
				       T0 + 19, &ok, &err),
			 AG_OK);
	assert_true(ok);
	struct ag_grant held;
	assert_int_equal(ag_grant_get(f->s, id, &held, &err), AG_OK);
	assert_int_equal(held.last_alert, 0);
	ag_grant_release(&held);
	json_t *before = logged(f);
	assert_int_equal(count_type(before, "break_glass_use"), 0);
	json_decref(before);
	ok = true;
	assert_int_equal(ag_grant_held(f->s, f->p, ISS, "root", "admin", NULL,
				       T0 + 10 + 3 * 3600, &ok, &err),
			 AG_OK);
	assert_false(ok); /* expired */

	/* Every use is alerted, at most once a minute per grant. */
	int64_t uses[] = {T0 + 20, T0 + 30, T0 + 79, T0 + 80, T0 + 81,
			  T0 + 200};
	for (size_t i = 0; i < sizeof(uses) / sizeof(uses[0]); i++) {
		ok = false;
		assert_int_equal(ag_grant_use(f->s, f->p, ISS, "root",
					      "admin", NULL, uses[i], &ok,
					      &err),
				 AG_OK);
		assert_true(ok);
	}
	json_t *recs = logged(f);
	assert_int_equal(count_type(recs, "break_glass_mark"), 1);
	json_t *a = last_of(recs, "grant_activate");
	assert_string_equal(str(a, "obligation"), "alert");
	assert_true(json_is_true(json_object_get(a, "break_glass")));
	assert_string_equal(str(a, "message"),
			    "break-glass account 'root' activated for "
			    "workflow 'admin' with 1 approval");
	assert_int_equal(count_type(recs, "break_glass_use"), 3);
	json_t *u = last_of(recs, "break_glass_use");
	assert_string_equal(str(u, "obligation"), "alert");
	assert_string_equal(str(u, "account"), "root");
	assert_string_equal(str(u, "time"), "2023-11-14T22:16:40Z");
	json_decref(recs);

	/* An ordinary grant's use raises nothing. */
	id = request_ok(f, "alice", "admin", 600, T0, &res);
	ag_grant_release(&res.grant);
	act_ok(f, APPROVE, "bob", "phrh", "jn", id, T0, true);
	assert_int_equal(ag_grant_use(f->s, f->p, ISS, "alice", "admin", NULL,
				      T0 + 1, &ok, &err),
			 AG_OK);
	assert_true(ok);
	recs = logged(f);
	assert_int_equal(count_type(recs, "break_glass_use"), 3);
	json_decref(recs);

	/* Unmarked: later requests are ordinary again. */
	assert_int_equal(ag_store_break_glass_set(f->s, "root", false, T0,
						  &changed, &err),
			 AG_OK);
	assert_true(changed);
	id = request_ok(f, "root", "admin", 600, T0, &res);
	assert_false(res.grant.break_glass);
	ag_grant_release(&res.grant);
}

/* break_glass.approvals 0: active at once, with an alert. */
static void test_break_glass_immediate(void **state)
{
	struct fix *f = *state;
	static const char yaml[] =
		"issuers:\n"
		"  - { iss: \"" ISS "\", audiences: [a], jwks_file: j.json }\n"
		"workflows:\n"
		"  admin: { aal: 3, jit: { max: 1h, approvers: "
		"\"group:admins\" } }\n"
		"groups: { admins: [bob] }\n"
		"break_glass: { approvals: 0, max: 2h, alert: true }\n";
	struct ag_policy *p = policy_ok(yaml);
	struct ag_gate *g = NULL;
	assert_int_equal(ag_gate_new(p, &g, NULL), AG_OK);
	struct ag_grant_ctx ctx = {.policy = p, .gate = g, .store = f->s};
	struct ag_claims c = tok("root", "aal1", NULL, 60);
	struct ag_grant_caller caller = {.claims = &c, .token = "x.y.z",
					 .token_len = 5};
	struct ag_grant_ask ask = {.workflow = "admin", .duration = 3 * 3600,
				   .reason = "datacentre on fire"};
	struct ag_grant_result res;
	struct ag_error err;

	ag_error_init(&err);
	assert_int_equal(ag_store_break_glass_set(f->s, "root", true, T0,
						  NULL, &err),
			 AG_OK);
	assert_int_equal(ag_grant_request(&ctx, &caller, &ask, T0, &res, &err),
			 AG_ERR_INVALID);
	assert_string_equal(err.msg,
			    "'root' is a break-glass account: a grant lasts at "
			    "most break_glass.max (2h), not 3h");
	ask.duration = 2 * 3600;
	assert_int_equal(ag_grant_request(&ctx, &caller, &ask, T0, &res, &err),
			 AG_OK);
	assert_true(res.activated);
	assert_int_equal(res.grant.expires, T0 + 7200);
	ag_grant_release(&res.grant);
	ag_claims_release(&c);
	assert_true(active(f, "root", "admin", NULL, T0));
	json_t *recs = logged(f);
	json_t *a = last_of(recs, "grant_activate");
	assert_string_equal(str(a, "obligation"), "alert");
	assert_int_equal(json_integer_value(json_object_get(a, "approvals")),
			 0);
	json_decref(recs);
	ag_gate_free(g);
	ag_policy_free(p);
}

/* The tally of open grants (the gate's /metrics) follows each grant's
 * state at the time asked, as ag_grant_state_at does. */
struct want_tally {
	const char *workflow;
	bool break_glass;
	uint64_t pending, active;
};

static void tally_is(struct fix *f, int64_t now, const struct want_tally *w,
		     size_t n)
{
	struct ag_grant_tallies t = {0};
	struct ag_error err;
	ag_error_init(&err);
	if (ag_grant_tally(f->s, now, &t, &err) != AG_OK)
		fail_msg("tally: %s", err.msg);
	assert_int_equal(t.n, n);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(t.v[i].workflow, w[i].workflow);
		assert_int_equal(t.v[i].break_glass, w[i].break_glass);
		assert_int_equal(t.v[i].pending, w[i].pending);
		assert_int_equal(t.v[i].active, w[i].active);
	}
	ag_grant_tallies_release(&t);
}

static void test_tally(void **state)
{
	struct fix *f = *state;
	struct ag_grant_result res;
	struct ag_error err;

	tally_is(f, T0, NULL, 0);
	uint64_t adm = request_ok(f, "alice", "admin", 600, T0, &res);
	ag_grant_release(&res.grant);
	request_ok(f, "alice", "ops", 3600, T0, &res);
	ag_grant_release(&res.grant);
	request_ok(f, "erin", "solo", 600, T0, &res); /* no approvals */
	assert_true(res.activated);
	ag_grant_release(&res.grant);
	uint64_t net = request_ok(f, "erin", "net", 600, T0, &res);
	ag_grant_release(&res.grant);
	act_ok(f, DENY, "bob", "aal1", NULL, net, T0 + 1, false);
	ag_error_init(&err);
	assert_int_equal(ag_store_break_glass_set(f->s, "root", true, T0, NULL,
						  &err),
			 AG_OK);
	request_ok(f, "root", "admin", 600, T0, &res);
	assert_true(res.grant.break_glass);
	ag_grant_release(&res.grant);

	const struct want_tally before[] = {{"admin", false, 1, 0},
					    {"admin", true, 1, 0},
					    {"ops", false, 1, 0},
					    {"solo", false, 0, 1}};
	tally_is(f, T0 + 5, before, sizeof(before) / sizeof(before[0]));
	act_ok(f, APPROVE, "bob", "phrh", "jt1", adm, T0 + 10, true);
	const struct want_tally approved[] = {{"admin", false, 0, 1},
					      {"admin", true, 1, 0},
					      {"ops", false, 1, 0},
					      {"solo", false, 0, 1}};
	tally_is(f, T0 + 10, approved, sizeof(approved) / sizeof(approved[0]));
	/* solo's grant expires at T0 + 600, admin's at T0 + 610 */
	tally_is(f, T0 + 599, approved, sizeof(approved) / sizeof(approved[0]));
	const struct want_tally later[] = {{"admin", false, 0, 1},
					   {"admin", true, 1, 0},
					   {"ops", false, 1, 0}};
	tally_is(f, T0 + 600, later, sizeof(later) / sizeof(later[0]));
	tally_is(f, T0 + 609, later, sizeof(later) / sizeof(later[0]));
	const struct want_tally waiting[] = {{"admin", true, 1, 0},
					     {"ops", false, 1, 0}};
	tally_is(f, T0 + 610, waiting, sizeof(waiting) / sizeof(waiting[0]));
	/* requests that waited AG_GRANT_PENDING_MAX are no longer open */
	tally_is(f, T0 + AG_GRANT_PENDING_MAX - 1, waiting,
		 sizeof(waiting) / sizeof(waiting[0]));
	tally_is(f, T0 + AG_GRANT_PENDING_MAX, NULL, 0);
	assert_int_equal(ag_grant_tally(NULL, T0, NULL, &err), AG_ERR_USAGE);
}

/* An account marked break-glass after it asked: its approval is held to
 * break_glass.approvals too, and its activation alerted. */
static void test_marked_after_request(void **state)
{
	struct fix *f = *state;
	static const char yaml[] =
		"issuers:\n"
		"  - { iss: \"" ISS "\", audiences: [a], jwks_file: j.json }\n"
		"workflows:\n"
		"  admin: { aal: 3, jit: { max: 1h, approvers: "
		"\"group:admins\" } }\n"
		"groups: { admins: [bob, carol] }\n"
		"break_glass: { approvals: 2, max: 2h, alert: true }\n"
		"acr:\n"
		"  phrh: { aal: 3, phishing_resistant: true, hardware: true }\n";
	struct ag_policy *p = policy_ok(yaml);
	struct ag_gate *g = NULL;
	assert_int_equal(ag_gate_new(p, &g, NULL), AG_OK);
	struct ag_grant_ctx ctx = {.policy = p, .gate = g, .store = f->s};
	struct ag_claims c = tok("alice", "phrh", NULL, 60);
	struct ag_grant_caller caller = {.claims = &c, .token = "r.e.q",
					 .token_len = 5};
	struct ag_grant_ask ask = {.workflow = "admin", .duration = 1800,
				   .reason = "INC-7"};
	struct ag_grant_result res;
	struct ag_error err;

	ag_error_init(&err);
	assert_int_equal(ag_grant_request(&ctx, &caller, &ask, T0, &res, &err),
			 AG_OK);
	assert_false(res.grant.break_glass);
	assert_int_equal(res.grant.approvals_needed, 1);
	uint64_t id = res.grant.id;
	ag_grant_release(&res.grant);
	ag_claims_release(&c);
	assert_int_equal(ag_store_break_glass_set(f->s, "alice", true, T0 + 1,
						  NULL, &err),
			 AG_OK);

	/* One approval, as jit asked, no longer activates it ... */
	c = tok("bob", "phrh", "jm1", 60);
	caller = (struct ag_grant_caller){.claims = &c, .token = "b.o.b",
					  .token_len = 5};
	assert_int_equal(ag_grant_approve(&ctx, &caller, id, T0 + 2, &res,
					  &err),
			 AG_OK);
	assert_false(res.activated);
	ag_grant_release(&res.grant);
	ag_claims_release(&c);
	/* ... the second does, with the break-glass alert. */
	c = tok("carol", "phrh", "jm2", 60);
	caller = (struct ag_grant_caller){.claims = &c, .token = "c.a.r",
					  .token_len = 5};
	assert_int_equal(ag_grant_approve(&ctx, &caller, id, T0 + 3, &res,
					  &err),
			 AG_OK);
	assert_true(res.activated);
	assert_int_equal(res.grant.expires, T0 + 3 + 1800);
	ag_grant_release(&res.grant);
	ag_claims_release(&c);
	json_t *recs = logged(f);
	json_t *a = last_of(recs, "grant_activate");
	assert_string_equal(str(a, "obligation"), "alert");
	assert_true(json_is_true(json_object_get(a, "break_glass")));
	json_decref(recs);
	/* ...and it is stored as one, for listings and the gate's metrics */
	struct ag_grant got;
	assert_int_equal(ag_grant_get(f->s, id, &got, &err), AG_OK);
	assert_true(got.break_glass);
	ag_grant_release(&got);
	const struct want_tally open[] = {{"admin", true, 0, 1}};
	tally_is(f, T0 + 4, open, 1);
	ag_gate_free(g);
	ag_policy_free(p);
}

/* A listing is the newest grants, and says when it left older ones out. */
static void test_list_newest(void **state)
{
	struct fix *f = *state;
	struct ag_grant_result res;
	struct ag_grants l = {0};
	struct ag_error err;

	uint64_t a1 = request_ok(f, "alice", "admin", 600, T0, &res);
	ag_grant_release(&res.grant);
	uint64_t e1 = request_ok(f, "erin", "admin", 600, T0 + 1, &res);
	ag_grant_release(&res.grant);
	uint64_t a2 = request_ok(f, "alice", "ops", 600, T0 + 2, &res);
	ag_grant_release(&res.grant);

	ag_error_init(&err);
	assert_int_equal(ag_grant_list(f->s, NULL, 2, &l, &err), AG_OK);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[0].id, a2);
	assert_int_equal(l.v[1].id, e1);
	assert_true(l.truncated);
	ag_grants_release(&l);
	assert_false(l.truncated);

	assert_int_equal(ag_grant_list(f->s, NULL, 3, &l, &err), AG_OK);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.v[2].id, a1);
	assert_false(l.truncated);
	ag_grants_release(&l);

	assert_int_equal(ag_grant_list(f->s, "alice", 1, &l, &err), AG_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].id, a2);
	assert_true(l.truncated);
	ag_grants_release(&l);
	/* 0: the most there is */
	assert_int_equal(ag_grant_list(f->s, "alice", 0, &l, &err), AG_OK);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[1].id, a1);
	assert_false(l.truncated);
	ag_grants_release(&l);
}

/* Two approvers at the same instant, each through its own store handle
 * (as two processes would): one activation. */
struct racer {
	struct fix *f;
	const char *who;
	pthread_barrier_t *bar;
	uint64_t id;
	int round;
	ag_code rc;
	enum ag_grant_refusal why;
	bool activated;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct ag_store *s = NULL;
	struct ag_error err;
	ag_error_init(&err);
	if (ag_store_open(r->f->db, NULL, &s, &err) != AG_OK) {
		r->rc = AG_ERR_IO;
		pthread_barrier_wait(r->bar);
		return NULL;
	}
	struct ag_grant_ctx ctx = {.policy = r->f->p, .gate = r->f->g,
				   .store = s};
	char jti[32];
	snprintf(jti, sizeof(jti), "race-%s-%d", r->who, r->round);
	struct ag_claims c = tok(r->who, "phrh", jti, 60);
	struct ag_grant_caller caller = {.claims = &c};
	struct ag_grant_result res;
	pthread_barrier_wait(r->bar);
	r->rc = ag_grant_approve(&ctx, &caller, r->id, T0, &res, &err);
	r->why = res.refusal;
	r->activated = res.activated;
	ag_grant_release(&res.grant);
	ag_claims_release(&c);
	ag_store_close(s);
	return NULL;
}

static void test_simultaneous_approvals(void **state)
{
	struct fix *f = *state;
	struct ag_grant_result res;

	for (int round = 0; round < 20; round++) {
		uint64_t id = request_ok(f, "alice", "admin", 600, T0, &res);
		ag_grant_release(&res.grant);
		pthread_barrier_t bar;
		pthread_barrier_init(&bar, NULL, 2);
		struct racer r[2] = {{f, "bob", &bar, id, round, 0, 0, false},
				     {f, "carol", &bar, id, round, 0, 0,
				      false}};
		pthread_t t[2];
		for (int i = 0; i < 2; i++)
			pthread_create(&t[i], NULL, race, &r[i]);
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&bar);
		assert_int_equal((r[0].rc == AG_OK) + (r[1].rc == AG_OK), 1);
		assert_int_equal(r[0].activated + r[1].activated, 1);
		for (int i = 0; i < 2; i++)
			if (r[i].rc != AG_OK) {
				assert_int_equal(r[i].rc, AG_ERR_INVALID);
				assert_int_equal(r[i].why,
						 AG_GREF_NOT_PENDING);
			}
	}
	json_t *recs = logged(f);
	assert_int_equal(count_type(recs, "grant_activate"), 20);
	assert_int_equal(count_type(recs, "grant_approve"), 20);
	assert_int_equal(count_type(recs, "grant_refused"), 20);
	json_decref(recs);
}

static void test_read_only_denies(void **state)
{
	struct fix *f = *state;
	struct ag_grant_result res;

	uint64_t id = request_ok(f, "alice", "admin", 600, T0, &res);
	ag_grant_release(&res.grant);
	struct ag_store_opts ro = {.read_only = true};
	struct ag_store *s = NULL;
	struct ag_error err;
	ag_error_init(&err);
	assert_int_equal(ag_store_open(f->db, &ro, &s, &err), AG_OK);
	struct ag_grant_ctx ctx = {.policy = f->p, .gate = f->g, .store = s};
	struct ag_claims c = tok("bob", "phrh", "j-ro", 60);
	struct ag_grant_caller caller = {.claims = &c};
	ag_code rc = ag_grant_approve(&ctx, &caller, id, T0, &res, &err);
	assert_int_equal(rc, AG_ERR_IO);
	assert_int_equal(res.refusal, AG_GREF_NONE);
	assert_false(res.activated);
	assert_non_null(strstr(err.msg, "the state is read-only"));
	ag_grant_release(&res.grant);
	ag_claims_release(&c);
	ag_store_close(s);
	assert_int_equal(state_of(f, id, T0), AG_GRANT_PENDING);
	assert_false(active(f, "alice", "admin", NULL, T0));

	/* A break-glass use whose alert cannot be written is refused. */
	assert_int_equal(ag_store_break_glass_set(f->s, "root", true, T0, NULL,
						  &err),
			 AG_OK);
	id = request_ok(f, "root", "admin", 600, T0, &res);
	ag_grant_release(&res.grant);
	act_ok(f, APPROVE, "bob", "phrh", "j-bg", id, T0, true);
	assert_int_equal(ag_store_open(f->db, &ro, &s, &err), AG_OK);
	bool ok = true;
	assert_int_equal(ag_grant_use(s, f->p, ISS, "root", "admin", NULL, T0,
				      &ok, &err),
			 AG_ERR_IO);
	assert_false(ok);
	assert_non_null(strstr(err.msg, "read-only"));
	ag_store_close(s);
}

static void test_accounts_and_groups(void **state)
{
	(void)state;
	char buf[AG_STORE_ACCOUNT_MAX + 1];
	struct ag_error err;
	struct ag_policy *p = policy_ok(policy_yaml);

	ag_error_init(&err);
	assert_int_equal(ag_grant_account(p, ISS, "alice", buf, sizeof(buf),
					  &err),
			 AG_OK);
	assert_string_equal(buf, "alice");
	assert_int_equal(ag_grant_account(p, ISS, "", buf, sizeof(buf), &err),
			 AG_ERR_INVALID);
	assert_string_equal(err.msg, "the token names no subject (sub)");
	assert_int_equal(ag_grant_account(p, ISS, "a\tb", buf, sizeof(buf),
					  &err),
			 AG_ERR_INVALID);
	const struct ag_workflow *w = &p->workflows[ag_policy_workflow(p,
								       "admin")];
	assert_true(ag_grant_is_approver(p, w, "bob"));
	assert_false(ag_grant_is_approver(p, w, "alice"));
	assert_int_equal(p->groups.n, 1);
	assert_string_equal(p->groups.v[0].name, "admins");
	assert_int_equal(p->groups.v[0].n_members, 3);
	ag_policy_free(p);

	/* Several issuers: "ISSUER sub". */
	static const char two[] =
		"issuers:\n"
		"  - { iss: \"https://a.test\", audiences: [x], jwks_file: j }\n"
		"  - { iss: \"https://b.test\", audiences: [x], jwks_file: j }\n"
		"workflows:\n"
		"  admin: { aal: 2, jit: { max: 1h, approvers: \"group:ops\" "
		"} }\n"
		"groups:\n"
		"  ops: [\"https://a.test bob\"]\n";
	p = policy_ok(two);
	assert_int_equal(ag_grant_account(p, "https://b.test", "bob", buf,
					  sizeof(buf), &err),
			 AG_OK);
	assert_string_equal(buf, "https://b.test bob");
	w = &p->workflows[0];
	assert_false(ag_grant_is_approver(p, w, buf));
	assert_true(ag_grant_is_approver(p, w, "https://a.test bob"));
	assert_int_equal(ag_grant_account(p, "https://c.test", "bob", buf,
					  sizeof(buf), &err),
			 AG_ERR_INVALID);
	assert_string_equal(err.msg, "issuer 'https://c.test' is not one of "
				     "the policy's issuers");
	ag_policy_free(p);

	/* The load errors, with file:line:col and near misses. */
	policy_fails("workflows:\n"
		     "  admin: { aal: 2, jit: { max: 1h, approvers: "
		     "\"group:admns\" } }\n"
		     "groups:\n"
		     "  admins: [bob]\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:47: unknown group 'admns' in jit approvers "
		     "of workflow 'admin'; did you mean 'admins'?");
	policy_fails("groups:\n"
		     "  admins: [bob, [carol]]\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:17: a member of group 'admins' must be a "
		     "single value, not a list");
	policy_fails("groups:\n"
		     "  admins: { bob: 1 }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:11: a member of group 'admins' must be a "
		     "single value, not a mapping");
	policy_fails("groups:\n"
		     "  \"ad mins\": [bob]\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:3: group name 'ad mins' must be non-empty, "
		     "without spaces or ':'");
	policy_fails("issuers:\n"
		     "  - { iss: \"https://a.test\", audiences: [x], jwks_file: "
		     "j }\n"
		     "  - { iss: \"https://b.test\", audiences: [x], jwks_file: "
		     "j }\n"
		     "groups:\n"
		     "  ops: [bob]\n",
		     AG_ERR_INVALID,
		     "policy.yaml:5:9: member 'bob' of group 'ops': with "
		     "several issuers a member is written 'ISSUER sub', ISSUER "
		     "one of the policy's issuers; did you mean "
		     "'https://a.test bob'?");
	policy_fails("issuers:\n"
		     "  - { iss: \"https://a.test\", audiences: [x], jwks_file: "
		     "j }\n"
		     "groups:\n"
		     "  ops: [\"https://a.test bob\"]\n",
		     AG_ERR_INVALID,
		     "policy.yaml:4:9: member 'https://a.test bob' of group "
		     "'ops': with one issuer a member is its sub alone; did you "
		     "mean 'bob'?");
	policy_fails("groups: [admins]\n", AG_ERR_INVALID,
		     "policy.yaml:1:9: groups must be a mapping, not a "
		     "list");
	/* Without a groups: section a group named by jit.approvers is not
	 * checked (a policy may name one it does not list), and has no
	 * members: nobody approves. */
	p = policy_ok("workflows:\n"
		      "  admin: { aal: 2, jit: { max: 1h, approvers: "
		      "\"group:admins\" } }\n");
	assert_false(p->groups.set);
	assert_false(ag_grant_is_approver(p, &p->workflows[0], "bob"));
	ag_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_approve_activates_and_expires, setup, teardown),
		cmocka_unit_test_setup_teardown(test_weak_requester_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_self_approval_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_non_member_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_weak_approver_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_request_checks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hosts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deny_and_revoke, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_break_glass, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_break_glass_immediate,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_tally, setup, teardown),
		cmocka_unit_test_setup_teardown(test_marked_after_request,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_newest, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_simultaneous_approvals,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_denies, setup,
						teardown),
		cmocka_unit_test(test_accounts_and_groups),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
