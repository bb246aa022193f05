/*
 * The machine-identity findings AG-N01..AG-N09 and the visibility score
 * (src/nhi/findings.c), on records built in code: for each rule at least
 * two hand-checked positive cases and one negative, the thresholds of
 * AG-N02, AG-N05 and AG-N06 exactly met (no finding) and passed by one day
 * (a finding), root records, records that are not active, the order of
 * findings, the visibility score on a mixed inventory, and the text and
 * JSON reports.
 *
 * "Now" is 2026-06-30T00:00:00Z throughout.  Days before it, for checking
 * by hand:
 *   2026-06-01  29 days     2026-04-01  90 days (= 30 Jun + 31 May + 29)
 *   2026-03-31  91 days     2026-01-01 180 days (31+28+31+30+31 + 29)
 * The policy's thresholds are stale 90d, rotate 90d, max_lifetime 365d.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"
#include "aalgate/nhi.h"

#define NOW "2026-06-30T00:00:00Z"
#define DAY 86400
#define N_OF(x) (sizeof(x) / sizeof((x)[0]))

static const char policy_text[] =
	"profile: sp800-63b-4\n"
	"workflows:\n"
	"  staff: { aal: 2 }\n"
	"  ci-deploy: { machine: true, max_token_lifetime: 1h,\n"
	"               credentials: [workload_identity, mtls] }\n"
	"  mixed: { machine: true, credentials: [mtls, client_secret] }\n"
	"nhi: { stale: 90d, rotate: 90d, max_lifetime: 365d }\n";

/* Seconds since the epoch of a date written out. */
static int64_t D(const char *s)
{
	int64_t t = 0;
	if (ag_time_parse(s, &t) != AG_OK)
		fail_msg("bad date '%s'", s);
	return t;
}

/* A list field that is known (an empty LIST is known and empty). */
static struct ag_nhi_list L(const char *const *v)
{
	struct ag_nhi_list l = {(char **)v, list_len(v), true};
	return l;
}

/* An inventory being built, its policy and its audit. */
struct t {
	struct ag_policy *p;
	struct ag_nhi_inventory inv;
	struct ag_nhi_audit a;
	uint32_t file;
	unsigned line;
};

static void t_init(struct t *t, const char *policy)
{
	struct ag_error err;
	memset(t, 0, sizeof(*t));
	t->p = policy_ok(policy ? policy : policy_text);
	assert_int_equal(ag_nhi_inventory_init(&t->inv), AG_OK);
	ag_error_init(&err);
	assert_int_equal(ag_nhi_add_file(&t->inv, "inventory.csv", &t->file,
					 &err),
			 AG_OK);
	t->line = 1; /* the header */
}

static void t_release(struct t *t)
{
	ag_nhi_audit_release(&t->a);
	ag_nhi_inventory_release(&t->inv);
	ag_policy_free(t->p);
}

/* A new record: active, an owner who is active unless set otherwise (no
 * owners list: ag_nhi_resolve takes a named owner as active). */
static struct ag_nhi R(struct t *t, const char *id, const char *kind)
{
	struct ag_nhi r;
	memset(&r, 0, sizeof(r));
	r.id = (char *)id;
	r.kind = (char *)kind;
	r.owner = (char *)"alice";
	r.status = AG_NHI_ACTIVE;
	r.method = -1;
	r.workflow_idx = -1;
	r.file = t->file;
	r.line = ++t->line;
	r.col = 1;
	return r;
}

static void add(struct t *t, const struct ag_nhi *r)
{
	struct ag_error err;
	ag_error_init(&err);
	if (ag_nhi_add(&t->inv, r, &err) != AG_OK)
		fail_msg("record '%s' not added: %s", r->id, err.msg);
}

static void owner(struct t *t, const char *id, const char *team,
		  enum ag_owner_status st)
{
	struct ag_nhi_owner o = {(char *)id, (char *)team, (uint8_t)st,
				 t->file, 0, 0};
	struct ag_error err;
	ag_error_init(&err);
	if (ag_nhi_add_owner(&t->inv, &o, &err) != AG_OK)
		fail_msg("owner '%s' not added: %s", id, err.msg);
}

static void run(struct t *t)
{
	struct ag_error err;
	ag_error_init(&err);
	if (ag_nhi_resolve(&t->inv, t->p, &err) != AG_OK)
		fail_msg("resolve failed: %s", err.msg);
	ag_error_init(&err);
	if (ag_nhi_audit_run(&t->inv, t->p, D(NOW), &t->a, &err) != AG_OK)
		fail_msg("audit failed: %s", err.msg);
	assert_int_equal(t->a.now, D(NOW));
}

/* The finding of rule r on record id, or NULL; there is at most one. */
static const struct ag_nhi_finding *F(const struct t *t, const char *id,
				      enum ag_rule r)
{
	const struct ag_nhi_finding *hit = NULL;
	for (size_t i = 0; i < t->a.n_findings; i++) {
		const struct ag_nhi_finding *f = &t->a.findings[i];
		if (f->rule != (uint8_t)r || strcmp(t->inv.v[f->record].id, id))
			continue;
		if (hit)
			fail_msg("two findings of one rule on '%s'", id);
		hit = f;
	}
	return hit;
}

/* Asserts one finding of rule r on id, with this severity, days and
 * detail. */
static void has(const struct t *t, const char *id, enum ag_rule r,
		enum ag_severity sev, int64_t days, const char *detail)
{
	const struct ag_nhi_finding *f = F(t, id, r);
	if (!f)
		fail_msg("no %s on '%s'", ag_rule_info(r)->code, id);
	assert_int_equal(f->severity, sev);
	assert_int_equal(f->days, days);
	assert_string_equal(f->detail, detail);
}

static void none(const struct t *t, const char *id, enum ag_rule r)
{
	if (F(t, id, r))
		fail_msg("unexpected %s on '%s': %s", ag_rule_info(r)->code, id,
			 F(t, id, r)->detail);
}

/* ---- the age rule itself -------------------------------------------------- */

static void test_overdue(void **state)
{
	(void)state;
	int64_t now = D(NOW), days = -1;

	/* 2026-04-01 is 90 days before now: exactly at 90d, not overdue. */
	assert_false(ag_nhi_overdue(now, D("2026-04-01"), 90 * DAY, &days));
	assert_int_equal(days, -1);
	/* 2026-03-31 is 91 days before: overdue by one day. */
	assert_true(ag_nhi_overdue(now, D("2026-03-31"), 90 * DAY, &days));
	assert_int_equal(days, 91);
	/* One second past the threshold is past it; days round down. */
	assert_true(ag_nhi_overdue(now, now - 90 * DAY - 1, 90 * DAY, &days));
	assert_int_equal(days, 90);
	/* Unknown (0) is never overdue; neither is the future. */
	assert_false(ag_nhi_overdue(now, 0, 90 * DAY, &days));
	assert_false(ag_nhi_overdue(now, now + DAY, 0, &days));
}

/* ---- AG-N01 orphaned ---------------------------------------------------- */

static void test_n01(void **state)
{
	(void)state;
	struct t t;
	struct ag_nhi r;

	t_init(&t, NULL);
	owner(&t, "alice", "payments", AG_OWNER_ACTIVE);
	owner(&t, "carol", "payments", AG_OWNER_OFFBOARDED);
	/* + no owner at all */
	r = R(&t, "no-owner", "api_key");
	r.owner = NULL;
	add(&t, &r);
	/* + the owners list says carol is offboarded */
	r = R(&t, "carols-key", "api_key");
	r.owner = (char *)"carol";
	add(&t, &r);
	/* + dave is not in the owners list */
	r = R(&t, "daves-key", "api_key");
	r.owner = (char *)"dave";
	add(&t, &r);
	/* + the record itself says offboarded, whatever the list says */
	r = R(&t, "said-offboarded", "api_key");
	r.owner_status = AG_OWNER_OFFBOARDED;
	r.owner_status_given = true;
	add(&t, &r);
	/* - alice is active in the owners list */
	r = R(&t, "alices-key", "api_key");
	add(&t, &r);
	run(&t);

	has(&t, "no-owner", AG_N01, AG_SEV_HIGH, 0, "no owner is recorded");
	has(&t, "carols-key", AG_N01, AG_SEV_HIGH, 0,
	    "owner 'carol' is offboarded");
	has(&t, "daves-key", AG_N01, AG_SEV_HIGH, 0,
	    "owner 'dave' is not in the owners list");
	has(&t, "said-offboarded", AG_N01, AG_SEV_HIGH, 0,
	    "owner 'alice' is offboarded");
	none(&t, "alices-key", AG_N01);
	t_release(&t);

	/* - without an owners list a named owner is taken as active */
	t_init(&t, NULL);
	r = R(&t, "named", "api_key");
	r.owner = (char *)"erin";
	add(&t, &r);
	run(&t);
	none(&t, "named", AG_N01);
	t_release(&t);
}

/* ---- AG-N02 stale (nhi.stale 90d) ----------------------------------------- */

static void test_n02(void **state)
{
	(void)state;
	struct t t;
	struct ag_nhi r;

	t_init(&t, NULL);
	/* + last used 2026-03-31: 91 days > 90d */
	r = R(&t, "used-91", "api_key");
	r.created = D("2025-01-01");
	r.last_used = D("2026-03-31");
	add(&t, &r);
	/* - last used 2026-04-01: exactly 90 days, not past it */
	r = R(&t, "used-90", "api_key");
	r.created = D("2025-01-01");
	r.last_used = D("2026-04-01");
	add(&t, &r);
	/* + never used, created 2026-03-31: counts from creation, 91 days */
	r = R(&t, "never-91", "api_key");
	r.created = D("2026-03-31");
	r.never_used = true;
	add(&t, &r);
	/* - never used, created 2026-04-01: 90 days */
	r = R(&t, "never-90", "api_key");
	r.created = D("2026-04-01");
	r.never_used = true;
	add(&t, &r);
	/* + last use unknown, created 2026-01-01: 180 days */
	r = R(&t, "unknown-180", "client_secret");
	r.created = D("2026-01-01");
	add(&t, &r);
	/* - used 2026-06-01 (29 days ago), created long before */
	r = R(&t, "recent", "api_key");
	r.created = D("2020-01-01");
	r.last_used = D("2026-06-01");
	add(&t, &r);
	/* - nothing known: no age to judge */
	r = R(&t, "no-dates", "api_key");
	add(&t, &r);
	run(&t);

	has(&t, "used-91", AG_N02, AG_SEV_MEDIUM, 91,
	    "last used 2026-03-31, 91 days ago; nhi.stale is 90d");
	none(&t, "used-90", AG_N02);
	has(&t, "never-91", AG_N02, AG_SEV_MEDIUM, 91,
	    "never used since its creation on 2026-03-31, 91 days ago; "
	    "nhi.stale is 90d");
	none(&t, "never-90", AG_N02);
	has(&t, "unknown-180", AG_N02, AG_SEV_MEDIUM, 180,
	    "never used since its creation on 2026-01-01, 180 days ago; "
	    "nhi.stale is 90d");
	none(&t, "recent", AG_N02);
	none(&t, "no-dates", AG_N02);
	t_release(&t);

	/* The threshold comes from the policy: with stale: 30d, a last use
	 * on 2026-05-31 (30 days) is within it, 2026-05-30 (31) is not. */
	t_init(&t, "nhi: { stale: 30d }\n");
	r = R(&t, "used-30", "api_key");
	r.last_used = D("2026-05-31");
	add(&t, &r);
	r = R(&t, "used-31", "api_key");
	r.last_used = D("2026-05-30");
	add(&t, &r);
	run(&t);
	none(&t, "used-30", AG_N02);
	has(&t, "used-31", AG_N02, AG_SEV_MEDIUM, 31,
	    "last used 2026-05-30, 31 days ago; nhi.stale is 30d");
	t_release(&t);
}

/* ---- AG-N03 weak-auth ------------------------------------------------------ */

static void test_n03(void **state)
{
	(void)state;
	struct t t;
	struct ag_nhi r;

	t_init(&t, NULL);
	/* + an API key on a workflow that takes workload_identity, mtls */
	r = R(&t, "deploy-key", "api_key");
	r.workflow = (char *)"ci-deploy";
	add(&t, &r);
	/* + a client secret there */
	r = R(&t, "deploy-secret", "client_secret");
	r.workflow = (char *)"ci-deploy";
	add(&t, &r);
	/* + a password there */
	r = R(&t, "deploy-password", "password");
	r.workflow = (char *)"ci-deploy";
	add(&t, &r);
	/* - mtls there: key-bound */
	r = R(&t, "deploy-mtls", "mtls");
	r.workflow = (char *)"ci-deploy";
	add(&t, &r);
	/* - an API key on a workflow that also takes client_secret */
	r = R(&t, "mixed-key", "api_key");
	r.workflow = (char *)"mixed";
	add(&t, &r);
	/* - a workflow that lists no credentials; and no workflow */
	r = R(&t, "staff-key", "api_key");
	r.workflow = (char *)"staff";
	add(&t, &r);
	r = R(&t, "free-key", "api_key");
	add(&t, &r);
	run(&t);

	has(&t, "deploy-key", AG_N03, AG_SEV_HIGH, 0,
	    "kind 'api_key' is not key-bound; workflow 'ci-deploy' takes "
	    "only workload_identity, mtls");
	has(&t, "deploy-secret", AG_N03, AG_SEV_HIGH, 0,
	    "kind 'client_secret' is not key-bound; workflow 'ci-deploy' "
	    "takes only workload_identity, mtls");
	has(&t, "deploy-password", AG_N03, AG_SEV_HIGH, 0,
	    "kind 'password' is not key-bound; workflow 'ci-deploy' takes "
	    "only workload_identity, mtls");
	none(&t, "deploy-mtls", AG_N03);
	none(&t, "mixed-key", AG_N03);
	none(&t, "staff-key", AG_N03);
	none(&t, "free-key", AG_N03);
	t_release(&t);
}

/* ---- AG-N04 overprivileged ------------------------------------------------ */

static void test_n04(void **state)
{
	(void)state;
	struct t t;
	struct ag_nhi r;

	t_init(&t, NULL);
	/* + read, write, admin granted; read used */
	r = R(&t, "wide", "api_key");
	r.scopes = L(LIST("read", "write", "admin"));
	r.used_scopes = L(LIST("read"));
	add(&t, &r);
	/* + repo granted (twice), nothing used (known and empty) */
	r = R(&t, "unused", "api_key");
	r.scopes = L(LIST("repo", "repo"));
	r.used_scopes = L(NULL);
	add(&t, &r);
	/* - every granted scope used, in another order */
	r = R(&t, "exact", "api_key");
	r.scopes = L(LIST("read", "write"));
	r.used_scopes = L(LIST("write", "read"));
	add(&t, &r);
	/* - granted scopes known, used scopes unknown: nothing to compare */
	r = R(&t, "unknown-use", "api_key");
	r.scopes = L(LIST("admin"));
	add(&t, &r);
	run(&t);

	has(&t, "wide", AG_N04, AG_SEV_MEDIUM, 0,
	    "2 granted scopes never used: write, admin");
	has(&t, "unused", AG_N04, AG_SEV_MEDIUM, 0,
	    "1 granted scope never used: repo");
	none(&t, "exact", AG_N04);
	none(&t, "unknown-use", AG_N04);
	t_release(&t);
}

/* ---- AG-N05 long-lived (nhi.max_lifetime 365d) ---------------------------- */

static void test_n05(void **state)
{
	(void)state;
	struct t t;
	struct ag_nhi r;

	t_init(&t, NULL);
	/* + no expiry, created 2026-01-01 (180 days ago) */
	r = R(&t, "forever", "api_key");
	r.created = D("2026-01-01");
	add(&t, &r);
	/* - created 2026-01-01, expires 2027-01-01: exactly 365 days */
	r = R(&t, "year", "api_key");
	r.created = D("2026-01-01");
	r.expires = D("2027-01-01");
	add(&t, &r);
	/* + created 2026-01-01, expires 2027-01-02: 366 days */
	r = R(&t, "year-and-a-day", "api_key");
	r.created = D("2026-01-01");
	r.expires = D("2027-01-02");
	add(&t, &r);
	/* + counts from the last rotation, not creation: rotated
	 *   2026-06-30, expires 2027-07-01: 365 + 1 = 366 days */
	r = R(&t, "rotated", "client_secret");
	r.created = D("2020-01-01");
	r.last_rotated = D("2026-06-30");
	r.expires = D("2027-07-01");
	add(&t, &r);
	/* - no dates but the expiry: counts from now; 2027-06-30 is 365
	 *   days from 2026-06-30 */
	r = R(&t, "undated", "api_key");
	r.expires = D("2027-06-30");
	add(&t, &r);
	/* - a workload identity without expiry: its tokens are minted per
	 *   use */
	r = R(&t, "workload", "workload_identity");
	r.created = D("2020-01-01");
	add(&t, &r);
	run(&t);

	has(&t, "forever", AG_N05, AG_SEV_MEDIUM, 180,
	    "no expiry; created 2026-01-01, 180 days ago; nhi.max_lifetime "
	    "is 365d");
	none(&t, "year", AG_N05);
	has(&t, "year-and-a-day", AG_N05, AG_SEV_MEDIUM, 366,
	    "expires 2027-01-02, 366 days after it was created on "
	    "2026-01-01; nhi.max_lifetime is 365d");
	has(&t, "rotated", AG_N05, AG_SEV_MEDIUM, 366,
	    "expires 2027-07-01, 366 days after it was last rotated on "
	    "2026-06-30; nhi.max_lifetime is 365d");
	none(&t, "undated", AG_N05);
	none(&t, "workload", AG_N05);
	t_release(&t);
}

/* ---- AG-N06 unrotated (nhi.rotate 90d) ------------------------------------ */

static void test_n06(void **state)
{
	(void)state;
	struct t t;
	struct ag_nhi r;

	t_init(&t, NULL);
	/* + last rotated 2026-03-31: 91 days */
	r = R(&t, "rot-91", "api_key");
	r.created = D("2024-01-01");
	r.last_rotated = D("2026-03-31");
	add(&t, &r);
	/* - last rotated 2026-04-01: exactly 90 days */
	r = R(&t, "rot-90", "api_key");
	r.created = D("2024-01-01");
	r.last_rotated = D("2026-04-01");
	add(&t, &r);
	/* + never rotated, created 2026-03-31: counts from creation, 91 */
	r = R(&t, "new-91", "client_secret");
	r.created = D("2026-03-31");
	add(&t, &r);
	/* - never rotated, created 2026-04-01: 90 days */
	r = R(&t, "new-90", "client_secret");
	r.created = D("2026-04-01");
	add(&t, &r);
	/* - a workload identity has nothing to rotate */
	r = R(&t, "workload", "workload_identity");
	r.created = D("2020-01-01");
	add(&t, &r);
	run(&t);

	has(&t, "rot-91", AG_N06, AG_SEV_MEDIUM, 91,
	    "last rotated 2026-03-31, 91 days ago; nhi.rotate is 90d");
	none(&t, "rot-90", AG_N06);
	has(&t, "new-91", AG_N06, AG_SEV_MEDIUM, 91,
	    "never rotated since its creation on 2026-03-31, 91 days ago; "
	    "nhi.rotate is 90d");
	none(&t, "new-90", AG_N06);
	none(&t, "workload", AG_N06);
	t_release(&t);
}

/* ---- AG-N07 cross-environment --------------------------------------------- */

static void test_n07(void **state)
{
	(void)state;
	struct t t;
	struct ag_nhi r;

	/* The default production names: prod, production, prd, live. */
	t_init(&t, NULL);
	/* + prod and staging */
	r = R(&t, "prod-staging", "api_key");
	r.environments = L(LIST("prod", "staging"));
	add(&t, &r);
	/* + LIVE (names are compared without case) and dev, qa */
	r = R(&t, "live-dev", "api_key");
	r.environments = L(LIST("dev", "LIVE", "qa"));
	add(&t, &r);
	/* - two production names */
	r = R(&t, "prod-only", "api_key");
	r.environments = L(LIST("prod", "production"));
	add(&t, &r);
	/* - one non-production environment */
	r = R(&t, "staging-only", "api_key");
	r.environments = L(LIST("staging"));
	add(&t, &r);
	run(&t);

	has(&t, "prod-staging", AG_N07, AG_SEV_HIGH, 0,
	    "used in production (prod) and elsewhere (staging)");
	has(&t, "live-dev", AG_N07, AG_SEV_HIGH, 0,
	    "used in production (LIVE) and elsewhere (dev, qa)");
	none(&t, "prod-only", AG_N07);
	none(&t, "staging-only", AG_N07);
	t_release(&t);

	/* The policy's own names replace the defaults: "prod" is then
	 * just another environment. */
	t_init(&t, "nhi: { production: [main, main-eu] }\n");
	r = R(&t, "main-test", "api_key");
	r.environments = L(LIST("main-eu", "test"));
	add(&t, &r);
	r = R(&t, "prod-test", "api_key");
	r.environments = L(LIST("prod", "test"));
	add(&t, &r);
	run(&t);
	has(&t, "main-test", AG_N07, AG_SEV_HIGH, 0,
	    "used in production (main-eu) and elsewhere (test)");
	none(&t, "prod-test", AG_N07);
	t_release(&t);
}

/* ---- AG-N08 reused ---------------------------------------------------------- */

static void test_n08(void **state)
{
	(void)state;
	struct t t;
	struct ag_nhi r;

	t_init(&t, NULL);
	/* + two services */
	r = R(&t, "shared", "api_key");
	r.used_by = L(LIST("billing", "reports"));
	add(&t, &r);
	/* + three distinct services among four entries */
	r = R(&t, "three", "client_secret");
	r.used_by = L(LIST("a", "b", "a", "c"));
	add(&t, &r);
	/* - one service named twice */
	r = R(&t, "twice", "api_key");
	r.used_by = L(LIST("billing", "billing"));
	add(&t, &r);
	/* - one service */
	r = R(&t, "one", "api_key");
	r.used_by = L(LIST("billing"));
	add(&t, &r);
	run(&t);

	has(&t, "shared", AG_N08, AG_SEV_MEDIUM, 0,
	    "used by 2 services: billing, reports");
	has(&t, "three", AG_N08, AG_SEV_MEDIUM, 0,
	    "used by 3 services: a, b, c");
	none(&t, "twice", AG_N08);
	none(&t, "one", AG_N08);
	t_release(&t);
}

/* ---- AG-N09 human-use ------------------------------------------------------- */

static void test_n09(void **state)
{
	(void)state;
	struct t t;
	struct ag_nhi r;

	t_init(&t, NULL);
	/* + used interactively, last on 2026-06-01 */
	r = R(&t, "console", "password");
	r.interactive = true;
	r.last_interactive = D("2026-06-01");
	add(&t, &r);
	/* + used interactively, date unknown */
	r = R(&t, "shell", "api_key");
	r.interactive = true;
	add(&t, &r);
	/* - not interactive */
	r = R(&t, "batch", "api_key");
	add(&t, &r);
	run(&t);

	has(&t, "console", AG_N09, AG_SEV_HIGH, 0,
	    "used interactively, last on 2026-06-01");
	has(&t, "shell", AG_N09, AG_SEV_HIGH, 0,
	    "used interactively (a console, shell or browser sign-in)");
	none(&t, "batch", AG_N09);
	t_release(&t);
}

/* ---- root, status, order ---------------------------------------------------- */

static void test_root_critical(void **state)
{
	(void)state;
	struct t t;
	struct ag_nhi r;

	t_init(&t, NULL);
	/* An AWS root user's key: no owner, no expiry, last used
	 * 2026-03-31 (91 days), created 2026-01-01 and never rotated (180
	 * days). */
	r = R(&t, "root-key", "api_key");
	r.root = true;
	r.owner = NULL;
	r.created = D("2026-01-01");
	r.last_used = D("2026-03-31");
	add(&t, &r);
	/* The same key on an ordinary user: the rules' own severities. */
	r = R(&t, "user-key", "api_key");
	r.owner = NULL;
	r.created = D("2026-01-01");
	r.last_used = D("2026-03-31");
	add(&t, &r);
	run(&t);

	has(&t, "root-key", AG_N01, AG_SEV_CRITICAL, 0, "no owner is recorded");
	has(&t, "root-key", AG_N02, AG_SEV_CRITICAL, 91,
	    "last used 2026-03-31, 91 days ago; nhi.stale is 90d");
	has(&t, "root-key", AG_N05, AG_SEV_CRITICAL, 180,
	    "no expiry; created 2026-01-01, 180 days ago; nhi.max_lifetime "
	    "is 365d");
	has(&t, "root-key", AG_N06, AG_SEV_CRITICAL, 180,
	    "never rotated since its creation on 2026-01-01, 180 days ago; "
	    "nhi.rotate is 90d");
	has(&t, "user-key", AG_N01, AG_SEV_HIGH, 0, "no owner is recorded");
	has(&t, "user-key", AG_N02, AG_SEV_MEDIUM, 91,
	    "last used 2026-03-31, 91 days ago; nhi.stale is 90d");
	assert_int_equal(t.a.n_findings, 8);
	assert_int_equal(ag_nhi_audit_max_severity(&t.a), AG_SEV_CRITICAL);
	t_release(&t);
}

static void test_not_active(void **state)
{
	(void)state;
	struct t t;
	struct ag_nhi r;

	t_init(&t, NULL);
	/* Everything wrong, but retired or disabled: not judged, not
	 * counted. */
	r = R(&t, "retired", "api_key");
	r.status = AG_NHI_RETIRED;
	r.owner = NULL;
	r.root = true;
	r.created = D("2020-01-01");
	r.interactive = true;
	r.used_by = L(LIST("a", "b"));
	add(&t, &r);
	r = R(&t, "disabled", "client_secret");
	r.status = AG_NHI_DISABLED;
	r.owner = NULL;
	r.workflow = (char *)"ci-deploy";
	r.created = D("2020-01-01");
	r.environments = L(LIST("prod", "dev"));
	add(&t, &r);
	/* One active record with nothing wrong and everything known. */
	r = R(&t, "good", "workload_identity");
	r.purpose = (char *)"deploys";
	r.created = D("2026-06-01");
	r.last_used = D("2026-06-29");
	add(&t, &r);
	run(&t);

	assert_int_equal(t.a.n_findings, 0);
	assert_int_equal(ag_nhi_audit_max_severity(&t.a), -1);
	assert_int_equal(t.a.overall.total, 1);
	assert_int_equal(t.a.overall.full, 1);
	assert_true(ag_nhi_visibility_pct(&t.a.overall) == 100.0);
	t_release(&t);
}

static void test_order(void **state)
{
	(void)state;
	struct t t;
	struct ag_nhi r;

	t_init(&t, NULL);
	/* Record order, then rule order, whatever the severity. */
	r = R(&t, "first", "api_key");
	r.owner = NULL;                               /* N01 */
	r.expires = D("2026-12-31");                  /* within 365d */
	r.used_by = L(LIST("x", "y"));                /* N08 */
	r.interactive = true;                         /* N09 */
	add(&t, &r);
	r = R(&t, "second", "api_key");
	r.created = D("2026-01-01");                  /* N02, N05, N06 */
	add(&t, &r);
	run(&t);

	static const struct {
		const char *id;
		enum ag_rule rule;
	} want[] = {
		{"first", AG_N01},  {"first", AG_N08},  {"first", AG_N09},
		{"second", AG_N02}, {"second", AG_N05}, {"second", AG_N06},
	};
	assert_int_equal(t.a.n_findings, N_OF(want));
	for (size_t i = 0; i < N_OF(want); i++) {
		const struct ag_nhi_finding *f = &t.a.findings[i];
		assert_string_equal(t.inv.v[f->record].id, want[i].id);
		assert_int_equal(f->rule, want[i].rule);
	}
	t_release(&t);
}

static void test_unresolved(void **state)
{
	(void)state;
	struct t t;
	struct ag_nhi r;
	struct ag_error err;

	t_init(&t, NULL);
	r = R(&t, "k", "api_key");
	add(&t, &r);
	ag_error_init(&err);
	/* Not resolved: refused, not judged on guesses. */
	assert_int_equal(ag_nhi_audit_run(&t.inv, t.p, D(NOW), &t.a, &err),
			 AG_ERR_USAGE);
	assert_int_equal(t.a.n_findings, 0);
	assert_null(t.a.findings);
	t_release(&t);
}

/* ---- visibility --------------------------------------------------------------- */

/*
 * Eight active records over three teams and none, and one retired:
 *
 *   id  team (from)         owner      purpose rotation      last use  full
 *   p1  payments (alice)    active     yes     2026-04-01    yes       yes
 *   p2  payments (alice)    active     yes     workload      never     yes
 *   p3  payments (bob)      offboarded yes     yes           yes       no
 *   d1  data (carol)        active     no      yes           yes       no
 *   d2  data (carol)        active     yes     yes           unknown   no
 *   d3  ml (its own team)   active     yes     yes           yes       yes
 *   n1  (no team)           none       yes     yes           yes       no
 *   n2  (no team)           dave: not  yes     unknown       yes       no
 *                           listed
 *   r1  retired: not counted
 *
 * Full: p1, p2, d3 = 3 of 8 = 37.5%.
 */
static void test_visibility(void **state)
{
	(void)state;
	struct t t;
	struct ag_nhi r;

	t_init(&t, NULL);
	owner(&t, "alice", "payments", AG_OWNER_ACTIVE);
	owner(&t, "bob", "payments", AG_OWNER_OFFBOARDED);
	owner(&t, "carol", "data", AG_OWNER_ACTIVE);

	r = R(&t, "p1", "api_key");
	r.purpose = (char *)"invoices";
	r.last_rotated = D("2026-04-01");
	r.last_used = D("2026-06-29");
	add(&t, &r);
	r = R(&t, "p2", "workload_identity");
	r.purpose = (char *)"payouts";
	r.never_used = true;
	add(&t, &r);
	r = R(&t, "p3", "api_key");
	r.owner = (char *)"bob";
	r.purpose = (char *)"refunds";
	r.last_rotated = D("2026-04-01");
	r.last_used = D("2026-06-29");
	add(&t, &r);
	r = R(&t, "d1", "client_secret");
	r.owner = (char *)"carol";
	r.last_rotated = D("2026-04-01");
	r.last_used = D("2026-06-29");
	add(&t, &r);
	r = R(&t, "d2", "client_secret");
	r.owner = (char *)"carol";
	r.purpose = (char *)"etl";
	r.last_rotated = D("2026-04-01");
	add(&t, &r);
	r = R(&t, "d3", "mtls");
	r.owner = (char *)"carol";
	r.team = (char *)"ml";
	r.purpose = (char *)"training";
	r.last_rotated = D("2026-04-01");
	r.last_used = D("2026-06-29");
	add(&t, &r);
	r = R(&t, "n1", "api_key");
	r.owner = NULL;
	r.purpose = (char *)"legacy";
	r.last_rotated = D("2026-04-01");
	r.last_used = D("2026-06-29");
	add(&t, &r);
	r = R(&t, "n2", "api_key");
	r.owner = (char *)"dave";
	r.purpose = (char *)"exports";
	r.last_used = D("2026-06-29");
	add(&t, &r);
	r = R(&t, "r1", "api_key");
	r.status = AG_NHI_RETIRED;
	r.purpose = (char *)"old";
	add(&t, &r);
	run(&t);

	const struct ag_nhi_visibility *o = &t.a.overall;
	assert_null(o->team);
	assert_int_equal(o->total, 8);
	assert_int_equal(o->owner, 5);    /* all but p3, n1, n2 */
	assert_int_equal(o->purpose, 7);  /* all but d1 */
	assert_int_equal(o->rotation, 7); /* all but n2 */
	assert_int_equal(o->last_use, 7); /* all but d2 */
	assert_int_equal(o->full, 3);
	assert_true(ag_nhi_visibility_pct(o) == 37.5);

	/* Sorted by name; "" (no team) first. */
	static const struct {
		const char *team;
		size_t total, owner, purpose, rotation, last_use, full;
	} want[] = {
		{"", 2, 0, 2, 1, 2, 0},
		{"data", 2, 2, 1, 2, 1, 0},
		{"ml", 1, 1, 1, 1, 1, 1},
		{"payments", 3, 2, 3, 3, 3, 2},
	};
	assert_int_equal(t.a.n_teams, N_OF(want));
	for (size_t i = 0; i < N_OF(want); i++) {
		const struct ag_nhi_visibility *v = &t.a.teams[i];
		assert_string_equal(v->team, want[i].team);
		assert_int_equal(v->total, want[i].total);
		assert_int_equal(v->owner, want[i].owner);
		assert_int_equal(v->purpose, want[i].purpose);
		assert_int_equal(v->rotation, want[i].rotation);
		assert_int_equal(v->last_use, want[i].last_use);
		assert_int_equal(v->full, want[i].full);
	}
	assert_true(ag_nhi_visibility_pct(&t.a.teams[0]) == 0.0);
	assert_true(ag_nhi_visibility_pct(&t.a.teams[2]) == 100.0);
	/* 2 of 3 */
	double pay = ag_nhi_visibility_pct(&t.a.teams[3]);
	assert_true(pay > 66.666 && pay < 66.667);
	struct ag_nhi_visibility empty = {0};
	assert_true(ag_nhi_visibility_pct(&empty) == 0.0);

	/* The text report's score line and table. */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct ag_error err;
	assert_non_null(f);
	ag_error_init(&err);
	assert_int_equal(ag_nhi_report(f, AG_NHI_REPORT_TEXT, &t.inv, t.p,
				       &t.a, &err),
			 AG_OK);
	fclose(f);
	assert_non_null(strstr(text,
			       "\nvisibility: 37.5% (3 of 8 active identities "
			       "have a known owner, purpose, rotation and last "
			       "use)\n"
			       "  team      total  owner  purpose  rotation  "
			       "last use  full   score\n"
			       "  (no team)     2      0        2         1  "
			       "       2     0    0.0%\n"
			       "  data          2      2        1         2  "
			       "       1     0    0.0%\n"
			       "  ml            1      1        1         1  "
			       "       1     1  100.0%\n"
			       "  payments      3      2        3         3  "
			       "       3     2   66.7%\n"));
	static const char head[] = "9 machine identities, 8 active, as of "
				   "2026-06-30; ";
	assert_true(strncmp(text, head, strlen(head)) == 0);
	free(text);

	/* The JSON report's visibility. */
	text = NULL;
	f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(ag_nhi_report(f, AG_NHI_REPORT_JSON, &t.inv, t.p,
				       &t.a, &err),
			 AG_OK);
	fclose(f);
	assert_non_null(strstr(text,
			       "\"overall\": {\"total\": 8, \"owner\": 5, "
			       "\"purpose\": 7, \"rotation\": 7, \"last_use\": "
			       "7, \"full\": 3, \"percent\": 37.5}"));
	assert_non_null(strstr(text,
			       "{\"team\": null, \"total\": 2, \"owner\": 0, "
			       "\"purpose\": 2, \"rotation\": 1, \"last_use\": "
			       "2, \"full\": 0, \"percent\": 0.0}"));
	assert_non_null(strstr(text, "\"as_of\": \"2026-06-30T00:00:00Z\""));
	free(text);
	t_release(&t);
}

/* The text report: worst first, each with its fix and its place. */
static void test_text_report(void **state)
{
	(void)state;
	struct t t;
	struct ag_nhi r;

	t_init(&t, NULL);
	r = R(&t, "ci-key", "api_key"); /* line 2 */
	r.issuer = (char *)"https://idp.example";
	r.created = D("2026-06-01");
	r.expires = D("2026-12-31");
	r.used_by = L(LIST("ci", "cd")); /* N08, medium */
	add(&t, &r);
	r = R(&t, "console", "password"); /* line 3 */
	r.purpose = (char *)"ops";
	r.created = D("2026-06-01");
	r.expires = D("2026-12-31");
	r.interactive = true;             /* N09, high */
	add(&t, &r);
	run(&t);

	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct ag_error err;
	assert_non_null(f);
	ag_error_init(&err);
	assert_int_equal(ag_nhi_report(f, AG_NHI_REPORT_TEXT, &t.inv, t.p,
				       &t.a, &err),
			 AG_OK);
	fclose(f);
	assert_string_equal(
		text,
		"2 machine identities, 2 active, as of 2026-06-30; 2 findings "
		"(1 high, 1 medium)\n"
		"\n"
		"HIGH AG-N09 human-use: 'console' (password): used "
		"interactively (a console, shell or browser sign-in)\n"
		"  fix: stop interactive use: people sign in as themselves; "
		"remove the identity's console or password access\n"
		"  at inventory.csv:3:1\n"
		"\n"
		"MEDIUM AG-N08 reused: 'ci-key' of https://idp.example "
		"(api_key): used by 2 services: ci, cd\n"
		"  fix: issue one credential per service, so that each can be "
		"rotated and revoked alone\n"
		"  at inventory.csv:2:1\n"
		"\n"
		"visibility: 0.0% (0 of 2 active identities have a known "
		"owner, purpose, rotation and last use)\n"
		"  team      total  owner  purpose  rotation  last use  full   "
		"score\n"
		"  (no team)     2      2        1         0         0     0    "
		"0.0%\n");
	free(text);
	t_release(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overdue),
		cmocka_unit_test(test_n01),
		cmocka_unit_test(test_n02),
		cmocka_unit_test(test_n03),
		cmocka_unit_test(test_n04),
		cmocka_unit_test(test_n05),
		cmocka_unit_test(test_n06),
		cmocka_unit_test(test_n07),
		cmocka_unit_test(test_n08),
		cmocka_unit_test(test_n09),
		cmocka_unit_test(test_root_critical),
		cmocka_unit_test(test_not_active),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_unresolved),
		cmocka_unit_test(test_visibility),
		cmocka_unit_test(test_text_report),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
