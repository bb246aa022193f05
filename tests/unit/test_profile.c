/*
 * Reauthentication windows (docs/policy.md): the two profiles' tables, and
 * workflows that tighten them (accepted) or loosen them (rejected unless
 * allow_weaker_than_profile: true).
 *
 * SP 800-63B-4 §2.1.3, §2.2.3, §2.3.3; SP 800-63B-3 §4.1.3, §4.2.3, §4.3.3.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#define MIN 60
#define HOUR 3600
#define DAY 86400

static void expect_window(enum ag_profile prof, int aal, int64_t max_age,
			  int64_t idle)
{
	struct ag_window w = {-1, -1};
	assert_int_equal(ag_profile_window(prof, aal, &w), AG_OK);
	assert_int_equal(w.max_age, max_age);
	assert_int_equal(w.idle, idle);
}

static const struct ag_workflow *workflow(const struct ag_policy *p,
					  const char *name)
{
	long i = ag_policy_workflow(p, name);
	if (i < 0)
		fail_msg("no workflow '%s'", name);
	return &p->workflows[i];
}

/* SP 800-63B-4 §2.1.3: AAL1 reauthenticates every 30 days, no idle limit. */
static void test_s2_1_3_sp800_63b_4_aal1_window(void **state)
{
	(void)state;
	expect_window(AG_PROFILE_SP800_63B_4, 1, 30 * DAY, 0);
}

/* SP 800-63B-4 §2.2.3: AAL2 every 24 hours, or after 1 hour idle. */
static void test_s2_2_3_sp800_63b_4_aal2_window(void **state)
{
	(void)state;
	expect_window(AG_PROFILE_SP800_63B_4, 2, 24 * HOUR, 1 * HOUR);
}

/* SP 800-63B-4 §2.3.3: AAL3 every 12 hours, or after 15 minutes idle. */
static void test_s2_3_3_sp800_63b_4_aal3_window(void **state)
{
	(void)state;
	expect_window(AG_PROFILE_SP800_63B_4, 3, 12 * HOUR, 15 * MIN);
}

/* SP 800-63B-3 §4.1.3: AAL1 every 30 days. */
static void test_s4_1_3_sp800_63b_3_aal1_window(void **state)
{
	(void)state;
	expect_window(AG_PROFILE_SP800_63B_3, 1, 30 * DAY, 0);
}

/* SP 800-63B-3 §4.2.3: AAL2 every 12 hours, or after 30 minutes idle. */
static void test_s4_2_3_sp800_63b_3_aal2_window(void **state)
{
	(void)state;
	expect_window(AG_PROFILE_SP800_63B_3, 2, 12 * HOUR, 30 * MIN);
}

/* SP 800-63B-3 §4.3.3: AAL3 every 12 hours, or after 15 minutes idle. */
static void test_s4_3_3_sp800_63b_3_aal3_window(void **state)
{
	(void)state;
	expect_window(AG_PROFILE_SP800_63B_3, 3, 12 * HOUR, 15 * MIN);
}

static void test_profile_window_bad_arguments(void **state)
{
	struct ag_window w = {7, 7};
	(void)state;
	assert_int_equal(ag_profile_window(AG_PROFILE_SP800_63B_4, 0, &w),
			 AG_ERR_USAGE);
	assert_int_equal(ag_profile_window(AG_PROFILE_SP800_63B_4, 4, &w),
			 AG_ERR_USAGE);
	assert_int_equal(ag_profile_window(AG_PROFILE_SP800_63B_3, -1, &w),
			 AG_ERR_USAGE);
	assert_int_equal(ag_profile_window((enum ag_profile)2, 2, &w),
			 AG_ERR_USAGE);
	assert_int_equal(w.max_age, 7);
	assert_int_equal(w.idle, 7);
	assert_string_equal(ag_profile_name(AG_PROFILE_SP800_63B_4),
			    "sp800-63b-4");
	assert_string_equal(ag_profile_name(AG_PROFILE_SP800_63B_3),
			    "sp800-63b-3");
}

/* docs/policy.md: sp800-63b-4 is the default profile, and a workflow without
 * max_age or idle takes its profile's window (§2.x.3). */
static void test_s2_x_3_workflow_defaults_from_profile(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok("workflows:\n"
					"  basic: { aal: 1 }\n"
					"  staff: { aal: 2 }\n"
					"  admin: { aal: 3 }\n"
					"  plain: { description: none }\n");
	assert_int_equal(p->profile, AG_PROFILE_SP800_63B_4);
	assert_int_equal(workflow(p, "basic")->max_age, 30 * DAY);
	assert_int_equal(workflow(p, "basic")->idle, 0);
	assert_int_equal(workflow(p, "staff")->max_age, 24 * HOUR);
	assert_int_equal(workflow(p, "staff")->idle, 1 * HOUR);
	assert_int_equal(workflow(p, "admin")->max_age, 12 * HOUR);
	assert_int_equal(workflow(p, "admin")->idle, 15 * MIN);

	/* A workflow without an AAL reauthenticates at AAL1's window. */
	struct ag_window w = {-1, -1};
	ag_workflow_window(p, workflow(p, "plain"), &w);
	assert_int_equal(w.max_age, 30 * DAY);
	assert_int_equal(w.idle, 0);
	ag_workflow_window(p, workflow(p, "staff"), &w);
	assert_int_equal(w.max_age, 24 * HOUR);
	assert_int_equal(w.idle, 1 * HOUR);
	ag_policy_free(p);
}

/* SP 800-63B-3 §4.2.3: the older profile's AAL2 defaults. */
static void test_s4_2_3_workflow_defaults_from_old_profile(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok("profile: sp800-63b-3\n"
					"workflows:\n"
					"  staff: { aal: 2 }\n"
					"  admin: { aal: 3 }\n");
	assert_int_equal(p->profile, AG_PROFILE_SP800_63B_3);
	assert_int_equal(workflow(p, "staff")->max_age, 12 * HOUR);
	assert_int_equal(workflow(p, "staff")->idle, 30 * MIN);
	assert_int_equal(workflow(p, "admin")->max_age, 12 * HOUR);
	assert_int_equal(workflow(p, "admin")->idle, 15 * MIN);
	ag_policy_free(p);
}

/* docs/policy.md: a workflow may tighten the window of §2.2.3 / §2.3.3. */
static void test_s2_2_3_workflow_tightening_accepted(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(
		"workflows:\n"
		"  staff: { aal: 2, max_age: 8h, idle: 30m }\n"
		"  admin: { aal: 3, max_age: 12h, idle: 10m }\n"
		"  basic: { aal: 1, max_age: 7d, idle: 2h }\n"
		"  half:  { aal: 2, idle: 15m }\n");
	assert_int_equal(workflow(p, "staff")->max_age, 8 * HOUR);
	assert_int_equal(workflow(p, "staff")->idle, 30 * MIN);
	assert_int_equal(workflow(p, "admin")->max_age, 12 * HOUR);
	assert_int_equal(workflow(p, "admin")->idle, 10 * MIN);
	/* AAL1 has no idle limit, so any idle limit tightens it. */
	assert_int_equal(workflow(p, "basic")->max_age, 7 * DAY);
	assert_int_equal(workflow(p, "basic")->idle, 2 * HOUR);
	/* Setting one keeps the profile's other. */
	assert_int_equal(workflow(p, "half")->max_age, 24 * HOUR);
	assert_int_equal(workflow(p, "half")->idle, 15 * MIN);
	ag_policy_free(p);
}

/* SP 800-63B-4 §2.2.3: 48h overall at AAL2 loosens the profile. */
static void test_s2_2_3_workflow_loosening_max_age_rejected(void **state)
{
	(void)state;
	policy_fails("workflows:\n"
		     "  staff: { aal: 2, max_age: 36h }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:29: max_age 36h is longer than sp800-63b-4 "
		     "allows for AAL2 (24h); set allow_weaker_than_profile: "
		     "true to accept it");
}

/* SP 800-63B-4 §2.3.3: 30 minutes idle at AAL3 loosens the profile. */
static void test_s2_3_3_workflow_loosening_idle_rejected(void **state)
{
	(void)state;
	policy_fails("workflows:\n"
		     "  admin:\n"
		     "    aal: 3\n"
		     "    idle: 30m\n",
		     AG_ERR_INVALID,
		     "policy.yaml:4:11: idle 30m is longer than sp800-63b-4 "
		     "allows for AAL3 (15m); set allow_weaker_than_profile: "
		     "true to accept it");
}

/* SP 800-63B-4 §2.1.3: AAL1's 30 days is the longest. */
static void test_s2_1_3_workflow_loosening_aal1_rejected(void **state)
{
	(void)state;
	policy_fails("workflows:\n"
		     "  basic: { aal: 1, max_age: 31d }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:29: max_age 31d is longer than "
		     "sp800-63b-4 allows for AAL1 (30d); set "
		     "allow_weaker_than_profile: true to accept it");
}

/* SP 800-63B-3 §4.2.3: 24h at AAL2 is fine under -4 but loosens -3. */
static void test_s4_2_3_old_profile_loosening_rejected(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok("workflows:\n"
					"  staff: { aal: 2, max_age: 24h, "
					"idle: 1h }\n");
	ag_policy_free(p);
	policy_fails("profile: sp800-63b-3\n"
		     "workflows:\n"
		     "  staff: { aal: 2, max_age: 24h }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:3:29: max_age 24h is longer than "
		     "sp800-63b-3 allows for AAL2 (12h); set "
		     "allow_weaker_than_profile: true to accept it");
	policy_fails("profile: sp800-63b-3\n"
		     "workflows:\n"
		     "  staff: { aal: 2, idle: 1h }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:3:26: idle 1h is longer than sp800-63b-3 "
		     "allows for AAL2 (30m); set allow_weaker_than_profile: "
		     "true to accept it");
}

/* docs/policy.md: allow_weaker_than_profile: true accepts a looser window,
 * and the workflow keeps it as written. */
static void test_s2_2_3_allow_weaker_than_profile(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(
		"workflows:\n"
		"  kiosk: { aal: 2, max_age: 7d, idle: 4h,\n"
		"           allow_weaker_than_profile: true }\n"
		"  vault: { aal: 3, idle: 1h, allow_weaker_than_profile: "
		"true }\n");
	const struct ag_workflow *k = workflow(p, "kiosk");
	assert_true(k->allow_weaker_than_profile);
	assert_int_equal(k->max_age, 7 * DAY);
	assert_int_equal(k->idle, 4 * HOUR);
	const struct ag_workflow *v = workflow(p, "vault");
	assert_int_equal(v->max_age, 12 * HOUR);
	assert_int_equal(v->idle, 1 * HOUR);
	ag_policy_free(p);

	/* false is the same as leaving it out. */
	policy_fails("workflows:\n"
		     "  kiosk: { aal: 2, idle: 4h, allow_weaker_than_profile: "
		     "false }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:26: idle 4h is longer than sp800-63b-4 "
		     "allows for AAL2 (1h); set allow_weaker_than_profile: "
		     "true to accept it");
}

static void test_unknown_profile_rejected(void **state)
{
	(void)state;
	policy_fails("profile: sp800-63b-5\n", AG_ERR_INVALID,
		     "policy.yaml:1:10: unknown profile 'sp800-63b-5' "
		     "(sp800-63b-4 or sp800-63b-3); did you mean "
		     "'sp800-63b-4'?");
	policy_fails("profile: nist\n", AG_ERR_INVALID,
		     "policy.yaml:1:10: unknown profile 'nist' (sp800-63b-4 "
		     "or sp800-63b-3)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_s2_1_3_sp800_63b_4_aal1_window),
		cmocka_unit_test(test_s2_2_3_sp800_63b_4_aal2_window),
		cmocka_unit_test(test_s2_3_3_sp800_63b_4_aal3_window),
		cmocka_unit_test(test_s4_1_3_sp800_63b_3_aal1_window),
		cmocka_unit_test(test_s4_2_3_sp800_63b_3_aal2_window),
		cmocka_unit_test(test_s4_3_3_sp800_63b_3_aal3_window),
		cmocka_unit_test(test_profile_window_bad_arguments),
		cmocka_unit_test(test_s2_x_3_workflow_defaults_from_profile),
		cmocka_unit_test(test_s4_2_3_workflow_defaults_from_old_profile),
		cmocka_unit_test(test_s2_2_3_workflow_tightening_accepted),
		cmocka_unit_test(
			test_s2_2_3_workflow_loosening_max_age_rejected),
		cmocka_unit_test(test_s2_3_3_workflow_loosening_idle_rejected),
		cmocka_unit_test(test_s2_1_3_workflow_loosening_aal1_rejected),
		cmocka_unit_test(test_s4_2_3_old_profile_loosening_rejected),
		cmocka_unit_test(test_s2_2_3_allow_weaker_than_profile),
		cmocka_unit_test(test_unknown_profile_rejected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
