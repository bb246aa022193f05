/*
 * libFuzzer target: the policy loader (YAML reader, validation, profile
 * defaults).  Every input must either load or fail with an error code and
 * a message; nothing may crash, leak or hang.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "aalgate/aalgate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ag_policy *p = NULL;
	struct ag_error err;

	ag_error_init(&err);
	ag_code rc = ag_policy_load_buffer("fuzz-policy.yaml", (const char *)data,
					   size, &p, &err);
	/* The API's contract: a policy exactly when the load succeeded, and
	 * a message whenever it failed. */
	if ((rc == AG_OK) != (p != NULL))
		abort();
	if (rc != AG_OK && (err.code != rc || err.msg[0] == '\0'))
		abort();
	ag_policy_free(p);
	return 0;
}
