#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "banned.h"

void ag_csv_init(struct ag_csv *c, const char *file, const char *buf,
		 size_t len, size_t max_record, size_t max_fields,
		 struct ag_error *err)
{
	memset(c, 0, sizeof(*c));
	c->file = file;
	c->p = buf;
	c->end = buf + len;
	c->line = 1;
	c->col = 1;
	c->max_record = max_record;
	c->max_fields = max_fields;
	c->err = err;
	ag_buf_init(&c->text, max_record);
	if (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3))
		c->p += 3; /* a UTF-8 byte order mark (Excel writes one) */
}

void ag_csv_release(struct ag_csv *c)
{
	ag_buf_release(&c->text);
	free(c->off);
	free(c->pos);
	c->off = NULL;
	c->pos = NULL;
	c->n = c->alloc = 0;
}

static void csv_step(struct ag_csv *c)
{
	/* A UTF-8 continuation byte does not start a character. */
	if (((unsigned char)*c->p & 0xC0) != 0x80)
		c->col++;
	c->p++;
}

static void csv_newline(struct ag_csv *c, size_t bytes)
{
	c->p += bytes;
	c->line++;
	c->col = 1;
}

static ag_code csv_add(struct ag_csv *c, char ch)
{
	ag_code rc = ag_buf_addc(&c->text, ch);
	if (rc == AG_ERR_LIMIT)
		return ag_err_at(c->err, AG_ERR_LIMIT, c->file, c->rec_line, 1,
				 "record longer than %zu bytes", c->max_record);
	if (rc)
		return ag_err(c->err, rc, "%s: out of memory", c->file);
	return AG_OK;
}

static ag_code csv_begin_field(struct ag_csv *c)
{
	if (c->n >= c->max_fields)
		return ag_err_at(c->err, AG_ERR_LIMIT, c->file, c->line, c->col,
				 "more than %zu fields in a record",
				 c->max_fields);
	if (c->n >= c->alloc) {
		size_t a = c->alloc;
		if (AG_GROW(c->off, a, c->n + 1))
			goto nomem;
		a = c->alloc;
		if (AG_GROW(c->pos, a, c->n + 1))
			goto nomem;
		c->alloc = a;
	}
	c->off[c->n] = c->text.len;
	c->pos[c->n].line = c->line;
	c->pos[c->n].col = c->col;
	c->n++;
	return AG_OK;
nomem:
	return ag_err(c->err, AG_ERR_NOMEM, "%s: out of memory", c->file);
}

ag_code ag_csv_record(struct ag_csv *c)
{
	ag_code rc;

	c->n = 0;
	c->text.len = 0;
	c->text.failed = false;
	c->rec_line = c->line;
	c->blank = false;
	if (c->p == c->end)
		return AG_OK;
	const char *start = c->p;
	for (;;) {
		if ((rc = csv_begin_field(c)))
			return rc;
		if (c->p < c->end && *c->p == '"') {
			unsigned qline = c->line, qcol = c->col;
			csv_step(c);
			for (;;) {
				if (c->p == c->end)
					return ag_err_at(c->err, AG_ERR_SYNTAX,
							 c->file, qline, qcol,
							 "unterminated quoted "
							 "field");
				char ch = *c->p;
				if (ch == '"') {
					if (c->p + 1 < c->end &&
					    c->p[1] == '"') {
						csv_step(c);
						csv_step(c);
						if ((rc = csv_add(c, '"')))
							return rc;
						continue;
					}
					csv_step(c);
					break;
				}
				if (ch == '\0')
					return ag_err_at(c->err, AG_ERR_SYNTAX,
							 c->file, c->line,
							 c->col, "NUL byte");
				if ((rc = csv_add(c, ch)))
					return rc;
				if (ch == '\n')
					csv_newline(c, 1);
				else
					csv_step(c);
			}
			if (c->p < c->end && *c->p != ',' && *c->p != '\n' &&
			    *c->p != '\r')
				return ag_err_at(c->err, AG_ERR_SYNTAX, c->file,
						 c->line, c->col,
						 "unexpected character after "
						 "a closing quote (a quote "
						 "inside a quoted field is "
						 "written \"\")");
		} else {
			while (c->p < c->end && *c->p != ',' &&
			       *c->p != '\n' && *c->p != '\r') {
				if (*c->p == '"')
					return ag_err_at(
						c->err, AG_ERR_SYNTAX, c->file,
						c->line, c->col,
						"a quote inside an unquoted "
						"field (quote the field and "
						"write the quote as \"\")");
				if (*c->p == '\0')
					return ag_err_at(c->err, AG_ERR_SYNTAX,
							 c->file, c->line,
							 c->col, "NUL byte");
				if ((rc = csv_add(c, *c->p)))
					return rc;
				csv_step(c);
			}
		}
		if ((rc = csv_add(c, '\0')))
			return rc;
		if (c->p == c->end)
			return AG_OK;
		if (*c->p == ',') {
			csv_step(c);
			continue;
		}
		c->blank = c->n == 1 && c->p == start;
		if (*c->p == '\r') {
			if (c->p + 1 < c->end && c->p[1] == '\n') {
				csv_newline(c, 2);
				return AG_OK;
			}
			return ag_err_at(c->err, AG_ERR_SYNTAX, c->file,
					 c->line, c->col,
					 "carriage return without a line "
					 "feed (lines end in CRLF or LF)");
		}
		csv_newline(c, 1); /* '\n' */
		return AG_OK;
	}
}

const char *ag_csv_field(const struct ag_csv *c, size_t i)
{
	return c->text.data + c->off[i];
}
