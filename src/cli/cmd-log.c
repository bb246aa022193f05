/*
 * aalgate log verify [--quiet] FILE
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "aalgate/gate.h"
#include "cli.h"
#include "banned.h"

static const char usage_text[] =
	"usage: aalgate log verify [--quiet] FILE\n"
	"\n"
	"Check a decision log's hash chain: every line is a JSON record, seq\n"
	"counts from 1 without a gap, each prev is the SHA-256 of the line\n"
	"before, the last line is complete, and the head file FILE.head, when\n"
	"present, names a record that is there.  Prints the first line that\n"
	"cannot be trusted and why.\n"
	"\n"
	"  -q, --quiet   print nothing when the chain is intact\n"
	"  -h, --help    this text\n"
	"\n"
	"Exit status: 0 intact, 1 edited, removed, reordered or truncated\n"
	"records (the message names FILE:LINE), 2 unreadable file or bad\n"
	"usage.\n";

static int verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct ag_dlog_verify res;
	struct ag_error err;
	bool quiet = false;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":qh", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			quiet = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return AG_EXIT_OK;
		default:
			return ag_cli_die("log verify",
					  "unknown option '%s'; see 'aalgate "
					  "log --help'",
					  argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return ag_cli_die("log verify",
				  "expected one log file; see 'aalgate log "
				  "--help'");
	const char *path = argv[optind];
	ag_error_init(&err);
	ag_code rc = ag_dlog_verify_file(path, &res, &err);
	if (rc == AG_OK) {
		if (!quiet)
			printf("%s: %" PRIu64 " record%s, chain intact\n", path,
			       res.records, res.records == 1 ? "" : "s");
		return AG_EXIT_OK;
	}
	if (rc != AG_ERR_INVALID) {
		fprintf(stderr, "aalgate log verify: %s\n",
			err.msg[0] ? err.msg : ag_strerror(rc));
		return AG_EXIT_USAGE;
	}
	if (res.bad_line)
		printf("%s:%" PRIu64 ": %s\n", path, res.bad_line, res.why);
	else
		printf("%s: %s\n", path, res.why);
	return AG_EXIT_FINDINGS;
}

int cmd_log(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? AG_EXIT_USAGE : AG_EXIT_OK;
	}
	if (strcmp(argv[1], "verify"))
		return ag_cli_die("log",
				  "unknown subcommand '%s' (verify); see "
				  "'aalgate log --help'",
				  argv[1]);
	return verify(argc - 1, argv + 1);
}
