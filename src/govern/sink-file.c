/*
 * The file sink: appends each obligation, as one JSON line, to a file
 * that a log shipper or an operator follows.
 *
 * The file is opened the way security-relevant files are opened: never
 * through a symbolic link, a regular file, not writable by group or
 * others, created 0600.  Each line goes out in one write on an O_APPEND
 * descriptor and is synced before the delivery counts.  A write or sync
 * that fails is taken back (the file is cut to its size before), so that
 * the retry does not leave half a line in front of the whole one.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sinks-int.h"
#include "util.h"
#include "banned.h"

static int sync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (!slash)
		ag_strlcpy(dir, ".", sizeof(dir));
	else if (slash == path)
		ag_strlcpy(dir, "/", sizeof(dir));
	else if ((size_t)(slash - path) >= sizeof(dir))
		return -1;
	else {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r;
	do
		r = fsync(fd);
	while (r < 0 && errno == EINTR);
	int e = errno;
	close(fd);
	return r < 0 && e != EINVAL ? -1 : 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

ag_code ag_sink_file_deliver(const struct ag_sink *s,
			     const struct ag_sink_call *c, char *why,
			     size_t wlen)
{
	const int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW |
			  O_NOCTTY | O_NONBLOCK;
	ag_code rc = AG_ERR_IO;
	struct stat st;
	bool created = false;
	char *buf = NULL;

	if (!s->path) {
		ag_sink_why(why, wlen, "the sink has no path");
		return AG_ERR_USAGE;
	}
	int fd = open(s->path, flags);
	if (fd < 0 && errno == ENOENT) {
		fd = open(s->path, flags | O_CREAT | O_EXCL, 0600);
		created = fd >= 0;
		if (fd < 0 && errno == EEXIST)
			fd = open(s->path, flags);
	}
	if (fd < 0) {
		ag_sink_why(why, wlen, "%s: cannot open: %s", s->path,
			    errno == ELOOP ? "it is a symbolic link, which is "
					     "not followed"
					   : strerror(errno));
		return AG_ERR_IO;
	}
	if (fstat(fd, &st) < 0) {
		ag_sink_why(why, wlen, "%s: cannot stat: %s", s->path,
			    strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ag_sink_why(why, wlen, "%s: not a regular file", s->path);
		goto out;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		ag_sink_why(why, wlen,
			    "%s: writable by group or others (mode %04o); make "
			    "it 0600 or 0640",
			    s->path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	/* Appending to the decision log would break its chain. */
	if ((c->have_log && st.st_dev == c->log_dev &&
	     st.st_ino == c->log_ino) ||
	    (c->have_head && st.st_dev == c->head_dev &&
	     st.st_ino == c->head_ino)) {
		ag_sink_why(
			why, wlen,
			"%s: is the decision log (or its head); a file sink "
			"must write elsewhere",
			s->path);
		goto out;
	}

	/* A line cut off by a crash before its sync stays as it is, ended
	 * by a newline, so that this one is whole. */
	bool lead = false;
	if (st.st_size > 0) {
		char last;
		ssize_t r;
		do
			r = pread(fd, &last, 1, st.st_size - 1);
		while (r < 0 && errno == EINTR);
		lead = r == 1 && last != '\n';
	}
	size_t n = c->len + 1 + (lead ? 1 : 0);
	if (!(buf = malloc(n))) {
		ag_sink_why(why, wlen, "out of memory");
		rc = AG_ERR_NOMEM;
		goto out;
	}
	if (lead)
		buf[0] = '\n';
	memcpy(buf + (lead ? 1 : 0), c->line, c->len);
	buf[n - 1] = '\n';
	int r = write_all(fd, buf, n);
	if (r == 0) {
		do
			r = fdatasync(fd);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			ag_sink_why(why, wlen, "%s: cannot sync: %s", s->path,
				    strerror(errno));
	} else {
		ag_sink_why(why, wlen, "%s: cannot write: %s", s->path,
			    strerror(errno));
	}
	if (r < 0) {
		/* Not delivered: take back what may have gone out. */
		if (ftruncate(fd, st.st_size) == 0)
			(void)fdatasync(fd);
		goto out;
	}
	if (created && sync_parent(s->path) < 0) {
		ag_sink_why(why, wlen, "%s: cannot sync its folder: %s",
			    s->path, strerror(errno));
		goto out;
	}
	rc = AG_OK;
out:
	free(buf);
	close(fd);
	return rc;
}
