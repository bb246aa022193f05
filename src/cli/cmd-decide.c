/*
 * aalgate decide -p POLICY [--inventory FILE]... [--format json|text]
 *                REQUEST.json
 *
 * The gate's decision for one request, offline: the same verifier and the
 * same decision code as `aalgate serve`, without the HTTP service, the
 * session table or the decision log.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aalgate/gate.h"
#include "aalgate/nhi.h"
#include "cli.h"
#include "gate/api.h"
#include "gate/dpop.h"
#include "util.h"
#include "banned.h"

static const char usage_text[] =
	"usage: aalgate decide -p POLICY [--inventory FILE]...\n"
	"                      [--format json|text] REQUEST.json\n"
	"\n"
	"Decide one request as the gate would, offline: a \"what if\" tool\n"
	"for policy authors.  REQUEST.json (or - for standard input) is the\n"
	"body of POST /v1/decide:\n"
	"\n"
	"  {\"workflow\": \"admin\"} or\n"
	"  {\"request\": {\"method\": \"GET\", \"host\": \"h\", \"uri\": \"/p\"}}\n"
	"\n"
	"plus \"token\" (a JWT, verified against the policy's issuers) or\n"
	"\"claims\" (a JSON object taken as already verified), and optionally\n"
	"\"device\", \"ip\" and \"now\" (epoch seconds; default the current time).\n"
	"A certificate-bound token (cnf x5t#S256) needs \"client_cert\": the\n"
	"TLS client certificate (PEM, or URL-escaped PEM as nginx passes it).\n"
	"A DPoP-bound token (cnf jkt) needs \"dpop\": its proof for the request,\n"
	"whose \"scheme\" (default https) goes beside method, host and uri.\n"
	"\n"
	"  -p, --policy FILE    the policy (required)\n"
	"  -i, --inventory FILE machine identities (repeatable; see 'aalgate\n"
	"                       nhi'); without one, machine workflows deny\n"
	"  -f, --format FORMAT  json (default) or text\n"
	"  -h, --help           this text\n"
	"\n"
	"Exit status: 0 allow, 1 step-up or deny, 2 bad input or usage.\n";

/* Text from a token or a claims file goes to a terminal: no control
 * characters. */
static const char *printable(const char *s, char *buf, size_t len)
{
	size_t o = 0;
	for (; s && *s && o + 1 < len; s++)
		buf[o++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
	buf[o] = '\0';
	return buf;
}

static void text(const struct ag_policy *p, const struct ag_decision *d,
		 const struct ag_claims *c)
{
	char b1[512];
	const char *wf = d->workflow >= 0 ? p->workflows[d->workflow].name
					  : "(none)";
	printf("decision:  %s (%d)\n", ag_outcome_name(d->outcome), d->status);
	printf("workflow:  %s\n", wf);
	if (c)
		printf("subject:   %s\n",
		       c->sub ? printable(c->sub, b1, sizeof(b1)) : "(none)");
	if (d->workflow >= 0)
		printf("required:  AAL%d%s%s, device %s\n", d->required.aal,
		       d->required.phishing_resistant ? ", phishing-resistant"
						      : "",
		       d->required.hardware ? ", hardware" : "",
		       ag_device_name(d->device_required));
	if (c)
		printf("observed:  AAL%d%s%s, device %s\n", d->observed.aal,
		       d->observed.phishing_resistant ? ", phishing-resistant"
						      : "",
		       d->observed.hardware ? ", hardware" : "",
		       ag_device_name(d->device_observed));
	if (d->n_reasons) {
		printf("reasons:  ");
		for (size_t i = 0; i < d->n_reasons; i++)
			printf(" %s", ag_reason_name(d->reasons[i]));
		putchar('\n');
	}
	if (d->detail[0])
		printf("why:       %s\n", printable(d->detail, b1, sizeof(b1)));
	if (d->www_authenticate[0])
		printf("WWW-Authenticate: %s\n", d->www_authenticate);
}

/* hooks.client: the --inventory files, as the gate's. */
struct decide_ctx {
	const struct ag_policy *p;
	const struct ag_nhi_inventory *inv;
};

static bool client_hook(void *ctx, const char *iss, const char *client,
			int64_t now, struct ag_gate_client *out, char *why,
			size_t why_len)
{
	const struct decide_ctx *dc = ctx;
	return ag_gate_nhi_client(dc->p, dc->inv, NULL, iss, client, now, out,
				  why, why_len);
}

int cmd_decide(int argc, char **argv)
{
	static const struct option opts[] = {
		{"policy", required_argument, NULL, 'p'},
		{"format", required_argument, NULL, 'f'},
		{"inventory", required_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *policy_path = NULL, *format = "json";
	struct ag_policy *p = NULL;
	struct ag_gate *g = NULL;
	struct ag_verifier *v = NULL;
	struct ag_nhi_inventory inv;
	const char *inventory[64];
	size_t n_inventory = 0;
	bool have_inv = false;
	struct ag_api_request ar;
	struct ag_error err;
	char *body = NULL, msg[300];
	size_t len = 0;
	int ret = AG_EXIT_USAGE, c;
	bool have_req = false;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":p:f:i:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			policy_path = optarg;
			break;
		case 'i':
			if (n_inventory >= AG_ARRAY_SIZE(inventory))
				return ag_cli_die("decide", "at most %zu "
					"--inventory files",
					AG_ARRAY_SIZE(inventory));
			inventory[n_inventory++] = optarg;
			break;
		case 'f':
			format = optarg;
			if (strcmp(format, "json") && strcmp(format, "text"))
				return ag_cli_die("decide", "unknown format "
					"'%s'; use json or text", format);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return AG_EXIT_OK;
		case ':':
			return ag_cli_die("decide", "option '%s' needs a value",
					  argv[optind - 1]);
		default:
			return ag_cli_die("decide", "unknown option '%s'; see "
				"'aalgate decide --help'", argv[optind - 1]);
		}
	}
	if (!policy_path)
		return ag_cli_die("decide", "a policy is required (-p FILE)");
	if (optind != argc - 1)
		return ag_cli_die("decide", "give one REQUEST.json (or -)");
	const char *path = argv[optind];

	ag_error_init(&err);
	if (ag_policy_load(policy_path, &p, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		goto out;
	}
	if (!strcmp(path, "-")) {
		struct ag_buf b;
		char chunk[4096];
		size_t n;
		ag_buf_init(&b, AG_API_BODY_MAX);
		while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
			if (ag_buf_add(&b, chunk, n))
				break;
		if (b.failed || ferror(stdin)) {
			ag_buf_release(&b);
			ag_cli_die("decide", "standard input: unreadable or "
				   "over %u bytes", AG_API_BODY_MAX);
			goto out;
		}
		body = b.data ? b.data : ag_strdup("");
		len = b.len;
	} else if (ag_read_file(path, AG_API_BODY_MAX, &body, &len, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		goto out;
	}
	if (ag_api_request_parse(body, len, true, p->device_claim, &ar, msg,
				 sizeof(msg))) {
		fprintf(stderr, "%s: %s\n", path, msg);
		goto out;
	}
	have_req = true;
	if (ag_gate_new(p, &g, &err) ||
	    (ar.token && ag_verifier_new(p, &v, &err))) {
		fprintf(stderr, "%s\n", err.msg);
		goto out;
	}
	if (n_inventory) {
		if (ag_nhi_inventory_init(&inv) != AG_OK) {
			ag_cli_die("decide", "out of memory");
			goto out;
		}
		have_inv = true;
		ag_code lrc = AG_OK;
		for (size_t i = 0; lrc == AG_OK && i < n_inventory; i++)
			lrc = ag_nhi_load(&inv, p, inventory[i], AG_NHI_AUTO,
					  &err);
		if (lrc != AG_OK || ag_nhi_resolve(&inv, p, &err) != AG_OK) {
			fprintf(stderr, "%s\n", err.msg);
			goto out;
		}
	}
	struct decide_ctx dc = {.p = p, .inv = have_inv ? &inv : NULL};
	struct ag_gate_hooks hooks = {.ctx = &dc, .client = client_hook};
	char cert_x5t[64] = "", cert_problem[160] = "";

	struct ag_request req = {.workflow = ar.workflow,
				 .method = ar.method,
				 .host = ar.host,
				 .uri = ar.uri,
				 .ip = ar.ip,
				 .device = ar.device,
				 .now = ar.has_now ? ar.now
						   : (int64_t)time(NULL)};
	if (ar.client_cert) {
		if (ag_cert_x5t(ar.client_cert, cert_x5t, sizeof(cert_x5t),
				cert_problem, sizeof(cert_problem)))
			req.client_cert_x5t = cert_x5t;
		else
			req.client_cert_problem = cert_problem;
	}
	struct ag_claims claims;
	const struct ag_claims *cp = NULL;
	enum ag_token_error te = AG_TOK_OK;
	char why[256] = "";
	ag_claims_init(&claims);
	if (ar.has_claims) {
		cp = &ar.claims;
	} else if (ar.token) {
		te = ag_verifier_check(v, ar.token, strlen(ar.token), req.now,
				       &claims, why, sizeof(why));
		/* A proof is checked as the gate checks it, but a one-off
		 * answer remembers no proofs, so it cannot tell a replay. */
		struct ag_dpop_presented pr = {
			.token = ar.token,
			.dpop_scheme = ar.dpop != NULL,
			.proof = ar.dpop,
			.scheme = ar.scheme ? ar.scheme : "https"};
		enum ag_dpop_outcome dpop_out;
		if (te == AG_TOK_OK)
			te = ag_dpop_present(NULL, p, &claims, &pr, &req,
					     &dpop_out, why, sizeof(why));
		if (te == AG_TOK_OK)
			cp = &claims;
	}
	struct ag_decision d;
	ag_gate_decide(g, have_inv ? &hooks : NULL, NULL, &req, cp, te, &d);
	if (te != AG_TOK_OK && why[0])
		snprintf(d.detail, sizeof(d.detail), "%s", why);
	if (!strcmp(format, "text")) {
		text(p, &d, cp);
	} else {
		struct ag_buf out;
		ag_buf_init(&out, 1u << 20);
		ag_decision_json(p, &d, cp, NULL, &out);
		fwrite(out.data, 1, out.len, stdout);
		ag_buf_release(&out);
	}
	ag_claims_release(&claims);
	ret = d.outcome == AG_ALLOW ? AG_EXIT_OK : AG_EXIT_FINDINGS;
out:
	if (have_req)
		ag_api_request_release(&ar);
	free(body);
	if (have_inv)
		ag_nhi_inventory_release(&inv);
	ag_verifier_free(v);
	ag_gate_free(g);
	ag_policy_free(p);
	return ret;
}
