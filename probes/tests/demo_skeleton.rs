//! The demo scheduler's BPF object builds and its skeleton opens on the host
//! with the programs, knobs and struct_ops the loader relies on. Opening needs
//! neither root nor sched_ext; loading does, so that is left to the VM tests.

use std::collections::BTreeMap;
use std::mem::MaybeUninit;

use libbpf_rs::btf::types::{Func, Linkage};
use libbpf_rs::btf::Btf;
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::ProgramType;
use scxray_probes::demo::DemoSkelBuilder;

const OBJ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/demo.bpf.o"));

fn c_str(buf: &[i8]) -> String {
    buf.iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8 as char)
        .collect()
}

#[test]
fn skeleton_has_the_struct_ops_programs() {
    let mut object = MaybeUninit::uninit();
    let open = DemoSkelBuilder::default()
        .open(&mut object)
        .expect("open skeleton");
    let progs: BTreeMap<String, (String, ProgramType)> = open
        .open_object()
        .progs()
        .map(|p| {
            let name = p.name().to_string_lossy().into_owned();
            (
                name,
                (p.section().to_string_lossy().into_owned(), p.prog_type()),
            )
        })
        .collect();
    let expect = [
        ("demo_dispatch", "struct_ops/demo_dispatch"),
        ("demo_enqueue", "struct_ops/demo_enqueue"),
        ("demo_exit", "struct_ops/demo_exit"),
        // Sleepable: scx_bpf_create_dsq() may sleep.
        ("demo_init", "struct_ops.s/demo_init"),
        ("demo_select_cpu", "struct_ops/demo_select_cpu"),
    ];
    assert_eq!(progs.len(), expect.len(), "{progs:?}");
    for (name, section) in expect {
        let (sec, ty) = &progs[name];
        assert_eq!(sec, section);
        assert_eq!(*ty, ProgramType::StructOps, "{name}");
    }

    let ops = open.struct_ops.demo_ops();
    assert_eq!(c_str(&ops.name), "scxray_demo");
    assert_eq!(ops.timeout_ms, 5000);
    assert_eq!(ops.exit_dump_len, 32768);
    for (callback, prog) in [
        ("select_cpu", ops.select_cpu),
        ("enqueue", ops.enqueue),
        ("dispatch", ops.dispatch),
        ("init", ops.init),
        ("exit", ops.exit),
    ] {
        assert!(!prog.is_null(), "ops.{callback} is not set");
    }
}

#[test]
fn knobs_are_rodata_and_off_by_default() {
    let mut object = MaybeUninit::uninit();
    let mut open = DemoSkelBuilder::default()
        .open(&mut object)
        .expect("open skeleton");
    let rodata = open.maps.rodata_data.as_deref_mut().expect(".rodata");
    assert_eq!(
        (
            rodata.crash_after,
            rodata.stall_after_ns,
            rodata.bad_dsq,
            rodata.bad_cpu
        ),
        (0, 0, 0, 0)
    );
    assert!(!c_str(&rodata.crash_msg).is_empty());
    assert_eq!(rodata.crash_msg.len(), 128);
    // The loader writes the knobs here before load.
    rodata.crash_after = 400;
    rodata.bad_cpu = 7;
    let rodata = open.maps.rodata_data.as_deref().expect(".rodata");
    assert_eq!((rodata.crash_after, rodata.bad_cpu), (400, 7));

    let bss = open.maps.bss_data.as_deref().expect(".bss");
    assert_eq!((bss.uei.kind, bss.held_pid, bss.nr_enqueued), (0, 0, 0));
    assert_eq!(bss.uei.dump.len(), 32768);
}

/// The error path must be two noinline static subprograms deep so that the
/// kernel's backtrace shows demo_enqueue -> apply_policy -> validate_cell.
#[test]
fn error_path_is_nested_subprograms() {
    let btf = Btf::from_raw("demo", OBJ)
        .expect("parse BTF")
        .expect("object has BTF");
    for name in ["apply_policy", "validate_cell"] {
        let func: Func<'_> = btf
            .type_by_name(name)
            .unwrap_or_else(|| panic!("no BTF func {name}"));
        assert!(
            matches!(func.linkage(), Linkage::Static),
            "{name} should be static"
        );
    }

    let mut object = MaybeUninit::uninit();
    let open = DemoSkelBuilder::default()
        .open(&mut object)
        .expect("open skeleton");
    let enqueue = open
        .open_object()
        .progs()
        .find(|p| p.name() == "demo_enqueue")
        .expect("demo_enqueue");
    // BPF_JMP | BPF_CALL with src_reg BPF_PSEUDO_CALL: a call to a subprogram.
    let calls_subprog = enqueue
        .insns()
        .iter()
        .any(|i| i.code == 0x85 && i.src_reg() == 1);
    assert!(calls_subprog, "demo_enqueue does not call a subprogram");
}
