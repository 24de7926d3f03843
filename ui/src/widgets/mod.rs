//! Small drawing and editing pieces shared by panes and prompts: a fitted,
//! styled line of text with its gutter, a one-line text field, and input
//! text made safe to draw (no control character reaches the terminal).

pub mod line_input;
pub mod text_line;
pub mod visible;
