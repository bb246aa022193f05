/*
 * Machine identities from an estate (docs/nhi.md): the AWS credential
 * report, a Keycloak export or an estate file, once resolved, gives one
 * inventory record per (machine-credential path, account it reaches).
 *
 * A path is a machine credential when its methods include api_key,
 * client_secret, workload_identity or mtls: it gives a record for every
 * account it reaches.  Any other path gives a record for each service
 * account it reaches (a password or key on a machine: a login path with a
 * password to a service account is how people sign in as one, AG-N09).  A
 * path without methods carries no credential and gives no record.
 *
 *  - id: the path's id when it reaches one account, else
 *    "PATHID:ACCOUNTID" (one record per account);
 *  - kind: the path's first machine method, else its first method;
 *  - owner and workflow: the account's; dates: the path's (created,
 *    last_rotated, last_used, and never_used where the importer knows the
 *    credential was never used: AWS "N/A");
 *  - root: the account is a platform's root user (the AWS importer marks
 *    it);
 *  - interactive: the account is a service account that a login or
 *    legacy path reaches with some method people use (anything but the
 *    four machine methods): someone signs in as the machine.
 *
 * Keycloak: the importer makes, for a client with serviceAccountsEnabled,
 * a service account "REALM/client:CLIENTID" and one api path
 * "REALM/client:CLIENTID: client credentials (AUTHENTICATOR)" to it.  A
 * token such a client obtains carries azp = CLIENTID, which is what the
 * gate looks up, so the record's id is CLIENTID rather than the path id.
 * The mapping is recognised by that shape (a service account whose id
 * holds "/client:", reached only by an api path whose id is the account's
 * id followed by ": client credentials ("); the client id is what follows
 * the first "/client:".  A clientId is unique in its realm, but two realms
 * in one estate may share one: such records keep their path ids, which
 * name the realm, so that neither is dropped.  The realm's issuer URL is
 * not in the export; a record names the policy issuer whose iss ends in
 * "/realms/REALM" (Keycloak's form, with or without "/auth"), when
 * exactly one does, and no issuer otherwise.
 */
#include <stdlib.h>
#include <string.h>

#include "aalgate/nhi.h"
#include "audit/estate.h"
#include "util.h"
#include "banned.h"

static const char *const machine_names[] = {
	"api_key", "client_secret", "workload_identity", "mtls",
};

#define KC_MARK "/client:"
#define KC_PATH ": client credentials ("

struct from {
	struct ag_nhi_inventory *inv;
	const struct ag_estate *e;
	struct ag_error *err;
	int machine[AG_ARRAY_SIZE(machine_names)]; /* catalogue indices */
	uint32_t *files;     /* estate file -> inventory file, or AG_NONE */
	uint8_t *interactive; /* per account: 0 not computed, 1 no, 2 yes */
	struct ag_strmap kc;  /* Keycloak client id -> index in kc_uses */
	uint32_t *kc_uses;    /* how many paths name each client id */
	struct ag_buf id;
};

static bool is_machine(const struct from *f, uint16_t m)
{
	for (size_t i = 0; i < AG_ARRAY_SIZE(f->machine); i++)
		if (f->machine[i] == (int)m)
			return true;
	return false;
}

static bool has_machine(const struct from *f, const struct ag_path *p)
{
	for (uint32_t k = 0; k < p->n_methods; k++)
		if (is_machine(f, p->methods[k]))
			return true;
	return false;
}

static size_t n_reached(const struct ag_estate *e, size_t path)
{
	return e->path_off[path + 1] - e->path_off[path];
}

/* The Keycloak client id of path p (which reaches only account a), or
 * NULL when p is not a Keycloak client-credentials path. */
static const char *kc_client(const struct ag_path *p, const struct ag_account *a)
{
	if (p->kind != AG_PATH_API || a->kind != AG_KIND_SERVICE)
		return NULL;
	const char *mark = strstr(a->id, KC_MARK);
	size_t alen = strlen(a->id);
	if (!mark || !mark[strlen(KC_MARK)] || strncmp(p->id, a->id, alen) ||
	    strncmp(p->id + alen, KC_PATH, strlen(KC_PATH)))
		return NULL;
	return mark + strlen(KC_MARK);
}

/* The policy issuer of the Keycloak realm that account id a_id
 * ("REALM/client:CLIENTID") belongs to: the one whose iss ends in
 * "/realms/REALM", or NULL when none or several do. */
static char *kc_issuer(const struct ag_policy *pol, const char *a_id)
{
	const char *mark = strstr(a_id, KC_MARK);
	char tail[AG_NHI_MAX_ID + 16];
	char *found = NULL;

	if (!mark || mark == a_id ||
	    (size_t)(mark - a_id) + 9 >= sizeof(tail))
		return NULL;
	snprintf(tail, sizeof(tail), "/realms/%.*s", (int)(mark - a_id), a_id);
	size_t tl = strlen(tail);
	for (size_t i = 0; i < pol->n_issuers; i++) {
		const char *iss = pol->issuers[i].iss;
		size_t il = iss ? strlen(iss) : 0;
		if (il > tl && !strcmp(iss + il - tl, tail)) {
			if (found)
				return NULL; /* two realms of that name */
			found = pol->issuers[i].iss;
		}
	}
	return found;
}

/* Is account a a service account that people sign in to? */
static bool interactive(struct from *f, uint32_t a)
{
	const struct ag_estate *e = f->e;
	if (e->accounts[a].kind != AG_KIND_SERVICE)
		return false;
	if (f->interactive[a])
		return f->interactive[a] == 2;
	bool yes = false;
	for (uint32_t k = e->in_off[a]; k < e->in_off[a + 1] && !yes; k++) {
		const struct ag_path *p = &e->paths[e->edge_path[e->in_edges[k]]];
		if (p->kind != AG_PATH_LOGIN && p->kind != AG_PATH_LEGACY)
			continue;
		for (uint32_t m = 0; m < p->n_methods && !yes; m++)
			yes = !is_machine(f, p->methods[m]);
	}
	f->interactive[a] = yes ? 2 : 1;
	return yes;
}

static ag_code file_of(struct from *f, uint32_t file, uint32_t *out)
{
	if (file >= f->e->n_files) {
		*out = AG_NONE;
		return AG_OK;
	}
	if (f->files[file] == AG_NONE) {
		ag_code rc = ag_nhi_add_file(f->inv, f->e->files[file],
					     &f->files[file], f->err);
		if (rc)
			return rc;
	}
	*out = f->files[file];
	return AG_OK;
}

static ag_code nomem(struct from *f)
{
	return ag_err(f->err, AG_ERR_NOMEM, "out of memory");
}

/* Counts the paths that would name each Keycloak client id. */
static ag_code count_clients(struct from *f)
{
	const struct ag_estate *e = f->e;
	size_t alloc = 0;
	for (size_t i = 0; i < e->n_paths; i++) {
		if (n_reached(e, i) != 1)
			continue;
		const struct ag_path *p = &e->paths[i];
		const char *cid =
			kc_client(p, &e->accounts[e->edge_acct[e->path_off[i]]]);
		if (!cid)
			continue;
		uint32_t at = 0;
		bool found = false;
		if (AG_GROW(f->kc_uses, alloc, f->kc.n + 1) ||
		    ag_strmap_put(&f->kc, cid, (uint32_t)f->kc.n, &at, &found))
			return nomem(f);
		if (!found)
			f->kc_uses[at = (uint32_t)(f->kc.n - 1)] = 0;
		f->kc_uses[at]++;
	}
	return AG_OK;
}

static ag_code add_edge(struct from *f, size_t path, uint32_t acct,
			struct ag_nhi *rec)
{
	const struct ag_estate *e = f->e;
	const struct ag_path *p = &e->paths[path];
	const struct ag_account *a = &e->accounts[acct];
	const struct ag_catalogue *cat = &e->policy->catalogue;
	ag_code rc;

	uint16_t kind = p->methods[0];
	for (uint32_t k = 0; k < p->n_methods; k++)
		if (is_machine(f, p->methods[k])) {
			kind = p->methods[k];
			break;
		}
	f->id.len = 0;
	f->id.failed = false;
	const char *cid = NULL;
	uint32_t uses = 0;
	char *issuer = NULL;
	if (n_reached(e, path) == 1) {
		cid = kc_client(p, a);
		if (cid)
			issuer = kc_issuer(e->policy, a->id);
		if (cid && (!ag_strmap_get(&f->kc, cid, &uses) ||
			    f->kc_uses[uses] != 1))
			cid = NULL;
		rc = ag_buf_adds(&f->id, cid ? cid : p->id);
	} else {
		rc = ag_buf_printf(&f->id, "%s:%s", p->id, a->id);
	}
	if (rc)
		return nomem(f);

	memset(rec, 0, sizeof(*rec));
	rec->id = f->id.data;
	rec->issuer = issuer;
	rec->kind = cat->methods[kind].name;
	rec->method = -1;
	rec->owner = a->owner;
	rec->workflow_idx = -1;
	if (a->workflow >= 0 && (size_t)a->workflow < e->policy->n_workflows)
		rec->workflow = e->policy->workflows[a->workflow].name;
	rec->status = AG_NHI_ACTIVE;
	rec->created = p->created;
	rec->last_rotated = p->last_rotated;
	rec->last_used = p->last_used;
	rec->never_used = p->never_used && !p->last_used;
	rec->interactive = interactive(f, acct);
	rec->root = a->root;
	if ((rc = file_of(f, p->file, &rec->file)))
		return rc;
	rec->line = p->line;
	rec->col = p->col;
	if (f->inv->n >= AG_NHI_MAX_RECORDS)
		return ag_err_at(f->err, AG_ERR_LIMIT,
				 ag_estate_file(e, p->file), p->line, p->col,
				 "more than %u machine identities",
				 AG_NHI_MAX_RECORDS);
	return ag_nhi_add(f->inv, rec, f->err);
}

ag_code ag_nhi_from_estate(struct ag_nhi_inventory *inv,
			   const struct ag_estate *e, struct ag_error *err)
{
	struct from f;
	struct ag_nhi rec;
	ag_code rc = AG_ERR_INTERNAL;

	if (!inv || !inv->impl || !e)
		return ag_err(err, AG_ERR_USAGE, "bad arguments");
	if (!e->resolved)
		return ag_err(err, AG_ERR_USAGE,
			      "the estate must be resolved before its machine "
			      "identities are read");
	memset(&f, 0, sizeof(f));
	f.inv = inv;
	f.e = e;
	f.err = err;
	ag_strmap_init(&f.kc);
	ag_buf_init(&f.id, 2 * AG_NHI_MAX_ID + 8);
	for (size_t i = 0; i < AG_ARRAY_SIZE(machine_names); i++)
		f.machine[i] = ag_catalogue_find(&e->policy->catalogue,
						 machine_names[i]);
	f.files = malloc((e->n_files + 1) * sizeof(*f.files));
	f.interactive = calloc(e->n_accounts + 1, 1);
	if (!f.files || !f.interactive) {
		rc = nomem(&f);
		goto out;
	}
	for (size_t i = 0; i < e->n_files; i++)
		f.files[i] = AG_NONE;
	if ((rc = count_clients(&f)))
		goto out;

	for (size_t i = 0; i < e->n_paths; i++) {
		const struct ag_path *p = &e->paths[i];
		if (!p->n_methods)
			continue;
		/* A machine credential opens a record for every account
		 * it reaches; any other path, only for the service
		 * accounts it reaches (a password or key on a machine). */
		bool machine = has_machine(&f, p);
		for (uint32_t k = e->path_off[i]; k < e->path_off[i + 1]; k++) {
			uint32_t a = e->edge_acct[k];
			if (!machine &&
			    e->accounts[a].kind != AG_KIND_SERVICE)
				continue;
			if ((rc = add_edge(&f, i, a, &rec)))
				goto out;
		}
	}
	rc = AG_OK;
out:
	free(f.files);
	free(f.interactive);
	ag_strmap_release(&f.kc);
	free(f.kc_uses);
	ag_buf_release(&f.id);
	return rc;
}
