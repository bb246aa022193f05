/*
 * The decision log (docs/internals/decision-log.md): an append-only file of
 * JSON lines, each carrying its sequence number and the SHA-256 of the line
 * before it.
 *
 * Request threads never write.  ag_dlog_append checks the caller's fields,
 * queues a request on the caller's stack and sleeps on it.  One writer
 * thread takes everything queued, numbers and chains it in queue order,
 * writes the batch with as few write() calls as the kernel allows, makes
 * it durable with one fdatasync, moves the head file FILE.head forward,
 * and only then wakes the callers.  Many concurrent appends therefore cost
 * one pair of syncs, and no caller hears "written" before its record and
 * every earlier one are on disk.
 *
 * A failed write or sync puts the log into a failed state for good: the
 * batch and every later append get AG_ERR_IO, so the gate denies instead
 * of deciding without a record.  See docs/internals/decision-log.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "aalgate/gate.h"
#include "util.h"
#include "banned.h"

#define HASH_LEN 32
#define HEX_LEN (2 * HASH_LEN)

/* Room for {"seq":N,"prev":"<64 hex>", the closing brace and the newline
 * around the caller's fields; the longest such frame is 104 bytes. */
#define FRAME_MAX 128
#define FIELDS_MAX (AG_DLOG_RECORD_MAX - FRAME_MAX)

/* A batch is cut at this many bytes so that one burst cannot hold the
 * writer's buffer at an unbounded size. */
#define BATCH_MAX (4u << 20)

/* Recovery reads at most the last complete line and a torn one after it. */
#define TAIL_MAX (2 * ((size_t)AG_DLOG_RECORD_MAX + 1))
#define TAIL_CHUNK 16384

/* "<seq> <hex>\n" */
#define HEAD_MAX (20 + 1 + HEX_LEN + 1)

static const char head_suffix[] = ".head";

struct dlog_req {
	const char *fields; /* the caller's while it waits; else our copy */
	size_t len;
	uint64_t seq;
	ag_code rc;
	bool done;
	pthread_cond_t cond;
	/* Asynchronous appends: called by the writer, then req is freed. */
	ag_dlog_done_fn done_fn;
	void *done_arg;
	struct dlog_req *next;
};

struct ag_dlog {
	char *path, *head_path;
	int fd, head_fd;
	uint64_t repaired;

	pthread_mutex_t mu;
	pthread_cond_t work;
	struct dlog_req *q_head, **q_tail;
	bool closing, failed;
	char why[256];
	pthread_t writer;
	bool writer_started;

	/* The writer's own: the last committed record and the file size. */
	uint64_t seq;
	unsigned char hash[HASH_LEN];
	off_t size;
	char *buf;
	size_t buf_alloc;
	EVP_MD *md;
	EVP_MD_CTX *ctx;
};

/* ---- hashing ----------------------------------------------------------- */

static bool sha256(EVP_MD_CTX *ctx, const EVP_MD *md, const void *p,
		   size_t n, unsigned char out[HASH_LEN])
{
	unsigned int len = 0;
	return EVP_DigestInit_ex2(ctx, md, NULL) == 1 &&
	       EVP_DigestUpdate(ctx, p, n) == 1 &&
	       EVP_DigestFinal_ex(ctx, out, &len) == 1 && len == HASH_LEN;
}

static void hex_encode(const unsigned char h[HASH_LEN], char out[HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < HASH_LEN; i++) {
		out[2 * i] = digits[h[i] >> 4];
		out[2 * i + 1] = digits[h[i] & 15];
	}
	out[HEX_LEN] = '\0';
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1; /* upper case is refused: one spelling per hash */
}

static bool hex_decode(const char *s, size_t n, unsigned char out[HASH_LEN])
{
	if (n != HEX_LEN)
		return false;
	for (size_t i = 0; i < HASH_LEN; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

/* ---- records ----------------------------------------------------------- */

/* Checks that line (without its newline) is a record: a JSON object with
 * an integer "seq" of at least 1 and a "prev" of 64 lowercase hex digits.
 * On failure writes the reason to why. */
static bool record_parse(const char *line, size_t len, uint64_t *seq,
			 unsigned char prev[HASH_LEN], char *why, size_t wlen)
{
	json_error_t je;
	bool ok = false;
	json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);

	if (!root) {
		snprintf(why, wlen, "not JSON: %s (column %d)", je.text,
			 je.column);
		return false;
	}
	if (!json_is_object(root)) {
		snprintf(why, wlen, "not a JSON object");
		goto out;
	}
	json_t *s = json_object_get(root, "seq");
	if (!json_is_integer(s) || json_integer_value(s) < 1) {
		snprintf(why, wlen, "no \"seq\" that is an integer of at "
				    "least 1");
		goto out;
	}
	json_t *p = json_object_get(root, "prev");
	if (!json_is_string(p) ||
	    !hex_decode(json_string_value(p), json_string_length(p), prev)) {
		snprintf(why, wlen, "no \"prev\" of 64 lowercase hex digits");
		goto out;
	}
	*seq = (uint64_t)json_integer_value(s);
	ok = true;
out:
	json_decref(root);
	return ok;
}

/* Parses a head file's content "<seq> <hex>\n".  An empty head means
 * that nothing was committed yet. */
static bool head_parse(const char *s, size_t n, uint64_t *seq,
		       unsigned char hash[HASH_LEN])
{
	size_t i = 0;
	uint64_t v = 0;

	*seq = 0;
	memset(hash, 0, HASH_LEN);
	if (n == 0)
		return true;
	if (s[0] < '1' || s[0] > '9')
		return false;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (i + 1 + HEX_LEN + 1 != n || s[i] != ' ' || s[n - 1] != '\n' ||
	    !hex_decode(s + i + 1, HEX_LEN, hash))
		return false;
	*seq = v;
	return true;
}

/* Reads a head file of at most HEAD_MAX bytes from fd into buf. */
static ssize_t head_read(int fd, char *buf, size_t len)
{
	size_t n = 0;
	while (n < len) {
		ssize_t r = pread(fd, buf + n, len - n, (off_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	return (ssize_t)n;
}

/* ---- low-level I/O ----------------------------------------------------- */

/* memrchr is a GNU extension. */
static const char *last_nl(const char *p, size_t n)
{
	while (n--)
		if (p[n] == '\n')
			return p + n;
	return NULL;
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

static int sync_data(int fd)
{
	int r;
	do
		r = fdatasync(fd);
	while (r < 0 && errno == EINTR);
	return r;
}

static int pread_all(int fd, char *p, size_t n, off_t off)
{
	while (n) {
		ssize_t r = pread(fd, p, n, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0) {
			errno = EIO; /* the file shrank under us */
			return -1;
		}
		p += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

/* The 1-based number of the line that starts at byte off: one more than
 * the newlines before it.  Used only to word an error, so it may read the
 * whole file; 0 when the file cannot be read. */
static uint64_t line_at(int fd, off_t off)
{
	char buf[65536];
	uint64_t lines = 1;
	off_t pos = 0;

	while (pos < off) {
		size_t want = (size_t)(off - pos) < sizeof(buf)
				      ? (size_t)(off - pos)
				      : sizeof(buf);
		ssize_t r = pread(fd, buf, want, pos);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		for (const char *p = buf, *end = buf + r;
		     (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
			lines++;
		pos += r;
	}
	return lines;
}

static ag_code err_line(struct ag_error *err, const char *path, uint64_t line,
			const char *what)
{
	if (line)
		return ag_err(err, AG_ERR_INVALID, "%s:%" PRIu64 ": %s", path,
			      line, what);
	return ag_err(err, AG_ERR_INVALID, "%s: %s", path, what);
}

/* Makes a new directory entry durable: the log and its head are only as
 * safe as the names that reach them. */
static ag_code sync_dir(const char *path, struct ag_error *err)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (!slash)
		ag_strlcpy(dir, ".", sizeof(dir));
	else if (slash == path)
		ag_strlcpy(dir, "/", sizeof(dir));
	else if ((size_t)(slash - path) >= sizeof(dir))
		return ag_err(err, AG_ERR_USAGE, "%s: path too long", path);
	else {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ag_err(err, AG_ERR_IO, "%s: cannot open directory: %s",
			      dir, strerror(errno));
	int r = fsync(fd);
	int e = errno;
	close(fd);
	if (r < 0 && e != EINVAL)
		return ag_err(err, AG_ERR_IO, "%s: cannot sync directory: %s",
			      dir, strerror(e));
	return AG_OK;
}

/* Opens the log or its head the way security-relevant files are opened:
 * no symbolic links, a regular file, not writable by anyone else. */
static int open_private(const char *path, int flags, struct ag_error *err,
			ag_code *rc)
{
	struct stat st;
	int fd = open(path, flags | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
		      0600);

	*rc = AG_ERR_IO;
	if (fd < 0) {
		if (errno == ELOOP)
			ag_err(err, AG_ERR_IO, "%s: is a symbolic link; "
					       "refusing to follow it",
			       path);
		else
			ag_err(err, AG_ERR_IO, "%s: cannot open for writing: %s",
			       path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		ag_err(err, AG_ERR_IO, "%s: cannot stat: %s", path,
		       strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		ag_err(err, AG_ERR_IO, "%s: not a regular file", path);
		goto fail;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		*rc = ag_err(err, AG_ERR_INVALID,
			     "%s: writable by group or others (mode %04o); "
			     "make it 0600",
			     path, (unsigned)(st.st_mode & 07777));
		goto fail;
	}
	*rc = AG_OK;
	return fd;
fail:
	close(fd);
	return -1;
}

/* ---- opening ----------------------------------------------------------- */

/*
 * Finds the last complete record, reading backwards from the end in
 * chunks, and cuts off a torn line after it: a crash can leave part of a
 * batch that was never synced, and so never acknowledged.  A "torn" line
 * longer than a record, or a last complete line that is not a record,
 * is damage rather than a crash, and opening stops there.
 */
static ag_code recover_tail(struct ag_dlog *l, struct ag_error *err)
{
	ag_code rc = AG_ERR_IO;
	struct stat st;
	char *buf = NULL, why[200];
	size_t have = 0;
	const char *data = NULL, *end_nl = NULL, *start_nl = NULL;

	if (fstat(l->fd, &st) < 0)
		return ag_err(err, AG_ERR_IO, "%s: cannot stat: %s", l->path,
			      strerror(errno));
	l->size = st.st_size;
	l->seq = 0;
	memset(l->hash, 0, sizeof(l->hash));
	if (st.st_size == 0)
		return AG_OK;
	if (!(buf = malloc(TAIL_MAX)))
		return ag_err(err, AG_ERR_NOMEM, "%s: out of memory", l->path);

	/* buf holds the file's last `have` bytes at its end. */
	for (;;) {
		size_t chunk = TAIL_CHUNK;
		if (chunk > (size_t)st.st_size - have)
			chunk = (size_t)st.st_size - have;
		if (chunk > TAIL_MAX - have)
			chunk = TAIL_MAX - have;
		if (chunk == 0)
			break;
		char *at = buf + TAIL_MAX - have - chunk;
		if (pread_all(l->fd, at, chunk,
			      st.st_size - (off_t)have - (off_t)chunk)) {
			ag_err(err, AG_ERR_IO, "%s: read error: %s", l->path,
			       strerror(errno));
			goto out;
		}
		have += chunk;
		data = buf + TAIL_MAX - have;
		end_nl = last_nl(data, have);
		if (end_nl) {
			start_nl = last_nl(data, (size_t)(end_nl - data));
			if (start_nl)
				break;
		}
	}
	data = buf + TAIL_MAX - have;
	bool whole = have == (size_t)st.st_size;

	/* The torn part: everything after the last newline. */
	const char *torn = end_nl ? end_nl + 1 : data;
	size_t torn_len = (size_t)(buf + TAIL_MAX - torn);
	off_t torn_off = st.st_size - (off_t)torn_len;
	if (torn_len > AG_DLOG_RECORD_MAX || (!end_nl && !whole)) {
		snprintf(why, sizeof(why),
			 "the last line has no newline and is longer than a "
			 "record; this is damage, not a write cut off by a "
			 "crash");
		rc = err_line(err, l->path, line_at(l->fd, torn_off), why);
		goto out;
	}
	if (!end_nl) {
		/* One torn record and nothing before it. */
		l->size = 0;
		l->repaired = torn_len;
		if (ftruncate(l->fd, 0) < 0 || sync_data(l->fd) < 0) {
			ag_err(err, AG_ERR_IO, "%s: cannot cut off a torn "
					       "record: %s",
			       l->path, strerror(errno));
			goto out;
		}
		rc = AG_OK;
		goto out;
	}

	/* The last complete line runs from after start_nl to end_nl. */
	const char *line = start_nl ? start_nl + 1 : data;
	size_t len = (size_t)(end_nl - line);
	off_t line_off = torn_off - 1 - (off_t)len;
	if (!start_nl && !whole) {
		rc = err_line(err, l->path, line_at(l->fd, torn_off - 1),
			      "the last line is longer than a record");
		goto out;
	}
	uint64_t seq;
	unsigned char prev[HASH_LEN];
	if (!record_parse(line, len, &seq, prev, why, sizeof(why))) {
		char msg[300];
		snprintf(msg, sizeof(msg),
			 "the last line is not a valid record (%s); refusing "
			 "to extend a damaged log (see 'aalgate log verify')",
			 why);
		rc = err_line(err, l->path, line_at(l->fd, line_off), msg);
		goto out;
	}
	if (!sha256(l->ctx, l->md, line, len, l->hash)) {
		rc = ag_err(err, AG_ERR_INTERNAL, "%s: SHA-256 failed", l->path);
		goto out;
	}
	l->seq = seq;
	if (torn_len) {
		l->repaired = torn_len;
		if (ftruncate(l->fd, torn_off) < 0 || sync_data(l->fd) < 0) {
			ag_err(err, AG_ERR_IO, "%s: cannot cut off a torn "
					       "record: %s",
			       l->path, strerror(errno));
			goto out;
		}
		l->size = torn_off;
	}
	rc = AG_OK;
out:
	free(buf);
	return rc;
}

/* Writes the head: the last committed seq and the hash of its line. */
static int head_write(struct ag_dlog *l, uint64_t seq,
		      const unsigned char hash[HASH_LEN])
{
	char hex[HEX_LEN + 1], text[HEAD_MAX + 1];

	hex_encode(hash, hex);
	int n = snprintf(text, sizeof(text), "%" PRIu64 " %s\n", seq, hex);
	if (n < 0 || (size_t)n >= sizeof(text)) {
		errno = EOVERFLOW;
		return -1;
	}
	size_t off = 0;
	while (off < (size_t)n) {
		ssize_t w = pwrite(l->head_fd, text + off, (size_t)n - off,
				   (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		off += (size_t)w;
	}
	if (ftruncate(l->head_fd, (off_t)n) < 0)
		return -1;
	return sync_data(l->head_fd);
}

/* Reads the head and holds it against the recovered tail.  A head past
 * the end means committed records are gone; extending the log would bury
 * that, so opening stops. */
static ag_code check_head(struct ag_dlog *l, struct ag_error *err)
{
	char text[HEAD_MAX + 1], msg[300];
	uint64_t seq;
	unsigned char hash[HASH_LEN];
	ag_code rc;

	l->head_fd = open_private(l->head_path, O_RDWR, err, &rc);
	if (l->head_fd < 0)
		return rc;
	ssize_t n = head_read(l->head_fd, text, sizeof(text));
	if (n < 0)
		return ag_err(err, AG_ERR_IO, "%s: read error: %s",
			      l->head_path, strerror(errno));
	if (!head_parse(text, (size_t)n, &seq, hash))
		return ag_err(err, AG_ERR_INVALID,
			      "%s: not a decision log head (\"SEQ HASH\")",
			      l->head_path);
	if (seq > l->seq) {
		snprintf(msg, sizeof(msg),
			 "the log ends at seq %" PRIu64 " but its head says "
			 "%" PRIu64 " were committed; refusing to extend a "
			 "truncated log",
			 l->seq, seq);
		return err_line(err, l->path, 0, msg);
	}
	if (seq == l->seq && seq && memcmp(hash, l->hash, HASH_LEN)) {
		snprintf(msg, sizeof(msg),
			 "the last record (seq %" PRIu64 ") does not match the "
			 "hash in %s; refusing to extend a changed log",
			 seq, l->head_path);
		off_t line_off = l->size > 0 ? l->size - 1 : 0;
		/* Back to the start of the last line for its number. */
		return err_line(err, l->path, line_at(l->fd, line_off), msg);
	}
	/* Records past the head were synced but the head update was lost;
	 * they are part of the chain now. */
	if (seq < l->seq && head_write(l, l->seq, l->hash) < 0)
		return ag_err(err, AG_ERR_IO, "%s: cannot write: %s",
			      l->head_path, strerror(errno));
	return AG_OK;
}

/* ---- the writer -------------------------------------------------------- */

static void set_failed(struct ag_dlog *l, const char *what, int e)
{
	pthread_mutex_lock(&l->mu);
	if (!l->failed)
		snprintf(l->why, sizeof(l->why), "%s: %s: %s", l->path, what,
			 strerror(e));
	l->failed = true;
	pthread_mutex_unlock(&l->mu);
}

/* Writes, syncs and heads one batch.  Called without the lock; the
 * writer is the only thread that touches seq, hash, size and buf. */
static ag_code commit(struct ag_dlog *l, struct dlog_req *batch, size_t bytes)
{
	char hex[HEX_LEN + 1];
	unsigned char hash[HASH_LEN];
	uint64_t seq = l->seq;
	size_t len = 0;

	if (bytes > l->buf_alloc) {
		char *p = realloc(l->buf, bytes);
		if (!p)
			return AG_ERR_NOMEM; /* nothing written: no damage */
		l->buf = p;
		l->buf_alloc = bytes;
	}
	memcpy(hash, l->hash, HASH_LEN);
	for (struct dlog_req *r = batch; r; r = r->next) {
		char *line = l->buf + len;
		hex_encode(hash, hex);
		int n = snprintf(line, FRAME_MAX,
				 "{\"seq\":%" PRIu64 ",\"prev\":\"%s\"%s",
				 ++seq, hex, r->len ? "," : "");
		if (n < 0 || n >= FRAME_MAX - 2)
			return AG_ERR_INTERNAL;
		size_t k = (size_t)n;
		memcpy(line + k, r->fields, r->len);
		k += r->len;
		line[k++] = '}';
		if (!sha256(l->ctx, l->md, line, k, hash))
			return AG_ERR_INTERNAL;
		line[k++] = '\n';
		len += k;
		r->seq = seq;
	}

	if (write_all(l->fd, l->buf, len) < 0 || sync_data(l->fd) < 0) {
		int e = errno;
		set_failed(l, "cannot write the decision log", e);
		/* Best effort: take back what the callers are told failed. */
		if (ftruncate(l->fd, l->size) == 0)
			(void)sync_data(l->fd);
		return AG_ERR_IO;
	}
	l->size += (off_t)len;
	l->seq = seq;
	memcpy(l->hash, hash, HASH_LEN);
	/* The records are durable; the head only moves after them, so it
	 * never names a record that might not be there. */
	if (head_write(l, seq, hash) < 0) {
		set_failed(l, "cannot write the head file", errno);
		return AG_ERR_IO;
	}
	return AG_OK;
}

static void *writer_main(void *arg)
{
	struct ag_dlog *l = arg;

	pthread_mutex_lock(&l->mu);
	for (;;) {
		while (!l->q_head && !l->closing)
			pthread_cond_wait(&l->work, &l->mu);
		if (!l->q_head)
			break;
		struct dlog_req *batch = l->q_head, *last = batch;
		size_t bytes = batch->len + FRAME_MAX;
		while (last->next &&
		       bytes + last->next->len + FRAME_MAX <= BATCH_MAX) {
			last = last->next;
			bytes += last->len + FRAME_MAX;
		}
		l->q_head = last->next;
		if (!l->q_head)
			l->q_tail = &l->q_head;
		last->next = NULL;
		bool failed = l->failed;
		pthread_mutex_unlock(&l->mu);

		ag_code rc = failed ? AG_ERR_IO : commit(l, batch, bytes);

		/* Asynchronous callers first, without the lock. */
		for (struct dlog_req *r = batch; r; r = r->next)
			if (r->done_fn)
				r->done_fn(r->done_arg, rc, rc ? 0 : r->seq);
		pthread_mutex_lock(&l->mu);
		for (struct dlog_req *r = batch, *next; r; r = next) {
			next = r->next;
			if (r->done_fn) {
				free(r);
				continue;
			}
			r->rc = rc;
			r->done = true;
			pthread_cond_signal(&r->cond);
		}
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* ---- the interface ----------------------------------------------------- */

ag_code ag_dlog_append_async(struct ag_dlog *l, const char *fields, size_t len,
			     ag_dlog_done_fn done, void *arg)
{
	if (!l || !done || (!fields && len))
		return AG_ERR_USAGE;
	if (len > FIELDS_MAX)
		return AG_ERR_LIMIT;
	/* Verify rejects a line that is not UTF-8 and open refuses to
	 * extend such a log: never write one. */
	if (len && (memchr(fields, '\n', len) || memchr(fields, '\0', len) ||
		    !ag_utf8_valid(fields, len)))
		return AG_ERR_USAGE;
	struct dlog_req *r = malloc(sizeof(*r) + len);
	if (!r)
		return AG_ERR_NOMEM;
	memset(r, 0, sizeof(*r));
	char *copy = (char *)(r + 1);
	if (len)
		memcpy(copy, fields, len);
	r->fields = copy;
	r->len = len;
	r->rc = AG_ERR_IO;
	r->done_fn = done;
	r->done_arg = arg;
	pthread_mutex_lock(&l->mu);
	if (l->failed || l->closing) {
		ag_code rc = l->failed ? AG_ERR_IO : AG_ERR_USAGE;
		pthread_mutex_unlock(&l->mu);
		free(r);
		return rc;
	}
	*l->q_tail = r;
	l->q_tail = &r->next;
	pthread_cond_signal(&l->work);
	pthread_mutex_unlock(&l->mu);
	return AG_OK;
}

static void dlog_free(struct ag_dlog *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd); /* also drops the lock */
	if (l->head_fd >= 0)
		close(l->head_fd);
	EVP_MD_CTX_free(l->ctx);
	EVP_MD_free(l->md);
	free(l->buf);
	free(l->path);
	free(l->head_path);
	free(l);
}

ag_code ag_dlog_open(const char *path, struct ag_dlog **out,
		     struct ag_error *err)
{
	ag_code rc = AG_ERR_IO;
	struct ag_dlog *l = NULL;
	bool sync_init = false;

	if (out)
		*out = NULL;
	if (!path || !*path || !out)
		return ag_err(err, AG_ERR_USAGE, "decision log: no path");
	size_t plen = strlen(path);
	if (plen + sizeof(head_suffix) > PATH_MAX)
		return ag_err(err, AG_ERR_USAGE, "%s: path too long", path);
	if (!(l = calloc(1, sizeof(*l))))
		return ag_err(err, AG_ERR_NOMEM, "%s: out of memory", path);
	l->fd = l->head_fd = -1;
	l->q_tail = &l->q_head;
	l->path = ag_strdup(path);
	l->head_path = malloc(plen + sizeof(head_suffix));
	l->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	l->ctx = EVP_MD_CTX_new();
	if (!l->path || !l->head_path || !l->md || !l->ctx) {
		rc = ag_err(err, AG_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	memcpy(l->head_path, path, plen);
	memcpy(l->head_path + plen, head_suffix, sizeof(head_suffix));

	l->fd = open_private(path, O_RDWR | O_APPEND, err, &rc);
	if (l->fd < 0)
		goto out;
	rc = AG_ERR_IO;
	if (flock(l->fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			ag_err(err, AG_ERR_IO,
			       "%s: in use by another process (it holds the "
			       "lock); two gates cannot share one decision log",
			       path);
		else
			ag_err(err, AG_ERR_IO, "%s: cannot lock: %s", path,
			       strerror(errno));
		goto out;
	}
	if ((rc = recover_tail(l, err)))
		goto out;
	if ((rc = check_head(l, err)))
		goto out;
	if ((rc = sync_dir(path, err)))
		goto out;

	rc = AG_ERR_INTERNAL;
	if (pthread_mutex_init(&l->mu, NULL)) {
		ag_err(err, rc, "%s: cannot create a mutex", path);
		goto out;
	}
	if (pthread_cond_init(&l->work, NULL)) {
		pthread_mutex_destroy(&l->mu);
		ag_err(err, rc, "%s: cannot create a condition", path);
		goto out;
	}
	sync_init = true;
	/* The writer takes no signals: they belong to the threads that
	 * handle them (SIGHUP, SIGTERM in the server). */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int e = pthread_create(&l->writer, NULL, writer_main, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		ag_err(err, AG_ERR_NOMEM, "%s: cannot start the writer: %s",
		       path, strerror(e));
		rc = AG_ERR_NOMEM;
		goto out;
	}
	l->writer_started = true;
	*out = l;
	l = NULL;
	rc = AG_OK;
out:
	if (l && sync_init) {
		pthread_cond_destroy(&l->work);
		pthread_mutex_destroy(&l->mu);
	}
	dlog_free(l);
	return rc;
}

void ag_dlog_close(struct ag_dlog *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	l->closing = true;
	pthread_cond_signal(&l->work);
	pthread_mutex_unlock(&l->mu);
	/* The writer drains the queue before it leaves. */
	if (l->writer_started)
		pthread_join(l->writer, NULL);
	pthread_cond_destroy(&l->work);
	pthread_mutex_destroy(&l->mu);
	dlog_free(l);
}

uint64_t ag_dlog_repaired_bytes(const struct ag_dlog *l)
{
	return l ? l->repaired : 0;
}

bool ag_dlog_failed(struct ag_dlog *l, char *why, size_t len)
{
	bool failed;

	if (!l)
		return true;
	pthread_mutex_lock(&l->mu);
	failed = l->failed;
	if (why && len)
		ag_strlcpy(why, failed ? l->why : "", len);
	pthread_mutex_unlock(&l->mu);
	return failed;
}

/* The caller's fields must make a record that verify accepts: one line,
 * members of a JSON object that the log's own keys do not clash with. */
static ag_code fields_check(const char *fields, size_t len)
{
	json_error_t je;
	ag_code rc = AG_ERR_USAGE;

	if (len && (memchr(fields, '\n', len) || memchr(fields, '\0', len)))
		return AG_ERR_USAGE;
	char *obj = malloc(len + 2);
	if (!obj)
		return AG_ERR_NOMEM;
	obj[0] = '{';
	if (len)
		memcpy(obj + 1, fields, len);
	obj[len + 1] = '}';
	json_t *root = json_loadb(obj, len + 2, JSON_REJECT_DUPLICATES, &je);
	free(obj);
	if (!root)
		return json_error_code(&je) == json_error_out_of_memory
			       ? AG_ERR_NOMEM
			       : AG_ERR_USAGE;
	if (json_is_object(root) && !json_object_get(root, "seq") &&
	    !json_object_get(root, "prev"))
		rc = AG_OK;
	json_decref(root);
	return rc;
}

ag_code ag_dlog_append(struct ag_dlog *l, const char *fields, size_t len,
		       uint64_t *seq_out)
{
	ag_code rc = AG_ERR_IO;
	struct dlog_req req;

	if (seq_out)
		*seq_out = 0;
	if (!l || (!fields && len))
		return AG_ERR_USAGE;
	if (len > FIELDS_MAX)
		return AG_ERR_LIMIT;
	if ((rc = fields_check(fields, len)))
		return rc;

	memset(&req, 0, sizeof(req));
	req.fields = fields;
	req.len = len;
	req.rc = AG_ERR_IO;
	if (pthread_cond_init(&req.cond, NULL))
		return AG_ERR_INTERNAL;
	pthread_mutex_lock(&l->mu);
	if (l->failed || l->closing) {
		rc = l->failed ? AG_ERR_IO : AG_ERR_USAGE;
		pthread_mutex_unlock(&l->mu);
		pthread_cond_destroy(&req.cond);
		return rc;
	}
	*l->q_tail = &req;
	l->q_tail = &req.next;
	pthread_cond_signal(&l->work);
	while (!req.done)
		pthread_cond_wait(&req.cond, &l->mu);
	pthread_mutex_unlock(&l->mu);
	pthread_cond_destroy(&req.cond);
	rc = req.rc;
	if (rc == AG_OK && seq_out)
		*seq_out = req.seq;
	return rc;
}

/* ---- verification ------------------------------------------------------ */

/* A line reader that never holds more than one record. */
struct reader {
	int fd;
	char buf[65536];
	size_t pos, len;
	bool eof;
	char *line;
	size_t llen;
};

enum { RD_EOF, RD_LINE, RD_PARTIAL, RD_LONG, RD_ERROR };

static int reader_next(struct reader *r)
{
	r->llen = 0;
	for (;;) {
		if (r->pos == r->len) {
			if (r->eof)
				return r->llen ? RD_PARTIAL : RD_EOF;
			ssize_t n = read(r->fd, r->buf, sizeof(r->buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return RD_ERROR;
			r->pos = 0;
			r->len = (size_t)n;
			r->eof = n == 0;
			continue;
		}
		const char *p = r->buf + r->pos;
		size_t avail = r->len - r->pos;
		const char *nl = memchr(p, '\n', avail);
		size_t take = nl ? (size_t)(nl - p) : avail;
		if (r->llen + take > AG_DLOG_RECORD_MAX)
			return RD_LONG;
		memcpy(r->line + r->llen, p, take);
		r->llen += take;
		r->pos += take + (nl ? 1 : 0);
		if (nl)
			return RD_LINE;
	}
}

static ag_code bad(struct ag_dlog_verify *res, uint64_t line, const char *fmt,
		   ...) AG_PRINTF(3, 4);

static ag_code bad(struct ag_dlog_verify *res, uint64_t line, const char *fmt,
		   ...)
{
	va_list ap;
	res->bad_line = line;
	va_start(ap, fmt);
	vsnprintf(res->why, sizeof(res->why), fmt, ap);
	va_end(ap);
	return AG_ERR_INVALID;
}

/* Reads path.head for verification: absent or empty is seq 0. */
static ag_code verify_head(const char *path, uint64_t *seq,
			   unsigned char hash[HASH_LEN], bool *malformed,
			   struct ag_error *err)
{
	char hp[PATH_MAX], text[HEAD_MAX + 1];
	struct stat st;
	ag_code rc = AG_ERR_IO;

	*seq = 0;
	*malformed = false;
	if (strlen(path) + sizeof(head_suffix) > sizeof(hp))
		return ag_err(err, AG_ERR_USAGE, "%s: path too long", path);
	snprintf(hp, sizeof(hp), "%s%s", path, head_suffix);
	int fd = open(hp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
				  O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return AG_OK;
		return ag_err(err, AG_ERR_IO, "%s: cannot open: %s", hp,
			      strerror(errno));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ag_err(err, AG_ERR_IO, "%s: not a regular file", hp);
		goto out;
	}
	ssize_t n = head_read(fd, text, sizeof(text));
	if (n < 0) {
		ag_err(err, AG_ERR_IO, "%s: read error: %s", hp,
		       strerror(errno));
		goto out;
	}
	*malformed = !head_parse(text, (size_t)n, seq, hash);
	rc = AG_OK;
out:
	close(fd);
	return rc;
}

ag_code ag_dlog_verify_file(const char *path, struct ag_dlog_verify *res,
			    struct ag_error *err)
{
	ag_code rc = AG_ERR_IO;
	struct reader *r = NULL;
	EVP_MD *md = NULL;
	EVP_MD_CTX *ctx = NULL;
	struct stat st;
	unsigned char prev_hash[HASH_LEN], hash[HASH_LEN], prev[HASH_LEN];
	unsigned char head_hash[HASH_LEN];
	uint64_t head_seq = 0, lineno = 0, seq;
	bool head_bad = false;
	char why[200];
	int fd = -1;

	if (!res)
		return ag_err(err, AG_ERR_USAGE, "decision log: no result");
	memset(res, 0, sizeof(*res));
	if (!path || !*path)
		return ag_err(err, AG_ERR_USAGE, "decision log: no path");
	if ((rc = verify_head(path, &head_seq, head_hash, &head_bad, err)))
		return rc;
	rc = AG_ERR_IO;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return ag_err(err, AG_ERR_IO, "%s: cannot open: %s", path,
			      strerror(errno));
	if (fstat(fd, &st) < 0) {
		ag_err(err, AG_ERR_IO, "%s: cannot stat: %s", path,
		       strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		ag_err(err, AG_ERR_IO, "%s: is a directory", path);
		goto out;
	}
	r = malloc(sizeof(*r));
	md = EVP_MD_fetch(NULL, "SHA256", NULL);
	ctx = EVP_MD_CTX_new();
	if (!r || !md || !ctx || !(r->line = malloc(AG_DLOG_RECORD_MAX))) {
		if (r)
			r->line = NULL;
		rc = ag_err(err, AG_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	r->fd = fd;
	r->pos = r->len = r->llen = 0;
	r->eof = false;
	if (head_bad) {
		rc = bad(res, 0, "its head %s%s is not a decision log head "
				 "(\"SEQ HASH\")",
			 path, head_suffix);
		goto out;
	}

	memset(prev_hash, 0, sizeof(prev_hash));
	for (;;) {
		int k = reader_next(r);
		if (k == RD_EOF)
			break;
		lineno++;
		if (k == RD_ERROR) {
			ag_err(err, AG_ERR_IO, "%s:%" PRIu64 ": read error: %s",
			       path, lineno, strerror(errno));
			goto out;
		}
		if (k == RD_LONG) {
			rc = bad(res, lineno,
				 "longer than %d bytes: not a record",
				 AG_DLOG_RECORD_MAX);
			goto out;
		}
		if (k == RD_PARTIAL) {
			rc = bad(res, lineno,
				 "the record is cut off (no newline at the "
				 "end): the log was truncated, or the writer "
				 "stopped before acknowledging it");
			goto out;
		}
		if (!record_parse(r->line, r->llen, &seq, prev, why,
				  sizeof(why))) {
			rc = bad(res, lineno, "%s", why);
			goto out;
		}
		if (seq < lineno) {
			rc = bad(res, lineno,
				 "seq %" PRIu64 " where %" PRIu64
				 " was expected: records are out of order or "
				 "repeated",
				 seq, lineno);
			goto out;
		}
		if (seq > lineno) {
			if (seq == lineno + 1)
				rc = bad(res, lineno,
					 "seq %" PRIu64 " where %" PRIu64
					 " was expected: record %" PRIu64
					 " is missing, or records are out of "
					 "order",
					 seq, lineno, lineno);
			else
				rc = bad(res, lineno,
					 "seq %" PRIu64 " where %" PRIu64
					 " was expected: records %" PRIu64
					 " to %" PRIu64 " are missing, or "
					 "records are out of order",
					 seq, lineno, lineno, seq - 1);
			goto out;
		}
		if (memcmp(prev, prev_hash, HASH_LEN)) {
			/* Every seq so far is in place, so nothing was
			 * removed or inserted without renumbering what
			 * follows.  Most likely the line before was edited
			 * (its own prev still fits the chain), so that is
			 * the line named; the message says what else it
			 * could be. */
			if (lineno == 1)
				rc = bad(res, 1,
					 "the first record's prev is not 64 "
					 "zeros: records before it were "
					 "removed, or it was changed");
			else
				rc = bad(res, lineno - 1,
					 "does not hash to the prev that line "
					 "%" PRIu64 " records: this line was "
					 "changed, or line %" PRIu64 " was, "
					 "or lines between them were removed",
					 lineno, lineno);
			res->records = lineno > 1 ? lineno - 2 : 0;
			goto out;
		}
		if (!sha256(ctx, md, r->line, r->llen, hash)) {
			rc = ag_err(err, AG_ERR_INTERNAL, "%s: SHA-256 failed",
				    path);
			goto out;
		}
		if (seq == head_seq && memcmp(hash, head_hash, HASH_LEN)) {
			rc = bad(res, lineno,
				 "does not hash to the hash that %s%s holds "
				 "for seq %" PRIu64 ": this line was changed, "
				 "or the head was",
				 path, head_suffix, seq);
			goto out;
		}
		memcpy(prev_hash, hash, HASH_LEN);
		res->records = lineno;
	}
	if (head_seq > res->records) {
		rc = bad(res, res->records + 1,
			 "the log ends at seq %" PRIu64 " but its head says "
			 "%" PRIu64 " were committed: records were removed "
			 "from the end",
			 res->records, head_seq);
		goto out;
	}
	rc = AG_OK;
out:
	if (rc == AG_ERR_INVALID)
		err_line(err, path, res->bad_line, res->why);
	if (r)
		free(r->line);
	free(r);
	EVP_MD_CTX_free(ctx);
	EVP_MD_free(md);
	close(fd);
	return rc;
}
