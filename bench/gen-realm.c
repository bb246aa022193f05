/*
 * gen-realm: writes a Keycloak realm export with N users and C clients,
 * for the importer benchmark (bench/keycloak-scale).
 *
 *   gen-realm [-s SEED] USERS CLIENTS OUT.json
 *
 * The realm uses Keycloak's default flows (browser with conditional OTP,
 * reset credentials, direct grant, first broker login, clients), realm
 * and client roles, groups, and users with e-mail addresses.  One client
 * in four allows direct grants, one in five has a service account.  The
 * output depends only on the arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long long state = 88172645463325252ULL;

static unsigned long long next(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

static void exec(FILE *f, int *first, const char *auth, const char *req,
		 const char *flow_alias, int prio)
{
	fprintf(f, "%s\n        { ", *first ? "" : ",");
	*first = 0;
	if (flow_alias)
		fprintf(f, "\"authenticatorFlow\": true, \"flowAlias\": \"%s\", ",
			flow_alias);
	else
		fprintf(f, "\"authenticator\": \"%s\", \"authenticatorFlow\": false, ",
			auth);
	fprintf(f, "\"requirement\": \"%s\", \"priority\": %d, "
		   "\"userSetupAllowed\": false }",
		req, prio);
}

static void flow(FILE *f, int *firstflow, const char *id, const char *alias,
		 const char *provider, int top)
{
	fprintf(f, "%s\n    { \"id\": \"%s\", \"alias\": \"%s\", \"providerId\": "
		   "\"%s\", \"topLevel\": %s, \"builtIn\": true, "
		   "\"authenticationExecutions\": [",
		*firstflow ? "" : ",", id, alias, provider, top ? "true" : "false");
	*firstflow = 0;
}

int main(int argc, char **argv)
{
	int a = 1;
	if (argc > 2 && !strcmp(argv[1], "-s")) {
		state += strtoull(argv[2], NULL, 10) * 0x9E3779B97F4A7C15ULL;
		a = 3;
	}
	if (argc - a != 3) {
		fprintf(stderr, "usage: gen-realm [-s SEED] USERS CLIENTS OUT.json\n");
		return 2;
	}
	long users = strtol(argv[a], NULL, 10), clients = strtol(argv[a + 1], NULL, 10);
	FILE *f = fopen(argv[a + 2], "w");
	if (!f || users < 1 || clients < 1) {
		perror(argv[a + 2]);
		return 2;
	}
	fprintf(f, "{\n  \"id\": \"bench\", \"realm\": \"bench\", \"enabled\": true,\n"
		   "  \"ssoSessionIdleTimeout\": 1800, \"ssoSessionMaxLifespan\": 36000,\n"
		   "  \"offlineSessionIdleTimeout\": 2592000, \"offlineSessionMaxLifespanEnabled\": false,\n"
		   "  \"browserFlow\": \"browser\", \"resetCredentialsFlow\": \"reset credentials\",\n"
		   "  \"directGrantFlow\": \"direct grant\", \"firstBrokerLoginFlow\": \"first broker login\",\n"
		   "  \"clientAuthenticationFlow\": \"clients\",\n");
	fputs("  \"roles\": { \"realm\": [ { \"name\": \"admin\" }, { \"name\": \"user\" }, "
	      "{ \"name\": \"offline_access\" } ] },\n", f);
	fputs("  \"groups\": [ { \"name\": \"staff\", \"path\": \"/staff\" }, "
	      "{ \"name\": \"ops\", \"path\": \"/ops\", \"realmRoles\": [\"admin\"] } ],\n", f);

	fputs("  \"authenticationFlows\": [", f);
	int ff = 1, fe;
	flow(f, &ff, "f-browser", "browser", "basic-flow", 1);
	fe = 1;
	exec(f, &fe, "auth-cookie", "ALTERNATIVE", NULL, 10);
	exec(f, &fe, "identity-provider-redirector", "ALTERNATIVE", NULL, 25);
	exec(f, &fe, NULL, "ALTERNATIVE", "forms", 30);
	fputs(" ] }", f);
	flow(f, &ff, "f-forms", "forms", "basic-flow", 0);
	fe = 1;
	exec(f, &fe, "auth-username-password-form", "REQUIRED", NULL, 10);
	exec(f, &fe, NULL, "CONDITIONAL", "Browser - Conditional OTP", 20);
	fputs(" ] }", f);
	flow(f, &ff, "f-bcotp", "Browser - Conditional OTP", "basic-flow", 0);
	fe = 1;
	exec(f, &fe, "conditional-user-configured", "REQUIRED", NULL, 10);
	exec(f, &fe, "auth-otp-form", "REQUIRED", NULL, 20);
	fputs(" ] }", f);
	flow(f, &ff, "f-reset", "reset credentials", "basic-flow", 1);
	fe = 1;
	exec(f, &fe, "reset-credentials-choose-user", "REQUIRED", NULL, 10);
	exec(f, &fe, "reset-credential-email", "REQUIRED", NULL, 20);
	exec(f, &fe, "reset-password", "REQUIRED", NULL, 30);
	exec(f, &fe, NULL, "CONDITIONAL", "Reset - Conditional OTP", 40);
	fputs(" ] }", f);
	flow(f, &ff, "f-rcotp", "Reset - Conditional OTP", "basic-flow", 0);
	fe = 1;
	exec(f, &fe, "conditional-user-configured", "REQUIRED", NULL, 10);
	exec(f, &fe, "reset-otp", "REQUIRED", NULL, 20);
	fputs(" ] }", f);
	flow(f, &ff, "f-dg", "direct grant", "basic-flow", 1);
	fe = 1;
	exec(f, &fe, "direct-grant-validate-username", "REQUIRED", NULL, 10);
	exec(f, &fe, "direct-grant-validate-password", "REQUIRED", NULL, 20);
	exec(f, &fe, NULL, "CONDITIONAL", "Direct Grant - Conditional OTP", 30);
	fputs(" ] }", f);
	flow(f, &ff, "f-dgotp", "Direct Grant - Conditional OTP", "basic-flow", 0);
	fe = 1;
	exec(f, &fe, "conditional-user-configured", "REQUIRED", NULL, 10);
	exec(f, &fe, "direct-grant-validate-otp", "REQUIRED", NULL, 20);
	fputs(" ] }", f);
	flow(f, &ff, "f-fbl", "first broker login", "basic-flow", 1);
	fe = 1;
	exec(f, &fe, "idp-review-profile", "REQUIRED", NULL, 10);
	exec(f, &fe, "idp-create-user-if-unique", "ALTERNATIVE", NULL, 20);
	fputs(" ] }", f);
	flow(f, &ff, "f-clients", "clients", "client-flow", 1);
	fe = 1;
	exec(f, &fe, "client-secret", "ALTERNATIVE", NULL, 10);
	exec(f, &fe, "client-jwt", "ALTERNATIVE", NULL, 20);
	exec(f, &fe, "client-secret-jwt", "ALTERNATIVE", NULL, 30);
	exec(f, &fe, "client-x509", "ALTERNATIVE", NULL, 40);
	fputs(" ] }\n  ],\n", f);

	fputs("  \"clients\": [", f);
	for (long c = 0; c < clients; c++)
		fprintf(f, "%s\n    { \"id\": \"c%ld\", \"clientId\": \"app-%04ld\", \"enabled\": true, "
			   "\"publicClient\": false, \"clientAuthenticatorType\": \"client-secret\", "
			   "\"standardFlowEnabled\": true, \"directAccessGrantsEnabled\": %s, "
			   "\"serviceAccountsEnabled\": %s }",
			c ? "," : "", c, c, c % 4 == 0 ? "true" : "false",
			c % 5 == 0 ? "true" : "false");
	fputs("\n  ],\n  \"users\": [", f);
	for (long u = 0; u < users; u++) {
		int admin = next() % 100 == 0;
		fprintf(f, "%s\n    { \"id\": \"u%ld\", \"username\": \"user%06ld\", \"enabled\": true, "
			   "\"email\": \"user%06ld@example.org\", \"emailVerified\": true, "
			   "\"realmRoles\": [\"user\"%s], \"groups\": [\"/staff\"%s] }",
			u ? "," : "", u, u, u, admin ? ", \"admin\"" : "", admin ? ", \"/ops\"" : "");
	}
	fputs("\n  ]\n}\n", f);
	if (fclose(f) != 0) {
		perror(argv[a + 2]);
		return 1;
	}
	printf("users=%ld clients=%ld\n", users, clients);
	return 0;
}
