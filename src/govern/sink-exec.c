/*
 * The exec sink: runs a command for each obligation, the record and a
 * newline on its standard input.
 *
 * No shell and no PATH search: command[0] is an absolute path and the
 * arguments are passed as they are written.  The command gets a clean
 * environment (a fixed PATH and the AALGATE_* variables below), "/" as
 * its folder, default signal handling with nothing blocked, no
 * descriptor of ours beyond 0, 1 and 2, and a process group of its own,
 * so that a timeout kills it and whatever it started.  Exit status 0 is
 * success; anything else, a signal or the timeout fails the delivery, and
 * the first bytes of what it printed go into the report.
 *
 * Standard input is a socket rather than a pipe so that writing to a
 * command that exits without reading gives EPIPE, never SIGPIPE, in every
 * caller (MSG_NOSIGNAL).
 */
#define _GNU_SOURCE /* pipe2, posix_spawn_file_actions_addclosefrom_np */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sinks-int.h"
#include "util.h"
#include "banned.h"

#define OUTPUT_KEEP 240
#define TICK_MS 20

static const char env_path[] =
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/* What the command printed, made fit for one report line. */
static void output_text(const char *p, size_t n, char *out, size_t len)
{
	size_t o = 0;
	bool space = false;

	for (size_t i = 0; i < n && o + 1 < len; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch < 0x20 || ch == 0x7f) {
			space = o > 0;
			continue;
		}
		if (space && o + 2 < len)
			out[o++] = ' ';
		space = false;
		out[o++] = ch >= 0x80 ? '?' : (char)ch;
	}
	out[o] = '\0';
}

static void kill_group(pid_t pid, int *status)
{
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
}

ag_code ag_sink_exec_deliver(const struct ag_sink *s,
			     const struct ag_sink_call *c, char *why,
			     size_t wlen)
{
	char e_sink[100], e_seq[48], e_obl[48], e_hash[96];
	char *envp[] = {(char *)env_path, e_sink, e_seq, e_obl, e_hash, NULL};
	char **argv = NULL, *input = NULL, kept[OUTPUT_KEEP + 1];
	int in[2] = {-1, -1}, out[2] = {-1, -1}, status = 0;
	size_t nkept = 0, sent = 0, total = c->len + 1;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	bool fa_init = false, attr_init = false;
	pid_t pid = -1;
	ag_code rc = AG_ERR_IO;

	if (!s->n_command || !s->command[0] || s->command[0][0] != '/') {
		ag_sink_why(why, wlen, "the command is not an absolute path");
		return AG_ERR_USAGE;
	}
	snprintf(e_sink, sizeof(e_sink), "AALGATE_SINK=%s", s->name);
	snprintf(e_seq, sizeof(e_seq), "AALGATE_SEQ=%" PRIu64, c->seq);
	snprintf(e_obl, sizeof(e_obl), "AALGATE_OBLIGATION=%s", c->obligation);
	snprintf(e_hash, sizeof(e_hash), "AALGATE_RECORD_SHA256=%s", c->hash);
	argv = calloc(s->n_command + 1, sizeof(char *));
	input = malloc(total);
	if (!argv || !input) {
		ag_sink_why(why, wlen, "out of memory");
		rc = AG_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < s->n_command; i++)
		argv[i] = s->command[i];
	memcpy(input, c->line, c->len);
	input[c->len] = '\n';

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0 ||
	    pipe2(out, O_CLOEXEC) < 0) {
		ag_sink_why(why, wlen, "cannot make the command's input: %s",
			    strerror(errno));
		goto out;
	}

	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	fa_init = posix_spawn_file_actions_init(&fa) == 0;
	attr_init = posix_spawnattr_init(&attr) == 0;
	if (!fa_init || !attr_init ||
	    posix_spawn_file_actions_adddup2(&fa, in[1], STDIN_FILENO) ||
	    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO) ||
	    posix_spawn_file_actions_adddup2(&fa, out[1], STDERR_FILENO) ||
	    posix_spawn_file_actions_addclosefrom_np(&fa, 3) ||
	    posix_spawn_file_actions_addchdir_np(&fa, "/") ||
	    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
						    POSIX_SPAWN_SETSIGMASK |
						    POSIX_SPAWN_SETSIGDEF) ||
	    posix_spawnattr_setpgroup(&attr, 0) ||
	    posix_spawnattr_setsigmask(&attr, &none) ||
	    posix_spawnattr_setsigdefault(&attr, &all)) {
		ag_sink_why(why, wlen, "cannot set up the command");
		rc = AG_ERR_INTERNAL;
		goto out;
	}
	int e = posix_spawn(&pid, s->command[0], &fa, &attr, argv, envp);
	if (e) {
		pid = -1;
		ag_sink_why(why, wlen, "cannot run %s: %s", s->command[0],
			    strerror(e));
		goto out;
	}
	close(in[1]);
	close(out[1]);
	in[1] = out[1] = -1;
	fcntl(in[0], F_SETFL, fcntl(in[0], F_GETFL) | O_NONBLOCK);
	fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);

	int64_t deadline = ag_sink_now_ms() + s->timeout * 1000;
	bool exited = false;
	for (;;) {
		/* Feed the record; a command that stops reading early (EPIPE)
		 * is judged by its exit status alone. */
		while (in[0] >= 0 && sent < total) {
			ssize_t w = send(in[0], input + sent, total - sent,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0) {
				sent += (size_t)w;
				continue;
			}
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			sent = total;
		}
		if (in[0] >= 0 && sent == total) {
			close(in[0]); /* end of input */
			in[0] = -1;
		}
		/* Keep the first bytes of what it prints; drop the rest so
		 * that it never blocks on a full pipe. */
		while (out[0] >= 0) {
			char chunk[4096];
			ssize_t r = read(out[0], chunk, sizeof(chunk));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				if (r == 0 ||
				    (errno != EAGAIN && errno != EWOULDBLOCK)) {
					close(out[0]);
					out[0] = -1;
				}
				break;
			}
			size_t room = OUTPUT_KEEP - nkept;
			size_t take = (size_t)r < room ? (size_t)r : room;
			memcpy(kept + nkept, chunk, take);
			nkept += take;
		}
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			exited = true;
			break;
		}
		if (w < 0 && errno != EINTR) {
			ag_sink_why(why, wlen, "cannot wait for %s: %s",
				    s->command[0], strerror(errno));
			kill_group(pid, &status);
			pid = -1;
			goto out;
		}
		if (ag_sink_stopping(c->stop)) {
			kill_group(pid, &status);
			pid = -1;
			ag_sink_why(why, wlen, "stopped");
			goto out;
		}
		int64_t now = ag_sink_now_ms();
		if (now >= deadline)
			break;
		struct pollfd pf[2];
		nfds_t np = 0;
		if (in[0] >= 0)
			pf[np++] =
				(struct pollfd){.fd = in[0], .events = POLLOUT};
		if (out[0] >= 0)
			pf[np++] =
				(struct pollfd){.fd = out[0], .events = POLLIN};
		int64_t t = deadline - now < TICK_MS ? deadline - now : TICK_MS;
		if (np)
			poll(pf, np, (int)t);
		else {
			struct timespec ts = {0, (long)t * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	char text[OUTPUT_KEEP + 1];
	output_text(kept, nkept, text, sizeof(text));
	if (!exited) {
		kill_group(pid, &status);
		pid = -1;
		ag_sink_why(why, wlen,
			    "%s did not finish within %llds; its process group "
			    "was killed%s%s",
			    s->command[0], (long long)s->timeout,
			    text[0] ? ": " : "", text);
		goto out;
	}
	pid = -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		rc = AG_OK;
	} else if (WIFEXITED(status)) {
		ag_sink_why(why, wlen, "%s exited with status %d%s%s",
			    s->command[0], WEXITSTATUS(status),
			    text[0] ? ": " : "", text);
	} else {
		ag_sink_why(why, wlen, "%s was killed by signal %d%s%s",
			    s->command[0],
			    WIFSIGNALED(status) ? WTERMSIG(status) : 0,
			    text[0] ? ": " : "", text);
	}
out:
	if (pid > 0)
		kill_group(pid, &status);
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	if (fa_init)
		posix_spawn_file_actions_destroy(&fa);
	if (attr_init)
		posix_spawnattr_destroy(&attr);
	free(argv);
	free(input);
	return rc;
}
