/*
 * aalgate nhi import --state DB -p POLICY INVENTORY...
 * aalgate nhi list --state DB [--all] [--format text|json]
 * aalgate nhi owner set ID --state DB [--status S] [--team T]
 *
 * Machine identities in the state store (docs/nhi.md): an import merges
 * inventories by (issuer, id) and keeps every rotated-out version as
 * history; owners are offboarded here, and the gate (serve --state) sees
 * it at the next request.  After a change the store's journal is moved
 * into the decision log when this process can take the log's lock; while
 * a gate holds it, the gate logs the change within a second.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aalgate/govern.h"
#include "aalgate/nhi.h"
#include "cli.h"
#include "report/report.h"
#include "util.h"
#include "banned.h"

static const char import_usage[] =
	"usage: aalgate nhi import --state DB -p POLICY INVENTORY...\n"
	"                          [--decision-log FILE]\n"
	"\n"
	"Merge inventories into the state store, by issuer and id, without\n"
	"losing history.  An INVENTORY is recognised by its content: the\n"
	"generic CSV or JSON/YAML form (docs/nhi.md), an estate file, a\n"
	"Keycloak realm export or an AWS IAM credential report.\n"
	"\n"
	"  - a record the store lacks is added;\n"
	"  - a record with a later rotation (last_rotated, else created) is a\n"
	"    rotation: the stored version is kept, marked retired, and the\n"
	"    record becomes the next version;\n"
	"  - a record older than the stored version changes nothing;\n"
	"  - any other difference updates the stored version;\n"
	"  - nothing is deleted, and importing the same inventory twice\n"
	"    changes nothing.\n"
	"\n"
	"Owners listed in an inventory are added or updated; owners its\n"
	"records name without an owners list are added as active unless the\n"
	"store knows them (an offboarding stays).\n"
	"\n"
	"  -s, --state DB           the state file (created 0600 if missing)\n"
	"  -p, --policy FILE        the policy: kinds and workflows are checked\n"
	"                           against it\n"
	"  -d, --decision-log FILE  where changes are logged (default\n"
	"                           aalgate-decisions.jsonl beside the state)\n"
	"  -h, --help               this text\n"
	"\n"
	"Exit status: 0 done (changed or not); 2 bad input or usage, or the\n"
	"state could not be used (nothing is written then).\n";

static const char list_usage[] =
	"usage: aalgate nhi list --state DB [--all] [--format text|json]\n"
	"\n"
	"The machine identities in the state store, by issuer and id, and\n"
	"their owners.  Owner statuses are the store's judgement: offboarded\n"
	"when the record or the owner entry says so, unknown for an owner the\n"
	"store does not know.\n"
	"\n"
	"  -s, --state DB       the state file (opened read-only)\n"
	"  -a, --all            every version, the retired ones too\n"
	"  -f, --format FORMAT  text (default) or json\n"
	"  -h, --help           this text\n"
	"\n"
	"Exit status: 0 listed; 2 bad usage, or the state could not be read.\n";

static const char owner_usage[] =
	"usage: aalgate nhi owner set ID --state DB [--status active|offboarded]\n"
	"                             [--team TEAM] [--decision-log FILE]\n"
	"\n"
	"Record an owner of machine identities: offboarding one makes every\n"
	"identity it owns refused at the gate (serve --state) from the next\n"
	"request, and an orphan (AG-N01) to nhi audit --state.  A new owner\n"
	"is active unless --status says otherwise; --team \"\" clears the\n"
	"team.\n"
	"\n"
	"  -s, --state DB           the state file (created 0600 if missing)\n"
	"      --status STATUS      active or offboarded\n"
	"  -t, --team TEAM          the owner's team\n"
	"  -d, --decision-log FILE  where changes are logged (default\n"
	"                           aalgate-decisions.jsonl beside the state)\n"
	"  -h, --help               this text\n"
	"\n"
	"Exit status: 0 done (changed or not); 2 bad input or usage, or the\n"
	"state could not be used.\n";

static void date_text(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (!gmtime_r(&tt, &tm) ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

/* Names from a file or the store go to a terminal: no control
 * characters. */
static const char *printable(const char *s, char *buf, size_t len)
{
	size_t o = 0;
	for (; s && *s && o + 1 < len; s++)
		buf[o++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
	buf[o] = '\0';
	return buf;
}

/* The options every subcommand reads; each says which it takes. */
struct nhi_args {
	const char *name; /* "nhi import" */
	const char *usage;
	const char *state, *policy, *log, *format, *team;
	int status; /* -1: not given */
	bool all;
	int first; /* the first positional argument */
};

/* Reads the options; allowed lists those (short names, 'S' for
 * --status) this subcommand takes.  Returns -1 to go on, else an exit
 * status. */
static int nhi_parse(int argc, char **argv, const char *allowed,
		     struct nhi_args *a)
{
	static const char optstring[] = ":s:p:d:f:at:h";
	static const struct option opts[] = {
		{"state", required_argument, NULL, 's'},
		{"policy", required_argument, NULL, 'p'},
		{"decision-log", required_argument, NULL, 'd'},
		{"format", required_argument, NULL, 'f'},
		{"all", no_argument, NULL, 'a'},
		{"status", required_argument, NULL, 'S'},
		{"team", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
		if (c != ':' && c != '?' && c != 'h' && !strchr(allowed, c))
			return ag_cli_die(a->name, "unknown option '%s'; see "
					  "'aalgate %s --help'",
					  argv[optind - 1], a->name);
		switch (c) {
		case 's':
			a->state = optarg;
			break;
		case 'p':
			a->policy = optarg;
			break;
		case 'd':
			a->log = optarg;
			break;
		case 'f':
			a->format = optarg;
			if (strcmp(optarg, "text") && strcmp(optarg, "json"))
				return ag_cli_die(a->name, "unknown format "
						  "'%s' (text or json)",
						  optarg);
			break;
		case 'a':
			a->all = true;
			break;
		case 'S':
			if (!strcmp(optarg, "active"))
				a->status = AG_OWNER_ACTIVE;
			else if (!strcmp(optarg, "offboarded"))
				a->status = AG_OWNER_OFFBOARDED;
			else
				return ag_cli_die(a->name, "unknown status "
						  "'%s' (active or "
						  "offboarded)",
						  optarg);
			break;
		case 't':
			a->team = optarg;
			break;
		case 'h':
			fputs(a->usage, stdout);
			return AG_EXIT_OK;
		case ':':
			return ag_cli_die(a->name, "option '%s' needs a value",
					  argv[optind - 1]);
		default:
			return ag_cli_die(a->name, "unknown option '%s'; see "
					  "'aalgate %s --help'",
					  argv[optind - 1], a->name);
		}
	}
	if (!a->state)
		return ag_cli_die(a->name, "a state file is required "
				  "(--state DB)");
	a->first = optind;
	return -1;
}

/* ---- import ------------------------------------------------------------ */

int cmd_nhi_import(int argc, char **argv)
{
	struct nhi_args a = {.name = "nhi import", .usage = import_usage,
			     .status = -1};
	struct ag_policy *p = NULL;
	struct ag_store *st = NULL;
	struct ag_nhi_inventory inv;
	struct ag_store_nhi_counts n;
	struct ag_error err;
	bool have_inv = false;
	int ret;

	if ((ret = nhi_parse(argc, argv, "spd", &a)) >= 0)
		return ret;
	if (!a.policy)
		return ag_cli_die(a.name, "a policy is required (-p FILE)");
	if (a.first >= argc)
		return ag_cli_die(a.name, "no inventory given; see 'aalgate "
				  "nhi import --help'");
	ag_error_init(&err);
	ret = AG_EXIT_USAGE;
	if (ag_policy_load(a.policy, &p, &err) != AG_OK) {
		fprintf(stderr, "aalgate %s: %s\n", a.name, err.msg);
		goto out;
	}
	if (ag_nhi_inventory_init(&inv) != AG_OK) {
		ag_cli_die(a.name, "out of memory");
		goto out;
	}
	have_inv = true;
	for (int i = a.first; i < argc; i++)
		if (ag_nhi_load(&inv, p, argv[i], AG_NHI_AUTO, &err) != AG_OK) {
			fprintf(stderr, "aalgate %s: %s\n", a.name, err.msg);
			goto out;
		}
	if (ag_nhi_resolve(&inv, p, &err) != AG_OK) {
		fprintf(stderr, "aalgate %s: %s\n", a.name, err.msg);
		goto out;
	}
	if (ag_store_open(a.state, NULL, &st, &err) != AG_OK ||
	    ag_store_nhi_import(st, &inv, (int64_t)time(NULL), &n, &err) !=
		    AG_OK) {
		fprintf(stderr, "aalgate %s: %s\n", a.name, err.msg);
		goto out;
	}
	printf("%s: %zu machine identit%s read; added %zu, rotated %zu, "
	       "changed %zu, unchanged %zu, retired %zu, older %zu; owners "
	       "added %zu, changed %zu\n",
	       a.state, inv.n, inv.n == 1 ? "y" : "ies", n.added, n.rotated,
	       n.changed, n.unchanged, n.retired, n.older, n.owners_added,
	       n.owners_changed);
	if (n.older)
		printf("  %zu record%s older than the stored version: left as "
		       "stored\n",
		       n.older, n.older == 1 ? " is" : "s are");
	if (n.journal_seq)
		ag_cli_journal_to_log(a.name, a.state, a.log, st);
	else
		printf("  nothing changed\n");
	ret = AG_EXIT_OK;
out:
	ag_store_close(st);
	if (have_inv)
		ag_nhi_inventory_release(&inv);
	ag_policy_free(p);
	return ret;
}

/* ---- list -------------------------------------------------------------- */

static void jw_opt(struct ag_jsonw *w, const char *k, const char *v)
{
	ag_jw_key(w, k);
	if (v)
		ag_jw_str(w, v);
	else
		ag_jw_null(w);
}

static void jw_time(struct ag_jsonw *w, const char *k, int64_t t)
{
	char buf[40];
	ag_jw_key(w, k);
	if (t) {
		date_text(t, buf, sizeof(buf));
		ag_jw_str(w, buf);
	} else {
		ag_jw_null(w);
	}
}

static void jw_list(struct ag_jsonw *w, const char *k,
		    const struct ag_nhi_list *l)
{
	ag_jw_key(w, k);
	if (!l->known) {
		ag_jw_null(w);
		return;
	}
	ag_jw_arr(w);
	for (size_t i = 0; i < l->n; i++)
		ag_jw_str(w, l->v[i]);
	ag_jw_arr_end(w);
}

static void list_json(struct ag_store *st, const struct ag_store_nhi_list *l)
{
	struct ag_jsonw w;

	ag_jw_init(&w, stdout, 4);
	ag_jw_obj(&w);
	ag_jw_key(&w, "store");
	ag_jw_str(&w, ag_store_id(st));
	ag_jw_key(&w, "records");
	ag_jw_arr(&w);
	for (size_t i = 0; i < l->n; i++) {
		const struct ag_nhi *r = &l->v[i].rec;
		const struct ag_store_nhi_version *v = &l->v[i].v;
		ag_jw_obj(&w);
		jw_opt(&w, "issuer", r->issuer);
		jw_opt(&w, "id", r->id);
		ag_jw_key(&w, "version");
		ag_jw_int(&w, v->version);
		ag_jw_key(&w, "current");
		ag_jw_bool(&w, v->current);
		jw_opt(&w, "kind", r->kind);
		jw_opt(&w, "status",
		       ag_nhi_status_name((enum ag_nhi_status)r->status));
		jw_opt(&w, "owner", r->owner);
		jw_opt(&w, "owner_status",
		       ag_owner_status_name(
			       (enum ag_owner_status)r->owner_status));
		jw_opt(&w, "team", r->team);
		jw_opt(&w, "purpose", r->purpose);
		jw_opt(&w, "workflow", r->workflow);
		jw_opt(&w, "thumbprint", r->thumbprint);
		jw_time(&w, "created", r->created);
		/* expires: a date, or "never" (no expiry) */
		ag_jw_key(&w, "expires");
		if (r->expires) {
			char buf[40];
			date_text(r->expires, buf, sizeof(buf));
			ag_jw_str(&w, buf);
		} else {
			ag_jw_str(&w, "never");
		}
		jw_time(&w, "last_rotated", r->last_rotated);
		ag_jw_key(&w, "last_used");
		if (r->last_used) {
			char buf[40];
			date_text(r->last_used, buf, sizeof(buf));
			ag_jw_str(&w, buf);
		} else if (r->never_used) {
			ag_jw_str(&w, "never");
		} else {
			ag_jw_null(&w);
		}
		ag_jw_key(&w, "interactive");
		ag_jw_bool(&w, r->interactive);
		ag_jw_key(&w, "root");
		ag_jw_bool(&w, r->root);
		jw_list(&w, "scopes", &r->scopes);
		jw_list(&w, "used_scopes", &r->used_scopes);
		jw_list(&w, "environments", &r->environments);
		jw_list(&w, "used_by", &r->used_by);
		jw_time(&w, "imported", v->imported);
		jw_time(&w, "updated", v->updated);
		jw_time(&w, "retired", v->retired);
		ag_jw_obj_end(&w);
	}
	ag_jw_arr_end(&w);
	ag_jw_key(&w, "owners");
	ag_jw_arr(&w);
	for (size_t i = 0; i < l->n_owners; i++) {
		ag_jw_obj(&w);
		jw_opt(&w, "id", l->owners[i].id);
		jw_opt(&w, "team", l->owners[i].team);
		jw_opt(&w, "status",
		       ag_owner_status_name(
			       (enum ag_owner_status)l->owners[i].status));
		ag_jw_obj_end(&w);
	}
	ag_jw_arr_end(&w);
	ag_jw_obj_end(&w);
	ag_jw_end(&w);
}

static void list_text(const struct ag_store_nhi_list *l, bool all)
{
	char b1[300], b2[300], b3[80], when[40];

	if (!l->n)
		printf("no machine identities\n");
	for (size_t i = 0; i < l->n; i++) {
		const struct ag_nhi *r = &l->v[i].rec;
		const struct ag_store_nhi_version *v = &l->v[i].v;
		printf("%s", printable(r->id, b1, sizeof(b1)));
		if (r->issuer)
			printf(" (issuer %s)", printable(r->issuer, b1,
							 sizeof(b1)));
		printf("  v%u  %s  %s", v->version,
		       printable(r->kind, b2, sizeof(b2)),
		       ag_nhi_status_name((enum ag_nhi_status)r->status));
		printf("  owner %s (%s)",
		       r->owner && *r->owner ? printable(r->owner, b3,
							 sizeof(b3))
					     : "-",
		       ag_owner_status_name(
			       (enum ag_owner_status)r->owner_status));
		if (r->last_rotated || r->created) {
			date_text(r->last_rotated ? r->last_rotated
						  : r->created,
				  when, sizeof(when));
			printf("  %s %s", r->last_rotated ? "rotated"
							  : "created",
			       when);
		}
		if (r->expires) {
			date_text(r->expires, when, sizeof(when));
			printf("  expires %s", when);
		}
		if (!v->current) {
			date_text(v->retired, when, sizeof(when));
			printf("  retired %s (history)", when);
		} else if (all) {
			printf("  (current)");
		}
		putchar('\n');
	}
	if (l->n_owners)
		printf("owners:\n");
	for (size_t i = 0; i < l->n_owners; i++) {
		const struct ag_nhi_owner *o = &l->owners[i];
		printf("  %s  %s", printable(o->id, b1, sizeof(b1)),
		       ag_owner_status_name((enum ag_owner_status)o->status));
		if (o->team)
			printf("  team %s", printable(o->team, b2, sizeof(b2)));
		putchar('\n');
	}
}

int cmd_nhi_list(int argc, char **argv)
{
	struct nhi_args a = {.name = "nhi list", .usage = list_usage,
			     .format = "text", .status = -1};
	struct ag_store_opts so = {.read_only = true};
	struct ag_store *st = NULL;
	struct ag_store_nhi_list l = {0};
	struct ag_error err;
	int ret;

	if ((ret = nhi_parse(argc, argv, "sfa", &a)) >= 0)
		return ret;
	if (a.first < argc)
		return ag_cli_die(a.name, "unexpected argument '%s'",
				  argv[a.first]);
	ag_error_init(&err);
	if (ag_store_open(a.state, &so, &st, &err) != AG_OK ||
	    ag_store_nhi_list(st, a.all, &l, &err) != AG_OK) {
		fprintf(stderr, "aalgate %s: %s\n", a.name, err.msg);
		ag_store_close(st);
		return AG_EXIT_USAGE;
	}
	if (!strcmp(a.format, "json"))
		list_json(st, &l);
	else
		list_text(&l, a.all);
	ag_store_nhi_list_release(&l);
	ag_store_close(st);
	return AG_EXIT_OK;
}

/* ---- owner set --------------------------------------------------------- */

int cmd_nhi_owner(int argc, char **argv)
{
	struct nhi_args a = {.name = "nhi owner set", .usage = owner_usage,
			     .status = -1};
	struct ag_store *st = NULL;
	struct ag_error err;
	bool changed = false;
	char b1[300];
	int ret;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(owner_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? AG_EXIT_USAGE : AG_EXIT_OK;
	}
	if (strcmp(argv[1], "set"))
		return ag_cli_die("nhi owner", "unknown subcommand '%s' (set); "
				  "see 'aalgate nhi owner --help'",
				  argv[1]);
	if ((ret = nhi_parse(argc - 1, argv + 1, "sStd", &a)) >= 0)
		return ret;
	/* getopt_long moved the ID behind the options. */
	argc--;
	argv++;
	if (argc - a.first != 1)
		return ag_cli_die(a.name, "give one owner ID; see 'aalgate nhi "
				  "owner --help'");
	const char *id = argv[a.first];
	if (a.status < 0 && !a.team)
		return ag_cli_die(a.name, "nothing to set: give --status or "
				  "--team");
	ag_error_init(&err);
	ret = AG_EXIT_USAGE;
	if (ag_store_open(a.state, NULL, &st, &err) != AG_OK ||
	    ag_store_nhi_owner_set(st, id, a.status, a.team,
				   (int64_t)time(NULL), &changed,
				   &err) != AG_OK) {
		fprintf(stderr, "aalgate %s: %s\n", a.name, err.msg);
		goto out;
	}
	if (changed) {
		printf("owner '%s' set%s%s%s%s\n", printable(id, b1, sizeof(b1)),
		       a.status >= 0 ? ": " : "",
		       a.status >= 0 ? ag_owner_status_name(
					       (enum ag_owner_status)a.status)
				     : "",
		       a.team ? (*a.team ? ", team " : ", no team") : "",
		       a.team ? a.team : "");
		ag_cli_journal_to_log(a.name, a.state, a.log, st);
	} else {
		printf("owner '%s' is so already: nothing changed\n",
		       printable(id, b1, sizeof(b1)));
	}
	ret = AG_EXIT_OK;
out:
	ag_store_close(st);
	return ret;
}

/* ---- nhi audit --state --------------------------------------------------- */

int ag_cli_nhi_state(const char *cmd, const char *state,
		     struct ag_nhi_inventory *inv)
{
	struct ag_store_opts so = {.read_only = true};
	struct ag_store *st = NULL;
	struct ag_error err;

	ag_error_init(&err);
	if (ag_store_open(state, &so, &st, &err) != AG_OK ||
	    ag_store_nhi_load(st, inv, &err) != AG_OK) {
		fprintf(stderr, "aalgate %s: %s\n", cmd, err.msg);
		ag_store_close(st);
		return AG_EXIT_USAGE;
	}
	ag_store_close(st);
	return AG_EXIT_OK;
}
