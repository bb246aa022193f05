/*
 * The state store's inside: the backend interface.
 *
 * struct ag_store (public, opaque) holds a pointer to a backend's table of
 * operations.  The generic layer (store.c, first half) validates input,
 * applies the assurance rules and builds journal records; a backend only
 * stores and fetches, and gives each change its transaction.  A new
 * backend (PostgreSQL, planned) implements struct ag_store_ops and an
 * open function; no caller changes.
 *
 * Contract for every operation: return an ag_code and fill err; never
 * abort; a busy, read-only, full or failing database is an error (the
 * caller denies).
 */
#ifndef AG_GOVERN_STORE_INT_H
#define AG_GOVERN_STORE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "aalgate/govern.h"

/* Called by a change operation inside its write transaction, with the
 * account's enrolments as they are at that moment.  Returns AG_OK and
 * *fields (malloc'd JSON object text: the journal row's fields) to go on,
 * or an error to roll back. */
typedef ag_code (*ag_store_prepare_fn)(void *arg,
				       const struct ag_enrolments *current,
				       char **fields, struct ag_error *err);

/* One journal row, as handed to a drain. */
struct ag_journal_row {
	uint64_t seq;
	int64_t time;
	const char *type;
	const char *fields; /* JSON object text, as stored: untrusted */
	size_t fields_len;
};

/* Called by a drain for each row in order, inside the drain's write
 * transaction.  Returns AG_OK with *logged_as (the decision log's seq) to
 * mark the row logged, or an error to stop (rows handed over before are
 * still marked). */
typedef ag_code (*ag_store_emit_fn)(void *arg, const struct ag_journal_row *row,
				    uint64_t *logged_as, struct ag_error *err);

/* A backend's transaction (opaque to the generic layer). */
struct ag_store_tx;

struct ag_store_ops {
	const char *name;
	/* In one write transaction: read e->account's enrolments (at most
	 * AG_STORE_ENROLMENTS_MAX + 1), call prepare, create the account
	 * if new, insert e, write a journal row of type "enroll_add" with
	 * the fields prepare returned; *journal_seq is that row's seq. */
	ag_code (*enroll_add)(struct ag_store *s, const struct ag_enrolment *e,
			      ag_store_prepare_fn prepare, void *arg,
			      uint64_t *journal_seq, struct ag_error *err);
	/* Appends the enrolments of account (NULL: all) to out, ordered by
	 * account, method, label.  More than max is AG_ERR_LIMIT. */
	ag_code (*enroll_list)(struct ag_store *s, const char *account,
			       size_t max, struct ag_enrolments *out,
			       struct ag_error *err);
	/* Hands unlogged journal rows to emit in seq order and marks each
	 * one it accepts, in batches, each batch under the write lock. */
	ag_code (*journal_drain)(struct ag_store *s, ag_store_emit_fn emit,
				 void *arg, uint64_t *n, struct ag_error *err);
	ag_code (*journal_pending)(struct ag_store *s, uint64_t *n,
				   struct ag_error *err);
	/* Releases the backend (s->be); the generic layer frees s. */
	void (*close)(struct ag_store *s);

	/*
	 * Transactions, for the rules that read and write several things at
	 * once (grants, recovery codes): the generic layer begins one, calls
	 * the tx_ operations below and commits or aborts.  A write
	 * transaction holds the write lock from its start (so that what it
	 * read stays true until it commits); a read one sees one snapshot.
	 * tx_commit and tx_abort end the transaction and give back its
	 * connection, whatever happens.
	 */
	ag_code (*tx_begin)(struct ag_store *s, bool write,
			    struct ag_store_tx **tx, struct ag_error *err);
	ag_code (*tx_commit)(struct ag_store_tx *tx, struct ag_error *err);
	void (*tx_abort)(struct ag_store_tx *tx);
	/* A journal row; *seq is its seq. */
	ag_code (*tx_journal)(struct ag_store_tx *tx, int64_t time,
			      const char *type, const char *fields,
			      uint64_t *seq, struct ag_error *err);
	/* Enrolments inside a transaction: account's, appended to out in
	 * the order of enroll_list (more than max is AG_ERR_LIMIT); delete
	 * one, which must exist.  For changes that go with others in one
	 * transaction (a help-desk reset). */
	ag_code (*tx_enroll_list)(struct ag_store_tx *tx, const char *account,
				  size_t max, struct ag_enrolments *out,
				  struct ag_error *err);
	ag_code (*tx_enroll_del)(struct ag_store_tx *tx, const char *account,
				 const char *method, const char *label,
				 struct ag_error *err);
	/* Recovery codes: spent (AG_OK, *spent) and spend (insert). */
	ag_code (*tx_code_get)(struct ag_store_tx *tx, const char *account,
			       const char *code_id, bool *spent,
			       struct ag_error *err);
	ag_code (*tx_code_put)(struct ag_store_tx *tx, const char *account,
			       const char *code_id, int64_t now,
			       struct ag_error *err);
	/* Accounts: whether it exists and is marked break-glass; set the
	 * mark (creating the account). */
	ag_code (*tx_account_get)(struct ag_store_tx *tx, const char *account,
				  bool *exists, bool *break_glass,
				  struct ag_error *err);
	ag_code (*tx_account_mark)(struct ag_store_tx *tx, const char *account,
				   bool break_glass, int64_t now,
				   struct ag_error *err);
	/* The accounts marked break-glass, in id order, at most max (more
	 * is AG_ERR_LIMIT); *ids and its strings are the caller's. */
	ag_code (*tx_break_glass_list)(struct ag_store_tx *tx, size_t max,
				       char ***ids, size_t *n,
				       struct ag_error *err);
	/* The account's IAL (AG_IAL_UNKNOWN when not recorded or no
	 * account); set it (creating the account). */
	ag_code (*tx_account_ial_get)(struct ag_store_tx *tx,
				      const char *account, int *ial,
				      struct ag_error *err);
	ag_code (*tx_account_ial_set)(struct ag_store_tx *tx,
				      const char *account, int ial,
				      int64_t now, struct ag_error *err);
	/* The account's addresses of record, in (channel, address) order,
	 * at most max (more is AG_ERR_LIMIT); add one (creating the
	 * account) or delete one, *changed saying whether a row was. */
	ag_code (*tx_address_list)(struct ag_store_tx *tx, const char *account,
				   size_t max, struct ag_store_addresses *out,
				   struct ag_error *err);
	ag_code (*tx_address_put)(struct ag_store_tx *tx, const char *account,
				  enum ag_recovery_channel channel,
				  const char *address, bool add, int64_t now,
				  bool *changed, struct ag_error *err);
	/* Grants.  insert sets g->id and stores g with its hosts; get reads
	 * one with hosts and approvals (AG_ERR_NOT_FOUND when there is
	 * none); update writes state, activated, expires, closed, closed_by,
	 * last_alert and break_glass (a request whose account was marked
	 * since becomes a break-glass grant when approved). */
	ag_code (*tx_grant_insert)(struct ag_store_tx *tx, struct ag_grant *g,
				   struct ag_error *err);
	ag_code (*tx_grant_get)(struct ag_store_tx *tx, uint64_t id,
				struct ag_grant *out, struct ag_error *err);
	ag_code (*tx_grant_update)(struct ag_store_tx *tx,
				   const struct ag_grant *g,
				   struct ag_error *err);
	/* The grants of account (NULL: all), newest first, at most max;
	 * out->truncated when there are more. */
	ag_code (*tx_grant_list)(struct ag_store_tx *tx, const char *account,
				 size_t max, struct ag_grants *out,
				 struct ag_error *err);
	/* The id of the newest grant of account for workflow active at now
	 * that covers host (NULL: any); 0 when none. */
	ag_code (*tx_grant_find)(struct ag_store_tx *tx, const char *account,
				 const char *workflow, const char *host,
				 int64_t now, uint64_t *id,
				 struct ag_error *err);
	/* The grants open at now (active, or pending for less than
	 * pending_max), counted by workflow and kind, in workflow order;
	 * more than max rows is AG_ERR_LIMIT. */
	ag_code (*tx_grant_tally)(struct ag_store_tx *tx, int64_t now,
				  int64_t pending_max, size_t max,
				  struct ag_grant_tallies *out,
				  struct ag_error *err);
	/* Approvals.  used: has token_key served an approval before
	 * (anywhere)?  add records one; the store refuses a second
	 * (grant, approver) or a second token_key (AG_ERR_INVALID). */
	ag_code (*tx_token_used)(struct ag_store_tx *tx, const char *token_key,
				 bool *used, struct ag_error *err);
	ag_code (*tx_approval_add)(struct ag_store_tx *tx, uint64_t id,
				   const char *approver,
				   const char *token_key, int64_t now,
				   struct ag_error *err);
	/*
	 * Machine identities (docs/nhi.md).  A record is keyed by (issuer,
	 * id, version); issuer "" stands for a record that names none.  One
	 * version of each (issuer, id) is current.  get reads the current
	 * version into rec (owner_status as the record stated it, or
	 * AG_OWNER_UNKNOWN with owner_status_given false) and its place
	 * into v (*found false and nothing read when there is none).
	 * insert adds v->version as the current one; update rewrites the
	 * fields of the current version v->version; retire makes it history
	 * (not current, status retired, retired at when).
	 */
	ag_code (*tx_nhi_get)(struct ag_store_tx *tx, const char *issuer,
			      const char *id, struct ag_nhi *rec,
			      struct ag_store_nhi_version *v, bool *found,
			      struct ag_error *err);
	ag_code (*tx_nhi_insert)(struct ag_store_tx *tx,
				 const struct ag_nhi *rec, uint32_t version,
				 int64_t now, struct ag_error *err);
	ag_code (*tx_nhi_update)(struct ag_store_tx *tx,
				 const struct ag_nhi *rec, uint32_t version,
				 int64_t now, struct ag_error *err);
	ag_code (*tx_nhi_retire)(struct ag_store_tx *tx, const char *issuer,
				 const char *id, uint32_t version,
				 int64_t when, int64_t now,
				 struct ag_error *err);
	/* Appends the current versions (all: every version), ordered by
	 * issuer, id and version, to out->v; more than max is
	 * AG_ERR_LIMIT. */
	ag_code (*tx_nhi_list)(struct ag_store_tx *tx, bool all, size_t max,
			       struct ag_store_nhi_list *out,
			       struct ag_error *err);
	/* Owners: one (*found false when absent), upsert, every one by id
	 * (appended to out->owners; more than max is AG_ERR_LIMIT). */
	ag_code (*tx_owner_get)(struct ag_store_tx *tx, const char *id,
				struct ag_nhi_owner *out, bool *found,
				struct ag_error *err);
	ag_code (*tx_owner_put)(struct ag_store_tx *tx,
				const struct ag_nhi_owner *o, int64_t now,
				struct ag_error *err);
	ag_code (*tx_owner_list)(struct ag_store_tx *tx, size_t max,
				 struct ag_store_nhi_list *out,
				 struct ag_error *err);
};

/* The generic layer's checks, shared with grants.c. */
ag_code ag_store_check_name(const char *what, const char *v, size_t min,
			    size_t max, struct ag_error *err);
/* A host name as grants store it: lower case, no final dot. */
void ag_store_host_fold(const char *host, char *buf, size_t len);
/* Writes a journal row inside tx after checking type and fields. */
ag_code ag_store_tx_journal(struct ag_store *s, struct ag_store_tx *tx,
			    const char *type, const char *fields, int64_t now,
			    uint64_t *seq, struct ag_error *err);
/* ag_store_code_spend inside tx (a write one). */
ag_code ag_store_tx_code_spend(struct ag_store *s, struct ag_store_tx *tx,
			       const char *account, const char *code_id,
			       int64_t now, bool *already,
			       struct ag_error *err);
/* ag_store_enroll_remove inside tx (a write one). */
ag_code ag_store_tx_enroll_remove(struct ag_store *s, struct ag_store_tx *tx,
				  const char *account, const char *method,
				  const char *label, int64_t now,
				  struct ag_enroll_result *res,
				  struct ag_error *err);

#define AG_STORE_ID_LEN 32

struct ag_store {
	const struct ag_store_ops *ops;
	void *be;   /* the backend's own state */
	char *path; /* for messages */
	char id[AG_STORE_ID_LEN + 1];
};

/* The SQLite backend: opens path into s (s->path is set), sets s->ops,
 * s->be and s->id. */
ag_code ag_store_sqlite_open(struct ag_store *s, const char *path,
			     const struct ag_store_opts *o,
			     struct ag_error *err);

/* The schema version the SQLite backend writes. */
#define AG_STORE_SQLITE_SCHEMA 6

#endif
