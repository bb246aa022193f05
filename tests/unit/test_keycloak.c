/*
 * The Keycloak importer: how flows resolve into paths (Keycloak's
 * REQUIRED / ALTERNATIVE / CONDITIONAL / DISABLED semantics, before and
 * after 8.0), the WebAuthn and client-authenticator rules, accounts and
 * workflows, the mapping file, and every refusal word for word.  The
 * end-to-end cases are in tests/data/keycloak (tests/cli/keycloak.sh).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <unistd.h>

#include "testutil.h"
#include "aalgate/import.h"
#include "audit/estate.h"
#include "util.h"

static const char policy_text[] =
	"workflows:\n"
	"  admin: { aal: 3, phishing_resistant: true }\n"
	"  payroll: { aal: 2, phishing_resistant: true }\n"
	"  staff: { aal: 2 }\n";

/* Imports json (as "realm.json") into a new estate of policy p. */
static ag_code import_text(const struct ag_policy *p, const char *json,
			   const char *mapping, struct ag_estate **out,
			   struct ag_error *err)
{
	struct ag_import_opts opts = {mapping};
	*out = estate_new(p);
	ag_error_init(err);
	return ag_import_keycloak_buffer(*out, "realm.json", json, strlen(json),
					 &opts, err);
}

static struct ag_estate *import_ok(const struct ag_policy *p,
				   const char *json, const char *mapping)
{
	struct ag_estate *e;
	struct ag_error err;
	if (import_text(p, json, mapping, &e, &err) != AG_OK)
		fail_msg("import failed: %s", err.msg);
	return e;
}

/* The import must fail with exactly this code and message. */
static void import_fails_with(const char *policy, const char *json,
			      const char *mapping, ag_code code,
			      const char *msg)
{
	struct ag_policy *p = policy_ok(policy);
	struct ag_estate *e;
	struct ag_error err;
	ag_code rc = import_text(p, json, mapping, &e, &err);
	if (msg)
		assert_string_equal(err.msg, msg);
	assert_int_equal(rc, code);
	ag_estate_free(e);
	ag_policy_free(p);
}

static void import_fails(const char *json, ag_code code, const char *msg)
{
	import_fails_with(policy_text, json, NULL, code, msg);
}

static const struct ag_path *path_of(const struct ag_estate *e,
				     const char *id)
{
	uint32_t i;
	if (!ag_strmap_get(&e->path_ids, id, &i))
		return NULL;
	return &e->paths[i];
}

/* The methods of path id, joined by '+'; "(no path)" when absent. */
static const char *methods_of(const struct ag_estate *e, const char *id)
{
	static char buf[512];
	const struct ag_path *p = path_of(e, id);
	if (!p)
		return "(no path)";
	buf[0] = '\0';
	for (uint32_t i = 0; i < p->n_methods; i++) {
		size_t len = strlen(buf);
		snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? "+" : "",
			 e->policy->catalogue.methods[p->methods[i]].name);
	}
	return buf;
}

static const char *workflow_of(const struct ag_estate *e, const char *id)
{
	uint32_t a = ag_estate_find_account(e, id);
	if (a == AG_NONE)
		return "(no account)";
	int32_t w = e->accounts[a].workflow;
	return w < 0 ? "(none)" : e->policy->workflows[w].name;
}

/* A temporary file holding text; its name is written to path. */
static void temp_file(const char *text, char *path, size_t len)
{
	snprintf(path, len, "/tmp/test_keycloak_XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t n = strlen(text);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
}

/* ---- flows -------------------------------------------------------------- */

/* Keycloak's default flows apply when the export holds none: password
 * alone or with OTP; the reset flow's OTP step resets it (#12759). */
static void test_default_flows(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(policy_text);
	struct ag_estate *e = import_ok(
		p,
		"{\"realm\": \"r\", \"resetPasswordAllowed\": true,"
		" \"users\": [{\"username\": \"u\"}]}",
		NULL);
	assert_string_equal(methods_of(e, "r/browser: auth-username-password-form"),
			    "password");
	assert_string_equal(
		methods_of(e, "r/browser: auth-username-password-form+auth-otp-form"),
		"password+totp");
	assert_string_equal(
		methods_of(e, "r/reset credentials: reset-credentials-choose-user+"
			      "reset-credential-email+reset-password+reset-otp"),
		"email_link");
	assert_int_equal(path_of(e, "r/reset credentials: reset-credentials-"
				    "choose-user+reset-credential-email+"
				    "reset-password")
				 ->lifetime,
			 300);
	/* No direct-grant client, no identity provider: nothing else but
	 * the two renewal paths. */
	assert_int_equal(ag_estate_n_paths(e), 6);
	assert_string_equal(methods_of(e, "r/sso session"), "session_cookie");
	assert_int_equal(path_of(e, "r/sso session")->lifetime, 36000);
	assert_string_equal(methods_of(e, "r/offline session"), "refresh_token");
	assert_int_equal(path_of(e, "r/offline session")->lifetime, -1);
	assert_string_equal(workflow_of(e, "r/u"), "staff");
	ag_estate_free(e);
	ag_policy_free(p);
}

#define FLOW(alias, execs) \
	"{\"alias\": \"" alias "\", \"authenticationExecutions\": [" execs "]}"
#define EX(auth, req) \
	"{\"authenticator\": \"" auth "\", \"requirement\": \"" req "\"}"
#define SUB(alias, req) \
	"{\"authenticatorFlow\": true, \"flowAlias\": \"" alias \
	"\", \"requirement\": \"" req "\"}"
#define REALM(version, flows) \
	"{\"realm\": \"r\", \"keycloakVersion\": \"" version "\"," \
	" \"browserFlow\": \"b\", \"authenticationFlows\": [" flows "]," \
	" \"users\": [{\"username\": \"u\"}]}"

/* Since Keycloak 8, ALTERNATIVE executions beside REQUIRED ones are
 * ignored; before, one of them had to succeed too, and OPTIONAL ones ran
 * for users who had them. */
static void test_mixed_levels_by_version(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(policy_text);
	static const char flows[] =
		FLOW("b", EX("auth-username-password-form", "REQUIRED") ","
			  EX("auth-otp-form", "ALTERNATIVE") ","
			  EX("auth-x509-client-username-form", "ALTERNATIVE") ","
			  EX("auth-recovery-authn-code-form", "OPTIONAL"));
	static const char *const modern[] = {"26.0.0", "8.0.0", "7.4.0.GA",
					     "n/a", NULL};
	static const char *const legacy[] = {"3.2.0.Final", "7.0.1",
					     "7.3.0.GA", NULL};
	char json[2048];

	for (size_t i = 0; modern[i]; i++) {
		snprintf(json, sizeof(json),
			 "{\"realm\": \"r\", \"keycloakVersion\": \"%s\","
			 " \"browserFlow\": \"b\", \"authenticationFlows\": [%s],"
			 " \"users\": [{\"username\": \"u\"}]}",
			 modern[i], flows);
		struct ag_estate *e = import_ok(p, json, NULL);
		assert_string_equal(
			methods_of(e, "r/b: auth-username-password-form"),
			"password");
		assert_string_equal(
			methods_of(e, "r/b: auth-username-password-form+"
				      "auth-recovery-authn-code-form"),
			"password+recovery_code");
		assert_null(path_of(e, "r/b: auth-username-password-form+"
				       "auth-otp-form"));
		ag_estate_free(e);
	}
	for (size_t i = 0; legacy[i]; i++) {
		snprintf(json, sizeof(json),
			 "{\"realm\": \"r\", \"keycloakVersion\": \"%s\","
			 " \"browserFlow\": \"b\", \"authenticationFlows\": [%s],"
			 " \"users\": [{\"username\": \"u\"}]}",
			 legacy[i], flows);
		struct ag_estate *e = import_ok(p, json, NULL);
		assert_null(path_of(e, "r/b: auth-username-password-form"));
		assert_string_equal(
			methods_of(e, "r/b: auth-username-password-form+"
				      "auth-otp-form"),
			"password+totp");
		assert_string_equal(
			methods_of(e, "r/b: auth-username-password-form+"
				      "auth-x509-client-username-form"),
			"password+software_key");
		assert_string_equal(
			methods_of(e, "r/b: auth-username-password-form+"
				      "auth-otp-form+auth-recovery-authn-code-form"),
			"password+totp+recovery_code");
		ag_estate_free(e);
	}
	ag_policy_free(p);
}

/* A set that cannot tell who the user is (no username step) cannot log
 * anyone in; deny-access ends a set; the cookie and identity providers
 * have paths of their own. */
static void test_sets_that_are_not_logins(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(policy_text);
	struct ag_estate *e = import_ok(
		p,
		REALM("24.0.0",
		      FLOW("b", EX("auth-cookie", "ALTERNATIVE") ","
				EX("identity-provider-redirector", "ALTERNATIVE") ","
				EX("auth-otp-form", "ALTERNATIVE") ","
				SUB("deny", "ALTERNATIVE") ","
				SUB("forms", "ALTERNATIVE")) ","
		      FLOW("deny", EX("auth-username-form", "REQUIRED") ","
				   EX("deny-access-authenticator", "REQUIRED")) ","
		      FLOW("forms", EX("auth-username-form", "REQUIRED") ","
				    SUB("maybe deny", "CONDITIONAL") ","
				    EX("auth-password-form", "REQUIRED")) ","
		      FLOW("maybe deny", EX("conditional-user-role", "REQUIRED") ","
					 EX("deny-access-authenticator", "REQUIRED"))),
		NULL);
	/* Only the forms, without the denial: login + 2 renewals. */
	assert_string_equal(
		methods_of(e, "r/b: auth-username-form+auth-password-form"),
		"password");
	assert_int_equal(ag_estate_n_paths(e), 3);
	ag_estate_free(e);
	ag_policy_free(p);
}

/* An authenticator Keycloak never runs is no reason to refuse: DISABLED,
 * or ALTERNATIVE beside a REQUIRED one, or in a flow nothing binds. */
static void test_unknown_but_unused(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(policy_text);
	struct ag_estate *e = import_ok(
		p,
		REALM("24.0.0",
		      FLOW("b", EX("auth-username-password-form", "REQUIRED") ","
				EX("vendor-a", "ALTERNATIVE") ","
				EX("vendor-b", "DISABLED") ","
				SUB("vendor-flow", "ALTERNATIVE")) ","
		      FLOW("vendor-flow", EX("vendor-c", "REQUIRED")) ","
		      FLOW("unbound", EX("vendor-d", "REQUIRED"))),
		NULL);
	assert_string_equal(methods_of(e, "r/b: auth-username-password-form"),
			    "password");
	ag_estate_free(e);
	ag_policy_free(p);
}

/* WebAuthn: hardware only with cross-platform attachment and attested
 * registration restricted to listed models (attachment alone is checked
 * only at registration, and includes phones whose passkeys sync);
 * multi-factor only with required user verification. */
static void test_webauthn_policy(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(policy_text);
	static const struct {
		const char *attach, *uv, *method;
		bool attested;
	} cases[] = {
		{"cross-platform", "required", "security_key_uv", true},
		{"cross-platform", "required", "passkey_synced", false},
		{"not specified", "required", "passkey_synced", true},
		{"platform", "required", "passkey_synced", true},
		{"cross-platform", "preferred", "security_key", true},
		{"cross-platform", "preferred", "software_key", false},
		{"not specified", "not specified", "software_key", true},
		{NULL, NULL, "software_key", false},
	};
	for (size_t i = 0; i < AG_ARRAY_SIZE(cases); i++) {
		char json[4096], pol[1024] = "";
		const char *att =
			cases[i].attested
				? "\"webAuthnPolicyAttestationConveyancePreference\": \"direct\","
				  "\"webAuthnPolicyAcceptableAaguids\": [\"ee882879-721c-4913-9775-3dfcce97072a\"],"
				  "\"webAuthnPolicyPasswordlessAttestationConveyancePreference\": \"enterprise\","
				  "\"webAuthnPolicyPasswordlessAcceptableAaguids\": [\"ee882879-721c-4913-9775-3dfcce97072a\"],"
				: "";
		if (cases[i].attach)
			snprintf(pol, sizeof(pol),
				 "%s"
				 "\"webAuthnPolicyPasswordlessAuthenticatorAttachment\": \"%s\","
				 "\"webAuthnPolicyPasswordlessUserVerificationRequirement\": \"%s\","
				 "\"webAuthnPolicyAuthenticatorAttachment\": \"%s\","
				 "\"webAuthnPolicyUserVerificationRequirement\": \"%s\",",
				 att, cases[i].attach, cases[i].uv, cases[i].attach,
				 cases[i].uv);
		snprintf(json, sizeof(json),
			 "{\"realm\": \"r\", %s \"browserFlow\": \"b\","
			 " \"authenticationFlows\": [%s],"
			 " \"users\": [{\"username\": \"u\"}]}",
			 pol,
			 FLOW("b", EX("webauthn-authenticator-passwordless",
				      "ALTERNATIVE") ","
				   SUB("two", "ALTERNATIVE")) ","
			 FLOW("two", EX("auth-username-password-form", "REQUIRED") ","
				     EX("webauthn-authenticator", "REQUIRED")));
		struct ag_estate *e = import_ok(p, json, NULL);
		assert_string_equal(
			methods_of(e, "r/b: webauthn-authenticator-passwordless"),
			cases[i].method);
		char want[64];
		snprintf(want, sizeof(want), "password+%s", cases[i].method);
		assert_string_equal(methods_of(e, "r/b: auth-username-password-"
						  "form+webauthn-authenticator"),
				    want);
		ag_estate_free(e);
	}
	ag_policy_free(p);
}

/* Shared sub-flows are resolved once: thirty levels of a flow calling the
 * next one twice would otherwise take 2^30 steps. */
static void test_diamonds_are_cheap(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(policy_text);
	struct ag_buf b;
	ag_buf_init(&b, 1 << 20);
	ag_buf_adds(&b, "{\"realm\": \"r\", \"browserFlow\": \"f0\","
			" \"authenticationFlows\": [");
	for (int i = 0; i < 30; i++)
		ag_buf_printf(&b,
			      "{\"alias\": \"f%d\", \"authenticationExecutions\": ["
			      "{\"authenticator\": \"auth-username-password-form\","
			      " \"requirement\": \"REQUIRED\"},"
			      "{\"authenticatorFlow\": true, \"flowAlias\": \"f%d\","
			      " \"requirement\": \"REQUIRED\"},"
			      "{\"authenticatorFlow\": true, \"flowAlias\": \"f%d\","
			      " \"requirement\": \"REQUIRED\"}]},",
			      i, i + 1, i + 1);
	ag_buf_adds(&b, "{\"alias\": \"f30\", \"authenticationExecutions\": []}],"
			" \"users\": [{\"username\": \"u\"}]}");
	assert_false(b.failed);
	struct ag_estate *e = import_ok(p, b.data, NULL);
	assert_int_equal(ag_estate_n_paths(e), 3);
	ag_estate_free(e);
	ag_buf_release(&b);
	ag_policy_free(p);
}

/* Step-up: a fresh login at level L runs every level up to L. */
static void test_step_up_levels(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(policy_text);
	struct ag_estate *e = import_ok(
		p,
		"{\"realm\": \"r\", \"browserFlow\": \"b\","
		" \"attributes\": {\"acr.loa.map\": \"{\\\"gold\\\": 2}\"},"
		" \"authenticationFlows\": ["
		FLOW("b", SUB("one", "CONDITIONAL") "," SUB("two", "CONDITIONAL")) ","
		FLOW("one", "{\"authenticator\": \"conditional-level-of-authentication\","
			    " \"requirement\": \"REQUIRED\", \"authenticatorConfig\": \"l1\"},"
			    EX("auth-username-password-form", "REQUIRED")) ","
		FLOW("two", "{\"authenticator\": \"conditional-level-of-authentication\","
			    " \"requirement\": \"REQUIRED\", \"authenticatorConfig\": \"l2\"},"
			    EX("auth-otp-form", "REQUIRED"))
		"], \"authenticatorConfig\": ["
		" {\"alias\": \"l1\", \"config\": {\"loa-condition-level\": \"1\"}},"
		" {\"alias\": \"l2\", \"config\": {\"loa-condition-level\": 2}}],"
		" \"users\": [{\"username\": \"u\"}]}",
		NULL);
	const struct ag_path *login =
		path_of(e, "r/b LoA 1: auth-username-password-form");
	const struct ag_path *up =
		path_of(e, "r/b LoA 2 (gold): auth-username-password-form+"
			   "auth-otp-form");
	assert_non_null(login);
	assert_non_null(up);
	assert_int_equal(login->kind, AG_PATH_LOGIN);
	assert_int_equal(up->kind, AG_PATH_STEPUP);
	assert_int_equal(ag_estate_n_paths(e), 4);
	ag_estate_free(e);
	ag_policy_free(p);
}

/* ---- accounts and workflows ---------------------------------------------- */

static void test_users_roles_and_groups(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(policy_text);
	struct ag_estate *e = import_ok(
		p,
		"{\"realm\": \"r\","
		" \"roles\": {\"realm\": [{\"name\": \"ops\", \"composite\": true,"
		"   \"composites\": {\"client\": {\"realm-management\": [\"view-users\"]}}}]},"
		" \"groups\": [{\"name\": \"it\", \"realmRoles\": [\"ops\"],"
		"   \"subGroups\": [{\"name\": \"desk\"}]}],"
		" \"users\": ["
		"  {\"username\": \"a\", \"groups\": [\"/it/desk\"]},"
		"  {\"username\": \"b\", \"email\": \"b@x.example\"},"
		"  {\"username\": \"c\", \"enabled\": false},"
		"  {\"username\": \"service-account-x\", \"serviceAccountClientId\": \"x\","
		"   \"realmRoles\": [\"admin\"]}]}",
		NULL);
	/* a inherits ops from /it, a composite of realm-management. */
	assert_string_equal(workflow_of(e, "r/a"), "admin");
	assert_string_equal(workflow_of(e, "r/b"), "staff");
	uint32_t b = ag_estate_find_account(e, "r/b");
	assert_int_equal(e->accounts[b].kind, AG_KIND_HUMAN);
	assert_non_null(e->accounts[b].email_ref);
	assert_string_equal(e->accounts[b].email_ref->name, "mail:b@x.example");
	assert_string_equal(workflow_of(e, "r/c"), "(no account)");
	assert_string_equal(workflow_of(e, "r/service-account-x"),
			    "(no account)");
	ag_estate_free(e);
	ag_policy_free(p);
}

static void test_representatives(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(policy_text);
	struct ag_estate *e = import_ok(
		p,
		"{\"realm\": \"r\", \"roles\": {\"realm\": [{\"name\": \"viewer\"},"
		" {\"name\": \"Admin\"}, {\"name\": \"superadmin\"}]}}",
		NULL);
	assert_string_equal(workflow_of(e, "r/role:Admin"), "admin");
	assert_string_equal(workflow_of(e, "r/role:superadmin"),
			    "(no account)");
	assert_string_equal(workflow_of(e, "r/role:viewer"), "(no account)");
	assert_string_equal(workflow_of(e, "r/any-user"), "staff");
	assert_int_equal(ag_estate_n_accounts(e), 2);
	ag_estate_free(e);
	ag_policy_free(p);
}

static void test_service_accounts(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(policy_text);
	struct ag_estate *e = import_ok(
		p,
		"{\"realm\": \"r\", \"clients\": ["
		" {\"clientId\": \"s1\", \"serviceAccountsEnabled\": true},"
		" {\"clientId\": \"s2\", \"serviceAccountsEnabled\": true,"
		"  \"clientAuthenticatorType\": \"client-secret-jwt\"},"
		" {\"clientId\": \"s3\", \"serviceAccountsEnabled\": true,"
		"  \"clientAuthenticatorType\": \"client-jwt\"},"
		" {\"clientId\": \"s4\", \"serviceAccountsEnabled\": true,"
		"  \"clientAuthenticatorType\": \"client-x509\"},"
		" {\"clientId\": \"pub\", \"serviceAccountsEnabled\": true,"
		"  \"publicClient\": true},"
		" {\"clientId\": \"off\", \"serviceAccountsEnabled\": true,"
		"  \"enabled\": false}]}",
		NULL);
	assert_string_equal(methods_of(e, "r/client:s1: client credentials "
					  "(client-secret)"),
			    "client_secret");
	assert_string_equal(methods_of(e, "r/client:s2: client credentials "
					  "(client-secret-jwt)"),
			    "client_secret");
	assert_string_equal(methods_of(e, "r/client:s3: client credentials "
					  "(client-jwt)"),
			    "workload_identity");
	assert_string_equal(methods_of(e, "r/client:s4: client credentials "
					  "(client-x509)"),
			    "mtls");
	uint32_t a = ag_estate_find_account(e, "r/client:s1");
	assert_int_equal(e->accounts[a].kind, AG_KIND_SERVICE);
	assert_string_equal(workflow_of(e, "r/client:s1"), "(none)");
	assert_string_equal(workflow_of(e, "r/client:pub"), "(no account)");
	assert_string_equal(workflow_of(e, "r/client:off"), "(no account)");
	ag_estate_free(e);
	ag_policy_free(p);
}

/* Ids stay printable and within 1024 bytes. */
static void test_names_are_sanitised(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(policy_text);
	char alias[1500];
	memset(alias, 'x', sizeof(alias) - 1);
	alias[sizeof(alias) - 1] = '\0';
	char *json = malloc(8192);
	assert_non_null(json);
	snprintf(json, 8192,
		 "{\"realm\": \"a\\u0001b\", \"browserFlow\": \"%s\","
		 " \"authenticationFlows\": [{\"alias\": \"%s\","
		 " \"authenticationExecutions\": [%s]}],"
		 " \"users\": [{\"username\": \"tab\\tuser\"}]}",
		 alias, alias, EX("auth-username-password-form", "REQUIRED"));
	struct ag_estate *e = import_ok(p, json, NULL);
	assert_string_equal(workflow_of(e, "a?b/tab?user"), "staff");
	bool found = false;
	for (size_t i = 0; i < ag_estate_n_paths(e); i++) {
		const char *id = e->paths[i].id;
		assert_true(strlen(id) <= 1024);
		for (const char *c = id; *c; c++)
			assert_true((unsigned char)*c >= 0x20);
		found = found || !strncmp(id, "a?b/xxxx", 8);
	}
	assert_true(found);
	free(json);
	ag_estate_free(e);
	ag_policy_free(p);
}

/* ---- the mapping file --------------------------------------------------- */

static void test_mapping(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(policy_text);
	char map[64];
	temp_file("roles:\n"
		  "  \"client:billing:approver\": payroll\n"
		  "  \"client:realm-management:realm-admin\": staff\n"
		  "clients: { robot: staff }\n"
		  "default: payroll\n"
		  "authenticators:\n"
		  "  sms-authenticator: sms_otp\n"
		  "  restrict-client-auth-authenticator: none\n"
		  "  auth-x509-client-username-form: [smartcard]\n",
		  map, sizeof(map));
	struct ag_estate *e = import_ok(
		p,
		"{\"realm\": \"r\", \"browserFlow\": \"b\", \"authenticationFlows\": ["
		FLOW("b", SUB("sms", "ALTERNATIVE") "," EX("auth-x509-client-username-form",
							   "ALTERNATIVE")) ","
		FLOW("sms", EX("auth-username-password-form", "REQUIRED") ","
			    EX("sms-authenticator", "REQUIRED") ","
			    EX("restrict-client-auth-authenticator", "REQUIRED"))
		"], \"clients\": [{\"clientId\": \"robot\", \"serviceAccountsEnabled\": true}],"
		" \"users\": [{\"username\": \"a\", \"clientRoles\": {\"billing\": [\"approver\"]}},"
		" {\"username\": \"b\", \"clientRoles\": {\"realm-management\": [\"realm-admin\"]}},"
		" {\"username\": \"c\", \"clientRoles\": {\"realm-management\": [\"realm-admin\","
		"   \"manage-users\"]}},"
		" {\"username\": \"d\"}]}",
		map);
	assert_string_equal(methods_of(e, "r/b: auth-username-password-form+"
					  "sms-authenticator+"
					  "restrict-client-auth-authenticator"),
			    "password+sms_otp");
	assert_string_equal(methods_of(e, "r/b: auth-x509-client-username-form"),
			    "smartcard");
	assert_string_equal(workflow_of(e, "r/a"), "payroll");
	/* Mapped explicitly to staff, realm-admin is not an admin here;
	 * manage-users still is, by default, and the strictest wins. */
	assert_string_equal(workflow_of(e, "r/b"), "staff");
	assert_string_equal(workflow_of(e, "r/c"), "admin");
	assert_string_equal(workflow_of(e, "r/d"), "payroll");
	assert_string_equal(workflow_of(e, "r/client:robot"), "staff");
	ag_estate_free(e);
	unlink(map);
	ag_policy_free(p);
}

static void test_mapping_errors(void **state)
{
	(void)state;
	char map[64], msg[512];
	static const char json[] = "{\"realm\": \"r\"}";

	temp_file("roles:\n  approver: payrol\n", map, sizeof(map));
	snprintf(msg, sizeof(msg),
		 "%s:2:13: unknown workflow 'payrol' for role 'approver' (the "
		 "policy policy.yaml does not define it); did you mean "
		 "'payroll'?",
		 map);
	import_fails_with(policy_text, json, map, AG_ERR_INVALID, msg);
	unlink(map);

	temp_file("authenticators:\n  sms: sms-otp\n", map, sizeof(map));
	snprintf(msg, sizeof(msg),
		 "%s:2:8: unknown method 'sms-otp' for authenticator 'sms'; did "
		 "you mean 'sms_otp'?",
		 map);
	import_fails_with(policy_text, json, map, AG_ERR_INVALID, msg);
	unlink(map);

	temp_file("role:\n  a: staff\n", map, sizeof(map));
	struct ag_policy *p = policy_ok(policy_text);
	struct ag_estate *e;
	struct ag_error err;
	assert_int_equal(import_text(p, json, map, &e, &err), AG_ERR_INVALID);
	assert_non_null(strstr(err.msg, ":1:1: unknown key 'role'"));
	ag_estate_free(e);
	ag_policy_free(p);
	unlink(map);

	import_fails_with(policy_text, json, "/nonexistent/mapping.yaml",
			  AG_ERR_IO, NULL);
}

/* The policy lacks the workflow a default mapping gives. */
static void test_missing_workflow(void **state)
{
	(void)state;
	import_fails_with(
		"workflows:\n  staff: { aal: 2 }\n",
		"{\"realm\": \"r\", \"users\": [{\"username\": \"root\","
		" \"clientRoles\": {\"realm-management\": [\"realm-admin\"]}}]}",
		NULL, AG_ERR_INVALID,
		"realm.json: users[0] (\"root\"): workflow 'admin' is not in the "
		"policy policy.yaml; the default mapping gives it to admin role "
		"'realm-management:realm-admin' (a mapping file maps roles to "
		"workflows)");
	import_fails_with(
		"workflows:\n  admin: { aal: 3, phishing_resistant: true }\n",
		"[{\"realm\": \"r\", \"users\": [{\"username\": \"u\"}]}]", NULL,
		AG_ERR_INVALID,
		"realm.json: [0].users[0] (\"u\"): workflow 'staff' is not in "
		"the policy policy.yaml; it is the default workflow for users "
		"(no role maps to another) (a mapping file maps roles to "
		"workflows)");
}

/* ---- refusals ----------------------------------------------------------- */

static void test_unknown_authenticator(void **state)
{
	(void)state;
	import_fails(
		REALM("24.0.0",
		      FLOW("unused", EX("vendor-x", "REQUIRED")) ","
		      FLOW("b", EX("auth-username-password-form", "REQUIRED") ","
				EX("vendor-y", "DISABLED") ","
				EX("sms-authenticator", "REQUIRED"))),
		AG_ERR_INVALID,
		"realm.json: authenticationFlows[1].authenticationExecutions[2]: "
		"unknown authenticator 'sms-authenticator' in flow 'b'; it is not "
		"guessed (a mapping file may name its methods under "
		"'authenticators:')");
	import_fails(
		"{\"realm\": \"r\", \"clients\": [{\"clientId\": \"c\","
		" \"serviceAccountsEnabled\": true,"
		" \"clientAuthenticatorType\": \"vendor-auth\"}]}",
		AG_ERR_INVALID,
		"realm.json: clients[0].clientAuthenticatorType: unknown client "
		"authenticator 'vendor-auth' of client 'c'; it is not guessed");
	import_fails(REALM("24.0.0", FLOW("b", EX("client-secret", "REQUIRED"))),
		     AG_ERR_INVALID,
		     "realm.json: authenticationFlows[0].authenticationExecutions"
		     "[0]: 'client-secret' authenticates clients, not users "
		     "(flow 'b')");
}

static void test_flow_errors(void **state)
{
	(void)state;
	import_fails(REALM("24.0.0", FLOW("b", SUB("c", "REQUIRED")) ","
				     FLOW("c", SUB("d", "ALTERNATIVE")) ","
				     FLOW("d", SUB("c", "REQUIRED"))),
		     AG_ERR_INVALID,
		     "realm.json: authenticationFlows: the flows call each other "
		     "in a cycle: 'c' > 'd' > 'c'");
	import_fails(REALM("24.0.0", FLOW("b", SUB("nowhere", "REQUIRED"))),
		     AG_ERR_INVALID,
		     "realm.json: authenticationFlows[0].authenticationExecutions"
		     "[0]: sub-flow 'nowhere' of flow 'b' is not among "
		     "authenticationFlows");
	import_fails(REALM("24.0.0", FLOW("b", EX("auth-otp-form", "SOMETIMES"))),
		     AG_ERR_INVALID,
		     "realm.json: authenticationFlows[0].authenticationExecutions"
		     "[0].requirement: unknown requirement 'SOMETIMES' (REQUIRED, "
		     "ALTERNATIVE, CONDITIONAL, DISABLED or OPTIONAL)");
	import_fails(REALM("24.0.0",
			   FLOW("b", "{\"authenticator\": \"auth-otp-form\"}")),
		     AG_ERR_INVALID,
		     "realm.json: authenticationFlows[0].authenticationExecutions"
		     "[0]: the execution has no requirement");
	import_fails("{\"realm\": \"r\", \"browserFlow\": \"mine\"}",
		     AG_ERR_INVALID,
		     "realm.json: browserFlow: flow 'mine' is not among "
		     "authenticationFlows");
	import_fails("{\"realm\": \"r\", \"clients\": [{\"clientId\": \"c\","
		     " \"authenticationFlowBindingOverrides\": {\"browser\": \"x\"}}]}",
		     AG_ERR_INVALID,
		     "realm.json: clients[0].authenticationFlowBindingOverrides."
		     "browser: flow 'x' is not among authenticationFlows");
	import_fails("{\"realm\": \"r\", \"attributes\": {\"acr.loa.map\": \"[1]\"}}",
		     AG_ERR_INVALID,
		     "realm.json: attributes[\"acr.loa.map\"]: not a JSON object "
		     "of ACR names to levels");
}

/* Seven REQUIRED sub-flows of two ALTERNATIVE steps each: 128 sets. */
static void test_too_many_alternatives(void **state)
{
	(void)state;
	struct ag_buf b;
	ag_buf_init(&b, 1 << 16);
	ag_buf_adds(&b, "{\"realm\": \"r\", \"browserFlow\": \"b\","
			" \"authenticationFlows\": [{\"alias\": \"b\","
			" \"authenticationExecutions\": [");
	for (int i = 0; i < 7; i++)
		ag_buf_printf(&b, "%s{\"authenticatorFlow\": true, \"flowAlias\":"
				  " \"s%d\", \"requirement\": \"REQUIRED\"}",
			      i ? "," : "", i);
	ag_buf_adds(&b, "]}");
	for (int i = 0; i < 7; i++)
		ag_buf_printf(&b, ",{\"alias\": \"s%d\", \"authenticationExecutions\": ["
				  EX("auth-otp-form", "ALTERNATIVE") ","
				  EX("auth-password-form", "ALTERNATIVE") "]}",
			      i);
	ag_buf_adds(&b, "]}");
	import_fails(b.data, AG_ERR_LIMIT,
		     "realm.json: authenticationFlows[0]: flow 'b' has more "
		     "than 64 alternative sets of methods; aalgate does not "
		     "enumerate further");
	ag_buf_release(&b);
}

static void test_too_deep(void **state)
{
	(void)state;
	struct ag_buf b;
	ag_buf_init(&b, 1 << 16);
	ag_buf_adds(&b, "{\"realm\": \"r\", \"browserFlow\": \"f0\","
			" \"authenticationFlows\": [");
	for (int i = 0; i < 40; i++)
		ag_buf_printf(&b, "%s{\"alias\": \"f%d\", \"authenticationExecutions\":"
				  " [{\"authenticatorFlow\": true, \"flowAlias\":"
				  " \"f%d\", \"requirement\": \"REQUIRED\"}]}",
			      i ? "," : "", i, i + 1);
	ag_buf_adds(&b, ",{\"alias\": \"f40\"}]}");
	import_fails(b.data, AG_ERR_LIMIT,
		     "realm.json: authenticationFlows[32]: flow 'f32' is nested "
		     "more than 32 sub-flows deep");
	ag_buf_release(&b);
}

static void test_json_errors(void **state)
{
	(void)state;
	import_fails("{\"realm\": ", AG_ERR_SYNTAX,
		     "realm.json:1:10: unexpected token near end of file");
	import_fails("{\"realm\": \"a\", \"realm\": \"b\"}", AG_ERR_SYNTAX,
		     "realm.json:1:22: duplicate object key near '\"realm\"'");
	import_fails("\"realm\"", AG_ERR_INVALID,
		     "realm.json: expected a Keycloak realm export (a JSON "
		     "object) or an array of them, found a string");
	import_fails("[]", AG_ERR_INVALID,
		     "realm.json: an empty array: no realm to import");
	import_fails("[{\"realm\": \"a\"}, 7]", AG_ERR_INVALID,
		     "realm.json: [1]: expected a realm (a JSON object), found "
		     "an integer");
	import_fails("[{\"realm\": \"a\"}, {\"realm\": \"a\"}]", AG_ERR_INVALID,
		     "realm.json: [1]: realm 'a' appears twice in the file");
	import_fails("{\"id\": \"x\"}", AG_ERR_INVALID,
		     "realm.json: not a Keycloak realm export (no "
		     "\"realm\" name)");
	import_fails("{\"realm\": \"r\", \"clients\": {}}", AG_ERR_INVALID,
		     "realm.json: clients: expected an array, found an object");
	import_fails("[{\"realm\": \"r\", \"resetPasswordAllowed\": \"yes\"}]",
		     AG_ERR_INVALID,
		     "realm.json: [0].resetPasswordAllowed: expected true or "
		     "false, found a string");
	import_fails("{\"realm\": \"r\", \"users\": [{\"username\": 7}]}",
		     AG_ERR_INVALID,
		     "realm.json: users[0].username: expected a string, found "
		     "an integer");
	import_fails("{\"realm\": \"r\", \"ssoSessionMaxLifespan\": 1.5}",
		     AG_ERR_INVALID,
		     "realm.json: ssoSessionMaxLifespan: expected an integer, "
		     "found a number with a fraction");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_flows),
		cmocka_unit_test(test_mixed_levels_by_version),
		cmocka_unit_test(test_sets_that_are_not_logins),
		cmocka_unit_test(test_unknown_but_unused),
		cmocka_unit_test(test_webauthn_policy),
		cmocka_unit_test(test_diamonds_are_cheap),
		cmocka_unit_test(test_step_up_levels),
		cmocka_unit_test(test_users_roles_and_groups),
		cmocka_unit_test(test_representatives),
		cmocka_unit_test(test_service_accounts),
		cmocka_unit_test(test_names_are_sanitised),
		cmocka_unit_test(test_mapping),
		cmocka_unit_test(test_mapping_errors),
		cmocka_unit_test(test_missing_workflow),
		cmocka_unit_test(test_unknown_authenticator),
		cmocka_unit_test(test_flow_errors),
		cmocka_unit_test(test_too_many_alternatives),
		cmocka_unit_test(test_too_deep),
		cmocka_unit_test(test_json_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
