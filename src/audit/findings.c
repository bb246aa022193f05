/*
 * The findings AG-P01..AG-P13 (docs/audit.md), computed from the fixed
 * point's values.  Messages are written by the reports; a finding holds
 * only indexes and levels, so millions of them stay small.
 */
#include <stdlib.h>
#include <string.h>

#include "aalgate/nhi.h"
#include "estate.h"
#include "banned.h"

static const struct ag_rule_info rules[AG_RULE_COUNT] = {
	[AG_P01] = {"AG-P01", "below-required",
		    "An account's effective assurance is below its workflow's "
		    "required AAL",
		    {"CSF PR.AA-03", "SP 800-63B-4 §2", NULL}},
	[AG_P02] = {"AG-P02", "recovery-downgrade",
		    "A recovery or help-desk path is weaker than the "
		    "account's strongest login",
		    {"CSF PR.AA-01", "CSF PR.AA-03", "SP 800-63B-4 §4.2",
		     NULL}},
	[AG_P03] = {"AG-P03", "legacy-bypass",
		    "A legacy protocol reaches an account whose workflow "
		    "requires AAL2 or more",
		    {"CSF PR.AA-03", NULL}},
	[AG_P04] = {"AG-P04", "phishable",
		    "The workflow requires phishing resistance; a path has no "
		    "phishing-resistant method of its own",
		    {"SP 800-63B-4 §3.2.5", NULL}},
	[AG_P05] = {"AG-P05", "device-gap",
		    "The workflow requires device posture; a path skips the "
		    "device check",
		    {"CSF PR.AA-03", NULL}},
	[AG_P06] = {"AG-P06", "unmonitored",
		    "A path to an account at AAL2 or more is not monitored",
		    {"CSF DE.CM", NULL}},
	[AG_P07] = {"AG-P07", "renewal-window",
		    "A renewal lifetime exceeds the reauthentication window "
		    "of the required AAL",
		    {"SP 800-63B-4 §5.2", NULL}},
	[AG_P08] = {"AG-P08", "weak-dependency",
		    "A delegated factor rests on a weaker account",
		    {"CSF PR.AA-01", NULL}},
	[AG_P09] = {"AG-P09", "restricted-method",
		    "A path uses a restricted authenticator (SMS or voice)",
		    {"SP 800-63B-4 §3.1.3.3", NULL}},
	[AG_P10] = {"AG-P10", "prohibited-method",
		    "A path uses a prohibited method (KBA)",
		    {"SP 800-63B-4 §3.1.1.2", NULL}},
	[AG_P11] = {"AG-P11", "standing-privilege",
		    "The workflow requires just-in-time elevation; the "
		    "account holds standing access",
		    {"CSF PR.AA-05", NULL}},
	[AG_P12] = {"AG-P12", "break-glass-ungoverned",
		    "A break-glass path lacks approval, an alert, or a "
		    "lifetime within break_glass.max",
		    {"CSF PR.AA-05", NULL}},
	[AG_P13] = {"AG-P13", "undescribed-dependency",
		    "A result rests on an assume default for an account the "
		    "estate does not describe",
		    {NULL}},
	[AG_N01] = {"AG-N01", "orphaned",
		    "A machine identity's owner is unknown or offboarded",
		    {"OWASP NHI1:2025", NULL}},
	[AG_N02] = {"AG-N02", "stale",
		    "A credential has not been used for longer than "
		    "nhi.stale but is still active",
		    {"OWASP NHI1:2025", NULL}},
	[AG_N03] = {"AG-N03", "weak-auth",
		    "A static secret or password where the workflow requires "
		    "a key-bound credential",
		    {"OWASP NHI4:2025", NULL}},
	[AG_N04] = {"AG-N04", "overprivileged",
		    "A machine identity holds scopes it does not use",
		    {"OWASP NHI5:2025", NULL}},
	[AG_N05] = {"AG-N05", "long-lived",
		    "A credential has no expiry, or one beyond "
		    "nhi.max_lifetime",
		    {"OWASP NHI7:2025", NULL}},
	[AG_N06] = {"AG-N06", "unrotated",
		    "A credential has not been rotated within nhi.rotate",
		    {"OWASP NHI7:2025", NULL}},
	[AG_N07] = {"AG-N07", "cross-environment",
		    "One credential is used in production and "
		    "non-production",
		    {"OWASP NHI8:2025", NULL}},
	[AG_N08] = {"AG-N08", "reused",
		    "One credential is used by several services",
		    {"OWASP NHI9:2025", NULL}},
	[AG_N09] = {"AG-N09", "human-use",
		    "A machine identity is used interactively, as a person",
		    {"OWASP NHI10:2025", NULL}},
};

const struct ag_rule_info *ag_rule_info(enum ag_rule r)
{
	if (r < AG_P01 || r >= AG_RULE_COUNT)
		return NULL;
	return &rules[r];
}

static const char *const sev_names[] = {"info", "low", "medium", "high",
					"critical"};

const char *ag_severity_name(enum ag_severity s)
{
	if ((unsigned)s > AG_SEV_CRITICAL)
		return "unknown";
	return sev_names[s];
}

ag_code ag_severity_parse(const char *s, int *out)
{
	for (int i = 0; i <= AG_SEV_CRITICAL; i++) {
		if (!strcmp(s, sev_names[i])) {
			*out = i;
			return AG_OK;
		}
	}
	if (!strcmp(s, "none")) {
		*out = AG_SEV_CRITICAL + 1;
		return AG_OK;
	}
	return AG_ERR_INVALID;
}

struct flist {
	struct ag_finding *v;
	size_t n, alloc;
};

static ag_code add(struct flist *l, enum ag_rule rule, enum ag_severity sev,
		   uint32_t account, uint32_t path, int observed, int expected,
		   uint32_t other, uint32_t detail)
{
	if (AG_GROW(l->v, l->alloc, l->n + 1))
		return AG_ERR_NOMEM;
	struct ag_finding *f = &l->v[l->n++];
	f->rule = (uint8_t)rule;
	f->severity = (uint8_t)sev;
	f->account = account;
	f->path = path;
	f->observed = (int8_t)observed;
	f->expected = (int8_t)expected;
	f->other = other;
	f->detail = detail;
	return AG_OK;
}

static int cmp_finding(const void *pa, const void *pb)
{
	const struct ag_finding *a = pa, *b = pb;
	if (a->severity != b->severity)
		return a->severity > b->severity ? -1 : 1;
	if (a->rule != b->rule)
		return a->rule < b->rule ? -1 : 1;
	/* AG_NONE sorts last. */
	if (a->account != b->account)
		return a->account < b->account ? -1 : 1;
	if (a->path != b->path)
		return a->path < b->path ? -1 : 1;
	if (a->other != b->other)
		return a->other < b->other ? -1 : 1;
	return 0;
}

/* The dependency with the lowest value on edge k (for P08). */
static uint32_t weakest_dep(const struct ag_estate *e,
			    const struct ag_audit *A, size_t k)
{
	uint32_t deps[AG_MAX_DEPS], arg = AG_NONE;
	size_t nd = ag_edge_deps(e, k, deps, AG_MAX_DEPS);
	int best = 4;
	for (size_t i = 0; i < nd; i++) {
		if (deps[i] == AG_NONE)
			continue;
		if (A->accounts[deps[i]].effective < best) {
			best = A->accounts[deps[i]].effective;
			arg = deps[i];
		}
	}
	return arg;
}

bool ag_path_rule_applies(const struct ag_estate *e,
			  const struct ag_audit_impl *ai, size_t edge,
			  enum ag_rule rule)
{
	const struct ag_policy *pol = e->policy;
	const struct ag_path *p = &e->paths[e->edge_path[edge]];
	const struct ag_account *acc = &e->accounts[e->edge_acct[edge]];
	const struct ag_workflow *w =
		acc->workflow >= 0 ? &pol->workflows[acc->workflow] : NULL;
	int req = w ? w->aal : -1;
	bool counted = ai->edge_counted[edge];

	switch (rule) {
	case AG_P03:
		return p->kind == AG_PATH_LEGACY && req >= 2;
	case AG_P04:
		return counted && w && w->phishing_resistant &&
		       !p->own.phishing_resistant;
	case AG_P05:
		return counted && w && w->device != AG_DEVICE_ANY &&
		       !p->device_check;
	case AG_P06:
		return req >= 2 && !p->monitored;
	default:
		return false;
	}
}

ag_code ag_findings_compute(struct ag_estate *e, struct ag_audit_impl *ai)
{
	const struct ag_policy *pol = e->policy;
	struct ag_audit *A = &ai->pub;
	struct flist l = {0};
	uint8_t *assumed_used = NULL;
	ag_code rc = AG_ERR_NOMEM;
	int bg_approvals = pol->break_glass.approvals;
	int64_t bg_max = pol->break_glass.max;
	bool bg_alert = pol->break_glass.alert;

#define ADD(...)                                  \
	do {                                      \
		if ((rc = add(&l, __VA_ARGS__)))  \
			goto out;                 \
	} while (0)

	assumed_used = calloc(e->n_accounts + 1, 1);
	if (!assumed_used)
		goto out;

	/* Path-level findings: P09 and P10 on the methods; P03..P06, which
	 * are properties of a path, once per path with the number of
	 * accounts they affect (and for P03 the highest level required). */
	static const struct {
		enum ag_rule rule;
		enum ag_severity sev;
	} per_path[] = {
		{AG_P03, AG_SEV_HIGH},
		{AG_P04, AG_SEV_HIGH},
		{AG_P05, AG_SEV_MEDIUM},
		{AG_P06, AG_SEV_LOW},
	};
	for (size_t i = 0; i < e->n_paths; i++) {
		const struct ag_path *p = &e->paths[i];
		for (size_t r = 0; r < AG_ARRAY_SIZE(per_path); r++) {
			uint32_t count = 0;
			int max_req = -1;
			for (uint32_t k = e->path_off[i]; k < e->path_off[i + 1];
			     k++) {
				if (!ag_path_rule_applies(e, ai, k,
							  per_path[r].rule))
					continue;
				count++;
				int req = A->accounts[e->edge_acct[k]].required;
				if (req > max_req)
					max_req = req;
			}
			if (count)
				ADD(per_path[r].rule, per_path[r].sev, AG_NONE,
				    (uint32_t)i,
				    per_path[r].rule == AG_P03 ? p->all.aal : -1,
				    per_path[r].rule == AG_P03 ? max_req : -1,
				    AG_NONE, count);
		}
		if (p->restricted)
			ADD(AG_P09, AG_SEV_LOW, AG_NONE, (uint32_t)i, -1, -1,
			    AG_NONE, 0);
		if (p->prohibited)
			ADD(AG_P10, AG_SEV_HIGH, AG_NONE, (uint32_t)i, -1, -1,
			    AG_NONE, 0);
	}

	/* Edge-level findings. */
	for (size_t a = 0; a < e->n_accounts; a++) {
		const struct ag_account *acc = &e->accounts[a];
		const struct ag_account_result *r = &A->accounts[a];
		const struct ag_workflow *w =
			acc->workflow >= 0 ? &pol->workflows[acc->workflow]
					   : NULL;
		int req = r->required;
		int strongest_login = -1;

		for (uint32_t i = e->in_off[a]; i < e->in_off[a + 1]; i++) {
			uint32_t k = e->in_edges[i];
			const struct ag_path *p = &e->paths[e->edge_path[k]];
			if (ai->edge_counted[k] && p->kind == AG_PATH_LOGIN &&
			    ai->edge_eff[k] > strongest_login)
				strongest_login = ai->edge_eff[k];
		}

		for (uint32_t i = e->in_off[a]; i < e->in_off[a + 1]; i++) {
			uint32_t k = e->in_edges[i];
			uint32_t pi = e->edge_path[k];
			const struct ag_path *p = &e->paths[pi];
			bool counted = ai->edge_counted[k];
			int ev = ai->edge_eff[k];

			if (p->kind == AG_PATH_BREAK_GLASS) {
				uint32_t lacks = 0;
				bool approved = p->approval &&
						(p->approvals < 0 ||
						 p->approvals >= bg_approvals);
				if (bg_approvals > 0 && !approved)
					lacks |= AG_BG_NO_APPROVAL;
				if (bg_alert && !p->alert)
					lacks |= AG_BG_NO_ALERT;
				if (p->lifetime < 0 ||
				    (bg_max > 0 && p->lifetime > bg_max))
					lacks |= AG_BG_TOO_LONG;
				if (lacks)
					ADD(AG_P12, AG_SEV_HIGH, (uint32_t)a,
					    pi, -1, -1, AG_NONE, lacks);
			}
			if (counted &&
			    (p->kind == AG_PATH_RECOVERY ||
			     p->kind == AG_PATH_HELPDESK) &&
			    ev < strongest_login)
				ADD(AG_P02, AG_SEV_HIGH, (uint32_t)a, pi, ev,
				    strongest_login, AG_NONE, 0);
			if (p->kind == AG_PATH_RENEWAL && counted && w &&
			    w->aal >= 1)
				ADD(AG_P07, AG_SEV_MEDIUM, (uint32_t)a, pi, -1,
				    -1, AG_NONE, 0);
			/* Credentials: a path that carries dates
			 * (docs/nhi.md).  "Never used" counts from
			 * creation. */
			int64_t used = p->last_used ? p->last_used : p->created;
			int64_t rot = p->last_rotated ? p->last_rotated
						      : p->created;
			int64_t days;
			if (ag_nhi_overdue(e->now, used, pol->nhi.stale, &days))
				ADD(AG_N02, AG_SEV_MEDIUM, (uint32_t)a, pi, -1,
				    -1, AG_NONE, (uint32_t)days);
			if (ag_nhi_overdue(e->now, rot, pol->nhi.rotate, &days))
				ADD(AG_N06, AG_SEV_MEDIUM, (uint32_t)a, pi, -1,
				    -1, AG_NONE, (uint32_t)days);
			if (counted && ev < p->all.aal) {
				uint32_t d = weakest_dep(e, A, k);
				ADD(AG_P08, AG_SEV_MEDIUM, (uint32_t)a, pi, ev,
				    p->all.aal, d, 0);
			}
			if (counted) {
				uint32_t deps[AG_MAX_DEPS];
				size_t nd = ag_edge_deps(e, k, deps,
							 AG_MAX_DEPS);
				for (size_t j = 0; j < nd; j++) {
					uint32_t d = deps[j];
					if (d == AG_NONE ||
					    !A->accounts[d].assumed)
						continue;
					if (e->accounts[d].synthetic)
						ADD(AG_P13, AG_SEV_INFO,
						    (uint32_t)a, pi,
						    A->accounts[d].effective, -1,
						    d, 0);
					else if (!assumed_used[d]) {
						/* Once per assumed account,
						 * at the first path using it. */
						assumed_used[d] = 1;
						ADD(AG_P13, AG_SEV_INFO,
						    (uint32_t)a, pi,
						    A->accounts[d].effective, -1,
						    d, 0);
					}
				}
			}
		}

		if (req >= 0 && r->effective < req) {
			enum ag_severity sev =
				(r->effective == 0 || req - r->effective >= 2)
					? AG_SEV_CRITICAL
					: AG_SEV_HIGH;
			ADD(AG_P01, sev, (uint32_t)a, r->witness_path,
			    r->effective, req, r->witness_dep, 0);
		}
		if (w && w->jit && acc->standing)
			ADD(AG_P11, AG_SEV_HIGH, (uint32_t)a, AG_NONE, -1, -1,
			    AG_NONE, 0);
	}
#undef ADD

	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), cmp_finding);
	for (size_t i = 0; i < l.n; i++)
		A->by_severity[l.v[i].severity]++;
	A->findings = l.v;
	A->n_findings = l.n;
	l.v = NULL;
	rc = AG_OK;
out:
	free(l.v);
	free(assumed_used);
	return rc;
}
