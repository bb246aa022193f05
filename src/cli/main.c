/*
 * aalgate: hold every access path to the same assurance level.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "aalgate/aalgate.h"
#include "cli.h"
#include "util.h"
#include "banned.h"

static const struct ag_cmd commands[] = {
	{"audit", cmd_audit,
	 "prove that no path reaches an account more weakly than its "
	 "workflow requires"},
	{"import", cmd_import,
	 "turn a Keycloak realm export or an AWS credential report into an "
	 "estate"},
	{"policy", cmd_policy,
	 "check a policy file and show what each workflow requires"},
	{"serve", cmd_serve,
	 "run the gate: forward-auth and decisions over HTTP"},
	{"decide", cmd_decide,
	 "decide one request offline, as the gate would"},
	{"log", cmd_log, "verify a decision log's hash chain"},
	{"enroll", cmd_enroll,
	 "record an account's authenticators in the state store"},
	{"recover", cmd_recover,
	 "check recovery evidence against the account's own level"},
	/* -- commands: grant -- */
	{"grant", cmd_grant,
	 "just-in-time elevation and break-glass: request, approve, revoke"},
	/* -- commands: helpdesk -- */
	{"helpdesk", cmd_helpdesk,
	 "hold a help-desk reset to the account recovery table"},
	/* -- commands: sink -- */
	{"sink", cmd_sink,
	 "deliver alert and notification obligations to the policy's sinks"},
	/* -- commands: nhi -- */
	{"nhi", cmd_nhi,
	 "machine identities: audit an inventory (AG-N01..AG-N09, visibility)"},
	{"watch", cmd_watch,
	 "raise alerts from authentication logs (AG-W01..AG-W08)"},
};

static void usage(FILE *f)
{
	fputs("usage: aalgate [--version] [--help] COMMAND [ARGS]\n\n"
	      "Commands:\n",
	      f);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name,
			commands[i].summary);
	fputs("\nRun 'aalgate COMMAND --help' for a command's options.\n"
	      "Exit status: 0 clean, 1 findings, 2 bad input or usage.\n",
	      f);
}

int ag_cli_die(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "aalgate %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return AG_EXIT_USAGE;
}

bool ag_cli_progress(void)
{
	return isatty(STDERR_FILENO) == 1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return AG_EXIT_USAGE;
	}
	int ret = -1;
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		ret = AG_EXIT_OK;
	} else if (!strcmp(argv[1], "--version") ||
		   !strcmp(argv[1], "version")) {
		printf("aalgate %s\n", AG_VERSION);
		ret = AG_EXIT_OK;
	}
	for (size_t i = 0; ret < 0 && i < AG_ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			ret = commands[i].fn(argc - 1, argv + 1);
	if (ret >= 0) {
		/* Output that could not be written is a failure. */
		if (fflush(stdout) != 0 || ferror(stdout)) {
			fprintf(stderr, "aalgate: cannot write to standard "
					"output\n");
			return AG_EXIT_USAGE;
		}
		return ret;
	}

	fprintf(stderr, "aalgate: unknown command '%s'", argv[1]);
	struct ag_suggest sg;
	ag_suggest_init(&sg, argv[1]);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		ag_suggest_add(&sg, commands[i].name);
	if (ag_suggest_best(&sg))
		fprintf(stderr, "; did you mean '%s'?", ag_suggest_best(&sg));
	fputs("\nRun 'aalgate --help' for the list of commands.\n", stderr);
	return AG_EXIT_USAGE;
}
