/* acpi_pm.c: ACPI soft off (S5) through the hardware-reduced sleep control register. */
#include "devices/acpi_pm.h"

#include <string.h>

#include "arch/x86/acpi.h"

void acpi_pm_init(struct acpi_pm *pm, void (*poweroff)(void *), void *opaque)
{
	memset(pm, 0, sizeof(*pm));
	pm->poweroff = poweroff;
	pm->opaque = opaque;
}

static void acpi_pm_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
	(void)opaque;
	(void)off;
	memset(data, 0, len);   /* WAK_STS clear */
}

static void acpi_pm_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
	struct acpi_pm *pm = opaque;
	uint8_t v = data[0];

	(void)off;
	(void)len;
	if ((v & ACPI_SLP_EN) &&
	    ((v & ACPI_SLP_TYP_MASK) >> ACPI_SLP_TYP_SHIFT) == ACPI_S5_SLP_TYP) {
		pm->poweroff(pm->opaque);
		return;
	}
	/* The status clear (WAK_STS) before every sleep, or a sleep state ember lacks. */
	__atomic_add_fetch(&pm->ignored_writes, 1, __ATOMIC_RELAXED);
}

const struct bus_ops acpi_pm_ops = {
	.read = acpi_pm_read,
	.write = acpi_pm_write,
};

const struct dev_ops acpi_pm_dev_ops = {
	.kind = DEV_ACPI_PM,
	.name = "acpi-pm",
};
