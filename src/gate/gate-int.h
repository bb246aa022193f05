/*
 * Internals shared by the gate's files: the per-policy decision data, path
 * normalisation and session activity.
 */
#ifndef AG_GATE_INT_H
#define AG_GATE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "aalgate/gate.h"

/* Longest request path considered, after decoding. */
#define AG_PATH_MAX 4096

struct ag_gate {
	const struct ag_policy *p;
	char **acr_values; /* per workflow: acr values that satisfy it */
};

/* Normalises a request target's path (see decide.c); false if it is not
 * a valid path. */
bool ag_path_normalize(const char *uri, char *out, size_t len);

/* The last activity seen for (iss, sid); false when unknown. */
bool ag_sessions_last(struct ag_sessions *s, const char *iss, const char *sid,
		      int64_t *out);

/* Records activity at now (never moves a session's time backwards). */
void ag_sessions_touch(struct ag_sessions *s, const char *iss, const char *sid,
		       int64_t now);

#endif
