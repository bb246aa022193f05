/*
 * libFuzzer target: the AWS IAM credential report importer (its CSV
 * reader and the mapping of rows to accounts and paths), then the
 * resolver, the audit with credential ages at a fixed "now", the text
 * and JSON reports, and the estate YAML writer: what an import writes
 * must load back as the same accounts and paths.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aalgate/import.h"
#include "report/report.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy_text[] =
	"profile: sp800-63b-4\n"
	"workflows:\n"
	"  admin: { aal: 3, phishing_resistant: true }\n"
	"  staff: { aal: 2 }\n"
	"nhi: { stale: 90d, rotate: 90d }\n";

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
		fprintf(stderr, "fuzz_aws: embedded policy: %s\n", err.msg);
		abort();
	}
	if (!(devnull = fopen("/dev/null", "w"))) {
		perror("fuzz_aws: /dev/null");
		abort();
	}
	return 0;
}

/* Writes e as YAML and loads it back into a new estate. */
static void round_trip(const struct ag_estate *e)
{
	char *yaml = NULL;
	size_t len = 0;
	struct ag_estate *back = NULL;
	struct ag_error err;
	FILE *f = open_memstream(&yaml, &len);

	if (!f)
		return; /* out of memory: nothing to check */
	if (ag_estate_write_yaml(e, f) || fclose(f)) {
		free(yaml);
		return;
	}
	ag_error_init(&err);
	if (ag_estate_new(policy, &back) == AG_OK) {
		if (ag_estate_load_buffer(back, "fuzz-estate.yaml", yaml, len,
					  &err)) {
			fprintf(stderr, "fuzz_aws: the imported estate does "
					"not load back: %s\n",
				err.msg);
			abort();
		}
		if (ag_estate_n_accounts(back) != ag_estate_n_accounts(e) ||
		    ag_estate_n_paths(back) != ag_estate_n_paths(e))
			abort();
	}
	ag_estate_free(back);
	free(yaml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ag_estate *e = NULL;
	struct ag_audit *a = NULL;
	struct ag_error err;

	ag_error_init(&err);
	if (ag_estate_new(policy, &e))
		goto out;
	ag_estate_set_now(e, 1751241600); /* 2025-06-30 */
	ag_code rc = ag_import_aws_report_buffer(e, "fuzz-report.csv",
						 (const char *)data, size, NULL,
						 &err);
	if (rc) {
		/* Every failure says what went wrong. */
		if (err.code != rc || !err.msg[0])
			abort();
		goto out;
	}
	round_trip(e);
	if (ag_estate_resolve(e, &err) || ag_audit_run(e, &a, &err))
		goto out;
	if (a->n_accounts != ag_estate_n_accounts(e))
		abort();
	if (ag_report_text(devnull, e, a) ||
	    ag_report_json(devnull, e, a, "fuzz-policy.yaml"))
		abort();
out:
	ag_audit_free(a);
	ag_estate_free(e);
	return 0;
}
