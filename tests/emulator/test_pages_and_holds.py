"""Short Organizations pages (config `organizations_pages`) and held calls (`/hold`).

Short pages: AWS Organizations API reference, every List call (ListAccounts,
ListAccountsForParent, ListOrganizationalUnitsForParent, ListChildren, ListRoots, ListParents,
ListDelegatedAdministrators, ListAWSServiceAccessForOrganization): "Always check the NextToken
response parameter for a null value when calling a List* operation. These operations can
occasionally return an empty set of results even when there are more results available. The
NextToken response parameter value is null only when there are no more results to display."
and, of MaxResults: "Note that Organizations might return fewer results than the maximum even
when there are more results available. You should check NextToken after every operation to
ensure that you receive all of the results." (The AWS CLI User Guide, "Using the pagination options in
the AWS CLI": by default the CLI "retrieves all available items", following the tokens.)
"""

from __future__ import annotations

import threading

import pytest
from botocore.exceptions import ClientError

STACKSETS = "member.org.stacksets.cloudformation.amazonaws.com"


def pages_of(call, key, **params):
    """Every page of a List call, following NextToken until it is absent."""
    out = []
    token = None
    while True:
        kw = dict(params)
        if token:
            kw["NextToken"] = token
        page = call(**kw)
        out.append((page[key], page.get("NextToken")))
        token = page.get("NextToken")
        if not token:
            return out
        assert len(out) < 500, "a listing that never ends"


def short(emu, seed=3):
    emu.post("/config", {"organizations_pages": "short", "seed": seed})


def test_short_pages_list_every_account_once_in_pages_below_the_maximum_some_empty(emu, org):
    """ListAccounts / ListAccountsForParent under short pages: each page holds fewer items than
    the page maximum, some pages are empty while a NextToken says more is coming, the last page
    has no NextToken, and following NextToken still yields each account exactly once."""
    gen = emu.post("/fixture/generate", {"accounts": 120, "ous": 6, "max_depth": 2, "seed": 4})
    short(emu)
    pages = pages_of(org.list_accounts, "Accounts")
    sizes = [len(items) for items, _ in pages]
    assert max(sizes) < 20, sizes
    assert any(n == 0 and tok for (items, tok), n in zip(pages, sizes)), sizes
    assert pages[-1][1] is None and all(tok for _, tok in pages[:-1])
    ids = [a["Id"] for items, _ in pages for a in items]
    want = {a["id"] for a in gen["accounts"].values()} | {gen["management_account_id"]}
    assert sorted(ids) == sorted(want)  # each once
    # Full pages (the default) of the same listing: 20 a page, none empty before the end.
    emu.post("/config", {"organizations_pages": "full"})
    full = pages_of(org.list_accounts, "Accounts")
    assert [len(i) for i, _ in full] == [20] * (len(want) // 20) + ([len(want) % 20] if len(want) % 20 else [])


def test_short_pages_are_the_same_for_the_same_seed_and_token(emu, org):
    """Deterministic from the seed: a retried call (same NextToken) gets the same page, so a
    reader retrying a throttled page neither skips nor repeats items."""
    emu.post("/fixture/generate", {"accounts": 60, "ous": 3, "max_depth": 1, "seed": 9})
    short(emu, seed=11)
    first = pages_of(org.list_accounts, "Accounts")
    again = pages_of(org.list_accounts, "Accounts")
    assert first == again
    short(emu, seed=12)
    assert [len(i) for i, _ in pages_of(org.list_accounts, "Accounts")] != [len(i) for i, _ in first]


@pytest.mark.parametrize("seed", range(6))
def test_short_pages_cover_the_single_item_lists_and_the_moto_answered_ones(emu, org, sample, seed):
    """ListRoots, ListParents, ListChildren, ListOrganizationalUnitsForParent,
    ListDelegatedAdministrators and ListAWSServiceAccessForOrganization page short too: a
    one-item answer may come after an empty page with a NextToken. Following NextToken gives
    exactly what the full answer gives."""
    root, prod = sample["root_id"], sample["ous"]["Root/Prod"]
    pci = sample["accounts"]["prod-eu-pci"]["id"]
    org.register_delegated_administrator(AccountId=sample["accounts"]["shared-services"]["id"],
                                         ServicePrincipal=STACKSETS)
    calls = [
        (org.list_roots, "Roots", {}),
        (org.list_parents, "Parents", {"ChildId": pci}),
        (org.list_parents, "Parents", {"ChildId": prod}),
        (org.list_children, "Children", {"ParentId": root, "ChildType": "ORGANIZATIONAL_UNIT"}),
        (org.list_organizational_units_for_parent, "OrganizationalUnits", {"ParentId": prod}),
        (org.list_accounts_for_parent, "Accounts", {"ParentId": sample["ous"]["Root/Staging"]}),
        (org.list_delegated_administrators, "DelegatedAdministrators", {"ServicePrincipal": STACKSETS}),
        (org.list_aws_service_access_for_organization, "EnabledServicePrincipals", {}),
    ]
    emu.post("/config", {"organizations_pages": "full"})
    want = [[x for items, _ in pages_of(c, k, **p) for x in items] for c, k, p in calls]
    assert [len(w) for w in want] == [1, 1, 1, 4, 2, 3, 1, 1]
    short(emu, seed)
    got = [pages_of(c, k, **p) for c, k, p in calls]
    assert [[x for items, _ in g for x in items] for g in got] == want
    for g in got:
        assert g[-1][1] is None and all(tok for _, tok in g[:-1])


def test_some_seed_gives_an_empty_first_page_of_a_one_item_list(emu, org, sample):
    """The case a reader that takes the first page's first item gets wrong: ListParents (and
    ListRoots) answering an empty page with a NextToken, the parent on the next page."""
    pci = sample["accounts"]["prod-eu-pci"]["id"]
    empty_first = []
    for seed in range(10):
        short(emu, seed)
        first = org.list_parents(ChildId=pci)
        if not first["Parents"]:
            assert first.get("NextToken")
            rest = pages_of(org.list_parents, "Parents", ChildId=pci)
            assert [p["Id"] for items, _ in rest for p in items] == [sample["ous"]["Root/Prod/EU/Payments/PCI"]]
            empty_first.append(seed)
    assert empty_first, "no seed in 0..9 gives an empty first page"


def test_short_pages_log_what_each_page_held(emu, org, sample):
    """The request log records each paged answer's item count and whether it had a
    NextToken, so a Rust test can show its reader went past an empty page."""
    short(emu, 1)
    emu.post("/requests/clear")
    pages = pages_of(org.list_accounts, "Accounts")
    logged = [r["page"] for r in emu.get("/requests")["requests"] if r["action"] == "ListAccounts"]
    assert logged == [{"items": len(i), "next_token": bool(t)} for i, t in pages]


@pytest.mark.parametrize("bad", ["shortish", None, 1])
def test_a_bad_organizations_pages_value_is_refused_naming_it(emu, bad):
    """The control endpoint refuses a pages mode it cannot play, naming the value and the fix."""
    with pytest.raises(AssertionError, match=r"organizations_pages .*use \\\"full\\\" or \\\"short\\\""):
        emu.post("/config", {"organizations_pages": bad})


def test_short_pages_keep_refusing_a_bad_token_and_max_results(emu, org, sample):
    """A NextToken of another listing and MaxResults outside 1..20 are still
    InvalidInputException (API reference: MaxResults 1..20) under short pages."""
    short(emu)
    with pytest.raises(ClientError) as e:
        org.list_parents(ChildId=sample["ous"]["Root/Prod"], NextToken="bm90LWEtdG9rZW4=")
    assert e.value.response["Error"]["Code"] == "InvalidInputException"
    with pytest.raises(ClientError) as e:
        org.list_parents(ChildId=sample["ous"]["Root/Prod"], MaxResults=21)
    assert e.value.response["Error"]["Code"] == "InvalidInputException"


# ----------------------------------------------------------------------------- holds


def test_a_held_call_waits_until_released_while_other_calls_go_on(emu, org, sample):
    """POST /hold {service, action, nth}: the nth matching call after it is logged at once
    and waits; other calls are answered meanwhile; POST /release lets it go on, and its log
    entry says which calls were logged before it went on (released_after_seq)."""
    hold = emu.post("/hold", {"service": "organizations", "action": "ListRoots", "nth": 2})
    assert hold["state"] == "armed"
    assert org.list_roots()["Roots"]  # the first ListRoots is not held
    answer = {}
    t = threading.Thread(target=lambda: answer.update(org.list_roots()))
    t.start()
    # The second waits: /held shows it waiting with its seq (polling a state, not an order).
    for _ in range(2000):
        held = emu.get("/held")["holds"]
        if held[0]["state"] == "waiting":
            break
        threading.Event().wait(0.005)
    assert held[0]["state"] == "waiting" and "Roots" not in answer
    org.describe_organization()  # the other side acts while the call waits
    assert emu.post("/release", {"id": hold["id"]})["released"] == [hold["id"]]
    t.join(30)
    assert answer["Roots"]
    log = emu.get("/requests")["requests"]
    held_entry = next(r for r in log if r.get("held") == hold["id"])
    other = next(r for r in log if r["action"] == "DescribeOrganization")
    assert held_entry["seq"] < other["seq"] <= held_entry["released_after_seq"]
    assert "hold_timed_out" not in held_entry
    assert emu.get("/held")["holds"][0]["state"] == "released"


def test_a_forgotten_hold_times_out_and_says_so(emu, org, sample):
    """A hold never released lets the call go on after timeout_seconds and marks the log
    entry, so a test that forgot to release fails on its assertions instead of hanging."""
    emu.post("/hold", {"service": "organizations", "action": "ListRoots", "timeout_seconds": 0.2})
    assert org.list_roots()["Roots"]
    entry = next(r for r in emu.get("/requests")["requests"] if r["action"] == "ListRoots")
    assert entry["hold_timed_out"] is True
    assert emu.get("/held")["holds"][0]["state"] == "timed_out"


@pytest.mark.parametrize(
    "bad,says",
    [
        ({"action": "ListRoots"}, "hold needs a service and an action"),
        ({"service": "organizations", "action": "ListRoots", "nth": 0}, "hold nth must be a whole number >= 1"),
        ({"service": "organizations", "action": "ListRoots", "timeout_seconds": -1}, "timeout_seconds must be a number > 0"),
    ],
)
def test_a_bad_hold_is_refused_naming_the_value(emu, bad, says):
    """The hold endpoint refuses what it cannot do, naming the bad value and the fix."""
    with pytest.raises(AssertionError, match=says):
        emu.post("/hold", bad)


def test_releasing_an_unknown_hold_is_a_404_naming_it(emu):
    with pytest.raises(AssertionError, match="404.*no hold 7"):
        emu.post("/release", {"id": 7})


def test_reset_releases_a_waiting_call(emu, org, sample):
    """/reset lets every held call go on (a test bed reset never leaves a thread waiting)."""
    emu.post("/hold", {"service": "organizations", "action": "ListRoots"})
    done = threading.Event()
    t = threading.Thread(target=lambda: (_try(org.list_roots), done.set()))
    t.start()
    for _ in range(2000):
        if emu.get("/held")["holds"] and emu.get("/held")["holds"][0]["state"] == "waiting":
            break
        threading.Event().wait(0.005)
    emu.post("/reset")
    t.join(30)
    assert done.is_set()
    assert emu.get("/held")["holds"] == []


def _try(call):
    try:
        return call()
    except ClientError:
        return None
