//! What a probe target's hits carry, from BTF: the target's parameters, the
//! curated struct fields ([`scxray::repro::fields::CURATED`]) read through
//! its struct pointer parameters and, for a BPF function, the source line of
//! each piece of its JITed code.
//!
//! One [`Resolved`] per target: the [`ProbeLayout`] sent to the host and the
//! [`FieldSpec`]s written into probe.bpf.c's `field_specs` map, in the same
//! order (a hit's `fields[i]` is the layout's `fields[i]`).
//!
//! Field offsets always come from the running kernel's BTF: a BPF program's
//! BTF has its own copy of `struct task_struct`, from whatever vmlinux.h it
//! was built with, and the kernel it runs on may lay the struct out
//! differently.

use std::ffi::CStr;

use libbpf_rs::btf::types::{
    Array, Composite, Enum, Enum64, FuncProto, Fwd, FwdKind, Int, IntEncoding, MemberAttr,
};
use libbpf_rs::btf::{Btf, BtfKind, BtfType, HasSize, TypeId};
use libbpf_rs::query::LineInfo;
use libbpf_rs::{libbpf_sys, AsRawLibbpf};
use scxray::repro::fields::{of_struct, steps, Step, MAX_FIELDS};
use scxray::run::record::{JitLine, ProbeField, ProbeLayout, ProbeParam};

/// Arguments a hit carries (`PROBE_NARGS` in probe.bpf.c): fields are read
/// through these only.
pub const NARGS: usize = 6;
/// The struct whose callbacks struct_ops programs implement.
pub const OPS_STRUCT: &str = "sched_ext_ops";
/// `struct field_spec` in probe.bpf.c.
pub const FIELD_SPEC_SIZE: usize = 12;
/// `struct target_spec` in probe.bpf.c: a count, then the slots.
pub const TARGET_SPEC_SIZE: usize = 4 + MAX_FIELDS * FIELD_SPEC_SIZE;
/// Type chains deeper than this are not spelled out (BTF from a kernel is
/// trusted, but a loop must not hang the agent).
const MAX_DEPTH: usize = 32;

/// Why a target has no layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("`{name}`: no function of that name in {btf}")]
    NoFunction { name: String, btf: &'static str },
    #[error("`{name}`: its BTF type is not a function prototype")]
    NotAPrototype { name: String },
    #[error("no struct {0} in the kernel's BTF")]
    NoOpsStruct(&'static str),
    #[error("`{prog}`: no callback of struct {OPS_STRUCT} is named like it (`<ops>` or `<prefix>_<ops>`)")]
    NoCallback { prog: String },
}

/// Why a curated field is not read in this kernel (the field is skipped).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("`{path}`: not a member path")]
    BadPath { path: String },
    #[error("no struct {strukt} in the kernel's BTF")]
    NoStruct { strukt: String },
    #[error("struct {strukt}: `{path}`: no member `{member}`")]
    NoMember {
        strukt: String,
        path: String,
        member: String,
    },
    #[error("struct {strukt}: `{path}`: `{member}` is a bitfield")]
    BitField {
        strukt: String,
        path: String,
        member: String,
    },
    #[error("struct {strukt}: `{path}`: `->` through a non-pointer, or a second `->`")]
    BadDeref { strukt: String, path: String },
    #[error("struct {strukt}: `{path}`: [{index}] is not inside an array")]
    BadIndex {
        strukt: String,
        path: String,
        index: u32,
    },
    #[error("struct {strukt}: `{path}`: not an integer, enum or pointer of 1, 2, 4 or 8 bytes")]
    NotScalar { strukt: String, path: String },
}

/// Where one field is, for the BPF side (`struct field_spec`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FieldSpec {
    /// The argument (a struct pointer) it is read through.
    pub arg: u8,
    /// Bytes read: 1, 2, 4 or 8.
    pub size: u8,
    /// From the argument; with [`deref`](Self::deref), of the pointer followed.
    pub off: u32,
    /// With a `->`: the offset from the pointer read at `off`.
    pub deref: Option<u32>,
}

/// A curated field found in the kernel's BTF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located {
    pub off: u32,
    pub deref: Option<u32>,
    pub size: u32,
    pub signed: bool,
}

/// One target's layout and the specs of its fields, slot for slot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    pub layout: ProbeLayout,
    pub specs: Vec<FieldSpec>,
    /// The curated fields of its structs this kernel does not have.
    pub skipped: Vec<FieldError>,
}

impl Resolved {
    /// A layout with the target's name only: no parameters, no fields.
    pub fn bare(target: &str) -> Resolved {
        Resolved {
            layout: ProbeLayout {
                target: target.into(),
                ..ProbeLayout::default()
            },
            ..Resolved::default()
        }
    }

    /// The value of this target in the `field_specs` map.
    pub fn spec_bytes(&self) -> [u8; TARGET_SPEC_SIZE] {
        let mut b = [0; TARGET_SPEC_SIZE];
        let n = self.specs.len().min(MAX_FIELDS);
        b[..4].copy_from_slice(&(n as u32).to_ne_bytes());
        for (i, s) in self.specs.iter().take(n).enumerate() {
            let at = 4 + i * FIELD_SPEC_SIZE;
            b[at..at + 4].copy_from_slice(&s.off.to_ne_bytes());
            b[at + 4..at + 8].copy_from_slice(&s.deref.unwrap_or(0).to_ne_bytes());
            b[at + 8] = s.arg;
            b[at + 9] = s.size;
            b[at + 10] = u8::from(s.deref.is_some());
        }
        b
    }
}

/// The type named `name` of `kind` (a struct and a function may share a
/// name; `type_by_name` would return whichever comes first).
fn find<'b>(btf: &'b Btf<'_>, name: &str, kind: BtfKind) -> Option<BtfType<'b>> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: the btf pointer is valid while `btf` lives; `c` is a C string.
    let id = unsafe {
        libbpf_sys::btf__find_by_name_kind(
            btf.as_libbpf_object().as_ptr(),
            c.as_ptr(),
            // BtfKind's discriminants are BTF's kind numbers.
            kind as u32,
        )
    };
    u32::try_from(id)
        .ok()
        .and_then(|id| btf.type_by_id(TypeId::from(id)))
}

/// A string of `btf`'s string section (a line info's file name).
pub fn btf_string(btf: &Btf<'_>, off: u32) -> Option<String> {
    // SAFETY: the btf pointer is valid while `btf` lives; libbpf returns
    // NULL or a NUL-terminated string inside the BTF's data.
    let p = unsafe { libbpf_sys::btf__name_by_offset(btf.as_libbpf_object().as_ptr(), off) };
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

fn name_of(t: &BtfType<'_>) -> Option<String> {
    t.name().map(|n| n.to_string_lossy().into_owned())
}

/// `t`, a type of `btf`, as C spells it: `struct task_struct *`, `u64`,
/// `const char *`.
pub fn type_name(btf: &Btf<'_>, t: BtfType<'_>) -> String {
    spell(btf, t, 0)
}

fn spell(btf: &Btf<'_>, t: BtfType<'_>, depth: usize) -> String {
    if depth > MAX_DEPTH {
        return "?".into();
    }
    let next = |t: &BtfType<'_>| match t.next_type() {
        Some(n) => spell(btf, n, depth + 1),
        None => "?".into(),
    };
    let tagged = |tag: &str, t: &BtfType<'_>| {
        format!("{tag} {}", name_of(t).unwrap_or_else(|| "(anon)".into()))
    };
    match t.kind() {
        BtfKind::Void => "void".into(),
        BtfKind::Struct => tagged("struct", &t),
        BtfKind::Union => tagged("union", &t),
        BtfKind::Enum | BtfKind::Enum64 => tagged("enum", &t),
        BtfKind::Fwd => match Fwd::try_from(t).map(|f| f.kind()) {
            Ok(FwdKind::Union) => tagged("union", &t),
            _ => tagged("struct", &t),
        },
        BtfKind::Ptr => {
            let to = t.next_type();
            match to.map(|p| FuncProto::try_from(p.skip_mods_and_typedefs())) {
                Some(Ok(proto)) => {
                    let ret = next(&proto);
                    let args: Vec<String> = (0..proto.len())
                        .filter_map(|i| proto.get(i))
                        .map(|a| match u32::from(a.ty) {
                            0 => "...".into(),
                            _ => btf
                                .type_by_id::<BtfType<'_>>(a.ty)
                                .map_or_else(|| "?".into(), |a| spell(btf, a, depth + 1)),
                        })
                        .collect();
                    format!("{ret} (*)({})", args.join(", "))
                }
                _ => {
                    let s = next(&t);
                    if s.ends_with('*') {
                        format!("{s}*")
                    } else {
                        format!("{s} *")
                    }
                }
            }
        }
        BtfKind::Const => format!("const {}", next(&t)),
        BtfKind::Volatile => format!("volatile {}", next(&t)),
        // `__rcu`, `__user` and the like: not part of the C type.
        BtfKind::Restrict | BtfKind::TypeTag | BtfKind::DeclTag => next(&t),
        BtfKind::Array => match Array::try_from(t) {
            Ok(a) => format!(
                "{}[{}]",
                spell(btf, a.contained_type(), depth + 1),
                a.capacity()
            ),
            Err(_) => "?".into(),
        },
        BtfKind::FuncProto => "function".into(),
        _ => name_of(&t).unwrap_or_else(|| "?".into()),
    }
}

/// The parameters of `proto`, a function prototype of `btf`.
fn params_of(btf: &Btf<'_>, proto: &FuncProto<'_>) -> Vec<ProbeParam> {
    let mut out = Vec::new();
    for i in 0..proto.len() {
        let Some(p) = proto.get(i) else { break };
        // `void` as the last parameter type is C's `...`.
        let Some(t) = (u32::from(p.ty) != 0)
            .then(|| btf.type_by_id::<BtfType<'_>>(p.ty))
            .flatten()
        else {
            break;
        };
        let pointee = {
            let s = t.skip_mods_and_typedefs();
            match (s.kind(), s.next_type()) {
                (BtfKind::Ptr, Some(to)) => {
                    let to = to.skip_mods_and_typedefs();
                    (to.kind() == BtfKind::Struct)
                        .then(|| name_of(&to))
                        .flatten()
                }
                _ => None,
            }
        };
        out.push(ProbeParam {
            name: p
                .name
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| format!("arg{i}")),
            type_name: type_name(btf, t),
            pointee,
        });
    }
    out
}

/// Bytes of `t`; `None` for a type without a size (void, a function).
fn size_of(t: BtfType<'_>, depth: usize) -> Option<u64> {
    if depth > MAX_DEPTH {
        return None;
    }
    let t = t.skip_mods_and_typedefs();
    match t.kind() {
        BtfKind::Ptr => Some(8),
        BtfKind::Int => Int::try_from(t).ok().map(|i| i.size() as u64),
        BtfKind::Enum => Enum::try_from(t).ok().map(|e| e.size() as u64),
        BtfKind::Enum64 => Enum64::try_from(t).ok().map(|e| e.size() as u64),
        BtfKind::Struct | BtfKind::Union => Composite::try_from(t).ok().map(|c| c.size() as u64),
        BtfKind::Array => {
            let a = Array::try_from(t).ok()?;
            Some(a.capacity() as u64 * size_of(a.contained_type(), depth + 1)?)
        }
        _ => None,
    }
}

/// The member `name` of `c`, also inside its anonymous struct and union
/// members: (bit offset, type, is a bitfield).
fn member(
    btf: &Btf<'_>,
    c: &Composite<'_>,
    name: &str,
    depth: usize,
) -> Option<(u32, TypeId, bool)> {
    if depth > MAX_DEPTH {
        return None;
    }
    for i in 0..c.len() {
        let m = c.get(i)?;
        let (bits, bitfield) = match m.attr {
            MemberAttr::Normal { offset } => (offset, false),
            MemberAttr::BitField { offset, .. } => (offset, true),
        };
        match m.name {
            Some(n) if n.as_encoded_bytes() == name.as_bytes() => {
                return Some((bits, m.ty, bitfield))
            }
            Some(_) => {}
            None => {
                let t = btf
                    .type_by_id::<BtfType<'_>>(m.ty)?
                    .skip_mods_and_typedefs();
                if let Ok(inner) = Composite::try_from(t) {
                    if let Some((o, ty, bf)) = member(btf, &inner, name, depth + 1) {
                        return Some((bits + o, ty, bf));
                    }
                }
            }
        }
    }
    None
}

/// Finds `strukt`'s member `path` (a [`CuratedField::path`]) in `btf`.
///
/// [`CuratedField::path`]: scxray::repro::fields::CuratedField::path
pub fn locate(btf: &Btf<'_>, strukt: &str, path: &str) -> Result<Located, FieldError> {
    let bad_path = || FieldError::BadPath { path: path.into() };
    let steps = steps(path).ok_or_else(bad_path)?;
    let mut ty = find(btf, strukt, BtfKind::Struct).ok_or_else(|| FieldError::NoStruct {
        strukt: strukt.into(),
    })?;
    let mut off: u64 = 0;
    let mut first: Option<u64> = None;
    let no_member = |member: &str| FieldError::NoMember {
        strukt: strukt.into(),
        path: path.into(),
        member: member.into(),
    };
    for step in steps {
        match step {
            Step::Member(m) => {
                let c =
                    Composite::try_from(ty.skip_mods_and_typedefs()).map_err(|_| no_member(m))?;
                let (bits, mty, bitfield) = member(btf, &c, m, 0).ok_or_else(|| no_member(m))?;
                if bitfield || bits % 8 != 0 {
                    return Err(FieldError::BitField {
                        strukt: strukt.into(),
                        path: path.into(),
                        member: m.into(),
                    });
                }
                off += u64::from(bits / 8);
                ty = btf.type_by_id(mty).ok_or_else(|| no_member(m))?;
            }
            Step::Deref => {
                let p = ty.skip_mods_and_typedefs();
                let bad = || FieldError::BadDeref {
                    strukt: strukt.into(),
                    path: path.into(),
                };
                if first.is_some() || p.kind() != BtfKind::Ptr {
                    return Err(bad());
                }
                first = Some(off);
                off = 0;
                ty = p.next_type().ok_or_else(bad)?;
            }
            Step::Index(index) => {
                let bad = || FieldError::BadIndex {
                    strukt: strukt.into(),
                    path: path.into(),
                    index,
                };
                let a = Array::try_from(ty.skip_mods_and_typedefs()).map_err(|_| bad())?;
                if index as usize >= a.capacity() {
                    return Err(bad());
                }
                let elem = a.contained_type();
                off += u64::from(index) * size_of(elem, 0).ok_or_else(bad)?;
                ty = elem;
            }
        }
    }
    let not_scalar = || FieldError::NotScalar {
        strukt: strukt.into(),
        path: path.into(),
    };
    let (size, signed) = scalar(ty).ok_or_else(not_scalar)?;
    let to_u32 = |v: u64| u32::try_from(v).map_err(|_| not_scalar());
    Ok(match first {
        None => Located {
            off: to_u32(off)?,
            deref: None,
            size,
            signed,
        },
        Some(f) => Located {
            off: to_u32(f)?,
            deref: Some(to_u32(off)?),
            size,
            signed,
        },
    })
}

/// Size and signedness of an integer, enum or pointer BPF can read whole.
fn scalar(t: BtfType<'_>) -> Option<(u32, bool)> {
    let t = t.skip_mods_and_typedefs();
    let (size, signed) = match t.kind() {
        BtfKind::Int => {
            let i = Int::try_from(t).ok()?;
            (i.size(), matches!(i.encoding, IntEncoding::Signed))
        }
        BtfKind::Enum => {
            let e = Enum::try_from(t).ok()?;
            (e.size(), e.is_signed())
        }
        BtfKind::Enum64 => {
            let e = Enum64::try_from(t).ok()?;
            (e.size(), e.is_signed())
        }
        BtfKind::Ptr => (8, false),
        _ => return None,
    };
    matches!(size, 1 | 2 | 4 | 8).then_some((size as u32, signed))
}

/// The curated fields of the struct pointer parameters, located in
/// `vmlinux`, in parameter order, at most [`MAX_FIELDS`].
fn fields_of(vmlinux: &Btf<'_>, params: &[ProbeParam], r: &mut Resolved) {
    for (i, p) in params.iter().enumerate().take(NARGS) {
        let Some(strukt) = &p.pointee else { continue };
        for c in of_struct(strukt) {
            if r.specs.len() == MAX_FIELDS {
                return;
            }
            match locate(vmlinux, strukt, c.path) {
                Ok(l) => {
                    r.specs.push(FieldSpec {
                        arg: i as u8,
                        size: l.size as u8,
                        off: l.off,
                        deref: l.deref,
                    });
                    r.layout.fields.push(ProbeField {
                        param: i as u32,
                        struct_name: strukt.clone(),
                        name: c.key.into(),
                        size: l.size,
                        signed: l.signed,
                    });
                }
                Err(e) => r.skipped.push(e),
            }
        }
    }
}

fn resolve(vmlinux: &Btf<'_>, target: &str, params: Vec<ProbeParam>) -> Resolved {
    let mut r = Resolved {
        layout: ProbeLayout {
            target: target.into(),
            ..ProbeLayout::default()
        },
        ..Resolved::default()
    };
    fields_of(vmlinux, &params, &mut r);
    r.layout.params = params;
    r
}

/// The prototype of the function `name` of `btf`.
fn proto_of<'b>(
    btf: &'b Btf<'_>,
    name: &str,
    which: &'static str,
) -> Result<FuncProto<'b>, LayoutError> {
    let func = find(btf, name, BtfKind::Func).ok_or_else(|| LayoutError::NoFunction {
        name: name.into(),
        btf: which,
    })?;
    func.next_type()
        .and_then(|t| FuncProto::try_from(t).ok())
        .ok_or_else(|| LayoutError::NotAPrototype { name: name.into() })
}

/// A kernel function's layout, from the running kernel's BTF.
pub fn kernel_function(vmlinux: &Btf<'_>, name: &str) -> Result<Resolved, LayoutError> {
    let proto = proto_of(vmlinux, name, "the kernel's BTF")?;
    let params = params_of(vmlinux, &proto);
    Ok(resolve(vmlinux, name, params))
}

/// A BPF subprogram's layout: its parameters from its program's BTF, its
/// fields from the kernel's.
pub fn bpf_subprogram(
    vmlinux: &Btf<'_>,
    prog: &Btf<'_>,
    name: &str,
) -> Result<Resolved, LayoutError> {
    let proto = proto_of(prog, name, "its program's BTF")?;
    let params = params_of(prog, &proto);
    Ok(resolve(vmlinux, name, params))
}

/// The callback of `ops` a struct_ops program named `prog` implements: the
/// member named `prog` or whose name ends `prog` after a `_`, the longest
/// (`demo_enqueue` → `enqueue`, `x_init_task` → `init_task`, not `init`).
pub fn callback_for<'m>(prog: &str, members: impl IntoIterator<Item = &'m str>) -> Option<&'m str> {
    members
        .into_iter()
        .filter(|m| {
            !m.is_empty()
                && (prog == *m || prog.strip_suffix(m).is_some_and(|head| head.ends_with('_')))
        })
        .max_by_key(|m| m.len())
}

/// A struct_ops program's layout: its own BTF has only its context array,
/// so the parameters are those of the `sched_ext_ops` callback it
/// implements, in the kernel's BTF (named after the callback's CFI stub
/// where the kernel has one, `arg<i>` otherwise).
pub fn struct_ops_callback(vmlinux: &Btf<'_>, prog: &str) -> Result<Resolved, LayoutError> {
    let ops = find(vmlinux, OPS_STRUCT, BtfKind::Struct)
        .and_then(|t| Composite::try_from(t).ok())
        .ok_or(LayoutError::NoOpsStruct(OPS_STRUCT))?;
    // The callbacks: members that are pointers to a function prototype.
    let mut callbacks = Vec::new();
    for i in 0..ops.len() {
        let Some(m) = ops.get(i) else { break };
        let (Some(name), Some(t)) = (m.name, vmlinux.type_by_id::<BtfType<'_>>(m.ty)) else {
            continue;
        };
        let t = t.skip_mods_and_typedefs();
        let proto = (t.kind() == BtfKind::Ptr)
            .then(|| t.next_type())
            .flatten()
            .and_then(|p| FuncProto::try_from(p.skip_mods_and_typedefs()).ok());
        if let Some(proto) = proto {
            callbacks.push((name.to_string_lossy().into_owned(), proto));
        }
    }
    let member = callback_for(prog, callbacks.iter().map(|(n, _)| n.as_str()))
        .ok_or_else(|| LayoutError::NoCallback { prog: prog.into() })?;
    // A function pointer's parameters have no names in BTF; the kernel's
    // CFI stub of the callback (`sched_ext_ops__enqueue`) has them.
    let stub = format!("{OPS_STRUCT}__{member}");
    let params = match proto_of(vmlinux, &stub, "the kernel's BTF") {
        Ok(proto) => params_of(vmlinux, &proto),
        Err(_) => {
            let (_, proto) = callbacks
                .iter()
                .find(|(n, _)| n == member)
                .ok_or_else(|| LayoutError::NoCallback { prog: prog.into() })?;
            params_of(vmlinux, proto)
        }
    };
    Ok(resolve(vmlinux, prog, params))
}

/// The 16 hex digits of `bpf_prog_<tag>_<name>`.
pub fn tag_hex(tag: &[u8; 8]) -> String {
    tag.iter().map(|b| format!("{b:02x}")).collect()
}

/// The source lines of function `func` of a loaded program, by JIT offset.
/// `func_starts[k]`: the first instruction of function k (its func_info);
/// `lines`/`jited_lines`: the program's line info and the address each
/// entry's code was JITed to; `ksyms[k]`: function k's address; `file`: a
/// string of the program's BTF. Empty when the kernel gave no JIT info.
pub fn jit_lines(
    func_starts: &[u32],
    func: usize,
    lines: &[LineInfo],
    jited_lines: &[u64],
    ksyms: &[u64],
    file: impl Fn(u32) -> String,
) -> Vec<JitLine> {
    let (Some(&start), Some(&base)) = (func_starts.get(func), ksyms.get(func)) else {
        return Vec::new();
    };
    if jited_lines.len() != lines.len() || base == 0 {
        return Vec::new();
    }
    let end = func_starts.get(func + 1).copied().unwrap_or(u32::MAX);
    let mut out: Vec<JitLine> = lines
        .iter()
        .zip(jited_lines)
        .filter(|(l, _)| (start..end).contains(&l.insn_off))
        .filter_map(|(l, &addr)| {
            Some(JitLine {
                offset: u32::try_from(addr.checked_sub(base)?).ok()?,
                file: file(l.file_name_off),
                line: l.line_num,
                col: l.line_col,
            })
        })
        .collect();
    out.sort_by_key(|l| l.offset);
    out
}

/// The line of `lines` (sorted by offset) the code at `offset` belongs to.
pub fn line_at(lines: &[JitLine], offset: u32) -> Option<&JitLine> {
    let n = lines.partition_point(|l| l.offset <= offset);
    n.checked_sub(1).map(|i| &lines[i])
}

#[cfg(test)]
#[path = "../../../tests/support/kernel_cache.rs"]
mod kernel_cache;

#[cfg(test)]
mod tests {
    use super::*;

    fn demo_btf() -> Btf<'static> {
        let obj: &'static [u8] = Box::leak(
            std::fs::read(concat!(env!("OUT_DIR"), "/demo.bpf.o"))
                .unwrap()
                .into_boxed_slice(),
        );
        Btf::from_raw("demo", obj)
            .unwrap()
            .expect("demo.bpf.o has BTF")
    }

    fn probe_btf() -> Btf<'static> {
        let obj: &'static [u8] = Box::leak(
            std::fs::read(concat!(env!("OUT_DIR"), "/probe.bpf.o"))
                .unwrap()
                .into_boxed_slice(),
        );
        Btf::from_raw("probe", obj)
            .unwrap()
            .expect("probe.bpf.o has BTF")
    }

    /// The kernel BTFs `scxray kernel fetch` cached.
    fn cached_kernel_btfs() -> Vec<std::path::PathBuf> {
        super::kernel_cache::cached_kernel_files("btf")
    }

    #[test]
    fn spec_structs_match_the_bpf_object() {
        let btf = probe_btf();
        for (name, size) in [
            ("target_spec", TARGET_SPEC_SIZE),
            ("field_spec", FIELD_SPEC_SIZE),
        ] {
            let t = find(&btf, name, BtfKind::Struct).unwrap_or_else(|| panic!("struct {name}"));
            assert_eq!(size_of(t, 0), Some(size as u64), "{name}");
        }
        let fs = Composite::try_from(find(&btf, "field_spec", BtfKind::Struct).unwrap()).unwrap();
        let offsets: Vec<(String, u32)> = (0..fs.len())
            .map(|i| fs.get(i).unwrap())
            .map(|m| {
                let MemberAttr::Normal { offset } = m.attr else {
                    panic!("bitfield")
                };
                (m.name.unwrap().to_string_lossy().into_owned(), offset / 8)
            })
            .collect();
        let want: Vec<(String, u32)> = [
            ("off", 0),
            ("off2", 4),
            ("arg", 8),
            ("size", 9),
            ("deref", 10),
            ("pad", 11),
        ]
        .into_iter()
        .map(|(n, o)| (n.to_string(), o))
        .collect();
        assert_eq!(offsets, want);
        let r = Resolved {
            specs: vec![
                FieldSpec {
                    arg: 1,
                    size: 4,
                    off: 0x9a8,
                    deref: None,
                },
                FieldSpec {
                    arg: 0,
                    size: 8,
                    off: 0x400,
                    deref: Some(16),
                },
            ],
            ..Resolved::default()
        };
        let b = r.spec_bytes();
        assert_eq!(&b[..4], &2u32.to_ne_bytes());
        assert_eq!(&b[4..16], &[0xa8, 0x09, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0]);
        assert_eq!(&b[16..28], &[0, 4, 0, 0, 16, 0, 0, 0, 0, 8, 1, 0]);
        assert!(b[28..].iter().all(|&x| x == 0));
    }

    #[test]
    fn callbacks_by_name() {
        let members = [
            "select_cpu",
            "enqueue",
            "init",
            "init_task",
            "exit",
            "exit_task",
            "cpu",
        ];
        for (prog, want) in [
            ("demo_enqueue", Some("enqueue")),
            ("enqueue", Some("enqueue")),
            ("x_init_task", Some("init_task")),
            ("demo_init", Some("init")),
            ("demo_select_cpu", Some("select_cpu")),
            ("demoenqueue", None),
            ("demo_dispatch", None),
        ] {
            assert_eq!(callback_for(prog, members), want, "{prog}");
        }
    }

    #[test]
    fn jit_lines_of_one_function() {
        let li = |insn_off, line| LineInfo {
            insn_off,
            file_name_off: 7,
            line_off: 0,
            line_num: line,
            line_col: 2,
        };
        // Function 1 (insns 10..20) at 0x2000; function 0 at 0x1000.
        let lines = [li(0, 1), li(10, 80), li(14, 90), li(12, 85), li(20, 100)];
        let jited = [0x1000, 0x2000, 0x2040, 0x2010, 0x3000];
        let got = jit_lines(
            &[0, 10, 20],
            1,
            &lines,
            &jited,
            &[0x1000, 0x2000, 0x3000],
            |o| format!("f{o}.c"),
        );
        let summary: Vec<(u32, u32)> = got.iter().map(|l| (l.offset, l.line)).collect();
        assert_eq!(summary, [(0, 80), (0x10, 85), (0x40, 90)]);
        assert_eq!(got[0].file, "f7.c");
        assert_eq!(got[0].col, 2);
        assert_eq!(line_at(&got, 0x3f).map(|l| l.line), Some(85));
        assert_eq!(line_at(&got, 0x40).map(|l| l.line), Some(90));
        // No JIT info (not root, interpreter): nothing.
        assert!(jit_lines(
            &[0, 10],
            1,
            &lines,
            &[],
            &[0x1000, 0x2000],
            |_| String::new()
        )
        .is_empty());
        assert!(jit_lines(&[0], 3, &lines, &jited, &[0x1000], |_| String::new()).is_empty());
        assert_eq!(
            tag_hex(&[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]),
            "0123456789abcdef"
        );
    }

    /// The demo's own BTF stands in for the kernel's: it has the full
    /// `struct task_struct` of vmlinux.h and `struct sched_ext_ops`.
    #[test]
    fn demo_functions_from_its_btf() {
        let btf = demo_btf();
        let r = bpf_subprogram(&btf, &btf, "validate_cell").unwrap();
        let params: Vec<(&str, &str, Option<&str>)> = r
            .layout
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.type_name.as_str(), p.pointee.as_deref()))
            .collect();
        assert_eq!(
            params,
            [
                ("p", "struct task_struct *", Some("task_struct")),
                ("seq", "u64", None)
            ]
        );
        let keys: Vec<&str> = r.layout.fields.iter().map(|f| f.name.as_str()).collect();
        let want: Vec<&str> = of_struct("task_struct").map(|c| c.key).collect();
        assert_eq!(keys, want, "skipped: {:?}", r.skipped);
        assert_eq!(r.specs.len(), r.layout.fields.len());
        let pid = &r.layout.fields[0];
        assert_eq!((pid.param, pid.size, pid.signed), (0, 4, true));
        assert!(r.specs[0].deref.is_none());
        // cpus_ptr->bits[1]: through the pointer, the second long.
        let m1 = keys.iter().position(|k| *k == "cpumask_1").unwrap();
        let m0 = keys.iter().position(|k| *k == "cpumask_0").unwrap();
        assert_eq!(r.specs[m1].off, r.specs[m0].off);
        assert_eq!(r.specs[m1].deref, Some(8));
        assert_eq!(r.specs[m0].deref, Some(0));
        assert_eq!(r.layout.fields[m1].size, 8);

        let ops = struct_ops_callback(&btf, "demo_enqueue").unwrap();
        let params: Vec<(&str, &str)> = ops
            .layout
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.type_name.as_str()))
            .collect();
        // No CFI stubs in the demo's BTF: unnamed, as in the ops struct.
        assert_eq!(params, [("arg0", "struct task_struct *"), ("arg1", "u64")]);
        assert_eq!(ops.layout.fields.len(), want.len());
        let dispatch = struct_ops_callback(&btf, "demo_dispatch").unwrap();
        assert_eq!(dispatch.layout.params.len(), 2);
        assert_eq!(dispatch.layout.fields[0].param, 1, "prev is the task");
        assert_eq!(
            struct_ops_callback(&btf, "nothing"),
            Err(LayoutError::NoCallback {
                prog: "nothing".into()
            })
        );
        // An extern kfunc: what a kernel function looks like in BTF.
        let k = kernel_function(&btf, "scx_bpf_dsq_insert").unwrap();
        assert_eq!(k.layout.params.len(), 4);
        assert_eq!(k.layout.params[0].pointee.as_deref(), Some("task_struct"));
        assert!(matches!(
            kernel_function(&btf, "no_such_fn"),
            Err(LayoutError::NoFunction { .. })
        ));
    }

    #[test]
    fn field_errors_name_the_path() {
        let btf = demo_btf();
        assert_eq!(
            locate(&btf, "task_struct", "nope"),
            Err(FieldError::NoMember {
                strukt: "task_struct".into(),
                path: "nope".into(),
                member: "nope".into()
            })
        );
        assert!(matches!(
            locate(&btf, "task_struct", "pid->x"),
            Err(FieldError::BadDeref { .. })
        ));
        assert!(matches!(
            locate(&btf, "task_struct", "cpus_ptr->bits[100000]"),
            Err(FieldError::BadIndex { index: 100000, .. })
        ));
        assert!(matches!(
            locate(&btf, "task_struct", "scx"),
            Err(FieldError::NotScalar { .. })
        ));
        assert!(matches!(
            locate(&btf, "no_such_struct", "pid"),
            Err(FieldError::NoStruct { .. })
        ));
        assert!(matches!(
            locate(&btf, "task_struct", "a b"),
            Err(FieldError::BadPath { .. })
        ));
    }

    /// The running kernel's BTF is what the agent reads: the cached Debian
    /// kernel's, checked against scxray's own BTF reader.
    #[test]
    fn cached_kernel_layouts() {
        let files = cached_kernel_btfs();
        if files.is_empty() {
            println!("skipped: no kernels/*/btf under $SCXRAY_CACHE_DIR or ~/.cache/scxray");
            return;
        }
        for file in files {
            let btf = Btf::from_path(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let own = scxray::btf::Btf::parse(&std::fs::read(&file).unwrap()).unwrap();
            let r = kernel_function(&btf, "enqueue_task_scx").unwrap();
            let params: Vec<(&str, Option<&str>)> = r
                .layout
                .params
                .iter()
                .map(|p| (p.type_name.as_str(), p.pointee.as_deref()))
                .collect();
            assert_eq!(
                params,
                [
                    ("struct rq *", Some("rq")),
                    ("struct task_struct *", Some("task_struct")),
                    ("int", None)
                ],
                "{}",
                file.display()
            );
            let keys: Vec<(u32, &str)> = r
                .layout
                .fields
                .iter()
                .map(|f| (f.param, f.name.as_str()))
                .collect();
            assert_eq!(keys[0], (0, "cpu"), "{keys:?} skipped {:?}", r.skipped);
            assert_eq!(
                keys.len(),
                1 + of_struct("task_struct").count(),
                "skipped {:?}",
                r.skipped
            );
            for (f, s) in r.layout.fields.iter().zip(&r.specs) {
                let c = of_struct(&f.struct_name).find(|c| c.key == f.name).unwrap();
                if s.deref.is_some() {
                    continue;
                }
                let path: Vec<&str> = c.path.split('.').collect();
                assert_eq!(
                    own.member_offset(&f.struct_name, &path).ok(),
                    Some(u64::from(s.off)),
                    "{} {}",
                    f.struct_name,
                    c.path
                );
            }
            let ops = struct_ops_callback(&btf, "demo_enqueue").unwrap();
            let params: Vec<(&str, &str)> = ops
                .layout
                .params
                .iter()
                .map(|p| (p.name.as_str(), p.type_name.as_str()))
                .collect();
            assert_eq!(
                params,
                [("p", "struct task_struct *"), ("enq_flags", "u64")]
            );
            // The kernel's task_struct, not the demo's copy.
            let demo = demo_btf();
            let sub = bpf_subprogram(&btf, &demo, "validate_cell").unwrap();
            assert_eq!(sub.specs, ops.specs);
        }
    }
}
