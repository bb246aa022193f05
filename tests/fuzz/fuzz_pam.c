/*
 * libFuzzer target: the PAM socket's request parser (DESIGN §4.5), which
 * reads what any local process allowed to connect sends the daemon.
 *
 * Input: one request line, newline included, as the daemon reads it.
 *
 * Oracles: a parse either fails with a message and leaves the request
 * zeroed, or the input is at most AG_PAM_REQUEST_MAX bytes, every field
 * is NUL-terminated inside its buffer, non-empty, UTF-8 and free of
 * spaces, control characters and DEL, the phase is "auth" or "account", and the
 * fields joined back with the protocol name give exactly the input.
 *
 * The module's answer parser (src/pam/pam_aalgate.c) is static in the
 * module and is not reached from here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aalgate/pamd.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A field as the parser must leave it: terminated inside cap bytes, 1 or
 * more bytes long, UTF-8, none of them a space, a control character or
 * DEL. */
static size_t field_ok(const char *f, size_t cap)
{
	const char *nul = memchr(f, '\0', cap);
	if (!nul || nul == f)
		abort();
	for (const char *c = f; c < nul; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c == 0x7f)
			abort();
	if (!ag_utf8_valid(f, (size_t)(nul - f)))
		abort();
	return (size_t)(nul - f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct ag_pam_request zero;
	struct ag_pam_request rq;
	struct ag_error err;
	char back[AG_PAM_REQUEST_MAX + 1];

	ag_error_init(&err);
	memset(&rq, 0xa5, sizeof(rq)); /* the parser must clear it */
	if (ag_pam_request_parse((const char *)data, size, &rq, &err) !=
	    AG_OK) {
		if (!err.msg[0] || memcmp(&rq, &zero, sizeof(rq)))
			abort();
		return 0;
	}
	if (size > AG_PAM_REQUEST_MAX || size == 0 || data[size - 1] != '\n')
		abort();
	field_ok(rq.phase, sizeof(rq.phase));
	if (strcmp(rq.phase, "auth") && strcmp(rq.phase, "account"))
		abort();
	if (field_ok(rq.user, sizeof(rq.user)) > AG_PAM_FIELD_MAX ||
	    field_ok(rq.workflow, sizeof(rq.workflow)) > AG_PAM_FIELD_MAX ||
	    field_ok(rq.host, sizeof(rq.host)) > AG_PAM_HOST_MAX ||
	    field_ok(rq.service, sizeof(rq.service)) > AG_PAM_FIELD_MAX ||
	    field_ok(rq.rhost, sizeof(rq.rhost)) > AG_PAM_FIELD_MAX)
		abort();
	int n = snprintf(back, sizeof(back), "%s %s %s %s %s %s %s\n",
			 AG_PAM_PROTO, rq.phase, rq.user, rq.workflow, rq.host,
			 rq.service, rq.rhost);
	if (n < 0 || (size_t)n != size || memcmp(back, data, size))
		abort(); /* the parser accepted more, or other, than it kept */
	return 0;
}
