/*
 * The machine-identity inventory loaders: the generic CSV and JSON/YAML
 * forms field by field, lists known and unknown, the never forms, owners,
 * duplicates, every refusal word for word with its file:line:col, the
 * limits, recognising each form (AG_NHI_AUTO), the records drawn from an
 * estate (ag_nhi_from_estate: ids, kinds, dates, interactive use, AWS
 * root and never-used keys, Keycloak client ids), and the real AWS
 * reports and Keycloak exports in ../shared/data when they are present.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "aalgate/import.h"
#include "aalgate/nhi.h"
#include "audit/estate.h"

static const char policy_text[] =
	"profile: sp800-63b-4\n"
	"workflows:\n"
	"  admin: { aal: 3 }\n"
	"  staff: { aal: 2 }\n"
	"  ci-deploy: { machine: true, credentials: [workload_identity, mtls] }\n";

/* Dates used below, in seconds since the epoch. */
#define D_2023_06_01 1685577600
#define D_2024_01_31 1706659200
#define D_2024_03_15_1030 1710498600
#define D_2025_02_01 1738368000
#define D_2025_04_20 1745107200
#define D_2025_05_01 1746057600
#define D_2026_01_31 1769817600

#define THUMB "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

struct inv {
	struct ag_policy *p;
	struct ag_nhi_inventory inv;
	struct ag_error err;
	ag_code rc;
};

static void inv_open(struct inv *t)
{
	t->p = policy_ok(policy_text);
	assert_int_equal(ag_nhi_inventory_init(&t->inv), AG_OK);
	ag_error_init(&t->err);
}

static void inv_close(struct inv *t)
{
	ag_nhi_inventory_release(&t->inv);
	ag_policy_free(t->p);
}

/* Loads text named name into a fresh inventory; returns the code. */
static ag_code load_as(struct inv *t, const char *name, const char *text,
		       enum ag_nhi_format fmt)
{
	inv_open(t);
	t->rc = ag_nhi_load_buffer(&t->inv, t->p, name, text, strlen(text), fmt,
				   &t->err);
	return t->rc;
}

/* Loads text, which must succeed. */
static void load_ok(struct inv *t, const char *name, const char *text,
		    enum ag_nhi_format fmt)
{
	if (load_as(t, name, text, fmt) != AG_OK)
		fail_msg("%s did not load: %s", name, t->err.msg);
}

/* Loading text must fail with exactly this code and message. */
static void load_fails(const char *name, const char *text,
		       enum ag_nhi_format fmt, ag_code code, const char *msg)
{
	struct inv t;
	load_as(&t, name, text, fmt);
	assert_string_equal(t.err.msg, msg);
	assert_int_equal(t.rc, code);
	inv_close(&t);
}

static const struct ag_nhi *rec_of(const struct inv *t, const char *id)
{
	for (size_t i = 0; i < t->inv.n; i++)
		if (!strcmp(t->inv.v[i].id, id))
			return &t->inv.v[i];
	fail_msg("no record '%s'", id);
	return NULL;
}

/* A list's entries joined by '|', or "(unknown)". */
static const char *joined(const struct ag_nhi_list *l, char *buf, size_t n)
{
	size_t k = 0;
	if (!l->known)
		return "(unknown)";
	buf[0] = '\0';
	for (size_t i = 0; i < l->n; i++)
		k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? "|" : "",
				      l->v[i]);
	return buf;
}

static void assert_list(const struct ag_nhi_list *l, const char *want)
{
	char buf[512];
	assert_string_equal(joined(l, buf, sizeof(buf)), want);
}

/* ---- the generic CSV form ------------------------------------------------ */

static const char full_csv[] =
	"id,kind,owner,owner_status,team,purpose,workflow,issuer,thumbprint,"
	"status,created,expires,last_rotated,last_used,scopes,used_scopes,"
	"environments,used_by,interactive,x-note\n"
	"deploy-bot,workload_identity,alice,active,platform,\"Deploys, "
	"nightly\",ci-deploy,https://idp.example/realms/ops," THUMB
	",active,2024-01-31,2026-01-31,2024-03-15T10:30:00Z,2025-05-01,"
	"\"repo:read repo:write\",repo:read,prod;staging,\"ci, cd\",false,"
	"\"anything \"\"here\"\"\"\n"
	"old-key,api_key,bob,offboarded,,,,,,retired,2023-06-01,never,,never,,"
	",,,2025-04-20,\n";

static void test_csv_fields(void **state)
{
	struct inv t;
	(void)state;
	load_ok(&t, "inv.csv", full_csv, AG_NHI_CSV);
	assert_int_equal(t.inv.n, 2);
	assert_int_equal(t.inv.n_files, 1);
	assert_string_equal(t.inv.files[0], "inv.csv");

	const struct ag_nhi *r = rec_of(&t, "deploy-bot");
	assert_string_equal(r->kind, "workload_identity");
	assert_string_equal(r->owner, "alice");
	assert_true(r->owner_status_given);
	assert_int_equal(r->owner_status, AG_OWNER_ACTIVE);
	assert_string_equal(r->team, "platform");
	assert_string_equal(r->purpose, "Deploys, nightly");
	assert_string_equal(r->workflow, "ci-deploy");
	assert_string_equal(r->issuer, "https://idp.example/realms/ops");
	assert_string_equal(r->thumbprint, THUMB);
	assert_int_equal(r->status, AG_NHI_ACTIVE);
	assert_int_equal(r->created, D_2024_01_31);
	assert_int_equal(r->expires, D_2026_01_31);
	assert_int_equal(r->last_rotated, D_2024_03_15_1030);
	assert_int_equal(r->last_used, D_2025_05_01);
	assert_false(r->never_used);
	assert_false(r->interactive);
	assert_int_equal(r->last_interactive, 0);
	assert_false(r->root);
	assert_list(&r->scopes, "repo:read|repo:write");
	assert_list(&r->used_scopes, "repo:read");
	assert_list(&r->environments, "prod|staging");
	assert_list(&r->used_by, "ci|cd");
	assert_int_equal(r->file, 0);
	assert_int_equal(r->line, 2);
	assert_int_equal(r->col, 1);

	r = rec_of(&t, "old-key");
	assert_string_equal(r->kind, "api_key");
	assert_string_equal(r->owner, "bob");
	assert_int_equal(r->owner_status, AG_OWNER_OFFBOARDED);
	assert_null(r->team);
	assert_null(r->purpose);
	assert_null(r->workflow);
	assert_null(r->issuer);
	assert_null(r->thumbprint);
	assert_int_equal(r->status, AG_NHI_RETIRED);
	assert_int_equal(r->created, D_2023_06_01);
	assert_int_equal(r->expires, 0);
	assert_int_equal(r->last_rotated, 0);
	assert_int_equal(r->last_used, 0);
	assert_true(r->never_used);
	assert_true(r->interactive);
	assert_int_equal(r->last_interactive, D_2025_04_20);
	/* Columns present with empty cells: known, empty lists. */
	assert_list(&r->scopes, "");
	assert_list(&r->used_scopes, "");
	assert_list(&r->environments, "");
	assert_list(&r->used_by, "");
	assert_int_equal(r->line, 3);

	/* The inventory resolves against the policy. */
	assert_int_equal(ag_nhi_resolve(&t.inv, t.p, &t.err), AG_OK);
	r = rec_of(&t, "deploy-bot");
	assert_true(r->workflow_idx >= 0);
	assert_string_equal(t.p->workflows[r->workflow_idx].name, "ci-deploy");
	assert_int_equal(r->method,
			 ag_catalogue_find(&t.p->catalogue, "workload_identity"));
	inv_close(&t);
}

/* Separators, CRLF, a byte order mark, blank lines, column order. */
static void test_csv_forms(void **state)
{
	struct inv t;
	(void)state;
	load_ok(&t, "inv.csv",
		"\xEF\xBB\xBF" "kind,scopes,id\r\n"
		"\r\n"
		"mtls,\" a,,b ;c\td\n e \",k1\r\n"
		"client_secret,\"\",k2\r\n",
		AG_NHI_CSV);
	assert_int_equal(t.inv.n, 2);
	const struct ag_nhi *r = rec_of(&t, "k1");
	assert_string_equal(r->kind, "mtls");
	assert_list(&r->scopes, "a|b|c|d|e");
	/* Columns not in the header: unknown, not empty. */
	assert_list(&r->used_scopes, "(unknown)");
	assert_list(&r->environments, "(unknown)");
	assert_list(&r->used_by, "(unknown)");
	assert_null(r->owner);
	assert_false(r->owner_status_given);
	assert_int_equal(r->status, AG_NHI_ACTIVE);
	assert_int_equal(r->line, 3);
	r = rec_of(&t, "k2");
	assert_list(&r->scopes, "");
	assert_int_equal(r->line, 5); /* k1's quoted cell holds a line break */
	inv_close(&t);

	/* Words in any case. */
	load_ok(&t, "inv.csv",
		"id,kind,status,owner_status,expires,last_used,interactive\n"
		"a,api_key,Disabled,UNKNOWN,NEVER,Never,TRUE\n",
		AG_NHI_CSV);
	r = rec_of(&t, "a");
	assert_int_equal(r->status, AG_NHI_DISABLED);
	assert_true(r->owner_status_given);
	assert_int_equal(r->owner_status, AG_OWNER_UNKNOWN);
	assert_int_equal(r->expires, 0);
	assert_true(r->never_used);
	assert_true(r->interactive);
	assert_int_equal(r->last_interactive, 0);
	inv_close(&t);

	/* A header alone is an empty inventory. */
	load_ok(&t, "inv.csv", "id,kind\n", AG_NHI_CSV);
	assert_int_equal(t.inv.n, 0);
	inv_close(&t);
}

static void test_csv_errors(void **state)
{
	(void)state;
	load_fails("inv.csv", "id,kind,ownr\na,api_key,bob\n", AG_NHI_CSV,
		   AG_ERR_INVALID,
		   "inv.csv:1:9: unknown column 'ownr' (columns whose name "
		   "starts with x- are ignored); did you mean 'owner'?");
	load_fails("inv.csv", "id,kind,\na,api_key,\n", AG_NHI_CSV,
		   AG_ERR_INVALID,
		   "inv.csv:1:9: a column without a name (name every column; "
		   "columns whose name starts with x- are ignored)");
	load_fails("inv.csv", "id,kind,owner,owner\n", AG_NHI_CSV,
		   AG_ERR_INVALID,
		   "inv.csv:1:15: duplicate column 'owner' (first at 1:9)");
	load_fails("inv.csv", "id,owner\na,b\n", AG_NHI_CSV, AG_ERR_INVALID,
		   "inv.csv:1:1: missing column 'kind' (the generic CSV form "
		   "needs id and kind)");
	load_fails("inv.csv", "kind,owner\napi_key,b\n", AG_NHI_CSV,
		   AG_ERR_INVALID,
		   "inv.csv:1:1: missing column 'id' (the generic CSV form "
		   "needs id and kind)");
	load_fails("inv.csv",
		   "id,kind,created\n"
		   "a,api_key,2024-01-31\n"
		   "b,api_key,2024-02-30\n",
		   AG_NHI_CSV, AG_ERR_INVALID,
		   "inv.csv:3:11: bad date '2024-02-30' for created (write "
		   "2024-01-31 or 2024-01-31T10:00:00Z)");
	load_fails("inv.csv", "id,kind,expires\na,api_key,soon\n", AG_NHI_CSV,
		   AG_ERR_INVALID,
		   "inv.csv:2:11: bad date 'soon' for expires (write "
		   "2024-01-31, 2024-01-31T10:00:00Z or never)");
	load_fails("inv.csv", "id,kind,created\na,api_key,never\n",
		   AG_NHI_CSV, AG_ERR_INVALID,
		   "inv.csv:2:11: bad date 'never' for created (write "
		   "2024-01-31 or 2024-01-31T10:00:00Z)");
	load_fails("inv.csv", "id,kind,purpose\na,api_key,\"unfinished\n",
		   AG_NHI_CSV, AG_ERR_SYNTAX,
		   "inv.csv:2:11: unterminated quoted field");
	load_fails("inv.csv", "id,kind\na,api_key\nb\n", AG_NHI_CSV,
		   AG_ERR_INVALID,
		   "inv.csv:3:1: row has 1 fields; the header has 2");
	load_fails("inv.csv", "id,kind\na,api_keyy\n", AG_NHI_CSV,
		   AG_ERR_INVALID,
		   "inv.csv:2:3: unknown kind 'api_keyy' (a method of the "
		   "catalogue, such as api_key, client_secret, "
		   "workload_identity or mtls); did you mean 'api_key'?");
	load_fails("inv.csv", "id,kind,workflow\na,api_key,ci-deplyo\n",
		   AG_NHI_CSV, AG_ERR_INVALID,
		   "inv.csv:2:11: unknown workflow 'ci-deplyo'; did you mean "
		   "'ci-deploy'?");
	load_fails("inv.csv", "id,kind,status\na,api_key,actve\n", AG_NHI_CSV,
		   AG_ERR_INVALID,
		   "inv.csv:2:11: unknown status 'actve' (active, disabled "
		   "or retired); did you mean 'active'?");
	load_fails("inv.csv", "id,kind,owner_status\na,api_key,gone\n",
		   AG_NHI_CSV, AG_ERR_INVALID,
		   "inv.csv:2:11: unknown owner_status 'gone' (active, "
		   "offboarded or unknown)");
	load_fails("inv.csv", "id,kind,interactive\na,api_key,yes\n",
		   AG_NHI_CSV, AG_ERR_INVALID,
		   "inv.csv:2:11: interactive must be true, false or the date "
		   "of the last interactive use (2024-01-31 or "
		   "2024-01-31T10:00:00Z), not 'yes'");
	load_fails("inv.csv", "id,kind,thumbprint\na,mtls,abc\n", AG_NHI_CSV,
		   AG_ERR_INVALID,
		   "inv.csv:2:8: thumbprint must be the base64url SHA-256 of "
		   "the key (43 characters, as in cnf x5t#S256 or jkt), not "
		   "'abc'");
	load_fails("inv.csv", "id,kind\n,api_key\n", AG_NHI_CSV,
		   AG_ERR_INVALID, "inv.csv:2:1: id is empty");
	load_fails("inv.csv", "id,kind\na,\n", AG_NHI_CSV, AG_ERR_INVALID,
		   "inv.csv:2:3: kind is empty");
	/* Ids without control characters; text in UTF-8. */
	load_fails("inv.csv", "id,kind\n\"a\tb\",api_key\n", AG_NHI_CSV,
		   AG_ERR_INVALID,
		   "inv.csv:2:1: id contains a control character");
	load_fails("inv.csv", "id,kind,owner\na,api_key,b\xC3\x28\n",
		   AG_NHI_CSV, AG_ERR_INVALID,
		   "inv.csv:2:11: owner is not valid UTF-8");
	load_fails("inv.csv", "id,kind,scopes\na,api_key,x \xFF y\n",
		   AG_NHI_CSV, AG_ERR_INVALID,
		   "inv.csv:2:11: scopes is not valid UTF-8");
}

/* "a" and a NUL: strlen stops at the NUL, so build such input by hand. */
static void test_csv_nul(void **state)
{
	struct inv t;
	static const char text[] = "id,kind\na\0,api_key\n";
	(void)state;
	inv_open(&t);
	t.rc = ag_nhi_load_buffer(&t.inv, t.p, "inv.csv", text,
				  sizeof(text) - 1, AG_NHI_CSV, &t.err);
	assert_int_equal(t.rc, AG_ERR_SYNTAX);
	assert_string_equal(t.err.msg, "inv.csv:2:2: NUL byte");
	inv_close(&t);
}

static void test_duplicates(void **state)
{
	(void)state;
	load_fails("inv.csv",
		   "id,kind\n"
		   "a,api_key\n"
		   "b,api_key\n"
		   "a,mtls\n",
		   AG_NHI_CSV, AG_ERR_INVALID,
		   "inv.csv:4:1: machine identity 'a' is already listed at "
		   "inv.csv:2:1");
	load_fails("inv.yaml",
		   "- { id: a, kind: api_key }\n"
		   "- id: a\n"
		   "  kind: mtls\n",
		   AG_NHI_JSON, AG_ERR_INVALID,
		   "inv.yaml:2:3: machine identity 'a' is already listed at "
		   "inv.yaml:1:3");
	/* The same id under two issuers is two records. */
	struct inv t;
	load_ok(&t, "inv.csv",
		"id,kind,issuer\na,api_key,https://one\na,api_key,https://two\n",
		AG_NHI_CSV);
	assert_int_equal(t.inv.n, 2);
	/* Across files of one inventory, both files are named. */
	const char *second = "[{id: a, kind: mtls, issuer: https://two}]";
	t.rc = ag_nhi_load_buffer(&t.inv, t.p, "more.yaml", second,
				  strlen(second), AG_NHI_AUTO, &t.err);
	assert_int_equal(t.rc, AG_ERR_INVALID);
	assert_string_equal(t.err.msg,
			    "more.yaml:1:2: machine identity 'a' of issuer "
			    "https://two is already listed at inv.csv:3:1");
	inv_close(&t);
}

/* ---- the generic JSON/YAML form ------------------------------------------ */

static const char full_yaml[] =
	"# machine identities\n"
	"owners:\n"
	"  - { id: alice, team: platform }\n"
	"  - id: bob\n"
	"    status: offboarded\n"
	"identities:\n"
	"  - id: deploy-bot\n"
	"    kind: workload_identity\n"
	"    owner: alice\n"
	"    owner_status: active\n"
	"    team: platform\n"
	"    purpose: |\n"
	"      Deploys,\n"
	"      nightly\n"
	"    workflow: ci-deploy\n"
	"    issuer: https://idp.example/realms/ops\n"
	"    thumbprint: " THUMB "\n"
	"    status: active\n"
	"    created: 2024-01-31\n"
	"    expires: 2026-01-31\n"
	"    last_rotated: 2024-03-15T10:30:00Z\n"
	"    last_used: 2025-05-01\n"
	"    scopes: [repo:read, repo:write]\n"
	"    used_scopes: repo:read\n"
	"    environments:\n"
	"      - prod\n"
	"      - staging\n"
	"    used_by: [ci, cd]\n"
	"    interactive: false\n"
	"  - id: old-key\n"
	"    kind: api_key\n"
	"    owner: bob\n"
	"    status: retired\n"
	"    created: 2023-06-01\n"
	"    expires: never\n"
	"    last_used: never\n"
	"    last_rotated: ~\n"
	"    scopes: []\n"
	"    used_scopes:\n"
	"    environments: ''\n"
	"    interactive: 2025-04-20\n";

static const char full_json[] =
	"{\"owners\": [{\"id\": \"alice\", \"team\": \"platform\"},\n"
	"             {\"id\": \"bob\", \"status\": \"offboarded\"}],\n"
	" \"identities\": [\n"
	"  {\"id\": \"deploy-bot\", \"kind\": \"workload_identity\",\n"
	"   \"owner\": \"alice\", \"owner_status\": \"active\",\n"
	"   \"team\": \"platform\", \"purpose\": \"Deploys,\\nnightly\\n\",\n"
	"   \"workflow\": \"ci-deploy\",\n"
	"   \"issuer\": \"https://idp.example/realms/ops\",\n"
	"   \"thumbprint\": \"" THUMB "\", \"status\": \"active\",\n"
	"   \"created\": \"2024-01-31\", \"expires\": \"2026-01-31\",\n"
	"   \"last_rotated\": \"2024-03-15T10:30:00Z\",\n"
	"   \"last_used\": \"2025-05-01\",\n"
	"   \"scopes\": [\"repo:read\", \"repo:write\"],\n"
	"   \"used_scopes\": \"repo:read\",\n"
	"   \"environments\": [\"prod\", \"staging\"],\n"
	"   \"used_by\": [\"ci\", \"cd\"], \"interactive\": false},\n"
	"  {\"id\": \"old-key\", \"kind\": \"api_key\", \"owner\": \"bob\",\n"
	"   \"status\": \"retired\", \"created\": \"2023-06-01\",\n"
	"   \"expires\": \"never\", \"last_used\": \"never\",\n"
	"   \"last_rotated\": null, \"scopes\": [], \"used_scopes\": null,\n"
	"   \"environments\": \"\", \"interactive\": \"2025-04-20\"}\n"
	" ]}\n";

static void check_full_tree(struct inv *t, unsigned line2)
{
	assert_int_equal(t->inv.n, 2);
	assert_int_equal(t->inv.n_owners, 2);
	assert_true(t->inv.has_owners);
	const struct ag_nhi_owner *o = ag_nhi_owner_find(&t->inv, "alice");
	assert_non_null(o);
	assert_string_equal(o->team, "platform");
	assert_int_equal(o->status, AG_OWNER_ACTIVE);
	o = ag_nhi_owner_find(&t->inv, "bob");
	assert_non_null(o);
	assert_null(o->team);
	assert_int_equal(o->status, AG_OWNER_OFFBOARDED);

	const struct ag_nhi *r = rec_of(t, "deploy-bot");
	assert_string_equal(r->kind, "workload_identity");
	assert_string_equal(r->owner, "alice");
	assert_true(r->owner_status_given);
	assert_int_equal(r->owner_status, AG_OWNER_ACTIVE);
	assert_string_equal(r->team, "platform");
	assert_string_equal(r->purpose, "Deploys,\nnightly\n");
	assert_string_equal(r->workflow, "ci-deploy");
	assert_string_equal(r->issuer, "https://idp.example/realms/ops");
	assert_string_equal(r->thumbprint, THUMB);
	assert_int_equal(r->status, AG_NHI_ACTIVE);
	assert_int_equal(r->created, D_2024_01_31);
	assert_int_equal(r->expires, D_2026_01_31);
	assert_int_equal(r->last_rotated, D_2024_03_15_1030);
	assert_int_equal(r->last_used, D_2025_05_01);
	assert_false(r->never_used);
	assert_false(r->interactive);
	assert_list(&r->scopes, "repo:read|repo:write");
	assert_list(&r->used_scopes, "repo:read");
	assert_list(&r->environments, "prod|staging");
	assert_list(&r->used_by, "ci|cd");

	r = rec_of(t, "old-key");
	assert_string_equal(r->kind, "api_key");
	assert_string_equal(r->owner, "bob");
	assert_false(r->owner_status_given);
	assert_null(r->team);
	assert_null(r->purpose);
	assert_int_equal(r->status, AG_NHI_RETIRED);
	assert_int_equal(r->created, D_2023_06_01);
	assert_int_equal(r->expires, 0);
	assert_int_equal(r->last_rotated, 0);
	assert_int_equal(r->last_used, 0);
	assert_true(r->never_used);
	assert_true(r->interactive);
	assert_int_equal(r->last_interactive, D_2025_04_20);
	assert_list(&r->scopes, "");
	assert_list(&r->used_scopes, "");
	assert_list(&r->environments, "");
	assert_list(&r->used_by, "(unknown)");
	assert_int_equal(r->line, line2);

	/* Owners decide owner_status where the record does not. */
	assert_int_equal(ag_nhi_resolve(&t->inv, t->p, &t->err), AG_OK);
	assert_int_equal(rec_of(t, "old-key")->owner_status,
			 AG_OWNER_OFFBOARDED);
}

static void test_yaml_fields(void **state)
{
	struct inv t;
	(void)state;
	load_ok(&t, "inv.yaml", full_yaml, AG_NHI_JSON);
	check_full_tree(&t, 30);
	const struct ag_nhi *r = rec_of(&t, "deploy-bot");
	assert_int_equal(r->line, 7);
	assert_int_equal(r->col, 5);
	assert_int_equal(ag_nhi_owner_find(&t.inv, "bob")->line, 4);
	inv_close(&t);

	load_ok(&t, "inv.json", full_json, AG_NHI_JSON);
	check_full_tree(&t, 17);
	inv_close(&t);

	/* The same through recognition. */
	load_ok(&t, "inv.yaml", full_yaml, AG_NHI_AUTO);
	check_full_tree(&t, 30);
	inv_close(&t);
	load_ok(&t, "inv.json", full_json, AG_NHI_AUTO);
	check_full_tree(&t, 17);
	inv_close(&t);
}

/* A top-level list; lists known and unknown; empty forms. */
static void test_yaml_forms(void **state)
{
	struct inv t;
	(void)state;
	load_ok(&t, "inv.yaml",
		"- id: a\n"
		"  kind: api_key\n"
		"- {id: b, kind: mtls, scopes: [x], owner: ~, team: ''}\n",
		AG_NHI_JSON);
	assert_int_equal(t.inv.n, 2);
	assert_false(t.inv.has_owners);
	const struct ag_nhi *r = rec_of(&t, "a");
	assert_list(&r->scopes, "(unknown)");
	assert_list(&r->used_scopes, "(unknown)");
	r = rec_of(&t, "b");
	assert_list(&r->scopes, "x");
	assert_null(r->owner);
	assert_null(r->team);
	inv_close(&t);

	load_ok(&t, "inv.json", "[]", AG_NHI_JSON);
	assert_int_equal(t.inv.n, 0);
	inv_close(&t);
	load_ok(&t, "inv.yaml", "identities:\nowners: []\n", AG_NHI_JSON);
	assert_int_equal(t.inv.n, 0);
	assert_int_equal(t.inv.n_owners, 0);
	inv_close(&t);
}

static void test_yaml_errors(void **state)
{
	(void)state;
	load_fails("inv.yaml", "- id: a\n  kind: api_key\n  ownr: bob\n",
		   AG_NHI_JSON, AG_ERR_INVALID,
		   "inv.yaml:3:3: unknown key 'ownr' in a machine identity; "
		   "did you mean 'owner'?");
	load_fails("inv.yaml", "identites: []\n", AG_NHI_JSON, AG_ERR_INVALID,
		   "inv.yaml:1:1: unknown key 'identites' in the inventory; "
		   "did you mean 'identities'?");
	load_fails("inv.yaml", "owners:\n  - {id: x, stauts: active}\n",
		   AG_NHI_JSON, AG_ERR_INVALID,
		   "inv.yaml:2:13: unknown key 'stauts' in an owner; did you "
		   "mean 'status'?");
	load_fails("inv.yaml", "owners:\n  - {id: x, status: gone}\n",
		   AG_NHI_JSON, AG_ERR_INVALID,
		   "inv.yaml:2:21: unknown owner status 'gone' (active or "
		   "offboarded)");
	load_fails("inv.yaml", "owners:\n  - {id: x}\n  - {id: x}\n",
		   AG_NHI_JSON, AG_ERR_INVALID,
		   "inv.yaml:3:5: owner 'x' is already listed at inv.yaml:2:5");
	load_fails("inv.yaml", "owners:\n  - {team: a}\n", AG_NHI_JSON,
		   AG_ERR_INVALID, "inv.yaml:2:5: an owner needs an id");
	load_fails("inv.yaml",
		   "identities:\n"
		   "  - id: a\n"
		   "    kind: api_key\n"
		   "    last_rotated: 2024-13-01\n",
		   AG_NHI_JSON, AG_ERR_INVALID,
		   "inv.yaml:4:19: bad date '2024-13-01' for last_rotated "
		   "(write 2024-01-31 or 2024-01-31T10:00:00Z)");
	load_fails("inv.json",
		   "[{\"id\": \"a\", \"kind\": \"api_key\",\n"
		   "  \"last_used\": \"31/01/2024\"}]",
		   AG_NHI_JSON, AG_ERR_INVALID,
		   "inv.json:2:16: bad date '31/01/2024' for last_used (write "
		   "2024-01-31, 2024-01-31T10:00:00Z or never)");
	load_fails("inv.yaml", "- {id: a, kind: api_key, id: b}\n",
		   AG_NHI_JSON, AG_ERR_INVALID,
		   "inv.yaml:1:26: duplicate key 'id' (first at line 1)");
	load_fails("inv.yaml", "- {kind: api_key}\n", AG_NHI_JSON,
		   AG_ERR_INVALID,
		   "inv.yaml:1:3: a machine identity needs an id");
	load_fails("inv.yaml", "- {id: a}\n", AG_NHI_JSON, AG_ERR_INVALID,
		   "inv.yaml:1:3: machine identity 'a' needs a kind");
	load_fails("inv.yaml", "- {id: a, kind: [api_key]}\n", AG_NHI_JSON,
		   AG_ERR_INVALID,
		   "inv.yaml:1:17: kind must be a single value, not a list");
	load_fails("inv.yaml", "- {id: a, kind: api_key, scopes: {a: b}}\n",
		   AG_NHI_JSON, AG_ERR_INVALID,
		   "inv.yaml:1:34: scopes must be a list, not a mapping");
	load_fails("inv.yaml", "- {id: a, kind: api_key, scopes: [[a]]}\n",
		   AG_NHI_JSON, AG_ERR_INVALID,
		   "inv.yaml:1:35: entries of scopes must be single values, "
		   "not a list");
	load_fails("inv.yaml", "- {id: a, kind: api_key, scopes: [a, '']}\n",
		   AG_NHI_JSON, AG_ERR_INVALID,
		   "inv.yaml:1:38: empty entry in scopes");
	load_fails("inv.yaml", "- a\n", AG_NHI_JSON, AG_ERR_INVALID,
		   "inv.yaml:1:3: a machine identity must be a mapping with "
		   "id, kind, ..., not a single value");
	load_fails("inv.yaml", "identities: {a: b}\n", AG_NHI_JSON,
		   AG_ERR_INVALID,
		   "inv.yaml:1:13: identities must be a list, not a mapping");
	load_fails("inv.yaml", "- &x {id: a, kind: api_key}\n- *x\n",
		   AG_NHI_JSON, AG_ERR_INVALID,
		   "inv.yaml:2:3: YAML aliases are not supported");
	load_fails("inv.yaml", "- {id: \"a\\u0007\", kind: api_key}\n",
		   AG_NHI_JSON, AG_ERR_INVALID,
		   "inv.yaml:1:8: id contains a control character");
	load_fails("inv.yaml", "- {id: a, kind: api_key, owner: \"b\\0\"}\n",
		   AG_NHI_JSON, AG_ERR_INVALID,
		   "inv.yaml:1:33: value contains a NUL character");
	load_fails("inv.yaml", "- {id: a, kind: api_key}\n---\n- {id: b}\n",
		   AG_NHI_JSON, AG_ERR_INVALID,
		   "inv.yaml:2:1: a second YAML document; one file holds one "
		   "document");
	load_fails("inv.yaml", "[{id: a, kind: api_key}", AG_NHI_JSON,
		   AG_ERR_SYNTAX,
		   "inv.yaml:2:1: did not find expected ',' or ']' while "
		   "parsing a flow sequence");
	load_fails("inv.yaml", "- {id: a, kind: api_key, owner: \"b\xC3\x28\"}\n",
		   AG_NHI_JSON, AG_ERR_SYNTAX,
		   "inv.yaml:1:35: invalid trailing UTF-8 octet (the file must "
		   "be UTF-8 text)");
	load_fails("inv.yaml", "just words\n", AG_NHI_JSON, AG_ERR_INVALID,
		   "inv.yaml:1:1: not an inventory; expected a list of machine "
		   "identities, or a mapping with 'identities:' and "
		   "'owners:'");
}

/* ---- limits -------------------------------------------------------------- */

static char *repeat(const char *head, const char *item, size_t n,
		    const char *tail)
{
	size_t len = strlen(head) + strlen(item) * n + strlen(tail) + 1;
	char *s = malloc(len);
	assert_non_null(s);
	size_t k = (size_t)snprintf(s, len, "%s", head);
	for (size_t i = 0; i < n; i++)
		k += (size_t)snprintf(s + k, len - k, "%s", item);
	snprintf(s + k, len - k, "%s", tail);
	return s;
}

static void test_limits(void **state)
{
	struct inv t;
	(void)state;

	/* At the cap is fine, one past it is not. */
	char *csv = repeat("id,kind,scopes\na,api_key,", "s ", AG_NHI_MAX_LIST,
			   "\n");
	load_ok(&t, "inv.csv", csv, AG_NHI_CSV);
	assert_int_equal(rec_of(&t, "a")->scopes.n, AG_NHI_MAX_LIST);
	inv_close(&t);
	free(csv);
	csv = repeat("id,kind,scopes\na,api_key,", "s;", AG_NHI_MAX_LIST + 1,
		     "\n");
	load_fails("inv.csv", csv, AG_NHI_CSV, AG_ERR_LIMIT,
		   "inv.csv:2:11: scopes has more than 4096 entries");
	free(csv);
	char *yaml = repeat("- id: a\n  kind: api_key\n  used_by:\n",
			    "  - s\n", AG_NHI_MAX_LIST + 1, "");
	load_fails("inv.yaml", yaml, AG_NHI_JSON, AG_ERR_LIMIT,
		   "inv.yaml:4100:5: used_by has more than 4096 entries");
	free(yaml);

	/* Lengths: ids and list entries 1024 bytes, other text 4096. */
	char *id = repeat("id,kind\n", "x", AG_NHI_MAX_ID + 1, ",api_key\n");
	load_fails("inv.csv", id, AG_NHI_CSV, AG_ERR_LIMIT,
		   "inv.csv:2:1: id is longer than 1024 bytes");
	free(id);
	char *purpose = repeat("id,kind,purpose\na,api_key,", "p",
			       AG_NHI_MAX_FIELD + 1, "\n");
	load_fails("inv.csv", purpose, AG_NHI_CSV, AG_ERR_LIMIT,
		   "inv.csv:2:11: purpose is longer than 4096 bytes");
	free(purpose);

	/* Too large a buffer is refused before it is read. */
	inv_open(&t);
	t.rc = ag_nhi_load_buffer(&t.inv, t.p, "big.csv", "", 
				  (size_t)AG_NHI_MAX_BYTES + 1, AG_NHI_CSV,
				  &t.err);
	assert_int_equal(t.rc, AG_ERR_LIMIT);
	assert_string_equal(t.err.msg, "big.csv: larger than 536870912 bytes");
	inv_close(&t);

	/* Deep nesting where a value is expected stops at once. */
	char *deep = repeat("- {id: a, kind: api_key, scopes: ", "[", 100000,
			    "");
	load_fails("inv.yaml", deep, AG_NHI_JSON, AG_ERR_INVALID,
		   "inv.yaml:1:35: entries of scopes must be single values, "
		   "not a list");
	free(deep);
}

static void test_empty(void **state)
{
	(void)state;
	load_fails("inv.csv", "", AG_NHI_CSV, AG_ERR_INVALID,
		   "inv.csv:1:1: empty file: no header line (the generic CSV "
		   "form starts with a header naming its columns, such as "
		   "id,kind,owner)");
	load_fails("inv.csv", "\n\r\n", AG_NHI_CSV, AG_ERR_INVALID,
		   "inv.csv:1:1: empty file: no header line (the generic CSV "
		   "form starts with a header naming its columns, such as "
		   "id,kind,owner)");
	load_fails("inv.yaml", "", AG_NHI_JSON, AG_ERR_INVALID,
		   "inv.yaml:1:1: empty file");
	load_fails("inv.yaml", "# nothing\n", AG_NHI_AUTO, AG_ERR_INVALID,
		   "inv.yaml:1:1: empty file");
	load_fails("inv.yaml", "---\n", AG_NHI_JSON, AG_ERR_INVALID,
		   "inv.yaml:2:1: empty inventory; expected a list of machine "
		   "identities, or a mapping with 'identities:' and "
		   "'owners:'");
	load_fails("inv", "", AG_NHI_AUTO, AG_ERR_INVALID,
		   "inv:1:1: empty file");
}

/* ---- recognising the form ------------------------------------------------ */

static const char aws_report[] =
	"user,arn,user_creation_time,password_enabled,password_last_used,"
	"password_last_changed,password_next_rotation,mfa_active,"
	"access_key_1_active,access_key_1_last_rotated,"
	"access_key_1_last_used_date,access_key_1_last_used_region,"
	"access_key_1_last_used_service,access_key_2_active,"
	"access_key_2_last_rotated,access_key_2_last_used_date,"
	"access_key_2_last_used_region,access_key_2_last_used_service,"
	"cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n"
	"<root_account>,arn:aws:iam::111122223333:root,2019-03-01T10:00:00Z,"
	"true,no_information,not_supported,not_supported,false,"
	"true,2024-01-31T00:00:00Z,2025-05-01T00:00:00Z,us-east-1,s3,"
	"false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
	"ci,arn:aws:iam::111122223333:user/ci,2023-06-01T00:00:00Z,"
	"false,N/A,N/A,N/A,false,"
	"true,2023-06-01T00:00:00Z,N/A,N/A,N/A,"
	"true,2024-01-31T00:00:00Z,2025-04-20T00:00:00Z,eu-west-1,sts,"
	"true,2023-06-01T00:00:00Z,false,N/A\n";

static const char keycloak_export[] =
	"[{\"realm\": \"ops\", \"clients\": ["
	" {\"clientId\": \"backup\", \"serviceAccountsEnabled\": true},"
	" {\"clientId\": \"deployer\", \"serviceAccountsEnabled\": true,"
	"  \"clientAuthenticatorType\": \"client-jwt\"},"
	" {\"clientId\": \"shared\", \"serviceAccountsEnabled\": true}]},"
	" {\"realm\": \"dev\", \"clients\": ["
	" {\"clientId\": \"shared\", \"serviceAccountsEnabled\": true,"
	"  \"clientAuthenticatorType\": \"client-x509\"}]}]";

static const char estate_yaml[] =
	"accounts:\n"
	"  - { id: svc, kind: service, workflow: ci-deploy, owner: carol }\n"
	"paths:\n"
	"  - { id: svc-key, kind: api, to: [svc], methods: [api_key],\n"
	"      created: 2024-01-31, last_used: 2025-05-01 }\n";

/* Loads the Keycloak export with a policy that trusts these issuers
 * (YAML list entries) and returns the issuer of the record id. */
static char *kc_issuer_of(const char *issuers, const char *id)
{
	char yaml[1024];
	struct ag_nhi_inventory inv;
	struct ag_error err;
	struct ag_policy *p;

	snprintf(yaml, sizeof(yaml), "%sissuers:\n%s", policy_text, issuers);
	p = policy_ok(yaml);
	assert_int_equal(ag_nhi_inventory_init(&inv), AG_OK);
	ag_error_init(&err);
	if (ag_nhi_load_buffer(&inv, p, "realm.json", keycloak_export,
			       strlen(keycloak_export), AG_NHI_KEYCLOAK, &err))
		fail_msg("%s", err.msg);
	char *out = NULL;
	bool seen = false;
	for (size_t i = 0; i < inv.n; i++)
		if (!strcmp(inv.v[i].id, id)) {
			seen = true;
			out = inv.v[i].issuer ? strdup(inv.v[i].issuer)
					      : strdup("(none)");
		}
	if (!seen)
		fail_msg("no record '%s'", id);
	ag_nhi_inventory_release(&inv);
	ag_policy_free(p);
	return out;
}

/* A Keycloak client's record names the policy issuer of its realm, when
 * exactly one issuer is "/realms/REALM" (with or without /auth). */
static void test_keycloak_issuer(void **state)
{
	(void)state;
	static const char two[] =
		"  - { iss: https://sso.example/realms/ops, audiences: [a], "
		"jwks_file: /dev/null }\n"
		"  - { iss: https://old.example/auth/realms/dev, audiences: "
		"[a], jwks_file: /dev/null }\n";
	char *v;

	v = kc_issuer_of(two, "backup");
	assert_string_equal(v, "https://sso.example/realms/ops");
	free(v);
	v = kc_issuer_of(two, "deployer");
	assert_string_equal(v, "https://sso.example/realms/ops");
	free(v);
	/* "shared" is in both realms: the records keep their path ids,
	 * each with its realm's issuer (Keycloak before 17 had "/auth"). */
	v = kc_issuer_of(two, "dev/client:shared: client credentials "
			      "(client-x509)");
	assert_string_equal(v, "https://old.example/auth/realms/dev");
	free(v);
	/* No realm of that name, a realm name that is only a suffix, or
	 * two issuers for one realm: no issuer. */
	v = kc_issuer_of("  - { iss: https://sso.example/realms/dev, "
			 "audiences: [a], jwks_file: /dev/null }\n",
			 "backup");
	assert_string_equal(v, "(none)");
	free(v);
	v = kc_issuer_of("  - { iss: https://sso.example/realms/devops, "
			 "audiences: [a], jwks_file: /dev/null }\n",
			 "backup");
	assert_string_equal(v, "(none)");
	free(v);
	v = kc_issuer_of("  - { iss: https://a.example/realms/ops, audiences: "
			 "[a], jwks_file: /dev/null }\n"
			 "  - { iss: https://b.example/realms/ops, audiences: "
			 "[a], jwks_file: /dev/null }\n",
			 "backup");
	assert_string_equal(v, "(none)");
	free(v);
}

static void test_auto(void **state)
{
	struct inv t;
	(void)state;

	/* The generic CSV, with its columns in any order. */
	load_ok(&t, "x", "owner,kind,id\nbob,api_key,k\n", AG_NHI_AUTO);
	assert_string_equal(rec_of(&t, "k")->owner, "bob");
	inv_close(&t);
	/* A CSV that names id but lacks kind says so. */
	load_fails("x", "id,owner\nk,bob\n", AG_NHI_AUTO, AG_ERR_INVALID,
		   "x:1:1: missing column 'kind' (the generic CSV form needs "
		   "id and kind)");

	/* An AWS credential report. */
	load_ok(&t, "report.csv", aws_report, AG_NHI_AUTO);
	assert_int_equal(t.inv.n, 3);
	const struct ag_nhi *r =
		rec_of(&t, "aws:111122223333:<root_account>/access-key-1");
	assert_true(r->root);
	assert_string_equal(r->kind, "api_key");
	assert_string_equal(r->workflow, "admin");
	assert_int_equal(r->created, D_2024_01_31);
	assert_int_equal(r->last_rotated, D_2024_01_31);
	assert_int_equal(r->last_used, D_2025_05_01);
	assert_false(r->never_used);
	assert_false(r->interactive);
	assert_null(r->owner);
	assert_string_equal(t.inv.files[r->file], "report.csv");
	assert_int_equal(r->line, 2);
	r = rec_of(&t, "aws:111122223333:ci/access-key-1");
	assert_false(r->root);
	assert_string_equal(r->workflow, "staff");
	assert_int_equal(r->created, D_2023_06_01);
	assert_int_equal(r->last_used, 0);
	assert_true(r->never_used);
	r = rec_of(&t, "aws:111122223333:ci/access-key-2");
	assert_int_equal(r->last_used, D_2025_04_20);
	assert_false(r->never_used);
	inv_close(&t);
	/* ... and the same when named. */
	load_ok(&t, "report.csv", aws_report, AG_NHI_AWS);
	assert_int_equal(t.inv.n, 3);
	inv_close(&t);

	/* A Keycloak export: one record per service-account client, by its
	 * client id, except where two realms share one. */
	load_ok(&t, "realm.json", keycloak_export, AG_NHI_AUTO);
	assert_int_equal(t.inv.n, 4);
	r = rec_of(&t, "backup");
	assert_string_equal(r->kind, "client_secret");
	assert_null(r->issuer);
	assert_null(r->workflow);
	assert_false(r->interactive);
	assert_string_equal(rec_of(&t, "deployer")->kind, "workload_identity");
	assert_string_equal(
		rec_of(&t, "ops/client:shared: client credentials "
			   "(client-secret)")->kind,
		"client_secret");
	assert_string_equal(
		rec_of(&t, "dev/client:shared: client credentials "
			   "(client-x509)")->kind,
		"mtls");
	inv_close(&t);
	/* A realm object rather than an array, with "realm" not first. */
	load_ok(&t, "realm.json",
		"{\"id\": \"x\", \"realm\": \"r\", \"clients\": [{\"clientId\":"
		" \"robot\", \"serviceAccountsEnabled\": true}]}",
		AG_NHI_AUTO);
	assert_int_equal(t.inv.n, 1);
	assert_string_equal(t.inv.v[0].id, "robot");
	inv_close(&t);

	/* An estate file. */
	load_ok(&t, "estate.yaml", estate_yaml, AG_NHI_AUTO);
	assert_int_equal(t.inv.n, 1);
	r = rec_of(&t, "svc-key");
	assert_string_equal(r->kind, "api_key");
	assert_string_equal(r->owner, "carol");
	assert_string_equal(r->workflow, "ci-deploy");
	assert_int_equal(r->created, D_2024_01_31);
	assert_int_equal(r->last_used, D_2025_05_01);
	assert_int_equal(r->line, 4);
	assert_int_equal(r->col, 5);
	inv_close(&t);
	load_ok(&t, "estate.yaml", estate_yaml, AG_NHI_ESTATE);
	assert_int_equal(t.inv.n, 1);
	inv_close(&t);

	/* A generic list whose entries happen to hold the word realm. */
	load_ok(&t, "inv.json",
		"[{\"id\": \"a\", \"kind\": \"api_key\", \"scopes\": "
		"[\"realm\"]}]",
		AG_NHI_AUTO);
	assert_list(&rec_of(&t, "a")->scopes, "realm");
	inv_close(&t);

	/* Broken JSON that is a Keycloak export goes to its importer. */
	struct inv k;
	load_as(&k, "realm.json", "{\"realm\": \"r\", \"clients\": [}",
		AG_NHI_AUTO);
	assert_int_equal(k.rc, AG_ERR_SYNTAX);
	assert_non_null(strstr(k.err.msg, "realm.json"));
	inv_close(&k);

	/* Something else. */
	load_fails("policy.yaml", "profile: sp800-63b-4\nworkflows: {}\n",
		   AG_NHI_AUTO, AG_ERR_INVALID,
		   "policy.yaml:1:1: not a machine-identity inventory; "
		   "accepted: the generic CSV form (a header with id and kind "
		   "columns), the generic JSON/YAML form (a list of "
		   "identities, or 'identities:' and 'owners:'), an estate "
		   "file ('accounts:' and 'paths:'), an AWS IAM credential "
		   "report or a Keycloak realm export");
	load_fails("inv.yaml", "\nidentitis:\n  - {id: a, kind: api_key}\n",
		   AG_NHI_AUTO, AG_ERR_INVALID,
		   "inv.yaml:2:1: not a machine-identity inventory; "
		   "accepted: the generic CSV form (a header with id and kind "
		   "columns), the generic JSON/YAML form (a list of "
		   "identities, or 'identities:' and 'owners:'), an estate "
		   "file ('accounts:' and 'paths:'), an AWS IAM credential "
		   "report or a Keycloak realm export; did you mean "
		   "'identities'?");
	load_fails("notes.txt", "user,name\nx,y\n", AG_NHI_AUTO,
		   AG_ERR_INVALID,
		   "notes.txt:1:1: not a machine-identity inventory; "
		   "accepted: the generic CSV form (a header with id and kind "
		   "columns), the generic JSON/YAML form (a list of "
		   "identities, or 'identities:' and 'owners:'), an estate "
		   "file ('accounts:' and 'paths:'), an AWS IAM credential "
		   "report or a Keycloak realm export");
	/* Estate formats need the policy. */
	inv_open(&t);
	t.rc = ag_nhi_load_buffer(&t.inv, NULL, "estate.yaml", estate_yaml,
				  strlen(estate_yaml), AG_NHI_AUTO, &t.err);
	assert_int_equal(t.rc, AG_ERR_USAGE);
	assert_string_equal(t.err.msg,
			    "estate.yaml: a policy is needed to read it");
	inv_close(&t);
}

/* Files on disk, read through ag_nhi_load. */
static void test_load_file(void **state)
{
	struct inv t;
	char path[] = "/tmp/nhi-load-XXXXXX";
	(void)state;
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(full_csv, f);
	fclose(f);
	inv_open(&t);
	assert_int_equal(ag_nhi_load(&t.inv, t.p, path, AG_NHI_AUTO, &t.err),
			 AG_OK);
	assert_int_equal(t.inv.n, 2);
	assert_string_equal(t.inv.files[0], path);
	inv_close(&t);
	unlink(path);
	inv_open(&t);
	assert_int_equal(ag_nhi_load(&t.inv, t.p, path, AG_NHI_AUTO, &t.err),
			 AG_ERR_IO);
	inv_close(&t);
}

/* ---- records from an estate ---------------------------------------------- */

static void add_dated_path(struct ag_estate *e, const char *id,
			   enum ag_path_kind kind, const char *const *to,
			   const char *const *methods, int64_t created,
			   int64_t rotated, int64_t used, unsigned line)
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
	s.lifetime = -1;
	s.approvals = -1;
	s.created = created;
	s.last_rotated = rotated;
	s.last_used = used;
	s.file = "estate.yaml";
	s.line = line;
	s.col = 3;
	ag_error_init(&err);
	if (ag_estate_add_path(e, &s, &err) != AG_OK)
		fail_msg("path '%s' not added: %s", id, err.msg);
}

static void test_from_estate(void **state)
{
	struct inv t;
	struct ag_account_spec a;
	struct ag_error err;
	(void)state;

	inv_open(&t);
	struct ag_estate *e = estate_new(t.p);
	memset(&a, 0, sizeof(a));
	a.id = "svc-backup";
	a.kind = AG_KIND_SERVICE;
	a.workflow = "ci-deploy";
	a.owner = "carol";
	a.file = "estate.yaml";
	a.line = 2;
	a.col = 3;
	ag_error_init(&err);
	assert_int_equal(ag_estate_add_account(e, &a, &err), AG_OK);
	a.id = "svc-report";
	a.workflow = NULL;
	a.owner = NULL;
	assert_int_equal(ag_estate_add_account(e, &a, &err), AG_OK);
	add_account(e, "alice", AG_KIND_HUMAN, "staff", NULL, NULL,
		    LIST("staff"));

	/* The key: api_key on an api path, with its dates. */
	add_dated_path(e, "backup-key", AG_PATH_API, LIST("svc-backup"),
		       LIST("api_key"), D_2023_06_01, D_2024_01_31,
		       D_2025_05_01, 10);
	/* Someone signs in to svc-backup with a password and a code: a
	 * password on a machine is a credential too, and interactive. */
	add_dated_path(e, "backup-console", AG_PATH_LOGIN, LIST("svc-backup"),
		       LIST("password", "totp"), 0, 0, 0, 11);
	/* One secret reaching two accounts: one record each.  Its first
	 * machine method is its kind. */
	add_dated_path(e, "shared-secret", AG_PATH_API,
		       LIST("svc-backup", "svc-report"),
		       LIST("software_key", "client_secret"), D_2024_01_31, 0,
		       0, 12);
	/* An api path to a service account is a credential whatever its
	 * method. */
	add_dated_path(e, "report-cert", AG_PATH_API, LIST("svc-report"),
		       LIST("software_key"), 0, D_2025_02_01, 0, 13);
	/* svc-report is reached by machine methods only at login. */
	add_dated_path(e, "report-mtls-login", AG_PATH_LOGIN,
		       LIST("svc-report"), LIST("mtls"), 0, 0, 0, 14);
	/* People's paths give no record. */
	add_dated_path(e, "sso", AG_PATH_LOGIN, LIST("group:staff"),
		       LIST("password", "totp"), 0, 0, 0, 15);
	add_dated_path(e, "alice-cert", AG_PATH_API, LIST("alice"),
		       LIST("software_key"), 0, 0, 0, 16);
	/* A machine method on a person's account is a record. */
	add_dated_path(e, "alice-token", AG_PATH_API, LIST("alice"),
		       LIST("api_key"), D_2024_01_31, 0, 0, 17);

	/* Not before resolving. */
	assert_int_equal(ag_nhi_from_estate(&t.inv, e, &err), AG_ERR_USAGE);
	assert_int_equal(ag_estate_resolve(e, &err), AG_OK);
	assert_int_equal(ag_nhi_from_estate(&t.inv, e, &err), AG_OK);
	assert_int_equal(t.inv.n, 7);

	const struct ag_nhi *r = rec_of(&t, "backup-key");
	assert_string_equal(r->kind, "api_key");
	assert_string_equal(r->owner, "carol");
	assert_string_equal(r->workflow, "ci-deploy");
	assert_int_equal(r->created, D_2023_06_01);
	assert_int_equal(r->last_rotated, D_2024_01_31);
	assert_int_equal(r->last_used, D_2025_05_01);
	assert_false(r->never_used);
	assert_true(r->interactive);
	assert_false(r->root);
	assert_int_equal(r->status, AG_NHI_ACTIVE);
	assert_null(r->issuer);
	assert_list(&r->scopes, "(unknown)");
	assert_string_equal(t.inv.files[r->file], "estate.yaml");
	assert_int_equal(r->line, 10);
	assert_int_equal(r->col, 3);

	r = rec_of(&t, "backup-console");
	assert_string_equal(r->kind, "password");
	assert_string_equal(r->owner, "carol");
	assert_true(r->interactive);
	assert_int_equal(r->line, 11);

	r = rec_of(&t, "shared-secret:svc-backup");
	assert_string_equal(r->kind, "client_secret");
	assert_true(r->interactive);
	assert_int_equal(r->created, D_2024_01_31);
	assert_int_equal(r->line, 12);
	r = rec_of(&t, "shared-secret:svc-report");
	assert_string_equal(r->kind, "client_secret");
	assert_null(r->owner);
	assert_null(r->workflow);
	assert_false(r->interactive);

	r = rec_of(&t, "report-cert");
	assert_string_equal(r->kind, "software_key");
	assert_int_equal(r->last_rotated, D_2025_02_01);
	assert_false(r->interactive);
	r = rec_of(&t, "report-mtls-login");
	assert_string_equal(r->kind, "mtls");
	r = rec_of(&t, "alice-token");
	assert_string_equal(r->owner == NULL ? "" : r->owner, "");
	assert_string_equal(r->workflow, "staff");
	assert_false(r->interactive); /* a person, not a machine */
	for (size_t i = 0; i < t.inv.n; i++) {
		assert_string_not_equal(t.inv.v[i].id, "sso");
		assert_string_not_equal(t.inv.v[i].id, "alice-cert");
	}
	assert_int_equal(ag_nhi_resolve(&t.inv, t.p, &err), AG_OK);
	ag_estate_free(e);
	inv_close(&t);
}

/* ---- ../shared/data ------------------------------------------------------ */

struct expect {
	const char *prefix; /* of the file name */
	size_t records;
	const char *ids[3];
};

/* Counted by hand in each file: active access keys, and enabled
 * confidential clients with serviceAccountsEnabled. */
static const struct expect expected[] = {
	{"cfech__", 0, {NULL}},
	{"cloud-custodian__cloud-custodian__tests_data_placebo_test_iam_user_"
	 "credential_multi_delete_noop",
	 1,
	 {"aws:644160558196:test1/access-key-2", NULL}},
	{"cloud-custodian__cloud-custodian__tests_data_placebo_test_iam_user_"
	 "unused_keys",
	 8,
	 {"aws:619193117841:<root_account>/access-key-1",
	  "aws:619193117841:charmworld/access-key-1", NULL}},
	{"Alejandro9917__", 2, {"horus-tecnica-backend", "Singlesherwin", NULL}},
	{"AlexeyEsipov__", 1, {"spring-boot-app", NULL}},
	{"genny-project__", 1, {"channel40", NULL}},
	{"AndyYuen__", 0, {NULL}},
	{"AvelinoAlmeida__", 0, {NULL}},
	{"BartoszBrodowski__", 0, {NULL}},
	{"ErikWegner__", 0, {NULL}},
	{"Identicum__", 0, {NULL}},
};

static const struct expect *expect_of(const char *name)
{
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
		if (!strncmp(name, expected[i].prefix,
			     strlen(expected[i].prefix)))
			return &expected[i];
	return NULL;
}

/* Loads every file of dir through AG_NHI_AUTO.  A Keycloak export that
 * the importer itself refuses must be refused the same way. */
static size_t load_dir(const char *dir, const char *ext, bool keycloak)
{
	char path[4400];
	size_t n = 0;
	DIR *d = opendir(dir);
	if (!d) {
		print_message("skipped: %s not present\n", dir);
		return 0;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len < strlen(ext) ||
		    strcmp(de->d_name + len - strlen(ext), ext))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		struct inv t;
		inv_open(&t);
		t.rc = ag_nhi_load(&t.inv, t.p, path, AG_NHI_AUTO, &t.err);
		if (keycloak) {
			struct ag_estate *e = estate_new(t.p);
			struct ag_error ierr;
			ag_error_init(&ierr);
			ag_code irc = ag_import_keycloak(e, path, NULL, &ierr);
			ag_estate_free(e);
			if (irc) {
				assert_int_equal(t.rc, irc);
				assert_string_equal(t.err.msg, ierr.msg);
				print_message("%s: refused, as by the importer\n",
					      de->d_name);
				inv_close(&t);
				n++;
				continue;
			}
		}
		if (t.rc)
			fail_msg("%s did not load: %s", de->d_name, t.err.msg);
		assert_int_equal(ag_nhi_resolve(&t.inv, t.p, &t.err), AG_OK);
		print_message("%s: %zu machine identities\n", de->d_name,
			      t.inv.n);
		const struct expect *x = expect_of(de->d_name);
		if (x) {
			assert_int_equal(t.inv.n, x->records);
			for (size_t i = 0; x->ids[i]; i++)
				(void)rec_of(&t, x->ids[i]);
		}
		inv_close(&t);
		n++;
	}
	closedir(d);
	return n;
}

static void test_shared_data(void **state)
{
	const char *base = getenv("AG_SHARED_DATA");
	char dir[4096];
	(void)state;

	if (!base) {
		print_message("skipped: AG_SHARED_DATA not set\n");
		return;
	}
	DIR *d = opendir(base);
	if (!d) {
		print_message("skipped: ../shared/data not present\n");
		return;
	}
	closedir(d);
	snprintf(dir, sizeof(dir), "%s/aws-credential-report", base);
	size_t aws = load_dir(dir, ".csv", false);
	snprintf(dir, sizeof(dir), "%s/keycloak", base);
	size_t kc = load_dir(dir, ".json", true);
	print_message("%zu AWS reports, %zu Keycloak exports\n", aws, kc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csv_fields),
		cmocka_unit_test(test_csv_forms),
		cmocka_unit_test(test_csv_errors),
		cmocka_unit_test(test_csv_nul),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_yaml_fields),
		cmocka_unit_test(test_yaml_forms),
		cmocka_unit_test(test_yaml_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_auto),
		cmocka_unit_test(test_keycloak_issuer),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_from_estate),
		cmocka_unit_test(test_shared_data),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
