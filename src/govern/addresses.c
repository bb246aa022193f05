/*
 * A file of notification addresses of record (aalgate enroll address
 * --import): CSV with the columns account, channel and address, named by
 * a header in any order.  Every row is checked before anything is
 * written, so a bad file changes nothing; see aalgate/govern.h.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aalgate/govern.h"
#include "core/csv.h"
#include "govern/store-int.h"
#include "util.h"
#include "banned.h"

enum { COL_ACCOUNT, COL_CHANNEL, COL_ADDRESS, COL_COUNT };

static const char *const col_names[COL_COUNT] = {"account", "channel",
						  "address"};

/* The longest record: three fields at their longest, quoted. */
#define RECORD_MAX (2u * (AG_STORE_ACCOUNT_MAX + AG_RECOVERY_ADDRESS_MAX) + 256u)

void ag_address_file_release(struct ag_address_file *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].account);
		free((char *)f->v[i].a.address);
	}
	free(f->v);
	memset(f, 0, sizeof(*f));
}

static ag_code at(struct ag_error *err, const char *name,
		  const struct ag_csv_pos *p, ag_code code, const char *fmt,
		  ...) AG_PRINTF(5, 6);

static ag_code at(struct ag_error *err, const char *name,
		  const struct ag_csv_pos *p, ag_code code, const char *fmt,
		  ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ag_err(err, code, "%s:%u:%u: %s", name, p->line, p->col, msg);
}

/* The header: which field holds which column. */
static ag_code header(struct ag_csv *c, const char *name, size_t *col,
		      struct ag_error *err)
{
	for (size_t k = 0; k < COL_COUNT; k++)
		col[k] = SIZE_MAX;
	for (size_t i = 0; i < c->n; i++) {
		const char *h = ag_csv_field(c, i);
		size_t k = 0;
		while (k < COL_COUNT && strcmp(h, col_names[k]))
			k++;
		if (k == COL_COUNT) {
			struct ag_suggest sg;
			ag_suggest_init(&sg, h);
			for (size_t j = 0; j < COL_COUNT; j++)
				ag_suggest_add(&sg, col_names[j]);
			const char *best = ag_suggest_best(&sg);
			char safe[80];
			ag_safe_text(safe, sizeof(safe), h);
			return at(err, name, &c->pos[i], AG_ERR_INVALID,
				  "unknown column '%s' (account, channel, "
				  "address)%s%s%s",
				  safe, best ? "; did you mean '" : "",
				  best ? best : "", best ? "'?" : "");
		}
		if (col[k] != SIZE_MAX)
			return at(err, name, &c->pos[i], AG_ERR_INVALID,
				  "column '%s' named twice", col_names[k]);
		col[k] = i;
	}
	for (size_t k = 0; k < COL_COUNT; k++)
		if (col[k] == SIZE_MAX)
			return ag_err(err, AG_ERR_INVALID,
				      "%s:%u:1: the header lacks the column "
				      "'%s' (it names account, channel and "
				      "address)",
				      name, c->rec_line, col_names[k]);
	return AG_OK;
}

static ag_code row(struct ag_csv *c, const char *name, const size_t *col,
		   struct ag_address_file *out, struct ag_error *err)
{
	struct ag_error e2;
	ag_code rc;

	if (c->n != COL_COUNT)
		return ag_err(err, AG_ERR_INVALID,
			      "%s:%u:1: %zu fields, expected %d (account, "
			      "channel, address)",
			      name, c->rec_line, c->n, COL_COUNT);
	if (out->n >= AG_ADDRESS_FILE_ROWS)
		return ag_err(err, AG_ERR_LIMIT,
			      "%s:%u:1: more than %u addresses", name,
			      c->rec_line, AG_ADDRESS_FILE_ROWS);
	const char *acct = ag_csv_field(c, col[COL_ACCOUNT]);
	const char *ch = ag_csv_field(c, col[COL_CHANNEL]);
	const char *addr = ag_csv_field(c, col[COL_ADDRESS]);
	ag_error_init(&e2);
	if ((rc = ag_store_check_name("account", acct, 1, AG_STORE_ACCOUNT_MAX,
				      &e2)))
		return at(err, name, &c->pos[col[COL_ACCOUNT]], rc, "%s",
			  e2.msg);
	const char *best;
	enum ag_recovery_channel k = ag_recovery_channel_of(ch, &best);
	if (k == AG_CHANNEL_NONE) {
		char safe[80];
		ag_safe_text(safe, sizeof(safe), ch);
		return at(err, name, &c->pos[col[COL_CHANNEL]], AG_ERR_INVALID,
			  "unknown channel '%s' (email, sms, voice, postal "
			  "or postal_outside_contiguous_us)%s%s%s",
			  safe, best ? "; did you mean '" : "", best ? best : "",
			  best ? "'?" : "");
	}
	ag_error_init(&e2);
	if ((rc = ag_store_check_name("address", addr, 1,
				      AG_RECOVERY_ADDRESS_MAX, &e2)))
		return at(err, name, &c->pos[col[COL_ADDRESS]], rc, "%s",
			  e2.msg);
	if (AG_GROW(out->v, out->alloc, out->n + 1))
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	struct ag_address_row *r = &out->v[out->n];
	memset(r, 0, sizeof(*r));
	r->a.channel = k;
	r->line = c->pos[col[COL_ACCOUNT]].line;
	r->col = c->pos[col[COL_ACCOUNT]].col;
	if (!(r->account = ag_strdup(acct)) ||
	    !(r->a.address = ag_strdup(addr))) {
		free(r->account);
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	}
	out->n++;
	return AG_OK;
}

static int by_account(const void *a, const void *b)
{
	const struct ag_address_row *x = a, *y = b;
	int c = strcmp(x->account, y->account);
	if (c)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* Rows of one account a file may hold: repeats are allowed, within
 * reason (and the check below stays quadratic in a small number). */
#define ROWS_PER_ACCOUNT (4 * AG_RECOVERY_NOTIFY_MAX)

/* Rows sorted by account: at most AG_RECOVERY_NOTIFY_MAX distinct
 * addresses each (a row repeated is one). */
static ag_code per_account(const char *name, struct ag_address_file *f,
			   struct ag_error *err)
{
	for (size_t i = 0; i < f->n;) {
		size_t j = i, distinct = 0;
		while (j < f->n && !strcmp(f->v[j].account, f->v[i].account)) {
			bool seen = false;
			if (j - i >= ROWS_PER_ACCOUNT)
				return ag_err(err, AG_ERR_LIMIT,
					      "%s:%u:%u: '%.64s' has more than "
					      "%d rows",
					      name, f->v[j].line, f->v[j].col,
					      f->v[j].account, ROWS_PER_ACCOUNT);
			for (size_t k = i; k < j && !seen; k++)
				seen = f->v[k].a.channel == f->v[j].a.channel &&
				       !strcmp(f->v[k].a.address,
					       f->v[j].a.address);
			if (!seen && ++distinct > AG_RECOVERY_NOTIFY_MAX)
				return ag_err(err, AG_ERR_LIMIT,
					      "%s:%u:%u: '%.64s' has more than "
					      "%d addresses",
					      name, f->v[j].line, f->v[j].col,
					      f->v[j].account,
					      AG_RECOVERY_NOTIFY_MAX);
			j++;
		}
		i = j;
	}
	return AG_OK;
}

ag_code ag_address_file_parse(const char *name, const char *buf, size_t len,
			      struct ag_address_file *out,
			      struct ag_error *err)
{
	size_t col[COL_COUNT];
	struct ag_csv c;
	bool have_header = false;
	ag_code rc;

	memset(out, 0, sizeof(*out));
	if (!name)
		name = "addresses";
	if (!buf || len > AG_ADDRESS_FILE_MAX)
		return ag_err(err, AG_ERR_LIMIT, "%s: larger than %u bytes",
			      name, AG_ADDRESS_FILE_MAX);
	ag_csv_init(&c, name, buf, len, RECORD_MAX, 16, err);
	for (;;) {
		if ((rc = ag_csv_record(&c)))
			goto out;
		if (c.n == 0)
			break;
		if (c.blank)
			continue;
		if (!have_header) {
			if ((rc = header(&c, name, col, err)))
				goto out;
			have_header = true;
			continue;
		}
		if ((rc = row(&c, name, col, out, err)))
			goto out;
	}
	if (!have_header) {
		rc = ag_err(err, AG_ERR_INVALID,
			    "%s: empty: expected a header naming account, "
			    "channel and address",
			    name);
		goto out;
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), by_account);
	rc = per_account(name, out, err);
out:
	ag_csv_release(&c);
	if (rc != AG_OK)
		ag_address_file_release(out);
	return rc;
}
