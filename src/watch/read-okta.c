/*
 * Okta System Log events (the LogEvent object of the System Log API, and
 * the same JSON as event hooks and log streaming deliver it).
 *
 * Fields read: eventType; published (RFC 3339); outcome.result (SUCCESS,
 * ALLOW: success; FAILURE, DENY: failure; SKIPPED, CHALLENGE, UNKNOWN:
 * unknown); actor and target[] ({id, type, alternateId}); client.ipAddress
 * and client.userAgent.rawUserAgent; device (the LogDevice of Okta Verify
 * devices: id, managed, registered); authenticationContext.credentialType
 * and debugContext.debugData.factor (or factorType).
 *
 * Subjects are alternateIds (the login name), as every event carries
 * them; the id when there is none.  For an event about a user (a factor
 * reset, a password reset) the subject is the target of type User; when
 * the actor is someone else, the change was an administrator's: a
 * help-desk reset, with the actor.
 *
 * Methods.  credentialType: PASSWORD password, OTP totp, SMS sms_otp,
 * EMAIL email_otp; the others (ASSERTION, IWA, JWT, OAuth 2.0) say only
 * that another system vouched, so nothing.  debugData.factor (Okta's
 * factor types): password, sms, call (voice_otp), email (email_otp),
 * push, token, token:software:totp, token:hotp, token:hardware (totp),
 * question (kba), fido_u2f (security_key), fido_webauthn and signed_nonce
 * (Okta FastPass).  WebAuthn and FastPass are phishing-resistant, but the
 * log does not say whether the key is hardware-bound or synced, so they
 * count as the weaker catalogue method (software_key): credited too
 * little, never too much.
 */
#include <stdio.h>
#include <string.h>

#include "read-int.h"
#include "banned.h"

enum okind {
	O_IGNORE = 0,
	O_LOGIN,
	O_ACCESS,
	O_FACTOR_RESET, /* helpdesk_reset when an administrator did it */
	O_RECOVERY,     /* likewise */
	O_PASSWORD,     /* enroll of a password; likewise */
	O_ENROLL
};

struct otype {
	const char *name;
	enum okind kind;
	const char *protocol;
	bool interactive;
};

static const struct otype types[] = {
	{"user.session.start", O_LOGIN, NULL, true},
	{"user.authentication.sso", O_ACCESS, NULL, true},
	{"user.authentication.auth_via_mfa", O_LOGIN, NULL, true},
	{"user.authentication.verify", O_LOGIN, NULL, true},
	{"user.authentication.authenticate", O_LOGIN, NULL, true},
	/* Rich clients are the mail and Office clients that sign in with
	 * a password over basic authentication (ActiveSync, EWS, ...). */
	{"user.authentication.auth_via_richclient", O_LOGIN, "basic", false},
	{"user.authentication.auth_via_radius", O_LOGIN, "radius", false},
	{"user.mfa.factor.deactivate", O_FACTOR_RESET, NULL, false},
	{"user.mfa.factor.reset_all", O_FACTOR_RESET, NULL, false},
	{"user.account.reset_password", O_RECOVERY, NULL, false},
	{"user.account.update_password", O_PASSWORD, NULL, false},
	{"user.mfa.factor.activate", O_ENROLL, NULL, false},
	{"user.mfa.factor.update", O_ENROLL, NULL, false},
};

static const struct otype auth_via = {NULL, O_LOGIN, NULL, true};

static const struct {
	const char *okta, *method;
} factors[] = {
	{"password", "password"},
	{"sms", "sms_otp"},
	{"call", "voice_otp"},
	{"email", "email_otp"},
	{"push", "push"},
	{"token", "totp"},
	{"token:software:totp", "totp"},
	{"token:hotp", "totp"},
	{"token:hardware", "totp"},
	{"question", "kba"},
	{"fido_u2f", "security_key"},
	{"fido_webauthn", "software_key"},
	{"signed_nonce", "software_key"},
	/* authenticationContext.credentialType */
	{"PASSWORD", "password"},
	{"OTP", "totp"},
	{"SMS", "sms_otp"},
	{"EMAIL", "email_otp"},
};

static int factor_method(const struct ag_event_reader *r, const char *f)
{
	if (!f)
		return -1;
	for (size_t i = 0; i < AG_ARRAY_SIZE(factors); i++)
		if (!strcmp(f, factors[i].okta))
			return wr_method(r, factors[i].method);
	return -1;
}

/* An actor or target's name: alternateId, else id. */
static const char *who(const struct wj_doc *d, uint32_t o)
{
	const char *s = wj_str(d, WJ_GET(d, o, "alternateId"));
	if (s && *s)
		return s;
	s = wj_str(d, WJ_GET(d, o, "id"));
	return s && *s ? s : NULL;
}

/* The first target of type User, or WJ_NONE. */
static uint32_t target_user(const struct wj_doc *d)
{
	uint32_t ts = WJ_GET(d, 0, "target");
	if (!wj_is(d, ts, WJ_ARRAY))
		return WJ_NONE;
	for (uint32_t e = wj_first(d, ts); e != WJ_NONE;
	     e = wj_next_elem(d, ts, e)) {
		const char *type = wj_str(d, WJ_GET(d, e, "type"));
		if (wj_is(d, e, WJ_OBJECT) && type && !strcmp(type, "User"))
			return e;
	}
	return WJ_NONE;
}

static bool same_user(const struct wj_doc *d, uint32_t a, uint32_t b)
{
	const char *ia = wj_str(d, WJ_GET(d, a, "id"));
	const char *ib = wj_str(d, WJ_GET(d, b, "id"));
	if (ia && ib && *ia && *ib)
		return !strcmp(ia, ib);
	const char *wa = who(d, a), *wb = who(d, b);
	return wa && wb && !strcmp(wa, wb);
}

enum wr_map wr_map_okta(struct ag_event_reader *r)
{
	const struct wj_doc *d = &r->doc;
	struct ag_event *ev = &r->ev;
	const struct otype *ty = NULL;

	const char *et = wj_str(d, WJ_GET(d, 0, "eventType"));
	if (!et)
		return wr_skip(r, "no \"eventType\" string");
	for (size_t i = 0; i < AG_ARRAY_SIZE(types) && !ty; i++)
		if (!strcmp(et, types[i].name))
			ty = &types[i];
	if (!ty && !strncmp(et, "user.authentication.auth_via_",
			    strlen("user.authentication.auth_via_")))
		ty = &auth_via;
	if (!ty)
		return WR_IGNORED;

	uint32_t pt = WJ_GET(d, 0, "published");
	const char *published = wj_str(d, pt);
	if (!published)
		return wr_skip(r, "no \"published\" time");
	if (!wr_time_rfc3339(published, d->t[pt].len, &ev->time_ms))
		return wr_skip(r, "\"published\" is not an RFC 3339 time: "
				  "'%.40s'",
			       published);
	ev->action = et;
	ev->protocol = ty->protocol;

	const char *res = wj_str(d, wj_get2(d, 0, "outcome", "result"));
	if (res && (!strcmp(res, "SUCCESS") || !strcmp(res, "ALLOW")))
		ev->result = AG_RES_SUCCESS;
	else if (res && (!strcmp(res, "FAILURE") || !strcmp(res, "DENY")))
		ev->result = AG_RES_FAILURE;

	uint32_t client = WJ_GET(d, 0, "client");
	const char *ip = wj_str(d, WJ_GET(d, client, "ipAddress"));
	ev->ip = ip && *ip ? ip : NULL;
	uint32_t dev = WJ_GET(d, 0, "device");
	if (wj_is(d, dev, WJ_OBJECT)) {
		const char *id = wj_str(d, WJ_GET(d, dev, "id"));
		ev->device_id = id && *id ? id : NULL;
		if (wj_is(d, WJ_GET(d, dev, "managed"), WJ_TRUE))
			ev->posture = AG_POSTURE_MANAGED;
		else if (wj_is(d, WJ_GET(d, dev, "registered"), WJ_TRUE))
			ev->posture = AG_POSTURE_KNOWN;
		else
			ev->posture = AG_POSTURE_UNMANAGED;
	}
	if (!ev->device_id) {
		const char *ua = wj_str(d, wj_get2(d, client, "userAgent",
						   "rawUserAgent"));
		ev->device_id = ua && *ua ? ua : NULL;
	}

	uint32_t actor = WJ_GET(d, 0, "actor");
	uint32_t target = target_user(d);
	uint32_t dbg = wj_get2(d, 0, "debugContext", "debugData");
	const char *factor = wj_str(d, WJ_GET(d, dbg, "factor"));
	if (!factor)
		factor = wj_str(d, WJ_GET(d, dbg, "factorType"));
	const char *cred = wj_str(d, wj_get2(d, 0, "authenticationContext",
					     "credentialType"));

	switch (ty->kind) {
	case O_LOGIN:
	case O_ACCESS:
		ev->kind = ty->kind == O_LOGIN ? AG_EV_LOGIN : AG_EV_ACCESS;
		ev->subject = who(d, actor);
		ev->interactive = ty->interactive;
		wr_add_method(ev, factor_method(r, cred));
		wr_add_method(ev, factor_method(r, factor));
		wr_assure_methods(r, ev);
		break;
	case O_FACTOR_RESET:
	case O_RECOVERY:
	case O_PASSWORD:
	case O_ENROLL: {
		bool admin = target != WJ_NONE && wj_is(d, actor, WJ_OBJECT) &&
			     !same_user(d, actor, target);
		ev->subject = who(d, target != WJ_NONE ? target : actor);
		if (admin && ty->kind != O_ENROLL) {
			ev->kind = AG_EV_HELPDESK_RESET;
			ev->actor = who(d, actor);
		} else {
			ev->kind = ty->kind == O_FACTOR_RESET
					   ? AG_EV_FACTOR_RESET
				   : ty->kind == O_RECOVERY ? AG_EV_RECOVERY
							    : AG_EV_ENROLL;
			if (admin)
				ev->actor = who(d, actor);
		}
		if (ty->kind == O_PASSWORD)
			wr_add_method(ev, wr_method(r, "password"));
		else if (ty->kind != O_RECOVERY)
			wr_add_method(ev, factor_method(r, factor));
		break;
	}
	case O_IGNORE:
		return WR_IGNORED;
	}
	if (!ev->subject)
		return wr_skip(r, "%s without an actor or target user", et);
	return WR_EVENT;
}
