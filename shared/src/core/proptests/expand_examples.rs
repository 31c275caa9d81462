use super::*;

#[test]
fn all_reaches_accounts_in_nested_ous_four_levels_down() {
    assert_eq!(ids(&run("ou-root-prod0000", "ALL", "")), [2, 3, 4]);
}

#[test]
fn difference_excludes_listed_accounts_in_nested_ous() {
    let e = run("ou-root-prod0000", "DIFFERENCE", &format!("{:012}", 4));
    assert_eq!(ids(&e), [2, 3]);
    let pci = e.skipped.iter().find(|s| s.id == acct(4)).unwrap();
    assert_eq!(pci.reason, Reason::ExcludedByList);
    assert_eq!(pci.ou_path, "Root/Prod/EU/Payments/PCI (ou-root-pci00000)");
}

#[test]
fn intersection_keeps_only_listed_accounts_under_the_targets() {
    let e = run(
        "ou-root-prod0000",
        "INTERSECTION",
        "000000000003,000000000005",
    );
    assert_eq!(ids(&e), [3]);
    let outside = e.skipped.iter().find(|s| s.id == acct(5)).unwrap();
    assert_eq!(
        outside.reason,
        Reason::OutsideTargets {
            actual: "Root/Staging (ou-root-stag0000)".into()
        }
    );
    assert!(outside.reason.to_string().contains("Root/Staging"));
}

#[test]
fn root_target_means_the_whole_organization_minus_management_and_suspended() {
    let e = run("r-root", "ALL", "");
    assert_eq!(ids(&e), [2, 3, 4, 5, 7]);
    assert!(e.skipped.iter().all(|s| !s.reason.is_included()));
    let skipped: BTreeMap<u64, Reason> = e
        .skipped
        .iter()
        .map(|s| (s.id.as_str().parse().unwrap(), s.reason.clone()))
        .collect();
    assert_eq!(skipped[&1], Reason::ManagementAccount);
    assert!(matches!(skipped[&6], Reason::NotActive { .. }));
}

#[test]
fn included_reasons_name_the_target_path() {
    let e = run("ou-root-eu000000", "ALL", "");
    assert_eq!(
        e.included[0].reason,
        Reason::UnderTarget {
            target: "Root/Prod/EU (ou-root-eu000000)".into()
        }
    );
}

#[test]
fn listed_account_missing_from_the_organization_is_an_error() {
    let mut t = sample();
    t.not_in_organization.insert(acct(99));
    let scope = Scope::parse(&"r-root".into(), "DIFFERENCE", &"000000000099".into()).unwrap();
    let err = expand(&scope, &t).unwrap_err();
    assert!(err.to_string().contains("000000000099"), "{err}");
}
