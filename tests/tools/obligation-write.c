/*
 * obligation-write: appends records to a decision log, one per line of
 * standard input, for the sink tests.
 *
 *   obligation-write FILE < FIELDS
 *
 * Each input line is the inside of a JSON object, for example
 *   "type":"break_glass_use","obligation":"alert","account":"root"
 * and becomes one record with ag_dlog_append, so that the log's chain
 * is the real one.  Prints each record's seq on its own line.
 *
 * Exit status: 0 when every line was appended, 1 when one was refused,
 * 2 when the log could not be opened or on bad usage.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aalgate/gate.h"

int main(int argc, char **argv)
{
	struct ag_dlog *log = NULL;
	struct ag_error err;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int status = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: obligation-write FILE < FIELDS\n");
		return 2;
	}
	ag_error_init(&err);
	if (ag_dlog_open(argv[1], &log, &err) != AG_OK) {
		fprintf(stderr, "obligation-write: %s\n", err.msg);
		return 2;
	}
	while ((n = getline(&line, &cap, stdin)) >= 0) {
		uint64_t seq = 0;
		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		ag_code rc = ag_dlog_append(log, line, (size_t)n, &seq);
		if (rc != AG_OK) {
			fprintf(stderr, "obligation-write: '%s': %s\n", line,
				ag_strerror(rc));
			status = 1;
			break;
		}
		printf("%" PRIu64 "\n", seq);
	}
	free(line);
	ag_dlog_close(log);
	return status;
}
