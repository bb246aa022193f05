/*
 * Reading machine-identity inventories (docs/nhi.md): the generic CSV and
 * JSON/YAML forms (docs/nhi.md), and, through the estate importers and
 * ag_nhi_from_estate (src/nhi/estate.c), AWS credential reports, Keycloak
 * exports and estate files.
 *
 * Details of the generic form beyond docs/nhi.md:
 *  - Limits: a file of at most AG_NHI_MAX_BYTES; at most
 *    AG_NHI_MAX_RECORDS identities and as many owners per inventory; ids
 *    (id, owner, an owner's id) and list entries of at most AG_NHI_MAX_ID
 *    bytes, other text of at most AG_NHI_MAX_FIELD bytes; at most
 *    AG_NHI_MAX_LIST entries in one list.  A CSV record (a row, quoted
 *    line breaks included) holds at most 8 MiB (NHI_CSV_MAX_RECORD) and
 *    1024 columns (NHI_CSV_MAX_FIELDS).
 *  - Text is UTF-8.  Ids, names and list entries may not hold control
 *    characters; purpose may hold tabs and line breaks.
 *  - Empty values: an empty CSV cell, an empty string, or a YAML null
 *    (~, null, nothing) is "not given", as if the column or key were
 *    absent, except that for list fields the field is then known and
 *    empty.  id and kind may not be empty.
 *  - The words never, true, false and the values of status and
 *    owner_status are matched without regard to case.
 *  - thumbprint is 43 base64url characters (SHA-256, unpadded).
 *  - interactive: true, false, or a date (interactive, last on that date).
 *  - CSV: a header row names the columns, in any order; a UTF-8 byte order
 *    mark is skipped; blank lines are skipped; every row has as many
 *    fields as the header.  List cells are split on spaces, tabs, line
 *    breaks, commas and semicolons; empty pieces are dropped.  Columns
 *    whose name starts with "x-" are ignored (their cells are not read).
 *    Column names match exactly (lower case).
 *  - JSON/YAML: one document.  A list field takes a sequence of single
 *    values or one single value (a list of one; it is not split).  The
 *    owners list's entries are {id, team, status}; status defaults to
 *    active.  Keys starting with "x-" are not special: every unknown key
 *    is an error.  Identities are read one at a time, event by event:
 *    beyond the records kept, reading holds one identity only.
 *  - Dates need a zone when they carry a time; 1970-01-01T00:00:00Z and
 *    earlier are refused (0 stands for "unknown").
 *  - A record's position, used by later messages (a duplicate id, an
 *    unknown kind at resolution), is its row (line:1) in CSV and the
 *    start of its mapping in JSON/YAML.
 *  - kind and workflow are checked against the policy as they are read,
 *    at their own line and column, when a policy is given.
 *
 * Recognising an input (AG_NHI_AUTO), in this order:
 *  1. an AWS IAM credential report, by its header (ag_input_sniff);
 *  2. the generic CSV: a first row of two or more fields, one of them
 *     named id or kind;
 *  3. a JSON/YAML document: a top-level mapping is the generic form when
 *     a key is identities or owners, an estate file when a key is
 *     accounts or paths, a Keycloak export when a key is realm (the first
 *     such key decides); a top-level sequence is a Keycloak export when
 *     its first entry has a realm key, else the generic form;
 *  4. malformed YAML/JSON: a Keycloak export if ag_input_sniff says so
 *     (the importer then names the JSON error), else the generic reader
 *     reports the syntax error;
 *  5. anything else: an error naming the forms accepted.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aalgate/import.h"
#include "aalgate/nhi.h"
#include "csv.h"
#include "ynode.h"
#include "util.h"
#include "banned.h"

#define NHI_CSV_MAX_RECORD (8u * 1024u * 1024u)
#define NHI_CSV_MAX_FIELDS 1024u
/* Events read to recognise a JSON/YAML document before giving up. */
#define PEEK_MAX_EVENTS 1000000u
/* A SHA-256 thumbprint in unpadded base64url. */
#define THUMBPRINT_LEN 43u

enum field {
	F_ID,
	F_KIND,
	F_OWNER,
	F_OWNER_STATUS,
	F_TEAM,
	F_PURPOSE,
	F_WORKFLOW,
	F_ISSUER,
	F_THUMBPRINT,
	F_STATUS,
	F_CREATED,
	F_EXPIRES,
	F_LAST_ROTATED,
	F_LAST_USED,
	F_SCOPES,
	F_USED_SCOPES,
	F_ENVIRONMENTS,
	F_USED_BY,
	F_INTERACTIVE,
	F_COUNT
};

static const char *const field_names[F_COUNT + 1] = {
	[F_ID] = "id",
	[F_KIND] = "kind",
	[F_OWNER] = "owner",
	[F_OWNER_STATUS] = "owner_status",
	[F_TEAM] = "team",
	[F_PURPOSE] = "purpose",
	[F_WORKFLOW] = "workflow",
	[F_ISSUER] = "issuer",
	[F_THUMBPRINT] = "thumbprint",
	[F_STATUS] = "status",
	[F_CREATED] = "created",
	[F_EXPIRES] = "expires",
	[F_LAST_ROTATED] = "last_rotated",
	[F_LAST_USED] = "last_used",
	[F_SCOPES] = "scopes",
	[F_USED_SCOPES] = "used_scopes",
	[F_ENVIRONMENTS] = "environments",
	[F_USED_BY] = "used_by",
	[F_INTERACTIVE] = "interactive",
	[F_COUNT] = NULL,
};

static bool is_list(enum field f)
{
	return f == F_SCOPES || f == F_USED_SCOPES || f == F_ENVIRONMENTS ||
	       f == F_USED_BY;
}

enum { O_ID, O_TEAM, O_STATUS, O_COUNT };
static const char *const owner_keys[O_COUNT + 1] = {"id", "team", "status",
						    NULL};
static const char *const top_keys[] = {"identities", "owners", NULL};

static const char *const status_values[] = {"active", "disabled", "retired"};
static const char *const owner_status_values[] = {"unknown", "active",
						  "offboarded"};

struct loader {
	struct ag_nhi_inventory *inv;
	const struct ag_policy *p; /* may be NULL for the generic forms */
	const char *file;
	uint32_t file_idx;
	struct ag_error *err;
	struct ag_nhi rec;  /* the record being read; owns its strings */
	size_t list_alloc[4];
};

/* A value as read: a CSV cell or a YAML scalar, NUL-terminated. */
struct cell {
	const char *s;
	size_t len;
	unsigned line, col;
	bool null; /* empty, or a YAML null: not given */
};

/* ---- messages ------------------------------------------------------------ */

/* A value for a message: at most 40 characters, control bytes and
 * invalid UTF-8 shown as '?'. */
static const char *show(const char *s, size_t len, char *out, size_t n)
{
	size_t k = 0, i = 0;
	bool utf8 = ag_utf8_valid(s, len);

	while (i < len && k + 4 < n && i < 40) {
		unsigned char ch = (unsigned char)s[i];
		out[k++] = (ch < 0x20 || ch == 0x7f || (ch >= 0x80 && !utf8))
				   ? '?'
				   : (char)ch;
		i++;
	}
	/* Never cut a UTF-8 character in two. */
	while (utf8 && k > 0 && i < len &&
	       ((unsigned char)s[i] & 0xC0) == 0x80) {
		k--;
		i--;
	}
	if (i < len) {
		out[k++] = '.';
		out[k++] = '.';
		out[k++] = '.';
	}
	out[k] = '\0';
	return out;
}

static ag_code at(struct loader *L, unsigned line, unsigned col, ag_code code,
		  const char *fmt, ...) AG_PRINTF(5, 6);

static ag_code at(struct loader *L, unsigned line, unsigned col, ag_code code,
		  const char *fmt, ...)
{
	char msg[AG_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ag_err_at(L->err, code, L->file, line, col, "%s", msg);
}

static ag_code nomem(struct loader *L)
{
	return ag_err(L->err, AG_ERR_NOMEM, "%s: out of memory", L->file);
}

/* An unknown word at c among names[0..n), with the near miss. */
static ag_code unknown_word(struct loader *L, const struct cell *c,
			    const char *what, const char *const *names,
			    size_t n, const char *expected)
{
	struct ag_suggest sg;
	char v[64];
	ag_suggest_init(&sg, c->s);
	for (size_t i = 0; i < n; i++)
		ag_suggest_add(&sg, names[i]);
	ag_code rc = at(L, c->line, c->col, AG_ERR_INVALID,
			"unknown %s '%s'%s%s%s", what,
			show(c->s, c->len, v, sizeof(v)), expected ? " (" : "",
			expected ? expected : "", expected ? ")" : "");
	ag_err_hint(L->err, ag_suggest_best(&sg));
	return rc;
}

/* ---- the record being read ----------------------------------------------- */

static struct ag_nhi_list *list_of(struct ag_nhi *r, enum field f)
{
	switch (f) {
	case F_SCOPES:
		return &r->scopes;
	case F_USED_SCOPES:
		return &r->used_scopes;
	case F_ENVIRONMENTS:
		return &r->environments;
	default:
		return &r->used_by;
	}
}

static size_t *list_alloc_of(struct loader *L, enum field f)
{
	return &L->list_alloc[f - F_SCOPES];
}

/* Empties the record, keeping its lists' arrays for the next. */
static void scratch_clear(struct loader *L)
{
	struct ag_nhi *r = &L->rec;
	struct ag_nhi_list keep[4];

	free(r->id);
	free(r->kind);
	free(r->issuer);
	free(r->owner);
	free(r->team);
	free(r->purpose);
	free(r->workflow);
	free(r->thumbprint);
	for (enum field f = F_SCOPES; f <= F_USED_BY; f++) {
		struct ag_nhi_list *l = list_of(r, f);
		for (size_t i = 0; i < l->n; i++)
			free(l->v[i]);
		keep[f - F_SCOPES].v = l->v;
		keep[f - F_SCOPES].n = 0;
		keep[f - F_SCOPES].known = false;
	}
	memset(r, 0, sizeof(*r));
	for (enum field f = F_SCOPES; f <= F_USED_BY; f++)
		*list_of(r, f) = keep[f - F_SCOPES];
	r->method = -1;
	r->workflow_idx = -1;
	r->file = L->file_idx;
}

static void scratch_release(struct loader *L)
{
	scratch_clear(L);
	for (enum field f = F_SCOPES; f <= F_USED_BY; f++)
		free(list_of(&L->rec, f)->v);
	memset(&L->rec, 0, sizeof(L->rec));
}

/* Checks c as text of at most max bytes: UTF-8, and without control
 * characters unless lines (then tab, CR and LF are allowed). */
static ag_code check_text(struct loader *L, const struct cell *c,
			  const char *what, size_t max, bool lines)
{
	if (c->len > max)
		return at(L, c->line, c->col, AG_ERR_LIMIT,
			  "%s is longer than %zu bytes", what, max);
	if (!ag_utf8_valid(c->s, c->len))
		return at(L, c->line, c->col, AG_ERR_INVALID,
			  "%s is not valid UTF-8", what);
	for (size_t i = 0; i < c->len; i++) {
		unsigned char ch = (unsigned char)c->s[i];
		if (lines && (ch == '\t' || ch == '\n' || ch == '\r'))
			continue;
		if (ch < 0x20 || ch == 0x7f)
			return at(L, c->line, c->col, AG_ERR_INVALID,
				  "%s contains a control character", what);
	}
	return AG_OK;
}

static ag_code set_text(struct loader *L, const struct cell *c,
			const char *what, size_t max, bool lines, char **dst)
{
	ag_code rc;
	if (c->null)
		return AG_OK;
	if ((rc = check_text(L, c, what, max, lines)))
		return rc;
	free(*dst);
	if (!(*dst = ag_strndup(c->s, c->len)))
		return nomem(L);
	return AG_OK;
}

static ag_code set_word(struct loader *L, const struct cell *c,
			const char *what, const char *const *names, size_t n,
			const char *expected, uint8_t *out)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(names[i]) == c->len &&
		    !strncasecmp(c->s, names[i], c->len)) {
			*out = (uint8_t)i;
			return AG_OK;
		}
	return unknown_word(L, c, what, names, n, expected);
}

static bool word_is(const struct cell *c, const char *w)
{
	return strlen(w) == c->len && !strncasecmp(c->s, w, c->len);
}

/* A date; never_ok: the word never, which sets *never. */
static ag_code set_date(struct loader *L, const struct cell *c,
			const char *what, bool never_ok, int64_t *out,
			bool *never)
{
	char v[64];
	int64_t t = 0;
	if (c->null)
		return AG_OK;
	if (never_ok && word_is(c, "never")) {
		*never = true;
		*out = 0;
		return AG_OK;
	}
	if (strlen(c->s) != c->len || ag_time_parse(c->s, &t) || t <= 0)
		return at(L, c->line, c->col, AG_ERR_INVALID,
			  "bad date '%s' for %s (write 2024-01-31%s "
			  "2024-01-31T10:00:00Z%s)",
			  show(c->s, c->len, v, sizeof(v)), what,
			  never_ok ? "," : " or", never_ok ? " or never" : "");
	*out = t;
	return AG_OK;
}

static ag_code add_item(struct loader *L, enum field f, const struct cell *c)
{
	struct ag_nhi_list *l = list_of(&L->rec, f);
	const char *what = field_names[f];
	ag_code rc;

	l->known = true;
	if (c->null)
		return at(L, c->line, c->col, AG_ERR_INVALID,
			  "empty entry in %s", what);
	if ((rc = check_text(L, c, what, AG_NHI_MAX_ID, false)))
		return rc;
	if (l->n >= AG_NHI_MAX_LIST)
		return at(L, c->line, c->col, AG_ERR_LIMIT,
			  "%s has more than %u entries", what, AG_NHI_MAX_LIST);
	if (AG_GROW(l->v, *list_alloc_of(L, f), l->n + 1) ||
	    !(l->v[l->n] = ag_strndup(c->s, c->len)))
		return nomem(L);
	l->n++;
	return AG_OK;
}

/* A CSV list cell: entries split on spaces, commas and semicolons. */
static ag_code set_list_cell(struct loader *L, enum field f,
			     const struct cell *c)
{
	struct ag_nhi_list *l = list_of(&L->rec, f);
	ag_code rc;

	l->known = true;
	if (!ag_utf8_valid(c->s, c->len))
		return at(L, c->line, c->col, AG_ERR_INVALID,
			  "%s is not valid UTF-8", field_names[f]);
	for (size_t i = 0; i < c->len;) {
		while (i < c->len && strchr(" \t\r\n,;", c->s[i]))
			i++;
		size_t start = i;
		while (i < c->len && !strchr(" \t\r\n,;", c->s[i]))
			i++;
		if (i == start)
			continue;
		struct cell item = *c;
		item.s = c->s + start;
		item.len = i - start;
		item.null = false;
		if ((rc = add_item(L, f, &item)))
			return rc;
	}
	return AG_OK;
}

static bool thumbprint_ok(const struct cell *c)
{
	if (c->len != THUMBPRINT_LEN)
		return false;
	for (size_t i = 0; i < c->len; i++) {
		char ch = c->s[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return false;
	}
	return true;
}

static ag_code set_kind(struct loader *L, const struct cell *c)
{
	ag_code rc;
	if (c->null)
		return at(L, c->line, c->col, AG_ERR_INVALID, "kind is empty");
	if ((rc = check_text(L, c, "kind", AG_NHI_MAX_FIELD, false)))
		return rc;
	if (L->p && ag_catalogue_find(&L->p->catalogue, c->s) < 0) {
		struct ag_suggest sg;
		char v[64];
		ag_suggest_init(&sg, c->s);
		for (size_t k = 0; k < L->p->catalogue.n; k++)
			ag_suggest_add(&sg, L->p->catalogue.methods[k].name);
		rc = at(L, c->line, c->col, AG_ERR_INVALID,
			"unknown kind '%s' (a method of the catalogue, such as "
			"api_key, client_secret, workload_identity or mtls)",
			show(c->s, c->len, v, sizeof(v)));
		ag_err_hint(L->err, ag_suggest_best(&sg));
		return rc;
	}
	return set_text(L, c, "kind", AG_NHI_MAX_FIELD, false, &L->rec.kind);
}

static ag_code set_workflow(struct loader *L, const struct cell *c)
{
	ag_code rc;
	if (c->null)
		return AG_OK;
	if ((rc = check_text(L, c, "workflow", AG_NHI_MAX_FIELD, false)))
		return rc;
	if (L->p && ag_policy_workflow(L->p, c->s) < 0) {
		struct ag_suggest sg;
		char v[64];
		ag_suggest_init(&sg, c->s);
		for (size_t k = 0; k < L->p->n_workflows; k++)
			ag_suggest_add(&sg, L->p->workflows[k].name);
		rc = at(L, c->line, c->col, AG_ERR_INVALID,
			"unknown workflow '%s'",
			show(c->s, c->len, v, sizeof(v)));
		ag_err_hint(L->err, ag_suggest_best(&sg));
		return rc;
	}
	return set_text(L, c, "workflow", AG_NHI_MAX_FIELD, false,
			&L->rec.workflow);
}

static ag_code set_interactive(struct loader *L, const struct cell *c)
{
	struct ag_nhi *r = &L->rec;
	char v[64];
	if (c->null)
		return AG_OK;
	if (word_is(c, "true") || word_is(c, "false")) {
		r->interactive = word_is(c, "true");
		return AG_OK;
	}
	int64_t t = 0;
	if (strlen(c->s) == c->len && ag_time_parse(c->s, &t) == AG_OK &&
	    t > 0) {
		r->interactive = true;
		r->last_interactive = t;
		return AG_OK;
	}
	return at(L, c->line, c->col, AG_ERR_INVALID,
		  "interactive must be true, false or the date of the last "
		  "interactive use (2024-01-31 or 2024-01-31T10:00:00Z), not "
		  "'%s'",
		  show(c->s, c->len, v, sizeof(v)));
}

/* Sets field f of the record from c, a single value.  For a list field,
 * c is the whole list: a CSV cell, or one YAML value (a list of one). */
static ag_code set_field(struct loader *L, enum field f, const struct cell *c,
			 bool csv)
{
	struct ag_nhi *r = &L->rec;
	bool never = false;
	char v[64];

	if (is_list(f)) {
		if (csv)
			return set_list_cell(L, f, c);
		list_of(r, f)->known = true;
		return c->null ? AG_OK : add_item(L, f, c);
	}
	switch (f) {
	case F_ID:
		if (c->null)
			return at(L, c->line, c->col, AG_ERR_INVALID,
				  "id is empty");
		return set_text(L, c, "id", AG_NHI_MAX_ID, false, &r->id);
	case F_KIND:
		return set_kind(L, c);
	case F_OWNER:
		return set_text(L, c, "owner", AG_NHI_MAX_ID, false, &r->owner);
	case F_OWNER_STATUS:
		if (c->null)
			return AG_OK;
		r->owner_status_given = true;
		return set_word(L, c, "owner_status", owner_status_values,
				AG_ARRAY_SIZE(owner_status_values),
				"active, offboarded or unknown",
				&r->owner_status);
	case F_TEAM:
		return set_text(L, c, "team", AG_NHI_MAX_FIELD, false, &r->team);
	case F_PURPOSE:
		return set_text(L, c, "purpose", AG_NHI_MAX_FIELD, true,
				&r->purpose);
	case F_WORKFLOW:
		return set_workflow(L, c);
	case F_ISSUER:
		return set_text(L, c, "issuer", AG_NHI_MAX_FIELD, false,
				&r->issuer);
	case F_THUMBPRINT:
		if (!c->null && !thumbprint_ok(c))
			return at(L, c->line, c->col, AG_ERR_INVALID,
				  "thumbprint must be the base64url SHA-256 of "
				  "the key (%u characters, as in cnf "
				  "x5t#S256 or jkt), not '%s'",
				  THUMBPRINT_LEN,
				  show(c->s, c->len, v, sizeof(v)));
		return set_text(L, c, "thumbprint", THUMBPRINT_LEN, false,
				&r->thumbprint);
	case F_STATUS:
		if (c->null)
			return AG_OK;
		return set_word(L, c, "status", status_values,
				AG_ARRAY_SIZE(status_values),
				"active, disabled or retired", &r->status);
	case F_CREATED:
		return set_date(L, c, "created", false, &r->created, &never);
	case F_EXPIRES:
		/* never: no expiry, which is what 0 means. */
		return set_date(L, c, "expires", true, &r->expires, &never);
	case F_LAST_ROTATED:
		return set_date(L, c, "last_rotated", false, &r->last_rotated,
				&never);
	case F_LAST_USED: {
		ag_code rc = set_date(L, c, "last_used", true, &r->last_used,
				      &never);
		r->never_used = never;
		return rc;
	}
	case F_INTERACTIVE:
		return set_interactive(L, c);
	default:
		return ag_err(L->err, AG_ERR_INTERNAL, "%s: bad field",
			      L->file);
	}
}

/* Adds the record read, which started at line:col. */
static ag_code finish_record(struct loader *L, unsigned line, unsigned col)
{
	struct ag_nhi *r = &L->rec;
	ag_code rc;

	r->line = line;
	r->col = col;
	r->file = L->file_idx;
	if (!r->id)
		return at(L, line, col, AG_ERR_INVALID,
			  "a machine identity needs an id");
	if (!r->kind)
		return at(L, line, col, AG_ERR_INVALID,
			  "machine identity '%s' needs a kind", r->id);
	if (L->inv->n >= AG_NHI_MAX_RECORDS)
		return at(L, line, col, AG_ERR_LIMIT,
			  "more than %u machine identities",
			  AG_NHI_MAX_RECORDS);
	rc = ag_nhi_add(L->inv, r, L->err);
	scratch_clear(L);
	return rc;
}

/* ---- the generic CSV form ------------------------------------------------ */

static ag_code csv_header(struct loader *L, struct ag_csv *c, int **cols)
{
	struct ag_csv_pos seen[F_COUNT];
	ag_code rc;

	do {
		if ((rc = ag_csv_record(c)))
			return rc;
	} while (c->n && c->blank);
	if (!c->n)
		return at(L, 1, 1, AG_ERR_INVALID,
			  "empty file: no header line (the generic CSV form "
			  "starts with a header naming its columns, such as "
			  "id,kind,owner)");
	if (!(*cols = malloc(c->n * sizeof(**cols))))
		return nomem(L);
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < c->n; i++) {
		const char *name = ag_csv_field(c, i);
		struct cell h = {name, strlen(name), c->pos[i].line,
				 c->pos[i].col, false};
		(*cols)[i] = -1;
		if (!strncmp(name, "x-", 2))
			continue;
		if (!*name)
			return at(L, h.line, h.col, AG_ERR_INVALID,
				  "a column without a name (name every "
				  "column; columns whose name starts with x- "
				  "are ignored)");
		size_t f = 0;
		while (f < F_COUNT && strcmp(field_names[f], name))
			f++;
		if (f == F_COUNT)
			return unknown_word(L, &h, "column", field_names,
					    F_COUNT,
					    "columns whose name starts with "
					    "x- are ignored");
		if (seen[f].line)
			return at(L, h.line, h.col, AG_ERR_INVALID,
				  "duplicate column '%s' (first at %u:%u)",
				  name, seen[f].line, seen[f].col);
		seen[f] = c->pos[i];
		(*cols)[i] = (int)f;
	}
	if (!seen[F_ID].line || !seen[F_KIND].line)
		return at(L, c->rec_line, 1, AG_ERR_INVALID,
			  "missing column '%s' (the generic CSV form needs id "
			  "and kind)",
			  seen[F_ID].line ? "kind" : "id");
	return AG_OK;
}

static ag_code load_csv(struct loader *L, const char *buf, size_t len)
{
	struct ag_csv c;
	int *cols = NULL;
	size_t n_cols;
	ag_code rc;

	ag_csv_init(&c, L->file, buf, len, NHI_CSV_MAX_RECORD,
		    NHI_CSV_MAX_FIELDS, L->err);
	if ((rc = csv_header(L, &c, &cols)))
		goto out;
	n_cols = c.n;
	for (;;) {
		if ((rc = ag_csv_record(&c)))
			goto out;
		if (!c.n)
			break;
		if (c.blank)
			continue;
		if (c.n != n_cols) {
			rc = at(L, c.rec_line, 1, AG_ERR_INVALID,
				"row has %zu fields; the header has %zu", c.n,
				n_cols);
			goto out;
		}
		scratch_clear(L);
		for (size_t i = 0; i < c.n; i++) {
			if (cols[i] < 0)
				continue;
			const char *s = ag_csv_field(&c, i);
			struct cell v = {s, strlen(s), c.pos[i].line,
					 c.pos[i].col, !*s};
			if ((rc = set_field(L, (enum field)cols[i], &v, true)))
				goto out;
		}
		if ((rc = finish_record(L, c.rec_line, 1)))
			goto out;
	}
	rc = AG_OK;
out:
	free(cols);
	ag_csv_release(&c);
	return rc;
}

/* ---- the generic JSON/YAML form ------------------------------------------ */

/*
 * Identities are read event by event, not as node trees: an identity is a
 * mapping of single values and lists of single values, so anything
 * deeper is an error at once and nothing but the record being read is
 * ever held.
 */

static unsigned ev_line(const yaml_event_t *ev)
{
	return (unsigned)ev->start_mark.line + 1;
}

static unsigned ev_col(const yaml_event_t *ev)
{
	return (unsigned)ev->start_mark.column + 1;
}

static const char *ev_what(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_MAPPING_START_EVENT:
		return "a mapping";
	case YAML_SEQUENCE_START_EVENT:
		return "a list";
	default:
		return "a single value";
	}
}

/* The next event; an alias is an error. */
static ag_code ev_next(struct loader *L, struct ag_yreader *r,
		       yaml_event_t *ev)
{
	ag_code rc = ag_yreader_event(r, ev);
	if (rc)
		return rc;
	if (ev->type == YAML_ALIAS_EVENT) {
		rc = at(L, ev_line(ev), ev_col(ev), AG_ERR_INVALID,
			"YAML aliases are not supported");
		yaml_event_delete(ev);
	}
	return rc;
}

/* A scalar event as a cell (borrowing the event's text). */
static ag_code ev_cell(struct loader *L, const yaml_event_t *ev,
		       struct cell *c)
{
	c->s = (const char *)ev->data.scalar.value;
	c->len = ev->data.scalar.length;
	c->line = ev_line(ev);
	c->col = ev_col(ev);
	bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	c->null = c->len == 0 ||
		  (plain && (!strcmp(c->s, "~") || !strcmp(c->s, "null") ||
			     !strcmp(c->s, "Null") || !strcmp(c->s, "NULL")));
	if (c->len > AG_YAML_MAX_SCALAR)
		return at(L, c->line, c->col, AG_ERR_LIMIT,
			  "value too long (%zu bytes, at most %u)", c->len,
			  AG_YAML_MAX_SCALAR);
	if (memchr(c->s, '\0', c->len))
		return at(L, c->line, c->col, AG_ERR_INVALID,
			  "value contains a NUL character");
	return AG_OK;
}

/* Reads the next mapping key of a map into key (at most keylen - 1
 * bytes); *end is set at the mapping's end. */
static ag_code next_key(struct loader *L, struct ag_yreader *r, char *key,
			size_t keylen, struct cell *pos, bool *end)
{
	yaml_event_t ev;
	ag_code rc;

	*end = false;
	if ((rc = ev_next(L, r, &ev)))
		return rc;
	if (ev.type == YAML_MAPPING_END_EVENT) {
		yaml_event_delete(&ev);
		*end = true;
		return AG_OK;
	}
	if (ev.type != YAML_SCALAR_EVENT) {
		rc = at(L, ev_line(&ev), ev_col(&ev), AG_ERR_INVALID,
			"mapping keys must be plain names");
		yaml_event_delete(&ev);
		return rc;
	}
	if ((rc = ev_cell(L, &ev, pos))) {
		yaml_event_delete(&ev);
		return rc;
	}
	size_t n = pos->len < keylen - 1 ? pos->len : keylen - 1;
	memcpy(key, pos->s, n);
	key[n] = '\0';
	pos->s = key;
	pos->len = n;
	yaml_event_delete(&ev);
	return AG_OK;
}

static ag_code unknown_key(struct loader *L, const struct cell *k,
			   const char *where, const char *const *keys)
{
	struct ag_suggest sg;
	char v[64];
	ag_suggest_init(&sg, k->s);
	for (const char *const *p = keys; *p; p++)
		ag_suggest_add(&sg, *p);
	ag_code rc = at(L, k->line, k->col, AG_ERR_INVALID,
			"unknown key '%s' in %s", show(k->s, k->len, v, sizeof(v)),
			where);
	ag_err_hint(L->err, ag_suggest_best(&sg));
	return rc;
}

/* The value of list field f, whose first event is ev (consumed). */
static ag_code yaml_list(struct loader *L, struct ag_yreader *r,
			 enum field f, yaml_event_t *ev)
{
	struct cell c;
	ag_code rc;

	if (ev->type == YAML_SCALAR_EVENT) {
		if (!(rc = ev_cell(L, ev, &c)))
			rc = set_field(L, f, &c, false);
		yaml_event_delete(ev);
		return rc;
	}
	if (ev->type != YAML_SEQUENCE_START_EVENT) {
		rc = at(L, ev_line(ev), ev_col(ev), AG_ERR_INVALID,
			"%s must be a list, not %s", field_names[f],
			ev_what(ev));
		yaml_event_delete(ev);
		return rc;
	}
	yaml_event_delete(ev);
	list_of(&L->rec, f)->known = true;
	for (;;) {
		yaml_event_t it;
		if ((rc = ev_next(L, r, &it)))
			return rc;
		if (it.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&it);
			return AG_OK;
		}
		if (it.type != YAML_SCALAR_EVENT) {
			rc = at(L, ev_line(&it), ev_col(&it), AG_ERR_INVALID,
				"entries of %s must be single values, not %s",
				field_names[f], ev_what(&it));
			yaml_event_delete(&it);
			return rc;
		}
		if (!(rc = ev_cell(L, &it, &c)))
			rc = add_item(L, f, &c);
		yaml_event_delete(&it);
		if (rc)
			return rc;
	}
}

/* One identity, whose first event is first (consumed). */
static ag_code yaml_identity(struct loader *L, struct ag_yreader *r,
			     yaml_event_t *first)
{
	unsigned line = ev_line(first), col = ev_col(first);
	unsigned seen[F_COUNT];
	char key[128];
	ag_code rc;

	if (first->type != YAML_MAPPING_START_EVENT) {
		bool null = first->type == YAML_SCALAR_EVENT &&
			    first->data.scalar.length == 0;
		rc = at(L, line, col, AG_ERR_INVALID,
			"a machine identity must be a mapping with id, kind, "
			"..., not %s",
			null ? "nothing" : ev_what(first));
		yaml_event_delete(first);
		return rc;
	}
	yaml_event_delete(first);
	scratch_clear(L);
	memset(seen, 0, sizeof(seen));
	for (;;) {
		struct cell k, v;
		bool end;
		yaml_event_t ev;
		if ((rc = next_key(L, r, key, sizeof(key), &k, &end)))
			return rc;
		if (end)
			break;
		size_t f = 0;
		while (f < F_COUNT && strcmp(field_names[f], key))
			f++;
		if (f == F_COUNT)
			return unknown_key(L, &k, "a machine identity",
					   field_names);
		if (seen[f])
			return at(L, k.line, k.col, AG_ERR_INVALID,
				  "duplicate key '%s' (first at line %u)", key,
				  seen[f]);
		seen[f] = k.line;
		if ((rc = ev_next(L, r, &ev)))
			return rc;
		if (is_list((enum field)f)) {
			if ((rc = yaml_list(L, r, (enum field)f, &ev)))
				return rc;
			continue;
		}
		if (ev.type != YAML_SCALAR_EVENT) {
			rc = at(L, ev_line(&ev), ev_col(&ev), AG_ERR_INVALID,
				"%s must be a single value, not %s", key,
				ev_what(&ev));
			yaml_event_delete(&ev);
			return rc;
		}
		if (!(rc = ev_cell(L, &ev, &v)))
			rc = set_field(L, (enum field)f, &v, false);
		yaml_event_delete(&ev);
		if (rc)
			return rc;
	}
	return finish_record(L, line, col);
}

/* One owner {id, team, status}, whose first event is first (consumed). */
static ag_code yaml_owner(struct loader *L, struct ag_yreader *r,
			  yaml_event_t *first)
{
	struct ag_nhi_owner o;
	unsigned seen[O_COUNT];
	char key[128];
	ag_code rc = AG_OK;

	memset(&o, 0, sizeof(o));
	o.status = AG_OWNER_ACTIVE;
	o.file = L->file_idx;
	o.line = ev_line(first);
	o.col = ev_col(first);
	if (first->type != YAML_MAPPING_START_EVENT) {
		rc = at(L, o.line, o.col, AG_ERR_INVALID,
			"an owner must be a mapping with id, team and status, "
			"not %s",
			ev_what(first));
		yaml_event_delete(first);
		return rc;
	}
	yaml_event_delete(first);
	memset(seen, 0, sizeof(seen));
	for (;;) {
		struct cell k, v;
		bool end;
		yaml_event_t ev;
		if ((rc = next_key(L, r, key, sizeof(key), &k, &end)))
			goto out;
		if (end)
			break;
		size_t f = 0;
		while (f < O_COUNT && strcmp(owner_keys[f], key))
			f++;
		if (f == O_COUNT) {
			rc = unknown_key(L, &k, "an owner", owner_keys);
			goto out;
		}
		if (seen[f]) {
			rc = at(L, k.line, k.col, AG_ERR_INVALID,
				"duplicate key '%s' (first at line %u)", key,
				seen[f]);
			goto out;
		}
		seen[f] = k.line;
		if ((rc = ev_next(L, r, &ev)))
			goto out;
		if (ev.type != YAML_SCALAR_EVENT) {
			rc = at(L, ev_line(&ev), ev_col(&ev), AG_ERR_INVALID,
				"%s must be a single value, not %s", key,
				ev_what(&ev));
			yaml_event_delete(&ev);
			goto out;
		}
		if (!(rc = ev_cell(L, &ev, &v))) {
			if (f == O_ID && v.null)
				rc = at(L, v.line, v.col, AG_ERR_INVALID,
					"id is empty");
			else if (f == O_ID)
				rc = set_text(L, &v, "id", AG_NHI_MAX_ID, false,
					      &o.id);
			else if (f == O_TEAM)
				rc = set_text(L, &v, "team", AG_NHI_MAX_FIELD,
					      false, &o.team);
			else if (!v.null)
				rc = set_word(L, &v, "owner status",
					      owner_status_values + 1, 2,
					      "active or offboarded",
					      &o.status);
			if (f == O_STATUS && !rc && !v.null)
				o.status++; /* past "unknown" */
		}
		yaml_event_delete(&ev);
		if (rc)
			goto out;
	}
	if (!o.id) {
		rc = at(L, o.line, o.col, AG_ERR_INVALID,
			"an owner needs an id");
		goto out;
	}
	if (L->inv->n_owners >= AG_NHI_MAX_RECORDS) {
		rc = at(L, o.line, o.col, AG_ERR_LIMIT, "more than %u owners",
			AG_NHI_MAX_RECORDS);
		goto out;
	}
	rc = ag_nhi_add_owner(L->inv, &o, L->err);
out:
	free(o.id);
	free(o.team);
	return rc;
}

/* A list of identities or owners: its first event is first (consumed). */
static ag_code yaml_items(struct loader *L, struct ag_yreader *r,
			  yaml_event_t *first, bool owners)
{
	const char *what = owners ? "owners" : "identities";
	ag_code rc;

	if (first->type == YAML_SCALAR_EVENT && first->data.scalar.length == 0 &&
	    first->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		yaml_event_delete(first); /* "identities:" and nothing */
		return AG_OK;
	}
	if (first->type != YAML_SEQUENCE_START_EVENT) {
		rc = at(L, ev_line(first), ev_col(first), AG_ERR_INVALID,
			"%s must be a list, not %s", what, ev_what(first));
		yaml_event_delete(first);
		return rc;
	}
	yaml_event_delete(first);
	for (;;) {
		yaml_event_t ev;
		if ((rc = ev_next(L, r, &ev)))
			return rc;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return AG_OK;
		}
		rc = owners ? yaml_owner(L, r, &ev) : yaml_identity(L, r, &ev);
		if (rc)
			return rc;
	}
}

static ag_code load_yaml(struct loader *L, const char *buf, size_t len)
{
	struct ag_yreader r;
	yaml_event_t ev;
	unsigned seen[2] = {0, 0};
	char key[128];
	ag_code rc;

	if ((rc = ag_yreader_init(&r, L->file, buf, len, L->err)))
		return rc;
	if ((rc = ag_yreader_begin(&r, &ev)))
		goto out;
	if (ev.type == YAML_SEQUENCE_START_EVENT) {
		rc = yaml_items(L, &r, &ev, false);
	} else if (ev.type == YAML_MAPPING_START_EVENT) {
		yaml_event_delete(&ev);
		for (;;) {
			struct cell k;
			bool end;
			if ((rc = next_key(L, &r, key, sizeof(key), &k, &end)) ||
			    end)
				break;
			int which = !strcmp(key, "identities") ? 0
				    : !strcmp(key, "owners")   ? 1
							       : -1;
			if (which < 0) {
				rc = unknown_key(L, &k, "the inventory",
						 top_keys);
				break;
			}
			if (seen[which]) {
				rc = at(L, k.line, k.col, AG_ERR_INVALID,
					"duplicate key '%s' (first at line %u)",
					key, seen[which]);
				break;
			}
			seen[which] = k.line;
			if ((rc = ev_next(L, &r, &ev)) ||
			    (rc = yaml_items(L, &r, &ev, which == 1)))
				break;
		}
	} else {
		bool null = ev.type == YAML_SCALAR_EVENT &&
			    ev.data.scalar.length == 0;
		rc = at(L, ev_line(&ev), ev_col(&ev), AG_ERR_INVALID,
			"%s; expected a list of machine identities, or a "
			"mapping with 'identities:' and 'owners:'",
			null ? "empty inventory" : "not an inventory");
		yaml_event_delete(&ev);
	}
	if (!rc)
		rc = ag_yreader_end(&r);
out:
	ag_yreader_release(&r);
	return rc;
}

/* ---- recognising an input ------------------------------------------------ */

enum guess { G_GENERIC, G_ESTATE, G_KEYCLOAK, G_UNKNOWN, G_BROKEN };

/* Is the first record a header with an id or kind column? */
static bool looks_like_csv(const char *buf, size_t len)
{
	struct ag_csv c;
	struct ag_error err;
	bool yes = false;

	ag_error_init(&err);
	/* One record, read with a small cap: a header is short. */
	ag_csv_init(&c, "", buf, len, 64u * 1024u, NHI_CSV_MAX_FIELDS, &err);
	do {
		if (ag_csv_record(&c)) {
			c.n = 0;
			break;
		}
	} while (c.n && c.blank);
	for (size_t i = 0; c.n >= 2 && i < c.n; i++)
		if (!strcmp(ag_csv_field(&c, i), "id") ||
		    !strcmp(ag_csv_field(&c, i), "kind"))
			yes = true;
	ag_csv_release(&c);
	return yes;
}

struct peek {
	struct ag_yreader r;
	struct ag_error err;
	size_t events;
	unsigned line, col; /* of the first top-level key or of the node */
	char first_key[64];
};

static bool peek_next(struct peek *k, yaml_event_t *ev)
{
	if (++k->events > PEEK_MAX_EVENTS)
		return false;
	return ag_yreader_event(&k->r, ev) == AG_OK;
}

/* Skips the value that starts with ev (consumed). */
static bool peek_skip(struct peek *k, yaml_event_t *ev)
{
	unsigned depth = 0;
	for (;;) {
		yaml_event_type_t t = ev->type;
		yaml_event_delete(ev);
		if (t == YAML_MAPPING_START_EVENT ||
		    t == YAML_SEQUENCE_START_EVENT) {
			if (++depth > AG_YAML_MAX_DEPTH)
				return false;
		} else if (t == YAML_MAPPING_END_EVENT ||
			   t == YAML_SEQUENCE_END_EVENT) {
			depth--;
		}
		if (depth == 0)
			return true;
		if (!peek_next(k, ev))
			return false;
	}
}

/* Scans the keys of a mapping (after its start) for the first that names
 * a form; top: keys of the document's mapping. */
static enum guess peek_keys(struct peek *k, bool top)
{
	yaml_event_t ev;
	for (;;) {
		if (!peek_next(k, &ev))
			return G_BROKEN;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return top ? G_UNKNOWN : G_GENERIC;
		}
		if (ev.type != YAML_SCALAR_EVENT) {
			yaml_event_delete(&ev);
			return top ? G_UNKNOWN : G_GENERIC;
		}
		const char *key = (const char *)ev.data.scalar.value;
		enum guess g = G_UNKNOWN;
		if (!strcmp(key, "realm"))
			g = G_KEYCLOAK;
		else if (top && (!strcmp(key, "identities") ||
				 !strcmp(key, "owners")))
			g = G_GENERIC;
		else if (top && (!strcmp(key, "accounts") ||
				 !strcmp(key, "paths")))
			g = G_ESTATE;
		if (top && !k->first_key[0] && ev.data.scalar.length) {
			ag_strlcpy(k->first_key, key, sizeof(k->first_key));
			k->line = ev_line(&ev);
			k->col = ev_col(&ev);
		}
		yaml_event_delete(&ev);
		if (g != G_UNKNOWN)
			return g;
		if (!peek_next(k, &ev) || !peek_skip(k, &ev))
			return G_BROKEN;
	}
}

static enum guess peek_yaml(const char *buf, size_t len, struct peek *k)
{
	yaml_event_t ev;
	enum guess g = G_BROKEN;

	memset(k, 0, sizeof(*k));
	ag_error_init(&k->err);
	if (ag_yreader_init(&k->r, "", buf, len, &k->err))
		return G_BROKEN;
	if (ag_yreader_begin(&k->r, &ev))
		goto out;
	k->line = ev_line(&ev);
	k->col = ev_col(&ev);
	if (ev.type == YAML_MAPPING_START_EVENT) {
		yaml_event_delete(&ev);
		g = peek_keys(k, true);
	} else if (ev.type == YAML_SEQUENCE_START_EVENT) {
		yaml_event_delete(&ev);
		if (!peek_next(k, &ev))
			goto out;
		bool map = ev.type == YAML_MAPPING_START_EVENT;
		yaml_event_delete(&ev);
		g = map ? peek_keys(k, false) : G_GENERIC;
	} else {
		yaml_event_delete(&ev);
		g = G_UNKNOWN;
	}
out:
	ag_yreader_release(&k->r);
	return g;
}

static ag_code unrecognised(struct loader *L, const struct peek *k)
{
	ag_code rc = at(L, k->line ? k->line : 1, k->col ? k->col : 1,
			AG_ERR_INVALID,
			"not a machine-identity inventory; accepted: the "
			"generic CSV form (a header with id and kind columns), "
			"the generic JSON/YAML form (a list of identities, or "
			"'identities:' and 'owners:'), an estate file "
			"('accounts:' and 'paths:'), an AWS IAM credential "
			"report or a Keycloak realm export");
	if (k->first_key[0]) {
		static const char *const forms[] = {"identities", "owners",
						    "accounts", "paths", NULL};
		struct ag_suggest sg;
		ag_suggest_init(&sg, k->first_key);
		for (const char *const *f = forms; *f; f++)
			ag_suggest_add(&sg, *f);
		ag_err_hint(L->err, ag_suggest_best(&sg));
	}
	return rc;
}

/* ---- entry points -------------------------------------------------------- */

static ag_code load_estate(struct loader *L, enum ag_nhi_format fmt,
			   const char *buf, size_t len)
{
	struct ag_estate *e = NULL;
	ag_code rc;

	if (!L->p)
		return ag_err(L->err, AG_ERR_USAGE,
			      "%s: a policy is needed to read it", L->file);
	if ((rc = ag_estate_new(L->p, &e)))
		return nomem(L);
	switch (fmt) {
	case AG_NHI_AWS:
		rc = ag_import_aws_report_buffer(e, L->file, buf, len, NULL,
						 L->err);
		break;
	case AG_NHI_KEYCLOAK:
		rc = ag_import_keycloak_buffer(e, L->file, buf, len, NULL,
					       L->err);
		break;
	default:
		rc = ag_estate_load_buffer(e, L->file, buf, len, L->err);
		break;
	}
	if (!rc)
		rc = ag_estate_resolve(e, L->err);
	if (!rc)
		rc = ag_nhi_from_estate(L->inv, e, L->err);
	ag_estate_free(e);
	return rc;
}

ag_code ag_nhi_load_buffer(struct ag_nhi_inventory *inv,
			   const struct ag_policy *p, const char *name,
			   const char *buf, size_t len, enum ag_nhi_format fmt,
			   struct ag_error *err)
{
	struct loader L;
	ag_code rc;

	if (!inv || !inv->impl || !name || (!buf && len) ||
	    (unsigned)fmt > AG_NHI_ESTATE)
		return ag_err(err, AG_ERR_USAGE, "bad arguments");
	if (len > AG_NHI_MAX_BYTES)
		return ag_err(err, AG_ERR_LIMIT,
			      "%s: larger than %u bytes", name,
			      AG_NHI_MAX_BYTES);
	if (!buf)
		buf = "";
	memset(&L, 0, sizeof(L));
	L.inv = inv;
	L.p = p;
	L.file = name;
	L.err = err;

	if (fmt == AG_NHI_AUTO) {
		struct peek k;
		enum ag_input_kind sniff = ag_input_sniff(buf, len);
		if (sniff == AG_INPUT_AWS_REPORT)
			fmt = AG_NHI_AWS;
		else if (looks_like_csv(buf, len))
			fmt = AG_NHI_CSV;
		else {
			switch (peek_yaml(buf, len, &k)) {
			case G_GENERIC:
				fmt = AG_NHI_JSON;
				break;
			case G_ESTATE:
				fmt = AG_NHI_ESTATE;
				break;
			case G_KEYCLOAK:
				fmt = AG_NHI_KEYCLOAK;
				break;
			case G_BROKEN:
				fmt = sniff == AG_INPUT_KEYCLOAK
					      ? AG_NHI_KEYCLOAK
					      : AG_NHI_JSON;
				break;
			default:
				return unrecognised(&L, &k);
			}
		}
	}
	if (fmt == AG_NHI_AWS || fmt == AG_NHI_KEYCLOAK ||
	    fmt == AG_NHI_ESTATE)
		return load_estate(&L, fmt, buf, len);

	if ((rc = ag_nhi_add_file(inv, name, &L.file_idx, err)))
		return rc;
	scratch_clear(&L);
	rc = fmt == AG_NHI_CSV ? load_csv(&L, buf, len)
			       : load_yaml(&L, buf, len);
	scratch_release(&L);
	return rc;
}

ag_code ag_nhi_load(struct ag_nhi_inventory *inv, const struct ag_policy *p,
		    const char *path, enum ag_nhi_format fmt,
		    struct ag_error *err)
{
	char *buf = NULL;
	size_t len = 0;

	if (!path)
		return ag_err(err, AG_ERR_USAGE, "bad arguments");
	ag_code rc = ag_read_file(path, AG_NHI_MAX_BYTES, &buf, &len, err);
	if (rc)
		return rc;
	rc = ag_nhi_load_buffer(inv, p, path, buf, len, fmt, err);
	free(buf);
	return rc;
}
