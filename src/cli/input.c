/*
 * Reading the inputs of the commands: estate files, Keycloak realm
 * exports and AWS credential reports (by flag or recognised by content),
 * request files and tokens (a file or standard input).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int ag_cli_read_input(const char *cmd, const char *path, size_t cap,
		      char **body, size_t *len)
{
	struct ag_error err;

	*body = NULL;
	*len = 0;
	ag_error_init(&err);
	if (strcmp(path, "-")) {
		if (ag_read_file(path, cap, body, len, &err) != AG_OK) {
			fprintf(stderr, "%s\n", err.msg);
			return AG_EXIT_USAGE;
		}
		return AG_EXIT_OK;
	}
	struct ag_buf b;
	char chunk[4096];
	size_t n;
	ag_buf_init(&b, cap);
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		if (ag_buf_add(&b, chunk, n))
			break;
	if (b.failed || ferror(stdin)) {
		ag_buf_release(&b);
		return ag_cli_die(cmd, "standard input: unreadable or over %zu "
				  "bytes", cap);
	}
	*body = b.data ? b.data : ag_strdup("");
	*len = b.len;
	if (!*body)
		return ag_cli_die(cmd, "out of memory");
	return AG_EXIT_OK;
}

int ag_cli_read_token(const char *cmd, const char *path, size_t cap,
		      char **tok, size_t *len)
{
	int ret = ag_cli_read_input(cmd, path, cap, tok, len);
	if (ret)
		return ret;
	char *s = *tok, *e = *tok + *len;
	while (s < e && strchr(" \t\r\n", *s))
		s++;
	while (e > s && strchr(" \t\r\n", e[-1]))
		e--;
	*len = (size_t)(e - s);
	memmove(*tok, s, *len);
	(*tok)[*len] = '\0';
	if (!*len) {
		free(*tok);
		*tok = NULL;
		return ag_cli_die(cmd, "%s: no token in it",
				  strcmp(path, "-") ? path : "standard input");
	}
	return AG_EXIT_OK;
}
