/*
 * The gate's counters, rendered in the Prometheus text exposition format
 * (version 0.0.4) at GET /metrics.
 */
#ifndef AG_GATE_METRICS_H
#define AG_GATE_METRICS_H

#include "aalgate/gate.h"
#include "aalgate/govern.h"
#include "util.h"

enum ag_endpoint {
	AG_EP_AUTHZ = 0,
	AG_EP_DECIDE,
	AG_EP__COUNT
};

enum ag_counter {
	AG_C_RELOAD_OK = 0,
	AG_C_RELOAD_FAILED,
	AG_C_LOG_ERRORS,     /* a decision could not be logged: denied */
	AG_C_BAD_REQUESTS,   /* malformed /v1/decide bodies and the like */
	AG_C_UNTRUSTED_FORWARDED, /* forwarding headers from untrusted peers */
	AG_C_DPOP_OK,        /* DPoP proofs accepted */
	AG_C_DPOP_REFUSED,   /* DPoP proofs missing or bad, but not replays */
	AG_C_DPOP_REPLAYED,  /* DPoP proofs seen before */
	AG_C__COUNT
};

struct ag_metrics;

struct ag_metrics *ag_metrics_new(void);
void ag_metrics_free(struct ag_metrics *m);

/* Counts one decision (by workflow name, outcome and first reason) and its
 * latency in seconds.  workflow may be NULL. */
void ag_metrics_decision(struct ag_metrics *m, enum ag_endpoint ep,
			 const char *workflow, const struct ag_decision *d,
			 double seconds);
void ag_metrics_inc(struct ag_metrics *m, enum ag_counter c);

/* Appends the exposition text; vs may be NULL. */
ag_code ag_metrics_render(struct ag_metrics *m,
			  const struct ag_verifier_stats *vs,
			  struct ag_buf *out);

/* Appends the grants open now (aalgate_grants_open), from the state
 * store; t NULL: the store could not be read (aalgate_grants_readable
 * 0). */
void ag_metrics_render_grants(const struct ag_grant_tallies *t,
			      struct ag_buf *out);

#endif
