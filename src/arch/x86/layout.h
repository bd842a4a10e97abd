/* layout.h: every guest-physical address and size of ember's x86-64 guest ABI. */
#ifndef EMBER_ARCH_X86_LAYOUT_H
#define EMBER_ARCH_X86_LAYOUT_H

/*
 * These values are the Firecracker guest ABI: kernels, root file systems and
 * test programs built for it boot on ember unchanged. Nothing else in ember may
 * spell a guest-physical constant.
 */

/* Boot-time CPU structures. */
#define LAYOUT_GDT_START          0x500ULL
#define LAYOUT_IDT_START          0x520ULL
#define LAYOUT_PVH_INFO_START     0x6000ULL  /* struct hvm_start_info */
#define LAYOUT_PVH_MODLIST_START  0x6040ULL  /* struct hvm_modlist_entry[] */
#define LAYOUT_PVH_MEMMAP_START   0x7000ULL  /* struct hvm_memmap_table_entry[] */
#define LAYOUT_ZERO_PAGE_START    0x7000ULL  /* struct boot_params (64-bit boot) */
#define LAYOUT_BOOT_STACK_POINTER 0x8ff0ULL
#define LAYOUT_PML4_START         0x9000ULL
#define LAYOUT_PDPTE_START        0xa000ULL
#define LAYOUT_PDE_START          0xb000ULL
#define LAYOUT_CMDLINE_START      0x20000ULL
#define LAYOUT_CMDLINE_MAX        2048ULL    /* bytes, including the NUL */

/* Low memory: RAM below the EBDA, then the reserved BIOS area holding the MP table. */
#define LAYOUT_EBDA_START         0x9fc00ULL
#define LAYOUT_MPTABLE_START      LAYOUT_EBDA_START
#define LAYOUT_RESERVED_END       0xe0000ULL  /* end of the area reported reserved */
#define LAYOUT_RSDP_START         0xe0000ULL  /* ACPI RSDP, where Linux scans for it */
/*
 * The VM generation ID (16 bytes, DSDT device VGEN's ADDR): the last 16-byte
 * slot of the reserved area, after the MP and ACPI tables, where Firecracker
 * puts it too. ember writes a new random one at boot and at every snapshot load.
 */
#define LAYOUT_VMGENID_START      0xdfff0ULL
#define LAYOUT_VMGENID_SIZE       16ULL
#define LAYOUT_RSDP_SIZE          36ULL

/* The kernel is loaded at 1 MiB; RAM from here on is "high memory". */
#define LAYOUT_HIMEM_START        0x100000ULL

/* The 32-bit MMIO gap: guest RAM never overlaps [3 GiB, 4 GiB). */
#define LAYOUT_MMIO_GAP_START     0xc0000000ULL
#define LAYOUT_MMIO_GAP_END       0x100000000ULL
#define LAYOUT_MMIO_GAP_SIZE      (LAYOUT_MMIO_GAP_END - LAYOUT_MMIO_GAP_START)
/* The gap as kvm/mem.h's struct gmem_hole, for gmem_layout() and gmem_init() (include kvm/mem.h). */
#define LAYOUT_RAM_HOLE ((struct gmem_hole){ LAYOUT_MMIO_GAP_START, LAYOUT_MMIO_GAP_END })

/* Devices inside the gap. */
#define LAYOUT_BOOT_TIMER_START   0xc0000000ULL
#define LAYOUT_BOOT_TIMER_SIZE    0x1000ULL
#define LAYOUT_VIRTIO_MMIO_START  0xc0001000ULL
#define LAYOUT_VIRTIO_MMIO_SIZE   0x1000ULL  /* one 4 KiB slot per device */
#define LAYOUT_VIRTIO_MMIO_MAX    19         /* slots: IRQs 5..23 of the IOAPIC */
#define LAYOUT_VIRTIO_IRQ_BASE    5          /* IRQs 5, 6, ... in attach order */
#define LAYOUT_IOAPIC_START       0xfec00000ULL
#define LAYOUT_LAPIC_START        0xfee00000ULL
#define LAYOUT_KVM_TSS_START      0xfffbd000ULL
#define LAYOUT_KVM_IDENTITY_MAP   0xfffbc000ULL /* one page just below the TSS */
/* Both as kvm/kvm.h's struct kvm_vm_layout, for kvm_vm_create() (include kvm/kvm.h). */
#define LAYOUT_KVM_PAGES ((struct kvm_vm_layout){ LAYOUT_KVM_TSS_START, LAYOUT_KVM_IDENTITY_MAP })

/* Legacy I/O ports and their IRQ lines. */
#define LAYOUT_COM1_PORT          0x3f8
#define LAYOUT_COM1_IRQ           4
#define LAYOUT_I8042_DATA_PORT    0x60
#define LAYOUT_I8042_CMD_PORT     0x64
#define LAYOUT_I8042_IRQ          1
/*
 * The ACPI Generic Event Device's interrupt (edge, active high), raised after a
 * snapshot load so the guest rereads the VM generation ID: ISA IRQ 3 (COM2's,
 * which ember lacks) is the one IOAPIC pin that is neither a legacy device's
 * (0 and 2 timer, 1 i8042, 4 COM1) nor a virtio slot's (5..23).
 */
#define LAYOUT_GED_IRQ            3
/* ACPI sleep control and status registers (FADT, hardware-reduced): one byte, poweroff. */
#define LAYOUT_ACPI_SLEEP_PORT    0x3c0

/* Interrupt controller capacity (KVM's in-kernel IOAPIC has 24 pins). */
#define LAYOUT_IOAPIC_PINS        24
#define LAYOUT_MAX_VCPUS          32

#endif
