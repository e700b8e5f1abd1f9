"""Validates every YAML document under deploy/: Kubernetes kinds against the Kubernetes schemas
(kubernetes-validate, strict), SpinApps against tests/schemas/spinapp.schema.json.
Prints one line per document and exits non-zero on the first invalid one."""

import json
import os
import pathlib
import sys

import jsonschema
import kubernetes_validate
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
KUBERNETES_VERSION = "1.33.0"


def main() -> int:
    spinapp_schema = json.loads((ROOT / "tests/schemas/spinapp.schema.json").read_text())
    checked = 0
    # DEPLOY_DIR lets the tests point the validator at deliberately broken files.
    deploy = pathlib.Path(os.environ.get("DEPLOY_DIR", ROOT / "deploy"))
    for path in sorted(deploy.rglob("*.y*ml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document is None:
                continue
            kind = document.get("kind")
            where = f"{path.name}: {kind} {document.get('metadata', {}).get('name')}"
            try:
                if kind == "SpinApp":
                    jsonschema.validate(document, spinapp_schema)
                else:
                    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
            except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as error:
                print(f"INVALID {where}: {error}")
                return 1
            print(f"valid   {where}")
            checked += 1
    if checked == 0:
        print("no YAML documents found under deploy/")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
