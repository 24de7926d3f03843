//! An error and its causes as one line for the user. Library errors often
//! name their cause in their own message too (`cannot read X: Permission
//! denied (os error 13)`), so anyhow's `{:#}` would say it twice.

/// The chain joined by `: `, each cause skipped when an earlier message
/// already says it.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    for cause in std::iter::successors(Some(e), |c| c.source()) {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read {path}: {source}")]
    struct Read {
        path: String,
        source: std::io::Error,
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::from_raw_os_error(13);
        let e = anyhow::Error::new(Read {
            path: "/x".into(),
            source: io,
        });
        assert_eq!(format!("{e:#}").matches("os error 13").count(), 2);
        assert_eq!(
            chain(e.as_ref()),
            "cannot read /x: Permission denied (os error 13)"
        );
        let e = Err::<(), _>(std::io::Error::from(std::io::ErrorKind::OutOfMemory))
            .context("out of memory")
            .unwrap_err();
        assert_eq!(chain(e.as_ref()), "out of memory");
        // Distinct causes all stay.
        let e = Err::<(), _>(anyhow::anyhow!("disk full"))
            .context("cannot save the report")
            .unwrap_err();
        assert_eq!(chain(e.as_ref()), "cannot save the report: disk full");
    }
}
