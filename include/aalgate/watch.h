/*
 * Watch (docs/watch.md): authentication and access events from real logs,
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
	uint64_t oversize;  /* records over the size cap, skipped (also
			     * counted in skipped) */
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

/* A reader for policy p (its method catalogue names the methods), which
 * it borrows: p must outlive it.  A reader is not thread-safe.  opts may
 * be NULL for the defaults; a max_record outside 64 B..256 MiB or a
 * default_year outside 1970..9999 is AG_ERR_USAGE.  Without a
 * default_year, a syslog stamp that the current year would put more than
 * a day ahead is taken from the year before.  Event times of sources
 * that give no time zone (syslog) are taken as UTC. */
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

/* Called for every skipped record, as it is counted: the input, the line
 * where the record starts and why (one line of text, no newline).  fn may
 * be NULL to stop. */
typedef void (*ag_event_skip_fn)(void *ctx, uint32_t file, uint64_t line,
				 const char *why);
AG_API void ag_event_reader_on_skip(struct ag_event_reader *r,
				    ag_event_skip_fn fn, void *ctx);

/* Where the current input was read up to. */
struct ag_event_pos {
	uint64_t offset; /* bytes: just past the last whole record */
	uint64_t line;   /* the line the byte at offset is on */
	bool nested;     /* that record was an element of a JSON array or of
			  * a CloudTrail {"Records": [...]}: resuming at
			  * offset reads the rest as separate records, so a
			  * resume point is best taken where this is false */
};

/* The position after the last whole record of the current input (during
 * an event callback: after the record that event came from). */
AG_API void ag_event_reader_position(const struct ag_event_reader *r,
				     struct ag_event_pos *out);

/* Declares that the current input, just begun, is read from offset,
 * which is on line line (a position from ag_event_reader_position of an
 * earlier run): the caller feeds the bytes from there.  AG_ERR_USAGE
 * after the first byte of the input was fed. */
AG_API ag_code ag_event_reader_resume(struct ag_event_reader *r,
				      uint64_t offset, uint64_t line,
				      struct ag_error *err);

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

/* ---- the detection engine (src/watch/engine.c) ---- */

/*
 * The engine judges normalized events, one at a time and in the order
 * given, and raises the alerts AG-W01..AG-W08.  Same events in the same
 * order, same alerts in the same order: the alerts of one event come out
 * before those of the next, in rule order.
 *
 * What each rule sees (the windows are the policy's watch: section):
 *  - AG-W01: a successful login or access naming a workflow whose level
 *    (ag_workflow_satisfied; AAL3 also asks for hardware, as the gate
 *    does) the event's observed assurance does not meet.  A workflow held
 *    to the account's own level (match_account) is judged only with a
 *    store, against the account's enrolments (ag_store_account_level).
 *    Events that do not name a workflow, or do not say how the subject
 *    authenticated, are not judged.
 *  - AG-W02: a recovery, factor reset or help-desk reset of a subject,
 *    then, within watch.recovery_window (inclusive), a successful login
 *    or access of that subject to a privileged workflow
 *    (ag_watch_privileged).  One alert per reset.
 *  - AG-W03: a help-desk reset, then an enrolment, then a successful
 *    sign-in from a device never seen for the subject before the reset,
 *    all within watch.takeover_window of the reset.  The device is the
 *    event's device_id, or its ip when it names no device; an event with
 *    neither is not judged.  One alert per reset.
 *  - AG-W04: a token use (not a failed one) whose token had expired
 *    (expires_ms <= time); with an inventory, whose credential is not in
 *    it or fails ag_nhi_client_ok (inactive, expired, owner offboarded or
 *    unknown); whose address is outside the networks of the workflow the
 *    credential serves (the inventory record's, else the event's); or
 *    whose previous use (in the stream, or the record's last_used) is
 *    older than watch.dormant (0: nhi.stale).  One alert per event,
 *    naming every reason.  Events carry no issuer: a credential is
 *    looked up without one, then among records bound to an issuer.
 *  - AG-W05: any break-glass event; with a store, also a login (not a
 *    failed one) of an account it marks break-glass
 *    (ag_store_break_glass_set), as the marks stood when the engine was
 *    made or last read them (ag_watch_reload_marks; at most
 *    AG_WATCH_BREAK_GLASS_MAX accounts, more is an error).
 *  - AG-W06: a successful sign-in (login or access) over a protocol of
 *    watch.legacy_protocols (none named: imap, pop3, smtp, basic, ntlm,
 *    ropc, ews, activesync, mapi), compared without case.
 *  - AG-W07: an interactive login or access (not a failed one) by a
 *    subject or credential that the inventory lists (ag_nhi_find), or to
 *    a workflow marked machine: true.
 *  - AG-W08: a successful login or access to a workflow with a device
 *    requirement that the event's posture does not meet (unknown posture
 *    does not meet one).
 *
 * Memory is bounded.  Per-subject state (the last few resets and
 * enrolments, the devices seen; each capped per subject) lives in a hash
 * table of at most watch.max_subjects subjects; a subject inactive for
 * the horizon max(state_ttl, recovery_window, takeover_window) is dropped,
 * and when the table is full the least recently active one is evicted
 * (counted).  The last use of each credential is kept the same way, up to
 * watch.max_subjects credentials, without the time horizon (a dormant key
 * is one whose last use is long past).
 *
 * Time is the events' own.  The engine's clock is the latest event time
 * seen.  An event older than the clock minus the horizon (late), or more
 * than a day ahead of the wall clock (a stamp no real log has), is judged
 * alone: the single-event rules apply, the correlations (W02, W03 and
 * W04's dormancy) do not, and it changes no state.  Correlations follow
 * arrival order: a pattern whose first step arrives after its last is
 * not raised.
 *
 * The engine borrows the policy, the inventory and the store: they must
 * outlive it.  It is not thread-safe; partition the events by subject
 * for several engines.
 */
struct ag_watch;
struct ag_store;

/* Is w privileged for AG-W02?  A workflow is privileged when it asks for
 * AAL3, or for phishing resistance, or for AAL2 or more and is reached
 * through JIT elevation (jit:). */
AG_API bool ag_watch_privileged(const struct ag_workflow *w);

/*
 * A new engine for policy p.  inv (may be NULL) is a resolved inventory
 * (ag_nhi_resolve) for AG-W04 and AG-W07; without it only the event's own
 * fields are judged.  store (may be NULL) is where ag_watch_save and
 * ag_watch_load keep the state, gives match_account workflows the
 * account's own level, and the accounts marked break-glass (AG-W05), read
 * once here.
 */
#define AG_WATCH_BREAK_GLASS_MAX 4096
AG_API ag_code ag_watch_new(const struct ag_policy *p,
			    const struct ag_nhi_inventory *inv,
			    struct ag_store *store, struct ag_watch **out,
			    struct ag_error *err);
AG_API void ag_watch_free(struct ag_watch *w);

/* Reads the store's break-glass marks again (AG-W05), for a long run.
 * On an error the marks read before stay, and the error is returned. */
AG_API ag_code ag_watch_reload_marks(struct ag_watch *w,
				     struct ag_error *err);

/* Receives each alert.  The alert and its strings are valid only during
 * the call.  An error stops ag_watch_event, which returns it. */
typedef ag_code (*ag_alert_fn)(void *ctx, const struct ag_alert *a);

/*
 * Judges ev, updates the state and calls fn (may be NULL: alerts are only
 * counted) for each alert ev completes.  Call it from the reader's
 * ag_event_fn.  Errors: AG_ERR_USAGE for a NULL engine or event, an error
 * of the store (match_account), or fn's.  No memory for a subject's state
 * is not an error: the event is judged, the state not kept (counted as
 * untracked).  State is updated before fn is called, so an error of fn
 * loses no state.  An event stamped before the epoch is judged alone.
 */
AG_API ag_code ag_watch_event(struct ag_watch *w, const struct ag_event *ev,
			      ag_alert_fn fn, void *ctx, struct ag_error *err);

/* Drops the state of subjects inactive for longer than the horizon before
 * now_ms (say, the wall clock while a followed file is quiet).  Events do
 * this by themselves as their time moves on. */
AG_API void ag_watch_expire(struct ag_watch *w, int64_t now_ms);

struct ag_watch_stats {
	uint64_t events;       /* events judged */
	uint64_t late;         /* judged alone: older than the horizon */
	uint64_t future;       /* judged alone: a day ahead of the wall clock */
	uint64_t untracked;    /* judged alone: a name over 512 bytes, or no
				* memory for its state */
	size_t subjects;       /* subjects tracked now */
	size_t subjects_peak;
	uint64_t subjects_expired; /* dropped after the horizon */
	uint64_t subjects_evicted; /* dropped early: max_subjects reached */
	size_t credentials;    /* credentials whose last use is kept */
	size_t credentials_peak;
	uint64_t credentials_evicted;
	uint64_t alerts;       /* in all */
	uint64_t by_rule[AG_WATCH_RULE_COUNT]; /* indexed by enum ag_watch_rule */
	int64_t clock_ms;      /* the latest event time seen; 0 before any */
};

AG_API const struct ag_watch_stats *ag_watch_stats(const struct ag_watch *w);

/* ---- the engine: state across restarts ---- */

/*
 * With a store, the correlation state and a resume point per input
 * survive a restart.  A run that follows files:
 *   1. ag_watch_load after ag_watch_new;
 *   2. for each input, ag_event_reader_begin, ag_watch_input with the
 *      same index and its name, then ag_watch_position to find where the
 *      last run stopped (when the file is the same one: same device and
 *      inode, and at least that long) and start reading there;
 *   3. after each record whose events were judged, ag_watch_set_position
 *      with the offset just past it;
 *   4. from time to time, and at the end, ag_watch_save, once the alerts
 *      raised so far are delivered.
 * Each event is then judged once across runs, so no alert repeats; a
 * crash between delivering alerts and saving repeats at most the records
 * since the last save.  W02 and W03 mark the reset they reported in the
 * saved state, so a later access does not report it again.
 */

/* Evidence of a previous run (state loaded from the store) names its file
 * with this bit set; ag_watch_file gives the name. */
#define AG_WATCH_FILE_SAVED 0x80000000u

/* Names input file index file (the reader's, from ag_event_reader_begin),
 * for evidence that outlives this run.  At most 65536 inputs; a name is
 * at most 4096 bytes. */
AG_API ag_code ag_watch_input(struct ag_watch *w, uint32_t file,
			      const char *name, struct ag_error *err);

/* The name of an evidence file index: an input named with ag_watch_input,
 * or (AG_WATCH_FILE_SAVED) one of a previous run; NULL when unknown. */
AG_API const char *ag_watch_file(const struct ag_watch *w, uint32_t file);

/* Records that the input at (dev, ino) is processed up to offset (bytes;
 * the end of the last whole record judged).  Kept in memory until
 * ag_watch_save.  At most 1024 inputs are remembered; beyond that the
 * least recently updated is forgotten. */
AG_API ag_code ag_watch_set_position(struct ag_watch *w, uint64_t dev,
				     uint64_t ino, uint64_t offset,
				     struct ag_error *err);

/* Where the input at (dev, ino) was left: true and *offset when known
 * (set in this run, or loaded). */
AG_API bool ag_watch_position(const struct ag_watch *w, uint64_t dev,
			      uint64_t ino, uint64_t *offset);

/* Writes the state and the positions to the store in one transaction,
 * replacing what an earlier save wrote.  AG_ERR_USAGE without a store;
 * a busy, read-only or full store is an error and nothing is written. */
AG_API ag_code ag_watch_save(struct ag_watch *w, struct ag_error *err);

/* Replaces the engine's state and positions with the store's (nothing
 * saved yet: an empty state, AG_OK).  Damaged state is AG_ERR_INVALID and
 * leaves the engine empty.  State saved under other limits is trimmed to
 * this policy's max_subjects (counted as evictions). */
AG_API ag_code ag_watch_load(struct ag_watch *w, struct ag_error *err);

#ifdef __cplusplus
}
#endif

#endif
