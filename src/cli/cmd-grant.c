/*
 * aalgate grant request|approve|deny|revoke|list|check|break-glass
 *
 * Just-in-time elevation and break-glass accounts (docs/govern.md).  The
 * caller is whoever the token given with --token names, verified against
 * the policy's issuers as the gate verifies it; the rules are the
 * library's (ag_grant_*).  After a change the store's journal is moved
 * into the decision log when this process can take the log's lock; while
 * a gate holds it, the gate logs the change within a second.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "aalgate/gate.h"
#include "aalgate/govern.h"
#include "cli.h"
#include "util.h"
#include "banned.h"

static const char usage_text[] =
	"usage: aalgate grant request -p POLICY --state DB --token FILE|-\n"
	"                   --workflow NAME --duration DUR --reason TEXT\n"
	"                   [--host HOST]...\n"
	"       aalgate grant approve|deny|revoke -p POLICY --state DB\n"
	"                   --token FILE|- ID\n"
	"       aalgate grant list --state DB [-p POLICY --token FILE|-]\n"
	"                   [--account ACCOUNT]\n"
	"       aalgate grant check --state DB ACCOUNT WORKFLOW [--host HOST]\n"
	"       aalgate grant break-glass mark|unmark|show --state DB ACCOUNT\n"
	"  every form also takes [--now TIME] [--format text|json]\n"
	"  [--decision-log FILE]\n"
	"\n"
	"Just-in-time elevation instead of standing privilege.\n"
	"A workflow with `jit:` is allowed by the gate only to an account that\n"
	"holds an active grant for it.\n"
	"\n"
	"  request   the token's account asks for the workflow for DUR (at\n"
	"            most the workflow's jit.max), saying why, with a token\n"
	"            that meets the workflow itself (break-glass accounts\n"
	"            excepted); --host limits it to hosts (for PAM);\n"
	"            without, it covers every host\n"
	"  approve   a member of jit.approvers, not the requester, approves\n"
	"            with a token that meets the workflow itself (AAL,\n"
	"            phishing resistance, hardware, max_age); jit.approvals\n"
	"            distinct approvals activate the grant, which then lasts\n"
	"            DUR; a token serves one approval only\n"
	"  deny      an approver closes a pending request\n"
	"  revoke    the requester or an approver ends a grant now\n"
	"  list      grants, newest first; with --token, those the caller\n"
	"            asked for or may approve\n"
	"  check     exit 0 when ACCOUNT holds an active grant for WORKFLOW\n"
	"            (on HOST), 1 when not\n"
	"  break-glass mark|unmark ACCOUNT\n"
	"            mark an account as break-glass (or not): its grants take\n"
	"            break_glass.approvals approvals (0: active at once),\n"
	"            last at most break_glass.max, and with break_glass.alert\n"
	"            their activation raises an alert; every use the gate\n"
	"            allows raises one too (at most one a minute per grant)\n"
	"\n"
	"Accounts are token subjects: the sub with one issuer in the policy,\n"
	"\"ISSUER sub\" with several.  Approvers are \"group:NAME\" (the policy's\n"
	"groups: NAME: [accounts]) or one account.\n"
	"\n"
	"  -p, --policy FILE        the policy: workflows, groups, issuers\n"
	"  -s, --state DB           the state file (created 0600 if missing)\n"
	"  -t, --token FILE         the caller's JWT (- for standard input)\n"
	"  -w, --workflow NAME      request: the workflow\n"
	"  -D, --duration DUR       request: for how long (90s, 15m, 1h, 1d)\n"
	"  -r, --reason TEXT        request: why (required, at most 1024\n"
	"                           bytes)\n"
	"  -H, --host HOST          request, check: a host (repeatable)\n"
	"  -a, --account ACCOUNT    list: one account's grants\n"
	"  -n, --now TIME           the time to act at (RFC 3339 or epoch\n"
	"                           seconds; default now): for tests\n"
	"  -d, --decision-log FILE  where changes are logged (default\n"
	"                           aalgate-decisions.jsonl beside the state)\n"
	"  -f, --format FORMAT      text (default) or json\n"
	"  -h, --help               this text\n"
	"\n"
	"Exit status: 0 done (check: active); 1 refused (the token, the\n"
	"rules, or check: no active grant); 2 bad input or usage, or the\n"
	"state could not be used (locked, read-only, full): nothing changed.\n";

enum sub {
	SUB_REQUEST,
	SUB_APPROVE,
	SUB_DENY,
	SUB_REVOKE,
	SUB_LIST,
	SUB_CHECK,
	SUB_BG_MARK,
	SUB_BG_UNMARK,
	SUB_BG_SHOW
};

static const struct {
	const char *word;
	enum sub sub;
	const char *name;
} subs[] = {
	{"request", SUB_REQUEST, "grant request"},
	{"approve", SUB_APPROVE, "grant approve"},
	{"deny", SUB_DENY, "grant deny"},
	{"revoke", SUB_REVOKE, "grant revoke"},
	{"list", SUB_LIST, "grant list"},
	{"check", SUB_CHECK, "grant check"},
};

#define HOSTS_ARG_MAX AG_GRANT_HOSTS_MAX

struct args {
	enum sub sub;
	const char *name;
	const char *policy, *state, *token, *workflow, *reason, *account;
	const char *log, *format;
	const char *hosts[HOSTS_ARG_MAX];
	size_t n_hosts;
	int64_t duration;
	bool has_duration;
	int64_t now;
	uint64_t id;
	const char *pos[2];
	size_t n_pos;
};

static bool json_out(const struct args *a)
{
	return !strcmp(a->format, "json");
}

/* ---- the decision log -------------------------------------------------- */

/* ---- output ------------------------------------------------------------ */

static void time_text(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (t == 0)
		ag_strlcpy(buf, "-", len);
	else if (!gmtime_r(&tt, &tm) ||
		 strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

/* Text from tokens and the store goes to a terminal: no control
 * characters. */
static const char *printable(const char *s, char *buf, size_t len)
{
	size_t o = 0;
	for (; s && *s && o + 1 < len; s++)
		buf[o++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
	buf[o] = '\0';
	return buf;
}

static void grant_text(const struct ag_grant *g, int64_t now)
{
	char t[40], b[AG_GRANT_REASON_MAX + 1], d[32];

	printf("grant %llu: %s\n", (unsigned long long)g->id,
	       ag_grant_state_name(ag_grant_state_at(g, now)));
	printf("  account:   %s%s\n", printable(g->account, b, sizeof(b)),
	       g->break_glass ? " (break-glass)" : "");
	printf("  workflow:  %s\n", printable(g->workflow, b, sizeof(b)));
	printf("  reason:    %s\n", printable(g->reason, b, sizeof(b)));
	printf("  hosts:     ");
	if (!g->n_hosts)
		printf("any");
	for (size_t i = 0; i < g->n_hosts; i++)
		printf("%s%s", i ? ", " : "",
		       printable(g->hosts[i], b, sizeof(b)));
	putchar('\n');
	ag_duration_format(g->duration, d, sizeof(d));
	printf("  duration:  %s\n", d);
	time_text(g->requested, t, sizeof(t));
	printf("  requested: %s\n", t);
	printf("  approvals: %zu of %d", g->n_approvals, g->approvals_needed);
	for (size_t i = 0; i < g->n_approvals; i++)
		printf("%s%s", i ? ", " : ": ",
		       printable(g->approvals[i].approver, b, sizeof(b)));
	putchar('\n');
	if (g->activated) {
		time_text(g->activated, t, sizeof(t));
		printf("  activated: %s\n", t);
		time_text(g->expires, t, sizeof(t));
		printf("  expires:   %s\n", t);
	}
	if (g->closed) {
		time_text(g->closed, t, sizeof(t));
		printf("  closed:    %s by %s\n", t,
		       printable(g->closed_by ? g->closed_by : "?", b,
				 sizeof(b)));
	}
}

static json_t *grant_json(const struct ag_grant *g, int64_t now)
{
	char *txt = ag_grant_json(g, now);
	json_t *o = txt ? json_loads(txt, 0, NULL) : NULL;
	free(txt);
	return o ? o : json_null();
}

static void print_json(json_t *o)
{
	char *txt = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
		      : NULL;
	json_decref(o);
	if (!txt) {
		fputs("aalgate: out of memory\n", stderr);
		return;
	}
	puts(txt);
	free(txt);
}

/* The answer of a change: text or JSON; exit status. */
static int answer(const struct args *a, ag_code rc,
		  const struct ag_grant_result *res, const struct ag_error *err)
{
	bool refused = rc != AG_OK && res->refusal != AG_GREF_NONE;
	if (json_out(a)) {
		json_t *o = json_object();
		json_object_set_new(o, "result",
				    json_string(rc == AG_OK ? "done"
						: refused   ? "refused"
							    : "error"));
		if (rc != AG_OK) {
			json_object_set_new(o, "refusal",
					    json_string(ag_grant_refusal_name(
						    res->refusal)));
			json_object_set_new(o, "message",
					    json_string(err->msg));
		}
		json_object_set_new(o, "activated",
				    json_boolean(res->activated));
		json_object_set_new(o, "grant",
				    res->grant.account
					    ? grant_json(&res->grant, a->now)
					    : json_null());
		print_json(o);
	}
	if (rc != AG_OK) {
		fprintf(stderr, "aalgate %s: %s%s\n", a->name,
			refused ? "refused: " : "", err->msg);
		return refused ? AG_EXIT_FINDINGS : AG_EXIT_USAGE;
	}
	if (!json_out(a)) {
		const struct ag_grant *g = &res->grant;
		switch (a->sub) {
		case SUB_REQUEST:
			printf("requested grant %llu", (unsigned long long)g->id);
			break;
		case SUB_APPROVE:
			printf("approved grant %llu", (unsigned long long)g->id);
			break;
		case SUB_DENY:
			printf("denied grant %llu", (unsigned long long)g->id);
			break;
		default:
			printf("revoked grant %llu", (unsigned long long)g->id);
			break;
		}
		if (res->activated)
			printf(": active until ");
		if (res->activated) {
			char t[40];
			time_text(g->expires, t, sizeof(t));
			printf("%s", t);
		} else if (g->state == AG_GRANT_PENDING) {
			printf(": %zu of %d approval%s", g->n_approvals,
			       g->approvals_needed,
			       g->approvals_needed == 1 ? "" : "s");
		}
		putchar('\n');
		grant_text(g, a->now);
	}
	return AG_EXIT_OK;
}

/* ---- the caller -------------------------------------------------------- */

/* Verifies the token at now into claims; 1 when refused. */
static int verify(const struct args *a, struct ag_verifier *v,
		  const char *token, size_t len, struct ag_claims *claims)
{
	char why[256] = "";
	enum ag_token_error te = ag_verifier_check_bearer(v, token, len, a->now,
						   claims, why, sizeof(why));
	if (te == AG_TOK_OK)
		return -1;
	if (json_out(a)) {
		json_t *o = json_pack("{s:s, s:s, s:s}", "result", "refused",
				      "refusal", "invalid_token", "message",
				      why[0] ? why : ag_token_error_name(te));
		print_json(o);
	}
	fprintf(stderr, "aalgate %s: refused: the token is not valid (%s)%s%s\n",
		a->name, ag_token_error_name(te), why[0] ? ": " : "", why);
	return AG_EXIT_FINDINGS;
}

/* ---- the subcommands --------------------------------------------------- */

static int do_change(const struct args *a, const struct ag_grant_ctx *ctx,
		     const struct ag_claims *claims, const char *token,
		     size_t token_len)
{
	struct ag_grant_caller caller = {.claims = claims,
					 .token = token,
					 .token_len = token_len};
	struct ag_grant_result res;
	struct ag_error err;
	ag_code rc;

	ag_error_init(&err);
	switch (a->sub) {
	case SUB_REQUEST: {
		struct ag_grant_ask ask = {.workflow = a->workflow,
					   .duration = a->duration,
					   .reason = a->reason,
					   .hosts = a->hosts,
					   .n_hosts = a->n_hosts};
		rc = ag_grant_request(ctx, &caller, &ask, a->now, &res, &err);
		break;
	}
	case SUB_APPROVE:
		rc = ag_grant_approve(ctx, &caller, a->id, a->now, &res, &err);
		break;
	case SUB_DENY:
		rc = ag_grant_deny(ctx, &caller, a->id, a->now, &res, &err);
		break;
	default:
		rc = ag_grant_revoke(ctx, &caller, a->id, a->now, &res, &err);
		break;
	}
	int ret = answer(a, rc, &res, &err);
	ag_grant_release(&res.grant);
	/* A refusal by the rules is journalled too. */
	if (rc == AG_OK || res.refusal != AG_GREF_NONE)
		ag_cli_journal_to_log(a->name, a->state, a->log, ctx->store);
	return ret;
}

static int do_list(const struct args *a, struct ag_store *st,
		   const struct ag_policy *p, const struct ag_claims *claims)
{
	struct ag_grants l = {0};
	struct ag_error err;
	char who[AG_STORE_ACCOUNT_MAX + 1] = "";

	ag_error_init(&err);
	if (claims && ag_grant_account(p, claims->iss, claims->sub, who,
				       sizeof(who), &err) != AG_OK) {
		fprintf(stderr, "aalgate %s: refused: %s\n", a->name, err.msg);
		return AG_EXIT_FINDINGS;
	}
	if (ag_grant_list(st, a->account, 0, &l, &err) != AG_OK) {
		ag_grants_release(&l);
		return ag_cli_die(a->name, "%s", err.msg);
	}
	json_t *arr = json_out(a) ? json_array() : NULL;
	size_t shown = 0;
	for (size_t i = 0; i < l.n; i++) {
		const struct ag_grant *g = &l.v[i];
		if (claims) {
			long wi = ag_policy_workflow(p, g->workflow);
			bool mine = !strcmp(g->account, who);
			bool approver = wi >= 0 &&
					ag_grant_is_approver(p,
							     &p->workflows[wi],
							     who);
			if (!mine && !approver)
				continue;
		}
		if (arr)
			json_array_append_new(arr, grant_json(g, a->now));
		else
			grant_text(g, a->now);
		shown++;
	}
	if (arr)
		print_json(json_pack("{s:s, s:o, s:b}", "store",
				     ag_store_id(st), "grants", arr,
				     "truncated", l.truncated));
	else if (!shown)
		printf("no grants\n");
	if (l.truncated)
		fprintf(stderr,
			"aalgate %s: only the newest %d grants were read%s\n",
			a->name, AG_GRANT_LIST_MAX,
			a->account ? "" : "; give --account for older ones");
	ag_grants_release(&l);
	return AG_EXIT_OK;
}

static int do_check(const struct args *a, struct ag_store *st)
{
	struct ag_error err;
	bool active = false;
	const char *host = a->n_hosts ? a->hosts[0] : NULL;

	ag_error_init(&err);
	if (ag_store_grant_active(st, a->pos[0], a->pos[1], host, a->now,
				  &active, &err) != AG_OK)
		return ag_cli_die(a->name, "%s", err.msg);
	if (json_out(a))
		print_json(json_pack("{s:s, s:s, s:o, s:b}", "account",
				     a->pos[0], "workflow", a->pos[1], "host",
				     host ? json_string(host) : json_null(),
				     "active", active));
	else
		printf("'%s' holds %s active grant for '%s'%s%s\n", a->pos[0],
		       active ? "an" : "no", a->pos[1],
		       host ? " on " : "", host ? host : "");
	return active ? AG_EXIT_OK : AG_EXIT_FINDINGS;
}

static int do_break_glass(const struct args *a, struct ag_store *st)
{
	struct ag_error err;
	bool on = false, changed = false;
	const char *acct = a->pos[0];

	ag_error_init(&err);
	if (a->sub == SUB_BG_SHOW) {
		if (ag_store_break_glass_get(st, acct, &on, &err) != AG_OK)
			return ag_cli_die(a->name, "%s", err.msg);
	} else {
		on = a->sub == SUB_BG_MARK;
		if (ag_store_break_glass_set(st, acct, on, a->now, &changed,
					     &err) != AG_OK)
			return ag_cli_die(a->name, "%s", err.msg);
	}
	if (json_out(a))
		print_json(json_pack("{s:s, s:b, s:b}", "account", acct,
				     "break_glass", on, "changed", changed));
	else if (a->sub == SUB_BG_SHOW)
		printf("'%s' is %sa break-glass account\n", acct,
		       on ? "" : "not ");
	else
		printf("'%s' is %sa break-glass account%s\n", acct,
		       on ? "" : "not ", changed ? "" : " (unchanged)");
	if (changed)
		ag_cli_journal_to_log(a->name, a->state, a->log, st);
	return AG_EXIT_OK;
}

/* ---- arguments --------------------------------------------------------- */

static int parse_now(const struct args *a, const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (*s && !*end && !errno && v >= 0) {
		*out = (int64_t)v;
		return -1;
	}
	if (ag_time_parse(s, out) == AG_OK)
		return -1;
	return ag_cli_die(a->name, "--now takes an RFC 3339 time or epoch "
			  "seconds, not '%s'",
			  s);
}

static int parse(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{"policy", required_argument, NULL, 'p'},
		{"state", required_argument, NULL, 's'},
		{"token", required_argument, NULL, 't'},
		{"workflow", required_argument, NULL, 'w'},
		{"duration", required_argument, NULL, 'D'},
		{"reason", required_argument, NULL, 'r'},
		{"host", required_argument, NULL, 'H'},
		{"account", required_argument, NULL, 'a'},
		{"now", required_argument, NULL, 'n'},
		{"decision-log", required_argument, NULL, 'd'},
		{"format", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool has_now = false;
	int c, r;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":p:s:t:w:D:r:H:a:n:d:f:h", opts,
				NULL)) != -1) {
		switch (c) {
		case 'p':
			a->policy = optarg;
			break;
		case 's':
			a->state = optarg;
			break;
		case 't':
			a->token = optarg;
			break;
		case 'w':
			a->workflow = optarg;
			break;
		case 'D':
			if (ag_duration_parse(optarg, &a->duration) != AG_OK ||
			    a->duration <= 0)
				return ag_cli_die(a->name,
						  "--duration takes a duration "
						  "such as 30m or 1h, not "
						  "'%s'",
						  optarg);
			a->has_duration = true;
			break;
		case 'r':
			a->reason = optarg;
			break;
		case 'H':
			if (a->n_hosts >= HOSTS_ARG_MAX)
				return ag_cli_die(a->name, "at most %d --host",
						  HOSTS_ARG_MAX);
			a->hosts[a->n_hosts++] = optarg;
			break;
		case 'a':
			a->account = optarg;
			break;
		case 'n':
			if ((r = parse_now(a, optarg, &a->now)) >= 0)
				return r;
			has_now = true;
			break;
		case 'd':
			a->log = optarg;
			break;
		case 'f':
			a->format = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return AG_EXIT_OK;
		case ':':
			return ag_cli_die(a->name, "option '%s' needs a value",
					  argv[optind - 1]);
		default:
			return ag_cli_die(a->name, "unknown option '%s'; see "
				"'aalgate grant --help'", argv[optind - 1]);
		}
	}
	if (!has_now)
		a->now = (int64_t)time(NULL);
	if (strcmp(a->format, "text") && strcmp(a->format, "json"))
		return ag_cli_die(a->name, "unknown format '%s' (text or json)",
				  a->format);
	if (!a->state)
		return ag_cli_die(a->name, "a state file is required "
				  "(--state DB)");
	a->n_pos = 0;
	for (int i = optind; i < argc; i++) {
		if (a->n_pos >= 2)
			return ag_cli_die(a->name, "unexpected argument '%s'; "
					  "see 'aalgate grant --help'",
					  argv[i]);
		a->pos[a->n_pos++] = argv[i];
	}
	bool change = a->sub == SUB_REQUEST || a->sub == SUB_APPROVE ||
		      a->sub == SUB_DENY || a->sub == SUB_REVOKE;
	if (change && !a->policy)
		return ag_cli_die(a->name, "a policy is required (-p FILE)");
	if (change && !a->token)
		return ag_cli_die(a->name, "the caller's token is required "
				  "(--token FILE, or - for standard input)");
	if (a->sub == SUB_LIST && a->token && !a->policy)
		return ag_cli_die(a->name, "--token needs the policy (-p FILE) "
				  "to verify it");
	if (a->sub != SUB_REQUEST &&
	    (a->workflow || a->has_duration || a->reason))
		return ag_cli_die(a->name, "--workflow, --duration and "
				  "--reason are for request");
	if (a->sub != SUB_REQUEST && a->sub != SUB_CHECK && a->n_hosts)
		return ag_cli_die(a->name, "--host is for request and check");
	if (a->sub != SUB_LIST && a->account)
		return ag_cli_die(a->name, "--account is for list");
	if (!change && a->sub != SUB_LIST && a->token)
		return ag_cli_die(a->name, "%s takes no --token", a->name);
	switch (a->sub) {
	case SUB_REQUEST:
		if (a->n_pos)
			return ag_cli_die(a->name, "unexpected argument '%s'",
					  a->pos[0]);
		if (!a->workflow)
			return ag_cli_die(a->name, "name the workflow "
					  "(--workflow NAME)");
		if (!a->has_duration)
			return ag_cli_die(a->name, "say for how long "
					  "(--duration DUR, at most the "
					  "workflow's jit.max)");
		if (!a->reason)
			return ag_cli_die(a->name, "say why (--reason TEXT)");
		break;
	case SUB_APPROVE:
	case SUB_DENY:
	case SUB_REVOKE: {
		if (a->n_pos != 1)
			return ag_cli_die(a->name, "give the grant's ID");
		char *end;
		errno = 0;
		unsigned long long v = strtoull(a->pos[0], &end, 10);
		if (!*a->pos[0] || *end || errno || v == 0 ||
		    v > (unsigned long long)INT64_MAX ||
		    a->pos[0][0] == '-' || a->pos[0][0] == '+')
			return ag_cli_die(a->name, "'%s' is not a grant ID",
					  a->pos[0]);
		a->id = (uint64_t)v;
		break;
	}
	case SUB_LIST:
		if (a->n_pos)
			return ag_cli_die(a->name, "unexpected argument '%s'",
					  a->pos[0]);
		break;
	case SUB_CHECK:
		if (a->n_pos != 2)
			return ag_cli_die(a->name, "give ACCOUNT WORKFLOW");
		if (a->n_hosts > 1)
			return ag_cli_die(a->name, "check takes one --host");
		break;
	default:
		if (a->n_pos != 1)
			return ag_cli_die(a->name, "give one ACCOUNT");
		break;
	}
	return -1;
}

int cmd_grant(int argc, char **argv)
{
	struct args a = {.format = "text"};
	struct ag_policy *p = NULL;
	struct ag_store *st = NULL;
	struct ag_gate *g = NULL;
	struct ag_verifier *v = NULL;
	struct ag_claims claims;
	struct ag_error err;
	char *token = NULL;
	size_t token_len = 0;
	bool have_claims = false;
	int ret, shift = 1;

	ag_claims_init(&claims);
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? AG_EXIT_USAGE : AG_EXIT_OK;
	}
	a.name = NULL;
	for (size_t i = 0; i < AG_ARRAY_SIZE(subs); i++)
		if (!strcmp(argv[1], subs[i].word)) {
			a.sub = subs[i].sub;
			a.name = subs[i].name;
		}
	if (!a.name && !strcmp(argv[1], "break-glass")) {
		if (argc < 3 || !strcmp(argv[2], "--help") ||
		    !strcmp(argv[2], "-h")) {
			fputs(usage_text, argc < 3 ? stderr : stdout);
			return argc < 3 ? AG_EXIT_USAGE : AG_EXIT_OK;
		}
		if (!strcmp(argv[2], "mark")) {
			a.sub = SUB_BG_MARK;
			a.name = "grant break-glass mark";
		} else if (!strcmp(argv[2], "unmark")) {
			a.sub = SUB_BG_UNMARK;
			a.name = "grant break-glass unmark";
		} else if (!strcmp(argv[2], "show")) {
			a.sub = SUB_BG_SHOW;
			a.name = "grant break-glass show";
		} else {
			return ag_cli_die("grant break-glass",
					  "unknown subcommand '%s' (mark, "
					  "unmark or show)",
					  argv[2]);
		}
		shift = 2;
	}
	if (!a.name) {
		struct ag_suggest sg;
		ag_suggest_init(&sg, argv[1]);
		for (size_t i = 0; i < AG_ARRAY_SIZE(subs); i++)
			ag_suggest_add(&sg, subs[i].word);
		ag_suggest_add(&sg, "break-glass");
		fprintf(stderr,
			"aalgate grant: unknown subcommand '%s' (request, "
			"approve, deny, revoke, list, check or break-glass)",
			argv[1]);
		if (ag_suggest_best(&sg))
			fprintf(stderr, "; did you mean '%s'?",
				ag_suggest_best(&sg));
		fputs("\n", stderr);
		return AG_EXIT_USAGE;
	}
	if ((ret = parse(argc - shift, argv + shift, &a)) >= 0)
		return ret;

	ag_error_init(&err);
	ret = AG_EXIT_USAGE;
	if (a.policy && ag_policy_load(a.policy, &p, &err) != AG_OK) {
		fprintf(stderr, "aalgate %s: %s\n", a.name, err.msg);
		goto out;
	}
	if (a.token) {
		int r;
		if ((r = ag_cli_read_token(a.name, a.token, AG_TOKEN_MAX + 64,
					   &token, &token_len))) {
			ret = r;
			goto out;
		}
		if (ag_verifier_new(p, &v, &err) != AG_OK) {
			fprintf(stderr, "aalgate %s: %s\n", a.name, err.msg);
			goto out;
		}
		if ((r = verify(&a, v, token, token_len, &claims)) >= 0) {
			ret = r;
			goto out;
		}
		have_claims = true;
	}
	bool ro = a.sub == SUB_LIST || a.sub == SUB_CHECK ||
		  a.sub == SUB_BG_SHOW;
	struct ag_store_opts so = {.read_only = ro};
	if (ag_store_open(a.state, &so, &st, &err) != AG_OK) {
		fprintf(stderr, "aalgate %s: %s\n", a.name, err.msg);
		goto out;
	}
	switch (a.sub) {
	case SUB_REQUEST:
	case SUB_APPROVE:
	case SUB_DENY:
	case SUB_REVOKE: {
		if (ag_gate_new(p, &g, &err) != AG_OK) {
			fprintf(stderr, "aalgate %s: %s\n", a.name, err.msg);
			goto out;
		}
		struct ag_grant_ctx ctx = {.policy = p, .gate = g, .store = st};
		ret = do_change(&a, &ctx, &claims, token, token_len);
		break;
	}
	case SUB_LIST:
		ret = do_list(&a, st, p, have_claims ? &claims : NULL);
		break;
	case SUB_CHECK:
		ret = do_check(&a, st);
		break;
	default:
		ret = do_break_glass(&a, st);
		break;
	}
out:
	ag_claims_release(&claims);
	if (token) {
		/* A bearer token: not left in freed memory. */
		memset(token, 0, token_len);
		free(token);
	}
	ag_store_close(st);
	ag_gate_free(g);
	ag_verifier_free(v);
	ag_policy_free(p);
	return ret;
}
