/*
 * check: compares an audit's JSON output with a case's expected.json.
 *
 *   check EXPECTED.json ACTUAL.json EXIT_CODE
 *
 * expected.json may hold:
 *   "exit": N                      the exit status
 *   "accounts": { ID: { "effective": N, "nominal": N, "required": N,
 *                       "phishing_resistant": B, "hardware": B,
 *                       "assumed": B, "reachable": B,
 *                       "witness": [[ACCOUNT, PATH-or-null], ...] } }
 *   "findings": [[RULE, ACCOUNT-or-null, PATH-or-null], ...]
 *                                  the exact multiset of findings
 *   "findings_include": [...]      findings that must be among them
 *   "findings_exclude": [...]      findings that must not be
 *   "affected": { FINDING-ID: [ACCOUNT, ...] }
 *                                  the exact accounts a per-path finding
 *                                  (AG-P03..AG-P06) lists
 *   "affected_exclude": { FINDING-ID: [ACCOUNT, ...] }
 *                                  accounts it must not list
 *   "summary": { "below_required": N, "findings": N }
 * Every mismatch is printed; the exit status is 1 when any was found.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void fail(const char *fmt, const char *a, const char *b, const char *c)
{
	fprintf(stderr, "  mismatch: ");
	fprintf(stderr, fmt, a, b, c);
	fputc('\n', stderr);
	failures++;
}

static char *dump(const json_t *j)
{
	return j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("(missing)");
}

static const json_t *find_account(const json_t *actual, const char *id)
{
	const json_t *accts = json_object_get(actual, "accounts");
	size_t i;
	const json_t *a;
	json_array_foreach(accts, i, a) {
		const char *aid = json_string_value(json_object_get(a, "id"));
		if (aid && !strcmp(aid, id))
			return a;
	}
	return NULL;
}

static void check_field(const char *id, const char *field, const json_t *want,
			const json_t *got)
{
	if (!got || !json_equal(want, got)) {
		char *w = dump(want), *g = dump(got);
		fail("account '%s' %s", id, field, NULL);
		fprintf(stderr, "    expected %s, got %s\n", w, g);
		free(w);
		free(g);
	}
}

/* The witness as [[account, path], ...]. */
static json_t *witness_pairs(const json_t *witness)
{
	json_t *out = json_array();
	size_t i;
	const json_t *s;
	json_array_foreach(witness, i, s) {
		json_t *pair = json_array();
		json_array_append(pair, json_object_get(s, "account"));
		const json_t *p = json_object_get(s, "path");
		json_array_append(pair, p ? (json_t *)p : json_null());
		json_array_append_new(out, pair);
	}
	return out;
}

static json_t *finding_triples(const json_t *actual)
{
	json_t *out = json_array();
	size_t i;
	const json_t *f;
	json_array_foreach(json_object_get(actual, "findings"), i, f) {
		json_t *t = json_array();
		json_array_append(t, json_object_get(f, "rule"));
		json_array_append(t, json_object_get(f, "account"));
		json_array_append(t, json_object_get(f, "path"));
		json_array_append_new(out, t);
	}
	return out;
}

/* Removes one element equal to x from arr; returns 1 if it did. */
static int take(json_t *arr, const json_t *x)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		if (json_equal(v, x)) {
			json_array_remove(arr, i);
			return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	json_error_t je;
	if (argc != 4) {
		fprintf(stderr, "usage: check EXPECTED ACTUAL EXIT\n");
		return 2;
	}
	json_t *exp = json_load_file(argv[1], JSON_REJECT_DUPLICATES, &je);
	if (!exp) {
		fprintf(stderr, "%s:%d:%d: %s\n", argv[1], je.line, je.column, je.text);
		return 2;
	}
	json_t *act = json_load_file(argv[2], 0, &je);
	if (!act) {
		fprintf(stderr, "  actual output is not JSON: %s:%d:%d: %s\n",
			argv[2], je.line, je.column, je.text);
		return 1;
	}
	int code = atoi(argv[3]);

	const json_t *want_exit = json_object_get(exp, "exit");
	if (want_exit && json_integer_value(want_exit) != code) {
		char w[32], g[32];
		snprintf(w, sizeof(w), "%lld", (long long)json_integer_value(want_exit));
		snprintf(g, sizeof(g), "%d", code);
		fail("exit status: expected %s, got %s%s", w, g, "");
	}

	const char *id;
	json_t *want;
	json_object_foreach(json_object_get(exp, "accounts"), id, want) {
		const json_t *a = find_account(act, id);
		if (!a) {
			fail("account '%s' is missing%s%s", id, "", "");
			continue;
		}
		const char *field;
		json_t *v;
		json_object_foreach(want, field, v) {
			const json_t *got = NULL;
			json_t *tmp = NULL;
			if (!strcmp(field, "effective") || !strcmp(field, "phishing_resistant") ||
			    !strcmp(field, "hardware") || !strcmp(field, "assumed")) {
				const char *k = !strcmp(field, "effective") ? "aal" : field;
				got = json_object_get(json_object_get(a, "effective"), k);
			} else if (!strcmp(field, "nominal")) {
				got = json_object_get(json_object_get(a, "nominal"), "aal");
			} else if (!strcmp(field, "required")) {
				got = json_object_get(json_object_get(a, "required"), "aal");
			} else if (!strcmp(field, "witness")) {
				tmp = witness_pairs(json_object_get(a, "witness"));
				got = tmp;
			} else {
				got = json_object_get(a, field);
			}
			check_field(id, field, v, got);
			json_decref(tmp);
		}
	}

	json_t *triples = finding_triples(act);
	const json_t *exact = json_object_get(exp, "findings");
	if (exact) {
		json_t *left = json_deep_copy(triples);
		size_t i;
		const json_t *f;
		json_array_foreach(exact, i, f) {
			if (!take(left, f)) {
				char *s = dump(f);
				fail("expected finding %s is missing%s%s", s, "", "");
				free(s);
			}
		}
		json_array_foreach(left, i, f) {
			char *s = dump(f);
			fail("unexpected finding %s%s%s", s, "", "");
			free(s);
		}
		json_decref(left);
	}
	const json_t *inc = json_object_get(exp, "findings_include");
	if (inc) {
		size_t i;
		const json_t *f;
		json_array_foreach(inc, i, f) {
			json_t *left = json_deep_copy(triples);
			if (!take(left, f)) {
				char *s = dump(f);
				fail("expected finding %s is missing%s%s", s, "", "");
				free(s);
			}
			json_decref(left);
		}
	}
	const json_t *exc = json_object_get(exp, "findings_exclude");
	if (exc) {
		size_t i;
		const json_t *f;
		json_array_foreach(exc, i, f) {
			json_t *left = json_deep_copy(triples);
			if (take(left, f)) {
				char *s = dump(f);
				fail("finding %s must not be reported%s%s", s, "", "");
				free(s);
			}
			json_decref(left);
		}
	}
	for (int mode = 0; mode < 2; mode++) {
		const json_t *aff = json_object_get(exp, mode ? "affected_exclude" : "affected");
		const char *fid;
		json_t *want_list;
		json_object_foreach((json_t *)aff, fid, want_list) {
			const json_t *got = NULL;
			size_t i;
			const json_t *f;
			json_array_foreach(json_object_get(act, "findings"), i, f) {
				const char *fid2 = json_string_value(json_object_get(f, "id"));
				if (fid2 && !strcmp(fid2, fid))
					got = json_object_get(f, "accounts");
			}
			if (!got) {
				if (!mode)
					fail("finding '%s' has no accounts list%s%s", fid, "", "");
				continue;
			}
			json_t *left = json_deep_copy(got);
			const json_t *a;
			json_array_foreach(want_list, i, a) {
				int found = take(left, a);
				if (!mode && !found) {
					char *sa = dump(a);
					fail("finding '%s' does not list %s%s", fid, sa, "");
					free(sa);
				}
				if (mode && found) {
					char *sa = dump(a);
					fail("finding '%s' must not list %s%s", fid, sa, "");
					free(sa);
				}
			}
			if (!mode) {
				json_array_foreach(left, i, a) {
					char *sa = dump(a);
					fail("finding '%s' also lists %s%s", fid, sa, "");
					free(sa);
				}
			}
			json_decref(left);
		}
	}

	const json_t *sum = json_object_get(exp, "summary");
	if (sum) {
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)sum, k, v) {
			const json_t *got = json_object_get(json_object_get(act, "summary"), k);
			if (!got || !json_equal(v, got)) {
				char *w = dump(v), *g = dump(got);
				fail("summary %s: expected %s, got %s", k, w, g);
				free(w);
				free(g);
			}
		}
	}
	json_decref(triples);
	json_decref(exp);
	json_decref(act);
	return failures ? 1 : 0;
}
