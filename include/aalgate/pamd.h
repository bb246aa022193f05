/*
 * aalgate govern: the PAM socket (docs/man/pam_aalgate.8).
 *
 * pam_aalgate.so, loaded by sudo, sshd and the like, asks the daemon
 * (`aalgate serve --state DB --pam-socket PATH`) whether a user holds an
 * active JIT grant for a workflow on this host.  They talk over a Unix
 * stream socket, one question per connection, in one line each way:
 *
 *   module -> daemon   "AGPAM1 PHASE USER WORKFLOW HOST SERVICE RHOST\n"
 *   daemon -> module   "AGPAM1 allow ID\n"
 *                      "AGPAM1 deny REASON ID\n"
 *
 * then the daemon closes the connection.  Fields are separated by one
 * space.  PHASE is "auth" or "account".  USER, WORKFLOW and HOST are
 * 1..AG_PAM_FIELD_MAX bytes, none of them a space, a control character
 * or DEL (bytes from 0x80 up must form UTF-8).  SERVICE and RHOST (the
 * PAM service and remote host, recorded only) follow the same rule and
 * are "-" when unknown.  A request is at most AG_PAM_REQUEST_MAX bytes
 * with its newline, an answer at most AG_PAM_ANSWER_MAX.  REASON is one
 * of the AG_PAM_R_* names below; ID is the decision log record's id.
 *
 * The daemon checks who asks (SO_PEERCRED) before it reads anything:
 * uid 0, its own uid, and the one uid and gid its options add.  USER is
 * the grant's account, as a token's sub names it when the policy has one
 * issuer; the check is the gate's (ag_grant_use), so that the use of a
 * break-glass grant is alerted.  Each answer is committed to the
 * decision log (type "pam") before it is sent; an answer that cannot be
 * logged is a deny.  Any error denies.
 */
#ifndef AALGATE_PAMD_H
#define AALGATE_PAMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "aalgate/aalgate.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== the protocol (shared with pam_aalgate.so) ========================= */

#define AG_PAM_PROTO "AGPAM1"
#define AG_PAM_SOCKET_DEFAULT "/run/aalgate/pam.sock"
/* Longest request and answer, newline included. */
#define AG_PAM_REQUEST_MAX 1280
#define AG_PAM_ANSWER_MAX 128
/* Longest USER, WORKFLOW, SERVICE or RHOST; HOST is at most 253. */
#define AG_PAM_FIELD_MAX 256
#define AG_PAM_HOST_MAX 253
/* Longest REASON and ID in an answer. */
#define AG_PAM_REASON_MAX 32
#define AG_PAM_ID_MAX 48

/* Why the daemon denied.  The names are stable: they appear in the
 * answers, in the decision log and in the module's syslog lines. */
#define AG_PAM_R_NO_GRANT "no_grant"       /* no active grant */
#define AG_PAM_R_UNKNOWN_WORKFLOW "unknown_workflow"
#define AG_PAM_R_NO_JIT "no_jit"           /* the workflow has no jit: */
#define AG_PAM_R_PEER "peer_not_allowed"   /* SO_PEERCRED refused */
#define AG_PAM_R_BAD_REQUEST "bad_request" /* malformed or oversized */
#define AG_PAM_R_TIMEOUT "timeout"         /* the request came too slowly */
#define AG_PAM_R_STORE "store_error"       /* busy, read-only, I/O, or a
					    * break-glass use that could not
					    * be alerted */
#define AG_PAM_R_AMBIGUOUS "ambiguous_user" /* the policy has several
					     * issuers */
#define AG_PAM_R_LOG "log_error"           /* the decision could not be
					    * logged */

/* ==== requests ========================================================== */

struct ag_pam_request {
	char phase[8]; /* "auth" or "account" */
	char user[AG_PAM_FIELD_MAX + 1];
	char workflow[AG_PAM_FIELD_MAX + 1];
	char host[AG_PAM_HOST_MAX + 1];
	char service[AG_PAM_FIELD_MAX + 1]; /* "-" when unknown */
	char rhost[AG_PAM_FIELD_MAX + 1];   /* "-" when unknown */
};

/*
 * Parses one request line of len bytes (its newline included).  Anything
 * but exactly the form above is AG_ERR_INVALID (AG_ERR_LIMIT when over a
 * length), with err naming the first bad field.  Never reads past len.
 */
AG_API ag_code ag_pam_request_parse(const char *line, size_t len,
				    struct ag_pam_request *out,
				    struct ag_error *err);

/* ==== the daemon ======================================================== */

/* Threads answering (each serves one connection at a time; more wait in
 * the listen backlog), and how long one connection may take. */
#define AG_PAMD_WORKERS 4
#define AG_PAMD_BACKLOG 64
#define AG_PAMD_TIMEOUT_MS 3000

struct ag_policy;
struct ag_store;
struct ag_dlog;
struct ag_pamd;

struct ag_pamd_opts {
	const char *path;    /* the socket's path (required) */
	/* Who may ask besides uid 0 and the daemon's own effective uid: one
	 * more uid, and peers whose effective gid is peer_gid (the socket
	 * is then given that group, mode 0660, so that they can connect). */
	bool has_peer_uid;
	uid_t peer_uid;
	bool has_peer_gid;
	gid_t peer_gid;
	/* The socket's owner, when the daemon will drop to another user:
	 * pam_aalgate.so trusts an answer only from root or the socket's
	 * owner. */
	bool has_owner;
	uid_t owner_uid;
	unsigned workers;    /* 0: AG_PAMD_WORKERS */
	unsigned timeout_ms; /* per connection; 0: AG_PAMD_TIMEOUT_MS */
	struct ag_store *store; /* borrowed, required */
	struct ag_dlog *log;    /* borrowed, required */
	const char *id_prefix;  /* decision ids are "PREFIX-pNNNNNNNN" */
	/* The policy the workflows come from: policy_get returns the current
	 * one with a reference (*ref) that policy_put gives back, so that a
	 * reload may swap it.  When policy_get is NULL, policy is used. */
	void *ctx;
	const struct ag_policy *(*policy_get)(void *ctx, void **ref);
	void (*policy_put)(void *ctx, void *ref);
	const struct ag_policy *policy;
};

/*
 * Creates the socket at o->path and starts the workers.  The socket is
 * made under a temporary name, given mode 0600 (0660 with peer_gid), its
 * owner and group, and renamed into place, so it never appears with a
 * looser mode.  The path is at most 100 bytes.  Refused:
 * a path longer than a socket address takes; anything at the path that
 * is not a socket; a socket another process still answers on; a
 * directory that group or others may write to.  A socket nobody answers
 * on (left by a crash) is replaced.
 */
AG_API ag_code ag_pamd_start(const struct ag_pamd_opts *o,
			     struct ag_pamd **out, struct ag_error *err);

/* Stops the workers (a connection in progress is finished first),
 * removes the socket when it is still the one it made, and frees d. */
AG_API void ag_pamd_stop(struct ag_pamd *d);

#ifdef __cplusplus
}
#endif

#endif
