//! A stand-in for ktstr's `#[ktstr_test(key = value, ...)]`, with no
//! dependencies, for checking that scxray's exported tests compile.
//!
//! It passes the function through unchanged and adds
//! `pub const <FN>_KTSTR_ATTRS: &[(&str, &str)]` holding each attribute's
//! value: for the two matcher keys the value expression itself (the string
//! literal or the const it names), so rustc's own reading of the literal can
//! be compared byte for byte; for other keys the value's tokens as text.
//! Unknown and repeated keys are compile errors, as in ktstr.

use proc_macro::{Delimiter, Literal, TokenStream, TokenTree};

const STRING_KEYS: &[&str] = &[
    "expect_scx_bpf_error_contains",
    "expect_scx_bpf_error_matches",
];
const OTHER_KEYS: &[&str] = &[
    "scheduler",
    "numa_nodes",
    "llcs",
    "cores",
    "threads",
    "expect_err",
];

#[proc_macro_attribute]
pub fn ktstr_test(attr: TokenStream, item: TokenStream) -> TokenStream {
    match expand(attr, &item) {
        Ok(extra) => {
            let mut out = item;
            out.extend(extra);
            out
        }
        Err(msg) => format!("compile_error!({});", Literal::string(&msg))
            .parse()
            .expect("compile_error! tokens"),
    }
}

fn expand(attr: TokenStream, item: &TokenStream) -> Result<TokenStream, String> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut tokens = attr.into_iter().peekable();
    while let Some(tt) = tokens.next() {
        let key = match tt {
            TokenTree::Ident(i) => i.to_string(),
            other => return Err(format!("expected a key, found `{other}`")),
        };
        match tokens.next() {
            Some(TokenTree::Punct(p)) if p.as_char() == '=' => {}
            _ => return Err(format!("expected `=` after `{key}`")),
        }
        let mut value = TokenStream::new();
        while let Some(tt) = tokens.peek() {
            if matches!(tt, TokenTree::Punct(p) if p.as_char() == ',') {
                tokens.next();
                break;
            }
            value.extend(tokens.next());
        }
        if value.is_empty() {
            return Err(format!("missing value for `{key}`"));
        }
        if !STRING_KEYS.contains(&key.as_str()) && !OTHER_KEYS.contains(&key.as_str()) {
            return Err(format!("unknown ktstr_test key `{key}`"));
        }
        if pairs.iter().any(|(k, _)| *k == key) {
            return Err(format!("duplicate ktstr_test key `{key}`"));
        }
        let value = if STRING_KEYS.contains(&key.as_str()) {
            value.to_string()
        } else {
            Literal::string(&value.to_string()).to_string()
        };
        pairs.push((key, value));
    }
    let name = fn_name(item).ok_or("#[ktstr_test] must be on a fn")?;
    let entries: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("({}, {v})", Literal::string(k)))
        .collect();
    format!(
        "pub const {}_KTSTR_ATTRS: &[(&str, &str)] = &[{}];",
        name.to_uppercase(),
        entries.join(", ")
    )
    .parse()
    .map_err(|e| format!("stub could not build its const: {e}"))
}

fn fn_name(item: &TokenStream) -> Option<String> {
    let mut prev_fn = false;
    for tt in item.clone() {
        match tt {
            TokenTree::Ident(i) if prev_fn => return Some(i.to_string()),
            TokenTree::Ident(i) => prev_fn = i.to_string() == "fn",
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => return None,
            _ => prev_fn = false,
        }
    }
    None
}
