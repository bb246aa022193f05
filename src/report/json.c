#include "report.h"
#include "banned.h"

ag_code ag_report_json(FILE *f, const struct ag_estate *e,
		       const struct ag_audit *A, const char *policy_file)
{
	struct ag_jsonw w;

	ag_jw_init(&w, f, 2);
	ag_jw_obj(&w);
	ag_jw_key(&w, "tool");
	ag_jw_str(&w, "aalgate");
	ag_jw_key(&w, "version");
	ag_jw_str(&w, AG_VERSION);
	ag_jw_key(&w, "profile");
	ag_jw_str(&w, ag_profile_name(e->policy->profile));
	ag_jw_key(&w, "policy");
	ag_jw_str(&w, policy_file);
	ag_jw_key(&w, "estates");
	ag_jw_arr(&w);
	for (size_t i = 0; i < e->n_files; i++)
		ag_jw_str(&w, e->files[i]);
	ag_jw_arr_end(&w);

	ag_jw_key(&w, "summary");
	ag_jw_obj(&w);
	size_t listed = 0;
	for (size_t a = 0; a < e->n_accounts; a++)
		listed += !e->accounts[a].synthetic;
	ag_jw_key(&w, "accounts");
	ag_jw_int(&w, (long long)listed);
	ag_jw_key(&w, "paths");
	ag_jw_int(&w, (long long)e->n_paths);
	ag_jw_key(&w, "below_required");
	ag_jw_int(&w, (long long)A->below_required);
	ag_jw_key(&w, "findings");
	ag_jw_int(&w, (long long)A->n_findings);
	ag_jw_key(&w, "by_severity");
	ag_jw_obj(&w);
	for (int s = AG_SEV_CRITICAL; s >= AG_SEV_INFO; s--) {
		ag_jw_key(&w, ag_severity_name((enum ag_severity)s));
		ag_jw_int(&w, (long long)A->by_severity[s]);
	}
	ag_jw_obj_end(&w);
	ag_jw_obj_end(&w);

	ag_jw_key(&w, "accounts");
	ag_jw_arr(&w);
	for (size_t a = 0; a < e->n_accounts; a++)
		if (!e->accounts[a].synthetic)
			ag_report_account_json(&w, e, A, (uint32_t)a);
	ag_jw_arr_end(&w);

	ag_jw_key(&w, "findings");
	ag_jw_arr(&w);
	for (size_t i = 0; i < A->n_findings; i++)
		ag_report_finding_json(&w, e, A, &A->findings[i]);
	ag_jw_arr_end(&w);
	ag_jw_obj_end(&w);
	ag_jw_end(&w);
	return ferror(f) ? AG_ERR_IO : AG_OK;
}
