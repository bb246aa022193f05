/*
 * The webhook sink: POSTs each obligation, the record's line as the
 * body, with libcurl.
 *
 *   Content-Type: application/json
 *   Idempotency-Key: <the record's SHA-256>   (the same on every retry)
 *   Authorization: Bearer <bearer_file>       (when one is named)
 *   ...the policy's headers
 *
 * A 2xx answer is success; anything else fails, a redirect included
 * (redirects are not followed: the record would go where the policy does
 * not say).  Only https:// is spoken, or http:// for the loopback URLs
 * the policy accepts.  The bearer token is read at each attempt, so that
 * it can be rotated without a reload, and never appears in a report.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "sinks-int.h"
#include "util.h"
#include "banned.h"

#define TOKEN_MAX 4096
#define ANSWER_KEEP 200

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static bool curl_ready;

static void curl_setup(void)
{
	curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

struct answer {
	char text[ANSWER_KEEP + 1];
	size_t n;
};

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
	struct answer *a = userdata;
	size_t len = size * n;
	size_t room = ANSWER_KEEP - a->n;
	size_t take = len < room ? len : room;

	if (n && size > SIZE_MAX / n)
		return 0;
	memcpy(a->text + a->n, p, take);
	a->n += take;
	return len; /* the rest is read and dropped */
}

static int on_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return ag_sink_stopping(clientp) ? 1 : 0;
}

/* Reads the bearer token: a regular file others cannot read, one line of
 * visible ASCII (trailing white space and newline dropped). */
static ag_code read_token(const char *path, char *tok, size_t len, char *why,
			  size_t wlen)
{
	struct stat st;
	size_t n = 0;
	ag_code rc = AG_ERR_IO;

	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		ag_sink_why(why, wlen, "bearer_file %s: cannot open: %s", path,
			    strerror(errno));
		return AG_ERR_IO;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ag_sink_why(why, wlen, "bearer_file %s: not a regular file",
			    path);
		goto out;
	}
	if (st.st_mode & (S_IROTH | S_IWOTH)) {
		ag_sink_why(
			why, wlen,
			"bearer_file %s: readable or writable by others (mode "
			"%04o); make it 0600 or 0640",
			path, (unsigned)(st.st_mode & 07777));
		rc = AG_ERR_INVALID;
		goto out;
	}
	while (n < len) {
		ssize_t r = read(fd, tok + n, len - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ag_sink_why(why, wlen,
				    "bearer_file %s: cannot read: %s", path,
				    strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	rc = AG_ERR_INVALID;
	if (n == len) {
		ag_sink_why(why, wlen, "bearer_file %s: longer than %d bytes",
			    path, TOKEN_MAX);
		goto out;
	}
	while (n && (tok[n - 1] == '\n' || tok[n - 1] == '\r' ||
		     tok[n - 1] == ' ' || tok[n - 1] == '\t'))
		n--;
	tok[n] = '\0';
	if (!n) {
		ag_sink_why(why, wlen, "bearer_file %s: empty", path);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)tok[i] <= 0x20 ||
		    (unsigned char)tok[i] >= 0x7f) {
			ag_sink_why(
				why, wlen,
				"bearer_file %s: the token holds a space, a "
				"control character or a byte outside ASCII",
				path);
			goto out;
		}
	rc = AG_OK;
out:
	close(fd);
	return rc;
}

ag_code ag_sink_webhook_deliver(const struct ag_sink *s,
				const struct ag_sink_call *c, char *why,
				size_t wlen)
{
	char errbuf[CURL_ERROR_SIZE] = "", key[100];
	char *token = NULL, *auth = NULL;
	struct curl_slist *hdr = NULL, *tmp;
	struct answer ans = {.n = 0};
	ag_code rc = AG_ERR_IO;
	long status = 0;
	CURL *h = NULL;

	if (!s->url) {
		ag_sink_why(why, wlen, "the sink has no url");
		return AG_ERR_USAGE;
	}
	bool http = !strncasecmp(s->url, "http://", 7);
	if (!http && strncasecmp(s->url, "https://", 8)) {
		ag_sink_why(why, wlen, "%s: not an https:// url", s->url);
		return AG_ERR_USAGE;
	}
	if (s->bearer_file) {
		size_t alen = TOKEN_MAX + 32;
		if (!(token = malloc(TOKEN_MAX + 1)) ||
		    !(auth = malloc(alen))) {
			ag_sink_why(why, wlen, "out of memory");
			rc = AG_ERR_NOMEM;
			goto out;
		}
		if ((rc = read_token(s->bearer_file, token, TOKEN_MAX + 1, why,
				     wlen)))
			goto out;
		snprintf(auth, alen, "Authorization: Bearer %s", token);
		rc = AG_ERR_IO;
	}
	snprintf(key, sizeof(key), "Idempotency-Key: %s", c->hash);
	const char *fixed[] = {"Content-Type: application/json", "Expect:", key,
			       auth};
	for (size_t i = 0; i < AG_ARRAY_SIZE(fixed); i++) {
		if (!fixed[i])
			continue;
		if (!(tmp = curl_slist_append(hdr, fixed[i])))
			goto nomem;
		hdr = tmp;
	}
	for (size_t i = 0; i < s->n_headers; i++) {
		if (!(tmp = curl_slist_append(hdr, s->headers[i])))
			goto nomem;
		hdr = tmp;
	}

	pthread_once(&curl_once, curl_setup);
	if (!curl_ready || !(h = curl_easy_init())) {
		ag_sink_why(why, wlen, "cannot set up libcurl");
		rc = AG_ERR_INTERNAL;
		goto out;
	}
	long ms = (long)s->timeout * 1000L;
	if (curl_easy_setopt(h, CURLOPT_URL, s->url) ||
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR,
			     http ? "http" : "https") ||
	    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) ||
	    curl_easy_setopt(h, CURLOPT_SSLVERSION,
			     (long)CURL_SSLVERSION_TLSv1_2) ||
	    /* With a CA file of its own, the sink trusts nothing else. */
	    (s->ca_file && (curl_easy_setopt(h, CURLOPT_CAINFO, s->ca_file) ||
			    curl_easy_setopt(h, CURLOPT_CAPATH, NULL))) ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			     ms < 10000L ? ms : 10000L) ||
	    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms) ||
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(h, CURLOPT_USERAGENT, "aalgate/" AG_VERSION) ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr) ||
	    curl_easy_setopt(h, CURLOPT_POST, 1L) ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->line) ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
			     (curl_off_t)c->len) ||
	    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf) ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, &ans) ||
	    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L) ||
	    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress) ||
	    curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)c->stop)) {
		ag_sink_why(why, wlen, "libcurl refused an option");
		rc = AG_ERR_INTERNAL;
		goto out;
	}
	CURLcode cc = curl_easy_perform(h);
	if (cc == CURLE_ABORTED_BY_CALLBACK) {
		ag_sink_why(why, wlen, "stopped");
		goto out;
	}
	if (cc != CURLE_OK) {
		ag_sink_why(why, wlen, "%s: %s", s->url,
			    errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status <= 299) {
		rc = AG_OK;
		goto out;
	}
	/* The start of the answer, one line of printable text. */
	char text[ANSWER_KEEP + 1];
	size_t o = 0;
	for (size_t i = 0; i < ans.n; i++) {
		unsigned char ch = (unsigned char)ans.text[i];
		text[o++] = ch < 0x20 || ch >= 0x7f ? ' ' : (char)ch;
	}
	while (o && text[o - 1] == ' ')
		o--;
	text[o] = '\0';
	if (status >= 300 && status <= 399)
		ag_sink_why(
			why, wlen,
			"HTTP status %ld from %s (redirects are not followed)",
			status, s->url);
	else
		ag_sink_why(why, wlen, "HTTP status %ld from %s%s%s", status,
			    s->url, o ? ": " : "", text);
	goto out;
nomem:
	ag_sink_why(why, wlen, "out of memory");
	rc = AG_ERR_NOMEM;
out:
	if (h)
		curl_easy_cleanup(h);
	curl_slist_free_all(hdr);
	if (token) {
		/* The token does not outlive the attempt. */
		explicit_bzero(token, TOKEN_MAX + 1);
		free(token);
	}
	if (auth) {
		explicit_bzero(auth, TOKEN_MAX + 32);
		free(auth);
	}
	return rc;
}
