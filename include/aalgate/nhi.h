/*
 * Machine identities (docs/nhi.md): the inventory of service accounts, API
 * keys, client secrets and workload credentials, the lifecycle findings
 * AG-N01..AG-N09 (OWASP NHI Top 10, 2025), the visibility score, and the
 * one check the gate makes of a machine client.
 *
 * An inventory is a set of records keyed by id.  Records come from the
 * generic CSV or JSON/YAML form (docs/nhi.md), from an estate (AWS
 * credential report, Keycloak export, or an estate file: every machine
 * credential on a path), or from the state store.  Every judgement about
 * a record is made here, once, for every face.
 */
#ifndef AALGATE_NHI_H
#define AALGATE_NHI_H

#include <stdio.h>

#include "aalgate/audit.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest inventory file read, in bytes. */
#define AG_NHI_MAX_BYTES (512u * 1024u * 1024u)
/* Most entries in one list field (scopes, environments, used_by). */
#define AG_NHI_MAX_LIST 4096u

enum ag_nhi_status {
	AG_NHI_ACTIVE = 0, /* in use, or usable */
	AG_NHI_DISABLED,   /* switched off; can be switched on again */
	AG_NHI_RETIRED     /* replaced (rotated out) or deleted; history only */
};

AG_API const char *ag_nhi_status_name(enum ag_nhi_status s);

enum ag_owner_status {
	AG_OWNER_UNKNOWN = 0, /* no owner, or one the owners list lacks */
	AG_OWNER_ACTIVE,
	AG_OWNER_OFFBOARDED
};

AG_API const char *ag_owner_status_name(enum ag_owner_status s);

/* A list field.  known is false when the input did not give the field,
 * which is not the same as an empty list. */
struct ag_nhi_list {
	char **v;
	size_t n;
	bool known;
};

struct ag_nhi {
	char *id;         /* unique in an inventory (per issuer when set) */
	char *kind;       /* a catalogue method: api_key, client_secret,
			   * password, workload_identity, mtls, ... */
	int method;       /* its catalogue index, set by ag_nhi_resolve */
	char *issuer;     /* the token issuer whose azp/client_id this is;
			   * NULL: any single issuer */
	char *owner;      /* NULL: no owner recorded */
	uint8_t owner_status; /* enum ag_owner_status, after resolve */
	bool owner_status_given; /* the record itself said it */
	char *team;       /* the owner's team; NULL: from the owners list */
	char *purpose;    /* what it is for; NULL: unknown */
	char *workflow;   /* the workflow it serves, or NULL */
	long workflow_idx; /* set by ag_nhi_resolve; -1 for none */
	char *thumbprint; /* the key it is bound to: base64url SHA-256, the
			   * value of cnf "x5t#S256" (RFC 8705) or "jkt"
			   * (RFC 9449); NULL when not recorded */
	uint8_t status;   /* enum ag_nhi_status */
	/* Dates, epoch seconds; 0 when unknown. */
	int64_t created;
	int64_t expires;  /* 0: no expiry */
	int64_t last_rotated;
	int64_t last_used;
	bool never_used;  /* known never to have been used */
	bool interactive; /* used interactively (console, shell, browser) */
	int64_t last_interactive; /* when, or 0 if unknown */
	bool root;        /* a platform's root or owner account (AWS root) */
	struct ag_nhi_list scopes;
	struct ag_nhi_list used_scopes;
	struct ag_nhi_list environments;
	struct ag_nhi_list used_by;
	/* Where it was read, for messages: an inventory file index. */
	uint32_t file;
	unsigned line, col;
};

/* A person or team that owns machine identities.  From the owners list of
 * the JSON/YAML form, or from the state store. */
struct ag_nhi_owner {
	char *id;
	char *team;
	uint8_t status; /* enum ag_owner_status: active or offboarded */
	uint32_t file;
	unsigned line, col;
};

struct ag_nhi_inventory_impl;

struct ag_nhi_inventory {
	struct ag_nhi *v;
	size_t n;
	struct ag_nhi_owner *owners;
	size_t n_owners;
	bool has_owners; /* some input gave an owners list: owners it lacks
			  * are unknown */
	char **files;
	size_t n_files;
	struct ag_nhi_inventory_impl *impl;
};

AG_API ag_code ag_nhi_inventory_init(struct ag_nhi_inventory *inv);
AG_API void ag_nhi_inventory_release(struct ag_nhi_inventory *inv);

/* Registers an input file name; returns its index in *file. */
AG_API ag_code ag_nhi_add_file(struct ag_nhi_inventory *inv, const char *name,
			       uint32_t *file, struct ag_error *err);

/* Adds a deep copy of rec.  A second record with the same (issuer, id) is
 * an error naming both places. */
AG_API ag_code ag_nhi_add(struct ag_nhi_inventory *inv, const struct ag_nhi *rec,
			  struct ag_error *err);

/* Adds a deep copy of an owner; the same id twice is an error. */
AG_API ag_code ag_nhi_add_owner(struct ag_nhi_inventory *inv,
				const struct ag_nhi_owner *o,
				struct ag_error *err);

/* Deep copy and release of one record (dst is overwritten). */
AG_API ag_code ag_nhi_copy(struct ag_nhi *dst, const struct ag_nhi *src);
AG_API void ag_nhi_release(struct ag_nhi *rec);

/* Checks every record against the policy: its kind must be a catalogue
 * method and its workflow one of the policy's (an unknown name is an error
 * at file:line:col with the near miss); sets method and workflow_idx, and
 * each record's owner_status from the owners list unless the record gave
 * it.  Call once after all records are added. */
AG_API ag_code ag_nhi_resolve(struct ag_nhi_inventory *inv,
			      const struct ag_policy *p, struct ag_error *err);

/* The record for (iss, client), or NULL.  A record with an issuer matches
 * only that issuer; one without matches any.  When two records match (one
 * with the issuer, one without) the one naming the issuer wins. */
AG_API const struct ag_nhi *ag_nhi_find(const struct ag_nhi_inventory *inv,
					const char *iss, const char *client);

/* The owner entry for id, or NULL. */
AG_API const struct ag_nhi_owner *
ag_nhi_owner_find(const struct ag_nhi_inventory *inv, const char *id);

/*
 * The gate's check of a machine client (docs/gate.md): may rec, presented
 * by a token from issuer iss at time now, act at all?  It must be active,
 * not expired, and have a known owner who is not offboarded.  When the
 * policy trusts several issuers, a record without an issuer is refused
 * (client ids are unique only per issuer).  On false, why says which in
 * words fit for a log.  rec may be NULL (an unknown client).
 */
AG_API bool ag_nhi_client_ok(const struct ag_policy *p, const struct ag_nhi *rec,
			     const char *iss, int64_t now, char *why,
			     size_t why_len);

/* Is kind a key-bound credential (the catalogue's phishing-resistant
 * methods: mtls, workload_identity, software_key, ...)? */
AG_API bool ag_nhi_key_bound(const struct ag_policy *p, const struct ag_nhi *rec);

/* ---- loading ---- */

enum ag_nhi_format {
	AG_NHI_AUTO = 0,  /* by content */
	AG_NHI_JSON,      /* the generic form: JSON or YAML */
	AG_NHI_CSV,       /* the generic form: CSV with a header row */
	AG_NHI_AWS,       /* an AWS IAM credential report */
	AG_NHI_KEYCLOAK,  /* a Keycloak realm export */
	AG_NHI_ESTATE     /* an estate file (docs/audit.md) */
};

/* Reads one input into inv.  The generic forms are described in
 * docs/nhi.md; the others go through the estate importers and
 * ag_nhi_from_estate.  Every error names file:line:column. */
AG_API ag_code ag_nhi_load(struct ag_nhi_inventory *inv,
			   const struct ag_policy *p, const char *path,
			   enum ag_nhi_format fmt, struct ag_error *err);
AG_API ag_code ag_nhi_load_buffer(struct ag_nhi_inventory *inv,
				  const struct ag_policy *p, const char *name,
				  const char *buf, size_t len,
				  enum ag_nhi_format fmt, struct ag_error *err);

/* Adds the machine credentials of an estate: each path carrying a machine
 * credential method (api_key, client_secret, workload_identity, mtls, or a
 * password or key on a service account), one record per account it
 * reaches, with the path's dates and the account's owner and workflow.  A
 * service account that a login or legacy path reaches with people's
 * methods is marked interactive. */
AG_API ag_code ag_nhi_from_estate(struct ag_nhi_inventory *inv,
				  const struct ag_estate *e,
				  struct ag_error *err);

/* Most records, and most owners, one inventory holds. */
#define AG_NHI_MAX_RECORDS (10u * 1000u * 1000u)
/* Longest id (of a record or an owner) and longest list entry, in
 * bytes. */
#define AG_NHI_MAX_ID 1024u
/* Longest other text field (purpose, team, issuer, ...), in bytes. */
#define AG_NHI_MAX_FIELD 4096u

/* ---- findings (docs/nhi.md) ---- */

struct ag_nhi_finding {
	uint8_t rule;     /* enum ag_rule: AG_N01..AG_N09 */
	uint8_t severity; /* enum ag_severity */
	uint32_t record;  /* index into the inventory */
	int64_t days;     /* N02, N05, N06: the age or lifetime in days;
			   * else 0 */
	char detail[160]; /* what was seen, in words */
};

/* The visibility score's counts: of total active identities, how many have
 * each property, and how many have all four. */
struct ag_nhi_visibility {
	char *team; /* NULL for the whole inventory */
	size_t total;
	size_t owner;    /* a known owner who is not offboarded */
	size_t purpose;
	size_t rotation; /* a known last rotation (or a kind with nothing
			  * to rotate) */
	size_t last_use; /* a known last use, or known never used */
	size_t full;     /* all four */
};

struct ag_nhi_audit {
	int64_t now;
	struct ag_nhi_finding *findings;
	size_t n_findings;
	struct ag_nhi_visibility overall;
	struct ag_nhi_visibility *teams; /* sorted by name; "" for no team */
	size_t n_teams;
};

/* Judges every active record at now.  inv must be resolved. */
AG_API ag_code ag_nhi_audit_run(const struct ag_nhi_inventory *inv,
				const struct ag_policy *p, int64_t now,
				struct ag_nhi_audit *out, struct ag_error *err);
AG_API void ag_nhi_audit_release(struct ag_nhi_audit *a);

/* The score in percent (0..100), 0 for an empty set. */
AG_API double ag_nhi_visibility_pct(const struct ag_nhi_visibility *v);

/* The largest severity among findings, or -1 for none. */
AG_API int ag_nhi_audit_max_severity(const struct ag_nhi_audit *a);

/* The age rule of AG-N02 and AG-N06, for `nhi audit` and for `audit`'s
 * dated credential paths alike: is since (a last use or rotation, or the
 * creation date standing in for it) known (not 0) and more than limit
 * seconds before now?  Exactly limit is not.  When it is, *days is the
 * age in whole days, floor((now - since) / 86400). */
AG_API bool ag_nhi_overdue(int64_t now, int64_t since, int64_t limit,
			   int64_t *days);

/* The severity of a machine-identity rule (AG_N01..AG_N09) for an
 * ordinary record; every finding of a root record is critical. */
AG_API enum ag_severity ag_nhi_rule_severity(enum ag_rule r);

/* The team a record is counted under: its own team, else its owner's team
 * from the owners list, else "" (no team).  Never NULL. */
AG_API const char *ag_nhi_team(const struct ag_nhi_inventory *inv,
			       const struct ag_nhi *rec);

enum ag_nhi_report_format { AG_NHI_REPORT_TEXT = 0, AG_NHI_REPORT_JSON,
			    AG_NHI_REPORT_SARIF };

/* Writes the audit as text, JSON or SARIF, as `aalgate audit` does. */
AG_API ag_code ag_nhi_report(FILE *out, enum ag_nhi_report_format fmt,
			     const struct ag_nhi_inventory *inv,
			     const struct ag_policy *p,
			     const struct ag_nhi_audit *a,
			     struct ag_error *err);

#ifdef __cplusplus
}
#endif

#endif
