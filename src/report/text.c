/*
 * The text report for people: a summary line, then the findings worst
 * first, each with its chain and where it is written.
 */
#include <string.h>

#include "report.h"
#include "banned.h"

static void upper(FILE *f, const char *s)
{
	for (; *s; s++)
		putc(*s >= 'a' && *s <= 'z' ? *s - 'a' + 'A' : *s, f);
}

ag_code ag_report_text(FILE *f, const struct ag_estate *e,
		       const struct ag_audit *A)
{
	struct ag_witness_step steps[AG_CHAIN_MAX];
	struct ag_buf b;
	size_t humans = 0, unreachable = 0;

	for (size_t a = 0; a < e->n_accounts; a++) {
		if (A->accounts[a].required >= 0)
			humans++;
		if (!A->accounts[a].reachable && !A->accounts[a].assumed &&
		    !e->accounts[a].synthetic)
			unreachable++;
	}
	fprintf(f, "%zu of %zu accounts below their required level; %zu "
		   "finding%s",
		A->below_required, humans, A->n_findings,
		A->n_findings == 1 ? "" : "s");
	if (A->n_findings) {
		bool first = true;
		fputs(" (", f);
		for (int s = AG_SEV_CRITICAL; s >= AG_SEV_INFO; s--) {
			if (!A->by_severity[s])
				continue;
			fprintf(f, "%s%zu %s", first ? "" : ", ",
				A->by_severity[s],
				ag_severity_name((enum ag_severity)s));
			first = false;
		}
		putc(')', f);
	}
	putc('\n', f);
	if (unreachable) {
		size_t shown = 0;
		fprintf(f, "%zu account%s no counted path reaches, taken as AAL3:",
			unreachable, unreachable == 1 ? "" : "s");
		for (size_t a = 0; a < e->n_accounts && shown < 5; a++) {
			if (A->accounts[a].reachable || A->accounts[a].assumed ||
			    e->accounts[a].synthetic)
				continue;
			bool bg = e->in_off[a] < e->in_off[a + 1];
			fprintf(f, "%s %s%s", shown ? "," : "", e->accounts[a].id,
				bg ? " (break-glass or session renewal only)" : "");
			shown++;
		}
		fputs(unreachable > shown ? ", ...\n" : "\n", f);
	}

	ag_buf_init(&b, 1024 * 1024);
	for (size_t i = 0; i < A->n_findings; i++) {
		const struct ag_finding *fd = &A->findings[i];
		const struct ag_rule_info *ri =
			ag_rule_info((enum ag_rule)fd->rule);
		uint32_t file;
		unsigned line, col;

		putc('\n', f);
		upper(f, ag_severity_name((enum ag_severity)fd->severity));
		fprintf(f, " %s %s: ", ri->code, ri->name);
		b.len = 0;
		ag_report_message(e, A, fd, &b);
		fprintf(f, "%s\n", b.data ? b.data : "");
		size_t n = ag_report_finding_chain(e, A, fd, steps,
						   AG_CHAIN_MAX);
		if (n) {
			b.len = 0;
			ag_report_chain_text(e, A, steps, n, &b);
			fprintf(f, "  chain: %s\n", b.data ? b.data : "");
		}
		if (ag_report_per_path(fd)) {
			uint32_t some[5];
			size_t n_some = ag_report_affected(e, A, fd, some, 5);
			fputs("  accounts:", f);
			for (size_t k = 0; k < n_some; k++)
				fprintf(f, "%s %s", k ? "," : "",
					e->accounts[some[k]].id);
			if (fd->detail > n_some)
				fprintf(f, ", and %zu more",
					(size_t)fd->detail - n_some);
			putc('\n', f);
		}
		if (ag_report_location(e, fd, &file, &line, &col) && line)
			fprintf(f, "  at %s:%u:%u\n", ag_estate_file(e, file),
				line, col);
		else if (ag_report_location(e, fd, &file, &line, &col))
			fprintf(f, "  in %s\n", ag_estate_file(e, file));
	}
	ag_buf_release(&b);
	return ferror(f) ? AG_ERR_IO : AG_OK;
}

/* ---- --explain --------------------------------------------------------- */

static void dur(FILE *f, const char *label, int64_t s)
{
	char buf[32];
	if (!s)
		return;
	ag_duration_format(s, buf, sizeof(buf));
	fprintf(f, ", %s %s", label, buf);
}

ag_code ag_report_explain_text(FILE *f, const struct ag_estate *e,
			       const struct ag_audit *A, uint32_t a)
{
	const struct ag_account *acc = &e->accounts[a];
	const struct ag_account_result *r = &A->accounts[a];
	const struct ag_workflow *wf =
		acc->workflow >= 0 ? &e->policy->workflows[acc->workflow]
				   : NULL;
	struct ag_witness_step steps[AG_CHAIN_MAX];
	struct ag_buf b;

	ag_buf_init(&b, 1024 * 1024);
	fprintf(f, "account %s (%s%s%s)\n", acc->id,
		ag_account_kind_name((enum ag_account_kind)acc->kind),
		wf ? ", workflow " : "", wf ? wf->name : "");
	if (!acc->described)
		fputs("  not described in the estate; referenced only\n", f);

	fputs("  required:  ", f);
	if (r->required >= 0) {
		fprintf(f, "AAL%d", r->required);
		if (wf->phishing_resistant)
			fputs(", phishing resistant", f);
		if (wf->hardware)
			fputs(", hardware", f);
		if (wf->device != AG_DEVICE_ANY)
			fprintf(f, ", %s device", ag_device_name(wf->device));
		dur(f, "max age", wf->max_age);
		dur(f, "idle", wf->idle);
		if (wf->jit)
			fputs(", just-in-time elevation", f);
		putc('\n', f);
	} else {
		fputs("none (no workflow with an AAL)\n", f);
	}
	fprintf(f, "  effective: AAL%d%s%s%s\n", r->effective,
		r->phishing_resistant ? ", phishing resistant" : "",
		r->assumed ? " (assumed: no path reaches it)" : "",
		!r->reachable && !r->assumed ? " (no counted path reaches it)"
					     : "");
	fprintf(f, "  nominal:   AAL%d\n", r->nominal);
	size_t n = ag_audit_witness(e, A, a, steps, AG_CHAIN_MAX);
	if (n) {
		b.len = 0;
		ag_report_chain_text(e, A, steps, n, &b);
		fprintf(f, "  chain:     %s\n", b.data ? b.data : "");
	}

	/* Every path reaching it, with how it was judged. */
	if (e->in_off[a] < e->in_off[a + 1])
		fputs("  paths:\n", f);
	const struct ag_audit_impl *ai = (const struct ag_audit_impl *)A;
	for (uint32_t i = e->in_off[a]; i < e->in_off[a + 1]; i++) {
		uint32_t k = e->in_edges[i];
		const struct ag_path *p = &e->paths[e->edge_path[k]];
		uint32_t deps[AG_MAX_DEPS];
		size_t nd = ag_edge_deps(e, k, deps, AG_MAX_DEPS);

		b.len = 0;
		ag_report_methods(e, p, "+", &b);
		fprintf(f, "    %-11s %s (%s): own AAL%d, all methods AAL%d",
			ag_path_kind_name((enum ag_path_kind)p->kind), p->id,
			b.data ? b.data : "", p->own.aal, p->all.aal);
		for (size_t d = 0; d < nd; d++)
			if (deps[d] != AG_NONE)
				fprintf(f, ", rests on %s (AAL%d)",
					e->accounts[deps[d]].id,
					A->accounts[deps[d]].effective);
		if (ai->edge_counted[k])
			fprintf(f, " => AAL%d\n", ai->edge_eff[k]);
		else if (p->kind == AG_PATH_BREAK_GLASS)
			fputs(" => governed by break_glass, not counted\n", f);
		else
			fputs(" => continues a session within the window, "
			      "not counted\n",
			      f);
	}

	bool any = false;
	for (size_t i = 0; i < A->n_findings; i++) {
		const struct ag_finding *fd = &A->findings[i];
		if (!ag_report_concerns(e, A, fd, a))
			continue;
		if (!any)
			fputs("  findings:\n", f);
		any = true;
		b.len = 0;
		ag_report_message(e, A, fd, &b);
		fprintf(f, "    %s %s: %s\n",
			ag_severity_name((enum ag_severity)fd->severity),
			ag_rule_info((enum ag_rule)fd->rule)->code,
			b.data ? b.data : "");
	}
	if (!any)
		fputs("  findings:  none\n", f);
	ag_buf_release(&b);
	return ferror(f) ? AG_ERR_IO : AG_OK;
}

ag_code ag_report_explain_json(FILE *f, const struct ag_estate *e,
			       const struct ag_audit *A, uint32_t a)
{
	const struct ag_audit_impl *ai = (const struct ag_audit_impl *)A;
	struct ag_jsonw w;

	ag_jw_init(&w, f, 2);
	ag_jw_obj(&w);
	ag_jw_key(&w, "account");
	ag_report_account_json(&w, e, A, a);
	ag_jw_key(&w, "paths");
	ag_jw_arr(&w);
	for (uint32_t i = e->in_off[a]; i < e->in_off[a + 1]; i++) {
		uint32_t k = e->in_edges[i];
		const struct ag_path *p = &e->paths[e->edge_path[k]];
		uint32_t deps[AG_MAX_DEPS];
		size_t nd = ag_edge_deps(e, k, deps, AG_MAX_DEPS);
		ag_jw_obj(&w);
		ag_jw_key(&w, "path");
		ag_jw_str(&w, p->id);
		ag_jw_key(&w, "kind");
		ag_jw_str(&w, ag_path_kind_name((enum ag_path_kind)p->kind));
		ag_jw_key(&w, "own_aal");
		ag_jw_int(&w, p->own.aal);
		ag_jw_key(&w, "nominal_aal");
		ag_jw_int(&w, p->all.aal);
		ag_jw_key(&w, "counted");
		ag_jw_bool(&w, ai->edge_counted[k]);
		ag_jw_key(&w, "effective_aal");
		if (ai->edge_counted[k])
			ag_jw_int(&w, ai->edge_eff[k]);
		else
			ag_jw_null(&w);
		ag_jw_key(&w, "rests_on");
		ag_jw_arr(&w);
		for (size_t d = 0; d < nd; d++)
			if (deps[d] != AG_NONE)
				ag_jw_str(&w, e->accounts[deps[d]].id);
		ag_jw_arr_end(&w);
		ag_jw_obj_end(&w);
	}
	ag_jw_arr_end(&w);
	ag_jw_key(&w, "findings");
	ag_jw_arr(&w);
	for (size_t i = 0; i < A->n_findings; i++)
		if (ag_report_concerns(e, A, &A->findings[i], a))
			ag_report_finding_json(&w, e, A, &A->findings[i]);
	ag_jw_arr_end(&w);
	ag_jw_obj_end(&w);
	ag_jw_end(&w);
	return ferror(f) ? AG_ERR_IO : AG_OK;
}
