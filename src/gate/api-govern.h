/*
 * The govern face over HTTP (docs/gate.md, docs/govern.md): POST /v1/recovery
 * and /v1/accounts/{id}/enrolments[/{method}[/{label}]]. The server hands
 * each request over with what it knows of the peer and its own parts
 * (policy, verifier, store); ag_govern_http computes the answer without
 * speaking HTTP (so that tests call it directly), ag_govern_serve sends
 * it on a libmicrohttpd connection.
 *
 * POST /v1/recovery takes the request of `aalgate recover check` and
 * gives the same answer (200, accepted or not).  It spends codes and
 * emits notification obligations, so only a peer in the policy's
 * trusted_proxies may call it (the recovery front end); any other peer,
 * loopback included, gets 403.  With the server's store it runs as
 * ag_recovery_run (and "now" is refused); without one it is the check
 * alone, on the levels the request gives.
 *
 * /v1/accounts/{id}/enrolments is self-service: the caller shows a
 * bearer token the server's verifier accepts, whose subject is {id}
 * (with one issuer in the policy; with several, whose account is meant
 * cannot be told and the call is refused, as the gate's match_account
 * is).  GET lists the account's enrolments and level; POST {"method",
 * "label"} binds one, with the token's assurance as the evidence of the
 * binding rule (ag_store_enroll_add); DELETE .../{method}[/{label}]
 * removes one, with a token at the account's own level at least:
 * removing an authenticator can lower that level, which a weaker session
 * must not be able to do.  Path segments are percent-decoded once,
 * strictly: a "%" without two hex digits, a decoded NUL or control
 * character, invalid UTF-8, "." or ".." and raw characters outside RFC
 * 3986 pchar are 400.
 */
#ifndef AG_GATE_API_GOVERN_H
#define AG_GATE_API_GOVERN_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aalgate/gate.h"
#include "aalgate/govern.h"

struct ag_govern_http_ctx {
	const struct ag_policy *policy;
	struct ag_verifier *verifier;
	struct ag_store *store; /* NULL without --state */
};

struct ag_govern_http_request {
	const char *method;
	const char *path;       /* the request target's path, as sent */
	const char *peer;       /* the peer's address, "" when unknown */
	bool peer_trusted;      /* the peer is in trusted_proxies */
	const char *token;      /* the Authorization bearer token, or NULL */
	bool bad_authorization; /* an Authorization that is not one bearer
				 * token */
	const char *body;
	size_t body_len;
	bool body_too_large;
	int64_t now;
};

struct ag_http_answer {
	int status;
	const char *content_type;
	char *body; /* malloc'd, or NULL */
	size_t body_len;
	char allow[32];             /* Allow, with 405; else "" */
	char www_authenticate[512]; /* with 401; else "" */
};

/* Largest path segment kept, decoded. */
#define AG_GOVERN_SEGMENT_MAX 512

/* Is path one of the endpoints above? */
bool ag_govern_http_handles(const char *path);

/* Answers one request; never fails (out of memory is a 500 without a
 * body).  Release the answer with ag_http_answer_release. */
void ag_govern_http(const struct ag_govern_http_ctx *ctx,
		    const struct ag_govern_http_request *req,
		    struct ag_http_answer *out);

void ag_http_answer_release(struct ag_http_answer *a);

/* Decodes one path segment (src[0..n)) into dst (cap bytes with the
 * NUL); false for anything the rules above refuse. */
bool ag_govern_segment_decode(const char *src, size_t n, char *dst,
			      size_t cap);

/* ag_govern_http, then the answer on c. */
enum MHD_Result ag_govern_serve(struct MHD_Connection *c,
				const struct ag_govern_http_ctx *ctx,
				const struct ag_govern_http_request *req);

#endif
