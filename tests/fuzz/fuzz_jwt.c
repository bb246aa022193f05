/*
 * libFuzzer target: the token verifier (docs/gate.md).  Each input is a
 * compact JWS, checked by a verifier built once from a fixed policy and
 * JWK sets written to a temporary directory at start: the RFC 7515
 * example keys for issuer "joe", and an RSA, P-256, P-384 and Ed25519 key
 * for https://idp.fuzz (the seeds in tests/fuzz/seeds-jwt are tokens of
 * these keys and of the RFC examples).  The same bytes also go to the
 * claims reader.
 *
 * Beyond not crashing, leaking or hanging: the answer is a known error;
 * claims come out exactly on success; a refusal explains itself without
 * repeating the token; and a second check of the same token, which the
 * cache may answer, agrees with the first.
 */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aalgate/gate.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1700000000

static const char rfc_jwks[] =
	"{\"keys\":[{\"kty\":\"RSA\",\"n\":\""
	"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx"
	"HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs"
	"D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH"
	"SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV"
	"MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8"
	"NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\","
	"\"e\":\"AQAB\"},"
	"{\"kty\":\"EC\",\"crv\":\"P-256\","
	"\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
	"\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}]}";

/* Public keys only: the private halves signed the seeds and are gone. */
static const char fuzz_jwks[] =
	"{\"keys\":[{\"kid\":\"r1\",\"use\":\"sig\",\"kty\":\"RSA\",\"n\":\""
	"tHODPjMotBCZf8X3yvRC9Ue8CZ4m_-ww9awWD2i3zl8ZvP94uca7eWuJ1eyBTHjNZA"
	"tzpeiYbbpurOOon4ewkldyghj5BU89PQ8sk8UxmMNRNvY2qUy4qL1zN6CDI612vyR1"
	"bazRvNZk1OrDBlIC52gHoN1CZT2VzwHlf2IGUdNgzBf1k7hcY_B1z88B5adDAv6ObF"
	"P3XOwL-IwLRAXZiBqx8guueIwoPh4vWKCg2aN41T5q_WyEXT20x8_j4uj_PQYcuaM8"
	"Kq_JOcsbhuyv5x3zVNxz9uNb6P_nVi1AEa6ycn3eCXMfAqY9ytsIEKBg4UglZ0iSZM"
	"dFMota3SEnQQ\",\"e\":\"AQAB\"},"
	"{\"kid\":\"e1\",\"use\":\"sig\",\"kty\":\"EC\",\"crv\":\"P-256\","
	"\"x\":\"tiDVeed5u7CRfMlHmK1SISL2Bk_gPRNJqMNI9wSwNbI\","
	"\"y\":\"ljyvkATYiJwDkxKjbz1GWEutnq-HBSkB_DsrXpHYVpI\"},"
	"{\"kid\":\"e2\",\"use\":\"sig\",\"kty\":\"EC\",\"crv\":\"P-384\","
	"\"x\":\"nEdQom193pn5Pwo4cDYlvBXQHJhi2S_49B5wU_s4MbhT8UBYT8Fqwtq937Zz"
	"jCmf\",\"y\":\"5NgiQMnFvus3cQq8ZybfbXZCCQC37o757aaGGwUU1Gu8qcSbS3gm"
	"hTBKienU9PP1\"},"
	"{\"kid\":\"o1\",\"use\":\"sig\",\"kty\":\"OKP\",\"crv\":\"Ed25519\","
	"\"x\":\"tCKeO2cfosWXopkUmRENrfPe9vQCMz1v14-SSAvb45c\"}]}";

static char dir[64] = "/tmp/ag-fuzz-jwt-XXXXXX";
static char rfc_path[128], fuzz_path[128];
static struct ag_policy *policy;
static struct ag_verifier *verifier;

static void write_or_die(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) == EOF || fclose(f)) {
		perror(path);
		abort();
	}
}

static void cleanup(void)
{
	ag_verifier_free(verifier);
	ag_policy_free(policy);
	unlink(rfc_path);
	unlink(fuzz_path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char yaml[1024];
	struct ag_error err;

	(void)argc;
	(void)argv;
	if (!mkdtemp(dir)) {
		perror("fuzz_jwt: mkdtemp");
		abort();
	}
	snprintf(rfc_path, sizeof(rfc_path), "%s/rfc.json", dir);
	snprintf(fuzz_path, sizeof(fuzz_path), "%s/fuzz.json", dir);
	write_or_die(rfc_path, rfc_jwks);
	write_or_die(fuzz_path, fuzz_jwks);
	snprintf(yaml, sizeof(yaml),
		 "workflows:\n  staff: { aal: 2 }\n"
		 "device_claim: device\n"
		 "issuers:\n"
		 "  - iss: joe\n    audiences: \"*\"\n    jwks_file: %s\n"
		 "  - iss: https://idp.fuzz\n    audiences: [fuzz]\n"
		 "    jwks_file: %s\n    clock_skew: 2m\n",
		 rfc_path, fuzz_path);
	ag_error_init(&err);
	if (ag_policy_load_buffer("fuzz-policy.yaml", yaml, strlen(yaml),
				  &policy, &err) ||
	    ag_verifier_new(policy, &verifier, &err)) {
		fprintf(stderr, "fuzz_jwt: %s\n", err.msg);
		abort();
	}
	atexit(cleanup);
	return 0;
}

/* The contract of ag_verifier_check for one answer. */
static void check_answer(enum ag_token_error e, const struct ag_claims *c,
			 const char *detail, const uint8_t *data, size_t size)
{
	if ((unsigned)e >= AG_TOK__COUNT)
		abort();
	if (e == AG_TOK_OK && (!c->iss || !c->alg || !c->has_exp))
		abort();
	if (e != AG_TOK_OK && (c->iss || c->sub || c->aud || c->alg))
		abort();
	if (e != AG_TOK_OK && !detail[0])
		abort();
	if (size >= 24 && memmem(detail, strlen(detail), data, size))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ag_claims c1, c2, parsed;
	char d1[256], d2[256];

	enum ag_token_error e1 = ag_verifier_check(
		verifier, (const char *)data, size, NOW, &c1, d1, sizeof(d1));
	check_answer(e1, &c1, d1, data, size);
	enum ag_token_error e2 = ag_verifier_check(
		verifier, (const char *)data, size, NOW, &c2, d2, sizeof(d2));
	check_answer(e2, &c2, d2, data, size);
	if (e1 != e2 || strcmp(d1, d2) ||
	    (e1 == AG_TOK_OK && (strcmp(c1.iss, c2.iss) || c1.exp != c2.exp)))
		abort();
	ag_claims_release(&c1);
	ag_claims_release(&c2);

	enum ag_token_error e3 =
		ag_claims_parse((const char *)data, size, "device", &parsed);
	if ((unsigned)e3 >= AG_TOK__COUNT)
		abort();
	ag_claims_release(&parsed);
	return 0;
}
