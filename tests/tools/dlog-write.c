/*
 * dlog-write: appends records to a decision log, for the tests and for
 * measuring group commit.
 *
 *   dlog-write [-q] [-b] [-f] [-n COUNT] [-t THREADS] FILE
 *
 * Each of THREADS threads appends COUNT records (with -f, until killed)
 * with the fields "t":THREAD,"i":INDEX,"outcome":"allow", and prints each
 * acknowledged seq on its own line as soon as ag_dlog_append returns
 * (unless -q).  -n 0 only opens and closes the log, which repairs a torn
 * tail.  -b prints the throughput at the end.  A repaired tail is
 * reported on stderr as "repaired N bytes".
 *
 * Exit status: 0 when every append succeeded, 1 when one failed, 2 when
 * the log could not be opened or on bad usage.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aalgate/gate.h"

static struct ag_dlog *dlog;
static long count;
static int forever, quiet;
static volatile int failed;

static void *run(void *arg)
{
	long t = (long)(intptr_t)arg;
	char fields[128], out[32];

	for (long i = 0; forever || i < count; i++) {
		uint64_t seq = 0;
		int n = snprintf(fields, sizeof(fields),
				 "\"t\":%ld,\"i\":%ld,\"outcome\":\"allow\"", t,
				 i);
		ag_code rc = ag_dlog_append(dlog, fields, (size_t)n, &seq);
		if (rc != AG_OK) {
			fprintf(stderr, "dlog-write: append: %s\n",
				ag_strerror(rc));
			failed = 1;
			break;
		}
		if (!quiet) {
			/* One write per line, so that a kill leaves whole
			 * lines for every seq that was printed. */
			n = snprintf(out, sizeof(out), "%" PRIu64 "\n", seq);
			if (write(STDOUT_FILENO, out, (size_t)n) != n) {
				failed = 1;
				break;
			}
		}
	}
	return NULL;
}

static long number(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 0 || v > 100000000) {
		fprintf(stderr, "dlog-write: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct ag_error err;
	struct timespec t0, t1;
	long threads = 1;
	int bench = 0, c;
	pthread_t *tid;

	while ((c = getopt(argc, argv, "bfqn:t:")) != -1) {
		switch (c) {
		case 'b':
			bench = 1;
			break;
		case 'f':
			forever = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'n':
			count = number(optarg);
			break;
		case 't':
			threads = number(optarg);
			break;
		default:
			return 2;
		}
	}
	if (optind + 1 != argc || threads < 1 || threads > 1024) {
		fprintf(stderr, "usage: dlog-write [-q] [-b] [-f] [-n COUNT] "
				"[-t THREADS] FILE\n");
		return 2;
	}
	ag_error_init(&err);
	if (ag_dlog_open(argv[optind], &dlog, &err) != AG_OK) {
		fprintf(stderr, "dlog-write: %s\n", err.msg);
		return 2;
	}
	if (ag_dlog_repaired_bytes(dlog))
		fprintf(stderr, "repaired %" PRIu64 " bytes\n",
			ag_dlog_repaired_bytes(dlog));
	if (!(tid = calloc((size_t)threads, sizeof(*tid))))
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < threads; i++)
		if (pthread_create(&tid[i], NULL, run, (void *)(intptr_t)i))
			return 2;
	for (long i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ag_dlog_close(dlog);
	free(tid);
	if (bench) {
		double s = (double)(t1.tv_sec - t0.tv_sec) +
			   (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		printf("%ld appends from %ld threads in %.3f s: %.0f/s\n",
		       count * threads, threads, s,
		       (double)(count * threads) / s);
	}
	return failed ? 1 : 0;
}
