/*
 * aalgate sink deliver|status -p POLICY --log FILE
 *
 * Delivers the decision log's alert and notification obligations to the
 * policy's sinks (docs/govern.md), or shows what waits for each.  A running
 * gate delivers by itself; this command is for cron jobs, tests and
 * catching up.  The work is done by the dispatcher in src/govern/sinks.c.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "aalgate/govern.h"
#include "cli.h"
#include "report/report.h"
#include "util.h"
#include "banned.h"

static const char usage_text[] =
	"usage: aalgate sink deliver -p POLICY --log FILE [--once]\n"
	"                            [--sink NAME]... [--retry-for DURATION]\n"
	"                            [--backoff-max DURATION] [--quiet]\n"
	"       aalgate sink status -p POLICY --log FILE [--sink NAME]...\n"
	"                           [--format text|json]\n"
	"\n"
	"Deliver the decision log's obligations (records with \"obligation\":\n"
	"\"alert\" or \"notify\") to the sinks of the policy's `sinks:` list, in\n"
	"log order and at least once, or show what waits for each sink.  A\n"
	"running gate (aalgate serve) delivers by itself, in a thread; this\n"
	"command is for cron jobs, tests and catching up.\n"
	"\n"
	"What a sink gets is the record's line, byte for byte.  Each sink\n"
	"keeps a cursor, FILE.sink-NAME beside the log: the last record it\n"
	"dealt with, moved only after a delivery succeeded.  Remove it to\n"
	"deliver the whole log again.  A sink that fails is retried with a\n"
	"backoff that doubles from 1s up to --backoff-max, and every failure\n"
	"is reported on standard error; nothing is skipped.  Reading checks\n"
	"the log's hash chain from the cursor on: a record that does not\n"
	"verify is not delivered and stops the sink at that line (see\n"
	"'aalgate log verify').\n"
	"\n"
	"deliver without --once runs until SIGTERM or SIGINT, reading the log\n"
	"every second; SIGHUP reloads the policy.  With --once it delivers\n"
	"what is there, retries failing sinks for --retry-for, and exits.\n"
	"\n"
	"  -p, --policy FILE         the policy: its sinks\n"
	"  -l, --log FILE            the decision log (also --decision-log)\n"
	"      --once                deliver what waits, then exit\n"
	"  -s, --sink NAME           only this sink (repeatable)\n"
	"      --retry-for DURATION  --once: retry failing sinks this long\n"
	"                            (default 10s; 0s: one attempt)\n"
	"      --backoff-max DURATION\n"
	"                            the longest pause between two attempts\n"
	"                            (default 5m)\n"
	"  -f, --format FORMAT       status: text (default) or json\n"
	"  -q, --quiet               deliver: no summary on standard output\n"
	"  -h, --help                this text\n"
	"\n"
	"Sinks, in the policy:\n"
	"\n"
	"  sinks:\n"
	"    - { name: ops-alerts, type: file,\n"
	"        path: /var/log/aalgate/alerts.jsonl }\n"
	"    - { name: pager, type: exec,\n"
	"        command: [/usr/local/bin/page, --urgent],\n"
	"        timeout: 10s, events: [alert] }\n"
	"    - { name: soc, type: webhook, url: https://hooks.example/aalgate,\n"
	"        timeout: 5s, ca_file: soc-ca.pem,\n"
	"        bearer_file: /etc/aalgate/soc.token,\n"
	"        headers: { X-Team: secops } }\n"
	"\n"
	"  name         required, unique: letters, digits, '_' and '-'\n"
	"  type         required: file, exec or webhook\n"
	"  events       alert, notify or both (the default)\n"
	"  path         file: one JSON line is appended per obligation and\n"
	"               synced; created 0600, never through a symbolic\n"
	"               link, refused when group or others may write it\n"
	"  command      exec: an absolute path and its arguments, run\n"
	"               without a shell, in its own process group, with the\n"
	"               record on stdin and only PATH, AALGATE_SINK,\n"
	"               AALGATE_SEQ, AALGATE_OBLIGATION and\n"
	"               AALGATE_RECORD_SHA256 in its environment; exit\n"
	"               status 0 is success\n"
	"  timeout      exec, webhook: 1s to 5m (default 10s and 5s); an\n"
	"               exec sink's process group is killed at the timeout\n"
	"  url          webhook: https://, or http:// to 127.0.0.1 or\n"
	"               [::1]; the record is POSTed as application/json\n"
	"               with an Idempotency-Key (its SHA-256); a 2xx answer\n"
	"               is success and redirects are not followed\n"
	"  ca_file      webhook: the CAs to trust instead of the system's\n"
	"  bearer_file  webhook: a file, not readable by others, holding a\n"
	"               bearer token (read at each attempt)\n"
	"  headers      webhook: more header fields; secrets do not belong\n"
	"               in the policy, so Authorization and Cookie are\n"
	"               refused\n"
	"  description  free text\n"
	"Relative paths are taken from the policy file's folder.\n"
	"\n"
	"Exit status: deliver: 0 everything delivered (--once) or a clean\n"
	"stop, 1 a sink still fails or the log does not verify, 2 bad input\n"
	"or usage.  status: 0 nothing waits, 1 obligations wait or the log\n"
	"does not verify, 2 bad input or usage.\n";

enum sub { SUB_DELIVER, SUB_STATUS };

struct args {
	enum sub sub;
	const char *name; /* "sink deliver" */
	const char *policy, *log, *format;
	const char **only;
	size_t n_only;
	bool once, quiet;
	int64_t retry_for, backoff_max;
};

static struct ag_sinks *running; /* for the signal handler */
static volatile sig_atomic_t signalled;

static void on_signal(int sig)
{
	(void)sig;
	signalled = 1;
	ag_sinks_stop(running);
}

static int duration_arg(const struct args *a, const char *opt, const char *s,
			int64_t *out)
{
	if (ag_duration_parse(s, out) != AG_OK)
		return ag_cli_die(a->name,
				  "%s must be a duration such as 90s, 15m or "
				  "12h, not '%s'",
				  opt, s);
	return -1;
}

static int parse(int argc, char **argv, struct args *a)
{
	enum { O_ONCE = 256, O_RETRY_FOR, O_BACKOFF_MAX };
	static const struct option opts[] = {
		{"policy", required_argument, NULL, 'p'},
		{"log", required_argument, NULL, 'l'},
		{"decision-log", required_argument, NULL, 'l'},
		{"sink", required_argument, NULL, 's'},
		{"once", no_argument, NULL, O_ONCE},
		{"retry-for", required_argument, NULL, O_RETRY_FOR},
		{"backoff-max", required_argument, NULL, O_BACKOFF_MAX},
		{"format", required_argument, NULL, 'f'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	size_t alloc = 0;
	int c, r;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":p:l:s:f:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			a->policy = optarg;
			break;
		case 'l':
			a->log = optarg;
			break;
		case 's':
			if (AG_GROW(a->only, alloc, a->n_only + 1))
				return ag_cli_die(a->name, "out of memory");
			a->only[a->n_only++] = optarg;
			break;
		case O_ONCE:
			a->once = true;
			break;
		case O_RETRY_FOR:
			if ((r = duration_arg(a, "--retry-for", optarg,
					      &a->retry_for)) >= 0)
				return r;
			break;
		case O_BACKOFF_MAX:
			if ((r = duration_arg(a, "--backoff-max", optarg,
					      &a->backoff_max)) >= 0)
				return r;
			if (a->backoff_max < 1 || a->backoff_max > 86400)
				return ag_cli_die(a->name,
						  "--backoff-max must be from "
						  "1s to 1d");
			break;
		case 'f':
			a->format = optarg;
			break;
		case 'q':
			a->quiet = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return AG_EXIT_OK;
		case ':':
			return ag_cli_die(a->name, "option '%s' needs a value",
					  argv[optind - 1]);
		default:
			return ag_cli_die(a->name,
					  "unknown option '%s'; see 'aalgate "
					  "sink --help'",
					  argv[optind - 1]);
		}
	}
	if (optind != argc)
		return ag_cli_die(a->name,
				  "unexpected argument '%s'; see 'aalgate sink "
				  "--help'",
				  argv[optind]);
	if (!a->policy)
		return ag_cli_die(a->name, "a policy is required (-p FILE)");
	if (!a->log)
		return ag_cli_die(a->name,
				  "a decision log is required (--log FILE)");
	if (a->sub == SUB_STATUS) {
		if (a->once || a->quiet || a->retry_for >= 0 ||
		    a->backoff_max >= 0)
			return ag_cli_die(a->name,
					  "status takes no --once, --quiet, "
					  "--retry-for or --backoff-max");
		if (strcmp(a->format, "text") && strcmp(a->format, "json"))
			return ag_cli_die(a->name,
					  "unknown format '%s' (text or json)",
					  a->format);
	} else {
		if (strcmp(a->format, "text"))
			return ag_cli_die(a->name, "--format is for status");
		if (a->retry_for >= 0 && !a->once)
			return ag_cli_die(a->name, "--retry-for is for --once");
	}
	return -1;
}

/* The policy's sinks, or those --sink names, in a new array *out whose
 * elements borrow from p. */
static int pick_sinks(const struct args *a, const struct ag_policy *p,
		      struct ag_sink **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!p->n_sinks)
		return ag_cli_die(a->name,
				  "%s: no sinks: the policy has no `sinks:` "
				  "list (see 'aalgate sink --help')",
				  a->policy);
	struct ag_sink *v =
		calloc(a->n_only ? a->n_only : p->n_sinks, sizeof(*v));
	if (!v)
		return ag_cli_die(a->name, "out of memory");
	if (!a->n_only) {
		memcpy(v, p->sinks, p->n_sinks * sizeof(*v));
		*out = v;
		*n = p->n_sinks;
		return -1;
	}
	for (size_t i = 0; i < a->n_only; i++) {
		size_t k = 0;
		while (k < p->n_sinks && strcmp(p->sinks[k].name, a->only[i]))
			k++;
		if (k == p->n_sinks) {
			struct ag_suggest sg;
			ag_suggest_init(&sg, a->only[i]);
			for (size_t j = 0; j < p->n_sinks; j++)
				ag_suggest_add(&sg, p->sinks[j].name);
			fprintf(stderr, "aalgate %s: %s: no sink named '%s'",
				a->name, a->policy, a->only[i]);
			if (ag_suggest_best(&sg))
				fprintf(stderr, "; did you mean '%s'?",
					ag_suggest_best(&sg));
			fputc('\n', stderr);
			free(v);
			return AG_EXIT_USAGE;
		}
		for (size_t j = 0; j < *n; j++)
			if (!strcmp(v[j].name, a->only[i])) {
				free(v);
				return ag_cli_die(a->name,
						  "sink '%s' is named twice",
						  a->only[i]);
			}
		v[(*n)++] = p->sinks[k]; /* borrowed: only the array is ours */
	}
	*out = v;
	return -1;
}

static void events_text(unsigned ev, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", ev & AG_SINK_ALERT ? "alert" : "",
		 (ev & AG_SINK_ALERT) && (ev & AG_SINK_NOTIFY) ? "," : "",
		 ev & AG_SINK_NOTIFY ? "notify" : "");
}

static int do_status(const struct args *a, const struct ag_sink *v, size_t n)
{
	struct ag_sink_status *st = calloc(n, sizeof(*st));
	struct ag_error err;
	int ret = AG_EXIT_OK;
	char ev[32];

	if (!st)
		return ag_cli_die(a->name, "out of memory");
	for (size_t i = 0; i < n; i++) {
		ag_error_init(&err);
		if (ag_sink_status(a->log, &v[i], &st[i], &err) != AG_OK) {
			free(st);
			return ag_cli_die(a->name, "%s", err.msg);
		}
		if (st[i].waiting || st[i].broken)
			ret = AG_EXIT_FINDINGS;
	}
	if (!strcmp(a->format, "json")) {
		struct ag_jsonw w;
		ag_jw_init(&w, stdout, 4);
		ag_jw_obj(&w);
		ag_jw_key(&w, "log");
		ag_jw_str(&w, a->log);
		ag_jw_key(&w, "sinks");
		ag_jw_arr(&w);
		for (size_t i = 0; i < n; i++) {
			char cpath[4200];
			ag_jw_obj(&w);
			ag_jw_key(&w, "name");
			ag_jw_str(&w, v[i].name);
			ag_jw_key(&w, "type");
			ag_jw_str(&w, ag_sink_type_name(v[i].type));
			ag_jw_key(&w, "events");
			ag_jw_arr(&w);
			if (v[i].events & AG_SINK_ALERT)
				ag_jw_str(&w, "alert");
			if (v[i].events & AG_SINK_NOTIFY)
				ag_jw_str(&w, "notify");
			ag_jw_arr_end(&w);
			ag_jw_key(&w, "cursor_file");
			if (ag_sink_cursor_path(a->log, v[i].name, cpath,
						sizeof(cpath)) == AG_OK)
				ag_jw_str(&w, cpath);
			else
				ag_jw_null(&w);
			ag_jw_key(&w, "cursor");
			ag_jw_int(&w, (long long)st[i].cursor);
			ag_jw_key(&w, "records");
			ag_jw_int(&w, (long long)st[i].records);
			ag_jw_key(&w, "waiting");
			ag_jw_int(&w, (long long)st[i].waiting);
			ag_jw_key(&w, "first_waiting");
			if (st[i].first_waiting)
				ag_jw_int(&w, (long long)st[i].first_waiting);
			else
				ag_jw_null(&w);
			ag_jw_key(&w, "error");
			if (st[i].broken)
				ag_jw_str(&w, st[i].why);
			else
				ag_jw_null(&w);
			ag_jw_obj_end(&w);
		}
		ag_jw_arr_end(&w);
		ag_jw_obj_end(&w);
		ag_jw_end(&w);
		free(st);
		return ret;
	}
	for (size_t i = 0; i < n; i++) {
		events_text(v[i].events, ev, sizeof(ev));
		printf("%s (%s, %s): ", v[i].name, ag_sink_type_name(v[i].type),
		       ev);
		if (st[i].broken)
			printf("stopped after seq %" PRIu64 ": %s\n",
			       st[i].cursor, st[i].why);
		else if (st[i].waiting)
			printf("cursor at seq %" PRIu64 " of %" PRIu64
			       "; %" PRIu64 " obligation%s, the first at "
			       "seq %" PRIu64 "\n",
			       st[i].cursor, st[i].records, st[i].waiting,
			       st[i].waiting == 1 ? " waits" : "s wait",
			       st[i].first_waiting);
		else
			printf("cursor at seq %" PRIu64 " of %" PRIu64
			       "; nothing waits\n",
			       st[i].cursor, st[i].records);
	}
	free(st);
	return ret;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000),
			      (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL); /* a signal cuts it short, as it should */
}

static int summary(const struct args *a, struct ag_sinks *d,
		   const struct ag_sink *v, size_t n)
{
	int ret = AG_EXIT_OK;

	for (size_t i = 0; i < n; i++) {
		struct ag_sink_state st;
		if (ag_sinks_state(d, v[i].name, &st) != AG_OK)
			continue;
		if (st.failing)
			ret = AG_EXIT_FINDINGS;
		if (a->quiet)
			continue;
		printf("%s: %" PRIu64 " delivered, cursor at seq %" PRIu64
		       "%s\n",
		       v[i].name, st.delivered, st.cursor,
		       st.broken    ? ", stopped: the log does not verify"
		       : st.failing ? ", still failing"
				    : "");
	}
	return ret;
}

static int deliver_once(const struct args *a, struct ag_sinks *d,
			const struct ag_sink *v, size_t n)
{
	struct ag_sinks_round res;
	int64_t retry_for = a->retry_for < 0 ? 10 : a->retry_for;
	int64_t end = now_ms() + retry_for * 1000;

	for (;;) {
		if (ag_sinks_deliver(d, &res) != AG_OK)
			return ag_cli_die(a->name, "out of memory");
		/* A log that does not verify will not mend by waiting. */
		if (!res.failing || res.broken || signalled)
			break;
		int64_t left = end - now_ms();
		if (res.next_retry_ms < 0 || res.next_retry_ms > left)
			break;
		sleep_ms(res.next_retry_ms);
	}
	return summary(a, d, v, n);
}

static int deliver_forever(const struct args *a, struct ag_sinks *d,
			   struct ag_policy **p)
{
	struct ag_error err;
	sigset_t set;
	int sig;

	/* The dispatcher's thread blocks every signal; this one waits for
	 * them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	ag_error_init(&err);
	if (ag_sinks_start(d, &err) != AG_OK)
		return ag_cli_die(a->name, "%s", err.msg);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			break;
		struct ag_policy *np = NULL;
		struct ag_sink *nv = NULL;
		size_t nn = 0;
		ag_error_init(&err);
		if (ag_policy_load(a->policy, &np, &err) != AG_OK) {
			fprintf(stderr,
				"aalgate %s: reload failed, keeping the current "
				"sinks: %s\n",
				a->name, err.msg);
			continue;
		}
		if (pick_sinks(a, np, &nv, &nn) >= 0 ||
		    ag_sinks_configure(d, nv, nn, &err) != AG_OK) {
			fprintf(stderr,
				"aalgate %s: reload failed, keeping the current "
				"sinks%s%s\n",
				a->name, err.msg[0] ? ": " : "", err.msg);
			free(nv);
			ag_policy_free(np);
			continue;
		}
		/* The dispatcher copied the sinks: the old policy can go
		 * (the caller's array of them is not read again). */
		free(nv);
		ag_policy_free(*p);
		*p = np;
		fprintf(stderr, "aalgate %s: reloaded %s (%zu sink%s)\n",
			a->name, a->policy, nn, nn == 1 ? "" : "s");
	}
	ag_sinks_stop(d);
	return AG_EXIT_OK;
}

int cmd_sink(int argc, char **argv)
{
	struct args a = {.format = "text", .retry_for = -1, .backoff_max = -1};
	struct ag_policy *p = NULL;
	struct ag_sinks *d = NULL;
	struct ag_sink *v = NULL;
	struct ag_error err;
	struct stat st;
	size_t n = 0;
	int ret;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? AG_EXIT_USAGE : AG_EXIT_OK;
	}
	if (!strcmp(argv[1], "deliver")) {
		a.sub = SUB_DELIVER;
		a.name = "sink deliver";
	} else if (!strcmp(argv[1], "status")) {
		a.sub = SUB_STATUS;
		a.name = "sink status";
	} else {
		struct ag_suggest sg;
		ag_suggest_init(&sg, argv[1]);
		ag_suggest_add(&sg, "deliver");
		ag_suggest_add(&sg, "status");
		fprintf(stderr,
			"aalgate sink: unknown subcommand '%s' (deliver or "
			"status)",
			argv[1]);
		if (ag_suggest_best(&sg))
			fprintf(stderr, "; did you mean '%s'?",
				ag_suggest_best(&sg));
		fputs("\n", stderr);
		return AG_EXIT_USAGE;
	}
	if ((ret = parse(argc - 1, argv + 1, &a)) >= 0)
		goto out;
	ag_error_init(&err);
	if (ag_policy_load(a.policy, &p, &err) != AG_OK) {
		ret = ag_cli_die(a.name, "%s", err.msg);
		goto out;
	}
	if ((ret = pick_sinks(&a, p, &v, &n)) >= 0)
		goto out;
	if (stat(a.log, &st) < 0) {
		ret = ag_cli_die(a.name, "%s: cannot open: %s", a.log,
				 strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = ag_cli_die(a.name, "%s: not a regular file", a.log);
		goto out;
	}
	if (a.sub == SUB_STATUS) {
		ret = do_status(&a, v, n);
		goto out;
	}

	struct ag_sinks_opts so = {.prefix = "aalgate sink deliver: "};
	if (a.backoff_max > 0)
		so.backoff_max_ms = (unsigned)(a.backoff_max * 1000);
	if (ag_sinks_new(a.log, &so, &d, &err) != AG_OK ||
	    ag_sinks_configure(d, v, n, &err) != AG_OK) {
		ret = ag_cli_die(a.name, "%s", err.msg);
		goto out;
	}
	/* SIGTERM and SIGINT give up the attempt in progress; the cursor
	 * stays where the last success left it. */
	running = d;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (a.once)
		ret = deliver_once(&a, d, v, n);
	else
		ret = deliver_forever(&a, d, &p);
	if (!a.once) {
		/* What the sinks did, once they are stopped. */
		ag_sinks_free(d);
		d = NULL;
	}
out:
	ag_sinks_free(d);
	running = NULL;
	free(v);
	free(a.only);
	ag_policy_free(p);
	return ret;
}
