/*
 * pam_aalgate.so: JIT grants for sudo, sshd and other PAM services
 * (docs/man/pam_aalgate.8).
 *
 *   auth     required pam_aalgate.so workflow=admin
 *   account  required pam_aalgate.so workflow=admin
 *
 * Asks the aalgate daemon over its Unix socket whether PAM_USER holds an
 * active grant for the workflow on this host (include/aalgate/pamd.h has
 * the protocol), and allows only on a well-formed "allow".  When the
 * daemon cannot be asked (not running, too slow, an answer that is not
 * the protocol) the module denies.  failmode=open allows only when the
 * daemon is not there at all (no socket, nobody listening on it, or a
 * socket this caller may not open): a daemon that is slow, or that
 * answers what is not the protocol, may be one a local user stopped
 * (SIGSTOP on their own sudo) or stands in for, and an unsafe socket is
 * an attack, so those deny whatever the failmode.  A daemon's "deny" and
 * a configuration error always deny.
 *
 * The module lives inside sshd and sudo, so it keeps to what is safe
 * there: no allocation, no state outside the call, no signal handlers
 * and no signals raised (MSG_NOSIGNAL), sockets with O_CLOEXEC, every
 * read bounded in size and in time (poll against one deadline).  It
 * exports pam_sm_* only (pam_aalgate.map, -fvisibility=hidden) and needs
 * nothing of libaalgate.
 */
#define _GNU_SOURCE /* struct ucred; strerror_r returning char * */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "aalgate/pamd.h"
#include "banned.h"

#define EXPORT __attribute__((visibility("default")))

#define TIMEOUT_DEFAULT 5
#define TIMEOUT_MAX 60

enum phase { PH_AUTH, PH_ACCOUNT };

struct args {
	const char *workflow;
	const char *socket;
	bool fail_open;
	int timeout; /* seconds */
	bool pin;    /* owner= given: the socket must be owner's */
	uid_t owner;
};

/* What asking the daemon gave: ASK_ABSENT (no daemon to ask) is the one
 * failure failmode=open allows.  ASK_ON is a step's "go on", never an
 * answer (check() denies it as it denies anything unforeseen). */
enum asked { ASK_FAILED = 0, ASK_ABSENT, ASK_ALLOW, ASK_DENY, ASK_ON };

struct answer {
	char reason[AG_PAM_REASON_MAX + 1];
	char id[AG_PAM_ID_MAX + 1];
	char why[160]; /* ASK_FAILED: what went wrong */
};

static int deny_code(enum phase ph)
{
	return ph == PH_AUTH ? PAM_AUTH_ERR : PAM_PERM_DENIED;
}

static const char *phase_name(enum phase ph)
{
	return ph == PH_AUTH ? "auth" : "account";
}

/* A protocol field: 1..max bytes, no space, control character or DEL. */
static bool field_ok(const char *s, size_t max)
{
	size_t n = 0;
	if (!s)
		return false;
	for (; s[n]; n++)
		if (n >= max || (unsigned char)s[n] <= 0x20 ||
		    (unsigned char)s[n] == 0x7f)
			return false;
	return n > 0;
}

/* A field that is recorded only: bad bytes become '?', too long is cut,
 * nothing is "-". */
static void field_clean(const char *s, char *out, size_t len)
{
	size_t n = 0;
	for (; s && s[n] && n + 1 < len && n < AG_PAM_FIELD_MAX; n++) {
		unsigned char c = (unsigned char)s[n];
		out[n] = (c <= 0x20 || c == 0x7f || c >= 0x80) ? '?' : (char)c;
	}
	out[n] = '\0';
	if (n == 0 && len >= 2) {
		out[0] = '-';
		out[1] = '\0';
	}
}

static bool has_prefix(const char *s, const char *prefix, const char **rest)
{
	size_t n = strlen(prefix);
	if (strncmp(s, prefix, n) != 0)
		return false;
	*rest = s + n;
	return true;
}

/* owner=: a uid in digits, or a user name looked up with a buffer on
 * the stack. */
static bool owner_uid(const char *v, uid_t *out)
{
	if (v[0] >= '0' && v[0] <= '9') {
		char *end;
		errno = 0;
		unsigned long u = strtoul(v, &end, 10);
		if (*end || errno || u > (unsigned long)(uid_t)-2)
			return false;
		*out = (uid_t)u;
		return true;
	}
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (!v[0] || getpwnam_r(v, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return false;
	*out = pw.pw_uid;
	return true;
}

static bool parse_args(pam_handle_t *pamh, int argc, const char **argv,
		       struct args *a)
{
	bool seen_socket = false, seen_failmode = false, seen_timeout = false;
	const char *v;

	a->workflow = NULL;
	a->socket = AG_PAM_SOCKET_DEFAULT;
	a->fail_open = false;
	a->timeout = TIMEOUT_DEFAULT;
	a->pin = false;
	a->owner = 0;
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		if (!arg) {
			pam_syslog(pamh, LOG_ERR, "empty option");
			return false;
		}
		if (has_prefix(arg, "workflow=", &v)) {
			if (a->workflow) {
				pam_syslog(pamh, LOG_ERR,
					   "option 'workflow=' given twice");
				return false;
			}
			if (!field_ok(v, AG_PAM_FIELD_MAX)) {
				pam_syslog(pamh, LOG_ERR,
					   "bad workflow name in '%s'", arg);
				return false;
			}
			a->workflow = v;
		} else if (has_prefix(arg, "socket=", &v)) {
			if (seen_socket) {
				pam_syslog(pamh, LOG_ERR,
					   "option 'socket=' given twice");
				return false;
			}
			seen_socket = true;
			if (v[0] != '/' ||
			    strlen(v) >= sizeof(((struct sockaddr_un *)0)
							->sun_path)) {
				pam_syslog(pamh, LOG_ERR,
					   "'%s': the socket must be an "
					   "absolute path of at most %zu bytes",
					   arg,
					   sizeof(((struct sockaddr_un *)0)
							  ->sun_path) -
						   1);
				return false;
			}
			a->socket = v;
		} else if (has_prefix(arg, "failmode=", &v)) {
			if (seen_failmode) {
				pam_syslog(pamh, LOG_ERR,
					   "option 'failmode=' given twice");
				return false;
			}
			seen_failmode = true;
			if (!strcmp(v, "closed")) {
				a->fail_open = false;
			} else if (!strcmp(v, "open")) {
				a->fail_open = true;
			} else {
				pam_syslog(pamh, LOG_ERR,
					   "'%s': failmode is 'closed' or "
					   "'open'",
					   arg);
				return false;
			}
		} else if (has_prefix(arg, "timeout=", &v)) {
			if (seen_timeout) {
				pam_syslog(pamh, LOG_ERR,
					   "option 'timeout=' given twice");
				return false;
			}
			seen_timeout = true;
			char *end;
			errno = 0;
			long t = strtol(v, &end, 10);
			if (v[0] < '0' || v[0] > '9' || *end || errno ||
			    t < 1 || t > TIMEOUT_MAX) {
				pam_syslog(pamh, LOG_ERR,
					   "'%s': timeout is 1..%d seconds",
					   arg, TIMEOUT_MAX);
				return false;
			}
			a->timeout = (int)t;
		} else if (has_prefix(arg, "owner=", &v)) {
			if (a->pin) {
				pam_syslog(pamh, LOG_ERR,
					   "option 'owner=' given twice");
				return false;
			}
			if (!owner_uid(v, &a->owner)) {
				pam_syslog(pamh, LOG_ERR,
					   "'%s': owner is a user name or a "
					   "numeric uid that exists",
					   arg);
				return false;
			}
			a->pin = true;
		} else {
			pam_syslog(pamh, LOG_ERR,
				   "unknown option '%s'; the options are "
				   "workflow=, socket=, owner=, failmode= and "
				   "timeout=",
				   arg);
			return false;
		}
	}
	if (!a->workflow) {
		pam_syslog(pamh, LOG_ERR,
			   "no workflow= option: which workflow's grants "
			   "allow access?");
		return false;
	}
	return true;
}

/* ---- asking the daemon ------------------------------------------------- */

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
		int n = poll(&pf, 1, (int)left);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

static void failed(struct answer *ans, const char *what, int e)
{
	char buf[96];
	const char *m = e ? strerror_r(e, buf, sizeof(buf)) : NULL;
	snprintf(ans->why, sizeof(ans->why), "%s%s%s", what, m ? ": " : "",
		 m ? m : "");
}

/*
 * Could only root have made dir (absolute, not "/")?  Every directory
 * above it must be root's and not writable by group or others, or else
 * sticky (/tmp), and then the entry in it on the way down must be root's
 * too: in a sticky directory anyone may make an entry, but only its
 * owner (or root) may move or remove it.
 */
static bool ancestors_safe(const char *dir, uid_t dir_uid)
{
	char p[sizeof(((struct sockaddr_un *)0)->sun_path)];
	size_t n = strlen(dir);
	uid_t below = dir_uid; /* the owner of the entry looked up in p */

	if (n >= sizeof(p))
		return false;
	memcpy(p, dir, n + 1);
	while (strcmp(p, "/") != 0) {
		char *slash = strrchr(p, '/');
		struct stat as;
		if (!slash)
			return false;
		if (slash == p)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(p, &as) != 0 || !S_ISDIR(as.st_mode) ||
		    as.st_uid != 0)
			return false;
		if ((as.st_mode & (S_IWGRP | S_IWOTH)) &&
		    !((as.st_mode & S_ISVTX) && below == 0))
			return false;
		below = as.st_uid;
	}
	return true;
}

/*
 * Is a socket path with nothing at it a daemon that is not there, or a
 * place someone could have cleared?  Its directory, when it exists, must
 * not be writable by group or others and must be safe by ancestors_safe;
 * when it does not, the nearest directory above that exists must be
 * root's and writable by nobody else (in a sticky one, anyone could make
 * the missing directory), and safe by ancestors_safe too.  With owner=
 * (pin), the socket's own directory must be root's or that user's.
 */
static bool absence_safe(const char *path, bool pin, uid_t want)
{
	char p[sizeof(((struct sockaddr_un *)0)->sun_path)];
	size_t n = strlen(path);
	bool own_dir = true; /* the first directory is the socket's own */

	if (n >= sizeof(p) || path[0] != '/')
		return false;
	memcpy(p, path, n + 1);
	for (;;) {
		char *slash = strrchr(p, '/');
		struct stat ds;
		if (!slash)
			return false;
		if (slash == p)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(p, &ds) != 0) {
			if (errno != ENOENT || !strcmp(p, "/"))
				return false;
			own_dir = false;
			continue;
		}
		if (!S_ISDIR(ds.st_mode) || (ds.st_mode & (S_IWGRP | S_IWOTH)) ||
		    (!own_dir && ds.st_uid != 0) ||
		    (pin && ds.st_uid != 0 && ds.st_uid != want))
			return false;
		return !strcmp(p, "/") || ancestors_safe(p, ds.st_uid);
	}
}

/*
 * Refuses a socket an unprivileged user could have put there: it must be
 * a socket owned by root or by the user the daemon runs as, in a
 * directory that neither group nor others may write to, owned by root or
 * by the socket's owner, and every directory above it root's (see
 * ancestors_safe).  With owner= (pin), the socket must be that user's.
 * A socket that is not there is ASK_ABSENT, when no one but root (or the
 * daemon) could have removed it (absence_safe).
 */
static enum asked socket_safe(const char *path, bool pin, uid_t want,
			      uid_t *owner, struct answer *ans)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st, ds;

	if (lstat(path, &st) != 0) {
		int e = errno;
		if (e == ENOENT && !absence_safe(path, pin, want)) {
			failed(ans, "no socket, in a place others than root may "
				    "change; refusing it",
			       0);
			return ASK_FAILED;
		}
		failed(ans, "cannot reach the daemon's socket", e);
		return e == ENOENT ? ASK_ABSENT : ASK_FAILED;
	}
	if (!S_ISSOCK(st.st_mode)) {
		failed(ans, "the socket path is not a socket", 0);
		return ASK_FAILED;
	}
	if (pin && st.st_uid != want) {
		char why[96];
		snprintf(why, sizeof(why),
			 "the socket is uid %lu's, not owner= uid %lu's",
			 (unsigned long)st.st_uid, (unsigned long)want);
		failed(ans, why, 0);
		return ASK_FAILED;
	}
	size_t n = strlen(path);
	if (n >= sizeof(dir)) {
		failed(ans, "the socket path is too long", 0);
		return ASK_FAILED;
	}
	memcpy(dir, path, n + 1);
	char *slash = strrchr(dir, '/');
	if (!slash) {
		failed(ans, "the socket path is not absolute", 0);
		return ASK_FAILED;
	}
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &ds) != 0) {
		failed(ans, "cannot reach the socket's directory", errno);
		return ASK_FAILED;
	}
	if ((ds.st_mode & (S_IWGRP | S_IWOTH)) ||
	    (ds.st_uid != 0 && ds.st_uid != st.st_uid) ||
	    (st.st_mode & S_IWOTH)) {
		failed(ans, "the socket or its directory may be changed by "
			    "others; refusing it",
		       0);
		return ASK_FAILED;
	}
	if (strcmp(dir, "/") != 0 && !ancestors_safe(dir, ds.st_uid)) {
		failed(ans, "a directory above the socket may be changed by "
			    "others than root; refusing it",
		       0);
		return ASK_FAILED;
	}
	*owner = st.st_uid;
	return ASK_ON;
}

/* Connects fd to path: ASK_ON (connected), ASK_ABSENT (no daemon there:
 * nobody listens, the socket went away, or this caller may not open it)
 * or ASK_FAILED. */
static enum asked connect_by(int fd, const char *path, int64_t deadline,
			     struct answer *ans)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return ASK_ON;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			/* The daemon's backlog is full: try again shortly. */
			if (mono_ms() + 20 >= deadline) {
				failed(ans, "the daemon is busy", 0);
				return ASK_FAILED;
			}
			poll(NULL, 0, 20);
			continue;
		}
		if (errno == EINPROGRESS) {
			int e = 0;
			socklen_t l = sizeof(e);
			if (wait_fd(fd, POLLOUT, deadline) <= 0) {
				failed(ans, "timed out connecting", 0);
				return ASK_FAILED;
			}
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) != 0 ||
			    e != 0) {
				failed(ans, "cannot connect", e);
				return e == ECONNREFUSED ? ASK_ABSENT
							 : ASK_FAILED;
			}
			return ASK_ON;
		}
		int e = errno;
		failed(ans, "cannot connect", e);
		return e == ECONNREFUSED || e == ENOENT || e == EACCES
			       ? ASK_ABSENT
			       : ASK_FAILED;
	}
}

static bool send_all(int fd, const char *s, size_t n, int64_t deadline,
		     struct answer *ans)
{
	while (n > 0) {
		int w = wait_fd(fd, POLLOUT, deadline);
		if (w <= 0) {
			failed(ans, w ? "cannot send" : "timed out sending",
			       w ? errno : 0);
			return false;
		}
		ssize_t r = send(fd, s, n, MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			failed(ans, "cannot send", errno);
			return false;
		}
		s += r;
		n -= (size_t)r;
	}
	return true;
}

/* Reads one line of at most AG_PAM_ANSWER_MAX bytes into buf (size
 * AG_PAM_ANSWER_MAX + 1); returns its length or 0. */
static size_t read_line(int fd, char *buf, int64_t deadline,
			struct answer *ans)
{
	size_t n = 0;
	for (;;) {
		int w = wait_fd(fd, POLLIN, deadline);
		if (w <= 0) {
			failed(ans, w ? "cannot read the answer"
				      : "timed out waiting for the answer",
			       w ? errno : 0);
			return 0;
		}
		ssize_t r = recv(fd, buf + n, AG_PAM_ANSWER_MAX - n, 0);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			failed(ans, "cannot read the answer", errno);
			return 0;
		}
		if (r == 0) {
			failed(ans, "the daemon closed the connection without "
				    "a whole answer",
			       0);
			return 0;
		}
		const char *nl = memchr(buf + n, '\n', (size_t)r);
		n += (size_t)r;
		if (nl) {
			if ((size_t)(nl - buf) + 1 != n) {
				failed(ans, "malformed answer: more than one "
					    "line",
				       0);
				return 0;
			}
			buf[n] = '\0';
			return n;
		}
		if (n >= AG_PAM_ANSWER_MAX) {
			failed(ans, "malformed answer: too long", 0);
			return 0;
		}
	}
}

/* Takes [a-z_] (reason) or [0-9A-Za-z-] (id) characters, 1..max of them,
 * ended by `end`; copies them to out (size max + 1). */
static const char *take_token(const char *s, bool reason, size_t max,
			      char end, char *out)
{
	size_t n = 0;
	for (; s[n] && s[n] != end; n++) {
		char c = s[n];
		bool ok = reason ? ((c >= 'a' && c <= 'z') || c == '_')
				 : ((c >= 'a' && c <= 'z') ||
				    (c >= 'A' && c <= 'Z') ||
				    (c >= '0' && c <= '9') || c == '-');
		if (!ok || n >= max)
			return NULL;
	}
	if (n == 0 || s[n] != end)
		return NULL;
	memcpy(out, s, n);
	out[n] = '\0';
	return s + n + 1;
}

static enum asked parse_answer(const char *line, struct answer *ans)
{
	const char *p = line, *rest;

	if (!has_prefix(p, AG_PAM_PROTO " ", &p))
		goto bad;
	if (has_prefix(p, "allow ", &rest)) {
		rest = take_token(rest, false, AG_PAM_ID_MAX, '\n', ans->id);
		if (!rest || *rest)
			goto bad;
		return ASK_ALLOW;
	}
	if (has_prefix(p, "deny ", &rest)) {
		rest = take_token(rest, true, AG_PAM_REASON_MAX, ' ',
				  ans->reason);
		if (rest)
			rest = take_token(rest, false, AG_PAM_ID_MAX, '\n',
					  ans->id);
		if (!rest || *rest)
			goto bad;
		return ASK_DENY;
	}
bad:
	ans->reason[0] = ans->id[0] = '\0';
	failed(ans, "malformed answer from the daemon", 0);
	return ASK_FAILED;
}

static enum asked ask(const struct args *a, const char *req, size_t len,
		      struct answer *ans)
{
	char buf[AG_PAM_ANSWER_MAX + 1];
	enum asked res = ASK_FAILED;
	int64_t deadline = mono_ms() + (int64_t)a->timeout * 1000;
	uid_t owner = 0;
	struct ucred uc;
	socklen_t ul = sizeof(uc);

	if ((res = socket_safe(a->socket, a->pin, a->owner, &owner, ans)) !=
	    ASK_ON)
		return res;
	res = ASK_FAILED;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			0);
	if (fd < 0) {
		failed(ans, "cannot make a socket", errno);
		return ASK_FAILED;
	}
	enum asked c = connect_by(fd, a->socket, deadline, ans);
	if (c != ASK_ON) {
		res = c;
		goto out;
	}
	/* The one answering must be who owns the socket, or root. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) != 0 ||
	    ul != sizeof(uc) || (uc.uid != 0 && uc.uid != owner)) {
		failed(ans, "the process answering on the socket does not own "
			    "it",
		       0);
		goto out;
	}
	if (!send_all(fd, req, len, deadline, ans))
		goto out;
	if (read_line(fd, buf, deadline, ans) == 0)
		goto out;
	res = parse_answer(buf, ans);
out:
	close(fd);
	return res;
}

/* ---- the PAM entry points ---------------------------------------------- */

static int check(pam_handle_t *pamh, int flags, int argc, const char **argv,
		 enum phase ph)
{
	const int denied = deny_code(ph);
	int ret = denied; /* a path not thought of denies */
	struct args a;
	struct answer ans;
	const char *user = NULL;
	const void *item = NULL;
	char service[AG_PAM_FIELD_MAX + 1], rhost[AG_PAM_FIELD_MAX + 1];
	char host[AG_PAM_HOST_MAX + 2];
	char req[AG_PAM_REQUEST_MAX + 1];

	memset(&ans, 0, sizeof(ans));
	if (!parse_args(pamh, argc, argv, &a))
		return denied;
	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || !user) {
		pam_syslog(pamh, LOG_ERR, "no user name");
		return denied;
	}
	if (!field_ok(user, AG_PAM_FIELD_MAX)) {
		pam_syslog(pamh, LOG_NOTICE,
			   "denied: the user name is empty, too long or holds "
			   "spaces or control characters");
		return denied;
	}
	item = NULL;
	if (pam_get_item(pamh, PAM_SERVICE, &item) != PAM_SUCCESS)
		item = NULL;
	field_clean(item, service, sizeof(service));
	item = NULL;
	if (pam_get_item(pamh, PAM_RHOST, &item) != PAM_SUCCESS)
		item = NULL;
	field_clean(item, rhost, sizeof(rhost));
	memset(host, 0, sizeof(host));
	if (gethostname(host, sizeof(host) - 1) != 0 ||
	    !field_ok(host, AG_PAM_HOST_MAX)) {
		pam_syslog(pamh, LOG_ERR, "cannot tell this host's name");
		return denied;
	}
	int n = snprintf(req, sizeof(req), "%s %s %s %s %s %s %s\n",
			 AG_PAM_PROTO, phase_name(ph), user, a.workflow, host,
			 service, rhost);
	if (n < 0 || (size_t)n > AG_PAM_REQUEST_MAX) {
		pam_syslog(pamh, LOG_ERR, "request too long");
		return denied;
	}

	switch (ask(&a, req, (size_t)n, &ans)) {
	case ASK_ALLOW:
		pam_syslog(pamh, LOG_INFO,
			   "allowed '%s' for workflow '%s': active grant "
			   "(decision %s)",
			   user, a.workflow, ans.id);
		ret = PAM_SUCCESS;
		break;
	case ASK_DENY:
		pam_syslog(pamh, LOG_NOTICE,
			   "denied '%s' for workflow '%s': %s (decision %s)",
			   user, a.workflow, ans.reason, ans.id);
		if (!(flags & (int)PAM_SILENT) &&
		    !strcmp(ans.reason, AG_PAM_R_NO_GRANT))
			pam_error(pamh,
				  "aalgate: no active grant for workflow "
				  "'%s' on %s; request one with 'aalgate "
				  "grant request'",
				  a.workflow, host);
		ret = denied;
		break;
	case ASK_ABSENT:
		if (a.fail_open) {
			pam_syslog(pamh, LOG_WARNING,
				   "failmode=open: allowed '%s' for workflow "
				   "'%s' without asking: %s (socket %s)",
				   user, a.workflow, ans.why, a.socket);
			ret = PAM_SUCCESS;
			break;
		}
		/* fall through */
	case ASK_FAILED:
	default:
		pam_syslog(pamh, LOG_ERR,
			   "denied '%s' for workflow '%s': %s (socket %s%s)",
			   user, a.workflow, ans.why, a.socket,
			   a.fail_open ? "; failmode=open allows only when "
					 "the daemon is not there"
				       : "; failmode=closed");
		ret = denied;
		break;
	}
	return ret;
}

EXPORT int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
			       const char **argv)
{
	return check(pamh, flags, argc, argv, PH_AUTH);
}

/* Nothing to set: the grant is the daemon's. */
EXPORT int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc,
			  const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}

EXPORT int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc,
			    const char **argv)
{
	return check(pamh, flags, argc, argv, PH_ACCOUNT);
}
