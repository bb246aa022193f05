/*
 * Machine identities in the state store: the merge (the same inventory
 * twice changes nothing, byte for byte; a rotation keeps the old version
 * as retired history with its date; an older inventory changes nothing;
 * a field change updates in place), owners (vouched for, offboarded, not
 * re-activated by the next import, listed), the gate's look-up by
 * issuer, the journal rows in the decision log, records the store
 * refuses, and a store that cannot be written or read (read-only,
 * locked, damaged) failing closed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "testutil.h"
#include "aalgate/gate.h"
#include "aalgate/govern.h"
#include "aalgate/nhi.h"
#include "util.h"

static const char policy_yaml[] =
	"workflows:\n"
	"  staff: { aal: 2 }\n"
	"  ci-deploy: { machine: true, max_token_lifetime: 1h,\n"
	"               credentials: [workload_identity, mtls] }\n";

#define NOW 1800000000
#define D_2025_01_01 1735689600
#define D_2025_03_01 1740787200
#define D_2025_06_01 1748736000
#define D_2025_09_01 1756684800

struct fx {
	char dir[256];
	char db[300];
	char log[300];
	struct ag_policy *p;
	struct ag_store *s;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct ag_error err;
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/ag-nhi-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/state.db", f->dir);
	snprintf(f->log, sizeof(f->log), "%s/decisions.jsonl", f->dir);
	f->p = policy_ok(policy_yaml);
	ag_error_init(&err);
	if (ag_store_open(f->db, NULL, &f->s, &err) != AG_OK)
		fail_msg("open: %s", err.msg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	ag_store_close(f->s);
	DIR *d = opendir(f->dir);
	struct dirent *e;
	char p[600];
	while (d && (e = readdir(d))) {
		snprintf(p, sizeof(p), "%s/%s", f->dir, e->d_name);
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlink(p);
	}
	if (d)
		closedir(d);
	chmod(f->dir, 0700);
	rmdir(f->dir);
	ag_policy_free(f->p);
	free(f);
	return 0;
}

/* ---- building inventories ---------------------------------------------- */

static void set_list(struct ag_nhi_list *l, const char *const *v)
{
	l->known = true;
	l->n = list_len(v);
	l->v = (char **)v;
}

/* The base inventory: ci-bot (mtls, rotated 2025-01-01), api-1 (an API
 * key of bob, no expiry), and kc-sync (issuer-bound), none with an owners
 * list. */
static struct ag_nhi rec_ci(void)
{
	struct ag_nhi r = {
		.id = (char *)"ci-bot",
		.kind = (char *)"mtls",
		.owner = (char *)"alice",
		.team = (char *)"platform",
		.purpose = (char *)"deploys",
		.workflow = (char *)"ci-deploy",
		.thumbprint = (char *)"B3O2OQDdJzMBqPKAK7-EPb9mcgqEmn9DvFieOhegaRs",
		.created = D_2025_01_01 - 86400 * 30,
		.last_rotated = D_2025_01_01,
		.expires = D_2025_06_01,
		.last_used = D_2025_03_01,
	};
	static const char *const scopes[] = {"deploy", "read", NULL};
	set_list(&r.scopes, scopes);
	return r;
}

static struct ag_nhi rec_api(void)
{
	struct ag_nhi r = {
		.id = (char *)"api-1",
		.kind = (char *)"api_key",
		.owner = (char *)"bob",
		.created = D_2025_01_01,
		.never_used = true,
	};
	return r;
}

static struct ag_nhi rec_kc(void)
{
	struct ag_nhi r = {
		.id = (char *)"kc-sync",
		.kind = (char *)"client_secret",
		.issuer = (char *)"https://kc.example.com/realms/x",
		.owner = (char *)"carol",
		.owner_status = AG_OWNER_ACTIVE,
		.owner_status_given = true,
		.created = D_2025_03_01,
	};
	static const char *const envs[] = {"prod", NULL};
	set_list(&r.environments, envs);
	return r;
}

static void inv_new(struct ag_nhi_inventory *inv)
{
	struct ag_error err;
	uint32_t file;
	assert_int_equal(ag_nhi_inventory_init(inv), AG_OK);
	ag_error_init(&err);
	assert_int_equal(ag_nhi_add_file(inv, "inv.yaml", &file, &err), AG_OK);
}

static void inv_add(struct ag_nhi_inventory *inv, const struct ag_nhi *r)
{
	struct ag_error err;
	struct ag_nhi c = *r;
	c.line = (unsigned)inv->n + 2;
	c.col = 3;
	ag_error_init(&err);
	if (ag_nhi_add(inv, &c, &err) != AG_OK)
		fail_msg("add %s: %s", r->id, err.msg);
}

static void inv_resolve(struct fx *f, struct ag_nhi_inventory *inv)
{
	struct ag_error err;
	ag_error_init(&err);
	if (ag_nhi_resolve(inv, f->p, &err) != AG_OK)
		fail_msg("resolve: %s", err.msg);
}

static void base_inventory(struct fx *f, struct ag_nhi_inventory *inv)
{
	inv_new(inv);
	struct ag_nhi a = rec_ci(), b = rec_api(), c = rec_kc();
	inv_add(inv, &a);
	inv_add(inv, &b);
	inv_add(inv, &c);
	inv_resolve(f, inv);
}

static struct ag_store_nhi_counts import_ok(struct fx *f,
					    const struct ag_nhi_inventory *inv)
{
	struct ag_store_nhi_counts n;
	struct ag_error err;
	ag_error_init(&err);
	if (ag_store_nhi_import(f->s, inv, NOW, &n, &err) != AG_OK)
		fail_msg("import: %s", err.msg);
	return n;
}

/* ---- reading the file directly ----------------------------------------- */

/* Every row of the tables, every column quoted, as one string: equal
 * strings are equal contents. */
static char *dump(const char *db)
{
	static const char *const sql[] = {
		"SELECT quote(issuer), quote(id), quote(version), "
		"quote(current), quote(imported), quote(updated), "
		"quote(retired), quote(kind), quote(status), quote(owner), "
		"quote(owner_status), quote(team), quote(purpose), "
		"quote(workflow), quote(thumbprint), quote(created), "
		"quote(expires), quote(last_rotated), quote(last_used), "
		"quote(never_used), quote(interactive), "
		"quote(last_interactive), quote(root), quote(scopes), "
		"quote(used_scopes), quote(environments), quote(used_by) "
		"FROM nhi_records ORDER BY issuer, id, version",
		"SELECT quote(id), quote(team), quote(status), quote(updated) "
		"FROM nhi_owners ORDER BY id",
		"SELECT quote(seq), quote(time), quote(type), quote(fields), "
		"quote(logged) FROM journal ORDER BY seq",
		"SELECT quote(name), quote(seq) FROM sqlite_sequence "
		"ORDER BY name",
	};
	sqlite3 *h = NULL;
	size_t len = 0, cap = 1 << 16;
	char *out = calloc(1, cap);
	assert_non_null(out);
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	for (size_t q = 0; q < sizeof(sql) / sizeof(sql[0]); q++) {
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(h, sql[q], -1, &st, NULL) != SQLITE_OK)
			fail_msg("%s: %s", sql[q], sqlite3_errmsg(h));
		while (sqlite3_step(st) == SQLITE_ROW) {
			for (int i = 0; i < sqlite3_column_count(st); i++) {
				const char *t =
					(const char *)sqlite3_column_text(st, i);
				size_t n = strlen(t ? t : "") + 2;
				while (len + n + 2 > cap) {
					cap *= 2;
					out = realloc(out, cap);
					assert_non_null(out);
				}
				len += (size_t)snprintf(out + len, cap - len,
							"%s|", t ? t : "");
			}
			out[len++] = '\n';
			out[len] = '\0';
		}
		sqlite3_finalize(st);
		out[len++] = '#';
		out[len] = '\0';
	}
	sqlite3_close(h);
	return out;
}

static long long sql_int(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL),
			 SQLITE_OK);
	sqlite3_busy_timeout(h, 5000);
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(h));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

static void sql_exec(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	char *msg = NULL;
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL),
			 SQLITE_OK);
	sqlite3_busy_timeout(h, 5000);
	sqlite3_db_config(h, SQLITE_DBCONFIG_DEFENSIVE, 0, NULL);
	if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
	sqlite3_close(h);
}

static const struct ag_store_nhi_entry *
entry(const struct ag_store_nhi_list *l, const char *id, uint32_t version)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].rec.id, id) && l->v[i].v.version == version)
			return &l->v[i];
	fail_msg("no %s v%u in the listing", id, version);
	return NULL;
}

/* ---- the merge ---------------------------------------------------------- */

static void test_import_twice(void **state)
{
	struct fx *f = *state;
	struct ag_nhi_inventory inv;
	base_inventory(f, &inv);

	struct ag_store_nhi_counts n = import_ok(f, &inv);
	assert_int_equal(n.added, 3);
	assert_int_equal(n.rotated, 0);
	assert_int_equal(n.changed, 0);
	assert_int_equal(n.unchanged, 0);
	assert_int_equal(n.retired, 0);
	assert_int_equal(n.older, 0);
	/* alice and bob are vouched for; carol's record stated her status
	 * itself, so she is not. */
	assert_int_equal(n.owners_added, 2);
	assert_true(n.journal_seq > 0);
	long long rows = sql_int(f->db, "SELECT count(*) FROM journal");
	assert_int_equal(rows, 2); /* one nhi_change, one nhi_import */
	char *before = dump(f->db);

	n = import_ok(f, &inv);
	assert_int_equal(n.added, 0);
	assert_int_equal(n.rotated, 0);
	assert_int_equal(n.changed, 0);
	assert_int_equal(n.retired, 0);
	assert_int_equal(n.unchanged, 3);
	assert_int_equal(n.owners_added, 0);
	assert_int_equal(n.owners_changed, 0);
	assert_int_equal(n.journal_seq, 0);
	char *after = dump(f->db);
	assert_string_equal(before, after);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM journal"), rows);
	free(before);
	free(after);

	/* What went in comes out, field by field. */
	struct ag_store_nhi_list l = {0};
	assert_int_equal(ag_store_nhi_list(f->s, false, &l, NULL), AG_OK);
	assert_int_equal(l.n, 3);
	const struct ag_nhi *r = &entry(&l, "ci-bot", 1)->rec;
	assert_null(r->issuer);
	assert_string_equal(r->kind, "mtls");
	assert_string_equal(r->owner, "alice");
	assert_int_equal(r->owner_status, AG_OWNER_ACTIVE);
	assert_string_equal(r->team, "platform");
	assert_string_equal(r->purpose, "deploys");
	assert_string_equal(r->workflow, "ci-deploy");
	assert_string_equal(r->thumbprint,
			    "B3O2OQDdJzMBqPKAK7-EPb9mcgqEmn9DvFieOhegaRs");
	assert_int_equal(r->last_rotated, D_2025_01_01);
	assert_int_equal(r->expires, D_2025_06_01);
	assert_int_equal(r->last_used, D_2025_03_01);
	assert_true(r->scopes.known);
	assert_int_equal(r->scopes.n, 2);
	assert_string_equal(r->scopes.v[1], "read");
	assert_false(r->used_scopes.known);
	assert_int_equal(r->method, -1);
	r = &entry(&l, "api-1", 1)->rec;
	assert_true(r->never_used);
	assert_int_equal(r->expires, 0);
	assert_int_equal(r->last_used, 0);
	r = &entry(&l, "kc-sync", 1)->rec;
	assert_string_equal(r->issuer, "https://kc.example.com/realms/x");
	assert_true(r->environments.known);
	assert_string_equal(r->environments.v[0], "prod");
	/* carol is in no owners table, but the record vouched for her. */
	assert_int_equal(r->owner_status, AG_OWNER_ACTIVE);
	assert_int_equal(entry(&l, "kc-sync", 1)->v.imported, NOW);
	assert_true(entry(&l, "kc-sync", 1)->v.current);
	assert_int_equal(l.n_owners, 2);
	assert_string_equal(l.owners[0].id, "alice");
	assert_string_equal(l.owners[1].id, "bob");
	ag_store_nhi_list_release(&l);
	ag_nhi_inventory_release(&inv);
}

static void test_rotation_keeps_history(void **state)
{
	struct fx *f = *state;
	struct ag_nhi_inventory inv;
	base_inventory(f, &inv);
	import_ok(f, &inv);
	ag_nhi_inventory_release(&inv);

	/* ci-bot rotated on 2025-03-01, with a new expiry and key. */
	inv_new(&inv);
	struct ag_nhi a = rec_ci(), b = rec_api();
	a.last_rotated = D_2025_03_01;
	a.expires = D_2025_09_01;
	a.thumbprint = (char *)"NEWNEWNEWNEWNEWNEWNEWNEWNEWNEWNEWNEWNEWNEWN";
	inv_add(&inv, &a);
	inv_add(&inv, &b);
	inv_resolve(f, &inv);
	struct ag_store_nhi_counts n = import_ok(f, &inv);
	assert_int_equal(n.rotated, 1);
	assert_int_equal(n.retired, 1);
	assert_int_equal(n.added, 0);
	assert_int_equal(n.changed, 0);
	assert_int_equal(n.unchanged, 1);
	assert_true(n.journal_seq > 0);

	struct ag_store_nhi_list l = {0};
	assert_int_equal(ag_store_nhi_list(f->s, true, &l, NULL), AG_OK);
	assert_int_equal(l.n, 4); /* api-1, ci-bot v1 and v2, kc-sync */
	const struct ag_store_nhi_entry *old = entry(&l, "ci-bot", 1);
	const struct ag_store_nhi_entry *cur = entry(&l, "ci-bot", 2);
	assert_false(old->v.current);
	assert_int_equal(old->rec.status, AG_NHI_RETIRED);
	assert_int_equal(old->v.retired, D_2025_03_01);
	assert_int_equal(old->rec.last_rotated, D_2025_01_01);
	assert_int_equal(old->rec.expires, D_2025_06_01);
	assert_string_equal(old->rec.thumbprint,
			    "B3O2OQDdJzMBqPKAK7-EPb9mcgqEmn9DvFieOhegaRs");
	assert_true(cur->v.current);
	assert_int_equal(cur->v.retired, 0);
	assert_int_equal(cur->rec.status, AG_NHI_ACTIVE);
	assert_int_equal(cur->rec.last_rotated, D_2025_03_01);
	assert_int_equal(cur->rec.expires, D_2025_09_01);
	assert_string_equal(cur->rec.thumbprint,
			    "NEWNEWNEWNEWNEWNEWNEWNEWNEWNEWNEWNEWNEWNEWN");
	ag_store_nhi_list_release(&l);
	/* Only the current version without --all. */
	assert_int_equal(ag_store_nhi_list(f->s, false, &l, NULL), AG_OK);
	assert_int_equal(l.n, 3);
	assert_int_equal(entry(&l, "ci-bot", 2)->rec.expires, D_2025_09_01);
	ag_store_nhi_list_release(&l);
	/* The gate sees the new version. */
	struct ag_nhi g;
	assert_int_equal(ag_store_nhi_get(f->s, "https://idp", "ci-bot", &g,
					  NULL),
			 AG_OK);
	assert_int_equal(g.last_rotated, D_2025_03_01);
	assert_int_equal(g.status, AG_NHI_ACTIVE);
	ag_nhi_release(&g);
	ag_nhi_inventory_release(&inv);

	/* Yesterday's file again: nothing comes back. */
	char *before = dump(f->db);
	base_inventory(f, &inv);
	n = import_ok(f, &inv);
	assert_int_equal(n.older, 1);
	assert_int_equal(n.rotated, 0);
	assert_int_equal(n.changed, 0);
	assert_int_equal(n.unchanged, 2);
	assert_int_equal(n.journal_seq, 0);
	char *after = dump(f->db);
	assert_string_equal(before, after);
	free(before);
	free(after);
	ag_nhi_inventory_release(&inv);

	/* A field change updates the current version in place; a record
	 * marked retired counts as retired. */
	inv_new(&inv);
	a.purpose = (char *)"deploys to production";
	b.status = AG_NHI_RETIRED;
	inv_add(&inv, &a);
	inv_add(&inv, &b);
	inv_resolve(f, &inv);
	n = import_ok(f, &inv);
	assert_int_equal(n.changed, 2);
	assert_int_equal(n.retired, 1);
	assert_int_equal(n.rotated, 0);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM nhi_records "
					"WHERE id = 'ci-bot'"),
			 2);
	assert_int_equal(sql_int(f->db, "SELECT version FROM nhi_records "
					"WHERE id = 'ci-bot' AND current = 1"),
			 2);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM nhi_records "
					"WHERE id = 'api-1'"),
			 1);
	ag_nhi_inventory_release(&inv);
	/* Import never deletes: kc-sync was in none of the later files. */
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM nhi_records "
					"WHERE id = 'kc-sync' AND current = 1"),
			 1);
}

/* ---- owners ------------------------------------------------------------- */

static void test_owner_offboarding(void **state)
{
	struct fx *f = *state;
	struct ag_nhi_inventory inv;
	struct ag_nhi g;
	struct ag_error err;
	char why[160];
	bool changed = true;

	base_inventory(f, &inv);
	import_ok(f, &inv);
	assert_int_equal(ag_store_nhi_get(f->s, NULL, "ci-bot", &g, NULL),
			 AG_OK);
	assert_int_equal(g.owner_status, AG_OWNER_ACTIVE);
	assert_true(ag_nhi_client_ok(f->p, &g, "https://idp", D_2025_03_01,
				     why, sizeof(why)));
	ag_nhi_release(&g);

	ag_error_init(&err);
	assert_int_equal(ag_store_nhi_owner_set(f->s, "alice",
						AG_OWNER_OFFBOARDED, NULL,
						NOW, &changed, &err),
			 AG_OK);
	assert_true(changed);
	assert_int_equal(ag_store_nhi_get(f->s, NULL, "ci-bot", &g, NULL),
			 AG_OK);
	assert_int_equal(g.owner_status, AG_OWNER_OFFBOARDED);
	assert_false(ag_nhi_client_ok(f->p, &g, "https://idp", D_2025_03_01,
				      why, sizeof(why)));
	assert_string_equal(why, "its owner 'alice' is offboarded");
	ag_nhi_release(&g);
	/* The same again writes nothing. */
	long long rows = sql_int(f->db, "SELECT count(*) FROM journal");
	assert_int_equal(ag_store_nhi_owner_set(f->s, "alice",
						AG_OWNER_OFFBOARDED, NULL,
						NOW, &changed, NULL),
			 AG_OK);
	assert_false(changed);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM journal"), rows);
	/* The next import of the same inventory does not undo it. */
	struct ag_store_nhi_counts n = import_ok(f, &inv);
	assert_int_equal(n.owners_added, 0);
	assert_int_equal(n.owners_changed, 0);
	assert_int_equal(ag_store_nhi_get(f->s, NULL, "ci-bot", &g, NULL),
			 AG_OK);
	assert_int_equal(g.owner_status, AG_OWNER_OFFBOARDED);
	ag_nhi_release(&g);
	ag_nhi_inventory_release(&inv);

	/* A record that states its owner active still loses to an
	 * offboarding. */
	assert_int_equal(ag_store_nhi_owner_set(f->s, "carol",
						AG_OWNER_OFFBOARDED, "data",
						NOW, &changed, NULL),
			 AG_OK);
	assert_int_equal(ag_store_nhi_get(f->s,
					  "https://kc.example.com/realms/x",
					  "kc-sync", &g, NULL),
			 AG_OK);
	assert_int_equal(g.owner_status, AG_OWNER_OFFBOARDED);
	ag_nhi_release(&g);

	/* An owners list is the inventory's word: it re-activates. */
	inv_new(&inv);
	struct ag_nhi a = rec_ci();
	inv_add(&inv, &a);
	struct ag_nhi_owner o = {.id = (char *)"alice",
				 .team = (char *)"platform",
				 .status = AG_OWNER_ACTIVE};
	assert_int_equal(ag_nhi_add_owner(&inv, &o, NULL), AG_OK);
	inv_resolve(f, &inv);
	n = import_ok(f, &inv);
	assert_int_equal(n.owners_changed, 1);
	assert_int_equal(n.owners_added, 0);
	assert_int_equal(ag_store_nhi_get(f->s, NULL, "ci-bot", &g, NULL),
			 AG_OK);
	assert_int_equal(g.owner_status, AG_OWNER_ACTIVE);
	ag_nhi_release(&g);
	ag_nhi_inventory_release(&inv);

	/* An owner the store does not know is unknown. */
	inv_new(&inv);
	a.id = (char *)"orphan-bot";
	a.owner = (char *)"zed";
	inv_add(&inv, &a);
	o.id = (char *)"alice";
	assert_int_equal(ag_nhi_add_owner(&inv, &o, NULL), AG_OK);
	inv_resolve(f, &inv);
	n = import_ok(f, &inv);
	assert_int_equal(n.added, 1);
	assert_int_equal(ag_store_nhi_get(f->s, NULL, "orphan-bot", &g, NULL),
			 AG_OK);
	assert_int_equal(g.owner_status, AG_OWNER_UNKNOWN);
	assert_false(ag_nhi_client_ok(f->p, &g, NULL, D_2025_03_01, why,
				      sizeof(why)));
	assert_string_equal(why, "its owner 'zed' is unknown");
	ag_nhi_release(&g);
	ag_nhi_inventory_release(&inv);

	/* A new owner, and the team kept or cleared. */
	assert_int_equal(ag_store_nhi_owner_set(f->s, "dave", -1, "sre", NOW,
						&changed, NULL),
			 AG_OK);
	assert_true(changed);
	assert_int_equal(ag_store_nhi_owner_set(f->s, "dave", -1, "", NOW,
						&changed, NULL),
			 AG_OK);
	assert_true(changed);
	struct ag_store_nhi_list l = {0};
	assert_int_equal(ag_store_nhi_list(f->s, false, &l, NULL), AG_OK);
	assert_int_equal(l.n_owners, 4);
	assert_string_equal(l.owners[0].id, "alice");
	assert_string_equal(l.owners[0].team, "platform");
	assert_string_equal(l.owners[2].id, "carol");
	assert_int_equal(l.owners[2].status, AG_OWNER_OFFBOARDED);
	assert_string_equal(l.owners[2].team, "data");
	assert_string_equal(l.owners[3].id, "dave");
	assert_int_equal(l.owners[3].status, AG_OWNER_ACTIVE);
	assert_null(l.owners[3].team);
	ag_store_nhi_list_release(&l);
	/* Bad input. */
	ag_error_init(&err);
	assert_int_equal(ag_store_nhi_owner_set(f->s, "dave", AG_OWNER_UNKNOWN,
						NULL, NOW, &changed, &err),
			 AG_ERR_USAGE);
	assert_string_equal(err.msg,
			    "an owner's status is active or offboarded");
	assert_int_equal(ag_store_nhi_owner_set(f->s, "da\nve", -1, "x", NOW,
						&changed, &err),
			 AG_ERR_INVALID);
	assert_string_equal(err.msg, "the owner holds a control character");
}

/* ---- the gate's look-up ------------------------------------------------- */

static void test_get_by_issuer(void **state)
{
	struct fx *f = *state;
	struct ag_nhi_inventory inv;
	struct ag_nhi g;
	struct ag_error err;

	inv_new(&inv);
	struct ag_nhi a = rec_ci(), b = rec_ci();
	b.issuer = (char *)"https://idp.b";
	b.kind = (char *)"workload_identity";
	inv_add(&inv, &a);
	inv_add(&inv, &b);
	inv_resolve(f, &inv);
	import_ok(f, &inv);
	ag_nhi_inventory_release(&inv);

	/* The record naming the issuer wins; otherwise the one naming
	 * none. */
	assert_int_equal(ag_store_nhi_get(f->s, "https://idp.b", "ci-bot", &g,
					  NULL),
			 AG_OK);
	assert_string_equal(g.kind, "workload_identity");
	assert_string_equal(g.issuer, "https://idp.b");
	ag_nhi_release(&g);
	assert_int_equal(ag_store_nhi_get(f->s, "https://idp.a", "ci-bot", &g,
					  NULL),
			 AG_OK);
	assert_string_equal(g.kind, "mtls");
	assert_null(g.issuer);
	ag_nhi_release(&g);
	ag_error_init(&err);
	assert_int_equal(ag_store_nhi_get(f->s, "https://idp.a", "nobody", &g,
					  &err),
			 AG_ERR_NOT_FOUND);
	assert_null(g.id);
	char want[600];
	snprintf(want, sizeof(want),
		 "machine identity 'nobody' is not in %s", f->db);
	assert_string_equal(err.msg, want);
	/* A client id no record can have (a token can carry anything) is
	 * not found, not a failure of the store. */
	assert_int_equal(ag_store_nhi_get(f->s, "https://idp.a", "ci\nbot", &g,
					  &err),
			 AG_ERR_NOT_FOUND);
	assert_int_equal(ag_store_nhi_get(f->s, "https://idp.a", "", &g, &err),
			 AG_ERR_NOT_FOUND);
	struct ag_gate_client gc;
	char why[160];
	assert_false(ag_gate_nhi_client(f->p, NULL, f->s, "https://idp.a",
					"ci\nbot", NOW, &gc, why,
					sizeof(why)));
	assert_false(gc.failed);
	assert_string_equal(why, "not in the machine inventory");

	/* ag_store_nhi_load: what the caller's files hold stays theirs. */
	inv_new(&inv);
	struct ag_nhi c = rec_api();
	c.id = (char *)"ci-bot";
	inv_add(&inv, &c);
	assert_int_equal(ag_store_nhi_load(f->s, &inv, NULL), AG_OK);
	assert_int_equal(inv.n, 2);
	assert_string_equal(ag_nhi_find(&inv, NULL, "ci-bot")->kind,
			    "api_key");
	assert_string_equal(ag_nhi_find(&inv, "https://idp.b", "ci-bot")->kind,
			    "workload_identity");
	assert_non_null(ag_nhi_owner_find(&inv, "alice"));
	assert_string_equal(inv.files[inv.v[1].file], f->db);
	inv_resolve(f, &inv);
	assert_int_equal(ag_nhi_find(&inv, "https://idp.b", "ci-bot")->method,
			 ag_catalogue_find(&f->p->catalogue,
					   "workload_identity"));
	ag_nhi_inventory_release(&inv);
}

/* ---- the journal -------------------------------------------------------- */

static void test_journal_rows(void **state)
{
	struct fx *f = *state;
	struct ag_nhi_inventory inv;
	struct ag_dlog *log = NULL;
	uint64_t drained = 0;

	base_inventory(f, &inv);
	import_ok(f, &inv);
	ag_nhi_inventory_release(&inv);
	assert_int_equal(ag_store_nhi_owner_set(f->s, "bob",
						AG_OWNER_OFFBOARDED, NULL,
						NOW, NULL, NULL),
			 AG_OK);
	assert_int_equal(ag_dlog_open(f->log, &log, NULL), AG_OK);
	assert_int_equal(ag_store_journal_drain(f->s, log, &drained, NULL),
			 AG_OK);
	ag_dlog_close(log);
	assert_int_equal(drained, 3);
	char *text = NULL;
	size_t len = 0;
	assert_int_equal(ag_read_file(f->log, 1 << 20, &text, &len, NULL),
			 AG_OK);
	assert_non_null(strstr(text, "\"type\":\"nhi_change\""));
	assert_non_null(strstr(
		text, "{\"change\":\"added\",\"issuer\":null,\"id\":\"ci-bot\","
		      "\"version\":1,\"kind\":\"mtls\",\"status\":\"active\"}"));
	assert_non_null(strstr(text, "{\"change\":\"owner_added\",\"owner\":"
				     "\"alice\",\"status\":\"active\","
				     "\"team\":null}"));
	assert_non_null(strstr(text, "\"type\":\"nhi_import\""));
	assert_non_null(strstr(text, "\"files\":[\"inv.yaml\"],\"counts\":{"
				     "\"added\":3,\"rotated\":0,\"changed\":0,"
				     "\"unchanged\":0,\"retired\":0,"
				     "\"older\":0,\"owners_added\":2,"
				     "\"owners_changed\":0},"
				     "\"change_rows\":1"));
	assert_non_null(strstr(text, "\"type\":\"nhi_owner_set\""));
	assert_non_null(strstr(text, "\"owner\":\"bob\",\"status\":"
				     "\"offboarded\",\"team\":null,\"was\":{"
				     "\"status\":\"active\",\"team\":null}"));
	free(text);
	struct ag_dlog_verify v;
	assert_int_equal(ag_dlog_verify_file(f->log, &v, NULL), AG_OK);
	assert_int_equal(v.records, 3);
}

/* Many changes: several nhi_change rows, each within the journal's
 * limit, then the summary. */
static void test_journal_chunks(void **state)
{
	struct fx *f = *state;
	struct ag_nhi_inventory inv;
	char ids[400][32];

	inv_new(&inv);
	for (int i = 0; i < 400; i++) {
		struct ag_nhi r = rec_api();
		snprintf(ids[i], sizeof(ids[i]), "key-%04d-%s", i,
			 "with-a-longish-name");
		r.id = ids[i];
		inv_add(&inv, &r);
	}
	inv_resolve(f, &inv);
	struct ag_store_nhi_counts n = import_ok(f, &inv);
	assert_int_equal(n.added, 400);
	long long parts = sql_int(f->db, "SELECT count(*) FROM journal WHERE "
					 "type = 'nhi_change'");
	assert_true(parts >= 3);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM journal WHERE "
					"length(fields) > 16384"),
			 0);
	char q[200];
	snprintf(q, sizeof(q),
		 "SELECT count(*) FROM journal WHERE type = 'nhi_import' AND "
		 "fields LIKE '%%\"change_rows\":%lld}'",
		 parts);
	assert_int_equal(sql_int(f->db, q), 1);
	ag_nhi_inventory_release(&inv);
}

/* ---- refusals ----------------------------------------------------------- */

static void test_refused_records(void **state)
{
	struct fx *f = *state;
	struct ag_nhi_inventory inv;
	struct ag_store_nhi_counts n;
	struct ag_error err;

	inv_new(&inv);
	struct ag_nhi a = rec_ci(), b = rec_api();
	b.owner = (char *)"bo\x01"
			  "b";
	inv_add(&inv, &a);
	inv_add(&inv, &b);
	inv_resolve(f, &inv);
	ag_error_init(&err);
	assert_int_equal(ag_store_nhi_import(f->s, &inv, NOW, &n, &err),
			 AG_ERR_INVALID);
	assert_string_equal(err.msg,
			    "inv.yaml:3:3: machine identity 'api-1' cannot be "
			    "stored: the owner holds a control character");
	assert_int_equal(n.added, 0);
	/* Nothing of it was written, not even the good record. */
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM nhi_records"), 0);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM journal"), 0);
	ag_nhi_inventory_release(&inv);

	char big[AG_STORE_NHI_TEXT_MAX + 2];
	memset(big, 'p', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	inv_new(&inv);
	a.purpose = big;
	inv_add(&inv, &a);
	inv_resolve(f, &inv);
	assert_int_equal(ag_store_nhi_import(f->s, &inv, NOW, &n, &err),
			 AG_ERR_LIMIT);
	assert_string_equal(err.msg,
			    "inv.yaml:2:3: machine identity 'ci-bot' cannot be "
			    "stored: the purpose is longer than 4096 bytes");
	ag_nhi_inventory_release(&inv);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM nhi_records"), 0);
}

/* ---- failing closed ----------------------------------------------------- */

static void test_read_only_store(void **state)
{
	struct fx *f = *state;
	struct ag_nhi_inventory inv;
	struct ag_store_nhi_counts n;
	struct ag_store *ro = NULL;
	struct ag_store_opts o = {.read_only = true};
	struct ag_error err;
	char want[600];

	base_inventory(f, &inv);
	ag_error_init(&err);
	assert_int_equal(ag_store_open(f->db, &o, &ro, &err), AG_OK);
	assert_int_equal(ag_store_nhi_import(ro, &inv, NOW, &n, &err),
			 AG_ERR_IO);
	snprintf(want, sizeof(want),
		 "%s: cannot begin a change: the state is read-only "
		 "(attempt to write a readonly database)",
		 f->db);
	assert_string_equal(err.msg, want);
	assert_int_equal(n.added, 0);
	assert_int_equal(n.journal_seq, 0);
	assert_int_equal(ag_store_nhi_owner_set(ro, "alice",
						AG_OWNER_OFFBOARDED, NULL,
						NOW, NULL, &err),
			 AG_ERR_IO);
	ag_store_close(ro);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM nhi_records"), 0);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM nhi_owners"), 0);

	/* A file that cannot be written at all (0400, as a user who does
	 * not own it: root ignores the mode, so the write is refused by
	 * the read-only open above in that case too). */
	import_ok(f, &inv);
	ag_nhi_inventory_release(&inv);
	assert_int_equal(chmod(f->db, 0400), 0);
	if (geteuid() != 0) {
		struct ag_store *s2 = NULL;
		assert_int_not_equal(ag_store_open(f->db, NULL, &s2, &err),
				     AG_OK);
		assert_null(s2);
	}
	assert_int_equal(chmod(f->db, 0600), 0);
}

static void test_locked_store(void **state)
{
	struct fx *f = *state;
	struct ag_nhi_inventory inv;
	struct ag_store_nhi_counts n;
	struct ag_store *s2 = NULL;
	struct ag_store_opts o = {.busy_ms = 50};
	struct ag_error err;
	sqlite3 *h = NULL;
	char want[600];

	base_inventory(f, &inv);
	ag_error_init(&err);
	assert_int_equal(ag_store_open(f->db, &o, &s2, &err), AG_OK);
	/* Another writer holds the lock. */
	assert_int_equal(sqlite3_open_v2(f->db, &h, SQLITE_OPEN_READWRITE,
					 NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(ag_store_nhi_import(s2, &inv, NOW, &n, &err),
			 AG_ERR_IO);
	snprintf(want, sizeof(want),
		 "%s: cannot begin a change: the database is locked by "
		 "another writer (waited 50 ms)",
		 f->db);
	assert_string_equal(err.msg, want);
	assert_int_equal(n.added, 0);
	sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(h);
	ag_store_close(s2);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM nhi_records"), 0);
	ag_nhi_inventory_release(&inv);
}

static void test_damaged_rows(void **state)
{
	struct fx *f = *state;
	struct ag_nhi_inventory inv;
	struct ag_nhi g;
	struct ag_error err;
	struct ag_gate_client out;
	char why[200], want[600];

	base_inventory(f, &inv);
	import_ok(f, &inv);
	ag_nhi_inventory_release(&inv);
	/* A hand-edited list: the gate must not take it as "no scopes". */
	sql_exec(f->db, "UPDATE nhi_records SET scopes = '{\"a\":1}' "
			"WHERE id = 'ci-bot'");
	ag_error_init(&err);
	assert_int_equal(ag_store_nhi_get(f->s, NULL, "ci-bot", &g, &err),
			 AG_ERR_INVALID);
	snprintf(want, sizeof(want),
		 "%s: machine identity 'ci-bot': the stored scopes is "
		 "damaged",
		 f->db);
	assert_string_equal(err.msg, want);
	assert_null(g.id);
	/* The gate's hook refuses, as a failure. */
	assert_false(ag_gate_nhi_client(f->p, NULL, f->s, "https://idp",
					"ci-bot", NOW, &out, why, sizeof(why)));
	assert_true(out.failed);
	assert_int_equal(out.method, -1);
	assert_non_null(strstr(why, "the state store cannot be read: "));
	/* The listing fails as a whole rather than skip it. */
	struct ag_store_nhi_list l = {0};
	assert_int_equal(ag_store_nhi_list(f->s, false, &l, NULL),
			 AG_ERR_INVALID);
	assert_int_equal(l.n, 0);
	/* An owner whose status is not one. */
	sql_exec(f->db, "PRAGMA ignore_check_constraints = 1; "
			"UPDATE nhi_owners SET status = 'gone' "
			"WHERE id = 'bob'");
	assert_int_equal(ag_store_nhi_get(f->s, NULL, "api-1", &g, &err),
			 AG_ERR_INVALID);
	snprintf(want, sizeof(want),
		 "%s: owner 'bob': the stored status is damaged", f->db);
	assert_string_equal(err.msg, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_import_twice, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rotation_keeps_history,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_offboarding, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_get_by_issuer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_journal_rows, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_journal_chunks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_refused_records, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_only_store, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_locked_store, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_damaged_rows, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
