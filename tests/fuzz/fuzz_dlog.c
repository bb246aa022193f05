/*
 * libFuzzer target: the decision log's verifier and the recovery that
 * ag_dlog_open runs on an existing log.
 *
 * Input: the log file's bytes.  An input that starts with 'H' carries a
 * head file first: the bytes after the 'H' up to and including the first
 * newline (at most 200 bytes) become FILE.head, the rest the log.
 *
 * Oracles: verify answers AG_OK or AG_ERR_INVALID with a reason and a
 * line past the good records; a log that verifies opens without repair,
 * takes one more record, and then verifies with one record more.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aalgate/gate.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], log_path[128], head_path[160];

static void cleanup(void)
{
	unlink(head_path);
	unlink(log_path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct stat st;

	(void)argc;
	(void)argv;
	/* tmpfs where there is one: appends sync, and syncs there are free. */
	snprintf(dir, sizeof(dir), "%s/ag-fuzz-dlog-XXXXXX",
		 stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm"
								  : "/tmp");
	if (!mkdtemp(dir)) {
		perror("fuzz_dlog: mkdtemp");
		abort();
	}
	snprintf(log_path, sizeof(log_path), "%s/decisions.jsonl", dir);
	snprintf(head_path, sizeof(head_path), "%s.head", log_path);
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ag_dlog_verify res, again;
	struct ag_error err;
	struct ag_dlog *l = NULL;

	unlink(head_path);
	if (size && data[0] == 'H') {
		const uint8_t *nl = memchr(data + 1, '\n',
					   size - 1 < 200 ? size - 1 : 200);
		size_t hn = nl ? (size_t)(nl - data) : (size - 1 < 200 ? size - 1 : 200);
		put(head_path, data + 1, hn);
		data += 1 + hn;
		size -= 1 + hn;
	}
	put(log_path, data, size);

	ag_error_init(&err);
	ag_code rc = ag_dlog_verify_file(log_path, &res, &err);
	if (rc != AG_OK && rc != AG_ERR_INVALID) {
		fprintf(stderr, "fuzz_dlog: verify: %d %s\n", rc, err.msg);
		abort();
	}
	if (rc == AG_OK && (res.bad_line || res.why[0]))
		abort();
	if (rc == AG_ERR_INVALID &&
	    (!res.why[0] || err.code != rc || !err.msg[0] ||
	     (res.bad_line && res.records >= res.bad_line)))
		abort();

	ag_error_init(&err);
	ag_code orc = ag_dlog_open(log_path, &l, &err);
	if (rc == AG_OK && orc != AG_OK) {
		fprintf(stderr, "fuzz_dlog: a log that verifies does not open: "
				"%s\n",
			err.msg);
		abort();
	}
	if (orc != AG_OK) {
		if (l || !err.msg[0])
			abort();
		return 0;
	}
	if (rc == AG_OK && ag_dlog_repaired_bytes(l))
		abort();
	uint64_t seq = 0;
	ag_code arc = ag_dlog_append(l, "\"fuzz\":true", 11, &seq);
	ag_dlog_close(l);
	if (rc != AG_OK)
		return 0;
	if (arc != AG_OK || seq != res.records + 1)
		abort();
	ag_error_init(&err);
	if (ag_dlog_verify_file(log_path, &again, &err) != AG_OK ||
	    again.records != res.records + 1) {
		fprintf(stderr, "fuzz_dlog: after one append: %s\n", err.msg);
		abort();
	}
	return 0;
}
