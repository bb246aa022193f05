/*
 * The estate and the audit (docs/audit.md).
 *
 * An estate is a set of accounts and the access paths that reach them.
 * It is loaded from one or more estate files (or built by an importer
 * through ag_estate_add_account / ag_estate_add_path), resolved, and then
 * audited: every account gets its effective assurance, computed as the
 * greatest fixed point of docs/internals/assurance.md in O(V+E), a witness
 * chain, and the findings AG-P01..AG-P13. */
#ifndef AALGATE_AUDIT_H
#define AALGATE_AUDIT_H

#include <stdio.h>

#include "aalgate/aalgate.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AG_NONE UINT32_MAX /* "no account" or "no path" */

/* Largest estate file read, in bytes. */
#define AG_ESTATE_MAX_BYTES (1024u * 1024u * 1024u)
/* Most accounts or paths in one estate. */
#define AG_ESTATE_MAX_ITEMS (50u * 1000u * 1000u)

enum ag_path_kind {
	AG_PATH_LOGIN = 0,
	AG_PATH_RECOVERY,
	AG_PATH_HELPDESK,
	AG_PATH_RENEWAL,
	AG_PATH_STEPUP,
	AG_PATH_LEGACY,
	AG_PATH_API,
	AG_PATH_BREAK_GLASS,
	AG_PATH_ENROLLMENT,
	AG_PATH_KIND_COUNT
};

AG_API const char *ag_path_kind_name(enum ag_path_kind k);

struct ag_estate;

/* A new, empty estate audited against policy (which must outlive it). */
AG_API ag_code ag_estate_new(const struct ag_policy *policy,
			     struct ag_estate **out);
AG_API void ag_estate_free(struct ag_estate *e);

/* Adds the accounts and paths of an estate file.  May be called for
 * several files; ids are unique across all of them. */
AG_API ag_code ag_estate_load(struct ag_estate *e, const char *path,
			      struct ag_error *err);
AG_API ag_code ag_estate_load_buffer(struct ag_estate *e, const char *name,
				     const char *buf, size_t len,
				     struct ag_error *err);

/* A position in an input file; 0 means unknown. */
struct ag_pos {
	unsigned line, col;
};

/* An account as an importer describes it.  Strings are copied. */
struct ag_account_spec {
	const char *id;
	enum ag_account_kind kind;
	const char *workflow; /* NULL for none */
	const char *const *groups;
	size_t n_groups;
	const char *email; /* NULL for none */
	const char *phone;
	const char *owner;
	bool standing;
	bool break_glass;
	const char *file; /* where it came from, for messages; may be NULL */
	unsigned line, col;
	struct ag_pos email_pos; /* where email and phone are written */
	struct ag_pos phone_pos;
};

/* A path as an importer describes it.  Strings are copied. */
struct ag_path_spec {
	const char *id;
	enum ag_path_kind kind;
	const char *const *to; /* account ids, "group:NAME" or "*" */
	size_t n_to;
	const char *const *methods;
	size_t n_methods;
	const char *const *via;
	size_t n_via;
	bool device_check;
	bool monitored;
	int64_t lifetime; /* seconds, or -1 for none */
	bool approval;
	int approvals; /* -1 when not stated */
	bool alert;
	const char *description; /* where it comes from, for people; or NULL */
	/* For credentials (api keys, client secrets): seconds since the
	 * epoch, or 0 when unknown.  AG-N02 and AG-N06 use them. */
	int64_t created;
	int64_t last_rotated;
	int64_t last_used;
	const char *file;
	unsigned line, col;
	const struct ag_pos *to_pos;  /* n_to positions, or NULL */
	const struct ag_pos *via_pos; /* n_via positions, or NULL */
};

AG_API ag_code ag_estate_add_account(struct ag_estate *e,
				     const struct ag_account_spec *spec,
				     struct ag_error *err);
AG_API ag_code ag_estate_add_path(struct ag_estate *e,
				  const struct ag_path_spec *spec,
				  struct ag_error *err);

/* "Now" for every age computation (AG-N02, AG-N06), in seconds since the
 * epoch.  Defaults to the time the estate was made; --as-of fixes it so
 * that results are reproducible. */
AG_API void ag_estate_set_now(struct ag_estate *e, int64_t now);

/* Writes the estate as an estate file (before ag_estate_resolve, which
 * adds placeholder accounts).  AG_ERR_USAGE after resolving. */
AG_API ag_code ag_estate_write_yaml(const struct ag_estate *e, FILE *f);

/* Resolves every reference (to, via, email, phone, groups) after loading.
 * Must be called once before ag_audit_run. */
AG_API ag_code ag_estate_resolve(struct ag_estate *e, struct ag_error *err);

AG_API size_t ag_estate_n_accounts(const struct ag_estate *e);
AG_API size_t ag_estate_n_paths(const struct ag_estate *e);
/* Index of the account with this id, or AG_NONE. */
AG_API uint32_t ag_estate_find_account(const struct ag_estate *e,
				       const char *id);

/* ---- the audit --------------------------------------------------------- */

enum ag_severity {
	AG_SEV_INFO = 0,
	AG_SEV_LOW,
	AG_SEV_MEDIUM,
	AG_SEV_HIGH,
	AG_SEV_CRITICAL
};

AG_API const char *ag_severity_name(enum ag_severity s);
/* Parses a severity name; also "none" (returns AG_SEV_CRITICAL + 1). */
AG_API ag_code ag_severity_parse(const char *s, int *out);

enum ag_rule {
	AG_P01 = 1, /* below-required */
	AG_P02,     /* recovery-downgrade */
	AG_P03,     /* legacy-bypass */
	AG_P04,     /* phishable */
	AG_P05,     /* device-gap */
	AG_P06,     /* unmonitored */
	AG_P07,     /* renewal-window */
	AG_P08,     /* weak-dependency */
	AG_P09,     /* restricted-method */
	AG_P10,     /* prohibited-method */
	AG_P11,     /* standing-privilege */
	AG_P12,     /* break-glass-ungoverned */
	AG_P13,     /* undescribed-dependency */
	/* Machine identities (docs/nhi.md, aalgate/nhi.h).  `audit` itself
	 * reports N02 and N06 on estate paths that carry dates. */
	AG_N01,     /* orphaned: owner unknown or offboarded */
	AG_N02,     /* stale: a credential unused longer than nhi.stale */
	AG_N03,     /* weak-auth: a static secret where key-bound is required */
	AG_N04,     /* overprivileged: granted scopes beyond used scopes */
	AG_N05,     /* long-lived: no expiry, or beyond nhi.max_lifetime */
	AG_N06,     /* unrotated: not rotated within nhi.rotate */
	AG_N07,     /* cross-environment: production and non-production */
	AG_N08,     /* reused: used by several services */
	AG_N09,     /* human-use: interactive use of a machine identity */
	AG_RULE_COUNT
};

struct ag_rule_info {
	const char *code; /* "AG-P01" */
	const char *name; /* "below-required" */
	const char *summary;
	const char *refs[4]; /* NULL-terminated */
};

AG_API const struct ag_rule_info *ag_rule_info(enum ag_rule r);

/* One finding.  account and path may be AG_NONE. */
struct ag_finding {
	uint8_t rule;     /* enum ag_rule */
	uint8_t severity; /* enum ag_severity */
	int8_t observed;  /* an AAL, or -1 */
	int8_t expected;  /* an AAL, or -1 */
	uint32_t account;
	uint32_t path;
	uint32_t other; /* the dependency account (P08, P13), or AG_NONE */
	uint32_t detail; /* rule-specific: P12 bit flags; N02/N06 age in days */
};

/* P12 detail bits: what a break-glass path lacks. */
#define AG_BG_NO_APPROVAL 1u
#define AG_BG_NO_ALERT 2u
#define AG_BG_TOO_LONG 4u

/* Per-account results. */
struct ag_account_result {
	int8_t required;  /* AAL, or -1 when the workflow sets none */
	int8_t effective; /* 0..3 */
	int8_t nominal;   /* 0..3: without weaker dependencies */
	bool phishing_resistant;
	bool hardware;
	bool reachable; /* some counted path reaches it */
	bool assumed;   /* the value is an assume default */
	uint32_t witness_path; /* weakest path, or AG_NONE */
	uint32_t witness_dep;  /* the account it rests on, or AG_NONE */
};

struct ag_audit {
	struct ag_account_result *accounts; /* one per estate account */
	size_t n_accounts;
	struct ag_finding *findings; /* sorted, worst first */
	size_t n_findings;
	size_t below_required; /* accounts with effective < required */
	size_t by_severity[AG_SEV_CRITICAL + 1];
};

/* Runs the audit.  The estate must be resolved. */
AG_API ag_code ag_audit_run(struct ag_estate *e, struct ag_audit **out,
			    struct ag_error *err);
AG_API void ag_audit_free(struct ag_audit *a);

/* A witness chain: the accounts and paths that yield an account's
 * effective AAL, from the account outwards. */
struct ag_witness_step {
	uint32_t account;
	uint32_t path; /* AG_NONE on the last step when it is an assumption */
	int aal;       /* the account's effective AAL */
};

/* Fills at most max steps of account's chain; returns the number. */
AG_API size_t ag_audit_witness(const struct ag_estate *e,
			       const struct ag_audit *a, uint32_t account,
			       struct ag_witness_step *steps, size_t max);

#ifdef __cplusplus
}
#endif

#endif
