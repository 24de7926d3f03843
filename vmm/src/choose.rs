//! Which backend boots a guest: `--backend kvm|qemu|auto`. `auto` takes
//! the own VMM where the KVM probe (a QEMU boot of this very kernel under
//! KVM, cached per host, QEMU and kernel; see [`crate::qemu::kvm`]) shows
//! /dev/kvm runs a standard kernel, else QEMU (with TCG), and says which
//! and why. A guest the own VMM cannot boot under `auto` is booted again
//! under QEMU, with a warning: the run is not lost to the newer VMM, and
//! the run's later guests (the auto-repro VMs) go to QEMU directly rather
//! than wait for the own VMM to fail again. Nested or paravirtual KVM that
//! cannot run Linux (this project's build machines) thus lands on QEMU.

use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use crate::backend::{Accel, Backend, ExitHow, GuestEvent, GuestExit, GuestSpec, VmError};
use crate::cancel::Cancel;
use crate::kvm::KvmBackend;
use crate::qemu::QemuBackend;

/// Names the backend when `--backend` is not given.
pub const BACKEND_ENV: &str = "SCXRAY_BACKEND";

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    #[default]
    Auto,
    Kvm,
    Qemu,
}

impl FromStr for BackendChoice {
    type Err = VmError;

    fn from_str(s: &str) -> Result<Self, VmError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(BackendChoice::Auto),
            "kvm" => Ok(BackendChoice::Kvm),
            "qemu" => Ok(BackendChoice::Qemu),
            _ => Err(VmError::BadBackend {
                value: s.to_owned(),
            }),
        }
    }
}

impl BackendChoice {
    /// `$SCXRAY_BACKEND`, `Auto` when unset.
    pub fn from_env() -> Result<Self, VmError> {
        match std::env::var(BACKEND_ENV) {
            Ok(v) => v.parse(),
            Err(_) => Ok(BackendChoice::Auto),
        }
    }
}

/// The backend a run uses.
#[derive(Debug, Clone)]
pub enum AnyBackend {
    Qemu(QemuBackend),
    /// The own VMM; with `fallback` (chosen by `auto`), a guest it cannot
    /// boot (a VMM error or no agent hello before it ended) is booted again
    /// under QEMU, with a warning naming why.
    Kvm {
        kvm: KvmBackend,
        fallback: Option<Fallback>,
    },
}

/// QEMU behind the own VMM under `auto`. Once the own VMM could not boot
/// one guest, the backend's later guests (and its clones': one run shares
/// them) go to QEMU at once: a repro VM would only fail the same way, and
/// only after its hello timeout.
#[derive(Debug, Clone)]
pub struct Fallback {
    qemu: QemuBackend,
    /// Why the own VMM failed, from the first failure on.
    failed: Arc<OnceLock<String>>,
}

impl Fallback {
    pub fn new(qemu: QemuBackend) -> Fallback {
        Fallback {
            qemu,
            failed: Arc::default(),
        }
    }

    /// Why the own VMM is no longer tried, once it is not.
    pub fn own_vmm_failed(&self) -> Option<&str> {
        self.failed.get().map(String::as_str)
    }
}

impl Backend for AnyBackend {
    fn name(&self) -> &'static str {
        match self {
            AnyBackend::Qemu(b) => b.name(),
            AnyBackend::Kvm { kvm, .. } => kvm.name(),
        }
    }

    fn boot(
        &self,
        spec: &GuestSpec,
        sink: &mut dyn FnMut(GuestEvent),
        cancel: &Cancel,
    ) -> Result<GuestExit, VmError> {
        match self {
            AnyBackend::Qemu(b) => b.boot(spec, sink, cancel),
            AnyBackend::Kvm { kvm, fallback } => {
                if let Some(f) = fallback {
                    if let Some(why) = f.own_vmm_failed() {
                        let mut exit = f.qemu.boot(spec, sink, cancel)?;
                        exit.warnings.insert(
                            0,
                            format!("QEMU ran this guest: the own KVM VMM could not boot an earlier one of this run ({why})"),
                        );
                        return Ok(exit);
                    }
                }
                let first = kvm.boot(spec, sink, cancel);
                let Some(f) = fallback.as_ref().filter(|_| !cancel.is_cancelled()) else {
                    return first;
                };
                let why = match &first {
                    Err(e) => e.to_string(),
                    Ok(exit) if exit.to_hello.is_none() && !exit_is_the_guests(&exit.how) => {
                        exit.how.to_string()
                    }
                    Ok(_) => return first,
                };
                let _ = f.failed.set(why.clone());
                let mut exit = f.qemu.boot(spec, sink, cancel)?;
                exit.warnings.insert(
                    0,
                    format!(
                        "the own KVM VMM could not boot this guest ({why}); QEMU ran it instead"
                    ),
                );
                Ok(exit)
            }
        }
    }
}

/// Whether an ending is the guest's own doing, which QEMU would only
/// repeat: a panic or powering off. A cancel is the user's.
fn exit_is_the_guests(how: &ExitHow) -> bool {
    matches!(
        how,
        ExitHow::PoweredOff | ExitHow::Panicked { .. } | ExitHow::Cancelled { .. }
    )
}

/// The choice made, in words for the run's diagnostics.
#[derive(Debug, Clone)]
pub struct Chosen {
    pub backend: AnyBackend,
    pub why: String,
}

/// Picks the backend for `kernel`. `asked_by` names where the choice came
/// from (`--backend auto`) for the message. `qemu` is the QEMU backend as
/// configured (its binary, accelerator, TCG threads); auto runs its probe.
pub fn choose(
    choice: BackendChoice,
    asked_by: &str,
    qemu: QemuBackend,
    kernel: &Path,
    cancel: &Cancel,
) -> Result<Chosen, VmError> {
    match choice {
        BackendChoice::Qemu => Ok(Chosen {
            backend: AnyBackend::Qemu(qemu),
            why: format!("QEMU ({asked_by})"),
        }),
        BackendChoice::Kvm => {
            let why = format!("own KVM VMM ({asked_by})");
            Ok(Chosen {
                backend: AnyBackend::Kvm {
                    kvm: KvmBackend::new().chosen_because(&why),
                    fallback: None,
                },
                why,
            })
        }
        BackendChoice::Auto => {
            let decided = match qemu.resolve_accel(kernel, cancel) {
                Ok(d) => d,
                // No QEMU to probe with: /dev/kvm is all there is.
                Err(VmError::QemuNotFound { program }) => {
                    let why = match crate::qemu::kvm::kvm_device() {
                        Ok(()) => format!(
                            "own KVM VMM ({asked_by}: QEMU {} is not installed, so /dev/kvm was not probed by a boot)",
                            program.display()
                        ),
                        Err(e) => {
                            return Err(VmError::KvmUnavailable {
                                asked_by: format!("{asked_by}, QEMU not installed"),
                                why: e,
                            })
                        }
                    };
                    return Ok(Chosen {
                        backend: AnyBackend::Kvm {
                            kvm: KvmBackend::new().chosen_because(&why),
                            fallback: None,
                        },
                        why,
                    });
                }
                Err(e) => return Err(e),
            };
            Ok(match decided.accel {
                Accel::Kvm => {
                    let why = format!(
                        "own KVM VMM ({asked_by}: {}; /dev/kvm runs this kernel)",
                        decided.why
                    );
                    Chosen {
                        backend: AnyBackend::Kvm {
                            kvm: KvmBackend::new().chosen_because(&why),
                            fallback: Some(Fallback::new(qemu)),
                        },
                        why,
                    }
                }
                Accel::Tcg => Chosen {
                    backend: AnyBackend::Qemu(qemu),
                    why: format!(
                        "QEMU ({asked_by}: the own VMM needs a /dev/kvm that runs Linux; {})",
                        decided.why
                    ),
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_and_a_bad_one_names_the_values() {
        assert_eq!("".parse::<BackendChoice>().unwrap(), BackendChoice::Auto);
        assert_eq!("KVM".parse::<BackendChoice>().unwrap(), BackendChoice::Kvm);
        assert_eq!(
            " qemu ".parse::<BackendChoice>().unwrap(),
            BackendChoice::Qemu
        );
        let e = "firecracker"
            .parse::<BackendChoice>()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("firecracker") && e.contains("auto, kvm or qemu"),
            "{e}"
        );
    }

    #[test]
    fn forced_choices_say_who_asked() {
        let c = choose(
            BackendChoice::Qemu,
            "--backend qemu",
            QemuBackend::new(),
            Path::new("/k"),
            &Cancel::new(),
        )
        .unwrap();
        assert!(matches!(c.backend, AnyBackend::Qemu(_)));
        assert_eq!(c.why, "QEMU (--backend qemu)");
        let c = choose(
            BackendChoice::Kvm,
            "--backend kvm",
            QemuBackend::new(),
            Path::new("/k"),
            &Cancel::new(),
        )
        .unwrap();
        assert_eq!(c.backend.name(), "kvm");
        assert_eq!(c.why, "own KVM VMM (--backend kvm)");
    }
}
