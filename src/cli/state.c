/*
 * What every command that changes the state store does last: move the
 * store's journal into the decision log.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "aalgate/gate.h"
#include "aalgate/govern.h"
#include "cli.h"
#include "util.h"
#include "banned.h"

void ag_cli_journal_to_log(const char *cmd, const char *state,
			   const char *log_path, struct ag_store *st)
{
	char path[4096];
	struct ag_dlog *log = NULL;
	struct ag_error err;
	uint64_t n = 0;

	if (log_path) {
		ag_strlcpy(path, log_path, sizeof(path));
	} else {
		const char *slash = strrchr(state, '/');
		if (slash)
			snprintf(path, sizeof(path),
				 "%.*s/aalgate-decisions.jsonl",
				 (int)(slash - state), state);
		else
			ag_strlcpy(path, "aalgate-decisions.jsonl",
				   sizeof(path));
	}
	/* A running gate holds the log's lock and drains the journal
	 * itself every second.  The change is committed either way: a
	 * failure here is a note. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd >= 0) {
		bool held = flock(fd, LOCK_SH | LOCK_NB) < 0 &&
			    errno == EWOULDBLOCK;
		close(fd);
		if (held) {
			fprintf(stderr,
				"aalgate %s: note: a running gate holds the "
				"decision log %s; it logs this change from "
				"the state's journal\n",
				cmd, path);
			return;
		}
	}
	ag_error_init(&err);
	if (ag_dlog_open(path, &log, &err) != AG_OK) {
		fprintf(stderr,
			"aalgate %s: note: the change waits in the state's "
			"journal for the decision log: %s\n",
			cmd, err.msg);
		return;
	}
	if (ag_store_journal_drain(st, log, &n, &err) != AG_OK)
		fprintf(stderr,
			"aalgate %s: note: the change waits in the state's "
			"journal for the decision log: %s\n",
			cmd, err.msg);
	ag_dlog_close(log);
}
