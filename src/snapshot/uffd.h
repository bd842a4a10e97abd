/* uffd.h: the Uffd memory backend of PUT /snapshot/load: guest RAM handed to a page-fault handler. */
#ifndef EMBER_SNAPSHOT_UFFD_H
#define EMBER_SNAPSHOT_UFFD_H

#include <stddef.h>

#include "err.h"
#include "kvm/mem.h"

/* Page size of every region ember hands over (guest RAM is 4 KiB pages, no huge pages). */
#define UFFD_PAGE_SIZE 4096ULL

/*
 * The handshake, Firecracker's (src/vmm/src/persist.rs, GuestRegionUffdMapping):
 * ember connects to the handler's Unix stream socket and sends one message, a
 * JSON array with one object per RAM region,
 *
 *   [{"base_host_virt_addr": <u64>, "size": <u64>, "offset": <u64>,
 *     "page_size": 4096, "page_size_kib": 4096}, ...]
 *
 * (host address of the region in ember, its bytes, where they start in the
 * memory file; "page_size_kib" is Firecracker's deprecated twin of
 * "page_size", in bytes despite its name), with the userfaultfd attached as
 * SCM_RIGHTS. Nothing else is said on the socket, either way.
 */

/*
 * uffd_mappings_json: the message for @m into @buf of @len bytes (pure).
 * Region i starts in the memory file where region i - 1 ends (byte j of RAM
 * is byte j of the file). Returns the length without its NUL, or -E2BIG.
 */
int uffd_mappings_json(const struct guest_mem *m, char *buf, size_t len);

/*
 * uffd_handoff: hand guest RAM @m (private anonymous memory nobody has
 * touched: gmem_init()) to the page-fault handler listening on the Unix
 * socket @path: a userfaultfd (UFFDIO_API, then UFFDIO_REGISTER of every
 * region in MISSING mode) goes to it with the mappings above. From then on a
 * missing page, touched by a vCPU, by KVM or by ember, waits until the
 * handler fills it (UFFDIO_COPY, UFFDIO_ZEROPAGE).
 *
 * Ember keeps no copy of the userfaultfd: the handler's is the only one. So
 * a handler that goes away (or closes the connection unread) makes the pages
 * it never filled plain zero-filled memory, which the guest fails on, rather
 * than a guest and an ember frozen for good. Every wait here is bounded: a
 * handler that is not accepting is refused, not waited for.
 *
 * Call it before anything reads or writes @m. Returns 0, or -errno with @e
 * set (userfaultfd not available to this process, no handler listening, the
 * handler gone before the message was sent); @m is then as it was.
 */
int uffd_handoff(const struct guest_mem *m, const char *path, struct err *e);

#endif
