/*
 * The recovery request's reader, for the library's own callers that hold
 * the JSON already: the help-desk request (src/govern/helpdesk.c) takes
 * its own keys out of the object and hands the rest over, so that both
 * forms are read by one parser with one set of messages.
 */
#ifndef AG_CORE_RECOVERY_INT_H
#define AG_CORE_RECOVERY_INT_H

#include <jansson.h>

#include "aalgate/govern.h"

/* The account's level comes from the state store: "enrolled" and "level"
 * may be left out (they may only raise it), "account" is required, and
 * "now" is refused, since codes are spent at the current time. */
#define AG_RREQ_STORED 1u

/* As ag_recovery_request_parse, from a parsed JSON value (borrowed). */
ag_code ag_recovery_request_from_json(const char *name, json_t *root,
				      unsigned flags,
				      struct ag_recovery_request *out,
				      struct ag_error *err);

/* As ag_recovery_request_parse, with flags (AG_RREQ_*). */
ag_code ag_recovery_request_parse_flags(const char *name, const char *buf,
					size_t len, unsigned flags,
					struct ag_recovery_request *out,
					struct ag_error *err);

#endif
