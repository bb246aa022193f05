/*
 * The decision log: concurrent appends numbered and chained once each,
 * continuing a log after a reopen, the head file, a torn tail cut off at
 * open and damage refused there, fields that would break the chain,
 * the lock against a second writer, files that cannot be opened, a write
 * that fails (RLIMIT_FSIZE) turning into errors for good, and the
 * verifier's verdicts and counts.
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
#include <openssl/evp.h>

#include "testutil.h"
#include "aalgate/gate.h"

static const char zeros[] =
	"0000000000000000000000000000000000000000000000000000000000000000";

/* ---- a scratch directory per test -------------------------------------- */

struct dir {
	char path[256];
	char log[300];
	char head[310];
};

static int setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));
	assert_non_null(d);
	snprintf(d->path, sizeof(d->path), "/tmp/ag-dlog-XXXXXX");
	assert_non_null(mkdtemp(d->path));
	snprintf(d->log, sizeof(d->log), "%s/decisions.jsonl", d->path);
	snprintf(d->head, sizeof(d->head), "%s.head", d->log);
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
	free(d);
	return 0;
}

/* ---- helpers ----------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long size = ftell(f);
	assert_true(size >= 0);
	rewind(f);
	buf = malloc((size_t)size + 1);
	assert_non_null(buf);
	n = fread(buf, 1, (size_t)size, f);
	assert_int_equal(n, (size_t)size);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = n;
	return buf;
}

static void spit(const char *path, const char *data, size_t len, bool append)
{
	FILE *f = fopen(path, append ? "ab" : "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void spits(const char *path, const char *s)
{
	spit(path, s, strlen(s), false);
}

static struct ag_dlog *open_ok(const char *path)
{
	struct ag_dlog *l = NULL;
	struct ag_error err;

	ag_error_init(&err);
	if (ag_dlog_open(path, &l, &err) != AG_OK)
		fail_msg("open failed: %s", err.msg);
	assert_non_null(l);
	return l;
}

/* Opening must fail with code and a message that contains msg. */
static void open_fails(const char *path, ag_code code, const char *msg)
{
	struct ag_dlog *l = (struct ag_dlog *)1;
	struct ag_error err;

	ag_error_init(&err);
	ag_code rc = ag_dlog_open(path, &l, &err);
	assert_null(l);
	if (!strstr(err.msg, msg))
		fail_msg("open: expected '%s' in '%s'", msg, err.msg);
	assert_int_equal(rc, code);
	assert_int_equal(err.code, code);
}

static uint64_t append_ok(struct ag_dlog *l, const char *fields)
{
	uint64_t seq = 0;
	assert_int_equal(ag_dlog_append(l, fields, strlen(fields), &seq),
			 AG_OK);
	return seq;
}

/* Writes n records with fields "i":K to a fresh log and closes it. */
static void write_log(const char *path, int n)
{
	struct ag_dlog *l = open_ok(path);
	char f[64];
	for (int i = 1; i <= n; i++) {
		snprintf(f, sizeof(f), "\"i\":%d,\"outcome\":\"allow\"", i);
		assert_int_equal(append_ok(l, f), (uint64_t)i);
	}
	ag_dlog_close(l);
}

static void verify_ok(const char *path, uint64_t records)
{
	struct ag_dlog_verify res;
	struct ag_error err;

	ag_error_init(&err);
	ag_code rc = ag_dlog_verify_file(path, &res, &err);
	if (rc != AG_OK)
		fail_msg("verify: %s", err.msg);
	assert_int_equal(res.records, records);
	assert_int_equal(res.bad_line, 0);
}

static void verify_bad(const char *path, uint64_t line, uint64_t records,
		       const char *why)
{
	struct ag_dlog_verify res;
	struct ag_error err;

	ag_error_init(&err);
	assert_int_equal(ag_dlog_verify_file(path, &res, &err),
			 AG_ERR_INVALID);
	if (!strstr(res.why, why))
		fail_msg("verify: expected '%s' in '%s'", why, res.why);
	assert_int_equal(res.bad_line, line);
	assert_int_equal(res.records, records);
	assert_int_equal(err.code, AG_ERR_INVALID);
	assert_non_null(strstr(err.msg, res.why));
}

static void sha256_hex(const char *p, size_t n, char out[65])
{
	unsigned char h[32];
	unsigned int len = 0;
	assert_int_equal(EVP_Digest(p, n, h, &len, EVP_sha256(), NULL), 1);
	assert_int_equal(len, 32);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* Line k (1-based) of text, without its newline, in a static buffer. */
static const char *line_of(const char *text, int k, size_t *len)
{
	const char *p = text;
	for (int i = 1; i < k; i++) {
		p = strchr(p, '\n');
		assert_non_null(p);
		p++;
	}
	const char *e = strchr(p, '\n');
	assert_non_null(e);
	*len = (size_t)(e - p);
	return p;
}

/* Rewrites the log with line k replaced by repl (NULL: removed). */
static void replace_line(const char *path, int k, const char *repl)
{
	size_t len;
	char *text = slurp(path, &len);
	size_t ll;
	const char *p = line_of(text, k, &ll);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fwrite(text, 1, (size_t)(p - text), f);
	if (repl)
		fprintf(f, "%s\n", repl);
	fwrite(p + ll + 1, 1, len - (size_t)(p + ll + 1 - text), f);
	assert_int_equal(fclose(f), 0);
	free(text);
}

/* ---- concurrency ------------------------------------------------------- */

#define THREADS 8
#define PER_THREAD 200

struct worker {
	struct ag_dlog *l;
	int t;
	uint64_t seq[PER_THREAD];
	ag_code rc;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char f[96];

	w->rc = AG_OK;
	for (int i = 0; i < PER_THREAD; i++) {
		int n = snprintf(f, sizeof(f),
				 "\"t\":%d,\"i\":%d,\"outcome\":\"deny\"",
				 w->t, i);
		ag_code rc = ag_dlog_append(w->l, f, (size_t)n, &w->seq[i]);
		if (rc != AG_OK) {
			w->rc = rc;
			break;
		}
	}
	return NULL;
}

static void test_concurrent_appends(void **state)
{
	struct dir *d = *state;
	struct worker *w = calloc(THREADS, sizeof(*w));
	pthread_t tid[THREADS];
	static bool seen[THREADS][PER_THREAD];
	const uint64_t total = THREADS * PER_THREAD;

	assert_non_null(w);
	memset(seen, 0, sizeof(seen));
	struct ag_dlog *l = open_ok(d->log);
	assert_int_equal(ag_dlog_repaired_bytes(l), 0);
	for (int t = 0; t < THREADS; t++) {
		w[t].l = l;
		w[t].t = t;
		assert_int_equal(pthread_create(&tid[t], NULL, worker_main, &w[t]),
				 0);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(tid[t], NULL);
		assert_int_equal(w[t].rc, AG_OK);
	}
	assert_false(ag_dlog_failed(l, NULL, 0));
	ag_dlog_close(l);

	verify_ok(d->log, total);

	/* Every record once, numbered in file order, with the seq its
	 * caller was told; one thread's records in its own order. */
	size_t len;
	char *text = slurp(d->log, &len);
	char *p = text;
	uint64_t line = 0, last_seq[THREADS] = {0};
	while (*p) {
		char *nl = strchr(p, '\n');
		assert_non_null(nl);
		line++;
		json_error_t je;
		json_t *o = json_loadb(p, (size_t)(nl - p), 0, &je);
		assert_non_null(o);
		uint64_t seq = (uint64_t)json_integer_value(
			json_object_get(o, "seq"));
		int t = (int)json_integer_value(json_object_get(o, "t"));
		int i = (int)json_integer_value(json_object_get(o, "i"));
		assert_int_equal(seq, line);
		assert_true(t >= 0 && t < THREADS);
		assert_true(i >= 0 && i < PER_THREAD);
		assert_false(seen[t][i]);
		seen[t][i] = true;
		assert_int_equal(w[t].seq[i], seq);
		assert_true(seq > last_seq[t]);
		last_seq[t] = seq;
		assert_string_equal(
			json_string_value(json_object_get(o, "outcome")),
			"deny");
		json_decref(o);
		p = nl + 1;
	}
	assert_int_equal(line, total);
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < PER_THREAD; i++)
			assert_true(seen[t][i]);

	/* The head names the last record and its hash. */
	size_t ll;
	const char *last = line_of(text, (int)total, &ll);
	char hex[65], want[100];
	sha256_hex(last, ll, hex);
	snprintf(want, sizeof(want), "%" PRIu64 " %s\n", total, hex);
	char *head = slurp(d->head, NULL);
	assert_string_equal(head, want);
	free(head);

	/* Files are private. */
	struct stat st;
	assert_int_equal(stat(d->log, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(d->head, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(text);
	free(w);
}

static void test_reopen_continues(void **state)
{
	struct dir *d = *state;
	size_t ll;
	char hex[65], want[200];

	write_log(d->log, 3);
	struct ag_dlog *l = open_ok(d->log);
	assert_int_equal(ag_dlog_repaired_bytes(l), 0);
	assert_int_equal(append_ok(l, "\"i\":4"), 4);
	assert_int_equal(append_ok(l, ""), 5);
	ag_dlog_close(l);
	verify_ok(d->log, 5);

	char *text = slurp(d->log, NULL);
	const char *l3 = line_of(text, 3, &ll);
	sha256_hex(l3, ll, hex);
	const char *l4 = line_of(text, 4, &ll);
	snprintf(want, sizeof(want), "{\"seq\":4,\"prev\":\"%s\",\"i\":4}", hex);
	assert_int_equal(ll, strlen(want));
	assert_memory_equal(l4, want, ll);
	/* Empty fields: the record is just its seq and prev. */
	sha256_hex(l4, ll, hex);
	const char *l5 = line_of(text, 5, &ll);
	snprintf(want, sizeof(want), "{\"seq\":5,\"prev\":\"%s\"}", hex);
	assert_int_equal(ll, strlen(want));
	assert_memory_equal(l5, want, ll);
	/* The first record's prev is zeros. */
	const char *l1 = line_of(text, 1, &ll);
	snprintf(want, sizeof(want), "{\"seq\":1,\"prev\":\"%s\",", zeros);
	assert_memory_equal(l1, want, strlen(want));
	free(text);
}

/* ---- recovery at open -------------------------------------------------- */

static void test_torn_tail_repaired(void **state)
{
	struct dir *d = *state;
	size_t before, after;
	static const char torn[] = "{\"seq\":4,\"prev\":\"ab";

	write_log(d->log, 3);
	free(slurp(d->log, &before));
	spit(d->log, torn, strlen(torn), true);
	verify_bad(d->log, 4, 3, "the record is cut off (no newline at the end)");

	struct ag_dlog *l = open_ok(d->log);
	assert_int_equal(ag_dlog_repaired_bytes(l), strlen(torn));
	free(slurp(d->log, &after));
	assert_int_equal(after, before);
	assert_int_equal(append_ok(l, "\"i\":4"), 4);
	ag_dlog_close(l);
	verify_ok(d->log, 4);
}

static void test_torn_only_record(void **state)
{
	struct dir *d = *state;

	spits(d->log, "{\"seq\":1,\"pr");
	struct ag_dlog *l = open_ok(d->log);
	assert_int_equal(ag_dlog_repaired_bytes(l), 12);
	assert_int_equal(append_ok(l, "\"i\":1"), 1);
	ag_dlog_close(l);
	verify_ok(d->log, 1);
}

static void test_long_torn_tail_refused(void **state)
{
	struct dir *d = *state;
	size_t n = AG_DLOG_RECORD_MAX + 10;
	char *junk = malloc(n);

	assert_non_null(junk);
	memset(junk, 'x', n);
	write_log(d->log, 3);
	spit(d->log, junk, n, true);
	open_fails(d->log, AG_ERR_INVALID,
		   ":4: the last line has no newline and is longer than a "
		   "record; this is damage");
	free(junk);
}

static void test_damaged_last_line_refused(void **state)
{
	struct dir *d = *state;
	char want[1024];
	size_t before, after;

	write_log(d->log, 3);
	spits(d->head, ""); /* keep the head out of this */
	spit(d->log, "garbage\n", 8, true);
	free(slurp(d->log, &before));
	snprintf(want, sizeof(want),
		 "%s:4: the last line is not a valid record (not JSON: ",
		 d->log);
	open_fails(d->log, AG_ERR_INVALID, want);
	free(slurp(d->log, &after));
	assert_int_equal(after, before); /* refused, not "repaired" */

	replace_line(d->log, 4, "{\"seq\":4}");
	snprintf(want, sizeof(want),
		 "%s:4: the last line is not a valid record (no \"prev\" of "
		 "64 lowercase hex digits); refusing to extend a damaged log "
		 "(see 'aalgate log verify')",
		 d->log);
	open_fails(d->log, AG_ERR_INVALID, want);

	replace_line(d->log, 4, "[1]");
	open_fails(d->log, AG_ERR_INVALID,
		   ":4: the last line is not a valid record (not a JSON "
		   "object)");
}

static void test_head_ahead_refused(void **state)
{
	struct dir *d = *state;
	char want[1024];

	write_log(d->log, 5);
	replace_line(d->log, 5, NULL);
	replace_line(d->log, 4, NULL);
	snprintf(want, sizeof(want),
		 "%s: the log ends at seq 3 but its head says 5 were "
		 "committed; refusing to extend a truncated log",
		 d->log);
	open_fails(d->log, AG_ERR_INVALID, want);
	verify_bad(d->log, 4, 3,
		   "the log ends at seq 3 but its head says 5 were committed");
}

static void test_head_mismatch_refused(void **state)
{
	struct dir *d = *state;
	char want[1024];
	size_t ll;

	write_log(d->log, 3);
	char *text = slurp(d->log, NULL);
	const char *l3 = line_of(text, 3, &ll);
	char *edited = strndup(l3, ll);
	char *a = strstr(edited, "allow");
	assert_non_null(a);
	a[4] = 'x';
	replace_line(d->log, 3, edited);
	snprintf(want, sizeof(want),
		 "%s:3: the last record (seq 3) does not match the hash in "
		 "%s; refusing to extend a changed log",
		 d->log, d->head);
	open_fails(d->log, AG_ERR_INVALID, want);
	verify_bad(d->log, 3, 2, "does not hash to the hash that");
	free(edited);
	free(text);

	spits(d->head, "3 nothex\n");
	open_fails(d->log, AG_ERR_INVALID,
		   "decisions.jsonl.head: not a decision log head");
}

static void test_head_behind_caught_up(void **state)
{
	struct dir *d = *state;

	write_log(d->log, 2);
	char *head2 = slurp(d->head, NULL);
	struct ag_dlog *l = open_ok(d->log);
	assert_int_equal(append_ok(l, "\"i\":3"), 3);
	ag_dlog_close(l);
	/* The head update of record 3 was lost: verify accepts it. */
	spits(d->head, head2);
	verify_ok(d->log, 3);
	/* Opening moves the head up to the last record. */
	l = open_ok(d->log);
	ag_dlog_close(l);
	char *head = slurp(d->head, NULL);
	assert_int_equal(head[0], '3');
	assert_int_equal(head[1], ' ');
	free(head);
	free(head2);
	verify_ok(d->log, 3);
}

/* ---- appends that are refused ----------------------------------------- */

static void test_bad_fields_refused(void **state)
{
	struct dir *d = *state;
	static const char *const bad[] = {
		"\"a\":1\n",
		"\"a\":1,\"a\":2",
		"\"seq\":7",
		"\"prev\":\"x\"",
		"\"a\":1},{\"b\":2",
		"not json",
		"\"a\":",
		",\"a\":1",
		"\"a\":\"\x01\"",
		"\"a\":\"\xff\"",
	};
	uint64_t seq = 99;

	struct ag_dlog *l = open_ok(d->log);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		seq = 99;
		ag_code rc = ag_dlog_append(l, bad[i], strlen(bad[i]), &seq);
		if (rc != AG_ERR_USAGE)
			fail_msg("fields '%s': %d, expected AG_ERR_USAGE",
				 bad[i], rc);
		assert_int_equal(seq, 0);
	}
	/* A NUL inside the given length. */
	assert_int_equal(ag_dlog_append(l, "\"a\":1\0,\"b\":2", 12, &seq),
			 AG_ERR_USAGE);
	/* Too long. */
	size_t n = AG_DLOG_RECORD_MAX;
	char *big = malloc(n + 1);
	assert_non_null(big);
	memset(big, 'x', n);
	memcpy(big, "\"a\":\"", 5);
	big[n - 1] = '"';
	big[n] = '\0';
	assert_int_equal(ag_dlog_append(l, big, n, &seq), AG_ERR_LIMIT);
	/* The largest that fits is taken, and verifies. */
	size_t fit = AG_DLOG_RECORD_MAX - 128;
	big[fit - 1] = '"';
	assert_int_equal(ag_dlog_append(l, big, fit, &seq), AG_OK);
	assert_int_equal(seq, 1);
	free(big);
	/* A refusal does not poison the log. */
	assert_false(ag_dlog_failed(l, NULL, 0));
	assert_int_equal(append_ok(l, "\"ok\":true"), 2);
	ag_dlog_close(l);
	verify_ok(d->log, 2);
}

/* ---- opening that fails ------------------------------------------------ */

static void test_second_open_locked(void **state)
{
	struct dir *d = *state;
	char want[1024];

	struct ag_dlog *l = open_ok(d->log);
	snprintf(want, sizeof(want),
		 "%s: in use by another process (it holds the lock); two "
		 "gates cannot share one decision log",
		 d->log);
	open_fails(d->log, AG_ERR_IO, want);
	assert_int_equal(append_ok(l, "\"a\":1"), 1);
	ag_dlog_close(l);
	/* Released on close. */
	l = open_ok(d->log);
	assert_int_equal(append_ok(l, "\"a\":2"), 2);
	ag_dlog_close(l);
	verify_ok(d->log, 2);
}

static void test_unopenable(void **state)
{
	struct dir *d = *state;
	char p[400], want[1024];

	snprintf(p, sizeof(p), "%s/missing/decisions.jsonl", d->path);
	snprintf(want, sizeof(want),
		 "%s: cannot open for writing: No such file or directory", p);
	open_fails(p, AG_ERR_IO, want);

	snprintf(p, sizeof(p), "%s/sub", d->path);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(want, sizeof(want), "%s: cannot open for writing: Is a directory",
		 p);
	open_fails(p, AG_ERR_IO, want);

	snprintf(p, sizeof(p), "%s/link.jsonl", d->path);
	assert_int_equal(symlink(d->log, p), 0);
	snprintf(want, sizeof(want),
		 "%s: is a symbolic link; refusing to follow it", p);
	open_fails(p, AG_ERR_IO, want);

	spits(d->log, "");
	assert_int_equal(chmod(d->log, 0664), 0);
	open_fails(d->log, AG_ERR_INVALID,
		   "writable by group or others (mode 0664); make it 0600");

	assert_int_equal(unlink(d->log), 0);
	assert_int_equal(mkfifo(d->log, 0600), 0);
	open_fails(d->log, AG_ERR_IO, "not a regular file");

	struct ag_dlog *l = (struct ag_dlog *)1;
	assert_int_equal(ag_dlog_open("", &l, NULL), AG_ERR_USAGE);
	assert_null(l);
}

/* A read-only directory, as a user who cannot write there.  As root the
 * check runs in a child that drops to nobody. */
static void test_read_only_directory(void **state)
{
	struct dir *d = *state;
	char ro[300], p[400];
	int pipefd[2];

	snprintf(ro, sizeof(ro), "%s/ro", d->path);
	assert_int_equal(mkdir(ro, 0755), 0);
	snprintf(p, sizeof(p), "%s/decisions.jsonl", ro);
	assert_int_equal(chmod(d->path, 0755), 0);
	assert_int_equal(pipe(pipefd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ag_dlog *l = NULL;
		struct ag_error err;
		close(pipefd[0]);
		if (geteuid() == 0) {
			if (setgid(65534) || setuid(65534))
				_exit(3);
		} else if (chmod(ro, 0555)) {
			_exit(3);
		}
		ag_error_init(&err);
		ag_code rc = ag_dlog_open(p, &l, &err);
		if (write(pipefd[1], err.msg, strlen(err.msg)) < 0)
			_exit(4);
		_exit(rc == AG_ERR_IO && !l ? 0 : 1);
	}
	close(pipefd[1]);
	char msg[AG_ERRMSG_MAX + 1];
	ssize_t n = read(pipefd[0], msg, sizeof(msg) - 1);
	close(pipefd[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(n > 0);
	msg[n] = '\0';
	char want[1024];
	snprintf(want, sizeof(want),
		 "%s: cannot open for writing: Permission denied", p);
	assert_string_equal(msg, want);
	assert_int_equal(access(p, F_OK), -1);
}

/* ---- a write that fails ------------------------------------------------ */

/*
 * In a child with RLIMIT_FSIZE low and SIGXFSZ ignored, write() fails
 * with EFBIG once the log reaches the limit.  The append that hits it and
 * every later one must fail, and the log must hold exactly the records
 * that were acknowledged.
 */
static void test_failed_write(void **state)
{
	struct dir *d = *state;
	int pipefd[2];
	struct {
		int acked, fail_rc, after_rc, failed;
		char why[200];
	} r;

	assert_int_equal(pipe(pipefd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ag_error err;
		struct ag_dlog *l = NULL;
		struct rlimit rl = {4096, 4096};
		char f[64];

		close(pipefd[0]);
		memset(&r, 0, sizeof(r));
		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl))
			_exit(3);
		ag_error_init(&err);
		if (ag_dlog_open(d->log, &l, &err))
			_exit(4);
		r.fail_rc = -1;
		for (int i = 0; i < 1000; i++) {
			snprintf(f, sizeof(f), "\"i\":%d,\"outcome\":\"allow\"",
				 i);
			uint64_t seq = 0;
			ag_code rc = ag_dlog_append(l, f, strlen(f), &seq);
			if (rc != AG_OK) {
				r.fail_rc = (int)rc;
				break;
			}
			if (seq != (uint64_t)i + 1)
				_exit(5);
			r.acked++;
		}
		r.after_rc = (int)ag_dlog_append(l, "\"x\":1", 5, NULL);
		r.failed = ag_dlog_failed(l, r.why, sizeof(r.why));
		ag_dlog_close(l);
		if (write(pipefd[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(6);
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

	assert_int_equal(r.fail_rc, AG_ERR_IO);
	assert_int_equal(r.after_rc, AG_ERR_IO);
	assert_true(r.failed);
	assert_non_null(strstr(r.why, "cannot write the decision log: File "
				      "too large"));
	/* About 4096 / 128 records fit. */
	assert_true(r.acked >= 20 && r.acked < 45);
	/* The part of the failed record that was written was taken back:
	 * the log is exactly what was acknowledged. */
	verify_ok(d->log, (uint64_t)r.acked);
	struct ag_dlog *l = open_ok(d->log);
	assert_int_equal(ag_dlog_repaired_bytes(l), 0);
	assert_int_equal(append_ok(l, "\"i\":\"after\""), (uint64_t)r.acked + 1);
	ag_dlog_close(l);
	verify_ok(d->log, (uint64_t)r.acked + 1);
}

/* ---- verification ------------------------------------------------------ */

static void test_verify_counts(void **state)
{
	struct dir *d = *state;
	struct ag_dlog_verify res;
	struct ag_error err;

	/* Missing: an I/O error, not a verdict. */
	ag_error_init(&err);
	assert_int_equal(ag_dlog_verify_file(d->log, &res, &err), AG_ERR_IO);
	assert_non_null(strstr(err.msg, "cannot open: No such file"));

	write_log(d->log, 6);
	verify_ok(d->log, 6);

	/* Line 3 edited: reported at 3, two good records before it. */
	char *text = slurp(d->log, NULL);
	size_t ll;
	const char *l3 = line_of(text, 3, &ll);
	char *copy = strndup(l3, ll);
	char *a = strstr(copy, "\"i\":3");
	assert_non_null(a);
	a[4] = '7';
	replace_line(d->log, 3, copy);
	verify_bad(d->log, 3, 2,
		   "does not hash to the prev that line 4 records: this line "
		   "was changed, or line 4 was, or lines between them were "
		   "removed");
	free(copy);
	free(text);

	/* A line longer than a record. */
	assert_int_equal(unlink(d->log), 0);
	assert_int_equal(unlink(d->head), 0);
	write_log(d->log, 2);
	size_t n = AG_DLOG_RECORD_MAX + 1;
	char *big = malloc(n + 1);
	assert_non_null(big);
	memset(big, 'x', n);
	big[n] = '\n';
	spit(d->log, big, n + 1, true);
	verify_bad(d->log, 3, 2, "longer than 65536 bytes: not a record");
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_concurrent_appends, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reopen_continues, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail_repaired, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_torn_only_record, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_long_torn_tail_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_last_line_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_head_ahead_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_head_mismatch_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_head_behind_caught_up,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_fields_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_second_open_locked, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unopenable, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_only_directory, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_failed_write, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_verify_counts, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
