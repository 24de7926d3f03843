//! Running a scheduler in a test guest, seen from the domain: the framed
//! record stream the guest agent sends to the host ([`record`]), and the
//! bounded buffers the host keeps it in ([`bounded`]), and the probes'
//! section ([`probe_text`]). The VM side lives in
//! the `scxray-vmm` crate, the agent in `scxray-probes`.

pub mod bounded;
pub mod live;
pub mod probe_text;
pub mod record;
pub mod scenario;
pub mod topology;
