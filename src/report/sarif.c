/*
 * SARIF 2.1.0 (OASIS): one rule per AG code, one result per finding,
 * each located at the path's line in the estate file.
 */
#include <string.h>

#include "report.h"
#include "banned.h"

const char *ag_sarif_level(enum ag_severity s)
{
	switch (s) {
	case AG_SEV_CRITICAL:
	case AG_SEV_HIGH:
		return "error";
	case AG_SEV_MEDIUM:
		return "warning";
	case AG_SEV_LOW:
	case AG_SEV_INFO:
		break;
	}
	return "note";
}

/* The rules `audit` raises, in SARIF's rule order: the estate rules and
 * the two machine-identity rules it judges on estate paths (the others
 * are `aalgate nhi audit`'s). */
static const enum ag_rule audit_rules[] = {
	AG_P01, AG_P02, AG_P03, AG_P04, AG_P05, AG_P06, AG_P07, AG_P08,
	AG_P09, AG_P10, AG_P11, AG_P12, AG_P13, AG_N02, AG_N06,
};

static long rule_index(enum ag_rule r)
{
	for (size_t i = 0; i < AG_ARRAY_SIZE(audit_rules); i++)
		if (audit_rules[i] == r)
			return (long)i;
	return -1;
}

/* Default severity of each rule, for the rule's defaultConfiguration. */
static enum ag_severity rule_severity(enum ag_rule r)
{
	switch (r) {
	case AG_P01:
	case AG_P02:
	case AG_P03:
	case AG_P04:
	case AG_P10:
	case AG_P11:
	case AG_P12:
		return AG_SEV_HIGH;
	case AG_P05:
	case AG_P07:
	case AG_P08:
		return AG_SEV_MEDIUM;
	case AG_P06:
	case AG_P09:
		return AG_SEV_LOW;
	case AG_N02:
	case AG_N04:
	case AG_N05:
	case AG_N06:
	case AG_N08:
		return AG_SEV_MEDIUM;
	case AG_N01:
	case AG_N03:
	case AG_N07:
	case AG_N09:
		return AG_SEV_HIGH;
	case AG_P13:
	case AG_RULE_COUNT:
		break;
	}
	return AG_SEV_INFO;
}

/* A relative file name as a URI reference (RFC 3986): unreserved
 * characters and '/' stay, the rest is percent-encoded. */
static void uri(struct ag_jsonw *w, const char *file)
{
	struct ag_buf b;
	ag_buf_init(&b, 64 * 1024);
	for (const unsigned char *p = (const unsigned char *)file; *p; p++) {
		unsigned char c = *p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~' || c == '/')
			ag_buf_addc(&b, (char)c);
		else
			ag_buf_printf(&b, "%%%02X", c);
	}
	ag_jw_strn(w, b.data ? b.data : "", b.len);
	ag_buf_release(&b);
}

ag_code ag_report_sarif(FILE *f, const struct ag_estate *e,
			const struct ag_audit *A)
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
	ag_jw_arr(&w);
	for (size_t k = 0; k < AG_ARRAY_SIZE(audit_rules); k++) {
		enum ag_rule r = audit_rules[k];
		const struct ag_rule_info *ri = ag_rule_info(r);
		ag_jw_obj(&w);
		ag_jw_key(&w, "id");
		ag_jw_str(&w, ri->code);
		ag_jw_key(&w, "name");
		ag_jw_str(&w, ri->name);
		ag_jw_key(&w, "shortDescription");
		ag_jw_obj(&w);
		ag_jw_key(&w, "text");
		ag_jw_str(&w, ri->summary);
		ag_jw_obj_end(&w);
		ag_jw_key(&w, "defaultConfiguration");
		ag_jw_obj(&w);
		ag_jw_key(&w, "level");
		ag_jw_str(&w, ag_sarif_level(rule_severity(r)));
		ag_jw_obj_end(&w);
		ag_jw_key(&w, "properties");
		ag_jw_obj(&w);
		ag_jw_key(&w, "tags");
		ag_jw_arr(&w);
		ag_jw_str(&w, "security");
		for (size_t i = 0; ri->refs[i]; i++)
			ag_jw_str(&w, ri->refs[i]);
		ag_jw_arr_end(&w);
		ag_jw_obj_end(&w);
		ag_jw_obj_end(&w);
	}
	ag_jw_arr_end(&w);
	ag_jw_obj_end(&w);
	ag_jw_obj_end(&w);

	ag_jw_key(&w, "artifacts");
	ag_jw_arr(&w);
	for (size_t i = 0; i < e->n_files; i++) {
		ag_jw_obj(&w);
		ag_jw_key(&w, "location");
		ag_jw_obj(&w);
		ag_jw_key(&w, "uri");
		uri(&w, e->files[i]);
		ag_jw_obj_end(&w);
		ag_jw_obj_end(&w);
	}
	ag_jw_arr_end(&w);

	ag_jw_key(&w, "results");
	ag_jw_arr(&w);
	for (size_t i = 0; i < A->n_findings; i++) {
		const struct ag_finding *fd = &A->findings[i];
		const struct ag_rule_info *ri =
			ag_rule_info((enum ag_rule)fd->rule);
		uint32_t file;
		unsigned line, col;

		ag_jw_obj(&w);
		ag_jw_key(&w, "ruleId");
		ag_jw_str(&w, ri->code);
		ag_jw_key(&w, "ruleIndex");
		ag_jw_int(&w, rule_index((enum ag_rule)fd->rule));
		ag_jw_key(&w, "level");
		ag_jw_str(&w, ag_sarif_level((enum ag_severity)fd->severity));
		ag_jw_key(&w, "message");
		ag_jw_obj(&w);
		ag_jw_key(&w, "text");
		b.len = 0;
		ag_report_message(e, A, fd, &b);
		ag_jw_strn(&w, b.data ? b.data : "", b.len);
		ag_jw_obj_end(&w);
		if (ag_report_location(e, fd, &file, &line, &col)) {
			ag_jw_key(&w, "locations");
			ag_jw_arr(&w);
			ag_jw_obj(&w);
			ag_jw_key(&w, "physicalLocation");
			ag_jw_obj(&w);
			ag_jw_key(&w, "artifactLocation");
			ag_jw_obj(&w);
			ag_jw_key(&w, "uri");
			uri(&w, ag_estate_file(e, file));
			ag_jw_key(&w, "index");
			ag_jw_int(&w, file);
			ag_jw_obj_end(&w);
			if (line) { /* imported items have no line */
				ag_jw_key(&w, "region");
				ag_jw_obj(&w);
				ag_jw_key(&w, "startLine");
				ag_jw_int(&w, line);
				ag_jw_key(&w, "startColumn");
				ag_jw_int(&w, col ? col : 1);
				ag_jw_obj_end(&w);
			}
			ag_jw_obj_end(&w);
			ag_jw_obj_end(&w);
			ag_jw_arr_end(&w);
		}
		ag_jw_key(&w, "partialFingerprints");
		ag_jw_obj(&w);
		ag_jw_key(&w, "aalgateFinding/v1");
		b.len = 0;
		ag_report_finding_id(e, fd, &b);
		ag_jw_strn(&w, b.data ? b.data : "", b.len);
		ag_jw_obj_end(&w);
		ag_jw_key(&w, "properties");
		ag_jw_obj(&w);
		ag_jw_key(&w, "severity");
		ag_jw_str(&w, ag_severity_name((enum ag_severity)fd->severity));
		if (fd->account != AG_NONE) {
			ag_jw_key(&w, "account");
			ag_jw_str(&w, e->accounts[fd->account].id);
		}
		if (fd->path != AG_NONE) {
			ag_jw_key(&w, "path");
			ag_jw_str(&w, e->paths[fd->path].id);
		}
		ag_jw_obj_end(&w);
		ag_jw_obj_end(&w);
	}
	ag_jw_arr_end(&w);
	ag_jw_obj_end(&w);
	ag_jw_arr_end(&w);
	ag_jw_obj_end(&w);
	ag_jw_end(&w);
	ag_buf_release(&b);
	return ferror(f) ? AG_ERR_IO : AG_OK;
}
