/*
 * Account recovery held to the account's own level (docs/govern.md, NIST
 * SP 800-63B-4 §4.2).  Assurance logic only: the level of an account and
 * the AAL2 "two codes, or a code and an authenticator" rule come from
 * ag_combine (src/core/method.c); this file adds what ag_combine does not
 * know about recovery: code validity per channel, single use, the four
 * recovery methods of §4.2.1, repeated identity proofing, the AAL3 rule
 * and the notification obligation.  It also reads the JSON form of a
 * check request, which `aalgate recover check` and POST /v1/recovery
 * share.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aalgate/govern.h"
#include "recovery-int.h"
#include "util.h"
#include "banned.h"

/* ---- names ------------------------------------------------------------- */

static const char *const kind_names[AG_RECOVERY_KIND_COUNT] = {
	"saved_code", "issued_code", "recovery_contact",
	"reproofing", "authenticator", "kba",
};

static const char *const channel_names[AG_CHANNEL_COUNT] = {
	"none", "email", "sms", "voice", "postal",
	"postal_outside_contiguous_us",
};

static const char *const proofing_names[AG_PROOFING_COUNT] = {
	"unknown", "remote_unattended", "remote_attended",
	"onsite_unattended", "onsite_attended",
};

static const char *const reason_names[AG_RR__COUNT] = {
	[AG_RR_OK] = "ok",
	[AG_RR_INVALID] = "invalid",
	[AG_RR_KBA] = "kba",
	[AG_RR_PROHIBITED] = "prohibited",
	[AG_RR_CODE_ID_MISSING] = "code_id_missing",
	[AG_RR_CODE_REUSED] = "code_reused",
	[AG_RR_CODE_EXPIRED] = "code_expired",
	[AG_RR_CODE_FUTURE] = "code_from_future",
	[AG_RR_UNKNOWN_METHOD] = "unknown_method",
	[AG_RR_NOT_ENROLLED] = "not_enrolled",
	[AG_RR_NOT_AUTHENTICATOR] = "not_an_authenticator",
	[AG_RR_SAME_CHANNEL] = "same_channel",
	[AG_RR_NOT_PROOFED] = "account_not_proofed",
	[AG_RR_REPROOFING_AAL1] = "reproofing_at_aal1",
	[AG_RR_REPROOFING_BELOW] = "reproofing_below_account_ial",
	[AG_RR_NOT_ONSITE_BIOMETRIC] = "not_onsite_biometric",
	[AG_RR_NOT_OF_RECORD] = "code_not_sent_to_address_of_record",
	[AG_RR_NO_EVIDENCE] = "no_evidence",
	[AG_RR_AAL1_NEEDS_CODE] = "aal1_needs_code",
	[AG_RR_SAME_METHOD] = "same_method",
	[AG_RR_AAL2_INSUFFICIENT] = "aal2_insufficient",
	[AG_RR_AAL3_NEEDS_ONSITE] = "aal3_needs_onsite_biometric",
	[AG_RR_NO_NOTIFY_ADDRESS] = "no_notification_address",
	[AG_RW_LEVEL_ZERO] = "account_level_zero",
	[AG_RW_LEVEL_MISMATCH] = "level_mismatch",
	[AG_RW_IAL_UNKNOWN] = "account_ial_unknown",
	[AG_RW_FEW_ADDRESSES] = "few_notification_addresses",
	[AG_RW_NO_POSTAL] = "no_postal_address",
	[AG_RW_IAL_MISMATCH] = "ial_mismatch",
	[AG_RW_CODE_DESTINATION] = "code_destination_unknown",
	[AG_RW_NOT_ON_RECORD] = "address_not_on_record",
};

static const char *const rule_names[] = {
	"aal1", "aal2", "aal3_as_aal2", "aal3_ial3",
};

static const char *const basis_names[] = {
	"none", "code", "two_codes", "code_and_authenticator", "reproofing",
	"onsite_biometric_reproofing",
};

const char *ag_recovery_kind_name(enum ag_recovery_kind k)
{
	return (unsigned)k < AG_RECOVERY_KIND_COUNT ? kind_names[k] : "unknown";
}

const char *ag_recovery_channel_name(enum ag_recovery_channel c)
{
	return (unsigned)c < AG_CHANNEL_COUNT ? channel_names[c] : "unknown";
}

enum ag_recovery_channel ag_recovery_channel_of(const char *name,
					       const char **near)
{
	struct ag_suggest sg;
	if (near)
		*near = NULL;
	for (int k = AG_CHANNEL_NONE + 1; name && k < AG_CHANNEL_COUNT; k++)
		if (!strcmp(name, channel_names[k]))
			return (enum ag_recovery_channel)k;
	if (near && name) {
		ag_suggest_init(&sg, name);
		for (int k = AG_CHANNEL_NONE + 1; k < AG_CHANNEL_COUNT; k++)
			ag_suggest_add(&sg, channel_names[k]);
		*near = ag_suggest_best(&sg);
	}
	return AG_CHANNEL_NONE;
}

const char *ag_proofing_name(enum ag_proofing p)
{
	return (unsigned)p < AG_PROOFING_COUNT ? proofing_names[p] : "unknown";
}

const char *ag_recovery_reason_name(enum ag_recovery_reason r)
{
	return (unsigned)r < AG_RR__COUNT && reason_names[r] ? reason_names[r]
							     : "unknown";
}

const char *ag_recovery_rule_name(enum ag_recovery_rule r)
{
	return (unsigned)r < AG_ARRAY_SIZE(rule_names) ? rule_names[r]
						       : "unknown";
}

const char *ag_recovery_basis_name(enum ag_recovery_basis b)
{
	return (unsigned)b < AG_ARRAY_SIZE(basis_names) ? basis_names[b]
							: "unknown";
}

/* ---- validity of issued codes (SP 800-63B-4 §4.2.1.2, §4.2.1.3) -------- */

#define HOUR ((int64_t)3600)
#define DAY ((int64_t)86400)

int64_t ag_recovery_code_validity(enum ag_recovery_channel channel,
				  bool contact)
{
	int64_t v;

	switch (channel) {
	case AG_CHANNEL_EMAIL:
		v = 24 * HOUR;
		break;
	case AG_CHANNEL_SMS:
	case AG_CHANNEL_VOICE:
		v = 10 * 60;
		break;
	case AG_CHANNEL_POSTAL:
		v = 21 * DAY;
		break;
	case AG_CHANNEL_POSTAL_NONCONUS:
		v = 30 * DAY;
		break;
	case AG_CHANNEL_NONE:
	case AG_CHANNEL_COUNT:
	default:
		return 0;
	}
	/* §4.2.1.3: the validity of a code sent to a recovery contact MAY be
	 * extended by 24 hours, for the contact to pass it on. */
	return contact ? v + 24 * HOUR : v;
}

/* "24h", "24h10m", "21d1s": days only from two days up, as people say
 * "25 hours" rather than "1 day 1 hour". */
static void fmt_dur(int64_t s, char *buf, size_t len)
{
	static const struct {
		int64_t secs;
		char unit;
	} units[] = {{DAY, 'd'}, {HOUR, 'h'}, {60, 'm'}, {1, 's'}};
	size_t off = 0;

	buf[0] = '\0';
	if (s <= 0) {
		snprintf(buf, len, "0s");
		return;
	}
	for (size_t i = 0; i < AG_ARRAY_SIZE(units) && off < len; i++) {
		if (units[i].unit == 'd' && s < 2 * DAY)
			continue;
		int64_t q = s / units[i].secs;
		if (!q)
			continue;
		s -= q * units[i].secs;
		int w = snprintf(buf + off, len - off, "%lld%c", (long long)q,
				 units[i].unit);
		if (w < 0)
			return;
		off += (size_t)w;
	}
}

/* ---- the check --------------------------------------------------------- */

static void note(struct ag_recovery_result *res, enum ag_recovery_reason r,
		 bool refusal, int evidence, const char *fmt, ...)
	AG_PRINTF(5, 6);

static void note(struct ag_recovery_result *res, enum ag_recovery_reason r,
		 bool refusal, int evidence, const char *fmt, ...)
{
	if (evidence >= 0 && (size_t)evidence < res->n_status && refusal &&
	    res->status[evidence] == AG_RR_OK)
		res->status[evidence] = r;
	if (res->n_notes >= AG_RECOVERY_NOTES_MAX)
		return; /* the status above still refuses */
	struct ag_recovery_note *n = &res->notes[res->n_notes++];
	va_list ap;
	n->reason = r;
	n->refusal = refusal;
	n->evidence = evidence;
	va_start(ap, fmt);
	vsnprintf(n->text, sizeof(n->text), fmt, ap);
	va_end(ap);
}

#define REFUSE(res, r, i, ...) note(res, r, true, i, __VA_ARGS__)
#define WARN(res, r, ...) note(res, r, false, -1, __VA_ARGS__)

static bool is_code(enum ag_recovery_kind k)
{
	return k == AG_RECOVERY_SAVED_CODE || k == AG_RECOVERY_ISSUED_CODE ||
	       k == AG_RECOVERY_CONTACT;
}

static bool is_phone(enum ag_recovery_channel c)
{
	return c == AG_CHANNEL_SMS || c == AG_CHANNEL_VOICE;
}

static bool is_postal(enum ag_recovery_channel c)
{
	return c == AG_CHANNEL_POSTAL || c == AG_CHANNEL_POSTAL_NONCONUS;
}

static bool channel_valid(enum ag_recovery_channel c)
{
	return c > AG_CHANNEL_NONE && c < AG_CHANNEL_COUNT;
}

/* The name of a recovery method of §4.2.1, for messages. */
static const char *method_class_name(enum ag_recovery_kind k)
{
	switch (k) {
	case AG_RECOVERY_SAVED_CODE:
		return "saved";
	case AG_RECOVERY_ISSUED_CODE:
		return "issued";
	case AG_RECOVERY_CONTACT:
		return "recovery contact";
	default:
		return "other";
	}
}

static const char kba_text[] =
	"knowledge-based authentication is never recovery evidence: "
	"SP 800-63B-4 §4.2.1 recognises only saved and issued recovery codes, "
	"recovery contacts and repeated identity proofing, §3.1.1.2 forbids "
	"security questions, and SP 800-63A-4 §2.5.1 forbids knowledge-based "
	"verification";

/* Was code id already spent, before this check or earlier in it? */
static bool code_reused(const char *id, const char *const *used,
			size_t n_used, const struct ag_recovery_evidence *ev,
			size_t before)
{
	for (size_t i = 0; i < n_used; i++)
		if (used[i] && !strcmp(used[i], id))
			return true;
	for (size_t i = 0; i < before; i++)
		if (is_code(ev[i].kind) && ev[i].code_id &&
		    !strcmp(ev[i].code_id, id))
			return true;
	return false;
}

/* A code: saved (§4.2.1.1), issued (§4.2.1.2) or sent to a recovery
 * contact (§4.2.1.3). */
static void check_code(const struct ag_recovery_evidence *e, int i,
		       const struct ag_recovery_evidence *ev,
		       const char *const *used, size_t n_used, int64_t now,
		       struct ag_recovery_result *res)
{
	const char *id = e->code_id && e->code_id[0] ? e->code_id : NULL;

	if (e->kind == AG_RECOVERY_SAVED_CODE) {
		if (e->channel != AG_CHANNEL_NONE) {
			REFUSE(res, AG_RR_INVALID, i,
			       "a saved recovery code is kept by the "
			       "subscriber, not sent: it has no channel");
			return;
		}
		if (!id) {
			REFUSE(res, AG_RR_CODE_ID_MISSING, i,
			       "a saved recovery code is invalidated once used "
			       "(SP 800-63B-4 §4.2.1.1); without its code_id "
			       "its reuse cannot be refused");
			return;
		}
	} else {
		bool contact = e->kind == AG_RECOVERY_CONTACT;
		const char *what = contact ? "a code sent to a recovery contact"
					   : "an issued recovery code";
		if (!channel_valid(e->channel)) {
			REFUSE(res, AG_RR_INVALID, i,
			       "%s needs the channel it was sent by (email, "
			       "sms, voice, postal, "
			       "postal_outside_contiguous_us)", what);
			return;
		}
		if (e->issued_at == AG_TIME_UNSET) {
			REFUSE(res, AG_RR_INVALID, i,
			       "%s needs issued_at: its validity is limited "
			       "(SP 800-63B-4 §4.2.1.2)", what);
			return;
		}
		if (e->issued_at > now) {
			REFUSE(res, AG_RR_CODE_FUTURE, i,
			       "%s issued %llds after now: a clock is wrong "
			       "or the time is forged", what,
			       (long long)((unsigned long long)e->issued_at -
					   (unsigned long long)now));
			return;
		}
		int64_t age, limit = ag_recovery_code_validity(e->channel,
							       contact);
		char a[32], l[32];
		/* A subtraction that overflows is an age beyond any limit. */
		if (__builtin_sub_overflow(now, e->issued_at, &age) ||
		    age > limit) {
			fmt_dur(limit, l, sizeof(l));
			if (__builtin_sub_overflow(now, e->issued_at, &age))
				snprintf(a, sizeof(a), "centuries");
			else
				fmt_dur(age, a, sizeof(a));
			REFUSE(res, AG_RR_CODE_EXPIRED, i,
			       "%s sent by %s is valid for at most %s "
			       "(SP 800-63B-4 %s); this one is %s old", what,
			       ag_recovery_channel_name(e->channel), l,
			       contact ? "§4.2.1.2, extended by 24 hours under "
					 "§4.2.1.3"
				       : "§4.2.1.2",
			       a);
			return;
		}
	}
	if (id && code_reused(id, used, n_used, ev, (size_t)i))
		REFUSE(res, AG_RR_CODE_REUSED, i,
		       "code '%.64s' was already used; a recovery code is "
		       "invalidated once used (SP 800-63B-4 §4.2.1.1)", id);
}

/* Does a code sent by channel to sent_to reach the address of record a?
 * A phone number takes SMS and voice, and is compared by its digits (and
 * a leading +), so "+1 555-0100" is "+15550100"; an e-mail address is
 * compared without case; a postal address exactly, and only on its own
 * channel, whose code validity differs (21 or 30 days). */
static bool same_phone(const char *x, const char *y)
{
	for (;;) {
		while (*x && !(*x >= '0' && *x <= '9') && *x != '+')
			x++;
		while (*y && !(*y >= '0' && *y <= '9') && *y != '+')
			y++;
		if (!*x || !*y)
			return !*x && !*y;
		if (*x++ != *y++)
			return false;
	}
}

bool ag_recovery_reaches(enum ag_recovery_channel channel,
			 const char *sent_to,
			 const struct ag_recovery_address *a)
{
	bool phone = channel == AG_CHANNEL_SMS || channel == AG_CHANNEL_VOICE;
	bool phone_rec = a->channel == AG_CHANNEL_SMS ||
			 a->channel == AG_CHANNEL_VOICE;
	if (phone || phone_rec)
		return phone && phone_rec && same_phone(sent_to, a->address);
	if (channel != a->channel)
		return false;
	if (channel == AG_CHANNEL_EMAIL)
		return !strcasecmp(sent_to, a->address);
	return !strcmp(sent_to, a->address);
}

/* §4.2.1.2: an issued code goes to a validated address of record.  With
 * the account's addresses of record (acct->of_record), one the evidence
 * says went elsewhere is refused: a reset flow that lets the claimant
 * name where the code goes is a takeover.  One that does not say is
 * refused when the policy asks for it, else counted in *unknown. */
static void check_destination(const struct ag_policy *p,
			      const struct ag_recovery_account *acct,
			      const struct ag_recovery_evidence *e, int i,
			      size_t *unknown, struct ag_recovery_result *res)
{
	if (e->kind != AG_RECOVERY_ISSUED_CODE || !acct->of_record)
		return;
	if (!e->sent_to) {
		if (p->recovery.require_sent_to)
			REFUSE(res, AG_RR_NOT_OF_RECORD, i,
			       "the %s code does not say where it was sent "
			       "(\"sent_to\"), and the policy's "
			       "recovery.require_sent_to asks for it: an issued "
			       "recovery code goes to a validated address of "
			       "record (SP 800-63B-4 §4.2.1.2)",
			       ag_recovery_channel_name(e->channel));
		else
			(*unknown)++;
		return;
	}
	for (size_t k = 0; k < acct->n_notify; k++)
		if (acct->notify[k].address &&
		    ag_recovery_reaches(e->channel, e->sent_to,
					&acct->notify[k]))
			return;
	REFUSE(res, AG_RR_NOT_OF_RECORD, i,
	       "the %s code was sent to '%.64s', which is not an address of "
	       "record of the account; an issued recovery code goes to a "
	       "validated address of record (SP 800-63B-4 §4.2.1.2)",
	       ag_recovery_channel_name(e->channel), e->sent_to);
}

/* An authenticator still bound to the account (§4.2.2.2). */
static void check_authenticator(const struct ag_catalogue *cat,
				const struct ag_recovery_account *acct,
				const struct ag_recovery_evidence *e, int i,
				int *midx, struct ag_recovery_result *res)
{
	*midx = -1;
	if (!e->method || !e->method[0]) {
		REFUSE(res, AG_RR_INVALID, i,
		       "an authenticator needs the method that was used");
		return;
	}
	int m = ag_catalogue_find(cat, e->method);
	if (m < 0 || m > UINT16_MAX) {
		REFUSE(res, AG_RR_UNKNOWN_METHOD, i,
		       "no method '%.64s' in the policy's catalogue",
		       e->method);
		return;
	}
	const struct ag_method *mm = &cat->methods[m];
	if (mm->prohibited || mm->factor == AG_FACTOR_NONE) {
		if (!strcmp(mm->name, "kba"))
			REFUSE(res, AG_RR_KBA, i, "%s", kba_text);
		else
			REFUSE(res, AG_RR_PROHIBITED, i,
			       "method '%.64s' is prohibited and never counts",
			       mm->name);
		return;
	}
	if (mm->recovery_only) {
		REFUSE(res, AG_RR_NOT_AUTHENTICATOR, i,
		       "'%.64s' is not an authenticator (SP 800-63B-4 "
		       "§3.1.3.1); a code sent by e-mail counts only as an "
		       "issued recovery code (§4.2.1.2)", mm->name);
		return;
	}
	if (mm->recovery_code && mm->delegated == AG_DELEG_NONE &&
	    !mm->device) {
		REFUSE(res, AG_RR_NOT_AUTHENTICATOR, i,
		       "'%.64s' is a saved recovery code: show it as "
		       "saved_code evidence with its code_id, so that it is "
		       "used once (SP 800-63B-4 §4.2.1.1)", mm->name);
		return;
	}
	bool bound = false;
	for (size_t k = 0; k < acct->n_enrolled && !bound; k++)
		bound = acct->enrolled[k] == (uint16_t)m;
	if (!bound) {
		REFUSE(res, AG_RR_NOT_ENROLLED, i,
		       "'%.64s' is not bound to the account; only an "
		       "authenticator bound to the subscriber account counts "
		       "(SP 800-63B-4 §4.2.2.2)", mm->name);
		return;
	}
	*midx = m;
}

/* Repeated identity proofing (§4.2.1.4), under the rule that applies.
 * Returns whether it counts. */
static bool check_reproofing(const struct ag_recovery_account *acct,
			     const struct ag_recovery_evidence *e, int i,
			     enum ag_recovery_rule rule,
			     struct ag_recovery_result *res)
{
	if (e->ial < 1 || e->ial > 3) {
		REFUSE(res, AG_RR_INVALID, i,
		       "repeated identity proofing needs the IAL it was done "
		       "at (1, 2 or 3)");
		return false;
	}
	if ((unsigned)e->proofing >= AG_PROOFING_COUNT) {
		REFUSE(res, AG_RR_INVALID, i, "unknown proofing type");
		return false;
	}
	if (rule == AG_RULE_AAL1) {
		REFUSE(res, AG_RR_REPROOFING_AAL1, i,
		       "accounts at AAL1 are not identity proofed, so repeated "
		       "identity proofing is not a recovery method for them; "
		       "a saved or issued code or a recovery contact is "
		       "(SP 800-63B-4 §4.2.2.1)");
		return false;
	}
	if (rule == AG_RULE_AAL3_IAL3) {
		if (e->ial == 3 && e->proofing == AG_PROOFING_ONSITE_ATTENDED &&
		    e->biometric)
			return true;
		REFUSE(res, AG_RR_NOT_ONSITE_BIOMETRIC, i,
		       "an account that authenticates at AAL3 and was proofed "
		       "at IAL3 is recovered by a biometric comparison against "
		       "the characteristic collected at its initial proofing, "
		       "in an onsite attended session (SP 800-63B-4 "
		       "§4.2.2.3); this was %s at IAL%d, %s",
		       ag_proofing_name(e->proofing), e->ial,
		       e->biometric ? "with a biometric comparison"
				    : "without a biometric comparison");
		return false;
	}
	if (acct->ial < 1) {
		REFUSE(res, AG_RR_NOT_PROOFED, i,
		       "the account's identity proofing is %s, so repeated "
		       "identity proofing cannot recover it (SP 800-63B-4 "
		       "§4.2.1.4, §4.2.2.2)",
		       acct->ial == 0 ? "none" : "not known");
		return false;
	}
	if (e->ial < acct->ial) {
		REFUSE(res, AG_RR_REPROOFING_BELOW, i,
		       "repeated identity proofing at IAL%d is below the "
		       "account's initial proofing at IAL%d; it must be "
		       "consistent with it (SP 800-63B-4 §4.2.1.4)",
		       e->ial, acct->ial);
		return false;
	}
	return true;
}

/*
 * The AAL2 rule of §4.2.2.2 through ag_combine.  ag_combine counts each
 * distinct recovery-code method once, so it is handed a catalogue of the
 * authenticators shown plus one method per recovery method of §4.2.1
 * present (saved, issued, recovery contact): "two recovery codes obtained
 * using different methods" are codes of two of these, not two e-mails or
 * an e-mail and an SMS, which are both issued codes.
 */
static int combine_recovery(const struct ag_catalogue *cat,
			    const int *auth, size_t n_auth,
			    const bool classes[3])
{
	static const char *const class_names[3] = {
		"saved recovery code", "issued recovery code",
		"recovery contact code",
	};
	struct ag_method m[AG_RECOVERY_EVIDENCE_MAX + 3];
	uint16_t idx[AG_RECOVERY_EVIDENCE_MAX + 3];
	struct ag_catalogue tmp = {.methods = m, .n = 0, .alloc = 0};
	struct ag_assurance a;

	for (size_t k = 0; k < n_auth && tmp.n < AG_RECOVERY_EVIDENCE_MAX;
	     k++) {
		m[tmp.n] = cat->methods[auth[k]];
		idx[tmp.n] = (uint16_t)tmp.n;
		tmp.n++;
	}
	for (size_t c = 0; c < 3; c++) {
		if (!classes[c])
			continue;
		memset(&m[tmp.n], 0, sizeof(m[tmp.n]));
		m[tmp.n].name = (char *)class_names[c];
		m[tmp.n].factor = AG_FACTOR_HAVE;
		m[tmp.n].alone = 1;
		m[tmp.n].recovery_only = true;
		m[tmp.n].recovery_code = true;
		idx[tmp.n] = (uint16_t)tmp.n;
		tmp.n++;
	}
	tmp.alloc = tmp.n;
	ag_combine(&tmp, idx, tmp.n, AG_USE_RECOVERY, &a);
	return a.aal;
}

static void notify(const struct ag_recovery_account *acct,
		   struct ag_recovery_result *res)
{
	bool other = false, postal = false;

	for (size_t k = 0; k < acct->n_notify; k++) {
		if (is_postal(acct->notify[k].channel))
			postal = true;
		else
			other = true;
	}
	/* §4.6: every notification address but postal ones; postal ones too
	 * when there is no other kind or for recovery at AAL3. */
	res->notify_postal = res->held_to == 3 || !other;
	for (size_t k = 0; k < acct->n_notify; k++)
		if (!is_postal(acct->notify[k].channel) || res->notify_postal)
			res->notify[res->n_notify++] = acct->notify[k];
	if (res->n_notify < 2)
		WARN(res, AG_RW_FEW_ADDRESSES,
		     "only %zu notification address will be told of this "
		     "recovery; CSPs support at least two (SP 800-63B-4 §4.6)",
		     res->n_notify);
	if (res->held_to == 3 && !postal)
		WARN(res, AG_RW_NO_POSTAL,
		     "a recovery at AAL3 is also notified by post "
		     "(SP 800-63B-4 §4.6) and the account has no postal "
		     "address");
}

ag_code ag_recovery_check(const struct ag_policy *p,
			  const struct ag_recovery_account *acct,
			  const struct ag_recovery_evidence *ev, size_t n,
			  const char *const *used, size_t n_used, int64_t now,
			  struct ag_recovery_result *res)
{
	if (!res)
		return AG_ERR_USAGE;
	memset(res, 0, sizeof(*res));
	res->accepted = false;
	res->account_ial = AG_IAL_UNKNOWN;
	if (!p || !acct || (n && !ev) || (n_used && !used) ||
	    (acct->n_enrolled && !acct->enrolled) ||
	    (acct->n_notify && !acct->notify))
		return AG_ERR_USAGE;
	if (n > AG_RECOVERY_EVIDENCE_MAX || n_used > AG_RECOVERY_USED_MAX ||
	    acct->n_notify > AG_RECOVERY_NOTIFY_MAX ||
	    acct->n_enrolled > AG_RECOVERY_ENROLLED_MAX)
		return AG_ERR_LIMIT;
	if (acct->aal != AG_AAL_UNSET && (acct->aal < 0 || acct->aal > 3))
		return AG_ERR_USAGE;
	if (acct->ial != AG_IAL_UNKNOWN && (acct->ial < 0 || acct->ial > 3))
		return AG_ERR_USAGE;
	const struct ag_catalogue *cat = &p->catalogue;
	for (size_t k = 0; k < acct->n_enrolled; k++)
		if (acct->enrolled[k] >= cat->n)
			return AG_ERR_USAGE;
	for (size_t k = 0; k < acct->n_notify; k++)
		if (!channel_valid(acct->notify[k].channel))
			return AG_ERR_USAGE;

	/* The account's own level (docs/govern.md): the highest AAL its
	 * enrolled authenticators reach together. */
	struct ag_assurance own = {0};
	bool have_enrolled = acct->n_enrolled > 0;
	if (have_enrolled)
		ag_combine(cat, acct->enrolled, acct->n_enrolled, AG_USE_SIGNIN,
			   &own);
	int level = have_enrolled ? own.aal : 0;
	if (acct->aal != AG_AAL_UNSET) {
		if (have_enrolled && acct->aal != own.aal)
			WARN(res, AG_RW_LEVEL_MISMATCH,
			     "the enrolled methods reach AAL%d but the level "
			     "given is AAL%d; the higher applies",
			     own.aal, acct->aal);
		if (acct->aal > level)
			level = acct->aal;
	}
	res->account_aal = level;
	res->account_ial = acct->ial;
	res->held_to = level < 1 ? 1 : level;
	if (level < 1)
		WARN(res, AG_RW_LEVEL_ZERO,
		     "the account's authenticators reach no AAL; it is held "
		     "to the AAL1 rule, the least of SP 800-63B-4 §4.2.2");
	switch (res->held_to) {
	case 1:
		res->rule = AG_RULE_AAL1;
		break;
	case 2:
		res->rule = AG_RULE_AAL2;
		break;
	default:
		/* §4.2.2.3: proofed at IAL1 or IAL2 (or not at all), as AAL2;
		 * at IAL3, onsite biometric re-proofing.  An IAL nobody knows
		 * gets the strict rule. */
		if (acct->ial == 3 || acct->ial == AG_IAL_UNKNOWN) {
			res->rule = AG_RULE_AAL3_IAL3;
			if (acct->ial == AG_IAL_UNKNOWN)
				WARN(res, AG_RW_IAL_UNKNOWN,
				     "the account's IAL is not known; an AAL3 "
				     "account is held to the rule for IAL3 "
				     "(SP 800-63B-4 §4.2.2.3)");
		} else {
			res->rule = AG_RULE_AAL3_AS_AAL2;
		}
		break;
	}

	/* Each piece of evidence on its own. */
	int auth[AG_RECOVERY_EVIDENCE_MAX];
	size_t n_auth = 0, n_codes = 0, unknown_dest = 0;
	bool classes[3] = {false, false, false}, reproofed = false;
	res->n_status = n;
	for (size_t k = 0; k < n; k++)
		res->status[k] = AG_RR_OK;
	for (size_t k = 0; k < n; k++) {
		const struct ag_recovery_evidence *e = &ev[k];
		int i = (int)k, m;
		switch (e->kind) {
		case AG_RECOVERY_SAVED_CODE:
		case AG_RECOVERY_ISSUED_CODE:
		case AG_RECOVERY_CONTACT:
			check_code(e, i, ev, used, n_used, now, res);
			check_destination(p, acct, e, i, &unknown_dest, res);
			if (res->status[k] == AG_RR_OK) {
				classes[e->kind - AG_RECOVERY_SAVED_CODE] = true;
				n_codes++;
			}
			break;
		case AG_RECOVERY_AUTHENTICATOR:
			check_authenticator(cat, acct, e, i, &m, res);
			break;
		case AG_RECOVERY_REPROOFING:
			if (check_reproofing(acct, e, i, res->rule, res))
				reproofed = true;
			break;
		case AG_RECOVERY_KBA:
			REFUSE(res, AG_RR_KBA, i, "%s", kba_text);
			break;
		case AG_RECOVERY_KIND_COUNT:
		default:
			REFUSE(res, AG_RR_INVALID, i, "unknown evidence kind");
			break;
		}
	}

	if (unknown_dest)
		WARN(res, AG_RW_CODE_DESTINATION,
		     "%zu issued code%s %s not say where %s sent "
		     "(\"sent_to\"), so %s not checked against the "
		     "addresses of record (SP 800-63B-4 §4.2.1.2)",
		     unknown_dest, unknown_dest == 1 ? "" : "s",
		     unknown_dest == 1 ? "does" : "do",
		     unknown_dest == 1 ? "it was" : "they were",
		     unknown_dest == 1 ? "it is" : "they are");

	/* A code sent to the account's phone and an authenticator that
	 * proves the same phone (sms_otp, voice_otp) are one proof of one
	 * device, not a code plus another authenticator.  SP 800-63B-4
	 * §4.2.2.2 does not say so; aalgate refuses it. */
	for (size_t k = 0; k < n; k++) {
		if (ev[k].kind != AG_RECOVERY_AUTHENTICATOR ||
		    res->status[k] != AG_RR_OK)
			continue;
		int m = ag_catalogue_find(cat, ev[k].method);
		if (m < 0 || cat->methods[m].delegated != AG_DELEG_PHONE)
			continue;
		for (size_t j = 0; j < n; j++) {
			if (ev[j].kind != AG_RECOVERY_ISSUED_CODE ||
			    !is_phone(ev[j].channel))
				continue;
			REFUSE(res, AG_RR_SAME_CHANNEL, (int)k,
			       "'%.64s' proves control of the same phone as "
			       "the code issued by %s (evidence %zu): one "
			       "device, not a code plus another authenticator",
			       cat->methods[m].name,
			       ag_recovery_channel_name(ev[j].channel), j);
			break;
		}
	}
	/* The authenticators that count. */
	for (size_t k = 0; k < n; k++) {
		if (ev[k].kind != AG_RECOVERY_AUTHENTICATOR ||
		    res->status[k] != AG_RR_OK)
			continue;
		int m = ag_catalogue_find(cat, ev[k].method);
		if (m >= 0)
			auth[n_auth++] = m;
	}

	/* The rule of the account's level (§4.2.2). */
	size_t n_classes = (size_t)classes[0] + classes[1] + classes[2];
	if (n == 0) {
		REFUSE(res, AG_RR_NO_EVIDENCE, -1, "no recovery evidence");
	} else if (res->rule == AG_RULE_AAL1) {
		if (n_classes)
			res->basis = AG_BASIS_CODE;
		else
			REFUSE(res, AG_RR_AAL1_NEEDS_CODE, -1,
			       "an AAL1 account is recovered with a saved "
			       "recovery code, an issued recovery code or a "
			       "recovery contact (SP 800-63B-4 §4.2.2.1); "
			       "none counted");
	} else if (res->rule == AG_RULE_AAL3_IAL3) {
		if (reproofed)
			res->basis = AG_BASIS_ONSITE_BIOMETRIC;
		else
			REFUSE(res, AG_RR_AAL3_NEEDS_ONSITE, -1,
			       "an account that authenticates at AAL3 and was "
			       "proofed at IAL3 is recovered only by repeated "
			       "identity proofing in an onsite attended "
			       "session with a biometric comparison "
			       "(SP 800-63B-4 §4.2.2.3); recovery codes and "
			       "authenticators are not enough");
	} else {
		const char *who = res->rule == AG_RULE_AAL2
			? "an AAL2 account needs"
			: "an AAL3 account not proofed at IAL3 is recovered "
			  "as at AAL2 (SP 800-63B-4 §4.2.2.3) and needs";
		if (n_classes &&
		    combine_recovery(cat, auth, n_auth, classes) >= 2)
			res->basis = n_classes >= 2
					     ? AG_BASIS_TWO_CODES
					     : AG_BASIS_CODE_AUTHENTICATOR;
		else if (reproofed)
			res->basis = AG_BASIS_REPROOFING;
		else if (n_codes >= 2 && n_classes == 1) {
			enum ag_recovery_kind k = AG_RECOVERY_SAVED_CODE;
			for (size_t c = 0; c < 3; c++)
				if (classes[c])
					k = (enum ag_recovery_kind)c;
			REFUSE(res, AG_RR_SAME_METHOD, -1,
			       "the %zu recovery codes were all obtained by "
			       "one method (%s); %s two codes obtained by "
			       "different methods (saved, issued, recovery "
			       "contact), one code plus a bound single-factor "
			       "authenticator, or repeated identity proofing "
			       "(SP 800-63B-4 §4.2.2.2)",
			       n_codes, method_class_name(k), who);
		} else
			REFUSE(res, AG_RR_AAL2_INSUFFICIENT, -1,
			       "%s two recovery codes obtained by different "
			       "methods (saved, issued, recovery contact), one "
			       "code plus a bound single-factor authenticator, "
			       "or repeated identity proofing (SP 800-63B-4 "
			       "§4.2.2.2); counted: %zu code%s, %zu "
			       "authenticator%s",
			       who, n_codes, n_codes == 1 ? "" : "s", n_auth,
			       n_auth == 1 ? "" : "s");
	}
	if (acct->n_notify == 0)
		REFUSE(res, AG_RR_NO_NOTIFY_ADDRESS, -1,
		       "account recovery must notify the subscriber "
		       "(SP 800-63B-4 §4.2.3, §4.6) and the account has no "
		       "notification address");

	/* Fail closed: any refusal, of a piece of evidence or of the whole,
	 * refuses.  The status array, not the notes, is the record: notes
	 * may run out of room. */
	bool refused = res->basis == AG_BASIS_NONE || acct->n_notify == 0;
	for (size_t k = 0; k < n; k++)
		if (res->status[k] != AG_RR_OK)
			refused = true;
	for (size_t k = 0; k < res->n_notes; k++)
		if (res->notes[k].refusal)
			refused = true;
	if (refused) {
		res->basis = AG_BASIS_NONE;
		return AG_OK;
	}

	/* Obligations: who is told (§4.2.3, §4.6), which codes are spent and
	 * whether a new saved code is due (§4.2.1.1). */
	notify(acct, res);
	for (size_t k = 0; k < n; k++) {
		if (!is_code(ev[k].kind))
			continue;
		if (ev[k].code_id && ev[k].code_id[0])
			res->invalidate[res->n_invalidate++] = k;
		if (ev[k].kind == AG_RECOVERY_SAVED_CODE)
			res->issue_saved_code = true;
	}
	res->accepted = true;
	return AG_OK;
}

/* ---- the JSON request -------------------------------------------------- */

/* Longest string value kept: ids, names and addresses. */
#define STR_MAX 256

void ag_recovery_request_release(struct ag_recovery_request *r)
{
	if (!r)
		return;
	free(r->account);
	for (size_t i = 0; i < r->n_enrolled; i++)
		free(r->enrolled[i]);
	free(r->enrolled);
	for (size_t i = 0; i < r->n_notify; i++)
		free((char *)r->notify[i].address);
	free(r->notify);
	for (size_t i = 0; i < r->n_evidence; i++) {
		free((char *)r->evidence[i].code_id);
		free((char *)r->evidence[i].sent_to);
		free((char *)r->evidence[i].method);
	}
	free(r->evidence);
	for (size_t i = 0; i < r->n_used; i++)
		free(r->used[i]);
	free(r->used);
	memset(r, 0, sizeof(*r));
	r->aal = AG_AAL_UNSET;
	r->ial = AG_IAL_UNKNOWN;
}

struct rctx {
	const char *name;
	char where[48]; /* "evidence[3]: " or "" */
	struct ag_error *err;
};

static ag_code bad(struct rctx *c, ag_code code, const char *fmt, ...)
	AG_PRINTF(3, 4);

static ag_code bad(struct rctx *c, ag_code code, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ag_err(c->err, code, "%s: %s%s", c->name, c->where, msg);
}

/* Every key of obj must be in allowed; else the near miss, from every
 * key the request knows (hint). */
static ag_code keys_ok(struct rctx *c, json_t *obj,
		       const char *const *allowed, const char *const *hint,
		       const char *what)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v) {
		bool known = false;
		for (const char *const *a = allowed; *a && !known; a++)
			known = !strcmp(*a, k);
		if (known)
			continue;
		for (const char *const *a = hint; *a && !known; a++)
			known = !strcmp(*a, k);
		if (known)
			return bad(c, AG_ERR_INVALID,
				   "key '%.64s' does not belong to %s", k,
				   what);
		struct ag_suggest sg;
		ag_suggest_init(&sg, k);
		for (const char *const *a = hint; *a; a++)
			ag_suggest_add(&sg, *a);
		ag_code rc = bad(c, AG_ERR_INVALID, "unknown key '%.64s' in %s",
				 k, what);
		ag_err_hint(c->err, ag_suggest_best(&sg));
		return rc;
	}
	return AG_OK;
}

static ag_code get_str_max(struct rctx *c, json_t *v, const char *key,
			   size_t max, char **out)
{
	if (!json_is_string(v))
		return bad(c, AG_ERR_INVALID, "'%s' must be a string", key);
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	if (strlen(s) != len)
		return bad(c, AG_ERR_INVALID, "'%s' contains a NUL byte", key);
	if (len == 0)
		return bad(c, AG_ERR_INVALID, "'%s' is empty", key);
	if (len > max)
		return bad(c, AG_ERR_LIMIT, "'%s' is over %zu bytes", key, max);
	if (!(*out = ag_strdup(s)))
		return bad(c, AG_ERR_NOMEM, "out of memory");
	return AG_OK;
}

static ag_code get_str(struct rctx *c, json_t *v, const char *key,
		       char **out)
{
	return get_str_max(c, v, key, STR_MAX, out);
}

/* A time: epoch seconds or RFC 3339. */
static ag_code get_time(struct rctx *c, json_t *v, const char *key,
			int64_t *out)
{
	if (json_is_integer(v)) {
		json_int_t t = json_integer_value(v);
		if (t < 0)
			return bad(c, AG_ERR_INVALID,
				   "'%s' must not be negative", key);
		*out = (int64_t)t;
		return AG_OK;
	}
	if (json_is_string(v) &&
	    strlen(json_string_value(v)) == json_string_length(v) &&
	    ag_time_parse(json_string_value(v), out) == AG_OK)
		return AG_OK;
	return bad(c, AG_ERR_INVALID,
		   "'%s' must be epoch seconds or an RFC 3339 time such as "
		   "\"2025-06-01T12:00:00Z\"", key);
}

static ag_code get_int(struct rctx *c, json_t *v, const char *key, int lo,
		       int hi, int *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return bad(c, AG_ERR_INVALID, "'%s' must be an integer from %d "
			   "to %d", key, lo, hi);
	*out = (int)json_integer_value(v);
	return AG_OK;
}

/* One of names[0..n), by name; the near miss otherwise. */
static ag_code get_enum(struct rctx *c, json_t *v, const char *key,
			const char *const *names, size_t first, size_t n,
			int *out)
{
	if (!json_is_string(v))
		return bad(c, AG_ERR_INVALID, "'%s' must be a string", key);
	const char *s = json_string_value(v);
	struct ag_suggest sg;
	ag_suggest_init(&sg, s);
	for (size_t i = first; i < n; i++) {
		if (!strcmp(names[i], s) &&
		    strlen(s) == json_string_length(v)) {
			*out = (int)i;
			return AG_OK;
		}
		ag_suggest_add(&sg, names[i]);
	}
	ag_code rc = bad(c, AG_ERR_INVALID, "unknown %s '%.64s'", key, s);
	ag_err_hint(c->err, ag_suggest_best(&sg));
	return rc;
}

/* A list of strings into *out, at most max. */
static ag_code get_strs(struct rctx *c, json_t *v, const char *key,
			size_t max, char ***out, size_t *n)
{
	if (!json_is_array(v))
		return bad(c, AG_ERR_INVALID, "'%s' must be a list of strings",
			   key);
	size_t len = json_array_size(v);
	if (len > max)
		return bad(c, AG_ERR_LIMIT, "'%s' has over %zu entries", key,
			   max);
	if (len && !(*out = calloc(len, sizeof(char *))))
		return bad(c, AG_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < len; i++) {
		ag_code rc = get_str(c, json_array_get(v, i), key, &(*out)[i]);
		if (rc)
			return rc;
		(*n)++;
	}
	return AG_OK;
}

static const char *const evidence_keys[] = {
	"kind", "channel", "issued_at", "code_id", "sent_to", "method",
	"ial", "proofing", "biometric", NULL,
};

/* The keys each kind takes, besides "kind". */
static const char *const *kind_keys(enum ag_recovery_kind k)
{
	static const char *const saved[] = {"kind", "code_id", NULL};
	static const char *const issued[] = {"kind", "channel", "issued_at",
					     "code_id", "sent_to", NULL};
	/* A recovery contact is another person (§4.2.1.3): where its code
	 * went is not an address of the subscriber's to check. */
	static const char *const contact[] = {"kind", "channel", "issued_at",
					      "code_id", NULL};
	static const char *const reproof[] = {"kind", "ial", "proofing",
					      "biometric", NULL};
	static const char *const auth[] = {"kind", "method", NULL};
	static const char *const kba[] = {"kind", NULL};
	switch (k) {
	case AG_RECOVERY_SAVED_CODE:
		return saved;
	case AG_RECOVERY_ISSUED_CODE:
		return issued;
	case AG_RECOVERY_CONTACT:
		return contact;
	case AG_RECOVERY_REPROOFING:
		return reproof;
	case AG_RECOVERY_AUTHENTICATOR:
		return auth;
	default:
		return kba;
	}
}

static ag_code parse_evidence(struct rctx *c, json_t *o,
			      struct ag_recovery_evidence *e)
{
	ag_code rc;
	int v;
	char what[64];

	memset(e, 0, sizeof(*e));
	e->issued_at = AG_TIME_UNSET;
	if (!json_is_object(o))
		return bad(c, AG_ERR_INVALID, "evidence must be an object");
	if ((rc = keys_ok(c, o, evidence_keys, evidence_keys, "evidence")))
		return rc;
	json_t *kind = json_object_get(o, "kind");
	if (!kind)
		return bad(c, AG_ERR_INVALID, "'kind' is required (one of "
			   "saved_code, issued_code, recovery_contact, "
			   "reproofing, authenticator, kba)");
	if ((rc = get_enum(c, kind, "kind", kind_names, 0,
			   AG_RECOVERY_KIND_COUNT, &v)))
		return rc;
	e->kind = (enum ag_recovery_kind)v;
	snprintf(what, sizeof(what), "%s evidence", kind_names[v]);
	if ((rc = keys_ok(c, o, kind_keys(e->kind), evidence_keys, what)))
		return rc;

	json_t *x;
	if ((x = json_object_get(o, "channel"))) {
		if ((rc = get_enum(c, x, "channel", channel_names, 1,
				   AG_CHANNEL_COUNT, &v)))
			return rc;
		e->channel = (enum ag_recovery_channel)v;
	}
	if ((x = json_object_get(o, "issued_at")) &&
	    (rc = get_time(c, x, "issued_at", &e->issued_at)))
		return rc;
	if ((x = json_object_get(o, "code_id")) &&
	    (rc = get_str(c, x, "code_id", (char **)&e->code_id)))
		return rc;
	if ((x = json_object_get(o, "sent_to")) &&
	    (rc = get_str_max(c, x, "sent_to", AG_RECOVERY_ADDRESS_MAX,
			      (char **)&e->sent_to)))
		return rc;
	if ((x = json_object_get(o, "method")) &&
	    (rc = get_str(c, x, "method", (char **)&e->method)))
		return rc;
	if ((x = json_object_get(o, "ial")) &&
	    (rc = get_int(c, x, "ial", 1, 3, &e->ial)))
		return rc;
	if ((x = json_object_get(o, "proofing"))) {
		if ((rc = get_enum(c, x, "proofing", proofing_names, 1,
				   AG_PROOFING_COUNT, &v)))
			return rc;
		e->proofing = (enum ag_proofing)v;
	}
	if ((x = json_object_get(o, "biometric"))) {
		if (!json_is_boolean(x))
			return bad(c, AG_ERR_INVALID,
				   "'biometric' must be true or false");
		e->biometric = json_is_true(x);
	}

	/* What each kind cannot do without. */
	switch (e->kind) {
	case AG_RECOVERY_SAVED_CODE:
		if (!e->code_id)
			return bad(c, AG_ERR_INVALID, "a saved_code needs its "
				   "'code_id': a saved code is used once");
		break;
	case AG_RECOVERY_ISSUED_CODE:
	case AG_RECOVERY_CONTACT:
		if (!e->channel || e->issued_at == AG_TIME_UNSET)
			return bad(c, AG_ERR_INVALID, "%s needs 'channel' and "
				   "'issued_at'", what);
		break;
	case AG_RECOVERY_REPROOFING:
		if (!e->ial || !e->proofing)
			return bad(c, AG_ERR_INVALID, "reproofing needs 'ial' "
				   "and 'proofing'");
		break;
	case AG_RECOVERY_AUTHENTICATOR:
		if (!e->method)
			return bad(c, AG_ERR_INVALID, "an authenticator needs "
				   "'method'");
		break;
	default:
		break;
	}
	return AG_OK;
}

static const char *const request_keys[] = {
	"account", "enrolled", "level", "ial", "notify", "now",
	"used_codes", "evidence", NULL,
};

static const char *const notify_keys[] = {"channel", "address", NULL};

ag_code ag_recovery_request_from_json(const char *name, json_t *root,
				      unsigned flags,
				      struct ag_recovery_request *out,
				      struct ag_error *err)
{
	struct rctx c = {.name = name ? name : "request", .err = err};
	json_t *x;
	ag_code rc = AG_ERR_INVALID;
	bool stored = flags & AG_RREQ_STORED;

	memset(out, 0, sizeof(*out));
	out->aal = AG_AAL_UNSET;
	out->ial = AG_IAL_UNKNOWN;
	if (!root)
		return bad(&c, AG_ERR_USAGE, "no request");
	if (!json_is_object(root)) {
		rc = bad(&c, AG_ERR_INVALID, "the request must be a JSON "
			 "object");
		goto out;
	}
	if ((rc = keys_ok(&c, root, request_keys, request_keys,
			  "the request")))
		goto out;
	if ((x = json_object_get(root, "account")) &&
	    (rc = get_str(&c, x, "account", &out->account)))
		goto out;
	/* The store knows accounts by name, and spends codes now. */
	if (stored && !out->account) {
		rc = bad(&c, AG_ERR_INVALID, "'account' is required: the "
			 "account's level and spent codes come from the state "
			 "store");
		goto out;
	}
	if (stored && json_object_get(root, "now")) {
		rc = bad(&c, AG_ERR_INVALID, "'now' cannot be set when the "
			 "state store is used: a recovery that spends codes "
			 "happens at the current time");
		goto out;
	}
	if ((x = json_object_get(root, "enrolled"))) {
		out->has_enrolled = true;
		if ((rc = get_strs(&c, x, "enrolled", AG_RECOVERY_ENROLLED_MAX,
				   &out->enrolled, &out->n_enrolled)))
			goto out;
	}
	if ((x = json_object_get(root, "level")) &&
	    (rc = get_int(&c, x, "level", 0, 3, &out->aal)))
		goto out;
	if (!stored && !out->has_enrolled && out->aal == AG_AAL_UNSET) {
		rc = bad(&c, AG_ERR_INVALID, "give the account's 'enrolled' "
			 "methods or its 'level'");
		goto out;
	}
	if ((x = json_object_get(root, "ial")) &&
	    (rc = get_int(&c, x, "ial", 0, 3, &out->ial)))
		goto out;
	if ((x = json_object_get(root, "now"))) {
		if ((rc = get_time(&c, x, "now", &out->now)))
			goto out;
		out->has_now = true;
	}
	if ((x = json_object_get(root, "used_codes")) &&
	    (rc = get_strs(&c, x, "used_codes", AG_RECOVERY_USED_MAX,
			   &out->used, &out->n_used)))
		goto out;
	if ((x = json_object_get(root, "notify"))) {
		if (!json_is_array(x)) {
			rc = bad(&c, AG_ERR_INVALID, "'notify' must be a list "
				 "of {\"channel\", \"address\"}");
			goto out;
		}
		size_t n = json_array_size(x);
		if (n > AG_RECOVERY_NOTIFY_MAX) {
			rc = bad(&c, AG_ERR_LIMIT, "'notify' has over %d "
				 "addresses", AG_RECOVERY_NOTIFY_MAX);
			goto out;
		}
		if (n && !(out->notify = calloc(n, sizeof(*out->notify)))) {
			rc = bad(&c, AG_ERR_NOMEM, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			json_t *a = json_array_get(x, i);
			int v;
			snprintf(c.where, sizeof(c.where), "notify[%zu]: ", i);
			if (!json_is_object(a)) {
				rc = bad(&c, AG_ERR_INVALID, "an address must "
					 "be an object");
				goto out;
			}
			if ((rc = keys_ok(&c, a, notify_keys, notify_keys,
					  "a notification address")))
				goto out;
			json_t *ch = json_object_get(a, "channel");
			if (!ch) {
				rc = bad(&c, AG_ERR_INVALID, "'channel' is "
					 "required (email, sms, voice, postal)");
				goto out;
			}
			if ((rc = get_enum(&c, ch, "channel", channel_names, 1,
					   AG_CHANNEL_COUNT, &v)))
				goto out;
			out->notify[i].channel = (enum ag_recovery_channel)v;
			out->n_notify++;
			json_t *ad = json_object_get(a, "address");
			if (ad && (rc = get_str_max(&c, ad, "address",
						    AG_RECOVERY_ADDRESS_MAX,
						    (char **)&out->notify[i]
							    .address)))
				goto out;
		}
		c.where[0] = '\0';
	}
	x = json_object_get(root, "evidence");
	if (!x || !json_is_array(x)) {
		rc = bad(&c, AG_ERR_INVALID, "'evidence' must be a list of "
			 "evidence objects");
		goto out;
	}
	size_t n = json_array_size(x);
	if (n > AG_RECOVERY_EVIDENCE_MAX) {
		rc = bad(&c, AG_ERR_LIMIT, "'evidence' has over %d entries",
			 AG_RECOVERY_EVIDENCE_MAX);
		goto out;
	}
	if (n && !(out->evidence = calloc(n, sizeof(*out->evidence)))) {
		rc = bad(&c, AG_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(c.where, sizeof(c.where), "evidence[%zu]: ", i);
		/* Counted first, so that release frees what was taken. */
		out->n_evidence++;
		if ((rc = parse_evidence(&c, json_array_get(x, i),
					 &out->evidence[i])))
			goto out;
	}
	rc = AG_OK;
out:
	if (rc != AG_OK)
		ag_recovery_request_release(out);
	return rc;
}

ag_code ag_recovery_request_parse_flags(const char *name, const char *buf,
					size_t len, unsigned flags,
					struct ag_recovery_request *out,
					struct ag_error *err)
{
	json_error_t je;

	memset(out, 0, sizeof(*out));
	out->aal = AG_AAL_UNSET;
	out->ial = AG_IAL_UNKNOWN;
	if (!name)
		name = "request";
	if (!buf)
		return ag_err(err, AG_ERR_USAGE, "%s: no request", name);
	if (len > AG_RECOVERY_REQUEST_MAX)
		return ag_err_at(err, AG_ERR_LIMIT, name, 1, 1,
				 "request over %u bytes",
				 AG_RECOVERY_REQUEST_MAX);
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return ag_err_at(err, AG_ERR_SYNTAX, name,
				 je.line > 0 ? (unsigned)je.line : 1,
				 je.column > 0 ? (unsigned)je.column : 1, "%s",
				 je.text);
	ag_code rc = ag_recovery_request_from_json(name, root, flags, out, err);
	json_decref(root);
	return rc;
}

ag_code ag_recovery_request_parse(const char *name, const char *buf,
				  size_t len, struct ag_recovery_request *out,
				  struct ag_error *err)
{
	return ag_recovery_request_parse_flags(name, buf, len, 0, out, err);
}

static ag_code unknown_method(const struct ag_catalogue *cat,
			      const char *name, const char *m,
			      const char *where, struct ag_error *err)
{
	struct ag_suggest sg;
	ag_suggest_init(&sg, m);
	for (size_t k = 0; k < cat->n; k++)
		ag_suggest_add(&sg, cat->methods[k].name);
	ag_code rc = ag_err(err, AG_ERR_INVALID, "%s: unknown method '%.64s' "
			    "in %s", name, m, where);
	ag_err_hint(err, ag_suggest_best(&sg));
	return rc;
}

ag_code ag_recovery_request_account(const struct ag_policy *p,
				    const struct ag_recovery_request *r,
				    const char *name, uint16_t *idx,
				    size_t max,
				    struct ag_recovery_account *acct,
				    struct ag_error *err)
{
	if (!name)
		name = "request";
	if (!p || !r || !acct || (r->n_enrolled && !idx))
		return ag_err(err, AG_ERR_USAGE, "%s: bad arguments", name);
	memset(acct, 0, sizeof(*acct));
	if (r->n_enrolled > max)
		return ag_err(err, AG_ERR_LIMIT, "%s: over %zu enrolled "
			      "methods", name, max);
	const struct ag_catalogue *cat = &p->catalogue;
	for (size_t i = 0; i < r->n_enrolled; i++) {
		int m = ag_catalogue_find(cat, r->enrolled[i]);
		if (m < 0 || m > UINT16_MAX)
			return unknown_method(cat, name, r->enrolled[i],
					      "enrolled", err);
		idx[i] = (uint16_t)m;
	}
	for (size_t i = 0; i < r->n_evidence; i++) {
		const char *m = r->evidence[i].method;
		char where[32];
		snprintf(where, sizeof(where), "evidence[%zu]", i);
		if (m && ag_catalogue_find(cat, m) < 0)
			return unknown_method(cat, name, m, where, err);
	}
	acct->enrolled = r->n_enrolled ? idx : NULL;
	acct->n_enrolled = r->n_enrolled;
	acct->aal = r->aal;
	acct->ial = r->ial;
	acct->notify = r->notify;
	acct->n_notify = r->n_notify;
	return AG_OK;
}
