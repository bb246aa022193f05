/*
 * Recognising an input by its content (DESIGN §6): an AWS credential
 * report starts with its documented header; a Keycloak export is a JSON
 * object (or array of objects) with a "realm" member; anything else is
 * an estate file.
 */
#include <string.h>

#include "aalgate/import.h"
#include "banned.h"

enum ag_input_kind ag_input_sniff(const char *buf, size_t len)
{
	size_t i = 0;

	if (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3))
		i = 3; /* a UTF-8 byte order mark */
	if (len - i >= 9 && !memcmp(buf + i, "user,arn,", 9))
		return AG_INPUT_AWS_REPORT;
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
