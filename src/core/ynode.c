#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ynode.h"
#include "banned.h"

static void arena_free(struct ag_arena_chunk *c);

ag_code ag_yreader_init(struct ag_yreader *r, const char *file,
			const char *buf, size_t len, struct ag_error *err)
{
	memset(r, 0, sizeof(*r));
	r->file = file;
	r->buf = buf;
	r->len = len;
	r->err = err;
	if (!yaml_parser_initialize(&r->parser))
		return ag_err(err, AG_ERR_NOMEM, "%s: out of memory", file);
	yaml_parser_set_input_string(&r->parser, (const unsigned char *)buf,
				     len);
	return AG_OK;
}

void ag_yreader_release(struct ag_yreader *r)
{
	yaml_parser_delete(&r->parser);
}

/* Offset of the first byte that does not start a valid UTF-8 sequence,
 * or len. */
static size_t first_invalid_utf8(const char *buf, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = (unsigned char)buf[i];
		size_t n = c < 0x80		? 1
			   : (c & 0xE0) == 0xC0 ? 2
			   : (c & 0xF0) == 0xE0 ? 3
			   : (c & 0xF8) == 0xF0 ? 4
						: 0;
		if (!n || i + n > len || !ag_utf8_valid(buf + i, n))
			return i;
		i += n;
	}
	return len;
}

/* The character at a byte offset, to explain libyaml's terse errors. */
static int char_at(const struct ag_yreader *r, size_t index)
{
	return index < r->len ? (unsigned char)r->buf[index] : -1;
}

ag_code ag_yreader_event(struct ag_yreader *r, yaml_event_t *ev)
{
	if (yaml_parser_parse(&r->parser, ev))
		return AG_OK;

	yaml_parser_t *p = &r->parser;
	yaml_mark_t m = p->problem_mark;
	const char *problem = p->problem ? p->problem : "malformed YAML";

	if (p->error == YAML_MEMORY_ERROR)
		return ag_err(r->err, AG_ERR_NOMEM, "%s: out of memory",
			      r->file);
	if (p->error == YAML_READER_ERROR) {
		/* Reader errors carry an offset, not a line.  For bad UTF-8,
		 * libyaml's offset may point past the offending byte, so find
		 * the first invalid sequence ourselves. */
		size_t off = p->problem_offset, line = 1, col = 1;
		size_t bad = first_invalid_utf8(r->buf, r->len);
		if (bad < r->len && bad <= off)
			off = bad;
		for (size_t i = 0; i < off && i < r->len; i++) {
			if (r->buf[i] == '\n') {
				line++;
				col = 1;
			} else if (((unsigned char)r->buf[i] & 0xC0) != 0x80) {
				col++;
			}
		}
		return ag_err_at(r->err, AG_ERR_SYNTAX, r->file,
				 (unsigned)line, (unsigned)col,
				 "%s (the file must be UTF-8 text)", problem);
	}
	if (char_at(r, m.index) == '\t')
		return ag_err_at(r->err, AG_ERR_SYNTAX, r->file,
				 (unsigned)m.line + 1, (unsigned)m.column + 1,
				 "tab character; YAML indentation must use "
				 "spaces");
	if (p->context)
		return ag_err_at(r->err, AG_ERR_SYNTAX, r->file,
				 (unsigned)m.line + 1, (unsigned)m.column + 1,
				 "%s %s", problem, p->context);
	return ag_err_at(r->err, AG_ERR_SYNTAX, r->file, (unsigned)m.line + 1,
			 (unsigned)m.column + 1, "%s", problem);
}

void ag_ynode_free(struct ag_ynode *n)
{
	if (!n)
		return;
	if (n->in_arena) {
		/* Only an arena's root frees; inner nodes go with it. */
		arena_free(n->chunks);
		return;
	}
	for (size_t i = 0; i < n->n; i++)
		ag_ynode_free(n->items[i]);
	free(n->items);
	free(n->str);
	free(n);
}

struct ag_arena_chunk {
	struct ag_arena_chunk *next;
	size_t used, size;
	max_align_t data[];
};

static void arena_free(struct ag_arena_chunk *c)
{
	while (c) {
		struct ag_arena_chunk *next = c->next;
		free(c);
		c = next;
	}
}

/* n zeroed bytes from the reader's arena. */
static void *arena_alloc(struct ag_yreader *r, size_t n)
{
	struct ag_arena_chunk *c = r->arena;
	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (!c || c->size - c->used < n) {
		size_t size = n > 4000 ? n : 4000;
		struct ag_arena_chunk *nc = malloc(sizeof(*nc) + size);
		if (!nc)
			return NULL;
		nc->size = size;
		nc->used = 0;
		nc->next = c;
		r->arena = c = nc;
	}
	void *p = (char *)c->data + c->used;
	c->used += n;
	memset(p, 0, n);
	return p;
}

static struct ag_ynode *node_new(struct ag_yreader *r, enum ag_ytype type,
				 const yaml_event_t *ev)
{
	struct ag_ynode *n = r->arena ? arena_alloc(r, sizeof(*n))
				      : calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->in_arena = r->arena != NULL;
	n->type = type;
	n->line = (unsigned)ev->start_mark.line + 1;
	n->col = (unsigned)ev->start_mark.column + 1;
	return n;
}

static ag_code node_add(struct ag_yreader *r, struct ag_ynode *parent,
			struct ag_ynode *child)
{
	if (parent->in_arena && parent->n == parent->alloc) {
		size_t want = parent->alloc ? parent->alloc * 2 : 8;
		struct ag_ynode **items =
			arena_alloc(r, want * sizeof(*items));
		if (!items)
			return ag_err(r->err, AG_ERR_NOMEM,
				      "%s: out of memory", r->file);
		if (parent->n)
			memcpy(items, parent->items,
			       parent->n * sizeof(*items));
		parent->items = items;
		parent->alloc = want;
	} else if (!parent->in_arena &&
		   AG_GROW(parent->items, parent->alloc, parent->n + 1)) {
		return ag_err(r->err, AG_ERR_NOMEM, "%s: out of memory",
			      r->file);
	}
	parent->items[parent->n++] = child;
	return AG_OK;
}

/*
 * Is key already in map n?  Small maps are scanned; past 16 keys a hash
 * map (borrowing the keys, which live as long as n) keeps a mapping with
 * many keys linear instead of quadratic.  *prev gets the key's index or
 * SIZE_MAX; the key is then recorded.
 */
static ag_code find_dup(struct ag_strmap *keys, const struct ag_ynode *n,
			const char *key, size_t *prev)
{
	enum { SCAN = 32 };
	uint32_t v;
	bool found;

	*prev = SIZE_MAX;
	if (n->n < SCAN) {
		for (size_t i = 0; i < n->n; i += 2)
			if (!strcmp(n->items[i]->str, key)) {
				*prev = i;
				return AG_OK;
			}
		return AG_OK;
	}
	if (keys->n == 0)
		for (size_t i = 0; i < n->n; i += 2)
			if (ag_strmap_put(keys, n->items[i]->str, (uint32_t)i,
					  NULL, &found))
				return AG_ERR_NOMEM;
	if (ag_strmap_put(keys, key, (uint32_t)n->n, &v, &found))
		return AG_ERR_NOMEM;
	if (found)
		*prev = v;
	return AG_OK;
}

ag_code ag_yreader_node(struct ag_yreader *r, yaml_event_t *first,
			struct ag_ynode **out)
{
	ag_code rc = AG_ERR_INTERNAL;
	struct ag_ynode *n = NULL;
	struct ag_strmap keys;
	yaml_event_t ev;

	*out = NULL;
	ag_strmap_init(&keys);
	switch (first->type) {
	case YAML_ALIAS_EVENT:
		rc = ag_err_at(r->err, AG_ERR_INVALID, r->file,
			       (unsigned)first->start_mark.line + 1,
			       (unsigned)first->start_mark.column + 1,
			       "YAML aliases are not supported");
		goto out;
	case YAML_SCALAR_EVENT:
		if (first->data.scalar.length > AG_YAML_MAX_SCALAR) {
			rc = ag_err_at(r->err, AG_ERR_LIMIT, r->file,
				       (unsigned)first->start_mark.line + 1,
				       (unsigned)first->start_mark.column + 1,
				       "value too long (%zu bytes, at most %u)",
				       first->data.scalar.length,
				       AG_YAML_MAX_SCALAR);
			goto out;
		}
		if (!(n = node_new(r, AG_Y_SCALAR, first)))
			goto nomem;
		n->len = first->data.scalar.length;
		if (n->in_arena) {
			n->str = arena_alloc(r, n->len + 1);
			if (n->str)
				memcpy(n->str, first->data.scalar.value,
				       n->len);
		} else {
			n->str = ag_strndup(
				(const char *)first->data.scalar.value, n->len);
		}
		if (!n->str)
			goto nomem;
		if (memchr(n->str, '\0', n->len)) {
			rc = ag_ynode_err(r, n, AG_ERR_INVALID,
					  "value contains a NUL character");
			goto out;
		}
		n->plain = first->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		yaml_event_delete(first);
		*out = n;
		return AG_OK;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		break;
	default:
		rc = ag_err_at(r->err, AG_ERR_SYNTAX, r->file,
			       (unsigned)first->start_mark.line + 1,
			       (unsigned)first->start_mark.column + 1,
			       "unexpected YAML event");
		goto out;
	}

	bool is_map = first->type == YAML_MAPPING_START_EVENT;
	if (!(n = node_new(r, is_map ? AG_Y_MAP : AG_Y_SEQ, first)))
		goto nomem;
	if (++r->depth > AG_YAML_MAX_DEPTH) {
		rc = ag_ynode_err(r, n, AG_ERR_LIMIT,
				  "nesting too deep (at most %u levels)",
				  AG_YAML_MAX_DEPTH);
		r->depth--;
		goto out;
	}
	yaml_event_delete(first);
	first = NULL;
	for (;;) {
		struct ag_ynode *child;
		if ((rc = ag_yreader_event(r, &ev)))
			break;
		if (ev.type == YAML_SEQUENCE_END_EVENT ||
		    ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			rc = AG_OK;
			break;
		}
		if ((rc = ag_yreader_node(r, &ev, &child)))
			break;
		if (is_map && n->n % 2 == 0) {
			if (child->type != AG_Y_SCALAR) {
				rc = ag_ynode_err(r, child, AG_ERR_INVALID,
						  "mapping keys must be "
						  "plain names");
				ag_ynode_free(child);
				break;
			}
			size_t prev = SIZE_MAX;
			if ((rc = find_dup(&keys, n, child->str, &prev))) {
				ag_ynode_free(child);
				rc = ag_err(r->err, rc, "%s: out of memory",
					    r->file);
				break;
			}
			if (prev != SIZE_MAX) {
				rc = ag_ynode_err(r, child, AG_ERR_INVALID,
						  "duplicate key '%s' (first at "
						  "line %u)",
						  child->str,
						  n->items[prev]->line);
				ag_ynode_free(child);
				break;
			}
		}
		if ((rc = node_add(r, n, child))) {
			ag_ynode_free(child);
			break;
		}
	}
	r->depth--;
	ag_strmap_release(&keys);
	if (rc)
		goto out;
	*out = n;
	return AG_OK;
nomem:
	rc = ag_err(r->err, AG_ERR_NOMEM, "%s: out of memory", r->file);
out:
	if (first)
		yaml_event_delete(first);
	ag_strmap_release(&keys);
	ag_ynode_free(n);
	return rc;
}

ag_code ag_yreader_node_arena(struct ag_yreader *r, yaml_event_t *first,
			      struct ag_ynode **out)
{
	struct ag_arena_chunk *saved = r->arena;
	struct ag_ynode *root = NULL;

	*out = NULL;
	r->arena = NULL;
	/* A first chunk, so node_new allocates from the arena. */
	if (!arena_alloc(r, 1)) {
		r->arena = saved;
		yaml_event_delete(first);
		return ag_err(r->err, AG_ERR_NOMEM, "%s: out of memory",
			      r->file);
	}
	ag_code rc = ag_yreader_node(r, first, &root);
	if (rc)
		arena_free(r->arena);
	else
		root->chunks = r->arena;
	r->arena = saved;
	*out = root;
	return rc;
}

ag_code ag_yreader_begin(struct ag_yreader *r, yaml_event_t *first_node)
{
	yaml_event_t ev;
	ag_code rc;

	if ((rc = ag_yreader_event(r, &ev)))
		return rc;
	if (ev.type != YAML_STREAM_START_EVENT) {
		yaml_event_delete(&ev);
		return ag_err(r->err, AG_ERR_SYNTAX, "%s: not a YAML stream",
			      r->file);
	}
	yaml_event_delete(&ev);
	if ((rc = ag_yreader_event(r, &ev)))
		return rc;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		return ag_err_at(r->err, AG_ERR_INVALID, r->file, 1, 1,
				 "empty file");
	}
	if (ev.type != YAML_DOCUMENT_START_EVENT) {
		yaml_event_delete(&ev);
		return ag_err(r->err, AG_ERR_SYNTAX, "%s: no YAML document",
			      r->file);
	}
	yaml_event_delete(&ev);
	return ag_yreader_event(r, first_node);
}

ag_code ag_yreader_end(struct ag_yreader *r)
{
	yaml_event_t ev;
	ag_code rc;

	if ((rc = ag_yreader_event(r, &ev)))
		return rc;
	if (ev.type != YAML_DOCUMENT_END_EVENT) {
		yaml_event_delete(&ev);
		return ag_err(r->err, AG_ERR_SYNTAX,
			      "%s: unexpected content after the document",
			      r->file);
	}
	yaml_event_delete(&ev);
	if ((rc = ag_yreader_event(r, &ev)))
		return rc;
	if (ev.type != YAML_STREAM_END_EVENT) {
		unsigned line = (unsigned)ev.start_mark.line + 1;
		unsigned col = (unsigned)ev.start_mark.column + 1;
		yaml_event_delete(&ev);
		return ag_err_at(r->err, AG_ERR_INVALID, r->file, line, col,
				 "a second YAML document; one file holds one "
				 "document");
	}
	yaml_event_delete(&ev);
	return AG_OK;
}

ag_code ag_yreader_document(struct ag_yreader *r, struct ag_ynode **root)
{
	yaml_event_t ev;
	ag_code rc;

	*root = NULL;
	if ((rc = ag_yreader_begin(r, &ev)))
		return rc;
	if ((rc = ag_yreader_node(r, &ev, root)))
		return rc;
	if ((rc = ag_yreader_end(r))) {
		ag_ynode_free(*root);
		*root = NULL;
	}
	return rc;
}

ag_code ag_ynode_err(struct ag_yreader *r, const struct ag_ynode *n,
		     ag_code code, const char *fmt, ...)
{
	char msg[AG_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ag_err_at(r->err, code, r->file, n->line, n->col, "%s", msg);
}

const char *ag_ytype_name(const struct ag_ynode *n)
{
	if (n->type == AG_Y_MAP)
		return "a mapping";
	if (n->type == AG_Y_SEQ)
		return "a list";
	if (ag_ynode_is_null(n))
		return "nothing";
	return "a single value";
}

bool ag_ynode_is_null(const struct ag_ynode *n)
{
	if (n->type != AG_Y_SCALAR || !n->plain)
		return false;
	return n->len == 0 || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
	       !strcmp(n->str, "Null") || !strcmp(n->str, "NULL");
}

ag_code ag_ynode_string(struct ag_yreader *r, const struct ag_ynode *n,
			const char *what, const char **out)
{
	if (n->type != AG_Y_SCALAR || ag_ynode_is_null(n))
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "%s must be a single value, not %s", what,
				    ag_ytype_name(n));
	if (!ag_utf8_valid(n->str, n->len))
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "%s is not valid UTF-8", what);
	*out = n->str;
	return AG_OK;
}

ag_code ag_ynode_bool(struct ag_yreader *r, const struct ag_ynode *n,
		      const char *what, bool *out)
{
	if (n->type == AG_Y_SCALAR && n->plain) {
		if (!strcmp(n->str, "true") || !strcmp(n->str, "True") ||
		    !strcmp(n->str, "TRUE")) {
			*out = true;
			return AG_OK;
		}
		if (!strcmp(n->str, "false") || !strcmp(n->str, "False") ||
		    !strcmp(n->str, "FALSE")) {
			*out = false;
			return AG_OK;
		}
	}
	if (n->type == AG_Y_SCALAR)
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "%s must be true or false%s, not '%s'",
				    what, n->plain ? "" : " (without quotes)",
				    n->str);
	return ag_ynode_err(r, n, AG_ERR_INVALID,
			    "%s must be true or false, not %s", what,
			    ag_ytype_name(n));
}

ag_code ag_ynode_int(struct ag_yreader *r, const struct ag_ynode *n,
		     const char *what, long min, long max, long *out)
{
	long v = 0;
	bool ok = n->type == AG_Y_SCALAR && n->plain && n->len > 0 &&
		  n->len <= 9;
	for (size_t i = 0; ok && i < n->len; i++) {
		if (n->str[i] < '0' || n->str[i] > '9')
			ok = false;
		else
			v = v * 10 + (n->str[i] - '0');
	}
	if (!ok || v < min || v > max) {
		if (n->type == AG_Y_SCALAR)
			return ag_ynode_err(r, n, AG_ERR_INVALID,
					    "%s must be a whole number from "
					    "%ld to %ld%s, not '%s'",
					    what, min, max,
					    n->plain ? "" : " (without quotes)",
					    n->str);
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "%s must be a whole number from %ld to "
				    "%ld, not %s",
				    what, min, max, ag_ytype_name(n));
	}
	*out = v;
	return AG_OK;
}

ag_code ag_ynode_duration(struct ag_yreader *r, const struct ag_ynode *n,
			  const char *what, int64_t *out)
{
	ag_code rc = AG_ERR_INVALID;
	if (n->type == AG_Y_SCALAR && !ag_ynode_is_null(n)) {
		rc = ag_duration_parse(n->str, out);
		if (!rc)
			return AG_OK;
		if (rc == AG_ERR_LIMIT)
			return ag_ynode_err(r, n, AG_ERR_INVALID,
					    "%s '%s' is too long (at most "
					    "36500d)",
					    what, n->str);
	}
	if (n->type != AG_Y_SCALAR)
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "%s must be a duration such as 90s, 15m, "
				    "12h or 30d, not %s",
				    what, ag_ytype_name(n));
	return ag_ynode_err(r, n, AG_ERR_INVALID,
			    "bad duration '%s' for %s (write 90s, 15m, 12h "
			    "or 30d)",
			    n->str, what);
}

ag_code ag_ynode_time(struct ag_yreader *r, const struct ag_ynode *n,
		      const char *what, int64_t *out)
{
	if (n->type != AG_Y_SCALAR || ag_ynode_is_null(n))
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "%s must be a date such as 2024-01-31 or "
				    "2024-01-31T10:00:00Z, not %s",
				    what, ag_ytype_name(n));
	if (ag_time_parse(n->str, out))
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "bad date '%s' for %s (write 2024-01-31 or "
				    "2024-01-31T10:00:00Z)",
				    n->str, what);
	return AG_OK;
}

ag_code ag_ynode_strlist(struct ag_yreader *r, const struct ag_ynode *n,
			 const char *what,
			 ag_code (*each)(void *ctx, struct ag_yreader *r,
					 const struct ag_ynode *item),
			 void *ctx)
{
	ag_code rc;
	const char *s;

	if (n->type == AG_Y_SCALAR && !ag_ynode_is_null(n)) {
		if ((rc = ag_ynode_string(r, n, what, &s)))
			return rc;
		return each(ctx, r, n);
	}
	if (n->type != AG_Y_SEQ)
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "%s must be a list, not %s", what,
				    ag_ytype_name(n));
	for (size_t i = 0; i < n->n; i++) {
		if ((rc = ag_ynode_string(r, n->items[i], what, &s)))
			return rc;
		if ((rc = each(ctx, r, n->items[i])))
			return rc;
	}
	return AG_OK;
}

ag_code ag_ynode_expect_map(struct ag_yreader *r, const struct ag_ynode *n,
			    const char *what)
{
	if (n->type != AG_Y_MAP)
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "%s must be a mapping, not %s", what,
				    ag_ytype_name(n));
	return AG_OK;
}

static ag_code unknown_key(struct ag_yreader *r, const struct ag_ynode *k,
			   const char *where, const char *const *keys)
{
	struct ag_suggest s;
	ag_suggest_init(&s, k->str);
	for (const char *const *p = keys; *p; p++)
		ag_suggest_add(&s, *p);
	ag_code rc = ag_ynode_err(r, k, AG_ERR_INVALID, "unknown key '%s' in %s",
				  k->str, where);
	ag_err_hint(r->err, ag_suggest_best(&s));
	return rc;
}

ag_code ag_ynode_fields(struct ag_yreader *r, const struct ag_ynode *n,
			const char *where, const char *const *keys,
			const struct ag_ynode **slots)
{
	size_t nkeys = 0;
	while (keys[nkeys])
		slots[nkeys++] = NULL;
	for (size_t i = 0; i < n->n; i += 2) {
		const struct ag_ynode *k = n->items[i];
		size_t j = 0;
		/* The first byte rules out most names without a call. */
		while (j < nkeys &&
		       (keys[j][0] != k->str[0] || strcmp(keys[j], k->str)))
			j++;
		if (j == nkeys)
			return unknown_key(r, k, where, keys);
		slots[j] = n->items[i + 1];
	}
	return AG_OK;
}

ag_code ag_ynode_check_keys(struct ag_yreader *r, const struct ag_ynode *n,
			    const char *where, const char *const *keys)
{
	for (size_t i = 0; i < n->n; i += 2) {
		const struct ag_ynode *k = n->items[i];
		const char *const *p = keys;
		while (*p && strcmp(*p, k->str))
			p++;
		if (!*p)
			return unknown_key(r, k, where, keys);
	}
	return AG_OK;
}
