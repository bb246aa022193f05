/*
 * The watch engine's state in the state store: the engine (engine.c)
 * writes its correlation state as opaque chunks and the resume point of
 * each input as rows; the store (src/govern/store.c, section "watch")
 * keeps them in tables of their own.  A save replaces the previous one in
 * one write transaction.
 */
#ifndef AG_WATCH_ENGINE_STORE_H
#define AG_WATCH_ENGINE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "aalgate/aalgate.h"

struct ag_store;
struct ag_store_tx;

/* A resume point: the input at (dev, ino) is processed up to offset.
 * tick orders the points by their last update (larger is later). */
struct ag_watch_pos {
	uint64_t dev, ino, offset;
	uint64_t tick;
};

/* Begins a write transaction on s and deletes the saved watch state.  On
 * success end it with ag_store_watch_end. */
ag_code ag_store_watch_begin(struct ag_store *s, struct ag_store_tx **tx,
			     struct ag_error *err);

/* Writes chunk seq (0, 1, ...) of the state. */
ag_code ag_store_watch_chunk(struct ag_store_tx *tx, uint32_t seq,
			     const void *data, size_t len,
			     struct ag_error *err);

/* Writes one resume point. */
ag_code ag_store_watch_pos(struct ag_store_tx *tx,
			   const struct ag_watch_pos *pos,
			   struct ag_error *err);

/* Commits (commit true) or rolls back the transaction; either way it
 * ends.  A rollback always succeeds. */
ag_code ag_store_watch_end(struct ag_store_tx *tx, bool commit,
			   struct ag_error *err);

typedef ag_code (*ag_store_watch_chunk_fn)(void *arg, const void *data,
					   size_t len, struct ag_error *err);
typedef ag_code (*ag_store_watch_pos_fn)(void *arg,
					 const struct ag_watch_pos *pos,
					 struct ag_error *err);

/* Reads the saved state in one snapshot: each chunk in seq order, then
 * each resume point.  An error of a callback stops the read. */
ag_code ag_store_watch_read(struct ag_store *s, ag_store_watch_chunk_fn chunk,
			    ag_store_watch_pos_fn pos, void *arg,
			    struct ag_error *err);

#endif
