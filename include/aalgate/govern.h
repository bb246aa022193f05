/*
 * aalgate govern: the state face (DESIGN §4).
 *
 * The sections below are independent: each starts with a banner.
 */
#ifndef AALGATE_GOVERN_H
#define AALGATE_GOVERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aalgate/aalgate.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== store: the state store and enrolment (DESIGN §4.1) ================ */

/*
 * The state store keeps what the gate and the govern commands share:
 * accounts, their enrolled authenticators and, from them, each account's
 * own level.  Behind struct ag_store sits a backend (embedded SQLite in
 * WAL mode now; PostgreSQL later, DESIGN §9) chosen at open; callers never
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
 * Authenticator binding (DESIGN §4.2; SP 800-63B-4, binding an
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

/* ==== end of store ====================================================== */

/* ==== grants: JIT elevation and break-glass (DESIGN §4.4) =============== */
/* ==== end of grants ===================================================== */

/* ==== sinks: alerts and notifications (DESIGN §4.6) ===================== */
/* ==== end of sinks ====================================================== */

/* ==== helpdesk: help-desk resets (DESIGN §4.3) ========================== */
/* ==== end of helpdesk =================================================== */


/* ==== recovery: account recovery held to the account's own level ======== */

/*
 * Account recovery (DESIGN §4.2; NIST SP 800-63B-4 §4.2).  A subscriber
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
#define AG_RECOVERY_NOTIFY_MAX 16
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
	/* authenticator: a method name from the policy's catalogue */
	const char *method;
	/* reproofing: the IAL (1..3) of the repeated proofing, how it was
	 * done, and whether it included a biometric comparison against the
	 * characteristic collected at the initial proofing */
	int ial;
	enum ag_proofing proofing;
	bool biometric;
};

/* A notification address of the account (§4.6).  address may be NULL when
 * the caller only knows the kind. */
struct ag_recovery_address {
	enum ag_recovery_channel channel;
	const char *address;
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
};

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
	/* Obligations, set only when accepted.  notify: indexes into the
	 * account's notification addresses, every one that must be told
	 * (§4.6: all but postal ones; postal ones too for an AAL3 account,
	 * or when there is no other kind). */
	size_t notify[AG_RECOVERY_NOTIFY_MAX];
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
