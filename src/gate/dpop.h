/*
 * DPoP proofs of possession (RFC 9449), checked where the token is used.
 *
 * A token whose cnf names a DPoP key ("jkt") is worth nothing without the
 * key: each request carries a fresh proof, a JWT signed by that key over
 * the request's method and URL and the token's hash.  Without the check
 * the binding is decoration and a stolen token works anywhere.
 */
#ifndef AG_DPOP_H
#define AG_DPOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aalgate/gate.h"

/* Longest DPoP header value read. */
#define AG_DPOP_MAX 8192

/* Longest jti read: RFC 9449 asks for 96 bits of randomness, so a few
 * dozen characters; anything near this is not an honest client. */
#define AG_DPOP_JTI_MAX 256

/* The algorithms a proof may use, for challenges (RFC 9449 §5.1). */
#define AG_DPOP_ALGS "ES256 ES384 EdDSA PS256 PS384 PS512 RS256 RS384 RS512"

/* How far in the future a proof's iat may be: clocks differ. */
#define AG_DPOP_FUTURE 60

/* The proofs seen, so that each is accepted once (RFC 9449 §11.1).  Fixed
 * memory; a proof is remembered until its iat is older than the window.
 * When a bucket is full of proofs still in their window a new proof is
 * refused, never one forgotten. */
struct ag_dpop_replay;

struct ag_dpop_replay *ag_dpop_replay_new(size_t capacity);
void ag_dpop_replay_free(struct ag_dpop_replay *r);

/* What a proof is checked against. */
struct ag_dpop_check {
	const char *proof;  /* the DPoP header field's value */
	const char *method; /* the request's method */
	const char *scheme; /* "https" or "http" */
	const char *host;   /* the request's authority: host[:port] */
	const char *uri;    /* its target: path[?query] */
	const char *token;  /* the access token, as sent */
	const char *jkt;    /* the token's cnf "jkt" */
	int64_t now;
	int64_t max_age; /* how old a proof's iat may be, in seconds */
};

/*
 * Checks a proof as RFC 9449 §4.3 and §7.1 have it: one compact JWS with
 * typ "dpop+jwt", an asymmetric alg we support, a public "jwk" that
 * verifies the signature; jti, htm, htu, iat and ath claims; htm the
 * method; htu the request's URL without query and fragment (after RFC
 * 3986 syntax- and scheme-based normalisation); iat no older than max_age
 * and at most AG_DPOP_FUTURE ahead; ath the token's SHA-256; the key's
 * thumbprint (RFC 7638) the token's jkt; and a jti not seen in the window
 * (replay may be NULL to skip that, for one-off checks).  AG_TOK_OK or
 * AG_TOK_DPOP, with why in detail.
 *
 * With a replay set, c->now must be the real time: a slot's window is
 * judged by it, and a caller's "now" could otherwise free live slots or
 * fill the set with proofs that never expire.  A what-if check (a
 * request that names its own time) passes replay NULL.
 */
enum ag_token_error ag_dpop_verify(struct ag_dpop_replay *replay,
				   const struct ag_dpop_check *c, char *detail,
				   size_t detail_len);

/* How a verified token was presented. */
struct ag_dpop_presented {
	const char *token;  /* the access token, as sent */
	bool dpop_scheme;   /* "Authorization: DPoP"; for /v1/decide and
			     * aalgate decide, a "dpop" member given */
	const char *proof;  /* the DPoP header, or NULL */
	bool proof_repeated; /* more than one DPoP header came */
	const char *scheme; /* of the request's URL: "https" when unknown */
	bool what_if;       /* the request names its own time: the proof is
			     * checked without the replay set */
};

/* What became of a request's DPoP side. */
enum ag_dpop_outcome {
	AG_DPOP_NONE = 0, /* no DPoP scheme: nothing checked */
	AG_DPOP_UNBOUND,  /* the DPoP scheme with a token bound to no DPoP key */
	AG_DPOP_OK,       /* a valid proof for the token's key */
	AG_DPOP_BAD,      /* a proof missing or bad */
	AG_DPOP_REPLAYED  /* a proof seen before */
};

/*
 * The DPoP side of a request whose token verified (claims): when the
 * token is bound to a DPoP key and came with the DPoP scheme, checks its
 * proof (ag_dpop_verify, with the policy's dpop_max_age) and sets
 * req->dpop_verified.  The DPoP scheme with a token not bound to a DPoP
 * key is refused (RFC 9449 §7.1); a bound token sent as Bearer is left
 * for the decision to refuse.  AG_TOK_OK, or AG_TOK_DPOP with why; *out
 * says which (AG_DPOP_BAD and AG_DPOP_REPLAYED: the proof was at fault,
 * the challenge's invalid_dpop_proof).
 */
enum ag_token_error ag_dpop_present(struct ag_dpop_replay *replay,
				    const struct ag_policy *p,
				    const struct ag_claims *claims,
				    const struct ag_dpop_presented *pr,
				    struct ag_request *req,
				    enum ag_dpop_outcome *out, char *detail,
				    size_t detail_len);

#endif
