/*
 * Decisions (docs/gate.md): the route picks a workflow, then the checks run
 * in a fixed order and the first that fails decides.  Assurance comes from
 * the core (ag_combine, ag_workflow_satisfied, ag_workflow_window); this
 * file only orders the checks and words the answer.
 *
 * ag_gate_decide never allocates: it runs once per request and its answer
 * must not depend on memory being available.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "aalgate/gate.h"
#include "gate/gate-int.h"
#include "util.h"
#include "banned.h"

static const char *const outcome_names[] = {"deny", "step_up", "allow"};

const char *ag_outcome_name(enum ag_outcome o)
{
	if ((unsigned)o < AG_ARRAY_SIZE(outcome_names))
		return outcome_names[o];
	return "deny";
}

static const char *const reason_names[AG_R__COUNT] = {
	[AG_R_NONE] = "none",
	[AG_R_INTERNAL] = "internal_error",
	[AG_R_BAD_REQUEST] = "bad_request",
	[AG_R_NO_ROUTE] = "no_route",
	[AG_R_UNKNOWN_WORKFLOW] = "unknown_workflow",
	[AG_R_NO_TOKEN] = "no_token",
	[AG_R_INVALID_TOKEN] = "invalid_token",
	[AG_R_NETWORK] = "network",
	[AG_R_AAL] = "aal",
	[AG_R_PHISHING_RESISTANT] = "phishing_resistant",
	[AG_R_HARDWARE] = "hardware",
	[AG_R_ACCOUNT_LEVEL_UNKNOWN] = "account_level_unknown",
	[AG_R_MAX_AGE] = "max_age",
	[AG_R_IDLE] = "idle",
	[AG_R_DEVICE] = "device",
	[AG_R_JIT] = "jit",
	[AG_R_TOKEN_LIFETIME] = "token_lifetime",
	[AG_R_CLIENT] = "client",
	[AG_R_CREDENTIAL] = "credential",
	[AG_R_SCOPE] = "scope",
};

const char *ag_reason_name(enum ag_reason r)
{
	if ((unsigned)r < AG_R__COUNT && reason_names[r])
		return reason_names[r];
	return "internal_error";
}

/* ---- per-policy data --------------------------------------------------- */

/* Writes into buf the acr values of the policy's table that satisfy w, in
 * the table's order, separated by spaces; truncates at a whole value. */
static void acr_values_for(const struct ag_policy *p,
			   const struct ag_workflow *w, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < p->n_acr; i++) {
		if (!ag_workflow_satisfied(w, &p->acr[i].assurance))
			continue;
		const char *v = p->acr[i].value;
		size_t vl = strlen(v);
		/* acr values go inside a quoted-string: skip any that would
		 * need escaping rather than emit a broken header. */
		bool plain = true;
		for (const char *c = v; *c; c++)
			if ((unsigned char)*c <= 0x20 ||
			    (unsigned char)*c >= 0x7f || *c == '"' || *c == '\\')
				plain = false;
		if (!plain || vl + 2 > len - used)
			continue;
		if (used)
			buf[used++] = ' ';
		memcpy(buf + used, v, vl);
		used += vl;
		buf[used] = '\0';
	}
}

ag_code ag_gate_new(const struct ag_policy *p, struct ag_gate **out,
		    struct ag_error *err)
{
	struct ag_gate *g = calloc(1, sizeof(*g));

	*out = NULL;
	if (!g)
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	g->p = p;
	g->acr_values = calloc(p->n_workflows + 1, sizeof(*g->acr_values));
	if (!g->acr_values) {
		free(g);
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < p->n_workflows; i++) {
		char buf[AG_WWW_AUTH_MAX / 2];
		acr_values_for(p, &p->workflows[i], buf, sizeof(buf));
		if (!(g->acr_values[i] = ag_strdup(buf))) {
			ag_gate_free(g);
			return ag_err(err, AG_ERR_NOMEM, "out of memory");
		}
	}
	*out = g;
	return AG_OK;
}

void ag_gate_free(struct ag_gate *g)
{
	if (!g)
		return;
	if (g->acr_values)
		for (size_t i = 0; i < g->p->n_workflows; i++)
			free(g->acr_values[i]);
	free(g->acr_values);
	free(g);
}

const struct ag_policy *ag_gate_policy(const struct ag_gate *g)
{
	return g->p;
}

/* ---- routes ------------------------------------------------------------ */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Normalises the path of a request target, or refuses it.  The gate must
 * route a request to the workflow whose route the upstream will serve, and
 * upstreams disagree on spellings (RFC 3986 §5.2.4 dot segments, "%2e",
 * "%2f", Java's ";" path parameters and "..;", Windows' "\\").  So:
 *  - the query and fragment go; an absolute-form target keeps its path;
 *  - %XX escapes are decoded; a bad escape, a decoded NUL or control
 *    character, and bytes that are not UTF-8 are refused;
 *  - an escaped "/", "\\", "." or ";", a raw "\\" or ";", and any "." or
 *    ".." segment are refused: no honest client needs them, and each
 *    means different paths to different servers;
 *  - repeated slashes collapse (which can only match a longer, stricter
 *    prefix); a trailing slash stays.
 * Returns false for a target that is refused.
 */
bool ag_path_normalize(const char *uri, char *out, size_t len)
{
	size_t o = 0;
	bool slash = false;

	if (!uri || len < 2)
		return false;
	if (!strncasecmp(uri, "http://", 7) || !strncasecmp(uri, "https://", 8)) {
		uri = strchr(strstr(uri, "//") + 2, '/');
		if (!uri)
			uri = "/";
	}
	if (uri[0] != '/')
		return false;
	size_t seg_start = 0; /* where the current segment begins in out */
	for (const char *s = uri; *s && *s != '?' && *s != '#'; s++) {
		char c = *s;
		if (c == '\\' || c == ';')
			return false;
		if (c == '%') {
			int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);
			if (hi < 0 || lo < 0)
				return false;
			c = (char)(hi * 16 + lo);
			s += 2;
			if (c == '/' || c == '\\' || c == '.' || c == ';')
				return false;
		}
		if ((unsigned char)c < 0x20 || c == 0x7f)
			return false;
		if (c == '/') {
			/* End of a segment: refuse dot segments. */
			size_t sl = o - seg_start;
			if ((sl == 1 && out[seg_start] == '.') ||
			    (sl == 2 && out[seg_start] == '.' &&
			     out[seg_start + 1] == '.'))
				return false;
			if (slash)
				continue; /* "//" */
			slash = true;
		} else {
			slash = false;
		}
		if (o + 2 >= len)
			return false;
		out[o++] = c;
		if (c == '/')
			seg_start = o;
	}
	size_t sl = o - seg_start;
	if ((sl == 1 && out[seg_start] == '.') ||
	    (sl == 2 && out[seg_start] == '.' && out[seg_start + 1] == '.'))
		return false;
	out[o] = '\0';
	return ag_utf8_valid(out, o);
}

/* Compares a Host header (without any port) to a route's host. */
static bool host_matches(const char *route, const char *host)
{
	if (!host)
		return false;
	size_t hl = strlen(host);
	if (host[0] == '[') { /* [v6]:port */
		const char *end = strchr(host, ']');
		if (!end)
			return false;
		host++;
		hl = (size_t)(end - host);
	} else {
		const char *colon = strchr(host, ':');
		if (colon && !strchr(colon + 1, ':'))
			hl = (size_t)(colon - host);
	}
	if (hl > 0 && host[hl - 1] == '.') /* a fully qualified name */
		hl--;
	return strlen(route) == hl && !strncasecmp(route, host, hl);
}

/* A path prefix matches by string; one that ends in "/" also matches the
 * path without it ("/payroll/" matches "/payroll"), which most servers
 * serve as the same page. */
static bool prefix_matches(const char *prefix, const char *path)
{
	size_t pl = strlen(prefix);
	if (!strncmp(path, prefix, pl))
		return true;
	return pl > 1 && prefix[pl - 1] == '/' && strlen(path) == pl - 1 &&
	       !strncmp(path, prefix, pl - 1);
}

static long route_request(const struct ag_gate *g,
			  const struct ag_request *req, const char *path)
{
	const struct ag_policy *p = g->p;

	for (size_t i = 0; i < p->n_routes; i++) {
		const struct ag_route *r = &p->routes[i];
		if (r->host && !host_matches(r->host, req->host))
			continue;
		if (r->path_prefix && !prefix_matches(r->path_prefix, path))
			continue;
		if (r->method &&
		    (!req->method || strcasecmp(r->method, req->method) != 0))
			continue;
		return (long)r->workflow;
	}
	return p->default_workflow;
}

long ag_gate_route(const struct ag_gate *g, const struct ag_request *req)
{
	char path[AG_PATH_MAX];

	if (req->workflow)
		return ag_policy_workflow(g->p, req->workflow);
	if (!ag_path_normalize(req->uri ? req->uri : "/", path, sizeof(path)))
		return -1;
	return route_request(g, req, path);
}

/* ---- assurance from claims --------------------------------------------- */

#define AMR_METHODS_MAX 64

void ag_claims_assurance(const struct ag_policy *p, const struct ag_claims *c,
			 struct ag_assurance *out)
{
	memset(out, 0, sizeof(*out));
	if (c->acr) {
		for (size_t i = 0; i < p->n_acr; i++)
			if (!strcmp(p->acr[i].value, c->acr)) {
				*out = p->acr[i].assurance;
				return;
			}
	}
	if (c->n_amr) {
		uint16_t idx[AMR_METHODS_MAX];
		size_t n = ag_amr_methods(&p->catalogue,
					  (const char *const *)c->amr,
					  c->n_amr, idx, AMR_METHODS_MAX);
		ag_combine(&p->catalogue, idx, n, AG_USE_SIGNIN, out);
	}
}

/* ---- the decision ------------------------------------------------------ */

static void add_reason(struct ag_decision *d, enum ag_reason r)
{
	if (d->n_reasons < AG_REASONS_MAX)
		d->reasons[d->n_reasons++] = r;
}

AG_PRINTF(2, 3)
static void detail(struct ag_decision *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->detail, sizeof(d->detail), fmt, ap);
	va_end(ap);
}

/* error_description is a quoted-string of %x20-21 / %x23-5B / %x5D-7E
 * (RFC 6750 §3): anything else becomes a space. */
static void header_text(char *dst, size_t len, const char *src)
{
	size_t o = 0;
	for (; *src && o + 1 < len; src++) {
		unsigned char c = (unsigned char)*src;
		dst[o++] = (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
				   ? ' '
				   : (char)c;
	}
	dst[o] = '\0';
}

static void deny(struct ag_decision *d, int status, enum ag_reason r)
{
	d->outcome = AG_DENY;
	d->status = status;
	add_reason(d, r);
}

static void www_invalid(struct ag_decision *d, const char *error)
{
	char desc[256];
	header_text(desc, sizeof(desc), d->detail);
	snprintf(d->www_authenticate, sizeof(d->www_authenticate),
		 "Bearer error=\"%s\", error_description=\"%s\"", error, desc);
}

/* RFC 9470 §3: the step-up challenge. */
static void www_step_up(struct ag_decision *d, const char *acr_values,
			int64_t max_age)
{
	char desc[256], extra[64] = "";
	int n;

	header_text(desc, sizeof(desc), d->detail);
	if (max_age > 0)
		snprintf(extra, sizeof(extra), ", max_age=\"%lld\"",
			 (long long)max_age);
	if (acr_values && *acr_values)
		n = snprintf(d->www_authenticate, sizeof(d->www_authenticate),
			     "Bearer error=\"insufficient_user_authentication\", "
			     "error_description=\"%s\", acr_values=\"%s\"%s",
			     desc, acr_values, extra);
	else
		n = snprintf(d->www_authenticate, sizeof(d->www_authenticate),
			     "Bearer error=\"insufficient_user_authentication\", "
			     "error_description=\"%s\"%s",
			     desc, extra);
	if (n < 0 || (size_t)n >= sizeof(d->www_authenticate))
		/* Never send a cut header: drop the description. */
		snprintf(d->www_authenticate, sizeof(d->www_authenticate),
			 "Bearer error=\"insufficient_user_authentication\"%s",
			 extra);
}

static bool ip_in(const char *ip, const struct ag_cidr *nets, size_t n)
{
	struct ag_cidr a;
	if (!ip || ag_cidr_parse(ip, &a) != AG_OK)
		return false;
	for (size_t i = 0; i < n; i++)
		if (ag_cidr_contains(&nets[i], &a))
			return true;
	return false;
}

static enum ag_device device_parse(const char *s)
{
	if (s && !strcasecmp(s, "managed"))
		return AG_DEVICE_MANAGED;
	if (s && !strcasecmp(s, "known"))
		return AG_DEVICE_KNOWN;
	return AG_DEVICE_ANY;
}

static bool has_scope(const char *scopes, const char *want)
{
	size_t wl = strlen(want);
	for (const char *s = scopes; s && *s;) {
		while (*s == ' ')
			s++;
		const char *e = s;
		while (*e && *e != ' ')
			e++;
		if ((size_t)(e - s) == wl && !strncmp(s, want, wl))
			return true;
		s = e;
	}
	return false;
}

/* RFC 6750 §3.1: a valid token that does not let its holder make this
 * request is insufficient_scope (403).  A machine workflow answers every
 * refusal in RFC 6750's terms; the description says which check. */
static void www_forbidden(struct ag_decision *d)
{
	char desc[256];
	header_text(desc, sizeof(desc), d->detail);
	snprintf(d->www_authenticate, sizeof(d->www_authenticate),
		 "Bearer error=\"insufficient_scope\", error_description=\"%s\"",
		 desc);
}

/* The workflow's credentials by name, for a message. */
static void credential_names(const struct ag_policy *p,
			     const struct ag_workflow *w, char *buf,
			     size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < w->n_credentials; i++) {
		int n = snprintf(buf + o, len - o, "%s%s", i ? ", " : "",
				 p->catalogue.methods[w->credentials[i]].name);
		if (n < 0 || (size_t)n >= len - o)
			break;
		o += (size_t)n;
	}
}

/*
 * A token bound to a key (RFC 7800 cnf) is worth no more than the proof
 * that whoever sent it holds the key: for "jkt" a DPoP proof the caller
 * checked (RFC 9449 §7.1), for "x5t#S256" the TLS client certificate a
 * trusted proxy passed (RFC 8705 §3).  A binding the gate cannot check
 * (a bare "jwk", a "kid", an empty cnf) is refused: taken as a bearer
 * token it would be the downgrade the binding is there to stop.  Any
 * workflow, person or machine.
 */
static bool bound_token(const struct ag_request *req,
			const struct ag_claims *c, struct ag_decision *d)
{
	const char *scheme = "Bearer";

	if (!c->cnf)
		return true;
	if (!c->cnf_jkt && !c->cnf_x5t) {
		detail(d, "the token's cnf binds it to a key in a form the "
			  "gate cannot check (only jkt and x5t#S256)");
	} else if (c->cnf_jkt && !req->dpop_verified) {
		detail(d, "the token is bound to a DPoP key (cnf jkt) and no "
			  "valid DPoP proof for this request came with it");
		scheme = "DPoP";
	} else if (c->cnf_x5t && !req->client_cert_x5t) {
		detail(d, "the token is bound to a client certificate (cnf "
			  "x5t#S256) and no client certificate was passed%s%.100s",
		       req->client_cert_problem
			       ? ": "
			       : " (client_cert_header, from a trusted proxy)",
		       req->client_cert_problem ? req->client_cert_problem
						: "");
	} else if (c->cnf_x5t && strcmp(c->cnf_x5t, req->client_cert_x5t)) {
		detail(d, "the token's cnf x5t#S256 is not the thumbprint of "
			  "the client certificate presented");
	} else {
		return true;
	}
	deny(d, 401, AG_R_CREDENTIAL);
	char desc[256];
	header_text(desc, sizeof(desc), d->detail);
	snprintf(d->www_authenticate, sizeof(d->www_authenticate),
		 "%s error=\"invalid_token\", error_description=\"%s\"",
		 scheme, desc);
	return false;
}

/*
 * A client whose kind is key-bound must show its binding: a cnf claim
 * (checked against the request by bound_token), the kind's own form of
 * it (x5t#S256 for mtls), bound to the key the inventory records.
 * Without that the token is a bearer token whoever holds it can use.
 */
static bool key_binding(const struct ag_method *kind,
			const struct ag_gate_client *cl,
			const struct ag_claims *c, const char *client,
			struct ag_decision *d)
{
	bool mtls = !strcmp(kind->name, "mtls");
	/* What the recorded key must equal: for mtls the certificate's
	 * thumbprint, else the DPoP key's (RFC 9449 §6.1) or the
	 * certificate's. */
	bool recorded_ok =
		!cl->thumbprint[0] ||
		(c->cnf_x5t && !strcmp(c->cnf_x5t, cl->thumbprint)) ||
		(!mtls && c->cnf_jkt && !strcmp(c->cnf_jkt, cl->thumbprint));

	if (!c->cnf)
		detail(d, "client '%.80s' holds a key-bound credential (%s) "
			  "and the token has no cnf claim",
		       client, kind->name);
	else if (mtls && !c->cnf_x5t)
		detail(d, "client '%.80s' uses mtls and the token's cnf has no "
			  "x5t#S256",
		       client);
	else if (!recorded_ok)
		detail(d, "client '%.80s': the token's cnf is bound to another "
			  "key than the one the inventory records",
		       client);
	else
		return true;
	deny(d, 401, AG_R_CREDENTIAL);
	www_invalid(d, "invalid_token");
	return false;
}

/* Machine workflows (docs/gate.md, docs/nhi.md): lifetime, client, credential
 * kind and binding, and scope. Returns true when the request may go on. */
static bool machine_checks(const struct ag_policy *p,
			   const struct ag_workflow *w,
			   const struct ag_gate_hooks *hooks,
			   const struct ag_request *req,
			   const struct ag_claims *c, struct ag_decision *d)
{
	if (w->max_token_lifetime) {
		if (!c->has_iat || !c->has_exp ||
		    c->exp - c->iat > w->max_token_lifetime) {
			char lim[32];
			ag_duration_format(w->max_token_lifetime, lim,
					   sizeof(lim));
			if (c->has_iat && c->has_exp)
				detail(d, "token lifetime %llds is over "
					  "workflow '%s' limit of %s",
				       (long long)(c->exp - c->iat), w->name,
				       lim);
			else
				detail(d, "token has no iat, so its lifetime "
					  "cannot be held to %s",
				       lim);
			deny(d, 401, AG_R_TOKEN_LIFETIME);
			www_invalid(d, "invalid_token");
			return false;
		}
	}
	/* The client is what the token says it was issued to (azp, or
	 * RFC 9068's client_id), never its subject: a person's sub that
	 * happens to equal a machine's id must not pass as that machine. */
	const char *client = c->azp;
	char why[160] = "";
	struct ag_gate_client cl;
	memset(&cl, 0, sizeof(cl));
	cl.method = -1;
	if (!client || !hooks || !hooks->client ||
	    !hooks->client(hooks->ctx, c->iss, client, req->now, &cl, why,
			   sizeof(why))) {
		why[sizeof(why) - 1] = '\0';
		if (!client)
			detail(d, "token names no client (azp or client_id)");
		else if (!hooks || !hooks->client)
			detail(d, "client '%.80s' cannot be checked: no "
				  "machine inventory is loaded",
			       client);
		else
			detail(d, "client '%.80s': %s", client, why);
		/* A source that could not be read is a failure, not a
		 * judgement of the client: fail closed, and say which. */
		deny(d, 403, cl.failed ? AG_R_INTERNAL : AG_R_CLIENT);
		www_forbidden(d);
		return false;
	}
	cl.thumbprint[sizeof(cl.thumbprint) - 1] = '\0';
	if (cl.method < 0 || (size_t)cl.method >= p->catalogue.n) {
		detail(d, "client '%.80s': its kind is not a method of the "
			  "policy's catalogue",
		       client);
		deny(d, 403, AG_R_CREDENTIAL);
		www_forbidden(d);
		return false;
	}
	const struct ag_method *kind = &p->catalogue.methods[cl.method];
	bool listed = w->n_credentials == 0;
	for (size_t i = 0; i < w->n_credentials; i++)
		if (w->credentials[i] == (uint16_t)cl.method)
			listed = true;
	if (!listed) {
		char names[128];
		credential_names(p, w, names, sizeof(names));
		detail(d, "client '%.80s' holds a %s credential; workflow '%s' "
			  "takes %s",
		       client, kind->name, w->name, names);
		deny(d, 403, AG_R_CREDENTIAL);
		www_forbidden(d);
		return false;
	}
	/* The hook's judgement (ag_nhi_key_bound), and the catalogue's in
	 * case a hook forgot: either makes the binding required. */
	if ((cl.key_bound || kind->phishing_resistant) &&
	    !key_binding(kind, &cl, c, client, d))
		return false;
	for (size_t i = 0; i < w->n_scopes; i++) {
		if (!has_scope(c->scope, w->scopes[i])) {
			char desc[160];
			detail(d, "scope '%.80s' is required", w->scopes[i]);
			header_text(desc, sizeof(desc), d->detail);
			deny(d, 403, AG_R_SCOPE);
			char scopes[256] = "";
			size_t o = 0;
			for (size_t k = 0; k < w->n_scopes; k++) {
				int n = snprintf(scopes + o, sizeof(scopes) - o,
						 "%s%s", k ? " " : "",
						 w->scopes[k]);
				if (n < 0 || (size_t)n >= sizeof(scopes) - o)
					break;
				o += (size_t)n;
			}
			char sc[256];
			header_text(sc, sizeof(sc), scopes);
			snprintf(d->www_authenticate,
				 sizeof(d->www_authenticate),
				 "Bearer error=\"insufficient_scope\", "
				 "error_description=\"%s\", scope=\"%s\"",
				 desc, sc);
			return false;
		}
	}
	return true;
}

static void describe_shortfall(struct ag_decision *d,
			       const struct ag_workflow *w)
{
	const struct ag_assurance *r = &d->required, *o = &d->observed;
	char need[64];

	snprintf(need, sizeof(need), "AAL%d%s%s", r->aal,
		 r->phishing_resistant ? ", phishing-resistant" : "",
		 r->hardware ? ", hardware" : "");
	if (o->aal < r->aal)
		detail(d, "workflow '%s' requires %s; the token shows AAL%d",
		       w->name, need, o->aal);
	else if (r->phishing_resistant && !o->phishing_resistant)
		detail(d, "workflow '%s' requires %s; the token's "
			  "authentication is not phishing-resistant",
		       w->name, need);
	else
		detail(d, "workflow '%s' requires %s; the token's "
			  "authenticator is not hardware-bound",
		       w->name, need);
}

void ag_gate_touch(struct ag_sessions *sessions,
		   const struct ag_claims *claims, int64_t now)
{
	if (sessions && claims && claims->sid)
		ag_sessions_touch(sessions, claims->iss, claims->sid, now);
}

void ag_gate_decide(const struct ag_gate *g, const struct ag_gate_hooks *hooks,
		    struct ag_sessions *sessions, const struct ag_request *req,
		    const struct ag_claims *claims, enum ag_token_error tokerr,
		    struct ag_decision *d)
{
	memset(d, 0, sizeof(*d));
	d->outcome = AG_DENY; /* every path below that forgets, denies */
	d->status = 403;
	d->workflow = -1;
	d->token_error = tokerr;

	if (!g || !req) {
		detail(d, "internal error: no policy");
		deny(d, 403, AG_R_INTERNAL);
		return;
	}
	const struct ag_policy *p = g->p;

	/* The route. */
	long wi;
	if (req->workflow) {
		wi = ag_policy_workflow(p, req->workflow);
		if (wi < 0) {
			detail(d, "no workflow '%.100s' in the policy",
			       req->workflow);
			deny(d, 403, AG_R_UNKNOWN_WORKFLOW);
			return;
		}
	} else {
		char path[AG_PATH_MAX];
		if (!ag_path_normalize(req->uri ? req->uri : "/", path,
				       sizeof(path))) {
			detail(d, "request target is not a valid path");
			deny(d, 403, AG_R_BAD_REQUEST);
			return;
		}
		wi = route_request(g, req, path);
		if (wi < 0) {
			detail(d, "no route matches and the policy sets no "
				  "default_workflow");
			deny(d, 403, AG_R_NO_ROUTE);
			return;
		}
	}
	if ((size_t)wi >= p->n_workflows) {
		detail(d, "internal error: route to a missing workflow");
		deny(d, 403, AG_R_INTERNAL);
		return;
	}
	d->workflow = wi;
	/* What the workflow needs, shown in every answer. */
	struct ag_workflow w;
	ag_workflow_need(&p->workflows[wi], NULL, &w);
	d->device_required = w.device;
	if (w.aal >= 0) {
		d->required.aal = w.aal;
		d->required.phishing_resistant = w.phishing_resistant;
		d->required.hardware = w.hardware;
	}
	struct ag_window win = {0, 0};
	if (!w.machine) /* a machine's token records no user login */
		ag_workflow_window(p, &w, &win);
	d->max_age = win.max_age;
	d->idle = win.idle;

	/* 1. No token.  2. Invalid token. */
	if (!claims && tokerr == AG_TOK_OK) {
		detail(d, "no bearer token");
		deny(d, 401, AG_R_NO_TOKEN);
		snprintf(d->www_authenticate, sizeof(d->www_authenticate),
			 "Bearer realm=\"aalgate\"");
		return;
	}
	if (!claims || tokerr != AG_TOK_OK) {
		if (!d->detail[0])
			detail(d, "token refused: %s",
			       ag_token_error_name(tokerr));
		deny(d, 401, AG_R_INVALID_TOKEN);
		www_invalid(d, "invalid_token");
		return;
	}
	/* Whom the answer is about: an ID token (OIDC Core §2) and a JWT
	 * access token (RFC 9068 §2.2) must say.  Without it the gate would
	 * allow somebody it cannot name to the application, which might
	 * take a name the client wrote instead. */
	if (!claims->sub || !*claims->sub) {
		detail(d, "the token names no subject (sub)");
		deny(d, 401, AG_R_INVALID_TOKEN);
		www_invalid(d, "invalid_token");
		return;
	}
	ag_claims_assurance(p, claims, &d->observed);

	/* 3. Network. */
	if (w.n_networks && !ip_in(req->ip, w.networks, w.n_networks)) {
		detail(d, "client address %.64s is outside workflow '%s' "
			  "networks",
		       req->ip ? req->ip : "(unknown)", w.name);
		deny(d, 403, AG_R_NETWORK);
		if (w.machine)
			www_forbidden(d);
		return;
	}
	/* 3a. A key-bound token, with its proof of possession. */
	if (!bound_token(req, claims, d))
		return;
	if (w.machine && !machine_checks(p, &w, hooks, req, claims, d))
		return;

	/* 4. Assurance. */
	if (w.aal == AG_AAL_MATCH_ACCOUNT) {
		struct ag_assurance own;
		if (!claims->sub || !hooks || !hooks->account_level ||
		    !hooks->account_level(hooks->ctx, claims->iss, claims->sub,
					  &own) ||
		    own.aal < 1) {
			detail(d, "workflow '%s' is held to the account's own "
				  "level, which is not known for '%.80s'",
			       w.name, claims->sub ? claims->sub : "?");
			deny(d, 403, AG_R_ACCOUNT_LEVEL_UNKNOWN);
			return;
		}
		ag_workflow_need(&p->workflows[wi], &own, &w);
		/* The account's level brings its profile window; the
		 * workflow may only tighten it. */
		struct ag_window own_win;
		if (own.aal >= 1 &&
		    ag_profile_window(p->profile, own.aal, &own_win) == AG_OK) {
			if (own_win.max_age &&
			    (!w.max_age || own_win.max_age < w.max_age))
				w.max_age = own_win.max_age;
			if (own_win.idle && (!w.idle || own_win.idle < w.idle))
				w.idle = own_win.idle;
		}
		if (!w.machine)
			ag_workflow_window(p, &w, &win);
		d->max_age = win.max_age;
		d->idle = win.idle;
	}
	char acr_buf[AG_WWW_AUTH_MAX / 2];
	const char *acr_values = "";
	if (w.aal >= 0) {
		d->required.aal = w.aal;
		d->required.phishing_resistant = w.phishing_resistant;
		d->required.hardware = w.hardware;
		if ((size_t)wi < p->n_workflows &&
		    p->workflows[wi].aal == w.aal)
			acr_values = g->acr_values[wi];
		else {
			acr_values_for(p, &w, acr_buf, sizeof(acr_buf));
			acr_values = acr_buf;
		}
		if (!ag_workflow_satisfied(&w, &d->observed)) {
			d->outcome = AG_STEP_UP;
			d->status = 401;
			if (d->observed.aal < d->required.aal)
				add_reason(d, AG_R_AAL);
			if (d->required.phishing_resistant &&
			    !d->observed.phishing_resistant)
				add_reason(d, AG_R_PHISHING_RESISTANT);
			if (d->required.hardware && !d->observed.hardware)
				add_reason(d, AG_R_HARDWARE);
			describe_shortfall(d, &w);
			www_step_up(d, acr_values, 0);
			return;
		}
	}

	/* 5. Session age and idle time. */
	if (win.max_age) {
		if (!claims->has_auth_time) {
			detail(d, "workflow '%s' needs authentication within "
				  "%llds and the token has no auth_time",
			       w.name, (long long)win.max_age);
		} else if (req->now - claims->auth_time > win.max_age) {
			detail(d, "authentication is %llds old; workflow '%s' "
				  "allows %llds",
			       (long long)(req->now - claims->auth_time),
			       w.name, (long long)win.max_age);
		}
		if (d->detail[0]) {
			d->outcome = AG_STEP_UP;
			d->status = 401;
			add_reason(d, AG_R_MAX_AGE);
			www_step_up(d, acr_values, win.max_age);
			return;
		}
	}
	if (win.idle) {
		int64_t last = claims->has_auth_time ? claims->auth_time : -1;
		int64_t seen;
		if (sessions && claims->sid &&
		    ag_sessions_last(sessions, claims->iss, claims->sid,
				     &seen) &&
		    seen > last)
			last = seen;
		if (last < 0 || req->now - last > win.idle) {
			if (last < 0)
				detail(d, "workflow '%s' allows %llds idle and "
					  "the session's last activity is "
					  "unknown",
				       w.name, (long long)win.idle);
			else
				detail(d, "session idle for %llds; workflow "
					  "'%s' allows %llds",
				       (long long)(req->now - last), w.name,
				       (long long)win.idle);
			d->outcome = AG_STEP_UP;
			d->status = 401;
			add_reason(d, AG_R_IDLE);
			www_step_up(d, acr_values, win.idle);
			return;
		}
	}

	/* 6. Device posture: a trusted proxy's header, else the claim. */
	d->device_observed = device_parse(req->device ? req->device
						      : claims->device);
	if (d->device_observed < w.device) {
		detail(d, "workflow '%s' requires a %s device; this one is %s",
		       w.name, ag_device_name(w.device),
		       ag_device_name(d->device_observed));
		deny(d, 403, AG_R_DEVICE);
		return;
	}

	/* 7. Just-in-time elevation. */
	if (w.jit) {
		if (!claims->sub || !hooks || !hooks->grant_active ||
		    !hooks->grant_active(hooks->ctx, claims->iss, claims->sub,
					 w.name,
					 req->now)) {
			detail(d, "workflow '%s' needs a just-in-time grant: "
				  "request one with 'aalgate grant request "
				  "--workflow %s'",
			       w.name, w.name);
			deny(d, 403, AG_R_JIT);
			return;
		}
	}

	/* 8. Allow. */
	if (!req->defer_touch)
		ag_gate_touch(sessions, claims, req->now);
	d->outcome = AG_ALLOW;
	d->status = 200;
	d->detail[0] = '\0';
}
