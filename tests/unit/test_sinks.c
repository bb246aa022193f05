/*
 * Sinks (docs/govern.md): the policy's `sinks:` list and its errors, the
 * cursor file's parser, and the dispatcher against real decision logs:
 * a file sink gets exactly the obligation records, and only the kinds it
 * takes; a cursor survives a restart without duplicates; an exec sink
 * gets the record on stdin and its environment, fails on a bad exit
 * status and is retried, and a hung command's process group is killed at
 * the timeout; a record edited in the middle or at the end of the log
 * stops delivery at that line without delivering it; a cursor that no
 * longer matches the log stops it too; a partial last line and a last
 * record the head does not name yet wait; a stop interrupts a delivery
 * at once; a sink another process is delivering to is left alone; a
 * file sink refuses a symbolic link and the decision log itself.
 */
#define _GNU_SOURCE /* asprintf */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "aalgate/gate.h"
#include "aalgate/govern.h"
#include "govern/sinks-int.h"

/* ---- a scratch directory per test -------------------------------------- */

struct dir {
	char path[256];
	char log[300];
	char out[300];
};

static int setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));
	assert_non_null(d);
	snprintf(d->path, sizeof(d->path), "/tmp/ag-sinks-XXXXXX");
	assert_non_null(mkdtemp(d->path));
	snprintf(d->log, sizeof(d->log), "%s/decisions.jsonl", d->path);
	snprintf(d->out, sizeof(d->out), "%s/alerts.jsonl", d->path);
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
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			rm_tree(p);
		else
			unlink(p);
	}
	closedir(dir);
	rmdir(path);
}

static int teardown(void **state)
{
	struct dir *d = *state;
	rm_tree(d->path);
	free(d);
	return 0;
}

/* ---- helpers ----------------------------------------------------------- */

/* Appends one record per fields string with the real log writer. */
static void append(const char *log, const char *const *fields)
{
	struct ag_dlog *l = NULL;
	struct ag_error err;
	ag_error_init(&err);
	if (ag_dlog_open(log, &l, &err) != AG_OK)
		fail_msg("open %s: %s", log, err.msg);
	for (size_t i = 0; fields[i]; i++)
		assert_int_equal(
			ag_dlog_append(l, fields[i], strlen(fields[i]), NULL),
			AG_OK);
	ag_dlog_close(l);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	int c;
	while ((c = fgetc(f)) != EOF)
		fputc(c, m);
	fclose(m);
	fclose(f);
	return buf;
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Line n (1-based) of a file, with its newline. */
static char *line_of(const char *path, int n)
{
	char *all = slurp(path), *p = all;
	assert_non_null(all);
	for (int i = 1; i < n; i++) {
		p = strchr(p, '\n');
		assert_non_null(p);
		p++;
	}
	char *nl = strchr(p, '\n');
	assert_non_null(nl);
	char *out = strndup(p, (size_t)(nl - p + 1));
	free(all);
	return out;
}

static char reports[8192];

static void capture(void *ctx, const char *line)
{
	(void)ctx;
	size_t n = strlen(reports);
	snprintf(reports + n, sizeof(reports) - n, "%s\n", line);
}

static struct ag_sinks *dispatcher(const char *log, unsigned backoff_ms)
{
	struct ag_sinks_opts o = {.report = capture,
				  .backoff_min_ms = backoff_ms,
				  .backoff_max_ms = backoff_ms * 4,
				  .poll_ms = 50};
	struct ag_sinks *d = NULL;
	struct ag_error err;
	ag_error_init(&err);
	reports[0] = '\0';
	if (ag_sinks_new(log, &o, &d, &err) != AG_OK)
		fail_msg("ag_sinks_new: %s", err.msg);
	return d;
}

static void configure(struct ag_sinks *d, const struct ag_sink *v, size_t n)
{
	struct ag_error err;
	ag_error_init(&err);
	if (ag_sinks_configure(d, v, n, &err) != AG_OK)
		fail_msg("configure: %s", err.msg);
}

static struct ag_sinks_round round_of(struct ag_sinks *d)
{
	struct ag_sinks_round r;
	assert_int_equal(ag_sinks_deliver(d, &r), AG_OK);
	return r;
}

static struct ag_sink_state state_of(struct ag_sinks *d, const char *name)
{
	struct ag_sink_state st;
	assert_int_equal(ag_sinks_state(d, name, &st), AG_OK);
	return st;
}

static struct ag_sink file_sink(const char *name, const char *path,
				unsigned events)
{
	struct ag_sink s = {.name = (char *)name,
			    .type = AG_SINK_FILE,
			    .events = events,
			    .path = (char *)path};
	return s;
}

static uint64_t cursor_seq(const struct dir *d, const char *name)
{
	char path[400], *text;
	struct ag_sink_cursor c;
	assert_int_equal(ag_sink_cursor_path(d->log, name, path, sizeof(path)),
			 AG_OK);
	if (!(text = slurp(path)))
		return 0;
	assert_int_equal(ag_sink_cursor_parse(text, strlen(text), &c), AG_OK);
	free(text);
	return c.seq;
}

static const char *const mixed[] = {
	"\"type\":\"decision\",\"outcome\":\"allow\"",
	"\"type\":\"break_glass_use\",\"obligation\":\"alert\",\"account\":\"root\"",
	"\"type\":\"decision\",\"outcome\":\"deny\"",
	"\"type\":\"recovery\",\"obligation\":\"notify\",\"account\":\"alice\"",
	"\"type\":\"other\",\"obligation\":\"page\"",
	"\"type\":\"other\",\"obligation\":1",
	NULL,
};

/* ---- the policy -------------------------------------------------------- */

static void test_policy_sinks(void **state)
{
	(void)state;
	static const char yaml[] =
		"sinks:\n"
		"  - { name: ops-alerts, type: file, path: alerts.jsonl }\n"
		"  - { name: pager, type: exec, command: [/usr/local/bin/page, "
		"--urgent], events: [alert] }\n"
		"  - name: soc\n"
		"    type: webhook\n"
		"    url: https://hooks.example/aalgate\n"
		"    timeout: 30s\n"
		"    ca_file: /etc/ssl/soc.pem\n"
		"    bearer_file: soc.token\n"
		"    headers: { X-Team: secops }\n"
		"    events: notify\n"
		"  - { name: local, type: webhook, url: "
		"\"http://[::1]:8080/hook\" }\n";
	struct ag_policy *p = NULL;
	struct ag_error err;
	ag_error_init(&err);
	assert_int_equal(ag_policy_load_buffer("/etc/aalgate/policy.yaml", yaml,
					       strlen(yaml), &p, &err),
			 AG_OK);
	assert_int_equal(p->n_sinks, 4);
	const struct ag_sink *s = p->sinks;
	assert_string_equal(s[0].name, "ops-alerts");
	assert_int_equal(s[0].type, AG_SINK_FILE);
	assert_int_equal(s[0].events, AG_SINK_ALERT | AG_SINK_NOTIFY);
	assert_string_equal(s[0].path, "/etc/aalgate/alerts.jsonl");
	assert_int_equal(s[0].line, 2);
	assert_int_equal(s[1].type, AG_SINK_EXEC);
	assert_int_equal(s[1].n_command, 2);
	assert_string_equal(s[1].command[0], "/usr/local/bin/page");
	assert_string_equal(s[1].command[1], "--urgent");
	assert_int_equal(s[1].timeout, 10);
	assert_int_equal(s[1].events, AG_SINK_ALERT);
	assert_int_equal(s[2].type, AG_SINK_WEBHOOK);
	assert_string_equal(s[2].url, "https://hooks.example/aalgate");
	assert_int_equal(s[2].timeout, 30);
	assert_string_equal(s[2].ca_file, "/etc/ssl/soc.pem");
	assert_string_equal(s[2].bearer_file, "/etc/aalgate/soc.token");
	assert_int_equal(s[2].n_headers, 1);
	assert_string_equal(s[2].headers[0], "X-Team: secops");
	assert_int_equal(s[2].events, AG_SINK_NOTIFY);
	assert_int_equal(s[3].timeout, 5);
	assert_string_equal(ag_sink_type_name(s[3].type), "webhook");

	/* A copy owns everything and compares equal field by field. */
	struct ag_sink c;
	assert_int_equal(ag_sink_copy(&c, &s[2]), AG_OK);
	assert_ptr_not_equal(c.headers, s[2].headers);
	assert_string_equal(c.headers[0], "X-Team: secops");
	assert_string_equal(c.bearer_file, s[2].bearer_file);
	ag_sink_release(&c);
	ag_policy_free(p);
}

static void test_policy_sink_errors(void **state)
{
	(void)state;
	static const struct {
		const char *yaml, *msg;
	} cases[] = {
		{"sinks: { name: x }\n",
		 "policy.yaml:1:8: sinks must be a list, not a mapping"},
		{"sinks:\n  - { type: file, path: a }\n",
		 "policy.yaml:2:5: a sink needs a name"},
		{"sinks:\n  - { name: x, path: a }\n",
		 "policy.yaml:2:5: sink 'x' needs a type (file, exec or "
		 "webhook)"},
		{"sinks:\n  - { name: x, type: fiel, path: a }\n",
		 "policy.yaml:2:22: unknown sink type 'fiel' (file, exec or "
		 "webhook); did you mean 'file'?"},
		{"sinks:\n  - { name: x, type: file, pth: a }\n",
		 "policy.yaml:2:28: unknown key 'pth' in sink 'x'; did you "
		 "mean 'path'?"},
		{"sinks:\n  - { name: x, type: file }\n",
		 "policy.yaml:2:5: sink 'x' needs a path"},
		{"sinks:\n  - { name: \"a b\", type: file, path: a }\n",
		 "policy.yaml:2:13: bad sink name 'a b' (1 to 64 letters, "
		 "digits, '_' and '-', starting with a letter or digit)"},
		{"sinks:\n  - { name: x, type: file, path: a }\n"
		 "  - { name: x, type: file, path: b }\n",
		 "policy.yaml:3:13: sink name 'x' is used twice (first at "
		 "line 2)"},
		{"sinks:\n  - { name: x, type: file, path: a, url: "
		 "https://h/ }\n",
		 "policy.yaml:2:42: sink 'x': url is for webhook sinks, not "
		 "file"},
		{"sinks:\n  - { name: x, type: file, path: a, timeout: 5s }\n",
		 "policy.yaml:2:46: sink 'x': timeout is for exec and webhook "
		 "sinks, not file"},
		{"sinks:\n  - { name: x, type: file, path: a, events: [alret] "
		 "}\n",
		 "policy.yaml:2:46: unknown event 'alret' (alert or notify); "
		 "did you mean 'alert'?"},
		{"sinks:\n  - { name: x, type: file, path: a, events: [] }\n",
		 "policy.yaml:2:45: events must list alert, notify or both"},
		{"sinks:\n  - { name: x, type: file, path: a, events: [alert, "
		 "alert] }\n",
		 "policy.yaml:2:53: event 'alert' is listed twice"},
		{"sinks:\n  - { name: x, type: exec, command: page }\n",
		 "policy.yaml:2:37: command must be a list such as "
		 "[/usr/local/bin/page, --urgent], not a single value: it runs "
		 "without a shell"},
		{"sinks:\n  - { name: x, type: exec, command: [page] }\n",
		 "policy.yaml:2:38: command 'page' must be an absolute path: it "
		 "runs without a shell or a PATH search"},
		{"sinks:\n  - { name: x, type: exec, command: [/bin/true], "
		 "timeout: 0s }\n",
		 "policy.yaml:2:59: timeout must be from 1s to 5m"},
		{"sinks:\n  - { name: x, type: exec, command: [/bin/true], "
		 "timeout: 6m }\n",
		 "policy.yaml:2:59: timeout must be from 1s to 5m"},
		{"sinks:\n  - { name: x, type: webhook, url: "
		 "http://hooks.example/ }\n",
		 "policy.yaml:2:36: url 'http://hooks.example/' uses http:// to "
		 "a host that is not a loopback address; use https:// "
		 "(http:// is accepted only for 127.0.0.1 or [::1], written as "
		 "such)"},
		{"sinks:\n  - { name: x, type: webhook, url: "
		 "http://localhost:80/ }\n",
		 "policy.yaml:2:36: url 'http://localhost:80/' uses http:// to "
		 "a host that is not a loopback address; use https:// "
		 "(http:// is accepted only for 127.0.0.1 or [::1], written as "
		 "such)"},
		{"sinks:\n  - { name: x, type: webhook, url: "
		 "\"https://u:pw@hooks.example/\" }\n",
		 "policy.yaml:2:36: url 'https://u:pw@hooks.example/' holds "
		 "credentials, which would sit in the policy in clear text; put "
		 "a bearer token in bearer_file instead"},
		{"sinks:\n  - { name: x, type: webhook, url: ftp://h/ }\n",
		 "policy.yaml:2:36: url must start with https:// (or http:// "
		 "to a loopback address), not 'ftp://h/'"},
		{"sinks:\n  - { name: x, type: webhook, url: \"https:// x\" }\n",
		 "policy.yaml:2:36: url 'https:// x' holds a space, a control "
		 "character or a byte outside ASCII; percent-encode it"},
		{"sinks:\n  - { name: x, type: webhook, url: https://h/, "
		 "headers: { Authorization: Bearer abc } }\n",
		 "policy.yaml:2:59: header 'Authorization' would keep a secret "
		 "in the policy in clear text; name a file holding a bearer "
		 "token in bearer_file instead"},
		{"sinks:\n  - { name: x, type: webhook, url: https://h/, "
		 "headers: { Content-Type: text/plain } }\n",
		 "policy.yaml:2:59: header 'Content-Type' is set by aalgate"},
		{"sinks:\n  - { name: x, type: webhook, url: https://h/, "
		 "headers: { \"X y\": z } }\n",
		 "policy.yaml:2:59: bad header name 'X y'"},
		{"sinks:\n  - { name: x, type: webhook, url: http://127.0.0.1/, "
		 "ca_file: ca.pem }\n",
		 "policy.yaml:2:64: sink 'x': ca_file is for an https:// url"},
		{"sinks:\n  - { name: x, type: webhook }\n",
		 "policy.yaml:2:5: sink 'x' needs a url"},
		{"sinks:\n  - file\n",
		 "policy.yaml:2:5: a sink must be a mapping, not a single "
		 "value"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		policy_fails(cases[i].yaml, AG_ERR_INVALID, cases[i].msg);

	/* Loopback http:// forms that are accepted. */
	static const char *const ok[] = {
		"http://127.0.0.1/", "http://127.0.0.1:8080/x",
		"http://127.1.2.3",  "http://[::1]:9/h?q=1",
		"HTTPS://h.example",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char yaml[256];
		snprintf(
			yaml, sizeof(yaml),
			"sinks:\n  - { name: x, type: webhook, url: \"%s\" }\n",
			ok[i]);
		struct ag_policy *p = policy_ok(yaml);
		assert_string_equal(p->sinks[0].url, ok[i]);
		ag_policy_free(p);
	}
}

/* ---- the cursor file --------------------------------------------------- */

static void test_cursor_parse(void **state)
{
	(void)state;
	struct ag_sink_cursor c;
	char zeros[65], hex[65], text[200];
	memset(zeros, '0', 64);
	zeros[64] = '\0';
	memset(hex, 'a', 64);
	hex[64] = '\0';

	snprintf(text, sizeof(text), "12 3456 %s\n", hex);
	assert_int_equal(ag_sink_cursor_parse(text, strlen(text), &c), AG_OK);
	assert_int_equal(c.seq, 12);
	assert_int_equal(c.offset, 3456);
	assert_string_equal(c.hash, hex);
	char back[200];
	assert_int_equal(ag_sink_cursor_format(&c, back, sizeof(back)),
			 strlen(text));
	assert_string_equal(back, text);

	snprintf(text, sizeof(text), "0 0 %s\n", zeros);
	assert_int_equal(ag_sink_cursor_parse(text, strlen(text), &c), AG_OK);
	assert_int_equal(c.seq, 0);
	snprintf(text, sizeof(text), "1 0 %s\n", hex);
	assert_int_equal(ag_sink_cursor_parse(text, strlen(text), &c), AG_OK);

#define HEX "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	const char *bad[] = {
		"",
		"\n",
		"12 3456 " HEX,
		"12 3456 " HEX "\n\n",
		"012 3456 " HEX "\n",
		"12 03456 " HEX "\n",
		"12  3456 " HEX "\n",
		"12 3456  " HEX "\n",
		"-1 3456 " HEX "\n",
		"12 3456 " HEX "A\n",
		"0 5 " HEX "\n",
		"1 7 " HEX "\n",
		"2 0 " HEX "\n",
		"18446744073709551616 1 " HEX "\n",
		"12 9223372036854775808 " HEX "\n",
		"12 3456\n",
		"12\n",
		"12 3456 " HEX "\n"
		"x",
	};
#undef HEX
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c.seq = 99;
		assert_int_equal(
			ag_sink_cursor_parse(bad[i], strlen(bad[i]), &c),
			AG_ERR_INVALID);
		assert_int_equal(c.seq, 0);
	}
	/* Upper-case hex, and seq 0 with a hash that is not zeros. */
	char up[65];
	memset(up, 'A', 64);
	up[64] = '\0';
	snprintf(text, sizeof(text), "3 9 %s\n", up);
	assert_int_equal(ag_sink_cursor_parse(text, strlen(text), &c),
			 AG_ERR_INVALID);
	snprintf(text, sizeof(text), "0 0 %s\n", hex);
	assert_int_equal(ag_sink_cursor_parse(text, strlen(text), &c),
			 AG_ERR_INVALID);

	char path[64];
	assert_int_equal(ag_sink_cursor_path("/var/log/d.jsonl", "ops", path,
					     sizeof(path)),
			 AG_OK);
	assert_string_equal(path, "/var/log/d.jsonl.sink-ops");
	assert_int_equal(ag_sink_cursor_path("/var/log/d.jsonl", "../x", path,
					     sizeof(path)),
			 AG_ERR_USAGE);
	assert_int_equal(ag_sink_cursor_path("/var/log/d.jsonl", "a.lock", path,
					     sizeof(path)),
			 AG_ERR_USAGE);
	assert_int_equal(
		ag_sink_cursor_path("/var/log/d.jsonl", "ops", path, 20),
		AG_ERR_USAGE);
}

/* ---- the file sink ----------------------------------------------------- */

static void test_file_gets_obligations_only(void **state)
{
	struct dir *d = *state;
	char alerts_only[320];
	snprintf(alerts_only, sizeof(alerts_only), "%s/only-alerts.jsonl",
		 d->path);
	append(d->log, mixed);

	struct ag_sinks *ds = dispatcher(d->log, 1000);
	struct ag_sink v[] = {
		file_sink("ops", d->out, AG_SINK_ALERT | AG_SINK_NOTIFY),
		file_sink("alerts", alerts_only, AG_SINK_ALERT),
	};
	configure(ds, v, 2);
	struct ag_sinks_round r = round_of(ds);
	assert_int_equal(r.delivered, 3);
	assert_int_equal(r.failing, 0);
	assert_int_equal(r.next_retry_ms, -1);

	/* Records 2 (alert) and 4 (notify), byte for byte, nothing else. */
	char *l2 = line_of(d->log, 2), *l4 = line_of(d->log, 4);
	char *want = NULL, *got = slurp(d->out);
	assert_true(asprintf(&want, "%s%s", l2, l4) > 0);
	assert_string_equal(got, want);
	assert_non_null(strstr(l2, "\"seq\":2,"));
	assert_non_null(strstr(l2, "\"account\":\"root\""));
	assert_non_null(strstr(l4, "\"obligation\":\"notify\""));
	free(got);
	got = slurp(alerts_only);
	assert_string_equal(got, l2);
	free(got);

	/* Created 0600; the cursors have passed every record, the ones
	 * no sink takes included. */
	struct stat st;
	assert_int_equal(stat(d->out, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(cursor_seq(d, "ops"), 6);
	assert_int_equal(cursor_seq(d, "alerts"), 6);
	struct ag_sink_state s = state_of(ds, "ops");
	assert_int_equal(s.delivered, 2);
	assert_int_equal(s.cursor, 6);
	assert_false(s.failing);
	assert_int_equal(ag_sinks_state(ds, "nope", &s), AG_ERR_NOT_FOUND);

	/* Nothing new: nothing delivered again. */
	r = round_of(ds);
	assert_int_equal(r.delivered, 0);
	got = slurp(d->out);
	assert_string_equal(got, want);
	free(got);
	assert_string_equal(reports, "");
	ag_sinks_free(ds);
	free(want);
	free(l2);
	free(l4);
}

static void test_restart_no_duplicates(void **state)
{
	struct dir *d = *state;
	struct ag_sink v =
		file_sink("ops", d->out, AG_SINK_ALERT | AG_SINK_NOTIFY);
	append(d->log, mixed);

	struct ag_sinks *ds = dispatcher(d->log, 1000);
	configure(ds, &v, 1);
	assert_int_equal(round_of(ds).delivered, 2);
	ag_sinks_free(ds);

	/* A new process: the cursor says where to go on. */
	ds = dispatcher(d->log, 1000);
	configure(ds, &v, 1);
	assert_int_equal(round_of(ds).delivered, 0);
	append(d->log,
	       LIST("\"obligation\":\"alert\",\"n\":7", "\"type\":\"decision\"",
		    "\"obligation\":\"notify\",\"n\":9"));
	assert_int_equal(round_of(ds).delivered, 2);
	ag_sinks_free(ds);

	char *got = slurp(d->out), *want = NULL;
	char *l2 = line_of(d->log, 2), *l4 = line_of(d->log, 4),
	     *l7 = line_of(d->log, 7), *l9 = line_of(d->log, 9);
	assert_true(asprintf(&want, "%s%s%s%s", l2, l4, l7, l9) > 0);
	assert_string_equal(got, want);
	assert_non_null(strstr(l9, "\"n\":9"));
	assert_int_equal(cursor_seq(d, "ops"), 9);
	free(got);
	free(want);
	free(l2);
	free(l4);
	free(l7);
	free(l9);
}

static void test_file_refuses_link_and_log(void **state)
{
	struct dir *d = *state;
	char target[320];
	snprintf(target, sizeof(target), "%s/target", d->path);
	put(target, "");
	assert_int_equal(symlink(target, d->out), 0);
	append(d->log, mixed);

	struct ag_sinks *ds = dispatcher(d->log, 1000);
	struct ag_sink v = file_sink("ops", d->out, AG_SINK_ALERT);
	configure(ds, &v, 1);
	struct ag_sinks_round r = round_of(ds);
	assert_int_equal(r.delivered, 0);
	assert_int_equal(r.failing, 1);
	assert_int_equal(r.broken, 0);
	assert_true(r.next_retry_ms > 0 && r.next_retry_ms <= 1000);
	struct ag_sink_state s = state_of(ds, "ops");
	assert_true(s.failing);
	assert_int_equal(s.failures, 1);
	assert_non_null(strstr(s.error, "obligation seq 2 (alert) not "
					"delivered: "));
	assert_non_null(strstr(s.error, "symbolic link"));
	assert_non_null(strstr(reports, "sink 'ops': obligation seq 2"));
	assert_non_null(strstr(reports, "retrying in 1s"));
	assert_int_equal(cursor_seq(d, "ops"), 1);
	char *t = slurp(target);
	assert_string_equal(t, "");
	free(t);

	/* The decision log itself is never a sink's file. */
	struct ag_sink w = file_sink("self", d->log, AG_SINK_ALERT);
	configure(ds, &w, 1);
	round_of(ds);
	s = state_of(ds, "self");
	assert_true(s.failing);
	assert_non_null(strstr(s.error, "is the decision log"));
	struct ag_dlog_verify res;
	struct ag_error err;
	ag_error_init(&err);
	assert_int_equal(ag_dlog_verify_file(d->log, &res, &err), AG_OK);
	assert_int_equal(res.records, 6);
	ag_sinks_free(ds);
}

/* ---- the exec sink ----------------------------------------------------- */

static void test_exec_stdin_and_env(void **state)
{
	struct dir *d = *state;
	char script[2048];
	snprintf(script, sizeof(script),
		 "cat > %s/in.$AALGATE_SEQ; env | sort > %s/env.$AALGATE_SEQ; "
		 "pwd > %s/pwd",
		 d->path, d->path, d->path);
	char *argv[] = {"/bin/sh", "-c", script};
	struct ag_sink v = {.name = "pager",
			    .type = AG_SINK_EXEC,
			    .events = AG_SINK_ALERT,
			    .command = argv,
			    .n_command = 3,
			    .timeout = 10};
	append(d->log, mixed);
	setenv("AG_TEST_SECRET", "leak", 1);

	struct ag_sinks *ds = dispatcher(d->log, 1000);
	configure(ds, &v, 1);
	assert_int_equal(round_of(ds).delivered, 1);
	ag_sinks_free(ds);

	char path[400], *got, *l2 = line_of(d->log, 2);
	snprintf(path, sizeof(path), "%s/in.2", d->path);
	got = slurp(path);
	assert_non_null(got);
	assert_string_equal(got, l2);
	free(got);
	snprintf(path, sizeof(path), "%s/in.4", d->path);
	assert_null(slurp(path)); /* a notify: not this sink's */

	snprintf(path, sizeof(path), "%s/env.2", d->path);
	got = slurp(path);
	assert_non_null(got);
	assert_non_null(strstr(got, "AALGATE_SINK=pager\n"));
	assert_non_null(strstr(got, "AALGATE_SEQ=2\n"));
	assert_non_null(strstr(got, "AALGATE_OBLIGATION=alert\n"));
	assert_non_null(strstr(got, "AALGATE_RECORD_SHA256="));
	assert_non_null(strstr(got, "PATH=/usr/local/sbin:"));
	assert_null(strstr(got, "AG_TEST_SECRET"));
	assert_null(strstr(got, "HOME="));
	free(got);
	snprintf(path, sizeof(path), "%s/pwd", d->path);
	got = slurp(path);
	assert_string_equal(got, "/\n");
	free(got);
	free(l2);
	unsetenv("AG_TEST_SECRET");
}

static void test_exec_failure_retried(void **state)
{
	struct dir *d = *state;
	char script[2048], flag[320], done[320];
	snprintf(flag, sizeof(flag), "%s/ok", d->path);
	snprintf(done, sizeof(done), "%s/done", d->path);
	snprintf(script, sizeof(script),
		 "test -e %s || { echo 'pager down'; exit 3; }; "
		 "cat >> %s",
		 flag, done);
	char *argv[] = {"/bin/sh", "-c", script};
	struct ag_sink v = {.name = "pager",
			    .type = AG_SINK_EXEC,
			    .events = AG_SINK_ALERT | AG_SINK_NOTIFY,
			    .command = argv,
			    .n_command = 3,
			    .timeout = 10};
	append(d->log, mixed);

	/* A backoff wide enough that a slow, sanitized run does not
	 * reach the next attempt by accident. */
	struct ag_sinks *ds = dispatcher(d->log, 400);
	configure(ds, &v, 1);
	struct ag_sinks_round r = round_of(ds);
	assert_int_equal(r.delivered, 0);
	assert_int_equal(r.failing, 1);
	struct ag_sink_state s = state_of(ds, "pager");
	assert_string_equal(s.error,
			    "obligation seq 2 (alert) not delivered: /bin/sh "
			    "exited with status 3: pager down");
	assert_int_equal(cursor_seq(d, "pager"), 1);

	/* Not due yet: no attempt. */
	r = round_of(ds);
	assert_int_equal(state_of(ds, "pager").failures, 1);
	/* Due, still failing: the backoff doubles, the report waits. */
	usleep(450 * 1000);
	r = round_of(ds);
	s = state_of(ds, "pager");
	assert_int_equal(s.failures, 2);
	assert_true(r.next_retry_ms > 400 && r.next_retry_ms <= 800);
	char *one = strstr(reports, "pager down");
	assert_non_null(one);
	assert_null(strstr(one + 1, "pager down"));

	/* The command recovers: both obligations, in order, once. */
	put(flag, "");
	usleep(850 * 1000);
	r = round_of(ds);
	assert_int_equal(r.delivered, 2);
	assert_int_equal(r.failing, 0);
	s = state_of(ds, "pager");
	assert_false(s.failing);
	assert_string_equal(s.error, "");
	assert_int_equal(cursor_seq(d, "pager"), 6);
	assert_non_null(strstr(reports, "sink 'pager': delivering again "
					"after 2 failed attempts"));
	char *got = slurp(done), *want = NULL;
	char *l2 = line_of(d->log, 2), *l4 = line_of(d->log, 4);
	assert_true(asprintf(&want, "%s%s", l2, l4) > 0);
	assert_string_equal(got, want);
	free(got);
	free(want);
	free(l2);
	free(l4);
	ag_sinks_free(ds);
}

/* Whether process pid is gone (or a zombie nobody reaped yet). */
static bool dead(pid_t pid)
{
	char path[64], *text;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(text = slurp(path)))
		return true;
	char *paren = strrchr(text, ')');
	bool z = paren && (paren[2] == 'Z' || paren[2] == 'X');
	free(text);
	return z;
}

static void test_exec_timeout_kills_group(void **state)
{
	struct dir *d = *state;
	char script[2048], pidfile[320];
	snprintf(pidfile, sizeof(pidfile), "%s/pid", d->path);
	/* A command that hangs, with a child of its own that would outlive
	 * it if only the command were killed. */
	snprintf(script, sizeof(script), "sleep 300 & echo $! > %s; wait",
		 pidfile);
	char *argv[] = {"/bin/sh", "-c", script};
	struct ag_sink v = {.name = "hang",
			    .type = AG_SINK_EXEC,
			    .events = AG_SINK_ALERT,
			    .command = argv,
			    .n_command = 3,
			    .timeout = 1};
	append(d->log, mixed);

	struct ag_sinks *ds = dispatcher(d->log, 100);
	configure(ds, &v, 1);
	int64_t t0 = ag_sink_now_ms();
	struct ag_sinks_round r = round_of(ds);
	int64_t took = ag_sink_now_ms() - t0;
	assert_true(took >= 1000 && took < 3000);
	assert_int_equal(r.failing, 1);
	struct ag_sink_state s = state_of(ds, "hang");
	assert_string_equal(s.error,
			    "obligation seq 2 (alert) not delivered: /bin/sh "
			    "did not finish within 1s; its process group was "
			    "killed");
	char *text = slurp(pidfile);
	assert_non_null(text);
	pid_t child = (pid_t)strtol(text, NULL, 10);
	free(text);
	assert_true(child > 0);
	for (int i = 0; i < 100 && !dead(child); i++)
		usleep(20 * 1000);
	assert_true(dead(child));
	assert_int_equal(cursor_seq(d, "hang"), 1);

	/* And it is tried again. */
	usleep(150 * 1000);
	round_of(ds);
	assert_int_equal(state_of(ds, "hang").failures, 2);
	ag_sinks_free(ds);
}

static void test_stop_interrupts(void **state)
{
	struct dir *d = *state;
	char *argv[] = {"/bin/sleep", "300"};
	struct ag_sink v = {.name = "slow",
			    .type = AG_SINK_EXEC,
			    .events = AG_SINK_ALERT,
			    .command = argv,
			    .n_command = 2,
			    .timeout = 300};
	struct ag_error err;
	append(d->log, mixed);

	struct ag_sinks *ds = dispatcher(d->log, 100);
	configure(ds, &v, 1);
	ag_error_init(&err);
	assert_int_equal(ag_sinks_start(ds, &err), AG_OK);
	usleep(300 * 1000);
	int64_t t0 = ag_sink_now_ms();
	ag_sinks_free(ds);
	assert_true(ag_sink_now_ms() - t0 < 1000);
	assert_int_equal(cursor_seq(d, "slow"), 1);
	/* Given up, not failed: nothing reported. */
	assert_string_equal(reports, "");
}

/* ---- the log's chain --------------------------------------------------- */

/* Replaces the first occurrence of from in line n of path by to (of the
 * same length, so that offsets stay). */
static void edit_line(const char *path, int n, const char *from, const char *to)
{
	char *all = slurp(path), *p = all;
	assert_non_null(all);
	for (int i = 1; i < n; i++)
		p = strchr(p, '\n') + 1;
	char *hit = strstr(p, from);
	assert_non_null(hit);
	assert_true(hit < strchr(p, '\n'));
	assert_int_equal(strlen(from), strlen(to));
	memcpy(hit, to, strlen(to));
	put(path, all);
	free(all);
}

static void test_tampered_record_stops(void **state)
{
	struct dir *d = *state;
	struct ag_sink v =
		file_sink("ops", d->out, AG_SINK_ALERT | AG_SINK_NOTIFY);
	append(d->log, LIST("\"obligation\":\"alert\",\"n\":1",
			    "\"obligation\":\"alert\",\"n\":2",
			    "\"obligation\":\"alert\",\"n\":3",
			    "\"obligation\":\"alert\",\"n\":4"));
	/* Record 3 changed (still valid JSON): 1 and 2 go out, 3 and what
	 * follows do not. */
	edit_line(d->log, 3, "\"n\":3", "\"n\":8");

	struct ag_sinks *ds = dispatcher(d->log, 1000);
	configure(ds, &v, 1);
	struct ag_sinks_round r = round_of(ds);
	assert_int_equal(r.delivered, 2);
	assert_int_equal(r.failing, 1);
	assert_int_equal(r.broken, 1);
	struct ag_sink_state s = state_of(ds, "ops");
	assert_true(s.broken);
	char want[1200];
	snprintf(want, sizeof(want),
		 "%s:3: does not hash to the prev that line 4 records: this "
		 "line was changed, or line 4 was",
		 d->log);
	assert_string_equal(s.error, want);
	assert_non_null(strstr(reports, "sink 'ops': delivery stopped: "));
	assert_non_null(strstr(reports, want));
	assert_int_equal(cursor_seq(d, "ops"), 2);
	char *got = slurp(d->out);
	assert_non_null(strstr(got, "\"n\":2"));
	assert_null(strstr(got, "\"n\":8"));
	assert_null(strstr(got, "\"n\":4"));
	free(got);

	/* Status agrees, and changes nothing. */
	struct ag_sink_status st;
	struct ag_error err;
	ag_error_init(&err);
	assert_int_equal(ag_sink_status(d->log, &v, &st, &err), AG_OK);
	assert_true(st.broken);
	assert_string_equal(st.why, want);
	assert_int_equal(st.cursor, 2);
	ag_sinks_free(ds);
}

static void test_tampered_last_record_stops(void **state)
{
	struct dir *d = *state;
	struct ag_sink v =
		file_sink("ops", d->out, AG_SINK_ALERT | AG_SINK_NOTIFY);
	append(d->log, LIST("\"obligation\":\"alert\",\"n\":1",
			    "\"obligation\":\"notify\",\"n\":2"));
	/* Only the head can tell that the last record changed. */
	edit_line(d->log, 2, "\"n\":2", "\"n\":5");

	struct ag_sinks *ds = dispatcher(d->log, 1000);
	configure(ds, &v, 1);
	struct ag_sinks_round r = round_of(ds);
	assert_int_equal(r.delivered, 1);
	assert_int_equal(r.broken, 1);
	char want[1200];
	snprintf(want, sizeof(want),
		 "%s:2: does not hash to the hash that %s.head holds for seq "
		 "2: this line was changed, or the head was",
		 d->log, d->log);
	assert_string_equal(state_of(ds, "ops").error, want);
	char *got = slurp(d->out);
	assert_null(strstr(got, "\"n\":5"));
	free(got);
	ag_sinks_free(ds);
}

static void test_cursor_mismatch_stops(void **state)
{
	struct dir *d = *state;
	struct ag_sink v = file_sink("ops", d->out, AG_SINK_ALERT);
	append(d->log, mixed);
	struct ag_sinks *ds = dispatcher(d->log, 1000);
	configure(ds, &v, 1);
	assert_int_equal(round_of(ds).delivered, 1);
	ag_sinks_free(ds);

	/* Another log in its place (rotated): the cursor's record is not
	 * there any more, and nothing of the new log is taken for it. */
	char head[400];
	snprintf(head, sizeof(head), "%s.head", d->log);
	unlink(d->log);
	unlink(head);
	append(d->log, LIST("\"obligation\":\"alert\",\"n\":1",
			    "\"obligation\":\"alert\",\"n\":2",
			    "\"obligation\":\"alert\",\"n\":3",
			    "\"obligation\":\"alert\",\"n\":4",
			    "\"obligation\":\"alert\",\"n\":5",
			    "\"obligation\":\"alert\",\"n\":6",
			    "\"obligation\":\"alert\",\"n\":7"));
	ds = dispatcher(d->log, 1000);
	configure(ds, &v, 1);
	struct ag_sinks_round r = round_of(ds);
	assert_int_equal(r.delivered, 0);
	assert_int_equal(r.broken, 1);
	struct ag_sink_state s = state_of(ds, "ops");
	assert_non_null(strstr(s.error, ":6: record 6 is not the one the "
					"sink dealt with last"));
	ag_sinks_free(ds);

	/* A cursor that is not one: stopped, with what to do. */
	char cpath[400];
	assert_int_equal(
		ag_sink_cursor_path(d->log, "ops", cpath, sizeof(cpath)),
		AG_OK);
	put(cpath, "garbage\n");
	ds = dispatcher(d->log, 1000);
	configure(ds, &v, 1);
	r = round_of(ds);
	assert_int_equal(r.broken, 1);
	assert_non_null(strstr(state_of(ds, "ops").error, "not a sink cursor"));
	/* Removing it delivers the whole log again. */
	unlink(cpath);
	usleep(1100 * 1000);
	r = round_of(ds);
	assert_int_equal(r.delivered, 7);
	assert_int_equal(r.failing, 0);
	ag_sinks_free(ds);
}

static void test_partial_and_unconfirmed_wait(void **state)
{
	struct dir *d = *state;
	char other[320], head[400], ohead[400];
	snprintf(other, sizeof(other), "%s/other.jsonl", d->path);
	snprintf(head, sizeof(head), "%s.head", d->log);
	snprintf(ohead, sizeof(ohead), "%s.head", other);
	const char *const two[] = {"\"obligation\":\"alert\",\"n\":1",
				   "\"obligation\":\"alert\",\"n\":2", NULL};
	append(d->log, two);
	append(other, two);
	append(other, LIST("\"obligation\":\"notify\",\"n\":3"));
	char *third = line_of(other, 3), *ohead_text = slurp(ohead);
	size_t half = strlen(third) / 2;

	struct ag_sink v =
		file_sink("ops", d->out, AG_SINK_ALERT | AG_SINK_NOTIFY);
	struct ag_sinks *ds = dispatcher(d->log, 1000);
	configure(ds, &v, 1);
	assert_int_equal(round_of(ds).delivered, 2);

	/* Half a record (a write in progress): not read, not an error. */
	FILE *f = fopen(d->log, "ab");
	fwrite(third, 1, half, f);
	fclose(f);
	struct ag_sinks_round r = round_of(ds);
	assert_int_equal(r.delivered, 0);
	assert_int_equal(r.failing, 0);

	/* Whole, but the head does not name it yet: it waits. */
	f = fopen(d->log, "ab");
	fputs(third + half, f);
	fclose(f);
	r = round_of(ds);
	assert_int_equal(r.delivered, 0);
	assert_int_equal(r.failing, 0);
	struct ag_sink_status st;
	struct ag_error err;
	ag_error_init(&err);
	assert_int_equal(ag_sink_status(d->log, &v, &st, &err), AG_OK);
	assert_int_equal(st.waiting, 1);
	assert_int_equal(st.first_waiting, 3);
	assert_int_equal(st.records, 3);

	/* The head moves: delivered. */
	put(head, ohead_text);
	r = round_of(ds);
	assert_int_equal(r.delivered, 1);
	char *got = slurp(d->out);
	assert_non_null(strstr(got, third));
	free(got);
	ag_error_init(&err);
	assert_int_equal(ag_sink_status(d->log, &v, &st, &err), AG_OK);
	assert_int_equal(st.waiting, 0);
	assert_int_equal(st.cursor, 3);
	free(third);
	free(ohead_text);
	ag_sinks_free(ds);
}

static void test_lock_held_elsewhere(void **state)
{
	struct dir *d = *state;
	char lock[400];
	struct ag_sink v = file_sink("ops", d->out, AG_SINK_ALERT);
	append(d->log, mixed);
	assert_int_equal(
		ag_sink_cursor_path(d->log, "ops", lock, sizeof(lock) - 8),
		AG_OK);
	strcat(lock, ".lock"); /* test code: banned.h is not included */
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);

	struct ag_sinks *ds = dispatcher(d->log, 1000);
	configure(ds, &v, 1);
	struct ag_sinks_round r = round_of(ds);
	assert_int_equal(r.delivered, 0);
	assert_int_equal(r.failing, 1);
	assert_non_null(strstr(state_of(ds, "ops").error,
			       "another process is delivering to this sink"));
	close(fd);
	ag_sinks_free(ds);
	assert_null(slurp(d->out));
}

static void done(void *arg, ag_code rc, uint64_t seq)
{
	(void)arg;
	(void)seq;
	assert_int_equal(rc, AG_OK);
}

static void test_many_records(void **state)
{
	struct dir *d = *state;
	struct ag_dlog *l = NULL;
	struct ag_error err;
	ag_error_init(&err);
	assert_int_equal(ag_dlog_open(d->log, &l, &err), AG_OK);
	/* Queued without waiting for each sync; close writes them all. */
	for (int i = 1; i <= 3000; i++) {
		char f[96];
		int n = snprintf(f, sizeof(f),
				 i % 500 == 0
					 ? "\"obligation\":\"alert\",\"i\":%d"
					 : "\"outcome\":\"allow\",\"i\":%d",
				 i);
		assert_int_equal(
			ag_dlog_append_async(l, f, (size_t)n, done, NULL),
			AG_OK);
	}
	ag_dlog_close(l);
	struct ag_sink v = file_sink("ops", d->out, AG_SINK_ALERT);
	struct ag_sinks *ds = dispatcher(d->log, 1000);
	configure(ds, &v, 1);
	assert_int_equal(round_of(ds).delivered, 6);
	assert_int_equal(cursor_seq(d, "ops"), 3000);
	char *got = slurp(d->out);
	assert_non_null(strstr(got, "\"seq\":500,"));
	assert_non_null(strstr(got, "\"seq\":3000,"));
	free(got);
	ag_sinks_free(ds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_sinks),
		cmocka_unit_test(test_policy_sink_errors),
		cmocka_unit_test(test_cursor_parse),
		cmocka_unit_test_setup_teardown(test_file_gets_obligations_only,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_no_duplicates,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_refuses_link_and_log,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_stdin_and_env, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_exec_failure_retried,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_timeout_kills_group,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_interrupts, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tampered_record_stops,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_last_record_stops,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_cursor_mismatch_stops,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_partial_and_unconfirmed_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_held_elsewhere, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_many_records, setup,
						teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
