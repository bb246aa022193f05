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
/* -- commands: helpdesk -- */
/* -- commands: sink -- */

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
