/*
 * Keycloak events, as the event store keeps them and the admin REST API
 * returns them (EventRepresentation, AdminEventRepresentation), one JSON
 * object each.
 *
 * User events: {time (epoch ms), type, realmId, clientId, userId,
 * sessionId, ipAddress, error, details {auth_method, grant_type,
 * username, credential_type, client_auth_method, ...}}.  The type is one
 * of Keycloak's EventType names; NAME_ERROR is NAME that failed.  The
 * subject is the userId (the one name every event of a user carries:
 * account-console events have no username), else details.username (a
 * failed sign-in of a user Keycloak does not know).
 *
 * Admin events: {time, realmId, authDetails {realmId, clientId, userId,
 * ipAddress}, operationType, resourceType, resourcePath, representation,
 * error}.  An administrator resetting someone's credentials is a
 * help-desk reset of the user in resourcePath, with the administrator as
 * actor: users/ID/reset-password, users/ID/reset-password-email,
 * users/ID/disable-credential-types, and removing users/ID/credentials/CID.
 *
 * Keycloak's events do not say which authenticators a LOGIN used, so its
 * assurance is unknown.  Credential types (credential_type, Keycloak's
 * CredentialModel types): password, otp (totp), webauthn (a second-factor
 * key: software_key, as nothing says it is hardware-bound),
 * webauthn-passwordless (passkey_synced, likewise), recovery-authn-codes
 * (recovery_code).  Client authentication (client_auth_method) maps as the
 * Keycloak importer's: client-secret and client-secret-jwt client_secret,
 * client-jwt and federated-jwt workload_identity, client-x509 mtls.
 */
#include <stdio.h>
#include <string.h>

#include "read-int.h"
#include "banned.h"

enum kk {
	K_LOGIN,
	K_CLIENT,
	K_TOKEN,
	K_RECOVERY,
	K_ENROLL,
	K_RESET
};

static const struct {
	const char *type;
	enum kk kind;
	const char *method; /* NULL: from details.credential_type */
} types[] = {
	{"LOGIN", K_LOGIN, NULL},
	{"CLIENT_LOGIN", K_CLIENT, NULL},
	{"CODE_TO_TOKEN", K_TOKEN, NULL},
	{"REFRESH_TOKEN", K_TOKEN, NULL},
	{"TOKEN_EXCHANGE", K_TOKEN, NULL},
	{"RESET_PASSWORD", K_RECOVERY, NULL},
	{"UPDATE_PASSWORD", K_ENROLL, "password"},
	{"UPDATE_TOTP", K_ENROLL, "totp"},
	{"UPDATE_CREDENTIAL", K_ENROLL, NULL},
	{"REGISTER_CREDENTIAL", K_ENROLL, NULL},
	{"REMOVE_TOTP", K_RESET, "totp"},
	{"REMOVE_CREDENTIAL", K_RESET, NULL},
};

static const struct {
	const char *keycloak, *method;
} creds[] = {
	{"password", "password"},
	{"otp", "totp"},
	{"totp", "totp"},
	{"hotp", "totp"},
	{"webauthn", "software_key"},
	{"webauthn-passwordless", "passkey_synced"},
	{"recovery-authn-codes", "recovery_code"},
	/* client authenticators */
	{"client-secret", "client_secret"},
	{"client-secret-jwt", "client_secret"},
	{"client-jwt", "workload_identity"},
	{"federated-jwt", "workload_identity"},
	{"client-x509", "mtls"},
};

static int cred_method(const struct ag_event_reader *r, const char *c)
{
	if (!c)
		return -1;
	for (size_t i = 0; i < AG_ARRAY_SIZE(creds); i++)
		if (!strcmp(c, creds[i].keycloak))
			return wr_method(r, creds[i].method);
	return -1;
}

static const char *nonempty(const char *s)
{
	return s && *s ? s : NULL;
}

static enum wr_map when(struct ag_event_reader *r)
{
	const struct wj_doc *d = &r->doc;
	int64_t ms;
	if (!wj_int(d, WJ_GET(d, 0, "time"), &ms) || ms < 0 ||
	    ms > 253402300799999LL)
		return wr_skip(r, "no \"time\" in epoch milliseconds");
	r->ev.time_ms = ms;
	return WR_EVENT;
}

/* An administrator's change to a user's credentials. */
static enum wr_map admin_event(struct ag_event_reader *r)
{
	const struct wj_doc *d = &r->doc;
	struct ag_event *ev = &r->ev;
	const char *path = wj_str(d, WJ_GET(d, 0, "resourcePath"));
	const char *op = wj_str(d, WJ_GET(d, 0, "operationType"));
	static const char users[] = "users/";

	if (!path || !op || strncmp(path, users, sizeof(users) - 1))
		return WR_IGNORED;
	const char *id = path + sizeof(users) - 1;
	const char *slash = strchr(id, '/');
	if (!slash || slash == id)
		return WR_IGNORED;
	const char *rest = slash + 1;
	bool reset = !strcmp(rest, "reset-password") ||
		     !strcmp(rest, "reset-password-email") ||
		     !strcmp(rest, "disable-credential-types");
	if (!reset && !strncmp(rest, "credentials/", 12) && rest[12] &&
	    !strchr(rest + 12, '/'))
		reset = !strcmp(op, "ACTION") || !strcmp(op, "DELETE");
	if (!reset)
		return WR_IGNORED;
	enum wr_map m = when(r);
	if (m != WR_EVENT)
		return m;
	ev->subject = wr_scr_str(r, id, (size_t)(slash - id));
	if (!ev->subject)
		return WR_NOMEM;
	ev->kind = AG_EV_HELPDESK_RESET;
	ev->action = path;
	uint32_t ad = WJ_GET(d, 0, "authDetails");
	ev->actor = nonempty(wj_str(d, WJ_GET(d, ad, "userId")));
	const char *ip = wj_str(d, WJ_GET(d, ad, "ipAddress"));
	ev->ip = wr_is_ip(ip) ? ip : NULL;
	uint32_t e = WJ_GET(d, 0, "error");
	ev->result = e != WJ_NONE && !wj_is(d, e, WJ_NULL) ? AG_RES_FAILURE
							   : AG_RES_SUCCESS;
	if (!strcmp(rest, "reset-password"))
		wr_add_method(ev, wr_method(r, "password"));
	return WR_EVENT;
}

enum wr_map wr_map_keycloak(struct ag_event_reader *r)
{
	const struct wj_doc *d = &r->doc;
	struct ag_event *ev = &r->ev;

	if (WJ_GET(d, 0, "operationType") != WJ_NONE)
		return admin_event(r);

	uint32_t tt = WJ_GET(d, 0, "type");
	const char *type = wj_str(d, tt);
	if (!type)
		return wr_skip(r, "no \"type\" string");
	size_t n = d->t[tt].len;
	bool failed = n > 6 && !strcmp(type + n - 6, "_ERROR");
	size_t base = failed ? n - 6 : n;
	int ti = -1;
	for (size_t i = 0; i < AG_ARRAY_SIZE(types) && ti < 0; i++)
		if (strlen(types[i].type) == base &&
		    !memcmp(type, types[i].type, base))
			ti = (int)i;
	if (ti < 0)
		return WR_IGNORED;
	enum wr_map m = when(r);
	if (m != WR_EVENT)
		return m;

	uint32_t det = WJ_GET(d, 0, "details");
	uint32_t e = WJ_GET(d, 0, "error");
	if (e != WJ_NONE && !wj_is(d, e, WJ_NULL))
		failed = true;
	ev->result = failed ? AG_RES_FAILURE : AG_RES_SUCCESS;
	ev->action = type;
	const char *ip = wj_str(d, WJ_GET(d, 0, "ipAddress"));
	ev->ip = wr_is_ip(ip) ? ip : NULL;
	const char *client = nonempty(wj_str(d, WJ_GET(d, 0, "clientId")));
	ev->subject = nonempty(wj_str(d, WJ_GET(d, 0, "userId")));
	if (!ev->subject)
		ev->subject = nonempty(wj_str(d, WJ_GET(d, det, "username")));
	const char *ctype = wj_str(d, WJ_GET(d, det, "credential_type"));

	switch (types[ti].kind) {
	case K_LOGIN: {
		ev->kind = AG_EV_LOGIN;
		const char *grant = wj_str(d, WJ_GET(d, det, "grant_type"));
		if (grant && !strcmp(grant, "password")) {
			/* The direct grant: the resource owner's password
			 * sent by the client (RFC 6749 §4.3). */
			ev->protocol = "ropc";
		} else {
			ev->interactive = !grant;
		}
		break;
	}
	case K_CLIENT:
		/* The client credentials grant: the client is the one
		 * that signs in. */
		ev->kind = AG_EV_TOKEN_USE;
		if (client)
			ev->subject = client;
		ev->credential = client;
		wr_add_method(ev,
			      cred_method(r, wj_str(d, WJ_GET(d, det,
							      "client_auth_"
							      "method"))));
		wr_assure_methods(r, ev);
		break;
	case K_TOKEN:
		ev->kind = AG_EV_TOKEN_USE;
		break;
	case K_RECOVERY:
		ev->kind = AG_EV_RECOVERY;
		break;
	case K_ENROLL:
	case K_RESET:
		ev->kind = types[ti].kind == K_ENROLL ? AG_EV_ENROLL
						      : AG_EV_FACTOR_RESET;
		wr_add_method(ev, types[ti].method
					  ? wr_method(r, types[ti].method)
					  : cred_method(r, ctype));
		break;
	}
	if (!ev->subject)
		return wr_skip(r, "%s without a userId or username", type);
	return WR_EVENT;
}
