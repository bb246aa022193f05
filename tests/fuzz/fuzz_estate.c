/*
 * libFuzzer target: the estate loader, the resolver, the audit's fixed
 * point and findings, and the three reports, against one fixed policy
 * that uses every workflow feature an estate can refer to.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aalgate/audit.h"
#include "report/report.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy_text[] =
	"profile: sp800-63b-4\n"
	"assume: { mailbox: 1, phone: 1, external: 2, device: 0 }\n"
	"workflows:\n"
	"  admin:    { aal: 3, phishing_resistant: true, device: managed,\n"
	"              max_age: 12h, idle: 15m,\n"
	"              jit: { max: 1h, approvers: \"group:admins\", approvals: 1 } }\n"
	"  payroll:  { aal: 2, phishing_resistant: true }\n"
	"  staff:    { aal: 2 }\n"
	"  basic:    { aal: 1 }\n"
	"  open:     { aal: 0 }\n"
	"  none:     { description: no requirement }\n"
	"  recovery: { aal: match_account }\n"
	"  ci-deploy: { machine: true, max_token_lifetime: 1h,\n"
	"               credentials: [workload_identity, mtls],\n"
	"               networks: [10.20.0.0/16] }\n"
	"break_glass: { approvals: 2, max: 4h, alert: true }\n"
	"methods:\n"
	"  helpdesk_video_id: { factor: have, alone: 1 }\n"
	"  carrier_app: { factor: have, alone: 1, delegated: phone }\n"
	"  mail_code: { factor: have, alone: 1, delegated: email, recovery_only: true }\n"
	"  secret_question: { factor: know, alone: 0, prohibited: true }\n"
	"  hw_token: { factor: have, alone: 1, phishing_resistant: true, hardware: true }\n";

static struct ag_policy *policy;
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct ag_error err;

	(void)argc;
	(void)argv;
	ag_error_init(&err);
	if (ag_policy_load_buffer("fuzz-policy.yaml", policy_text,
				  strlen(policy_text), &policy, &err)) {
		fprintf(stderr, "fuzz_estate: embedded policy: %s\n", err.msg);
		abort();
	}
	if (!(devnull = fopen("/dev/null", "w"))) {
		perror("fuzz_estate: /dev/null");
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ag_estate *e = NULL;
	struct ag_audit *a = NULL;
	struct ag_error err;

	ag_error_init(&err);
	if (ag_estate_new(policy, &e))
		goto out;
	if (ag_estate_load_buffer(e, "fuzz-estate.yaml", (const char *)data,
				  size, &err) ||
	    ag_estate_resolve(e, &err) || ag_audit_run(e, &a, &err))
		goto out;

	if (a->n_accounts != ag_estate_n_accounts(e))
		abort();
	if (ag_report_text(devnull, e, a) ||
	    ag_report_json(devnull, e, a, "fuzz-policy.yaml") ||
	    ag_report_sarif(devnull, e, a))
		abort();
	/* --explain on the first and the last account. */
	if (a->n_accounts) {
		uint32_t last = (uint32_t)(a->n_accounts - 1);
		if (ag_report_explain_text(devnull, e, a, 0) ||
		    ag_report_explain_json(devnull, e, a, last))
			abort();
	}
out:
	ag_audit_free(a);
	ag_estate_free(e);
	return 0;
}
