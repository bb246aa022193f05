/*
 * libFuzzer target: the help-desk reset request parser (`aalgate helpdesk
 * reset`), read as without and with a state store against a fixed
 * policy, and the govern HTTP face's path segment decoder
 * (/v1/accounts/{id}/enrolments/{method}/{label}).
 *
 * Input: the request body; the same bytes are also one path segment.
 *
 * Oracles: a parse either fails with a message and leaves both parts
 * released, or the request names an account, keeps its "ticket",
 * "verified" steps and "lost" authenticators within their caps and free
 * of control characters, has "lost" and no "now" only with a store, and
 * has one KBA item for each evidence of kind "kba" and none for other
 * evidence, with the category ag_helpdesk_kba gives.  A decoded segment
 * is no longer than its input less two bytes per escape, fits its
 * buffer, holds no control character, is UTF-8 and is not "." or "..";
 * the input it came from holds only pchar bytes and escapes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aalgate/govern.h"
#include "gate/api-govern.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy_yaml[] =
	"workflows:\n"
	"  staff: { aal: 2 }\n"
	"  recovery: { aal: match_account }\n"
	"  helpdesk: { aal: 2 }\n"
	"methods:\n"
	"  helpdesk_video_id: { factor: have, alone: 1 }\n"
	"  badge_question: { factor: have, alone: 1, prohibited: true }\n";

static struct ag_policy *policy;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct ag_error err;
	(void)argc;
	(void)argv;
	ag_error_init(&err);
	if (ag_policy_load_buffer("policy.yaml", policy_yaml,
				  strlen(policy_yaml), &policy, &err)) {
		fprintf(stderr, "fuzz_helpdesk: %s\n", err.msg);
		abort();
	}
	return 0;
}

/* A string the parser kept: at most max bytes (1 or more unless
 * empty_ok), no control character or DEL. */
static void text_ok(const char *s, size_t max, bool empty_ok)
{
	if (!s)
		abort();
	size_t n = strlen(s);
	if (n > max || (!n && !empty_ok))
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			abort();
}

static bool same_category(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static void parse(const uint8_t *data, size_t size, bool stored)
{
	static const struct ag_helpdesk_request zero_hd;
	struct ag_recovery_request rec;
	struct ag_helpdesk_request hd;
	struct ag_error err;

	ag_error_init(&err);
	if (ag_helpdesk_request_parse(policy, "fuzz.json", (const char *)data,
				      size, stored, &rec, &hd,
				      &err) != AG_OK) {
		if (!err.msg[0] || memcmp(&hd, &zero_hd, sizeof(hd)) ||
		    rec.account || rec.evidence || rec.n_evidence ||
		    rec.notify || rec.used || rec.enrolled)
			abort();
		return;
	}
	if (size > AG_RECOVERY_REQUEST_MAX || !rec.account)
		abort();
	if (stored && rec.has_now)
		abort();
	if (hd.ticket)
		text_ok(hd.ticket, AG_HELPDESK_TICKET_MAX, false);
	if (hd.n_verified > AG_HELPDESK_STEPS_MAX ||
	    (hd.n_verified && !hd.verified))
		abort();
	for (size_t i = 0; i < hd.n_verified; i++) {
		text_ok(hd.verified[i].text, AG_HELPDESK_STEP_TEXT, false);
		if (!same_category(hd.verified[i].kba,
				   ag_helpdesk_kba(hd.verified[i].text)))
			abort();
	}
	if (hd.n_lost > AG_HELPDESK_LOST_MAX || (hd.n_lost && !stored) ||
	    (hd.n_lost && !hd.lost))
		abort();
	for (size_t i = 0; i < hd.n_lost; i++) {
		text_ok(hd.lost[i].method, AG_STORE_METHOD_MAX, false);
		text_ok(hd.lost[i].label, AG_STORE_LABEL_MAX, true);
	}
	/* Every evidence given under a KBA name became {"kind": "kba"}, and
	 * every "kba" evidence has its item. */
	size_t n_kba = 0;
	for (size_t i = 0; i < rec.n_evidence; i++)
		if (rec.evidence[i].kind == AG_RECOVERY_KBA)
			n_kba++;
	if (n_kba != hd.n_kba || (hd.n_kba && !hd.kba))
		abort();
	for (size_t i = 0; i < hd.n_kba; i++) {
		const struct ag_helpdesk_kba_item *it = &hd.kba[i];
		if (it->evidence >= rec.n_evidence ||
		    rec.evidence[it->evidence].kind != AG_RECOVERY_KBA ||
		    !it->kba || (i && it->evidence <= hd.kba[i - 1].evidence))
			abort();
		text_ok(it->given, 64, false);
	}
	ag_helpdesk_request_release(&hd);
	ag_recovery_request_release(&rec);
	if (memcmp(&hd, &zero_hd, sizeof(hd)))
		abort();
}

/* RFC 3986 pchar, less '%' (escapes are counted apart). */
static bool pchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr("-._~!$&'()*+,;=:@", c);
}

/* Decodes data into a buffer of cap bytes exactly, so that a write past
 * it is caught. */
static void decode(const uint8_t *data, size_t size, size_t cap)
{
	char *dst = malloc(cap);
	if (!dst)
		abort();
	if (!ag_govern_segment_decode((const char *)data, size, dst, cap)) {
		free(dst);
		return;
	}
	size_t escapes = 0;
	for (size_t i = 0; i < size; i++) {
		if (data[i] == '%')
			escapes++, i += 2;
		else if (!data[i] || !pchar(data[i]))
			abort();
	}
	const char *nul = memchr(dst, '\0', cap);
	if (!nul)
		abort();
	size_t n = (size_t)(nul - dst);
	if (!n || n != size - 2 * escapes || n + 1 > cap)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)dst[i] < 0x20 || dst[i] == 0x7f)
			abort();
	if (!ag_utf8_valid(dst, n) || !strcmp(dst, ".") || !strcmp(dst, ".."))
		abort();
	free(dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse(data, size, false);
	parse(data, size, true);
	decode(data, size, AG_GOVERN_SEGMENT_MAX);
	decode(data, size, size ? size : 1);
	return 0;
}
