use super::*;

/// The `n`-th account's ID: spread over 12 digits, as real IDs are.
pub(super) fn account_id(n: usize) -> AccountId {
    let n = 200_000_000_000u64 + n as u64 * 7_919;
    AccountId::parse(&format!("{n:012}")).unwrap()
}

/// An organization of `ous` OUs under the root, `per_ou` accounts each (12-digit IDs), and the
/// management account in the root. Returns it and the OU IDs.
pub(super) fn organization(ous: usize, per_ou: usize) -> (Tree, Vec<String>) {
    let mut t = Tree {
        organization_id: "o-payload123".into(),
        root: ROOT.into(),
        management: MANAGEMENT.into(),
        ..Default::default()
    };
    let node = |id: &str, name: &str, parent: Option<&str>| OrgNode {
        id: id.into(),
        name: name.into(),
        parent: parent.map(str::to_owned),
    };
    t.nodes.insert(ROOT.into(), node(ROOT, "Root", None));
    t.accounts.insert(
        ROOT.into(),
        vec![Account {
            id: AccountId::parse(MANAGEMENT).unwrap(),
            name: "management".into(),
            state: AccountState::Active,
            parent: ROOT.into(),
            tags: None,
        }],
    );
    let mut ids = Vec::new();
    for o in 0..ous {
        let ou = format!("ou-pay1-{o:08}");
        t.nodes
            .insert(ou.clone(), node(&ou, &format!("unit-{o}"), Some(ROOT)));
        t.children.entry(ROOT.into()).or_default().push(ou.clone());
        t.children.insert(ou.clone(), vec![]);
        let accounts = (0..per_ou)
            .map(|i| Account {
                id: account_id(o * per_ou + i),
                name: format!("acct-{o}-{i}"),
                state: AccountState::Active,
                parent: ou.clone(),
                tags: None,
            })
            .collect();
        t.accounts.insert(ou.clone(), accounts);
        ids.push(ou);
    }
    t.children.entry(ROOT.into()).or_default();
    (t, ids)
}
