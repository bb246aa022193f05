/*
 * aalgate audit -p POLICY ESTATE... [--format text|json|sarif] [-o FILE]
 *               [--explain ACCOUNT] [--fail-on SEVERITY]
 */
#include <errno.h>
#include <getopt.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aalgate/audit.h"
#include "aalgate/import.h"
#include "cli.h"
#include "report/report.h"
#include "banned.h"

static const char usage_text[] =
	"usage: aalgate audit -p POLICY [options] [INPUT...]\n"
	"\n"
	"Prove from estate files, Keycloak realm exports and AWS credential\n"
	"reports that no path reaches an account more weakly than its\n"
	"workflow requires, and name the weakest chain.  An INPUT is\n"
	"recognised by its content: an estate file (YAML), a Keycloak\n"
	"export (JSON) or an AWS IAM credential report (CSV).\n"
	"\n"
	"  -p, --policy FILE      the policy (required)\n"
	"      --keycloak FILE    a Keycloak realm export (repeatable)\n"
	"      --aws-credential-report FILE\n"
	"                         an AWS IAM credential report (repeatable)\n"
	"      --mapping FILE     role-to-workflow mapping for importers\n"
	"      --as-of DATE       \"now\" for credential ages (2025-01-31),\n"
	"                         so that results are reproducible\n"
	"  -f, --format FORMAT    text (default), json or sarif\n"
	"  -o, --output FILE      write the report to FILE instead of stdout\n"
	"      --explain ACCOUNT  show how ACCOUNT's effective level arises\n"
	"      --fail-on SEV      exit 1 when a finding is at least SEV:\n"
	"                         critical, high (default), medium, low, info\n"
	"                         or none\n"
	"  -q, --quiet            no progress messages\n"
	"  -h, --help             this text\n"
	"\n"
	"Exit status: 0 no finding at or above --fail-on, 1 findings,\n"
	"2 bad input or usage (the message names file, line and column).\n";

int cmd_audit(int argc, char **argv)
{
	static const struct option opts[] = {
		{"policy", required_argument, NULL, 'p'},
		{"format", required_argument, NULL, 'f'},
		{"output", required_argument, NULL, 'o'},
		{"explain", required_argument, NULL, 'x'},
		{"fail-on", required_argument, NULL, 'F'},
		{"quiet", no_argument, NULL, 'q'},
		{"keycloak", required_argument, NULL, 'K'},
		{"aws-credential-report", required_argument, NULL, 'A'},
		{"mapping", required_argument, NULL, 'M'},
		{"as-of", required_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *policy_file = NULL, *format = "text", *output = NULL;
	const char *explain = NULL;
	struct input {
		const char *path;
		int kind;
	} *inputs = NULL;
	size_t n_inputs = 0;
	struct ag_import_opts iopts = {NULL};
	int64_t as_of = 0;
	bool have_as_of = false;
	int fail_on = AG_SEV_HIGH, c, ret = AG_EXIT_USAGE;
	bool quiet = false;
	struct ag_policy *pol = NULL;
	struct ag_estate *est = NULL;
	struct ag_audit *aud = NULL;
	struct ag_error err;
	FILE *out = stdout;

	ag_error_init(&err);
	/* Never more inputs than arguments. */
	if (!(inputs = calloc((size_t)argc + 1, sizeof(*inputs))))
		return ag_cli_die("audit", "out of memory");
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:f:o:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			policy_file = optarg;
			break;
		case 'f':
			format = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 'x':
			explain = optarg;
			break;
		case 'F':
			if (ag_severity_parse(optarg, &fail_on)) {
				ag_cli_die("audit",
					   "bad --fail-on '%s' (critical, high, "
					   "medium, low, info or none)",
					   optarg);
				goto out;
			}
			break;
		case 'q':
			quiet = true;
			break;
		case 'K':
		case 'A': {
			inputs[n_inputs].path = optarg;
			inputs[n_inputs].kind = c == 'K' ? AG_INPUT_KEYCLOAK
							 : AG_INPUT_AWS_REPORT;
			n_inputs++;
			break;
		}
		case 'M':
			iopts.mapping = optarg;
			break;
		case 'T':
			if (ag_time_parse(optarg, &as_of)) {
				ret = ag_cli_die("audit",
						  "bad --as-of '%s' (write "
						  "2025-01-31 or "
						  "2025-01-31T10:00:00Z)",
						  optarg);
				goto out;
			}
			have_as_of = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			ret = AG_EXIT_OK;
			goto out;
		case ':':
			ag_cli_die("audit",
				   "option '%s' needs a value; see 'aalgate "
				   "audit --help'",
				   argv[optind - 1]);
			goto out;
		default:
			ag_cli_die("audit",
				   "unknown option '%s'; see 'aalgate audit "
				   "--help'",
				   argv[optind - 1]);
			goto out;
		}
	}
	for (int i = optind; i < argc; i++) {
		inputs[n_inputs].path = argv[i];
		inputs[n_inputs].kind = -1;
		n_inputs++;
	}
	/* From here on, every exit goes through "out". */
	if (!policy_file) {
		ag_cli_die("audit", "a policy is required (-p POLICY); see "
				    "'aalgate audit --help'");
		goto out;
	}
	if (!n_inputs) {
		ag_cli_die("audit", "no input given; see 'aalgate audit "
				    "--help'");
		goto out;
	}
	if (strcmp(format, "text") && strcmp(format, "json") &&
	    strcmp(format, "sarif")) {
		if (!strcmp(format, "html"))
			ag_cli_die("audit", "--format html is not available in "
					    "this version (text, json or sarif)");
		else
			ag_cli_die("audit",
				   "unknown format '%s' (text, json or sarif)",
				   format);
		goto out;
	}
	if (explain && !strcmp(format, "sarif")) {
		ag_cli_die("audit", "--explain writes text or json, not sarif");
		goto out;
	}

	for (size_t i = 0; i < n_inputs; i++) {
		struct stat si, sj;
		if (stat(inputs[i].path, &si) != 0)
			continue;
		for (size_t j = 0; j < i; j++)
			if (stat(inputs[j].path, &sj) == 0 &&
			    si.st_dev == sj.st_dev && si.st_ino == sj.st_ino) {
				ag_cli_die("audit",
					   "%s is given twice (as '%s' and "
					   "'%s')",
					   inputs[i].path, inputs[j].path,
					   inputs[i].path);
				goto out;
			}
	}

	bool progress = !quiet && ag_cli_progress();
	if (ag_policy_load(policy_file, &pol, &err)) {
		fprintf(stderr, "aalgate audit: %s\n", err.msg);
		goto out;
	}
	if (ag_estate_new(pol, &est)) {
		fprintf(stderr, "aalgate audit: out of memory\n");
		goto out;
	}
	if (have_as_of)
		ag_estate_set_now(est, as_of);
	for (size_t i = 0; i < n_inputs; i++) {
		if (progress)
			fprintf(stderr, "aalgate audit: reading %s\n",
				inputs[i].path);
		if (ag_cli_load_input(est, inputs[i].path, inputs[i].kind,
				      &iopts, &err)) {
			fprintf(stderr, "aalgate audit: %s\n", err.msg);
			goto out;
		}
	}
	if (ag_estate_resolve(est, &err)) {
		fprintf(stderr, "aalgate audit: %s\n", err.msg);
		goto out;
	}
	if (progress)
		fprintf(stderr,
			"aalgate audit: %zu accounts, %zu paths; computing\n",
			ag_estate_n_accounts(est), ag_estate_n_paths(est));
	if (ag_audit_run(est, &aud, &err)) {
		fprintf(stderr, "aalgate audit: %s\n", err.msg);
		goto out;
	}

	uint32_t target = AG_NONE;
	if (explain) {
		target = ag_estate_find_account(est, explain);
		if (target == AG_NONE || est->accounts[target].synthetic) {
			struct ag_suggest sg;
			ag_suggest_init(&sg, explain);
			for (size_t i = 0; i < est->n_accounts; i++)
				ag_suggest_add(&sg, est->accounts[i].id);
			fprintf(stderr, "aalgate audit: unknown account '%s'",
				explain);
			if (ag_suggest_best(&sg))
				fprintf(stderr, "; did you mean '%s'?",
					ag_suggest_best(&sg));
			fputc('\n', stderr);
			goto out;
		}
	}

	if (output && !(out = fopen(output, "w"))) {
		fprintf(stderr, "aalgate audit: cannot write %s: %s\n", output,
			strerror(errno));
		out = stdout;
		goto out;
	}
	/* Reports of large estates are tens of megabytes. */
	static char outbuf[1 << 20];
	setvbuf(out, outbuf, _IOFBF, sizeof(outbuf));
	ag_code rc;
	if (explain)
		rc = !strcmp(format, "json")
			     ? ag_report_explain_json(out, est, aud, target)
			     : ag_report_explain_text(out, est, aud, target);
	else if (!strcmp(format, "json"))
		rc = ag_report_json(out, est, aud, policy_file);
	else if (!strcmp(format, "sarif"))
		rc = ag_report_sarif(out, est, aud);
	else
		rc = ag_report_text(out, est, aud);
	if (fflush(out) != 0 || rc) {
		fprintf(stderr, "aalgate audit: cannot write the report%s%s\n",
			output ? " to " : "", output ? output : "");
		goto out;
	}

	ret = AG_EXIT_OK;
	for (int s = fail_on; s <= AG_SEV_CRITICAL; s++)
		if (aud->by_severity[s])
			ret = AG_EXIT_FINDINGS;
out:
	if (out != stdout && fclose(out) != 0 && ret != AG_EXIT_USAGE) {
		fprintf(stderr, "aalgate audit: cannot write %s\n", output);
		ret = AG_EXIT_USAGE;
	}
	ag_audit_free(aud);
	ag_estate_free(est);
	ag_policy_free(pol);
	free(inputs);
	return ret;
}
