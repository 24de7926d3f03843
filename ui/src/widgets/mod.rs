//! Small drawing and editing pieces shared by panes and prompts: a fitted,
//! styled line of text with its gutter, and a one-line text field.

pub mod line_input;
pub mod text_line;
