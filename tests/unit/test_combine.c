/*
 * Combining methods into an assurance (docs/internals/assurance.md), one test
 * per rule, each named after the section of SP 800-63B-4 it encodes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

static struct ag_catalogue cat;

static int setup(void **state)
{
	(void)state;
	return ag_catalogue_builtin(&cat) == AG_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	ag_catalogue_release(&cat);
	return 0;
}

static struct ag_assurance signin(const char *const *names)
{
	return combine_in(&cat, names, AG_USE_SIGNIN);
}

static struct ag_assurance recovery(const char *const *names)
{
	return combine_in(&cat, names, AG_USE_RECOVERY);
}

static void expect(struct ag_assurance a, int aal, bool pr, bool hw)
{
	assert_int_equal(a.aal, aal);
	assert_int_equal(a.phishing_resistant, pr);
	assert_int_equal(a.hardware, hw);
}

/* §2.3.1 AAL3: a hardware, phishing-resistant multi-factor cryptographic
 * authenticator on its own. */
static void test_s2_3_1_aal3_hardware_multifactor_alone(void **state)
{
	(void)state;
	expect(signin(LIST("security_key_uv")), 3, true, true);
	expect(signin(LIST("smartcard")), 3, true, true);
	/* More methods never lower it. */
	expect(signin(LIST("password", "security_key_uv")), 3, true, true);
	expect(signin(LIST("kba", "smartcard")), 3, true, true);
}

/* §2.3.1 AAL3: a hardware single-factor cryptographic authenticator
 * together with a password. */
static void test_s2_3_1_aal3_password_plus_security_key(void **state)
{
	(void)state;
	expect(signin(LIST("password", "security_key")), 3, true, true);
	expect(signin(LIST("security_key", "password")), 3, true, true);
	/* The key alone is single-factor: AAL1 (§2.1.1). */
	expect(signin(LIST("security_key")), 1, true, true);
}

/* §2.3.1: the second factor of AAL3 beside a single-factor key is a
 * password ("know"); a biometric is not enough. */
static void test_s2_3_1_aal3_biometric_plus_security_key_is_aal2(void **state)
{
	(void)state;
	expect(signin(LIST("biometric", "security_key")), 2, true, true);
}

/* §2.3.1: AAL3 needs a non-exportable hardware key; a software key or a
 * syncable passkey with a password stays AAL2. */
static void test_s2_3_1_aal3_needs_hardware(void **state)
{
	(void)state;
	expect(signin(LIST("password", "software_key")), 2, true, false);
	expect(signin(LIST("password", "passkey_synced")), 2, true, false);
	expect(signin(LIST("password", "totp", "push")), 2, false, false);
}

/* Appendix B: a syncable authenticator never reaches AAL3, alone or
 * together with anything else. */
static void test_appB_passkey_synced_never_aal3(void **state)
{
	(void)state;
	expect(signin(LIST("passkey_synced")), 2, true, false);
	expect(signin(LIST("passkey_synced", "password")), 2, true, false);
	expect(signin(LIST("passkey_synced", "pin")), 2, true, false);
	expect(signin(LIST("passkey_synced", "biometric")), 2, true, false);
	expect(signin(LIST("passkey_synced", "password", "pin", "biometric",
			   "totp")),
	       2, true, false);
	expect(signin(LIST("passkey_synced", "security_key")), 2, true, true);

	/* Every set of up to two other methods that is not AAL3 by itself
	 * stays below AAL3 with a passkey added, and the passkey still
	 * gives AAL2. */
	int pk = ag_catalogue_find(&cat, "passkey_synced");
	assert_true(pk >= 0);
	size_t checked = 0;
	for (size_t i = 0; i < cat.n; i++) {
		for (size_t j = i; j < cat.n; j++) {
			uint16_t without[2] = {(uint16_t)i, (uint16_t)j};
			uint16_t with[3] = {(uint16_t)pk, (uint16_t)i,
					    (uint16_t)j};
			for (int u = 0; u < 2; u++) {
				enum ag_use use = u ? AG_USE_RECOVERY
						    : AG_USE_SIGNIN;
				struct ag_assurance a, b;
				ag_combine(&cat, without, 2, use, &a);
				if (a.aal == 3)
					continue;
				ag_combine(&cat, with, 3, use, &b);
				if (b.aal != 2)
					fail_msg("passkey_synced + %s + %s "
						 "gives AAL%d",
						 cat.methods[i].name,
						 cat.methods[j].name, b.aal);
				checked++;
			}
		}
	}
	assert_true(checked > 400);
}

/* §2.2.1 AAL2: a multi-factor authenticator on its own. */
static void test_s2_2_1_aal2_multifactor_alone(void **state)
{
	(void)state;
	expect(signin(LIST("passkey_synced")), 2, true, false);
}

/* §2.2.1 AAL2: a password together with a permitted "have" authenticator. */
static void test_s2_2_1_aal2_password_plus_have(void **state)
{
	(void)state;
	expect(signin(LIST("password", "totp")), 2, false, false);
	expect(signin(LIST("password", "push")), 2, false, false);
	expect(signin(LIST("password", "push_number_match")), 2, false, false);
	expect(signin(LIST("password", "recovery_code")), 2, false, false);
	expect(signin(LIST("password", "software_key")), 2, true, false);
}

/* §2.2.1 with §3.1.3.3: SMS is a restricted authenticator but still
 * counts, so password + sms_otp is AAL2 nominally (all methods).  Its own
 * part, without the delegated SMS, is the password alone: AAL1. */
static void test_s3_1_3_3_password_sms_nominal_aal2_own_aal1(void **state)
{
	(void)state;
	expect(signin(LIST("password", "sms_otp")), 2, false, false);
	expect(signin(LIST("password", "voice_otp")), 2, false, false);
	expect(signin(LIST("password")), 1, false, false);

	int sms = ag_catalogue_find(&cat, "sms_otp");
	int voice = ag_catalogue_find(&cat, "voice_otp");
	assert_true(sms >= 0 && voice >= 0);
	assert_true(cat.methods[sms].restricted);
	assert_true(cat.methods[voice].restricted);
	assert_int_equal(cat.methods[sms].delegated, AG_DELEG_PHONE);
	assert_int_equal(cat.methods[voice].delegated, AG_DELEG_PHONE);
	assert_false(cat.methods[sms].prohibited);
}

/* §2.2.1 with §3.1.7: a PIN unlocks a device and then is the "know"
 * factor of a multi-factor combination. */
static void test_s2_2_1_pin_plus_totp_is_aal2(void **state)
{
	(void)state;
	expect(signin(LIST("pin", "totp")), 2, false, false);
	expect(signin(LIST("pin", "software_key")), 2, true, false);
}

/* §2.2.1 with §3.2.3: a biometric counts only with a physical
 * authenticator, and then as a second factor. */
static void test_s3_2_3_biometric_with_device_is_aal2(void **state)
{
	(void)state;
	expect(signin(LIST("biometric", "totp")), 2, false, false);
	expect(signin(LIST("biometric", "security_key")), 2, true, true);
}

/* §2.1 AAL1: any single permitted authenticator. */
static void test_s2_1_aal1_single_factor(void **state)
{
	(void)state;
	expect(signin(LIST("password")), 1, false, false);
	expect(signin(LIST("totp")), 1, false, false);
	expect(signin(LIST("push")), 1, false, false);
	expect(signin(LIST("recovery_code")), 1, false, false);
	expect(signin(LIST("sms_otp")), 1, false, false);
	expect(signin(LIST("voice_otp")), 1, false, false);
	expect(signin(LIST("refresh_token")), 1, false, false);
	expect(signin(LIST("session_cookie")), 1, false, false);
	expect(signin(LIST("api_key")), 1, false, false);
	expect(signin(LIST("client_secret")), 1, false, false);
	expect(signin(LIST("workload_identity")), 1, true, false);
	expect(signin(LIST("mtls")), 1, true, false);
	expect(signin(LIST("security_key")), 1, true, true);
}

/* §2.1 and §3.2.5: a software key is single-factor (AAL1) but phishing
 * resistant, and not hardware. */
static void test_s3_2_5_software_key_aal1_phishing_resistant(void **state)
{
	(void)state;
	expect(signin(LIST("software_key")), 1, true, false);
}

/* §3.1.7: a PIN alone is only an activation secret: AAL0.  Without a
 * device it adds nothing to other methods. */
static void test_s3_1_7_pin_alone_is_aal0(void **state)
{
	(void)state;
	expect(signin(LIST("pin")), 0, false, false);
	expect(recovery(LIST("pin")), 0, false, false);
	expect(signin(LIST("pin", "biometric")), 0, false, false);
	expect(signin(LIST("pin", "password")), 1, false, false);
	expect(signin(LIST("pin", "sms_otp")), 1, false, false);
}

/* §3.2.3: a biometric alone is not an authenticator: AAL0. */
static void test_s3_2_3_biometric_alone_is_aal0(void **state)
{
	(void)state;
	expect(signin(LIST("biometric")), 0, false, false);
	expect(signin(LIST("biometric", "password")), 1, false, false);
}

/* §3.1.1.2: knowledge-based authentication is prohibited: AAL0 alone,
 * and it adds nothing to a password. */
static void test_s3_1_1_2_kba_is_aal0(void **state)
{
	(void)state;
	int kba = ag_catalogue_find(&cat, "kba");
	assert_true(kba >= 0);
	assert_true(cat.methods[kba].prohibited);

	expect(signin(LIST("kba")), 0, false, false);
	expect(recovery(LIST("kba")), 0, false, false);
	expect(signin(LIST("kba", "password")), 1, false, false);
	expect(signin(LIST("password", "kba")), 1, false, false);
	expect(recovery(LIST("kba", "password")), 1, false, false);
	expect(signin(LIST("kba", "pin", "biometric")), 0, false, false);
}

/* §3.1.3.1: e-mail is not an out-of-band authenticator: AAL0 at sign-in;
 * an issued recovery code sent by e-mail counts (AAL1) for recovery. */
static void test_s3_1_3_1_email_not_signin_authenticator(void **state)
{
	(void)state;
	expect(signin(LIST("email_link")), 0, false, false);
	expect(recovery(LIST("email_link")), 1, false, false);
	expect(signin(LIST("email_otp")), 0, false, false);
	expect(recovery(LIST("email_otp")), 1, false, false);
	/* At sign-in it adds nothing to a password. */
	expect(signin(LIST("password", "email_otp")), 1, false, false);

	int el = ag_catalogue_find(&cat, "email_link");
	assert_true(el >= 0);
	assert_int_equal(cat.methods[el].delegated, AG_DELEG_EMAIL);
	assert_true(cat.methods[el].recovery_only);
}

/* §2: nothing acceptable is AAL0, with no properties. */
static void test_s2_aal0_nothing(void **state)
{
	(void)state;
	expect(signin(NULL), 0, false, false);
	expect(recovery(NULL), 0, false, false);

	/* An index outside the catalogue counts as nothing. */
	uint16_t bad[1] = {(uint16_t)cat.n};
	struct ag_assurance a = {3, true, true};
	ag_combine(&cat, bad, 1, AG_USE_SIGNIN, &a);
	expect(a, 0, false, false);
}

/* SP 800-63B-4 §3.2.5 and docs/internals/assurance.md:
 * phishing_resistant(S) and hardware(S) hold when some counted method in S has the property. */
static void test_s3_2_5_properties_of_a_set(void **state)
{
	(void)state;
	expect(signin(LIST("password", "security_key")), 3, true, true);
	expect(signin(LIST("password", "totp")), 2, false, false);
	expect(signin(LIST("totp", "software_key")), 1, true, false);
	expect(signin(LIST("sms_otp", "mtls")), 1, true, false);
	expect(signin(LIST("smartcard", "password")), 3, true, true);
}

/* docs/policy.md: the catalogue is complete and every entry is built in. */
static void test_catalogue_builtin(void **state)
{
	(void)state;
	static const char *const names[] = {
		"password", "pin", "kba", "email_link", "email_otp",
		"sms_otp", "voice_otp", "totp", "push", "push_number_match",
		"recovery_code", "software_key", "passkey_synced",
		"security_key", "security_key_uv", "smartcard", "biometric",
		"refresh_token", "session_cookie", "api_key", "client_secret",
		"workload_identity", "mtls",
	};
	assert_int_equal(cat.n, sizeof(names) / sizeof(names[0]));
	for (size_t i = 0; i < cat.n; i++) {
		int k = ag_catalogue_find(&cat, names[i]);
		if (k < 0)
			fail_msg("no built-in method '%s'", names[i]);
		assert_true(cat.methods[k].builtin);
	}
	assert_int_equal(ag_catalogue_find(&cat, "totpp"), -1);
	assert_int_equal(ag_catalogue_find(&cat, ""), -1);

	int pw = ag_catalogue_find(&cat, "password");
	assert_string_equal(cat.methods[pw].amr[0], "pwd");
	assert_null(cat.methods[pw].amr[1]);
	int sc = ag_catalogue_find(&cat, "smartcard");
	assert_string_equal(cat.methods[sc].amr[0], "sc");
	assert_string_equal(cat.methods[sc].amr[1], "pin");
	assert_null(cat.methods[sc].amr[2]);
	assert_int_equal(cat.methods[sc].factor, AG_FACTOR_MULTI);
	int pk = ag_catalogue_find(&cat, "passkey_synced");
	assert_int_equal(cat.methods[pk].alone, 2);
	assert_false(cat.methods[pk].hardware);
}

/* §4.2: an AAL2 account may be recovered with two recovery codes obtained
 * by different methods, or one code and one other enrolled authenticator;
 * one code alone is AAL1, and none of this applies at sign-in. */
static void test_s4_2_recovery_codes(void **state)
{
	(void)state;
	assert_int_equal(recovery(LIST("email_link", "totp")).aal, 2);
	assert_int_equal(recovery(LIST("email_link", "sms_otp")).aal, 2);
	assert_int_equal(recovery(LIST("recovery_code", "email_otp")).aal, 2);
	assert_int_equal(recovery(LIST("recovery_code", "push")).aal, 2);
	assert_int_equal(recovery(LIST("email_link")).aal, 1);
	assert_int_equal(recovery(LIST("sms_otp")).aal, 1);
	assert_int_equal(recovery(LIST("recovery_code")).aal, 1);
	/* KBA is never evidence, and a pin without a device is nothing. */
	assert_int_equal(recovery(LIST("email_link", "kba")).aal, 1);
	assert_int_equal(recovery(LIST("email_link", "pin")).aal, 1);
	/* At sign-in two "have" factors stay AAL1. */
	assert_int_equal(signin(LIST("sms_otp", "totp")).aal, 1);
	assert_int_equal(signin(LIST("recovery_code", "push")).aal, 1);
}

/* What a workflow asks of a sign-in, for every face: AAL3 brings
 * hardware (§2.3.1); match_account takes the account's own level, and the
 * workflow's flags only add to it. */
static void test_workflow_need(void **state)
{
	(void)state;
	struct ag_workflow w = {.name = "w", .aal = 3}, need;
	struct ag_assurance own = {.aal = 3, .phishing_resistant = true,
				   .hardware = true};

	ag_workflow_need(&w, NULL, &need);
	assert_int_equal(need.aal, 3);
	assert_true(need.hardware);
	assert_false(need.phishing_resistant);
	w.aal = 2;
	ag_workflow_need(&w, NULL, &need);
	assert_int_equal(need.aal, 2);
	assert_false(need.hardware);
	/* The account's own level: unknown, then known. */
	w.aal = AG_AAL_MATCH_ACCOUNT;
	ag_workflow_need(&w, NULL, &need);
	assert_int_equal(need.aal, AG_AAL_MATCH_ACCOUNT);
	own.aal = 0;
	ag_workflow_need(&w, &own, &need);
	assert_int_equal(need.aal, AG_AAL_MATCH_ACCOUNT);
	own.aal = 3;
	ag_workflow_need(&w, &own, &need);
	assert_int_equal(need.aal, 3);
	assert_true(need.phishing_resistant);
	assert_true(need.hardware);
	own = (struct ag_assurance){.aal = 2};
	w.phishing_resistant = true;
	ag_workflow_need(&w, &own, &need);
	assert_int_equal(need.aal, 2);
	assert_true(need.phishing_resistant);
	assert_false(need.hardware);
	/* The window is copied, not judged. */
	w.max_age = 600;
	ag_workflow_need(&w, &own, &need);
	assert_int_equal(need.max_age, 600);
	assert_string_equal(need.name, "w");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_s2_3_1_aal3_hardware_multifactor_alone),
		cmocka_unit_test(test_s2_3_1_aal3_password_plus_security_key),
		cmocka_unit_test(
			test_s2_3_1_aal3_biometric_plus_security_key_is_aal2),
		cmocka_unit_test(test_s2_3_1_aal3_needs_hardware),
		cmocka_unit_test(test_appB_passkey_synced_never_aal3),
		cmocka_unit_test(test_s2_2_1_aal2_multifactor_alone),
		cmocka_unit_test(test_s2_2_1_aal2_password_plus_have),
		cmocka_unit_test(
			test_s3_1_3_3_password_sms_nominal_aal2_own_aal1),
		cmocka_unit_test(test_s2_2_1_pin_plus_totp_is_aal2),
		cmocka_unit_test(test_s3_2_3_biometric_with_device_is_aal2),
		cmocka_unit_test(test_s2_1_aal1_single_factor),
		cmocka_unit_test(
			test_s3_2_5_software_key_aal1_phishing_resistant),
		cmocka_unit_test(test_s3_1_7_pin_alone_is_aal0),
		cmocka_unit_test(test_s3_2_3_biometric_alone_is_aal0),
		cmocka_unit_test(test_s3_1_1_2_kba_is_aal0),
		cmocka_unit_test(test_s3_1_3_1_email_not_signin_authenticator),
		cmocka_unit_test(test_s2_aal0_nothing),
		cmocka_unit_test(test_s3_2_5_properties_of_a_set),
		cmocka_unit_test(test_catalogue_builtin),
		cmocka_unit_test(test_s4_2_recovery_codes),
		cmocka_unit_test(test_workflow_need),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
