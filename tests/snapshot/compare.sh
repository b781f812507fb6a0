#!/usr/bin/env bash
# Compare two snapshots of tests/snapshot/record.sh (masked copies): prints the differences and
# exits 1 when there are any.
#   tests/snapshot/compare.sh BEFORE AFTER
set -uo pipefail
A="${1:?usage: compare.sh BEFORE AFTER}"; B="${2:?usage: compare.sh BEFORE AFTER}"
if diff -ru "$A/masked" "$B/masked"; then
  echo "compare.sh: $(ls "$A/masked" | wc -l) outputs, no difference"
else
  echo "compare.sh: the snapshots differ (above)"; exit 1
fi
