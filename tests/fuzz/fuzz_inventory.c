/*
 * libFuzzer target: the machine-identity inventory loaders
 * (ag_nhi_load_buffer) in every format: recognition (AG_NHI_AUTO), the
 * generic JSON/YAML and CSV forms, and the AWS report, Keycloak export
 * and estate file through ag_nhi_from_estate.  Every refusal must name
 * the input and say what went wrong; every inventory read must resolve
 * against the policy it was checked against, hold only records with an
 * id and a kind that ag_nhi_find returns, and refuse to be read twice.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aalgate/nhi.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy_text[] =
	"profile: sp800-63b-4\n"
	"workflows:\n"
	"  admin: { aal: 3, phishing_resistant: true }\n"
	"  staff: { aal: 2 }\n"
	"  ci-deploy: { machine: true, credentials: [workload_identity, mtls] }\n"
	"nhi: { stale: 90d, rotate: 90d }\n";

static const char name[] = "fuzz-inventory";

static struct ag_policy *policy;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct ag_error err;

	(void)argc;
	(void)argv;
	ag_error_init(&err);
	if (ag_policy_load_buffer("fuzz-policy.yaml", policy_text,
				  strlen(policy_text), &policy, &err)) {
		fprintf(stderr, "fuzz_inventory: embedded policy: %s\n",
			err.msg);
		abort();
	}
	return 0;
}

static void check(const char *buf, size_t len, enum ag_nhi_format fmt)
{
	struct ag_nhi_inventory inv;
	struct ag_error err;

	if (ag_nhi_inventory_init(&inv))
		return;
	ag_error_init(&err);
	ag_code rc = ag_nhi_load_buffer(&inv, policy, name, buf, len, fmt,
					&err);
	if (rc) {
		/* Every failure names the input and says what went wrong. */
		if (err.code != rc || strncmp(err.msg, name, strlen(name)) ||
		    strlen(err.msg) <= strlen(name) + 2) {
			fprintf(stderr, "fuzz_inventory: format %d: code %d, "
					"message '%s'\n",
				(int)fmt, (int)rc, err.msg);
			abort();
		}
		goto out;
	}
	for (size_t i = 0; i < inv.n; i++) {
		const struct ag_nhi *r = &inv.v[i];
		if (!r->id || !*r->id || !r->kind || !*r->kind ||
		    r->scopes.n > AG_NHI_MAX_LIST ||
		    r->used_scopes.n > AG_NHI_MAX_LIST ||
		    r->environments.n > AG_NHI_MAX_LIST ||
		    r->used_by.n > AG_NHI_MAX_LIST || r->file >= inv.n_files ||
		    ag_nhi_find(&inv, r->issuer, r->id) != r)
			abort();
	}
	/* Kinds and workflows were checked as they were read. */
	if (ag_nhi_resolve(&inv, policy, &err)) {
		fprintf(stderr, "fuzz_inventory: format %d: read, but does "
				"not resolve: %s\n",
			(int)fmt, err.msg);
		abort();
	}
	/* Reading it again repeats every id and owner. */
	if ((inv.n || inv.n_owners) &&
	    ag_nhi_load_buffer(&inv, policy, name, buf, len, fmt, &err) ==
		    AG_OK)
		abort();
out:
	ag_nhi_inventory_release(&inv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum ag_nhi_format formats[] = {
		AG_NHI_AUTO, AG_NHI_JSON,     AG_NHI_CSV,
		AG_NHI_AWS,  AG_NHI_KEYCLOAK, AG_NHI_ESTATE,
	};
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		check((const char *)data, size, formats[i]);
	return 0;
}
