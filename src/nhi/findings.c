/*
 * The machine-identity findings AG-N01..AG-N09 (docs/nhi.md) and the
 * visibility score.  Only active records are judged or counted: a
 * disabled or retired credential cannot be used, and history is not
 * exposure.  Every age is compared with ">": a credential exactly at a
 * threshold is within it, one second past is not (and the whole-day
 * arithmetic of the tests, at midnight, makes that one day).
 *
 * A finding holds what was seen in words (its detail), so that every
 * report says the same thing; the reports add the identity, the fix and
 * the place it is written.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aalgate/nhi.h"
#include "util.h"
#include "banned.h"

/* Environment names that are production when the policy names none. */
static const char *const default_production[] = {"prod", "production",
						 "prd", "live"};

bool ag_nhi_overdue(int64_t now, int64_t since, int64_t limit, int64_t *days)
{
	if (!since || now - since <= limit)
		return false;
	*days = (now - since) / 86400;
	return true;
}

enum ag_severity ag_nhi_rule_severity(enum ag_rule r)
{
	switch (r) {
	case AG_N01:
	case AG_N03:
	case AG_N07:
	case AG_N09:
		return AG_SEV_HIGH;
	case AG_N02:
	case AG_N04:
	case AG_N05:
	case AG_N06:
	case AG_N08:
		return AG_SEV_MEDIUM;
	default:
		return AG_SEV_INFO;
	}
}

const char *ag_nhi_team(const struct ag_nhi_inventory *inv,
			const struct ag_nhi *rec)
{
	if (rec->team && *rec->team)
		return rec->team;
	const struct ag_nhi_owner *o = ag_nhi_owner_find(inv, rec->owner);
	return o && o->team ? o->team : "";
}

/* "2024-01-31" for seconds since the epoch. */
static void day_text(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%d", &tm))
		snprintf(buf, len, "?");
}

static bool is_workload(const struct ag_nhi *r)
{
	return r->kind && !strcmp(r->kind, "workload_identity");
}

static bool is_production(const struct ag_policy *p, const char *env)
{
	if (p->nhi.n_production) {
		for (size_t i = 0; i < p->nhi.n_production; i++)
			if (!strcasecmp(env, p->nhi.production[i]))
				return true;
		return false;
	}
	for (size_t i = 0; i < AG_ARRAY_SIZE(default_production); i++)
		if (!strcasecmp(env, default_production[i]))
			return true;
	return false;
}

static bool list_has(const struct ag_nhi_list *l, size_t n, const char *s)
{
	for (size_t i = 0; i < n && i < l->n; i++)
		if (!strcmp(l->v[i], s))
			return true;
	return false;
}

/*
 * A detail being written: appends stay within the finding's fixed field,
 * and a list that does not fit ends in ", ..." rather than mid-word.
 */
struct detail {
	char *s;
	size_t len, cap;
	bool cut;
};

static void d_init(struct detail *d, char *s, size_t cap)
{
	d->s = s;
	d->len = 0;
	d->cap = cap;
	d->cut = false;
	s[0] = '\0';
}

static void d_printf(struct detail *d, const char *fmt, ...) AG_PRINTF(2, 3);

static void d_printf(struct detail *d, const char *fmt, ...)
{
	va_list ap;
	if (d->cut)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(d->s + d->len, d->cap - d->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= d->cap - d->len) {
		d->s[d->len] = '\0';
		d->cut = true;
		return;
	}
	d->len += (size_t)n;
}

/* Appends the names of a list, separated by ", ", as many as fit with
 * room left for ", ..." after them when some do not. */
static void d_names(struct detail *d, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n && !d->cut; i++) {
		size_t room = d->cap - d->len - 1;
		size_t need = (i ? 2 : 0) + strlen(v[i]);
		size_t tail = i + 1 < n ? 5 : 0; /* ", ..." */
		if (need + tail > room) {
			d_printf(d, "%s", i ? ", ..." : "...");
			d->cut = true;
			return;
		}
		d_printf(d, "%s%s", i ? ", " : "", v[i]);
	}
}

struct judge {
	const struct ag_nhi_inventory *inv;
	const struct ag_policy *p;
	int64_t now;
	struct ag_nhi_audit *out;
	size_t alloc;
	const char **names; /* scratch for lists of names */
	size_t names_alloc;
};

static struct ag_nhi_finding *add(struct judge *J, uint32_t rec,
				  enum ag_rule rule, int64_t days)
{
	struct ag_nhi_audit *a = J->out;
	if (AG_GROW(a->findings, J->alloc, a->n_findings + 1))
		return NULL;
	struct ag_nhi_finding *f = &a->findings[a->n_findings++];
	memset(f, 0, sizeof(*f));
	f->rule = (uint8_t)rule;
	f->severity = (uint8_t)(J->inv->v[rec].root
					? AG_SEV_CRITICAL
					: ag_nhi_rule_severity(rule));
	f->record = rec;
	f->days = days;
	return f;
}

static bool names_room(struct judge *J, size_t n)
{
	return !AG_GROW(J->names, J->names_alloc, n + 1);
}

/* The findings of one active record, in rule order. */
static ag_code judge(struct judge *J, uint32_t i)
{
	const struct ag_policy *p = J->p;
	const struct ag_nhi *r = &J->inv->v[i];
	struct ag_nhi_finding *f;
	struct detail d;
	char d1[16], d2[16], dur[32];
	int64_t days;

#define ADD(rule, ndays)                                   \
	do {                                               \
		if (!(f = add(J, i, (rule), (ndays))))     \
			return AG_ERR_NOMEM;               \
		d_init(&d, f->detail, sizeof(f->detail)); \
	} while (0)

	/* N01: nobody answers for it. */
	if (r->owner_status != AG_OWNER_ACTIVE) {
		ADD(AG_N01, 0);
		if (!r->owner || !*r->owner)
			d_printf(&d, "no owner is recorded");
		else if (r->owner_status == AG_OWNER_OFFBOARDED)
			d_printf(&d, "owner '%.80s' is offboarded", r->owner);
		else if (!r->owner_status_given && J->inv->has_owners &&
			 !ag_nhi_owner_find(J->inv, r->owner))
			d_printf(&d, "owner '%.80s' is not in the owners list",
				 r->owner);
		else
			d_printf(&d, "owner '%.80s' is of unknown status",
				 r->owner);
	}

	/* N02: "never used" counts from creation. */
	int64_t used = r->last_used ? r->last_used : r->created;
	if (ag_nhi_overdue(J->now, used, p->nhi.stale, &days)) {
		ADD(AG_N02, days);
		day_text(used, d1, sizeof(d1));
		ag_duration_format(p->nhi.stale, dur, sizeof(dur));
		d_printf(&d, "%s %s, %lld days ago; nhi.stale is %s",
			 r->last_used ? "last used"
				      : "never used since its creation on",
			 d1, (long long)days, dur);
	}

	/* N03: the workflow takes only key-bound credentials. */
	if (r->workflow_idx >= 0 &&
	    (size_t)r->workflow_idx < p->n_workflows) {
		const struct ag_workflow *w = &p->workflows[r->workflow_idx];
		bool all_bound = w->n_credentials > 0;
		for (size_t k = 0; k < w->n_credentials && all_bound; k++)
			all_bound = w->credentials[k] < p->catalogue.n &&
				    p->catalogue.methods[w->credentials[k]]
					    .phishing_resistant;
		if (all_bound && !ag_nhi_key_bound(p, r)) {
			if (!names_room(J, w->n_credentials))
				return AG_ERR_NOMEM;
			for (size_t k = 0; k < w->n_credentials; k++)
				J->names[k] = p->catalogue
						      .methods[w->credentials[k]]
						      .name;
			ADD(AG_N03, 0);
			d_printf(&d,
				 "kind '%.40s' is not key-bound; workflow "
				 "'%.40s' takes only ",
				 r->kind, w->name);
			d_names(&d, J->names, w->n_credentials);
		}
	}

	/* N04: granted scopes it never uses. */
	if (r->scopes.known && r->used_scopes.known) {
		size_t n = 0;
		if (!names_room(J, r->scopes.n))
			return AG_ERR_NOMEM;
		for (size_t k = 0; k < r->scopes.n; k++) {
			const char *s = r->scopes.v[k];
			if (!list_has(&r->used_scopes, r->used_scopes.n, s) &&
			    !list_has(&r->scopes, k, s))
				J->names[n++] = s;
		}
		if (n) {
			ADD(AG_N04, 0);
			d_printf(&d, "%zu granted scope%s never used: ", n,
				 n == 1 ? "" : "s");
			d_names(&d, J->names, n);
		}
	}

	/* N05: tokens of a workload identity are minted per use, so only
	 * static credentials have a lifetime to judge. */
	if (!is_workload(r)) {
		int64_t issued = r->last_rotated ? r->last_rotated
						 : r->created ? r->created
							      : J->now;
		ag_duration_format(p->nhi.max_lifetime, dur, sizeof(dur));
		if (!r->expires) {
			days = J->now > issued ? (J->now - issued) / 86400 : 0;
			ADD(AG_N05, days);
			if (r->last_rotated || r->created) {
				day_text(issued, d1, sizeof(d1));
				d_printf(&d,
					 "no expiry; %s %s, %lld days ago; "
					 "nhi.max_lifetime is %s",
					 r->last_rotated ? "last rotated"
							 : "created",
					 d1, (long long)days, dur);
			} else {
				d_printf(&d, "no expiry; nhi.max_lifetime is %s",
					 dur);
			}
		} else if (r->expires - issued > p->nhi.max_lifetime) {
			days = (r->expires - issued) / 86400;
			ADD(AG_N05, days);
			day_text(r->expires, d2, sizeof(d2));
			if (r->last_rotated || r->created) {
				day_text(issued, d1, sizeof(d1));
				d_printf(&d,
					 "expires %s, %lld days after it was "
					 "%s on %s; nhi.max_lifetime is %s",
					 d2, (long long)days,
					 r->last_rotated ? "last rotated"
							 : "created",
					 d1, dur);
			} else {
				d_printf(&d,
					 "expires %s, %lld days from now; "
					 "nhi.max_lifetime is %s",
					 d2, (long long)days, dur);
			}
		}
	}

	/* N06: "never rotated" counts from creation. */
	int64_t rot = r->last_rotated ? r->last_rotated : r->created;
	if (!is_workload(r) &&
	    ag_nhi_overdue(J->now, rot, p->nhi.rotate, &days)) {
		ADD(AG_N06, days);
		day_text(rot, d1, sizeof(d1));
		ag_duration_format(p->nhi.rotate, dur, sizeof(dur));
		d_printf(&d, "%s %s, %lld days ago; nhi.rotate is %s",
			 r->last_rotated ? "last rotated"
					 : "never rotated since its creation on",
			 d1, (long long)days, dur);
	}

	/* N07: one credential on both sides of the production line. */
	if (r->environments.n > 1) {
		size_t np = 0, nn = 0, n = r->environments.n;
		if (!names_room(J, 2 * n))
			return AG_ERR_NOMEM;
		for (size_t k = 0; k < n; k++) {
			const char *env = r->environments.v[k];
			if (!*env || list_has(&r->environments, k, env))
				continue;
			if (is_production(p, env))
				J->names[np++] = env;
			else
				J->names[n + nn++] = env;
		}
		if (np && nn) {
			ADD(AG_N07, 0);
			d_printf(&d, "used in production (");
			d_names(&d, J->names, np);
			d_printf(&d, ") and elsewhere (");
			d_names(&d, J->names + n, nn);
			d_printf(&d, ")");
		}
	}

	/* N08: shared between services. */
	if (r->used_by.n > 1) {
		size_t n = 0;
		if (!names_room(J, r->used_by.n))
			return AG_ERR_NOMEM;
		for (size_t k = 0; k < r->used_by.n; k++) {
			const char *s = r->used_by.v[k];
			if (*s && !list_has(&r->used_by, k, s))
				J->names[n++] = s;
		}
		if (n > 1) {
			ADD(AG_N08, 0);
			d_printf(&d, "used by %zu services: ", n);
			d_names(&d, J->names, n);
		}
	}

	/* N09: a person signs in as the machine. */
	if (r->interactive) {
		ADD(AG_N09, 0);
		if (r->last_interactive) {
			day_text(r->last_interactive, d1, sizeof(d1));
			d_printf(&d, "used interactively, last on %s", d1);
		} else {
			d_printf(&d, "used interactively (a console, shell or "
				     "browser sign-in)");
		}
	}
#undef ADD
	return AG_OK;
}

/* ---- visibility ---------------------------------------------------------- */

static void count(struct ag_nhi_visibility *v, const struct ag_nhi *r)
{
	bool owner = r->owner_status == AG_OWNER_ACTIVE;
	bool purpose = r->purpose && *r->purpose;
	bool rotation = r->last_rotated != 0 || is_workload(r);
	bool last_use = r->last_used != 0 || r->never_used;
	v->total++;
	v->owner += owner;
	v->purpose += purpose;
	v->rotation += rotation;
	v->last_use += last_use;
	v->full += owner && purpose && rotation && last_use;
}

static int cmp_team(const void *pa, const void *pb)
{
	const struct ag_nhi_visibility *a = pa, *b = pb;
	return strcmp(a->team, b->team);
}

static ag_code teams(struct judge *J)
{
	struct ag_nhi_audit *a = J->out;
	struct ag_strmap map;
	size_t alloc = 0;
	ag_code rc = AG_ERR_NOMEM;

	ag_strmap_init(&map);
	for (size_t i = 0; i < J->inv->n; i++) {
		const struct ag_nhi *r = &J->inv->v[i];
		if (r->status != AG_NHI_ACTIVE)
			continue;
		const char *team = ag_nhi_team(J->inv, r);
		uint32_t at = 0;
		bool found = false;
		/* The key is borrowed from the record or the owners list,
		 * which outlive the map. */
		if (ag_strmap_put(&map, team, (uint32_t)a->n_teams, &at,
				  &found))
			goto out;
		if (!found) {
			if (AG_GROW(a->teams, alloc, a->n_teams + 1))
				goto out;
			memset(&a->teams[a->n_teams], 0, sizeof(*a->teams));
			if (!(a->teams[a->n_teams].team = ag_strdup(team)))
				goto out;
			at = (uint32_t)a->n_teams++;
		}
		count(&a->teams[at], r);
	}
	if (a->n_teams > 1)
		qsort(a->teams, a->n_teams, sizeof(*a->teams), cmp_team);
	rc = AG_OK;
out:
	ag_strmap_release(&map);
	return rc;
}

ag_code ag_nhi_audit_run(const struct ag_nhi_inventory *inv,
			 const struct ag_policy *p, int64_t now,
			 struct ag_nhi_audit *out, struct ag_error *err)
{
	struct judge J;
	ag_code rc = AG_ERR_INTERNAL;

	if (!out)
		return ag_err(err, AG_ERR_USAGE, "bad arguments");
	memset(out, 0, sizeof(*out));
	if (!inv || !p)
		return ag_err(err, AG_ERR_USAGE, "bad arguments");
	for (size_t i = 0; i < inv->n; i++)
		if (inv->v[i].method < 0)
			return ag_err(err, AG_ERR_USAGE,
				      "machine identity '%s' is not resolved "
				      "against the policy (ag_nhi_resolve)",
				      inv->v[i].id);
	memset(&J, 0, sizeof(J));
	J.inv = inv;
	J.p = p;
	J.now = now;
	J.out = out;
	out->now = now;
	for (size_t i = 0; i < inv->n; i++) {
		const struct ag_nhi *r = &inv->v[i];
		if (r->status != AG_NHI_ACTIVE)
			continue;
		count(&out->overall, r);
		if ((rc = judge(&J, (uint32_t)i)))
			goto out;
	}
	rc = teams(&J);
out:
	free(J.names);
	if (rc) {
		ag_nhi_audit_release(out);
		return ag_err(err, rc, "machine-identity audit: out of memory");
	}
	return AG_OK;
}

void ag_nhi_audit_release(struct ag_nhi_audit *a)
{
	if (!a)
		return;
	free(a->findings);
	for (size_t i = 0; i < a->n_teams; i++)
		free(a->teams[i].team);
	free(a->teams);
	memset(a, 0, sizeof(*a));
}

double ag_nhi_visibility_pct(const struct ag_nhi_visibility *v)
{
	if (!v || !v->total)
		return 0.0;
	return 100.0 * (double)v->full / (double)v->total;
}

int ag_nhi_audit_max_severity(const struct ag_nhi_audit *a)
{
	int max = -1;
	for (size_t i = 0; a && i < a->n_findings; i++)
		if (a->findings[i].severity > max)
			max = a->findings[i].severity;
	return max;
}
