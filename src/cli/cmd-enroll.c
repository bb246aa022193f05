/*
 * aalgate enroll add|remove|list --state DB -p POLICY ACCOUNT [METHOD]
 * aalgate enroll ial --state DB ACCOUNT IAL
 * aalgate enroll address --state DB [--remove] ACCOUNT [CHANNEL ADDRESS]
 * aalgate enroll address --state DB --import FILE
 *
 * Records an account's authenticators in the state store (docs/govern.md),
 * the IAL its holder was proofed at, which recovery turns on, and the
 * addresses of record every recovery of it notifies.
 * Binding one to an account that already authenticates needs the
 * caller's current authentication (docs/govern.md), shown as --auth-aal N or
 * as --claims FILE (acr/amr claims, judged as the gate judges a token).
 * After a change the store's journal is moved into the decision log when
 * this process can take the log's lock; while a gate holds it, the gate
 * logs the change within a second.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aalgate/gate.h"
#include "aalgate/govern.h"
#include "cli.h"
#include "report/report.h"
#include "util.h"
#include "banned.h"

#define CLAIMS_MAX (64u * 1024u)

static const char usage_text[] =
	"usage: aalgate enroll add --state DB -p POLICY ACCOUNT METHOD\n"
	"                          [--label L] [--auth-aal N | --claims FILE]\n"
	"       aalgate enroll remove --state DB [-p POLICY] ACCOUNT METHOD\n"
	"                          [--label L]\n"
	"       aalgate enroll list --state DB -p POLICY [ACCOUNT]\n"
	"                          [--format text|json]\n"
	"       aalgate enroll ial --state DB ACCOUNT IAL\n"
	"       aalgate enroll address --state DB [--remove] ACCOUNT\n"
	"                          CHANNEL ADDRESS\n"
	"       aalgate enroll address --state DB ACCOUNT [--format text|json]\n"
	"       aalgate enroll address --state DB --import FILE\n"
	"\n"
	"Record the authenticators enrolled for an account in the state\n"
	"store, and with them the account's own level: the AAL its\n"
	"authenticators reach together, which `aal: match_account` workflows\n"
	"(recovery) are held to.\n"
	"\n"
	"Binding a new authenticator to an account that already has one needs\n"
	"authentication at min(the account's level, the level the new one\n"
	"helps reach).  Show it with --auth-aal N (you vouch for it) or\n"
	"--claims FILE (the account's verified token claims: acr or amr).\n"
	"An account's first authenticator needs none (a bootstrap; said so in\n"
	"the output and the log).\n"
	"\n"
	"`enroll ial` records the IAL (0..3) at which the account's holder\n"
	"was identity-proofed.  Recovery of an AAL3 account turns on it\n"
	"(SP 800-63B-4 §4.2.2.3: IAL3 needs onsite re-proofing), and a\n"
	"recovery request may raise it, never lower it.\n"
	"\n"
	"`enroll address` adds (or with --remove removes) one of the\n"
	"account's notification addresses of record; with ACCOUNT alone it\n"
	"lists them.  CHANNEL is email, sms, voice, postal or\n"
	"postal_outside_contiguous_us.  Every recovery of the account notifies\n"
	"its addresses of record (postal ones at AAL3, or when there is no\n"
	"other kind), never the ones a recovery request names, and an account\n"
	"with none on record cannot be recovered.  Fewer than two, or no\n"
	"postal address for an AAL3 account, is warned of (SP 800-63B-4\n"
	"§4.6).  A change of address is itself notified to the addresses held\n"
	"before it.\n"
	"\n"
	"`enroll address --import FILE` (- for standard input) records many:\n"
	"a CSV file whose header names the columns account, channel and\n"
	"address.  Every row is checked first, so a bad file records nothing;\n"
	"then each account's rows are added in one transaction, and only the\n"
	"addresses it held before the import are told.\n"
	"\n"
	"  -s, --state DB           the state file (created 0600 if missing)\n"
	"  -p, --policy FILE        the policy: its method catalogue\n"
	"  -l, --label L            tells two authenticators of one method\n"
	"                           apart\n"
	"  -a, --auth-aal N         the caller authenticated at AAL N (0..3)\n"
	"  -c, --claims FILE        the caller's token claims (JSON object)\n"
	"  -d, --decision-log FILE  where changes are logged (default\n"
	"                           aalgate-decisions.jsonl beside the state)\n"
	"  -r, --remove             address: remove the address\n"
	"  -i, --import FILE        address: record the addresses in FILE\n"
	"  -f, --format FORMAT      list: text (default) or json\n"
	"  -h, --help               this text\n"
	"\n"
	"Exit status: 0 done; 1 refused (the binding rule is not met, already\n"
	"enrolled, no such enrolment, or list: the account has none;\n"
	"address: already there, or not there to remove); 2 bad\n"
	"input or usage, or the state could not be used.\n";

enum sub { SUB_ADD, SUB_REMOVE, SUB_LIST, SUB_IAL, SUB_ADDRESS };

struct args {
	enum sub sub;
	const char *name; /* "enroll add" */
	const char *state, *policy, *label, *claims, *log, *format;
	int auth_aal; /* -1: not given */
	bool remove;  /* address --remove */
	const char *import; /* address --import FILE */
	const char *account, *method;
	const char *address; /* address: the address; NULL to list */
};

static void level_text(const struct ag_assurance *l, char *buf, size_t len)
{
	snprintf(buf, len, "AAL%d%s%s", l->aal,
		 l->phishing_resistant ? ", phishing-resistant" : "",
		 l->hardware ? ", hardware" : "");
}

/* The caller's authentication from a claims file: it must be about the
 * account and not expired. */
static int claims_evidence(const struct args *a, const struct ag_policy *p,
			   int64_t now, struct ag_assurance *out)
{
	struct ag_error err;
	struct ag_claims c;
	char *buf = NULL;
	size_t len = 0;
	int ret = AG_EXIT_USAGE;

	ag_error_init(&err);
	ag_claims_init(&c);
	if (ag_read_file(a->claims, CLAIMS_MAX, &buf, &len, &err) != AG_OK) {
		ag_cli_die(a->name, "%s", err.msg);
		goto out;
	}
	enum ag_token_error te = ag_claims_parse(buf, len, p->device_claim, &c);
	if (te != AG_TOK_OK) {
		ag_cli_die(a->name, "%s: not a JSON object of claims (%s)",
			   a->claims, ag_token_error_name(te));
		goto out;
	}
	ret = AG_EXIT_FINDINGS;
	if (!c.sub || strcmp(c.sub, a->account)) {
		fprintf(stderr,
			"aalgate %s: %s: the claims are about '%s', not '%s'; "
			"they prove nothing about this account\n",
			a->name, a->claims, c.sub ? c.sub : "(no sub)",
			a->account);
		goto out;
	}
	if (c.has_exp && c.exp <= now) {
		fprintf(stderr,
			"aalgate %s: %s: the claims expired %llds ago\n",
			a->name, a->claims, (long long)(now - c.exp));
		goto out;
	}
	ag_claims_assurance(p, &c, out);
	ret = AG_EXIT_OK;
out:
	ag_claims_release(&c);
	free(buf);
	return ret;
}

static int do_add(const struct args *a, struct ag_store *st,
		  const struct ag_policy *p)
{
	struct ag_enroll_auth auth = {0}, *shown = NULL;
	struct ag_enroll_result res;
	struct ag_assurance lvl;
	struct ag_error err;
	int64_t now = (int64_t)time(NULL);
	char lt[AG_STORE_LABEL_MAX + 16] = "", l[64];
	int ret;

	if (a->claims) {
		if ((ret = claims_evidence(a, p, now, &auth.assurance)))
			return ret;
		auth.source = "claims";
		shown = &auth;
	} else if (a->auth_aal >= 0) {
		auth.assurance.aal = a->auth_aal;
		auth.source = "asserted";
		shown = &auth;
	}
	ag_error_init(&err);
	if (ag_store_enroll_add(st, p, a->account, a->method, a->label, shown,
				now, &res, &err) != AG_OK) {
		fprintf(stderr, "aalgate %s: %s", a->name, err.msg);
		if (res.status == AG_ENROLL_REFUSED && !shown)
			fputs("; show it with --auth-aal N or --claims FILE",
			      stderr);
		fputc('\n', stderr);
		return res.status == AG_ENROLL_REFUSED ||
				       res.status == AG_ENROLL_EXISTS
			       ? AG_EXIT_FINDINGS
			       : AG_EXIT_USAGE;
	}
	if (a->label && *a->label)
		snprintf(lt, sizeof(lt), " (label '%s')", a->label);
	printf("enrolled '%s'%s for '%s'\n", a->method, lt, a->account);
	if (res.binding.bootstrap)
		printf("  bootstrap: the account had no authenticator that "
		       "reaches AAL1, so no authentication was required\n");
	else
		printf("  binding: needed AAL%d (the account was at AAL%d; "
		       "'%s' helps reach AAL%d); shown AAL%d (%s)\n",
		       res.binding.required, res.binding.account_aal,
		       a->method, res.binding.method_aal,
		       shown ? shown->assurance.aal : 0,
		       shown ? shown->source : "none");
	ag_error_init(&err);
	if (ag_store_account_level(st, p, a->account, &lvl, &err) == AG_OK) {
		level_text(&lvl, l, sizeof(l));
		printf("  own level: %s\n", l);
	} else {
		printf("  own level: unknown: %s\n", err.msg);
	}
	ag_cli_journal_to_log(a->name, a->state, a->log, st);
	return AG_EXIT_OK;
}

static int do_remove(const struct args *a, struct ag_store *st,
		     const struct ag_policy *p)
{
	struct ag_enroll_result res;
	struct ag_assurance lvl;
	struct ag_error err;
	char lt[AG_STORE_LABEL_MAX + 16] = "", l[64];

	ag_error_init(&err);
	if (ag_store_enroll_remove(st, a->account, a->method, a->label,
				   (int64_t)time(NULL), &res,
				   &err) != AG_OK) {
		fprintf(stderr, "aalgate %s: %s\n", a->name, err.msg);
		return res.status == AG_ENROLL_MISSING ? AG_EXIT_FINDINGS
						       : AG_EXIT_USAGE;
	}
	if (a->label && *a->label)
		snprintf(lt, sizeof(lt), " (label '%s')", a->label);
	printf("removed '%s'%s from '%s'\n", a->method, lt, a->account);
	if (res.remaining == 0) {
		printf("  '%s' has no authenticator left: its next "
		       "enrolment is a bootstrap\n",
		       a->account);
	} else if (p) {
		ag_error_init(&err);
		if (ag_store_account_level(st, p, a->account, &lvl, &err) ==
		    AG_OK) {
			level_text(&lvl, l, sizeof(l));
			printf("  own level: %s\n", l);
		} else {
			printf("  own level: unknown: %s\n", err.msg);
		}
	}
	ag_cli_journal_to_log(a->name, a->state, a->log, st);
	return AG_EXIT_OK;
}

static int do_ial(const struct args *a, struct ag_store *st)
{
	struct ag_error err;
	bool changed = false;
	const char *v = a->method;

	if (!v[0] || v[1] || v[0] < '0' || v[0] > '3')
		return ag_cli_die(a->name, "IAL must be 0, 1, 2 or 3, not "
				  "'%s'", v);
	ag_error_init(&err);
	if (ag_store_account_ial_set(st, a->account, v[0] - '0',
				     (int64_t)time(NULL), &changed,
				     &err) != AG_OK) {
		fprintf(stderr, "aalgate %s: %s\n", a->name, err.msg);
		return AG_EXIT_USAGE;
	}
	printf("'%s' proofed at IAL%c%s\n", a->account, v[0],
	       changed ? "" : " (unchanged)");
	ag_cli_journal_to_log(a->name, a->state, a->log, st);
	return AG_EXIT_OK;
}

#define IMPORT_FILE_MAX AG_ADDRESS_FILE_MAX

/* enroll address --import FILE: check every row, then record each
 * account's in one transaction. */
static int do_import(const struct args *a, struct ag_store *st)
{
	struct ag_address_file f = {0};
	struct ag_recovery_address v[4 * AG_RECOVERY_NOTIFY_MAX];
	struct ag_error err;
	char *buf = NULL;
	size_t len = 0, added = 0, accounts = 0, done = 0;
	bool tty = isatty(STDERR_FILENO);
	int ret = AG_EXIT_USAGE;

	ag_error_init(&err);
	if (ag_cli_read_input(a->name, a->import, IMPORT_FILE_MAX, &buf, &len))
		return AG_EXIT_USAGE;
	const char *shown = strcmp(a->import, "-") ? a->import : "<stdin>";
	if (ag_address_file_parse(shown, buf, len, &f, &err) != AG_OK) {
		fprintf(stderr, "aalgate %s: %s\n", a->name, err.msg);
		goto out;
	}
	for (size_t i = 0; i < f.n;) {
		size_t j = i, n = 0, got = 0;
		while (j < f.n && !strcmp(f.v[j].account, f.v[i].account)) {
			if (n == AG_ARRAY_SIZE(v)) {
				fprintf(stderr,
					"aalgate %s: %s:%u:%u: '%s' has more "
					"than %zu rows\n",
					a->name, shown, f.v[j].line,
					f.v[j].col, f.v[j].account,
					AG_ARRAY_SIZE(v));
				goto out;
			}
			v[n++] = f.v[j++].a;
		}
		ag_error_init(&err);
		if (ag_store_address_add_many(st, f.v[i].account, v, n,
					      (int64_t)time(NULL), &got,
					      &err) != AG_OK) {
			fprintf(stderr,
				"aalgate %s: %s:%u:%u: '%s': %s; the %zu "
				"accounts before it are recorded\n",
				a->name, shown, f.v[i].line, f.v[i].col,
				f.v[i].account, err.msg, accounts);
			/* What was recorded reaches the log all the same. */
			if (accounts)
				ag_cli_journal_to_log(a->name, a->state,
						      a->log, st);
			goto out;
		}
		added += got;
		accounts++;
		done += j - i;
		if (tty && (accounts % 1000 == 0 || j == f.n))
			fprintf(stderr, "\r%zu of %zu rows", done, f.n);
		i = j;
	}
	if (tty && f.n)
		fputc('\n', stderr);
	printf("%zu rows for %zu accounts: %zu addresses added, %zu already "
	       "on record\n",
	       f.n, accounts, added, f.n - added);
	ag_cli_journal_to_log(a->name, a->state, a->log, st);
	ret = AG_EXIT_OK;
out:
	ag_address_file_release(&f);
	free(buf);
	return ret;
}

static int do_address(const struct args *a, struct ag_store *st)
{
	struct ag_store_addresses l = {0};
	struct ag_error err;
	bool changed = false;

	ag_error_init(&err);
	if (!a->address) {
		if (ag_store_address_list(st, a->account, &l, &err) != AG_OK)
			return ag_cli_die(a->name, "%s", err.msg);
		if (!strcmp(a->format, "json")) {
			struct ag_jsonw w;
			ag_jw_init(&w, stdout, 4);
			ag_jw_obj(&w);
			ag_jw_key(&w, "account");
			ag_jw_str(&w, a->account);
			ag_jw_key(&w, "addresses");
			ag_jw_arr(&w);
			for (size_t i = 0; i < l.n; i++) {
				ag_jw_obj(&w);
				ag_jw_key(&w, "channel");
				ag_jw_str(&w, ag_recovery_channel_name(
						      l.v[i].channel));
				ag_jw_key(&w, "address");
				ag_jw_str(&w, l.v[i].address);
				ag_jw_obj_end(&w);
			}
			ag_jw_arr_end(&w);
			ag_jw_obj_end(&w);
			ag_jw_end(&w);
		} else if (l.n == 0) {
			printf("'%s' has no notification address of record\n",
			       a->account);
		} else {
			for (size_t i = 0; i < l.n; i++)
				printf("%-28s %s\n",
				       ag_recovery_channel_name(l.v[i].channel),
				       l.v[i].address);
		}
		int ret = l.n ? AG_EXIT_OK : AG_EXIT_FINDINGS;
		ag_store_addresses_release(&l);
		return ret;
	}
	const char *best;
	enum ag_recovery_channel ch = ag_recovery_channel_of(a->method, &best);
	if (ch == AG_CHANNEL_NONE)
		return ag_cli_die(a->name,
				  "unknown channel '%s' (email, sms, voice, "
				  "postal or postal_outside_contiguous_us)%s%s%s",
				  a->method, best ? "; did you mean '" : "",
				  best ? best : "", best ? "'?" : "");
	if (ag_store_address_set(st, a->account, ch,
				 a->address, !a->remove, (int64_t)time(NULL),
				 &changed, &err) != AG_OK)
		return ag_cli_die(a->name, "%s", err.msg);
	if (!changed) {
		fprintf(stderr, "aalgate %s: '%s' %s %s '%s'\n", a->name,
			a->account, a->remove ? "has no" : "already has",
			a->method, a->address);
		return AG_EXIT_FINDINGS;
	}
	printf("%s %s '%s' %s '%s'\n", a->remove ? "removed" : "added",
	       a->method, a->address, a->remove ? "from" : "to", a->account);
	ag_cli_journal_to_log(a->name, a->state, a->log, st);
	return AG_EXIT_OK;
}

static void time_text(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (!gmtime_r(&tt, &tm) ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

static void list_json(struct ag_store *st, const struct ag_policy *p,
		      const struct ag_enrolments *l)
{
	struct ag_jsonw w;
	char when[40];

	ag_jw_init(&w, stdout, 4);
	ag_jw_obj(&w);
	ag_jw_key(&w, "store");
	ag_jw_str(&w, ag_store_id(st));
	ag_jw_key(&w, "accounts");
	ag_jw_arr(&w);
	for (size_t i = 0; i < l->n;) {
		size_t j = i;
		while (j < l->n && !strcmp(l->v[j].account, l->v[i].account))
			j++;
		struct ag_assurance lvl;
		struct ag_error err;
		ag_error_init(&err);
		ag_code rc = ag_enrolments_level(p, &l->v[i], j - i, &lvl,
						 &err);
		ag_jw_obj(&w);
		ag_jw_key(&w, "id");
		ag_jw_str(&w, l->v[i].account);
		ag_jw_key(&w, "level");
		if (rc == AG_OK) {
			ag_jw_obj(&w);
			ag_jw_key(&w, "aal");
			ag_jw_int(&w, lvl.aal);
			ag_jw_key(&w, "phishing_resistant");
			ag_jw_bool(&w, lvl.phishing_resistant);
			ag_jw_key(&w, "hardware");
			ag_jw_bool(&w, lvl.hardware);
			ag_jw_obj_end(&w);
		} else {
			ag_jw_null(&w);
			ag_jw_key(&w, "level_error");
			ag_jw_str(&w, err.msg);
		}
		ag_jw_key(&w, "enrolments");
		ag_jw_arr(&w);
		for (size_t k = i; k < j; k++) {
			ag_jw_obj(&w);
			ag_jw_key(&w, "method");
			ag_jw_str(&w, l->v[k].method);
			ag_jw_key(&w, "label");
			ag_jw_str(&w, l->v[k].label);
			ag_jw_key(&w, "created");
			time_text(l->v[k].created, when, sizeof(when));
			ag_jw_str(&w, when);
			ag_jw_obj_end(&w);
		}
		ag_jw_arr_end(&w);
		ag_jw_obj_end(&w);
		i = j;
	}
	ag_jw_arr_end(&w);
	ag_jw_obj_end(&w);
	ag_jw_end(&w);
}

static void list_text(const struct ag_policy *p, const struct ag_enrolments *l)
{
	char when[40], lv[64];

	for (size_t i = 0; i < l->n;) {
		size_t j = i;
		while (j < l->n && !strcmp(l->v[j].account, l->v[i].account))
			j++;
		struct ag_assurance lvl;
		struct ag_error err;
		ag_error_init(&err);
		if (ag_enrolments_level(p, &l->v[i], j - i, &lvl, &err) ==
		    AG_OK) {
			level_text(&lvl, lv, sizeof(lv));
			printf("%s: own level %s\n", l->v[i].account, lv);
		} else {
			printf("%s: own level unknown: %s\n", l->v[i].account,
			       err.msg);
		}
		for (size_t k = i; k < j; k++) {
			time_text(l->v[k].created, when, sizeof(when));
			printf("  %-20s %-20s %s\n", l->v[k].method,
			       l->v[k].label[0] ? l->v[k].label : "-", when);
		}
		i = j;
	}
}

static int do_list(const struct args *a, struct ag_store *st,
		   const struct ag_policy *p)
{
	struct ag_enrolments l = {0};
	struct ag_error err;

	ag_error_init(&err);
	if (ag_store_enroll_list(st, a->account, &l, &err) != AG_OK) {
		ag_enrolments_release(&l);
		return ag_cli_die(a->name, "%s", err.msg);
	}
	int ret = AG_EXIT_OK;
	if (!strcmp(a->format, "json"))
		list_json(st, p, &l);
	else if (l.n)
		list_text(p, &l);
	else if (a->account)
		printf("'%s' has no enrolled authenticators\n", a->account);
	else
		printf("no enrolled authenticators\n");
	if (a->account && l.n == 0)
		ret = AG_EXIT_FINDINGS;
	ag_enrolments_release(&l);
	return ret;
}

static int parse(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{"state", required_argument, NULL, 's'},
		{"policy", required_argument, NULL, 'p'},
		{"label", required_argument, NULL, 'l'},
		{"auth-aal", required_argument, NULL, 'a'},
		{"claims", required_argument, NULL, 'c'},
		{"decision-log", required_argument, NULL, 'd'},
		{"format", required_argument, NULL, 'f'},
		{"remove", no_argument, NULL, 'r'},
		{"import", required_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":s:p:l:a:c:d:f:ri:h", opts, NULL)) !=
	       -1) {
		switch (c) {
		case 's':
			a->state = optarg;
			break;
		case 'p':
			a->policy = optarg;
			break;
		case 'l':
			a->label = optarg;
			break;
		case 'a': {
			char *end;
			errno = 0;
			long v = strtol(optarg, &end, 10);
			if (!*optarg || *end || errno || v < 0 || v > 3)
				return ag_cli_die(a->name, "--auth-aal must be "
					"0..3, not '%s'", optarg);
			a->auth_aal = (int)v;
			break;
		}
		case 'c':
			a->claims = optarg;
			break;
		case 'd':
			a->log = optarg;
			break;
		case 'f':
			a->format = optarg;
			break;
		case 'r':
			a->remove = true;
			break;
		case 'i':
			a->import = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return AG_EXIT_OK;
		case ':':
			return ag_cli_die(a->name, "option '%s' needs a value",
					  argv[optind - 1]);
		default:
			return ag_cli_die(a->name, "unknown option '%s'; see "
				"'aalgate enroll --help'", argv[optind - 1]);
		}
	}
	int npos = argc - optind;
	if (!a->state)
		return ag_cli_die(a->name, "a state file is required "
				  "(--state DB)");
	if ((a->remove || a->import) && a->sub != SUB_ADDRESS)
		return ag_cli_die(a->name, "%s is for address",
				  a->remove ? "--remove" : "--import");
	if (a->sub == SUB_ADDRESS) {
		if (a->label || a->claims || a->auth_aal >= 0 || a->policy)
			return ag_cli_die(a->name, "address takes no -p, "
					  "--label, --auth-aal or --claims");
		if (a->import) {
			if (npos || a->remove || strcmp(a->format, "text"))
				return ag_cli_die(a->name,
						  "--import takes no ACCOUNT, "
						  "--remove or --format");
			return -1;
		}
		if (npos != 1 && npos != 3)
			return ag_cli_die(a->name, "expected ACCOUNT, or "
					  "ACCOUNT CHANNEL ADDRESS; see "
					  "'aalgate enroll --help'");
		if (npos == 1 && a->remove)
			return ag_cli_die(a->name, "--remove needs CHANNEL "
					  "and ADDRESS");
		if (strcmp(a->format, "text") && strcmp(a->format, "json"))
			return ag_cli_die(a->name, "unknown format '%s' (text "
					  "or json)", a->format);
		if (npos == 3 && strcmp(a->format, "text"))
			return ag_cli_die(a->name, "--format is for listing");
		a->account = argv[optind];
		if (npos == 3) {
			a->method = argv[optind + 1];
			a->address = argv[optind + 2];
		}
		return -1;
	}
	if (!a->policy && a->sub != SUB_REMOVE && a->sub != SUB_IAL)
		return ag_cli_die(a->name, "a policy is required (-p FILE)");
	if (strcmp(a->format, "text") && strcmp(a->format, "json"))
		return ag_cli_die(a->name, "unknown format '%s' (text or json)",
				  a->format);
	if (a->sub == SUB_LIST) {
		if (npos > 1)
			return ag_cli_die(a->name, "expected at most one "
					  "ACCOUNT");
		if (a->label || a->claims || a->auth_aal >= 0)
			return ag_cli_die(a->name, "list takes no --label, "
					  "--auth-aal or --claims");
		a->account = npos ? argv[optind] : NULL;
		return -1;
	}
	if (npos != 2)
		return ag_cli_die(a->name, "expected ACCOUNT %s; see "
				  "'aalgate enroll --help'",
				  a->sub == SUB_IAL ? "IAL" : "METHOD");
	if (a->sub == SUB_IAL && (a->label || a->claims || a->auth_aal >= 0))
		return ag_cli_die(a->name, "ial takes no --label, --auth-aal "
				  "or --claims");
	if (strcmp(a->format, "text"))
		return ag_cli_die(a->name, "--format is for list");
	if (a->sub == SUB_REMOVE && (a->claims || a->auth_aal >= 0))
		return ag_cli_die(a->name, "remove takes no --auth-aal or "
				  "--claims");
	if (a->claims && a->auth_aal >= 0)
		return ag_cli_die(a->name, "give --auth-aal or --claims, not "
				  "both");
	a->account = argv[optind];
	a->method = argv[optind + 1];
	return -1;
}

int cmd_enroll(int argc, char **argv)
{
	struct args a = {.format = "text", .auth_aal = -1};
	struct ag_policy *p = NULL;
	struct ag_store *st = NULL;
	struct ag_error err;
	int ret;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? AG_EXIT_USAGE : AG_EXIT_OK;
	}
	if (!strcmp(argv[1], "add")) {
		a.sub = SUB_ADD;
		a.name = "enroll add";
	} else if (!strcmp(argv[1], "remove")) {
		a.sub = SUB_REMOVE;
		a.name = "enroll remove";
	} else if (!strcmp(argv[1], "list")) {
		a.sub = SUB_LIST;
		a.name = "enroll list";
	} else if (!strcmp(argv[1], "ial")) {
		a.sub = SUB_IAL;
		a.name = "enroll ial";
	} else if (!strcmp(argv[1], "address")) {
		a.sub = SUB_ADDRESS;
		a.name = "enroll address";
	} else {
		return ag_cli_die("enroll",
				  "unknown subcommand '%s' (add, remove, list, "
				  "ial or address); see 'aalgate enroll "
				  "--help'",
				  argv[1]);
	}
	if ((ret = parse(argc - 1, argv + 1, &a)) >= 0)
		return ret;

	ag_error_init(&err);
	ret = AG_EXIT_USAGE;
	if (a.policy && ag_policy_load(a.policy, &p, &err) != AG_OK) {
		fprintf(stderr, "aalgate %s: %s\n", a.name, err.msg);
		goto out;
	}
	struct ag_store_opts so = {.read_only = a.sub == SUB_LIST ||
					       (a.sub == SUB_ADDRESS &&
						!a.address && !a.import)};
	if (ag_store_open(a.state, &so, &st, &err) != AG_OK) {
		fprintf(stderr, "aalgate %s: %s\n", a.name, err.msg);
		goto out;
	}
	switch (a.sub) {
	case SUB_ADD:
		ret = do_add(&a, st, p);
		break;
	case SUB_REMOVE:
		ret = do_remove(&a, st, p);
		break;
	case SUB_LIST:
		ret = do_list(&a, st, p);
		break;
	case SUB_IAL:
		ret = do_ial(&a, st);
		break;
	case SUB_ADDRESS:
		ret = a.import ? do_import(&a, st) : do_address(&a, st);
		break;
	}
out:
	ag_store_close(st);
	ag_policy_free(p);
	return ret;
}
