/*
 * The command-line tool: one table of commands in main.c, one file per
 * command.  Exit codes are stable: 0 clean, 1 findings at or above the
 * --fail-on severity, 2 bad input or usage.
 */
#ifndef AG_CLI_H
#define AG_CLI_H

#include <stdbool.h>

#define AG_EXIT_OK 0
#define AG_EXIT_FINDINGS 1
#define AG_EXIT_USAGE 2

struct ag_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

int cmd_audit(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_decide(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_enroll(int argc, char **argv);
int cmd_recover(int argc, char **argv);
/* -- commands: grant -- */
int cmd_grant(int argc, char **argv);
/* -- commands: helpdesk -- */
int cmd_helpdesk(int argc, char **argv);
#include "aalgate/aalgate.h"
struct ag_store;
struct ag_recovery_request;
struct ag_recovery_result;
struct ag_recovery_state;
/* Shared by recover and helpdesk (cmd-recover.c): reads path (- for
 * standard input) of at most cap bytes; the recovery answer as text; the
 * state's journal into the decision log (a running gate does it
 * instead); the exit status and message of a failed ag_recovery_run. */
/* src/cli/input.c: reads path ("-": standard input), at most cap bytes;
 * AG_EXIT_OK, or a message on stderr and an exit status. */
int ag_cli_read_input(const char *cmd, const char *path, size_t cap,
		      char **body, size_t *len);
/* The same for a token: the whitespace around it dropped, and none left
 * is an error. */
int ag_cli_read_token(const char *cmd, const char *path, size_t cap,
		      char **tok, size_t *len);
void ag_cli_recovery_text(const struct ag_recovery_request *r,
			  const struct ag_recovery_result *res,
			  const struct ag_recovery_state *st);
/* src/cli/state.c: after a change to the state store, moves its journal
 * into the decision log (log_path, or aalgate-decisions.jsonl beside the
 * state), unless a running gate holds the log; failures are notes. */
void ag_cli_journal_to_log(const char *cmd, const char *state,
			   const char *log_path, struct ag_store *st);
int ag_cli_recovery_exit(ag_code rc, const struct ag_recovery_state *st,
			 const struct ag_error *err);
/* -- commands: sink -- */
int cmd_sink(int argc, char **argv);
/* -- commands: nhi -- */
int cmd_nhi(int argc, char **argv);
int cmd_watch(int argc, char **argv);
/* src/cli/cmd-nhi-store.c: nhi import, list and owner (the state store);
 * ag_cli_nhi_state adds the store's records and owners to inv for nhi
 * audit --state (AG_EXIT_OK, or a message on stderr and an exit
 * status). */
struct ag_nhi_inventory;
int cmd_nhi_import(int argc, char **argv);
int cmd_nhi_list(int argc, char **argv);
int cmd_nhi_owner(int argc, char **argv);
int ag_cli_nhi_state(const char *cmd, const char *state,
		     struct ag_nhi_inventory *inv);

/* "aalgate CMD: message" on stderr; returns AG_EXIT_USAGE. */
int ag_cli_die(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct ag_estate;
struct ag_import_opts;
struct ag_error;

/* Adds one input to e: kind is an enum ag_input_kind, or -1 to recognise
 * it by content. */
#include "aalgate/aalgate.h"
ag_code ag_cli_load_input(struct ag_estate *e, const char *path, int kind,
			  const struct ag_import_opts *opts,
			  struct ag_error *err);

/* True when progress may be drawn on stderr. */
bool ag_cli_progress(void);

#endif
