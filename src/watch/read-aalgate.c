/*
 * aalgate's own decision log (docs/gate.md, "DECISION LOG"): the gate's
 * decisions, the PAM socket's answers, and the state store's journal rows
 * (the state store's, src/govern) that ag_store_journal_drain appends, each
 * {"seq", "prev", "time", "type", ...}.
 *
 *  - "decision" {outcome, workflow, subject, iss, observed {aal,
 *    phishing_resistant, hardware, device}, ip, what_if}: access.  What-if
 *    decisions decided nothing and are ignored, as are decisions without
 *    a subject (no token, or one that did not verify: nobody to hold to a
 *    level).
 *  - "pam" {outcome, user, workflow, rhost}: access, interactive (sudo,
 *    sshd).
 *  - "grant_activate" of a break-glass grant {account, workflow,
 *    break_glass}, "break_glass_use": break_glass.
 *  - "enroll_add" {account, method, evidence}: enroll; the evidence is the
 *    authentication shown to bind it.
 *  - "enroll_remove" {account, method}: factor_reset.  A help-desk reset
 *    removes the lost authenticators first, each its own row, then writes
 *    its "helpdesk_reset" row with the same time; those removals are that
 *    reset, so they are held back until the next record and dropped when
 *    it is the reset (a detection would otherwise see one reset several
 *    times).  Removals of one account at one time become one event.
 *  - "helpdesk_reset", "helpdesk_reset_refused" {account, accepted, agent
 *    {iss, sub}, lost_removed [{method}]}: helpdesk_reset.
 *  - "recovery", "recovery_refused" {account, accepted}: recovery.
 *
 * Accounts are named as the state store names them: the token's sub, or
 * "ISSUER sub" when the policy has several issuers.  A journal row carries
 * "store" and "journal_seq"; a row logged again after a crash (the journal
 * is drained at least once) has a journal_seq already seen and is read
 * once.
 */
#include <stdio.h>
#include <string.h>

#include "read-int.h"
#include "banned.h"

/* The top-level fields read, found in one pass over the record. */
enum f {
	F_TYPE,
	F_STORE,
	F_JSEQ,
	F_ACCOUNT,
	F_TIME,
	F_WHAT_IF,
	F_SUBJECT,
	F_ISS,
	F_IP,
	F_OBSERVED,
	F_OUTCOME,
	F_WORKFLOW,
	F_USER,
	F_RHOST,
	F_METHOD,
	F_EVIDENCE,
	F_ACCEPTED,
	F_AGENT,
	F_LOST,
	F_BREAK_GLASS,
	F__COUNT
};

static int field(const char *k, uint32_t n)
{
#define IS(lit) (n == sizeof(lit) - 1 && !memcmp(k, lit, n))
	switch (n) {
	case 2:
		return IS("ip") ? F_IP : -1;
	case 3:
		return IS("iss") ? F_ISS : -1;
	case 4:
		return IS("type")   ? F_TYPE
		       : IS("time") ? F_TIME
		       : IS("user") ? F_USER
				    : -1;
	case 5:
		return IS("store")   ? F_STORE
		       : IS("agent") ? F_AGENT
		       : IS("rhost") ? F_RHOST
				     : -1;
	case 6:
		return IS("method") ? F_METHOD : -1;
	case 7:
		return IS("account")   ? F_ACCOUNT
		       : IS("what_if") ? F_WHAT_IF
		       : IS("subject") ? F_SUBJECT
		       : IS("outcome") ? F_OUTCOME
				       : -1;
	case 8:
		return IS("observed")	? F_OBSERVED
		       : IS("workflow") ? F_WORKFLOW
		       : IS("evidence") ? F_EVIDENCE
		       : IS("accepted") ? F_ACCEPTED
					: -1;
	case 11:
		return IS("journal_seq")   ? F_JSEQ
		       : IS("break_glass") ? F_BREAK_GLASS
					   : -1;
	case 12:
		return IS("lost_removed") ? F_LOST : -1;
	}
	return -1;
#undef IS
}

/* The subject of a token: sub, or "iss sub" with several issuers. */
static const char *token_subject(struct ag_event_reader *r, const char *iss,
				 const char *sub, bool *nomem)
{
	*nomem = false;
	if (!sub || !*sub)
		return NULL;
	if (r->p->n_issuers <= 1 || !iss || !*iss)
		return sub;
	const char *s = wr_scr_cat(r, iss, " ", sub);
	*nomem = !s;
	return s;
}

static bool truth(const struct wj_doc *d, uint32_t o, const char *key)
{
	return wj_is(d, wj_get(d, o, key, strlen(key)), WJ_TRUE);
}

static const char *str_of(const struct wj_doc *d, uint32_t o, const char *key)
{
	const char *s = wj_str(d, wj_get(d, o, key, strlen(key)));
	return s && *s ? s : NULL;
}

/* A non-empty string at token v, or NULL. */
static const char *str_at(const struct wj_doc *d, uint32_t v)
{
	const char *s = wj_str(d, v);
	return s && *s ? s : NULL;
}

/* Has this journal row been read before? */
static bool repeated(struct ag_event_reader *r, const uint32_t *t)
{
	const struct wj_doc *d = &r->doc;
	const char *store = wj_str(d, t[F_STORE]);
	int64_t seq;

	if (!store || !wj_int(d, t[F_JSEQ], &seq) ||
	    seq < 0 || strlen(store) >= sizeof(r->stores[0].id))
		return false;
	for (size_t i = 0; i < r->n_stores; i++) {
		if (strcmp(r->stores[i].id, store))
			continue;
		if ((uint64_t)seq <= r->stores[i].seq)
			return true;
		r->stores[i].seq = (uint64_t)seq;
		return false;
	}
	/* A log holds one store's journal; a few more are remembered, the
	 * oldest forgotten first. */
	if (r->n_stores == WR_STORES) {
		memmove(&r->stores[0], &r->stores[1],
			(WR_STORES - 1) * sizeof(r->stores[0]));
		r->n_stores--;
	}
	size_t k = r->n_stores++;
	ag_strlcpy(r->stores[k].id, store, sizeof(r->stores[k].id));
	r->stores[k].seq = (uint64_t)seq;
	return false;
}

bool wr_aalgate_flush(struct ag_event_reader *r)
{
	struct wr_held *h = &r->held;
	struct ag_event ev;

	if (!h->on)
		return true;
	h->on = false;
	memset(&ev, 0, sizeof(ev));
	ev.source = AG_SRC_AALGATE;
	ev.kind = AG_EV_FACTOR_RESET;
	ev.result = AG_RES_SUCCESS;
	ev.time_ms = h->time_ms;
	ev.subject = h->subject;
	ev.action = "enroll_remove";
	ev.file = h->file;
	ev.line = h->line;
	memcpy(ev.methods, h->methods, sizeof(ev.methods));
	ev.n_methods = h->n_methods;
	return wr_emit(r, &ev);
}

static enum wr_map decision(struct ag_event_reader *r, const uint32_t *t,
			    bool pam)
{
	const struct wj_doc *d = &r->doc;
	struct ag_event *ev = &r->ev;
	bool nomem;

	if (wj_is(d, t[F_WHAT_IF], WJ_TRUE))
		return WR_IGNORED;
	if (pam) {
		const char *user = str_at(d, t[F_USER]);
		ev->subject = user && strcmp(user, "-") ? user : NULL;
		ev->interactive = true;
		const char *rhost = str_at(d, t[F_RHOST]);
		ev->ip = wr_is_ip(rhost) ? rhost : NULL;
	} else {
		ev->subject = token_subject(r, str_at(d, t[F_ISS]),
					    str_at(d, t[F_SUBJECT]), &nomem);
		if (nomem)
			return WR_NOMEM;
		const char *ip = str_at(d, t[F_IP]);
		ev->ip = wr_is_ip(ip) ? ip : NULL;
		uint32_t o = t[F_OBSERVED];
		int64_t aal;
		if (wj_is(d, o, WJ_OBJECT) &&
		    wj_int(d, WJ_GET(d, o, "aal"), &aal) && aal >= 0 &&
		    aal <= 3) {
			ev->assurance_known = true;
			ev->assurance.aal = (int)aal;
			ev->assurance.phishing_resistant =
				truth(d, o, "phishing_resistant");
			ev->assurance.hardware = truth(d, o, "hardware");
		}
		const char *dev = str_of(d, o, "device");
		if (dev && !strcmp(dev, "managed"))
			ev->posture = AG_POSTURE_MANAGED;
		else if (dev && !strcmp(dev, "known"))
			ev->posture = AG_POSTURE_KNOWN;
	}
	if (!ev->subject)
		return WR_IGNORED;
	const char *out = str_at(d, t[F_OUTCOME]);
	if (out && !strcmp(out, "allow"))
		ev->result = AG_RES_SUCCESS;
	else if (out && (!strcmp(out, "deny") || !strcmp(out, "step_up")))
		ev->result = AG_RES_FAILURE;
	ev->kind = AG_EV_ACCESS;
	ev->workflow = str_at(d, t[F_WORKFLOW]);
	return WR_EVENT;
}

static enum wr_map hold(struct ag_event_reader *r)
{
	struct ag_event *ev = &r->ev;
	struct wr_held *h = &r->held;
	size_t n = strlen(ev->subject);

	if (n > WR_HELD_MAX)
		return WR_EVENT;
	h->on = true;
	h->time_ms = ev->time_ms;
	h->file = ev->file;
	h->line = ev->line;
	memcpy(h->methods, ev->methods, sizeof(h->methods));
	h->n_methods = ev->n_methods;
	memcpy(h->subject, ev->subject, n + 1);
	return WR_DONE;
}

enum wr_map wr_map_aalgate(struct ag_event_reader *r)
{
	const struct wj_doc *d = &r->doc;
	struct ag_event *ev = &r->ev;
	struct wr_held *h = &r->held;
	uint32_t t[F__COUNT] = {0};
	bool nomem;

	for (uint32_t k = wj_first_root(d); k != WJ_NONE;
	     k = wj_next_member(d, 0, k)) {
		int f = field(d->buf + d->t[k].start, d->t[k].len);
		if (f >= 0)
			t[f] = k + 1;
	}
	const char *type = str_at(d, t[F_TYPE]);
	if (repeated(r, t))
		return WR_IGNORED;
	const char *account = str_at(d, t[F_ACCOUNT]);
	bool remove = type && !strcmp(type, "enroll_remove");
	bool reset = type && !strcmp(type, "helpdesk_reset");

	const char *when = wj_str(d, t[F_TIME]);
	int64_t ms = 0;
	bool timed = when && wr_time_rfc3339(when, d->t[t[F_TIME]].len, &ms);

	if (h->on) {
		bool same = timed && account && ms == h->time_ms &&
			    !strcmp(account, h->subject);
		if (same && reset && wj_is(d, t[F_ACCEPTED], WJ_TRUE)) {
			/* The removals were this reset's. */
			h->on = false;
			r->st.ignored++;
		} else if (same && remove) {
			int k = wr_method(r, str_at(d, t[F_METHOD]));
			if (k >= 0 && h->n_methods < AG_EVENT_MAX_METHODS) {
				bool dup = false;
				for (uint8_t i = 0; i < h->n_methods; i++)
					dup |= h->methods[i] == (uint16_t)k;
				if (!dup)
					h->methods[h->n_methods++] =
						(uint16_t)k;
			}
			r->st.ignored++;
			return WR_DONE;
		} else if (!wr_aalgate_flush(r)) {
			return WR_DONE;
		}
	}

	if (!type)
		return wr_skip(r, "no \"type\"");
	bool pam = !strcmp(type, "pam");
	bool grant = !strcmp(type, "grant_activate");
	bool bg_use = !strcmp(type, "break_glass_use");
	bool add = !strcmp(type, "enroll_add");
	bool hd = reset || !strcmp(type, "helpdesk_reset_refused");
	bool rec = !strcmp(type, "recovery") ||
		   !strcmp(type, "recovery_refused");
	if (!pam && !grant && !bg_use && !add && !remove && !hd && !rec &&
	    strcmp(type, "decision"))
		return WR_IGNORED;
	if (grant && !wj_is(d, t[F_BREAK_GLASS], WJ_TRUE))
		return WR_IGNORED;
	if (!when)
		return wr_skip(r, "%s without a \"time\"", type);
	if (!timed)
		return wr_skip(r, "\"time\" is not an RFC 3339 time: '%.40s'",
			       when);
	ev->time_ms = ms;
	ev->action = type;

	if (pam || !strcmp(type, "decision"))
		return decision(r, t, pam);

	if (!account)
		return wr_skip(r, "%s without an \"account\"", type);
	ev->subject = account;
	ev->workflow = str_at(d, t[F_WORKFLOW]);
	ev->result = AG_RES_SUCCESS;
	if (grant || bg_use) {
		ev->kind = AG_EV_BREAK_GLASS;
		return WR_EVENT;
	}
	if (add || remove) {
		ev->kind = add ? AG_EV_ENROLL : AG_EV_FACTOR_RESET;
		wr_add_method(ev, wr_method(r, str_at(d, t[F_METHOD])));
		uint32_t e = t[F_EVIDENCE];
		int64_t aal;
		if (add && wj_is(d, e, WJ_OBJECT) &&
		    wj_int(d, WJ_GET(d, e, "aal"), &aal) && aal >= 0 &&
		    aal <= 3) {
			ev->assurance_known = true;
			ev->assurance.aal = (int)aal;
			ev->assurance.phishing_resistant =
				truth(d, e, "phishing_resistant");
			ev->assurance.hardware = truth(d, e, "hardware");
		}
		return remove ? hold(r) : WR_EVENT;
	}
	ev->result = wj_is(d, t[F_ACCEPTED], WJ_TRUE) ? AG_RES_SUCCESS
						      : AG_RES_FAILURE;
	if (rec) {
		ev->kind = AG_EV_RECOVERY;
		return WR_EVENT;
	}
	ev->kind = AG_EV_HELPDESK_RESET;
	uint32_t agent = t[F_AGENT];
	ev->actor = token_subject(r, str_of(d, agent, "iss"),
				  str_of(d, agent, "sub"), &nomem);
	if (nomem)
		return WR_NOMEM;
	uint32_t lost = t[F_LOST];
	if (!wj_is(d, lost, WJ_ARRAY))
		lost = WJ_NONE;
	for (uint32_t x = wj_first(d, lost); x != WJ_NONE;
	     x = wj_next_elem(d, lost, x))
		wr_add_method(ev, wr_method(r, str_of(d, x, "method")));
	return WR_EVENT;
}
