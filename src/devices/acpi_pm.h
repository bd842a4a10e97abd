/* acpi_pm.h: the hardware-reduced ACPI sleep registers: the guest's way to power off. */
#ifndef EMBER_DEVICES_ACPI_PM_H
#define EMBER_DEVICES_ACPI_PM_H

#include <stdint.h>

#include "devices/device.h"
#include "kvm/bus.h"

/*
 * The FADT's SLEEP_CONTROL_REG and SLEEP_STATUS_REG share one I/O port
 * (LAYOUT_ACPI_SLEEP_PORT, size 1). A write of SLP_EN with SLP_TYP 5 (\_S5,
 * soft off) calls @poweroff; other values are ignored. Reads return 0 (the
 * guest never wakes).
 */
struct acpi_pm {
	void (*poweroff)(void *opaque);
	void *opaque;
	uint64_t ignored_writes;   /* other sleep states, status clears */
};

extern const struct bus_ops acpi_pm_ops;

void acpi_pm_init(struct acpi_pm *pm, void (*poweroff)(void *), void *opaque);

/*
 * The device's row in the device table. It keeps no guest-visible state
 * (the guest only writes to it), so it has nothing to pause, save or restore.
 */
extern const struct dev_ops acpi_pm_dev_ops;

#endif
