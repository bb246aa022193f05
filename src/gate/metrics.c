/*
 * Counters for /metrics.  Decision counts are kept per (workflow, outcome,
 * reason) series under one mutex; the latency histograms and plain
 * counters are atomics.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gate/metrics.h"
#include "gate/api.h"
#include "banned.h"

#define SERIES_MAX 4096

static const double buckets[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001,
				 0.0025,  0.005,  0.01,    0.025,  0.05,
				 0.1,     0.25,   0.5,     1.0,    2.5};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct series {
	char *workflow; /* NULL for none */
	enum ag_outcome outcome;
	enum ag_reason reason;
	uint64_t count;
};

struct ag_metrics {
	pthread_mutex_t lock;
	struct series *series;
	size_t n, alloc;
	uint64_t dropped_series;
	uint64_t hist[AG_EP__COUNT][NBUCKETS + 1];
	uint64_t hist_count[AG_EP__COUNT];
	uint64_t hist_sum_us[AG_EP__COUNT];
	uint64_t counters[AG_C__COUNT];
};

struct ag_metrics *ag_metrics_new(void)
{
	struct ag_metrics *m = calloc(1, sizeof(*m));
	if (m)
		pthread_mutex_init(&m->lock, NULL);
	return m;
}

void ag_metrics_free(struct ag_metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->series[i].workflow);
	free(m->series);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static bool same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

void ag_metrics_decision(struct ag_metrics *m, enum ag_endpoint ep,
			 const char *workflow, const struct ag_decision *d,
			 double seconds)
{
	enum ag_reason r = d->n_reasons ? d->reasons[0] : AG_R_NONE;

	pthread_mutex_lock(&m->lock);
	size_t i;
	for (i = 0; i < m->n; i++) {
		struct series *s = &m->series[i];
		if (s->outcome == d->outcome && s->reason == r &&
		    same(s->workflow, workflow))
			break;
	}
	if (i == m->n) {
		char *w = workflow ? ag_strdup(workflow) : NULL;
		if (m->n >= SERIES_MAX || (workflow && !w) ||
		    AG_GROW(m->series, m->alloc, m->n + 1)) {
			free(w);
			m->dropped_series++;
			i = SIZE_MAX;
		} else {
			m->series[i] = (struct series){w, d->outcome, r, 0};
			m->n++;
		}
	}
	if (i != SIZE_MAX)
		m->series[i].count++;
	pthread_mutex_unlock(&m->lock);

	if ((unsigned)ep >= AG_EP__COUNT)
		return;
	size_t b = 0;
	while (b < NBUCKETS && seconds > buckets[b])
		b++;
	__atomic_add_fetch(&m->hist[ep][b], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&m->hist_count[ep], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&m->hist_sum_us[ep],
			   (uint64_t)(seconds * 1e6 + 0.5), __ATOMIC_RELAXED);
}

void ag_metrics_inc(struct ag_metrics *m, enum ag_counter c)
{
	if ((unsigned)c < AG_C__COUNT)
		__atomic_add_fetch(&m->counters[c], 1, __ATOMIC_RELAXED);
}

/* A label value: backslash, double quote and newline escaped. */
static void label(struct ag_buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			ag_buf_addc(b, '\\');
		if (*v == '\n') {
			ag_buf_adds(b, "\\n");
			continue;
		}
		ag_buf_addc(b, *v);
	}
}

static const char *const ep_names[AG_EP__COUNT] = {"authz", "decide"};

static uint64_t load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

ag_code ag_metrics_render(struct ag_metrics *m,
			  const struct ag_verifier_stats *vs,
			  struct ag_buf *out)
{
	ag_buf_adds(out,
		    "# HELP aalgate_decisions_total Decisions by workflow, "
		    "outcome and first reason.\n"
		    "# TYPE aalgate_decisions_total counter\n");
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n; i++) {
		const struct series *s = &m->series[i];
		ag_buf_adds(out, "aalgate_decisions_total{workflow=\"");
		label(out, s->workflow ? s->workflow : "");
		ag_buf_printf(out, "\",outcome=\"%s\",reason=\"%s\"} %llu\n",
			      ag_outcome_name(s->outcome),
			      ag_reason_name(s->reason),
			      (unsigned long long)s->count);
	}
	uint64_t dropped = m->dropped_series;
	pthread_mutex_unlock(&m->lock);
	ag_buf_printf(out,
		      "# HELP aalgate_metric_series_dropped_total Decisions "
		      "not counted by series because the series table was "
		      "full.\n"
		      "# TYPE aalgate_metric_series_dropped_total counter\n"
		      "aalgate_metric_series_dropped_total %llu\n",
		      (unsigned long long)dropped);

	ag_buf_adds(out, "# HELP aalgate_request_duration_seconds Time to "
			 "answer, including the decision log commit.\n"
			 "# TYPE aalgate_request_duration_seconds histogram\n");
	for (size_t e = 0; e < AG_EP__COUNT; e++) {
		uint64_t cum = 0;
		for (size_t b = 0; b <= NBUCKETS; b++) {
			cum += load(&m->hist[e][b]);
			if (b < NBUCKETS)
				ag_buf_printf(out,
					      "aalgate_request_duration_seconds_"
					      "bucket{endpoint=\"%s\",le=\"%g\"} "
					      "%llu\n",
					      ep_names[e], buckets[b],
					      (unsigned long long)cum);
			else
				ag_buf_printf(out,
					      "aalgate_request_duration_seconds_"
					      "bucket{endpoint=\"%s\",le=\"+Inf\"}"
					      " %llu\n",
					      ep_names[e],
					      (unsigned long long)cum);
		}
		ag_buf_printf(out,
			      "aalgate_request_duration_seconds_sum{endpoint="
			      "\"%s\"} %.6f\n"
			      "aalgate_request_duration_seconds_count{endpoint="
			      "\"%s\"} %llu\n",
			      ep_names[e],
			      (double)load(&m->hist_sum_us[e]) / 1e6,
			      ep_names[e],
			      (unsigned long long)load(&m->hist_count[e]));
	}

	static const struct {
		const char *name, *help;
	} cs[AG_C__COUNT] = {
		{"aalgate_policy_reloads_total{result=\"ok\"}", NULL},
		{"aalgate_policy_reloads_total{result=\"failed\"}",
		 "Policy reloads (SIGHUP); a failed one keeps the old policy."},
		{"aalgate_decision_log_errors_total",
		 "Decisions that could not be logged, and were denied."},
		{"aalgate_bad_requests_total",
		 "Requests refused as malformed."},
		{"aalgate_untrusted_forwarded_total",
		 "Requests with forwarding headers from a peer outside "
		 "trusted_proxies, refused."},
		{"aalgate_dpop_proofs_total{result=\"ok\"}",
		 "DPoP proofs checked: accepted, refused, or refused as a "
		 "replay."},
		{"aalgate_dpop_proofs_total{result=\"refused\"}", NULL},
		{"aalgate_dpop_proofs_total{result=\"replayed\"}", NULL},
	};
	ag_buf_adds(out, "# HELP aalgate_policy_reloads_total Policy reloads "
			 "(SIGHUP); a failed one keeps the old policy.\n"
			 "# TYPE aalgate_policy_reloads_total counter\n");
	for (size_t c = 0; c < AG_C__COUNT; c++) {
		if (cs[c].help && c != AG_C_RELOAD_FAILED) {
			const char *brace = strchr(cs[c].name, '{');
			size_t nl = brace ? (size_t)(brace - cs[c].name)
					  : strlen(cs[c].name);
			ag_buf_printf(out, "# HELP %.*s %s\n# TYPE %.*s counter\n",
				      (int)nl, cs[c].name, cs[c].help, (int)nl,
				      cs[c].name);
		}
		ag_buf_printf(out, "%s %llu\n", cs[c].name,
			      (unsigned long long)load(&m->counters[c]));
	}
	if (vs)
		ag_buf_printf(
			out,
			"# HELP aalgate_token_cache_total Verified-token cache "
			"lookups.\n"
			"# TYPE aalgate_token_cache_total counter\n"
			"aalgate_token_cache_total{result=\"hit\"} %llu\n"
			"aalgate_token_cache_total{result=\"miss\"} %llu\n"
			"# HELP aalgate_jwks_fetches_total JWKS fetch attempts.\n"
			"# TYPE aalgate_jwks_fetches_total counter\n"
			"aalgate_jwks_fetches_total %llu\n"
			"# HELP aalgate_jwks_fetch_failures_total JWKS fetches "
			"that failed.\n"
			"# TYPE aalgate_jwks_fetch_failures_total counter\n"
			"aalgate_jwks_fetch_failures_total %llu\n",
			(unsigned long long)vs->cache_hits,
			(unsigned long long)vs->cache_misses,
			(unsigned long long)vs->jwks_fetches,
			(unsigned long long)vs->jwks_fetch_failures);
	return out->failed ? AG_ERR_LIMIT : AG_OK;
}

void ag_metrics_render_grants(const struct ag_grant_tallies *t,
			      struct ag_buf *out)
{
	ag_buf_printf(out,
		      "# HELP aalgate_grants_readable 1 when the state "
		      "store's grants could be read for this scrape.\n"
		      "# TYPE aalgate_grants_readable gauge\n"
		      "aalgate_grants_readable %d\n",
		      t ? 1 : 0);
	if (!t)
		return;
	ag_buf_adds(out, "# HELP aalgate_grants_open Grants open now, by "
			 "workflow, kind and state (pending: waiting for "
			 "approvals; active: in use until it expires).\n"
			 "# TYPE aalgate_grants_open gauge\n");
	for (size_t i = 0; i < t->n; i++)
		for (int active = 0; active < 2; active++) {
			ag_buf_adds(out, "aalgate_grants_open{workflow=\"");
			label(out, t->v[i].workflow);
			ag_buf_printf(out,
				      "\",break_glass=\"%s\",state=\"%s\"} "
				      "%llu\n",
				      t->v[i].break_glass ? "true" : "false",
				      active ? "active" : "pending",
				      (unsigned long long)(active
							       ? t->v[i].active
							       : t->v[i]
									 .pending));
		}
}
