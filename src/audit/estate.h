/*
 * The estate's internal layout, shared by the loader, the fixed point,
 * the findings and the reports.
 */
#ifndef AG_ESTATE_H
#define AG_ESTATE_H

#include "aalgate/audit.h"
#include "util.h"

/* A reference by name, resolved after loading. */
struct ag_ref {
	char *name;
	unsigned line, col;
};

struct ag_account {
	char *id;
	uint8_t kind; /* enum ag_account_kind */
	bool described;
	bool synthetic; /* stands for a missing email/phone attribute */
	bool standing;
	bool break_glass;
	bool root; /* a platform's root user (AWS), set by its importer; the
		    * machine inventory marks its credentials (nhi.h) */
	int32_t workflow; /* index, or -1 */
	uint32_t email;   /* account index, or AG_NONE */
	uint32_t phone;
	struct ag_ref *email_ref; /* until resolved */
	struct ag_ref *phone_ref;
	uint32_t *groups;
	uint32_t n_groups;
	char *owner;
	uint32_t file;
	unsigned line, col;
};

struct ag_path {
	char *id;
	uint8_t kind; /* enum ag_path_kind */
	bool device_check;
	bool monitored;
	bool approval;
	bool alert;
	bool uses_email, uses_phone, restricted, prohibited;
	int approvals;
	int64_t lifetime; /* -1 for none */
	int64_t created, last_rotated, last_used; /* 0 when unknown */
	bool never_used; /* the source says the credential was never used
			  * (AWS "N/A"), set by its importer; last_used is
			  * then 0.  Read by the machine inventory only. */
	char *description;
	uint16_t *methods;
	uint32_t n_methods;
	struct ag_ref *to;
	uint32_t n_to;
	struct ag_ref *via_refs;
	uint32_t *via; /* resolved */
	uint32_t n_via;
	struct ag_assurance all; /* AAL(methods(p)) */
	struct ag_assurance own; /* AAL(own(p)): non-delegated methods */
	uint32_t file;
	unsigned line, col;
};

struct ag_estate {
	const struct ag_policy *policy;
	char **files;
	size_t n_files, files_alloc;

	struct ag_account *accounts;
	size_t n_accounts, accounts_alloc;
	struct ag_strmap account_ids;

	struct ag_path *paths;
	size_t n_paths, paths_alloc;
	struct ag_strmap path_ids;

	char **groups;
	size_t n_groups, groups_alloc;
	struct ag_strmap group_ids;

	bool resolved;
	int64_t now; /* for credential ages */
	uint32_t synth[AG_KIND_COUNT]; /* the anonymous account per kind */

	/* The graph, built by ag_estate_resolve. */
	uint32_t *member_off; /* group -> accounts, CSR */
	uint32_t *members;
	size_t n_edges;
	uint32_t *edge_path;
	uint32_t *edge_acct;
	uint32_t *path_off; /* path -> its edges, which are contiguous */
	uint32_t *in_off; /* account -> edges into it, CSR */
	uint32_t *in_edges;
};

/* The deps of edge e (docs/internals/assurance.md): via, then email, then
 * phone. Returns the count written (at most max). */
size_t ag_edge_deps(const struct ag_estate *e, size_t edge, uint32_t *deps,
		    size_t max);

/* Path id and file name helpers for reports. */
const char *ag_estate_file(const struct ag_estate *e, uint32_t file);

/* Internal state of an audit beyond the public result. */
struct ag_audit_impl {
	struct ag_audit pub;
	uint8_t *edge_eff;     /* per edge, final */
	uint8_t *edge_counted; /* per edge: counts toward effective AAL */
};

/* Does edge e count toward its account's effective AAL?  Break-glass
 * paths never do; a renewal path inside the account's reauthentication
 * window only continues a session and does not either. */
bool ag_edge_counted(const struct ag_estate *e, size_t edge);

/* The reauthentication max age for account a (its workflow's, or AAL1's). */
int64_t ag_account_window(const struct ag_estate *e, uint32_t a);

/* Does path-level rule (AG-P03..AG-P06) apply to edge's account?  These
 * rules are properties of a path, reported once per path with every
 * account they affect; reports use this to list them. */
bool ag_path_rule_applies(const struct ag_estate *e,
			  const struct ag_audit_impl *ai, size_t edge,
			  enum ag_rule rule);

/* Adds the findings to an audit whose values are computed. */
ag_code ag_findings_compute(struct ag_estate *e, struct ag_audit_impl *ai);

#define AG_MAX_DEPS 64

/* The dependency edge's value rests on at the final values, or AG_NONE
 * when the path's own methods decide it. */
uint32_t ag_edge_rests_on(const struct ag_estate *e, const struct ag_audit *A,
			  size_t edge);

/* The edge of path into account, or SIZE_MAX. */
size_t ag_account_edge(const struct ag_estate *e, uint32_t account,
		       uint32_t path);

#endif
