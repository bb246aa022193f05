/*
 * AWS CloudTrail records (the CloudTrail record contents of the user
 * guide), one per line or as the elements of a log file's
 * {"Records": [...]} (read.c splits those).
 *
 * Fields read: eventTime, eventName, eventSource, errorCode,
 * sourceIPAddress (only when it is an address: AWS puts service names
 * there for calls services make), userAgent, responseElements.ConsoleLogin,
 * additionalEventData.MFAUsed and .MFAIdentifier, and userIdentity: type,
 * accountId, userName, arn, principalId, accessKeyId.
 *
 * Subjects follow the AWS importer's account ids (src/import/aws.c), so
 * that watch and audit name the same account alike: an IAM user is
 * "aws:ACCOUNT:USER", the root user "aws:ACCOUNT:<root_account>".  Any
 * other identity (an assumed role's session, a federated user) is its
 * ARN, or its principal id, or its user name.
 *
 * ConsoleLogin of an IAM or root user is a password, plus an MFA device
 * when MFAUsed is "Yes".  MFAIdentifier tells the kinds apart: a
 * ":u2f/" ARN is a FIDO security key or passkey (phishing-resistant, but
 * IAM does not say whether it is hardware-bound, so software_key), any
 * other a TOTP device (totp; hardware TOTP tokens are no stronger).  A
 * federated console sign-in (an assumed role, Identity Center) was
 * authenticated elsewhere; its MFAUsed says nothing, so its assurance is
 * unknown.
 */
#include <stdio.h>
#include <string.h>

#include "read-int.h"
#include "banned.h"

static bool is_sts_token(const char *name)
{
	static const char *const n[] = {
		"AssumeRole",	      "AssumeRoleWithSAML",
		"AssumeRoleWithWebIdentity", "GetSessionToken",
		"GetFederationToken",
	};
	for (size_t i = 0; i < AG_ARRAY_SIZE(n); i++)
		if (!strcmp(name, n[i]))
			return true;
	return false;
}

/* The account id field of an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:...),
 * copied into out; false when there is none. */
static bool arn_account(const char *arn, char *out, size_t n)
{
	const char *p = arn;
	for (int i = 0; i < 4; i++) {
		p = strchr(p, ':');
		if (!p)
			return false;
		p++;
	}
	const char *e = strchr(p, ':');
	if (!e || e == p || (size_t)(e - p) >= n)
		return false;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	return true;
}

static const char *subject(struct ag_event_reader *r, uint32_t ui,
			   bool *iam_or_root)
{
	const struct wj_doc *d = &r->doc;
	const char *type = wj_str(d, WJ_GET(d, ui, "type"));
	const char *acct = wj_str(d, WJ_GET(d, ui, "accountId"));
	const char *arn = wj_str(d, WJ_GET(d, ui, "arn"));
	const char *user = wj_str(d, WJ_GET(d, ui, "userName"));
	char from_arn[64];

	*iam_or_root = false;
	if (type && (!strcmp(type, "IAMUser") || !strcmp(type, "Root"))) {
		if ((!acct || !*acct) && arn &&
		    arn_account(arn, from_arn, sizeof(from_arn)))
			acct = from_arn;
		bool root = !strcmp(type, "Root");
		if (!root && (!user || !*user) && arn) {
			/* arn:aws:iam::ACCOUNT:user/PATH/NAME */
			const char *slash = strrchr(arn, '/');
			user = slash && slash[1] ? slash + 1 : NULL;
		}
		if (acct && *acct && (root || (user && *user))) {
			*iam_or_root = true;
			const char *head = wr_scr_cat(r, "aws:", acct, ":");
			return head ? wr_scr_cat(r, head,
						 root ? "<root_account>" : user,
						 NULL)
				    : NULL;
		}
	}
	if (arn && *arn)
		return arn;
	const char *pid = wj_str(d, WJ_GET(d, ui, "principalId"));
	if (pid && *pid)
		return pid;
	return user && *user ? user : NULL;
}

enum wr_map wr_map_cloudtrail(struct ag_event_reader *r)
{
	const struct wj_doc *d = &r->doc;
	struct ag_event *ev = &r->ev;

	const char *name = wj_str(d, WJ_GET(d, 0, "eventName"));
	if (!name)
		return wr_skip(r, "no \"eventName\" string");
	uint32_t ui = WJ_GET(d, 0, "userIdentity");
	const char *key = wj_str(d, WJ_GET(d, ui, "accessKeyId"));
	bool login = !strcmp(name, "ConsoleLogin");
	bool sts = is_sts_token(name);
	bool keyed = key && (!strncmp(key, "AKIA", 4) ||
			     !strncmp(key, "ASIA", 4));
	if (!login && !sts && !keyed)
		return WR_IGNORED;

	uint32_t tt = WJ_GET(d, 0, "eventTime");
	const char *when = wj_str(d, tt);
	if (!when)
		return wr_skip(r, "no \"eventTime\"");
	if (!wr_time_rfc3339(when, d->t[tt].len, &ev->time_ms))
		return wr_skip(r, "\"eventTime\" is not an RFC 3339 time: "
				  "'%.40s'",
			       when);
	if (!wj_is(d, ui, WJ_OBJECT))
		return wr_skip(r, "%s without a \"userIdentity\" object", name);
	bool iam_or_root;
	ev->subject = subject(r, ui, &iam_or_root);
	if (!ev->subject) {
		/* An IAM or root user is named by a built string. */
		if (iam_or_root)
			return WR_NOMEM;
		return wr_skip(r, "%s: the userIdentity names nobody", name);
	}
	ev->action = name;
	const char *ip = wj_str(d, WJ_GET(d, 0, "sourceIPAddress"));
	ev->ip = wr_is_ip(ip) ? ip : NULL;
	bool error = WJ_GET(d, 0, "errorCode") != WJ_NONE &&
		     !wj_is(d, WJ_GET(d, 0, "errorCode"), WJ_NULL);

	if (login) {
		ev->kind = AG_EV_LOGIN;
		ev->interactive = true;
		const char *ua = wj_str(d, WJ_GET(d, 0, "userAgent"));
		ev->device_id = ua && *ua ? ua : NULL;
		const char *res = wj_str(d, wj_get2(d, 0, "responseElements",
						    "ConsoleLogin"));
		if (res && !strcmp(res, "Success"))
			ev->result = AG_RES_SUCCESS;
		else if ((res && !strcmp(res, "Failure")) || error)
			ev->result = AG_RES_FAILURE;
		uint32_t extra = WJ_GET(d, 0, "additionalEventData");
		const char *mfa = wj_str(d, WJ_GET(d, extra, "MFAUsed"));
		if (iam_or_root && mfa) {
			wr_add_method(ev, wr_method(r, "password"));
			if (!strcmp(mfa, "Yes")) {
				const char *dev = wj_str(
					d, WJ_GET(d, extra, "MFAIdentifier"));
				bool fido = dev && strstr(dev, ":u2f/");
				const char *m = fido ? "software_key" : "totp";
				wr_add_method(ev, wr_method(r, m));
			}
			wr_assure_methods(r, ev);
		}
		return WR_EVENT;
	}
	ev->kind = AG_EV_TOKEN_USE;
	ev->result = error ? AG_RES_FAILURE : AG_RES_SUCCESS;
	/* A long-term key (AKIA) is an inventory's credential.  A temporary
	 * one (ASIA) is a role session's, minted by STS for hours: no
	 * inventory lists it, and the session is judged by its subject (the
	 * role) and the AssumeRole that made it. */
	ev->credential = keyed && !strncmp(key, "AKIA", 4) ? key : NULL;
	return WR_EVENT;
}
