#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "banned.h"

static const char *const error_texts[] = {
	[AG_OK] = "success",
	[AG_ERR_NOMEM] = "out of memory",
	[AG_ERR_IO] = "input/output error",
	[AG_ERR_SYNTAX] = "syntax error",
	[AG_ERR_INVALID] = "invalid input",
	[AG_ERR_LIMIT] = "input exceeds a limit",
	[AG_ERR_USAGE] = "bad usage",
	[AG_ERR_INTERNAL] = "internal error",
	[AG_ERR_NOT_FOUND] = "not found",
};

const char *ag_strerror(ag_code code)
{
	if ((size_t)code >= AG_ARRAY_SIZE(error_texts) || !error_texts[code])
		return "unknown error";
	return error_texts[code];
}

void ag_error_init(struct ag_error *err)
{
	err->code = AG_OK;
	err->msg[0] = '\0';
}

__attribute__((format(printf, 4, 0))) static ag_code
verr(struct ag_error *err, ag_code code, const char *prefix, const char *fmt,
     va_list ap)
{
	if (!err)
		return code;
	err->code = code;
	size_t off = ag_strlcpy(err->msg, prefix, sizeof(err->msg));
	if (off >= sizeof(err->msg))
		return code;
	vsnprintf(err->msg + off, sizeof(err->msg) - off, fmt, ap);
	return code;
}

ag_code ag_err(struct ag_error *err, ag_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verr(err, code, "", fmt, ap);
	va_end(ap);
	return code;
}

ag_code ag_err_at(struct ag_error *err, ag_code code, const char *file,
		  unsigned line, unsigned col, const char *fmt, ...)
{
	char prefix[512];
	va_list ap;

	if (line)
		snprintf(prefix, sizeof(prefix), "%s:%u:%u: ", file, line, col);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", file);
	va_start(ap, fmt);
	verr(err, code, prefix, fmt, ap);
	va_end(ap);
	return code;
}

void ag_err_hint(struct ag_error *err, const char *hint)
{
	if (!err || !hint)
		return;
	size_t len = strlen(err->msg);
	if (len < sizeof(err->msg))
		snprintf(err->msg + len, sizeof(err->msg) - len,
			 "; did you mean '%s'?", hint);
}

void ag_safe_text(char *dst, size_t dst_len, const char *s)
{
	size_t max = 64, o;

	if (dst_len < 4) {
		if (dst_len)
			dst[0] = '\0';
		return;
	}
	if (max > dst_len - 4)
		max = dst_len - 4;
	for (o = 0; s[o] && o < max; o++) {
		unsigned char c = (unsigned char)s[o];
		dst[o] = (c >= 0x20 && c < 0x7f && c != '\'') ? (char)c : '?';
	}
	dst[o] = '\0';
	if (s[o])
		memcpy(dst + o, "...", 4);
}

size_t ag_strlcpy(char *dst, const char *src, size_t n)
{
	size_t len = strlen(src);
	if (n) {
		size_t c = len < n - 1 ? len : n - 1;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return len;
}

char *ag_strndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *ag_strdup(const char *s)
{
	return ag_strndup(s, strlen(s));
}

ag_code ag_grow(void **arr, size_t *alloc, size_t need, size_t elem)
{
	if (need <= *alloc)
		return AG_OK;
	size_t n = *alloc ? *alloc : 8;
	while (n < need) {
		if (n > SIZE_MAX / 2)
			return AG_ERR_LIMIT;
		n *= 2;
	}
	if (n > SIZE_MAX / elem)
		return AG_ERR_LIMIT;
	void *p = realloc(*arr, n * elem);
	if (!p)
		return AG_ERR_NOMEM;
	*arr = p;
	*alloc = n;
	return AG_OK;
}

/* ---- buffers ----------------------------------------------------------- */

void ag_buf_init(struct ag_buf *b, size_t cap)
{
	b->data = NULL;
	b->len = b->alloc = 0;
	b->cap = cap;
	b->failed = false;
}

void ag_buf_release(struct ag_buf *b)
{
	free(b->data);
	ag_buf_init(b, b->cap);
}

ag_code ag_buf_add(struct ag_buf *b, const void *p, size_t n)
{
	if (b->failed)
		return AG_ERR_LIMIT;
	if (n > b->cap || b->len > b->cap - n) {
		b->failed = true;
		return AG_ERR_LIMIT;
	}
	ag_code rc = ag_grow((void **)&b->data, &b->alloc, b->len + n + 1, 1);
	if (rc) {
		b->failed = true;
		return rc;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return AG_OK;
}

ag_code ag_buf_adds(struct ag_buf *b, const char *s)
{
	return ag_buf_add(b, s, strlen(s));
}

ag_code ag_buf_addc(struct ag_buf *b, char c)
{
	return ag_buf_add(b, &c, 1);
}

ag_code ag_buf_printf(struct ag_buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return AG_ERR_INTERNAL;
	if ((size_t)n < sizeof(small))
		return ag_buf_add(b, small, (size_t)n);

	char *big = malloc((size_t)n + 1);
	if (!big) {
		b->failed = true;
		return AG_ERR_NOMEM;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	ag_code rc = ag_buf_add(b, big, (size_t)n);
	free(big);
	return rc;
}

/* ---- string map (open addressing, linear probing) ---------------------- */

void ag_b64url_encode(const unsigned char *in, size_t n, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				"abcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0, i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			     in[i + 2];
		out[o++] = t[v >> 18];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = t[(v >> 6) & 63];
		out[o++] = t[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = t[v >> 18];
		out[o++] = t[(v >> 12) & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = t[v >> 18];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = t[(v >> 6) & 63];
	}
	out[o] = '\0';
}

uint64_t ag_hash(const char *s)
{
	/* FNV-1a, 64 bit. */
	uint64_t h = 0xcbf29ce484222325ULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	return h;
}

void ag_strmap_init(struct ag_strmap *m)
{
	memset(m, 0, sizeof(*m));
}

void ag_strmap_release(struct ag_strmap *m)
{
	free(m->keys);
	free(m->vals);
	ag_strmap_init(m);
}

static ag_code strmap_resize(struct ag_strmap *m, size_t cap)
{
	const char **keys = calloc(cap, sizeof(*keys));
	uint32_t *vals = calloc(cap, sizeof(*vals));
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return AG_ERR_NOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->keys[i])
			continue;
		size_t j = (size_t)ag_hash(m->keys[i]) & (cap - 1);
		while (keys[j])
			j = (j + 1) & (cap - 1);
		keys[j] = m->keys[i];
		vals[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
	return AG_OK;
}

ag_code ag_strmap_put(struct ag_strmap *m, const char *key, uint32_t val,
		      uint32_t *existing, bool *found)
{
	*found = false;
	if ((m->n + 1) * 4 > m->cap * 3) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		if (cap < m->cap)
			return AG_ERR_LIMIT;
		ag_code rc = strmap_resize(m, cap);
		if (rc)
			return rc;
	}
	size_t j = (size_t)ag_hash(key) & (m->cap - 1);
	while (m->keys[j]) {
		if (!strcmp(m->keys[j], key)) {
			*found = true;
			if (existing)
				*existing = m->vals[j];
			return AG_OK;
		}
		j = (j + 1) & (m->cap - 1);
	}
	m->keys[j] = key;
	m->vals[j] = val;
	m->n++;
	return AG_OK;
}

bool ag_strmap_get(const struct ag_strmap *m, const char *key, uint32_t *val)
{
	if (!m->cap)
		return false;
	size_t j = (size_t)ag_hash(key) & (m->cap - 1);
	while (m->keys[j]) {
		if (!strcmp(m->keys[j], key)) {
			*val = m->vals[j];
			return true;
		}
		j = (j + 1) & (m->cap - 1);
	}
	return false;
}

/* ---- suggestions ------------------------------------------------------- */

#define SUGGEST_MAX_LEN 64

/* Damerau-Levenshtein (optimal string alignment) distance, capped. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > SUGGEST_MAX_LEN || lb > SUGGEST_MAX_LEN)
		return SIZE_MAX;
	size_t d[SUGGEST_MAX_LEN + 1][SUGGEST_MAX_LEN + 1];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

void ag_suggest_init(struct ag_suggest *s, const char *word)
{
	s->word = word;
	s->best = NULL;
	s->best_dist = SIZE_MAX;
}

void ag_suggest_add(struct ag_suggest *s, const char *candidate)
{
	size_t lw = strlen(s->word), lc = strlen(candidate);
	size_t diff = lw > lc ? lw - lc : lc - lw;
	if (diff > 3 || !strcmp(s->word, candidate))
		return;
	size_t d = edit_distance(s->word, candidate);
	/* Allow one edit per three characters, at least one, at most three. */
	size_t limit = lw / 3;
	if (limit < 1)
		limit = 1;
	if (limit > 3)
		limit = 3;
	if (d <= limit && d < s->best_dist) {
		s->best = candidate;
		s->best_dist = d;
	}
}

const char *ag_suggest_best(const struct ag_suggest *s)
{
	return s->best;
}

/* ---- files ------------------------------------------------------------- */

ag_code ag_read_file(const char *path, size_t cap, char **out, size_t *len,
		     struct ag_error *err)
{
	ag_code rc = AG_ERR_IO;
	char *buf = NULL;
	size_t alloc = 0, n = 0;
	struct stat st;

	*out = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return ag_err(err, AG_ERR_IO, "%s: cannot open: %s", path,
			      strerror(errno));
	if (fstat(fd, &st) < 0) {
		ag_err(err, AG_ERR_IO, "%s: cannot stat: %s", path,
		       strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		ag_err(err, AG_ERR_IO, "%s: is a directory", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) {
		ag_err(err, AG_ERR_IO, "%s: not a regular file", path);
		goto out;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > cap) {
		rc = ag_err(err, AG_ERR_LIMIT,
			    "%s:1:1: file too large (%lld bytes, at most %zu)", path,
			    (long long)st.st_size, cap);
		goto out;
	}
	for (;;) {
		if (n + 65536 + 1 > alloc) {
			size_t want = n + 65536 + 1;
			if (S_ISREG(st.st_mode) && (size_t)st.st_size + 1 > want)
				want = (size_t)st.st_size + 1;
			if (AG_GROW(buf, alloc, want)) {
				rc = ag_err(err, AG_ERR_NOMEM, "%s: out of memory",
					    path);
				goto out;
			}
		}
		ssize_t r = read(fd, buf + n, alloc - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			ag_err(err, AG_ERR_IO, "%s: read error: %s", path,
			       strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > cap) {
			rc = ag_err(err, AG_ERR_LIMIT,
				    "%s:1:1: file too large (at most %zu bytes)",
				    path, cap);
			goto out;
		}
	}
	if (!buf && AG_GROW(buf, alloc, 1)) {
		rc = ag_err(err, AG_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
	rc = AG_OK;
out:
	free(buf);
	close(fd);
	return rc;
}

size_t ag_utf8_seq(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t need;
	uint32_t cp;

	if (n == 0)
		return 0;
	unsigned c = s[0];
	if (c < 0x80)
		return 1;
	if ((c & 0xE0) == 0xC0) {
		need = 1;
		cp = c & 0x1F;
	} else if ((c & 0xF0) == 0xE0) {
		need = 2;
		cp = c & 0x0F;
	} else if ((c & 0xF8) == 0xF0) {
		need = 3;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (size_t k = 1; k <= need; k++) {
		if (k >= n || (s[k] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3F);
	}
	if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
	    (need == 3 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return need + 1;
}

bool ag_utf8_valid(const char *str, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t k = ag_utf8_seq(str + i, n - i);
		if (!k)
			return false;
		i += k;
	}
	return true;
}
