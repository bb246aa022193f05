/*
 * A small, capped node tree over libyaml's event parser.
 *
 * Documents are read either whole (the policy) or one item at a time (the
 * estate, which may hold millions of entries).  Every node records its
 * line and column.  Aliases are refused, mapping keys must be unique
 * scalars, nesting depth and scalar length are capped.
 */
#ifndef AG_YAML_H
#define AG_YAML_H

#include <yaml.h>

#include "util.h"

#define AG_YAML_MAX_DEPTH 64
#define AG_YAML_MAX_SCALAR (64u * 1024u)

enum ag_ytype { AG_Y_SCALAR, AG_Y_SEQ, AG_Y_MAP };

/* Nodes of one estate item come from one arena, freed in one go. */
struct ag_arena_chunk;

struct ag_ynode {
	enum ag_ytype type;
	bool in_arena;                 /* freed with its arena's root */
	struct ag_arena_chunk *chunks; /* on an arena's root: the arena */
	unsigned line, col; /* 1-based */
	bool plain;         /* an unquoted scalar */
	char *str;          /* scalars only */
	size_t len;
	struct ag_ynode **items; /* sequences; maps: key, value, key, ... */
	size_t n;                /* number of items (2 per map entry) */
	size_t alloc;
};

struct ag_yreader {
	yaml_parser_t parser;
	const char *file;
	const char *buf;
	size_t len;
	unsigned depth;
	struct ag_error *err;
	struct ag_arena_chunk *arena; /* where nodes come from, or NULL */
};

/* Starts reading buf (of len bytes, named file in messages).  buf must
 * outlive the reader. */
ag_code ag_yreader_init(struct ag_yreader *r, const char *file,
			const char *buf, size_t len, struct ag_error *err);
void ag_yreader_release(struct ag_yreader *r);

/* Next event; a libyaml error becomes "file:line:col: ..." in err. */
ag_code ag_yreader_event(struct ag_yreader *r, yaml_event_t *ev);

/* Reads the node that starts with event first (which it consumes). */
ag_code ag_yreader_node(struct ag_yreader *r, yaml_event_t *first,
			struct ag_ynode **out);

/* The same, with every node of the tree in one arena: one allocation
 * per few kilobytes instead of two per value, and one free. */
ag_code ag_yreader_node_arena(struct ag_yreader *r, yaml_event_t *first,
			      struct ag_ynode **out);

/* Reads a stream of exactly one document into *root.  An empty stream is
 * an error naming the file. */
ag_code ag_yreader_document(struct ag_yreader *r, struct ag_ynode **root);

/* Skips the stream and document start; fails on an empty stream. */
ag_code ag_yreader_begin(struct ag_yreader *r, yaml_event_t *first_node);

/* Expects document end, then stream end (no second document). */
ag_code ag_yreader_end(struct ag_yreader *r);

void ag_ynode_free(struct ag_ynode *n);

/* Error at a node: "file:line:col: ...". */
ag_code ag_ynode_err(struct ag_yreader *r, const struct ag_ynode *n,
		     ag_code code, const char *fmt, ...) AG_PRINTF(4, 5);

/* Typed access.  Each reports a clear error at the node on mismatch. */
const char *ag_ytype_name(const struct ag_ynode *n);
bool ag_ynode_is_null(const struct ag_ynode *n);
ag_code ag_ynode_string(struct ag_yreader *r, const struct ag_ynode *n,
			const char *what, const char **out);
ag_code ag_ynode_bool(struct ag_yreader *r, const struct ag_ynode *n,
		      const char *what, bool *out);
ag_code ag_ynode_int(struct ag_yreader *r, const struct ag_ynode *n,
		     const char *what, long min, long max, long *out);
ag_code ag_ynode_duration(struct ag_yreader *r, const struct ag_ynode *n,
			  const char *what, int64_t *out);
/* A date "2024-01-31" or an RFC 3339 time, as seconds since the epoch. */
ag_code ag_ynode_time(struct ag_yreader *r, const struct ag_ynode *n,
		      const char *what, int64_t *out);
/* A sequence of scalars, or one scalar standing for a list of one.
 * Calls each(ctx, item) for every element. */
ag_code ag_ynode_strlist(struct ag_yreader *r, const struct ag_ynode *n,
			 const char *what,
			 ag_code (*each)(void *ctx, struct ag_yreader *r,
					 const struct ag_ynode *item),
			 void *ctx);

/* Checks that every key of map n is one of keys[] (NULL-terminated);
 * an unknown key is an error with a near-miss hint. */
ag_code ag_ynode_check_keys(struct ag_yreader *r, const struct ag_ynode *n,
			    const char *where, const char *const *keys);
/* Like ag_ynode_check_keys, and also fills slots[i] with the value of
 * keys[i] (or NULL): one pass over the map. */
ag_code ag_ynode_fields(struct ag_yreader *r, const struct ag_ynode *n,
			const char *where, const char *const *keys,
			const struct ag_ynode **slots);
ag_code ag_ynode_expect_map(struct ag_yreader *r, const struct ag_ynode *n,
			    const char *what);

#endif
