/*
 * aalgate helpdesk reset -p POLICY [--state DB] --agent-token FILE|-
 *                        EVIDENCE.json
 *
 * A help-desk reset held to the table of account recovery (docs/govern.md):
 * the agent's token is verified with the policy's issuers, the agent must
 * be at AAL2 or above, and what the agent verified is the evidence,
 * judged as `recover check` judges it.  The rules are the library's
 * (ag_helpdesk_reset); this file reads the inputs and writes the answer.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aalgate/gate.h"
#include "aalgate/govern.h"
#include "cli.h"
#include "util.h"
#include "banned.h"

static const char usage_text[] =
	"usage: aalgate helpdesk reset -p POLICY --agent-token FILE|- "
	"[--state DB]\n"
	"                              [--decision-log FILE] "
	"[--format json|text]\n"
	"                              EVIDENCE.json\n"
	"\n"
	"Hold a help-desk reset to the account recovery table (NIST\n"
	"SP 800-63B-4 §4.2.2): what the agent verified is the evidence, and\n"
	"it must meet the account's own level.  The agent's token (a JWT, in\n"
	"FILE or on standard input) is verified with the policy's issuers;\n"
	"the agent must be at AAL2 or above and, when the policy defines a\n"
	"'helpdesk' workflow, be allowed by it.  Nobody resets their own\n"
	"account.\n"
	"\n"
	"EVIDENCE.json is a `recover check` request (see 'aalgate recover\n"
	"--help') with \"account\" required and these keys more:\n"
	"\n"
	"  \"ticket\": \"INC-1234\",                   journalled\n"
	"  \"verified\": [\"called back on file\"],    every other check made\n"
	"  \"lost\": [{\"method\": \"totp\", \"label\": \"phone\"}]\n"
	"                                         with --state: removed on\n"
	"                                         acceptance\n"
	"\n"
	"Knowledge-based verification is refused, with the reason, whether it\n"
	"is an evidence kind or a verified step: date of birth, the last\n"
	"digits of an SSN or ID, an address, a mother's maiden name, security\n"
	"questions, an employee id... (SP 800-63A-4 §2.5.1; SP 800-63B-4\n"
	"§4.2.1).  One such item refuses the reset.  Other verified steps do\n"
	"not count.\n"
	"\n"
	"With --state the account's level comes from its enrolments, spent\n"
	"codes are refused and an accepted reset spends its codes, removes\n"
	"the lost authenticators and journals \"helpdesk_reset\" (the agent,\n"
	"the account, the evidence, the obligation to notify the account's\n"
	"addresses); the subscriber then binds new authenticators (aalgate\n"
	"enroll).  A refused reset journals \"helpdesk_reset_refused\".\n"
	"\n"
	"  -p, --policy FILE        the policy (required)\n"
	"  -t, --agent-token FILE   the agent's token, or - (required)\n"
	"  -s, --state DB           the state store\n"
	"  -d, --decision-log FILE  where the journal goes (default\n"
	"                           aalgate-decisions.jsonl beside the state)\n"
	"  -f, --format FORMAT      json (default) or text\n"
	"  -h, --help               this text\n"
	"\n"
	"Exit status: 0 accepted, 1 refused (the agent, the evidence or the\n"
	"token), 2 bad input or usage, or the state could not be used.\n";

#define CMD "helpdesk reset"

struct args {
	const char *policy, *token, *state, *log, *format, *evidence;
};

static int parse(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{"policy", required_argument, NULL, 'p'},
		{"agent-token", required_argument, NULL, 't'},
		{"state", required_argument, NULL, 's'},
		{"decision-log", required_argument, NULL, 'd'},
		{"format", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":p:t:s:d:f:h", opts, NULL)) !=
	       -1) {
		switch (c) {
		case 'p':
			a->policy = optarg;
			break;
		case 't':
			a->token = optarg;
			break;
		case 's':
			a->state = optarg;
			break;
		case 'd':
			a->log = optarg;
			break;
		case 'f':
			a->format = optarg;
			if (strcmp(a->format, "json") &&
			    strcmp(a->format, "text"))
				return ag_cli_die(CMD, "unknown format '%s'; "
						  "use json or text",
						  a->format);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return AG_EXIT_OK;
		case ':':
			return ag_cli_die(CMD, "option '%s' needs a value",
					  argv[optind - 1]);
		default:
			return ag_cli_die(CMD, "unknown option '%s'; see "
					  "'aalgate helpdesk --help'",
					  argv[optind - 1]);
		}
	}
	if (!a->policy)
		return ag_cli_die(CMD, "a policy is required (-p FILE)");
	if (!a->token)
		return ag_cli_die(CMD, "the agent's token is required "
				  "(--agent-token FILE or -)");
	if (optind != argc - 1)
		return ag_cli_die(CMD, "give one EVIDENCE.json (or -)");
	a->evidence = argv[optind];
	if (!strcmp(a->token, "-") && !strcmp(a->evidence, "-"))
		return ag_cli_die(CMD, "the token and the evidence cannot both "
				  "come from standard input");
	if (a->log && !a->state)
		return ag_cli_die(CMD, "--decision-log goes with --state");
	return -1;
}

static void text_out(const struct ag_recovery_request *rec,
		     const struct ag_helpdesk_request *hd,
		     const struct ag_claims *agent,
		     const struct ag_recovery_result *res,
		     const struct ag_helpdesk_result *out)
{
	printf("reset:     %s\n", out->accepted ? "accepted" : "refused");
	printf("agent:     '%s' (%s), AAL%d%s\n",
	       agent->sub ? agent->sub : "(no sub)",
	       agent->iss ? agent->iss : "no issuer", out->agent.aal,
	       out->agent.phishing_resistant ? ", phishing-resistant" : "");
	if (out->agent_refusal != AG_HD_OK)
		printf("refused:   %s: %s\n",
		       ag_helpdesk_refusal_name(out->agent_refusal),
		       out->agent_why);
	if (hd->ticket)
		printf("ticket:    %s\n", hd->ticket);
	ag_cli_recovery_text(rec, res, &out->state);
	for (size_t i = 0; i < hd->n_verified; i++) {
		const struct ag_helpdesk_step *v = &hd->verified[i];
		if (v->kba)
			printf("verified:  '%s': knowledge-based (%s), "
			       "refused\n",
			       v->text, v->kba);
		else
			printf("verified:  '%s': not recovery evidence, not "
			       "counted\n",
			       v->text);
	}
	for (size_t i = 0; i < hd->n_lost; i++)
		printf("lost:      '%s'%s%s%s: %s\n", hd->lost[i].method,
		       hd->lost[i].label[0] ? " (label '" : "",
		       hd->lost[i].label, hd->lost[i].label[0] ? "')" : "",
		       (out->removed >> i) & 1u ? "removed" : "kept");
}

static int reset(const struct args *a)
{
	struct ag_policy *p = NULL;
	struct ag_verifier *v = NULL;
	struct ag_store *st = NULL;
	struct ag_recovery_request rec;
	struct ag_helpdesk_request hd;
	struct ag_recovery_result res;
	struct ag_helpdesk_result out;
	struct ag_claims claims;
	struct ag_error err;
	char *tok = NULL, *body = NULL, why[256] = "";
	size_t tok_len = 0, len = 0;
	int ret = AG_EXIT_USAGE;
	bool have_req = false;
	const char *name = strcmp(a->evidence, "-") ? a->evidence : "<stdin>";

	ag_error_init(&err);
	ag_claims_init(&claims);
	if (ag_policy_load(a->policy, &p, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		goto out;
	}
	if (ag_cli_read_token(CMD, a->token, AG_TOKEN_MAX + 256, &tok,
			      &tok_len) ||
	    ag_cli_read_input(CMD, a->evidence, AG_RECOVERY_REQUEST_MAX, &body,
			      &len))
		goto out;
	if (ag_helpdesk_request_parse(p, name, body, len, a->state != NULL,
				      &rec, &hd, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		goto out;
	}
	have_req = true;
	if (ag_verifier_new(p, &v, &err)) {
		fprintf(stderr, "aalgate " CMD ": %s\n", err.msg);
		goto out;
	}
	enum ag_token_error te = ag_verifier_check_bearer(v, tok, tok_len,
						   (int64_t)time(NULL),
						   &claims, why, sizeof(why));
	if (te != AG_TOK_OK) {
		fprintf(stderr,
			"aalgate " CMD ": the agent's token is refused (%s): "
			"%s\n",
			ag_token_error_name(te), why[0] ? why : "invalid");
		ret = AG_EXIT_FINDINGS;
		goto out;
	}
	if (a->state && ag_store_open(a->state, NULL, &st, &err)) {
		fprintf(stderr, "aalgate " CMD ": %s\n", err.msg);
		goto out;
	}
	int64_t now = rec.has_now ? rec.now : (int64_t)time(NULL);
	ag_code rc = ag_helpdesk_reset(st, p, &rec, &hd, name, &claims, now,
				       &res, &out, &err);
	if (st)
		ag_cli_journal_to_log(CMD, a->state, a->log, st);
	if (rc != AG_OK) {
		ret = ag_cli_recovery_exit(rc, &out.state, &err);
		goto out;
	}
	if (!strcmp(a->format, "text")) {
		text_out(&rec, &hd, &claims, &res, &out);
	} else {
		char *txt = ag_helpdesk_answer(&rec, &hd, &claims, &res, &out,
					       now);
		if (!txt) {
			ag_cli_die(CMD, "out of memory");
			goto out;
		}
		fputs(txt, stdout);
		free(txt);
	}
	ret = out.accepted ? AG_EXIT_OK : AG_EXIT_FINDINGS;
out:
	if (have_req) {
		ag_recovery_request_release(&rec);
		ag_helpdesk_request_release(&hd);
	}
	ag_claims_release(&claims);
	ag_store_close(st);
	ag_verifier_free(v);
	if (tok) {
		/* The agent's token is a credential: do not leave it in
		 * freed memory. */
		volatile char *t = tok;
		for (size_t i = 0; i < tok_len; i++)
			t[i] = 0;
	}
	free(tok);
	free(body);
	ag_policy_free(p);
	return ret;
}

int cmd_helpdesk(int argc, char **argv)
{
	struct args a = {.format = "json"};
	int ret;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? AG_EXIT_USAGE : AG_EXIT_OK;
	}
	if (strcmp(argv[1], "reset"))
		return ag_cli_die("helpdesk",
				  "unknown subcommand '%s' (reset); see "
				  "'aalgate helpdesk --help'",
				  argv[1]);
	if ((ret = parse(argc - 1, argv + 1, &a)) >= 0)
		return ret;
	return reset(&a);
}
