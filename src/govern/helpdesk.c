/*
 * Recovery against the state store, and help-desk resets (docs/govern.md,
 * §4.3).  The rules are ag_recovery_check's (src/core/recovery.c); this
 * file feeds it what the store knows (the account's enrolments, the codes
 * it has spent), carries out what an accepted recovery obliges (spend the
 * codes, journal the notification) and, for the help desk, judges the
 * agent and refuses knowledge-based verification under the names a help
 * desk's tool gives it.
 *
 * Order matters for single use: the check refuses codes the store has
 * spent, then every code of an accepted recovery is spent (each spend is
 * its own transaction that fails when the code was spent meanwhile), and
 * only then does the recovery count.  Two recoveries racing with one code
 * cannot both pass the spend.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "aalgate/gate.h"
#include "aalgate/govern.h"
#include "recovery-int.h"
#include "govern/store-int.h"
#include "report/report.h"
#include "util.h"
#include "banned.h"

_Static_assert(AG_RECOVERY_EVIDENCE_MAX <= 32,
	       "ag_recovery_state.spent is a 32-bit mask");
_Static_assert(AG_HELPDESK_LOST_MAX <= 32,
	       "ag_helpdesk_result.removed is a 32-bit mask");

/* ---- knowledge-based verification under other names -------------------- */

static const char KBA[] = "kba";
static const char DOB[] = "date_of_birth";
static const char GOV_ID[] = "government_id";
static const char ADDRESS[] = "address";
static const char MAIDEN[] = "mothers_maiden_name";
static const char QUESTION[] = "security_question";
static const char EMPLOYEE[] = "employee_details";
static const char ACCOUNT[] = "account_details";
static const char PERSONAL[] = "personal_details";

/* Words that make a name KBA wherever they stand in it. */
static const struct {
	const char *word;
	const char *kba;
} kba_words[] = {
	{"kba", KBA},          {"kbv", KBA},          {"knowledge", KBA},
	{"dob", DOB},          {"birth", DOB},        {"birthday", DOB},
	{"birthdate", DOB},    {"ssn", GOV_ID},       {"ssn4", GOV_ID},
	{"last4", GOV_ID},     {"sin", GOV_ID},       {"nino", GOV_ID},
	{"itin", GOV_ID},      {"passport", GOV_ID},  {"license", GOV_ID},
	{"licence", GOV_ID},   {"digits", GOV_ID},    {"address", ADDRESS},
	{"street", ADDRESS},   {"zip", ADDRESS},      {"zipcode", ADDRESS},
	{"postcode", ADDRESS}, {"maiden", MAIDEN},    {"mmn", MAIDEN},
	{"social", GOV_ID},
	{"question", QUESTION}, {"questions", QUESTION},
	{"answer", QUESTION},  {"answers", QUESTION}, {"pet", QUESTION},
	{"school", QUESTION},  {"favorite", QUESTION},
	{"favourite", QUESTION}, {"hometown", QUESTION},
	{"employee", EMPLOYEE}, {"iban", ACCOUNT},    {"transaction", ACCOUNT},
	{"transactions", ACCOUNT}, {"balance", ACCOUNT},
	{"invoice", ACCOUNT},  {"purchase", ACCOUNT}, {"pii", PERSONAL},
	{"personal", PERSONAL}, {"knows", PERSONAL},  {"knew", PERSONAL},
	{"recalled", PERSONAL}, {"remembered", PERSONAL},
	{"name", PERSONAL},    {"fullname", PERSONAL},
	{"username", PERSONAL}, {"age", PERSONAL},
};

/* Runs of words, matched whole, before the words above. */
static const struct {
	const char *phrase;
	const char *kba;
} kba_phrases[] = {
	{"social_security", GOV_ID},    {"national_id", GOV_ID},
	{"tax_id", GOV_ID},             {"id_number", GOV_ID},
	{"last_4", GOV_ID},             {"last_four", GOV_ID},
	{"manager_name", EMPLOYEE},     {"manager_s_name", EMPLOYEE},
	{"managers_name", EMPLOYEE},    {"supervisor_name", EMPLOYEE},
	{"supervisor_s_name", EMPLOYEE}, {"staff_id", EMPLOYEE},
	{"staff_number", EMPLOYEE},     {"badge_number", EMPLOYEE},
	{"badge_id", EMPLOYEE},         {"hire_date", EMPLOYEE},
	{"start_date", EMPLOYEE},       {"payroll_number", EMPLOYEE},
	{"account_number", ACCOUNT},    {"card_number", ACCOUNT},
	{"credit_card", ACCOUNT},       {"debit_card", ACCOUNT},
	{"first_car", QUESTION},        {"postal_code", ADDRESS},
	{"post_code", ADDRESS},
};

/* Runs of words that hold a KBA word but name no knowledge of the
 * caller's: taken out before matching. */
static const char *const not_kba_phrases[] = {
	"email_address", "e_mail_address", "mail_address", "ip_address",
	"mac_address",   "smart_card",
};

/* The recovery evidence kinds: never KBA by their name, except "kba". */
static bool is_evidence_kind(const char *norm)
{
	for (int k = 0; k < AG_RECOVERY_KIND_COUNT; k++) {
		enum ag_recovery_kind kind = (enum ag_recovery_kind)k;
		if (kind != AG_RECOVERY_KBA &&
		    !strcmp(norm, ag_recovery_kind_name(kind)))
			return true;
	}
	return false;
}

/* "Mother's maiden-name" -> "mother_s_maiden_name": lower case, runs of
 * anything but ASCII letters and digits as one "_", none at the ends. */
static void normalise(const char *in, char *out, size_t len)
{
	size_t o = 0;
	bool sep = false;
	for (const unsigned char *p = (const unsigned char *)in;
	     *p && o + 2 < len; p++) {
		unsigned char c = *p;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			if (sep && o)
				out[o++] = '_';
			sep = false;
			out[o++] = (char)c;
		} else {
			sep = true;
		}
	}
	out[o] = '\0';
}

/* Where phrase stands in s as whole words, or NULL. */
static char *find_phrase(char *s, const char *phrase)
{
	size_t n = strlen(phrase);
	for (char *p = strstr(s, phrase); p; p = strstr(p + 1, phrase))
		if ((p == s || p[-1] == '_') && (p[n] == '\0' || p[n] == '_'))
			return p;
	return NULL;
}

static bool has_phrase(char *s, const char *phrase)
{
	return find_phrase(s, phrase) != NULL;
}

/* "d_o_b_confirmed" -> "dob_confirmed": runs of two or more one-letter
 * words (initials spelt with dots or spaces, "D.O.B.", "S S N") joined
 * into one word. */
static void join_initials(const char *in, char *out)
{
	size_t o = 0;
	const char *p = in;

	while (*p) {
		/* The one-letter words that start at p. */
		size_t run = 0;
		const char *q = p;
		while (q[0] && (q[1] == '_' || !q[1])) {
			run++;
			q += q[1] ? 2 : 1;
		}
		if (o)
			out[o++] = '_';
		if (run >= 2) {
			for (size_t i = 0; i < run; i++)
				out[o++] = p[2 * i];
			p = q;
			continue;
		}
		size_t n = strcspn(p, "_");
		memcpy(out + o, p, n);
		o += n;
		p += n;
		if (*p == '_')
			p++;
	}
	out[o] = '\0';
}

/* What KBA the normalised name norm (changed in place) names, or NULL. */
static const char *kba_of(char *norm)
{
	for (size_t i = 0; i < AG_ARRAY_SIZE(not_kba_phrases); i++) {
		size_t n = strlen(not_kba_phrases[i]);
		char *p;
		while ((p = find_phrase(norm, not_kba_phrases[i])))
			memset(p, '_', n);
	}
	for (size_t i = 0; i < AG_ARRAY_SIZE(kba_phrases); i++)
		if (has_phrase(norm, kba_phrases[i].phrase))
			return kba_phrases[i].kba;
	for (size_t i = 0; i < AG_ARRAY_SIZE(kba_words); i++)
		if (has_phrase(norm, kba_words[i].word))
			return kba_words[i].kba;
	return NULL;
}

const char *ag_helpdesk_kba(const char *name)
{
	char norm[AG_HELPDESK_STEP_TEXT * 2 + 2];
	char joined[sizeof(norm)];

	if (!name)
		return NULL;
	normalise(name, norm, sizeof(norm));
	if (!norm[0] || is_evidence_kind(norm))
		return NULL;
	join_initials(norm, joined);
	const char *k = kba_of(norm);
	return k ? k : kba_of(joined);
}

/* ---- notes ------------------------------------------------------------- */

static void note(struct ag_recovery_result *res, enum ag_recovery_reason r,
		 bool refusal, int evidence, const char *fmt, ...)
	AG_PRINTF(5, 6);

static void note(struct ag_recovery_result *res, enum ag_recovery_reason r,
		 bool refusal, int evidence, const char *fmt, ...)
{
	if (res->n_notes >= AG_RECOVERY_NOTES_MAX)
		return; /* the caller refuses by res->accepted */
	struct ag_recovery_note *n = &res->notes[res->n_notes++];
	va_list ap;
	n->reason = r;
	n->refusal = refusal;
	n->evidence = evidence;
	va_start(ap, fmt);
	vsnprintf(n->text, sizeof(n->text), fmt, ap);
	va_end(ap);
}

/* Takes back an acceptance: no basis, no obligations. */
static void unaccept(struct ag_recovery_result *res)
{
	res->accepted = false;
	res->basis = AG_BASIS_NONE;
	res->n_notify = 0;
	res->notify_postal = false;
	res->n_invalidate = 0;
	res->issue_saved_code = false;
}

static const char kba_why[] =
	"knowledge-based verification, never recovery evidence (SP 800-63A-4 "
	"§2.5.1: KBV SHALL NOT be used for identity verification; "
	"SP 800-63B-4 §4.2.1 names recovery codes, recovery contacts and "
	"repeated identity proofing only)";

/* ---- the request ------------------------------------------------------- */

ag_code ag_recovery_request_parse_stored(const char *name, const char *buf,
					 size_t len,
					 struct ag_recovery_request *out,
					 struct ag_error *err)
{
	return ag_recovery_request_parse_flags(name, buf, len, AG_RREQ_STORED,
					       out, err);
}

void ag_helpdesk_request_release(struct ag_helpdesk_request *r)
{
	if (!r)
		return;
	free(r->ticket);
	for (size_t i = 0; i < r->n_verified; i++)
		free(r->verified[i].text);
	free(r->verified);
	for (size_t i = 0; i < r->n_kba; i++)
		free(r->kba[i].given);
	free(r->kba);
	for (size_t i = 0; i < r->n_lost; i++) {
		free(r->lost[i].method);
		free(r->lost[i].label);
	}
	free(r->lost);
	memset(r, 0, sizeof(*r));
}

/* A string of 0..max bytes (min 1 unless empty_ok) of UTF-8 without
 * control characters, copied. */
static ag_code text_of(const char *name, const char *where, json_t *v,
		       size_t max, bool empty_ok, char **out,
		       struct ag_error *err)
{
	if (!json_is_string(v))
		return ag_err(err, AG_ERR_INVALID, "%s: %s must be a string",
			      name, where);
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (strlen(s) != n)
		return ag_err(err, AG_ERR_INVALID,
			      "%s: %s contains a NUL byte", name, where);
	if (!n && !empty_ok)
		return ag_err(err, AG_ERR_INVALID, "%s: %s is empty", name,
			      where);
	if (n > max)
		return ag_err(err, AG_ERR_LIMIT, "%s: %s is over %zu bytes",
			      name, where, max);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return ag_err(err, AG_ERR_INVALID,
				      "%s: %s holds a control character",
				      name, where);
	if (!(*out = ag_strdup(s)))
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	return AG_OK;
}

/* Takes the help-desk keys out of root into out. */
static ag_code take_helpdesk_keys(const char *name, json_t *root, bool stored,
				  struct ag_helpdesk_request *out,
				  struct ag_error *err)
{
	json_t *x;
	ag_code rc;
	char where[48];

	if ((x = json_object_get(root, "ticket"))) {
		if ((rc = text_of(name, "'ticket'", x, AG_HELPDESK_TICKET_MAX,
				  false, &out->ticket, err)))
			return rc;
		json_object_del(root, "ticket");
	}
	if ((x = json_object_get(root, "verified"))) {
		if (!json_is_array(x))
			return ag_err(err, AG_ERR_INVALID,
				      "%s: 'verified' must be a list of the "
				      "checks the agent made, as strings",
				      name);
		size_t n = json_array_size(x);
		if (n > AG_HELPDESK_STEPS_MAX)
			return ag_err(err, AG_ERR_LIMIT,
				      "%s: 'verified' has over %d steps", name,
				      AG_HELPDESK_STEPS_MAX);
		if (n && !(out->verified = calloc(n, sizeof(*out->verified))))
			return ag_err(err, AG_ERR_NOMEM, "out of memory");
		for (size_t i = 0; i < n; i++) {
			snprintf(where, sizeof(where), "verified[%zu]", i);
			if ((rc = text_of(name, where, json_array_get(x, i),
					  AG_HELPDESK_STEP_TEXT, false,
					  &out->verified[i].text, err)))
				return rc;
			out->n_verified++;
			out->verified[i].kba =
				ag_helpdesk_kba(out->verified[i].text);
		}
		json_object_del(root, "verified");
	}
	if ((x = json_object_get(root, "lost"))) {
		if (!stored)
			return ag_err(err, AG_ERR_INVALID,
				      "%s: 'lost' removes enrolments, which "
				      "needs the state store (--state)",
				      name);
		if (!json_is_array(x))
			return ag_err(err, AG_ERR_INVALID,
				      "%s: 'lost' must be a list of "
				      "{\"method\", \"label\"}",
				      name);
		size_t n = json_array_size(x);
		if (n > AG_HELPDESK_LOST_MAX)
			return ag_err(err, AG_ERR_LIMIT,
				      "%s: 'lost' has over %d authenticators",
				      name, AG_HELPDESK_LOST_MAX);
		if (n && !(out->lost = calloc(n, sizeof(*out->lost))))
			return ag_err(err, AG_ERR_NOMEM, "out of memory");
		for (size_t i = 0; i < n; i++) {
			json_t *o = json_array_get(x, i), *m, *l;
			const char *k;
			json_t *v;
			snprintf(where, sizeof(where), "lost[%zu]", i);
			if (!json_is_object(o))
				return ag_err(err, AG_ERR_INVALID,
					      "%s: %s must be an object", name,
					      where);
			json_object_foreach(o, k, v) {
				if (strcmp(k, "method") && strcmp(k, "label")) {
					rc = ag_err(err, AG_ERR_INVALID,
						    "%s: %s: unknown key "
						    "'%.64s'",
						    name, where, k);
					struct ag_suggest sg;
					ag_suggest_init(&sg, k);
					ag_suggest_add(&sg, "method");
					ag_suggest_add(&sg, "label");
					ag_err_hint(err, ag_suggest_best(&sg));
					return rc;
				}
			}
			out->n_lost++;
			if (!(m = json_object_get(o, "method")))
				return ag_err(err, AG_ERR_INVALID,
					      "%s: %s needs 'method'", name,
					      where);
			snprintf(where, sizeof(where), "lost[%zu].method", i);
			if ((rc = text_of(name, where, m, AG_STORE_METHOD_MAX,
					  false, &out->lost[i].method, err)))
				return rc;
			snprintf(where, sizeof(where), "lost[%zu].label", i);
			if ((l = json_object_get(o, "label"))) {
				if ((rc = text_of(name, where, l,
						  AG_STORE_LABEL_MAX, true,
						  &out->lost[i].label, err)))
					return rc;
			} else if (!(out->lost[i].label = ag_strdup(""))) {
				return ag_err(err, AG_ERR_NOMEM,
					      "out of memory");
			}
		}
		json_object_del(root, "lost");
	}
	return AG_OK;
}

/* Evidence the tool named after KBA becomes {"kind": "kba"}: whatever
 * else it carried (the caller's answer, say) is dropped unread. */
static ag_code rewrite_kba(const struct ag_policy *p, json_t *root,
			   struct ag_helpdesk_request *out,
			   struct ag_error *err)
{
	json_t *ev = json_object_get(root, "evidence");
	if (!json_is_array(ev))
		return AG_OK; /* the recovery parser says what is wrong */
	size_t n = json_array_size(ev);
	if (n == 0 || n > AG_RECOVERY_EVIDENCE_MAX)
		return AG_OK;
	if (!(out->kba = calloc(n, sizeof(*out->kba))))
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(ev, i);
		json_t *kind = json_object_get(e, "kind");
		const char *given = NULL, *kba = NULL;
		if (!json_is_string(kind))
			continue;
		const char *k = json_string_value(kind);
		if (!strcmp(k, "kba")) {
			given = k;
			kba = KBA;
		} else if (!strcmp(k, "authenticator")) {
			json_t *m = json_object_get(e, "method");
			const char *mv = json_string_value(m);
			if (mv && (!p || ag_catalogue_find(&p->catalogue,
							   mv) < 0) &&
			    (kba = ag_helpdesk_kba(mv)))
				given = mv;
		} else if ((kba = ag_helpdesk_kba(k))) {
			given = k;
		}
		if (!kba)
			continue;
		struct ag_helpdesk_kba_item *it = &out->kba[out->n_kba++];
		it->evidence = i;
		it->kba = kba;
		/* Shown in messages: at most 64 bytes, no control
		 * characters. */
		it->given = ag_strndup(given, strnlen(given, 64));
		if (!it->given)
			return ag_err(err, AG_ERR_NOMEM, "out of memory");
		for (char *c = it->given; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
		json_t *repl = json_pack("{s:s}", "kind", "kba");
		if (!repl || json_array_set_new(ev, i, repl) != 0)
			return ag_err(err, AG_ERR_NOMEM, "out of memory");
	}
	return AG_OK;
}

ag_code ag_helpdesk_request_parse(const struct ag_policy *p, const char *name,
				  const char *buf, size_t len, bool stored,
				  struct ag_recovery_request *rec,
				  struct ag_helpdesk_request *out,
				  struct ag_error *err)
{
	json_error_t je;
	json_t *root = NULL;
	ag_code rc;

	memset(out, 0, sizeof(*out));
	memset(rec, 0, sizeof(*rec));
	rec->aal = AG_AAL_UNSET;
	rec->ial = AG_IAL_UNKNOWN;
	if (!name)
		name = "request";
	if (!buf)
		return ag_err(err, AG_ERR_USAGE, "%s: no request", name);
	if (len > AG_RECOVERY_REQUEST_MAX)
		return ag_err_at(err, AG_ERR_LIMIT, name, 1, 1,
				 "request over %u bytes",
				 AG_RECOVERY_REQUEST_MAX);
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return ag_err_at(err, AG_ERR_SYNTAX, name,
				 je.line > 0 ? (unsigned)je.line : 1,
				 je.column > 0 ? (unsigned)je.column : 1, "%s",
				 je.text);
	if (!json_is_object(root)) {
		rc = ag_err(err, AG_ERR_INVALID,
			    "%s: the request must be a JSON object", name);
		goto out;
	}
	if ((rc = take_helpdesk_keys(name, root, stored, out, err)) ||
	    (rc = rewrite_kba(p, root, out, err)))
		goto out;
	if ((rc = ag_recovery_request_from_json(
		     name, root, stored ? AG_RREQ_STORED : 0, rec, err)))
		goto out;
	if (!rec->account) {
		rc = ag_err(err, AG_ERR_INVALID,
			    "%s: 'account' is required: the account being "
			    "reset", name);
		goto out;
	}
out:
	json_decref(root);
	if (rc != AG_OK) {
		ag_helpdesk_request_release(out);
		ag_recovery_request_release(rec);
	}
	return rc;
}

/* ---- against the store ------------------------------------------------- */

static bool is_code(enum ag_recovery_kind k)
{
	return k == AG_RECOVERY_SAVED_CODE || k == AG_RECOVERY_ISSUED_CODE ||
	       k == AG_RECOVERY_CONTACT;
}

/* Errors of the store's name checks are the request's; the rest are the
 * store's. */
static bool request_error(ag_code rc)
{
	return rc == AG_ERR_USAGE || rc == AG_ERR_LIMIT ||
	       rc == AG_ERR_INVALID;
}

/* What a help-desk reset adds to a run. */
struct hd_run {
	const struct ag_helpdesk_request *hd;
	const struct ag_claims *agent;
	struct ag_helpdesk_result *out;
};

/* Helpdesk rules that need the check's result and the enrolments. */
static ag_code hd_after_check(struct hd_run *h,
			      const struct ag_recovery_request *r,
			      const struct ag_enrolments *enr,
			      struct ag_recovery_result *res,
			      const char *name, struct ag_error *err)
{
	const struct ag_helpdesk_request *hd = h->hd;
	struct ag_helpdesk_result *out = h->out;

	/* "lost" names what the account holds, and nothing shown as
	 * evidence of the subscriber's control. */
	for (size_t i = 0; i < hd->n_lost; i++) {
		const struct ag_helpdesk_lost *l = &hd->lost[i];
		bool held = false;
		for (size_t k = 0; enr && k < enr->n && !held; k++)
			held = !strcmp(enr->v[k].method, l->method) &&
			       !strcmp(enr->v[k].label, l->label);
		if (!held)
			return ag_err(err, AG_ERR_INVALID,
				      "%s: lost[%zu]: '%s' has no '%s'%s%s%s "
				      "enrolled",
				      name, i, r->account, l->method,
				      l->label[0] ? " (label '" : "", l->label,
				      l->label[0] ? "')" : "");
		for (size_t k = 0; k < r->n_evidence; k++)
			if (r->evidence[k].kind == AG_RECOVERY_AUTHENTICATOR &&
			    r->evidence[k].method &&
			    !strcmp(r->evidence[k].method, l->method))
				return ag_err(err, AG_ERR_INVALID,
					      "%s: lost[%zu]: '%s' is shown as "
					      "evidence[%zu], so it is not "
					      "lost",
					      name, i, l->method, k);
	}

	/* Evidence given under a KBA name: say which name, and why. */
	for (size_t i = 0; i < hd->n_kba; i++)
		for (size_t k = 0; k < res->n_notes; k++) {
			struct ag_recovery_note *n = &res->notes[k];
			if (n->reason != AG_RR_KBA || n->evidence < 0 ||
			    (size_t)n->evidence != hd->kba[i].evidence)
				continue;
			snprintf(n->text, sizeof(n->text), "'%s' (%s) is %s",
				 hd->kba[i].given, hd->kba[i].kba, kba_why);
		}
	if (hd->n_kba)
		out->kba = true;
	for (size_t i = 0; i < hd->n_verified; i++) {
		if (!hd->verified[i].kba)
			continue;
		out->kba = true;
		note(res, AG_RR_KBA, true, -1,
		     "verified[%zu] '%.48s' (%s) is %s", i,
		     hd->verified[i].text, hd->verified[i].kba, kba_why);
	}
	if (out->kba || out->agent_refusal != AG_HD_OK)
		unaccept(res);
	return AG_OK;
}

/* Spends the codes of an accepted recovery, in the order of their ids.
 * A code spent meanwhile refuses it. */
/* Spends the codes of an accepted recovery, inside tx.  A code another
 * recovery spent since the check refuses this one (st->raced), and the
 * caller must then abort tx, which holds the codes spent before it. */
static ag_code spend_codes(struct ag_store *s, struct ag_store_tx *tx,
			   const char *account,
			   const struct ag_recovery_request *r, int64_t now,
			   struct ag_recovery_result *res,
			   struct ag_recovery_state *st, struct ag_error *err)
{
	size_t order[AG_RECOVERY_EVIDENCE_MAX];
	size_t n = res->n_invalidate;

	for (size_t i = 0; i < n; i++)
		order[i] = res->invalidate[i];
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 &&
				   strcmp(r->evidence[order[j - 1]].code_id,
					  r->evidence[order[j]].code_id) > 0;
		     j--) {
			size_t t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		size_t k = order[i];
		const char *id = r->evidence[k].code_id;
		bool already = false;
		ag_code rc = ag_store_tx_code_spend(s, tx, account, id, now,
						    &already, err);
		if (rc == AG_OK) {
			st->spent |= (uint32_t)1 << k;
			continue;
		}
		if (!already) {
			st->store_failed = !request_error(rc);
			return rc;
		}
		st->raced = true;
		unaccept(res);
		res->status[k] = AG_RR_CODE_REUSED;
		note(res, AG_RR_CODE_REUSED, true, (int)k,
		     "code '%.64s' was spent by another recovery while this "
		     "one was checked; a recovery code is used once "
		     "(SP 800-63B-4 §4.2.1.1)",
		     id);
		ag_error_init(err);
		return AG_OK;
	}
	return AG_OK;
}

static json_t *notify_json(const struct ag_recovery_result *res)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < res->n_notify; i++) {
		const struct ag_recovery_address *ad = &res->notify[i];
		json_t *o = json_pack("{s:s, s:s?}", "channel",
				      ag_recovery_channel_name(ad->channel),
				      "address", ad->address);
		if (!o || json_array_append_new(a, o)) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* The account's addresses of record into st, and how many of the
 * request's are not among them. */
static ag_code of_record(struct ag_store *s, const struct ag_recovery_request *r,
			 struct ag_recovery_state *st, struct ag_error *err)
{
	struct ag_store_addresses a = {0};
	ag_code rc = ag_store_address_list(s, r->account, &a, err);

	for (size_t i = 0; rc == AG_OK && i < a.n; i++) {
		size_t n = strlen(a.v[i].address);
		if (i >= AG_RECOVERY_NOTIFY_MAX || n > AG_RECOVERY_ADDRESS_MAX) {
			rc = ag_err(err, AG_ERR_INTERNAL,
				    "'%.64s': a notification address of "
				    "record is out of bounds",
				    r->account);
			break;
		}
		memcpy(st->of_record_text[i], a.v[i].address, n + 1);
		st->of_record[i].channel = a.v[i].channel;
		st->of_record[i].address = st->of_record_text[i];
		st->n_of_record = i + 1;
	}
	for (size_t i = 0; rc == AG_OK && i < r->n_notify; i++) {
		const struct ag_recovery_address *q = &r->notify[i];
		bool found = false;
		for (size_t k = 0; q->address && k < st->n_of_record; k++)
			if (q->channel == st->of_record[k].channel &&
			    ag_recovery_reaches(q->channel, q->address,
						&st->of_record[k]))
				found = true;
		if (!found)
			st->request_addresses_ignored++;
	}
	ag_store_addresses_release(&a);
	if (rc != AG_OK)
		st->n_of_record = 0;
	return rc;
}

/* The journal row of the outcome. */
static ag_code journal(struct ag_store *s, struct ag_store_tx *tx,
		       const struct ag_recovery_request *r,
		       const char *via, int64_t now,
		       const struct ag_recovery_result *res,
		       struct ag_recovery_state *st, const struct hd_run *h,
		       struct ag_error *err)
{
	json_t *o = json_object(), *ev = json_array(), *x = json_array();
	char *fields = NULL;
	ag_code rc = AG_ERR_NOMEM;
	const char *type = h ? (res->accepted ? "helpdesk_reset"
					      : "helpdesk_reset_refused")
			     : (res->accepted ? "recovery"
					      : "recovery_refused");
	if (!o || !ev || !x)
		goto out;
	for (size_t i = 0; i < r->n_evidence; i++)
		json_array_append_new(
			ev, json_string(ag_recovery_kind_name(
				    r->evidence[i].kind)));
	json_object_set_new(o, "account", json_string(r->account));
	json_object_set_new(o, "via", json_string(via ? via : ""));
	json_object_set_new(o, "accepted", json_boolean(res->accepted));
	json_object_set_new(o, "rule",
			    json_string(ag_recovery_rule_name(res->rule)));
	json_object_set_new(o, "basis",
			    res->accepted
				    ? json_string(ag_recovery_basis_name(
					      res->basis))
				    : json_null());
	json_object_set_new(o, "account_aal", json_integer(res->account_aal));
	/* The store holds no IAL: the rule for an AAL3 account rests on the
	 * request's, so the row keeps it. */
	json_object_set_new(o, "account_ial",
			    res->account_ial == AG_IAL_UNKNOWN
				    ? json_null()
				    : json_integer(res->account_ial));
	json_object_set_new(o, "held_to", json_integer(res->held_to));
	json_object_set_new(
		o, "level",
		json_pack("{s:i, s:o, s:b}", "store", st->store_level.aal,
			  "request",
			  st->request_aal == AG_AAL_UNSET
				  ? json_null()
				  : json_integer(st->request_aal),
			  "request_ignored", st->request_ignored));
	json_object_set_new(
		o, "request_addresses_ignored",
		json_integer((json_int_t)st->request_addresses_ignored));
	json_object_set_new(o, "evidence", ev);
	ev = NULL;
	if (h) {
		const struct ag_claims *c = h->agent;
		json_t *kba = json_array();
		json_object_set_new(
			o, "agent",
			json_pack("{s:s?, s:s?, s:i, s:s}", "iss",
				  c ? c->iss : NULL, "sub", c ? c->sub : NULL,
				  "aal", h->out->agent.aal, "refusal",
				  ag_helpdesk_refusal_name(
					  h->out->agent_refusal)));
		if (h->hd->ticket)
			json_object_set_new(o, "ticket",
					    json_string(h->hd->ticket));
		for (size_t i = 0; kba && i < h->hd->n_kba; i++)
			json_array_append_new(kba,
					      json_string(h->hd->kba[i].kba));
		for (size_t i = 0; kba && i < h->hd->n_verified; i++)
			if (h->hd->verified[i].kba)
				json_array_append_new(
					kba,
					json_string(h->hd->verified[i].kba));
		json_object_set_new(o, "kba", kba ? kba : json_null());
		json_int_t steps = (json_int_t)h->hd->n_verified;
		json_object_set_new(o, "verified_steps", json_integer(steps));
	}
	if (res->accepted) {
		for (size_t i = 0; i < r->n_evidence; i++)
			if (st->spent & ((uint32_t)1 << i))
				json_array_append_new(
					x, json_string(r->evidence[i].code_id));
		json_object_set_new(o, "codes_spent", x);
		x = NULL;
		json_object_set_new(o, "issue_saved_code",
				    json_boolean(res->issue_saved_code));
		if (h) {
			json_t *lr = json_array();
			for (size_t i = 0; lr && i < h->hd->n_lost; i++) {
				const struct ag_helpdesk_lost *l =
					&h->hd->lost[i];
				if (h->out->removed & ((uint32_t)1 << i))
					json_array_append_new(
						lr, json_pack("{s:s, s:s}",
							      "method",
							      l->method,
							      "label",
							      l->label));
			}
			json_object_set_new(o, "lost_removed",
					    lr ? lr : json_null());
			json_object_set_new(o, "rebind", json_true());
		}
		json_t *nj = notify_json(res);
		if (!nj)
			goto out;
		json_object_set_new(o, "obligation", json_string("notify"));
		json_object_set_new(o, "notify", nj);
		json_object_set_new(o, "notify_postal",
				    json_boolean(res->notify_postal));
	} else {
		for (size_t i = 0; i < res->n_notes; i++)
			if (res->notes[i].refusal)
				json_array_append_new(
					x, json_string(ag_recovery_reason_name(
						   res->notes[i].reason)));
		json_object_set_new(o, "refusals", x);
		x = NULL;
	}
	fields = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!fields)
		goto out;
	rc = ag_store_tx_journal(s, tx, type, fields, now, &st->journal_seq,
				 err);
	if (rc != AG_OK)
		st->store_failed = rc != AG_ERR_LIMIT && rc != AG_ERR_INVALID;
	free(fields);
	json_decref(o);
	return rc;
out:
	json_decref(o);
	json_decref(ev);
	json_decref(x);
	return ag_err(err, rc, "out of memory");
}

/* Removes the authenticators reported lost, after an accepted reset,
 * inside tx. */
static ag_code remove_lost(struct ag_store *s, struct ag_store_tx *tx,
			   const char *account, const struct hd_run *h,
			   int64_t now, struct ag_recovery_state *st,
			   struct ag_error *err)
{
	for (size_t i = 0; i < h->hd->n_lost; i++) {
		struct ag_enroll_result er;
		ag_code rc = ag_store_tx_enroll_remove(
			s, tx, account, h->hd->lost[i].method,
			h->hd->lost[i].label, now, &er, err);
		if (rc == AG_OK) {
			h->out->removed |= (uint32_t)1 << i;
			continue;
		}
		/* Gone meanwhile: what was asked for holds. */
		if (er.status == AG_ENROLL_MISSING) {
			ag_error_init(err);
			continue;
		}
		st->store_failed = !request_error(rc);
		return rc;
	}
	return AG_OK;
}

/*
 * What an outcome changes in the store, in one write transaction: the
 * codes spent, the authenticators reported lost removed, and the journal
 * row that carries the obligation to notify.  A reset therefore never
 * happens without its row, nor is a row written for one that did not
 * happen: any failure leaves the store as it was.  A code spent by
 * another recovery meanwhile undoes the codes this one spent and journals
 * the refusal instead.
 */
static ag_code commit(struct ag_store *s, const struct ag_recovery_request *r,
		      const char *via, int64_t now,
		      struct ag_recovery_result *res,
		      struct ag_recovery_state *st, struct hd_run *h,
		      struct ag_error *err)
{
	const struct ag_store_ops *ops = s->ops;
	struct ag_store_tx *tx = NULL;
	ag_code rc;

	if ((rc = ops->tx_begin(s, true, &tx, err)))
		goto failed;
	if (res->accepted &&
	    (rc = spend_codes(s, tx, r->account, r, now, res, st, err)))
		goto abort;
	if (st->raced) {
		/* Nothing of this recovery is kept but its refusal. */
		ops->tx_abort(tx);
		st->spent = 0;
		if ((rc = ops->tx_begin(s, true, &tx, err)))
			goto failed;
	}
	if (res->accepted && h) {
		if ((rc = remove_lost(s, tx, r->account, h, now, st, err)))
			goto abort;
	}
	if ((rc = journal(s, tx, r, via, now, res, st, h, err)))
		goto abort;
	if ((rc = ops->tx_commit(tx, err)))
		goto failed;
	return AG_OK;
abort:
	ops->tx_abort(tx);
failed:
	/* Nothing was kept: no code is spent, nothing removed, no row. */
	st->spent = 0;
	st->journal_seq = 0;
	if (h)
		h->out->removed = 0;
	if (!st->store_failed)
		st->store_failed = !request_error(rc);
	return rc;
}

/*
 * The common run: the account from the store, the check, the helpdesk's
 * rules (h not NULL), then with a store the codes, the removals and the
 * journal row.
 */
static ag_code run(struct ag_store *s, const struct ag_policy *p,
		   const struct ag_recovery_request *r, const char *name,
		   const char *via, int64_t now, struct ag_recovery_result *res,
		   struct ag_recovery_state *st, struct hd_run *h,
		   struct ag_error *err)
{
	uint16_t req_idx[AG_RECOVERY_ENROLLED_MAX];
	uint16_t store_idx[AG_STORE_ENROLMENTS_MAX];
	struct ag_recovery_account acct;
	struct ag_enrolments enr = {0};
	const char **used = NULL;
	size_t n_used = 0;
	ag_code rc;

	memset(res, 0, sizeof(*res));
	res->account_ial = AG_IAL_UNKNOWN;
	memset(st, 0, sizeof(*st));
	st->request_aal = AG_AAL_UNSET;
	st->store_ial = st->request_ial = AG_IAL_UNKNOWN;
	if (!name)
		name = "request";
	if (!p || !r)
		return ag_err(err, AG_ERR_USAGE, "%s: no policy or request",
			      name);
	if ((rc = ag_recovery_request_account(p, r, name, req_idx,
					      AG_ARRAY_SIZE(req_idx), &acct,
					      err)))
		return rc;

	/* What the request claims: "level", or what "enrolled" reach. */
	st->request_aal = r->aal;
	if (r->n_enrolled) {
		struct ag_assurance a;
		ag_combine(&p->catalogue, req_idx, r->n_enrolled,
			   AG_USE_SIGNIN, &a);
		if (a.aal > st->request_aal)
			st->request_aal = a.aal;
	}

	if (s) {
		st->stored = true;
		if (!r->account)
			return ag_err(err, AG_ERR_INVALID,
				      "%s: 'account' is required with the "
				      "state store",
				      name);
		if (r->has_now)
			return ag_err(err, AG_ERR_INVALID,
				      "%s: 'now' cannot be set when the state "
				      "store is used",
				      name);
		rc = ag_store_enroll_list(s, r->account, &enr, err);
		if (rc != AG_OK) {
			st->store_failed = !request_error(rc);
			goto out;
		}
		if (enr.n == 0) {
			rc = ag_err(err, AG_ERR_NOT_FOUND,
				    "%s: '%s' has no enrolled authenticators "
				    "in the state store; its own level is "
				    "not known, so it cannot be recovered",
				    name, r->account);
			goto out;
		}
		if (enr.n > AG_ARRAY_SIZE(store_idx)) {
			st->store_failed = true;
			rc = ag_err(err, AG_ERR_LIMIT,
				    "%s: '%s' holds more than %zu enrolments",
				    name, r->account, AG_ARRAY_SIZE(store_idx));
			goto out;
		}
		if ((rc = ag_enrolments_level(p, enr.v, enr.n,
					      &st->store_level, err))) {
			st->store_failed = true;
			goto out;
		}
		for (size_t i = 0; i < enr.n; i++)
			store_idx[i] = (uint16_t)ag_catalogue_find(
				&p->catalogue, enr.v[i].method);
		st->n_enrolments = enr.n;
		/* Only the store's enrolments are bound to the account; the
		 * request may raise the level, never lower it. */
		acct.enrolled = store_idx;
		acct.n_enrolled = enr.n;
		acct.aal = AG_AAL_UNSET;
		if (st->request_aal != AG_AAL_UNSET) {
			if (st->request_aal > st->store_level.aal)
				acct.aal = st->request_aal;
			else if (st->request_aal < st->store_level.aal)
				st->request_ignored = true;
		}
		/* Likewise the IAL the account was proofed at: recovery of
		 * an AAL3 account turns on it (§4.2.2.3), so the request may
		 * raise it, never lower it. */
		rc = ag_store_account_ial(s, r->account, &st->store_ial, err);
		if (rc != AG_OK) {
			st->store_failed = !request_error(rc);
			goto out;
		}
		if (st->store_ial != AG_IAL_UNKNOWN &&
		    (acct.ial == AG_IAL_UNKNOWN || acct.ial < st->store_ial)) {
			if (acct.ial != AG_IAL_UNKNOWN) {
				st->request_ial = acct.ial;
				st->request_ial_ignored = true;
			}
			acct.ial = st->store_ial;
		}
		/* Those told of it are the account's addresses of record,
		 * never the request's alone: a caller that named its own
		 * would keep the recovery from the subscriber. */
		if ((rc = of_record(s, r, st, err)) != AG_OK) {
			/* More addresses than an account may hold is the
			 * store's damage, not the request's. */
			st->store_failed = true;
			if (rc == AG_ERR_LIMIT || rc == AG_ERR_INVALID) {
				char why[AG_ERRMSG_MAX];
				snprintf(why, sizeof(why), "%s",
					 err ? err->msg : "");
				rc = ag_err(err, AG_ERR_INTERNAL, "%s", why);
			}
			goto out;
		}
		acct.notify = st->of_record;
		acct.n_notify = st->n_of_record;
		acct.of_record = true;

		/* The codes already spent: the request's and the store's. */
		used = calloc(r->n_used + r->n_evidence + 1, sizeof(*used));
		if (!used) {
			rc = ag_err(err, AG_ERR_NOMEM, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < r->n_used; i++)
			used[n_used++] = r->used[i];
		for (size_t i = 0; i < r->n_evidence; i++) {
			const struct ag_recovery_evidence *e = &r->evidence[i];
			bool spent = true;
			if (!is_code(e->kind) || !e->code_id)
				continue;
			rc = ag_store_code_spent(s, r->account, e->code_id,
						 &spent, err);
			if (rc != AG_OK) {
				st->store_failed = !request_error(rc);
				goto out;
			}
			if (spent)
				used[n_used++] = e->code_id;
		}
	}

	rc = ag_recovery_check(p, &acct, r->evidence, r->n_evidence,
			       s ? used : (const char *const *)r->used,
			       s ? n_used : r->n_used, now, res);
	if (rc != AG_OK) {
		rc = ag_err(err, rc, "%s: %s", name, ag_strerror(rc));
		goto out;
	}
	if (st->request_ignored)
		note(res, AG_RW_LEVEL_MISMATCH, false, -1,
		     "the request gives AAL%d but the account's enrolments in "
		     "the state store reach AAL%d; a request may raise the "
		     "level, never lower it",
		     st->request_aal, st->store_level.aal);
	if (st->request_ial_ignored)
		note(res, AG_RW_IAL_MISMATCH, false, -1,
		     "the request gives IAL%d but the state store records "
		     "IAL%d for the account; a request may raise the IAL, "
		     "never lower it",
		     st->request_ial, st->store_ial);
	if (st->stored && st->n_of_record == 0)
		note(res, AG_RW_NOT_ON_RECORD, false, -1,
		     "the state store holds no notification address for "
		     "'%.64s': record the account's addresses with `aalgate "
		     "enroll address`; a request's are not taken",
		     r->account);
	else if (st->request_addresses_ignored)
		note(res, AG_RW_NOT_ON_RECORD, false, -1,
		     "%zu notification address%s in the request %s not on "
		     "record for the account and will not be told; only "
		     "the addresses of record are",
		     st->request_addresses_ignored,
		     st->request_addresses_ignored == 1 ? "" : "es",
		     st->request_addresses_ignored == 1 ? "is" : "are");
	if (h && (rc = hd_after_check(h, r, s ? &enr : NULL, res, name, err)))
		goto out;
	if (!s)
		goto out;

	rc = commit(s, r, via, now, res, st, h, err);
out:
	if (rc != AG_OK)
		unaccept(res);
	free(used);
	ag_enrolments_release(&enr);
	return rc;
}

ag_code ag_recovery_run(struct ag_store *s, const struct ag_policy *p,
			const struct ag_recovery_request *r, const char *name,
			const char *via, int64_t now,
			struct ag_recovery_result *res,
			struct ag_recovery_state *st, struct ag_error *err)
{
	struct ag_recovery_state dummy;
	if (!res)
		return ag_err(err, AG_ERR_USAGE, "no result given");
	/* With a store, res names addresses that live in *st. */
	if (s && !st) {
		memset(res, 0, sizeof(*res));
		return ag_err(err, AG_ERR_USAGE,
			      "a recovery against the store needs its state");
	}
	return run(s, p, r, name, via, now, res, st ? st : &dummy, NULL, err);
}

/* ---- the help desk ----------------------------------------------------- */

static const char *const hd_refusal_names[AG_HD__COUNT] = {
	[AG_HD_OK] = "ok",
	[AG_HD_NO_AGENT] = "agent_unidentified",
	[AG_HD_AGENT_AAL] = "agent_below_aal2",
	[AG_HD_AGENT_WORKFLOW] = "agent_workflow",
	[AG_HD_SELF] = "self_reset",
};

const char *ag_helpdesk_refusal_name(enum ag_helpdesk_refusal r)
{
	return (unsigned)r < AG_HD__COUNT ? hd_refusal_names[r] : "unknown";
}

static void agent_refuse(struct ag_helpdesk_result *out,
			 enum ag_helpdesk_refusal r, const char *fmt, ...)
	AG_PRINTF(3, 4);

static void agent_refuse(struct ag_helpdesk_result *out,
			 enum ag_helpdesk_refusal r, const char *fmt, ...)
{
	va_list ap;
	out->agent_refusal = r;
	va_start(ap, fmt);
	vsnprintf(out->agent_why, sizeof(out->agent_why), fmt, ap);
	va_end(ap);
}

/* May the agent whose verified claims are c reset account at now? */
static ag_code agent_check(const struct ag_policy *p, const char *account,
			   const struct ag_claims *c, int64_t now,
			   struct ag_helpdesk_result *out,
			   struct ag_error *err)
{
	if (!c || !c->sub || !c->sub[0]) {
		agent_refuse(out, AG_HD_NO_AGENT,
			     "the agent's token names no subject: who reset "
			     "the account could not be recorded");
		return AG_OK;
	}
	ag_claims_assurance(p, c, &out->agent);
	/* The store names accounts by sub, or "ISSUER sub" when a policy
	 * has several issuers; either way it is the agent. */
	char both[AG_STORE_ACCOUNT_MAX * 2 + 2];
	snprintf(both, sizeof(both), "%s %s", c->iss ? c->iss : "", c->sub);
	if (!strcmp(account, c->sub) || !strcasecmp(account, c->sub) ||
	    !strcmp(account, both)) {
		agent_refuse(out, AG_HD_SELF,
			     "'%.64s' may not reset their own account: a "
			     "help-desk reset needs someone other than the "
			     "subscriber to verify the evidence",
			     c->sub);
		return AG_OK;
	}
	if (out->agent.aal < 2) {
		agent_refuse(out, AG_HD_AGENT_AAL,
			     "the agent '%.64s' authenticated at AAL%d; a "
			     "help-desk reset needs the agent at AAL2 or "
			     "above",
			     c->sub, out->agent.aal);
		return AG_OK;
	}
	if (ag_policy_workflow(p, AG_HELPDESK_WORKFLOW) >= 0) {
		struct ag_gate *g = NULL;
		struct ag_decision d;
		ag_code rc = ag_gate_new(p, &g, err);
		if (rc != AG_OK)
			return rc;
		struct ag_request req = {.workflow = AG_HELPDESK_WORKFLOW,
					 .now = now};
		ag_gate_decide(g, NULL, NULL, &req, c, AG_TOK_OK, &d);
		ag_gate_free(g);
		if (d.outcome != AG_ALLOW)
			agent_refuse(out, AG_HD_AGENT_WORKFLOW,
				     "the policy's '%s' workflow does not "
				     "allow the agent's token: %.200s",
				     AG_HELPDESK_WORKFLOW, d.detail);
	}
	return AG_OK;
}

ag_code ag_helpdesk_reset(struct ag_store *s, const struct ag_policy *p,
			  const struct ag_recovery_request *rec,
			  const struct ag_helpdesk_request *hd,
			  const char *name, const struct ag_claims *agent,
			  int64_t now, struct ag_recovery_result *res,
			  struct ag_helpdesk_result *out, struct ag_error *err)
{
	ag_code rc;

	if (!res || !out)
		return ag_err(err, AG_ERR_USAGE, "no result given");
	memset(out, 0, sizeof(*out));
	memset(res, 0, sizeof(*res));
	if (!p || !rec || !hd || !rec->account)
		return ag_err(err, AG_ERR_USAGE,
			      "no policy, request or account given");
	if (hd->n_lost && !s)
		return ag_err(err, AG_ERR_INVALID,
			      "%s: 'lost' needs the state store",
			      name ? name : "request");
	if ((rc = agent_check(p, rec->account, agent, now, out, err)))
		return rc;
	struct hd_run h = {.hd = hd, .agent = agent, .out = out};
	rc = run(s, p, rec, name, AG_RECOVERY_VIA_CLI, now, res, &out->state,
		 &h, err);
	out->accepted = rc == AG_OK && res->accepted &&
			out->agent_refusal == AG_HD_OK && !out->kba;
	return rc;
}

/* ---- answers ----------------------------------------------------------- */

static void json_ial(struct ag_jsonw *w, int ial)
{
	if (ial == AG_IAL_UNKNOWN)
		ag_jw_null(w);
	else
		ag_jw_int(w, ial);
}

/* The members of the recovery answer, from "accepted" to
 * "issue_saved_code"; extra_refusal (may be NULL) goes first among the
 * refusals. */
static void answer_members(struct ag_jsonw *w,
			   const struct ag_recovery_request *r,
			   const struct ag_recovery_result *res,
			   const struct ag_recovery_state *st, int64_t now,
			   const char *extra_reason, const char *extra_text)
{
	ag_jw_key(w, "accepted");
	ag_jw_bool(w, res->accepted && !extra_reason);
	ag_jw_key(w, "account");
	ag_jw_str(w, r->account);
	ag_jw_key(w, "account_aal");
	ag_jw_int(w, res->account_aal);
	ag_jw_key(w, "account_ial");
	json_ial(w, res->account_ial);
	ag_jw_key(w, "held_to");
	ag_jw_int(w, res->held_to);
	ag_jw_key(w, "rule");
	ag_jw_str(w, ag_recovery_rule_name(res->rule));
	ag_jw_key(w, "basis");
	if (res->accepted)
		ag_jw_str(w, ag_recovery_basis_name(res->basis));
	else
		ag_jw_null(w);
	ag_jw_key(w, "now");
	ag_jw_int(w, (long long)now);

	ag_jw_key(w, "evidence");
	ag_jw_arr(w);
	for (size_t i = 0; i < res->n_status && i < r->n_evidence; i++) {
		const struct ag_recovery_evidence *e = &r->evidence[i];
		ag_jw_obj(w);
		ag_jw_key(w, "kind");
		ag_jw_str(w, ag_recovery_kind_name(e->kind));
		if (e->channel) {
			ag_jw_key(w, "channel");
			ag_jw_str(w, ag_recovery_channel_name(e->channel));
		}
		if (e->code_id) {
			ag_jw_key(w, "code_id");
			ag_jw_str(w, e->code_id);
		}
		if (e->sent_to) {
			ag_jw_key(w, "sent_to");
			ag_jw_str(w, e->sent_to);
		}
		if (e->method) {
			ag_jw_key(w, "method");
			ag_jw_str(w, e->method);
		}
		ag_jw_key(w, "status");
		ag_jw_str(w, ag_recovery_reason_name(res->status[i]));
		ag_jw_obj_end(w);
	}
	ag_jw_arr_end(w);

	for (int pass = 0; pass < 2; pass++) {
		bool refusals = pass == 0;
		ag_jw_key(w, refusals ? "refusals" : "warnings");
		ag_jw_arr(w);
		if (refusals && extra_reason) {
			ag_jw_obj(w);
			ag_jw_key(w, "reason");
			ag_jw_str(w, extra_reason);
			ag_jw_key(w, "evidence");
			ag_jw_null(w);
			ag_jw_key(w, "text");
			ag_jw_str(w, extra_text);
			ag_jw_obj_end(w);
		}
		for (size_t i = 0; i < res->n_notes; i++) {
			const struct ag_recovery_note *n = &res->notes[i];
			if (n->refusal != refusals)
				continue;
			ag_jw_obj(w);
			ag_jw_key(w, "reason");
			ag_jw_str(w, ag_recovery_reason_name(n->reason));
			if (refusals) {
				ag_jw_key(w, "evidence");
				if (n->evidence >= 0)
					ag_jw_int(w, n->evidence);
				else
					ag_jw_null(w);
			}
			ag_jw_key(w, "text");
			ag_jw_str(w, n->text);
			ag_jw_obj_end(w);
		}
		ag_jw_arr_end(w);
	}

	ag_jw_key(w, "notify");
	if (res->accepted) {
		ag_jw_obj(w);
		ag_jw_key(w, "postal");
		ag_jw_bool(w, res->notify_postal);
		ag_jw_key(w, "addresses");
		ag_jw_arr(w);
		for (size_t i = 0; i < res->n_notify; i++) {
			const struct ag_recovery_address *a = &res->notify[i];
			ag_jw_obj(w);
			ag_jw_key(w, "channel");
			ag_jw_str(w, ag_recovery_channel_name(a->channel));
			ag_jw_key(w, "address");
			ag_jw_str(w, a->address);
			ag_jw_obj_end(w);
		}
		ag_jw_arr_end(w);
		ag_jw_obj_end(w);
	} else {
		ag_jw_null(w);
	}
	ag_jw_key(w, "invalidate_codes");
	ag_jw_arr(w);
	for (size_t i = 0; i < res->n_invalidate; i++)
		ag_jw_str(w, r->evidence[res->invalidate[i]].code_id);
	ag_jw_arr_end(w);
	ag_jw_key(w, "issue_saved_code");
	ag_jw_bool(w, res->issue_saved_code);

	if (!st || !st->stored)
		return;
	ag_jw_key(w, "state");
	ag_jw_obj(w);
	ag_jw_key(w, "store_aal");
	ag_jw_int(w, st->store_level.aal);
	ag_jw_key(w, "request_aal");
	if (st->request_aal == AG_AAL_UNSET)
		ag_jw_null(w);
	else
		ag_jw_int(w, st->request_aal);
	ag_jw_key(w, "request_ignored");
	ag_jw_bool(w, st->request_ignored);
	ag_jw_key(w, "addresses_of_record");
	ag_jw_int(w, (long long)st->n_of_record);
	ag_jw_key(w, "request_addresses_ignored");
	ag_jw_int(w, (long long)st->request_addresses_ignored);
	ag_jw_key(w, "codes_spent");
	ag_jw_arr(w);
	for (size_t i = 0; i < r->n_evidence; i++)
		if (st->spent & ((uint32_t)1 << i))
			ag_jw_str(w, r->evidence[i].code_id);
	ag_jw_arr_end(w);
	ag_jw_key(w, "journal_seq");
	ag_jw_int(w, (long long)st->journal_seq);
	ag_jw_obj_end(w);
}

/* A JSON writer into memory: open_memstream, closed by end_text. */
struct mem_writer {
	FILE *f;
	char *buf;
	size_t len;
	struct ag_jsonw *w;
};

static bool begin_text(struct mem_writer *m)
{
	memset(m, 0, sizeof(*m));
	m->w = malloc(sizeof(*m->w));
	if (!m->w || !(m->f = open_memstream(&m->buf, &m->len))) {
		free(m->w);
		return false;
	}
	ag_jw_init(m->w, m->f, 2);
	return true;
}

static char *end_text(struct mem_writer *m)
{
	ag_jw_end(m->w);
	bool bad = ferror(m->f) != 0;
	if (fclose(m->f) != 0)
		bad = true;
	free(m->w);
	if (bad) {
		free(m->buf);
		return NULL;
	}
	return m->buf;
}

char *ag_recovery_answer(const struct ag_recovery_request *r,
			 const struct ag_recovery_result *res,
			 const struct ag_recovery_state *st, int64_t now)
{
	struct mem_writer m;
	if (!r || !res || !begin_text(&m))
		return NULL;
	ag_jw_obj(m.w);
	answer_members(m.w, r, res, st, now, NULL, NULL);
	ag_jw_obj_end(m.w);
	return end_text(&m);
}

char *ag_helpdesk_answer(const struct ag_recovery_request *rec,
			 const struct ag_helpdesk_request *hd,
			 const struct ag_claims *agent,
			 const struct ag_recovery_result *res,
			 const struct ag_helpdesk_result *out, int64_t now)
{
	struct mem_writer m;
	if (!rec || !hd || !res || !out || !begin_text(&m))
		return NULL;
	struct ag_jsonw *w = m.w;
	bool agent_refused = out->agent_refusal != AG_HD_OK;
	ag_jw_obj(w);
	answer_members(w, rec, res, &out->state, now,
		       agent_refused ? ag_helpdesk_refusal_name(
					       out->agent_refusal)
				     : NULL,
		       out->agent_why);
	ag_jw_key(w, "agent");
	ag_jw_obj(w);
	ag_jw_key(w, "iss");
	ag_jw_str(w, agent ? agent->iss : NULL);
	ag_jw_key(w, "sub");
	ag_jw_str(w, agent ? agent->sub : NULL);
	ag_jw_key(w, "aal");
	ag_jw_int(w, out->agent.aal);
	ag_jw_key(w, "phishing_resistant");
	ag_jw_bool(w, out->agent.phishing_resistant);
	ag_jw_key(w, "hardware");
	ag_jw_bool(w, out->agent.hardware);
	ag_jw_key(w, "refusal");
	if (agent_refused)
		ag_jw_str(w, ag_helpdesk_refusal_name(out->agent_refusal));
	else
		ag_jw_null(w);
	ag_jw_obj_end(w);
	ag_jw_key(w, "ticket");
	ag_jw_str(w, hd->ticket);
	ag_jw_key(w, "verified");
	ag_jw_arr(w);
	for (size_t i = 0; i < hd->n_verified; i++) {
		ag_jw_obj(w);
		ag_jw_key(w, "step");
		ag_jw_str(w, hd->verified[i].text);
		ag_jw_key(w, "kba");
		ag_jw_str(w, hd->verified[i].kba);
		ag_jw_key(w, "counted");
		ag_jw_bool(w, false);
		ag_jw_obj_end(w);
	}
	ag_jw_arr_end(w);
	ag_jw_key(w, "lost");
	ag_jw_arr(w);
	for (size_t i = 0; i < hd->n_lost; i++) {
		ag_jw_obj(w);
		ag_jw_key(w, "method");
		ag_jw_str(w, hd->lost[i].method);
		ag_jw_key(w, "label");
		ag_jw_str(w, hd->lost[i].label);
		ag_jw_key(w, "removed");
		ag_jw_bool(w, (out->removed >> i) & 1u);
		ag_jw_obj_end(w);
	}
	ag_jw_arr_end(w);
	ag_jw_obj_end(w);
	return end_text(&m);
}
