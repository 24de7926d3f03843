//! Writers: ktstr's text layout, the versioned JSON export, and the short
//! human summary that leads with the answer.

mod json;
mod ktstr;
mod summary;

pub use json::{to_json, JSON_SCHEMA_NAME, JSON_SCHEMA_VERSION};
pub use ktstr::to_ktstr;
pub use summary::summary;
