/*
 * The PAM socket's daemon side (include/aalgate/pamd.h): the request
 * parser against every malformed form, then a real socket: answers for
 * no grant, an active grant, a grant for another host, an expired one,
 * an unknown workflow (with the near miss) and a workflow without jit:;
 * malformed, oversized, doubled, cut-off and too-slow requests; many
 * clients at once; a break-glass use alerted through the journal; a
 * policy with several issuers; every
 * answer in the decision log first; and what ag_pamd_start refuses (a
 * file that is not a socket, a live socket, a directory others may
 * write to, a path too long) or replaces (a stale socket).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "testutil.h"
#include "aalgate/gate.h"
#include "aalgate/govern.h"
#include "aalgate/pamd.h"

#define N_OF(x) (sizeof(x) / sizeof((x)[0]))

static const char policy_yaml[] =
	"workflows:\n"
	"  admin: { aal: 3, phishing_resistant: true,\n"
	"           jit: { max: 1h, approvers: \"group:admins\", approvals: 1 } }\n"
	"  staff: { aal: 2 }\n"
	"groups:\n"
	"  admins: [carol, dave]\n";

/* ---- parsing ------------------------------------------------------------ */

static void parse_ok(const char *line, const char *user, const char *host)
{
	struct ag_pam_request r;
	struct ag_error err;
	ag_error_init(&err);
	ag_code rc = ag_pam_request_parse(line, strlen(line), &r, &err);
	if (rc != AG_OK)
		fail_msg("'%s': %s", line, err.msg);
	assert_string_equal(r.user, user);
	assert_string_equal(r.host, host);
}

static void parse_bad(const char *line, size_t len, ag_code code,
		      const char *msg)
{
	struct ag_pam_request r;
	struct ag_error err;
	ag_error_init(&err);
	memset(&r, 'x', sizeof(r));
	ag_code rc = ag_pam_request_parse(line, len, &r, &err);
	if (rc != code)
		fail_msg("'%.*s': code %d, expected %d (%s)", (int)len, line,
			 rc, code, err.msg);
	assert_string_equal(err.msg, msg);
	/* Nothing half-parsed is left behind. */
	assert_string_equal(r.user, "");
	assert_string_equal(r.workflow, "");
}

static void test_parse(void **state)
{
	(void)state;
	parse_ok("AGPAM1 auth alice admin db1.example sudo -\n", "alice",
		 "db1.example");
	parse_ok("AGPAM1 account alice@EXAMPLE.ORG admin h sshd 192.0.2.1\n",
		 "alice@EXAMPLE.ORG", "h");
	parse_ok("AGPAM1 auth \xc3\xa9lodie admin h - -\n", "\xc3\xa9lodie",
		 "h");

#define BAD(s, code, msg) parse_bad(s, sizeof(s) - 1, code, msg)
	BAD("AGPAM1 auth alice admin h sudo -", AG_ERR_INVALID,
	    "PAM request: does not end with a newline");
	BAD("", AG_ERR_INVALID, "PAM request: does not end with a newline");
	BAD("\n", AG_ERR_INVALID, "PAM request: 1 fields, expected 7");
	BAD("AGPAM1 auth alice admin h sudo\n", AG_ERR_INVALID,
	    "PAM request: 6 fields, expected 7");
	BAD("AGPAM1 auth alice admin h sudo - x\n", AG_ERR_INVALID,
	    "PAM request: more than 7 fields");
	BAD("AGPAM1 auth  alice admin h sudo -\n", AG_ERR_INVALID,
	    "PAM request: user is empty");
	BAD("AGPAM1 auth alice admin h sudo \n", AG_ERR_INVALID,
	    "PAM request: rhost is empty");
	BAD("AGPAM2 auth alice admin h sudo -\n", AG_ERR_INVALID,
	    "PAM request: protocol is not 'AGPAM1'");
	BAD("AGPAM1X auth alice admin h sudo -\n", AG_ERR_LIMIT,
	    "PAM request: protocol is longer than 6 bytes");
	BAD("AGPAM1 session alice admin h sudo -\n", AG_ERR_INVALID,
	    "PAM request: phase is neither 'auth' nor 'account'");
	BAD("AGPAM1 authx alice admin h sudo -\n", AG_ERR_INVALID,
	    "PAM request: phase is neither 'auth' nor 'account'");
	BAD("AGPAM1 auth al\tice admin h sudo -\n", AG_ERR_INVALID,
	    "PAM request: user holds a control character at byte 3");
	BAD("AGPAM1 auth alice adm\x7fin h sudo -\n", AG_ERR_INVALID,
	    "PAM request: workflow holds a control character at byte 4");
	BAD("AGPAM1 auth alice admin h sudo -\r\n", AG_ERR_INVALID,
	    "PAM request: rhost holds a control character at byte 2");
	BAD("AGPAM1 auth alice admin h\nx sudo -\n", AG_ERR_INVALID,
	    "PAM request: host holds a control character at byte 2");
	BAD("AGPAM1 auth ali\0ce admin h sudo -\n", AG_ERR_INVALID,
	    "PAM request: user holds a control character at byte 4");
	BAD("AGPAM1 auth \xc3 admin h sudo -\n", AG_ERR_INVALID,
	    "PAM request: user is not UTF-8");
	BAD("AGPAM1 auth \xc0\xaf admin h sudo -\n", AG_ERR_INVALID,
	    "PAM request: user is not UTF-8");
#undef BAD

	char big[AG_PAM_REQUEST_MAX + 64];
	/* A user of 257 bytes. */
	int n = snprintf(big, sizeof(big), "AGPAM1 auth %0257d admin h - -\n",
			 0);
	parse_bad(big, (size_t)n, AG_ERR_LIMIT,
		  "PAM request: user is longer than 256 bytes");
	/* 256 is fine. */
	n = snprintf(big, sizeof(big), "AGPAM1 auth %0256d admin h - -\n", 0);
	struct ag_pam_request r;
	struct ag_error err;
	ag_error_init(&err);
	assert_int_equal(ag_pam_request_parse(big, (size_t)n, &r, &err),
			 AG_OK);
	n = snprintf(big, sizeof(big), "AGPAM1 auth a admin %0254d - -\n", 0);
	parse_bad(big, (size_t)n, AG_ERR_LIMIT,
		  "PAM request: host is longer than 253 bytes");
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	parse_bad(big, sizeof(big), AG_ERR_LIMIT,
		  "PAM request: longer than 1280 bytes");
	assert_int_equal(ag_pam_request_parse(NULL, 0, &r, &err),
			 AG_ERR_USAGE);
}

/* ---- a daemon in a scratch directory ------------------------------------ */

struct fx {
	char dir[256];
	char db[300], log[300], sock[300];
	struct ag_policy *p;
	struct ag_store *store;
	struct ag_dlog *dlog;
	struct ag_pamd *d;
	char host[256];
};

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

static struct ag_pamd *start_ok(struct fx *f, unsigned timeout_ms)
{
	struct ag_pamd_opts o = {.path = f->sock,
				 .store = f->store,
				 .log = f->dlog,
				 .policy = f->p,
				 .id_prefix = "t",
				 .timeout_ms = timeout_ms};
	struct ag_pamd *d = NULL;
	struct ag_error err;
	ag_error_init(&err);
	if (ag_pamd_start(&o, &d, &err) != AG_OK)
		fail_msg("ag_pamd_start: %s", err.msg);
	assert_non_null(d);
	return d;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct ag_error err;
	assert_non_null(f);
	ag_error_init(&err);
	snprintf(f->dir, sizeof(f->dir), "/tmp/ag-pamd-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/state.db", f->dir);
	snprintf(f->log, sizeof(f->log), "%s/decisions.jsonl", f->dir);
	snprintf(f->sock, sizeof(f->sock), "%s/pam.sock", f->dir);
	f->p = policy_ok(policy_yaml);
	struct ag_store_opts so = {.connections = AG_PAMD_WORKERS + 1};
	if (ag_store_open(f->db, &so, &f->store, &err) != AG_OK)
		fail_msg("%s", err.msg);
	if (ag_dlog_open(f->log, &f->dlog, &err) != AG_OK)
		fail_msg("%s", err.msg);
	snprintf(f->host, sizeof(f->host), "db1.example");
	*state = f;
	return 0;
}

static void rm_dir(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *e;
	char p[600];
	if (!dir)
		return;
	while ((e = readdir(dir))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		unlink(p);
	}
	closedir(dir);
	rmdir(path);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	ag_pamd_stop(f->d);
	ag_dlog_close(f->dlog);
	ag_store_close(f->store);
	ag_policy_free(f->p);
	rm_dir(f->dir);
	free(f);
	return 0;
}

/* Connects, sends len bytes of req (then half-closes when shut), and
 * reads the answer until EOF (at most 5 s). */
static void ask_raw(const char *path, const char *req, size_t len, bool shut,
		    char *out, size_t outlen)
{
	struct sockaddr_un sa;
	struct timeval tv = {5, 0};
	size_t n = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (len)
		assert_int_equal(send(fd, req, len, MSG_NOSIGNAL),
				 (ssize_t)len);
	if (shut)
		shutdown(fd, SHUT_WR);
	for (;;) {
		ssize_t r = recv(fd, out + n, outlen - 1 - n, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n + 1 >= outlen)
			break;
	}
	out[n] = '\0';
	close(fd);
}

static void ask_line(struct fx *f, const char *user, const char *workflow,
		     const char *host, char *out, size_t outlen)
{
	char req[512];
	int n = snprintf(req, sizeof(req), "AGPAM1 auth %s %s %s sudo -\n",
			 user, workflow, host);
	ask_raw(f->sock, req, (size_t)n, false, out, outlen);
}

/* The answer without its id: "AGPAM1 deny no_grant" or "AGPAM1 allow".
 * Checks the id is there and ours. */
static const char *verdict(char *ans)
{
	size_t n = strlen(ans);
	assert_true(n > 0 && ans[n - 1] == '\n');
	ans[n - 1] = '\0';
	char *sp = strrchr(ans, ' ');
	assert_non_null(sp);
	assert_memory_equal(sp + 1, "t-p", 3);
	*sp = '\0';
	return ans;
}

#define EXPECT(f, user, wf, host, want)                                  \
	do {                                                             \
		char ans_[256];                                          \
		ask_line(f, user, wf, host, ans_, sizeof(ans_));         \
		assert_string_equal(verdict(ans_), want);                \
	} while (0)

/* The decision log's records of type "pam", in order. */
static json_t *pam_records(struct fx *f)
{
	json_t *all = json_array();
	FILE *fp = fopen(f->log, "r");
	char line[8192];
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp)) {
		json_t *r = json_loads(line, 0, NULL);
		assert_non_null(r);
		const char *t = json_string_value(json_object_get(r, "type"));
		if (t && !strcmp(t, "pam"))
			json_array_append_new(all, r);
		else
			json_decref(r);
	}
	fclose(fp);
	return all;
}

static void test_answers(void **state)
{
	struct fx *f = *state;
	int64_t now = (int64_t)time(NULL);
	char sql[1024];

	f->d = start_ok(f, 0);
	struct stat st;
	assert_int_equal(lstat(f->sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);

	EXPECT(f, "alice", "admin", "db1.example", "AGPAM1 deny no_grant");
	EXPECT(f, "alice", "staff", "db1.example", "AGPAM1 deny no_jit");
	EXPECT(f, "alice", "admn", "db1.example",
	       "AGPAM1 deny unknown_workflow");

	snprintf(sql, sizeof(sql),
		 "INSERT INTO grants (id, account, workflow, reason, "
		 "break_glass, approvals_needed, duration, state, requested, "
		 "activated, expires) VALUES "
		 "(1, 'alice', 'admin', 'r', 0, 1, 3600, 'active', %lld, "
		 "%lld, %lld),"
		 "(2, 'bob', 'admin', 'r', 0, 1, 3600, 'active', %lld, %lld, "
		 "%lld),"
		 "(3, 'erin', 'admin', 'r', 0, 1, 60, 'active', %lld, %lld, "
		 "%lld);"
		 "INSERT INTO grant_hosts VALUES (2, 'db1.example');",
		 (long long)now - 20, (long long)now - 10,
		 (long long)now + 3600, (long long)now - 20,
		 (long long)now - 10, (long long)now + 3600,
		 (long long)now - 200, (long long)now - 100,
		 (long long)now - 40);
	sql_exec(f->db, sql);

	EXPECT(f, "alice", "admin", "db1.example", "AGPAM1 allow");
	EXPECT(f, "alice", "admin", "other.example", "AGPAM1 allow");
	EXPECT(f, "alice", "staff", "db1.example", "AGPAM1 deny no_jit");
	EXPECT(f, "bob", "admin", "DB1.example", "AGPAM1 allow");
	EXPECT(f, "bob", "admin", "db2.example", "AGPAM1 deny no_grant");
	EXPECT(f, "erin", "admin", "db1.example", "AGPAM1 deny no_grant");
	EXPECT(f, "mallory", "admin", "db1.example", "AGPAM1 deny no_grant");

	/* The grant is revoked: the next question sees it. */
	sql_exec(f->db, "UPDATE grants SET state = 'revoked' WHERE id = 1;");
	EXPECT(f, "alice", "admin", "db1.example", "AGPAM1 deny no_grant");

	/* Every answer was logged, with who asked. */
	json_t *recs = pam_records(f);
	assert_int_equal(json_array_size(recs), 11);
	json_t *r0 = json_array_get(recs, 0);
	assert_string_equal(json_string_value(json_object_get(r0, "outcome")),
			    "deny");
	assert_string_equal(json_string_value(json_object_get(r0, "reason")),
			    "no_grant");
	assert_string_equal(json_string_value(json_object_get(r0, "user")),
			    "alice");
	assert_string_equal(json_string_value(json_object_get(r0, "host")),
			    "db1.example");
	assert_string_equal(json_string_value(json_object_get(r0, "service")),
			    "sudo");
	assert_string_equal(json_string_value(json_object_get(r0, "phase")),
			    "auth");
	json_t *peer = json_object_get(r0, "peer");
	assert_int_equal(json_integer_value(json_object_get(peer, "uid")),
			 (json_int_t)geteuid());
	assert_int_equal(json_integer_value(json_object_get(peer, "pid")),
			 (json_int_t)getpid());
	json_t *r2 = json_array_get(recs, 2);
	assert_string_equal(json_string_value(json_object_get(r2, "detail")),
			    "no workflow 'admn' in the policy; did you mean "
			    "'admin'?");
	json_t *r3 = json_array_get(recs, 3);
	assert_string_equal(json_string_value(json_object_get(r3, "outcome")),
			    "allow");
	assert_null(json_object_get(r3, "reason"));
	json_decref(recs);

	/* The log is intact. */
	struct ag_dlog_verify v;
	struct ag_error err;
	ag_error_init(&err);
	ag_pamd_stop(f->d);
	f->d = NULL;
	/* Stopping removes the socket. */
	assert_int_equal(lstat(f->sock, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(ag_dlog_verify_file(f->log, &v, &err), AG_OK);
}

static void test_bad_requests(void **state)
{
	struct fx *f = *state;
	char ans[512], big[4096];

	f->d = start_ok(f, 300);
	static const char two_lines[] =
		"AGPAM1 auth alice admin db1 sudo -\n"
		"AGPAM1 auth bob admin db1 sudo -\n";
	static const char *const bad[] = {
		"hello\n",
		two_lines,
		"AGPAM1 auth alice admin db1 sudo\n",
		"AGPAM1 auth alice admin db1 sudo - -\r\n",
	};
	for (size_t i = 0; i < N_OF(bad); i++) {
		ask_raw(f->sock, bad[i], strlen(bad[i]), false, ans,
			sizeof(ans));
		assert_string_equal(verdict(ans), "AGPAM1 deny bad_request");
	}
	/* Cut off: the connection ends before the newline. */
	ask_raw(f->sock, "AGPAM1 auth alice", 17, true, ans, sizeof(ans));
	assert_string_equal(verdict(ans), "AGPAM1 deny bad_request");
	/* Oversized: answered (and closed) at the cap, not read forever. */
	memset(big, 'a', sizeof(big));
	ask_raw(f->sock, big, AG_PAM_REQUEST_MAX + 10, false, ans,
		sizeof(ans));
	assert_string_equal(verdict(ans), "AGPAM1 deny bad_request");
	/* Too slow: nothing sent within timeout_ms. */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ask_raw(f->sock, "AGPAM1 auth", 11, false, ans, sizeof(ans));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_string_equal(verdict(ans), "AGPAM1 deny timeout");
	double took = (double)(t1.tv_sec - t0.tv_sec) +
		      (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(took >= 0.25 && took < 3.0);

	json_t *recs = pam_records(f);
	assert_int_equal(json_array_size(recs), N_OF(bad) + 3);
	for (size_t i = 0; i < json_array_size(recs); i++) {
		json_t *r = json_array_get(recs, i);
		assert_string_equal(
			json_string_value(json_object_get(r, "outcome")),
			"deny");
		/* Nothing of a bad request is taken as a user. */
		assert_null(json_object_get(r, "user"));
		assert_non_null(json_object_get(r, "detail"));
	}
	json_decref(recs);
	/* Still answering after all that. */
	EXPECT(f, "alice", "admin", "db1.example", "AGPAM1 deny no_grant");
}

struct client {
	struct fx *f;
	char ans[256];
};

static void *client(void *arg)
{
	struct client *c = arg;
	ask_line(c->f, "alice", "admin", "db1.example", c->ans,
		 sizeof(c->ans));
	return NULL;
}

static void test_many_clients(void **state)
{
	struct fx *f = *state;
	enum { N = 24 };
	pthread_t th[N];
	struct client c[N];

	f->d = start_ok(f, 0);
	for (int i = 0; i < N; i++) {
		c[i].f = f;
		assert_int_equal(pthread_create(&th[i], NULL, client, &c[i]),
				 0);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		assert_string_equal(verdict(c[i].ans), "AGPAM1 deny no_grant");
	}
	json_t *recs = pam_records(f);
	assert_int_equal(json_array_size(recs), N);
	json_decref(recs);
}

static void test_break_glass(void **state)
{
	struct fx *f = *state;
	struct ag_error err;
	uint64_t before = 0, after = 0;
	int64_t now = (int64_t)time(NULL);
	char sql[600];

	ag_error_init(&err);
	if (ag_store_break_glass_set(f->store, "root-bg", true, now, NULL,
				     &err) != AG_OK)
		fail_msg("%s", err.msg);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO grants (id, account, workflow, reason, "
		 "break_glass, approvals_needed, duration, state, requested, "
		 "activated, expires) VALUES "
		 "(7, 'root-bg', 'admin', 'r', 1, 0, 3600, 'active', %lld, "
		 "%lld, %lld);",
		 (long long)now - 20, (long long)now - 10,
		 (long long)now + 3600);
	sql_exec(f->db, sql);
	assert_int_equal(ag_store_journal_pending(f->store, &before, &err),
			 AG_OK);
	f->d = start_ok(f, 0);
	EXPECT(f, "root-bg", "admin", "db1.example", "AGPAM1 allow");
	EXPECT(f, "root-bg", "admin", "db1.example", "AGPAM1 allow");
	assert_int_equal(ag_store_journal_pending(f->store, &after, &err),
			 AG_OK);
	/* The use is an alert waiting to be drained to the sinks; the
	 * second, within AG_GRANT_ALERT_INTERVAL, is not alerted again (as
	 * in the gate). */
	assert_int_equal(after, before + 1);
	assert_int_equal(ag_store_journal_drain(f->store, f->dlog, NULL, &err),
			 AG_OK);
	FILE *fp = fopen(f->log, "r");
	char line[8192];
	int alerts = 0;
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp)) {
		json_t *r = json_loads(line, 0, NULL);
		const char *t = json_string_value(json_object_get(r, "type"));
		const char *o =
			json_string_value(json_object_get(r, "obligation"));
		const char *acct =
			json_string_value(json_object_get(r, "account"));
		const char *h = json_string_value(json_object_get(r, "host"));
		if (t && !strcmp(t, "break_glass_use") && o &&
		    !strcmp(o, "alert") && acct && !strcmp(acct, "root-bg") &&
		    h && !strcmp(h, "db1.example"))
			alerts++;
		json_decref(r);
	}
	fclose(fp);
	assert_int_equal(alerts, 1);
}

/* With several issuers a grant's account is "ISSUER sub": no user name
 * can be one, so the answer says why rather than just "no grant". */
static void test_several_issuers(void **state)
{
	struct fx *f = *state;
	ag_policy_free(f->p);
	f->p = policy_ok("issuers:\n"
			 "  - { iss: https://a.test, audiences: [x], "
			 "jwks_file: a.json }\n"
			 "  - { iss: https://b.test, audiences: [x], "
			 "jwks_file: b.json }\n"
			 "workflows:\n"
			 "  admin: { aal: 2, jit: { max: 1h, approvers: carol, "
			 "approvals: 1 } }\n");
	f->d = start_ok(f, 0);
	EXPECT(f, "alice", "admin", "db1.example",
	       "AGPAM1 deny ambiguous_user");
}

static void start_fails(struct fx *f, const char *path, ag_code code,
			const char *msg)
{
	struct ag_pamd_opts o = {.path = path,
				 .store = f->store,
				 .log = f->dlog,
				 .policy = f->p};
	struct ag_pamd *d = (struct ag_pamd *)1;
	struct ag_error err;
	ag_error_init(&err);
	assert_int_equal(ag_pamd_start(&o, &d, &err), code);
	assert_null(d);
	if (!strstr(err.msg, msg))
		fail_msg("'%s' lacks '%s'", err.msg, msg);
}

static void test_socket_file(void **state)
{
	struct fx *f = *state;
	struct sockaddr_un sa;
	char path[400], msg[600];

	/* A regular file is not replaced. */
	FILE *fp = fopen(f->sock, "w");
	assert_non_null(fp);
	fputs("keep me\n", fp);
	fclose(fp);
	snprintf(msg, sizeof(msg),
		 "%s: exists and is not a socket; refusing to replace it",
		 f->sock);
	start_fails(f, f->sock, AG_ERR_INVALID, msg);
	struct stat st;
	assert_int_equal(lstat(f->sock, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	unlink(f->sock);

	/* Nor is a symbolic link, even to a socket. */
	snprintf(path, sizeof(path), "%s/elsewhere", f->dir);
	assert_int_equal(symlink(path, f->sock), 0);
	start_fails(f, f->sock, AG_ERR_INVALID, "is not a socket");
	unlink(f->sock);

	/* A stale socket (nobody listens) is replaced. */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	assert_true(strlen(f->sock) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, f->sock, strlen(f->sock) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	f->d = start_ok(f, 0);
	EXPECT(f, "alice", "admin", "db1.example", "AGPAM1 deny no_grant");

	/* A live one is not taken over. */
	snprintf(msg, sizeof(msg), "%s: another process answers on this "
				   "socket", f->sock);
	start_fails(f, f->sock, AG_ERR_INVALID, msg);
	EXPECT(f, "alice", "admin", "db1.example", "AGPAM1 deny no_grant");

	/* A directory others may write to. */
	snprintf(path, sizeof(path), "%s/open", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chmod(path, 0777), 0);
	snprintf(path, sizeof(path), "%s/open/pam.sock", f->dir);
	start_fails(f, path, AG_ERR_INVALID,
		    "open: group or others may write to it");
	snprintf(path, sizeof(path), "%s/open", f->dir);
	rmdir(path);

	/* Too long for a socket address with room for the temporary name. */
	memset(path, 'a', sizeof(path));
	path[0] = '/';
	path[101] = '\0';
	start_fails(f, path, AG_ERR_LIMIT, "a PAM socket path is at most 100 "
					   "bytes");
	start_fails(f, NULL, AG_ERR_USAGE, "needs a path");
}

/* With peer_gid the socket is that group's, mode 0660; with an owner,
 * the owner's (as root, nobody's). */
static void test_peer_group(void **state)
{
	struct fx *f = *state;
	uid_t owner = geteuid() == 0 ? 65534 : geteuid();
	struct ag_pamd_opts o = {.path = f->sock,
				 .store = f->store,
				 .log = f->dlog,
				 .policy = f->p,
				 .has_owner = true,
				 .owner_uid = owner,
				 .has_peer_gid = true,
				 .peer_gid = getegid()};
	struct ag_error err;
	struct stat st;
	ag_error_init(&err);
	assert_int_equal(ag_pamd_start(&o, &f->d, &err), AG_OK);
	assert_int_equal(lstat(f->sock, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_int_equal(st.st_gid, getegid());
	assert_int_equal(st.st_uid, owner);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test_setup_teardown(test_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_many_clients, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_break_glass, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_several_issuers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_socket_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_peer_group, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
