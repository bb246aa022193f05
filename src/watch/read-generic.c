/*
 * The generic normalized event (docs/watch.md), one JSON object:
 *
 *   time       RFC 3339, required
 *   subject    the account, required
 *   kind       login, recovery, factor_reset, helpdesk_reset, enroll,
 *              access, token_use or break_glass, required
 *   workflow, protocol, ip, credential, actor, device_id   strings
 *   aal        0..3: the observed level
 *   methods    catalogue method names (the policy's catalogue)
 *   phishing_resistant, interactive                      booleans
 *   device     managed, known or unmanaged
 *   expires    RFC 3339 (token_use: when the token expires)
 *   result     success or failure
 *
 * null is the same as leaving a field out; other keys are ignored.  The
 * observed assurance is aal when given (AAL3 is phishing-resistant and
 * hardware-bound by definition, SP 800-63B-4 §2.3), else what the methods
 * combine to (ag_combine); neither given, it is unknown.  A bad value is
 * the record's reason to be skipped, with the field named.
 */
#include <stdio.h>
#include <string.h>

#include "read-int.h"
#include "banned.h"

static const char *const kinds[AG_EV__COUNT] = {
	[AG_EV_LOGIN] = "login",	  [AG_EV_RECOVERY] = "recovery",
	[AG_EV_FACTOR_RESET] = "factor_reset",
	[AG_EV_HELPDESK_RESET] = "helpdesk_reset",
	[AG_EV_ENROLL] = "enroll",	  [AG_EV_ACCESS] = "access",
	[AG_EV_TOKEN_USE] = "token_use", [AG_EV_BREAK_GLASS] = "break_glass",
};

enum f {
	F_TIME,
	F_SUBJECT,
	F_KIND,
	F_WORKFLOW,
	F_AAL,
	F_METHODS,
	F_PROTOCOL,
	F_DEVICE,
	F_IP,
	F_CREDENTIAL,
	F_EXPIRES,
	F_RESULT,
	F_ACTOR,
	F_DEVICE_ID,
	F_INTERACTIVE,
	F_PR,
	F__COUNT
};

static int field(const char *k, uint32_t n)
{
#define IS(lit) (n == sizeof(lit) - 1 && !memcmp(k, lit, n))
	switch (n) {
	case 2:
		return IS("ip") ? F_IP : -1;
	case 3:
		return IS("aal") ? F_AAL : -1;
	case 4:
		return IS("time") ? F_TIME : IS("kind") ? F_KIND : -1;
	case 5:
		return IS("actor") ? F_ACTOR : -1;
	case 6:
		return IS("device") ? F_DEVICE : IS("result") ? F_RESULT : -1;
	case 7:
		return IS("subject")   ? F_SUBJECT
		       : IS("methods") ? F_METHODS
		       : IS("expires") ? F_EXPIRES
				       : -1;
	case 8:
		return IS("workflow")	? F_WORKFLOW
		       : IS("protocol") ? F_PROTOCOL
					: -1;
	case 9:
		return IS("device_id") ? F_DEVICE_ID : -1;
	case 10:
		return IS("credential") ? F_CREDENTIAL : -1;
	case 11:
		return IS("interactive") ? F_INTERACTIVE : -1;
	case 18:
		return IS("phishing_resistant") ? F_PR : -1;
	}
	return -1;
#undef IS
}

static const char *const names[F__COUNT] = {
	"time",	      "subject",  "kind",   "workflow",	  "aal",
	"methods",    "protocol", "device", "ip",	  "credential",
	"expires",    "result",	  "actor",  "device_id", "interactive",
	"phishing_resistant",
};

/* An optional string field: NULL when absent or null; *bad on a wrong
 * type. */
static const char *opt_str(struct ag_event_reader *r, uint32_t t, int f,
			   bool *bad)
{
	const struct wj_doc *d = &r->doc;
	if (t == WJ_NONE || wj_is(d, t, WJ_NULL))
		return NULL;
	if (!wj_is(d, t, WJ_STRING)) {
		wr_skip(r, "\"%s\" is not a string", names[f]);
		*bad = true;
		return NULL;
	}
	return wj_str(d, t);
}

static enum wr_map time_field(struct ag_event_reader *r, uint32_t t, int f,
			      int64_t *ms)
{
	const struct wj_doc *d = &r->doc;
	if (!wj_is(d, t, WJ_STRING))
		return wr_skip(r, "\"%s\" is not an RFC 3339 time string",
			       names[f]);
	if (!wr_time_rfc3339(wj_str(d, t), d->t[t].len, ms))
		return wr_skip(r, "\"%s\" is not an RFC 3339 time: '%.40s'",
			       names[f], wj_str(d, t));
	return WR_EVENT;
}

enum wr_map wr_map_generic(struct ag_event_reader *r)
{
	const struct wj_doc *d = &r->doc;
	struct ag_event *ev = &r->ev;
	uint32_t t[F__COUNT] = {0};
	bool bad = false;
	enum wr_map m;

	for (uint32_t k = wj_first_root(d); k != WJ_NONE;
	     k = wj_next_member(d, 0, k)) {
		int f = field(d->buf + d->t[k].start, d->t[k].len);
		if (f >= 0)
			t[f] = k + 1;
	}

	if (t[F_TIME] == WJ_NONE)
		return wr_skip(r, "no \"time\"");
	if ((m = time_field(r, t[F_TIME], F_TIME, &ev->time_ms)) != WR_EVENT)
		return m;
	ev->subject = opt_str(r, t[F_SUBJECT], F_SUBJECT, &bad);
	if (bad)
		return WR_SKIP;
	if (!ev->subject || !*ev->subject)
		return wr_skip(r, "no \"subject\"");

	const char *kind = opt_str(r, t[F_KIND], F_KIND, &bad);
	if (bad)
		return WR_SKIP;
	if (!kind)
		return wr_skip(r, "no \"kind\"");
	int ki = -1;
	for (int i = 0; i < AG_EV__COUNT && ki < 0; i++)
		if (kind[0] == kinds[i][0] && !strcmp(kind, kinds[i]))
			ki = i;
	if (ki < 0) {
		struct ag_suggest sg;
		ag_suggest_init(&sg, kind);
		for (int i = 0; i < AG_EV__COUNT; i++)
			ag_suggest_add(&sg, kinds[i]);
		const char *best = ag_suggest_best(&sg);
		if (best)
			return wr_skip(r, "unknown kind '%.40s'; did you mean "
					  "'%s'?",
				       kind, best);
		return wr_skip(r, "unknown kind '%.40s'", kind);
	}
	ev->kind = (uint8_t)ki;
	ev->action = kinds[ki];

	ev->workflow = opt_str(r, t[F_WORKFLOW], F_WORKFLOW, &bad);
	ev->protocol = opt_str(r, t[F_PROTOCOL], F_PROTOCOL, &bad);
	ev->ip = opt_str(r, t[F_IP], F_IP, &bad);
	ev->credential = opt_str(r, t[F_CREDENTIAL], F_CREDENTIAL, &bad);
	ev->actor = opt_str(r, t[F_ACTOR], F_ACTOR, &bad);
	ev->device_id = opt_str(r, t[F_DEVICE_ID], F_DEVICE_ID, &bad);
	const char *device = opt_str(r, t[F_DEVICE], F_DEVICE, &bad);
	const char *result = opt_str(r, t[F_RESULT], F_RESULT, &bad);
	if (bad)
		return WR_SKIP;

	if (device) {
		if (!strcmp(device, "managed"))
			ev->posture = AG_POSTURE_MANAGED;
		else if (!strcmp(device, "known"))
			ev->posture = AG_POSTURE_KNOWN;
		else if (!strcmp(device, "unmanaged"))
			ev->posture = AG_POSTURE_UNMANAGED;
		else
			return wr_skip(r, "\"device\" is '%.40s', not managed, "
					  "known or unmanaged",
				       device);
	}
	if (result) {
		if (!strcmp(result, "success"))
			ev->result = AG_RES_SUCCESS;
		else if (!strcmp(result, "failure"))
			ev->result = AG_RES_FAILURE;
		else
			return wr_skip(r, "\"result\" is '%.40s', not success "
					  "or failure",
				       result);
	}
	if (t[F_EXPIRES] != WJ_NONE && !wj_is(d, t[F_EXPIRES], WJ_NULL) &&
	    (m = time_field(r, t[F_EXPIRES], F_EXPIRES, &ev->expires_ms)) !=
		    WR_EVENT)
		return m;

	int pr = -1;
	for (int f = F_INTERACTIVE; f <= F_PR; f++) {
		uint32_t v = t[f];
		if (v == WJ_NONE || wj_is(d, v, WJ_NULL))
			continue;
		if (!wj_is(d, v, WJ_TRUE) && !wj_is(d, v, WJ_FALSE))
			return wr_skip(r, "\"%s\" is not true or false",
				       names[f]);
		if (f == F_INTERACTIVE)
			ev->interactive = wj_is(d, v, WJ_TRUE);
		else
			pr = wj_is(d, v, WJ_TRUE);
	}

	uint32_t ms = t[F_METHODS];
	if (ms != WJ_NONE && !wj_is(d, ms, WJ_NULL)) {
		if (!wj_is(d, ms, WJ_ARRAY))
			return wr_skip(r, "\"methods\" is not a list");
		for (uint32_t e = wj_first(d, ms); e != WJ_NONE;
		     e = wj_next_elem(d, ms, e)) {
			const char *name = wj_str(d, e);
			if (!name)
				return wr_skip(r, "\"methods\" holds a %s, not "
						  "a method name",
					       wj_is(d, e, WJ_NUMBER)
						       ? "number"
						       : "non-string");
			int k = wr_method(r, name);
			if (k < 0) {
				const struct ag_catalogue *cat =
					&r->p->catalogue;
				struct ag_suggest sg;
				ag_suggest_init(&sg, name);
				for (size_t i = 0; i < cat->n; i++)
					ag_suggest_add(&sg,
						       cat->methods[i].name);
				const char *best = ag_suggest_best(&sg);
				if (best)
					return wr_skip(r, "unknown method "
							  "'%.40s'; did you "
							  "mean '%s'?",
						       name, best);
				return wr_skip(r, "unknown method '%.40s'",
					       name);
			}
			if (!wr_add_method(ev, k))
				return wr_skip(r, "more than %d methods",
					       AG_EVENT_MAX_METHODS);
		}
	}
	wr_assure_methods(r, ev);

	uint32_t ta = t[F_AAL];
	if (ta != WJ_NONE && !wj_is(d, ta, WJ_NULL)) {
		int64_t aal;
		if (!wj_int(d, ta, &aal) || aal < 0 || aal > 3)
			return wr_skip(r, "\"aal\" is not 0, 1, 2 or 3");
		bool had = ev->assurance_known;
		struct ag_assurance c = ev->assurance;
		ev->assurance.aal = (int)aal;
		ev->assurance.phishing_resistant =
			aal == 3 || (had && c.phishing_resistant);
		ev->assurance.hardware = aal == 3 || (had && c.hardware);
		ev->assurance_known = true;
	}
	if (pr >= 0 && ev->assurance_known)
		ev->assurance.phishing_resistant = pr;
	return WR_EVENT;
}
