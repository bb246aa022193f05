/*
 * libFuzzer target: DPoP proofs (RFC 9449, src/gate/dpop.c).  Each input
 * is a DPoP header value, checked against one fixed request and a token
 * bound to the P-256 key whose thumbprint is JKT; the seeds in
 * tests/fuzz/seeds-dpop are proofs by that key (its private half signed
 * them and is gone), by another key, and with a wrong typ, method or
 * missing ath.  That reaches the compact JWS splitter, the header and
 * claims readers, the JWK parser and thumbprint, the URL comparison and
 * the replay set.
 *
 * Each input is checked for GET and for POST.  Beyond not crashing,
 * leaking or hanging: the answer is OK or AG_TOK_DPOP; a refusal says
 * why; a check without the replay set gives the same answer twice; and a
 * proof accepted once through the set is refused the second time.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aalgate/gate.h"
#include "gate/dpop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1700000000
#define JKT "rAMuOe4x5x-k3VS3g2NA3XrYP-m0hLQipbRSuOh6fOk"
#define TOKEN "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJmdXp6In0.c2ln"

static struct ag_dpop_replay *replay;

static void cleanup(void)
{
	ag_dpop_replay_free(replay);
}

static enum ag_token_error check(struct ag_dpop_replay *r, const char *proof,
				 const char *method, char *why, size_t len)
{
	struct ag_dpop_check c = {.proof = proof,
				  .method = method,
				  .scheme = "https",
				  .host = "api.fuzz",
				  .uri = "/v1/items?page=3",
				  .token = TOKEN,
				  .jkt = JKT,
				  .now = NOW,
				  .max_age = 300};
	why[0] = '\0';
	return ag_dpop_verify(r, &c, why, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256], why2[256];

	if (!replay) {
		/* Small, so that the fuzzer also fills it. */
		if (!(replay = ag_dpop_replay_new(1)))
			abort();
		atexit(cleanup);
	}
	if (size > AG_DPOP_MAX + 16)
		return 0;
	char *proof = malloc(size + 1);
	if (!proof)
		return 0;
	memcpy(proof, data, size);
	proof[size] = '\0';
	/* Both methods, so that GET and POST proofs can pass. */
	static const char *const methods[] = {"GET", "POST"};
	for (size_t m = 0; m < 2; m++) {
		const char *method = methods[m];
		enum ag_token_error e1 = check(NULL, proof, method, why,
					       sizeof(why));
		if (e1 != AG_TOK_OK && e1 != AG_TOK_DPOP)
			abort();
		if (e1 != AG_TOK_OK && !why[0])
			abort();
		enum ag_token_error e2 = check(NULL, proof, method, why2,
					       sizeof(why2));
		if (e2 != e1 || strcmp(why, why2))
			abort();
		if (e1 != AG_TOK_OK)
			continue;
		/* Once through the replay set; the second time refused. */
		if (check(replay, proof, method, why, sizeof(why)) ==
			    AG_TOK_OK &&
		    check(replay, proof, method, why, sizeof(why)) !=
			    AG_TOK_DPOP)
			abort();
	}
	free(proof);
	return 0;
}
