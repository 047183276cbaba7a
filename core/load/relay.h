/*
 * relay.h — a source plugin's read() on a thread of its own.
 *
 * A load has two halves that each want a core: the plugin parsing its
 * source (a CSV file's bytes, a page of JSON) and the loader turning
 * records into rows (digests, column rules, COPY).  The relay runs read()
 * on a second thread and hands what it sends — records, rejects, state —
 * to the loader's sink on the calling thread, in the order it was sent,
 * in batches of about 64 KiB.  At most a few batches are in flight, so
 * memory does not grow with the source.  When the loader waits, a plugin's
 * call hands over what it has once 50 ms have passed since the last
 * batch, so a slow source's records (a page at a time) still arrive as
 * they are read.
 *
 * The plugin sees only the relay's sink.  When the loader's sink asks to
 * stop (record_begin, record_end or reject return nonzero), the plugin's
 * next call returns that code, so read() returns promptly, and whatever it
 * sent after the stop is dropped, as the loader would have refused it.
 *
 * What the plugin sends outside read() (from open() or close()) is kept
 * and delivered by the next sp_relay_run or sp_relay_flush.
 */
#ifndef SAMSPOR_RELAY_H
#define SAMSPOR_RELAY_H

#include "model/host.h"

typedef struct sp_relay sp_relay;

/* A relay delivering to `to`.  NULL only when memory is short. */
sp_relay *sp_relay_new(samspor_sink *to);

/* The sink to give the plugin. */
samspor_sink *sp_relay_sink(sp_relay *r);

/*
 * Run read(handle) on a new thread and deliver what it sends to `to` on
 * this thread until it returns; returns read()'s result.  When no thread
 * can be made, read() runs here and sends straight to `to`.
 */
int sp_relay_run(sp_relay *r, int (*read)(void *handle), void *handle);

/* Deliver what was sent since (from open() or close()). */
void sp_relay_flush(sp_relay *r);

void sp_relay_free(sp_relay *r);

#endif
