#!/usr/bin/env bash
# `kubectl kustomize deploy/kubernetes` renders, and the rendered set is the one k8s_check.mjs
# checked: every listed manifest's objects, all in namespace aragora, each once. kubectl is
# not a Debian package: without it this test is skipped (exit 77) and k8s_check.mjs's own
# kustomization check stands alone.
set -euo pipefail
dir=${1:?usage: kustomize_render.sh <deploy/kubernetes>}
if ! command -v kubectl >/dev/null; then
    echo "kubectl not installed: skipped (k8s_check.mjs checks kustomization.yaml itself)"
    exit 77
fi
rendered=$(kubectl kustomize "$dir")
objects=$(grep -c '^kind: ' <<<"$rendered")
expected=0
while read -r f; do
    expected=$((expected + $(grep -c '^kind: ' "$dir/$f")))
done < <(sed -n 's/^  - \([a-z-]*\.yaml\).*/\1/p' "$dir/kustomization.yaml")
if [[ $objects -ne $expected ]]; then
    echo "kubectl kustomize rendered $objects objects, the listed files hold $expected" >&2
    exit 1
fi
namespaces=$(grep -E '^  namespace: ' <<<"$rendered" | sort -u)
if [[ "$namespaces" != "  namespace: aragora" ]]; then
    echo "rendered namespaces: $namespaces" >&2
    exit 1
fi
dups=$(awk '/^kind: /{k=$2} /^  name: /{if (k) print k "/" $2; k=""}' <<<"$rendered" | sort | uniq -d)
if [[ -n "$dups" ]]; then
    echo "rendered twice: $dups" >&2
    exit 1
fi
echo "kubectl kustomize: $objects objects rendered, namespace aragora"
