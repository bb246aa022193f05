/*
 * Loading and resolving the estate (docs/audit.md).
 *
 * Estate files may hold millions of entries, so they are read one list
 * item at a time: each account or path becomes a small node tree, is
 * converted, and is freed before the next is read.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "estate.h"
#include "ynode.h"
#include "banned.h"

static const char *const path_kind_names[AG_PATH_KIND_COUNT] = {
	"login",  "recovery", "helpdesk",    "renewal",    "stepup",
	"legacy", "api",      "break_glass", "enrollment",
};

const char *ag_path_kind_name(enum ag_path_kind k)
{
	if ((unsigned)k >= AG_PATH_KIND_COUNT)
		return "unknown";
	return path_kind_names[k];
}

static const char *const account_keys[] = {
	"id", "kind", "workflow", "groups", "email", "phone", "owner",
	"standing", "break_glass", "description", "root", NULL,
};

static const char *const path_keys[] = {
	"id", "kind", "to", "methods", "via", "device_check", "monitored",
	"lifetime", "approval", "approvals", "alert", "description",
	"created", "last_rotated", "last_used", "never_used", NULL,
};

static const char *const estate_keys[] = {"accounts", "paths", NULL};

/* Slots of account_keys and path_keys, in the same order. */
enum {
	AK_ID, AK_KIND, AK_WORKFLOW, AK_GROUPS, AK_EMAIL, AK_PHONE, AK_OWNER,
	AK_STANDING, AK_BREAK_GLASS, AK_DESCRIPTION, AK_ROOT, AK_COUNT,
};
enum {
	PK_ID, PK_KIND, PK_TO, PK_METHODS, PK_VIA, PK_DEVICE_CHECK,
	PK_MONITORED, PK_LIFETIME, PK_APPROVAL, PK_APPROVALS, PK_ALERT,
	PK_DESCRIPTION, PK_CREATED, PK_LAST_ROTATED, PK_LAST_USED,
	PK_NEVER_USED, PK_COUNT,
};

ag_code ag_estate_new(const struct ag_policy *policy, struct ag_estate **out)
{
	struct ag_estate *e = calloc(1, sizeof(*e));
	*out = NULL;
	if (!e)
		return AG_ERR_NOMEM;
	e->policy = policy;
	ag_strmap_init(&e->account_ids);
	ag_strmap_init(&e->path_ids);
	ag_strmap_init(&e->group_ids);
	for (int k = 0; k < AG_KIND_COUNT; k++)
		e->synth[k] = AG_NONE;
	e->now = (int64_t)time(NULL);
	*out = e;
	return AG_OK;
}

static void ref_free(struct ag_ref *r)
{
	if (r) {
		free(r->name);
		free(r);
	}
}

static void path_release(struct ag_path *p)
{
	free(p->id);
	free(p->description);
	free(p->methods);
	for (size_t k = 0; p->to && k < p->n_to; k++)
		free(p->to[k].name);
	free(p->to);
	for (size_t k = 0; p->via_refs && k < p->n_via; k++)
		free(p->via_refs[k].name);
	free(p->via_refs);
	free(p->via);
	memset(p, 0, sizeof(*p));
}

void ag_estate_free(struct ag_estate *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n_files; i++)
		free(e->files[i]);
	free(e->files);
	for (size_t i = 0; i < e->n_accounts; i++) {
		struct ag_account *a = &e->accounts[i];
		free(a->id);
		ref_free(a->email_ref);
		ref_free(a->phone_ref);
		free(a->groups);
		free(a->owner);
	}
	free(e->accounts);
	for (size_t i = 0; i < e->n_paths; i++)
		path_release(&e->paths[i]);
	free(e->paths);
	for (size_t i = 0; i < e->n_groups; i++)
		free(e->groups[i]);
	free(e->groups);
	ag_strmap_release(&e->account_ids);
	ag_strmap_release(&e->path_ids);
	ag_strmap_release(&e->group_ids);
	free(e->member_off);
	free(e->members);
	free(e->edge_path);
	free(e->edge_acct);
	free(e->path_off);
	free(e->in_off);
	free(e->in_edges);
	free(e);
}

void ag_estate_set_now(struct ag_estate *e, int64_t now)
{
	e->now = now;
}

size_t ag_estate_n_accounts(const struct ag_estate *e)
{
	return e->n_accounts;
}

size_t ag_estate_n_paths(const struct ag_estate *e)
{
	return e->n_paths;
}

uint32_t ag_estate_find_account(const struct ag_estate *e, const char *id)
{
	uint32_t v;
	if (ag_strmap_get(&e->account_ids, id, &v))
		return v;
	return AG_NONE;
}

const char *ag_estate_file(const struct ag_estate *e, uint32_t file)
{
	if (file < e->n_files)
		return e->files[file];
	return "(estate)";
}

static ag_code file_index(struct ag_estate *e, const char *name,
			  uint32_t *out)
{
	if (!name)
		name = "(estate)";
	if (e->n_files && !strcmp(e->files[e->n_files - 1], name)) {
		*out = (uint32_t)(e->n_files - 1);
		return AG_OK;
	}
	if (AG_GROW(e->files, e->files_alloc, e->n_files + 1))
		return AG_ERR_NOMEM;
	if (!(e->files[e->n_files] = ag_strdup(name)))
		return AG_ERR_NOMEM;
	*out = (uint32_t)e->n_files++;
	return AG_OK;
}

static ag_code group_index(struct ag_estate *e, const char *name,
			   uint32_t *out)
{
	uint32_t v;
	bool found;
	if (ag_strmap_get(&e->group_ids, name, &v)) {
		*out = v;
		return AG_OK;
	}
	if (e->n_groups >= AG_ESTATE_MAX_ITEMS)
		return AG_ERR_LIMIT;
	if (AG_GROW(e->groups, e->groups_alloc, e->n_groups + 1))
		return AG_ERR_NOMEM;
	char *copy = ag_strdup(name);
	if (!copy)
		return AG_ERR_NOMEM;
	if (ag_strmap_put(&e->group_ids, copy, (uint32_t)e->n_groups, NULL,
			  &found)) {
		free(copy);
		return AG_ERR_NOMEM;
	}
	e->groups[e->n_groups] = copy;
	*out = (uint32_t)e->n_groups++;
	return AG_OK;
}

static ag_code new_ref(const char *name, const char *file, unsigned line,
		       unsigned col, struct ag_ref **out)
{
	(void)file;
	struct ag_ref *r = calloc(1, sizeof(*r));
	if (!r || !(r->name = ag_strdup(name))) {
		free(r);
		return AG_ERR_NOMEM;
	}
	r->line = line;
	r->col = col;
	*out = r;
	return AG_OK;
}

static const char *spec_file(const char *f)
{
	return f ? f : "(estate)";
}

/* An id: 1 to 1024 bytes of valid UTF-8 without control characters. */
static bool good_id(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 1024 || !ag_utf8_valid(s, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* Creates an undescribed account (referenced, not described). */
static ag_code add_placeholder(struct ag_estate *e, const char *id,
			       enum ag_account_kind kind, uint32_t *out)
{
	bool found;
	if (e->n_accounts >= AG_ESTATE_MAX_ITEMS)
		return AG_ERR_LIMIT;
	if (AG_GROW(e->accounts, e->accounts_alloc, e->n_accounts + 1))
		return AG_ERR_NOMEM;
	struct ag_account *a = &e->accounts[e->n_accounts];
	memset(a, 0, sizeof(*a));
	if (!(a->id = ag_strdup(id)))
		return AG_ERR_NOMEM;
	a->kind = (uint8_t)kind;
	a->workflow = -1;
	a->email = a->phone = AG_NONE;
	a->file = AG_NONE;
	if (ag_strmap_put(&e->account_ids, a->id, (uint32_t)e->n_accounts, NULL,
			  &found)) {
		free(a->id);
		return AG_ERR_NOMEM;
	}
	*out = (uint32_t)e->n_accounts++;
	return AG_OK;
}

ag_code ag_estate_add_account(struct ag_estate *e,
			      const struct ag_account_spec *s,
			      struct ag_error *err)
{
	const char *file = spec_file(s->file);
	uint32_t fidx, existing;
	bool found;
	ag_code rc;

	if (e->resolved)
		return ag_err(err, AG_ERR_USAGE,
			      "the estate is already resolved");
	if (!s->id || !good_id(s->id))
		return ag_err_at(err, AG_ERR_INVALID, file, s->line, s->col,
				 "an account id must be 1 to 1024 printable "
				 "UTF-8 bytes");
	if ((unsigned)s->kind >= AG_KIND_COUNT)
		return ag_err_at(err, AG_ERR_INVALID, file, s->line, s->col,
				 "bad account kind");
	if (e->n_accounts >= AG_ESTATE_MAX_ITEMS)
		return ag_err_at(err, AG_ERR_LIMIT, file, s->line, s->col,
				 "too many accounts (at most %u)",
				 AG_ESTATE_MAX_ITEMS);
	if (ag_strmap_get(&e->account_ids, s->id, &existing)) {
		const struct ag_account *o = &e->accounts[existing];
		return ag_err_at(err, AG_ERR_INVALID, file, s->line, s->col,
				 "duplicate account id '%s' (first at %s:%u:%u)",
				 s->id, ag_estate_file(e, o->file), o->line,
				 o->col);
	}
	int32_t wf = -1;
	if (s->workflow) {
		long w = ag_policy_workflow(e->policy, s->workflow);
		if (w < 0) {
			struct ag_suggest sg;
			ag_suggest_init(&sg, s->workflow);
			for (size_t i = 0; i < e->policy->n_workflows; i++)
				ag_suggest_add(&sg,
					       e->policy->workflows[i].name);
			rc = ag_err_at(err, AG_ERR_INVALID, file, s->line,
				       s->col,
				       "unknown workflow '%s' for account '%s'",
				       s->workflow, s->id);
			ag_err_hint(err, ag_suggest_best(&sg));
			return rc;
		}
		wf = (int32_t)w;
	}
	if ((rc = file_index(e, s->file, &fidx)))
		goto nomem;
	if (AG_GROW(e->accounts, e->accounts_alloc, e->n_accounts + 1))
		goto nomem;
	struct ag_account *a = &e->accounts[e->n_accounts];
	memset(a, 0, sizeof(*a));
	a->kind = (uint8_t)s->kind;
	a->described = true;
	a->standing = s->standing;
	a->break_glass = s->break_glass;
	a->workflow = wf;
	a->email = a->phone = AG_NONE;
	a->file = fidx;
	a->line = s->line;
	a->col = s->col;
	if (!(a->id = ag_strdup(s->id)))
		goto nomem_account;
	if (s->owner && !(a->owner = ag_strdup(s->owner)))
		goto nomem_account;
	if (s->email &&
	    new_ref(s->email, file, s->email_pos.line ? s->email_pos.line : s->line,
		    s->email_pos.line ? s->email_pos.col : s->col, &a->email_ref))
		goto nomem_account;
	if (s->phone &&
	    new_ref(s->phone, file, s->phone_pos.line ? s->phone_pos.line : s->line,
		    s->phone_pos.line ? s->phone_pos.col : s->col, &a->phone_ref))
		goto nomem_account;
	if (s->n_groups) {
		if (s->n_groups > 10000) {
			rc = ag_err_at(err, AG_ERR_LIMIT, file, s->line, s->col,
				       "account '%s' is in too many groups "
				       "(at most 10000)",
				       s->id);
			goto fail_account;
		}
		a->groups = calloc(s->n_groups, sizeof(*a->groups));
		if (!a->groups)
			goto nomem_account;
		for (size_t i = 0; i < s->n_groups; i++) {
			if (!good_id(s->groups[i])) {
				rc = ag_err_at(err, AG_ERR_INVALID, file,
					       s->line, s->col,
					       "bad group name in account '%s'",
					       s->id);
				goto fail_account;
			}
			uint32_t g;
			if ((rc = group_index(e, s->groups[i], &g)))
				goto nomem_account;
			bool dup = false;
			for (uint32_t k = 0; k < a->n_groups; k++)
				dup = dup || a->groups[k] == g;
			if (!dup)
				a->groups[a->n_groups++] = g;
		}
	}
	if (ag_strmap_put(&e->account_ids, a->id, (uint32_t)e->n_accounts, NULL,
			  &found))
		goto nomem_account;
	e->n_accounts++;
	return AG_OK;

nomem_account:
	rc = ag_err(err, AG_ERR_NOMEM, "%s: out of memory", file);
fail_account:
	free(a->id);
	free(a->owner);
	ref_free(a->email_ref);
	ref_free(a->phone_ref);
	free(a->groups);
	memset(a, 0, sizeof(*a));
	return rc;
nomem:
	return ag_err(err, AG_ERR_NOMEM, "%s: out of memory", file);
}

static ag_code unknown_method(struct ag_estate *e, const char *file,
			      unsigned line, unsigned col, const char *name,
			      const char *path, struct ag_error *err)
{
	struct ag_suggest sg;
	ag_suggest_init(&sg, name);
	for (size_t k = 0; k < e->policy->catalogue.n; k++)
		ag_suggest_add(&sg, e->policy->catalogue.methods[k].name);
	ag_code rc = ag_err_at(err, AG_ERR_INVALID, file, line, col,
			       "unknown method '%s' in path '%s'", name, path);
	ag_err_hint(err, ag_suggest_best(&sg));
	return rc;
}


static ag_code copy_refs(const char *const *names, size_t n,
			 const struct ag_pos *pos, unsigned line, unsigned col,
			 struct ag_ref **out)
{
	*out = NULL;
	if (!n)
		return AG_OK;
	struct ag_ref *refs = calloc(n, sizeof(*refs));
	if (!refs)
		return AG_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		refs[i].line = pos && pos[i].line ? pos[i].line : line;
		refs[i].col = pos && pos[i].line ? pos[i].col : col;
		if (!(refs[i].name = ag_strdup(names[i]))) {
			for (size_t k = 0; k < i; k++)
				free(refs[k].name);
			free(refs);
			return AG_ERR_NOMEM;
		}
	}
	*out = refs;
	return AG_OK;
}

ag_code ag_estate_add_path(struct ag_estate *e, const struct ag_path_spec *s,
			   struct ag_error *err)
{
	const struct ag_catalogue *cat = &e->policy->catalogue;
	const char *file = spec_file(s->file);
	uint32_t fidx, existing;
	bool found;
	ag_code rc;
	struct ag_path p;

	if (e->resolved)
		return ag_err(err, AG_ERR_USAGE,
			      "the estate is already resolved");
	if (!s->id || !good_id(s->id))
		return ag_err_at(err, AG_ERR_INVALID, file, s->line, s->col,
				 "a path id must be 1 to 1024 printable UTF-8 "
				 "bytes");
	if ((unsigned)s->kind >= AG_PATH_KIND_COUNT)
		return ag_err_at(err, AG_ERR_INVALID, file, s->line, s->col,
				 "bad path kind");
	if (e->n_paths >= AG_ESTATE_MAX_ITEMS)
		return ag_err_at(err, AG_ERR_LIMIT, file, s->line, s->col,
				 "too many paths (at most %u)",
				 AG_ESTATE_MAX_ITEMS);
	if (ag_strmap_get(&e->path_ids, s->id, &existing)) {
		const struct ag_path *o = &e->paths[existing];
		return ag_err_at(err, AG_ERR_INVALID, file, s->line, s->col,
				 "duplicate path id '%s' (first at %s:%u:%u)",
				 s->id, ag_estate_file(e, o->file), o->line,
				 o->col);
	}
	if (s->n_to == 0)
		return ag_err_at(err, AG_ERR_INVALID, file, s->line, s->col,
				 "path '%s' reaches no account (to is empty)",
				 s->id);
	if (s->n_via > AG_MAX_DEPS - 2)
		return ag_err_at(err, AG_ERR_LIMIT, file, s->line, s->col,
				 "path '%s' has too many via accounts (at most "
				 "%d)",
				 s->id, AG_MAX_DEPS - 2);
	if (s->n_methods > 64)
		return ag_err_at(err, AG_ERR_LIMIT, file, s->line, s->col,
				 "path '%s' has too many methods (at most 64)",
				 s->id);
	for (size_t i = 0; i < s->n_to; i++)
		if (!good_id(s->to[i]))
			return ag_err_at(err, AG_ERR_INVALID, file, s->line,
					 s->col, "bad account in path '%s'",
					 s->id);
	for (size_t i = 0; i < s->n_via; i++)
		if (!good_id(s->via[i]))
			return ag_err_at(err, AG_ERR_INVALID, file, s->line,
					 s->col, "bad via account in path '%s'",
					 s->id);

	memset(&p, 0, sizeof(p));
	p.kind = (uint8_t)s->kind;
	p.device_check = s->device_check;
	p.monitored = s->monitored;
	p.approval = s->approval;
	p.approvals = s->approvals;
	p.alert = s->alert;
	p.lifetime = s->lifetime;
	p.created = s->created;
	p.last_rotated = s->last_rotated;
	p.last_used = s->last_used;
	p.line = s->line;
	p.col = s->col;
	if (s->n_methods &&
	    !(p.methods = calloc(s->n_methods, sizeof(*p.methods))))
		goto nomem;
	for (size_t i = 0; i < s->n_methods; i++) {
		int m = ag_catalogue_find(cat, s->methods[i]);
		if (m < 0) {
			rc = unknown_method(e, file, s->line, s->col,
					    s->methods[i], s->id, err);
			goto fail;
		}
		bool dup = false;
		for (uint32_t k = 0; k < p.n_methods; k++)
			dup = dup || p.methods[k] == (uint16_t)m;
		if (!dup)
			p.methods[p.n_methods++] = (uint16_t)m;
	}
	if (!(p.id = ag_strdup(s->id)))
		goto nomem;
	if (s->description && !(p.description = ag_strdup(s->description)))
		goto nomem;
	if (copy_refs(s->to, s->n_to, s->to_pos, s->line, s->col, &p.to))
		goto nomem;
	p.n_to = (uint32_t)s->n_to;
	if (copy_refs(s->via, s->n_via, s->via_pos, s->line, s->col,
		      &p.via_refs))
		goto nomem;
	p.n_via = (uint32_t)s->n_via;
	if ((rc = file_index(e, s->file, &fidx)))
		goto nomem;
	p.file = fidx;
	if (AG_GROW(e->paths, e->paths_alloc, e->n_paths + 1))
		goto nomem;
	e->paths[e->n_paths] = p;
	if (ag_strmap_put(&e->path_ids, e->paths[e->n_paths].id,
			  (uint32_t)e->n_paths, NULL, &found)) {
		memset(&e->paths[e->n_paths], 0, sizeof(p));
		goto nomem;
	}
	e->n_paths++;
	return AG_OK;
nomem:
	rc = ag_err(err, AG_ERR_NOMEM, "%s: out of memory", file);
fail:
	path_release(&p);
	return rc;
}

/* ---- the YAML estate file ---------------------------------------------- */

struct item_ctx {
	struct ag_yreader *r;
	const char **list;
	struct ag_pos *pos;
	size_t n, alloc, pos_alloc;
};

static ag_code collect(void *ctx, struct ag_yreader *r,
		       const struct ag_ynode *item)
{
	struct item_ctx *c = ctx;
	if (AG_GROW(c->list, c->alloc, c->n + 1) ||
	    AG_GROW(c->pos, c->pos_alloc, c->n + 1))
		return ag_err(r->err, AG_ERR_NOMEM, "%s: out of memory",
			      r->file);
	c->pos[c->n].line = item->line;
	c->pos[c->n].col = item->col;
	c->list[c->n++] = item->str;
	return AG_OK;
}

static ag_code kind_of(struct ag_yreader *r, const struct ag_ynode *n,
		       const char *const *names, size_t count, const char *what,
		       unsigned *out)
{
	const char *s;
	ag_code rc = ag_ynode_string(r, n, what, &s);
	if (rc)
		return rc;
	for (size_t i = 0; i < count; i++) {
		if (!strcmp(s, names[i])) {
			*out = (unsigned)i;
			return AG_OK;
		}
	}
	struct ag_suggest sg;
	ag_suggest_init(&sg, s);
	for (size_t i = 0; i < count; i++)
		ag_suggest_add(&sg, names[i]);
	rc = ag_ynode_err(r, n, AG_ERR_INVALID, "unknown %s '%s'", what, s);
	ag_err_hint(r->err, ag_suggest_best(&sg));
	return rc;
}

static ag_code require(struct ag_yreader *r, const struct ag_ynode *map,
		       const struct ag_ynode *val, const char *key,
		       const char *what, const struct ag_ynode **out)
{
	if (!(*out = val))
		return ag_ynode_err(r, map, AG_ERR_INVALID, "%s needs '%s'",
				    what, key);
	return AG_OK;
}

static ag_code account_item(struct ag_estate *e, struct ag_yreader *r,
			    const struct ag_ynode *n)
{
	static const char *const kinds[AG_KIND_COUNT] = {
		"human", "service", "mailbox", "phone", "device", "external",
	};
	struct ag_account_spec s;
	struct item_ctx groups = {0};
	const struct ag_ynode *v;
	unsigned kind = 0;
	ag_code rc;

	memset(&s, 0, sizeof(s));
	const struct ag_ynode *f[AK_COUNT + 1];
	if ((rc = ag_ynode_expect_map(r, n, "an account")) ||
	    (rc = ag_ynode_fields(r, n, "an account", account_keys, f)))
		return rc;
	if ((rc = require(r, n, f[AK_ID], "id", "an account", &v)) ||
	    (rc = ag_ynode_string(r, v, "id", &s.id)))
		return rc;
	if ((rc = require(r, n, f[AK_KIND], "kind", "an account", &v)) ||
	    (rc = kind_of(r, v, kinds, AG_KIND_COUNT, "account kind", &kind)))
		return rc;
	s.kind = (enum ag_account_kind)kind;
	s.file = r->file;
	s.line = n->line;
	s.col = n->col;
	if ((v = f[AK_WORKFLOW])) {
		if ((rc = ag_ynode_string(r, v, "workflow", &s.workflow)))
			return rc;
		/* Report an unknown workflow at the value itself. */
		if (ag_policy_workflow(e->policy, s.workflow) < 0) {
			struct ag_suggest sg;
			ag_suggest_init(&sg, s.workflow);
			for (size_t i = 0; i < e->policy->n_workflows; i++)
				ag_suggest_add(&sg,
					       e->policy->workflows[i].name);
			rc = ag_ynode_err(r, v, AG_ERR_INVALID,
					  "unknown workflow '%s'", s.workflow);
			ag_err_hint(r->err, ag_suggest_best(&sg));
			return rc;
		}
	}
	if ((v = f[AK_EMAIL])) {
		if ((rc = ag_ynode_string(r, v, "email", &s.email)))
			return rc;
		s.email_pos.line = v->line;
		s.email_pos.col = v->col;
	}
	if ((v = f[AK_PHONE])) {
		if ((rc = ag_ynode_string(r, v, "phone", &s.phone)))
			return rc;
		s.phone_pos.line = v->line;
		s.phone_pos.col = v->col;
	}
	if ((v = f[AK_OWNER]) &&
	    (rc = ag_ynode_string(r, v, "owner", &s.owner)))
		return rc;
	if ((v = f[AK_DESCRIPTION])) {
		const char *d;
		if ((rc = ag_ynode_string(r, v, "description", &d)))
			return rc;
	}
	if ((v = f[AK_STANDING]) &&
	    (rc = ag_ynode_bool(r, v, "standing", &s.standing)))
		return rc;
	if ((v = f[AK_BREAK_GLASS]) &&
	    (rc = ag_ynode_bool(r, v, "break_glass", &s.break_glass)))
		return rc;
	bool root = false;
	if ((v = f[AK_ROOT]) && (rc = ag_ynode_bool(r, v, "root", &root)))
		return rc;
	if ((v = f[AK_GROUPS])) {
		groups.r = r;
		if ((rc = ag_ynode_strlist(r, v, "groups", collect, &groups)))
			goto out;
		s.groups = groups.list;
		s.n_groups = groups.n;
	}
	rc = ag_estate_add_account(e, &s, r->err);
	if (rc == AG_OK)
		e->accounts[e->n_accounts - 1].root = root;
out:
	free(groups.list);
	free(groups.pos);
	return rc;
}

static ag_code path_item(struct ag_estate *e, struct ag_yreader *r,
			 const struct ag_ynode *n)
{
	struct ag_path_spec s;
	struct item_ctx to = {0}, methods = {0}, via = {0};
	const struct ag_ynode *v;
	unsigned kind = 0;
	long num;
	ag_code rc;

	memset(&s, 0, sizeof(s));
	s.lifetime = -1;
	s.approvals = -1;
	const struct ag_ynode *f[PK_COUNT + 1];
	if ((rc = ag_ynode_expect_map(r, n, "a path")) ||
	    (rc = ag_ynode_fields(r, n, "a path", path_keys, f)))
		return rc;
	if ((rc = require(r, n, f[PK_ID], "id", "a path", &v)) ||
	    (rc = ag_ynode_string(r, v, "id", &s.id)))
		return rc;
	if ((rc = require(r, n, f[PK_KIND], "kind", "a path", &v)) ||
	    (rc = kind_of(r, v, path_kind_names, AG_PATH_KIND_COUNT,
			  "path kind", &kind)))
		return rc;
	s.kind = (enum ag_path_kind)kind;
	s.file = r->file;
	s.line = n->line;
	s.col = n->col;

	if ((rc = require(r, n, f[PK_TO], "to", "a path", &v)))
		return rc;
	to.r = r;
	if ((rc = ag_ynode_strlist(r, v, "to", collect, &to)))
		goto out;
	if (!to.n) {
		rc = ag_ynode_err(r, v, AG_ERR_INVALID,
				  "path '%s' reaches no account (to is empty)",
				  s.id);
		goto out;
	}
	s.to = to.list;
	s.to_pos = to.pos;
	s.n_to = to.n;

	if ((rc = require(r, n, f[PK_METHODS], "methods", "a path", &v)))
		goto out;
	methods.r = r;
	if (!(v->type == AG_Y_SEQ && v->n == 0) &&
	    (rc = ag_ynode_strlist(r, v, "methods", collect, &methods)))
		goto out;
	/* Name an unknown method at its own position. */
	if (v->type == AG_Y_SEQ) {
		for (size_t i = 0; i < v->n; i++) {
			if (ag_catalogue_find(&e->policy->catalogue,
					      v->items[i]->str) < 0) {
				rc = unknown_method(e, r->file,
						    v->items[i]->line,
						    v->items[i]->col,
						    v->items[i]->str, s.id,
						    r->err);
				goto out;
			}
		}
	}
	s.methods = methods.list;
	s.n_methods = methods.n;

	if ((v = f[PK_VIA])) {
		via.r = r;
		if ((rc = ag_ynode_strlist(r, v, "via", collect, &via)))
			goto out;
		s.via = via.list;
		s.via_pos = via.pos;
		s.n_via = via.n;
	}
	if ((v = f[PK_DEVICE_CHECK]) &&
	    (rc = ag_ynode_bool(r, v, "device_check", &s.device_check)))
		goto out;
	if ((v = f[PK_MONITORED]) &&
	    (rc = ag_ynode_bool(r, v, "monitored", &s.monitored)))
		goto out;
	if ((v = f[PK_ALERT]) &&
	    (rc = ag_ynode_bool(r, v, "alert", &s.alert)))
		goto out;
	if ((v = f[PK_APPROVAL]) &&
	    (rc = ag_ynode_bool(r, v, "approval", &s.approval)))
		goto out;
	if ((v = f[PK_APPROVALS])) {
		if ((rc = ag_ynode_int(r, v, "approvals", 0, 100, &num)))
			goto out;
		s.approvals = (int)num;
	}
	if ((v = f[PK_LIFETIME]) &&
	    (rc = ag_ynode_duration(r, v, "lifetime", &s.lifetime)))
		goto out;
	if ((v = f[PK_DESCRIPTION]) &&
	    (rc = ag_ynode_string(r, v, "description", &s.description)))
		goto out;
	if ((v = f[PK_CREATED]) &&
	    (rc = ag_ynode_time(r, v, "created", &s.created)))
		goto out;
	if ((v = f[PK_LAST_ROTATED]) &&
	    (rc = ag_ynode_time(r, v, "last_rotated", &s.last_rotated)))
		goto out;
	if ((v = f[PK_LAST_USED]) &&
	    (rc = ag_ynode_time(r, v, "last_used", &s.last_used)))
		goto out;
	bool never = false;
	if ((v = f[PK_NEVER_USED]) &&
	    (rc = ag_ynode_bool(r, v, "never_used", &never)))
		goto out;
	if (never && s.last_used) {
		rc = ag_ynode_err(r, v, AG_ERR_INVALID,
				  "path '%s' is never_used and has a "
				  "last_used",
				  s.id);
		goto out;
	}
	rc = ag_estate_add_path(e, &s, r->err);
	if (rc == AG_OK)
		e->paths[e->n_paths - 1].never_used = never;
out:
	free(to.list);
	free(to.pos);
	free(methods.list);
	free(methods.pos);
	free(via.list);
	free(via.pos);
	return rc;
}

/*
 * Large estates are read by two threads: a reader turns libyaml's events
 * into one small node tree per item, and the caller's thread converts the
 * items, in order, into accounts and paths.  The queue between them is
 * bounded, so memory does not grow with the file.  The first error in
 * file order wins: the converter stops the reader at its first error, and
 * a reader error is reported only after every item before it converted.
 */
#ifndef PIPE_MIN_BYTES
#define PIPE_MIN_BYTES (1024u * 1024u)
#endif
#define PIPE_CAP 4096
#define PIPE_BATCH 256

struct item_pipe {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct ag_ynode *q[PIPE_CAP];
	size_t head, count;
	/* Converted items go back to the reader to be freed: memory is
	 * freed by the thread that allocated it, which keeps malloc's
	 * per-thread arenas uncontended. */
	struct ag_ynode *back[PIPE_CAP];
	size_t n_back;
	bool done; /* the reader has finished */
	bool stop; /* the converter failed: the reader should stop */
	ag_code rc; /* the reader's result */
	struct ag_yreader *r;
};

/* Reads the next list item; *item is NULL at the end of the list. */
static ag_code next_item(struct ag_yreader *r, struct ag_ynode **item)
{
	yaml_event_t ev;
	ag_code rc;

	*item = NULL;
	if ((rc = ag_yreader_event(r, &ev)))
		return rc;
	if (ev.type == YAML_SEQUENCE_END_EVENT) {
		yaml_event_delete(&ev);
		return AG_OK;
	}
	return ag_yreader_node_arena(r, &ev, item);
}

static void *pipe_reader(void *arg)
{
	struct item_pipe *p = arg;
	struct ag_ynode *batch[PIPE_BATCH];
	struct ag_ynode **spent = malloc(PIPE_CAP * sizeof(*spent));
	size_t n = 0, n_spent = 0;
	ag_code rc = AG_OK;
	bool end = false;

	while (!end) {
		struct ag_ynode *item = NULL;
		if ((rc = next_item(p->r, &item)) || !item)
			end = true;
		else
			batch[n++] = item;
		if (n < PIPE_BATCH && !end)
			continue;
		pthread_mutex_lock(&p->mu);
		for (size_t i = 0; i < n; i++) {
			while (p->count == PIPE_CAP && !p->stop)
				pthread_cond_wait(&p->cv, &p->mu);
			if (p->stop) {
				ag_ynode_free(batch[i]);
				continue;
			}
			p->q[(p->head + p->count) % PIPE_CAP] = batch[i];
			p->count++;
		}
		n = 0;
		if (p->stop)
			end = true;
		if (end) {
			p->done = true;
			p->rc = rc;
		}
		if (spent) {
			memcpy(spent, p->back, p->n_back * sizeof(*spent));
			n_spent = p->n_back;
			p->n_back = 0;
		}
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		for (size_t i = 0; i < n_spent; i++)
			ag_ynode_free(spent[i]);
		n_spent = 0;
	}
	free(spent);
	return NULL;
}

static ag_code convert_item(struct ag_estate *e, struct ag_yreader *r,
			    bool accounts, const struct ag_ynode *item)
{
	return accounts ? account_item(e, r, item) : path_item(e, r, item);
}

static ag_code read_items_threaded(struct ag_estate *e, struct ag_yreader *r,
				   bool accounts)
{
	struct item_pipe *p = calloc(1, sizeof(*p));
	struct ag_error reader_err;
	struct ag_yreader view;
	struct ag_error *caller_err = r->err;
	pthread_t tid;
	ag_code rc = AG_OK;

	if (!p)
		return ag_err(caller_err, AG_ERR_NOMEM, "out of memory");
	/* The reader reports into its own error; the converter into the
	 * caller's, through a view of the reader that has no parser. */
	ag_error_init(&reader_err);
	memset(&view, 0, sizeof(view));
	view.file = r->file;
	view.err = caller_err;
	r->err = &reader_err;
	p->r = r;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (pthread_create(&tid, NULL, pipe_reader, p) != 0) {
		r->err = caller_err;
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
		free(p);
		return ag_err(caller_err, AG_ERR_INTERNAL,
			      "cannot start a reader thread");
	}

	struct ag_ynode *batch[PIPE_BATCH];
	size_t n = 0;
	for (;;) {
		pthread_mutex_lock(&p->mu);
		/* Hand back what was converted, if the reader has room. */
		if (n && p->n_back + n <= PIPE_CAP) {
			memcpy(p->back + p->n_back, batch, n * sizeof(*batch));
			p->n_back += n;
		} else {
			for (size_t i = 0; i < n; i++)
				ag_ynode_free(batch[i]);
		}
		n = 0;
		while (p->count == 0 && !p->done)
			pthread_cond_wait(&p->cv, &p->mu);
		while (p->count && n < PIPE_BATCH) {
			batch[n++] = p->q[p->head];
			p->head = (p->head + 1) % PIPE_CAP;
			p->count--;
		}
		bool finished = p->done && p->count == 0 && n == 0;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		if (finished)
			break;
		for (size_t i = 0; i < n && !rc; i++)
			rc = convert_item(e, &view, accounts, batch[i]);
		if (rc) {
			for (size_t i = 0; i < n; i++)
				ag_ynode_free(batch[i]);
			pthread_mutex_lock(&p->mu);
			p->stop = true;
			pthread_cond_broadcast(&p->cv);
			pthread_mutex_unlock(&p->mu);
			break;
		}
	}
	pthread_join(tid, NULL);
	/* Items the reader queued after the converter stopped, and items
	 * handed back after the reader's last look. */
	for (size_t i = 0; i < p->n_back; i++)
		ag_ynode_free(p->back[i]);
	while (p->count) {
		ag_ynode_free(p->q[p->head]);
		p->head = (p->head + 1) % PIPE_CAP;
		p->count--;
	}
	r->err = caller_err;
	if (!rc && p->rc) {
		rc = p->rc;
		*caller_err = reader_err;
	}
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
	return rc;
}

/* Reads a list of items under a top-level key, one item at a time. */
static ag_code read_list(struct ag_estate *e, struct ag_yreader *r,
			 const char *key, bool accounts)
{
	yaml_event_t ev;
	ag_code rc;

	if ((rc = ag_yreader_event(r, &ev)))
		return rc;
	if (ev.type == YAML_SCALAR_EVENT && ev.data.scalar.length == 0 &&
	    ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		yaml_event_delete(&ev); /* "accounts:" with nothing: empty */
		return AG_OK;
	}
	if (ev.type != YAML_SEQUENCE_START_EVENT) {
		unsigned line = (unsigned)ev.start_mark.line + 1;
		unsigned col = (unsigned)ev.start_mark.column + 1;
		yaml_event_delete(&ev);
		return ag_err_at(r->err, AG_ERR_INVALID, r->file, line, col,
				 "%s must be a list", key);
	}
	yaml_event_delete(&ev);
	r->depth++;
	if (r->len >= PIPE_MIN_BYTES) {
		rc = read_items_threaded(e, r, accounts);
	} else {
		for (;;) {
			struct ag_ynode *item;
			if ((rc = next_item(r, &item)) || !item)
				break;
			rc = convert_item(e, r, accounts, item);
			ag_ynode_free(item);
			if (rc)
				break;
		}
	}
	r->depth--;
	return rc;
}

ag_code ag_estate_load_buffer(struct ag_estate *e, const char *name,
			      const char *buf, size_t len, struct ag_error *err)
{
	struct ag_yreader r;
	yaml_event_t ev;
	ag_code rc;
	bool seen[2] = {false, false};
	unsigned seen_line[2] = {0, 0};

	if (e->resolved)
		return ag_err(err, AG_ERR_USAGE,
			      "the estate is already resolved");
	if (len > AG_ESTATE_MAX_BYTES)
		return ag_err(err, AG_ERR_LIMIT,
			      "%s: estate too large (at most %u bytes)", name,
			      AG_ESTATE_MAX_BYTES);
	if ((rc = ag_yreader_init(&r, name, buf, len, err)))
		return rc;
	if ((rc = ag_yreader_begin(&r, &ev)))
		goto out;
	if (ev.type != YAML_MAPPING_START_EVENT) {
		unsigned line = (unsigned)ev.start_mark.line + 1;
		unsigned col = (unsigned)ev.start_mark.column + 1;
		bool empty = ev.type == YAML_SCALAR_EVENT &&
			     ev.data.scalar.length == 0;
		yaml_event_delete(&ev);
		rc = ag_err_at(err, AG_ERR_INVALID, name, line, col,
			       empty ? "empty estate; expected 'accounts:' "
				       "and 'paths:'"
				     : "an estate must be a mapping with "
				       "'accounts:' and 'paths:'");
		goto out;
	}
	yaml_event_delete(&ev);
	r.depth = 1;
	for (;;) {
		if ((rc = ag_yreader_event(&r, &ev)))
			goto out;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		unsigned line = (unsigned)ev.start_mark.line + 1;
		unsigned col = (unsigned)ev.start_mark.column + 1;
		if (ev.type != YAML_SCALAR_EVENT) {
			yaml_event_delete(&ev);
			rc = ag_err_at(err, AG_ERR_INVALID, name, line, col,
				       "mapping keys must be plain names");
			goto out;
		}
		char key[64];
		size_t klen = ev.data.scalar.length;
		if (klen >= sizeof(key))
			klen = sizeof(key) - 1;
		memcpy(key, ev.data.scalar.value, klen);
		key[klen] = '\0';
		yaml_event_delete(&ev);
		int which = !strcmp(key, "accounts") ? 0
			    : !strcmp(key, "paths")  ? 1
						     : -1;
		if (which < 0) {
			struct ag_suggest sg;
			ag_suggest_init(&sg, key);
			for (size_t i = 0; estate_keys[i]; i++)
				ag_suggest_add(&sg, estate_keys[i]);
			rc = ag_err_at(err, AG_ERR_INVALID, name, line, col,
				       "unknown key '%s' in the estate", key);
			ag_err_hint(err, ag_suggest_best(&sg));
			goto out;
		}
		if (seen[which]) {
			rc = ag_err_at(err, AG_ERR_INVALID, name, line, col,
				       "duplicate key '%s' (first at line %u)",
				       key, seen_line[which]);
			goto out;
		}
		seen[which] = true;
		seen_line[which] = line;
		if ((rc = read_list(e, &r, key, which == 0)))
			goto out;
	}
	rc = ag_yreader_end(&r);
out:
	ag_yreader_release(&r);
	return rc;
}

ag_code ag_estate_load(struct ag_estate *e, const char *path,
		       struct ag_error *err)
{
	char *buf;
	size_t len;
	ag_code rc = ag_read_file(path, AG_ESTATE_MAX_BYTES, &buf, &len, err);
	if (rc)
		return rc;
	rc = ag_estate_load_buffer(e, path, buf, len, err);
	free(buf);
	return rc;
}

/* ---- resolution and the graph ------------------------------------------ */

static enum ag_account_kind kind_by_prefix(const char *id)
{
	if (!strncmp(id, "mail:", 5) || !strncmp(id, "mailto:", 7))
		return AG_KIND_MAILBOX;
	if (!strncmp(id, "phone:", 6) || !strncmp(id, "tel:", 4))
		return AG_KIND_PHONE;
	return AG_KIND_EXTERNAL;
}

static ag_code resolve_attr(struct ag_estate *e, uint32_t ai,
			    struct ag_ref *ref, enum ag_account_kind kind,
			    const char *attr, uint32_t *out,
			    struct ag_error *err)
{
	uint32_t idx;
	ag_code rc;

	if (!ag_strmap_get(&e->account_ids, ref->name, &idx)) {
		if ((rc = add_placeholder(e, ref->name, kind, &idx)))
			return ag_err(err, rc, "out of memory");
	}
	const struct ag_account *t = &e->accounts[idx];
	if (t->kind != kind) {
		const struct ag_account *a = &e->accounts[ai];
		return ag_err_at(err, AG_ERR_INVALID,
				 ag_estate_file(e, a->file), ref->line, ref->col,
				 "the %s of account '%s' is '%s', a %s "
				 "account, not a %s",
				 attr, a->id, ref->name,
				 ag_account_kind_name(
					 (enum ag_account_kind)t->kind),
				 ag_account_kind_name(kind));
	}
	*out = idx;
	return AG_OK;
}

static ag_code unknown_target(struct ag_estate *e, const struct ag_path *p,
			      const struct ag_ref *ref, struct ag_error *err)
{
	struct ag_suggest sg;
	ag_code rc;
	const char *file = ag_estate_file(e, p->file);

	if (!strncmp(ref->name, "group:", 6)) {
		const char *g = ref->name + 6;
		ag_suggest_init(&sg, g);
		for (size_t i = 0; i < e->n_groups; i++)
			ag_suggest_add(&sg, e->groups[i]);
		rc = ag_err_at(err, AG_ERR_INVALID, file, ref->line, ref->col,
			       "unknown group '%s' in path '%s' (no account is "
			       "in it)",
			       g, p->id);
		if (ag_suggest_best(&sg)) {
			char hint[1100];
			snprintf(hint, sizeof(hint), "group:%s",
				 ag_suggest_best(&sg));
			ag_err_hint(err, hint);
		}
		return rc;
	}
	ag_suggest_init(&sg, ref->name);
	for (size_t i = 0; i < e->n_accounts; i++)
		if (e->accounts[i].described)
			ag_suggest_add(&sg, e->accounts[i].id);
	rc = ag_err_at(err, AG_ERR_INVALID, file, ref->line, ref->col,
		       "unknown account '%s' in path '%s'", ref->name, p->id);
	ag_err_hint(err, ag_suggest_best(&sg));
	return rc;
}

/* Does "*" reach account a?  Every described person and service. */
static bool star_reaches(const struct ag_account *a)
{
	return a->described && !a->synthetic &&
	       (a->kind == AG_KIND_HUMAN || a->kind == AG_KIND_SERVICE);
}

ag_code ag_estate_resolve(struct ag_estate *e, struct ag_error *err)
{
	const struct ag_catalogue *cat = &e->policy->catalogue;
	ag_code rc;
	size_t n_described;

	if (e->resolved)
		return ag_err(err, AG_ERR_USAGE,
			      "the estate is already resolved");
	n_described = e->n_accounts;

	/* email and phone attributes, creating undescribed accounts. */
	for (size_t i = 0; i < n_described; i++) {
		struct ag_account *a = &e->accounts[i];
		if (a->email_ref) {
			uint32_t t;
			struct ag_ref *ref = a->email_ref;
			if ((rc = resolve_attr(e, (uint32_t)i, ref,
					       AG_KIND_MAILBOX, "email", &t,
					       err)))
				return rc;
			a = &e->accounts[i]; /* the array may have moved */
			a->email = t;
			ref_free(a->email_ref);
			a->email_ref = NULL;
		}
		if (a->phone_ref) {
			uint32_t t;
			struct ag_ref *ref = a->phone_ref;
			if ((rc = resolve_attr(e, (uint32_t)i, ref,
					       AG_KIND_PHONE, "phone", &t,
					       err)))
				return rc;
			a = &e->accounts[i];
			a->phone = t;
			ref_free(a->phone_ref);
			a->phone_ref = NULL;
		}
	}

	/* Method properties of each path, and its via accounts. */
	for (size_t i = 0; i < e->n_paths; i++) {
		struct ag_path *p = &e->paths[i];
		uint16_t own[64];
		size_t n_own = 0;
		enum ag_use use = (p->kind == AG_PATH_RECOVERY ||
				   p->kind == AG_PATH_HELPDESK)
					  ? AG_USE_RECOVERY
					  : AG_USE_SIGNIN;
		for (uint32_t k = 0; k < p->n_methods; k++) {
			const struct ag_method *m = &cat->methods[p->methods[k]];
			if (m->delegated == AG_DELEG_EMAIL)
				p->uses_email = true;
			else if (m->delegated == AG_DELEG_PHONE)
				p->uses_phone = true;
			else
				own[n_own++] = p->methods[k];
			p->restricted = p->restricted || m->restricted;
			p->prohibited = p->prohibited || m->prohibited;
		}
		/* An issued e-mail code is acceptable for recovery only while
		 * it lives at most 24 h (SP 800-63B-4 §4.2.1). */
		if (use == AG_USE_RECOVERY && p->uses_email && p->lifetime > 0 &&
		    p->lifetime > 86400)
			use = AG_USE_SIGNIN;
		ag_combine(cat, p->methods, p->n_methods, use, &p->all);
		ag_combine(cat, own, n_own, use, &p->own);
		if (p->n_via) {
			p->via = calloc(p->n_via, sizeof(*p->via));
			if (!p->via)
				return ag_err(err, AG_ERR_NOMEM,
					      "out of memory");
		}
		for (uint32_t k = 0; k < p->n_via; k++) {
			uint32_t idx;
			const char *id = p->via_refs[k].name;
			if (!ag_strmap_get(&e->account_ids, id, &idx)) {
				if ((rc = add_placeholder(e, id,
							  kind_by_prefix(id),
							  &idx)))
					return ag_err(err, rc,
						      "out of memory");
				p = &e->paths[i];
			}
			p->via[k] = idx;
		}
	}

	/* Anonymous accounts for missing email/phone attributes. */
	for (size_t i = 0; i < e->n_paths; i++) {
		const struct ag_path *p = &e->paths[i];
		if (!p->uses_email && !p->uses_phone)
			continue;
		enum ag_account_kind kinds[2] = {AG_KIND_MAILBOX, AG_KIND_PHONE};
		bool uses[2] = {p->uses_email, p->uses_phone};
		for (int k = 0; k < 2; k++) {
			if (!uses[k] || e->synth[kinds[k]] != AG_NONE)
				continue;
			uint32_t idx;
			const char *name = k ? "(undescribed phone)"
					     : "(undescribed mailbox)";
			if (ag_strmap_get(&e->account_ids, name, &idx)) {
				e->synth[kinds[k]] = idx;
				continue;
			}
			if ((rc = add_placeholder(e, name, kinds[k], &idx)))
				return ag_err(err, rc, "out of memory");
			e->accounts[idx].synthetic = true;
			e->synth[kinds[k]] = idx;
		}
	}

	/* Group membership, as CSR. */
	size_t ng = e->n_groups;
	e->member_off = calloc(ng + 1, sizeof(uint32_t));
	if (!e->member_off)
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	size_t total = 0;
	for (size_t i = 0; i < e->n_accounts; i++) {
		for (uint32_t k = 0; k < e->accounts[i].n_groups; k++)
			e->member_off[e->accounts[i].groups[k] + 1]++;
		total += e->accounts[i].n_groups;
	}
	if (total > UINT32_MAX - 1)
		return ag_err(err, AG_ERR_LIMIT, "too many group memberships");
	for (size_t g = 0; g < ng; g++)
		e->member_off[g + 1] += e->member_off[g];
	e->members = calloc(total + 1, sizeof(uint32_t));
	uint32_t *fill = calloc(ng + 1, sizeof(uint32_t));
	if (!e->members || !fill) {
		free(fill);
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < e->n_accounts; i++)
		for (uint32_t k = 0; k < e->accounts[i].n_groups; k++) {
			uint32_t g = e->accounts[i].groups[k];
			e->members[e->member_off[g] + fill[g]++] = (uint32_t)i;
		}
	free(fill);

	/* Edges: one per (path, account it reaches), deduplicated per path.
	 * Two passes: count, then fill. */
	uint8_t *mark = calloc(e->n_accounts + 1, 1);
	if (!mark)
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	size_t n_edges = 0;
	for (int pass = 0; pass < 2; pass++) {
		size_t pos = 0;
		for (size_t i = 0; i < e->n_paths; i++) {
			const struct ag_path *p = &e->paths[i];
			bool star = false;
			/* Targets of this path, marked to drop duplicates. */
			for (uint32_t k = 0; k < p->n_to; k++) {
				const char *t = p->to[k].name;
				uint32_t idx;
				if (!strcmp(t, "*")) {
					star = true;
				} else if (!strncmp(t, "group:", 6)) {
					if (!ag_strmap_get(&e->group_ids, t + 6,
							   &idx)) {
						free(mark);
						return unknown_target(
							e, p, &p->to[k], err);
					}
				} else if (!ag_strmap_get(&e->account_ids, t,
							  &idx) ||
					   e->accounts[idx].synthetic) {
					free(mark);
					return unknown_target(e, p, &p->to[k],
							      err);
				}
			}
			/* Emit: star first (all), else groups and ids. */
#define EMIT(acct)                                                     \
	do {                                                           \
		uint32_t a_ = (acct);                                  \
		if (!mark[a_]) {                                       \
			mark[a_] = 1;                                  \
			if (pass) {                                    \
				e->edge_path[pos] = (uint32_t)i;       \
				e->edge_acct[pos] = a_;                \
			}                                              \
			pos++;                                         \
		}                                                      \
	} while (0)
			size_t start = pos;
			if (star)
				for (size_t a = 0; a < e->n_accounts; a++)
					if (star_reaches(&e->accounts[a]))
						EMIT((uint32_t)a);
			for (uint32_t k = 0; k < p->n_to; k++) {
				const char *t = p->to[k].name;
				uint32_t idx;
				if (!strcmp(t, "*"))
					continue;
				if (!strncmp(t, "group:", 6)) {
					ag_strmap_get(&e->group_ids, t + 6,
						      &idx);
					for (uint32_t m = e->member_off[idx];
					     m < e->member_off[idx + 1]; m++)
						EMIT(e->members[m]);
				} else {
					ag_strmap_get(&e->account_ids, t, &idx);
					EMIT(idx);
				}
			}
#undef EMIT
			/* Clear marks for the next path. */
			if (pass) {
				for (size_t q = start; q < pos; q++)
					mark[e->edge_acct[q]] = 0;
			} else {
				/* No edges stored yet: clear by replay. */
				if (star)
					for (size_t a = 0; a < e->n_accounts;
					     a++)
						mark[a] = 0;
				for (uint32_t k = 0; k < p->n_to; k++) {
					const char *t = p->to[k].name;
					uint32_t idx;
					if (!strcmp(t, "*"))
						continue;
					if (!strncmp(t, "group:", 6)) {
						ag_strmap_get(&e->group_ids,
							      t + 6, &idx);
						for (uint32_t m =
							     e->member_off[idx];
						     m < e->member_off[idx + 1];
						     m++)
							mark[e->members[m]] = 0;
					} else {
						ag_strmap_get(&e->account_ids,
							      t, &idx);
						mark[idx] = 0;
					}
				}
			}
			if (pos > UINT32_MAX - 1) {
				free(mark);
				return ag_err(err, AG_ERR_LIMIT,
					      "too many path-account pairs");
			}
		}
		if (!pass) {
			n_edges = pos;
			e->edge_path = calloc(n_edges + 1, sizeof(uint32_t));
			e->edge_acct = calloc(n_edges + 1, sizeof(uint32_t));
			if (!e->edge_path || !e->edge_acct) {
				free(mark);
				return ag_err(err, AG_ERR_NOMEM,
					      "out of memory");
			}
		}
	}
	free(mark);
	e->n_edges = n_edges;

	/* Edges were emitted path by path: each path's are contiguous. */
	e->path_off = calloc(e->n_paths + 1, sizeof(uint32_t));
	if (!e->path_off)
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	for (size_t k = 0; k < n_edges; k++)
		e->path_off[e->edge_path[k] + 1]++;
	for (size_t i = 0; i < e->n_paths; i++)
		e->path_off[i + 1] += e->path_off[i];

	/* Edges into each account, as CSR. */
	e->in_off = calloc(e->n_accounts + 1, sizeof(uint32_t));
	e->in_edges = calloc(n_edges + 1, sizeof(uint32_t));
	fill = calloc(e->n_accounts + 1, sizeof(uint32_t));
	if (!e->in_off || !e->in_edges || !fill) {
		free(fill);
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	}
	for (size_t k = 0; k < n_edges; k++)
		e->in_off[e->edge_acct[k] + 1]++;
	for (size_t a = 0; a < e->n_accounts; a++)
		e->in_off[a + 1] += e->in_off[a];
	for (size_t k = 0; k < n_edges; k++) {
		uint32_t a = e->edge_acct[k];
		e->in_edges[e->in_off[a] + fill[a]++] = (uint32_t)k;
	}
	free(fill);
	e->resolved = true;
	return AG_OK;
}

size_t ag_edge_deps(const struct ag_estate *e, size_t edge, uint32_t *deps,
		    size_t max)
{
	const struct ag_path *p = &e->paths[e->edge_path[edge]];
	const struct ag_account *a = &e->accounts[e->edge_acct[edge]];
	size_t n = 0;

	for (uint32_t k = 0; k < p->n_via && n < max; k++)
		deps[n++] = p->via[k];
	if (p->uses_email && n < max)
		deps[n++] = a->email != AG_NONE ? a->email
						: e->synth[AG_KIND_MAILBOX];
	if (p->uses_phone && n < max)
		deps[n++] = a->phone != AG_NONE ? a->phone
						: e->synth[AG_KIND_PHONE];
	return n;
}
