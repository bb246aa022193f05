/*
 * libFuzzer target: every event reader of watch (aalgate/watch.h), the
 * splitter in front of them and their JSON tokenizer.
 *
 * Input: byte 0 picks the source (byte % 7: auto, aalgate, generic, okta,
 * cloudtrail, keycloak, authlog); byte 1 a feed size for the second read
 * (0: one byte at a time); the rest is the input, read with a 4 KiB record
 * cap so that oversize records are reached.
 *
 * Oracles:
 *  - the input read in one feed and read in small feeds gives the same
 *    events (kind, source, result, time, line, subject, every string) and
 *    the same statistics;
 *  - records and events add up: no source has more events than records;
 *  - the reader's buffers stay within a few times the record cap;
 *  - for an input that starts with '{' or '[', the tokenizer accepts it
 *    exactly when jansson (JSON_REJECT_DUPLICATES) does, but for numbers
 *    jansson cannot hold, nesting past the tokenizer's limit and NUL
 *    bytes (which jansson skips).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aalgate/watch.h"
#include "watch/read-int.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECORD 4096

static const char policy_yaml[] =
	"issuers:\n"
	"  - { iss: \"https://a.example\", audiences: [x],\n"
	"      jwks_file: a.json }\n"
	"  - { iss: \"https://b.example\", audiences: [x],\n"
	"      jwks_file: b.json }\n"
	"workflows:\n"
	"  admin: { aal: 3, phishing_resistant: true, device: managed }\n"
	"  staff: { aal: 2 }\n";

static struct ag_policy *policy;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct ag_error err;
	(void)argc;
	(void)argv;
	ag_error_init(&err);
	if (ag_policy_load_buffer("fuzz.yaml", policy_yaml,
				  sizeof(policy_yaml) - 1, &policy, &err)) {
		fprintf(stderr, "fuzz_watch: %s\n", err.msg);
		abort();
	}
	return 0;
}

struct digest {
	uint64_t h;
	uint64_t n;
};

static void mix(struct digest *d, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++)
		d->h = (d->h ^ s[i]) * 1099511628211ULL;
}

static void mix_str(struct digest *d, const char *s)
{
	if (!s) {
		mix(d, "\xff", 1);
		return;
	}
	/* Strings must be valid C strings of valid UTF-8. */
	if (!ag_utf8_valid(s, strlen(s)))
		abort();
	mix(d, s, strlen(s) + 1);
}

static ag_code on_event(void *ctx, const struct ag_event *ev)
{
	struct digest *d = ctx;
	if (ev->source >= AG_SRC__COUNT || ev->kind >= AG_EV__COUNT ||
	    ev->result > AG_RES_FAILURE || ev->posture > AG_POSTURE_MANAGED ||
	    ev->n_methods > AG_EVENT_MAX_METHODS || !ev->subject || !ev->line)
		abort();
	for (uint8_t i = 0; i < ev->n_methods; i++)
		if (ev->methods[i] >= policy->catalogue.n)
			abort();
	if (ev->assurance_known &&
	    (ev->assurance.aal < 0 || ev->assurance.aal > 3))
		abort();
	d->n++;
	mix(d, &ev->time_ms, sizeof(ev->time_ms));
	mix(d, &ev->expires_ms, sizeof(ev->expires_ms));
	mix(d, &ev->line, sizeof(ev->line));
	unsigned char f[8] = {ev->source, ev->kind, ev->result, ev->posture,
			      ev->assurance_known, ev->interactive,
			      ev->n_methods,
			      (unsigned char)ev->assurance.aal};
	mix(d, f, sizeof(f));
	mix(d, ev->methods, ev->n_methods * sizeof(ev->methods[0]));
	mix_str(d, ev->subject);
	mix_str(d, ev->actor);
	mix_str(d, ev->workflow);
	mix_str(d, ev->protocol);
	mix_str(d, ev->credential);
	mix_str(d, ev->ip);
	mix_str(d, ev->device_id);
	mix_str(d, ev->action);
	return AG_OK;
}

static void run(enum ag_event_source src, const uint8_t *data, size_t size,
		size_t chunk, struct digest *d, struct ag_event_stats *st)
{
	struct ag_event_reader_opts o = {.source = src,
					 .max_record = MAX_RECORD,
					 .default_year = 2024};
	struct ag_event_reader *r = NULL;
	struct ag_error err;
	uint32_t file;

	ag_error_init(&err);
	if (ag_event_reader_new(policy, &o, &r, &err) ||
	    ag_event_reader_begin(r, "fuzz", &file, &err))
		abort();
	d->h = 1469598103934665603ULL;
	d->n = 0;
	for (size_t off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		if (ag_event_reader_feed(r, (const char *)data + off, n, false,
					 on_event, d, &err))
			abort();
		if (ag_event_reader_capacity(r) > 3 * MAX_RECORD + 65536)
			abort();
	}
	if (ag_event_reader_feed(r, NULL, 0, true, on_event, d, &err))
		abort();
	*st = *ag_event_reader_stats(r);
	/* Each event comes from a record of its source (several records
	 * may make one: removals the aalgate reader merges). */
	for (int s = 0; s < AG_SRC__COUNT; s++)
		if (st->events[s] > st->records[s])
			abort();
	if (st->bytes != size || st->oversize > st->skipped)
		abort();
	ag_event_reader_free(r);
}

static bool number_trouble(const char *text)
{
	return strstr(text, "too big") || strstr(text, "overflow") ||
	       strstr(text, "depth");
}

static void against_jansson(const uint8_t *data, size_t size)
{
	struct wj_doc d;
	char *copy = malloc(size + 1);
	if (!copy)
		return;
	memcpy(copy, data, size);
	copy[size] = '\0';
	wj_init(&d, 1u << 16);
	enum wj_status s = wj_parse(&d, copy, size);
	json_error_t je;
	json_t *j = json_loadb((const char *)data, size,
			       JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK,
			       &je);
	bool mine = s == WJ_OK;
	if (mine && !j && !number_trouble(je.text)) {
		fprintf(stderr, "fuzz_watch: wj_parse accepts, jansson: %s\n",
			je.text);
		abort();
	}
	if (!mine && j && s != WJ_NOMEM && !strstr(d.why, "nested deeper") &&
	    !strstr(d.why, "JSON values")) {
		fprintf(stderr, "fuzz_watch: jansson accepts, wj_parse: %s\n",
			d.why);
		abort();
	}
	json_decref(j);
	wj_release(&d);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct digest a, b;
	struct ag_event_stats sa, sb;

	if (size < 2)
		return 0;
	enum ag_event_source src =
		(enum ag_event_source)(data[0] % AG_SRC__COUNT);
	size_t chunk = data[1] ? data[1] : 1;
	data += 2;
	size -= 2;

	run(src, data, size, size ? size : 1, &a, &sa);
	run(src, data, size, chunk, &b, &sb);
	if (a.h != b.h || a.n != b.n || memcmp(&sa, &sb, sizeof(sa)) != 0) {
		fprintf(stderr, "fuzz_watch: %llu events in one feed, %llu in "
				"feeds of %zu\n",
			(unsigned long long)a.n, (unsigned long long)b.n,
			chunk);
		abort();
	}
	/* jansson reads a NUL byte as the end of its read buffer and goes
	 * on after it: it accepts "[1\0]".  RFC 8259 does not. */
	if (size && (data[0] == '{' || data[0] == '[') &&
	    !memchr(data, '\0', size))
		against_jansson(data, size);
	return 0;
}
