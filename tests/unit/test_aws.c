/*
 * The AWS IAM credential report importer: the CSV reader (RFC 4180,
 * CRLF, BOM, quoting, limits), the mapping of rows to accounts and paths
 * (ids, methods, credential dates), the findings the audit then draws
 * from it, the hand-checked reports in tests/data/aws, every bad input
 * there word for word, and the real reports in ../shared/data when they
 * are present.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <dirent.h>

#include <cmocka.h>

#include "testutil.h"
#include "aalgate/import.h"
#include "audit/estate.h"

static const char policy_text[] =
	"profile: sp800-63b-4\n"
	"workflows:\n"
	"  admin: { aal: 3 }\n"
	"  staff: { aal: 2 }\n"
	"nhi: { stale: 90d, rotate: 90d }\n";

#define HEADER                                                              \
	"user,arn,user_creation_time,password_enabled,password_last_used,"  \
	"password_last_changed,password_next_rotation,mfa_active,"          \
	"access_key_1_active,access_key_1_last_rotated,"                    \
	"access_key_1_last_used_date,access_key_1_last_used_region,"        \
	"access_key_1_last_used_service,access_key_2_active,"               \
	"access_key_2_last_rotated,access_key_2_last_used_date,"            \
	"access_key_2_last_used_region,access_key_2_last_used_service,"     \
	"cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated"

/* A row with no keys and no certificates. */
#define NO_CREDS                                                            \
	"false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"

#define ROOT_ROW(pw, mfa)                                                   \
	"<root_account>,arn:aws:iam::111122223333:root,"                    \
	"2019-03-01T10:00:00Z," pw ",no_information,not_supported,"         \
	"not_supported," mfa "," NO_CREDS

#define ROOT "aws:111122223333:<root_account>"
#define ALICE "aws:111122223333:alice"

/* 2025-06-30T00:00:00Z, the --as-of of every case. */
#define AS_OF 1751241600

struct run {
	struct ag_policy *p;
	struct ag_estate *e;
	struct ag_audit *a;
};

static void run_release(struct run *r)
{
	ag_audit_free(r->a);
	ag_estate_free(r->e);
	ag_policy_free(r->p);
}

/* Imports csv (which must succeed), resolves and audits. */
static void run_csv(struct run *r, const char *pol, const char *csv)
{
	struct ag_error err;

	r->p = policy_ok(pol ? pol : policy_text);
	r->e = estate_new(r->p);
	ag_estate_set_now(r->e, AS_OF);
	ag_error_init(&err);
	if (ag_import_aws_report_buffer(r->e, "report.csv", csv, strlen(csv),
					NULL, &err) != AG_OK)
		fail_msg("import failed: %s", err.msg);
	r->a = audit_ok(r->e);
}

/* Imports csv, which must fail with exactly this code and message. */
static void import_fails(const char *csv, size_t len, ag_code code,
			 const char *msg)
{
	struct ag_policy *p = policy_ok(policy_text);
	struct ag_estate *e = estate_new(p);
	struct ag_error err;

	ag_error_init(&err);
	ag_code rc = ag_import_aws_report_buffer(e, "report.csv", csv, len,
						 NULL, &err);
	assert_string_equal(err.msg, msg);
	assert_int_equal(rc, code);
	assert_int_equal(err.code, code);
	ag_estate_free(e);
	ag_policy_free(p);
}

static const struct ag_path *path_of(const struct ag_estate *e,
				     const char *id)
{
	uint32_t i;
	if (!ag_strmap_get(&e->path_ids, id, &i))
		fail_msg("no path '%s'", id);
	return &e->paths[i];
}

static bool has_path(const struct ag_estate *e, const char *id)
{
	uint32_t i;
	return ag_strmap_get(&e->path_ids, id, &i);
}

/* The path's methods as "a+b", in the order given. */
static void assert_methods(const struct ag_estate *e, const char *id,
			   const char *want)
{
	const struct ag_path *p = path_of(e, id);
	char got[256] = "";
	size_t len = 0;
	for (uint32_t i = 0; i < p->n_methods; i++)
		len += (size_t)snprintf(
			got + len, sizeof(got) - len, "%s%s", i ? "+" : "",
			e->policy->catalogue.methods[p->methods[i]].name);
	assert_string_equal(got, want);
}

static int64_t t(const char *s)
{
	int64_t v = 0;
	assert_int_equal(ag_time_parse(s, &v), AG_OK);
	return v;
}

/* The finding of rule r on account and path (ids; path may be NULL for
 * any); fails when there is none. */
static const struct ag_finding *finding(const struct run *r, enum ag_rule rule,
					const char *account, const char *path)
{
	uint32_t acct = ag_estate_find_account(r->e, account);
	for (size_t i = 0; i < r->a->n_findings; i++) {
		const struct ag_finding *f = &r->a->findings[i];
		if (f->rule != rule || f->account != acct)
			continue;
		if (path && (f->path == AG_NONE ||
			     strcmp(r->e->paths[f->path].id, path)))
			continue;
		return f;
	}
	fail_msg("no finding %s on '%s' '%s'", ag_rule_info(rule)->code,
		 account, path ? path : "*");
	return NULL;
}

/* ---- mapping ------------------------------------------------------------- */

static void test_root_without_mfa_is_password_only(void **state)
{
	struct run r;
	(void)state;
	run_csv(&r, NULL,
		HEADER "\n" ROOT_ROW("not_supported", "false") "\n");
	/* Root, and the anonymous mailbox its e-mail reset rests on. */
	assert_int_equal(ag_estate_n_accounts(r.e), 2);
	/* The console, and the password reset by e-mail root always has. */
	assert_int_equal(ag_estate_n_paths(r.e), 2);
	assert_methods(r.e, ROOT "/console", "password");
	assert_methods(r.e, ROOT "/password-reset", "email_link");
	assert_int_equal(path_of(r.e, ROOT "/password-reset")->kind,
			 AG_PATH_RECOVERY);
	const struct ag_path *p = path_of(r.e, ROOT "/console");
	assert_int_equal(p->kind, AG_PATH_LOGIN);
	assert_false(p->monitored);
	assert_int_equal(p->created, 0);
	assert_int_equal(p->last_used, 0);
	const struct ag_account *a =
		&r.e->accounts[ag_estate_find_account(r.e, ROOT)];
	assert_int_equal(a->kind, AG_KIND_HUMAN);
	assert_string_equal(r.p->workflows[a->workflow].name, "admin");
	assert_int_equal(a->n_groups, 1);
	assert_string_equal(r.e->groups[a->groups[0]], "aws-users");
	/* Password alone against admin (AAL3): two levels short. */
	assert_int_equal(eff_of(r.e, r.a, ROOT), 1);
	const struct ag_finding *f = finding(&r, AG_P01, ROOT, ROOT "/console");
	assert_int_equal(f->severity, AG_SEV_CRITICAL);
	run_release(&r);
}

static void test_root_password_values(void **state)
{
	struct run r;
	(void)state;
	/* Newer reports say TRUE or FALSE for the root user too. */
	run_csv(&r, NULL, HEADER "\n" ROOT_ROW("TRUE", "TRUE") "\n");
	assert_methods(r.e, ROOT "/console", "password+totp");
	/* MFA on the console, but the e-mail reset rests on a mailbox the
	 * report does not name (assume.mailbox 1): AAL1, two short of
	 * admin, and weaker than the console (AG-P02). */
	assert_int_equal(eff_of(r.e, r.a, ROOT), 1);
	assert_int_equal(
		finding(&r, AG_P01, ROOT, ROOT "/password-reset")->severity,
		AG_SEV_CRITICAL);
	assert_non_null(finding(&r, AG_P02, ROOT, ROOT "/password-reset"));
	assert_non_null(finding(&r, AG_P13, ROOT, ROOT "/password-reset"));
	run_release(&r);

	/* FALSE: a member account without root credentials. */
	run_csv(&r, NULL, HEADER "\n" ROOT_ROW("false", "false") "\n");
	assert_int_equal(ag_estate_n_paths(r.e), 0);
	assert_false(result_of(r.e, r.a, ROOT)->reachable);
	assert_int_equal(count_findings(r.e, r.a, AG_P01, NULL), 0);
	run_release(&r);
}

static void test_root_with_key_is_critical(void **state)
{
	struct run r;
	(void)state;
	run_csv(&r, NULL,
		HEADER "\n"
		"<root_account>,arn:aws:iam::111122223333:root,"
		"2019-03-01T10:00:00Z,not_supported,no_information,"
		"not_supported,not_supported,true,"
		"true,2025-05-01T00:00:00Z,2025-06-20T12:00:00Z,us-east-1,s3,"
		"false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n");
	assert_methods(r.e, ROOT "/console", "password+totp");
	assert_methods(r.e, ROOT "/access-key-1", "api_key");
	const struct ag_finding *f =
		finding(&r, AG_P01, ROOT, ROOT "/access-key-1");
	assert_int_equal(f->severity, AG_SEV_CRITICAL);
	assert_int_equal(f->observed, 1);
	assert_int_equal(f->expected, 3);
	run_release(&r);
}

static void test_user_console_and_mfa(void **state)
{
	struct run r;
	(void)state;
	run_csv(&r, NULL,
		HEADER "\n"
		"alice,arn:aws:iam::111122223333:user/alice,"
		"2024-01-10T09:00:00Z,true,2025-06-29T09:00:00Z,"
		"2024-01-10T09:00:00Z,N/A,false," NO_CREDS "\n"
		"bob,arn:aws:iam::111122223333:user/eng/bob,"
		"2024-01-10T09:00:00Z,True,2025-06-29T09:00:00Z,"
		"2024-01-10T09:00:00Z,N/A,True," NO_CREDS "\n");
	assert_methods(r.e, ALICE "/console", "password");
	assert_methods(r.e, "aws:111122223333:bob/console", "password+totp");
	assert_string_equal(path_of(r.e, ALICE "/console")->description,
			    "AWS console password without MFA");
	assert_int_equal(eff_of(r.e, r.a, ALICE), 1);
	assert_int_equal(eff_of(r.e, r.a, "aws:111122223333:bob"), 2);
	/* TOTP is the weakest MFA AWS offers: never phishing resistant. */
	assert_false(
		result_of(r.e, r.a, "aws:111122223333:bob")->phishing_resistant);
	assert_int_equal(finding(&r, AG_P01, ALICE, ALICE "/console")->severity,
			 AG_SEV_HIGH);
	assert_int_equal(count_findings(r.e, r.a, AG_P01,
					"aws:111122223333:bob"),
			 0);
	run_release(&r);
}

static void test_key_dates(void **state)
{
	struct run r;
	(void)state;
	run_csv(&r, NULL,
		HEADER "\n"
		/* key 1 never used (N/A), key 2 used, both active */
		"alice,arn:aws:iam::111122223333:user/alice,"
		"2024-01-10T09:00:00Z,false,N/A,N/A,N/A,false,"
		"true,2025-01-15T00:00:00Z,N/A,N/A,N/A,"
		"true,2025-06-01T00:00:00+00:00,2025-06-29T10:00:00Z,eu-west-1,"
		"sts,false,N/A,false,N/A\n"
		/* active, but no date: as old as the user */
		"heidi,arn:aws:iam::111122223333:user/heidi,"
		"2024-01-01T00:00:00Z,false,N/A,N/A,N/A,false,"
		"true,N/A,2025-06-29T10:00:00Z,us-east-1,s3,"
		"false,2020-01-01T00:00:00Z,2020-02-01T00:00:00Z,us-east-1,s3,"
		"true,2024-01-01T00:00:00Z,false,N/A\n");
	const struct ag_path *k1 = path_of(r.e, ALICE "/access-key-1");
	assert_int_equal(k1->kind, AG_PATH_API);
	assert_true(k1->created == t("2025-01-15T00:00:00Z"));
	assert_true(k1->last_rotated == t("2025-01-15T00:00:00Z"));
	assert_true(k1->last_used == 0);
	assert_string_equal(k1->description, "AWS access key 1");
	const struct ag_path *k2 = path_of(r.e, ALICE "/access-key-2");
	assert_true(k2->created == t("2025-06-01T00:00:00Z"));
	assert_true(k2->last_used == t("2025-06-29T10:00:00Z"));
	const struct ag_path *h = path_of(r.e,
					  "aws:111122223333:heidi/access-key-1");
	assert_true(h->created == t("2024-01-01T00:00:00Z"));
	assert_true(h->last_rotated == 0);
	/* An inactive key opens nothing. */
	assert_false(has_path(r.e, "aws:111122223333:heidi/access-key-2"));
	/* A certificate: rotation known, use not in the report. */
	const struct ag_path *c = path_of(r.e, "aws:111122223333:heidi/cert-1");
	assert_methods(r.e, "aws:111122223333:heidi/cert-1", "software_key");
	assert_true(c->created == 0);
	assert_true(c->last_rotated == t("2024-01-01T00:00:00Z"));
	assert_true(c->last_used == 0);

	/* Never used since 2025-01-15: 166 days, stale and unrotated. */
	finding(&r, AG_N02, ALICE, ALICE "/access-key-1");
	finding(&r, AG_N06, ALICE, ALICE "/access-key-1");
	assert_int_equal(count_findings(r.e, r.a, AG_N02, ALICE), 1);
	assert_int_equal(count_findings(r.e, r.a, AG_N06, ALICE), 1);
	/* heidi's key counts from her creation; her certificate is not
	 * called stale for want of a last-used date. */
	finding(&r, AG_N06, "aws:111122223333:heidi",
		"aws:111122223333:heidi/access-key-1");
	finding(&r, AG_N06, "aws:111122223333:heidi",
		"aws:111122223333:heidi/cert-1");
	assert_int_equal(
		count_findings(r.e, r.a, AG_N02, "aws:111122223333:heidi"), 0);
	run_release(&r);
}

static void test_two_accounts_in_one_estate(void **state)
{
	struct ag_policy *p = policy_ok(policy_text);
	struct ag_estate *e = estate_new(p);
	struct ag_error err;
	static const char a[] = HEADER "\n" ROOT_ROW("not_supported", "true")
				       "\n";
	static const char b[] =
		HEADER "\n"
		"<root_account>,arn:aws-us-gov:iam::444455556666:root,"
		"2019-03-01T10:00:00Z,not_supported,no_information,"
		"not_supported,not_supported,true," NO_CREDS "\n";
	(void)state;

	ag_error_init(&err);
	assert_int_equal(ag_import_aws_report_buffer(e, "a.csv", a,
						     sizeof(a) - 1, NULL, &err),
			 AG_OK);
	assert_int_equal(ag_import_aws_report_buffer(e, "b.csv", b,
						     sizeof(b) - 1, NULL, &err),
			 AG_OK);
	assert_int_equal(ag_estate_n_accounts(e), 2);
	assert_true(ag_estate_find_account(e, "aws:444455556666:<root_account>") !=
		    AG_NONE);
	/* The same report twice is the same accounts twice. */
	assert_int_equal(ag_import_aws_report_buffer(e, "c.csv", a,
						     sizeof(a) - 1, NULL, &err),
			 AG_ERR_INVALID);
	assert_string_equal(err.msg,
			    "c.csv:2:1: duplicate account id '" ROOT
			    "' (first at a.csv:2:1)");
	ag_estate_free(e);
	ag_policy_free(p);
}

static void test_mapping_is_not_read(void **state)
{
	struct ag_policy *p = policy_ok(policy_text);
	struct ag_estate *e = estate_new(p);
	struct ag_import_opts opts = {"/nonexistent/mapping.yaml"};
	struct ag_error err;
	static const char a[] = HEADER "\n" ROOT_ROW("not_supported", "true")
				       "\n";
	(void)state;

	ag_error_init(&err);
	assert_int_equal(ag_import_aws_report_buffer(e, "a.csv", a,
						     sizeof(a) - 1, &opts, &err),
			 AG_OK);
	ag_estate_free(e);
	ag_policy_free(p);
}

/* ---- CSV ----------------------------------------------------------------- */

static void test_csv_forms(void **state)
{
	struct run r;
	(void)state;
	/* BOM, CRLF, reordered columns, unknown and missing unread columns,
	 * quoted fields with commas, doubled quotes and line breaks, blank
	 * lines, no final line end. */
	run_csv(&r, NULL,
		"\xEF\xBB\xBF"
		"extra,arn,user,mfa_active,password_enabled,user_creation_time,"
		"access_key_2_active,access_key_2_last_rotated,"
		"access_key_2_last_used_date,access_key_1_active,"
		"access_key_1_last_rotated,access_key_1_last_used_date,"
		"cert_2_active,cert_2_last_rotated,cert_1_active,"
		"cert_1_last_rotated\r\n"
		"\r\n"
		"\"a \"\"quoted\"\"\r\nnote, with a comma\","
		"\"arn:aws:iam::111122223333:user/ops/ops,admin\","
		"\"ops,admin\",true,true,2024-05-01T00:00:00Z,"
		"false,N/A,N/A,false,N/A,N/A,false,N/A,false,N/A\r\n"
		"\r\n"
		",arn:aws:iam::111122223333:user/o.brien+ci=1@corp,"
		"\"o.brien+ci=1@corp\",false,false,2025-01-01T00:00:00Z,"
		"false,N/A,N/A,true,2025-06-15T00:00:00Z,"
		"2025-06-29T00:00:00Z,false,N/A,false,N/A");
	assert_int_equal(ag_estate_n_accounts(r.e), 2);
	assert_methods(r.e, "aws:111122223333:ops,admin/console",
		       "password+totp");
	assert_methods(r.e, "aws:111122223333:o.brien+ci=1@corp/access-key-1",
		       "api_key");
	/* Positions: the row's line, and the cell of the credential. */
	uint32_t i = ag_estate_find_account(r.e, "aws:111122223333:ops,admin");
	assert_int_equal(r.e->accounts[i].line, 3);
	const struct ag_path *k = path_of(
		r.e, "aws:111122223333:o.brien+ci=1@corp/access-key-1");
	assert_int_equal(k->line, 6);
	assert_int_equal(k->col, 118);
	run_release(&r);
}

static void test_header_only(void **state)
{
	struct run r;
	(void)state;
	run_csv(&r, NULL, HEADER "\n");
	assert_int_equal(ag_estate_n_accounts(r.e), 0);
	run_release(&r);
	run_csv(&r, NULL, HEADER);
	assert_int_equal(ag_estate_n_accounts(r.e), 0);
	run_release(&r);
}

#define ALICE_ROW(pw, mfa, k1)                                              \
	"alice,arn:aws:iam::111122223333:user/alice,2024-01-10T09:00:00Z,"  \
	pw ",N/A,N/A,N/A," mfa "," k1                                       \
	",N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"

static void test_csv_errors(void **state)
{
	(void)state;
	import_fails("", 0, AG_ERR_INVALID,
		     "report.csv:1:1: empty report: no header line");
	import_fails("\n\n", 2, AG_ERR_INVALID,
		     "report.csv:1:1: empty report: no header line");
	static const char nul[] = HEADER "\nali\0ce,";
	import_fails(nul, sizeof(nul) - 1, AG_ERR_SYNTAX,
		     "report.csv:2:4: NUL byte");
	const char *cr = HEADER "\r" ROOT_ROW("true", "true");
	import_fails(cr, strlen(cr), AG_ERR_SYNTAX,
		     "report.csv:1:458: carriage return without a line feed "
		     "(lines end in CRLF or LF)");
	const char *after = HEADER "\n\"alice\"x,";
	import_fails(after, strlen(after), AG_ERR_SYNTAX,
		     "report.csv:2:8: unexpected character after a closing "
		     "quote (a quote inside a quoted field is written \"\")");
	/* Columns count characters, not bytes. */
	const char *utf8 = HEADER "\n\"z\xC3\xBCrich\",\"x\"\"";
	import_fails(utf8, strlen(utf8), AG_ERR_SYNTAX,
		     "report.csv:2:10: unterminated quoted field");
	/* A quoted line break moves the line on. */
	const char *ml = HEADER "\n\"a\nb\"," ROOT_ROW("true", "true");
	import_fails(ml, strlen(ml), AG_ERR_INVALID,
		     "report.csv:2:1: row has 23 fields; the header has 22");
	const char *bad_user = HEADER "\n" ALICE_ROW("true", "true", "maybe");
	import_fails(bad_user, strlen(bad_user), AG_ERR_INVALID,
		     "report.csv:2:87: access_key_1_active: expected true or "
		     "false, not 'maybe'");
	const char *bad_created =
		HEADER "\n"
		"alice,arn:aws:iam::111122223333:user/alice,N/A,true,N/A,N/A,"
		"N/A,true," NO_CREDS;
	import_fails(bad_created, strlen(bad_created), AG_ERR_INVALID,
		     "report.csv:2:44: user_creation_time: expected a date and "
		     "time, not 'N/A'; write 2024-01-31T10:00:00Z");
	const char *empty_user =
		HEADER "\n,arn:aws:iam::111122223333:user/x,"
		"2024-01-10T09:00:00Z,true,N/A,N/A,N/A,true," NO_CREDS;
	import_fails(empty_user, strlen(empty_user), AG_ERR_INVALID,
		     "report.csv:2:1: user is empty");
	const char *root_arn =
		HEADER "\n<root_account>,arn:aws:iam::111122223333:user/x,"
		"2024-01-10T09:00:00Z,true,N/A,N/A,N/A,true," NO_CREDS;
	import_fails(root_arn, strlen(root_arn), AG_ERR_INVALID,
		     "report.csv:2:16: arn: the root user's ARN ends in "
		     "':root', not 'arn:aws:iam::111122223333:user/x'");
	/* Control bytes in a value are not echoed. */
	const char *ctl = HEADER "\n" ALICE_ROW("true", "\"t\x01\"", "true");
	import_fails(ctl, strlen(ctl), AG_ERR_INVALID,
		     "report.csv:2:82: mfa_active: expected true or false, "
		     "not 't?'");
}

static void test_limits(void **state)
{
	(void)state;
	/* A record longer than 64 KiB. */
	size_t n = 70000;
	char *big = malloc(sizeof(HEADER) + n + 2);
	assert_non_null(big);
	memcpy(big, HEADER "\n", sizeof(HEADER));
	memset(big + sizeof(HEADER), 'x', n);
	big[sizeof(HEADER) + n] = '\0';
	import_fails(big, strlen(big), AG_ERR_LIMIT,
		     "report.csv:2:1: record longer than 65536 bytes");
	/* More than 1024 fields. */
	memcpy(big, HEADER "\n", sizeof(HEADER));
	memset(big + sizeof(HEADER), ',', 2000);
	big[sizeof(HEADER) + 2000] = '\0';
	import_fails(big, strlen(big), AG_ERR_LIMIT,
		     "report.csv:2:1025: more than 1024 fields in a record");
	free(big);
	/* An id too long for the estate is refused there, with the row. */
	size_t ulen = 1100;
	size_t cap = sizeof(HEADER) + 2 * ulen + 256;
	char *row = malloc(cap);
	char *user = malloc(ulen + 1);
	assert_non_null(row);
	assert_non_null(user);
	memset(user, 'u', ulen);
	user[ulen] = '\0';
	snprintf(row, cap,
		 HEADER "\n%s,arn:aws:iam::111122223333:user/%s,"
		 "2024-01-10T09:00:00Z,true,N/A,N/A,N/A,true," NO_CREDS,
		 user, user);
	import_fails(row, strlen(row), AG_ERR_INVALID,
		     "report.csv:2:1: an account id must be 1 to 1024 printable "
		     "UTF-8 bytes");
	free(row);
	free(user);
}

/* ---- tests/data/aws ------------------------------------------------------ */

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t cap = 0, n = 0;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			char *nb = realloc(buf, cap);
			assert_non_null(nb);
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static const char *data_dir(void)
{
	const char *d = getenv("AG_TEST_DATA");
	if (!d)
		fail_msg("AG_TEST_DATA is not set");
	return d;
}

/* The hand-checked cases, through the library: the same accounts, levels
 * and findings as expected.json (which tests/cli/aws.sh checks through the
 * CLI), plus severities, which expected.json cannot state. */
static void test_case_01_root_keys(void **state)
{
	char path[4096];
	struct run r;
	struct ag_error err;
	(void)state;

	snprintf(path, sizeof(path), "%s/aws/01-root-keys/report.csv",
		 data_dir());
	r.p = policy_ok(policy_text);
	r.e = estate_new(r.p);
	ag_estate_set_now(r.e, AS_OF);
	ag_error_init(&err);
	if (ag_import_aws_report(r.e, path, NULL, &err))
		fail_msg("%s", err.msg);
	r.a = audit_ok(r.e);
	/* Two users, and the anonymous mailbox root's reset rests on. */
	assert_int_equal(ag_estate_n_accounts(r.e), 3);
	assert_int_equal(ag_estate_n_paths(r.e), 4);
	assert_int_equal(r.a->n_findings, 7);
	assert_int_equal(r.a->by_severity[AG_SEV_CRITICAL], 1);
	assert_int_equal(r.a->by_severity[AG_SEV_HIGH], 1);
	assert_int_equal(r.a->by_severity[AG_SEV_LOW], 4);
	assert_int_equal(r.a->by_severity[AG_SEV_INFO], 1);
	assert_int_equal(finding(&r, AG_P01, ROOT, ROOT "/access-key-1")
				 ->severity,
			 AG_SEV_CRITICAL);
	assert_int_equal(eff_of(r.e, r.a, ALICE), 2);
	run_release(&r);
}

static void test_bad_cases(void **state)
{
	char dir[4096], path[4608];
	size_t n = 0;
	(void)state;

	snprintf(dir, sizeof(dir), "%s/aws/bad", data_dir());
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		size_t len, elen, plen = 0;
		snprintf(path, sizeof(path), "%s/%s/report.csv", dir,
			 de->d_name);
		char *csv = read_all(path, &len);
		snprintf(path, sizeof(path), "%s/%s/expected.txt", dir,
			 de->d_name);
		char *exp = read_all(path, &elen);
		if (!csv || !exp)
			fail_msg("%s: report.csv or expected.txt missing",
				 de->d_name);
		snprintf(path, sizeof(path), "%s/%s/policy.yaml", dir,
			 de->d_name);
		char *pol = read_all(path, &plen);
		/* expected.txt is the CLI's line: "aalgate audit: MSG\n". */
		const char *prefix = "aalgate audit: ";
		assert_memory_equal(exp, prefix, strlen(prefix));
		if (elen && exp[elen - 1] == '\n')
			exp[elen - 1] = '\0';

		struct ag_policy *p = policy_ok(pol ? pol : policy_text);
		struct ag_estate *e = estate_new(p);
		struct ag_error err;
		ag_error_init(&err);
		ag_code rc = ag_import_aws_report_buffer(e, "report.csv", csv,
							 len, NULL, &err);
		if (rc == AG_OK)
			fail_msg("%s: imported", de->d_name);
		if (strcmp(err.msg, exp + strlen(prefix)))
			fail_msg("%s:\n  expected: %s\n  got:      %s",
				 de->d_name, exp + strlen(prefix), err.msg);
		ag_estate_free(e);
		ag_policy_free(p);
		free(csv);
		free(exp);
		free(pol);
		n++;
	}
	closedir(d);
	assert_true(n >= 10);
}

/* ---- ../shared/data ------------------------------------------------------ */

static void test_shared_reports(void **state)
{
	const char *base = getenv("AG_SHARED_DATA");
	char dir[4096], path[4400];
	size_t n = 0;
	(void)state;

	if (!base) {
		print_message("skipped: AG_SHARED_DATA not set\n");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/aws-credential-report", base);
	DIR *d = opendir(dir);
	if (!d) {
		print_message("skipped: ../shared/data not present\n");
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len < 4 || strcmp(de->d_name + len - 4, ".csv"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		struct run r;
		struct ag_error err;
		r.p = policy_ok(policy_text);
		r.e = estate_new(r.p);
		ag_estate_set_now(r.e, AS_OF);
		ag_error_init(&err);
		if (ag_import_aws_report(r.e, path, NULL, &err))
			fail_msg("%s did not import: %s", de->d_name, err.msg);
		r.a = audit_ok(r.e);
		/* Every real report has its root user. */
		int roots = 0;
		for (size_t i = 0; i < r.e->n_accounts; i++)
			roots += strstr(r.e->accounts[i].id,
					":<root_account>") != NULL;
		assert_int_equal(roots, 1);
		run_release(&r);
		n++;
	}
	closedir(d);
	print_message("%zu real reports imported\n", n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_without_mfa_is_password_only),
		cmocka_unit_test(test_root_password_values),
		cmocka_unit_test(test_root_with_key_is_critical),
		cmocka_unit_test(test_user_console_and_mfa),
		cmocka_unit_test(test_key_dates),
		cmocka_unit_test(test_two_accounts_in_one_estate),
		cmocka_unit_test(test_mapping_is_not_read),
		cmocka_unit_test(test_csv_forms),
		cmocka_unit_test(test_header_only),
		cmocka_unit_test(test_csv_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_case_01_root_keys),
		cmocka_unit_test(test_bad_cases),
		cmocka_unit_test(test_shared_reports),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
