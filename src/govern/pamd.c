/*
 * The PAM socket (docs/man/pam_aalgate.8): the daemon's side of pam_aalgate.so.
 *
 * A few worker threads share one listening Unix socket.  Each takes a
 * connection, checks the peer's credentials (SO_PEERCRED) before reading
 * a byte, reads one request line against a deadline and a size cap,
 * decides it from the current policy and the state store, commits the
 * decision to the decision log, and only then answers.  The number of
 * connections served at once is the number of workers; the rest wait in
 * the listen backlog, and the module's own timeout bounds how long.
 *
 * Every error is a deny, and every deny carries a reason the module logs.
 */
#define _GNU_SOURCE /* struct ucred */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "aalgate/gate.h"
#include "aalgate/govern.h"
#include "aalgate/pamd.h"
#include "gate/api.h"
#include "util.h"
#include "banned.h"

/* The temporary name is PATH + ".XXXXXX", and both must fit sun_path. */
#define TMP_SUFFIX_LEN 7
#define WORKERS_MAX 64

struct ag_pamd {
	struct ag_pamd_opts o;
	char *path;
	char *id_prefix;
	int lfd;
	int stop[2];
	dev_t dev;
	ino_t ino;
	pthread_t threads[WORKERS_MAX];
	unsigned n_threads;
	uint64_t counter;
};

/* ---- requests ---------------------------------------------------------- */

static bool field_byte_ok(unsigned char c)
{
	return c > 0x20 && c != 0x7f;
}

/* Copies the field [s, s+n) into out (size cap+1) after checking it. */
static ag_code take_field(const char *what, const char *s, size_t n,
			  size_t cap, char *out, struct ag_error *err)
{
	if (n == 0)
		return ag_err(err, AG_ERR_INVALID, "PAM request: %s is empty",
			      what);
	if (n > cap)
		return ag_err(err, AG_ERR_LIMIT,
			      "PAM request: %s is longer than %zu bytes", what,
			      cap);
	for (size_t i = 0; i < n; i++)
		if (!field_byte_ok((unsigned char)s[i]))
			return ag_err(err, AG_ERR_INVALID,
				      "PAM request: %s holds a control "
				      "character at byte %zu",
				      what, i + 1);
	if (!ag_utf8_valid(s, n))
		return ag_err(err, AG_ERR_INVALID,
			      "PAM request: %s is not UTF-8", what);
	memcpy(out, s, n);
	out[n] = '\0';
	return AG_OK;
}

ag_code ag_pam_request_parse(const char *line, size_t len,
			     struct ag_pam_request *out,
			     struct ag_error *err)
{
	static const char *const names[] = {"protocol", "phase",   "user",
					    "workflow", "host",    "service",
					    "rhost"};
	const size_t caps[] = {sizeof(AG_PAM_PROTO) - 1, 7, AG_PAM_FIELD_MAX,
			       AG_PAM_FIELD_MAX, AG_PAM_HOST_MAX,
			       AG_PAM_FIELD_MAX, AG_PAM_FIELD_MAX};
	char *dst[] = {NULL, out->phase, out->user, out->workflow,
		       out->host, out->service, out->rhost};
	char proto[sizeof(AG_PAM_PROTO)];
	ag_code rc;

	memset(out, 0, sizeof(*out));
	dst[0] = proto;
	if (!line)
		return ag_err(err, AG_ERR_USAGE, "no PAM request given");
	if (len > AG_PAM_REQUEST_MAX)
		return ag_err(err, AG_ERR_LIMIT,
			      "PAM request: longer than %u bytes",
			      (unsigned)AG_PAM_REQUEST_MAX);
	if (len == 0 || line[len - 1] != '\n')
		return ag_err(err, AG_ERR_INVALID,
			      "PAM request: does not end with a newline");
	const char *p = line, *end = line + len - 1;
	for (size_t f = 0; f < AG_ARRAY_SIZE(names); f++) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		const char *fe = sp ? sp : end;
		if (f + 1 < AG_ARRAY_SIZE(names) && !sp) {
			rc = ag_err(err, AG_ERR_INVALID,
				    "PAM request: %zu fields, expected %zu",
				    f + 1, AG_ARRAY_SIZE(names));
			goto bad;
		}
		if (f + 1 == AG_ARRAY_SIZE(names) && sp) {
			rc = ag_err(err, AG_ERR_INVALID,
				    "PAM request: more than %zu fields",
				    AG_ARRAY_SIZE(names));
			goto bad;
		}
		if ((rc = take_field(names[f], p, (size_t)(fe - p), caps[f],
				     dst[f], err)))
			goto bad;
		p = fe + 1;
	}
	if (strcmp(proto, AG_PAM_PROTO) != 0) {
		rc = ag_err(err, AG_ERR_INVALID,
			    "PAM request: protocol is not '%s'", AG_PAM_PROTO);
		goto bad;
	}
	if (strcmp(out->phase, "auth") != 0 &&
	    strcmp(out->phase, "account") != 0) {
		rc = ag_err(err, AG_ERR_INVALID,
			    "PAM request: phase is neither 'auth' nor "
			    "'account'");
		goto bad;
	}
	return AG_OK;
bad:
	/* Nothing half-parsed is left for a caller to use. */
	memset(out, 0, sizeof(*out));
	return rc;
}

/* ---- connections ------------------------------------------------------- */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for ev on fd until deadline: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short ev, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return 0;
		struct pollfd pf = {.fd = fd, .events = ev};
		int n = poll(&pf, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

/* Reads one line: AG_OK with *len, AG_ERR_LIMIT when too long or more
 * follows, AG_ERR_INVALID at EOF before a newline, AG_ERR_IO on a timeout
 * (*timed_out) or a read error. */
static ag_code read_request(int fd, int64_t deadline, char *buf, size_t cap,
			    size_t *len, bool *timed_out)
{
	size_t n = 0;
	*timed_out = false;
	*len = 0;
	for (;;) {
		int w = wait_fd(fd, POLLIN, deadline);
		if (w == 0)
			*timed_out = true;
		if (w <= 0)
			return AG_ERR_IO;
		ssize_t r = recv(fd, buf + n, cap - n, 0);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return AG_ERR_IO;
		}
		if (r == 0)
			return AG_ERR_INVALID;
		const char *nl = memchr(buf + n, '\n', (size_t)r);
		n += (size_t)r;
		if (nl) {
			/* One request per connection: nothing may follow. */
			if ((size_t)(nl - buf) + 1 != n)
				return AG_ERR_LIMIT;
			*len = n;
			return AG_OK;
		}
		if (n == cap)
			return AG_ERR_LIMIT;
	}
}

static void write_all(int fd, const char *s, size_t n, int64_t deadline)
{
	while (n > 0) {
		if (wait_fd(fd, POLLOUT, deadline) <= 0)
			return;
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return;
		}
		s += w;
		n -= (size_t)w;
	}
}

/* ---- decisions --------------------------------------------------------- */

struct answer {
	bool allow;
	const char *reason; /* AG_PAM_R_*, on deny */
	char detail[640];   /* for the log */
};

static void deny(struct answer *a, const char *reason, const char *detail)
{
	a->allow = false;
	a->reason = reason;
	ag_strlcpy(a->detail, detail ? detail : "", sizeof(a->detail));
}

static const struct ag_policy *policy_get(struct ag_pamd *d, void **ref)
{
	*ref = NULL;
	if (d->o.policy_get)
		return d->o.policy_get(d->o.ctx, ref);
	return d->o.policy;
}

static void policy_put(struct ag_pamd *d, void *ref)
{
	if (d->o.policy_put)
		d->o.policy_put(d->o.ctx, ref);
}

static void rfc3339_ms(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03dZ", (int)(ms % 1000));
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void decide(struct ag_pamd *d, const struct ag_pam_request *rq,
		   struct answer *a)
{
	struct ag_error err;
	void *ref = NULL;
	bool active = false;
	int64_t now = (int64_t)time(NULL);

	ag_error_init(&err);
	deny(a, AG_PAM_R_STORE, "undecided"); /* until proven otherwise */
	const struct ag_policy *p = policy_get(d, &ref);
	if (!p) {
		deny(a, AG_PAM_R_STORE, "no policy");
		return;
	}
	long wi = ag_policy_workflow(p, rq->workflow);
	if (wi < 0) {
		struct ag_suggest sg;
		char msg[sizeof(a->detail)];
		ag_suggest_init(&sg, rq->workflow);
		for (size_t i = 0; i < p->n_workflows; i++)
			ag_suggest_add(&sg, p->workflows[i].name);
		const char *hint = ag_suggest_best(&sg);
		if (hint)
			snprintf(msg, sizeof(msg),
				 "no workflow '%s' in the policy; did you "
				 "mean '%s'?",
				 rq->workflow, hint);
		else
			snprintf(msg, sizeof(msg),
				 "no workflow '%s' in the policy",
				 rq->workflow);
		deny(a, AG_PAM_R_UNKNOWN_WORKFLOW, msg);
		goto out;
	}
	if (!p->workflows[wi].jit) {
		char msg[sizeof(a->detail)];
		snprintf(msg, sizeof(msg),
			 "workflow '%s' has no jit: and so no grants",
			 rq->workflow);
		deny(a, AG_PAM_R_NO_JIT, msg);
		goto out;
	}
	/* The PAM user is the grant's account: a token's sub when the
	 * policy has one issuer (ag_grant_account).  With several, accounts
	 * are "ISSUER sub", and a user name is none of them. */
	if (p->n_issuers > 1) {
		deny(a, AG_PAM_R_AMBIGUOUS,
		     "the policy has several issuers: grants are held by "
		     "'ISSUER sub' accounts, which no PAM user name is");
		goto out;
	}
	/* The gate's own check (ag_grant_use), so that a break-glass use is
	 * alerted here as there; a use that cannot be alerted is refused. */
	if (ag_grant_use(d->o.store, p,
			 p->n_issuers ? p->issuers[0].iss : NULL, rq->user,
			 rq->workflow, rq->host, now, &active,
			 &err) != AG_OK) {
		deny(a, AG_PAM_R_STORE, err.msg);
		goto out;
	}
	if (!active) {
		deny(a, AG_PAM_R_NO_GRANT, "no active grant");
		goto out;
	}
	a->allow = true;
	a->reason = NULL;
	a->detail[0] = '\0';
out:
	policy_put(d, ref);
}

static void key_str(struct ag_buf *b, const char *k, const char *v)
{
	ag_buf_addc(b, ',');
	ag_buf_json_str(b, k);
	ag_buf_addc(b, ':');
	ag_buf_json_str(b, v);
}

/* The decision log record; durable when this returns AG_OK. */
static ag_code log_decision(struct ag_pamd *d, const char *id,
			    const struct ucred *uc,
			    const struct ag_pam_request *rq,
			    const struct answer *a)
{
	char when[40];
	struct ag_buf b;
	ag_code rc;

	rfc3339_ms(wall_ms(), when, sizeof(when));
	ag_buf_init(&b, AG_DLOG_RECORD_MAX - 256);
	ag_buf_adds(&b, "\"time\":");
	ag_buf_json_str(&b, when);
	key_str(&b, "type", "pam");
	key_str(&b, "id", id);
	key_str(&b, "outcome", a->allow ? "allow" : "deny");
	if (!a->allow)
		key_str(&b, "reason", a->reason);
	if (a->detail[0])
		key_str(&b, "detail", a->detail);
	if (rq) {
		key_str(&b, "phase", rq->phase);
		key_str(&b, "user", rq->user);
		key_str(&b, "workflow", rq->workflow);
		key_str(&b, "host", rq->host);
		key_str(&b, "service", rq->service);
		key_str(&b, "rhost", rq->rhost);
	}
	ag_buf_printf(&b, ",\"peer\":{\"uid\":%lu,\"gid\":%lu,\"pid\":%ld}",
		      (unsigned long)uc->uid, (unsigned long)uc->gid,
		      (long)uc->pid);
	if (b.failed)
		rc = AG_ERR_LIMIT;
	else
		rc = ag_dlog_append(d->o.log, b.data, b.len, NULL);
	ag_buf_release(&b);
	return rc;
}

static bool peer_allowed(const struct ag_pamd *d, const struct ucred *uc)
{
	return uc->uid == 0 || uc->uid == geteuid() ||
	       (d->o.has_peer_uid && uc->uid == d->o.peer_uid) ||
	       (d->o.has_peer_gid && uc->gid == d->o.peer_gid);
}

static void serve_one(struct ag_pamd *d, int fd)
{
	char buf[AG_PAM_REQUEST_MAX];
	char id[AG_PAM_ID_MAX + 1], reply[AG_PAM_ANSWER_MAX + 1];
	struct ag_pam_request rq;
	struct ag_error err;
	struct answer a;
	struct ucred uc;
	socklen_t ul = sizeof(uc);
	const struct ag_pam_request *logged_rq = NULL;
	size_t len = 0;
	bool timed_out = false;

	memset(&a, 0, sizeof(a));
	ag_error_init(&err);
	uint64_t n = __atomic_add_fetch(&d->counter, 1, __ATOMIC_RELAXED);
	snprintf(id, sizeof(id), "%s-p%08llx", d->id_prefix,
		 (unsigned long long)n);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) != 0 ||
	    ul != sizeof(uc)) {
		/* Nobody to answer for: not even a log record names them. */
		return;
	}
	int64_t deadline = mono_ms() + d->o.timeout_ms;
	if (!peer_allowed(d, &uc)) {
		char msg[128];
		snprintf(msg, sizeof(msg),
			 "uid %lu gid %lu may not ask (SO_PEERCRED)",
			 (unsigned long)uc.uid, (unsigned long)uc.gid);
		deny(&a, AG_PAM_R_PEER, msg);
	} else {
		ag_code rc = read_request(fd, deadline, buf, sizeof(buf), &len,
					  &timed_out);
		if (rc == AG_OK)
			rc = ag_pam_request_parse(buf, len, &rq, &err);
		else if (timed_out)
			ag_err(&err, rc, "PAM request: not complete within "
					 "%u ms",
			       d->o.timeout_ms);
		else if (rc == AG_ERR_LIMIT)
			ag_err(&err, rc, "PAM request: longer than %u bytes, "
					 "or more than one line",
			       (unsigned)AG_PAM_REQUEST_MAX);
		else
			ag_err(&err, rc, "PAM request: the connection ended "
					 "before a newline");
		if (rc != AG_OK) {
			deny(&a, timed_out ? AG_PAM_R_TIMEOUT
					   : AG_PAM_R_BAD_REQUEST,
			     err.msg);
		} else {
			logged_rq = &rq;
			decide(d, &rq, &a);
		}
	}
	if (log_decision(d, id, &uc, logged_rq, &a) != AG_OK && a.allow)
		deny(&a, AG_PAM_R_LOG, NULL);
	if (a.allow)
		snprintf(reply, sizeof(reply), "%s allow %s\n", AG_PAM_PROTO,
			 id);
	else
		snprintf(reply, sizeof(reply), "%s deny %s %s\n",
			 AG_PAM_PROTO, a.reason, id);
	/* The answer gets a deadline of its own: the decision may have
	 * waited on a busy store. */
	write_all(fd, reply, strlen(reply), mono_ms() + d->o.timeout_ms);
	/* Closing with unread input makes the peer's read fail (Linux sets
	 * ECONNRESET), which would hide the answer: drop what is waiting,
	 * without waiting for more. */
	for (int i = 0; i < 16; i++)
		if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			break;
}

static void *worker(void *arg)
{
	struct ag_pamd *d = arg;
	for (;;) {
		struct pollfd pf[2] = {{.fd = d->stop[0], .events = POLLIN},
				       {.fd = d->lfd, .events = POLLIN}};
		int n = poll(pf, 2, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[0].revents)
			break;
		if (!pf[1].revents)
			continue;
		int fd = accept4(d->lfd, NULL, NULL,
				 SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* Let the module time out rather than spin. */
				struct timespec ts = {0, 50 * 1000 * 1000};
				nanosleep(&ts, NULL);
			}
			continue;
		}
		serve_one(d, fd);
		close(fd);
	}
	return NULL;
}

/* ---- the socket -------------------------------------------------------- */

static ag_code check_dir(const char *path, struct ag_error *err)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;

	ag_strlcpy(dir, path, sizeof(dir));
	char *slash = strrchr(dir, '/');
	if (!slash)
		ag_strlcpy(dir, ".", sizeof(dir));
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &st) != 0)
		return ag_err(err, AG_ERR_IO, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return ag_err(err, AG_ERR_INVALID, "%s: not a directory", dir);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return ag_err(err, AG_ERR_INVALID,
			      "%s: group or others may write to it; the PAM "
			      "socket needs a directory only its owner can "
			      "change (for example /run/aalgate, mode 0755)",
			      dir);
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return ag_err(err, AG_ERR_INVALID,
			      "%s: owned by uid %lu, neither root nor this "
			      "user",
			      dir, (unsigned long)st.st_uid);
	return AG_OK;
}

/* What is at path now: nothing, or a socket nobody answers on.  Anything
 * else is refused. */
static ag_code check_existing(const char *path, struct ag_error *err)
{
	struct stat st;
	struct sockaddr_un sa;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return AG_OK;
		return ag_err(err, AG_ERR_IO, "%s: %s", path, strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return ag_err(err, AG_ERR_INVALID,
			      "%s: exists and is not a socket; refusing to "
			      "replace it",
			      path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			0);
	if (fd < 0)
		return ag_err(err, AG_ERR_IO, "socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	ag_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	close(fd);
	if (r != 0 && e == ECONNREFUSED)
		return AG_OK; /* stale: left by a daemon that is gone */
	if (r == 0 || e == EAGAIN || e == EINPROGRESS)
		return ag_err(err, AG_ERR_INVALID,
			      "%s: another process answers on this socket "
			      "(is another 'aalgate serve' running?)",
			      path);
	return ag_err(err, AG_ERR_IO, "%s: %s", path, strerror(e));
}

static ag_code make_socket(struct ag_pamd *d, struct ag_error *err)
{
	struct sockaddr_un sa;
	char tmp[sizeof(sa.sun_path)];
	uint8_t rnd[3];
	struct stat st;
	ag_code rc;

	if ((rc = check_dir(d->path, err)) ||
	    (rc = check_existing(d->path, err)))
		return rc;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return ag_err(err, AG_ERR_IO, "no randomness for a temporary "
					      "socket name");
	snprintf(tmp, sizeof(tmp), "%s.%02x%02x%02x", d->path, rnd[0], rnd[1],
		 rnd[2]);
	d->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			0);
	if (d->lfd < 0)
		return ag_err(err, AG_ERR_IO, "socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	ag_strlcpy(sa.sun_path, tmp, sizeof(sa.sun_path));
	if (bind(d->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return ag_err(err, AG_ERR_IO, "%s: cannot bind: %s", tmp,
			      strerror(errno));
	/* Nobody can connect before listen(), so the mode is set in time. */
	uid_t uid = d->o.has_owner ? d->o.owner_uid : (uid_t)-1;
	gid_t gid = d->o.has_peer_gid ? d->o.peer_gid : (gid_t)-1;
	if (chmod(tmp, d->o.has_peer_gid ? 0660 : 0600) != 0 ||
	    ((d->o.has_owner || d->o.has_peer_gid) &&
	     chown(tmp, uid, gid) != 0) ||
	    lstat(tmp, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		rc = ag_err(err, AG_ERR_IO, "%s: cannot set its mode, owner "
					    "or group: %s",
			    tmp, strerror(errno));
		unlink(tmp);
		return rc;
	}
	if (listen(d->lfd, AG_PAMD_BACKLOG) != 0 || rename(tmp, d->path) != 0) {
		rc = ag_err(err, AG_ERR_IO, "%s: %s", d->path, strerror(errno));
		unlink(tmp);
		return rc;
	}
	d->dev = st.st_dev;
	d->ino = st.st_ino;
	return AG_OK;
}

static void pamd_free(struct ag_pamd *d)
{
	if (!d)
		return;
	if (d->lfd >= 0)
		close(d->lfd);
	if (d->stop[0] >= 0)
		close(d->stop[0]);
	if (d->stop[1] >= 0)
		close(d->stop[1]);
	free(d->path);
	free(d->id_prefix);
	free(d);
}

/* Removes the socket if it is still the one this daemon made (a second
 * daemon may have replaced it after this one was judged stale). */
static void remove_socket(struct ag_pamd *d)
{
	struct stat st;
	if (d->ino && lstat(d->path, &st) == 0 && st.st_dev == d->dev &&
	    st.st_ino == d->ino)
		unlink(d->path);
}

ag_code ag_pamd_start(const struct ag_pamd_opts *o, struct ag_pamd **out,
		      struct ag_error *err)
{
	struct ag_pamd *d = NULL;
	ag_code rc;

	*out = NULL;
	if (!o || !o->path || !*o->path || !o->store || !o->log ||
	    (!o->policy_get && !o->policy))
		return ag_err(err, AG_ERR_USAGE,
			      "the PAM socket needs a path, a state store, a "
			      "decision log and a policy");
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1 -
		     TMP_SUFFIX_LEN;
	if (strlen(o->path) > max)
		return ag_err(err, AG_ERR_LIMIT,
			      "%s: a PAM socket path is at most %zu bytes",
			      o->path, max);
	if (!(d = calloc(1, sizeof(*d))))
		return ag_err(err, AG_ERR_NOMEM, "out of memory");
	d->o = *o;
	d->lfd = d->stop[0] = d->stop[1] = -1;
	if (!d->o.workers)
		d->o.workers = AG_PAMD_WORKERS;
	if (d->o.workers > WORKERS_MAX)
		d->o.workers = WORKERS_MAX;
	if (!d->o.timeout_ms)
		d->o.timeout_ms = AG_PAMD_TIMEOUT_MS;
	d->path = ag_strdup(o->path);
	if (o->id_prefix) {
		d->id_prefix = ag_strdup(o->id_prefix);
	} else {
		uint8_t r[5];
		char hex[11];
		if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
			rc = ag_err(err, AG_ERR_IO, "no randomness for "
						    "decision ids");
			goto fail;
		}
		snprintf(hex, sizeof(hex), "%02x%02x%02x%02x%02x", r[0], r[1],
			 r[2], r[3], r[4]);
		d->id_prefix = ag_strdup(hex);
	}
	if (!d->path || !d->id_prefix) {
		rc = ag_err(err, AG_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (strlen(d->id_prefix) > AG_PAM_ID_MAX - 10) {
		rc = ag_err(err, AG_ERR_USAGE, "decision id prefix too long");
		goto fail;
	}
	if (pipe2(d->stop, O_CLOEXEC | O_NONBLOCK) != 0) {
		rc = ag_err(err, AG_ERR_IO, "pipe: %s", strerror(errno));
		goto fail;
	}
	if ((rc = make_socket(d, err)))
		goto fail;

	/* Signals belong to the daemon's main thread, never to a worker. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < d->o.workers; i++) {
		if (pthread_create(&d->threads[i], NULL, worker, d) != 0)
			break;
		d->n_threads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (d->n_threads == 0) {
		rc = ag_err(err, AG_ERR_NOMEM, "cannot start the PAM socket's "
					       "threads");
		remove_socket(d);
		goto fail;
	}
	*out = d;
	return AG_OK;
fail:
	pamd_free(d);
	return rc;
}

void ag_pamd_stop(struct ag_pamd *d)
{
	if (!d)
		return;
	char c = 1;
	while (write(d->stop[1], &c, 1) < 0 && errno == EINTR)
		;
	for (unsigned i = 0; i < d->n_threads; i++)
		pthread_join(d->threads[i], NULL);
	remove_socket(d);
	pamd_free(d);
}
