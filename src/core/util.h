/*
 * Internal helpers shared by the library: error reporting, owned strings,
 * capped buffers, a string map, near-miss suggestions and safe file reads.
 */
#ifndef AG_UTIL_H
#define AG_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aalgate/aalgate.h"

#define AG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define AG_ARRAY_SIZE(x) (sizeof(x) / sizeof((x)[0]))

/* Sets err (if not NULL) and returns code. */
ag_code ag_err(struct ag_error *err, ag_code code, const char *fmt, ...)
	AG_PRINTF(3, 4);

/* The same, prefixed with "file:line:col: ". */
ag_code ag_err_at(struct ag_error *err, ag_code code, const char *file,
		  unsigned line, unsigned col, const char *fmt, ...)
	AG_PRINTF(6, 7);

/* Appends "; did you mean 'x'?" to err->msg when hint is not NULL. */
void ag_err_hint(struct ag_error *err, const char *hint);

char *ag_strdup(const char *s);
char *ag_strndup(const char *s, size_t n);

/* Copies src into dst of size n, always terminated; returns strlen(src). */
size_t ag_strlcpy(char *dst, const char *src, size_t n);

/* Grows *arr (of *alloc elements of size elem) to hold at least need.
 * Returns AG_ERR_NOMEM or AG_ERR_LIMIT on overflow; *arr is unchanged then. */
ag_code ag_grow(void **arr, size_t *alloc, size_t need, size_t elem);

#define AG_GROW(arr, alloc, need) \
	ag_grow((void **)&(arr), &(alloc), (need), sizeof(*(arr)))

/* A growable byte buffer with a cap, like curl's dynbuf. */
struct ag_buf {
	char *data;
	size_t len;
	size_t alloc;
	size_t cap; /* largest len allowed */
	bool failed; /* an append failed: the contents are incomplete */
};

void ag_buf_init(struct ag_buf *b, size_t cap);
void ag_buf_release(struct ag_buf *b);
ag_code ag_buf_add(struct ag_buf *b, const void *p, size_t n);
ag_code ag_buf_adds(struct ag_buf *b, const char *s);
ag_code ag_buf_printf(struct ag_buf *b, const char *fmt, ...) AG_PRINTF(2, 3);
ag_code ag_buf_addc(struct ag_buf *b, char c);

/* A string-to-index map.  Keys are borrowed: they must outlive the map. */
struct ag_strmap {
	const char **keys;
	uint32_t *vals;
	size_t cap; /* slots, a power of two */
	size_t n;
};

void ag_strmap_init(struct ag_strmap *m);
void ag_strmap_release(struct ag_strmap *m);
/* Inserts key -> val.  If key exists, leaves it and sets *existing. */
ag_code ag_strmap_put(struct ag_strmap *m, const char *key, uint32_t val,
		      uint32_t *existing, bool *found);
bool ag_strmap_get(const struct ag_strmap *m, const char *key, uint32_t *val);

uint64_t ag_hash(const char *s);

/* base64url without padding (RFC 4648 §5) of in[0..n) into out, which
 * must hold AG_B64URL_ENCODED_LEN(n) bytes, the NUL included. */
#define AG_B64URL_ENCODED_LEN(n) (((n) + 2) / 3 * 4 + 1)
void ag_b64url_encode(const unsigned char *in, size_t n, char *out);

/* Copies untrusted text s for a message: printable ASCII only (others
 * become '?'), cut at 64 bytes with "...". */
void ag_safe_text(char *dst, size_t dst_len, const char *s);

/* Near-miss suggestions: feed candidates, then read the best.  Only a
 * candidate within a small edit distance is suggested. */
struct ag_suggest {
	const char *word;
	const char *best;
	size_t best_dist;
};

void ag_suggest_init(struct ag_suggest *s, const char *word);
void ag_suggest_add(struct ag_suggest *s, const char *candidate);
const char *ag_suggest_best(const struct ag_suggest *s);

/* Reads a whole file of at most cap bytes into *out (NUL-terminated).
 * Opens with O_CLOEXEC and refuses directories and devices. */
ag_code ag_read_file(const char *path, size_t cap, char **out, size_t *len,
		     struct ag_error *err);

/* The length of the valid UTF-8 sequence that starts s (at most n bytes
 * long), or 0 when s does not start with one (overlong forms and
 * surrogates are invalid). */
size_t ag_utf8_seq(const char *s, size_t n);

/* True when s is valid UTF-8 of length n. */
bool ag_utf8_valid(const char *s, size_t n);

#endif
