/*
 * Reading the inputs of audit and import: estate files, Keycloak realm
 * exports and AWS credential reports, by flag or recognised by content.
 */
#include <stdlib.h>

#include "aalgate/import.h"
#include "cli.h"
#include "util.h"
#include "banned.h"

ag_code ag_cli_load_input(struct ag_estate *e, const char *path, int kind,
			  const struct ag_import_opts *opts,
			  struct ag_error *err)
{
	char *buf;
	size_t len;
	ag_code rc = ag_read_file(path, AG_ESTATE_MAX_BYTES, &buf, &len, err);
	if (rc)
		return rc;
	if (kind < 0)
		kind = (int)ag_input_sniff(buf, len);
	switch (kind) {
	case AG_INPUT_KEYCLOAK:
		rc = ag_import_keycloak_buffer(e, path, buf, len, opts, err);
		break;
	case AG_INPUT_AWS_REPORT:
		rc = ag_import_aws_report_buffer(e, path, buf, len, opts, err);
		break;
	default:
		rc = ag_estate_load_buffer(e, path, buf, len, err);
		break;
	}
	free(buf);
	return rc;
}
