/*
 * aalgate policy check [--format text|json] FILE
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "aalgate/aalgate.h"
#include "cli.h"
#include "report/report.h"
#include "banned.h"

static const char usage_text[] =
	"usage: aalgate policy check [--format text|json] POLICY\n"
	"\n"
	"Validate a policy file and print what each workflow finally\n"
	"requires, after the profile's reauthentication defaults are applied.\n"
	"\n"
	"  -f, --format FORMAT   text (default) or json\n"
	"  -h, --help            this text\n"
	"\n"
	"Exit status: 0 valid, 2 invalid (the message names file, line and\n"
	"column) or bad usage.\n";

static void cidr_text(const struct ag_cidr *c, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];
	inet_ntop(c->family, c->addr, addr, sizeof(addr));
	snprintf(buf, len, "%s/%u", addr, c->prefix);
}

static void text(const struct ag_policy *p)
{
	char d[32], net[80];

	printf("%s: valid (profile %s, %zu workflow%s, %zu methods)\n",
	       p->file, ag_profile_name(p->profile), p->n_workflows,
	       p->n_workflows == 1 ? "" : "s", p->catalogue.n);
	for (size_t i = 0; i < p->n_workflows; i++) {
		const struct ag_workflow *w = &p->workflows[i];
		printf("\n%s\n", w->name);
		if (w->aal >= 0)
			printf("  aal:                AAL%d\n", w->aal);
		else if (w->aal == AG_AAL_MATCH_ACCOUNT)
			printf("  aal:                the account's own level "
			       "(match_account)\n");
		else
			printf("  aal:                none\n");
		printf("  phishing resistant: %s\n",
		       w->phishing_resistant ? "yes" : "no");
		printf("  hardware:           %s\n",
		       w->hardware ? "yes"
		       : w->aal == 3 ? "yes (AAL3 requires it)"
				     : "no");
		printf("  device:             %s\n", ag_device_name(w->device));
		ag_duration_format(w->max_age, d, sizeof(d));
		printf("  max age:            %s\n", w->max_age ? d : "none");
		ag_duration_format(w->idle, d, sizeof(d));
		printf("  idle:               %s\n", w->idle ? d : "none");
		if (w->allow_weaker_than_profile)
			printf("  weaker than profile: allowed\n");
		if (w->jit) {
			ag_duration_format(w->jit_max, d, sizeof(d));
			printf("  jit:                at most %s, %d approval%s "
			       "from %s\n",
			       d, w->jit_approvals,
			       w->jit_approvals == 1 ? "" : "s",
			       w->jit_approvers ? w->jit_approvers : "nobody");
		}
		if (w->machine) {
			printf("  machine:            yes\n");
			if (w->max_token_lifetime) {
				ag_duration_format(w->max_token_lifetime, d,
						   sizeof(d));
				printf("  token lifetime:     at most %s\n", d);
			}
		}
		if (w->n_credentials) {
			printf("  credentials:       ");
			for (size_t k = 0; k < w->n_credentials; k++)
				printf(" %s",
				       p->catalogue.methods[w->credentials[k]]
					       .name);
			putchar('\n');
		}
		if (w->n_networks) {
			printf("  networks:          ");
			for (size_t k = 0; k < w->n_networks; k++) {
				cidr_text(&w->networks[k], net, sizeof(net));
				printf(" %s", net);
			}
			putchar('\n');
		}
		if (w->n_scopes) {
			printf("  scopes:            ");
			for (size_t k = 0; k < w->n_scopes; k++)
				printf(" %s", w->scopes[k]);
			putchar('\n');
		}
	}
	ag_duration_format(p->break_glass.max, d, sizeof(d));
	printf("\nbreak_glass: %d approval%s, at most %s, alert %s%s\n",
	       p->break_glass.approvals, p->break_glass.approvals == 1 ? "" : "s",
	       d, p->break_glass.alert ? "yes" : "no",
	       p->break_glass.set ? "" : " (defaults)");
	if (p->n_routes)
		printf("\n%zu route%s, default workflow %s\n", p->n_routes,
		       p->n_routes == 1 ? "" : "s",
		       p->default_workflow >= 0
			       ? p->workflows[p->default_workflow].name
			       : "none (unmatched requests are denied)");
}

static void json(const struct ag_policy *p)
{
	struct ag_jsonw w;
	char net[80];

	ag_jw_init(&w, stdout, 99);
	ag_jw_obj(&w);
	ag_jw_key(&w, "file");
	ag_jw_str(&w, p->file);
	ag_jw_key(&w, "profile");
	ag_jw_str(&w, ag_profile_name(p->profile));
	ag_jw_key(&w, "workflows");
	ag_jw_obj(&w);
	for (size_t i = 0; i < p->n_workflows; i++) {
		const struct ag_workflow *wf = &p->workflows[i];
		ag_jw_key(&w, wf->name);
		ag_jw_obj(&w);
		ag_jw_key(&w, "aal");
		if (wf->aal >= 0)
			ag_jw_int(&w, wf->aal);
		else if (wf->aal == AG_AAL_MATCH_ACCOUNT)
			ag_jw_str(&w, "match_account");
		else
			ag_jw_null(&w);
		ag_jw_key(&w, "phishing_resistant");
		ag_jw_bool(&w, wf->phishing_resistant);
		ag_jw_key(&w, "hardware");
		ag_jw_bool(&w, wf->hardware);
		ag_jw_key(&w, "device");
		ag_jw_str(&w, ag_device_name(wf->device));
		ag_jw_key(&w, "max_age_seconds");
		ag_jw_int(&w, wf->max_age);
		ag_jw_key(&w, "idle_seconds");
		ag_jw_int(&w, wf->idle);
		ag_jw_key(&w, "jit");
		if (wf->jit) {
			ag_jw_obj(&w);
			ag_jw_key(&w, "max_seconds");
			ag_jw_int(&w, wf->jit_max);
			ag_jw_key(&w, "approvers");
			ag_jw_str(&w, wf->jit_approvers);
			ag_jw_key(&w, "approvals");
			ag_jw_int(&w, wf->jit_approvals);
			ag_jw_obj_end(&w);
		} else {
			ag_jw_null(&w);
		}
		ag_jw_key(&w, "machine");
		ag_jw_bool(&w, wf->machine);
		ag_jw_key(&w, "max_token_lifetime_seconds");
		ag_jw_int(&w, wf->max_token_lifetime);
		ag_jw_key(&w, "credentials");
		ag_jw_arr(&w);
		for (size_t k = 0; k < wf->n_credentials; k++)
			ag_jw_str(&w,
				  p->catalogue.methods[wf->credentials[k]].name);
		ag_jw_arr_end(&w);
		ag_jw_key(&w, "networks");
		ag_jw_arr(&w);
		for (size_t k = 0; k < wf->n_networks; k++) {
			cidr_text(&wf->networks[k], net, sizeof(net));
			ag_jw_str(&w, net);
		}
		ag_jw_arr_end(&w);
		ag_jw_obj_end(&w);
	}
	ag_jw_obj_end(&w);
	ag_jw_obj_end(&w);
	ag_jw_end(&w);
}

int cmd_policy(int argc, char **argv)
{
	static const struct option opts[] = {
		{"format", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *format = "text";
	struct ag_policy *p = NULL;
	struct ag_error err;
	int c;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? AG_EXIT_USAGE : AG_EXIT_OK;
	}
	if (strcmp(argv[1], "check"))
		return ag_cli_die("policy",
				  "unknown subcommand '%s' (check); see "
				  "'aalgate policy --help'",
				  argv[1]);
	argc--;
	argv++;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			format = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return AG_EXIT_OK;
		case ':':
			return ag_cli_die("policy check",
					  "option '%s' needs a value",
					  argv[optind - 1]);
		default:
			return ag_cli_die("policy check",
					  "unknown option '%s'; see 'aalgate "
					  "policy --help'",
					  argv[optind - 1]);
		}
	}
	if (strcmp(format, "text") && strcmp(format, "json"))
		return ag_cli_die("policy check",
				  "unknown format '%s' (text or json)", format);
	if (optind + 1 != argc)
		return ag_cli_die("policy check",
				  "expected one policy file; see 'aalgate "
				  "policy --help'");
	ag_error_init(&err);
	if (ag_policy_load(argv[optind], &p, &err)) {
		fprintf(stderr, "aalgate policy check: %s\n", err.msg);
		return AG_EXIT_USAGE;
	}
	if (!strcmp(format, "json"))
		json(p);
	else
		text(p);
	ag_policy_free(p);
	if (fflush(stdout) != 0 || ferror(stdout))
		return ag_cli_die("policy check",
				  "cannot write to standard output");
	return AG_EXIT_OK;
}
