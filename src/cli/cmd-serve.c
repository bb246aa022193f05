/*
 * aalgate serve -p POLICY [--listen ADDR] [--state DB] [--decision-log FILE]
 *               [--inventory FILE]... [--user USER] [--pam-socket PATH]
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "gate/server.h"
#include "banned.h"

static const char usage_text[] =
	"usage: aalgate serve -p POLICY [--listen ADDR] [--state DB]\n"
	"                     [--decision-log FILE] [--inventory FILE]...\n"
	"                     [--user USER]\n"
	"                     [--pam-socket PATH [--pam-peer-uid USER]\n"
	"                      [--pam-peer-group GROUP]]\n"
	"\n"
	"Run the gate: an HTTP service that decides every request against the\n"
	"policy's workflows.  Endpoints: GET /v1/authz (forward-auth for nginx\n"
	"auth_request, Envoy ext_authz and Traefik ForwardAuth), POST\n"
	"/v1/decide, GET /healthz and GET /metrics.  With --state also:\n"
	"/v1/grants (JIT elevation, see 'aalgate grant'), POST /v1/recovery\n"
	"(for trusted proxies only, see 'aalgate recover') and\n"
	"/v1/accounts/ID/enrolments (self-service, see 'aalgate enroll');\n"
	"the policy's sinks: get its alerts and notifications.\n"
	"\n"
	"  -p, --policy FILE        the policy (required)\n"
	"  -l, --listen ADDR        HOST:PORT or [V6]:PORT (default\n"
	"                           127.0.0.1:8750; port 0 picks a free port)\n"
	"  -s, --state DB           the state file (see 'aalgate enroll'):\n"
	"                           accounts' own levels, for match_account\n"
	"                           workflows, which deny without it; its\n"
	"                           changes go into the decision log, which\n"
	"                           goes beside it unless --decision-log is\n"
	"                           given\n"
	"  -d, --decision-log FILE  the hash-chained decision log (default\n"
	"                           aalgate-decisions.jsonl beside the state\n"
	"                           file, or in the working directory)\n"
	"  -i, --inventory FILE     machine identities (repeatable; see\n"
	"                           'aalgate nhi'): machine workflows admit\n"
	"                           only clients the inventory holds, active,\n"
	"                           with a live owner and a credential the\n"
	"                           workflow allows.  Read at start and at\n"
	"                           every SIGHUP.  With --state the store's\n"
	"                           records count too, looked up per request;\n"
	"                           without either, machine workflows deny\n"
	"  -u, --user USER          drop to this user after binding\n"
	"      --max-connections N  concurrent connections (default 512)\n"
	"      --timeout SECS       idle connection timeout (default 10)\n"
	"      --drain SECS         how long SIGTERM waits for requests in\n"
	"                           flight (default 10)\n"
	"      --threads N          HTTP worker threads (default: one per\n"
	"                           CPU, at least 2)\n"
	"      --pam-socket PATH    answer pam_aalgate.so on this Unix socket\n"
	"                           (needs --state): does the user hold an\n"
	"                           active grant for the workflow on the\n"
	"                           host?  Root and the daemon's own user may\n"
	"                           ask; the socket is mode 0600\n"
	"      --pam-peer-uid USER  one more user that may ask\n"
	"      --pam-peer-group GROUP\n"
	"                           processes whose effective group is GROUP\n"
	"                           may ask (the socket is then GROUP's, 0660)\n"
	"  -q, --quiet              log only errors\n"
	"  -h, --help               this text\n"
	"\n"
	"Signals: SIGHUP reloads the policy and the inventory files (an invalid\n"
	"one keeps the old ones and says why); SIGTERM and SIGINT drain and\n"
	"stop.\n"
	"\n"
	"Exit status: 0 after a clean stop, 1 when the drain timed out, 2 when\n"
	"it could not start (bad policy, address in use, bad usage).\n";

/* Most --inventory files. */
#define INVENTORY_MAX 64

static bool number(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || errno || v < lo || v > hi)
		return false;
	*out = (unsigned)v;
	return true;
}

/* A user or group by name or number, for --pam-peer-*. */
static bool pam_peer(const char *s, bool group, unsigned *out)
{
	if (group) {
		struct group *gr = getgrnam(s);
		if (gr) {
			*out = (unsigned)gr->gr_gid;
			return true;
		}
	} else {
		struct passwd *pw = getpwnam(s);
		if (pw) {
			*out = (unsigned)pw->pw_uid;
			return true;
		}
	}
	return number(s, 0, 0xfffffffeu, out);
}

int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{"policy", required_argument, NULL, 'p'},
		{"listen", required_argument, NULL, 'l'},
		{"state", required_argument, NULL, 's'},
		{"decision-log", required_argument, NULL, 'd'},
		{"user", required_argument, NULL, 'u'},
		{"max-connections", required_argument, NULL, 'M'},
		{"timeout", required_argument, NULL, 'T'},
		{"drain", required_argument, NULL, 'D'},
		{"threads", required_argument, NULL, 'N'},
		{"pam-socket", required_argument, NULL, 'P'},
		{"pam-peer-uid", required_argument, NULL, 'U'},
		{"pam-peer-group", required_argument, NULL, 'G'},
		{"inventory", required_argument, NULL, 'i'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct ag_server_opts o = {.listen = "127.0.0.1:8750",
				   .max_connections = 512,
				   .timeout = 10,
				   .drain = 10};
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	o.threads = ncpu < 2 ? 2 : ncpu > 64 ? 64 : (unsigned)ncpu;
	const char *inventory[INVENTORY_MAX];
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":p:l:s:d:u:i:qh", opts, NULL)) !=
	       -1) {
		switch (c) {
		case 'p':
			o.policy_path = optarg;
			break;
		case 'l':
			o.listen = optarg;
			break;
		case 's':
			o.state_path = optarg;
			break;
		case 'd':
			o.log_path = optarg;
			break;
		case 'u':
			o.user = optarg;
			break;
		case 'M':
			if (!number(optarg, 1, 65536, &o.max_connections))
				return ag_cli_die("serve", "--max-connections "
					"must be 1..65536, not '%s'", optarg);
			break;
		case 'T':
			if (!number(optarg, 1, 3600, &o.timeout))
				return ag_cli_die("serve", "--timeout must be "
					"1..3600 seconds, not '%s'", optarg);
			break;
		case 'D':
			if (!number(optarg, 0, 3600, &o.drain))
				return ag_cli_die("serve", "--drain must be "
					"0..3600 seconds, not '%s'", optarg);
			break;
		case 'N':
			if (!number(optarg, 1, 256, &o.threads))
				return ag_cli_die("serve", "--threads must be "
					"1..256, not '%s'", optarg);
			break;
		case 'P':
			if (!*optarg)
				return ag_cli_die("serve", "--pam-socket needs "
					"a path");
			o.pam_socket = optarg;
			break;
		case 'U':
			if (!pam_peer(optarg, false, &o.pam_peer_uid))
				return ag_cli_die("serve", "--pam-peer-uid: no "
					"user '%s'", optarg);
			o.pam_peer_uid_set = true;
			break;
		case 'G':
			if (!pam_peer(optarg, true, &o.pam_peer_gid))
				return ag_cli_die("serve", "--pam-peer-group: "
					"no group '%s'", optarg);
			o.pam_peer_gid_set = true;
			break;
		case 'i':
			if (!*optarg)
				return ag_cli_die("serve", "--inventory needs "
					"a file");
			if (o.n_inventory >= INVENTORY_MAX)
				return ag_cli_die("serve", "at most %d "
					"--inventory files", INVENTORY_MAX);
			inventory[o.n_inventory++] = optarg;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return AG_EXIT_OK;
		case ':':
			return ag_cli_die("serve", "option '%s' needs a value",
					  argv[optind - 1]);
		default:
			return ag_cli_die("serve", "unknown option '%s'; see "
				"'aalgate serve --help'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return ag_cli_die("serve", "unexpected argument '%s'",
				  argv[optind]);
	if (!o.policy_path)
		return ag_cli_die("serve", "a policy is required (-p FILE)");
	if (o.pam_socket && !o.state_path)
		return ag_cli_die("serve", "--pam-socket needs --state DB: "
			"the grants it answers for live there");
	if ((o.pam_peer_uid_set || o.pam_peer_gid_set) && !o.pam_socket)
		return ag_cli_die("serve", "--pam-peer-uid and --pam-peer-group "
			"need --pam-socket");
	o.inventory = inventory;
	return ag_server_run(&o);
}
