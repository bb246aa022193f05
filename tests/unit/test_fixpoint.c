/*
 * Effective assurance as the greatest fixed point of
 * docs/internals/assurance.md, on small graphs built in code through the
 * importer API, and on a large generated one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <time.h>

#include <cmocka.h>

#include "testutil.h"
#include "audit/estate.h"

static const char policy_text[] =
	"workflows:\n"
	"  staff: { aal: 2 }\n"
	"  admin: { aal: 3, phishing_resistant: true }\n";

#define H AG_KIND_HUMAN
#define MB AG_KIND_MAILBOX
#define PH AG_KIND_PHONE
#define NO_VIA NULL
#define NO_LIFETIME (-1)

/* The witness chain of account id as text, in the form of
 * docs/internals/assurance.md: "alice --sspr--> mail:alice --mail-login"; an
 * assumed account at the end reads "mail:bob (assumed)". */
static char *witness(const struct ag_estate *e, const struct ag_audit *a,
		     const char *id)
{
	size_t max = e->n_accounts + 1;
	struct ag_witness_step *steps = calloc(max, sizeof(*steps));
	size_t cap = 64, len = 0;
	char *out = malloc(cap);
	assert_non_null(steps);
	assert_non_null(out);
	out[0] = '\0';

	uint32_t acct = ag_estate_find_account(e, id);
	assert_true(acct != AG_NONE);
	size_t n = ag_audit_witness(e, a, acct, steps, max);
	assert_true(n >= 1);
	assert_int_equal(steps[0].account, acct);
	for (size_t i = 0; i < n; i++) {
		const char *aid = e->accounts[steps[i].account].id;
		const char *pid = steps[i].path != AG_NONE
					  ? e->paths[steps[i].path].id
					  : NULL;
		/* Each step's level is its account's effective level. */
		assert_int_equal(steps[i].aal,
				 a->accounts[steps[i].account].effective);
		size_t need = strlen(aid) + (pid ? strlen(pid) : 0) + 16;
		while (len + need >= cap) {
			cap *= 2;
			out = realloc(out, cap);
			assert_non_null(out);
		}
		int w;
		if (!pid)
			w = snprintf(out + len, cap - len, "%s (assumed)", aid);
		else if (i + 1 < n)
			w = snprintf(out + len, cap - len, "%s --%s--> ", aid,
				     pid);
		else
			w = snprintf(out + len, cap - len, "%s --%s", aid, pid);
		assert_true(w > 0);
		len += (size_t)w;
	}
	free(steps);
	return out;
}

static void expect_witness(const struct ag_estate *e,
			   const struct ag_audit *a, const char *id,
			   const char *want)
{
	char *got = witness(e, a, id);
	assert_string_equal(got, want);
	free(got);
}

/* docs/internals/assurance.md: a cycle (a mailbox recovered by SMS to a phone
 * whose carrier account is recovered by that mailbox) does not lower anything
 * by itself. A least fixed point would drop both to their own methods'
 * AAL1; the greatest keeps both at AAL2. */
static void test_s2_2_cycle_does_not_lower_by_itself(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(policy_text);
	struct ag_estate *e = estate_new(p);

	add_account(e, "alice", H, "staff", "mail:alice", NULL, NULL);
	add_account(e, "mail:alice", MB, NULL, NULL, "phone:alice", NULL);
	add_account(e, "phone:alice", PH, NULL, "mail:alice", NULL, NULL);
	add_path(e, "alice-login", AG_PATH_LOGIN, LIST("alice"),
		 LIST("password", "security_key"), NO_VIA, NO_LIFETIME);
	add_path(e, "mail-recover", AG_PATH_RECOVERY, LIST("mail:alice"),
		 LIST("password", "sms_otp"), NO_VIA, NO_LIFETIME);
	add_path(e, "carrier-recover", AG_PATH_RECOVERY, LIST("phone:alice"),
		 LIST("password", "email_otp"), NO_VIA, NO_LIFETIME);
	struct ag_audit *a = audit_ok(e);

	const struct ag_account_result *mail = result_of(e, a, "mail:alice");
	const struct ag_account_result *phone = result_of(e, a, "phone:alice");
	assert_int_equal(mail->effective, 2);
	assert_int_equal(mail->nominal, 2);
	assert_true(mail->reachable);
	assert_false(mail->assumed);
	assert_int_equal(phone->effective, 2);
	assert_int_equal(phone->nominal, 2);
	assert_int_equal(eff_of(e, a, "alice"), 3);
	/* Nothing rests on a weaker account. */
	assert_int_equal(count_findings(e, a, AG_P08, NULL), 0);
	assert_int_equal(count_findings(e, a, AG_P13, NULL), 0);

	/* The witness of a cycle at equal levels ends. */
	char *w = witness(e, a, "mail:alice");
	assert_true(strncmp(w, "mail:alice --mail-recover", 25) == 0);
	free(w);

	ag_audit_free(a);
	ag_estate_free(e);
	ag_policy_free(p);
}

/* docs/internals/assurance.md: a cycle is lowered once something outside it is
 * weak: a KBA port-out at the carrier (§3.1.1.2) drops the phone to AAL0, the
 * mailbox to its own password's AAL1, and the account recovered by that
 * mailbox to AAL1. */
static void test_s2_2_cycle_lowered_from_outside(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(policy_text);
	struct ag_estate *e = estate_new(p);

	add_account(e, "alice", H, "staff", "mail:alice", NULL, NULL);
	add_account(e, "mail:alice", MB, NULL, NULL, "phone:alice", NULL);
	add_account(e, "phone:alice", PH, NULL, "mail:alice", NULL, NULL);
	add_path(e, "alice-login", AG_PATH_LOGIN, LIST("alice"),
		 LIST("password", "security_key"), NO_VIA, NO_LIFETIME);
	add_path(e, "alice-recover", AG_PATH_RECOVERY, LIST("alice"),
		 LIST("email_link"), NO_VIA, NO_LIFETIME);
	add_path(e, "mail-recover", AG_PATH_RECOVERY, LIST("mail:alice"),
		 LIST("password", "sms_otp"), NO_VIA, NO_LIFETIME);
	add_path(e, "carrier-recover", AG_PATH_RECOVERY, LIST("phone:alice"),
		 LIST("password", "email_otp"), NO_VIA, NO_LIFETIME);
	add_path(e, "port-out", AG_PATH_HELPDESK, LIST("phone:alice"),
		 LIST("kba"), NO_VIA, NO_LIFETIME);
	struct ag_audit *a = audit_ok(e);

	assert_int_equal(eff_of(e, a, "phone:alice"), 0);
	assert_int_equal(eff_of(e, a, "mail:alice"), 1);
	assert_int_equal(result_of(e, a, "mail:alice")->nominal, 2);
	assert_int_equal(eff_of(e, a, "alice"), 1);
	expect_witness(e, a, "phone:alice", "phone:alice --port-out");
	/* The mailbox's own password holds it at AAL1: the chain stops. */
	expect_witness(e, a, "mail:alice", "mail:alice --mail-recover");
	expect_witness(e, a, "alice",
		       "alice --alice-recover--> mail:alice --mail-recover");
	/* AG-P08: the mailbox's SMS rests on the weaker phone. */
	assert_int_equal(count_findings(e, a, AG_P08, "mail:alice"), 1);
	/* AG-P10 is about the path, not an account. */
	assert_int_equal(count_findings(e, a, AG_P10, NULL), 1);
	assert_int_equal(count_findings(e, a, AG_P01, "alice"), 1);

	ag_audit_free(a);
	ag_estate_free(e);
	ag_policy_free(p);
}

/* A three-hop chain: alice is recovered by e-mail to her mailbox, the
 * mailbox by SMS to her phone, the phone's carrier account by e-mail to a
 * carrier mailbox, which a help desk resets on KBA.  AAL0 travels back
 * through every hop, whatever order the estate lists them in. */
static void build_chain(struct ag_estate *e, bool reverse)
{
	for (int step = 0; step < 4; step++) {
		switch (reverse ? 3 - step : step) {
		case 0:
			add_account(e, "alice", H, "staff", "mail:alice", NULL,
				    NULL);
			add_path(e, "alice-login", AG_PATH_LOGIN, LIST("alice"),
				 LIST("password", "totp"), NO_VIA, NO_LIFETIME);
			add_path(e, "alice-recover", AG_PATH_RECOVERY,
				 LIST("alice"), LIST("email_link"), NO_VIA,
				 NO_LIFETIME);
			break;
		case 1:
			add_account(e, "mail:alice", MB, NULL, NULL,
				    "phone:alice", NULL);
			add_path(e, "mail-login", AG_PATH_LOGIN,
				 LIST("mail:alice"), LIST("password", "totp"),
				 NO_VIA, NO_LIFETIME);
			add_path(e, "mail-recover", AG_PATH_RECOVERY,
				 LIST("mail:alice"), LIST("sms_otp"), NO_VIA,
				 NO_LIFETIME);
			break;
		case 2:
			add_account(e, "phone:alice", PH, NULL, "mail:carrier",
				    NULL, NULL);
			add_path(e, "carrier-login", AG_PATH_LOGIN,
				 LIST("phone:alice"), LIST("password", "totp"),
				 NO_VIA, NO_LIFETIME);
			add_path(e, "carrier-recover", AG_PATH_RECOVERY,
				 LIST("phone:alice"), LIST("email_otp"), NO_VIA,
				 NO_LIFETIME);
			break;
		default:
			add_account(e, "mail:carrier", MB, NULL, NULL, NULL,
				    NULL);
			add_path(e, "carrier-helpdesk", AG_PATH_HELPDESK,
				 LIST("mail:carrier"), LIST("kba"), NO_VIA,
				 NO_LIFETIME);
			break;
		}
	}
}

static void test_s2_2_three_hop_chain_with_witness(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(policy_text);

	for (int reverse = 0; reverse < 2; reverse++) {
		struct ag_estate *e = estate_new(p);
		build_chain(e, reverse);
		struct ag_audit *a = audit_ok(e);

		assert_int_equal(eff_of(e, a, "mail:carrier"), 0);
		assert_int_equal(eff_of(e, a, "phone:alice"), 0);
		assert_int_equal(eff_of(e, a, "mail:alice"), 0);
		const struct ag_account_result *r = result_of(e, a, "alice");
		assert_int_equal(r->effective, 0);
		assert_int_equal(r->nominal, 1);
		assert_int_equal(r->required, 2);
		assert_true(r->witness_path != AG_NONE);
		assert_string_equal(e->paths[r->witness_path].id,
				    "alice-recover");
		expect_witness(e, a, "alice",
			       "alice --alice-recover--> mail:alice "
			       "--mail-recover--> phone:alice "
			       "--carrier-recover--> mail:carrier "
			       "--carrier-helpdesk");
		expect_witness(e, a, "phone:alice",
			       "phone:alice --carrier-recover--> mail:carrier "
			       "--carrier-helpdesk");
		/* AG-P01 is critical at AAL0 (effective AAL0). */
		assert_int_equal(count_findings(e, a, AG_P01, "alice"), 1);
		assert_int_equal(a->below_required, 1);
		ag_audit_free(a);
		ag_estate_free(e);
	}
	ag_policy_free(p);
}

/* The same chain with one AAL1 step at the end: each hop rests on the
 * next, and the witness follows the dependency to the account that
 * decides the level (as in docs/audit.md, Witness chains). */
static void test_s2_2_chain_witness_follows_dependency(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(policy_text);
	struct ag_estate *e = estate_new(p);

	add_account(e, "alice", H, "staff", "mail:alice", NULL, NULL);
	add_account(e, "mail:alice", MB, NULL, NULL, NULL, NULL);
	add_path(e, "sso", AG_PATH_LOGIN, LIST("alice"),
		 LIST("password", "security_key_uv"), NO_VIA, NO_LIFETIME);
	add_path(e, "sspr", AG_PATH_RECOVERY, LIST("alice"),
		 LIST("email_link"), NO_VIA, NO_LIFETIME);
	add_path(e, "mail-login", AG_PATH_LOGIN, LIST("mail:alice"),
		 LIST("password"), NO_VIA, NO_LIFETIME);
	struct ag_audit *a = audit_ok(e);
	assert_int_equal(eff_of(e, a, "alice"), 1);
	expect_witness(e, a, "alice",
		       "alice --sspr--> mail:alice --mail-login");
	ag_audit_free(a);
	ag_estate_free(e);
	ag_policy_free(p);
}

/* §3.1.3.3: password + SMS is AAL2 nominally, but the SMS proves only
 * control of the phone number; with a weak carrier account the path
 * falls to its own password's AAL1. */
static void test_s3_1_3_3_sms_rests_on_the_phone(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(policy_text);

	for (int weak = 0; weak < 2; weak++) {
		struct ag_estate *e = estate_new(p);
		add_account(e, "alice", H, "staff", NULL, "phone:alice", NULL);
		add_account(e, "phone:alice", PH, NULL, NULL, NULL, NULL);
		add_path(e, "login", AG_PATH_LOGIN, LIST("alice"),
			 LIST("password", "sms_otp"), NO_VIA, NO_LIFETIME);
		add_path(e, "carrier", AG_PATH_LOGIN, LIST("phone:alice"),
			 weak ? LIST("kba") : LIST("password", "totp"), NO_VIA,
			 NO_LIFETIME);
		struct ag_audit *a = audit_ok(e);
		const struct ag_account_result *r = result_of(e, a, "alice");
		assert_int_equal(r->nominal, 2);
		assert_int_equal(r->effective, weak ? 1 : 2);
		assert_false(r->phishing_resistant);
		assert_int_equal(count_findings(e, a, AG_P08, "alice"),
				 weak ? 1 : 0);
		assert_int_equal(count_findings(e, a, AG_P09, NULL), 1);
		assert_int_equal(count_findings(e, a, AG_P01, "alice"),
				 weak ? 1 : 0);
		ag_audit_free(a);
		ag_estate_free(e);
	}
	ag_policy_free(p);
}

/* docs/audit.md, "Accounts with no counted path" and "Missing email and
 * phone attributes": assume defaults for referenced, undescribed accounts,
 * and AAL3 for people no counted path reaches. */
static void test_s2_2_assume_defaults(void **state)
{
	(void)state;
	static const char *const policies[] = {
		policy_text,
		"assume: { mailbox: 0, phone: 2, external: 0 }\n"
		"workflows:\n  staff: { aal: 2 }\n",
	};
	for (int k = 0; k < 2; k++) {
		struct ag_policy *p = policy_ok(policies[k]);
		int mailbox = k ? 0 : 1, phone = k ? 2 : 1, external = k ? 0 : 1;
		struct ag_estate *e = estate_new(p);

		/* bob's mailbox is referenced, never described. */
		add_account(e, "bob", H, "staff", "mail:bob", NULL, NULL);
		add_path(e, "bob-recover", AG_PATH_RECOVERY, LIST("bob"),
			 LIST("email_link"), NO_VIA, NO_LIFETIME);
		/* carol has no phone attribute but is recovered by SMS. */
		add_account(e, "carol", H, "staff", NULL, NULL, NULL);
		add_path(e, "carol-recover", AG_PATH_RECOVERY, LIST("carol"),
			 LIST("password", "sms_otp"), NO_VIA, NO_LIFETIME);
		/* dave's recovery is also gated by an outside identity
		 * provider, referenced only through via. */
		add_account(e, "dave", H, "staff", "mail:dave", NULL, NULL);
		add_account(e, "mail:dave", MB, NULL, NULL, NULL, NULL);
		add_path(e, "dave-mail", AG_PATH_LOGIN, LIST("mail:dave"),
			 LIST("password", "totp"), NO_VIA, NO_LIFETIME);
		add_path(e, "dave-recover", AG_PATH_RECOVERY, LIST("dave"),
			 LIST("email_link"), LIST("idp:partner"), NO_LIFETIME);
		/* A described mailbox nothing reaches. */
		add_account(e, "mail:idle", MB, NULL, NULL, NULL, NULL);
		/* A person nothing reaches takes AAL3 for propagation, so a
		 * path gated by him is not lowered by him. */
		add_account(e, "erin", H, "staff", NULL, NULL, NULL);
		add_account(e, "frank", H, NULL, "mail:frank", NULL, NULL);
		add_account(e, "mail:frank", MB, NULL, NULL, NULL, NULL);
		add_path(e, "frank-mail", AG_PATH_LOGIN, LIST("mail:frank"),
			 LIST("password", "totp"), NO_VIA, NO_LIFETIME);
		add_path(e, "frank-recover", AG_PATH_RECOVERY, LIST("frank"),
			 LIST("email_link"), LIST("erin"), NO_LIFETIME);
		struct ag_audit *a = audit_ok(e);

		const struct ag_account_result *r = result_of(e, a, "mail:bob");
		assert_true(r->assumed);
		assert_false(r->reachable);
		assert_int_equal(r->effective, mailbox);
		assert_int_equal(eff_of(e, a, "bob"), mailbox < 1 ? mailbox : 1);
		expect_witness(e, a, "mail:bob", "mail:bob (assumed)");

		r = result_of(e, a, "(undescribed phone)");
		assert_true(r->assumed);
		assert_int_equal(r->effective, phone);
		assert_int_equal(eff_of(e, a, "carol"), phone < 1 ? 1
							 : phone > 2 ? 2
								     : phone);

		r = result_of(e, a, "idp:partner");
		assert_true(r->assumed);
		assert_int_equal(r->effective, external);
		assert_int_equal(eff_of(e, a, "dave"),
				 external < 1 ? external : 1);

		r = result_of(e, a, "mail:idle");
		assert_true(r->assumed);
		assert_int_equal(r->effective, mailbox);

		r = result_of(e, a, "erin");
		assert_false(r->reachable);
		assert_false(r->assumed);
		assert_int_equal(r->effective, 3);
		assert_int_equal(eff_of(e, a, "frank"), 1);

		/* AG-P13 notes each assumption a result rests on, once per
		 * assumed account; the idle mailbox holds nothing up. */
		assert_int_equal(count_findings(e, a, AG_P13, "bob"), 1);
		assert_int_equal(count_findings(e, a, AG_P13, "carol"), 1);
		assert_int_equal(count_findings(e, a, AG_P13, "dave"), 1);
		assert_int_equal(count_findings(e, a, AG_P13, NULL), 3);
		for (size_t i = 0; i < a->n_findings; i++)
			if (a->findings[i].rule == AG_P13)
				assert_true(a->accounts[a->findings[i].other]
						    .assumed);
		ag_audit_free(a);
		ag_estate_free(e);
		ag_policy_free(p);
	}
}

/* §3.1.3.1 and §4.2.1: an e-mailed code counts for recovery only while it
 * lives at most 24 h, and never at sign-in. */
static void test_s3_1_3_1_email_only_for_short_recovery(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(policy_text);
	struct ag_estate *e = estate_new(p);
	static const struct {
		const char *id;
		enum ag_path_kind kind;
		int64_t lifetime;
		int want;
	} cases[] = {
		{"u0", AG_PATH_RECOVERY, -1, 1},
		{"u1", AG_PATH_RECOVERY, 86400, 1},
		{"u2", AG_PATH_RECOVERY, 86401, 0},
		{"u3", AG_PATH_HELPDESK, 3600, 1},
		{"u4", AG_PATH_LOGIN, -1, 0},
		{"u5", AG_PATH_STEPUP, -1, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char mail[32], path[32];
		snprintf(mail, sizeof(mail), "mail:%s", cases[i].id);
		snprintf(path, sizeof(path), "p-%s", cases[i].id);
		add_account(e, cases[i].id, H, NULL, mail, NULL, NULL);
		add_account(e, mail, MB, NULL, NULL, NULL, NULL);
		add_path(e, path, cases[i].kind, LIST(cases[i].id),
			 LIST("email_link"), NO_VIA, cases[i].lifetime);
		char mpath[40];
		snprintf(mpath, sizeof(mpath), "login-%s", mail);
		add_path(e, mpath, AG_PATH_LOGIN, LIST(mail),
			 LIST("password", "totp"), NO_VIA, NO_LIFETIME);
	}
	struct ag_audit *a = audit_ok(e);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (eff_of(e, a, cases[i].id) != cases[i].want)
			fail_msg("%s: AAL%d, expected AAL%d", cases[i].id,
				 eff_of(e, a, cases[i].id), cases[i].want);
	ag_audit_free(a);
	ag_estate_free(e);
	ag_policy_free(p);
}

/* docs/internals/assurance.md: break-glass paths never count, and a renewal
 * inside the reauthentication window (§2.2.3: 24 h at AAL2) only continues a
 * session; a longer one is judged by its methods. */
static void test_s2_2_3_counted_paths(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(policy_text);
	struct ag_estate *e = estate_new(p);
	add_account(e, "alice", H, "staff", NULL, NULL, NULL);
	add_account(e, "bob", H, "staff", NULL, NULL, NULL);
	add_account(e, "root", H, "admin", NULL, NULL, NULL);
	add_path(e, "sso", AG_PATH_LOGIN, LIST("alice", "bob", "root"),
		 LIST("smartcard"), NO_VIA, NO_LIFETIME);
	add_path(e, "short-renew", AG_PATH_RENEWAL, LIST("alice"),
		 LIST("refresh_token"), NO_VIA, 24 * 3600);
	add_path(e, "long-renew", AG_PATH_RENEWAL, LIST("bob"),
		 LIST("refresh_token"), NO_VIA, 24 * 3600 + 1);
	add_path(e, "bg", AG_PATH_BREAK_GLASS, LIST("root"), LIST("password"),
		 NO_VIA, NO_LIFETIME);
	struct ag_audit *a = audit_ok(e);
	assert_int_equal(eff_of(e, a, "alice"), 3);
	assert_true(result_of(e, a, "alice")->phishing_resistant);
	assert_true(result_of(e, a, "alice")->hardware);
	assert_int_equal(eff_of(e, a, "bob"), 1);
	assert_false(result_of(e, a, "bob")->phishing_resistant);
	assert_int_equal(count_findings(e, a, AG_P07, "bob"), 1);
	assert_int_equal(count_findings(e, a, AG_P07, "alice"), 0);
	assert_int_equal(eff_of(e, a, "root"), 3);
	assert_int_equal(count_findings(e, a, AG_P12, "root"), 1);
	ag_audit_free(a);
	ag_estate_free(e);
	ag_policy_free(p);
}

/* §3.2.5: eff_pr holds only when every path has a phishing-resistant
 * method of its own; a delegated method never is. */
static void test_s3_2_5_effective_phishing_resistance(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(policy_text);
	struct ag_estate *e = estate_new(p);
	add_account(e, "alice", H, "admin", "mail:alice", NULL, NULL);
	add_account(e, "mail:alice", MB, NULL, NULL, NULL, NULL);
	add_path(e, "sso", AG_PATH_LOGIN, LIST("alice"),
		 LIST("security_key_uv"), NO_VIA, NO_LIFETIME);
	add_path(e, "mail-login", AG_PATH_LOGIN, LIST("mail:alice"),
		 LIST("smartcard"), NO_VIA, NO_LIFETIME);
	add_path(e, "alice-recover", AG_PATH_RECOVERY, LIST("alice"),
		 LIST("password", "email_otp"), NO_VIA, NO_LIFETIME);
	struct ag_audit *a = audit_ok(e);
	const struct ag_account_result *r = result_of(e, a, "alice");
	assert_int_equal(r->effective, 2);
	assert_false(r->phishing_resistant);
	assert_false(r->hardware);
	assert_true(result_of(e, a, "mail:alice")->phishing_resistant);
	/* AG-P04 is a property of the path, reported once for it. */
	assert_int_equal(count_findings(e, a, AG_P04, NULL), 1);
	ag_audit_free(a);
	ag_estate_free(e);
	ag_policy_free(p);
}

static void test_estate_errors(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(policy_text);
	struct ag_estate *e = estate_new(p);
	struct ag_path_spec s;
	struct ag_error err;

	memset(&s, 0, sizeof(s));
	s.id = "sso";
	s.kind = AG_PATH_LOGIN;
	s.to = LIST("alice");
	s.n_to = 1;
	s.methods = LIST("password", "totpp");
	s.n_methods = 2;
	s.lifetime = -1;
	s.approvals = -1;
	s.file = "estate.yaml";
	s.line = 7;
	s.col = 5;
	ag_error_init(&err);
	assert_int_equal(ag_estate_add_path(e, &s, &err), AG_ERR_INVALID);
	assert_string_equal(err.msg, "estate.yaml:7:5: unknown method 'totpp' "
				     "in path 'sso'; did you mean 'totp'?");

	struct ag_account_spec as;
	memset(&as, 0, sizeof(as));
	as.id = "alice";
	as.kind = AG_KIND_HUMAN;
	as.workflow = "staf";
	as.file = "estate.yaml";
	as.line = 2;
	as.col = 5;
	ag_error_init(&err);
	assert_int_equal(ag_estate_add_account(e, &as, &err), AG_ERR_INVALID);
	assert_string_equal(err.msg, "estate.yaml:2:5: unknown workflow 'staf' "
				     "for account 'alice'; did you mean "
				     "'staff'?");

	/* Auditing before resolving is a usage error. */
	struct ag_audit *a = (struct ag_audit *)1;
	ag_error_init(&err);
	assert_int_equal(ag_audit_run(e, &a, &err), AG_ERR_USAGE);
	assert_null(a);
	ag_estate_free(e);
	ag_policy_free(p);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define CHAIN 20000

/*
 * A 20000-mailbox chain: mailbox i is recovered by e-mail to mailbox i+1,
 * and the last one is reset by a KBA help desk.  The person at the head
 * falls to AAL0 through every hop.  The chain runs against index order
 * when reversed, which a pass-until-nothing-changes loop would pay for
 * with CHAIN passes; the worklist does not.
 */
static void test_s2_2_large_chain(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(policy_text);

	for (int reverse = 0; reverse < 2; reverse++) {
		struct ag_estate *e = estate_new(p);
		char id[32], next[32], path[32];

		add_account(e, "head", H, "staff", reverse ? "m19999" : "m0",
			    NULL, NULL);
		add_path(e, "head-login", AG_PATH_LOGIN, LIST("head"),
			 LIST("password", "security_key"), NO_VIA, NO_LIFETIME);
		add_path(e, "head-recover", AG_PATH_RECOVERY, LIST("head"),
			 LIST("email_link"), NO_VIA, NO_LIFETIME);
		for (int i = 0; i < CHAIN; i++) {
			int self = reverse ? CHAIN - 1 - i : i;
			int succ = reverse ? self - 1 : self + 1;
			bool last = i == CHAIN - 1;
			snprintf(id, sizeof(id), "m%d", self);
			snprintf(next, sizeof(next), "m%d", succ);
			add_account(e, id, MB, NULL, last ? NULL : next, NULL,
				    NULL);
			snprintf(path, sizeof(path), "l%d", self);
			add_path(e, path, AG_PATH_LOGIN, LIST(id),
				 LIST("password", "totp"), NO_VIA, NO_LIFETIME);
			snprintf(path, sizeof(path), "r%d", self);
			add_path(e, path, AG_PATH_RECOVERY, LIST(id),
				 last ? LIST("kba") : LIST("email_link"), NO_VIA,
				 NO_LIFETIME);
		}

		double t0 = now();
		struct ag_audit *a = audit_ok(e);
		double elapsed = now() - t0;
		if (elapsed > 2.0)
			fail_msg("audit of %d accounts took %.2f s", CHAIN,
				 elapsed);

		/* Every described account; an anonymous mailbox may be
		 * added for paths that reach accounts without an email. */
		size_t described = 0;
		for (uint32_t i = 0; i < a->n_accounts; i++) {
			if (e->accounts[i].synthetic)
				continue;
			described++;
			if (a->accounts[i].effective != 0)
				fail_msg("%s is AAL%d, expected AAL0",
					 e->accounts[i].id,
					 a->accounts[i].effective);
		}
		assert_int_equal(described, CHAIN + 1);
		const struct ag_account_result *r = result_of(e, a, "head");
		assert_int_equal(r->nominal, 1);
		assert_int_equal(r->required, 2);
		assert_int_equal(a->below_required, 1);
		assert_int_equal(count_findings(e, a, AG_P01, "head"), 1);

		/* The witness runs the whole chain to the help desk. */
		struct ag_witness_step *steps =
			calloc(CHAIN + 2, sizeof(*steps));
		assert_non_null(steps);
		size_t n = ag_audit_witness(e, a, ag_estate_find_account(e, "head"),
					    steps, CHAIN + 2);
		assert_int_equal(n, CHAIN + 1);
		snprintf(id, sizeof(id), "m%d", reverse ? 0 : CHAIN - 1);
		assert_string_equal(e->accounts[steps[n - 1].account].id, id);
		snprintf(path, sizeof(path), "r%d", reverse ? 0 : CHAIN - 1);
		assert_string_equal(e->paths[steps[n - 1].path].id, path);
		/* A short buffer gets the first steps only. */
		assert_int_equal(ag_audit_witness(e, a, steps[0].account, steps,
						  3),
				 3);
		free(steps);
		ag_audit_free(a);
		ag_estate_free(e);
	}
	ag_policy_free(p);
}

/* The same chain closed into a ring with no weak account: the greatest
 * fixed point leaves every mailbox at its nominal level. */
static void test_s2_2_large_ring_keeps_level(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(policy_text);
	struct ag_estate *e = estate_new(p);
	char id[32], next[32], path[32];

	for (int i = 0; i < CHAIN; i++) {
		snprintf(id, sizeof(id), "m%d", i);
		snprintf(next, sizeof(next), "m%d", (i + 1) % CHAIN);
		add_account(e, id, MB, NULL, next, NULL, NULL);
		snprintf(path, sizeof(path), "r%d", i);
		add_path(e, path, AG_PATH_RECOVERY, LIST(id),
			 LIST("password", "email_otp"), NO_VIA, NO_LIFETIME);
	}
	double t0 = now();
	struct ag_audit *a = audit_ok(e);
	double elapsed = now() - t0;
	if (elapsed > 2.0)
		fail_msg("audit of a %d ring took %.2f s", CHAIN, elapsed);
	for (uint32_t i = 0; i < a->n_accounts; i++)
		if (!e->accounts[i].synthetic && a->accounts[i].effective != 2)
			fail_msg("%s is AAL%d, expected AAL2", e->accounts[i].id,
				 a->accounts[i].effective);
	assert_int_equal(count_findings(e, a, AG_P08, NULL), 0);
	ag_audit_free(a);
	ag_estate_free(e);
	ag_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_s2_2_cycle_does_not_lower_by_itself),
		cmocka_unit_test(test_s2_2_cycle_lowered_from_outside),
		cmocka_unit_test(test_s2_2_three_hop_chain_with_witness),
		cmocka_unit_test(test_s2_2_chain_witness_follows_dependency),
		cmocka_unit_test(test_s3_1_3_3_sms_rests_on_the_phone),
		cmocka_unit_test(test_s2_2_assume_defaults),
		cmocka_unit_test(test_s3_1_3_1_email_only_for_short_recovery),
		cmocka_unit_test(test_s2_2_3_counted_paths),
		cmocka_unit_test(test_s3_2_5_effective_phishing_resistance),
		cmocka_unit_test(test_estate_errors),
		cmocka_unit_test(test_s2_2_large_chain),
		cmocka_unit_test(test_s2_2_large_ring_keeps_level),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
