/*
 * aalgate: hold every access path to the same assurance level.
 *
 * This header is the assurance core: error codes, the method catalogue,
 * the combination of methods into an Authenticator Assurance Level (NIST
 * SP 800-63B-4 §2), reauthentication windows, durations and the policy
 * file.  Every face of aalgate (audit, gate, govern, watch) computes
 * assurance through these functions and nowhere else.
 *
 * Conventions
 *  - Every function that can fail returns an ag_code; AG_OK (0) is success.
 *  - Functions that parse input take a struct ag_error, which receives a
 *    message of the form "FILE:LINE:COL: what went wrong".
 *  - The library never aborts: allocation failure is AG_ERR_NOMEM.
 *  - Structs own their strings; *_free() releases everything.
 */
#ifndef AALGATE_AALGATE_H
#define AALGATE_AALGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AG_API __attribute__((visibility("default")))

#define AG_VERSION "0.1.0"

/* ---- errors ------------------------------------------------------------ */

/* Stable error codes: values never change meaning. */
typedef enum {
	AG_OK = 0,
	AG_ERR_NOMEM = 1,    /* out of memory */
	AG_ERR_IO = 2,       /* a file could not be read or written */
	AG_ERR_SYNTAX = 3,   /* malformed YAML or JSON */
	AG_ERR_INVALID = 4,  /* well-formed input with invalid content */
	AG_ERR_LIMIT = 5,    /* an input exceeded a size, depth or count cap */
	AG_ERR_USAGE = 6,    /* a caller passed a bad argument */
	AG_ERR_INTERNAL = 7, /* a broken invariant; always denies */
	AG_ERR_NOT_FOUND = 8 /* a named thing does not exist */
} ag_code;

/* The fixed text for an error code, never NULL. */
AG_API const char *ag_strerror(ag_code code);

#define AG_ERRMSG_MAX 1024

/* Detail for the last failure: code and a "FILE:LINE:COL: ..." message. */
struct ag_error {
	ag_code code;
	char msg[AG_ERRMSG_MAX];
};

/* Sets err to AG_OK with an empty message. */
AG_API void ag_error_init(struct ag_error *err);

/* ---- assurance --------------------------------------------------------- */

/* An assurance (docs/policy.md).  aal 0 means no acceptable authentication. */
struct ag_assurance {
	int aal;
	bool phishing_resistant;
	bool hardware;
};

enum ag_factor {
	AG_FACTOR_NONE = 0, /* counts as no factor (e.g. kba) */
	AG_FACTOR_KNOW,
	AG_FACTOR_HAVE,
	AG_FACTOR_ARE,
	AG_FACTOR_MULTI /* a multi-factor authenticator on its own */
};

/* What a delegated method proves control of. */
enum ag_delegation {
	AG_DELEG_NONE = 0,
	AG_DELEG_EMAIL, /* the account's mailbox */
	AG_DELEG_PHONE  /* the account's phone number at a carrier */
};

/* Where a set of methods is used.  E-mail is not an authenticator for
 * sign-in (SP 800-63B-4 §3.1.3.1); it counts only as an issued recovery
 * code (§4.2). */
enum ag_use {
	AG_USE_SIGNIN = 0,
	AG_USE_RECOVERY
};

/* One method of the catalogue (docs/policy.md). */
struct ag_method {
	char *name;
	char **amr; /* RFC 8176 values that report this method, NULL-terminated */
	enum ag_factor factor;
	int alone;               /* AAL it gives on its own, 0..3 */
	bool phishing_resistant; /* SP 800-63B-4 §3.2.5 */
	bool hardware;           /* non-exportable hardware-held key */
	enum ag_delegation delegated;
	bool restricted;    /* SP 800-63B-4 §3.1.3.3 (PSTN) */
	bool prohibited;    /* never counts (KBA, §3.1.1.2) */
	bool needs_device;  /* counts only beside a device factor (pin, biometric) */
	bool device;        /* a physical or software device the user holds */
	bool recovery_only; /* counts only as an issued recovery code (e-mail) */
	bool recovery_code; /* a saved or issued recovery code (SP 800-63B-4
			     * §4.2): e-mail, SMS and voice codes, look-up
			     * secrets */
	bool builtin;
	unsigned line, col; /* where a policy defined or overrode it, else 0 */
};

/* The method catalogue: built-ins plus the policy's additions. */
struct ag_catalogue {
	struct ag_method *methods;
	size_t n;
	size_t alloc;
};

/* Fills cat with the built-in methods.  Release with ag_catalogue_release. */
AG_API ag_code ag_catalogue_builtin(struct ag_catalogue *cat);
AG_API void ag_catalogue_release(struct ag_catalogue *cat);

/* Index of the method called name, or -1. */
AG_API int ag_catalogue_find(const struct ag_catalogue *cat, const char *name);

/*
 * Combines the methods idx[0..n) used together into an assurance
 * (docs/internals/assurance.md, SP 800-63B-4 §2.1-§2.3):
 *  - AAL3: a hardware, phishing-resistant multi-factor authenticator; or a
 *    hardware, phishing-resistant single-factor cryptographic authenticator
 *    together with a "know" factor;
 *  - AAL2: a multi-factor authenticator; or a "have" factor together with a
 *    "know" or "are" factor;
 *  - AAL1: a permitted method that stands alone (alone >= 1);
 *  - AAL0: anything else.
 * Prohibited methods never count; pin and biometric count only beside a
 * device; recovery-only methods count only for AG_USE_RECOVERY.  In
 * recovery, SP 800-63B-4 §4.2 also accepts for AAL2 two recovery codes
 * obtained by different methods, or one code and one other enrolled
 * authenticator.
 */
AG_API void ag_combine(const struct ag_catalogue *cat, const uint16_t *idx,
		       size_t n, enum ag_use use, struct ag_assurance *out);

/*
 * The catalogue methods that a token's amr values (RFC 8176) report,
 * written to idx[0..max); returns how many.  A method whose amr list has
 * one value is reported by that value.  A multi-factor method listing
 * several values is reported by its first value together with one of the
 * others (security_key_uv: hwk with pin or fpt; passkey_synced: swk with
 * user); any other method by any of its values (biometric: fpt, face, ...).
 * Unknown values ("mfa", "rba") report nothing: they prove no method.
 */
AG_API size_t ag_amr_methods(const struct ag_catalogue *cat,
			     const char *const *amr, size_t n, uint16_t *idx,
			     size_t max);

/* ---- durations and reauthentication ------------------------------------ */

/* Parses "90s", "15m", "12h" or "30d" into seconds. */
AG_API ag_code ag_duration_parse(const char *s, int64_t *secs);

/* Parses a date "2024-01-31" (midnight UTC) or an RFC 3339 time
 * "2024-01-31T10:00:00Z" / "...+02:00" (fractions allowed) into seconds
 * since the epoch. */
AG_API ag_code ag_time_parse(const char *s, int64_t *out);

/* Writes secs in the largest exact unit ("12h", "90s"); "0s" for zero. */
AG_API void ag_duration_format(int64_t secs, char *buf, size_t len);

enum ag_profile {
	AG_PROFILE_SP800_63B_4 = 0, /* the default */
	AG_PROFILE_SP800_63B_3
};

/* A reauthentication window in seconds; 0 means none. */
struct ag_window {
	int64_t max_age;
	int64_t idle;
};

/* The profile's window for aal 1..3 (docs/policy.md).  AG_ERR_USAGE
 * otherwise. */
AG_API ag_code ag_profile_window(enum ag_profile profile, int aal,
				 struct ag_window *out);

AG_API const char *ag_profile_name(enum ag_profile profile);

/* ---- the policy -------------------------------------------------------- */

enum ag_device {
	AG_DEVICE_ANY = 0,
	AG_DEVICE_KNOWN,
	AG_DEVICE_MANAGED
};

AG_API const char *ag_device_name(enum ag_device d);

/* Account kinds (docs/audit.md). */
enum ag_account_kind {
	AG_KIND_HUMAN = 0,
	AG_KIND_SERVICE,
	AG_KIND_MAILBOX,
	AG_KIND_PHONE,
	AG_KIND_DEVICE,
	AG_KIND_EXTERNAL,
	AG_KIND_COUNT
};

AG_API const char *ag_account_kind_name(enum ag_account_kind k);

#define AG_AAL_UNSET (-1)         /* the workflow sets no AAL */
#define AG_AAL_MATCH_ACCOUNT (-2) /* "match_account": the account's own level */

/* An IPv4 or IPv6 network. */
struct ag_cidr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;
};

/* Parses "10.0.0.0/8", "::1/128" or a bare address (a host network). */
AG_API ag_code ag_cidr_parse(const char *s, struct ag_cidr *out);

/* Is addr (a host network from ag_cidr_parse) inside net?  An IPv4-mapped
 * IPv6 address (::ffff:a.b.c.d) matches IPv4 networks. */
AG_API bool ag_cidr_contains(const struct ag_cidr *net,
			     const struct ag_cidr *addr);

/* A workflow after profile defaults were applied. */
struct ag_workflow {
	char *name;
	int aal; /* 0..3, AG_AAL_UNSET or AG_AAL_MATCH_ACCOUNT */
	bool phishing_resistant;
	bool hardware;
	enum ag_device device;
	int64_t max_age; /* seconds; 0 = none */
	int64_t idle;    /* seconds; 0 = none */
	bool allow_weaker_than_profile;
	bool jit;
	int64_t jit_max;
	char *jit_approvers;
	int jit_approvals;
	bool machine;
	int64_t max_token_lifetime; /* seconds; 0 = unset */
	uint16_t *credentials;      /* catalogue indexes */
	size_t n_credentials;
	struct ag_cidr *networks;
	size_t n_networks;
	char **scopes;
	size_t n_scopes;
	unsigned line, col;
};

struct ag_acr {
	char *value;
	struct ag_assurance assurance;
	unsigned line, col;
};

struct ag_issuer {
	char *iss;
	char **audiences;
	size_t n_audiences;
	char *jwks_file;
	char *jwks_uri;
	char *jwks_ca_file;       /* CA bundle for jwks_uri; NULL: system's */
	int64_t clock_skew;       /* seconds */
	int64_t jwks_max_age;     /* keys are kept across failed fetches this
				   * long after the last good one (24h) */
	int64_t jwks_min_refresh; /* least time between fetches caused by an
				   * unknown kid (30s) */
	unsigned line, col;
};

struct ag_route {
	char *host;
	char *path_prefix;
	char *method;
	size_t workflow; /* index into workflows */
	unsigned line, col;
};

/* A sink for alerts and notifications (docs/govern.md): `sinks:` in the
 * policy.  The obligations themselves are decision-log records; the
 * dispatcher that delivers them is in aalgate/govern.h. */
enum ag_sink_type {
	AG_SINK_FILE = 0, /* "file": appends one JSON line per obligation */
	AG_SINK_EXEC,     /* "exec": runs a command, the record on stdin */
	AG_SINK_WEBHOOK   /* "webhook": POSTs the record (application/json) */
};

AG_API const char *ag_sink_type_name(enum ag_sink_type t);

/* The obligations a sink takes, as bits of ag_sink.events. */
#define AG_SINK_ALERT 1u  /* "obligation": "alert" */
#define AG_SINK_NOTIFY 2u /* "obligation": "notify" */

/* Most sinks a policy may list. */
#define AG_SINKS_MAX 64

struct ag_sink {
	char *name;      /* unique; letters, digits, '_' and '-' */
	enum ag_sink_type type;
	unsigned events; /* AG_SINK_ALERT | AG_SINK_NOTIFY (the default) */
	char *path;      /* file: the JSON-lines file */
	char **command;  /* exec: argv, run without a shell; command[0] is an
			  * absolute path */
	size_t n_command;
	char *url;       /* webhook: https://, or http:// to a loopback
			  * address (127.0.0.0/8, [::1]) */
	char *ca_file;   /* webhook: the CAs to trust; NULL: the system's */
	char *bearer_file; /* webhook: a file holding a bearer token, read
			    * at each delivery; NULL: none */
	char **headers;  /* webhook: extra "Name: value" header lines */
	size_t n_headers;
	int64_t timeout; /* exec, webhook: seconds an attempt may take */
	unsigned line, col;
};

/* Deep copy (dst is overwritten) and release of a sink. */
AG_API ag_code ag_sink_copy(struct ag_sink *dst, const struct ag_sink *src);
AG_API void ag_sink_release(struct ag_sink *s);

struct ag_policy {
	char *file;
	enum ag_profile profile;
	int assume[AG_KIND_COUNT]; /* AAL of referenced, undescribed accounts */
	struct ag_catalogue catalogue;
	struct ag_workflow *workflows;
	size_t n_workflows;
	struct {
		bool set; /* written in the file; defaults fill the rest */
		int approvals;
		int64_t max;
		bool alert;
		unsigned line, col;
	} break_glass;
	struct ag_acr *acr;
	size_t n_acr;
	struct ag_issuer *issuers;
	size_t n_issuers;
	struct ag_cidr *trusted_proxies;
	size_t n_trusted_proxies;
	char *device_header;
	/* A header in which a trusted proxy passes the TLS client
	 * certificate (nginx's $ssl_client_escaped_cert: URL-escaped PEM),
	 * for the cnf "x5t#S256" check of mtls clients (RFC 8705 §3). */
	char *client_cert_header;
	/* How old a DPoP proof's iat may be (RFC 9449 §11.1), seconds. */
	int64_t dpop_max_age;
	char *device_claim;
	struct ag_route *routes;
	size_t n_routes;
	long default_workflow; /* index, or -1 */
	struct {
		int64_t stale;
		int64_t rotate;
		int64_t max_lifetime;
		/* Environment names that are production (AG-N07); when
		 * the policy names none: prod, production, prd, live. */
		char **production;
		size_t n_production;
	} nhi;
	/* watch: (docs/watch.md) windows and limits of the detections. */
	struct {
		int64_t recovery_window; /* AG-W02: reset, then privileged
					  * access within (24h) */
		int64_t takeover_window; /* AG-W03: help-desk reset, enrolment,
					  * new device within (72h) */
		int64_t dormant;         /* AG-W04: a key unused this long,
					  * then used (0: nhi.stale) */
		int64_t state_ttl;       /* per-subject state kept (7d; at
					  * least the largest window) */
		size_t max_subjects;     /* subjects tracked at once (1M) */
		char **legacy_protocols; /* AG-W06; none named: imap, pop3,
					  * smtp, basic, ntlm, ropc, ... */
		size_t n_legacy_protocols;
	} watch;
	/* recovery: (docs/govern.md) what a recovery request must say.
	 * require_sent_to: with the state store, an issued code that does
	 * not say where it was sent refuses the recovery (default: a
	 * warning). */
	struct {
		bool require_sent_to;
	} recovery;
	/* groups: NAME -> accounts, for jit.approvers "group:NAME"
	 * (docs/govern.md).  A member is an account as the state store names
	 * it: the token's sub when the policy has one issuer (or none),
	 * "ISSUER sub" when it has several.  set: the file has a groups:
	 * section; only then is a group that jit.approvers names checked
	 * at load (the docs/policy.md example names one without it), and
	 * without it no group has members. */
	struct {
		struct ag_policy_group {
			char *name;
			char **members;
			size_t n_members;
			unsigned line, col;
		} *v;
		size_t n;
		bool set;
	} groups;
	struct ag_sink *sinks; /* `sinks:`, in the order written */
	size_t n_sinks;
};

/* Largest policy file read, in bytes. */
#define AG_POLICY_MAX_BYTES (16u * 1024u * 1024u)

/* Loads and validates a policy file.  On failure *out is NULL and err
 * names the file, line and column. */
AG_API ag_code ag_policy_load(const char *path, struct ag_policy **out,
			      struct ag_error *err);

/* The same from memory; name is used in messages. */
AG_API ag_code ag_policy_load_buffer(const char *name, const char *buf,
				     size_t len, struct ag_policy **out,
				     struct ag_error *err);

AG_API void ag_policy_free(struct ag_policy *p);

/* Index of the workflow called name, or -1. */
AG_API long ag_policy_workflow(const struct ag_policy *p, const char *name);

/* The reauthentication window of an account held to workflow w: the
 * workflow's own max_age and idle, which already include the profile's
 * defaults.  A workflow without an AAL uses the AAL1 window. */
AG_API void ag_workflow_window(const struct ag_policy *p,
			       const struct ag_workflow *w,
			       struct ag_window *out);

/* Does assurance a meet workflow w's level?  Checks aal (a workflow with
 * AG_AAL_MATCH_ACCOUNT or no AAL is not decided here and returns false),
 * phishing resistance and hardware; not session age or device. */
AG_API bool ag_workflow_satisfied(const struct ag_workflow *w,
				  const struct ag_assurance *a);

/* What workflow w asks of a sign-in: *out is w with its aal, phishing
 * resistance and hardware made what every face holds a sign-in to.  For
 * aal: match_account, own is the account's own level (NULL or aal < 1:
 * unknown, and out->aal stays AG_AAL_MATCH_ACCOUNT); the workflow's own
 * flags only add to it.  AAL3 always asks for hardware (SP 800-63B-4
 * §2.3.1).  Windows (max_age, idle) are copied, not judged. */
AG_API void ag_workflow_need(const struct ag_workflow *w,
			     const struct ag_assurance *own,
			     struct ag_workflow *out);

#ifdef __cplusplus
}
#endif

#endif
