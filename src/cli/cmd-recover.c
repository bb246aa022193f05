/*
 * aalgate recover check -p POLICY [--format json|text] EVIDENCE.json
 *
 * Holds account recovery to the account's own level (DESIGN §4.2, NIST
 * SP 800-63B-4 §4.2): reads what the account holds and the evidence a
 * claimant showed, and says whether it is enough and what must follow.
 * The rules are the library's (ag_recovery_check); this file reads the
 * input and writes the answer.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aalgate/govern.h"
#include "cli.h"
#include "report/report.h"
#include "util.h"
#include "banned.h"

static const char usage_text[] =
	"usage: aalgate recover check -p POLICY [--format json|text] "
	"EVIDENCE.json\n"
	"\n"
	"Check account recovery evidence against the account's own level\n"
	"(NIST SP 800-63B-4 §4.2).  EVIDENCE.json (or - for standard input):\n"
	"\n"
	"  {\"enrolled\": [\"password\", \"totp\"],   the account's methods, or\n"
	"   \"level\": 2,                          its level (0..3)\n"
	"   \"ial\": 2,                            how it was proofed (0..3)\n"
	"   \"notify\": [{\"channel\": \"email\", \"address\": \"a@example.org\"}],\n"
	"   \"now\": \"2025-06-01T12:00:00Z\",      default: the current time\n"
	"   \"used_codes\": [\"s1\"],               code ids already spent\n"
	"   \"evidence\": [\n"
	"     {\"kind\": \"saved_code\", \"code_id\": \"s2\"},\n"
	"     {\"kind\": \"issued_code\", \"channel\": \"email\",\n"
	"      \"issued_at\": \"2025-06-01T11:00:00Z\"},\n"
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
	"  -p, --policy FILE    the policy (required)\n"
	"  -f, --format FORMAT  json (default) or text\n"
	"  -h, --help           this text\n"
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

static void json_ial(struct ag_jsonw *w, int ial)
{
	if (ial == AG_IAL_UNKNOWN)
		ag_jw_null(w);
	else
		ag_jw_int(w, ial);
}

static void json_out(const struct ag_recovery_request *r,
		     const struct ag_recovery_result *res, int64_t now)
{
	struct ag_jsonw w;

	ag_jw_init(&w, stdout, 2);
	ag_jw_obj(&w);
	ag_jw_key(&w, "accepted");
	ag_jw_bool(&w, res->accepted);
	ag_jw_key(&w, "account");
	ag_jw_str(&w, r->account);
	ag_jw_key(&w, "account_aal");
	ag_jw_int(&w, res->account_aal);
	ag_jw_key(&w, "account_ial");
	json_ial(&w, res->account_ial);
	ag_jw_key(&w, "held_to");
	ag_jw_int(&w, res->held_to);
	ag_jw_key(&w, "rule");
	ag_jw_str(&w, ag_recovery_rule_name(res->rule));
	ag_jw_key(&w, "basis");
	if (res->accepted)
		ag_jw_str(&w, ag_recovery_basis_name(res->basis));
	else
		ag_jw_null(&w);
	ag_jw_key(&w, "now");
	ag_jw_int(&w, (long long)now);

	ag_jw_key(&w, "evidence");
	ag_jw_arr(&w);
	for (size_t i = 0; i < res->n_status; i++) {
		const struct ag_recovery_evidence *e = &r->evidence[i];
		ag_jw_obj(&w);
		ag_jw_key(&w, "kind");
		ag_jw_str(&w, ag_recovery_kind_name(e->kind));
		if (e->channel) {
			ag_jw_key(&w, "channel");
			ag_jw_str(&w, ag_recovery_channel_name(e->channel));
		}
		if (e->code_id) {
			ag_jw_key(&w, "code_id");
			ag_jw_str(&w, e->code_id);
		}
		if (e->method) {
			ag_jw_key(&w, "method");
			ag_jw_str(&w, e->method);
		}
		ag_jw_key(&w, "status");
		ag_jw_str(&w, ag_recovery_reason_name(res->status[i]));
		ag_jw_obj_end(&w);
	}
	ag_jw_arr_end(&w);

	for (int pass = 0; pass < 2; pass++) {
		bool refusals = pass == 0;
		ag_jw_key(&w, refusals ? "refusals" : "warnings");
		ag_jw_arr(&w);
		for (size_t i = 0; i < res->n_notes; i++) {
			const struct ag_recovery_note *n = &res->notes[i];
			if (n->refusal != refusals)
				continue;
			ag_jw_obj(&w);
			ag_jw_key(&w, "reason");
			ag_jw_str(&w, ag_recovery_reason_name(n->reason));
			if (refusals) {
				ag_jw_key(&w, "evidence");
				if (n->evidence >= 0)
					ag_jw_int(&w, n->evidence);
				else
					ag_jw_null(&w);
			}
			ag_jw_key(&w, "text");
			ag_jw_str(&w, n->text);
			ag_jw_obj_end(&w);
		}
		ag_jw_arr_end(&w);
	}

	ag_jw_key(&w, "notify");
	if (res->accepted) {
		ag_jw_obj(&w);
		ag_jw_key(&w, "postal");
		ag_jw_bool(&w, res->notify_postal);
		ag_jw_key(&w, "addresses");
		ag_jw_arr(&w);
		for (size_t i = 0; i < res->n_notify; i++) {
			const struct ag_recovery_address *a =
				&r->notify[res->notify[i]];
			ag_jw_obj(&w);
			ag_jw_key(&w, "channel");
			ag_jw_str(&w, ag_recovery_channel_name(a->channel));
			ag_jw_key(&w, "address");
			ag_jw_str(&w, a->address);
			ag_jw_obj_end(&w);
		}
		ag_jw_arr_end(&w);
		ag_jw_obj_end(&w);
	} else {
		ag_jw_null(&w);
	}
	ag_jw_key(&w, "invalidate_codes");
	ag_jw_arr(&w);
	for (size_t i = 0; i < res->n_invalidate; i++)
		ag_jw_str(&w, r->evidence[res->invalidate[i]].code_id);
	ag_jw_arr_end(&w);
	ag_jw_key(&w, "issue_saved_code");
	ag_jw_bool(&w, res->issue_saved_code);
	ag_jw_obj_end(&w);
	ag_jw_end(&w);
}

static void text_out(const struct ag_recovery_request *r,
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
		const struct ag_recovery_address *a = &r->notify[res->notify[i]];
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

static int check(int argc, char **argv)
{
	static const struct option opts[] = {
		{"policy", required_argument, NULL, 'p'},
		{"format", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *policy_path = NULL, *format = "json";
	struct ag_policy *p = NULL;
	struct ag_recovery_request req;
	struct ag_recovery_account acct;
	struct ag_recovery_result res;
	struct ag_error err;
	uint16_t idx[AG_RECOVERY_ENROLLED_MAX];
	char *body = NULL;
	size_t len = 0;
	int ret = AG_EXIT_USAGE, c;
	bool have_req = false;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":p:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			policy_path = optarg;
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
	const char *path = argv[optind];
	const char *name = strcmp(path, "-") ? path : "<stdin>";

	ag_error_init(&err);
	if (ag_policy_load(policy_path, &p, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		goto out;
	}
	if (!strcmp(path, "-")) {
		struct ag_buf b;
		char chunk[4096];
		size_t n;
		ag_buf_init(&b, AG_RECOVERY_REQUEST_MAX);
		while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
			if (ag_buf_add(&b, chunk, n))
				break;
		if (b.failed || ferror(stdin)) {
			ag_buf_release(&b);
			ag_cli_die("recover check", "standard input: "
				   "unreadable or over %u bytes",
				   AG_RECOVERY_REQUEST_MAX);
			goto out;
		}
		body = b.data ? b.data : ag_strdup("");
		len = b.len;
		if (!body) {
			ag_cli_die("recover check", "out of memory");
			goto out;
		}
	} else if (ag_read_file(path, AG_RECOVERY_REQUEST_MAX, &body, &len,
				&err)) {
		fprintf(stderr, "%s\n", err.msg);
		goto out;
	}
	if (ag_recovery_request_parse(name, body, len, &req, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		goto out;
	}
	have_req = true;
	if (ag_recovery_request_account(p, &req, name, idx,
					AG_ARRAY_SIZE(idx), &acct, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		goto out;
	}
	int64_t now = req.has_now ? req.now : (int64_t)time(NULL);
	ag_code rc = ag_recovery_check(p, &acct, req.evidence, req.n_evidence,
				       (const char *const *)req.used,
				       req.n_used, now, &res);
	if (rc != AG_OK) {
		ag_cli_die("recover check", "%s: %s", name, ag_strerror(rc));
		goto out;
	}
	if (!strcmp(format, "text"))
		text_out(&req, &res);
	else
		json_out(&req, &res, now);
	ret = res.accepted ? AG_EXIT_OK : AG_EXIT_FINDINGS;
out:
	if (have_req)
		ag_recovery_request_release(&req);
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
