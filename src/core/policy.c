/*
 * The policy file (docs/policy.md, and the gate's keys in
 * docs/gate.md): loading, validation and profile defaults.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy-sinks.h"
#include "ynode.h"
#include "banned.h"

#define MAX_METHODS 1024 /* catalogue indexes are uint16_t */

struct loader {
	struct ag_yreader *r;
	struct ag_policy *p;
};

static const char *const top_keys[] = {
	"profile", "assume", "workflows", "break_glass", "acr", "methods",
	"issuers", "trusted_proxies", "device_header", "device_claim",
	"routes", "default_workflow", "nhi",
	/* -- policy keys: groups -- */
	"groups",
	/* -- policy keys: sinks -- */
	"sinks",
	"client_cert_header",
	"dpop_max_age",
	"watch",
	"recovery",
	NULL,
};

static const char *const workflow_keys[] = {
	"aal", "phishing_resistant", "hardware", "device", "max_age", "idle",
	"allow_weaker_than_profile", "jit", "machine", "max_token_lifetime",
	"credentials", "networks", "scopes", "description", NULL,
};

static const char *const jit_keys[] = {"max", "approvers", "approvals", NULL};
static const char *const bg_keys[] = {"approvals", "max", "alert", NULL};
static const char *const acr_keys[] = {"aal", "phishing_resistant",
				       "hardware", NULL};
static const char *const method_keys[] = {
	"factor", "alone", "phishing_resistant", "hardware", "delegated",
	"amr", "restricted", "prohibited", "needs_device", "device",
	"recovery_only", "recovery_code", "description", NULL,
};
static const char *const issuer_keys[] = {
	"iss", "audiences", "jwks_file", "jwks_uri", "clock_skew",
	"jwks_ca_file", "jwks_max_age", "jwks_min_refresh", NULL};
static const char *const route_keys[] = {"host", "path_prefix", "method",
					 "workflow", NULL};
static const char *const nhi_keys[] = {"stale", "rotate", "max_lifetime",
				       "production", NULL};
static const char *const watch_keys[] = {
	"recovery_window", "takeover_window", "dormant", "state_ttl",
	"max_subjects", "legacy_protocols", NULL};
static const char *const recovery_keys[] = {"require_sent_to", NULL};
static const char *const assume_keys[] = {"mailbox", "phone", "external",
					  "device", NULL};

static ag_code nomem(struct loader *l)
{
	return ag_err(l->r->err, AG_ERR_NOMEM, "%s: out of memory", l->r->file);
}

static ag_code dup_str(struct loader *l, const struct ag_ynode *n,
		       const char *what, char **out)
{
	const char *s;
	ag_code rc = ag_ynode_string(l->r, n, what, &s);
	if (rc)
		return rc;
	free(*out);
	if (!(*out = ag_strdup(s)))
		return nomem(l);
	return AG_OK;
}

ag_code ag_cidr_parse(const char *s, struct ag_cidr *out)
{
	char addr[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	long prefix = -1;

	memset(out, 0, sizeof(*out));
	if (alen == 0 || alen >= sizeof(addr))
		return AG_ERR_INVALID;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (slash) {
		const char *p = slash + 1;
		if (!*p || strlen(p) > 3)
			return AG_ERR_INVALID;
		prefix = 0;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return AG_ERR_INVALID;
			prefix = prefix * 10 + (*p - '0');
		}
	}
	if (inet_pton(AF_INET, addr, out->addr) == 1) {
		out->family = AF_INET;
		if (prefix < 0)
			prefix = 32;
		if (prefix > 32)
			return AG_ERR_INVALID;
	} else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
		out->family = AF_INET6;
		if (prefix < 0)
			prefix = 128;
		if (prefix > 128)
			return AG_ERR_INVALID;
	} else {
		return AG_ERR_INVALID;
	}
	out->prefix = (unsigned)prefix;
	/* Host bits must be zero: "10.0.0.1/8" is almost always a typo. */
	size_t bytes = out->family == AF_INET ? 4 : 16;
	for (size_t i = 0; i < bytes; i++) {
		unsigned first = (unsigned)i * 8;
		uint8_t mask;
		if (first + 8 <= out->prefix)
			mask = 0xFF;
		else if (first >= out->prefix)
			mask = 0;
		else
			mask = (uint8_t)(0xFF << (8 - (out->prefix - first)));
		if (out->addr[i] & (uint8_t)~mask)
			return AG_ERR_INVALID;
	}
	return AG_OK;
}

bool ag_cidr_contains(const struct ag_cidr *net, const struct ag_cidr *addr)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					   0xff, 0xff};
	const uint8_t *a = addr->addr;
	int family = addr->family;

	/* An IPv4 client seen on a dual-stack socket: ::ffff:a.b.c.d. */
	if (family == AF_INET6 && net->family == AF_INET &&
	    !memcmp(a, mapped, sizeof(mapped))) {
		a += 12;
		family = AF_INET;
	}
	if (family != net->family)
		return false;
	unsigned bits = net->prefix;
	size_t full = bits / 8;
	if (memcmp(a, net->addr, full) != 0)
		return false;
	if (bits % 8) {
		uint8_t mask = (uint8_t)(0xFF << (8 - bits % 8));
		if ((a[full] & mask) != (net->addr[full] & mask))
			return false;
	}
	return true;
}

static ag_code cidr_node(struct loader *l, const struct ag_ynode *n,
			 const char *what, struct ag_cidr *out)
{
	const char *s;
	ag_code rc = ag_ynode_string(l->r, n, what, &s);
	if (rc)
		return rc;
	if (ag_cidr_parse(s, out))
		return ag_ynode_err(l->r, n, AG_ERR_INVALID,
				    "bad network '%s' in %s (write "
				    "10.0.0.0/8 or ::1/128, host bits zero)",
				    s, what);
	return AG_OK;
}

static ag_code cidr_list(struct loader *l, const struct ag_ynode *n,
			 const char *what, struct ag_cidr **out, size_t *count)
{
	size_t alloc = 0;
	ag_code rc;

	if (n->type != AG_Y_SEQ)
		return ag_ynode_err(l->r, n, AG_ERR_INVALID,
				    "%s must be a list, not %s", what,
				    ag_ytype_name(n));
	for (size_t i = 0; i < n->n; i++) {
		if (AG_GROW(*out, alloc, *count + 1))
			return nomem(l);
		if ((rc = cidr_node(l, n->items[i], what, &(*out)[*count])))
			return rc;
		(*count)++;
	}
	return AG_OK;
}

static ag_code str_list(struct loader *l, const struct ag_ynode *n,
			const char *what, char ***out, size_t *count)
{
	size_t alloc = 0;
	const char *s;
	ag_code rc;

	if (n->type == AG_Y_SCALAR && !ag_ynode_is_null(n)) {
		if ((rc = ag_ynode_string(l->r, n, what, &s)))
			return rc;
		if (AG_GROW(*out, alloc, 1) || !((*out)[0] = ag_strdup(s)))
			return nomem(l);
		*count = 1;
		return AG_OK;
	}
	if (n->type != AG_Y_SEQ)
		return ag_ynode_err(l->r, n, AG_ERR_INVALID,
				    "%s must be a list, not %s", what,
				    ag_ytype_name(n));
	for (size_t i = 0; i < n->n; i++) {
		if ((rc = ag_ynode_string(l->r, n->items[i], what, &s)))
			return rc;
		if (AG_GROW(*out, alloc, *count + 1))
			return nomem(l);
		if (!((*out)[*count] = ag_strdup(s)))
			return nomem(l);
		(*count)++;
	}
	return AG_OK;
}

static ag_code method_ref(struct loader *l, const struct ag_ynode *n,
			  const char *what, uint16_t *out)
{
	const char *s;
	ag_code rc = ag_ynode_string(l->r, n, what, &s);
	if (rc)
		return rc;
	int i = ag_catalogue_find(&l->p->catalogue, s);
	if (i < 0) {
		struct ag_suggest sg;
		ag_suggest_init(&sg, s);
		for (size_t k = 0; k < l->p->catalogue.n; k++)
			ag_suggest_add(&sg, l->p->catalogue.methods[k].name);
		rc = ag_ynode_err(l->r, n, AG_ERR_INVALID,
				  "unknown method '%s'", s);
		ag_err_hint(l->r->err, ag_suggest_best(&sg));
		return rc;
	}
	*out = (uint16_t)i;
	return AG_OK;
}

/* ---- methods ----------------------------------------------------------- */

static ag_code load_method(struct loader *l, const struct ag_ynode *key,
			   const struct ag_ynode *val)
{
	struct ag_catalogue *cat = &l->p->catalogue;
	struct ag_yreader *r = l->r;
	char where[160];
	ag_code rc;
	long v;

	snprintf(where, sizeof(where), "method '%.100s'", key->str);
	if ((rc = ag_ynode_expect_map(r, val, where)))
		return rc;
	if ((rc = ag_ynode_check_keys(r, val, where, method_keys)))
		return rc;
	if (!key->len || key->len > 64)
		return ag_ynode_err(r, key, AG_ERR_INVALID,
				    "a method name must be 1 to 64 characters");
	for (size_t i = 0; i < key->len; i++) {
		char c = key->str[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == '.'))
			return ag_ynode_err(r, key, AG_ERR_INVALID,
					    "bad method name '%s' (use "
					    "letters, digits, '_', '-', '.')",
					    key->str);
	}

	int idx = ag_catalogue_find(cat, key->str);
	struct ag_method *m;
	bool fresh = idx < 0;
	if (fresh) {
		if (cat->n >= MAX_METHODS)
			return ag_ynode_err(r, key, AG_ERR_LIMIT,
					    "too many methods (at most %d)",
					    MAX_METHODS);
		if (AG_GROW(cat->methods, cat->alloc, cat->n + 1))
			return nomem(l);
		m = &cat->methods[cat->n];
		memset(m, 0, sizeof(*m));
		if (!(m->name = ag_strdup(key->str)) ||
		    !(m->amr = calloc(1, sizeof(char *)))) {
			free(m->name);
			m->name = NULL;
			return nomem(l);
		}
		cat->n++;
		m->factor = AG_FACTOR_NONE;
	} else {
		m = &cat->methods[idx];
		m->builtin = false;
	}
	m->line = key->line;
	m->col = key->col;

	bool have_factor = false, have_alone = false;
	const struct ag_ynode *alone_node = key;
	for (size_t i = 0; i < val->n; i += 2) {
		const char *k = val->items[i]->str;
		const struct ag_ynode *n = val->items[i + 1];
		const char *s;
		if (!strcmp(k, "factor")) {
			static const char *const names[] = {
				"none", "know", "have", "are", "multi"};
			if ((rc = ag_ynode_string(r, n, "factor", &s)))
				return rc;
			bool ok = false;
			for (size_t f = 0; f < AG_ARRAY_SIZE(names); f++)
				if (!strcmp(s, names[f])) {
					m->factor = (enum ag_factor)f;
					ok = true;
				}
			if (!ok) {
				struct ag_suggest sg;
				ag_suggest_init(&sg, s);
				for (size_t f = 0; f < AG_ARRAY_SIZE(names); f++)
					ag_suggest_add(&sg, names[f]);
				rc = ag_ynode_err(r, n, AG_ERR_INVALID,
						  "unknown factor '%s' (know, "
						  "have, are, multi or none)",
						  s);
				ag_err_hint(r->err, ag_suggest_best(&sg));
				return rc;
			}
			have_factor = true;
		} else if (!strcmp(k, "alone")) {
			if ((rc = ag_ynode_int(r, n, "alone", 0, 3, &v)))
				return rc;
			m->alone = (int)v;
			have_alone = true;
			alone_node = n;
		} else if (!strcmp(k, "phishing_resistant")) {
			if ((rc = ag_ynode_bool(r, n, k, &m->phishing_resistant)))
				return rc;
		} else if (!strcmp(k, "hardware")) {
			if ((rc = ag_ynode_bool(r, n, k, &m->hardware)))
				return rc;
		} else if (!strcmp(k, "restricted")) {
			if ((rc = ag_ynode_bool(r, n, k, &m->restricted)))
				return rc;
		} else if (!strcmp(k, "prohibited")) {
			if ((rc = ag_ynode_bool(r, n, k, &m->prohibited)))
				return rc;
		} else if (!strcmp(k, "needs_device")) {
			if ((rc = ag_ynode_bool(r, n, k, &m->needs_device)))
				return rc;
		} else if (!strcmp(k, "device")) {
			if ((rc = ag_ynode_bool(r, n, k, &m->device)))
				return rc;
		} else if (!strcmp(k, "recovery_only")) {
			if ((rc = ag_ynode_bool(r, n, k, &m->recovery_only)))
				return rc;
		} else if (!strcmp(k, "recovery_code")) {
			if ((rc = ag_ynode_bool(r, n, k, &m->recovery_code)))
				return rc;
		} else if (!strcmp(k, "delegated")) {
			if ((rc = ag_ynode_string(r, n, k, &s)))
				return rc;
			if (!strcmp(s, "email"))
				m->delegated = AG_DELEG_EMAIL;
			else if (!strcmp(s, "phone"))
				m->delegated = AG_DELEG_PHONE;
			else if (!strcmp(s, "none"))
				m->delegated = AG_DELEG_NONE;
			else
				return ag_ynode_err(r, n, AG_ERR_INVALID,
						    "delegated must be email, "
						    "phone or none, not '%s'",
						    s);
		} else if (!strcmp(k, "amr")) {
			char **list = NULL;
			size_t cnt = 0, alloc;
			rc = str_list(l, n, "amr", &list, &cnt);
			alloc = cnt;
			if (!rc && AG_GROW(list, alloc, cnt + 1))
				rc = nomem(l);
			if (rc) {
				for (size_t j = 0; list && j < cnt; j++)
					free(list[j]);
				free(list);
				return rc;
			}
			list[cnt] = NULL;
			for (char **a = m->amr; a && *a; a++)
				free(*a);
			free(m->amr);
			m->amr = list;
		}
	}
	if (fresh && !have_factor)
		return ag_ynode_err(r, key, AG_ERR_INVALID,
				    "method '%s' needs a factor (know, have, "
				    "are, multi or none)",
				    key->str);
	if (fresh && !have_alone)
		m->alone = m->factor == AG_FACTOR_MULTI ? 2
			   : m->factor == AG_FACTOR_NONE ? 0
							 : 1;
	/* A stated level must be one the factor and properties can reach
	 * (SP 800-63B-4 §2.2.1, §2.3.1). */
	if (m->alone >= 2 && m->factor != AG_FACTOR_MULTI)
		return ag_ynode_err(r, alone_node, AG_ERR_INVALID,
				    "method '%s' cannot reach AAL%d alone "
				    "unless its factor is multi",
				    m->name, m->alone);
	if (m->alone == 3 && !(m->hardware && m->phishing_resistant))
		return ag_ynode_err(r, alone_node, AG_ERR_INVALID,
				    "method '%s' cannot reach AAL3 alone "
				    "without hardware and phishing_resistant",
				    m->name);
	if (m->factor == AG_FACTOR_NONE && m->alone > 0)
		return ag_ynode_err(r, alone_node, AG_ERR_INVALID,
				    "method '%s' has factor none and so gives "
				    "AAL0 alone, not AAL%d",
				    m->name, m->alone);
	if (m->factor == AG_FACTOR_MULTI && m->alone < 2)
		return ag_ynode_err(r, alone_node, AG_ERR_INVALID,
				    "a multi-factor method gives at least "
				    "AAL2 alone; '%s' says %d",
				    m->name, m->alone);
	if (m->delegated != AG_DELEG_NONE && m->phishing_resistant)
		return ag_ynode_err(r, key, AG_ERR_INVALID,
				    "a delegated method is never phishing "
				    "resistant ('%s')",
				    m->name);
	return AG_OK;
}

/* ---- workflows --------------------------------------------------------- */

static ag_code load_jit(struct loader *l, struct ag_workflow *w,
			const struct ag_ynode *n)
{
	struct ag_yreader *r = l->r;
	ag_code rc;
	long v;

	if ((rc = ag_ynode_expect_map(r, n, "jit")))
		return rc;
	if ((rc = ag_ynode_check_keys(r, n, "jit", jit_keys)))
		return rc;
	w->jit = true;
	w->jit_max = 3600;
	w->jit_approvals = 1;
	for (size_t i = 0; i < n->n; i += 2) {
		const char *k = n->items[i]->str;
		const struct ag_ynode *val = n->items[i + 1];
		if (!strcmp(k, "max"))
			rc = ag_ynode_duration(r, val, "jit max", &w->jit_max);
		else if (!strcmp(k, "approvers"))
			rc = dup_str(l, val, "jit approvers", &w->jit_approvers);
		else if (!strcmp(k, "approvals")) {
			rc = ag_ynode_int(r, val, "jit approvals", 0, 100, &v);
			w->jit_approvals = (int)v;
		}
		if (rc)
			return rc;
	}
	if (w->jit_approvals > 0 && !w->jit_approvers)
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "jit needs approvers (for example "
				    "\"group:admins\") when approvals is %d",
				    w->jit_approvals);
	if (w->jit_max <= 0)
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "jit max must be longer than 0s");
	return AG_OK;
}

static ag_code load_workflow(struct loader *l, struct ag_workflow *w,
			     const struct ag_ynode *key,
			     const struct ag_ynode *val)
{
	struct ag_yreader *r = l->r;
	char where[160];
	ag_code rc;
	const struct ag_ynode *max_age_n = NULL, *idle_n = NULL;
	bool max_age_set = false, idle_set = false;

	memset(w, 0, sizeof(*w));
	w->aal = AG_AAL_UNSET;
	w->line = key->line;
	w->col = key->col;
	if (!(w->name = ag_strdup(key->str)))
		return nomem(l);
	snprintf(where, sizeof(where), "workflow '%.100s'", key->str);
	if ((rc = ag_ynode_expect_map(r, val, where)))
		return rc;
	if ((rc = ag_ynode_check_keys(r, val, where, workflow_keys)))
		return rc;

	for (size_t i = 0; i < val->n; i += 2) {
		const char *k = val->items[i]->str;
		const struct ag_ynode *n = val->items[i + 1];
		const char *s;
		rc = AG_OK;
		if (!strcmp(k, "aal")) {
			if (n->type == AG_Y_SCALAR &&
			    !strcmp(n->str, "match_account")) {
				w->aal = AG_AAL_MATCH_ACCOUNT;
			} else if (n->type == AG_Y_SCALAR && n->plain &&
				   n->len == 1 && n->str[0] >= '0' &&
				   n->str[0] <= '3') {
				w->aal = n->str[0] - '0';
			} else {
				return ag_ynode_err(
					r, n, AG_ERR_INVALID,
					"aal must be 0, 1, 2, 3 or "
					"match_account, not %s%s%s",
					n->type == AG_Y_SCALAR ? "'" : "",
					n->type == AG_Y_SCALAR ? n->str
							       : ag_ytype_name(n),
					n->type == AG_Y_SCALAR ? "'" : "");
			}
		} else if (!strcmp(k, "phishing_resistant")) {
			rc = ag_ynode_bool(r, n, k, &w->phishing_resistant);
		} else if (!strcmp(k, "hardware")) {
			rc = ag_ynode_bool(r, n, k, &w->hardware);
		} else if (!strcmp(k, "allow_weaker_than_profile")) {
			rc = ag_ynode_bool(r, n, k,
					   &w->allow_weaker_than_profile);
		} else if (!strcmp(k, "machine")) {
			rc = ag_ynode_bool(r, n, k, &w->machine);
		} else if (!strcmp(k, "device")) {
			if ((rc = ag_ynode_string(r, n, k, &s)))
				return rc;
			if (!strcmp(s, "any"))
				w->device = AG_DEVICE_ANY;
			else if (!strcmp(s, "known"))
				w->device = AG_DEVICE_KNOWN;
			else if (!strcmp(s, "managed"))
				w->device = AG_DEVICE_MANAGED;
			else {
				struct ag_suggest sg;
				ag_suggest_init(&sg, s);
				ag_suggest_add(&sg, "any");
				ag_suggest_add(&sg, "known");
				ag_suggest_add(&sg, "managed");
				rc = ag_ynode_err(r, n, AG_ERR_INVALID,
						  "device must be any, known "
						  "or managed, not '%s'",
						  s);
				ag_err_hint(r->err, ag_suggest_best(&sg));
			}
		} else if (!strcmp(k, "max_age")) {
			max_age_n = n;
			max_age_set = true;
			rc = ag_ynode_duration(r, n, k, &w->max_age);
		} else if (!strcmp(k, "idle")) {
			idle_n = n;
			idle_set = true;
			rc = ag_ynode_duration(r, n, k, &w->idle);
		} else if (!strcmp(k, "max_token_lifetime")) {
			rc = ag_ynode_duration(r, n, k,
					       &w->max_token_lifetime);
		} else if (!strcmp(k, "jit")) {
			rc = load_jit(l, w, n);
		} else if (!strcmp(k, "credentials")) {
			size_t alloc = 0;
			if (n->type != AG_Y_SEQ)
				return ag_ynode_err(r, n, AG_ERR_INVALID,
						    "credentials must be a "
						    "list of methods, not %s",
						    ag_ytype_name(n));
			for (size_t j = 0; j < n->n; j++) {
				if (AG_GROW(w->credentials, alloc,
					    w->n_credentials + 1))
					return nomem(l);
				if ((rc = method_ref(
					     l, n->items[j], "credentials",
					     &w->credentials[w->n_credentials])))
					return rc;
				w->n_credentials++;
			}
		} else if (!strcmp(k, "networks")) {
			rc = cidr_list(l, n, "networks", &w->networks,
				       &w->n_networks);
		} else if (!strcmp(k, "scopes")) {
			rc = str_list(l, n, "scopes", &w->scopes, &w->n_scopes);
		} else if (!strcmp(k, "description")) {
			rc = ag_ynode_string(r, n, k, &s);
		}
		if (rc)
			return rc;
	}

	/* A zero window would switch reauthentication off. */
	if (max_age_set && w->max_age == 0)
		return ag_ynode_err(r, max_age_n, AG_ERR_INVALID,
				    "max_age must be longer than 0s");
	if (idle_set && w->idle == 0)
		return ag_ynode_err(r, idle_n, AG_ERR_INVALID,
				    "idle must be longer than 0s");

	/* Profile defaults (docs/policy.md): tighten, never loosen. */
	if (w->aal >= 1) {
		struct ag_window pw;
		char have[32], lim[32];
		ag_profile_window(l->p->profile, w->aal, &pw);
		if (!max_age_set) {
			w->max_age = pw.max_age;
		} else if (pw.max_age && w->max_age > pw.max_age &&
			   !w->allow_weaker_than_profile) {
			ag_duration_format(w->max_age, have, sizeof(have));
			ag_duration_format(pw.max_age, lim, sizeof(lim));
			return ag_ynode_err(
				r, max_age_n, AG_ERR_INVALID,
				"max_age %s is longer than %s allows for "
				"AAL%d (%s); set allow_weaker_than_profile: "
				"true to accept it",
				have, ag_profile_name(l->p->profile), w->aal,
				lim);
		}
		if (!idle_set) {
			w->idle = pw.idle;
		} else if (pw.idle && w->idle > pw.idle &&
			   !w->allow_weaker_than_profile) {
			ag_duration_format(w->idle, have, sizeof(have));
			ag_duration_format(pw.idle, lim, sizeof(lim));
			return ag_ynode_err(
				r, idle_n, AG_ERR_INVALID,
				"idle %s is longer than %s allows for AAL%d "
				"(%s); set allow_weaker_than_profile: true to "
				"accept it",
				have, ag_profile_name(l->p->profile), w->aal,
				lim);
		}
	}
	if (w->machine && w->jit)
		return ag_ynode_err(r, key, AG_ERR_INVALID,
				    "workflow '%s' is a machine workflow and "
				    "cannot require jit",
				    w->name);
	return AG_OK;
}

static void workflow_release(struct ag_workflow *w)
{
	free(w->name);
	free(w->jit_approvers);
	free(w->credentials);
	free(w->networks);
	for (size_t i = 0; i < w->n_scopes; i++)
		free(w->scopes[i]);
	free(w->scopes);
}

/* ---- the rest of the sections ------------------------------------------ */

static ag_code load_assurance(struct loader *l, const struct ag_ynode *n,
			      const char *where, struct ag_assurance *a)
{
	struct ag_yreader *r = l->r;
	ag_code rc;
	long v;
	bool have_aal = false;

	if ((rc = ag_ynode_expect_map(r, n, where)))
		return rc;
	if ((rc = ag_ynode_check_keys(r, n, where, acr_keys)))
		return rc;
	memset(a, 0, sizeof(*a));
	for (size_t i = 0; i < n->n; i += 2) {
		const char *k = n->items[i]->str;
		const struct ag_ynode *val = n->items[i + 1];
		if (!strcmp(k, "aal")) {
			rc = ag_ynode_int(r, val, "aal", 0, 3, &v);
			a->aal = (int)v;
			have_aal = true;
		} else if (!strcmp(k, "phishing_resistant")) {
			rc = ag_ynode_bool(r, val, k, &a->phishing_resistant);
		} else if (!strcmp(k, "hardware")) {
			rc = ag_ynode_bool(r, val, k, &a->hardware);
		}
		if (rc)
			return rc;
	}
	if (!have_aal)
		return ag_ynode_err(r, n, AG_ERR_INVALID, "%s needs an aal",
				    where);
	if (a->aal == 3 && !(a->hardware && a->phishing_resistant))
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "%s: AAL3 requires hardware: true and "
				    "phishing_resistant: true (SP 800-63B-4 "
				    "§2.3)",
				    where);
	return AG_OK;
}

/* A file named in the policy: a relative path is taken from the policy
 * file's folder, so that the policy means the same from any working
 * directory. */
static ag_code dup_path(struct loader *l, const struct ag_ynode *n,
			const char *what, char **out)
{
	ag_code rc = dup_str(l, n, what, out);
	if (rc || (*out)[0] == '/')
		return rc;
	const char *file = l->p->file;
	const char *slash = file ? strrchr(file, '/') : NULL;
	if (!slash)
		return AG_OK;
	size_t dl = (size_t)(slash - file) + 1, nl = strlen(*out);
	char *joined = malloc(dl + nl + 1);
	if (!joined)
		return nomem(l);
	memcpy(joined, file, dl);
	memcpy(joined + dl, *out, nl + 1);
	free(*out);
	*out = joined;
	return AG_OK;
}

static ag_code load_issuer(struct loader *l, const struct ag_ynode *n)
{
	struct ag_yreader *r = l->r;
	struct ag_policy *p = l->p;
	ag_code rc;

	if ((rc = ag_ynode_expect_map(r, n, "an issuer")))
		return rc;
	if ((rc = ag_ynode_check_keys(r, n, "issuer", issuer_keys)))
		return rc;
	struct ag_issuer *is = &p->issuers[p->n_issuers++];
	memset(is, 0, sizeof(*is));
	is->line = n->line;
	is->col = n->col;
	is->clock_skew = 60;
	is->jwks_max_age = 24 * 3600;
	is->jwks_min_refresh = 30;
	for (size_t i = 0; i < n->n; i += 2) {
		const char *k = n->items[i]->str;
		const struct ag_ynode *val = n->items[i + 1];
		if (!strcmp(k, "iss"))
			rc = dup_str(l, val, "iss", &is->iss);
		else if (!strcmp(k, "audiences"))
			rc = str_list(l, val, "audiences", &is->audiences,
				      &is->n_audiences);
		else if (!strcmp(k, "jwks_file"))
			rc = dup_path(l, val, "jwks_file", &is->jwks_file);
		else if (!strcmp(k, "jwks_uri"))
			rc = dup_str(l, val, "jwks_uri", &is->jwks_uri);
		else if (!strcmp(k, "clock_skew"))
			rc = ag_ynode_duration(r, val, "clock_skew",
					       &is->clock_skew);
		else if (!strcmp(k, "jwks_ca_file"))
			rc = dup_path(l, val, "jwks_ca_file", &is->jwks_ca_file);
		else if (!strcmp(k, "jwks_max_age"))
			rc = ag_ynode_duration(r, val, "jwks_max_age",
					       &is->jwks_max_age);
		else if (!strcmp(k, "jwks_min_refresh"))
			rc = ag_ynode_duration(r, val, "jwks_min_refresh",
					       &is->jwks_min_refresh);
		if (rc)
			return rc;
	}
	if (!is->iss)
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "an issuer needs iss");
	if (!is->jwks_file == !is->jwks_uri)
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "issuer '%s' needs exactly one of "
				    "jwks_file and jwks_uri",
				    is->iss);
	if (is->jwks_uri && strncmp(is->jwks_uri, "https://", 8) != 0)
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "jwks_uri must use https://, not '%s'",
				    is->jwks_uri);
	if (is->clock_skew > 300)
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "clock_skew is at most 5m");
	/* RFC 8725 §3.9: a token meant for another relying party must not
	 * be accepted here.  "*" says, on purpose, that any will do. */
	if (!is->n_audiences)
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "issuer '%s' needs audiences: without "
				    "them a token issued for any other "
				    "application would be accepted (RFC 8725 "
				    "§3.9); write audiences: \"*\" to accept "
				    "any on purpose",
				    is->iss);
	for (size_t k = 0; k < is->n_audiences; k++)
		if (!strcmp(is->audiences[k], "*") && is->n_audiences > 1)
			return ag_ynode_err(r, n, AG_ERR_INVALID,
					    "issuer '%s': audiences \"*\" "
					    "accepts any audience and cannot "
					    "be listed with others",
					    is->iss);
	if (is->jwks_ca_file && !is->jwks_uri)
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "jwks_ca_file is for jwks_uri; issuer '%s' "
				    "reads its keys from a file",
				    is->iss);
	if (is->jwks_max_age < 60)
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "jwks_max_age is at least 1m");
	if (is->jwks_min_refresh < 1 ||
	    is->jwks_min_refresh > is->jwks_max_age)
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "jwks_min_refresh must be between 1s and "
				    "jwks_max_age");
	return AG_OK;
}

static ag_code workflow_ref(struct loader *l, const struct ag_ynode *n,
			    const char *what, size_t *out)
{
	const char *s;
	ag_code rc = ag_ynode_string(l->r, n, what, &s);
	if (rc)
		return rc;
	long i = ag_policy_workflow(l->p, s);
	if (i < 0) {
		struct ag_suggest sg;
		ag_suggest_init(&sg, s);
		for (size_t k = 0; k < l->p->n_workflows; k++)
			ag_suggest_add(&sg, l->p->workflows[k].name);
		rc = ag_ynode_err(l->r, n, AG_ERR_INVALID,
				  "unknown workflow '%s'", s);
		ag_err_hint(l->r->err, ag_suggest_best(&sg));
		return rc;
	}
	*out = (size_t)i;
	return AG_OK;
}

static ag_code load_route(struct loader *l, const struct ag_ynode *n)
{
	struct ag_yreader *r = l->r;
	struct ag_policy *p = l->p;
	ag_code rc;
	bool have_wf = false;

	if ((rc = ag_ynode_expect_map(r, n, "a route")))
		return rc;
	if ((rc = ag_ynode_check_keys(r, n, "route", route_keys)))
		return rc;
	struct ag_route *rt = &p->routes[p->n_routes++];
	memset(rt, 0, sizeof(*rt));
	rt->line = n->line;
	rt->col = n->col;
	for (size_t i = 0; i < n->n; i += 2) {
		const char *k = n->items[i]->str;
		const struct ag_ynode *val = n->items[i + 1];
		if (!strcmp(k, "host"))
			rc = dup_str(l, val, k, &rt->host);
		else if (!strcmp(k, "path_prefix"))
			rc = dup_str(l, val, k, &rt->path_prefix);
		else if (!strcmp(k, "method"))
			rc = dup_str(l, val, k, &rt->method);
		else if (!strcmp(k, "workflow")) {
			rc = workflow_ref(l, val, k, &rt->workflow);
			have_wf = true;
		}
		if (rc)
			return rc;
	}
	if (!have_wf)
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "a route needs a workflow");
	if (rt->path_prefix && rt->path_prefix[0] != '/')
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "path_prefix must start with '/', not '%s'",
				    rt->path_prefix);
	return AG_OK;
}

static const struct ag_ynode *find_key(const struct ag_ynode *map,
				       const char *key)
{
	for (size_t i = 0; i + 1 < map->n; i += 2)
		if (!strcmp(map->items[i]->str, key))
			return map->items[i + 1];
	return NULL;
}

static ag_code load_root(struct loader *l, const struct ag_ynode *root)
{
	struct ag_yreader *r = l->r;
	struct ag_policy *p = l->p;
	const struct ag_ynode *n;
	ag_code rc;
	long v;
	const char *s;

	if (root->type != AG_Y_MAP)
		return ag_ynode_err(r, root, AG_ERR_INVALID,
				    "a policy must be a mapping, not %s",
				    ag_ytype_name(root));
	if ((rc = ag_ynode_check_keys(r, root, "the policy", top_keys)))
		return rc;

	if ((n = find_key(root, "profile"))) {
		if ((rc = ag_ynode_string(r, n, "profile", &s)))
			return rc;
		if (!strcmp(s, "sp800-63b-4"))
			p->profile = AG_PROFILE_SP800_63B_4;
		else if (!strcmp(s, "sp800-63b-3"))
			p->profile = AG_PROFILE_SP800_63B_3;
		else {
			struct ag_suggest sg;
			ag_suggest_init(&sg, s);
			ag_suggest_add(&sg, "sp800-63b-4");
			ag_suggest_add(&sg, "sp800-63b-3");
			rc = ag_ynode_err(r, n, AG_ERR_INVALID,
					  "unknown profile '%s' (sp800-63b-4 "
					  "or sp800-63b-3)",
					  s);
			ag_err_hint(r->err, ag_suggest_best(&sg));
			return rc;
		}
	}

	if ((n = find_key(root, "assume"))) {
		if ((rc = ag_ynode_expect_map(r, n, "assume")) ||
		    (rc = ag_ynode_check_keys(r, n, "assume", assume_keys)))
			return rc;
		for (size_t i = 0; i < n->n; i += 2) {
			const char *k = n->items[i]->str;
			if ((rc = ag_ynode_int(r, n->items[i + 1], "assume",
					       0, 3, &v)))
				return rc;
			for (int kind = 0; kind < AG_KIND_COUNT; kind++)
				if (!strcmp(k, ag_account_kind_name(
						       (enum ag_account_kind)kind)))
					p->assume[kind] = (int)v;
		}
	}

	if ((n = find_key(root, "methods"))) {
		if ((rc = ag_ynode_expect_map(r, n, "methods")))
			return rc;
		for (size_t i = 0; i < n->n; i += 2)
			if ((rc = load_method(l, n->items[i], n->items[i + 1])))
				return rc;
	}

	if ((n = find_key(root, "workflows"))) {
		if ((rc = ag_ynode_expect_map(r, n, "workflows")))
			return rc;
		if (n->n / 2 > 10000)
			return ag_ynode_err(r, n, AG_ERR_LIMIT,
					    "too many workflows (at most "
					    "10000)");
		p->workflows = calloc(n->n / 2 + 1, sizeof(*p->workflows));
		if (!p->workflows)
			return nomem(l);
		for (size_t i = 0; i < n->n; i += 2) {
			rc = load_workflow(l, &p->workflows[p->n_workflows],
					   n->items[i], n->items[i + 1]);
			p->n_workflows++;
			if (rc)
				return rc;
		}
	}

	if ((n = find_key(root, "break_glass"))) {
		if ((rc = ag_ynode_expect_map(r, n, "break_glass")) ||
		    (rc = ag_ynode_check_keys(r, n, "break_glass", bg_keys)))
			return rc;
		p->break_glass.set = true;
		p->break_glass.line = n->line;
		p->break_glass.col = n->col;
		for (size_t i = 0; i < n->n; i += 2) {
			const char *k = n->items[i]->str;
			const struct ag_ynode *val = n->items[i + 1];
			if (!strcmp(k, "approvals")) {
				rc = ag_ynode_int(r, val, "approvals", 0, 100,
						  &v);
				p->break_glass.approvals = (int)v;
			} else if (!strcmp(k, "max")) {
				rc = ag_ynode_duration(r, val,
						       "break_glass max",
						       &p->break_glass.max);
			} else if (!strcmp(k, "alert")) {
				rc = ag_ynode_bool(r, val, k,
						   &p->break_glass.alert);
			}
			if (rc)
				return rc;
		}
		if (p->break_glass.max <= 0)
			return ag_ynode_err(r, n, AG_ERR_INVALID,
					    "break_glass max must be longer "
					    "than 0s");
		if (p->break_glass.approvals == 0 && !p->break_glass.alert)
			return ag_ynode_err(r, n, AG_ERR_INVALID,
					    "break_glass needs approvals or "
					    "alert: true: an unwatched "
					    "emergency account is a way "
					    "around every workflow");
	}

	if ((n = find_key(root, "acr"))) {
		if ((rc = ag_ynode_expect_map(r, n, "acr")))
			return rc;
		p->acr = calloc(n->n / 2 + 1, sizeof(*p->acr));
		if (!p->acr)
			return nomem(l);
		for (size_t i = 0; i < n->n; i += 2) {
			struct ag_acr *a = &p->acr[p->n_acr];
			char where[200];
			snprintf(where, sizeof(where), "acr '%.150s'",
				 n->items[i]->str);
			if (!(a->value = ag_strdup(n->items[i]->str)))
				return nomem(l);
			p->n_acr++;
			a->line = n->items[i]->line;
			a->col = n->items[i]->col;
			if ((rc = load_assurance(l, n->items[i + 1], where,
						 &a->assurance)))
				return rc;
		}
	}

	if ((n = find_key(root, "issuers"))) {
		if (n->type != AG_Y_SEQ)
			return ag_ynode_err(r, n, AG_ERR_INVALID,
					    "issuers must be a list, not %s",
					    ag_ytype_name(n));
		p->issuers = calloc(n->n + 1, sizeof(*p->issuers));
		if (!p->issuers)
			return nomem(l);
		for (size_t i = 0; i < n->n; i++)
			if ((rc = load_issuer(l, n->items[i])))
				return rc;
	}

	if ((n = find_key(root, "trusted_proxies")) &&
	    (rc = cidr_list(l, n, "trusted_proxies", &p->trusted_proxies,
			    &p->n_trusted_proxies)))
		return rc;
	if ((n = find_key(root, "client_cert_header")) &&
	    (rc = dup_str(l, n, "client_cert_header",
			  &p->client_cert_header)))
		return rc;
	if ((n = find_key(root, "dpop_max_age"))) {
		if ((rc = ag_ynode_duration(r, n, "dpop_max_age",
					    &p->dpop_max_age)))
			return rc;
		/* A proof is a one-request credential; a long window only
		 * widens the replay set and what a stolen proof can do. */
		if (p->dpop_max_age < 1 || p->dpop_max_age > 3600)
			return ag_ynode_err(r, n, AG_ERR_INVALID,
					    "dpop_max_age must be from 1s to "
					    "1h");
	}
	if ((n = find_key(root, "device_header")) &&
	    (rc = dup_str(l, n, "device_header", &p->device_header)))
		return rc;
	if ((n = find_key(root, "device_claim")) &&
	    (rc = dup_str(l, n, "device_claim", &p->device_claim)))
		return rc;

	if ((n = find_key(root, "routes"))) {
		if (n->type != AG_Y_SEQ)
			return ag_ynode_err(r, n, AG_ERR_INVALID,
					    "routes must be a list, not %s",
					    ag_ytype_name(n));
		p->routes = calloc(n->n + 1, sizeof(*p->routes));
		if (!p->routes)
			return nomem(l);
		for (size_t i = 0; i < n->n; i++)
			if ((rc = load_route(l, n->items[i])))
				return rc;
	}

	if ((n = find_key(root, "default_workflow"))) {
		size_t w;
		if ((rc = workflow_ref(l, n, "default_workflow", &w)))
			return rc;
		p->default_workflow = (long)w;
	}

	/* -- policy: groups -- */
	/* groups: NAME -> [member, ...], then every "group:NAME" of a
	 * jit.approvers is checked against them (when the file has the
	 * section; see struct ag_policy).  Members are accounts: the sub
	 * with one issuer, "ISSUER sub" with several. */
	if ((n = find_key(root, "groups"))) {
		if ((rc = ag_ynode_expect_map(r, n, "groups")))
			return rc;
		if (n->n / 2 > 10000)
			return ag_ynode_err(r, n, AG_ERR_LIMIT,
					    "too many groups (at most 10000)");
		p->groups.set = true;
		p->groups.v = calloc(n->n / 2 + 1, sizeof(*p->groups.v));
		if (!p->groups.v)
			return nomem(l);
		for (size_t i = 0; i < n->n; i += 2) {
			const struct ag_ynode *key = n->items[i];
			const struct ag_ynode *val = n->items[i + 1];
			struct ag_policy_group *gr = &p->groups.v[p->groups.n];
			if (!(gr->name = ag_strdup(key->str)))
				return nomem(l);
			p->groups.n++;
			gr->line = key->line;
			gr->col = key->col;
			if (!key->str[0] || strchr(key->str, ' ') ||
			    strchr(key->str, ':'))
				return ag_ynode_err(r, key, AG_ERR_INVALID,
						    "group name '%s' must be "
						    "non-empty, without spaces "
						    "or ':'",
						    key->str);
			const struct ag_ynode *one = val;
			const struct ag_ynode *const *items = &one;
			size_t count = 1;
			if (val->type == AG_Y_SEQ) {
				items = (const struct ag_ynode *const *)
						val->items;
				count = val->n;
			}
			if (count > 10000)
				return ag_ynode_err(r, val, AG_ERR_LIMIT,
						    "group '%s' has too many "
						    "members (at most 10000)",
						    gr->name);
			gr->members = calloc(count + 1, sizeof(char *));
			if (!gr->members)
				return nomem(l);
			for (size_t k = 0; k < count; k++) {
				const struct ag_ynode *m = items[k];
				char what[300];
				snprintf(what, sizeof(what),
					 "a member of group '%.200s'",
					 gr->name);
				if ((rc = ag_ynode_string(r, m, what, &s)))
					return rc;
				const char *sp = strchr(s, ' ');
				bool bad = !*s;
				for (const char *c = s; *c; c++)
					if ((unsigned char)*c < 0x20 ||
					    *c == 0x7f)
						bad = true;
				if (bad)
					return ag_ynode_err(
						r, m, AG_ERR_INVALID,
						"%s is empty or holds a "
						"control character",
						what);
				size_t il = sp ? (size_t)(sp - s) : 0;
				if (p->n_issuers >= 2) {
					/* "ISSUER sub": a sub is unique only
					 * within its issuer. */
					bool known = false;
					for (size_t q = 0; q < p->n_issuers;
					     q++) {
						const char *iss =
							p->issuers[q].iss;
						if (sp && strlen(iss) == il &&
						    !strncmp(iss, s, il) &&
						    sp[1])
							known = true;
					}
					if (!known) {
						rc = ag_ynode_err(
							r, m, AG_ERR_INVALID,
							"member '%s' of group "
							"'%s': with several "
							"issuers a member is "
							"written 'ISSUER sub', "
							"ISSUER one of the "
							"policy's issuers",
							s, gr->name);
						if (!sp) {
							char hint[600];
							snprintf(hint,
								 sizeof(hint),
								 "%s %s",
								 p->issuers[0]
									 .iss,
								 s);
							ag_err_hint(r->err,
								    hint);
						}
						return rc;
					}
				} else if (sp && p->n_issuers == 1 &&
					   il == strlen(p->issuers[0].iss) &&
					   !strncmp(s, p->issuers[0].iss,
						    il)) {
					rc = ag_ynode_err(
						r, m, AG_ERR_INVALID,
						"member '%s' of group '%s': "
						"with one issuer a member is "
						"its sub alone",
						s, gr->name);
					ag_err_hint(r->err, sp + 1);
					return rc;
				}
				if (!(gr->members[gr->n_members] =
					      ag_strdup(s)))
					return nomem(l);
				gr->n_members++;
			}
		}
	}
	if (p->groups.set && (n = find_key(root, "workflows")) &&
	    n->type == AG_Y_MAP) {
		for (size_t i = 0; i + 1 < n->n; i += 2) {
			const struct ag_ynode *wf = n->items[i + 1];
			const struct ag_ynode *jit, *ap;
			if (wf->type != AG_Y_MAP ||
			    !(jit = find_key(wf, "jit")) ||
			    jit->type != AG_Y_MAP ||
			    !(ap = find_key(jit, "approvers")) ||
			    ap->type != AG_Y_SCALAR ||
			    strncmp(ap->str, "group:", 6) != 0)
				continue;
			const char *want = ap->str + 6;
			bool found = false;
			struct ag_suggest sg;
			ag_suggest_init(&sg, want);
			for (size_t k = 0; k < p->groups.n; k++) {
				ag_suggest_add(&sg, p->groups.v[k].name);
				if (!strcmp(p->groups.v[k].name, want))
					found = true;
			}
			if (!found) {
				rc = ag_ynode_err(r, ap, AG_ERR_INVALID,
						  "unknown group '%s' in jit "
						  "approvers of workflow '%s'",
						  want, n->items[i]->str);
				ag_err_hint(r->err, ag_suggest_best(&sg));
				return rc;
			}
		}
	}
	/* -- policy: sinks -- */
	if ((n = find_key(root, "sinks")) &&
	    (rc = ag_policy_load_sinks(r, p, n)))
		return rc;
	if ((n = find_key(root, "watch"))) {
		if ((rc = ag_ynode_expect_map(r, n, "watch")) ||
		    (rc = ag_ynode_check_keys(r, n, "watch", watch_keys)))
			return rc;
		for (size_t i = 0; i < n->n; i += 2) {
			const char *k = n->items[i]->str;
			const struct ag_ynode *val = n->items[i + 1];
			char what[40];
			snprintf(what, sizeof(what), "watch %s", k);
			if (!strcmp(k, "legacy_protocols")) {
				if ((rc = str_list(l, val, what,
						   &p->watch.legacy_protocols,
						   &p->watch.n_legacy_protocols)))
					return rc;
			} else if (!strcmp(k, "max_subjects")) {
				long cap;
				if ((rc = ag_ynode_int(r, val, what, 1,
						       100000000, &cap)))
					return rc;
				p->watch.max_subjects = (size_t)cap;
			} else {
				int64_t *dst =
					!strcmp(k, "recovery_window")
						? &p->watch.recovery_window
					: !strcmp(k, "takeover_window")
						? &p->watch.takeover_window
					: !strcmp(k, "dormant")
						? &p->watch.dormant
						: &p->watch.state_ttl;
				if ((rc = ag_ynode_duration(r, val, what, dst)))
					return rc;
			}
		}
	}
	if ((n = find_key(root, "recovery"))) {
		const struct ag_ynode *rs;
		if ((rc = ag_ynode_expect_map(r, n, "recovery")) ||
		    (rc = ag_ynode_check_keys(r, n, "recovery",
					      recovery_keys)))
			return rc;
		if ((rs = find_key(n, "require_sent_to")) &&
		    (rc = ag_ynode_bool(r, rs, "recovery require_sent_to",
					&p->recovery.require_sent_to)))
			return rc;
	}
	if ((n = find_key(root, "nhi"))) {
		if ((rc = ag_ynode_expect_map(r, n, "nhi")) ||
		    (rc = ag_ynode_check_keys(r, n, "nhi", nhi_keys)))
			return rc;
		for (size_t i = 0; i < n->n; i += 2) {
			const char *k = n->items[i]->str;
			const struct ag_ynode *val = n->items[i + 1];
			if (!strcmp(k, "production")) {
				if ((rc = str_list(l, val, "nhi production",
						   &p->nhi.production,
						   &p->nhi.n_production)))
					return rc;
				continue;
			}
			int64_t *dst = !strcmp(k, "stale")    ? &p->nhi.stale
				       : !strcmp(k, "rotate") ? &p->nhi.rotate
							      : &p->nhi.max_lifetime;
			char what[32];
			snprintf(what, sizeof(what), "nhi %s", k);
			if ((rc = ag_ynode_duration(r, val, what, dst)))
				return rc;
		}
	}
	return AG_OK;
}

void ag_policy_free(struct ag_policy *p)
{
	if (!p)
		return;
	free(p->file);
	ag_catalogue_release(&p->catalogue);
	for (size_t i = 0; i < p->n_workflows; i++)
		workflow_release(&p->workflows[i]);
	free(p->workflows);
	for (size_t i = 0; i < p->n_acr; i++)
		free(p->acr[i].value);
	free(p->acr);
	for (size_t i = 0; i < p->n_issuers; i++) {
		struct ag_issuer *is = &p->issuers[i];
		free(is->iss);
		for (size_t k = 0; k < is->n_audiences; k++)
			free(is->audiences[k]);
		free(is->audiences);
		free(is->jwks_file);
		free(is->jwks_uri);
		free(is->jwks_ca_file);
	}
	free(p->issuers);
	free(p->trusted_proxies);
	free(p->device_header);
	free(p->client_cert_header);
	free(p->device_claim);
	for (size_t i = 0; i < p->watch.n_legacy_protocols; i++)
		free(p->watch.legacy_protocols[i]);
	free(p->watch.legacy_protocols);
	for (size_t i = 0; i < p->nhi.n_production; i++)
		free(p->nhi.production[i]);
	free(p->nhi.production);
	for (size_t i = 0; i < p->n_routes; i++) {
		free(p->routes[i].host);
		free(p->routes[i].path_prefix);
		free(p->routes[i].method);
	}
	free(p->routes);
	ag_policy_free_sinks(p);
	for (size_t i = 0; i < p->groups.n; i++) {
		for (size_t k = 0; k < p->groups.v[i].n_members; k++)
			free(p->groups.v[i].members[k]);
		free(p->groups.v[i].members);
		free(p->groups.v[i].name);
	}
	free(p->groups.v);
	free(p);
}

ag_code ag_policy_load_buffer(const char *name, const char *buf, size_t len,
			      struct ag_policy **out, struct ag_error *err)
{
	struct ag_policy *p = NULL;
	struct ag_yreader r;
	struct ag_ynode *root = NULL;
	struct loader l;
	ag_code rc = AG_ERR_INTERNAL;

	*out = NULL;
	if (len > AG_POLICY_MAX_BYTES)
		return ag_err(err, AG_ERR_LIMIT,
			      "%s: policy too large (at most %u bytes)", name,
			      AG_POLICY_MAX_BYTES);
	if ((rc = ag_yreader_init(&r, name, buf, len, err)))
		return rc;
	if (!(p = calloc(1, sizeof(*p))) || !(p->file = ag_strdup(name))) {
		rc = ag_err(err, AG_ERR_NOMEM, "%s: out of memory", name);
		goto out;
	}
	p->default_workflow = -1;
	for (int k = 0; k < AG_KIND_COUNT; k++)
		p->assume[k] = 1;
	/* break_glass defaults, also for keys a written block leaves out. */
	p->break_glass.approvals = 2;
	p->break_glass.max = 4 * 3600;
	p->break_glass.alert = true;
	p->dpop_max_age = 300;
	p->nhi.stale = 90 * 86400;
	p->nhi.rotate = 90 * 86400;
	p->nhi.max_lifetime = 365 * 86400;
	p->watch.recovery_window = 24 * 3600;
	p->watch.takeover_window = 72 * 3600;
	p->watch.state_ttl = 7 * 86400;
	p->watch.max_subjects = 1000000;
	if ((rc = ag_catalogue_builtin(&p->catalogue))) {
		ag_err(err, rc, "%s: out of memory", name);
		goto out;
	}
	if ((rc = ag_yreader_document(&r, &root)))
		goto out;
	l.r = &r;
	l.p = p;
	if ((rc = load_root(&l, root)))
		goto out;
	*out = p;
	p = NULL;
	rc = AG_OK;
out:
	ag_ynode_free(root);
	ag_yreader_release(&r);
	ag_policy_free(p);
	return rc;
}

ag_code ag_policy_load(const char *path, struct ag_policy **out,
		       struct ag_error *err)
{
	char *buf;
	size_t len;
	ag_code rc;

	*out = NULL;
	if ((rc = ag_read_file(path, AG_POLICY_MAX_BYTES, &buf, &len, err)))
		return rc;
	rc = ag_policy_load_buffer(path, buf, len, out, err);
	free(buf);
	return rc;
}

long ag_policy_workflow(const struct ag_policy *p, const char *name)
{
	for (size_t i = 0; i < p->n_workflows; i++)
		if (!strcmp(p->workflows[i].name, name))
			return (long)i;
	return -1;
}

void ag_workflow_window(const struct ag_policy *p, const struct ag_workflow *w,
			struct ag_window *out)
{
	if (w && w->aal >= 1) {
		out->max_age = w->max_age;
		out->idle = w->idle;
		return;
	}
	ag_profile_window(p->profile, 1, out);
	if (w && w->max_age && (!out->max_age || w->max_age < out->max_age))
		out->max_age = w->max_age;
	if (w && w->idle)
		out->idle = w->idle;
}
