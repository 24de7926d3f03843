//! The report model and the text type its sections are made of.

pub mod model;
pub mod stall;
pub mod text;

pub use model::*;
pub use text::{Buffer, Text};
