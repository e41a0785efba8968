/* The virtual machine: guest memory, the buses and their devices, the vCPUs, and the one
 * place that decides when the VM stops and with which status.
 *
 * Life cycle, in the order main() calls it:
 *   vm_init()       memory, buses, devices: no KVM needed, so image errors show first
 *   boot_load_image() on vm->mem
 *   vm_create_kvm() opens /dev/kvm, creates the VM, maps memory, creates the vCPUs
 *   vm_run()        starts a thread per vCPU and waits until something stops the VM
 *   vm_destroy() */
#ifndef HOPVM_VM_H
#define HOPVM_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hopvm/boot.h"
#include "hopvm/acpi_pm.h"
#include "hopvm/bus.h"
#include "hopvm/console.h"
#include "hopvm/control.h"
#include "hopvm/cpu_model.h"
#include "hopvm/debug_exit.h"
#include "hopvm/fw_cfg.h"
#include "hopvm/i8042.h"
#include "hopvm/irq.h"
#include "hopvm/kvm_info.h"
#include "hopvm/memory.h"
#include "hopvm/pc_testdev.h"
#include "hopvm/rtc_cmos.h"
#include "hopvm/pci.h"
#include "hopvm/pci_testdev.h"
#include "hopvm/uart_16550.h"
#include "hopvm/virtio_blk.h"
#include "hopvm/virtio_console.h"
#include "hopvm/virtio_fs.h"
#include "hopvm/virtio_net.h"
#include "hopvm/virtio_pci.h"
#include "hopvm/virtio_rng.h"

/* hopvm's exit statuses besides the guest's own (documented in the README). */
enum hopvm_exit_status {
	HOPVM_EXIT_ERROR = 1,		/* hopvm or KVM failed */
	HOPVM_EXIT_USAGE = 2,		/* bad command line */
	HOPVM_EXIT_GUEST_HALTED = 100,	/* HLT with nothing left to wake the vCPU */
	HOPVM_EXIT_TRIPLE_FAULT = 101,	/* KVM_EXIT_SHUTDOWN */
	HOPVM_EXIT_FAIL_ENTRY = 102,	/* KVM_EXIT_FAIL_ENTRY */
	HOPVM_EXIT_INTERNAL_ERROR = 103,	/* KVM_EXIT_INTERNAL_ERROR */
	HOPVM_EXIT_UNHANDLED = 104,	/* an exit reason hopvm does not handle */
	HOPVM_EXIT_GUEST_CRASH = 105,	/* KVM_SYSTEM_EVENT_CRASH */
};

struct vcpu;

#define VM_MMIO_LOG_PAGES 32
/* A throttled vCPU runs this long between two sleeps. */
#define VM_THROTTLE_SLICE_NS 10000000ULL

#define VM_MAX_DISKS 6
#define VM_MAX_VIRTIO 8
#define VM_MAX_NETS 4	/* within VM_MAX_VIRTIO, with the disks and the rest */
#define VM_MAX_SHARES 4	/* likewise */

struct vm_disk_config {
	char path[256];
	bool read_only;
};

struct vm_config {
	uint64_t ram_size;
	unsigned nr_vcpus;
	bool qemu_exit_status;	/* debug-exit value V gives (V << 1) | 1, as in QEMU */
	bool verbose;
	bool hugepages;		/* back RAM with huge pages where the host has them */
	int console_fd;		/* where COM1's output goes */
	int input_fd;		/* what COM1 receives, or -1 */
	const char *control_path;	/* the control socket, or NULL */
	bool control_group;	/* --control-group: control_gid may steer the VM too */
	gid_t control_gid;
	struct migration_params migration;	/* defaults for migrations it starts */
	struct cpu_model_spec cpu;	/* --cpu: the base model and its feature edits */
	struct vm_disk_config disks[VM_MAX_DISKS];	/* --disk, in order: vda, vdb, ... */
	unsigned nr_disks;
	struct virtio_net_option nets[VM_MAX_NETS];	/* --net, in order, after the disks */
	unsigned nr_nets;
	bool rng;		/* attach virtio-rng (default; --no-rng leaves it out) */
	bool virtio_console;	/* --virtio-console: hvc0 ... */
	const char *virtio_console_path;	/* ... appending there, or where COM1 writes, */
	bool virtio_console_channel;	/* ... or reading and writing this socket (hopvm exec) */
	int virtio_console_fd;
	struct virtio_fs_option shares[VM_MAX_SHARES];	/* --share, in order, after the NICs */
	unsigned nr_shares;
	bool acpi;		/* ACPI tables and the PM1 block (default; --no-acpi leaves them out) */
	bool test_devices;	/* --test-devices: QEMU's pc-testdev and pci-testdev */
	const struct fw_cfg_user_file *fw_cfg_files;	/* --fw-cfg, loaded; the caller's */
	unsigned nr_fw_cfg_files;
};

struct vm {
	struct vm_config cfg;
	int kvm_fd;
	int vm_fd;
	int vcpu_mmap_size;
	struct kvm_cpuid2 *cpuid;	/* the guest's CPU model: cpu_available edited by --cpu */
	struct kvm_cpuid2 *cpu_available;	/* what KVM can give a guest: cpu_model.h */
	char cpu_dropped[256];	/* --cpu's + features this KVM cannot give, left out */
	struct kvm_info kvm_info;

	struct guest_mem mem;
	struct bus pio_bus;
	struct bus mmio_bus;
	struct uart_16550 com1;
	struct debug_exit debug_exit;
	struct i8042 i8042;
	struct rtc_cmos rtc;
	struct acpi_pm acpi_pm;	/* registered only with cfg.acpi */
	struct pc_testdev *pc_testdev;	/* with cfg.test_devices (64 KiB: allocated then) */
	struct fw_cfg fw_cfg;
	bool sleep_logged;	/* a sleep state other than S5 was asked for */
	struct console_input console_in;
	struct control control;

	/* PCI (src/pci/machine.c): the bus, its host bridge, the virtio devices. */
	struct pci_bus pci;
	struct pci_device host_bridge;
	struct irq_router irq;
	struct virtio_blk disks[VM_MAX_DISKS];
	unsigned nr_disks;
	struct virtio_net nets[VM_MAX_NETS];
	unsigned nr_nets;
	struct virtio_rng rng;
	struct virtio_console hvc;
	struct virtio_fs shares[VM_MAX_SHARES];
	unsigned nr_shares;
	struct virtio_pci virtio[VM_MAX_VIRTIO];
	unsigned nr_virtio;
	struct pci_testdev pci_testdev;	/* with cfg.test_devices */
	bool pci_testdev_ready;
	bool pci_ready, irq_ready, msi_error_logged;

	struct vcpu *vcpus;
	unsigned nr_vcpus;	/* created so far */

	/* Run state, shared by the vCPU threads and whoever controls the VM. */
	pthread_mutex_t state_lock;
	pthread_cond_t state_cond;
	bool stop_requested;
	int exit_status;
	bool rebooted;		/* the guest reset the machine: it may be started again */
	bool moved_away;	/* a migration handed the guest on: it runs elsewhere */
	char stop_message[512];	/* why the VM stopped, if not by the guest's own wish */
	unsigned pause_count;	/* vm_pause() calls not yet matched by vm_resume() */
	unsigned nr_running;	/* vCPU threads that have not ended */
	unsigned nr_paused;	/* vCPU threads waiting in vcpu_wait_while_paused() */
	unsigned throttle_pct;	/* auto-converge: the share of time a kicked vCPU sleeps */
	/* ACPI S3 (vm_sleep.h): while suspended the vCPUs park as in a pause. */
	bool suspended;
	unsigned wake_generation;	/* wakes so far: a vCPU that has seen fewer resets */
	uint16_t wake_event;		/* the last wake's PM1_STS bit */
	unsigned aps_resetting;		/* APs not yet reset since that wake */

	/* --verbose logs each unmapped port (per direction) and MMIO page once. */
	uint64_t unmapped_ports_logged[2 * 65536 / 64];
	pthread_mutex_t log_lock;
	uint64_t unmapped_mmio_pages[VM_MMIO_LOG_PAGES];
	unsigned nr_unmapped_mmio_pages;
};

int vm_init(struct vm *vm, const struct vm_config *cfg) __attribute__((warn_unused_result));
int vm_create_kvm(struct vm *vm) __attribute__((warn_unused_result));

/* Runs the VM from the boot state in info (NULL: from the state vm_state_read() loaded) until
 * it stops; returns hopvm's exit status and leaves any message for the user in
 * vm->stop_message. */
int vm_run(struct vm *vm, const struct boot_info *info);

/* Asks the VM to stop with the given exit status.  The first request wins; message (printf
 * format, may be NULL) says why, for the user.  Safe from any thread. */
void vm_request_stop(struct vm *vm, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The guest reset the machine: the VM stops with status 0 and vm->rebooted set, so its
 * owner may start it again. */
void vm_request_reboot(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

bool vm_stop_requested(struct vm *vm);

/* Stops every vCPU outside KVM_RUN and returns once all have acknowledged (or the VM stopped).
 * Until the matching vm_resume(), no guest instruction runs, so the guest sees only time
 * pass.  Pauses nest: the VM runs again when every pause has been resumed. */
void vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);

/* Starts the vCPU threads from the boot state in info (NULL: as loaded from a migration
 * stream); vm_run() does this and then waits. */
int vm_start(struct vm *vm, const struct boot_info *info) __attribute__((warn_unused_result));

/* Waits until the VM stops and its vCPU threads have ended; returns hopvm's exit status.
 * Meanwhile, once a second, it stops a VM whose every vCPU is halted with interrupts off
 * (or never started): nothing could wake it (HOPVM_EXIT_GUEST_HALTED). */
int vm_wait(struct vm *vm);

/* Dirty page tracking for live migration: KVM's dirty log on every memory slot plus the
 * pages hopvm itself writes.  vm_dirty_log_collect() ORs into bitmap (a bit per page of the
 * region, guest_region_bitmap_words() words) the region's pages written since the last
 * collection (or the start) and starts afresh. */
int vm_dirty_log_start(struct vm *vm) __attribute__((warn_unused_result));
int vm_dirty_log_collect(struct vm *vm, unsigned region, uint64_t *bitmap)
	__attribute__((warn_unused_result));
void vm_dirty_log_stop(struct vm *vm);

void vm_destroy(struct vm *vm);

#endif
