/*
 * The sink dispatcher (docs/govern.md): reads obligations from the
 * decision log, checking its hash chain as it goes, and hands each to the
 * sinks that take it, in log order, at least once.
 *
 * Each sink has a cursor file beside the log (the last record it has
 * dealt with: seq, where its line starts, and its SHA-256) and a lock
 * file.  A pass over one sink takes the lock, reads the cursor, checks
 * that the record there still hashes to it, then streams the records
 * after it: every one must carry the next seq and, as prev, the SHA-256
 * of the line before.  An obligation the sink takes is delivered; the
 * cursor moves (atomically: temporary file, fsync, rename, fsync of the
 * folder) only after the delivery succeeded.  The first failure ends the
 * pass, and the sink is tried again after a backoff that doubles up to a
 * cap.  A record that does not verify stops the sink at that line until
 * someone acts: nothing is skipped and nothing dropped.
 *
 * The checks on each line are those of ag_dlog_verify_file
 * (src/gate/dlog.c), made incrementally from the cursor rather than over
 * the whole file, so that a daemon following a large log costs only what
 * was appended.  See include/aalgate/govern.h.
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
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "aalgate/gate.h"
#include "sinks-int.h"
#include "util.h"
#include "banned.h"

#define HASH_LEN 32
#define READ_CHUNK 65536
#define REPORT_EVERY_MS 60000
#define WHY_MAX 512

static const char cursor_infix[] = ".sink-";
static const char lock_suffix[] = ".lock";
static const char tmp_suffix[] = ".tmp";
static const char head_suffix[] = ".head";

void ag_sink_why(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

int64_t ag_sink_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- hex --------------------------------------------------------------- */

static void hex_encode(const unsigned char *h, char out[AG_SINK_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < HASH_LEN; i++) {
		out[2 * i] = digits[h[i] >> 4];
		out[2 * i + 1] = digits[h[i] & 15];
	}
	out[AG_SINK_HEX_LEN] = '\0';
}

/* 64 lowercase hex digits: the one spelling the log uses. */
static bool is_hex64(const char *s, size_t n)
{
	if (n != AG_SINK_HEX_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* ---- the cursor file --------------------------------------------------- */

static bool parse_u64(const char **p, const char *end, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (s == end || *s < '0' || *s > '9')
		return false;
	if (*s == '0' && s + 1 < end && s[1] >= '0' && s[1] <= '9')
		return false; /* one spelling per number */
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*p = s;
	*out = v;
	return true;
}

ag_code ag_sink_cursor_parse(const char *buf, size_t len,
			     struct ag_sink_cursor *out)
{
	const char *p = buf, *end = buf + len;
	struct ag_sink_cursor c;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	if (!buf || len > AG_SINK_CURSOR_MAX)
		return AG_ERR_INVALID;
	if (!parse_u64(&p, end, &c.seq) || p == end || *p++ != ' ' ||
	    !parse_u64(&p, end, &c.offset) || p == end || *p++ != ' ')
		return AG_ERR_INVALID;
	if ((size_t)(end - p) != AG_SINK_HEX_LEN + 1 ||
	    !is_hex64(p, AG_SINK_HEX_LEN) || p[AG_SINK_HEX_LEN] != '\n')
		return AG_ERR_INVALID;
	memcpy(c.hash, p, AG_SINK_HEX_LEN);
	c.hash[AG_SINK_HEX_LEN] = '\0';
	if (c.offset > (uint64_t)INT64_MAX)
		return AG_ERR_INVALID;
	if (c.seq == 0) {
		/* The start of the log has one spelling too. */
		for (size_t i = 0; i < AG_SINK_HEX_LEN; i++)
			if (c.hash[i] != '0')
				return AG_ERR_INVALID;
		if (c.offset)
			return AG_ERR_INVALID;
	} else if (c.offset > 0 && c.seq == 1) {
		return AG_ERR_INVALID; /* record 1 is the first line */
	} else if (c.offset == 0 && c.seq > 1) {
		return AG_ERR_INVALID;
	}
	*out = c;
	return AG_OK;
}

size_t ag_sink_cursor_format(const struct ag_sink_cursor *c, char *buf,
			     size_t len)
{
	int n = snprintf(buf, len, "%" PRIu64 " %" PRIu64 " %s\n", c->seq,
			 c->offset, c->hash);
	return n < 0 ? 0 : (size_t)n;
}

static void cursor_zero(struct ag_sink_cursor *c)
{
	memset(c, 0, sizeof(*c));
	memset(c->hash, '0', AG_SINK_HEX_LEN);
}

static bool sink_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '_' && c != '-')))
			return false;
	}
	return true;
}

ag_code ag_sink_cursor_path(const char *log_path, const char *name, char *buf,
			    size_t len)
{
	if (!log_path || !*log_path || !sink_name_ok(name) || !buf)
		return AG_ERR_USAGE;
	/* Room for the lock and temporary files' suffixes too. */
	int n = snprintf(buf, len, "%s%s%s", log_path, cursor_infix, name);
	if (n < 0 || (size_t)n + sizeof(lock_suffix) > len)
		return AG_ERR_USAGE;
	return AG_OK;
}

/* Reads a cursor.  A missing file is the start of the log.  AG_ERR_INVALID
 * (why set) for a file that is not a cursor, AG_ERR_IO when it cannot be
 * read. */
static ag_code cursor_load(const char *path, struct ag_sink_cursor *c,
			   char *why, size_t wlen)
{
	char text[AG_SINK_CURSOR_MAX + 2];
	struct stat s;
	size_t n = 0;
	ag_code rc = AG_ERR_IO;

	cursor_zero(c);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
				    O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return AG_OK;
		ag_sink_why(why, wlen, "%s: cannot open the cursor: %s", path,
			    errno == ELOOP ? "it is a symbolic link"
					   : strerror(errno));
		return AG_ERR_IO;
	}
	if (fstat(fd, &s) < 0 || !S_ISREG(s.st_mode)) {
		ag_sink_why(why, wlen, "%s: the cursor is not a regular file",
			    path);
		goto out;
	}
	while (n < sizeof(text)) {
		ssize_t r = read(fd, text + n, sizeof(text) - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ag_sink_why(why, wlen, "%s: cannot read the cursor: %s",
				    path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (ag_sink_cursor_parse(text, n, c) != AG_OK) {
		cursor_zero(c);
		ag_sink_why(
			why, wlen,
			"%s: not a sink cursor (\"SEQ OFFSET SHA256\"); remove "
			"it to deliver the whole log again",
			path);
		rc = AG_ERR_INVALID;
		goto out;
	}
	rc = AG_OK;
out:
	close(fd);
	return rc;
}

static int sync_fd(int fd)
{
	int r;
	do
		r = fsync(fd);
	while (r < 0 && errno == EINTR);
	return r;
}

/* Makes a rename or a new name durable. */
static int sync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (!slash)
		ag_strlcpy(dir, ".", sizeof(dir));
	else if (slash == path)
		ag_strlcpy(dir, "/", sizeof(dir));
	else if ((size_t)(slash - path) >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	} else {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = sync_fd(fd), e = errno;
	close(fd);
	if (r < 0 && e != EINVAL) {
		errno = e;
		return -1;
	}
	return 0;
}

/* Replaces the cursor file: a temporary file, synced, renamed over it,
 * and the folder synced, so that a crash leaves the old cursor or the new
 * one, never a mix. */
static ag_code cursor_save(const char *path, const struct ag_sink_cursor *c,
			   char *why, size_t wlen)
{
	char tmp[PATH_MAX], text[AG_SINK_CURSOR_MAX + 1];
	size_t n = ag_sink_cursor_format(c, text, sizeof(text)), off = 0;

	if (snprintf(tmp, sizeof(tmp), "%s%s", path, tmp_suffix) >=
	    (int)sizeof(tmp)) {
		ag_sink_why(why, wlen, "%s: path too long", path);
		return AG_ERR_USAGE;
	}
	int fd = open(tmp,
		      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW |
			      O_NOCTTY,
		      0600);
	if (fd < 0) {
		ag_sink_why(why, wlen, "%s: cannot write the cursor: %s", tmp,
			    strerror(errno));
		return AG_ERR_IO;
	}
	while (off < n) {
		ssize_t w = write(fd, text + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			ag_sink_why(why, wlen,
				    "%s: cannot write the cursor: %s", tmp,
				    w < 0 ? strerror(errno) : "short write");
			close(fd);
			unlink(tmp);
			return AG_ERR_IO;
		}
		off += (size_t)w;
	}
	if (sync_fd(fd) < 0) {
		ag_sink_why(why, wlen, "%s: cannot sync the cursor: %s", tmp,
			    strerror(errno));
		close(fd);
		unlink(tmp);
		return AG_ERR_IO;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		ag_sink_why(why, wlen, "%s: cannot replace the cursor: %s",
			    path, strerror(errno));
		unlink(tmp);
		return AG_ERR_IO;
	}
	if (sync_dir_of(path) < 0) {
		ag_sink_why(why, wlen, "%s: cannot sync its folder: %s", path,
			    strerror(errno));
		return AG_ERR_IO;
	}
	return AG_OK;
}

/* ---- reading the log --------------------------------------------------- */

/* One record, as the reader hands it over (pointers into the reader). */
struct record {
	const char *line;
	size_t len;
	uint64_t seq;
	uint64_t offset;
	char hash[AG_SINK_HEX_LEN + 1];
	unsigned kind;		/* AG_SINK_ALERT, AG_SINK_NOTIFY or 0 */
	const char *obligation; /* its name, or NULL */
};

/*
 * A reader that checks the chain from a cursor on and holds two records
 * at most: the one it last read, and the one before it, which it hands
 * over only once it is confirmed.  A record is confirmed when the next
 * record's prev is its SHA-256, or when the head file names it with that
 * hash (the head moves after every committed batch; a log without a head
 * confirms its last record by itself, as verification does).  So a record
 * that `aalgate log verify` would call changed is never delivered: the
 * last record of a log is the one an edit could otherwise slip through.
 */
struct scan {
	const char *log;
	char *head_path;
	int fd;
	off_t pos; /* the file offset the next read starts at */
	char *buf;
	size_t bpos, blen;
	char *line; /* the line being read: AG_DLOG_RECORD_MAX bytes */
	size_t llen;
	char *pline;		      /* the record waiting for confirmation */
	uint64_t seq;		      /* the last record read */
	unsigned char prev[HASH_LEN]; /* ...and its SHA-256 */
	bool have_pend;
	struct record pend;
	bool bad_next; /* the record after pend failed: SC_BAD next */
	/* The head as read at the start of the pass. */
	bool head_present;
	uint64_t head_seq;
	unsigned char head_hash[HASH_LEN];
	EVP_MD *md;
	EVP_MD_CTX *ctx;
	char why[WHY_MAX];
};

enum { SC_END = 0, SC_RECORD = 1, SC_BAD = -1, SC_IO = -2 };

static ag_code scan_init(struct scan *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->fd = -1;
	sc->buf = malloc(READ_CHUNK);
	sc->line = malloc((size_t)AG_DLOG_RECORD_MAX + 1);
	sc->pline = malloc((size_t)AG_DLOG_RECORD_MAX + 1);
	sc->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	sc->ctx = EVP_MD_CTX_new();
	return sc->buf && sc->line && sc->pline && sc->md && sc->ctx
		       ? AG_OK
		       : AG_ERR_NOMEM;
}

static void scan_release(struct scan *sc)
{
	if (sc->fd >= 0)
		close(sc->fd);
	free(sc->head_path);
	free(sc->buf);
	free(sc->line);
	free(sc->pline);
	EVP_MD_CTX_free(sc->ctx);
	EVP_MD_free(sc->md);
	memset(sc, 0, sizeof(*sc));
	sc->fd = -1;
}

static bool sha256(struct scan *sc, const char *p, size_t n,
		   unsigned char out[HASH_LEN])
{
	unsigned int len = 0;
	return EVP_DigestInit_ex2(sc->ctx, sc->md, NULL) == 1 &&
	       EVP_DigestUpdate(sc->ctx, p, n) == 1 &&
	       EVP_DigestFinal_ex(sc->ctx, out, &len) == 1 && len == HASH_LEN;
}

AG_PRINTF(3, 4)
static int scan_bad(struct scan *sc, uint64_t line, const char *fmt, ...)
{
	char what[WHY_MAX - 64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (line)
		ag_sink_why(sc->why, sizeof(sc->why), "%s:%" PRIu64 ": %s",
			    sc->log, line, what);
	else
		ag_sink_why(sc->why, sizeof(sc->why), "%s: %s", sc->log, what);
	return SC_BAD;
}

/* Parses the head's "<seq> <hex>\n"; empty means nothing committed. */
static bool head_parse(const char *s, size_t n, uint64_t *seq,
		       unsigned char hash[HASH_LEN])
{
	const char *p = s, *end = s + n;

	*seq = 0;
	memset(hash, 0, HASH_LEN);
	if (n == 0)
		return true;
	if (*s == '0' || !parse_u64(&p, end, seq) || p == end || *p++ != ' ' ||
	    (size_t)(end - p) != AG_SINK_HEX_LEN + 1 ||
	    !is_hex64(p, AG_SINK_HEX_LEN) || p[AG_SINK_HEX_LEN] != '\n')
		return false;
	for (size_t i = 0; i < HASH_LEN; i++) {
		int hi = p[2 * i] <= '9' ? p[2 * i] - '0' : p[2 * i] - 'a' + 10;
		int lo = p[2 * i + 1] <= '9' ? p[2 * i + 1] - '0'
					     : p[2 * i + 1] - 'a' + 10;
		hash[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

/* Reads LOG.head.  The gate rewrites it in place, so a read that does
 * not parse is tried again before the head is called malformed. */
static int head_load(struct scan *sc)
{
	char text[AG_SINK_CURSOR_MAX];

	for (int attempt = 0;; attempt++) {
		sc->head_present = false;
		int fd = open(sc->head_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
						     O_NOCTTY | O_NONBLOCK);
		if (fd < 0) {
			if (errno == ENOENT)
				return SC_RECORD;
			ag_sink_why(sc->why, sizeof(sc->why),
				    "%s: cannot open: %s", sc->head_path,
				    strerror(errno));
			return SC_IO;
		}
		ssize_t n;
		do
			n = pread(fd, text, sizeof(text), 0);
		while (n < 0 && errno == EINTR);
		close(fd);
		if (n < 0) {
			ag_sink_why(sc->why, sizeof(sc->why),
				    "%s: read error: %s", sc->head_path,
				    strerror(errno));
			return SC_IO;
		}
		if (head_parse(text, (size_t)n, &sc->head_seq, sc->head_hash)) {
			sc->head_present = true;
			return SC_RECORD;
		}
		if (attempt == 2)
			return scan_bad(
				sc, 0,
				"its head %s is not a decision log head "
				"(\"SEQ HASH\")",
				sc->head_path);
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

/* Holds the record seq that hashes to h against the head.  On a mismatch
 * the head is read again, in case the first read caught it being
 * rewritten. */
static int head_check(struct scan *sc, uint64_t seq,
		      const unsigned char h[HASH_LEN])
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!sc->head_present || sc->head_seq != seq ||
		    !memcmp(sc->head_hash, h, HASH_LEN))
			return SC_RECORD;
		if (attempt == 0) {
			int k = head_load(sc);
			if (k != SC_RECORD)
				return k;
		}
	}
	return scan_bad(sc, seq,
			"does not hash to the hash that %s holds for seq "
			"%" PRIu64 ": this line was changed, or the head was",
			sc->head_path, seq);
}

/* Checks that a line is a record and reads its seq, prev and obligation.
 * kind is 0 for a record that is not an obligation a sink takes. */
static bool record_fields(struct scan *sc, uint64_t lineno, uint64_t *seq,
			  char prev[AG_SINK_HEX_LEN + 1], unsigned *kind,
			  const char **name, int *rc)
{
	json_error_t je;
	json_t *root =
		json_loadb(sc->line, sc->llen, JSON_REJECT_DUPLICATES, &je);
	bool ok = false;

	*kind = 0;
	*name = NULL;
	if (!root) {
		*rc = scan_bad(sc, lineno, "not JSON: %s (column %d)", je.text,
			       je.column);
		return false;
	}
	json_t *s = json_object_get(root, "seq");
	json_t *p = json_object_get(root, "prev");
	json_t *o = json_object_get(root, "obligation");
	if (!json_is_object(root)) {
		*rc = scan_bad(sc, lineno, "not a JSON object");
	} else if (!json_is_integer(s) || json_integer_value(s) < 1) {
		*rc = scan_bad(sc, lineno,
			       "no \"seq\" that is an integer of at least 1");
	} else if (!json_is_string(p) ||
		   !is_hex64(json_string_value(p), json_string_length(p))) {
		*rc = scan_bad(sc, lineno,
			       "no \"prev\" of 64 lowercase hex digits");
	} else {
		*seq = (uint64_t)json_integer_value(s);
		memcpy(prev, json_string_value(p), AG_SINK_HEX_LEN + 1);
		if (json_is_string(o)) {
			if (!strcmp(json_string_value(o), "alert")) {
				*kind = AG_SINK_ALERT;
				*name = "alert";
			} else if (!strcmp(json_string_value(o), "notify")) {
				*kind = AG_SINK_NOTIFY;
				*name = "notify";
			}
		}
		ok = true;
	}
	json_decref(root);
	return ok;
}

/* Reads one line into sc->line.  Returns SC_RECORD with the line, SC_END
 * when no newline ends it (yet), SC_BAD when it is longer than a record,
 * SC_IO on a read error. */
static int read_line(struct scan *sc, uint64_t lineno, off_t *start)
{
	sc->llen = 0;
	*start = sc->pos - (off_t)(sc->blen - sc->bpos);
	for (;;) {
		if (sc->bpos == sc->blen) {
			ssize_t n = pread(sc->fd, sc->buf, READ_CHUNK, sc->pos);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				ag_sink_why(sc->why, sizeof(sc->why),
					    "%s: read error: %s", sc->log,
					    strerror(errno));
				return SC_IO;
			}
			if (n == 0)
				return SC_END; /* a partial line waits */
			sc->pos += n;
			sc->bpos = 0;
			sc->blen = (size_t)n;
		}
		const char *p = sc->buf + sc->bpos;
		size_t avail = sc->blen - sc->bpos;
		const char *nl = memchr(p, '\n', avail);
		size_t take = nl ? (size_t)(nl - p) : avail;
		if (sc->llen + take > AG_DLOG_RECORD_MAX)
			return scan_bad(sc, lineno,
					"longer than %d bytes: not a record",
					AG_DLOG_RECORD_MAX);
		memcpy(sc->line + sc->llen, p, take);
		sc->llen += take;
		sc->bpos += take + (nl ? 1 : 0);
		if (nl)
			return SC_RECORD;
	}
}

/* Opens the log and places the reader after the cursor's record, which
 * must be there and hash to the cursor.  SC_RECORD when ready, SC_END
 * when there is no log yet (and the cursor is at its start), SC_BAD or
 * SC_IO with sc->why. */
static int scan_begin(struct scan *sc, const char *log,
		      const struct ag_sink_cursor *c, struct stat *st)
{
	unsigned char h[HASH_LEN];
	char hex[AG_SINK_HEX_LEN + 1];
	size_t hl = strlen(log) + sizeof(head_suffix);

	if (sc->fd >= 0)
		close(sc->fd);
	sc->fd = -1;
	sc->log = log;
	sc->pos = 0;
	sc->bpos = sc->blen = sc->llen = 0;
	sc->seq = 0;
	sc->have_pend = sc->bad_next = false;
	memset(sc->prev, 0, sizeof(sc->prev));
	free(sc->head_path);
	if (!(sc->head_path = malloc(hl))) {
		ag_sink_why(sc->why, sizeof(sc->why), "out of memory");
		return SC_IO;
	}
	snprintf(sc->head_path, hl, "%s%s", log, head_suffix);
	/* The head first: while a gate runs it never gets ahead of the
	 * log, so every record it names is there when the log is read. */
	int k = head_load(sc);
	if (k != SC_RECORD)
		return k;
	sc->fd = open(log, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (sc->fd < 0) {
		if (errno == ENOENT && c->seq == 0)
			return SC_END;
		ag_sink_why(sc->why, sizeof(sc->why), "%s: cannot open: %s%s",
			    log, strerror(errno),
			    errno == ENOENT ? "; the sink's cursor says "
					      "records were there"
					    : "");
		return errno == ENOENT ? SC_BAD : SC_IO;
	}
	if (fstat(sc->fd, st) < 0 || !S_ISREG(st->st_mode)) {
		ag_sink_why(sc->why, sizeof(sc->why), "%s: not a regular file",
			    log);
		return SC_IO;
	}
	if (c->seq == 0)
		return SC_RECORD;

	/* The cursor's own record: still there, still the same. */
	sc->pos = (off_t)c->offset;
	off_t start;
	k = read_line(sc, c->seq, &start);
	if (k == SC_IO)
		return k;
	if (k != SC_RECORD)
		return scan_bad(sc, c->seq,
				"no complete record starts at byte %" PRIu64
				", where the sink's cursor says record %" PRIu64
				" is: the log was cut, replaced or rotated",
				c->offset, c->seq);
	uint64_t seq = 0;
	char prev[AG_SINK_HEX_LEN + 1];
	unsigned kind;
	const char *name;
	int rc = SC_BAD;
	if (!sha256(sc, sc->line, sc->llen, h)) {
		ag_sink_why(sc->why, sizeof(sc->why), "%s: SHA-256 failed",
			    log);
		return SC_IO;
	}
	hex_encode(h, hex);
	if (strcmp(hex, c->hash) ||
	    !record_fields(sc, c->seq, &seq, prev, &kind, &name, &rc) ||
	    seq != c->seq)
		return scan_bad(sc, c->seq,
				"record %" PRIu64 " is not the one the sink "
				"dealt with last (it does not hash to the "
				"sink's cursor): the log was replaced, rotated "
				"or edited",
				c->seq);
	sc->seq = c->seq;
	memcpy(sc->prev, h, HASH_LEN);
	return SC_RECORD;
}

/* The next confirmed record after the cursor, its chain checked. */
static int scan_next(struct scan *sc, struct record *rec)
{
	if (sc->bad_next)
		return SC_BAD;
	for (;;) {
		uint64_t want = sc->seq + 1, seq = 0;
		char prev[AG_SINK_HEX_LEN + 1], hex[AG_SINK_HEX_LEN + 1];
		unsigned char h[HASH_LEN];
		struct record r;
		off_t start;
		int rc = SC_BAD;

		int k = read_line(sc, want, &start);
		if (k == SC_END) {
			if (sc->head_present && sc->head_seq > sc->seq)
				return scan_bad(
					sc, sc->seq + 1,
					"the log ends at seq %" PRIu64 " but "
					"its head says %" PRIu64 " were "
					"committed: records were removed from "
					"the end",
					sc->seq, sc->head_seq);
			/* The last record: confirmed by the head (whose hash
			 * was checked when it was read), or by the lack of
			 * one. */
			if (sc->have_pend && (!sc->head_present ||
					      sc->head_seq == sc->pend.seq)) {
				*rec = sc->pend;
				sc->have_pend = false;
				return SC_RECORD;
			}
			return SC_END;
		}
		if (k != SC_RECORD)
			return k;
		if (!record_fields(sc, want, &seq, prev, &r.kind, &r.obligation,
				   &rc))
			return rc;
		if (seq != want)
			return scan_bad(sc, want,
					"seq %" PRIu64 " where %" PRIu64 " was "
					"expected: records are missing, "
					"repeated or out of order",
					seq, want);
		hex_encode(sc->prev, hex);
		if (strcmp(prev, hex)) {
			if (want == 1)
				return scan_bad(sc, 1,
						"the first record's prev is "
						"not 64 zeros: records before "
						"it were removed, or it was "
						"changed");
			return scan_bad(sc, want - 1,
					"does not hash to the prev that line "
					"%" PRIu64 " records: this line was "
					"changed, or line %" PRIu64 " was",
					want, want);
		}
		if (!sha256(sc, sc->line, sc->llen, h)) {
			ag_sink_why(sc->why, sizeof(sc->why),
				    "%s: SHA-256 failed", sc->log);
			return SC_IO;
		}
		if ((k = head_check(sc, seq, h)) != SC_RECORD) {
			/* Its prev confirmed the record before it, which
			 * goes out first. */
			if (k == SC_BAD && sc->have_pend) {
				*rec = sc->pend;
				sc->have_pend = false;
				sc->bad_next = true;
				return SC_RECORD;
			}
			return k;
		}
		sc->seq = seq;
		memcpy(sc->prev, h, HASH_LEN);
		r.line = sc->line;
		r.len = sc->llen;
		r.seq = seq;
		r.offset = (uint64_t)start;
		hex_encode(h, r.hash);

		/* This record confirms the one before it, which goes out;
		 * it waits in turn.  The buffers swap so that the record
		 * handed over stays valid until the next call. */
		bool out = sc->have_pend;
		if (out)
			*rec = sc->pend;
		char *t = sc->pline;
		sc->pline = sc->line;
		sc->line = t;
		sc->pend = r;
		sc->have_pend = true;
		if (out)
			return SC_RECORD;
	}
}

/* ---- the dispatcher ---------------------------------------------------- */

/* One configured sink and what the dispatcher knows of it. */
struct sink_rt {
	struct ag_sink conf;
	/* retries */
	int64_t due;	 /* monotonic ms of the next attempt */
	int64_t backoff; /* ms; 0 when not failing */
	bool failing, broken;
	/* reports */
	uint64_t unreported; /* failed attempts not reported yet */
	uint64_t failed_run; /* failed attempts since the last success */
	int64_t last_report;
	/* counters */
	uint64_t cursor, delivered, failures;
	char error[WHY_MAX];
	/* The log and cursor as the last complete pass left them: while
	 * neither changes there is nothing new to read. */
	bool idle_known;
	dev_t log_dev;
	ino_t log_ino;
	off_t log_size;
	struct stat cur_st, head_st;
};

struct ag_sinks {
	char *log_path, *head_path;
	struct ag_sinks_opts o;
	char prefix[64];

	pthread_mutex_t mu; /* v, n, pending and the counters */
	pthread_cond_t cv;
	struct sink_rt *v;
	size_t n;
	struct ag_sink *pending;
	size_t n_pending;
	bool has_pending;

	pthread_mutex_t round_mu; /* one round at a time */
	struct scan sc;
	int stop;

	pthread_t thread;
	bool started;
};

AG_PRINTF(2, 3)
static void report(struct ag_sinks *d, const char *fmt, ...)
{
	char line[1536];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (d->o.report)
		d->o.report(d->o.report_ctx, line);
	else
		fprintf(stderr, "%s%s\n", d->prefix, line);
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool list_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!str_eq(a[i], b[i]))
			return false;
	return true;
}

static bool sink_eq(const struct ag_sink *a, const struct ag_sink *b)
{
	return a->type == b->type && a->events == b->events &&
	       a->timeout == b->timeout && str_eq(a->name, b->name) &&
	       str_eq(a->path, b->path) && str_eq(a->url, b->url) &&
	       str_eq(a->ca_file, b->ca_file) &&
	       str_eq(a->bearer_file, b->bearer_file) &&
	       list_eq(a->command, a->n_command, b->command, b->n_command) &&
	       list_eq(a->headers, a->n_headers, b->headers, b->n_headers);
}

static void free_sinks(struct ag_sink *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ag_sink_release(&v[i]);
	free(v);
}

ag_code ag_sinks_new(const char *log_path, const struct ag_sinks_opts *opts,
		     struct ag_sinks **out, struct ag_error *err)
{
	struct ag_sinks *d;
	pthread_condattr_t ca;

	if (out)
		*out = NULL;
	if (!log_path || !*log_path || !out)
		return ag_err(err, AG_ERR_USAGE, "sinks: no decision log");
	if (strlen(log_path) + sizeof(cursor_infix) + 64 + sizeof(lock_suffix) >
	    PATH_MAX)
		return ag_err(err, AG_ERR_USAGE, "%s: path too long", log_path);
	if (!(d = calloc(1, sizeof(*d))))
		return ag_err(err, AG_ERR_NOMEM, "sinks: out of memory");
	if (opts)
		d->o = *opts;
	if (!d->o.backoff_min_ms)
		d->o.backoff_min_ms = 1000;
	if (!d->o.backoff_max_ms)
		d->o.backoff_max_ms = 300000;
	if (d->o.backoff_max_ms < d->o.backoff_min_ms)
		d->o.backoff_max_ms = d->o.backoff_min_ms;
	if (!d->o.poll_ms)
		d->o.poll_ms = 1000;
	ag_strlcpy(d->prefix,
		   d->o.prefix ? d->o.prefix : "aalgate: ", sizeof(d->prefix));
	d->o.prefix = NULL;
	size_t hl = strlen(log_path) + sizeof(head_suffix);
	d->log_path = ag_strdup(log_path);
	d->head_path = malloc(hl);
	if (!d->log_path || !d->head_path || scan_init(&d->sc) != AG_OK) {
		scan_release(&d->sc);
		free(d->log_path);
		free(d->head_path);
		free(d);
		return ag_err(err, AG_ERR_NOMEM, "sinks: out of memory");
	}
	snprintf(d->head_path, hl, "%s%s", log_path, head_suffix);
	pthread_mutex_init(&d->mu, NULL);
	pthread_mutex_init(&d->round_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cv, &ca);
	pthread_condattr_destroy(&ca);
	*out = d;
	return AG_OK;
}

void ag_sinks_stop(struct ag_sinks *d)
{
	if (d)
		__atomic_store_n(&d->stop, 1, __ATOMIC_SEQ_CST);
}

static bool stopping(struct ag_sinks *d)
{
	return __atomic_load_n(&d->stop, __ATOMIC_SEQ_CST) != 0;
}

void ag_sinks_free(struct ag_sinks *d)
{
	if (!d)
		return;
	ag_sinks_stop(d);
	pthread_mutex_lock(&d->mu);
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	if (d->started)
		pthread_join(d->thread, NULL);
	for (size_t i = 0; i < d->n; i++)
		ag_sink_release(&d->v[i].conf);
	free(d->v);
	free_sinks(d->pending, d->n_pending);
	scan_release(&d->sc);
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
	pthread_mutex_destroy(&d->round_mu);
	free(d->log_path);
	free(d->head_path);
	free(d);
}

ag_code ag_sinks_configure(struct ag_sinks *d, const struct ag_sink *sinks,
			   size_t n, struct ag_error *err)
{
	struct ag_sink *copy = NULL;

	if (!d || (n && !sinks))
		return ag_err(err, AG_ERR_USAGE, "sinks: bad arguments");
	if (n > AG_SINKS_MAX)
		return ag_err(err, AG_ERR_LIMIT, "too many sinks (at most %d)",
			      AG_SINKS_MAX);
	for (size_t i = 0; i < n; i++) {
		if (!sink_name_ok(sinks[i].name))
			return ag_err(err, AG_ERR_USAGE, "bad sink name '%s'",
				      sinks[i].name ? sinks[i].name : "");
		for (size_t k = 0; k < i; k++)
			if (!strcmp(sinks[k].name, sinks[i].name))
				return ag_err(err, AG_ERR_USAGE,
					      "sink name '%s' is used twice",
					      sinks[i].name);
	}
	if (n && !(copy = calloc(n, sizeof(*copy))))
		return ag_err(err, AG_ERR_NOMEM, "sinks: out of memory");
	for (size_t i = 0; i < n; i++)
		if (ag_sink_copy(&copy[i], &sinks[i]) != AG_OK) {
			free_sinks(copy, i);
			return ag_err(err, AG_ERR_NOMEM,
				      "sinks: out of memory");
		}
	pthread_mutex_lock(&d->mu);
	free_sinks(d->pending, d->n_pending);
	d->pending = copy;
	d->n_pending = n;
	d->has_pending = true;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	return AG_OK;
}

/* Swaps in the configuration ag_sinks_configure left, keeping the state
 * of sinks that did not change.  Called with d->mu held. */
static void apply_pending(struct ag_sinks *d)
{
	if (!d->has_pending)
		return;
	struct sink_rt *nv = NULL;
	if (d->n_pending && !(nv = calloc(d->n_pending, sizeof(*nv))))
		return; /* tried again at the next round */
	for (size_t i = 0; i < d->n_pending; i++) {
		struct sink_rt *old = NULL;
		for (size_t k = 0; k < d->n; k++)
			if (d->v[k].conf.name &&
			    sink_eq(&d->v[k].conf, &d->pending[i]))
				old = &d->v[k];
		if (old) {
			nv[i] = *old;
			memset(&old->conf, 0, sizeof(old->conf));
			ag_sink_release(&d->pending[i]);
		} else {
			nv[i].conf = d->pending[i];
		}
	}
	for (size_t k = 0; k < d->n; k++)
		ag_sink_release(&d->v[k].conf);
	free(d->v);
	free(d->pending);
	d->v = nv;
	d->n = d->n_pending;
	d->pending = NULL;
	d->n_pending = 0;
	d->has_pending = false;
}

ag_code ag_sink_deliver_one(const struct ag_sink *s,
			    const struct ag_sink_call *c, char *why, size_t wlen)
{
	switch (s->type) {
	case AG_SINK_FILE:
		return ag_sink_file_deliver(s, c, why, wlen);
	case AG_SINK_EXEC:
		return ag_sink_exec_deliver(s, c, why, wlen);
	case AG_SINK_WEBHOOK:
		return ag_sink_webhook_deliver(s, c, why, wlen);
	}
	ag_sink_why(why, wlen, "unknown sink type %d", (int)s->type);
	return AG_ERR_INTERNAL;
}

enum { P_DONE, P_FAILED, P_BROKEN, P_STOPPED };

/* What one pass over one sink did. */
struct pass_out {
	uint64_t delivered;
	uint64_t cursor;
	char why[WHY_MAX + 256];
};

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Nothing to do when the last pass finished cleanly and neither the log
 * nor the cursor changed since: a stat each instead of a read. */
static bool idle(struct ag_sinks *d, const struct sink_rt *rt,
		 const char *cursor_path)
{
	struct stat ls, cs;

	if (!rt->idle_known || rt->failing)
		return false;
	if (stat(d->log_path, &ls) < 0 || ls.st_dev != rt->log_dev ||
	    ls.st_ino != rt->log_ino || ls.st_size != rt->log_size)
		return false;
	if (stat(cursor_path, &cs) < 0)
		memset(&cs, 0, sizeof(cs));
	if (!same_file(&cs, &rt->cur_st))
		return false;
	/* A last record waits for the head to name it. */
	if (stat(d->head_path, &cs) < 0)
		memset(&cs, 0, sizeof(cs));
	return same_file(&cs, &rt->head_st);
}

static int pass(struct ag_sinks *d, struct sink_rt *rt, struct pass_out *po)
{
	const struct ag_sink *s = &rt->conf;
	struct scan *sc = &d->sc;
	char cpath[PATH_MAX], lpath[PATH_MAX], why[WHY_MAX];
	struct ag_sink_cursor saved, done;
	struct stat lst, hst, head_st;
	int result = P_BROKEN, lock = -1;

	po->delivered = 0;
	po->cursor = rt->cursor;
	po->why[0] = '\0';
	rt->idle_known = false;
	if (ag_sink_cursor_path(d->log_path, s->name, cpath, sizeof(cpath))) {
		ag_sink_why(po->why, sizeof(po->why), "%s: path too long",
			    d->log_path);
		return P_FAILED;
	}
	if (snprintf(lpath, sizeof(lpath), "%s%s", cpath, lock_suffix) >=
	    (int)sizeof(lpath)) {
		ag_sink_why(po->why, sizeof(po->why), "%s: path too long",
			    d->log_path);
		return P_FAILED;
	}
	lock = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
		    0600);
	if (lock < 0) {
		ag_sink_why(po->why, sizeof(po->why),
			    "%s: cannot open the lock: %s", lpath,
			    errno == ELOOP ? "it is a symbolic link"
					   : strerror(errno));
		return P_FAILED;
	}
	if (flock(lock, LOCK_EX | LOCK_NB) < 0) {
		ag_sink_why(po->why, sizeof(po->why),
			    "%s: another process is delivering to this sink "
			    "from %s (it holds the lock)",
			    lpath, d->log_path);
		close(lock);
		return P_FAILED;
	}

	ag_code rc = cursor_load(cpath, &saved, why, sizeof(why));
	if (rc) {
		ag_sink_why(po->why, sizeof(po->why), "%s", why);
		result = rc == AG_ERR_INVALID ? P_BROKEN : P_FAILED;
		goto out;
	}
	po->cursor = saved.seq;
	done = saved;
	/* The head as it was before the log was read: if it moves later,
	 * a last record it did not name yet may be confirmed. */
	if (stat(d->head_path, &head_st) < 0)
		memset(&head_st, 0, sizeof(head_st));
	int k = scan_begin(sc, d->log_path, &saved, &lst);
	if (k == SC_END) {
		result = P_DONE; /* no log yet */
		goto out;
	}
	if (k != SC_RECORD) {
		ag_sink_why(po->why, sizeof(po->why), "%s", sc->why);
		result = k == SC_BAD ? P_BROKEN : P_FAILED;
		goto out;
	}

	struct ag_sink_call call;
	memset(&call, 0, sizeof(call));
	call.stop = &d->stop;
	call.log_dev = lst.st_dev;
	call.log_ino = lst.st_ino;
	call.have_log = true;
	if (stat(d->head_path, &hst) == 0) {
		call.head_dev = hst.st_dev;
		call.head_ino = hst.st_ino;
		call.have_head = true;
	}

	struct record rec;
	result = P_DONE;
	while ((k = scan_next(sc, &rec)) == SC_RECORD) {
		if (stopping(d)) {
			result = P_STOPPED;
			break;
		}
		if (rec.kind & s->events) {
			call.line = rec.line;
			call.len = rec.len;
			call.seq = rec.seq;
			call.obligation = rec.obligation;
			call.hash = rec.hash;
			why[0] = '\0';
			if (ag_sink_deliver_one(s, &call, why, sizeof(why)) != AG_OK) {
				if (ag_sink_stopping(&d->stop)) {
					result = P_STOPPED;
					break;
				}
				ag_sink_why(po->why, sizeof(po->why),
					    "obligation seq %" PRIu64
					    " (%s) not "
					    "delivered: %s",
					    rec.seq, rec.obligation, why);
				result = P_FAILED;
				break;
			}
			po->delivered++;
		}
		done.seq = rec.seq;
		done.offset = rec.offset;
		memcpy(done.hash, rec.hash, sizeof(done.hash));
		if (rec.kind & s->events) {
			/* Delivered: the cursor moves before anything else. */
			if (cursor_save(cpath, &done, why, sizeof(why))) {
				ag_sink_why(
					po->why, sizeof(po->why),
					"obligation seq %" PRIu64 " was "
					"delivered but the cursor did not "
					"move, so it will be delivered again: "
					"%s",
					rec.seq, why);
				result = P_FAILED;
				goto out;
			}
			saved = done;
			po->cursor = saved.seq;
		}
	}
	if (k == SC_BAD || k == SC_IO) {
		ag_sink_why(po->why, sizeof(po->why), "%s", sc->why);
		result = k == SC_BAD ? P_BROKEN : P_FAILED;
	}
	/* Records the sink does not take: move past them too, so that the
	 * next pass starts where this one ended. */
	if (done.seq != saved.seq) {
		if (cursor_save(cpath, &done, why, sizeof(why))) {
			if (result == P_DONE) {
				ag_sink_why(po->why, sizeof(po->why), "%s",
					    why);
				result = P_FAILED;
			}
			goto out;
		}
		po->cursor = done.seq;
	}
	if (result == P_DONE) {
		rt->idle_known = true;
		rt->log_dev = lst.st_dev;
		rt->log_ino = lst.st_ino;
		rt->log_size = sc->pos; /* every byte was read */
		if (stat(cpath, &rt->cur_st) < 0)
			memset(&rt->cur_st, 0, sizeof(rt->cur_st));
		rt->head_st = head_st;
	}
out:
	if (sc->fd >= 0) {
		close(sc->fd);
		sc->fd = -1;
	}
	close(lock);
	return result;
}

static void wait_text(int64_t ms, char *buf, size_t len)
{
	if (ms < 1000 || ms % 1000)
		snprintf(buf, len, "%lldms", (long long)ms);
	else
		ag_duration_format(ms / 1000, buf, len);
}

/* Counts, schedules and reports the outcome of a pass.  d->mu held. */
static void after_pass(struct ag_sinks *d, struct sink_rt *rt, int r,
		       const struct pass_out *po, int64_t now)
{
	char wait[32], more[96] = "", cpath[PATH_MAX];

	rt->cursor = po->cursor;
	rt->delivered += po->delivered;
	if (r == P_STOPPED)
		return;
	if (r == P_DONE) {
		if (rt->failing)
			report(d,
			       "sink '%s': delivering again after %" PRIu64
			       " failed attempt%s",
			       rt->conf.name, rt->failed_run,
			       rt->failed_run == 1 ? "" : "s");
		rt->failing = rt->broken = false;
		rt->backoff = 0;
		rt->due = 0;
		rt->unreported = rt->failed_run = 0;
		rt->error[0] = '\0';
		return;
	}
	bool was = rt->failing, was_broken = rt->broken;
	rt->failures++;
	rt->failed_run++;
	rt->backoff = rt->backoff ? rt->backoff * 2 : d->o.backoff_min_ms;
	if (rt->backoff > d->o.backoff_max_ms)
		rt->backoff = d->o.backoff_max_ms;
	rt->due = now + rt->backoff;
	rt->failing = true;
	rt->broken = r == P_BROKEN;
	ag_strlcpy(rt->error, po->why, sizeof(rt->error));
	if (was && was_broken == rt->broken &&
	    now - rt->last_report < REPORT_EVERY_MS) {
		rt->unreported++;
		return;
	}
	wait_text(rt->backoff, wait, sizeof(wait));
	if (rt->unreported)
		snprintf(more, sizeof(more),
			 " (%" PRIu64 " more failed attempt%s since the last "
			 "report)",
			 rt->unreported, rt->unreported == 1 ? "" : "s");
	if (r == P_BROKEN) {
		if (ag_sink_cursor_path(d->log_path, rt->conf.name, cpath,
					sizeof(cpath)))
			ag_strlcpy(cpath, "its cursor", sizeof(cpath));
		report(d,
		       "sink '%s': delivery stopped: %s; nothing after it is "
		       "delivered until the log is repaired or the cursor %s "
		       "is removed (see 'aalgate log verify %s'); checking "
		       "again in %s%s",
		       rt->conf.name, po->why, cpath, d->log_path, wait, more);
	} else {
		report(d, "sink '%s': %s; retrying in %s%s", rt->conf.name,
		       po->why, wait, more);
	}
	rt->last_report = now;
	rt->unreported = 0;
}

ag_code ag_sinks_deliver(struct ag_sinks *d, struct ag_sinks_round *res)
{
	struct pass_out po;

	if (!d || !res)
		return AG_ERR_USAGE;
	memset(res, 0, sizeof(*res));
	res->next_retry_ms = -1;
	pthread_mutex_lock(&d->round_mu);
	pthread_mutex_lock(&d->mu);
	apply_pending(d);
	size_t n = d->n;
	pthread_mutex_unlock(&d->mu);

	/* Only this thread changes d->v between the locks above and below:
	 * a new configuration waits in pending until the next round. */
	for (size_t i = 0; i < n && !stopping(d); i++) {
		struct sink_rt *rt = &d->v[i];
		if (rt->due > ag_sink_now_ms())
			continue;
		char cpath[PATH_MAX];
		if (!rt->failing &&
		    !ag_sink_cursor_path(d->log_path, rt->conf.name, cpath,
					 sizeof(cpath)) &&
		    idle(d, rt, cpath))
			continue;
		int r = pass(d, rt, &po);
		pthread_mutex_lock(&d->mu);
		after_pass(d, rt, r, &po, ag_sink_now_ms());
		pthread_mutex_unlock(&d->mu);
		res->delivered += po.delivered;
	}

	int64_t now = ag_sink_now_ms();
	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < d->n; i++) {
		const struct sink_rt *rt = &d->v[i];
		if (!rt->failing)
			continue;
		res->failing++;
		if (rt->broken)
			res->broken++;
		int64_t in = rt->due > now ? rt->due - now : 0;
		if (res->next_retry_ms < 0 || in < res->next_retry_ms)
			res->next_retry_ms = in;
	}
	pthread_mutex_unlock(&d->mu);
	pthread_mutex_unlock(&d->round_mu);
	return AG_OK;
}

ag_code ag_sinks_state(struct ag_sinks *d, const char *name,
		       struct ag_sink_state *out)
{
	ag_code rc = AG_ERR_NOT_FOUND;

	if (!d || !name || !out)
		return AG_ERR_USAGE;
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&d->mu);
	int64_t now = ag_sink_now_ms();
	for (size_t i = 0; i < d->n; i++) {
		const struct sink_rt *rt = &d->v[i];
		if (!rt->conf.name || strcmp(rt->conf.name, name))
			continue;
		out->cursor = rt->cursor;
		out->delivered = rt->delivered;
		out->failures = rt->failures;
		out->failing = rt->failing;
		out->broken = rt->broken;
		out->retry_in_ms =
			rt->failing && rt->due > now ? rt->due - now : 0;
		ag_strlcpy(out->error, rt->error, sizeof(out->error));
		rc = AG_OK;
		break;
	}
	pthread_mutex_unlock(&d->mu);
	return rc;
}

/* ---- the thread -------------------------------------------------------- */

static void *thread_main(void *arg)
{
	struct ag_sinks *d = arg;
	struct ag_sinks_round res;

	while (!stopping(d)) {
		ag_sinks_deliver(d, &res);
		int64_t wait = d->o.poll_ms;
		if (res.next_retry_ms >= 0 && res.next_retry_ms < wait)
			wait = res.next_retry_ms < 10 ? 10 : res.next_retry_ms;
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += wait / 1000;
		until.tv_nsec += (wait % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&d->mu);
		if (!stopping(d) && !d->has_pending)
			pthread_cond_timedwait(&d->cv, &d->mu, &until);
		pthread_mutex_unlock(&d->mu);
	}
	return NULL;
}

ag_code ag_sinks_start(struct ag_sinks *d, struct ag_error *err)
{
	sigset_t all, old;

	if (!d || d->started)
		return ag_err(err, AG_ERR_USAGE, "sinks: already started");
	/* The thread takes no signals: they belong to the threads that
	 * handle them (SIGHUP, SIGTERM in the server). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int e = pthread_create(&d->thread, NULL, thread_main, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e)
		return ag_err(err, AG_ERR_NOMEM,
			      "sinks: cannot start the thread: %s",
			      strerror(e));
	d->started = true;
	return AG_OK;
}

/* ---- status ------------------------------------------------------------ */

ag_code ag_sink_status(const char *log_path, const struct ag_sink *s,
		       struct ag_sink_status *out, struct ag_error *err)
{
	char cpath[PATH_MAX], why[WHY_MAX];
	struct ag_sink_cursor c;
	struct scan sc;
	struct stat st;
	struct record rec;
	ag_code rc;

	if (!out || !s)
		return ag_err(err, AG_ERR_USAGE, "sinks: bad arguments");
	memset(out, 0, sizeof(*out));
	if (ag_sink_cursor_path(log_path, s->name, cpath, sizeof(cpath)))
		return ag_err(err, AG_ERR_USAGE,
			      "%s: bad log path or sink name",
			      log_path ? log_path : "(none)");
	rc = cursor_load(cpath, &c, why, sizeof(why));
	if (rc == AG_ERR_INVALID) {
		out->broken = true;
		ag_strlcpy(out->why, why, sizeof(out->why));
		return AG_OK;
	}
	if (rc)
		return ag_err(err, rc, "%s", why);
	out->cursor = out->records = c.seq;
	if (scan_init(&sc) != AG_OK) {
		scan_release(&sc);
		return ag_err(err, AG_ERR_NOMEM, "sinks: out of memory");
	}
	int k = scan_begin(&sc, log_path, &c, &st);
	if (k == SC_END) {
		rc = ag_err(err, AG_ERR_IO, "%s: cannot open: %s", log_path,
			    strerror(ENOENT));
		goto out;
	}
	while (k == SC_RECORD && (k = scan_next(&sc, &rec)) == SC_RECORD) {
		out->records = rec.seq;
		if (rec.kind & s->events) {
			if (!out->waiting)
				out->first_waiting = rec.seq;
			out->waiting++;
		}
	}
	rc = AG_OK;
	/* A last record the head does not name yet waits too. */
	if (k == SC_END && sc.have_pend) {
		out->records = sc.pend.seq;
		if (sc.pend.kind & s->events) {
			if (!out->waiting)
				out->first_waiting = sc.pend.seq;
			out->waiting++;
		}
	}
	if (k == SC_BAD) {
		out->broken = true;
		ag_strlcpy(out->why, sc.why, sizeof(out->why));
	} else if (k == SC_IO) {
		rc = ag_err(err, AG_ERR_IO, "%s", sc.why);
	}
out:
	scan_release(&sc);
	return rc;
}
