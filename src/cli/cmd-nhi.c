/*
 * aalgate nhi COMMAND: machine identities (docs/nhi.md).
 *
 * aalgate nhi audit -p POLICY [--format text|json|sarif] [-o FILE]
 *                   [--as-of DATE] [--fail-on SEVERITY] [--keycloak FILE]...
 *                   [--aws-credential-report FILE]... [--mapping FILE]
 *                   INVENTORY...
 */
#include <errno.h>
#include <getopt.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aalgate/import.h"
#include "aalgate/nhi.h"
#include "cli.h"
#include "util.h"
#include "banned.h"

static const char usage_text[] =
	"usage: aalgate nhi COMMAND [ARGS]\n"
	"\n"
	"Machine identities: service accounts, API keys, client secrets and\n"
	"workload credentials.\n"
	"\n"
	"Commands:\n"
	"  audit    judge an inventory: findings AG-N01..AG-N09 (OWASP NHI\n"
	"           Top 10) and the visibility score\n"
	/* -- nhi usage: store -- */
	"  import   merge inventories into the state store, keeping history\n"
	"  list     the machine identities and owners in the state store\n"
	"  owner    record an owner's status and team (offboarding)\n"
	"\n"
	"Run 'aalgate nhi COMMAND --help' for a command's options.\n";

static const char audit_usage[] =
	"usage: aalgate nhi audit -p POLICY [options] [INVENTORY...]\n"
	"\n"
	"Judge every active machine identity of an inventory: orphaned, stale,\n"
	"weakly authenticated, overprivileged, long-lived, unrotated, shared\n"
	"across environments or services, or used by people (AG-N01..AG-N09),\n"
	"and score how much of the inventory is known: owner, purpose,\n"
	"rotation and last use, overall and per team.  An INVENTORY is\n"
	"recognised by its content: the generic CSV or JSON/YAML form\n"
	"(docs/nhi.md), an estate file, a Keycloak realm export or an AWS IAM\n"
	"credential report.\n"
	"\n"
	"  -p, --policy FILE      the policy (required)\n"
	"      --keycloak FILE    a Keycloak realm export (repeatable)\n"
	"      --aws-credential-report FILE\n"
	"                         an AWS IAM credential report (repeatable)\n"
	"      --mapping FILE     role-to-workflow mapping for Keycloak exports\n"
	"      --state DB         also the machine identities of the state\n"
	"                         store (see 'aalgate nhi import')\n"
	"      --as-of DATE       \"now\" for every age (2025-01-31), so that\n"
	"                         results are reproducible\n"
	"  -f, --format FORMAT    text (default), json or sarif\n"
	"  -o, --output FILE      write the report to FILE instead of stdout\n"
	"      --fail-on SEV      exit 1 when a finding is at least SEV:\n"
	"                         critical, high (default), medium, low, info\n"
	"                         or none\n"
	"  -q, --quiet            no progress messages\n"
	"  -h, --help             this text\n"
	"\n"
	"Exit status: 0 no finding at or above --fail-on, 1 findings,\n"
	"2 bad input or usage (the message names file, line and column).\n";

/* One input of `nhi audit`. */
struct nhi_input {
	const char *path;
	enum ag_nhi_format fmt;
};

/*
 * A Keycloak export read with a role mapping: ag_nhi_load reads estate
 * forms with the importers' defaults, so with --mapping the export goes
 * through the importer here, then the same ag_nhi_from_estate.
 */
static ag_code load_mapped(struct ag_nhi_inventory *inv,
			   const struct ag_policy *pol, const char *path,
			   const struct ag_import_opts *iopts,
			   struct ag_error *err)
{
	struct ag_estate *e = NULL;
	ag_code rc;

	if (ag_estate_new(pol, &e))
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	rc = ag_cli_load_input(e, path, AG_INPUT_KEYCLOAK, iopts, err);
	if (!rc)
		rc = ag_estate_resolve(e, err);
	if (!rc)
		rc = ag_nhi_from_estate(inv, e, err);
	ag_estate_free(e);
	return rc;
}

/* Is path a Keycloak export (by content, as `audit` recognises it)? */
static bool is_keycloak(const char *path)
{
	char buf[64 * 1024];
	FILE *f = fopen(path, "rb");
	if (!f)
		return false; /* ag_nhi_load names the error */
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return ag_input_sniff(buf, n) == AG_INPUT_KEYCLOAK;
}

static int nhi_audit(int argc, char **argv)
{
	static const struct option opts[] = {
		{"policy", required_argument, NULL, 'p'},
		{"format", required_argument, NULL, 'f'},
		{"output", required_argument, NULL, 'o'},
		{"fail-on", required_argument, NULL, 'F'},
		{"quiet", no_argument, NULL, 'q'},
		{"keycloak", required_argument, NULL, 'K'},
		{"aws-credential-report", required_argument, NULL, 'A'},
		{"mapping", required_argument, NULL, 'M'},
		{"as-of", required_argument, NULL, 'T'},
		{"state", required_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *policy_file = NULL, *format = "text", *output = NULL;
	const char *state = NULL;
	struct nhi_input *inputs = NULL;
	size_t n_inputs = 0;
	struct ag_import_opts iopts = {NULL};
	int64_t now = 0;
	bool have_as_of = false, quiet = false;
	int fail_on = AG_SEV_HIGH, c, ret = AG_EXIT_USAGE;
	enum ag_nhi_report_format rfmt = AG_NHI_REPORT_TEXT;
	struct ag_policy *pol = NULL;
	struct ag_nhi_inventory inv;
	struct ag_nhi_audit aud;
	struct ag_error err;
	FILE *out = stdout;

	ag_error_init(&err);
	memset(&inv, 0, sizeof(inv));
	memset(&aud, 0, sizeof(aud));
	/* Never more inputs than arguments. */
	if (!(inputs = calloc((size_t)argc + 1, sizeof(*inputs))))
		return ag_cli_die("nhi audit", "out of memory");
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
		case 'F':
			if (ag_severity_parse(optarg, &fail_on)) {
				ag_cli_die("nhi audit",
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
		case 'A':
			inputs[n_inputs].path = optarg;
			inputs[n_inputs].fmt = c == 'K' ? AG_NHI_KEYCLOAK
							: AG_NHI_AWS;
			n_inputs++;
			break;
		case 'M':
			iopts.mapping = optarg;
			break;
		case 'S':
			state = optarg;
			break;
		case 'T':
			if (ag_time_parse(optarg, &now)) {
				ag_cli_die("nhi audit",
					   "bad --as-of '%s' (write 2025-01-31 "
					   "or 2025-01-31T10:00:00Z)",
					   optarg);
				goto out;
			}
			have_as_of = true;
			break;
		case 'h':
			fputs(audit_usage, stdout);
			ret = AG_EXIT_OK;
			goto out;
		case ':':
			ag_cli_die("nhi audit",
				   "option '%s' needs a value; see 'aalgate "
				   "nhi audit --help'",
				   argv[optind - 1]);
			goto out;
		default:
			ag_cli_die("nhi audit",
				   "unknown option '%s'; see 'aalgate nhi "
				   "audit --help'",
				   argv[optind - 1]);
			goto out;
		}
	}
	for (int i = optind; i < argc; i++) {
		inputs[n_inputs].path = argv[i];
		inputs[n_inputs].fmt = AG_NHI_AUTO;
		n_inputs++;
	}
	/* From here on, every exit goes through "out". */
	if (!policy_file) {
		ag_cli_die("nhi audit", "a policy is required (-p POLICY); see "
					"'aalgate nhi audit --help'");
		goto out;
	}
	if (!n_inputs && !state) {
		ag_cli_die("nhi audit", "no inventory given; see 'aalgate nhi "
					"audit --help'");
		goto out;
	}
	if (!strcmp(format, "json"))
		rfmt = AG_NHI_REPORT_JSON;
	else if (!strcmp(format, "sarif"))
		rfmt = AG_NHI_REPORT_SARIF;
	else if (strcmp(format, "text")) {
		if (!strcmp(format, "html"))
			ag_cli_die("nhi audit", "--format html is not available "
						"in this version (text, json or "
						"sarif)");
		else
			ag_cli_die("nhi audit",
				   "unknown format '%s' (text, json or sarif)",
				   format);
		goto out;
	}

	for (size_t i = 0; i < n_inputs; i++) {
		struct stat si, sj;
		if (stat(inputs[i].path, &si) != 0)
			continue;
		for (size_t j = 0; j < i; j++)
			if (stat(inputs[j].path, &sj) == 0 &&
			    si.st_dev == sj.st_dev && si.st_ino == sj.st_ino) {
				ag_cli_die("nhi audit",
					   "%s is given twice (as '%s' and "
					   "'%s')",
					   inputs[i].path, inputs[j].path,
					   inputs[i].path);
				goto out;
			}
	}

	bool progress = !quiet && ag_cli_progress();
	if (ag_policy_load(policy_file, &pol, &err)) {
		fprintf(stderr, "aalgate nhi audit: %s\n", err.msg);
		goto out;
	}
	if (ag_nhi_inventory_init(&inv)) {
		ag_cli_die("nhi audit", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_inputs; i++) {
		const struct nhi_input *in = &inputs[i];
		ag_code rc;
		if (progress)
			fprintf(stderr, "aalgate nhi audit: reading %s\n",
				in->path);
		if (iopts.mapping &&
		    (in->fmt == AG_NHI_KEYCLOAK ||
		     (in->fmt == AG_NHI_AUTO && is_keycloak(in->path))))
			rc = load_mapped(&inv, pol, in->path, &iopts, &err);
		else
			rc = ag_nhi_load(&inv, pol, in->path, in->fmt, &err);
		if (rc) {
			fprintf(stderr, "aalgate nhi audit: %s\n", err.msg);
			goto out;
		}
	}
	/* -- nhi audit: state -- */
	if (state && ag_cli_nhi_state("nhi audit", state, &inv) != AG_EXIT_OK)
		goto out;
	if (ag_nhi_resolve(&inv, pol, &err)) {
		fprintf(stderr, "aalgate nhi audit: %s\n", err.msg);
		goto out;
	}
	if (!have_as_of)
		now = (int64_t)time(NULL);
	if (progress)
		fprintf(stderr, "aalgate nhi audit: %zu machine identities; "
				"judging\n",
			inv.n);
	if (ag_nhi_audit_run(&inv, pol, now, &aud, &err)) {
		fprintf(stderr, "aalgate nhi audit: %s\n", err.msg);
		goto out;
	}

	if (output && !(out = fopen(output, "w"))) {
		fprintf(stderr, "aalgate nhi audit: cannot write %s: %s\n",
			output, strerror(errno));
		out = stdout;
		goto out;
	}
	static char outbuf[1 << 20];
	setvbuf(out, outbuf, _IOFBF, sizeof(outbuf));
	ag_code rc = ag_nhi_report(out, rfmt, &inv, pol, &aud, &err);
	if (fflush(out) != 0 || rc) {
		fprintf(stderr,
			"aalgate nhi audit: cannot write the report%s%s\n",
			output ? " to " : "", output ? output : "");
		goto out;
	}

	ret = ag_nhi_audit_max_severity(&aud) >= fail_on ? AG_EXIT_FINDINGS
							  : AG_EXIT_OK;
out:
	if (out != stdout && fclose(out) != 0 && ret != AG_EXIT_USAGE) {
		fprintf(stderr, "aalgate nhi audit: cannot write %s\n", output);
		ret = AG_EXIT_USAGE;
	}
	ag_nhi_audit_release(&aud);
	ag_nhi_inventory_release(&inv);
	ag_policy_free(pol);
	free(inputs);
	return ret;
}

static const struct ag_cmd subcommands[] = {
	{"audit", nhi_audit,
	 "judge an inventory: AG-N01..AG-N09 and the visibility score"},
	/* -- nhi subcommands: store -- */
	{"import", cmd_nhi_import,
	 "merge inventories into the state store, keeping history"},
	{"list", cmd_nhi_list, "the machine identities in the state store"},
	{"owner", cmd_nhi_owner, "record an owner's status and team"},
};

int cmd_nhi(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_text, stderr);
		return AG_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(usage_text, stdout);
		return AG_EXIT_OK;
	}
	for (size_t i = 0; i < AG_ARRAY_SIZE(subcommands); i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].fn(argc - 1, argv + 1);

	struct ag_suggest sg;
	ag_suggest_init(&sg, argv[1]);
	for (size_t i = 0; i < AG_ARRAY_SIZE(subcommands); i++)
		ag_suggest_add(&sg, subcommands[i].name);
	fprintf(stderr, "aalgate nhi: unknown command '%s'", argv[1]);
	if (ag_suggest_best(&sg))
		fprintf(stderr, "; did you mean '%s'?", ag_suggest_best(&sg));
	fputs("\nRun 'aalgate nhi --help' for the list of commands.\n",
	      stderr);
	return AG_EXIT_USAGE;
}
