/*
 * Watch (DESIGN §7): authentication and access events from real logs,
 * normalized to one event, and the detections AG-W01..AG-W08 that find
 * access which took a weaker path than the policy allows.
 *
 * Readers (src/watch/read*.c) turn bytes into events: aalgate's own
 * decision log, the generic normalized form, Okta System Log, AWS
 * CloudTrail, Keycloak events and sshd/sudo auth.log lines.  The engine
 * (src/watch/engine.c) judges events with the one assurance core and the
 * machine inventory, holding per-subject state that expires.
 */
#ifndef AALGATE_WATCH_H
#define AALGATE_WATCH_H

#include "aalgate/nhi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- events ---- */

enum ag_event_source {
	AG_SRC_AUTO = 0,   /* detected per record */
	AG_SRC_AALGATE,    /* aalgate's decision log */
	AG_SRC_GENERIC,    /* the generic normalized form */
	AG_SRC_OKTA,       /* Okta System Log */
	AG_SRC_CLOUDTRAIL, /* AWS CloudTrail (Records array or one per line) */
	AG_SRC_KEYCLOAK,   /* Keycloak events */
	AG_SRC_AUTHLOG,    /* sshd/sudo syslog lines */
	AG_SRC__COUNT
};

AG_API const char *ag_event_source_name(enum ag_event_source s);
/* "okta" -> AG_SRC_OKTA; AG_ERR_INVALID (with a near miss) otherwise. */
AG_API ag_code ag_event_source_parse(const char *s, enum ag_event_source *out,
				     struct ag_error *err);

enum ag_event_kind {
	AG_EV_LOGIN = 0,      /* a sign-in */
	AG_EV_RECOVERY,       /* account recovery, password reset */
	AG_EV_FACTOR_RESET,   /* an authenticator removed or reset (MFA reset) */
	AG_EV_HELPDESK_RESET, /* a help-desk (administrator) factor reset */
	AG_EV_ENROLL,         /* an authenticator bound */
	AG_EV_ACCESS,         /* access to a protected resource */
	AG_EV_TOKEN_USE,      /* a token, key or secret presented */
	AG_EV_BREAK_GLASS,    /* break-glass account or grant used */
	AG_EV__COUNT
};

AG_API const char *ag_event_kind_name(enum ag_event_kind k);

enum ag_event_result {
	AG_RES_UNKNOWN = 0,
	AG_RES_SUCCESS,
	AG_RES_FAILURE
};

/* Device posture as an event reports it. */
enum ag_posture {
	AG_POSTURE_UNKNOWN = 0,
	AG_POSTURE_UNMANAGED,
	AG_POSTURE_KNOWN,
	AG_POSTURE_MANAGED
};

#define AG_EVENT_MAX_METHODS 8

/*
 * One normalized event.  Strings are NUL-terminated and valid until the
 * reader produces its next event; NULL when the source did not say.
 */
struct ag_event {
	int64_t time_ms; /* epoch milliseconds */
	uint8_t source;  /* enum ag_event_source */
	uint8_t kind;    /* enum ag_event_kind */
	uint8_t result;  /* enum ag_event_result */
	uint8_t posture; /* enum ag_posture */
	/* Observed assurance: from the source's own level (aal, acr) or
	 * from methods through ag_combine.  assurance_known is false when
	 * the event says nothing about how the subject authenticated. */
	bool assurance_known;
	struct ag_assurance assurance;
	uint16_t methods[AG_EVENT_MAX_METHODS]; /* catalogue indexes */
	uint8_t n_methods;
	bool interactive;  /* a console, browser or shell sign-in */
	int64_t expires_ms; /* token_use: when the token expires; 0 unknown */
	const char *subject;    /* the account acted on or signed in */
	const char *actor;      /* who acted, when not the subject (help desk) */
	const char *workflow;   /* a policy workflow, when the source names it */
	const char *protocol;   /* imap, pop3, smtp, ropc, basic, ssh, ... */
	const char *credential; /* an inventory id (access key, client id) */
	const char *ip;
	const char *device_id;  /* a device or user-agent identity */
	const char *action;     /* the source's own event name */
	/* Where it was read. */
	uint32_t file;  /* index into the reader's file names */
	uint64_t line;  /* 1-based line where the record starts */
};

/* What a reader saw, per source. */
struct ag_event_stats {
	uint64_t records[AG_SRC__COUNT]; /* records recognised, per source */
	uint64_t events[AG_SRC__COUNT];  /* of them, authentication events */
	uint64_t ignored;   /* recognised records that are not auth events */
	uint64_t skipped;   /* unparseable records (counted, never fatal) */
	uint64_t oversize;  /* records over the size cap, skipped */
	uint64_t bytes;
	/* The first few skipped records, for the summary. */
	struct {
		uint32_t file;
		uint64_t line;
		char why[120];
	} first_skips[8];
	size_t n_first_skips;
};

struct ag_event_reader;

struct ag_event_reader_opts {
	enum ag_event_source source; /* AG_SRC_AUTO: by content */
	size_t max_record;  /* bytes; 0: 1 MiB.  Longer ones are skipped. */
	int default_year;   /* for syslog stamps without a year; 0: the
			     * current year (UTC) */
};

AG_API ag_code ag_event_reader_new(const struct ag_policy *p,
				   const struct ag_event_reader_opts *opts,
				   struct ag_event_reader **out,
				   struct ag_error *err);
AG_API void ag_event_reader_free(struct ag_event_reader *r);

/* Starts a new input (a file name for evidence); returns its index. */
AG_API ag_code ag_event_reader_begin(struct ag_event_reader *r,
				     const char *name, uint32_t *file,
				     struct ag_error *err);

typedef ag_code (*ag_event_fn)(void *ctx, const struct ag_event *ev);

/*
 * Feeds the next len bytes of the current input.  Records may span feeds:
 * the reader splits JSON lines, pretty-printed JSON documents, CloudTrail
 * {"Records": [...]} files and syslog lines, in bounded memory.  eof ends
 * the input (a truncated record is counted as skipped).  Calls fn for
 * every event; an error from fn stops the feed and is returned.  Bad
 * records are counted, never returned as errors.
 */
AG_API ag_code ag_event_reader_feed(struct ag_event_reader *r, const char *buf,
				    size_t len, bool eof, ag_event_fn fn,
				    void *ctx, struct ag_error *err);

AG_API const struct ag_event_stats *
ag_event_reader_stats(const struct ag_event_reader *r);
AG_API const char *ag_event_reader_file(const struct ag_event_reader *r,
					uint32_t file);

/* ---- detections ---- */

enum ag_watch_rule {
	AG_W01 = 1, /* access below the workflow's assurance */
	AG_W02,     /* recovery or MFA reset, then privileged access */
	AG_W03,     /* help-desk reset, enrolment, then a new device */
	AG_W04,     /* token or key use outside policy */
	AG_W05,     /* break-glass use */
	AG_W06,     /* legacy-protocol sign-in */
	AG_W07,     /* human use of a machine identity */
	AG_W08,     /* unmanaged device on a device-bound workflow */
	AG_WATCH_RULE_COUNT
};

struct ag_watch_rule_info {
	const char *code;    /* "AG-W01" */
	const char *name;    /* "below-required" */
	const char *summary;
	const char *remediation;
};

AG_API const struct ag_watch_rule_info *ag_watch_rule_info(enum ag_watch_rule r);

#define AG_ALERT_MAX_EVIDENCE 4

struct ag_alert {
	uint8_t rule;     /* enum ag_watch_rule */
	uint8_t severity; /* enum ag_severity */
	int64_t time_ms;  /* of the event that completed the pattern */
	const char *subject;
	const char *workflow;  /* NULL when none applies */
	bool has_required, has_observed;
	struct ag_assurance required, observed;
	struct {
		uint8_t source;
		uint32_t file;
		uint64_t line;
		int64_t time_ms;
		const char *action;
	} evidence[AG_ALERT_MAX_EVIDENCE];
	size_t n_evidence;
	char detail[256];
};

#ifdef __cplusplus
}
#endif

#endif
