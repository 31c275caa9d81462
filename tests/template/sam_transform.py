"""Prints template.yaml after the SAM transform, as JSON (run with .venv/sam's Python, where
aws-sam-translator lives). The code location is replaced by a placeholder S3 URI, as
cfn-lint does: the transform needs one, the checks do not look at it."""

import json
import os
import sys

from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform


class NoManagedPolicies:
    def load(self):
        return {}


def main(path: str) -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(path, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    template.setdefault("Globals", {}).setdefault("Function", {})["CodeUri"] = "s3://placeholder/code.zip"
    json.dump(transform(template, {}, NoManagedPolicies()), sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
