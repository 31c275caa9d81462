//! Scope parsing must never panic, whatever a person (or a spreadsheet) types.
//!
//! The input is split on NUL into up to four fields: target OU IDs, AccountScope, account IDs
//! and a free field (regions / StackSet name / leave policy). Each field is fed as a plain
//! string and as a list of strings (split on 0x01), and the whole input is tried as a JSON
//! property value. Every error is rendered, since the messages quote the bad token.
use shared::core::{
    parse_regions, parse_stack_set_name, AccountId, AccountScope, LeavePolicy, RawList, Scope,
    TargetId,
};

fn render<T: std::fmt::Debug, E: std::fmt::Display>(r: Result<T, E>) {
    match r {
        Ok(v) => {
            let _ = format!("{v:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// One input: must return, never panic.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.splitn(4, '\0');
    let ous = fields.next().unwrap_or_default();
    let mode = fields.next().unwrap_or_default();
    let accounts = fields.next().unwrap_or_default();
    let extra = fields.next().unwrap_or_default();

    let items = |s: &str| RawList::Items(s.split('\u{1}').map(str::to_owned).collect());
    render(Scope::parse(
        &RawList::from(ous),
        mode,
        &RawList::from(accounts),
    ));
    render(Scope::parse(&items(ous), mode, &items(accounts)));
    render(mode.parse::<AccountScope>());
    render(extra.parse::<LeavePolicy>());
    render(parse_stack_set_name(extra));
    render(parse_regions(&RawList::from(extra), "us-east-1"));
    render(parse_regions(&items(extra), mode));
    for token in text.split([',', '\n', '\0']) {
        render(AccountId::parse(token));
        render(AccountId::parse(token.trim()));
        render(TargetId::parse(token.trim()));
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(list) = RawList::from_json("TargetAccountIds", &v).map_err(|e| e.to_string()) {
            render(list.tokens("TargetAccountIds", "123456789012"));
            render(Scope::parse(&list, "INTERSECTION", &list));
        }
    }
}
