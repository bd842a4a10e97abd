/* run.c: the running microVM: its lifetime, the devices' and vCPUs' calls into it, pause and stop. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "arch/x86/loader.h"
#include "arch/x86/mptable.h"
#include "arch/x86/regs.h"
#include "log.h"
#include "metrics.h"
#include "seccomp_filters.h"
#include "vmm/internal.h"

int vmm_init(struct vmm *v, const struct vmm_opts *opts, struct evloop *loop)
{
	memset(v, 0, sizeof(*v));
	config_init(&v->cfg);
	v->opts = *opts;
	v->instance_id = opts->instance_id ? opts->instance_id : "anonymous-instance";
	v->loop = loop;
	v->kernel_fd = v->initrd_fd = -1;
	v->stop_efd = v->rx_efd = -1;
	for (unsigned i = 0; i < CFG_MAX_NETS; i++)
		v->tap_fd[i] = -1;
	v->vsock_listen_fd = -1;
	v->serial_out_fd = -1;
	if (mmds_init(&v->mmds, opts->mmds_size_limit ? opts->mmds_size_limit
						       : MMDS_DEFAULT_SIZE_LIMIT))
		return -EIO;
	v->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	v->rx_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v->stop_efd < 0 || v->rx_efd < 0)
		return -errno;
	return 0;
}

/* Interrupt lines of the legacy devices. */
void vmm_serial_irq(void *opaque, int level)
{
	struct vmm *v = opaque;

	kvm_irq_line(&v->vm, LAYOUT_COM1_IRQ, level);
}

void vmm_kbd_irq(void *opaque)
{
	struct vmm *v = opaque;

	kvm_irq_line(&v->vm, LAYOUT_I8042_IRQ, 1);
	kvm_irq_line(&v->vm, LAYOUT_I8042_IRQ, 0);
}

void vmm_request_stop(void *opaque, enum vcpu_stop why)
{
	struct vmm *v = opaque;
	int none = VCPU_STOP_NONE;
	uint64_t one = 1;

	__atomic_compare_exchange_n(&v->stop_why, &none, (int)why, 0, __ATOMIC_SEQ_CST,
				    __ATOMIC_SEQ_CST);
	if (write(v->stop_efd, &one, sizeof(one)) < 0)
		LOG_ERROR("cannot signal the event loop: %s", strerror(errno));
}

void vmm_kbd_reset(void *opaque)
{
	struct vmm *v = opaque;

	/* Linux pulses the line again while it waits: say it once. */
	if (__atomic_load_n(&v->stop_why, __ATOMIC_SEQ_CST) == VCPU_STOP_NONE)
		LOG_INFO("Guest reset: it pulsed the i8042 reset line");
	vmm_request_stop(opaque, VCPU_STOP_RESET);
}

/* ACPI soft off ends ember as a reset does (exit 0), but says so. */
void vmm_acpi_poweroff(void *opaque)
{
	LOG_INFO("Guest powered off: it entered ACPI S5 through the sleep control register");
	vmm_request_stop(opaque, VCPU_STOP_RESET);
}

void vmm_serial_rx_space(void *opaque)
{
	struct vmm *v = opaque;
	uint64_t one = 1;

	if (write(v->rx_efd, &one, sizeof(one)) < 0)
		LOG_DEBUG("rx eventfd: %s", strerror(errno));
}

void vmm_on_stop(void *opaque, uint32_t events)
{
	struct vmm *v = opaque;
	uint64_t n;

	(void)events;
	if (read(v->stop_efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		LOG_ERROR("stop eventfd: %s", strerror(errno));
	evloop_stop(v->loop);
}

/* Console output the reader did not take yet goes out once it can (edge-triggered EPOLLOUT). */
void vmm_on_stdout(void *opaque, uint32_t events)
{
	struct vmm *v = opaque;

	(void)events;
	(void)serial_flush_output(&v->serial);
}

void vmm_on_stdin(void *opaque, uint32_t events)
{
	struct vmm *v = opaque;
	uint8_t buf[512];
	size_t space = serial_in_space(&v->serial);
	ssize_t n;

	if (space == 0) {
		/* The guest is not reading: stop watching until it drains the buffer. */
		evloop_del(v->loop, v->opts.console_fd_in);
		v->stdin_watched = 0;
		v->serial.rx_full = 1;
		return;
	}
	n = read(v->opts.console_fd_in, buf, space < sizeof(buf) ? space : sizeof(buf));
	if (n > 0) {
		serial_push_input(&v->serial, buf, (size_t)n);
		return;
	}
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n == 0 || (events & (EPOLLHUP | EPOLLERR))) {
		/* End of input: the guest keeps running without a console input. */
		evloop_del(v->loop, v->opts.console_fd_in);
		v->stdin_watched = 0;
	}
}

void vmm_on_rx_space(void *opaque, uint32_t events)
{
	struct vmm *v = opaque;
	uint64_t n;

	(void)events;
	if (read(v->rx_efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	if (!v->stdin_watched && v->opts.console_fd_in >= 0 &&
	    evloop_add(v->loop, v->opts.console_fd_in, EPOLLIN, vmm_on_stdin, v) == 0)
		v->stdin_watched = 1;
}

int vmm_pause(struct vmm *v)
{
	if (v->state != VMM_RUNNING)
		return -EINVAL;
	vcpu_pause_all(v->vcpus, v->nvcpus);
	v->state = VMM_PAUSED;
	return 0;
}

int vmm_resume(struct vmm *v)
{
	if (v->state != VMM_PAUSED)
		return -EINVAL;
	vcpu_resume_all(v->vcpus, v->nvcpus);
	v->state = VMM_RUNNING;
	return 0;
}

int vmm_ctrl_alt_del(struct vmm *v)
{
	if (v->state != VMM_RUNNING && v->state != VMM_PAUSED)
		return -EINVAL;
	return i8042_ctrl_alt_del(&v->i8042);
}

int vmm_exit_code(const struct vmm *v)
{
	int why = __atomic_load_n(&v->stop_why, __ATOMIC_SEQ_CST);

	return why == VCPU_STOP_RESET ? EXIT_OK : EXIT_GENERIC_ERROR;
}

void vmm_destroy(struct vmm *v)
{
	if (v->nvcpus && v->vctx_ready)
		vcpu_stop_all(v->vcpus, v->nvcpus);
	for (unsigned i = 0; i < v->nvcpus; i++)
		vcpu_destroy(&v->vcpus[i]);
	if (v->vctx_ready)
		vcpu_ctx_destroy(&v->vctx);
	/* Console output still held: give a slow reader a second to take it. */
	for (int i = 0; i < 100 && serial_flush_output(&v->serial); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	vmm_destroy_devices(v);
	mmds_destroy(&v->mmds);
	if (v->serial_out_fd >= 0)
		close(v->serial_out_fd);
	v->serial_out_fd = -1;
	kvm_vm_destroy(&v->vm);
	gmem_destroy(&v->mem);
	free(v->xcaps);
	v->xcaps = NULL;
	if (v->kernel_fd >= 0)
		close(v->kernel_fd);
	if (v->initrd_fd >= 0)
		close(v->initrd_fd);
	if (v->stop_efd >= 0)
		close(v->stop_efd);
	if (v->rx_efd >= 0)
		close(v->rx_efd);
	config_free(&v->cfg);
	v->state = VMM_STOPPED;
}

