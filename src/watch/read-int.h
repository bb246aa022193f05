/*
 * Inside the event readers (src/watch/read*.c): the JSON tokenizer they
 * share, the reader's state, and what each source's mapper gets to work
 * with.  Nothing here is exported; aalgate/watch.h is the interface.
 */
#ifndef AG_WATCH_READ_INT_H
#define AG_WATCH_READ_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "aalgate/watch.h"
#include "util.h"

/* ---- JSON (read-json.c) ------------------------------------------------- */

/*
 * A small JSON tokenizer for one record at a time (RFC 8259, strict: UTF-8
 * only, no duplicate keys, no NUL in strings, bounded depth and size).
 * It parses in place: strings are decoded into the record's own buffer
 * and NUL-terminated there, so a string value costs no allocation, and
 * the token array is reused from record to record.  Token 0 is the root;
 * a member or element is never token 0, so 0 (WJ_NONE) means "absent".
 */
enum wj_type {
	WJ_NULL = 0,
	WJ_FALSE,
	WJ_TRUE,
	WJ_NUMBER,
	WJ_STRING,
	WJ_ARRAY,
	WJ_OBJECT
};

#define WJ_NONE 0u
/* Deepest nesting accepted; events need a handful of levels. */
#define WJ_MAX_DEPTH 128u

struct wj_tok {
	uint32_t start; /* offset of a string's first byte (after the quote),
			 * of a number's first byte, of a container's bracket */
	uint32_t len;   /* a string's decoded length, a number's text length,
			 * a container's count of members or elements */
	uint32_t end;   /* the token just past this value and its children */
	uint8_t type;   /* enum wj_type */
};

enum wj_status {
	WJ_OK = 0,
	WJ_INCOMPLETE, /* the text ended inside the value */
	WJ_BAD,        /* not JSON (or over a limit): why says what */
	WJ_NOMEM
};

struct wj_doc {
	char *buf;          /* the record, decoded in place */
	struct wj_tok *t;
	uint32_t n;         /* tokens */
	size_t alloc;
	uint32_t max;       /* most tokens one record may have */
	uint32_t *keys;     /* scratch for the duplicate-key check */
	size_t keys_alloc;
	size_t end;         /* offset just past the root value */
	bool bad_utf8;      /* the failure was invalid UTF-8 */
	char why[96];
};

void wj_init(struct wj_doc *d, uint32_t max_tokens);
void wj_release(struct wj_doc *d);

/* Parses the JSON value at the start of buf[0..len) (after white space).
 * On WJ_OK, d->end is where the value ended; the rest is not looked at. */
enum wj_status wj_parse(struct wj_doc *d, char *buf, size_t len);

/* Bytes held by d's token and scratch arrays. */
size_t wj_capacity(const struct wj_doc *d);

/* The member of object obj called key[0..klen), or WJ_NONE. */
uint32_t wj_get(const struct wj_doc *d, uint32_t obj, const char *key,
		size_t klen);
#define WJ_GET(d, obj, lit) wj_get((d), (obj), lit, sizeof(lit) - 1)

/* obj.k1.k2 (each an object), or WJ_NONE. */
uint32_t wj_get2(const struct wj_doc *d, uint32_t obj, const char *k1,
		 const char *k2);

/* Iteration: an object's first key (its value is key + 1) and the next
 * key; an array's first element and the next.  WJ_NONE at the end. */
uint32_t wj_first(const struct wj_doc *d, uint32_t container);
uint32_t wj_first_root(const struct wj_doc *d);
uint32_t wj_next_member(const struct wj_doc *d, uint32_t container,
			uint32_t key);
uint32_t wj_next_elem(const struct wj_doc *d, uint32_t container,
		      uint32_t elem);

static inline bool wj_is(const struct wj_doc *d, uint32_t t,
			 enum wj_type type)
{
	return t != WJ_NONE && d->t[t].type == (uint8_t)type;
}

/* The string at t (NUL-terminated, valid until the next parse), or NULL
 * when t is absent or not a string. */
static inline const char *wj_str(const struct wj_doc *d, uint32_t t)
{
	return wj_is(d, t, WJ_STRING) ? d->buf + d->t[t].start : NULL;
}

/* Does key token k (or string t) equal lit? */
static inline bool wj_eq(const struct wj_doc *d, uint32_t t, const char *s,
			 size_t n)
{
	return d->t[t].len == n && !memcmp(d->buf + d->t[t].start, s, n);
}
#define WJ_EQ(d, t, lit) wj_eq((d), (t), lit, sizeof(lit) - 1)

/* An integer number (no fraction or exponent) in int64 range. */
bool wj_int(const struct wj_doc *d, uint32_t t, int64_t *out);

/* ---- the reader --------------------------------------------------------- */

/* What a mapper made of a record. */
enum wr_map {
	WR_EVENT = 0, /* r->ev is an event */
	WR_IGNORED,   /* a record of the source that is no auth event */
	WR_SKIP,      /* unusable: r->why says why */
	WR_NOMEM,
	WR_DONE       /* the mapper emitted (or held back) what it had */
};

/* Longest subject an event may be held back with. */
#define WR_HELD_MAX 512

/* A help-desk's authenticator removals, held back by the aalgate reader
 * until the record after them shows whether a help-desk reset follows
 * (read-aalgate.c). */
struct wr_held {
	bool on;
	int64_t time_ms;
	uint32_t file;
	uint64_t line;
	uint16_t methods[AG_EVENT_MAX_METHODS];
	uint8_t n_methods;
	char subject[WR_HELD_MAX + 1];
};

/* sshd "Partial" sign-ins, by process, for the "Accepted" that follows
 * (read-authlog.c). */
#define WR_PARTIALS 16
struct wr_partial {
	uint64_t key; /* hash of host and pid; 0: free */
	char user[64];
	uint16_t methods[4];
	uint8_t n;
};

/* The decision log's journal rows already seen, per store, so that a row
 * logged twice (docs: a crash between logging and marking) is read once. */
#define WR_STORES 8
struct wr_store_seq {
	char id[40];
	uint64_t seq;
};

struct ag_event_reader {
	const struct ag_policy *p;
	enum ag_event_source source;
	size_t max_record;
	int default_year;
	struct ag_event_stats st;
	ag_event_skip_fn skip_fn;
	void *skip_ctx;

	/* inputs */
	char **files;
	size_t n_files, alloc_files;
	bool open;   /* an input is begun and not ended */
	bool failed; /* a callback failed; the input is abandoned */
	uint32_t file;

	/* where the splitter is in the current input */
	uint64_t off;  /* bytes consumed */
	uint64_t line; /* line of the next byte, from 1 */
	bool bol;      /* the next byte begins a line */
	struct ag_event_pos pos;

	/* the splitter */
	int state;
	int wrap;
	uint64_t wrap_line;
	uint64_t depth;
	bool in_str, esc;
	bool wrap_checked;
	bool skipping; /* the record is over the cap: not kept */
	char *rec;
	size_t rec_len, rec_alloc;
	uint64_t rec_line;
	bool rec_nested;

	struct wj_doc doc;
	char *scr; /* per-record room for strings a mapper builds */
	size_t scr_len, scr_alloc;

	/* delivery during a feed */
	ag_event_fn fn;
	void *ctx;
	ag_code fn_rc;

	struct ag_strmap methods; /* catalogue name -> index */
	bool year_auto;           /* default_year was not given */
	int64_t made_ms;          /* when the reader was made */

	struct wr_held held;
	struct wr_store_seq stores[WR_STORES];
	size_t n_stores;
	struct wr_partial partials[WR_PARTIALS];
	unsigned partial_next;

	struct ag_event ev;
	char why[160];
};

/* Helpers for the mappers (read.c). */

/* The catalogue index of method name, or -1. */
int wr_method(const struct ag_event_reader *r, const char *name);

/* Sets r->why (printf style) and returns WR_SKIP. */
enum wr_map wr_skip(struct ag_event_reader *r, const char *fmt, ...)
	AG_PRINTF(2, 3);

/* RFC 3339 ("2024-01-31T10:00:00.123Z", "...+02:00"; 't', 'z' and a
 * space for 'T' accepted) into epoch milliseconds. */
bool wr_time_rfc3339(const char *s, size_t n, int64_t *ms);

/* Epoch days of a proleptic Gregorian date (no range check). */
int64_t wr_days(int64_t y, unsigned m, unsigned d);
bool wr_valid_date(int64_t y, unsigned m, unsigned d);

/* Adds method k to ev (false when the list is full). */
bool wr_add_method(struct ag_event *ev, int k);

/* Sets ev's assurance from its methods (ag_combine, for sign-in); leaves
 * it unknown when there are none. */
void wr_assure_methods(const struct ag_event_reader *r, struct ag_event *ev);

/* Room for n bytes of built strings in this record; NULL when out of
 * memory.  wr_scr_str copies s[0..n) there and terminates it. */
char *wr_scr(struct ag_event_reader *r, size_t n);
const char *wr_scr_str(struct ag_event_reader *r, const char *s, size_t n);
const char *wr_scr_cat(struct ag_event_reader *r, const char *a,
		       const char *b, const char *c);

/* Is s an IPv4 or IPv6 address? */
bool wr_is_ip(const char *s);

/* Delivers ev (sets file, counts it); false when the callback failed. */
bool wr_emit(struct ag_event_reader *r, struct ag_event *ev);
/* Counts a skipped record of the current input at line with why. */
void wr_count_skip(struct ag_event_reader *r, uint64_t line, const char *why);

/* The sources (read-<source>.c). */
enum wr_map wr_map_aalgate(struct ag_event_reader *r);
enum wr_map wr_map_generic(struct ag_event_reader *r);
enum wr_map wr_map_okta(struct ag_event_reader *r);
enum wr_map wr_map_cloudtrail(struct ag_event_reader *r);
enum wr_map wr_map_keycloak(struct ag_event_reader *r);
enum wr_map wr_map_authlog(struct ag_event_reader *r, char *line, size_t len);

/* The aalgate reader's held events: emitted (or dropped) before any other
 * record and at the end of an input.  false when the callback failed. */
bool wr_aalgate_flush(struct ag_event_reader *r);

/* Bytes the reader holds in buffers (tests check that it stays bounded). */
size_t ag_event_reader_capacity(const struct ag_event_reader *r);

#endif
