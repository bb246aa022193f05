/*
 * The sinks' inside: the cursor file and one delivery attempt per sink
 * kind (src/govern/sink-file.c, sink-exec.c, sink-webhook.c).  The
 * dispatcher (src/govern/sinks.c) reads the log and calls them.
 */
#ifndef AG_GOVERN_SINKS_INT_H
#define AG_GOVERN_SINKS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "aalgate/govern.h"
#include "util.h"

#define AG_SINK_HEX_LEN 64

/* A cursor: the last record a sink has dealt with.  seq 0 (offset 0,
 * zero hash) is the start of the log. */
struct ag_sink_cursor {
	uint64_t seq;
	uint64_t offset;		/* where that record's line starts */
	char hash[AG_SINK_HEX_LEN + 1]; /* SHA-256 of the line, lower hex */
};

/* The longest cursor file: "<seq> <offset> <64 hex>\n". */
#define AG_SINK_CURSOR_MAX (20 + 1 + 20 + 1 + AG_SINK_HEX_LEN + 1)

/* Parses a cursor file's content.  Exactly "SEQ OFFSET HASH\n": decimal
 * numbers without leading zeros, 64 lowercase hex digits; seq 0 only as
 * "0 0 <64 zeros>".  AG_ERR_INVALID otherwise. */
ag_code ag_sink_cursor_parse(const char *buf, size_t len,
			     struct ag_sink_cursor *out);

/* Formats c into buf (at least AG_SINK_CURSOR_MAX + 1 bytes); returns
 * the length. */
size_t ag_sink_cursor_format(const struct ag_sink_cursor *c, char *buf,
			     size_t len);

/* One obligation to deliver, and what the attempt may need. */
struct ag_sink_call {
	const char *line; /* the record, without its newline */
	size_t len;
	uint64_t seq;
	const char *obligation; /* "alert" or "notify" */
	const char *hash;	/* the line's SHA-256, lower hex */
	const int *stop;	/* read atomically: nonzero, give up now */
	/* The log and its head, which a file sink must never write to. */
	dev_t log_dev, head_dev;
	ino_t log_ino, head_ino;
	bool have_log, have_head;
};

/* One attempt each.  AG_OK when delivered; otherwise an error with why
 * (a phrase without the sink's name, never a secret). */
/* One attempt to deliver c to s, whatever its type. */
ag_code ag_sink_deliver_one(const struct ag_sink *s,
			    const struct ag_sink_call *c, char *why,
			    size_t wlen);

ag_code ag_sink_file_deliver(const struct ag_sink *s,
			     const struct ag_sink_call *c, char *why,
			     size_t wlen);
ag_code ag_sink_exec_deliver(const struct ag_sink *s,
			     const struct ag_sink_call *c, char *why,
			     size_t wlen);
ag_code ag_sink_webhook_deliver(const struct ag_sink *s,
				const struct ag_sink_call *c, char *why,
				size_t wlen);

/* Writes a reason into buf (cut to len): snprintf for the many messages
 * that may be cut on purpose. */
void ag_sink_why(char *buf, size_t len, const char *fmt, ...) AG_PRINTF(3, 4);

/* Monotonic milliseconds. */
int64_t ag_sink_now_ms(void);

/* True once *stop is set. */
static inline bool ag_sink_stopping(const int *stop)
{
	return stop && __atomic_load_n(stop, __ATOMIC_SEQ_CST) != 0;
}

#endif
