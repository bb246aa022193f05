/*
 * The policy's `sinks:` list (docs/govern.md): where alert and notification
 * obligations go.
 *
 *   sinks:
 *     - { name: ops-alerts, type: file, path: /var/log/aalgate/alerts.jsonl }
 *     - { name: pager, type: exec, command: [/usr/local/bin/page, --urgent],
 *         timeout: 10s, events: [alert] }
 *     - { name: soc, type: webhook, url: https://hooks.example/aalgate,
 *         timeout: 5s, ca_file: soc-ca.pem, bearer_file:
 * /etc/aalgate/soc.token, headers: { X-Team: secops } }
 *
 * Only the configuration is read here; src/govern/sinks.c delivers.  A
 * secret never sits in the policy in clear text: a bearer token is named
 * by the file that holds it, and an Authorization header or credentials
 * in the URL are refused.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "policy-sinks.h"
#include "banned.h"

#define NAME_MAX_LEN 64
#define COMMAND_MAX 64
#define HEADERS_MAX 32
#define URL_MAX 2048
#define HEADER_VALUE_MAX 1024
#define TIMEOUT_MAX 300

enum {
	K_NAME,
	K_TYPE,
	K_EVENTS,
	K_DESCRIPTION,
	K_PATH,
	K_COMMAND,
	K_TIMEOUT,
	K_URL,
	K_CA_FILE,
	K_BEARER_FILE,
	K_HEADERS,
	K__COUNT
};

static const char *const sink_keys[] = {
	"name",	   "type", "events",  "description", "path",	"command",
	"timeout", "url",  "ca_file", "bearer_file", "headers", NULL,
};

#define T_FILE (1u << AG_SINK_FILE)
#define T_EXEC (1u << AG_SINK_EXEC)
#define T_HOOK (1u << AG_SINK_WEBHOOK)
#define T_ALL (T_FILE | T_EXEC | T_HOOK)

/* The sink types each key belongs to. */
static const unsigned key_types[K__COUNT] = {
	[K_NAME] = T_ALL,
	[K_TYPE] = T_ALL,
	[K_EVENTS] = T_ALL,
	[K_DESCRIPTION] = T_ALL,
	[K_PATH] = T_FILE,
	[K_COMMAND] = T_EXEC,
	[K_TIMEOUT] = T_EXEC | T_HOOK,
	[K_URL] = T_HOOK,
	[K_CA_FILE] = T_HOOK,
	[K_BEARER_FILE] = T_HOOK,
	[K_HEADERS] = T_HOOK,
};

static const char *const type_names[] = {"file", "exec", "webhook"};

/* Header fields aalgate sets itself, or that carry secrets. */
static const char *const reserved_headers[] = {
	"content-type",
	"content-length",
	"content-encoding",
	"host",
	"transfer-encoding",
	"connection",
	"expect",
	"te",
	"upgrade",
	"idempotency-key",
	NULL,
};

const char *ag_sink_type_name(enum ag_sink_type t)
{
	return (unsigned)t < AG_ARRAY_SIZE(type_names) ? type_names[t] : "?";
}

/* ---- owning copies ----------------------------------------------------- */

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void ag_sink_release(struct ag_sink *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->path);
	free_list(s->command, s->n_command);
	free(s->url);
	free(s->ca_file);
	free(s->bearer_file);
	free_list(s->headers, s->n_headers);
	memset(s, 0, sizeof(*s));
}

static bool dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	return !src || (*dst = ag_strdup(src)) != NULL;
}

static bool dup_list(char ***dst, const char *const *src, size_t n)
{
	*dst = NULL;
	if (!n)
		return true;
	if (!(*dst = calloc(n, sizeof(char *))))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((*dst)[i] = ag_strdup(src[i])))
			return false;
	return true;
}

ag_code ag_sink_copy(struct ag_sink *dst, const struct ag_sink *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->type = src->type;
	dst->events = src->events;
	dst->timeout = src->timeout;
	dst->line = src->line;
	dst->col = src->col;
	/* The counts go in first so that a failed copy releases whatever
	 * was allocated (the lists are zeroed when they are made). */
	bool ok = dup_opt(&dst->name, src->name) &&
		  dup_opt(&dst->path, src->path) &&
		  dup_opt(&dst->url, src->url) &&
		  dup_opt(&dst->ca_file, src->ca_file) &&
		  dup_opt(&dst->bearer_file, src->bearer_file);
	if (ok) {
		dst->n_command = src->n_command;
		ok = dup_list(&dst->command, (const char *const *)src->command,
			      src->n_command);
	}
	if (ok) {
		dst->n_headers = src->n_headers;
		ok = dup_list(&dst->headers, (const char *const *)src->headers,
			      src->n_headers);
	}
	if (!ok) {
		if (!dst->command)
			dst->n_command = 0;
		if (!dst->headers)
			dst->n_headers = 0;
		ag_sink_release(dst);
		return AG_ERR_NOMEM;
	}
	return AG_OK;
}

void ag_policy_free_sinks(struct ag_policy *p)
{
	for (size_t i = 0; i < p->n_sinks; i++)
		ag_sink_release(&p->sinks[i]);
	free(p->sinks);
	p->sinks = NULL;
	p->n_sinks = 0;
}

/* ---- loading ----------------------------------------------------------- */

static ag_code nomem(struct ag_yreader *r)
{
	return ag_err(r->err, AG_ERR_NOMEM, "%s: out of memory", r->file);
}

/* A file named in the policy: a relative path is taken from the policy
 * file's folder, as for jwks_file. */
static ag_code path_value(struct ag_yreader *r, const struct ag_policy *p,
			  const struct ag_ynode *n, const char *what,
			  char **out)
{
	const char *s;
	ag_code rc = ag_ynode_string(r, n, what, &s);
	if (rc)
		return rc;
	if (!*s)
		return ag_ynode_err(r, n, AG_ERR_INVALID, "%s is empty", what);
	const char *slash = p->file ? strrchr(p->file, '/') : NULL;
	if (s[0] == '/' || !slash)
		return (*out = ag_strdup(s)) ? AG_OK : nomem(r);
	size_t dl = (size_t)(slash - p->file) + 1, nl = strlen(s);
	if (!(*out = malloc(dl + nl + 1)))
		return nomem(r);
	memcpy(*out, p->file, dl);
	memcpy(*out + dl, s, nl + 1);
	return AG_OK;
}

static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '_' && c != '-')))
			return false;
	}
	return true;
}

/* The host of an http:// URL must be a loopback address written as
 * one: a name could resolve anywhere, and the body would cross the
 * network in clear. */
static bool loopback_authority(const char *a, size_t n)
{
	char host[64];
	const char *end;

	if (n && a[0] == '[') {
		end = memchr(a, ']', n);
		if (!end)
			return false;
		size_t hl = (size_t)(end - a) - 1;
		if (hl >= sizeof(host))
			return false;
		memcpy(host, a + 1, hl);
		host[hl] = '\0';
		struct in6_addr in6;
		end++;
		if (inet_pton(AF_INET6, host, &in6) != 1 ||
		    !IN6_IS_ADDR_LOOPBACK(&in6))
			return false;
	} else {
		end = memchr(a, ':', n);
		if (!end)
			end = a + n;
		size_t hl = (size_t)(end - a);
		if (hl >= sizeof(host))
			return false;
		memcpy(host, a, hl);
		host[hl] = '\0';
		unsigned char in4[4];
		if (inet_pton(AF_INET, host, in4) != 1 || in4[0] != 127)
			return false;
	}
	/* What follows the host is nothing or ":PORT". */
	const char *stop = a + n;
	if (end == stop)
		return true;
	if (*end != ':' || end + 1 == stop)
		return false;
	for (const char *c = end + 1; c < stop; c++)
		if (*c < '0' || *c > '9')
			return false;
	return true;
}

static ag_code url_value(struct ag_yreader *r, const struct ag_ynode *n,
			 char **out)
{
	const char *s, *rest;
	ag_code rc = ag_ynode_string(r, n, "url", &s);
	bool plain_http = false;

	if (rc)
		return rc;
	size_t len = strlen(s);
	if (len > URL_MAX)
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "url is longer than %d bytes", URL_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return ag_ynode_err(r, n, AG_ERR_INVALID,
					    "url '%s' holds a space, a control "
					    "character or a byte outside "
					    "ASCII; percent-encode it",
					    s);
	if (!strncasecmp(s, "https://", 8)) {
		rest = s + 8;
	} else if (!strncasecmp(s, "http://", 7)) {
		rest = s + 7;
		plain_http = true;
	} else {
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "url must start with https:// (or "
				    "http:// to a loopback address), not '%s'",
				    s);
	}
	size_t alen = strcspn(rest, "/?#");
	if (memchr(rest, '@', alen))
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "url '%s' holds credentials, which would "
				    "sit in the policy in clear text; put a "
				    "bearer token in bearer_file instead",
				    s);
	if (alen == 0)
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "url '%s' has no host", s);
	if (plain_http && !loopback_authority(rest, alen))
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "url '%s' uses http:// to a host that is "
				    "not a loopback address; use https:// "
				    "(http:// is accepted only for 127.0.0.1 "
				    "or [::1], written as such)",
				    s);
	return (*out = ag_strdup(s)) ? AG_OK : nomem(r);
}

static bool tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static ag_code headers_value(struct ag_yreader *r, struct ag_sink *s,
			     const struct ag_ynode *n)
{
	ag_code rc;

	if ((rc = ag_ynode_expect_map(r, n, "headers")))
		return rc;
	if (n->n / 2 > HEADERS_MAX)
		return ag_ynode_err(r, n, AG_ERR_LIMIT,
				    "too many headers (at most %d)",
				    HEADERS_MAX);
	if (!n->n)
		return AG_OK;
	if (!(s->headers = calloc(n->n / 2, sizeof(char *))))
		return nomem(r);
	for (size_t i = 0; i < n->n; i += 2) {
		const struct ag_ynode *k = n->items[i], *v = n->items[i + 1];
		const char *val;
		if (!k->len || k->len > 128)
			return ag_ynode_err(r, k, AG_ERR_INVALID,
					    "a header name must be 1 to 128 "
					    "characters");
		for (size_t j = 0; j < k->len; j++)
			if (!tchar(k->str[j]))
				return ag_ynode_err(r, k, AG_ERR_INVALID,
						    "bad header name '%s'",
						    k->str);
		if (!strcasecmp(k->str, "authorization") ||
		    !strcasecmp(k->str, "proxy-authorization") ||
		    !strcasecmp(k->str, "cookie"))
			return ag_ynode_err(r, k, AG_ERR_INVALID,
					    "header '%s' would keep a secret "
					    "in the policy in clear text; name "
					    "a file holding a bearer token in "
					    "bearer_file instead",
					    k->str);
		for (const char *const *h = reserved_headers; *h; h++)
			if (!strcasecmp(k->str, *h))
				return ag_ynode_err(r, k, AG_ERR_INVALID,
						    "header '%s' is set by "
						    "aalgate",
						    k->str);
		if ((rc = ag_ynode_string(r, v, "a header value", &val)))
			return rc;
		size_t vl = strlen(val);
		if (vl > HEADER_VALUE_MAX)
			return ag_ynode_err(r, v, AG_ERR_INVALID,
					    "header '%s' is longer than %d "
					    "bytes",
					    k->str, HEADER_VALUE_MAX);
		for (size_t j = 0; j < vl; j++)
			if ((unsigned char)val[j] < 0x20 ||
			    (unsigned char)val[j] == 0x7f)
				return ag_ynode_err(r, v, AG_ERR_INVALID,
						    "header '%s' holds a "
						    "control character",
						    k->str);
		size_t total = k->len + 2 + vl + 1;
		char *line = malloc(total);
		if (!line)
			return nomem(r);
		snprintf(line, total, "%s: %s", k->str, val);
		s->headers[s->n_headers++] = line;
	}
	return AG_OK;
}

static ag_code events_value(struct ag_yreader *r, struct ag_sink *s,
			    const struct ag_ynode *n)
{
	const struct ag_ynode *const *items = &n;
	size_t count = 1;
	ag_code rc;

	if (n->type == AG_Y_SEQ) {
		items = (const struct ag_ynode *const *)n->items;
		count = n->n;
	} else if (n->type != AG_Y_SCALAR || ag_ynode_is_null(n)) {
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "events must be a list of alert and "
				    "notify, not %s",
				    ag_ytype_name(n));
	}
	if (!count)
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "events must list alert, notify or both");
	s->events = 0;
	for (size_t i = 0; i < count; i++) {
		const char *e;
		unsigned bit;
		if ((rc = ag_ynode_string(r, items[i], "an event", &e)))
			return rc;
		if (!strcmp(e, "alert")) {
			bit = AG_SINK_ALERT;
		} else if (!strcmp(e, "notify")) {
			bit = AG_SINK_NOTIFY;
		} else {
			struct ag_suggest sg;
			ag_suggest_init(&sg, e);
			ag_suggest_add(&sg, "alert");
			ag_suggest_add(&sg, "notify");
			rc = ag_ynode_err(r, items[i], AG_ERR_INVALID,
					  "unknown event '%s' (alert or "
					  "notify)",
					  e);
			ag_err_hint(r->err, ag_suggest_best(&sg));
			return rc;
		}
		if (s->events & bit)
			return ag_ynode_err(r, items[i], AG_ERR_INVALID,
					    "event '%s' is listed twice", e);
		s->events |= bit;
	}
	return AG_OK;
}

static ag_code command_value(struct ag_yreader *r, struct ag_sink *s,
			     const struct ag_ynode *n)
{
	ag_code rc;

	if (n->type != AG_Y_SEQ)
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "command must be a list such as "
				    "[/usr/local/bin/page, --urgent], not %s: "
				    "it runs without a shell",
				    ag_ytype_name(n));
	if (!n->n)
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "command must name a program");
	if (n->n > COMMAND_MAX)
		return ag_ynode_err(r, n, AG_ERR_LIMIT,
				    "command has more than %d arguments",
				    COMMAND_MAX);
	if (!(s->command = calloc(n->n, sizeof(char *))))
		return nomem(r);
	for (size_t i = 0; i < n->n; i++) {
		const char *a;
		if ((rc = ag_ynode_string(r, n->items[i], "a command argument",
					  &a)))
			return rc;
		if (i == 0 && a[0] != '/')
			return ag_ynode_err(r, n->items[i], AG_ERR_INVALID,
					    "command '%s' must be an absolute "
					    "path: it runs without a shell or "
					    "a PATH search",
					    a);
		if (!(s->command[i] = ag_strdup(a)))
			return nomem(r);
		s->n_command++;
	}
	return AG_OK;
}

static ag_code load_sink(struct ag_yreader *r, struct ag_policy *p,
			 const struct ag_ynode *n)
{
	const struct ag_ynode *v[K__COUNT];
	char where[100] = "a sink";
	const char *s;
	ag_code rc;

	if ((rc = ag_ynode_expect_map(r, n, "a sink")))
		return rc;
	/* The name first, so that every later message can say whose. */
	for (size_t i = 0; i + 1 < n->n; i += 2)
		if (!strcmp(n->items[i]->str, "name") &&
		    n->items[i + 1]->type == AG_Y_SCALAR)
			snprintf(where, sizeof(where), "sink '%.64s'",
				 n->items[i + 1]->str);
	if ((rc = ag_ynode_fields(r, n, where, sink_keys, v)))
		return rc;

	struct ag_sink *sk = &p->sinks[p->n_sinks++];
	memset(sk, 0, sizeof(*sk));
	sk->line = n->line;
	sk->col = n->col;
	sk->events = AG_SINK_ALERT | AG_SINK_NOTIFY;

	if (!v[K_NAME])
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "a sink needs a name");
	if ((rc = ag_ynode_string(r, v[K_NAME], "a sink name", &s)))
		return rc;
	if (!name_ok(s, strlen(s)))
		return ag_ynode_err(r, v[K_NAME], AG_ERR_INVALID,
				    "bad sink name '%s' (1 to %d letters, "
				    "digits, '_' and '-', starting with a "
				    "letter or digit)",
				    s, NAME_MAX_LEN);
	for (size_t i = 0; i + 1 < p->n_sinks; i++)
		if (!strcmp(p->sinks[i].name, s))
			return ag_ynode_err(r, v[K_NAME], AG_ERR_INVALID,
					    "sink name '%s' is used twice "
					    "(first at line %u)",
					    s, p->sinks[i].line);
	if (!(sk->name = ag_strdup(s)))
		return nomem(r);

	if (!v[K_TYPE])
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "%s needs a type (file, exec or webhook)",
				    where);
	if ((rc = ag_ynode_string(r, v[K_TYPE], "a sink type", &s)))
		return rc;
	size_t t = 0;
	while (t < AG_ARRAY_SIZE(type_names) && strcmp(type_names[t], s))
		t++;
	if (t == AG_ARRAY_SIZE(type_names)) {
		struct ag_suggest sg;
		ag_suggest_init(&sg, s);
		for (size_t i = 0; i < AG_ARRAY_SIZE(type_names); i++)
			ag_suggest_add(&sg, type_names[i]);
		rc = ag_ynode_err(r, v[K_TYPE], AG_ERR_INVALID,
				  "unknown sink type '%s' (file, exec or "
				  "webhook)",
				  s);
		ag_err_hint(r->err, ag_suggest_best(&sg));
		return rc;
	}
	sk->type = (enum ag_sink_type)t;
	sk->timeout = sk->type == AG_SINK_EXEC ? 10 : 5;

	/* A key of another type is an error, not a silent no-op: a file
	 * sink with a url was meant to be something else. */
	for (size_t k = 0; k < K__COUNT; k++) {
		if (!v[k] || (key_types[k] & (1u << t)))
			continue;
		const char *owner = key_types[k] == T_FILE   ? "file sinks"
				    : key_types[k] == T_EXEC ? "exec sinks"
				    : key_types[k] == T_HOOK ? "webhook sinks"
							     : "exec and "
							       "webhook sinks";
		return ag_ynode_err(r, v[k], AG_ERR_INVALID,
				    "%s: %s is for %s, not %s", where,
				    sink_keys[k], owner, type_names[t]);
	}

	if (v[K_EVENTS] && (rc = events_value(r, sk, v[K_EVENTS])))
		return rc;
	if (v[K_DESCRIPTION] &&
	    (rc = ag_ynode_string(r, v[K_DESCRIPTION], "description", &s)))
		return rc;
	if (v[K_PATH] && (rc = path_value(r, p, v[K_PATH], "path", &sk->path)))
		return rc;
	if (v[K_COMMAND] && (rc = command_value(r, sk, v[K_COMMAND])))
		return rc;
	if (v[K_TIMEOUT]) {
		if ((rc = ag_ynode_duration(r, v[K_TIMEOUT], "timeout",
					    &sk->timeout)))
			return rc;
		if (sk->timeout < 1 || sk->timeout > TIMEOUT_MAX)
			return ag_ynode_err(r, v[K_TIMEOUT], AG_ERR_INVALID,
					    "timeout must be from 1s to 5m");
	}
	if (v[K_URL] && (rc = url_value(r, v[K_URL], &sk->url)))
		return rc;
	if (v[K_CA_FILE] &&
	    (rc = path_value(r, p, v[K_CA_FILE], "ca_file", &sk->ca_file)))
		return rc;
	if (v[K_BEARER_FILE] &&
	    (rc = path_value(r, p, v[K_BEARER_FILE], "bearer_file",
			     &sk->bearer_file)))
		return rc;
	if (v[K_HEADERS] && (rc = headers_value(r, sk, v[K_HEADERS])))
		return rc;

	static const int needs[] = {K_PATH, K_COMMAND, K_URL};
	if (!v[needs[t]])
		return ag_ynode_err(r, n, AG_ERR_INVALID, "%s needs a %s",
				    where, sink_keys[needs[t]]);
	if (sk->ca_file && strncasecmp(sk->url, "https://", 8))
		return ag_ynode_err(r, v[K_CA_FILE], AG_ERR_INVALID,
				    "%s: ca_file is for an https:// url",
				    where);
	return AG_OK;
}

ag_code ag_policy_load_sinks(struct ag_yreader *r, struct ag_policy *p,
			     const struct ag_ynode *n)
{
	ag_code rc;

	if (n->type != AG_Y_SEQ)
		return ag_ynode_err(r, n, AG_ERR_INVALID,
				    "sinks must be a list, not %s",
				    ag_ytype_name(n));
	if (n->n > AG_SINKS_MAX)
		return ag_ynode_err(r, n, AG_ERR_LIMIT,
				    "too many sinks (at most %d)",
				    AG_SINKS_MAX);
	if (!n->n)
		return AG_OK;
	if (!(p->sinks = calloc(n->n, sizeof(*p->sinks))))
		return nomem(r);
	for (size_t i = 0; i < n->n; i++)
		if ((rc = load_sink(r, p, n->items[i])))
			return rc;
	return AG_OK;
}
