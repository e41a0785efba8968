/* A test kernel written the way test kernels for QEMU are (the KVM project's kvm-unit-tests
 * among them), to show that hopvm runs such a kernel unchanged: an ELF32 Multiboot image
 * (linked at 1 MiB, or with its entry segment at 0x8000: qemutest-low.ld) that skips the first word of its command line (the loader puts the image's name
 * there), counts the CPUs and RAM through fw_cfg, uses pc-testdev's scratch register, reads
 * its Multiboot modules and ends through isa-debug-exit.  Arguments:
 *   cpus=N mem=MIB   what fw_cfg must report
 *   status=S         the status to exit with when every check passes (the exit port then
 *                    gives (S << 1) | 1 under QEMU and hopvm --qemu-exit-status) */
#include "guest.h"

extern uint32_t multiboot_magic, multiboot_info;
extern const char low_segment_marker[];
extern const char mb_entry[];

#define FW_CFG_SELECTOR 0x510
#define FW_CFG_DATA 0x511
#define FW_CFG_SIGNATURE 0x0000
#define FW_CFG_RAM_SIZE 0x0003
#define FW_CFG_NB_CPUS 0x0005
#define PC_TESTDEV_SCRATCH 0xe0

static unsigned failures;

static uint64_t fw_cfg_read(uint16_t item, unsigned len)
{
	uint64_t v = 0;

	outw(FW_CFG_SELECTOR, item);
	for (unsigned i = 0; i < len; i++)
		v |= (uint64_t)inb(FW_CFG_DATA) << (8 * i);
	return v;
}

static void check(int ok, const char *what)
{
	serial_printf("qemutest: %s: %s\n", what, ok ? "ok" : "FAIL");
	if (!ok)
		failures++;
}

static uint32_t info_field(unsigned offset)
{
	return *(const uint32_t *)(uintptr_t)(multiboot_info + offset);
}

/* The command line past its first word, which the loader fills with the image's name. */
static const char *arguments(void)
{
	const char *p = (const char *)(uintptr_t)info_field(16);

	while (*p && *p != ' ')
		p++;
	while (*p == ' ')
		p++;
	return p;
}

static int signature_is(const uint8_t *p, const char *sig, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		if (p[i] != (uint8_t)sig[i])
			return 0;
	return 1;
}

/* The PM timer's port from the FADT, found as an OS finds it: the RSDP on a 16-byte boundary
 * in the BIOS area, the RSDT it points to, the FADT ("FACP") among the RSDT's tables. */
static uint16_t acpi_pm_timer_port(void)
{
	for (uintptr_t p = 0xe0000; p < 0x100000; p += 16) {
		const uint8_t *rsdp = (const uint8_t *)p;
		const uint8_t *rsdt;
		uint32_t len;

		if (!signature_is(rsdp, "RSD PTR ", 8))
			continue;
		rsdt = (const uint8_t *)(uintptr_t)*(const uint32_t *)(rsdp + 16);
		len = *(const uint32_t *)(rsdt + 4);
		for (uint32_t off = 36; off + 4 <= len; off += 4) {
			const uint8_t *t = (const uint8_t *)(uintptr_t)*(const uint32_t *)(rsdt + off);

			if (signature_is(t, "FACP", 4))
				return (uint16_t)*(const uint32_t *)(t + 76);
		}
		return 0;
	}
	return 0;
}

/* The 24-bit timer moves forward, a little at a time. */
static int acpi_pm_timer_runs(uint16_t port)
{
	uint32_t first = inl(port) & 0xffffff, last = first, changes = 0;

	for (unsigned i = 0; i < 100000 && changes < 10; i++) {
		uint32_t now = inl(port) & 0xffffff;

		if (now == last)
			continue;
		if (((now - last) & 0xffffff) >= 0x800000)
			return 0;	/* went backwards */
		last = now;
		changes++;
	}
	return changes == 10;
}

static void print_modules(void)
{
	unsigned count = (info_field(0) & (1u << 3)) ? info_field(20) : 0;
	const uint32_t *mods = (const uint32_t *)(uintptr_t)info_field(24);

	serial_printf("qemutest: %u modules\n", count);
	for (unsigned i = 0; i < count; i++, mods += 4) {
		const uint8_t *data = (const uint8_t *)(uintptr_t)mods[0];
		uint32_t sum = 0, len = mods[1] - mods[0];

		for (uint32_t j = 0; j < len; j++)
			sum = sum * 31 + data[j];
		serial_printf("qemutest: module %u: '%s', %u bytes, hash %x\n", i, (const char *)
			      (uintptr_t)mods[2], len, sum);
	}
}

int guest_main(void)
{
	const char *args;
	unsigned long want_cpus, want_mib, status;
	uint64_t ram;
	uint16_t port;

	if (multiboot_magic != 0x2badb002 || !(info_field(0) & (1u << 2))) {
		serial_printf("qemutest: FAIL: not started by a Multiboot loader with a command line "
			      "(EAX 0x%x, information at 0x%x)\n", multiboot_magic, multiboot_info);
		return 1;
	}
	args = arguments();
	serial_printf("qemutest: arguments '%s'\n", args);
	serial_printf("qemutest: entry segment at 0x%lx\n", (unsigned long)(uintptr_t)mb_entry);
	check(low_segment_marker[0] == 'e', "entry segment loaded");
	want_cpus = cmdline_find_value(args, "cpus", 1);
	want_mib = cmdline_find_value(args, "mem", 128);
	status = cmdline_find_value(args, "status", 0);

	check(fw_cfg_read(FW_CFG_SIGNATURE, 4) == 0x554d4551, "fw_cfg signature QEMU");
	check(fw_cfg_read(FW_CFG_NB_CPUS, 2) == want_cpus, "fw_cfg CPU count");
	ram = fw_cfg_read(FW_CFG_RAM_SIZE, 8);
	serial_printf("qemutest: fw_cfg: %lu CPUs, %lu MiB of RAM\n",
		      (unsigned long)fw_cfg_read(FW_CFG_NB_CPUS, 2), (unsigned long)(ram >> 20));
	check(ram == (uint64_t)want_mib << 20, "fw_cfg RAM size");

	outl(PC_TESTDEV_SCRATCH, 0x5a17c0de);
	check(inl(PC_TESTDEV_SCRATCH) == 0x5a17c0de, "pc-testdev scratch register");

	port = acpi_pm_timer_port();
	check(port != 0, "ACPI FADT names a PM timer");
	if (port != 0)
		check(acpi_pm_timer_runs(port), "ACPI PM timer counts up");

	print_modules();
	if (failures) {
		serial_printf("qemutest: %u checks failed\n", failures);
		return 1;
	}
	serial_printf("qemutest: all checks passed, exiting with %lu\n", status);
	return (int)status;
}
