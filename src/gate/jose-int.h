/*
 * Internal interface of the token verifier (docs/gate.md), shared by
 * claims.c (claims and JSON), jose.c (JWS, the verifier and its cache)
 * and jwks.c (JWK sets and the per-issuer key rings).
 */
#ifndef AG_JOSE_INT_H
#define AG_JOSE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "aalgate/gate.h"

/* ---- JSON and base64url ------------------------------------------------ */

/* Largest string claim, in bytes, and most entries in aud or amr. */
#define AG_CLAIM_STR_MAX 1024
#define AG_CLAIM_LIST_MAX 32

/* Parses JSON text that must be an object, rejecting duplicate keys at any
 * depth.  Returns AG_TOK_OK (*out set), AG_TOK_DUPLICATE, AG_TOK_CLAIMS
 * (a number out of range) or AG_TOK_MALFORMED.  jerr may be NULL. */
enum ag_token_error ag_json_object(const char *buf, size_t len, json_t **out,
				   json_error_t *jerr);

/* Claims from a parsed payload object (see ag_claims_parse). */
enum ag_token_error ag_claims_from_json(const json_t *obj,
					const char *device_claim,
					struct ag_claims *out);

/* Decodes base64url without padding into out, which must hold
 * AG_B64URL_DECODED_MAX(len) bytes.  Refuses any character outside
 * [A-Za-z0-9_-], padding, an impossible length and non-zero trailing
 * bits, so that every value has exactly one encoding. */
#define AG_B64URL_DECODED_MAX(len) ((len) / 4 * 3 + 2)
bool ag_b64url_decode(const char *in, size_t len, unsigned char *out,
		      size_t *out_len);

/* ---- algorithms and keys ----------------------------------------------- */

/* What a key is, as far as algorithms care. */
enum ag_key_type {
	AG_KEY_RSA = 0,
	AG_KEY_P256,
	AG_KEY_P384,
	AG_KEY_ED25519
};

/* Least RSA modulus accepted for a signature, in bits. */
#define AG_RSA_MIN_BITS 2048

/* A supported JWS algorithm (RFC 7518 §3, RFC 8037). */
struct ag_jws_alg {
	const char *name;     /* "RS256" */
	enum ag_key_type key; /* the key type it needs */
	const char *md;       /* digest name; NULL for EdDSA */
	bool pss;             /* RSASSA-PSS */
	size_t ec_sig_len;    /* ECDSA: length of raw R || S; else 0 */
	unsigned index;       /* its place in the table, 0..AG_JWS_ALGS-1 */
};

#define AG_JWS_ALGS 9

/* The supported algorithm called name (case-sensitive), or NULL. */
const struct ag_jws_alg *ag_jws_alg_find(const char *name);

/* The algorithm at index i of the table (i < AG_JWS_ALGS). */
const struct ag_jws_alg *ag_jws_alg_at(size_t i);

/* A digest-verify context for algorithm a with pkey, initialised and
 * with a's padding: copies of it verify signatures (EVP_DigestVerify)
 * without setting up a context each time.  NULL on failure. */
EVP_MD_CTX *ag_jws_verify_ctx(const struct ag_jws_alg *a, EVP_PKEY *pkey);

/* A compact JWS (RFC 7515 §7.1) taken apart. */
struct ag_jws {
	const char *signing_input; /* header "." payload, as sent */
	size_t signing_len;
	unsigned char *buf; /* the decoded parts, back to back */
	const unsigned char *hdr, *payload, *sig;
	size_t hdr_len, payload_len, sig_len;
	const struct ag_jws_alg *alg; /* set by the caller's header check */
	char *kid;
};

/* Splits tok at its two dots and decodes the three parts, each strict
 * base64url; AG_TOK_MALFORMED otherwise.  Release j either way. */
enum ag_token_error ag_jws_split(const char *tok, size_t len,
				 struct ag_jws *j, char *detail,
				 size_t detail_len);
void ag_jws_release(struct ag_jws *j);

/* Does j's signature verify with ctx (a context for j->alg, as from
 * ag_jws_verify_ctx)?  ECDSA's raw R || S is checked for length and
 * turned into DER first. */
bool ag_jws_verify(const struct ag_jws *j, EVP_MD_CTX *ctx);

/* One public key of a JWK set. */
struct ag_jwk {
	char *kid; /* NULL when the key has none */
	char *alg; /* the JWK's own "alg", or NULL */
	enum ag_key_type type;
	int bits;
	EVP_PKEY *pkey;
	/* For each algorithm the key may verify, a context to copy (see
	 * ag_jws_verify_ctx); NULL for the others. */
	EVP_MD_CTX *verify[AG_JWS_ALGS];
};

struct ag_jwks {
	struct ag_jwk *keys;
	size_t n;
};

#define AG_JWKS_MAX_BYTES (1024 * 1024)
#define AG_JWKS_MAX_KEYS 256

/* Parses a JWK set (RFC 7517 §5).  Keys with "use" other than "sig", or
 * of an unknown kty or crv, are skipped; a key with private parameters,
 * a malformed key and a set without a usable key are errors, reported as
 * "NAME: key N (kid 'K'): reason". */
ag_code ag_jwks_parse_buffer(const char *name, const char *buf, size_t len,
			     struct ag_jwks *out, struct ag_error *err);
void ag_jwks_release(struct ag_jwks *s);

/* Parses one public JWK on its own (a DPoP proof's "jwk" header), as a
 * key of a set is parsed but without its verification contexts: private
 * members, and a key type we do not verify, are errors ("NAME: reason").
 * Release *out with ag_jwk_release. */
ag_code ag_jwk_parse(const char *name, const json_t *o, struct ag_jwk *out,
		     struct ag_error *err);
void ag_jwk_release(struct ag_jwk *k);

/* The JWK SHA-256 thumbprint of o (RFC 7638), base64url, into out (at
 * least 44 bytes).  o must have the members its kty requires. */
ag_code ag_jwk_thumbprint(const json_t *o, char *out, size_t out_len);

/* Does key k fit algorithm a: its type or curve, and its own "alg" when
 * it has one?  (Key size is checked separately.) */
bool ag_jwk_fits(const struct ag_jwk *k, const struct ag_jws_alg *a);

/* ---- key rings: an issuer's keys, loaded and refreshed ----------------- */

struct ag_keyring;

/* Reads the issuer's jwks_file (failing with file and reason) or fetches
 * its jwks_uri (a failure is remembered, not returned). */
ag_code ag_keyring_new(const struct ag_issuer *is, struct ag_keyring **out,
		       struct ag_error *err);
void ag_keyring_free(struct ag_keyring *r);

/* The key for a token's kid (NULL: the only key fitting alg), refreshing
 * the set on an unknown kid or when it is old, at most once per
 * jwks_min_refresh.  On AG_TOK_OK *verify is a new context, ready for
 * EVP_DigestVerify with that key and alg (free it), and *generation the
 * key set's generation. */
enum ag_token_error ag_keyring_find(struct ag_keyring *r, const char *kid,
				    const struct ag_jws_alg *alg,
				    EVP_MD_CTX **verify, uint64_t *generation,
				    char *detail, size_t detail_len);

/* Is a token verified with keys of this generation still good: the set
 * unchanged and not past jwks_max_age? */
bool ag_keyring_current(const struct ag_keyring *r, uint64_t generation);

void ag_keyring_stats(const struct ag_keyring *r, uint64_t *fetches,
		      uint64_t *failures);

/* For tests: makes the keys and the last fetch attempt secs older. */
void ag_keyring_age(struct ag_keyring *r, int64_t secs);

/* For tests: the key ring of issuer i of v. */
struct ag_keyring *ag_verifier_keyring(struct ag_verifier *v, size_t i);

/* ---- detail messages --------------------------------------------------- */

/* Writes fmt into detail (may be NULL) and returns e. */
enum ag_token_error ag_tok_fail(char *detail, size_t detail_len,
				enum ag_token_error e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
