/*
 * The event readers' JSON tokenizer (read-int.h): one record at a time,
 * in place, into a token array that is reused from record to record.
 *
 * Why not jansson here: a jansson parse allocates every string and builds
 * a hash table per object, some twenty allocations for a typical event
 * line, which alone would use most of the watch's time budget
 * (docs/BENCHMARKS.md: 500k events/s per core). The rules are jansson's with
 * JSON_REJECT_DUPLICATES: RFC 8259 grammar, UTF-8 only (no overlong forms,
 * no surrogates), escapes checked, \u0000 refused (strings here are C
 * strings), a key twice in one object refused.  Numbers are checked for
 * their grammar only; wj_int reads the integers the mappers need.  Depth
 * and token count are bounded, so a hostile record costs at most its own
 * size in tokens, never recursion.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "read-int.h"
#include "banned.h"

void wj_init(struct wj_doc *d, uint32_t max_tokens)
{
	memset(d, 0, sizeof(*d));
	d->max = max_tokens;
}

void wj_release(struct wj_doc *d)
{
	free(d->t);
	free(d->keys);
	memset(d, 0, sizeof(*d));
}

size_t wj_capacity(const struct wj_doc *d)
{
	return d->alloc * sizeof(*d->t) + d->keys_alloc * sizeof(*d->keys);
}

static enum wj_status bad(struct wj_doc *d, size_t at, const char *what)
{
	snprintf(d->why, sizeof(d->why), "invalid JSON at byte %zu: %s",
		 at + 1, what);
	return WJ_BAD;
}

static enum wj_status bad_utf8(struct wj_doc *d, size_t at)
{
	d->bad_utf8 = true;
	snprintf(d->why, sizeof(d->why), "invalid UTF-8 at byte %zu", at + 1);
	return WJ_BAD;
}

static inline bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline enum wj_status push(struct wj_doc *d, enum wj_type type,
				  size_t start, uint32_t *out)
{
	if (d->n >= d->max) {
		snprintf(d->why, sizeof(d->why),
			 "more than %u JSON values in one record", d->max);
		return WJ_BAD;
	}
	if (d->n >= d->alloc) {
		size_t na = d->alloc ? d->alloc * 2 : 256;
		if (na > d->max)
			na = d->max;
		struct wj_tok *nt = realloc(d->t, na * sizeof(*nt));
		if (!nt)
			return WJ_NOMEM;
		d->t = nt;
		d->alloc = na;
	}
	struct wj_tok *t = &d->t[d->n];
	t->start = (uint32_t)start;
	t->len = 0;
	t->end = d->n + 1;
	t->type = (uint8_t)type;
	*out = d->n++;
	return WJ_OK;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Four hex digits at b[p..p+4), or -1. */
static long hex4(const char *b, size_t p)
{
	long v = 0;
	for (size_t i = 0; i < 4; i++) {
		int h = hexval((unsigned char)b[p + i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

static size_t put_utf8(char *w, uint32_t cp)
{
	if (cp < 0x80) {
		w[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		w[0] = (char)(0xC0 | (cp >> 6));
		w[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		w[0] = (char)(0xE0 | (cp >> 12));
		w[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		w[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	w[0] = (char)(0xF0 | (cp >> 18));
	w[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	w[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	w[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * The string whose opening quote is at *pp, into token tok: decoded in
 * place (an escape is never shorter in the text than what it stands for)
 * and NUL-terminated where its closing quote was.
 */
static enum wj_status string(struct wj_doc *d, size_t len, size_t *pp,
			     uint32_t tok)
{
	char *b = d->buf;
	size_t p = *pp + 1, start = p;

	/* Most strings have no escape: find the quote and stop there,
	 * eight plain bytes at a time (no quote, backslash, control
	 * character or non-ASCII byte in the word). */
	while (len - p >= 8) {
		uint64_t w;
		memcpy(&w, b + p, 8);
		const uint64_t ones = 0x0101010101010101ULL;
		const uint64_t high = 0x8080808080808080ULL;
		uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
		uint64_t stop = ((q - ones) & ~q) | ((bs - ones) & ~bs) |
				((w - ones * 0x20) & ~w) | w;
		if (stop & high)
			break;
		p += 8;
	}
	for (;;) {
		if (p >= len)
			return WJ_INCOMPLETE;
		unsigned char c = (unsigned char)b[p];
		if (c == '"') {
			d->t[tok].start = (uint32_t)start;
			d->t[tok].len = (uint32_t)(p - start);
			b[p] = '\0';
			*pp = p + 1;
			return WJ_OK;
		}
		if (c == '\\')
			break;
		if (c < 0x20)
			return bad(d, p, "a control character in a string");
		if (c >= 0x80) {
			size_t k = ag_utf8_seq(b + p, len - p);
			if (!k)
				return bad_utf8(d, p);
			p += k;
			continue;
		}
		p++;
	}

	size_t w = p;
	for (;;) {
		if (p >= len)
			return WJ_INCOMPLETE;
		unsigned char c = (unsigned char)b[p];
		if (c == '"') {
			d->t[tok].start = (uint32_t)start;
			d->t[tok].len = (uint32_t)(w - start);
			b[w] = '\0';
			*pp = p + 1;
			return WJ_OK;
		}
		if (c < 0x20)
			return bad(d, p, "a control character in a string");
		if (c >= 0x80) {
			size_t k = ag_utf8_seq(b + p, len - p);
			if (!k)
				return bad_utf8(d, p);
			memmove(b + w, b + p, k);
			w += k;
			p += k;
			continue;
		}
		if (c != '\\') {
			b[w++] = (char)c;
			p++;
			continue;
		}
		if (p + 1 >= len)
			return WJ_INCOMPLETE;
		char e = b[p + 1];
		switch (e) {
		case '"':
		case '\\':
		case '/':
			b[w++] = e;
			p += 2;
			continue;
		case 'b':
			b[w++] = '\b';
			p += 2;
			continue;
		case 'f':
			b[w++] = '\f';
			p += 2;
			continue;
		case 'n':
			b[w++] = '\n';
			p += 2;
			continue;
		case 'r':
			b[w++] = '\r';
			p += 2;
			continue;
		case 't':
			b[w++] = '\t';
			p += 2;
			continue;
		case 'u':
			break;
		default:
			return bad(d, p, "an invalid escape in a string");
		}
		if (p + 6 > len)
			return WJ_INCOMPLETE;
		long cp = hex4(b, p + 2);
		if (cp < 0)
			return bad(d, p, "an invalid \\u escape");
		p += 6;
		if (cp >= 0xD800 && cp <= 0xDBFF) {
			if (p + 6 > len)
				return WJ_INCOMPLETE;
			long lo = b[p] == '\\' && b[p + 1] == 'u'
					  ? hex4(b, p + 2)
					  : -1;
			if (lo < 0xDC00 || lo > 0xDFFF)
				return bad(d, p, "a lone UTF-16 surrogate");
			cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			p += 6;
		} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
			return bad(d, p - 6, "a lone UTF-16 surrogate");
		} else if (cp == 0) {
			return bad(d, p - 6, "a NUL character (\\u0000) in a "
					     "string");
		}
		w += put_utf8(b + w, (uint32_t)cp);
	}
}

static enum wj_status number(struct wj_doc *d, size_t len, size_t *pp,
			     uint32_t tok)
{
	const char *b = d->buf;
	size_t p = *pp, s = p;

	if (b[p] == '-')
		p++;
	if (p >= len)
		return WJ_INCOMPLETE;
	if (b[p] == '0') {
		p++;
	} else if (is_digit((unsigned char)b[p])) {
		while (p < len && is_digit((unsigned char)b[p]))
			p++;
	} else {
		return bad(d, p, "a malformed number");
	}
	if (p < len && b[p] == '.') {
		p++;
		if (p >= len)
			return WJ_INCOMPLETE;
		if (!is_digit((unsigned char)b[p]))
			return bad(d, p, "a malformed number");
		while (p < len && is_digit((unsigned char)b[p]))
			p++;
	}
	if (p < len && (b[p] == 'e' || b[p] == 'E')) {
		p++;
		if (p < len && (b[p] == '+' || b[p] == '-'))
			p++;
		if (p >= len)
			return WJ_INCOMPLETE;
		if (!is_digit((unsigned char)b[p]))
			return bad(d, p, "a malformed number");
		while (p < len && is_digit((unsigned char)b[p]))
			p++;
	}
	d->t[tok].start = (uint32_t)s;
	d->t[tok].len = (uint32_t)(p - s);
	*pp = p;
	return WJ_OK;
}

static enum wj_status literal(struct wj_doc *d, size_t len, size_t *pp,
			      const char *word)
{
	size_t n = strlen(word), p = *pp;
	size_t have = len - p < n ? len - p : n;
	if (memcmp(d->buf + p, word, have) != 0)
		return bad(d, p, "an unexpected word");
	if (have < n)
		return WJ_INCOMPLETE;
	*pp = p + n;
	return WJ_OK;
}

static uint32_t first_of(const struct wj_doc *d, uint32_t c);

/* Objects with up to this many keys are checked with a hash table. */
#define HASHED_KEYS 64

/* A string, number or literal at *pp, whose first byte is c. */
static enum wj_status scalar(struct wj_doc *d, size_t len, size_t *pp,
			     unsigned char c)
{
	const char *word = NULL;
	enum wj_type type;
	enum wj_status rc;
	uint32_t tok;

	switch (c) {
	case '"':
		type = WJ_STRING;
		break;
	case 't':
		type = WJ_TRUE;
		word = "true";
		break;
	case 'f':
		type = WJ_FALSE;
		word = "false";
		break;
	case 'n':
		type = WJ_NULL;
		word = "null";
		break;
	default:
		if (c != '-' && !is_digit(c))
			return bad(d, *pp, "an unexpected character");
		type = WJ_NUMBER;
		break;
	}
	if ((rc = push(d, type, *pp, &tok)) != WJ_OK)
		return rc;
	if (type == WJ_STRING)
		return string(d, len, pp, tok);
	if (type == WJ_NUMBER)
		return number(d, len, pp, tok);
	return literal(d, len, pp, word);
}

/* ---- duplicate keys ---- */

static int key_cmp(const struct wj_doc *d, uint32_t a, uint32_t b)
{
	uint32_t la = d->t[a].len, lb = d->t[b].len;
	if (la != lb)
		return la < lb ? -1 : 1;
	return memcmp(d->buf + d->t[a].start, d->buf + d->t[b].start, la);
}

static void sift(const struct wj_doc *d, uint32_t *v, size_t root, size_t n)
{
	for (;;) {
		size_t c = 2 * root + 1;
		if (c >= n)
			return;
		if (c + 1 < n && key_cmp(d, v[c], v[c + 1]) < 0)
			c++;
		if (key_cmp(d, v[root], v[c]) >= 0)
			return;
		uint32_t x = v[root];
		v[root] = v[c];
		v[c] = x;
		root = c;
	}
}

/* Heapsort: O(m log m) whatever the keys, and no allocation. */
static void sort_keys(const struct wj_doc *d, uint32_t *v, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift(d, v, i, n);
	for (size_t end = n; end > 1; end--) {
		uint32_t x = v[0];
		v[0] = v[end - 1];
		v[end - 1] = x;
		sift(d, v, 0, end - 1);
	}
}

static enum wj_status dup_found(struct wj_doc *d, uint32_t k)
{
	char shown[40];
	size_t i = 0;
	const unsigned char *s = (const unsigned char *)d->buf + d->t[k].start;
	for (; i < d->t[k].len && i < sizeof(shown) - 1; i++)
		shown[i] = s[i] >= 0x20 && s[i] < 0x7F ? (char)s[i] : '?';
	shown[i] = '\0';
	snprintf(d->why, sizeof(d->why),
		 "invalid JSON at byte %u: the key '%s' appears twice",
		 d->t[k].start, shown);
	return WJ_BAD;
}

static enum wj_status dups(struct wj_doc *d, uint32_t obj)
{
	uint32_t m = d->t[obj].len;
	uint32_t small[8], *v = small;

	if (m < 2)
		return WJ_OK;
	if (m > AG_ARRAY_SIZE(small)) {
		if (m > d->keys_alloc) {
			uint32_t *nk = realloc(d->keys, m * sizeof(*nk));
			if (!nk)
				return WJ_NOMEM;
			d->keys = nk;
			d->keys_alloc = m;
		}
		v = d->keys;
	}
	size_t i = 0;
	for (uint32_t k = first_of(d, obj); k != WJ_NONE;
	     k = wj_next_member(d, obj, k))
		v[i++] = k;
	if (m <= AG_ARRAY_SIZE(small)) {
		for (size_t a = 1; a < i; a++)
			for (size_t b = 0; b < a; b++)
				if (!key_cmp(d, v[a], v[b]))
					return dup_found(d, v[a]);
		return WJ_OK;
	}
	if (m <= HASHED_KEYS) {
		/* An event's dozen or two keys: a small hash table on the
		 * stack.  Keys that collide are compared, so crafted
		 * collisions cost at most m * m comparisons of short keys. */
		uint32_t slot[2 * HASHED_KEYS];
		const size_t mask = 2 * HASHED_KEYS - 1;
		memset(slot, 0, sizeof(slot));
		for (size_t a = 0; a < i; a++) {
			const unsigned char *kb =
				(const unsigned char *)d->buf +
				d->t[v[a]].start;
			uint32_t h = 2166136261u ^ d->t[v[a]].len;
			for (uint32_t x = 0; x < d->t[v[a]].len; x++)
				h = (h ^ kb[x]) * 16777619u;
			for (size_t j = h & mask;; j = (j + 1) & mask) {
				if (!slot[j]) {
					slot[j] = v[a];
					break;
				}
				if (!key_cmp(d, slot[j], v[a]))
					return dup_found(d, v[a]);
			}
		}
		return WJ_OK;
	}
	sort_keys(d, v, i);
	for (size_t a = 1; a < i; a++)
		if (!key_cmp(d, v[a - 1], v[a]))
			return dup_found(d, v[a]);
	return WJ_OK;
}

/* ---- the parser ---- */

enum { ST_VALUE, ST_AFTER, ST_KEY, ST_KEY_OR_CLOSE, ST_VALUE_OR_CLOSE };

enum wj_status wj_parse(struct wj_doc *d, char *buf, size_t len)
{
	uint32_t stack[WJ_MAX_DEPTH];
	unsigned depth = 0;
	size_t p = 0;
	int st = ST_VALUE;
	enum wj_status rc;
	uint32_t tok;

	d->buf = buf;
	d->n = 0;
	d->end = 0;
	d->why[0] = '\0';
	d->bad_utf8 = false;
	if (len >= UINT32_MAX)
		return bad(d, 0, "a record over 4 GiB");

	for (;;) {
		while (p < len && is_ws((unsigned char)buf[p]))
			p++;
		if (p >= len)
			return WJ_INCOMPLETE;
		unsigned char c = (unsigned char)buf[p];
		uint32_t top = depth ? stack[depth - 1] : WJ_NONE;

		/* Outside strings JSON is ASCII: say which rule a stray
		 * byte breaks. */
		if (c >= 0x80)
			return ag_utf8_seq(buf + p, len - p)
				       ? bad(d, p, "an unexpected character")
				       : bad_utf8(d, p);

		switch (st) {
		case ST_KEY_OR_CLOSE:
			if (c == '}')
				goto close;
			/* fall through */
		case ST_KEY:
			if (c != '"')
				return bad(d, p, "expected a key in quotes");
			if ((rc = push(d, WJ_STRING, p, &tok)) != WJ_OK)
				return rc;
			d->t[top].len++;
			if ((rc = string(d, len, &p, tok)) != WJ_OK)
				return rc;
			while (p < len && is_ws((unsigned char)buf[p]))
				p++;
			if (p >= len)
				return WJ_INCOMPLETE;
			if (buf[p] != ':')
				return bad(d, p, "expected ':' after a key");
			p++;
			st = ST_VALUE;
			continue;
		case ST_VALUE_OR_CLOSE:
			if (c == ']')
				goto close;
			/* fall through */
		case ST_VALUE:
			if (depth && d->t[top].type == WJ_ARRAY)
				d->t[top].len++;
			if (c == '{' || c == '[') {
				if (depth == WJ_MAX_DEPTH) {
					snprintf(d->why, sizeof(d->why),
						 "JSON nested deeper than %u "
						 "levels",
						 WJ_MAX_DEPTH);
					return WJ_BAD;
				}
				if ((rc = push(d, c == '{' ? WJ_OBJECT
							   : WJ_ARRAY,
					       p, &tok)) != WJ_OK)
					return rc;
				stack[depth++] = tok;
				p++;
				st = c == '{' ? ST_KEY_OR_CLOSE
					      : ST_VALUE_OR_CLOSE;
				continue;
			}
			if ((rc = scalar(d, len, &p, c)) != WJ_OK)
				return rc;
			if (depth == 0) {
				d->end = p;
				return WJ_OK;
			}
			st = ST_AFTER;
			continue;
		case ST_AFTER:
			if (c == ',') {
				p++;
				st = d->t[top].type == WJ_OBJECT ? ST_KEY
								 : ST_VALUE;
				continue;
			}
			if ((c == '}' && d->t[top].type == WJ_OBJECT) ||
			    (c == ']' && d->t[top].type == WJ_ARRAY))
				goto close;
			return bad(d, p,
				   d->t[top].type == WJ_OBJECT
					   ? "expected ',' or '}'"
					   : "expected ',' or ']'");
		}
		return bad(d, p, "internal parser state");
close:
		tok = stack[--depth];
		d->t[tok].end = d->n;
		if (d->t[tok].type == WJ_OBJECT &&
		    (rc = dups(d, tok)) != WJ_OK)
			return rc;
		p++;
		if (depth == 0) {
			d->end = p;
			return WJ_OK;
		}
		st = ST_AFTER;
	}
}

/* ---- access ---- */

static uint32_t first_of(const struct wj_doc *d, uint32_t c)
{
	if (c >= d->n ||
	    (d->t[c].type != WJ_OBJECT && d->t[c].type != WJ_ARRAY))
		return WJ_NONE;
	return d->t[c].len ? c + 1 : WJ_NONE;
}

uint32_t wj_first(const struct wj_doc *d, uint32_t c)
{
	/* 0 is "absent" to callers; the root has wj_first_root. */
	return c == WJ_NONE ? WJ_NONE : first_of(d, c);
}

uint32_t wj_first_root(const struct wj_doc *d)
{
	return first_of(d, 0);
}

uint32_t wj_next_member(const struct wj_doc *d, uint32_t c, uint32_t key)
{
	uint32_t nx = d->t[key + 1].end;
	return nx < d->t[c].end ? nx : WJ_NONE;
}

uint32_t wj_next_elem(const struct wj_doc *d, uint32_t c, uint32_t e)
{
	uint32_t nx = d->t[e].end;
	return nx < d->t[c].end ? nx : WJ_NONE;
}

uint32_t wj_get(const struct wj_doc *d, uint32_t obj, const char *key,
		size_t klen)
{
	if (obj >= d->n || d->t[obj].type != WJ_OBJECT)
		return WJ_NONE;
	for (uint32_t k = d->t[obj].len ? obj + 1 : WJ_NONE; k != WJ_NONE;
	     k = wj_next_member(d, obj, k))
		if (d->t[k].len == klen &&
		    (!klen || d->buf[d->t[k].start] == key[0]) &&
		    !memcmp(d->buf + d->t[k].start, key, klen))
			return k + 1;
	return WJ_NONE;
}

uint32_t wj_get2(const struct wj_doc *d, uint32_t obj, const char *k1,
		 const char *k2)
{
	uint32_t o = wj_get(d, obj, k1, strlen(k1));
	return o == WJ_NONE ? WJ_NONE : wj_get(d, o, k2, strlen(k2));
}

bool wj_int(const struct wj_doc *d, uint32_t t, int64_t *out)
{
	if (!wj_is(d, t, WJ_NUMBER))
		return false;
	const char *s = d->buf + d->t[t].start;
	size_t n = d->t[t].len, i = 0;
	bool neg = false;
	uint64_t v = 0;

	if (n && s[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i >= n)
		return false;
	for (; i < n; i++) {
		if (!is_digit((unsigned char)s[i]))
			return false;
		unsigned dgt = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - dgt) / 10)
			return false;
		v = v * 10 + dgt;
	}
	if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
		return false;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}
