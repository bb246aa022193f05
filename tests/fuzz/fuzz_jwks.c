/*
 * libFuzzer target: the JWK set parser (RFC 7517) of the token verifier,
 * with the OpenSSL key import behind it.  Every input must either give a
 * set of at least one usable key, each with its public key and a
 * verification context for every algorithm it fits, or fail with an
 * error code and a message; nothing may crash, leak or hang.
 */
#include <stdint.h>
#include <stdlib.h>

#include "gate/jose-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_key(const struct ag_jwk *k)
{
	if (!k->pkey || k->bits <= 0)
		abort();
	for (size_t i = 0; i < AG_JWS_ALGS; i++) {
		const struct ag_jws_alg *a = ag_jws_alg_at(i);
		bool usable = ag_jwk_fits(k, a) &&
			      (k->type != AG_KEY_RSA ||
			       k->bits >= AG_RSA_MIN_BITS);
		if (usable != (k->verify[i] != NULL))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ag_jwks set;
	struct ag_error err;

	ag_error_init(&err);
	ag_code rc = ag_jwks_parse_buffer("fuzz.json", (const char *)data,
					  size, &set, &err);
	if (rc != AG_OK) {
		if (err.code != rc || !err.msg[0] || set.n || set.keys)
			abort();
		return 0;
	}
	if (!set.n || set.n > AG_JWKS_MAX_KEYS)
		abort();
	for (size_t i = 0; i < set.n; i++)
		check_key(&set.keys[i]);
	ag_jwks_release(&set);
	return 0;
}
