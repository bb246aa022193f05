/*
 * Effective assurance as the greatest fixed point of
 * docs/internals/assurance.md:
 *
 *   eff(p, a) = max(AAL(own(p)), min(AAL(methods(p)), min_{d in deps(p,a)} eff(d)))
 *   eff(a)    = min over counted paths p reaching a of eff(p, a)
 *
 * Every computed account starts at the top (AAL3) and only ever goes down.
 * A worklist re-evaluates just the edges that depend on an account whose
 * value fell, and a value can fall at most three times, so the whole
 * computation is O(V + E).
 *
 * The witness of an account is the edge that last lowered it, and the
 * dependency that edge rested on at that moment.  Because that dependency
 * reached its value strictly earlier, following witnesses never loops.
 */
#include <stdlib.h>
#include <string.h>

#include "estate.h"
#include "banned.h"

int64_t ag_account_window(const struct ag_estate *e, uint32_t a)
{
	const struct ag_policy *pol = e->policy;
	const struct ag_account *acc = &e->accounts[a];
	const struct ag_workflow *w =
		acc->workflow >= 0 ? &pol->workflows[acc->workflow] : NULL;
	struct ag_window win;
	ag_workflow_window(pol, w, &win);
	return win.max_age;
}

bool ag_edge_counted(const struct ag_estate *e, size_t edge)
{
	const struct ag_path *p = &e->paths[e->edge_path[edge]];
	if (p->kind == AG_PATH_BREAK_GLASS)
		return false;
	if (p->kind == AG_PATH_RENEWAL && p->lifetime >= 0) {
		int64_t win = ag_account_window(e, e->edge_acct[edge]);
		if (win == 0 || p->lifetime <= win)
			return false;
	}
	return true;
}

/* eff(p, a) with the current values; *binding gets the dependency that
 * holds the value below the path's nominal level, or AG_NONE. */
static int edge_value(const struct ag_estate *e, const uint8_t *eff,
		      size_t edge, uint32_t *binding)
{
	const struct ag_path *p = &e->paths[e->edge_path[edge]];
	uint32_t deps[AG_MAX_DEPS];
	size_t nd = ag_edge_deps(e, edge, deps, AG_MAX_DEPS);
	int all = p->all.aal, own = p->own.aal;
	int mindep = 4;
	uint32_t arg = AG_NONE;

	for (size_t i = 0; i < nd; i++) {
		if (deps[i] == AG_NONE)
			continue;
		if (eff[deps[i]] < mindep) {
			mindep = eff[deps[i]];
			arg = deps[i];
		}
	}
	int inner = mindep < all ? mindep : all;
	int v = own > inner ? own : inner;
	*binding = (mindep < all && mindep >= own) ? arg : AG_NONE;
	return v;
}

void ag_audit_free(struct ag_audit *a)
{
	if (!a)
		return;
	struct ag_audit_impl *ai = (struct ag_audit_impl *)a;
	free(a->accounts);
	free(a->findings);
	free(ai->edge_eff);
	free(ai->edge_counted);
	free(ai);
}

ag_code ag_audit_run(struct ag_estate *e, struct ag_audit **out,
		     struct ag_error *err)
{
	const struct ag_policy *pol = e->policy;
	size_t V = e->n_accounts, E = e->n_edges;
	struct ag_audit_impl *ai = NULL;
	uint8_t *eff = NULL, *constant = NULL, *queued = NULL;
	uint32_t *rdep_off = NULL, *rdep = NULL, *queue = NULL;
	ag_code rc = AG_ERR_NOMEM;

	*out = NULL;
	if (!e->resolved)
		return ag_err(err, AG_ERR_USAGE, "the estate is not resolved");

	ai = calloc(1, sizeof(*ai));
	if (!ai)
		goto nomem;
	struct ag_audit *A = &ai->pub;
	A->n_accounts = V;
	A->accounts = calloc(V + 1, sizeof(*A->accounts));
	ai->edge_eff = calloc(E + 1, 1);
	ai->edge_counted = calloc(E + 1, 1);
	eff = calloc(V + 1, 1);
	constant = calloc(V + 1, 1);
	queued = calloc(V + 1, 1);
	rdep_off = calloc(V + 1, sizeof(uint32_t));
	queue = calloc(V + 1, sizeof(uint32_t));
	if (!A->accounts || !ai->edge_eff || !ai->edge_counted || !eff ||
	    !constant || !queued || !rdep_off || !queue)
		goto nomem;

	/* Which edges count, and each account's starting point. */
	for (size_t k = 0; k < E; k++)
		ai->edge_counted[k] = ag_edge_counted(e, k);
	for (size_t a = 0; a < V; a++) {
		const struct ag_account *acc = &e->accounts[a];
		struct ag_account_result *r = &A->accounts[a];
		size_t counted = 0;
		bool pr = true, hw = true;
		int nominal = 3;

		for (uint32_t i = e->in_off[a]; i < e->in_off[a + 1]; i++) {
			uint32_t k = e->in_edges[i];
			if (!ai->edge_counted[k])
				continue;
			const struct ag_path *p = &e->paths[e->edge_path[k]];
			counted++;
			if (p->all.aal < nominal)
				nominal = p->all.aal;
			pr = pr && p->own.phishing_resistant;
			hw = hw && p->own.hardware;
		}
		r->witness_path = AG_NONE;
		r->witness_dep = AG_NONE;
		r->required = -1;
		if (acc->workflow >= 0 && pol->workflows[acc->workflow].aal >= 0)
			r->required = (int8_t)pol->workflows[acc->workflow].aal;
		if (counted == 0) {
			constant[a] = 1;
			if (acc->kind == AG_KIND_HUMAN ||
			    acc->kind == AG_KIND_SERVICE) {
				/* Unreachable: AAL3 for propagation. */
				eff[a] = 3;
				r->phishing_resistant = r->hardware = true;
			} else {
				eff[a] = (uint8_t)pol->assume[acc->kind];
				r->assumed = true;
			}
			r->nominal = (int8_t)eff[a];
			continue;
		}
		r->reachable = true;
		r->nominal = (int8_t)nominal;
		r->phishing_resistant = pr;
		r->hardware = hw;
		eff[a] = 3;
	}

	/* Reverse dependencies: for each account, the counted edges whose
	 * value rests on it. */
	uint32_t deps[AG_MAX_DEPS];
	size_t total = 0;
	for (size_t k = 0; k < E; k++) {
		if (!ai->edge_counted[k])
			continue;
		size_t nd = ag_edge_deps(e, k, deps, AG_MAX_DEPS);
		for (size_t i = 0; i < nd; i++)
			if (deps[i] != AG_NONE)
				rdep_off[deps[i] + 1]++;
		total += nd;
	}
	if (total > UINT32_MAX - 1) {
		rc = ag_err(err, AG_ERR_LIMIT, "too many dependencies");
		goto out;
	}
	for (size_t a = 0; a < V; a++)
		rdep_off[a + 1] += rdep_off[a];
	rdep = calloc(total + 1, sizeof(uint32_t));
	uint32_t *fill = calloc(V + 1, sizeof(uint32_t));
	if (!rdep || !fill) {
		free(fill);
		goto nomem;
	}
	for (size_t k = 0; k < E; k++) {
		if (!ai->edge_counted[k])
			continue;
		size_t nd = ag_edge_deps(e, k, deps, AG_MAX_DEPS);
		for (size_t i = 0; i < nd; i++)
			if (deps[i] != AG_NONE)
				rdep[rdep_off[deps[i]] + fill[deps[i]]++] =
					(uint32_t)k;
	}
	free(fill);

	/* First evaluation, then the worklist. */
	size_t qhead = 0, qtail = 0, qlen = 0;
	for (size_t a = 0; a < V; a++) {
		if (constant[a])
			continue;
		for (uint32_t i = e->in_off[a]; i < e->in_off[a + 1]; i++) {
			uint32_t k = e->in_edges[i], b;
			if (!ai->edge_counted[k])
				continue;
			int v = edge_value(e, eff, k, &b);
			if (v < eff[a] || A->accounts[a].witness_path == AG_NONE) {
				if (v <= eff[a]) {
					eff[a] = (uint8_t)v;
					A->accounts[a].witness_path =
						e->edge_path[k];
					A->accounts[a].witness_dep = b;
				}
			}
		}
	}
	for (size_t a = 0; a < V; a++) {
		if (eff[a] < 3 || constant[a]) {
			queue[qtail] = (uint32_t)a;
			qtail = (qtail + 1) % (V + 1);
			qlen++;
			queued[a] = 1;
		}
	}
	while (qlen) {
		uint32_t d = queue[qhead];
		qhead = (qhead + 1) % (V + 1);
		qlen--;
		queued[d] = 0;
		for (uint32_t i = rdep_off[d]; i < rdep_off[d + 1]; i++) {
			uint32_t k = rdep[i], b;
			uint32_t a = e->edge_acct[k];
			if (constant[a])
				continue;
			int v = edge_value(e, eff, k, &b);
			if (v >= eff[a])
				continue;
			eff[a] = (uint8_t)v;
			A->accounts[a].witness_path = e->edge_path[k];
			A->accounts[a].witness_dep = b;
			if (!queued[a]) {
				queue[qtail] = a;
				qtail = (qtail + 1) % (V + 1);
				qlen++;
				queued[a] = 1;
			}
		}
	}

	for (size_t k = 0; k < E; k++) {
		uint32_t b;
		if (ai->edge_counted[k])
			ai->edge_eff[k] = (uint8_t)edge_value(e, eff, k, &b);
	}
	for (size_t a = 0; a < V; a++) {
		struct ag_account_result *r = &A->accounts[a];
		r->effective = (int8_t)eff[a];
		if (r->required >= 0 && r->effective < r->required)
			A->below_required++;
	}

	if ((rc = ag_findings_compute(e, ai))) {
		ag_err(err, rc, "%s", ag_strerror(rc));
		goto out;
	}
	*out = A;
	ai = NULL;
	rc = AG_OK;
	goto out;
nomem:
	rc = ag_err(err, AG_ERR_NOMEM, "out of memory");
out:
	free(eff);
	free(constant);
	free(queued);
	free(rdep_off);
	free(rdep);
	free(queue);
	if (ai)
		ag_audit_free(&ai->pub);
	return rc;
}

uint32_t ag_edge_rests_on(const struct ag_estate *e, const struct ag_audit *A,
			  size_t edge)
{
	const struct ag_path *p = &e->paths[e->edge_path[edge]];
	uint32_t deps[AG_MAX_DEPS], arg = AG_NONE;
	size_t nd = ag_edge_deps(e, edge, deps, AG_MAX_DEPS);
	int mindep = 4;

	for (size_t i = 0; i < nd; i++) {
		if (deps[i] != AG_NONE && A->accounts[deps[i]].effective < mindep) {
			mindep = A->accounts[deps[i]].effective;
			arg = deps[i];
		}
	}
	return (mindep <= p->all.aal && mindep >= p->own.aal) ? arg : AG_NONE;
}

size_t ag_account_edge(const struct ag_estate *e, uint32_t account,
		       uint32_t path)
{
	for (uint32_t i = e->in_off[account]; i < e->in_off[account + 1]; i++)
		if (e->edge_path[e->in_edges[i]] == path)
			return e->in_edges[i];
	return SIZE_MAX;
}

size_t ag_audit_witness(const struct ag_estate *e, const struct ag_audit *a,
			uint32_t account, struct ag_witness_step *steps,
			size_t max)
{
	size_t n = 0;
	uint32_t cur = account;

	while (cur != AG_NONE && cur < e->n_accounts && n < max) {
		const struct ag_account_result *r = &a->accounts[cur];
		steps[n].account = cur;
		steps[n].path = r->witness_path;
		steps[n].aal = r->effective;
		n++;
		/* The dependency that lowered it; or, where the path's own
		 * methods and the dependency give the same level, the
		 * dependency, so the chain shows what the path rests on. */
		uint32_t next = r->witness_dep;
		if (next == AG_NONE && r->witness_path != AG_NONE) {
			size_t k = ag_account_edge(e, cur, r->witness_path);
			if (k != SIZE_MAX)
				next = ag_edge_rests_on(e, a, k);
		}
		for (size_t i = 0; i < n && next != AG_NONE; i++)
			if (steps[i].account == next)
				return n; /* a cycle at equal levels */
		cur = next;
	}
	return n;
}
