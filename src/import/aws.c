/* Placeholder while the importer is written; replaced in full. */
#include <stdlib.h>

#include "aalgate/import.h"
#include "util.h"
#include "banned.h"

ag_code ag_import_aws_report_buffer(struct ag_estate *e, const char *name,
			       const char *buf, size_t len,
			       const struct ag_import_opts *opts,
			       struct ag_error *err)
{
	(void)e; (void)buf; (void)len; (void)opts;
	return ag_err(err, AG_ERR_USAGE, "%s: this importer is not built", name);
}

ag_code ag_import_aws_report(struct ag_estate *e, const char *path,
			const struct ag_import_opts *opts, struct ag_error *err)
{
	char *buf;
	size_t len;
	ag_code rc = ag_read_file(path, AG_IMPORT_MAX_BYTES, &buf, &len, err);
	if (rc)
		return rc;
	rc = ag_import_aws_report_buffer(e, path, buf, len, opts, err);
	free(buf);
	return rc;
}
