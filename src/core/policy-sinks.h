/*
 * The policy's `sinks:` list (docs/govern.md), loaded by src/core/policy.c.
 */
#ifndef AG_POLICY_SINKS_H
#define AG_POLICY_SINKS_H

#include "ynode.h"

/* Loads the `sinks:` node n into p->sinks.  Errors name the file, line
 * and column, with a near miss where there is one. */
ag_code ag_policy_load_sinks(struct ag_yreader *r, struct ag_policy *p,
			     const struct ag_ynode *n);

/* Frees p->sinks. */
void ag_policy_free_sinks(struct ag_policy *p);

#endif
