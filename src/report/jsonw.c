#include <string.h>

#include "report.h"
#include "banned.h"

void ag_jw_init(struct ag_jsonw *w, FILE *f, bool pretty)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
	w->pretty = pretty;
	w->first[0] = true;
}

static void newline(struct ag_jsonw *w)
{
	static const char spaces[] =
		"\n                                                  "
		"                                                            "
		"                  ";
	if (!w->pretty)
		return;
	size_t n = 1 + 2 * (size_t)w->depth;
	if (n > sizeof(spaces) - 1)
		n = sizeof(spaces) - 1;
	fwrite(spaces, 1, n, w->f);
}

/* Separator and indentation before a value or key. */
static void before(struct ag_jsonw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth == 0)
		return;
	if (!w->first[w->depth])
		putc(',', w->f);
	w->first[w->depth] = false;
	newline(w);
}

static void jw_open(struct ag_jsonw *w, char c)
{
	before(w);
	putc(c, w->f);
	if (w->depth + 1 < AG_ARRAY_SIZE(w->first))
		w->depth++;
	w->first[w->depth] = true;
}

static void jw_close(struct ag_jsonw *w, char c)
{
	bool empty = w->first[w->depth];
	if (w->depth)
		w->depth--;
	if (!empty)
		newline(w);
	putc(c, w->f);
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

static void put_string(FILE *f, const char *s, size_t n)
{
	bool utf8 = ag_utf8_valid(s, n);
	size_t run = 0; /* start of the pending run of plain bytes */

	putc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = NULL;
		char ubuf[8];
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
		else if (c < 0x20 || c == 0x7f || (!utf8 && c >= 0x80)) {
			/* Control characters, and bytes of invalid UTF-8
			 * (read as Latin-1), become escapes. */
			snprintf(ubuf, sizeof(ubuf), "\\u%04x", c);
			esc = ubuf;
		}
		if (!esc)
			continue;
		fwrite(s + run, 1, i - run, f);
		fputs(esc, f);
		run = i + 1;
	}
	fwrite(s + run, 1, n - run, f);
	putc('"', f);
}

void ag_jw_key(struct ag_jsonw *w, const char *k)
{
	before(w);
	put_string(w->f, k, strlen(k));
	fputs(w->pretty ? ": " : ":", w->f);
	w->after_key = true;
}

void ag_jw_strn(struct ag_jsonw *w, const char *s, size_t n)
{
	before(w);
	put_string(w->f, s, n);
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
	before(w);
	fprintf(w->f, "%lld", v);
}

void ag_jw_bool(struct ag_jsonw *w, bool v)
{
	before(w);
	fputs(v ? "true" : "false", w->f);
}

void ag_jw_null(struct ag_jsonw *w)
{
	before(w);
	fputs("null", w->f);
}

void ag_jw_end(struct ag_jsonw *w)
{
	putc('\n', w->f);
}
