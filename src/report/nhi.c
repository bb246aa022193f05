/*
 * The machine-identity audit as text, JSON and SARIF 2.1.0.  The judging
 * is done by ag_nhi_audit_run (src/nhi/findings.c); this only formats it,
 * in the layout of the estate audit's reports: findings worst first, each
 * with its fix and the place it is written, then the visibility score.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aalgate/nhi.h"
#include "report.h"
#include "banned.h"

static const enum ag_rule nhi_rules[] = {
	AG_N01, AG_N02, AG_N03, AG_N04, AG_N05, AG_N06, AG_N07, AG_N08, AG_N09,
};

/* What to do about each finding, one line. */
static const char *fix_text(enum ag_rule r)
{
	switch (r) {
	case AG_N01:
		return "give it an active owner (owner, and the owners list), "
		       "or disable it and delete it";
	case AG_N02:
		return "disable it, and delete it when nothing breaks; if it "
		       "is still needed, find its user and record the use";
	case AG_N03:
		return "replace it with a key-bound credential the workflow "
		       "takes (workload_identity, mtls)";
	case AG_N04:
		return "remove the scopes it does not use";
	case AG_N05:
		return "give it an expiry within nhi.max_lifetime, or replace "
		       "it with a workload identity whose tokens are "
		       "short-lived";
	case AG_N06:
		return "rotate it, and then within nhi.rotate, or replace it "
		       "with a workload identity";
	case AG_N07:
		return "issue one credential per environment, so that "
		       "production's is used nowhere else";
	case AG_N08:
		return "issue one credential per service, so that each can be "
		       "rotated and revoked alone";
	case AG_N09:
		return "stop interactive use: people sign in as themselves; "
		       "remove the identity's console or password access";
	default:
		return "";
	}
}

static long rule_index(enum ag_rule r)
{
	for (size_t i = 0; i < AG_ARRAY_SIZE(nhi_rules); i++)
		if (nhi_rules[i] == r)
			return (long)i;
	return -1;
}

/* "NHI1:2025": the rule's OWASP NHI Top 10 reference, or NULL. */
static const char *owasp(const struct ag_rule_info *ri)
{
	for (size_t i = 0; ri->refs[i]; i++)
		if (!strncmp(ri->refs[i], "OWASP ", 6))
			return ri->refs[i] + 6;
	return NULL;
}

static const char *file_of(const struct ag_nhi_inventory *inv,
			   const struct ag_nhi *r)
{
	return r->file < inv->n_files ? inv->files[r->file] : NULL;
}

/* "'ci-key' of https://idp.example (client_secret, root account): DETAIL" */
static void message(const struct ag_nhi_inventory *inv,
		    const struct ag_nhi_finding *f, struct ag_buf *b)
{
	const struct ag_nhi *r = &inv->v[f->record];
	ag_buf_printf(b, "'%s'", r->id);
	if (r->issuer)
		ag_buf_printf(b, " of %s", r->issuer);
	ag_buf_printf(b, " (%s%s): %s", r->kind,
		      r->root ? ", root account" : "", f->detail);
}

/* A stable identity for a finding: "AG-N01:ID", or "AG-N01:ISSUER ID". */
static void finding_id(const struct ag_nhi_inventory *inv,
		       const struct ag_nhi_finding *f, struct ag_buf *b)
{
	const struct ag_nhi *r = &inv->v[f->record];
	ag_buf_printf(b, "%s:", ag_rule_info((enum ag_rule)f->rule)->code);
	if (r->issuer)
		ag_buf_printf(b, "%s ", r->issuer);
	ag_buf_adds(b, r->id);
}

/* Report order: worst first, then as the audit found them (record
 * order, then rule). */
struct order_key {
	size_t i;
	uint8_t severity;
};

static int cmp_order(const void *pa, const void *pb)
{
	const struct order_key *a = pa, *b = pb;
	if (a->severity != b->severity)
		return a->severity > b->severity ? -1 : 1;
	return a->i < b->i ? -1 : a->i > b->i;
}

static size_t *report_order(const struct ag_nhi_audit *a)
{
	size_t n = a->n_findings;
	struct order_key *k = malloc((n + 1) * sizeof(*k));
	size_t *o = malloc((n + 1) * sizeof(*o));
	if (!k || !o) {
		free(k);
		free(o);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		k[i].i = i;
		k[i].severity = a->findings[i].severity;
	}
	if (n > 1)
		qsort(k, n, sizeof(*k), cmp_order);
	for (size_t i = 0; i < n; i++)
		o[i] = k[i].i;
	free(k);
	return o;
}

static void by_severity(const struct ag_nhi_audit *a,
			size_t n[AG_SEV_CRITICAL + 1])
{
	memset(n, 0, (AG_SEV_CRITICAL + 1) * sizeof(*n));
	for (size_t i = 0; i < a->n_findings; i++)
		if (a->findings[i].severity <= AG_SEV_CRITICAL)
			n[a->findings[i].severity]++;
}

/* "2024-01-31", or with full "2024-01-31T10:00:00Z". */
static void time_text(int64_t t, bool full, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	size_t n = 0;
	if (gmtime_r(&tt, &tm))
		n = full ? strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm)
			 : strftime(buf, len, "%Y-%m-%d", &tm);
	if (!n)
		snprintf(buf, len, "?");
}

/* ---- text ---------------------------------------------------------------- */

static void upper(FILE *f, const char *s)
{
	for (; *s; s++)
		putc(*s >= 'a' && *s <= 'z' ? *s - 'a' + 'A' : *s, f);
}

static void team_row(FILE *f, int width, const char *name,
		     const struct ag_nhi_visibility *v)
{
	fprintf(f, "  %-*s %5zu %6zu %8zu %9zu %9zu %5zu %6.1f%%\n", width,
		name, v->total, v->owner, v->purpose, v->rotation, v->last_use,
		v->full, ag_nhi_visibility_pct(v));
}

static ag_code report_text(FILE *f, const struct ag_nhi_inventory *inv,
			   const struct ag_nhi_audit *a, const size_t *order)
{
	size_t sev[AG_SEV_CRITICAL + 1];
	struct ag_buf b;
	char day[16];

	by_severity(a, sev);
	time_text(a->now, false, day, sizeof(day));
	fprintf(f, "%zu machine identit%s, %zu active, as of %s; %zu finding%s",
		inv->n, inv->n == 1 ? "y" : "ies", a->overall.total, day,
		a->n_findings, a->n_findings == 1 ? "" : "s");
	if (a->n_findings) {
		bool first = true;
		fputs(" (", f);
		for (int s = AG_SEV_CRITICAL; s >= AG_SEV_INFO; s--) {
			if (!sev[s])
				continue;
			fprintf(f, "%s%zu %s", first ? "" : ", ", sev[s],
				ag_severity_name((enum ag_severity)s));
			first = false;
		}
		putc(')', f);
	}
	putc('\n', f);

	ag_buf_init(&b, 64 * 1024);
	for (size_t k = 0; k < a->n_findings; k++) {
		const struct ag_nhi_finding *fd = &a->findings[order[k]];
		const struct ag_nhi *r = &inv->v[fd->record];
		const struct ag_rule_info *ri =
			ag_rule_info((enum ag_rule)fd->rule);
		const char *file = file_of(inv, r);

		putc('\n', f);
		upper(f, ag_severity_name((enum ag_severity)fd->severity));
		fprintf(f, " %s %s: ", ri->code, ri->name);
		b.len = 0;
		message(inv, fd, &b);
		fprintf(f, "%s\n", b.data ? b.data : "");
		fprintf(f, "  fix: %s\n", fix_text((enum ag_rule)fd->rule));
		if (file && r->line)
			fprintf(f, "  at %s:%u:%u\n", file, r->line, r->col);
		else if (file)
			fprintf(f, "  in %s\n", file);
	}
	ag_buf_release(&b);

	const struct ag_nhi_visibility *o = &a->overall;
	fprintf(f,
		"\nvisibility: %.1f%% (%zu of %zu active identit%s ha%s a "
		"known owner, purpose, rotation and last use)\n",
		ag_nhi_visibility_pct(o), o->full, o->total,
		o->total == 1 ? "y" : "ies", o->total == 1 ? "s" : "ve");
	if (!a->n_teams)
		return ferror(f) ? AG_ERR_IO : AG_OK;
	int width = 9; /* "(no team)" */
	for (size_t i = 0; i < a->n_teams; i++) {
		size_t n = strlen(a->teams[i].team);
		if (n > (size_t)width)
			width = n > 40 ? 40 : (int)n;
	}
	fprintf(f, "  %-*s %5s %6s %8s %9s %9s %5s %7s\n", width, "team",
		"total", "owner", "purpose", "rotation", "last use", "full",
		"score");
	for (size_t i = 0; i < a->n_teams; i++)
		team_row(f, width,
			 *a->teams[i].team ? a->teams[i].team : "(no team)",
			 &a->teams[i]);
	return ferror(f) ? AG_ERR_IO : AG_OK;
}

/* ---- JSON ---------------------------------------------------------------- */

static void visibility_json(struct ag_jsonw *w,
			    const struct ag_nhi_visibility *v, bool team)
{
	ag_jw_obj(w);
	if (team) {
		ag_jw_key(w, "team");
		ag_jw_str(w, v->team && *v->team ? v->team : NULL);
	}
	ag_jw_key(w, "total");
	ag_jw_int(w, (long long)v->total);
	ag_jw_key(w, "owner");
	ag_jw_int(w, (long long)v->owner);
	ag_jw_key(w, "purpose");
	ag_jw_int(w, (long long)v->purpose);
	ag_jw_key(w, "rotation");
	ag_jw_int(w, (long long)v->rotation);
	ag_jw_key(w, "last_use");
	ag_jw_int(w, (long long)v->last_use);
	ag_jw_key(w, "full");
	ag_jw_int(w, (long long)v->full);
	ag_jw_key(w, "percent");
	ag_jw_fixed(w, ag_nhi_visibility_pct(v), 1);
	ag_jw_obj_end(w);
}

static void finding_json(struct ag_jsonw *w,
			 const struct ag_nhi_inventory *inv,
			 const struct ag_nhi_finding *f, struct ag_buf *b)
{
	const struct ag_nhi *r = &inv->v[f->record];
	const struct ag_rule_info *ri = ag_rule_info((enum ag_rule)f->rule);
	const char *team = ag_nhi_team(inv, r);

	ag_jw_obj(w);
	ag_jw_key(w, "id");
	ag_jw_str(w, ri->code);
	ag_jw_key(w, "name");
	ag_jw_str(w, ri->name);
	ag_jw_key(w, "owasp");
	ag_jw_str(w, owasp(ri));
	ag_jw_key(w, "severity");
	ag_jw_str(w, ag_severity_name((enum ag_severity)f->severity));
	ag_jw_key(w, "identity");
	ag_jw_str(w, r->id);
	ag_jw_key(w, "issuer");
	ag_jw_str(w, r->issuer);
	ag_jw_key(w, "kind");
	ag_jw_str(w, r->kind);
	ag_jw_key(w, "owner");
	ag_jw_str(w, r->owner && *r->owner ? r->owner : NULL);
	ag_jw_key(w, "team");
	ag_jw_str(w, *team ? team : NULL);
	ag_jw_key(w, "file");
	ag_jw_str(w, file_of(inv, r));
	ag_jw_key(w, "line");
	if (r->line)
		ag_jw_int(w, r->line);
	else
		ag_jw_null(w);
	ag_jw_key(w, "col");
	if (r->line)
		ag_jw_int(w, r->col);
	else
		ag_jw_null(w);
	ag_jw_key(w, "message");
	b->len = 0;
	message(inv, f, b);
	ag_jw_strn(w, b->data ? b->data : "", b->len);
	ag_jw_key(w, "days");
	if (f->rule == AG_N02 || f->rule == AG_N05 || f->rule == AG_N06)
		ag_jw_int(w, f->days);
	else
		ag_jw_null(w);
	ag_jw_obj_end(w);
}

static ag_code report_json(FILE *f, const struct ag_nhi_inventory *inv,
			   const struct ag_policy *p,
			   const struct ag_nhi_audit *a, const size_t *order)
{
	size_t sev[AG_SEV_CRITICAL + 1];
	struct ag_jsonw w;
	struct ag_buf b;
	char when[32];

	by_severity(a, sev);
	time_text(a->now, true, when, sizeof(when));
	ag_buf_init(&b, 64 * 1024);
	ag_jw_init(&w, f, 2);
	ag_jw_obj(&w);
	ag_jw_key(&w, "tool");
	ag_jw_str(&w, "aalgate");
	ag_jw_key(&w, "version");
	ag_jw_str(&w, AG_VERSION);
	ag_jw_key(&w, "policy");
	ag_jw_str(&w, p->file);
	ag_jw_key(&w, "as_of");
	ag_jw_str(&w, when);
	ag_jw_key(&w, "inventories");
	ag_jw_arr(&w);
	for (size_t i = 0; i < inv->n_files; i++)
		ag_jw_str(&w, inv->files[i]);
	ag_jw_arr_end(&w);

	ag_jw_key(&w, "counts");
	ag_jw_obj(&w);
	ag_jw_key(&w, "identities");
	ag_jw_int(&w, (long long)inv->n);
	ag_jw_key(&w, "active");
	ag_jw_int(&w, (long long)a->overall.total);
	ag_jw_key(&w, "findings");
	ag_jw_int(&w, (long long)a->n_findings);
	ag_jw_key(&w, "by_severity");
	ag_jw_obj(&w);
	for (int s = AG_SEV_CRITICAL; s >= AG_SEV_INFO; s--) {
		ag_jw_key(&w, ag_severity_name((enum ag_severity)s));
		ag_jw_int(&w, (long long)sev[s]);
	}
	ag_jw_obj_end(&w);
	ag_jw_obj_end(&w);

	ag_jw_key(&w, "visibility");
	ag_jw_obj(&w);
	ag_jw_key(&w, "overall");
	visibility_json(&w, &a->overall, false);
	ag_jw_key(&w, "teams");
	ag_jw_arr(&w);
	for (size_t i = 0; i < a->n_teams; i++)
		visibility_json(&w, &a->teams[i], true);
	ag_jw_arr_end(&w);
	ag_jw_obj_end(&w);

	ag_jw_key(&w, "findings");
	ag_jw_arr(&w);
	for (size_t k = 0; k < a->n_findings; k++)
		finding_json(&w, inv, &a->findings[order[k]], &b);
	ag_jw_arr_end(&w);
	ag_jw_obj_end(&w);
	ag_jw_end(&w);
	ag_buf_release(&b);
	return ferror(f) ? AG_ERR_IO : AG_OK;
}

/* ---- SARIF --------------------------------------------------------------- */

/* A relative file name as a URI reference (RFC 3986): unreserved
 * characters and '/' stay, the rest is percent-encoded. */
static void uri(struct ag_jsonw *w, const char *file, struct ag_buf *b)
{
	b->len = 0;
	for (const unsigned char *s = (const unsigned char *)file; *s; s++) {
		unsigned char c = *s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~' || c == '/')
			ag_buf_addc(b, (char)c);
		else
			ag_buf_printf(b, "%%%02X", c);
	}
	ag_jw_strn(w, b->data ? b->data : "", b->len);
}

static void text_obj(struct ag_jsonw *w, const char *key, const char *text)
{
	ag_jw_key(w, key);
	ag_jw_obj(w);
	ag_jw_key(w, "text");
	ag_jw_str(w, text);
	ag_jw_obj_end(w);
}

static void sarif_rules(struct ag_jsonw *w)
{
	ag_jw_arr(w);
	for (size_t k = 0; k < AG_ARRAY_SIZE(nhi_rules); k++) {
		enum ag_rule r = nhi_rules[k];
		const struct ag_rule_info *ri = ag_rule_info(r);
		ag_jw_obj(w);
		ag_jw_key(w, "id");
		ag_jw_str(w, ri->code);
		ag_jw_key(w, "name");
		ag_jw_str(w, ri->name);
		text_obj(w, "shortDescription", ri->summary);
		text_obj(w, "help", fix_text(r));
		ag_jw_key(w, "defaultConfiguration");
		ag_jw_obj(w);
		ag_jw_key(w, "level");
		ag_jw_str(w, ag_sarif_level(ag_nhi_rule_severity(r)));
		ag_jw_obj_end(w);
		ag_jw_key(w, "properties");
		ag_jw_obj(w);
		ag_jw_key(w, "tags");
		ag_jw_arr(w);
		ag_jw_str(w, "security");
		for (size_t i = 0; ri->refs[i]; i++)
			ag_jw_str(w, ri->refs[i]);
		ag_jw_arr_end(w);
		ag_jw_obj_end(w);
		ag_jw_obj_end(w);
	}
	ag_jw_arr_end(w);
}

static void sarif_result(struct ag_jsonw *w,
			 const struct ag_nhi_inventory *inv,
			 const struct ag_nhi_finding *fd, struct ag_buf *b)
{
	const struct ag_nhi *r = &inv->v[fd->record];
	const struct ag_rule_info *ri = ag_rule_info((enum ag_rule)fd->rule);
	const char *file = file_of(inv, r);

	ag_jw_obj(w);
	ag_jw_key(w, "ruleId");
	ag_jw_str(w, ri->code);
	ag_jw_key(w, "ruleIndex");
	ag_jw_int(w, rule_index((enum ag_rule)fd->rule));
	ag_jw_key(w, "level");
	ag_jw_str(w, ag_sarif_level((enum ag_severity)fd->severity));
	ag_jw_key(w, "message");
	ag_jw_obj(w);
	ag_jw_key(w, "text");
	b->len = 0;
	message(inv, fd, b);
	ag_jw_strn(w, b->data ? b->data : "", b->len);
	ag_jw_obj_end(w);
	if (file) {
		ag_jw_key(w, "locations");
		ag_jw_arr(w);
		ag_jw_obj(w);
		ag_jw_key(w, "physicalLocation");
		ag_jw_obj(w);
		ag_jw_key(w, "artifactLocation");
		ag_jw_obj(w);
		ag_jw_key(w, "uri");
		uri(w, file, b);
		ag_jw_key(w, "index");
		ag_jw_int(w, r->file);
		ag_jw_obj_end(w);
		if (r->line) { /* records from a store have no line */
			ag_jw_key(w, "region");
			ag_jw_obj(w);
			ag_jw_key(w, "startLine");
			ag_jw_int(w, r->line);
			ag_jw_key(w, "startColumn");
			ag_jw_int(w, r->col ? r->col : 1);
			ag_jw_obj_end(w);
		}
		ag_jw_obj_end(w);
		ag_jw_obj_end(w);
		ag_jw_arr_end(w);
	}
	ag_jw_key(w, "partialFingerprints");
	ag_jw_obj(w);
	ag_jw_key(w, "aalgateFinding/v1");
	b->len = 0;
	finding_id(inv, fd, b);
	ag_jw_strn(w, b->data ? b->data : "", b->len);
	ag_jw_obj_end(w);
	ag_jw_key(w, "properties");
	ag_jw_obj(w);
	ag_jw_key(w, "severity");
	ag_jw_str(w, ag_severity_name((enum ag_severity)fd->severity));
	ag_jw_key(w, "identity");
	ag_jw_str(w, r->id);
	if (r->issuer) {
		ag_jw_key(w, "issuer");
		ag_jw_str(w, r->issuer);
	}
	ag_jw_key(w, "kind");
	ag_jw_str(w, r->kind);
	if (fd->rule == AG_N02 || fd->rule == AG_N05 || fd->rule == AG_N06) {
		ag_jw_key(w, "days");
		ag_jw_int(w, fd->days);
	}
	ag_jw_obj_end(w);
	ag_jw_obj_end(w);
}

static ag_code report_sarif(FILE *f, const struct ag_nhi_inventory *inv,
			    const struct ag_nhi_audit *a, const size_t *order)
{
	struct ag_jsonw w;
	struct ag_buf b;

	ag_buf_init(&b, 64 * 1024);
	ag_jw_init(&w, f, 99);
	ag_jw_obj(&w);
	ag_jw_key(&w, "$schema");
	ag_jw_str(&w, "https://json.schemastore.org/sarif-2.1.0.json");
	ag_jw_key(&w, "version");
	ag_jw_str(&w, "2.1.0");
	ag_jw_key(&w, "runs");
	ag_jw_arr(&w);
	ag_jw_obj(&w);

	ag_jw_key(&w, "tool");
	ag_jw_obj(&w);
	ag_jw_key(&w, "driver");
	ag_jw_obj(&w);
	ag_jw_key(&w, "name");
	ag_jw_str(&w, "aalgate");
	ag_jw_key(&w, "version");
	ag_jw_str(&w, AG_VERSION);
	ag_jw_key(&w, "semanticVersion");
	ag_jw_str(&w, AG_VERSION);
	ag_jw_key(&w, "rules");
	sarif_rules(&w);
	ag_jw_obj_end(&w);
	ag_jw_obj_end(&w);

	ag_jw_key(&w, "artifacts");
	ag_jw_arr(&w);
	for (size_t i = 0; i < inv->n_files; i++) {
		ag_jw_obj(&w);
		ag_jw_key(&w, "location");
		ag_jw_obj(&w);
		ag_jw_key(&w, "uri");
		uri(&w, inv->files[i], &b);
		ag_jw_obj_end(&w);
		ag_jw_obj_end(&w);
	}
	ag_jw_arr_end(&w);

	ag_jw_key(&w, "results");
	ag_jw_arr(&w);
	for (size_t k = 0; k < a->n_findings; k++)
		sarif_result(&w, inv, &a->findings[order[k]], &b);
	ag_jw_arr_end(&w);
	ag_jw_obj_end(&w);
	ag_jw_arr_end(&w);
	ag_jw_obj_end(&w);
	ag_jw_end(&w);
	ag_buf_release(&b);
	return ferror(f) ? AG_ERR_IO : AG_OK;
}

ag_code ag_nhi_report(FILE *out, enum ag_nhi_report_format fmt,
		      const struct ag_nhi_inventory *inv,
		      const struct ag_policy *p, const struct ag_nhi_audit *a,
		      struct ag_error *err)
{
	ag_code rc;

	if (!out || !inv || !p || !a)
		return ag_err(err, AG_ERR_USAGE, "bad arguments");
	for (size_t i = 0; i < a->n_findings; i++)
		if (a->findings[i].record >= inv->n ||
		    rule_index((enum ag_rule)a->findings[i].rule) < 0)
			return ag_err(err, AG_ERR_USAGE,
				      "the audit is not of this inventory");
	size_t *order = report_order(a);
	if (!order)
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	switch (fmt) {
	case AG_NHI_REPORT_TEXT:
		rc = report_text(out, inv, a, order);
		break;
	case AG_NHI_REPORT_JSON:
		rc = report_json(out, inv, p, a, order);
		break;
	case AG_NHI_REPORT_SARIF:
		rc = report_sarif(out, inv, a, order);
		break;
	default:
		rc = ag_err(err, AG_ERR_USAGE, "unknown report format");
		free(order);
		return rc;
	}
	free(order);
	if (rc)
		return ag_err(err, rc, "cannot write the report");
	return AG_OK;
}
