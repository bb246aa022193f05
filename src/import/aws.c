/*
 * The AWS IAM credential report importer (docs/nhi.md, docs/importers.md):
 * reads the CSV report that IAM's GetCredentialReport returns and adds, for
 * each row, an account and the access paths its credentials open.
 *
 * Mapping (see docs/importers.md):
 *  - every row is a human account "aws:ACCOUNT:USER", where ACCOUNT is
 *    the 12-digit account id taken from the row's ARN and USER the report's
 *    user column.  The account id keeps reports of several AWS accounts
 *    apart in one estate.  The root user keeps the report's own name,
 *    "aws:ACCOUNT:<root_account>": IAM user names cannot contain '<', so it
 *    cannot collide with a user called "root".  Every account is in group
 *    "aws-users"; IAM users are held to workflow "staff", the root user to
 *    "admin".
 *  - the root user's password can always be reset by e-mail: a recovery
 *    path "ID/password-reset": [email_link], resting on a mailbox the
 *    report does not name (AG-P13).
 *  - a console password is a login path "ID/console": [password], or
 *    [password, totp] when mfa_active is true.  The report says that an
 *    MFA device exists, not which kind, so it is taken as the weakest kind
 *    AWS offers (a TOTP app or token: AAL2, not phishing resistant).  A
 *    user with a FIDO security key is credited too little, never too much.
 *  - each active access key N is an api path "ID/access-key-N" with
 *    [api_key]; each active X.509 signing certificate N an api path
 *    "ID/cert-N" with [software_key].  Inactive ones open nothing.  None is
 *    marked monitored: the report does not say whether CloudTrail watches
 *    the account.
 *
 * The report's placeholders, as AWS documents them:
 *  - "N/A" in access_key_N_last_rotated and cert_N_last_rotated: there is
 *    no such key or certificate.  An active one with N/A (AWS does not
 *    produce this) is taken to be as old as its user, which it cannot
 *    exceed: its age is then never understated.
 *  - "N/A" in access_key_N_last_used_date: the key was never used, or not
 *    since IAM began tracking use on 2015-04-22.  Either way no use is
 *    recorded, so last_used stays 0 and the audit counts staleness from
 *    the key's creation (AG-N02).
 *  - "not_supported" in password_enabled: older reports say this of the
 *    root user only.  The root user of an account always signs in with its
 *    e-mail address and password, so it is taken as a password.  (Newer
 *    reports say TRUE or FALSE; FALSE is a member account of an
 *    organisation whose root credentials were removed.)  Elsewhere it is
 *    an error.
 *  - "no_information" (a password never used, or not since 2014-10-20)
 *    appears only in password_last_used, which is not read, nor are the
 *    other password dates: a console password's age is no finding
 *    (SP 800-63B-4 §3.1.1.2 forbids periodic password changes), and
 *    staleness (AG-N02) is about machine credentials, not people's
 *    sign-ins.  So console paths carry no dates.
 *
 * Dates on credentials: an access key cannot be changed in place, so the
 * report's "created or last changed" date (access_key_N_last_rotated) is
 * the key's creation, and is set as both created and last_rotated.  A
 * certificate's last use is not in the report at all: its path gets
 * last_rotated only, and no created date, so that "never used since
 * creation" is not read into a gap in the report.
 *
 * The CSV is RFC 4180, read by src/core/csv.c: quoted fields with doubled
 * quotes, line breaks inside quotes, CRLF or LF line ends, an optional
 * UTF-8 byte order mark.  Columns are found by name in the header; their
 * order does not matter and unknown columns are ignored.  Every error
 * names file:line:column.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aalgate/import.h"
#include "audit/estate.h"
#include "csv.h"
#include "util.h"
#include "banned.h"

/* One record (a line, or several when quotes hold line breaks).  AWS rows
 * are a few hundred bytes. */
#define AWS_MAX_RECORD (64u * 1024u)
/* Data rows in one report.  IAM allows 5,000 users per account. */
#define AWS_MAX_ROWS 1000000u
/* Fields in one record; the report has 22. */
#define AWS_MAX_FIELDS 1024u
/* An id built from a row: never shorter than a record, so that a long
 * user name reaches the estate's own id check. */
#define AWS_MAX_ID (AWS_MAX_RECORD + 64u)

#define ROOT_USER "<root_account>"

/* ---- the report's columns ------------------------------------------------ */

enum col {
	C_USER,
	C_ARN,
	C_CREATED,
	C_PASSWORD,
	C_MFA,
	C_KEY1,
	C_KEY1_ROTATED,
	C_KEY1_USED,
	C_KEY2,
	C_KEY2_ROTATED,
	C_KEY2_USED,
	C_CERT1,
	C_CERT1_ROTATED,
	C_CERT2,
	C_CERT2_ROTATED,
	C_COUNT
};

/* The columns read, as AWS names them.  The report has more (last-used
 * region and service, password dates); they are not needed. */
static const char *const col_names[C_COUNT] = {
	[C_USER] = "user",
	[C_ARN] = "arn",
	[C_CREATED] = "user_creation_time",
	[C_PASSWORD] = "password_enabled",
	[C_MFA] = "mfa_active",
	[C_KEY1] = "access_key_1_active",
	[C_KEY1_ROTATED] = "access_key_1_last_rotated",
	[C_KEY1_USED] = "access_key_1_last_used_date",
	[C_KEY2] = "access_key_2_active",
	[C_KEY2_ROTATED] = "access_key_2_last_rotated",
	[C_KEY2_USED] = "access_key_2_last_used_date",
	[C_CERT1] = "cert_1_active",
	[C_CERT1_ROTATED] = "cert_1_last_rotated",
	[C_CERT2] = "cert_2_active",
	[C_CERT2_ROTATED] = "cert_2_last_rotated",
};

struct report {
	struct ag_csv csv;
	struct ag_estate *e;
	size_t idx[C_COUNT]; /* field index of each column */
	size_t n_cols;       /* fields in the header */
	struct ag_buf id, path_id;
	/* The row being read. */
	const char *account; /* the account's id, in id */
	int64_t user_created;
};

/* A cell's value for a message: at most 40 characters, control bytes and
 * invalid UTF-8 shown as '?'. */
static const char *shown(const char *s, char *out, size_t n)
{
	size_t len = strlen(s), k = 0, i = 0;
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

static const char *cell(const struct report *r, enum col c)
{
	return ag_csv_field(&r->csv, r->idx[c]);
}

static struct ag_pos cell_pos(const struct report *r, enum col c)
{
	struct ag_pos at = {r->csv.pos[r->idx[c]].line,
			    r->csv.pos[r->idx[c]].col};
	return at;
}

static ag_code cell_err(struct report *r, enum col c, ag_code code,
			const char *what, const char *expected)
{
	struct ag_pos at = cell_pos(r, c);
	char v[64];
	return ag_err_at(r->csv.err, code, r->csv.file, at.line, at.col,
			 "%s: %s '%s'%s%s", col_names[c], what,
			 shown(cell(r, c), v, sizeof(v)), expected ? "; " : "",
			 expected ? expected : "");
}

static bool same(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

/* TRUE or FALSE, in any case: AWS writes upper case, many tools lower. */
static ag_code cell_bool(struct report *r, enum col c, bool *out)
{
	const char *s = cell(r, c);
	if (same(s, "true") || same(s, "false")) {
		*out = same(s, "true");
		return AG_OK;
	}
	return cell_err(r, c, AG_ERR_INVALID, "expected true or false, not",
			NULL);
}

/* A date and time as the report writes it (ISO 8601: 2024-01-31T10:00:00Z
 * or +00:00), or, where na_ok, N/A, which gives 0. */
static ag_code cell_time(struct report *r, enum col c, bool na_ok,
			 int64_t *out)
{
	const char *s = cell(r, c);
	*out = 0;
	if (na_ok && !strcmp(s, "N/A"))
		return AG_OK;
	if (ag_time_parse(s, out) == AG_OK)
		return AG_OK;
	return cell_err(r, c, AG_ERR_INVALID, "expected a date and time, not",
			na_ok ? "write 2024-01-31T10:00:00Z, or N/A"
			      : "write 2024-01-31T10:00:00Z");
}

/* ---- the header ---------------------------------------------------------- */

static bool known_column(const char *name)
{
	for (size_t k = 0; k < C_COUNT; k++)
		if (!strcmp(name, col_names[k]))
			return true;
	return false;
}

static ag_code read_header(struct report *r)
{
	struct ag_csv *c = &r->csv;
	ag_code rc;

	do {
		if ((rc = ag_csv_record(c)))
			return rc;
	} while (c->n && c->blank);
	if (!c->n)
		return ag_err_at(c->err, AG_ERR_INVALID, c->file, 1, 1,
				 "empty report: no header line");
	r->n_cols = c->n;
	for (size_t k = 0; k < C_COUNT; k++)
		r->idx[k] = SIZE_MAX;
	for (size_t i = 0; i < c->n; i++) {
		const char *name = ag_csv_field(c, i);
		for (size_t k = 0; k < C_COUNT; k++) {
			if (strcmp(name, col_names[k]))
				continue;
			if (r->idx[k] != SIZE_MAX) {
				struct ag_csv_pos f = c->pos[r->idx[k]];
				return ag_err_at(c->err, AG_ERR_INVALID,
						 c->file, c->pos[i].line,
						 c->pos[i].col,
						 "duplicate column '%s' "
						 "(first at %u:%u)",
						 name, f.line, f.col);
			}
			r->idx[k] = i;
		}
	}
	for (size_t k = 0; k < C_COUNT; k++) {
		if (r->idx[k] != SIZE_MAX)
			continue;
		/* Point at a near miss if the header has one. */
		struct ag_suggest sg;
		size_t near = SIZE_MAX;
		ag_suggest_init(&sg, col_names[k]);
		for (size_t i = 0; i < c->n; i++)
			if (!known_column(ag_csv_field(c, i)))
				ag_suggest_add(&sg, ag_csv_field(c, i));
		const char *best = ag_suggest_best(&sg);
		for (size_t i = 0; best && i < c->n; i++)
			if (ag_csv_field(c, i) == best)
				near = i;
		if (near != SIZE_MAX) {
			char v[64];
			return ag_err_at(c->err, AG_ERR_INVALID, c->file,
					 c->pos[near].line, c->pos[near].col,
					 "missing column '%s' (the header has "
					 "'%s')",
					 col_names[k], shown(best, v, sizeof(v)));
		}
		if (k == C_USER || k == C_ARN)
			return ag_err_at(c->err, AG_ERR_INVALID, c->file,
					 c->rec_line, 1,
					 "missing column '%s': not an AWS IAM "
					 "credential report",
					 col_names[k]);
		return ag_err_at(c->err, AG_ERR_INVALID, c->file, c->rec_line,
				 1, "missing column '%s'", col_names[k]);
	}
	return AG_OK;
}

/* ---- rows ---------------------------------------------------------------- */

/* The 12-digit account id in an IAM ARN (arn:PARTITION:iam::ACCOUNT:
 * RESOURCE), checked against the row's user: "root" for the root user,
 * "user/[PATH/]NAME" for an IAM user. */
static ag_code row_account(struct report *r, bool root, char acct[13])
{
	const char *arn = cell(r, C_ARN);
	const char *f[6];
	size_t n = 0;

	f[n++] = arn;
	for (const char *p = arn; *p && n < 6; p++)
		if (*p == ':')
			f[n++] = p + 1;
	if (n < 6 || strncmp(arn, "arn:", 4) || f[1] == f[2] - 1 ||
	    strncmp(f[2], "iam::", 5) || f[5] - f[4] != 13)
		goto bad;
	for (size_t i = 0; i < 12; i++) {
		if (f[4][i] < '0' || f[4][i] > '9')
			goto bad;
		acct[i] = f[4][i];
	}
	acct[12] = '\0';
	const char *res = f[5];
	if (root) {
		if (strcmp(res, "root"))
			return cell_err(r, C_ARN, AG_ERR_INVALID,
					"the root user's ARN ends in ':root', "
					"not",
					NULL);
		return AG_OK;
	}
	const char *user = cell(r, C_USER);
	const char *slash = strrchr(res, '/');
	if (strncmp(res, "user/", 5) || !slash || strcmp(slash + 1, user))
		return cell_err(r, C_ARN, AG_ERR_INVALID,
				"expected arn:aws:iam::ACCOUNT:user/NAME for "
				"this row's user, not",
				NULL);
	return AG_OK;
bad:
	return cell_err(r, C_ARN, AG_ERR_INVALID, "not an IAM ARN:", NULL);
}

static ag_code nomem(struct report *r)
{
	return ag_err(r->csv.err, AG_ERR_NOMEM, "%s: out of memory",
		      r->csv.file);
}

/* Adds path "ACCOUNT/suffix" to the row's account, at column c. */
static ag_code add_path(struct report *r, const char *suffix,
			enum ag_path_kind kind, const char *const *methods,
			size_t n_methods, const char *description, enum col c,
			int64_t created, int64_t rotated, int64_t used)
{
	struct ag_path_spec s;
	const char *to[1] = {r->account};
	struct ag_pos at = cell_pos(r, c);

	r->path_id.len = 0;
	r->path_id.failed = false;
	if (ag_buf_printf(&r->path_id, "%s/%s", r->account, suffix))
		return nomem(r);
	memset(&s, 0, sizeof(s));
	s.id = r->path_id.data;
	s.kind = kind;
	s.to = to;
	s.n_to = 1;
	s.methods = methods;
	s.n_methods = n_methods;
	s.monitored = false;
	s.lifetime = -1;
	s.approvals = -1;
	s.description = description;
	s.created = created;
	s.last_rotated = rotated;
	s.last_used = used;
	s.file = r->csv.file;
	s.line = at.line;
	s.col = at.col;
	return ag_estate_add_path(r->e, &s, r->csv.err);
}

static ag_code row_key(struct report *r, int k)
{
	static const enum col active[2] = {C_KEY1, C_KEY2};
	static const enum col rotated[2] = {C_KEY1_ROTATED, C_KEY2_ROTATED};
	static const enum col used[2] = {C_KEY1_USED, C_KEY2_USED};
	static const char *const methods[] = {"api_key"};
	static const char *const suffix[2] = {"access-key-1", "access-key-2"};
	static const char *const desc[2] = {"AWS access key 1",
					    "AWS access key 2"};
	bool on;
	int64_t rot, last;
	ag_code rc;

	/* Dates are checked even on an inactive key: a malformed report is
	 * an error wherever it is malformed. */
	if ((rc = cell_bool(r, active[k], &on)) ||
	    (rc = cell_time(r, rotated[k], true, &rot)) ||
	    (rc = cell_time(r, used[k], true, &last)))
		return rc;
	if (!on)
		return AG_OK;
	if ((rc = add_path(r, suffix[k], AG_PATH_API, methods, 1, desc[k],
			   active[k], rot ? rot : r->user_created, rot, last)))
		return rc;
	/* N/A: no use recorded.  The machine inventory carries it as "never
	 * used" (the audit only sees last_used 0). */
	r->e->paths[r->e->n_paths - 1].never_used =
		!strcmp(cell(r, used[k]), "N/A");
	return AG_OK;
}

static ag_code row_cert(struct report *r, int k)
{
	static const enum col active[2] = {C_CERT1, C_CERT2};
	static const enum col rotated[2] = {C_CERT1_ROTATED, C_CERT2_ROTATED};
	static const char *const methods[] = {"software_key"};
	static const char *const suffix[2] = {"cert-1", "cert-2"};
	static const char *const desc[2] = {"AWS X.509 signing certificate 1",
					    "AWS X.509 signing certificate 2"};
	bool on;
	int64_t rot;
	ag_code rc;

	if ((rc = cell_bool(r, active[k], &on)) ||
	    (rc = cell_time(r, rotated[k], true, &rot)))
		return rc;
	if (!on)
		return AG_OK;
	return add_path(r, suffix[k], AG_PATH_API, methods, 1, desc[k],
			active[k], 0, rot ? rot : r->user_created, 0);
}

static ag_code row(struct report *r)
{
	struct ag_csv *c = &r->csv;
	char acct[13];
	bool root, password, mfa;
	ag_code rc;

	if (c->n != r->n_cols)
		return ag_err_at(c->err, AG_ERR_INVALID, c->file, c->rec_line,
				 1, "row has %zu fields; the header has %zu",
				 c->n, r->n_cols);
	const char *user = cell(r, C_USER);
	if (!*user)
		return ag_err_at(c->err, AG_ERR_INVALID, c->file,
				 cell_pos(r, C_USER).line,
				 cell_pos(r, C_USER).col, "user is empty");
	root = !strcmp(user, ROOT_USER);
	if ((rc = row_account(r, root, acct)) ||
	    (rc = cell_time(r, C_CREATED, false, &r->user_created)))
		return rc;
	if (!strcmp(cell(r, C_PASSWORD), "not_supported")) {
		if (!root)
			return cell_err(r, C_PASSWORD, AG_ERR_INVALID,
					"expected true or false, not",
					"not_supported is for the root user "
					"only");
		password = true;
	} else if ((rc = cell_bool(r, C_PASSWORD, &password)))
		return rc;
	if ((rc = cell_bool(r, C_MFA, &mfa)))
		return rc;

	r->id.len = 0;
	r->id.failed = false;
	if (ag_buf_printf(&r->id, "aws:%s:%s", acct, user))
		return nomem(r);
	r->account = r->id.data;

	struct ag_account_spec a;
	const char *groups[1] = {"aws-users"};
	memset(&a, 0, sizeof(a));
	a.id = r->account;
	a.kind = AG_KIND_HUMAN;
	a.workflow = root ? "admin" : "staff";
	/* Say where the workflow's name comes from: it is in no file. */
	if (ag_policy_workflow(r->e->policy, a.workflow) < 0)
		return ag_err_at(c->err, AG_ERR_INVALID, c->file, c->rec_line,
				 1,
				 "the policy has no workflow '%s', to which "
				 "the AWS importer holds %s",
				 a.workflow,
				 root ? "the root user" : "IAM users");
	a.groups = groups;
	a.n_groups = 1;
	a.file = c->file;
	a.line = c->rec_line;
	a.col = 1;
	if ((rc = ag_estate_add_account(r->e, &a, c->err)))
		return rc;
	r->e->accounts[r->e->n_accounts - 1].root = root;

	if (password) {
		static const char *const pw[] = {"password"};
		static const char *const pw_mfa[] = {"password", "totp"};
		rc = add_path(r, "console", AG_PATH_LOGIN, mfa ? pw_mfa : pw,
			      mfa ? 2 : 1,
			      mfa ? "AWS console password and MFA device "
				    "(the report does not say which kind; "
				    "taken as totp)"
				  : "AWS console password without MFA",
			      C_PASSWORD, 0, 0, 0);
		if (rc)
			return rc;
	}
	for (int k = 0; k < 2; k++)
		if ((rc = row_key(r, k)) || (rc = row_cert(r, k)))
			return rc;
	if (password && root) {
		/* The root user can always reset its password through a link
		 * to the account's e-mail address, which the report does not
		 * name: the audit takes it at assume.mailbox (AG-P13). */
		static const char *const link[] = {"email_link"};
		rc = add_path(r, "password-reset", AG_PATH_RECOVERY, link, 1,
			      "AWS root password reset by e-mail to the "
			      "account's address",
			      C_PASSWORD, 0, 0, 0);
		if (rc)
			return rc;
	}
	return AG_OK;
}

/* ---- entry points -------------------------------------------------------- */

ag_code ag_import_aws_report_buffer(struct ag_estate *e, const char *name,
				    const char *buf, size_t len,
				    const struct ag_import_opts *opts,
				    struct ag_error *err)
{
	struct report r;
	size_t rows = 0;
	ag_code rc = AG_ERR_INTERNAL;

	/* opts->mapping maps Keycloak roles; a credential report has none,
	 * so it is not read here (the CLI passes one set of options to every
	 * importer). */
	(void)opts;
	if (!e || !name || (!buf && len))
		return ag_err(err, AG_ERR_USAGE, "bad arguments");
	if (len > AG_IMPORT_MAX_BYTES)
		return ag_err(err, AG_ERR_LIMIT,
			      "%s: larger than %u bytes", name,
			      AG_IMPORT_MAX_BYTES);
	memset(&r, 0, sizeof(r));
	r.e = e;
	/* ag_csv_init skips a UTF-8 byte order mark (Excel writes one). */
	ag_csv_init(&r.csv, name, buf, len, AWS_MAX_RECORD, AWS_MAX_FIELDS,
		    err);
	ag_buf_init(&r.id, AWS_MAX_ID);
	ag_buf_init(&r.path_id, AWS_MAX_ID);

	if ((rc = read_header(&r)))
		goto out;
	for (;;) {
		if ((rc = ag_csv_record(&r.csv)))
			goto out;
		if (!r.csv.n)
			break;
		if (r.csv.blank)
			continue;
		if (++rows > AWS_MAX_ROWS) {
			rc = ag_err_at(err, AG_ERR_LIMIT, name, r.csv.rec_line,
				       1, "more than %u rows", AWS_MAX_ROWS);
			goto out;
		}
		if ((rc = row(&r)))
			goto out;
	}
	rc = AG_OK;
out:
	ag_csv_release(&r.csv);
	ag_buf_release(&r.id);
	ag_buf_release(&r.path_id);
	return rc;
}

ag_code ag_import_aws_report(struct ag_estate *e, const char *path,
			     const struct ag_import_opts *opts,
			     struct ag_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	ag_code rc = ag_read_file(path, AG_IMPORT_MAX_BYTES, &buf, &len, err);
	if (rc)
		return rc;
	rc = ag_import_aws_report_buffer(e, path, buf, len, opts, err);
	free(buf);
	return rc;
}
