//! Fuzzes the parser entry point: any bytes must give a report (never a
//! panic), and writing it back must parse to the same report.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scxray::parse::parse_str;
use scxray::write::to_ktstr;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let report = parse_str(&text);
    let again = parse_str(&to_ktstr(&report));
    assert_eq!(again, report);
    let _ = scxray::write::summary(&report);
    let _ = scxray::write::to_json(&report, "fuzz");
});
