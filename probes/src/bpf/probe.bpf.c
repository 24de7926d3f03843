// SPDX-License-Identifier: GPL-2.0
/*
 * scxray's generic probe set: attached at run time by the guest agent
 * (probes/src/agent/probe.rs) to whatever targets the host asked for.
 *
 *   probe_kmulti     kprobe.multi on a list of kernel functions (cookie = target id)
 *   probe_kprobe     the same as one kprobe link per function, where the
 *                    multi attach fails; also the exit fallback below
 *   probe_kretmulti  their returns (kretprobe.multi, same cookies): the
 *   probe_kretprobe  entry saved its arguments in `saved`
 *   fentry_0..7      fentry on functions of loaded BPF programs (struct_ops
 *                    callbacks and their subprograms): the agent sets the
 *                    attach target and fentry_target[slot] before load
 *   fexit_0..7       their returns, in a copy of the object of their own
 *                    (a failing fexit must not take the fentry with it)
 *   on_exit2      tp_btf/sched_ext_exit, upstream (sch, kind) form
 *   on_exit1      tp_btf/sched_ext_exit, older (kind) form
 *
 * The agent loads only one of on_exit1/on_exit2 (from the kernel's BTF of the
 * tracepoint); without the tracepoint it puts probe_kprobe on the kernel's
 * exit path with the EXIT_FALLBACK bit in the cookie.
 *
 * Every hit is one struct probe_event in the ring buffer `events`; the layout
 * is read field by field in probe.rs (keep them in sync). Each hit also
 * carries the struct fields that `field_specs[target]` names (the agent
 * resolves them in the running kernel's BTF, probes/src/agent/layout.rs),
 * read through the hit's pointer arguments.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char _license[] SEC("license") = "GPL";

#define PROBE_NARGS 6
#define NR_FENTRY 8
#define EXIT_FALLBACK 0x80000000ULL
#define PROBE_MAX_FIELDS 16
/* Target ids: MAX_PROBE_TARGETS (64) targets and the exit trigger. */
#define PROBE_MAX_TARGETS 128

enum probe_kind {
	PROBE_KPROBE = 1,
	PROBE_FENTRY = 2,
	/* fentry on a struct_ops callback: args are the callback's ctx array */
	PROBE_FENTRY_CTX = 3,
	PROBE_EXIT = 4,
	PROBE_EXIT_KPROBE = 5,
	PROBE_KRETPROBE = 6,
	PROBE_FEXIT = 7,
	PROBE_FEXIT_CTX = 8,
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
	u32 nr_fields;
	char comm[16];
	u64 ret; /* return kinds: the return value */
	u64 fields[PROBE_MAX_FIELDS];
};

/* One struct field read at a hit: `size` bytes at args[arg] + off, or, with
 * `deref`, at (*(u64 *)(args[arg] + off)) + off2 (`cpus_ptr->bits[1]`). */
struct field_spec {
	u32 off;
	u32 off2;
	u8 arg;
	u8 size; /* 1, 2, 4 or 8 */
	u8 deref;
	u8 pad;
};

struct target_spec {
	u32 nr;
	struct field_spec f[PROBE_MAX_FIELDS];
};

/* Keep these structs in the object's BTF (and the skeleton's types), which
 * tests compare with the Rust side's layouts. */
struct probe_event *probe_event_type __attribute__((unused));
struct target_spec *target_spec_type __attribute__((unused));

/* 64k events: a crash chain through vfs_write/ksys_write fires thousands
 * of times a second, and under TCG the agent drains slowly. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

/* Written by the agent (layout.rs) before it attaches a target; the copies
 * of the object share the first one's map. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PROBE_MAX_TARGETS);
	__type(key, u32);
	__type(value, struct target_spec);
} field_specs SEC(".maps");

/* A kprobed call's arguments, from its entry to its return (a kretprobe
 * sees no arguments). LRU: a return that never comes (the crash, a missed
 * kretprobe) must not fill it. A recursive call, or an interrupt calling the
 * same function in the same task, overwrites the outer call's entry. */
struct saved_key {
	u64 pid_tgid;
	u32 target;
	u32 pad;
};

struct saved_args {
	u64 ip;
	u64 args[PROBE_NARGS];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct saved_key);
	__type(value, struct saved_args);
} saved SEC(".maps");

/* Set by the agent before load, one per fentry (and fexit) slot. */
const volatile u32 fentry_target[NR_FENTRY];
const volatile u32 fentry_ctx_deref[NR_FENTRY];

/* Events that did not fit in the ring buffer. */
u64 lost;

/*
 * Hits are submitted without waking the agent, which polls every 50 ms
 * anyway: a wakeup per batch made the agent's reader a task the scheduler
 * under test enqueued again and again, and its enqueue from the wakeup's
 * irq_work could interrupt a probe on the same CPU, where the kernel skips
 * the nested one. Only the exit trigger wakes it.
 */

static __always_inline struct probe_event *reserve(u32 target, u32 kind)
{
	struct probe_event *e;
	u64 id = bpf_get_current_pid_tgid();

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost, 1);
		return NULL;
	}
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
	e->nr_fields = 0;
	e->ret = 0;
	for (int i = 0; i < PROBE_NARGS; i++)
		e->args[i] = 0;
	for (int i = 0; i < PROBE_MAX_FIELDS; i++)
		e->fields[i] = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	return e;
}

/* `size` bytes at `p`, zero-extended; 0 when unreadable. A switch of
 * constant sizes: clang rewrites a range check on a variable size into a
 * form the verifier cannot bound. */
static __always_inline u64 read_sized(const void *p, u32 size)
{
	u8 v1;
	u16 v2;
	u32 v4;
	u64 v8;

	switch (size) {
	case 1:
		return bpf_probe_read_kernel(&v1, 1, p) ? 0 : v1;
	case 2:
		return bpf_probe_read_kernel(&v2, 2, p) ? 0 : v2;
	case 4:
		return bpf_probe_read_kernel(&v4, 4, p) ? 0 : v4;
	case 8:
		return bpf_probe_read_kernel(&v8, 8, p) ? 0 : v8;
	}
	return 0;
}

/* Reads the target's fields through e->args; a NULL pointer (or a failed
 * read) leaves 0. */
static __always_inline void read_fields(struct probe_event *e)
{
	u32 key = e->target;
	struct target_spec *s = bpf_map_lookup_elem(&field_specs, &key);
	u32 n;

	if (!s)
		return;
	n = s->nr;
	if (n > PROBE_MAX_FIELDS)
		n = PROBE_MAX_FIELDS;
	for (u32 i = 0; i < PROBE_MAX_FIELDS; i++) {
		struct field_spec *f;
		u64 addr;
		u32 size, arg;

		if (i >= n)
			break;
		f = &s->f[i];
		arg = f->arg;
		size = f->size;
		if (arg >= PROBE_NARGS || size == 0 || size > 8)
			continue;
		addr = e->args[arg];
		if (!addr)
			continue;
		addr += f->off;
		if (f->deref) {
			if (bpf_probe_read_kernel(&addr, sizeof(addr), (void *)addr) || !addr)
				continue;
			addr += f->off2;
		}
		e->fields[i] = read_sized((void *)addr, size);
	}
	e->nr_fields = n;
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
	if (!(cookie & EXIT_FALLBACK)) {
		struct saved_key k = {
			.pid_tgid = bpf_get_current_pid_tgid(),
			.target = e->target,
		};
		struct saved_args a = { .ip = e->ip };

		for (int i = 0; i < PROBE_NARGS; i++)
			a.args[i] = e->args[i];
		bpf_map_update_elem(&saved, &k, &a, BPF_ANY);
		read_fields(e);
	}
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
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

static __always_inline int on_kretprobe(struct pt_regs *ctx)
{
	struct saved_key k = {
		.pid_tgid = bpf_get_current_pid_tgid(),
		.target = (u32)bpf_get_attach_cookie(ctx),
	};
	struct probe_event *e = reserve(k.target, PROBE_KRETPROBE);
	struct saved_args *a;

	if (!e)
		return 0;
	e->ret = PT_REGS_RC(ctx);
	a = bpf_map_lookup_elem(&saved, &k);
	if (a) {
		e->ip = a->ip;
		for (int i = 0; i < PROBE_NARGS; i++)
			e->args[i] = a->args[i];
		e->nr_args = PROBE_NARGS;
		bpf_map_delete_elem(&saved, &k);
		/* The same pointers, read again: what the call changed. */
		read_fields(e);
	} else {
		/* The entry was missed: no arguments, no fields. */
		e->ip = bpf_get_func_ip(ctx);
	}
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("kretprobe.multi")
int probe_kretmulti(struct pt_regs *ctx)
{
	return on_kretprobe(ctx);
}

SEC("kretprobe")
int probe_kretprobe(struct pt_regs *ctx)
{
	return on_kretprobe(ctx);
}

/* The arguments of a BPF function (or its ctx array) into e->args. */
static __always_inline void bpf_args(u64 *ctx, struct probe_event *e, u32 deref)
{
	u64 n, v;

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
	read_fields(e);
}

static __always_inline int on_fentry(u64 *ctx, int slot)
{
	u32 deref = fentry_ctx_deref[slot];
	struct probe_event *e;

	e = reserve(fentry_target[slot], deref ? PROBE_FENTRY_CTX : PROBE_FENTRY);
	if (!e)
		return 0;
	bpf_args(ctx, e, deref);
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

static __always_inline int on_fexit(u64 *ctx, int slot)
{
	u32 deref = fentry_ctx_deref[slot];
	struct probe_event *e;
	u64 ret = 0;

	e = reserve(fentry_target[slot], deref ? PROBE_FEXIT_CTX : PROBE_FEXIT);
	if (!e)
		return 0;
	/* The arguments are still there at fexit (the ctx array too: it is on
	 * the struct_ops trampoline's stack, below this call). */
	bpf_args(ctx, e, deref);
	bpf_get_func_ret(ctx, &ret);
	e->ret = ret;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

#define FENTRY(n)                                   \
	SEC("fentry")                               \
	int fentry_##n(u64 *ctx)                    \
	{                                           \
		return on_fentry(ctx, n);           \
	}                                           \
	SEC("fexit")                                \
	int fexit_##n(u64 *ctx)                     \
	{                                           \
		return on_fexit(ctx, n);            \
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
