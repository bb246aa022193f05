/*
 * The state store (docs/govern.md, docs/nhi.md): accounts, enrolled
 * authenticators, spent recovery codes, grants, machine identities with
 * their history and owners, and a journal of every change, in an
 * embedded SQLite database.  The rules for grants are in grants.c; it
 * reaches the data through the transaction operations (tx_*) below.
 *
 * The file has two halves.  The generic layer validates input, applies
 * the assurance rules (through the core: ag_combine, ag_binding_*) and
 * builds journal and decision-log records; it reaches the data only
 * through struct ag_store_ops (store-int.h).  The SQLite backend below it
 * only stores and fetches, giving each change one write transaction.
 *
 * The journal is an outbox.  A change and its journal row commit
 * together, so there is never a change without its row.  Draining moves
 * rows into the hash-chained decision log: under the store's write lock,
 * take the oldest unlogged rows, append each to the log (ag_dlog_append
 * returns once the record is durable), mark it with the log's seq, and
 * commit.  The failure cases:
 *
 *  - crash before the append: the row is still unlogged; the next drain
 *    appends it;
 *  - crash after the append, before the commit (or a commit that
 *    fails): the log holds the record, the row is still unlogged, and
 *    the next drain appends it a second time.  Nothing is lost.  Every
 *    record carries "store" (this store's random id) and "journal_seq"
 *    (AUTOINCREMENT: never reused), which together name the change, so a
 *    reader drops the repeat;
 *  - the log fails: the drain stops; rows appended before are marked,
 *    the rest wait;
 *  - a row that cannot be a record (a hand-edited file): it is logged as
 *    "journal_invalid" with its seq, so the rows after it still go.
 *
 * Holding the write lock through the appends keeps two drainers (say two
 * processes with two logs) from both logging a row, and keeps the log in
 * journal order.  A batch is small (DRAIN_BATCH rows), so a writer waits
 * at most that many syncs.  The decision log's own lock (flock) means
 * that per log there is one drainer: the gate while it runs (at start,
 * every second, at the end), otherwise the CLI right after its change.
 * A record's "time" is the change's, not the drain's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "aalgate/gate.h"
#include "aalgate/govern.h"
#include "govern/store-int.h"
#include "util.h"
#include "banned.h"

/* Most enrolments a listing of every account returns. */
#define LIST_ALL_MAX 1000000u
/* Journal rows appended per write transaction while draining. */
#define DRAIN_BATCH 32
/* Largest fields text of one journal row read back. */
#define FIELDS_MAX (AG_DLOG_RECORD_MAX / 2)
/* Most enrolments of one account read when removing one. */
#define REMOVE_SCAN_MAX 4096u
#define DEFAULT_BUSY_MS 5000u
#define CONNECTIONS_MAX 1024u

/* ---- the generic layer ------------------------------------------------- */

void ag_enrolments_release(struct ag_enrolments *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].account);
		free(l->v[i].method);
		free(l->v[i].label);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int ag_store_schema_version(void)
{
	return AG_STORE_SQLITE_SCHEMA;
}

const char *ag_store_id(const struct ag_store *s)
{
	return s ? s->id : "";
}

const char *ag_store_backend(const struct ag_store *s)
{
	return s && s->ops ? s->ops->name : "";
}

/* A name we store and print: bounded, UTF-8, no control characters. */
static ag_code check_name(const char *what, const char *v, size_t min,
			  size_t max, struct ag_error *err)
{
	if (!v)
		return ag_err(err, AG_ERR_USAGE, "no %s given", what);
	size_t n = strlen(v);
	if (n < min)
		return ag_err(err, AG_ERR_USAGE, "the %s is empty", what);
	if (n > max)
		return ag_err(err, AG_ERR_LIMIT,
			      "the %s is longer than %zu bytes", what, max);
	if (!ag_utf8_valid(v, n))
		return ag_err(err, AG_ERR_INVALID, "the %s is not UTF-8",
			      what);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		/* C0, DEL, and C1 (U+0080..U+009F: 0xc2 0x80..0x9f). */
		if (c < 0x20 || c == 0x7f ||
		    (c == 0xc2 && i + 1 < n &&
		     (unsigned char)v[i + 1] >= 0x80 &&
		     (unsigned char)v[i + 1] <= 0x9f))
			return ag_err(err, AG_ERR_INVALID,
				      "the %s holds a control character",
				      what);
	}
	return AG_OK;
}

ag_code ag_store_check_name(const char *what, const char *v, size_t min,
			    size_t max, struct ag_error *err)
{
	return check_name(what, v, min, max, err);
}

ag_code ag_store_open(const char *path, const struct ag_store_opts *opts,
		      struct ag_store **out, struct ag_error *err)
{
	struct ag_store_opts o = {0};
	struct ag_store *s = NULL;
	ag_code rc;

	if (out)
		*out = NULL;
	if (!out || !path || !*path)
		return ag_err(err, AG_ERR_USAGE, "no state file given");
	if (opts)
		o = *opts;
	if (o.connections == 0)
		o.connections = 1;
	if (o.connections > CONNECTIONS_MAX)
		return ag_err(err, AG_ERR_USAGE,
			      "%s: at most %u connections", path,
			      CONNECTIONS_MAX);
	if (o.busy_ms == 0)
		o.busy_ms = DEFAULT_BUSY_MS;
	if (!strncmp(path, "postgres://", 11) ||
	    !strncmp(path, "postgresql://", 13))
		return ag_err(err, AG_ERR_USAGE,
			      "%s: the PostgreSQL backend is not built yet; "
			      "give a file for the SQLite backend",
			      path);
	if (!(s = calloc(1, sizeof(*s))) || !(s->path = ag_strdup(path))) {
		free(s);
		return ag_err(err, AG_ERR_NOMEM, "%s: out of memory", path);
	}
	rc = ag_store_sqlite_open(s, path, &o, err);
	if (rc != AG_OK) {
		free(s->path);
		free(s);
		return rc;
	}
	*out = s;
	return AG_OK;
}

void ag_store_close(struct ag_store *s)
{
	if (!s)
		return;
	if (s->ops)
		s->ops->close(s);
	free(s->path);
	free(s);
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/* " (label 'x')" or "" */
static void label_text(const char *label, char *buf, size_t len)
{
	if (label && *label)
		snprintf(buf, len, " (label '%s')", label);
	else
		buf[0] = '\0';
}

ag_code ag_enrolments_level(const struct ag_policy *p,
			    const struct ag_enrolment *v, size_t n,
			    struct ag_assurance *out, struct ag_error *err)
{
	uint16_t idx[AG_STORE_ENROLMENTS_MAX];

	memset(out, 0, sizeof(*out));
	if (!p)
		return ag_err(err, AG_ERR_USAGE, "no policy given");
	if (n > AG_STORE_ENROLMENTS_MAX)
		return ag_err(err, AG_ERR_LIMIT,
			      "'%s' holds more than %d enrolments",
			      v[0].account, AG_STORE_ENROLMENTS_MAX);
	for (size_t i = 0; i < n; i++) {
		int k = ag_catalogue_find(&p->catalogue, v[i].method);
		if (k < 0)
			return ag_err(err, AG_ERR_INVALID,
				      "'%s' has '%s' enrolled, which %s does "
				      "not define; its level cannot be judged",
				      v[i].account, v[i].method,
				      p->file ? p->file : "the policy");
		idx[i] = (uint16_t)k;
	}
	ag_combine(&p->catalogue, idx, n, AG_USE_SIGNIN, out);
	return AG_OK;
}

ag_code ag_store_enroll_list(struct ag_store *s, const char *account,
			     struct ag_enrolments *out, struct ag_error *err)
{
	ag_code rc;
	if (!s || !out)
		return ag_err(err, AG_ERR_USAGE, "no store given");
	if (account && (rc = check_name("account", account, 1,
					AG_STORE_ACCOUNT_MAX, err)))
		return rc;
	return s->ops->enroll_list(s, account, LIST_ALL_MAX, out, err);
}

ag_code ag_store_account_ial(struct ag_store *s, const char *account,
			     int *ial, struct ag_error *err)
{
	struct ag_store_tx *tx = NULL;
	ag_code rc;

	*ial = AG_IAL_UNKNOWN;
	if (!s)
		return ag_err(err, AG_ERR_USAGE, "no store given");
	if ((rc = check_name("account", account, 1, AG_STORE_ACCOUNT_MAX,
			     err)) ||
	    (rc = s->ops->tx_begin(s, false, &tx, err)))
		return rc;
	rc = s->ops->tx_account_ial_get(tx, account, ial, err);
	s->ops->tx_abort(tx);
	if (rc != AG_OK)
		*ial = AG_IAL_UNKNOWN;
	return rc;
}

ag_code ag_store_account_ial_set(struct ag_store *s, const char *account,
				 int ial, int64_t now, bool *changed,
				 struct ag_error *err)
{
	struct ag_store_tx *tx = NULL;
	int cur = AG_IAL_UNKNOWN;
	uint64_t seq;
	ag_code rc;

	if (changed)
		*changed = false;
	if (!s)
		return ag_err(err, AG_ERR_USAGE, "no store given");
	if (ial < 0 || ial > 3)
		return ag_err(err, AG_ERR_INVALID,
			      "an IAL is 0, 1, 2 or 3, not %d", ial);
	if ((rc = check_name("account", account, 1, AG_STORE_ACCOUNT_MAX,
			     err)) ||
	    (rc = s->ops->tx_begin(s, true, &tx, err)))
		return rc;
	if ((rc = s->ops->tx_account_ial_get(tx, account, &cur, err)))
		goto abort;
	if (cur == ial) {
		s->ops->tx_abort(tx);
		return AG_OK;
	}
	json_t *o = cur == AG_IAL_UNKNOWN
			    ? json_pack("{s:s, s:n, s:i}", "account", account,
					"was", "ial", ial)
			    : json_pack("{s:s, s:i, s:i}", "account", account,
					"was", cur, "ial", ial);
	char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!txt) {
		rc = ag_err(err, AG_ERR_NOMEM, "out of memory");
		goto abort;
	}
	rc = s->ops->tx_account_ial_set(tx, account, ial, now, err);
	if (!rc)
		rc = ag_store_tx_journal(s, tx, "account_ial", txt, now, &seq,
					 err);
	free(txt);
	if (rc)
		goto abort;
	if ((rc = s->ops->tx_commit(tx, err)))
		return rc;
	if (changed)
		*changed = true;
	return AG_OK;
abort:
	s->ops->tx_abort(tx);
	return rc;
}

void ag_store_addresses_release(struct ag_store_addresses *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		free((char *)a->v[i].address);
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

ag_code ag_store_address_list(struct ag_store *s, const char *account,
			      struct ag_store_addresses *out,
			      struct ag_error *err)
{
	struct ag_store_tx *tx = NULL;
	ag_code rc;

	if (!s || !out)
		return ag_err(err, AG_ERR_USAGE, "no store given");
	out->v = NULL;
	out->n = 0;
	if ((rc = check_name("account", account, 1, AG_STORE_ACCOUNT_MAX,
			     err)) ||
	    (rc = s->ops->tx_begin(s, false, &tx, err)))
		return rc;
	rc = s->ops->tx_address_list(tx, account, AG_RECOVERY_NOTIFY_MAX, out,
				     err);
	s->ops->tx_abort(tx);
	if (rc != AG_OK)
		ag_store_addresses_release(out);
	return rc;
}

/* The most addresses of an account a removal reads. */
#define ADDRESSES_SEEN_MAX 1024

/* The journal row of an address change: the change, and the obligation
 * to tell every address the account had before it. */
static char *address_fields(const char *account,
			    enum ag_recovery_channel channel,
			    const char *address,
			    const struct ag_store_addresses *before)
{
	json_t *o = json_pack("{s:s, s:s, s:s}", "account", account,
			      "channel", ag_recovery_channel_name(channel),
			      "address", address);
	json_t *to = json_array();
	char *txt = NULL;
	bool postal = false;

	if (!o || !to)
		goto out;
	/* An account past the cap (a store edited by hand) has its first
	 * addresses named and the rest counted: the row stays in bounds. */
	for (size_t i = 0; i < before->n && i < AG_RECOVERY_NOTIFY_MAX; i++) {
		const struct ag_recovery_address *a = &before->v[i];
		if (a->channel == AG_CHANNEL_POSTAL ||
		    a->channel == AG_CHANNEL_POSTAL_NONCONUS)
			postal = true;
		if (json_array_append_new(
			    to, json_pack("{s:s, s:s}", "channel",
					  ag_recovery_channel_name(a->channel),
					  "address", a->address)))
			goto out;
	}
	if (before->n) {
		json_object_set_new(o, "obligation", json_string("notify"));
		json_object_set_new(o, "notify", to);
		to = NULL;
		json_object_set_new(o, "notify_postal", json_boolean(postal));
		if (before->n > AG_RECOVERY_NOTIFY_MAX)
			json_object_set_new(
				o, "notify_omitted",
				json_integer((json_int_t)(before->n -
							  AG_RECOVERY_NOTIFY_MAX)));
	}
	txt = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
out:
	json_decref(to);
	json_decref(o);
	return txt;
}

/* Adds or removes v[0..n) for account in one transaction, journaling
 * each change with the obligation to tell the addresses held before the
 * batch; *done counts the changes. */
static ag_code address_batch(struct ag_store *s, const char *account,
			     const struct ag_recovery_address *v, size_t n,
			     bool add, int64_t now, size_t *done,
			     struct ag_error *err)
{
	struct ag_store_addresses before = {0};
	struct ag_store_tx *tx = NULL;
	size_t did_n = 0;
	uint64_t seq;
	ag_code rc;

	*done = 0;
	if (!s)
		return ag_err(err, AG_ERR_USAGE, "no store given");
	if ((rc = check_name("account", account, 1, AG_STORE_ACCOUNT_MAX,
			     err)))
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (v[i].channel <= AG_CHANNEL_NONE ||
		    v[i].channel >= AG_CHANNEL_COUNT)
			return ag_err(err, AG_ERR_INVALID,
				      "a notification channel is email, sms, "
				      "voice, postal or "
				      "postal_outside_contiguous_us");
		if ((rc = check_name("address", v[i].address, 1,
				     AG_RECOVERY_ADDRESS_MAX, err)))
			return rc;
	}
	if ((rc = s->ops->tx_begin(s, true, &tx, err)))
		return rc;
	/* A removal lists past the cap, so that an account over it (a
	 * store edited by hand) can be brought back under it. */
	if ((rc = s->ops->tx_address_list(tx, account,
					  add ? AG_RECOVERY_NOTIFY_MAX
					      : ADDRESSES_SEEN_MAX,
					  &before, err)))
		goto abort;
	for (size_t i = 0; i < n; i++) {
		bool did = false;
		if ((rc = s->ops->tx_address_put(tx, account, v[i].channel,
						 v[i].address, add, now, &did,
						 err)))
			goto abort;
		if (!did)
			continue;
		if (add && before.n + did_n >= AG_RECOVERY_NOTIFY_MAX) {
			rc = ag_err(err, AG_ERR_LIMIT,
				    "'%s' would have more than %d notification "
				    "addresses, the most an account may have",
				    account, AG_RECOVERY_NOTIFY_MAX);
			goto abort;
		}
		char *txt = address_fields(account, v[i].channel,
					   v[i].address, &before);
		if (!txt) {
			rc = ag_err(err, AG_ERR_NOMEM, "out of memory");
			goto abort;
		}
		rc = ag_store_tx_journal(s, tx,
					 add ? "address_add" : "address_remove",
					 txt, now, &seq, err);
		free(txt);
		if (rc)
			goto abort;
		did_n++;
	}
	ag_store_addresses_release(&before);
	if (did_n == 0) {
		s->ops->tx_abort(tx);
		return AG_OK;
	}
	if ((rc = s->ops->tx_commit(tx, err)))
		return rc;
	*done = did_n;
	return AG_OK;
abort:
	ag_store_addresses_release(&before);
	s->ops->tx_abort(tx);
	return rc;
}

ag_code ag_store_address_set(struct ag_store *s, const char *account,
			     enum ag_recovery_channel channel,
			     const char *address, bool add, int64_t now,
			     bool *changed, struct ag_error *err)
{
	struct ag_recovery_address a = {channel, address};
	size_t done = 0;
	ag_code rc = address_batch(s, account, &a, 1, add, now, &done, err);
	if (changed)
		*changed = rc == AG_OK && done == 1;
	return rc;
}

ag_code ag_store_address_add_many(struct ag_store *s, const char *account,
				  const struct ag_recovery_address *v,
				  size_t n, int64_t now, size_t *added,
				  struct ag_error *err)
{
	size_t done = 0;
	ag_code rc = address_batch(s, account, v, n, true, now, &done, err);
	if (added)
		*added = rc == AG_OK ? done : 0;
	return rc;
}

ag_code ag_store_account_level(struct ag_store *s, const struct ag_policy *p,
			       const char *account, struct ag_assurance *out,
			       struct ag_error *err)
{
	struct ag_enrolments l = {0};
	ag_code rc;

	memset(out, 0, sizeof(*out));
	if (!s || !p)
		return ag_err(err, AG_ERR_USAGE, "no store or policy given");
	if ((rc = check_name("account", account, 1, AG_STORE_ACCOUNT_MAX,
			     err)))
		return rc;
	rc = s->ops->enroll_list(s, account, AG_STORE_ENROLMENTS_MAX, &l, err);
	if (rc == AG_OK && l.n == 0)
		rc = ag_err(err, AG_ERR_NOT_FOUND,
			    "'%s' has no enrolled authenticators", account);
	if (rc == AG_OK)
		rc = ag_enrolments_level(p, l.v, l.n, out, err);
	ag_enrolments_release(&l);
	if (rc != AG_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* Serialises a journal object; takes the reference. */
static ag_code fields_text(json_t *o, char **fields, struct ag_error *err)
{
	*fields = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (!*fields)
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	return AG_OK;
}

static json_t *assurance_json(const struct ag_assurance *a)
{
	return json_pack("{s:i, s:b, s:b}", "aal", a->aal,
			 "phishing_resistant", a->phishing_resistant,
			 "hardware", a->hardware);
}

struct add_ctx {
	const struct ag_policy *p;
	const struct ag_enrolment *e;
	uint16_t method;
	const struct ag_enroll_auth *auth;
	struct ag_enroll_result *res;
};

static ag_code add_prepare(void *arg, const struct ag_enrolments *cur,
			   char **fields, struct ag_error *err)
{
	struct add_ctx *c = arg;
	const struct ag_enrolment *e = c->e;
	uint16_t idx[AG_STORE_ENROLMENTS_MAX];
	char lt[AG_STORE_LABEL_MAX + 16];
	struct ag_binding *b = &c->res->binding;

	label_text(e->label, lt, sizeof(lt));
	for (size_t i = 0; i < cur->n; i++)
		if (!strcmp(cur->v[i].method, e->method) &&
		    !strcmp(cur->v[i].label, e->label)) {
			c->res->status = AG_ENROLL_EXISTS;
			return ag_err(err, AG_ERR_INVALID,
				      "'%s' already has '%s'%s enrolled",
				      e->account, e->method, lt);
		}
	if (cur->n >= AG_STORE_ENROLMENTS_MAX)
		return ag_err(err, AG_ERR_LIMIT,
			      "'%s' already holds %d enrolments, the most "
			      "one account may",
			      e->account, AG_STORE_ENROLMENTS_MAX);
	for (size_t i = 0; i < cur->n; i++) {
		int k = ag_catalogue_find(&c->p->catalogue, cur->v[i].method);
		/* Without every enrolled method the account's level, and
		 * so what the binding needs, cannot be known. */
		if (k < 0)
			return ag_err(err, AG_ERR_INVALID,
				      "'%s' has '%s' enrolled, which %s does "
				      "not define; its level cannot be judged",
				      e->account, cur->v[i].method,
				      c->p->file ? c->p->file : "the policy");
		idx[i] = (uint16_t)k;
	}
	ag_binding_require(&c->p->catalogue, idx, cur->n, c->method, b);
	const struct ag_assurance *shown = c->auth ? &c->auth->assurance
						   : NULL;
	if (!ag_binding_allowed(b, shown)) {
		char ev[64];
		c->res->status = AG_ENROLL_REFUSED;
		if (shown)
			snprintf(ev, sizeof(ev), "the authentication shown "
				 "is AAL%d", shown->aal);
		else
			snprintf(ev, sizeof(ev),
				 "no authentication was shown");
		return ag_err(err, AG_ERR_INVALID,
			      "binding '%s'%s to '%s' needs authentication at "
			      "AAL%d (the account is at AAL%d; '%s' helps "
			      "reach AAL%d); %s",
			      e->method, lt, e->account, b->required,
			      b->account_aal, e->method, b->method_aal, ev);
	}
	json_t *o = json_object();
	json_t *ev = json_null();
	if (c->auth) {
		ev = assurance_json(&c->auth->assurance);
		json_object_set_new(ev, "source",
				    json_string(or_empty(c->auth->source)));
	}
	json_object_set_new(o, "account", json_string(e->account));
	json_object_set_new(o, "method", json_string(e->method));
	json_object_set_new(o, "label", json_string(e->label));
	json_object_set_new(o, "bootstrap", json_boolean(b->bootstrap));
	json_object_set_new(o, "account_aal", json_integer(b->account_aal));
	json_object_set_new(o, "required_aal", json_integer(b->required));
	json_object_set_new(o, "evidence", ev);
	c->res->remaining = cur->n + 1;
	return fields_text(o, fields, err);
}

ag_code ag_store_enroll_add(struct ag_store *s, const struct ag_policy *p,
			    const char *account, const char *method,
			    const char *label,
			    const struct ag_enroll_auth *auth, int64_t now, struct ag_enroll_result *res,
			    struct ag_error *err)
{
	struct ag_enroll_result dummy;
	ag_code rc;

	if (!res)
		res = &dummy;
	memset(res, 0, sizeof(*res));
	res->status = AG_ENROLL_FAILED;
	if (!s || !p)
		return ag_err(err, AG_ERR_USAGE, "no store or policy given");
	if (!label)
		label = "";
	if ((rc = check_name("account", account, 1, AG_STORE_ACCOUNT_MAX,
			     err)) ||
	    (rc = check_name("method", method, 1, AG_STORE_METHOD_MAX, err)) ||
	    (rc = check_name("label", label, 0, AG_STORE_LABEL_MAX, err)))
		return rc;
	if (auth && (auth->assurance.aal < 0 || auth->assurance.aal > 3))
		return ag_err(err, AG_ERR_USAGE,
			      "an authentication level is 0..3, not %d",
			      auth->assurance.aal);
	int k = ag_catalogue_find(&p->catalogue, method);
	if (k < 0) {
		struct ag_suggest sg;
		ag_suggest_init(&sg, method);
		for (size_t i = 0; i < p->catalogue.n; i++)
			ag_suggest_add(&sg, p->catalogue.methods[i].name);
		rc = ag_err(err, AG_ERR_INVALID,
			    "unknown method '%s' (not in %s's catalogue)",
			    method, p->file ? p->file : "the policy");
		ag_err_hint(err, ag_suggest_best(&sg));
		return rc;
	}
	if (p->catalogue.methods[k].prohibited)
		return ag_err(err, AG_ERR_INVALID,
			      "method '%s' is prohibited (SP 800-63B-4 "
			      "§3.1.1.2): it is never an authenticator",
			      method);

	struct ag_enrolment e = {.account = (char *)account,
				 .method = (char *)method,
				 .label = (char *)label,
				 .created = now};
	struct add_ctx c = {.p = p,
			    .e = &e,
			    .method = (uint16_t)k,
			    .auth = auth,
			    .res = res};
	rc = s->ops->enroll_add(s, &e, add_prepare, &c, &res->journal_seq,
				err);
	if (rc == AG_OK)
		res->status = AG_ENROLL_DONE;
	return rc;
}

struct remove_ctx {
	const struct ag_enrolment *e;
	struct ag_enroll_result *res;
};

static ag_code remove_prepare(void *arg, const struct ag_enrolments *cur,
			      char **fields, struct ag_error *err)
{
	struct remove_ctx *c = arg;
	const struct ag_enrolment *e = c->e;
	bool found = false;
	char lt[AG_STORE_LABEL_MAX + 16];

	for (size_t i = 0; i < cur->n && !found; i++)
		found = !strcmp(cur->v[i].method, e->method) &&
			!strcmp(cur->v[i].label, e->label);
	if (!found) {
		label_text(e->label, lt, sizeof(lt));
		c->res->status = AG_ENROLL_MISSING;
		return ag_err(err, AG_ERR_NOT_FOUND,
			      "'%s' has no '%s'%s enrolled", e->account,
			      e->method, lt);
	}
	c->res->remaining = cur->n - 1;
	json_t *o = json_object();
	json_object_set_new(o, "account", json_string(e->account));
	json_object_set_new(o, "method", json_string(e->method));
	json_object_set_new(o, "label", json_string(e->label));
	json_object_set_new(o, "remaining",
			    json_integer((json_int_t)c->res->remaining));
	return fields_text(o, fields, err);
}

ag_code ag_store_tx_enroll_remove(struct ag_store *s, struct ag_store_tx *tx,
				  const char *account, const char *method,
				  const char *label, int64_t now,
				  struct ag_enroll_result *res,
				  struct ag_error *err)
{
	struct ag_enroll_result dummy;
	struct ag_enrolments cur = {0};
	char *fields = NULL;
	ag_code rc;

	if (!res)
		res = &dummy;
	memset(res, 0, sizeof(*res));
	res->status = AG_ENROLL_FAILED;
	if (!s || !tx)
		return ag_err(err, AG_ERR_USAGE, "no store given");
	if (!label)
		label = "";
	if ((rc = check_name("account", account, 1, AG_STORE_ACCOUNT_MAX,
			     err)) ||
	    (rc = check_name("method", method, 1, AG_STORE_METHOD_MAX, err)) ||
	    (rc = check_name("label", label, 0, AG_STORE_LABEL_MAX, err)))
		return rc;
	struct ag_enrolment e = {.account = (char *)account,
				 .method = (char *)method,
				 .label = (char *)label,
				 .created = now};
	struct remove_ctx c = {.e = &e, .res = res};
	if ((rc = s->ops->tx_enroll_list(tx, account, REMOVE_SCAN_MAX, &cur,
					 err)) ||
	    (rc = remove_prepare(&c, &cur, &fields, err)) ||
	    (rc = s->ops->tx_enroll_del(tx, account, method, label, err)) ||
	    (rc = ag_store_tx_journal(s, tx, "enroll_remove", fields, now,
				      &res->journal_seq, err)))
		res->journal_seq = 0;
	else
		res->status = AG_ENROLL_DONE;
	free(fields);
	ag_enrolments_release(&cur);
	return rc;
}

ag_code ag_store_enroll_remove(struct ag_store *s, const char *account,
			       const char *method, const char *label,
			       int64_t now, struct ag_enroll_result *res,
			       struct ag_error *err)
{
	struct ag_enroll_result dummy;
	struct ag_store_tx *tx = NULL;
	ag_code rc;

	if (!res)
		res = &dummy;
	memset(res, 0, sizeof(*res));
	res->status = AG_ENROLL_FAILED;
	if (!s)
		return ag_err(err, AG_ERR_USAGE, "no store given");
	/* A read-only store needs no check here: SQLite refuses the write
	 * (SQLITE_READONLY), as it does for a file it could only read. */
	if ((rc = s->ops->tx_begin(s, true, &tx, err)))
		return rc;
	if ((rc = ag_store_tx_enroll_remove(s, tx, account, method, label, now,
					    res, err))) {
		s->ops->tx_abort(tx);
		return rc;
	}
	if ((rc = s->ops->tx_commit(tx, err))) {
		res->status = AG_ENROLL_FAILED;
		res->journal_seq = 0;
	}
	return rc;
}

/* ---- the generic layer: the journal into the decision log -------------- */

static void rfc3339(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (!gmtime_r(&tt, &tm) ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

static bool type_ok(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') || t[i] == '_'))
			return false;
	return true;
}

static const char *const reserved_keys[] = {"time", "type", "store",
					    "journal_seq", "seq", "prev"};

struct drain_ctx {
	struct ag_store *s;
	struct ag_dlog *log;
};

/* The record: {"time","type","store","journal_seq",...extra}, as JSON
 * text; NULL when out of memory. */
static char *record_of(const struct ag_store *s,
		       const struct ag_journal_row *row, const char *type,
		       json_t *extra)
{
	char when[40];
	json_t *o = json_object();
	char *txt = NULL;

	if (!o)
		return NULL;
	rfc3339(row->time, when, sizeof(when));
	if (json_object_set_new(o, "time", json_string(when)) == 0 &&
	    json_object_set_new(o, "type", json_string(type)) == 0 &&
	    json_object_set_new(o, "store", json_string(s->id)) == 0 &&
	    json_object_set_new(o, "journal_seq",
				json_integer((json_int_t)row->seq)) == 0 &&
	    (!extra || json_object_update(o, extra) == 0))
		txt = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return txt;
}

/* Appends txt, a JSON object text, without its braces. */
static ag_code append_record(struct ag_dlog *log, const char *txt,
			     uint64_t *seq)
{
	size_t n = strlen(txt);
	if (n < 2 || txt[0] != '{' || txt[n - 1] != '}')
		return AG_ERR_INTERNAL;
	return ag_dlog_append(log, txt + 1, n - 2, seq);
}

/* Why a row's fields cannot be a record, or NULL; *out gets the parsed
 * object when they can. */
static const char *row_problem(const struct ag_journal_row *row, json_t **out,
			       char *why, size_t len)
{
	json_error_t je;
	json_t *f;

	*out = NULL;
	if (!type_ok(row->type))
		return "the change type is not a name";
	f = json_loadb(row->fields, row->fields_len, JSON_REJECT_DUPLICATES,
		       &je);
	if (!json_is_object(f)) {
		json_decref(f);
		return "the fields are not a JSON object";
	}
	for (size_t i = 0; i < AG_ARRAY_SIZE(reserved_keys); i++)
		if (json_object_get(f, reserved_keys[i])) {
			json_decref(f);
			snprintf(why, len, "the fields hold '%s' of their own",
				 reserved_keys[i]);
			return why;
		}
	*out = f;
	return NULL;
}

static ag_code emit_to_dlog(void *arg, const struct ag_journal_row *row,
			    uint64_t *logged_as, struct ag_error *err)
{
	struct drain_ctx *c = arg;
	char buf[200], lw[300] = "";
	json_t *f = NULL;
	char *txt = NULL;
	ag_code rc = AG_OK;

	const char *problem = row_problem(row, &f, buf, sizeof(buf));
	if (!problem) {
		txt = record_of(c->s, row, row->type, f);
		json_decref(f);
		if (!txt)
			return ag_err(err, AG_ERR_NOMEM, "out of memory");
		rc = append_record(c->log, txt, logged_as);
		free(txt);
		/* Refused for its content (too long, say), not a failure of
		 * the log. */
		if (rc == AG_ERR_USAGE || rc == AG_ERR_LIMIT) {
			snprintf(buf, sizeof(buf), "the decision log refused "
				 "the record: %s", ag_strerror(rc));
			problem = buf;
		}
	}
	if (problem) {
		/* Logged as what it is, so that the journal does not stall
		 * behind it and the log shows that something was there. */
		json_t *x = json_pack("{s:s, s:s}", "change_type",
				      type_ok(row->type) ? row->type : "?",
				      "why", problem);
		txt = x ? record_of(c->s, row, "journal_invalid", x) : NULL;
		json_decref(x);
		if (!txt)
			return ag_err(err, AG_ERR_NOMEM, "out of memory");
		rc = append_record(c->log, txt, logged_as);
		free(txt);
	}
	if (rc != AG_OK) {
		ag_dlog_failed(c->log, lw, sizeof(lw));
		return ag_err(err, rc, "%s: journal row %llu not logged: %s",
			      c->s->path, (unsigned long long)row->seq,
			      lw[0] ? lw : ag_strerror(rc));
	}
	return AG_OK;
}

ag_code ag_store_journal_drain(struct ag_store *s, struct ag_dlog *log,
			       uint64_t *drained, struct ag_error *err)
{
	uint64_t n = 0;
	if (drained)
		*drained = 0;
	if (!s || !log)
		return ag_err(err, AG_ERR_USAGE, "no store or log given");
	struct drain_ctx c = {.s = s, .log = log};
	ag_code rc = s->ops->journal_drain(s, emit_to_dlog, &c, &n, err);
	if (drained)
		*drained = n;
	return rc;
}

ag_code ag_store_journal_pending(struct ag_store *s, uint64_t *n,
				 struct ag_error *err)
{
	*n = 0;
	if (!s)
		return ag_err(err, AG_ERR_USAGE, "no store given");
	return s->ops->journal_pending(s, n, err);
}

/* ---- the generic layer: journal rows, recovery codes, grants ---------- */

ag_code ag_store_tx_journal(struct ag_store *s, struct ag_store_tx *tx,
			    const char *type, const char *fields, int64_t now,
			    uint64_t *seq, struct ag_error *err)
{
	char why[200];
	json_t *f = NULL;

	*seq = 0;
	if (!type || !type_ok(type))
		return ag_err(err, AG_ERR_INVALID,
			      "journal row type '%s' is not a lower_case name "
			      "of at most 32 letters",
			      type ? type : "(null)");
	if (!fields)
		return ag_err(err, AG_ERR_USAGE, "no journal fields given");
	size_t n = strlen(fields);
	if (n > AG_STORE_FIELDS_MAX)
		return ag_err(err, AG_ERR_LIMIT,
			      "journal row '%s': fields longer than %u bytes",
			      type, AG_STORE_FIELDS_MAX);
	/* The same test the drain applies, so that a row written here is
	 * always logged as itself and never as journal_invalid. */
	struct ag_journal_row row = {.type = type, .fields = fields,
				     .fields_len = n};
	const char *problem = row_problem(&row, &f, why, sizeof(why));
	json_decref(f);
	if (problem)
		return ag_err(err, AG_ERR_INVALID, "journal row '%s': %s",
			      type, problem);
	return s->ops->tx_journal(tx, now, type, fields, seq, err);
}

ag_code ag_store_journal_add(struct ag_store *s, const char *type,
			     const char *fields, int64_t now,
			     uint64_t *journal_seq, struct ag_error *err)
{
	struct ag_store_tx *tx = NULL;
	uint64_t seq = 0;
	ag_code rc;

	if (journal_seq)
		*journal_seq = 0;
	if (!s)
		return ag_err(err, AG_ERR_USAGE, "no store given");
	if ((rc = s->ops->tx_begin(s, true, &tx, err)))
		return rc;
	if ((rc = ag_store_tx_journal(s, tx, type, fields, now, &seq, err))) {
		s->ops->tx_abort(tx);
		return rc;
	}
	if ((rc = s->ops->tx_commit(tx, err)))
		return rc;
	if (journal_seq)
		*journal_seq = seq;
	return AG_OK;
}

static ag_code check_code(const char *account, const char *code_id,
			  struct ag_error *err)
{
	ag_code rc;
	if ((rc = check_name("account", account, 1, AG_STORE_ACCOUNT_MAX,
			     err)) ||
	    (rc = check_name("code id", code_id, 1, AG_STORE_CODE_ID_MAX,
			     err)))
		return rc;
	return AG_OK;
}

ag_code ag_store_tx_code_spend(struct ag_store *s, struct ag_store_tx *tx,
			       const char *account, const char *code_id,
			       int64_t now, bool *already,
			       struct ag_error *err)
{
	bool spent = true;
	uint64_t seq;
	char *fields = NULL;
	ag_code rc;

	if (already)
		*already = false;
	if (!s || !tx)
		return ag_err(err, AG_ERR_USAGE, "no store given");
	if ((rc = check_code(account, code_id, err)))
		return rc;
	if ((rc = fields_text(json_pack("{s:s, s:s}", "account", account,
					"code_id", code_id),
			      &fields, err)))
		return rc;
	if ((rc = s->ops->tx_code_get(tx, account, code_id, &spent, err)))
		goto out;
	if (spent) {
		if (already)
			*already = true;
		rc = ag_err(err, AG_ERR_INVALID,
			    "recovery code '%s' of '%s' was spent before; a "
			    "saved code is used once (SP 800-63B-4 §4.2.1.1)",
			    code_id, account);
		goto out;
	}
	if ((rc = s->ops->tx_code_put(tx, account, code_id, now, err)))
		goto out;
	rc = ag_store_tx_journal(s, tx, "recovery_code_spent", fields, now,
				 &seq, err);
out:
	free(fields);
	return rc;
}

ag_code ag_store_code_spend(struct ag_store *s, const char *account,
			    const char *code_id, int64_t now, bool *already,
			    struct ag_error *err)
{
	struct ag_store_tx *tx = NULL;
	ag_code rc;

	if (already)
		*already = false;
	if (!s)
		return ag_err(err, AG_ERR_USAGE, "no store given");
	if ((rc = check_code(account, code_id, err)))
		return rc;
	if ((rc = s->ops->tx_begin(s, true, &tx, err)))
		return rc;
	if ((rc = ag_store_tx_code_spend(s, tx, account, code_id, now, already,
					 err))) {
		s->ops->tx_abort(tx);
		return rc;
	}
	return s->ops->tx_commit(tx, err);
}

ag_code ag_store_code_spent(struct ag_store *s, const char *account,
			    const char *code_id, bool *spent,
			    struct ag_error *err)
{
	struct ag_store_tx *tx = NULL;
	ag_code rc;

	*spent = true;
	if (!s)
		return ag_err(err, AG_ERR_USAGE, "no store given");
	if ((rc = check_code(account, code_id, err)) ||
	    (rc = s->ops->tx_begin(s, false, &tx, err)))
		return rc;
	bool v = true;
	rc = s->ops->tx_code_get(tx, account, code_id, &v, err);
	if (rc != AG_OK) {
		s->ops->tx_abort(tx);
		return rc;
	}
	if ((rc = s->ops->tx_commit(tx, err)))
		return rc;
	*spent = v;
	return AG_OK;
}

/* Hosts are names: compared without case, without a final dot. */
void ag_store_host_fold(const char *host, char *buf, size_t len)
{
	size_t n = 0;
	for (; host[n] && n + 1 < len; n++)
		buf[n] = (host[n] >= 'A' && host[n] <= 'Z')
				 ? (char)(host[n] - 'A' + 'a')
				 : host[n];
	buf[n] = '\0';
	if (n > 1 && buf[n - 1] == '.')
		buf[n - 1] = '\0';
}

ag_code ag_store_grant_active(struct ag_store *s, const char *account,
			      const char *workflow, const char *host,
			      int64_t now, bool *active, struct ag_error *err)
{
	struct ag_store_tx *tx = NULL;
	char h[AG_GRANT_HOST_MAX + 2];
	uint64_t id = 0;
	ag_code rc;

	*active = false;
	if (!s)
		return ag_err(err, AG_ERR_USAGE, "no store given");
	if ((rc = check_name("account", account, 1, AG_STORE_ACCOUNT_MAX,
			     err)) ||
	    (rc = check_name("workflow", workflow, 1, AG_STORE_ACCOUNT_MAX,
			     err)) ||
	    (host && (rc = check_name("host", host, 1, AG_GRANT_HOST_MAX,
				      err))))
		return rc;
	if (host)
		ag_store_host_fold(host, h, sizeof(h));
	if ((rc = s->ops->tx_begin(s, false, &tx, err)))
		return rc;
	rc = s->ops->tx_grant_find(tx, account, workflow, host ? h : NULL,
				   now, &id, err);
	if (rc != AG_OK) {
		s->ops->tx_abort(tx);
		return rc;
	}
	if ((rc = s->ops->tx_commit(tx, err)))
		return rc;
	*active = id != 0;
	return AG_OK;
}

/* ---- the generic layer: machine identities ----------------------------- */

void ag_store_nhi_list_release(struct ag_store_nhi_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		ag_nhi_release(&l->v[i].rec);
	free(l->v);
	for (size_t i = 0; i < l->n_owners; i++) {
		free(l->owners[i].id);
		free(l->owners[i].team);
	}
	free(l->owners);
	memset(l, 0, sizeof(*l));
}

/* Free text (a purpose): bounded UTF-8; tabs and line breaks are fine,
 * other control characters are not. */
static ag_code check_text(const char *what, const char *v, size_t max,
			  struct ag_error *err)
{
	size_t n = strlen(v);
	if (n > max)
		return ag_err(err, AG_ERR_LIMIT,
			      "the %s is longer than %zu bytes", what, max);
	if (!ag_utf8_valid(v, n))
		return ag_err(err, AG_ERR_INVALID, "the %s is not UTF-8",
			      what);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') ||
		    c == 0x7f)
			return ag_err(err, AG_ERR_INVALID,
				      "the %s holds a control character",
				      what);
	}
	return AG_OK;
}

static ag_code check_list(const char *what, const struct ag_nhi_list *l,
			  struct ag_error *err)
{
	ag_code rc;
	if (l->n > AG_NHI_MAX_LIST)
		return ag_err(err, AG_ERR_LIMIT, "%s lists more than %u "
			      "entries",
			      what, AG_NHI_MAX_LIST);
	for (size_t i = 0; i < l->n; i++)
		if ((rc = check_name(what, l->v[i], 1, AG_STORE_NHI_ID_MAX,
				     err)))
			return rc;
	return AG_OK;
}

static const char *nhi_file(const struct ag_nhi_inventory *inv, uint32_t f)
{
	return f < inv->n_files ? inv->files[f] : "(inventory)";
}

/* A record the store can keep: every name bounded and printable. */
static ag_code check_nhi(const struct ag_nhi_inventory *inv,
			 const struct ag_nhi *r, struct ag_error *err)
{
	struct ag_error e;
	ag_code rc;

	ag_error_init(&e);
	if ((rc = check_name("id", r->id, 1, AG_STORE_NHI_ID_MAX, &e)) ||
	    (r->issuer && (rc = check_name("issuer", r->issuer, 1,
					   AG_STORE_NHI_TEXT_MAX, &e))) ||
	    (rc = check_name("kind", r->kind, 1, AG_STORE_METHOD_MAX, &e)) ||
	    (r->owner && (rc = check_name("owner", r->owner, 0,
					  AG_STORE_NHI_ID_MAX, &e))) ||
	    (r->team && (rc = check_name("team", r->team, 0,
					 AG_STORE_NHI_TEXT_MAX, &e))) ||
	    (r->workflow && (rc = check_name("workflow", r->workflow, 1,
					     AG_STORE_NHI_TEXT_MAX, &e))) ||
	    (r->thumbprint &&
	     (rc = check_name("thumbprint", r->thumbprint, 1,
			      AG_STORE_NHI_TEXT_MAX, &e))) ||
	    (r->purpose && (rc = check_text("purpose", r->purpose,
					    AG_STORE_NHI_TEXT_MAX, &e))) ||
	    (rc = check_list("scopes", &r->scopes, &e)) ||
	    (rc = check_list("used_scopes", &r->used_scopes, &e)) ||
	    (rc = check_list("environments", &r->environments, &e)) ||
	    (rc = check_list("used_by", &r->used_by, &e)))
		goto fail;
	if (r->status > AG_NHI_RETIRED ||
	    r->owner_status > AG_OWNER_OFFBOARDED) {
		rc = ag_err(&e, AG_ERR_INVALID, "a status out of range");
		goto fail;
	}
	return AG_OK;
fail:
	return ag_err_at(err, rc, nhi_file(inv, r->file), r->line, r->col,
			 "machine identity '%.200s' cannot be stored: %s",
			 r->id ? r->id : "", e.msg);
}

static bool opt_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool list_eq(const struct ag_nhi_list *a, const struct ag_nhi_list *b)
{
	if (a->known != b->known || a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]))
			return false;
	return true;
}

/* Appends to names the fields in which a stored version (cur) and an
 * input record (r) differ, as they are stored; none: equal. */
static void nhi_diff(const struct ag_nhi *cur, const struct ag_nhi *r,
		     json_t *names)
{
	/* The owner status is stored only when the record stated it. */
	int cs = cur->owner_status_given ? cur->owner_status : -1;
	int rs = r->owner_status_given ? r->owner_status : -1;
	const struct {
		const char *name;
		bool same;
	} f[] = {
		{"kind", opt_eq(cur->kind, r->kind)},
		{"status", cur->status == r->status},
		{"owner", opt_eq(cur->owner, r->owner)},
		{"owner_status", cs == rs},
		{"team", opt_eq(cur->team, r->team)},
		{"purpose", opt_eq(cur->purpose, r->purpose)},
		{"workflow", opt_eq(cur->workflow, r->workflow)},
		{"thumbprint", opt_eq(cur->thumbprint, r->thumbprint)},
		{"created", cur->created == r->created},
		{"expires", cur->expires == r->expires},
		{"last_rotated", cur->last_rotated == r->last_rotated},
		{"last_used", cur->last_used == r->last_used},
		{"never_used", cur->never_used == r->never_used},
		{"interactive", cur->interactive == r->interactive},
		{"last_interactive",
		 cur->last_interactive == r->last_interactive},
		{"root", cur->root == r->root},
		{"scopes", list_eq(&cur->scopes, &r->scopes)},
		{"used_scopes", list_eq(&cur->used_scopes, &r->used_scopes)},
		{"environments",
		 list_eq(&cur->environments, &r->environments)},
		{"used_by", list_eq(&cur->used_by, &r->used_by)},
	};
	for (size_t i = 0; i < AG_ARRAY_SIZE(f); i++)
		if (!f[i].same)
			json_array_append_new(names, json_string(f[i].name));
}

/* When a version was issued, for telling a rotation: its last rotation,
 * else its creation; 0 when unknown. */
static int64_t issued_at(const struct ag_nhi *r)
{
	return r->last_rotated ? r->last_rotated : r->created;
}

/* Journal rows of an import: the changes go out in "nhi_change" rows of
 * at most CHANGES_ROW_MAX bytes each, then one "nhi_import". */
#define CHANGES_ROW_MAX (AG_STORE_FIELDS_MAX * 3 / 4)

struct nhi_journal {
	struct ag_store *s;
	struct ag_store_tx *tx;
	int64_t now;
	json_t *changes; /* the row being filled */
	size_t bytes;    /* its size, roughly */
	size_t rows;
};

static ag_code nhi_flush(struct nhi_journal *j, struct ag_error *err)
{
	char *fields = NULL;
	uint64_t seq;
	ag_code rc;

	if (!json_array_size(j->changes))
		return AG_OK;
	json_t *o = json_object();
	if (!o || json_object_set(o, "changes", j->changes)) {
		json_decref(o);
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	}
	if ((rc = fields_text(o, &fields, err)))
		return rc;
	rc = ag_store_tx_journal(j->s, j->tx, "nhi_change", fields, j->now,
				 &seq, err);
	free(fields);
	if (rc)
		return rc;
	json_array_clear(j->changes);
	j->bytes = 0;
	j->rows++;
	return AG_OK;
}

/* Adds one change (takes the reference). */
static ag_code nhi_note(struct nhi_journal *j, json_t *change,
			struct ag_error *err)
{
	ag_code rc;
	if (!change)
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	char *txt = json_dumps(change, JSON_COMPACT);
	size_t n = txt ? strlen(txt) : 0;
	free(txt);
	if (!n) {
		json_decref(change);
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	}
	if (j->bytes + n + 1 > CHANGES_ROW_MAX && (rc = nhi_flush(j, err))) {
		json_decref(change);
		return rc;
	}
	if (json_array_append_new(j->changes, change))
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	j->bytes += n + 1;
	return AG_OK;
}

static json_t *change_of(const char *what, const struct ag_nhi *r,
			 uint32_t version)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	json_object_set_new(o, "change", json_string(what));
	json_object_set_new(o, "issuer",
			    r->issuer ? json_string(r->issuer) : json_null());
	json_object_set_new(o, "id", json_string(r->id));
	json_object_set_new(o, "version", json_integer(version));
	json_object_set_new(o, "kind", json_string(r->kind));
	json_object_set_new(o, "status",
			    json_string(ag_nhi_status_name(
				    (enum ag_nhi_status)r->status)));
	return o;
}

static json_t *owner_change(const char *what, const struct ag_nhi_owner *o)
{
	return json_pack("{s:s, s:s, s:s, s:o}", "change", what, "owner",
			 o->id, "status",
			 ag_owner_status_name((enum ag_owner_status)o->status),
			 "team", o->team ? json_string(o->team) : json_null());
}

/* One record of an import, inside its transaction. */
static ag_code nhi_merge_one(struct nhi_journal *j, const struct ag_nhi *r,
			     struct ag_store_nhi_counts *out,
			     struct ag_error *err)
{
	struct ag_store *s = j->s;
	struct ag_nhi cur;
	struct ag_store_nhi_version v;
	bool found = false;
	ag_code rc;

	memset(&cur, 0, sizeof(cur));
	if ((rc = s->ops->tx_nhi_get(j->tx, r->issuer ? r->issuer : "", r->id,
				     &cur, &v, &found, err)))
		return rc;
	if (!found) {
		if ((rc = s->ops->tx_nhi_insert(j->tx, r, 1, j->now, err)) ||
		    (rc = nhi_note(j, change_of("added", r, 1), err)))
			return rc;
		out->added++;
		return AG_OK;
	}
	int64_t was = issued_at(&cur), is = issued_at(r);
	if (was && is > was) {
		if (v.version >= UINT32_MAX - 1) {
			rc = ag_err(err, AG_ERR_LIMIT, "%s: machine identity "
				    "'%s' has too many versions",
				    s->path, r->id);
			goto out;
		}
		if ((rc = s->ops->tx_nhi_retire(j->tx, r->issuer ? r->issuer
								 : "",
						r->id, v.version, is, j->now,
						err)) ||
		    (rc = s->ops->tx_nhi_insert(j->tx, r, v.version + 1,
						j->now, err)))
			goto out;
		json_t *c = change_of("rotated", r, v.version + 1);
		if (c)
			json_object_set_new(c, "retired_version",
					    json_integer(v.version));
		if ((rc = nhi_note(j, c, err)))
			goto out;
		out->rotated++;
		out->retired++;
		goto out;
	}
	if (was && is && is < was) {
		out->older++;
		goto out;
	}
	json_t *names = json_array();
	if (!names) {
		rc = ag_err(err, AG_ERR_NOMEM, "out of memory");
		goto out;
	}
	nhi_diff(&cur, r, names);
	if (!json_array_size(names)) {
		json_decref(names);
		out->unchanged++;
		goto out;
	}
	if ((rc = s->ops->tx_nhi_update(j->tx, r, v.version, j->now, err))) {
		json_decref(names);
		goto out;
	}
	json_t *c = change_of("changed", r, v.version);
	if (c)
		json_object_set_new(c, "fields", names);
	else
		json_decref(names);
	if ((rc = nhi_note(j, c, err)))
		goto out;
	out->changed++;
	if (r->status == AG_NHI_RETIRED && cur.status != AG_NHI_RETIRED)
		out->retired++;
out:
	ag_nhi_release(&cur);
	return rc;
}

/* Owners: from the inventory's owners list, or those its records vouch
 * for (see govern.h). */
static ag_code nhi_merge_owners(struct nhi_journal *j,
				const struct ag_nhi_inventory *inv,
				struct ag_store_nhi_counts *out,
				struct ag_error *err)
{
	struct ag_store *s = j->s;
	ag_code rc = AG_OK;

	if (inv->has_owners) {
		for (size_t i = 0; rc == AG_OK && i < inv->n_owners; i++) {
			const struct ag_nhi_owner *o = &inv->owners[i];
			struct ag_nhi_owner cur = {0};
			bool found = false;
			if ((rc = s->ops->tx_owner_get(j->tx, o->id, &cur,
						       &found, err)))
				break;
			bool same = found && cur.status == o->status &&
				    opt_eq(cur.team, o->team);
			free(cur.id);
			free(cur.team);
			if (same)
				continue;
			if ((rc = s->ops->tx_owner_put(j->tx, o, j->now, err)) ||
			    (rc = nhi_note(j, owner_change(found ? "owner_changed"
								 : "owner_added",
							   o),
					   err)))
				break;
			if (found)
				out->owners_changed++;
			else
				out->owners_added++;
		}
		return rc;
	}
	for (size_t i = 0; rc == AG_OK && i < inv->n; i++) {
		const struct ag_nhi *r = &inv->v[i];
		struct ag_nhi_owner cur = {0};
		bool found = false;
		if (!r->owner || !*r->owner || r->owner_status_given)
			continue;
		if ((rc = s->ops->tx_owner_get(j->tx, r->owner, &cur, &found,
					       err)))
			break;
		free(cur.id);
		free(cur.team);
		if (found)
			continue;
		struct ag_nhi_owner o = {.id = r->owner,
					 .status = AG_OWNER_ACTIVE};
		if ((rc = s->ops->tx_owner_put(j->tx, &o, j->now, err)) ||
		    (rc = nhi_note(j, owner_change("owner_added", &o), err)))
			break;
		out->owners_added++;
	}
	return rc;
}

ag_code ag_store_nhi_import(struct ag_store *s,
			    const struct ag_nhi_inventory *inv, int64_t now,
			    struct ag_store_nhi_counts *out,
			    struct ag_error *err)
{
	struct ag_store_nhi_counts dummy;
	struct nhi_journal j = {.s = s, .now = now};
	char *fields = NULL;
	ag_code rc;

	if (!out)
		out = &dummy;
	memset(out, 0, sizeof(*out));
	if (!s || !inv)
		return ag_err(err, AG_ERR_USAGE, "no store or inventory given");
	for (size_t i = 0; i < inv->n; i++)
		if ((rc = check_nhi(inv, &inv->v[i], err)))
			return rc;
	for (size_t i = 0; i < inv->n_owners; i++) {
		const struct ag_nhi_owner *o = &inv->owners[i];
		struct ag_error e;
		ag_error_init(&e);
		if ((rc = check_name("owner", o->id, 1, AG_STORE_NHI_ID_MAX,
				     &e)) ||
		    (o->team && (rc = check_name("team", o->team, 0,
						 AG_STORE_NHI_TEXT_MAX, &e))))
			return ag_err_at(err, rc, nhi_file(inv, o->file),
					 o->line, o->col, "%s", e.msg);
		if (o->status != AG_OWNER_ACTIVE &&
		    o->status != AG_OWNER_OFFBOARDED)
			return ag_err_at(err, AG_ERR_INVALID,
					 nhi_file(inv, o->file), o->line,
					 o->col,
					 "owner '%s': status must be active "
					 "or offboarded",
					 o->id);
	}
	if (!(j.changes = json_array()))
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	if ((rc = s->ops->tx_begin(s, true, &j.tx, err))) {
		json_decref(j.changes);
		return rc;
	}
	for (size_t i = 0; rc == AG_OK && i < inv->n; i++)
		rc = nhi_merge_one(&j, &inv->v[i], out, err);
	if (rc == AG_OK)
		rc = nhi_merge_owners(&j, inv, out, err);
	if (rc != AG_OK)
		goto abort;
	if (!out->added && !out->rotated && !out->changed &&
	    !out->owners_added && !out->owners_changed) {
		/* Nothing changed: nothing is written, not even a row. */
		s->ops->tx_abort(j.tx);
		json_decref(j.changes);
		return AG_OK;
	}
	if ((rc = nhi_flush(&j, err)))
		goto abort;
	json_t *files = json_array();
	for (size_t i = 0; files && i < inv->n_files && i < 64; i++)
		json_array_append_new(files, json_string(inv->files[i]));
	json_t *o = json_pack(
		"{s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:I}",
		"files", files ? files : json_null(), "counts", "added",
		(json_int_t)out->added, "rotated", (json_int_t)out->rotated,
		"changed", (json_int_t)out->changed, "unchanged",
		(json_int_t)out->unchanged, "retired",
		(json_int_t)out->retired, "older", (json_int_t)out->older,
		"owners_added", (json_int_t)out->owners_added,
		"owners_changed", (json_int_t)out->owners_changed,
		"change_rows", (json_int_t)j.rows);
	if ((rc = fields_text(o, &fields, err)) ||
	    (rc = ag_store_tx_journal(s, j.tx, "nhi_import", fields, now,
				      &out->journal_seq, err)))
		goto abort;
	free(fields);
	json_decref(j.changes);
	if ((rc = s->ops->tx_commit(j.tx, err))) {
		struct ag_store_nhi_counts zero = {0};
		*out = zero;
		return rc;
	}
	return AG_OK;
abort:
	s->ops->tx_abort(j.tx);
	free(fields);
	json_decref(j.changes);
	{
		struct ag_store_nhi_counts zero = {0};
		*out = zero;
	}
	return rc;
}

/* The store's judgement of a record's owner (see govern.h): rec holds
 * the record's own statement (owner_status_given) on entry. */
static void owner_judge(struct ag_nhi *rec, const struct ag_nhi_owner *o)
{
	enum ag_owner_status st;
	if (!rec->owner || !*rec->owner)
		st = AG_OWNER_UNKNOWN;
	else if ((rec->owner_status_given &&
		  rec->owner_status == AG_OWNER_OFFBOARDED) ||
		 (o && o->status == AG_OWNER_OFFBOARDED))
		st = AG_OWNER_OFFBOARDED;
	else if (rec->owner_status_given)
		st = (enum ag_owner_status)rec->owner_status;
	else if (o)
		st = (enum ag_owner_status)o->status;
	else
		st = AG_OWNER_UNKNOWN;
	rec->owner_status = (uint8_t)st;
	rec->owner_status_given = true;
}

/* The owner entry of id among l's owners (sorted by id), or NULL. */
static const struct ag_nhi_owner *owner_in(const struct ag_store_nhi_list *l,
					   const char *id)
{
	size_t lo = 0, hi = l->n_owners;
	if (!id)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(l->owners[mid].id, id);
		if (c == 0)
			return &l->owners[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

ag_code ag_store_nhi_list(struct ag_store *s, bool all,
			  struct ag_store_nhi_list *out, struct ag_error *err)
{
	struct ag_store_tx *tx = NULL;
	struct ag_store_nhi_list l = {0};
	ag_code rc;

	if (!s || !out)
		return ag_err(err, AG_ERR_USAGE, "no store given");
	if ((rc = s->ops->tx_begin(s, false, &tx, err)))
		return rc;
	if ((rc = s->ops->tx_nhi_list(tx, all, AG_STORE_NHI_LIST_MAX, &l,
				      err)) ||
	    (rc = s->ops->tx_owner_list(tx, AG_STORE_NHI_LIST_MAX, &l, err))) {
		s->ops->tx_abort(tx);
		ag_store_nhi_list_release(&l);
		return rc;
	}
	if ((rc = s->ops->tx_commit(tx, err))) {
		ag_store_nhi_list_release(&l);
		return rc;
	}
	for (size_t i = 0; i < l.n; i++)
		owner_judge(&l.v[i].rec, owner_in(&l, l.v[i].rec.owner));
	/* Appended to what out holds. */
	if (!out->n && !out->n_owners) {
		ag_store_nhi_list_release(out);
		*out = l;
		return AG_OK;
	}
	rc = AG_OK;
	if (AG_GROW(out->v, out->alloc, out->n + l.n) ||
	    AG_GROW(out->owners, out->owners_alloc,
		    out->n_owners + l.n_owners)) {
		ag_store_nhi_list_release(&l);
		return ag_err(err, AG_ERR_NOMEM, "%s: out of memory", s->path);
	}
	memcpy(out->v + out->n, l.v, l.n * sizeof(*l.v));
	out->n += l.n;
	memcpy(out->owners + out->n_owners, l.owners,
	       l.n_owners * sizeof(*l.owners));
	out->n_owners += l.n_owners;
	free(l.v);
	free(l.owners);
	return rc;
}

ag_code ag_store_nhi_load(struct ag_store *s, struct ag_nhi_inventory *inv,
			  struct ag_error *err)
{
	struct ag_store_nhi_list l = {0};
	uint32_t file = 0;
	ag_code rc;

	if (!s || !inv)
		return ag_err(err, AG_ERR_USAGE, "no store or inventory given");
	if ((rc = ag_store_nhi_list(s, false, &l, err)))
		return rc;
	if ((rc = ag_nhi_add_file(inv, s->path, &file, err)))
		goto out;
	for (size_t i = 0; i < l.n_owners; i++) {
		struct ag_nhi_owner *o = &l.owners[i];
		if (ag_nhi_owner_find(inv, o->id))
			continue;
		o->file = file;
		if ((rc = ag_nhi_add_owner(inv, o, err)))
			goto out;
	}
	for (size_t i = 0; i < l.n; i++) {
		struct ag_nhi *r = &l.v[i].rec;
		const struct ag_nhi *have = ag_nhi_find(inv, r->issuer, r->id);
		/* ag_nhi_find also returns a record without an issuer for
		 * one with; only the same key is the same record. */
		if (have && opt_eq(have->issuer, r->issuer))
			continue;
		r->file = file;
		if ((rc = ag_nhi_add(inv, r, err)))
			goto out;
	}
out:
	ag_store_nhi_list_release(&l);
	return rc;
}

ag_code ag_store_nhi_get(struct ag_store *s, const char *iss,
			 const char *client, struct ag_nhi *out,
			 struct ag_error *err)
{
	struct ag_store_tx *tx = NULL;
	struct ag_store_nhi_version v;
	struct ag_nhi_owner o = {0};
	bool found = false, have_owner = false;
	ag_code rc;

	memset(out, 0, sizeof(*out));
	if (!s || !client)
		return ag_err(err, AG_ERR_USAGE, "no store or client given");
	/* A token's client the store could never hold (too long, control
	 * characters) is simply not in it: not a failure of the store. */
	struct ag_error ignored;
	if (check_name("client", client, 1, AG_STORE_NHI_ID_MAX, &ignored) ||
	    (iss && *iss && check_name("issuer", iss, 1, AG_STORE_NHI_TEXT_MAX,
				       &ignored)))
		return ag_err(err, AG_ERR_NOT_FOUND,
			      "machine identity '%.200s' is not in %s (no "
			      "stored record can have that id or issuer)",
			      client, s->path);
	if ((rc = s->ops->tx_begin(s, false, &tx, err)))
		return rc;
	if (iss && *iss)
		rc = s->ops->tx_nhi_get(tx, iss, client, out, &v, &found, err);
	if (rc == AG_OK && !found)
		rc = s->ops->tx_nhi_get(tx, "", client, out, &v, &found, err);
	if (rc == AG_OK && found && out->owner && *out->owner)
		rc = s->ops->tx_owner_get(tx, out->owner, &o, &have_owner,
					  err);
	if (rc != AG_OK) {
		s->ops->tx_abort(tx);
		goto fail;
	}
	if ((rc = s->ops->tx_commit(tx, err)))
		goto fail;
	if (!found) {
		rc = ag_err(err, AG_ERR_NOT_FOUND,
			    "machine identity '%.200s' is not in %s", client,
			    s->path);
		goto fail;
	}
	owner_judge(out, have_owner ? &o : NULL);
	free(o.id);
	free(o.team);
	return AG_OK;
fail:
	free(o.id);
	free(o.team);
	ag_nhi_release(out);
	return rc;
}

ag_code ag_store_nhi_owner_set(struct ag_store *s, const char *id,
			       int status, const char *team, int64_t now,
			       bool *changed, struct ag_error *err)
{
	struct ag_store_tx *tx = NULL;
	struct ag_nhi_owner cur = {0};
	char *fields = NULL;
	bool found = false;
	uint64_t seq;
	ag_code rc;

	if (changed)
		*changed = false;
	if (!s)
		return ag_err(err, AG_ERR_USAGE, "no store given");
	if ((rc = check_name("owner", id, 1, AG_STORE_NHI_ID_MAX, err)) ||
	    (team && (rc = check_name("team", team, 0, AG_STORE_NHI_TEXT_MAX,
				      err))))
		return rc;
	if (status != -1 && status != AG_OWNER_ACTIVE &&
	    status != AG_OWNER_OFFBOARDED)
		return ag_err(err, AG_ERR_USAGE,
			      "an owner's status is active or offboarded");
	if ((rc = s->ops->tx_begin(s, true, &tx, err)))
		return rc;
	if ((rc = s->ops->tx_owner_get(tx, id, &cur, &found, err)))
		goto abort;
	struct ag_nhi_owner o = {
		.id = (char *)id,
		.status = (uint8_t)(status != -1 ? status
				    : found     ? cur.status
						: AG_OWNER_ACTIVE),
		.team = team ? (*team ? (char *)team : NULL)
			     : (found ? cur.team : NULL),
	};
	if (found && o.status == cur.status && opt_eq(o.team, cur.team)) {
		s->ops->tx_abort(tx);
		rc = AG_OK;
		goto out;
	}
	json_t *was = found ? json_pack("{s:s, s:o}", "status",
					ag_owner_status_name(
						(enum ag_owner_status)cur.status),
					"team",
					cur.team ? json_string(cur.team)
						 : json_null())
			    : json_null();
	if ((rc = fields_text(
		     json_pack("{s:s, s:s, s:o, s:o}", "owner", id, "status",
			       ag_owner_status_name(
				       (enum ag_owner_status)o.status),
			       "team",
			       o.team ? json_string(o.team) : json_null(),
			       "was", was ? was : json_null()),
		     &fields, err)) ||
	    (rc = s->ops->tx_owner_put(tx, &o, now, err)) ||
	    (rc = ag_store_tx_journal(s, tx, "nhi_owner_set", fields, now,
				      &seq, err)))
		goto abort;
	if ((rc = s->ops->tx_commit(tx, err)))
		goto out;
	if (changed)
		*changed = true;
	goto out;
abort:
	s->ops->tx_abort(tx);
out:
	free(fields);
	free(cur.id);
	free(cur.team);
	return rc;
}

/* ---- the SQLite backend ------------------------------------------------ */

/*
 * A small pool of connections, all opened at start (so that a server
 * which drops privileges afterwards keeps working): a call takes a free
 * one and gives it back, so no connection is ever used by two threads at
 * once (SQLITE_OPEN_NOMUTEX).  WAL lets readers go on while one writer
 * writes; writers wait up to busy_ms for each other, and every write
 * transaction starts with BEGIN IMMEDIATE so that a reader never has to
 * upgrade (which SQLite answers with SQLITE_BUSY and no wait).
 */

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_LIST_ACCOUNT,
	ST_LIST_ALL,
	ST_ADD_ACCOUNT,
	ST_ADD_ENROL,
	ST_DEL_ENROL,
	ST_JOURNAL_ADD,
	ST_JOURNAL_NEXT,
	ST_JOURNAL_MARK,
	ST_JOURNAL_PENDING,
	ST_BEGIN_READ,
	ST_CODE_GET,
	ST_CODE_PUT,
	ST_ACCOUNT_GET,
	ST_ACCOUNT_MARK,
	ST_BREAK_GLASS_LIST,
	ST_ACCOUNT_IAL_GET,
	ST_ACCOUNT_IAL_SET,
	ST_ADDRESS_LIST,
	ST_ADDRESS_ADD,
	ST_ADDRESS_DEL,
	ST_GRANT_INSERT,
	ST_GRANT_HOST_ADD,
	ST_GRANT_GET,
	ST_GRANT_HOSTS,
	ST_GRANT_APPROVALS,
	ST_GRANT_UPDATE,
	ST_GRANT_LIST_ACCOUNT,
	ST_GRANT_LIST_ALL,
	ST_GRANT_FIND,
	ST_GRANT_TALLY,
	ST_TOKEN_USED,
	ST_APPROVAL_ADD,
	ST_NHI_GET,
	ST_NHI_INSERT,
	ST_NHI_UPDATE,
	ST_NHI_RETIRE,
	ST_NHI_LIST_CURRENT,
	ST_NHI_LIST_ALL,
	ST_OWNER_GET,
	ST_OWNER_PUT,
	ST_OWNER_LIST,
	ST__COUNT
};

/* A machine identity's columns, in the order read_nhi_row reads them;
 * NHI_FIELDS are those bind_nhi binds as ?5 .. ?24. */
#define NHI_FIELDS                                                         \
	"kind, status, owner, owner_status, team, purpose, workflow, "     \
	"thumbprint, created, expires, last_rotated, last_used, "          \
	"never_used, interactive, last_interactive, root, scopes, "        \
	"used_scopes, environments, used_by"
#define NHI_COLS                                                           \
	"issuer, id, version, current, imported, updated, retired, "       \
	NHI_FIELDS

static const char *const stmt_sql[ST__COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_LIST_ACCOUNT] = "SELECT account, method, label, created "
			    "FROM enrolments WHERE account = ?1 "
			    "ORDER BY method, label LIMIT ?2",
	[ST_LIST_ALL] = "SELECT account, method, label, created "
			"FROM enrolments ORDER BY account, method, label "
			"LIMIT ?1",
	[ST_ADD_ACCOUNT] = "INSERT OR IGNORE INTO accounts "
			   "(id, break_glass, created) VALUES (?1, 0, ?2)",
	[ST_ADD_ENROL] = "INSERT INTO enrolments "
			 "(account, method, label, created) "
			 "VALUES (?1, ?2, ?3, ?4)",
	[ST_DEL_ENROL] = "DELETE FROM enrolments "
			 "WHERE account = ?1 AND method = ?2 AND label = ?3",
	[ST_JOURNAL_ADD] = "INSERT INTO journal (time, type, fields) "
			   "VALUES (?1, ?2, ?3)",
	[ST_JOURNAL_NEXT] = "SELECT seq, time, type, fields FROM journal "
			    "WHERE logged IS NULL ORDER BY seq LIMIT ?1",
	[ST_JOURNAL_MARK] = "UPDATE journal SET logged = ?2 "
			    "WHERE seq = ?1 AND logged IS NULL",
	[ST_JOURNAL_PENDING] = "SELECT count(*) FROM journal "
			       "WHERE logged IS NULL",
	[ST_BEGIN_READ] = "BEGIN",
	[ST_CODE_GET] = "SELECT 1 FROM recovery_codes_spent "
			"WHERE account = ?1 AND code_id = ?2",
	[ST_CODE_PUT] = "INSERT INTO recovery_codes_spent "
			"(account, code_id, spent) VALUES (?1, ?2, ?3)",
	[ST_ACCOUNT_GET] = "SELECT break_glass FROM accounts WHERE id = ?1",
	[ST_ACCOUNT_MARK] = "INSERT INTO accounts (id, break_glass, created) "
			    "VALUES (?1, ?2, ?3) ON CONFLICT (id) "
			    "DO UPDATE SET break_glass = excluded.break_glass",
	[ST_BREAK_GLASS_LIST] = "SELECT id FROM accounts WHERE break_glass = 1 "
				"ORDER BY id LIMIT ?1",
	[ST_ACCOUNT_IAL_GET] = "SELECT ial FROM accounts WHERE id = ?1",
	[ST_ACCOUNT_IAL_SET] = "INSERT INTO accounts (id, created, ial) "
			       "VALUES (?1, ?2, ?3) ON CONFLICT (id) "
			       "DO UPDATE SET ial = excluded.ial",
	[ST_ADDRESS_LIST] = "SELECT channel, address FROM account_addresses "
			    "WHERE account = ?1 ORDER BY channel, address "
			    "LIMIT ?2",
	[ST_ADDRESS_ADD] = "INSERT INTO account_addresses "
			   "(account, channel, address, added) "
			   "VALUES (?1, ?2, ?3, ?4) "
			   "ON CONFLICT (account, channel, address) DO NOTHING",
	[ST_ADDRESS_DEL] = "DELETE FROM account_addresses WHERE account = ?1 "
			   "AND channel = ?2 AND address = ?3",
	[ST_GRANT_INSERT] = "INSERT INTO grants (account, workflow, reason, "
			    "break_glass, approvals_needed, duration, state, "
			    "requested, activated, expires, closed, closed_by, "
			    "last_alert) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
			    "?8, ?9, ?10, ?11, ?12, ?13)",
	[ST_GRANT_HOST_ADD] = "INSERT INTO grant_hosts (grant_id, host) "
			      "VALUES (?1, ?2)",
	[ST_GRANT_GET] = "SELECT id, account, workflow, reason, break_glass, "
			 "approvals_needed, duration, state, requested, "
			 "activated, expires, closed, closed_by, last_alert "
			 "FROM grants WHERE id = ?1",
	[ST_GRANT_HOSTS] = "SELECT host FROM grant_hosts WHERE grant_id = ?1 "
			   "ORDER BY host LIMIT ?2",
	[ST_GRANT_APPROVALS] = "SELECT approver, time FROM grant_approvals "
			       "WHERE grant_id = ?1 ORDER BY time, approver "
			       "LIMIT ?2",
	[ST_GRANT_UPDATE] = "UPDATE grants SET state = ?2, activated = ?3, "
			    "expires = ?4, closed = ?5, closed_by = ?6, "
			    "last_alert = ?7, break_glass = ?8 WHERE id = ?1",
	[ST_GRANT_LIST_ACCOUNT] = "SELECT id FROM grants WHERE account = ?1 "
				  "ORDER BY id DESC LIMIT ?2",
	[ST_GRANT_LIST_ALL] = "SELECT id FROM grants ORDER BY id DESC "
			      "LIMIT ?1",
	[ST_GRANT_FIND] = "SELECT g.id FROM grants g "
			  "WHERE g.account = ?1 AND g.workflow = ?2 "
			  "AND g.state = 'active' AND g.activated <= ?4 "
			  "AND ?4 < g.expires "
			  "AND (?3 IS NULL OR NOT EXISTS (SELECT 1 FROM "
			  "grant_hosts h WHERE h.grant_id = g.id) "
			  "OR EXISTS (SELECT 1 FROM grant_hosts h "
			  "WHERE h.grant_id = g.id AND h.host = ?3)) "
			  "ORDER BY g.id DESC LIMIT 1",
	/* Open as the gate finds them (ST_GRANT_FIND): active once
	 * activated and until it expires; pending until it is stale
	 * (ag_grant_state_at). */
	[ST_GRANT_TALLY] = "SELECT workflow, break_glass, "
			   "sum(state = 'pending'), sum(state = 'active') "
			   "FROM grants WHERE (state = 'active' AND "
			   "activated <= ?1 AND ?1 < expires) OR "
			   "(state = 'pending' AND ?1 - requested < ?2) "
			   "GROUP BY workflow, break_glass "
			   "ORDER BY workflow, break_glass LIMIT ?3",
	[ST_TOKEN_USED] = "SELECT 1 FROM grant_approvals WHERE token_key = ?1",
	[ST_APPROVAL_ADD] = "INSERT INTO grant_approvals "
			    "(grant_id, approver, token_key, time) "
			    "VALUES (?1, ?2, ?3, ?4)",
	[ST_NHI_GET] = "SELECT " NHI_COLS " FROM nhi_records "
		       "WHERE issuer = ?1 AND id = ?2 AND current = 1",
	[ST_NHI_INSERT] = "INSERT INTO nhi_records (" NHI_COLS ") "
			  "VALUES (?1, ?2, ?3, 1, ?4, ?4, NULL, ?5, ?6, ?7, "
			  "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
			  "?18, ?19, ?20, ?21, ?22, ?23, ?24)",
	[ST_NHI_UPDATE] = "UPDATE nhi_records SET updated = ?4, kind = ?5, "
			  "status = ?6, owner = ?7, owner_status = ?8, "
			  "team = ?9, purpose = ?10, workflow = ?11, "
			  "thumbprint = ?12, created = ?13, expires = ?14, "
			  "last_rotated = ?15, last_used = ?16, "
			  "never_used = ?17, interactive = ?18, "
			  "last_interactive = ?19, root = ?20, scopes = ?21, "
			  "used_scopes = ?22, environments = ?23, "
			  "used_by = ?24 "
			  "WHERE issuer = ?1 AND id = ?2 AND version = ?3 "
			  "AND current = 1",
	[ST_NHI_RETIRE] = "UPDATE nhi_records SET current = 0, "
			  "status = 'retired', retired = ?4, updated = ?5 "
			  "WHERE issuer = ?1 AND id = ?2 AND version = ?3 "
			  "AND current = 1",
	[ST_NHI_LIST_CURRENT] = "SELECT " NHI_COLS " FROM nhi_records "
				"WHERE current = 1 ORDER BY issuer, id "
				"LIMIT ?1",
	[ST_NHI_LIST_ALL] = "SELECT " NHI_COLS " FROM nhi_records "
			    "ORDER BY issuer, id, version LIMIT ?1",
	[ST_OWNER_GET] = "SELECT id, team, status FROM nhi_owners "
			 "WHERE id = ?1",
	[ST_OWNER_PUT] = "INSERT INTO nhi_owners (id, team, status, updated) "
			 "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE "
			 "SET team = excluded.team, status = excluded.status, "
			 "updated = excluded.updated",
	[ST_OWNER_LIST] = "SELECT id, team, status FROM nhi_owners "
			  "ORDER BY id LIMIT ?1",
};

/*
 * Migrations: migrations[i] brings the schema from version i to i + 1,
 * in one transaction together with its schema_version row.  Append only;
 * never edit one that has shipped.
 */
static const char *const migrations[] = {
	/* 1: accounts, enrolments, the journal. */
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY NOT NULL,"
	"  value TEXT NOT NULL"
	");"
	"CREATE TABLE accounts ("
	"  id TEXT PRIMARY KEY NOT NULL"
	"    CHECK (typeof(id) = 'text' AND length(id) >= 1),"
	"  break_glass INTEGER NOT NULL DEFAULT 0"
	"    CHECK (break_glass IN (0, 1)),"
	"  created INTEGER NOT NULL"
	");"
	"CREATE TABLE enrolments ("
	"  account TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,"
	"  method TEXT NOT NULL"
	"    CHECK (typeof(method) = 'text' AND length(method) >= 1),"
	"  label TEXT NOT NULL DEFAULT '' CHECK (typeof(label) = 'text'),"
	"  created INTEGER NOT NULL,"
	"  UNIQUE (account, method, label)"
	");"
	"CREATE TABLE journal ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  time INTEGER NOT NULL,"
	"  type TEXT NOT NULL,"
	"  fields TEXT NOT NULL,"
	"  logged INTEGER" /* the decision log's seq once logged */
	");"
	"CREATE INDEX journal_unlogged ON journal (seq) WHERE logged IS NULL;"
	"INSERT INTO meta (key, value)"
	"  VALUES ('store_id', lower(hex(randomblob(16))));",
	/* 2: spent recovery codes; JIT and break-glass grants, their hosts
	 * and approvals.  A grant's token_key (issuer and jti, or the
	 * token's digest) is unique across every approval: one token, one
	 * approval. */
	"CREATE TABLE recovery_codes_spent ("
	"  account TEXT NOT NULL"
	"    CHECK (typeof(account) = 'text' AND length(account) >= 1),"
	"  code_id TEXT NOT NULL"
	"    CHECK (typeof(code_id) = 'text' AND length(code_id) >= 1),"
	"  spent INTEGER NOT NULL,"
	"  PRIMARY KEY (account, code_id)"
	");"
	"CREATE TABLE grants ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  account TEXT NOT NULL"
	"    CHECK (typeof(account) = 'text' AND length(account) >= 1),"
	"  workflow TEXT NOT NULL"
	"    CHECK (typeof(workflow) = 'text' AND length(workflow) >= 1),"
	"  reason TEXT NOT NULL CHECK (typeof(reason) = 'text'),"
	"  break_glass INTEGER NOT NULL CHECK (break_glass IN (0, 1)),"
	"  approvals_needed INTEGER NOT NULL CHECK (approvals_needed >= 0),"
	"  duration INTEGER NOT NULL CHECK (duration > 0),"
	"  state TEXT NOT NULL"
	"    CHECK (state IN ('pending', 'active', 'denied', 'revoked')),"
	"  requested INTEGER NOT NULL,"
	"  activated INTEGER,"
	"  expires INTEGER,"
	"  closed INTEGER,"
	"  closed_by TEXT,"
	"  last_alert INTEGER,"
	"  CHECK (state <> 'active' OR (activated IS NOT NULL"
	"    AND expires IS NOT NULL))"
	");"
	"CREATE INDEX grants_by_account ON grants (account, workflow, state);"
	"CREATE TABLE grant_hosts ("
	"  grant_id INTEGER NOT NULL REFERENCES grants (id) ON DELETE CASCADE,"
	"  host TEXT NOT NULL"
	"    CHECK (typeof(host) = 'text' AND length(host) >= 1),"
	"  PRIMARY KEY (grant_id, host)"
	");"
	"CREATE TABLE grant_approvals ("
	"  grant_id INTEGER NOT NULL REFERENCES grants (id) ON DELETE CASCADE,"
	"  approver TEXT NOT NULL"
	"    CHECK (typeof(approver) = 'text' AND length(approver) >= 1),"
	"  token_key TEXT NOT NULL UNIQUE"
	"    CHECK (typeof(token_key) = 'text' AND length(token_key) >= 1),"
	"  time INTEGER NOT NULL,"
	"  PRIMARY KEY (grant_id, approver)"
	");",
	/* 3: machine identities (docs/nhi.md): every version of each record
	 * by (issuer, id), issuer '' for one that names none, one version
	 * current and the rest history; their owners.  Times are epoch
	 * seconds, NULL when unknown (expires: NULL is no expiry); lists are
	 * JSON arrays of strings, NULL when the inventory did not say. */
	"CREATE TABLE nhi_records ("
	"  issuer TEXT NOT NULL CHECK (typeof(issuer) = 'text'),"
	"  id TEXT NOT NULL CHECK (typeof(id) = 'text' AND length(id) >= 1),"
	"  version INTEGER NOT NULL CHECK (version >= 1),"
	"  current INTEGER NOT NULL CHECK (current IN (0, 1)),"
	"  imported INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  retired INTEGER,"
	"  kind TEXT NOT NULL"
	"    CHECK (typeof(kind) = 'text' AND length(kind) >= 1),"
	"  status TEXT NOT NULL"
	"    CHECK (status IN ('active', 'disabled', 'retired')),"
	"  owner TEXT,"
	"  owner_status TEXT"
	"    CHECK (owner_status IN ('unknown', 'active', 'offboarded')),"
	"  team TEXT,"
	"  purpose TEXT,"
	"  workflow TEXT,"
	"  thumbprint TEXT,"
	"  created INTEGER,"
	"  expires INTEGER,"
	"  last_rotated INTEGER,"
	"  last_used INTEGER,"
	"  never_used INTEGER NOT NULL CHECK (never_used IN (0, 1)),"
	"  interactive INTEGER NOT NULL CHECK (interactive IN (0, 1)),"
	"  last_interactive INTEGER,"
	"  root INTEGER NOT NULL CHECK (root IN (0, 1)),"
	"  scopes TEXT,"
	"  used_scopes TEXT,"
	"  environments TEXT,"
	"  used_by TEXT,"
	"  PRIMARY KEY (issuer, id, version),"
	"  CHECK (current = 0 OR retired IS NULL)"
	");"
	"CREATE UNIQUE INDEX nhi_records_current ON nhi_records (issuer, id)"
	"  WHERE current = 1;"
	"CREATE TABLE nhi_owners ("
	"  id TEXT PRIMARY KEY NOT NULL"
	"    CHECK (typeof(id) = 'text' AND length(id) >= 1),"
	"  team TEXT,"
	"  status TEXT NOT NULL CHECK (status IN ('active', 'offboarded')),"
	"  updated INTEGER NOT NULL"
	");",
	/* 4: the watch engine's correlation state, as chunks only the
	 * engine reads (src/watch/engine.c), and where it left each input
	 * (device and inode, stored as signed 64-bit). */
	"CREATE TABLE watch_state ("
	"  seq INTEGER PRIMARY KEY NOT NULL CHECK (seq >= 0),"
	"  data BLOB NOT NULL CHECK (typeof(data) = 'blob')"
	");"
	"CREATE TABLE watch_positions ("
	"  dev INTEGER NOT NULL,"
	"  ino INTEGER NOT NULL,"
	"  offset INTEGER NOT NULL CHECK (offset >= 0),"
	"  tick INTEGER NOT NULL,"
	"  PRIMARY KEY (dev, ino)"
	");",
	/* 5: the IAL at which each account was proofed, which recovery of
	 * an AAL3 account turns on (SP 800-63B-4 §4.2.2.3); NULL: not
	 * recorded. */
	"ALTER TABLE accounts ADD COLUMN ial INTEGER"
	"  CHECK (ial IS NULL OR (typeof(ial) = 'integer' AND ial BETWEEN 0 "
	"AND 3));",
	/* 6: each account's notification addresses of record, which every
	 * recovery of it notifies (SP 800-63B-4 §4.2); channel by its name. */
	"CREATE TABLE account_addresses ("
	"  account TEXT NOT NULL REFERENCES accounts (id),"
	"  channel TEXT NOT NULL CHECK (channel IN ('email', 'sms', 'voice', "
	"'postal', 'postal_outside_contiguous_us')),"
	"  address TEXT NOT NULL"
	"    CHECK (typeof(address) = 'text' AND length(address) >= 1),"
	"  added INTEGER NOT NULL,"
	"  PRIMARY KEY (account, channel, address)"
	");",
};

#define SCHEMA_VERSION ((int)AG_ARRAY_SIZE(migrations))

_Static_assert(SCHEMA_VERSION == AG_STORE_SQLITE_SCHEMA,
	       "AG_STORE_SQLITE_SCHEMA must match the migrations");

struct sq;

/* A transaction: the connection it runs on, held until it ends. */
struct ag_store_tx {
	struct sq *q;
	struct sq_conn *c;
};

struct sq_conn {
	sqlite3 *db;
	sqlite3_stmt *st[ST__COUNT];
	struct sq_conn *next_free;
	struct ag_store_tx tx;
};

struct sq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool sync_ok; /* mu and cv were initialised */
	struct sq_conn *conns;
	unsigned n;
	struct sq_conn *free_list;
	bool read_only;
	unsigned busy_ms;
	const char *path; /* the store's, as given: for messages */
	char *file;       /* what SQLite opens: the directory resolved */
};

/* Maps an SQLite failure to an ag_code and a message.  Busy, locked,
 * read-only, full and I/O are all errors: the caller denies. */
static ag_code sq_fail(const struct sq *q, sqlite3 *db, int rc,
		       const char *doing, struct ag_error *err)
{
	const char *detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
	int os = db ? sqlite3_system_errno(db) : 0;
	char why[300];
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return ag_err(err, AG_ERR_IO,
			      "%s: cannot %s: the database is locked by "
			      "another writer (waited %u ms)",
			      q->path, doing, q->busy_ms);
	case SQLITE_READONLY:
		return ag_err(err, AG_ERR_IO,
			      "%s: cannot %s: the state is read-only (%s)",
			      q->path, doing, detail);
	case SQLITE_FULL:
		return ag_err(err, AG_ERR_IO,
			      "%s: cannot %s: the disk is full", q->path,
			      doing);
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		/* The system's reason says more than "disk I/O error". */
		if (os)
			snprintf(why, sizeof(why), "%s (%s)", detail,
				 strerror(os));
		else
			snprintf(why, sizeof(why), "%s", detail);
		return ag_err(err, AG_ERR_IO, "%s: cannot %s: %s", q->path,
			      doing, why);
	case SQLITE_NOMEM:
		return ag_err(err, AG_ERR_NOMEM, "%s: cannot %s: out of memory",
			      q->path, doing);
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_FORMAT:
		return ag_err(err, AG_ERR_INVALID,
			      "%s: cannot %s: not a state database, or a "
			      "damaged one (%s)",
			      q->path, doing, detail);
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_TOOBIG:
	case SQLITE_RANGE:
		return ag_err(err, AG_ERR_INVALID, "%s: cannot %s: %s",
			      q->path, doing, detail);
	default:
		return ag_err(err, AG_ERR_INTERNAL, "%s: cannot %s: %s",
			      q->path, doing, detail);
	}
}

static struct sq_conn *sq_get(struct sq *q)
{
	pthread_mutex_lock(&q->mu);
	while (!q->free_list)
		pthread_cond_wait(&q->cv, &q->mu);
	struct sq_conn *c = q->free_list;
	q->free_list = c->next_free;
	pthread_mutex_unlock(&q->mu);
	return c;
}

static void sq_put(struct sq *q, struct sq_conn *c)
{
	pthread_mutex_lock(&q->mu);
	c->next_free = q->free_list;
	q->free_list = c;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* A prepared statement, reset and unbound, ready for use. */
static ag_code sq_stmt(struct sq *q, struct sq_conn *c, enum stmt_id id,
		       sqlite3_stmt **out, struct ag_error *err)
{
	if (!c->st[id]) {
		int rc = sqlite3_prepare_v3(c->db, stmt_sql[id], -1,
					    SQLITE_PREPARE_PERSISTENT,
					    &c->st[id], NULL);
		if (rc != SQLITE_OK) {
			*out = NULL;
			return sq_fail(q, c->db, rc, "prepare a statement",
				       err);
		}
	}
	sqlite3_reset(c->st[id]);
	sqlite3_clear_bindings(c->st[id]);
	*out = c->st[id];
	return AG_OK;
}

/* Runs a statement that returns no rows (BEGIN, COMMIT, INSERT...). */
static ag_code sq_done(struct sq *q, struct sq_conn *c, sqlite3_stmt *st,
		       const char *doing, struct ag_error *err)
{
	int rc = sqlite3_step(st);
	ag_code r = AG_OK;
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = sq_fail(q, c->db, rc, doing, err);
	sqlite3_reset(st);
	return r;
}

static ag_code sq_simple(struct sq *q, struct sq_conn *c, enum stmt_id id,
			 const char *doing, struct ag_error *err)
{
	sqlite3_stmt *st;
	ag_code rc = sq_stmt(q, c, id, &st, err);
	return rc ? rc : sq_done(q, c, st, doing, err);
}

static void sq_rollback(struct sq *q, struct sq_conn *c)
{
	if (!sqlite3_get_autocommit(c->db)) {
		struct ag_error ignored;
		sq_simple(q, c, ST_ROLLBACK, "roll back", &ignored);
	}
}

static ag_code bind_text(struct sq *q, struct sq_conn *c, sqlite3_stmt *st,
			 int i, const char *v, struct ag_error *err)
{
	int rc = sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
	return rc == SQLITE_OK ? AG_OK
			       : sq_fail(q, c->db, rc, "bind a value", err);
}

static ag_code bind_int(struct sq *q, struct sq_conn *c, sqlite3_stmt *st,
			int i, int64_t v, struct ag_error *err)
{
	int rc = sqlite3_bind_int64(st, i, v);
	return rc == SQLITE_OK ? AG_OK
			       : sq_fail(q, c->db, rc, "bind a value", err);
}

/* A text column as an owned string: not NULL, no NUL inside, at most max
 * bytes.  A damaged or hand-edited file can hold anything. */
static ag_code col_text(struct sq *q, sqlite3_stmt *st, int i, size_t max,
			char **out, size_t *len, struct ag_error *err)
{
	/* The type first: reading the text converts the value. */
	int type = sqlite3_column_type(st, i);
	const unsigned char *t = sqlite3_column_text(st, i);
	int n = sqlite3_column_bytes(st, i);
	*out = NULL;
	if (type != SQLITE_TEXT || !t || n < 0 || (size_t)n > max ||
	    memchr(t, '\0', (size_t)n) != NULL)
		return ag_err(err, AG_ERR_INVALID,
			      "%s: a stored %s is damaged", q->path,
			      sqlite3_column_name(st, i));
	if (!(*out = ag_strndup((const char *)t, (size_t)n)))
		return ag_err(err, AG_ERR_NOMEM, "%s: out of memory", q->path);
	if (len)
		*len = (size_t)n;
	return AG_OK;
}

/* Reads enrolments from st (account, method, label, created) into out;
 * more than max rows is AG_ERR_LIMIT. */
static ag_code read_enrolments(struct sq *q, struct sq_conn *c,
			       sqlite3_stmt *st, size_t max,
			       struct ag_enrolments *out,
			       struct ag_error *err)
{
	size_t got = 0;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct ag_enrolment e = {0};
		ag_code r;
		if (++got > max) {
			sqlite3_reset(st);
			return ag_err(err, AG_ERR_LIMIT,
				      "%s: more than %zu enrolments", q->path,
				      max);
		}
		if ((r = AG_GROW(out->v, out->alloc, out->n + 1))) {
			sqlite3_reset(st);
			return ag_err(err, r, "%s: out of memory", q->path);
		}
		if ((r = col_text(q, st, 0, AG_STORE_ACCOUNT_MAX, &e.account,
				  NULL, err)) ||
		    (r = col_text(q, st, 1, AG_STORE_METHOD_MAX, &e.method,
				  NULL, err)) ||
		    (r = col_text(q, st, 2, AG_STORE_LABEL_MAX, &e.label, NULL,
				  err))) {
			free(e.account);
			free(e.method);
			free(e.label);
			sqlite3_reset(st);
			return r;
		}
		e.created = sqlite3_column_int64(st, 3);
		out->v[out->n++] = e;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sq_fail(q, c->db, rc, "read enrolments", err);
	return AG_OK;
}

static ag_code sq_list_on(struct sq *q, struct sq_conn *c,
			  const char *account, size_t max,
			  struct ag_enrolments *out, struct ag_error *err)
{
	sqlite3_stmt *st;
	ag_code rc;
	/* One row more than allowed, to tell "max" from "too many". */
	int64_t limit = (int64_t)max + 1;

	if (account) {
		if ((rc = sq_stmt(q, c, ST_LIST_ACCOUNT, &st, err)) ||
		    (rc = bind_text(q, c, st, 1, account, err)) ||
		    (rc = bind_int(q, c, st, 2, limit, err)))
			return rc;
	} else if ((rc = sq_stmt(q, c, ST_LIST_ALL, &st, err)) ||
		   (rc = bind_int(q, c, st, 1, limit, err))) {
		return rc;
	}
	return read_enrolments(q, c, st, max, out, err);
}

static ag_code sq_enroll_list(struct ag_store *s, const char *account,
			      size_t max, struct ag_enrolments *out,
			      struct ag_error *err)
{
	struct sq *q = s->be;
	struct sq_conn *c = sq_get(q);
	size_t before = out->n;
	ag_code rc = sq_list_on(q, c, account, max, out, err);
	sq_put(q, c);
	if (rc != AG_OK) {
		/* Leave out as it was. */
		struct ag_enrolments tail = {.v = out->v + before,
					     .n = out->n - before};
		for (size_t i = 0; i < tail.n; i++) {
			free(tail.v[i].account);
			free(tail.v[i].method);
			free(tail.v[i].label);
		}
		out->n = before;
	}
	return rc;
}

/* Writes a journal row; *seq is its seq. */
static ag_code sq_journal_add(struct sq *q, struct sq_conn *c, int64_t time,
			      const char *type, const char *fields,
			      uint64_t *seq, struct ag_error *err)
{
	sqlite3_stmt *st;
	ag_code rc;
	if ((rc = sq_stmt(q, c, ST_JOURNAL_ADD, &st, err)) ||
	    (rc = bind_int(q, c, st, 1, time, err)) ||
	    (rc = bind_text(q, c, st, 2, type, err)) ||
	    (rc = bind_text(q, c, st, 3, fields, err)) ||
	    (rc = sq_done(q, c, st, "write the journal", err)))
		return rc;
	*seq = (uint64_t)sqlite3_last_insert_rowid(c->db);
	return AG_OK;
}

/* An enrolment in one transaction: read, prepare, write, journal,
 * commit.  (Removal is ag_store_tx_enroll_remove, which goes with other
 * changes in one transaction.) */
static ag_code sq_enroll_add(struct ag_store *s, const struct ag_enrolment *e,
			     ag_store_prepare_fn prepare, void *arg,
			     uint64_t *journal_seq, struct ag_error *err)
{
	struct sq *q = s->be;
	struct ag_enrolments cur = {0};
	char *fields = NULL;
	sqlite3_stmt *st;
	const char *doing = "enrol";
	ag_code rc;

	/* A read-only store needs no check here: SQLite refuses the write
	 * (SQLITE_READONLY), as it does for a file it could only read. */
	*journal_seq = 0;
	struct sq_conn *c = sq_get(q);
	if ((rc = sq_simple(q, c, ST_BEGIN, doing, err)))
		goto out;
	if ((rc = sq_list_on(q, c, e->account, AG_STORE_ENROLMENTS_MAX + 1,
			     &cur, err)))
		goto out;
	if ((rc = prepare(arg, &cur, &fields, err)))
		goto out;
	if ((rc = sq_stmt(q, c, ST_ADD_ACCOUNT, &st, err)) ||
	    (rc = bind_text(q, c, st, 1, e->account, err)) ||
	    (rc = bind_int(q, c, st, 2, e->created, err)) ||
	    (rc = sq_done(q, c, st, doing, err)))
		goto out;
	if ((rc = sq_stmt(q, c, ST_ADD_ENROL, &st, err)) ||
	    (rc = bind_text(q, c, st, 1, e->account, err)) ||
	    (rc = bind_text(q, c, st, 2, e->method, err)) ||
	    (rc = bind_text(q, c, st, 3, e->label, err)) ||
	    (rc = bind_int(q, c, st, 4, e->created, err)) ||
	    (rc = sq_done(q, c, st, doing, err)))
		goto out;
	if ((rc = sq_journal_add(q, c, e->created, "enroll_add", fields,
				 journal_seq, err)))
		goto out;
	rc = sq_simple(q, c, ST_COMMIT, doing, err);
out:
	if (rc != AG_OK) {
		sq_rollback(q, c);
		*journal_seq = 0;
	}
	sq_put(q, c);
	free(fields);
	ag_enrolments_release(&cur);
	return rc;
}

struct sq_row {
	struct ag_journal_row r;
	int64_t rowid; /* seq as stored, for the mark */
	char *type, *fields;
};

/* One batch: rows read and emitted under one write transaction.  *more is
 * set when the batch was full. */
static ag_code sq_drain_batch(struct sq *q, struct sq_conn *c,
			      ag_store_emit_fn emit, void *arg, uint64_t *n,
			      bool *more, struct ag_error *err)
{
	struct sq_row rows[DRAIN_BATCH];
	size_t nr = 0;
	sqlite3_stmt *st;
	ag_code rc, erc = AG_OK;
	int src;

	*more = false;
	memset(rows, 0, sizeof(rows));
	if ((rc = sq_simple(q, c, ST_BEGIN, "log the journal", err)))
		return rc;
	if ((rc = sq_stmt(q, c, ST_JOURNAL_NEXT, &st, err)) ||
	    (rc = bind_int(q, c, st, 1, DRAIN_BATCH, err)))
		goto out;
	while (nr < DRAIN_BATCH && (src = sqlite3_step(st)) == SQLITE_ROW) {
		struct sq_row *r = &rows[nr];
		r->rowid = sqlite3_column_int64(st, 0);
		r->r.seq = (uint64_t)r->rowid;
		r->r.time = sqlite3_column_int64(st, 1);
		/* An unreadable type or fields is handed over as empty:
		 * emit logs the row as invalid rather than stall on it. */
		struct ag_error ignored;
		if (col_text(q, st, 2, 64, &r->type, NULL, &ignored))
			r->type = ag_strdup("");
		if (col_text(q, st, 3, FIELDS_MAX, &r->fields,
			     &r->r.fields_len, &ignored)) {
			r->fields = ag_strdup("");
			r->r.fields_len = 0;
		}
		if (!r->type || !r->fields) {
			sqlite3_reset(st);
			rc = ag_err(err, AG_ERR_NOMEM, "%s: out of memory",
				    q->path);
			goto out;
		}
		r->r.type = r->type;
		r->r.fields = r->fields;
		nr++;
	}
	if (nr < DRAIN_BATCH && src != SQLITE_DONE) {
		sqlite3_reset(st);
		rc = sq_fail(q, c->db, src, "read the journal", err);
		goto out;
	}
	sqlite3_reset(st);
	*more = nr == DRAIN_BATCH;

	for (size_t i = 0; i < nr; i++) {
		uint64_t logged = 0;
		if ((erc = emit(arg, &rows[i].r, &logged, err)) != AG_OK)
			break;
		(*n)++;
		if ((erc = sq_stmt(q, c, ST_JOURNAL_MARK, &st, err)) ||
		    (erc = bind_int(q, c, st, 1, rows[i].rowid, err)) ||
		    (erc = bind_int(q, c, st, 2, (int64_t)logged, err)) ||
		    (erc = sq_done(q, c, st, "mark the journal", err)))
			break;
		/* A row that cannot be marked would be logged again at every
		 * drain. */
		if (sqlite3_changes(c->db) != 1) {
			erc = ag_err(err, AG_ERR_INTERNAL,
				     "%s: journal row %lld could not be "
				     "marked logged",
				     q->path, (long long)rows[i].rowid);
			break;
		}
	}
	if (erc != AG_OK)
		*more = false;
	/* Keep the marks of what was logged, even when a step failed. */
	rc = sq_simple(q, c, ST_COMMIT, "mark the journal", err);
	if (rc == AG_OK)
		rc = erc;
out:
	if (rc != AG_OK && !sqlite3_get_autocommit(c->db))
		sq_rollback(q, c);
	for (size_t i = 0; i < DRAIN_BATCH; i++) {
		free(rows[i].type);
		free(rows[i].fields);
	}
	return rc;
}

static ag_code sq_journal_drain(struct ag_store *s, ag_store_emit_fn emit,
				void *arg, uint64_t *n, struct ag_error *err)
{
	struct sq *q = s->be;
	ag_code rc = AG_OK;
	bool more = true;

	*n = 0;
	struct sq_conn *c = sq_get(q);
	while (rc == AG_OK && more)
		rc = sq_drain_batch(q, c, emit, arg, n, &more, err);
	sq_put(q, c);
	return rc;
}

static ag_code sq_journal_pending(struct ag_store *s, uint64_t *n,
				  struct ag_error *err)
{
	struct sq *q = s->be;
	struct sq_conn *c = sq_get(q);
	sqlite3_stmt *st;
	ag_code rc = sq_stmt(q, c, ST_JOURNAL_PENDING, &st, err);
	*n = 0;
	if (rc == AG_OK) {
		int src = sqlite3_step(st);
		if (src == SQLITE_ROW)
			*n = (uint64_t)sqlite3_column_int64(st, 0);
		else
			rc = sq_fail(q, c->db, src, "count the journal", err);
		sqlite3_reset(st);
	}
	sq_put(q, c);
	return rc;
}

static void sq_close_conn(struct sq_conn *c)
{
	for (size_t i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(c->st[i]);
	memset(c->st, 0, sizeof(c->st));
	sqlite3_close(c->db); /* NULL is a no-op */
	c->db = NULL;
}

static void sq_free(struct sq *q)
{
	if (!q)
		return;
	for (unsigned i = 0; q->conns && i < q->n; i++)
		sq_close_conn(&q->conns[i]);
	free(q->conns);
	free(q->file);
	if (q->sync_ok) {
		pthread_cond_destroy(&q->cv);
		pthread_mutex_destroy(&q->mu);
	}
	free(q);
}

static void sq_close(struct ag_store *s)
{
	sq_free(s->be);
	s->be = NULL;
}

/* ---- the SQLite backend: transactions ---------------------------------- */

static ag_code sq_tx_begin(struct ag_store *s, bool write,
			   struct ag_store_tx **out, struct ag_error *err)
{
	struct sq *q = s->be;
	struct sq_conn *c = sq_get(q);
	ag_code rc = sq_simple(q, c, write ? ST_BEGIN : ST_BEGIN_READ,
			       write ? "begin a change" : "begin a read", err);
	*out = NULL;
	if (rc != AG_OK) {
		sq_rollback(q, c);
		sq_put(q, c);
		return rc;
	}
	c->tx.q = q;
	c->tx.c = c;
	*out = &c->tx;
	return AG_OK;
}

static ag_code sq_tx_commit(struct ag_store_tx *tx, struct ag_error *err)
{
	struct sq *q = tx->q;
	struct sq_conn *c = tx->c;
	ag_code rc = sq_simple(q, c, ST_COMMIT, "commit", err);
	if (rc != AG_OK)
		sq_rollback(q, c);
	sq_put(q, c);
	return rc;
}

static void sq_tx_abort(struct ag_store_tx *tx)
{
	if (!tx)
		return;
	sq_rollback(tx->q, tx->c);
	sq_put(tx->q, tx->c);
}

static ag_code sq_tx_journal(struct ag_store_tx *tx, int64_t time,
			     const char *type, const char *fields,
			     uint64_t *seq, struct ag_error *err)
{
	return sq_journal_add(tx->q, tx->c, time, type, fields, seq, err);
}

/* Steps a query whose answer is whether it returns a row. */
static ag_code sq_exists(struct sq *q, struct sq_conn *c, sqlite3_stmt *st,
			 const char *doing, bool *found, struct ag_error *err)
{
	int src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src == SQLITE_ROW || src == SQLITE_DONE) {
		*found = src == SQLITE_ROW;
		return AG_OK;
	}
	return sq_fail(q, c->db, src, doing, err);
}

static ag_code sq_tx_code_get(struct ag_store_tx *tx, const char *account,
			      const char *code_id, bool *spent,
			      struct ag_error *err)
{
	sqlite3_stmt *st;
	ag_code rc;
	if ((rc = sq_stmt(tx->q, tx->c, ST_CODE_GET, &st, err)) ||
	    (rc = bind_text(tx->q, tx->c, st, 1, account, err)) ||
	    (rc = bind_text(tx->q, tx->c, st, 2, code_id, err)))
		return rc;
	return sq_exists(tx->q, tx->c, st, "read spent codes", spent, err);
}

static ag_code sq_tx_code_put(struct ag_store_tx *tx, const char *account,
			      const char *code_id, int64_t now,
			      struct ag_error *err)
{
	sqlite3_stmt *st;
	ag_code rc;
	if ((rc = sq_stmt(tx->q, tx->c, ST_CODE_PUT, &st, err)) ||
	    (rc = bind_text(tx->q, tx->c, st, 1, account, err)) ||
	    (rc = bind_text(tx->q, tx->c, st, 2, code_id, err)) ||
	    (rc = bind_int(tx->q, tx->c, st, 3, now, err)))
		return rc;
	return sq_done(tx->q, tx->c, st, "spend a recovery code", err);
}

static ag_code sq_tx_account_get(struct ag_store_tx *tx, const char *account,
				 bool *exists, bool *break_glass,
				 struct ag_error *err)
{
	sqlite3_stmt *st;
	ag_code rc;
	*exists = *break_glass = false;
	if ((rc = sq_stmt(tx->q, tx->c, ST_ACCOUNT_GET, &st, err)) ||
	    (rc = bind_text(tx->q, tx->c, st, 1, account, err)))
		return rc;
	int src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		*exists = true;
		*break_glass = sqlite3_column_int64(st, 0) != 0;
	}
	sqlite3_reset(st);
	if (src != SQLITE_ROW && src != SQLITE_DONE)
		return sq_fail(tx->q, tx->c->db, src, "read an account", err);
	return AG_OK;
}

static ag_code sq_tx_account_mark(struct ag_store_tx *tx, const char *account,
				  bool break_glass, int64_t now,
				  struct ag_error *err)
{
	sqlite3_stmt *st;
	ag_code rc;
	if ((rc = sq_stmt(tx->q, tx->c, ST_ACCOUNT_MARK, &st, err)) ||
	    (rc = bind_text(tx->q, tx->c, st, 1, account, err)) ||
	    (rc = bind_int(tx->q, tx->c, st, 2, break_glass ? 1 : 0, err)) ||
	    (rc = bind_int(tx->q, tx->c, st, 3, now, err)))
		return rc;
	return sq_done(tx->q, tx->c, st, "mark an account", err);
}

static ag_code sq_tx_break_glass_list(struct ag_store_tx *tx, size_t max,
				      char ***ids, size_t *n,
				      struct ag_error *err)
{
	struct sq *q = tx->q;
	sqlite3_stmt *st;
	char **v = NULL;
	size_t got = 0, alloc = 0;
	ag_code rc;
	int src;

	*ids = NULL;
	*n = 0;
	if ((rc = sq_stmt(q, tx->c, ST_BREAK_GLASS_LIST, &st, err)) ||
	    (rc = bind_int(q, tx->c, st, 1, (int64_t)max + 1, err)))
		return rc;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		if (got == max) {
			rc = ag_err(err, AG_ERR_LIMIT,
				    "%s: more than %zu break-glass accounts",
				    q->path, max);
			break;
		}
		if (AG_GROW(v, alloc, got + 1) || !id ||
		    !(v[got] = strdup(id))) {
			rc = ag_err(err, AG_ERR_NOMEM, "%s: out of memory",
				    q->path);
			break;
		}
		got++;
	}
	sqlite3_reset(st);
	if (rc == AG_OK && src != SQLITE_DONE)
		rc = sq_fail(q, tx->c->db, src, "list break-glass accounts",
			     err);
	if (rc != AG_OK) {
		for (size_t i = 0; i < got; i++)
			free(v[i]);
		free(v);
		return rc;
	}
	*ids = v;
	*n = got;
	return AG_OK;
}

static ag_code sq_tx_account_ial_get(struct ag_store_tx *tx,
				     const char *account, int *ial,
				     struct ag_error *err)
{
	sqlite3_stmt *st;
	ag_code rc;
	*ial = AG_IAL_UNKNOWN;
	if ((rc = sq_stmt(tx->q, tx->c, ST_ACCOUNT_IAL_GET, &st, err)) ||
	    (rc = bind_text(tx->q, tx->c, st, 1, account, err)))
		return rc;
	int src = sqlite3_step(st);
	if (src == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
		sqlite3_int64 v = sqlite3_column_int64(st, 0);
		if (v < 0 || v > 3) {
			sqlite3_reset(st);
			return ag_err(err, AG_ERR_INTERNAL,
				      "%s: account '%.64s' has IAL %lld",
				      tx->q->path, account, (long long)v);
		}
		*ial = (int)v;
	}
	sqlite3_reset(st);
	if (src != SQLITE_ROW && src != SQLITE_DONE)
		return sq_fail(tx->q, tx->c->db, src, "read an account's IAL",
			       err);
	return AG_OK;
}

static ag_code sq_tx_account_ial_set(struct ag_store_tx *tx,
				     const char *account, int ial, int64_t now,
				     struct ag_error *err)
{
	sqlite3_stmt *st;
	ag_code rc;
	if ((rc = sq_stmt(tx->q, tx->c, ST_ACCOUNT_IAL_SET, &st, err)) ||
	    (rc = bind_text(tx->q, tx->c, st, 1, account, err)) ||
	    (rc = bind_int(tx->q, tx->c, st, 2, now, err)) ||
	    (rc = bind_int(tx->q, tx->c, st, 3, ial, err)))
		return rc;
	return sq_done(tx->q, tx->c, st, "set an account's IAL", err);
}

static ag_code sq_tx_address_list(struct ag_store_tx *tx,
				  const char *account, size_t max,
				  struct ag_store_addresses *out,
				  struct ag_error *err)
{
	struct sq *q = tx->q;
	sqlite3_stmt *st;
	ag_code rc;
	int src;

	out->v = NULL;
	out->n = 0;
	if ((rc = sq_stmt(q, tx->c, ST_ADDRESS_LIST, &st, err)) ||
	    (rc = bind_text(q, tx->c, st, 1, account, err)) ||
	    (rc = bind_int(q, tx->c, st, 2, (int64_t)max + 1, err)))
		return rc;
	if (!(out->v = calloc(max + 1, sizeof(*out->v)))) {
		sqlite3_reset(st);
		return ag_err(err, AG_ERR_NOMEM, "%s: out of memory", q->path);
	}
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		const char *ch = (const char *)sqlite3_column_text(st, 0);
		const char *ad = (const char *)sqlite3_column_text(st, 1);
		enum ag_recovery_channel c = ag_recovery_channel_of(ch, NULL);
		if (out->n == max || c == AG_CHANNEL_NONE || !ad) {
			sqlite3_reset(st);
			if (out->n == max)
				return ag_err(err, AG_ERR_LIMIT,
					      "%s: '%.64s' has more than %zu "
					      "notification addresses",
					      q->path, account, max);
			return ag_err(err, AG_ERR_INTERNAL,
				      "%s: '%.64s' has a damaged notification "
				      "address",
				      q->path, account);
		}
		out->v[out->n].channel = c;
		if (!(out->v[out->n].address = strdup(ad))) {
			sqlite3_reset(st);
			return ag_err(err, AG_ERR_NOMEM, "%s: out of memory",
				      q->path);
		}
		out->n++;
	}
	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		return sq_fail(q, tx->c->db, src,
			       "read an account's notification addresses",
			       err);
	return AG_OK;
}

static ag_code sq_tx_address_put(struct ag_store_tx *tx, const char *account,
				 enum ag_recovery_channel channel,
				 const char *address, bool add, int64_t now,
				 bool *changed, struct ag_error *err)
{
	struct sq *q = tx->q;
	sqlite3_stmt *st;
	ag_code rc;

	*changed = false;
	if (add) {
		if ((rc = sq_stmt(q, tx->c, ST_ADD_ACCOUNT, &st, err)) ||
		    (rc = bind_text(q, tx->c, st, 1, account, err)) ||
		    (rc = bind_int(q, tx->c, st, 2, now, err)) ||
		    (rc = sq_done(q, tx->c, st, "create an account", err)))
			return rc;
	}
	if ((rc = sq_stmt(q, tx->c, add ? ST_ADDRESS_ADD : ST_ADDRESS_DEL,
			  &st, err)) ||
	    (rc = bind_text(q, tx->c, st, 1, account, err)) ||
	    (rc = bind_text(q, tx->c, st, 2, ag_recovery_channel_name(channel),
			    err)) ||
	    (rc = bind_text(q, tx->c, st, 3, address, err)) ||
	    (add && (rc = bind_int(q, tx->c, st, 4, now, err))) ||
	    (rc = sq_done(q, tx->c, st,
			  add ? "add a notification address"
			      : "remove a notification address",
			  err)))
		return rc;
	*changed = sqlite3_changes(tx->c->db) > 0;
	return AG_OK;
}

static const char *const grant_states[] = {
	[AG_GRANT_PENDING] = "pending",
	[AG_GRANT_ACTIVE] = "active",
	[AG_GRANT_DENIED] = "denied",
	[AG_GRANT_REVOKED] = "revoked",
};

/* A time column: 0 stands for NULL. */
static ag_code bind_time(struct sq *q, struct sq_conn *c, sqlite3_stmt *st,
			 int i, int64_t v, struct ag_error *err)
{
	if (v == 0) {
		int rc = sqlite3_bind_null(st, i);
		return rc == SQLITE_OK ? AG_OK
				       : sq_fail(q, c->db, rc, "bind a value",
						 err);
	}
	return bind_int(q, c, st, i, v, err);
}

static ag_code bind_opt_text(struct sq *q, struct sq_conn *c,
			     sqlite3_stmt *st, int i, const char *v,
			     struct ag_error *err)
{
	if (!v) {
		int rc = sqlite3_bind_null(st, i);
		return rc == SQLITE_OK ? AG_OK
				       : sq_fail(q, c->db, rc, "bind a value",
						 err);
	}
	return bind_text(q, c, st, i, v, err);
}

static const char *state_text(enum ag_grant_state st)
{
	if ((unsigned)st < AG_ARRAY_SIZE(grant_states) && grant_states[st])
		return grant_states[st];
	return NULL;
}

static ag_code sq_tx_grant_insert(struct ag_store_tx *tx, struct ag_grant *g,
				  struct ag_error *err)
{
	struct sq *q = tx->q;
	struct sq_conn *c = tx->c;
	const char *state = state_text(g->state);
	sqlite3_stmt *st;
	ag_code rc;

	if (!state)
		return ag_err(err, AG_ERR_INTERNAL, "%s: a grant in state %d",
			      q->path, (int)g->state);
	if ((rc = sq_stmt(q, c, ST_GRANT_INSERT, &st, err)) ||
	    (rc = bind_text(q, c, st, 1, g->account, err)) ||
	    (rc = bind_text(q, c, st, 2, g->workflow, err)) ||
	    (rc = bind_text(q, c, st, 3, g->reason, err)) ||
	    (rc = bind_int(q, c, st, 4, g->break_glass ? 1 : 0, err)) ||
	    (rc = bind_int(q, c, st, 5, g->approvals_needed, err)) ||
	    (rc = bind_int(q, c, st, 6, g->duration, err)) ||
	    (rc = bind_text(q, c, st, 7, state, err)) ||
	    (rc = bind_int(q, c, st, 8, g->requested, err)) ||
	    (rc = bind_time(q, c, st, 9, g->activated, err)) ||
	    (rc = bind_time(q, c, st, 10, g->expires, err)) ||
	    (rc = bind_time(q, c, st, 11, g->closed, err)) ||
	    (rc = bind_opt_text(q, c, st, 12, g->closed_by, err)) ||
	    (rc = bind_time(q, c, st, 13, g->last_alert, err)) ||
	    (rc = sq_done(q, c, st, "record a grant", err)))
		return rc;
	g->id = (uint64_t)sqlite3_last_insert_rowid(c->db);
	for (size_t i = 0; i < g->n_hosts; i++)
		if ((rc = sq_stmt(q, c, ST_GRANT_HOST_ADD, &st, err)) ||
		    (rc = bind_int(q, c, st, 1, (int64_t)g->id, err)) ||
		    (rc = bind_text(q, c, st, 2, g->hosts[i], err)) ||
		    (rc = sq_done(q, c, st, "record a grant's hosts", err)))
			return rc;
	return AG_OK;
}

static ag_code sq_damaged(const struct sq *q, uint64_t id, const char *what,
			  struct ag_error *err)
{
	return ag_err(err, AG_ERR_INVALID, "%s: grant %llu: the stored %s is "
		      "damaged",
		      q->path, (unsigned long long)id, what);
}

/* Reads the row of ST_GRANT_GET into g (columns as listed there). */
static ag_code read_grant_row(struct sq *q, sqlite3_stmt *st,
			      struct ag_grant *g, struct ag_error *err)
{
	char *state = NULL;
	ag_code rc;

	g->id = (uint64_t)sqlite3_column_int64(st, 0);
	if ((rc = col_text(q, st, 1, AG_STORE_ACCOUNT_MAX, &g->account, NULL,
			   err)) ||
	    (rc = col_text(q, st, 2, AG_STORE_ACCOUNT_MAX, &g->workflow, NULL,
			   err)) ||
	    (rc = col_text(q, st, 3, AG_GRANT_REASON_MAX, &g->reason, NULL,
			   err)) ||
	    (rc = col_text(q, st, 7, 16, &state, NULL, err)))
		return rc;
	g->break_glass = sqlite3_column_int64(st, 4) != 0;
	int64_t needed = sqlite3_column_int64(st, 5);
	g->approvals_needed = needed < 0 || needed > 1000 ? 1000 : (int)needed;
	g->duration = sqlite3_column_int64(st, 6);
	g->requested = sqlite3_column_int64(st, 8);
	g->activated = sqlite3_column_int64(st, 9);
	g->expires = sqlite3_column_int64(st, 10);
	g->closed = sqlite3_column_int64(st, 11);
	if (sqlite3_column_type(st, 12) != SQLITE_NULL &&
	    (rc = col_text(q, st, 12, AG_STORE_ACCOUNT_MAX, &g->closed_by,
			   NULL, err))) {
		free(state);
		return rc;
	}
	g->last_alert = sqlite3_column_int64(st, 13);
	rc = AG_ERR_INVALID;
	for (size_t i = 0; i < AG_ARRAY_SIZE(grant_states); i++)
		if (grant_states[i] && !strcmp(state, grant_states[i])) {
			g->state = (enum ag_grant_state)i;
			rc = AG_OK;
		}
	free(state);
	if (rc != AG_OK)
		return sq_damaged(q, g->id, "state", err);
	/* An active grant with no end would never expire. */
	if (g->state == AG_GRANT_ACTIVE &&
	    (g->activated <= 0 || g->expires <= g->activated))
		return sq_damaged(q, g->id, "activation", err);
	return AG_OK;
}

static ag_code sq_tx_grant_get(struct ag_store_tx *tx, uint64_t id,
			       struct ag_grant *g, struct ag_error *err)
{
	struct sq *q = tx->q;
	struct sq_conn *c = tx->c;
	sqlite3_stmt *st;
	ag_code rc;
	int src;

	memset(g, 0, sizeof(*g));
	if (id > INT64_MAX)
		return ag_err(err, AG_ERR_NOT_FOUND, "no grant %llu",
			      (unsigned long long)id);
	if ((rc = sq_stmt(q, c, ST_GRANT_GET, &st, err)) ||
	    (rc = bind_int(q, c, st, 1, (int64_t)id, err)))
		return rc;
	src = sqlite3_step(st);
	if (src == SQLITE_DONE) {
		sqlite3_reset(st);
		return ag_err(err, AG_ERR_NOT_FOUND, "no grant %llu",
			      (unsigned long long)id);
	}
	if (src != SQLITE_ROW) {
		sqlite3_reset(st);
		return sq_fail(q, c->db, src, "read a grant", err);
	}
	rc = read_grant_row(q, st, g, err);
	sqlite3_reset(st);
	if (rc != AG_OK)
		goto fail;

	if ((rc = sq_stmt(q, c, ST_GRANT_HOSTS, &st, err)) ||
	    (rc = bind_int(q, c, st, 1, (int64_t)id, err)) ||
	    (rc = bind_int(q, c, st, 2, AG_GRANT_HOSTS_MAX + 1, err)))
		goto fail;
	size_t alloc = 0;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		char *h = NULL;
		if (g->n_hosts >= AG_GRANT_HOSTS_MAX) {
			rc = sq_damaged(q, id, "host list", err);
		} else if (!(rc = AG_GROW(g->hosts, alloc, g->n_hosts + 1)) &&
			   !(rc = col_text(q, st, 0, AG_GRANT_HOST_MAX, &h,
					   NULL, err))) {
			g->hosts[g->n_hosts++] = h;
			continue;
		} else if (rc == AG_ERR_NOMEM) {
			rc = ag_err(err, rc, "%s: out of memory", q->path);
		}
		sqlite3_reset(st);
		goto fail;
	}
	sqlite3_reset(st);
	if (src != SQLITE_DONE) {
		rc = sq_fail(q, c->db, src, "read a grant's hosts", err);
		goto fail;
	}

	if ((rc = sq_stmt(q, c, ST_GRANT_APPROVALS, &st, err)) ||
	    (rc = bind_int(q, c, st, 1, (int64_t)id, err)) ||
	    (rc = bind_int(q, c, st, 2, 1001, err)))
		goto fail;
	alloc = 0;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		char *a = NULL;
		if (g->n_approvals >= 1000) {
			rc = sq_damaged(q, id, "approval list", err);
		} else if (!(rc = AG_GROW(g->approvals, alloc,
					  g->n_approvals + 1)) &&
			   !(rc = col_text(q, st, 0, AG_STORE_ACCOUNT_MAX, &a,
					   NULL, err))) {
			g->approvals[g->n_approvals].approver = a;
			g->approvals[g->n_approvals].time =
				sqlite3_column_int64(st, 1);
			g->n_approvals++;
			continue;
		} else if (rc == AG_ERR_NOMEM) {
			rc = ag_err(err, rc, "%s: out of memory", q->path);
		}
		sqlite3_reset(st);
		goto fail;
	}
	sqlite3_reset(st);
	if (src != SQLITE_DONE) {
		rc = sq_fail(q, c->db, src, "read a grant's approvals", err);
		goto fail;
	}
	return AG_OK;
fail:
	ag_grant_release(g);
	return rc;
}

static ag_code sq_tx_grant_update(struct ag_store_tx *tx,
				  const struct ag_grant *g,
				  struct ag_error *err)
{
	struct sq *q = tx->q;
	struct sq_conn *c = tx->c;
	const char *state = state_text(g->state);
	sqlite3_stmt *st;
	ag_code rc;

	if (!state)
		return ag_err(err, AG_ERR_INTERNAL, "%s: a grant in state %d",
			      q->path, (int)g->state);
	if ((rc = sq_stmt(q, c, ST_GRANT_UPDATE, &st, err)) ||
	    (rc = bind_int(q, c, st, 1, (int64_t)g->id, err)) ||
	    (rc = bind_text(q, c, st, 2, state, err)) ||
	    (rc = bind_time(q, c, st, 3, g->activated, err)) ||
	    (rc = bind_time(q, c, st, 4, g->expires, err)) ||
	    (rc = bind_time(q, c, st, 5, g->closed, err)) ||
	    (rc = bind_opt_text(q, c, st, 6, g->closed_by, err)) ||
	    (rc = bind_time(q, c, st, 7, g->last_alert, err)) ||
	    (rc = bind_int(q, c, st, 8, g->break_glass ? 1 : 0, err)) ||
	    (rc = sq_done(q, c, st, "update a grant", err)))
		return rc;
	if (sqlite3_changes(c->db) != 1)
		return ag_err(err, AG_ERR_INTERNAL,
			      "%s: grant %llu vanished while it was changed",
			      q->path, (unsigned long long)g->id);
	return AG_OK;
}

static ag_code sq_tx_grant_list(struct ag_store_tx *tx, const char *account,
				size_t max, struct ag_grants *out,
				struct ag_error *err)
{
	struct sq *q = tx->q;
	struct sq_conn *c = tx->c;
	sqlite3_stmt *st;
	int64_t *ids = NULL;
	size_t n = 0, alloc = 0;
	ag_code rc;
	int src;

	if (account) {
		if ((rc = sq_stmt(q, c, ST_GRANT_LIST_ACCOUNT, &st, err)) ||
		    (rc = bind_text(q, c, st, 1, account, err)) ||
		    (rc = bind_int(q, c, st, 2, (int64_t)max + 1, err)))
			return rc;
	} else if ((rc = sq_stmt(q, c, ST_GRANT_LIST_ALL, &st, err)) ||
		   (rc = bind_int(q, c, st, 1, (int64_t)max + 1, err))) {
		return rc;
	}
	/* The ids first: the statement cannot stay open while each grant
	 * is read with the others. */
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if (n >= max) {
			out->truncated = true;
			src = SQLITE_DONE;
			break;
		}
		if (AG_GROW(ids, alloc, n + 1)) {
			sqlite3_reset(st);
			free(ids);
			return ag_err(err, AG_ERR_NOMEM, "%s: out of memory",
				      q->path);
		}
		ids[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	if (src != SQLITE_DONE) {
		free(ids);
		return sq_fail(q, c->db, src, "list grants", err);
	}
	size_t before = out->n;
	rc = AG_OK;
	for (size_t i = 0; rc == AG_OK && i < n; i++) {
		if ((rc = AG_GROW(out->v, out->alloc, out->n + 1))) {
			rc = ag_err(err, rc, "%s: out of memory", q->path);
			break;
		}
		rc = sq_tx_grant_get(tx, (uint64_t)ids[i], &out->v[out->n],
				     err);
		if (rc == AG_OK)
			out->n++;
	}
	free(ids);
	if (rc != AG_OK) {
		for (size_t i = before; i < out->n; i++)
			ag_grant_release(&out->v[i]);
		out->n = before;
	}
	return rc;
}

static ag_code sq_tx_grant_find(struct ag_store_tx *tx, const char *account,
				const char *workflow, const char *host,
				int64_t now, uint64_t *id, struct ag_error *err)
{
	struct sq *q = tx->q;
	struct sq_conn *c = tx->c;
	sqlite3_stmt *st;
	ag_code rc;

	*id = 0;
	if ((rc = sq_stmt(q, c, ST_GRANT_FIND, &st, err)) ||
	    (rc = bind_text(q, c, st, 1, account, err)) ||
	    (rc = bind_text(q, c, st, 2, workflow, err)) ||
	    (rc = bind_opt_text(q, c, st, 3, host, err)) ||
	    (rc = bind_int(q, c, st, 4, now, err)))
		return rc;
	int src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		*id = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (src != SQLITE_ROW && src != SQLITE_DONE)
		return sq_fail(q, c->db, src, "look for a grant", err);
	return AG_OK;
}

static ag_code sq_tx_enroll_list(struct ag_store_tx *tx, const char *account,
				 size_t max, struct ag_enrolments *out,
				 struct ag_error *err)
{
	return sq_list_on(tx->q, tx->c, account, max, out, err);
}

static ag_code sq_tx_enroll_del(struct ag_store_tx *tx, const char *account,
				const char *method, const char *label,
				struct ag_error *err)
{
	struct sq *q = tx->q;
	struct sq_conn *c = tx->c;
	sqlite3_stmt *st;
	ag_code rc;

	if ((rc = sq_stmt(q, c, ST_DEL_ENROL, &st, err)) ||
	    (rc = bind_text(q, c, st, 1, account, err)) ||
	    (rc = bind_text(q, c, st, 2, method, err)) ||
	    (rc = bind_text(q, c, st, 3, label, err)) ||
	    (rc = sq_done(q, c, st, "remove an enrolment", err)))
		return rc;
	if (sqlite3_changes(c->db) != 1)
		return ag_err(err, AG_ERR_INTERNAL,
			      "%s: the enrolment to remove vanished", q->path);
	return AG_OK;
}

static ag_code sq_tx_grant_tally(struct ag_store_tx *tx, int64_t now,
				 int64_t pending_max, size_t max,
				 struct ag_grant_tallies *out,
				 struct ag_error *err)
{
	struct sq *q = tx->q;
	struct sq_conn *c = tx->c;
	sqlite3_stmt *st;
	size_t before = out->n;
	ag_code rc;
	int src;

	if ((rc = sq_stmt(q, c, ST_GRANT_TALLY, &st, err)) ||
	    (rc = bind_int(q, c, st, 1, now, err)) ||
	    (rc = bind_int(q, c, st, 2, pending_max, err)) ||
	    (rc = bind_int(q, c, st, 3, (int64_t)max + 1, err)))
		return rc;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *wf = sqlite3_column_text(st, 0);
		if (out->n - before >= max) {
			rc = ag_err(err, AG_ERR_LIMIT,
				    "%s: open grants of more than %zu "
				    "workflows",
				    q->path, max);
			break;
		}
		if (AG_GROW(out->v, out->alloc, out->n + 1)) {
			rc = ag_err(err, AG_ERR_NOMEM, "%s: out of memory",
				    q->path);
			break;
		}
		struct ag_grant_tally *t = &out->v[out->n];
		memset(t, 0, sizeof(*t));
		if (!wf || !(t->workflow = ag_strdup((const char *)wf))) {
			rc = ag_err(err, AG_ERR_NOMEM, "%s: out of memory",
				    q->path);
			break;
		}
		t->break_glass = sqlite3_column_int64(st, 1) != 0;
		t->pending = (uint64_t)sqlite3_column_int64(st, 2);
		t->active = (uint64_t)sqlite3_column_int64(st, 3);
		out->n++;
	}
	sqlite3_reset(st);
	if (rc == AG_OK && src != SQLITE_DONE)
		rc = sq_fail(q, c->db, src, "count open grants", err);
	if (rc != AG_OK) {
		for (size_t i = before; i < out->n; i++)
			free(out->v[i].workflow);
		out->n = before;
	}
	return rc;
}

static ag_code sq_tx_token_used(struct ag_store_tx *tx, const char *token_key,
				bool *used, struct ag_error *err)
{
	sqlite3_stmt *st;
	ag_code rc;
	if ((rc = sq_stmt(tx->q, tx->c, ST_TOKEN_USED, &st, err)) ||
	    (rc = bind_text(tx->q, tx->c, st, 1, token_key, err)))
		return rc;
	return sq_exists(tx->q, tx->c, st, "look for a used token", used,
			 err);
}

static ag_code sq_tx_approval_add(struct ag_store_tx *tx, uint64_t id,
				  const char *approver, const char *token_key,
				  int64_t now, struct ag_error *err)
{
	sqlite3_stmt *st;
	ag_code rc;
	if ((rc = sq_stmt(tx->q, tx->c, ST_APPROVAL_ADD, &st, err)) ||
	    (rc = bind_int(tx->q, tx->c, st, 1, (int64_t)id, err)) ||
	    (rc = bind_text(tx->q, tx->c, st, 2, approver, err)) ||
	    (rc = bind_text(tx->q, tx->c, st, 3, token_key, err)) ||
	    (rc = bind_int(tx->q, tx->c, st, 4, now, err)))
		return rc;
	return sq_done(tx->q, tx->c, st, "record an approval", err);
}

/* ---- the SQLite backend: machine identities ---------------------------- */

static const char *const nhi_status_text[] = {"active", "disabled",
					      "retired"};
static const char *const owner_status_text[] = {"unknown", "active",
						"offboarded"};

/* Largest stored list (JSON text) read back. */
#define NHI_LIST_TEXT_MAX (4u * 1024u * 1024u)

static ag_code bind_bool(struct sq *q, struct sq_conn *c, sqlite3_stmt *st,
			 int i, bool v, struct ag_error *err)
{
	return bind_int(q, c, st, i, v ? 1 : 0, err);
}

/* A list as JSON text, or NULL (bound as NULL) when not known. */
static ag_code bind_list(struct sq *q, struct sq_conn *c, sqlite3_stmt *st,
			 int i, const struct ag_nhi_list *l,
			 struct ag_error *err)
{
	if (!l->known)
		return bind_opt_text(q, c, st, i, NULL, err);
	json_t *a = json_array();
	for (size_t k = 0; a && k < l->n; k++)
		if (json_array_append_new(a, json_string(l->v[k]))) {
			json_decref(a);
			a = NULL;
		}
	char *txt = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	if (!txt)
		return ag_err(err, AG_ERR_NOMEM, "%s: out of memory", q->path);
	ag_code rc = bind_text(q, c, st, i, txt, err);
	free(txt);
	return rc;
}

/* Binds a record's fields as ?5 .. ?24 (the order of NHI_FIELDS). */
static ag_code bind_nhi(struct sq *q, struct sq_conn *c, sqlite3_stmt *st,
			const struct ag_nhi *r, struct ag_error *err)
{
	ag_code rc;
	const char *os = r->owner_status_given &&
					 r->owner_status <
						 AG_ARRAY_SIZE(owner_status_text)
				 ? owner_status_text[r->owner_status]
				 : NULL;
	if (r->status >= AG_ARRAY_SIZE(nhi_status_text))
		return ag_err(err, AG_ERR_INTERNAL, "%s: a record status of %d",
			      q->path, r->status);
	if ((rc = bind_text(q, c, st, 5, r->kind, err)) ||
	    (rc = bind_text(q, c, st, 6, nhi_status_text[r->status], err)) ||
	    (rc = bind_opt_text(q, c, st, 7, r->owner, err)) ||
	    (rc = bind_opt_text(q, c, st, 8, os, err)) ||
	    (rc = bind_opt_text(q, c, st, 9, r->team, err)) ||
	    (rc = bind_opt_text(q, c, st, 10, r->purpose, err)) ||
	    (rc = bind_opt_text(q, c, st, 11, r->workflow, err)) ||
	    (rc = bind_opt_text(q, c, st, 12, r->thumbprint, err)) ||
	    (rc = bind_time(q, c, st, 13, r->created, err)) ||
	    (rc = bind_time(q, c, st, 14, r->expires, err)) ||
	    (rc = bind_time(q, c, st, 15, r->last_rotated, err)) ||
	    (rc = bind_time(q, c, st, 16, r->last_used, err)) ||
	    (rc = bind_bool(q, c, st, 17, r->never_used, err)) ||
	    (rc = bind_bool(q, c, st, 18, r->interactive, err)) ||
	    (rc = bind_time(q, c, st, 19, r->last_interactive, err)) ||
	    (rc = bind_bool(q, c, st, 20, r->root, err)) ||
	    (rc = bind_list(q, c, st, 21, &r->scopes, err)) ||
	    (rc = bind_list(q, c, st, 22, &r->used_scopes, err)) ||
	    (rc = bind_list(q, c, st, 23, &r->environments, err)) ||
	    (rc = bind_list(q, c, st, 24, &r->used_by, err)))
		return rc;
	return AG_OK;
}

static ag_code nhi_damaged(const struct sq *q, const char *id,
			   const char *what, struct ag_error *err)
{
	return ag_err(err, AG_ERR_INVALID,
		      "%s: machine identity '%.200s': the stored %s is "
		      "damaged",
		      q->path, id ? id : "?", what);
}

/* An optional text column: NULL stays NULL. */
static ag_code col_opt_text(struct sq *q, sqlite3_stmt *st, int i,
			    size_t max, char **out, struct ag_error *err)
{
	*out = NULL;
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return AG_OK;
	return col_text(q, st, i, max, out, NULL, err);
}

/* A list column: NULL is "not known", else a JSON array of strings. */
static ag_code col_list(struct sq *q, sqlite3_stmt *st, int i,
			const char *id, struct ag_nhi_list *l,
			struct ag_error *err)
{
	char *txt = NULL;
	size_t n = 0;
	ag_code rc;

	memset(l, 0, sizeof(*l));
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return AG_OK;
	if ((rc = col_text(q, st, i, NHI_LIST_TEXT_MAX, &txt, &n, err)))
		return rc;
	json_t *a = json_loadb(txt, n, JSON_REJECT_DUPLICATES, NULL);
	free(txt);
	if (!json_is_array(a) || json_array_size(a) > AG_NHI_MAX_LIST) {
		json_decref(a);
		return nhi_damaged(q, id, sqlite3_column_name(st, i), err);
	}
	l->known = true;
	size_t count = json_array_size(a);
	if (count && !(l->v = calloc(count, sizeof(*l->v)))) {
		json_decref(a);
		return ag_err(err, AG_ERR_NOMEM, "%s: out of memory", q->path);
	}
	for (size_t k = 0; k < count; k++) {
		json_t *e = json_array_get(a, k);
		const char *s = json_string_value(e);
		if (!s || strlen(s) != json_string_length(e) ||
		    json_string_length(e) > AG_STORE_NHI_ID_MAX) {
			json_decref(a);
			return nhi_damaged(q, id, sqlite3_column_name(st, i),
					   err);
		}
		if (!(l->v[l->n] = ag_strdup(s))) {
			json_decref(a);
			return ag_err(err, AG_ERR_NOMEM, "%s: out of memory",
				      q->path);
		}
		l->n++;
	}
	json_decref(a);
	return AG_OK;
}

static bool text_index(const unsigned char *t, const char *const *names,
		       size_t n, uint8_t *out)
{
	for (size_t i = 0; t && i < n; i++)
		if (!strcmp((const char *)t, names[i])) {
			*out = (uint8_t)i;
			return true;
		}
	return false;
}

/* Reads a row of NHI_COLS into rec and v. */
static ag_code read_nhi_row(struct sq *q, sqlite3_stmt *st, struct ag_nhi *r,
			    struct ag_store_nhi_version *v,
			    struct ag_error *err)
{
	char *issuer = NULL;
	ag_code rc;

	memset(r, 0, sizeof(*r));
	memset(v, 0, sizeof(*v));
	r->method = -1;
	r->workflow_idx = -1;
	if ((rc = col_text(q, st, 0, AG_STORE_NHI_TEXT_MAX, &issuer, NULL,
			   err)) ||
	    (rc = col_text(q, st, 1, AG_STORE_NHI_ID_MAX, &r->id, NULL, err)))
		goto fail;
	if (*issuer)
		r->issuer = issuer;
	else
		free(issuer);
	issuer = NULL;
	int64_t version = sqlite3_column_int64(st, 2);
	if (version < 1 || version >= UINT32_MAX) {
		rc = nhi_damaged(q, r->id, "version", err);
		goto fail;
	}
	v->version = (uint32_t)version;
	v->current = sqlite3_column_int64(st, 3) == 1;
	v->imported = sqlite3_column_int64(st, 4);
	v->updated = sqlite3_column_int64(st, 5);
	v->retired = sqlite3_column_int64(st, 6);
	if ((rc = col_text(q, st, 7, AG_STORE_METHOD_MAX, &r->kind, NULL,
			   err)))
		goto fail;
	if (!text_index(sqlite3_column_text(st, 8), nhi_status_text,
			AG_ARRAY_SIZE(nhi_status_text), &r->status)) {
		rc = nhi_damaged(q, r->id, "status", err);
		goto fail;
	}
	if ((rc = col_opt_text(q, st, 9, AG_STORE_NHI_ID_MAX, &r->owner,
			       err)))
		goto fail;
	if (sqlite3_column_type(st, 10) != SQLITE_NULL) {
		if (!text_index(sqlite3_column_text(st, 10), owner_status_text,
				AG_ARRAY_SIZE(owner_status_text),
				&r->owner_status)) {
			rc = nhi_damaged(q, r->id, "owner_status", err);
			goto fail;
		}
		r->owner_status_given = true;
	}
	if ((rc = col_opt_text(q, st, 11, AG_STORE_NHI_TEXT_MAX, &r->team,
			       err)) ||
	    (rc = col_opt_text(q, st, 12, AG_STORE_NHI_TEXT_MAX, &r->purpose,
			       err)) ||
	    (rc = col_opt_text(q, st, 13, AG_STORE_NHI_TEXT_MAX, &r->workflow,
			       err)) ||
	    (rc = col_opt_text(q, st, 14, AG_STORE_NHI_TEXT_MAX,
			       &r->thumbprint, err)))
		goto fail;
	r->created = sqlite3_column_int64(st, 15);
	r->expires = sqlite3_column_int64(st, 16);
	r->last_rotated = sqlite3_column_int64(st, 17);
	r->last_used = sqlite3_column_int64(st, 18);
	r->never_used = sqlite3_column_int64(st, 19) != 0;
	r->interactive = sqlite3_column_int64(st, 20) != 0;
	r->last_interactive = sqlite3_column_int64(st, 21);
	r->root = sqlite3_column_int64(st, 22) != 0;
	if ((rc = col_list(q, st, 23, r->id, &r->scopes, err)) ||
	    (rc = col_list(q, st, 24, r->id, &r->used_scopes, err)) ||
	    (rc = col_list(q, st, 25, r->id, &r->environments, err)) ||
	    (rc = col_list(q, st, 26, r->id, &r->used_by, err)))
		goto fail;
	return AG_OK;
fail:
	free(issuer);
	ag_nhi_release(r);
	r->method = -1;
	r->workflow_idx = -1;
	return rc;
}

static ag_code sq_tx_nhi_get(struct ag_store_tx *tx, const char *issuer,
			     const char *id, struct ag_nhi *rec,
			     struct ag_store_nhi_version *v, bool *found,
			     struct ag_error *err)
{
	struct sq *q = tx->q;
	struct sq_conn *c = tx->c;
	sqlite3_stmt *st;
	ag_code rc;

	*found = false;
	if ((rc = sq_stmt(q, c, ST_NHI_GET, &st, err)) ||
	    (rc = bind_text(q, c, st, 1, issuer, err)) ||
	    (rc = bind_text(q, c, st, 2, id, err)))
		return rc;
	int src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		rc = read_nhi_row(q, st, rec, v, err);
		*found = rc == AG_OK;
	}
	sqlite3_reset(st);
	if (src != SQLITE_ROW && src != SQLITE_DONE)
		return sq_fail(q, c->db, src, "read a machine identity", err);
	return rc;
}

static ag_code nhi_write(struct ag_store_tx *tx, enum stmt_id id,
			 const struct ag_nhi *r, uint32_t version, int64_t now,
			 const char *doing, struct ag_error *err)
{
	struct sq *q = tx->q;
	struct sq_conn *c = tx->c;
	sqlite3_stmt *st;
	ag_code rc;

	if ((rc = sq_stmt(q, c, id, &st, err)) ||
	    (rc = bind_text(q, c, st, 1, r->issuer ? r->issuer : "", err)) ||
	    (rc = bind_text(q, c, st, 2, r->id, err)) ||
	    (rc = bind_int(q, c, st, 3, version, err)) ||
	    (rc = bind_int(q, c, st, 4, now, err)) ||
	    (rc = bind_nhi(q, c, st, r, err)) ||
	    (rc = sq_done(q, c, st, doing, err)))
		return rc;
	if (sqlite3_changes(c->db) != 1)
		return ag_err(err, AG_ERR_INTERNAL,
			      "%s: machine identity '%.200s' version %u "
			      "vanished",
			      q->path, r->id, version);
	return AG_OK;
}

static ag_code sq_tx_nhi_insert(struct ag_store_tx *tx,
				const struct ag_nhi *rec, uint32_t version,
				int64_t now, struct ag_error *err)
{
	return nhi_write(tx, ST_NHI_INSERT, rec, version, now,
			 "record a machine identity", err);
}

static ag_code sq_tx_nhi_update(struct ag_store_tx *tx,
				const struct ag_nhi *rec, uint32_t version,
				int64_t now, struct ag_error *err)
{
	return nhi_write(tx, ST_NHI_UPDATE, rec, version, now,
			 "update a machine identity", err);
}

static ag_code sq_tx_nhi_retire(struct ag_store_tx *tx, const char *issuer,
				const char *id, uint32_t version, int64_t when,
				int64_t now, struct ag_error *err)
{
	struct sq *q = tx->q;
	struct sq_conn *c = tx->c;
	sqlite3_stmt *st;
	ag_code rc;

	if ((rc = sq_stmt(q, c, ST_NHI_RETIRE, &st, err)) ||
	    (rc = bind_text(q, c, st, 1, issuer, err)) ||
	    (rc = bind_text(q, c, st, 2, id, err)) ||
	    (rc = bind_int(q, c, st, 3, version, err)) ||
	    (rc = bind_int(q, c, st, 4, when, err)) ||
	    (rc = bind_int(q, c, st, 5, now, err)) ||
	    (rc = sq_done(q, c, st, "retire a machine identity", err)))
		return rc;
	if (sqlite3_changes(c->db) != 1)
		return ag_err(err, AG_ERR_INTERNAL,
			      "%s: machine identity '%.200s' version %u "
			      "vanished",
			      q->path, id, version);
	return AG_OK;
}

static ag_code sq_tx_nhi_list(struct ag_store_tx *tx, bool all, size_t max,
			      struct ag_store_nhi_list *out,
			      struct ag_error *err)
{
	struct sq *q = tx->q;
	struct sq_conn *c = tx->c;
	sqlite3_stmt *st;
	size_t got = 0;
	ag_code rc;
	int src;

	if ((rc = sq_stmt(q, c, all ? ST_NHI_LIST_ALL : ST_NHI_LIST_CURRENT,
			  &st, err)) ||
	    (rc = bind_int(q, c, st, 1, (int64_t)max + 1, err)))
		return rc;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if (++got > max) {
			sqlite3_reset(st);
			return ag_err(err, AG_ERR_LIMIT,
				      "%s: more than %zu machine identities",
				      q->path, max);
		}
		if (AG_GROW(out->v, out->alloc, out->n + 1)) {
			sqlite3_reset(st);
			return ag_err(err, AG_ERR_NOMEM, "%s: out of memory",
				      q->path);
		}
		struct ag_store_nhi_entry *e = &out->v[out->n];
		if ((rc = read_nhi_row(q, st, &e->rec, &e->v, err))) {
			sqlite3_reset(st);
			return rc;
		}
		out->n++;
	}
	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		return sq_fail(q, c->db, src, "list machine identities", err);
	return AG_OK;
}

/* Reads a row of (id, team, status) into o. */
static ag_code read_owner_row(struct sq *q, sqlite3_stmt *st,
			      struct ag_nhi_owner *o, struct ag_error *err)
{
	ag_code rc;
	memset(o, 0, sizeof(*o));
	if ((rc = col_text(q, st, 0, AG_STORE_NHI_ID_MAX, &o->id, NULL,
			   err)) ||
	    (rc = col_opt_text(q, st, 1, AG_STORE_NHI_TEXT_MAX, &o->team,
			       err)))
		goto fail;
	if (!text_index(sqlite3_column_text(st, 2), owner_status_text,
			AG_ARRAY_SIZE(owner_status_text), &o->status) ||
	    o->status == AG_OWNER_UNKNOWN) {
		rc = ag_err(err, AG_ERR_INVALID,
			    "%s: owner '%.200s': the stored status is "
			    "damaged",
			    q->path, o->id);
		goto fail;
	}
	return AG_OK;
fail:
	free(o->id);
	free(o->team);
	memset(o, 0, sizeof(*o));
	return rc;
}

static ag_code sq_tx_owner_get(struct ag_store_tx *tx, const char *id,
			       struct ag_nhi_owner *out, bool *found,
			       struct ag_error *err)
{
	struct sq *q = tx->q;
	struct sq_conn *c = tx->c;
	sqlite3_stmt *st;
	ag_code rc;

	*found = false;
	memset(out, 0, sizeof(*out));
	if ((rc = sq_stmt(q, c, ST_OWNER_GET, &st, err)) ||
	    (rc = bind_text(q, c, st, 1, id, err)))
		return rc;
	int src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		rc = read_owner_row(q, st, out, err);
		*found = rc == AG_OK;
	}
	sqlite3_reset(st);
	if (src != SQLITE_ROW && src != SQLITE_DONE)
		return sq_fail(q, c->db, src, "read an owner", err);
	return rc;
}

static ag_code sq_tx_owner_put(struct ag_store_tx *tx,
			       const struct ag_nhi_owner *o, int64_t now,
			       struct ag_error *err)
{
	struct sq *q = tx->q;
	struct sq_conn *c = tx->c;
	sqlite3_stmt *st;
	ag_code rc;

	if (o->status != AG_OWNER_ACTIVE && o->status != AG_OWNER_OFFBOARDED)
		return ag_err(err, AG_ERR_INTERNAL, "%s: an owner status of %d",
			      q->path, o->status);
	if ((rc = sq_stmt(q, c, ST_OWNER_PUT, &st, err)) ||
	    (rc = bind_text(q, c, st, 1, o->id, err)) ||
	    (rc = bind_opt_text(q, c, st, 2, o->team, err)) ||
	    (rc = bind_text(q, c, st, 3, owner_status_text[o->status], err)) ||
	    (rc = bind_int(q, c, st, 4, now, err)))
		return rc;
	return sq_done(q, c, st, "record an owner", err);
}

static ag_code sq_tx_owner_list(struct ag_store_tx *tx, size_t max,
				struct ag_store_nhi_list *out,
				struct ag_error *err)
{
	struct sq *q = tx->q;
	struct sq_conn *c = tx->c;
	sqlite3_stmt *st;
	size_t got = 0;
	ag_code rc;
	int src;

	if ((rc = sq_stmt(q, c, ST_OWNER_LIST, &st, err)) ||
	    (rc = bind_int(q, c, st, 1, (int64_t)max + 1, err)))
		return rc;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if (++got > max) {
			sqlite3_reset(st);
			return ag_err(err, AG_ERR_LIMIT,
				      "%s: more than %zu owners", q->path,
				      max);
		}
		if (AG_GROW(out->owners, out->owners_alloc,
			    out->n_owners + 1)) {
			sqlite3_reset(st);
			return ag_err(err, AG_ERR_NOMEM, "%s: out of memory",
				      q->path);
		}
		if ((rc = read_owner_row(q, st, &out->owners[out->n_owners],
					 err))) {
			sqlite3_reset(st);
			return rc;
		}
		out->n_owners++;
	}
	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		return sq_fail(q, c->db, src, "list owners", err);
	return AG_OK;
}

static const struct ag_store_ops sqlite_ops = {
	.name = "sqlite",
	.enroll_add = sq_enroll_add,
	.enroll_list = sq_enroll_list,
	.journal_drain = sq_journal_drain,
	.journal_pending = sq_journal_pending,
	.close = sq_close,
	.tx_begin = sq_tx_begin,
	.tx_commit = sq_tx_commit,
	.tx_abort = sq_tx_abort,
	.tx_journal = sq_tx_journal,
	.tx_code_get = sq_tx_code_get,
	.tx_code_put = sq_tx_code_put,
	.tx_account_get = sq_tx_account_get,
	.tx_account_mark = sq_tx_account_mark,
	.tx_break_glass_list = sq_tx_break_glass_list,
	.tx_account_ial_get = sq_tx_account_ial_get,
	.tx_account_ial_set = sq_tx_account_ial_set,
	.tx_address_list = sq_tx_address_list,
	.tx_address_put = sq_tx_address_put,
	.tx_grant_insert = sq_tx_grant_insert,
	.tx_grant_get = sq_tx_grant_get,
	.tx_grant_update = sq_tx_grant_update,
	.tx_grant_list = sq_tx_grant_list,
	.tx_grant_find = sq_tx_grant_find,
	.tx_grant_tally = sq_tx_grant_tally,
	.tx_enroll_list = sq_tx_enroll_list,
	.tx_enroll_del = sq_tx_enroll_del,
	.tx_token_used = sq_tx_token_used,
	.tx_approval_add = sq_tx_approval_add,
	.tx_nhi_get = sq_tx_nhi_get,
	.tx_nhi_insert = sq_tx_nhi_insert,
	.tx_nhi_update = sq_tx_nhi_update,
	.tx_nhi_retire = sq_tx_nhi_retire,
	.tx_nhi_list = sq_tx_nhi_list,
	.tx_owner_get = sq_tx_owner_get,
	.tx_owner_put = sq_tx_owner_put,
	.tx_owner_list = sq_tx_owner_list,
};

/* ---- the SQLite backend: opening --------------------------------------- */

/* Runs SQL that returns at most one text value (a PRAGMA). */
static ag_code sq_exec1(struct sq *q, sqlite3 *db, const char *sql,
			const char *doing, char *val, size_t val_len,
			struct ag_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (val && val_len)
		val[0] = '\0';
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const unsigned char *t = sqlite3_column_text(st, 0);
			if (val && t)
				ag_strlcpy(val, (const char *)t, val_len);
			rc = SQLITE_DONE;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK && rc != SQLITE_DONE)
		return sq_fail(q, db, rc, doing, err);
	return AG_OK;
}

/*
 * The file SQLite is to open: the directory part resolved (a directory
 * reached through a symbolic link, such as /var/run, is fine, and SQLite's
 * SQLITE_OPEN_NOFOLLOW refuses links anywhere in the name), the last part
 * as given, never followed.  *dir receives the resolved directory.
 */
static ag_code resolve(const char *path, char **file, char **dir,
		       struct ag_error *err)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	char *d = NULL, *real = NULL;
	struct ag_buf b;

	*file = *dir = NULL;
	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return ag_err(err, AG_ERR_USAGE, "%s: not a file name", path);
	if (!slash)
		d = ag_strdup(".");
	else if (slash == path)
		d = ag_strdup("/");
	else
		d = ag_strndup(path, (size_t)(slash - path));
	if (!d)
		return ag_err(err, AG_ERR_NOMEM, "%s: out of memory", path);
	real = realpath(d, NULL);
	if (!real) {
		ag_code rc = ag_err(err, errno == ENOMEM ? AG_ERR_NOMEM
							 : AG_ERR_IO,
				    "%s: cannot open: %s", path,
				    strerror(errno));
		free(d);
		return rc;
	}
	free(d);
	ag_buf_init(&b, PATH_MAX);
	ag_buf_adds(&b, real);
	if (strcmp(real, "/"))
		ag_buf_addc(&b, '/');
	ag_buf_adds(&b, base);
	if (b.failed) {
		ag_buf_release(&b);
		free(real);
		return ag_err(err, AG_ERR_LIMIT, "%s: path too long", path);
	}
	*file = b.data;
	*dir = real;
	return AG_OK;
}

/* Opens file the way security-relevant files are opened (no symbolic
 * link, a regular file, not writable by group or others, owned by this
 * user or root; root may open anyone's), creating it 0600 when writable;
 * records its identity so that the file SQLite opens next can be checked
 * to be the same. */
static ag_code check_file(const char *file, const char *shown, bool read_only,
			  struct stat *id, struct ag_error *err)
{
	int flags = O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
		    (read_only ? O_RDONLY : O_RDWR | O_CREAT);
	int fd = open(file, flags, 0600);
	struct stat st;
	ag_code rc = AG_ERR_IO;

	if (fd < 0) {
		if (errno == ELOOP)
			return ag_err(err, AG_ERR_IO, "%s: is a symbolic link; "
				      "refusing to follow it", shown);
		return ag_err(err, AG_ERR_IO, "%s: cannot open%s: %s", shown,
			      read_only ? "" : " for writing", strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		ag_err(err, AG_ERR_IO, "%s: cannot stat: %s", shown,
		       strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		ag_err(err, AG_ERR_IO, "%s: not a regular file", shown);
	} else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		rc = ag_err(err, AG_ERR_INVALID,
			    "%s: writable by group or others (mode %04o); "
			    "make it 0600",
			    shown, (unsigned)(st.st_mode & 07777));
	} else if (geteuid() != 0 && st.st_uid != geteuid() &&
		   st.st_uid != 0) {
		rc = ag_err(err, AG_ERR_INVALID,
			    "%s: owned by uid %u, not by this user (uid %u) "
			    "or root",
			    shown, (unsigned)st.st_uid, (unsigned)geteuid());
	} else {
		*id = st;
		rc = AG_OK;
	}
	/* Closed before SQLite opens the file: closing any descriptor of a
	 * file drops every POSIX lock this process holds on it, SQLite's
	 * included. */
	close(fd);
	return rc;
}

/* The directory must not let others swap files in it (the database, its
 * -wal and -shm), unless it is sticky. */
static ag_code check_dir(const char *dir, struct ag_error *err)
{
	struct stat st;

	if (stat(dir, &st) < 0)
		return ag_err(err, AG_ERR_IO, "%s: cannot stat: %s", dir,
			      strerror(errno));
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
		return ag_err(err, AG_ERR_INVALID,
			      "%s: the state's directory is writable by group "
			      "or others (mode %04o); others could replace "
			      "its files",
			      dir, (unsigned)(st.st_mode & 07777));
	return AG_OK;
}

static ag_code sq_connect(struct sq *q, struct sq_conn *c,
			  struct ag_error *err)
{
	int flags = (q->read_only ? SQLITE_OPEN_READONLY
				  : SQLITE_OPEN_READWRITE) |
		    SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX |
		    SQLITE_OPEN_PRIVATECACHE;
	int rc = sqlite3_open_v2(q->file, &c->db, flags, NULL);
	ag_code r;

	if (rc != SQLITE_OK) {
		if (!c->db)
			return ag_err(err, AG_ERR_NOMEM, "%s: out of memory",
				      q->path);
		return sq_fail(q, c->db, rc, "open the state", err);
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, (int)q->busy_ms);
	/* No schema tricks from a hostile file: defensive mode refuses
	 * writable_schema and the like; untrusted schema cannot call
	 * functions with side effects. */
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, NULL);
	if ((r = sq_exec1(q, c->db, "PRAGMA foreign_keys = ON",
			  "open the state", NULL, 0, err)) ||
	    (r = sq_exec1(q, c->db, "PRAGMA synchronous = FULL",
			  "open the state", NULL, 0, err)))
		return r;
	if (q->read_only &&
	    (r = sq_exec1(q, c->db, "PRAGMA query_only = ON",
			  "open the state", NULL, 0, err)))
		return r;
	return AG_OK;
}

/* WAL, retried while another process holds the lock that changing the
 * journal mode needs (the busy handler does not cover every case). */
static ag_code sq_wal(struct sq *q, sqlite3 *db, struct ag_error *err)
{
	char mode[32];
	unsigned waited = 0;
	struct ag_error e;
	ag_code rc;

	for (;;) {
		ag_error_init(&e);
		rc = sq_exec1(q, db, "PRAGMA journal_mode = WAL",
			      "switch to WAL", mode, sizeof(mode), &e);
		if (rc == AG_OK && !strcmp(mode, "wal"))
			return AG_OK;
		/* Only a lock is worth waiting for. */
		if ((rc != AG_OK && rc != AG_ERR_IO) || waited >= q->busy_ms)
			break;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
		waited += 10;
	}
	if (rc != AG_OK)
		return ag_err(err, rc, "%s", e.msg);
	return ag_err(err, AG_ERR_IO,
		      "%s: cannot switch the state to WAL (journal mode "
		      "stays '%s')",
		      q->path, mode);
}

/* The schema's version: the highest row of schema_version, 0 for an empty
 * database.  An SQLite database that holds other tables and no
 * schema_version is not ours. */
static ag_code sq_version(struct sq *q, sqlite3 *db, int *version,
			  struct ag_error *err)
{
	char v[32];
	ag_code rc;

	*version = 0;
	rc = sq_exec1(q, db,
		      "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
		      "AND name = 'schema_version'",
		      "read the schema version", v, sizeof(v), err);
	if (rc)
		return rc;
	if (!strcmp(v, "0")) {
		rc = sq_exec1(q, db,
			      "SELECT count(*) FROM sqlite_master "
			      "WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
			      "read the schema", v, sizeof(v), err);
		if (rc)
			return rc;
		if (strcmp(v, "0"))
			return ag_err(err, AG_ERR_INVALID,
				      "%s: an SQLite database, but not an "
				      "aalgate state store (it has no "
				      "schema_version)",
				      q->path);
		return AG_OK;
	}
	rc = sq_exec1(q, db, "SELECT coalesce(max(version), 0) "
			     "FROM schema_version",
		      "read the schema version", v, sizeof(v), err);
	if (rc)
		return rc;
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (!v[0] || *end || errno || n < 0 || n > INT_MAX)
		return ag_err(err, AG_ERR_INVALID,
			      "%s: the schema version '%s' is not a number",
			      q->path, v);
	*version = (int)n;
	return AG_OK;
}

static ag_code sq_too_new(struct sq *q, int version, struct ag_error *err)
{
	return ag_err(err, AG_ERR_INVALID,
		      "%s: schema version %d is newer than this aalgate "
		      "knows (%d); use aalgate %s or later, or the release "
		      "that wrote it",
		      q->path, version, SCHEMA_VERSION, AG_VERSION);
}

/* Brings the schema up to date: each migration in its own IMMEDIATE
 * transaction, so that two processes opening a new file at once apply
 * each step once. */
static ag_code sq_migrate(struct sq *q, struct sq_conn *c,
			  struct ag_error *err)
{
	char sql[128], doing[64];
	int version;
	ag_code rc;

	for (;;) {
		if ((rc = sq_exec1(q, c->db, "BEGIN IMMEDIATE",
				   "begin a migration", NULL, 0, err)))
			return rc;
		if ((rc = sq_version(q, c->db, &version, err)))
			goto fail;
		if (version > SCHEMA_VERSION) {
			rc = sq_too_new(q, version, err);
			goto fail;
		}
		if (version == SCHEMA_VERSION)
			return sq_exec1(q, c->db, "COMMIT", "commit", NULL, 0,
					err);
		snprintf(doing, sizeof(doing), "migrate to schema version %d",
			 version + 1);
		if (version == 0 &&
		    (rc = sq_exec1(q, c->db,
				   "CREATE TABLE schema_version ("
				   "  version INTEGER PRIMARY KEY NOT NULL,"
				   "  applied INTEGER NOT NULL)",
				   doing, NULL, 0, err)))
			goto fail;
		char *emsg = NULL;
		int src = sqlite3_exec(c->db, migrations[version], NULL, NULL,
				       &emsg);
		sqlite3_free(emsg);
		if (src != SQLITE_OK) {
			rc = sq_fail(q, c->db, src, doing, err);
			goto fail;
		}
		snprintf(sql, sizeof(sql),
			 "INSERT INTO schema_version VALUES (%d, %lld)",
			 version + 1, (long long)time(NULL));
		if ((rc = sq_exec1(q, c->db, sql, doing, NULL, 0, err)) ||
		    (rc = sq_exec1(q, c->db, "COMMIT", doing, NULL, 0, err)))
			goto fail;
	}
fail:
	if (!sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static ag_code sq_read_id(struct sq *q, struct ag_store *s, sqlite3 *db,
			  struct ag_error *err)
{
	char id[64];
	ag_code rc = sq_exec1(q, db,
			      "SELECT value FROM meta WHERE key = 'store_id'",
			      "read the store id", id, sizeof(id), err);
	if (rc)
		return rc;
	bool ok = strlen(id) == AG_STORE_ID_LEN;
	for (size_t i = 0; ok && i < AG_STORE_ID_LEN; i++)
		ok = (id[i] >= '0' && id[i] <= '9') ||
		     (id[i] >= 'a' && id[i] <= 'f');
	if (!ok)
		return ag_err(err, AG_ERR_INVALID,
			      "%s: the store id is missing or damaged",
			      q->path);
	memcpy(s->id, id, AG_STORE_ID_LEN + 1);
	return AG_OK;
}

ag_code ag_store_sqlite_open(struct ag_store *s, const char *path,
			     const struct ag_store_opts *o,
			     struct ag_error *err)
{
	struct sq *q = calloc(1, sizeof(*q));
	struct stat id = {0}, now;
	char *dir = NULL;
	ag_code rc;

	if (!q)
		return ag_err(err, AG_ERR_NOMEM, "%s: out of memory", path);
	q->path = s->path;
	q->read_only = o->read_only;
	q->busy_ms = o->busy_ms;
	q->n = o->connections;
	if (pthread_mutex_init(&q->mu, NULL) != 0) {
		free(q);
		return ag_err(err, AG_ERR_INTERNAL, "%s: cannot make a mutex",
			      path);
	}
	if (pthread_cond_init(&q->cv, NULL) != 0) {
		pthread_mutex_destroy(&q->mu);
		free(q);
		return ag_err(err, AG_ERR_INTERNAL,
			      "%s: cannot make a condition variable", path);
	}
	q->sync_ok = true;
	if (!(q->conns = calloc(q->n, sizeof(*q->conns)))) {
		rc = ag_err(err, AG_ERR_NOMEM, "%s: out of memory", path);
		goto fail;
	}
	if ((rc = resolve(path, &q->file, &dir, err)) ||
	    (rc = check_dir(dir, err)) ||
	    (rc = check_file(q->file, path, o->read_only, &id, err)))
		goto fail;
	if ((rc = sq_connect(q, &q->conns[0], err)))
		goto fail;
	/* The file SQLite opened (without following links) is the one we
	 * checked: nobody swapped it in between. */
	if (lstat(q->file, &now) < 0 || now.st_dev != id.st_dev ||
	    now.st_ino != id.st_ino) {
		rc = ag_err(err, AG_ERR_IO, "%s: was replaced while opening",
			    path);
		goto fail;
	}
	if (o->read_only) {
		int v;
		if ((rc = sq_version(q, q->conns[0].db, &v, err)))
			goto fail;
		if (v > SCHEMA_VERSION) {
			rc = sq_too_new(q, v, err);
			goto fail;
		}
		if (v < SCHEMA_VERSION) {
			rc = ag_err(err, AG_ERR_INVALID,
				    "%s: schema version %d needs migrating to "
				    "%d; open it once for writing",
				    path, v, SCHEMA_VERSION);
			goto fail;
		}
	} else if ((rc = sq_wal(q, q->conns[0].db, err)) ||
		   (rc = sq_migrate(q, &q->conns[0], err))) {
		goto fail;
	}
	if ((rc = sq_read_id(q, s, q->conns[0].db, err)))
		goto fail;
	/* Every connection reads once now: that opens its -wal, which a
	 * process that drops privileges later might no longer be allowed
	 * to open. */
	for (unsigned i = 0; i < q->n; i++)
		if ((i > 0 && (rc = sq_connect(q, &q->conns[i], err))) ||
		    (rc = sq_exec1(q, q->conns[i].db,
				   "SELECT count(*) FROM meta",
				   "open the state", NULL, 0, err)))
			goto fail;
	for (unsigned i = 0; i < q->n; i++) {
		q->conns[i].next_free = q->free_list;
		q->free_list = &q->conns[i];
	}
	s->ops = &sqlite_ops;
	s->be = q;
	free(dir);
	return AG_OK;
fail:
	/* A file created here is left in place even when it could not be
	 * made a store: another process may have opened it meanwhile, and
	 * an empty file is an empty store to the next open. */
	sq_free(q);
	free(dir);
	return rc;
}

/* ---- watch: the detection engine's state (src/watch/engine-store.h) ---- */

#include "watch/engine-store.h"

/* Only the SQLite backend keeps watch state so far. */
static ag_code sq_watch_store(struct ag_store *s, struct ag_error *err)
{
	if (!s || s->ops != &sqlite_ops)
		return ag_err(err, AG_ERR_USAGE, "%s: this store keeps no "
						 "watch state",
			      s && s->path ? s->path : "store");
	return AG_OK;
}

/* Runs a prepared statement that returns no rows, and finalizes it. */
static ag_code sq_watch_done(struct ag_store_tx *tx, sqlite3_stmt *st, int rc,
			     const char *doing, struct ag_error *err)
{
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_DONE)
		rc = SQLITE_OK;
	ag_code r = rc == SQLITE_OK ? AG_OK
				    : sq_fail(tx->q, tx->c->db, rc, doing, err);
	sqlite3_finalize(st);
	return r;
}

ag_code ag_store_watch_begin(struct ag_store *s, struct ag_store_tx **tx,
			     struct ag_error *err)
{
	ag_code rc;

	*tx = NULL;
	if ((rc = sq_watch_store(s, err)) ||
	    (rc = sq_tx_begin(s, true, tx, err)))
		return rc;
	int src = sqlite3_exec((*tx)->c->db,
			       "DELETE FROM watch_state;"
			       "DELETE FROM watch_positions;",
			       NULL, NULL, NULL);
	if (src != SQLITE_OK) {
		rc = sq_fail((*tx)->q, (*tx)->c->db, src,
			     "replace the watch state", err);
		sq_tx_abort(*tx);
		*tx = NULL;
	}
	return rc;
}

ag_code ag_store_watch_chunk(struct ag_store_tx *tx, uint32_t seq,
			     const void *data, size_t len,
			     struct ag_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(tx->c->db,
				    "INSERT INTO watch_state (seq, data) "
				    "VALUES (?1, ?2)",
				    -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 1, seq);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_blob64(st, 2, data, len, SQLITE_STATIC);
	return sq_watch_done(tx, st, rc, "save the watch state", err);
}

ag_code ag_store_watch_pos(struct ag_store_tx *tx,
			   const struct ag_watch_pos *pos,
			   struct ag_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(tx->c->db,
				    "INSERT INTO watch_positions "
				    "(dev, ino, offset, tick) "
				    "VALUES (?1, ?2, ?3, ?4)",
				    -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 1, (sqlite3_int64)pos->dev);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, (sqlite3_int64)pos->ino);
	if (rc == SQLITE_OK)
		rc = pos->offset > INT64_MAX
			     ? SQLITE_RANGE
			     : sqlite3_bind_int64(st, 3,
						  (sqlite3_int64)pos->offset);
	if (rc == SQLITE_OK)
		rc = pos->tick > INT64_MAX
			     ? SQLITE_RANGE
			     : sqlite3_bind_int64(st, 4,
						  (sqlite3_int64)pos->tick);
	return sq_watch_done(tx, st, rc, "save the watch positions", err);
}

ag_code ag_store_watch_end(struct ag_store_tx *tx, bool commit,
			   struct ag_error *err)
{
	if (!commit) {
		sq_tx_abort(tx);
		return AG_OK;
	}
	return sq_tx_commit(tx, err);
}

ag_code ag_store_watch_read(struct ag_store *s, ag_store_watch_chunk_fn chunk,
			    ag_store_watch_pos_fn pos, void *arg,
			    struct ag_error *err)
{
	struct ag_store_tx *tx = NULL;
	sqlite3_stmt *st = NULL;
	ag_code rc;
	int src;

	if ((rc = sq_watch_store(s, err)) ||
	    (rc = sq_tx_begin(s, false, &tx, err)))
		return rc;
	src = sqlite3_prepare_v2(tx->c->db,
				 "SELECT data FROM watch_state ORDER BY seq",
				 -1, &st, NULL);
	while (rc == AG_OK && src == SQLITE_OK &&
	       (src = sqlite3_step(st)) == SQLITE_ROW) {
		const void *d = sqlite3_column_blob(st, 0);
		int n = sqlite3_column_bytes(st, 0);
		rc = chunk(arg, d ? d : "", n > 0 ? (size_t)n : 0, err);
		src = SQLITE_OK;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc == AG_OK && src != SQLITE_OK && src != SQLITE_DONE)
		rc = sq_fail(tx->q, tx->c->db, src, "read the watch state", err);
	if (rc == AG_OK)
		src = sqlite3_prepare_v2(tx->c->db,
					 "SELECT dev, ino, offset, tick "
					 "FROM watch_positions ORDER BY tick",
					 -1, &st, NULL);
	while (rc == AG_OK && src == SQLITE_OK &&
	       (src = sqlite3_step(st)) == SQLITE_ROW) {
		struct ag_watch_pos p = {
			(uint64_t)sqlite3_column_int64(st, 0),
			(uint64_t)sqlite3_column_int64(st, 1),
			(uint64_t)sqlite3_column_int64(st, 2),
			(uint64_t)sqlite3_column_int64(st, 3)};
		rc = pos(arg, &p, err);
		src = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc == AG_OK && src != SQLITE_OK && src != SQLITE_DONE)
		rc = sq_fail(tx->q, tx->c->db, src, "read the watch positions",
			     err);
	sq_tx_abort(tx);
	return rc;
}
