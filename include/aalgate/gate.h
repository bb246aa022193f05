/*
 * aalgate gate: the runtime face (docs/gate.md).
 *
 *  - tokens: JWS compact serialisation, verified with OpenSSL against keys
 *    from a JWKS file or a jwks_uri (§3.2);
 *  - decisions: the §3.3 order over the assurance core;
 *  - the decision log: hash-chained JSON lines with group commit (§3.4).
 *
 * The HTTP service (src/gate/server.c) and the CLI are built on these.
 */
#ifndef AALGATE_GATE_H
#define AALGATE_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aalgate/aalgate.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- tokens ------------------------------------------------------------ */

/* Largest token accepted, in bytes (compact serialisation). */
#define AG_TOKEN_MAX 16384

/* Why a token was refused.  Names (ag_token_error_name) are stable: they
 * appear in decision reasons and the decision log. */
enum ag_token_error {
	AG_TOK_OK = 0,
	AG_TOK_MALFORMED,     /* not three base64url parts of JSON objects */
	AG_TOK_TOO_LARGE,     /* over AG_TOKEN_MAX */
	AG_TOK_DUPLICATE,     /* a JSON object repeats a key */
	AG_TOK_ALG_NONE,      /* "alg": "none" */
	AG_TOK_ALG_HMAC,      /* HS256/384/512: no shared secrets */
	AG_TOK_ALG_UNSUPPORTED, /* any other alg */
	AG_TOK_CRIT,          /* a "crit" header names an extension */
	AG_TOK_UNKNOWN_ISSUER, /* iss is not in the policy's issuers */
	AG_TOK_UNKNOWN_KEY,   /* no key with this kid (after a refresh) */
	AG_TOK_KEY_MISMATCH,  /* the key's type or curve does not fit alg */
	AG_TOK_SIGNATURE,     /* the signature does not verify */
	AG_TOK_AUDIENCE,      /* aud lists none of the issuer's audiences */
	AG_TOK_EXPIRED,       /* exp + skew <= now, or exp missing */
	AG_TOK_NOT_YET_VALID, /* nbf - skew > now */
	AG_TOK_ISSUED_IN_FUTURE, /* iat or auth_time - skew > now */
	AG_TOK_CLAIMS,        /* a registered claim has the wrong type */
	AG_TOK_KEYS_UNAVAILABLE, /* the issuer's keys could not be had */
	AG_TOK_DPOP,          /* the DPoP proof (RFC 9449) is missing or bad */
	AG_TOK_BOUND,         /* bound to a key (cnf) where only bearer
			       * tokens are taken */
	AG_TOK__COUNT
};

AG_API const char *ag_token_error_name(enum ag_token_error e);

/* The claims of a token that decisions use.  Strings are owned. */
struct ag_claims {
	char *iss, *sub, *azp, *sid, *jti, *acr, *scope, *device;
	char *kid, *alg; /* from the JOSE header */
	char **aud;
	size_t n_aud;
	char **amr;
	size_t n_amr;
	int64_t exp, nbf, iat, auth_time;
	bool has_exp, has_nbf, has_iat, has_auth_time;
	bool cnf; /* a "cnf" claim binds the token to a key (RFC 7800) */
	/* cnf's thumbprints, when it has them: "x5t#S256", the certificate
	 * of a mutual-TLS client (RFC 8705 §3.1), and "jkt", the JWK of a
	 * DPoP key (RFC 9449 §6.1); base64url SHA-256, or NULL. */
	char *cnf_x5t, *cnf_jkt;
};

AG_API void ag_claims_init(struct ag_claims *c);
AG_API void ag_claims_release(struct ag_claims *c);
AG_API ag_code ag_claims_copy(struct ag_claims *dst,
			      const struct ag_claims *src);

/* Reads claims from a JSON object (a token's payload, or the "claims" of a
 * what-if request).  device_claim names the claim holding device posture
 * (NULL for none).  Duplicate keys and wrongly typed registered claims are
 * AG_TOK_DUPLICATE / AG_TOK_CLAIMS. */
AG_API enum ag_token_error ag_claims_parse(const char *json, size_t len,
					   const char *device_claim,
					   struct ag_claims *out);

/* The verifier: every issuer's keys and a cache of verified tokens.
 * Thread-safe. */
struct ag_verifier;

/* Builds a verifier for the policy's issuers.  Keys from jwks_file are read
 * now (an unreadable or invalid file fails with file and reason); keys
 * from jwks_uri are fetched now, and a failed fetch is not fatal: tokens
 * of that issuer are refused (AG_TOK_KEYS_UNAVAILABLE) until a fetch
 * succeeds.  The policy must outlive the verifier. */
AG_API ag_code ag_verifier_new(const struct ag_policy *p,
			       struct ag_verifier **out, struct ag_error *err);
AG_API void ag_verifier_free(struct ag_verifier *v);

/* Verifies a compact JWS at time now: size, header, algorithm, key,
 * signature, iss, aud, exp, nbf and iat with the issuer's clock skew.  On
 * AG_TOK_OK *out holds the claims (release them).  detail (may be NULL)
 * receives a short human explanation that never contains the token. */
AG_API enum ag_token_error ag_verifier_check(struct ag_verifier *v,
					     const char *token, size_t len,
					     int64_t now, struct ag_claims *out,
					     char *detail, size_t detail_len);

/* ag_verifier_check for the places that take bearer tokens only, where
 * no proof of possession can come with a token (the govern endpoints and
 * commands): a token bound to a key (cnf, RFC 7800) is refused with
 * AG_TOK_BOUND, since a copy of it must not do what only the key's holder
 * may. */
AG_API enum ag_token_error ag_verifier_check_bearer(
	struct ag_verifier *v, const char *token, size_t len, int64_t now,
	struct ag_claims *out, char *detail, size_t detail_len);

/* Verification statistics, for /metrics. */
struct ag_verifier_stats {
	uint64_t cache_hits, cache_misses, jwks_fetches, jwks_fetch_failures;
};
AG_API void ag_verifier_stats(struct ag_verifier *v,
			      struct ag_verifier_stats *out);

/* ---- tokens: benchmarking ---------------------------------------------- */

/* Turns the cache of verified tokens on (the default) or off.  With the
 * cache off every check verifies the signature, as bench/verify measures;
 * the statistics then count neither hits nor misses. */
AG_API void ag_verifier_set_cache(struct ag_verifier *v, bool on);

/* ---- decisions --------------------------------------------------------- */

enum ag_outcome {
	AG_DENY = 0, /* the zero value denies */
	AG_STEP_UP,
	AG_ALLOW
};

AG_API const char *ag_outcome_name(enum ag_outcome o);

/* Reasons, in the order of docs/gate.md.  Names are stable. */
enum ag_reason {
	AG_R_NONE = 0,
	AG_R_INTERNAL,          /* an internal error: fail closed */
	AG_R_BAD_REQUEST,       /* the request target is not a valid path */
	AG_R_NO_ROUTE,          /* no route matched and no default_workflow */
	AG_R_UNKNOWN_WORKFLOW,  /* the request named a workflow that is not there */
	AG_R_NO_TOKEN,
	AG_R_INVALID_TOKEN,     /* with the token error */
	AG_R_NETWORK,           /* client address outside the workflow's networks */
	AG_R_AAL,               /* assurance below the workflow */
	AG_R_PHISHING_RESISTANT,
	AG_R_HARDWARE,
	AG_R_ACCOUNT_LEVEL_UNKNOWN, /* match_account without enrolment state */
	AG_R_MAX_AGE,           /* auth_time older than max_age, or missing */
	AG_R_IDLE,              /* the session was idle too long */
	AG_R_DEVICE,
	AG_R_JIT,               /* no active grant */
	AG_R_TOKEN_LIFETIME,    /* machine: exp - iat over max_token_lifetime */
	AG_R_CLIENT,            /* machine: client unknown, inactive or unowned */
	AG_R_CREDENTIAL,        /* cnf binding not shown; machine: credential kind */
	AG_R_SCOPE,             /* machine: a required scope is missing */
	AG_R__COUNT
};

AG_API const char *ag_reason_name(enum ag_reason r);

/* A request as the gate sees it, after trusted-proxy handling. */
struct ag_request {
	const char *workflow; /* a workflow by name (POST /v1/decide), or NULL */
	const char *method, *host, *uri; /* the original request, for routes */
	const char *ip;     /* the client address, or NULL when unknown */
	const char *device; /* posture from a trusted header, or NULL */
	int64_t now;        /* epoch seconds */
	/* The TLS client certificate a trusted proxy passed in the policy's
	 * client_cert_header: its x5t#S256 (ag_cert_x5t), or NULL when none
	 * was passed; client_cert_problem says why one that was passed
	 * could not be read (NULL otherwise). */
	const char *client_cert_x5t;
	const char *client_cert_problem;
	/* True only when the caller checked a DPoP proof (RFC 9449 §4.3)
	 * for this request whose key is the token's cnf "jkt"
	 * (ag_dpop_verify).  A token bound to a DPoP key is refused
	 * without it. */
	bool dpop_verified;
	/* An allow moves the session's idle time (sessions given) unless
	 * this is set: then the caller does, with ag_gate_touch, once the
	 * allow is final (logged and sent), so that an allow it turns into
	 * a deny does not keep the session alive. */
	bool defer_touch;
};

/* Longest thumbprint of a machine client the gate compares. */
#define AG_THUMBPRINT_MAX 128

/* What a machine workflow needs of the client's inventory record. */
struct ag_gate_client {
	int method;     /* its kind: a catalogue index */
	bool key_bound; /* a key-bound kind (ag_nhi_key_bound): the token
			 * must carry cnf */
	char thumbprint[AG_THUMBPRINT_MAX + 1]; /* the key it is bound to,
						 * "" when not recorded */
	bool failed; /* on a refusal: a source could not be read (an error,
		      * not a judgement of the client) */
};

/* Hooks into state the gate does not own (enrolment, grants, inventory).
 * A NULL hook means "no such state": checks that need it deny.  A subject
 * is unique only within its issuer, so every hook gets both. */
struct ag_gate_hooks {
	void *ctx;
	/* The account's own assurance, for match_account; false if unknown. */
	bool (*account_level)(void *ctx, const char *iss, const char *sub,
			      struct ag_assurance *out);
	/* Is there an active grant for sub on workflow at now? */
	bool (*grant_active)(void *ctx, const char *iss, const char *sub,
			     const char *workflow,
			     int64_t now);
	/* Machine workflows: is client (azp, client_id, else sub) a known,
	 * active machine identity with a live owner at now
	 * (ag_nhi_client_ok)?  On true *out describes its credential; on
	 * false why says why, in words fit for a log. */
	bool (*client)(void *ctx, const char *iss, const char *client,
		       int64_t now, struct ag_gate_client *out, char *why,
		       size_t why_len);
};

#define AG_REASONS_MAX 8
#define AG_WWW_AUTH_MAX 1024

struct ag_decision {
	enum ag_outcome outcome;
	int status;    /* 200, 401 or 403 */
	long workflow; /* index into the policy's workflows, or -1 */
	struct ag_assurance required;
	struct ag_assurance observed;
	enum ag_device device_required, device_observed;
	int64_t max_age;   /* the window checked, seconds; 0 = none */
	int64_t idle;
	enum ag_reason reasons[AG_REASONS_MAX];
	size_t n_reasons;
	enum ag_token_error token_error;
	char detail[256];  /* a human explanation of the first reason */
	char www_authenticate[AG_WWW_AUTH_MAX]; /* empty when none */
};

/* Session activity by (iss, sid), in bounded memory.  Thread-safe. */
struct ag_sessions;
AG_API struct ag_sessions *ag_sessions_new(size_t capacity);
AG_API void ag_sessions_free(struct ag_sessions *s);

/* Precomputed per-policy data for decisions (acr_values per workflow). */
struct ag_gate;
AG_API ag_code ag_gate_new(const struct ag_policy *p, struct ag_gate **out,
			   struct ag_error *err);
AG_API void ag_gate_free(struct ag_gate *g);
AG_API const struct ag_policy *ag_gate_policy(const struct ag_gate *g);

/* Picks the workflow for a request: by name, or the first matching route,
 * or default_workflow.  Returns the index or -1. */
AG_API long ag_gate_route(const struct ag_gate *g,
			  const struct ag_request *req);

/*
 * Decides a request (docs/gate.md).  claims is NULL when the request had no
 * token; tokerr is the verifier's answer when it had one (claims NULL
 * unless tokerr is AG_TOK_OK).  sessions may be NULL (idle is then judged
 * from auth_time).  Never fails: any internal problem is a deny.
 */
AG_API void ag_gate_decide(const struct ag_gate *g,
			   const struct ag_gate_hooks *hooks,
			   struct ag_sessions *sessions,
			   const struct ag_request *req,
			   const struct ag_claims *claims,
			   enum ag_token_error tokerr,
			   struct ag_decision *out);

/* What an allow of claims at now does to its session when the request
 * had defer_touch: marks the session (iss, sid) active at now.  Nothing
 * when sessions or claims is NULL or the token has no sid. */
AG_API void ag_gate_touch(struct ag_sessions *sessions,
			  const struct ag_claims *claims, int64_t now);

/* ---- machine clients (docs/gate.md, docs/nhi.md) ------------------------ */

struct ag_nhi_inventory;
struct ag_store;

/*
 * hooks.client over the gate's inventory sources: inv (serve
 * --inventory, resolved against p; may be NULL) and store (serve
 * --state: a per-request look-up, ag_store_nhi_get; may be NULL).
 * Every source that holds the client must accept it (ag_nhi_client_ok);
 * its credential is the store's record when the store holds one, else
 * the file's.  No source, a client neither holds, and a store that
 * cannot be read all refuse.
 */
AG_API bool ag_gate_nhi_client(const struct ag_policy *p,
			       const struct ag_nhi_inventory *inv,
			       struct ag_store *store, const char *iss,
			       const char *client, int64_t now,
			       struct ag_gate_client *out, char *why,
			       size_t why_len);

/*
 * The x5t#S256 of a TLS client certificate (RFC 8705 §3.1: base64url of
 * the SHA-256 of its DER) as a proxy passes it in a header: URL-escaped
 * PEM (nginx $ssl_client_escaped_cert), plain PEM (line breaks as any
 * whitespace), or the base64 DER without the PEM lines.  The certificate
 * is parsed with OpenSSL: anything but exactly one certificate is
 * refused.  Writes the thumbprint (43 characters) into out (at least 44
 * bytes), or returns false with why.
 */
#define AG_CERT_HEADER_MAX 16384
AG_API bool ag_cert_x5t(const char *value, char *out, size_t out_len,
			char *why, size_t why_len);

/* The assurance a token's claims prove: acr through the policy's acr
 * table, otherwise amr through the method catalogue (ag_amr_methods and
 * ag_combine). */
AG_API void ag_claims_assurance(const struct ag_policy *p,
				const struct ag_claims *c,
				struct ag_assurance *out);

/* ---- the decision log -------------------------------------------------- */

/* An append-only, hash-chained JSON-lines file.  Each record is one line:
 *   {"seq":N,"prev":"<sha256 hex of the previous line>",...fields}
 * The first record's prev is 64 zeros.  Appends are group-committed: a
 * call returns after its record and every earlier one are on disk
 * (fdatasync).  A side file FILE.head holds the last committed seq and
 * hash, so a truncated tail is detected too.  Thread-safe. */
struct ag_dlog;

/* Opens (creating 0600) or continues a log.  A torn last line, left by a
 * crash before it was acknowledged, is cut off. */
AG_API ag_code ag_dlog_open(const char *path, struct ag_dlog **out,
			    struct ag_error *err);
AG_API void ag_dlog_close(struct ag_dlog *l);

/* Appends one record.  fields is the inside of a JSON object, without
 * braces, for example "\"time\":1700000000,\"outcome\":\"allow\"".  It
 * must not contain a newline.  Returns when the record is durable, or an
 * error (the caller must then deny). */
AG_API ag_code ag_dlog_append(struct ag_dlog *l, const char *fields,
			      size_t len, uint64_t *seq_out);

struct ag_dlog_verify {
	uint64_t records;  /* good records read */
	uint64_t bad_line; /* 1-based line of the first bad record, or 0 */
	char why[256];
};

/* Verifies a log: every line is JSON with seq counting from 1 and prev the
 * SHA-256 of the line before; the head file, when present, matches.
 * Returns AG_OK when the log is intact, AG_ERR_INVALID with res->bad_line
 * and res->why otherwise, AG_ERR_IO if it cannot be read. */
AG_API ag_code ag_dlog_verify_file(const char *path,
				   struct ag_dlog_verify *res,
				   struct ag_error *err);

/* ---- the decision log: limits and state -------------------------------- */

/* The longest record line, without its newline.  ag_dlog_append refuses
 * fields longer than AG_DLOG_RECORD_MAX - 128 bytes (AG_ERR_LIMIT), and
 * fields that would not make a valid record (AG_ERR_USAGE): a newline or
 * NUL, text that is not the members of a JSON object, a repeated key, or
 * a "seq" or "prev" of their own.  ag_dlog_verify_file reports a longer
 * line as bad. */
#define AG_DLOG_RECORD_MAX 65536

/* ag_dlog_close writes and syncs whatever is queued, then stops the
 * writer; call it once every append has returned. */

/* How many bytes of a torn last line ag_dlog_open cut off (0 if none), so
 * that the caller can say so. */
AG_API uint64_t ag_dlog_repaired_bytes(const struct ag_dlog *l);

/* True once a write or sync has failed: every append since returns
 * AG_ERR_IO, for good.  why (may be NULL) receives the first failure, for
 * example "FILE: cannot write the decision log: No space left on device".
 * A NULL log counts as failed. */
AG_API bool ag_dlog_failed(struct ag_dlog *l, char *why, size_t len);

/* Called by the log's writer once a record is durable (rc AG_OK, with its
 * seq) or can never be (an error).  It must not block or append. */
typedef void (*ag_dlog_done_fn)(void *arg, ag_code rc, uint64_t seq);

/* Appends one record without waiting: the fields are copied and done is
 * called from the writer thread after the batch's fdatasync.  For callers
 * that build fields themselves: newline, NUL and UTF-8 are checked here,
 * not the JSON (ag_dlog_append checks that).  On an error return done is
 * never called. */
AG_API ag_code ag_dlog_append_async(struct ag_dlog *l, const char *fields,
				    size_t len, ag_dlog_done_fn done,
				    void *arg);

#ifdef __cplusplus
}
#endif

#endif
