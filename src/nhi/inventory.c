/*
 * The machine-identity inventory (docs/nhi.md): records keyed by
 * (issuer, id), the owners list, resolution against a policy, and the
 * gate's check of a machine client.  Parsers live in src/nhi/load.c and
 * src/nhi/estate.c; findings in src/nhi/findings.c.
 */
#include <stdlib.h>
#include <string.h>

#include "aalgate/nhi.h"
#include "util.h"
#include "banned.h"

struct ag_nhi_inventory_impl {
	struct ag_strmap ids;    /* "issuer\n id" -> record */
	char **keys;             /* the map's keys, owned */
	size_t n_keys, keys_alloc;
	size_t v_alloc;
	struct ag_strmap owners; /* owner id -> owners[] (keys borrowed) */
	size_t owners_alloc;
	size_t files_alloc;
};

static const char *const status_names[] = {"active", "disabled", "retired"};
static const char *const owner_names[] = {"unknown", "active", "offboarded"};

const char *ag_nhi_status_name(enum ag_nhi_status s)
{
	return (unsigned)s < AG_ARRAY_SIZE(status_names) ? status_names[s]
							 : "?";
}

const char *ag_owner_status_name(enum ag_owner_status s)
{
	return (unsigned)s < AG_ARRAY_SIZE(owner_names) ? owner_names[s] : "?";
}

ag_code ag_nhi_inventory_init(struct ag_nhi_inventory *inv)
{
	memset(inv, 0, sizeof(*inv));
	inv->impl = calloc(1, sizeof(*inv->impl));
	if (!inv->impl)
		return AG_ERR_NOMEM;
	ag_strmap_init(&inv->impl->ids);
	ag_strmap_init(&inv->impl->owners);
	return AG_OK;
}

static void list_release(struct ag_nhi_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void ag_nhi_release(struct ag_nhi *r)
{
	if (!r)
		return;
	free(r->id);
	free(r->kind);
	free(r->issuer);
	free(r->owner);
	free(r->team);
	free(r->purpose);
	free(r->workflow);
	free(r->thumbprint);
	list_release(&r->scopes);
	list_release(&r->used_scopes);
	list_release(&r->environments);
	list_release(&r->used_by);
	memset(r, 0, sizeof(*r));
}

void ag_nhi_inventory_release(struct ag_nhi_inventory *inv)
{
	if (!inv)
		return;
	for (size_t i = 0; i < inv->n; i++)
		ag_nhi_release(&inv->v[i]);
	free(inv->v);
	for (size_t i = 0; i < inv->n_owners; i++) {
		free(inv->owners[i].id);
		free(inv->owners[i].team);
	}
	free(inv->owners);
	for (size_t i = 0; i < inv->n_files; i++)
		free(inv->files[i]);
	free(inv->files);
	if (inv->impl) {
		ag_strmap_release(&inv->impl->ids);
		ag_strmap_release(&inv->impl->owners);
		for (size_t i = 0; i < inv->impl->n_keys; i++)
			free(inv->impl->keys[i]);
		free(inv->impl->keys);
		free(inv->impl);
	}
	memset(inv, 0, sizeof(*inv));
}

ag_code ag_nhi_add_file(struct ag_nhi_inventory *inv, const char *name,
			uint32_t *file, struct ag_error *err)
{
	if (inv->n_files >= UINT32_MAX - 1 ||
	    AG_GROW(inv->files, inv->impl->files_alloc, inv->n_files + 1))
		return ag_err(err, AG_ERR_NOMEM, "%s: out of memory", name);
	if (!(inv->files[inv->n_files] = ag_strdup(name)))
		return ag_err(err, AG_ERR_NOMEM, "%s: out of memory", name);
	*file = (uint32_t)inv->n_files++;
	return AG_OK;
}

static const char *file_name(const struct ag_nhi_inventory *inv, uint32_t f)
{
	return f < inv->n_files ? inv->files[f] : "(inventory)";
}

static ag_code list_copy(struct ag_nhi_list *dst, const struct ag_nhi_list *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->known = src->known;
	if (!src->n)
		return AG_OK;
	if (!(dst->v = calloc(src->n, sizeof(*dst->v))))
		return AG_ERR_NOMEM;
	for (size_t i = 0; i < src->n; i++) {
		if (!(dst->v[i] = ag_strdup(src->v[i])))
			return AG_ERR_NOMEM;
		dst->n++;
	}
	return AG_OK;
}

/* Copies an optional string: NULL stays NULL. */
static bool opt_dup(char **dst, const char *src)
{
	*dst = NULL;
	return !src || (*dst = ag_strdup(src)) != NULL;
}

ag_code ag_nhi_copy(struct ag_nhi *dst, const struct ag_nhi *src)
{
	*dst = *src;
	dst->id = dst->kind = dst->issuer = dst->owner = dst->team = NULL;
	dst->purpose = dst->workflow = dst->thumbprint = NULL;
	memset(&dst->scopes, 0, sizeof(dst->scopes));
	memset(&dst->used_scopes, 0, sizeof(dst->used_scopes));
	memset(&dst->environments, 0, sizeof(dst->environments));
	memset(&dst->used_by, 0, sizeof(dst->used_by));
	if (!opt_dup(&dst->id, src->id) || !opt_dup(&dst->kind, src->kind) ||
	    !opt_dup(&dst->issuer, src->issuer) ||
	    !opt_dup(&dst->owner, src->owner) ||
	    !opt_dup(&dst->team, src->team) ||
	    !opt_dup(&dst->purpose, src->purpose) ||
	    !opt_dup(&dst->workflow, src->workflow) ||
	    !opt_dup(&dst->thumbprint, src->thumbprint) ||
	    list_copy(&dst->scopes, &src->scopes) ||
	    list_copy(&dst->used_scopes, &src->used_scopes) ||
	    list_copy(&dst->environments, &src->environments) ||
	    list_copy(&dst->used_by, &src->used_by)) {
		ag_nhi_release(dst);
		return AG_ERR_NOMEM;
	}
	return AG_OK;
}

/* The map key of (issuer, id): an issuer cannot hold a newline (it is a
 * URL), so "issuer\nid" is unambiguous. */
static char *key_of(const char *iss, const char *id)
{
	size_t a = iss ? strlen(iss) : 0, b = strlen(id);
	char *k = malloc(a + b + 2);
	if (!k)
		return NULL;
	if (a)
		memcpy(k, iss, a);
	k[a] = '\n';
	memcpy(k + a + 1, id, b + 1);
	return k;
}

ag_code ag_nhi_add(struct ag_nhi_inventory *inv, const struct ag_nhi *rec,
		   struct ag_error *err)
{
	struct ag_nhi_inventory_impl *im = inv->impl;
	const char *where = file_name(inv, rec->file);

	if (!rec->id || !*rec->id)
		return ag_err_at(err, AG_ERR_INVALID, where, rec->line, rec->col,
				 "a machine identity needs an id");
	if (!rec->kind || !*rec->kind)
		return ag_err_at(err, AG_ERR_INVALID, where, rec->line, rec->col,
				 "machine identity '%s' needs a kind",
				 rec->id);
	if (inv->n >= UINT32_MAX - 1)
		return ag_err(err, AG_ERR_LIMIT, "%s: too many machine "
						 "identities", where);
	char *key = key_of(rec->issuer, rec->id);
	if (!key || AG_GROW(im->keys, im->keys_alloc, im->n_keys + 1) ||
	    AG_GROW(inv->v, im->v_alloc, inv->n + 1)) {
		free(key);
		return ag_err(err, AG_ERR_NOMEM, "%s: out of memory", where);
	}
	struct ag_nhi *slot = &inv->v[inv->n];
	if (ag_nhi_copy(slot, rec)) {
		free(key);
		return ag_err(err, AG_ERR_NOMEM, "%s: out of memory", where);
	}
	uint32_t old = 0;
	bool dup = false;
	if (ag_strmap_put(&im->ids, key, (uint32_t)inv->n, &old, &dup)) {
		ag_nhi_release(slot);
		free(key);
		return ag_err(err, AG_ERR_NOMEM, "%s: out of memory", where);
	}
	if (dup) {
		const struct ag_nhi *o = &inv->v[old];
		ag_code rc = ag_err_at(
			err, AG_ERR_INVALID, where, rec->line, rec->col,
			"machine identity '%s'%s%s is already listed at "
			"%s:%u:%u",
			rec->id, rec->issuer ? " of issuer " : "",
			rec->issuer ? rec->issuer : "", file_name(inv, o->file),
			o->line, o->col);
		ag_nhi_release(slot);
		free(key);
		return rc;
	}
	im->keys[im->n_keys++] = key;
	inv->v[inv->n].method = -1;
	inv->v[inv->n].workflow_idx = -1;
	inv->n++;
	return AG_OK;
}

ag_code ag_nhi_add_owner(struct ag_nhi_inventory *inv,
			 const struct ag_nhi_owner *o, struct ag_error *err)
{
	struct ag_nhi_inventory_impl *im = inv->impl;
	const char *where = file_name(inv, o->file);

	if (!o->id || !*o->id)
		return ag_err_at(err, AG_ERR_INVALID, where, o->line, o->col,
				 "an owner needs an id");
	if (o->status != AG_OWNER_ACTIVE && o->status != AG_OWNER_OFFBOARDED)
		return ag_err_at(err, AG_ERR_INVALID, where, o->line, o->col,
				 "owner '%s': status must be active or "
				 "offboarded",
				 o->id);
	if (inv->n_owners >= UINT32_MAX - 1 ||
	    AG_GROW(inv->owners, im->owners_alloc, inv->n_owners + 1))
		return ag_err(err, AG_ERR_NOMEM, "%s: out of memory", where);
	struct ag_nhi_owner *n = &inv->owners[inv->n_owners];
	*n = *o;
	n->id = ag_strdup(o->id);
	n->team = NULL;
	if (!n->id || !opt_dup(&n->team, o->team)) {
		free(n->id);
		free(n->team);
		return ag_err(err, AG_ERR_NOMEM, "%s: out of memory", where);
	}
	uint32_t old = 0;
	bool dup = false;
	if (ag_strmap_put(&im->owners, n->id, (uint32_t)inv->n_owners, &old,
			  &dup)) {
		free(n->id);
		free(n->team);
		return ag_err(err, AG_ERR_NOMEM, "%s: out of memory", where);
	}
	if (dup) {
		const struct ag_nhi_owner *p = &inv->owners[old];
		ag_code rc = ag_err_at(err, AG_ERR_INVALID, where, o->line,
				       o->col,
				       "owner '%s' is already listed at "
				       "%s:%u:%u",
				       o->id, file_name(inv, p->file), p->line,
				       p->col);
		free(n->id);
		free(n->team);
		return rc;
	}
	inv->n_owners++;
	inv->has_owners = true;
	return AG_OK;
}

const struct ag_nhi_owner *ag_nhi_owner_find(const struct ag_nhi_inventory *inv,
					     const char *id)
{
	uint32_t i;
	if (!id || !inv->impl || !ag_strmap_get(&inv->impl->owners, id, &i))
		return NULL;
	return &inv->owners[i];
}

const struct ag_nhi *ag_nhi_find(const struct ag_nhi_inventory *inv,
				 const char *iss, const char *client)
{
	if (!client || !inv->impl)
		return NULL;
	uint32_t i;
	char *k;
	if (iss && *iss) {
		if (!(k = key_of(iss, client)))
			return NULL;
		bool hit = ag_strmap_get(&inv->impl->ids, k, &i);
		free(k);
		if (hit)
			return &inv->v[i];
	}
	if (!(k = key_of(NULL, client)))
		return NULL;
	bool hit = ag_strmap_get(&inv->impl->ids, k, &i);
	free(k);
	return hit ? &inv->v[i] : NULL;
}

ag_code ag_nhi_resolve(struct ag_nhi_inventory *inv, const struct ag_policy *p,
		       struct ag_error *err)
{
	for (size_t i = 0; i < inv->n; i++) {
		struct ag_nhi *r = &inv->v[i];
		const char *where = file_name(inv, r->file);
		int m = ag_catalogue_find(&p->catalogue, r->kind);
		if (m < 0) {
			struct ag_suggest sg;
			ag_suggest_init(&sg, r->kind);
			for (size_t k = 0; k < p->catalogue.n; k++)
				ag_suggest_add(&sg, p->catalogue.methods[k].name);
			ag_code rc = ag_err_at(
				err, AG_ERR_INVALID, where, r->line, r->col,
				"machine identity '%s': unknown kind '%s' (a "
				"method of the catalogue, such as api_key, "
				"client_secret, workload_identity or mtls)",
				r->id, r->kind);
			ag_err_hint(err, ag_suggest_best(&sg));
			return rc;
		}
		r->method = m;
		r->workflow_idx = -1;
		if (r->workflow) {
			long w = ag_policy_workflow(p, r->workflow);
			if (w < 0) {
				struct ag_suggest sg;
				ag_suggest_init(&sg, r->workflow);
				for (size_t k = 0; k < p->n_workflows; k++)
					ag_suggest_add(&sg,
						       p->workflows[k].name);
				ag_code rc = ag_err_at(
					err, AG_ERR_INVALID, where, r->line,
					r->col,
					"machine identity '%s': unknown "
					"workflow '%s'",
					r->id, r->workflow);
				ag_err_hint(err, ag_suggest_best(&sg));
				return rc;
			}
			r->workflow_idx = w;
		}
		if (r->owner_status_given)
			continue;
		const struct ag_nhi_owner *o = ag_nhi_owner_find(inv, r->owner);
		if (!r->owner || !*r->owner)
			r->owner_status = AG_OWNER_UNKNOWN;
		else if (o)
			r->owner_status = o->status;
		else
			r->owner_status = inv->has_owners ? AG_OWNER_UNKNOWN
							  : AG_OWNER_ACTIVE;
	}
	return AG_OK;
}

bool ag_nhi_key_bound(const struct ag_policy *p, const struct ag_nhi *rec)
{
	int m = rec->method >= 0 ? rec->method
				 : ag_catalogue_find(&p->catalogue, rec->kind);
	return m >= 0 && (size_t)m < p->catalogue.n &&
	       p->catalogue.methods[m].phishing_resistant;
}

bool ag_nhi_client_ok(const struct ag_policy *p, const struct ag_nhi *rec,
		      const char *iss, int64_t now, char *why, size_t why_len)
{
	if (!rec) {
		snprintf(why, why_len, "not in the machine inventory");
		return false;
	}
	if (!rec->issuer && p->n_issuers > 1) {
		snprintf(why, why_len,
			 "its inventory record names no issuer and the policy "
			 "trusts %zu",
			 p->n_issuers);
		return false;
	}
	if (rec->issuer && (!iss || strcmp(rec->issuer, iss))) {
		snprintf(why, why_len, "its inventory record is for another "
				       "issuer");
		return false;
	}
	if (rec->status != AG_NHI_ACTIVE) {
		snprintf(why, why_len, "it is %s in the inventory",
			 ag_nhi_status_name((enum ag_nhi_status)rec->status));
		return false;
	}
	if (rec->expires && now >= rec->expires) {
		snprintf(why, why_len, "its credential expired");
		return false;
	}
	if (rec->owner_status == AG_OWNER_OFFBOARDED) {
		snprintf(why, why_len, "its owner '%.60s' is offboarded",
			 rec->owner ? rec->owner : "");
		return false;
	}
	if (rec->owner_status != AG_OWNER_ACTIVE) {
		if (rec->owner && *rec->owner)
			snprintf(why, why_len, "its owner '%.60s' is unknown",
				 rec->owner);
		else
			snprintf(why, why_len, "it has no owner");
		return false;
	}
	return true;
}
