/*
 * aalgate watch: authentication and access events from logs, judged by
 * the detections AG-W01..AG-W08 (docs/watch.md).
 *
 * aalgate watch -p POLICY [--state DB] [--inventory FILE]... [--since TIME]
 *               [--source SOURCE] [--year YYYY] [-f] [--format FORMAT]
 *               [-o FILE] [-q] [--no-progress] [FILE|-]...
 *
 * Every input goes through one event reader in large reads; its events
 * go to one engine, whose alerts are written as they come (SARIF: one
 * document at the end).  With --state, the engine's state and where each
 * input was read up to are saved once the alerts before them are written,
 * so a restart resumes without repeating an alert.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "aalgate/audit.h"
#include "aalgate/govern.h"
#include "aalgate/nhi.h"
#include "aalgate/watch.h"
#include "govern/sinks-int.h"
#include "cli.h"
#include "report/report.h"
#include "util.h"
#include "banned.h"

#define READ_SIZE (256 * 1024)
#define SHOW_SKIPS 20
#define POLL_MS 250
#define SAVE_EVERY_MS 2000
#define EXPIRE_EVERY_MS 60000
#define MARKS_EVERY_MS 60000

static const char usage_text[] =
	"usage: aalgate watch -p POLICY [options] [FILE|-]...\n"
	"\n"
	"Read authentication and access events and raise an alert when access\n"
	"took a path weaker than the policy allows (AG-W01..AG-W08): access\n"
	"below the workflow's level, a reset then privileged access, a\n"
	"help-desk reset then a new factor and a new device, a token or key\n"
	"used outside policy, break-glass use, a legacy protocol, a person\n"
	"using a machine identity, an unmanaged device on a device-bound\n"
	"workflow.  The windows are the policy's watch: section.\n"
	"\n"
	"Events are read from each FILE in turn (- or none: standard input):\n"
	"aalgate's decision log, the generic normalized form (JSON lines),\n"
	"Okta System Log, AWS CloudTrail, Keycloak events and sshd/sudo\n"
	"auth.log lines, recognised per record.  A record that cannot be read\n"
	"is counted and skipped (the first 20 are named on stderr); it never\n"
	"stops the stream.\n"
	"\n"
	"  -p, --policy FILE      the policy (required)\n"
	"      --state DB         keep the correlation state and where each\n"
	"                         file was read up to in the state store: a\n"
	"                         restart resumes there, without repeating an\n"
	"                         alert; its enrolments judge match_account\n"
	"                         workflows and its break-glass marks make a\n"
	"                         login of a marked account an AG-W05 use\n"
	"      --inventory FILE   a machine-identity inventory (repeatable; see\n"
	"                         'aalgate nhi audit'), for AG-W04 and AG-W07\n"
	"      --since TIME       drop events before TIME (2025-01-31 or\n"
	"                         2025-01-31T10:00:00Z)\n"
	"      --source SOURCE    read every record as SOURCE: auto (default),\n"
	"                         aalgate, generic, okta, cloudtrail, keycloak\n"
	"                         or authlog\n"
	"      --year YYYY        the year of syslog stamps, which have none\n"
	"                         (default: the current year)\n"
	"  -f, --follow           follow the last FILE as it grows, as\n"
	"                         'tail -F' does: a file truncated or replaced\n"
	"                         (log rotation) is read again from its start;\n"
	"                         SIGINT or SIGTERM ends cleanly\n"
	"      --format FORMAT    json (default: one alert per line), text, or\n"
	"                         sarif (one SARIF 2.1.0 log at the end;\n"
	"                         not with -f)\n"
	"  -o, --output FILE      write alerts to FILE instead of stdout\n"
	"      --sink NAME        also deliver each alert, as its JSON line,\n"
	"                         to the policy's sink NAME (repeatable; a\n"
	"                         sink that takes alerts); an alert that\n"
	"                         cannot be delivered after 3 attempts ends\n"
	"                         the run with status 2, before the state is\n"
	"                         saved, so that a restart delivers it again\n"
	"  -q, --quiet            no skipped records, progress or summary on\n"
	"                         stderr\n"
	"      --no-progress      no progress bar (drawn on a terminal when\n"
	"                         every input is a regular file)\n"
	"  -h, --help             this text\n"
	"\n"
	"A JSON alert holds the rule (code, name), its severity, time,\n"
	"subject and workflow, the required and observed assurance (aal,\n"
	"phishing_resistant, hardware), the evidence events (source, file,\n"
	"line, time, action), a detail and a remediation.  A summary goes to\n"
	"stderr at the end: records and events per source, ignored, skipped\n"
	"and oversize records, alerts per rule, subjects tracked, and the\n"
	"rate.\n"
	"\n"
	"Exit status: 0 no alert, 1 at least one alert, 2 bad input or usage,\n"
	"an unreadable input or a state store error.\n";

enum wfmt { FMT_JSON, FMT_TEXT, FMT_SARIF };

/* An alert kept for the SARIF log. */
struct kept {
	uint8_t rule, severity;
	int64_t time_ms;
	char *subject, *workflow, *file, *detail;
	uint64_t line;
};

struct input {
	const char *path; /* "-": standard input */
	int fd;
	bool regular;
	uint64_t dev, ino;
	uint64_t size;
};

struct wctx {
	const struct ag_policy *pol;
	struct ag_event_reader *r;
	struct ag_watch *w;
	struct ag_store *st;
	enum wfmt fmt;
	FILE *out;
	const char *out_name;
	bool quiet, progress, have_since;
	int64_t since_ms;
	/* the input being read */
	struct input *in;
	/* counts */
	uint64_t alerts, before_since, skips_shown, skips_more;
	uint64_t batch_alerts;
	bool out_failed;
	/* progress */
	uint64_t total_bytes, done_bytes;
	int64_t last_draw_ms;
	bool drawn;
	struct ag_jsonw jw;
	struct ag_buf b;
	struct kept *kept;
	size_t n_kept, alloc_kept;
	/* --sink */
	const struct ag_sink **sinks;
	size_t n_sinks;
	struct ag_error *sink_err;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL); /* a signal ends it early */
}

/* RFC 3339 in UTC, with milliseconds only when there are any. */
static void fmt_time(int64_t ms, char *out, size_t n)
{
	int64_t s = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
	int frac = (int)(ms - s * 1000);
	time_t t = (time_t)s;
	struct tm tm;
	if (!gmtime_r(&t, &tm)) {
		ag_strlcpy(out, "?", n);
		return;
	}
	if (frac)
		snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
	else
		snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02dZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The name of an evidence file index. */
static const char *file_name(const struct wctx *c, uint32_t file)
{
	const char *n = ag_watch_file(c->w, file);
	if (!n && !(file & AG_WATCH_FILE_SAVED))
		n = ag_event_reader_file(c->r, file);
	return n ? n : "?";
}

/* ---- progress ---- */

static void progress_clear(struct wctx *c)
{
	if (c->drawn) {
		fputs("\r\033[K", stderr);
		c->drawn = false;
	}
}

static void progress_draw(struct wctx *c, bool force, int64_t start_ms)
{
	if (!c->progress || !c->total_bytes)
		return;
	int64_t now = mono_ms();
	if (!force && now - c->last_draw_ms < 250)
		return;
	c->last_draw_ms = now;
	const struct ag_watch_stats *ws = ag_watch_stats(c->w);
	uint64_t done =
		c->done_bytes > c->total_bytes ? c->total_bytes : c->done_bytes;
	double pct = 100.0 * (double)done / (double)c->total_bytes;
	double secs = (double)(now - start_ms) / 1000.0;
	double rate = secs > 0 ? (double)ws->events / secs : 0;
	char bar[31];
	size_t fill = (size_t)(pct * 30 / 100);
	for (size_t i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = '\0';
	fprintf(stderr,
		"\r\033[Kwatch: [%s] %5.1f%%  %.0f events/s  %llu alerts", bar,
		pct, rate, (unsigned long long)c->alerts);
	c->drawn = true;
}

/* ---- alerts ---- */

static void assurance_json(struct ag_jsonw *j, bool has,
			   const struct ag_assurance *a)
{
	if (!has) {
		ag_jw_null(j);
		return;
	}
	ag_jw_obj(j);
	ag_jw_key(j, "aal");
	ag_jw_int(j, a->aal);
	ag_jw_key(j, "phishing_resistant");
	ag_jw_bool(j, a->phishing_resistant);
	ag_jw_key(j, "hardware");
	ag_jw_bool(j, a->hardware);
	ag_jw_obj_end(j);
}

static void assurance_text(struct ag_buf *b, const struct ag_assurance *a)
{
	ag_buf_printf(b, "AAL%d", a->aal);
	if (a->phishing_resistant)
		ag_buf_adds(b, " phishing-resistant");
	if (a->hardware)
		ag_buf_adds(b, " hardware");
}

static void write_json(struct wctx *c, FILE *to, const struct ag_alert *a)
{
	const struct ag_watch_rule_info *ri =
		ag_watch_rule_info((enum ag_watch_rule)a->rule);
	struct ag_jsonw *j = &c->jw;
	char ts[80];

	ag_jw_init(j, to, 0);
	ag_jw_obj(j);
	ag_jw_key(j, "rule");
	ag_jw_str(j, ri->code);
	ag_jw_key(j, "name");
	ag_jw_str(j, ri->name);
	ag_jw_key(j, "severity");
	ag_jw_str(j, ag_severity_name((enum ag_severity)a->severity));
	ag_jw_key(j, "time");
	fmt_time(a->time_ms, ts, sizeof(ts));
	ag_jw_str(j, ts);
	ag_jw_key(j, "subject");
	if (a->subject)
		ag_jw_str(j, a->subject);
	else
		ag_jw_null(j);
	ag_jw_key(j, "workflow");
	if (a->workflow)
		ag_jw_str(j, a->workflow);
	else
		ag_jw_null(j);
	ag_jw_key(j, "required");
	assurance_json(j, a->has_required, &a->required);
	ag_jw_key(j, "observed");
	assurance_json(j, a->has_observed, &a->observed);
	ag_jw_key(j, "evidence");
	ag_jw_arr(j);
	for (size_t i = 0; i < a->n_evidence; i++) {
		ag_jw_obj(j);
		ag_jw_key(j, "source");
		ag_jw_str(j,
			  ag_event_source_name(
				  (enum ag_event_source)a->evidence[i].source));
		ag_jw_key(j, "file");
		ag_jw_str(j, file_name(c, a->evidence[i].file));
		ag_jw_key(j, "line");
		ag_jw_int(j, (long long)a->evidence[i].line);
		ag_jw_key(j, "time");
		fmt_time(a->evidence[i].time_ms, ts, sizeof(ts));
		ag_jw_str(j, ts);
		ag_jw_key(j, "action");
		if (a->evidence[i].action)
			ag_jw_str(j, a->evidence[i].action);
		else
			ag_jw_null(j);
		ag_jw_obj_end(j);
	}
	ag_jw_arr_end(j);
	ag_jw_key(j, "detail");
	ag_jw_str(j, a->detail);
	ag_jw_key(j, "remediation");
	ag_jw_str(j, ri->remediation);
	ag_jw_obj_end(j);
	ag_jw_end(j);
}

static void write_text(struct wctx *c, const struct ag_alert *a)
{
	const struct ag_watch_rule_info *ri =
		ag_watch_rule_info((enum ag_watch_rule)a->rule);
	struct ag_buf *b = &c->b;
	char ts[80];
	const char *sev = ag_severity_name((enum ag_severity)a->severity);

	b->len = 0;
	fmt_time(a->time_ms, ts, sizeof(ts));
	for (const char *p = sev; *p; p++)
		ag_buf_addc(b, (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p));
	ag_buf_printf(b, " %s %s: %s", ri->code, ri->name,
		      a->subject ? a->subject : "-");
	if (a->workflow)
		ag_buf_printf(b, " (%s)", a->workflow);
	ag_buf_printf(b, " at %s: %s", ts, a->detail);
	if (a->has_required) {
		ag_buf_adds(b, "; required ");
		assurance_text(b, &a->required);
	}
	if (a->has_observed) {
		ag_buf_adds(b, a->has_required ? ", observed " : "; observed ");
		assurance_text(b, &a->observed);
	}
	ag_buf_addc(b, '\n');
	for (size_t i = 0; i < a->n_evidence; i++) {
		fmt_time(a->evidence[i].time_ms, ts, sizeof(ts));
		ag_buf_printf(
			b, "    %s:%llu: %s %s %s\n",
			file_name(c, a->evidence[i].file),
			(unsigned long long)a->evidence[i].line, ts,
			ag_event_source_name(
				(enum ag_event_source)a->evidence[i].source),
			a->evidence[i].action ? a->evidence[i].action : "-");
	}
	ag_buf_printf(b, "    remediation: %s\n", ri->remediation);
	fwrite(b->data ? b->data : "", 1, b->len, c->out);
}

static ag_code keep_alert(struct wctx *c, const struct ag_alert *a,
			  struct ag_error *err)
{
	if (AG_GROW(c->kept, c->alloc_kept, c->n_kept + 1))
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	struct kept *k = &c->kept[c->n_kept];
	memset(k, 0, sizeof(*k));
	k->rule = a->rule;
	k->severity = a->severity;
	k->time_ms = a->time_ms;
	k->subject = ag_strdup(a->subject ? a->subject : "");
	k->workflow = a->workflow ? ag_strdup(a->workflow) : NULL;
	k->detail = ag_strdup(a->detail);
	if (a->n_evidence) {
		k->file = ag_strdup(file_name(c, a->evidence[0].file));
		k->line = a->evidence[0].line;
	}
	c->n_kept++;
	if (!k->subject || !k->detail || (a->workflow && !k->workflow) ||
	    (a->n_evidence && !k->file))
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	return AG_OK;
}

/* Delivers alert a, as its JSON line, to every --sink: three attempts
 * each, a second and then two apart.  Failing denies the run (status 2)
 * before the state is saved, so a restart delivers it again: at least
 * once, never lost. */
static ag_code to_sinks(struct wctx *c, const struct ag_alert *a)
{
	char *line = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&line, &len);
	if (!m)
		return ag_err(c->sink_err, AG_ERR_NOMEM, "out of memory");
	write_json(c, m, a);
	if (fclose(m) != 0 || !line) {
		free(line);
		return ag_err(c->sink_err, AG_ERR_NOMEM, "out of memory");
	}
	while (len && line[len - 1] == '\n')
		line[--len] = '\0';
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	if (!EVP_Digest(line, len, md, &mdlen, EVP_sha256(), NULL)) {
		free(line);
		return ag_err(c->sink_err, AG_ERR_INTERNAL,
			      "cannot hash an alert");
	}
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	static const int no_stop = 0;
	struct ag_sink_call call;
	memset(&call, 0, sizeof(call));
	call.line = line;
	call.len = len;
	call.seq = c->alerts;
	call.obligation = "alert";
	call.hash = hex;
	call.stop = &no_stop;
	ag_code rc = AG_OK;
	for (size_t k = 0; k < c->n_sinks && rc == AG_OK; k++) {
		char why[256] = "";
		for (int attempt = 0;; attempt++) {
			rc = ag_sink_deliver_one(c->sinks[k], &call, why,
						 sizeof(why));
			if (rc == AG_OK || attempt == 2 || stop_flag)
				break;
			sleep_ms(1000 * (attempt + 1));
		}
		if (rc != AG_OK) {
			/* Said here: the reader reports only that the
			 * callback stopped it. */
			ag_err(c->sink_err, AG_ERR_IO,
			       "sink '%s' did not take alert %llu: %s",
			       c->sinks[k]->name,
			       (unsigned long long)c->alerts, why);
			fprintf(stderr, "aalgate watch: %s\n",
				c->sink_err->msg);
		}
	}
	free(line);
	return rc;
}

static ag_code on_alert(void *ctx, const struct ag_alert *a)
{
	struct wctx *c = ctx;
	c->alerts++;
	c->batch_alerts++;
	if (c->n_sinks) {
		ag_code rc = to_sinks(c, a);
		if (rc != AG_OK)
			return rc;
	}
	switch (c->fmt) {
	case FMT_JSON:
		write_json(c, c->out, a);
		break;
	case FMT_TEXT:
		write_text(c, a);
		break;
	case FMT_SARIF:
		return keep_alert(c, a, NULL);
	}
	if (ferror(c->out))
		c->out_failed = true;
	return c->out_failed ? AG_ERR_IO : AG_OK;
}

/* The reader's event callback. */
struct feed_ctx {
	struct wctx *c;
	struct ag_error *err;
};

static ag_code on_event(void *ctx, const struct ag_event *ev)
{
	struct feed_ctx *fc = ctx;
	struct wctx *c = fc->c;
	if (c->have_since && ev->time_ms < c->since_ms) {
		c->before_since++;
		return AG_OK;
	}
	return ag_watch_event(c->w, ev, on_alert, c, fc->err);
}

static void on_skip(void *ctx, uint32_t file, uint64_t line, const char *why)
{
	struct wctx *c = ctx;
	if (c->quiet)
		return;
	if (c->skips_shown >= SHOW_SKIPS) {
		c->skips_more++;
		return;
	}
	c->skips_shown++;
	progress_clear(c);
	fprintf(stderr, "watch: %s:%llu: skipped: %s\n",
		ag_event_reader_file(c->r, file), (unsigned long long)line,
		why);
}

/* ---- the SARIF log ---- */

/* A file name as a URI reference (RFC 3986), as the audit's log does. */
static void sarif_uri(struct ag_jsonw *j, struct ag_buf *b, const char *file)
{
	b->len = 0;
	for (const unsigned char *p = (const unsigned char *)file; *p; p++) {
		unsigned char ch = *p;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
		    ch == '_' || ch == '~' || ch == '/')
			ag_buf_addc(b, (char)ch);
		else
			ag_buf_printf(b, "%%%02X", ch);
	}
	ag_jw_strn(j, b->data ? b->data : "", b->len);
}

static void write_sarif(struct wctx *c)
{
	struct ag_jsonw *j = &c->jw;
	char ts[80];

	ag_jw_init(j, c->out, 99);
	ag_jw_obj(j);
	ag_jw_key(j, "$schema");
	ag_jw_str(j, "https://json.schemastore.org/sarif-2.1.0.json");
	ag_jw_key(j, "version");
	ag_jw_str(j, "2.1.0");
	ag_jw_key(j, "runs");
	ag_jw_arr(j);
	ag_jw_obj(j);
	ag_jw_key(j, "tool");
	ag_jw_obj(j);
	ag_jw_key(j, "driver");
	ag_jw_obj(j);
	ag_jw_key(j, "name");
	ag_jw_str(j, "aalgate");
	ag_jw_key(j, "version");
	ag_jw_str(j, AG_VERSION);
	ag_jw_key(j, "semanticVersion");
	ag_jw_str(j, AG_VERSION);
	ag_jw_key(j, "rules");
	ag_jw_arr(j);
	for (int r = AG_W01; r < AG_WATCH_RULE_COUNT; r++) {
		const struct ag_watch_rule_info *ri =
			ag_watch_rule_info((enum ag_watch_rule)r);
		ag_jw_obj(j);
		ag_jw_key(j, "id");
		ag_jw_str(j, ri->code);
		ag_jw_key(j, "name");
		ag_jw_str(j, ri->name);
		ag_jw_key(j, "shortDescription");
		ag_jw_obj(j);
		ag_jw_key(j, "text");
		ag_jw_str(j, ri->summary);
		ag_jw_obj_end(j);
		ag_jw_key(j, "help");
		ag_jw_obj(j);
		ag_jw_key(j, "text");
		ag_jw_str(j, ri->remediation);
		ag_jw_obj_end(j);
		ag_jw_key(j, "properties");
		ag_jw_obj(j);
		ag_jw_key(j, "tags");
		ag_jw_arr(j);
		ag_jw_str(j, "security");
		ag_jw_arr_end(j);
		ag_jw_obj_end(j);
		ag_jw_obj_end(j);
	}
	ag_jw_arr_end(j);
	ag_jw_obj_end(j);
	ag_jw_obj_end(j);

	ag_jw_key(j, "results");
	ag_jw_arr(j);
	for (size_t i = 0; i < c->n_kept; i++) {
		const struct kept *k = &c->kept[i];
		const struct ag_watch_rule_info *ri =
			ag_watch_rule_info((enum ag_watch_rule)k->rule);
		ag_jw_obj(j);
		ag_jw_key(j, "ruleId");
		ag_jw_str(j, ri->code);
		ag_jw_key(j, "ruleIndex");
		ag_jw_int(j, k->rule - AG_W01);
		ag_jw_key(j, "level");
		ag_jw_str(j, ag_sarif_level((enum ag_severity)k->severity));
		ag_jw_key(j, "message");
		ag_jw_obj(j);
		ag_jw_key(j, "text");
		c->b.len = 0;
		ag_buf_printf(&c->b, "%s: %s", k->subject, k->detail);
		ag_jw_strn(j, c->b.data ? c->b.data : "", c->b.len);
		ag_jw_obj_end(j);
		if (k->file) {
			ag_jw_key(j, "locations");
			ag_jw_arr(j);
			ag_jw_obj(j);
			ag_jw_key(j, "physicalLocation");
			ag_jw_obj(j);
			ag_jw_key(j, "artifactLocation");
			ag_jw_obj(j);
			ag_jw_key(j, "uri");
			sarif_uri(j, &c->b, k->file);
			ag_jw_obj_end(j);
			if (k->line) {
				ag_jw_key(j, "region");
				ag_jw_obj(j);
				ag_jw_key(j, "startLine");
				ag_jw_int(j, (long long)k->line);
				ag_jw_obj_end(j);
			}
			ag_jw_obj_end(j);
			ag_jw_obj_end(j);
			ag_jw_arr_end(j);
		}
		ag_jw_key(j, "properties");
		ag_jw_obj(j);
		ag_jw_key(j, "severity");
		ag_jw_str(j, ag_severity_name((enum ag_severity)k->severity));
		ag_jw_key(j, "subject");
		ag_jw_str(j, k->subject);
		if (k->workflow) {
			ag_jw_key(j, "workflow");
			ag_jw_str(j, k->workflow);
		}
		ag_jw_key(j, "time");
		fmt_time(k->time_ms, ts, sizeof(ts));
		ag_jw_str(j, ts);
		ag_jw_obj_end(j);
		ag_jw_obj_end(j);
	}
	ag_jw_arr_end(j);
	ag_jw_obj_end(j);
	ag_jw_arr_end(j);
	ag_jw_obj_end(j);
	ag_jw_end(j);
}

/* ---- inputs ---- */

static int open_input(struct input *in)
{
	struct stat sb;
	if (!strcmp(in->path, "-"))
		in->fd = STDIN_FILENO;
	else if ((in->fd = open(in->path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return ag_cli_die("watch", "cannot open %s: %s", in->path,
				  strerror(errno));
	if (fstat(in->fd, &sb) != 0)
		return ag_cli_die("watch", "cannot read %s: %s", in->path,
				  strerror(errno));
	if (S_ISDIR(sb.st_mode))
		return ag_cli_die("watch", "%s is a directory", in->path);
	in->regular = S_ISREG(sb.st_mode);
	in->dev = (uint64_t)sb.st_dev;
	in->ino = (uint64_t)sb.st_ino;
	in->size = (uint64_t)sb.st_size;
	return AG_EXIT_OK;
}

static void close_input(struct input *in)
{
	if (in->fd > STDIN_FILENO)
		close(in->fd);
	in->fd = -1;
}

/* Line number of byte offset off of fd (counting from 1), reading it from
 * the start; the file offset is left at off. */
static int line_at(int fd, uint64_t off, char *buf, uint64_t *line)
{
	uint64_t n = 1, done = 0;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -1;
	while (done < off) {
		size_t want = off - done < READ_SIZE ? (size_t)(off - done)
						     : READ_SIZE;
		ssize_t got = read(fd, buf, want);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		for (const char *p = buf, *e = buf + got;
		     (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
			n++;
		done += (uint64_t)got;
	}
	*line = n;
	return 0;
}

/* Begins input in: a new file index for the reader and the engine, and
 * with a state store and unless fresh, the stored resume point. */
static int begin_input(struct wctx *c, struct input *in, char *buf, bool fresh,
		       uint64_t *offset)
{
	struct ag_error err;
	uint32_t idx;
	uint64_t off = 0, line = 1;

	ag_error_init(&err);
	*offset = 0;
	if (ag_event_reader_begin(c->r, in->path, &idx, &err) ||
	    ag_watch_input(c->w, idx, in->path, &err)) {
		fprintf(stderr, "aalgate watch: %s\n", err.msg);
		return AG_EXIT_USAGE;
	}
	c->in = in;
	if (c->st && in->regular && !fresh &&
	    ag_watch_position(c->w, in->dev, in->ino, &off) && off > 0 &&
	    off <= in->size) {
		if (line_at(in->fd, off, buf, &line) != 0)
			return ag_cli_die("watch", "cannot read %s: %s",
					  in->path, strerror(errno));
		if (ag_event_reader_resume(c->r, off, line, &err)) {
			fprintf(stderr, "aalgate watch: %s\n", err.msg);
			return AG_EXIT_USAGE;
		}
		*offset = off;
	}
	return AG_EXIT_OK;
}

static int save_state(struct wctx *c)
{
	struct ag_error err;
	ag_error_init(&err);
	if (!c->st)
		return AG_EXIT_OK;
	if (fflush(c->out) != 0 || ferror(c->out)) {
		progress_clear(c);
		return ag_cli_die("watch", "cannot write alerts to %s",
				  c->out_name);
	}
	if (ag_watch_save(c->w, &err)) {
		progress_clear(c);
		fprintf(stderr, "aalgate watch: cannot save the state: %s\n",
			err.msg);
		return AG_EXIT_USAGE;
	}
	return AG_EXIT_OK;
}

/* After a batch: the position reached in the current input. */
static int mark_position(struct wctx *c, bool *resumable)
{
	struct ag_event_pos pos;
	struct ag_error err;
	ag_error_init(&err);
	ag_event_reader_position(c->r, &pos);
	*resumable = !pos.nested;
	if (!c->st || !c->in->regular || pos.nested)
		return AG_EXIT_OK;
	if (ag_watch_set_position(c->w, c->in->dev, c->in->ino, pos.offset,
				  &err)) {
		progress_clear(c);
		fprintf(stderr, "aalgate watch: %s\n", err.msg);
		return AG_EXIT_USAGE;
	}
	return AG_EXIT_OK;
}

/* Feeds len bytes of the current input (eof ends it); flushes the alerts
 * and records the position. */
static int feed(struct wctx *c, const char *buf, size_t len, bool eof,
		bool *resumable)
{
	struct ag_error err;
	struct feed_ctx fc = {c, &err};
	ag_error_init(&err);
	c->batch_alerts = 0;
	ag_code rc =
		ag_event_reader_feed(c->r, buf, len, eof, on_event, &fc, &err);
	if (c->out_failed) {
		progress_clear(c);
		return ag_cli_die("watch", "cannot write alerts to %s",
				  c->out_name);
	}
	if (rc) {
		progress_clear(c);
		fprintf(stderr, "aalgate watch: %s: %s\n", c->in->path,
			err.msg[0] ? err.msg : ag_strerror(rc));
		return AG_EXIT_USAGE;
	}
	c->done_bytes += len;
	if (c->batch_alerts && fflush(c->out) != 0) {
		progress_clear(c);
		return ag_cli_die("watch", "cannot write alerts to %s",
				  c->out_name);
	}
	return mark_position(c, resumable);
}

struct loop {
	char *buf;
	int64_t start_ms, last_save_ms, last_marks_ms;
	bool follow;
};

/* Following: the store's break-glass marks again, now and then, so that
 * an account marked after the start is watched too.  A store that fails
 * here keeps the marks read before, and says so. */
static void maybe_marks(struct wctx *c, struct loop *L)
{
	struct ag_error err;
	if (!c->st || !L->follow)
		return;
	int64_t now = mono_ms();
	if (now - L->last_marks_ms < MARKS_EVERY_MS)
		return;
	L->last_marks_ms = now;
	ag_error_init(&err);
	if (ag_watch_reload_marks(c->w, &err) != AG_OK) {
		progress_clear(c);
		fprintf(stderr,
			"watch: break-glass marks not read again, the last "
			"ones stay: %s\n",
			err.msg);
	}
}

/* Saves when due (following, or a long run), at a resumable point. */
static int maybe_save(struct wctx *c, struct loop *L, bool resumable)
{
	if (!c->st || !resumable)
		return AG_EXIT_OK;
	int64_t now = mono_ms();
	if (now - L->last_save_ms < SAVE_EVERY_MS)
		return AG_EXIT_OK;
	L->last_save_ms = now;
	return save_state(c);
}

/* Has the file at in->path been replaced or truncated?  1 replaced,
 * 2 truncated, 0 neither (or nothing there yet). */
static int rotated(const struct input *in, uint64_t offset)
{
	struct stat sb;
	if (stat(in->path, &sb) != 0)
		return 0;
	if ((uint64_t)sb.st_dev != in->dev || (uint64_t)sb.st_ino != in->ino)
		return 1;
	if ((uint64_t)sb.st_size < offset)
		return 2;
	return 0;
}

/* Reads one input to its end; with follow, keeps reading it (and what
 * replaces it) until a signal. */
static int read_input(struct wctx *c, struct loop *L, struct input *in)
{
	uint64_t offset;
	int ret;
	bool resumable = true;
	int64_t quiet_since = mono_ms(), last_expire = quiet_since;

	if ((ret = begin_input(c, in, L->buf, false, &offset)) != AG_EXIT_OK)
		return ret;
	c->done_bytes += offset;
	for (;;) {
		if (stop_flag)
			break;
		maybe_marks(c, L);
		ssize_t got = read(in->fd, L->buf, READ_SIZE);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			progress_clear(c);
			return ag_cli_die("watch", "cannot read %s: %s",
					  in->path, strerror(errno));
		}
		if (got > 0) {
			offset += (uint64_t)got;
			if ((ret = feed(c, L->buf, (size_t)got, false,
					&resumable)) != AG_EXIT_OK)
				return ret;
			progress_draw(c, false, L->start_ms);
			if ((ret = maybe_save(c, L, resumable)) != AG_EXIT_OK)
				return ret;
			quiet_since = mono_ms();
			continue;
		}
		/* The end of what is there. */
		if (!L->follow || !in->regular) {
			if ((ret = feed(c, "", 0, true, &resumable)) !=
			    AG_EXIT_OK)
				return ret;
			break;
		}
		int rot = rotated(in, offset);
		if (rot) {
			/* Finish the old file (a rotated log was read to its
			 * end above) and read the new one from its start. */
			if ((ret = feed(c, "", 0, true, &resumable)) !=
			    AG_EXIT_OK)
				return ret;
			close_input(in);
			if (!c->quiet) {
				progress_clear(c);
				fprintf(stderr,
					"watch: %s: %s; reading it "
					"from the start\n",
					in->path,
					rot == 1 ? "replaced" : "truncated");
			}
			if ((ret = open_input(in)) != AG_EXIT_OK)
				return ret;
			/* A truncated file is read from its start, whatever
			 * an earlier run stored for its inode. */
			if ((ret = begin_input(c, in, L->buf, rot == 2,
					       &offset)) != AG_EXIT_OK)
				return ret;
			continue;
		}
		if ((ret = maybe_save(c, L, resumable)) != AG_EXIT_OK)
			return ret;
		int64_t now = mono_ms();
		if (now - quiet_since >= EXPIRE_EVERY_MS &&
		    now - last_expire >= EXPIRE_EVERY_MS) {
			/* A quiet log: time moves on without events. */
			ag_watch_expire(c->w, wall_ms());
			last_expire = now;
		}
		sleep_ms(POLL_MS);
	}
	return AG_EXIT_OK;
}

/* ---- summary ---- */

static void summary(struct wctx *c, int64_t start_us, size_t n_inputs)
{
	const struct ag_event_stats *es = ag_event_reader_stats(c->r);
	const struct ag_watch_stats *ws = ag_watch_stats(c->w);
	double secs = (double)(mono_us() - start_us) / 1e6;
	uint64_t recs = 0, evs = 0;

	for (int s = 0; s < AG_SRC__COUNT; s++) {
		recs += es->records[s];
		evs += es->events[s];
	}
	fprintf(stderr,
		"watch: %zu input%s, %llu bytes, %llu records, %llu events "
		"in %.2f s (%.0f events/s)\n",
		n_inputs, n_inputs == 1 ? "" : "s",
		(unsigned long long)es->bytes, (unsigned long long)recs,
		(unsigned long long)evs, secs,
		secs > 0 ? (double)ws->events / secs : 0.0);
	for (int s = 0; s < AG_SRC__COUNT; s++)
		if (es->records[s] || es->events[s])
			fprintf(stderr,
				"watch:   %-10s %llu records, %llu events\n",
				ag_event_source_name((enum ag_event_source)s),
				(unsigned long long)es->records[s],
				(unsigned long long)es->events[s]);
	fprintf(stderr, "watch: ignored %llu, skipped %llu (oversize %llu)",
		(unsigned long long)es->ignored,
		(unsigned long long)es->skipped,
		(unsigned long long)es->oversize);
	if (c->skips_more)
		fprintf(stderr, ", %llu skipped not shown",
			(unsigned long long)c->skips_more);
	if (c->have_since)
		fprintf(stderr, ", before --since %llu",
			(unsigned long long)c->before_since);
	fputc('\n', stderr);
	fprintf(stderr, "watch: alerts %llu", (unsigned long long)c->alerts);
	const char *sep = ":";
	for (int r = AG_W01; r < AG_WATCH_RULE_COUNT; r++)
		if (ws->by_rule[r]) {
			fprintf(stderr, "%s %s %llu", sep,
				ag_watch_rule_info((enum ag_watch_rule)r)->code,
				(unsigned long long)ws->by_rule[r]);
			sep = ",";
		}
	fputc('\n', stderr);
	fprintf(stderr,
		"watch: subjects tracked %zu, peak %zu, evicted %llu, "
		"expired %llu; events judged %llu (late %llu, future %llu, "
		"untracked %llu)\n",
		ws->subjects, ws->subjects_peak,
		(unsigned long long)ws->subjects_evicted,
		(unsigned long long)ws->subjects_expired,
		(unsigned long long)ws->events, (unsigned long long)ws->late,
		(unsigned long long)ws->future,
		(unsigned long long)ws->untracked);
}

/* ---- the command ---- */

int cmd_watch(int argc, char **argv)
{
	static const struct option opts[] = {
		{"policy", required_argument, NULL, 'p'},
		{"state", required_argument, NULL, 'S'},
		{"inventory", required_argument, NULL, 'I'},
		{"since", required_argument, NULL, 'T'},
		{"source", required_argument, NULL, 'R'},
		{"year", required_argument, NULL, 'Y'},
		{"follow", no_argument, NULL, 'f'},
		{"format", required_argument, NULL, 'F'},
		{"output", required_argument, NULL, 'o'},
		{"sink", required_argument, NULL, 'K'},
		{"quiet", no_argument, NULL, 'q'},
		{"no-progress", no_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *policy_file = NULL, *state = NULL, *output = NULL;
	const char **invs = NULL;
	size_t n_invs = 0, n_inputs = 0;
	const char *sink_names[AG_SINKS_MAX];
	const struct ag_sink *sinks[AG_SINKS_MAX];
	size_t n_sink_names = 0;
	struct input *inputs = NULL;
	struct ag_event_reader_opts ropts = {AG_SRC_AUTO, 0, 0};
	struct ag_policy *pol = NULL;
	struct ag_nhi_inventory inv;
	bool have_inv = false, follow = false, no_progress = false;
	struct wctx c;
	struct loop L = {.buf = NULL};
	struct ag_error err;
	struct sigaction sa, old_int, old_term;
	bool sig_set = false;
	int opt, ret = AG_EXIT_USAGE;

	memset(&c, 0, sizeof(c));
	memset(&inv, 0, sizeof(inv));
	ag_error_init(&err);
	ag_buf_init(&c.b, 1u << 20);
	c.fmt = FMT_JSON;
	c.out = stdout;
	c.out_name = "standard output";
	if (!(invs = calloc((size_t)argc + 1, sizeof(*invs))) ||
	    !(inputs = calloc((size_t)argc + 1, sizeof(*inputs)))) {
		ag_cli_die("watch", "out of memory");
		goto out;
	}
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":p:fo:qh", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			policy_file = optarg;
			break;
		case 'S':
			state = optarg;
			break;
		case 'I':
			invs[n_invs++] = optarg;
			break;
		case 'T': {
			int64_t s;
			if (ag_time_parse(optarg, &s)) {
				ag_cli_die("watch",
					   "bad --since '%s' (write 2025-01-31 "
					   "or 2025-01-31T10:00:00Z)",
					   optarg);
				goto out;
			}
			c.since_ms = s * 1000;
			c.have_since = true;
			break;
		}
		case 'R': {
			enum ag_event_source s;
			if (ag_event_source_parse(optarg, &s, &err)) {
				fprintf(stderr, "aalgate watch: --source: %s\n",
					err.msg);
				goto out;
			}
			ropts.source = s;
			break;
		}
		case 'Y': {
			char *end;
			errno = 0;
			long y = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || y < 1970 ||
			    y > 9999) {
				ag_cli_die("watch",
					   "bad --year '%s' (1970..9999)",
					   optarg);
				goto out;
			}
			ropts.default_year = (int)y;
			break;
		}
		case 'f':
			follow = true;
			break;
		case 'F':
			if (!strcmp(optarg, "json"))
				c.fmt = FMT_JSON;
			else if (!strcmp(optarg, "text"))
				c.fmt = FMT_TEXT;
			else if (!strcmp(optarg, "sarif"))
				c.fmt = FMT_SARIF;
			else {
				ag_cli_die("watch",
					   "unknown format '%s' (json, text or "
					   "sarif)",
					   optarg);
				goto out;
			}
			break;
		case 'o':
			output = optarg;
			break;
		case 'K':
			if (n_sink_names >= AG_SINKS_MAX) {
				ag_cli_die("watch", "at most %d --sink options",
					   AG_SINKS_MAX);
				goto out;
			}
			sink_names[n_sink_names++] = optarg;
			break;
		case 'q':
			c.quiet = true;
			break;
		case 'P':
			no_progress = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			ret = AG_EXIT_OK;
			goto out;
		case ':':
			ag_cli_die("watch",
				   "option '%s' needs a value; see 'aalgate "
				   "watch --help'",
				   argv[optind - 1]);
			goto out;
		default:
			ag_cli_die("watch",
				   "unknown option '%s'; see 'aalgate watch "
				   "--help'",
				   argv[optind - 1]);
			goto out;
		}
	}
	for (int i = optind; i < argc; i++)
		inputs[n_inputs++].path = argv[i];
	if (!n_inputs)
		inputs[n_inputs++].path = "-";
	for (size_t i = 0; i < n_inputs; i++)
		inputs[i].fd = -1;
	if (!policy_file) {
		ag_cli_die("watch", "a policy is required (-p POLICY); see "
				    "'aalgate watch --help'");
		goto out;
	}
	size_t n_stdin = 0;
	for (size_t i = 0; i < n_inputs; i++)
		n_stdin += !strcmp(inputs[i].path, "-");
	if (n_stdin > 1) {
		ag_cli_die("watch", "standard input (-) is given %zu times",
			   n_stdin);
		goto out;
	}
	if (follow && c.fmt == FMT_SARIF) {
		/* One document at the end would hold every alert of a stream
		 * that has no end. */
		ag_cli_die("watch", "--format sarif writes one document at the "
				    "end and cannot follow (-f); use json or "
				    "text, or a sink");
		goto out;
	}

	if (ag_policy_load(policy_file, &pol, &err)) {
		fprintf(stderr, "aalgate watch: %s\n", err.msg);
		goto out;
	}
	c.pol = pol;
	for (size_t k = 0; k < n_sink_names; k++) {
		const struct ag_sink *found = NULL;
		struct ag_suggest sg;
		ag_suggest_init(&sg, sink_names[k]);
		for (size_t i = 0; i < pol->n_sinks; i++) {
			ag_suggest_add(&sg, pol->sinks[i].name);
			if (!strcmp(pol->sinks[i].name, sink_names[k]))
				found = &pol->sinks[i];
		}
		if (!found) {
			const char *hint = ag_suggest_best(&sg);
			ag_cli_die("watch", "%s: the policy has no sink '%s'%s%s%s",
				   policy_file, sink_names[k],
				   hint ? "; did you mean '" : "",
				   hint ? hint : "", hint ? "'?" : "");
			goto out;
		}
		if (!(found->events & AG_SINK_ALERT)) {
			ag_cli_die("watch", "%s: sink '%s' does not take alerts "
					    "(its events: add alert)",
				   policy_file, found->name);
			goto out;
		}
		sinks[k] = found;
	}
	c.sinks = sinks;
	c.n_sinks = n_sink_names;
	c.sink_err = &err;
	if (n_invs) {
		if (ag_nhi_inventory_init(&inv)) {
			ag_cli_die("watch", "out of memory");
			goto out;
		}
		have_inv = true;
		for (size_t i = 0; i < n_invs; i++)
			if (ag_nhi_load(&inv, pol, invs[i], AG_NHI_AUTO,
					&err)) {
				fprintf(stderr, "aalgate watch: %s\n", err.msg);
				goto out;
			}
		if (ag_nhi_resolve(&inv, pol, &err)) {
			fprintf(stderr, "aalgate watch: %s\n", err.msg);
			goto out;
		}
	}
	/* Every input must be there and readable before anything is judged
	 * (a file that follows is checked when it is read). */
	for (size_t i = 0; i < n_inputs; i++) {
		if ((ret = open_input(&inputs[i])) != AG_EXIT_OK)
			goto out;
		ret = AG_EXIT_USAGE;
		if (inputs[i].regular)
			c.total_bytes += inputs[i].size;
		/* One file under two names would be read twice: every event
		 * counted and judged twice. */
		for (size_t k = 0; k < i; k++)
			if (inputs[k].dev == inputs[i].dev &&
			    inputs[k].ino == inputs[i].ino) {
				ag_cli_die("watch", "%s and %s are the same file",
					   inputs[k].path, inputs[i].path);
				goto out;
			}
	}
	if (state && ag_store_open(state, NULL, &c.st, &err)) {
		fprintf(stderr, "aalgate watch: %s\n", err.msg);
		goto out;
	}
	if (ag_event_reader_new(pol, &ropts, &c.r, &err) ||
	    ag_watch_new(pol, have_inv ? &inv : NULL, c.st, &c.w, &err)) {
		fprintf(stderr, "aalgate watch: %s\n", err.msg);
		goto out;
	}
	if (c.st && ag_watch_load(c.w, &err)) {
		fprintf(stderr, "aalgate watch: cannot load the state: %s\n",
			err.msg);
		goto out;
	}
	ag_event_reader_on_skip(c.r, on_skip, &c);
	if (output) {
		if (!(c.out = fopen(output, "w"))) {
			ag_cli_die("watch", "cannot write %s: %s", output,
				   strerror(errno));
			c.out = stdout;
			goto out;
		}
		c.out_name = output;
	}
	c.progress = !c.quiet && !no_progress && !follow && ag_cli_progress();
	for (size_t i = 0; c.progress && i < n_inputs; i++)
		if (!inputs[i].regular)
			c.progress = false;
	if (!(L.buf = malloc(READ_SIZE))) {
		ag_cli_die("watch", "out of memory");
		goto out;
	}

	/* A signal ends the run cleanly: what was read is judged, the state
	 * saved and the summary written. */
	stop_flag = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sig_set = true;

	int64_t start_us = mono_us();
	L.start_ms = L.last_save_ms = L.last_marks_ms = mono_ms();
	for (size_t i = 0; i < n_inputs && !stop_flag; i++) {
		L.follow = follow && i + 1 == n_inputs;
		if ((ret = read_input(&c, &L, &inputs[i])) != AG_EXIT_OK)
			goto out;
		ret = AG_EXIT_USAGE;
		close_input(&inputs[i]);
	}
	progress_draw(&c, true, L.start_ms);
	progress_clear(&c);
	if (c.fmt == FMT_SARIF)
		write_sarif(&c);
	if (fflush(c.out) != 0 || ferror(c.out)) {
		ag_cli_die("watch", "cannot write alerts to %s", c.out_name);
		goto out;
	}
	if (save_state(&c) != AG_EXIT_OK)
		goto out;
	if (!c.quiet)
		summary(&c, start_us, n_inputs);
	ret = c.alerts ? AG_EXIT_FINDINGS : AG_EXIT_OK;
out:
	progress_clear(&c);
	if (sig_set) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
	}
	for (size_t i = 0; inputs && i < n_inputs; i++)
		close_input(&inputs[i]);
	if (c.out && c.out != stdout && fclose(c.out) != 0 &&
	    ret != AG_EXIT_USAGE) {
		ag_cli_die("watch", "cannot write alerts to %s", c.out_name);
		ret = AG_EXIT_USAGE;
	}
	for (size_t i = 0; i < c.n_kept; i++) {
		free(c.kept[i].subject);
		free(c.kept[i].workflow);
		free(c.kept[i].file);
		free(c.kept[i].detail);
	}
	free(c.kept);
	ag_buf_release(&c.b);
	free(L.buf);
	ag_watch_free(c.w);
	ag_event_reader_free(c.r);
	ag_store_close(c.st);
	if (have_inv)
		ag_nhi_inventory_release(&inv);
	ag_policy_free(pol);
	free(inputs);
	free(invs);
	return ret;
}
