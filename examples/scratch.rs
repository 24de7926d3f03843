fn main() {
    let data = std::fs::read(std::env::args().nth(1).unwrap()).unwrap();
    let text = String::from_utf8_lossy(&data);
    let r = scxray::parse::parse_str(&text);
    let w = scxray::write::to_ktstr(&r);
    let r2 = scxray::parse::parse_str(&w);
    let a = format!("{r:#?}");
    let b = format!("{r2:#?}");
    let (al, bl): (Vec<_>, Vec<_>) = (a.lines().collect(), b.lines().collect());
    for i in 0..al.len().max(bl.len()) {
        if al.get(i) != bl.get(i) {
            for j in i.saturating_sub(6)..(i + 4) {
                println!(
                    "A{j}: {}",
                    al.get(j)
                        .unwrap_or(&"")
                        .chars()
                        .take(250)
                        .collect::<String>()
                );
            }
            for j in i.saturating_sub(6)..(i + 4) {
                println!(
                    "B{j}: {}",
                    bl.get(j)
                        .unwrap_or(&"")
                        .chars()
                        .take(250)
                        .collect::<String>()
                );
            }
            break;
        }
    }
    println!("--- written:\n{}", w.chars().take(1500).collect::<String>());
}
