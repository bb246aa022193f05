/*
 * The gate's decision order (docs/gate.md) over hand-made claims: routes,
 * each step's status, reason and challenge, in order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "aalgate/gate.h"
#include "gate/gate-int.h"
#include "testutil.h"

#define NOW 1800000000

static const char policy_yaml[] =
	"profile: sp800-63b-4\n"
	"workflows:\n"
	"  admin: { aal: 3, phishing_resistant: true, device: managed,\n"
	"           max_age: 12h, idle: 15m,\n"
	"           jit: { max: 1h, approvers: \"group:admins\", approvals: 1 } }\n"
	"  payroll: { aal: 2, phishing_resistant: true }\n"
	"  staff: { aal: 2 }\n"
	"  recovery: { aal: match_account }\n"
	"  internal: { aal: 1, networks: [10.20.0.0/16] }\n"
	"  kiosk: { aal: 1, device: known }\n"
	"  ci-deploy: { machine: true, max_token_lifetime: 1h,\n"
	"               credentials: [workload_identity, mtls],\n"
	"               networks: [10.20.0.0/16], scopes: [deploy] }\n"
	"acr:\n"
	"  \"urn:aal2\": { aal: 2 }\n"
	"  phr: { aal: 2, phishing_resistant: true }\n"
	"  phrh: { aal: 3, phishing_resistant: true, hardware: true }\n"
	"routes:\n"
	"  - { host: admin.example.com, workflow: admin }\n"
	"  - { path_prefix: /payroll/, workflow: payroll }\n"
	"  - { path_prefix: /recover, workflow: recovery }\n"
	"  - { path_prefix: /internal, workflow: internal }\n"
	"  - { path_prefix: /deploy, method: POST, workflow: ci-deploy }\n"
	"default_workflow: staff\n";

struct fx {
	struct ag_policy *p;
	struct ag_gate *g;
	struct ag_sessions *s;
	struct ag_claims c;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct ag_error err;
	f->p = policy_ok(policy_yaml);
	ag_error_init(&err);
	assert_int_equal(ag_gate_new(f->p, &f->g, &err), AG_OK);
	f->s = ag_sessions_new(1024);
	assert_non_null(f->s);
	ag_claims_init(&f->c);
	f->c.iss = strdup("https://idp.example.com");
	f->c.sub = strdup("alice");
	f->c.sid = strdup("s1");
	f->c.auth_time = NOW - 60;
	f->c.has_auth_time = true;
	f->c.iat = NOW - 60;
	f->c.has_iat = true;
	f->c.exp = NOW + 600;
	f->c.has_exp = true;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	ag_claims_release(&f->c);
	ag_sessions_free(f->s);
	ag_gate_free(f->g);
	ag_policy_free(f->p);
	free(f);
	return 0;
}

static void set_amr(struct ag_claims *c, const char *const *amr)
{
	for (size_t i = 0; i < c->n_amr; i++)
		free(c->amr[i]);
	free(c->amr);
	c->n_amr = list_len(amr);
	c->amr = calloc(c->n_amr + 1, sizeof(char *));
	for (size_t i = 0; i < c->n_amr; i++)
		c->amr[i] = strdup(amr[i]);
}

static void set_str(char **field, const char *v)
{
	free(*field);
	*field = v ? strdup(v) : NULL;
}

static bool level_of(void *ctx, const char *iss, const char *sub,
		     struct ag_assurance *out)
{
	(void)ctx;
	(void)iss;
	memset(out, 0, sizeof(*out));
	if (!strcmp(sub, "alice")) {
		out->aal = 2;
		out->phishing_resistant = true;
		return true;
	}
	if (!strcmp(sub, "bob")) {
		out->aal = 3;
		out->phishing_resistant = out->hardware = true;
		return true;
	}
	if (!strcmp(sub, "zero")) {
		/* A hook that answers, but with no level at all. */
		out->aal = 0;
		return true;
	}
	return false;
}

static const struct ag_gate_hooks levels = {.account_level = level_of};

static struct ag_request req_uri(const char *uri)
{
	struct ag_request r = {.method = "GET",
			       .host = "app.example.com",
			       .uri = uri,
			       .ip = "10.20.1.2",
			       .now = NOW};
	return r;
}

static const char *wf_name(struct fx *f, const struct ag_decision *d)
{
	return d->workflow >= 0 ? f->p->workflows[d->workflow].name : "";
}

/* ---- routes ------------------------------------------------------------ */

static void test_routes(void **state)
{
	struct fx *f = *state;
	struct ag_request r = req_uri("/");
	assert_string_equal(f->p->workflows[ag_gate_route(f->g, &r)].name,
			    "staff");
	r.host = "ADMIN.example.com:443";
	assert_string_equal(f->p->workflows[ag_gate_route(f->g, &r)].name,
			    "admin");
	r.host = "admin.example.com.";
	assert_string_equal(f->p->workflows[ag_gate_route(f->g, &r)].name,
			    "admin");
	r = req_uri("/payroll/run?x=1");
	assert_string_equal(f->p->workflows[ag_gate_route(f->g, &r)].name,
			    "payroll");
	/* Spelling cannot dodge a route: what the upstream may read as
	 * /payroll/... either routes to payroll or is refused. */
	r = req_uri("//payroll//run");
	assert_string_equal(f->p->workflows[ag_gate_route(f->g, &r)].name,
			    "payroll");
	r = req_uri("/%70ayroll/run");
	assert_string_equal(f->p->workflows[ag_gate_route(f->g, &r)].name,
			    "payroll");
	r = req_uri("/payroll");
	assert_string_equal(f->p->workflows[ag_gate_route(f->g, &r)].name,
			    "payroll");
	static const char *const refused[] = {
		"/x/../payroll/run", "/./payroll/run", "/payroll/.",
		"/payroll/x/..", "/payroll/%2e", "/payroll/x/%2e%2e",
		"/x/..;/payroll/y", "/payroll;a/y", "/x\\..\\payroll",
		"/payroll%2fy", "/%ff/payroll", "/%c3%28", NULL};
	for (const char *const *u = refused; *u; u++) {
		r = req_uri(*u);
		if (ag_gate_route(f->g, &r) != -1)
			fail_msg("'%s' was routed", *u);
	}
	r = req_uri("http://app.example.com/payroll/run");
	assert_string_equal(f->p->workflows[ag_gate_route(f->g, &r)].name,
			    "payroll");
	/* The method is part of a route. */
	r = req_uri("/deploy");
	assert_string_equal(f->p->workflows[ag_gate_route(f->g, &r)].name,
			    "staff");
	r.method = "post";
	assert_string_equal(f->p->workflows[ag_gate_route(f->g, &r)].name,
			    "ci-deploy");
	/* Bad targets route nowhere. */
	r = req_uri("/a%00b");
	assert_int_equal(ag_gate_route(f->g, &r), -1);
	r = req_uri("/a%zz");
	assert_int_equal(ag_gate_route(f->g, &r), -1);
	r = req_uri("relative");
	assert_int_equal(ag_gate_route(f->g, &r), -1);
}

static void test_normalize(void **state)
{
	char out[64];
	(void)state;
	assert_true(ag_path_normalize("/a//b/", out, sizeof(out)));
	assert_string_equal(out, "/a/b/");
	assert_true(ag_path_normalize("/", out, sizeof(out)));
	assert_string_equal(out, "/");
	assert_true(ag_path_normalize("/a/?q=/../x#f", out, sizeof(out)));
	assert_string_equal(out, "/a/");
	assert_true(ag_path_normalize("/caf%C3%A9", out, sizeof(out)));
	assert_string_equal(out, "/caf\xc3\xa9");
	assert_true(ag_path_normalize("/a.b/..c/.d", out, sizeof(out)));
	assert_string_equal(out, "/a.b/..c/.d");
	assert_false(ag_path_normalize("/../../etc", out, sizeof(out)));
	assert_false(ag_path_normalize("/a/%2e%2e/b", out, sizeof(out)));
	assert_false(ag_path_normalize("/a\x01", out, sizeof(out)));
	assert_false(ag_path_normalize("/a%00", out, sizeof(out)));
	assert_false(ag_path_normalize("", out, sizeof(out)));
	assert_false(ag_path_normalize("a/b", out, sizeof(out)));
	/* Too long for the buffer: refused, never cut. */
	assert_false(ag_path_normalize("/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
				       out, sizeof(out)));
}

static void test_no_route(void **state)
{
	struct ag_policy *p = policy_ok("workflows:\n  staff: { aal: 2 }\n"
					"routes:\n"
					"  - { path_prefix: /a, workflow: staff }\n");
	struct ag_gate *g;
	struct ag_error err;
	struct ag_decision d;
	(void)state;
	ag_error_init(&err);
	assert_int_equal(ag_gate_new(p, &g, &err), AG_OK);
	struct ag_request r = req_uri("/b");
	ag_gate_decide(g, NULL, NULL, &r, NULL, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_DENY);
	assert_int_equal(d.status, 403);
	assert_int_equal(d.reasons[0], AG_R_NO_ROUTE);
	ag_gate_free(g);
	ag_policy_free(p);
}

/* ---- steps 1 and 2 ----------------------------------------------------- */

static void test_no_token(void **state)
{
	struct fx *f = *state;
	struct ag_decision d;
	struct ag_request r = req_uri("/");
	ag_gate_decide(f->g, NULL, f->s, &r, NULL, AG_TOK_OK, &d);
	assert_int_equal(d.status, 401);
	assert_int_equal(d.outcome, AG_DENY);
	assert_int_equal(d.reasons[0], AG_R_NO_TOKEN);
	assert_string_equal(d.www_authenticate, "Bearer realm=\"aalgate\"");
}

static void test_invalid_token(void **state)
{
	struct fx *f = *state;
	struct ag_decision d;
	struct ag_request r = req_uri("/");
	ag_gate_decide(f->g, NULL, f->s, &r, NULL, AG_TOK_EXPIRED, &d);
	assert_int_equal(d.status, 401);
	assert_int_equal(d.reasons[0], AG_R_INVALID_TOKEN);
	assert_int_equal(d.token_error, AG_TOK_EXPIRED);
	assert_string_equal(d.www_authenticate,
			    "Bearer error=\"invalid_token\", "
			    "error_description=\"token refused: expired\"");
	/* Claims with an error are still an invalid token. */
	ag_gate_decide(f->g, NULL, f->s, &r, &f->c, AG_TOK_SIGNATURE, &d);
	assert_int_equal(d.status, 401);
	assert_int_equal(d.reasons[0], AG_R_INVALID_TOKEN);
}

/* A verified token that names nobody is refused: the gate would pass
 * the application an empty subject, and the application might take one
 * the client wrote (OIDC Core §2, RFC 9068 §2.2 require sub). */
static void test_no_subject(void **state)
{
	struct fx *f = *state;
	struct ag_decision d;
	set_amr(&f->c, LIST("pwd", "otp"));
	struct ag_request r = req_uri("/");
	ag_gate_decide(f->g, NULL, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	char *sub = f->c.sub;
	for (int i = 0; i < 2; i++) {
		f->c.sub = i ? "" : NULL;
		ag_gate_decide(f->g, NULL, f->s, &r, &f->c, AG_TOK_OK, &d);
		assert_int_equal(d.outcome, AG_DENY);
		assert_int_equal(d.status, 401);
		assert_int_equal(d.reasons[0], AG_R_INVALID_TOKEN);
		assert_string_equal(d.detail,
				    "the token names no subject (sub)");
	}
	f->c.sub = sub;
}

/* ---- step 3: networks --------------------------------------------------- */

static void test_network(void **state)
{
	struct fx *f = *state;
	struct ag_decision d;
	set_amr(&f->c, LIST("pwd"));
	struct ag_request r = req_uri("/internal/x");
	r.ip = "192.0.2.1";
	ag_gate_decide(f->g, NULL, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.status, 403);
	assert_int_equal(d.reasons[0], AG_R_NETWORK);
	r.ip = NULL; /* unknown client: outside every network */
	ag_gate_decide(f->g, NULL, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.reasons[0], AG_R_NETWORK);
	r.ip = "::ffff:10.20.9.9"; /* IPv4 seen on a dual-stack socket */
	ag_gate_decide(f->g, NULL, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	r.ip = "10.21.0.1";
	ag_gate_decide(f->g, NULL, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.reasons[0], AG_R_NETWORK);
}

/* ---- step 4: assurance -------------------------------------------------- */

static void test_step_up_aal(void **state)
{
	struct fx *f = *state;
	struct ag_decision d;
	set_amr(&f->c, LIST("pwd"));
	struct ag_request r = req_uri("/");
	ag_gate_decide(f->g, NULL, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_STEP_UP);
	assert_int_equal(d.status, 401);
	assert_int_equal(d.reasons[0], AG_R_AAL);
	assert_int_equal(d.observed.aal, 1);
	assert_int_equal(d.required.aal, 2);
	/* RFC 9470 §3: acr_values lists the table's values that satisfy
	 * staff, in the table's order. */
	assert_string_equal(d.www_authenticate,
			    "Bearer error=\"insufficient_user_authentication\", "
			    "error_description=\"workflow 'staff' requires "
			    "AAL2; the token shows AAL1\", "
			    "acr_values=\"urn:aal2 phr phrh\"");
	/* password + OTP is AAL2. */
	set_amr(&f->c, LIST("pwd", "otp"));
	ag_gate_decide(f->g, NULL, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	assert_int_equal(d.status, 200);
	assert_int_equal(d.observed.aal, 2);
	assert_string_equal(wf_name(f, &d), "staff");
	/* "mfa" proves no particular method. */
	set_amr(&f->c, LIST("pwd", "mfa"));
	ag_gate_decide(f->g, NULL, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_STEP_UP);
}

static void test_step_up_phishing(void **state)
{
	struct fx *f = *state;
	struct ag_decision d;
	set_amr(&f->c, LIST("pwd", "otp"));
	struct ag_request r = req_uri("/payroll/");
	ag_gate_decide(f->g, NULL, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_STEP_UP);
	assert_int_equal(d.reasons[0], AG_R_PHISHING_RESISTANT);
	assert_string_equal(d.www_authenticate,
			    "Bearer error=\"insufficient_user_authentication\", "
			    "error_description=\"workflow 'payroll' requires "
			    "AAL2, phishing-resistant; the token's "
			    "authentication is not phishing-resistant\", "
			    "acr_values=\"phr phrh\"");
	/* A synced passkey: swk with user verification. */
	set_amr(&f->c, LIST("swk", "user"));
	ag_gate_decide(f->g, NULL, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	/* acr wins over amr when the table knows it. */
	set_str(&f->c.acr, "phr");
	set_amr(&f->c, LIST("pwd"));
	ag_gate_decide(f->g, NULL, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	/* An acr the table does not know falls back to amr. */
	set_str(&f->c.acr, "urn:unknown");
	ag_gate_decide(f->g, NULL, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_STEP_UP);
	assert_int_equal(d.reasons[0], AG_R_AAL);
}

static void test_match_account(void **state)
{
	struct fx *f = *state;
	struct ag_decision d;
	set_amr(&f->c, LIST("pwd", "otp"));
	struct ag_request r = req_uri("/recover");
	/* No enrolment state: the account's level is unknown, so deny. */
	ag_gate_decide(f->g, NULL, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_DENY);
	assert_int_equal(d.status, 403);
	assert_int_equal(d.reasons[0], AG_R_ACCOUNT_LEVEL_UNKNOWN);

	/* Alice's own level is AAL2 phishing-resistant: password + OTP is
	 * not enough to recover her account, a passkey is. */
	ag_gate_decide(f->g, &levels, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_STEP_UP);
	assert_int_equal(d.reasons[0], AG_R_PHISHING_RESISTANT);
	assert_int_equal(d.required.aal, 2);
	assert_true(d.required.phishing_resistant);
	assert_non_null(strstr(d.www_authenticate, "acr_values=\"phr phrh\""));
	/* ...and its window is the AAL2 profile's: 24h, 1h idle. */
	assert_int_equal(d.max_age, 86400);
	assert_int_equal(d.idle, 3600);
	set_amr(&f->c, LIST("swk", "user"));
	ag_gate_decide(f->g, &levels, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	/* A level of 0 is no level: unknown, so deny (never skip the
	 * assurance check). */
	set_str(&f->c.sub, "zero");
	ag_gate_decide(f->g, &levels, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_DENY);
	assert_int_equal(d.reasons[0], AG_R_ACCOUNT_LEVEL_UNKNOWN);
	/* Bob's own level is AAL3: the same token is too weak for him. */
	set_str(&f->c.sub, "bob");
	ag_gate_decide(f->g, &levels, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_STEP_UP);
	assert_int_equal(d.reasons[0], AG_R_AAL);
	assert_non_null(strstr(d.www_authenticate, "acr_values=\"phrh\""));
}

static void test_required_always_shown(void **state)
{
	struct fx *f = *state;
	struct ag_decision d;
	struct ag_request r = req_uri("/payroll/");
	ag_gate_decide(f->g, NULL, f->s, &r, NULL, AG_TOK_OK, &d);
	assert_int_equal(d.reasons[0], AG_R_NO_TOKEN);
	assert_int_equal(d.required.aal, 2);
	assert_true(d.required.phishing_resistant);
	assert_int_equal(d.max_age, 86400);
}

/* ---- step 5: age and idle ---------------------------------------------- */

static void hw(struct fx *f)
{
	set_amr(&f->c, LIST("hwk", "pin"));
	set_str(&f->c.device, "managed");
}

static bool grant_yes(void *ctx, const char *iss, const char *sub,
		      const char *wf, int64_t now)
{
	(void)ctx;
	(void)iss;
	(void)now;
	return !strcmp(sub, "alice") && !strcmp(wf, "admin");
}

static const struct ag_gate_hooks grants = {.grant_active = grant_yes};

static void test_max_age(void **state)
{
	struct fx *f = *state;
	struct ag_decision d;
	hw(f);
	struct ag_request r = req_uri("/");
	r.host = "admin.example.com";
	ag_gate_decide(f->g, &grants, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	assert_int_equal(d.observed.aal, 3);

	/* 12h is 43200 s: one second over steps up with max_age. */
	f->c.auth_time = NOW - 43201;
	ag_gate_decide(f->g, &grants, NULL, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_STEP_UP);
	assert_int_equal(d.reasons[0], AG_R_MAX_AGE);
	assert_string_equal(d.www_authenticate,
			    "Bearer error=\"insufficient_user_authentication\", "
			    "error_description=\"authentication is 43201s old; "
			    "workflow 'admin' allows 43200s\", "
			    "acr_values=\"phrh\", max_age=\"43200\"");
	/* Exactly at the limit is still fine (idle aside). */
	f->c.auth_time = NOW - 43200;
	struct ag_request r2 = r;
	r2.now = NOW;
	ag_sessions_touch(f->s, f->c.iss, f->c.sid, NOW - 10);
	ag_gate_decide(f->g, &grants, f->s, &r2, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	/* No auth_time at all: step up. */
	f->c.has_auth_time = false;
	ag_gate_decide(f->g, &grants, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_STEP_UP);
	assert_int_equal(d.reasons[0], AG_R_MAX_AGE);
}

static void test_idle(void **state)
{
	struct fx *f = *state;
	struct ag_decision d;
	hw(f);
	struct ag_request r = req_uri("/");
	r.host = "admin.example.com";
	f->c.auth_time = NOW - 3600;
	/* Unknown session: judged from auth_time, an hour ago. */
	ag_gate_decide(f->g, &grants, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_STEP_UP);
	assert_int_equal(d.reasons[0], AG_R_IDLE);
	assert_non_null(strstr(d.www_authenticate, "max_age=\"900\""));
	/* Active 900 s ago: exactly the limit, allowed; and that touches. */
	ag_sessions_touch(f->s, f->c.iss, f->c.sid, NOW - 900);
	ag_gate_decide(f->g, &grants, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	/* 901 s later the session went idle. */
	r.now = NOW + 901;
	ag_gate_decide(f->g, &grants, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_STEP_UP);
	assert_int_equal(d.reasons[0], AG_R_IDLE);
	/* 900 s later it is still live: the allow above touched it. */
	r.now = NOW + 900;
	ag_gate_decide(f->g, &grants, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	/* Another issuer's session with the same sid is another session. */
	set_str(&f->c.iss, "https://other.example.com");
	r.now = NOW;
	ag_gate_decide(f->g, &grants, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.reasons[0], AG_R_IDLE);
}

/* defer_touch: the allow leaves the session as it was until the caller
 * says the allow is final (ag_gate_touch); an allow it then turns into a
 * deny keeps nothing alive. */
static void test_idle_deferred(void **state)
{
	struct fx *f = *state;
	struct ag_decision d;
	hw(f);
	struct ag_request r = req_uri("/");
	r.host = "admin.example.com";
	r.defer_touch = true;
	f->c.auth_time = NOW - 3600;
	ag_sessions_touch(f->s, f->c.iss, f->c.sid, NOW - 900);
	ag_gate_decide(f->g, &grants, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	/* not touched: 1 s later the session is idle */
	r.now = NOW + 1;
	ag_gate_decide(f->g, &grants, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_STEP_UP);
	assert_int_equal(d.reasons[0], AG_R_IDLE);
	/* the caller's touch at NOW keeps it live until NOW + 900 */
	ag_gate_touch(f->s, &f->c, NOW);
	r.now = NOW + 900;
	ag_gate_decide(f->g, &grants, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	ag_gate_touch(NULL, &f->c, NOW); /* no sessions: nothing */
	ag_gate_touch(f->s, NULL, NOW);
}

static void test_sessions_bounded(void **state)
{
	struct ag_sessions *s = ag_sessions_new(64);
	char sid[32];
	int64_t t;
	(void)state;
	/* Far more sessions than slots: the table keeps working and the
	 * most recent ones are still there. */
	for (int i = 0; i < 100000; i++) {
		snprintf(sid, sizeof(sid), "sid-%d", i);
		ag_sessions_touch(s, "iss", sid, 1000 + i);
	}
	assert_true(ag_sessions_last(s, "iss", "sid-99999", &t));
	assert_int_equal(t, 1000 + 99999);
	assert_false(ag_sessions_last(s, "iss", "sid-0", &t));
	/* Time never goes backwards. */
	ag_sessions_touch(s, "iss", "sid-99999", 5);
	assert_true(ag_sessions_last(s, "iss", "sid-99999", &t));
	assert_int_equal(t, 1000 + 99999);
	ag_sessions_free(s);
}

/* ---- step 6: device ----------------------------------------------------- */

static void test_device(void **state)
{
	struct fx *f = *state;
	struct ag_decision d;
	hw(f);
	set_str(&f->c.device, "known");
	struct ag_request r = req_uri("/");
	r.host = "admin.example.com";
	ag_gate_decide(f->g, &grants, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_DENY);
	assert_int_equal(d.status, 403);
	assert_int_equal(d.reasons[0], AG_R_DEVICE);
	assert_int_equal(d.device_observed, AG_DEVICE_KNOWN);
	assert_string_equal(d.www_authenticate, "");
	/* A trusted proxy's header wins over the claim. */
	r.device = "managed";
	ag_gate_decide(f->g, &grants, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	r.device = "unmanaged";
	ag_gate_decide(f->g, &grants, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.reasons[0], AG_R_DEVICE);
	assert_int_equal(d.device_observed, AG_DEVICE_ANY);
	/* kiosk wants known: known passes, nothing fails. */
	set_amr(&f->c, LIST("pwd"));
	r = req_uri("/");
	struct ag_request rk = r;
	rk.workflow = "kiosk";
	set_str(&f->c.device, NULL);
	ag_gate_decide(f->g, NULL, f->s, &rk, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.reasons[0], AG_R_DEVICE);
	rk.device = "known";
	ag_gate_decide(f->g, NULL, f->s, &rk, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
}

/* ---- step 7: JIT -------------------------------------------------------- */

static void test_jit(void **state)
{
	struct fx *f = *state;
	struct ag_decision d;
	hw(f);
	struct ag_request r = req_uri("/");
	r.host = "admin.example.com";
	/* No grant store: deny, and say how to ask. */
	ag_gate_decide(f->g, NULL, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_DENY);
	assert_int_equal(d.status, 403);
	assert_int_equal(d.reasons[0], AG_R_JIT);
	assert_non_null(strstr(d.detail, "aalgate grant request --workflow admin"));
	/* A grant for someone else does not help. */
	set_str(&f->c.sub, "mallory");
	ag_gate_decide(f->g, &grants, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.reasons[0], AG_R_JIT);
	set_str(&f->c.sub, "alice");
	ag_gate_decide(f->g, &grants, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
}

/* ---- order: the first failing step decides ------------------------------ */

static void test_order(void **state)
{
	struct fx *f = *state;
	struct ag_decision d;
	/* Low AAL, old, unmanaged, no grant: the AAL step speaks. */
	set_amr(&f->c, LIST("pwd"));
	f->c.auth_time = NOW - 100000;
	struct ag_request r = req_uri("/");
	r.host = "admin.example.com";
	ag_gate_decide(f->g, NULL, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.reasons[0], AG_R_AAL);
	assert_int_equal(d.status, 401);
	/* Strong but old and unmanaged: max_age speaks. */
	set_amr(&f->c, LIST("hwk", "pin"));
	ag_gate_decide(f->g, NULL, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.reasons[0], AG_R_MAX_AGE);
	/* Fresh but unmanaged and no grant: device speaks. */
	f->c.auth_time = NOW - 5;
	ag_gate_decide(f->g, NULL, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.reasons[0], AG_R_DEVICE);
	/* The same request always gets the same decision. */
	struct ag_decision d2;
	ag_gate_decide(f->g, NULL, f->s, &r, &f->c, AG_TOK_OK, &d2);
	assert_int_equal(d2.outcome, d.outcome);
	assert_int_equal(d2.status, d.status);
	assert_string_equal(d2.detail, d.detail);
}

/* ---- machine workflows -------------------------------------------------- */

/* A one-entry inventory: "deployer" holds a workload identity, bound to
 * no recorded key.  (tests/unit/test_decide_machine.c runs the real
 * inventory and store behind the hook.) */
static bool client_known(void *ctx, const char *iss, const char *client,
			 int64_t now, struct ag_gate_client *out, char *why,
			 size_t len)
{
	const struct fx *f = ctx;
	(void)iss;
	(void)now;
	if (!strcmp(client, "deployer")) {
		out->method = ag_catalogue_find(&f->p->catalogue,
						"workload_identity");
		out->key_bound = true;
		return true;
	}
	snprintf(why, len, "not in the inventory");
	return false;
}

static void test_machine(void **state)
{
	struct fx *f = *state;
	const struct ag_gate_hooks inv = {.ctx = f, .client = client_known};
	struct ag_decision d;
	struct ag_request r = req_uri("/deploy");
	r.method = "POST";
	set_str(&f->c.azp, "deployer");
	set_str(&f->c.scope, "read deploy");
	f->c.cnf = true;
	f->c.iat = NOW - 10;
	f->c.exp = NOW - 10 + 3600;
	/* A cnf with only a jwk is a binding nobody can check: refused. */
	ag_gate_decide(f->g, &inv, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_DENY);
	assert_int_equal(d.reasons[0], AG_R_CREDENTIAL);
	assert_int_equal(d.status, 401);
	/* Bound to a DPoP key whose proof was checked: allowed. */
	set_str(&f->c.cnf_jkt, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
	r.dpop_verified = true;
	ag_gate_decide(f->g, &inv, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_ALLOW);
	/* A 24 h token on a 1 h workflow. */
	f->c.exp = NOW - 10 + 86400;
	ag_gate_decide(f->g, &inv, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.reasons[0], AG_R_TOKEN_LIFETIME);
	assert_int_equal(d.status, 401);
	f->c.exp = NOW - 10 + 3600;
	/* Unknown client, and no inventory at all. */
	set_str(&f->c.azp, "stranger");
	ag_gate_decide(f->g, &inv, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.reasons[0], AG_R_CLIENT);
	assert_int_equal(d.status, 403);
	set_str(&f->c.azp, "deployer");
	ag_gate_decide(f->g, NULL, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.reasons[0], AG_R_CLIENT);
	/* Key-bound credentials only: no cnf, no entry. */
	f->c.cnf = false;
	ag_gate_decide(f->g, &inv, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.reasons[0], AG_R_CREDENTIAL);
	f->c.cnf = true;
	/* Scope: "deployer" is not "deploy". */
	set_str(&f->c.scope, "read deployer");
	ag_gate_decide(f->g, &inv, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.reasons[0], AG_R_SCOPE);
	assert_int_equal(d.status, 403);
	assert_string_equal(d.www_authenticate,
			    "Bearer error=\"insufficient_scope\", "
			    "error_description=\"scope 'deploy' is "
			    "required\", scope=\"deploy\"");
	/* Outside the networks: the network step comes first. */
	r.ip = "192.0.2.7";
	ag_gate_decide(f->g, &inv, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.reasons[0], AG_R_NETWORK);
}

static void test_unknown_workflow(void **state)
{
	struct fx *f = *state;
	struct ag_decision d;
	struct ag_request r = {.workflow = "admn", .now = NOW};
	ag_gate_decide(f->g, NULL, f->s, &r, &f->c, AG_TOK_OK, &d);
	assert_int_equal(d.outcome, AG_DENY);
	assert_int_equal(d.reasons[0], AG_R_UNKNOWN_WORKFLOW);
	assert_int_equal(d.workflow, -1);
}

static void test_amr_methods(void **state)
{
	struct ag_catalogue cat;
	uint16_t idx[16];
	struct ag_assurance a;
	(void)state;
	assert_int_equal(ag_catalogue_builtin(&cat), AG_OK);
	/* security_key_uv needs hwk with pin or fpt: hwk alone is U2F. */
	size_t n = ag_amr_methods(&cat, LIST("hwk"), 1, idx, 16);
	ag_combine(&cat, idx, n, AG_USE_SIGNIN, &a);
	assert_int_equal(a.aal, 1);
	assert_true(a.hardware);
	n = ag_amr_methods(&cat, LIST("hwk", "fpt"), 2, idx, 16);
	ag_combine(&cat, idx, n, AG_USE_SIGNIN, &a);
	assert_int_equal(a.aal, 3);
	/* sc without its pin proves nothing on its own. */
	n = ag_amr_methods(&cat, LIST("sc"), 1, idx, 16);
	assert_int_equal(n, 0);
	/* sms is a restricted authenticator but still one: with pwd, AAL2. */
	n = ag_amr_methods(&cat, LIST("pwd", "sms"), 2, idx, 16);
	ag_combine(&cat, idx, n, AG_USE_SIGNIN, &a);
	assert_int_equal(a.aal, 2);
	assert_false(a.phishing_resistant);
	/* kba never counts. */
	n = ag_amr_methods(&cat, LIST("kba"), 1, idx, 16);
	ag_combine(&cat, idx, n, AG_USE_SIGNIN, &a);
	assert_int_equal(a.aal, 0);
	ag_catalogue_release(&cat);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_no_route),
		cmocka_unit_test_setup_teardown(test_no_subject, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_token, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_network, setup, teardown),
		cmocka_unit_test_setup_teardown(test_step_up_aal, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_step_up_phishing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_match_account, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_required_always_shown,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_age, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_deferred, setup,
						teardown),
		cmocka_unit_test(test_sessions_bounded),
		cmocka_unit_test_setup_teardown(test_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_machine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_workflow, setup,
						teardown),
		cmocka_unit_test(test_amr_methods),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
