//! scxray terminal UI.
