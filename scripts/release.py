#!/usr/bin/env python3
"""The release: build, package and (optionally) publish. Run it through scripts/release, which
installs the pinned tools first and runs this with .venv/sam's Python (PyYAML, boto3, and the
SAM CLI's CloudFormation YAML reader/writer).

Everything a release is made of is decided here, once:
- which binaries are Lambda functions: the template's functions with BuildMethod
  rust-cargolambda and BuildProperties.Binary (the same list `sam build` uses);
- the zip format (one `bootstrap`, fixed timestamp, order and mode);
- where each object lives in S3: s3://BUCKET/PREFIX/<version>/<file name in dist/>;
- the template rewrite (each function's CodeUri -> its zip in S3);
- the capabilities the template needs and the quick-create link.
tests/release imports this module rather than re-encoding any of it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.parse
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
SOURCE_TEMPLATE = ROOT / "template.yaml"
# Templates with no code, published as they are: the management account's companion of a
# deployment from a delegated administrator (README, "Deploy from a delegated administrator").
COMPANION_TEMPLATES = ("templates/management-account.yaml",)
# Its stack name in the quick-create link.
COMPANION_STACK_NAME = "port-aws-integration-management-account"

# Lambda quotas (Lambda developer guide, "Lambda quotas"): a deployment package uploaded
# directly is at most 50 MB zipped; any package is at most 250 MB unzipped.
MAX_ZIPPED_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024

# In the management account the stack must live in us-east-1 (Organizations events reach
# EventBridge only there; the template's Rules refuse any other region), and Lambda fetches
# code only from a bucket in the function's own region: the release bucket is in us-east-1.
# (From a delegated administrator the stack may run in another region of the template's rule
# DeployInADelegatedAdminRegion; outside us-east-1 it is built from source, see the README,
# "Deploy from a delegated administrator".)
REGION = "us-east-1"
# 1980-01-01 00:00:00 is the earliest time a zip entry can hold: the same for every build.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
ARM64_TRIPLE = "aarch64-unknown-linux-gnu"
X86_64_TRIPLE = "x86_64-unknown-linux-gnu"
CLI_BINARY = "orgscope"
# Where dist/template.yaml points when no location is given: deliberately NOT a valid bucket
# name (upper case), so such a template can never fetch code from somebody else's bucket.
PLACEHOLDER_LOCATION = "s3://SET-WITH-RELEASE-S3/port-aws-integration"
# Files of the repository published next to the template (SAR needs README and LICENSE in S3).
DOC_FILES = ("README.md", "LICENSE")


class ReleaseError(Exception):
    """A release cannot be made as asked; the message says what to change."""


# ----------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Location:
    bucket: str
    prefix: str  # without leading or trailing slash; may be empty

    @classmethod
    def parse(cls, uri: str) -> "Location":
        m = re.fullmatch(r"s3://([^/]+)/?(.*)", uri.strip())
        if not m:
            raise ReleaseError(
                f"{uri!r} is not an S3 location: give s3://BUCKET/PREFIX, for example "
                "s3://my-releases-us-east-1/port-aws-integration"
            )
        return cls(m.group(1), m.group(2).strip("/"))

    def key(self, version: str, name: str) -> str:
        return "/".join(p for p in (self.prefix, version, name) if p)

    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def https_url(self, key: str) -> str:
        """The object's URL as CloudFormation's TemplateURL takes it (us-east-1)."""
        quoted = urllib.parse.quote(key)
        if "." in self.bucket:  # virtual-hosted URLs break TLS for dotted bucket names
            return f"https://s3.{REGION}.amazonaws.com/{self.bucket}/{quoted}"
        return f"https://{self.bucket}.s3.{REGION}.amazonaws.com/{quoted}"


@dataclass(frozen=True)
class Function:
    logical_id: str
    binary: str

    @property
    def zip_name(self) -> str:
        return f"{self.binary}.zip"


def version() -> str:
    """The release version: the workspace's package version (Cargo.toml), the one place it lives."""
    data = tomllib.loads((ROOT / "Cargo.toml").read_text())
    return data["workspace"]["package"]["version"]


# The stack name the quick-create link proposes (the user may change it on the page; the
# template builds no resource name from it).
DEFAULT_STACK_NAME = "port-aws-integration"


def default_stack_name() -> str:
    return DEFAULT_STACK_NAME


def load_template(path: pathlib.Path = SOURCE_TEMPLATE) -> dict:
    from samcli.yamlhelper import yaml_parse

    return yaml_parse(path.read_text())


def functions(template: dict) -> list[Function]:
    """The template's Rust functions, as `sam build` finds them (BuildMethod rust-cargolambda)."""
    out = []
    for logical_id, res in template["Resources"].items():
        meta = res.get("Metadata") or {}
        if res.get("Type") == "AWS::Serverless::Function" and meta.get("BuildMethod") == "rust-cargolambda":
            binary = (meta.get("BuildProperties") or {}).get("Binary")
            if not binary:
                raise ReleaseError(f"template.yaml: {logical_id} has BuildMethod rust-cargolambda but no BuildProperties.Binary")
            out.append(Function(logical_id, binary))
    if not out:
        raise ReleaseError("template.yaml has no function with BuildMethod rust-cargolambda: nothing to package")
    return out


def cli_artifacts() -> dict[str, str]:
    """dist/ name -> target triple of the orgscope builds."""
    return {f"{CLI_BINARY}-linux-arm64": ARM64_TRIPLE, f"{CLI_BINARY}-linux-x86_64": X86_64_TRIPLE}


def capabilities(template: dict) -> list[str]:
    """The capabilities CloudFormation needs acknowledged for this template (CreateStack
    reference, "Capabilities"): IAM resources -> CAPABILITY_IAM; IAM resources with custom names
    -> CAPABILITY_NAMED_IAM; a Transform (macro) -> CAPABILITY_AUTO_EXPAND."""
    named = {
        "AWS::IAM::Role": "RoleName",
        "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
        "AWS::IAM::User": "UserName",
        "AWS::IAM::Group": "GroupName",
        "AWS::IAM::InstanceProfile": "InstanceProfileName",
    }
    iam = named_iam = False
    for res in template["Resources"].values():
        kind = res.get("Type", "")
        props = res.get("Properties") or {}
        # A SAM function without an explicit Role gets an IAM role from the transform.
        if kind.startswith("AWS::IAM::") or (kind == "AWS::Serverless::Function" and "Role" not in props):
            iam = True
        if kind in named and named[kind] in props:
            named_iam = True
    caps = []
    if iam:
        caps.append("CAPABILITY_IAM")
    if named_iam:
        caps.append("CAPABILITY_NAMED_IAM")
    if template.get("Transform"):
        caps.append("CAPABILITY_AUTO_EXPAND")
    return caps


def quick_create_link(template_url: str, stack_name: str) -> str:
    query = urllib.parse.urlencode({"templateURL": template_url, "stackName": stack_name})
    return f"https://{REGION}.console.aws.amazon.com/cloudformation/home?region={REGION}#/stacks/quickcreate?{query}"


def packaged_template(template: dict, loc: Location, ver: str) -> dict:
    """template.yaml as the console deploys it: each Rust function's code is its zip in S3, the
    build-only settings are gone, and the SAR metadata points at the published README/LICENSE."""
    out = _copy(template)
    glob = (out.get("Globals") or {}).get("Function") or {}
    glob.pop("CodeUri", None)
    for fn in functions(template):
        res = out["Resources"][fn.logical_id]
        meta = res["Metadata"]
        meta.pop("BuildMethod", None)
        meta.pop("BuildProperties", None)
        if not meta:
            res.pop("Metadata")
        res["Properties"]["CodeUri"] = OrderedDict(Bucket=loc.bucket, Key=loc.key(ver, fn.zip_name))
    sar = (out.get("Metadata") or {}).get("AWS::ServerlessRepo::Application")
    if sar is not None:
        sar["SemanticVersion"] = ver
        for field, name in (("ReadmeUrl", "README.md"), ("LicenseUrl", "LICENSE")):
            if field in sar:
                sar[field] = f"s3://{loc.bucket}/{loc.key(ver, name)}"
    return out


def _copy(node: Any) -> Any:
    if isinstance(node, dict):
        return OrderedDict((k, _copy(v)) for k, v in node.items())
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


def render_template(template: dict, loc: Location, ver: str) -> str:
    from samcli.yamlhelper import yaml_dump

    header = (
        f"# Generated by scripts/release from template.yaml, version {ver}: do not edit.\n"
        f"# Function code: {loc.uri()}/{ver}/ (see SHA256SUMS next to this file).\n"
    )
    return header + yaml_dump(packaged_template(template, loc, ver))


def write_zip(binary: pathlib.Path, out: pathlib.Path) -> None:
    """A Lambda bundle holding exactly one executable `bootstrap`. Same bytes in, same zip out:
    fixed timestamp, one entry, Unix mode 0755, fixed compression level."""
    info = zipfile.ZipInfo("bootstrap", date_time=ZIP_EPOCH)
    info.create_system = 3  # Unix, so external_attr's mode is honoured
    info.external_attr = (0o100755 & 0xFFFF) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    tmp = out.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w") as z:
        z.writestr(info, binary.read_bytes(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    tmp.replace(out)


def sha256(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_sums(path: pathlib.Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        digest, name = line.split("  ", 1)
        out[name] = digest
    return out


# ----------------------------------------------------------------------------- build


def target_dir() -> pathlib.Path:
    if os.environ.get("CARGO_TARGET_DIR"):
        return pathlib.Path(os.environ["CARGO_TARGET_DIR"]).resolve()
    return ROOT / "target"


def cargo_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{ROOT / '.venv' / 'sam' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["RUSTUP_TOOLCHAIN"] = env.get("RUST_TOOLCHAIN", "1.95.0")
    return env


# The x86_64 orgscope build has its own target directory: cargo locks a target directory for
# the whole build (host artifacts included), and with its own the two builds run side by side.
X86_64_TARGET_SUBDIR = "release-x86_64"


def build(fns: list[Function]) -> float:
    """Compiles the function binaries and orgscope for arm64, and orgscope for x86_64, with
    cargo-lambda (zig links against an old glibc: the binaries run on provided.al2023 and on
    common Linux distributions), both builds at once. Returns the seconds taken.

    The arm64 command is the one `sam build` runs for each function (rust-cargolambda:
    `cargo lambda build --release --arm64 --bin X` in the workspace, target/), so a later
    `sam build` reuses these outputs instead of compiling again."""
    arm = ["cargo", "lambda", "build", "--release", "--arm64"]
    for b in [f.binary for f in fns] + [CLI_BINARY]:
        arm += ["--bin", b]
    x86 = ["cargo", "lambda", "build", "--release", "--x86-64", "--bin", CLI_BINARY]
    # (cargo-lambda 1.9.2 passes --target-dir on to `cargo metadata`, which rejects it: the
    # environment variable it is.)
    x86_env = dict(cargo_env(), CARGO_TARGET_DIR=str(target_dir() / X86_64_TARGET_SUBDIR))
    started = time.monotonic()
    procs = []
    for cmd, env in ((arm, cargo_env()), (x86, x86_env)):
        print("release: $ " + " ".join(cmd), file=sys.stderr, flush=True)
        procs.append((cmd, subprocess.Popen(["nice", "-n", "10", *cmd], cwd=ROOT, env=env)))
    failed = [cmd for cmd, proc in procs if proc.wait() != 0]
    if failed:
        raise ReleaseError("the build failed: " + "; ".join(" ".join(c) for c in failed) + " (see the compiler output above)")
    return time.monotonic() - started


def binary_path(triple: str, name: str) -> pathlib.Path:
    """Where cargo-lambda leaves a built binary: it moves it to <target>/lambda/<name>/bootstrap
    (the file `sam build` copies too)."""
    base = target_dir() / X86_64_TARGET_SUBDIR if triple == X86_64_TRIPLE else target_dir()
    return base / "lambda" / name / "bootstrap"


def package(fns: list[Function], loc: Location, ver: str) -> dict[str, str]:
    """Writes dist/ from the built binaries; returns {dist name: sha256}."""
    DIST.mkdir(exist_ok=True)
    names = []
    for fn in fns:
        src = binary_path(ARM64_TRIPLE, fn.binary)
        if not src.is_file():
            raise ReleaseError(f"{src} is missing: run scripts/release without --no-build first")
        write_zip(src, DIST / fn.zip_name)
        names.append(fn.zip_name)
    for name, triple in cli_artifacts().items():
        src = binary_path(triple, CLI_BINARY)
        if not src.is_file():
            raise ReleaseError(f"{src} is missing: run scripts/release without --no-build first")
        shutil.copyfile(src, DIST / name)
        os.chmod(DIST / name, 0o755)
        names.append(name)
    (DIST / "template.yaml").write_text(render_template(load_template(), loc, ver))
    names.append("template.yaml")
    for rel_path in COMPANION_TEMPLATES:
        src = ROOT / rel_path
        shutil.copyfile(src, DIST / src.name)
        names.append(src.name)
    sums = {n: sha256(DIST / n) for n in sorted(names)}
    (DIST / "SHA256SUMS").write_text("".join(f"{d}  {n}\n" for n, d in sums.items()))
    return sums


# ----------------------------------------------------------------------------- upload


def s3_client():
    import boto3

    # boto3 honours AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_S3) by itself. Path-style keeps
    # dotted bucket names and local endpoints working.
    from botocore.config import Config

    return boto3.client("s3", region_name=REGION, config=Config(s3={"addressing_style": "path"}))


CONTENT_TYPES = {".zip": "application/zip", ".yaml": "application/x-yaml", ".md": "text/markdown"}


def upload_plan(loc: Location, ver: str) -> list[tuple[pathlib.Path, str]]:
    """(local file, S3 key) for everything a release publishes."""
    files = sorted(p.name for p in DIST.iterdir() if p.is_file() and not p.name.endswith(".tmp"))
    plan = [(DIST / n, loc.key(ver, n)) for n in files]
    plan += [(ROOT / n, loc.key(ver, n)) for n in DOC_FILES]
    return plan


def upload(loc: Location, ver: str) -> None:
    from botocore.exceptions import ClientError

    s3 = s3_client()
    try:
        where = s3.get_bucket_location(Bucket=loc.bucket).get("LocationConstraint") or "us-east-1"
    except ClientError as e:
        raise ReleaseError(
            f"cannot use bucket {loc.bucket!r}: {e.response['Error'].get('Message') or e}. Create it in "
            f"{REGION} (aws s3 mb s3://{loc.bucket} --region {REGION}) or check your credentials."
        ) from e
    if where != REGION:
        raise ReleaseError(
            f"bucket {loc.bucket!r} is in {where}, but Lambda reads function code only from a bucket in the "
            f"function's region, and this stack deploys only in {REGION}: use a bucket in {REGION}."
        )
    for path, key in upload_plan(loc, ver):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        try:
            published = s3.head_object(Bucket=loc.bucket, Key=key).get("Metadata", {}).get("sha256")
        except ClientError:
            published = None
        if published is not None and published != digest and path.parent == DIST:
            raise ReleaseError(
                f"s3://{loc.bucket}/{key} is already published with different content: a published version is "
                f"immutable (stacks deployed from it keep pointing there). Bump the version in Cargo.toml "
                f"([workspace.package] version = \"{ver}\") and release again."
            )
        ctype = CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        s3.put_object(Bucket=loc.bucket, Key=key, Body=data, ContentType=ctype, Metadata={"sha256": digest})
        print(f"release: uploaded s3://{loc.bucket}/{key} ({len(data):,} bytes)", file=sys.stderr)


# ----------------------------------------------------------------------------- main


def human(n: int) -> str:
    return f"{n / (1024 * 1024):.2f} MiB ({n:,} bytes)"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="scripts/release", description=__doc__.split("\n\n")[0])
    p.add_argument("--upload", metavar="s3://BUCKET/PREFIX", help="publish dist/ to s3://BUCKET/PREFIX/<version>/")
    p.add_argument("--s3", metavar="s3://BUCKET/PREFIX", help="point dist/template.yaml there without uploading")
    p.add_argument("--no-build", action="store_true", help="re-package the binaries already in target/")
    p.add_argument("--stack-name", default=None, help=f"stack name in the quick-create link (default: {DEFAULT_STACK_NAME})")
    args = p.parse_args(argv)
    try:
        if args.upload and args.s3 and Location.parse(args.upload) != Location.parse(args.s3):
            raise ReleaseError("--upload and --s3 name different locations: give one of them")
        uri = args.upload or args.s3 or os.environ.get("RELEASE_S3") or PLACEHOLDER_LOCATION
        loc = Location.parse(uri)
        ver = version()
        template = load_template()
        fns = functions(template)
        seconds = None if args.no_build else build(fns)
        sums = package(fns, loc, ver)
        print(f"release {ver}: dist/ (template code location {loc.uri()}/{ver}/)")
        if seconds is not None:
            print(f"  build time (cargo lambda, arm64 + x86_64): {seconds:.1f} s")
        for name in sums:
            print(f"  {name:28} {human((DIST / name).stat().st_size)}  sha256 {sums[name][:16]}…")
        if uri == PLACEHOLDER_LOCATION:
            print("  note: no --upload / --s3 / RELEASE_S3 given: dist/template.yaml points at a placeholder bucket")
        if args.upload:
            upload(loc, ver)
            template_url = loc.https_url(loc.key(ver, "template.yaml"))
            stack = args.stack_name or default_stack_name()
            print(f"Template URL: {template_url}")
            print(f"Quick-create link (us-east-1): {quick_create_link(template_url, stack)}")
            print(f"Capabilities to acknowledge on that page: {', '.join(capabilities(template))}")
            for rel_path in COMPANION_TEMPLATES:
                name = pathlib.Path(rel_path).name
                url = loc.https_url(loc.key(ver, name))
                print(f"Companion template URL ({name}): {url}")
                print(f"Companion quick-create link (us-east-1, management account): {quick_create_link(url, COMPANION_STACK_NAME)}")
                companion_caps = capabilities(load_template(ROOT / rel_path))
                print(f"Companion capabilities to acknowledge: {', '.join(companion_caps)}")
        return 0
    except ReleaseError as e:
        print(f"release: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
