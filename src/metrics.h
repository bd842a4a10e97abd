/* metrics.h: Firecracker-named counters, flushed as JSON lines of deltas. */
#ifndef EMBER_METRICS_H
#define EMBER_METRICS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Each counter is a relaxed atomic total; a flush writes, per counter, the
 * change since the previous flush (Firecracker's SharedIncMetric), except the
 * "store" metrics (startup times), written as they are.
 */
#define METRICS_LIST(X)                                                        \
	X(api_server, process_startup_time_us, 1)                              \
	X(api_server, process_startup_time_cpu_us, 1)                          \
	X(api_server, sync_response_fails, 0)                                  \
	X(api_server, sync_vmm_send_timeout_count, 0)                          \
	X(get_api_requests, instance_info_count, 0)                            \
	X(get_api_requests, machine_cfg_count, 0)                              \
	X(get_api_requests, mmds_count, 0)                                     \
	X(get_api_requests, vmm_version_count, 0)                              \
	X(get_api_requests, vm_config_count, 0)                                \
	X(put_api_requests, actions_count, 0)                                  \
	X(put_api_requests, actions_fails, 0)                                  \
	X(put_api_requests, boot_source_count, 0)                              \
	X(put_api_requests, boot_source_fails, 0)                              \
	X(put_api_requests, drive_count, 0)                                    \
	X(put_api_requests, drive_fails, 0)                                    \
	X(put_api_requests, logger_count, 0)                                   \
	X(put_api_requests, logger_fails, 0)                                   \
	X(put_api_requests, machine_cfg_count, 0)                              \
	X(put_api_requests, machine_cfg_fails, 0)                              \
	X(put_api_requests, metrics_count, 0)                                  \
	X(put_api_requests, metrics_fails, 0)                                  \
	X(put_api_requests, mmds_count, 0)                                     \
	X(put_api_requests, mmds_fails, 0)                                     \
	X(put_api_requests, network_count, 0)                                  \
	X(put_api_requests, network_fails, 0)                                  \
	X(put_api_requests, vsock_count, 0)                                    \
	X(put_api_requests, vsock_fails, 0)                                    \
	X(patch_api_requests, drive_count, 0)                                  \
	X(patch_api_requests, drive_fails, 0)                                  \
	X(patch_api_requests, network_count, 0)                                \
	X(patch_api_requests, network_fails, 0)                                \
	X(patch_api_requests, machine_cfg_count, 0)                            \
	X(patch_api_requests, mmds_count, 0)                                   \
	X(patch_api_requests, mmds_fails, 0)                                   \
	X(patch_api_requests, machine_cfg_fails, 0)                            \
	X(patch_api_requests, vm_count, 0)                                     \
	X(patch_api_requests, vm_fails, 0)                                     \
	X(vcpu, exit_io_in, 0)                                                 \
	X(vcpu, exit_io_out, 0)                                                \
	X(vcpu, exit_mmio_read, 0)                                             \
	X(vcpu, exit_mmio_write, 0)                                            \
	X(vcpu, failures, 0)                                                   \
	X(block, activate_fails, 0)                                            \
	X(block, cfg_fails, 0)                                                 \
	X(block, no_avail_buffer, 0)                                           \
	X(block, event_fails, 0)                                               \
	X(block, execute_fails, 0)                                             \
	X(block, invalid_reqs_count, 0)                                        \
	X(block, flush_count, 0)                                               \
	X(block, queue_event_count, 0)                                         \
	X(block, remaining_reqs_count, 0)                                      \
	X(block, rate_limiter_event_count, 0)                                  \
	X(block, rate_limiter_throttled_events, 0)                             \
	X(block, update_count, 0)                                              \
	X(block, update_fails, 0)                                              \
	X(block, read_bytes, 0)                                                \
	X(block, write_bytes, 0)                                               \
	X(block, read_count, 0)                                                \
	X(block, write_count, 0)                                               \
	X(net, activate_fails, 0)                                              \
	X(net, cfg_fails, 0)                                                   \
	X(net, mac_address_updates, 0)                                         \
	X(net, no_rx_avail_buffer, 0)                                          \
	X(net, no_tx_avail_buffer, 0)                                          \
	X(net, event_fails, 0)                                                 \
	X(net, rx_queue_event_count, 0)                                        \
	X(net, rx_event_rate_limiter_count, 0)                                 \
	X(net, rx_rate_limiter_throttled, 0)                                   \
	X(net, rx_tap_event_count, 0)                                          \
	X(net, rx_bytes_count, 0)                                              \
	X(net, rx_packets_count, 0)                                            \
	X(net, rx_fails, 0)                                                    \
	X(net, rx_count, 0)                                                    \
	X(net, tap_read_fails, 0)                                              \
	X(net, tap_write_fails, 0)                                             \
	X(net, tx_bytes_count, 0)                                              \
	X(net, tx_malformed_frames, 0)                                         \
	X(net, tx_fails, 0)                                                    \
	X(net, tx_count, 0)                                                    \
	X(net, tx_packets_count, 0)                                            \
	X(net, tx_partial_reads, 0)                                            \
	X(net, tx_queue_event_count, 0)                                        \
	X(net, tx_rate_limiter_event_count, 0)                                 \
	X(net, tx_rate_limiter_throttled, 0)                                   \
	X(net, tx_spoofed_mac_count, 0)                                        \
	X(net, tx_remaining_reqs_count, 0)                                     \
	X(mmds, rx_accepted, 0)                                                \
	X(mmds, rx_accepted_err, 0)                                            \
	X(mmds, rx_accepted_unusual, 0)                                        \
	X(mmds, rx_bad_eth, 0)                                                 \
	X(mmds, rx_count, 0)                                                   \
	X(mmds, tx_bytes, 0)                                                   \
	X(mmds, tx_count, 0)                                                   \
	X(mmds, tx_errors, 0)                                                  \
	X(mmds, tx_frames, 0)                                                  \
	X(mmds, connections_created, 0)                                        \
	X(mmds, connections_destroyed, 0)                                      \
	X(vsock, activate_fails, 0)                                            \
	X(vsock, cfg_fails, 0)                                                 \
	X(vsock, rx_queue_event_fails, 0)                                      \
	X(vsock, tx_queue_event_fails, 0)                                      \
	X(vsock, ev_queue_event_fails, 0)                                      \
	X(vsock, muxer_event_fails, 0)                                         \
	X(vsock, conn_event_fails, 0)                                          \
	X(vsock, rx_queue_event_count, 0)                                      \
	X(vsock, tx_queue_event_count, 0)                                      \
	X(vsock, rx_bytes_count, 0)                                            \
	X(vsock, tx_bytes_count, 0)                                            \
	X(vsock, rx_packets_count, 0)                                          \
	X(vsock, tx_packets_count, 0)                                          \
	X(vsock, conns_added, 0)                                               \
	X(vsock, conns_killed, 0)                                              \
	X(vsock, conns_removed, 0)                                             \
	X(vsock, killq_resync, 0)                                              \
	X(vsock, tx_flush_fails, 0)                                            \
	X(vsock, tx_write_fails, 0)                                            \
	X(vsock, rx_read_fails, 0)                                             \
	X(vmm, device_events, 0)                                               \
	X(vmm, panic_count, 0)                                                 \
	X(uart, error_count, 0)                                                \
	X(uart, flush_count, 0)                                                \
	X(uart, missed_read_count, 0)                                          \
	X(uart, missed_write_count, 0)                                         \
	X(uart, rate_limiter_dropped_bytes, 0)                                 \
	X(uart, read_count, 0)                                                 \
	X(uart, write_count, 0)                                                \
	X(i8042, error_count, 0)                                               \
	X(i8042, missed_read_count, 0)                                         \
	X(i8042, missed_write_count, 0)                                        \
	X(i8042, read_count, 0)                                                \
	X(i8042, reset_count, 0)                                               \
	X(i8042, write_count, 0)                                               \
	X(seccomp, num_faults, 0)                                              \
	X(signals, sigbus, 0)                                                  \
	X(signals, sigsegv, 0)                                                 \
	X(signals, sigxfsz, 0)                                                 \
	X(signals, sigxcpu, 0)                                                 \
	X(signals, sigpipe, 0)                                                 \
	X(signals, sighup, 0)                                                  \
	X(signals, sigill, 0)                                                  \
	X(logger, missed_metrics_count, 0)                                     \
	X(logger, metrics_fails, 0)                                            \
	X(logger, missed_log_count, 0)                                         \
	X(logger, log_fails, 0)                                                \
	X(latencies_us, vmm_start_us, 1)                                       \
	X(latencies_us, pause_vm, 1)                                           \
	X(latencies_us, resume_vm, 1)                                          \
	X(latencies_us, full_create_snapshot, 1)                               \
	X(latencies_us, load_snapshot, 1)

enum metric_id {
#define METRIC_ENUM(g, n, s) M_##g##_##n,
	METRICS_LIST(METRIC_ENUM)
#undef METRIC_ENUM
	M_COUNT
};

/* metric_add / metric_inc / metric_set: any thread, lock-free. */
void metric_add(enum metric_id id, uint64_t n);
void metric_set(enum metric_id id, uint64_t v);
static inline void metric_inc(enum metric_id id) { metric_add(id, 1); }
uint64_t metric_get(enum metric_id id);

/*
 * Per-device groups, as Firecracker writes them beside the aggregates: "block_<drive_id>" and
 * "net_<iface_id>". A device owns a struct metric_dev covering the counters [first, last] of its
 * aggregate group (same names); mdev_add counts in both. Registered groups are written after
 * the aggregate ones, in the order they were registered.
 */
#define MDEV_MAX_COUNTERS 48
#define MDEV_GROUP_MAX    80

struct metric_dev {
	char group[MDEV_GROUP_MAX];
	enum metric_id first;
	unsigned n;                        /* 0: not registered */
	uint64_t total[MDEV_MAX_COUNTERS];
	uint64_t flushed[MDEV_MAX_COUNTERS];
	uint64_t snap[MDEV_MAX_COUNTERS];  /* what the line being formatted holds */
	struct metric_dev *next;
};

/* metric_dev_register: group "<prefix>_<id>" over [first, last]; 0 or -EINVAL (too many
 * counters, a name too long). Before the device counts. metric_dev_unregister: safe on a
 * zeroed or unregistered object. Any thread. */
int metric_dev_register(struct metric_dev *d, const char *prefix, const char *id,
			enum metric_id first, enum metric_id last);
void metric_dev_unregister(struct metric_dev *d);

static inline void mdev_add(struct metric_dev *d, enum metric_id id, uint64_t n)
{
	metric_add(id, n);
	if (d && (unsigned)id - (unsigned)d->first < d->n)
		__atomic_add_fetch(&d->total[id - d->first], n, __ATOMIC_RELAXED);
}

static inline void mdev_inc(struct metric_dev *d, enum metric_id id) { mdev_add(d, id, 1); }

/*
 * metrics_format: one JSON object (no newline) with utc_timestamp_ms and every
 * group; deltas since the last call when @commit is set (which then records the
 * new baseline). Returns the length or -ENOSPC. Pure apart from the counters.
 */
int metrics_format(char *out, size_t cap, uint64_t utc_ms, int commit);

/* metrics_open: set the destination (opened non-blocking, created 0600); 0 or -errno. */
int metrics_open(const char *path);

/* metrics_is_open: 1 once a destination is set. */
int metrics_is_open(void);

/*
 * metrics_flush: append one line to the destination. A full FIFO loses the
 * line (logger.missed_metrics_count) and never blocks. 0, -ENOENT (no
 * destination) or -EIO. Event-loop thread.
 */
int metrics_flush(void);

#endif
