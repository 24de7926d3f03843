fn main() {
    for a in std::env::args().skip(1) {
        println!("=== {a}");
        match scxray::parse::parse_path(std::path::Path::new(&a)) {
            Ok(r) => {
                let secs: Vec<&str> = r.sections.iter().map(|s| s.kind.name()).collect();
                println!("sections: {secs:?} crashes={}", r.crashes.len());
                print!("{}", scxray::write::summary(&r));
            }
            Err(e) => println!("ERR {e}"),
        }
    }
}
