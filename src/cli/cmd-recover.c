/*
 * aalgate recover check -p POLICY [--state DB] [--format json|text]
 *                       EVIDENCE.json
 *
 * Holds account recovery to the account's own level (docs/govern.md, NIST
 * SP 800-63B-4 §4.2): reads what the account holds and the evidence a
 * claimant showed, and says whether it is enough and what must follow.
 * The rules are the library's (ag_recovery_check, and ag_recovery_run
 * against the state store); this file reads the input and writes the
 * answer.
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
	"usage: aalgate recover check -p POLICY [--format json|text] "
	"EVIDENCE.json\n"
	"       aalgate recover check -p POLICY --state DB "
	"[--decision-log FILE]\n"
	"                             [--format json|text] EVIDENCE.json\n"
	"\n"
	"Check account recovery evidence against the account's own level\n"
	"(NIST SP 800-63B-4 §4.2).  EVIDENCE.json (or - for standard input):\n"
	"\n"
	"  {\"account\": \"alice\",                  required with --state\n"
	"   \"enrolled\": [\"password\", \"totp\"],   the account's methods, or\n"
	"   \"level\": 2,                          its level (0..3)\n"
	"   \"ial\": 2,                            how it was proofed (0..3)\n"
	"   \"notify\": [{\"channel\": \"email\", \"address\": \"a@example.org\"}],\n"
	"                                       without --state only\n"
	"   \"now\": \"2025-06-01T12:00:00Z\",      default: the current time\n"
	"   \"used_codes\": [\"s1\"],               code ids already spent\n"
	"   \"evidence\": [\n"
	"     {\"kind\": \"saved_code\", \"code_id\": \"s2\"},\n"
	"     {\"kind\": \"issued_code\", \"channel\": \"email\",\n"
	"      \"issued_at\": \"2025-06-01T11:00:00Z\",\n"
	"      \"sent_to\": \"a@example.org\"},\n"
	"     {\"kind\": \"recovery_contact\", \"channel\": \"sms\", "
	"\"issued_at\": ...},\n"
	"     {\"kind\": \"authenticator\", \"method\": \"password\"},\n"
	"     {\"kind\": \"reproofing\", \"ial\": 3, \"proofing\": "
	"\"onsite_attended\",\n"
	"      \"biometric\": true}]}\n"
	"\n"
	"Channels: email (24h), sms and voice (10m), postal (21 days),\n"
	"postal_outside_contiguous_us (30 days); a recovery_contact code gets\n"
	"24 hours more.  Proofing: remote_unattended, remote_attended,\n"
	"onsite_unattended, onsite_attended.  KBA is never evidence.\n"
	"\n"
	"With --state the account's own level is that of its enrolments in\n"
	"the store (\"level\" and \"enrolled\" may only raise it), only those\n"
	"count as bound authenticators, and codes the store has spent are\n"
	"refused, as is an issued code whose \"sent_to\" is not an address\n"
	"of record of its kind (SP 800-63B-4 §4.2.1.2), or that has none\n"
	"when the policy sets recovery.require_sent_to.  An accepted\n"
	"recovery spends its codes before it counts (of two recoveries with\n"
	"one code, one passes) and journals \"recovery\" with the obligation\n"
	"to notify the account's addresses of record ('aalgate enroll\n"
	"address'); a refused one journals \"recovery_refused\".  The\n"
	"request's \"notify\" is not used: an address there that is not on\n"
	"record is left out, with a warning, and an account with no address\n"
	"of record is refused.  \"account\" is required and \"now\" refused.\n"
	"\n"
	"'aalgate serve' answers the same request, with the same answer, on\n"
	"POST /v1/recovery (against its --state when given).  As it spends\n"
	"codes and sends notifications, only peers in the policy's\n"
	"trusted_proxies may call it (the recovery front end); any other,\n"
	"loopback included, is refused with 403.\n"
	"\n"
	"  -p, --policy FILE        the policy (required)\n"
	"  -s, --state DB           the state store\n"
	"  -d, --decision-log FILE  where the journal goes (default\n"
	"                           aalgate-decisions.jsonl beside the state)\n"
	"  -f, --format FORMAT      json (default) or text\n"
	"  -h, --help               this text\n"
	"\n"
	"Exit status: 0 accepted, 1 refused, 2 bad input or usage.\n";

static const char *rule_text(enum ag_recovery_rule r)
{
	switch (r) {
	case AG_RULE_AAL1:
		return "a saved or issued recovery code, or a recovery contact "
		       "(SP 800-63B-4 §4.2.2.1)";
	case AG_RULE_AAL2:
		return "two codes obtained by different methods, a code and a "
		       "bound single-factor authenticator, or repeated "
		       "identity proofing (SP 800-63B-4 §4.2.2.2)";
	case AG_RULE_AAL3_AS_AAL2:
		return "not proofed at IAL3, so as at AAL2 (SP 800-63B-4 "
		       "§4.2.2.3)";
	case AG_RULE_AAL3_IAL3:
		return "repeated identity proofing, onsite and attended, with "
		       "a biometric comparison (SP 800-63B-4 §4.2.2.3)";
	}
	return "";
}

static void text_body(const struct ag_recovery_request *r,
		      const struct ag_recovery_result *res)
{
	if (res->accepted)
		printf("recovery:  accepted (%s)\n",
		       ag_recovery_basis_name(res->basis));
	else
		printf("recovery:  refused\n");
	printf("account:   %s%sAAL%d, ", r->account ? r->account : "",
	       r->account ? ", " : "", res->account_aal);
	if (res->account_ial == AG_IAL_UNKNOWN)
		printf("IAL not known\n");
	else if (res->account_ial == 0)
		printf("not identity proofed\n");
	else
		printf("proofed at IAL%d\n", res->account_ial);
	printf("rule:      %s: %s\n", ag_recovery_rule_name(res->rule),
	       rule_text(res->rule));
	if (res->n_status)
		printf("evidence:\n");
	for (size_t i = 0; i < res->n_status; i++) {
		const struct ag_recovery_evidence *e = &r->evidence[i];
		printf("  [%zu] %s", i, ag_recovery_kind_name(e->kind));
		if (e->channel)
			printf(" by %s", ag_recovery_channel_name(e->channel));
		if (e->code_id)
			printf(" '%s'", e->code_id);
		if (e->method)
			printf(" '%s'", e->method);
		if (e->kind == AG_RECOVERY_REPROOFING)
			printf(" IAL%d %s%s", e->ial,
			       ag_proofing_name(e->proofing),
			       e->biometric ? " biometric" : "");
		printf(": %s\n", ag_recovery_reason_name(res->status[i]));
	}
	for (size_t i = 0; i < res->n_notes; i++) {
		const struct ag_recovery_note *n = &res->notes[i];
		if (!n->refusal)
			continue;
		if (n->evidence >= 0)
			printf("refused:   [%d] %s: %s\n", n->evidence,
			       ag_recovery_reason_name(n->reason), n->text);
		else
			printf("refused:   %s: %s\n",
			       ag_recovery_reason_name(n->reason), n->text);
	}
	for (size_t i = 0; i < res->n_notes; i++) {
		const struct ag_recovery_note *n = &res->notes[i];
		if (!n->refusal)
			printf("warning:   %s: %s\n",
			       ag_recovery_reason_name(n->reason), n->text);
	}
	if (!res->accepted)
		return;
	printf("notify:   ");
	for (size_t i = 0; i < res->n_notify; i++) {
		const struct ag_recovery_address *a = &res->notify[i];
		printf("%s %s %s", i ? "," : "",
		       ag_recovery_channel_name(a->channel),
		       a->address ? a->address : "(address on file)");
	}
	printf("\n");
	if (res->n_invalidate) {
		printf("spent:    ");
		for (size_t i = 0; i < res->n_invalidate; i++)
			printf("%s '%s'", i ? "," : "",
			       r->evidence[res->invalidate[i]].code_id);
		printf(" (invalidate, SP 800-63B-4 §4.2.1.1)\n");
	}
	if (res->issue_saved_code)
		printf("issue:     a new saved recovery code (SP 800-63B-4 "
		       "§4.2.1.1)\n");
}

/* What the store said and did, in text. */
static void state_text(const struct ag_recovery_request *r,
		       const struct ag_recovery_state *st)
{
	if (!st || !st->stored)
		return;
	printf("state:     own level AAL%d from %zu enrolment%s",
	       st->store_level.aal, st->n_enrolments,
	       st->n_enrolments == 1 ? "" : "s");
	if (st->request_aal != AG_AAL_UNSET)
		printf("; the request's AAL%d %s", st->request_aal,
		       st->request_ignored ? "ignored (it may only raise it)"
					   : "taken");
	printf("\n");
	printf("addresses: %zu of record", st->n_of_record);
	if (st->request_addresses_ignored)
		printf("; %zu of the request's not on record, not told",
		       st->request_addresses_ignored);
	printf("\n");
	if (st->spent) {
		printf("spent now:");
		for (size_t i = 0; i < r->n_evidence; i++)
			if (st->spent & ((uint32_t)1 << i))
				printf(" '%s'", r->evidence[i].code_id);
		printf("\n");
	}
	if (st->journal_seq)
		printf("journal:   row %llu\n",
		       (unsigned long long)st->journal_seq);
}

void ag_cli_recovery_text(const struct ag_recovery_request *r,
			  const struct ag_recovery_result *res,
			  const struct ag_recovery_state *st)
{
	text_body(r, res);
	state_text(r, st);
}

int ag_cli_recovery_exit(ag_code rc, const struct ag_recovery_state *st,
			 const struct ag_error *err)
{
	fprintf(stderr, "%s%s\n", err->msg,
		rc == AG_ERR_NOT_FOUND || (st && st->store_failed)
			? " (refused)"
			: "");
	/* An account the store does not know is a refusal; anything else
	 * is bad input or a store that failed (and refuses too). */
	return rc == AG_ERR_NOT_FOUND ? AG_EXIT_FINDINGS : AG_EXIT_USAGE;
}

static int check(int argc, char **argv)
{
	static const struct option opts[] = {
		{"policy", required_argument, NULL, 'p'},
		{"state", required_argument, NULL, 's'},
		{"decision-log", required_argument, NULL, 'd'},
		{"format", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *policy_path = NULL, *format = "json", *state = NULL;
	const char *log_path = NULL;
	struct ag_policy *p = NULL;
	struct ag_store *st = NULL;
	struct ag_recovery_request req;
	struct ag_recovery_result res;
	struct ag_recovery_state rs;
	struct ag_error err;
	char *body = NULL;
	size_t len = 0;
	int ret = AG_EXIT_USAGE, c;
	bool have_req = false;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":p:s:d:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			policy_path = optarg;
			break;
		case 's':
			state = optarg;
			break;
		case 'd':
			log_path = optarg;
			break;
		case 'f':
			format = optarg;
			if (strcmp(format, "json") && strcmp(format, "text"))
				return ag_cli_die("recover check", "unknown "
					"format '%s'; use json or text", format);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return AG_EXIT_OK;
		case ':':
			return ag_cli_die("recover check", "option '%s' needs "
					  "a value", argv[optind - 1]);
		default:
			return ag_cli_die("recover check", "unknown option "
				"'%s'; see 'aalgate recover --help'",
				argv[optind - 1]);
		}
	}
	if (!policy_path)
		return ag_cli_die("recover check", "a policy is required "
				  "(-p FILE)");
	if (optind != argc - 1)
		return ag_cli_die("recover check", "give one EVIDENCE.json "
				  "(or -)");
	if (log_path && !state)
		return ag_cli_die("recover check", "--decision-log goes with "
				  "--state");
	const char *path = argv[optind];
	const char *name = strcmp(path, "-") ? path : "<stdin>";

	ag_error_init(&err);
	if (ag_policy_load(policy_path, &p, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		goto out;
	}
	if (ag_cli_read_input("recover check", path, AG_RECOVERY_REQUEST_MAX,
			      &body, &len))
		goto out;
	ag_code rc = state ? ag_recovery_request_parse_stored(name, body, len,
							      &req, &err)
			   : ag_recovery_request_parse(name, body, len, &req,
						       &err);
	if (rc) {
		fprintf(stderr, "%s\n", err.msg);
		goto out;
	}
	have_req = true;
	if (state && ag_store_open(state, NULL, &st, &err)) {
		fprintf(stderr, "aalgate recover check: %s\n", err.msg);
		goto out;
	}
	int64_t now = req.has_now ? req.now : (int64_t)time(NULL);
	rc = ag_recovery_run(st, p, &req, name, AG_RECOVERY_VIA_CLI, now, &res,
			     &rs, &err);
	/* The outcome's row goes to the decision log whatever happened. */
	if (st)
		ag_cli_journal_to_log("recover check", state, log_path, st);
	if (rc != AG_OK) {
		ret = ag_cli_recovery_exit(rc, &rs, &err);
		goto out;
	}
	if (!strcmp(format, "text")) {
		ag_cli_recovery_text(&req, &res, &rs);
	} else {
		char *txt = ag_recovery_answer(&req, &res, &rs, now);
		if (!txt) {
			ag_cli_die("recover check", "out of memory");
			goto out;
		}
		fputs(txt, stdout);
		free(txt);
	}
	ret = res.accepted ? AG_EXIT_OK : AG_EXIT_FINDINGS;
out:
	if (have_req)
		ag_recovery_request_release(&req);
	ag_store_close(st);
	free(body);
	ag_policy_free(p);
	return ret;
}

int cmd_recover(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? AG_EXIT_USAGE : AG_EXIT_OK;
	}
	if (strcmp(argv[1], "check"))
		return ag_cli_die("recover", "unknown subcommand '%s' (check); "
				  "see 'aalgate recover --help'", argv[1]);
	return check(argc - 1, argv + 1);
}
