/*
 * The Keycloak importer (docs/importers.md): a realm export, or a JSON array of
 * realm exports, becomes accounts and access paths of an estate.
 *
 * Every path id starts with the realm's name ("myrealm/...") so that two
 * realms in one file cannot collide, and names the flow alias and the
 * executions it went through ("myrealm/browser: auth-username-password-form
 * +auth-otp-form"), so that a witness chain shows how Keycloak lets a user
 * in.  Each path's description holds the JSON path it came from.
 *
 *  - browserFlow, and each client's authenticationFlowBindingOverrides
 *    browser flow: one login path per alternative set of methods, and
 *    stepup paths per level of a conditional-level-of-authentication
 *    flow (named through the realm's acr.loa.map);
 *  - resetCredentialsFlow, when resetPasswordAllowed: recovery paths;
 *  - directGrantFlow (or a client's direct_grant override), for every
 *    client with directAccessGrantsEnabled: legacy paths naming the client;
 *  - identity providers: a login path per provider and enrollment paths
 *    through its first-broker-login flow, gated (via) by an external
 *    account "REALM/idp:ALIAS";
 *  - ssoSessionMaxLifespan and offline sessions: renewal paths;
 *  - clients with serviceAccountsEnabled: service accounts with an api path;
 *  - users and their roles and groups, or when no user is exported, one
 *    account per workflow that some role or group needs.
 *
 * Flows are resolved as Keycloak's DefaultAuthenticationFlow runs them:
 * conditions are never methods; DISABLED executions are skipped; at a
 * level with REQUIRED or CONDITIONAL executions every one of them must
 * succeed and ALTERNATIVE ones are ignored (Keycloak logs "REQUIRED and
 * ALTERNATIVE elements at same level! Those alternative executions will
 * be ignored"); otherwise any one ALTERNATIVE suffices; a CONDITIONAL
 * sub-flow runs when all its enabled conditions hold and acts as DISABLED
 * when one fails or it has none.  A condition aalgate cannot evaluate from
 * the export may go either way, so both outcomes are alternatives.
 * Exports from Keycloak before 8.0 follow the older rules, which Keycloak's
 * own 8.0 migration preserves: every REQUIRED execution plus one of the
 * ALTERNATIVE ones, and OPTIONAL executions may run or not.
 * conditional-level-of-authentication is evaluated: a fresh login at
 * level L runs the steps of every level up to L.
 *
 * A set of executions is a login only if it can tell who the user is (a
 * username step, a passwordless key, a certificate...), does not end in
 * deny-access, and does not create a new user.  Sets through the SSO
 * cookie are the "sso session" renewal path, and sets that hand over to
 * an identity provider are that provider's own paths.
 *
 * Exports often leave out flows that Keycloak creates by itself; a
 * binding to a default alias the export lacks ("reset credentials")
 * resolves to Keycloak's default flow, as Keycloak does on import.
 *
 * An authenticator aalgate does not know is an error naming it, its flow
 * and its JSON path; it is never guessed.  A mapping file may name the
 * methods of custom authenticators (see docs/importers.md).
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aalgate/import.h"
#include "audit/estate.h" /* the estate's policy: catalogue and workflows */
#include "ynode.h"
#include "util.h"
#include "banned.h"

#define KC_MAX_DEPTH 32      /* sub-flows nested in one another */
#define KC_MAX_ALTS 64       /* alternative method sets of one flow */
#define KC_MAX_REALMS 1000   /* realms in one file */
#define KC_MAX_FLOWS 65535u  /* flows of one realm */
#define KC_MAX_EXECS 65535u  /* executions of one flow */
#define KC_MAX_LEVELS 16     /* levels of authentication of one flow */
#define KC_MAX_GROUP_DEPTH 64
#define KC_MAX_ROLES 100000 /* roles one account holds, composites included */
#define KC_ID_MAX 1024      /* as ag_estate_add_* accept */

/* ---- the authenticator table ------------------------------------------ */

enum kc_kind {
	KC_METHOD,      /* a check: its methods */
	KC_NONE,        /* understood, but no method (a username, a new password) */
	KC_COND,        /* a condition of a conditional sub-flow, never a method */
	KC_COND_LOA,    /* conditional-level-of-authentication */
	KC_COOKIE,      /* the SSO cookie: a session continues (renewal paths) */
	KC_IDP,         /* hands the login to an identity provider */
	KC_WEBAUTHN,    /* WebAuthn, decided by the realm's WebAuthn policy */
	KC_WEBAUTHN_PL, /* passwordless WebAuthn, by the passwordless policy */
	KC_MAYBE,       /* runs or is skipped by its own configuration */
	KC_DENY,        /* always fails */
	KC_CREATES,     /* creates a new user: no path to an existing account */
	KC_CLIENT       /* authenticates a client, not a user */
};

#define KC_IDENT 1u /* establishes who the user is */

struct kc_auth {
	const char *id;
	enum kc_kind kind;
	const char *const *methods; /* NULL-terminated, or NULL */
	unsigned flags;
};

#define M(...) ((const char *const[]){__VA_ARGS__, NULL})

/*
 * Keycloak's built-in authenticators (provider ids, Keycloak 3.2 to 26)
 * and what each proves.  The choices that are not obvious:
 *  - reset-otp does not check the OTP: it deletes it and asks the user to
 *    configure a new one (keycloak#12759), so a reset-credentials flow is
 *    as strong as its e-mail link unless it requires auth-otp-form;
 *  - reset-password sets a new password; it proves nothing;
 *  - X.509 client certificates are software_key: Keycloak cannot tell
 *    whether the key is on a smart card (a mapping file may say smartcard);
 *  - auth-spnego (Kerberos) is a password: the ticket comes from the
 *    user's password at the KDC, as far as the export can tell;
 *  - WebAuthn depends on the realm's policy; see webauthn_method().
 *  - client-jwt signs a short-lived assertion with a key the client holds
 *    (RFC 7523 private_key_jwt): key-bound like workload_identity, not a
 *    static secret; client-secret-jwt is an HMAC over a shared secret and
 *    so a client_secret; client-x509 is mtls.
 */
static const struct kc_auth kc_auths[] = {
	/* browser */
	{"auth-cookie", KC_COOKIE, NULL, KC_IDENT},
	{"auth-spnego", KC_METHOD, M("password"), KC_IDENT},
	{"identity-provider-redirector", KC_IDP, NULL, 0},
	{"auth-username-password-form", KC_METHOD, M("password"), KC_IDENT},
	{"auth-username-form", KC_NONE, NULL, KC_IDENT},
	{"auth-password-form", KC_METHOD, M("password"), 0},
	{"auth-otp-form", KC_METHOD, M("totp"), 0},
	{"auth-conditional-otp-form", KC_MAYBE, M("totp"), 0},
	{"auth-recovery-authn-code-form", KC_METHOD, M("recovery_code"), 0},
	{"webauthn-authenticator", KC_WEBAUTHN, NULL, 0},
	{"webauthn-authenticator-passwordless", KC_WEBAUTHN_PL, NULL, KC_IDENT},
	{"auth-x509-client-username-form", KC_METHOD, M("software_key"),
	 KC_IDENT},
	/* Keycloak 26 organizations: sends members of a brokered domain to
	 * their identity provider, and everyone else on to the next step.
	 * So it may or may not take part, and a set holding it is still a
	 * login for the others (the providers' own paths come from
	 * identityProviders). */
	{"organization", KC_MAYBE, NULL, 0},
	{"user-session-limits", KC_NONE, NULL, 0},
	{"allow-access-authenticator", KC_NONE, NULL, 0},
	{"deny-access-authenticator", KC_DENY, NULL, 0},
	/* http challenge, docker and SAML ECP */
	{"no-cookie-redirect", KC_NONE, NULL, 0},
	{"basic-auth", KC_METHOD, M("password"), KC_IDENT},
	{"basic-auth-otp", KC_METHOD, M("password", "totp"), KC_IDENT},
	{"http-basic-authenticator", KC_METHOD, M("password"), KC_IDENT},
	{"docker-http-basic-authenticator", KC_METHOD, M("password"), KC_IDENT},
	/* direct grant */
	{"direct-grant-validate-username", KC_NONE, NULL, KC_IDENT},
	{"direct-grant-validate-password", KC_METHOD, M("password"), 0},
	{"direct-grant-validate-otp", KC_METHOD, M("totp"), 0},
	{"direct-grant-auth-x509-username", KC_METHOD, M("software_key"),
	 KC_IDENT},
	/* reset credentials */
	{"reset-credentials-choose-user", KC_NONE, NULL, KC_IDENT},
	{"reset-credential-email", KC_METHOD, M("email_link"), 0},
	{"reset-password", KC_NONE, NULL, 0},
	{"reset-otp", KC_NONE, NULL, 0},
	/* first broker login */
	{"idp-review-profile", KC_NONE, NULL, 0},
	{"idp-create-user-if-unique", KC_CREATES, NULL, 0},
	{"idp-confirm-link", KC_NONE, NULL, 0},
	{"idp-confirm-override-link", KC_NONE, NULL, 0},
	{"idp-email-verification", KC_METHOD, M("email_link"), 0},
	{"idp-username-password-form", KC_METHOD, M("password"), 0},
	{"idp-auto-link", KC_NONE, NULL, 0},
	{"idp-detect-existing-broker-user", KC_NONE, NULL, 0},
	{"idp-add-organization-member", KC_NONE, NULL, 0},
	/* registration */
	{"registration-page-form", KC_NONE, NULL, 0},
	{"registration-user-creation", KC_CREATES, NULL, 0},
	{"registration-profile-action", KC_NONE, NULL, 0},
	{"registration-password-action", KC_NONE, NULL, 0},
	{"registration-recaptcha-action", KC_NONE, NULL, 0},
	{"registration-terms-and-conditions", KC_NONE, NULL, 0},
	/* conditions */
	{"conditional-user-configured", KC_COND, NULL, 0},
	{"conditional-user-role", KC_COND, NULL, 0},
	{"conditional-user-attribute", KC_COND, NULL, 0},
	{"conditional-client-scope", KC_COND, NULL, 0},
	{"conditional-sub-flow-executed", KC_COND, NULL, 0},
	{"conditional-credential", KC_COND, NULL, 0},
	{"conditional-level-of-authentication", KC_COND_LOA, NULL, 0},
	/* client authentication (clientAuthenticatorType) */
	{"client-secret", KC_CLIENT, M("client_secret"), 0},
	{"client-secret-jwt", KC_CLIENT, M("client_secret"), 0},
	{"client-jwt", KC_CLIENT, M("workload_identity"), 0},
	{"federated-jwt", KC_CLIENT, M("workload_identity"), 0},
	{"client-x509", KC_CLIENT, M("mtls"), 0},
};

/*
 * Keycloak's default flows (DefaultAuthenticationFlows).  Keycloak adds
 * any of them that an imported realm lacks, so a partial export that
 * binds "reset credentials" without holding it gets these.
 */
static const char kc_default_flows[] =
	"["
	"{\"alias\":\"browser\",\"authenticationExecutions\":["
	"{\"authenticator\":\"auth-cookie\",\"requirement\":\"ALTERNATIVE\",\"priority\":10},"
	"{\"authenticator\":\"auth-spnego\",\"requirement\":\"DISABLED\",\"priority\":20},"
	"{\"authenticator\":\"identity-provider-redirector\",\"requirement\":\"ALTERNATIVE\",\"priority\":25},"
	"{\"authenticatorFlow\":true,\"flowAlias\":\"forms\",\"requirement\":\"ALTERNATIVE\",\"priority\":30}]},"
	"{\"alias\":\"forms\",\"authenticationExecutions\":["
	"{\"authenticator\":\"auth-username-password-form\",\"requirement\":\"REQUIRED\",\"priority\":10},"
	"{\"authenticatorFlow\":true,\"flowAlias\":\"Browser - Conditional OTP\",\"requirement\":\"CONDITIONAL\",\"priority\":20}]},"
	"{\"alias\":\"Browser - Conditional OTP\",\"authenticationExecutions\":["
	"{\"authenticator\":\"conditional-user-configured\",\"requirement\":\"REQUIRED\",\"priority\":10},"
	"{\"authenticator\":\"auth-otp-form\",\"requirement\":\"REQUIRED\",\"priority\":20}]},"
	"{\"alias\":\"direct grant\",\"authenticationExecutions\":["
	"{\"authenticator\":\"direct-grant-validate-username\",\"requirement\":\"REQUIRED\",\"priority\":10},"
	"{\"authenticator\":\"direct-grant-validate-password\",\"requirement\":\"REQUIRED\",\"priority\":20},"
	"{\"authenticatorFlow\":true,\"flowAlias\":\"Direct Grant - Conditional OTP\",\"requirement\":\"CONDITIONAL\",\"priority\":30}]},"
	"{\"alias\":\"Direct Grant - Conditional OTP\",\"authenticationExecutions\":["
	"{\"authenticator\":\"conditional-user-configured\",\"requirement\":\"REQUIRED\",\"priority\":10},"
	"{\"authenticator\":\"direct-grant-validate-otp\",\"requirement\":\"REQUIRED\",\"priority\":20}]},"
	"{\"alias\":\"reset credentials\",\"authenticationExecutions\":["
	"{\"authenticator\":\"reset-credentials-choose-user\",\"requirement\":\"REQUIRED\",\"priority\":10},"
	"{\"authenticator\":\"reset-credential-email\",\"requirement\":\"REQUIRED\",\"priority\":20},"
	"{\"authenticator\":\"reset-password\",\"requirement\":\"REQUIRED\",\"priority\":30},"
	"{\"authenticatorFlow\":true,\"flowAlias\":\"Reset - Conditional OTP\",\"requirement\":\"CONDITIONAL\",\"priority\":40}]},"
	"{\"alias\":\"Reset - Conditional OTP\",\"authenticationExecutions\":["
	"{\"authenticator\":\"conditional-user-configured\",\"requirement\":\"REQUIRED\",\"priority\":10},"
	"{\"authenticator\":\"reset-otp\",\"requirement\":\"REQUIRED\",\"priority\":20}]},"
	"{\"alias\":\"first broker login\",\"authenticationExecutions\":["
	"{\"authenticator\":\"idp-review-profile\",\"requirement\":\"REQUIRED\",\"priority\":10},"
	"{\"authenticatorFlow\":true,\"flowAlias\":\"User creation or linking\",\"requirement\":\"REQUIRED\",\"priority\":20}]},"
	"{\"alias\":\"User creation or linking\",\"authenticationExecutions\":["
	"{\"authenticator\":\"idp-create-user-if-unique\",\"requirement\":\"ALTERNATIVE\",\"priority\":10},"
	"{\"authenticatorFlow\":true,\"flowAlias\":\"Handle Existing Account\",\"requirement\":\"ALTERNATIVE\",\"priority\":20}]},"
	"{\"alias\":\"Handle Existing Account\",\"authenticationExecutions\":["
	"{\"authenticator\":\"idp-confirm-link\",\"requirement\":\"REQUIRED\",\"priority\":10},"
	"{\"authenticatorFlow\":true,\"flowAlias\":\"Account verification options\",\"requirement\":\"REQUIRED\",\"priority\":20}]},"
	"{\"alias\":\"Account verification options\",\"authenticationExecutions\":["
	"{\"authenticator\":\"idp-email-verification\",\"requirement\":\"ALTERNATIVE\",\"priority\":10},"
	"{\"authenticatorFlow\":true,\"flowAlias\":\"Verify Existing Account by Re-authentication\",\"requirement\":\"ALTERNATIVE\",\"priority\":20}]},"
	"{\"alias\":\"Verify Existing Account by Re-authentication\",\"authenticationExecutions\":["
	"{\"authenticator\":\"idp-username-password-form\",\"requirement\":\"REQUIRED\",\"priority\":10},"
	"{\"authenticatorFlow\":true,\"flowAlias\":\"First broker login - Conditional OTP\",\"requirement\":\"CONDITIONAL\",\"priority\":20}]},"
	"{\"alias\":\"First broker login - Conditional OTP\",\"authenticationExecutions\":["
	"{\"authenticator\":\"conditional-user-configured\",\"requirement\":\"REQUIRED\",\"priority\":10},"
	"{\"authenticator\":\"auth-otp-form\",\"requirement\":\"REQUIRED\",\"priority\":20}]},"
	"{\"alias\":\"clients\",\"authenticationExecutions\":["
	"{\"authenticator\":\"client-secret\",\"requirement\":\"ALTERNATIVE\",\"priority\":10},"
	"{\"authenticator\":\"client-jwt\",\"requirement\":\"ALTERNATIVE\",\"priority\":20},"
	"{\"authenticator\":\"client-secret-jwt\",\"requirement\":\"ALTERNATIVE\",\"priority\":30},"
	"{\"authenticator\":\"client-x509\",\"requirement\":\"ALTERNATIVE\",\"priority\":40}]}"
	"]";

/* ---- state ------------------------------------------------------------- */

/* A workflow choice and where it came from, for messages. */
struct kc_wf {
	const char *key;      /* "ROLE", "client:CLIENT:ROLE", or a client id */
	const char *workflow; /* NULL: none */
	unsigned line, col;   /* in the mapping file; 0 for a built-in default */
};

/* The mapping file (--mapping): roles and clients to workflows, and the
 * methods of authenticators aalgate does not know. */
struct kc_mapping {
	const char *file;
	char *buf;
	size_t len;
	struct ag_yreader r;
	bool reader;
	struct ag_ynode *root;
	struct kc_wf *roles;
	size_t n_roles;
	struct kc_wf *clients;
	size_t n_clients;
	struct kc_auth *auths;
	size_t n_auths;
	const char **auth_methods; /* storage for auths[].methods */
	struct kc_wf def, admin, service;
};

/* One import call. */
struct kc {
	struct ag_estate *e;
	const struct ag_policy *pol;
	const char *name; /* the file, for messages and positions */
	struct ag_error *err;
	struct kc_mapping map;
	char **pool; /* strings that live until the import ends */
	size_t n_pool, pool_alloc;
	json_t *defaults; /* kc_default_flows, parsed */
	bool federated;   /* the catalogue has a "federated" method */
};

enum kc_req {
	KC_R_DISABLED,
	KC_R_REQUIRED,
	KC_R_ALTERNATIVE,
	KC_R_CONDITIONAL,
	KC_R_OPTIONAL
};

struct kc_exec {
	const char *authenticator; /* NULL for a sub-flow */
	bool sub;
	const char *sub_alias; /* flowAlias, or NULL */
	const char *sub_id;    /* flowId, or NULL */
	enum kc_req req;
	int64_t priority;
	size_t pos; /* in authenticationExecutions[] */
	const char *config; /* authenticatorConfig alias, or NULL */
	const struct kc_auth *auth; /* looked up on first use */
};

struct kc_flow {
	const char *alias; /* may be NULL */
	const char *id;
	const json_t *json;
	size_t index;  /* in authenticationFlows[], or in the defaults */
	bool builtin;  /* one of Keycloak's defaults, not in the export */
	bool parsed;
	struct kc_exec *ex;
	size_t n_ex;
	size_t *order; /* ex by priority */
};

struct kc_realm {
	struct kc *k;
	const json_t *j;
	char jp[32]; /* JSON path prefix of the realm's members: "" or "[3]." */
	char jw[32]; /* JSON path of the realm itself: "" or "[3]" */
	const char *name;
	bool legacy; /* before Keycloak 8.0 */
	bool events; /* eventsEnabled */
	const json_t *event_types;
	struct kc_flow *flows;
	size_t n_flows, flows_alloc;
	struct ag_strmap by_alias, by_id;
	const json_t *configs; /* authenticatorConfig[] */
	const char *webauthn, *passwordless; /* their catalogue methods */
	const json_t *loa_map;               /* acr.loa.map, parsed */
	struct ag_strmap path_ids;           /* ids emitted, keys in the pool */
	const char *users_group;             /* "REALM/kc-users" */
	const char *users_to;                /* "group:REALM/kc-users" */
	/* resolve() results per flow during one resolution of a top flow:
	 * shared sub-flows are resolved once, not once per route to them. */
	struct kc_memo *memo;
	/* roles */
	struct ag_strmap role_comp; /* role key -> index into comps */
	const json_t **comps;
	size_t n_comps, comps_alloc;
	struct ag_strmap group_by_path; /* group path -> index into groups */
	struct kc_group *groups;
	size_t n_groups, groups_alloc;
	struct ag_strmap sa_users; /* serviceAccountClientId -> users[] index */
	const char *default_role; /* defaultRole.name */
	const json_t *default_roles; /* defaultRoles[] (Keycloak before 13) */
};

struct kc_group {
	const char *path; /* "/parent/name" */
	const json_t *j;
};

/* An alternative: executions that succeed together, as packed
 * (flow << 16 | execution) indexes, in flow order. */
struct kc_alt {
	uint32_t *x;
	uint32_t n;
};

struct kc_alts {
	struct kc_alt *v;
	size_t n, alloc;
};

struct kc_memo {
	bool done;
	struct kc_alts alts;
};

/* ---- small helpers ----------------------------------------------------- */

static ag_code nomem(struct kc *k)
{
	return ag_err(k->err, AG_ERR_NOMEM, "%s: out of memory", k->name);
}

/* Keeps s (malloc'd) until the import ends; NULL when s is NULL or on
 * failure, after which s is freed. */
static char *pool_keep(struct kc *k, char *s)
{
	if (!s)
		return NULL;
	if (AG_GROW(k->pool, k->pool_alloc, k->n_pool + 1)) {
		free(s);
		return NULL;
	}
	k->pool[k->n_pool++] = s;
	return s;
}

static char *pool_printf(struct kc *k, const char *fmt, ...) AG_PRINTF(2, 3);

static char *pool_printf(struct kc *k, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	char *s = malloc((size_t)n + 1);
	if (!s)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return pool_keep(k, s);
}

/* A copy of s fit for an estate id or name: control characters become
 * '?', and anything longer than KC_ID_MAX bytes is cut at a character
 * boundary and made unique again with a hash of the whole. */
static char *pool_id(struct kc *k, const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(n + 1 < 64 ? 64 : n + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = (i < n && (c < 0x20 || c == 0x7f)) ? '?' : (char)c;
	}
	if (n > KC_ID_MAX) {
		size_t cut = KC_ID_MAX - 20;
		while (cut > 0 && ((unsigned char)out[cut] & 0xc0) == 0x80)
			cut--;
		snprintf(out + cut, n + 1 - cut, "...~%016llx",
			 (unsigned long long)ag_hash(s));
	}
	if (n == 0)
		ag_strlcpy(out, "(empty)", 64);
	return pool_keep(k, out);
}

static bool ci_contains(const char *s, const char *word)
{
	size_t n = strlen(word);
	for (; *s; s++) {
		size_t i = 0;
		while (i < n && s[i] &&
		       (s[i] | 0x20) == (word[i] | 0x20))
			i++;
		if (i == n)
			return true;
	}
	return false;
}

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "something else";
}

/* o[key] of type t, or NULL when absent or null; where is o's JSON path. */
static ag_code jget(struct kc *k, const json_t *o, const char *where,
		    const char *key, json_type t, const json_t **out)
{
	static const char *const want[] = {
		[JSON_OBJECT] = "an object",   [JSON_ARRAY] = "an array",
		[JSON_STRING] = "a string",    [JSON_INTEGER] = "an integer",
		[JSON_REAL] = "a number",      [JSON_TRUE] = "true or false",
		[JSON_FALSE] = "true or false", [JSON_NULL] = "null"};
	const json_t *v = json_object_get(o, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return AG_OK;
	bool ok = json_typeof(v) == t ||
		  (t == JSON_TRUE && json_typeof(v) == JSON_FALSE);
	if (!ok)
		return ag_err(k->err, AG_ERR_INVALID,
			      "%s: %s%s%s: expected %s, found %s", k->name,
			      where, *where ? "." : "", key, want[t],
			      json_kind(v));
	*out = v;
	return AG_OK;
}

static ag_code jstr(struct kc *k, const json_t *o, const char *where,
		    const char *key, const char **out)
{
	const json_t *v;
	ag_code rc = jget(k, o, where, key, JSON_STRING, &v);
	*out = v ? json_string_value(v) : NULL;
	return rc;
}

static ag_code jbool(struct kc *k, const json_t *o, const char *where,
		     const char *key, bool def, bool *out)
{
	const json_t *v;
	ag_code rc = jget(k, o, where, key, JSON_TRUE, &v);
	*out = v ? json_is_true(v) : def;
	return rc;
}

static ag_code jint(struct kc *k, const json_t *o, const char *where,
		   const char *key, int64_t def, int64_t *out)
{
	const json_t *v;
	ag_code rc = jget(k, o, where, key, JSON_INTEGER, &v);
	*out = v ? (int64_t)json_integer_value(v) : def;
	return rc;
}

/* A whole number written as a JSON integer or as a string of digits (as
 * Keycloak stores attributes and authenticator configuration). */
static bool loose_int(const json_t *v, int64_t *out)
{
	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return true;
	}
	if (!json_is_string(v))
		return false;
	const char *s = json_string_value(v);
	char *end;
	if (!*s)
		return false;
	long long n = strtoll(s, &end, 10);
	if (*end || end == s)
		return false;
	*out = (int64_t)n;
	return true;
}

/* ---- the mapping file --------------------------------------------------- */

static const char *const mapping_keys[] = {
	"roles", "clients", "default", "admin", "service", "authenticators",
	NULL};

static ag_code check_workflow(struct kc *k, const struct ag_ynode *n,
			      const char *what, const char **out)
{
	struct kc_mapping *m = &k->map;
	ag_code rc;
	if ((rc = ag_ynode_string(&m->r, n, what, out)))
		return rc;
	if (ag_policy_workflow(k->pol, *out) >= 0)
		return AG_OK;
	struct ag_suggest sg;
	ag_suggest_init(&sg, *out);
	for (size_t i = 0; i < k->pol->n_workflows; i++)
		ag_suggest_add(&sg, k->pol->workflows[i].name);
	rc = ag_ynode_err(&m->r, n, AG_ERR_INVALID,
			  "unknown workflow '%s' for %s (the policy %s does "
			  "not define it)",
			  *out, what, k->pol->file ? k->pol->file : "");
	ag_err_hint(k->err, ag_suggest_best(&sg));
	return rc;
}

static ag_code mapping_wfmap(struct kc *k, const struct ag_ynode *n,
			     const char *what, struct kc_wf **out,
			     size_t *nout)
{
	struct kc_mapping *m = &k->map;
	ag_code rc;
	char label[300];
	if ((rc = ag_ynode_expect_map(&m->r, n, what)))
		return rc;
	*out = calloc(n->n / 2 + 1, sizeof(**out));
	if (!*out)
		return nomem(k);
	for (size_t i = 0; i + 1 < n->n; i += 2) {
		struct kc_wf *w = &(*out)[(*nout)++];
		w->key = n->items[i]->str;
		snprintf(label, sizeof(label), "%s '%s'",
			 strcmp(what, "roles") ? "client" : "role", w->key);
		if ((rc = check_workflow(k, n->items[i + 1], label,
					 &w->workflow)))
			return rc;
		w->line = n->items[i + 1]->line;
		w->col = n->items[i + 1]->col;
	}
	return AG_OK;
}

static ag_code mapping_single(struct kc *k, const struct ag_ynode *n,
			      const char *key, struct kc_wf *w)
{
	if (!n)
		return AG_OK;
	char label[64];
	snprintf(label, sizeof(label), "'%s'", key);
	w->key = key;
	w->line = n->line;
	w->col = n->col;
	return check_workflow(k, n, label, &w->workflow);
}

static ag_code mapping_auths(struct kc *k, const struct ag_ynode *n)
{
	struct kc_mapping *m = &k->map;
	ag_code rc;
	size_t total = 0;
	if ((rc = ag_ynode_expect_map(&m->r, n, "authenticators")))
		return rc;
	for (size_t i = 1; i < n->n; i += 2)
		total += (n->items[i]->type == AG_Y_SEQ ? n->items[i]->n : 1) + 1;
	m->auths = calloc(n->n / 2 + 1, sizeof(*m->auths));
	m->auth_methods = calloc(total + 1, sizeof(*m->auth_methods));
	if (!m->auths || !m->auth_methods)
		return nomem(k);
	size_t used = 0;
	for (size_t i = 0; i + 1 < n->n; i += 2) {
		const struct ag_ynode *v = n->items[i + 1];
		struct kc_auth *a = &m->auths[m->n_auths++];
		a->id = n->items[i]->str;
		a->kind = KC_NONE;
		/* A named authenticator identifies the user as far as the
		 * audit is concerned: dropping the paths through it would
		 * hide them. */
		a->flags = KC_IDENT;
		a->methods = &m->auth_methods[used];
		const struct ag_ynode *const *items =
			(const struct ag_ynode *const *)&v;
		size_t ni = 1;
		if (v->type == AG_Y_SEQ) {
			items = (const struct ag_ynode *const *)v->items;
			ni = v->n;
		} else if (v->type != AG_Y_SCALAR || ag_ynode_is_null(v)) {
			return ag_ynode_err(&m->r, v, AG_ERR_INVALID,
					    "the methods of authenticator '%s' "
					    "must be a method, a list of "
					    "methods or none",
					    a->id);
		}
		for (size_t j = 0; j < ni; j++) {
			const char *s;
			if ((rc = ag_ynode_string(&m->r, items[j],
						  "a method", &s)))
				return rc;
			if (v->type == AG_Y_SCALAR && !strcmp(s, "none"))
				break;
			if (ag_catalogue_find(&k->pol->catalogue, s) < 0) {
				struct ag_suggest sg;
				ag_suggest_init(&sg, s);
				for (size_t c = 0; c < k->pol->catalogue.n; c++)
					ag_suggest_add(
						&sg,
						k->pol->catalogue.methods[c].name);
				rc = ag_ynode_err(&m->r, items[j],
						  AG_ERR_INVALID,
						  "unknown method '%s' for "
						  "authenticator '%s'",
						  s, a->id);
				ag_err_hint(k->err, ag_suggest_best(&sg));
				return rc;
			}
			m->auth_methods[used++] = s;
			a->kind = KC_METHOD;
		}
		m->auth_methods[used++] = NULL;
	}
	return AG_OK;
}

static ag_code mapping_load(struct kc *k, const char *path)
{
	struct kc_mapping *m = &k->map;
	ag_code rc;

	m->def = (struct kc_wf){"default", "staff", 0, 0};
	m->admin = (struct kc_wf){"admin", "admin", 0, 0};
	m->service = (struct kc_wf){"service", NULL, 0, 0};
	if (!path)
		return AG_OK;
	m->file = path;
	if ((rc = ag_read_file(path, AG_POLICY_MAX_BYTES, &m->buf, &m->len,
			       k->err)))
		return rc;
	if ((rc = ag_yreader_init(&m->r, path, m->buf, m->len, k->err)))
		return rc;
	m->reader = true;
	if ((rc = ag_yreader_document(&m->r, &m->root)))
		return rc;
	if ((rc = ag_ynode_expect_map(&m->r, m->root, "the mapping file")))
		return rc;
	const struct ag_ynode *slot[AG_ARRAY_SIZE(mapping_keys)];
	if ((rc = ag_ynode_fields(&m->r, m->root, "the mapping file",
				  mapping_keys, slot)))
		return rc;
	if (slot[0] &&
	    (rc = mapping_wfmap(k, slot[0], "roles", &m->roles, &m->n_roles)))
		return rc;
	if (slot[1] && (rc = mapping_wfmap(k, slot[1], "clients", &m->clients,
					   &m->n_clients)))
		return rc;
	if ((rc = mapping_single(k, slot[2], "default", &m->def)) ||
	    (rc = mapping_single(k, slot[3], "admin", &m->admin)) ||
	    (rc = mapping_single(k, slot[4], "service", &m->service)))
		return rc;
	if (slot[5] && (rc = mapping_auths(k, slot[5])))
		return rc;
	return AG_OK;
}

static void mapping_release(struct kc_mapping *m)
{
	ag_ynode_free(m->root);
	if (m->reader)
		ag_yreader_release(&m->r);
	free(m->buf);
	free(m->roles);
	free(m->clients);
	free(m->auths);
	free(m->auth_methods);
	memset(m, 0, sizeof(*m));
}

static const struct kc_auth *auth_lookup(const struct kc *k, const char *id)
{
	for (size_t i = 0; i < k->map.n_auths; i++)
		if (!strcmp(k->map.auths[i].id, id))
			return &k->map.auths[i];
	for (size_t i = 0; i < AG_ARRAY_SIZE(kc_auths); i++)
		if (!strcmp(kc_auths[i].id, id))
			return &kc_auths[i];
	return NULL;
}

/* ---- flows ------------------------------------------------------------- */

/* JSON path of flow fi, for descriptions and messages. */
static void flow_path(const struct kc_realm *r, size_t fi, char *buf,
		      size_t len)
{
	const struct kc_flow *f = &r->flows[fi];
	if (f->builtin)
		snprintf(buf, len, "Keycloak's default '%s'", f->alias);
	else
		snprintf(buf, len, "%sauthenticationFlows[%zu]", r->jp,
			 f->index);
}

static const char *flow_name(const struct kc_realm *r, size_t fi)
{
	return r->flows[fi].alias ? r->flows[fi].alias : "(no alias)";
}

static ag_code flow_add(struct kc_realm *r, const json_t *jf, size_t index,
			bool builtin)
{
	struct kc *k = r->k;
	char where[128];
	ag_code rc;
	snprintf(where, sizeof(where), "%sauthenticationFlows[%zu]", r->jp,
		 index);
	if (!json_is_object(jf))
		return ag_err(k->err, AG_ERR_INVALID,
			      "%s: %s: expected an object, found %s", k->name,
			      where, json_kind(jf));
	if (r->n_flows >= KC_MAX_FLOWS)
		return ag_err(k->err, AG_ERR_LIMIT,
			      "%s: %sauthenticationFlows: more than %u flows",
			      k->name, r->jp, KC_MAX_FLOWS);
	const char *alias, *id;
	if ((rc = jstr(k, jf, where, "alias", &alias)) ||
	    (rc = jstr(k, jf, where, "id", &id)))
		return rc;
	if (builtin && ag_strmap_get(&r->by_alias, alias, &(uint32_t){0}))
		return AG_OK; /* the export has its own */
	if (AG_GROW(r->flows, r->flows_alloc, r->n_flows + 1))
		return nomem(k);
	struct kc_flow *f = &r->flows[r->n_flows];
	memset(f, 0, sizeof(*f));
	f->alias = alias;
	f->id = id;
	f->json = jf;
	f->index = index;
	f->builtin = builtin;
	bool found;
	uint32_t prev;
	if ((alias && ag_strmap_put(&r->by_alias, alias, (uint32_t)r->n_flows,
				    &prev, &found)) ||
	    (id && ag_strmap_put(&r->by_id, id, (uint32_t)r->n_flows, &prev,
				 &found)))
		return nomem(k);
	r->n_flows++;
	return AG_OK;
}

/* An execution's place, sorted by priority, then by position in the
 * export (Keycloak sorts by priority alone). */
struct kc_rank {
	int64_t priority;
	size_t pos;
};

static int rank_cmp(const void *pa, const void *pb)
{
	const struct kc_rank *a = pa, *b = pb;
	if (a->priority != b->priority)
		return a->priority < b->priority ? -1 : 1;
	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

static ag_code parse_req(struct kc *k, const char *where, const char *s,
			 enum kc_req *out)
{
	static const struct {
		const char *name;
		enum kc_req req;
	} reqs[] = {{"REQUIRED", KC_R_REQUIRED},
		    {"ALTERNATIVE", KC_R_ALTERNATIVE},
		    {"DISABLED", KC_R_DISABLED},
		    {"CONDITIONAL", KC_R_CONDITIONAL},
		    {"OPTIONAL", KC_R_OPTIONAL}};
	if (!s)
		return ag_err(k->err, AG_ERR_INVALID,
			      "%s: %s: the execution has no requirement",
			      k->name, where);
	for (size_t i = 0; i < AG_ARRAY_SIZE(reqs); i++)
		if (!strcmp(s, reqs[i].name)) {
			*out = reqs[i].req;
			return AG_OK;
		}
	return ag_err(k->err, AG_ERR_INVALID,
		      "%s: %s.requirement: unknown requirement '%s' "
		      "(REQUIRED, ALTERNATIVE, CONDITIONAL, DISABLED or "
		      "OPTIONAL)",
		      k->name, where, s);
}

/* Reads flow fi's executions on first use. */
static ag_code parse_flow(struct kc_realm *r, size_t fi)
{
	struct kc *k = r->k;
	struct kc_flow *f = &r->flows[fi];
	char fw[160], where[256];
	const json_t *arr;
	ag_code rc;

	if (f->parsed)
		return AG_OK;
	flow_path(r, fi, fw, sizeof(fw));
	if ((rc = jget(k, f->json, fw, "authenticationExecutions", JSON_ARRAY,
		       &arr)))
		return rc;
	size_t n = arr ? json_array_size(arr) : 0;
	if (n > KC_MAX_EXECS)
		return ag_err(k->err, AG_ERR_LIMIT,
			      "%s: %s: more than %u executions", k->name, fw,
			      KC_MAX_EXECS);
	struct kc_rank *rank = calloc(n + 1, sizeof(*rank));
	f->ex = calloc(n + 1, sizeof(*f->ex));
	f->order = calloc(n + 1, sizeof(*f->order));
	if (!rank || !f->ex || !f->order) {
		free(rank);
		return nomem(k);
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *je = json_array_get(arr, i);
		struct kc_exec *x = &f->ex[i];
		const char *req;
		bool flag1, flag2;
		snprintf(where, sizeof(where), "%s.authenticationExecutions[%zu]",
			 fw, i);
		if (!json_is_object(je)) {
			rc = ag_err(k->err, AG_ERR_INVALID,
				    "%s: %s: expected an object, found %s",
				    k->name, where, json_kind(je));
			goto out;
		}
		x->pos = i;
		/* "autheticatorFlow" is how Keycloak spelled it until 12. */
		if ((rc = jstr(k, je, where, "authenticator",
			       &x->authenticator)) ||
		    (rc = jbool(k, je, where, "authenticatorFlow", false,
				&flag1)) ||
		    (rc = jbool(k, je, where, "autheticatorFlow", false,
				&flag2)) ||
		    (rc = jstr(k, je, where, "flowAlias", &x->sub_alias)) ||
		    (rc = jstr(k, je, where, "flowId", &x->sub_id)) ||
		    (rc = jstr(k, je, where, "requirement", &req)) ||
		    (rc = jint(k, je, where, "priority", 0, &x->priority)) ||
		    (rc = jstr(k, je, where, "authenticatorConfig",
			       &x->config)))
			goto out;
		x->sub = flag1 || flag2 ||
			 (!x->authenticator && (x->sub_alias || x->sub_id));
		if (x->sub && !x->sub_alias && !x->sub_id) {
			rc = ag_err(k->err, AG_ERR_INVALID,
				    "%s: %s: a sub-flow execution without "
				    "flowAlias",
				    k->name, where);
			goto out;
		}
		if (!x->sub && !x->authenticator) {
			rc = ag_err(k->err, AG_ERR_INVALID,
				    "%s: %s: an execution with neither an "
				    "authenticator nor a sub-flow",
				    k->name, where);
			goto out;
		}
		if ((rc = parse_req(k, where, req, &x->req)))
			goto out;
		rank[i] = (struct kc_rank){x->priority, i};
	}
	qsort(rank, n, sizeof(*rank), rank_cmp);
	for (size_t i = 0; i < n; i++)
		f->order[i] = rank[i].pos;
	f->n_ex = n;
	f->parsed = true;
	rc = AG_OK;
out:
	free(rank);
	return rc;
}

static ag_code exec_auth(struct kc_realm *r, size_t fi, size_t ei,
			 const struct kc_auth **out)
{
	struct kc *k = r->k;
	struct kc_exec *x = &r->flows[fi].ex[ei];
	if (!x->auth) {
		x->auth = auth_lookup(k, x->authenticator);
		if (!x->auth) {
			char fw[160];
			flow_path(r, fi, fw, sizeof(fw));
			return ag_err(k->err, AG_ERR_INVALID,
				      "%s: %s.authenticationExecutions[%zu]: "
				      "unknown authenticator '%s' in flow "
				      "'%s'; it is not guessed (a mapping file "
				      "may name its methods under "
				      "'authenticators:')",
				      k->name, fw, ei, x->authenticator,
				      flow_name(r, fi));
		}
	}
	*out = x->auth;
	return AG_OK;
}

static ag_code sub_flow(struct kc_realm *r, size_t fi, size_t ei,
			size_t *out)
{
	struct kc *k = r->k;
	const struct kc_exec *x = &r->flows[fi].ex[ei];
	uint32_t v;
	if ((x->sub_alias && ag_strmap_get(&r->by_alias, x->sub_alias, &v)) ||
	    (x->sub_id && ag_strmap_get(&r->by_id, x->sub_id, &v))) {
		*out = v;
		return AG_OK;
	}
	char fw[160];
	flow_path(r, fi, fw, sizeof(fw));
	return ag_err(k->err, AG_ERR_INVALID,
		      "%s: %s.authenticationExecutions[%zu]: sub-flow '%s' of "
		      "flow '%s' is not among authenticationFlows",
		      k->name, fw, ei, x->sub_alias ? x->sub_alias : x->sub_id,
		      flow_name(r, fi));
}

/* The level a conditional-level-of-authentication execution tests
 * (config "loa-condition-level"); Keycloak takes 0 when it is unset. */
static int64_t loa_level(const struct kc_realm *r, const struct kc_exec *x)
{
	size_t i;
	const json_t *c;
	int64_t level = 0;
	if (!x->config || !json_is_array(r->configs))
		return 0;
	json_array_foreach(r->configs, i, c) {
		const json_t *alias = json_object_get(c, "alias");
		if (!json_is_string(alias) ||
		    strcmp(json_string_value(alias), x->config))
			continue;
		const json_t *v = json_object_get(
			json_object_get(c, "config"), "loa-condition-level");
		if (!v || !loose_int(v, &level))
			level = 0;
		return level;
	}
	return 0;
}

/* ---- alternatives ------------------------------------------------------- */

static void alts_release(struct kc_alts *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].x);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static bool alt_has(const struct kc_alt *a, uint32_t g)
{
	for (uint32_t i = 0; i < a->n; i++)
		if (a->x[i] == g)
			return true;
	return false;
}

static bool alt_eq(const struct kc_alt *a, const struct kc_alt *b)
{
	if (a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++)
		if (!alt_has(b, a->x[i]))
			return false;
	return true;
}

/* Adds *a (taking it) unless an equal set is there. */
static ag_code alts_add(struct kc_alts *s, struct kc_alt *a)
{
	for (size_t i = 0; i < s->n; i++)
		if (alt_eq(&s->v[i], a)) {
			free(a->x);
			a->x = NULL;
			return AG_OK;
		}
	if (AG_GROW(s->v, s->alloc, s->n + 1)) {
		free(a->x);
		a->x = NULL;
		return AG_ERR_NOMEM;
	}
	s->v[s->n++] = *a;
	a->x = NULL;
	return AG_OK;
}

static ag_code alts_one(struct kc_alts *s, const uint32_t *x, uint32_t n)
{
	struct kc_alt a = {NULL, n};
	if (n) {
		if (!(a.x = malloc(n * sizeof(*a.x))))
			return AG_ERR_NOMEM;
		memcpy(a.x, x, n * sizeof(*a.x));
	}
	return alts_add(s, &a);
}

static ag_code too_many(struct kc_realm *r, size_t fi)
{
	char fw[160];
	flow_path(r, fi, fw, sizeof(fw));
	return ag_err(r->k->err, AG_ERR_LIMIT,
		      "%s: %s: flow '%s' has more than %d alternative sets of "
		      "methods; aalgate does not enumerate further",
		      r->k->name, fw, flow_name(r, fi), KC_MAX_ALTS);
}

/* *acc = every union of one set of *acc with one set of b. */
static ag_code alts_product(struct kc_realm *r, size_t fi,
			    struct kc_alts *acc, const struct kc_alts *b)
{
	struct kc_alts out = {0};
	for (size_t i = 0; i < acc->n; i++)
		for (size_t j = 0; j < b->n; j++) {
			const struct kc_alt *x = &acc->v[i], *y = &b->v[j];
			struct kc_alt u = {NULL, 0};
			u.x = malloc(((size_t)x->n + y->n + 1) * sizeof(*u.x));
			if (!u.x)
				goto nomem;
			if (x->n)
				memcpy(u.x, x->x, x->n * sizeof(*u.x));
			u.n = x->n;
			for (uint32_t m = 0; m < y->n; m++)
				if (!alt_has(x, y->x[m]))
					u.x[u.n++] = y->x[m];
			if (alts_add(&out, &u))
				goto nomem;
			if (out.n > KC_MAX_ALTS) {
				alts_release(&out);
				return too_many(r, fi);
			}
		}
	alts_release(acc);
	*acc = out;
	return AG_OK;
nomem:
	alts_release(&out);
	return nomem(r->k);
}

/* *acc gains the sets of b (taken). */
static ag_code alts_merge(struct kc_realm *r, size_t fi, struct kc_alts *acc,
			  struct kc_alts *b)
{
	for (size_t i = 0; i < b->n; i++) {
		if (alts_add(acc, &b->v[i])) {
			alts_release(b);
			return nomem(r->k);
		}
		if (acc->n > KC_MAX_ALTS) {
			alts_release(b);
			return too_many(r, fi);
		}
	}
	b->n = 0;
	alts_release(b);
	return AG_OK;
}

static ag_code alts_copy(const struct kc_alts *from, struct kc_alts *to)
{
	memset(to, 0, sizeof(*to));
	for (size_t i = 0; i < from->n; i++)
		if (alts_one(to, from->v[i].x, from->v[i].n)) {
			alts_release(to);
			return AG_ERR_NOMEM;
		}
	return AG_OK;
}

static void memo_clear(struct kc_realm *r)
{
	for (size_t i = 0; r->memo && i < r->n_flows; i++) {
		alts_release(&r->memo[i].alts);
		r->memo[i].done = false;
	}
}

/* ---- resolving a flow --------------------------------------------------- */

struct kc_res {
	struct kc_realm *r;
	int64_t loa; /* the level of authentication requested, or -1 */
	size_t stack[KC_MAX_DEPTH];
	size_t depth;
};

enum kc_tri { KC_FALSE, KC_TRUE, KC_BOTH };

/* Whether conditional sub-flow fi runs: Keycloak runs it when every
 * enabled condition in it holds, and never when it has none. */
static ag_code conditions(struct kc_res *rs, size_t fi, enum kc_tri *out)
{
	struct kc_realm *r = rs->r;
	struct kc_flow *f = &r->flows[fi];
	size_t n = 0, yes = 0;
	ag_code rc;
	*out = KC_FALSE;
	for (size_t i = 0; i < f->n_ex; i++) {
		const struct kc_exec *x = &f->ex[i];
		const struct kc_auth *a;
		if (x->sub || x->req == KC_R_DISABLED)
			continue;
		if ((rc = exec_auth(r, fi, i, &a)))
			return rc;
		if (a->kind != KC_COND && a->kind != KC_COND_LOA)
			continue;
		n++;
		if (a->kind == KC_COND_LOA && rs->loa >= 0) {
			/* A fresh login at level L runs the steps of every
			 * level up to L (ConditionalLoaAuthenticator). */
			if (loa_level(r, x) > rs->loa)
				return AG_OK;
			yes++;
		}
	}
	if (n == 0)
		return AG_OK;
	*out = yes == n ? KC_TRUE : KC_BOTH;
	return AG_OK;
}

static ag_code resolve(struct kc_res *rs, size_t fi, struct kc_alts *out);

/* The sets of one execution of flow fi. */
static ag_code child(struct kc_res *rs, size_t fi, size_t ei,
		     struct kc_alts *out)
{
	struct kc_realm *r = rs->r;
	const struct kc_exec *x = &r->flows[fi].ex[ei];
	ag_code rc;
	bool maybe = x->req == KC_R_CONDITIONAL || x->req == KC_R_OPTIONAL;

	memset(out, 0, sizeof(*out));
	if (x->sub) {
		size_t sub;
		enum kc_tri t = KC_TRUE;
		if ((rc = sub_flow(r, fi, ei, &sub)) ||
		    (rc = resolve(rs, sub, out)))
			return rc;
		if (x->req == KC_R_CONDITIONAL &&
		    (rc = conditions(rs, sub, &t))) {
			alts_release(out);
			return rc;
		}
		if (t == KC_FALSE)
			alts_release(out);
		maybe = t != KC_TRUE || x->req == KC_R_OPTIONAL;
		if (t == KC_FALSE && (rc = alts_one(out, NULL, 0)))
			return nomem(r->k);
	} else {
		const struct kc_auth *a;
		uint32_t g = (uint32_t)(fi << 16 | ei);
		if ((rc = exec_auth(r, fi, ei, &a)))
			return rc;
		if (a->kind == KC_CLIENT) {
			char fw[160];
			flow_path(r, fi, fw, sizeof(fw));
			return ag_err(r->k->err, AG_ERR_INVALID,
				      "%s: %s.authenticationExecutions[%zu]: "
				      "'%s' authenticates clients, not users "
				      "(flow '%s')",
				      r->k->name, fw, ei, x->authenticator,
				      flow_name(r, fi));
		}
		if (alts_one(out, &g, 1))
			return nomem(r->k);
		maybe = maybe || a->kind == KC_MAYBE;
	}
	if (maybe && alts_one(out, NULL, 0)) {
		alts_release(out);
		return nomem(r->k);
	}
	if (out->n > KC_MAX_ALTS) {
		alts_release(out);
		return too_many(r, fi);
	}
	return AG_OK;
}

static ag_code resolve(struct kc_res *rs, size_t fi, struct kc_alts *out)
{
	struct kc_realm *r = rs->r;
	struct kc *k = r->k;
	ag_code rc;
	struct kc_alts alt = {0}, c;

	memset(out, 0, sizeof(*out));
	for (size_t d = 0; d < rs->depth; d++) {
		if (rs->stack[d] != fi)
			continue;
		struct ag_buf b;
		ag_buf_init(&b, 600);
		for (size_t i = d; i < rs->depth; i++)
			ag_buf_printf(&b, "'%s' > ", flow_name(r, rs->stack[i]));
		ag_buf_printf(&b, "'%s'", flow_name(r, fi));
		rc = ag_err(k->err, AG_ERR_INVALID,
			    "%s: %sauthenticationFlows: the flows call each "
			    "other in a cycle: %s",
			    k->name, r->jp, b.data ? b.data : "");
		ag_buf_release(&b);
		return rc;
	}
	if (rs->depth >= KC_MAX_DEPTH) {
		char fw[160];
		flow_path(r, fi, fw, sizeof(fw));
		return ag_err(k->err, AG_ERR_LIMIT,
			      "%s: %s: flow '%s' is nested more than %d "
			      "sub-flows deep",
			      k->name, fw, flow_name(r, fi), KC_MAX_DEPTH);
	}
	if (r->memo[fi].done)
		return alts_copy(&r->memo[fi].alts, out) ? nomem(k) : AG_OK;
	if ((rc = parse_flow(r, fi)))
		return rc;
	rs->stack[rs->depth++] = fi;

	struct kc_flow *f = &r->flows[fi];
	/* Conditions are set apart first.  ALTERNATIVE executions are
	 * looked up only if they take part: an unknown authenticator that
	 * Keycloak ignores is no reason to refuse the export. */
	size_t n_req = 0, n_alt = 0;
	for (size_t o = 0; o < f->n_ex; o++) {
		const struct kc_exec *x = &f->ex[f->order[o]];
		const struct kc_auth *a;
		if (x->req == KC_R_DISABLED)
			continue;
		if (x->req == KC_R_ALTERNATIVE) {
			n_alt++;
			continue;
		}
		if (!x->sub) {
			if ((rc = exec_auth(r, fi, f->order[o], &a)))
				goto out;
			if (a->kind == KC_COND || a->kind == KC_COND_LOA)
				continue;
		}
		n_req++;
	}
	if (!r->legacy && n_req)
		n_alt = 0; /* ignored beside REQUIRED or CONDITIONAL ones */
	bool alt_done = false;

	if (alts_one(out, NULL, 0)) {
		rc = nomem(k);
		goto out;
	}
	for (size_t o = 0; o < f->n_ex; o++) {
		size_t ei = f->order[o];
		const struct kc_exec *x = &f->ex[ei];
		if (x->req == KC_R_DISABLED)
			continue;
		if (x->req == KC_R_ALTERNATIVE) {
			/* One of them, in the place of the first, so that
			 * path ids keep the flow's order. */
			if (!n_alt || alt_done)
				continue;
			alt_done = true;
			for (size_t o2 = o; o2 < f->n_ex; o2++) {
				size_t e2 = f->order[o2];
				const struct kc_exec *x2 = &f->ex[e2];
				const struct kc_auth *a2;
				if (x2->req != KC_R_ALTERNATIVE)
					continue;
				if (!x2->sub) {
					if ((rc = exec_auth(r, fi, e2, &a2)))
						goto out;
					if (a2->kind == KC_COND ||
					    a2->kind == KC_COND_LOA)
						continue;
				}
				if ((rc = child(rs, fi, e2, &c)) ||
				    (rc = alts_merge(r, fi, &alt, &c)))
					goto out;
			}
			/* No set at all only when every one was a condition. */
			if (alt.n && (rc = alts_product(r, fi, out, &alt)))
				goto out;
			continue;
		}
		if (!x->sub && (x->auth->kind == KC_COND ||
				x->auth->kind == KC_COND_LOA))
			continue;
		if ((rc = child(rs, fi, ei, &c)))
			goto out;
		rc = alts_product(r, fi, out, &c);
		alts_release(&c);
		if (rc)
			goto out;
	}
out:
	alts_release(&alt);
	if (!rc) {
		if (alts_copy(out, &r->memo[fi].alts))
			rc = nomem(k);
		r->memo[fi].done = rc == AG_OK;
	}
	if (rc)
		alts_release(out);
	rs->depth--;
	return rc;
}

/* The levels of authentication flow fi's sub-flows test, ascending.
 * Each flow is visited once (seen); loops are resolve()'s to report. */
static ag_code loa_levels(struct kc_realm *r, size_t fi, bool *seen,
			  int64_t *levels, size_t *n, unsigned depth)
{
	ag_code rc;
	if (seen[fi])
		return AG_OK;
	/* The same bound as resolve(), checked before recursing: this walk
	 * runs first, on whatever nesting the export holds. */
	if (depth >= KC_MAX_DEPTH) {
		char fw[160];
		flow_path(r, fi, fw, sizeof(fw));
		return ag_err(r->k->err, AG_ERR_LIMIT,
			      "%s: %s: flow '%s' is nested more than %d "
			      "sub-flows deep",
			      r->k->name, fw, flow_name(r, fi), KC_MAX_DEPTH);
	}
	seen[fi] = true;
	if ((rc = parse_flow(r, fi)))
		return rc;
	struct kc_flow *f = &r->flows[fi];
	for (size_t i = 0; i < f->n_ex; i++) {
		const struct kc_exec *x = &f->ex[i];
		const struct kc_auth *a;
		size_t sub;
		if (x->req == KC_R_DISABLED)
			continue;
		if (x->sub) {
			if (sub_flow(r, fi, i, &sub) == AG_OK &&
			    (rc = loa_levels(r, sub, seen, levels, n,
					     depth + 1)))
				return rc;
			continue;
		}
		/* Unknown authenticators are resolve()'s to report, where
		 * Keycloak would run them. */
		if (!(a = auth_lookup(r->k, x->authenticator)) ||
		    a->kind != KC_COND_LOA)
			continue;
		int64_t l = loa_level(r, x);
		size_t j = 0;
		while (j < *n && levels[j] < l)
			j++;
		if (j < *n && levels[j] == l)
			continue;
		if (*n >= KC_MAX_LEVELS)
			return ag_err(r->k->err, AG_ERR_LIMIT,
				      "%s: flow '%s' tests more than %d levels "
				      "of authentication",
				      r->k->name, flow_name(r, fi),
				      KC_MAX_LEVELS);
		memmove(&levels[j + 1], &levels[j],
			(*n - j) * sizeof(*levels));
		levels[j] = l;
		(*n)++;
	}
	return AG_OK;
}

/* ---- paths ------------------------------------------------------------- */

static bool monitored(const struct kc_realm *r, const char *type)
{
	size_t i;
	const json_t *t;
	if (!r->events)
		return false;
	if (json_array_size(r->event_types) == 0)
		return true; /* Keycloak then records every event type */
	json_array_foreach(r->event_types, i, t)
		if (json_is_string(t) && !strcmp(json_string_value(t), type))
			return true;
	return false;
}

static ag_code add_path(struct kc_realm *r, const struct ag_path_spec *in)
{
	struct kc *k = r->k;
	struct ag_path_spec s = *in;
	s.file = k->name;
	s.line = s.col = 0;
	s.approvals = -1;
	return ag_estate_add_path(k->e, &s, k->err);
}

/* How a flow's sets become paths. */
enum kc_use {
	KC_USE_LOGIN,    /* browser, direct grant, reset: must identify a user */
	KC_USE_BROKER,   /* first broker login: the provider identifies */
	KC_USE_POSTLOGIN /* after a broker login */
};

struct kc_gen {
	const char *label;   /* after "REALM/" in path ids */
	const char *binding; /* what binds the flow, for descriptions */
	enum ag_path_kind kind;
	enum kc_use use;
	const char *to;
	const char *via;     /* or NULL */
	int64_t lifetime;
	const char *event;   /* the Keycloak event type that records it */
	bool loa;            /* split by level of authentication */
};

/* Does set a lead to an existing account's session? */
static bool alt_usable(struct kc_realm *r, const struct kc_alt *a,
		       enum kc_use use)
{
	bool ident = use != KC_USE_LOGIN;
	for (uint32_t i = 0; i < a->n; i++) {
		const struct kc_flow *f = &r->flows[a->x[i] >> 16];
		const struct kc_auth *au = f->ex[a->x[i] & 0xffff].auth;
		switch (au->kind) {
		case KC_DENY:
		case KC_CREATES:
			return false;
		case KC_COOKIE: /* the renewal path of the SSO session */
		case KC_IDP:    /* the identity providers' own paths */
			if (use == KC_USE_LOGIN)
				return false;
			break;
		default:
			break;
		}
		if (au->flags & KC_IDENT)
			ident = true;
	}
	return ident;
}

static ag_code emit(struct kc_realm *r, const struct kc_gen *g, size_t top,
		    const struct kc_alt *a, enum ag_path_kind kind,
		    const char *level)
{
	struct kc *k = r->k;
	const char *methods[70];
	size_t nm = 0;
	struct ag_buf names, desc;
	char fw[160];
	ag_code rc = AG_OK;

	ag_buf_init(&names, 64 * 1024);
	ag_buf_init(&desc, 16 * 1024);
	if (k->federated && g->via)
		methods[nm++] = "federated";
	flow_path(r, top, fw, sizeof(fw));
	ag_buf_printf(&desc, "%s: flow '%s' (%s%s)%s%s", g->binding,
		      flow_name(r, top), fw,
		      r->flows[top].builtin ? ", not in the export" : "",
		      level ? ", " : "", level ? level : "");
	for (uint32_t i = 0; i < a->n; i++) {
		size_t fi = a->x[i] >> 16, ei = a->x[i] & 0xffff;
		const struct kc_exec *x = &r->flows[fi].ex[ei];
		const struct kc_auth *au = x->auth;
		const char *const *ms = au->methods;
		const char *one[2] = {NULL, NULL};
		if (au->kind == KC_WEBAUTHN || au->kind == KC_WEBAUTHN_PL) {
			one[0] = au->kind == KC_WEBAUTHN ? r->webauthn
							 : r->passwordless;
			ms = one;
		} else if (au->kind != KC_METHOD && au->kind != KC_MAYBE) {
			ms = NULL;
		}
		for (; ms && *ms; ms++) {
			size_t j = 0;
			while (j < nm && strcmp(methods[j], *ms))
				j++;
			if (j == nm && nm < 64)
				methods[nm++] = *ms;
		}
		ag_buf_printf(&names, "%s%s", i ? "+" : "", x->authenticator);
		flow_path(r, fi, fw, sizeof(fw));
		ag_buf_printf(&desc, "%s%s.authenticationExecutions[%zu] %s",
			      i ? ", " : "; executions ", fw, ei,
			      x->authenticator);
	}
	char *id = pool_printf(k, "%s/%s%s%s: %s", r->name, g->label,
			       level ? " " : "", level ? level : "",
			       a->n ? (names.data ? names.data : "")
				    : "(no authenticator)");
	if (names.failed) {
		flow_path(r, top, fw, sizeof(fw));
		rc = ag_err(k->err, AG_ERR_LIMIT,
			    "%s: %s: flow '%s' has a way through it too long "
			    "to name (over 64 KiB of authenticator names)",
			    k->name, fw, flow_name(r, top));
		goto out;
	}
	/* A description cut at its cap is still a description. */
	char *sid = id ? pool_id(k, id) : NULL;
	char *sdesc = desc.data ? pool_id(k, desc.data) : NULL;
	if (!sid || (desc.data && !sdesc)) {
		rc = nomem(k);
		goto out;
	}
	bool found;
	uint32_t prev;
	if (ag_strmap_put(&r->path_ids, sid, (uint32_t)kind, &prev,
			  &found)) {
		rc = nomem(k);
		goto out;
	}
	if (found && prev == (uint32_t)kind)
		goto out; /* the same executions by another route */
	if (found) {
		/* The same executions as a path of another kind (a client
		 * whose browser and direct-grant overrides name one flow):
		 * both must stay, or the weaker kind's finding is lost. */
		char *alt = pool_printf(
			k, "%s (%s)", sid,
			ag_path_kind_name(kind));
		sid = alt ? pool_id(k, alt) : NULL;
		if (!sid || ag_strmap_put(&r->path_ids, sid, (uint32_t)kind,
					  &prev, &found)) {
			rc = nomem(k);
			goto out;
		}
		if (found)
			goto out;
	}
	struct ag_path_spec s;
	memset(&s, 0, sizeof(s));
	s.id = sid;
	s.kind = kind;
	s.to = &g->to;
	s.n_to = 1;
	s.methods = methods;
	s.n_methods = nm;
	s.via = g->via ? &g->via : NULL;
	s.n_via = g->via ? 1 : 0;
	s.lifetime = g->lifetime;
	s.monitored = monitored(r, g->event);
	s.description = sdesc;
	rc = add_path(r, &s);
out:
	ag_buf_release(&names);
	ag_buf_release(&desc);
	return rc;
}

/* The name of level l in the realm's acr.loa.map, or NULL. */
static const char *loa_name(const struct kc_realm *r, int64_t l)
{
	const char *key;
	const json_t *v;
	int64_t n;
	json_object_foreach((json_t *)r->loa_map, key, v)
		if (loose_int(v, &n) && n == l)
			return key;
	return NULL;
}

/* Resolves flow top and adds a path for each set a user can satisfy. */
static ag_code gen_flow(struct kc_realm *r, size_t top,
			const struct kc_gen *g)
{
	struct kc_res rs;
	struct kc_alts alts = {0};
	int64_t levels[KC_MAX_LEVELS];
	size_t nl = 0;
	ag_code rc;

	if (!r->memo && !(r->memo = calloc(r->n_flows + 1, sizeof(*r->memo))))
		return nomem(r->k);
	if (g->loa) {
		bool *seen = calloc(r->n_flows + 1, sizeof(*seen));
		if (!seen)
			return nomem(r->k);
		rc = loa_levels(r, top, seen, levels, &nl, 0);
		free(seen);
		if (rc)
			return rc;
	}
	for (size_t li = 0; li < (nl ? nl : 1); li++) {
		char level[200];
		const char *lname = NULL;
		memset(&rs, 0, sizeof(rs));
		rs.r = r;
		rs.loa = nl ? levels[li] : -1;
		if (nl) {
			lname = loa_name(r, levels[li]);
			snprintf(level, sizeof(level), "LoA %lld%s%s%s",
				 (long long)levels[li], lname ? " (" : "",
				 lname ? lname : "", lname ? ")" : "");
		}
		memo_clear(r);
		if ((rc = resolve(&rs, top, &alts)))
			return rc;
		enum ag_path_kind kind =
			nl && li > 0 ? AG_PATH_STEPUP : g->kind;
		for (size_t i = 0; i < alts.n && !rc; i++)
			if (alt_usable(r, &alts.v[i], g->use))
				rc = emit(r, g, top, &alts.v[i], kind,
					  nl ? level : NULL);
		alts_release(&alts);
		if (rc)
			return rc;
	}
	return AG_OK;
}

/* The flow bound as what (an alias), or Keycloak's default alias. */
static ag_code bound_flow(struct kc_realm *r, const char *key,
			  const char *def, size_t *out)
{
	struct kc *k = r->k;
	const char *alias;
	uint32_t v;
	ag_code rc;
	if ((rc = jstr(k, r->j, r->jw, key, &alias)))
		return rc;
	if (!alias || !*alias)
		alias = def;
	if (ag_strmap_get(&r->by_alias, alias, &v)) {
		*out = v;
		return AG_OK;
	}
	return ag_err(k->err, AG_ERR_INVALID,
		      "%s: %s%s: flow '%s' is not among authenticationFlows",
		      k->name, r->jp, key, alias);
}

/* ---- WebAuthn ----------------------------------------------------------- */

/*
 * The catalogue method of a WebAuthn authenticator, from the realm's
 * policy (webAuthnPolicy* for webauthn-authenticator, the
 * webAuthnPolicyPasswordless* twins for the passwordless one):
 *  - the authenticator counts as hardware only when the policy asks for
 *    "cross-platform" attachment (a roaming security key); "platform" and
 *    "not specified" admit synced passkeys, whose keys can leave the
 *    device (SP 800-63B-4 Appendix B);
 *  - it is multi-factor only when the policy requires user verification;
 *    "preferred" and "discouraged" let a credential sign in without it,
 *    which proves possession alone.
 * So: required + cross-platform -> security_key_uv; required otherwise ->
 * passkey_synced; cross-platform without required verification ->
 * security_key; anything else -> software_key (phishing-resistant, one
 * factor, not hardware).
 */
static ag_code webauthn_method(struct kc_realm *r, bool passwordless,
			       const char **out)
{
	char key1[64], key2[64];
	const char *attach, *uv;
	ag_code rc;
	const char *infix = passwordless ? "Passwordless" : "";
	snprintf(key1, sizeof(key1), "webAuthnPolicy%sAuthenticatorAttachment",
		 infix);
	snprintf(key2, sizeof(key2),
		 "webAuthnPolicy%sUserVerificationRequirement", infix);
	if ((rc = jstr(r->k, r->j, r->jw, key1, &attach)) ||
	    (rc = jstr(r->k, r->j, r->jw, key2, &uv)))
		return rc;
	/*
	 * Hardware only when Keycloak can know it: attachment is checked
	 * at registration alone, and "cross-platform" includes phones over
	 * the hybrid transport, whose passkeys sync.  So it takes attested
	 * registration (direct or enterprise) restricted to listed
	 * authenticator models (acceptable AAGUIDs) as well.
	 */
	char key3[80], key4[80];
	const char *conveyance;
	snprintf(key3, sizeof(key3),
		 "webAuthnPolicy%sAttestationConveyancePreference", infix);
	snprintf(key4, sizeof(key4), "webAuthnPolicy%sAcceptableAaguids",
		 infix);
	if ((rc = jstr(r->k, r->j, r->jw, key3, &conveyance)))
		return rc;
	const json_t *aaguids = json_object_get(r->j, key4);
	bool attested = conveyance && (!strcmp(conveyance, "direct") ||
				       !strcmp(conveyance, "enterprise"));
	bool hw = attach && !strcmp(attach, "cross-platform") && attested &&
		  json_is_array(aaguids) && json_array_size(aaguids) > 0;
	bool verified = uv && !strcmp(uv, "required");
	*out = verified ? (hw ? "security_key_uv" : "passkey_synced")
			: (hw ? "security_key" : "software_key");
	return AG_OK;
}

/* ---- roles, groups and workflows --------------------------------------- */

/* A set of role keys ("r:NAME", "c:CLIENT:NAME"), owned. */
struct kc_roles {
	struct ag_strmap map;
	char **keys;
	size_t n, alloc;
};

static void roles_release(struct kc_roles *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->keys[i]);
	free(s->keys);
	ag_strmap_release(&s->map);
	memset(s, 0, sizeof(*s));
}

static ag_code roles_add(struct kc *k, struct kc_roles *s, const char *client,
			 const char *name)
{
	char *key;
	size_t n = strlen(name) + (client ? strlen(client) : 0) + 4;
	bool found;
	uint32_t prev;
	if (s->n >= KC_MAX_ROLES)
		return ag_err(k->err, AG_ERR_LIMIT,
			      "%s: an account holds more than %d roles",
			      k->name, KC_MAX_ROLES);
	if (!(key = malloc(n)))
		return nomem(k);
	if (client)
		snprintf(key, n, "c:%s:%s", client, name);
	else
		snprintf(key, n, "r:%s", name);
	if (ag_strmap_get(&s->map, key, &prev)) {
		free(key);
		return AG_OK;
	}
	if (AG_GROW(s->keys, s->alloc, s->n + 1)) {
		free(key);
		return nomem(k);
	}
	if (ag_strmap_put(&s->map, key, (uint32_t)s->n, &prev, &found)) {
		free(key);
		return nomem(k);
	}
	s->keys[s->n++] = key;
	return AG_OK;
}

/* Adds the roles of {realm: [...], client: {C: [...]}} or of
 * realmRoles/clientRoles members (the names differ by place). */
static ag_code roles_add_json(struct kc *k, struct kc_roles *s,
			      const json_t *realm, const json_t *client)
{
	size_t i;
	const json_t *v;
	const char *cid;
	const json_t *list;
	ag_code rc;
	json_array_foreach(realm, i, v)
		if (json_is_string(v) &&
		    (rc = roles_add(k, s, NULL, json_string_value(v))))
			return rc;
	json_object_foreach((json_t *)client, cid, list)
		json_array_foreach(list, i, v)
			if (json_is_string(v) &&
			    (rc = roles_add(k, s, cid, json_string_value(v))))
				return rc;
	return AG_OK;
}

/* Adds composites until nothing changes. */
static ag_code roles_expand(struct kc_realm *r, struct kc_roles *s)
{
	ag_code rc;
	for (size_t i = 0; i < s->n; i++) {
		uint32_t ci;
		if (!ag_strmap_get(&r->role_comp, s->keys[i], &ci))
			continue;
		const json_t *c = r->comps[ci];
		if ((rc = roles_add_json(r->k, s, json_object_get(c, "realm"),
					 json_object_get(c, "client"))))
			return rc;
	}
	return AG_OK;
}

/* Adds the roles of group path (and its parents, whose roles members
 * inherit). */
static ag_code roles_add_group(struct kc_realm *r, struct kc_roles *s,
			       const char *path)
{
	/* A copy of any length: a cut path would lose the group's roles,
	 * and with them perhaps the account's stricter workflow. */
	char *buf = ag_strdup(path);
	ag_code rc = AG_OK;
	if (!buf)
		return nomem(r->k);
	for (;;) {
		uint32_t gi;
		if (ag_strmap_get(&r->group_by_path, buf, &gi) &&
		    (rc = roles_add_json(
			     r->k, s,
			     json_object_get(r->groups[gi].j, "realmRoles"),
			     json_object_get(r->groups[gi].j, "clientRoles"))))
			break;
		char *slash = strrchr(buf, '/');
		if (!slash || slash == buf)
			break;
		*slash = '\0';
	}
	free(buf);
	return rc;
}

/* "realm-management:realm-admin" from "c:realm-management:realm-admin". */
static const char *role_label(const char *key)
{
	return key + 2;
}

static bool admin_role(const struct kc_realm *r, const char *key)
{
	if (key[0] == 'r')
		return ci_contains(key + 2, "admin");
	const char *client = key + 2, *colon = strchr(client, ':');
	if (!colon)
		return false;
	size_t n = (size_t)(colon - client);
	if (n == 16 && !strncmp(client, "realm-management", 16))
		return true;
	/* The master realm manages realm X through client "X-realm". */
	if (!strcmp(r->name, "master") && n > 6 &&
	    !strncmp(colon - 6, "-realm", 6))
		return true;
	return ci_contains(colon + 1, "admin");
}

static const struct kc_wf *mapped_role(const struct kc *k, const char *key)
{
	for (size_t i = 0; i < k->map.n_roles; i++) {
		const char *m = k->map.roles[i].key;
		if (key[0] == 'r' ? !strcmp(m, key + 2)
				  : (!strncmp(m, "client:", 7) &&
				     !strcmp(m + 7, key + 2)))
			return &k->map.roles[i];
	}
	return NULL;
}

static int wf_rank(const struct ag_workflow *w)
{
	return (w->aal > 0 ? w->aal : 0) * 16 + w->phishing_resistant * 8 +
	       w->hardware * 4 + (int)w->device;
}

/* Where workflow choice w came from, for messages. */
static void wf_origin(const struct kc *k, const struct kc_wf *w,
		      const char *role, bool admin, char *buf, size_t len)
{
	if (w->line)
		snprintf(buf, len, "%s:%u:%u maps %s '%s' to it", k->map.file,
			 w->line, w->col, w == &k->map.def ? "default" : "role",
			 role ? role : w->key);
	else if (admin)
		snprintf(buf, len,
			 "the default mapping gives it to admin role '%s'",
			 role);
	else
		snprintf(buf, len,
			 "it is the default workflow for %s (no role maps to "
			 "another)",
			 role ? role : "users");
}

/*
 * The workflow of an account holding roles s: the strictest of those its
 * roles map to in the mapping file and, for roles the file does not map,
 * of the admin workflow when a role is an admin role (realm-admin, admin,
 * any role containing "admin", any realm-management role); failing both,
 * fallback (the default workflow for people, none for service accounts,
 * which pass admin = false).  who names the account for messages.
 */
static ag_code choose_workflow(struct kc_realm *r, const struct kc_roles *s,
			       const struct kc_wf *fallback, bool admin,
			       const char *who, const char **out)
{
	struct kc *k = r->k;
	const struct kc_wf *best = NULL;
	int best_rank = -1;

	for (int pass = 0; pass < 3; pass++) {
		if (pass == 2 && best)
			break;
		size_t n = pass < 2 ? s->n : 1;
		for (size_t i = 0; i < n; i++) {
			const struct kc_wf *w = fallback;
			const char *role = pass < 2 ? role_label(s->keys[i])
						    : NULL;
			if (pass == 0)
				w = mapped_role(k, s->keys[i]);
			else if (pass == 1)
				w = admin && admin_role(r, s->keys[i]) &&
						    !mapped_role(k, s->keys[i])
					    ? &k->map.admin
					    : NULL;
			if (!w || !w->workflow)
				continue;
			long wi = ag_policy_workflow(k->pol, w->workflow);
			if (wi < 0) {
				char origin[600];
				wf_origin(k, w, role, pass == 1, origin,
					  sizeof(origin));
				return ag_err(k->err, AG_ERR_INVALID,
					      "%s: %s: workflow '%s' is not in "
					      "the policy %s; %s (a mapping "
					      "file maps roles to workflows)",
					      k->name, who, w->workflow,
					      k->pol->file ? k->pol->file : "",
					      origin);
			}
			int rank = wf_rank(&k->pol->workflows[wi]);
			if (rank > best_rank) {
				best = w;
				best_rank = rank;
			}
		}
	}
	*out = best ? best->workflow : NULL;
	return AG_OK;
}

static ag_code add_composite(struct kc_realm *r, const char *client,
			     const json_t *role)
{
	struct kc *k = r->k;
	const json_t *name = json_object_get(role, "name");
	const json_t *comp = json_object_get(role, "composites");
	bool found;
	uint32_t prev;
	if (!json_is_string(name) || !json_is_object(comp))
		return AG_OK;
	char *key = client ? pool_printf(k, "c:%s:%s", client,
					 json_string_value(name))
			   : pool_printf(k, "r:%s", json_string_value(name));
	if (!key || AG_GROW(r->comps, r->comps_alloc, r->n_comps + 1) ||
	    ag_strmap_put(&r->role_comp, key, (uint32_t)r->n_comps, &prev,
			  &found))
		return nomem(k);
	if (!found)
		r->comps[r->n_comps++] = comp;
	return AG_OK;
}

/* The composites of roles.realm[] and roles.client{}, for expansion. */
static ag_code load_roles(struct kc_realm *r)
{
	struct kc *k = r->k;
	const json_t *roles, *realm, *client, *v, *list;
	const char *cid;
	size_t i;
	ag_code rc;
	char where[128];

	if ((rc = jget(k, r->j, r->jw, "roles", JSON_OBJECT, &roles)))
		return rc;
	snprintf(where, sizeof(where), "%sroles", r->jp);
	if (!roles)
		return AG_OK;
	if ((rc = jget(k, roles, where, "realm", JSON_ARRAY, &realm)) ||
	    (rc = jget(k, roles, where, "client", JSON_OBJECT, &client)))
		return rc;
	json_array_foreach(realm, i, v)
		if ((rc = add_composite(r, NULL, v)))
			return rc;
	json_object_foreach((json_t *)client, cid, list)
		json_array_foreach(list, i, v)
			if ((rc = add_composite(r, cid, v)))
				return rc;
	return AG_OK;
}

static ag_code load_groups(struct kc_realm *r, const json_t *arr,
			   const char *parent, unsigned depth)
{
	struct kc *k = r->k;
	size_t i;
	const json_t *g;
	bool found;
	uint32_t prev;
	ag_code rc;
	if (depth > KC_MAX_GROUP_DEPTH)
		return ag_err(k->err, AG_ERR_LIMIT,
			      "%s: %sgroups: groups nested more than %d deep",
			      k->name, r->jp, KC_MAX_GROUP_DEPTH);
	json_array_foreach(arr, i, g) {
		const json_t *name = json_object_get(g, "name");
		if (!json_is_object(g) || !json_is_string(name))
			continue;
		char *path = pool_printf(k, "%s/%s", parent,
					 json_string_value(name));
		if (!path || AG_GROW(r->groups, r->groups_alloc,
				     r->n_groups + 1) ||
		    ag_strmap_put(&r->group_by_path, path,
				  (uint32_t)r->n_groups, &prev, &found))
			return nomem(k);
		if (!found)
			r->groups[r->n_groups++] = (struct kc_group){path, g};
		const json_t *sub = json_object_get(g, "subGroups");
		if (json_is_array(sub) &&
		    (rc = load_groups(r, sub, path, depth + 1)))
			return rc;
	}
	return AG_OK;
}

/* The default roles every user holds. */
static ag_code roles_add_default(struct kc_realm *r, struct kc_roles *s)
{
	ag_code rc;
	if (r->default_role && (rc = roles_add(r->k, s, NULL, r->default_role)))
		return rc;
	return roles_add_json(r->k, s, r->default_roles, NULL);
}

/* ---- accounts ---------------------------------------------------------- */

static ag_code add_account(struct kc_realm *r, const char *id,
			   enum ag_account_kind kind, const char *workflow,
			   const char *email, bool member)
{
	struct kc *k = r->k;
	struct ag_account_spec s;
	memset(&s, 0, sizeof(s));
	s.id = id;
	s.kind = kind;
	s.workflow = workflow;
	s.email = email;
	s.groups = member ? &r->users_group : NULL;
	s.n_groups = member ? 1 : 0;
	s.file = k->name;
	return ag_estate_add_account(k->e, &s, k->err);
}

/* One user of users[]; *human tells whether it became a person. */
static ag_code import_user(struct kc_realm *r, const json_t *u, size_t i,
			   bool *human)
{
	struct kc *k = r->k;
	char where[128], who[1200];
	const char *username, *email, *sa;
	const json_t *realm_roles, *client_roles, *groups, *v;
	bool enabled;
	struct kc_roles roles = {0};
	ag_code rc;
	size_t gi;

	*human = false;
	snprintf(where, sizeof(where), "%susers[%zu]", r->jp, i);
	if (!json_is_object(u))
		return ag_err(k->err, AG_ERR_INVALID,
			      "%s: %s: expected an object, found %s", k->name,
			      where, json_kind(u));
	if ((rc = jstr(k, u, where, "username", &username)) ||
	    (rc = jstr(k, u, where, "email", &email)) ||
	    (rc = jstr(k, u, where, "serviceAccountClientId", &sa)) ||
	    (rc = jbool(k, u, where, "enabled", true, &enabled)) ||
	    (rc = jget(k, u, where, "realmRoles", JSON_ARRAY, &realm_roles)) ||
	    (rc = jget(k, u, where, "clientRoles", JSON_OBJECT,
		       &client_roles)) ||
	    (rc = jget(k, u, where, "groups", JSON_ARRAY, &groups)))
		return rc;
	if (sa) {
		/* Service accounts come from their clients, with this user's
		 * roles. */
		bool found;
		uint32_t prev;
		if (ag_strmap_put(&r->sa_users, sa, (uint32_t)i, &prev, &found))
			return nomem(k);
		return AG_OK;
	}
	if (!enabled)
		return AG_OK;
	if (!username || !*username)
		return ag_err(k->err, AG_ERR_INVALID,
			      "%s: %s: a user without a username", k->name,
			      where);
	snprintf(who, sizeof(who), "%s (\"%s\")", where, username);
	if ((rc = roles_add_json(k, &roles, realm_roles, client_roles)))
		goto out;
	json_array_foreach(groups, gi, v)
		if (json_is_string(v) &&
		    (rc = roles_add_group(r, &roles, json_string_value(v))))
			goto out;
	const char *workflow;
	if ((rc = roles_add_default(r, &roles)) ||
	    (rc = roles_expand(r, &roles)) ||
	    (rc = choose_workflow(r, &roles, &k->map.def, true, who,
				       &workflow)))
		goto out;
	char *id = pool_printf(k, "%s/%s", r->name, username);
	char *mail = email && *email ? pool_printf(k, "mail:%s", email) : NULL;
	if (!id || (email && *email && !mail)) {
		rc = nomem(k);
		goto out;
	}
	if (!(id = pool_id(k, id)) || (mail && !(mail = pool_id(k, mail)))) {
		rc = nomem(k);
		goto out;
	}
	rc = add_account(r, id, AG_KIND_HUMAN, workflow, mail, true);
	*human = rc == AG_OK;
out:
	roles_release(&roles);
	return rc;
}

/* One representative account, unless its workflow already has one. */
static ag_code representative(struct kc_realm *r, struct kc_roles *s,
			      const char *label, const char **seen,
			      size_t *n_seen, size_t max_seen)
{
	struct kc *k = r->k;
	const char *wf = NULL;
	char who[600];
	ag_code rc;

	snprintf(who, sizeof(who), "%s (\"%s\", no users exported)",
		 r->jw[0] ? r->jw : "the realm", label);
	if ((rc = roles_expand(r, s)) ||
	    (rc = choose_workflow(r, s, NULL, true, who, &wf)))
		return rc;
	if (!wf || (k->map.def.workflow && !strcmp(wf, k->map.def.workflow)))
		return AG_OK;
	for (size_t j = 0; j < *n_seen; j++)
		if (!strcmp(seen[j], wf))
			return AG_OK; /* one account per workflow */
	if (*n_seen < max_seen)
		seen[(*n_seen)++] = wf;
	char *id = pool_printf(k, "%s/%s", r->name, label);
	if (!id || !(id = pool_id(k, id)))
		return nomem(k);
	return add_account(r, id, AG_KIND_HUMAN, wf, NULL, true);
}

/*
 * With no person exported, one account per workflow that some role or
 * group needs ("REALM/role:admin"), tried in this order: realm roles,
 * realm-management's realm-admin, other client roles, groups; and
 * "REALM/any-user", with the default roles, for everyone else.
 */
static ag_code import_representatives(struct kc_realm *r)
{
	struct kc *k = r->k;
	const json_t *roles = json_object_get(r->j, "roles");
	const json_t *realm = json_object_get(roles, "realm");
	const json_t *client = json_object_get(roles, "client");
	const json_t *v, *list;
	const char *cid, *seen[64];
	size_t n_seen = 0, i;
	ag_code rc = AG_OK;

	for (int pass = 0; pass < 4; pass++) {
		if (pass == 0) {
			json_array_foreach(realm, i, v) {
				const json_t *n = json_object_get(v, "name");
				struct kc_roles s = {0};
				if (!json_is_string(n))
					continue;
				const char *label = pool_printf(
					k, "role:%s", json_string_value(n));
				if (!label)
					return nomem(k);
				if (!(rc = roles_add(k, &s, NULL,
						     json_string_value(n))))
					rc = representative(r, &s, label, seen,
							    &n_seen,
							    AG_ARRAY_SIZE(seen));
				roles_release(&s);
				if (rc)
					return rc;
			}
		} else if (pass < 3) {
			json_object_foreach((json_t *)client, cid, list)
				json_array_foreach(list, i, v) {
					const json_t *n =
						json_object_get(v, "name");
					struct kc_roles s = {0};
					if (!json_is_string(n))
						continue;
					const char *nm = json_string_value(n);
					bool ra = !strcmp(cid, "realm-management") &&
						  !strcmp(nm, "realm-admin");
					if ((pass == 1) != ra)
						continue;
					const char *label = pool_printf(
						k, "role:client:%s:%s", cid, nm);
					if (!label)
						return nomem(k);
					if (!(rc = roles_add(k, &s, cid, nm)))
						rc = representative(
							r, &s, label, seen,
							&n_seen,
							AG_ARRAY_SIZE(seen));
					roles_release(&s);
					if (rc)
						return rc;
				}
		} else {
			for (size_t g = 0; g < r->n_groups; g++) {
				struct kc_roles s = {0};
				const char *label = pool_printf(
					k, "group:%s", r->groups[g].path);
				if (!label)
					return nomem(k);
				if (!(rc = roles_add_group(r, &s,
							   r->groups[g].path)))
					rc = representative(r, &s, label, seen,
							    &n_seen,
							    AG_ARRAY_SIZE(seen));
				roles_release(&s);
				if (rc)
					return rc;
			}
		}
	}

	/* Everyone else. */
	struct kc_roles s = {0};
	const char *wf = NULL;
	char who[64];
	snprintf(who, sizeof(who), "%s (\"any-user\", no users exported)",
		 r->jw[0] ? r->jw : "the realm");
	if (!(rc = roles_add_default(r, &s)) && !(rc = roles_expand(r, &s)))
		rc = choose_workflow(r, &s, &k->map.def, true, who, &wf);
	roles_release(&s);
	if (rc)
		return rc;
	char *id = pool_printf(k, "%s/any-user", r->name);
	if (!id || !(id = pool_id(k, id)))
		return nomem(k);
	return add_account(r, id, AG_KIND_HUMAN, wf, NULL, true);
}

/* ---- clients ----------------------------------------------------------- */

/* The flow a client override names (by id, as Keycloak exports it, or
 * by alias). */
static ag_code override_flow(struct kc_realm *r, const json_t *ov,
			     const char *where, const char *key, size_t *out,
			     bool *set)
{
	struct kc *k = r->k;
	const char *v;
	uint32_t fi;
	ag_code rc;
	*set = false;
	if ((rc = jstr(k, ov, where, key, &v)) || !v || !*v)
		return rc;
	if (ag_strmap_get(&r->by_id, v, &fi) ||
	    ag_strmap_get(&r->by_alias, v, &fi)) {
		*out = fi;
		*set = true;
		return AG_OK;
	}
	return ag_err(k->err, AG_ERR_INVALID,
		      "%s: %s.%s: flow '%s' is not among authenticationFlows",
		      k->name, where, key, v);
}

/* Does the realm's client authentication flow (clientAuthenticationFlow,
 * "clients" by default) enable client authenticator id? */
static ag_code client_flow_has(struct kc_realm *r, const char *id, bool *out)
{
	size_t fi;
	ag_code rc;
	*out = false;
	if ((rc = bound_flow(r, "clientAuthenticationFlow", "clients", &fi)) ||
	    (rc = parse_flow(r, fi)))
		return rc;
	const struct kc_flow *f = &r->flows[fi];
	for (size_t i = 0; i < f->n_ex; i++)
		if (!f->ex[i].sub && f->ex[i].req != KC_R_DISABLED &&
		    !strcmp(f->ex[i].authenticator, id))
			*out = true;
	return AG_OK;
}

/*
 * The service account of a client, with the roles of the user Keycloak
 * keeps for it (serviceAccountClientId).  Its workflow: the mapping
 * file's clients: entry; else the strictest its roles map to explicitly;
 * else service: (none by default).  The admin default is about people:
 * a machine is held to a machine workflow only when the mapping says so.
 */
static ag_code service_account(struct kc_realm *r, const char *cid,
			       const char *who, const char *id)
{
	struct kc *k = r->k;
	const char *workflow = NULL;
	struct kc_roles roles = {0};
	ag_code rc = AG_OK;
	const json_t *u;

	for (size_t m = 0; m < k->map.n_clients; m++)
		if (!strcmp(k->map.clients[m].key, cid))
			workflow = k->map.clients[m].workflow;
	if (!workflow) {
		uint32_t ui;
		if (ag_strmap_get(&r->sa_users, cid, &ui)) {
			u = json_array_get(json_object_get(r->j, "users"), ui);
			if ((rc = roles_add_json(
				     k, &roles,
				     json_object_get(u, "realmRoles"),
				     json_object_get(u, "clientRoles"))))
				goto out;
		}
		if ((rc = roles_expand(r, &roles)) ||
		    (rc = choose_workflow(r, &roles, &k->map.service, false,
					  who, &workflow)))
			goto out;
	}
	rc = add_account(r, id, AG_KIND_SERVICE, workflow, NULL, false);
out:
	roles_release(&roles);
	return rc;
}

static ag_code import_client(struct kc_realm *r, const json_t *c, size_t ci,
			     size_t browser, size_t direct)
{
	struct kc *k = r->k;
	char where[128], who[1200];
	const char *cid, *type;
	bool enabled, bearer, pub, dag, sa, standard, implicit;
	const json_t *ov, *attrs;
	ag_code rc;

	snprintf(where, sizeof(where), "%sclients[%zu]", r->jp, ci);
	if (!json_is_object(c))
		return ag_err(k->err, AG_ERR_INVALID,
			      "%s: %s: expected an object, found %s", k->name,
			      where, json_kind(c));
	if ((rc = jstr(k, c, where, "clientId", &cid)) ||
	    (rc = jbool(k, c, where, "enabled", true, &enabled)) ||
	    (rc = jbool(k, c, where, "bearerOnly", false, &bearer)) ||
	    (rc = jbool(k, c, where, "publicClient", false, &pub)) ||
	    (rc = jbool(k, c, where, "directAccessGrantsEnabled", false,
			&dag)) ||
	    (rc = jbool(k, c, where, "serviceAccountsEnabled", false, &sa)) ||
	    (rc = jbool(k, c, where, "standardFlowEnabled", true,
			&standard)) ||
	    (rc = jbool(k, c, where, "implicitFlowEnabled", false,
			&implicit)) ||
	    (rc = jstr(k, c, where, "clientAuthenticatorType", &type)) ||
	    (rc = jget(k, c, where, "authenticationFlowBindingOverrides",
		       JSON_OBJECT, &ov)) ||
	    (rc = jget(k, c, where, "attributes", JSON_OBJECT, &attrs)))
		return rc;
	if (!cid || !*cid)
		return ag_err(k->err, AG_ERR_INVALID,
			      "%s: %s: a client without a clientId", k->name,
			      where);
	if (!enabled || bearer)
		return AG_OK; /* nobody signs in through it */
	snprintf(who, sizeof(who), "%s (\"%s\")", where, cid);

	char owhere[192];
	snprintf(owhere, sizeof(owhere), "%s.authenticationFlowBindingOverrides",
		 where);
	size_t fb = browser, fd = direct;
	bool ob = false, od = false;
	if (ov && ((rc = override_flow(r, ov, owhere, "browser", &fb, &ob)) ||
		   (rc = override_flow(r, ov, owhere, "direct_grant", &fd,
				       &od))))
		return rc;

	if (ob && (standard || implicit)) {
		char *label = pool_printf(k, "client:%s: %s", cid,
					  flow_name(r, fb));
		char *binding = pool_printf(k, "%s.browser", owhere);
		if (!label || !binding)
			return nomem(k);
		struct kc_gen g = {label, binding, AG_PATH_LOGIN, KC_USE_LOGIN,
				   r->users_to, NULL, -1, "LOGIN", true};
		if ((rc = gen_flow(r, fb, &g)))
			return rc;
	}
	if (dag) {
		/* Resource-owner password grant: the direct grant flow, with
		 * no browser in between (legacy, docs/audit.md). */
		char *label = pool_printf(k, "client:%s: %s", cid,
					  flow_name(r, fd));
		char *binding =
			od ? pool_printf(k, "%s.direct_grant", owhere)
			   : pool_printf(k, "%s.directAccessGrantsEnabled, "
					 "%sdirectGrantFlow",
					 where, r->jp);
		if (!label || !binding)
			return nomem(k);
		struct kc_gen g = {label, binding, AG_PATH_LEGACY,
				   KC_USE_LOGIN, r->users_to, NULL, -1,
				   "LOGIN", false};
		if ((rc = gen_flow(r, fd, &g)))
			return rc;
	}
	if (sa && !pub) {
		/* Keycloak's default is a client secret. */
		const char *t = type ? type : "client-secret";
		const struct kc_auth *a = auth_lookup(k, t);
		if (!a || (a->kind != KC_CLIENT && a->kind != KC_METHOD))
			return ag_err(k->err, AG_ERR_INVALID,
				      "%s: %s.clientAuthenticatorType: unknown "
				      "client authenticator '%s' of client "
				      "'%s'; it is not guessed",
				      k->name, where, t, cid);
		bool enabled_in_flow;
		if ((rc = client_flow_has(r, a->id, &enabled_in_flow)))
			return rc;
		char *id = pool_printf(k, "%s/client:%s", r->name, cid);
		char *pid = pool_printf(k, "%s/client:%s: client credentials "
					"(%s)",
					r->name, cid, a->id);
		char *desc = pool_printf(
			k, "%s: serviceAccountsEnabled, clientAuthenticatorType "
			   "%s%s",
			who, a->id,
			enabled_in_flow ? ""
					: " (which clientAuthenticationFlow "
					  "does not enable)");
		if (!id || !pid || !desc || !(id = pool_id(k, id)) ||
		    !(pid = pool_id(k, pid)) || !(desc = pool_id(k, desc)))
			return nomem(k);
		if ((rc = service_account(r, cid, who, id)))
			return rc;
		struct ag_path_spec s;
		const char *to = id;
		size_t nm = 0;
		while (a->methods && a->methods[nm])
			nm++;
		memset(&s, 0, sizeof(s));
		s.id = pid;
		s.kind = AG_PATH_API;
		s.to = &to;
		s.n_to = 1;
		s.methods = a->methods;
		s.n_methods = nm;
		s.lifetime = -1;
		s.monitored = monitored(r, "CLIENT_LOGIN");
		s.description = desc;
		/* Keycloak 18 and later record when the secret was made: its
		 * last rotation.  Not "created": the export does not say when
		 * the secret was last used, and an unknown last use is not
		 * "never used since creation" (AG-N02). */
		int64_t made;
		const json_t *ct =
			json_object_get(attrs, "client.secret.creation.time");
		if (ct && a->methods && !strcmp(a->methods[0], "client_secret") &&
		    loose_int(ct, &made) && made > 0)
			s.last_rotated = made;
		if ((rc = add_path(r, &s)))
			return rc;
	}
	return AG_OK;
}

/* ---- identity providers ----------------------------------------------- */

static ag_code import_idp(struct kc_realm *r, const json_t *p, size_t pi,
			  const char *fbl_default)
{
	struct kc *k = r->k;
	char where[128];
	const char *alias, *fbl, *post;
	bool enabled, link_only;
	ag_code rc;
	uint32_t v;

	snprintf(where, sizeof(where), "%sidentityProviders[%zu]", r->jp, pi);
	if (!json_is_object(p))
		return ag_err(k->err, AG_ERR_INVALID,
			      "%s: %s: expected an object, found %s", k->name,
			      where, json_kind(p));
	if ((rc = jstr(k, p, where, "alias", &alias)) ||
	    (rc = jbool(k, p, where, "enabled", true, &enabled)) ||
	    (rc = jbool(k, p, where, "linkOnly", false, &link_only)) ||
	    (rc = jstr(k, p, where, "firstBrokerLoginFlowAlias", &fbl)) ||
	    (rc = jstr(k, p, where, "postBrokerLoginFlowAlias", &post)))
		return rc;
	if (!alias || !*alias)
		return ag_err(k->err, AG_ERR_INVALID,
			      "%s: %s: an identity provider without an alias",
			      k->name, where);
	if (!enabled || link_only)
		return AG_OK;
	char *ext = pool_printf(k, "%s/idp:%s", r->name, alias);
	if (!ext || !(ext = pool_id(k, ext)))
		return nomem(k);

	/*
	 * Signing in through the provider: as strong as the account there,
	 * which the export cannot describe (an undescribed external account,
	 * AG-P13), plus the post-broker-login flow if any.  The catalogue has
	 * no built-in method for "the provider vouches", so unless the policy
	 * defines a "federated" method (delegated to via accounts) the path
	 * carries only the post-login flow's methods.
	 */
	size_t fi;
	if (post && *post) {
		if (!ag_strmap_get(&r->by_alias, post, &v))
			return ag_err(k->err, AG_ERR_INVALID,
				      "%s: %s.postBrokerLoginFlowAlias: flow "
				      "'%s' is not among authenticationFlows",
				      k->name, where, post);
		char *label = pool_printf(k, "idp:%s: login + %s", alias, post);
		char *binding = pool_printf(k, "%s.postBrokerLoginFlowAlias",
					    where);
		if (!label || !binding)
			return nomem(k);
		struct kc_gen g = {label, binding, AG_PATH_LOGIN,
				   KC_USE_POSTLOGIN, r->users_to, ext, -1,
				   "IDENTITY_PROVIDER_LOGIN", false};
		if ((rc = gen_flow(r, v, &g)))
			return rc;
	} else {
		char *id = pool_printf(k, "%s/idp:%s: login", r->name, alias);
		char *desc = pool_printf(k, "%s: sign-in through identity "
					 "provider '%s'",
					 where, alias);
		if (!id || !desc || !(id = pool_id(k, id)) ||
		    !(desc = pool_id(k, desc)))
			return nomem(k);
		const char *fed = "federated";
		const char *to = r->users_to, *via = ext;
		struct ag_path_spec s;
		memset(&s, 0, sizeof(s));
		s.id = id;
		s.kind = AG_PATH_LOGIN;
		s.to = &to;
		s.n_to = 1;
		s.methods = &fed;
		s.n_methods = k->federated ? 1 : 0;
		s.via = &via;
		s.n_via = 1;
		s.lifetime = -1;
		s.monitored = monitored(r, "IDENTITY_PROVIDER_LOGIN");
		s.description = desc;
		if ((rc = add_path(r, &s)))
			return rc;
	}

	/* Linking the provider's account to an existing user (first broker
	 * login) binds a new way in: an enrollment path. */
	const char *fa = fbl && *fbl ? fbl : fbl_default;
	if (!ag_strmap_get(&r->by_alias, fa, &v))
		return ag_err(k->err, AG_ERR_INVALID,
			      "%s: %s.firstBrokerLoginFlowAlias: flow '%s' is "
			      "not among authenticationFlows",
			      k->name, where, fa);
	fi = v;
	char *label = pool_printf(k, "idp:%s: %s", alias, fa);
	char *binding = pool_printf(k, "%s.firstBrokerLoginFlowAlias", where);
	if (!label || !binding)
		return nomem(k);
	struct kc_gen g = {label, binding, AG_PATH_ENROLLMENT, KC_USE_BROKER,
			   r->users_to, ext, -1,
			   "IDENTITY_PROVIDER_FIRST_LOGIN", false};
	return gen_flow(r, fi, &g);
}

/* ---- realms ------------------------------------------------------------ */

/* Keycloak before 8.0 ("3.2.0.Final"; Red Hat SSO 7.0-7.3 as "7.3.0.GA"). */
static bool legacy_version(const char *v)
{
	char *end;
	if (!v)
		return false;
	long major = strtol(v, &end, 10);
	if (end == v || major < 1)
		return false;
	if (major == 7 && (strstr(v, ".GA") || strstr(v, "redhat"))) {
		long minor = *end == '.' ? strtol(end + 1, NULL, 10) : 0;
		return minor < 4;
	}
	return major < 8;
}

static ag_code renewal_paths(struct kc_realm *r)
{
	struct kc *k = r->k;
	int64_t sso, sso_rm, offline;
	bool remember, offline_capped;
	const char *to = r->users_to;
	ag_code rc;

	if ((rc = jint(k, r->j, r->jw, "ssoSessionMaxLifespan", 36000, &sso)) ||
	    (rc = jint(k, r->j, r->jw, "ssoSessionMaxLifespanRememberMe", 0,
		       &sso_rm)) ||
	    (rc = jbool(k, r->j, r->jw, "rememberMe", false, &remember)) ||
	    (rc = jbool(k, r->j, r->jw, "offlineSessionMaxLifespanEnabled",
			false, &offline_capped)) ||
	    (rc = jint(k, r->j, r->jw, "offlineSessionMaxLifespan", 5184000,
		       &offline)))
		return rc;
	if (remember && sso_rm > sso)
		sso = sso_rm;

	const char *cookie = "session_cookie", *refresh = "refresh_token";
	char *id = pool_printf(k, "%s/sso session", r->name);
	char *desc = pool_printf(
		k, "%sssoSessionMaxLifespan%s: the SSO cookie (auth-cookie) "
		   "and the refresh tokens of the session",
		r->jp, remember ? " (rememberMe: the longer of it and "
				  "ssoSessionMaxLifespanRememberMe)"
				: "");
	if (!id || !desc || !(id = pool_id(k, id)) || !(desc = pool_id(k, desc)))
		return nomem(k);
	struct ag_path_spec s;
	memset(&s, 0, sizeof(s));
	s.id = id;
	s.kind = AG_PATH_RENEWAL;
	s.to = &to;
	s.n_to = 1;
	s.methods = &cookie;
	s.n_methods = 1;
	s.lifetime = sso > 0 ? sso : -1;
	s.monitored = monitored(r, "REFRESH_TOKEN");
	s.description = desc;
	if ((rc = add_path(r, &s)))
		return rc;

	/* Offline tokens outlive the session.  Keycloak grants them to users
	 * with the offline_access role, a default role in every realm. */
	id = pool_printf(k, "%s/offline session", r->name);
	desc = pool_printf(k,
			   offline_capped
				   ? "%sofflineSessionMaxLifespan: offline "
				     "tokens (scope offline_access)"
				   : "%sofflineSessionMaxLifespanEnabled is "
				     "false: offline tokens (scope "
				     "offline_access) live as long as they "
				     "are used",
			   r->jp);
	if (!id || !desc || !(id = pool_id(k, id)) || !(desc = pool_id(k, desc)))
		return nomem(k);
	s.id = id;
	s.methods = &refresh;
	s.lifetime = offline_capped && offline > 0 ? offline : -1;
	s.description = desc;
	return add_path(r, &s);
}

static ag_code realm_paths(struct kc_realm *r)
{
	struct kc *k = r->k;
	size_t browser = 0, reset = 0, direct = 0;
	const char *fbl;
	bool reset_allowed;
	const json_t *clients, *idps, *v;
	size_t i;
	ag_code rc;

	if ((rc = bound_flow(r, "browserFlow", "browser", &browser)) ||
	    (rc = bound_flow(r, "resetCredentialsFlow", "reset credentials",
			     &reset)) ||
	    (rc = bound_flow(r, "directGrantFlow", "direct grant", &direct)) ||
	    (rc = jstr(k, r->j, r->jw, "firstBrokerLoginFlow", &fbl)) ||
	    (rc = jbool(k, r->j, r->jw, "resetPasswordAllowed", false,
			&reset_allowed)) ||
	    (rc = jget(k, r->j, r->jw, "clients", JSON_ARRAY, &clients)) ||
	    (rc = jget(k, r->j, r->jw, "identityProviders", JSON_ARRAY, &idps)))
		return rc;

	char binding[64];
	snprintf(binding, sizeof(binding), "%sbrowserFlow", r->jp);
	struct kc_gen login = {flow_name(r, browser), binding, AG_PATH_LOGIN,
			       KC_USE_LOGIN, r->users_to, NULL, -1, "LOGIN",
			       true};
	if ((rc = gen_flow(r, browser, &login)))
		return rc;

	/* "Forgot password?" exists only when resetPasswordAllowed is on.
	 * The link in the e-mail is valid actionTokenGeneratedByUserLifespan
	 * seconds (default 5 minutes), or the reset-credentials override. */
	if (reset_allowed) {
		int64_t life;
		const json_t *attrs = json_object_get(r->j, "attributes");
		const json_t *ov = json_object_get(
			attrs, "actionTokenGeneratedByUserLifespan.reset-credentials");
		if ((rc = jint(k, r->j, r->jw, "actionTokenGeneratedByUserLifespan",
			       300, &life)))
			return rc;
		int64_t t;
		if (ov && loose_int(ov, &t) && t > 0)
			life = t;
		char rb[96];
		snprintf(rb, sizeof(rb), "%sresetCredentialsFlow", r->jp);
		struct kc_gen g = {flow_name(r, reset), rb, AG_PATH_RECOVERY,
				   KC_USE_LOGIN, r->users_to, NULL,
				   life > 0 ? life : -1, "RESET_PASSWORD",
				   false};
		if ((rc = gen_flow(r, reset, &g)))
			return rc;
	}

	json_array_foreach(clients, i, v)
		if ((rc = import_client(r, v, i, browser, direct)))
			return rc;

	json_array_foreach(idps, i, v)
		if ((rc = import_idp(r, v, i,
				     fbl && *fbl ? fbl : "first broker login")))
			return rc;

	return renewal_paths(r);
}

static ag_code realm_flows(struct kc_realm *r)
{
	struct kc *k = r->k;
	const json_t *flows, *v;
	size_t i;
	ag_code rc;

	if ((rc = jget(k, r->j, r->jw, "authenticationFlows", JSON_ARRAY,
		       &flows)) ||
	    (rc = jget(k, r->j, r->jw, "authenticatorConfig", JSON_ARRAY,
		       &r->configs)))
		return rc;
	json_array_foreach(flows, i, v)
		if ((rc = flow_add(r, v, i, false)))
			return rc;
	if (!k->defaults) {
		json_error_t je;
		k->defaults = json_loads(kc_default_flows, 0, &je);
		if (!k->defaults)
			return ag_err(k->err, AG_ERR_INTERNAL,
				      "%s: Keycloak's default flows do not "
				      "parse: %s",
				      k->name, je.text);
	}
	json_array_foreach(k->defaults, i, v)
		if ((rc = flow_add(r, v, i, true)))
			return rc;
	return AG_OK;
}

static ag_code realm_accounts(struct kc_realm *r)
{
	struct kc *k = r->k;
	const json_t *users, *groups, *drole, *v;
	size_t i, humans = 0;
	ag_code rc;

	if ((rc = jget(k, r->j, r->jw, "users", JSON_ARRAY, &users)) ||
	    (rc = jget(k, r->j, r->jw, "groups", JSON_ARRAY, &groups)) ||
	    (rc = jget(k, r->j, r->jw, "defaultRole", JSON_OBJECT, &drole)) ||
	    (rc = jget(k, r->j, r->jw, "defaultRoles", JSON_ARRAY,
		       &r->default_roles)))
		return rc;
	if (drole) {
		const json_t *n = json_object_get(drole, "name");
		r->default_role = json_is_string(n) ? json_string_value(n) : NULL;
	}
	if ((rc = load_roles(r)) ||
	    (groups && (rc = load_groups(r, groups, "", 0))))
		return rc;
	json_array_foreach(users, i, v) {
		bool human;
		if ((rc = import_user(r, v, i, &human)))
			return rc;
		humans += human;
	}
	if (humans == 0)
		return import_representatives(r);
	return AG_OK;
}

static void realm_release(struct kc_realm *r)
{
	for (size_t i = 0; i < r->n_flows; i++) {
		free(r->flows[i].ex);
		free(r->flows[i].order);
	}
	memo_clear(r);
	free(r->memo);
	free(r->flows);
	ag_strmap_release(&r->by_alias);
	ag_strmap_release(&r->by_id);
	ag_strmap_release(&r->path_ids);
	ag_strmap_release(&r->role_comp);
	ag_strmap_release(&r->group_by_path);
	ag_strmap_release(&r->sa_users);
	free(r->comps);
	free(r->groups);
}

static ag_code import_realm(struct kc *k, const json_t *j, const char *jp,
			    struct ag_strmap *seen)
{
	struct kc_realm r;
	const char *name, *version, *loa;
	const json_t *attrs;
	ag_code rc;
	bool found;
	uint32_t prev;
	json_t *loa_map = NULL;

	memset(&r, 0, sizeof(r));
	r.k = k;
	r.j = j;
	ag_strlcpy(r.jp, jp, sizeof(r.jp));
	ag_strlcpy(r.jw, jp, sizeof(r.jw));
	if (*r.jw)
		r.jw[strlen(r.jw) - 1] = '\0'; /* "[3]." -> "[3]" */
	ag_strmap_init(&r.by_alias);
	ag_strmap_init(&r.by_id);
	ag_strmap_init(&r.path_ids);
	ag_strmap_init(&r.role_comp);
	ag_strmap_init(&r.group_by_path);
	ag_strmap_init(&r.sa_users);

	if (!json_is_object(j)) {
		rc = ag_err(k->err, AG_ERR_INVALID,
			    "%s: %s: expected a realm (a JSON object), found "
			    "%s",
			    k->name, *r.jw ? r.jw : "the file", json_kind(j));
		goto out;
	}
	if ((rc = jstr(k, j, r.jw, "realm", &name)) ||
	    (rc = jstr(k, j, r.jw, "keycloakVersion", &version)) ||
	    (rc = jbool(k, j, r.jw, "eventsEnabled", false, &r.events)) ||
	    (rc = jget(k, j, r.jw, "enabledEventTypes", JSON_ARRAY,
		       &r.event_types)) ||
	    (rc = jget(k, j, r.jw, "attributes", JSON_OBJECT, &attrs)))
		goto out;
	if (!name || !*name) {
		rc = ag_err(k->err, AG_ERR_INVALID,
			    "%s: %s%snot a Keycloak realm export (no "
			    "\"realm\" name)",
			    k->name, r.jw, *r.jw ? ": " : "");
		goto out;
	}
	if (!(r.name = pool_id(k, name))) {
		rc = nomem(k);
		goto out;
	}
	if (ag_strmap_put(seen, r.name, 0, &prev, &found)) {
		rc = nomem(k);
		goto out;
	}
	if (found) {
		rc = ag_err(k->err, AG_ERR_INVALID,
			    "%s: %s: realm '%s' appears twice in the file",
			    k->name, r.jw, name);
		goto out;
	}
	r.legacy = legacy_version(version);
	char *group = pool_printf(k, "%s/kc-users", r.name);
	if (!group || !(r.users_group = pool_id(k, group))) {
		rc = nomem(k);
		goto out;
	}
	/* kc-users is a group name; paths reach it as "group:NAME". */
	if (!(r.users_to = pool_printf(k, "group:%s", r.users_group))) {
		rc = nomem(k);
		goto out;
	}

	/* acr.loa.map: a JSON object, stored as a string attribute. */
	loa = NULL;
	char aw[40];
	snprintf(aw, sizeof(aw), "%sattributes", jp);
	if (attrs && (rc = jstr(k, attrs, aw, "acr.loa.map", &loa)))
		goto out;
	if (loa && *loa) {
		json_error_t je;
		loa_map = json_loads(loa, JSON_REJECT_DUPLICATES, &je);
		if (!json_is_object(loa_map)) {
			rc = ag_err(k->err, AG_ERR_INVALID,
				    "%s: %sattributes[\"acr.loa.map\"]: not a "
				    "JSON object of ACR names to levels",
				    k->name, jp);
			goto out;
		}
		r.loa_map = loa_map;
	}

	if ((rc = webauthn_method(&r, false, &r.webauthn)) ||
	    (rc = webauthn_method(&r, true, &r.passwordless)) ||
	    (rc = realm_flows(&r)))
		goto out;
	if ((rc = realm_accounts(&r)))
		goto out;
	rc = realm_paths(&r);
out:
	json_decref(loa_map);
	realm_release(&r);
	return rc;
}

ag_code ag_import_keycloak_buffer(struct ag_estate *e, const char *name,
				  const char *buf, size_t len,
				  const struct ag_import_opts *opts,
				  struct ag_error *err)
{
	struct kc k;
	json_t *root = NULL;
	json_error_t je;
	struct ag_strmap seen;
	ag_code rc;

	if (!e || !name || (!buf && len))
		return ag_err(err, AG_ERR_USAGE, "bad arguments");
	if (len > AG_IMPORT_MAX_BYTES)
		return ag_err(err, AG_ERR_LIMIT,
			      "%s: too large for a Keycloak export (at most %u "
			      "bytes)",
			      name, AG_IMPORT_MAX_BYTES);
	memset(&k, 0, sizeof(k));
	k.e = e;
	k.pol = e->policy;
	k.name = name;
	k.err = err;
	k.federated = ag_catalogue_find(&k.pol->catalogue, "federated") >= 0;
	ag_strmap_init(&seen);
	if ((rc = mapping_load(&k, opts ? opts->mapping : NULL)))
		goto out;

	root = json_loadb(buf ? buf : "", len,
			  JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!root) {
		if (je.line > 0)
			rc = ag_err_at(err, AG_ERR_SYNTAX, name,
				       (unsigned)je.line,
				       (unsigned)(je.column > 0 ? je.column : 0),
				       "%s", je.text);
		else
			rc = ag_err(err, AG_ERR_SYNTAX, "%s: %s", name,
				    je.text);
		goto out;
	}
	if (json_is_array(root)) {
		size_t n = json_array_size(root);
		if (n == 0) {
			rc = ag_err(err, AG_ERR_INVALID,
				    "%s: an empty array: no realm to import",
				    name);
			goto out;
		}
		if (n > KC_MAX_REALMS) {
			rc = ag_err(err, AG_ERR_LIMIT,
				    "%s: more than %d realms in one file",
				    name, KC_MAX_REALMS);
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			char jp[32];
			snprintf(jp, sizeof(jp), "[%zu].", i);
			if ((rc = import_realm(&k, json_array_get(root, i), jp,
					       &seen)))
				goto out;
		}
	} else if (json_is_object(root)) {
		rc = import_realm(&k, root, "", &seen);
	} else {
		rc = ag_err(err, AG_ERR_INVALID,
			    "%s: expected a Keycloak realm export (a JSON "
			    "object) or an array of them, found %s",
			    name, json_kind(root));
	}
out:
	json_decref(root);
	json_decref(k.defaults);
	mapping_release(&k.map);
	ag_strmap_release(&seen);
	for (size_t i = 0; i < k.n_pool; i++)
		free(k.pool[i]);
	free(k.pool);
	return rc;
}

ag_code ag_import_keycloak(struct ag_estate *e, const char *path,
			   const struct ag_import_opts *opts,
			   struct ag_error *err)
{
	char *buf;
	size_t len;
	ag_code rc = ag_read_file(path, AG_IMPORT_MAX_BYTES, &buf, &len, err);
	if (rc)
		return rc;
	rc = ag_import_keycloak_buffer(e, path, buf, len, opts, err);
	free(buf);
	return rc;
}
