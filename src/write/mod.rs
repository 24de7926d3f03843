//! Writers: ktstr's text layout, the versioned JSON export, and the short
//! human summary that leads with the answer. The layout and the JSON also
//! stream into an `io::Write`, so printing a report never holds a second copy
//! of its section bodies. [`visible`](mod@visible) makes input text safe to
//! show on a terminal (escape sequences, controls and bidi overrides in a
//! visible form).

mod json;
mod ktstr;
mod summary;
pub mod visible;

pub use json::{to_json, write_json, JSON_SCHEMA_NAME, JSON_SCHEMA_VERSION};
pub use ktstr::{to_ktstr, write_ktstr};
pub use summary::summary;
pub use visible::{visible, VisibleWriter};
