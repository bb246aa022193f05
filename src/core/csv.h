/*
 * A small RFC 4180 reader, shared by the CSV inputs (the AWS credential
 * report, the generic machine-identity inventory): quoted fields with
 * doubled quotes, line breaks inside quotes, CRLF or LF line ends, and an
 * optional UTF-8 byte order mark, which ag_csv_init skips.  Every field
 * keeps the line and column (in characters) where it starts, so that a
 * caller's message can name file:line:column.
 */
#ifndef AG_CSV_H
#define AG_CSV_H

#include "util.h"

/* Where a field starts; col counts characters, not bytes. */
struct ag_csv_pos {
	unsigned line, col;
};

struct ag_csv {
	const char *file;
	const char *p, *end;
	unsigned line, col;     /* of p */
	struct ag_buf text;     /* the record's fields, each NUL-terminated */
	size_t *off;            /* where each field starts in text */
	struct ag_csv_pos *pos; /* where each field starts in the file */
	size_t n, alloc;        /* fields in the record */
	unsigned rec_line;      /* where the record starts */
	bool blank;             /* the record was an empty line */
	size_t max_record;      /* bytes of field text in one record */
	size_t max_fields;      /* fields in one record */
	struct ag_error *err;
};

/* Starts reading buf (len bytes, named file in messages), which must
 * outlive the reader.  A record holds at most max_record bytes of field
 * text and max_fields fields; beyond either is an error at the record. */
void ag_csv_init(struct ag_csv *c, const char *file, const char *buf,
		 size_t len, size_t max_record, size_t max_fields,
		 struct ag_error *err);
void ag_csv_release(struct ag_csv *c);

/*
 * Reads the next record into c's fields.  At the end of the input it
 * returns AG_OK with no fields (c->n == 0).  An empty line is a record of
 * one empty field with c->blank set.  A NUL byte, an unterminated quote,
 * a quote inside an unquoted field, text after a closing quote and a bare
 * carriage return are errors at their position.
 */
ag_code ag_csv_record(struct ag_csv *c);

/* Field i of the current record, NUL-terminated. */
const char *ag_csv_field(const struct ag_csv *c, size_t i);

#endif
