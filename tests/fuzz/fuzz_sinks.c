/*
 * libFuzzer target: the sinks' cursor file parser and the log reader
 * behind ag_sink_status and ag_sinks_deliver.
 *
 * Input: an optional head ('H', then the head file's bytes up to and
 * including the first newline, at most 200), then the cursor file's bytes
 * up to and including the next newline (at most 200; an empty line means
 * no cursor file), then the log.
 *
 * Oracles: a cursor that parses formats back to the same bytes; status
 * answers AG_OK (broken with a reason, or not) or AG_ERR_IO; with no
 * cursor, a log that ag_dlog_verify_file accepts is not broken, has as
 * many records, and a round of a file sink delivers exactly what status
 * said was waiting, without failing.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aalgate/gate.h"
#include "aalgate/govern.h"
#include "govern/sinks-int.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], log_path[128], head_path[160], cursor_path[192],
	lock_path[200], out_path[128];

static void cleanup(void)
{
	unlink(head_path);
	unlink(log_path);
	unlink(cursor_path);
	unlink(lock_path);
	unlink(out_path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct stat st;

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/ag-fuzz-sinks-XXXXXX",
		 stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm"
								   : "/tmp");
	if (!mkdtemp(dir)) {
		perror("fuzz_sinks: mkdtemp");
		abort();
	}
	snprintf(log_path, sizeof(log_path), "%s/decisions.jsonl", dir);
	snprintf(head_path, sizeof(head_path), "%s.head", log_path);
	snprintf(cursor_path, sizeof(cursor_path), "%s.sink-ops", log_path);
	snprintf(lock_path, sizeof(lock_path), "%s.lock", cursor_path);
	snprintf(out_path, sizeof(out_path), "%s/out.jsonl", dir);
	atexit(cleanup);
	return 0;
}

static void put(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			abort();
		p += w;
		n -= (size_t)w;
	}
	close(fd);
}

/* Splits off the bytes up to and including the first newline (at most
 * 200). */
static size_t take_line(const uint8_t **data, size_t *size)
{
	size_t lim = *size < 200 ? *size : 200;
	const uint8_t *nl = memchr(*data, '\n', lim);
	size_t n = nl ? (size_t)(nl - *data) + 1 : lim;
	*data += n;
	*size -= n;
	return n;
}

static size_t lines_of(const char *path)
{
	size_t n = 0;
	FILE *f = fopen(path, "rb");
	int c;
	if (!f)
		return 0;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ag_sink_cursor c;
	struct ag_sink_status st;
	struct ag_error err;
	char back[AG_SINK_CURSOR_MAX + 1];

	unlink(head_path);
	unlink(cursor_path);
	unlink(out_path);
	if (size && data[0] == 'H') {
		data++;
		size--;
		const uint8_t *h = data;
		size_t hn = take_line(&data, &size);
		put(head_path, h, hn);
	}
	const uint8_t *cur = data;
	size_t cn = take_line(&data, &size);
	bool have_cursor = cn > 1;
	put(log_path, data, size);
	if (have_cursor)
		put(cursor_path, cur, cn);

	/* The parser alone: what parses prints back the same. */
	if (ag_sink_cursor_parse((const char *)cur, cn, &c) == AG_OK) {
		size_t n = ag_sink_cursor_format(&c, back, sizeof(back));
		if (n != cn || memcmp(back, cur, cn))
			abort();
	}

	struct ag_sink s = {.name = "ops",
			    .type = AG_SINK_FILE,
			    .events = AG_SINK_ALERT | AG_SINK_NOTIFY,
			    .path = out_path};
	ag_error_init(&err);
	ag_code rc = ag_sink_status(log_path, &s, &st, &err);
	if (rc != AG_OK && rc != AG_ERR_IO)
		abort();
	if (rc == AG_OK && st.broken && !st.why[0])
		abort();
	if (rc == AG_OK && !st.broken &&
	    (st.records < st.cursor || st.waiting > st.records - st.cursor ||
	     (st.waiting && (st.first_waiting <= st.cursor ||
			     st.first_waiting > st.records))))
		abort();

	struct ag_dlog_verify res;
	ag_error_init(&err);
	bool intact = ag_dlog_verify_file(log_path, &res, &err) == AG_OK;
	if (!intact || have_cursor || rc != AG_OK)
		return 0;
	if (st.broken || st.records != res.records)
		abort();

	struct ag_sinks *d = NULL;
	struct ag_sinks_opts o = {.prefix = "fuzz_sinks: "};
	struct ag_sinks_round r;
	ag_error_init(&err);
	if (ag_sinks_new(log_path, &o, &d, &err) != AG_OK ||
	    ag_sinks_configure(d, &s, 1, &err) != AG_OK ||
	    ag_sinks_deliver(d, &r) != AG_OK)
		abort();
	if (r.failing || r.delivered != st.waiting ||
	    lines_of(out_path) != st.waiting)
		abort();
	ag_sinks_free(d);
	return 0;
}
