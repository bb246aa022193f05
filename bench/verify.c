/*
 * verify: time the gate's token verification per algorithm.
 *
 *   verify -p POLICY [-s SECONDS] NAME=TOKEN_FILE...
 *
 * It builds a verifier for the policy, turns its cache off, and calls
 * ag_verifier_check on each token for SECONDS (default 3) of CPU time
 * after a short warm-up: the whole path of a first sight of a token
 * (base64url, both JSON parts, the key lookup, the signature, the
 * claims) but no cache.
 * Every answer is checked; a token that does not verify stops the run.
 * Last, it times the first token with the cache on, which is what a
 * repeat costs.
 *
 * Output, one line per token, for bench/verify to read:
 *   NAME VERIFIES_PER_SECOND
 * and "cached NAME CHECKS_PER_SECOND".
 *
 * With -D PROOF -T TOKEN -K JKT -U https://HOST/PATH it also times
 * ag_dpop_verify on that DPoP proof (RFC 9449) for a GET of the URL,
 * without a replay set (which would refuse the repeats): the proof's
 * whole check, from base64url to the JWK, its signature and thumbprint,
 * and the claims.  Output: "dpop NAME CHECKS_PER_SECOND".
 *
 * Built and run by bench/verify against the Release library in
 * build-bench/.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aalgate/aalgate.h"
#include "aalgate/gate.h"
#include "gate/dpop.h"

#define BATCH 64

/* CPU time of this thread: openssl speed, without -elapsed, divides by
 * CPU time too, and neither then depends on what else the machine
 * runs. */
static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *read_token(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = malloc(AG_TOKEN_MAX + 2);
	size_t n;

	if (!f || !buf) {
		perror(path);
		exit(1);
	}
	n = fread(buf, 1, AG_TOKEN_MAX + 1, f);
	fclose(f);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Checks tok over and over for secs; returns checks per second. */
static double run(struct ag_verifier *v, const char *name, const char *tok,
		  size_t len, double secs)
{
	int64_t now = (int64_t)time(NULL);
	double start = seconds(), end;
	uint64_t n = 0;
	char detail[256];

	do {
		for (int i = 0; i < BATCH; i++) {
			struct ag_claims c;
			enum ag_token_error e = ag_verifier_check(
				v, tok, len, now, &c, detail, sizeof(detail));
			if (e != AG_TOK_OK) {
				fprintf(stderr, "verify: %s: %s (%s)\n", name,
					ag_token_error_name(e), detail);
				exit(1);
			}
			ag_claims_release(&c);
		}
		n += BATCH;
		end = seconds();
	} while (end - start < secs);
	return (double)n / (end - start);
}

/* Checks the DPoP proof over and over for secs; returns checks per
 * second. */
static double run_dpop(const struct ag_dpop_check *c, double secs)
{
	double start = seconds(), end;
	uint64_t n = 0;
	char detail[256];

	do {
		for (int i = 0; i < BATCH; i++) {
			enum ag_token_error e = ag_dpop_verify(NULL, c, detail,
							       sizeof(detail));
			if (e != AG_TOK_OK) {
				fprintf(stderr, "verify: dpop: %s\n", detail);
				exit(1);
			}
		}
		n += BATCH;
		end = seconds();
	} while (end - start < secs);
	return (double)n / (end - start);
}

static int usage(void)
{
	fputs("usage: verify -p POLICY [-s SECONDS] [-D PROOF -T TOKEN -K JKT "
	      "-U URL] NAME=TOKEN_FILE...\n",
	      stderr);
	return 2;
}

int main(int argc, char **argv)
{
	const char *policy_file = NULL;
	double secs = 3;
	struct ag_policy *p = NULL;
	struct ag_verifier *v = NULL;
	struct ag_error err;
	const char *proof_file = NULL, *token_file = NULL, *jkt = NULL,
		   *url = NULL;
	int opt;

	while ((opt = getopt(argc, argv, "p:s:D:T:K:U:")) != -1) {
		if (opt == 'p')
			policy_file = optarg;
		else if (opt == 's')
			secs = strtod(optarg, NULL);
		else if (opt == 'D')
			proof_file = optarg;
		else if (opt == 'T')
			token_file = optarg;
		else if (opt == 'K')
			jkt = optarg;
		else if (opt == 'U')
			url = optarg;
		else
			return usage();
	}
	if (!proof_file != !token_file || !proof_file != !jkt ||
	    !proof_file != !url ||
	    (url && strncmp(url, "https://", 8)))
		return usage();
	if (!policy_file || optind >= argc || !(secs > 0))
		return usage();
	ag_error_init(&err);
	if (ag_policy_load(policy_file, &p, &err) ||
	    ag_verifier_new(p, &v, &err)) {
		fprintf(stderr, "verify: %s\n", err.msg);
		return 1;
	}
	ag_verifier_set_cache(v, false);
	for (int i = optind; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		size_t len;
		if (!eq)
			return usage();
		*eq = '\0';
		char *tok = read_token(eq + 1, &len);
		run(v, argv[i], tok, len, 0.2); /* warm-up */
		printf("%s %.0f\n", argv[i], run(v, argv[i], tok, len, secs));
		fflush(stdout);
		if (i == optind) {
			ag_verifier_set_cache(v, true);
			printf("cached %s %.0f\n", argv[i],
			       run(v, argv[i], tok, len, 1.0));
			ag_verifier_set_cache(v, false);
		}
		free(tok);
	}
	if (proof_file) {
		size_t plen, tlen;
		char *proof = read_token(proof_file, &plen);
		char *tok = read_token(token_file, &tlen);
		char host[256];
		const char *h = url + 8, *path = strchr(h, '/');
		snprintf(host, sizeof(host), "%.*s",
			 (int)(path ? (size_t)(path - h) : strlen(h)), h);
		struct ag_dpop_check c = {.proof = proof,
					  .method = "GET",
					  .scheme = "https",
					  .host = host,
					  .uri = path ? path : "/",
					  .token = tok,
					  .jkt = jkt,
					  .now = (int64_t)time(NULL),
					  .max_age = 3600};
		run_dpop(&c, 0.2); /* warm-up */
		printf("dpop ES256 %.0f\n", run_dpop(&c, secs));
		free(proof);
		free(tok);
	}
	ag_verifier_free(v);
	ag_policy_free(p);
	return 0;
}
