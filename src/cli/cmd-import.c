/*
 * aalgate import keycloak|aws-credential-report FILE [-p POLICY]
 *                [--mapping FILE] [-o ESTATE]
 *
 * Turns an identity platform's export into an estate file, to keep, edit
 * and audit like a hand-written one.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "aalgate/import.h"
#include "cli.h"
#include "banned.h"

static const char usage_text[] =
	"usage: aalgate import keycloak|aws-credential-report FILE\n"
	"                      [-p POLICY] [--mapping FILE] [-o ESTATE]\n"
	"\n"
	"Turn a Keycloak realm export or an AWS IAM credential report into an\n"
	"estate file (docs/importers.md has the mapping tables).\n"
	"\n"
	"  -p, --policy FILE    the policy whose workflows and methods the\n"
	"                       estate uses (default: a built-in policy with\n"
	"                       the workflows admin, staff and ci-deploy)\n"
	"      --mapping FILE   role-to-workflow mapping (Keycloak)\n"
	"  -o, --output FILE    write the estate to FILE instead of stdout\n"
	"  -h, --help           this text\n"
	"\n"
	"Exit status: 0 imported, 2 bad input or usage.\n";

/* Workflows an importer maps to when no policy is given. */
static const char default_policy[] =
	"workflows:\n"
	"  admin: { aal: 3, phishing_resistant: true }\n"
	"  staff: { aal: 2 }\n"
	"  ci-deploy: { machine: true }\n";

int cmd_import(int argc, char **argv)
{
	static const struct option opts[] = {
		{"policy", required_argument, NULL, 'p'},
		{"mapping", required_argument, NULL, 'M'},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *policy_file = NULL, *output = NULL;
	struct ag_import_opts iopts = {NULL};
	struct ag_policy *pol = NULL;
	struct ag_estate *est = NULL;
	struct ag_error err;
	FILE *out = stdout;
	int kind, c, ret = AG_EXIT_USAGE;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? AG_EXIT_USAGE : AG_EXIT_OK;
	}
	if (!strcmp(argv[1], "keycloak"))
		kind = AG_INPUT_KEYCLOAK;
	else if (!strcmp(argv[1], "aws-credential-report"))
		kind = AG_INPUT_AWS_REPORT;
	else
		return ag_cli_die("import",
				  "unknown source '%s' (keycloak or "
				  "aws-credential-report)",
				  argv[1]);
	argc--;
	argv++;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			policy_file = optarg;
			break;
		case 'M':
			iopts.mapping = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return AG_EXIT_OK;
		case ':':
			return ag_cli_die("import", "option '%s' needs a value",
					  argv[optind - 1]);
		default:
			return ag_cli_die("import",
					  "unknown option '%s'; see 'aalgate "
					  "import --help'",
					  argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return ag_cli_die("import", "expected one file to import; see "
					    "'aalgate import --help'");

	ag_error_init(&err);
	ag_code rc = policy_file
			     ? ag_policy_load(policy_file, &pol, &err)
			     : ag_policy_load_buffer("(built-in policy)",
						     default_policy,
						     sizeof(default_policy) - 1,
						     &pol, &err);
	if (rc) {
		fprintf(stderr, "aalgate import: %s\n", err.msg);
		goto out;
	}
	if (ag_estate_new(pol, &est)) {
		fprintf(stderr, "aalgate import: out of memory\n");
		goto out;
	}
	if (ag_cli_load_input(est, argv[optind], kind, &iopts, &err)) {
		fprintf(stderr, "aalgate import: %s\n", err.msg);
		goto out;
	}
	if (output && !(out = fopen(output, "w"))) {
		fprintf(stderr, "aalgate import: cannot write %s: %s\n", output,
			strerror(errno));
		out = stdout;
		goto out;
	}
	fprintf(out, "# estate imported from %s by aalgate %s\n", argv[optind],
		AG_VERSION);
	if (ag_estate_write_yaml(est, out) || fflush(out) != 0) {
		fprintf(stderr, "aalgate import: cannot write the estate\n");
		goto out;
	}
	ret = AG_EXIT_OK;
out:
	if (out != stdout && fclose(out) != 0 && ret == AG_EXIT_OK) {
		fprintf(stderr, "aalgate import: cannot write %s\n", output);
		ret = AG_EXIT_USAGE;
	}
	ag_estate_free(est);
	ag_policy_free(pol);
	return ret;
}
