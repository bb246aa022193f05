/*
 * What each event source becomes (src/watch/read-<source>.c): aalgate's
 * decision log and journal rows, Okta System Log events, CloudTrail
 * records, Keycloak user and admin events and auth.log lines, each
 * written here from the format's documentation, every mapped field
 * checked.  The hand-written sample files in tests/data/watch are read
 * too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"
#include "watchutil.h"
#include "util.h"

static const char policy_text[] =
	"profile: sp800-63b-4\n"
	"workflows:\n"
	"  admin: { aal: 3, phishing_resistant: true, device: managed }\n"
	"  staff: { aal: 2 }\n";

static struct ag_policy *pol;

static int setup(void **state)
{
	(void)state;
	pol = policy_ok(policy_text);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ag_policy_free(pol);
	return 0;
}

/* Reads text with source src (AG_SRC_AUTO too, which must agree) into g;
 * returns the stats of the auto run. */
static struct ag_event_stats read_both(enum ag_event_source src,
				       const char *text, struct got *g)
{
	struct got forced = {0};
	struct ag_event_reader *r = read_text(pol, AG_SRC_AUTO, text, g);
	struct ag_event_reader *f = read_text(pol, src, text, &forced);
	struct ag_event_stats st = *ag_event_reader_stats(r);
	assert_int_equal(forced.n, g->n);
	for (size_t i = 0; i < g->n; i++) {
		assert_int_equal(forced.v[i].kind, g->v[i].kind);
		assert_int_equal(forced.v[i].line, g->v[i].line);
		assert_int_equal(g->v[i].source, src);
	}
	ag_event_reader_free(r);
	ag_event_reader_free(f);
	got_free(&forced);
	return st;
}

#define PREV "\"prev\":\"9f2c000000000000000000000000000000000000000000000000000000000000\""

/* ---- aalgate ---- */

static void test_aalgate(void **state)
{
	struct got g = {0};
	(void)state;
	static const char text[] =
		/* 1 */ "{\"seq\":1," PREV ",\"time\":\"2026-11-28T10:00:00.123Z\",\"type\":\"decision\",\"id\":\"d-1\",\"outcome\":\"allow\",\"status\":200,\"workflow\":\"admin\",\"reasons\":[],\"subject\":\"alice\",\"iss\":\"https://idp.example.com\",\"jti\":\"j1\",\"kid\":\"k1\",\"observed\":{\"aal\":3,\"phishing_resistant\":true,\"hardware\":true,\"device\":\"managed\"},\"ip\":\"10.20.1.5\",\"method\":\"GET\",\"host\":\"admin.example.com\",\"path\":\"/users\"}\n"
		/* 2 */ "{\"seq\":2," PREV ",\"time\":\"2026-11-28T10:00:00Z\",\"type\":\"decision\",\"id\":\"d-2\",\"outcome\":\"step_up\",\"status\":401,\"workflow\":\"staff\",\"reasons\":[\"aal\"],\"subject\":\"bob\",\"iss\":\"https://idp.example.com\",\"jti\":\"j2\",\"kid\":\"k1\",\"observed\":{\"aal\":1,\"phishing_resistant\":false,\"hardware\":false,\"device\":\"any\"}}\n"
		/* 3 */ "{\"seq\":3," PREV ",\"time\":\"2026-11-28T10:00:00Z\",\"type\":\"decision\",\"id\":\"d-3\",\"outcome\":\"deny\",\"status\":401,\"workflow\":\"staff\",\"reasons\":[\"no_token\"]}\n"
		/* 4 */ "{\"seq\":4," PREV ",\"time\":\"2026-11-28T10:00:00Z\",\"type\":\"decision\",\"id\":\"d-4\",\"outcome\":\"allow\",\"status\":200,\"workflow\":\"staff\",\"reasons\":[],\"subject\":\"bob\",\"observed\":{\"aal\":2,\"phishing_resistant\":false,\"hardware\":false,\"device\":\"any\"},\"what_if\":true}\n"
		/* 5 */ "{\"seq\":5," PREV ",\"time\":\"2026-11-28T10:00:00Z\",\"type\":\"pam\",\"id\":\"p-1\",\"outcome\":\"deny\",\"reason\":\"no_grant\",\"phase\":\"auth\",\"user\":\"bob\",\"workflow\":\"admin\",\"host\":\"db1\",\"service\":\"sudo\",\"rhost\":\"-\",\"peer\":{\"uid\":0,\"gid\":0,\"pid\":42}}\n"
		/* 6 */ "{\"seq\":6," PREV ",\"time\":\"2026-11-28T10:01:00Z\",\"type\":\"grant_activate\",\"store\":\"5c0e1f9a2b\",\"journal_seq\":1,\"grant\":3,\"account\":\"root-admin\",\"workflow\":\"admin\",\"break_glass\":true,\"hosts\":[],\"duration\":3600,\"approvals\":2,\"obligation\":\"alert\",\"message\":\"break-glass account 'root-admin' activated\"}\n"
		/* 7 */ "{\"seq\":7," PREV ",\"time\":\"2026-11-28T10:01:00Z\",\"type\":\"grant_activate\",\"store\":\"5c0e1f9a2b\",\"journal_seq\":2,\"grant\":4,\"account\":\"alice\",\"workflow\":\"admin\",\"break_glass\":false,\"hosts\":[]}\n"
		/* 8 */ "{\"seq\":8," PREV ",\"time\":\"2026-11-28T10:01:00Z\",\"type\":\"break_glass_use\",\"store\":\"5c0e1f9a2b\",\"journal_seq\":3,\"grant\":3,\"account\":\"root-admin\",\"workflow\":\"admin\",\"break_glass\":true,\"hosts\":[],\"host\":null,\"obligation\":\"alert\"}\n"
		/* 9 */ "{\"seq\":9," PREV ",\"time\":\"2026-11-28T10:01:00Z\",\"type\":\"enroll_add\",\"store\":\"5c0e1f9a2b\",\"journal_seq\":4,\"account\":\"carol\",\"method\":\"security_key_uv\",\"label\":\"yubi\",\"bootstrap\":false,\"account_aal\":2,\"required_aal\":2,\"evidence\":{\"aal\":2,\"phishing_resistant\":true,\"hardware\":false,\"source\":\"token\"}}\n"
		/* 10 */ "{\"seq\":10," PREV ",\"time\":\"2026-11-28T10:02:00Z\",\"type\":\"enroll_remove\",\"store\":\"5c0e1f9a2b\",\"journal_seq\":5,\"account\":\"carol\",\"method\":\"totp\",\"label\":\"\",\"remaining\":2}\n"
		/* 11 */ "{\"seq\":11," PREV ",\"time\":\"2026-11-28T10:02:00Z\",\"type\":\"enroll_remove\",\"store\":\"5c0e1f9a2b\",\"journal_seq\":6,\"account\":\"carol\",\"method\":\"sms_otp\",\"label\":\"\",\"remaining\":1}\n"
		/* 12 */ "{\"seq\":12," PREV ",\"time\":\"2026-11-28T10:02:00Z\",\"type\":\"helpdesk_reset\",\"store\":\"5c0e1f9a2b\",\"journal_seq\":7,\"account\":\"carol\",\"via\":\"helpdesk\",\"accepted\":true,\"rule\":\"aal2\",\"agent\":{\"iss\":\"https://idp.example.com\",\"sub\":\"agent7\",\"aal\":2,\"refusal\":\"none\"},\"lost_removed\":[{\"method\":\"totp\",\"label\":\"\"},{\"method\":\"sms_otp\",\"label\":\"\"}],\"rebind\":true,\"obligation\":\"notify\"}\n"
		/* 13 */ "{\"seq\":13," PREV ",\"time\":\"2026-11-28T10:02:00Z\",\"type\":\"enroll_remove\",\"store\":\"5c0e1f9a2b\",\"journal_seq\":8,\"account\":\"dave\",\"method\":\"password\",\"label\":\"\",\"remaining\":0}\n"
		/* 14 */ "{\"seq\":14," PREV ",\"time\":\"2026-11-28T10:02:00Z\",\"type\":\"recovery\",\"store\":\"5c0e1f9a2b\",\"journal_seq\":9,\"account\":\"dave\",\"via\":\"cli\",\"accepted\":true}\n"
		/* 15 */ "{\"seq\":15," PREV ",\"time\":\"2026-11-28T10:02:00Z\",\"type\":\"recovery\",\"store\":\"5c0e1f9a2b\",\"journal_seq\":9,\"account\":\"dave\",\"via\":\"cli\",\"accepted\":true}\n"
		/* 16 */ "{\"seq\":16," PREV ",\"time\":\"2026-11-28T10:02:00Z\",\"type\":\"helpdesk_reset_refused\",\"store\":\"5c0e1f9a2b\",\"journal_seq\":10,\"account\":\"erin\",\"accepted\":false,\"agent\":{\"sub\":\"agent9\"},\"refusals\":[\"kba\"]}\n"
		/* 17 */ "{\"seq\":17," PREV ",\"time\":\"2026-11-28T10:02:00Z\",\"type\":\"recovery_code_spent\",\"store\":\"5c0e1f9a2b\",\"journal_seq\":11,\"account\":\"erin\",\"code_id\":\"c1\"}\n"
		/* 18 */ "{\"seq\":18," PREV ",\"time\":\"2026-11-28T10:02:00Z\",\"type\":\"enroll_remove\",\"store\":\"5c0e1f9a2b\",\"journal_seq\":12,\"account\":\"frank\",\"method\":\"push\",\"label\":\"\",\"remaining\":1}\n";
	struct ag_event_stats st = read_both(AG_SRC_AALGATE, text, &g);

	assert_int_equal(st.records[AG_SRC_AALGATE], 18);
	assert_int_equal(st.events[AG_SRC_AALGATE], 11);
	assert_int_equal(st.ignored, 7);
	assert_int_equal(st.skipped, 0);
	assert_int_equal(g.n, 11);

	struct ag_event *e = &g.v[0];
	assert_int_equal(e->kind, AG_EV_ACCESS);
	assert_int_equal(e->line, 1);
	assert_int_equal(e->time_ms, 1795860000123LL);
	assert_string_equal(e->subject, "alice");
	assert_string_equal(e->workflow, "admin");
	assert_string_equal(e->ip, "10.20.1.5");
	assert_string_equal(e->action, "decision");
	assert_int_equal(e->result, AG_RES_SUCCESS);
	assert_int_equal(e->posture, AG_POSTURE_MANAGED);
	assert_assurance(e, 3, true, true);

	e = &g.v[1];
	assert_int_equal(e->line, 2);
	assert_int_equal(e->result, AG_RES_FAILURE);
	assert_int_equal(e->posture, AG_POSTURE_UNKNOWN);
	assert_null(e->ip);
	assert_assurance(e, 1, false, false);

	e = &g.v[2]; /* pam */
	assert_int_equal(e->line, 5);
	assert_int_equal(e->kind, AG_EV_ACCESS);
	assert_string_equal(e->subject, "bob");
	assert_string_equal(e->workflow, "admin");
	assert_int_equal(e->result, AG_RES_FAILURE);
	assert_true(e->interactive);
	assert_null(e->ip);
	assert_false(e->assurance_known);

	e = &g.v[3];
	assert_int_equal(e->line, 6);
	assert_int_equal(e->kind, AG_EV_BREAK_GLASS);
	assert_string_equal(e->subject, "root-admin");
	assert_string_equal(e->workflow, "admin");
	assert_string_equal(e->action, "grant_activate");
	assert_int_equal(e->time_ms, 1795860060000LL);
	e = &g.v[4];
	assert_int_equal(e->line, 8);
	assert_int_equal(e->kind, AG_EV_BREAK_GLASS);
	assert_string_equal(e->action, "break_glass_use");

	e = &g.v[5];
	assert_int_equal(e->line, 9);
	assert_int_equal(e->kind, AG_EV_ENROLL);
	assert_string_equal(e->subject, "carol");
	assert_methods(pol, e, LIST("security_key_uv"));
	assert_assurance(e, 2, true, false);

	/* the two removals were the help-desk reset's */
	e = &g.v[6];
	assert_int_equal(e->line, 12);
	assert_int_equal(e->kind, AG_EV_HELPDESK_RESET);
	assert_string_equal(e->subject, "carol");
	assert_string_equal(e->actor, "agent7");
	assert_int_equal(e->result, AG_RES_SUCCESS);
	assert_methods(pol, e, LIST("totp", "sms_otp"));

	e = &g.v[7];
	assert_int_equal(e->line, 13);
	assert_int_equal(e->kind, AG_EV_FACTOR_RESET);
	assert_string_equal(e->subject, "dave");
	assert_string_equal(e->action, "enroll_remove");
	assert_methods(pol, e, LIST("password"));
	assert_int_equal(e->time_ms, 1795860120000LL);
	e = &g.v[8];
	assert_int_equal(e->line, 14);
	assert_int_equal(e->kind, AG_EV_RECOVERY);
	assert_int_equal(e->result, AG_RES_SUCCESS);

	e = &g.v[9];
	assert_int_equal(e->line, 16);
	assert_int_equal(e->kind, AG_EV_HELPDESK_RESET);
	assert_string_equal(e->subject, "erin");
	assert_string_equal(e->actor, "agent9");
	assert_int_equal(e->result, AG_RES_FAILURE);

	/* held to the end of the input, then delivered */
	e = &g.v[10];
	assert_int_equal(e->line, 18);
	assert_int_equal(e->kind, AG_EV_FACTOR_RESET);
	assert_string_equal(e->subject, "frank");
	assert_methods(pol, e, LIST("push"));
	got_free(&g);
}

static void test_aalgate_issuers(void **state)
{
	struct got g = {0};
	(void)state;
	struct ag_policy *p = policy_ok(
		"issuers:\n"
		"  - { iss: \"https://a.example\", audiences: [x], jwks_file: a.json }\n"
		"  - { iss: \"https://b.example\", audiences: [x], jwks_file: b.json }\n"
		"workflows:\n"
		"  staff: { aal: 2 }\n");
	struct ag_event_reader *r = read_text(
		p, AG_SRC_AUTO,
		"{\"seq\":1," PREV ",\"time\":\"2026-11-28T10:00:00Z\",\"type\":\"decision\",\"outcome\":\"allow\",\"workflow\":\"staff\",\"subject\":\"alice\",\"iss\":\"https://a.example\",\"observed\":{\"aal\":2}}\n"
		"{\"seq\":2," PREV ",\"time\":\"2026-11-28T10:00:00Z\",\"type\":\"helpdesk_reset\",\"store\":\"s\",\"journal_seq\":1,\"account\":\"https://b.example bob\",\"accepted\":true,\"agent\":{\"iss\":\"https://a.example\",\"sub\":\"agent7\"}}\n",
		&g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.v[0].subject, "https://a.example alice");
	assert_string_equal(g.v[1].subject, "https://b.example bob");
	assert_string_equal(g.v[1].actor, "https://a.example agent7");
	ag_event_reader_free(r);
	ag_policy_free(p);
	got_free(&g);
}

/* ---- Okta ---- */

#define OKTA(type, actor, extra)                                            \
	"{\"uuid\":\"u\",\"published\":\"2025-04-01T12:00:00Z\","           \
	"\"eventType\":\"" type "\",\"version\":\"0\",\"severity\":\"INFO\"," \
	"\"actor\":" actor ",\"client\":{\"ipAddress\":\"192.0.2.33\","      \
	"\"userAgent\":{\"rawUserAgent\":\"UA/1\"}}" extra "}\n"
#define DAVE "{\"id\":\"00u1\",\"type\":\"User\",\"alternateId\":\"dave@example.org\"}"
#define ADMIN "{\"id\":\"00u9\",\"type\":\"User\",\"alternateId\":\"admin@example.org\"}"
#define TARGET_DAVE ",\"target\":[{\"id\":\"00f1\",\"type\":\"Factor\"},{\"id\":\"00u1\",\"type\":\"User\",\"alternateId\":\"dave@example.org\"}]"
#define OK ",\"outcome\":{\"result\":\"SUCCESS\"}"

static void test_okta(void **state)
{
	struct got g = {0};
	(void)state;
	static const char text[] =
		/* 1 */ OKTA("user.session.start", DAVE, OK ",\"authenticationContext\":{\"credentialType\":\"PASSWORD\"},\"device\":{\"id\":\"guo1\",\"managed\":true,\"registered\":true}")
		/* 2 */ OKTA("user.authentication.auth_via_mfa", DAVE, OK ",\"debugContext\":{\"debugData\":{\"factor\":\"push\"}}")
		/* 3 */ OKTA("user.authentication.sso", DAVE, ",\"outcome\":{\"result\":\"FAILURE\",\"reason\":\"x\"}")
		/* 4 */ OKTA("user.mfa.factor.deactivate", DAVE, OK TARGET_DAVE ",\"debugContext\":{\"debugData\":{\"factor\":\"token:software:totp\"}}")
		/* 5 */ OKTA("user.mfa.factor.deactivate", ADMIN, OK TARGET_DAVE ",\"debugContext\":{\"debugData\":{\"factor\":\"sms\"}}")
		/* 6 */ OKTA("user.account.reset_password", DAVE, OK)
		/* 7 */ OKTA("user.account.reset_password", ADMIN, OK TARGET_DAVE)
		/* 8 */ OKTA("user.account.update_password", DAVE, OK TARGET_DAVE)
		/* 9 */ OKTA("user.mfa.factor.activate", DAVE, OK TARGET_DAVE ",\"debugContext\":{\"debugData\":{\"factor\":\"fido_webauthn\"}}")
		/* 10 */ OKTA("user.authentication.auth_via_richclient", DAVE, OK ",\"authenticationContext\":{\"credentialType\":\"PASSWORD\"}")
		/* 11 */ OKTA("policy.evaluate_sign_on", DAVE, OK)
		/* 12 */ OKTA("user.session.start", DAVE, ",\"outcome\":{\"result\":\"DENY\"},\"device\":{\"id\":\"guo2\",\"managed\":false,\"registered\":true}")
		/* 13 */ "{\"uuid\":\"u\",\"eventType\":\"user.session.start\",\"actor\":" DAVE "}\n"
		/* 14 */ OKTA("system.api_token.create", ADMIN, OK)
		/* 15 */ OKTA("user.mfa.factor.reset_all", ADMIN, OK TARGET_DAVE)
		/* 16 */ OKTA("user.authentication.auth_via_IDP", DAVE, OK ",\"authenticationContext\":{\"credentialType\":\"ASSERTION\"}");
	struct ag_event_stats st = read_both(AG_SRC_OKTA, text, &g);

	assert_int_equal(st.records[AG_SRC_OKTA], 16);
	assert_int_equal(st.events[AG_SRC_OKTA], 13);
	assert_int_equal(st.ignored, 2);
	assert_int_equal(st.skipped, 1);
	assert_int_equal(st.first_skips[0].line, 13);
	assert_string_equal(st.first_skips[0].why, "no \"published\" time");
	assert_int_equal(g.n, 13);

	struct ag_event *e = &g.v[0];
	assert_int_equal(e->kind, AG_EV_LOGIN);
	assert_int_equal(e->time_ms, 1743508800000LL);
	assert_string_equal(e->subject, "dave@example.org");
	assert_null(e->actor);
	assert_string_equal(e->ip, "192.0.2.33");
	assert_string_equal(e->device_id, "guo1");
	assert_int_equal(e->posture, AG_POSTURE_MANAGED);
	assert_true(e->interactive);
	assert_int_equal(e->result, AG_RES_SUCCESS);
	assert_string_equal(e->action, "user.session.start");
	assert_methods(pol, e, LIST("password"));
	assert_assurance(e, 1, false, false);

	e = &g.v[1];
	assert_int_equal(e->kind, AG_EV_LOGIN);
	assert_methods(pol, e, LIST("push"));
	assert_string_equal(e->device_id, "UA/1");
	assert_int_equal(e->posture, AG_POSTURE_UNKNOWN);

	e = &g.v[2];
	assert_int_equal(e->kind, AG_EV_ACCESS);
	assert_int_equal(e->result, AG_RES_FAILURE);
	assert_false(e->assurance_known);

	e = &g.v[3];
	assert_int_equal(e->kind, AG_EV_FACTOR_RESET);
	assert_string_equal(e->subject, "dave@example.org");
	assert_null(e->actor);
	assert_methods(pol, e, LIST("totp"));
	assert_false(e->assurance_known);

	e = &g.v[4];
	assert_int_equal(e->kind, AG_EV_HELPDESK_RESET);
	assert_string_equal(e->subject, "dave@example.org");
	assert_string_equal(e->actor, "admin@example.org");
	assert_methods(pol, e, LIST("sms_otp"));

	e = &g.v[5];
	assert_int_equal(e->kind, AG_EV_RECOVERY);
	assert_string_equal(e->subject, "dave@example.org");
	assert_null(e->actor);
	e = &g.v[6];
	assert_int_equal(e->kind, AG_EV_HELPDESK_RESET);
	assert_string_equal(e->actor, "admin@example.org");
	e = &g.v[7];
	assert_int_equal(e->kind, AG_EV_ENROLL);
	assert_methods(pol, e, LIST("password"));
	e = &g.v[8];
	assert_int_equal(e->kind, AG_EV_ENROLL);
	assert_methods(pol, e, LIST("software_key"));
	assert_int_equal(e->line, 9);

	e = &g.v[9];
	assert_int_equal(e->kind, AG_EV_LOGIN);
	assert_string_equal(e->protocol, "basic");
	assert_false(e->interactive);
	assert_methods(pol, e, LIST("password"));

	e = &g.v[10];
	assert_int_equal(e->line, 12);
	assert_int_equal(e->result, AG_RES_FAILURE);
	assert_int_equal(e->posture, AG_POSTURE_KNOWN);
	assert_string_equal(e->device_id, "guo2");

	e = &g.v[11];
	assert_int_equal(e->line, 15);
	assert_int_equal(e->kind, AG_EV_HELPDESK_RESET);
	assert_string_equal(e->action, "user.mfa.factor.reset_all");
	assert_int_equal(e->n_methods, 0);

	e = &g.v[12];
	assert_int_equal(e->kind, AG_EV_LOGIN);
	assert_false(e->assurance_known);
	assert_int_equal(e->n_methods, 0);
	got_free(&g);
}

/* ---- CloudTrail ---- */

#define CT(name, who, extra)                                                \
	"{\"eventVersion\":\"1.09\",\"userIdentity\":" who ","               \
	"\"eventTime\":\"2025-02-03T08:15:00Z\",\"eventSource\":\"x\","     \
	"\"eventName\":\"" name "\",\"awsRegion\":\"eu-west-1\"," extra "}\n"
#define IAM(user, key)                                                      \
	"{\"type\":\"IAMUser\",\"principalId\":\"AIDA1\",\"arn\":"           \
	"\"arn:aws:iam::444455556666:user/" user "\",\"accountId\":"         \
	"\"444455556666\",\"userName\":\"" user "\"" key "}"
#define ROLE_ARN "arn:aws:sts::444455556666:assumed-role/Admin/alice@example.org"
#define ROLE(key)                                                           \
	"{\"type\":\"AssumedRole\",\"principalId\":\"AROA1:alice\",\"arn\":" \
	"\"" ROLE_ARN "\",\"accountId\":\"444455556666\"" key "}"
#define LOGIN_OK(mfa) "\"sourceIPAddress\":\"198.51.100.7\",\"userAgent\":\"Mozilla/5.0\",\"responseElements\":{\"ConsoleLogin\":\"Success\"},\"additionalEventData\":{" mfa "}"

static void test_cloudtrail(void **state)
{
	struct got g = {0};
	(void)state;
	static const char text[] =
		/* 1 */ CT("ConsoleLogin", IAM("carol", ""), LOGIN_OK("\"MFAUsed\":\"Yes\",\"MFAIdentifier\":\"arn:aws:iam::444455556666:mfa/carol\""))
		/* 2 */ CT("ConsoleLogin", IAM("carol", ""), "\"sourceIPAddress\":\"198.51.100.7\",\"errorMessage\":\"Failed authentication\",\"responseElements\":{\"ConsoleLogin\":\"Failure\"},\"additionalEventData\":{\"MFAUsed\":\"No\"}")
		/* 3 */ CT("ConsoleLogin", "{\"type\":\"Root\",\"principalId\":\"444455556666\",\"arn\":\"arn:aws:iam::444455556666:root\",\"accountId\":\"444455556666\"}", LOGIN_OK("\"MFAUsed\":\"Yes\",\"MFAIdentifier\":\"arn:aws:iam::444455556666:u2f/root-account-mfa-device/key-1\""))
		/* 4 */ CT("ConsoleLogin", ROLE(""), LOGIN_OK("\"MFAUsed\":\"No\""))
		/* 5 */ CT("AssumeRole", IAM("ci", ",\"accessKeyId\":\"AKIAEXAMPLE00000001\""), "\"sourceIPAddress\":\"203.0.113.40\",\"requestParameters\":{\"roleArn\":\"arn:aws:iam::444455556666:role/deploy\"}")
		/* 6 */ CT("GetObject", ROLE(",\"accessKeyId\":\"ASIAEXAMPLE00000002\""), "\"sourceIPAddress\":\"AWS Internal\"")
		/* 7 */ CT("AssumeRoleWithWebIdentity", "{\"type\":\"WebIdentityUser\",\"principalId\":\"token.actions.githubusercontent.com:sts.amazonaws.com:repo:acme/app:ref:refs/heads/main\",\"userName\":\"repo:acme/app:ref:refs/heads/main\",\"identityProvider\":\"token.actions.githubusercontent.com\"}", "\"sourceIPAddress\":\"192.0.2.200\"")
		/* 8 */ CT("Decrypt", "{\"type\":\"AWSService\",\"invokedBy\":\"ec2.amazonaws.com\"}", "\"sourceIPAddress\":\"ec2.amazonaws.com\"")
		/* 9 */ CT("PutObject", IAM("ci", ",\"accessKeyId\":\"AKIAEXAMPLE00000001\""), "\"errorCode\":\"AccessDenied\",\"errorMessage\":\"Access Denied\",\"sourceIPAddress\":\"2001:db8::7\"")
		/* 10 */ CT("ListBuckets", "{\"type\":\"IAMUser\",\"arn\":\"arn:aws:iam::123456789012:user/dev/zed\",\"accessKeyId\":\"AKIAEXAMPLE00000003\"}", "\"sourceIPAddress\":\"10.0.0.1\"")
		/* 11 */ "{\"eventName\":\"ConsoleLogin\",\"eventSource\":\"signin.amazonaws.com\",\"userIdentity\":" IAM("carol", "") "}\n"
		/* 12 */ CT("DescribeInstances", ROLE(""), "\"sourceIPAddress\":\"10.0.0.1\"");
	struct ag_event_stats st = read_both(AG_SRC_CLOUDTRAIL, text, &g);

	assert_int_equal(st.records[AG_SRC_CLOUDTRAIL], 12);
	assert_int_equal(st.events[AG_SRC_CLOUDTRAIL], 9);
	assert_int_equal(st.ignored, 2);
	assert_int_equal(st.skipped, 1);
	assert_int_equal(st.first_skips[0].line, 11);
	assert_string_equal(st.first_skips[0].why, "no \"eventTime\"");
	assert_int_equal(g.n, 9);

	struct ag_event *e = &g.v[0];
	assert_int_equal(e->kind, AG_EV_LOGIN);
	assert_int_equal(e->time_ms, 1738570500000LL);
	assert_string_equal(e->subject, "aws:444455556666:carol");
	assert_string_equal(e->ip, "198.51.100.7");
	assert_string_equal(e->device_id, "Mozilla/5.0");
	assert_string_equal(e->action, "ConsoleLogin");
	assert_int_equal(e->result, AG_RES_SUCCESS);
	assert_true(e->interactive);
	assert_methods(pol, e, LIST("password", "totp"));
	assert_assurance(e, 2, false, false);

	e = &g.v[1];
	assert_int_equal(e->result, AG_RES_FAILURE);
	assert_methods(pol, e, LIST("password"));
	assert_assurance(e, 1, false, false);

	e = &g.v[2];
	assert_string_equal(e->subject, "aws:444455556666:<root_account>");
	assert_methods(pol, e, LIST("password", "software_key"));
	assert_assurance(e, 2, true, false);

	/* federated: authenticated elsewhere, MFAUsed says nothing */
	e = &g.v[3];
	assert_string_equal(e->subject, ROLE_ARN);
	assert_false(e->assurance_known);
	assert_int_equal(e->n_methods, 0);

	e = &g.v[4];
	assert_int_equal(e->kind, AG_EV_TOKEN_USE);
	assert_string_equal(e->subject, "aws:444455556666:ci");
	assert_string_equal(e->credential, "AKIAEXAMPLE00000001");
	assert_string_equal(e->action, "AssumeRole");
	assert_int_equal(e->result, AG_RES_SUCCESS);
	assert_false(e->interactive);

	e = &g.v[5];
	assert_int_equal(e->kind, AG_EV_TOKEN_USE);
	assert_string_equal(e->subject, ROLE_ARN);
	/* A temporary key is no inventory's credential. */
	assert_null(e->credential);
	assert_null(e->ip);

	e = &g.v[6];
	assert_int_equal(e->kind, AG_EV_TOKEN_USE);
	assert_string_equal(e->subject, "token.actions.githubusercontent.com:"
					"sts.amazonaws.com:repo:acme/app:ref:"
					"refs/heads/main");
	assert_null(e->credential);
	assert_string_equal(e->ip, "192.0.2.200");

	e = &g.v[7];
	assert_int_equal(e->line, 9);
	assert_int_equal(e->result, AG_RES_FAILURE);
	assert_string_equal(e->ip, "2001:db8::7");

	e = &g.v[8];
	assert_string_equal(e->subject, "aws:123456789012:zed");
	assert_string_equal(e->credential, "AKIAEXAMPLE00000003");
	got_free(&g);
}

/* ---- Keycloak ---- */

#define KC(type, rest)                                                      \
	"{\"time\":1735689600000,\"type\":\"" type "\",\"realmId\":\"acme\"," \
	"\"clientId\":\"portal\",\"ipAddress\":\"198.51.100.20\"" rest "}\n"
#define UID ",\"userId\":\"u-1\""
#define KADMIN(op, path, rest)                                              \
	"{\"time\":1735689600000,\"realmId\":\"acme\",\"authDetails\":"     \
	"{\"realmId\":\"master\",\"clientId\":\"security-admin-console\","  \
	"\"userId\":\"admin-1\",\"ipAddress\":\"10.0.0.5\"},"               \
	"\"operationType\":\"" op "\",\"resourceType\":\"USER\","           \
	"\"resourcePath\":\"" path "\"" rest "}\n"

static void test_keycloak(void **state)
{
	struct got g = {0};
	(void)state;
	static const char text[] =
		/* 1 */ KC("LOGIN", UID ",\"sessionId\":\"s\",\"details\":{\"auth_method\":\"openid-connect\",\"auth_type\":\"code\",\"username\":\"erin\"}")
		/* 2 */ KC("LOGIN_ERROR", ",\"error\":\"invalid_user_credentials\",\"details\":{\"username\":\"mallory\"}")
		/* 3 */ KC("LOGIN", UID ",\"details\":{\"grant_type\":\"password\",\"username\":\"erin\"}")
		/* 4 */ "{\"time\":1735689600000,\"type\":\"CLIENT_LOGIN\",\"realmId\":\"acme\",\"clientId\":\"svc-etl\",\"userId\":\"sa-1\",\"ipAddress\":\"10.1.1.1\",\"details\":{\"grant_type\":\"client_credentials\",\"client_auth_method\":\"client-jwt\",\"username\":\"service-account-svc-etl\"}}\n"
		/* 5 */ KC("CODE_TO_TOKEN", UID ",\"details\":{\"grant_type\":\"authorization_code\",\"client_auth_method\":\"client-secret\"}")
		/* 6 */ KC("REFRESH_TOKEN_ERROR", UID ",\"error\":\"invalid_token\"")
		/* 7 */ KC("UPDATE_TOTP", UID)
		/* 8 */ KC("REMOVE_TOTP", UID)
		/* 9 */ KC("UPDATE_CREDENTIAL", UID ",\"details\":{\"credential_type\":\"webauthn-passwordless\"}")
		/* 10 */ KC("REMOVE_CREDENTIAL", UID ",\"details\":{\"credential_type\":\"otp\"}")
		/* 11 */ KC("RESET_PASSWORD", UID ",\"details\":{\"username\":\"erin\"}")
		/* 12 */ KC("UPDATE_PASSWORD", UID)
		/* 13 */ KADMIN("ACTION", "users/u-1/credentials/c-9", "")
		/* 14 */ KADMIN("DELETE", "users/u-1", "")
		/* 15 */ KADMIN("ACTION", "users/u-1/credentials/c-9/moveToFirst", "")
		/* 16 */ KC("LOGOUT", UID)
		/* 17 */ "{\"time\":\"yesterday\",\"type\":\"LOGIN\",\"realmId\":\"acme\",\"userId\":\"u-1\"}\n"
		/* 18 */ KADMIN("ACTION", "users/u-2/reset-password", ",\"error\":\"invalidPasswordMinLengthMessage\"")
		/* 19 */ KC("REMOVE_CREDENTIAL_ERROR", UID ",\"error\":\"x\",\"details\":{\"credential_type\":\"webauthn\"}");
	struct ag_event_stats st = read_both(AG_SRC_KEYCLOAK, text, &g);

	assert_int_equal(st.records[AG_SRC_KEYCLOAK], 19);
	assert_int_equal(st.events[AG_SRC_KEYCLOAK], 15);
	assert_int_equal(st.ignored, 3);
	assert_int_equal(st.skipped, 1);
	assert_int_equal(st.first_skips[0].line, 17);
	assert_string_equal(st.first_skips[0].why,
			    "no \"time\" in epoch milliseconds");
	assert_int_equal(g.n, 15);

	struct ag_event *e = &g.v[0];
	assert_int_equal(e->kind, AG_EV_LOGIN);
	assert_int_equal(e->time_ms, 1735689600000LL);
	assert_string_equal(e->subject, "u-1");
	assert_string_equal(e->ip, "198.51.100.20");
	assert_string_equal(e->action, "LOGIN");
	assert_int_equal(e->result, AG_RES_SUCCESS);
	assert_true(e->interactive);
	assert_null(e->protocol);
	assert_false(e->assurance_known);

	e = &g.v[1];
	assert_string_equal(e->subject, "mallory");
	assert_int_equal(e->result, AG_RES_FAILURE);
	assert_string_equal(e->action, "LOGIN_ERROR");

	e = &g.v[2];
	assert_string_equal(e->protocol, "ropc");
	assert_false(e->interactive);

	e = &g.v[3];
	assert_int_equal(e->kind, AG_EV_TOKEN_USE);
	assert_string_equal(e->subject, "svc-etl");
	assert_string_equal(e->credential, "svc-etl");
	assert_string_equal(e->ip, "10.1.1.1");
	assert_methods(pol, e, LIST("workload_identity"));
	assert_assurance(e, 1, true, false);

	e = &g.v[4];
	assert_int_equal(e->kind, AG_EV_TOKEN_USE);
	assert_string_equal(e->subject, "u-1");
	assert_null(e->credential);
	e = &g.v[5];
	assert_int_equal(e->kind, AG_EV_TOKEN_USE);
	assert_int_equal(e->result, AG_RES_FAILURE);

	e = &g.v[6];
	assert_int_equal(e->kind, AG_EV_ENROLL);
	assert_methods(pol, e, LIST("totp"));
	e = &g.v[7];
	assert_int_equal(e->kind, AG_EV_FACTOR_RESET);
	assert_methods(pol, e, LIST("totp"));
	e = &g.v[8];
	assert_int_equal(e->kind, AG_EV_ENROLL);
	assert_methods(pol, e, LIST("passkey_synced"));
	e = &g.v[9];
	assert_int_equal(e->kind, AG_EV_FACTOR_RESET);
	assert_methods(pol, e, LIST("totp"));
	e = &g.v[10];
	assert_int_equal(e->kind, AG_EV_RECOVERY);
	e = &g.v[11];
	assert_int_equal(e->kind, AG_EV_ENROLL);
	assert_methods(pol, e, LIST("password"));

	e = &g.v[12];
	assert_int_equal(e->line, 13);
	assert_int_equal(e->kind, AG_EV_HELPDESK_RESET);
	assert_string_equal(e->subject, "u-1");
	assert_string_equal(e->actor, "admin-1");
	assert_string_equal(e->ip, "10.0.0.5");
	assert_string_equal(e->action, "users/u-1/credentials/c-9");
	assert_int_equal(e->result, AG_RES_SUCCESS);

	e = &g.v[13];
	assert_int_equal(e->line, 18);
	assert_int_equal(e->kind, AG_EV_HELPDESK_RESET);
	assert_string_equal(e->subject, "u-2");
	assert_int_equal(e->result, AG_RES_FAILURE);
	assert_methods(pol, e, LIST("password"));

	e = &g.v[14];
	assert_int_equal(e->kind, AG_EV_FACTOR_RESET);
	assert_int_equal(e->result, AG_RES_FAILURE);
	assert_methods(pol, e, LIST("software_key"));
	got_free(&g);
}

/* ---- auth.log ---- */

static void test_authlog(void **state)
{
	struct got g = {0};
	(void)state;
	static const char text[] =
		/* 1 */ "Mar  1 10:00:00 bastion sshd[70]: Accepted password for ann from 192.0.2.10 port 50001 ssh2\n"
		/* 2 */ "Mar  1 10:00:01 bastion sshd[71]: Accepted publickey for ann from 192.0.2.10 port 50002 ssh2: ED25519-SK SHA256:abc\n"
		/* 3 */ "Mar  1 10:00:02 bastion sshd[72]: Accepted publickey for ann from 192.0.2.10 port 50003 ssh2: RSA SHA256:def\n"
		/* 4 */ "Mar  1 10:00:03 bastion sshd[73]: Accepted keyboard-interactive/pam for ann from 192.0.2.10 port 50004 ssh2\n"
		/* 5 */ "Mar  1 10:00:04 bastion sshd[77]: Partial publickey for bea from 192.0.2.11 port 50005 ssh2: ECDSA SHA256:ghi\n"
		/* 6 */ "Mar  1 10:00:05 bastion sshd[77]: Accepted password for bea from 192.0.2.11 port 50005 ssh2\n"
		/* 7 */ "Mar  1 10:00:06 bastion sshd[78]: Partial publickey for cid from 192.0.2.12 port 50006 ssh2: ECDSA SHA256:jkl\n"
		/* 8 */ "Mar  1 10:00:07 bastion sshd[78]: Accepted keyboard-interactive/pam for cid from 192.0.2.12 port 50006 ssh2\n"
		/* 9 */ "Mar  1 10:00:08 bastion sshd[79]: Failed password for invalid user oracle from 203.0.113.5 port 40001 ssh2\n"
		/* 10 */ "Mar  1 10:00:09 bastion sshd[79]: Invalid user test from 203.0.113.5 port 40002\n"
		/* 11 */ "Mar  1 10:00:10 bastion sshd[80]: Failed password for invalid user a from 9.9.9.9 port 1 from 198.51.100.1 port 2222 ssh2\n"
		/* 12 */ "Mar  1 10:00:11 bastion sudo:     ann : TTY=pts/0 ; PWD=/home/ann ; USER=root ; COMMAND=/usr/bin/id\n"
		/* 13 */ "Mar  1 10:00:12 bastion sudo:      bob : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/sh\n"
		/* 14 */ "Mar  1 10:00:13 bastion sudo: pam_unix(sudo:session): session opened for user root(uid=0) by ann(uid=1000)\n"
		/* 15 */ "Mar  1 10:00:14 bastion sshd[81]: Connection closed by 203.0.113.5 port 40003 [preauth]\n"
		/* 16 */ "Mar  1 10:00:15 bastion CRON[99]: pam_unix(cron:session): session opened for user root\n"
		/* 17 */ "<38>Mar  1 10:00:16 bastion sshd[82]: Accepted password for dan from 192.0.2.13 port 50007 ssh2\n"
		/* 18 */ "2024-03-01T10:00:00+02:00 bastion sshd-session[83]: Accepted password for eve from 2001:db8::13 port 50008 ssh2\n"
		/* 19 */ "Mar  1 10:00:18 bastion kernel: [12345.678] usb 1-1: new device\n"
		/* 20 */ "Mar  1 10:00:19 bastion sshd[84]: Postponed publickey for fay from 192.0.2.14 port 50009 ssh2 [preauth]\n";
	struct ag_event_stats st = read_both(AG_SRC_AUTHLOG, text, &g);

	assert_int_equal(st.records[AG_SRC_AUTHLOG], 20);
	assert_int_equal(st.events[AG_SRC_AUTHLOG], 13);
	assert_int_equal(st.ignored, 7);
	assert_int_equal(st.skipped, 0);
	assert_int_equal(g.n, 13);

	struct ag_event *e = &g.v[0];
	assert_int_equal(e->kind, AG_EV_LOGIN);
	/* 2024-03-01T10:00:00, the default year, taken as UTC */
	assert_int_equal(e->time_ms, 1709287200000LL);
	assert_string_equal(e->subject, "ann");
	assert_string_equal(e->ip, "192.0.2.10");
	assert_string_equal(e->protocol, "ssh");
	assert_string_equal(e->action, "sshd accepted");
	assert_true(e->interactive);
	assert_int_equal(e->result, AG_RES_SUCCESS);
	assert_methods(pol, e, LIST("password"));
	assert_assurance(e, 1, false, false);

	assert_methods(pol, &g.v[1], LIST("security_key"));
	assert_assurance(&g.v[1], 1, true, true);
	assert_methods(pol, &g.v[2], LIST("software_key"));
	assert_assurance(&g.v[2], 1, true, false);
	assert_int_equal(g.v[3].n_methods, 0);
	assert_false(g.v[3].assurance_known);

	/* a key, then a password: both steps of one sign-in */
	e = &g.v[4];
	assert_int_equal(e->line, 6);
	assert_string_equal(e->subject, "bea");
	assert_methods(pol, e, LIST("software_key", "password"));
	assert_assurance(e, 2, true, false);
	e = &g.v[5];
	assert_int_equal(e->line, 8);
	assert_methods(pol, e, LIST("software_key"));
	assert_false(e->assurance_known);

	e = &g.v[6];
	assert_int_equal(e->line, 9);
	assert_string_equal(e->subject, "oracle");
	assert_int_equal(e->result, AG_RES_FAILURE);
	assert_string_equal(e->action, "sshd failed");
	e = &g.v[7];
	assert_int_equal(e->line, 10);
	assert_string_equal(e->subject, "test");
	assert_string_equal(e->ip, "203.0.113.5");
	assert_int_equal(e->result, AG_RES_FAILURE);
	assert_int_equal(e->n_methods, 0);
	/* the address sshd wrote, not one in the user name */
	e = &g.v[8];
	assert_string_equal(e->subject, "a from 9.9.9.9 port 1");
	assert_string_equal(e->ip, "198.51.100.1");

	e = &g.v[9];
	assert_int_equal(e->kind, AG_EV_ACCESS);
	assert_string_equal(e->subject, "ann");
	assert_int_equal(e->result, AG_RES_SUCCESS);
	assert_null(e->workflow);
	assert_true(e->interactive);
	assert_string_equal(e->action, "sudo");
	e = &g.v[10];
	assert_string_equal(e->subject, "bob");
	assert_int_equal(e->result, AG_RES_FAILURE);

	e = &g.v[11];
	assert_int_equal(e->line, 17);
	assert_string_equal(e->subject, "dan");
	e = &g.v[12];
	assert_int_equal(e->line, 18);
	assert_string_equal(e->subject, "eve");
	assert_string_equal(e->ip, "2001:db8::13");
	assert_int_equal(e->time_ms, 1709280000000LL);
	got_free(&g);
}

/* RFC 5424 lines, as rsyslog's RSYSLOG_SyslogProtocol23Format and
 * syslog-ng's syslog() destination write them. */
static void test_authlog_rfc5424(void **state)
{
	struct got g = {0};
	(void)state;
	static const char text[] =
		/* 1 */ "<38>1 2026-11-29T08:00:00.123456+01:00 bastion sshd 4242 - - Accepted password for ann from 192.0.2.10 port 50001 ssh2\n"
		/* 2 */ "<38>1 2026-11-29T08:00:01Z bastion sshd 4243 - [origin ip=\"192.0.2.1\" x=\"a\\]b \\\"c\"] Partial publickey for bea from 192.0.2.11 port 50005 ssh2: ECDSA SHA256:x\n"
		/* 3 */ "<38>1 2026-11-29T08:00:02Z bastion sshd 4243 - [origin ip=\"192.0.2.1\"][meta sequenceId=\"7\"] \xEF\xBB\xBF" "Accepted password for bea from 192.0.2.11 port 50005 ssh2\n"
		/* 4 */ "<86>1 2026-11-29T08:00:03Z bastion sudo - - -     ann : TTY=pts/0 ; PWD=/home/ann ; USER=root ; COMMAND=/usr/bin/id\n"
		/* 5 */ "<38>1 - bastion sshd 1 - - Accepted password for x from 192.0.2.1 port 1 ssh2\n"
		/* 6 */ "<38>2 2026-11-29T08:00:04Z bastion sshd 1 - - Accepted password for x from 192.0.2.1 port 1 ssh2\n"
		/* 7 */ "<38>1 2026-11-29T08:00:05Z bastion sshd 1 - [unterminated x=\"]\"\n"
		/* 8 */ "<38>1 2026-11-29T08:00:06Z bastion sshd\n"
		/* 9 */ "<78>1 2026-11-29T08:00:07Z bastion CRON 5 - - (root) CMD (run-parts /etc/cron.hourly)\n"
		/* 10 */ "<38>1 2026-11-29T08:00:08Z - sshd-session - - - Accepted publickey for cy from 2001:db8::1 port 2 ssh2: ED25519-SK SHA256:abc\n"
		/* 11 */ "<38>1 2026-11-29T08:00:09Z bastion sshd 7 - -x Accepted password for x from 192.0.2.1 port 1 ssh2\n";
	struct ag_event_stats st = read_both(AG_SRC_AUTHLOG, text, &g);

	assert_int_equal(st.records[AG_SRC_AUTHLOG], 6);
	assert_int_equal(st.events[AG_SRC_AUTHLOG], 4);
	assert_int_equal(st.ignored, 2);
	assert_int_equal(st.skipped, 5);
	assert_int_equal(g.n, 4);
	static const struct {
		uint64_t line;
		const char *why;
	} skips[] = {
		{5, "an RFC 5424 line without a time"},
		{6, "RFC 5424 version 2, not 1"},
		{7, "bad RFC 5424 structured data"},
		{8, "an RFC 5424 header cut short"},
		{11, "bad RFC 5424 structured data"},
	};
	for (size_t i = 0; i < AG_ARRAY_SIZE(skips); i++) {
		assert_int_equal(st.first_skips[i].line, skips[i].line);
		assert_non_null(strstr(st.first_skips[i].why, skips[i].why));
	}

	struct ag_event *e = &g.v[0];
	assert_int_equal(e->line, 1);
	assert_int_equal(e->kind, AG_EV_LOGIN);
	/* 2026-11-29T07:00:00.123Z */
	assert_int_equal(e->time_ms, 1795935600123LL);
	assert_string_equal(e->subject, "ann");
	assert_string_equal(e->ip, "192.0.2.10");
	assert_int_equal(e->result, AG_RES_SUCCESS);
	assert_methods(pol, e, LIST("password"));

	/* the Partial line of process 4243, past its structured data,
	 * joins the Accepted line behind two elements and a BOM */
	e = &g.v[1];
	assert_int_equal(e->line, 3);
	assert_string_equal(e->subject, "bea");
	assert_methods(pol, e, LIST("software_key", "password"));
	assert_assurance(e, 2, true, false);

	e = &g.v[2];
	assert_int_equal(e->line, 4);
	assert_int_equal(e->kind, AG_EV_ACCESS);
	assert_string_equal(e->subject, "ann");
	assert_string_equal(e->action, "sudo");

	e = &g.v[3];
	assert_int_equal(e->line, 10);
	assert_string_equal(e->subject, "cy");
	assert_string_equal(e->ip, "2001:db8::1");
	assert_methods(pol, e, LIST("security_key"));
	got_free(&g);
}

/* ---- the hand-written files of tests/data/watch ---- */

static void test_data_files(void **state)
{
	static const struct {
		const char *file;
		enum ag_event_source source;
		uint64_t records, events, ignored, skipped;
	} want[] = {
		{"auth.log", AG_SRC_AUTHLOG, 6, 5, 1, 0},
		{"auth-rfc5424.log", AG_SRC_AUTHLOG, 5, 4, 1, 0},
		{"cloudtrail-records.json", AG_SRC_CLOUDTRAIL, 3, 2, 1, 0},
		{"generic.jsonl", AG_SRC_GENERIC, 3, 2, 0, 1},
		{"keycloak-events.json", AG_SRC_KEYCLOAK, 4, 3, 1, 0},
		{"okta-events.json", AG_SRC_OKTA, 2, 2, 0, 0},
	};
	const char *dir = getenv("AG_TEST_DATA");
	(void)state;

	assert_non_null(dir);
	for (size_t i = 0; i < AG_ARRAY_SIZE(want); i++) {
		char path[4096];
		char *text = NULL;
		size_t len = 0;
		struct ag_error err;
		struct got g = {0};

		snprintf(path, sizeof(path), "%s/watch/%s", dir, want[i].file);
		ag_error_init(&err);
		assert_int_equal(ag_read_file(path, 1 << 20, &text, &len, &err),
				 AG_OK);
		struct ag_event_reader *r = reader_new(pol, AG_SRC_AUTO, 0);
		feed_chunks(r, path, text, len, 3, &g);
		const struct ag_event_stats *st = ag_event_reader_stats(r);
		assert_int_equal(st->records[want[i].source], want[i].records);
		assert_int_equal(st->events[want[i].source], want[i].events);
		assert_int_equal(st->ignored, want[i].ignored);
		assert_int_equal(st->skipped, want[i].skipped);
		if (want[i].source == AG_SRC_OKTA) {
			assert_string_equal(g.v[1].subject, "dave@example.org");
			assert_string_equal(g.v[1].actor, "agent7@example.org");
			assert_int_equal(g.v[1].kind, AG_EV_HELPDESK_RESET);
			assert_int_equal(g.v[1].line, 32);
		}
		if (want[i].source == AG_SRC_KEYCLOAK) {
			assert_int_equal(g.v[2].kind, AG_EV_HELPDESK_RESET);
			assert_string_equal(g.v[2].actor, "admin-0001");
			assert_int_equal(g.v[2].line, 11);
		}
		ag_event_reader_free(r);
		got_free(&g);
		free(text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aalgate),
		cmocka_unit_test(test_aalgate_issuers),
		cmocka_unit_test(test_okta),
		cmocka_unit_test(test_cloudtrail),
		cmocka_unit_test(test_keycloak),
		cmocka_unit_test(test_authlog),
		cmocka_unit_test(test_authlog_rfc5424),
		cmocka_unit_test(test_data_files),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
