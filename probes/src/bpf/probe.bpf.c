// SPDX-License-Identifier: GPL-2.0
/*
 * scxray's generic probe set: attached at run time by the guest agent
 * (probes/src/agent/probe.rs) to whatever targets the host asked for.
 *
 *   probe_kmulti  kprobe.multi on a list of kernel functions (cookie = target id)
 *   probe_kprobe  the same as one kprobe link per function, where the
 *                 multi attach fails; also the exit fallback below
 *   fentry_0..7   fentry on functions of loaded BPF programs (struct_ops
 *                 callbacks and their subprograms): the agent sets the attach
 *                 target and fentry_target[slot] before load
 *   on_exit2      tp_btf/sched_ext_exit, upstream (sch, kind) form
 *   on_exit1      tp_btf/sched_ext_exit, older (kind) form
 *
 * The agent loads only one of on_exit1/on_exit2 (from the kernel's BTF of the
 * tracepoint); without the tracepoint it puts probe_kprobe on the kernel's
 * exit path with the EXIT_FALLBACK bit in the cookie.
 *
 * Every hit is one struct probe_event in the ring buffer `events`; the layout
 * is read field by field in probe.rs (keep them in sync).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char _license[] SEC("license") = "GPL";

#define PROBE_NARGS 6
#define NR_FENTRY 8
#define EXIT_FALLBACK 0x80000000ULL

enum probe_kind {
	PROBE_KPROBE = 1,
	PROBE_FENTRY = 2,
	/* fentry on a struct_ops callback: args are the callback's ctx array */
	PROBE_FENTRY_CTX = 3,
	PROBE_EXIT = 4,
	PROBE_EXIT_KPROBE = 5,
};

struct probe_event {
	u64 ktime_ns; /* CLOCK_BOOTTIME, the console's clock */
	u64 ip;
	u64 task;
	u64 args[PROBE_NARGS];
	u32 target;
	u32 kind;
	u32 pid; /* the kernel's pid: the thread id */
	u32 tgid;
	u32 cpu;
	u32 nr_args;
	u32 exit_kind;
	u32 pad;
	char comm[16];
};

/* Keeps struct probe_event in the object's BTF (and the skeleton's types),
 * which a test compares with the Rust side's layout. */
struct probe_event *probe_event_type __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

/* Set by the agent before load, one per fentry slot. */
const volatile u32 fentry_target[NR_FENTRY];
const volatile u32 fentry_ctx_deref[NR_FENTRY];

/* Events that did not fit in the ring buffer. */
u64 lost;

static __always_inline struct probe_event *reserve(u32 target, u32 kind)
{
	struct probe_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	u64 id;

	if (!e) {
		__sync_fetch_and_add(&lost, 1);
		return NULL;
	}
	id = bpf_get_current_pid_tgid();
	e->ktime_ns = bpf_ktime_get_boot_ns();
	e->ip = 0;
	e->task = (u64)bpf_get_current_task();
	e->target = target;
	e->kind = kind;
	e->pid = (u32)id;
	e->tgid = id >> 32;
	e->cpu = bpf_get_smp_processor_id();
	e->nr_args = 0;
	e->exit_kind = 0;
	e->pad = 0;
	for (int i = 0; i < PROBE_NARGS; i++)
		e->args[i] = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	return e;
}

static __always_inline int on_kprobe(struct pt_regs *ctx)
{
	u64 cookie = bpf_get_attach_cookie(ctx);
	u32 kind = (cookie & EXIT_FALLBACK) ? PROBE_EXIT_KPROBE : PROBE_KPROBE;
	struct probe_event *e = reserve((u32)(cookie & ~EXIT_FALLBACK), kind);

	if (!e)
		return 0;
	e->ip = bpf_get_func_ip(ctx);
	e->args[0] = PT_REGS_PARM1(ctx);
	e->args[1] = PT_REGS_PARM2(ctx);
	e->args[2] = PT_REGS_PARM3(ctx);
	e->args[3] = PT_REGS_PARM4(ctx);
	e->args[4] = PT_REGS_PARM5(ctx);
	e->args[5] = PT_REGS_PARM6(ctx);
	e->nr_args = PROBE_NARGS;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("kprobe.multi")
int probe_kmulti(struct pt_regs *ctx)
{
	return on_kprobe(ctx);
}

SEC("kprobe")
int probe_kprobe(struct pt_regs *ctx)
{
	return on_kprobe(ctx);
}

static __always_inline int on_fentry(u64 *ctx, int slot)
{
	u32 deref = fentry_ctx_deref[slot];
	struct probe_event *e;
	u64 n, v;

	e = reserve(fentry_target[slot], deref ? PROBE_FENTRY_CTX : PROBE_FENTRY);
	if (!e)
		return 0;
	e->ip = bpf_get_func_ip(ctx);
	n = bpf_get_func_arg_cnt(ctx);
	if (deref) {
		/* A struct_ops callback takes one argument, its ctx array. */
		if (bpf_get_func_arg(ctx, 0, &v) == 0 && v)
			bpf_probe_read_kernel(e->args, sizeof(e->args), (void *)v);
		e->nr_args = PROBE_NARGS;
	} else {
		for (int i = 0; i < PROBE_NARGS; i++) {
			if (i < n && bpf_get_func_arg(ctx, i, &v) == 0)
				e->args[i] = v;
		}
		e->nr_args = n < PROBE_NARGS ? n : PROBE_NARGS;
	}
	bpf_ringbuf_submit(e, 0);
	return 0;
}

#define FENTRY(n)                                   \
	SEC("fentry")                               \
	int fentry_##n(u64 *ctx)                    \
	{                                           \
		return on_fentry(ctx, n);           \
	}

FENTRY(0)
FENTRY(1)
FENTRY(2)
FENTRY(3)
FENTRY(4)
FENTRY(5)
FENTRY(6)
FENTRY(7)

/* The exit trigger's target id, set by the agent. */
const volatile u32 exit_target;

static __always_inline int on_exit(u32 kind)
{
	struct probe_event *e = reserve(exit_target, PROBE_EXIT);

	if (!e)
		return 0;
	e->exit_kind = kind;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/sched_ext_exit")
int on_exit2(u64 *ctx)
{
	/* TP_PROTO(struct scx_sched *sch, enum scx_exit_kind kind) */
	return on_exit((u32)ctx[1]);
}

SEC("tp_btf/sched_ext_exit")
int on_exit1(u64 *ctx)
{
	/* TP_PROTO(enum scx_exit_kind kind) */
	return on_exit((u32)ctx[0]);
}
