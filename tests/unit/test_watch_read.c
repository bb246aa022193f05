/*
 * The event readers (aalgate/watch.h): splitting records out of pushed
 * buffers (JSON lines, pretty-printed documents, JSON arrays, CloudTrail's
 * {"Records": [...]}, syslog lines), the generic normalized form, hostile
 * input (a 10 MB line, truncated JSON, invalid UTF-8, bad dates, deep
 * nesting, duplicate keys, one-byte feeds), the JSON tokenizer against
 * jansson, positions and resuming, and the real samples in
 * ../shared/data/events when they are present.
 *
 * The sources' own mappings are in test_watch_read_sources.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "testutil.h"
#include "watchutil.h"
#include "watch/read-int.h"

static const char policy_text[] =
	"profile: sp800-63b-4\n"
	"workflows:\n"
	"  admin: { aal: 3, phishing_resistant: true, device: managed }\n"
	"  staff: { aal: 2 }\n";

static struct ag_policy *pol;

static int setup(void **state)
{
	(void)state;
	pol = policy_ok(policy_text);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ag_policy_free(pol);
	return 0;
}

/* Every skip reason, in order, as "LINE: why". */
struct skips {
	char v[64][160];
	size_t n;
};

static void on_skip(void *ctx, uint32_t file, uint64_t line, const char *why)
{
	struct skips *s = ctx;
	(void)file;
	if (s->n < 64)
		snprintf(s->v[s->n++], sizeof(s->v[0]), "%llu: %s",
			 (unsigned long long)line, why);
}

#define GOOD(t, subj, kind)                                                 \
	"{\"time\":\"2025-03-01T10:00:0" t "Z\",\"subject\":\"" subj        \
	"\",\"kind\":\"" kind "\"}"

/* ---- names ---- */

static void test_names(void **state)
{
	enum ag_event_source s = AG_SRC_AUTO;
	struct ag_error err;

	(void)state;
	assert_string_equal(ag_event_source_name(AG_SRC_AUTO), "auto");
	assert_string_equal(ag_event_source_name(AG_SRC_AALGATE), "aalgate");
	assert_string_equal(ag_event_source_name(AG_SRC_GENERIC), "generic");
	assert_string_equal(ag_event_source_name(AG_SRC_OKTA), "okta");
	assert_string_equal(ag_event_source_name(AG_SRC_CLOUDTRAIL),
			    "cloudtrail");
	assert_string_equal(ag_event_source_name(AG_SRC_KEYCLOAK), "keycloak");
	assert_string_equal(ag_event_source_name(AG_SRC_AUTHLOG), "authlog");
	assert_string_equal(ag_event_source_name(AG_SRC__COUNT), "unknown");
	for (int i = 0; i < AG_SRC__COUNT; i++) {
		ag_error_init(&err);
		assert_int_equal(ag_event_source_parse(
					 ag_event_source_name(
						 (enum ag_event_source)i),
					 &s, &err),
				 AG_OK);
		assert_int_equal(s, i);
	}
	ag_error_init(&err);
	assert_int_equal(ag_event_source_parse("cloudtrial", &s, &err),
			 AG_ERR_INVALID);
	assert_string_equal(err.msg,
			    "unknown event source 'cloudtrial' (one of auto, "
			    "aalgate, generic, okta, cloudtrail, keycloak, "
			    "authlog); did you mean 'cloudtrail'?");

	static const char *const kinds[] = {
		"login",  "recovery", "factor_reset", "helpdesk_reset",
		"enroll", "access",   "token_use",    "break_glass"};
	for (int i = 0; i < AG_EV__COUNT; i++)
		assert_string_equal(ag_event_kind_name((enum ag_event_kind)i),
				    kinds[i]);
	assert_string_equal(ag_event_kind_name(AG_EV__COUNT), "unknown");
}

/* ---- the generic form ---- */

static void test_generic_fields(void **state)
{
	struct got g = {0};
	(void)state;
	struct ag_event_reader *r = read_text(
		pol, AG_SRC_AUTO,
		"{\"time\":\"2025-03-01T10:00:00.250Z\",\"subject\":\"ivy\","
		"\"kind\":\"login\",\"workflow\":\"staff\",\"methods\":"
		"[\"password\",\"totp\"],\"protocol\":\"imap\",\"device\":"
		"\"managed\",\"ip\":\"10.9.8.7\",\"credential\":\"c1\","
		"\"actor\":\"helper\",\"device_id\":\"laptop-7\","
		"\"interactive\":true,\"result\":\"failure\",\"extra\":"
		"{\"ignored\":[1,2]}}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"svc\","
		"\"kind\":\"token_use\",\"credential\":\"key-17\","
		"\"expires\":\"2025-03-01T09:30:00Z\",\"aal\":null,"
		"\"workflow\":null,\"device\":\"unmanaged\",\"result\":"
		"\"success\"}\n",
		&g);

	assert_int_equal(g.n, 2);
	struct ag_event *e = &g.v[0];
	assert_int_equal(e->source, AG_SRC_GENERIC);
	assert_int_equal(e->kind, AG_EV_LOGIN);
	assert_int_equal(e->time_ms, 1740823200250LL);
	assert_string_equal(e->subject, "ivy");
	assert_string_equal(e->workflow, "staff");
	assert_string_equal(e->protocol, "imap");
	assert_string_equal(e->ip, "10.9.8.7");
	assert_string_equal(e->credential, "c1");
	assert_string_equal(e->actor, "helper");
	assert_string_equal(e->device_id, "laptop-7");
	assert_string_equal(e->action, "login");
	assert_int_equal(e->posture, AG_POSTURE_MANAGED);
	assert_true(e->interactive);
	assert_int_equal(e->result, AG_RES_FAILURE);
	assert_int_equal(e->expires_ms, 0);
	assert_methods(pol, e, LIST("password", "totp"));
	assert_assurance(e, 2, false, false);
	assert_int_equal(e->file, 0);
	assert_int_equal(e->line, 1);

	e = &g.v[1];
	assert_int_equal(e->kind, AG_EV_TOKEN_USE);
	assert_int_equal(e->time_ms, 1740823200000LL);
	assert_int_equal(e->expires_ms, 1740821400000LL);
	assert_string_equal(e->credential, "key-17");
	assert_null(e->workflow);
	assert_null(e->actor);
	assert_int_equal(e->posture, AG_POSTURE_UNMANAGED);
	assert_int_equal(e->result, AG_RES_SUCCESS);
	assert_false(e->interactive);
	assert_false(e->assurance_known);
	assert_int_equal(e->n_methods, 0);
	assert_int_equal(e->line, 2);

	const struct ag_event_stats *st = ag_event_reader_stats(r);
	assert_int_equal(st->records[AG_SRC_GENERIC], 2);
	assert_int_equal(st->events[AG_SRC_GENERIC], 2);
	assert_int_equal(st->skipped, 0);
	assert_string_equal(ag_event_reader_file(r, 0), "input");
	assert_null(ag_event_reader_file(r, 1));
	ag_event_reader_free(r);
	got_free(&g);
}

static void test_generic_assurance(void **state)
{
	struct got g = {0};
	(void)state;
	struct ag_event_reader *r = read_text(
		pol, AG_SRC_GENERIC,
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"a\",\"kind\":"
		"\"access\",\"aal\":3}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"b\",\"kind\":"
		"\"access\",\"aal\":2,\"methods\":[\"passkey_synced\"]}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"c\",\"kind\":"
		"\"access\",\"aal\":1,\"phishing_resistant\":true}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"d\",\"kind\":"
		"\"login\",\"methods\":[\"password\",\"security_key\"]}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"e\",\"kind\":"
		"\"login\"}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"f\",\"kind\":"
		"\"login\",\"methods\":[\"passkey_synced\"],"
		"\"phishing_resistant\":false}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"g\",\"kind\":"
		"\"factor_reset\",\"methods\":[\"totp\",\"totp\"]}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"h\",\"kind\":"
		"\"login\",\"aal\":0,\"methods\":[\"kba\"]}\n",
		&g);

	assert_int_equal(g.n, 8);
	assert_assurance(&g.v[0], 3, true, true);
	assert_assurance(&g.v[1], 2, true, false);
	assert_assurance(&g.v[2], 1, true, false);
	/* a hardware, phishing-resistant key beside a password: AAL3 */
	assert_assurance(&g.v[3], 3, true, true);
	assert_false(g.v[4].assurance_known);
	assert_assurance(&g.v[5], 2, false, false);
	assert_int_equal(g.v[6].kind, AG_EV_FACTOR_RESET);
	assert_methods(pol, &g.v[6], LIST("totp"));
	assert_assurance(&g.v[7], 0, false, false);
	ag_event_reader_free(r);
	got_free(&g);
}

static void test_generic_bad(void **state)
{
	struct got g = {0};
	struct skips sk = {0};
	static const char text[] =
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"a\",\"kind\":\"logn\"}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"a\",\"kind\":\"login\",\"methods\":[\"totpp\"]}\n"
		"{\"time\":\"2025-03-01 10:00\",\"subject\":\"a\",\"kind\":\"login\"}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"kind\":\"login\"}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"a\",\"kind\":\"login\",\"device\":\"personal\"}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"a\",\"kind\":\"login\",\"aal\":4}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"a\",\"kind\":\"login\",\"result\":\"ok\"}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"a\",\"kind\":\"login\",\"methods\":\"password\"}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"a\",\"kind\":\"login\",\"methods\":[\"password\",\"totp\",\"push\",\"sms_otp\",\"voice_otp\",\"email_otp\",\"security_key\",\"smartcard\",\"biometric\"]}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":7,\"kind\":\"login\"}\n"
		"{\"time\":\"2025-02-30T10:00:00Z\",\"subject\":\"a\",\"kind\":\"login\"}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"a\",\"kind\":\"login\",\"interactive\":\"yes\"}\n"
		"{\"subject\":\"a\",\"kind\":\"login\"}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"a\",\"kind\":\"login\",\"aal\":2.5}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"a\",\"kind\":\"login\",\"methods\":[3]}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"a\",\"kind\":\"login\",\"expires\":\"tomorrow\"}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"ok\",\"kind\":\"login\"}\n";
	static const char *const want[] = {
		"1: unknown kind 'logn'; did you mean 'login'?",
		"2: unknown method 'totpp'; did you mean 'totp'?",
		"3: \"time\" is not an RFC 3339 time: '2025-03-01 10:00'",
		"4: no \"subject\"",
		"5: \"device\" is 'personal', not managed, known or unmanaged",
		"6: \"aal\" is not 0, 1, 2 or 3",
		"7: \"result\" is 'ok', not success or failure",
		"8: \"methods\" is not a list",
		"9: more than 8 methods",
		"10: \"subject\" is not a string",
		"11: \"time\" is not an RFC 3339 time: '2025-02-30T10:00:00Z'",
		"12: \"interactive\" is not true or false",
		"13: no \"time\"",
		"14: \"aal\" is not 0, 1, 2 or 3",
		"15: \"methods\" holds a number, not a method name",
		"16: \"expires\" is not an RFC 3339 time: 'tomorrow'",
	};
	(void)state;
	struct ag_event_reader *r = reader_new(pol, AG_SRC_GENERIC, 0);
	ag_event_reader_on_skip(r, on_skip, &sk);
	feed_chunks(r, "bad.jsonl", text, sizeof(text) - 1, 0, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.v[0].subject, "ok");
	assert_int_equal(g.v[0].line, 17);
	assert_int_equal(sk.n, AG_ARRAY_SIZE(want));
	for (size_t i = 0; i < sk.n; i++)
		assert_string_equal(sk.v[i], want[i]);
	const struct ag_event_stats *st = ag_event_reader_stats(r);
	assert_int_equal(st->records[AG_SRC_GENERIC], 17);
	assert_int_equal(st->events[AG_SRC_GENERIC], 1);
	assert_int_equal(st->skipped, 16);
	assert_int_equal(st->n_first_skips, 8);
	assert_int_equal(st->first_skips[0].line, 1);
	assert_string_equal(st->first_skips[0].why,
			    "unknown kind 'logn'; did you mean 'login'?");
	assert_int_equal(st->first_skips[7].line, 8);
	ag_event_reader_free(r);
	got_free(&g);

	/* Without "subject" (or "kind") nothing says it is the generic
	 * form. */
	sk.n = 0;
	r = reader_new(pol, AG_SRC_AUTO, 0);
	ag_event_reader_on_skip(r, on_skip, &sk);
	feed_chunks(r, "x", "{\"time\":\"2025-03-01T10:00:00Z\",\"kind\":\"login\"}", 46, 0, &g);
	assert_int_equal(g.n, 0);
	assert_int_equal(sk.n, 1);
	assert_string_equal(sk.v[0],
			    "1: not an event of a known source (aalgate, "
			    "generic, okta, cloudtrail, keycloak)");
	ag_event_reader_free(r);
	got_free(&g);
}

/* ---- splitting ---- */

static const char mixture[] =
	GOOD("0", "a", "login") "\r\n"
	"\n"
	"{\n"
	"  \"time\": \"2025-03-01T10:00:01Z\",\n"
	"  \"subject\": \"b\",\n"
	"  \"kind\": \"access\",\n"
	"  \"nested\": {\"x\": [1, 2, {\"y\": \"}{][\\\"\"}]}\n"
	"}\n"
	"Mar 11 22:55:30 host sshd[3]: Accepted password for c from "
	"192.0.2.1 port 22 ssh2\n"
	GOOD("2", "d", "enroll") GOOD("3", "e", "enroll") "\n"
	"   " GOOD("4", "f", "recovery") "   \n"
	"[\n"
	"  " GOOD("5", "g", "login") ",\n"
	"  {\n"
	"    \"time\": \"2025-03-01T10:00:06Z\", \"subject\": \"h\",\n"
	"    \"kind\": \"login\"\n"
	"  }\n"
	"]\n"
	"{\"Records\": [" GOOD("7", "i", "login") ",\n"
	"  " GOOD("8", "j", "login") "], \"extra\": {\"k\": \"]}\"}}\n"
	GOOD("9", "k", "login");

static const struct {
	const char *subject;
	uint64_t line;
} mixture_want[] = {
	{"a", 1}, {"b", 3},  {"c", 9},	{"d", 10}, {"e", 10}, {"f", 11},
	{"g", 13}, {"h", 14}, {"i", 19}, {"j", 20}, {"k", 21},
};

static void check_mixture(const struct got *g,
			  const struct ag_event_reader *r)
{
	assert_int_equal(g->n, AG_ARRAY_SIZE(mixture_want));
	for (size_t i = 0; i < g->n; i++) {
		assert_string_equal(g->v[i].subject, mixture_want[i].subject);
		assert_int_equal(g->v[i].line, mixture_want[i].line);
	}
	const struct ag_event_stats *st = ag_event_reader_stats(r);
	assert_int_equal(st->records[AG_SRC_GENERIC], 10);
	assert_int_equal(st->records[AG_SRC_AUTHLOG], 1);
	assert_int_equal(st->events[AG_SRC_AUTHLOG], 1);
	assert_int_equal(st->skipped, 0);
	assert_int_equal(st->ignored, 0);
	assert_int_equal(st->bytes, sizeof(mixture) - 1);
}

static void test_split_mixture(void **state)
{
	static const size_t chunks[] = {0, 1, 2, 3, 7, 64, 100};
	(void)state;
	for (size_t c = 0; c < AG_ARRAY_SIZE(chunks); c++) {
		struct got g = {0};
		struct ag_event_reader *r = reader_new(pol, AG_SRC_AUTO, 0);
		feed_chunks(r, "mixed", mixture, sizeof(mixture) - 1,
			    chunks[c], &g);
		check_mixture(&g, r);
		/* The Records' elements and the array's are nested, the
		 * last line is not. */
		struct ag_event_pos pos;
		ag_event_reader_position(r, &pos);
		assert_int_equal(pos.offset, sizeof(mixture) - 1);
		assert_false(pos.nested);
		ag_event_reader_free(r);
		got_free(&g);
	}
}

/* The same events, whatever the feeds: every record kind and every kind
 * of damage, in one byte at a time and in one go. */
static void test_one_byte_feeds(void **state)
{
	static const char text[] =
		"\xEF\xBB\xBF" GOOD("0", "a", "login") "\n"
		"{\"time\":\"2025-03-01T10:00:01Z\",\"subject\":\"cut\",\n"
		"{\n  \"time\": \"2025-03-01T10:00:02Z\",\n  \"subject\": \"b\",\n"
		"  \"kind\": \"login\"\n}\n"
		"{\"time\":\"2025-03-01T10:00:03Z\",\"subject\":\"x\n"
		"Mar 11 22:55:30 host sshd[3]: Failed password for invalid user "
		"z from 192.0.2.1 port 22 ssh2\n"
		"garbage line\n"
		"[1, " GOOD("4", "c", "login") ", \"s\"]\n"
		"{\"a\":1,\"a\":2}\n"
		"{\"Records\":[" GOOD("5", "d", "login") "]}\n"
		"{\"time\":\"2025-03-01T10:00:06Z\",\"subject\":\"caf\xe9\",\"kind\":\"login\"}\n"
		GOOD("7", "e", "login") "\n"
		"{\"time\":\"2025-03-01T10:00:08Z\",\"sub";
	struct got whole = {0}, bytes = {0};
	(void)state;

	struct ag_event_reader *r1 = reader_new(pol, AG_SRC_AUTO, 0);
	struct ag_event_reader *r2 = reader_new(pol, AG_SRC_AUTO, 0);
	feed_chunks(r1, "t", text, sizeof(text) - 1, 0, &whole);
	feed_chunks(r2, "t", text, sizeof(text) - 1, 1, &bytes);

	static const struct {
		const char *subject;
		uint64_t line;
	} want[] = {{"a", 1}, {"b", 3}, {"z", 9}, {"c", 11},
		    {"d", 13}, {"e", 15}};
	assert_int_equal(whole.n, AG_ARRAY_SIZE(want));
	assert_int_equal(bytes.n, whole.n);
	for (size_t i = 0; i < whole.n; i++) {
		assert_string_equal(whole.v[i].subject, want[i].subject);
		assert_int_equal(whole.v[i].line, want[i].line);
		assert_string_equal(bytes.v[i].subject, want[i].subject);
		assert_int_equal(bytes.v[i].line, want[i].line);
		assert_int_equal(bytes.v[i].time_ms, whole.v[i].time_ms);
		assert_int_equal(bytes.v[i].kind, whole.v[i].kind);
	}
	const struct ag_event_stats *a = ag_event_reader_stats(r1);
	const struct ag_event_stats *b = ag_event_reader_stats(r2);
	static const struct {
		uint64_t line;
		const char *why;
	} skips[] = {
		{2, "truncated JSON: the next line starts a new record"},
		{8, "truncated JSON: a line break inside a string"},
		{10, "neither JSON nor a syslog line: a bad date 'garbage line'"},
		{11, "an array element that is not a JSON object"},
		{11, "a JSON string, not an object"},
		{12, "invalid JSON at byte 8: the key 'a' appears twice"},
		{14, "invalid UTF-8 at byte 46"},
		{16, "truncated JSON at the end of the input"},
	};
	assert_int_equal(a->skipped, AG_ARRAY_SIZE(skips));
	assert_int_equal(a->n_first_skips, AG_ARRAY_SIZE(skips));
	for (size_t i = 0; i < AG_ARRAY_SIZE(skips); i++) {
		assert_int_equal(a->first_skips[i].line, skips[i].line);
		assert_string_equal(a->first_skips[i].why, skips[i].why);
	}
	assert_memory_equal(a, b, sizeof(*a));
	ag_event_reader_free(r1);
	ag_event_reader_free(r2);
	got_free(&whole);
	got_free(&bytes);
}

static void test_records_file(void **state)
{
	char path[4096];
	char *text = NULL;
	size_t len = 0;
	struct ag_error err;
	const char *dir = getenv("AG_TEST_DATA");
	(void)state;

	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/watch/cloudtrail-records.json", dir);
	ag_error_init(&err);
	assert_int_equal(ag_read_file(path, 1 << 20, &text, &len, &err), AG_OK);
	for (size_t chunk = 0; chunk < 3; chunk++) {
		struct got g = {0};
		struct ag_event_reader *r = reader_new(pol, AG_SRC_AUTO, 0);
		feed_chunks(r, path, text, len, chunk, &g);
		assert_int_equal(g.n, 2);
		assert_int_equal(g.v[0].line, 3);
		assert_int_equal(g.v[1].line, 29);
		const struct ag_event_stats *st = ag_event_reader_stats(r);
		assert_int_equal(st->records[AG_SRC_CLOUDTRAIL], 3);
		assert_int_equal(st->events[AG_SRC_CLOUDTRAIL], 2);
		assert_int_equal(st->ignored, 1);
		assert_int_equal(st->skipped, 0);
		ag_event_reader_free(r);
		got_free(&g);
	}
	free(text);

	/* A log file cut short inside its Records array. */
	struct got g = {0};
	struct skips sk = {0};
	static const char cut_text[] =
		"{\"Records\": [\n"
		" {\"eventName\": \"ConsoleLogin\", \"eventTime\": \"2025-02-03T08:15:00Z\",\n"
		"  \"userIdentity\": {\"type\": \"Root\", \"accountId\": \"444455556666\"},\n"
		"  \"responseElements\": {\"ConsoleLogin\": \"Failure\"}},\n"
		" 17,\n"
		" {\"eventName\": \"ConsoleLogin\", \"eventTime\": \"2025-02-03T";
	struct ag_event_reader *r = reader_new(pol, AG_SRC_AUTO, 0);
	ag_event_reader_on_skip(r, on_skip, &sk);
	feed_chunks(r, "cut.json", cut_text, sizeof(cut_text) - 1, 5, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.v[0].subject, "aws:444455556666:<root_account>");
	assert_int_equal(g.v[0].result, AG_RES_FAILURE);
	assert_int_equal(g.v[0].line, 2);
	assert_int_equal(sk.n, 3);
	assert_string_equal(sk.v[0], "5: an array element that is not a JSON object");
	assert_string_equal(sk.v[1], "6: truncated JSON at the end of the input");
	assert_string_equal(sk.v[2],
			    "1: truncated JSON: the {\"Records\": [...]} begun "
			    "on line 1 is not closed");
	ag_event_reader_free(r);
	got_free(&g);
}

/* ---- hostile input ---- */

static char *big_line(size_t fill, const char *head, const char *tail,
		      char c, size_t *len)
{
	size_t hn = strlen(head), tn = strlen(tail);
	char *s = malloc(hn + fill + tn + 1);
	assert_non_null(s);
	memcpy(s, head, hn);
	memset(s + hn, c, fill);
	memcpy(s + hn + fill, tail, tn + 1);
	*len = hn + fill + tn;
	return s;
}

static void check_oversize(char *text, size_t len, size_t chunk,
			   size_t max_record)
{
	struct got g = {0};
	struct ag_event_reader *r = reader_new(pol, AG_SRC_AUTO, max_record);
	size_t cap = max_record ? max_record : (size_t)1 << 20;

	feed_chunks(r, "big", text, len, chunk, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.v[0].subject, "after");
	assert_int_equal(g.v[0].line, 2);
	const struct ag_event_stats *st = ag_event_reader_stats(r);
	assert_int_equal(st->oversize, 1);
	assert_int_equal(st->skipped, 1);
	assert_int_equal(st->first_skips[0].line, 1);
	char why[64];
	snprintf(why, sizeof(why), "a record over %zu bytes", cap);
	assert_string_equal(st->first_skips[0].why, why);
	/* Memory stays at the cap, not at the line's 10 MB. */
	assert_true(ag_event_reader_capacity(r) <= cap + 65536);
	ag_event_reader_free(r);
	got_free(&g);
}

static void test_ten_megabyte_line(void **state)
{
	size_t len;
	const size_t ten = 10u << 20;
	(void)state;

	/* a JSON line with a 10 MB string */
	char *t = big_line(ten,
			   "{\"time\":\"2025-03-01T10:00:00Z\",\"kind\":"
			   "\"login\",\"subject\":\"",
			   "\"}\n" GOOD("1", "after", "login") "\n", 'x', &len);
	check_oversize(t, len, 0, 0);
	check_oversize(t, len, 65536, 0);
	check_oversize(t, len, 4093, 4096);
	free(t);
	/* 10 MB of text without a newline until the end */
	t = big_line(ten, "Mar 11 22:55:30 ", "\n" GOOD("1", "after", "login"),
		     'y', &len);
	check_oversize(t, len, 0, 0);
	check_oversize(t, len, 1 << 16, 0);
	free(t);
	/* 10 MB of brackets that never close, then a record on its own
	 * line */
	t = big_line(ten, "{\"a\":", "\n" GOOD("1", "after", "login") "\n",
		     '[', &len);
	check_oversize(t, len, 0, 0);
	check_oversize(t, len, 1 << 20, 0);
	free(t);
}

/* Many records on one line, within the cap: every byte is looked at a
 * bounded number of times (a fast path that copied the rest of the line
 * for each record would take minutes here). */
static void test_many_records_on_one_line(void **state)
{
	static const char rec[] = GOOD("0", "same-line", "access");
	static const char bad[] = "{\"a\":1,\"a\":2}";
	const size_t n = 15000;
	size_t len = 0;
	(void)state;

	for (int pass = 0; pass < 2; pass++) {
		const char *one = pass ? bad : rec;
		size_t rn = strlen(one);
		char *line = malloc(n * rn + 2);
		assert_non_null(line);
		for (size_t k = 0; k < n; k++)
			memcpy(line + k * rn, one, rn);
		len = n * rn;
		line[len++] = '\n';
		struct got g = {0};
		struct ag_event_reader *r = reader_new(pol, AG_SRC_AUTO, 0);
		feed_chunks(r, "line", line, len, 0, &g);
		const struct ag_event_stats *st = ag_event_reader_stats(r);
		if (!pass) {
			assert_int_equal(g.n, n);
			assert_int_equal(g.v[n - 1].line, 1);
			assert_int_equal(st->skipped, 0);
		} else {
			assert_int_equal(g.n, 0);
			assert_int_equal(st->skipped, n);
		}
		ag_event_reader_free(r);
		got_free(&g);
		free(line);
	}
}

static void test_truncated(void **state)
{
	struct got g = {0};
	struct skips sk = {0};
	static const char text[] =
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"a\",\n"
		GOOD("1", "b", "login") "\n"
		"{\"time\":\"2025-03-01T10:00:02Z\",\"subject\":\"a\n"
		GOOD("3", "c", "login") "\n"
		"{\"time\":\"2025-03-01T10:00:04Z\",\"subject\":\"d\",\"kind\":\"login\"]\n"
		"{\"time\":\"2025-03-01T10:00:05Z\",\"subject\":\"d\",\"kind\":";
	(void)state;
	struct ag_event_reader *r = reader_new(pol, AG_SRC_AUTO, 0);
	ag_event_reader_on_skip(r, on_skip, &sk);
	feed_chunks(r, "t", text, sizeof(text) - 1, 0, &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.v[0].subject, "b");
	assert_int_equal(g.v[0].line, 2);
	assert_string_equal(g.v[1].subject, "c");
	assert_int_equal(g.v[1].line, 4);
	assert_int_equal(sk.n, 4);
	assert_string_equal(sk.v[0], "1: truncated JSON: the next line starts a new record");
	assert_string_equal(sk.v[1], "3: truncated JSON: a line break inside a string");
	assert_string_equal(sk.v[2], "5: invalid JSON at byte 60: expected ',' or '}'");
	assert_string_equal(sk.v[3], "6: truncated JSON at the end of the input");
	ag_event_reader_free(r);
	got_free(&g);
}

static void test_invalid_utf8(void **state)
{
	struct got g = {0};
	struct skips sk = {0};
	static const char text[] =
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"\xff\",\"kind\":\"login\"}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"\xc0\xaf\",\"kind\":\"login\"}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"\xed\xa0\x80\",\"kind\":\"login\"}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"\xe2\x82\",\"kind\":\"login\"}\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\xf0:1}\n"
		"Mar 11 22:55:30 host sshd[3]: Accepted password for \xfe from 192.0.2.1 port 22 ssh2\n"
		"{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":\"Zo\xc3\xab \xf0\x9f\x94\x91\",\"kind\":\"login\"}\n";
	(void)state;
	struct ag_event_reader *r = reader_new(pol, AG_SRC_AUTO, 0);
	ag_event_reader_on_skip(r, on_skip, &sk);
	feed_chunks(r, "t", text, sizeof(text) - 1, 0, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.v[0].subject, "Zo\xc3\xab \xf0\x9f\x94\x91");
	assert_int_equal(g.v[0].line, 7);
	assert_int_equal(sk.n, 6);
	assert_string_equal(sk.v[0], "1: invalid UTF-8 at byte 43");
	assert_string_equal(sk.v[1], "2: invalid UTF-8 at byte 43");
	assert_string_equal(sk.v[2], "3: invalid UTF-8 at byte 43");
	assert_string_equal(sk.v[3], "4: invalid UTF-8 at byte 43");
	assert_string_equal(sk.v[4], "5: invalid UTF-8 at byte 32");
	assert_string_equal(sk.v[5], "6: invalid UTF-8 in a text line");
	ag_event_reader_free(r);
	got_free(&g);
}

static char *nested(size_t depth, size_t *len)
{
	const char head[] = "{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":"
			    "\"deep\",\"kind\":\"login\",\"x\":";
	size_t hn = sizeof(head) - 1;
	char *s = malloc(hn + 2 * depth + 3 + 200);
	assert_non_null(s);
	memcpy(s, head, hn);
	memset(s + hn, '[', depth);
	memset(s + hn + depth, ']', depth);
	size_t n = hn + 2 * depth;
	n += (size_t)snprintf(s + n, 200, "}\n" GOOD("1", "after", "login"));
	*len = n;
	return s;
}

static void test_deep_nesting(void **state)
{
	size_t len;
	struct got g = {0};
	struct skips sk = {0};
	(void)state;

	char *t = nested(10000, &len);
	struct ag_event_reader *r = reader_new(pol, AG_SRC_AUTO, 0);
	ag_event_reader_on_skip(r, on_skip, &sk);
	feed_chunks(r, "deep", t, len, 0, &g);
	feed_chunks(r, "deep", t, len, 3, &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.v[0].subject, "after");
	assert_int_equal(g.v[0].line, 2);
	assert_int_equal(g.v[1].file, 1);
	assert_int_equal(sk.n, 2);
	assert_string_equal(sk.v[0], "1: JSON nested deeper than 128 levels");
	assert_string_equal(sk.v[1], "1: JSON nested deeper than 128 levels");
	ag_event_reader_free(r);
	got_free(&g);
	free(t);

	/* 127 arrays in the object: 128 levels, the most accepted */
	t = nested(127, &len);
	r = reader_new(pol, AG_SRC_AUTO, 0);
	feed_chunks(r, "deep", t, len, 0, &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.v[0].subject, "deep");
	ag_event_reader_free(r);
	got_free(&g);
	free(t);
	t = nested(128, &len);
	r = reader_new(pol, AG_SRC_AUTO, 0);
	feed_chunks(r, "deep", t, len, 0, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(ag_event_reader_stats(r)->skipped, 1);
	ag_event_reader_free(r);
	got_free(&g);
	free(t);
}

static void test_bad_syslog_dates(void **state)
{
	struct got g = {0};
	struct skips sk = {0};
	static const char text[] =
		"Foo 11 00:00:00 host sshd[1]: Accepted password for a from 192.0.2.1 port 22 ssh2\n"
		"Feb 30 00:00:00 host sshd[1]: Accepted password for a from 192.0.2.1 port 22 ssh2\n"
		"Mar 11 25:00:00 host sshd[1]: Accepted password for a from 192.0.2.1 port 22 ssh2\n"
		"2024-13-01T00:00:00Z host sshd[1]: Accepted password for a from 192.0.2.1 port 22 ssh2\n"
		"Mar 11 00:00:00\n"
		"Mar  1 00:00:00 host sshd[1]: Accepted password for ok from 192.0.2.1 port 22 ssh2\n";
	(void)state;
	struct ag_event_reader *r = reader_new(pol, AG_SRC_AUTO, 0);
	ag_event_reader_on_skip(r, on_skip, &sk);
	feed_chunks(r, "auth.log", text, sizeof(text) - 1, 0, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.v[0].subject, "ok");
	/* 2024-03-01T00:00:00Z: the default year of the reader */
	assert_int_equal(g.v[0].time_ms, 1709251200000LL);
	assert_int_equal(sk.n, 5);
	assert_string_equal(sk.v[0], "1: neither JSON nor a syslog line: a bad date 'Foo 11 00:00:00'");
	assert_string_equal(sk.v[1], "2: neither JSON nor a syslog line: a bad date 'Feb 30 00:00:00'");
	assert_string_equal(sk.v[2], "3: neither JSON nor a syslog line: a bad date 'Mar 11 25:00:00'");
	assert_string_equal(sk.v[3], "4: neither JSON nor a syslog line: a bad date '2024-13-01T00:00:00Z'");
	assert_string_equal(sk.v[4], "5: neither JSON nor a syslog line: no host and message after the date");
	const struct ag_event_stats *st = ag_event_reader_stats(r);
	assert_int_equal(st->records[AG_SRC_AUTHLOG], 1);
	assert_int_equal(st->skipped, 5);
	ag_event_reader_free(r);
	got_free(&g);
}

/* Without a default year: the current one, or last year's for a stamp
 * that would be days ahead (December's log read in January). */
static void test_syslog_year(void **state)
{
	static const char mon[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct ag_event_reader_opts o = {0};
	struct ag_event_reader *r = NULL;
	struct ag_error err;
	struct got g = {0};
	char text[512];
	size_t n = 0;
	time_t now = time(NULL);
	struct tm ahead, ago, cur;
	time_t t_ahead = now + 3 * 86400, t_ago = now - 3600;
	(void)state;

	gmtime_r(&now, &cur);
	gmtime_r(&t_ahead, &ahead);
	gmtime_r(&t_ago, &ago);
	for (int k = 0; k < 2; k++) {
		struct tm *t = k ? &ago : &ahead;
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "%.3s %2d %02d:%02d:%02d host sshd[1]: "
				      "Accepted password for u%d from "
				      "192.0.2.1 port 22 ssh2\n",
				      mon + 3 * t->tm_mon, t->tm_mday,
				      t->tm_hour, t->tm_min, t->tm_sec, k);
	}
	ag_error_init(&err);
	assert_int_equal(ag_event_reader_new(pol, &o, &r, &err), AG_OK);
	feed_chunks(r, "auth.log", text, n, 0, &g);
	assert_int_equal(g.n, 2);

	/* 3 days ahead in this year is last year's, unless that day is in
	 * January of next year (then this year's January: past) or is a
	 * 29 February last year lacks. */
	struct tm want = ahead;
	want.tm_year = cur.tm_year;
	time_t w = timegm(&want);
	if (w > now + 86400 && !(ahead.tm_mon == 1 && ahead.tm_mday == 29)) {
		want = ahead;
		want.tm_year = cur.tm_year - 1;
		w = timegm(&want);
	}
	assert_int_equal(g.v[0].time_ms, (int64_t)w * 1000);
	/* an hour ago: this year's, or on New Year's night last year's */
	assert_int_equal(g.v[1].time_ms, (int64_t)t_ago * 1000);
	ag_event_reader_free(r);
	got_free(&g);
}

static void test_duplicate_keys(void **state)
{
	struct got g = {0};
	struct skips sk = {0};
	char many[4096];
	size_t n = 0;
	(void)state;

	/* 20 keys (the hash table) and 80 keys (sorted), each with one
	 * repeat at the end */
	for (int pass = 0; pass < 2; pass++) {
		int keys = pass ? 80 : 20;
		n += (size_t)snprintf(many + n, sizeof(many) - n,
				      "{\"time\":\"2025-03-01T10:00:00Z\","
				      "\"subject\":\"a\",\"kind\":\"login\"");
		for (int i = 0; i < keys; i++)
			n += (size_t)snprintf(many + n, sizeof(many) - n,
					      ",\"k%d\":%d", i, i);
		n += (size_t)snprintf(many + n, sizeof(many) - n,
				      ",\"k%d\":0}\n", keys / 2);
	}
	n += (size_t)snprintf(many + n, sizeof(many) - n,
			      "{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":"
			      "\"a\",\"subj\\u0065ct\":\"b\",\"kind\":"
			      "\"login\"}\n"
			      "{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":"
			      "\"a\",\"kind\":\"login\",\"x\":{\"y\":1,\"y\":2}}\n"
			      "{\"time\":\"2025-03-01T10:00:00Z\",\"subject\":"
			      "\"ok\",\"kind\":\"login\",\"x\":[{\"y\":1},{\"y\":2}]}\n");
	struct ag_event_reader *r = reader_new(pol, AG_SRC_AUTO, 0);
	ag_event_reader_on_skip(r, on_skip, &sk);
	feed_chunks(r, "dups", many, n, 0, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.v[0].subject, "ok");
	assert_int_equal(sk.n, 4);
	assert_non_null(strstr(sk.v[0], "the key 'k10' appears twice"));
	assert_non_null(strstr(sk.v[1], "the key 'k40' appears twice"));
	assert_string_equal(sk.v[2], "3: invalid JSON at byte 46: the key 'subject' appears twice");
	assert_string_equal(sk.v[3], "4: invalid JSON at byte 72: the key 'y' appears twice");
	ag_event_reader_free(r);
	got_free(&g);
}

/* wj_parse accepts exactly what jansson accepts with
 * JSON_REJECT_DUPLICATES, in objects and arrays (the records). */
static void test_json_against_jansson(void **state)
{
	static const char *const cases[] = {
		"{}", "[]", " { \"a\" : 1 } ", "{\"a\":[1,-0.5e+3,0,-0,1E9,true,false,null]}",
		"{\"a\":\"\\u00e9\\ud83d\\ude00\\n\\t\\\"\\\\\\/\"}",
		"{\"a\":{\"b\":{\"c\":[[],{}]}}}", "[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]",
		"{\"a\":1}trailing", "{\"\\u0061\":1,\"b\":2}",
		/* refused */
		"{\"a\":01}", "{\"a\":1,}", "[1,]", "{\"a\"}", "{a:1}", "{\"a\":\"\x01\"}",
		"{\"a\":\"\\u0000\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\\ud800\"}",
		"{\"a\":\"\\ud800\\u0041\"}", "{\"a\":tru}", "{\"a\":1 \"b\":2}",
		"{\"a\":.5}", "{\"a\":1.}", "{\"a\":1e}", "{\"a\":-}", "{\"a\":\"\\x\"}",
		"{\"a\":\"\\u12G4\"}", "[\"\xc3\x28\"]", "[1 2]", "{\"a\":1,\"a\":2}",
		"{\"\\u0061\":1,\"a\":2}", "{\"a\":NaN}", "{\"a\":+1}", "[\"\xed\xa0\x80\"]",
		"[\"\xc0\xaf\"]", "[\"\xf4\x90\x80\x80\"]", "{\"a\":[}", "{\"a\":]", "{,}",
		"[\"a\"\"b\"]", "{\"a\":1}}", "{\"a\":\"\t\"}", "[--1]", "[1e+]",
		"{\"a\":\"\\uD83D\"}", "[True]", "[nul]", "{\"a\":1,,\"b\":2}",
	};
	struct wj_doc d;
	(void)state;

	wj_init(&d, 4096);
	for (size_t i = 0; i < AG_ARRAY_SIZE(cases); i++) {
		size_t n = strlen(cases[i]);
		char *copy = malloc(n + 1);
		assert_non_null(copy);
		memcpy(copy, cases[i], n + 1);
		bool mine = wj_parse(&d, copy, n) == WJ_OK;
		json_error_t je;
		json_t *j = json_loadb(cases[i], n,
				       JSON_REJECT_DUPLICATES |
					       JSON_DISABLE_EOF_CHECK,
				       &je);
		if (mine != (j != NULL))
			fail_msg("case %zu '%s': wj_parse %s, jansson %s (%s)",
				 i, cases[i], mine ? "accepts" : "refuses",
				 j ? "accepts" : "refuses", je.text);
		if (i == 4) {
			/* the same string, decoded alike */
			const char *js = json_string_value(json_object_get(j, "a"));
			uint32_t v = wj_get(&d, 0, "a", 1);
			assert_non_null(js);
			assert_string_equal(wj_str(&d, v), js);
			assert_int_equal(d.t[v].len, strlen(js));
		}
		json_decref(j);
		free(copy);
	}
	wj_release(&d);
}

/* ---- positions, resuming, usage ---- */

struct posv {
	struct ag_event_reader *r;
	struct ag_event_pos p[8];
	size_t n;
};

static ag_code remember_pos(void *ctx, const struct ag_event *ev)
{
	struct posv *pv = ctx;
	(void)ev;
	if (pv->n < 8)
		ag_event_reader_position(pv->r, &pv->p[pv->n++]);
	return AG_OK;
}

static void test_positions(void **state)
{
	static const char text[] = GOOD("0", "a", "login") "\n"
				   "{\"Records\":[" GOOD("1", "b", "login") "]}\n"
				   GOOD("2", "c", "login") "\n";
	const size_t l1 = sizeof(GOOD("0", "a", "login")) - 1;
	struct posv pv = {0};
	struct ag_error err;
	uint32_t file;
	(void)state;

	pv.r = reader_new(pol, AG_SRC_AUTO, 0);
	ag_error_init(&err);
	assert_int_equal(ag_event_reader_begin(pv.r, "p", &file, &err), AG_OK);
	assert_int_equal(ag_event_reader_feed(pv.r, text, sizeof(text) - 1,
					      true, remember_pos, &pv, &err),
			 AG_OK);
	assert_int_equal(pv.n, 3);
	assert_int_equal(pv.p[0].offset, l1);
	assert_int_equal(pv.p[0].line, 1);
	assert_false(pv.p[0].nested);
	assert_int_equal(pv.p[1].offset, l1 + 1 + 12 + l1);
	assert_int_equal(pv.p[1].line, 2);
	assert_true(pv.p[1].nested);
	assert_int_equal(pv.p[2].offset, sizeof(text) - 2);
	assert_int_equal(pv.p[2].line, 3);
	assert_false(pv.p[2].nested);
	ag_event_reader_free(pv.r);

	/* A later run resumes after the first record. */
	struct got g = {0};
	struct ag_event_reader *r = reader_new(pol, AG_SRC_AUTO, 0);
	assert_int_equal(ag_event_reader_begin(r, "p", &file, &err), AG_OK);
	assert_int_equal(ag_event_reader_resume(r, l1, 1, &err), AG_OK);
	assert_int_equal(ag_event_reader_feed(r, text + l1,
					      sizeof(text) - 1 - l1, true,
					      collect, &g, &err),
			 AG_OK);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.v[0].subject, "b");
	assert_int_equal(g.v[0].line, 2);
	assert_string_equal(g.v[1].subject, "c");
	assert_int_equal(g.v[1].line, 3);
	struct ag_event_pos end;
	ag_event_reader_position(r, &end);
	assert_int_equal(end.offset, sizeof(text) - 1);
	assert_int_equal(end.line, 4);
	/* resume only right after begin */
	assert_int_equal(ag_event_reader_begin(r, "q", &file, &err), AG_OK);
	assert_int_equal(ag_event_reader_feed(r, "\n", 1, false, collect, &g,
					      &err),
			 AG_OK);
	ag_error_init(&err);
	assert_int_equal(ag_event_reader_resume(r, 5, 1, &err), AG_ERR_USAGE);
	assert_string_equal(err.msg,
			    "resume only right after ag_event_reader_begin");
	ag_event_reader_free(r);
	got_free(&g);
}

static void test_usage_and_errors(void **state)
{
	struct ag_event_reader_opts o = {0};
	struct ag_event_reader *r = NULL;
	struct ag_error err;
	struct got g = {0};
	uint32_t file;
	(void)state;

	ag_error_init(&err);
	o.max_record = 10;
	assert_int_equal(ag_event_reader_new(pol, &o, &r, &err), AG_ERR_USAGE);
	assert_null(r);
	assert_string_equal(err.msg, "a record size cap of 10 bytes is outside "
				     "64 B..256 MiB");
	o.max_record = 0;
	o.default_year = 1900;
	assert_int_equal(ag_event_reader_new(pol, &o, &r, &err), AG_ERR_USAGE);
	o.default_year = 0;
	o.source = AG_SRC__COUNT;
	assert_int_equal(ag_event_reader_new(pol, &o, &r, &err), AG_ERR_USAGE);
	assert_int_equal(ag_event_reader_new(NULL, NULL, &r, &err),
			 AG_ERR_USAGE);

	r = reader_new(pol, AG_SRC_AUTO, 0);
	ag_error_init(&err);
	assert_int_equal(ag_event_reader_feed(r, "x", 1, false, collect, &g,
					      &err),
			 AG_ERR_USAGE);
	assert_string_equal(err.msg,
			    "no input begun (ag_event_reader_begin)");

	/* A callback's error stops the feed and is returned. */
	static const char text[] = GOOD("0", "a", "login") "\n"
				   GOOD("1", "b", "login") "\n"
				   GOOD("2", "c", "login") "\n";
	g.fail_at = 2;
	g.fail_at_rc = AG_ERR_IO;
	assert_int_equal(ag_event_reader_begin(r, "in.jsonl", &file, &err),
			 AG_OK);
	ag_error_init(&err);
	assert_int_equal(ag_event_reader_feed(r, text, sizeof(text) - 1, true,
					      collect, &g, &err),
			 AG_ERR_IO);
	assert_string_equal(err.msg,
			    "in.jsonl:2: the event callback stopped the input "
			    "(input/output error)");
	assert_int_equal(g.n, 2);
	assert_int_equal(ag_event_reader_feed(r, text, 1, false, collect, &g,
					      &err),
			 AG_ERR_USAGE);
	/* A new input reads again. */
	g.fail_at = 0;
	assert_int_equal(ag_event_reader_begin(r, "next", &file, &err), AG_OK);
	assert_int_equal(file, 1);
	assert_int_equal(ag_event_reader_feed(r, text, sizeof(text) - 1, true,
					      collect, &g, &err),
			 AG_OK);
	assert_int_equal(g.n, 5);
	assert_int_equal(g.v[4].file, 1);

	/* An input begun before the last one said eof: what was gathered
	 * of its last record is counted. */
	assert_int_equal(ag_event_reader_begin(r, "open", &file, &err), AG_OK);
	assert_int_equal(ag_event_reader_feed(r, "{\"time\":", 8, false,
					      collect, &g, &err),
			 AG_OK);
	assert_int_equal(ag_event_reader_begin(r, "again", &file, &err), AG_OK);
	const struct ag_event_stats *st = ag_event_reader_stats(r);
	assert_int_equal(st->skipped, 1);
	assert_string_equal(st->first_skips[0].why,
			    "input ended without its end: a record was cut "
			    "short");
	assert_int_equal(st->first_skips[0].file, 2);
	ag_event_reader_free(r);
	got_free(&g);
}

static void test_forced_sources(void **state)
{
	struct got g = {0};
	struct skips sk = {0};
	static const char line[] = GOOD("0", "a", "login") "\n"
				   "Mar 11 22:55:30 host sshd[3]: Accepted "
				   "password for c from 192.0.2.1 port 22\n";
	(void)state;

	struct ag_event_reader *r = reader_new(pol, AG_SRC_OKTA, 0);
	ag_event_reader_on_skip(r, on_skip, &sk);
	feed_chunks(r, "x", line, sizeof(line) - 1, 0, &g);
	assert_int_equal(g.n, 0);
	assert_int_equal(sk.n, 2);
	assert_string_equal(sk.v[0], "1: no \"eventType\" string");
	assert_string_equal(sk.v[1], "2: not JSON, where okta events are read");
	ag_event_reader_free(r);

	sk.n = 0;
	r = reader_new(pol, AG_SRC_AUTHLOG, 0);
	ag_event_reader_on_skip(r, on_skip, &sk);
	feed_chunks(r, "x", line, sizeof(line) - 1, 0, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.v[0].subject, "c");
	assert_int_equal(sk.n, 1);
	assert_string_equal(sk.v[0],
			    "1: a JSON record where auth.log lines are read");
	ag_event_reader_free(r);
	got_free(&g);
}

/* ---- the real samples ---- */

struct sample_want {
	const char *folder;
	enum ag_event_source source;
	uint64_t records, events, ignored;
};

/* Read from the files themselves: the auth.log sample has nine sshd
 * lines, five "Accepted" and two "Failed" (a "Server listening" and a
 * "Connection from" are no sign-ins); the CloudTrail sample is one
 * pretty-printed ConsoleLogin; each Okta sample is one pretty-printed
 * event about a policy or a group, neither a sign-in nor a credential. */
static const struct sample_want samples[] = {
	{"auth-log", AG_SRC_AUTHLOG, 9, 7, 2},
	{"cloudtrail-consolelogin", AG_SRC_CLOUDTRAIL, 1, 1, 0},
	{"okta", AG_SRC_OKTA, 2, 0, 2},
};

static void test_real_samples(void **state)
{
	char dir[4096], path[8192];
	const char *shared = getenv("AG_SHARED_DATA");
	(void)state;

	if (!shared) {
		print_message("AG_SHARED_DATA not set; skipping the real "
			      "samples\n");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/events", shared);
	DIR *top = opendir(dir);
	if (!top) {
		print_message("%s not found; skipping the real samples\n", dir);
		return;
	}
	size_t folders = 0;
	struct dirent *de;
	while ((de = readdir(top)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		const struct sample_want *w = NULL;
		for (size_t i = 0; i < AG_ARRAY_SIZE(samples); i++)
			if (!strcmp(de->d_name, samples[i].folder))
				w = &samples[i];
		if (!w)
			fail_msg("%s/%s: a sample folder this test does not "
				 "know; add its counts",
				 dir, de->d_name);
		folders++;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		DIR *sub = opendir(path);
		assert_non_null(sub);
		struct ag_event_reader *r = reader_new(pol, AG_SRC_AUTO, 0);
		struct got g = {0};
		struct dirent *fe;
		while ((fe = readdir(sub)) != NULL) {
			char file[8192 + 256];
			char *text = NULL;
			size_t len = 0;
			struct ag_error err;
			/* SOURCES.tsv says where the samples came from; it
			 * is no log. */
			if (fe->d_name[0] == '.' ||
			    !strcmp(fe->d_name, "SOURCES.tsv"))
				continue;
			snprintf(file, sizeof(file), "%s/%s", path, fe->d_name);
			ag_error_init(&err);
			if (ag_read_file(file, 64u << 20, &text, &len, &err))
				fail_msg("%s", err.msg);
			uint64_t before = ag_event_reader_stats(r)->skipped;
			feed_chunks(r, file, text, len, 4096, &g);
			if (ag_event_reader_stats(r)->skipped != before)
				fail_msg("%s: %llu records skipped, the first: "
					 "%s",
					 file,
					 (unsigned long long)(ag_event_reader_stats(r)->skipped - before),
					 ag_event_reader_stats(r)->first_skips[0].why);
			free(text);
		}
		closedir(sub);
		const struct ag_event_stats *st = ag_event_reader_stats(r);
		for (int s = 0; s < AG_SRC__COUNT; s++) {
			uint64_t want_rec = s == (int)w->source ? w->records : 0;
			uint64_t want_ev = s == (int)w->source ? w->events : 0;
			if (st->records[s] != want_rec || st->events[s] != want_ev)
				fail_msg("%s: %s: %llu records and %llu events, "
					 "expected %llu and %llu",
					 w->folder,
					 ag_event_source_name((enum ag_event_source)s),
					 (unsigned long long)st->records[s],
					 (unsigned long long)st->events[s],
					 (unsigned long long)want_rec,
					 (unsigned long long)want_ev);
		}
		assert_int_equal(st->ignored, w->ignored);
		assert_int_equal(st->skipped, 0);
		assert_int_equal(st->oversize, 0);
		assert_int_equal(g.n, w->events);

		if (w->source == AG_SRC_CLOUDTRAIL) {
			struct ag_event *e = &g.v[0];
			assert_int_equal(e->kind, AG_EV_LOGIN);
			assert_string_equal(e->subject, "aws:111122223333:anaya");
			assert_int_equal(e->time_ms, 1699633474000LL);
			assert_int_equal(e->result, AG_RES_SUCCESS);
			assert_true(e->interactive);
			assert_string_equal(e->ip, "192.0.2.0");
			/* MFAIdentifier is a u2f ARN: a FIDO key */
			assert_methods(pol, e, LIST("password", "software_key"));
			assert_assurance(e, 2, true, false);
			assert_int_equal(e->line, 1);
		}
		if (w->source == AG_SRC_AUTHLOG) {
			static const struct {
				const char *user, *ip;
				uint64_t line;
				uint8_t result;
			} want[] = {
				{"plaso", "192.168.0.1", 2, AG_RES_SUCCESS},
				{"plaso", "2001:0db8:0a0b:12f0:0000:0000:0000:0001", 3, AG_RES_SUCCESS},
				{"plaso", "001:db8:a0b:12f0::1", 4, AG_RES_FAILURE},
				{"root", "188.124.3.41", 6, AG_RES_FAILURE},
				{"fred", "192.0.2.60", 7, AG_RES_SUCCESS},
				{"fred", "192.0.2.60", 8, AG_RES_SUCCESS},
				{"fred", "192.0.2.60", 9, AG_RES_SUCCESS},
			};
			for (size_t i = 0; i < AG_ARRAY_SIZE(want); i++) {
				assert_string_equal(g.v[i].subject, want[i].user);
				assert_string_equal(g.v[i].ip, want[i].ip);
				assert_int_equal(g.v[i].line, want[i].line);
				assert_int_equal(g.v[i].result, want[i].result);
				assert_string_equal(g.v[i].protocol, "ssh");
			}
			/* Mar 11 22:55:30 of the default year, 2024 */
			assert_int_equal(g.v[1].time_ms, 1710197730000LL);
			assert_methods(pol, &g.v[0], LIST("software_key"));
			assert_methods(pol, &g.v[1], LIST("password"));
		}
		ag_event_reader_free(r);
		got_free(&g);
	}
	closedir(top);
	assert_int_equal(folders, AG_ARRAY_SIZE(samples));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_generic_fields),
		cmocka_unit_test(test_generic_assurance),
		cmocka_unit_test(test_generic_bad),
		cmocka_unit_test(test_split_mixture),
		cmocka_unit_test(test_one_byte_feeds),
		cmocka_unit_test(test_records_file),
		cmocka_unit_test(test_ten_megabyte_line),
		cmocka_unit_test(test_many_records_on_one_line),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_bad_syslog_dates),
		cmocka_unit_test(test_syslog_year),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_json_against_jansson),
		cmocka_unit_test(test_positions),
		cmocka_unit_test(test_usage_and_errors),
		cmocka_unit_test(test_forced_sources),
		cmocka_unit_test(test_real_samples),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
