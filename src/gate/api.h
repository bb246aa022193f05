/*
 * The decision API's JSON (docs/gate.md): reading a POST /v1/decide or
 * `aalgate decide` request, writing the answer, and the fields of a
 * decision log record.  Shared by the server and the CLI so that the
 * offline "what if" answer is the gate's answer.
 */
#ifndef AG_GATE_API_H
#define AG_GATE_API_H

#include <stdbool.h>
#include <stdint.h>

#include "aalgate/gate.h"
#include "util.h"

/* Largest request body accepted. */
#define AG_API_BODY_MAX (64u * 1024u)

struct ag_api_request {
	char *workflow;
	char *method, *host, *uri;
	char *scheme; /* of the request's URL, for a DPoP proof's htu */
	char *dpop;   /* a DPoP proof for the token (RFC 9449) */
	char *token;
	char *device, *ip;
	char *client_cert; /* a TLS client certificate, as client_cert_header
			    * carries it (ag_cert_x5t) */
	int64_t now;
	bool has_now;
	bool has_claims; /* "claims" in place of a token (CLI only) */
	struct ag_claims claims;
};

void ag_api_request_release(struct ag_api_request *r);

/* Parses a request body.  allow_claims admits "claims" (the offline tool);
 * device_claim is the policy's.  On failure writes a message to err. */
ag_code ag_api_request_parse(const char *json, size_t len, bool allow_claims,
			     const char *device_claim,
			     struct ag_api_request *out, char *err,
			     size_t errlen);

/* Appends s as a JSON string (quoted, escaped). */
ag_code ag_buf_json_str(struct ag_buf *b, const char *s);

/* The answer of POST /v1/decide, one JSON object and a newline. */
ag_code ag_decision_json(const struct ag_policy *p,
			 const struct ag_decision *d,
			 const struct ag_claims *claims, const char *decision_id,
			 struct ag_buf *out);

/* What a decision log record says about a decision: the inside of a JSON
 * object.  Never the token: only its jti, kid and iss. */
struct ag_log_ctx {
	const char *decision_id;
	int64_t time_ms;   /* wall clock, milliseconds */
	const char *ip;
	const char *method, *host, *path;
	bool what_if;      /* a /v1/decide request that set "now" */
};

ag_code ag_decision_log_fields(const struct ag_policy *p,
			       const struct ag_decision *d,
			       const struct ag_claims *claims,
			       const struct ag_log_ctx *ctx,
			       struct ag_buf *out);

#endif
