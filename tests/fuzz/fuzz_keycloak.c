/*
 * libFuzzer target: the Keycloak importer (ag_import_keycloak_buffer),
 * then the resolver, the audit and the JSON report on what it imported,
 * against one fixed policy that has every workflow the importer's default
 * mapping can ask for.  A "federated" method is defined on every other
 * input, so that both ways of importing identity providers run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aalgate/import.h"
#include "report/report.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define POLICY_COMMON                                                      \
	"profile: sp800-63b-4\n"                                           \
	"assume: { mailbox: 1, phone: 1, external: 2 }\n"                  \
	"workflows:\n"                                                     \
	"  admin:    { aal: 3, phishing_resistant: true, max_age: 12h }\n" \
	"  staff:    { aal: 2 }\n"                                         \
	"  machine:  { machine: true, credentials: [workload_identity, mtls] }\n"

static const char policy_plain[] = POLICY_COMMON;
static const char policy_federated[] =
	POLICY_COMMON
	"methods:\n"
	"  federated: { factor: have, alone: 1 }\n";

static struct ag_policy *policies[2];
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct ag_error err;
	const char *texts[2] = {policy_plain, policy_federated};

	(void)argc;
	(void)argv;
	for (int i = 0; i < 2; i++) {
		ag_error_init(&err);
		if (ag_policy_load_buffer("fuzz-policy.yaml", texts[i],
					  strlen(texts[i]), &policies[i],
					  &err)) {
			fprintf(stderr, "fuzz_keycloak: embedded policy: %s\n",
				err.msg);
			abort();
		}
	}
	if (!(devnull = fopen("/dev/null", "w"))) {
		perror("fuzz_keycloak: /dev/null");
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ag_estate *e = NULL;
	struct ag_audit *a = NULL;
	struct ag_error err;
	struct ag_import_opts opts = {NULL};
	const struct ag_policy *p = policies[size & 1];

	ag_error_init(&err);
	if (ag_estate_new(p, &e))
		goto out;
	ag_estate_set_now(e, 1748736000); /* 2025-06-01 */
	ag_code rc = ag_import_keycloak_buffer(e, "fuzz-realm.json",
					       (const char *)data, size, &opts,
					       &err);
	/* A failure always says why, and names the input. */
	if (rc != AG_OK &&
	    (err.code != rc || strncmp(err.msg, "fuzz-realm.json", 15)))
		abort();
	if (rc || ag_estate_resolve(e, &err) || ag_audit_run(e, &a, &err))
		goto out;
	if (a->n_accounts != ag_estate_n_accounts(e))
		abort();
	if (ag_report_json(devnull, e, a, "fuzz-policy.yaml"))
		abort();
out:
	ag_audit_free(a);
	ag_estate_free(e);
	return 0;
}
