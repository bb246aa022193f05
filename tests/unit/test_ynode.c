/*
 * The capped YAML node reader under the policy and estate loaders: caps,
 * refusals and messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"
#include "ynode.h"

/* Reads one document; returns the code, *root on success, err always. */
static ag_code parse(const char *buf, size_t len, struct ag_ynode **root,
		     struct ag_error *err)
{
	struct ag_yreader r;
	ag_code rc;

	ag_error_init(err);
	*root = NULL;
	if ((rc = ag_yreader_init(&r, "t.yaml", buf, len, err)))
		return rc;
	rc = ag_yreader_document(&r, root);
	ag_yreader_release(&r);
	return rc;
}

static struct ag_ynode *parse_ok(const char *buf, size_t len)
{
	struct ag_ynode *root;
	struct ag_error err;
	if (parse(buf, len, &root, &err) != AG_OK)
		fail_msg("did not parse: %s", err.msg);
	assert_non_null(root);
	return root;
}

static void parse_fails(const char *buf, size_t len, ag_code code,
			const char *msg)
{
	struct ag_ynode *root;
	struct ag_error err;
	ag_code rc = parse(buf, len, &root, &err);
	assert_null(root);
	assert_string_equal(err.msg, msg);
	assert_int_equal(rc, code);
}

#define PARSE_OK(lit) parse_ok(lit, sizeof(lit) - 1)
#define PARSE_FAILS(lit, code, msg) parse_fails(lit, sizeof(lit) - 1, code, msg)

/* n nested flow sequences: "[[[...]]]". */
static char *nested(size_t n)
{
	char *s = malloc(2 * n + 2);
	assert_non_null(s);
	memset(s, '[', n);
	memset(s + n, ']', n);
	s[2 * n] = '\n';
	s[2 * n + 1] = '\0';
	return s;
}

static void test_depth_cap(void **state)
{
	(void)state;
	char *ok = nested(AG_YAML_MAX_DEPTH);
	struct ag_ynode *root = parse_ok(ok, strlen(ok));
	size_t depth = 0;
	for (const struct ag_ynode *n = root; n && n->type == AG_Y_SEQ;
	     n = n->n ? n->items[0] : NULL)
		depth++;
	assert_int_equal(depth, AG_YAML_MAX_DEPTH);
	ag_ynode_free(root);
	free(ok);

	char *deep = nested(AG_YAML_MAX_DEPTH + 1);
	parse_fails(deep, strlen(deep), AG_ERR_LIMIT,
		    "t.yaml:1:65: nesting too deep (at most 64 levels)");
	free(deep);

	/* Far deeper input fails the same way, without recursing further. */
	char *deeper = nested(100000);
	parse_fails(deeper, strlen(deeper), AG_ERR_LIMIT,
		    "t.yaml:1:65: nesting too deep (at most 64 levels)");
	free(deeper);
}

static void test_scalar_cap(void **state)
{
	(void)state;
	size_t n = AG_YAML_MAX_SCALAR;
	char *buf = malloc(n + 16);
	assert_non_null(buf);

	memcpy(buf, "a: ", 3);
	memset(buf + 3, 'x', n);
	buf[3 + n] = '\n';
	struct ag_ynode *root = parse_ok(buf, n + 4);
	assert_int_equal(root->type, AG_Y_MAP);
	assert_int_equal(root->items[1]->len, n);
	ag_ynode_free(root);

	memset(buf + 3, 'x', n + 1);
	buf[4 + n] = '\n';
	parse_fails(buf, n + 5, AG_ERR_LIMIT,
		    "t.yaml:1:4: value too long (65537 bytes, at most 65536)");

	/* Keys are capped the same way. */
	memset(buf, 'k', n + 1);
	memcpy(buf + n + 1, ": 1\n", 4);
	parse_fails(buf, n + 5, AG_ERR_LIMIT,
		    "t.yaml:1:1: value too long (65537 bytes, at most 65536)");
	free(buf);
}

static void test_aliases_refused(void **state)
{
	(void)state;
	PARSE_FAILS("a: &x 1\nb: *x\n", AG_ERR_INVALID,
		    "t.yaml:2:4: YAML aliases are not supported");
	PARSE_FAILS("base: &b { aal: 2 }\nstaff:\n  <<: *b\n", AG_ERR_INVALID,
		    "t.yaml:3:7: YAML aliases are not supported");
	PARSE_FAILS("- &a [x]\n- [*a, *a]\n", AG_ERR_INVALID,
		    "t.yaml:2:4: YAML aliases are not supported");
}

static void test_duplicate_keys(void **state)
{
	(void)state;
	PARSE_FAILS("a: 1\nb: 2\na: 3\n", AG_ERR_INVALID,
		    "t.yaml:3:1: duplicate key 'a' (first at line 1)");
	PARSE_FAILS("x:\n  - { k: 1, k: 2 }\n", AG_ERR_INVALID,
		    "t.yaml:2:13: duplicate key 'k' (first at line 2)");
	/* Quoting does not make a key different. */
	PARSE_FAILS("a: 1\n\"a\": 2\n", AG_ERR_INVALID,
		    "t.yaml:2:1: duplicate key 'a' (first at line 1)");
	/* The same key in different mappings is fine. */
	struct ag_ynode *root = PARSE_OK("a: { k: 1 }\nb: { k: 2 }\n");
	assert_int_equal(root->n, 4);
	ag_ynode_free(root);
}

static void test_mapping_keys_are_scalars(void **state)
{
	(void)state;
	PARSE_FAILS("? [a, b]\n: 1\n", AG_ERR_INVALID,
		    "t.yaml:1:3: mapping keys must be plain names");
}

static void test_empty_document(void **state)
{
	(void)state;
	parse_fails("", 0, AG_ERR_INVALID, "t.yaml:1:1: empty file");
	PARSE_FAILS("# only a comment\n", AG_ERR_INVALID,
		    "t.yaml:1:1: empty file");
	PARSE_FAILS("\n\n   \n", AG_ERR_INVALID, "t.yaml:1:1: empty file");

	/* An explicit empty document is a null value, not an error. */
	struct ag_ynode *root = PARSE_OK("---\n");
	assert_int_equal(root->type, AG_Y_SCALAR);
	assert_true(ag_ynode_is_null(root));
	assert_string_equal(ag_ytype_name(root), "nothing");
	ag_ynode_free(root);
}

static void test_second_document(void **state)
{
	(void)state;
	PARSE_FAILS("a: 1\n---\nb: 2\n", AG_ERR_INVALID,
		    "t.yaml:2:1: a second YAML document; one file holds one "
		    "document");
}

static void test_tab_in_indentation(void **state)
{
	(void)state;
	PARSE_FAILS("a:\n\tb: 1\n", AG_ERR_SYNTAX,
		    "t.yaml:2:1: tab character; YAML indentation must use "
		    "spaces");
	PARSE_FAILS("workflows:\n  staff:\n\t aal: 2\n", AG_ERR_SYNTAX,
		    "t.yaml:3:1: tab character; YAML indentation must use "
		    "spaces");
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	PARSE_FAILS("a: \xff\n", AG_ERR_SYNTAX,
		    "t.yaml:1:4: invalid leading UTF-8 octet (the file must be "
		    "UTF-8 text)");
	PARSE_FAILS("a: ok\nb: caf\xc3(\n", AG_ERR_SYNTAX,
		    "t.yaml:2:7: invalid trailing UTF-8 octet (the file must be "
		    "UTF-8 text)");
	/* Latin-1 text is the usual way to get here. */
	PARSE_FAILS("name: Jos\xe9\n", AG_ERR_SYNTAX,
		    "t.yaml:1:10: incomplete UTF-8 octet sequence (the file "
		    "must be UTF-8 text)");
	/* Valid UTF-8 is kept byte for byte. */
	struct ag_ynode *root = PARSE_OK("name: Jos\xc3\xa9\n");
	assert_string_equal(root->items[1]->str, "Jos\xc3\xa9");
	ag_ynode_free(root);
}

static void test_nul_refused(void **state)
{
	(void)state;
	PARSE_FAILS("a: \"x\\0y\"\n", AG_ERR_INVALID,
		    "t.yaml:1:4: value contains a NUL character");
}

static void test_syntax_error_position(void **state)
{
	(void)state;
	PARSE_FAILS("a: [1, 2\nb: 3\n", AG_ERR_SYNTAX,
		    "t.yaml:2:2: did not find expected ',' or ']' while "
		    "parsing a flow sequence");
}

/* Every node knows where it is; plain and quoted scalars are told apart. */
static void test_positions_and_styles(void **state)
{
	(void)state;
	static const char text[] = "top:\n"
				   "  list: [x, \"y\"]\n"
				   "  empty: ~\n";
	struct ag_ynode *root = parse_ok(text, sizeof(text) - 1);
	assert_int_equal(root->type, AG_Y_MAP);
	assert_int_equal(root->line, 1);
	assert_int_equal(root->col, 1);
	const struct ag_ynode *top = root->items[1];
	assert_int_equal(top->type, AG_Y_MAP);
	assert_int_equal(top->n, 4);
	const struct ag_ynode *key = top->items[0];
	assert_string_equal(key->str, "list");
	assert_int_equal(key->line, 2);
	assert_int_equal(key->col, 3);
	const struct ag_ynode *list = top->items[1];
	assert_int_equal(list->type, AG_Y_SEQ);
	assert_int_equal(list->n, 2);
	assert_int_equal(list->col, 9);
	assert_true(list->items[0]->plain);
	assert_false(list->items[1]->plain);
	assert_int_equal(list->items[1]->line, 2);
	assert_int_equal(list->items[1]->col, 13);
	assert_true(ag_ynode_is_null(top->items[3]));
	assert_string_equal(ag_ytype_name(list), "a list");
	assert_string_equal(ag_ytype_name(top), "a mapping");
	assert_string_equal(ag_ytype_name(key), "a single value");
	ag_ynode_free(root);
}

static ag_code count_item(void *ctx, struct ag_yreader *r,
			  const struct ag_ynode *item)
{
	(void)r;
	(void)item;
	(*(size_t *)ctx)++;
	return AG_OK;
}

/* The typed accessors, with the messages the loaders pass on. */
static void test_typed_access(void **state)
{
	(void)state;
	static const char text[] = "b: yes\n"
				   "q: \"true\"\n"
				   "t: True\n"
				   "i: 12\n"
				   "d: 15m\n"
				   "s: [one, two]\n"
				   "o: one\n"
				   "m: { colour: red }\n";
	struct ag_yreader r;
	struct ag_ynode *root = NULL;
	struct ag_error err;
	bool bv;
	long lv;
	int64_t dv;
	const char *sv;
	size_t count = 0;

	ag_error_init(&err);
	assert_int_equal(ag_yreader_init(&r, "t.yaml", text, sizeof(text) - 1,
					 &err),
			 AG_OK);
	assert_int_equal(ag_yreader_document(&r, &root), AG_OK);
	struct ag_ynode **v = root->items;

	assert_int_equal(ag_ynode_bool(&r, v[1], "b", &bv), AG_ERR_INVALID);
	assert_string_equal(err.msg,
			    "t.yaml:1:4: b must be true or false, not 'yes'");
	/* A quoted "true" is a string, not a boolean. */
	assert_int_equal(ag_ynode_bool(&r, v[3], "q", &bv), AG_ERR_INVALID);
	assert_int_equal(ag_ynode_bool(&r, v[5], "t", &bv), AG_OK);
	assert_true(bv);

	assert_int_equal(ag_ynode_int(&r, v[7], "i", 0, 100, &lv), AG_OK);
	assert_int_equal(lv, 12);
	assert_int_equal(ag_ynode_int(&r, v[7], "i", 0, 3, &lv),
			 AG_ERR_INVALID);
	assert_string_equal(err.msg, "t.yaml:4:4: i must be a whole number "
				     "from 0 to 3, not '12'");
	assert_int_equal(ag_ynode_int(&r, v[11], "s", 0, 3, &lv),
			 AG_ERR_INVALID);
	assert_string_equal(err.msg, "t.yaml:6:4: s must be a whole number "
				     "from 0 to 3, not a list");

	assert_int_equal(ag_ynode_duration(&r, v[9], "d", &dv), AG_OK);
	assert_int_equal(dv, 900);
	assert_int_equal(ag_ynode_duration(&r, v[7], "i", &dv),
			 AG_ERR_INVALID);
	assert_string_equal(err.msg, "t.yaml:4:4: bad duration '12' for i "
				     "(write 90s, 15m, 12h or 30d)");

	assert_int_equal(ag_ynode_string(&r, v[13], "o", &sv), AG_OK);
	assert_string_equal(sv, "one");
	assert_int_equal(ag_ynode_string(&r, v[15], "m", &sv), AG_ERR_INVALID);
	assert_string_equal(err.msg, "t.yaml:8:4: m must be a single value, "
				     "not a mapping");

	assert_int_equal(ag_ynode_strlist(&r, v[11], "s", count_item, &count),
			 AG_OK);
	assert_int_equal(count, 2);
	count = 0;
	assert_int_equal(ag_ynode_strlist(&r, v[13], "o", count_item, &count),
			 AG_OK);
	assert_int_equal(count, 1);
	assert_int_equal(ag_ynode_strlist(&r, v[15], "m", count_item, &count),
			 AG_ERR_INVALID);
	assert_string_equal(err.msg,
			    "t.yaml:8:4: m must be a list, not a mapping");

	static const char *const keys[] = {"color", "size", NULL};
	assert_int_equal(ag_ynode_check_keys(&r, v[15], "the thing", keys),
			 AG_ERR_INVALID);
	assert_string_equal(err.msg, "t.yaml:8:6: unknown key 'colour' in the "
				     "thing; did you mean 'color'?");
	assert_int_equal(ag_ynode_expect_map(&r, v[11], "s"), AG_ERR_INVALID);
	assert_string_equal(err.msg,
			    "t.yaml:6:4: s must be a mapping, not a list");

	ag_ynode_free(root);
	ag_yreader_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_depth_cap),
		cmocka_unit_test(test_scalar_cap),
		cmocka_unit_test(test_aliases_refused),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_mapping_keys_are_scalars),
		cmocka_unit_test(test_empty_document),
		cmocka_unit_test(test_second_document),
		cmocka_unit_test(test_tab_in_indentation),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_nul_refused),
		cmocka_unit_test(test_syntax_error_position),
		cmocka_unit_test(test_positions_and_styles),
		cmocka_unit_test(test_typed_access),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
