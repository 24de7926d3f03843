//! The BPF side of scxray: the demo scheduler's BPF C programs, the auto-repro
//! probes (kprobes on kernel functions, fentry on BPF callbacks, the
//! `tp_btf/sched_ext_exit` trigger) and the guest-side agent that loads them
//! with libbpf-rs.
//!
//! Nothing is implemented yet; this crate reserves the place named by the
//! design so that later work lands where a reader looks for it.
