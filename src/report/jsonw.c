#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report.h"
#include "banned.h"

void ag_jw_init(struct ag_jsonw *w, FILE *f, unsigned fold)
{
	w->f = f;
	w->depth = 0;
	w->fold = fold;
	w->after_key = false;
	w->len = 0;
	memset(w->first, 0, sizeof(w->first));
	w->first[0] = true;
}

static void flush(struct ag_jsonw *w)
{
	if (w->len)
		fwrite(w->buf, 1, w->len, w->f);
	w->len = 0;
}

static void put(struct ag_jsonw *w, const char *p, size_t n)
{
	if (n > sizeof(w->buf) - w->len) {
		flush(w);
		if (n > sizeof(w->buf)) {
			fwrite(p, 1, n, w->f);
			return;
		}
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void putch(struct ag_jsonw *w, char c)
{
	if (w->len == sizeof(w->buf))
		flush(w);
	w->buf[w->len++] = c;
}

static void puts_(struct ag_jsonw *w, const char *s)
{
	put(w, s, strlen(s));
}

/* A line break and the indentation of the current level. */
static void newline(struct ag_jsonw *w)
{
	static const char spaces[] =
		"\n                                                  "
		"                                                            "
		"                  ";
	size_t n = 1 + 2 * (size_t)w->depth;
	if (n > sizeof(spaces) - 1)
		n = sizeof(spaces) - 1;
	put(w, spaces, n);
}

/* Separator and layout before a value or key: one member per line up to
 * the fold, "a, b" beyond it. */
static void before(struct ag_jsonw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth == 0)
		return;
	bool first = w->first[w->depth];
	w->first[w->depth] = false;
	if (w->depth <= w->fold) {
		if (!first)
			putch(w, ',');
		newline(w);
	} else if (!first) {
		put(w, ", ", 2);
	}
}

static void jw_open(struct ag_jsonw *w, char c)
{
	before(w);
	putch(w, c);
	if (w->depth + 1 < AG_ARRAY_SIZE(w->first))
		w->depth++;
	w->first[w->depth] = true;
}

static void jw_close(struct ag_jsonw *w, char c)
{
	bool empty = w->first[w->depth];
	bool folded = w->depth > w->fold;
	if (w->depth)
		w->depth--;
	if (!empty && !folded)
		newline(w);
	putch(w, c);
}

void ag_jw_obj(struct ag_jsonw *w)
{
	jw_open(w, '{');
}

void ag_jw_obj_end(struct ag_jsonw *w)
{
	jw_close(w, '}');
}

void ag_jw_arr(struct ag_jsonw *w)
{
	jw_open(w, '[');
}

void ag_jw_arr_end(struct ag_jsonw *w)
{
	jw_close(w, ']');
}

/* Bytes that cannot be copied as they are: 1 needs an escape, 2 is part
 * of a multi-byte sequence. */
static const unsigned char special[256] = {
	[0x00 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x7f] = 1,
	[0x80 ... 0xff] = 2,
};

static void put_string(struct ag_jsonw *w, const char *s, size_t n)
{
	int utf8 = -1; /* unknown until a byte >= 0x80 is seen */
	size_t run = 0; /* start of the pending run of plain bytes */

	putch(w, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = NULL;
		char ubuf[8];
		if (!special[c])
			continue;
		if (special[c] == 2) {
			if (utf8 < 0)
				utf8 = ag_utf8_valid(s, n);
			if (utf8)
				continue;
		}
		if (c == '"')
			esc = "\\\"";
		else if (c == '\\')
			esc = "\\\\";
		else if (c == '\n')
			esc = "\\n";
		else if (c == '\r')
			esc = "\\r";
		else if (c == '\t')
			esc = "\\t";
		else {
			/* Control characters, and bytes of invalid UTF-8
			 * (read as Latin-1), become escapes. */
			snprintf(ubuf, sizeof(ubuf), "\\u%04x", c);
			esc = ubuf;
		}
		put(w, s + run, i - run);
		puts_(w, esc);
		run = i + 1;
	}
	put(w, s + run, n - run);
	putch(w, '"');
}

void ag_jw_key(struct ag_jsonw *w, const char *k)
{
	before(w);
	put_string(w, k, strlen(k));
	put(w, ": ", 2);
	w->after_key = true;
}

void ag_jw_strn(struct ag_jsonw *w, const char *s, size_t n)
{
	before(w);
	put_string(w, s, n);
}

void ag_jw_str(struct ag_jsonw *w, const char *s)
{
	if (!s) {
		ag_jw_null(w);
		return;
	}
	ag_jw_strn(w, s, strlen(s));
}

void ag_jw_int(struct ag_jsonw *w, long long v)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%lld", v);
	before(w);
	put(w, buf, (size_t)n);
}

void ag_jw_bool(struct ag_jsonw *w, bool v)
{
	before(w);
	puts_(w, v ? "true" : "false");
}

void ag_jw_null(struct ag_jsonw *w)
{
	before(w);
	puts_(w, "null");
}

void ag_jw_fixed(struct ag_jsonw *w, double v, int decimals)
{
	char buf[64];
	if (!isfinite(v) || v > 1e15 || v < -1e15) {
		ag_jw_null(w);
		return;
	}
	int n = snprintf(buf, sizeof(buf), "%.*f",
			 decimals < 0 ? 0 : decimals > 9 ? 9 : decimals, v);
	before(w);
	put(w, buf, (size_t)n);
}

void ag_jw_end(struct ag_jsonw *w)
{
	putch(w, '\n');
	flush(w);
}
