"""Organizations: tree helpers over moto's backend, AWS-like pagination, fixtures.

moto's Organizations model is good; what this module adds:
- the list actions page like AWS (default ``org_page_size`` = 20, ``MaxResults`` honoured,
  ``NextToken``), where moto returns everything (ListChildren, ListRoots) or pages of 100
  (ListAccounts);
- CloseAccount passes through ``PENDING_CLOSURE`` before ``SUSPENDED``;
- fast fixture builders that construct moto's model objects directly.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from typing import Any, Callable

from moto.core import DEFAULT_ACCOUNT_ID
from moto.organizations import utils as org_utils
from moto.organizations.models import (
    FakeAccount,
    FakeDelegatedAdministrator,
    FakeOrganizationalUnit,
    FakeRoot,
    organizations_backends,
)

STACKSETS_PRINCIPAL = "member.org.stacksets.cloudformation.amazonaws.com"
ORG_TARGET_PREFIX = "AWSOrganizationsV20161128."

# moto 5.2.5 refuses this principal in RegisterDelegatedAdministrator ("unrecognized service
# principal"); AWS documents it (CloudFormation User Guide, "Register a delegated
# administrator": `aws organizations register-delegated-administrator --service-principal
# member.org.stacksets.cloudformation.amazonaws.com --account-id ...`).
if STACKSETS_PRINCIPAL not in FakeDelegatedAdministrator.SUPPORTED_SERVICES:
    FakeDelegatedAdministrator.SUPPORTED_SERVICES.append(STACKSETS_PRINCIPAL)


def backend(account_id: str = DEFAULT_ACCOUNT_ID):
    return organizations_backends[account_id]["aws"]


def org_backend_for(account_id: str = DEFAULT_ACCOUNT_ID):
    """The backend holding the organization the account belongs to (or None)."""
    be = backend(account_id)
    if be.org is not None:
        return be
    owner = organizations_backends.master_accounts.get(account_id)
    if owner:
        be = organizations_backends[owner[0]][owner[1]]
        if be.org is not None:
            return be
    return None


class OrgError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# --------------------------------------------------------------------------- tree


class Tree:
    """A snapshot index of the organization tree."""

    def __init__(self, be):
        self.be = be
        self.org = be.org
        self.root_id = be.org.root_id if be.org else None
        self.ou_parent: dict[str, str | None] = {}
        self.ou_children: dict[str, list[str]] = {}
        for ou in be.ou:
            self.ou_parent[ou.id] = None if isinstance(ou, FakeRoot) else ou.parent_id
            self.ou_children.setdefault(ou.id, [])
        for ou in be.ou:
            p = self.ou_parent[ou.id]
            if p is not None:
                self.ou_children.setdefault(p, []).append(ou.id)
        self.accounts = {a.id: a for a in be.accounts}
        self.accounts_by_parent: dict[str, list[str]] = {}
        for a in be.accounts:
            self.accounts_by_parent.setdefault(a.parent_id, []).append(a.id)

    @property
    def management_account_id(self) -> str | None:
        return self.org.master_account_id if self.org else None

    def exists(self, parent_id: str) -> bool:
        return parent_id in self.ou_parent

    def subtree_ous(self, ou_id: str) -> list[str]:
        out, stack = [], [ou_id]
        while stack:
            cur = stack.pop()
            out.append(cur)
            stack.extend(self.ou_children.get(cur, []))
        return out

    def accounts_under(self, ou_id: str) -> list[str]:
        """All accounts in the OU and every descendant OU, recursively."""
        out: list[str] = []
        for o in self.subtree_ous(ou_id):
            out.extend(self.accounts_by_parent.get(o, []))
        return out

    def ancestors(self, node_parent: str | None) -> list[str]:
        """Chain from the given parent up to the root (inclusive), nearest first."""
        out = []
        cur = node_parent
        while cur is not None:
            out.append(cur)
            cur = self.ou_parent.get(cur)
        return out

    def account_ancestors(self, account_id: str) -> list[str]:
        acct = self.accounts.get(account_id)
        return self.ancestors(acct.parent_id) if acct else []

    def account_state(self, account_id: str) -> str | None:
        acct = self.accounts.get(account_id)
        return getattr(acct, "state", None) if acct else None


# --------------------------------------------------------------------------- pagination

PAGED_ACTIONS = {
    "ListAccountsForParent",
    "ListOrganizationalUnitsForParent",
    "ListChildren",
    "ListAccounts",
    "ListRoots",
}


# Organizations List calls under ``organizations_pages: "short"``: the moto-answered ones whose
# whole answer the layer re-pages (moto 5.2.5 pages none of them), with the key of their list.
REPAGED_ACTIONS = {
    "ListParents": "Parents",
    "ListDelegatedAdministrators": "DelegatedAdministrators",
    "ListAWSServiceAccessForOrganization": "EnabledServicePrincipals",
    "ListDelegatedServicesForAccount": "DelegatedServices",
}

PAGES_MODES = ("full", "short")


def _token(action: str, key: str, offset: int, page: int = 0, empties: int = 0) -> str:
    data: dict[str, Any] = {"a": action, "k": key, "o": offset}
    if page:
        data.update({"n": page, "e": empties})
    raw = json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _position(action: str, key: str, token: str | None) -> tuple[int, int, int]:
    """(offset, page number, empty pages in a row just before) that a NextToken stands for."""
    if not token:
        return 0, 0, 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["a"] == action and data["k"] == key:
            return int(data["o"]), int(data.get("n", 0)), int(data.get("e", 0))
    except Exception:
        pass
    raise OrgError("InvalidInputException", "You specified an invalid value for nextToken.")


def _offset(action: str, key: str, token: str | None) -> int:
    return _position(action, key, token)[0]


# At most this many empty pages in a row (then a page holds at least one item), so that a
# reader that pages until NextToken is null always gets to the end.
MAX_EMPTY_RUN = 2


def short_page(items: list, size: int, action: str, key: str, token: str | None, seed: int) -> tuple[list, str | None]:
    """One page of `items` as AWS may answer it. AWS Organizations API reference, every List
    call (ListAccounts, ListAccountsForParent, ListChildren, ListParents, ...): "Always check
    the NextToken response parameter for a null value when calling a List* operation. These
    operations can occasionally return an empty set of results even when there are more
    results available. The NextToken response parameter value is null only when there are no
    more results to display."; and of MaxResults: "Note that Organizations might return fewer
    results than the maximum even when there are more results available. You should check
    NextToken after every operation to ensure that you receive all of the results."

    The page holds fewer items than `size` (a random count, one at least when `size` is 1),
    or none, with a NextToken while items are left; now and then an empty page with a
    NextToken follows the last items. The last page has no NextToken. Deterministic: the same
    (seed, action, key, token) gives the same page, so a retried call sees the same answer."""
    offset, page, empties = _position(action, key, token)
    rng = random.Random(f"{seed}:{action}:{key}:{offset}:{page}")
    if empties < MAX_EMPTY_RUN and rng.random() < 0.3:
        count = 0
    else:
        count = rng.randint(1, max(1, size - 1))
    chunk = items[offset : offset + count]
    end = offset + len(chunk)
    run = 0 if chunk else empties + 1
    if end < len(items):
        return chunk, _token(action, key, end, page + 1, run)
    # All items given: an empty page with a NextToken may still follow (a reader must go on
    # to it, and stop only at the page without a NextToken).
    if run < MAX_EMPTY_RUN and rng.random() < 0.25:
        return chunk, _token(action, key, end, page + 1, run)
    return chunk, None


_cache: dict[str, Any] = {"gen": 0, "key": None, "index": None}
_cache_lock = threading.Lock()


def invalidate() -> None:
    """Forget the cached tree index (call after anything that may change the tree)."""
    with _cache_lock:
        _cache["gen"] += 1


def _index(be) -> dict[str, Any]:
    """parent -> children, cached until invalidate() (mutations go through the layer)."""
    with _cache_lock:
        key = (_cache["gen"], id(be), len(be.accounts), len(be.ou))
        if _cache["key"] == key:
            return _cache["index"]
        accounts_by_parent: dict[str, list] = {}
        for a in sorted(be.accounts, key=lambda a: (a.create_time, a.id)):
            accounts_by_parent.setdefault(a.parent_id, []).append(a)
        ous_by_parent: dict[str, list] = {}
        roots = []
        for o in be.ou:
            if isinstance(o, FakeRoot):
                roots.append(o)
            else:
                ous_by_parent.setdefault(o.parent_id, []).append(o)
        idx = {
            "accounts": sorted(be.accounts, key=lambda a: (a.create_time, a.id)),
            "accounts_by_parent": accounts_by_parent,
            "ous_by_parent": ous_by_parent,
            "parents": {o.id for o in be.ou},
            "roots": roots,
        }
        _cache["key"], _cache["index"] = key, idx
        return idx


def _max_results(params: dict[str, Any]) -> int | None:
    max_results = params.get("MaxResults")
    if max_results is None:
        return None
    try:
        max_results = int(max_results)
    except (TypeError, ValueError):
        raise OrgError("InvalidInputException", "You specified an invalid value for maxResults.")
    if max_results < 1 or max_results > 20:
        raise OrgError("InvalidInputException", "You specified an invalid value for maxResults.")
    return max_results


def paged_list(action: str, params: dict[str, Any], page_size: int, account_id: str,
               mode: str = "full", seed: int = 0) -> dict | None:
    """Answer a list action with AWS-sized pages, or None to let moto answer (errors etc.).
    `mode` "short" (config `organizations_pages`): pages as `short_page` makes them."""
    be = backend(account_id)
    if be.org is None:
        return None
    max_results = _max_results(params)
    size = min(max_results, page_size) if max_results else page_size
    idx = _index(be)
    parent = params.get("ParentId")
    key = ""
    if action == "ListRoots":
        items = idx["roots"]
        result_key = "Roots"
    elif action == "ListAccounts":
        items = idx["accounts"]
        result_key = "Accounts"
    else:
        if not parent or parent not in idx["parents"]:
            return None  # moto answers ParentNotFoundException
        key = parent
        if action == "ListAccountsForParent":
            items = idx["accounts_by_parent"].get(parent, [])
            result_key = "Accounts"
        elif action == "ListOrganizationalUnitsForParent":
            items = idx["ous_by_parent"].get(parent, [])
            result_key = "OrganizationalUnits"
        else:  # ListChildren
            ctype = params.get("ChildType")
            if ctype == "ACCOUNT":
                items = idx["accounts_by_parent"].get(parent, [])
            elif ctype == "ORGANIZATIONAL_UNIT":
                items = idx["ous_by_parent"].get(parent, [])
            else:
                return None
            key = f"{parent}/{ctype}"
            result_key = "Children"
    if mode == "short":
        page, next_token = short_page(items, size, action, key, params.get("NextToken"), seed)
    else:
        start = _offset(action, key, params.get("NextToken"))
        page = items[start : start + size]
        next_token = _token(action, key, start + size) if start + size < len(items) else None
    out_items: list[Any] = []
    for it in page:
        if result_key == "Roots":
            out_items.append(it.describe())
        elif result_key == "Accounts":
            out_items.append(it.describe())
        elif result_key == "OrganizationalUnits":
            out_items.append({"Id": it.id, "Arn": it.arn, "Name": it.name})
        else:
            out_items.append({"Id": it.id, "Type": params["ChildType"]})
    out: dict[str, Any] = {result_key: out_items}
    if next_token is not None:
        out["NextToken"] = next_token
    return out


def repage(action: str, params: dict[str, Any], answer: dict[str, Any], page_size: int, seed: int) -> dict[str, Any]:
    """Short pages (`short_page`) of moto's whole answer to a REPAGED_ACTIONS call."""
    result_key = REPAGED_ACTIONS[action]
    max_results = _max_results(params)
    size = min(max_results, page_size) if max_results else page_size
    key = str(params.get("ChildId") or params.get("ServicePrincipal") or params.get("AccountId") or "")
    items = list(answer.get(result_key) or [])
    page, next_token = short_page(items, size, action, key, params.get("NextToken"), seed)
    out = {k: v for k, v in answer.items() if k not in (result_key, "NextToken")}
    out[result_key] = page
    if next_token is not None:
        out["NextToken"] = next_token
    return out


# --------------------------------------------------------------------------- model helpers


def set_account_state(account_id: str, state: str) -> None:
    be = org_backend_for(account_id)
    if be is None:
        raise OrgError("AccountNotFoundException", f"Account {account_id} is not in an organization")
    acct = next((a for a in be.accounts if a.id == account_id), None)
    if acct is None:
        raise OrgError("AccountNotFoundException", f"Account {account_id} not found")
    state = state.upper()
    if state not in ("PENDING_ACTIVATION", "ACTIVE", "SUSPENDED", "PENDING_CLOSURE", "CLOSED"):
        raise OrgError("InvalidInputException", f"Unknown account state {state}")
    acct.state = state
    # Deprecated Status field: ACTIVE | SUSPENDED | PENDING_CLOSURE
    acct.status = {"CLOSED": "SUSPENDED", "PENDING_ACTIVATION": "ACTIVE"}.get(state, state)


def _attach_default_policies(be, target) -> None:
    for pid in (org_utils.DEFAULT_SCP_POLICY_ID, org_utils.DEFAULT_RCP_POLICY_ID):
        pol = next((p for p in be.policies if p.id == pid), None)
        if pol is not None and pol not in target.attached_policies:
            target.attached_policies.append(pol)
            pol.attachments.append(target)


def ensure_org(account_id: str = DEFAULT_ACCOUNT_ID, region: str = "us-east-1"):
    be = backend(account_id)
    if be.org is None:
        be.create_organization(region=region, FeatureSet="ALL")
    return be


def fast_account(be, name: str, email: str, parent_id: str, account_id: str, state: str = "ACTIVE",
                 created: Any = None) -> FakeAccount:
    """Construct a moto FakeAccount without the per-account IAM role moto creates (fast)."""
    from moto.core.utils import utcnow

    acct = FakeAccount.__new__(FakeAccount)
    org = be.org
    acct.type = "ACCOUNT"
    acct.region = org.region
    acct.organization_id = org.id
    acct.master_account_id = org.master_account_id
    acct.create_account_status_id = org_utils.make_random_create_account_status_id()
    acct.id = account_id
    acct.name = name
    acct.email = email
    acct.create_time = created or utcnow()
    acct.status = "ACTIVE"
    acct.state = "ACTIVE"
    acct.joined_method = "CREATED"
    acct.parent_id = parent_id
    acct.attached_policies = []
    acct.tags = {}
    be.accounts.append(acct)
    _attach_default_policies(be, acct)
    organizations_backends.master_accounts[account_id] = (be.account_id, be.partition)
    if state != "ACTIVE":
        acct.state = state
        acct.status = {"CLOSED": "SUSPENDED", "PENDING_ACTIVATION": "ACTIVE"}.get(state, state)
    return acct


def fast_ou(be, name: str, parent_id: str) -> FakeOrganizationalUnit:
    ou = FakeOrganizationalUnit(be.org, Name=name, ParentId=parent_id)
    be.ou.append(ou)
    _attach_default_policies(be, ou)
    return ou


def enable_trusted_access(be) -> None:
    be.enable_aws_service_access(ServicePrincipal=STACKSETS_PRINCIPAL)


def delegated_services(be, account_id: str) -> set[str]:
    """The service principals `account_id` is a registered delegated administrator for
    (moto's RegisterDelegatedAdministrator state)."""
    if be is None:
        return set()
    return {s for a in be.admins if a.account.id == account_id for s in a.services}


def is_stacksets_delegated_admin(be, account_id: str) -> bool:
    return STACKSETS_PRINCIPAL in delegated_services(be, account_id)


def member_read(action: str | None) -> bool:
    """The Organizations reads AWS allows only "from the organization's management account or
    by a member account that is a delegated administrator" (AWS Organizations API reference,
    e.g. ListAccounts, ListRoots, ListOrganizationalUnitsForParent, ListAccountsForParent,
    ListParents, ListChildren, DescribeAccount, DescribeOrganizationalUnit,
    ListAWSServiceAccessForOrganization, ListDelegatedAdministrators). DescribeOrganization
    "can be called from any account in the organization"."""
    return bool(action) and action.startswith(("List", "Describe")) and action != "DescribeOrganization"


# AWS Organizations' answer to a member account that may not call a read:
# AccessDeniedException (API reference, Errors: "You don't have permissions to perform the
# requested operation. ..."). The message below is the layer's own wording; tests rely on the
# code only.
MEMBER_DENIED = "You don't have permissions to access this resource."


def trusted_access_enabled(be) -> bool:
    return be is not None and any(s["ServicePrincipal"] == STACKSETS_PRINCIPAL for s in be.services)


def describe_fixture(be, ou_paths: dict[str, str], accounts: dict[str, dict]) -> dict[str, Any]:
    return {
        "organization_id": be.org.id,
        "management_account_id": be.org.master_account_id,
        "root_id": be.org.root_id,
        "ous": ou_paths,
        "accounts": accounts,
    }


SAMPLE_TREE: list[tuple[str, list[str]]] = [
    # (OU path, account names directly in it)
    ("Root", ["sandbox-orphan"]),
    ("Root/Infrastructure", ["shared-services"]),
    ("Root/Prod", ["prod-web", "prod-data"]),
    ("Root/Prod/EU", ["prod-eu-1"]),
    ("Root/Prod/EU/Payments", ["prod-eu-payments"]),
    ("Root/Prod/EU/Payments/PCI", ["prod-eu-pci"]),
    ("Root/Prod/US", ["prod-us-1"]),
    ("Root/Staging", ["staging-1", "staging-2", "staging-suspended"]),
    ("Root/Sandbox", []),
]
SAMPLE_SUSPENDED = {"staging-suspended"}
# Account tags (issue 23), read only when a scope has a tag filter: env on the prod and
# staging accounts, except prod-eu-1 (a prod account nobody tagged); a team on the payments
# accounts; the opt-out tag on the PCI account. Untagged: prod-eu-1, shared-services,
# sandbox-orphan, staging-suspended and the management account.
SAMPLE_TAGS: dict[str, dict[str, str]] = {
    "prod-web": {"env": "prod"},
    "prod-data": {"env": "prod"},
    "prod-eu-payments": {"env": "prod", "team": "payments"},
    "prod-eu-pci": {"env": "prod", "team": "payments", "port:exclude": "true"},
    "prod-us-1": {"env": "prod"},
    "staging-1": {"env": "staging"},
    "staging-2": {"env": "staging"},
}
MANAGEMENT_NAME = "acme-management"
MANAGEMENT_OU = "Root/Infrastructure"


def build_sample(trusted_access: bool = True, account_id: str = DEFAULT_ACCOUNT_ID) -> dict[str, Any]:
    """The documented sample organization, built through moto's own create calls."""
    be = ensure_org(account_id)
    ou_paths = {"Root": be.org.root_id}
    accounts: dict[str, dict] = {}
    for path, names in SAMPLE_TREE:
        if path != "Root":
            parent_path, name = path.rsplit("/", 1)
            existing = next(
                (o for o in be.ou if o.name == name and o.parent_id == ou_paths[parent_path]), None
            )
            if existing is None:
                existing = FakeOrganizationalUnit(be.org, Name=name, ParentId=ou_paths[parent_path])
                be.ou.append(existing)
                _attach_default_policies(be, existing)
            ou_paths[path] = existing.id
        for name in names:
            existing = next((a for a in be.accounts if a.name == name), None)
            if existing is None:
                status = be.create_account(AccountName=name, Email=f"aws+{name}@acme-corp.example")
                existing = be.get_account_by_id(status["CreateAccountStatus"]["AccountId"])
            existing.parent_id = ou_paths[path]
            if name in SAMPLE_SUSPENDED:
                set_account_state(existing.id, "SUSPENDED")
            existing.tags = dict(SAMPLE_TAGS.get(name, {}))
            accounts[name] = {
                "id": existing.id,
                "ou_path": path,
                "state": existing.state,
                "tags": dict(existing.tags),
            }
    mgmt = be.get_account_by_id(be.org.master_account_id)
    mgmt.name = MANAGEMENT_NAME
    mgmt.parent_id = ou_paths[MANAGEMENT_OU]
    accounts[MANAGEMENT_NAME] = {"id": mgmt.id, "ou_path": MANAGEMENT_OU, "state": mgmt.state}
    if trusted_access:
        enable_trusted_access(be)
    return describe_fixture(be, ou_paths, accounts)


def build_generated(
    accounts: int = 2000,
    ous: int = 200,
    max_depth: int = 5,
    suspended_every: int = 37,
    seed: int = 1,
    trusted_access: bool = True,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> dict[str, Any]:
    """A large random (seeded) organization built directly from model objects."""
    from moto.core.utils import utcnow

    rng = random.Random(seed)
    be = ensure_org(account_id)
    root = be.org.root_id
    ou_paths: dict[str, str] = {"Root": root}
    nodes: list[tuple[str, str, int]] = [(root, "Root", 0)]  # (id, path, depth)
    for i in range(ous):
        candidates = [n for n in nodes if n[2] < max_depth]
        parent_id, parent_path, depth = rng.choice(candidates)
        name = f"unit-{i:05d}"
        ou = fast_ou(be, name, parent_id)
        path = f"{parent_path}/{name}"
        ou_paths[path] = ou.id
        nodes.append((ou.id, path, depth + 1))
    used = {a.id for a in be.accounts}
    out_accounts: dict[str, dict] = {}
    base = utcnow()
    import datetime as _dt

    for i in range(accounts):
        while True:
            aid = f"{rng.randrange(10**12):012d}"
            if aid not in used:
                used.add(aid)
                break
        parent_id, parent_path, _ = nodes[rng.randrange(len(nodes))]
        name = f"acct-{i:05d}"
        state = "SUSPENDED" if suspended_every and (i + 1) % suspended_every == 0 else "ACTIVE"
        fast_account(
            be, name, f"aws+{name}@acme-corp.example", parent_id, aid, state,
            created=base + _dt.timedelta(microseconds=i),
        )
        out_accounts[name] = {"id": aid, "ou_path": parent_path, "state": state}
    if trusted_access:
        enable_trusted_access(be)
    return describe_fixture(be, ou_paths, out_accounts)


# --------------------------------------------------------------------------- closure


class ClosureClock:
    """CloseAccount: PENDING_CLOSURE now, SUSPENDED after ``seconds``."""

    def __init__(self) -> None:
        self.pending: dict[str, float] = {}

    def started(self, account_id: str, seconds: float) -> None:
        try:
            set_account_state(account_id, "PENDING_CLOSURE")
        except OrgError:
            return
        self.pending[account_id] = time.time() + seconds

    def tick(self) -> None:
        now = time.time()
        for aid, due in list(self.pending.items()):
            if due <= now:
                self.pending.pop(aid, None)
                try:
                    set_account_state(aid, "SUSPENDED")
                except OrgError:
                    pass

    def clear(self) -> None:
        self.pending.clear()
