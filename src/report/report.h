/*
 * Audit reports: text for people, JSON and SARIF for machines.  Reports
 * only format what the audit computed; they hold no assurance logic.
 */
#ifndef AG_REPORT_H
#define AG_REPORT_H

#include <stdio.h>

#include "audit/estate.h"

/* A streaming JSON writer: output is produced as it is written, so a
 * report of a million accounts needs no tree in memory.  Levels up to
 * fold are laid out one member per line; deeper values are written on
 * their member's line, so each account or finding of a report is one
 * line.  Output is buffered here and written in large blocks. */
struct ag_jsonw {
	FILE *f;
	unsigned depth;
	unsigned fold;
	bool first[64];
	bool after_key;
	size_t len;
	char buf[64 * 1024];
};

/* fold: the deepest level laid out one member per line (0: all on one
 * line; a large value: fully indented). */
void ag_jw_init(struct ag_jsonw *w, FILE *f, unsigned fold);
void ag_jw_obj(struct ag_jsonw *w);
void ag_jw_obj_end(struct ag_jsonw *w);
void ag_jw_arr(struct ag_jsonw *w);
void ag_jw_arr_end(struct ag_jsonw *w);
void ag_jw_key(struct ag_jsonw *w, const char *k);
void ag_jw_str(struct ag_jsonw *w, const char *s);
void ag_jw_strn(struct ag_jsonw *w, const char *s, size_t n);
void ag_jw_int(struct ag_jsonw *w, long long v);
void ag_jw_bool(struct ag_jsonw *w, bool v);
void ag_jw_null(struct ag_jsonw *w);
/* A number with a fixed number of decimals (0..9), as "%.*f" writes
 * it; a value that is not finite is written as null. */
void ag_jw_fixed(struct ag_jsonw *w, double v, int decimals);
/* Ends the document with a newline and writes out the buffer. */
void ag_jw_end(struct ag_jsonw *w);

/* SARIF's result level for a severity: error (high, critical), warning
 * (medium) or note. */
const char *ag_sarif_level(enum ag_severity s);

/* Shared wording. */
void ag_report_message(const struct ag_estate *e, const struct ag_audit *A,
		       const struct ag_finding *f, struct ag_buf *b);
void ag_report_finding_id(const struct ag_estate *e,
			  const struct ag_finding *f, struct ag_buf *b);
/* "alice --sspr(email_link)--> mail:alice@example.net --mail-login(password)" */
void ag_report_chain_text(const struct ag_estate *e, const struct ag_audit *A,
			  const struct ag_witness_step *steps, size_t n,
			  struct ag_buf *b);
void ag_report_methods(const struct ag_estate *e, const struct ag_path *p,
		       const char *sep, struct ag_buf *b);
/* The chain behind a finding: its account's witness, or for a path
 * finding, that path and then whatever it rests on. */
size_t ag_report_finding_chain(const struct ag_estate *e,
			       const struct ag_audit *A,
			       const struct ag_finding *f,
			       struct ag_witness_step *steps, size_t max);
/* Where a finding points: file index and position; false when nowhere. */
bool ag_report_location(const struct ag_estate *e, const struct ag_finding *f,
			uint32_t *file, unsigned *line, unsigned *col);

/* AG-P03..AG-P06 are reported once per path: true for such a finding. */
bool ag_report_per_path(const struct ag_finding *f);
/* The accounts a per-path finding affects: at most max, in path order. */
size_t ag_report_affected(const struct ag_estate *e, const struct ag_audit *A,
			  const struct ag_finding *f, uint32_t *out, size_t max);
/* Does finding f concern account a (its own, or a path reaching it)? */
bool ag_report_concerns(const struct ag_estate *e, const struct ag_audit *A,
			const struct ag_finding *f, uint32_t a);

void ag_report_witness_json(struct ag_jsonw *w, const struct ag_estate *e,
			    const struct ag_audit *A,
			    const struct ag_witness_step *steps, size_t n);
void ag_report_account_json(struct ag_jsonw *w, const struct ag_estate *e,
			    const struct ag_audit *A, uint32_t a);
void ag_report_finding_json(struct ag_jsonw *w, const struct ag_estate *e,
			    const struct ag_audit *A,
			    const struct ag_finding *f);

#define AG_CHAIN_MAX 32

/* The reports.  Each returns AG_ERR_IO when writing failed. */
ag_code ag_report_text(FILE *f, const struct ag_estate *e,
		       const struct ag_audit *A);
ag_code ag_report_json(FILE *f, const struct ag_estate *e,
		       const struct ag_audit *A, const char *policy_file);
ag_code ag_report_sarif(FILE *f, const struct ag_estate *e,
			const struct ag_audit *A);
ag_code ag_report_explain_text(FILE *f, const struct ag_estate *e,
			       const struct ag_audit *A, uint32_t account);
ag_code ag_report_explain_json(FILE *f, const struct ag_estate *e,
			       const struct ag_audit *A, uint32_t account);

#endif
