/*
 * Account recovery held to the account's own level (docs/govern.md), one test
 * per rule or limit of NIST SP 800-63B-4 §4.2, each named after the
 * section it encodes:
 *   §4.2.1.1 saved recovery codes     §4.2.2.1 recovery at AAL1
 *   §4.2.1.2 issued recovery codes    §4.2.2.2 recovery at AAL2
 *   §4.2.1.3 recovery contacts        §4.2.2.3 recovery at AAL3
 *   §4.2.1.4 repeated proofing        §4.2.3 / §4.6 notification
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "aalgate/govern.h"
#include "testutil.h"

#define ARRAY_SIZE(x) (sizeof(x) / sizeof((x)[0]))

#define NOW ((int64_t)1800000000)
#define MIN ((int64_t)60)
#define HOUR ((int64_t)3600)
#define DAY ((int64_t)86400)

static struct ag_policy *pol;
static uint16_t idx[64];

static const struct ag_recovery_address two_addresses[] = {
	{AG_CHANNEL_EMAIL, "alice@example.org"},
	{AG_CHANNEL_SMS, "+15550100"},
};

static int setup(void **state)
{
	(void)state;
	pol = policy_ok("workflows:\n"
			"  staff: { aal: 2 }\n"
			"  recovery: { aal: match_account }\n"
			"methods:\n"
			"  badge_question: { factor: have, alone: 1, "
			"prohibited: true }\n");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ag_policy_free(pol);
	return 0;
}

/* An account holding enrolled (a LIST of method names), proofed at ial,
 * told through two addresses. */
static struct ag_recovery_account account(const char *const *enrolled,
					  int ial)
{
	struct ag_recovery_account a;
	size_t n = list_len(enrolled);

	memset(&a, 0, sizeof(a));
	assert_true(n <= ARRAY_SIZE(idx));
	for (size_t i = 0; i < n; i++) {
		int m = ag_catalogue_find(&pol->catalogue, enrolled[i]);
		if (m < 0)
			fail_msg("no method '%s'", enrolled[i]);
		idx[i] = (uint16_t)m;
	}
	a.enrolled = n ? idx : NULL;
	a.n_enrolled = n;
	a.aal = AG_AAL_UNSET;
	a.ial = ial;
	a.notify = two_addresses;
	a.n_notify = ARRAY_SIZE(two_addresses);
	return a;
}

#define AAL1_ACCOUNT account(LIST("password"), 0)
#define AAL2_ACCOUNT account(LIST("password", "totp"), 2)
#define AAL3_ACCOUNT(ial) account(LIST("password", "security_key_uv"), ial)

static struct ag_recovery_evidence saved(const char *id)
{
	struct ag_recovery_evidence e = {.kind = AG_RECOVERY_SAVED_CODE,
					 .issued_at = AG_TIME_UNSET,
					 .code_id = id};
	return e;
}

/* A code issued over ch, age seconds before NOW. */
static struct ag_recovery_evidence issued(enum ag_recovery_channel ch,
					  int64_t age)
{
	struct ag_recovery_evidence e = {.kind = AG_RECOVERY_ISSUED_CODE,
					 .channel = ch,
					 .issued_at = NOW - age};
	return e;
}

static struct ag_recovery_evidence contact(enum ag_recovery_channel ch,
					   int64_t age)
{
	struct ag_recovery_evidence e = issued(ch, age);
	e.kind = AG_RECOVERY_CONTACT;
	return e;
}

static struct ag_recovery_evidence authn(const char *method)
{
	struct ag_recovery_evidence e = {.kind = AG_RECOVERY_AUTHENTICATOR,
					 .issued_at = AG_TIME_UNSET,
					 .method = method};
	return e;
}

static struct ag_recovery_evidence reproof(int ial, enum ag_proofing p,
					   bool biometric)
{
	struct ag_recovery_evidence e = {.kind = AG_RECOVERY_REPROOFING,
					 .issued_at = AG_TIME_UNSET,
					 .ial = ial,
					 .proofing = p,
					 .biometric = biometric};
	return e;
}

static struct ag_recovery_evidence kba(void)
{
	struct ag_recovery_evidence e = {.kind = AG_RECOVERY_KBA,
					 .issued_at = AG_TIME_UNSET};
	return e;
}

static struct ag_recovery_result run_used(struct ag_recovery_account a,
					  const struct ag_recovery_evidence *ev,
					  size_t n, const char *const *used)
{
	struct ag_recovery_result r;
	memset(&r, 0xa5, sizeof(r)); /* every field must be set */
	assert_int_equal(ag_recovery_check(pol, &a, ev, n, used,
					   list_len(used), NOW, &r),
			 AG_OK);
	/* Accepted exactly when nothing refused. */
	bool refusal = false;
	for (size_t i = 0; i < r.n_notes; i++)
		refusal = refusal || r.notes[i].refusal;
	assert_int_equal(r.accepted, !refusal);
	assert_int_equal(r.accepted, r.basis != AG_BASIS_NONE);
	return r;
}

#define EVS(...) ((const struct ag_recovery_evidence[]){__VA_ARGS__})
#define NEV(...) (sizeof(EVS(__VA_ARGS__)) / sizeof(struct ag_recovery_evidence))
#define CHECK(acct, ...) run_used(acct, EVS(__VA_ARGS__), NEV(__VA_ARGS__), NULL)
#define CHECK_USED(acct, used, ...) \
	run_used(acct, EVS(__VA_ARGS__), NEV(__VA_ARGS__), used)

/* The refusal or warning note for reason r, or NULL. */
static const struct ag_recovery_note *
find_note(const struct ag_recovery_result *r, enum ag_recovery_reason why)
{
	for (size_t i = 0; i < r->n_notes; i++)
		if (r->notes[i].reason == why)
			return &r->notes[i];
	return NULL;
}

static void accepted(const struct ag_recovery_result *r,
		     enum ag_recovery_basis basis)
{
	if (!r->accepted)
		fail_msg("refused: %s: %s",
			 r->n_notes ? ag_recovery_reason_name(r->notes[0].reason)
				    : "?",
			 r->n_notes ? r->notes[0].text : "");
	assert_int_equal(r->basis, basis);
}

/* Refused with reason why (on evidence ev, or -1 for the whole). */
static void refused(const struct ag_recovery_result *r,
		    enum ag_recovery_reason why, int ev)
{
	assert_false(r->accepted);
	assert_int_equal(r->basis, AG_BASIS_NONE);
	const struct ag_recovery_note *n = find_note(r, why);
	if (!n)
		fail_msg("no '%s' refusal; first note: %s",
			 ag_recovery_reason_name(why),
			 r->n_notes ? r->notes[0].text : "(none)");
	assert_true(n->refusal);
	assert_int_equal(n->evidence, ev);
	if (ev >= 0)
		assert_int_equal(r->status[ev], why);
	/* Nothing to do for a refused recovery. */
	assert_int_equal(r->n_notify, 0);
	assert_int_equal(r->n_invalidate, 0);
	assert_false(r->issue_saved_code);
}

static void text_has(const struct ag_recovery_result *r,
		     enum ag_recovery_reason why, const char *needle)
{
	const struct ag_recovery_note *n = find_note(r, why);
	assert_non_null(n);
	if (!strstr(n->text, needle))
		fail_msg("'%s' not in: %s", needle, n->text);
}

/* ---- the account's own level (docs/govern.md, through ag_combine) ------- */

static void test_own_level_is_ag_combine_of_enrolled(void **state)
{
	(void)state;
	struct ag_recovery_result r;
	r = CHECK(account(LIST("password"), 0), saved("a"));
	assert_int_equal(r.account_aal, 1);
	assert_int_equal(r.rule, AG_RULE_AAL1);
	r = CHECK(account(LIST("password", "totp"), 2), saved("a"));
	assert_int_equal(r.account_aal, 2);
	assert_int_equal(r.rule, AG_RULE_AAL2);
	r = CHECK(account(LIST("passkey_synced"), 2), saved("a"));
	assert_int_equal(r.account_aal, 2);
	r = CHECK(account(LIST("smartcard"), 3), saved("a"));
	assert_int_equal(r.account_aal, 3);
	assert_int_equal(r.rule, AG_RULE_AAL3_IAL3);
	/* E-mail is not a sign-in authenticator: it adds nothing. */
	r = CHECK(account(LIST("password", "email_otp"), 0), saved("a"));
	assert_int_equal(r.account_aal, 1);
	/* A password and a security key: AAL3 (§2.3.1). */
	r = CHECK(account(LIST("password", "security_key"), 2), saved("a"));
	assert_int_equal(r.account_aal, 3);
	assert_int_equal(r.rule, AG_RULE_AAL3_AS_AAL2);
}

static void test_own_level_given_and_enrolled_the_higher_applies(void **state)
{
	(void)state;
	struct ag_recovery_account a = account(LIST("password"), 2);
	a.aal = 2;
	struct ag_recovery_result r = CHECK(a, saved("a"));
	assert_int_equal(r.account_aal, 2);
	refused(&r, AG_RR_AAL2_INSUFFICIENT, -1);
	assert_non_null(find_note(&r, AG_RW_LEVEL_MISMATCH));

	/* The level alone, without enrolled methods. */
	a = account(NULL, 2);
	a.aal = 1;
	r = CHECK(a, saved("a"));
	assert_int_equal(r.account_aal, 1);
	accepted(&r, AG_BASIS_CODE);
	assert_null(find_note(&r, AG_RW_LEVEL_MISMATCH));
}

/* An account whose methods reach no AAL is held to the least rule. */
static void test_level_zero_held_to_aal1(void **state)
{
	(void)state;
	struct ag_recovery_result r = CHECK(account(LIST("email_otp"), 0),
					    issued(AG_CHANNEL_EMAIL, HOUR));
	assert_int_equal(r.account_aal, 0);
	assert_int_equal(r.held_to, 1);
	accepted(&r, AG_BASIS_CODE);
	assert_false(find_note(&r, AG_RW_LEVEL_ZERO)->refusal);
}

/* ---- §4.2.2.1 recovery at AAL1 ----------------------------------------- */

static void test_s4_2_2_1_aal1_one_code_of_any_method(void **state)
{
	(void)state;
	struct ag_recovery_result r;
	r = CHECK(AAL1_ACCOUNT, saved("s1"));
	accepted(&r, AG_BASIS_CODE);
	r = CHECK(AAL1_ACCOUNT, issued(AG_CHANNEL_EMAIL, HOUR));
	accepted(&r, AG_BASIS_CODE);
	r = CHECK(AAL1_ACCOUNT, issued(AG_CHANNEL_SMS, 5 * MIN));
	accepted(&r, AG_BASIS_CODE);
	r = CHECK(AAL1_ACCOUNT, issued(AG_CHANNEL_VOICE, 5 * MIN));
	accepted(&r, AG_BASIS_CODE);
	r = CHECK(AAL1_ACCOUNT, issued(AG_CHANNEL_POSTAL, 3 * DAY));
	accepted(&r, AG_BASIS_CODE);
	r = CHECK(AAL1_ACCOUNT, contact(AG_CHANNEL_EMAIL, HOUR));
	accepted(&r, AG_BASIS_CODE);
	assert_int_equal(r.rule, AG_RULE_AAL1);
	assert_int_equal(r.held_to, 1);
}

/* §4.2.2.1: AAL1 accounts are not proofed, so repeated identity proofing
 * is not a recovery method for them (docs/govern.md lists it; the standard
 * does not). */
static void test_s4_2_2_1_aal1_reproofing_is_not_a_method(void **state)
{
	(void)state;
	struct ag_recovery_result r = CHECK(
		AAL1_ACCOUNT, reproof(2, AG_PROOFING_ONSITE_ATTENDED, true));
	refused(&r, AG_RR_REPROOFING_AAL1, 0);
	refused(&r, AG_RR_AAL1_NEEDS_CODE, -1);
	text_has(&r, AG_RR_REPROOFING_AAL1, "§4.2.2.1");
}

static void test_s4_2_2_1_aal1_authenticator_alone_is_not_recovery(void **state)
{
	(void)state;
	struct ag_recovery_result r = CHECK(AAL1_ACCOUNT, authn("password"));
	refused(&r, AG_RR_AAL1_NEEDS_CODE, -1);
	assert_int_equal(r.status[0], AG_RR_OK);
	/* No evidence at all. */
	struct ag_recovery_account a = AAL1_ACCOUNT;
	assert_int_equal(ag_recovery_check(pol, &a, NULL, 0, NULL, 0, NOW, &r),
			 AG_OK);
	refused(&r, AG_RR_NO_EVIDENCE, -1);
}

/* ---- §4.2.2.2 recovery at AAL2 ----------------------------------------- */

static void test_s4_2_2_2_two_codes_of_different_methods(void **state)
{
	(void)state;
	struct ag_recovery_result r;
	r = CHECK(AAL2_ACCOUNT, saved("s1"), issued(AG_CHANNEL_EMAIL, HOUR));
	accepted(&r, AG_BASIS_TWO_CODES);
	r = CHECK(AAL2_ACCOUNT, saved("s1"), contact(AG_CHANNEL_SMS, MIN));
	accepted(&r, AG_BASIS_TWO_CODES);
	r = CHECK(AAL2_ACCOUNT, issued(AG_CHANNEL_SMS, MIN),
		  contact(AG_CHANNEL_EMAIL, HOUR));
	accepted(&r, AG_BASIS_TWO_CODES);
	/* All three. */
	r = CHECK(AAL2_ACCOUNT, saved("s1"), issued(AG_CHANNEL_POSTAL, DAY),
		  contact(AG_CHANNEL_VOICE, MIN));
	accepted(&r, AG_BASIS_TWO_CODES);
	assert_int_equal(r.rule, AG_RULE_AAL2);
}

/* §4.2.2.2: "two recovery codes obtained using different methods from the
 * set (saved, issued, and recovery contacts)".  Two codes over the same
 * channel are two issued codes: refused. */
static void test_s4_2_2_2_two_codes_same_channel_refused(void **state)
{
	(void)state;
	struct ag_recovery_result r =
		CHECK(AAL2_ACCOUNT, issued(AG_CHANNEL_EMAIL, HOUR),
		      issued(AG_CHANNEL_EMAIL, 2 * HOUR));
	refused(&r, AG_RR_SAME_METHOD, -1);
	text_has(&r, AG_RR_SAME_METHOD, "§4.2.2.2");
	text_has(&r, AG_RR_SAME_METHOD, "(issued)");
	r = CHECK(AAL2_ACCOUNT, issued(AG_CHANNEL_SMS, MIN),
		  issued(AG_CHANNEL_SMS, 2 * MIN));
	refused(&r, AG_RR_SAME_METHOD, -1);
}

/* The method is the class of §4.2.1, not the channel: an e-mail and an
 * SMS code are both issued codes (docs/govern.md does not say; the standard
 * lists the methods as saved, issued and recovery contacts). */
static void test_s4_2_2_2_email_and_sms_codes_are_one_method(void **state)
{
	(void)state;
	struct ag_recovery_result r = CHECK(
		AAL2_ACCOUNT, issued(AG_CHANNEL_EMAIL, HOUR),
		issued(AG_CHANNEL_SMS, MIN), issued(AG_CHANNEL_POSTAL, DAY));
	refused(&r, AG_RR_SAME_METHOD, -1);
	r = CHECK(AAL2_ACCOUNT, saved("s1"), saved("s2"));
	refused(&r, AG_RR_SAME_METHOD, -1);
	text_has(&r, AG_RR_SAME_METHOD, "(saved)");
	r = CHECK(AAL2_ACCOUNT, contact(AG_CHANNEL_EMAIL, HOUR),
		  contact(AG_CHANNEL_SMS, HOUR));
	refused(&r, AG_RR_SAME_METHOD, -1);
}

static void test_s4_2_2_2_code_plus_bound_authenticator(void **state)
{
	(void)state;
	struct ag_recovery_result r;
	r = CHECK(AAL2_ACCOUNT, saved("s1"), authn("password"));
	accepted(&r, AG_BASIS_CODE_AUTHENTICATOR);
	r = CHECK(AAL2_ACCOUNT, issued(AG_CHANNEL_EMAIL, HOUR), authn("totp"));
	accepted(&r, AG_BASIS_CODE_AUTHENTICATOR);
	r = CHECK(AAL2_ACCOUNT, authn("password"),
		  contact(AG_CHANNEL_SMS, MIN));
	accepted(&r, AG_BASIS_CODE_AUTHENTICATOR);
	/* An SMS authenticator beside an e-mail code: two devices. */
	r = CHECK(account(LIST("password", "sms_otp"), 2),
		  issued(AG_CHANNEL_EMAIL, HOUR), authn("sms_otp"));
	accepted(&r, AG_BASIS_CODE_AUTHENTICATOR);
}

static void test_s4_2_2_2_authenticator_must_be_bound(void **state)
{
	(void)state;
	struct ag_recovery_result r =
		CHECK(AAL2_ACCOUNT, saved("s1"), authn("security_key"));
	refused(&r, AG_RR_NOT_ENROLLED, 1);
	text_has(&r, AG_RR_NOT_ENROLLED, "§4.2.2.2");
	r = CHECK(AAL2_ACCOUNT, saved("s1"), authn("totpp"));
	refused(&r, AG_RR_UNKNOWN_METHOD, 1);
}

/* E-mail is no authenticator (§3.1.3.1): a code sent there is an issued
 * code.  A saved recovery code is shown as one, so that it is used once. */
static void test_s4_2_2_2_not_authenticators(void **state)
{
	(void)state;
	struct ag_recovery_result r =
		CHECK(account(LIST("password", "totp", "email_otp"), 2),
		      saved("s1"), authn("email_otp"));
	refused(&r, AG_RR_NOT_AUTHENTICATOR, 1);
	text_has(&r, AG_RR_NOT_AUTHENTICATOR, "§3.1.3.1");
	r = CHECK(account(LIST("password", "recovery_code"), 1),
		  issued(AG_CHANNEL_EMAIL, HOUR), authn("recovery_code"));
	refused(&r, AG_RR_NOT_AUTHENTICATOR, 1);
	text_has(&r, AG_RR_NOT_AUTHENTICATOR, "saved_code");
}

/* aalgate's rule, beyond §4.2.2.2: a code sent to the phone and an OTP to
 * the same phone prove one device. */
static void test_s4_2_2_2_same_phone_is_one_proof(void **state)
{
	(void)state;
	struct ag_recovery_account a = account(LIST("password", "sms_otp"), 2);
	struct ag_recovery_result r =
		CHECK(a, issued(AG_CHANNEL_SMS, MIN), authn("sms_otp"));
	refused(&r, AG_RR_SAME_CHANNEL, 1);
	r = CHECK(a, issued(AG_CHANNEL_VOICE, MIN), authn("sms_otp"));
	refused(&r, AG_RR_SAME_CHANNEL, 1);
	/* A code a recovery contact received came to another phone. */
	r = CHECK(a, contact(AG_CHANNEL_SMS, MIN), authn("sms_otp"));
	accepted(&r, AG_BASIS_CODE_AUTHENTICATOR);
	/* The same code with the password instead. */
	r = CHECK(a, issued(AG_CHANNEL_SMS, MIN), authn("password"));
	accepted(&r, AG_BASIS_CODE_AUTHENTICATOR);
}

static void test_s4_2_2_2_one_code_alone_refused(void **state)
{
	(void)state;
	struct ag_recovery_result r = CHECK(AAL2_ACCOUNT, saved("s1"));
	refused(&r, AG_RR_AAL2_INSUFFICIENT, -1);
	text_has(&r, AG_RR_AAL2_INSUFFICIENT, "counted: 1 code, 0 "
					      "authenticators");
	/* Two authenticators are sign-in, not recovery: a code is needed. */
	r = CHECK(AAL2_ACCOUNT, authn("password"), authn("totp"));
	refused(&r, AG_RR_AAL2_INSUFFICIENT, -1);
	/* pin counts only beside a device (ag_combine): not with a code. */
	r = CHECK(account(LIST("pin", "security_key"), 2), saved("s1"),
		  authn("pin"));
	refused(&r, AG_RR_AAL2_INSUFFICIENT, -1);
}

static void test_s4_2_2_2_repeated_identity_proofing(void **state)
{
	(void)state;
	struct ag_recovery_result r;
	r = CHECK(AAL2_ACCOUNT,
		  reproof(2, AG_PROOFING_REMOTE_UNATTENDED, false));
	accepted(&r, AG_BASIS_REPROOFING);
	r = CHECK(AAL2_ACCOUNT, reproof(3, AG_PROOFING_ONSITE_ATTENDED, true));
	accepted(&r, AG_BASIS_REPROOFING);
	/* IAL1 proofing is enough for an account proofed at IAL1. */
	r = CHECK(account(LIST("password", "totp"), 1),
		  reproof(1, AG_PROOFING_REMOTE_UNATTENDED, false));
	accepted(&r, AG_BASIS_REPROOFING);
}

/* §4.2.1.4: "consistent with the level of initial identity proofing". */
static void test_s4_2_1_4_reproofing_below_account_ial(void **state)
{
	(void)state;
	struct ag_recovery_result r = CHECK(
		AAL2_ACCOUNT, reproof(1, AG_PROOFING_ONSITE_ATTENDED, true));
	refused(&r, AG_RR_REPROOFING_BELOW, 0);
	text_has(&r, AG_RR_REPROOFING_BELOW, "IAL1");
	text_has(&r, AG_RR_REPROOFING_BELOW, "IAL2");
}

/* §4.2.2.2: "provided that the subscriber account has been identity
 * proofed". */
static void test_s4_2_2_2_reproofing_needs_a_proofed_account(void **state)
{
	(void)state;
	struct ag_recovery_result r =
		CHECK(account(LIST("password", "totp"), 0),
		      reproof(2, AG_PROOFING_REMOTE_ATTENDED, false));
	refused(&r, AG_RR_NOT_PROOFED, 0);
	r = CHECK(account(LIST("password", "totp"), AG_IAL_UNKNOWN),
		  reproof(3, AG_PROOFING_ONSITE_ATTENDED, true));
	refused(&r, AG_RR_NOT_PROOFED, 0);
	text_has(&r, AG_RR_NOT_PROOFED, "not known");
}

/* ---- §4.2.2.3 recovery at AAL3 ----------------------------------------- */

static void test_s4_2_2_3_aal3_email_only_refused(void **state)
{
	(void)state;
	struct ag_recovery_result r =
		CHECK(AAL3_ACCOUNT(3), issued(AG_CHANNEL_EMAIL, HOUR));
	assert_int_equal(r.account_aal, 3);
	assert_int_equal(r.rule, AG_RULE_AAL3_IAL3);
	refused(&r, AG_RR_AAL3_NEEDS_ONSITE, -1);
	text_has(&r, AG_RR_AAL3_NEEDS_ONSITE, "§4.2.2.3");
	/* Proofed at IAL2, an AAL3 account is recovered as at AAL2, and one
	 * e-mail code is not enough there either. */
	r = CHECK(AAL3_ACCOUNT(2), issued(AG_CHANNEL_EMAIL, HOUR));
	assert_int_equal(r.rule, AG_RULE_AAL3_AS_AAL2);
	refused(&r, AG_RR_AAL2_INSUFFICIENT, -1);
	text_has(&r, AG_RR_AAL2_INSUFFICIENT, "§4.2.2.3");
}

/* At IAL3 codes and authenticators, however many, are not enough. */
static void test_s4_2_2_3_ial3_codes_refused(void **state)
{
	(void)state;
	struct ag_recovery_result r = CHECK(
		AAL3_ACCOUNT(3), saved("s1"), issued(AG_CHANNEL_EMAIL, HOUR),
		contact(AG_CHANNEL_SMS, MIN), authn("password"));
	refused(&r, AG_RR_AAL3_NEEDS_ONSITE, -1);
}

static void test_s4_2_2_3_ial3_onsite_attended_biometric(void **state)
{
	(void)state;
	struct ag_recovery_result r = CHECK(
		AAL3_ACCOUNT(3), reproof(3, AG_PROOFING_ONSITE_ATTENDED, true));
	accepted(&r, AG_BASIS_ONSITE_BIOMETRIC);
	assert_int_equal(r.rule, AG_RULE_AAL3_IAL3);
	assert_int_equal(r.held_to, 3);
}

static void test_s4_2_2_3_ial3_other_proofing_refused(void **state)
{
	(void)state;
	struct ag_recovery_result r;
	r = CHECK(AAL3_ACCOUNT(3), reproof(3, AG_PROOFING_REMOTE_ATTENDED, true));
	refused(&r, AG_RR_NOT_ONSITE_BIOMETRIC, 0);
	text_has(&r, AG_RR_NOT_ONSITE_BIOMETRIC, "remote_attended");
	r = CHECK(AAL3_ACCOUNT(3),
		  reproof(3, AG_PROOFING_ONSITE_UNATTENDED, true));
	refused(&r, AG_RR_NOT_ONSITE_BIOMETRIC, 0);
	r = CHECK(AAL3_ACCOUNT(3),
		  reproof(3, AG_PROOFING_ONSITE_ATTENDED, false));
	refused(&r, AG_RR_NOT_ONSITE_BIOMETRIC, 0);
	text_has(&r, AG_RR_NOT_ONSITE_BIOMETRIC, "without a biometric");
	r = CHECK(AAL3_ACCOUNT(3), reproof(2, AG_PROOFING_ONSITE_ATTENDED, true));
	refused(&r, AG_RR_NOT_ONSITE_BIOMETRIC, 0);
	r = CHECK(AAL3_ACCOUNT(3), reproof(3, AG_PROOFING_UNKNOWN, true));
	refused(&r, AG_RR_NOT_ONSITE_BIOMETRIC, 0);
}

/* An AAL3 account whose IAL nobody knows gets the IAL3 rule. */
static void test_s4_2_2_3_unknown_ial_held_to_ial3(void **state)
{
	(void)state;
	struct ag_recovery_result r =
		CHECK(AAL3_ACCOUNT(AG_IAL_UNKNOWN), saved("s1"),
		      issued(AG_CHANNEL_EMAIL, HOUR));
	assert_int_equal(r.rule, AG_RULE_AAL3_IAL3);
	refused(&r, AG_RR_AAL3_NEEDS_ONSITE, -1);
	assert_false(find_note(&r, AG_RW_IAL_UNKNOWN)->refusal);
	r = CHECK(AAL3_ACCOUNT(AG_IAL_UNKNOWN),
		  reproof(3, AG_PROOFING_ONSITE_ATTENDED, true));
	accepted(&r, AG_BASIS_ONSITE_BIOMETRIC);
}

/* §4.2.2.3: "If an account that can authenticate at AAL3 has been
 * identity proofed at IAL1 or IAL2, the requirements are the same as
 * those for recovery at AAL2" (docs/govern.md asks IAL3 onsite proofing of
 * every AAL3 account; the standard does not). */
static void test_s4_2_2_3_ial1_ial2_as_aal2(void **state)
{
	(void)state;
	struct ag_recovery_result r;
	r = CHECK(AAL3_ACCOUNT(2), saved("s1"), issued(AG_CHANNEL_EMAIL, HOUR));
	assert_int_equal(r.rule, AG_RULE_AAL3_AS_AAL2);
	accepted(&r, AG_BASIS_TWO_CODES);
	r = CHECK(AAL3_ACCOUNT(1), saved("s1"), authn("password"));
	accepted(&r, AG_BASIS_CODE_AUTHENTICATOR);
	r = CHECK(AAL3_ACCOUNT(2),
		  reproof(2, AG_PROOFING_REMOTE_UNATTENDED, false));
	accepted(&r, AG_BASIS_REPROOFING);
	/* Not proofed at all: codes, never re-proofing. */
	r = CHECK(AAL3_ACCOUNT(0), saved("s1"), contact(AG_CHANNEL_EMAIL, MIN));
	accepted(&r, AG_BASIS_TWO_CODES);
	r = CHECK(AAL3_ACCOUNT(0), reproof(3, AG_PROOFING_ONSITE_ATTENDED, true));
	refused(&r, AG_RR_NOT_PROOFED, 0);
	r = CHECK(AAL3_ACCOUNT(2), issued(AG_CHANNEL_EMAIL, HOUR),
		  issued(AG_CHANNEL_SMS, MIN));
	refused(&r, AG_RR_SAME_METHOD, -1);
}

/* ---- §4.2.1.2 validity of issued codes --------------------------------- */

/* "valid for at most 24 hours": a code exactly 24 hours old is still
 * valid; one second more is not. */
static void test_s4_2_1_2_email_24h(void **state)
{
	(void)state;
	assert_int_equal(ag_recovery_code_validity(AG_CHANNEL_EMAIL, false),
			 24 * HOUR);
	struct ag_recovery_result r;
	r = CHECK(AAL1_ACCOUNT, issued(AG_CHANNEL_EMAIL, 24 * HOUR));
	accepted(&r, AG_BASIS_CODE);
	r = CHECK(AAL1_ACCOUNT, issued(AG_CHANNEL_EMAIL, 24 * HOUR + 1));
	refused(&r, AG_RR_CODE_EXPIRED, 0);
	r = CHECK(AAL1_ACCOUNT, issued(AG_CHANNEL_EMAIL, 25 * HOUR));
	refused(&r, AG_RR_CODE_EXPIRED, 0);
	text_has(&r, AG_RR_CODE_EXPIRED, "at most 24h");
	text_has(&r, AG_RR_CODE_EXPIRED, "25h old");
	text_has(&r, AG_RR_CODE_EXPIRED, "§4.2.1.2");
}

static void test_s4_2_1_2_sms_and_voice_10min(void **state)
{
	(void)state;
	assert_int_equal(ag_recovery_code_validity(AG_CHANNEL_SMS, false),
			 10 * MIN);
	assert_int_equal(ag_recovery_code_validity(AG_CHANNEL_VOICE, false),
			 10 * MIN);
	struct ag_recovery_result r;
	r = CHECK(AAL1_ACCOUNT, issued(AG_CHANNEL_SMS, 10 * MIN));
	accepted(&r, AG_BASIS_CODE);
	r = CHECK(AAL1_ACCOUNT, issued(AG_CHANNEL_SMS, 10 * MIN + 1));
	refused(&r, AG_RR_CODE_EXPIRED, 0);
	text_has(&r, AG_RR_CODE_EXPIRED, "10m1s old");
	r = CHECK(AAL1_ACCOUNT, issued(AG_CHANNEL_VOICE, 10 * MIN));
	accepted(&r, AG_BASIS_CODE);
	r = CHECK(AAL1_ACCOUNT, issued(AG_CHANNEL_VOICE, 10 * MIN + 1));
	refused(&r, AG_RR_CODE_EXPIRED, 0);
}

static void test_s4_2_1_2_postal_21_and_30_days(void **state)
{
	(void)state;
	assert_int_equal(ag_recovery_code_validity(AG_CHANNEL_POSTAL, false),
			 21 * DAY);
	assert_int_equal(
		ag_recovery_code_validity(AG_CHANNEL_POSTAL_NONCONUS, false),
		30 * DAY);
	struct ag_recovery_result r;
	r = CHECK(AAL1_ACCOUNT, issued(AG_CHANNEL_POSTAL, 21 * DAY));
	accepted(&r, AG_BASIS_CODE);
	r = CHECK(AAL1_ACCOUNT, issued(AG_CHANNEL_POSTAL, 21 * DAY + 1));
	refused(&r, AG_RR_CODE_EXPIRED, 0);
	text_has(&r, AG_RR_CODE_EXPIRED, "at most 21d");
	r = CHECK(AAL1_ACCOUNT, issued(AG_CHANNEL_POSTAL_NONCONUS, 30 * DAY));
	accepted(&r, AG_BASIS_CODE);
	r = CHECK(AAL1_ACCOUNT, issued(AG_CHANNEL_POSTAL_NONCONUS, 22 * DAY));
	accepted(&r, AG_BASIS_CODE);
	r = CHECK(AAL1_ACCOUNT,
		  issued(AG_CHANNEL_POSTAL_NONCONUS, 30 * DAY + 1));
	refused(&r, AG_RR_CODE_EXPIRED, 0);
}

static void test_s4_2_1_2_code_from_the_future(void **state)
{
	(void)state;
	struct ag_recovery_result r =
		CHECK(AAL1_ACCOUNT, issued(AG_CHANNEL_EMAIL, -1));
	refused(&r, AG_RR_CODE_FUTURE, 0);
	/* issued_at at the far ends of time: no overflow, no acceptance. */
	struct ag_recovery_evidence e = issued(AG_CHANNEL_EMAIL, 0);
	e.issued_at = INT64_MIN + 1;
	r = CHECK(AAL1_ACCOUNT, e);
	refused(&r, AG_RR_CODE_EXPIRED, 0);
	e.issued_at = INT64_MAX;
	r = CHECK(AAL1_ACCOUNT, e);
	refused(&r, AG_RR_CODE_FUTURE, 0);
}

static void test_s4_2_1_2_issued_code_needs_channel_and_time(void **state)
{
	(void)state;
	struct ag_recovery_evidence e = issued(AG_CHANNEL_NONE, 0);
	struct ag_recovery_result r = CHECK(AAL1_ACCOUNT, e);
	refused(&r, AG_RR_INVALID, 0);
	e = issued(AG_CHANNEL_EMAIL, 0);
	e.issued_at = AG_TIME_UNSET;
	r = CHECK(AAL1_ACCOUNT, e);
	refused(&r, AG_RR_INVALID, 0);
	e = issued(AG_CHANNEL_EMAIL, 0);
	e.channel = (enum ag_recovery_channel)99;
	r = CHECK(AAL1_ACCOUNT, e);
	refused(&r, AG_RR_INVALID, 0);
}

/* ---- §4.2.1.3 recovery contacts: 24 hours more ------------------------- */

static void test_s4_2_1_3_contact_24h_longer(void **state)
{
	(void)state;
	assert_int_equal(ag_recovery_code_validity(AG_CHANNEL_SMS, true),
			 24 * HOUR + 10 * MIN);
	assert_int_equal(ag_recovery_code_validity(AG_CHANNEL_EMAIL, true),
			 48 * HOUR);
	assert_int_equal(ag_recovery_code_validity(AG_CHANNEL_NONE, true), 0);
	struct ag_recovery_result r;
	r = CHECK(AAL1_ACCOUNT, contact(AG_CHANNEL_SMS, 24 * HOUR + 10 * MIN));
	accepted(&r, AG_BASIS_CODE);
	r = CHECK(AAL1_ACCOUNT,
		  contact(AG_CHANNEL_SMS, 24 * HOUR + 10 * MIN + 1));
	refused(&r, AG_RR_CODE_EXPIRED, 0);
	text_has(&r, AG_RR_CODE_EXPIRED, "24h10m");
	text_has(&r, AG_RR_CODE_EXPIRED, "§4.2.1.3");
	r = CHECK(AAL1_ACCOUNT, contact(AG_CHANNEL_EMAIL, 48 * HOUR));
	accepted(&r, AG_BASIS_CODE);
	r = CHECK(AAL1_ACCOUNT, contact(AG_CHANNEL_EMAIL, 48 * HOUR + 1));
	refused(&r, AG_RR_CODE_EXPIRED, 0);
	/* The extension is for contacts only. */
	r = CHECK(AAL1_ACCOUNT, issued(AG_CHANNEL_SMS, HOUR));
	refused(&r, AG_RR_CODE_EXPIRED, 0);
}

/* ---- §4.2.1.1 saved codes are used once -------------------------------- */

static void test_s4_2_1_1_reused_saved_code_refused(void **state)
{
	(void)state;
	struct ag_recovery_result r =
		CHECK_USED(AAL1_ACCOUNT, LIST("s0", "s1"), saved("s1"));
	refused(&r, AG_RR_CODE_REUSED, 0);
	text_has(&r, AG_RR_CODE_REUSED, "'s1'");
	text_has(&r, AG_RR_CODE_REUSED, "§4.2.1.1");
	r = CHECK_USED(AAL1_ACCOUNT, LIST("s0", "s1"), saved("s2"));
	accepted(&r, AG_BASIS_CODE);
	/* The same code twice in one request. */
	r = CHECK(AAL2_ACCOUNT, saved("s2"), saved("s2"));
	refused(&r, AG_RR_CODE_REUSED, 1);
	assert_int_equal(r.status[0], AG_RR_OK);
	/* An issued code with an id is held to it too. */
	struct ag_recovery_evidence e = issued(AG_CHANNEL_EMAIL, HOUR);
	e.code_id = "e1";
	r = CHECK_USED(AAL1_ACCOUNT, LIST("e1"), e);
	refused(&r, AG_RR_CODE_REUSED, 0);
}

/* Fail closed: a reused code refuses even beside evidence that would be
 * enough without it. */
static void test_s4_2_1_1_reused_code_refuses_the_whole(void **state)
{
	(void)state;
	struct ag_recovery_result r =
		CHECK_USED(AAL2_ACCOUNT, LIST("s1"), saved("s1"),
			   issued(AG_CHANNEL_EMAIL, HOUR), authn("password"),
			   contact(AG_CHANNEL_SMS, MIN));
	refused(&r, AG_RR_CODE_REUSED, 0);
	assert_int_equal(r.status[1], AG_RR_OK);
}

static void test_s4_2_1_1_saved_code_needs_an_id(void **state)
{
	(void)state;
	struct ag_recovery_result r = CHECK(AAL1_ACCOUNT, saved(NULL));
	refused(&r, AG_RR_CODE_ID_MISSING, 0);
	r = CHECK(AAL1_ACCOUNT, saved(""));
	refused(&r, AG_RR_CODE_ID_MISSING, 0);
	struct ag_recovery_evidence e = saved("s1");
	e.channel = AG_CHANNEL_EMAIL;
	r = CHECK(AAL1_ACCOUNT, e);
	refused(&r, AG_RR_INVALID, 0);
}

/* §4.2.1.1: "the CSP SHALL invalidate that recovery code and SHALL issue
 * a new saved recovery code". */
static void test_s4_2_1_1_obligations_after_use(void **state)
{
	(void)state;
	struct ag_recovery_evidence e = issued(AG_CHANNEL_EMAIL, HOUR);
	e.code_id = "e7";
	struct ag_recovery_result r = CHECK(AAL2_ACCOUNT, saved("s3"), e);
	accepted(&r, AG_BASIS_TWO_CODES);
	assert_int_equal(r.n_invalidate, 2);
	assert_int_equal(r.invalidate[0], 0);
	assert_int_equal(r.invalidate[1], 1);
	assert_true(r.issue_saved_code);
	/* Without a saved code, no new one is due. */
	r = CHECK(AAL2_ACCOUNT, e, authn("totp"));
	accepted(&r, AG_BASIS_CODE_AUTHENTICATOR);
	assert_int_equal(r.n_invalidate, 1);
	assert_false(r.issue_saved_code);
}

/* ---- KBA is never evidence --------------------------------------------- */

static void test_kba_refused_with_why(void **state)
{
	(void)state;
	struct ag_recovery_result r = CHECK(AAL1_ACCOUNT, kba());
	refused(&r, AG_RR_KBA, 0);
	text_has(&r, AG_RR_KBA, "never recovery evidence");
	text_has(&r, AG_RR_KBA, "SP 800-63B-4 §4.2.1");
	text_has(&r, AG_RR_KBA, "§3.1.1.2");
	text_has(&r, AG_RR_KBA, "SP 800-63A-4 §2.5.1");
	/* Beside a valid code, it still refuses. */
	r = CHECK(AAL1_ACCOUNT, saved("s1"), kba());
	refused(&r, AG_RR_KBA, 1);
	/* Named as an authenticator, even an enrolled one. */
	r = CHECK(account(LIST("password", "kba"), 0), saved("s1"),
		  authn("kba"));
	refused(&r, AG_RR_KBA, 1);
	/* A policy's own prohibited method. */
	r = CHECK(account(LIST("password", "badge_question"), 0), saved("s1"),
		  authn("badge_question"));
	refused(&r, AG_RR_PROHIBITED, 1);
}

/* ---- §4.2.3 and §4.6: notification ------------------------------------- */

static void test_s4_6_notify_all_but_postal(void **state)
{
	(void)state;
	static const struct ag_recovery_address three[] = {
		{AG_CHANNEL_POSTAL, "1 Main St"},
		{AG_CHANNEL_EMAIL, "alice@example.org"},
		{AG_CHANNEL_VOICE, "+15550100"},
	};
	struct ag_recovery_account a = AAL2_ACCOUNT;
	a.notify = three;
	a.n_notify = 3;
	struct ag_recovery_result r =
		CHECK(a, saved("s1"), issued(AG_CHANNEL_EMAIL, HOUR));
	accepted(&r, AG_BASIS_TWO_CODES);
	assert_false(r.notify_postal);
	assert_int_equal(r.n_notify, 2);
	assert_int_equal(r.notify[0].channel, AG_CHANNEL_EMAIL);
	assert_string_equal(r.notify[0].address, "alice@example.org");
	assert_int_equal(r.notify[1].channel, AG_CHANNEL_VOICE);
	assert_string_equal(r.notify[1].address, "+15550100");
	assert_null(find_note(&r, AG_RW_FEW_ADDRESSES));
}

/* §4.2.1.2, with the addresses of record: an issued code sent elsewhere
 * refuses, whatever else is valid about it; one sent to a record of its
 * kind counts; one that does not say is warned of.  Without of_record
 * nothing is compared. */
static void test_s4_2_1_2_code_sent_to_record(void **state)
{
	(void)state;
	static const struct ag_recovery_address rec[] = {
		{AG_CHANNEL_EMAIL, "alice@example.org"},
		{AG_CHANNEL_SMS, "+1 555 0100"},
		{AG_CHANNEL_POSTAL, "1 Main St"},
	};
	struct ag_recovery_account a = AAL1_ACCOUNT;
	a.notify = rec;
	a.n_notify = 3;
	a.of_record = true;
	struct ag_recovery_evidence e = issued(AG_CHANNEL_EMAIL, HOUR);
	e.sent_to = "mallory@example.net";
	struct ag_recovery_result r = CHECK(a, e);
	refused(&r, AG_RR_NOT_OF_RECORD, 0);
	e.sent_to = "Alice@Example.org";
	r = CHECK(a, e);
	accepted(&r, AG_BASIS_CODE);
	e = issued(AG_CHANNEL_VOICE, MIN);
	e.sent_to = "+15550100";
	r = CHECK(a, e);
	accepted(&r, AG_BASIS_CODE);
	e = issued(AG_CHANNEL_POSTAL_NONCONUS, 25 * DAY);
	e.sent_to = "1 Main St";
	r = CHECK(a, e);
	refused(&r, AG_RR_NOT_OF_RECORD, 0);
	e = issued(AG_CHANNEL_SMS, MIN);
	r = CHECK(a, e);
	accepted(&r, AG_BASIS_CODE);
	assert_non_null(find_note(&r, AG_RW_CODE_DESTINATION));
	/* Addresses a request gave are not a record: nothing compared. */
	a.of_record = false;
	e = issued(AG_CHANNEL_EMAIL, HOUR);
	e.sent_to = "mallory@example.net";
	r = CHECK(a, e);
	accepted(&r, AG_BASIS_CODE);
	assert_null(find_note(&r, AG_RW_CODE_DESTINATION));
	assert_true(ag_recovery_reaches(AG_CHANNEL_SMS, "(555) 0100",
					&(struct ag_recovery_address){
						AG_CHANNEL_VOICE, "5550100"}));
	assert_false(ag_recovery_reaches(AG_CHANNEL_SMS, "+15550100",
					 &(struct ag_recovery_address){
						 AG_CHANNEL_VOICE, "15550100"}));
}

/* §4.6: postal addresses too "if the notification is for account
 * recovery at AAL3". */
static void test_s4_6_aal3_recovery_notifies_by_post(void **state)
{
	(void)state;
	static const struct ag_recovery_address three[] = {
		{AG_CHANNEL_EMAIL, "alice@example.org"},
		{AG_CHANNEL_POSTAL_NONCONUS, "1 Main St, Honolulu"},
		{AG_CHANNEL_SMS, "+15550100"},
	};
	struct ag_recovery_account a = AAL3_ACCOUNT(3);
	a.notify = three;
	a.n_notify = 3;
	struct ag_recovery_result r =
		CHECK(a, reproof(3, AG_PROOFING_ONSITE_ATTENDED, true));
	accepted(&r, AG_BASIS_ONSITE_BIOMETRIC);
	assert_true(r.notify_postal);
	assert_int_equal(r.n_notify, 3);
	assert_int_equal(r.notify[1].channel, AG_CHANNEL_POSTAL_NONCONUS);
	assert_string_equal(r.notify[1].address, "1 Main St, Honolulu");
	assert_null(find_note(&r, AG_RW_NO_POSTAL));
	/* AAL3 recovered as at AAL2 is still a recovery at AAL3. */
	a = AAL3_ACCOUNT(2);
	a.notify = three;
	a.n_notify = 3;
	r = CHECK(a, saved("s1"), issued(AG_CHANNEL_EMAIL, HOUR));
	accepted(&r, AG_BASIS_TWO_CODES);
	assert_true(r.notify_postal);
	assert_int_equal(r.n_notify, 3);
	/* Without a postal address: a warning, not a refusal. */
	r = CHECK(AAL3_ACCOUNT(2), saved("s1"), issued(AG_CHANNEL_EMAIL, HOUR));
	accepted(&r, AG_BASIS_TWO_CODES);
	assert_int_equal(r.n_notify, 2);
	assert_false(find_note(&r, AG_RW_NO_POSTAL)->refusal);
}

/* §4.6: postal addresses "if no other form of notification address is
 * stored". */
static void test_s4_6_postal_when_no_other(void **state)
{
	(void)state;
	static const struct ag_recovery_address post[] = {
		{AG_CHANNEL_POSTAL, "1 Main St"},
	};
	struct ag_recovery_account a = AAL1_ACCOUNT;
	a.notify = post;
	a.n_notify = 1;
	struct ag_recovery_result r = CHECK(a, saved("s1"));
	accepted(&r, AG_BASIS_CODE);
	assert_true(r.notify_postal);
	assert_int_equal(r.n_notify, 1);
	/* One address: told, with a warning (at least two are asked for). */
	text_has(&r, AG_RW_FEW_ADDRESSES, "§4.6");
	assert_false(find_note(&r, AG_RW_FEW_ADDRESSES)->refusal);
}

/* §4.2.3: "In all cases, account recovery SHALL cause a notification". */
static void test_s4_2_3_no_notification_address_refused(void **state)
{
	(void)state;
	struct ag_recovery_account a = AAL1_ACCOUNT;
	a.notify = NULL;
	a.n_notify = 0;
	struct ag_recovery_result r = CHECK(a, saved("s1"));
	refused(&r, AG_RR_NO_NOTIFY_ADDRESS, -1);
	text_has(&r, AG_RR_NO_NOTIFY_ADDRESS, "§4.2.3");
}

/* ---- arguments and limits ---------------------------------------------- */

static void test_bad_arguments_deny(void **state)
{
	(void)state;
	struct ag_recovery_result r;
	struct ag_recovery_account a = AAL1_ACCOUNT;
	struct ag_recovery_evidence ev[AG_RECOVERY_EVIDENCE_MAX + 1];
	for (size_t i = 0; i < ARRAY_SIZE(ev); i++)
		ev[i] = issued(AG_CHANNEL_EMAIL, HOUR);

	assert_int_equal(ag_recovery_check(NULL, &a, ev, 1, NULL, 0, NOW, &r),
			 AG_ERR_USAGE);
	assert_false(r.accepted);
	assert_int_equal(ag_recovery_check(pol, NULL, ev, 1, NULL, 0, NOW, &r),
			 AG_ERR_USAGE);
	assert_false(r.accepted);
	assert_int_equal(ag_recovery_check(pol, &a, NULL, 1, NULL, 0, NOW, &r),
			 AG_ERR_USAGE);
	assert_int_equal(ag_recovery_check(pol, &a, ev, 1, NULL, 0, NOW, NULL),
			 AG_ERR_USAGE);
	assert_int_equal(ag_recovery_check(pol, &a, ev, ARRAY_SIZE(ev), NULL,
					   0, NOW, &r),
			 AG_ERR_LIMIT);
	assert_false(r.accepted);
	assert_int_equal(ag_recovery_check(pol, &a, ev,
					   AG_RECOVERY_EVIDENCE_MAX, NULL, 0,
					   NOW, &r),
			 AG_OK);
	accepted(&r, AG_BASIS_CODE); /* AAL1: any one code */
	a.aal = 4;
	assert_int_equal(ag_recovery_check(pol, &a, ev, 1, NULL, 0, NOW, &r),
			 AG_ERR_USAGE);
	a = AAL1_ACCOUNT;
	a.ial = 7;
	assert_int_equal(ag_recovery_check(pol, &a, ev, 1, NULL, 0, NOW, &r),
			 AG_ERR_USAGE);
	a = AAL1_ACCOUNT;
	uint16_t big = (uint16_t)pol->catalogue.n;
	a.enrolled = &big;
	a.n_enrolled = 1;
	assert_int_equal(ag_recovery_check(pol, &a, ev, 1, NULL, 0, NOW, &r),
			 AG_ERR_USAGE);
	assert_false(r.accepted);
	struct ag_recovery_evidence odd = kba();
	odd.kind = (enum ag_recovery_kind)42;
	r = CHECK(AAL1_ACCOUNT, saved("s1"), odd);
	refused(&r, AG_RR_INVALID, 1);
	odd = reproof(4, AG_PROOFING_ONSITE_ATTENDED, true);
	r = CHECK(AAL2_ACCOUNT, odd);
	refused(&r, AG_RR_INVALID, 0);
}

static void test_names_are_stable(void **state)
{
	(void)state;
	assert_string_equal(ag_recovery_kind_name(AG_RECOVERY_CONTACT),
			    "recovery_contact");
	assert_string_equal(ag_recovery_channel_name(AG_CHANNEL_POSTAL_NONCONUS),
			    "postal_outside_contiguous_us");
	assert_string_equal(ag_proofing_name(AG_PROOFING_ONSITE_ATTENDED),
			    "onsite_attended");
	assert_string_equal(ag_recovery_reason_name(AG_RR_CODE_EXPIRED),
			    "code_expired");
	assert_string_equal(ag_recovery_reason_name(AG_RR_AAL3_NEEDS_ONSITE),
			    "aal3_needs_onsite_biometric");
	assert_string_equal(ag_recovery_reason_name(AG_RR__COUNT), "unknown");
	assert_string_equal(ag_recovery_rule_name(AG_RULE_AAL3_AS_AAL2),
			    "aal3_as_aal2");
	assert_string_equal(ag_recovery_basis_name(AG_BASIS_CODE_AUTHENTICATOR),
			    "code_and_authenticator");
	for (int i = 0; i < AG_RR__COUNT; i++)
		assert_string_not_equal(
			ag_recovery_reason_name((enum ag_recovery_reason)i),
			"unknown");
}

/* ---- the JSON request -------------------------------------------------- */

static void parse_fails(const char *json, ag_code code, const char *msg)
{
	struct ag_recovery_request req;
	struct ag_error err;
	ag_error_init(&err);
	assert_int_equal(ag_recovery_request_parse("ev.json", json,
						   strlen(json), &req, &err),
			 code);
	assert_string_equal(err.msg, msg);
	assert_null(req.evidence);
	assert_int_equal(req.n_evidence, 0);
}

static void test_request_parse_and_check(void **state)
{
	(void)state;
	static const char json[] =
		"{\"account\": \"alice\", \"enrolled\": [\"password\", "
		"\"totp\"], \"ial\": 2,\n"
		" \"notify\": [{\"channel\": \"email\", \"address\": "
		"\"a@example.org\"}, {\"channel\": \"sms\"}],\n"
		" \"now\": \"2027-01-15T08:00:00Z\", \"used_codes\": [\"s1\"],\n"
		" \"evidence\": [{\"kind\": \"saved_code\", \"code_id\": "
		"\"s2\"},\n"
		"   {\"kind\": \"issued_code\", \"channel\": \"email\", "
		"\"issued_at\": \"2027-01-14T08:00:00Z\"},\n"
		"   {\"kind\": \"reproofing\", \"ial\": 3, \"proofing\": "
		"\"onsite_attended\", \"biometric\": true},\n"
		"   {\"kind\": \"authenticator\", \"method\": \"password\"}]}";
	struct ag_recovery_request req;
	struct ag_recovery_account a;
	struct ag_recovery_result r;
	struct ag_error err;
	uint16_t ix[8];

	ag_error_init(&err);
	assert_int_equal(ag_recovery_request_parse("ev.json", json,
						   strlen(json), &req, &err),
			 AG_OK);
	assert_string_equal(req.account, "alice");
	assert_int_equal(req.n_enrolled, 2);
	assert_int_equal(req.ial, 2);
	assert_int_equal(req.aal, AG_AAL_UNSET);
	assert_int_equal(req.n_notify, 2);
	assert_null(req.notify[1].address);
	assert_true(req.has_now);
	assert_int_equal(req.now, 1800000000);
	assert_int_equal(req.n_used, 1);
	assert_int_equal(req.n_evidence, 4);
	assert_int_equal(req.evidence[1].issued_at, 1800000000 - 86400);
	assert_int_equal(req.evidence[2].proofing, AG_PROOFING_ONSITE_ATTENDED);
	assert_true(req.evidence[2].biometric);
	assert_int_equal(ag_recovery_request_account(pol, &req, "ev.json", ix,
						     8, &a, &err),
			 AG_OK);
	assert_int_equal(a.n_enrolled, 2);
	assert_int_equal(ag_recovery_check(pol, &a, req.evidence, req.n_evidence,
					   (const char *const *)req.used,
					   req.n_used, req.now, &r),
			 AG_OK);
	/* Exactly 24 hours old: valid. */
	accepted(&r, AG_BASIS_TWO_CODES);
	assert_int_equal(r.n_notify, 2);
	ag_recovery_request_release(&req);
	ag_recovery_request_release(&req); /* twice is harmless */

	static const char typo[] =
		"{\"enrolled\": [\"totpp\"], \"evidence\": []}";
	assert_int_equal(ag_recovery_request_parse("ev.json", typo,
						   strlen(typo), &req, &err),
			 AG_OK);
	assert_int_equal(ag_recovery_request_account(pol, &req, "ev.json", ix,
						     8, &a, &err),
			 AG_ERR_INVALID);
	assert_string_equal(err.msg, "ev.json: unknown method 'totpp' in "
				     "enrolled; did you mean 'totp'?");
	ag_recovery_request_release(&req);
}

static void test_request_parse_errors(void **state)
{
	(void)state;
	parse_fails("{\"level\": 1,\n \"evidence\": [}", AG_ERR_SYNTAX,
		    "ev.json:2:15: unexpected token near '}'");
	parse_fails("{\"level\": 1, \"evidense\": []}", AG_ERR_INVALID,
		    "ev.json: unknown key 'evidense' in the request; did you "
		    "mean 'evidence'?");
	parse_fails("{\"level\": 1, \"evidence\": [{\"kind\": "
		    "\"issued_code\", \"chanel\": \"email\"}]}",
		    AG_ERR_INVALID,
		    "ev.json: evidence[0]: unknown key 'chanel' in evidence; "
		    "did you mean 'channel'?");
	parse_fails("{\"level\": 1, \"evidence\": [{\"kind\": \"saved_code\", "
		    "\"code_id\": \"a\", \"channel\": \"email\"}]}",
		    AG_ERR_INVALID,
		    "ev.json: evidence[0]: key 'channel' does not belong to "
		    "saved_code evidence");
	parse_fails("{\"level\": 1, \"evidence\": [{\"kind\": \"saved\"}]}",
		    AG_ERR_INVALID,
		    "ev.json: evidence[0]: unknown kind 'saved'");
	parse_fails("{\"level\": 1, \"evidence\": [{\"kind\": "
		    "\"issued_code\", \"channel\": \"emial\", \"issued_at\": "
		    "0}]}",
		    AG_ERR_INVALID,
		    "ev.json: evidence[0]: unknown channel 'emial'; did you "
		    "mean 'email'?");
	parse_fails("{\"level\": 1, \"evidence\": [{\"kind\": "
		    "\"issued_code\", \"channel\": \"sms\"}]}",
		    AG_ERR_INVALID,
		    "ev.json: evidence[0]: issued_code evidence needs "
		    "'channel' and 'issued_at'");
	parse_fails("{\"level\": 1, \"evidence\": [{\"kind\": "
		    "\"saved_code\"}]}",
		    AG_ERR_INVALID,
		    "ev.json: evidence[0]: a saved_code needs its 'code_id': "
		    "a saved code is used once");
	parse_fails("{\"evidence\": []}", AG_ERR_INVALID,
		    "ev.json: give the account's 'enrolled' methods or its "
		    "'level'");
	parse_fails("{\"level\": 4, \"evidence\": []}", AG_ERR_INVALID,
		    "ev.json: 'level' must be an integer from 0 to 3");
	parse_fails("{\"level\": 1, \"now\": \"yesterday\", \"evidence\": []}",
		    AG_ERR_INVALID,
		    "ev.json: 'now' must be epoch seconds or an RFC 3339 time "
		    "such as \"2025-06-01T12:00:00Z\"");
	parse_fails("{\"level\": 1, \"evidence\": [], \"evidence\": []}",
		    AG_ERR_SYNTAX,
		    "ev.json:1:39: duplicate object key near '\"evidence\"'");
	parse_fails("[]", AG_ERR_INVALID,
		    "ev.json: the request must be a JSON object");
	parse_fails("{\"level\": 1, \"notify\": [{\"address\": \"x\"}], "
		    "\"evidence\": []}",
		    AG_ERR_INVALID,
		    "ev.json: notify[0]: 'channel' is required (email, sms, "
		    "voice, postal)");
	parse_fails("{\"level\": 1, \"evidence\": [{\"kind\": \"kba\", "
		    "\"method\": \"x\"}]}",
		    AG_ERR_INVALID,
		    "ev.json: evidence[0]: key 'method' does not belong to kba "
		    "evidence");
	parse_fails("{\"level\": 1, \"evidence\": [{\"kind\": \"saved_code\", "
		    "\"code_id\": \"a\", \"sent_to\": \"a@b\"}]}",
		    AG_ERR_INVALID,
		    "ev.json: evidence[0]: key 'sent_to' does not belong to "
		    "saved_code evidence");
	parse_fails("{\"level\": 1, \"evidence\": [{\"kind\": "
		    "\"issued_code\", \"channel\": \"sms\", \"issued_at\": 0, "
		    "\"sent_to\": 5}]}",
		    AG_ERR_INVALID,
		    "ev.json: evidence[0]: 'sent_to' must be a string");
	parse_fails("{\"level\": 1, \"evidence\": [{\"kind\": "
		    "\"recovery_contact\", \"channel\": \"sms\", "
		    "\"issued_at\": 0, \"sent_to\": \"+15550100\"}]}",
		    AG_ERR_INVALID,
		    "ev.json: evidence[0]: key 'sent_to' does not belong to "
		    "recovery_contact evidence");
	/* An address may be as long as the store keeps (320 bytes). */
	{
		char j[800], a[AG_RECOVERY_ADDRESS_MAX + 2];
		struct ag_recovery_request req;
		struct ag_error e;
		memset(a, 'a', sizeof(a) - 2);
		a[sizeof(a) - 2] = '\0';
		snprintf(j, sizeof(j),
			 "{\"level\": 1, \"evidence\": [{\"kind\": "
			 "\"issued_code\", \"channel\": \"email\", "
			 "\"issued_at\": 0, \"sent_to\": \"%s\"}]}",
			 a);
		ag_error_init(&e);
		assert_int_equal(ag_recovery_request_parse("ev.json", j,
							   strlen(j), &req, &e),
				 AG_OK);
		assert_int_equal(strlen(req.evidence[0].sent_to),
				 AG_RECOVERY_ADDRESS_MAX);
		ag_recovery_request_release(&req);
		a[sizeof(a) - 2] = 'a';
		a[sizeof(a) - 1] = '\0';
		snprintf(j, sizeof(j),
			 "{\"level\": 1, \"evidence\": [{\"kind\": "
			 "\"issued_code\", \"channel\": \"email\", "
			 "\"issued_at\": 0, \"sent_to\": \"%s\"}]}",
			 a);
		parse_fails(j, AG_ERR_LIMIT,
			    "ev.json: evidence[0]: 'sent_to' is over 320 bytes");
	}

	/* Caps. */
	char big[2048];
	size_t off = (size_t)snprintf(big, sizeof(big),
				      "{\"level\": 1, \"evidence\": [");
	for (int i = 0; i <= AG_RECOVERY_EVIDENCE_MAX; i++)
		off += (size_t)snprintf(big + off, sizeof(big) - off,
					"%s{\"kind\": \"kba\"}", i ? "," : "");
	snprintf(big + off, sizeof(big) - off, "]}");
	parse_fails(big, AG_ERR_LIMIT,
		    "ev.json: 'evidence' has over 16 entries");
	char *huge = malloc(AG_RECOVERY_REQUEST_MAX + 2);
	assert_non_null(huge);
	memset(huge, ' ', AG_RECOVERY_REQUEST_MAX + 1);
	huge[AG_RECOVERY_REQUEST_MAX + 1] = '\0';
	parse_fails(huge, AG_ERR_LIMIT, "ev.json:1:1: request over 65536 bytes");
	free(huge);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own_level_is_ag_combine_of_enrolled),
		cmocka_unit_test(test_own_level_given_and_enrolled_the_higher_applies),
		cmocka_unit_test(test_level_zero_held_to_aal1),
		cmocka_unit_test(test_s4_2_2_1_aal1_one_code_of_any_method),
		cmocka_unit_test(test_s4_2_2_1_aal1_reproofing_is_not_a_method),
		cmocka_unit_test(test_s4_2_2_1_aal1_authenticator_alone_is_not_recovery),
		cmocka_unit_test(test_s4_2_2_2_two_codes_of_different_methods),
		cmocka_unit_test(test_s4_2_2_2_two_codes_same_channel_refused),
		cmocka_unit_test(test_s4_2_2_2_email_and_sms_codes_are_one_method),
		cmocka_unit_test(test_s4_2_2_2_code_plus_bound_authenticator),
		cmocka_unit_test(test_s4_2_2_2_authenticator_must_be_bound),
		cmocka_unit_test(test_s4_2_2_2_not_authenticators),
		cmocka_unit_test(test_s4_2_2_2_same_phone_is_one_proof),
		cmocka_unit_test(test_s4_2_2_2_one_code_alone_refused),
		cmocka_unit_test(test_s4_2_2_2_repeated_identity_proofing),
		cmocka_unit_test(test_s4_2_1_4_reproofing_below_account_ial),
		cmocka_unit_test(test_s4_2_2_2_reproofing_needs_a_proofed_account),
		cmocka_unit_test(test_s4_2_2_3_aal3_email_only_refused),
		cmocka_unit_test(test_s4_2_2_3_ial3_codes_refused),
		cmocka_unit_test(test_s4_2_2_3_ial3_onsite_attended_biometric),
		cmocka_unit_test(test_s4_2_2_3_ial3_other_proofing_refused),
		cmocka_unit_test(test_s4_2_2_3_unknown_ial_held_to_ial3),
		cmocka_unit_test(test_s4_2_2_3_ial1_ial2_as_aal2),
		cmocka_unit_test(test_s4_2_1_2_email_24h),
		cmocka_unit_test(test_s4_2_1_2_sms_and_voice_10min),
		cmocka_unit_test(test_s4_2_1_2_postal_21_and_30_days),
		cmocka_unit_test(test_s4_2_1_2_code_from_the_future),
		cmocka_unit_test(test_s4_2_1_2_issued_code_needs_channel_and_time),
		cmocka_unit_test(test_s4_2_1_3_contact_24h_longer),
		cmocka_unit_test(test_s4_2_1_1_reused_saved_code_refused),
		cmocka_unit_test(test_s4_2_1_1_reused_code_refuses_the_whole),
		cmocka_unit_test(test_s4_2_1_1_saved_code_needs_an_id),
		cmocka_unit_test(test_s4_2_1_1_obligations_after_use),
		cmocka_unit_test(test_kba_refused_with_why),
		cmocka_unit_test(test_s4_2_1_2_code_sent_to_record),
		cmocka_unit_test(test_s4_6_notify_all_but_postal),
		cmocka_unit_test(test_s4_6_aal3_recovery_notifies_by_post),
		cmocka_unit_test(test_s4_6_postal_when_no_other),
		cmocka_unit_test(test_s4_2_3_no_notification_address_refused),
		cmocka_unit_test(test_bad_arguments_deny),
		cmocka_unit_test(test_names_are_stable),
		cmocka_unit_test(test_request_parse_and_check),
		cmocka_unit_test(test_request_parse_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
