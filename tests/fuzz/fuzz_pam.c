/*
 * libFuzzer target: the PAM socket's request parser (docs/man/pam_aalgate.8),
 * which reads what any local process allowed to connect sends the daemon.
 *
 * Input: one request line, newline included, as the daemon reads it.
 *
 * Oracles: a parse either fails with a message and leaves the request
 * zeroed, or the input is at most AG_PAM_REQUEST_MAX bytes, every field
 * is NUL-terminated inside its buffer, non-empty, UTF-8 and free of
 * spaces, control characters and DEL, the phase is "auth" or "account", and the
 * fields joined back with the protocol name give exactly the input.
 *
 * The same bytes, cut at their first NUL, are also an answer line for the
 * module's answer parser (src/pam/pam_aalgate.c, compiled in here, since
 * the module keeps it static): it allows, denies or fails, and what it
 * accepts is exactly "AGPAM1 allow ID\n" or "AGPAM1 deny REASON ID\n" with
 * the fields it kept; a failure says why and keeps no field.
 */
/* The module first, as its own build compiles it (it sets _GNU_SOURCE),
 * for its static answer parser. */
#include "pam/pam_aalgate.c"

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
static size_t req_field_ok(const char *f, size_t cap)
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

static void answer_ok(const uint8_t *data, size_t size)
{
	char line[AG_PAM_ANSWER_MAX * 2 + 1], back[AG_PAM_ANSWER_MAX * 2 + 64];
	struct answer ans;
	int n = -1;

	if (size >= sizeof(line))
		return;
	memcpy(line, data, size);
	line[size] = '\0';
	memset(&ans, 0xa5, sizeof(ans));
	ans.reason[0] = ans.id[0] = ans.why[0] = '\0';
	switch (parse_answer(line, &ans)) {
	case ASK_ALLOW:
		if (!ans.id[0] || ans.reason[0])
			abort();
		n = snprintf(back, sizeof(back), "%s allow %s\n", AG_PAM_PROTO,
			     ans.id);
		break;
	case ASK_DENY:
		if (!ans.id[0] || !ans.reason[0])
			abort();
		n = snprintf(back, sizeof(back), "%s deny %s %s\n",
			     AG_PAM_PROTO, ans.reason, ans.id);
		break;
	case ASK_FAILED:
		if (!ans.why[0] || ans.reason[0] || ans.id[0])
			abort();
		return;
	default:
		abort();
	}
	if (n < 0 || strcmp(back, line))
		abort(); /* accepted more, or other, than it kept */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct ag_pam_request zero;
	struct ag_pam_request rq;
	struct ag_error err;
	char back[AG_PAM_REQUEST_MAX + 1];

	answer_ok(data, size);
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
	req_field_ok(rq.phase, sizeof(rq.phase));
	if (strcmp(rq.phase, "auth") && strcmp(rq.phase, "account"))
		abort();
	if (req_field_ok(rq.user, sizeof(rq.user)) > AG_PAM_FIELD_MAX ||
	    req_field_ok(rq.workflow, sizeof(rq.workflow)) > AG_PAM_FIELD_MAX ||
	    req_field_ok(rq.host, sizeof(rq.host)) > AG_PAM_HOST_MAX ||
	    req_field_ok(rq.service, sizeof(rq.service)) > AG_PAM_FIELD_MAX ||
	    req_field_ok(rq.rhost, sizeof(rq.rhost)) > AG_PAM_FIELD_MAX)
		abort();
	int n = snprintf(back, sizeof(back), "%s %s %s %s %s %s %s\n",
			 AG_PAM_PROTO, rq.phase, rq.user, rq.workflow, rq.host,
			 rq.service, rq.rhost);
	if (n < 0 || (size_t)n != size || memcmp(back, data, size))
		abort(); /* the parser accepted more, or other, than it kept */
	return 0;
}
