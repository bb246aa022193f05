/*
 * Writes an estate back out as an estate file, so that what an importer
 * made can be read, kept, edited and audited like a hand-written one.
 * One account or path per line, every string double-quoted.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "audit/estate.h"
#include "banned.h"

/* A YAML double-quoted scalar: JSON-style escapes are valid YAML. */
static void qstr(FILE *f, const char *s)
{
	putc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			putc(*p, f);
	}
	putc('"', f);
}

static void refs(FILE *f, const char *key, const struct ag_ref *r, uint32_t n)
{
	fprintf(f, ", %s: [", key);
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			fputs(", ", f);
		qstr(f, r[i].name);
	}
	putc(']', f);
}

static void date(FILE *f, const char *key, int64_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;
	if (!t || !gmtime_r(&tt, &tm) ||
	    !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return;
	fprintf(f, ", %s: %s", key, buf);
}

ag_code ag_estate_write_yaml(const struct ag_estate *e, FILE *f)
{
	const struct ag_policy *pol = e->policy;
	char d[32];

	if (e->resolved)
		return AG_ERR_USAGE; /* placeholders would be written as described */
	fputs("accounts:\n", f);
	for (size_t i = 0; i < e->n_accounts; i++) {
		const struct ag_account *a = &e->accounts[i];
		fputs("  - { id: ", f);
		qstr(f, a->id);
		fprintf(f, ", kind: %s",
			ag_account_kind_name((enum ag_account_kind)a->kind));
		if (a->workflow >= 0) {
			fputs(", workflow: ", f);
			qstr(f, pol->workflows[a->workflow].name);
		}
		if (a->n_groups) {
			fputs(", groups: [", f);
			for (uint32_t g = 0; g < a->n_groups; g++) {
				if (g)
					fputs(", ", f);
				qstr(f, e->groups[a->groups[g]]);
			}
			putc(']', f);
		}
		if (a->email_ref) {
			fputs(", email: ", f);
			qstr(f, a->email_ref->name);
		}
		if (a->phone_ref) {
			fputs(", phone: ", f);
			qstr(f, a->phone_ref->name);
		}
		if (a->owner) {
			fputs(", owner: ", f);
			qstr(f, a->owner);
		}
		if (a->standing)
			fputs(", standing: true", f);
		if (a->break_glass)
			fputs(", break_glass: true", f);
		if (a->root)
			fputs(", root: true", f);
		fputs(" }\n", f);
	}
	fputs("paths:\n", f);
	for (size_t i = 0; i < e->n_paths; i++) {
		const struct ag_path *p = &e->paths[i];
		fputs("  - { id: ", f);
		qstr(f, p->id);
		fprintf(f, ", kind: %s",
			ag_path_kind_name((enum ag_path_kind)p->kind));
		refs(f, "to", p->to, p->n_to);
		fputs(", methods: [", f);
		for (uint32_t k = 0; k < p->n_methods; k++)
			fprintf(f, "%s%s", k ? ", " : "",
				pol->catalogue.methods[p->methods[k]].name);
		putc(']', f);
		if (p->n_via)
			refs(f, "via", p->via_refs, p->n_via);
		if (p->device_check)
			fputs(", device_check: true", f);
		if (p->monitored)
			fputs(", monitored: true", f);
		if (p->lifetime >= 0) {
			ag_duration_format(p->lifetime, d, sizeof(d));
			fprintf(f, ", lifetime: %s", d);
		}
		if (p->kind == AG_PATH_BREAK_GLASS) {
			fprintf(f, ", approval: %s, alert: %s",
				p->approval ? "true" : "false",
				p->alert ? "true" : "false");
			if (p->approvals >= 0)
				fprintf(f, ", approvals: %d", p->approvals);
		}
		date(f, "created", p->created);
		date(f, "last_rotated", p->last_rotated);
		date(f, "last_used", p->last_used);
		if (p->never_used && !p->last_used)
			fputs(", never_used: true", f);
		if (p->description) {
			fputs(", description: ", f);
			qstr(f, p->description);
		}
		fputs(" }\n", f);
	}
	return ferror(f) ? AG_ERR_IO : AG_OK;
}
