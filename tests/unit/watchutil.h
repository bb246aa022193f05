/*
 * Helpers for the event reader tests (test_watch_read*.c): a reader over a
 * string fed in chunks of a chosen size, and the events it delivered,
 * copied (an event's strings live only as long as the callback).
 *
 * Include after <cmocka.h> and testutil.h.
 */
#ifndef AG_WATCHUTIL_H
#define AG_WATCHUTIL_H

#include <stdlib.h>
#include <string.h>

#include "aalgate/watch.h"

struct got {
	struct ag_event *v;
	size_t n, alloc;
	ag_code fail_at_rc; /* returned for event number fail_at (1-based) */
	size_t fail_at;
};

static inline char *dup_or_null(const char *s)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	assert_non_null(d);
	return d;
}

static inline ag_code collect(void *ctx, const struct ag_event *ev)
{
	struct got *g = ctx;
	if (g->n == g->alloc) {
		g->alloc = g->alloc ? 2 * g->alloc : 16;
		g->v = realloc(g->v, g->alloc * sizeof(*g->v));
		assert_non_null(g->v);
	}
	struct ag_event *e = &g->v[g->n++];
	*e = *ev;
	e->subject = dup_or_null(ev->subject);
	e->actor = dup_or_null(ev->actor);
	e->workflow = dup_or_null(ev->workflow);
	e->protocol = dup_or_null(ev->protocol);
	e->credential = dup_or_null(ev->credential);
	e->ip = dup_or_null(ev->ip);
	e->device_id = dup_or_null(ev->device_id);
	e->action = dup_or_null(ev->action);
	if (g->fail_at && g->n == g->fail_at)
		return g->fail_at_rc;
	return AG_OK;
}

static inline void got_free(struct got *g)
{
	for (size_t i = 0; i < g->n; i++) {
		struct ag_event *e = &g->v[i];
		free((char *)e->subject);
		free((char *)e->actor);
		free((char *)e->workflow);
		free((char *)e->protocol);
		free((char *)e->credential);
		free((char *)e->ip);
		free((char *)e->device_id);
		free((char *)e->action);
	}
	free(g->v);
	memset(g, 0, sizeof(*g));
}

static inline struct ag_event_reader *
reader_new(const struct ag_policy *p, enum ag_event_source src,
	   size_t max_record)
{
	struct ag_event_reader_opts o;
	struct ag_event_reader *r = NULL;
	struct ag_error err;

	memset(&o, 0, sizeof(o));
	o.source = src;
	o.max_record = max_record;
	o.default_year = 2024;
	ag_error_init(&err);
	if (ag_event_reader_new(p, &o, &r, &err) != AG_OK)
		fail_msg("reader: %s", err.msg);
	return r;
}

/* Feeds text[0..len) as one input in chunks of chunk bytes (0: at once). */
static inline void feed_chunks(struct ag_event_reader *r, const char *name,
			       const char *text, size_t len, size_t chunk,
			       struct got *g)
{
	struct ag_error err;
	uint32_t file;

	ag_error_init(&err);
	assert_int_equal(ag_event_reader_begin(r, name, &file, &err), AG_OK);
	if (!chunk)
		chunk = len ? len : 1;
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		if (ag_event_reader_feed(r, text + off, n, false, collect, g,
					 &err) != AG_OK)
			fail_msg("feed: %s", err.msg);
	}
	if (ag_event_reader_feed(r, NULL, 0, true, collect, g, &err) != AG_OK)
		fail_msg("feed at eof: %s", err.msg);
}

/* Reads text with a fresh reader of source src; returns the reader for
 * its stats (free it). */
static inline struct ag_event_reader *read_text(const struct ag_policy *p,
						enum ag_event_source src,
						const char *text,
						struct got *g)
{
	struct ag_event_reader *r = reader_new(p, src, 0);
	feed_chunks(r, "input", text, strlen(text), 0, g);
	return r;
}

/* The catalogue index of a method name, which must exist. */
static inline uint16_t midx(const struct ag_policy *p, const char *name)
{
	int k = ag_catalogue_find(&p->catalogue, name);
	if (k < 0)
		fail_msg("no method '%s'", name);
	return (uint16_t)k;
}

/* Does e carry exactly the methods of names (any order)? */
static inline void assert_methods(const struct ag_policy *p,
				  const struct ag_event *e,
				  const char *const *names)
{
	size_t n = 0;
	for (; names && names[n]; n++) {
		uint16_t k = midx(p, names[n]);
		bool found = false;
		for (uint8_t i = 0; i < e->n_methods; i++)
			found |= e->methods[i] == k;
		if (!found)
			fail_msg("event of line %llu lacks method '%s'",
				 (unsigned long long)e->line, names[n]);
	}
	assert_int_equal(e->n_methods, n);
}

static inline void assert_assurance(const struct ag_event *e, int aal, bool pr,
				    bool hw)
{
	assert_true(e->assurance_known);
	assert_int_equal(e->assurance.aal, aal);
	assert_int_equal(e->assurance.phishing_resistant, pr);
	assert_int_equal(e->assurance.hardware, hw);
}

/* Like assert_string_equal, but NULL must match NULL. */
#define assert_str_or_null(a, b)                                            \
	do {                                                                \
		const char *a_ = (a), *b_ = (b);                            \
		if (!a_ || !b_)                                             \
			assert_ptr_equal(a_, b_);                           \
		else                                                        \
			assert_string_equal(a_, b_);                        \
	} while (0)

#endif
