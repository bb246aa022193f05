/*
 * decide: time in-process decisions with the signature already verified
 * (the goal in docs/BENCHMARKS.md: at most 1 µs median per decision).
 *
 *   decide [-n PER_BATCH] [-b BATCHES]
 *
 * It loads a policy of five workflows, seven routes and an acr table,
 * builds the gate's per-policy data and a session table, fills claims by
 * hand as the verifier would after checking a signature, and then calls
 * ag_gate_decide over requests that are routed by their URI, host and
 * method.  Each scenario runs BATCHES batches of PER_BATCH calls, and the
 * result is the median (and the best and worst batch) of nanoseconds per
 * decision.  Every answer is checked: a scenario that decides otherwise
 * than expected stops the run.
 *
 * Built and run by bench/decide against the Release library in
 * build-bench/.
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aalgate/aalgate.h"
#include "aalgate/gate.h"

static const char policy_yaml[] =
	"profile: sp800-63b-4\n"
	"workflows:\n"
	"  admin:    { aal: 3, phishing_resistant: true, device: managed,\n"
	"              max_age: 12h, idle: 15m,\n"
	"              jit: { max: 1h, approvers: \"group:admins\", "
	"approvals: 1 } }\n"
	"  payroll:  { aal: 2, phishing_resistant: true }\n"
	"  staff:    { aal: 2 }\n"
	"  internal: { aal: 2, networks: [10.20.0.0/16, 192.168.0.0/16, "
	"\"fd00::/8\"] }\n"
	"  public:   { aal: 1 }\n"
	"acr:\n"
	"  \"http://idmanagement.gov/ns/assurance/aal/2\": { aal: 2 }\n"
	"  \"http://idmanagement.gov/ns/assurance/aal/2?phishing_resistant="
	"true\": { aal: 2, phishing_resistant: true }\n"
	"  \"http://idmanagement.gov/ns/assurance/aal/3\": { aal: 3, "
	"phishing_resistant: true, hardware: true }\n"
	"  phr:  { aal: 2, phishing_resistant: true }\n"
	"  phrh: { aal: 3, phishing_resistant: true, hardware: true }\n"
	"trusted_proxies: [127.0.0.1/32]\n"
	"device_header: X-Device-Posture\n"
	"routes:\n"
	"  - { host: admin.example.com, workflow: admin }\n"
	"  - { path_prefix: /admin/, workflow: admin }\n"
	"  - { path_prefix: /payroll/, workflow: payroll }\n"
	"  - { path_prefix: /internal/, workflow: internal }\n"
	"  - { path_prefix: /deploy, method: POST, workflow: staff }\n"
	"  - { path_prefix: /public/, workflow: public }\n"
	"  - { path_prefix: /reports/, method: GET, workflow: staff }\n"
	"default_workflow: staff\n";

#define NOW INT64_C(1750000000)

struct scenario {
	const char *name;
	struct ag_request req;
	struct ag_claims claims;
	enum ag_outcome expect;
	int expect_status;
};

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d) {
		fputs("decide: out of memory\n", stderr);
		exit(1);
	}
	return d;
}

static char **xlist(const char *const *v, size_t n)
{
	char **l = calloc(n, sizeof(*l));
	if (!l) {
		fputs("decide: out of memory\n", stderr);
		exit(1);
	}
	for (size_t i = 0; i < n; i++)
		l[i] = xstrdup(v[i]);
	return l;
}

/* Claims as the verifier leaves them after a good signature. */
static void claims(struct ag_claims *c, const char *sub, const char *sid,
		   const char *acr, const char *const *amr, size_t n_amr,
		   int64_t auth_age)
{
	static const char *const aud[] = {"portal"};

	ag_claims_init(c);
	c->iss = xstrdup("https://idp.example.com");
	c->sub = xstrdup(sub);
	c->sid = sid ? xstrdup(sid) : NULL;
	c->jti = xstrdup("0b6f2c1e-4d1a-4c55-9a59-4f1b8e2a7d10");
	c->kid = xstrdup("k1");
	c->alg = xstrdup("ES256");
	c->acr = acr ? xstrdup(acr) : NULL;
	c->aud = xlist(aud, 1);
	c->n_aud = 1;
	if (n_amr) {
		c->amr = xlist(amr, n_amr);
		c->n_amr = n_amr;
	}
	c->iat = NOW - 60;
	c->exp = NOW + 600;
	c->auth_time = NOW - auth_age;
	c->has_iat = c->has_exp = c->has_auth_time = true;
}

static bool grant_active(void *ctx, const char *iss, const char *sub,
			 const char *workflow,
			 int64_t now)
{
	(void)ctx;
	(void)iss;
	(void)now;
	return !strcmp(sub, "carol") && !strcmp(workflow, "admin");
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static volatile unsigned sink;

/* Runs batches of per_batch decisions over scenarios s[0..n), round
 * robin; writes ns per decision of each batch into out. */
static int run(const struct ag_gate *g, const struct ag_gate_hooks *hooks,
	       struct ag_sessions *sess, struct scenario *s, size_t n,
	       unsigned per_batch, unsigned batches, double *out)
{
	struct ag_decision d;

	for (unsigned b = 0; b <= batches; b++) { /* batch 0 warms up */
		unsigned acc = 0;
		size_t k = 0;
		double t0 = now_ns();
		for (unsigned i = 0; i < per_batch; i++) {
			ag_gate_decide(g, hooks, sess, &s[k].req, &s[k].claims,
				       AG_TOK_OK, &d);
			acc += (unsigned)d.outcome + (unsigned)d.status;
			if (++k == n)
				k = 0;
		}
		double t1 = now_ns();
		sink += acc;
		if (b > 0)
			out[b - 1] = (t1 - t0) / per_batch;
	}
	/* Check every answer once more, outside the timing. */
	for (size_t i = 0; i < n; i++) {
		ag_gate_decide(g, hooks, sess, &s[i].req, &s[i].claims,
			       AG_TOK_OK, &d);
		if (d.outcome != s[i].expect || d.status != s[i].expect_status) {
			fprintf(stderr,
				"decide: scenario %s: %s %d (%s), expected "
				"%s %d\n",
				s[i].name, ag_outcome_name(d.outcome), d.status,
				d.detail, ag_outcome_name(s[i].expect),
				s[i].expect_status);
			return -1;
		}
	}
	return 0;
}

static void report(const char *name, double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	printf("%-22s %9.1f %9.1f %9.1f %12.0f\n", name, med, v[0], v[n - 1],
	       med > 0 ? 1e9 / med : 0);
}

static int usage(void)
{
	fputs("usage: decide [-n PER_BATCH] [-b BATCHES]\n", stderr);
	return 2;
}

int main(int argc, char **argv)
{
	unsigned per_batch = 200000, batches = 15;
	struct ag_policy *p = NULL;
	struct ag_gate *g = NULL;
	struct ag_sessions *sess = NULL;
	struct ag_error err;
	int ret = 1;

	for (int i = 1; i < argc; i += 2) {
		char *end;
		unsigned long v;
		if (i + 1 >= argc)
			return usage();
		v = strtoul(argv[i + 1], &end, 10);
		if (*end || v == 0 || v > 100000000ul)
			return usage();
		if (!strcmp(argv[i], "-n"))
			per_batch = (unsigned)v;
		else if (!strcmp(argv[i], "-b"))
			batches = (unsigned)v;
		else
			return usage();
	}

	ag_error_init(&err);
	if (ag_policy_load_buffer("bench-policy.yaml", policy_yaml,
				  sizeof(policy_yaml) - 1, &p, &err) != AG_OK ||
	    ag_gate_new(p, &g, &err) != AG_OK) {
		fprintf(stderr, "decide: %s\n", err.msg);
		goto out;
	}
	if (!(sess = ag_sessions_new(256u * 1024u))) {
		fputs("decide: out of memory\n", stderr);
		goto out;
	}
	struct ag_gate_hooks hooks = {.grant_active = grant_active};

	static const char *const pwd_otp[] = {"pwd", "otp"};
	static const char *const hwk_pin[] = {"hwk", "pin"};
	static const char *const pwd[] = {"pwd"};
	struct scenario s[] = {
		{.name = "staff (amr, default)",
		 .req = {.method = "GET", .host = "portal.example.com",
			 .uri = "/docs/2025/q3/report.pdf?download=1",
			 .ip = "198.51.100.7", .now = NOW},
		 .expect = AG_ALLOW, .expect_status = 200},
		{.name = "payroll (acr)",
		 .req = {.method = "POST", .host = "portal.example.com",
			 .uri = "/payroll/runs/2025-06/approve",
			 .ip = "198.51.100.8", .now = NOW},
		 .expect = AG_ALLOW, .expect_status = 200},
		{.name = "admin (host, jit)",
		 .req = {.method = "GET", .host = "admin.example.com:443",
			 .uri = "/users/42/roles", .ip = "198.51.100.9",
			 .device = "managed", .now = NOW},
		 .expect = AG_ALLOW, .expect_status = 200},
		{.name = "internal (network)",
		 .req = {.method = "GET", .host = "portal.example.com",
			 .uri = "/internal/wiki/On%20call", .ip = "10.20.3.4",
			 .now = NOW},
		 .expect = AG_ALLOW, .expect_status = 200},
		{.name = "staff step-up (amr)",
		 .req = {.method = "GET", .host = "portal.example.com",
			 .uri = "/reports/weekly", .ip = "198.51.100.10",
			 .now = NOW},
		 .expect = AG_STEP_UP, .expect_status = 401},
	};
	size_t n = sizeof(s) / sizeof(s[0]);
	claims(&s[0].claims, "alice", "sid-alice", NULL, pwd_otp, 2, 600);
	claims(&s[1].claims, "bob", "sid-bob", "phr", NULL, 0, 600);
	claims(&s[2].claims, "carol", "sid-carol",
	       "http://idmanagement.gov/ns/assurance/aal/3", NULL, 0, 300);
	claims(&s[3].claims, "dave", NULL, NULL, hwk_pin, 2, 900);
	claims(&s[4].claims, "erin", "sid-erin", NULL, pwd, 1, 60);

	double *v = calloc(batches, sizeof(*v));
	if (!v) {
		fputs("decide: out of memory\n", stderr);
		goto release;
	}
	printf("policy: %zu workflows, %zu routes, %zu acr values; "
	       "%u batches of %u decisions\n\n",
	       p->n_workflows, p->n_routes, p->n_acr, batches, per_batch);
	printf("%-22s %9s %9s %9s %12s\n", "scenario", "median ns", "best ns",
	       "worst ns", "decisions/s");
	double mix_median = 0;
	for (size_t i = 0; i <= n; i++) {
		/* i == n is the mix of every scenario, round robin. */
		struct scenario *from = i < n ? &s[i] : s;
		size_t count = i < n ? 1 : n;
		if (run(g, &hooks, sess, from, count, per_batch, batches, v))
			goto release_v;
		if (i == n) {
			qsort(v, batches, sizeof(*v), cmp_double);
			mix_median = batches % 2 ? v[batches / 2]
						 : (v[batches / 2 - 1] +
						    v[batches / 2]) / 2;
		}
		report(i < n ? s[i].name : "mix of all five", v, batches);
	}
	printf("\ngoal (median <= 1000 ns per decision, mix): %s (%.1f ns)\n",
	       mix_median <= 1000 ? "met" : "NOT met", mix_median);
	ret = 0;
release_v:
	free(v);
release:
	for (size_t i = 0; i < n; i++)
		ag_claims_release(&s[i].claims);
out:
	ag_sessions_free(sess);
	ag_gate_free(g);
	ag_policy_free(p);
	return ret;
}
