/*
 * libFuzzer target: the decision API's request parser (POST /v1/decide and
 * `aalgate decide`), the client certificate a proxy passes (ag_cert_x5t),
 * then the decision itself on what it parsed (machine clients judged
 * against a one-record inventory), the answer's JSON and the decision
 * log's fields, against a fixed policy.
 *
 * Oracles: a parse either fails with a message or yields a request; a
 * certificate either gives a 43-character thumbprint or a reason; a
 * decision is allow only with a 200, and the answer and the log fields are
 * one line of valid JSON.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aalgate/gate.h"
#include "aalgate/nhi.h"
#include "gate/api.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy_yaml[] =
	"workflows:\n"
	"  admin: { aal: 3, phishing_resistant: true, device: managed,\n"
	"           max_age: 12h, idle: 15m,\n"
	"           jit: { max: 1h, approvers: \"group:admins\", approvals: 1 } }\n"
	"  payroll: { aal: 2, phishing_resistant: true }\n"
	"  staff: { aal: 2 }\n"
	"  recovery: { aal: match_account }\n"
	"  ci: { machine: true, max_token_lifetime: 1h, credentials: [mtls],\n"
	"        networks: [10.0.0.0/8, \"fd00::/8\"], scopes: [deploy] }\n"
	"acr:\n"
	"  phr: { aal: 2, phishing_resistant: true }\n"
	"  phrh: { aal: 3, phishing_resistant: true, hardware: true }\n"
	"device_claim: dev\n"
	"routes:\n"
	"  - { host: admin.example.com, workflow: admin }\n"
	"  - { path_prefix: /payroll/, workflow: payroll }\n"
	"  - { path_prefix: /recover, workflow: recovery }\n"
	"  - { path_prefix: /deploy, method: POST, workflow: ci }\n"
	"default_workflow: staff\n";

static struct ag_policy *policy;
static struct ag_gate *gate;
static struct ag_sessions *sessions;
static struct ag_nhi_inventory inv;

/* The machine client "ci": mtls, bound to the certificate of the seed
 * machine-mtls. */
static bool client_hook(void *ctx, const char *iss, const char *client,
			int64_t now, struct ag_gate_client *out, char *why,
			size_t why_len)
{
	(void)ctx;
	return ag_gate_nhi_client(policy, &inv, NULL, iss, client, now, out,
				  why, why_len);
}

static const struct ag_gate_hooks hooks = {.client = client_hook};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct ag_error err;
	(void)argc;
	(void)argv;
	ag_error_init(&err);
	if (ag_policy_load_buffer("policy.yaml", policy_yaml,
				  strlen(policy_yaml), &policy, &err) ||
	    ag_gate_new(policy, &gate, &err)) {
		fprintf(stderr, "fuzz_decide: %s\n", err.msg);
		abort();
	}
	sessions = ag_sessions_new(1024);
	if (!sessions)
		abort();
	struct ag_nhi rec = {
		.id = (char *)"ci",
		.kind = (char *)"mtls",
		.owner = (char *)"ops",
		.owner_status = AG_OWNER_ACTIVE,
		.owner_status_given = true,
		.thumbprint = (char *)"B3O2OQDdJzMBqPKAK7-EPb9mcgqEmn9DvFieOhegaRs",
	};
	if (ag_nhi_inventory_init(&inv) || ag_nhi_add(&inv, &rec, &err) ||
	    ag_nhi_resolve(&inv, policy, &err)) {
		fprintf(stderr, "fuzz_decide: %s\n", err.msg);
		abort();
	}
	return 0;
}

static void check_json_line(const struct ag_buf *b, bool object_inside)
{
	if (b->failed)
		return;
	if (memchr(b->data, '\n', b->len) &&
	    memchr(b->data, '\n', b->len) != b->data + b->len - 1)
		abort(); /* one line only */
	json_error_t je;
	json_t *j;
	if (object_inside) {
		char *s = malloc(b->len + 3);
		if (!s)
			return;
		s[0] = '{';
		memcpy(s + 1, b->data, b->len);
		s[b->len + 1] = '}';
		s[b->len + 2] = '\0';
		j = json_loads(s, JSON_REJECT_DUPLICATES, &je);
		free(s);
	} else {
		j = json_loadb(b->data, b->len, JSON_REJECT_DUPLICATES, &je);
	}
	if (!j)
		abort();
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ag_api_request ar;
	char err[300];

	if (ag_api_request_parse((const char *)data, size, true, "dev", &ar,
				 err, sizeof(err)) != AG_OK) {
		if (!err[0])
			abort();
		return 0;
	}
	struct ag_request req = {.workflow = ar.workflow,
				 .method = ar.method,
				 .host = ar.host,
				 .uri = ar.uri,
				 .ip = ar.ip,
				 .device = ar.device,
				 .now = ar.has_now ? ar.now : 1800000000};
	char x5t[64], why[160];
	if (ar.client_cert) {
		if (ag_cert_x5t(ar.client_cert, x5t, sizeof(x5t), why,
				sizeof(why))) {
			if (strlen(x5t) != 43)
				abort();
			req.client_cert_x5t = x5t;
		} else {
			if (!why[0])
				abort();
			req.client_cert_problem = why;
		}
	}
	struct ag_decision d;
	ag_gate_decide(gate, &hooks, sessions, &req,
		       ar.has_claims ? &ar.claims : NULL,
		       ar.token ? AG_TOK_MALFORMED : AG_TOK_OK, &d);
	if ((d.outcome == AG_ALLOW) != (d.status == 200))
		abort();
	if (d.outcome == AG_ALLOW && !ar.has_claims)
		abort();

	struct ag_buf out;
	ag_buf_init(&out, 1u << 20);
	ag_decision_json(policy, &d, ar.has_claims ? &ar.claims : NULL, "id",
			 &out);
	check_json_line(&out, false);
	ag_buf_release(&out);

	struct ag_log_ctx lc = {.decision_id = "id",
				.time_ms = 1800000000000,
				.ip = ar.ip,
				.method = ar.method,
				.host = ar.host,
				.path = ar.uri};
	ag_buf_init(&out, 1u << 20);
	ag_decision_log_fields(policy, &d, ar.has_claims ? &ar.claims : NULL,
			       &lc, &out);
	check_json_line(&out, true);
	ag_buf_release(&out);
	ag_api_request_release(&ar);
	return 0;
}
