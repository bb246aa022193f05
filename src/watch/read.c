/*
 * The event readers (docs/watch.md, aalgate/watch.h): bytes in, normalized
 * events out.  This file splits the input into records, tells the sources
 * apart, keeps the counts, and holds what the per-source mappers
 * (read-<source>.c) share.
 *
 * What becomes what (docs/watch.md repeats this table):
 *
 *  aalgate decision log (src/gate/dlog.c; the journal rows of src/govern)
 *    "decision"                        access (allow: success; deny,
 *                                      step_up: failure), observed
 *                                      assurance and device; what_if
 *                                      decisions and decisions without a
 *                                      subject (no or bad token) ignored
 *    "pam"                             access, interactive
 *    "grant_activate" of a break-glass grant, "break_glass_use"
 *                                      break_glass
 *    "enroll_add"                      enroll (the method; assurance: the
 *                                      authentication shown, if any)
 *    "enroll_remove"                   factor_reset; dropped when the
 *                                      next row is the help-desk reset
 *                                      that removed it (same account and
 *                                      time), which says it already
 *    "helpdesk_reset", "..._refused"   helpdesk_reset, actor the agent
 *    "recovery", "recovery_refused"    recovery
 *    other rows                        ignored; a journal row logged twice
 *                                      (same store and journal_seq) is
 *                                      read once
 *  generic (docs/watch.md)                 its kind: login, recovery,
 *                                      factor_reset, helpdesk_reset,
 *                                      enroll, access, token_use,
 *                                      break_glass
 *  Okta System Log (LogEvent)
 *    user.session.start,
 *    user.authentication.auth_via_mfa, .verify, .authenticate,
 *    .auth_via_*                       login (auth_via_richclient:
 *                                      protocol basic; auth_via_radius:
 *                                      radius)
 *    user.authentication.sso           access
 *    user.mfa.factor.deactivate, .reset_all
 *                                      factor_reset; helpdesk_reset when
 *                                      the actor is not the target user
 *    user.account.reset_password       recovery; helpdesk_reset likewise
 *    user.account.update_password      enroll (password); helpdesk_reset
 *                                      likewise
 *    user.mfa.factor.activate, .update enroll (the factor)
 *    anything else (policy.*, system.*, group.*, ...)   ignored
 *  AWS CloudTrail (one per line or {"Records": [...]})
 *    ConsoleLogin                      login, interactive (MFAUsed: the
 *                                      password and the MFA device; a
 *                                      federated sign-in says nothing of
 *                                      how the user authenticated)
 *    AssumeRole, AssumeRoleWithSAML, AssumeRoleWithWebIdentity,
 *    GetSessionToken, GetFederationToken
 *                                      token_use
 *    any other call signed with an access key (AKIA..., ASIA...)
 *                                      token_use, credential the key id
 *    anything else                     ignored
 *  Keycloak events (user and admin events, as the event store and the
 *  admin REST API return them)
 *    LOGIN, LOGIN_ERROR                login (direct grant: protocol ropc)
 *    CLIENT_LOGIN(_ERROR)              token_use, credential the client
 *    CODE_TO_TOKEN(_ERROR), REFRESH_TOKEN(_ERROR), TOKEN_EXCHANGE(_ERROR)
 *                                      token_use
 *    RESET_PASSWORD(_ERROR)            recovery
 *    UPDATE_PASSWORD, UPDATE_TOTP, UPDATE_CREDENTIAL,
 *    REGISTER_CREDENTIAL (and _ERROR)  enroll
 *    REMOVE_TOTP, REMOVE_CREDENTIAL (and _ERROR)
 *                                      factor_reset
 *    admin: users/ID/reset-password, reset-password-email,
 *    disable-credential-types, credentials/ID
 *                                      helpdesk_reset, actor the admin
 *    anything else                     ignored
 *  auth.log (syslog)
 *    sshd Accepted/Failed METHOD for USER from IP
 *                                      login, interactive, protocol ssh
 *    sshd Invalid user USER from IP    login, failure
 *    sudo USER : ... COMMAND=...       access, interactive
 *    other lines (pam_unix sessions, Connection from, ...)   ignored
 *
 * Splitting: a record is a JSON value (a line, or a pretty-printed
 * document over many lines, its end found by a string-aware bracket
 * matcher), an element of a top-level JSON array or of CloudTrail's
 * {"Records": [...]} (each with the line it starts on), or a text line.
 * Records are gathered in one buffer that never grows past max_record; a
 * longer record is skipped as it streams past.  A JSON record cut short
 * never swallows the lines after it: a raw line break inside a string
 * ends it, and so does a line that begins with '{' (pretty printers
 * indent nested values; jq, Python and JavaScript all do).
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "read-int.h"
#include "banned.h"

#define DEFAULT_MAX_RECORD ((size_t)1 << 20)
#define MIN_MAX_RECORD ((size_t)64)
#define MAX_MAX_RECORD ((size_t)256 << 20)

enum {
	SP_BOM = 0, /* the first bytes of an input: a UTF-8 BOM? */
	SP_IDLE,    /* between records */
	SP_JSON,    /* inside a JSON record */
	SP_TEXT,    /* inside a text line */
	SP_SCALAR,  /* a JSON array element that is no object: skipped */
	SP_TAIL     /* after CloudTrail's Records array, to the closing '}' */
};

enum { W_NONE = 0, W_ARRAY, W_RECORDS };

/* ---- names ---- */

static const char *const source_names[AG_SRC__COUNT] = {
	[AG_SRC_AUTO] = "auto",		[AG_SRC_AALGATE] = "aalgate",
	[AG_SRC_GENERIC] = "generic",	[AG_SRC_OKTA] = "okta",
	[AG_SRC_CLOUDTRAIL] = "cloudtrail", [AG_SRC_KEYCLOAK] = "keycloak",
	[AG_SRC_AUTHLOG] = "authlog",
};

const char *ag_event_source_name(enum ag_event_source s)
{
	return (unsigned)s < AG_SRC__COUNT ? source_names[s] : "unknown";
}

ag_code ag_event_source_parse(const char *s, enum ag_event_source *out,
			      struct ag_error *err)
{
	struct ag_suggest sg;

	if (!s || !out)
		return ag_err(err, AG_ERR_USAGE, "no source name given");
	for (unsigned i = 0; i < AG_SRC__COUNT; i++)
		if (!strcmp(s, source_names[i])) {
			*out = (enum ag_event_source)i;
			return AG_OK;
		}
	ag_suggest_init(&sg, s);
	for (unsigned i = 0; i < AG_SRC__COUNT; i++)
		ag_suggest_add(&sg, source_names[i]);
	ag_code rc = ag_err(err, AG_ERR_INVALID,
			    "unknown event source '%s' (one of auto, aalgate, "
			    "generic, okta, cloudtrail, keycloak, authlog)",
			    s);
	ag_err_hint(err, ag_suggest_best(&sg));
	return rc;
}

static const char *const kind_names[AG_EV__COUNT] = {
	[AG_EV_LOGIN] = "login",
	[AG_EV_RECOVERY] = "recovery",
	[AG_EV_FACTOR_RESET] = "factor_reset",
	[AG_EV_HELPDESK_RESET] = "helpdesk_reset",
	[AG_EV_ENROLL] = "enroll",
	[AG_EV_ACCESS] = "access",
	[AG_EV_TOKEN_USE] = "token_use",
	[AG_EV_BREAK_GLASS] = "break_glass",
};

const char *ag_event_kind_name(enum ag_event_kind k)
{
	return (unsigned)k < AG_EV__COUNT ? kind_names[k] : "unknown";
}

/* ---- helpers for the mappers ---- */

int wr_method(const struct ag_event_reader *r, const char *name)
{
	uint32_t v;
	return name && ag_strmap_get(&r->methods, name, &v) ? (int)v : -1;
}

enum wr_map wr_skip(struct ag_event_reader *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
	return WR_SKIP;
}

bool wr_valid_date(int64_t y, unsigned m, unsigned d)
{
	static const unsigned mdays[12] = {31, 28, 31, 30, 31, 30,
					   31, 31, 30, 31, 30, 31};
	if (m < 1 || m > 12 || d < 1)
		return false;
	unsigned max = mdays[m - 1];
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		max = 29;
	return d <= max;
}

/* H. Hinnant's days_from_civil. */
int64_t wr_days(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t mm = m;
	int64_t doy = (153 * (mm + (mm > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool digits(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

bool wr_time_rfc3339(const char *s, size_t n, int64_t *ms)
{
	unsigned y, mo, d, h, mi, sec, frac = 0;
	size_t p = 19;

	if (n < 20 || s[4] != '-' || s[7] != '-' || s[13] != ':' ||
	    s[16] != ':' ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    !digits(s, 4, &y) || !digits(s + 5, 2, &mo) ||
	    !digits(s + 8, 2, &d) || !digits(s + 11, 2, &h) ||
	    !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec))
		return false;
	if (!wr_valid_date(y, mo, d) || h > 23 || mi > 59 || sec > 60)
		return false;
	if (s[p] == '.') {
		size_t k = 0;
		p++;
		for (; p < n && s[p] >= '0' && s[p] <= '9'; p++, k++)
			if (k < 3)
				frac = frac * 10 + (unsigned)(s[p] - '0');
		if (!k)
			return false;
		for (; k < 3; k++)
			frac *= 10;
	}
	int64_t off = 0;
	if (p < n && (s[p] == 'Z' || s[p] == 'z')) {
		p++;
	} else if (p + 6 == n && (s[p] == '+' || s[p] == '-') &&
		   s[p + 3] == ':') {
		unsigned oh, om;
		if (!digits(s + p + 1, 2, &oh) || !digits(s + p + 4, 2, &om) ||
		    oh > 23 || om > 59)
			return false;
		off = (int64_t)(oh * 3600 + om * 60) * (s[p] == '-' ? -1 : 1);
		p += 6;
	} else {
		return false;
	}
	if (p != n)
		return false;
	int64_t t = wr_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
	*ms = t * 1000 + frac;
	return true;
}

bool wr_add_method(struct ag_event *ev, int k)
{
	if (k < 0)
		return true;
	for (uint8_t i = 0; i < ev->n_methods; i++)
		if (ev->methods[i] == (uint16_t)k)
			return true;
	if (ev->n_methods >= AG_EVENT_MAX_METHODS)
		return false;
	ev->methods[ev->n_methods++] = (uint16_t)k;
	return true;
}

void wr_assure_methods(const struct ag_event_reader *r, struct ag_event *ev)
{
	if (!ev->n_methods) {
		ev->assurance_known = false;
		return;
	}
	ag_combine(&r->p->catalogue, ev->methods, ev->n_methods, AG_USE_SIGNIN,
		   &ev->assurance);
	ev->assurance_known = true;
}

char *wr_scr(struct ag_event_reader *r, size_t n)
{
	if (r->scr_len == 0) {
		/* Strings a mapper builds are pieces of the record and a few
		 * words: reserving once per record keeps earlier pointers
		 * valid. */
		size_t want = r->rec_len + 1024;
		if (want < n)
			want = n;
		if (want > r->scr_alloc) {
			char *ns = realloc(r->scr, want);
			if (!ns)
				return NULL;
			r->scr = ns;
			r->scr_alloc = want;
		}
	}
	if (n > r->scr_alloc - r->scr_len)
		return NULL;
	char *s = r->scr + r->scr_len;
	r->scr_len += n;
	return s;
}

const char *wr_scr_str(struct ag_event_reader *r, const char *s, size_t n)
{
	char *d = wr_scr(r, n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

const char *wr_scr_cat(struct ag_event_reader *r, const char *a,
		       const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = c ? strlen(c) : 0;
	char *d = wr_scr(r, la + lb + lc + 1);
	if (!d)
		return NULL;
	memcpy(d, a, la);
	memcpy(d + la, b, lb);
	if (lc)
		memcpy(d + la + lb, c, lc);
	d[la + lb + lc] = '\0';
	return d;
}

bool wr_is_ip(const char *s)
{
	unsigned char a[16];
	return s && (inet_pton(AF_INET, s, a) == 1 ||
		     inet_pton(AF_INET6, s, a) == 1);
}

bool wr_emit(struct ag_event_reader *r, struct ag_event *ev)
{
	if ((unsigned)ev->source < AG_SRC__COUNT)
		r->st.events[ev->source]++;
	if (!r->fn)
		return true;
	ag_code rc = r->fn(r->ctx, ev);
	if (rc != AG_OK) {
		r->fn_rc = rc;
		return false;
	}
	return true;
}

void wr_count_skip(struct ag_event_reader *r, uint64_t line, const char *why)
{
	char clean[sizeof(r->st.first_skips[0].why)];
	size_t i = 0;

	/* Only printable ASCII reaches a terminal or a log: a record's
	 * bytes quoted in a reason could hold escapes or bidi controls. */
	for (; why[i] && i < sizeof(clean) - 1; i++) {
		unsigned char c = (unsigned char)why[i];
		clean[i] = c >= 0x20 && c < 0x7F ? (char)c : '?';
	}
	clean[i] = '\0';
	r->st.skipped++;
	if (r->st.n_first_skips < AG_ARRAY_SIZE(r->st.first_skips)) {
		size_t k = r->st.n_first_skips++;
		r->st.first_skips[k].file = r->file;
		r->st.first_skips[k].line = line;
		memcpy(r->st.first_skips[k].why, clean, i + 1);
	}
	if (r->skip_fn)
		r->skip_fn(r->skip_ctx, r->file, line, clean);
}

/* ---- the reader ---- */

ag_code ag_event_reader_new(const struct ag_policy *p,
			    const struct ag_event_reader_opts *opts,
			    struct ag_event_reader **out, struct ag_error *err)
{
	struct ag_event_reader_opts o = {0};
	struct ag_event_reader *r;

	if (out)
		*out = NULL;
	if (!p || !out)
		return ag_err(err, AG_ERR_USAGE, "no policy given");
	if (opts)
		o = *opts;
	if ((unsigned)o.source >= AG_SRC__COUNT)
		return ag_err(err, AG_ERR_USAGE, "unknown event source %d",
			      (int)o.source);
	if (!o.max_record)
		o.max_record = DEFAULT_MAX_RECORD;
	if (o.max_record < MIN_MAX_RECORD || o.max_record > MAX_MAX_RECORD)
		return ag_err(err, AG_ERR_USAGE,
			      "a record size cap of %zu bytes is outside "
			      "64 B..256 MiB",
			      o.max_record);
	if (o.default_year && (o.default_year < 1970 || o.default_year > 9999))
		return ag_err(err, AG_ERR_USAGE,
			      "default year %d is outside 1970..9999",
			      o.default_year);
	r = calloc(1, sizeof(*r));
	if (!r)
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	r->p = p;
	r->source = o.source;
	r->max_record = o.max_record;
	time_t now = time(NULL);
	r->made_ms = (int64_t)now * 1000;
	if (!o.default_year) {
		struct tm tm;
		gmtime_r(&now, &tm);
		o.default_year = tm.tm_year + 1900;
		r->year_auto = true;
	}
	r->default_year = o.default_year;
	wj_init(&r->doc, (uint32_t)(o.max_record / 16 + 256));
	ag_strmap_init(&r->methods);
	for (size_t i = 0; i < p->catalogue.n; i++) {
		uint32_t prev;
		bool found;
		if (ag_strmap_put(&r->methods, p->catalogue.methods[i].name,
				  (uint32_t)i, &prev, &found) != AG_OK) {
			ag_event_reader_free(r);
			return ag_err(err, AG_ERR_NOMEM, "out of memory");
		}
	}
	*out = r;
	return AG_OK;
}

void ag_event_reader_free(struct ag_event_reader *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_files; i++)
		free(r->files[i]);
	free(r->files);
	free(r->rec);
	free(r->scr);
	wj_release(&r->doc);
	ag_strmap_release(&r->methods);
	free(r);
}

const struct ag_event_stats *
ag_event_reader_stats(const struct ag_event_reader *r)
{
	return r ? &r->st : NULL;
}

const char *ag_event_reader_file(const struct ag_event_reader *r,
				 uint32_t file)
{
	return r && file < r->n_files ? r->files[file] : NULL;
}

void ag_event_reader_on_skip(struct ag_event_reader *r, ag_event_skip_fn fn,
			     void *ctx)
{
	if (!r)
		return;
	r->skip_fn = fn;
	r->skip_ctx = ctx;
}

void ag_event_reader_position(const struct ag_event_reader *r,
			      struct ag_event_pos *out)
{
	if (!out)
		return;
	if (!r) {
		memset(out, 0, sizeof(*out));
		return;
	}
	*out = r->pos;
}

size_t ag_event_reader_capacity(const struct ag_event_reader *r)
{
	return r->rec_alloc + r->scr_alloc + wj_capacity(&r->doc);
}

static void reset_input(struct ag_event_reader *r)
{
	r->off = 0;
	r->line = 1;
	r->bol = true;
	r->state = SP_BOM;
	r->wrap = W_NONE;
	r->depth = 0;
	r->in_str = r->esc = false;
	r->rec_len = 0;
	r->failed = false;
	r->held.on = false;
	/* The journal rows seen are kept across inputs: a rotated log's
	 * rows may be repeated in the next file. */
	memset(r->partials, 0, sizeof(r->partials));
	r->pos.offset = 0;
	r->pos.line = 1;
	r->pos.nested = false;
}

ag_code ag_event_reader_begin(struct ag_event_reader *r, const char *name,
			      uint32_t *file, struct ag_error *err)
{
	if (!r || !name)
		return ag_err(err, AG_ERR_USAGE, "no reader or input name");
	if (r->n_files >= UINT32_MAX / 2)
		return ag_err(err, AG_ERR_LIMIT, "too many inputs");
	if (r->open && r->state != SP_IDLE && r->state != SP_BOM)
		/* The caller never said eof: what was gathered of the last
		 * record cannot be judged. */
		wr_count_skip(r, r->rec_line,
			      "input ended without its end: a record was cut "
			      "short");
	char *copy = ag_strdup(name);
	if (!copy || AG_GROW(r->files, r->alloc_files, r->n_files + 1)) {
		free(copy);
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	}
	r->files[r->n_files] = copy;
	r->file = (uint32_t)r->n_files++;
	reset_input(r);
	r->open = true;
	if (file)
		*file = r->file;
	return AG_OK;
}

ag_code ag_event_reader_resume(struct ag_event_reader *r, uint64_t offset,
			       uint64_t line, struct ag_error *err)
{
	if (!r || !r->open || r->off != 0 || r->state != SP_BOM)
		return ag_err(err, AG_ERR_USAGE,
			      "resume only right after ag_event_reader_begin");
	if (!line)
		return ag_err(err, AG_ERR_USAGE, "lines count from 1");
	r->off = offset;
	r->line = line;
	r->bol = false;
	r->state = offset ? SP_IDLE : SP_BOM;
	r->pos.offset = offset;
	r->pos.line = line;
	return AG_OK;
}

/* ---- records ---- */

/* The record's bytes are consumed: positions now point past it, also for
 * the callbacks of its events. */
static void mark_pos(struct ag_event_reader *r)
{
	r->pos.offset = r->off;
	r->pos.line = r->line;
	r->pos.nested = r->rec_nested;
}

static void record_done(struct ag_event_reader *r)
{
	mark_pos(r);
	r->rec_len = 0;
	r->state = SP_IDLE;
}

/* Keys that tell the sources apart. */
enum {
	K_TIME = 1u << 0,
	K_SUBJECT = 1u << 1,
	K_KIND = 1u << 2,
	K_EVENTTYPE = 1u << 3,
	K_PUBLISHED = 1u << 4,
	K_UUID = 1u << 5,
	K_ACTOR = 1u << 6,
	K_EVENTNAME = 1u << 7,
	K_EVENTSOURCE = 1u << 8,
	K_USERIDENTITY = 1u << 9,
	K_SEQ = 1u << 10,
	K_PREV = 1u << 11,
	K_STORE = 1u << 12,
	K_JOURNAL_SEQ = 1u << 13,
	K_TYPE = 1u << 14,
	K_REALMID = 1u << 15,
	K_REALMNAME = 1u << 16,
	K_OPERATIONTYPE = 1u << 17,
	K_AUTHDETAILS = 1u << 18
};

static unsigned key_bit(const char *k, uint32_t n)
{
#define IS(lit) (n == sizeof(lit) - 1 && !memcmp(k, lit, n))
	switch (n) {
	case 3:
		return IS("seq") ? K_SEQ : 0;
	case 4:
		return IS("time")   ? K_TIME
		       : IS("kind") ? K_KIND
		       : IS("type") ? K_TYPE
		       : IS("prev") ? K_PREV
		       : IS("uuid") ? K_UUID
				    : 0;
	case 5:
		return IS("actor") ? K_ACTOR : IS("store") ? K_STORE : 0;
	case 7:
		return IS("subject")   ? K_SUBJECT
		       : IS("realmId") ? K_REALMID
				       : 0;
	case 9:
		return IS("eventType")	 ? K_EVENTTYPE
		       : IS("published") ? K_PUBLISHED
		       : IS("eventName") ? K_EVENTNAME
		       : IS("realmName") ? K_REALMNAME
					 : 0;
	case 11:
		return IS("eventSource")   ? K_EVENTSOURCE
		       : IS("journal_seq") ? K_JOURNAL_SEQ
		       : IS("authDetails") ? K_AUTHDETAILS
					   : 0;
	case 12:
		return IS("userIdentity") ? K_USERIDENTITY : 0;
	case 13:
		return IS("operationType") ? K_OPERATIONTYPE : 0;
	}
	return 0;
#undef IS
}

static enum ag_event_source detect(const struct wj_doc *d)
{
	unsigned k = 0;
	for (uint32_t m = wj_first_root(d); m != WJ_NONE;
	     m = wj_next_member(d, 0, m))
		k |= key_bit(d->buf + d->t[m].start, d->t[m].len);
	if ((k & K_EVENTNAME) && (k & (K_EVENTSOURCE | K_USERIDENTITY)))
		return AG_SRC_CLOUDTRAIL;
	if ((k & K_EVENTTYPE) && (k & (K_PUBLISHED | K_UUID | K_ACTOR)))
		return AG_SRC_OKTA;
	if (((k & K_SEQ) && (k & K_PREV)) ||
	    ((k & K_STORE) && (k & K_JOURNAL_SEQ)))
		return AG_SRC_AALGATE;
	if (((k & K_TYPE) && (k & (K_REALMID | K_REALMNAME))) ||
	    ((k & K_OPERATIONTYPE) && (k & (K_AUTHDETAILS | K_REALMID))))
		return AG_SRC_KEYCLOAK;
	if ((k & K_KIND) && (k & K_SUBJECT))
		return AG_SRC_GENERIC;
	return AG_SRC_AUTO;
}

static const char *json_type_name(uint8_t t)
{
	switch (t) {
	case WJ_NULL:
		return "null";
	case WJ_FALSE:
	case WJ_TRUE:
		return "boolean";
	case WJ_NUMBER:
		return "number";
	case WJ_STRING:
		return "string";
	case WJ_ARRAY:
		return "array";
	}
	return "object";
}

/* Counts and delivers what a mapper made of the current record.  false:
 * stop (r->fn_rc says why). */
static bool deliver(struct ag_event_reader *r, enum ag_event_source src,
		    enum wr_map m)
{
	switch (m) {
	case WR_EVENT:
		r->ev.source = (uint8_t)src;
		return wr_emit(r, &r->ev);
	case WR_IGNORED:
		r->st.ignored++;
		return true;
	case WR_SKIP:
		wr_count_skip(r, r->rec_line, r->why);
		return true;
	case WR_NOMEM:
		r->fn_rc = AG_ERR_NOMEM;
		return false;
	case WR_DONE:
		return r->fn_rc == AG_OK;
	}
	return true;
}

static void new_event(struct ag_event_reader *r, enum ag_event_source src)
{
	memset(&r->ev, 0, sizeof(r->ev));
	r->ev.source = (uint8_t)src;
	r->ev.file = r->file;
	r->ev.line = r->rec_line;
	r->scr_len = 0;
	r->why[0] = '\0';
}

/* A whole JSON record in r->rec; parsed already when parsed is true. */
static bool json_record(struct ag_event_reader *r, bool parsed)
{
	struct wj_doc *d = &r->doc;

	if (!parsed) {
		enum wj_status s = wj_parse(d, r->rec, r->rec_len);
		if (s == WJ_NOMEM) {
			r->fn_rc = AG_ERR_NOMEM;
			return false;
		}
		if (s == WJ_INCOMPLETE) {
			wr_count_skip(r, r->rec_line,
				      "truncated JSON: the record ends early");
			return true;
		}
		if (s == WJ_BAD) {
			wr_count_skip(r, r->rec_line, d->why);
			return true;
		}
	}
	if (d->t[0].type != WJ_OBJECT) {
		snprintf(r->why, sizeof(r->why), "a JSON %s, not an object",
			 json_type_name(d->t[0].type));
		wr_count_skip(r, r->rec_line, r->why);
		return true;
	}
	enum ag_event_source src = r->source;
	if (src == AG_SRC_AUTO)
		src = detect(d);
	if (src == AG_SRC_AUTO) {
		wr_count_skip(r, r->rec_line,
			      "not an event of a known source (aalgate, "
			      "generic, okta, cloudtrail, keycloak)");
		return true;
	}
	if (src == AG_SRC_AUTHLOG) {
		wr_count_skip(r, r->rec_line,
			      "a JSON record where auth.log lines are read");
		return true;
	}
	if (src != AG_SRC_AALGATE && r->held.on && !wr_aalgate_flush(r))
		return false;
	r->st.records[src]++;
	new_event(r, src);
	enum wr_map m;
	switch (src) {
	case AG_SRC_AALGATE:
		m = wr_map_aalgate(r);
		break;
	case AG_SRC_GENERIC:
		m = wr_map_generic(r);
		break;
	case AG_SRC_OKTA:
		m = wr_map_okta(r);
		break;
	case AG_SRC_CLOUDTRAIL:
		m = wr_map_cloudtrail(r);
		break;
	default:
		m = wr_map_keycloak(r);
		break;
	}
	return deliver(r, src, m);
}

static bool text_record(struct ag_event_reader *r)
{
	size_t n = r->rec_len;

	while (n && (r->rec[n - 1] == '\r' || r->rec[n - 1] == ' ' ||
		     r->rec[n - 1] == '\t'))
		n--;
	r->rec[n] = '\0';
	if (!ag_utf8_valid(r->rec, n)) {
		wr_count_skip(r, r->rec_line, "invalid UTF-8 in a text line");
		return true;
	}
	if (r->source != AG_SRC_AUTO && r->source != AG_SRC_AUTHLOG) {
		snprintf(r->why, sizeof(r->why),
			 "not JSON, where %s events are read",
			 ag_event_source_name(r->source));
		wr_count_skip(r, r->rec_line, r->why);
		return true;
	}
	if (r->held.on && !wr_aalgate_flush(r))
		return false;
	new_event(r, AG_SRC_AUTHLOG);
	enum wr_map m = wr_map_authlog(r, r->rec, n);
	if (m == WR_SKIP) {
		if (r->source == AG_SRC_AUTO) {
			char why[sizeof(r->why)];
			snprintf(why, sizeof(why),
				 "neither JSON nor a syslog line: %.100s",
				 r->why);
			memcpy(r->why, why, sizeof(why));
		}
		return deliver(r, AG_SRC_AUTHLOG, m);
	}
	r->st.records[AG_SRC_AUTHLOG]++;
	return deliver(r, AG_SRC_AUTHLOG, m);
}

static void count_oversize(struct ag_event_reader *r)
{
	char why[96];
	r->st.oversize++;
	snprintf(why, sizeof(why), "a record over %zu bytes", r->max_record);
	wr_count_skip(r, r->rec_line, why);
}

/* ---- the splitter ---- */

/* Room for one more byte of the record; false when the record is over the
 * cap (then it is skipped as it streams past). */
static bool rec_room(struct ag_event_reader *r, size_t need)
{
	if (need > r->max_record)
		return false;
	if (need <= r->rec_alloc)
		return true;
	size_t na = r->rec_alloc ? r->rec_alloc : 4096;
	while (na < need)
		na *= 2;
	if (na > r->max_record)
		na = r->max_record;
	/* +1: text records are NUL-terminated in place. */
	char *nr = realloc(r->rec, na + 1);
	if (!nr)
		return false;
	r->rec = nr;
	r->rec_alloc = na;
	return true;
}

static bool records_prefix(const char *s, size_t n)
{
	static const char key[] = "\"Records\"";
	size_t p = 1;
	if (!n || s[0] != '{')
		return false;
	while (p < n && strchr(" \t\r\n", s[p]))
		p++;
	if (n - p < sizeof(key) - 1 || memcmp(s + p, key, sizeof(key) - 1))
		return false;
	p += sizeof(key) - 1;
	while (p < n && strchr(" \t\r\n", s[p]))
		p++;
	if (p >= n || s[p] != ':')
		return false;
	p++;
	while (p < n && strchr(" \t\r\n", s[p]))
		p++;
	return p == n;
}

/* Does the line at b[0..n) open CloudTrail's {"Records": [ ? */
static bool line_opens_records(const char *b, size_t n)
{
	size_t p = 0;
	while (p < n && b[p] != '[')
		p++;
	return p < n && records_prefix(b, p);
}

static void start_record(struct ag_event_reader *r, int state)
{
	r->state = state;
	r->rec_len = 0;
	r->rec_line = r->line;
	r->rec_nested = r->wrap != W_NONE;
	r->depth = 0;
	r->in_str = r->esc = false;
	r->skipping = false;
	r->wrap_checked = r->wrap != W_NONE;
}

/* Consumes b[i..j), which holds no record bytes the caller still needs. */
static void consume(struct ag_event_reader *r, const char *b, size_t i,
		    size_t j)
{
	if (i >= j)
		return;
	const char *p = b + i, *end = b + j;
	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		r->line++;
		p++;
	}
	r->bol = b[j - 1] == '\n';
	r->off += j - i;
}

/* Where split() is in its buffer, for the JSON fast path. */
struct fastpath {
	size_t nl;	/* index of the next line break (n: none), or
			 * SIZE_MAX before the first search */
	size_t no_fast; /* the fast path is not tried before this index */
};

/*
 * The JSON fast path: a whole line is in the buffer and holds one JSON
 * object (a JSON-lines file, the usual case).  The line is parsed where
 * the slow path would have gathered the same bytes: the bracket matcher
 * ends a valid value exactly where the parser does, so the record is the
 * same whichever path reads it.  Returns the bytes used, or 0 to go the
 * slow way (no whole line here, CloudTrail's Records, or no valid JSON).
 * It is tried once per line: a line with more than one record, or with a
 * bad one, is read the slow way from there on, so that no byte is copied
 * or searched twice whatever the line holds.
 */
static size_t json_line(struct ag_event_reader *r, const char *b, size_t i,
			size_t n, bool *stop, struct fastpath *f)
{
	if (i < f->no_fast)
		return 0;
	if (f->nl == SIZE_MAX || f->nl < i) {
		const char *nl = memchr(b + i, '\n', n - i);
		f->nl = nl ? (size_t)(nl - b) : n;
	}
	f->no_fast = f->nl;
	if (f->nl >= n)
		return 0;
	size_t len = f->nl - i;
	if (len > r->max_record || !rec_room(r, len) ||
	    line_opens_records(b + i, len))
		return 0;
	memcpy(r->rec, b + i, len);
	enum wj_status s = wj_parse(&r->doc, r->rec, len);
	if (s == WJ_NOMEM) {
		r->fn_rc = AG_ERR_NOMEM;
		*stop = true;
		return 0;
	}
	if (s != WJ_OK)
		return 0;
	start_record(r, SP_JSON);
	r->rec_len = r->doc.end;
	consume(r, b, i, i + r->doc.end);
	mark_pos(r);
	if (!json_record(r, true))
		*stop = true;
	record_done(r);
	return r->doc.end;
}

static bool finish_json(struct ag_event_reader *r)
{
	bool ok = true;
	mark_pos(r);
	if (r->skipping)
		count_oversize(r);
	else
		ok = json_record(r, false);
	record_done(r);
	return ok;
}

/* A record cut short: counted, and the splitter goes on between records. */
static void cut(struct ag_event_reader *r, const char *why)
{
	if (r->skipping)
		count_oversize(r);
	else
		wr_count_skip(r, r->rec_line, why);
	record_done(r);
}

static ag_code split(struct ag_event_reader *r, const char *b, size_t n)
{
	static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
	size_t i = 0;
	bool stop = false;
	struct fastpath fast = {SIZE_MAX, 0};

	while (i < n && !stop) {
		unsigned char c = (unsigned char)b[i];
		switch (r->state) {
		case SP_BOM:
			if (r->off < 3 && c == bom[r->off]) {
				consume(r, b, i, i + 1);
				i++;
				if (r->off == 3) {
					r->bol = true;
					r->state = SP_IDLE;
				}
				continue;
			}
			if (r->off) {
				/* Part of a BOM, then something else: not
				 * UTF-8. */
				start_record(r, SP_TEXT);
				r->rec_line = 1;
				if (rec_room(r, (size_t)r->off))
					memcpy(r->rec, bom, (size_t)r->off);
				r->rec_len = (size_t)r->off;
				continue;
			}
			r->state = SP_IDLE;
			continue;

		case SP_IDLE:
			if (c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
			    (r->wrap != W_NONE && c == ',')) {
				size_t j = i + 1;
				while (j < n && (b[j] == ' ' || b[j] == '\t' ||
						 b[j] == '\r' || b[j] == '\n'))
					j++;
				consume(r, b, i, j);
				i = j;
				continue;
			}
			if (r->wrap != W_NONE) {
				if (c == ']') {
					consume(r, b, i, i + 1);
					i++;
					if (r->wrap == W_RECORDS) {
						r->state = SP_TAIL;
						r->depth = 1;
						r->in_str = r->esc = false;
					} else {
						r->wrap = W_NONE;
					}
					r->pos.offset = r->off;
					r->pos.line = r->line;
					r->pos.nested = false;
					continue;
				}
				if (c == '{' || c == '[' || c == '"') {
					start_record(r, SP_JSON);
					continue;
				}
				start_record(r, SP_SCALAR);
				continue;
			}
			if (c == '{') {
				size_t used = json_line(r, b, i, n, &stop,
							&fast);
				if (used) {
					i += used;
					continue;
				}
				if (stop)
					break;
				start_record(r, SP_JSON);
				continue;
			}
			if (c == '[') {
				r->wrap = W_ARRAY;
				r->wrap_line = r->line;
				consume(r, b, i, i + 1);
				i++;
				continue;
			}
			start_record(r, SP_TEXT);
			continue;

		case SP_TEXT: {
			const char *nl = memchr(b + i, '\n', n - i);
			size_t j = nl ? (size_t)(nl - b) : n;
			if (!r->skipping) {
				if (rec_room(r, r->rec_len + (j - i))) {
					memcpy(r->rec + r->rec_len, b + i,
					       j - i);
					r->rec_len += j - i;
				} else {
					r->skipping = true;
				}
			}
			consume(r, b, i, j);
			i = j;
			if (!nl)
				continue;
			consume(r, b, i, i + 1);
			i++;
			mark_pos(r);
			if (r->skipping)
				count_oversize(r);
			else if (!text_record(r))
				stop = true;
			record_done(r);
			continue;
		}

		case SP_SCALAR:
			if (c == ',' || c == ']' || c == ' ' || c == '\t' ||
			    c == '\r' || c == '\n') {
				wr_count_skip(r, r->rec_line,
					      "an array element that is not a "
					      "JSON object");
				record_done(r);
				continue;
			}
			consume(r, b, i, i + 1);
			i++;
			continue;

		case SP_TAIL:
			/* What follows the Records array in its object: no
			 * events, skipped without being kept. */
			for (; i < n && r->depth; i++) {
				c = (unsigned char)b[i];
				if (r->in_str) {
					if (r->esc)
						r->esc = false;
					else if (c == '\\')
						r->esc = true;
					else if (c == '"' || c == '\n')
						r->in_str = false;
				} else if (c == '"') {
					r->in_str = true;
				} else if (c == '{' || c == '[') {
					r->depth++;
				} else if (c == '}' || c == ']') {
					r->depth--;
				}
				consume(r, b, i, i + 1);
			}
			if (!r->depth) {
				r->wrap = W_NONE;
				r->state = SP_IDLE;
				r->pos.offset = r->off;
				r->pos.line = r->line;
				r->pos.nested = false;
			}
			continue;

		case SP_JSON: {
			enum { GO, DONE, NL_IN_STRING, NEW_RECORD, NESTED };
			size_t start = i;
			int why = GO;
			for (; i < n && why == GO; i++) {
				c = (unsigned char)b[i];
				if (r->in_str) {
					if (r->esc)
						r->esc = false;
					else if (c == '\\')
						r->esc = true;
					else if (c == '\n')
						why = NL_IN_STRING;
					else if (c == '"') {
						r->in_str = false;
						if (!r->depth)
							why = DONE;
					}
				} else if (c == '"') {
					r->in_str = true;
				} else if (c == '{' || c == '[') {
					if (c == '{' && r->depth &&
					    (i > start ? b[i - 1] == '\n'
						       : r->bol))
						why = NEW_RECORD;
					else if (r->depth == 1 &&
						 !r->wrap_checked)
						why = NESTED;
					else
						r->depth++;
				} else if (c == '}' || c == ']') {
					if (r->depth && !--r->depth)
						why = DONE;
				}
			}
			/* The loop stepped past the byte that stopped it;
			 * only a finished record keeps that byte. */
			if (why != GO && why != DONE)
				i--;
			/* Keep b[start..i) unless the record is over the
			 * cap. */
			if (!r->skipping) {
				if (rec_room(r, r->rec_len + (i - start))) {
					memcpy(r->rec + r->rec_len, b + start,
					       i - start);
					r->rec_len += i - start;
				} else {
					r->skipping = true;
				}
			}
			consume(r, b, start, i);
			switch (why) {
			case DONE:
				if (!finish_json(r))
					stop = true;
				break;
			case NL_IN_STRING:
				/* JSON strings hold no raw line break: the
				 * record was cut short. */
				consume(r, b, i, i + 1);
				i++;
				cut(r, "truncated JSON: a line break inside "
				       "a string");
				break;
			case NEW_RECORD:
				/* A line that begins with '{' inside a
				 * record: the record before it was cut
				 * short. */
				cut(r, "truncated JSON: the next line starts "
				       "a new record");
				break;
			case NESTED:
				/* The first value nested in a top-level
				 * object: {"Records": [ makes each element of
				 * that array a record of its own. */
				r->wrap_checked = true;
				if ((unsigned char)b[i] == '[' &&
				    !r->skipping &&
				    records_prefix(r->rec, r->rec_len)) {
					consume(r, b, i, i + 1);
					i++;
					r->wrap = W_RECORDS;
					r->wrap_line = r->rec_line;
					r->rec_len = 0;
					r->state = SP_IDLE;
				}
				break;
			}
			continue;
		}
		}
	}
	return r->fn_rc;
}

/* The end of the input: what is still open is counted. */
static ag_code finish(struct ag_event_reader *r)
{
	bool ok = true;

	switch (r->state) {
	case SP_BOM:
		if (r->off && r->off < 3) {
			start_record(r, SP_TEXT);
			r->rec_line = 1;
			wr_count_skip(r, 1, "invalid UTF-8 in a text line");
		}
		break;
	case SP_JSON:
		if (r->skipping)
			count_oversize(r);
		else
			wr_count_skip(r, r->rec_line,
				      "truncated JSON at the end of the input");
		break;
	case SP_TEXT:
		mark_pos(r);
		if (r->skipping)
			count_oversize(r);
		else if (r->rec)
			ok = text_record(r);
		break;
	case SP_SCALAR:
		wr_count_skip(r, r->rec_line,
			      "an array element that is not a JSON object");
		break;
	default:
		break;
	}
	if (ok && r->wrap != W_NONE) {
		char why[96];
		snprintf(why, sizeof(why),
			 "truncated JSON: the %s begun on line %llu is not "
			 "closed",
			 r->wrap == W_RECORDS ? "{\"Records\": [...]}"
					      : "JSON array",
			 (unsigned long long)r->wrap_line);
		wr_count_skip(r, r->wrap_line, why);
	}
	if (ok && r->held.on)
		ok = wr_aalgate_flush(r);
	r->rec_len = 0;
	r->state = SP_IDLE;
	r->wrap = W_NONE;
	r->pos.offset = r->off;
	r->pos.line = r->line;
	r->pos.nested = false;
	return ok ? AG_OK : r->fn_rc;
}

ag_code ag_event_reader_feed(struct ag_event_reader *r, const char *buf,
			     size_t len, bool eof, ag_event_fn fn, void *ctx,
			     struct ag_error *err)
{
	if (!r || (!buf && len))
		return ag_err(err, AG_ERR_USAGE, "no reader or no buffer");
	if (!r->open)
		return ag_err(err, AG_ERR_USAGE,
			      "no input begun (ag_event_reader_begin)");
	if (r->failed)
		return ag_err(err, AG_ERR_USAGE,
			      "%s: reading stopped after an error; begin the "
			      "input again",
			      r->files[r->file]);
	r->fn = fn;
	r->ctx = ctx;
	r->fn_rc = AG_OK;
	r->st.bytes += len;
	ag_code rc = len ? split(r, buf, len) : AG_OK;
	if (rc == AG_OK && eof) {
		rc = finish(r);
		r->open = false;
	}
	r->fn = NULL;
	r->ctx = NULL;
	if (rc != AG_OK) {
		r->failed = true;
		if (rc == AG_ERR_NOMEM)
			return ag_err(err, rc, "%s:%llu: out of memory",
				      r->files[r->file],
				      (unsigned long long)r->rec_line);
		return ag_err(err, rc,
			      "%s:%llu: the event callback stopped the input "
			      "(%s)",
			      r->files[r->file],
			      (unsigned long long)r->rec_line,
			      ag_strerror(rc));
	}
	return AG_OK;
}
