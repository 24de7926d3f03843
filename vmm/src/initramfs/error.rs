use std::io;
use std::path::PathBuf;

use super::cpio::CpioError;
use super::elf::ElfError;

#[derive(Debug, thiserror::Error)]
pub enum InitramfsError {
    #[error("guest path {path:?} {why}")]
    InvalidGuestPath { path: String, why: &'static str },
    #[error("two things want guest path {guest}: {existing}, and {new}")]
    Conflict {
        guest: String,
        existing: String,
        new: String,
    },
    #[error("{}: {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{} is not a regular file (only files can be included)", path.display())]
    NotAFile { path: PathBuf },
    #[error("no /init: call InitramfsBuilder::init with the guest agent")]
    NoInit,
    #[error(transparent)]
    Elf(#[from] ElfError),
    #[error(transparent)]
    Cpio(#[from] CpioError),
}

impl InitramfsError {
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        what: &'static str,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| InitramfsError::Io { path, what, source }
    }
}
