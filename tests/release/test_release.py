"""The release a platform engineer deploys from the console: what dist/ holds, that the packaged
template is template.yaml with only the code location changed, and that --upload publishes
exactly what the template and the quick-create link point at. Run by tests/release/check after
scripts/release has built dist/."""

from __future__ import annotations

import hashlib
import io
import os
import pathlib
import re
import subprocess
import urllib.parse
import zipfile

import pytest
from conftest import ROOT, load

EM_AARCH64 = 183
EM_X86_64 = 62


def elf_machine(data: bytes) -> int:
    """e_machine of a 64-bit little-endian ELF executable (ELF header: magic, class, data,
    e_type EXEC or DYN at 16, e_machine at 18)."""
    assert data[:4] == b"\x7fELF", "not an ELF file"
    assert data[4] == 2, "not a 64-bit ELF"
    assert data[5] == 1, "not little-endian"
    assert int.from_bytes(data[16:18], "little") in (2, 3), "not an executable"
    return int.from_bytes(data[18:20], "little")


# ----------------------------------------------------------------------------- the bundles


def test_each_function_zip_holds_exactly_one_executable_bootstrap_for_arm64(rel, dist, source_template):
    for fn in rel.functions(source_template):
        with zipfile.ZipFile(dist / fn.zip_name) as z:
            infos = z.infolist()
            assert [i.filename for i in infos] == ["bootstrap"], fn.zip_name
            mode = infos[0].external_attr >> 16
            assert mode & 0o777 == 0o755 and mode & 0o170000 == 0o100000, f"{fn.zip_name}: mode {oct(mode)}"
            assert elf_machine(z.read("bootstrap")) == EM_AARCH64, f"{fn.zip_name}: not an aarch64 ELF"


def test_function_zips_are_within_lambdas_size_limits(rel, dist, source_template):
    for fn in rel.functions(source_template):
        path = dist / fn.zip_name
        with zipfile.ZipFile(path) as z:
            unzipped = sum(i.file_size for i in z.infolist())
        assert path.stat().st_size <= rel.MAX_ZIPPED_BYTES, f"{fn.zip_name}: {path.stat().st_size} bytes zipped"
        assert unzipped <= rel.MAX_UNZIPPED_BYTES, f"{fn.zip_name}: {unzipped} bytes unzipped"


def test_zipped_bootstrap_is_the_binary_built_for_arm64(rel, dist, source_template):
    for fn in rel.functions(source_template):
        built = rel.binary_path(rel.ARM64_TRIPLE, fn.binary).read_bytes()
        with zipfile.ZipFile(dist / fn.zip_name) as z:
            assert z.read("bootstrap") == built, fn.zip_name


def test_the_same_binary_gives_a_byte_identical_zip_whatever_its_file_time(rel, tmp_path):
    binary = tmp_path / "bootstrap-src"
    binary.write_bytes(b"\x7fELF" + bytes(range(256)) * 64)
    rel.write_zip(binary, tmp_path / "a.zip")
    os.utime(binary, (1_000_000_000, 1_000_000_000))
    binary.chmod(0o600)
    rel.write_zip(binary, tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.zip") as z:
        assert z.infolist()[0].date_time == rel.ZIP_EPOCH


def test_orgscope_is_built_for_linux_x86_64_and_arm64(rel, dist):
    want = {rel.ARM64_TRIPLE: EM_AARCH64, rel.X86_64_TRIPLE: EM_X86_64}
    names = rel.cli_artifacts()
    assert set(names.values()) == set(want)
    for name, triple in names.items():
        path = dist / name
        assert os.access(path, os.X_OK), f"{name} is not executable"
        assert elf_machine(path.read_bytes()[:64]) == want[triple], name


def test_sha256sums_lists_every_file_of_dist_with_its_hash(dist):
    sums = {}
    for line in (dist / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)  # the format `sha256sum -c` reads
        sums[name] = digest
    files = {p.name for p in dist.iterdir() if p.is_file() and p.name != "SHA256SUMS"}
    assert set(sums) == files
    for name, digest in sums.items():
        assert hashlib.sha256((dist / name).read_bytes()).hexdigest() == digest, name
    ok = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=dist, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr


# ----------------------------------------------------------------------------- the packaged template

BUILD_ONLY_METADATA = ("BuildMethod", "BuildProperties")


def test_the_management_account_companion_is_in_dist_unchanged_and_in_sha256sums(rel, dist):
    sums = (dist / "SHA256SUMS").read_text()
    for rel_path in rel.COMPANION_TEMPLATES:
        src = ROOT / rel_path
        shipped = dist / src.name
        assert shipped.read_bytes() == src.read_bytes(), f"dist/{src.name} differs from {rel_path}"
        digest = hashlib.sha256(src.read_bytes()).hexdigest()
        assert f"{digest}  {src.name}\n" in sums


def test_packaged_template_keeps_every_parameter_rule_condition_output_and_transform(source_template, dist_template):
    for section in ("AWSTemplateFormatVersion", "Transform", "Description", "Parameters", "Rules", "Conditions", "Outputs", "Mappings"):
        assert dist_template.get(section) == source_template.get(section), f"{section} differs from template.yaml"
    assert (
        dist_template["Metadata"]["AWS::CloudFormation::Interface"]
        == source_template["Metadata"]["AWS::CloudFormation::Interface"]
    )


def test_packaged_template_keeps_every_resource_and_policy_and_changes_only_the_code_location(
    rel, source_template, dist_template
):
    fns = {f.logical_id for f in rel.functions(source_template)}
    assert set(dist_template["Resources"]) == set(source_template["Resources"])
    for name, src in source_template["Resources"].items():
        out = dist_template["Resources"][name]
        if name not in fns:
            assert out == src, f"{name} differs from template.yaml"
            continue
        src_props = {k: v for k, v in src["Properties"].items() if k != "CodeUri"}
        out_props = {k: v for k, v in out["Properties"].items() if k != "CodeUri"}
        assert out_props == src_props, f"{name}: properties (policies included) differ from template.yaml"
        src_meta = {k: v for k, v in src.get("Metadata", {}).items() if k not in BUILD_ONLY_METADATA}
        assert out.get("Metadata", {}) == src_meta, f"{name}: metadata differs beyond the build settings"
        assert {k: v for k, v in out.items() if k not in ("Properties", "Metadata")} == {
            k: v for k, v in src.items() if k not in ("Properties", "Metadata")
        }
    src_globals = {k: v for k, v in source_template["Globals"]["Function"].items() if k != "CodeUri"}
    assert dist_template["Globals"]["Function"] == src_globals


def test_packaged_template_points_each_function_at_its_zip_in_s3(rel, source_template, dist_template, dist):
    text = (dist / "template.yaml").read_text()
    m = re.search(r"^# Function code: (s3://\S+)/([^/\s]+)/ ", text, re.M)
    assert m, "the packaged template names its code location in its header"
    loc, ver = rel.Location.parse(m.group(1)), m.group(2)
    assert ver == rel.version()
    assert "CodeUri" not in dist_template["Globals"]["Function"], "a local CodeUri would need a build step"
    for fn in rel.functions(source_template):
        res = dist_template["Resources"][fn.logical_id]
        assert res["Properties"]["CodeUri"] == {"Bucket": loc.bucket, "Key": loc.key(ver, fn.zip_name)}
        assert not set(BUILD_ONLY_METADATA) & set(res.get("Metadata", {})), fn.logical_id


def test_serverless_repo_metadata_is_complete_and_carries_the_release_version(rel, source_template, dist_template, dist):
    sar = source_template["Metadata"]["AWS::ServerlessRepo::Application"]
    # SAR's documented constraints (AWS SAM developer guide, "Metadata section properties").
    assert re.fullmatch(r"[a-zA-Z0-9-]{1,140}", sar["Name"])
    assert 1 <= len(sar["Description"]) <= 256
    assert re.fullmatch(r"[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?", sar["Author"]) and len(sar["Author"]) <= 127
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(sar["SemanticVersion"]))
    assert len(sar["Labels"]) <= 10 and all(re.fullmatch(r"[a-zA-Z0-9+\-_:/@]{1,127}", lb) for lb in sar["Labels"])
    for url in ("HomePageUrl", "SourceCodeUrl"):
        assert urllib.parse.urlparse(sar[url]).scheme == "https", url
    assert sar["SpdxLicenseId"] == "Apache-2.0" and (ROOT / sar["LicenseUrl"]).is_file()
    assert (ROOT / sar["ReadmeUrl"]).is_file()
    assert str(sar["SemanticVersion"]) == rel.version(), "template.yaml's SemanticVersion must equal Cargo.toml's version"
    out = dist_template["Metadata"]["AWS::ServerlessRepo::Application"]
    assert out["SemanticVersion"] == rel.version()
    assert out["ReadmeUrl"].startswith("s3://") and out["ReadmeUrl"].endswith("/README.md")
    assert out["LicenseUrl"].startswith("s3://") and out["LicenseUrl"].endswith("/LICENSE")


def test_the_template_needs_iam_named_iam_and_auto_expand_capabilities(rel, source_template):
    # Named roles (PortIntegrationRole-<id>) and the SAM transform.
    assert rel.capabilities(source_template) == ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
    without_names = {
        "Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {}}},
    }
    assert rel.capabilities(without_names) == ["CAPABILITY_IAM"]


def test_a_location_that_is_not_s3_is_refused_with_the_expected_form(rel):
    with pytest.raises(rel.ReleaseError, match=r"'my-bucket/x' is not an S3 location: give s3://BUCKET/PREFIX"):
        rel.Location.parse("my-bucket/x")
    assert rel.Location.parse("s3://b/p/q/") == rel.Location("b", "p/q")
    assert rel.Location.parse("s3://b").key("1.0.0", "t.yaml") == "1.0.0/t.yaml"


def test_sam_build_for_arm64_makes_the_bootstrap_the_release_zips(rel, source_template, dist):
    build_dir = os.environ.get("SAM_BUILD_DIR")
    assert build_dir, "tests/release/check runs `sam build` first and sets SAM_BUILD_DIR"
    for fn in rel.functions(source_template):
        built = pathlib.Path(build_dir, fn.logical_id, "bootstrap").read_bytes()
        assert elf_machine(built) == EM_AARCH64, fn.logical_id
        with zipfile.ZipFile(dist / fn.zip_name) as z:
            assert z.read("bootstrap") == built, f"{fn.logical_id}: sam build and scripts/release built different code"


# ----------------------------------------------------------------------------- --upload (emulator S3)


def run_release(aws_env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROOT / "scripts" / "release"), "--no-build", *args],
        cwd=ROOT, env=aws_env, capture_output=True, text=True, timeout=300,
    )


def printed(out: str, label: str) -> str:
    m = re.search(rf"^{re.escape(label)}: (\S+)$", out, re.M)
    assert m, f"scripts/release did not print {label!r}:\n{out}"
    return m.group(1)


def test_upload_puts_every_object_where_the_template_and_the_quick_create_link_say(
    rel, aws_env, s3, dist, source_template
):
    client = s3()
    client.create_bucket(Bucket="port-releases")
    run = run_release(aws_env, "--upload", "s3://port-releases/port-aws-integration")
    assert run.returncode == 0, run.stdout + run.stderr
    ver = rel.version()

    # The link opens the quick-create page in us-east-1 and decodes to the template URL.
    link = printed(run.stdout, "Quick-create link (us-east-1)")
    template_url = printed(run.stdout, "Template URL")
    parts = urllib.parse.urlsplit(link)
    assert parts.netloc == "us-east-1.console.aws.amazon.com"
    assert urllib.parse.parse_qs(parts.query) == {"region": ["us-east-1"]}
    route, _, query = parts.fragment.partition("?")
    assert route == "/stacks/quickcreate"
    q = urllib.parse.parse_qs(query)
    assert q["templateURL"] == [template_url]
    assert q["stackName"] == [rel.default_stack_name()]
    caps = re.search(r"^Capabilities to acknowledge on that page: (.+)$", run.stdout, re.M)
    assert caps and caps.group(1).split(", ") == rel.capabilities(source_template)

    # The template URL names the uploaded template, byte for byte.
    url = urllib.parse.urlsplit(template_url)
    assert url.netloc == "port-releases.s3.us-east-1.amazonaws.com"
    key = urllib.parse.unquote(url.path.lstrip("/"))
    assert key == f"port-aws-integration/{ver}/template.yaml"
    uploaded = client.get_object(Bucket="port-releases", Key=key)["Body"].read()
    assert uploaded == (dist / "template.yaml").read_bytes()

    # Every function's code is in S3 where the uploaded template says.
    from cfnlint.decode import decode_str

    template, matches = decode_str(uploaded.decode())
    assert not matches
    for fn in rel.functions(source_template):
        code = template["Resources"][fn.logical_id]["Properties"]["CodeUri"]
        body = client.get_object(Bucket=code["Bucket"], Key=code["Key"])["Body"].read()
        assert body == (dist / fn.zip_name).read_bytes(), fn.logical_id
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            assert z.namelist() == ["bootstrap"]
    # ...and the rest of the release: SHA256SUMS, orgscope, and SAR's README and LICENSE.
    keys = {o["Key"] for o in client.list_objects_v2(Bucket="port-releases")["Contents"]}
    want = {f"port-aws-integration/{ver}/{p.name}" for p in dist.iterdir() if p.is_file()}
    want |= {f"port-aws-integration/{ver}/{n}" for n in rel.DOC_FILES}
    assert keys == want
    sar = template["Metadata"]["AWS::ServerlessRepo::Application"]
    assert sar["ReadmeUrl"] == f"s3://port-releases/port-aws-integration/{ver}/README.md"

    # The management account's companion (no code) is published as it is, with its own link.
    for rel_path in rel.COMPANION_TEMPLATES:
        name = pathlib.Path(rel_path).name
        companion_url = printed(run.stdout, f"Companion template URL ({name})")
        assert companion_url == f"https://port-releases.s3.us-east-1.amazonaws.com/port-aws-integration/{ver}/{name}"
        body = client.get_object(Bucket="port-releases", Key=f"port-aws-integration/{ver}/{name}")["Body"].read()
        assert body == (ROOT / rel_path).read_bytes()
        companion_link = printed(run.stdout, "Companion quick-create link (us-east-1, management account)")
        route, _, query = urllib.parse.urlsplit(companion_link).fragment.partition("?")
        assert route == "/stacks/quickcreate"
        assert urllib.parse.parse_qs(query) == {
            "templateURL": [companion_url], "stackName": [rel.COMPANION_STACK_NAME],
        }
        caps = re.search(r"^Companion capabilities to acknowledge: (.+)$", run.stdout, re.M)
        assert caps and caps.group(1).split(", ") == rel.capabilities(load(ROOT / rel_path))

    # Publishing the same release again changes nothing and succeeds.
    again = run_release(aws_env, "--upload", "s3://port-releases/port-aws-integration")
    assert again.returncode == 0, again.stdout + again.stderr


def test_upload_refuses_a_bucket_outside_us_east_1_and_uploads_nothing(aws_env, s3):
    eu = s3("eu-west-1")
    eu.create_bucket(Bucket="releases-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    run = run_release(aws_env, "--upload", "s3://releases-eu/x")
    assert run.returncode == 1
    assert "bucket 'releases-eu' is in eu-west-1" in run.stderr and "use a bucket in us-east-1" in run.stderr
    assert "Contents" not in eu.list_objects_v2(Bucket="releases-eu")


def test_upload_refuses_a_missing_bucket_naming_it_and_the_fix(aws_env, s3):
    s3()  # the emulator is up
    run = run_release(aws_env, "--upload", "s3://no-such-release-bucket/x")
    assert run.returncode == 1
    assert "cannot use bucket 'no-such-release-bucket'" in run.stderr
    assert "aws s3 mb s3://no-such-release-bucket --region us-east-1" in run.stderr


def test_upload_refuses_to_replace_a_published_version_with_different_code(rel, aws_env, s3, source_template):
    client = s3()
    client.create_bucket(Bucket="port-releases-2")
    first = run_release(aws_env, "--upload", "s3://port-releases-2/p")
    assert first.returncode == 0, first.stdout + first.stderr
    fn = rel.functions(source_template)[0]
    key = f"p/{rel.version()}/{fn.zip_name}"
    client.put_object(Bucket="port-releases-2", Key=key, Body=b"older code", Metadata={"sha256": "0" * 64})
    run = run_release(aws_env, "--upload", "s3://port-releases-2/p")
    assert run.returncode == 1
    assert f"s3://port-releases-2/{key} is already published with different content" in run.stderr
    assert "Bump the version in Cargo.toml" in run.stderr
    assert client.get_object(Bucket="port-releases-2", Key=key)["Body"].read() == b"older code"
