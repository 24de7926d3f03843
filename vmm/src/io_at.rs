//! One error for "this file operation failed on this path": the kernel cache
//! and the kernel fetch both report I/O this way, so both say the same thing
//! (`cannot read /x: Permission denied`) and keep the `io::Error` as source.

use std::path::{Path, PathBuf};

/// An I/O failure: what was being done, to which path, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {path}: {source}")]
pub struct IoAt {
    /// A verb phrase: `read`, `create a work directory in`.
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// For `map_err`: `fs::read(p).map_err(io_at("read", p))?`.
pub fn io_at<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> IoAt + 'a {
    move |source| IoAt {
        action,
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_action_and_the_path_and_keeps_the_cause() {
        let cause = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let e = io_at("read", Path::new("/x/meta.json"))(cause);
        assert!(
            e.to_string().starts_with("cannot read /x/meta.json: "),
            "{e}"
        );
        let source = std::error::Error::source(&e).unwrap();
        assert_eq!(
            source.downcast_ref::<std::io::Error>().unwrap().kind(),
            std::io::ErrorKind::PermissionDenied
        );
    }
}
