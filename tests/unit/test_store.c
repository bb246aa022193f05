/*
 * The state store: migrations from an empty file, reopening, refusing a
 * newer schema and files that are not ours, enrolment add/remove/list,
 * the account's own level, the binding rule, two processes writing one
 * file at once, threads reading while one writes, a read-only store, a
 * busy one, a write that fails part way, and the journal drained into a
 * real decision log (with a repeat after a lost mark, rows that cannot be
 * records, and a log that fails in the middle of a drain); journal rows
 * added on their own, spent recovery codes, and the grant query.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "testutil.h"
#include "aalgate/gate.h"
#include "aalgate/govern.h"

static const char policy_yaml[] =
	"workflows:\n"
	"  staff: { aal: 2 }\n"
	"  recovery: { aal: match_account }\n"
	"methods:\n"
	"  helpdesk_video_id: { factor: have, alone: 1 }\n";

/* ---- a scratch directory per test -------------------------------------- */

struct dir {
	char path[256];
	char db[300];
	char log[300];
	struct ag_policy *p;
};

static int setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));
	assert_non_null(d);
	snprintf(d->path, sizeof(d->path), "/tmp/ag-store-XXXXXX");
	assert_non_null(mkdtemp(d->path));
	snprintf(d->db, sizeof(d->db), "%s/state.db", d->path);
	snprintf(d->log, sizeof(d->log), "%s/decisions.jsonl", d->path);
	d->p = policy_ok(policy_yaml);
	*state = d;
	return 0;
}

static void rm_tree(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *e;
	char p[600];

	if (!dir) {
		unlink(path);
		return;
	}
	while ((e = readdir(dir))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			chmod(p, 0700);
			rm_tree(p);
		} else {
			unlink(p);
		}
	}
	closedir(dir);
	rmdir(path);
}

static int teardown(void **state)
{
	struct dir *d = *state;
	chmod(d->path, 0700);
	rm_tree(d->path);
	ag_policy_free(d->p);
	free(d);
	return 0;
}

/* ---- helpers ----------------------------------------------------------- */

static struct ag_store *open_ok(const char *path,
				const struct ag_store_opts *o)
{
	struct ag_store *s = NULL;
	struct ag_error err;
	ag_error_init(&err);
	ag_code rc = ag_store_open(path, o, &s, &err);
	if (rc != AG_OK)
		fail_msg("open %s: %s", path, err.msg);
	assert_non_null(s);
	return s;
}

static void open_fails(const char *path, const struct ag_store_opts *o,
		       ag_code code, const char *msg)
{
	struct ag_store *s = (struct ag_store *)1;
	struct ag_error err;
	ag_error_init(&err);
	ag_code rc = ag_store_open(path, o, &s, &err);
	assert_null(s);
	assert_string_equal(err.msg, msg);
	assert_int_equal(rc, code);
}

static const struct ag_enroll_auth *asserted(int aal)
{
	static struct ag_enroll_auth a[4];
	a[aal].assurance.aal = aal;
	a[aal].source = "asserted";
	return &a[aal];
}

/* Adds and expects success; returns the result. */
static struct ag_enroll_result add_ok(struct ag_store *s,
				      const struct ag_policy *p,
				      const char *acct, const char *m,
				      const char *label, int auth_aal)
{
	struct ag_enroll_result res;
	struct ag_error err;
	ag_error_init(&err);
	ag_code rc = ag_store_enroll_add(s, p, acct, m, label,
					 auth_aal >= 0 ? asserted(auth_aal)
						       : NULL,
					 1700000000, &res, &err);
	if (rc != AG_OK)
		fail_msg("add %s %s: %s", acct, m, err.msg);
	assert_int_equal(res.status, AG_ENROLL_DONE);
	assert_true(res.journal_seq > 0);
	return res;
}

static void add_fails(struct ag_store *s, const struct ag_policy *p,
		      const char *acct, const char *m, const char *label,
		      int auth_aal, ag_code code,
		      enum ag_enroll_status status, const char *msg)
{
	struct ag_enroll_result res;
	struct ag_error err;
	ag_error_init(&err);
	ag_code rc = ag_store_enroll_add(s, p, acct, m, label,
					 auth_aal >= 0 ? asserted(auth_aal)
						       : NULL,
					 1700000000, &res, &err);
	assert_string_equal(err.msg, msg);
	assert_int_equal(rc, code);
	assert_int_equal(res.status, status);
	assert_int_equal(res.journal_seq, 0);
}

static struct ag_assurance level(struct ag_store *s, const struct ag_policy *p,
				 const char *acct)
{
	struct ag_assurance a;
	struct ag_error err;
	ag_error_init(&err);
	if (ag_store_account_level(s, p, acct, &a, &err) != AG_OK)
		fail_msg("level of %s: %s", acct, err.msg);
	return a;
}

/* One integer from SQL run on the file directly, outside the store. */
static long long sql_int(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL),
			 SQLITE_OK);
	sqlite3_busy_timeout(h, 5000);
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(h));
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		fail_msg("%s: %s", sql, sqlite3_errmsg(h));
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

static void sql_exec(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	char *msg = NULL;
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL),
			 SQLITE_OK);
	sqlite3_busy_timeout(h, 5000);
	if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
	sqlite3_close(h);
}

static void sql_text(const char *db, const char *sql, char *out, size_t len)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	out[0] = '\0';
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, len, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(h);
}

/* ---- opening and migrations -------------------------------------------- */

static void test_migrate_from_empty(void **state)
{
	struct dir *d = *state;
	struct stat st;
	uint64_t pending = 99;

	assert_int_equal(access(d->db, F_OK), -1);
	struct ag_store *s = open_ok(d->db, NULL);
	assert_string_equal(ag_store_backend(s), "sqlite");
	const char *id = ag_store_id(s);
	assert_int_equal(strlen(id), 32);
	assert_int_equal(strspn(id, "0123456789abcdef"), 32);
	assert_int_equal(ag_store_journal_pending(s, &pending, NULL), AG_OK);
	assert_int_equal(pending, 0);
	ag_store_close(s);

	assert_int_equal(lstat(d->db, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(ag_store_schema_version(), 6);
	assert_int_equal(sql_int(d->db, "SELECT max(version) FROM "
					"schema_version"),
			 ag_store_schema_version());
	assert_int_equal(sql_int(d->db, "SELECT count(*) FROM schema_version"),
			 ag_store_schema_version());
	char mode[16];
	sql_text(d->db, "PRAGMA journal_mode", mode, sizeof(mode));
	assert_string_equal(mode, "wal");
	assert_int_equal(sql_int(d->db, "SELECT count(*) FROM sqlite_master "
					"WHERE type = 'table' AND name IN "
					"('accounts', 'enrolments', 'journal',"
					" 'meta')"),
			 4);
}

static void test_reopen(void **state)
{
	struct dir *d = *state;
	char id[40];

	struct ag_store *s = open_ok(d->db, NULL);
	snprintf(id, sizeof(id), "%s", ag_store_id(s));
	add_ok(s, d->p, "alice", "password", NULL, -1);
	ag_store_close(s);

	s = open_ok(d->db, NULL);
	assert_string_equal(ag_store_id(s), id);
	struct ag_enrolments l = {0};
	assert_int_equal(ag_store_enroll_list(s, "alice", &l, NULL), AG_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].account, "alice");
	assert_string_equal(l.v[0].method, "password");
	assert_string_equal(l.v[0].label, "");
	assert_int_equal(l.v[0].created, 1700000000);
	ag_enrolments_release(&l);
	ag_store_close(s);
	/* Each migration ran once. */
	assert_int_equal(sql_int(d->db, "SELECT count(*) FROM schema_version"),
			 ag_store_schema_version());
}

static void test_newer_schema(void **state)
{
	struct dir *d = *state;
	char msg[600];

	ag_store_close(open_ok(d->db, NULL));
	sql_exec(d->db, "INSERT INTO schema_version VALUES (7, 0)");
	snprintf(msg, sizeof(msg),
		 "%s: schema version 7 is newer than this aalgate knows (%d); "
		 "use aalgate %s or later, or the release that wrote it",
		 d->db, ag_store_schema_version(), AG_VERSION);
	open_fails(d->db, NULL, AG_ERR_INVALID, msg);
	struct ag_store_opts ro = {.read_only = true};
	open_fails(d->db, &ro, AG_ERR_INVALID, msg);
	/* Refusing changed nothing. */
	assert_int_equal(sql_int(d->db, "SELECT max(version) FROM "
					"schema_version"),
			 7);
}

static void test_not_ours(void **state)
{
	struct dir *d = *state;
	char p[400], msg[900];
	FILE *f;

	/* Not SQLite at all. */
	snprintf(p, sizeof(p), "%s/junk.db", d->path);
	assert_non_null(f = fopen(p, "w"));
	for (int i = 0; i < 200; i++)
		fputs("this is not a database\n", f);
	fclose(f);
	chmod(p, 0600);
	snprintf(msg, sizeof(msg),
		 "%s: cannot open the state: not a state database, or a "
		 "damaged one (file is not a database)",
		 p);
	open_fails(p, NULL, AG_ERR_INVALID, msg);

	/* SQLite, but someone else's. */
	snprintf(p, sizeof(p), "%s/other.db", d->path);
	sqlite3 *h;
	assert_int_equal(sqlite3_open(p, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "CREATE TABLE t (x)", NULL, NULL,
				      NULL),
			 SQLITE_OK);
	sqlite3_close(h);
	chmod(p, 0600);
	snprintf(msg, sizeof(msg),
		 "%s: an SQLite database, but not an aalgate state store (it "
		 "has no schema_version)",
		 p);
	open_fails(p, NULL, AG_ERR_INVALID, msg);
	assert_int_equal(sql_int(p, "SELECT count(*) FROM sqlite_master"), 1);

	/* A symbolic link, even to a good store. */
	ag_store_close(open_ok(d->db, NULL));
	snprintf(p, sizeof(p), "%s/link.db", d->path);
	assert_int_equal(symlink(d->db, p), 0);
	snprintf(msg, sizeof(msg),
		 "%s: is a symbolic link; refusing to follow it", p);
	open_fails(p, NULL, AG_ERR_IO, msg);

	/* Writable by others. */
	assert_int_equal(chmod(d->db, 0620), 0);
	snprintf(msg, sizeof(msg),
		 "%s: writable by group or others (mode 0620); make it 0600",
		 d->db);
	open_fails(d->db, NULL, AG_ERR_INVALID, msg);
	assert_int_equal(chmod(d->db, 0600), 0);

	/* A directory. */
	snprintf(p, sizeof(p), "%s/dir.db", d->path);
	assert_int_equal(mkdir(p, 0700), 0);
	struct ag_store_opts ro = {.read_only = true};
	snprintf(msg, sizeof(msg), "%s: not a regular file", p);
	open_fails(p, &ro, AG_ERR_IO, msg);

	/* A directory anyone may write to (not sticky). */
	snprintf(p, sizeof(p), "%s/open", d->path);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(chmod(p, 0777), 0);
	char db[500];
	snprintf(db, sizeof(db), "%s/state.db", p);
	snprintf(msg, sizeof(msg),
		 "%s: the state's directory is writable by group or others "
		 "(mode 0777); others could replace its files",
		 p);
	open_fails(db, NULL, AG_ERR_INVALID, msg);
	assert_int_equal(access(db, F_OK), -1);

	/* A directory reached through a symbolic link is fine: only the
	 * file itself must not be a link. */
	snprintf(p, sizeof(p), "%s/via", d->path);
	assert_int_equal(symlink(d->path, p), 0);
	snprintf(db, sizeof(db), "%s/via/state.db", d->path);
	struct ag_store *s = open_ok(db, NULL);
	add_ok(s, d->p, "alice", "password", NULL, -1);
	ag_store_close(s);
	assert_int_equal(sql_int(d->db, "SELECT count(*) FROM enrolments"), 1);

	/* Read-only opens never create. */
	snprintf(p, sizeof(p), "%s/missing.db", d->path);
	snprintf(msg, sizeof(msg),
		 "%s: cannot open: No such file or directory", p);
	open_fails(p, &ro, AG_ERR_IO, msg);
	assert_int_equal(access(p, F_OK), -1);

	open_fails("", NULL, AG_ERR_USAGE, "no state file given");
	open_fails("postgresql://db/aalgate", NULL, AG_ERR_USAGE,
		   "postgresql://db/aalgate: the PostgreSQL backend is not "
		   "built yet; give a file for the SQLite backend");
}

/* ---- enrolment ---------------------------------------------------------- */

static void test_enroll(void **state)
{
	struct dir *d = *state;
	struct ag_store *s = open_ok(d->db, NULL);
	struct ag_enroll_result r;
	struct ag_error err;

	r = add_ok(s, d->p, "alice", "password", NULL, -1);
	assert_true(r.binding.bootstrap);
	assert_int_equal(r.binding.required, 0);
	assert_int_equal(r.remaining, 1);
	assert_int_equal(r.journal_seq, 1);
	r = add_ok(s, d->p, "alice", "totp", "phone", 1);
	assert_false(r.binding.bootstrap);
	assert_int_equal(r.remaining, 2);
	assert_int_equal(r.journal_seq, 2);
	add_ok(s, d->p, "bob", "helpdesk_video_id", "", -1);

	add_fails(s, d->p, "alice", "totp", "phone", 2, AG_ERR_INVALID,
		  AG_ENROLL_EXISTS,
		  "'alice' already has 'totp' (label 'phone') enrolled");
	add_fails(s, d->p, "alice", "totpp", NULL, 2, AG_ERR_INVALID,
		  AG_ENROLL_FAILED,
		  "unknown method 'totpp' (not in policy.yaml's catalogue); "
		  "did you mean 'totp'?");
	add_fails(s, d->p, "alice", "kba", NULL, 3, AG_ERR_INVALID,
		  AG_ENROLL_FAILED,
		  "method 'kba' is prohibited (SP 800-63B-4 §3.1.1.2): it is "
		  "never an authenticator");
	add_fails(s, d->p, "", "totp", NULL, 3, AG_ERR_USAGE,
		  AG_ENROLL_FAILED, "the account is empty");
	add_fails(s, d->p, "al\nice", "totp", NULL, 3, AG_ERR_INVALID,
		  AG_ENROLL_FAILED, "the account holds a control character");
	add_fails(s, d->p, "alice", "totp", "\xff\xfe", 3, AG_ERR_INVALID,
		  AG_ENROLL_FAILED, "the label is not UTF-8");
	char big[AG_STORE_ACCOUNT_MAX + 2];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	add_fails(s, d->p, big, "totp", NULL, 3, AG_ERR_LIMIT,
		  AG_ENROLL_FAILED, "the account is longer than 256 bytes");
	ag_error_init(&err);
	struct ag_enroll_auth bad = {.assurance = {.aal = 4}, .source = "x"};
	assert_int_equal(ag_store_enroll_add(s, d->p, "alice", "push", NULL,
					     &bad, 1, &r, &err),
			 AG_ERR_USAGE);

	/* Everything, ordered by account, method, label. */
	struct ag_enrolments l = {0};
	assert_int_equal(ag_store_enroll_list(s, NULL, &l, NULL), AG_OK);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0].account, "alice");
	assert_string_equal(l.v[0].method, "password");
	assert_string_equal(l.v[1].account, "alice");
	assert_string_equal(l.v[1].method, "totp");
	assert_string_equal(l.v[1].label, "phone");
	assert_string_equal(l.v[2].account, "bob");
	assert_string_equal(l.v[2].method, "helpdesk_video_id");
	ag_enrolments_release(&l);
	assert_int_equal(ag_store_enroll_list(s, "carol", &l, NULL), AG_OK);
	assert_int_equal(l.n, 0);

	/* Remove: exact label, and a missing one. */
	ag_error_init(&err);
	assert_int_equal(ag_store_enroll_remove(s, "alice", "totp", NULL, 5,
						&r, &err),
			 AG_ERR_NOT_FOUND);
	assert_int_equal(r.status, AG_ENROLL_MISSING);
	assert_string_equal(err.msg, "'alice' has no 'totp' enrolled");
	ag_error_init(&err);
	assert_int_equal(ag_store_enroll_remove(s, "alice", "totp", "phone", 5,
						&r, &err),
			 AG_OK);
	assert_int_equal(r.status, AG_ENROLL_DONE);
	assert_int_equal(r.remaining, 1);
	assert_int_equal(r.journal_seq, 4);
	assert_int_equal(ag_store_enroll_list(s, "alice", &l, NULL), AG_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].method, "password");
	ag_enrolments_release(&l);
	/* A method the policy no longer has can still be removed. */
	assert_int_equal(ag_store_enroll_remove(s, "bob", "helpdesk_video_id",
						"", 6, &r, NULL),
			 AG_OK);
	assert_int_equal(r.remaining, 0);

	uint64_t pending = 0;
	assert_int_equal(ag_store_journal_pending(s, &pending, NULL), AG_OK);
	assert_int_equal(pending, 5);
	ag_store_close(s);
	/* The refused changes left no journal rows. */
	assert_int_equal(sql_int(d->db, "SELECT count(*) FROM journal"), 5);
	assert_int_equal(sql_int(d->db, "SELECT count(*) FROM accounts"), 2);
}

static void test_enroll_cap(void **state)
{
	struct dir *d = *state;
	struct ag_store *s = open_ok(d->db, NULL);
	char label[32];

	for (int i = 0; i < AG_STORE_ENROLMENTS_MAX; i++) {
		snprintf(label, sizeof(label), "k%d", i);
		add_ok(s, d->p, "alice", "security_key_uv", label, 3);
	}
	add_fails(s, d->p, "alice", "security_key_uv", "one-more", 3,
		  AG_ERR_LIMIT, AG_ENROLL_FAILED,
		  "'alice' already holds 64 enrolments, the most one account "
		  "may");
	ag_store_close(s);

	/* A file edited by hand past the cap: the level is refused, not
	 * judged on part of it. */
	sql_exec(d->db, "INSERT INTO enrolments VALUES "
			"('alice', 'password', 'x', 1)");
	s = open_ok(d->db, NULL);
	struct ag_assurance a = {3, true, true};
	struct ag_error err;
	ag_error_init(&err);
	assert_int_equal(ag_store_account_level(s, d->p, "alice", &a, &err),
			 AG_ERR_LIMIT);
	assert_int_equal(a.aal, 0);
	/* ... but it can still be brought back under it. */
	assert_int_equal(ag_store_enroll_remove(s, "alice", "password", "x", 2,
						NULL, NULL),
			 AG_OK);
	assert_int_equal(level(s, d->p, "alice").aal, 3);
	ag_store_close(s);
}

/* ---- the account's own level ------------------------------------------- */

static void test_own_level(void **state)
{
	struct dir *d = *state;
	struct ag_store *s = open_ok(d->db, NULL);
	struct ag_assurance a;
	struct ag_error err;

	ag_error_init(&err);
	a.aal = 3;
	assert_int_equal(ag_store_account_level(s, d->p, "alice", &a, &err),
			 AG_ERR_NOT_FOUND);
	assert_string_equal(err.msg,
			    "'alice' has no enrolled authenticators");
	assert_int_equal(a.aal, 0);

	add_ok(s, d->p, "alice", "password", NULL, -1);
	a = level(s, d->p, "alice");
	assert_int_equal(a.aal, 1);
	assert_false(a.phishing_resistant);

	add_ok(s, d->p, "alice", "totp", NULL, 1);
	a = level(s, d->p, "alice");
	assert_int_equal(a.aal, 2);
	assert_false(a.phishing_resistant);
	assert_false(a.hardware);

	add_ok(s, d->p, "alice", "security_key_uv", NULL, 2);
	a = level(s, d->p, "alice");
	assert_int_equal(a.aal, 3);
	assert_true(a.phishing_resistant);
	assert_true(a.hardware);

	/* Only activation factors: AAL0, reported as such. */
	add_ok(s, d->p, "pat", "pin", NULL, -1);
	a = level(s, d->p, "pat");
	assert_int_equal(a.aal, 0);

	/* A method the policy does not define: the level is not judged. */
	add_ok(s, d->p, "bob", "helpdesk_video_id", NULL, -1);
	struct ag_policy *other =
		policy_ok("workflows:\n  staff: { aal: 2 }\n");
	ag_error_init(&err);
	assert_int_equal(ag_store_account_level(s, other, "bob", &a, &err),
			 AG_ERR_INVALID);
	assert_string_equal(err.msg,
			    "'bob' has 'helpdesk_video_id' enrolled, which "
			    "policy.yaml does not define; its level cannot be "
			    "judged");
	/* ... nor can a binding to that account. */
	add_fails(s, other, "bob", "totp", NULL, 3, AG_ERR_INVALID,
		  AG_ENROLL_FAILED,
		  "'bob' has 'helpdesk_video_id' enrolled, which policy.yaml "
		  "does not define; its level cannot be judged");
	ag_policy_free(other);
	ag_store_close(s);
}

/* ---- the binding rule --------------------------------------------------- */

static struct ag_binding rule(const struct ag_catalogue *cat,
			      const char *const *have, const char *add)
{
	uint16_t idx[16];
	size_t n = 0;
	struct ag_binding b;
	for (; have && have[n]; n++) {
		int k = ag_catalogue_find(cat, have[n]);
		assert_true(k >= 0);
		idx[n] = (uint16_t)k;
	}
	int m = ag_catalogue_find(cat, add);
	assert_true(m >= 0);
	memset(&b, 0x5a, sizeof(b));
	ag_binding_require(cat, idx, n, (uint16_t)m, &b);
	return b;
}

static void expect_rule(const struct ag_catalogue *cat,
			const char *const *have, const char *add,
			bool bootstrap, int account, int method, int required)
{
	struct ag_binding b = rule(cat, have, add);
	assert_int_equal(b.bootstrap, bootstrap);
	assert_int_equal(b.account_aal, account);
	assert_int_equal(b.method_aal, method);
	assert_int_equal(b.required, required);
	struct ag_assurance below = {required - 1, true, true};
	struct ag_assurance at = {required, false, false};
	if (bootstrap) {
		assert_true(ag_binding_allowed(&b, NULL));
	} else {
		assert_false(ag_binding_allowed(&b, NULL));
		assert_false(ag_binding_allowed(&b, &below));
		assert_true(ag_binding_allowed(&b, &at));
	}
}

static void test_binding_rule(void **state)
{
	struct dir *d = *state;
	const struct ag_catalogue *cat = &d->p->catalogue;

	/* First authenticator: a bootstrap. */
	expect_rule(cat, NULL, "password", true, 0, 1, 0);
	expect_rule(cat, NULL, "security_key_uv", true, 0, 3, 0);
	/* Only activation factors reach nothing: still a bootstrap. */
	expect_rule(cat, LIST("pin"), "totp", true, 0, 2, 0);
	/* password (AAL1) + totp: totp helps reach AAL2; min is 1. */
	expect_rule(cat, LIST("password"), "totp", false, 1, 2, 1);
	/* A second OTP on a password + OTP account helps reach AAL2 with
	 * the password: AAL2, not the AAL1 it has alone. */
	expect_rule(cat, LIST("password", "totp"), "totp", false, 2, 2, 2);
	expect_rule(cat, LIST("password", "totp"), "push", false, 2, 2, 2);
	/* A new password there too. */
	expect_rule(cat, LIST("password", "totp"), "password", false, 2, 2,
		    2);
	/* AAL3 account, new password: it adds AAL1 on its own. */
	expect_rule(cat, LIST("security_key_uv"), "password", false, 3, 1, 1);
	/* AAL3 account with a password: a new OTP reaches AAL2 with it. */
	expect_rule(cat, LIST("password", "security_key_uv"), "totp", false, 3,
		    2, 2);
	/* A pin unlocks the security key: AAL3 (hardware PR + know). */
	expect_rule(cat, LIST("security_key"), "pin", false, 1, 3, 1);
	expect_rule(cat, LIST("password", "security_key"), "security_key_uv",
		    false, 3, 3, 3);
	/* A method that adds nothing still needs an authenticated caller. */
	expect_rule(cat, LIST("password", "totp"), "email_otp", false, 2, 0,
		    1);
	/* Repeats in the enrolled list change nothing. */
	expect_rule(cat, LIST("password", "password", "totp", "totp"), "totp",
		    false, 2, 2, 2);
	assert_false(ag_binding_allowed(NULL, NULL));

	/* The store applies it inside the write, and journals it. */
	struct ag_store *s = open_ok(d->db, NULL);
	add_ok(s, d->p, "alice", "password", NULL, -1);
	add_ok(s, d->p, "alice", "totp", "phone", 1);
	add_fails(s, d->p, "alice", "totp", "tablet", -1, AG_ERR_INVALID,
		  AG_ENROLL_REFUSED,
		  "binding 'totp' (label 'tablet') to 'alice' needs "
		  "authentication at AAL2 (the account is at AAL2; 'totp' "
		  "helps reach AAL2); no authentication was shown");
	add_fails(s, d->p, "alice", "totp", "tablet", 1, AG_ERR_INVALID,
		  AG_ENROLL_REFUSED,
		  "binding 'totp' (label 'tablet') to 'alice' needs "
		  "authentication at AAL2 (the account is at AAL2; 'totp' "
		  "helps reach AAL2); the authentication shown is AAL1");
	struct ag_enroll_result r = add_ok(s, d->p, "alice", "totp", "tablet",
					   2);
	assert_int_equal(r.binding.required, 2);
	ag_store_close(s);
	assert_int_equal(sql_int(d->db, "SELECT count(*) FROM enrolments"), 3);
	assert_int_equal(sql_int(d->db, "SELECT count(*) FROM journal"), 3);
	assert_int_equal(sql_int(d->db,
				 "SELECT count(*) FROM journal WHERE seq = 1 "
				 "AND json_extract(fields, '$.bootstrap') = 1 "
				 "AND json_extract(fields, '$.evidence') IS "
				 "NULL"),
			 1);
	assert_int_equal(sql_int(d->db,
				 "SELECT count(*) FROM journal WHERE seq = 3 "
				 "AND json_extract(fields, '$.bootstrap') = 0 "
				 "AND json_extract(fields, "
				 "'$.required_aal') = 2 AND json_extract(fields, "
				 "'$.evidence.aal') = 2 AND json_extract("
				 "fields, '$.evidence.source') = 'asserted'"),
			 1);
}

/* ---- concurrency -------------------------------------------------------- */

#define PER_CHILD 150
#define SHARED_PER_CHILD 30 /* two of these fit one account's cap */

/* Two processes write one file at once: each its own accounts, and both
 * one shared account. */
static void test_two_processes(void **state)
{
	struct dir *d = *state;
	pid_t pid[2];

	ag_store_close(open_ok(d->db, NULL));
	for (int c = 0; c < 2; c++) {
		pid[c] = fork();
		assert_true(pid[c] >= 0);
		if (pid[c] == 0) {
			struct ag_store_opts o = {.busy_ms = 20000};
			struct ag_store *s = NULL;
			struct ag_error err;
			char acct[32], label[32];
			ag_error_init(&err);
			if (ag_store_open(d->db, &o, &s, &err))
				_exit(3);
			for (int i = 0; i < PER_CHILD; i++) {
				snprintf(acct, sizeof(acct), "%c-%d", 'a' + c,
					 i);
				snprintf(label, sizeof(label), "%c-%d",
					 'a' + c, i);
				if (ag_store_enroll_add(s, d->p, acct,
							"password", NULL, NULL,
							i, NULL, &err) ||
				    (i < SHARED_PER_CHILD &&
				     ag_store_enroll_add(s, d->p, "shared",
							 "security_key_uv",
							 label, asserted(3), i,
							 NULL, &err))) {
					fprintf(stderr, "child %d: %s\n", c,
						err.msg);
					_exit(4);
				}
			}
			ag_store_close(s);
			_exit(0);
		}
	}
	for (int c = 0; c < 2; c++) {
		int status;
		assert_int_equal(waitpid(pid[c], &status, 0), pid[c]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	char ok[32];
	sql_text(d->db, "PRAGMA integrity_check", ok, sizeof(ok));
	assert_string_equal(ok, "ok");
	assert_int_equal(sql_int(d->db, "SELECT count(*) FROM enrolments"),
			 2 * PER_CHILD + 2 * SHARED_PER_CHILD);
	assert_int_equal(sql_int(d->db, "SELECT count(*) FROM enrolments "
					"WHERE account = 'shared'"),
			 2 * SHARED_PER_CHILD);
	assert_int_equal(sql_int(d->db, "SELECT count(DISTINCT account) FROM "
					"enrolments WHERE account LIKE 'a-%'"),
			 PER_CHILD);
	assert_int_equal(sql_int(d->db, "SELECT count(DISTINCT account) FROM "
					"enrolments WHERE account LIKE 'b-%'"),
			 PER_CHILD);
	/* One journal row per change, numbered without gaps. */
	assert_int_equal(sql_int(d->db, "SELECT count(*) FROM journal"),
			 2 * PER_CHILD + 2 * SHARED_PER_CHILD);
	assert_int_equal(sql_int(d->db, "SELECT min(seq) FROM journal"), 1);
	assert_int_equal(sql_int(d->db, "SELECT max(seq) FROM journal"),
			 2 * PER_CHILD + 2 * SHARED_PER_CHILD);
	/* Exactly one of the two made the bootstrap of 'shared'. */
	assert_int_equal(sql_int(d->db,
				 "SELECT count(*) FROM journal WHERE "
				 "json_extract(fields, '$.account') = 'shared' "
				 "AND json_extract(fields, '$.bootstrap') = 1"),
			 1);
}

struct reader {
	struct ag_store *s;
	const struct ag_policy *p;
	int bad;
};

static void *read_levels(void *arg)
{
	struct reader *r = arg;
	for (int i = 0; i < 300; i++) {
		struct ag_assurance a;
		if (ag_store_account_level(r->s, r->p, "alice", &a, NULL) ||
		    a.aal != 2)
			r->bad++;
	}
	return NULL;
}

/* Threads read through the pool while another thread writes. */
static void test_threads(void **state)
{
	struct dir *d = *state;
	struct ag_store_opts o = {.connections = 3};
	struct ag_store *s = open_ok(d->db, &o);
	pthread_t t[6];
	struct reader r[6];
	char acct[32];

	add_ok(s, d->p, "alice", "password", NULL, -1);
	add_ok(s, d->p, "alice", "totp", NULL, 1);
	for (int i = 0; i < 6; i++) {
		r[i] = (struct reader){.s = s, .p = d->p};
		assert_int_equal(pthread_create(&t[i], NULL, read_levels,
						&r[i]),
				 0);
	}
	for (int i = 0; i < 50; i++) {
		snprintf(acct, sizeof(acct), "w-%d", i);
		add_ok(s, d->p, acct, "password", NULL, -1);
	}
	for (int i = 0; i < 6; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(r[i].bad, 0);
	}
	ag_store_close(s);
	assert_int_equal(sql_int(d->db, "SELECT count(*) FROM enrolments"), 52);
}

/* Another connection holds the write lock longer than busy_ms. */
static void test_busy(void **state)
{
	struct dir *d = *state;
	struct ag_store_opts o = {.busy_ms = 100};
	struct ag_store *s = open_ok(d->db, &o);
	sqlite3 *h;
	char msg[600];

	assert_int_equal(sqlite3_open(d->db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL),
			 SQLITE_OK);
	snprintf(msg, sizeof(msg),
		 "%s: cannot enrol: the database is locked by another writer "
		 "(waited 100 ms)",
		 d->db);
	add_fails(s, d->p, "alice", "password", NULL, -1, AG_ERR_IO,
		  AG_ENROLL_FAILED, msg);
	/* Readers are not held up by a writer (WAL). */
	struct ag_enrolments l = {0};
	assert_int_equal(ag_store_enroll_list(s, NULL, &l, NULL), AG_OK);
	assert_int_equal(l.n, 0);
	assert_int_equal(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(h);
	add_ok(s, d->p, "alice", "password", NULL, -1);
	ag_store_close(s);
}

/* ---- a read-only store -------------------------------------------------- */

static void test_read_only_open(void **state)
{
	struct dir *d = *state;
	struct ag_store *s = open_ok(d->db, NULL);
	add_ok(s, d->p, "alice", "password", NULL, -1);
	ag_store_close(s);

	struct ag_store_opts ro = {.read_only = true};
	s = open_ok(d->db, &ro);
	assert_int_equal(level(s, d->p, "alice").aal, 1);
	char msg[600];
	snprintf(msg, sizeof(msg),
		 "%s: cannot enrol: the state is read-only (attempt to write "
		 "a readonly database)",
		 d->db);
	add_fails(s, d->p, "bob", "password", NULL, -1, AG_ERR_IO,
		  AG_ENROLL_FAILED, msg);
	struct ag_error err;
	ag_error_init(&err);
	assert_int_equal(ag_store_enroll_remove(s, "alice", "password", NULL,
						1, NULL, &err),
			 AG_ERR_IO);
	snprintf(msg, sizeof(msg),
		 "%s: cannot begin a change: the state is read-only "
		 "(attempt to write a readonly database)",
		 d->db);
	assert_string_equal(err.msg, msg);
	ag_store_close(s);
	assert_int_equal(sql_int(d->db, "SELECT count(*) FROM enrolments"), 1);
}

/* A file mode 0400, as a user who cannot write it (as root, in a child
 * that drops to nobody): a read-write open is refused, a read-only one
 * reads, and writes fail with a clear error. */
static void test_read_only_file(void **state)
{
	struct dir *d = *state;
	int pipefd[2];
	struct {
		int rw_rc, ro_rc, level, add_rc, other_rc;
		char rw_msg[AG_ERRMSG_MAX], add_msg[AG_ERRMSG_MAX];
		char other_msg[AG_ERRMSG_MAX];
	} r;

	char other[400];
	snprintf(other, sizeof(other), "%s/other.db", d->path);
	struct ag_store *s = open_ok(d->db, NULL);
	add_ok(s, d->p, "alice", "password", NULL, -1);
	ag_store_close(s);
	ag_store_close(open_ok(other, NULL));
	if (geteuid() == 0) {
		assert_int_equal(chown(d->path, 65534, 65534), 0);
		assert_int_equal(chown(d->db, 65534, 65534), 0);
		/* Someone else's store, readable by all. */
		assert_int_equal(chown(other, 4242, 4242), 0);
		assert_int_equal(chmod(other, 0644), 0);
	}
	assert_int_equal(chmod(d->db, 0400), 0);
	assert_int_equal(pipe(pipefd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ag_error err;
		struct ag_store_opts ro = {.read_only = true};
		close(pipefd[0]);
		memset(&r, 0, sizeof(r));
		if (geteuid() == 0 && (setgid(65534) || setuid(65534)))
			_exit(3);
		ag_error_init(&err);
		s = NULL;
		r.rw_rc = (int)ag_store_open(d->db, NULL, &s, &err);
		snprintf(r.rw_msg, sizeof(r.rw_msg), "%s", err.msg);
		ag_store_close(s);
		s = NULL;
		r.ro_rc = (int)ag_store_open(d->db, &ro, &s, &err);
		if (r.ro_rc == AG_OK) {
			struct ag_assurance a;
			ag_store_account_level(s, d->p, "alice", &a, NULL);
			r.level = a.aal;
			ag_error_init(&err);
			r.add_rc = (int)ag_store_enroll_add(s, d->p, "bob",
							    "password", NULL,
							    NULL, 1, NULL,
							    &err);
			snprintf(r.add_msg, sizeof(r.add_msg), "%s", err.msg);
		}
		ag_store_close(s);
		s = NULL;
		ag_error_init(&err);
		r.other_rc = (int)ag_store_open(other, &ro, &s, &err);
		snprintf(r.other_msg, sizeof(r.other_msg), "%s", err.msg);
		ag_store_close(s);
		if (write(pipefd[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(4);
		_exit(0);
	}
	close(pipefd[1]);
	memset(&r, 0, sizeof(r));
	ssize_t n = read(pipefd[0], &r, sizeof(r));
	close(pipefd[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(n, (ssize_t)sizeof(r));

	char want[AG_ERRMSG_MAX];
	assert_int_equal(r.rw_rc, AG_ERR_IO);
	snprintf(want, sizeof(want),
		 "%s: cannot open for writing: Permission denied", d->db);
	assert_string_equal(r.rw_msg, want);
	assert_int_equal(r.ro_rc, AG_OK);
	assert_int_equal(r.level, 1);
	assert_int_equal(r.add_rc, AG_ERR_IO);
	snprintf(want, sizeof(want),
		 "%s: cannot enrol: the state is read-only (attempt to write "
		 "a readonly database)",
		 d->db);
	assert_string_equal(r.add_msg, want);
	if (geteuid() == 0) {
		assert_int_equal(r.other_rc, AG_ERR_INVALID);
		snprintf(want, sizeof(want),
			 "%s: owned by uid 4242, not by this user (uid 65534) "
			 "or root",
			 other);
		assert_string_equal(r.other_msg, want);
	}
	assert_int_equal(chmod(d->db, 0600), 0);
	assert_int_equal(sql_int(d->db, "SELECT count(*) FROM enrolments"), 1);
}

/* Writes that start failing part way (RLIMIT_FSIZE, as a full disk
 * would): each failure is an error, never a crash or a half change; what
 * was acknowledged is there afterwards. */
static void test_failing_writes(void **state)
{
	struct dir *d = *state;
	int pipefd[2];
	struct {
		int acked, fail_rc;
		char why[AG_ERRMSG_MAX];
	} r;

	ag_store_close(open_ok(d->db, NULL));
	assert_int_equal(pipe(pipefd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = {512 * 1024, 512 * 1024};
		struct ag_store *s = NULL;
		struct ag_error err;
		char acct[200];
		close(pipefd[0]);
		memset(&r, 0, sizeof(r));
		signal(SIGXFSZ, SIG_IGN);
		ag_error_init(&err);
		if (ag_store_open(d->db, NULL, &s, &err))
			_exit(3);
		if (setrlimit(RLIMIT_FSIZE, &rl))
			_exit(4);
		r.fail_rc = -1;
		for (int i = 0; i < 5000; i++) {
			snprintf(acct, sizeof(acct),
				 "account-%06d-padding-padding-padding-padding-"
				 "padding-padding-padding-padding-padding",
				 i);
			ag_code rc = ag_store_enroll_add(
				s, d->p, acct, "password", NULL, NULL, i,
				NULL, &err);
			if (rc != AG_OK) {
				r.fail_rc = (int)rc;
				snprintf(r.why, sizeof(r.why), "%s", err.msg);
				break;
			}
			r.acked++;
		}
		ag_store_close(s);
		if (write(pipefd[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(5);
		_exit(0);
	}
	close(pipefd[1]);
	memset(&r, 0, sizeof(r));
	ssize_t n = read(pipefd[0], &r, sizeof(r));
	close(pipefd[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(n, (ssize_t)sizeof(r));
	assert_true(r.acked > 10);
	assert_true(r.acked < 5000);
	assert_int_equal(r.fail_rc, AG_ERR_IO);
	/* SQLite reports EFBIG as an I/O error; the system's reason is
	 * added when SQLite kept it. */
	char want[AG_ERRMSG_MAX];
	snprintf(want, sizeof(want), "%s: cannot enrol: disk I/O error",
		 d->db);
	if (strncmp(r.why, want, strlen(want)) != 0)
		fail_msg("unexpected message: %s", r.why);

	char ok[32];
	sql_text(d->db, "PRAGMA integrity_check", ok, sizeof(ok));
	assert_string_equal(ok, "ok");
	long long rows = sql_int(d->db, "SELECT count(*) FROM enrolments");
	assert_true(rows >= r.acked);
	/* Every change still has its journal row, and no more. */
	assert_int_equal(sql_int(d->db, "SELECT count(*) FROM journal"), rows);
}

/* ---- the journal into the decision log ---------------------------------- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long size = ftell(f);
	assert_true(size >= 0);
	rewind(f);
	char *buf = malloc((size_t)size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
	buf[size] = '\0';
	fclose(f);
	return buf;
}

/* The records of the log, parsed. */
static json_t *records(const char *path)
{
	char *buf = slurp(path), *save = NULL;
	json_t *arr = json_array();
	for (char *line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		json_error_t je;
		json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &je);
		if (!o)
			fail_msg("bad log line: %s", line);
		json_array_append_new(arr, o);
	}
	free(buf);
	return arr;
}

static void verify_log(const char *path, uint64_t want)
{
	struct ag_dlog_verify v;
	struct ag_error err;
	ag_error_init(&err);
	assert_int_equal(ag_dlog_verify_file(path, &v, &err), AG_OK);
	assert_int_equal(v.records, want);
	assert_int_equal(v.bad_line, 0);
}

static const char *str_of(json_t *rec, const char *key)
{
	json_t *v = json_object_get(rec, key);
	if (!json_is_string(v))
		fail_msg("no string '%s'", key);
	return json_string_value(v);
}

static long long int_of(json_t *rec, const char *key)
{
	json_t *v = json_object_get(rec, key);
	if (!json_is_integer(v))
		fail_msg("no integer '%s'", key);
	return json_integer_value(v);
}

static void drain(struct ag_store *s, const char *log, uint64_t want)
{
	struct ag_dlog *l = NULL;
	struct ag_error err;
	uint64_t n = 99;
	ag_error_init(&err);
	assert_int_equal(ag_dlog_open(log, &l, &err), AG_OK);
	ag_code rc = ag_store_journal_drain(s, l, &n, &err);
	if (rc != AG_OK)
		fail_msg("drain: %s", err.msg);
	ag_dlog_close(l);
	assert_int_equal(n, want);
}

static void test_journal_drain(void **state)
{
	struct dir *d = *state;
	struct ag_store *s = open_ok(d->db, NULL);
	uint64_t pending = 0;
	char id[40];

	snprintf(id, sizeof(id), "%s", ag_store_id(s));
	add_ok(s, d->p, "alice", "password", NULL, -1);
	add_ok(s, d->p, "alice", "totp", "phone", 1);
	assert_int_equal(ag_store_enroll_remove(s, "alice", "totp", "phone",
						1700000100, NULL, NULL),
			 AG_OK);
	assert_int_equal(ag_store_journal_pending(s, &pending, NULL), AG_OK);
	assert_int_equal(pending, 3);

	drain(s, d->log, 3);
	assert_int_equal(ag_store_journal_pending(s, &pending, NULL), AG_OK);
	assert_int_equal(pending, 0);
	drain(s, d->log, 0);
	verify_log(d->log, 3);

	json_t *recs = records(d->log);
	assert_int_equal(json_array_size(recs), 3);
	static const char *const types[] = {"enroll_add", "enroll_add",
					    "enroll_remove"};
	for (size_t i = 0; i < 3; i++) {
		json_t *r = json_array_get(recs, i);
		assert_int_equal(int_of(r, "seq"), (long long)i + 1);
		assert_string_equal(str_of(r, "type"), types[i]);
		assert_string_equal(str_of(r, "store"), id);
		assert_int_equal(int_of(r, "journal_seq"), (long long)i + 1);
		assert_string_equal(str_of(r, "account"), "alice");
	}
	json_t *r0 = json_array_get(recs, 0);
	assert_string_equal(str_of(r0, "time"), "2023-11-14T22:13:20Z");
	assert_true(json_is_true(json_object_get(r0, "bootstrap")));
	json_t *r1 = json_array_get(recs, 1);
	assert_string_equal(str_of(r1, "label"), "phone");
	assert_int_equal(int_of(json_object_get(r1, "evidence"), "aal"), 1);
	json_t *r2 = json_array_get(recs, 2);
	assert_string_equal(str_of(r2, "time"), "2023-11-14T22:15:00Z");
	assert_int_equal(int_of(r2, "remaining"), 1);
	json_decref(recs);
	/* Each row remembers where it went. */
	assert_int_equal(sql_int(d->db, "SELECT logged FROM journal "
					"WHERE seq = 3"),
			 3);

	/* A crash after the append, before the mark: the row goes again,
	 * and the repeat is recognisable by store and journal_seq. */
	sql_exec(d->db, "UPDATE journal SET logged = NULL WHERE seq = 3");
	drain(s, d->log, 1);
	verify_log(d->log, 4);
	recs = records(d->log);
	json_t *r3 = json_array_get(recs, 3);
	assert_int_equal(int_of(r3, "journal_seq"), 3);
	assert_string_equal(str_of(r3, "store"), id);
	assert_string_equal(str_of(r3, "type"), "enroll_remove");
	json_decref(recs);

	/* Rows that cannot be records (hand-edited) are logged as such and
	 * do not hold up the rows after them. */
	sql_exec(d->db,
		 "INSERT INTO journal (time, type, fields) VALUES "
		 "(1, 'enroll_add', 'not json'),"
		 "(2, 'enroll_add', '{\"seq\":5}'),"
		 "(3, 'Bad Type', '{}'),"
		 "(4, 'enroll_add', '{\"a\":1,\"a\":2}'),"
		 "(5, 'enroll_add', '[1]'),"
		 "(6, 'enroll_add', x'7b7d'),"
		 "(7, 'enroll_add', '{\"x\":\"' || hex(zeroblob(20000)) || "
		 "'\"}')");
	add_ok(s, d->p, "bob", "password", NULL, -1);
	drain(s, d->log, 8);
	verify_log(d->log, 12);
	recs = records(d->log);
	static const char *const why[] = {
		"the fields are not a JSON object",
		"the fields hold 'seq' of their own",
		"the change type is not a name",
		"the fields are not a JSON object",
		"the fields are not a JSON object",
		"the fields are not a JSON object",
		"the fields are not a JSON object",
	};
	for (size_t i = 0; i < 7; i++) {
		json_t *r = json_array_get(recs, 4 + i);
		assert_string_equal(str_of(r, "type"), "journal_invalid");
		assert_int_equal(int_of(r, "journal_seq"), (long long)i + 4);
		assert_string_equal(str_of(r, "why"), why[i]);
	}
	json_t *last = json_array_get(recs, 11);
	assert_string_equal(str_of(last, "type"), "enroll_add");
	assert_string_equal(str_of(last, "account"), "bob");
	assert_int_equal(int_of(last, "journal_seq"), 11);
	json_decref(recs);
	assert_int_equal(ag_store_journal_pending(s, &pending, NULL), AG_OK);
	assert_int_equal(pending, 0);

	/* A read-only store cannot mark rows, so it does not drain. */
	ag_store_close(s);
	add_ok(s = open_ok(d->db, NULL), d->p, "carol", "password", NULL, -1);
	ag_store_close(s);
	struct ag_store_opts ro = {.read_only = true};
	s = open_ok(d->db, &ro);
	struct ag_dlog *l = NULL;
	struct ag_error err;
	uint64_t n = 9;
	ag_error_init(&err);
	assert_int_equal(ag_dlog_open(d->log, &l, &err), AG_OK);
	assert_int_equal(ag_store_journal_drain(s, l, &n, &err), AG_ERR_IO);
	assert_int_equal(n, 0);
	ag_dlog_close(l);
	ag_store_close(s);
	verify_log(d->log, 12);
}

/* The decision log fails part way through a drain (RLIMIT_FSIZE in a
 * child): the drain stops with an error, exactly the rows that reached
 * the log are marked, the rest wait, and the next drain into a working
 * log continues where it stopped. */
static void test_journal_log_fails(void **state)
{
	struct dir *d = *state;
	struct ag_store *s = open_ok(d->db, NULL);
	char acct[32], pad[1100];
	struct stat st;
	int pipefd[2];
	struct {
		int rc;
		uint64_t drained, pending;
		char why[AG_ERRMSG_MAX];
	} r;

	for (int i = 0; i < 100; i++) {
		snprintf(acct, sizeof(acct), "u%03d", i);
		add_ok(s, d->p, acct, "password", NULL, -1);
	}
	ag_store_close(s); /* a fresh, small -wal for the child */

	/* The log already holds 100 kB of decisions. */
	struct ag_dlog *l = NULL;
	assert_int_equal(ag_dlog_open(d->log, &l, NULL), AG_OK);
	memset(pad, 'x', 1000);
	pad[1000] = '\0';
	for (int i = 0; i < 100; i++) {
		char f[1200];
		snprintf(f, sizeof(f), "\"type\":\"decision\",\"pad\":\"%s\"",
			 pad);
		assert_int_equal(ag_dlog_append(l, f, strlen(f), NULL), AG_OK);
	}
	ag_dlog_close(l);
	assert_int_equal(stat(d->log, &st), 0);

	assert_int_equal(pipe(pipefd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Room for some 20 more records of about 300 bytes: the
		 * log fails inside the first batch. */
		rlim_t lim = (rlim_t)st.st_size + 6000;
		struct rlimit rl = {lim, lim};
		struct ag_error err;
		close(pipefd[0]);
		memset(&r, 0, sizeof(r));
		signal(SIGXFSZ, SIG_IGN);
		s = NULL;
		l = NULL;
		if (ag_store_open(d->db, NULL, &s, NULL) ||
		    ag_dlog_open(d->log, &l, NULL))
			_exit(3);
		if (setrlimit(RLIMIT_FSIZE, &rl))
			_exit(4);
		ag_error_init(&err);
		r.rc = (int)ag_store_journal_drain(s, l, &r.drained, &err);
		snprintf(r.why, sizeof(r.why), "%s", err.msg);
		ag_store_journal_pending(s, &r.pending, NULL);
		ag_dlog_close(l);
		ag_store_close(s);
		if (write(pipefd[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(5);
		_exit(0);
	}
	close(pipefd[1]);
	memset(&r, 0, sizeof(r));
	ssize_t n = read(pipefd[0], &r, sizeof(r));
	close(pipefd[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(n, (ssize_t)sizeof(r));

	assert_int_equal(r.rc, AG_ERR_IO);
	assert_true(r.drained > 5);
	assert_true(r.drained < 32); /* inside the first batch */
	assert_int_equal(r.pending, 100 - r.drained);
	char want[AG_ERRMSG_MAX];
	snprintf(want, sizeof(want), "%s: journal row %llu not logged: ",
		 d->db, (unsigned long long)r.drained + 1);
	if (strncmp(r.why, want, strlen(want)) != 0)
		fail_msg("unexpected message: %s", r.why);

	/* Reopening cuts what the failed write left; the drain goes on. */
	s = open_ok(d->db, NULL);
	drain(s, d->log, 100 - r.drained);
	ag_store_close(s);
	verify_log(d->log, 200);
	json_t *recs = records(d->log);
	for (size_t i = 0; i < 100; i++) {
		json_t *rec = json_array_get(recs, 100 + i);
		assert_int_equal(int_of(rec, "journal_seq"), (long long)i + 1);
	}
	json_decref(recs);
}

/* Many rows: more than one batch, in order. */
static void test_journal_batches(void **state)
{
	struct dir *d = *state;
	struct ag_store *s = open_ok(d->db, NULL);
	char acct[32];

	for (int i = 0; i < 100; i++) {
		snprintf(acct, sizeof(acct), "u%03d", i);
		add_ok(s, d->p, acct, "password", NULL, -1);
	}
	drain(s, d->log, 100);
	verify_log(d->log, 100);
	json_t *recs = records(d->log);
	for (size_t i = 0; i < 100; i++) {
		json_t *r = json_array_get(recs, i);
		snprintf(acct, sizeof(acct), "u%03zu", i);
		assert_int_equal(int_of(r, "journal_seq"), (long long)i + 1);
		assert_string_equal(str_of(r, "account"), acct);
	}
	json_decref(recs);
	ag_store_close(s);
}

/* ---- journal rows, recovery codes, the grant query --------------------- */

static void test_journal_add(void **state)
{
	struct dir *d = *state;
	struct ag_store *s = open_ok(d->db, NULL);
	struct ag_error err;
	uint64_t seq = 0, pending = 0;

	ag_error_init(&err);
	assert_int_equal(ag_store_journal_add(s, "sink_test",
					      "{\"obligation\":\"alert\","
					      "\"to\":\"soc\"}",
					      1700000000, &seq, &err),
			 AG_OK);
	assert_int_equal(seq, 1);
	/* Bad input writes nothing. */
	static const struct {
		const char *type, *fields, *msg;
		ag_code code;
	} bad[] = {
		{"Bad Type", "{}",
		 "journal row type 'Bad Type' is not a lower_case name of at "
		 "most 32 letters",
		 AG_ERR_INVALID},
		{"x", "[1]", "journal row 'x': the fields are not a JSON object",
		 AG_ERR_INVALID},
		{"x", "{\"time\":1}",
		 "journal row 'x': the fields hold 'time' of their own",
		 AG_ERR_INVALID},
		{"x", "{\"a\":1,\"a\":2}",
		 "journal row 'x': the fields are not a JSON object",
		 AG_ERR_INVALID},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ag_error_init(&err);
		seq = 9;
		assert_int_equal(ag_store_journal_add(s, bad[i].type,
						      bad[i].fields, 1, &seq,
						      &err),
				 bad[i].code);
		assert_string_equal(err.msg, bad[i].msg);
		assert_int_equal(seq, 0);
	}
	char *big = malloc(AG_STORE_FIELDS_MAX + 16);
	assert_non_null(big);
	snprintf(big, AG_STORE_FIELDS_MAX + 16, "{\"x\":\"%0*d\"}",
		 (int)AG_STORE_FIELDS_MAX, 0);
	assert_int_equal(ag_store_journal_add(s, "x", big, 1, NULL, &err),
			 AG_ERR_LIMIT);
	free(big);
	assert_int_equal(ag_store_journal_pending(s, &pending, NULL), AG_OK);
	assert_int_equal(pending, 1);
	drain(s, d->log, 1);
	json_t *recs = records(d->log);
	json_t *r = json_array_get(recs, 0);
	assert_string_equal(str_of(r, "type"), "sink_test");
	assert_string_equal(str_of(r, "obligation"), "alert");
	assert_string_equal(str_of(r, "to"), "soc");
	json_decref(recs);
	ag_store_close(s);

	/* A read-only store refuses, and says why. */
	struct ag_store_opts ro = {.read_only = true};
	s = open_ok(d->db, &ro);
	ag_error_init(&err);
	assert_int_equal(ag_store_journal_add(s, "x", "{}", 1, NULL, &err),
			 AG_ERR_IO);
	assert_non_null(strstr(err.msg, "read-only"));
	ag_store_close(s);
}

static void test_recovery_codes(void **state)
{
	struct dir *d = *state;
	struct ag_store *s = open_ok(d->db, NULL);
	struct ag_error err;
	bool spent = false, already = true;

	ag_error_init(&err);
	assert_int_equal(ag_store_code_spent(s, "alice", "s1", &spent, &err),
			 AG_OK);
	assert_false(spent);
	assert_int_equal(ag_store_code_spend(s, "alice", "s1", 1700000000,
					     &already, &err),
			 AG_OK);
	assert_false(already);
	assert_int_equal(ag_store_code_spent(s, "alice", "s1", &spent, &err),
			 AG_OK);
	assert_true(spent);
	/* Another account's code of the same id is its own. */
	assert_int_equal(ag_store_code_spent(s, "bob", "s1", &spent, &err),
			 AG_OK);
	assert_false(spent);
	/* Twice: refused, nothing written. */
	assert_int_equal(ag_store_code_spend(s, "alice", "s1", 1700000001,
					     &already, &err),
			 AG_ERR_INVALID);
	assert_true(already);
	assert_string_equal(err.msg,
			    "recovery code 's1' of 'alice' was spent before; "
			    "a saved code is used once (SP 800-63B-4 "
			    "§4.2.1.1)");
	assert_int_equal(sql_int(d->db, "SELECT count(*) FROM journal WHERE "
					"type = 'recovery_code_spent'"),
			 1);
	drain(s, d->log, 1);
	json_t *recs = records(d->log);
	json_t *r = json_array_get(recs, 0);
	assert_string_equal(str_of(r, "type"), "recovery_code_spent");
	assert_string_equal(str_of(r, "account"), "alice");
	assert_string_equal(str_of(r, "code_id"), "s1");
	json_decref(recs);
	/* Bad names. */
	assert_int_equal(ag_store_code_spend(s, "alice", "", 1, &already,
					     &err),
			 AG_ERR_USAGE);
	assert_string_equal(err.msg, "the code id is empty");
	spent = false;
	assert_int_equal(ag_store_code_spent(s, "al\nice", "x", &spent, &err),
			 AG_ERR_INVALID);
	assert_true(spent); /* fails closed */
	ag_store_close(s);
}

static void test_grant_active_query(void **state)
{
	struct dir *d = *state;
	struct ag_store *s = open_ok(d->db, NULL);
	struct ag_error err;
	bool active = true;

	ag_error_init(&err);
	assert_int_equal(ag_store_grant_active(s, "alice", "admin", NULL,
					       1000, &active, &err),
			 AG_OK);
	assert_false(active);
	sql_exec(d->db,
		 "INSERT INTO grants (id, account, workflow, reason, "
		 "break_glass, approvals_needed, duration, state, requested, "
		 "activated, expires) VALUES "
		 "(1, 'alice', 'admin', 'r', 0, 1, 100, 'active', 900, 1000, "
		 "1100),"
		 "(2, 'bob', 'admin', 'r', 0, 1, 100, 'active', 900, 1000, "
		 "1100),"
		 "(3, 'carol', 'admin', 'r', 0, 1, 100, 'pending', 900, NULL, "
		 "NULL),"
		 "(4, 'dave', 'admin', 'r', 0, 1, 100, 'revoked', 900, 1000, "
		 "1100);"
		 "INSERT INTO grant_hosts VALUES (2, 'db1.example');");
	static const struct {
		const char *acct, *wf, *host;
		int64_t now;
		bool want;
	} cases[] = {
		{"alice", "admin", NULL, 1000, true},
		{"alice", "admin", NULL, 1099, true},
		{"alice", "admin", NULL, 1100, false}, /* expired */
		{"alice", "admin", NULL, 999, false},  /* not yet */
		{"alice", "admin", "any.example", 1050, true},
		{"alice", "staff", NULL, 1050, false},
		{"bob", "admin", NULL, 1050, true},
		{"bob", "admin", "db1.example", 1050, true},
		{"bob", "admin", "DB1.Example.", 1050, true},
		{"bob", "admin", "db2.example", 1050, false},
		{"carol", "admin", NULL, 1050, false},
		{"dave", "admin", NULL, 1050, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		active = !cases[i].want;
		assert_int_equal(ag_store_grant_active(s, cases[i].acct,
						       cases[i].wf,
						       cases[i].host,
						       cases[i].now, &active,
						       &err),
				 AG_OK);
		if (active != cases[i].want)
			fail_msg("case %zu: %s %s %s at %lld: %d", i,
				 cases[i].acct, cases[i].wf,
				 cases[i].host ? cases[i].host : "-",
				 (long long)cases[i].now, active);
	}
	/* Errors deny. */
	active = true;
	assert_int_equal(ag_store_grant_active(s, "", "admin", NULL, 1050,
					       &active, &err),
			 AG_ERR_USAGE);
	assert_false(active);
	ag_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrate_from_empty, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_not_ours, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enroll, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enroll_cap, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_own_level, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_binding_rule, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_two_processes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_open, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_only_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_failing_writes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_journal_drain, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_journal_batches, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_journal_log_fails, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_journal_add, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_recovery_codes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_grant_active_query, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
