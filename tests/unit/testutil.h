/*
 * Helpers shared by the unit tests: loading a policy from a string,
 * checking a load error word for word, combining methods by name, and
 * building small estates in code through the importer API.
 *
 * Include after <cmocka.h>.  Everything here is static inline so that a
 * test file that uses only part of it compiles without warnings.
 */
#ifndef AG_TESTUTIL_H
#define AG_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aalgate/aalgate.h"
#include "aalgate/audit.h"

/* A NULL-terminated list of strings, written inline. */
#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})

static inline size_t list_len(const char *const *l)
{
	size_t n = 0;
	while (l && l[n])
		n++;
	return n;
}

/* Loads a policy that must be valid; fails the test with the message. */
static inline struct ag_policy *policy_ok(const char *yaml)
{
	struct ag_policy *p = NULL;
	struct ag_error err;

	ag_error_init(&err);
	ag_code rc = ag_policy_load_buffer("policy.yaml", yaml, strlen(yaml),
					   &p, &err);
	if (rc != AG_OK)
		fail_msg("policy did not load: %s", err.msg);
	assert_non_null(p);
	return p;
}

/* Loads a policy that must fail with exactly this code and message. */
static inline void policy_fails(const char *yaml, ag_code code,
				const char *msg)
{
	struct ag_policy *p = (struct ag_policy *)1;
	struct ag_error err;

	ag_error_init(&err);
	ag_code rc = ag_policy_load_buffer("policy.yaml", yaml, strlen(yaml),
					   &p, &err);
	assert_null(p);
	assert_string_equal(err.msg, msg);
	assert_int_equal(rc, code);
	assert_int_equal(err.code, code);
}

/* The assurance of methods used together, by name, from catalogue cat. */
static inline struct ag_assurance combine_in(const struct ag_catalogue *cat,
					     const char *const *names,
					     enum ag_use use)
{
	uint16_t idx[64] = {0};
	size_t n = 0;
	struct ag_assurance a;

	for (; names && names[n]; n++) {
		assert_true(n < 64);
		int i = ag_catalogue_find(cat, names[n]);
		if (i < 0)
			fail_msg("no method '%s' in the catalogue", names[n]);
		idx[n] = (uint16_t)i;
	}
	/* ag_combine must set every field, so start from nonsense. */
	a.aal = -7;
	a.phishing_resistant = true;
	a.hardware = true;
	ag_combine(cat, idx, n, use, &a);
	return a;
}

/* ---- estates ----------------------------------------------------------- */

static inline struct ag_estate *estate_new(const struct ag_policy *p)
{
	struct ag_estate *e = NULL;
	assert_int_equal(ag_estate_new(p, &e), AG_OK);
	assert_non_null(e);
	return e;
}

/* Adds an account; workflow, email and phone may be NULL, groups a LIST
 * or NULL. */
static inline void add_account(struct ag_estate *e, const char *id,
			       enum ag_account_kind kind, const char *workflow,
			       const char *email, const char *phone,
			       const char *const *groups)
{
	struct ag_account_spec s;
	struct ag_error err;

	memset(&s, 0, sizeof(s));
	s.id = id;
	s.kind = kind;
	s.workflow = workflow;
	s.email = email;
	s.phone = phone;
	s.groups = groups;
	s.n_groups = list_len(groups);
	s.file = "estate.yaml";
	s.line = 1;
	s.col = 1;
	ag_error_init(&err);
	if (ag_estate_add_account(e, &s, &err) != AG_OK)
		fail_msg("account '%s' not added: %s", id, err.msg);
}

/* Adds a path; to and methods are LISTs, via a LIST or NULL, lifetime in
 * seconds or -1.  Not monitored, no device check, no approval. */
static inline void add_path(struct ag_estate *e, const char *id,
			    enum ag_path_kind kind, const char *const *to,
			    const char *const *methods, const char *const *via,
			    int64_t lifetime)
{
	struct ag_path_spec s;
	struct ag_error err;

	memset(&s, 0, sizeof(s));
	s.id = id;
	s.kind = kind;
	s.to = to;
	s.n_to = list_len(to);
	s.methods = methods;
	s.n_methods = list_len(methods);
	s.via = via;
	s.n_via = list_len(via);
	s.lifetime = lifetime;
	s.approvals = -1;
	s.file = "estate.yaml";
	s.line = 1;
	s.col = 1;
	ag_error_init(&err);
	if (ag_estate_add_path(e, &s, &err) != AG_OK)
		fail_msg("path '%s' not added: %s", id, err.msg);
}

/* Resolves the estate and runs the audit; both must succeed. */
static inline struct ag_audit *audit_ok(struct ag_estate *e)
{
	struct ag_audit *a = NULL;
	struct ag_error err;

	ag_error_init(&err);
	if (ag_estate_resolve(e, &err) != AG_OK)
		fail_msg("resolve failed: %s", err.msg);
	ag_error_init(&err);
	if (ag_audit_run(e, &a, &err) != AG_OK)
		fail_msg("audit failed: %s", err.msg);
	assert_non_null(a);
	return a;
}

/* The result of the account called id, which must exist. */
static inline const struct ag_account_result *
result_of(const struct ag_estate *e, const struct ag_audit *a, const char *id)
{
	uint32_t i = ag_estate_find_account(e, id);
	if (i == AG_NONE)
		fail_msg("no account '%s'", id);
	assert_true(i < a->n_accounts);
	return &a->accounts[i];
}

static inline int eff_of(const struct ag_estate *e, const struct ag_audit *a,
			 const char *id)
{
	return result_of(e, a, id)->effective;
}

/* How many findings of rule r concern account id (NULL: any account). */
static inline size_t count_findings(const struct ag_estate *e,
				    const struct ag_audit *a, enum ag_rule r,
				    const char *id)
{
	uint32_t acct = id ? ag_estate_find_account(e, id) : AG_NONE;
	size_t n = 0;
	for (size_t i = 0; i < a->n_findings; i++)
		if (a->findings[i].rule == (uint8_t)r &&
		    (!id || a->findings[i].account == acct))
			n++;
	return n;
}

#endif
