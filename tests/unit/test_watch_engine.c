/*
 * The watch engine (aalgate/watch.h): each detection AG-W01..AG-W08 with
 * planted scenarios among realistic noise (at least three that must alert
 * and three near misses that must not), the privileged-workflow rule, the
 * rules' texts, the same alerts for the same input, memory bounded by
 * max_subjects over a million subjects, expiry, timestamps out of order
 * and far in the future, and the state saved to the store and loaded
 * again (a run cut in two raises exactly the alerts of the whole run).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "testutil.h"
#include "aalgate/govern.h"
#include "aalgate/watch.h"

#define S 1000LL
#define M (60 * S)
#define H (3600 * S)
#define D (86400 * S)
/* 2025-03-01T00:00:00Z */
#define T0 (1740787200LL * S)

static const char policy_yaml[] =
	"workflows:\n"
	"  admin:    { aal: 3, phishing_resistant: true, device: managed,\n"
	"              jit: { max: 1h, approvers: \"group:admins\", "
	"approvals: 1 } }\n"
	"  ops:      { aal: 2, jit: { max: 1h, approvers: \"group:admins\", "
	"approvals: 1 } }\n"
	"  payroll:  { aal: 2, phishing_resistant: true, device: known }\n"
	"  staff:    { aal: 2 }\n"
	"  wiki:     { aal: 1 }\n"
	"  recovery: { aal: match_account }\n"
	"  ci-deploy: { machine: true, credentials: [workload_identity, mtls],\n"
	"               networks: [10.20.0.0/16] }\n"
	"  reports:  { machine: true, networks: [10.30.0.0/16] }\n"
	"watch:\n"
	"  recovery_window: 24h\n"
	"  takeover_window: 72h\n"
	"  dormant: 30d\n"
	"  state_ttl: 7d\n";

static struct ag_policy *policy;

/* ---- collecting alerts ------------------------------------------------- */

struct got {
	uint8_t rule, severity;
	int64_t time_ms;
	char subject[64], workflow[64], detail[256];
	bool has_required, has_observed;
	struct ag_assurance required, observed;
	size_t n_ev;
	struct {
		uint8_t source;
		uint32_t file;
		uint64_t line;
		int64_t time_ms;
		char action[64];
	} ev[AG_ALERT_MAX_EVIDENCE];
};

struct h {
	struct ag_policy *p;
	struct ag_nhi_inventory *inv;
	struct ag_store *store;
	struct ag_watch *w;
	struct got *got;
	size_t n, alloc;
	uint64_t rng;
	uint64_t line;
	bool noise;
	int64_t noise_until; /* the latest noise time fed */
};

static ag_code collect(void *ctx, const struct ag_alert *a)
{
	struct h *h = ctx;
	if (h->n == h->alloc) {
		h->alloc = h->alloc ? h->alloc * 2 : 64;
		h->got = realloc(h->got, h->alloc * sizeof(*h->got));
		assert_non_null(h->got);
	}
	struct got *g = &h->got[h->n++];
	memset(g, 0, sizeof(*g));
	g->rule = a->rule;
	g->severity = a->severity;
	g->time_ms = a->time_ms;
	snprintf(g->subject, sizeof(g->subject), "%s",
		 a->subject ? a->subject : "");
	snprintf(g->workflow, sizeof(g->workflow), "%s",
		 a->workflow ? a->workflow : "");
	snprintf(g->detail, sizeof(g->detail), "%s", a->detail);
	g->has_required = a->has_required;
	g->has_observed = a->has_observed;
	g->required = a->required;
	g->observed = a->observed;
	g->n_ev = a->n_evidence;
	assert_true(a->n_evidence <= AG_ALERT_MAX_EVIDENCE);
	for (size_t i = 0; i < a->n_evidence; i++) {
		g->ev[i].source = a->evidence[i].source;
		g->ev[i].file = a->evidence[i].file;
		g->ev[i].line = a->evidence[i].line;
		g->ev[i].time_ms = a->evidence[i].time_ms;
		snprintf(g->ev[i].action, sizeof(g->ev[i].action), "%s",
			 a->evidence[i].action ? a->evidence[i].action : "");
	}
	/* Every alert says what was seen. */
	assert_true(a->detail[0] != '\0');
	return AG_OK;
}

static size_t count_rule(const struct h *h, enum ag_watch_rule r)
{
	size_t n = 0;
	for (size_t i = 0; i < h->n; i++)
		n += h->got[i].rule == r;
	return n;
}

/* The alerts of rule r for subject, which must number want. */
static const struct got *only(const struct h *h, enum ag_watch_rule r,
			      const char *subject, size_t want)
{
	const struct got *first = NULL;
	size_t n = 0;
	for (size_t i = 0; i < h->n; i++)
		if (h->got[i].rule == r &&
		    !strcmp(h->got[i].subject, subject)) {
			if (!first)
				first = &h->got[i];
			n++;
		}
	if (n != want)
		fail_msg("%zu alerts %s for '%s', want %zu",
			 n, ag_watch_rule_info(r)->code, subject, want);
	return first;
}

/* ---- events ------------------------------------------------------------ */

static const char *const actions[] = {
	[AG_EV_LOGIN] = "user.session.start",
	[AG_EV_RECOVERY] = "user.account.reset_password",
	[AG_EV_FACTOR_RESET] = "user.mfa.factor.reset_all",
	[AG_EV_HELPDESK_RESET] = "helpdesk.factor.reset",
	[AG_EV_ENROLL] = "user.mfa.factor.activate",
	[AG_EV_ACCESS] = "app.access",
	[AG_EV_TOKEN_USE] = "token.use",
	[AG_EV_BREAK_GLASS] = "breakglass.use",
};

static struct ag_event ev_at(int64_t t, enum ag_event_kind k,
			     const char *subject)
{
	struct ag_event e;
	memset(&e, 0, sizeof(e));
	e.time_ms = t;
	e.source = AG_SRC_GENERIC;
	e.kind = (uint8_t)k;
	e.result = AG_RES_SUCCESS;
	e.posture = AG_POSTURE_MANAGED;
	e.interactive = k == AG_EV_LOGIN;
	e.subject = subject;
	e.action = actions[k];
	return e;
}

/* The event's methods and the assurance they give (as readers do). */
static void with_methods(struct ag_event *e, const char *const *names)
{
	size_t n = list_len(names);
	assert_true(n <= AG_EVENT_MAX_METHODS);
	for (size_t i = 0; i < n; i++) {
		int m = ag_catalogue_find(&policy->catalogue, names[i]);
		assert_true(m >= 0);
		e->methods[i] = (uint16_t)m;
	}
	e->n_methods = (uint8_t)n;
	e->assurance = combine_in(&policy->catalogue, names, AG_USE_SIGNIN);
	e->assurance_known = true;
}

static struct ag_event signin(int64_t t, enum ag_event_kind k,
			      const char *subject, const char *workflow,
			      const char *const *methods)
{
	struct ag_event e = ev_at(t, k, subject);
	e.workflow = workflow;
	if (methods)
		with_methods(&e, methods);
	return e;
}

#define AAL1 LIST("password")
#define AAL2 LIST("password", "totp")
#define AAL2PR LIST("passkey_synced")
#define AAL3 LIST("security_key_uv")

static uint32_t rnd(struct h *h)
{
	h->rng = h->rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(h->rng >> 33);
}

static void judge(struct h *h, struct ag_event *e)
{
	struct ag_error err;
	ag_error_init(&err);
	if (!e->line)
		e->line = ++h->line;
	ag_code rc = ag_watch_event(h->w, e, collect, h, &err);
	if (rc != AG_OK)
		fail_msg("event at line %llu: %s", (unsigned long long)e->line,
			 err.msg);
}

/*
 * One event of everyday traffic, none of which may alert: people signing
 * in with a second factor from their usual devices, AAL1 wiki reads,
 * passkeys for payroll, hardware keys for admin, the CI key in its
 * network, failed attempts, self-service password resets followed by
 * ordinary work, new factors enrolled.
 */
static void noise_one(struct h *h, int64_t t)
{
	char subj[32], dev[32], ip[32];
	unsigned u = rnd(h) % 200, r = rnd(h) % 100;
	struct ag_event e;

	snprintf(subj, sizeof(subj), "n%u", u);
	snprintf(dev, sizeof(dev), "dev-n%u", u);
	snprintf(ip, sizeof(ip), "10.1.%u.%u", u / 250, u % 250 + 1);
	if (r < 35) {
		e = signin(t, AG_EV_LOGIN, subj, "staff", AAL2);
		e.protocol = "oidc";
	} else if (r < 50) {
		e = signin(t, AG_EV_ACCESS, subj, "wiki", AAL1);
		e.posture = AG_POSTURE_UNMANAGED;
	} else if (r < 60) {
		e = signin(t, AG_EV_ACCESS, subj, "payroll", AAL2PR);
		e.posture = AG_POSTURE_KNOWN;
	} else if (r < 67) {
		e = signin(t, AG_EV_ACCESS, subj, "admin", AAL3);
	} else if (r < 77) {
		e = ev_at(t, AG_EV_TOKEN_USE, "ci-runner");
		e.credential = "ci-key";
		snprintf(ip, sizeof(ip), "10.20.%u.%u", u % 250, u % 7 + 1);
		e.expires_ms = t + H;
	} else if (r < 85) {
		e = signin(t, AG_EV_LOGIN, subj, "staff", AAL1);
		e.result = AG_RES_FAILURE;
		e.posture = AG_POSTURE_UNMANAGED;
	} else if (r < 92) {
		/* r-people reset their own password and go on with
		 * ordinary work: staff is not privileged. */
		snprintf(subj, sizeof(subj), "r%u", u % 20);
		snprintf(dev, sizeof(dev), "dev-r%u", u % 20);
		e = ev_at(t, r < 88 ? AG_EV_RECOVERY : AG_EV_LOGIN, subj);
		if (r >= 88) {
			e.workflow = "staff";
			with_methods(&e, AAL2);
		}
	} else if (r < 96) {
		snprintf(subj, sizeof(subj), "r%u", u % 20);
		e = ev_at(t, AG_EV_ENROLL, subj);
	} else {
		e = signin(t, AG_EV_LOGIN, subj, "wiki", AAL2);
		e.protocol = "saml";
		e.posture = AG_POSTURE_UNKNOWN;
	}
	e.device_id = dev;
	e.ip = ip;
	judge(h, &e);
}

/* Noise up to just before t, then e. */
static void feed(struct h *h, struct ag_event e)
{
	if (h->noise) {
		for (int i = 20; i >= 1; i--) {
			int64_t t = e.time_ms - i * 1500;
			if (t > h->noise_until)
				noise_one(h, t);
		}
		if (e.time_ms - 1500 > h->noise_until)
			h->noise_until = e.time_ms - 1500;
	}
	judge(h, &e);
}

/* ---- the harness ------------------------------------------------------- */

static void inv_add(struct ag_nhi_inventory *inv, const char *id,
		    const char *kind, const char *owner, const char *workflow,
		    enum ag_nhi_status status, int64_t expires,
		    int64_t last_used)
{
	struct ag_nhi r;
	struct ag_error err;
	memset(&r, 0, sizeof(r));
	r.id = (char *)id;
	r.kind = (char *)kind;
	r.owner = (char *)owner;
	r.workflow = (char *)workflow;
	r.status = (uint8_t)status;
	r.expires = expires;
	r.last_used = last_used;
	r.method = -1;
	r.workflow_idx = -1;
	r.line = 1;
	r.col = 1;
	ag_error_init(&err);
	if (ag_nhi_add(inv, &r, &err) != AG_OK)
		fail_msg("inventory: %s", err.msg);
}

/* The machine inventory of the tests; times in seconds. */
static struct ag_nhi_inventory *inventory(void)
{
	struct ag_nhi_inventory *inv = calloc(1, sizeof(*inv));
	struct ag_error err;
	uint32_t f;
	int64_t t0 = T0 / S;

	assert_non_null(inv);
	assert_int_equal(ag_nhi_inventory_init(inv), AG_OK);
	ag_error_init(&err);
	assert_int_equal(ag_nhi_add_file(inv, "inventory.json", &f, &err),
			 AG_OK);
	struct ag_nhi_owner o;
	memset(&o, 0, sizeof(o));
	o.id = "alice";
	o.status = AG_OWNER_ACTIVE;
	assert_int_equal(ag_nhi_add_owner(inv, &o, &err), AG_OK);
	o.id = "bob";
	o.status = AG_OWNER_OFFBOARDED;
	assert_int_equal(ag_nhi_add_owner(inv, &o, &err), AG_OK);

	inv_add(inv, "ci-key", "workload_identity", "alice", "ci-deploy",
		AG_NHI_ACTIVE, 0, t0 - 86400);
	inv_add(inv, "reports-key", "api_key", "alice", "reports",
		AG_NHI_ACTIVE, 0, 0);
	inv_add(inv, "AKIAOLD", "api_key", "bob", NULL, AG_NHI_ACTIVE, 0,
		t0 - 86400);
	inv_add(inv, "AKIADORM", "api_key", "alice", NULL, AG_NHI_ACTIVE, 0,
		t0 - 100 * 86400);
	inv_add(inv, "AKIAFRESH", "api_key", "alice", NULL, AG_NHI_ACTIVE, 0,
		t0 - 19 * 86400);
	inv_add(inv, "AKIADIS", "api_key", "alice", NULL, AG_NHI_DISABLED, 0,
		t0 - 86400);
	inv_add(inv, "AKIAEXP", "api_key", "alice", NULL, AG_NHI_ACTIVE,
		t0 + 3600, t0 - 86400);
	inv_add(inv, "svc-backup", "password", "alice", NULL, AG_NHI_ACTIVE, 0,
		t0 - 86400);
	/* Bound to an issuer: events name none, the engine still finds it. */
	struct ag_nhi r;
	memset(&r, 0, sizeof(r));
	r.id = "kc-client";
	r.kind = "client_secret";
	r.owner = "alice";
	r.issuer = "https://sso.example.com/realms/corp";
	r.last_used = t0 - 86400;
	r.method = -1;
	r.workflow_idx = -1;
	assert_int_equal(ag_nhi_add(inv, &r, &err), AG_OK);
	if (ag_nhi_resolve(inv, policy, &err) != AG_OK)
		fail_msg("resolve: %s", err.msg);
	return inv;
}

static struct h *harness(struct ag_policy *p, bool with_inventory,
			 struct ag_store *store)
{
	struct h *h = calloc(1, sizeof(*h));
	struct ag_error err;
	assert_non_null(h);
	h->p = p;
	h->rng = 42;
	h->noise = true;
	h->noise_until = INT64_MIN;
	h->store = store;
	if (with_inventory)
		h->inv = inventory();
	ag_error_init(&err);
	if (ag_watch_new(p, h->inv, store, &h->w, &err) != AG_OK)
		fail_msg("engine: %s", err.msg);
	return h;
}

static void harness_free(struct h *h)
{
	ag_watch_free(h->w);
	if (h->inv) {
		ag_nhi_inventory_release(h->inv);
		free(h->inv);
	}
	free(h->got);
	free(h);
}

static int group_setup(void **state)
{
	(void)state;
	policy = policy_ok(policy_yaml);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	ag_policy_free(policy);
	return 0;
}

/* ---- the noise alone --------------------------------------------------- */

static void test_noise_is_quiet(void **state)
{
	(void)state;
	struct h *h = harness(policy, true, NULL);
	for (int i = 0; i < 20000; i++)
		noise_one(h, T0 + i * 700LL);
	if (h->n)
		fail_msg("noise raised %s: %s",
			 ag_watch_rule_info(h->got[0].rule)->code,
			 h->got[0].detail);
	const struct ag_watch_stats *st = ag_watch_stats(h->w);
	assert_int_equal(st->events, 20000);
	assert_int_equal(st->alerts, 0);
	assert_true(st->subjects > 100 && st->subjects <= 220);
	assert_int_equal(st->credentials, 1);
	assert_int_equal(st->clock_ms, T0 + 19999 * 700LL);
	harness_free(h);
}

/* ---- AG-W01 ------------------------------------------------------------ */

static void test_w01_below_required(void **state)
{
	(void)state;
	struct h *h = harness(policy, true, NULL);
	int64_t t = T0 + H;

	/* Alerts: AAL1 at staff; AAL2 without phishing resistance at
	 * payroll; a synced passkey (no hardware) at admin. */
	feed(h, signin(t, AG_EV_LOGIN, "w01-a", "staff", AAL1));
	struct ag_event e = signin(t + M, AG_EV_ACCESS, "w01-b", "payroll",
				   AAL2);
	e.posture = AG_POSTURE_KNOWN;
	feed(h, e);
	feed(h, signin(t + 2 * M, AG_EV_ACCESS, "w01-c", "admin", AAL2PR));
	/* Near misses: the level met; a failed AAL1 attempt; no workflow
	 * named; nothing said about the methods; AAL3 at admin; AAL1 at
	 * wiki. */
	feed(h, signin(t + 3 * M, AG_EV_LOGIN, "w01-d", "staff", AAL2));
	e = signin(t + 4 * M, AG_EV_LOGIN, "w01-e", "staff", AAL1);
	e.result = AG_RES_FAILURE;
	feed(h, e);
	feed(h, signin(t + 5 * M, AG_EV_LOGIN, "w01-f", NULL, AAL1));
	feed(h, signin(t + 6 * M, AG_EV_LOGIN, "w01-g", "staff", NULL));
	feed(h, signin(t + 7 * M, AG_EV_ACCESS, "w01-h", "admin", AAL3));
	feed(h, signin(t + 8 * M, AG_EV_ACCESS, "w01-i", "wiki", AAL1));

	assert_int_equal(count_rule(h, AG_W01), 3);
	assert_int_equal(h->n, 3);
	const struct got *g = only(h, AG_W01, "w01-a", 1);
	assert_string_equal(g->workflow, "staff");
	assert_true(g->has_required && g->has_observed);
	assert_int_equal(g->required.aal, 2);
	assert_int_equal(g->observed.aal, 1);
	assert_int_equal(g->severity, AG_SEV_HIGH);
	assert_int_equal(g->n_ev, 1);
	assert_int_equal(g->ev[0].time_ms, t);
	assert_int_equal(g->ev[0].source, AG_SRC_GENERIC);
	assert_string_equal(g->ev[0].action, "user.session.start");
	assert_string_equal(g->detail,
			    "login to workflow 'staff' at AAL1; it requires "
			    "AAL2 (AAL1 is below AAL2)");
	g = only(h, AG_W01, "w01-b", 1);
	assert_true(g->required.phishing_resistant);
	assert_false(g->observed.phishing_resistant);
	assert_int_equal(g->observed.aal, 2);
	assert_non_null(strstr(g->detail, "not phishing-resistant"));
	g = only(h, AG_W01, "w01-c", 1);
	assert_int_equal(g->required.aal, 3);
	assert_true(g->required.hardware);
	assert_int_equal(g->observed.aal, 2);
	assert_string_equal(g->workflow, "admin");
	harness_free(h);
}

/* match_account: the account's own level from the store. */

struct tmp {
	char dir[64], db[96];
};

static void tmp_make(struct tmp *d)
{
	snprintf(d->dir, sizeof(d->dir), "/tmp/ag-wengine-XXXXXX");
	assert_non_null(mkdtemp(d->dir));
	snprintf(d->db, sizeof(d->db), "%s/state.db", d->dir);
}

static void tmp_remove(struct tmp *d)
{
	char p[160];
	const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s%s", d->db, sfx[i]);
		unlink(p);
	}
	rmdir(d->dir);
}

static struct ag_store *store_open(const char *db, bool read_only)
{
	struct ag_store *s = NULL;
	struct ag_store_opts o = {.read_only = read_only};
	struct ag_error err;
	ag_error_init(&err);
	if (ag_store_open(db, &o, &s, &err) != AG_OK)
		fail_msg("store: %s", err.msg);
	return s;
}

static void enrol(struct ag_store *s, const char *acct, const char *m,
		  int auth)
{
	struct ag_enroll_auth a = {{auth, false, false}, "asserted"};
	struct ag_enroll_result res;
	struct ag_error err;
	ag_error_init(&err);
	if (ag_store_enroll_add(s, policy, acct, m, NULL, auth >= 0 ? &a : NULL,
				T0 / S, &res, &err) != AG_OK)
		fail_msg("enrol %s %s: %s", acct, m, err.msg);
}

static void test_w01_match_account(void **state)
{
	(void)state;
	struct tmp d;
	tmp_make(&d);
	struct ag_store *s = store_open(d.db, false);
	enrol(s, "m-two", "password", -1);
	enrol(s, "m-two", "totp", 1);
	enrol(s, "m-one", "password", -1);

	struct h *h = harness(policy, false, s);
	int64_t t = T0 + H;
	/* m-two holds AAL2: AAL1 recovery access is below it. */
	feed(h, signin(t, AG_EV_ACCESS, "m-two", "recovery", AAL1));
	feed(h, signin(t + M, AG_EV_ACCESS, "m-two", "recovery", AAL2));
	feed(h, signin(t + 2 * M, AG_EV_ACCESS, "m-one", "recovery", AAL1));
	/* No enrolments: the level is unknown, nothing is judged. */
	feed(h, signin(t + 3 * M, AG_EV_ACCESS, "m-none", "recovery", AAL1));
	assert_int_equal(h->n, 1);
	const struct got *g = only(h, AG_W01, "m-two", 1);
	assert_int_equal(g->required.aal, 2);
	assert_int_equal(g->observed.aal, 1);
	assert_int_equal(g->time_ms, t);
	harness_free(h);

	/* Without a store, match_account is not judged. */
	h = harness(policy, false, NULL);
	feed(h, signin(t, AG_EV_ACCESS, "m-two", "recovery", AAL1));
	assert_int_equal(h->n, 0);
	harness_free(h);
	ag_store_close(s);
	tmp_remove(&d);
}

/* ---- AG-W02 ------------------------------------------------------------ */

static void test_w02_reset_then_privileged(void **state)
{
	(void)state;
	struct h *h = harness(policy, true, NULL);
	int64_t t = T0 + 2 * D;
	struct ag_event e;

	/* Alerts.  a1: recovery, admin access 2h later.  a2: factor reset,
	 * ops (AAL2 with jit) 23h59m later.  a3: help-desk reset, payroll
	 * (phishing-resistant) 1h later.  a4: exactly at the window. */
	feed(h, ev_at(t, AG_EV_RECOVERY, "w02-a1"));
	feed(h, ev_at(t + 1 * M, AG_EV_FACTOR_RESET, "w02-a2"));
	e = ev_at(t + 2 * M, AG_EV_HELPDESK_RESET, "w02-a3");
	e.actor = "agent-7";
	feed(h, e);
	feed(h, ev_at(t + 3 * M, AG_EV_RECOVERY, "w02-a4"));
	/* Near misses.  b1: admin 24h and 1s after.  b2: staff is not
	 * privileged.  b3: the admin sign-in failed.  b4: admin before the
	 * reset.  b5: the recovery failed.  b6: another subject's reset. */
	feed(h, signin(t + 4 * M, AG_EV_ACCESS, "w02-b4", "admin", AAL3));
	feed(h, ev_at(t + 5 * M, AG_EV_RECOVERY, "w02-b1"));
	feed(h, ev_at(t + 6 * M, AG_EV_RECOVERY, "w02-b2"));
	feed(h, ev_at(t + 7 * M, AG_EV_RECOVERY, "w02-b3"));
	feed(h, ev_at(t + 8 * M, AG_EV_RECOVERY, "w02-b4"));
	e = ev_at(t + 9 * M, AG_EV_RECOVERY, "w02-b5");
	e.result = AG_RES_FAILURE;
	feed(h, e);
	feed(h, ev_at(t + 10 * M, AG_EV_RECOVERY, "w02-b6-other"));

	feed(h, signin(t + 1 * H, AG_EV_ACCESS, "w02-b2", "staff", AAL2));
	e = signin(t + 1 * H + M, AG_EV_LOGIN, "w02-b3", "admin", AAL3);
	e.result = AG_RES_FAILURE;
	feed(h, e);
	e = signin(t + 1 * H + 2 * M, AG_EV_ACCESS, "w02-a3", "payroll",
		   AAL2PR);
	e.posture = AG_POSTURE_KNOWN;
	feed(h, e);
	feed(h, signin(t + 2 * H, AG_EV_ACCESS, "w02-a1", "admin", AAL3));
	/* A second privileged access after the same reset: no repeat. */
	feed(h, signin(t + 3 * H, AG_EV_ACCESS, "w02-a1", "admin", AAL3));
	feed(h, signin(t + 4 * H, AG_EV_ACCESS, "w02-b5", "admin", AAL3));
	feed(h, signin(t + 5 * H, AG_EV_ACCESS, "w02-b6", "admin", AAL3));
	feed(h, signin(t + 1 * M + 23 * H + 59 * M, AG_EV_LOGIN, "w02-a2",
		       "ops", AAL2));
	feed(h, signin(t + 3 * M + 24 * H, AG_EV_ACCESS, "w02-a4", "admin",
		       AAL3));
	feed(h, signin(t + 5 * M + 24 * H + S, AG_EV_ACCESS, "w02-b1", "admin",
		       AAL3));

	assert_int_equal(count_rule(h, AG_W02), 4);
	assert_int_equal(h->n, 4);
	const struct got *g = only(h, AG_W02, "w02-a1", 1);
	assert_string_equal(g->workflow, "admin");
	assert_int_equal(g->severity, AG_SEV_HIGH);
	assert_int_equal(g->n_ev, 2);
	assert_int_equal(g->ev[0].time_ms, t);
	assert_string_equal(g->ev[0].action, "user.account.reset_password");
	assert_int_equal(g->ev[1].time_ms, t + 2 * H);
	assert_true(g->ev[0].line < g->ev[1].line);
	assert_true(g->has_required);
	assert_int_equal(g->required.aal, 3);
	/* As the gate shows it: AAL3 asks for hardware, though the policy
	 * does not write hardware: true. */
	assert_true(g->required.hardware);
	assert_true(g->required.phishing_resistant);
	assert_int_equal(g->observed.aal, 3);
	assert_string_equal(g->detail,
			    "recovery of 'w02-a1' then access to privileged "
			    "workflow 'admin' 2h later (recovery window 24h)");
	g = only(h, AG_W02, "w02-a2", 1);
	assert_string_equal(g->workflow, "ops");
	assert_non_null(strstr(g->detail, "factor reset of 'w02-a2'"));
	g = only(h, AG_W02, "w02-a3", 1);
	assert_non_null(strstr(g->detail, "help-desk reset of 'w02-a3' by "
					  "agent-7"));
	only(h, AG_W02, "w02-a4", 1);
	harness_free(h);
}

static void test_privileged(void **state)
{
	(void)state;
	const char *yes[] = {"admin", "ops", "payroll"};
	const char *no[] = {"staff", "wiki", "recovery", "ci-deploy"};
	for (size_t i = 0; i < 3; i++)
		assert_true(ag_watch_privileged(
			&policy->workflows[ag_policy_workflow(policy, yes[i])]));
	for (size_t i = 0; i < 4; i++)
		assert_false(ag_watch_privileged(
			&policy->workflows[ag_policy_workflow(policy, no[i])]));
	assert_false(ag_watch_privileged(NULL));
	/* AAL1 with jit is not privileged; AAL2 with jit is. */
	struct ag_workflow w;
	memset(&w, 0, sizeof(w));
	w.aal = 1;
	w.jit = true;
	assert_false(ag_watch_privileged(&w));
	w.aal = 2;
	assert_true(ag_watch_privileged(&w));
}

/* ---- AG-W03 ------------------------------------------------------------ */

static struct ag_event from(struct ag_event e, const char *device,
			    const char *ip)
{
	e.device_id = device;
	e.ip = ip;
	return e;
}

static void test_w03_helpdesk_takeover(void **state)
{
	(void)state;
	struct h *h = harness(policy, true, NULL);
	int64_t t = T0 + 3 * D;
	struct ag_event e;
	const char *const subs[] = {"w03-c1", "w03-c2", "w03-c3", "w03-d1",
				    "w03-d2", "w03-d3", "w03-d4", "w03-d5",
				    "w03-d6"};
	char devs[9][32];

	/* Everyone's history: sign-ins from their own device two days
	 * before. */
	for (size_t i = 0; i < 9; i++) {
		snprintf(devs[i], sizeof(devs[i]), "laptop-%zu", i);
		e = signin(t - 2 * D + (int64_t)i * M, AG_EV_LOGIN, subs[i],
			   "staff", AAL2);
		feed(h, from(e, i == 1 ? NULL : devs[i], "10.1.9.9"));
	}
	/* c2 signs in from an address, no device id: 198.51.100.7 before. */
	e = signin(t - D, AG_EV_LOGIN, "w03-c2", "staff", AAL2);
	feed(h, from(e, NULL, "198.51.100.7"));
	/* d5 enrols before the reset. */
	feed(h, ev_at(t - H, AG_EV_ENROLL, "w03-d5"));

	for (size_t i = 0; i < 9; i++) {
		if (i == 6)
			e = ev_at(t + (int64_t)i * S, AG_EV_RECOVERY, subs[i]);
		else
			e = ev_at(t + (int64_t)i * S, AG_EV_HELPDESK_RESET,
				  subs[i]);
		e.actor = "hd-agent";
		feed(h, e);
	}
	/* Enrolments: c3 late in the window; d3 and d5 none. */
	for (size_t i = 0; i < 9; i++) {
		if (i == 2 || i == 5 || i == 7)
			continue;
		feed(h, ev_at(t + 10 * M + (int64_t)i * S, AG_EV_ENROLL,
			      subs[i]));
	}
	feed(h, ev_at(t + 70 * H, AG_EV_ENROLL, "w03-c3"));

	/* The sign-ins.  c1: a new device.  c2: a new address.  d1: its
	 * own laptop.  d3: no enrolment.  d4: a self-service recovery, not
	 * the help desk.  d5: enrolled before the reset.  d6: failed. */
	feed(h, from(signin(t + 20 * M, AG_EV_LOGIN, "w03-c1", "staff", AAL2),
		     "evil-phone", "203.0.113.5"));
	feed(h, from(signin(t + 21 * M, AG_EV_LOGIN, "w03-c2", "staff", AAL2),
		     NULL, "203.0.113.9"));
	feed(h, from(signin(t + 22 * M, AG_EV_LOGIN, "w03-d1", "staff", AAL2),
		     devs[3], "203.0.113.10"));
	feed(h, from(signin(t + 23 * M, AG_EV_LOGIN, "w03-d3", "staff", AAL2),
		     "evil-3", NULL));
	feed(h, from(signin(t + 24 * M, AG_EV_LOGIN, "w03-d4", "staff", AAL2),
		     "evil-4", NULL));
	feed(h, from(signin(t + 25 * M, AG_EV_LOGIN, "w03-d5", "staff", AAL2),
		     "evil-5", NULL));
	e = from(signin(t + 26 * M, AG_EV_LOGIN, "w03-d6", "staff", AAL2),
		 "evil-6", NULL);
	e.result = AG_RES_FAILURE;
	feed(h, e);
	/* c3 just inside the window; d2 one second outside. */
	feed(h, from(signin(t + 2 * S + 71 * H + 59 * M, AG_EV_LOGIN,
			    "w03-c3", "staff", AAL2),
		     "evil-c3", NULL));
	feed(h, from(signin(t + 4 * S + 72 * H + S, AG_EV_LOGIN, "w03-d2",
			    "staff", AAL2),
		     "evil-d2", NULL));

	assert_int_equal(count_rule(h, AG_W03), 3);
	assert_int_equal(h->n, 3);
	const struct got *g = only(h, AG_W03, "w03-c1", 1);
	assert_int_equal(g->severity, AG_SEV_CRITICAL);
	assert_int_equal(g->n_ev, 3);
	assert_int_equal(g->ev[0].time_ms, t);
	assert_string_equal(g->ev[0].action, "helpdesk.factor.reset");
	assert_int_equal(g->ev[1].time_ms, t + 10 * M);
	assert_string_equal(g->ev[1].action, "user.mfa.factor.activate");
	assert_int_equal(g->ev[2].time_ms, t + 20 * M);
	assert_string_equal(g->detail,
			    "help-desk reset of 'w03-c1' by hd-agent, a new "
			    "authenticator enrolled, then a sign-in from "
			    "device 'evil-phone' not seen before the reset, "
			    "20m after it (takeover window 3d)");
	g = only(h, AG_W03, "w03-c2", 1);
	assert_non_null(strstr(g->detail, "address '203.0.113.9'"));
	g = only(h, AG_W03, "w03-c3", 1);
	assert_int_equal(g->ev[1].time_ms, t + 70 * H);
	/* A second new device after the alert: the reset is told once. */
	feed(h, from(signin(t + 30 * M, AG_EV_LOGIN, "w03-c1", "staff", AAL2),
		     "evil-phone-2", NULL));
	assert_int_equal(count_rule(h, AG_W03), 3);
	harness_free(h);
}

/* ---- AG-W04 ------------------------------------------------------------ */

static struct ag_event use(int64_t t, const char *cred, const char *ip)
{
	struct ag_event e = ev_at(t, AG_EV_TOKEN_USE, "svc");
	e.credential = cred;
	e.ip = ip;
	e.interactive = false;
	return e;
}

static void test_w04_token_outside_policy(void **state)
{
	(void)state;
	struct h *h = harness(policy, true, NULL);
	int64_t t = T0 + 10 * D;
	struct ag_event e;

	/* reports-key in use 40 days before (in the stream), without the
	 * noise: the CI key is in use all the time. */
	h->noise = false;
	feed(h, use(T0 - 40 * D, "reports-key", "10.30.0.5"));
	h->noise = true;

	/* Alerts. */
	e = use(t, "ci-key", "10.20.1.1"); /* expired a second ago */
	e.expires_ms = t - S;
	feed(h, e);
	feed(h, use(t + 1 * M, "AKIAUNKNOWN", "10.0.0.1"));
	feed(h, use(t + 2 * M, "AKIAOLD", "10.0.0.1"));
	feed(h, use(t + 3 * M, "ci-key", "192.0.2.5"));
	feed(h, use(t + 4 * M, "AKIADORM", "10.0.0.1"));
	feed(h, use(t + 5 * M, "reports-key", "10.30.0.5"));
	feed(h, use(t + 6 * M, "AKIADIS", "10.0.0.1"));
	feed(h, use(t + 7 * M, "AKIAEXP", "10.0.0.1"));
	/* Near misses: one second before expiry; in its network; a failed
	 * use of the offboarded key; no credential named; the key bound to
	 * an issuer; last used 29 days ago (inventory). */
	e = use(t + 8 * M, "ci-key", "10.20.1.1");
	e.expires_ms = t + 8 * M + S;
	feed(h, e);
	feed(h, use(t + 9 * M, "ci-key", "10.20.200.1"));
	e = use(t + 10 * M, "AKIAOLD", "10.0.0.1");
	e.result = AG_RES_FAILURE;
	feed(h, e);
	feed(h, use(t + 11 * M, NULL, "10.0.0.1"));
	feed(h, use(t + 12 * M, "kc-client", "10.0.0.1"));
	feed(h, use(t + 13 * M, "AKIAFRESH", "10.0.0.1"));

	assert_int_equal(count_rule(h, AG_W04), 8);
	assert_int_equal(h->n, 8);
	const struct got *g = &h->got[0];
	assert_int_equal(g->rule, AG_W04);
	assert_string_equal(g->subject, "svc");
	assert_string_equal(g->workflow, "ci-deploy");
	assert_string_equal(g->detail,
			    "credential 'ci-key': the token expired 1s before "
			    "use");
	assert_string_equal(h->got[1].detail,
			    "credential 'AKIAUNKNOWN': not in the machine "
			    "inventory");
	assert_string_equal(h->got[2].detail,
			    "credential 'AKIAOLD': its owner 'bob' is "
			    "offboarded");
	assert_string_equal(h->got[3].detail,
			    "credential 'ci-key': address 192.0.2.5 is outside "
			    "the networks of workflow 'ci-deploy'");
	assert_string_equal(h->got[4].detail,
			    "credential 'AKIADORM': dormant: unused for 110d "
			    "by the inventory's last use (dormant after 30d)");
	assert_int_equal(h->got[4].n_ev, 1);
	/* Dormant by the stream: the previous use is evidence. */
	g = &h->got[5];
	assert_string_equal(g->detail,
			    "credential 'reports-key': dormant: unused for 50d "
			    "(dormant after 30d)");
	assert_int_equal(g->n_ev, 2);
	assert_int_equal(g->ev[0].time_ms, T0 - 40 * D);
	assert_int_equal(g->ev[1].time_ms, t + 5 * M);
	assert_string_equal(h->got[6].detail,
			    "credential 'AKIADIS': it is disabled in the "
			    "inventory");
	assert_string_equal(h->got[7].detail,
			    "credential 'AKIAEXP': its credential expired");
	assert_int_equal(h->got[7].severity, AG_SEV_HIGH);
	harness_free(h);

	/* Without an inventory only the event's own fields count. */
	h = harness(policy, false, NULL);
	h->noise = false;
	feed(h, use(t, "AKIAUNKNOWN", "10.0.0.1"));
	e = use(t + S, "AKIAUNKNOWN", "10.0.0.1");
	e.expires_ms = t + S;
	feed(h, e);
	feed(h, use(t + 40 * D, "AKIAUNKNOWN", "10.0.0.1"));
	assert_int_equal(h->n, 2);
	assert_string_equal(h->got[0].detail,
			    "credential 'AKIAUNKNOWN': the token expired 0s "
			    "before use");
	assert_non_null(strstr(h->got[1].detail, "unused for 39d"));
	harness_free(h);
}

/* ---- AG-W05 ------------------------------------------------------------ */

static void test_w05_break_glass(void **state)
{
	(void)state;
	struct h *h = harness(policy, true, NULL);
	int64_t t = T0 + H;
	struct ag_event e;

	e = ev_at(t, AG_EV_BREAK_GLASS, "bg-root");
	e.actor = "oncall-1";
	feed(h, e);
	e = ev_at(t + M, AG_EV_BREAK_GLASS, "bg-root");
	e.result = AG_RES_FAILURE;
	feed(h, e);
	e = ev_at(t + 2 * M, AG_EV_BREAK_GLASS, "bg-db");
	e.result = AG_RES_UNKNOWN;
	e.workflow = "admin";
	feed(h, e);
	/* Near misses: the break-glass account signing in normally, an
	 * access named like break-glass, and a token use. */
	feed(h, signin(t + 3 * M, AG_EV_LOGIN, "bg-root", "staff", AAL2));
	e = signin(t + 4 * M, AG_EV_ACCESS, "bg-db", "wiki", AAL1);
	e.action = "breakglass.request";
	feed(h, e);
	e = use(t + 5 * M, "ci-key", "10.20.0.1");
	e.action = "breakglass";
	feed(h, e);

	assert_int_equal(h->n, 3);
	assert_int_equal(count_rule(h, AG_W05), 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(h->got[i].severity, AG_SEV_HIGH);
	assert_string_equal(h->got[0].detail,
			    "break-glass use of 'bg-root' by 'oncall-1', "
			    "succeeded");
	assert_string_equal(h->got[1].detail,
			    "break-glass use of 'bg-root', refused");
	assert_string_equal(h->got[2].detail, "break-glass use of 'bg-db'");
	assert_string_equal(h->got[2].workflow, "admin");
	assert_int_equal(h->got[2].required.aal, 3);
	assert_true(h->got[2].required.hardware);
	harness_free(h);
}

/* With a store, a sign-in of an account it marks break-glass is a use,
 * whatever the log calls it; a failed one, an access (the gate's own
 * decisions during a grant) and an unmarked account are not. */
static void test_w05_marked_in_store(void **state)
{
	(void)state;
	struct tmp d;
	struct ag_error err;
	bool changed;
	tmp_make(&d);
	struct ag_store *s = store_open(d.db, false);
	ag_error_init(&err);
	assert_int_equal(ag_store_break_glass_set(s, "bg-root", true, T0 / S,
						  &changed, &err),
			 AG_OK);
	assert_int_equal(ag_store_break_glass_set(s, "bg-db", true, T0 / S,
						  &changed, &err),
			 AG_OK);
	assert_int_equal(ag_store_break_glass_set(s, "bg-old", true, T0 / S,
						  &changed, &err),
			 AG_OK);
	assert_int_equal(ag_store_break_glass_set(s, "bg-old", false, T0 / S,
						  &changed, &err),
			 AG_OK);
	/* A store behind several issuers names accounts "ISSUER sub". */
	assert_int_equal(ag_store_break_glass_set(s,
						  "https://idp.example bg-ops",
						  true, T0 / S, &changed, &err),
			 AG_OK);

	/* The list, in id order, and its bound. */
	char **ids;
	size_t n;
	assert_int_equal(ag_store_break_glass_list(s, 3, &ids, &n, &err),
			 AG_OK);
	assert_int_equal(n, 3);
	assert_string_equal(ids[0], "bg-db");
	assert_string_equal(ids[1], "bg-root");
	assert_string_equal(ids[2], "https://idp.example bg-ops");
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	assert_int_equal(ag_store_break_glass_list(s, 2, &ids, &n, &err),
			 AG_ERR_LIMIT);
	assert_null(ids);
	assert_int_equal(n, 0);

	struct h *h = harness(policy, false, s);
	int64_t t = T0 + H;
	struct ag_event e;
	feed(h, signin(t, AG_EV_LOGIN, "bg-root", "staff", AAL2));
	e = signin(t + M, AG_EV_LOGIN, "bg-db", "admin", AAL3);
	e.result = AG_RES_UNKNOWN;
	feed(h, e);
	feed(h, signin(t + 2 * M, AG_EV_LOGIN, "bg-root", NULL, AAL1));
	feed(h, signin(t + 150 * S, AG_EV_LOGIN, "bg-ops", "staff", AAL2));
	/* Near misses. */
	e = signin(t + 3 * M, AG_EV_LOGIN, "bg-root", "staff", AAL2);
	e.result = AG_RES_FAILURE;
	feed(h, e);
	feed(h, signin(t + 4 * M, AG_EV_ACCESS, "bg-db", "staff", AAL2));
	feed(h, signin(t + 5 * M, AG_EV_LOGIN, "bg-old", "staff", AAL2));
	feed(h, signin(t + 6 * M, AG_EV_LOGIN, "bg-roo", "staff", AAL2));

	assert_int_equal(h->n, 4);
	assert_int_equal(count_rule(h, AG_W05), 4);
	assert_string_equal(h->got[3].subject, "bg-ops");
	assert_string_equal(h->got[0].subject, "bg-root");
	assert_string_equal(h->got[0].detail,
			    "sign-in of 'bg-root', which the state store "
			    "marks break-glass, succeeded");
	assert_int_equal(h->got[0].severity, AG_SEV_HIGH);
	assert_int_equal(h->got[0].time_ms, t);
	assert_string_equal(h->got[1].detail,
			    "sign-in of 'bg-db', which the state store marks "
			    "break-glass");
	assert_string_equal(h->got[1].workflow, "admin");
	assert_int_equal(h->got[1].required.aal, 3);
	assert_int_equal(h->got[2].time_ms, t + 2 * M);

	/* Marked after the engine read the marks: seen once read again. */
	assert_int_equal(ag_store_break_glass_set(s, "bg-new", true, T0 / S,
						  &changed, &err),
			 AG_OK);
	feed(h, signin(t + 10 * M, AG_EV_LOGIN, "bg-new", "staff", AAL2));
	assert_int_equal(h->n, 4);
	assert_int_equal(ag_watch_reload_marks(h->w, &err), AG_OK);
	feed(h, signin(t + 11 * M, AG_EV_LOGIN, "bg-new", "staff", AAL2));
	assert_int_equal(h->n, 5);
	assert_string_equal(h->got[4].subject, "bg-new");
	/* ...and one unmarked since is not. */
	assert_int_equal(ag_store_break_glass_set(s, "bg-root", false, T0 / S,
						  &changed, &err),
			 AG_OK);
	assert_int_equal(ag_watch_reload_marks(h->w, &err), AG_OK);
	feed(h, signin(t + 12 * M, AG_EV_LOGIN, "bg-root", "staff", AAL2));
	assert_int_equal(h->n, 5);
	harness_free(h);

	/* Without the store, the same sign-ins raise nothing. */
	h = harness(policy, false, NULL);
	feed(h, signin(t, AG_EV_LOGIN, "bg-root", "staff", AAL2));
	assert_int_equal(h->n, 0);
	harness_free(h);
	ag_store_close(s);
	tmp_remove(&d);
}

/* ---- AG-W06 ------------------------------------------------------------ */

static void test_w06_legacy_protocol(void **state)
{
	(void)state;
	struct h *h = harness(policy, true, NULL);
	int64_t t = T0 + H;
	struct ag_event e;

	e = signin(t, AG_EV_LOGIN, "w06-a", "staff", AAL1);
	e.protocol = "imap";
	feed(h, e);
	e = signin(t + M, AG_EV_LOGIN, "w06-b", NULL, NULL);
	e.protocol = "NTLM";
	feed(h, e);
	e = signin(t + 2 * M, AG_EV_ACCESS, "w06-c", "wiki", AAL1);
	e.protocol = "ActiveSync";
	feed(h, e);
	/* Near misses: a failed IMAP sign-in; modern protocols; a token
	 * over basic is not a sign-in. */
	e = signin(t + 3 * M, AG_EV_LOGIN, "w06-d", NULL, AAL1);
	e.protocol = "imap";
	e.result = AG_RES_FAILURE;
	feed(h, e);
	e = signin(t + 4 * M, AG_EV_LOGIN, "w06-e", "wiki", AAL1);
	e.protocol = "oidc";
	feed(h, e);
	e = signin(t + 5 * M, AG_EV_LOGIN, "w06-f", "wiki", AAL1);
	e.protocol = "imap-ish";
	feed(h, e);
	e = use(t + 6 * M, "ci-key", "10.20.0.1");
	e.protocol = "basic";
	feed(h, e);

	assert_int_equal(h->n, 4);
	assert_int_equal(count_rule(h, AG_W06), 3);
	assert_int_equal(count_rule(h, AG_W01), 1); /* AAL1 at staff */
	const struct got *g = only(h, AG_W06, "w06-a", 1);
	assert_int_equal(g->severity, AG_SEV_MEDIUM);
	assert_string_equal(g->detail, "login of 'w06-a' over legacy protocol "
				       "'imap' to workflow 'staff'");
	g = only(h, AG_W06, "w06-b", 1);
	assert_string_equal(g->detail,
			    "login of 'w06-b' over legacy protocol 'NTLM'");
	assert_false(g->has_required);
	only(h, AG_W06, "w06-c", 1);
	/* W01 comes before W06 for the same event. */
	assert_int_equal(h->got[0].rule, AG_W01);
	assert_int_equal(h->got[1].rule, AG_W06);
	harness_free(h);

	/* The policy's own list replaces the default one. */
	struct ag_policy *p2 = policy_ok("workflows:\n  staff: { aal: 2 }\n"
					 "watch:\n  legacy_protocols: [ldap]\n");
	h = harness(p2, false, NULL);
	h->noise = false;
	e = signin(t, AG_EV_LOGIN, "w06-g", NULL, AAL1);
	e.protocol = "LDAP";
	feed(h, e);
	e = signin(t + 1, AG_EV_LOGIN, "w06-h", NULL, AAL1);
	e.protocol = "imap";
	feed(h, e);
	assert_int_equal(h->n, 1);
	only(h, AG_W06, "w06-g", 1);
	harness_free(h);
	ag_policy_free(p2);
}

/* ---- AG-W07 ------------------------------------------------------------ */

static void test_w07_machine_human_use(void **state)
{
	(void)state;
	struct h *h = harness(policy, true, NULL);
	int64_t t = T0 + H;
	struct ag_event e;

	/* Alerts: the inventory's service account at a console; a person
	 * signing in with the CI key; anyone interactive at a machine
	 * workflow. */
	feed(h, signin(t, AG_EV_LOGIN, "svc-backup", NULL, AAL1));
	e = signin(t + M, AG_EV_LOGIN, "mallory", NULL, NULL);
	e.credential = "ci-key";
	feed(h, e);
	e = signin(t + 2 * M, AG_EV_LOGIN, "eve", "ci-deploy", NULL);
	feed(h, e);
	/* Near misses: the service account non-interactive; a failed
	 * console attempt; its token use; a person at a console. */
	e = signin(t + 3 * M, AG_EV_ACCESS, "svc-backup", NULL, NULL);
	e.interactive = false;
	feed(h, e);
	e = signin(t + 4 * M, AG_EV_LOGIN, "svc-backup", NULL, AAL1);
	e.result = AG_RES_FAILURE;
	feed(h, e);
	e = ev_at(t + 5 * M, AG_EV_TOKEN_USE, "svc-backup");
	e.interactive = true;
	feed(h, e);
	feed(h, signin(t + 6 * M, AG_EV_LOGIN, "alice2", "staff", AAL2));

	assert_int_equal(h->n, 3);
	assert_int_equal(count_rule(h, AG_W07), 3);
	const struct got *g = only(h, AG_W07, "svc-backup", 1);
	assert_int_equal(g->severity, AG_SEV_HIGH);
	assert_string_equal(g->detail,
			    "interactive login as 'svc-backup', a machine "
			    "identity in the inventory (password, owner "
			    "alice)");
	g = only(h, AG_W07, "mallory", 1);
	assert_non_null(strstr(g->detail, "as 'ci-key'"));
	g = only(h, AG_W07, "eve", 1);
	assert_string_equal(g->detail, "interactive login by 'eve' to machine "
				       "workflow 'ci-deploy'");
	harness_free(h);
}

/* ---- AG-W08 ------------------------------------------------------------ */

static void test_w08_device(void **state)
{
	(void)state;
	struct h *h = harness(policy, true, NULL);
	int64_t t = T0 + H;
	struct ag_event e;

	e = signin(t, AG_EV_ACCESS, "w08-a", "admin", AAL3);
	e.posture = AG_POSTURE_UNMANAGED;
	e.device_id = "home-pc";
	feed(h, e);
	e = signin(t + M, AG_EV_ACCESS, "w08-b", "admin", AAL3);
	e.posture = AG_POSTURE_UNKNOWN;
	feed(h, e);
	e = signin(t + 2 * M, AG_EV_ACCESS, "w08-c", "admin", AAL3);
	e.posture = AG_POSTURE_KNOWN;
	feed(h, e);
	e = signin(t + 3 * M, AG_EV_ACCESS, "w08-d", "payroll", AAL2PR);
	e.posture = AG_POSTURE_UNMANAGED;
	feed(h, e);
	/* Near misses: a managed device at admin; a known one at payroll
	 * (which asks for known); unmanaged at staff (any device); a
	 * failed unmanaged admin sign-in. */
	feed(h, signin(t + 4 * M, AG_EV_ACCESS, "w08-e", "admin", AAL3));
	e = signin(t + 5 * M, AG_EV_ACCESS, "w08-f", "payroll", AAL2PR);
	e.posture = AG_POSTURE_KNOWN;
	feed(h, e);
	e = signin(t + 6 * M, AG_EV_ACCESS, "w08-g", "staff", AAL2);
	e.posture = AG_POSTURE_UNMANAGED;
	feed(h, e);
	e = signin(t + 7 * M, AG_EV_LOGIN, "w08-h", "admin", AAL3);
	e.posture = AG_POSTURE_UNMANAGED;
	e.result = AG_RES_FAILURE;
	feed(h, e);

	assert_int_equal(h->n, 4);
	assert_int_equal(count_rule(h, AG_W08), 4);
	const struct got *g = only(h, AG_W08, "w08-a", 1);
	assert_int_equal(g->severity, AG_SEV_MEDIUM);
	assert_string_equal(g->workflow, "admin");
	assert_string_equal(g->detail,
			    "access to workflow 'admin', which requires a "
			    "managed device, from an unmanaged device "
			    "('home-pc')");
	g = only(h, AG_W08, "w08-b", 1);
	assert_non_null(strstr(g->detail, "of unknown posture"));
	g = only(h, AG_W08, "w08-c", 1);
	assert_non_null(strstr(g->detail, "from a known device"));
	g = only(h, AG_W08, "w08-d", 1);
	assert_non_null(strstr(g->detail, "requires a known device"));
	harness_free(h);
}

/* ---- rules, order, determinism ---------------------------------------- */

static void test_rule_info(void **state)
{
	(void)state;
	const char *names[] = {NULL, "below-required", "reset-then-privileged",
			       "helpdesk-takeover", "token-outside-policy",
			       "break-glass-use", "legacy-protocol",
			       "machine-human-use", "unmanaged-device"};
	assert_null(ag_watch_rule_info(0));
	assert_null(ag_watch_rule_info(AG_WATCH_RULE_COUNT));
	for (int r = AG_W01; r < AG_WATCH_RULE_COUNT; r++) {
		const struct ag_watch_rule_info *i =
			ag_watch_rule_info((enum ag_watch_rule)r);
		char code[8];
		snprintf(code, sizeof(code), "AG-W%02d", r);
		assert_non_null(i);
		assert_string_equal(i->code, code);
		assert_string_equal(i->name, names[r]);
		assert_true(strlen(i->summary) > 20);
		assert_true(strlen(i->remediation) > 20);
	}
}

/* A stream with every rule in it, twice: the same alerts in the same
 * order, in event order. */
static void mixed(struct h *h, int64_t t)
{
	struct ag_event e;
	feed(h, ev_at(t, AG_EV_HELPDESK_RESET, "mx-1"));
	feed(h, ev_at(t + M, AG_EV_ENROLL, "mx-1"));
	e = from(signin(t + 2 * M, AG_EV_ACCESS, "mx-1", "admin", AAL2),
		 "mx-new", NULL);
	e.posture = AG_POSTURE_UNMANAGED;
	feed(h, e);
	e = use(t + 3 * M, "AKIAOLD", "10.0.0.1");
	e.expires_ms = t;
	feed(h, e);
	feed(h, ev_at(t + 4 * M, AG_EV_BREAK_GLASS, "mx-bg"));
	e = signin(t + 5 * M, AG_EV_LOGIN, "svc-backup", "staff", AAL1);
	e.protocol = "pop3";
	e.posture = AG_POSTURE_UNMANAGED;
	feed(h, e);
}

static void test_same_input_same_alerts(void **state)
{
	(void)state;
	struct h *a = harness(policy, true, NULL);
	struct h *b = harness(policy, true, NULL);
	mixed(a, T0 + D);
	mixed(b, T0 + D);
	/* mx-1: W01, W02, W03, W08; AKIAOLD: W04; W05; svc-backup: W01,
	 * W06, W07. */
	assert_int_equal(a->n, 9);
	const uint8_t want[] = {AG_W01, AG_W02, AG_W03, AG_W08, AG_W04,
				AG_W05, AG_W01, AG_W06, AG_W07};
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_int_equal(a->got[i].rule, want[i]);
		assert_int_equal(a->got[i].rule, b->got[i].rule);
		assert_int_equal(a->got[i].time_ms, b->got[i].time_ms);
		assert_string_equal(a->got[i].subject, b->got[i].subject);
		assert_string_equal(a->got[i].detail, b->got[i].detail);
		if (i)
			assert_true(a->got[i].time_ms >= a->got[i - 1].time_ms);
	}
	assert_non_null(strstr(a->got[4].detail, "expired"));
	assert_non_null(strstr(a->got[4].detail, "offboarded"));
	const struct ag_watch_stats *st = ag_watch_stats(a->w);
	assert_int_equal(st->alerts, 9);
	assert_int_equal(st->by_rule[AG_W01], 2);
	assert_int_equal(st->by_rule[AG_W07], 1);
	assert_int_equal(st->by_rule[0], 0);
	harness_free(a);
	harness_free(b);
}

/* An error from the alert callback stops the event, with the state
 * already kept. */
static ag_code refuse(void *ctx, const struct ag_alert *a)
{
	(void)a;
	(*(int *)ctx)++;
	return AG_ERR_IO;
}

static void test_callback_error(void **state)
{
	(void)state;
	struct ag_watch *w = NULL;
	struct ag_error err;
	int calls = 0;
	ag_error_init(&err);
	assert_int_equal(ag_watch_new(policy, NULL, NULL, &w, &err), AG_OK);
	struct ag_event e = ev_at(T0, AG_EV_RECOVERY, "cb");
	assert_int_equal(ag_watch_event(w, &e, refuse, &calls, &err), AG_OK);
	e = signin(T0 + H, AG_EV_ACCESS, "cb", "admin", AAL1);
	e.posture = AG_POSTURE_UNMANAGED;
	assert_int_equal(ag_watch_event(w, &e, refuse, &calls, &err),
			 AG_ERR_IO);
	assert_int_equal(calls, 1);
	/* All three were counted and the reset is marked told. */
	assert_int_equal(ag_watch_stats(w)->alerts, 3);
	e.time_ms += M;
	assert_int_equal(ag_watch_event(w, &e, NULL, NULL, &err), AG_OK);
	assert_int_equal(ag_watch_stats(w)->by_rule[AG_W02], 1);
	assert_int_equal(ag_watch_event(NULL, &e, NULL, NULL, &err),
			 AG_ERR_USAGE);
	assert_int_equal(ag_watch_event(w, NULL, NULL, NULL, &err),
			 AG_ERR_USAGE);
	ag_watch_free(w);
	assert_int_equal(ag_watch_new(NULL, NULL, NULL, &w, &err),
			 AG_ERR_USAGE);
	assert_null(w);
}

/* ---- bounded memory ---------------------------------------------------- */

static void test_million_subjects(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok("workflows:\n  staff: { aal: 2 }\n"
					"watch:\n  max_subjects: 1000\n");
	struct ag_watch *w = NULL;
	struct ag_error err;
	char subj[32], cred[32];
	ag_error_init(&err);
	assert_int_equal(ag_watch_new(p, NULL, NULL, &w, &err), AG_OK);
	struct ag_event e = signin(T0, AG_EV_LOGIN, subj, "staff", NULL);
	e.device_id = "dev";
	for (uint32_t i = 0; i < 1000000; i++) {
		snprintf(subj, sizeof(subj), "user-%u", i);
		e.time_ms = T0 + i;
		e.kind = i % 10 == 9 ? AG_EV_RECOVERY : AG_EV_LOGIN;
		assert_int_equal(ag_watch_event(w, &e, NULL, NULL, &err),
				 AG_OK);
		if (i % 100000 == 0)
			assert_true(ag_watch_stats(w)->subjects <= 1000);
	}
	const struct ag_watch_stats *st = ag_watch_stats(w);
	assert_int_equal(st->events, 1000000);
	assert_int_equal(st->subjects, 1000);
	assert_int_equal(st->subjects_peak, 1000);
	assert_int_equal(st->subjects_evicted, 1000000 - 1000);
	assert_int_equal(st->subjects_expired, 0);
	/* The most recent subject is still there: its reset counts. */
	e.subject = "user-999999";
	e.kind = AG_EV_LOGIN;
	e.time_ms = T0 + 1000000;
	assert_int_equal(ag_watch_event(w, &e, NULL, NULL, &err), AG_OK);
	assert_int_equal(ag_watch_stats(w)->subjects_evicted, 1000000 - 1000);

	/* Credentials are bounded the same way. */
	struct ag_event u = use(T0 + 2000000, cred, "10.0.0.1");
	for (uint32_t i = 0; i < 200000; i++) {
		snprintf(cred, sizeof(cred), "AKIA%08u", i);
		u.time_ms = T0 + 2000000 + i;
		assert_int_equal(ag_watch_event(w, &u, NULL, NULL, &err),
				 AG_OK);
	}
	assert_int_equal(st->credentials, 1000);
	assert_int_equal(st->credentials_peak, 1000);
	assert_int_equal(st->credentials_evicted, 200000 - 1000);
	ag_watch_free(w);
	ag_policy_free(p);
}

static void test_expiry(void **state)
{
	(void)state;
	struct h *h = harness(policy, false, NULL);
	h->noise = false;
	int64_t t = T0;
	feed(h, ev_at(t, AG_EV_RECOVERY, "ex-1"));
	feed(h, ev_at(t + D, AG_EV_RECOVERY, "ex-2"));
	const struct ag_watch_stats *st = ag_watch_stats(h->w);
	assert_int_equal(st->subjects, 2);
	/* The horizon is max(state_ttl 7d, 24h, 72h): ex-1 goes at 7d+. */
	feed(h, signin(t + 7 * D + S, AG_EV_LOGIN, "ex-3", "wiki", AAL1));
	assert_int_equal(st->subjects, 2);
	assert_int_equal(st->subjects_expired, 1);
	/* An explicit expiry, say while a followed file is quiet. */
	ag_watch_expire(h->w, t + D + 7 * D + S);
	assert_int_equal(st->subjects, 1);
	assert_int_equal(st->subjects_expired, 2);
	ag_watch_expire(h->w, t + 30 * D);
	assert_int_equal(st->subjects, 0);
	assert_int_equal(st->subjects_peak, 2);
	ag_watch_expire(NULL, 0);
	harness_free(h);
}

/* ---- time out of order ------------------------------------------------- */

static void test_out_of_order(void **state)
{
	(void)state;
	struct h *h = harness(policy, true, NULL);
	h->noise = false;
	int64_t t = T0 + 30 * D;
	struct ag_event e;

	feed(h, ev_at(t, AG_EV_RECOVERY, "oo-1"));
	/* A record from a month earlier: older than the horizon, judged
	 * alone.  Its reset is not kept; its break-glass use alerts. */
	feed(h, ev_at(t - 30 * D, AG_EV_RECOVERY, "oo-late"));
	feed(h, ev_at(t - 30 * D, AG_EV_BREAK_GLASS, "oo-late"));
	const struct ag_watch_stats *st = ag_watch_stats(h->w);
	assert_int_equal(st->late, 2);
	assert_int_equal(st->subjects, 1);
	feed(h, signin(t - 30 * D + H, AG_EV_ACCESS, "oo-late", "admin",
		       AAL3));
	assert_int_equal(count_rule(h, AG_W02), 0);
	assert_int_equal(count_rule(h, AG_W05), 1);
	/* Late within the horizon: judged with the state. */
	feed(h, ev_at(t - 2 * D, AG_EV_RECOVERY, "oo-2"));
	feed(h, signin(t - 2 * D + H, AG_EV_ACCESS, "oo-2", "admin", AAL3));
	only(h, AG_W02, "oo-2", 1);
	/* A privileged access that arrives before its earlier-stamped
	 * reset is not tied to it; the next access is. */
	feed(h, signin(t + 2 * H, AG_EV_ACCESS, "oo-3", "admin", AAL3));
	feed(h, ev_at(t + H, AG_EV_RECOVERY, "oo-3"));
	only(h, AG_W02, "oo-3", 0);
	feed(h, signin(t + 3 * H, AG_EV_ACCESS, "oo-3", "admin", AAL3));
	only(h, AG_W02, "oo-3", 1);
	/* A stamp before the epoch is judged alone too. */
	e = signin(-5 * S, AG_EV_ACCESS, "oo-neg", "admin", AAL3);
	e.posture = AG_POSTURE_UNMANAGED;
	feed(h, e);
	assert_int_equal(st->late, 4);
	only(h, AG_W08, "oo-neg", 1);
	/* A stamp in the year 2100 does not move the clock. */
	int64_t clock = st->clock_ms;
	feed(h, ev_at(4102444800LL * S, AG_EV_RECOVERY, "oo-future"));
	assert_int_equal(st->future, 1);
	assert_int_equal(st->clock_ms, clock);
	feed(h, ev_at(t + 4 * H, AG_EV_RECOVERY, "oo-4"));
	feed(h, signin(t + 5 * H, AG_EV_ACCESS, "oo-4", "admin", AAL3));
	only(h, AG_W02, "oo-4", 1);
	/* A late token use is judged alone: expiry yes, dormancy no. */
	e = use(t - 40 * D, "ci-key", "10.20.0.1");
	e.expires_ms = t - 41 * D;
	feed(h, e);
	assert_int_equal(count_rule(h, AG_W04), 1);
	assert_int_equal(st->credentials, 0);

	/* Shuffled stamps, a day either way, over a small table: no
	 * crash, no growth past the cap. */
	struct ag_policy *p2 = policy_ok(policy_yaml);
	p2->watch.max_subjects = 50;
	struct h *s = harness(p2, false, NULL);
	s->noise = false;
	char subj[32];
	for (int i = 0; i < 20000; i++) {
		snprintf(subj, sizeof(subj), "sh-%u", rnd(s) % 300);
		int64_t ts = T0 + (int64_t)i * 10 * S +
			     ((int64_t)(rnd(s) % (2 * 86400)) - 86400) * S;
		e = i % 3 ? signin(ts, AG_EV_ACCESS, subj, "admin", AAL3)
			  : ev_at(ts, AG_EV_RECOVERY, subj);
		e.device_id = subj;
		feed(s, e);
	}
	const struct ag_watch_stats *s2 = ag_watch_stats(s->w);
	assert_true(s2->subjects <= 50);
	assert_true(s2->subjects_peak <= 50);
	assert_true(s2->subjects_evicted > 0);
	assert_int_equal(s2->events, 20000);
	harness_free(s);
	ag_policy_free(p2);
	harness_free(h);
}

/* ---- saving and loading ------------------------------------------------ */

/* A stream with correlations that span its middle. */
static void stream_part(struct h *h, int part)
{
	int64_t t = T0 + 5 * D;
	struct ag_event e;
	if (part == 0) {
		feed(h, ev_at(t, AG_EV_RECOVERY, "sv-1"));
		feed(h, signin(t + H, AG_EV_ACCESS, "sv-1", "admin", AAL3));
		feed(h, ev_at(t + 2 * H, AG_EV_RECOVERY, "sv-2"));
		feed(h, from(signin(t - D, AG_EV_LOGIN, "sv-3", "staff", AAL2),
			     "sv3-laptop", NULL));
		feed(h, ev_at(t + 3 * H, AG_EV_HELPDESK_RESET, "sv-3"));
		feed(h, ev_at(t + 3 * H + M, AG_EV_ENROLL, "sv-3"));
		feed(h, use(t + 3 * H + 2 * M, "reports-key", "10.30.0.1"));
		e = signin(t + 3 * H + 3 * M, AG_EV_LOGIN, "sv-4", "staff",
			   AAL1);
		feed(h, e);
	} else {
		feed(h, signin(t + 5 * H, AG_EV_ACCESS, "sv-1", "admin", AAL3));
		feed(h, signin(t + 6 * H, AG_EV_ACCESS, "sv-2", "admin", AAL3));
		feed(h, from(signin(t + 7 * H, AG_EV_LOGIN, "sv-3", "staff",
				    AAL2),
			     "sv3-laptop", NULL));
		feed(h, from(signin(t + 8 * H, AG_EV_LOGIN, "sv-3", "staff",
				    AAL2),
			     "evil", NULL));
		/* Forty days on the CI key of the noise would be dormant. */
		bool noise = h->noise;
		h->noise = false;
		feed(h, use(t + 40 * D, "reports-key", "10.30.0.1"));
		h->noise = noise;
	}
}

static void test_save_load(void **state)
{
	(void)state;
	struct tmp d;
	struct ag_error err;
	tmp_make(&d);

	/* The whole stream in one run. */
	struct h *whole = harness(policy, true, NULL);
	stream_part(whole, 0);
	stream_part(whole, 1);

	/* Cut in two with a restart between. */
	struct ag_store *s = store_open(d.db, false);
	struct h *a = harness(policy, true, s);
	ag_error_init(&err);
	assert_int_equal(ag_watch_load(a->w, &err), AG_OK); /* nothing yet */
	assert_false(ag_watch_position(a->w, 1, 2, NULL));
	assert_int_equal(ag_watch_input(a->w, 0, "events.jsonl", &err),
			 AG_OK);
	stream_part(a, 0);
	assert_int_equal(ag_watch_set_position(a->w, 64769, 1234, 100, &err),
			 AG_OK);
	assert_int_equal(ag_watch_set_position(a->w, 64769, 1234, 4096, &err),
			 AG_OK);
	assert_int_equal(ag_watch_set_position(a->w, 64769, 99, 7, &err),
			 AG_OK);
	assert_int_equal(ag_watch_save(a->w, &err), AG_OK);
	size_t subjects = ag_watch_stats(a->w)->subjects;
	uint64_t line = a->line, rng = a->rng;
	int64_t until = a->noise_until;

	struct h *b = harness(policy, true, s);
	b->line = line;
	b->rng = rng;
	b->noise_until = until;
	if (ag_watch_load(b->w, &err) != AG_OK)
		fail_msg("load: %s", err.msg);
	uint64_t off = 0;
	assert_true(ag_watch_position(b->w, 64769, 1234, &off));
	assert_int_equal(off, 4096);
	assert_true(ag_watch_position(b->w, 64769, 99, &off));
	assert_int_equal(off, 7);
	assert_false(ag_watch_position(b->w, 64769, 1235, &off));
	const struct ag_watch_stats *st = ag_watch_stats(b->w);
	assert_int_equal(st->subjects, subjects);
	assert_int_equal(st->credentials, 2); /* reports-key, ci-key */
	assert_int_equal(st->clock_ms, ag_watch_stats(a->w)->clock_ms);
	stream_part(b, 1);

	/* The two runs raise exactly the alerts of the whole one. */
	assert_int_equal(a->n + b->n, whole->n);
	for (size_t i = 0; i < whole->n; i++) {
		const struct got *g = i < a->n ? &a->got[i]
					       : &b->got[i - a->n];
		assert_int_equal(g->rule, whole->got[i].rule);
		assert_string_equal(g->subject, whole->got[i].subject);
		assert_int_equal(g->time_ms, whole->got[i].time_ms);
		assert_string_equal(g->detail, whole->got[i].detail);
	}
	/* sv-1's reset was told before the restart and is not again; sv-2's
	 * is told after it, its evidence naming the first run's file. */
	only(a, AG_W02, "sv-1", 1);
	only(b, AG_W02, "sv-1", 0);
	const struct got *g = only(b, AG_W02, "sv-2", 1);
	assert_true(g->ev[0].file & AG_WATCH_FILE_SAVED);
	assert_string_equal(ag_watch_file(b->w, g->ev[0].file),
			    "events.jsonl");
	assert_int_equal(g->ev[0].time_ms, T0 + 5 * D + 2 * H);
	assert_string_equal(g->ev[0].action, "user.account.reset_password");
	/* The device seen before the restart is still known: only the new
	 * one is a takeover. */
	g = only(b, AG_W03, "sv-3", 1);
	assert_int_equal(g->time_ms, T0 + 5 * D + 8 * H);
	assert_int_equal(g->n_ev, 3);
	/* The key's last use survived too. */
	assert_int_equal(count_rule(b, AG_W04), 1);
	assert_null(ag_watch_file(b->w, 5));
	assert_null(ag_watch_file(b->w, AG_WATCH_FILE_SAVED | 9));

	/* Saved again and loaded a third time: still the same. */
	assert_int_equal(ag_watch_save(b->w, &err), AG_OK);
	struct h *c = harness(policy, true, s);
	assert_int_equal(ag_watch_load(c->w, &err), AG_OK);
	assert_int_equal(ag_watch_stats(c->w)->subjects,
			 ag_watch_stats(b->w)->subjects);
	assert_true(ag_watch_position(c->w, 64769, 1234, &off));
	assert_int_equal(off, 4096);
	feed(c, signin(T0 + 5 * D + 9 * H, AG_EV_ACCESS, "sv-2", "admin",
		       AAL3));
	assert_int_equal(count_rule(c, AG_W02), 0);
	harness_free(c);

	harness_free(whole);
	harness_free(a);
	harness_free(b);
	ag_store_close(s);
	tmp_remove(&d);
}

static void sql(const char *db, const char *q)
{
	sqlite3 *h = NULL;
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	char *msg = NULL;
	if (sqlite3_exec(h, q, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", q, msg);
	sqlite3_close(h);
}

static void test_save_load_errors(void **state)
{
	(void)state;
	struct tmp d;
	struct ag_error err;
	char want[300];
	tmp_make(&d);
	ag_error_init(&err);

	/* No store. */
	struct h *h = harness(policy, false, NULL);
	assert_int_equal(ag_watch_save(h->w, &err), AG_ERR_USAGE);
	assert_string_equal(err.msg, "watch: no state store to save to");
	assert_int_equal(ag_watch_load(h->w, &err), AG_ERR_USAGE);
	harness_free(h);

	struct ag_store *s = store_open(d.db, false);
	h = harness(policy, false, s);
	h->noise = false;
	feed(h, ev_at(T0, AG_EV_RECOVERY, "e-1"));
	assert_int_equal(ag_watch_save(h->w, &err), AG_OK);
	harness_free(h);

	/* A read-only store loads, and refuses a save. */
	struct ag_store *ro = store_open(d.db, true);
	h = harness(policy, false, ro);
	assert_int_equal(ag_watch_load(h->w, &err), AG_OK);
	assert_int_equal(ag_watch_stats(h->w)->subjects, 1);
	assert_int_equal(ag_watch_save(h->w, &err), AG_ERR_IO);
	harness_free(h);
	ag_store_close(ro);

	/* Damaged: a cut chunk, then a foreign one.  Load fails and leaves
	 * the engine empty. */
	sql(d.db, "UPDATE watch_state SET data = substr(data, 1, 40)");
	h = harness(policy, false, s);
	feed(h, ev_at(T0, AG_EV_RECOVERY, "e-2"));
	assert_int_equal(ag_watch_load(h->w, &err), AG_ERR_INVALID);
	snprintf(want, sizeof(want),
		 "%s: the saved watch state is damaged (chunk 0: a record "
		 "is cut short)",
		 d.db);
	assert_string_equal(err.msg, want);
	assert_int_equal(ag_watch_stats(h->w)->subjects, 0);
	sql(d.db, "UPDATE watch_state SET data = x'00010203040506'");
	assert_int_equal(ag_watch_load(h->w, &err), AG_ERR_INVALID);
	assert_non_null(strstr(err.msg, "not watch state"));
	sql(d.db, "DELETE FROM watch_state");
	assert_int_equal(ag_watch_load(h->w, &err), AG_OK);
	harness_free(h);
	ag_store_close(s);
	tmp_remove(&d);
}

/* State saved under a larger max_subjects is trimmed on load. */
static void test_load_trims(void **state)
{
	(void)state;
	struct tmp d;
	struct ag_error err;
	char subj[32];
	tmp_make(&d);
	ag_error_init(&err);
	struct ag_store *s = store_open(d.db, false);
	struct h *h = harness(policy, false, s);
	h->noise = false;
	for (int i = 0; i < 300; i++) {
		snprintf(subj, sizeof(subj), "tr-%d", i);
		feed(h, ev_at(T0 + i * S, AG_EV_RECOVERY, subj));
	}
	assert_int_equal(ag_watch_save(h->w, &err), AG_OK);
	harness_free(h);

	struct ag_policy *p2 = policy_ok(policy_yaml);
	p2->watch.max_subjects = 100;
	h = harness(p2, false, s);
	h->noise = false;
	assert_int_equal(ag_watch_load(h->w, &err), AG_OK);
	assert_int_equal(ag_watch_stats(h->w)->subjects, 100);
	assert_int_equal(ag_watch_stats(h->w)->subjects_evicted, 200);
	/* The most recent hundred are the ones kept. */
	feed(h, signin(T0 + H, AG_EV_ACCESS, "tr-299", "admin", AAL3));
	feed(h, signin(T0 + H, AG_EV_ACCESS, "tr-200", "admin", AAL3));
	feed(h, signin(T0 + H, AG_EV_ACCESS, "tr-199", "admin", AAL3));
	assert_int_equal(count_rule(h, AG_W02), 2);
	only(h, AG_W02, "tr-200", 1);
	only(h, AG_W02, "tr-199", 0);
	harness_free(h);
	ag_policy_free(p2);
	ag_store_close(s);
	tmp_remove(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_noise_is_quiet),
		cmocka_unit_test(test_w01_below_required),
		cmocka_unit_test(test_w01_match_account),
		cmocka_unit_test(test_w02_reset_then_privileged),
		cmocka_unit_test(test_privileged),
		cmocka_unit_test(test_w03_helpdesk_takeover),
		cmocka_unit_test(test_w04_token_outside_policy),
		cmocka_unit_test(test_w05_break_glass),
		cmocka_unit_test(test_w05_marked_in_store),
		cmocka_unit_test(test_w06_legacy_protocol),
		cmocka_unit_test(test_w07_machine_human_use),
		cmocka_unit_test(test_w08_device),
		cmocka_unit_test(test_rule_info),
		cmocka_unit_test(test_same_input_same_alerts),
		cmocka_unit_test(test_callback_error),
		cmocka_unit_test(test_million_subjects),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_save_load),
		cmocka_unit_test(test_save_load_errors),
		cmocka_unit_test(test_load_trims),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
