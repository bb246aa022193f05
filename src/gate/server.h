/*
 * The gate's HTTP service (docs/gate.md): libmicrohttpd with a pool of
 * epoll threads.  A request waits for its decision log record to be
 * committed suspended, not in a thread, so other connections go on.
 */
#ifndef AG_GATE_SERVER_H
#define AG_GATE_SERVER_H

#include <stdbool.h>
#include <stddef.h>

struct ag_server_opts {
	const char *policy_path;
	const char *listen;      /* "127.0.0.1:8750", "[::1]:8750", port 0 ok */
	const char *state_path;  /* may be NULL */
	/* Machine-identity inventory files (--inventory), loaded with the
	 * policy at start and at every reload; none: NULL and 0. */
	const char *const *inventory;
	size_t n_inventory;
	const char *log_path;    /* the decision log; NULL: the default */
	const char *user;        /* drop to this user after binding; NULL */
	unsigned max_connections;
	unsigned timeout;        /* seconds a connection may sit idle */
	unsigned drain;          /* seconds SIGTERM waits for requests */
	unsigned threads;        /* HTTP worker threads */
	bool quiet;
	/* -- server options: PAM socket -- */
	const char *pam_socket;  /* serve pam_aalgate.so here; NULL: not */
	bool pam_peer_uid_set;   /* one more uid that may ask */
	unsigned pam_peer_uid;
	bool pam_peer_gid_set;   /* peers of this gid may ask */
	unsigned pam_peer_gid;
};

/* Runs until SIGTERM or SIGINT; returns an exit status (0 after a clean
 * drain, 2 when it could not start). */
int ag_server_run(const struct ag_server_opts *o);

#endif
