/*
 * Recognising an input by its content (docs/importers.md): an AWS credential
 * report's first line names its documented columns; a Keycloak export is a JSON
 * object (or array of objects) with a "realm" member; anything else is
 * an estate file.
 */
#include <stdbool.h>
#include <string.h>

#include "aalgate/import.h"
#include "banned.h"

enum ag_input_kind ag_input_sniff(const char *buf, size_t len)
{
	size_t i = 0;

	if (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3))
		i = 3; /* a UTF-8 byte order mark */
	/* A credential report's header line names these columns, in any
	 * order (AWS documents the names, not their order). */
	const char *nl = memchr(buf + i, '\n', len - i < 4096 ? len - i : 4096);
	if (nl) {
		size_t hl = (size_t)(nl - (buf + i));
		static const char *const cols[] = {"arn", "password_enabled",
						   "mfa_active", "user"};
		size_t found = 0;
		for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++) {
			size_t cl = strlen(cols[c]);
			for (size_t k = 0; k + cl <= hl; k++) {
				const char *p = buf + i + k;
				bool start = k == 0 || p[-1] == ',' || p[-1] == '"';
				bool end = k + cl == hl || p[cl] == ',' ||
					   p[cl] == '"' || p[cl] == '\r';
				if (start && end && !memcmp(p, cols[c], cl)) {
					found++;
					break;
				}
			}
		}
		if (found == sizeof(cols) / sizeof(cols[0]))
			return AG_INPUT_AWS_REPORT;
	}
	while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' ||
			   buf[i] == '\n'))
		i++;
	if (i < len && (buf[i] == '{' || buf[i] == '[')) {
		/* JSON is also YAML flow syntax, so look for the member
		 * every realm export has, near the start. */
		size_t window = len - i < 65536 ? len - i : 65536;
		for (size_t k = i; k + 7 <= i + window; k++)
			if (!memcmp(buf + k, "\"realm\"", 7))
				return AG_INPUT_KEYCLOAK;
	}
	return AG_INPUT_ESTATE;
}
