/*
 * aalgate govern: the state face (docs/govern.md).
 *
 * The sections below are independent: each starts with a banner.
 */
#ifndef AALGATE_GOVERN_H
#define AALGATE_GOVERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aalgate/aalgate.h"
#include "aalgate/nhi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== store: the state store and enrolment (docs/govern.md) ============== */

/*
 * The state store keeps what the gate and the govern commands share:
 * accounts, their enrolled authenticators and, from them, each account's
 * own level; spent recovery codes; JIT and break-glass grants (the grants
 * section below).  Behind struct ag_store sits a backend (embedded SQLite in
 * WAL mode now; PostgreSQL planned) chosen at open; callers never
 * see which.
 *
 * Every function returns an ag_code and fills a struct ag_error.  A busy
 * database (after the busy timeout), a read-only one, a full disk and I/O
 * errors are errors like any other: callers deny (fail closed).
 *
 * Every change writes, in the same transaction, a row of the store's
 * journal (an outbox) saying what changed.  ag_store_journal_drain moves
 * those rows, in order, into the hash-chained decision log.  A crash
 * between appending a row to the log and marking it logged appends it
 * again at the next drain: a change may be logged twice, never lost.
 * Each such record carries "store" (the store's id) and "journal_seq",
 * which together name the change, so a reader can drop the repeat.
 *
 * Thread-safety: a store may be used from several threads at once; it
 * holds opts.connections connections and a call waits for a free one.
 */

struct ag_store;
struct ag_dlog;

/* Longest account id, method name and label, in bytes. */
#define AG_STORE_ACCOUNT_MAX 256
#define AG_STORE_METHOD_MAX 64
#define AG_STORE_LABEL_MAX 128
/* Most enrolments one account may hold. */
#define AG_STORE_ENROLMENTS_MAX 64

struct ag_store_opts {
	bool read_only;       /* open for reading; every change then fails */
	unsigned connections; /* threads that may use it at once; 0 means 1 */
	unsigned busy_ms;     /* how long to wait for another writer; 0
			       * means 5000 */
};

/*
 * Opens the state file at path, creating it (mode 0600) unless
 * opts->read_only, and brings its schema up to date (each migration in
 * one transaction).  Refuses: the file itself being a symbolic link (its
 * directory may be reached through one); anything but a regular file; a
 * file writable by group or others; a file owned by neither this user nor
 * root (unless running as root); a directory others may write to (unless
 * sticky); an SQLite database that is not a state store; and a schema
 * newer than this build knows.  A read-only open needs the file at the
 * current schema.  Every connection is opened now, so a process may drop
 * privileges afterwards.  opts may be NULL for the defaults.
 */
AG_API ag_code ag_store_open(const char *path, const struct ag_store_opts *opts,
			     struct ag_store **out, struct ag_error *err);
AG_API void ag_store_close(struct ag_store *s);

/* The store's random id (32 hex digits), fixed when it was created. */
AG_API const char *ag_store_id(const struct ag_store *s);

/* The backend's name ("sqlite"). */
AG_API const char *ag_store_backend(const struct ag_store *s);

/* The schema version this build writes. */
AG_API int ag_store_schema_version(void);

/* One enrolled authenticator.  Strings are owned. */
struct ag_enrolment {
	char *account;
	char *method;
	char *label;     /* "" when none */
	int64_t created; /* epoch seconds */
};

struct ag_enrolments {
	struct ag_enrolment *v;
	size_t n;
	size_t alloc;
};

AG_API void ag_enrolments_release(struct ag_enrolments *l);

/*
 * Authenticator binding (docs/govern.md; SP 800-63B-4, binding an
 * additional authenticator): binding a new authenticator needs
 * authentication at min(the account's own level, the new authenticator's
 * level).  The new authenticator's level is the
 * highest AAL it helps reach with what the account already holds: the
 * best ag_combine of it with some of the enrolled methods that is higher
 * than those methods reach without it.  (Taken alone, a second OTP
 * device bound to a password + OTP account would need only AAL1, and
 * whoever knew the password could raise their access to AAL2.)
 *
 * An account with no acceptable authenticator (none enrolled, or none
 * that reaches AAL1) is bootstrapped: nothing can be required.  Any other
 * account needs at least AAL1, whatever the new method.
 *
 * These are pure functions of the catalogue (src/core/binding.c).
 */
struct ag_binding {
	bool bootstrap;  /* the account had no acceptable authenticator */
	int account_aal; /* its own level before the binding, 0..3 */
	int method_aal;  /* the highest level the new method helps reach */
	int required;    /* the authentication needed, 0..3 */
};

/* The rule for binding catalogue method `method` to an account holding
 * enrolled[0..n) (catalogue indexes; repeats allowed). */
AG_API void ag_binding_require(const struct ag_catalogue *cat,
			       const uint16_t *enrolled, size_t n,
			       uint16_t method, struct ag_binding *out);

/* Does authentication auth (NULL: none shown) meet rule b? */
AG_API bool ag_binding_allowed(const struct ag_binding *b,
			       const struct ag_assurance *auth);

/* The evidence of the caller's current authentication, for a binding. */
struct ag_enroll_auth {
	struct ag_assurance assurance;
	const char *source; /* how it is known, journalled: "asserted",
			     * "claims" */
};

enum ag_enroll_status {
	AG_ENROLL_FAILED = 0, /* an error; see the ag_error */
	AG_ENROLL_DONE,
	AG_ENROLL_REFUSED,  /* the binding rule was not met */
	AG_ENROLL_EXISTS,   /* add: already enrolled */
	AG_ENROLL_MISSING   /* remove: no such enrolment */
};

struct ag_enroll_result {
	enum ag_enroll_status status;
	struct ag_binding binding; /* add: the rule applied */
	size_t remaining;          /* enrolments the account holds after */
	uint64_t journal_seq;      /* the change's journal row */
};

/*
 * Enrols method (a name from the policy's catalogue; an unknown name is
 * AG_ERR_INVALID with the near miss suggested) for account, under label
 * ("" or NULL for none), at time now.  The binding rule is checked in the
 * same transaction as the write, against the enrolments of that moment:
 * auth (NULL when the caller showed none) must meet it, or nothing is
 * written, res->status is AG_ENROLL_REFUSED and the result AG_ERR_INVALID.
 * A prohibited method (kba) is refused.  An enrolment that exists already
 * is AG_ENROLL_EXISTS (AG_ERR_INVALID).  The journal row ("enroll_add")
 * records the rule, the evidence and whether it was a bootstrap.
 */
AG_API ag_code ag_store_enroll_add(struct ag_store *s,
				   const struct ag_policy *p,
				   const char *account, const char *method,
				   const char *label,
				   const struct ag_enroll_auth *auth,
				   int64_t now, struct ag_enroll_result *res,
				   struct ag_error *err);

/* Removes one enrolment ("enroll_remove"); AG_ERR_NOT_FOUND with
 * AG_ENROLL_MISSING when there is none.  The method need not be in any
 * catalogue: an authenticator a policy dropped can still be removed. */
AG_API ag_code ag_store_enroll_remove(struct ag_store *s, const char *account,
				      const char *method, const char *label,
				      int64_t now, struct ag_enroll_result *res,
				      struct ag_error *err);

/* The enrolments of account (NULL: of every account), ordered by account,
 * method and label, appended to out. */
AG_API ag_code ag_store_enroll_list(struct ag_store *s, const char *account,
				    struct ag_enrolments *out,
				    struct ag_error *err);

/*
 * The level that enrolments v[0..n) reach together (ag_combine,
 * AG_USE_SIGNIN).  A method the policy's catalogue does not hold is
 * AG_ERR_INVALID: dropping it could lower the level, and with it what a
 * match_account workflow asks for.
 */
AG_API ag_code ag_enrolments_level(const struct ag_policy *p,
				   const struct ag_enrolment *v, size_t n,
				   struct ag_assurance *out,
				   struct ag_error *err);

/*
 * The account's own level: ag_enrolments_level over its enrolments.
 * AG_ERR_NOT_FOUND when it has none.  The level may be AAL0 (nothing
 * enrolled reaches AAL1); a caller that holds anything to it must treat
 * AAL0 as unknown.
 */
AG_API ag_code ag_store_account_level(struct ag_store *s,
				      const struct ag_policy *p,
				      const char *account,
				      struct ag_assurance *out,
				      struct ag_error *err);

/* The IAL (0..3) at which the account's holder was identity-proofed, as
 * recorded (ag_store_account_ial_set); -1 (AG_IAL_UNKNOWN) when nothing
 * is.  Recovery of an AAL3 account turns on it (SP 800-63B-4 §4.2.2.3),
 * so with the store a recovery request may raise it, never lower it. */
AG_API ag_code ag_store_account_ial(struct ag_store *s, const char *account,
				    int *ial, struct ag_error *err);

/* Records the account's IAL (0..3), creating the account when new, and
 * journals "account_ial" with the old and new values.  Setting what is
 * set writes nothing (*changed false; changed may be NULL). */
AG_API ag_code ag_store_account_ial_set(struct ag_store *s,
					const char *account, int ial,
					int64_t now, bool *changed,
					struct ag_error *err);

/*
 * Appends the journal rows not yet logged to log, in journal order, each
 * with ag_dlog_append (durable on return), and marks them logged.  Each
 * record is {"time", "type" (the change: "enroll_add", ...), "store",
 * "journal_seq", ...the change's fields}.  Rows are taken in batches under
 * the store's write lock, so two processes draining the same store into
 * two logs never both log a row (short of the crash described above).
 * drained (may be NULL) receives how many records were appended.  A row
 * whose fields cannot be made a record is logged as type
 * "journal_invalid" instead, so that the journal never stalls.  When the
 * log fails the drain stops with its error: the rows appended before
 * stay marked, the rest wait for the next drain.  A read-only store
 * cannot mark rows, and fails.
 */
AG_API ag_code ag_store_journal_drain(struct ag_store *s, struct ag_dlog *log,
				      uint64_t *drained, struct ag_error *err);

/* How many journal rows wait to be logged. */
AG_API ag_code ag_store_journal_pending(struct ag_store *s, uint64_t *n,
					struct ag_error *err);

/*
 * Appends one journal row of type `type` (a short lower_case name) with
 * fields (JSON object text) at now, in its own write transaction.  A row
 * whose fields hold "obligation": "alert" or "notify" is an obligation
 * the sinks deliver once it reaches the decision log.  The fields must be
 * a JSON object without the keys the drain adds ("time", "type",
 * "store", "journal_seq", "seq", "prev"), at most AG_STORE_FIELDS_MAX
 * bytes: anything else is AG_ERR_INVALID (or AG_ERR_LIMIT) and nothing
 * is written.  journal_seq (may be NULL) receives the row's seq.
 */
#define AG_STORE_FIELDS_MAX (16u * 1024u)

AG_API ag_code ag_store_journal_add(struct ag_store *s, const char *type,
				    const char *fields, int64_t now,
				    uint64_t *journal_seq,
				    struct ag_error *err);

/* Longest recovery code id, in bytes. */
#define AG_STORE_CODE_ID_MAX 128

/* Saved recovery codes are single use (SP 800-63B-4 §4.2.1.1).  Marks
 * code_id of account spent at now, with a journal row
 * "recovery_code_spent" ({"account", "code_id"}) in the same
 * transaction.  Spent before: AG_ERR_INVALID and *already true (nothing
 * is written).  already may be NULL. */
AG_API ag_code ag_store_code_spend(struct ag_store *s, const char *account,
				   const char *code_id, int64_t now,
				   bool *already, struct ag_error *err);

/* Has code_id of account been spent?  On an error *spent is true: a
 * caller that forgets to look at the return still refuses the code. */
AG_API ag_code ag_store_code_spent(struct ag_store *s, const char *account,
				   const char *code_id, bool *spent,
				   struct ag_error *err);

/* Does account hold a grant for workflow that is active at now and, when
 * host is not NULL, covers host?  A grant covers a host when it names it,
 * or when it names no hosts at all.  Active means approved (or needing no
 * approval), not denied or revoked, and activated <= now < expires.
 * Errors deny: *active is false on any error (the caller treats it as
 * false).  A read only: a break-glass grant's use is recorded by
 * ag_grant_use (the gate's hook), not here. */
AG_API ag_code ag_store_grant_active(struct ag_store *s, const char *account,
				     const char *workflow, const char *host,
				     int64_t now, bool *active,
				     struct ag_error *err);

/* ==== end of store ====================================================== */

/* ==== nhi: machine identities in the state store (docs/nhi.md) ========== */

/*
 * The store keeps the machine-identity inventory (aalgate/nhi.h) with its
 * history, for `aalgate nhi import|list|owner` and for the gate's
 * per-request look-up of a machine client (`aalgate serve --state`).
 *
 * Records are keyed by (issuer, id): a record that names no issuer is
 * one key, one per issuer another.  Each key has versions 1, 2, ...; one
 * is current, the others are history.  An import merges an inventory:
 *
 *  - a key the store lacks is added (version 1);
 *  - a record whose rotation date (last_rotated, else created) is later
 *    than the current version's is a rotation: the current version is
 *    kept as history, marked retired with the new rotation date as its
 *    retirement, and the record becomes the next version;
 *  - a record whose rotation date is earlier than the current version's
 *    (an older inventory) changes nothing: a rotated-out key never comes
 *    back by re-importing yesterday's file;
 *  - any other difference in a field updates the current version in
 *    place;
 *  - a record equal to the current version changes nothing, so that
 *    importing the same inventory twice changes nothing at all (no row,
 *    no journal entry);
 *  - nothing is ever deleted: a key the inventory does not list stays.
 *
 * Owners live in their own table.  An inventory with an owners list
 * (inv->has_owners) adds and updates the owners it lists.  One without
 * vouches for the owners its records name (ag_nhi_resolve takes them as
 * active): each that the store lacks is added as active; one it has is
 * left alone, so that an offboarding (ag_store_nhi_owner_set) is not
 * undone by the next import.  When records are read back their
 * owner_status is the store's judgement, owner_status_given set: a
 * record or owner entry that says offboarded makes it offboarded;
 * otherwise what the record itself stated; otherwise the owners table's
 * status; an owner the table lacks is unknown, and so is no owner.
 *
 * Every change writes journal rows in its transaction: "nhi_change"
 * rows ({"changes": [{"change": "added" | "rotated" | "changed" |
 * "owner_added" | "owner_changed", "issuer", "id", "version", ...}]},
 * as many as the changes need) and one "nhi_import" row with the counts
 * and the input files; "nhi_owner_set" for ag_store_nhi_owner_set.
 */

struct ag_nhi_inventory;

/* Longest id of a stored record or owner (and entry of a list field),
 * and longest other text (issuer, team, purpose, workflow, thumbprint),
 * in bytes: what an inventory may hold (AG_NHI_MAX_ID,
 * AG_NHI_MAX_FIELD). */
#define AG_STORE_NHI_ID_MAX 1024
#define AG_STORE_NHI_TEXT_MAX 4096
/* Most record versions (and owners) one listing returns. */
#define AG_STORE_NHI_LIST_MAX 1000000u

/* Where a stored record stands in its history. */
struct ag_store_nhi_version {
	uint32_t version; /* 1, 2, ... per (issuer, id) */
	bool current;
	int64_t imported; /* when this version was first imported */
	int64_t updated;  /* the last import that changed it */
	int64_t retired;  /* history: when it was rotated out (the next
			   * version's rotation date); 0 while current */
};

struct ag_store_nhi_entry {
	struct ag_nhi rec; /* owned; method and workflow_idx are -1 */
	struct ag_store_nhi_version v;
};

struct ag_store_nhi_list {
	struct ag_store_nhi_entry *v; /* by issuer, id, version */
	size_t n, alloc;
	struct ag_nhi_owner *owners;  /* by id */
	size_t n_owners, owners_alloc;
};

AG_API void ag_store_nhi_list_release(struct ag_store_nhi_list *l);

/* What an import did.  retired counts the versions it made history (each
 * rotation retires one) and the current versions the inventory itself
 * marked retired (those also count as changed). */
struct ag_store_nhi_counts {
	size_t added, rotated, changed, unchanged, retired;
	size_t older; /* records older than the stored version: left */
	size_t owners_added, owners_changed;
	uint64_t journal_seq; /* the "nhi_import" row; 0 when nothing
			       * changed */
};

/*
 * Merges inv (resolved with ag_nhi_resolve) into the store at now, as
 * described above, in one write transaction: every record is checked
 * first (sizes, UTF-8, no control characters in names; an error names
 * the record's file:line:col) and nothing is written unless all of it
 * is.  out receives the counts.
 */
AG_API ag_code ag_store_nhi_import(struct ag_store *s,
				   const struct ag_nhi_inventory *inv,
				   int64_t now,
				   struct ag_store_nhi_counts *out,
				   struct ag_error *err);

/* The current records (all: every version, history included) and every
 * owner, in one read, appended to out. */
AG_API ag_code ag_store_nhi_list(struct ag_store *s, bool all,
				 struct ag_store_nhi_list *out,
				 struct ag_error *err);

/*
 * Adds the store's current records and its owners to inv, for `nhi
 * audit --state` and the like: the store's path is added as a file
 * (ag_nhi_add_file); a record or owner inv already holds (from files the
 * caller read first) is left as inv has it.  Call ag_nhi_resolve after.
 */
AG_API ag_code ag_store_nhi_load(struct ag_store *s,
				 struct ag_nhi_inventory *inv,
				 struct ag_error *err);

/*
 * The gate's look-up of a machine client: the current record for (iss,
 * client) as ag_nhi_find picks it (the record naming iss, else the one
 * naming no issuer), into out (release it).  AG_ERR_NOT_FOUND when there
 * is none, or when no record could have that client or issuer (empty,
 * too long, control characters); any other error (a locked, damaged or
 * unreadable store) must deny.
 */
AG_API ag_code ag_store_nhi_get(struct ag_store *s, const char *iss,
				const char *client, struct ag_nhi *out,
				struct ag_error *err);

/*
 * Sets owner id's status (AG_OWNER_ACTIVE or AG_OWNER_OFFBOARDED; -1
 * keeps it, and a new owner is active) and team (NULL keeps it, ""
 * clears it), creating the owner when new ("nhi_owner_set", with what
 * was before).  Setting what is set already writes nothing and is AG_OK
 * with *changed false (changed may be NULL).
 */
AG_API ag_code ag_store_nhi_owner_set(struct ag_store *s, const char *id,
				      int status, const char *team,
				      int64_t now, bool *changed,
				      struct ag_error *err);

/* ==== end of nhi ======================================================== */

/* ==== grants: JIT elevation and break-glass (docs/govern.md) ============= */

/*
 * Just-in-time elevation instead of standing privilege, and break-glass
 * accounts (docs/govern.md).
 *
 * A grant gives one account one workflow (a workflow with `jit:`) for a
 * while.  Its account requests it, naming the duration (at most the
 * workflow's jit.max), a reason and, optionally, the hosts it is for (for
 * PAM, docs/man/pam_aalgate.8; a grant that names none covers every host).
 * Members of the workflow's jit.approvers, other than the requester, approve
 * it; jit.approvals distinct approvals activate it, in the transaction of the
 * approval that reaches the count, so two approvers at the same instant
 * activate it once.  Each approver shows a token that meets the workflow
 * itself: the gate's decision (ag_gate_decide) for that workflow, with
 * the approver's token, must allow, the network and device of the
 * approver aside.  A token is good for one approval: the same approver
 * twice on a grant, or the same token (its issuer and jti, or the token
 * itself when it has no jti) on a second approval anywhere, is refused as
 * a replay.  An active grant lasts its duration from activation; the
 * requester or an approver may revoke it sooner; an approver may deny a
 * pending one.
 *
 * An account marked break-glass (ag_store_break_glass_set) gets only
 * break-glass grants: they take break_glass.approvals approvals instead
 * (0: active at once), last at most break_glass.max, and, when
 * break_glass.alert is set, their activation writes a journal row with
 * "obligation": "alert".  Every use the gate allows on a break-glass
 * grant (ag_grant_use) writes an alert too, at most one per grant per
 * AG_GRANT_ALERT_INTERVAL seconds, so that a busy session does not flood
 * the sinks; a use whose alert cannot be written is refused.
 *
 * Accounts are named as in the store: a token's sub when the policy has
 * one issuer, "ISSUER sub" (the issuer, one space, the sub) when it has
 * several (ag_grant_account).  Approvers are "group:NAME" (the members of
 * the policy's groups: NAME) or one account name.
 *
 * Every change writes a journal row in its transaction: "grant_request",
 * "grant_approve", "grant_activate", "grant_deny", "grant_revoke",
 * "break_glass_use", "break_glass_mark", "break_glass_unmark".  A refusal
 * by the rules (not one for a missing or invalid token) changes nothing
 * and writes one row "grant_refused" ({"op", "caller", "grant" or
 * "workflow", "refusal", "message"}) on its own, so that replays and
 * self-approvals show in the decision log; when even that cannot be
 * written the refusal stands.
 */

struct ag_claims;
struct ag_gate;

/* Longest reason, in bytes; most hosts one grant names; longest host. */
#define AG_GRANT_REASON_MAX 1024
#define AG_GRANT_HOSTS_MAX 32
#define AG_GRANT_HOST_MAX 253
/* How long a request waits for its approvals: an older pending request
 * is expired (ag_grant_state_at) and can no longer be approved. */
#define AG_GRANT_PENDING_MAX (24 * 3600)
/* Least time between two alerts for uses of one break-glass grant. */
#define AG_GRANT_ALERT_INTERVAL 60
/* Most grants one listing returns. */
#define AG_GRANT_LIST_MAX 10000

enum ag_grant_state {
	AG_GRANT_PENDING = 0, /* "pending": waits for approvals */
	AG_GRANT_ACTIVE,      /* "active" */
	AG_GRANT_EXPIRED,     /* "expired": was active, now >= expires; or
			       * waited too long for approvals */
	AG_GRANT_DENIED,      /* "denied" */
	AG_GRANT_REVOKED,     /* "revoked" */
	AG_GRANT_STATE_COUNT
};

/* Stable names: "pending", "active", ... */
AG_API const char *ag_grant_state_name(enum ag_grant_state s);

struct ag_grant_approval {
	char *approver;
	int64_t time;
};

/* One grant.  Strings are owned.  Times are epoch seconds, 0 when not
 * (yet) set. */
struct ag_grant {
	uint64_t id;
	char *account; /* who asked, and holds it */
	char *workflow;
	char *reason;
	char **hosts; /* none: every host */
	size_t n_hosts;
	bool break_glass;
	int approvals_needed; /* as the policy said at the request */
	int64_t duration;     /* asked for, seconds */
	int64_t requested, activated, expires, closed;
	char *closed_by; /* who denied or revoked it, or NULL */
	int64_t last_alert;
	enum ag_grant_state state; /* as stored: never AG_GRANT_EXPIRED */
	struct ag_grant_approval *approvals;
	size_t n_approvals;
};

AG_API void ag_grant_release(struct ag_grant *g);

/* The grant's state at now: an active grant is expired once now >=
 * expires, a pending one once it has waited AG_GRANT_PENDING_MAX. */
AG_API enum ag_grant_state ag_grant_state_at(const struct ag_grant *g,
					     int64_t now);

struct ag_grants {
	struct ag_grant *v;
	size_t n;
	size_t alloc;
	bool truncated; /* a listing left older grants out */
};

AG_API void ag_grants_release(struct ag_grants *l);

/* Why an operation was refused.  Names (ag_grant_refusal_name) are
 * stable: they appear in the CLI's and the HTTP API's answers. */
enum ag_grant_refusal {
	AG_GREF_NONE = 0,         /* "none" */
	AG_GREF_IDENTITY,         /* "identity": the token names no account */
	AG_GREF_UNKNOWN_WORKFLOW, /* "unknown_workflow" */
	AG_GREF_NO_JIT,           /* "no_jit": the workflow has no jit */
	AG_GREF_TOO_LONG,         /* "too_long": over jit.max or
				   * break_glass.max */
	AG_GREF_BAD_REQUEST,      /* "bad_request": no reason, bad host... */
	AG_GREF_NOT_FOUND,        /* "not_found" */
	AG_GREF_NOT_PENDING,      /* "not_pending": approve or deny a grant
				   * that is active or closed */
	AG_GREF_CLOSED,           /* "closed": revoke one that is over */
	AG_GREF_SELF_APPROVAL,    /* "self_approval" */
	AG_GREF_NOT_APPROVER,     /* "not_approver" */
	AG_GREF_ASSURANCE,        /* "assurance": the requester's or approver's
				   * token does not meet the workflow */
	AG_GREF_REPLAY,           /* "replay": an approver again, or a token
				   * used for an approval before */
	AG_GREF_NOT_ALLOWED,      /* "not_allowed": revoke by one who is
				   * neither requester nor approver */
	AG_GREF__COUNT
};

AG_API const char *ag_grant_refusal_name(enum ag_grant_refusal r);

/* What a grant operation works with.  The gate must be built from the
 * policy (ag_gate_new); both must outlive the call. */
struct ag_grant_ctx {
	const struct ag_policy *policy;
	const struct ag_gate *gate;
	struct ag_store *store;
};

/* Who is asking: the claims of a token the caller verified
 * (ag_verifier_check) at now.  token (the compact JWS) tells reused
 * tokens apart when they carry no jti; it may be NULL when claims has
 * one. */
struct ag_grant_caller {
	const struct ag_claims *claims;
	const char *token;
	size_t token_len;
};

/* A request.  Strings are borrowed for the call. */
struct ag_grant_ask {
	const char *workflow;
	int64_t duration; /* seconds */
	const char *reason;
	const char *const *hosts;
	size_t n_hosts;
};

struct ag_grant_result {
	enum ag_grant_refusal refusal; /* AG_GREF_NONE unless refused */
	bool activated;       /* this call activated the grant */
	uint64_t journal_seq; /* the last journal row written, or 0 */
	struct ag_grant grant; /* the grant after the call, when there is
				* one (release with ag_grant_release) */
};

/*
 * The store's name for the subject of a token from issuer iss: sub when
 * the policy has one issuer (and iss is it), "ISSUER sub" when it has
 * several.  AG_ERR_INVALID for an issuer the policy does not hold, an
 * empty or over-long name, or control characters.
 */
AG_API ag_code ag_grant_account(const struct ag_policy *p, const char *iss,
				const char *sub, char *buf, size_t len,
				struct ag_error *err);

/* Is account among the approvers of workflow w (jit.approvers)?  False
 * when w has no approvers, or names a group the policy does not define. */
AG_API bool ag_grant_is_approver(const struct ag_policy *p,
				 const struct ag_workflow *w,
				 const char *account);

/*
 * The operations.  Each returns AG_OK when done; AG_ERR_INVALID with
 * res->refusal set (and err saying why, naming limits) when refused;
 * another code for an error (a busy, read-only or full store...), which
 * the caller must treat as a refusal.  res->grant holds the grant as it
 * is after the call whenever it could be read.
 *
 * request: the caller's account asks for ask.  With no approvals needed
 * (jit.approvals 0, or break_glass.approvals 0 for a break-glass
 * account) it is active at once.
 * approve: one approval of pending grant id (see above).
 * deny: an approver closes a pending grant.
 * revoke: the requester or an approver closes a pending or active grant.
 */
AG_API ag_code ag_grant_request(const struct ag_grant_ctx *ctx,
				const struct ag_grant_caller *caller,
				const struct ag_grant_ask *ask, int64_t now,
				struct ag_grant_result *res,
				struct ag_error *err);
AG_API ag_code ag_grant_approve(const struct ag_grant_ctx *ctx,
				const struct ag_grant_caller *caller,
				uint64_t id, int64_t now,
				struct ag_grant_result *res,
				struct ag_error *err);
AG_API ag_code ag_grant_deny(const struct ag_grant_ctx *ctx,
			     const struct ag_grant_caller *caller, uint64_t id,
			     int64_t now, struct ag_grant_result *res,
			     struct ag_error *err);
AG_API ag_code ag_grant_revoke(const struct ag_grant_ctx *ctx,
			       const struct ag_grant_caller *caller,
			       uint64_t id, int64_t now,
			       struct ag_grant_result *res,
			       struct ag_error *err);

/* One grant; AG_ERR_NOT_FOUND when there is none. */
AG_API ag_code ag_grant_get(struct ag_store *s, uint64_t id,
			    struct ag_grant *out, struct ag_error *err);

/* The grants of account (NULL: every grant), newest first, at most max
 * of them (0 or more than AG_GRANT_LIST_MAX: AG_GRANT_LIST_MAX), appended
 * to out; out->truncated says that older ones were left out. */
AG_API ag_code ag_grant_list(struct ag_store *s, const char *account,
			     size_t max, struct ag_grants *out,
			     struct ag_error *err);

/* Grants open at a time, of one workflow and kind: pending (waiting for
 * approvals, not yet AG_GRANT_PENDING_MAX old) and active (not yet
 * expired). */
struct ag_grant_tally {
	char *workflow;
	bool break_glass;
	uint64_t pending, active;
};

struct ag_grant_tallies {
	struct ag_grant_tally *v;
	size_t n;
	size_t alloc;
};

/* Most (workflow, kind) rows ag_grant_tally returns. */
#define AG_GRANT_TALLY_MAX 1024

AG_API void ag_grant_tallies_release(struct ag_grant_tallies *t);

/* The grants open at now, by workflow and kind (break-glass or not), in
 * workflow order; the states are those of ag_grant_state_at.  A read;
 * more than AG_GRANT_TALLY_MAX rows is AG_ERR_LIMIT. */
AG_API ag_code ag_grant_tally(struct ag_store *s, int64_t now,
			      struct ag_grant_tallies *out,
			      struct ag_error *err);

/*
 * The gate's step 7 (docs/gate.md): may the subject (iss, sub) use
 * workflow at now, on host?  True when the account holds an active grant
 * that covers host (ag_store_grant_active); with host NULL (the gate's
 * hook is not told the host) only a grant that names no hosts counts, as
 * a grant for some hosts is not one for all.  When that grant is a
 * break-glass one, the use is alerted ("break_glass_use", "obligation":
 * "alert") at most once per AG_GRANT_ALERT_INTERVAL; if that row cannot
 * be written the use is refused.  *allowed is false on any error.
 */
AG_API ag_code ag_grant_use(struct ag_store *s, const struct ag_policy *p,
			    const char *iss, const char *sub,
			    const char *workflow, const char *host,
			    int64_t now, bool *allowed, struct ag_error *err);

/* ag_grant_use's answer without its alert: writes nothing.  For a
 * what-if, whose time is the caller's to choose: recording its use
 * would let a chosen time hold back the alert of a real one. */
AG_API ag_code ag_grant_held(struct ag_store *s, const struct ag_policy *p,
			     const char *iss, const char *sub,
			     const char *workflow, const char *host,
			     int64_t now, bool *allowed,
			     struct ag_error *err);

/* Marks account as a break-glass account (on) or not, creating the
 * account when new ("break_glass_mark" / "break_glass_unmark").  Marking
 * what is marked already writes nothing and is AG_OK with *changed
 * false (changed may be NULL). */
AG_API ag_code ag_store_break_glass_set(struct ag_store *s,
					const char *account, bool on,
					int64_t now, bool *changed,
					struct ag_error *err);

/* Is account marked break-glass?  False for an unknown account. */
AG_API ag_code ag_store_break_glass_get(struct ag_store *s,
					const char *account, bool *on,
					struct ag_error *err);

/* The accounts marked break-glass, in id order: at most max of them, more
 * is AG_ERR_LIMIT.  Free each of *ids and *ids itself. */
AG_API ag_code ag_store_break_glass_list(struct ag_store *s, size_t max,
					 char ***ids, size_t *n,
					 struct ag_error *err);

/*
 * /v1/grants (the gate's HTTP API for grants).  The server hands over the
 * request; ag_grant_http verifies the bearer token with v at now (the
 * caller is its subject, and nothing in the body says otherwise), does
 * what was asked and fills out:
 *
 *   POST /v1/grants              {"workflow": W, "duration": "1h" or
 *                                 seconds, "reason": R, "hosts": [H]?}
 *                                -> 201 {"result": "done", "activated",
 *                                "grant": {...ag_grant_json...}}
 *   POST /v1/grants/ID/approve   -> 200, likewise (also deny, revoke)
 *   GET  /v1/grants              -> 200 {"grants": [...]}: the caller's,
 *                                and those the caller may approve
 *   GET  /v1/grants/ID           -> 200 {"grant": {...}}, or 404
 *
 * A refusal is {"result": "refused", "refusal": NAME, "message"} with 400
 * (bad request, too long, unknown or non-JIT workflow), 401 (no or an
 * invalid token: send a challenge), 403 (the rules) or 404 (no such
 * grant, or one the caller may not see); a store that fails (locked,
 * read-only, full) is 503 {"result": "error", "message"}: nothing
 * changed.  ctx->store NULL (no --state) is 503.
 */
struct ag_verifier;

struct ag_grant_http {
	int status;
	char *body;         /* JSON text (malloc'd) */
	bool challenge;     /* 401: send WWW-Authenticate: Bearer */
	bool invalid_token; /* ...with error="invalid_token" */
	const char *allow;  /* 405: the Allow header's value (static) */
};

AG_API void ag_grant_http(const struct ag_grant_ctx *ctx,
			  struct ag_verifier *v, const char *method,
			  const char *path, const char *bearer, bool bad_auth,
			  const char *body, size_t len, int64_t now,
			  struct ag_grant_http *out);
AG_API void ag_grant_http_release(struct ag_grant_http *out);

/* The grant as a JSON object text (malloc'd; NULL when out of memory):
 * {"id", "account", "workflow", "state" (at now), "break_glass",
 * "reason", "hosts", "duration", "requested", "activated", "expires",
 * "closed", "closed_by", "approvals_needed", "approvals": [{"approver",
 * "time"}]}; times are RFC 3339 or null. */
AG_API char *ag_grant_json(const struct ag_grant *g, int64_t now);

/* ==== end of grants ===================================================== */

/* ==== sinks: alerts and notifications (docs/govern.md) =================== */

/*
 * Obligations are records of the hash-chained decision log whose JSON
 * holds "obligation": "alert" or "notify" (state changes reach the log
 * through the store's journal, ag_store_journal_drain).  A dispatcher
 * reads the log and hands each obligation to every sink of the policy's
 * `sinks:` (struct ag_sink) whose events take it, in log order:
 *
 *  - file:    appends the record as one line (O_APPEND, fdatasync), the
 *             file created 0600, never through a symbolic link;
 *  - exec:    runs the command (no shell, no PATH search) in its own
 *             process group with the record and a newline on stdin, a
 *             minimal environment (PATH, AALGATE_SINK, AALGATE_SEQ,
 *             AALGATE_OBLIGATION, AALGATE_RECORD_SHA256) and "/" as its
 *             directory; exit status 0 is success, and the process group
 *             is killed at the timeout;
 *  - webhook: POSTs the record (Content-Type: application/json,
 *             Idempotency-Key: the record's SHA-256) with libcurl;
 *             a 2xx answer is success, redirects are not followed.
 *
 * What is delivered is the record's line, byte for byte: a receiver can
 * check it against the log, and drop a repeat by its seq (or by "store"
 * and "journal_seq", which name a state change).
 *
 * Each sink has its own cursor, the file LOG.sink-NAME beside the log:
 * "SEQ OFFSET SHA256\n", the last record the sink has dealt with (an
 * obligation delivered, or a record it does not take), where that
 * record's line starts, and the SHA-256 of the line.  The cursor moves
 * only after a delivery succeeded, and is replaced atomically (a
 * temporary file, fsync, rename, fsync of the folder).  Delivery is at
 * least once: a crash between a delivery and the cursor's move delivers
 * that obligation again.  Removing the cursor delivers the whole log
 * again.  A lock file LOG.sink-NAME.lock keeps two processes from
 * delivering to one sink from one log at the same time.
 *
 * Reading resumes at the cursor: the record there must still hash to the
 * cursor's SHA-256, and every record after it must carry the next seq
 * and, as prev, the SHA-256 of the line before it (the checks of
 * ag_dlog_verify_file).  A record that fails stops delivery to the sink
 * at that line, loudly, until the log is repaired or the cursor removed:
 * nothing is skipped.  Only complete, newline-terminated records are
 * read, so a log being appended to is safe to follow.  Memory is bounded
 * by one record whatever the log's size.
 *
 * A sink that fails is retried with a backoff that doubles from
 * backoff_min to backoff_max, for ever; every failure is counted and
 * reported (the first at once, then at most once a minute with how many
 * were not, and the recovery), and nothing is dropped.
 */

struct ag_sinks;

struct ag_sinks_opts {
	unsigned backoff_min_ms; /* first retry after this; 0 means 1000 */
	unsigned backoff_max_ms; /* the cap; 0 means 300000 (5 min) */
	unsigned poll_ms;        /* the thread's pause between rounds; 0
				  * means 1000 */
	/* Where reports go (failures, recoveries, a log that does not
	 * verify): one line each, without a newline.  NULL: standard error,
	 * after prefix (NULL: "aalgate: "). */
	void (*report)(void *ctx, const char *line);
	void *report_ctx;
	const char *prefix;
};

/* A dispatcher for the decision log at log_path (which need not exist
 * yet).  opts may be NULL for the defaults.  It has no sinks until
 * ag_sinks_configure. */
AG_API ag_code ag_sinks_new(const char *log_path,
			    const struct ag_sinks_opts *opts,
			    struct ag_sinks **out, struct ag_error *err);

/* Stops and joins the thread (ag_sinks_start), if any, and frees d.  A
 * delivery in progress is given up (its obligation stays waiting). */
AG_API void ag_sinks_free(struct ag_sinks *d);

/* Sets the sinks to deliver to, copying them; the next round applies
 * them.  A sink whose name and configuration are unchanged keeps its
 * retry state; a changed one is tried again at once.  Thread-safe: a
 * server calls it after each reload. */
AG_API ag_code ag_sinks_configure(struct ag_sinks *d,
				  const struct ag_sink *sinks, size_t n,
				  struct ag_error *err);

struct ag_sinks_round {
	uint64_t delivered;    /* obligations delivered in this round */
	size_t failing;        /* sinks whose last attempt failed */
	size_t broken;         /* of those, sinks stopped by a record or a
				* cursor that does not verify */
	int64_t next_retry_ms; /* until the earliest retry; -1 when none */
};

/*
 * One round: every sink whose retry is due delivers, in log order, what
 * waits after its cursor, up to the first failure.  Returns AG_OK with
 * res filled (failures are in res and the reports, not the return), or
 * AG_ERR_NOMEM / AG_ERR_USAGE.  Rounds are serialised; do not mix them
 * with ag_sinks_start.
 */
AG_API ag_code ag_sinks_deliver(struct ag_sinks *d,
				struct ag_sinks_round *res);

/* Runs rounds in a thread of d's own (all signals blocked) every
 * poll_ms, sooner when a retry is due, until ag_sinks_free. */
AG_API ag_code ag_sinks_start(struct ag_sinks *d, struct ag_error *err);

/* Asks the round in progress to give up and every later round to do
 * nothing.  Only sets a flag: safe in a signal handler. */
AG_API void ag_sinks_stop(struct ag_sinks *d);

struct ag_sink_state {
	uint64_t cursor;      /* seq of the last record dealt with */
	uint64_t delivered;   /* obligations delivered by this dispatcher */
	uint64_t failures;    /* failed attempts by this dispatcher */
	bool failing;         /* the last attempt failed */
	bool broken;          /* ...because the log or the cursor does not
			       * verify */
	int64_t retry_in_ms;  /* failing: until the next attempt */
	char error[512];      /* the last failure; "" when none */
};

/* The state of the configured sink called name (AG_ERR_NOT_FOUND when
 * there is none).  Thread-safe. */
AG_API ag_code ag_sinks_state(struct ag_sinks *d, const char *name,
			      struct ag_sink_state *out);

/* The cursor file of sink name for the log at log_path: "LOG.sink-NAME".
 * AG_ERR_USAGE when it does not fit in len or name is not a sink name. */
AG_API ag_code ag_sink_cursor_path(const char *log_path, const char *name,
				   char *buf, size_t len);

struct ag_sink_status {
	uint64_t cursor;        /* seq of the last record dealt with */
	uint64_t records;       /* the last complete record's seq */
	uint64_t waiting;       /* obligations after the cursor it takes */
	uint64_t first_waiting; /* the first one's seq; 0 when none */
	bool broken;            /* the cursor or a record after it does not
				 * verify; nothing after it is counted */
	char why[512];          /* broken: "FILE:LINE: reason" */
};

/* What waits for sink s in the log at log_path, read without taking the
 * sink's lock or changing anything.  AG_OK (with out->broken for a log
 * that does not verify), or AG_ERR_IO for a log or cursor that cannot be
 * read. */
AG_API ag_code ag_sink_status(const char *log_path, const struct ag_sink *s,
			      struct ag_sink_status *out,
			      struct ag_error *err);

/* ==== end of sinks ====================================================== */

/* ==== helpdesk: help-desk resets (docs/govern.md) ======================== */

/*
 * Recovery against the state store, and help-desk resets (docs/govern.md,
 * §4.3; NIST SP 800-63B-4 §4.2).  ag_recovery_check (the recovery section
 * below) decides on evidence; the functions here give it what only the
 * store knows and carry out what it obliges (src/govern/helpdesk.c):
 *
 *  - the account's own level is that of its enrolments in the store.  A
 *    request's "level" or "enrolled" may raise it, never lower it, and
 *    only the store's enrolments count as authenticators bound to the
 *    account (for "authenticator" evidence);
 *  - code ids the store has spent are refused: a code is used once
 *    (§4.2.1.1);
 *  - on acceptance every code id the check invalidates is spent, in the
 *    order of the ids, before the recovery counts: of two recoveries
 *    racing with one code, one spends it first and the other is refused
 *    (and a code spent by a recovery refused that way stays spent);
 *  - a journal row records the outcome.  Accepted: "recovery" (or
 *    "helpdesk_reset") with "obligation": "notify" and "notify": the
 *    addresses to tell (§4.2.3, §4.6: at least two, postal ones for
 *    AAL3, as the check says).  Refused: "recovery_refused" (or
 *    "helpdesk_reset_refused") with the reasons and no obligation.
 *
 * The account's IAL is the store's when it records one (the request may
 * raise it, never lower it), and the addresses notified are the store's
 * addresses of record only (ag_store_address_set): a request's address
 * that is not on record is left out, with the warning
 * address_not_on_record, and an account with none on record is refused
 * (no_notification_address).  Whoever sends the request is otherwise
 * trusted for what it says (POST /v1/recovery answers trusted proxies
 * only), and the journal row keeps it.
 *
 * Fail closed: unless a call returns AG_OK, the recovery is refused
 * (res->accepted false), whatever was done before the error.  Without a
 * store (s NULL) only the check is made, on the levels the request gives.
 */

/* Where an issued code was sent, or a notification goes (§4.2.1.2,
 * §4.6).  Names (ag_recovery_channel_name) are stable. */
enum ag_recovery_channel {
	AG_CHANNEL_NONE = 0,
	AG_CHANNEL_EMAIL,            /* "email" */
	AG_CHANNEL_SMS,              /* "sms" */
	AG_CHANNEL_VOICE,            /* "voice" */
	AG_CHANNEL_POSTAL,           /* "postal": within the contiguous US */
	AG_CHANNEL_POSTAL_NONCONUS,  /* "postal_outside_contiguous_us" */
	AG_CHANNEL_COUNT
};

/* The channel called name, or AG_CHANNEL_NONE; then *near (near may be
 * NULL) is the closest name, when one is close, else NULL. */
AG_API enum ag_recovery_channel ag_recovery_channel_of(const char *name,
						       const char **near);

/* Most notification addresses an account has, or a recovery takes. */
#define AG_RECOVERY_NOTIFY_MAX 16
#define AG_RECOVERY_ADDRESS_MAX 320 /* bytes of one address */

/* A notification address of the account (§4.6).  address may be NULL when
 * the caller only knows the kind. */
struct ag_recovery_address {
	enum ag_recovery_channel channel;
	const char *address;
};

/* The account's notification addresses of record, which every recovery
 * of it notifies (SP 800-63B-4 §4.6: at least two, postal for AAL3), in
 * (channel, address) order; at most AG_RECOVERY_NOTIFY_MAX.  The strings
 * are out's: ag_store_addresses_release frees them. */
struct ag_store_addresses {
	struct ag_recovery_address *v;
	size_t n;
};

AG_API ag_code ag_store_address_list(struct ag_store *s, const char *account,
				     struct ag_store_addresses *out,
				     struct ag_error *err);
AG_API void ag_store_addresses_release(struct ag_store_addresses *a);

/* Adds (add true) or removes an address of record.  An address is 1 to
 * AG_RECOVERY_ADDRESS_MAX bytes of UTF-8 without control characters.
 * Journals "address_add" or "address_remove" with, when the account had
 * addresses before, "obligation": "notify" to every one of them: a
 * change of address is told to the addresses it may take over from.
 * Adding what is there or removing what is not writes nothing (*changed
 * false; changed may be NULL).  More than AG_RECOVERY_NOTIFY_MAX
 * addresses is AG_ERR_LIMIT. */
AG_API ag_code ag_store_address_set(struct ag_store *s, const char *account,
				    enum ag_recovery_channel channel,
				    const char *address, bool add,
				    int64_t now, bool *changed,
				    struct ag_error *err);

/* Adds v[0..n) to account's addresses of record in one transaction:
 * as ag_store_address_set for each, except that every change is told to
 * the addresses held before the batch only (a first load of an account
 * tells nobody).  *added (may be NULL) counts the addresses that were
 * not there.  Past AG_RECOVERY_NOTIFY_MAX nothing is added (AG_ERR_LIMIT). */
AG_API ag_code ag_store_address_add_many(struct ag_store *s,
					 const char *account,
					 const struct ag_recovery_address *v,
					 size_t n, int64_t now, size_t *added,
					 struct ag_error *err);

/*
 * A file of addresses of record: CSV (RFC 4180) with a header that names
 * the columns account, channel and address, in any order, and one address
 * per record; blank lines are skipped.  Each row is checked as the store
 * checks it (an unknown channel gets a near miss); an error names
 * file:line:column.  Rows are returned sorted by account, then in file
 * order.  At most AG_ADDRESS_FILE_ROWS rows, and AG_RECOVERY_NOTIFY_MAX
 * distinct addresses per account.
 */
#define AG_ADDRESS_FILE_ROWS 1000000u
#define AG_ADDRESS_FILE_MAX (256u * 1024u * 1024u)

struct ag_address_row {
	char *account;
	struct ag_recovery_address a; /* a.address is the row's */
	unsigned line, col;
};

struct ag_address_file {
	struct ag_address_row *v;
	size_t n, alloc;
};

AG_API ag_code ag_address_file_parse(const char *name, const char *buf,
				     size_t len, struct ag_address_file *out,
				     struct ag_error *err);
AG_API void ag_address_file_release(struct ag_address_file *f);

struct ag_claims;
struct ag_recovery_request;
struct ag_recovery_result;

/* What the state store added to a recovery. */
struct ag_recovery_state {
	bool stored;                     /* a store was used */
	struct ag_assurance store_level; /* what the account's enrolments
					  * reach together */
	size_t n_enrolments;
	/* The level the request claimed ("level", or what its "enrolled"
	 * reach, the higher), or AG_AAL_UNSET; ignored when lower than the
	 * store's (request_ignored). */
	int request_aal;
	bool request_ignored;
	/* The IAL the store records (AG_IAL_UNKNOWN when none), and the
	 * request's when the store's replaced it for being lower. */
	int store_ial;
	int request_ial;
	bool request_ial_ignored;
	/* The account's addresses of record, from the store: the ones a
	 * recovery notifies, whatever the request names.  Addresses in the
	 * request that are not among them are counted, and not used. */
	struct ag_recovery_address of_record[AG_RECOVERY_NOTIFY_MAX];
	char of_record_text[AG_RECOVERY_NOTIFY_MAX]
			   [AG_RECOVERY_ADDRESS_MAX + 1];
	size_t n_of_record;
	size_t request_addresses_ignored;
	/* Evidence whose code id this call spent: bit i for evidence i. */
	uint32_t spent;
	/* A code was spent by another recovery between the check and the
	 * spending: refused. */
	bool raced;
	/* An error came from the store (busy, read-only, I/O...), not from
	 * the request. */
	bool store_failed;
	uint64_t journal_seq; /* the outcome's journal row; 0 when none */
};

/* Names of the journal rows ("via") for where a recovery came from. */
#define AG_RECOVERY_VIA_CLI "cli"
#define AG_RECOVERY_VIA_HTTP "http"

/*
 * Parses a recovery request for use with a store: as
 * ag_recovery_request_parse, except that "enrolled" and "level" may be
 * left out, "account" is required and "now" is refused (a recovery that
 * spends codes happens at the current time).
 */
AG_API ag_code ag_recovery_request_parse_stored(const char *name,
						const char *buf, size_t len,
						struct ag_recovery_request *out,
						struct ag_error *err);

/*
 * Recovery of r->account at now, against the store s (NULL: the check
 * alone) as described above.  via is journalled (AG_RECOVERY_VIA_...).
 * name is used in messages.  Returns AG_OK when a decision was made:
 * res->accepted says which, res->notes why (with a warning when the
 * request claimed a lower level than the store's).  AG_ERR_NOT_FOUND
 * when the store holds no enrolment of the account (its level is not
 * known: refused); AG_ERR_INVALID for a request the policy cannot read
 * (an unknown method); any other error is the store's (st->store_failed).
 *
 * res->notify borrows its addresses: from *st with a store (the addresses
 * of record), from r without one.  Keep both while res is used; st is
 * required with a store (AG_ERR_USAGE otherwise).
 */
AG_API ag_code ag_recovery_run(struct ag_store *s, const struct ag_policy *p,
			       const struct ag_recovery_request *r,
			       const char *name, const char *via, int64_t now,
			       struct ag_recovery_result *res,
			       struct ag_recovery_state *st,
			       struct ag_error *err);

/*
 * The answer of `aalgate recover check` and POST /v1/recovery, as JSON
 * text (malloc'd, ending in a newline; NULL when out of memory):
 * {"accepted", "account", "account_aal", "account_ial", "held_to",
 * "rule", "basis", "now", "evidence": [{"kind", ..., "status"}],
 * "refusals": [{"reason", "evidence", "text"}], "warnings": [...],
 * "notify": {"postal", "addresses"} or null, "invalidate_codes",
 * "issue_saved_code"}, and with a store (st not NULL and st->stored)
 * "state": {"store_aal", "request_aal", "request_ignored",
 * "addresses_of_record", "request_addresses_ignored", "codes_spent",
 * "journal_seq"}.
 */
AG_API char *ag_recovery_answer(const struct ag_recovery_request *r,
				const struct ag_recovery_result *res,
				const struct ag_recovery_state *st,
				int64_t now);

/*
 * A help-desk reset (docs/govern.md).  SP 800-63B-4 §4.2.1 allows a CSP
 * agent's interaction as a recovery method only on a documented risk
 * analysis; aalgate holds it to the table of §4.2.2 instead: what the
 * agent verified is the evidence, and it must meet the account's own
 * level as a self-service recovery would.
 *
 * The request is the recovery request (ag_recovery_request_parse; the
 * same evidence kinds) with "account" required and these keys more:
 *
 *   "ticket":   "INC-1234"             optional, journalled
 *   "verified": ["date of birth", ...] optional: every other check the
 *                                      agent made, as the tool names it
 *   "lost":     [{"method": "totp", "label": "phone"}]
 *               optional, with a store: authenticators the subscriber
 *               reports lost, removed on acceptance (§4.4)
 *
 * Knowledge-based verification is refused with the reason, under any
 * name: an evidence "kind" or a "verified" step such as "date_of_birth",
 * "ssn_last4", "mothers_maiden_name", "security_question", "address" or
 * "employee_id" (ag_helpdesk_kba), and an "authenticator" whose method
 * is such a name.  SP 800-63A-4 §2.5.1: KBV SHALL NOT be used for
 * identity verification; SP 800-63B-4 §4.2.1 names the recovery methods
 * and KBA is none of them.  One KBA item refuses the reset, even beside
 * enough evidence: the agent relied on it.  Other "verified" steps do
 * not count and do not refuse (the answer marks them not counted).
 *
 * The agent shows a token (verified by the caller with
 * ag_verifier_check).  Its assurance (ag_claims_assurance) must be AAL2
 * or more; when the policy defines a workflow named "helpdesk", the
 * gate's decision for it (ag_gate_decide) must also allow the token.
 * An agent never resets their own account.
 *
 * On acceptance with a store, besides ag_recovery_run's work: the lost
 * authenticators are removed (ag_store_enroll_remove, each journalled)
 * and the row "helpdesk_reset" names the agent (iss, sub, level), the
 * ticket, the evidence kinds, what was removed and "rebind": true.  The
 * other enrolments stay: the subscriber binds new authenticators under
 * the binding rule (ag_store_enroll_add).
 */

/* Most "verified" steps and "lost" authenticators; longest step. */
#define AG_HELPDESK_STEPS_MAX 32
#define AG_HELPDESK_LOST_MAX 16
#define AG_HELPDESK_STEP_TEXT 128
#define AG_HELPDESK_TICKET_MAX 128

/* One "verified" step: the text as given, and its KBA category
 * (ag_helpdesk_kba) or NULL when it is not KBA. */
struct ag_helpdesk_step {
	char *text;
	const char *kba;
};

/* Evidence the tool gave under a KBA name: its index, the kind or
 * method as given, and the category. */
struct ag_helpdesk_kba_item {
	size_t evidence;
	char *given;
	const char *kba;
};

struct ag_helpdesk_lost {
	char *method;
	char *label; /* "" when none */
};

/* The help-desk part of a request.  Strings are owned. */
struct ag_helpdesk_request {
	char *ticket; /* NULL when not given */
	struct ag_helpdesk_step *verified;
	size_t n_verified;
	struct ag_helpdesk_kba_item *kba; /* evidence given as KBA */
	size_t n_kba;
	struct ag_helpdesk_lost *lost;
	size_t n_lost;
};

/*
 * The KBA category of a name an agent's tool gives a check, or NULL:
 * the name is read without case, with every run of other characters
 * than letters and digits as one separator ("Date of Birth",
 * "date-of-birth" and "dob" are "date_of_birth").  Categories:
 * "kba", "date_of_birth", "government_id", "address",
 * "mothers_maiden_name", "security_question", "employee_details",
 * "account_details", "personal_details".  A recovery evidence kind is
 * never KBA, except "kba", and neither are runs that only look like it
 * ("email address", "IP address", "smart card").  The words are a list:
 * a name they miss is not KBA to aalgate, so a tool should name its
 * checks plainly.
 */
AG_API const char *ag_helpdesk_kba(const char *name);

/*
 * Parses a help-desk request into rec (the recovery part) and out.
 * stored: for use with a store (as ag_recovery_request_parse_stored).
 * p (may be NULL) lets an "authenticator" with a method the catalogue
 * does not hold but that names KBA be refused as KBA rather than as an
 * unknown method.  Messages and codes as ag_recovery_request_parse.
 * On failure both are released.
 */
AG_API ag_code ag_helpdesk_request_parse(const struct ag_policy *p,
					 const char *name, const char *buf,
					 size_t len, bool stored,
					 struct ag_recovery_request *rec,
					 struct ag_helpdesk_request *out,
					 struct ag_error *err);

AG_API void ag_helpdesk_request_release(struct ag_helpdesk_request *r);

/* Why the agent may not reset.  Names (ag_helpdesk_refusal_name) are
 * stable. */
enum ag_helpdesk_refusal {
	AG_HD_OK = 0,          /* "ok" */
	AG_HD_NO_AGENT,        /* "agent_unidentified": no claims, or no
				* sub */
	AG_HD_AGENT_AAL,       /* "agent_below_aal2" */
	AG_HD_AGENT_WORKFLOW,  /* "agent_workflow": the policy's helpdesk
				* workflow does not allow the token */
	AG_HD_SELF,            /* "self_reset" */
	AG_HD__COUNT
};

AG_API const char *ag_helpdesk_refusal_name(enum ag_helpdesk_refusal r);

#define AG_HELPDESK_WORKFLOW "helpdesk"

struct ag_helpdesk_result {
	bool accepted;
	enum ag_helpdesk_refusal agent_refusal;
	char agent_why[320];
	struct ag_assurance agent;     /* what the agent's token proves */
	bool kba;                      /* KBA was given: refused */
	struct ag_recovery_state state;
	uint32_t removed;              /* "lost" removed: bit i for lost i */
};

/*
 * The reset of rec->account by the agent whose verified claims are
 * agent, at now, as described above.  res receives the recovery check
 * (KBA steps among its refusals; an acceptance taken back when the agent
 * or KBA refuses), out the rest: the agent's refusal, if any, is
 * out->agent_refusal and out->agent_why.  Returns as ag_recovery_run;
 * AG_ERR_INVALID also for "lost" without a store, or naming an
 * authenticator the account does not hold or one shown as evidence.
 * out->accepted is false unless AG_OK.
 */
AG_API ag_code ag_helpdesk_reset(struct ag_store *s, const struct ag_policy *p,
				 const struct ag_recovery_request *rec,
				 const struct ag_helpdesk_request *hd,
				 const char *name,
				 const struct ag_claims *agent, int64_t now,
				 struct ag_recovery_result *res,
				 struct ag_helpdesk_result *out,
				 struct ag_error *err);

/* The answer of `aalgate helpdesk reset`: ag_recovery_answer's object,
 * its "accepted" for the reset as a whole and the agent's refusal, if
 * any, first among "refusals" ({"reason": "agent_below_aal2", ...}), and
 * "agent": {"iss", "sub", "aal", "phishing_resistant", "hardware",
 * "refusal"}, "ticket", "verified": [{"step", "kba", "counted"}],
 * "lost": [{"method", "label", "removed"}]. */
AG_API char *ag_helpdesk_answer(const struct ag_recovery_request *rec,
				const struct ag_helpdesk_request *hd,
				const struct ag_claims *agent,
				const struct ag_recovery_result *res,
				const struct ag_helpdesk_result *out,
				int64_t now);

/* ==== end of helpdesk =================================================== */


/* ==== recovery: account recovery held to the account's own level ======== */

/*
 * Account recovery (docs/govern.md; NIST SP 800-63B-4 §4.2).  A subscriber
 * who lost the authenticators of their account shows recovery evidence;
 * ag_recovery_check says whether that evidence meets the rule of the
 * account's own level (SP 800-63B-4 §4.2.2) and what must follow: the
 * notification of §4.2.3 / §4.6, and the invalidation of the codes used
 * (§4.2.1.1).
 *
 * The evidence is what a verifier has already checked: a code that was
 * entered correctly, an authenticator that was used successfully, an
 * identity proofing session that succeeded.  aalgate does not see codes;
 * it decides whether what was shown is enough, and fails closed: one
 * piece of evidence that is refused (expired, reused, KBA, not bound to
 * the account...) refuses the whole recovery, even if the rest would
 * have been enough.  The caller should present only evidence that counts.
 *
 * These are pure functions of the policy's catalogue (src/core/recovery.c).
 * The account's own level is ag_combine of its enrolled methods
 * (AG_USE_SIGNIN); the AAL2 rule "two recovery codes obtained by
 * different methods, or one code plus a bound single-factor
 * authenticator" is ag_combine with AG_USE_RECOVERY, which is handed one
 * recovery-code method per recovery method of §4.2.1 (saved, issued,
 * recovery contact) that the evidence holds.
 */

/* The recovery methods of SP 800-63B-4 §4.2.1, and what else a claimant
 * may show.  Names (ag_recovery_kind_name) are stable. */
enum ag_recovery_kind {
	AG_RECOVERY_SAVED_CODE = 0, /* §4.2.1.1: "saved_code" */
	AG_RECOVERY_ISSUED_CODE,    /* §4.2.1.2: "issued_code" */
	AG_RECOVERY_CONTACT,        /* §4.2.1.3: "recovery_contact", a code
				     * issued to a trusted associate */
	AG_RECOVERY_REPROOFING,     /* §4.2.1.4: "reproofing" */
	AG_RECOVERY_AUTHENTICATOR,  /* §4.2.2.2: "authenticator", one still
				     * bound to the account */
	AG_RECOVERY_KBA,            /* "kba": never evidence */
	AG_RECOVERY_KIND_COUNT
};

/* Identity proofing types (SP 800-63A-4 §2.1.3).  Names
 * (ag_proofing_name) are stable. */
enum ag_proofing {
	AG_PROOFING_UNKNOWN = 0,       /* counts as the weakest */
	AG_PROOFING_REMOTE_UNATTENDED, /* "remote_unattended" */
	AG_PROOFING_REMOTE_ATTENDED,   /* "remote_attended" */
	AG_PROOFING_ONSITE_UNATTENDED, /* "onsite_unattended" */
	AG_PROOFING_ONSITE_ATTENDED,   /* "onsite_attended" */
	AG_PROOFING_COUNT
};

AG_API const char *ag_recovery_kind_name(enum ag_recovery_kind k);
AG_API const char *ag_recovery_channel_name(enum ag_recovery_channel c);
AG_API const char *ag_proofing_name(enum ag_proofing p);

/* An issued_at that was not given. */
#define AG_TIME_UNSET INT64_MIN
/* An account whose identity proofing is not known. */
#define AG_IAL_UNKNOWN (-1)

/* Most evidence, notification addresses, used code ids and enrolled
 * methods one check takes; more is AG_ERR_LIMIT. */
#define AG_RECOVERY_EVIDENCE_MAX 16
/* AG_RECOVERY_NOTIFY_MAX is above, with the addresses. */
#define AG_RECOVERY_USED_MAX 4096
#define AG_RECOVERY_ENROLLED_MAX 64

/* One piece of evidence.  Strings are borrowed for the call. */
struct ag_recovery_evidence {
	enum ag_recovery_kind kind;
	/* issued_code, recovery_contact: where the code was sent */
	enum ag_recovery_channel channel;
	/* issued_code, recovery_contact: when it was sent (epoch seconds) */
	int64_t issued_at;
	/* saved_code (required: a saved code is used once), issued_code and
	 * recovery_contact (optional): the code's id, never the code */
	const char *code_id;
	/* issued_code (optional): the address the code was sent to.  With
	 * the state store, an issued code sent anywhere but an address of
	 * record of its kind is refused (§4.2.1.2), and one that does not
	 * say is warned of (code_destination_unknown). */
	const char *sent_to;
	/* authenticator: a method name from the policy's catalogue */
	const char *method;
	/* reproofing: the IAL (1..3) of the repeated proofing, how it was
	 * done, and whether it included a biometric comparison against the
	 * characteristic collected at the initial proofing */
	int ial;
	enum ag_proofing proofing;
	bool biometric;
};

/* The account being recovered.  Pointers are borrowed for the call. */
struct ag_recovery_account {
	/* Its enrolled methods, catalogue indexes (may be NULL, 0). */
	const uint16_t *enrolled;
	size_t n_enrolled;
	/* Its own level when known otherwise (0..3), or AG_AAL_UNSET.  With
	 * enrolled methods too, the higher of the two applies. */
	int aal;
	/* The IAL it was proofed at: 0 (not proofed), 1..3, or
	 * AG_IAL_UNKNOWN. */
	int ial;
	/* Where notifications go (§4.6). */
	const struct ag_recovery_address *notify;
	size_t n_notify;
	/* notify are the account's addresses of record (the state
	 * store's): an issued code must then have gone to one of them
	 * (§4.2.1.2; see ag_recovery_evidence.sent_to). */
	bool of_record;
};

/* Does a code sent by channel to sent_to reach the address a?  Phones
 * (SMS and voice alike) compare by digits and a leading +, e-mail
 * addresses without case, postal addresses exactly on their own
 * channel. */
AG_API bool ag_recovery_reaches(enum ag_recovery_channel channel,
				const char *sent_to,
				const struct ag_recovery_address *a);

/* Why evidence or a recovery was refused, or a warning.  Names
 * (ag_recovery_reason_name) are stable. */
enum ag_recovery_reason {
	AG_RR_OK = 0,             /* "ok": the evidence counts */
	/* refusals of one piece of evidence */
	AG_RR_INVALID,            /* "invalid": a field out of range or missing */
	AG_RR_KBA,                /* "kba" */
	AG_RR_PROHIBITED,         /* "prohibited": a prohibited method */
	AG_RR_CODE_ID_MISSING,    /* "code_id_missing": saved code, no id */
	AG_RR_CODE_REUSED,        /* "code_reused" */
	AG_RR_CODE_EXPIRED,       /* "code_expired" */
	AG_RR_CODE_FUTURE,        /* "code_from_future": issued after now */
	AG_RR_UNKNOWN_METHOD,     /* "unknown_method" */
	AG_RR_NOT_ENROLLED,       /* "not_enrolled" */
	AG_RR_NOT_AUTHENTICATOR,  /* "not_an_authenticator" */
	AG_RR_SAME_CHANNEL,       /* "same_channel": proves the same phone as
				   * an issued code */
	AG_RR_NOT_PROOFED,        /* "account_not_proofed" */
	AG_RR_REPROOFING_AAL1,    /* "reproofing_at_aal1" */
	AG_RR_REPROOFING_BELOW,   /* "reproofing_below_account_ial" */
	AG_RR_NOT_ONSITE_BIOMETRIC, /* "not_onsite_biometric" */
	AG_RR_NOT_OF_RECORD,      /* "code_not_sent_to_address_of_record" */
	/* refusals of the recovery as a whole */
	AG_RR_NO_EVIDENCE,        /* "no_evidence" */
	AG_RR_AAL1_NEEDS_CODE,    /* "aal1_needs_code" */
	AG_RR_SAME_METHOD,        /* "same_method": codes, all of one method */
	AG_RR_AAL2_INSUFFICIENT,  /* "aal2_insufficient" */
	AG_RR_AAL3_NEEDS_ONSITE,  /* "aal3_needs_onsite_biometric" */
	AG_RR_NO_NOTIFY_ADDRESS,  /* "no_notification_address" */
	/* warnings: they never refuse */
	AG_RW_LEVEL_ZERO,         /* "account_level_zero" */
	AG_RW_LEVEL_MISMATCH,     /* "level_mismatch" */
	AG_RW_IAL_UNKNOWN,        /* "account_ial_unknown" */
	AG_RW_FEW_ADDRESSES,      /* "few_notification_addresses" */
	AG_RW_NO_POSTAL,          /* "no_postal_address" */
	AG_RW_IAL_MISMATCH,       /* "ial_mismatch": below the store's */
	AG_RW_CODE_DESTINATION,   /* "code_destination_unknown": an issued
				   * code without sent_to, with the store */
	AG_RW_NOT_ON_RECORD,      /* "address_not_on_record": a request's
				   * address the store does not hold */
	AG_RR__COUNT
};

AG_API const char *ag_recovery_reason_name(enum ag_recovery_reason r);

/* The rule of SP 800-63B-4 §4.2.2 that applied.  Names
 * (ag_recovery_rule_name) are stable. */
enum ag_recovery_rule {
	AG_RULE_AAL1 = 0,     /* "aal1": §4.2.2.1 */
	AG_RULE_AAL2,         /* "aal2": §4.2.2.2 */
	AG_RULE_AAL3_AS_AAL2, /* "aal3_as_aal2": §4.2.2.3, not proofed at IAL3 */
	AG_RULE_AAL3_IAL3     /* "aal3_ial3": §4.2.2.3, proofed at IAL3 */
};

AG_API const char *ag_recovery_rule_name(enum ag_recovery_rule r);

/* What met the rule.  Names (ag_recovery_basis_name) are stable. */
enum ag_recovery_basis {
	AG_BASIS_NONE = 0,           /* "none": refused */
	AG_BASIS_CODE,               /* "code": AAL1, one code */
	AG_BASIS_TWO_CODES,          /* "two_codes": of different methods */
	AG_BASIS_CODE_AUTHENTICATOR, /* "code_and_authenticator" */
	AG_BASIS_REPROOFING,         /* "reproofing" */
	AG_BASIS_ONSITE_BIOMETRIC    /* "onsite_biometric_reproofing" */
};

AG_API const char *ag_recovery_basis_name(enum ag_recovery_basis b);

#define AG_RECOVERY_NOTES_MAX 48
#define AG_RECOVERY_NOTE_TEXT 320

/* A refusal or a warning, with the evidence it concerns (an index into
 * the evidence, or -1 for the recovery as a whole) and a sentence that
 * says why, citing the standard. */
struct ag_recovery_note {
	enum ag_recovery_reason reason;
	bool refusal;
	int evidence;
	char text[AG_RECOVERY_NOTE_TEXT];
};

struct ag_recovery_result {
	bool accepted;
	int account_aal;  /* the account's own level, 0..3 */
	int held_to;      /* the level whose rule applied, 1..3 */
	int account_ial;  /* as given: 0..3 or AG_IAL_UNKNOWN */
	enum ag_recovery_rule rule;
	enum ag_recovery_basis basis;
	/* per evidence: AG_RR_OK or the reason it was refused */
	enum ag_recovery_reason status[AG_RECOVERY_EVIDENCE_MAX];
	size_t n_status;
	struct ag_recovery_note notes[AG_RECOVERY_NOTES_MAX];
	size_t n_notes;
	/* Obligations, set only when accepted.  notify: the account's
	 * notification addresses that must be told (§4.6: all but postal
	 * ones; postal ones too for an AAL3 account, or when there is no
	 * other kind), borrowed from the account's list: see
	 * ag_recovery_run for whose that is. */
	struct ag_recovery_address notify[AG_RECOVERY_NOTIFY_MAX];
	size_t n_notify;
	bool notify_postal;
	/* Evidence indexes whose code ids are now spent and must be
	 * invalidated (§4.2.1.1), and whether a new saved recovery code must
	 * be issued (§4.2.1.1: after the use of a saved code). */
	size_t invalidate[AG_RECOVERY_EVIDENCE_MAX];
	size_t n_invalidate;
	bool issue_saved_code;
};

/* How long an issued code sent over channel stays valid, in seconds
 * (SP 800-63B-4 §4.2.1.2), with the 24 hours §4.2.1.3 allows for a code
 * sent to a recovery contact when contact is true.  0 for AG_CHANNEL_NONE
 * or an unknown channel.  A code is valid while now - issued_at <= this. */
AG_API int64_t ag_recovery_code_validity(enum ag_recovery_channel channel,
					 bool contact);

/*
 * Checks evidence ev[0..n) for the recovery of account acct at time now,
 * against policy p's catalogue.  used[0..n_used) are the code ids already
 * spent on this account (saved codes are single-use, §4.2.1.1).
 *
 * Returns AG_OK when a decision was made: res->accepted says which, and
 * res->notes why.  AG_ERR_USAGE for NULL pointers, an enrolled index
 * outside the catalogue or an account aal/ial out of range;
 * AG_ERR_LIMIT for more than the _MAX above.  Whatever the return,
 * res->accepted is false unless it is AG_OK and the evidence met the rule.
 */
AG_API ag_code ag_recovery_check(const struct ag_policy *p,
				 const struct ag_recovery_account *acct,
				 const struct ag_recovery_evidence *ev, size_t n,
				 const char *const *used, size_t n_used,
				 int64_t now, struct ag_recovery_result *res);

/*
 * A recovery check request as JSON (`aalgate recover check`, and later
 * POST /v1/recovery):
 *
 *   {"account": "alice",                      optional, echoed
 *    "enrolled": ["password", "totp"],        and/or "level": 0..3
 *    "ial": 2,                                optional: 0..3
 *    "notify": [{"channel": "email", "address": "a@example.org"}],
 *    "now": "2025-06-01T12:00:00Z",           or epoch seconds
 *    "used_codes": ["s1"],                    optional
 *    "evidence": [{"kind": "saved_code", "code_id": "s2"}, ...]}
 *
 * Evidence keys: kind; channel and issued_at (issued_code,
 * recovery_contact); code_id; method (authenticator); ial, proofing and
 * biometric (reproofing).  Times are RFC 3339 or epoch seconds.  The
 * request owns its strings.
 */
struct ag_recovery_request {
	char *account;                    /* NULL when not given */
	char **enrolled;                  /* method names */
	size_t n_enrolled;
	bool has_enrolled;
	int aal;                          /* AG_AAL_UNSET when not given */
	int ial;                          /* AG_IAL_UNKNOWN when not given */
	struct ag_recovery_address *notify;
	size_t n_notify;
	struct ag_recovery_evidence *evidence;
	size_t n_evidence;
	char **used;
	size_t n_used;
	int64_t now;
	bool has_now;
};

/* Largest request read, in bytes. */
#define AG_RECOVERY_REQUEST_MAX (64u * 1024u)

/*
 * Parses a request.  name is used in messages: "NAME:LINE:COL: ..." for
 * JSON syntax, "NAME: evidence[2]: unknown key 'chanel'; did you mean
 * 'channel'?" for content.  An unknown key, kind, channel or proofing
 * type, a wrong type, a key that does not belong to the evidence's kind
 * and a missing required field are errors (AG_ERR_SYNTAX for JSON syntax,
 * AG_ERR_INVALID otherwise, AG_ERR_LIMIT past the caps).  On failure out
 * is released.
 */
AG_API ag_code ag_recovery_request_parse(const char *name, const char *buf,
					 size_t len,
					 struct ag_recovery_request *out,
					 struct ag_error *err);

AG_API void ag_recovery_request_release(struct ag_recovery_request *r);

/*
 * Resolves the request's enrolled method names against p's catalogue into
 * idx[0..max) and fills acct (which borrows from r and idx), then checks
 * that every evidence method is in the catalogue.  An unknown name is
 * AG_ERR_INVALID, "NAME: unknown method 'totpp' in enrolled; did you
 * mean 'totp'?".
 */
AG_API ag_code ag_recovery_request_account(const struct ag_policy *p,
					   const struct ag_recovery_request *r,
					   const char *name, uint16_t *idx,
					   size_t max,
					   struct ag_recovery_account *acct,
					   struct ag_error *err);

/* ==== end of recovery =================================================== */

#ifdef __cplusplus
}
#endif

#endif
