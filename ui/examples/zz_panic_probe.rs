fn main() {
    let _tui = scxray_ui::terminal::Tui::enter().unwrap();
    panic!("probe panic inside the TUI");
}
