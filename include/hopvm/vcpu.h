/* A virtual CPU: its KVM file descriptor, its shared kvm_run page, and the thread that runs it.
 *
 * vcpu_handle_exit() takes a plain struct kvm_run so unit tests can feed it made-up exits. */
#ifndef HOPVM_VCPU_H
#define HOPVM_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>

#include "hopvm/boot.h"

struct vm;

/* What a vCPU was doing when it last parked for a pause. */
enum vcpu_parked_state {
	VCPU_PARKED_RUNNABLE,
	VCPU_PARKED_HALTED_NO_IRQ,	/* HLT with IF clear */
	VCPU_PARKED_WAITING_FOR_SIPI,	/* an AP never started */
};

struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	enum vcpu_parked_state parked_state;
	unsigned wake_generation;	/* the VM's wakes from S3 this vCPU has been reset for */
};

enum vcpu_action {
	VCPU_CONTINUE,
	VCPU_STOP,
};

int vcpu_create(struct vm *vm, unsigned id, struct vcpu *vcpu) __attribute__((warn_unused_result));

/* Gives the vCPU vm->cpuid again, with its APIC ID: for a model that changed before the vCPU
 * first ran (a migrated guest brings its own), since KVM takes no new one afterwards. */
int vcpu_set_cpuid(struct vcpu *vcpu) __attribute__((warn_unused_result));
void vcpu_destroy(struct vcpu *vcpu);

/* The local APIC (virtual wire mode) and boot MSRs as firmware leaves them.  Setting it also makes KVM
 * recompute its APIC ID map, which otherwise misses the vCPU created last, so an INIT-SIPI
 * to it would be lost: call it for every vCPU once all exist. */
int vcpu_set_firmware_state(struct vcpu *vcpu) __attribute__((warn_unused_result));

/* Puts the vCPU in the state the boot loader chose (long mode at info->entry). */
int vcpu_set_boot_state(struct vcpu *vcpu, const struct boot_info *info)
	__attribute__((warn_unused_result));

/* Handles one exit; on anything fatal, asks the VM to stop and returns VCPU_STOP. */
enum vcpu_action vcpu_handle_exit(struct vcpu *vcpu, struct kvm_run *run);

/* Starts the vCPU's thread, which runs until the VM stops. */
int vcpu_start(struct vcpu *vcpu) __attribute__((warn_unused_result));

/* Tells the VM this vCPU's thread is gone (it ended, or never started). */
void vcpu_thread_ended(struct vcpu *vcpu);

/* Makes a vCPU blocked in KVM_RUN return so it sees a pause or stop request. */
void vcpu_kick(struct vcpu *vcpu);

/* Installs the (empty) signal handler vcpu_kick() relies on; once per process. */
int vcpu_install_kick_signal(void) __attribute__((warn_unused_result));

#endif
