/*
 * Wording and structures shared by every report format.
 */
#include <string.h>
#include <time.h>

#include "report.h"
#include "banned.h"

void ag_report_methods(const struct ag_estate *e, const struct ag_path *p,
		       const char *sep, struct ag_buf *b)
{
	const struct ag_catalogue *cat = &e->policy->catalogue;
	if (!p->n_methods) {
		ag_buf_adds(b, "no method");
		return;
	}
	for (uint32_t i = 0; i < p->n_methods; i++) {
		if (i)
			ag_buf_adds(b, sep);
		ag_buf_adds(b, cat->methods[p->methods[i]].name);
	}
}

/* "2024-01-31" for seconds since the epoch. */
static void day_text(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%d", &tm))
		snprintf(buf, len, "?");
}

static const char *acct_id(const struct ag_estate *e, uint32_t a)
{
	return a < e->n_accounts ? e->accounts[a].id : "?";
}

static const char *path_id(const struct ag_estate *e, uint32_t p)
{
	return p < e->n_paths ? e->paths[p].id : "?";
}

static const char *wf_name(const struct ag_estate *e, uint32_t a)
{
	int32_t w = e->accounts[a].workflow;
	return w >= 0 ? e->policy->workflows[w].name : "(none)";
}

void ag_report_finding_id(const struct ag_estate *e,
			  const struct ag_finding *f, struct ag_buf *b)
{
	ag_buf_adds(b, ag_rule_info((enum ag_rule)f->rule)->code);
	if (f->account != AG_NONE) {
		ag_buf_addc(b, ':');
		ag_buf_adds(b, acct_id(e, f->account));
	}
	if (f->path != AG_NONE) {
		ag_buf_addc(b, ':');
		ag_buf_adds(b, path_id(e, f->path));
	}
}

void ag_report_message(const struct ag_estate *e, const struct ag_audit *A,
		       const struct ag_finding *f, struct ag_buf *b)
{
	const struct ag_policy *pol = e->policy;
	const char *acc = f->account != AG_NONE ? acct_id(e, f->account) : "";
	const char *pth = f->path != AG_NONE ? path_id(e, f->path) : "";
	const struct ag_path *p = f->path != AG_NONE ? &e->paths[f->path]
						     : NULL;
	char d1[32], d2[32];
	(void)A;

	switch ((enum ag_rule)f->rule) {
	case AG_P01:
		ag_buf_printf(b,
			      "'%s' reaches only AAL%d; workflow '%s' requires "
			      "AAL%d",
			      acc, f->observed, wf_name(e, f->account),
			      f->expected);
		break;
	case AG_P02:
		ag_buf_printf(b,
			      "%s path '%s' gives '%s' AAL%d, weaker than its "
			      "strongest login (AAL%d)",
			      p->kind == AG_PATH_HELPDESK ? "help-desk"
							  : "recovery",
			      pth, acc, f->observed, f->expected);
		break;
	case AG_P03:
		ag_buf_printf(b, "legacy path '%s' (", pth);
		ag_report_methods(e, p, "+", b);
		ag_buf_printf(b,
			      ") reaches %u account%s whose workflow requires "
			      "AAL2 or more (up to AAL%d)",
			      f->detail, f->detail == 1 ? "" : "s", f->expected);
		break;
	case AG_P04:
		ag_buf_printf(b,
			      "path '%s' has no phishing-resistant method of its "
			      "own and reaches %u account%s whose workflow "
			      "requires phishing resistance",
			      pth, f->detail, f->detail == 1 ? "" : "s");
		break;
	case AG_P05:
		ag_buf_printf(b,
			      "path '%s' skips the device check and reaches %u "
			      "account%s whose workflow requires a known or "
			      "managed device",
			      pth, f->detail, f->detail == 1 ? "" : "s");
		break;
	case AG_P06:
		ag_buf_printf(b,
			      "path '%s' is not monitored and reaches %u "
			      "account%s whose workflow requires AAL2 or more",
			      pth, f->detail, f->detail == 1 ? "" : "s");
		break;
	case AG_P07: {
		int64_t win = ag_account_window(e, f->account);
		ag_duration_format(win, d2, sizeof(d2));
		if (p->lifetime < 0) {
			ag_buf_printf(b,
				      "renewal path '%s' to '%s' has no "
				      "lifetime; workflow '%s' requires "
				      "reauthentication within %s",
				      pth, acc, wf_name(e, f->account), d2);
		} else {
			ag_duration_format(p->lifetime, d1, sizeof(d1));
			ag_buf_printf(b,
				      "renewal path '%s' to '%s' lives %s, "
				      "longer than the %s reauthentication "
				      "window of workflow '%s'",
				      pth, acc, d1, d2, wf_name(e, f->account));
		}
		break;
	}
	case AG_P08:
		ag_buf_printf(b,
			      "path '%s' gives '%s' AAL%d instead of AAL%d: it "
			      "rests on '%s' at AAL%d",
			      pth, acc, f->observed, f->expected,
			      f->other != AG_NONE ? acct_id(e, f->other) : "?",
			      f->other != AG_NONE
				      ? A->accounts[f->other].effective
				      : 0);
		break;
	case AG_P09:
	case AG_P10: {
		const struct ag_catalogue *cat = &pol->catalogue;
		bool first = true;
		ag_buf_printf(b, "path '%s' uses ", pth);
		for (uint32_t i = 0; i < p->n_methods; i++) {
			const struct ag_method *m = &cat->methods[p->methods[i]];
			if (f->rule == AG_P09 ? !m->restricted : !m->prohibited)
				continue;
			ag_buf_printf(b, "%s%s", first ? "" : ", ", m->name);
			first = false;
		}
		ag_buf_adds(b, f->rule == AG_P09
				       ? ", a restricted authenticator"
				       : ", which is prohibited and never "
					 "counts");
		break;
	}
	case AG_P11:
		ag_buf_printf(b,
			      "'%s' holds standing access; workflow '%s' "
			      "requires just-in-time elevation",
			      acc, wf_name(e, f->account));
		break;
	case AG_P12: {
		bool first = true;
		int approvals = pol->break_glass.approvals;
		int64_t max = pol->break_glass.max;
		ag_buf_printf(b, "break-glass path '%s' to '%s' lacks ", pth,
			      acc);
		if (f->detail & AG_BG_NO_APPROVAL) {
			ag_buf_printf(b, "approval (%d required)", approvals);
			first = false;
		}
		if (f->detail & AG_BG_NO_ALERT) {
			ag_buf_printf(b, "%san alert", first ? "" : ", ");
			first = false;
		}
		if (f->detail & AG_BG_TOO_LONG) {
			ag_duration_format(max, d2, sizeof(d2));
			ag_buf_printf(b, "%sa lifetime within %s", first ? "" : ", ",
				      d2);
		}
		break;
	}
	case AG_P13: {
		const struct ag_account *d = &e->accounts[f->other];
		if (d->synthetic)
			ag_buf_printf(b,
				      "'%s' has no %s; path '%s' rests on an "
				      "undescribed %s, assumed AAL%d",
				      acc,
				      d->kind == AG_KIND_PHONE ? "phone"
							       : "email",
				      pth,
				      ag_account_kind_name(
					      (enum ag_account_kind)d->kind),
				      f->observed);
		else
			ag_buf_printf(b,
				      "path '%s' to '%s' rests on '%s', which "
				      "%s; it is taken at assume.%s = AAL%d",
				      pth, acc, d->id,
				      d->described ? "no path reaches"
						   : "the estate does not describe",
				      ag_account_kind_name(
					      (enum ag_account_kind)d->kind),
				      f->observed);
		break;
	}
	case AG_N02: {
		char when[16];
		day_text(p->last_used ? p->last_used : p->created, when,
			 sizeof(when));
		ag_duration_format(pol->nhi.stale, d2, sizeof(d2));
		ag_buf_printf(b,
			      "credential '%s' of '%s' was %s %s, %u days ago; "
			      "nhi.stale is %s",
			      pth, acc,
			      p->last_used ? "last used" : "never used since "
							   "its creation on",
			      when, f->detail, d2);
		break;
	}
	case AG_N06: {
		char when[16];
		day_text(p->last_rotated ? p->last_rotated : p->created, when,
			 sizeof(when));
		ag_duration_format(pol->nhi.rotate, d2, sizeof(d2));
		ag_buf_printf(b,
			      "credential '%s' of '%s' was %s %s, %u days ago; "
			      "nhi.rotate is %s",
			      pth, acc,
			      p->last_rotated ? "last rotated"
					      : "never rotated since its "
						"creation on",
			      when, f->detail, d2);
		break;
	}
	case AG_N01: /* machine-identity rules the estate audit does */
	case AG_N03: /* not raise: aalgate/nhi.h reports them */
	case AG_N04:
	case AG_N05:
	case AG_N07:
	case AG_N08:
	case AG_N09:
	case AG_RULE_COUNT:
		break;
	}
}

size_t ag_report_finding_chain(const struct ag_estate *e,
			       const struct ag_audit *A,
			       const struct ag_finding *f,
			       struct ag_witness_step *steps, size_t max)
{
	if (f->account == AG_NONE || max == 0)
		return 0;
	if (f->rule == AG_P01)
		return ag_audit_witness(e, A, f->account, steps, max);
	if (f->path == AG_NONE)
		return 0; /* not about a path (AG-P11) */
	if (f->rule == AG_P13 && max >= 2) {
		/* The path, then the assumed account it rests on. */
		size_t k = ag_account_edge(e, f->account, f->path);
		const struct ag_audit_impl *ai13 =
			(const struct ag_audit_impl *)A;
		steps[0].account = f->account;
		steps[0].path = f->path;
		steps[0].aal = k != SIZE_MAX && ai13->edge_counted[k]
				       ? ai13->edge_eff[k]
				       : e->paths[f->path].all.aal;
		steps[1].account = f->other;
		steps[1].path = AG_NONE;
		steps[1].aal = A->accounts[f->other].effective;
		return 2;
	}
	/* The path of the finding, then what that path rests on. */
	const struct ag_path *p = &e->paths[f->path];
	const struct ag_audit_impl *ai = (const struct ag_audit_impl *)A;
	size_t k = ag_account_edge(e, f->account, f->path);
	steps[0].account = f->account;
	steps[0].path = f->path;
	steps[0].aal = p->all.aal;
	if (k == SIZE_MAX || !ai->edge_counted[k])
		return 1;
	steps[0].aal = ai->edge_eff[k];
	uint32_t dep = ag_edge_rests_on(e, A, k);
	if (dep == AG_NONE)
		return 1;
	return 1 + ag_audit_witness(e, A, dep, steps + 1, max - 1);
}

void ag_report_chain_text(const struct ag_estate *e, const struct ag_audit *A,
			  const struct ag_witness_step *steps, size_t n,
			  struct ag_buf *b)
{
	for (size_t i = 0; i < n; i++) {
		const struct ag_witness_step *s = &steps[i];
		ag_buf_adds(b, acct_id(e, s->account));
		if (s->path != AG_NONE) {
			ag_buf_printf(b, " --%s(", path_id(e, s->path));
			ag_report_methods(e, &e->paths[s->path], "+", b);
			ag_buf_adds(b, i + 1 < n ? ")--> " : ")");
		} else if (A->accounts[s->account].assumed) {
			ag_buf_printf(b, " (%s: assumed AAL%d)",
				      e->accounts[s->account].described
					      ? "no path reaches it"
					      : "not described",
				      A->accounts[s->account].effective);
		} else {
			ag_buf_adds(b, " (no path reaches it)");
		}
	}
}

bool ag_report_location(const struct ag_estate *e, const struct ag_finding *f,
			uint32_t *file, unsigned *line, unsigned *col)
{
	if (f->path != AG_NONE) {
		const struct ag_path *p = &e->paths[f->path];
		*file = p->file;
		*line = p->line;
		*col = p->col;
		return true;
	}
	if (f->account != AG_NONE) {
		const struct ag_account *a = &e->accounts[f->account];
		if (a->file == AG_NONE)
			return false;
		*file = a->file;
		*line = a->line;
		*col = a->col;
		return true;
	}
	return false;
}

void ag_report_witness_json(struct ag_jsonw *w, const struct ag_estate *e,
			    const struct ag_audit *A,
			    const struct ag_witness_step *steps, size_t n)
{
	const struct ag_catalogue *cat = &e->policy->catalogue;
	ag_jw_arr(w);
	for (size_t i = 0; i < n; i++) {
		const struct ag_witness_step *s = &steps[i];
		ag_jw_obj(w);
		ag_jw_key(w, "account");
		ag_jw_str(w, acct_id(e, s->account));
		ag_jw_key(w, "path");
		if (s->path != AG_NONE) {
			const struct ag_path *p = &e->paths[s->path];
			ag_jw_str(w, p->id);
			ag_jw_key(w, "kind");
			ag_jw_str(w, ag_path_kind_name(
					     (enum ag_path_kind)p->kind));
			ag_jw_key(w, "methods");
			ag_jw_arr(w);
			for (uint32_t k = 0; k < p->n_methods; k++)
				ag_jw_str(w, cat->methods[p->methods[k]].name);
			ag_jw_arr_end(w);
		} else {
			ag_jw_null(w);
			ag_jw_key(w, "assumed");
			ag_jw_bool(w, A->accounts[s->account].assumed);
		}
		ag_jw_key(w, "aal");
		ag_jw_int(w, s->aal);
		ag_jw_obj_end(w);
	}
	ag_jw_arr_end(w);
}

void ag_report_account_json(struct ag_jsonw *w, const struct ag_estate *e,
			    const struct ag_audit *A, uint32_t a)
{
	const struct ag_account *acc = &e->accounts[a];
	const struct ag_account_result *r = &A->accounts[a];
	const struct ag_workflow *wf =
		acc->workflow >= 0 ? &e->policy->workflows[acc->workflow]
				   : NULL;
	struct ag_witness_step steps[AG_CHAIN_MAX];

	ag_jw_obj(w);
	ag_jw_key(w, "id");
	ag_jw_str(w, acc->id);
	ag_jw_key(w, "kind");
	ag_jw_str(w, ag_account_kind_name((enum ag_account_kind)acc->kind));
	ag_jw_key(w, "workflow");
	ag_jw_str(w, wf ? wf->name : NULL);
	ag_jw_key(w, "described");
	ag_jw_bool(w, acc->described);
	ag_jw_key(w, "reachable");
	ag_jw_bool(w, r->reachable);
	ag_jw_key(w, "required");
	ag_jw_obj(w);
	ag_jw_key(w, "aal");
	if (r->required >= 0)
		ag_jw_int(w, r->required);
	else
		ag_jw_null(w);
	ag_jw_key(w, "phishing_resistant");
	ag_jw_bool(w, wf && wf->phishing_resistant);
	ag_jw_key(w, "device");
	ag_jw_str(w, ag_device_name(wf ? wf->device : AG_DEVICE_ANY));
	ag_jw_obj_end(w);
	ag_jw_key(w, "effective");
	ag_jw_obj(w);
	ag_jw_key(w, "aal");
	ag_jw_int(w, r->effective);
	ag_jw_key(w, "phishing_resistant");
	ag_jw_bool(w, r->phishing_resistant);
	ag_jw_key(w, "hardware");
	ag_jw_bool(w, r->hardware);
	ag_jw_key(w, "assumed");
	ag_jw_bool(w, r->assumed);
	ag_jw_obj_end(w);
	ag_jw_key(w, "nominal");
	ag_jw_obj(w);
	ag_jw_key(w, "aal");
	ag_jw_int(w, r->nominal);
	ag_jw_obj_end(w);
	ag_jw_key(w, "witness");
	size_t n = ag_audit_witness(e, A, a, steps, AG_CHAIN_MAX);
	ag_report_witness_json(w, e, A, steps, n);
	ag_jw_obj_end(w);
}

bool ag_report_per_path(const struct ag_finding *f)
{
	return f->account == AG_NONE && f->path != AG_NONE &&
	       f->rule >= AG_P03 && f->rule <= AG_P06;
}

size_t ag_report_affected(const struct ag_estate *e, const struct ag_audit *A,
			  const struct ag_finding *f, uint32_t *out, size_t max)
{
	const struct ag_audit_impl *ai = (const struct ag_audit_impl *)A;
	size_t n = 0;
	if (!ag_report_per_path(f))
		return 0;
	for (uint32_t k = e->path_off[f->path];
	     k < e->path_off[f->path + 1] && n < max; k++)
		if (ag_path_rule_applies(e, ai, k, (enum ag_rule)f->rule))
			out[n++] = e->edge_acct[k];
	return n;
}

bool ag_report_concerns(const struct ag_estate *e, const struct ag_audit *A,
			const struct ag_finding *f, uint32_t a)
{
	const struct ag_audit_impl *ai = (const struct ag_audit_impl *)A;
	if (f->account != AG_NONE)
		return f->account == a;
	if (f->path == AG_NONE)
		return false;
	size_t k = ag_account_edge(e, a, f->path);
	if (k == SIZE_MAX)
		return false;
	return !ag_report_per_path(f) ||
	       ag_path_rule_applies(e, ai, k, (enum ag_rule)f->rule);
}

void ag_report_finding_json(struct ag_jsonw *w, const struct ag_estate *e,
			    const struct ag_audit *A,
			    const struct ag_finding *f)
{
	const struct ag_rule_info *ri = ag_rule_info((enum ag_rule)f->rule);
	struct ag_witness_step steps[AG_CHAIN_MAX];
	struct ag_buf b;
	uint32_t file;
	unsigned line, col;

	ag_buf_init(&b, 64 * 1024);
	ag_jw_obj(w);
	ag_jw_key(w, "id");
	ag_report_finding_id(e, f, &b);
	ag_jw_strn(w, b.data ? b.data : "", b.len);
	ag_jw_key(w, "rule");
	ag_jw_str(w, ri->code);
	ag_jw_key(w, "name");
	ag_jw_str(w, ri->name);
	ag_jw_key(w, "severity");
	ag_jw_str(w, ag_severity_name((enum ag_severity)f->severity));
	ag_jw_key(w, "account");
	ag_jw_str(w, f->account != AG_NONE ? e->accounts[f->account].id : NULL);
	ag_jw_key(w, "path");
	ag_jw_str(w, f->path != AG_NONE ? e->paths[f->path].id : NULL);
	ag_jw_key(w, "message");
	b.len = 0;
	ag_report_message(e, A, f, &b);
	ag_jw_strn(w, b.data ? b.data : "", b.len);
	ag_jw_key(w, "refs");
	ag_jw_arr(w);
	for (size_t i = 0; ri->refs[i]; i++)
		ag_jw_str(w, ri->refs[i]);
	ag_jw_arr_end(w);
	if (f->observed >= 0) {
		ag_jw_key(w, "observed_aal");
		ag_jw_int(w, f->observed);
	}
	if (f->expected >= 0) {
		ag_jw_key(w, "expected_aal");
		ag_jw_int(w, f->expected);
	}
	if (f->other != AG_NONE) {
		ag_jw_key(w, "rests_on");
		ag_jw_str(w, e->accounts[f->other].id);
	}
	if (ag_report_per_path(f)) {
		const struct ag_audit_impl *ai =
			(const struct ag_audit_impl *)A;
		ag_jw_key(w, "accounts");
		ag_jw_arr(w);
		for (uint32_t k = e->path_off[f->path];
		     k < e->path_off[f->path + 1]; k++)
			if (ag_path_rule_applies(e, ai, k,
						 (enum ag_rule)f->rule))
				ag_jw_str(w, e->accounts[e->edge_acct[k]].id);
		ag_jw_arr_end(w);
	}
	ag_jw_key(w, "location");
	if (ag_report_location(e, f, &file, &line, &col)) {
		ag_jw_obj(w);
		ag_jw_key(w, "file");
		ag_jw_str(w, ag_estate_file(e, file));
		/* Imported items have a file but no line. */
		ag_jw_key(w, "line");
		if (line)
			ag_jw_int(w, line);
		else
			ag_jw_null(w);
		ag_jw_key(w, "column");
		if (line)
			ag_jw_int(w, col);
		else
			ag_jw_null(w);
		ag_jw_obj_end(w);
	} else {
		ag_jw_null(w);
	}
	size_t n = ag_report_finding_chain(e, A, f, steps, AG_CHAIN_MAX);
	ag_jw_key(w, "witness");
	ag_report_witness_json(w, e, A, steps, n);
	ag_jw_obj_end(w);
	ag_buf_release(&b);
}
