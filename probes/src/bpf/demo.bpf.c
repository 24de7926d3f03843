// SPDX-License-Identifier: GPL-2.0
/*
 * scxray's demo sched_ext scheduler: one global FIFO, plus knobs that make it
 * fail on demand so that scxray has a real crash to show.
 *
 * With every knob at 0 it schedules properly:
 *   select_cpu  default idle-CPU pick; an idle CPU gets the task directly
 *   enqueue     everything else goes to DEMO_DSQ (FIFO)
 *   dispatch    a CPU with nothing to run pulls the head of DEMO_DSQ
 *   init        creates the DSQs (sleepable: scx_bpf_create_dsq allocates)
 *   exit        copies the exit info into .bss for the loader
 *
 * The knobs live in .rodata, so the loader sets them before load and the
 * verifier prunes the paths of the knobs that are off.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char _license[] SEC("license") = "GPL";

#define DEMO_DSQ 0x44454d4fULL /* "DEMO" */
#define HOLD_DSQ 0x484f4c44ULL /* "HOLD": tasks put here are never dispatched */
#define BAD_DSQ 0xbad05eedULL  /* never created: inserting here is a runtime error */

#define PF_KTHREAD 0x00200000 /* include/linux/sched.h; macros are not in BTF */
#define EINVAL 22

#define MSG_LEN 128
#define EXIT_REASON_LEN 128
#define EXIT_MSG_LEN 1024
#define EXIT_DUMP_LEN 32768

/* Kernel kfuncs (vmlinux.h from bpftool 7.1 does not declare them). */
s32 scx_bpf_create_dsq(u64 dsq_id, s32 node) __ksym;
s32 scx_bpf_select_cpu_dfl(struct task_struct *p, s32 prev_cpu, u64 wake_flags,
			   bool *is_idle) __ksym;
void scx_bpf_dsq_insert(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags) __ksym;
bool scx_bpf_dsq_move_to_local(u64 dsq_id) __ksym;
void scx_bpf_error_bstr(char *fmt, unsigned long long *data, u32 data__sz) __ksym;
u32 scx_bpf_nr_cpu_ids(void) __ksym;

/* ---- knobs (.rodata), 0 = off ------------------------------------------ */

/* At the Nth enqueue, validate_cell() calls scx_bpf_error(crash_msg ...). */
const volatile u64 crash_after;
const volatile char crash_msg[MSG_LEN] = "cell 0 has no usable CPU left";
/* That long after init, the next user task enqueued is never dispatched. */
const volatile u64 stall_after_ns;
/* At the Nth enqueue, the task is inserted into a DSQ that does not exist. */
const volatile u64 bad_dsq;
/* At the Nth select_cpu call, an out-of-range CPU is returned. */
const volatile u64 bad_cpu;

/* ---- state the loader reads (.bss) -------------------------------------- */

u64 nr_select, nr_direct, nr_enqueued, nr_dispatched;
u64 start_ns;
s32 held_pid;
char held_comm[16];

/* What ops.exit() saw; kind is written last, the loader polls it. */
struct demo_exit_info {
	s32 kind;
	s64 exit_code;
	char reason[EXIT_REASON_LEN];
	char msg[EXIT_MSG_LEN];
	char dump[EXIT_DUMP_LEN];
} uei;

#define DEMO_OPS(name, args...) SEC("struct_ops/" #name) BPF_PROG(name, ##args)
#define DEMO_OPS_SLEEPABLE(name, args...) SEC("struct_ops.s/" #name) BPF_PROG(name, ##args)

/*
 * The subprograms below are noinline on purpose: each one is a frame of its
 * own (bpf_prog_<tag>_validate_cell) in the kernel's backtrace of the error.
 */
static __attribute__((noinline)) int validate_cell(struct task_struct *p, u64 seq)
{
	/* Not const: the kfunc takes a writable buffer, .rodata is rejected.
	 * No comm: which task reaches enqueue #N depends on timing, and the
	 * message must be the same in every run (auto-repro's signature). */
	static char fmt[] = "%s (enqueue #%llu, pid %d)";
	unsigned long long data[3];

	if (!crash_after || seq != crash_after)
		return 0;

	data[0] = (unsigned long long)crash_msg;
	data[1] = seq;
	data[2] = p->pid;
	scx_bpf_error_bstr(fmt, data, sizeof(data));
	return -EINVAL;
}

/* Should @p be the task that is held forever (stall knob)? */
static bool hold_task(struct task_struct *p)
{
	if (!stall_after_ns || (p->flags & PF_KTHREAD))
		return false;
	/* Re-enqueued (e.g. after an affinity change): keep holding it. */
	if (held_pid == p->pid)
		return true;
	if (held_pid || bpf_ktime_get_ns() - start_ns < stall_after_ns)
		return false;
	if (__sync_val_compare_and_swap(&held_pid, 0, p->pid) != 0)
		return false;
	bpf_probe_read_kernel_str(held_comm, sizeof(held_comm), p->comm);
	return true;
}

/* Picks the DSQ for an enqueued task. */
static __attribute__((noinline)) u64 apply_policy(struct task_struct *p, u64 seq)
{
	if (validate_cell(p, seq) < 0)
		return DEMO_DSQ; /* the scheduler is going down; keep the task runnable */
	if (bad_dsq && seq == bad_dsq)
		return BAD_DSQ;
	if (hold_task(p))
		return HOLD_DSQ;
	return DEMO_DSQ;
}

s32 DEMO_OPS(demo_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	u64 seq = __sync_fetch_and_add(&nr_select, 1) + 1;
	bool is_idle = false;
	s32 cpu;

	/* Off by one: nr_cpu_ids is one past the last valid CPU. */
	if (bad_cpu && seq == bad_cpu)
		return scx_bpf_nr_cpu_ids();

	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
	if (is_idle) {
		__sync_fetch_and_add(&nr_direct, 1);
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, 0);
	}
	return cpu;
}

void DEMO_OPS(demo_enqueue, struct task_struct *p, u64 enq_flags)
{
	u64 seq = __sync_fetch_and_add(&nr_enqueued, 1) + 1;

	scx_bpf_dsq_insert(p, apply_policy(p, seq), SCX_SLICE_DFL, enq_flags);
}

void DEMO_OPS(demo_dispatch, s32 cpu, struct task_struct *prev)
{
	if (scx_bpf_dsq_move_to_local(DEMO_DSQ))
		__sync_fetch_and_add(&nr_dispatched, 1);
}

s32 DEMO_OPS_SLEEPABLE(demo_init)
{
	s32 ret;

	start_ns = bpf_ktime_get_ns();
	ret = scx_bpf_create_dsq(DEMO_DSQ, -1);
	if (ret)
		return ret;
	return scx_bpf_create_dsq(HOLD_DSQ, -1);
}

void DEMO_OPS(demo_exit, struct scx_exit_info *ei)
{
	bpf_probe_read_kernel_str(uei.reason, sizeof(uei.reason), ei->reason);
	bpf_probe_read_kernel_str(uei.msg, sizeof(uei.msg), ei->msg);
	bpf_probe_read_kernel_str(uei.dump, sizeof(uei.dump), ei->dump);
	uei.exit_code = ei->exit_code;
	/* The helper calls above keep this store after the strings. */
	uei.kind = ei->kind;
}

SEC(".struct_ops.link")
struct sched_ext_ops demo_ops = {
	.select_cpu = (void *)demo_select_cpu,
	.enqueue = (void *)demo_enqueue,
	.dispatch = (void *)demo_dispatch,
	.init = (void *)demo_init,
	.exit = (void *)demo_exit,
	/* The default watchdog (30 s) is too slow for a demo of a stall. */
	.timeout_ms = 5000,
	.exit_dump_len = EXIT_DUMP_LEN,
	.name = "scxray_demo",
};
