/* vcpu_handle_exit() fed made-up exits, on a VM built without KVM. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "hopvm/guest_abi.h"
#include "hopvm/vcpu.h"
#include "hopvm/vm.h"
#include "unit.h"

struct fixture {
	struct vm vm;
	struct vcpu vcpu;
	int console[2];
	struct kvm_run *run;
	uint8_t page[4096];
};

static int setup_with(void **state, bool qemu_exit_status)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vm_config cfg = { .ram_size = 1 << 20, .nr_vcpus = 1,
				 .qemu_exit_status = qemu_exit_status, .input_fd = -1 };

	assert_non_null(f);
	assert_int_equal(pipe2(f->console, O_NONBLOCK), 0);
	cfg.console_fd = f->console[1];
	assert_int_equal(vm_init(&f->vm, &cfg), 0);
	f->vcpu = (struct vcpu){ .vm = &f->vm, .id = 0, .fd = -1 };
	f->run = (struct kvm_run *)f->page;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, false);
}

static int setup_qemu_status(void **state)
{
	return setup_with(state, true);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vm_destroy(&f->vm);
	close(f->console[0]);
	close(f->console[1]);
	free(f);
	return 0;
}

/* Fills in an IO exit whose data sits after the kvm_run header, as KVM lays it out. */
static uint8_t *io_exit(struct fixture *f, uint8_t dir, uint16_t port, uint8_t size,
			uint32_t count)
{
	memset(f->page, 0, sizeof(f->page));
	f->run->exit_reason = KVM_EXIT_IO;
	f->run->io.direction = dir;
	f->run->io.port = port;
	f->run->io.size = size;
	f->run->io.count = count;
	f->run->io.data_offset = 1024;
	return f->page + 1024;
}

static void console_expect(struct fixture *f, const char *text)
{
	char buf[64] = { 0 };
	ssize_t n = read(f->console[0], buf, sizeof(buf) - 1);

	assert_int_equal(n, (ssize_t)strlen(text));
	assert_string_equal(buf, text);
}

static void test_io_out_reaches_uart(void **state)
{
	struct fixture *f = *state;

	*io_exit(f, KVM_EXIT_IO_OUT, GUEST_ABI_COM1_PORT, 1, 1) = 'A';
	assert_int_equal(vcpu_handle_exit(&f->vcpu, f->run), VCPU_CONTINUE);
	console_expect(f, "A");
}

static void test_string_io_keeps_port_and_moves_data(void **state)
{
	struct fixture *f = *state;

	memcpy(io_exit(f, KVM_EXIT_IO_OUT, GUEST_ABI_COM1_PORT, 1, 5), "hello", 5);
	assert_int_equal(vcpu_handle_exit(&f->vcpu, f->run), VCPU_CONTINUE);
	console_expect(f, "hello");
}

static void test_unmapped_reads_all_ones(void **state)
{
	struct fixture *f = *state;
	uint8_t *data = io_exit(f, KVM_EXIT_IO_IN, 0x80, 2, 2);

	assert_int_equal(vcpu_handle_exit(&f->vcpu, f->run), VCPU_CONTINUE);
	for (int i = 0; i < 4; i++)
		assert_int_equal(data[i], 0xff);
	memset(f->page, 0, sizeof(f->page));
	f->run->exit_reason = KVM_EXIT_MMIO;
	f->run->mmio.phys_addr = 0xfee00000;
	f->run->mmio.len = 4;
	assert_int_equal(vcpu_handle_exit(&f->vcpu, f->run), VCPU_CONTINUE);
	assert_int_equal(f->run->mmio.data[3], 0xff);
	assert_false(vm_stop_requested(&f->vm));
}

static void test_debug_exit_stops_with_value(void **state)
{
	struct fixture *f = *state;

	*io_exit(f, KVM_EXIT_IO_OUT, GUEST_ABI_DEBUG_EXIT_PORT, 1, 1) = 7;
	vcpu_handle_exit(&f->vcpu, f->run);
	assert_true(vm_stop_requested(&f->vm));
	assert_int_equal(f->vm.exit_status, 7);
	assert_string_equal(f->vm.stop_message, "");
	/* The first request wins. */
	vm_request_stop(&f->vm, 9, "later");
	assert_int_equal(f->vm.exit_status, 7);
}

static void test_debug_exit_qemu_status(void **state)
{
	struct fixture *f = *state;

	*io_exit(f, KVM_EXIT_IO_OUT, GUEST_ABI_DEBUG_EXIT_PORT, 1, 1) = 7;
	vcpu_handle_exit(&f->vcpu, f->run);
	assert_int_equal(f->vm.exit_status, 15);
}

static void expect_fatal(struct fixture *f, uint32_t reason, int status, const char *words)
{
	f->run->exit_reason = reason;
	assert_int_equal(vcpu_handle_exit(&f->vcpu, f->run), VCPU_STOP);
	assert_true(vm_stop_requested(&f->vm));
	assert_int_equal(f->vm.exit_status, status);
	if (strstr(f->vm.stop_message, words) == NULL || strstr(f->vm.stop_message, "RIP") == NULL)
		fail_msg("message \"%s\" lacks \"%s\" or the RIP", f->vm.stop_message, words);
}

static void test_triple_fault(void **state)
{
	expect_fatal(*state, KVM_EXIT_SHUTDOWN, HOPVM_EXIT_TRIPLE_FAULT, "triple fault");
}

static void test_fail_entry(void **state)
{
	struct fixture *f = *state;

	f->run->fail_entry.hardware_entry_failure_reason = 0x21;
	expect_fatal(f, KVM_EXIT_FAIL_ENTRY, HOPVM_EXIT_FAIL_ENTRY, "reason 0x21");
}

static void test_internal_error(void **state)
{
	struct fixture *f = *state;

	f->run->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
	expect_fatal(f, KVM_EXIT_INTERNAL_ERROR, HOPVM_EXIT_INTERNAL_ERROR,
		     "KVM_EXIT_INTERNAL_ERROR");
}

static void test_hlt(void **state)
{
	expect_fatal(*state, KVM_EXIT_HLT, HOPVM_EXIT_GUEST_HALTED, "HLT");
}

static void test_unknown_exit(void **state)
{
	expect_fatal(*state, 9999, HOPVM_EXIT_UNHANDLED, "exit reason 9999");
}

static void test_power_off_is_status_zero(void **state)
{
	struct fixture *f = *state;

	f->run->exit_reason = KVM_EXIT_SYSTEM_EVENT;
	f->run->system_event.type = KVM_SYSTEM_EVENT_SHUTDOWN;
	assert_int_equal(vcpu_handle_exit(&f->vcpu, f->run), VCPU_STOP);
	assert_int_equal(f->vm.exit_status, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_io_out_reaches_uart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_string_io_keeps_port_and_moves_data, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unmapped_reads_all_ones, setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_exit_stops_with_value, setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_exit_qemu_status, setup_qemu_status,
						teardown),
		cmocka_unit_test_setup_teardown(test_triple_fault, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_internal_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hlt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_power_off_is_status_zero, setup, teardown),
	};
	return cmocka_run_group_tests_name("vcpu_exit", tests, NULL, NULL);
}
