/*
 * The watch engine (docs/watch.md): judges normalized events and raises
 * AG-W01..AG-W08 (aalgate/watch.h says what each rule sees).
 *
 * Assurance is judged by the core (ag_workflow_satisfied), machine
 * identities by the inventory (ag_nhi_find, ag_nhi_client_ok); this file
 * only correlates events in time.
 *
 * State is two LRU hash tables of bounded size, one of subjects (recent
 * resets and enrolments, devices seen) and one of credentials (last use).
 * Entries live in a slab and are named by index; buckets chain them, and
 * a doubly linked list orders them from least to most recently active,
 * so that expiry and eviction take the list's head in O(1).  The tables
 * hash with a random key, so names chosen to collide cannot slow them.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "aalgate/govern.h"
#include "aalgate/watch.h"
#include "govern/store-int.h"
#include "siphash.h"
#include "util.h"
#include "watch/engine-store.h"
#include "banned.h"

#define NIL UINT32_MAX
#define MARKS_MAX 4        /* resets, and enrolments, kept per subject */
#define DEVICES_MAX 16     /* devices and addresses kept per subject */
#define NAME_MAX_BYTES 512 /* longer subjects and credentials are untracked */
#define TEXT_LEN 48        /* action and actor of a kept event */
#define INPUTS_MAX 65536u
#define INPUT_NAME_MAX 4096u
#define POSITIONS_MAX 1024u
#define FUTURE_MS (86400LL * 1000)
#define CHUNK_BYTES (1u << 20)
#define FILE_UNKNOWN (AG_WATCH_FILE_SAVED | 0x7fffffffu)

/* Default legacy protocols (AG-W06) when the policy names none. */
static const char *const legacy_default[] = {
	"imap", "pop3", "smtp", "basic", "ntlm", "ropc", "ews", "activesync",
	"mapi"};

/* ---- rules ------------------------------------------------------------- */

static const struct ag_watch_rule_info rules[AG_WATCH_RULE_COUNT] = {
	[AG_W01] = {"AG-W01", "below-required",
		    "Access at an assurance below the workflow's requirement",
		    "Make the application ask aalgate (or the identity "
		    "provider) for the workflow's level before it grants "
		    "access, and revoke the session that got through"},
	[AG_W02] = {"AG-W02", "reset-then-privileged",
		    "A recovery or MFA reset followed by privileged access "
		    "within the recovery window",
		    "Confirm the reset with the account holder out of band; "
		    "hold recovery to the account's own level (aalgate recover "
		    "check) and require re-approval of privileged access after "
		    "a reset"},
	[AG_W03] = {"AG-W03", "helpdesk-takeover",
		    "A help-desk factor reset, then a new factor enrolled, "
		    "then a sign-in from a device not seen before the reset",
		    "Treat the account as taken over until the holder confirms "
		    "the reset: revoke the new authenticator and sessions, and "
		    "hold help-desk resets to aalgate helpdesk reset"},
	[AG_W04] = {"AG-W04", "token-outside-policy",
		    "A token or key used outside policy: expired, unknown to "
		    "the inventory, outside its networks, its owner offboarded "
		    "or the key dormant",
		    "Revoke or rotate the credential, record it in the machine "
		    "inventory with an active owner, and bind it to the "
		    "workflow's networks"},
	[AG_W05] = {"AG-W05", "break-glass-use",
		    "A break-glass account or grant was used",
		    "Confirm the emergency with the approvers, review what was "
		    "done, and rotate the break-glass credentials afterwards"},
	[AG_W06] = {"AG-W06", "legacy-protocol",
		    "A sign-in over a legacy protocol that cannot carry the "
		    "workflow's assurance",
		    "Disable legacy authentication (IMAP, POP3, SMTP AUTH, "
		    "basic, NTLM, ROPC) for the account or the tenant; use "
		    "modern authentication"},
	[AG_W07] = {"AG-W07", "machine-human-use",
		    "Interactive use of a machine identity",
		    "Disable console and password sign-in for the machine "
		    "identity; give people their own accounts and use "
		    "short-lived, key-bound credentials for workloads"},
	[AG_W08] = {"AG-W08", "unmanaged-device",
		    "Access from a device that does not meet the workflow's "
		    "device requirement",
		    "Require device posture at the identity provider or the "
		    "gate for the workflow, and enrol the device in "
		    "management"},
};

const struct ag_watch_rule_info *ag_watch_rule_info(enum ag_watch_rule r)
{
	if (r < AG_W01 || r >= AG_WATCH_RULE_COUNT)
		return NULL;
	return &rules[r];
}

bool ag_watch_privileged(const struct ag_workflow *w)
{
	return w && (w->aal == 3 || w->phishing_resistant ||
		     (w->aal >= 2 && w->jit));
}

/* ---- keyed hashing (SipHash-1-3) --------------------------------------- */

static uint64_t siphash(const uint64_t k[2], const char *s, size_t len)
{
	return ag_siphash(k, s, len, 1, 3);
}

static void random_key(uint64_t k[2])
{
	if (getrandom(k, 2 * sizeof(uint64_t), 0) == 2 * sizeof(uint64_t))
		return;
	/* No entropy: a weaker key still spreads names; it only loses the
	 * defence against chosen collisions. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t a = (uint64_t)ts.tv_nsec, b = (uint64_t)ts.tv_sec,
		 c = (uint64_t)getpid();
	k[0] = a * UINT64_C(0x9e3779b97f4a7c15) ^ c;
	k[1] = b * UINT64_C(0xbf58476d1ce4e5b9) ^ (c << 32);
}

/* ---- the state --------------------------------------------------------- */

/* An event kept for a later correlation, and its evidence. */
struct mark {
	int64_t ms;
	uint64_t line;
	uint32_t file;
	uint8_t kind;     /* enum ag_event_kind */
	uint8_t source;   /* enum ag_event_source */
	uint8_t reported; /* bit 1 << rule: already raised from this event */
	char action[TEXT_LEN];
	char actor[TEXT_LEN];
};

/* A device (or address) seen in a subject's successful sign-ins. */
struct seen {
	uint64_t h; /* keyed hash of the device id, or of the address */
	int64_t first_ms, last_ms;
};

struct marks {
	struct mark resets[MARKS_MAX];
	struct mark enrols[MARKS_MAX];
	uint8_t n_resets, n_enrols;
};

struct entry {
	char *name;
	uint64_t hash;
	int64_t last_ms; /* the latest event time of its activity */
	uint32_t prev, next; /* LRU order: head least recently active */
	uint32_t hnext;      /* bucket chain, or the free list */
	uint8_t n_dev, cap_dev;
	struct seen *dev;    /* subjects */
	struct marks *marks; /* subjects: NULL until a reset or enrolment */
	struct mark *use;    /* credentials: the last use */
};

struct table {
	struct entry *v;
	size_t alloc, used; /* slots allocated; slots ever handed out */
	uint32_t free_list;
	uint32_t *buckets;
	size_t nb; /* a power of two, or 0 */
	uint32_t head, tail;
	size_t n, peak, cap;
};

struct ag_watch;

struct pending {
	struct ag_alert a;
	char actions[AG_ALERT_MAX_EVIDENCE][TEXT_LEN];
};

struct judge {
	struct ag_watch *w;
	const struct ag_event *ev;
	bool alone;   /* judged alone: no state read or written */
	long wf;      /* the event's workflow, or -1 */
	uint32_t subj; /* the subject's entry, or NIL */
	struct pending out[AG_WATCH_RULE_COUNT];
	size_t n;
};

struct ag_watch {
	const struct ag_policy *p;
	/* The policy as the inventory check sees it: without issuers.
	 * Events name none, so the gate's rule that a record without an
	 * issuer is ambiguous under several does not apply. */
	struct ag_policy nhi_view;
	const struct ag_nhi_inventory *inv;
	struct ag_strmap inv_ids; /* id -> record bound to an issuer */
	struct ag_store *store;
	/* The accounts the store marks break-glass, read at the start. */
	char **bg;
	size_t n_bg;
	struct ag_strmap bg_ids;
	const char *const *legacy;
	size_t n_legacy;
	uint64_t hkey[2]; /* the tables' key: this process only */
	uint64_t dkey[2]; /* the devices' key: saved with the state */
	int64_t horizon_ms, recovery_ms, takeover_ms, dormant_ms;
	bool clock_set;
	struct table subj, cred;
	struct ag_watch_stats st;
	char **inputs; /* by the reader's file index */
	size_t inputs_alloc;
	char **saved;  /* a previous run's file names */
	size_t n_saved;
	struct ag_watch_pos *pos;
	size_t n_pos, pos_alloc;
	uint64_t pos_tick;
	struct judge *j; /* the event being judged */
};

static void entry_release(struct entry *e)
{
	free(e->name);
	free(e->dev);
	free(e->marks);
	free(e->use);
	e->name = NULL;
	e->dev = NULL;
	e->marks = NULL;
	e->use = NULL;
	e->n_dev = e->cap_dev = 0;
}

static void tab_init(struct table *t, size_t cap)
{
	memset(t, 0, sizeof(*t));
	t->free_list = t->head = t->tail = NIL;
	t->cap = cap ? cap : 1;
}

static void tab_release(struct table *t)
{
	for (uint32_t i = t->head; i != NIL; i = t->v[i].next)
		entry_release(&t->v[i]);
	free(t->v);
	free(t->buckets);
	tab_init(t, t->cap);
}

static uint32_t tab_find(const struct table *t, const char *name, uint64_t h)
{
	if (!t->nb)
		return NIL;
	for (uint32_t i = t->buckets[h & (t->nb - 1)]; i != NIL;
	     i = t->v[i].hnext)
		if (t->v[i].hash == h && !strcmp(t->v[i].name, name))
			return i;
	return NIL;
}

static void lru_unlink(struct table *t, uint32_t i)
{
	struct entry *e = &t->v[i];
	if (e->prev != NIL)
		t->v[e->prev].next = e->next;
	else
		t->head = e->next;
	if (e->next != NIL)
		t->v[e->next].prev = e->prev;
	else
		t->tail = e->prev;
	e->prev = e->next = NIL;
}

static void lru_append(struct table *t, uint32_t i)
{
	struct entry *e = &t->v[i];
	e->prev = t->tail;
	e->next = NIL;
	if (t->tail != NIL)
		t->v[t->tail].next = i;
	else
		t->head = i;
	t->tail = i;
}

static void tab_remove(struct table *t, uint32_t i)
{
	struct entry *e = &t->v[i];
	uint32_t *pp = &t->buckets[e->hash & (t->nb - 1)];
	while (*pp != i)
		pp = &t->v[*pp].hnext;
	*pp = e->hnext;
	lru_unlink(t, i);
	entry_release(e);
	e->hnext = t->free_list;
	t->free_list = i;
	t->n--;
}

/* Rebuilds the buckets with nb (a power of two) of them. */
static ag_code tab_rehash(struct table *t, size_t nb)
{
	uint32_t *b = malloc(nb * sizeof(*b));
	if (!b)
		return AG_ERR_NOMEM;
	for (size_t k = 0; k < nb; k++)
		b[k] = NIL;
	for (uint32_t i = t->head; i != NIL; i = t->v[i].next) {
		size_t k = t->v[i].hash & (nb - 1);
		t->v[i].hnext = b[k];
		b[k] = i;
	}
	free(t->buckets);
	t->buckets = b;
	t->nb = nb;
	return AG_OK;
}

/*
 * Adds name (absent) as the most recently active entry at ms.  When the
 * table is full the least recently active entry goes first (*evicted).
 */
static ag_code tab_add(struct table *t, const char *name, uint64_t h,
		       int64_t ms, uint32_t *out, bool *evicted)
{
	char *copy = ag_strdup(name);
	uint32_t i;

	*evicted = false;
	if (!copy)
		return AG_ERR_NOMEM;
	if (t->n >= t->cap && t->head != NIL) {
		tab_remove(t, t->head);
		*evicted = true;
	}
	/* A load factor up to 1; a failed growth only lengthens chains. */
	if (t->n + 1 > t->nb && tab_rehash(t, t->nb ? t->nb * 2 : 64) &&
	    !t->nb) {
		free(copy);
		return AG_ERR_NOMEM;
	}
	if (t->free_list != NIL) {
		i = t->free_list;
		t->free_list = t->v[i].hnext;
	} else {
		if (t->used >= NIL || AG_GROW(t->v, t->alloc, t->used + 1)) {
			free(copy);
			return AG_ERR_NOMEM;
		}
		i = (uint32_t)t->used++;
	}
	struct entry *e = &t->v[i];
	memset(e, 0, sizeof(*e));
	e->name = copy;
	e->hash = h;
	e->last_ms = ms;
	size_t k = h & (t->nb - 1);
	e->hnext = t->buckets[k];
	t->buckets[k] = i;
	lru_append(t, i);
	if (++t->n > t->peak)
		t->peak = t->n;
	*out = i;
	return AG_OK;
}

/* Activity at ms: the entry becomes the most recently active. */
static void tab_touch(struct table *t, uint32_t i, int64_t ms)
{
	if (ms > t->v[i].last_ms)
		t->v[i].last_ms = ms;
	if (t->tail != i) {
		lru_unlink(t, i);
		lru_append(t, i);
	}
}

static int64_t ms_of(int64_t secs)
{
	if (secs <= 0)
		return 0;
	if (secs > INT64_MAX / 4000)
		return INT64_MAX / 4;
	return secs * 1000;
}

static void sync_stats(struct ag_watch *w)
{
	w->st.subjects = w->subj.n;
	w->st.subjects_peak = w->subj.peak;
	w->st.credentials = w->cred.n;
	w->st.credentials_peak = w->cred.peak;
}

/* Drops subjects whose last activity is before limit, from the head. */
static void expire_head(struct ag_watch *w, int64_t limit)
{
	struct table *t = &w->subj;
	while (t->head != NIL && t->v[t->head].last_ms < limit) {
		tab_remove(t, t->head);
		w->st.subjects_expired++;
	}
}

/* ---- the engine -------------------------------------------------------- */

ag_code ag_watch_new(const struct ag_policy *p,
		     const struct ag_nhi_inventory *inv, struct ag_store *store,
		     struct ag_watch **out, struct ag_error *err)
{
	struct ag_watch *w = NULL;

	if (!out)
		return ag_err(err, AG_ERR_USAGE, "watch: no place for the "
						 "engine");
	*out = NULL;
	if (!p)
		return ag_err(err, AG_ERR_USAGE, "watch: no policy given");
	if (!(w = calloc(1, sizeof(*w))))
		return ag_err(err, AG_ERR_NOMEM, "watch: out of memory");
	w->p = p;
	w->nhi_view = *p;
	w->nhi_view.n_issuers = 0;
	w->inv = inv;
	w->store = store;
	ag_strmap_init(&w->inv_ids);
	ag_strmap_init(&w->bg_ids);
	if (!(w->j = malloc(sizeof(*w->j)))) {
		free(w);
		return ag_err(err, AG_ERR_NOMEM, "watch: out of memory");
	}
	if (p->watch.n_legacy_protocols) {
		w->legacy = (const char *const *)p->watch.legacy_protocols;
		w->n_legacy = p->watch.n_legacy_protocols;
	} else {
		w->legacy = legacy_default;
		w->n_legacy = AG_ARRAY_SIZE(legacy_default);
	}
	random_key(w->hkey);
	random_key(w->dkey);
	w->recovery_ms = ms_of(p->watch.recovery_window);
	w->takeover_ms = ms_of(p->watch.takeover_window);
	w->dormant_ms = ms_of(p->watch.dormant ? p->watch.dormant
					       : p->nhi.stale);
	w->horizon_ms = ms_of(p->watch.state_ttl);
	if (w->recovery_ms > w->horizon_ms)
		w->horizon_ms = w->recovery_ms;
	if (w->takeover_ms > w->horizon_ms)
		w->horizon_ms = w->takeover_ms;
	size_t cap = p->watch.max_subjects ? p->watch.max_subjects : 1;
	if (cap >= NIL)
		cap = NIL - 1;
	tab_init(&w->subj, cap);
	tab_init(&w->cred, cap);
	/* Records bound to an issuer, by id alone: events name no issuer.
	 * The first record of an id wins. */
	for (size_t i = 0; inv && i < inv->n && i < NIL; i++) {
		const struct ag_nhi *r = &inv->v[i];
		uint32_t old;
		bool dup;
		if (!r->issuer || !r->id)
			continue;
		if (ag_strmap_put(&w->inv_ids, r->id, (uint32_t)i, &old,
				  &dup)) {
			ag_watch_free(w);
			return ag_err(err, AG_ERR_NOMEM, "watch: out of memory");
		}
	}
	/* A sign-in of an account the store marks break-glass is a use
	 * (AG-W05): without the list the rule would miss every one. */
	if (store) {
		ag_code rc = ag_watch_reload_marks(w, err);
		if (rc != AG_OK) {
			ag_watch_free(w);
			return rc;
		}
	}
	*out = w;
	return AG_OK;
}

static void marks_release(char **v, size_t n, struct ag_strmap *m)
{
	ag_strmap_release(m);
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

ag_code ag_watch_reload_marks(struct ag_watch *w, struct ag_error *err)
{
	struct ag_strmap m;
	char **v = NULL;
	size_t n = 0;

	if (!w || !w->store)
		return ag_err(err, AG_ERR_USAGE, "watch: no state store");
	ag_strmap_init(&m);
	ag_code rc = ag_store_break_glass_list(w->store,
					       AG_WATCH_BREAK_GLASS_MAX, &v,
					       &n, err);
	for (size_t i = 0; rc == AG_OK && i < n; i++) {
		uint32_t old;
		bool dup;
		/* With several issuers the store names an account "ISSUER
		 * sub"; logs name it by its sub. */
		const char *sub = strchr(v[i], ' ');
		if (ag_strmap_put(&m, v[i], (uint32_t)i, &old, &dup) ||
		    (sub && sub[1] &&
		     ag_strmap_put(&m, sub + 1, (uint32_t)i, &old, &dup)))
			rc = ag_err(err, AG_ERR_NOMEM, "watch: out of memory");
	}
	if (rc != AG_OK) {
		/* The marks read before stay. */
		marks_release(v, n, &m);
		return rc;
	}
	marks_release(w->bg, w->n_bg, &w->bg_ids);
	w->bg = v;
	w->n_bg = n;
	w->bg_ids = m;
	return AG_OK;
}

static void forget_files(struct ag_watch *w)
{
	for (size_t i = 0; i < w->n_saved; i++)
		free(w->saved[i]);
	free(w->saved);
	w->saved = NULL;
	w->n_saved = 0;
}

void ag_watch_free(struct ag_watch *w)
{
	if (!w)
		return;
	tab_release(&w->subj);
	tab_release(&w->cred);
	ag_strmap_release(&w->inv_ids);
	marks_release(w->bg, w->n_bg, &w->bg_ids);
	for (size_t i = 0; i < w->inputs_alloc; i++)
		free(w->inputs[i]);
	free(w->inputs);
	forget_files(w);
	free(w->pos);
	free(w->j);
	free(w);
}

const struct ag_watch_stats *ag_watch_stats(const struct ag_watch *w)
{
	return w ? &w->st : NULL;
}

void ag_watch_expire(struct ag_watch *w, int64_t now_ms)
{
	if (!w || now_ms <= INT64_MIN / 2)
		return;
	int64_t limit = now_ms - w->horizon_ms;
	struct table *t = &w->subj;
	/* Out-of-order events leave the list only roughly in time order:
	 * look at every entry. */
	for (uint32_t i = t->head, next; i != NIL; i = next) {
		next = t->v[i].next;
		if (t->v[i].last_ms < limit) {
			tab_remove(t, i);
			w->st.subjects_expired++;
		}
	}
	sync_stats(w);
}

/* The record for credential id: one without an issuer, else one bound to
 * an issuer (events name none). */
static const struct ag_nhi *inv_find(const struct ag_watch *w, const char *id)
{
	if (!w->inv || !id || !*id)
		return NULL;
	const struct ag_nhi *r = ag_nhi_find(w->inv, NULL, id);
	uint32_t i;
	if (!r && ag_strmap_get(&w->inv_ids, id, &i) && i < w->inv->n)
		r = &w->inv->v[i];
	return r;
}

/* ---- judging one event ------------------------------------------------- */

static bool is_signin(const struct ag_event *ev)
{
	return ev->kind == AG_EV_LOGIN || ev->kind == AG_EV_ACCESS;
}

static bool signin_ok(const struct ag_event *ev)
{
	return is_signin(ev) && ev->result == AG_RES_SUCCESS;
}

static bool is_reset(const struct ag_event *ev)
{
	return ev->kind == AG_EV_RECOVERY || ev->kind == AG_EV_FACTOR_RESET ||
	       ev->kind == AG_EV_HELPDESK_RESET;
}

static const char *or_q(const char *s)
{
	return s && *s ? s : "?";
}

/* Copies s into buf, cut at a character boundary. */
static void text_copy(char *buf, size_t len, const char *s)
{
	size_t n = 0, max = len - 1;
	if (s) {
		size_t sl = strlen(s);
		while (n < sl && n < max) {
			size_t k = ag_utf8_seq(s + n, sl - n);
			if (!k || n + k > max)
				break;
			n += k;
		}
		memcpy(buf, s, n);
	}
	buf[n] = '\0';
}

/* A rough length of time for details: "90s", "45m", "26h", "12d". */
static void span(int64_t ms, char *buf, size_t len)
{
	long long s = ms > 0 ? (long long)(ms / 1000) : 0;
	if (s < 120)
		snprintf(buf, len, "%llds", s);
	else if (s < 7200)
		snprintf(buf, len, "%lldm", s / 60);
	else if (s < 2 * 86400)
		snprintf(buf, len, "%lldh", s / 3600);
	else
		snprintf(buf, len, "%lldd", s / 86400);
}

static void window_text(int64_t ms, char *buf, size_t len)
{
	ag_duration_format(ms / 1000, buf, len);
}

static void assurance_text(const struct ag_assurance *a, char *buf,
			   size_t len)
{
	snprintf(buf, len, "AAL%d%s%s", a->aal,
		 a->phishing_resistant ? ", phishing-resistant" : "",
		 a->hardware ? ", hardware" : "");
}

static const char *kind_word(uint8_t k)
{
	switch (k) {
	case AG_EV_LOGIN:
		return "login";
	case AG_EV_RECOVERY:
		return "recovery";
	case AG_EV_FACTOR_RESET:
		return "factor reset";
	case AG_EV_HELPDESK_RESET:
		return "help-desk reset";
	case AG_EV_ENROLL:
		return "enrolment";
	case AG_EV_ACCESS:
		return "access";
	case AG_EV_TOKEN_USE:
		return "token use";
	case AG_EV_BREAK_GLASS:
		return "break-glass use";
	default:
		return "event";
	}
}

static const char *posture_word(uint8_t p)
{
	switch (p) {
	case AG_POSTURE_UNMANAGED:
		return "an unmanaged device";
	case AG_POSTURE_KNOWN:
		return "a known device";
	case AG_POSTURE_MANAGED:
		return "a managed device";
	default:
		return "a device of unknown posture";
	}
}

static struct pending *alert_new(struct judge *j, enum ag_watch_rule r,
				 enum ag_severity sev)
{
	const struct ag_event *ev = j->ev;
	struct pending *p = &j->out[j->n++];
	memset(p, 0, sizeof(*p));
	p->a.rule = (uint8_t)r;
	p->a.severity = (uint8_t)sev;
	p->a.time_ms = ev->time_ms;
	p->a.subject = ev->subject && *ev->subject ? ev->subject
						    : ev->credential;
	p->a.workflow = j->wf >= 0 ? j->w->p->workflows[j->wf].name
				   : ev->workflow;
	if (ev->assurance_known) {
		p->a.has_observed = true;
		p->a.observed = ev->assurance;
	}
	return p;
}

/* Writes the alert's detail line; a cut line ends at a character
 * boundary. */
static void detail(struct pending *p, const char *fmt, ...) AG_PRINTF(2, 3);

static void detail(struct pending *p, const char *fmt, ...)
{
	char *d = p->a.detail;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(d, sizeof(p->a.detail), fmt, ap);
	va_end(ap);
	if (n < 0) {
		d[0] = '\0';
		return;
	}
	size_t len = strlen(d), ok = 0;
	while (ok < len) {
		size_t k = ag_utf8_seq(d + ok, len - ok);
		if (!k)
			break;
		ok += k;
	}
	d[ok] = '\0';
}

static void evidence_event(struct pending *p, const struct ag_event *ev)
{
	if (p->a.n_evidence >= AG_ALERT_MAX_EVIDENCE)
		return;
	size_t k = p->a.n_evidence++;
	p->a.evidence[k].source = ev->source;
	p->a.evidence[k].file = ev->file;
	p->a.evidence[k].line = ev->line;
	p->a.evidence[k].time_ms = ev->time_ms;
	p->a.evidence[k].action = ev->action;
}

static void evidence_mark(struct pending *p, const struct mark *m)
{
	if (p->a.n_evidence >= AG_ALERT_MAX_EVIDENCE)
		return;
	size_t k = p->a.n_evidence++;
	p->a.evidence[k].source = m->source;
	p->a.evidence[k].file = m->file;
	p->a.evidence[k].line = m->line;
	p->a.evidence[k].time_ms = m->ms;
	memcpy(p->actions[k], m->action, TEXT_LEN);
	p->a.evidence[k].action = m->action[0] ? p->actions[k] : NULL;
}

/* What the workflow asks, as the gate shows it (AAL3 with hardware). */
static void set_required(struct pending *p, const struct ag_workflow *wf)
{
	struct ag_workflow need;

	ag_workflow_need(wf, NULL, &need);
	if (need.aal < 0)
		return;
	p->a.has_required = true;
	p->a.required.aal = need.aal;
	p->a.required.phishing_resistant = need.phishing_resistant;
	p->a.required.hardware = need.hardware;
}

/* AG-W01: below the workflow's level. */
static ag_code w01(struct judge *j, struct ag_error *err)
{
	const struct ag_event *ev = j->ev;
	struct ag_watch *w = j->w;

	if (!signin_ok(ev) || j->wf < 0 || !ev->assurance_known)
		return AG_OK;
	const struct ag_workflow *wf = &w->p->workflows[j->wf];
	struct ag_workflow need;
	struct ag_assurance own = {0};
	if (wf->aal == AG_AAL_MATCH_ACCOUNT) {
		struct ag_error e2;
		if (!w->store || !ev->subject || !*ev->subject)
			return AG_OK;
		ag_error_init(&e2);
		ag_code rc = ag_store_account_level(w->store, w->p, ev->subject,
						    &own, &e2);
		/* No enrolments, or a name the store cannot hold: the level
		 * is unknown and nothing is judged. */
		if (rc == AG_ERR_NOT_FOUND || rc == AG_ERR_INVALID ||
		    (rc == AG_OK && own.aal < 1))
			return AG_OK;
		if (rc) {
			if (err)
				*err = e2;
			return rc;
		}
	}
	/* As the gate holds the workflow, match_account included. */
	ag_workflow_need(wf, &own, &need);
	if (need.aal < 0)
		return AG_OK;
	if (ag_workflow_satisfied(&need, &ev->assurance))
		return AG_OK;
	struct pending *p = alert_new(j, AG_W01, AG_SEV_HIGH);
	set_required(p, &need);
	evidence_event(p, ev);
	char have[64], want[64], why[96];
	assurance_text(&ev->assurance, have, sizeof(have));
	assurance_text(&p->a.required, want, sizeof(want));
	why[0] = '\0';
	if (ev->assurance.aal < need.aal)
		snprintf(why, sizeof(why), "AAL%d is below AAL%d",
			 ev->assurance.aal, need.aal);
	else if (need.phishing_resistant &&
		 !ev->assurance.phishing_resistant)
		snprintf(why, sizeof(why), "not phishing-resistant");
	else
		snprintf(why, sizeof(why), "no hardware authenticator");
	detail(p,
		 "%s to workflow '%.64s' at %s; it requires %s (%s)",
		 kind_word(ev->kind), wf->name, have, want, why);
	return AG_OK;
}

/* AG-W02: a reset, then privileged access within the window. */
static void w02(struct judge *j)
{
	const struct ag_event *ev = j->ev;
	struct ag_watch *w = j->w;

	if (j->subj == NIL || !signin_ok(ev) || j->wf < 0)
		return;
	const struct ag_workflow *wf = &w->p->workflows[j->wf];
	struct marks *m = w->subj.v[j->subj].marks;
	if (!m || !ag_watch_privileged(wf))
		return;
	struct mark *best = NULL;
	for (size_t i = 0; i < m->n_resets; i++) {
		struct mark *r = &m->resets[i];
		if ((r->reported & (1u << AG_W02)) || r->ms > ev->time_ms ||
		    ev->time_ms - r->ms > w->recovery_ms)
			continue;
		if (!best || r->ms > best->ms)
			best = r;
	}
	if (!best)
		return;
	struct pending *p = alert_new(j, AG_W02, AG_SEV_HIGH);
	set_required(p, wf);
	evidence_mark(p, best);
	evidence_event(p, ev);
	char after[32], win[32];
	span(ev->time_ms - best->ms, after, sizeof(after));
	window_text(w->recovery_ms, win, sizeof(win));
	detail(p,
		 "%s of '%.64s'%s%.40s then %s to privileged workflow "
		 "'%.64s' %s later (recovery window %s)",
		 kind_word(best->kind), or_q(ev->subject),
		 best->actor[0] ? " by " : "", best->actor,
		 kind_word(ev->kind), wf->name, after, win);
	/* One alert per reset: every reset this access follows is told. */
	for (size_t i = 0; i < m->n_resets; i++) {
		struct mark *r = &m->resets[i];
		if (r->ms <= ev->time_ms &&
		    ev->time_ms - r->ms <= w->recovery_ms)
			r->reported |= (uint8_t)(1u << AG_W02);
	}
}

static uint64_t device_hash(const struct ag_watch *w, char tag,
			    const char *s)
{
	uint64_t k[2] = {w->dkey[0] ^ (uint64_t)(unsigned char)tag,
			 w->dkey[1]};
	return siphash(k, s, strlen(s));
}

/* The device an event comes from, for AG-W03: its device id, else its
 * address.  false when it names neither. */
static bool event_device(const struct ag_watch *w, const struct ag_event *ev,
			 uint64_t *h)
{
	if (ev->device_id && *ev->device_id)
		*h = device_hash(w, 'd', ev->device_id);
	else if (ev->ip && *ev->ip)
		*h = device_hash(w, 'i', ev->ip);
	else
		return false;
	return true;
}

static const struct seen *seen_find(const struct entry *e, uint64_t h)
{
	for (size_t i = 0; i < e->n_dev; i++)
		if (e->dev[i].h == h)
			return &e->dev[i];
	return NULL;
}

/* AG-W03: help-desk reset, enrolment, sign-in from a new device. */
static void w03(struct judge *j)
{
	const struct ag_event *ev = j->ev;
	struct ag_watch *w = j->w;
	uint64_t dh;

	if (j->subj == NIL || !signin_ok(ev))
		return;
	struct entry *e = &w->subj.v[j->subj];
	struct marks *m = e->marks;
	if (!m || !m->n_enrols || !event_device(w, ev, &dh))
		return;
	const struct seen *s = seen_find(e, dh);
	struct mark *best = NULL, *best_enrol = NULL;
	for (size_t i = 0; i < m->n_resets; i++) {
		struct mark *r = &m->resets[i];
		if (r->kind != AG_EV_HELPDESK_RESET ||
		    (r->reported & (1u << AG_W03)) || r->ms > ev->time_ms ||
		    ev->time_ms - r->ms > w->takeover_ms)
			continue;
		if (s && s->first_ms < r->ms)
			continue; /* the device was in use before the reset */
		struct mark *en = NULL;
		for (size_t k = 0; k < m->n_enrols; k++) {
			struct mark *x = &m->enrols[k];
			if (x->ms >= r->ms && x->ms <= ev->time_ms &&
			    (!en || x->ms > en->ms))
				en = x;
		}
		if (en && (!best || r->ms > best->ms)) {
			best = r;
			best_enrol = en;
		}
	}
	if (!best)
		return;
	struct pending *p = alert_new(j, AG_W03, AG_SEV_CRITICAL);
	if (j->wf >= 0)
		set_required(p, &w->p->workflows[j->wf]);
	evidence_mark(p, best);
	evidence_mark(p, best_enrol);
	evidence_event(p, ev);
	char after[32], win[32];
	span(ev->time_ms - best->ms, after, sizeof(after));
	window_text(w->takeover_ms, win, sizeof(win));
	const char *dev = ev->device_id && *ev->device_id ? ev->device_id
							   : ev->ip;
	detail(p,
		 "help-desk reset of '%.64s'%s%.40s, a new authenticator "
		 "enrolled, then a sign-in from %s '%.48s' not seen before the "
		 "reset, %s after it (takeover window %s)",
		 or_q(ev->subject), best->actor[0] ? " by " : "", best->actor,
		 ev->device_id && *ev->device_id ? "device" : "address", dev,
		 after, win);
	best->reported |= (uint8_t)(1u << AG_W03);
}

static bool ip_in(const char *ip, const struct ag_cidr *nets, size_t n)
{
	struct ag_cidr a;
	if (!ip || ag_cidr_parse(ip, &a) != AG_OK)
		return false;
	for (size_t i = 0; i < n; i++)
		if (ag_cidr_contains(&nets[i], &a))
			return true;
	return false;
}

static void mark_of(struct mark *m, const struct ag_event *ev)
{
	memset(m, 0, sizeof(*m));
	m->ms = ev->time_ms;
	m->line = ev->line;
	m->file = ev->file;
	m->kind = ev->kind;
	m->source = ev->source;
	text_copy(m->action, sizeof(m->action), ev->action);
	text_copy(m->actor, sizeof(m->actor), ev->actor);
}

static void add_reason(char *buf, size_t len, const char *fmt, ...)
	AG_PRINTF(3, 4);

static void add_reason(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;
	if (used && used + 2 < len) {
		buf[used++] = ';';
		buf[used++] = ' ';
		buf[used] = '\0';
	}
	if (used >= len - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

/* AG-W04: a token or key used outside policy; keeps the last use. */
static void w04(struct judge *j)
{
	const struct ag_event *ev = j->ev;
	struct ag_watch *w = j->w;
	char why[256] = "", t1[32], t2[32];
	int64_t t = ev->time_ms;

	if (ev->kind != AG_EV_TOKEN_USE || ev->result == AG_RES_FAILURE)
		return;
	const char *cid = ev->credential && *ev->credential ? ev->credential
							    : NULL;
	if (ev->expires_ms > 0 && t >= ev->expires_ms) {
		span(t - ev->expires_ms, t1, sizeof(t1));
		add_reason(why, sizeof(why), "the token expired %s before use",
			   t1);
	}
	const struct ag_nhi *rec = NULL;
	if (w->inv && cid) {
		char r[160];
		rec = inv_find(w, cid);
		if (!rec)
			add_reason(why, sizeof(why),
				   "not in the machine inventory");
		else if (!ag_nhi_client_ok(&w->nhi_view, rec, rec->issuer,
					   t / 1000, r, sizeof(r)))
			add_reason(why, sizeof(why), "%s", r);
	}
	long wi = rec ? rec->workflow_idx : j->wf;
	const struct ag_workflow *wf =
		wi >= 0 && (size_t)wi < w->p->n_workflows
			? &w->p->workflows[wi]
			: NULL;
	if (wf && wf->n_networks && ev->ip && *ev->ip &&
	    !ip_in(ev->ip, wf->networks, wf->n_networks))
		add_reason(why, sizeof(why),
			   "address %.64s is outside the networks of "
			   "workflow '%.64s'",
			   ev->ip, wf->name);

	/* Dormancy: the previous use, from the stream or the inventory. */
	struct table *ct = &w->cred;
	uint32_t ci = NIL;
	uint64_t h = 0;
	bool track = !j->alone && cid && strlen(cid) <= NAME_MAX_BYTES;
	const struct mark *prev_mark = NULL;
	int64_t prev = 0;
	if (track) {
		h = siphash(w->hkey, cid, strlen(cid));
		ci = tab_find(ct, cid, h);
		if (ci != NIL && ct->v[ci].last_ms < t) {
			prev = ct->v[ci].last_ms;
			prev_mark = ct->v[ci].use;
		}
	}
	if (rec && rec->last_used > 0 && rec->last_used < INT64_MAX / 1000 &&
	    rec->last_used * 1000 < t && rec->last_used * 1000 > prev) {
		prev = rec->last_used * 1000;
		prev_mark = NULL;
	}
	bool dormant = !j->alone && prev && w->dormant_ms &&
		       t - prev > w->dormant_ms;
	if (dormant) {
		span(t - prev, t1, sizeof(t1));
		window_text(w->dormant_ms, t2, sizeof(t2));
		add_reason(why, sizeof(why),
			   "dormant: unused for %s%s (dormant after %s)", t1,
			   prev_mark ? "" : " by the inventory's last use", t2);
	}

	if (why[0]) {
		struct pending *p = alert_new(j, AG_W04, AG_SEV_HIGH);
		if (wf) {
			set_required(p, wf);
			p->a.workflow = wf->name;
		}
		if (dormant && prev_mark)
			evidence_mark(p, prev_mark);
		evidence_event(p, ev);
		detail(p, "%s '%.64s': %s",
			 cid ? "credential" : "token", cid ? cid : "?", why);
	}

	/* Keep the last use (the alert copied what it cites). */
	if (!track)
		return;
	if (ci == NIL) {
		bool evicted;
		ag_code rc = tab_add(ct, cid, h, t, &ci, &evicted);
		if (evicted)
			w->st.credentials_evicted++;
		if (rc) {
			w->st.untracked++;
			return;
		}
	} else if (t < ct->v[ci].last_ms) {
		tab_touch(ct, ci, t); /* a late use: the last stays */
		return;
	}
	tab_touch(ct, ci, t);
	struct entry *e = &ct->v[ci];
	if (!e->use && !(e->use = malloc(sizeof(*e->use)))) {
		w->st.untracked++;
		return;
	}
	mark_of(e->use, ev);
}

/* AG-W05: break-glass use: a break-glass event, or a sign-in (not a
 * failed one) of an account the store marks break-glass. */
static void w05(struct judge *j)
{
	const struct ag_event *ev = j->ev;
	struct ag_watch *w = j->w;
	uint32_t k;
	if (ev->kind == AG_EV_LOGIN && ev->result != AG_RES_FAILURE &&
	    w->n_bg && ev->subject && ag_strmap_get(&w->bg_ids, ev->subject, &k)) {
		struct pending *p = alert_new(j, AG_W05, AG_SEV_HIGH);
		if (j->wf >= 0)
			set_required(p, &w->p->workflows[j->wf]);
		evidence_event(p, ev);
		detail(p,
			 "sign-in of '%.64s', which the state store marks "
			 "break-glass%s",
			 ev->subject,
			 ev->result == AG_RES_SUCCESS ? ", succeeded" : "");
		return;
	}
	if (ev->kind != AG_EV_BREAK_GLASS)
		return;
	struct pending *p = alert_new(j, AG_W05, AG_SEV_HIGH);
	if (j->wf >= 0)
		set_required(p, &j->w->p->workflows[j->wf]);
	evidence_event(p, ev);
	bool actor = ev->actor && *ev->actor;
	detail(p,
		 "break-glass use of '%.64s'%s%.64s%s%s", or_q(ev->subject),
		 actor ? " by '" : "", actor ? ev->actor : "", actor ? "'" : "",
		 ev->result == AG_RES_FAILURE	? ", refused"
		 : ev->result == AG_RES_SUCCESS ? ", succeeded"
						: "");
}

/* AG-W06: a legacy-protocol sign-in. */
static void w06(struct judge *j)
{
	const struct ag_event *ev = j->ev;
	struct ag_watch *w = j->w;
	if (!signin_ok(ev) || !ev->protocol)
		return;
	bool legacy = false;
	for (size_t i = 0; i < w->n_legacy && !legacy; i++)
		legacy = !strcasecmp(ev->protocol, w->legacy[i]);
	if (!legacy)
		return;
	struct pending *p = alert_new(j, AG_W06, AG_SEV_MEDIUM);
	if (j->wf >= 0)
		set_required(p, &w->p->workflows[j->wf]);
	evidence_event(p, ev);
	detail(p,
		 "%s of '%.64s' over legacy protocol '%.32s'%s%.64s%s",
		 kind_word(ev->kind), or_q(ev->subject), ev->protocol,
		 j->wf >= 0 ? " to workflow '" : "",
		 j->wf >= 0 ? w->p->workflows[j->wf].name : "",
		 j->wf >= 0 ? "'" : "");
}

/* AG-W07: interactive use of a machine identity. */
static void w07(struct judge *j)
{
	const struct ag_event *ev = j->ev;
	struct ag_watch *w = j->w;
	if (!is_signin(ev) || !ev->interactive || ev->result == AG_RES_FAILURE)
		return;
	const struct ag_nhi *rec = inv_find(w, ev->subject);
	const char *who = ev->subject;
	if (!rec) {
		rec = inv_find(w, ev->credential);
		who = ev->credential;
	}
	bool machine_wf = j->wf >= 0 && w->p->workflows[j->wf].machine;
	if (!rec && !machine_wf)
		return;
	struct pending *p = alert_new(j, AG_W07, AG_SEV_HIGH);
	if (j->wf >= 0)
		set_required(p, &w->p->workflows[j->wf]);
	evidence_event(p, ev);
	if (rec)
		detail(p,
			 "interactive %s as '%.64s', a machine identity in "
			 "the inventory (%.32s, owner %.64s)",
			 kind_word(ev->kind), who, or_q(rec->kind),
			 rec->owner ? rec->owner : "unknown");
	else
		detail(p,
			 "interactive %s by '%.64s' to machine workflow "
			 "'%.64s'",
			 kind_word(ev->kind), or_q(ev->subject),
			 w->p->workflows[j->wf].name);
}

/* AG-W08: a device below the workflow's requirement. */
static void w08(struct judge *j)
{
	const struct ag_event *ev = j->ev;
	struct ag_watch *w = j->w;
	if (!signin_ok(ev) || j->wf < 0)
		return;
	const struct ag_workflow *wf = &w->p->workflows[j->wf];
	if (wf->device == AG_DEVICE_ANY)
		return;
	/* Unknown and unmanaged meet no requirement. */
	int have = ev->posture == AG_POSTURE_MANAGED ? AG_DEVICE_MANAGED
		   : ev->posture == AG_POSTURE_KNOWN ? AG_DEVICE_KNOWN
						     : -1;
	if (have >= (int)wf->device)
		return;
	struct pending *p = alert_new(j, AG_W08, AG_SEV_MEDIUM);
	set_required(p, wf);
	evidence_event(p, ev);
	detail(p,
		 "%s to workflow '%.64s', which requires a %s device, from "
		 "%s%s%.64s%s",
		 kind_word(ev->kind), wf->name, ag_device_name(wf->device),
		 posture_word(ev->posture),
		 ev->device_id && *ev->device_id ? " ('" : "",
		 ev->device_id && *ev->device_id ? ev->device_id : "",
		 ev->device_id && *ev->device_id ? "')" : "");
}

/* Keeps m among the newest MARKS_MAX of its list (an older one than all
 * of a full list is dropped). */
static void marks_put(struct mark *list, uint8_t *n, const struct mark *m)
{
	if (*n < MARKS_MAX) {
		list[(*n)++] = *m;
		return;
	}
	size_t old = 0;
	for (size_t i = 1; i < MARKS_MAX; i++)
		if (list[i].ms < list[old].ms)
			old = i;
	if (m->ms >= list[old].ms)
		list[old] = *m;
}

static ag_code seen_put(struct entry *e, uint64_t h, int64_t ms)
{
	for (size_t i = 0; i < e->n_dev; i++) {
		struct seen *s = &e->dev[i];
		if (s->h != h)
			continue;
		if (ms < s->first_ms)
			s->first_ms = ms;
		if (ms > s->last_ms)
			s->last_ms = ms;
		return AG_OK;
	}
	if (e->n_dev == e->cap_dev && e->cap_dev < DEVICES_MAX) {
		uint8_t cap = e->cap_dev ? (uint8_t)(e->cap_dev * 2) : 2;
		struct seen *d = realloc(e->dev, cap * sizeof(*d));
		if (!d)
			return AG_ERR_NOMEM;
		e->dev = d;
		e->cap_dev = cap;
	}
	size_t k = e->n_dev;
	if (e->n_dev < e->cap_dev) {
		e->n_dev++;
	} else {
		/* Full: the least recently seen device makes room. */
		k = 0;
		for (size_t i = 1; i < e->n_dev; i++)
			if (e->dev[i].last_ms < e->dev[k].last_ms)
				k = i;
	}
	e->dev[k].h = h;
	e->dev[k].first_ms = e->dev[k].last_ms = ms;
	return AG_OK;
}

/* Records what the event means for its subject's later correlations. */
static ag_code remember(struct judge *j)
{
	const struct ag_event *ev = j->ev;
	struct ag_watch *w = j->w;
	struct table *t = &w->subj;
	bool reset = is_reset(ev) && ev->result != AG_RES_FAILURE;
	bool enrol = ev->kind == AG_EV_ENROLL && ev->result != AG_RES_FAILURE;
	bool signin = signin_ok(ev);
	ag_code rc = AG_OK;

	if (!reset && !enrol && !signin)
		return AG_OK;
	if (j->subj == NIL) {
		bool evicted;
		const char *s = ev->subject;
		rc = tab_add(t, s, siphash(w->hkey, s, strlen(s)), ev->time_ms,
			     &j->subj, &evicted);
		if (evicted)
			w->st.subjects_evicted++;
		if (rc)
			return rc;
	}
	tab_touch(t, j->subj, ev->time_ms);
	struct entry *e = &t->v[j->subj];
	if (reset || enrol) {
		if (!e->marks && !(e->marks = calloc(1, sizeof(*e->marks))))
			return AG_ERR_NOMEM;
		struct mark m;
		mark_of(&m, ev);
		if (reset)
			marks_put(e->marks->resets, &e->marks->n_resets, &m);
		else
			marks_put(e->marks->enrols, &e->marks->n_enrols, &m);
	}
	if (signin) {
		if (ev->device_id && *ev->device_id)
			rc = seen_put(e, device_hash(w, 'd', ev->device_id),
				      ev->time_ms);
		if (!rc && ev->ip && *ev->ip)
			rc = seen_put(e, device_hash(w, 'i', ev->ip),
				      ev->time_ms);
	}
	return rc;
}

ag_code ag_watch_event(struct ag_watch *w, const struct ag_event *ev,
		       ag_alert_fn fn, void *ctx, struct ag_error *err)
{
	struct judge *j;
	ag_code rc;

	if (!w || !ev)
		return ag_err(err, AG_ERR_USAGE, "watch: no engine or event");
	j = w->j;
	j->w = w;
	j->ev = ev;
	j->n = 0;
	j->subj = NIL;
	j->wf = ev->workflow && *ev->workflow
			? ag_policy_workflow(w->p, ev->workflow)
			: -1;
	w->st.events++;

	/* Where the event stands in time.  Kept times stay within
	 * [0, now + a day], so their differences cannot overflow. */
	int64_t t = ev->time_ms;
	j->alone = false;
	if (t > (int64_t)time(NULL) * 1000 + FUTURE_MS) {
		j->alone = true;
		w->st.future++;
	} else if (t < 0 ||
		   (w->clock_set && t < w->st.clock_ms - w->horizon_ms)) {
		j->alone = true;
		w->st.late++;
	} else if (!w->clock_set || t > w->st.clock_ms) {
		w->st.clock_ms = t;
		w->clock_set = true;
		expire_head(w, t - w->horizon_ms);
	}
	const char *s = ev->subject;
	bool tracked = !j->alone && s && *s && strlen(s) <= NAME_MAX_BYTES;
	if (!j->alone && s && *s && !tracked)
		w->st.untracked++;
	if (tracked)
		j->subj = tab_find(&w->subj, s, siphash(w->hkey, s, strlen(s)));

	/* Judge, in rule order. */
	if ((rc = w01(j, err)))
		return rc;
	w02(j);
	w03(j);
	w04(j);
	w05(j);
	w06(j);
	w07(j);
	w08(j);

	/* Then remember; an allocation failure leaves the event judged. */
	if (tracked && remember(j) != AG_OK)
		w->st.untracked++;
	sync_stats(w);

	for (size_t i = 0; i < j->n; i++) {
		w->st.alerts++;
		w->st.by_rule[j->out[i].a.rule]++;
	}
	for (size_t i = 0; fn && i < j->n; i++)
		if ((rc = fn(ctx, &j->out[i].a)))
			return rc;
	return AG_OK;
}

/* ---- inputs and resume points ------------------------------------------ */

ag_code ag_watch_input(struct ag_watch *w, uint32_t file, const char *name,
		       struct ag_error *err)
{
	if (!w || !name)
		return ag_err(err, AG_ERR_USAGE, "watch: no engine or input "
						 "name");
	if (file >= INPUTS_MAX)
		return ag_err(err, AG_ERR_LIMIT,
			      "watch: input %u: at most %u inputs are named",
			      file, INPUTS_MAX);
	if (strlen(name) > INPUT_NAME_MAX)
		return ag_err(err, AG_ERR_LIMIT,
			      "watch: input name longer than %u bytes",
			      INPUT_NAME_MAX);
	if (file >= w->inputs_alloc) {
		size_t n = w->inputs_alloc ? w->inputs_alloc : 8;
		while (n <= file)
			n *= 2;
		char **v = realloc(w->inputs, n * sizeof(*v));
		if (!v)
			return ag_err(err, AG_ERR_NOMEM, "watch: out of memory");
		memset(v + w->inputs_alloc, 0,
		       (n - w->inputs_alloc) * sizeof(*v));
		w->inputs = v;
		w->inputs_alloc = n;
	}
	char *c = ag_strdup(name);
	if (!c)
		return ag_err(err, AG_ERR_NOMEM, "watch: out of memory");
	free(w->inputs[file]);
	w->inputs[file] = c;
	return AG_OK;
}

const char *ag_watch_file(const struct ag_watch *w, uint32_t file)
{
	if (!w)
		return NULL;
	if (file & AG_WATCH_FILE_SAVED) {
		uint32_t k = file & ~AG_WATCH_FILE_SAVED;
		return k < w->n_saved ? w->saved[k] : NULL;
	}
	return file < w->inputs_alloc ? w->inputs[file] : NULL;
}

static struct ag_watch_pos *pos_find(const struct ag_watch *w, uint64_t dev,
				     uint64_t ino)
{
	for (size_t i = 0; i < w->n_pos; i++)
		if (w->pos[i].dev == dev && w->pos[i].ino == ino)
			return &w->pos[i];
	return NULL;
}

/* A slot for a new point: a free one, or the least recently updated. */
static struct ag_watch_pos *pos_slot(struct ag_watch *w)
{
	if (w->n_pos < POSITIONS_MAX) {
		if (AG_GROW(w->pos, w->pos_alloc, w->n_pos + 1))
			return NULL;
		return &w->pos[w->n_pos++];
	}
	size_t old = 0;
	for (size_t i = 1; i < w->n_pos; i++)
		if (w->pos[i].tick < w->pos[old].tick)
			old = i;
	return &w->pos[old];
}

ag_code ag_watch_set_position(struct ag_watch *w, uint64_t dev, uint64_t ino,
			      uint64_t offset, struct ag_error *err)
{
	if (!w)
		return ag_err(err, AG_ERR_USAGE, "watch: no engine");
	struct ag_watch_pos *p = pos_find(w, dev, ino);
	if (!p && !(p = pos_slot(w)))
		return ag_err(err, AG_ERR_NOMEM, "watch: out of memory");
	p->dev = dev;
	p->ino = ino;
	p->offset = offset;
	p->tick = ++w->pos_tick;
	return AG_OK;
}

bool ag_watch_position(const struct ag_watch *w, uint64_t dev, uint64_t ino,
		       uint64_t *offset)
{
	const struct ag_watch_pos *p = w ? pos_find(w, dev, ino) : NULL;
	if (p && offset)
		*offset = p->offset;
	return p != NULL;
}

/* ---- saving and loading ------------------------------------------------ */

/*
 * The state is a sequence of records, little-endian, cut into chunks of
 * about CHUNK_BYTES at record boundaries:
 *   header  "AGW1" dkey[0] dkey[1] (u64) clock_set (u8) clock_ms (i64)
 *   'S'     a subject: name (u16 length, bytes), last_ms, resets (u8
 *           count, marks), enrolments (the same), devices (u8 count,
 *           {hash u64, first_ms, last_ms})
 *   'C'     a credential: name, last_ms, has_use (u8), [mark]
 *   'F'     a file name: index (u32, 0, 1, ...), name
 *   'E'     the end
 * A mark: ms, line (u64), file (u32: an 'F' index, or UINT32_MAX),
 * kind, source, reported (u8), action and actor (u8 length, bytes).
 * Subjects and credentials come least recently active first, so that a
 * load rebuilds the same order.
 */
static const char state_magic[4] = {'A', 'G', 'W', '1'};

struct wr {
	struct ag_watch *w;
	struct ag_buf b;
	struct ag_store_tx *tx;
	uint32_t seq;
	bool nomem;
	ag_code rc; /* a store error; err holds its message */
	struct ag_error *err;
	uint32_t *map_saved, *map_input; /* file -> 'F' index, or NIL */
	const char **names;
	size_t n_names, names_alloc;
};

static void put(struct wr *o, const void *p, size_t n)
{
	if (!o->nomem && ag_buf_add(&o->b, p, n))
		o->nomem = true;
}

static void put_u8(struct wr *o, unsigned v)
{
	unsigned char c = (unsigned char)v;
	put(o, &c, 1);
}

static void put_u64(struct wr *o, uint64_t v, size_t bytes)
{
	unsigned char b[8];
	for (size_t i = 0; i < bytes; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	put(o, b, bytes);
}

static void put_str(struct wr *o, const char *s, size_t len_bytes)
{
	size_t n = strlen(s);
	put_u64(o, n, len_bytes);
	put(o, s, n);
}

/* Writes the buffer as the next chunk once it is big enough (or now). */
static void flush(struct wr *o, bool now)
{
	if (o->rc || o->nomem || !o->b.len || (!now && o->b.len < CHUNK_BYTES))
		return;
	o->rc = ag_store_watch_chunk(o->tx, o->seq++, o->b.data, o->b.len,
				     o->err);
	o->b.len = 0;
}

static uint32_t file_index(struct wr *o, uint32_t f)
{
	const char *name = ag_watch_file(o->w, f);
	if (!name)
		return UINT32_MAX;
	uint32_t *slot = f & AG_WATCH_FILE_SAVED
				 ? &o->map_saved[f & ~AG_WATCH_FILE_SAVED]
				 : &o->map_input[f];
	if (*slot == NIL) {
		if (AG_GROW(o->names, o->names_alloc, o->n_names + 1)) {
			o->nomem = true;
			return UINT32_MAX;
		}
		o->names[o->n_names] = name;
		*slot = (uint32_t)o->n_names++;
	}
	return *slot;
}

static void put_mark(struct wr *o, const struct mark *m)
{
	put_u64(o, (uint64_t)m->ms, 8);
	put_u64(o, m->line, 8);
	put_u64(o, file_index(o, m->file), 4);
	put_u8(o, m->kind);
	put_u8(o, m->source);
	put_u8(o, m->reported);
	put_str(o, m->action, 1);
	put_str(o, m->actor, 1);
}

static void put_entries(struct wr *o, const struct table *t, char type)
{
	for (uint32_t i = t->head; i != NIL && !o->rc && !o->nomem;
	     i = t->v[i].next) {
		const struct entry *e = &t->v[i];
		put_u8(o, (unsigned char)type);
		put_str(o, e->name, 2);
		put_u64(o, (uint64_t)e->last_ms, 8);
		if (type == 'S') {
			const struct marks *m = e->marks;
			put_u8(o, m ? m->n_resets : 0);
			for (size_t k = 0; m && k < m->n_resets; k++)
				put_mark(o, &m->resets[k]);
			put_u8(o, m ? m->n_enrols : 0);
			for (size_t k = 0; m && k < m->n_enrols; k++)
				put_mark(o, &m->enrols[k]);
			put_u8(o, e->n_dev);
			for (size_t k = 0; k < e->n_dev; k++) {
				put_u64(o, e->dev[k].h, 8);
				put_u64(o, (uint64_t)e->dev[k].first_ms, 8);
				put_u64(o, (uint64_t)e->dev[k].last_ms, 8);
			}
		} else {
			put_u8(o, e->use != NULL);
			if (e->use)
				put_mark(o, e->use);
		}
		flush(o, false);
	}
}

ag_code ag_watch_save(struct ag_watch *w, struct ag_error *err)
{
	struct wr o;
	ag_code rc;

	if (!w)
		return ag_err(err, AG_ERR_USAGE, "watch: no engine");
	if (!w->store)
		return ag_err(err, AG_ERR_USAGE,
			      "watch: no state store to save to");
	memset(&o, 0, sizeof(o));
	o.w = w;
	o.err = err;
	ag_buf_init(&o.b, 4 * (size_t)CHUNK_BYTES);
	o.map_saved = malloc((w->n_saved + 1) * sizeof(uint32_t));
	o.map_input = malloc((w->inputs_alloc + 1) * sizeof(uint32_t));
	if (!o.map_saved || !o.map_input) {
		rc = ag_err(err, AG_ERR_NOMEM, "watch: out of memory");
		goto out;
	}
	memset(o.map_saved, 0xff, (w->n_saved + 1) * sizeof(uint32_t));
	memset(o.map_input, 0xff, (w->inputs_alloc + 1) * sizeof(uint32_t));
	if ((rc = ag_store_watch_begin(w->store, &o.tx, err)))
		goto out;
	put(&o, state_magic, sizeof(state_magic));
	put_u64(&o, w->dkey[0], 8);
	put_u64(&o, w->dkey[1], 8);
	put_u8(&o, w->clock_set);
	put_u64(&o, (uint64_t)w->st.clock_ms, 8);
	put_entries(&o, &w->subj, 'S');
	put_entries(&o, &w->cred, 'C');
	for (size_t i = 0; i < o.n_names && !o.rc && !o.nomem; i++) {
		put_u8(&o, 'F');
		put_u64(&o, i, 4);
		put_str(&o, o.names[i], 2);
		flush(&o, false);
	}
	put_u8(&o, 'E');
	flush(&o, true);
	for (size_t i = 0; i < w->n_pos && !o.rc && !o.nomem; i++)
		o.rc = ag_store_watch_pos(o.tx, &w->pos[i], err);
	if (o.nomem && !o.rc)
		o.rc = ag_err(err, AG_ERR_NOMEM, "watch: out of memory saving "
						 "the state");
	rc = ag_store_watch_end(o.tx, o.rc == AG_OK, err);
	if (o.rc)
		rc = o.rc;
out:
	ag_buf_release(&o.b);
	free(o.map_saved);
	free(o.map_input);
	free(o.names);
	return rc;
}

/* A reader of one chunk. */
struct rd {
	const unsigned char *p, *end;
	bool bad;
};

static uint64_t get_u64(struct rd *r, size_t bytes)
{
	uint64_t v = 0;
	if (r->bad || (size_t)(r->end - r->p) < bytes) {
		r->bad = true;
		return 0;
	}
	for (size_t i = 0; i < bytes; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += bytes;
	return v;
}

/* Reads a string of at most max bytes, without NUL, into buf (max + 1). */
static bool get_str(struct rd *r, size_t len_bytes, char *buf, size_t max)
{
	uint64_t n = get_u64(r, len_bytes);
	if (r->bad || n > max || (uint64_t)(r->end - r->p) < n ||
	    memchr(r->p, '\0', (size_t)n)) {
		r->bad = true;
		return false;
	}
	memcpy(buf, r->p, (size_t)n);
	buf[n] = '\0';
	r->p += n;
	return true;
}

/* A time the engine could have kept (see ag_watch_event). */
static bool time_ok(int64_t ms)
{
	return ms >= 0 && ms <= INT64_MAX / 8;
}

static bool get_mark(struct rd *r, struct mark *m)
{
	memset(m, 0, sizeof(*m));
	m->ms = (int64_t)get_u64(r, 8);
	m->line = get_u64(r, 8);
	uint32_t f = (uint32_t)get_u64(r, 4);
	m->file = f >= (FILE_UNKNOWN & ~AG_WATCH_FILE_SAVED)
			  ? FILE_UNKNOWN
			  : (AG_WATCH_FILE_SAVED | f);
	m->kind = (uint8_t)get_u64(r, 1);
	m->source = (uint8_t)get_u64(r, 1);
	m->reported = (uint8_t)get_u64(r, 1);
	if (r->bad || !time_ok(m->ms) || m->kind >= AG_EV__COUNT ||
	    m->source >= AG_SRC__COUNT)
		return false;
	return get_str(r, 1, m->action, TEXT_LEN - 1) &&
	       get_str(r, 1, m->actor, TEXT_LEN - 1);
}

struct loader {
	struct ag_watch *w;
	const char *store;
	uint32_t chunks;
	bool header, end;
};

static ag_code damaged(struct loader *l, struct ag_error *err,
		       const char *why)
{
	return ag_err(err, AG_ERR_INVALID,
		      "%s: the saved watch state is damaged (chunk %u: %s)",
		      l->store, l->chunks, why);
}

static ag_code load_entry(struct loader *l, struct rd *r, char type,
			  struct ag_error *err)
{
	struct ag_watch *w = l->w;
	struct table *t = type == 'S' ? &w->subj : &w->cred;
	char name[NAME_MAX_BYTES + 1];
	struct marks m;
	struct mark use;
	struct seen dev[DEVICES_MAX];
	uint8_t n_dev = 0;
	bool has_use = false;

	memset(&m, 0, sizeof(m));
	if (!get_str(r, 2, name, NAME_MAX_BYTES) || !name[0])
		return damaged(l, err, "a bad name");
	int64_t last = (int64_t)get_u64(r, 8);
	if (type == 'S') {
		m.n_resets = (uint8_t)get_u64(r, 1);
		if (m.n_resets > MARKS_MAX)
			return damaged(l, err, "too many resets");
		for (size_t k = 0; k < m.n_resets; k++)
			if (!get_mark(r, &m.resets[k]))
				return damaged(l, err, "a bad reset");
		m.n_enrols = (uint8_t)get_u64(r, 1);
		if (m.n_enrols > MARKS_MAX)
			return damaged(l, err, "too many enrolments");
		for (size_t k = 0; k < m.n_enrols; k++)
			if (!get_mark(r, &m.enrols[k]))
				return damaged(l, err, "a bad enrolment");
		n_dev = (uint8_t)get_u64(r, 1);
		if (n_dev > DEVICES_MAX)
			return damaged(l, err, "too many devices");
		for (size_t k = 0; k < n_dev; k++) {
			dev[k].h = get_u64(r, 8);
			dev[k].first_ms = (int64_t)get_u64(r, 8);
			dev[k].last_ms = (int64_t)get_u64(r, 8);
			if (!time_ok(dev[k].first_ms) ||
			    !time_ok(dev[k].last_ms))
				r->bad = true;
		}
	} else {
		has_use = get_u64(r, 1) != 0;
		if (has_use && !get_mark(r, &use))
			return damaged(l, err, "a bad last use");
	}
	if (r->bad)
		return damaged(l, err, "a record is cut short");
	if (!time_ok(last))
		return damaged(l, err, "a time out of range");
	uint64_t h = siphash(w->hkey, name, strlen(name));
	if (tab_find(t, name, h) != NIL)
		return damaged(l, err, "a name twice");
	uint32_t i;
	bool evicted;
	ag_code rc = tab_add(t, name, h, last, &i, &evicted);
	if (evicted) {
		if (type == 'S')
			w->st.subjects_evicted++;
		else
			w->st.credentials_evicted++;
	}
	if (rc)
		return ag_err(err, rc, "watch: out of memory loading the state");
	struct entry *e = &t->v[i];
	if (m.n_resets || m.n_enrols) {
		if (!(e->marks = malloc(sizeof(*e->marks))))
			return ag_err(err, AG_ERR_NOMEM, "watch: out of memory");
		*e->marks = m;
	}
	if (n_dev) {
		uint8_t cap = 2;
		while (cap < n_dev)
			cap = (uint8_t)(cap * 2);
		if (!(e->dev = malloc(cap * sizeof(*e->dev))))
			return ag_err(err, AG_ERR_NOMEM, "watch: out of memory");
		memcpy(e->dev, dev, n_dev * sizeof(*dev));
		e->n_dev = n_dev;
		e->cap_dev = cap;
	}
	if (has_use) {
		if (!(e->use = malloc(sizeof(*e->use))))
			return ag_err(err, AG_ERR_NOMEM, "watch: out of memory");
		*e->use = use;
	}
	return AG_OK;
}

static ag_code load_chunk(void *arg, const void *data, size_t len,
			  struct ag_error *err)
{
	struct loader *l = arg;
	struct ag_watch *w = l->w;
	struct rd r = {data, (const unsigned char *)data + len, false};
	ag_code rc;

	if (l->end)
		return damaged(l, err, "data after the end");
	if (!l->header) {
		if (len < sizeof(state_magic) ||
		    memcmp(data, state_magic, sizeof(state_magic)))
			return damaged(l, err, "not watch state, or another "
					       "version of it");
		r.p += sizeof(state_magic);
		w->dkey[0] = get_u64(&r, 8);
		w->dkey[1] = get_u64(&r, 8);
		w->clock_set = get_u64(&r, 1) != 0;
		w->st.clock_ms = (int64_t)get_u64(&r, 8);
		if (r.bad)
			return damaged(l, err, "the header is cut short");
		if (!time_ok(w->st.clock_ms))
			return damaged(l, err, "a time out of range");
		l->header = true;
	}
	while (r.p < r.end) {
		char type = (char)*r.p++;
		if (type == 'S' || type == 'C') {
			if ((rc = load_entry(l, &r, type, err)))
				return rc;
		} else if (type == 'F') {
			char name[INPUT_NAME_MAX + 1];
			uint64_t k = get_u64(&r, 4);
			if (k != w->n_saved ||
			    !get_str(&r, 2, name, INPUT_NAME_MAX))
				return damaged(l, err, "a bad file name");
			char **v = realloc(w->saved,
					   (w->n_saved + 1) * sizeof(*v));
			if (!v)
				return ag_err(err, AG_ERR_NOMEM,
					      "watch: out of memory");
			w->saved = v;
			if (!(v[w->n_saved] = ag_strdup(name)))
				return ag_err(err, AG_ERR_NOMEM,
					      "watch: out of memory");
			w->n_saved++;
		} else if (type == 'E' && r.p == r.end) {
			l->end = true;
		} else {
			return damaged(l, err, "an unknown record");
		}
	}
	l->chunks++;
	return AG_OK;
}

static ag_code load_pos(void *arg, const struct ag_watch_pos *pos,
			struct ag_error *err)
{
	struct loader *l = arg;
	struct ag_watch *w = l->w;
	struct ag_watch_pos *p = pos_find(w, pos->dev, pos->ino);
	if (!p && !(p = pos_slot(w)))
		return ag_err(err, AG_ERR_NOMEM, "watch: out of memory");
	*p = *pos;
	if (pos->tick > w->pos_tick)
		w->pos_tick = pos->tick;
	return AG_OK;
}

/* Empties the state, the previous run's file names and the positions. */
static void clear_state(struct ag_watch *w)
{
	tab_release(&w->subj);
	tab_release(&w->cred);
	forget_files(w);
	w->n_pos = 0;
	w->pos_tick = 0;
	w->clock_set = false;
	w->st.clock_ms = 0;
	sync_stats(w);
}

ag_code ag_watch_load(struct ag_watch *w, struct ag_error *err)
{
	struct loader l;
	ag_code rc;

	if (!w)
		return ag_err(err, AG_ERR_USAGE, "watch: no engine");
	if (!w->store)
		return ag_err(err, AG_ERR_USAGE,
			      "watch: no state store to load from");
	clear_state(w);
	memset(&l, 0, sizeof(l));
	l.w = w;
	l.store = w->store->path ? w->store->path : "state";
	rc = ag_store_watch_read(w->store, load_chunk, load_pos, &l, err);
	if (rc == AG_OK && l.header && !l.end)
		rc = damaged(&l, err, "the end is missing");
	if (rc != AG_OK) {
		clear_state(w);
		return rc;
	}
	sync_stats(w);
	return AG_OK;
}
