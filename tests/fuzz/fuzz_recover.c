/*
 * libFuzzer target: the account recovery request parser (`aalgate recover
 * check`, later POST /v1/recovery), then the resolution of its method
 * names and the recovery check on what it parsed, against a fixed policy.
 *
 * Oracles: a parse either fails with a message or yields a request whose
 * values the check accepts as arguments (AG_OK); an accepted recovery has
 * no refusal, every evidence status ok, a basis, at least one address to
 * notify and only valid indexes in its obligations.
 *
 * The same input also goes to the parser of address files (`aalgate
 * enroll address --import`): it fails with a message and no rows, or
 * yields rows sorted by account whose channels are known and whose
 * addresses are 1..AG_RECOVERY_ADDRESS_MAX bytes without a C0 control.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aalgate/govern.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy_yaml[] =
	"workflows:\n"
	"  staff: { aal: 2 }\n"
	"  recovery: { aal: match_account }\n"
	"methods:\n"
	"  helpdesk_video_id: { factor: have, alone: 1 }\n"
	"  badge_question: { factor: have, alone: 1, prohibited: true }\n";

static struct ag_policy *policy;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct ag_error err;
	(void)argc;
	(void)argv;
	ag_error_init(&err);
	if (ag_policy_load_buffer("policy.yaml", policy_yaml,
				  strlen(policy_yaml), &policy, &err)) {
		fprintf(stderr, "fuzz_recover: %s\n", err.msg);
		abort();
	}
	return 0;
}

static void address_file(const uint8_t *data, size_t size)
{
	struct ag_address_file f;
	struct ag_error err;

	ag_error_init(&err);
	if (ag_address_file_parse("fuzz.csv", (const char *)data, size, &f,
				  &err) != AG_OK) {
		if (!err.msg[0] || f.v || f.n)
			abort();
		return;
	}
	for (size_t i = 0; i < f.n; i++) {
		const struct ag_address_row *r = &f.v[i];
		size_t n = strlen(r->a.address);
		if (!r->account[0] || n == 0 || n > AG_RECOVERY_ADDRESS_MAX ||
		    r->a.channel <= AG_CHANNEL_NONE ||
		    r->a.channel >= AG_CHANNEL_COUNT)
			abort();
		for (size_t k = 0; k < n; k++)
			if ((unsigned char)r->a.address[k] < 0x20)
				abort();
		if (i && strcmp(f.v[i - 1].account, r->account) > 0)
			abort();
	}
	ag_address_file_release(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	address_file(data, size);

	struct ag_recovery_request req;
	struct ag_recovery_account acct;
	struct ag_recovery_result res;
	struct ag_error err;
	uint16_t idx[AG_RECOVERY_ENROLLED_MAX];

	ag_error_init(&err);
	if (ag_recovery_request_parse("fuzz.json", (const char *)data, size,
				      &req, &err) != AG_OK) {
		if (!err.msg[0] || req.evidence || req.n_evidence)
			abort();
		return 0;
	}
	if (ag_recovery_request_account(policy, &req, "fuzz.json", idx,
					AG_RECOVERY_ENROLLED_MAX, &acct,
					&err) != AG_OK) {
		if (!err.msg[0])
			abort();
		ag_recovery_request_release(&req);
		return 0;
	}
	int64_t now = req.has_now ? req.now : 1800000000;
	/* Half the inputs take the request's addresses as the account's
	 * addresses of record, so that sent_to is compared (§4.2.1.2). */
	acct.of_record = size && (data[size - 1] & 1);
	if (ag_recovery_check(policy, &acct, req.evidence, req.n_evidence,
			      (const char *const *)req.used, req.n_used, now,
			      &res) != AG_OK)
		abort(); /* the parser let through what the check refuses */
	if (res.n_status != req.n_evidence || res.held_to < 1 ||
	    res.held_to > 3 || res.held_to < res.account_aal)
		abort();
	if (res.accepted) {
		if (res.basis == AG_BASIS_NONE || res.n_notify == 0)
			abort();
		for (size_t i = 0; i < res.n_notes; i++)
			if (res.notes[i].refusal)
				abort();
		for (size_t i = 0; i < res.n_status; i++)
			if (res.status[i] != AG_RR_OK)
				abort();
		/* With addresses of record, an accepted issued code that
		 * says where it went went to one of them. */
		for (size_t i = 0; acct.of_record && i < req.n_evidence; i++) {
			const struct ag_recovery_evidence *e = &req.evidence[i];
			bool ok = false;
			if (e->kind != AG_RECOVERY_ISSUED_CODE || !e->sent_to)
				continue;
			for (size_t k = 0; k < acct.n_notify && !ok; k++)
				ok = acct.notify[k].address &&
				     ag_recovery_reaches(e->channel, e->sent_to,
							 &acct.notify[k]);
			if (!ok)
				abort();
		}
		/* Only the account's own addresses are told. */
		for (size_t i = 0; i < res.n_notify; i++) {
			bool own = false;
			for (size_t k = 0; k < acct.n_notify; k++)
				if (res.notify[i].address ==
					    acct.notify[k].address &&
				    res.notify[i].channel ==
					    acct.notify[k].channel)
					own = true;
			if (!own)
				abort();
		}
		for (size_t i = 0; i < res.n_invalidate; i++)
			if (res.invalidate[i] >= req.n_evidence ||
			    !req.evidence[res.invalidate[i]].code_id)
				abort();
		/* AAL3 proofed at IAL3, or not known: only onsite biometric
		 * re-proofing recovers it. */
		if (res.rule == AG_RULE_AAL3_IAL3 &&
		    res.basis != AG_BASIS_ONSITE_BIOMETRIC)
			abort();
		for (size_t i = 0; i < req.n_evidence; i++)
			if (req.evidence[i].kind == AG_RECOVERY_KBA)
				abort();
	} else if (res.basis != AG_BASIS_NONE || res.n_notify ||
		   res.n_invalidate || res.issue_saved_code) {
		abort();
	}
	for (size_t i = 0; i < res.n_notes; i++)
		if (!memchr(res.notes[i].text, '\0', sizeof(res.notes[i].text)))
			abort();
	ag_recovery_request_release(&req);
	return 0;
}
